/* SPDX-License-Identifier: MIT */
/* STS AssumeRole and AssumeRoleWithWebIdentity over the query protocol. */
#include "sts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "strbuf.h"

struct sts_request {
	struct http_request *http;
	sts_done_fn done;
	void *userdata;
	char what[64];
};

char *sts_xml_text(const char *xml, const char *tag)
{
	char open[80], close[80];
	const char *s, *e;
	struct strbuf out;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	s = strstr(xml, open);
	if (!s)
		return NULL;
	s += strlen(open);
	e = strstr(s, close);
	if (!e)
		return NULL;
	strbuf_init(&out, (size_t)(e - s) + 1);
	while (s < e) {
		static const struct {
			const char *ent;
			char c;
		} ents[] = { { "&amp;", '&' },
			     { "&lt;", '<' },
			     { "&gt;", '>' },
			     { "&quot;", '"' },
			     { "&apos;", '\'' } };
		bool done = false;

		if (*s == '&')
			for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
				size_t l = strlen(ents[i].ent);
				if ((size_t)(e - s) >= l && !strncmp(s, ents[i].ent, l)) {
					strbuf_putc(&out, ents[i].c);
					s += l;
					done = true;
					break;
				}
			}
		if (!done)
			strbuf_putc(&out, *s++);
	}
	return strbuf_steal(&out);
}

static void on_reply(struct http_response *resp, void *userdata)
{
	struct sts_request *r = userdata;
	const char *body = strbuf_str(&resp->body);
	struct aws_credentials *c = NULL;
	char why[512];
	int err = 0;

	if (resp->error) {
		snprintf(why, sizeof(why), "STS %s: %s", r->what, resp->error_text);
		err = resp->error;
	} else if (resp->status != 200) {
		char *code = sts_xml_text(body, "Code"), *msg = sts_xml_text(body, "Message");
		snprintf(why, sizeof(why), "STS %s: HTTP %ld %s: %s", r->what, resp->status,
			 code ? code : "(no error code)", msg ? msg : "(no message)");
		free(code);
		free(msg);
		err = resp->status >= 500 ? -EAGAIN : -EACCES;
	} else {
		char *exp = NULL;
		c = calloc(1, sizeof(*c));
		if (c) {
			c->access_key_id = sts_xml_text(body, "AccessKeyId");
			c->secret_access_key = sts_xml_text(body, "SecretAccessKey");
			c->session_token = sts_xml_text(body, "SessionToken");
			exp = sts_xml_text(body, "Expiration");
		}
		if (!c || !c->access_key_id || !c->secret_access_key || !c->session_token || !exp ||
		    cred_parse_time(exp, &c->expiration) < 0) {
			snprintf(why, sizeof(why),
				 "STS %s: the reply lacks credentials or their expiry", r->what);
			err = -EPROTO;
			aws_credentials_free(c);
			c = NULL;
		}
		free(exp);
	}
	r->done(c, err, err ? why : NULL, r->userdata);
	free(r);
}

static int form_add(struct strbuf *f, const char *k, const char *v)
{
	int r;

	if (f->len && (r = strbuf_putc(f, '&')) < 0)
		return r;
	if ((r = strbuf_printf(f, "%s=", k)) < 0)
		return r;
	return sigv4_uri_encode(f, v, strlen(v), false);
}

static int submit(const struct sts_call *call, const struct aws_credentials *base,
		  const char *action, const char *token, sts_done_fn done, void *userdata,
		  struct sts_request **ret)
{
	struct strbuf form, url;
	char host[512], dur[16], hosthdr[600];
	const char *headers[6] = { NULL };
	struct sigv4_result sig;
	struct sts_request *r;
	struct strbuf authz, tokhdr, datehdr;
	int err;

	if (endpoint_host(call->endpoint, host, sizeof(host), NULL) < 0)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->done = done;
	r->userdata = userdata;
	snprintf(r->what, sizeof(r->what), "%s", action);
	strbuf_init(&form, 64 * 1024);
	strbuf_init(&url, 4096);
	strbuf_init(&authz, 4096);
	strbuf_init(&tokhdr, 8192);
	strbuf_init(&datehdr, 128);
	sigv4_result_init(&sig);
	if ((err = form_add(&form, "Action", action)) < 0 ||
	    (err = form_add(&form, "Version", "2011-06-15")) < 0 ||
	    (err = form_add(&form, "RoleArn", call->role_arn)) < 0 ||
	    (err = form_add(&form, "RoleSessionName", call->session_name)) < 0)
		goto out;
	if (call->duration_seconds > 0) {
		snprintf(dur, sizeof(dur), "%d", call->duration_seconds);
		if ((err = form_add(&form, "DurationSeconds", dur)) < 0)
			goto out;
	}
	if (token && (err = form_add(&form, "WebIdentityToken", token)) < 0)
		goto out;
	if ((err = strbuf_printf(&url, "%s/", call->endpoint)) < 0)
		goto out;
	snprintf(hosthdr, sizeof(hosthdr), "Host: %s", host);
	headers[0] = hosthdr;
	headers[1] = "Content-Type: application/x-www-form-urlencoded; charset=utf-8";
	if (base) {
		struct sigv4_header h[] = {
			{ "Host", host },
			{ "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" },
		};
		struct sigv4_credentials sc = { base->access_key_id, base->secret_access_key,
						base->session_token };
		struct sigv4_request sr = { .method = "POST",
					    .path = "/",
					    .headers = h,
					    .n_headers = 2,
					    .body = form.buf,
					    .body_len = form.len,
					    .normalize_path = true };
		if ((err = sigv4_sign(call->signer, &sr, &sc, call->region, "sts", time(NULL),
				      &sig)) < 0 ||
		    (err = strbuf_printf(&datehdr, "X-Amz-Date: %s", sig.amz_date)) < 0 ||
		    (err = strbuf_printf(&authz, "Authorization: %s",
					 strbuf_str(&sig.authorization))) < 0)
			goto out;
		headers[2] = datehdr.buf;
		headers[3] = authz.buf;
		if (base->session_token) {
			if ((err = strbuf_printf(&tokhdr, "X-Amz-Security-Token: %s",
						 base->session_token)) < 0)
				goto out;
			headers[4] = tokhdr.buf;
		}
	}
	struct http_request_spec spec = { .method = "POST",
					  .url = url.buf,
					  .headers = headers,
					  .body = form.buf,
					  .body_len = form.len,
					  .timeout_ms =
					      call->timeout_ms > 0 ? call->timeout_ms : 10000 };
	err = http_submit(call->http, &spec, on_reply, r, &r->http);
out:
	if (form.buf)
		crypto_wipe(form.buf, form.len);
	if (tokhdr.buf)
		crypto_wipe(tokhdr.buf, tokhdr.len);
	strbuf_done(&form);
	strbuf_done(&url);
	strbuf_done(&authz);
	strbuf_done(&tokhdr);
	strbuf_done(&datehdr);
	sigv4_result_done(&sig);
	if (err < 0) {
		free(r);
		return err;
	}
	if (ret)
		*ret = r;
	return 0;
}

int sts_assume_role(const struct sts_call *call, const struct aws_credentials *base,
		    sts_done_fn done, void *userdata, struct sts_request **ret)
{
	return submit(call, base, "AssumeRole", NULL, done, userdata, ret);
}

int sts_assume_role_with_web_identity(const struct sts_call *call, const char *token,
				      sts_done_fn done, void *userdata, struct sts_request **ret)
{
	return submit(call, NULL, "AssumeRoleWithWebIdentity", token, done, userdata, ret);
}

void sts_cancel(struct sts_request *r)
{
	if (!r)
		return;
	http_cancel(r->http);
	free(r);
}

/* SPDX-License-Identifier: MIT */
/*
 * STS AssumeRole and AssumeRoleWithWebIdentity over the query protocol.
 * The keys of a reply are decoded straight into the secret arena; the form
 * (it may hold a web identity token) and the signed headers are built in
 * wiping buffers, and the reply body is wiped once read.
 */
#include "sts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "crypto.h"
#include "endpoint.h"
#include "secmem.h"
#include "strbuf.h"

struct sts_request {
	struct http_request *http;
	sts_done_fn done;
	void *userdata;
	char what[64];
};

/* The text of the first <tag>…</tag>, entities decoded, in the arena when secret (one allocation
 * of the raw length, which decoding never exceeds). */
static char *xml_text(const char *xml, const char *tag, bool secret)
{
	char open[80], close[80], *out;
	const char *s, *e;
	size_t n = 0;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	s = strstr(xml, open);
	if (!s)
		return NULL;
	s += strlen(open);
	e = strstr(s, close);
	if (!e)
		return NULL;
	out = secret ? secmem_alloc((size_t)(e - s) + 1) : malloc((size_t)(e - s) + 1);
	if (!out)
		return NULL;
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
					out[n++] = ents[i].c;
					s += l;
					done = true;
					break;
				}
			}
		if (!done)
			out[n++] = *s++;
	}
	out[n] = '\0';
	return out;
}

char *sts_xml_text(const char *xml, const char *tag)
{
	return xml_text(xml, tag, false);
}

/*
 * why for an error reply: its code and message, read by the reader of every AWS error
 * (aws_parse_error: XML or JSON), cut with AWS_ERROR_CUT_MARK when the whole does not fit. Only a
 * body that names a code is quoted (never an excerpt of a body that could be anything).
 */
static void error_why(const char *body, long status, const char *action, char *why, size_t why_len)
{
	size_t mark = strlen(AWS_ERROR_CUT_MARK);
	struct aws_error e;
	char bare[32];
	bool coded;
	int n;

	aws_parse_error(status, body, strlen(body), NULL, NULL, NULL, &e);
	snprintf(bare, sizeof(bare), "HTTP%ld", status);
	coded = strcmp(e.code, bare) != 0;
	n = snprintf(why, why_len, "STS %s: HTTP %ld %s: %s", action, status,
		     coded ? e.code : "(no error code)",
		     coded && e.message[0] ? e.message : "(no message)");
	crypto_wipe(&e, sizeof(e)); /* an excerpt of the body is in it */
	if (n >= 0 && (size_t)n >= why_len && why_len > mark + 1) {
		size_t end = why_len - 1 - mark;

		while (end > 0 && ((unsigned char)why[end] & 0xc0) == 0x80)
			end--; /* not inside a UTF-8 sequence */
		memcpy(why + end, AWS_ERROR_CUT_MARK, mark + 1);
	}
}

int sts_parse_reply(const char *body, long status, const char *action, struct aws_credentials **ret,
		    char *why, size_t why_len)
{
	struct aws_credentials *c;
	char *exp = NULL;
	int err = 0;

	if (status != 200) {
		error_why(body, status, action, why, why_len);
		return status >= 500 ? -EAGAIN : -EACCES;
	}
	c = calloc(1, sizeof(*c));
	if (c) {
		c->access_key_id = xml_text(body, "AccessKeyId", false);
		c->secret_access_key = xml_text(body, "SecretAccessKey", true);
		c->session_token = xml_text(body, "SessionToken", true);
		exp = xml_text(body, "Expiration", false);
	}
	if (!c || !c->access_key_id || !c->secret_access_key || !c->session_token || !exp ||
	    !*c->access_key_id || !*c->secret_access_key || !*c->session_token ||
	    cred_parse_time(exp, &c->expiration) < 0) {
		snprintf(why, why_len, "STS %s: the reply lacks credentials or their expiry",
			 action);
		err = -EPROTO;
		aws_credentials_free(c);
		c = NULL;
	}
	free(exp);
	if (c)
		*ret = c;
	return err;
}

static void on_reply(struct http_response *resp, void *userdata)
{
	struct sts_request *r = userdata;
	struct aws_credentials *c = NULL;
	char why[512];
	int err;

	if (resp->error) {
		snprintf(why, sizeof(why), "STS %s: %s", r->what, resp->error_text);
		err = resp->error;
	} else {
		err = sts_parse_reply(strbuf_str(&resp->body), resp->status, r->what, &c, why,
				      sizeof(why));
	}
	if (resp->body.buf)
		crypto_wipe(resp->body.buf, resp->body.len);
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
	strbuf_init_secret(&form, 64 * 1024);
	strbuf_init(&url, 4096);
	strbuf_init_secret(&authz, 4096);
	strbuf_init_secret(&tokhdr, 8192);
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
					      call->timeout_ms > 0 ? call->timeout_ms : 10000,
					  .secret = true };
	err = http_submit(call->http, &spec, on_reply, r, &r->http);
out:
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

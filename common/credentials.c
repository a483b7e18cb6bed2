/* SPDX-License-Identifier: MIT */
/*
 * Credential providers: the default chain and assume-role, with caching,
 * ahead-of-expiry refresh and retry with backoff. Every resolve runs from
 * a timer callback, so that waiters are never called back from inside
 * cred_wait() itself.
 *
 * Secrets (secret keys, session tokens, authorization and web identity
 * tokens) are copied into the secret arena (secmem.h) as soon as they are
 * read, and every transient copy (environment strings, file buffers, reply
 * bodies, cJSON strings, header lines) is wiped.
 */
#include "credentials.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "endpoint.h"
#include "profile.h"
#include "regfile.h"
#include "secmem.h"
#include "sts.h"

#define USABLE_MARGIN     5         /* seconds before expiry at which keys stop being handed out */
#define ADVISORY_WINDOW   (15 * 60) /* refresh this long before expiry */
#define RETRY_CAP_SECONDS 60.0
#define TOKEN_FILE_MAX    (64 * 1024)
#define CONTAINER_HOST    "http://169.254.170.2"
#define IMDS_HOST         "http://169.254.169.254"

enum source {
	SRC_ENV,
	SRC_WEB_IDENTITY,
	SRC_PROFILE,
	SRC_CONTAINER,
	SRC_IMDS,
	SRC_COUNT,
	SRC_NONE = -1
};

struct cred_waiter {
	struct cred_provider *p;
	cred_done_fn done;
	void *userdata;
	struct cred_waiter *prev, *next;
};

struct cred_provider {
	bool assume_role;
	struct ev_loop *loop;
	struct http_client *http;
	struct sigv4_signer *signer;
	char *profile;
	char *region;
	char *sts_endpoint;
	long retry_base_ms;

	struct aws_credentials *current;
	time_t obtained;
	bool fetching;
	int failures;
	char last_error[512];
	struct ev_timer timer;    /* the next resolve: now, at refresh time, or after a backoff */
	struct ev_timer deliver;  /* hands usable credentials to new waiters */
	char pending_source[256]; /* what the STS call in flight will have produced */
	struct cred_waiter *waiters;

	/* chain */
	int pinned; /* the source that worked, tried first next time */
	struct http_request *req;
	struct sts_request *sts;
	int imds_step;
	char imds_token[256];
	char imds_role[256];
	int attempts;

	/* assume role */
	struct cred_provider *base;
	struct cred_waiter *base_wait;
	char *role_arn;
	char *session_name;
};

static void start_fetch(struct cred_provider *p);

void aws_credentials_free(struct aws_credentials *c)
{
	if (!c)
		return;
	free(c->access_key_id);
	secmem_free(c->secret_access_key);
	secmem_free(c->session_token);
	free(c);
}

int cred_parse_time(const char *s, time_t *ret)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	time_t t;

	if (!p)
		return -EINVAL;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	t = timegm(&tm);
	if (*p == 'Z' && !p[1]) {
		/* UTC */
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int h = (p[1] - '0') * 10 + (p[2] - '0'), m = (p[4] - '0') * 10 + (p[5] - '0');
		t -= (*p == '+' ? 1 : -1) * (h * 3600 + m * 60);
	} else {
		return -EINVAL;
	}
	*ret = t;
	return 0;
}

static bool usable(const struct aws_credentials *c, time_t now)
{
	return c && (c->expiration == 0 || now < c->expiration - USABLE_MARGIN);
}

/* ---- completion --------------------------------------------------------- */

static void schedule(struct cred_provider *p, double after)
{
	ev_timer_stop(p->loop, &p->timer);
	ev_timer_set(&p->timer, after < 0 ? 0 : after, 0.0);
	ev_timer_start(p->loop, &p->timer);
}

static void notify(struct cred_provider *p, int err)
{
	/* Detach the list first: a callback may add a waiter or free others. */
	while (p->waiters) {
		struct cred_waiter *w = p->waiters;

		p->waiters = w->next;
		if (p->waiters)
			p->waiters->prev = NULL;
		w->done(err ? NULL : p->current, err, err ? p->last_error : NULL, w->userdata);
		free(w);
	}
}

/* A resolve ended: creds (ours now) or an error. */
static void finish(struct cred_provider *p, struct aws_credentials *creds, int err, const char *why)
{
	time_t now = time(NULL);

	p->fetching = false;
	p->req = NULL;
	p->sts = NULL;
	if (creds) {
		aws_credentials_free(p->current);
		p->current = creds;
		p->obtained = now;
		p->failures = 0;
		p->last_error[0] = '\0';
		if (creds->expiration) {
			time_t life = creds->expiration - now;
			time_t lead = life / 2 < ADVISORY_WINDOW ? life / 2 : ADVISORY_WINDOW;
			schedule(p, (double)(life - lead));
		} else {
			ev_timer_stop(p->loop, &p->timer);
		}
		notify(p, 0);
		return;
	}
	snprintf(p->last_error, sizeof(p->last_error), "%s", why ? why : "unknown error");
	p->failures++;
	if (usable(p->current, now) || p->waiters == NULL) {
		/* Keep what we have; try again with backoff (capped, and before expiry). */
		double delay = (double)p->retry_base_ms / 1000.0 *
			       (double)(1 << (p->failures < 7 ? p->failures - 1 : 6));
		if (delay > RETRY_CAP_SECONDS)
			delay = RETRY_CAP_SECONDS;
		if (p->current && p->current->expiration && usable(p->current, now) &&
		    delay > (double)(p->current->expiration - USABLE_MARGIN - now))
			delay = (double)(p->current->expiration - USABLE_MARGIN - now);
		if (p->current || p->waiters)
			schedule(p, delay);
	}
	if (!usable(p->current, now))
		notify(p, err ? err : -ENOKEY);
}

static void on_timer(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct cred_provider *p = t->data;

	(void)loop;
	(void)revents;
	start_fetch(p);
}

static void on_deliver(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct cred_provider *p = t->data;

	(void)loop;
	(void)revents;
	if (usable(p->current, time(NULL)))
		notify(p, 0);
	else if (!p->fetching && !ev_is_active(&p->timer))
		schedule(p, 0);
}

/* ---- helpers for sources ------------------------------------------------- */

static struct aws_credentials *creds_new(const char *akid, const char *secret, const char *token,
					 time_t exp, const char *source)
{
	struct aws_credentials *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->access_key_id = strdup(akid);
	c->secret_access_key = secmem_strdup(secret);
	c->session_token = token && *token ? secmem_strdup(token) : NULL;
	c->expiration = exp;
	snprintf(c->source, sizeof(c->source), "%s", source);
	if (!c->access_key_id || !c->secret_access_key || (token && *token && !c->session_token)) {
		aws_credentials_free(c);
		return NULL;
	}
	return c;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/*
 * The secret variables of the environment. The first read copies a value into the arena and
 * overwrites it in environ (so that neither a core dump nor /proc/PID/environ shows it); later
 * reads get the copy, unless the variable was set again (a new value is taken the same way) or
 * removed. This mirrors environ, which is itself process-wide: the one mutable global here.
 */
static struct env_secret {
	const char *name;
	char *value;
} env_secrets[] = {
	{ "AWS_SECRET_ACCESS_KEY", NULL },
	{ "AWS_SESSION_TOKEN", NULL },
	{ "AWS_SECURITY_TOKEN", NULL },
	{ "AWS_CONTAINER_AUTHORIZATION_TOKEN", NULL },
};

static const char *env_secret(const char *name)
{
	for (size_t i = 0; i < sizeof(env_secrets) / sizeof(env_secrets[0]); i++) {
		struct env_secret *e = &env_secrets[i];
		char *v;

		if (strcmp(e->name, name) != 0)
			continue;
		v = getenv(name);
		if (!v) {
			secmem_free(e->value);
			e->value = NULL;
		} else if (*v) {
			char *copy = secmem_strdup(v);
			if (!copy)
				return v; /* out of memory: leave it where it is */
			secmem_free(e->value);
			e->value = copy;
			crypto_wipe(v, strlen(v));
		}
		return e->value && *e->value ? e->value : NULL;
	}
	return env(name);
}

void cred_env_restore(void)
{
	for (size_t i = 0; i < sizeof(env_secrets) / sizeof(env_secrets[0]); i++) {
		const struct env_secret *e = &env_secrets[i];
		const char *v = getenv(e->name);

		/* taken (wiped to "") and not set again since */
		if (e->value && *e->value && v && !*v)
			(void)setenv(e->name, e->value, 1);
	}
}

static void take_env_secrets(void)
{
	for (size_t i = 0; i < sizeof(env_secrets) / sizeof(env_secrets[0]); i++)
		(void)env_secret(env_secrets[i].name);
}

static bool env_true(const char *name)
{
	const char *v = env(name);

	return v && !strcasecmp(v, "true");
}

/* Reads a small token file, trailing white space removed; NULL with why on failure. */
static char *read_token_file(const char *path, char *why, size_t why_len)
{
	char buf[TOKEN_FILE_MAX + 1];
	ssize_t n, total = 0;
	mode_t mode = 0;
	int fd = regfile_open(path, &mode);

	if (fd < 0) {
		if (fd == -EINVAL)
			snprintf(why, why_len,
				 "cannot read token file '%s': it is %s, not a regular file", path,
				 regfile_kind(mode));
		else
			snprintf(why, why_len, "cannot read token file '%s': %s", path,
				 strerror(-fd));
		return NULL;
	}
	while (total < TOKEN_FILE_MAX &&
	       (n = read(fd, buf + total, (size_t)(TOKEN_FILE_MAX - total))) > 0)
		total += n;
	close(fd);
	while (total > 0 &&
	       (buf[total - 1] == '\n' || buf[total - 1] == '\r' || buf[total - 1] == ' '))
		total--;
	buf[total] = '\0';
	if (total == 0) {
		snprintf(why, why_len, "token file '%s' is empty", path);
		return NULL;
	}
	char *t = secmem_strdup(buf);
	crypto_wipe(buf, sizeof(buf));
	if (!t)
		snprintf(why, why_len, "token file '%s': out of memory", path);
	return t;
}

static int sts_endpoint(struct cred_provider *p, char *out, size_t n, char *why, size_t why_len)
{
	const char *w = NULL;
	int r = endpoint_resolve(&aws_sts, p->region ? p->region : "us-east-1", false,
				 p->sts_endpoint, out, n, NULL, &w);

	if (r < 0)
		snprintf(why, why_len, "no STS endpoint for region '%s': %s",
			 p->region ? p->region : "us-east-1", w ? w : strerror(-r));
	return r;
}

static void on_sts(struct aws_credentials *creds, int err, const char *why, void *userdata)
{
	struct cred_provider *p = userdata;

	p->sts = NULL;
	if (creds)
		snprintf(creds->source, sizeof(creds->source), "%s", p->pending_source);
	finish(p, creds, err, why);
}

/* Starts STS AssumeRoleWithWebIdentity; source_desc names where the settings came from. */
static int web_identity(struct cred_provider *p, const char *token_file, const char *role_arn,
			const char *session, const char *source_desc)
{
	char endpoint[512], why[512], sess[80];
	char *token;
	int r;

	if (sts_endpoint(p, endpoint, sizeof(endpoint), why, sizeof(why)) < 0) {
		finish(p, NULL, -EINVAL, why);
		return 0;
	}
	token = read_token_file(token_file, why, sizeof(why));
	if (!token) {
		finish(p, NULL, -EIO, why);
		return 0;
	}
	snprintf(sess, sizeof(sess), "%s", session ? session : "");
	if (!*sess)
		snprintf(sess, sizeof(sess), "ecr-deployd-%lld", (long long)time(NULL));
	struct sts_call call = { p->http,  p->signer, endpoint, p->region ? p->region : "us-east-1",
				 role_arn, sess,      0,        10000 };
	snprintf(p->pending_source, sizeof(p->pending_source), "%s: role '%s' (web identity)",
		 source_desc, role_arn);
	r = sts_assume_role_with_web_identity(&call, token, on_sts, p, &p->sts);
	secmem_free(token);
	if (r < 0) {
		snprintf(why, sizeof(why), "%s: cannot start STS AssumeRoleWithWebIdentity: %s",
			 source_desc, strerror(-r));
		finish(p, NULL, r, why);
	}
	return 0;
}

/* ---- sources ----------------------------------------------------------- */

/* Each returns 1 when not configured (try the next), 0 when it finished or started. */

static int src_env(struct cred_provider *p)
{
	const char *akid = env("AWS_ACCESS_KEY_ID"), *secret = env_secret("AWS_SECRET_ACCESS_KEY");
	const char *token = env_secret("AWS_SESSION_TOKEN") ? env_secret("AWS_SESSION_TOKEN")
							    : env_secret("AWS_SECURITY_TOKEN");
	const char *exp = env("AWS_CREDENTIAL_EXPIRATION");
	time_t t = 0;

	if (!akid && !secret)
		return 1;
	if (!akid || !secret) {
		finish(p, NULL, -EINVAL,
		       akid ? "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
			    : "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
		return 0;
	}
	if (exp && cred_parse_time(exp, &t) < 0) {
		finish(p, NULL, -EINVAL, "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time");
		return 0;
	}
	struct aws_credentials *c = creds_new(akid, secret, token, t, "environment");
	finish(p, c, c ? 0 : -ENOMEM, c ? NULL : "out of memory");
	return 0;
}

static int src_web_identity(struct cred_provider *p)
{
	const char *file = env("AWS_WEB_IDENTITY_TOKEN_FILE"), *role = env("AWS_ROLE_ARN");

	if (!file)
		return 1;
	if (!role) {
		finish(p, NULL, -EINVAL,
		       "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
		return 0;
	}
	return web_identity(p, file, role, env("AWS_ROLE_SESSION_NAME"), "web identity");
}

static int src_profile(struct cred_provider *p)
{
	struct aws_profile prof, src;
	char why[600], endpoint[512];
	const char *name = profile_name(p->profile);
	bool explicit_profile = (p->profile && *p->profile) || env("AWS_PROFILE");
	int r;

	memset(&src, 0, sizeof(src));
	r = profile_load(name, &prof, why, sizeof(why));
	if (r < 0) {
		finish(p, NULL, r, why);
		profile_done(&prof);
		return 0;
	}
	if (!prof.found || (!prof.access_key_id && !prof.role_arn && !prof.secret_access_key)) {
		profile_done(&prof);
		if (!explicit_profile)
			return 1;
		snprintf(why, sizeof(why),
			 "profile '%s' has no credentials in the shared config or "
			 "credentials file",
			 name);
		finish(p, NULL, -ENOKEY, why);
		return 0;
	}
	if (prof.role_arn) {
		if (prof.web_identity_token_file) {
			snprintf(why, sizeof(why), "profile '%s'", name);
			web_identity(p, prof.web_identity_token_file, prof.role_arn,
				     prof.role_session_name, why);
		} else if (!prof.source_profile) {
			snprintf(why, sizeof(why),
				 "profile '%s': role_arn needs source_profile or "
				 "web_identity_token_file (credential_source is not supported)",
				 name);
			finish(p, NULL, -EINVAL, why);
		} else if ((r = profile_load(prof.source_profile, &src, why, sizeof(why))) < 0) {
			finish(p, NULL, r, why);
		} else if (!src.access_key_id || !src.secret_access_key) {
			snprintf(why, sizeof(why),
				 "profile '%s': source_profile '%s' has no static keys "
				 "(chained roles are not supported)",
				 name, prof.source_profile);
			finish(p, NULL, -ENOKEY, why);
		} else if (sts_endpoint(p, endpoint, sizeof(endpoint), why, sizeof(why)) < 0) {
			finish(p, NULL, -EINVAL, why);
		} else {
			struct aws_credentials base = { src.access_key_id,
							src.secret_access_key,
							src.session_token,
							0,
							false,
							"" };
			char sess[80];
			snprintf(sess, sizeof(sess), "%s",
				 prof.role_session_name ? prof.role_session_name : "");
			if (!*sess)
				snprintf(sess, sizeof(sess), "ecr-deployd-%lld",
					 (long long)time(NULL));
			struct sts_call call = { p->http,
						 p->signer,
						 endpoint,
						 p->region ? p->region : "us-east-1",
						 prof.role_arn,
						 sess,
						 prof.duration_seconds ? atoi(prof.duration_seconds)
								       : 0,
						 10000 };
			snprintf(p->pending_source, sizeof(p->pending_source),
				 "profile '%s': role '%s' (source profile '%s')", name,
				 prof.role_arn, prof.source_profile);
			r = sts_assume_role(&call, &base, on_sts, p, &p->sts);
			if (r < 0) {
				snprintf(why, sizeof(why),
					 "profile '%s': cannot start STS AssumeRole: %s", name,
					 strerror(-r));
				finish(p, NULL, r, why);
			}
		}
	} else if (!prof.access_key_id || !prof.secret_access_key) {
		snprintf(why, sizeof(why), "profile '%s' has %s but not %s", name,
			 prof.access_key_id ? "aws_access_key_id" : "aws_secret_access_key",
			 prof.access_key_id ? "aws_secret_access_key" : "aws_access_key_id");
		finish(p, NULL, -EINVAL, why);
	} else {
		struct aws_credentials *c;
		snprintf(why, sizeof(why), "profile '%s'", name);
		c = creds_new(prof.access_key_id, prof.secret_access_key, prof.session_token, 0,
			      why);
		finish(p, c, c ? 0 : -ENOMEM, c ? NULL : "out of memory");
	}
	profile_done(&prof);
	profile_done(&src);
	return 0;
}

int cred_parse_json(const char *body, size_t len, const char *source, struct aws_credentials **ret,
		    char *why, size_t why_len)
{
	cJSON *j = cJSON_ParseWithLength(body, len);
	const char *akid, *secret, *token, *exp, *code;
	struct aws_credentials *c = NULL;
	time_t t = 0;
	int err = -EPROTO;

	if (!j) {
		snprintf(why, why_len, "%s: the reply is not JSON", source);
		return -EPROTO;
	}
	code = cJSON_GetStringValue(cJSON_GetObjectItem(j, "Code"));
	akid = cJSON_GetStringValue(cJSON_GetObjectItem(j, "AccessKeyId"));
	secret = cJSON_GetStringValue(cJSON_GetObjectItem(j, "SecretAccessKey"));
	token = cJSON_GetStringValue(cJSON_GetObjectItem(j, "Token"));
	exp = cJSON_GetStringValue(cJSON_GetObjectItem(j, "Expiration"));
	if (code && strcmp(code, "Success") != 0)
		snprintf(why, why_len, "%s: Code is '%.64s', not 'Success'", source, code);
	else if (!akid || !secret || !*akid || !*secret)
		snprintf(why, why_len, "%s: the reply lacks AccessKeyId or SecretAccessKey",
			 source);
	else if (exp && cred_parse_time(exp, &t) < 0)
		snprintf(why, why_len, "%s: Expiration '%.40s' is not an ISO 8601 time", source,
			 exp);
	else if (!(c = creds_new(akid, secret, token, t, source))) {
		snprintf(why, why_len, "out of memory");
		err = -ENOMEM;
	} else
		err = 0;
	if (secret)
		crypto_wipe((char *)(uintptr_t)secret, strlen(secret));
	if (token)
		crypto_wipe((char *)(uintptr_t)token, strlen(token));
	cJSON_Delete(j);
	if (c)
		*ret = c;
	return err;
}

static void wipe_body(struct http_response *resp)
{
	if (resp->body.buf)
		crypto_wipe(resp->body.buf, resp->body.len);
}

static int container_fetch(struct cred_provider *p);

static void on_container(struct http_response *resp, void *userdata)
{
	struct cred_provider *p = userdata;
	char why[512];
	struct aws_credentials *c = NULL;

	p->req = NULL;
	if (resp->error || resp->status != 200) {
		if (resp->error)
			snprintf(why, sizeof(why), "container credentials endpoint: %s",
				 resp->error_text);
		else
			snprintf(why, sizeof(why), "container credentials endpoint: HTTP %ld",
				 resp->status);
		wipe_body(resp);
		if (++p->attempts < 3 && (resp->error || resp->status >= 500)) {
			container_fetch(p);
			return;
		}
		finish(p, NULL, resp->error ? resp->error : -EACCES, why);
		return;
	}
	(void)cred_parse_json(strbuf_str(&resp->body), resp->body.len, "container credentials", &c,
			      why, sizeof(why));
	wipe_body(resp);
	finish(p, c, c ? 0 : -EPROTO, c ? NULL : why);
}

/* FULL_URI must be https, or http to a loopback or the ECS/EKS link-local hosts. */
static bool allowed_full_uri(const char *url)
{
	char host[256];
	bool tls;
	const char *h;

	if (endpoint_host(url, host, sizeof(host), &tls) < 0)
		return false;
	if (tls)
		return true;
	if (host[0] == '[') {
		char *end = strchr(host, ']');
		if (!end)
			return false;
		*end = '\0';
		h = host + 1;
		return !strcmp(h, "::1") || !strcmp(h, "fd00:ec2::23");
	}
	char *colon = strchr(host, ':');
	if (colon)
		*colon = '\0';
	return !strncmp(host, "127.", 4) || !strcmp(host, "localhost") ||
	       !strcmp(host, "169.254.170.2") || !strcmp(host, "169.254.170.23");
}

static int container_fetch(struct cred_provider *p)
{
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *tok_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *tok = env_secret("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	char url[2048], why[512], *token = NULL, *authz = NULL;
	const char *headers[2] = { NULL, NULL };
	int r;

	if (rel)
		snprintf(url, sizeof(url), "%s%s", CONTAINER_HOST, rel);
	else if (!allowed_full_uri(full)) {
		snprintf(why, sizeof(why),
			 "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to "
			 "a loopback address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23");
		finish(p, NULL, -EINVAL, why);
		return 0;
	} else
		snprintf(url, sizeof(url), "%s", full);
	if (tok_file) {
		token = read_token_file(tok_file, why, sizeof(why));
		if (!token) {
			finish(p, NULL, -EIO, why);
			return 0;
		}
	} else if (tok) {
		token = secmem_strdup(tok);
		if (!token) {
			finish(p, NULL, -ENOMEM, "out of memory");
			return 0;
		}
	}
	if (token) {
		size_t n = strlen(token) + sizeof("Authorization: ");
		if (strpbrk(token, "\r\n")) {
			secmem_free(token);
			finish(p, NULL, -EINVAL,
			       "the container authorization token contains CR or LF");
			return 0;
		}
		authz = secmem_alloc(n);
		if (authz)
			snprintf(authz, n, "Authorization: %s", token);
		secmem_free(token);
		if (!authz) {
			finish(p, NULL, -ENOMEM, "out of memory");
			return 0;
		}
		headers[0] = authz;
	}
	struct http_request_spec spec = {
		.method = "GET", .url = url, .headers = headers, .timeout_ms = 2000, .secret = true
	};
	r = http_submit(p->http, &spec, on_container, p, &p->req);
	secmem_free(authz);
	if (r < 0) {
		snprintf(why, sizeof(why), "container credentials: cannot start the request: %s",
			 strerror(-r));
		finish(p, NULL, r, why);
	}
	return 0;
}

static int src_container(struct cred_provider *p)
{
	if (!env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") &&
	    !env("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
		return 1;
	p->attempts = 0;
	return container_fetch(p);
}

static void imds_next(struct cred_provider *p);

static void on_imds(struct http_response *resp, void *userdata)
{
	struct cred_provider *p = userdata;
	char why[512];

	p->req = NULL;
	if (resp->error) {
		snprintf(why, sizeof(why),
			 "no credentials found (environment, web identity, profile "
			 "'%s', container, EC2 instance metadata: %s)",
			 profile_name(p->profile), resp->error_text);
		finish(p, NULL, -ENOKEY, why);
		return;
	}
	switch (p->imds_step) {
	case 0: /* token */
		if (resp->status == 200 && resp->body.len > 0 &&
		    resp->body.len < sizeof(p->imds_token)) {
			snprintf(p->imds_token, sizeof(p->imds_token), "%s",
				 strbuf_str(&resp->body));
		} else if ((resp->status == 403 || resp->status == 404 || resp->status == 405) &&
			   !env_true("AWS_EC2_METADATA_V1_DISABLED")) {
			p->imds_token[0] = '\0'; /* IMDSv1 fallback */
		} else {
			snprintf(why, sizeof(why),
				 "EC2 instance metadata: token request answered HTTP %ld",
				 resp->status);
			finish(p, NULL, -EACCES, why);
			return;
		}
		break;
	case 1: /* role name */
		if (resp->status != 200 || resp->body.len == 0 ||
		    resp->body.len >= sizeof(p->imds_role)) {
			snprintf(why, sizeof(why), "EC2 instance metadata: no IAM role (HTTP %ld)",
				 resp->status);
			finish(p, NULL, -ENOKEY, why);
			return;
		}
		snprintf(p->imds_role, sizeof(p->imds_role), "%.*s",
			 (int)strcspn(strbuf_str(&resp->body), "\r\n"), strbuf_str(&resp->body));
		break;
	default: { /* credentials */
		struct aws_credentials *c = NULL;
		if (resp->status == 200)
			(void)cred_parse_json(strbuf_str(&resp->body), resp->body.len,
					      "EC2 instance metadata", &c, why, sizeof(why));
		else
			snprintf(why, sizeof(why),
				 "EC2 instance metadata: credentials answered HTTP %ld",
				 resp->status);
		wipe_body(resp);
		if (c && c->expiration && c->expiration <= time(NULL)) {
			/* Static stability: keep serving, ask again in 15 minutes or so. */
			c->expiration = time(NULL) + 15 * 60 + 120 + (time_t)(rand() % 480);
			c->extended = true;
		}
		crypto_wipe(p->imds_token, sizeof(p->imds_token));
		finish(p, c, c ? 0 : -EPROTO, c ? NULL : why);
		return;
	}
	}
	p->imds_step++;
	imds_next(p);
}

static void imds_next(struct cred_provider *p)
{
	const char *base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	char url[1024], tokhdr[300], why[256];
	const char *headers[2] = { NULL, NULL };
	size_t bl;
	int r;

	base = base ? base : IMDS_HOST;
	bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	struct http_request_spec spec = {
		.url = url, .headers = headers, .timeout_ms = 1000, .secret = true
	};
	if (p->imds_step == 0) {
		spec.method = "PUT";
		snprintf(url, sizeof(url), "%.*s/latest/api/token", (int)bl, base);
		headers[0] = "x-aws-ec2-metadata-token-ttl-seconds: 21600";
	} else {
		spec.method = "GET";
		snprintf(url, sizeof(url), "%.*s/latest/meta-data/iam/security-credentials/%s",
			 (int)bl, base, p->imds_step == 2 ? p->imds_role : "");
		if (p->imds_token[0]) {
			snprintf(tokhdr, sizeof(tokhdr), "x-aws-ec2-metadata-token: %s",
				 p->imds_token);
			headers[0] = tokhdr;
		}
	}
	r = http_submit(p->http, &spec, on_imds, p, &p->req);
	crypto_wipe(tokhdr, sizeof(tokhdr));
	if (r < 0) {
		snprintf(why, sizeof(why), "EC2 instance metadata: cannot start the request: %s",
			 strerror(-r));
		finish(p, NULL, r, why);
	}
}

static int src_imds(struct cred_provider *p)
{
	char why[300];

	if (env_true("AWS_EC2_METADATA_DISABLED")) {
		snprintf(why, sizeof(why),
			 "no credentials found (environment, web identity, profile "
			 "'%s', container; EC2 instance metadata is disabled)",
			 profile_name(p->profile));
		finish(p, NULL, -ENOKEY, why);
		return 0;
	}
	p->imds_step = 0;
	p->imds_token[0] = '\0';
	imds_next(p);
	return 0;
}

static int (*const sources[SRC_COUNT])(struct cred_provider *) = {
	src_env, src_web_identity, src_profile, src_container, src_imds,
};

/* ---- assume role -------------------------------------------------------- */

static void on_base(const struct aws_credentials *base, int err, const char *why, void *userdata);

static void assume_with(struct cred_provider *p, const struct aws_credentials *base)
{
	char endpoint[512], msg[600];
	int r;

	if (sts_endpoint(p, endpoint, sizeof(endpoint), msg, sizeof(msg)) < 0) {
		finish(p, NULL, -EINVAL, msg);
		return;
	}
	struct sts_call call = { p->http,     p->signer,
				 endpoint,    p->region ? p->region : "us-east-1",
				 p->role_arn, p->session_name,
				 0,           10000 };
	snprintf(p->pending_source, sizeof(p->pending_source), "role '%.100s' assumed with %.120s",
		 p->role_arn, base->source);
	r = sts_assume_role(&call, base, on_sts, p, &p->sts);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "assume role '%s': cannot start STS AssumeRole: %s",
			 p->role_arn, strerror(-r));
		finish(p, NULL, r, msg);
	}
}

static void on_base(const struct aws_credentials *base, int err, const char *why, void *userdata)
{
	struct cred_provider *p = userdata;
	char msg[700];

	p->base_wait = NULL;
	if (!base) {
		snprintf(msg, sizeof(msg), "assume role '%s': no base credentials: %s", p->role_arn,
			 why ? why : strerror(-err));
		finish(p, NULL, err, msg);
		return;
	}
	assume_with(p, base);
}

/* ---- driving -------------------------------------------------------------- */

static void start_fetch(struct cred_provider *p)
{
	if (p->fetching)
		return;
	p->fetching = true;
	ev_timer_stop(p->loop, &p->timer);
	if (p->assume_role) {
		const struct aws_credentials *base = cred_peek(p->base);
		if (base) {
			assume_with(p, base);
		} else if (cred_wait(p->base, on_base, p, &p->base_wait) < 0) {
			finish(p, NULL, -ENOMEM, "out of memory");
		}
		return;
	}
	/* The source that worked before is asked again; otherwise the chain in order. */
	if (p->pinned != SRC_NONE) {
		if (sources[p->pinned](p) == 0)
			return;
		p->pinned = SRC_NONE; /* no longer configured (environment changed) */
	}
	for (int i = 0; i < SRC_COUNT; i++) {
		if (sources[i](p) == 0) {
			p->pinned = i;
			return;
		}
	}
}

static struct cred_provider *provider_new(const struct cred_options *o)
{
	struct cred_provider *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->loop = o->loop;
	p->http = o->http;
	p->signer = o->signer;
	p->profile = o->profile ? strdup(o->profile) : NULL;
	p->region = o->region ? strdup(o->region) : NULL;
	p->sts_endpoint = o->sts_endpoint ? strdup(o->sts_endpoint) : NULL;
	p->retry_base_ms = o->retry_base_ms > 0 ? o->retry_base_ms : 1000;
	p->pinned = SRC_NONE;
	ev_timer_init(&p->timer, on_timer, 0.0, 0.0);
	p->timer.data = p;
	ev_timer_init(&p->deliver, on_deliver, 0.0, 0.0);
	p->deliver.data = p;
	if ((o->profile && !p->profile) || (o->region && !p->region) ||
	    (o->sts_endpoint && !p->sts_endpoint)) {
		cred_provider_free(p);
		return NULL;
	}
	return p;
}

struct cred_provider *cred_chain_new(const struct cred_options *o)
{
	take_env_secrets();
	return provider_new(o);
}

struct cred_provider *cred_assume_role_new(struct cred_provider *base, const char *role_arn,
					   const char *session_name, const struct cred_options *o)
{
	struct cred_provider *p = provider_new(o);
	char sess[80];

	if (!p)
		return NULL;
	snprintf(sess, sizeof(sess), "%s", session_name ? session_name : "");
	if (!*sess)
		snprintf(sess, sizeof(sess), "ecr-deployd-%lld", (long long)time(NULL));
	p->assume_role = true;
	p->base = base;
	p->role_arn = strdup(role_arn);
	p->session_name = strdup(sess);
	if (!p->role_arn || !p->session_name) {
		cred_provider_free(p);
		return NULL;
	}
	return p;
}

void cred_provider_free(struct cred_provider *p)
{
	if (!p)
		return;
	while (p->waiters)
		cred_wait_cancel(p->waiters);
	cred_wait_cancel(p->base_wait);
	http_cancel(p->req);
	sts_cancel(p->sts);
	if (p->loop) {
		ev_timer_stop(p->loop, &p->timer);
		ev_timer_stop(p->loop, &p->deliver);
	}
	aws_credentials_free(p->current);
	crypto_wipe(p->imds_token, sizeof(p->imds_token));
	free(p->profile);
	free(p->region);
	free(p->sts_endpoint);
	free(p->role_arn);
	free(p->session_name);
	free(p);
}

const struct aws_credentials *cred_peek(struct cred_provider *p)
{
	time_t now = time(NULL);

	if (usable(p->current, now)) {
		if (!p->fetching && p->current->expiration) {
			time_t life = p->current->expiration - p->obtained;
			time_t lead = life / 2 < ADVISORY_WINDOW ? life / 2 : ADVISORY_WINDOW;
			if (now >= p->current->expiration - lead && !ev_is_active(&p->timer))
				schedule(p, 0);
		}
		return p->current;
	}
	if (!p->fetching && !ev_is_active(&p->timer))
		schedule(p, 0);
	return NULL;
}

int cred_wait(struct cred_provider *p, cred_done_fn done, void *userdata, struct cred_waiter **ret)
{
	struct cred_waiter *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->p = p;
	w->done = done;
	w->userdata = userdata;
	w->next = p->waiters;
	if (p->waiters)
		p->waiters->prev = w;
	p->waiters = w;
	if (usable(p->current, time(NULL)))
		ev_timer_start(p->loop, &p->deliver);
	else if (!p->fetching)
		schedule(p, 0); /* nothing usable in hand: resolve now, not after a backoff */
	if (ret)
		*ret = w;
	return 0;
}

void cred_wait_cancel(struct cred_waiter *w)
{
	struct cred_provider *p;

	if (!w)
		return;
	p = w->p;
	if (w->prev)
		w->prev->next = w->next;
	else
		p->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	free(w);
}

void cred_invalidate(struct cred_provider *p)
{
	aws_credentials_free(p->current);
	p->current = NULL;
	if (!p->fetching)
		schedule(p, 0);
}

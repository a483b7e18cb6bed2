/* SPDX-License-Identifier: MIT */
/* AWS JSON protocol calls with SDK-standard retries. */
#include "aws.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "strbuf.h"

#define RETRY_COST         5
#define TIMEOUT_RETRY_COST 10
#define SKEW_THRESHOLD     60 /* seconds of difference that count as a wrong clock */

struct aws_client {
	struct ev_loop *loop;
	struct http_client *http;
	struct sigv4_signer *signer;
	struct cred_provider *creds;
	char *region;
	char *endpoints[AWS_SERVICE_COUNT];
	bool fips;
	int max_attempts;
	long retry_base_ms, retry_cap_ms, timeout_ms;
	int budget, budget_max;
	long skew;
	uint64_t rng;
	struct aws_call *calls;
	int in_flight;
};

struct aws_call {
	struct aws_client *client;
	const struct aws_service *service;
	char operation[64];
	char *body; /* the serialized params */
	size_t body_len;
	char url[1024];
	char host[512];
	char region[64];
	struct cred_provider *creds;
	long timeout_ms;
	aws_done_fn done;
	void *userdata;
	int attempts;
	bool not_idempotent;
	int last_cost;
	bool skew_retried, token_retried;
	struct timespec started;
	struct http_request *http;
	struct cred_waiter *waiter;
	struct ev_timer retry;
	struct aws_result result;
	struct aws_call *prev, *next;
};

static void attempt(struct aws_call *call);

static const char *const throttle_codes[] = {
	"Throttling",
	"ThrottlingException",
	"ThrottledException",
	"RequestThrottledException",
	"TooManyRequestsException",
	"ProvisionedThroughputExceededException",
	"TransactionInProgressException",
	"RequestLimitExceeded",
	"BandwidthLimitExceeded",
	"LimitExceededException",
	"RequestThrottled",
	"SlowDown",
	"PriorRequestNotComplete",
	"EC2ThrottledException",
};

static const char *const transient_codes[] = {
	"RequestTimeout",
	"RequestTimeoutException",
	"PriorRequestNotComplete",
	"InternalError",
	"InternalFailure",
	"ServiceUnavailable",
	"ServiceUnavailableException",
	"MalformedResponse",
};

static const char *const skew_codes[] = {
	"RequestTimeTooSkewed",  "RequestExpired", "InvalidSignatureException",
	"SignatureDoesNotMatch", "AuthFailure",    "RequestInTheFuture",
};

static bool in_list(const char *code, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(code, list[i]))
			return true;
	return false;
}

#define IN(code, list) in_list(code, list, sizeof(list) / sizeof(list[0]))

bool aws_is_throttle(const char *code)
{
	return IN(code, throttle_codes);
}

static uint64_t next_random(struct aws_client *c)
{
	/* xorshift64*: jitter only, not security */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * UINT64_C(2685821657736338717);
}

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)((now.tv_sec - since->tv_sec) * 1000 +
		      (now.tv_nsec - since->tv_nsec) / 1000000);
}

/* ---- finishing ------------------------------------------------------------ */

static void unlink_call(struct aws_call *call)
{
	struct aws_client *c = call->client;

	if (call->prev)
		call->prev->next = call->next;
	else
		c->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	c->in_flight--;
}

static void call_free(struct aws_call *call)
{
	ev_timer_stop(call->client->loop, &call->retry);
	cJSON_Delete(call->result.body);
	free(call->body);
	free(call);
}

static void finish(struct aws_call *call)
{
	call->result.attempts = call->attempts;
	call->result.duration_ms = elapsed_ms(&call->started);
	unlink_call(call);
	call->done(&call->result, call->userdata);
	call_free(call);
}

static void fail(struct aws_call *call, const char *code, int transport, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct aws_call *call, const char *code, int transport, const char *fmt, ...)
{
	va_list ap;

	call->result.ok = false;
	call->result.err.transport = transport;
	snprintf(call->result.err.code, sizeof(call->result.err.code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(call->result.err.message, sizeof(call->result.err.message), fmt, ap);
	va_end(ap);
	finish(call);
}

/* ---- retries ---------------------------------------------------------------- */

static void on_retry(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	attempt(t->data);
}

/* Schedules another attempt if allowed; returns false when the error stands. */
static bool retry(struct aws_call *call, bool timeout, bool immediately)
{
	struct aws_client *c = call->client;
	int cost = timeout ? TIMEOUT_RETRY_COST : RETRY_COST;
	double delay;
	long ceiling;

	if (call->attempts >= c->max_attempts)
		return false;
	if (!immediately) {
		if (c->budget < cost)
			return false;
		c->budget -= cost;
		call->last_cost = cost;
	}
	/* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]. */
	ceiling = c->retry_base_ms << (call->attempts - 1 < 20 ? call->attempts - 1 : 20);
	if (ceiling > c->retry_cap_ms || ceiling <= 0)
		ceiling = c->retry_cap_ms;
	delay = immediately ? 0.0 : (double)(next_random(c) % (uint64_t)(ceiling + 1)) / 1000.0;
	ev_timer_set(&call->retry, delay, 0.0);
	ev_timer_start(c->loop, &call->retry);
	return true;
}

static void succeeded(struct aws_call *call)
{
	struct aws_client *c = call->client;

	/* A success pays back: 1 token, or what its last retry cost. */
	c->budget += call->last_cost ? call->last_cost : 1;
	if (c->budget > c->budget_max)
		c->budget = c->budget_max;
	call->result.ok = true;
	finish(call);
}

/* ---- replies ---------------------------------------------------------------- */

static void strip_code(const char *raw, char *out, size_t n)
{
	const char *hash = strrchr(raw, '#');
	const char *start = hash ? hash + 1 : raw;
	size_t len = strcspn(start, ":");

	snprintf(out, n, "%.*s", (int)len, start);
}

/* Keeps printable ASCII of a body for an error message (never a whole reply). */
static void excerpt(const char *body, size_t len, char *out, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 1 < n && i < 200; i++)
		out[j++] = (body[i] >= 32 && body[i] < 127) ? body[i] : '?';
	out[j] = '\0';
}

void aws_parse_error(long status, const char *body, size_t len, const char *error_type,
		     const char *query_error, const char *request_id, struct aws_error *ret)
{
	/* {"__type": "ns#Code", "message": "..."}; some services say "code" and "Message". */
	cJSON *j = cJSON_ParseWithLength(body, len);
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(j, "__type"));
	const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(j, "message"));

	memset(ret, 0, sizeof(*ret));
	if (!type)
		type = cJSON_GetStringValue(cJSON_GetObjectItem(j, "code"));
	if (!type || !*type)
		type = error_type; /* "Code:http://internal.amazon.com/..." */
	if (!msg)
		msg = cJSON_GetStringValue(cJSON_GetObjectItem(j, "Message"));
	if (type)
		strip_code(type, ret->code, sizeof(ret->code));
	if (!ret->code[0])
		snprintf(ret->code, sizeof(ret->code), "HTTP%ld", status);
	if (msg)
		snprintf(ret->message, sizeof(ret->message), "%s", msg);
	else
		excerpt(body, len, ret->message, sizeof(ret->message));
	if (query_error)
		snprintf(ret->legacy_code, sizeof(ret->legacy_code), "%.*s",
			 (int)strcspn(query_error, ";"), query_error);
	snprintf(ret->request_id, sizeof(ret->request_id), "%s", request_id ? request_id : "");
	ret->http_status = (int)status;
	cJSON_Delete(j);
}

int aws_parse_http_date(const char *s, time_t *ret)
{
	struct tm tm = { 0 };
	const char *end = s ? strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm) : NULL;

	if (!end || *end)
		return -EINVAL;
	*ret = timegm(&tm);
	return 0;
}

static bool skewed(struct aws_call *call, const struct http_response *resp)
{
	struct aws_client *c = call->client;
	time_t server, local;

	if (aws_parse_http_date(resp->date, &server) < 0)
		return false;
	local = time(NULL);
	if (labs((long)(server - local) - c->skew) < SKEW_THRESHOLD)
		return false;
	c->skew = (long)(server - local);
	return true;
}

static void on_http(struct http_response *resp, void *userdata)
{
	struct aws_call *call = userdata;
	struct aws_error *e = &call->result.err;
	const char *ct = resp->content_type ? resp->content_type : "";

	call->http = NULL;
	memset(e, 0, sizeof(*e));
	call->result.http_version = resp->error ? 0 : resp->http_version;
	snprintf(call->result.request_id, sizeof(call->result.request_id), "%s",
		 resp->request_id ? resp->request_id : "");
	snprintf(e->request_id, sizeof(e->request_id), "%s", call->result.request_id);

	if (resp->error) {
		bool timeout = resp->error == -ETIMEDOUT;
		bool transient = timeout || resp->error == -ECONNRESET ||
				 resp->error == -ECONNREFUSED || resp->error == -EHOSTUNREACH ||
				 resp->error == -EPROTO;
		e->transport = resp->error;
		if (transient && (!call->not_idempotent || resp->error == -ECONNREFUSED) &&
		    retry(call, timeout, false))
			return;
		fail(call, timeout ? "RequestTimeout" : "ConnectionError", resp->error, "%s",
		     resp->error_text);
		return;
	}
	e->http_status = (int)resp->status;
	if (resp->status >= 200 && resp->status < 300) {
		bool json_type = !strncmp(ct, "application/x-amz-json", 22) ||
				 !strncmp(ct, "application/json", 16);
		cJSON *body = json_type ? cJSON_ParseWithLength(
					      resp->body.buf ? resp->body.buf : "", resp->body.len)
					: NULL;
		if (body && cJSON_IsObject(body)) {
			call->result.body = body;
			succeeded(call);
			return;
		}
		cJSON_Delete(body);
		if (!call->not_idempotent && retry(call, false, false))
			return;
		char ex[201];
		excerpt(strbuf_str(&resp->body), resp->body.len, ex, sizeof(ex));
		if (json_type)
			fail(call, "MalformedResponse", 0,
			     "HTTP %ld with a body that is not a JSON "
			     "object: '%s'",
			     resp->status, ex);
		else
			fail(call, "MalformedResponse", 0,
			     "HTTP %ld with Content-Type '%s', not JSON", resp->status, ct);
		return;
	}

	aws_parse_error(resp->status, resp->body.buf ? resp->body.buf : "", resp->body.len,
			resp->error_type, resp->query_error, resp->request_id, e);

	if (IN(e->code, skew_codes) && !call->skew_retried && skewed(call, resp)) {
		call->skew_retried = true;
		if (retry(call, false, true))
			return;
	}
	if ((!strcmp(e->code, "ExpiredTokenException") || !strcmp(e->code, "ExpiredToken")) &&
	    !call->token_retried) {
		call->token_retried = true;
		cred_invalidate(call->creds);
		if (retry(call, false, true))
			return;
	}
	if (call->not_idempotent
		? aws_is_throttle(e->code) || resp->status == 429
		: aws_is_throttle(e->code) || IN(e->code, transient_codes) || resp->status == 429 ||
		      resp->status == 500 || resp->status == 502 || resp->status == 503 ||
		      resp->status == 504) {
		if (retry(call, false, false))
			return;
	}
	call->result.ok = false;
	finish(call);
}

/* ---- attempts --------------------------------------------------------------- */

static void send_signed(struct aws_call *call, const struct aws_credentials *cr)
{
	struct aws_client *c = call->client;
	const struct aws_service *s = call->service;
	char content_type[64], target[160], host_line[600], date_line[64];
	struct strbuf authz, token;
	struct sigv4_result sig;
	const char *lines[10];
	size_t n = 0;
	int r;

	snprintf(content_type, sizeof(content_type), "application/x-amz-json-%s", s->json_version);
	snprintf(target, sizeof(target), "%s.%s", s->target_prefix, call->operation);
	struct sigv4_header h[4] = {
		{ "Host", call->host },
		{ "Content-Type", content_type },
		{ "X-Amz-Target", target },
		{ "x-amzn-query-mode", "true" },
	};
	struct sigv4_request sr = { .method = "POST",
				    .path = "/",
				    .headers = h,
				    .n_headers = s->query_compatible ? 4 : 3,
				    .body = call->body,
				    .body_len = call->body_len,
				    .normalize_path = true };
	struct sigv4_credentials sc = { cr->access_key_id, cr->secret_access_key,
					cr->session_token };

	sigv4_result_init(&sig);
	strbuf_init_secret(&authz, 8192);
	strbuf_init_secret(&token, 16384);
	r = sigv4_sign(c->signer, &sr, &sc, call->region, s->signing_name, time(NULL) + c->skew,
		       &sig);
	if (r < 0) {
		sigv4_result_done(&sig);
		fail(call, "SigningError", r, "cannot sign the request: %s", strerror(-r));
		return;
	}
	snprintf(host_line, sizeof(host_line), "Host: %s", call->host);
	snprintf(date_line, sizeof(date_line), "X-Amz-Date: %s", sig.amz_date);
	strbuf_printf(&authz, "Authorization: %s", strbuf_str(&sig.authorization));
	char ct_line[96], target_line[200];
	snprintf(ct_line, sizeof(ct_line), "Content-Type: %s", content_type);
	snprintf(target_line, sizeof(target_line), "X-Amz-Target: %s", target);
	lines[n++] = host_line;
	lines[n++] = ct_line;
	lines[n++] = target_line;
	lines[n++] = date_line;
	lines[n++] = authz.buf;
	if (s->query_compatible)
		lines[n++] = "x-amzn-query-mode: true";
	if (cr->session_token &&
	    strbuf_printf(&token, "X-Amz-Security-Token: %s", cr->session_token) == 0)
		lines[n++] = token.buf;
	lines[n] = NULL;

	struct http_request_spec spec = { .method = "POST",
					  .url = call->url,
					  .headers = lines,
					  .body = call->body,
					  .body_len = call->body_len,
					  .timeout_ms = call->timeout_ms };
	call->attempts++;
	r = (authz.buf ? http_submit(c->http, &spec, on_http, call, &call->http) : -ENOMEM);
	strbuf_done(&authz);
	strbuf_done(&token);
	sigv4_result_done(&sig);
	if (r < 0)
		fail(call, "ConnectionError", r, "cannot start the request: %s", strerror(-r));
}

static void on_creds(const struct aws_credentials *cr, int err, const char *why, void *userdata)
{
	struct aws_call *call = userdata;

	call->waiter = NULL;
	if (!cr) {
		fail(call, "CredentialsError", err, "%s", why ? why : "no credentials");
		return;
	}
	send_signed(call, cr);
}

static void attempt(struct aws_call *call)
{
	const struct aws_credentials *cr = cred_peek(call->creds);
	int r;

	if (cr) {
		send_signed(call, cr);
		return;
	}
	r = cred_wait(call->creds, on_creds, call, &call->waiter);
	if (r < 0)
		fail(call, "CredentialsError", r, "out of memory");
}

/* ---- public ------------------------------------------------------------------ */

struct aws_client *aws_client_new(struct ev_loop *loop, struct http_client *http,
				  struct sigv4_signer *signer, struct cred_provider *creds,
				  const struct aws_options *o, const char **why)
{
	struct aws_client *c;

	if (!o->region || !endpoint_valid_region(o->region)) {
		if (why)
			*why = "a valid region is required (like 'us-east-1')";
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->loop = loop;
	c->http = http;
	c->signer = signer;
	c->creds = creds;
	c->region = strdup(o->region);
	c->fips = o->fips;
	for (int i = 0; i < AWS_SERVICE_COUNT; i++)
		c->endpoints[i] = o->endpoints[i] ? strdup(o->endpoints[i]) : NULL;
	c->max_attempts = o->max_attempts > 0 ? o->max_attempts : 3;
	c->retry_base_ms = o->retry_base_ms > 0 ? o->retry_base_ms : 100;
	c->retry_cap_ms = o->retry_cap_ms > 0 ? o->retry_cap_ms : 20000;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	c->budget = c->budget_max = o->retry_budget > 0 ? o->retry_budget : 500;
	if (getrandom(&c->rng, sizeof(c->rng), 0) != sizeof(c->rng) || c->rng == 0)
		c->rng = (uint64_t)time(NULL) * 2654435761u + 1;
	if (!c->region) {
		aws_client_free(c);
		return NULL;
	}
	return c;
}

void aws_client_free(struct aws_client *c)
{
	if (!c)
		return;
	while (c->calls)
		aws_call_cancel(c->calls);
	free(c->region);
	for (int i = 0; i < AWS_SERVICE_COUNT; i++)
		free(c->endpoints[i]);
	free(c);
}

int aws_call(struct aws_client *c, const struct aws_call_spec *spec, aws_done_fn done,
	     void *userdata, struct aws_call **ret)
{
	struct aws_call *call;
	const char *region = spec->region ? spec->region : c->region;
	char base[900];
	const char *why = NULL;
	int r;

	if (!spec->service || !spec->service->target_prefix || !spec->operation ||
	    strlen(spec->operation) >= sizeof(call->operation) || !done)
		return -EINVAL;
	r = endpoint_resolve(spec->service, region, c->fips, c->endpoints[spec->service->id], base,
			     sizeof(base), NULL, &why);
	if (r < 0)
		return -EINVAL;
	call = calloc(1, sizeof(*call));
	if (!call)
		return -ENOMEM;
	call->client = c;
	call->service = spec->service;
	snprintf(call->operation, sizeof(call->operation), "%s", spec->operation);
	snprintf(call->url, sizeof(call->url), "%s/", base);
	snprintf(call->region, sizeof(call->region), "%s", region);
	if (endpoint_host(call->url, call->host, sizeof(call->host), NULL) < 0) {
		free(call);
		return -EINVAL;
	}
	call->body = spec->params ? cJSON_PrintUnformatted(spec->params) : strdup("{}");
	if (!call->body) {
		free(call);
		return -ENOMEM;
	}
	call->body_len = strlen(call->body);
	call->creds = spec->creds ? spec->creds : c->creds;
	call->timeout_ms = spec->timeout_ms > 0 ? spec->timeout_ms : c->timeout_ms;
	call->not_idempotent = spec->not_idempotent;
	call->done = done;
	call->userdata = userdata;
	call->result.service = spec->service;
	call->result.operation = call->operation;
	clock_gettime(CLOCK_MONOTONIC, &call->started);
	ev_timer_init(&call->retry, on_retry, 0.0, 0.0);
	call->retry.data = call;
	call->next = c->calls;
	if (c->calls)
		c->calls->prev = call;
	c->calls = call;
	c->in_flight++;
	/* The first attempt starts from the loop, so done never runs inside aws_call(). */
	ev_timer_start(c->loop, &call->retry);
	if (ret)
		*ret = call;
	return 0;
}

void aws_call_cancel(struct aws_call *call)
{
	if (!call)
		return;
	http_cancel(call->http);
	cred_wait_cancel(call->waiter);
	unlink_call(call);
	call_free(call);
}

cJSON *aws_result_take_body(struct aws_result *res)
{
	cJSON *b = res->body;

	res->body = NULL;
	return b;
}

long aws_clock_skew(const struct aws_client *c)
{
	return c->skew;
}

int aws_retry_budget(const struct aws_client *c)
{
	return c->budget;
}

int aws_in_flight(const struct aws_client *c)
{
	return c->in_flight;
}

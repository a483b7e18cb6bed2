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
	aws_observer_fn observer;
	void *observer_data;
	bool (*gate)(void *ud);
	void *gate_data;
	/* Reused by every attempt (signing and sending are synchronous), wiped after each: */
	struct sigv4_result sig;
	struct strbuf lines; /* the request's header lines, each NUL-terminated */
};

struct aws_call {
	struct aws_client *client;
	const struct aws_service *service;
	char operation[64];
	char *body; /* the serialized params, or the caller's body */
	size_t body_len;
	int (*reader)(const char *body, size_t len, void *reader_ud, char *why, size_t why_len);
	void *reader_ud;
	char *url;  /* base URL and "/", in text[] */
	char *host; /* the URL's host (and port), in text[] */
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
	/* (no struct aws_result: 1.6 kB a call, while a reply is handled on the stack at once) */
	struct aws_call *prev, *next;
	char text[]; /* url, then host: a call is as large as its URL, not the largest one */
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
	free(call->body);
	free(call);
}

/* Ends the call with res (the last attempt's outcome, on the caller's stack): the observer and
 * done see it, then what it holds and the call are freed. */
static void finish(struct aws_call *call, struct aws_result *res)
{
	res->service = call->service;
	res->operation = call->operation;
	res->attempts = call->attempts;
	res->duration_ms = elapsed_ms(&call->started);
	unlink_call(call);
	if (call->client->observer)
		call->client->observer(res, call->client->observer_data);
	call->done(res, call->userdata);
	cJSON_Delete(res->body);
	cJSON_Delete(res->err_body);
	call_free(call);
}

static void fail(struct aws_call *call, struct aws_result *res, const char *code, int transport,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Ends the call as failed with code and the message: into res when the attempt's reply filled one
 * (its status and request ID stand), else into a result of its own (the attempt had no reply). */
static void fail(struct aws_call *call, struct aws_result *res, const char *code, int transport,
		 const char *fmt, ...)
{
	struct aws_result own;
	va_list ap;

	if (!res) {
		memset(&own, 0, sizeof(own));
		res = &own;
	}
	res->ok = false;
	res->err.transport = transport;
	snprintf(res->err.code, sizeof(res->err.code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(res->err.message, sizeof(res->err.message), fmt, ap);
	va_end(ap);
	finish(call, res);
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

static void succeeded(struct aws_call *call, struct aws_result *res)
{
	struct aws_client *c = call->client;

	/* A success pays back: 1 token, or what its last retry cost. */
	c->budget += call->last_cost ? call->last_cost : 1;
	if (c->budget > c->budget_max)
		c->budget = c->budget_max;
	res->ok = true;
	finish(call, res);
}

/* ---- replies ---------------------------------------------------------------- */

static void strip_code(const char *raw, char *out, size_t n)
{
	const char *hash = strrchr(raw, '#');
	const char *start = hash ? hash + 1 : raw;
	size_t len = strcspn(start, ":");

	snprintf(out, n, "%.*s", (int)len, start);
	/* a code is an identifier: what is not printable ASCII is shown as '?' */
	for (char *c = out; *c; c++)
		if (*c < 32 || *c > 126)
			*c = '?';
}

/*
 * Text from outside, written into a bounded buffer as it came (control characters and invalid
 * UTF-8 included: the log sinks escape them, escape.h), except a NUL, which is a '?'; in ASCII
 * mode (codes, excerpts) every byte that is not printable ASCII is a '?'. Whole UTF-8 characters
 * only: when more came than fits, the text is cut at a word boundary near the end (else between
 * two characters) and marked with AWS_ERROR_CUT_MARK.
 */
struct text {
	char *buf;
	size_t cap; /* bytes of buf, the NUL included; more than the mark */
	size_t len;
	size_t fit; /* the last character boundary that leaves room for the mark */
	bool ascii; /* printable ASCII only */
	bool xml;   /* white space around the text is dropped */
	bool full;  /* some text did not fit */
};

#define CUT_WINDOW 128 /* how far back from the bound a cut looks for a space */

static bool xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void text_init(struct text *t, char *buf, size_t cap, bool ascii, bool xml)
{
	*t = (struct text){ .buf = buf, .cap = cap, .ascii = ascii, .xml = xml };
	buf[0] = '\0';
}

/* Appends one character (n bytes). */
static void text_put(struct text *t, const char *bytes, size_t n)
{
	if (t->full)
		return;
	if (t->len + n >= t->cap) {
		t->full = true;
		return;
	}
	if (t->xml && t->len == 0 && n == 1 && xml_space(bytes[0]))
		return;
	memcpy(t->buf + t->len, bytes, n);
	t->len += n;
	t->buf[t->len] = '\0';
	if (t->len + strlen(AWS_ERROR_CUT_MARK) < t->cap)
		t->fit = t->len;
}

/* Length of the valid UTF-8 sequence at p (at most avail bytes), 0 when there is none. */
static size_t utf8_seq(const unsigned char *p, size_t avail)
{
	size_t n = p[0] < 0x80                    ? 1
		   : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
		   : (p[0] & 0xf0) == 0xe0        ? 3
		   : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
						  : 0;

	if (n == 0 || n > avail)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0) ||  /* overlong */
	    (n == 3 && p[0] == 0xed && p[1] >= 0xa0) || /* surrogate */
	    (n == 4 && p[0] == 0xf0 && p[1] < 0x90) ||  /* overlong */
	    (n == 4 && p[0] == 0xf4 && p[1] >= 0x90))   /* beyond U+10FFFF */
		return 0;
	return n;
}

/* Appends len raw bytes of s: a valid UTF-8 sequence is one character, any other byte another. */
static void text_raw(struct text *t, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len && !t->full) {
		size_t n = t->ascii ? 1 : utf8_seq(p + i, len - i);

		if (n == 0)
			n = 1; /* a byte of invalid UTF-8, kept for the escaper to show */
		if (p[i] == '\0' ||
		    (t->ascii && (p[i] < 32 || p[i] > 126) && !(t->xml && xml_space((char)p[i]))))
			text_put(t, "?", 1);
		else
			text_put(t, s + i, n);
		i += n;
	}
}

/* Appends the character cp (from a character reference); NUL, a surrogate or a value beyond
 * Unicode is a '?'. */
static void text_char(struct text *t, unsigned long cp)
{
	char u[4];

	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
	    (t->ascii && (cp < 32 || cp > 126))) {
		text_put(t, "?", 1);
	} else if (cp < 0x80) {
		u[0] = (char)cp;
		text_put(t, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		text_put(t, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		text_put(t, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		text_put(t, u, 4);
	}
}

/*
 * Ends the text: white space around XML text dropped; when text was left out (it did not fit,
 * or cut says that it ended early), the mark appended, after a cut back to make room for it: at
 * a space within CUT_WINDOW bytes of the bound (the word before it is whole), else at the last
 * character boundary that leaves room.
 */
static void text_end(struct text *t, bool cut)
{
	size_t mark = strlen(AWS_ERROR_CUT_MARK), end = t->len;

	if (t->full || (cut && end + mark >= t->cap)) {
		size_t floor = t->fit > CUT_WINDOW ? t->fit - CUT_WINDOW : 0;

		end = t->fit;
		if (t->full)
			for (size_t i = t->fit; i > floor; i--)
				if (t->buf[i] == ' ' || t->buf[i - 1] == ' ') {
					end = i;
					break;
				}
	}
	while ((t->xml || t->full || cut) && end > 0 && xml_space(t->buf[end - 1]))
		end--;
	t->len = end;
	t->buf[end] = '\0';
	if (t->full || cut) {
		memcpy(t->buf + end, AWS_ERROR_CUT_MARK, mark + 1);
		t->len += mark;
	}
}

/* An excerpt of a body that is not an AWS error: printable ASCII of its first bytes (n - 1 at
 * most, the mark included when cut). */
static void excerpt(const char *body, size_t len, char *out, size_t n)
{
	struct text t;

	text_init(&t, out, n, true, false);
	text_raw(&t, body, len < n ? len : n);
	text_end(&t, false);
}

/* ---- XML error bodies ----------------------------------------------------------- */

/*
 * The elements read from an XML error: Code, Message and RequestId (or RequestID), each the
 * first one whose parent is an Error, ErrorResponse or Response element. This is a single pass
 * over the bytes, without recursion or allocation: the nesting is a depth and one bit per level
 * (is it such a parent) for the first 64 levels; a DOCTYPE is skipped, never read (no entity but
 * the five predefined ones and character references).
 */
enum xml_field { XML_CODE, XML_MESSAGE, XML_REQUEST_ID, XML_FIELDS };

struct xml_error {
	struct text f[XML_FIELDS];
	bool seen[XML_FIELDS];   /* the element started */
	bool closed[XML_FIELDS]; /* and ended */
	bool truncated;          /* the body ended inside markup */
};

/* The local name of a tag (namespace prefix dropped) starting at s; *len its length. */
static const char *xml_name(const char *s, const char *end, size_t *len)
{
	const char *n = s, *colon = NULL;

	while (s < end && !strchr(" \t\r\n/>", *s) && *s) {
		if (*s == ':')
			colon = s;
		s++;
	}
	if (colon)
		n = colon + 1;
	*len = (size_t)(s - n);
	return n;
}

static bool name_is(const char *n, size_t len, const char *want)
{
	return strlen(want) == len && !memcmp(n, want, len);
}

/* Where the tag starting at s ends (its '>'), quoted attribute values skipped; NULL if never. */
static const char *xml_tag_end(const char *s, const char *end)
{
	char quote = 0;

	for (; s < end; s++) {
		if (quote) {
			if (*s == quote)
				quote = 0;
		} else if (*s == '"' || *s == '\'') {
			quote = *s;
		} else if (*s == '>') {
			return s;
		}
	}
	return NULL;
}

/* Decodes character data (entities and character references) into t. */
static void xml_text(struct text *t, const char *s, const char *end)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = {
		{ "lt;", '<' }, { "gt;", '>' }, { "amp;", '&' }, { "quot;", '"' }, { "apos;", '\'' }
	};

	while (s < end && !t->full) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		const char *e;
		bool done = false;

		if (!amp) {
			text_raw(t, s, (size_t)(end - s));
			return;
		}
		text_raw(t, s, (size_t)(amp - s));
		e = amp + 1;
		for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]) && !done; i++) {
			size_t l = strlen(ents[i].name);
			if ((size_t)(end - e) >= l && !memcmp(e, ents[i].name, l)) {
				text_put(t, &ents[i].c, 1);
				s = e + l;
				done = true;
			}
		}
		if (!done && e < end && *e == '#') {
			bool hex = e + 1 < end && (e[1] == 'x' || e[1] == 'X');
			const char *d = e + (hex ? 2 : 1), *q = d;
			unsigned long cp = 0;

			while (q < end && q - d < (hex ? 6 : 7) &&
			       (hex ? strchr("0123456789abcdefABCDEF", *q)
				    : strchr("0123456789", *q)) &&
			       *q) {
				cp = cp * (hex ? 16 : 10) +
				     (unsigned long)(*q <= '9' ? *q - '0' : (*q | 0x20) - 'a' + 10);
				q++;
			}
			if (q > d && q < end && *q == ';') {
				text_char(t, cp);
				s = q + 1;
				done = true;
			}
		}
		if (!done) {
			text_put(t, "&", 1);
			s = amp + 1;
		}
	}
}

static void xml_read(const char *p, size_t len, struct xml_error *x)
{
	static const char *const fields[XML_FIELDS][2] = {
		[XML_CODE] = { "Code", NULL },
		[XML_MESSAGE] = { "Message", NULL },
		[XML_REQUEST_ID] = { "RequestId", "RequestID" },
	};
	const char *s = p, *end = p + len;
	uint64_t parent = 0; /* bit d: the open element at depth d is an Error (or a root of one) */
	int depth = 0, capture = -1, capture_depth = 0;

	while (s < end) {
		const char *lt = memchr(s, '<', (size_t)(end - s)), *gt, *name;
		size_t nlen;

		if (!lt)
			lt = end;
		if (capture >= 0)
			xml_text(&x->f[capture], s, lt);
		if (lt == end)
			break;
		s = lt;
		if ((size_t)(end - s) >= 4 && !memcmp(s, "<!--", 4)) {
			gt = memmem(s + 4, (size_t)(end - s - 4), "-->", 3);
			if (!gt)
				goto truncated;
			s = gt + 3;
		} else if ((size_t)(end - s) >= 9 && !memcmp(s, "<![CDATA[", 9)) {
			gt = memmem(s + 9, (size_t)(end - s - 9), "]]>", 3);
			if (capture >= 0)
				text_raw(&x->f[capture], s + 9,
					 (size_t)((gt ? gt : end) - (s + 9)));
			if (!gt)
				goto truncated;
			s = gt + 3;
		} else if ((size_t)(end - s) >= 2 && s[1] == '?') {
			gt = memmem(s + 2, (size_t)(end - s - 2), "?>", 2);
			if (!gt)
				goto truncated;
			s = gt + 2;
		} else if ((size_t)(end - s) >= 2 && s[1] == '!') {
			gt = xml_tag_end(s + 2, end);
			if (!gt)
				goto truncated;
			s = gt + 1;
		} else if ((size_t)(end - s) >= 2 && s[1] == '/') {
			gt = xml_tag_end(s + 2, end);
			if (!gt)
				goto truncated;
			s = gt + 1;
			if (depth > 0)
				depth--;
			if (capture >= 0 && depth < capture_depth) {
				x->closed[capture] = true;
				capture = -1;
			}
		} else {
			gt = xml_tag_end(s + 1, end);
			if (!gt)
				goto truncated;
			name = xml_name(s + 1, gt, &nlen);
			s = gt + 1;
			if (nlen == 0)
				continue; /* not a tag: "< " or "<>" */
			if (capture < 0 && depth < 64 && (parent >> depth & 1))
				for (int f = 0; f < XML_FIELDS; f++)
					if (!x->seen[f] &&
					    (name_is(name, nlen, fields[f][0]) ||
					     (fields[f][1] && name_is(name, nlen, fields[f][1])))) {
						x->seen[f] = true;
						capture = f;
						capture_depth = depth + 1;
						break;
					}
			if (gt[-1] == '/') { /* <Code/>: empty, already ended */
				if (capture >= 0) {
					x->closed[capture] = true;
					capture = -1;
				}
				continue;
			}
			depth++;
			if (depth < 64) {
				bool container = name_is(name, nlen, "Error") ||
						 name_is(name, nlen, "ErrorResponse") ||
						 name_is(name, nlen, "Response");
				parent = (parent & ~(UINT64_C(1) << depth)) |
					 ((uint64_t)container << depth);
			}
		}
	}
	return;
truncated:
	x->truncated = true;
}

void aws_parse_error(long status, const char *body, size_t len, const char *error_type,
		     const char *query_error, const char *request_id, struct aws_error *ret)
{
	char rid[sizeof(ret->request_id)];
	size_t skip = 0;

	memset(ret, 0, sizeof(*ret));
	/* The content type may lie: the first byte that is not a space (or a BOM) decides. */
	if (len >= 3 && !memcmp(body, "\xef\xbb\xbf", 3))
		skip = 3;
	while (skip < len && strchr(" \t\r\n", body[skip]) && body[skip])
		skip++;
	if (skip < len && body[skip] == '<') {
		struct xml_error x = { 0 };
		char code[sizeof(ret->code)];

		text_init(&x.f[XML_CODE], code, sizeof(code), true, true);
		text_init(&x.f[XML_MESSAGE], ret->message, sizeof(ret->message), false, true);
		text_init(&x.f[XML_REQUEST_ID], rid, sizeof(rid), true, true);
		xml_read(body + skip, len - skip, &x);
		/* a code or request id is whole or not at all; a message cut off is marked */
		text_end(&x.f[XML_CODE], false);
		text_end(&x.f[XML_REQUEST_ID], false);
		text_end(&x.f[XML_MESSAGE], x.seen[XML_MESSAGE] && !x.closed[XML_MESSAGE]);
		if (x.closed[XML_CODE] && !x.f[XML_CODE].full)
			strip_code(code, ret->code, sizeof(ret->code));
		if (!ret->code[0] && !x.seen[XML_MESSAGE])
			excerpt(body, len, ret->message, 201);
		if (x.closed[XML_REQUEST_ID] && !x.f[XML_REQUEST_ID].full &&
		    (!request_id || !*request_id))
			request_id = rid;
		if (!ret->code[0] && error_type)
			strip_code(error_type, ret->code, sizeof(ret->code));
	} else {
		/* {"__type": "ns#Code", "message": "..."}; some services say "code" and "Message".
		 */
		cJSON *j = cJSON_ParseWithLength(body, len);
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(j, "__type"));
		const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(j, "message"));

		if (!type)
			type = cJSON_GetStringValue(cJSON_GetObjectItem(j, "code"));
		if (!type || !*type)
			type = error_type; /* "Code:http://internal.amazon.com/..." */
		if (!msg)
			msg = cJSON_GetStringValue(cJSON_GetObjectItem(j, "Message"));
		if (type)
			strip_code(type, ret->code, sizeof(ret->code));
		if (msg) {
			struct text t;
			text_init(&t, ret->message, sizeof(ret->message), false, false);
			text_raw(&t, msg, strlen(msg));
			text_end(&t, false);
		} else {
			excerpt(body, len, ret->message, 201);
		}
		cJSON_Delete(j);
	}
	if (!ret->code[0])
		snprintf(ret->code, sizeof(ret->code), "HTTP%ld", status);
	if (query_error)
		snprintf(ret->legacy_code, sizeof(ret->legacy_code), "%.*s",
			 (int)strcspn(query_error, ";"), query_error);
	snprintf(ret->request_id, sizeof(ret->request_id), "%s", request_id ? request_id : "");
	ret->http_status = (int)status;
}

/* ---- classification ---------------------------------------------------------------- */

static const char *const client_transient_codes[] = {
	"RequestTimeout",   "ConnectionError", "MalformedResponse",   "CredentialsError",
	"EndpointError",    "ServerException", "InternalServerError", "InternalServerException",
	"ServiceException", "NotLeader",
};

static const char *const auth_codes[] = {
	"AccessDenied",
	"AccessDeniedException",
	"UnauthorizedOperation",
	"UnauthorizedException",
	"UnrecognizedClientException",
	"InvalidClientTokenId",
	"MissingAuthenticationToken",
	"NotAuthorized",
	"IncompleteSignature",
	"OptInRequired",
};

enum aws_error_class aws_error_classify(const struct aws_error *e)
{
	const char *c = e->code;

	if (e->http_status == 0 || e->http_status >= 500 || e->http_status == 429 ||
	    aws_is_throttle(c) || IN(c, transient_codes) || IN(c, client_transient_codes))
		return AWS_ERROR_TRANSIENT;
	if (IN(c, auth_codes) || IN(c, skew_codes) || !strncmp(c, "ExpiredToken", 12) ||
	    !strncmp(c, "MissingAuthenticationToken", 26))
		return AWS_ERROR_AUTH;
	if (strstr(c, "NotFound") || strstr(c, "DoesNotExist") || strstr(c, "NonExistent") ||
	    !strncmp(c, "NoSuch", 6) || !strcmp(c, "ServiceNotActiveException"))
		return AWS_ERROR_NOT_FOUND;
	if (e->http_status == 401 || e->http_status == 403) {
		char bare[16];
		snprintf(bare, sizeof(bare), "HTTP%d", e->http_status);
		if (!*c || !strcmp(c, bare))
			return AWS_ERROR_AUTH;
	}
	return AWS_ERROR_REQUEST;
}

const char *aws_error_class_name(enum aws_error_class c)
{
	switch (c) {
	case AWS_ERROR_TRANSIENT:
		return "transient";
	case AWS_ERROR_AUTH:
		return "authorization";
	case AWS_ERROR_REQUEST:
		return "request";
	case AWS_ERROR_NOT_FOUND:
		return "not-found";
	}
	return "unknown";
}

/* The action "service:Action" at s, its length in *len; false when s does not start with one. */
static bool action_at(const char *s, size_t *len)
{
	size_t svc = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-"), act;

	if (svc == 0 || s[svc] != ':')
		return false;
	act =
	    strspn(s + svc + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*");
	*len = svc + 1 + act;
	return act > 0;
}

int aws_error_action(const struct aws_error *e, char *buf, size_t n)
{
	static const char *const before[] = { "not authorized to perform", "policy allows the " };

	if (n > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++)
		for (const char *s = strstr(e->message, before[i]); s;
		     s = strstr(s + 1, before[i])) {
			const char *a = s + strlen(before[i]);
			size_t len;

			if (*a == ':')
				a++;
			a += strspn(a, " ");
			if (!action_at(a, &len))
				continue;
			if (len >= n)
				return 0;
			memcpy(buf, a, len);
			buf[len] = '\0';
			return 1;
		}
	return 0;
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
	struct aws_result res;
	struct aws_error *e = &res.err;
	const char *ct = resp->content_type ? resp->content_type : "";

	call->http = NULL;
	memset(&res, 0, sizeof(res));
	res.http_version = resp->error ? 0 : resp->http_version;
	snprintf(res.request_id, sizeof(res.request_id), "%s",
		 resp->request_id ? resp->request_id : "");
	snprintf(e->request_id, sizeof(e->request_id), "%s", res.request_id);

	if (resp->error) {
		bool timeout = resp->error == -ETIMEDOUT;
		/* Refused, or no socket to send it on (out of descriptors): never sent. */
		bool unsent = resp->error == -ECONNREFUSED || resp->error == -EMFILE ||
			      resp->error == -ENFILE;
		bool transient = timeout || unsent || resp->error == -ECONNRESET ||
				 resp->error == -EHOSTUNREACH || resp->error == -EPROTO;
		e->transport = resp->error;
		if (transient && (!call->not_idempotent || unsent) && retry(call, timeout, false))
			return;
		fail(call, &res, timeout ? "RequestTimeout" : "ConnectionError", resp->error, "%s",
		     resp->error_text);
		return;
	}
	e->http_status = (int)resp->status;
	if (resp->status >= 200 && resp->status < 300) {
		bool json_type = !strncmp(ct, "application/x-amz-json", 22) ||
				 !strncmp(ct, "application/json", 16);
		const char *text = resp->body.buf ? resp->body.buf : "";
		char why[sizeof(e->message)];

		why[0] = '\0';
		if (json_type && call->reader) {
			int r =
			    call->reader(text, resp->body.len, call->reader_ud, why, sizeof(why));
			if (r == 0) {
				succeeded(call, &res);
				return;
			}
			why[sizeof(why) - 1] = '\0';
			if (!why[0])
				snprintf(why, sizeof(why),
					 "HTTP %ld with a body of the wrong shape (the reader "
					 "refused it: %d)",
					 resp->status, r);
		} else if (json_type) {
			cJSON *body = cJSON_ParseWithLength(text, resp->body.len);
			if (body && cJSON_IsObject(body)) {
				res.body = body;
				succeeded(call, &res);
				return;
			}
			cJSON_Delete(body);
		}
		if (!call->not_idempotent && retry(call, false, false))
			return;
		char ex[201];
		excerpt(strbuf_str(&resp->body), resp->body.len, ex, sizeof(ex));
		if (json_type && why[0])
			fail(call, &res, "MalformedResponse", 0, "%s", why);
		else if (json_type)
			fail(call, &res, "MalformedResponse", 0,
			     "HTTP %ld with a body that is not a JSON "
			     "object: '%s'",
			     resp->status, ex);
		else
			fail(call, &res, "MalformedResponse", 0,
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
	/* the error reply's other members, for the caller (only once the error stands) */
	res.err_body =
	    resp->body.len ? cJSON_ParseWithLength(resp->body.buf, resp->body.len) : NULL;
	if (res.err_body && !cJSON_IsObject(res.err_body)) {
		cJSON_Delete(res.err_body);
		res.err_body = NULL;
	}
	res.ok = false;
	finish(call, &res);
}

/* ---- outcomes --------------------------------------------------------------- */

enum aws_outcome aws_outcome_of(const struct aws_result *res)
{
	const struct aws_error *e = &res->err;

	if (res->ok)
		return AWS_OUTCOME_OK;
	if (!strcmp(e->code, "CredentialsError") || !strcmp(e->code, "SigningError"))
		return AWS_OUTCOME_CREDENTIALS;
	if (!strcmp(e->code, "MalformedResponse"))
		return AWS_OUTCOME_MALFORMED;
	if (!strcmp(e->code, "NotLeader"))
		return AWS_OUTCOME_REFUSED;
	if (e->transport == -ETIMEDOUT || !strcmp(e->code, "RequestTimeout") ||
	    !strcmp(e->code, "RequestTimeoutException"))
		return AWS_OUTCOME_TIMEOUT;
	if (e->http_status == 0)
		return AWS_OUTCOME_NETWORK;
	if (e->http_status == 429 || aws_is_throttle(e->code))
		return AWS_OUTCOME_THROTTLED;
	if (e->http_status >= 500)
		return AWS_OUTCOME_SERVER_ERROR;
	if (aws_error_classify(e) == AWS_ERROR_AUTH)
		return AWS_OUTCOME_AUTH;
	return AWS_OUTCOME_CLIENT_ERROR;
}

const char *aws_outcome_name(enum aws_outcome o)
{
	static const char *const names[AWS_OUTCOME_COUNT] = {
		[AWS_OUTCOME_OK] = "ok",
		[AWS_OUTCOME_THROTTLED] = "throttled",
		[AWS_OUTCOME_TIMEOUT] = "timeout",
		[AWS_OUTCOME_NETWORK] = "network",
		[AWS_OUTCOME_SERVER_ERROR] = "server_error",
		[AWS_OUTCOME_AUTH] = "auth",
		[AWS_OUTCOME_CLIENT_ERROR] = "client_error",
		[AWS_OUTCOME_MALFORMED] = "malformed",
		[AWS_OUTCOME_CREDENTIALS] = "credentials",
		[AWS_OUTCOME_REFUSED] = "refused",
	};

	return (unsigned)o < AWS_OUTCOME_COUNT ? names[o] : "unknown";
}

/* ---- attempts --------------------------------------------------------------- */

/* Appends "name: " and the parts of the value, then the NUL that ends the line. */
static int put_line(struct strbuf *sb, const char *name, const char *v1, const char *v2,
		    const char *v3)
{
	int r;

	if ((r = strbuf_puts(sb, name)) < 0 || (r = strbuf_append(sb, ": ", 2)) < 0 ||
	    (r = strbuf_puts(sb, v1)) < 0 || (v2 && (r = strbuf_puts(sb, v2)) < 0) ||
	    (v3 && (r = strbuf_puts(sb, v3)) < 0))
		return r;
	return strbuf_append(sb, "", 1);
}

static void send_signed(struct aws_call *call, const struct aws_credentials *cr)
{
	struct aws_client *c = call->client;
	const struct aws_service *s = call->service;
	struct sigv4_result *sig = &c->sig;
	struct strbuf *sb = &c->lines;
	size_t ct_at, target_at;
	const char *lines[10];
	size_t n = 0;
	int r;

	/* The lines sent, in the order of the old builder: Host, Content-Type, X-Amz-Target,
	 * X-Amz-Date, Authorization, x-amzn-query-mode, X-Amz-Security-Token. The values of
	 * Content-Type and X-Amz-Target are signed from the same bytes. */
	strbuf_reset(sb);
	r = put_line(sb, "Host", call->host, NULL, NULL);
	ct_at = sb->len + strlen("Content-Type: ");
	if (r >= 0)
		r = put_line(sb, "Content-Type", "application/x-amz-json-", s->json_version, NULL);
	target_at = sb->len + strlen("X-Amz-Target: ");
	if (r >= 0)
		r = put_line(sb, "X-Amz-Target", s->target_prefix, ".", call->operation);
	if (r < 0) {
		fail(call, NULL, "SigningError", r, "cannot build the request: %s", strerror(-r));
		return;
	}
	struct sigv4_header h[4] = {
		{ "Host", call->host },
		{ "Content-Type", sb->buf + ct_at },
		{ "X-Amz-Target", sb->buf + target_at },
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

	r = sigv4_sign(c->signer, &sr, &sc, call->region, s->signing_name, time(NULL) + c->skew,
		       sig);
	if (r < 0) {
		sigv4_result_clear(sig);
		strbuf_reset(sb);
		fail(call, NULL, "SigningError", r, "cannot sign the request: %s", strerror(-r));
		return;
	}
	if ((r = put_line(sb, "X-Amz-Date", sig->amz_date, NULL, NULL)) >= 0 &&
	    (r = put_line(sb, "Authorization", strbuf_str(&sig->authorization), NULL, NULL)) >= 0 &&
	    s->query_compatible)
		r = put_line(sb, "x-amzn-query-mode", "true", NULL, NULL);
	if (r >= 0 && cr->session_token)
		r = put_line(sb, "X-Amz-Security-Token", cr->session_token, NULL, NULL);
	sigv4_result_clear(sig);
	call->attempts++;
	if (r >= 0) {
		/* the buffer is whole now: the lines are where its NULs say */
		for (const char *p = sb->buf; p < sb->buf + sb->len; p += strlen(p) + 1)
			lines[n++] = p;
		lines[n] = NULL;
		struct http_request_spec spec = { .method = "POST",
						  .url = call->url,
						  .headers = lines,
						  .body = call->body,
						  .body_len = call->body_len,
						  .timeout_ms = call->timeout_ms };
		r = http_submit(c->http, &spec, on_http, call, &call->http);
	}
	strbuf_reset(sb);
	if (r < 0)
		fail(call, NULL, "ConnectionError", r, "cannot start the request: %s",
		     strerror(-r));
}

/*
 * The gate (high availability): a call that is not a read fails as NotLeader, without a request,
 * when it says no. Asked right before every attempt is signed and sent, also after a wait for
 * credentials, however long that took. Returns true when the call was failed.
 */
static bool gated(struct aws_call *call)
{
	struct aws_client *c = call->client;

	if (!c->gate || aws_operation_is_read(call->service, call->operation) ||
	    c->gate(c->gate_data))
		return false;
	fail(call, NULL, "NotLeader", 0,
	     "%s was not sent: this instance does not hold the lease (high availability)",
	     call->operation);
	return true;
}

static void on_creds(const struct aws_credentials *cr, int err, const char *why, void *userdata)
{
	struct aws_call *call = userdata;

	call->waiter = NULL;
	if (!cr) {
		fail(call, NULL, "CredentialsError", err, "%s", why ? why : "no credentials");
		return;
	}
	if (gated(call))
		return;
	send_signed(call, cr);
}

static void attempt(struct aws_call *call)
{
	const struct aws_credentials *cr;
	int r;

	if (gated(call))
		return;
	cr = cred_peek(call->creds);
	if (cr) {
		send_signed(call, cr);
		return;
	}
	r = cred_wait(call->creds, on_creds, call, &call->waiter);
	if (r < 0)
		fail(call, NULL, "CredentialsError", r, "out of memory");
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
	sigv4_result_init(&c->sig);
	strbuf_init_secret(&c->lines, 64 * 1024);
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
	sigv4_result_done(&c->sig);
	strbuf_done(&c->lines);
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
	    strlen(spec->operation) >= sizeof(call->operation) || !done ||
	    (spec->body && spec->body_len == 0))
		return -EINVAL;
	r = endpoint_resolve(spec->service, region, c->fips, c->endpoints[spec->service->id], base,
			     sizeof(base), NULL, &why);
	if (r < 0)
		return -EINVAL;
	size_t url_len = strlen(base) + 1; /* and '/' */
	call = calloc(1, sizeof(*call) + 2 * (url_len + 1));
	if (!call)
		return -ENOMEM;
	call->client = c;
	call->service = spec->service;
	snprintf(call->operation, sizeof(call->operation), "%s", spec->operation);
	call->url = call->text;
	call->host = call->text + url_len + 1;
	snprintf(call->url, url_len + 1, "%s/", base);
	snprintf(call->region, sizeof(call->region), "%s", region);
	if (endpoint_host(call->url, call->host, url_len + 1, NULL) < 0) {
		free(call);
		return -EINVAL;
	}
	if (spec->body) {
		call->body = malloc(spec->body_len);
		if (call->body)
			memcpy(call->body, spec->body, spec->body_len);
		call->body_len = spec->body_len;
	} else {
		call->body = spec->params ? cJSON_PrintUnformatted(spec->params) : strdup("{}");
		call->body_len = call->body ? strlen(call->body) : 0;
	}
	if (!call->body) {
		free(call);
		return -ENOMEM;
	}
	call->reader = spec->reader;
	call->reader_ud = spec->reader_ud;
	call->creds = spec->creds ? spec->creds : c->creds;
	call->timeout_ms = spec->timeout_ms > 0 ? spec->timeout_ms : c->timeout_ms;
	call->not_idempotent = spec->not_idempotent;
	call->done = done;
	call->userdata = userdata;
	clock_gettime(CLOCK_MONOTONIC, &call->started);
	ev_timer_init(&call->retry, on_retry, 0.0, 0.0);
	call->retry.data = call;
	call->next = c->calls;
	if (c->calls)
		c->calls->prev = call;
	c->calls = call;
	c->in_flight++;
	/* The first attempt starts from the loop, so done never runs inside aws_call(): within
	 * the loop's callbacks, as a pending event run in the same pass (no turn of the loop, no
	 * timer, per call: issue 19), else from a 0 s timer (fed before ev_run, it would wait for
	 * the first poll's other events). ev_timer_stop() clears either. */
	if (ev_depth(c->loop) > 0)
		ev_feed_event(c->loop, &call->retry, EV_TIMER);
	else
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

bool aws_operation_is_read(const struct aws_service *service, const char *op)
{
	static const char *const reads[] = { "Describe", "List", "Get", "BatchGet" };

	if (!service || !op)
		return false;
	if (service->id == AWS_SERVICE_DYNAMODB)
		return true;
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		size_t n = strlen(reads[i]);
		/* the verb, then a capital: "GetItem", not "Getaway" */
		if (!strncmp(op, reads[i], n) && op[n] >= 'A' && op[n] <= 'Z')
			return true;
	}
	return false;
}

void aws_client_set_gate(struct aws_client *c, bool (*may_mutate)(void *ud), void *ud)
{
	c->gate = may_mutate;
	c->gate_data = may_mutate ? ud : NULL;
}

/* Copies a reason code: printable ASCII, '?' for any other byte, cut to the bound. */
static void reason_copy(char *out, const char *s, size_t len)
{
	if (len >= AWS_REASON_MAX)
		len = AWS_REASON_MAX - 1;
	for (size_t i = 0; i < len; i++)
		out[i] = s[i] >= 32 && s[i] <= 126 ? s[i] : '?';
	out[len] = '\0';
}

int aws_cancellation_reasons(const cJSON *err_body, const char *message,
			     char (*codes)[AWS_REASON_MAX], size_t max)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(err_body, "CancellationReasons");
	const char *open, *close, *p;
	size_t n = 0;

	if (cJSON_IsArray(list)) {
		const cJSON *r;
		cJSON_ArrayForEach(r, list)
		{
			const char *code =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "Code"));
			if (!cJSON_IsObject(r))
				return -EPROTO;
			if (n == max)
				break;
			/* an entry without a Code is an action that was not the cause */
			reason_copy(codes[n++], code ? code : "None", code ? strlen(code) : 4);
		}
		return (int)n;
	}
	/* "... for specific reasons [ConditionalCheckFailed, None]": the last bracket list */
	if (!message || !(open = strrchr(message, '[')))
		return 0;
	close = strchr(open, ']');
	if (!close || close == open + 1)
		return -EPROTO;
	for (p = open + 1; p < close && n < max;) {
		size_t len;

		p += strspn(p, " ");
		len = strcspn(p, ",]");
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == 0)
			return -EPROTO;
		reason_copy(codes[n++], p, len);
		p += strcspn(p, ",]");
		if (*p == ',')
			p++;
	}
	return (int)n;
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

void aws_client_set_observer(struct aws_client *c, aws_observer_fn fn, void *userdata)
{
	c->observer = fn;
	c->observer_data = userdata;
}

int aws_retry_budget(const struct aws_client *c)
{
	return c->budget;
}

int aws_in_flight(const struct aws_client *c)
{
	return c->in_flight;
}

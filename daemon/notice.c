/* SPDX-License-Identifier: MIT */
/*
 * A notification and its wire forms (docs/notifications.md): the idempotency key, the webhook
 * body (version 1) and its signature, the Slack message, the EventBridge entry, and the outbox
 * entry with its reader. Pure: no I/O, no clock. Every string that leaves here is valid UTF-8
 * (invalid bytes become U+FFFD) and texts are cut at NOTICE_TEXT_MAX on a character boundary,
 * so what notice_entry() writes notice_entry_parse() always reads back.
 */
#include "notice.h"

#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "digest.h"
#include "escape.h"
#include "strbuf.h"

#define ENTRY_FORMAT  1
#define TIME_MAX      253402300799.999   /* 9999-12-31T23:59:59.999Z */
#define DURATION_MAX  9007199254740991LL /* 2^53 - 1: exact in a double */
#define SINK_NAME_MAX 64
#define ENTRY_MAX     (1 << 20) /* bytes of an entry: 21 texts of 2000 control characters fit */
#define CUT_MARK      "\xe2\x80\xa6" /* U+2026, marks a text that was cut */
#define REPLACEMENT   "\xef\xbf\xbd" /* U+FFFD, stands for a byte of invalid UTF-8 */

/* Slack's block kit limits (tests/data/slack/README.md) */
#define SLACK_HEADER_MAX   150
#define SLACK_SECTION_MAX  3000
#define SLACK_FIELD_MAX    2000
#define SLACK_CONTEXT_MAX  2000
#define SLACK_FALLBACK_MAX 3000

enum notice_severity notice_severity_of(enum notice_kind k)
{
	switch (k) {
	case NOTICE_STARTED:
	case NOTICE_COMPLETED:
		return SEVERITY_INFO;
	case NOTICE_AWAITING_APPROVAL:
	case NOTICE_ROLLED_BACK:
		return SEVERITY_WARNING;
	default:
		return SEVERITY_ERROR;
	}
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at u (len bytes left), 0 when it is not one. */
static size_t utf8_seq(const unsigned char *u, size_t len)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (u[0] < 0x80)
		return 1;
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		n = 2;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		n = 3;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (u[0] == 0xe0)
		lo = 0xa0;
	else if (u[0] == 0xed)
		hi = 0x9f;
	else if (u[0] == 0xf0)
		lo = 0x90;
	else if (u[0] == 0xf4)
		hi = 0x8f;
	if (len < n || u[1] < lo || u[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((u[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static bool utf8_valid(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), n;

	for (size_t i = 0; i < len; i += n)
		if (!(n = utf8_seq(u + i, len - i)))
			return false;
	return true;
}

/* The longest prefix of the valid UTF-8 text s that has at most max bytes and does not end
 * inside a character. */
static size_t utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/*
 * s as valid UTF-8 (each byte of an invalid sequence becomes U+FFFD) of at most max bytes (max
 * >= 4), cut on a character boundary and marked with U+2026 when it was longer. NULL gives NULL;
 * *ret_oom is set when memory ran out.
 */
static char *clean_text(const char *s, size_t max, bool *ret_oom)
{
	const unsigned char *u = (const unsigned char *)s;
	struct strbuf sb;
	size_t len, n, cut;
	char *r;

	if (!s)
		return NULL;
	len = strlen(s);
	strbuf_init(&sb, 3 * len + 8);
	for (size_t i = 0; i < len; i += n) {
		n = utf8_seq(u + i, len - i);
		if (n ? strbuf_append(&sb, s + i, n) : strbuf_puts(&sb, REPLACEMENT)) {
			strbuf_done(&sb);
			*ret_oom = true;
			return NULL;
		}
		if (!n)
			n = 1;
	}
	if (sb.len > max) {
		cut = utf8_prefix(strbuf_str(&sb), sb.len, max - strlen(CUT_MARK));
		sb.len = cut; /* shortening in place keeps the buffer valid */
		sb.buf[cut] = '\0';
		if (strbuf_puts(&sb, CUT_MARK)) {
			strbuf_done(&sb);
			*ret_oom = true;
			return NULL;
		}
	}
	r = strbuf_steal(&sb);
	if (!r)
		*ret_oom = true;
	return r;
}

/* ---- the key, the lifecycle, the filter ---- */

void notice_make_key(struct notice *n, const char *identity, const char *sub)
{
	const char *kind = notice_kind_name(n->kind);
	uint8_t md[CRYPTO_SHA256_LEN];
	char hex[CRYPTO_SHA256_HEX], small[1024], *text = small;
	int len;

	identity = identity ? identity : "";
	kind = kind ? kind : "";
	sub = sub ? sub : "";
	/* a rollout's identity fits the stack buffer; a longer one takes the heap */
	len = snprintf(small, sizeof(small), "v1\n%s\n%s\n%s", identity, kind, sub);
	if (len >= (int)sizeof(small) && (text = malloc((size_t)len + 1)))
		snprintf(text, (size_t)len + 1, "v1\n%s\n%s\n%s", identity, kind, sub);
	if (len < 0 || !text || crypto_sha256(text, (size_t)len, md)) {
		/* only without memory or libcrypto: a key the same inputs still give, made
		 * without either (FNV-1a), so that a repeat still carries one key */
		uint64_t h = 1469598103934665603ULL;
		const char *parts[] = { identity, kind, sub };
		for (size_t p = 0; p < 3; p++) {
			for (const char *c = parts[p]; *c; c++)
				h = (h ^ (unsigned char)*c) * 1099511628211ULL;
			h = (h ^ '\n') * 1099511628211ULL;
		}
		for (size_t i = 0; i < sizeof(md); i++)
			md[i] = (uint8_t)(h >> (8 * (i % 8)));
	}
	if (text != small)
		free(text);
	crypto_hex(md, CRYPTO_SHA256_LEN, hex);
	memcpy(n->key, hex, NOTICE_KEY_LEN);
	n->key[NOTICE_KEY_LEN] = '\0';
}

/* The string fields of struct notice, each owned by it. */
static const size_t notice_strings[] = {
	offsetof(struct notice, host),
	offsetof(struct notice, watch),
	offsetof(struct notice, repository),
	offsetof(struct notice, tag),
	offsetof(struct notice, digest),
	offsetof(struct notice, previous_digest),
	offsetof(struct notice, target),
	offsetof(struct notice, cluster),
	offsetof(struct notice, service),
	offsetof(struct notice, region),
	offsetof(struct notice, task_definition),
	offsetof(struct notice, previous_task_definition),
	offsetof(struct notice, deployment_id),
	offsetof(struct notice, strategy),
	offsetof(struct notice, reason),
	offsetof(struct notice, summary),
};
#define N_STRINGS (sizeof(notice_strings) / sizeof(notice_strings[0]))

static char **string_at(struct notice *n, size_t i)
{
	return (char **)((char *)n + notice_strings[i]);
}

void notice_done(struct notice *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < N_STRINGS; i++)
		free(*string_at(n, i));
	for (size_t i = 0; i < n->n_messages && i < NOTICE_MESSAGES_MAX; i++)
		free(n->messages[i]);
	memset(n, 0, sizeof(*n));
}

static int dup_or_null(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

int notice_copy(struct notice *ret, const struct notice *n)
{
	struct notice copy = *n; /* the source's pointers, read through string_at() */
	int r = 0;

	*ret = *n;
	for (size_t i = 0; i < N_STRINGS; i++)
		r |= dup_or_null(string_at(ret, i), *string_at(&copy, i));
	ret->n_messages = n->n_messages < NOTICE_MESSAGES_MAX ? n->n_messages : NOTICE_MESSAGES_MAX;
	for (size_t i = 0; i < NOTICE_MESSAGES_MAX; i++)
		ret->messages[i] = NULL;
	for (size_t i = 0; i < ret->n_messages; i++)
		r |= dup_or_null(&ret->messages[i], n->messages[i]);
	if (r) {
		notice_done(ret);
		return -ENOMEM;
	}
	return 0;
}

static bool service_matches(const char *want, const struct notice *n)
{
	const char *slash = strchr(want, '/');
	size_t clen;

	if (!n->service)
		return false;
	if (!slash)
		return !strcmp(want, n->service);
	clen = (size_t)(slash - want);
	return n->cluster && strlen(n->cluster) == clen && !strncmp(want, n->cluster, clen) &&
	       !strcmp(slash + 1, n->service);
}

bool notice_matches(const struct config_sink *s, const struct notice *n)
{
	bool ok;

	if ((size_t)n->kind >= NOTICE_KIND_COUNT || !(s->kinds & (1u << n->kind)))
		return false;
	if (notice_severity_of(n->kind) < s->min_severity)
		return false;
	if (s->n_watches) {
		ok = false;
		for (size_t i = 0; i < s->n_watches && !ok; i++)
			ok = n->watch && !strcmp(s->watches[i], n->watch);
		if (!ok)
			return false;
	}
	if (s->n_services) {
		ok = false;
		for (size_t i = 0; i < s->n_services && !ok; i++)
			ok = service_matches(s->services[i], n);
		if (!ok)
			return false;
	}
	return true;
}

/* ---- the body ---- */

/* "2026-12-01T10:00:00.123Z" for t (clamped to 0..TIME_MAX) into out (>= 25 bytes). */
static void format_time(double t, char *out, size_t n)
{
	long long ms;
	time_t secs;
	struct tm tm;
	char day[24];

	if (!isfinite(t) || t < 0)
		t = 0;
	if (t > TIME_MAX)
		t = TIME_MAX;
	ms = (long long)(t * 1000.0 + 0.5); /* t >= 0 here */
	secs = (time_t)(ms / 1000);
	if (!gmtime_r(&secs, &tm) || !strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm))
		day[0] = '\0';
	snprintf(out, n, "%s.%03lldZ", day, ms % 1000);
}

static int add_text(cJSON *o, const char *name, const char *s, bool *oom)
{
	char *c = clean_text(s, NOTICE_TEXT_MAX, oom);
	cJSON *v;

	if (*oom)
		return -ENOMEM;
	v = c ? cJSON_CreateString(c) : cJSON_CreateNull();
	free(c);
	if (!v || !cJSON_AddItemToObject(o, name, v)) {
		cJSON_Delete(v);
		*oom = true;
		return -ENOMEM;
	}
	return 0;
}

/* The body as a cJSON object, or NULL without memory. */
static cJSON *body_object(const struct notice *n)
{
	const char *kind = notice_kind_name(n->kind);
	cJSON *o = cJSON_CreateObject(), *msgs;
	char when[40];
	bool oom = false;

	if (!o)
		return NULL;
	format_time(n->time, when, sizeof(when));
	if (!cJSON_AddNumberToObject(o, "version", NOTICE_VERSION) ||
	    !cJSON_AddStringToObject(o, "id", n->key) ||
	    !(kind ? cJSON_AddStringToObject(o, "kind", kind) : cJSON_AddNullToObject(o, "kind")) ||
	    !cJSON_AddStringToObject(o, "severity",
				     notice_severity_name(notice_severity_of(n->kind))) ||
	    !cJSON_AddStringToObject(o, "time", when))
		goto fail;
	add_text(o, "host", n->host, &oom);
	add_text(o, "watch", n->watch, &oom);
	add_text(o, "repository", n->repository, &oom);
	add_text(o, "tag", n->tag, &oom);
	/* a digest that is not one is not known */
	add_text(o, "digest", digest_valid(n->digest) ? n->digest : NULL, &oom);
	add_text(o, "previous_digest", digest_valid(n->previous_digest) ? n->previous_digest : NULL,
		 &oom);
	add_text(o, "target", n->target, &oom);
	add_text(o, "cluster", n->cluster, &oom);
	add_text(o, "service", n->service, &oom);
	add_text(o, "region", n->region, &oom);
	add_text(o, "task_definition", n->task_definition, &oom);
	add_text(o, "previous_task_definition", n->previous_task_definition, &oom);
	add_text(o, "deployment_id", n->deployment_id, &oom);
	add_text(o, "strategy", n->strategy, &oom);
	if (oom)
		goto fail;
	if (n->duration_ms >= 0 && n->duration_ms <= DURATION_MAX) {
		if (!cJSON_AddNumberToObject(o, "duration_ms", (double)n->duration_ms))
			goto fail;
	} else if (!cJSON_AddNullToObject(o, "duration_ms")) {
		goto fail;
	}
	add_text(o, "reason", n->reason, &oom);
	add_text(o, "summary", n->summary, &oom);
	if (oom || !(msgs = cJSON_AddArrayToObject(o, "messages")))
		goto fail;
	for (size_t i = 0; i < n->n_messages && i < NOTICE_MESSAGES_MAX; i++) {
		char *c;
		cJSON *v;
		if (!n->messages[i])
			continue;
		c = clean_text(n->messages[i], NOTICE_TEXT_MAX, &oom);
		v = c ? cJSON_CreateString(c) : NULL;
		free(c);
		if (!v || !cJSON_AddItemToArray(msgs, v)) {
			cJSON_Delete(v);
			goto fail;
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

char *notice_body(const struct notice *n)
{
	cJSON *o = body_object(n);
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;

	cJSON_Delete(o);
	return s;
}

int notice_sign(const unsigned char *secret, size_t secret_len, long long ts, const char *body,
		size_t body_len, char *out, size_t n)
{
	uint8_t mac[CRYPTO_SHA256_LEN];
	char hex[CRYPTO_SHA256_HEX];
	struct strbuf sb;
	int r, w;

	/* the signed bytes hold the body only: no secret, so a plain buffer */
	strbuf_init(&sb, body_len + 32);
	r = strbuf_printf(&sb, "%lld.", ts);
	if (!r)
		r = strbuf_append(&sb, body, body_len);
	if (!r)
		r = crypto_hmac_sha256(secret, secret_len, sb.buf, sb.len, mac);
	strbuf_done(&sb);
	if (r)
		return r == -ENOBUFS ? -ENOMEM : r;
	crypto_hex(mac, sizeof(mac), hex);
	crypto_wipe(mac, sizeof(mac));
	w = snprintf(out, n, "t=%lld,v1=%s", ts, hex);
	if (w < 0 || (size_t)w >= n) {
		if (n)
			out[0] = '\0';
		return -ENOBUFS;
	}
	return 0;
}

/* ---- Slack ---- */

static const char *slack_title(enum notice_kind k)
{
	switch (k) {
	case NOTICE_STARTED:
		return "Deploy started";
	case NOTICE_COMPLETED:
		return "Deployed";
	case NOTICE_FAILED:
		return "Deploy failed";
	case NOTICE_ROLLED_BACK:
		return "Rolled back";
	case NOTICE_ROLLBACK_FAILED:
		return "Rollback failed";
	case NOTICE_AWAITING_APPROVAL:
		return "Awaiting approval";
	case NOTICE_BLOCKED:
		return "Deploy blocked";
	case NOTICE_WATCH_FAILING:
		return "Watch failing";
	default:
		return "Notice";
	}
}

static const char *slack_result(enum notice_kind k)
{
	switch (k) {
	case NOTICE_STARTED:
		return "started";
	case NOTICE_COMPLETED:
		return "completed";
	case NOTICE_FAILED:
		return "failed";
	case NOTICE_ROLLED_BACK:
		return "rolled back";
	case NOTICE_ROLLBACK_FAILED:
		return "rollback failed";
	case NOTICE_AWAITING_APPROVAL:
		return "awaiting approval";
	case NOTICE_BLOCKED:
		return "blocked";
	case NOTICE_WATCH_FAILING:
		return "failing";
	default:
		return "unknown";
	}
}

static const char *slack_color(enum notice_kind k)
{
	switch (k) {
	case NOTICE_COMPLETED:
		return "#2eb67d";
	case NOTICE_STARTED:
	case NOTICE_ROLLED_BACK:
	case NOTICE_AWAITING_APPROVAL:
		return "#ecb22e";
	default:
		return "#e01e5a";
	}
}

/* Appends s (cleaned) to sb with &, <, > as Slack's entities. */
static int mrkdwn_append(struct strbuf *sb, const char *s)
{
	bool oom = false;
	char *c = clean_text(s, (size_t)-1 / 4, &oom);
	int r = 0;

	if (oom)
		return -ENOMEM;
	for (const char *p = c ? c : ""; *p && !r; p++) {
		if (*p == '&')
			r = strbuf_puts(sb, "&amp;");
		else if (*p == '<')
			r = strbuf_puts(sb, "&lt;");
		else if (*p == '>')
			r = strbuf_puts(sb, "&gt;");
		else
			r = strbuf_putc(sb, *p);
	}
	free(c);
	return r;
}

/* Cuts sb's escaped text to at most max bytes, on a character boundary and never inside an
 * entity, marking the cut. */
static void slack_cut(struct strbuf *sb, size_t max)
{
	size_t cut, amp;

	if (sb->len <= max)
		return;
	cut = utf8_prefix(sb->buf, sb->len, max - strlen(CUT_MARK));
	for (amp = cut; amp > 0 && cut - amp < 5; amp--)
		if (sb->buf[amp - 1] == ';')
			break;
		else if (sb->buf[amp - 1] == '&') {
			cut = amp - 1;
			break;
		}
	sb->len = cut;
	sb->buf[cut] = '\0';
	strbuf_puts(sb, CUT_MARK); /* fits: it replaces at least as many bytes */
}

/* A text object {"type": type, "text": the escaped text of sb, cut at max}. */
static cJSON *slack_text(const char *type, struct strbuf *sb, size_t max)
{
	cJSON *t = cJSON_CreateObject();

	slack_cut(sb, max);
	if (!t || !cJSON_AddStringToObject(t, "type", type) ||
	    !cJSON_AddStringToObject(t, "text", strbuf_str(sb))) {
		cJSON_Delete(t);
		return NULL;
	}
	if (!strcmp(type, "plain_text") && !cJSON_AddBoolToObject(t, "emoji", true)) {
		cJSON_Delete(t);
		return NULL;
	}
	return t;
}

/* Line breaks become spaces (a header, the fallback). */
static void one_line(struct strbuf *sb)
{
	for (size_t i = 0; i < sb->len; i++)
		if (sb->buf[i] == '\n' || sb->buf[i] == '\r')
			sb->buf[i] = ' ';
}

static void short_digest(const char *digest, char out[20])
{
	if (digest_valid(digest))
		snprintf(out, 20, "%.19s", digest);
	else
		out[0] = '\0';
}

static void format_duration(long long ms, char *out, size_t n)
{
	long long s = (ms + 500) / 1000;

	if (s < 60)
		snprintf(out, n, "%llds", s);
	else if (s < 3600)
		snprintf(out, n, "%lldm %02llds", s / 60, s % 60);
	else
		snprintf(out, n, "%lldh %02lldm", s / 3600, (s % 3600) / 60);
}

/* What the message is about: "cluster/service", else the watch's repository. */
static int slack_subject(struct strbuf *sb, const struct notice *n)
{
	int r = 0;

	if (n->service) {
		if (n->cluster) {
			r = mrkdwn_append(sb, n->cluster);
			if (!r)
				r = strbuf_putc(sb, '/');
		}
		return r ? r : mrkdwn_append(sb, n->service);
	}
	if (n->repository)
		return mrkdwn_append(sb, n->repository);
	return mrkdwn_append(sb, n->watch ? n->watch : "ecr-deployd");
}

static int slack_image(struct strbuf *sb, const struct notice *n)
{
	char sd[20];
	int r = 0;

	short_digest(n->digest, sd);
	if (n->repository)
		r = mrkdwn_append(sb, n->repository);
	if (!r && n->tag) {
		r = strbuf_putc(sb, ':');
		if (!r)
			r = mrkdwn_append(sb, n->tag);
	}
	if (!r && *sd)
		r = strbuf_printf(sb, "%s`%s`", sb->len ? " " : "", sd);
	if (!r && !sb->len)
		r = strbuf_puts(sb, "unknown");
	return r;
}

static bool add_block(cJSON *blocks, cJSON *b)
{
	if (!b || !cJSON_AddItemToArray(blocks, b)) {
		cJSON_Delete(b);
		return false;
	}
	return true;
}

/* A field "*label*\nvalue" (value already escaped in val). */
static bool add_field(cJSON *fields, const char *label, const char *val)
{
	struct strbuf sb;
	cJSON *t;

	strbuf_init(&sb, 1 << 20);
	if (strbuf_printf(&sb, "*%s*\n%s", label, val)) {
		strbuf_done(&sb);
		return false;
	}
	t = slack_text("mrkdwn", &sb, SLACK_FIELD_MAX);
	strbuf_done(&sb);
	return add_block(fields, t);
}

static cJSON *slack_section(struct strbuf *sb)
{
	cJSON *b = cJSON_CreateObject(), *t;

	if (!b || !cJSON_AddStringToObject(b, "type", "section"))
		goto fail;
	t = slack_text("mrkdwn", sb, SLACK_SECTION_MAX);
	if (!t || !cJSON_AddItemToObject(b, "text", t)) {
		cJSON_Delete(t);
		goto fail;
	}
	return b;
fail:
	cJSON_Delete(b);
	return NULL;
}

static bool slack_blocks(cJSON *blocks, const struct notice *n)
{
	struct strbuf sb;
	cJSON *b, *t, *fields, *els;
	char dur[40];
	bool ok = false;

	strbuf_init(&sb, 1 << 20);
	/* header: the title and the subject */
	if (strbuf_printf(&sb, "%s: ", slack_title(n->kind)) || slack_subject(&sb, n))
		goto out;
	one_line(&sb);
	b = cJSON_CreateObject();
	t = slack_text("plain_text", &sb, SLACK_HEADER_MAX);
	if (!b || !t || !cJSON_AddStringToObject(b, "type", "header") ||
	    !cJSON_AddItemToObject(b, "text", t)) {
		cJSON_Delete(t);
		cJSON_Delete(b);
		goto out;
	}
	if (!add_block(blocks, b))
		goto out;

	/* the fields: service, image, result, duration */
	b = cJSON_CreateObject();
	if (!add_block(blocks, b) || !cJSON_AddStringToObject(b, "type", "section") ||
	    !(fields = cJSON_AddArrayToObject(b, "fields")))
		goto out;
	strbuf_reset(&sb);
	if (slack_subject(&sb, n) ||
	    !add_field(fields, n->service ? "Service" : "Repository", strbuf_str(&sb)))
		goto out;
	strbuf_reset(&sb);
	if (n->kind != NOTICE_WATCH_FAILING || n->digest) {
		if (slack_image(&sb, n) || !add_field(fields, "Image", strbuf_str(&sb)))
			goto out;
	}
	if (!add_field(fields, "Result", slack_result(n->kind)))
		goto out;
	if (n->duration_ms >= 0 && n->duration_ms <= DURATION_MAX) {
		format_duration(n->duration_ms, dur, sizeof(dur));
		if (!add_field(fields, "Duration", dur))
			goto out;
	}

	/* the reason */
	if (n->reason) {
		strbuf_reset(&sb);
		if (strbuf_puts(&sb, "*Reason*\n") || mrkdwn_append(&sb, n->reason) ||
		    !add_block(blocks, slack_section(&sb)))
			goto out;
	}
	/* the last messages, each a quoted line */
	if (n->n_messages) {
		strbuf_reset(&sb);
		if (strbuf_puts(&sb, "*Last messages*"))
			goto out;
		for (size_t i = 0; i < n->n_messages && i < NOTICE_MESSAGES_MAX; i++) {
			bool oom = false;
			char *c = clean_text(n->messages[i], 300, &oom);
			if (oom)
				goto out;
			if (!c)
				continue;
			/* a message is one quoted line: its own newlines become spaces */
			for (char *p = c; *p; p++)
				if (*p == '\n' || *p == '\r')
					*p = ' ';
			if (strbuf_puts(&sb, "\n&gt; ") || mrkdwn_append(&sb, c)) {
				free(c);
				goto out;
			}
			free(c);
		}
		if (!add_block(blocks, slack_section(&sb)))
			goto out;
	}

	/* context: host, watch, deployment, time of the notice's key */
	b = cJSON_CreateObject();
	if (!add_block(blocks, b) || !cJSON_AddStringToObject(b, "type", "context") ||
	    !(els = cJSON_AddArrayToObject(b, "elements")))
		goto out;
	{
		const char *labels[] = { "host", "watch", "deployment", "strategy" };
		const char *vals[] = { n->host, n->watch, n->deployment_id, n->strategy };
		for (size_t i = 0; i < 4; i++) {
			if (!vals[i])
				continue;
			strbuf_reset(&sb);
			if (strbuf_printf(&sb, "%s: ", labels[i]) || mrkdwn_append(&sb, vals[i]) ||
			    !add_block(els, slack_text("mrkdwn", &sb, SLACK_CONTEXT_MAX)))
				goto out;
		}
		strbuf_reset(&sb);
		if (strbuf_printf(&sb, "id: %s", n->key) ||
		    !add_block(els, slack_text("mrkdwn", &sb, SLACK_CONTEXT_MAX)))
			goto out;
	}
	ok = true;
out:
	strbuf_done(&sb);
	return ok;
}

char *notice_slack(const struct notice *n)
{
	cJSON *o = cJSON_CreateObject(), *atts, *att, *blocks;
	struct strbuf sb;
	char sd[20], *s = NULL;
	int r;

	strbuf_init(&sb, 1 << 20);
	if (!o)
		goto out;
	/* the fallback: notifications and clients without blocks show it */
	short_digest(n->digest, sd);
	r = strbuf_printf(&sb, "%s: ", slack_title(n->kind));
	if (!r)
		r = slack_subject(&sb, n);
	if (!r && n->tag) {
		r = strbuf_putc(&sb, ' ');
		if (!r)
			r = mrkdwn_append(&sb, n->tag);
	}
	if (!r && *sd)
		r = strbuf_printf(&sb, " (%s)", sd);
	if (!r && n->reason) {
		r = strbuf_puts(&sb, ": ");
		if (!r)
			r = mrkdwn_append(&sb, n->reason);
	}
	if (r)
		goto out;
	slack_cut(&sb, SLACK_FALLBACK_MAX);
	one_line(&sb);
	if (!cJSON_AddStringToObject(o, "text", strbuf_str(&sb)) ||
	    !(atts = cJSON_AddArrayToObject(o, "attachments")) || !(att = cJSON_CreateObject()))
		goto out;
	if (!cJSON_AddItemToArray(atts, att)) {
		cJSON_Delete(att);
		goto out;
	}
	if (!cJSON_AddStringToObject(att, "color", slack_color(n->kind)) ||
	    !(blocks = cJSON_AddArrayToObject(att, "blocks")) || !slack_blocks(blocks, n))
		goto out;
	s = cJSON_PrintUnformatted(o);
out:
	strbuf_done(&sb);
	cJSON_Delete(o);
	return s;
}

/* ---- EventBridge ---- */

const char *notice_detail_type(enum notice_kind k)
{
	switch (k) {
	case NOTICE_STARTED:
		return "Deploy Started";
	case NOTICE_COMPLETED:
		return "Deploy Completed";
	case NOTICE_FAILED:
		return "Deploy Failed";
	case NOTICE_ROLLED_BACK:
		return "Deploy Rolled Back";
	case NOTICE_ROLLBACK_FAILED:
		return "Rollback Failed";
	case NOTICE_AWAITING_APPROVAL:
		return "Deploy Awaiting Approval";
	case NOTICE_BLOCKED:
		return "Deploy Blocked";
	case NOTICE_WATCH_FAILING:
		return "Watch Failing";
	default:
		return NULL;
	}
}

cJSON *notice_eventbridge(const struct notice *n, const char *bus)
{
	const char *dt = notice_detail_type(n->kind);
	cJSON *p = cJSON_CreateObject(), *entries, *e = NULL;
	char *body = notice_body(n);
	double t = isfinite(n->time) && n->time > 0 ? (double)(long long)n->time : 0;

	if (!p || !body || !dt || !(entries = cJSON_AddArrayToObject(p, "Entries")) ||
	    !(e = cJSON_CreateObject()))
		goto fail;
	if (!cJSON_AddItemToArray(entries, e)) {
		cJSON_Delete(e);
		goto fail;
	}
	if (!cJSON_AddStringToObject(e, "Source", "ecr-deployd") ||
	    !cJSON_AddStringToObject(e, "DetailType", dt) ||
	    !cJSON_AddStringToObject(e, "Detail", body) ||
	    !cJSON_AddStringToObject(e, "EventBusName", bus ? bus : "default") ||
	    !cJSON_AddNumberToObject(e, "Time", t > TIME_MAX ? 253402300799.0 : t))
		goto fail;
	free(body);
	return p;
fail:
	free(body);
	cJSON_Delete(p);
	return NULL;
}

/* ---- the outbox entry ---- */

char *notice_entry(const struct notice *n, const char *sink, double created)
{
	cJSON *o = cJSON_CreateObject(), *body = NULL;
	char *s = NULL;

	if (!o || !cJSON_AddNumberToObject(o, "format", ENTRY_FORMAT) ||
	    !cJSON_AddStringToObject(o, "sink", sink ? sink : "") ||
	    !cJSON_AddNumberToObject(o, "created", isfinite(created) ? created : 0) ||
	    !(body = body_object(n)))
		goto out;
	if (!cJSON_AddItemToObject(o, "notice", body)) {
		cJSON_Delete(body);
		goto out;
	}
	s = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return s;
}

/* why = "<field>: <what> '<value escaped>'" */
static int refuse(char *why, size_t why_len, const char *field, const char *what, const char *value)
{
	char esc[96];

	if (value) {
		escape_bounded(value, 64, esc, sizeof(esc), ESCAPE_SQUOTE | ESCAPE_BACKSLASH);
		snprintf(why, why_len, "%s: %s '%s'", field, what, esc);
	} else {
		snprintf(why, why_len, "%s: %s", field, what);
	}
	return -EINVAL;
}

/* Whether the JSON text holds a NUL: raw, or escaped as \u0000 in a string (cJSON would cut
 * the string there, silently). */
static bool json_has_nul(const char *text, size_t len)
{
	bool in_string = false;

	if (memchr(text, '\0', len))
		return true;
	for (size_t i = 0; i < len; i++) {
		if (!in_string) {
			in_string = text[i] == '"';
		} else if (text[i] == '"') {
			in_string = false;
		} else if (text[i] == '\\' && i + 1 < len) {
			if (text[i + 1] == 'u' && i + 6 <= len && !memcmp(text + i + 2, "0000", 4))
				return true;
			i++;
		}
	}
	return false;
}

/* A string field: absent or null gives NULL (when nullable), else a copy. */
static int take_string(const cJSON *o, const char *name, bool nullable, char **ret, char *why,
		       size_t why_len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	char field[64];

	snprintf(field, sizeof(field), "notice.%s", name);
	*ret = NULL;
	if (!v || cJSON_IsNull(v))
		return nullable ? 0 : refuse(why, why_len, field, "missing", NULL);
	if (!cJSON_IsString(v) || !v->valuestring)
		return refuse(why, why_len, field, "not a string", NULL);
	if (!utf8_valid(v->valuestring))
		return refuse(why, why_len, field, "not valid UTF-8", v->valuestring);
	if (strlen(v->valuestring) > NOTICE_TEXT_MAX)
		return refuse(why, why_len, field, "longer than 2000 bytes", v->valuestring);
	*ret = strdup(v->valuestring);
	return *ret ? 0 : -ENOMEM;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ", exactly as format_time() writes it. */
static bool parse_time(const char *s, double *ret)
{
	struct tm tm = { 0 };
	char again[40];
	time_t secs;
	int ms;

	if (strlen(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != '.' || s[23] != 'Z')
		return false;
	for (size_t i = 0; i < 23; i++)
		if ((i == 4 || i == 7 || i == 10 || i == 13 || i == 16 || i == 19)
			? false
			: (s[i] < '0' || s[i] > '9'))
			return false;
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	tm.tm_hour = atoi(s + 11);
	tm.tm_min = atoi(s + 14);
	tm.tm_sec = atoi(s + 17);
	ms = atoi(s + 20);
	secs = timegm(&tm);
	if (secs < 0)
		return false;
	*ret = (double)secs + ms / 1000.0;
	format_time(*ret, again, sizeof(again));
	return !strcmp(again, s); /* no 31 February, no 61st second */
}

static int parse_body(const cJSON *b, struct notice *n, char *why, size_t why_len)
{
	const cJSON *v;
	int r, k;

	if (!cJSON_IsObject(b))
		return refuse(why, why_len, "notice", "not an object", NULL);
	v = cJSON_GetObjectItemCaseSensitive(b, "version");
	if (!cJSON_IsNumber(v) || v->valuedouble != NOTICE_VERSION)
		return refuse(why, why_len, "notice.version",
			      cJSON_IsNumber(v) ? "not 1" : "missing", NULL);

	v = cJSON_GetObjectItemCaseSensitive(b, "kind");
	if (!cJSON_IsString(v) || !v->valuestring)
		return refuse(why, why_len, "notice.kind", "missing", NULL);
	if ((k = notice_kind_from_name(v->valuestring)) < 0)
		return refuse(why, why_len, "notice.kind", "unknown kind", v->valuestring);
	n->kind = (enum notice_kind)k;

	v = cJSON_GetObjectItemCaseSensitive(b, "id");
	if (!cJSON_IsString(v) || !v->valuestring)
		return refuse(why, why_len, "notice.id", "missing", NULL);
	if (strlen(v->valuestring) != NOTICE_KEY_LEN ||
	    strspn(v->valuestring, "0123456789abcdef") != NOTICE_KEY_LEN)
		return refuse(why, why_len, "notice.id", "not 32 lowercase hex digits",
			      v->valuestring);
	memcpy(n->key, v->valuestring, NOTICE_KEY_LEN + 1);

	/* derived from the kind; checked to be a name, not trusted */
	v = cJSON_GetObjectItemCaseSensitive(b, "severity");
	if (!cJSON_IsString(v) || !v->valuestring)
		return refuse(why, why_len, "notice.severity", "missing", NULL);
	if (strcmp(v->valuestring, "info") && strcmp(v->valuestring, "warning") &&
	    strcmp(v->valuestring, "error"))
		return refuse(why, why_len, "notice.severity", "unknown severity", v->valuestring);

	v = cJSON_GetObjectItemCaseSensitive(b, "time");
	if (!cJSON_IsString(v) || !v->valuestring)
		return refuse(why, why_len, "notice.time", "missing", NULL);
	if (!parse_time(v->valuestring, &n->time))
		return refuse(why, why_len, "notice.time", "not a UTC time with milliseconds",
			      v->valuestring);

#define TAKE(f, nullable)                                                \
	if ((r = take_string(b, #f, nullable, &n->f, why, why_len)) < 0) \
		return r;
	TAKE(host, false)
	TAKE(watch, true)
	TAKE(repository, true)
	TAKE(tag, true)
	TAKE(digest, true)
	TAKE(previous_digest, true)
	TAKE(target, true)
	TAKE(cluster, true)
	TAKE(service, true)
	TAKE(region, true)
	TAKE(task_definition, true)
	TAKE(previous_task_definition, true)
	TAKE(deployment_id, true)
	TAKE(strategy, true)
	TAKE(reason, true)
	TAKE(summary, true)
#undef TAKE
	if (n->digest && !digest_valid(n->digest))
		return refuse(why, why_len, "notice.digest", "not a digest", n->digest);
	if (n->previous_digest && !digest_valid(n->previous_digest))
		return refuse(why, why_len, "notice.previous_digest", "not a digest",
			      n->previous_digest);

	v = cJSON_GetObjectItemCaseSensitive(b, "duration_ms");
	n->duration_ms = -1;
	if (v && !cJSON_IsNull(v)) {
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
		    v->valuedouble > (double)DURATION_MAX ||
		    v->valuedouble != (double)(long long)v->valuedouble) {
			char num[40];
			if (cJSON_IsNumber(v))
				snprintf(num, sizeof(num), "%g", v->valuedouble);
			return refuse(why, why_len, "notice.duration_ms",
				      "not a whole number of milliseconds",
				      cJSON_IsNumber(v) ? num : NULL);
		}
		n->duration_ms = (long long)v->valuedouble;
	}

	v = cJSON_GetObjectItemCaseSensitive(b, "messages");
	if (v && !cJSON_IsNull(v)) {
		const cJSON *m;
		size_t i = 0;
		if (!cJSON_IsArray(v))
			return refuse(why, why_len, "notice.messages", "not an array", NULL);
		if (cJSON_GetArraySize(v) > NOTICE_MESSAGES_MAX)
			return refuse(why, why_len, "notice.messages", "more than 5", NULL);
		cJSON_ArrayForEach(m, v)
		{
			char field[40];
			snprintf(field, sizeof(field), "notice.messages[%zu]", i);
			if (!cJSON_IsString(m) || !m->valuestring)
				return refuse(why, why_len, field, "not a string", NULL);
			if (!utf8_valid(m->valuestring))
				return refuse(why, why_len, field, "not valid UTF-8",
					      m->valuestring);
			if (strlen(m->valuestring) > NOTICE_TEXT_MAX)
				return refuse(why, why_len, field, "longer than 2000 bytes",
					      m->valuestring);
			if (!(n->messages[i] = strdup(m->valuestring)))
				return -ENOMEM;
			n->n_messages = ++i;
		}
	}
	return 0;
}

static bool sink_name_valid(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= SINK_NAME_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
		   len;
}

int notice_entry_parse(const char *text, size_t len, struct notice *ret, double *created,
		       char *sink, size_t sink_len, char *why, size_t why_len)
{
	struct notice n = { 0 };
	cJSON *o = NULL;
	const cJSON *v, *c;
	const char *end = NULL, *name;
	char dummy[8];
	int r;

	if (!why || !why_len) {
		why = dummy;
		why_len = sizeof(dummy);
	}
	why[0] = '\0';
	if (len > ENTRY_MAX)
		return refuse(why, why_len, "entry", "longer than 1 MiB", NULL);
	if (json_has_nul(text, len))
		return refuse(why, why_len, "entry", "holds a NUL character", NULL);
	o = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (o && end)
		while ((size_t)(end - text) < len && strchr(" \t\r\n", *end))
			end++;
	if (!o || !end || (size_t)(end - text) != len) {
		snprintf(why, why_len, "entry: not JSON (at byte %zu of %zu)",
			 end && end >= text ? (size_t)(end - text) : 0, len);
		r = -EINVAL;
		goto out;
	}
	if (!cJSON_IsObject(o)) {
		r = refuse(why, why_len, "entry", "not an object", NULL);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "format");
	if (!cJSON_IsNumber(v) || v->valuedouble != ENTRY_FORMAT) {
		r = refuse(why, why_len, "format", cJSON_IsNumber(v) ? "not 1" : "missing", NULL);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "sink");
	if (!cJSON_IsString(v) || !v->valuestring) {
		r = refuse(why, why_len, "sink", "missing", NULL);
		goto out;
	}
	name = v->valuestring;
	if (!sink_name_valid(name)) {
		r = refuse(why, why_len, "sink", "not a sink name", name);
		goto out;
	}
	if (strlen(name) >= sink_len) {
		r = refuse(why, why_len, "sink", "longer than the caller's buffer", name);
		goto out;
	}
	c = cJSON_GetObjectItemCaseSensitive(o, "created");
	if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble) || c->valuedouble < 0 ||
	    c->valuedouble > TIME_MAX) {
		char num[40];
		if (cJSON_IsNumber(c))
			snprintf(num, sizeof(num), "%g", c->valuedouble);
		r = refuse(why, why_len, "created", "not a time in seconds",
			   cJSON_IsNumber(c) ? num : NULL);
		goto out;
	}
	r = parse_body(cJSON_GetObjectItemCaseSensitive(o, "notice"), &n, why, why_len);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(why, why_len, "out of memory");
		goto out;
	}
	memcpy(sink, name, strlen(name) + 1);
	*created = c->valuedouble;
	*ret = n;
	memset(&n, 0, sizeof(n));
out:
	notice_done(&n);
	cJSON_Delete(o);
	return r;
}

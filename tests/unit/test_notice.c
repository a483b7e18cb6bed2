/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for daemon/notice.c: the idempotency key, the webhook body, its signature (against
 * a vector computed outside the program), the Slack payload, the EventBridge entry, and the
 * outbox entry with its reader, which refuses each malformed field by name.
 */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notice.h"
#include "unit.h"

#define D1    "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D0    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define IDENT "acct@eu-west-1/prod/web\n" D1 "\n1764583200000"

/* A completed rollout with every field known. */
static void sample(struct notice *n)
{
	memset(n, 0, sizeof(*n));
	n->kind = NOTICE_COMPLETED;
	n->time = 1764583200.123;
	n->host = strdup("deploy-1");
	n->watch = strdup("web");
	n->repository = strdup("team/web");
	n->tag = strdup("v1.2.3");
	n->digest = strdup(D1);
	n->previous_digest = strdup(D0);
	n->target = strdup("123456789012@eu-west-1/prod/web");
	n->cluster = strdup("prod");
	n->service = strdup("web");
	n->region = strdup("eu-west-1");
	n->task_definition = strdup("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:8");
	n->previous_task_definition =
	    strdup("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7");
	n->deployment_id = strdup("ecs-svc/1234567890123456789");
	n->strategy = strdup("revision");
	n->summary = strdup("deployed team/web:v1.2.3 to prod/web");
	n->duration_ms = 133000;
	n->messages[0] = strdup("(service web) has reached a steady state.");
	n->n_messages = 1;
	notice_make_key(n, IDENT, "");
}

TEST(notice_key_stable_and_distinct)
{
	struct notice a = { .kind = NOTICE_COMPLETED }, b = { .kind = NOTICE_COMPLETED };

	notice_make_key(&a, IDENT, "");
	notice_make_key(&b, IDENT, "");
	CHECK_STR(a.key, b.key);
	CHECK_INT(strlen(a.key), NOTICE_KEY_LEN);
	CHECK_INT(strspn(a.key, "0123456789abcdef"), NOTICE_KEY_LEN);
	/* python3: hashlib.sha256(b"v1\n" + identity + b"\ndeploy-completed\n").hexdigest()[:32] */
	CHECK_STR(a.key, "7d2b1aaad6fac32894182384bb448425");
	/* each input changes it: the identity, the kind, the sub */
	notice_make_key(&b, "acct@eu-west-1/prod/web\n" D1 "\n1764583200001", "");
	CHECK(strcmp(a.key, b.key) != 0);
	b.kind = NOTICE_FAILED;
	notice_make_key(&b, IDENT, "");
	CHECK(strcmp(a.key, b.key) != 0);
	b.kind = NOTICE_COMPLETED;
	notice_make_key(&b, IDENT, "hook-1");
	CHECK(strcmp(a.key, b.key) != 0);
	/* a long identity (past the stack buffer) is hashed whole: stable, and its end counts */
	{
		char *longid = malloc(3001);
		memset(longid, 'i', 3000);
		longid[3000] = '\0';
		notice_make_key(&a, longid, "");
		notice_make_key(&b, longid, "");
		CHECK_STR(a.key, b.key);
		longid[2999] = 'j';
		notice_make_key(&b, longid, "");
		CHECK(strcmp(a.key, b.key) != 0);
		free(longid);
	}
	/* the separators keep parts apart: moving a byte between identity and sub changes it */
	notice_make_key(&a, "ab", "c");
	notice_make_key(&b, "a", "bc");
	CHECK(strcmp(a.key, b.key) != 0);
}

TEST(notice_severity_and_detail_type)
{
	CHECK_INT(notice_severity_of(NOTICE_STARTED), SEVERITY_INFO);
	CHECK_INT(notice_severity_of(NOTICE_COMPLETED), SEVERITY_INFO);
	CHECK_INT(notice_severity_of(NOTICE_AWAITING_APPROVAL), SEVERITY_WARNING);
	CHECK_INT(notice_severity_of(NOTICE_ROLLED_BACK), SEVERITY_WARNING);
	CHECK_INT(notice_severity_of(NOTICE_FAILED), SEVERITY_ERROR);
	CHECK_INT(notice_severity_of(NOTICE_ROLLBACK_FAILED), SEVERITY_ERROR);
	CHECK_INT(notice_severity_of(NOTICE_BLOCKED), SEVERITY_ERROR);
	CHECK_INT(notice_severity_of(NOTICE_WATCH_FAILING), SEVERITY_ERROR);
	CHECK_STR(notice_detail_type(NOTICE_COMPLETED), "Deploy Completed");
	CHECK_STR(notice_detail_type(NOTICE_WATCH_FAILING), "Watch Failing");
	CHECK_STR(notice_detail_type(NOTICE_AWAITING_APPROVAL), "Deploy Awaiting Approval");
	for (int k = 0; k < NOTICE_KIND_COUNT; k++)
		CHECK(notice_detail_type((enum notice_kind)k) != NULL);
	CHECK(notice_detail_type(NOTICE_KIND_COUNT) == NULL);
}

static const char *const body_keys[] = {
	"version",
	"id",
	"kind",
	"severity",
	"time",
	"host",
	"watch",
	"repository",
	"tag",
	"digest",
	"previous_digest",
	"target",
	"cluster",
	"service",
	"region",
	"task_definition",
	"previous_task_definition",
	"deployment_id",
	"strategy",
	"duration_ms",
	"reason",
	"summary",
	"messages",
};

TEST(notice_body_every_key)
{
	struct notice n;
	char *s;
	cJSON *o;

	sample(&n);
	s = notice_body(&n);
	CHECK(s != NULL);
	o = cJSON_Parse(s);
	CHECK(o != NULL);
	CHECK_INT(cJSON_GetArraySize(o), sizeof(body_keys) / sizeof(body_keys[0]));
	for (size_t i = 0; i < sizeof(body_keys) / sizeof(body_keys[0]); i++)
		CHECK(cJSON_HasObjectItem(o, body_keys[i]));
	CHECK_INT(cJSON_GetObjectItem(o, "version")->valuedouble, 1);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")), n.key);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind")), "deploy-completed");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "severity")), "info");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "time")), "2025-12-01T10:00:00.123Z");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "digest")), D1);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "previous_digest")), D0);
	CHECK_INT(cJSON_GetObjectItem(o, "duration_ms")->valuedouble, 133000);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "reason")));
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "messages")), 1);
	cJSON_Delete(o);
	free(s);
	notice_done(&n);
	CHECK(n.host == NULL && n.n_messages == 0);
}

TEST(notice_body_nulls_when_unknown)
{
	struct notice n = { .kind = NOTICE_WATCH_FAILING, .time = 0, .duration_ms = -1 };
	const char *nullable[] = { "watch",
				   "repository",
				   "tag",
				   "digest",
				   "previous_digest",
				   "target",
				   "cluster",
				   "service",
				   "region",
				   "task_definition",
				   "previous_task_definition",
				   "deployment_id",
				   "strategy",
				   "duration_ms",
				   "reason",
				   "summary" };
	char *s;
	cJSON *o;

	notice_make_key(&n, "eu-west-1/web\n1", "");
	n.host = strdup("h");
	n.digest = strdup("sha256:short"); /* not a digest: not known */
	s = notice_body(&n);
	o = cJSON_Parse(s);
	CHECK(o != NULL);
	for (size_t i = 0; i < sizeof(body_keys) / sizeof(body_keys[0]); i++)
		CHECK(cJSON_HasObjectItem(o, body_keys[i]));
	for (size_t i = 0; i < sizeof(nullable) / sizeof(nullable[0]); i++)
		if (!cJSON_IsNull(cJSON_GetObjectItem(o, nullable[i])))
			CHECK(!nullable[i]);
	CHECK(cJSON_IsArray(cJSON_GetObjectItem(o, "messages")));
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "messages")), 0);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "time")), "1970-01-01T00:00:00.000Z");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "severity")), "error");
	cJSON_Delete(o);
	free(s);
	notice_done(&n);
}

/* A text of len bytes, each the 2-byte "é", after one ASCII byte: every 2000-byte cut but the
 * right one lands inside a character. */
static char *long_text(size_t pairs, char first)
{
	char *s = malloc(2 * pairs + 2);

	s[0] = first;
	for (size_t i = 0; i < pairs; i++) {
		s[1 + 2 * i] = (char)0xc3;
		s[2 + 2 * i] = (char)0xa9;
	}
	s[1 + 2 * pairs] = '\0';
	return s;
}

static bool valid_utf8(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		size_t n = *u < 0x80 ? 1 : (*u & 0xe0) == 0xc0 ? 2 : (*u & 0xf0) == 0xe0 ? 3 : 4;
		for (size_t i = 1; i < n; i++)
			if ((u[i] & 0xc0) != 0x80)
				return false;
		u += n;
	}
	return true;
}

TEST(notice_body_cuts_texts_at_utf8)
{
	struct notice n;
	char *s;
	cJSON *o;
	const char *reason;

	sample(&n);
	n.reason = long_text(3000, 'x');
	free(n.messages[0]);
	n.messages[0] = strdup("bad \xff\xfe byte");
	s = notice_body(&n);
	o = cJSON_Parse(s);
	reason = cJSON_GetStringValue(cJSON_GetObjectItem(o, "reason"));
	CHECK(reason != NULL);
	if (!reason)
		return;
	CHECK(strlen(reason) <= NOTICE_TEXT_MAX);
	CHECK(strlen(reason) > NOTICE_TEXT_MAX - 8);
	CHECK(valid_utf8(reason));
	CHECK(strstr(reason, "\xe2\x80\xa6") != NULL); /* the cut is marked */
	/* invalid UTF-8 from outside becomes U+FFFD, so the body is valid JSON text */
	CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "messages"), 0)),
		  "bad \xef\xbf\xbd\xef\xbf\xbd byte");
	cJSON_Delete(o);
	free(s);
	notice_done(&n);
}

TEST(notice_sign_known_vector)
{
	const char *body = "{\"version\":1,\"id\":\"x\"}";
	char out[128];

	/* echo -n '1764583200.{"version":1,"id":"x"}' | openssl dgst -sha256 -hmac whsec-test
	 * (and python3 hmac.new(b"whsec-test", ..., hashlib.sha256) agrees) */
	CHECK_INT(notice_sign((const unsigned char *)"whsec-test", 10, 1764583200, body,
			      strlen(body), out, sizeof(out)),
		  0);
	CHECK_STR(out, "t=1764583200,v1=0a5f4e95a1e1eb0a35781a3f1c0837d4bcb9bb9d8840f3d97d8fa09be"
		       "117d16a");
	/* a different time, a different signature */
	CHECK_INT(notice_sign((const unsigned char *)"whsec-test", 10, 1764583201, body,
			      strlen(body), out, sizeof(out)),
		  0);
	CHECK(strstr(out, "0a5f4e95") == NULL);
	/* too small a buffer */
	CHECK_INT(notice_sign((const unsigned char *)"whsec-test", 10, 1764583200, body,
			      strlen(body), out, 40),
		  -ENOBUFS);
	CHECK_STR(out, "");
}

static const char *text_of(const cJSON *o)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, "text"));
}

TEST(notice_slack_structure)
{
	struct notice n;
	char *s;
	cJSON *o, *att, *blocks, *b, *fields, *f;
	bool digest_seen = false;

	sample(&n);
	s = notice_slack(&n);
	CHECK(s != NULL);
	o = cJSON_Parse(s);
	CHECK(o != NULL);
	CHECK(text_of(o) && strstr(text_of(o), "prod/web"));
	CHECK(strchr(text_of(o), '\n') == NULL);
	att = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "attachments"), 0);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(att, "color")), "#2eb67d");
	blocks = cJSON_GetObjectItem(att, "blocks");
	b = cJSON_GetArrayItem(blocks, 0);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(b, "type")), "header");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "text"), "type")),
		  "plain_text");
	CHECK_STR(text_of(cJSON_GetObjectItem(b, "text")), "Deployed: prod/web");
	b = cJSON_GetArrayItem(blocks, 1);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(b, "type")), "section");
	fields = cJSON_GetObjectItem(b, "fields");
	CHECK(cJSON_GetArraySize(fields) >= 3 && cJSON_GetArraySize(fields) <= 10);
	cJSON_ArrayForEach(f, fields)
	{
		CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(f, "type")), "mrkdwn");
		if (strstr(text_of(f), "`sha256:aaaaaaaaaaaa`"))
			digest_seen = true;
	}
	CHECK(digest_seen); /* "sha256:" and 12 hex digits */
	CHECK(strstr(s, "2m 13s") != NULL);
	/* the last block is the context with the host */
	b = cJSON_GetArrayItem(blocks, cJSON_GetArraySize(blocks) - 1);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(b, "type")), "context");
	CHECK(strstr(s, "host: deploy-1") != NULL);
	cJSON_Delete(o);
	free(s);

	/* colours by result */
	n.kind = NOTICE_FAILED;
	s = notice_slack(&n);
	CHECK(strstr(s, "\"#e01e5a\"") != NULL);
	free(s);
	n.kind = NOTICE_ROLLED_BACK;
	s = notice_slack(&n);
	CHECK(strstr(s, "\"#ecb22e\"") != NULL);
	free(s);
	notice_done(&n);
}

/* Every text of a Slack payload, walked: no raw < or >, every & an entity, within limits. */
static void check_slack_texts(const cJSON *o, size_t *n_texts)
{
	const cJSON *c;

	if (cJSON_IsObject(o)) {
		const char *t = text_of(o);
		if (t) {
			(*n_texts)++;
			CHECK(strchr(t, '<') == NULL && strchr(t, '>') == NULL);
			for (const char *a = strchr(t, '&'); a; a = strchr(a + 1, '&'))
				CHECK(!strncmp(a, "&amp;", 5) || !strncmp(a, "&lt;", 4) ||
				      !strncmp(a, "&gt;", 4));
			CHECK(strlen(t) <= 3000);
			CHECK(valid_utf8(t));
		}
	}
	for (c = o ? o->child : NULL; c; c = c->next)
		check_slack_texts(c, n_texts);
}

TEST(notice_slack_escapes_and_limits)
{
	struct notice n;
	char *s, *reason;
	cJSON *o, *blocks, *b;
	size_t texts = 0;

	sample(&n);
	n.kind = NOTICE_FAILED;
	free(n.service);
	n.service = strdup("web<&>svc");
	/* a long reason with <, > and & throughout, so that the cut can land on an entity */
	reason = malloc(5000);
	for (size_t i = 0; i < 4999; i++)
		reason[i] = "a<b>c&d\xc3\xa9"[i % 9];
	reason[4999] = '\0';
	n.reason = reason;
	s = notice_slack(&n);
	o = cJSON_Parse(s);
	CHECK(o != NULL);
	check_slack_texts(o, &texts);
	CHECK(texts >= 6);
	blocks = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "attachments"), 0),
				     "blocks");
	b = cJSON_GetArrayItem(blocks, 0);
	CHECK_STR(text_of(cJSON_GetObjectItem(b, "text")),
		  "Deploy failed: prod/web&lt;&amp;&gt;svc");
	CHECK(strlen(text_of(cJSON_GetObjectItem(b, "text"))) <= 150);
	b = cJSON_GetArrayItem(blocks, 2);
	CHECK(!strncmp(text_of(cJSON_GetObjectItem(b, "text")), "*Reason*\na&lt;b&gt;c&amp;d", 26));
	CHECK(strlen(text_of(cJSON_GetObjectItem(b, "text"))) > 2900);
	cJSON_Delete(o);
	free(s);

	/* line breaks from outside stay out of the header and the one-line fallback */
	free(n.service);
	n.service = strdup("web\nsvc");
	s = notice_slack(&n);
	o = cJSON_Parse(s);
	blocks = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "attachments"), 0),
				     "blocks");
	CHECK_STR(text_of(cJSON_GetObjectItem(cJSON_GetArrayItem(blocks, 0), "text")),
		  "Deploy failed: prod/web svc");
	CHECK(text_of(o) && !strchr(text_of(o), '\n') && !strchr(text_of(o), '\r'));
	cJSON_Delete(o);
	free(s);

	/* a long header: cut to 150 bytes, not inside an entity */
	free(n.service);
	n.service = malloc(400);
	for (size_t i = 0; i < 399; i++)
		n.service[i] = '&';
	n.service[399] = '\0';
	s = notice_slack(&n);
	o = cJSON_Parse(s);
	texts = 0;
	check_slack_texts(o, &texts);
	blocks = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "attachments"), 0),
				     "blocks");
	CHECK(strlen(text_of(cJSON_GetObjectItem(cJSON_GetArrayItem(blocks, 0), "text"))) <= 150);
	cJSON_Delete(o);
	free(s);
	notice_done(&n);
}

TEST(notice_eventbridge_entry)
{
	struct notice n;
	cJSON *p, *e, *detail;
	char *body;

	sample(&n);
	p = notice_eventbridge(&n, "deploys");
	CHECK(p != NULL);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(p, "Entries")), 1);
	e = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "Entries"), 0);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "Source")), "ecr-deployd");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "DetailType")), "Deploy Completed");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "EventBusName")), "deploys");
	CHECK_INT(cJSON_GetObjectItem(e, "Time")->valuedouble, 1764583200);
	body = notice_body(&n);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "Detail")), body);
	detail = cJSON_Parse(cJSON_GetStringValue(cJSON_GetObjectItem(e, "Detail")));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(detail, "id")), n.key);
	cJSON_Delete(detail);
	free(body);
	cJSON_Delete(p);
	notice_done(&n);
}

TEST(notice_entry_round_trip)
{
	struct notice n, back;
	char sink[65], why[200], *e1, *e2;
	double created = 0;

	sample(&n);
	n.reason = long_text(999, 'r'); /* 1999 bytes: kept whole */
	n.messages[1] = strdup("line one\nline \"two\"\t\x01");
	n.n_messages = 2;
	e1 = notice_entry(&n, "ci-hook", 1764583201.5);
	CHECK(e1 != NULL);
	if (!e1)
		return;
	CHECK_INT(notice_entry_parse(e1, strlen(e1), &back, &created, sink, sizeof(sink), why,
				     sizeof(why)),
		  0);
	CHECK_STR(why, "");
	CHECK_STR(sink, "ci-hook");
	CHECK(created == 1764583201.5);
	CHECK_INT(back.kind, NOTICE_COMPLETED);
	CHECK_STR(back.key, n.key);
	CHECK(back.time > 1764583200.1225 && back.time < 1764583200.1235);
	CHECK_STR(back.digest, D1);
	CHECK_STR(back.reason, n.reason);
	CHECK_STR(back.messages[1], n.messages[1]);
	CHECK_INT(back.n_messages, 2);
	CHECK_INT(back.duration_ms, 133000);
	e2 = notice_entry(&back, sink, created);
	CHECK_STR(e2, e1);
	free(e1);
	free(e2);
	notice_done(&back);

	/* a copy is deep and the same */
	CHECK_INT(notice_copy(&back, &n), 0);
	CHECK(back.host != n.host);
	e1 = notice_entry(&n, "x", 1);
	e2 = notice_entry(&back, "x", 1);
	CHECK_STR(e1, e2);
	free(e1);
	free(e2);
	notice_done(&back);
	notice_done(&n);
}

struct bad_case {
	const char *from, *to; /* replace this text of the valid entry by that */
	const char *why;       /* what the reason must hold */
};

TEST(notice_entry_parse_refuses_each_field)
{
	static const struct bad_case cases[] = {
		{ "\"format\":1", "\"format\":2", "format: not 1" },
		{ "\"format\":1", "\"formatx\":1", "format: missing" },
		{ "\"sink\":\"ci\"", "\"sink\":\"c i\"", "sink: not a sink name 'c i'" },
		{ "\"sink\":\"ci\"", "\"sink\":\"\"", "sink: not a sink name ''" },
		{ "\"sink\":\"ci\"", "\"sink\":7", "sink: missing" },
		{ "\"created\":1764583201", "\"created\":-1",
		  "created: not a time in seconds '-1'" },
		{ "\"created\":1764583201", "\"created\":\"1\"", "created: not a time in seconds" },
		{ "\"created\":1764583201", "\"created\":1e300", "created: not a time" },
		{ "\"version\":1", "\"version\":2", "notice.version: not 1" },
		{ "\"kind\":\"deploy-completed\"", "\"kind\":\"deploy-exploded\"",
		  "notice.kind: unknown kind 'deploy-exploded'" },
		{ "\"kind\":\"deploy-completed\"", "\"kind\":null", "notice.kind: missing" },
		{ "\"id\":\"", "\"id\":\"X", "notice.id: not 32 lowercase hex digits" },
		{ "\"severity\":\"info\"", "\"severity\":\"loud\"",
		  "notice.severity: unknown severity 'loud'" },
		{ "\"time\":\"2025-12-01T10:00:00.123Z\"", "\"time\":\"2025-02-31T10:00:00.123Z\"",
		  "notice.time: not a UTC time with milliseconds '2025-02-31T10:00:00.123Z'" },
		{ "\"time\":\"2025-12-01T10:00:00.123Z\"", "\"time\":\"2025-12-01T10:00:00Z\"",
		  "notice.time:" },
		{ "\"host\":\"deploy-1\"", "\"host\":null", "notice.host: missing" },
		{ "\"host\":\"deploy-1\"", "\"host\":[]", "notice.host: not a string" },
		{ "\"tag\":\"v1.2.3\"", "\"tag\":\"v1\\u0000x\"", "entry: holds a NUL" },
		{ "\"tag\":\"v1.2.3\"", "\"tag\":\"v1\xff\"",
		  "notice.tag: not valid UTF-8 'v1\\xff'" },
		{ "\"tag\":\"v1.2.3\"", "\"tag\":\"v1\xed\xa0\x80\"",
		  "notice.tag: not valid UTF-8" },
		{ "\"digest\":\"sha256:a", "\"digest\":\"sha256:A",
		  "notice.digest: not a digest 'sha256:A" },
		{ "\"previous_digest\":\"sha256:0", "\"previous_digest\":\"sha256:x0",
		  "notice.previous_digest: not a digest" },
		{ "\"duration_ms\":133000", "\"duration_ms\":-5",
		  "notice.duration_ms: not a whole number of milliseconds '-5'" },
		{ "\"duration_ms\":133000", "\"duration_ms\":1.5",
		  "notice.duration_ms: not a whole" },
		{ "\"duration_ms\":133000", "\"duration_ms\":\"1\"",
		  "notice.duration_ms: not a whole" },
		{ "\"messages\":[", "\"messages\":[1,", "notice.messages[0]: not a string" },
		{ "\"messages\":[", "\"messages\":[\"a\",\"b\",\"c\",\"d\",\"e\",",
		  "notice.messages: more than 5" },
		{ "\"messages\":[", "\"messages\":\"x\",\"m\":[", "notice.messages: not an array" },
		{ "\"notice\":{", "\"notice\":[{", "entry: not JSON" },
		{ "\"notice\":{", "\"notice\":7,\"x\":{", "notice: not an object" },
		{ "}}", "}}x", "entry: not JSON (at byte" },
		{ "{\"format\"", "[{\"format\"", "entry: not JSON" },
	};
	struct notice n, back;
	char *good, sink[65], why[200], dummy[8];
	double created;

	sample(&n);
	good = notice_entry(&n, "ci", 1764583201);
	CHECK(good != NULL);
	if (!good)
		return;
	CHECK_INT(notice_entry_parse(good, strlen(good), &back, &created, sink, sizeof(sink), why,
				     sizeof(why)),
		  0);
	notice_done(&back);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *at = strstr(good, cases[i].from);
		size_t flen = strlen(cases[i].from), tlen = strlen(cases[i].to);
		char *bad;
		int r;

		if (!at) {
			unit_fail(__FILE__, __LINE__, "case %zu: '%s' not in the entry", i,
				  cases[i].from);
			continue;
		}
		bad = malloc(strlen(good) + tlen + 1);
		memcpy(bad, good, (size_t)(at - good));
		memcpy(bad + (at - good), cases[i].to, tlen);
		memcpy(bad + (at - good) + tlen, at + flen, strlen(at + flen) + 1);
		memset(&back, 0x55, sizeof(back));
		snprintf(sink, sizeof(sink), "unchanged");
		r = notice_entry_parse(bad, strlen(bad), &back, &created, sink, sizeof(sink), why,
				       sizeof(why));
		if (r != -EINVAL || !strstr(why, cases[i].why))
			unit_fail(__FILE__, __LINE__, "case %zu: r=%d why='%s', wanted '%s'", i, r,
				  why, cases[i].why);
		CHECK_STR(sink, "unchanged");
		free(bad);
	}
	/* a NUL byte, a too-small sink buffer, a too-small why */
	{
		char *nul = strdup(good);
		nul[10] = '\0';
		CHECK_INT(notice_entry_parse(nul, strlen(good), &back, &created, sink, sizeof(sink),
					     why, sizeof(why)),
			  -EINVAL);
		CHECK(strstr(why, "NUL") != NULL);
		free(nul);
	}
	CHECK_INT(
	    notice_entry_parse(good, strlen(good), &back, &created, sink, 2, why, sizeof(why)),
	    -EINVAL);
	CHECK(strstr(why, "sink:") != NULL);
	CHECK_INT(notice_entry_parse(good, strlen(good) - 1, &back, &created, sink, sizeof(sink),
				     dummy, sizeof(dummy)),
		  -EINVAL);
	CHECK_INT(strlen(dummy), sizeof(dummy) - 1);
	free(good);
	notice_done(&n);
}

TEST(notice_matches_filter)
{
	struct config_sink s = { 0 };
	struct notice n;
	char *watches[] = { "api", "web" };
	char *services[] = { "prod/web" };
	char *bare[] = { "web" };

	sample(&n);
	s.kinds = ~(1u << NOTICE_STARTED);
	CHECK(notice_matches(&s, &n));
	n.kind = NOTICE_STARTED;
	CHECK(!notice_matches(&s, &n));
	n.kind = NOTICE_COMPLETED;
	s.min_severity = SEVERITY_WARNING;
	CHECK(!notice_matches(&s, &n));
	n.kind = NOTICE_ROLLED_BACK;
	CHECK(notice_matches(&s, &n));
	s.min_severity = SEVERITY_INFO;
	s.watches = watches;
	s.n_watches = 2;
	CHECK(notice_matches(&s, &n));
	s.n_watches = 1;
	CHECK(!notice_matches(&s, &n));
	s.n_watches = 0;
	s.services = services;
	s.n_services = 1;
	CHECK(notice_matches(&s, &n));
	free(n.cluster);
	n.cluster = strdup("staging");
	CHECK(!notice_matches(&s, &n));
	s.services = bare;
	CHECK(notice_matches(&s, &n));
	notice_done(&n);
}

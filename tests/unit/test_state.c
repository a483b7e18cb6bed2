/* SPDX-License-Identifier: MIT */
/* daemon/state: round trips, atomic writes, unusable files set aside (never lost). */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "state.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static char *tmpdir(void)
{
	static char d[64];

	snprintf(d, sizeof(d), "/tmp/ecr-state-XXXXXX");
	return mkdtemp(d);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Names in dir starting with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	if (d)
		closedir(d);
	return n;
}

static void rm_rf(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_INT(system(cmd), 0);
}

TEST(state_round_trip)
{
	char *dir = tmpdir(), why[256], sub[128];
	struct state *s = NULL;
	char *warn = NULL;

	snprintf(sub, sizeof(sub), "%s/new/deeper", dir);
	CHECK_INT(state_open(sub, &s, &warn, why, sizeof(why)), 0); /* created */
	CHECK(warn == NULL);
	if (!s)
		return;
	CHECK(state_seen(s, "web", "prod") == NULL);
	CHECK_INT(state_set_seen(s, "web", "prod", D1, NULL), 0);
	CHECK_INT(state_set_seen(s, "api", "*", D2, "v1.4.2"), 0);
	CHECK(state_dirty(s));
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	CHECK(!state_dirty(s));
	CHECK_INT(state_set_seen(s, "web", "prod", D1, NULL), 0);
	CHECK(!state_dirty(s)); /* the same sighting changes nothing */
	state_free(s);
	CHECK_INT(count_prefixed(sub, "state.json.tmp"), 0);

	CHECK_INT(state_open(sub, &s, &warn, why, sizeof(why)), 0);
	CHECK(warn == NULL);
	if (s) {
		CHECK_STR(state_seen(s, "web", "prod"), D1);
		CHECK_STR(state_seen(s, "api", "*"), D2);
		CHECK_STR(state_seen_tag(s, "api"), "v1.4.2");
		CHECK(state_seen(s, "web", "dev") == NULL);
		state_free(s);
	}
	struct stat st;
	char path[256];
	snprintf(path, sizeof(path), "%s/state.json", sub);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	rm_rf(dir);
}

/* The state is written a watch at a time through a 16 KiB buffer: a state many times that size,
 * with names JSON must escape, reads back whole, and the file is the document's exact text. */
TEST(state_large_and_escaped_round_trip)
{
	char *dir = tmpdir(), why[256], path[128], name[64], tag[32];
	struct state *s = NULL;
	const int watches = 300, tags = 10;

	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	for (int w = 0; w < watches; w++) {
		snprintf(name, sizeof(name), "w%03d \"q\" \\ \t \xc3\xa9", w);
		for (int t = 0; t < tags; t++) {
			snprintf(tag, sizeof(tag), "t%d", t);
			CHECK_INT(state_set_seen(s, name, tag, (w + t) % 2 ? D1 : D2, NULL), 0);
		}
		CHECK_INT(state_set_want(s, name, "t0", D1, "123456789012.dkr.ecr/x"), 1);
	}
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	state_free(s);

	snprintf(path, sizeof(path), "%s/state.json", dir);
	FILE *f = fopen(path, "r");
	static char text[1 << 20];
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f)
		fclose(f);
	text[n] = '\0';
	CHECK(n > 4 * 16384);
	cJSON *doc = cJSON_Parse(text);
	char *again = doc ? cJSON_PrintUnformatted(doc) : NULL;
	CHECK(again && !strcmp(again, text));
	free(again);
	cJSON_Delete(doc);

	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	for (int w = 0; s && w < watches; w++) {
		snprintf(name, sizeof(name), "w%03d \"q\" \\ \t \xc3\xa9", w);
		for (int t = 0; t < tags; t++) {
			snprintf(tag, sizeof(tag), "t%d", t);
			CHECK_STR(state_seen(s, name, tag), (w + t) % 2 ? D1 : D2);
		}
		struct state_want want;
		CHECK(state_want(s, name, &want));
	}
	state_free(s);
	rm_rf(dir);
}

TEST(state_unusable_files_are_kept_aside)
{
	static const char *const bad[] = {
		"{\"version\": 1, \"watches\": {\"web\": {\"tags\": {\"prod\": {\"digest\": "
		"\"sha", /* cut */
		"[]",
		"{\"watches\": {}}",
		"{\"version\": 3, \"watches\": {}}",
		"\x01\x02garbage",
	};
	static const char *const reason[] = {
		"not valid JSON",    "not a JSON object", "no version",
		"newer ecr-deployd", "not valid JSON",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *dir = tmpdir(), why[256], path[128];
		struct state *s = NULL;
		char *warn = NULL;

		snprintf(path, sizeof(path), "%s/state.json", dir);
		put(path, bad[i]);
		CHECK_INT(state_open(dir, &s, &warn, why, sizeof(why)), 0);
		CHECK(warn != NULL);
		if (warn &&
		    (!strstr(warn, reason[i]) || !strstr(warn, ".bad-") || !strstr(warn, path)))
			unit_fail(__FILE__, __LINE__, "row %zu: %s", i, warn);
		CHECK_INT(count_prefixed(dir, "state.json.bad-"), 1);
		CHECK(s && state_seen(s, "web", "prod") == NULL);
		/* The fresh state is written at once, with its reset mark; the bad file stays
		 * aside. */
		CHECK(s && !state_dirty(s) && state_reset_pending(s));
		CHECK_INT(s ? state_save(s, why, sizeof(why)) : -1, 0);
		CHECK_INT(count_prefixed(dir, "state.json.bad-"), 1);
		free(warn);
		state_free(s);
		rm_rf(dir);
	}
}

TEST(state_directory_errors)
{
	char *dir = tmpdir(), why[256] = "", file[128], sub[160];
	struct state *s = NULL;

	snprintf(file, sizeof(file), "%s/a-file", dir);
	put(file, "x");
	snprintf(sub, sizeof(sub), "%s/state", file);
	CHECK_INT(state_open(sub, &s, NULL, why, sizeof(why)), -ENOTDIR);
	CHECK(s == NULL);
	CHECK(strstr(why, "cannot create the state directory") != NULL && strstr(why, sub) != NULL);
	rm_rf(dir);
}

static void count_rollout(struct rollout_rec *rec, void *ud)
{
	CHECK_STR(rec->watch, "web");
	CHECK_STR(rec->tkey, "us-east-1/prod/web");
	CHECK_INT(rec->step, STEP_TRACKING);
	(*(int *)ud)++;
	record_free(rec); /* taken over */
}

/* 1 when a and b are the same string, else 0 and a failure naming the field. */
static int same_string(const char *field, const char *a, const char *b)
{
	if (a && b && !strcmp(a, b))
		return 1;
	unit_fail(__FILE__, __LINE__, "field %s: '%s' != '%s'", field, a ? a : "(null)",
		  b ? b : "(null)");
	return 0;
}

/* A record with every field set (strings, times, flags, containers). */
static struct rollout_rec *full_record(void)
{
	struct rollout_rec *r = calloc(1, sizeof(*r));
	int n = 0;

	if (!r)
		return NULL;
#define SET(f) +(record_set(&r->f, #f "-value") == 0)
	/* Every string field (RECORD_STRINGS: one added later is covered too), then the few that
	 * need a real value. */
	n = 0 SET(watch) SET(tkey) RECORD_STRINGS(SET);
#undef SET
	record_set(&r->region, "eu-west-3");
	record_set(&r->watch, "web");
	record_set(&r->tkey, "us-east-1/prod/web");
	record_set(&r->digest, D1);
	record_set(&r->previous_digest, D2);
	record_set(&r->cd_deployment_id, "d-ABCDEFGHI");
	r->containers[0] = strdup("app");
	r->containers[1] = strdup("sidecar");
	r->n_containers = 2;
	r->step = STEP_TRACKING;
	r->rollback = true;
	r->first_start_skip = true;
	r->after_reset = true;
	r->base_pinned = true;
	r->no_stop = true;
	r->rollback_by = ROLLBACK_BY_ECS;
	r->timeout_ms = 123456;
	r->started_at = 1.5e9;
	r->deadline = 1.5e9 + 1;
	r->register_sent_at = 1.5e9 + 2;
	r->update_sent_at = 1.5e9 + 3;
	r->rollback_deadline = 1.5e9 + 4;
	r->rollback_register_sent_at = 1.5e9 + 5;
	r->rollback_sent_at = 1.5e9 + 6;
	r->hook_expires_at = 1.5e9 + 7;
	r->hold_left = 600;
	r->stop_sent_at = 1.5e9 + 8;
	r->cd_port = 8080;
	r->cd_discovered = true;
	r->cd_create_sent_at = 1.5e9 + 9;
	r->cd_rb_create_sent_at = 1.5e9 + 10;
	r->cd_rb_wait_until = 1.5e9 + 11;
	r->notified = (1u << NOTICE_STARTED) | (1u << NOTICE_AWAITING_APPROVAL);
	CHECK_INT(n, 42); /* watch, tkey and the RECORD_STRINGS */
	return r;
}

TEST(state_record_round_trips_every_field)
{
	struct rollout_rec *r = full_record(), *back = NULL;
	cJSON *o = NULL;
	char why[300];

	if (!r)
		return;
	CHECK_INT(state_record_to_json(r, &o), 0);
	CHECK_INT(state_record_from_json(o, "web", "us-east-1/prod/web", &back, why, sizeof(why)),
		  0);
	if (back) {
#define SAME(f) +same_string(#f, back->f, r->f)
		CHECK_INT(0 SAME(watch) SAME(tkey) RECORD_STRINGS(SAME), 42);
#undef SAME
#define SAME_N(f) CHECK(back->f == r->f)
		SAME_N(step);
		SAME_N(notified);
		SAME_N(rollback);
		SAME_N(first_start_skip);
		SAME_N(after_reset);
		SAME_N(base_pinned);
		SAME_N(no_stop);
		SAME_N(rollback_by);
		SAME_N(timeout_ms);
		SAME_N(started_at);
		SAME_N(deadline);
		SAME_N(register_sent_at);
		SAME_N(update_sent_at);
		SAME_N(rollback_deadline);
		SAME_N(rollback_register_sent_at);
		SAME_N(rollback_sent_at);
		SAME_N(hook_expires_at);
		SAME_N(hold_left);
		SAME_N(stop_sent_at);
		SAME_N(cd_port);
		SAME_N(cd_discovered);
		SAME_N(cd_create_sent_at);
		SAME_N(cd_rb_create_sent_at);
		SAME_N(cd_rb_wait_until);
		SAME_N(n_containers);
#undef SAME_N
		CHECK_STR(back->containers[0], "app");
		CHECK_STR(back->containers[1], "sidecar");
	}
	/* And the JSON form of what was read back is the same document. */
	cJSON *again = NULL;
	CHECK(back && state_record_to_json(back, &again) == 0 && cJSON_Compare(o, again, 1));
	cJSON_Delete(again);
	cJSON_Delete(o);
	record_free(back);
	record_free(r);
}

TEST(state_record_of_version_1_loads)
{
	cJSON *o = cJSON_Parse(
	    "{\"step\": \"rollback-registering\", \"watch\": \"web\", \"repository\": \"team/web\","
	    " \"tag\": \"prod\", \"digest\": \"" D1
	    "\", \"image\": \"r\", \"previous_digest\": \"\","
	    " \"strategy\": \"revision\", \"cluster\": \"prod\", \"service\": \"web\", \"region\":"
	    " \"us-east-1\", \"containers\": [\"app\"], \"rollback\": true, \"on_first_start\":"
	    " \"deploy\", \"timeout_ms\": 600000, \"started_at\": 1700000000, \"deadline\":"
	    " 1700000600, \"register_sent_at\": 1700000100, \"rollback_by\": \"ecr-deployd\","
	    " \"base_td\": \"arn:aws:ecs:us-east-1:123456789012:task-definition/web:1\"}");
	struct rollout_rec *r = NULL;
	char why[300];

	CHECK_INT(state_record_from_json(o, "web", "t", &r, why, sizeof(why)), 0);
	if (r) {
		CHECK_INT(r->step, STEP_RB_REGISTERING);
		CHECK(r->rollback_register_sent_at == 1700000100.0); /* v1: one time for both */
		CHECK(r->rollback_by == ROLLBACK_BY_US);
		CHECK(r->rollback && !r->first_start_skip && r->timeout_ms == 600000);
	}
	record_free(r);
	cJSON_Delete(o);
	/* Bad fields are named. */
	const char *bad[][2] = {
		{ "{\"step\": \"flying\", \"digest\": \"" D1 "\"}", "step" },
		{ "{\"step\": \"start\", \"digest\": 7}", "'digest' is not a string" },
		{ "{\"step\": \"start\", \"digest\": \"" D1 "\", \"deadline\": \"soon\"}",
		  "'deadline'" },
		{ "{\"step\": \"start\", \"digest\": \"" D1 "\", \"version\": 4}", "version" },
		{ "{\"step\": \"start\", \"digest\": \"" D1
		  "\", \"cluster\": \"c\", \"service\": \"s\","
		  " \"region\": \"r\"}",
		  "containers" },
		/* A step that is never written (an inspection's) is no record of a deploy. */
		{ "{\"step\": \"inspect-tasks\", \"digest\": \"" D1
		  "\", \"image\": \"r\", \"cluster\": \"c\", \"service\": \"s\","
		  " \"region\": \"r\", \"containers\": [\"app\"]}",
		  "never written" },
		/* Without the image, the revision registered would name '(null)@sha256:...'. */
		{ "{\"step\": \"start\", \"digest\": \"" D1
		  "\", \"cluster\": \"c\", \"service\": \"s\","
		  " \"region\": \"r\", \"containers\": [\"app\"]}",
		  "image" },
		/* A region no endpoint can be made for: retried for ever, the target busy for ever.
		 */
		{ "{\"step\": \"start\", \"digest\": \"" D1
		  "\", \"image\": \"r\", \"cluster\": \"c\", \"service\": \"s\","
		  " \"region\": \"evil.example/x\", \"containers\": [\"app\"]}",
		  "region 'evil.example/x'" },
		/* Past start without the revision the service ran: nothing to look up or go back to
		 * (the requests' parameters would be missing: retried for ever as "out of memory").
		 */
		{ "{\"step\": \"registering\", \"digest\": \"" D1
		  "\", \"image\": \"r\", \"cluster\": \"c\", \"service\": \"s\","
		  " \"region\": \"us-east-1\", \"containers\": [\"app\"]}",
		  "base_td" },
		/* Tracked by a service deployment it does not name (its requests would have no
		 * ARN: retried for ever). */
		{ "{\"step\": \"stopping\", \"digest\": \"" D1
		  "\", \"image\": \"r\", \"cluster\": \"c\", \"service\": \"s\","
		  " \"region\": \"us-east-1\", \"containers\": [\"app\"], \"base_td\": \"td:1\"}",
		  "lacks deployment_arn" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = cJSON_Parse(bad[i][0]);
		r = NULL;
		CHECK_INT(state_record_from_json(o, "w", "t", &r, why, sizeof(why)), -EINVAL);
		CHECK(r == NULL);
		if (!strstr(why, bad[i][1]))
			unit_fail(__FILE__, __LINE__, "row %zu: %s", i, why);
		cJSON_Delete(o);
	}
}

TEST(state_record_without_deadlines_gets_them_from_its_start)
{
	/* A record without its deadlines (old or edited) must not read as past them: a first look
	 * at an unfinished deployment would be a timeout, and the digest marked failed. They run
	 * a whole rollout timeout from the load. */
	cJSON *o = cJSON_Parse(
	    "{\"step\": \"tracking\", \"digest\": \"" D1
	    "\", \"image\": \"r\", \"cluster\": \"c\", \"service\": \"s\","
	    " \"region\": \"us-east-1\", \"containers\": [\"app\"], \"timeout_ms\": 60000,"
	    " \"started_at\": 1700000000, \"rollback_by\": \"ecs\", \"base_td\": \"td:1\"}");
	struct rollout_rec *r = NULL;
	char why[300];

	double before = (double)time(NULL);

	CHECK_INT(state_record_from_json(o, "w", "t", &r, why, sizeof(why)), 0);
	if (r) {
		CHECK(r->deadline >= before + 60.0 && r->deadline <= (double)time(NULL) + 60.0);
		CHECK(r->rollback_deadline >= before + 60.0);
	}
	record_free(r);
	cJSON_Delete(o);
}

TEST(state_failed_list_holds_a_digest_once)
{
	char *dir = tmpdir(), why[256];
	struct state *s = NULL;

	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK(!state_failed_has(s, "web", "t", D1));
	CHECK_INT(state_add_failed(s, "web", "t", D1, "first", 1), 0);
	CHECK_INT(state_add_failed(s, "web", "t", D2, "other", 2), 0);
	CHECK_INT(state_add_failed(s, "web", "t", D1, "again", 3), 0);
	CHECK(state_failed_has(s, "web", "t", D1) && state_failed_has(s, "web", "t", D2));
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	state_free(s);
	/* On disk: two entries, D1 once with its newest reason, after D2. */
	char path[200];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	FILE *f = fopen(path, "r");
	char text[4096] = "";
	if (f) {
		text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
		fclose(f);
	}
	const char *first = strstr(text, D1);
	CHECK(first && !strstr(first + 1, D1));
	CHECK(strstr(text, "again") && !strstr(text, "first"));
	CHECK(strstr(text, D2) && strstr(text, D2) < first);
	/* The typed setters mark the state changed, and only on a change. */
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (s) {
		CHECK(!state_dirty(s));
		CHECK_INT(state_set_deployed(s, "web", "t", D2), 0);
		CHECK(state_dirty(s));
		CHECK_INT(state_save(s, why, sizeof(why)), 0);
		CHECK_INT(state_set_deployed(s, "web", "t", D2), 0);
		CHECK(!state_dirty(s));
		CHECK_STR(state_deployed(s, "web", "t"), D2);
		CHECK(state_held(s, "web", "t") == NULL);
	}
	state_free(s);
	rm_rf(dir);
}

TEST(state_rollout_files)
{
	char *dir = tmpdir(), why[256], path[160];
	struct state *s = NULL;
	char *warn = NULL;
	int n = 0;
	struct rollout_rec *rec = full_record();

	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s || !rec)
		return;
	CHECK_INT(state_rollout_save(s, rec, why, sizeof(why)), 0);
	CHECK(state_has_rollout(s, "web", "us-east-1/prod/web"));
	state_free(s);
	/* A restart finds it; a file that cannot be used is kept aside with a warning. */
	snprintf(path, sizeof(path), "%s/rollouts/broken.json", dir);
	put(path, "{\"version\": 1, \"watch\": \"x\"");
	CHECK_INT(state_open(dir, &s, &warn, why, sizeof(why)), 0);
	CHECK(warn && strstr(warn, "broken.json") && strstr(warn, "not valid JSON"));
	free(warn);
	snprintf(path, sizeof(path), "%s/rollouts", dir);
	CHECK_INT(count_prefixed(path, "broken.json.bad-"), 1);
	state_each_rollout(s, count_rollout, &n);
	CHECK_INT(n, 1);
	/* Removed: gone from memory and from the disk. */
	CHECK_INT(state_rollout_remove(s, "web", "us-east-1/prod/web", why, sizeof(why)), 0);
	CHECK(!state_has_rollout(s, "web", "us-east-1/prod/web"));
	state_free(s);
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	n = 0;
	state_each_rollout(s, count_rollout, &n);
	CHECK_INT(n, 0);
	state_free(s);
	record_free(rec);
	rm_rf(dir);
}

/* Case 5 of issue 11: a digest read from the state file that is not sha256: and 64 lowercase hex
 * is refused where it is read, named (escaped) in a warning, and never used; the rest stays. */
TEST(state_bad_digests_are_refused_one_by_one)
{
	char *dir = tmpdir(), why[256], path[128];
	struct state *s = NULL;
	char *warn = NULL;

	snprintf(path, sizeof(path), "%s/state.json", dir);
	put(path,
	    "{\"version\": 1, \"watches\": {"
	    "\"web\": {\"tags\": {\"prod\": {\"digest\": \"" D1 "\"},"
	    "  \"dev\": {\"digest\": \"sha256:ABC\\nMESSAGE_ID=x\"}},"
	    " \"want\": {\"tag\": \"prod\", \"digest\": \"sha256:../../etc\", \"image\": \"r\"},"
	    " \"targets\": {\"t1\": {\"deployed\": \"sha256:"
	    "1111111111111111111111111111111"
	    "111111111111111111111111111111111X\", \"held\": \"" D2 "\","
	    "  \"failed\": [{\"digest\": \"" D2 "\"}, {\"digest\": \"'quoted'\"}, {\"at\": 1}]}}},"
	    "\"api\": {\"want\": {\"tag\": \"v1\", \"digest\": \"" D2 "\", \"image\": \"r\"}}}}");
	CHECK_INT(state_open(dir, &s, &warn, why, sizeof(why)), 0);
	CHECK(warn != NULL);
	if (warn && (!strstr(warn, path) || !strstr(warn, "sha256:ABC\\nMESSAGE_ID=x") ||
		     !strstr(warn, "sha256:../../etc") || !strstr(warn, "\\'quoted\\'") ||
		     strchr(warn, '\n')))
		unit_fail(__FILE__, __LINE__, "warning: %s", warn);
	CHECK_INT(count_prefixed(dir, "state.json.bad-"), 0); /* the rest of the file is kept */
	if (s) {
		CHECK_STR(state_seen(s, "web", "prod"), D1);
		CHECK(state_seen(s, "web", "dev") == NULL);
		struct state_want want;
		CHECK(!state_want(s, "web", &want));
		CHECK(state_want(s, "api", &want));
		CHECK(state_deployed(s, "web", "t1") == NULL);
		CHECK_STR(state_held(s, "web", "t1"), D2);
		CHECK(state_failed_has(s, "web", "t1", D2));
		CHECK(state_dirty(s)); /* the refused entries leave the file at the next save */
	}
	free(warn);
	state_free(s);
	rm_rf(dir);
}

TEST(state_rollout_with_a_bad_digest_is_kept_aside)
{
	char *dir = tmpdir(), why[256], path[160];
	struct state *s = NULL;
	char *warn = NULL;
	int n = 0;

	snprintf(path, sizeof(path), "%s/rollouts", dir);
	CHECK_INT(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/rollouts/0000000000000001.json", dir);
	put(path, "{\"version\": 1, \"watch\": \"web\", \"target\": \"us-east-1/prod/web\", "
		  "\"rollout\": {\"step\": \"start\", \"digest\": \"sha256:\\u001b[2Jx\", "
		  "\"cluster\": \"prod\", \"service\": \"web\", \"region\": \"us-east-1\"}}");
	snprintf(path, sizeof(path), "%s/rollouts/0000000000000002.json", dir);
	put(path, "{\"version\": 1, \"watch\": \"api\", \"target\": \"us-east-1/prod/api\", "
		  "\"rollout\": {\"step\": \"start\", \"digest\": \"" D1 "\", \"previous_digest\": "
		  "\"latest\", \"cluster\": \"prod\", \"service\": \"api\", \"region\": "
		  "\"us-east-1\"}}");
	CHECK_INT(state_open(dir, &s, &warn, why, sizeof(why)), 0);
	if (!warn || !strstr(warn, "0000000000000001.json") || !strstr(warn, "sha256:\\x1b[2Jx") ||
	    !strstr(warn, "0000000000000002.json") || !strstr(warn, "'latest'"))
		unit_fail(__FILE__, __LINE__, "warning: %s", warn ? warn : "(none)");
	state_each_rollout(s, count_rollout, &n);
	CHECK_INT(n, 0);
	snprintf(path, sizeof(path), "%s/rollouts", dir);
	CHECK_INT(count_prefixed(path, "000000000000000"), 2); /* both kept, aside */
	CHECK_INT(count_prefixed(path, "0000000000000001.json.bad-"), 1);
	free(warn);
	state_free(s);
	rm_rf(dir);
}

/* Case 11: a state directory others can write is made 0700 with a note; one owned by another
 * user is refused (another user could plant rollout files there). */
TEST(state_directory_permissions)
{
	char *dir = tmpdir(), why[512] = "", sub[160];
	struct state *s = NULL;
	struct stat st;

	snprintf(sub, sizeof(sub), "%s/rollouts", dir);
	CHECK_INT(mkdir(sub, 0700), 0);
	CHECK_INT(chmod(dir, 0777), 0);
	CHECK_INT(chmod(sub, 0757), 0);
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	CHECK_INT(stat(dir, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0700);
	CHECK_INT(stat(sub, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0700);
	const char *notes = s ? state_notes(s) : NULL;
	if (!notes || !strstr(notes, dir) || !strstr(notes, "0777") || !strstr(notes, "0700") ||
	    !strstr(notes, "0757"))
		unit_fail(__FILE__, __LINE__, "notes: %s", notes ? notes : "(none)");
	state_free(s);
	s = NULL;
	/* A shared directory (sticky, like /tmp) is refused, never closed under everyone else. */
	CHECK_INT(chmod(dir, 01777), 0);
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), -EPERM);
	CHECK(s == NULL && strstr(why, "shared directory (mode 01777") != NULL);
	CHECK_INT(stat(dir, &st), 0);
	CHECK_INT(st.st_mode & 07777, 01777);
	CHECK_INT(chmod(dir, 0700), 0);
	if (geteuid() == 0) {
		CHECK_INT(chown(dir, 65534, 65534), 0);
		CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), -EPERM);
		CHECK(s == NULL);
		if (!strstr(why, dir) || !strstr(why, "65534") || !strstr(why, "0700"))
			unit_fail(__FILE__, __LINE__, "why: %s", why);
		CHECK_INT(chown(dir, 0, 0), 0);
	}
	rm_rf(dir);
}

/* Case 12: temporary files of an interrupted write (ours, by name, of a process that is gone) are
 * removed at start, and counted. */
TEST(state_stale_temporary_files_are_removed)
{
	char *dir = tmpdir(), why[256], path[200];
	struct state *s = NULL;
	pid_t dead = fork();

	if (dead == 0)
		_exit(0);
	CHECK(dead > 0);
	waitpid(dead, NULL, 0);
	snprintf(path, sizeof(path), "%s/rollouts", dir);
	CHECK_INT(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/state.json.tmp-%d", dir, (int)dead);
	put(path, "{\"version\": 1, \"wat");
	snprintf(path, sizeof(path), "%s/rollouts/00000000deadbeef.json.tmp-%d", dir, (int)dead);
	put(path, "{");
	snprintf(path, sizeof(path), "%s/rollouts/00000000deadbeef.json.tmp-%d", dir,
		 (int)getpid());
	put(path, "{");
	/* Not ours by name: left alone. */
	snprintf(path, sizeof(path), "%s/notes.tmp-%d", dir, (int)dead);
	put(path, "x");
	snprintf(path, sizeof(path), "%s/state.json.tmp-12ab", dir);
	put(path, "x");
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	CHECK_INT(count_prefixed(dir, "state.json.tmp-"), 1);
	CHECK_INT(count_prefixed(dir, "notes.tmp-"), 1);
	snprintf(path, sizeof(path), "%s/rollouts", dir);
	CHECK_INT(count_prefixed(path, "00000000deadbeef"), 0);
	const char *notes = s ? state_notes(s) : NULL;
	if (!notes || !strstr(notes, "removed 3 temporary files"))
		unit_fail(__FILE__, __LINE__, "notes: %s", notes ? notes : "(none)");
	state_free(s);
	/* Nothing stale: nothing said. */
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	CHECK(s && state_notes(s) == NULL);
	state_free(s);
	rm_rf(dir);
}

/* Case 6: a state rebuilt from nothing says so until the deployer has looked at every target,
 * and says so across a restart (the mark is written at once). */
TEST(state_reset_is_remembered)
{
	char *dir = tmpdir(), why[256], path[128];
	struct state *s = NULL;
	char *warn = NULL;

	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	CHECK(s && !state_reset_pending(s));
	state_free(s);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	put(path, "{\"version\": 1, \"watches\": ");
	CHECK_INT(state_open(dir, &s, &warn, why, sizeof(why)), 0);
	CHECK(s && state_reset_pending(s));
	free(warn);
	state_free(s); /* no save: the mark reached the disk at the reset */
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	CHECK(s && state_reset_pending(s));
	if (s) {
		state_reset_done(s);
		CHECK(!state_reset_pending(s));
		CHECK_INT(state_save(s, why, sizeof(why)), 0);
	}
	state_free(s);
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	CHECK(s && !state_reset_pending(s));
	state_free(s);
	rm_rf(dir);
}

/* Pauses (all, watch, target), pins, task definitions and a forgotten failure survive a save and
 * a reopen; a state.json of the version before them loads with none. */
TEST(state_overrides_round_trip)
{
	char *dir = tmpdir(), path[128], why[256];
	struct state *s = NULL;
	struct state_pause p;
	struct state_pin pin;
	const char *tk = "us-east-1/prod/web";

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	/* written by the version before the overrides */
	put(path, "{\"version\":1,\"watches\":{\"web\":{\"targets\":{\"us-east-1/prod/web\":"
		  "{\"deployed\":\"" D1 "\",\"failed\":[{\"digest\":\"" D2 "\",\"at\":1,"
		  "\"reason\":\"x\"}]}}}}}");
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK_INT(state_pause(s, NULL, NULL, &p), 0);
	CHECK_INT(state_pause(s, "web", NULL, &p), 0);
	CHECK_INT(state_pause(s, "web", tk, &p), 0);
	CHECK_INT(state_pin(s, "web", tk, &pin), 0);
	CHECK(state_task_def(s, "web", tk) == NULL);

	struct state_pause all = { "freeze", 0, { 0, 42, 100.5 } };
	struct state_pause one = { "", 2000, { 1000, 7, 101 } };
	struct state_pin pn = { D2, "v1.2", { 0, 9, 102 } };
	CHECK_INT(state_set_pause(s, NULL, NULL, &all), 0);
	CHECK_INT(state_set_pause(s, "web", tk, &one), 0);
	CHECK_INT(state_set_pause(s, "other", NULL, &one), 0);
	CHECK_INT(state_set_pin(s, "web", tk, &pn), 0);
	CHECK_INT(state_set_deployed_td(s, "web", tk, D1, "arn:aws:ecs:x:1:task-definition/web:7"),
		  0);
	CHECK_INT(state_forget_failed(s, "web", tk, D2), 1);
	CHECK_INT(state_forget_failed(s, "web", tk, D2), 0);
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	state_free(s);

	s = NULL;
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK_INT(state_pause(s, NULL, NULL, &p), 1);
	CHECK_STR(p.reason, "freeze");
	CHECK(p.until == 0 && p.by.uid == 0 && p.by.pid == 42 && p.by.at == 100.5);
	CHECK_INT(state_pause(s, "web", tk, &p), 1);
	CHECK_STR(p.reason, "");
	CHECK(p.until == 2000 && p.by.uid == 1000 && p.by.pid == 7);
	CHECK_INT(state_pause(s, "web", NULL, &p), 0);
	CHECK_INT(state_pause(s, "other", NULL, &p), 1);
	CHECK_INT(state_pin(s, "web", tk, &pin), 1);
	CHECK_STR(pin.digest, D2);
	CHECK_STR(pin.tag, "v1.2");
	CHECK(pin.by.pid == 9 && pin.by.at == 102);
	CHECK_STR(state_task_def(s, "web", tk), "arn:aws:ecs:x:1:task-definition/web:7");
	CHECK(!state_failed_has(s, "web", tk, D2));
	/* another digest deployed: the task definition is no longer known */
	CHECK_INT(state_set_deployed(s, "web", tk, D2), 0);
	CHECK(state_task_def(s, "web", tk) == NULL);

	/* lifting */
	CHECK_INT(state_set_pin(s, "web", tk, NULL), 0);
	CHECK_INT(state_pin(s, "web", tk, &pin), 0);
	CHECK_INT(state_set_pause(s, NULL, NULL, NULL), 0);
	CHECK_INT(state_pause(s, NULL, NULL, &p), 0);
	state_free(s);
	rm_rf(dir);
}

static void count_expired(const char *watch, const char *tkey, void *ud)
{
	char *seen = ud;
	size_t n = strlen(seen);

	snprintf(seen + n, 256 - n, "%s|%s;", watch ? watch : "*", tkey ? tkey : "-");
}

/* Expiry lifts exactly the pauses due and says the next one; a pause without until stays. */
TEST(state_pauses_expire)
{
	char *dir = tmpdir(), why[256], seen[256] = "";
	struct state *s = NULL;
	struct state_pause p;

	if (!dir)
		return;
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	struct state_pause a = { "a", 100, { 0, 1, 1 } };
	struct state_pause b = { "b", 300, { 0, 1, 1 } };
	struct state_pause c = { "c", 0, { 0, 1, 1 } };
	CHECK_INT(state_set_pause(s, NULL, NULL, &b), 0);
	CHECK_INT(state_set_pause(s, "w", NULL, &a), 0);
	CHECK_INT(state_set_pause(s, "w", "t1", &c), 0);
	CHECK_INT(state_set_pause(s, "w", "t2", &a), 0);
	CHECK(state_expire_pauses(s, 50, count_expired, seen) == 100);
	CHECK_STR(seen, "");
	CHECK(state_expire_pauses(s, 100, count_expired, seen) == 300);
	CHECK_STR(seen, "w|-;w|t2;");
	CHECK_INT(state_pause(s, "w", NULL, &p), 0);
	CHECK_INT(state_pause(s, "w", "t1", &p), 1);
	seen[0] = '\0';
	CHECK(state_expire_pauses(s, 1000, count_expired, seen) == 0);
	CHECK_STR(seen, "*|-;");
	state_free(s);
	rm_rf(dir);
}

/* A pin with a bad digest is refused at load; a pause of the wrong shape stays a pause, without an
 * end (dropping it would let the target deploy); both said. */
TEST(state_bad_overrides_are_dropped_or_kept_paused)
{
	char *dir = tmpdir(), path[128], why[256], *warning = NULL;
	struct state *s = NULL;
	struct state_pause p;
	struct state_pin pin;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	put(path, "{\"version\":1,\"frozen\":{\"reason\":5},\"watches\":{\"web\":{\"pause\":"
		  "{\"reason\":\"ok\",\"until\":5},\"targets\":{\"t\":{\"pin\":{\"digest\":"
		  "\"sha256:bad\"},\"pause\":[]}}}}}");
	CHECK_INT(state_open(dir, &s, &warning, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK(warning && strstr(warning, "a target's pin") && strstr(warning, "invalid pause") &&
	      strstr(warning, "kept as a pause without an end"));
	CHECK_INT(state_pause(s, NULL, NULL, &p), 1);
	CHECK(p.until == 0 && !strcmp(p.reason, "an unreadable pause in state.json"));
	CHECK_INT(state_pause(s, "web", NULL, &p), 1);
	CHECK(p.until == 5 && !strcmp(p.reason, "ok"));
	CHECK_INT(state_pause(s, "web", "t", &p), 1);
	CHECK(p.until == 0);
	CHECK_INT(state_pin(s, "web", "t", &pin), 0);
	free(warning);
	state_free(s);
	rm_rf(dir);
}

/* An undo mark puts the state back as it was (the operator's change whose save failed). */
TEST(state_undo_restores)
{
	char *dir = tmpdir(), why[256];
	struct state *s = NULL;
	struct state_pin pin;

	if (!dir)
		return;
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK_INT(state_set_deployed(s, "w", "t", D1), 0);
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	struct state_undo *u = state_undo_mark(s);
	CHECK(u != NULL);
	struct state_pin pn = { D2, NULL, { 0, 1, 1 } };
	CHECK_INT(state_set_pin(s, "w", "t", &pn), 0);
	CHECK(state_dirty(s));
	state_undo(s, u);
	CHECK(!state_dirty(s));
	CHECK_INT(state_pin(s, "w", "t", &pin), 0);
	CHECK_STR(state_deployed(s, "w", "t"), D1);
	/* the index was rebuilt: a new watch entry works */
	CHECK_INT(state_set_deployed(s, "w2", "t", D2), 0);
	CHECK_STR(state_deployed(s, "w2", "t"), D2);
	state_free(s);
	rm_rf(dir);
}

TEST(state_record_of_strategy_codedeploy)
{
	/* A codedeploy record at every written step of its own loads back with its keys; one
	 * without what its step needs is refused, naming the key. */
	const char *base =
	    "{\"version\": 3, \"digest\": \"" D1 "\", \"image\": \"r\","
	    " \"cluster\": \"c\", \"service\": \"s\", \"region\": \"us-east-1\","
	    " \"containers\": [\"app\"], \"base_td\": \"td:1\", \"new_td\": \"td:2\","
	    " \"strategy\": \"codedeploy\", \"cd_application\": \"app\","
	    " \"cd_group\": \"grp\", \"cd_token\": \"0123456789abcdef\","
	    " \"cd_container\": \"web\", \"cd_port\": 8080, \"cd_discovered\": true,"
	    " \"cd_network\": \"{\\\"AwsvpcConfiguration\\\":{\\\"Subnets\\\":[]}}\","
	    " \"cd_create_sent_at\": 1700000000, \"cd_deployment_id\": \"d-ABC\","
	    " \"rollback_deployment_id\": \"d-RB\", \"cd_rb_token\": "
	    "\"fedcba9876543210\", \"rollback_by\": \"codedeploy\", \"step\": ";
	const char *steps[] = { "creating", "cd-tracking", "cd-stopping", "cd-rollback-tracking",
				"cd-rolling-back" };
	char doc[2048], why[300];

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		snprintf(doc, sizeof(doc), "%s\"%s\"}", base, steps[i]);
		cJSON *o = cJSON_Parse(doc), *again = NULL;
		struct rollout_rec *r = NULL;
		CHECK(o != NULL);
		CHECK_INT(state_record_from_json(o, "w", "t", &r, why, sizeof(why)), 0);
		if (!r) {
			unit_fail(__FILE__, __LINE__, "%s: %s", steps[i], why);
			cJSON_Delete(o);
			continue;
		}
		CHECK_STR(record_step_name(r->step), steps[i]);
		CHECK(record_is_codedeploy(r) && record_pins(r) && !record_is_revision(r));
		CHECK_STR(r->cd_application, "app");
		CHECK_STR(r->cd_group, "grp");
		CHECK_STR(r->cd_token, "0123456789abcdef");
		CHECK_INT(r->cd_port, 8080);
		CHECK(r->cd_discovered);
		CHECK(r->rollback_by == ROLLBACK_BY_CODEDEPLOY);
		CHECK(r->cd_create_sent_at == 1700000000.0);
		CHECK(state_record_to_json(r, &again) == 0);
		struct rollout_rec *back = NULL;
		CHECK(again &&
		      state_record_from_json(again, "w", "t", &back, why, sizeof(why)) == 0);
		CHECK(back && back->cd_port == 8080 && back->rollback_by == ROLLBACK_BY_CODEDEPLOY);
		record_free(back);
		cJSON_Delete(again);
		record_free(r);
		cJSON_Delete(o);
	}
	const char *bad[][2] = {
		/* a CodeDeploy step in a record of another strategy */
		{ "{\"step\": \"cd-tracking\", \"digest\": \"" D1
		  "\", \"image\": \"r\", \"cluster\": \"c\", \"service\": \"s\", \"region\": "
		  "\"us-east-1\", \"containers\": [\"app\"], \"base_td\": \"td:1\"}",
		  "strategy codedeploy's" },
		/* creating without the token a lost reply is found by */
		{ "{\"step\": \"creating\", \"strategy\": \"codedeploy\", \"digest\": \"" D1
		  "\", \"image\": \"r\", \"cluster\": \"c\", \"service\": \"s\", \"region\": "
		  "\"us-east-1\", \"containers\": [\"app\"], \"base_td\": \"td:1\", "
		  "\"cd_application\": \"a\", \"cd_group\": \"g\"}",
		  "cd_token" },
		{ "{\"step\": \"creating\", \"strategy\": \"codedeploy\", \"digest\": \"" D1
		  "\", \"image\": \"r\", \"cluster\": \"c\", \"service\": \"s\", \"region\": "
		  "\"us-east-1\", \"containers\": [\"app\"], \"base_td\": \"td:1\", "
		  "\"cd_application\": \"a\", \"cd_group\": \"g\", \"cd_token\": \"../../etc\"}",
		  "cd_token" },
		/* tracking without the deployment id */
		{ "{\"step\": \"cd-tracking\", \"strategy\": \"codedeploy\", \"digest\": \"" D1
		  "\", \"image\": \"r\", \"cluster\": \"c\", \"service\": \"s\", \"region\": "
		  "\"us-east-1\", \"containers\": [\"app\"], \"base_td\": \"td:1\", "
		  "\"cd_application\": \"a\", \"cd_group\": \"g\", \"cd_token\": "
		  "\"0123456789abcdef\"}",
		  "cd_deployment_id" },
		{ "{\"step\": \"cd-rollback-tracking\", \"strategy\": \"codedeploy\", \"digest\": "
		  "\"" D1
		  "\", \"image\": \"r\", \"cluster\": \"c\", \"service\": \"s\", \"region\": "
		  "\"us-east-1\", \"containers\": [\"app\"], \"base_td\": \"td:1\", "
		  "\"cd_application\": \"a\", \"cd_group\": \"g\", \"cd_token\": "
		  "\"0123456789abcdef\"}",
		  "rollback_deployment_id" },
		/* a deployment id that is not one CodeDeploy gives (it is logged and sent) */
		{ "{\"step\": \"cd-tracking\", \"strategy\": \"codedeploy\", \"digest\": \"" D1
		  "\", \"image\": \"r\", \"cluster\": \"c\", \"service\": \"s\", \"region\": "
		  "\"us-east-1\", \"containers\": [\"app\"], \"base_td\": \"td:1\", "
		  "\"cd_application\": \"a\", \"cd_group\": \"g\", \"cd_token\": "
		  "\"0123456789abcdef\", \"cd_deployment_id\": \"d-X\\\" \\nMESSAGE_ID=1\"}",
		  "cd_deployment_id 'd-X\" \\nMESSAGE_ID=1'" },
		{ "{\"step\": \"start\", \"strategy\": \"codedeploy\", \"digest\": \"" D1
		  "\", \"image\": \"r\", \"cluster\": \"c\", \"service\": \"s\", \"region\": "
		  "\"us-east-1\", \"containers\": [\"app\"], \"cd_port\": 70000}",
		  "cd_port" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *o = cJSON_Parse(bad[i][0]);
		struct rollout_rec *r = NULL;
		CHECK(o != NULL);
		CHECK_INT(state_record_from_json(o, "w", "t", &r, why, sizeof(why)), -EINVAL);
		CHECK(r == NULL);
		if (!strstr(why, bad[i][1]))
			unit_fail(__FILE__, __LINE__, "row %zu: %s", i, why);
		cJSON_Delete(o);
	}
}

/* The file's text with the value of "written_at" (a save's time) made "X". */
static char *without_written_at(const char *file)
{
	const char *key = "\"written_at\":\"";
	size_t n = strlen(file), at = strstr(file, key) ? (size_t)(strstr(file, key) - file) : n;
	size_t end = at < n ? strcspn(file + at + 14, "\"") + at + 14 : n;
	char *t = malloc(n + 2);

	if (t)
		snprintf(t, n + 2, "%.*s%s%s", (int)(at < n ? at + 14 : n), file, at < n ? "X" : "",
			 file + end);
	return t;
}

static char *read_text(const char *path)
{
	char *text = NULL;
	size_t len;

	return state_file_read(path, 1 << 24, &text, &len) == 0 ? text : NULL;
}

/*
 * A state file that an older ecr-deployd or a human wrote, with sightings in every form (canonical,
 * with a pick, members in another order or added, times that are not the writer's, a tag twice, a
 * watch twice, "Tags" next to "tags", "tags" after "targets"), is written back byte for byte, and
 * each sighting reads as a cJSON tree read it.
 */
/*
 * Saves s after a change that changes no content (a pause of watch set and lifted) and checks that
 * the file at path holds the watches of text (a state file's, "written_at" last) as they were
 * read; the header around them is the snapshot's (version, generation). Returns the file's text
 * without "written_at" (free it), or NULL.
 */
static char *saved_as_read(struct state *s, const char *watch, const char *path, const char *text)
{
	struct state_pause p = { "x", 0, { 0, 0, 0 } };
	char why[256];

	CHECK_INT(state_set_pause(s, watch, NULL, &p), 0);
	CHECK_INT(state_set_pause(s, watch, NULL, NULL), 0);
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	char *got = read_text(path), *norm = got ? without_written_at(got) : NULL;
	const char *from = strstr(text, "\"watches\":"), *to = strstr(text, ",\"written_at\"");
	char *watches = from && to ? strndup(from, (size_t)(to - from)) : NULL;
	CHECK(norm && watches && strstr(norm, watches));
	if (norm && watches && !strstr(norm, watches))
		fprintf(stderr, "got  %s\nwant %s\n", norm, watches);
	free(watches);
	free(got);
	return norm;
}

TEST(state_sightings_print_back_as_read)
{
	char *dir = tmpdir(), why[256], path[128];
	struct state *s = NULL;
	char *warn = NULL;
	static const char text[] =
	    "{\"version\":1,\"reset_at\":\"2026-01-01T00:00:00Z\",\"watches\":{"
	    "\"web\":{\"targets\":{\"t\":{\"deployed\":\"" D1 "\"}},\"tags\":{"
	    "\"prod\":{\"digest\":\"" D1 "\",\"seen_at\":\"2026-01-02T03:04:05Z\"},"
	    "\"*\":{\"digest\":\"" D2
	    "\",\"tag\":\"v1 \\\"\\u0001\\n\",\"seen_at\":\"2026-01-02T03:04:05Z\"},"
	    "\"a\":{\"seen_at\":\"2026-01-02T03:04:05Z\",\"digest\":\"" D1 "\"},"
	    "\"b\":{\"digest\":\"" D1 "\",\"seen_at\":\"2026-02-30T03:04:05Z\"},"
	    "\"c\":{\"digest\":\"" D1 "\",\"seen_at\":1.5,\"extra\":[1,{\"x\":null}]},"
	    "\"d\":{\"digest\":\"" D2 "\"},"
	    "\"prod\":{\"digest\":\"" D2 "\",\"seen_at\":\"2026-01-02T03:04:05Z\"},"
	    "\"e\\t\\\"\\\\\":{\"Digest\":\"x\",\"digest\":\"" D2
	    "\",\"seen_at\":\"2026-01-02T03:04:05Z\"}"
	    "},\"want\":{\"tag\":\"prod\",\"digest\":\"" D1 "\",\"image\":\"r\"}},"
	    "\"twice\":{\"tags\":{\"first\":{\"digest\":\"" D1
	    "\",\"seen_at\":\"2026-01-02T03:04:05Z\"}}},"
	    "\"cased\":{\"Tags\":{\"x\":{\"digest\":\"" D1
	    "\",\"seen_at\":\"2026-01-02T03:04:05Z\"}},"
	    "\"tags\":{\"y\":{\"digest\":\"" D2 "\",\"seen_at\":\"2026-01-02T03:04:05Z\"}}},"
	    "\"empty\":{\"tags\":{}},"
	    "\"twice\":{\"pause\":{\"reason\":\"r\",\"uid\":1,\"pid\":2,\"at\":3},"
	    "\"tags\":{\"second\":{\"digest\":\"" D2 "\",\"seen_at\":\"2026-01-02T03:04:05Z\"}}}"
	    "},\"written_at\":\"X\"}";

	snprintf(path, sizeof(path), "%s/state.json", dir);
	put(path, text);
	CHECK_INT(state_open(dir, &s, &warn, why, sizeof(why)), 0);
	CHECK(warn == NULL);
	if (!s)
		return;
	CHECK_STR(state_seen(s, "web", "prod"), D1); /* the first of two */
	CHECK_STR(state_seen(s, "web", "a"), D1);
	CHECK_STR(state_seen(s, "web", "d"), D2);
	CHECK_STR(state_seen(s, "web", "e\t\"\\"), "x"); /* (cJSON_GetObjectItem() ignores case) */
	CHECK_STR(state_seen_tag(s, "web"), "v1 \"\x01\n");
	CHECK(state_seen(s, "twice", "first") == NULL); /* the last of a watch listed twice */
	CHECK_STR(state_seen(s, "twice", "second"), D2);
	CHECK_STR(state_seen(s, "cased", "x"), D1); /* the first "tags" whatever its case */
	CHECK(state_seen(s, "cased", "y") == NULL);
	CHECK(state_seen(s, "empty", "x") == NULL);
	CHECK(state_seen_tag(s, "empty") == NULL);
	CHECK(!state_dirty(s));
	char *norm = saved_as_read(s, "web", path, text);
	CHECK(norm && strstr(norm, "\"reset_at\":\"2026-01-01T00:00:00Z\""));
	free(norm);
	char *got;
	/* a sighting replaces the first "prod" in place, and "x" of "cased" goes to its "Tags" */
	CHECK_INT(state_set_seen(s, "web", "prod", D2, NULL), 0);
	CHECK_INT(state_set_seen(s, "cased", "x", D2, NULL), 0);
	CHECK_INT(state_set_seen(s, "twice", "new", D1, NULL), 0);
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	state_free(s);
	got = read_text(path);
	cJSON *o = got ? cJSON_Parse(got) : NULL, *ws = cJSON_GetObjectItem(o, "watches");
	const cJSON *web = cJSON_GetObjectItem(cJSON_GetObjectItem(ws, "web"), "tags");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(web->child, "digest")), D2);
	CHECK_STR(web->child->string, "prod");
	CHECK_STR(
	    cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetObjectItem(web, "prod")->next->next->next->next->next->next, "digest")),
	    D2);
	const cJSON *cased = cJSON_GetObjectItem(ws, "cased");
	CHECK_STR(cased->child->string, "Tags");
	CHECK_STR(cJSON_GetStringValue(
		      cJSON_GetObjectItem(cJSON_GetObjectItem(cased->child, "x"), "digest")),
		  D2);
	CHECK(strstr(got, "\"twice\":{\"tags\":{\"first\":") != NULL); /* the first, as read */
	CHECK(strstr(got,
		     "\"tags\":{\"second\":{\"digest\":\"" D2
		     "\",\"seen_at\":\"2026-01-02T03:04:05Z\"},\"new\":{\"digest\":\"" D1) != NULL);
	cJSON_Delete(o);
	free(got);
	rm_rf(dir);
}

/* A want is held compactly when it has the form the daemon writes; any other form is kept as read.
 * Both print back as they were read, each where it was among the watch's members. */
TEST(state_wants_print_back_as_read)
{
	char *dir = tmpdir(), why[256], path[128];
	struct state *s = NULL;
	struct state_want want;
	static const char text[] =
	    "{\"version\":1,\"watches\":{"
	    "\"a\":{\"targets\":{\"t\":{\"deployed\":\"" D1 "\"}},"
	    "\"want\":{\"tag\":\"v \\\"\\u0001\\n\",\"digest\":\"" D1
	    "\",\"image\":\"r\\\\\",\"previous\":\"" D2 "\"},\"tags\":{}},"
	    "\"b\":{\"want\":{\"tag\":\"t\",\"digest\":\"" D1 "\",\"image\":\"r\",\"note\":[1]}},"
	    "\"c\":{\"want\":{\"digest\":\"" D2 "\",\"image\":\"r/c\"}},"
	    "\"d\":{\"want\":{\"digest\":\"" D2 "\",\"tag\":\"x\",\"image\":\"r/d\"}},"
	    "\"e\":{\"want\":{\"tag\":\"x\",\"digest\":\"" D2
	    "\",\"image\":\"r/e\",\"previous\":\"\"}},"
	    "\"f\":{\"want\":{\"tag\":\"x\",\"digest\":\"" D2 "\"}}"
	    "},\"written_at\":\"X\"}";

	snprintf(path, sizeof(path), "%s/state.json", dir);
	put(path, text);
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK(state_want(s, "a", &want));
	CHECK_STR(want.tag, "v \"\x01\n");
	CHECK_STR(want.digest, D1);
	CHECK_STR(want.image, "r\\");
	CHECK_STR(want.previous, D2);
	CHECK(state_want(s, "b", &want)); /* another member: as read */
	CHECK_STR(want.tag, "t");
	CHECK_STR(want.previous, "");
	CHECK(state_want(s, "c", &want)); /* no tag */
	CHECK(want.tag == NULL);
	CHECK_STR(want.image, "r/c");
	CHECK(state_want(s, "d", &want)); /* another order */
	CHECK_STR(want.tag, "x");
	CHECK(state_want(s, "e", &want)); /* a previous that is no digest: none */
	CHECK_STR(want.previous, "");
	CHECK(!state_want(s, "f", &want)); /* no image: nothing wanted */
	CHECK(!state_want(s, "none", &want));
	CHECK(state_want(s, "a", NULL) && state_want(s, "b", NULL) && !state_want(s, "f", NULL));
	/* what is already wanted changes nothing */
	CHECK_INT(state_set_want(s, "a", "v \"\x01\n", D1, "r\\"), 0);
	CHECK_INT(state_set_want(s, "b", "t", D1, "r"), 0);
	CHECK(!state_dirty(s));
	free(saved_as_read(s, "a", path, text));
	char *got;
	/* a new want replaces one of any form, in its place; the one before is its previous */
	CHECK_INT(state_set_want(s, "b", "u", D2, "r"), 1);
	CHECK_INT(state_set_want(s, "c", "v", D1, "r/c"), 1);
	CHECK_INT(state_set_want(s, "g", "w", D1, "r/g"), 1);
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	state_free(s);
	s = NULL;
	got = read_text(path);
	CHECK(got && strstr(got, "\"b\":{\"want\":{\"tag\":\"u\",\"digest\":\"" D2
				 "\",\"image\":\"r\",\"previous\":\"" D1 "\"}}"));
	CHECK(got && strstr(got, "\"c\":{\"want\":{\"tag\":\"v\",\"digest\":\"" D1
				 "\",\"image\":\"r/c\",\"previous\":\"" D2 "\"}}"));
	CHECK(got && strstr(got, "\"g\":{\"want\":{\"tag\":\"w\",\"digest\":\"" D1
				 "\",\"image\":\"r/g\"}}"));
	free(got);
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	CHECK(s && state_want(s, "b", &want));
	CHECK_STR(want.previous, D1);
	state_free(s);
	rm_rf(dir);
}

/* A want read as something other than an object: a new one takes its place, and an undo brings
 * the new one back whole (it is written where the record prints). */
TEST(state_want_that_is_not_an_object_is_replaced)
{
	char *dir = tmpdir(), why[256], path[128];
	struct state *s = NULL;
	struct state_want want;

	snprintf(path, sizeof(path), "%s/state.json", dir);
	put(path, "{\"version\":1,\"watches\":{\"n\":{\"want\":null},\"t\":{\"want\":\"x\"},"
		  "\"l\":{\"want\":[1]}}}");
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	const char *names[] = { "n", "t", "l" };
	for (size_t i = 0; i < 3; i++) {
		CHECK(!state_want(s, names[i], NULL));
		CHECK_INT(state_set_want(s, names[i], "prod", D1, "r"), 1);
	}
	struct state_undo *u = state_undo_mark(s);
	CHECK(u != NULL);
	CHECK_INT(state_set_want(s, "n", "prod", D2, "r"), 1);
	state_undo(s, u);
	for (size_t i = 0; i < 3; i++) {
		CHECK(state_want(s, names[i], &want));
		CHECK_STR(want.digest, D1);
		CHECK_INT(state_set_want(s, names[i], "prod", D1, "r"), 0);
	}
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	state_free(s);
	char *got = read_text(path);
	for (size_t i = 0; i < 3; i++) {
		char one[300];
		snprintf(one, sizeof(one),
			 "\"%s\":{\"want\":{\"tag\":\"prod\",\"digest\":\"" D1
			 "\",\"image\":\"r\"}}",
			 names[i]);
		CHECK(got && strstr(got, one));
	}
	free(got);
	rm_rf(dir);
}

TEST(state_undo_restores_sightings)
{
	char *dir = tmpdir(), why[256], tag[32];
	struct state *s = NULL;

	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	for (int i = 0; i < 40; i++) {
		snprintf(tag, sizeof(tag), "t%d", i);
		CHECK_INT(state_set_seen(s, "w", tag, D1, NULL), 0);
	}
	CHECK_INT(state_set_seen(s, "w", "*", D1, "v1"), 0);
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	struct state_undo *u = state_undo_mark(s);
	CHECK(u != NULL);
	CHECK_INT(state_set_seen(s, "w", "t3", D2, NULL), 0);
	CHECK_INT(state_set_seen(s, "w", "*", D2, "v2"), 0);
	CHECK_INT(state_set_seen(s, "w", "t99", D2, NULL), 0);
	CHECK_INT(state_set_seen(s, "new", "t", D2, NULL), 0);
	CHECK_STR(state_seen(s, "w", "t3"), D2);
	state_undo(s, u);
	CHECK(!state_dirty(s));
	CHECK_STR(state_seen(s, "w", "t3"), D1);
	CHECK_STR(state_seen_tag(s, "w"), "v1");
	CHECK(state_seen(s, "w", "t99") == NULL);
	CHECK(state_seen(s, "new", "t") == NULL);
	for (int i = 0; i < 40; i++) {
		snprintf(tag, sizeof(tag), "t%d", i);
		CHECK_STR(state_seen(s, "w", tag), D1);
	}
	/* what the readers return may be given back (state_seen()'s buffer is s's) */
	CHECK_INT(state_set_seen(s, "w", "copy", state_seen(s, "w", "t5"), state_seen_tag(s, "w")),
		  0);
	CHECK_STR(state_seen(s, "w", "copy"), D1);
	CHECK_INT(state_set_seen(s, "w", "t5", state_seen(s, "w", "t3"), NULL), 0); /* no change */
	/* and on from there */
	CHECK_INT(state_set_seen(s, "w", "t3", D2, NULL), 0);
	CHECK_STR(state_seen(s, "w", "t3"), D2);
	state_undo_free(state_undo_mark(s));
	state_undo_free(NULL);
	state_free(s);
	rm_rf(dir);
}

/* A watch's record is found again by name without the index (find_rec()'s last one): an undo, which
 * rebuilds the index and frees every record, must not leave a lookup on the freed one (under the
 * sanitizer a use after free; else the sighting made after the mark). */
TEST(state_lookup_after_the_index_is_rebuilt)
{
	char *dir = tmpdir(), why[256];
	struct state *s = NULL;

	if (!dir)
		return;
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK_INT(state_set_seen(s, "w", "t", D1, NULL), 0);
	CHECK_INT(state_set_seen(s, "v", "t", D2, NULL), 0);
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	struct state_undo *u = state_undo_mark(s);
	CHECK(u != NULL);
	CHECK_INT(state_set_seen(s, "w", "t", D2, NULL), 0);
	CHECK_INT(state_seen_is(s, "w", "t", D2), 1); /* "w"'s record is the last one found */
	state_undo(s, u);
	CHECK_INT(state_seen_is(s, "w", "t", D1), 1);
	CHECK_STR(state_seen(s, "w", "t"), D1);
	CHECK_STR(state_seen(s, "v", "t"), D2);
	CHECK_INT(state_seen_is(s, "w", "t", D1), 1);
	CHECK(state_seen(s, "x", "t") == NULL);
	state_free(s);
	rm_rf(dir);
}

static char *state_text(const char *dir)
{
	char path[256];
	static char text[1 << 16];

	snprintf(path, sizeof(path), "%s/state.json", dir);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f)
		fclose(f);
	text[n] = '\0';
	return text;
}

/* The member names a watch repeats are held once (common_names[]): members replaced, removed,
 * written, read back, copied for an undo and freed keep their names and values (under ASan, no
 * name freed that was not allocated, none leaked). */
TEST(state_common_member_names_round_trip)
{
	char *dir = tmpdir(), why[256];
	struct state *s = NULL;

	if (!dir)
		return;
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK_INT(state_set_seen(s, "w", "t0", D1, NULL), 0);
	CHECK_INT(state_set_want(s, "w", "t0", D1, "r/x"), 1);
	CHECK_INT(state_set_want(s, "w", "t0", D1, "r/x"), 0); /* the same: nothing changes */
	CHECK_INT(state_set_want(s, "w", "t1", D2, "r/x"), 1); /* replaced: "previous" */
	CHECK_INT(state_set_want(s, "w", "t1", "sha256:not-one", "r/x"), -EINVAL);
	CHECK_INT(state_set_deployed_td(s, "w", "c/s/app", D1, "arn:td:1"), 0);
	CHECK_INT(state_set_deployed(s, "w", "c/s/app", D2), 0); /* task_definition removed */
	CHECK_INT(state_set_held(s, "w", "c/s/app", D1), 0);
	CHECK_INT(state_set_held(s, "w", "c/s/app", D2), 0);
	CHECK_INT(state_add_failed(s, "w", "c/s/app", D1, "why", 5), 0);
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	char *first = strdup(state_text(dir));
	state_free(s);
	s = NULL;

	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s) {
		free(first);
		return;
	}
	struct state_want want;
	CHECK(state_want(s, "w", &want));
	CHECK_STR(want.digest, D2);
	CHECK_STR(want.previous, D1);
	CHECK_STR(want.tag, "t1");
	CHECK_STR(want.image, "r/x");
	CHECK_STR(state_deployed(s, "w", "c/s/app"), D2);
	CHECK(state_task_def(s, "w", "c/s/app") == NULL);
	CHECK_STR(state_held(s, "w", "c/s/app"), D2);
	CHECK(state_failed_has(s, "w", "c/s/app", D1));
	struct state_undo *u = state_undo_mark(s);
	CHECK(u != NULL);
	CHECK_INT(state_set_want(s, "w", "t2", D1, "r/y"), 1);
	CHECK_INT(state_set_deployed_td(s, "w", "c/s/app", D1, "arn:td:2"), 0);
	state_undo(s, u);
	CHECK_STR(state_task_def(s, "w", "c/s/app") ? "set" : "none", "none");
	/* the want is back as it was, its previous with it */
	CHECK(state_want(s, "w", &want));
	CHECK_STR(want.digest, D2);
	CHECK_STR(want.previous, D1);
	CHECK_STR(want.tag, "t1");
	CHECK_STR(want.image, "r/x");
	CHECK_INT(state_set_want(s, "w", "t1", D2, "r/x"), 0);
	CHECK_INT(state_set_want(s, "w", "t2", D1, "r/y"), 1);
	CHECK_INT(state_set_want(s, "w", "t1", D2, "r/x"), 1);
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	state_free(s);
	/* the same state written again, member for member (written_at apart) */
	cJSON *a = cJSON_Parse(first), *b = cJSON_Parse(state_text(dir));
	CHECK(a && b);
	cJSON_DeleteItemFromObject(a, "written_at");
	cJSON_DeleteItemFromObject(b, "written_at");
	cJSON_DeleteItemFromObject(a, "generation");
	cJSON_DeleteItemFromObject(b, "generation");
	CHECK(
	    cJSON_Compare(cJSON_GetObjectItem(a, "watches"), cJSON_GetObjectItem(b, "watches"), 1));
	cJSON_Delete(a);
	cJSON_Delete(b);
	free(first);
	rm_rf(dir);
}

/*
 * A watch of the common form (tags, want, targets of a digest deployed and a task definition, in
 * that order) is held without a cJSON tree, and prints back byte for byte; any other form stays a
 * tree. A compact watch answers and changes as a tree would; what only a tree holds (a failure, a
 * pin, a pause) makes it one, and the undo, a restart and the journal keep every value.
 */
TEST(state_compact_watches_answer_as_trees)
{
	char *dir = tmpdir(), why[256], path[128];
	struct state *s = NULL;
	struct state_want want;
	struct state_pin pin;
	static const char text[] =
	    "{\"version\":1,\"watches\":{"
	    "\"a\":{\"tags\":{\"prod\":{\"digest\":\"" D1
	    "\",\"seen_at\":\"2026-01-02T03:04:05Z\"}},"
	    "\"want\":{\"tag\":\"prod\",\"digest\":\"" D1 "\",\"image\":\"r/a\"},"
	    "\"targets\":{\"t1\":{\"deployed\":\"" D1 "\",\"task_definition\":\"td \\\"1\\u0001\"},"
	    "\"t2\":{\"deployed\":\"" D2 "\"}}},"
	    "\"b\":{\"targets\":{\"t\":{\"deployed\":\"" D1 "\"}},\"tags\":{}},"
	    "\"c\":{\"targets\":{\"t\":{\"deployed\":\"" D1 "\",\"held\":\"" D2 "\"}}},"
	    "\"d\":{\"targets\":{\"t\":{\"deployed\":\"" D1 "\"},\"t\":{\"deployed\":\"" D2 "\"}}},"
	    "\"e\":{\"tags\":{}},"
	    "\"f\":{\"targets\":{\"t\":{\"task_definition\":\"x\",\"deployed\":\"" D1 "\"}}},"
	    "\"g\":{\"targets\":{}},"
	    "\"h\":{\"targets\":{\"t\":{\"deployed\":\"" D1 "\",\"task_definition\":7}}}"
	    "},\"written_at\":\"X\"}";

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	put(path, text);
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK_INT((int)state_compact_watches(s), 4); /* a, b (its order kept), e, g */
	CHECK_STR(state_deployed(s, "a", "t1"), D1);
	CHECK_STR(state_task_def(s, "a", "t1"), "td \"1\x01");
	CHECK_STR(state_deployed(s, "a", "t2"), D2);
	CHECK(state_task_def(s, "a", "t2") == NULL);
	CHECK(state_deployed(s, "a", "t3") == NULL);
	CHECK(state_held(s, "a", "t1") == NULL && !state_failed_has(s, "a", "t1", D1));
	CHECK_STR(state_seen(s, "a", "prod"), D1);
	CHECK(state_want(s, "a", &want));
	CHECK_STR(want.image, "r/a");
	CHECK_STR(state_deployed(s, "d", "t"), D1); /* the first of two */
	CHECK(!state_dirty(s));
	/* written back as read ("b" is made a tree by the pause that makes the save) */
	free(saved_as_read(s, "b", path, text));
	CHECK_INT((int)state_compact_watches(s), 3);

	/* changes of a compact watch: the same answers as a tree's, the watch still compact */
	CHECK_INT(state_set_deployed_td(s, "a", "t2", D1, "td2"), 0);
	CHECK_STR(state_task_def(s, "a", "t2"), "td2");
	CHECK_INT(state_set_deployed(s, "a", "t1", D2), 0); /* a new digest: no task definition */
	CHECK(state_task_def(s, "a", "t1") == NULL);
	CHECK_INT(state_set_deployed_td(s, "a", "t1", D2, "td1"), 0);
	CHECK_INT(state_set_deployed(s, "a", "t1", D2), 0); /* the same digest keeps it */
	CHECK_STR(state_task_def(s, "a", "t1"), "td1");
	CHECK_INT(state_set_deployed(s, "g", "new", D2), 0);
	CHECK_INT(state_set_seen(s, "n", "x", D1, NULL), 0); /* a new watch starts compact */
	CHECK_INT(state_set_want(s, "n", "x", D1, "r/n"), 1);
	CHECK_INT(state_set_deployed_td(s, "n", "t", D1, "tdn"), 0);
	CHECK_INT((int)state_compact_watches(s), 4);
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	char *got = read_text(path);
	CHECK(got &&
	      strstr(got, "\"a\":{\"tags\":{\"prod\":{\"digest\":\"" D1
			  "\",\"seen_at\":\"2026-01-02T03:04:05Z\"}},\"want\":{\"tag\":\"prod\","
			  "\"digest\":\"" D1 "\",\"image\":\"r/a\"},\"targets\":{\"t1\":{"
			  "\"deployed\":\"" D2 "\",\"task_definition\":\"td1\"},\"t2\":{"
			  "\"deployed\":\"" D1 "\",\"task_definition\":\"td2\"}}}"));
	CHECK(got && strstr(got, "\"g\":{\"targets\":{\"new\":{\"deployed\":\"" D2 "\"}}}"));
	CHECK(got && strstr(got, "\"n\":{\"tags\":{\"x\":{\"digest\":\"" D1));
	CHECK(got && strstr(got, "\"want\":{\"tag\":\"x\",\"digest\":\"" D1
				 "\",\"image\":\"r/n\"},\"targets\":{\"t\":{\"deployed\":\"" D1
				 "\",\"task_definition\":\"tdn\"}}}"));
	free(got);

	/* an undo brings back the compact watch as it was */
	struct state_undo *u = state_undo_mark(s);
	CHECK(u != NULL);
	CHECK_INT(state_set_deployed(s, "n", "t", D2), 0);
	CHECK_INT(state_set_want(s, "n", "y", D2, "r/n"), 1);
	CHECK_INT(state_add_failed(s, "n", "t", D1, "r", 1), 0);
	state_undo(s, u);
	CHECK_STR(state_deployed(s, "n", "t"), D1);
	CHECK_STR(state_task_def(s, "n", "t"), "tdn");
	CHECK(state_want(s, "n", &want));
	CHECK_STR(want.digest, D1);
	CHECK(!state_failed_has(s, "n", "t", D1));
	CHECK_STR(state_seen(s, "n", "x"), D1);
	CHECK_INT((int)state_compact_watches(s), 5); /* "b" too: the undo's index takes it again */

	/* what only a tree holds makes the watch one, its values kept */
	CHECK_INT(state_add_failed(s, "a", "t1", D1, "broken", 5), 0);
	CHECK(state_failed_has(s, "a", "t1", D1));
	CHECK_STR(state_deployed(s, "a", "t1"), D2);
	CHECK_STR(state_task_def(s, "a", "t2"), "td2");
	struct state_pin pn = { D1, "prod", { 1, 2, 3 } };
	CHECK_INT(state_set_pin(s, "n", "t", &pn), 0);
	CHECK_INT(state_pin(s, "n", "t", &pin), 1);
	CHECK_STR(state_deployed(s, "n", "t"), D1);
	CHECK_INT(state_set_deployed(s, "g", "new", ""), 0); /* no digest: a tree holds it */
	CHECK_STR(state_deployed(s, "g", "new"), "");
	CHECK_INT((int)state_compact_watches(s), 2); /* b, e */
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	state_free(s);
	s = NULL;
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK(state_failed_has(s, "a", "t1", D1));
	CHECK_STR(state_deployed(s, "a", "t1"), D2);
	CHECK_STR(state_task_def(s, "a", "t1"), "td1");
	CHECK_STR(state_seen(s, "a", "prod"), D1);
	CHECK_INT(state_pin(s, "n", "t", &pin), 1);
	CHECK_STR(state_task_def(s, "n", "t"), "tdn");
	/* the pin lifted, "n" is of the common form again at the next load */
	CHECK_INT(state_set_pin(s, "n", "t", NULL), 0);
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	state_free(s);
	s = NULL;
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK_INT((int)state_compact_watches(s), 3); /* b, e, n */
	CHECK_STR(state_task_def(s, "n", "t"), "tdn");
	state_free(s);
	rm_rf(dir);
}

/*
 * The watches of a hand-made file whose "watches" is spelt in another case are read (cJSON's
 * lookup ignores case) and written back whole, compact ones included; and a text the state
 * returned may be given back to a setter that makes its watch a tree (which frees that text).
 */
TEST(state_compact_watches_other_case_and_aliased_texts)
{
	char *dir = tmpdir(), why[256], path[128];
	struct state *s = NULL;
	struct state_pin pin = { NULL, NULL, { 1, 2, 3 } };

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	put(path,
	    "{\"version\":1,\"Watches\":{\"a\":{\"targets\":{\"t\":{\"deployed\":\"" D1 "\"}}}}}");
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK_STR(state_deployed(s, "a", "t"), D1);
	CHECK_INT((int)state_compact_watches(s), 1);
	CHECK_INT(state_set_deployed(s, "a", "u", D2), 0);
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	state_free(s);
	s = NULL;
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	CHECK_STR(state_deployed(s, "a", "t"), D1);
	CHECK_STR(state_deployed(s, "a", "u"), D2);
	/* texts of the compact watch given to setters that make it a tree */
	CHECK_INT(state_set_held(s, "a", "u", state_deployed(s, "a", "t")), 0);
	CHECK_STR(state_held(s, "a", "u"), D1);
	CHECK_INT(state_set_deployed(s, "b", "t", D2), 0);
	CHECK_INT(state_add_failed(s, "b", "t", state_deployed(s, "b", "t"), "r", 1), 0);
	CHECK(state_failed_has(s, "b", "t", D2));
	CHECK_INT(state_set_deployed(s, "c", "t", D1), 0);
	pin.digest = state_deployed(s, "c", "t");
	CHECK_INT(state_set_pin(s, "c", "t", &pin), 0);
	struct state_pin got;
	CHECK_INT(state_pin(s, "c", "t", &got), 1);
	CHECK_STR(got.digest, D1);
	CHECK_INT(state_set_deployed_td(s, "d", "t", D1, "td"), 0);
	struct state_pause p = { state_task_def(s, "d", "t"), 0, { 1, 2, 3 } };
	CHECK_INT(state_set_pause(s, "d", NULL, &p), 0);
	struct state_pause gp;
	CHECK_INT(state_pause(s, "d", NULL, &gp), 1);
	CHECK_STR(gp.reason, "td");
	state_free(s);
	rm_rf(dir);
}

/*
 * A digest a hand-made file lists twice, or in another case, is checked each time: whichever one
 * a reader finds (cJSON's lookups find the first, some ignoring case) is a digest or nothing.
 */
TEST(state_bad_digests_listed_twice_or_in_another_case_are_refused)
{
	char *dir = tmpdir(), why[256], path[128];
	struct state *s = NULL;
	char *warn = NULL;
	struct state_pin pin;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	put(path, "{\"version\":1,\"watches\":{\"web\":{\"targets\":{"
		  "\"t1\":{\"held\":\"sha256:bad\",\"held\":\"sha256:2222\",\"Deployed\":\"x\","
		  "\"deployed\":\"" D1 "\"},"
		  "\"t2\":{\"held\":\"" D2 "\",\"held\":\"sha256:bad\","
		  "\"pin\":{\"Digest\":\"sha256:bad\",\"digest\":\"" D1 "\"}}}}}}");
	CHECK_INT(state_open(dir, &s, &warn, why, sizeof(why)), 0);
	CHECK(warn && strstr(warn, "sha256:2222") && strstr(warn, "sha256:bad"));
	if (!s)
		return;
	CHECK(state_held(s, "web", "t1") == NULL);
	CHECK_STR(state_deployed(s, "web", "t1"), D1);
	CHECK_STR(state_held(s, "web", "t2"), D2);
	CHECK_INT(state_pin(s, "web", "t2", &pin), 0); /* a pin with a bad digest goes whole */
	CHECK_INT(state_save(s, why, sizeof(why)), 0);
	state_free(s);
	s = NULL;
	free(warn);
	warn = NULL;
	CHECK_INT(state_open(dir, &s, &warn, why, sizeof(why)), 0);
	CHECK(warn == NULL); /* what was refused is no longer in the file */
	if (s) {
		CHECK(state_held(s, "web", "t1") == NULL);
		CHECK_STR(state_held(s, "web", "t2"), D2);
	}
	free(warn);
	state_free(s);
	rm_rf(dir);
}

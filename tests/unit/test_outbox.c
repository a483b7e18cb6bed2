/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for daemon/outbox.c without a network: the backoff's bounds and jitter, the start-up
 * read of an outbox directory (good, bad, temporary, foreign, orphaned and expired entries), the
 * backlog bound's drop order, one entry per sink and key, watch-failing once per streak, and the
 * rollout's once-per-kind mask (rollout.c) kept through the record's JSON. Attempts go to a
 * closed local port and the loop is never run, so an attempt started stays in flight.
 */
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl_render.h"
#include "notice.h"
#include "outbox.h"
#include "record.h"
#include "rollout.h"
#include "state.h"
#include "unit.h"

#define D1 "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

TEST(outbox_backoff_bounds)
{
	/* the ceiling doubles from the base up to the cap */
	CHECK_INT(outbox_backoff_ms(1, 1000, 300000, 0.5), 500);
	CHECK_INT(outbox_backoff_ms(2, 1000, 300000, 0.5), 1000);
	CHECK_INT(outbox_backoff_ms(3, 1000, 300000, 0.5), 2000);
	CHECK_INT(outbox_backoff_ms(9, 1000, 300000, 0.5), 128000);
	CHECK_INT(outbox_backoff_ms(10, 1000, 300000, 0.5), 150000); /* capped at 300 s */
	CHECK_INT(outbox_backoff_ms(100000, 1000, 300000, 0.5), 150000);
	/* full jitter: from 0 to just under the ceiling, never outside */
	CHECK_INT(outbox_backoff_ms(1, 1000, 300000, 0.0), 0);
	CHECK(outbox_backoff_ms(1, 1000, 300000, 0.9999999) < 1000);
	CHECK(outbox_backoff_ms(1, 1000, 300000, 1.0) < 1000);
	CHECK_INT(outbox_backoff_ms(1, 1000, 300000, -1.0), 0);
	CHECK(outbox_backoff_ms(30, 1000, 300000, 0.9999999) < 300000);
	CHECK(outbox_backoff_ms(30, 1000, 300000, 0.9999999) >= 299000);
	long lo = 1000000, hi = -1;
	for (int i = 0; i < 1000; i++) {
		long v = outbox_backoff_ms(4, 1000, 300000, (double)i / 1000.0);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	CHECK_INT(lo, 0);
	CHECK(hi >= 7900 && hi < 8000);
}

/* ---- an outbox over a temporary state directory ---- */

struct fixture {
	char dir[64], obdir[128];
	struct ev_loop *loop;
	struct config cfg;
	struct config_sink sink;
	struct outbox *ob;
};

static void fixture_init(struct fixture *f, int max_pending, int concurrency)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ecr-outbox-test-XXXXXX");
	CHECK(mkdtemp(f->dir) != NULL);
	outbox_dir(f->dir, f->obdir, sizeof(f->obdir));
	f->loop = ev_loop_new(EVFLAG_AUTO);
	f->sink.name = "hook";
	f->sink.type = SINK_WEBHOOK;
	f->sink.url = "http://127.0.0.1:1/hook"; /* nothing listens; the loop never runs anyway */
	f->sink.host = "127.0.0.1:1";
	f->sink.kinds = (1u << NOTICE_KIND_COUNT) - 1;
	f->sink.min_severity = SEVERITY_INFO;
	f->sink.max_age_ms = 3600 * 1000;
	f->sink.timeout_ms = 1000;
	f->sink.failing_after_ms = 60 * 1000;
	f->sink.concurrency = concurrency;
	f->sink.max_pending = max_pending;
	f->cfg.sinks = &f->sink;
	f->cfg.n_sinks = 1;
	f->cfg.state_dir = f->dir;
}

static struct outbox *fixture_open(struct fixture *f)
{
	struct outbox_deps deps = {
		.loop = f->loop, .region = "eu-west-1", .state_dir = f->dir, .host = "testhost"
	};
	char why[600] = "";

	f->ob = outbox_new(&deps, &f->cfg, why, sizeof(why));
	if (!f->ob)
		unit_fail(__FILE__, __LINE__, "outbox_new: %s", why);
	return f->ob;
}

static void fixture_done(struct fixture *f)
{
	DIR *d;
	struct dirent *de;
	char path[700];

	outbox_free(f->ob);
	ev_loop_destroy(f->loop);
	d = opendir(f->obdir);
	while (d && (de = readdir(d))) {
		if (*de->d_name == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", f->obdir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(f->obdir);
	rmdir(f->dir);
}

static bool exists(const struct fixture *f, const char *name)
{
	char path[1200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", f->obdir, name);
	return stat(path, &st) == 0;
}

static void put_file(const struct fixture *f, const char *name, const char *text)
{
	char path[1200];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->obdir, name);
	fp = fopen(path, "w");
	CHECK(fp != NULL);
	if (fp) {
		fputs(text, fp);
		fclose(fp);
	}
}

/* A completed-deploy notice whose key is made from i. */
static void make_notice(struct notice *n, int i)
{
	char identity[128];

	memset(n, 0, sizeof(*n));
	n->kind = NOTICE_COMPLETED;
	n->host = "testhost";
	n->time = 1764583200.0 + i;
	n->duration_ms = 1000;
	n->watch = "web";
	n->repository = "team/web";
	n->digest = D1;
	n->service = "web";
	n->cluster = "prod";
	snprintf(identity, sizeof(identity), "acct@eu-west-1/prod/web\n%s\n%d", D1, i);
	notice_make_key(n, identity, "");
}

/* The entry file of n for sink: its name. */
static void entry_name(const struct notice *n, const char *sink, char *out, size_t len)
{
	snprintf(out, len, "%s.%s.json", sink, n->key);
}

static void put_entry(const struct fixture *f, const struct notice *n, const char *sink,
		      double created)
{
	char name[200];
	char *text = notice_entry(n, sink, created);

	CHECK(text != NULL);
	entry_name(n, sink, name, sizeof(name));
	if (text)
		put_file(f, name, text);
	free(text);
}

static struct outbox_sink_status status_of(const struct outbox *ob)
{
	struct outbox_sink_status st[4];

	memset(st, 0, sizeof(st));
	CHECK_INT(outbox_status(ob, st, 4), 1);
	return st[0];
}

TEST(outbox_startup_read)
{
	struct fixture f;
	struct notice good, orphan, old;
	char gname[200], oname[200], xname[200], tmpname[220];
	double now = (double)time(NULL);

	fixture_init(&f, 100, 1);
	CHECK_INT(mkdir(f.obdir, 0700), 0);
	make_notice(&good, 1);
	make_notice(&orphan, 2);
	make_notice(&old, 3);
	put_entry(&f, &good, "hook", now - 10);
	put_entry(&f, &orphan, "gone", now - 10);
	put_entry(&f, &old, "hook", now - 7200); /* older than max_age (1 h) */
	entry_name(&good, "hook", gname, sizeof(gname));
	entry_name(&orphan, "gone", oname, sizeof(oname));
	entry_name(&old, "hook", xname, sizeof(xname));
	put_file(&f, "hook.0123456789abcdef0123456789abcdef.json", "{\"format\": 1, \"sink\":");
	snprintf(tmpname, sizeof(tmpname), "%s.tmp-4242", gname);
	put_file(&f, tmpname, "{\"half");
	put_file(&f, "README", "not an entry");

	if (!fixture_open(&f)) {
		fixture_done(&f);
		return;
	}
	struct outbox_sink_status st = status_of(f.ob);
	CHECK_INT(st.pending, 1);  /* the good one, in flight now */
	CHECK_INT(st.given_up, 1); /* the expired one */
	CHECK(exists(&f, gname));
	CHECK(!exists(&f, xname));
	CHECK(!exists(&f, oname)); /* its sink is gone: dropped */
	CHECK(!exists(&f, "hook.0123456789abcdef0123456789abcdef.json"));
	CHECK(exists(&f, "hook.0123456789abcdef0123456789abcdef.json.bad"));
	CHECK(!exists(&f, tmpname));
	CHECK(exists(&f, "README")); /* not ours: left alone */
	CHECK_STR(st.name, "hook");
	CHECK_STR(st.host, "127.0.0.1:1");
	/* a stop mid-attempt leaves the entry for the next start */
	outbox_free(f.ob);
	f.ob = NULL;
	CHECK(exists(&f, gname));
	fixture_done(&f);
}

TEST(outbox_backlog_drops_oldest_not_in_flight)
{
	struct fixture f;
	struct notice n[5];
	char name[5][200];

	fixture_init(&f, 3, 1);
	if (!fixture_open(&f)) {
		fixture_done(&f);
		return;
	}
	for (int i = 0; i < 5; i++) {
		make_notice(&n[i], 10 + i);
		entry_name(&n[i], "hook", name[i], sizeof(name[i]));
		outbox_post(f.ob, &n[i]);
		CHECK(exists(&f, name[i])); /* written before any attempt */
	}
	struct outbox_sink_status st = status_of(f.ob);
	CHECK_INT(st.pending, 3);
	CHECK_INT(st.dropped, 2);
	CHECK(exists(&f, name[0])); /* in flight: kept */
	CHECK(!exists(&f, name[1]));
	CHECK(!exists(&f, name[2]));
	CHECK(exists(&f, name[3]));
	CHECK(exists(&f, name[4]));
	/* the same notification again: not a second entry */
	outbox_post(f.ob, &n[4]);
	st = status_of(f.ob);
	CHECK_INT(st.pending, 3);
	CHECK_INT(st.dropped, 2);
	fixture_done(&f);
}

TEST(outbox_filter_and_watch_failing_once_per_streak)
{
	struct fixture f;
	struct notice n;

	fixture_init(&f, 100, 1);
	f.sink.kinds = 1u << NOTICE_WATCH_FAILING;
	if (!fixture_open(&f)) {
		fixture_done(&f);
		return;
	}
	make_notice(&n, 1); /* deploy-completed: filtered out */
	outbox_post(f.ob, &n);
	CHECK_INT(status_of(f.ob).pending, 0);
	double t0 = 1764583200.0;
	outbox_polled(f.ob, "team/web", "eu-west-1", false, "AccessDenied: no", t0, NULL, 0);
	outbox_polled(f.ob, "team/web", "eu-west-1", false, "AccessDenied: no", t0 + 30, NULL, 0);
	CHECK_INT(status_of(f.ob).pending, 0); /* failing_after is 1 min */
	outbox_polled(f.ob, "team/web", "eu-west-1", false, "AccessDenied: no", t0 + 61, NULL, 0);
	CHECK_INT(status_of(f.ob).pending, 1);
	outbox_polled(f.ob, "team/web", "eu-west-1", false, "AccessDenied: no", t0 + 120, NULL, 0);
	CHECK_INT(status_of(f.ob).pending, 1); /* once per streak */
	outbox_polled(f.ob, "team/other", "eu-west-1", true, NULL, t0 + 121, NULL, 0);
	outbox_polled(f.ob, "team/web", "eu-west-1", true, NULL, t0 + 130, NULL, 0);
	outbox_polled(f.ob, "team/web", "eu-west-1", false, "Throttled", t0 + 140, NULL, 0);
	outbox_polled(f.ob, "team/web", "eu-west-1", false, "Throttled", t0 + 201, NULL, 0);
	CHECK_INT(status_of(f.ob).pending, 2); /* a new streak, a new key */
	fixture_done(&f);
}

TEST(rollout_notice_once_per_kind)
{
	struct rollout_rec *rec = calloc(1, sizeof(*rec)), *back = NULL;
	cJSON *o = NULL;
	char why[300];

	CHECK(rec != NULL);
	if (!rec)
		return;
	CHECK_INT(rollout_notice_due(rec, NOTICE_STARTED, ""), 1);
	CHECK_INT(rollout_notice_due(rec, NOTICE_STARTED, ""), 0);
	CHECK_INT(rollout_notice_due(rec, NOTICE_FAILED, NULL), 1);
	CHECK_INT(rollout_notice_due(rec, NOTICE_FAILED, NULL), 0);
	CHECK_INT(rollout_notice_due(rec, NOTICE_AWAITING_APPROVAL, "hook-1"), 1);
	CHECK_INT(rollout_notice_due(rec, NOTICE_AWAITING_APPROVAL, "hook-1"), 0);
	CHECK_INT(rollout_notice_due(rec, NOTICE_AWAITING_APPROVAL, "hook-2"), 1);
	CHECK_INT(rollout_notice_due(rec, NOTICE_ROLLED_BACK, ""), 1);
	/* the mask and the hook go through the record's JSON (a restart) */
	rec->step = STEP_START;
	record_set(&rec->watch, "web");
	record_set(&rec->tkey, "acct@eu-west-1/prod/web");
	record_set(&rec->digest, D1);
	record_set(&rec->image, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web");
	record_set(&rec->cluster, "prod");
	record_set(&rec->service, "web");
	record_set(&rec->region, "eu-west-1");
	rec->containers[0] = strdup("app");
	rec->n_containers = 1;
	rec->started_at = 1764583200;
	CHECK_INT(state_record_to_json(rec, &o), 0);
	*why = '\0';
	if (state_record_from_json(o, "web", "acct@eu-west-1/prod/web", &back, why, sizeof(why)) <
	    0)
		unit_fail(__FILE__, __LINE__, "state_record_from_json: %s", why);
	if (back) {
		CHECK_INT(back->notified, rec->notified);
		CHECK_STR(back->notified_hook, "hook-2");
		CHECK_INT(rollout_notice_due(back, NOTICE_STARTED, ""), 0);
		CHECK_INT(rollout_notice_due(back, NOTICE_COMPLETED, ""), 1);
		CHECK_INT(rollout_notice_due(back, NOTICE_AWAITING_APPROVAL, "hook-2"), 0);
	}
	/* a record without the key (an older one): nothing posted yet */
	cJSON_DeleteItemFromObject(o, "notified");
	record_free(back);
	back = NULL;
	CHECK_INT(
	    state_record_from_json(o, "web", "acct@eu-west-1/prod/web", &back, why, sizeof(why)),
	    0);
	if (back)
		CHECK_INT(back->notified, 0);
	/* a bad value is refused by name */
	cJSON_AddStringToObject(o, "notified", "all");
	record_free(back);
	back = NULL;
	CHECK(state_record_from_json(o, "web", "acct@eu-west-1/prod/web", &back, why, sizeof(why)) <
	      0);
	CHECK(strstr(why, "notified") != NULL);
	record_free(back);
	cJSON_Delete(o);
	record_free(rec);
}

TEST(outbox_reload_keeps_matches_by_name_and_drops_a_removed_sinks_entries)
{
	struct fixture f;
	struct notice n[3];
	char name[3][200];
	struct config_sink two[2];
	struct config cfg2;

	fixture_init(&f, 100, 1);
	if (!fixture_open(&f)) {
		fixture_done(&f);
		return;
	}
	for (int i = 0; i < 3; i++) {
		make_notice(&n[i], 20 + i);
		entry_name(&n[i], "hook", name[i], sizeof(name[i]));
		outbox_post(f.ob, &n[i]);
	}
	CHECK_INT(status_of(f.ob).pending, 3);
	/* kept (by name, other settings) and a new one: the backlog stays, the new one is empty */
	two[0] = f.sink;
	two[0].timeout_ms = 2000;
	two[1] = f.sink;
	two[1].name = "chat";
	two[1].type = SINK_SLACK;
	cfg2 = f.cfg;
	cfg2.sinks = two;
	cfg2.n_sinks = 2;
	outbox_reload(f.ob, &cfg2);
	struct outbox_sink_status st[4];
	CHECK_INT(outbox_status(f.ob, st, 4), 2);
	CHECK_STR(st[0].name, "hook");
	CHECK_INT(st[0].pending, 3);
	CHECK_STR(st[1].name, "chat");
	CHECK_STR(st[1].type, "slack");
	CHECK_INT(st[1].pending, 0);
	for (int i = 0; i < 3; i++)
		CHECK(exists(&f, name[i]));
	/* hook removed: its entries go, the one in flight too (its attempt is cancelled) */
	cfg2.sinks = &two[1];
	cfg2.n_sinks = 1;
	outbox_reload(f.ob, &cfg2);
	CHECK_INT(outbox_status(f.ob, st, 4), 1);
	CHECK_STR(st[0].name, "chat");
	for (int i = 0; i < 3; i++)
		CHECK(!exists(&f, name[i]));
	fixture_done(&f);
}

TEST(outbox_status_as_ecr_deployctl_shows_it)
{
	const char *json =
	    "{\"version\":\"1.0\",\"pid\":1,\"notify\":["
	    "{\"name\":\"ci\",\"type\":\"webhook\",\"host\":\"hooks.example.com\",\"pending\":0,"
	    "\"sent\":41,\"failed\":2,\"given_up\":1,\"dropped\":0,\"failing\":false,"
	    "\"failing_since\":null,\"last_sent\":1764583100,\"last_error\":null},"
	    "{\"name\":\"chat\",\"type\":\"slack\",\"host\":\"hooks.slack.com\",\"pending\":3,"
	    "\"sent\":17,\"failed\":9,\"given_up\":0,\"dropped\":0,\"failing\":true,"
	    "\"failing_since\":1764582960,\"last_sent\":null,"
	    "\"last_error\":\"hooks.slack.com: timed out\\u001b[31m\"}],\"watches\":[]}";
	cJSON *res = cJSON_Parse(json);
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	CHECK(res != NULL && out != NULL);
	if (!res || !out)
		return;
	ctl_render_status(out, res, 1764583200.0, false);
	fclose(out);
	CHECK(strstr(text, "notifications:\n") != NULL);
	CHECK(strstr(text,
		     "  ci (webhook, hooks.example.com): 0 pending, 41 sent, 1 given up, ok\n") !=
	      NULL);
	CHECK(strstr(text,
		     "  chat (slack, hooks.slack.com): 3 pending, 17 sent, 0 given up, failing "
		     "since 4m0s ago: hooks.slack.com: timed out\\x1b[31m\n") != NULL);
	CHECK(strchr(text, '\033') == NULL); /* the error is escaped */
	if (!strstr(text, "failing since 4m0s ago"))
		unit_fail(__FILE__, __LINE__, "rendered: %s", text);
	free(text);
	cJSON_Delete(res);
}

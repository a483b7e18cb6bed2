/* SPDX-License-Identifier: MIT */
/*
 * daemon/state's table backend against a fake table: what each save writes (only the items whose
 * part changed, Deletes for parts gone, chunks of DDB_TX_MAX), unusable items set aside, "meta"
 * (written when missing, "migrating" refused), a failed save that stays dirty, undo, rollout
 * records and the outbox's blobs; and the migration of a state directory.
 */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ddb.h"
#include "migrate.h"
#include "state.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

#define FAKE_MAX 4096

/* A table in memory: items by key, and a log of every write (one line per action). */
struct fake {
	char *sk[FAKE_MAX], *doc[FAKE_MAX];
	long long expires[FAKE_MAX];
	size_t n;
	int fail_next; /* the next write fails with this (then 0) */
	int writes;    /* transactions */
	size_t max_tx; /* the largest transaction */
	char log[65536];
};

static size_t fake_find(const struct fake *f, const char *sk)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->sk[i], sk))
			return i;
	return (size_t)-1;
}

static void fake_set(struct fake *f, const char *sk, const char *doc, long long expires)
{
	size_t i = fake_find(f, sk);

	if (i == (size_t)-1 && !doc && !expires)
		return;
	if (i == (size_t)-1) {
		i = f->n++;
		f->sk[i] = strdup(sk);
		f->doc[i] = NULL;
	}
	free(f->doc[i]);
	if (!doc && !expires) {
		free(f->sk[i]);
		f->sk[i] = f->sk[--f->n];
		f->doc[i] = f->doc[f->n];
		f->expires[i] = f->expires[f->n];
		return;
	}
	f->doc[i] = doc ? strdup(doc) : NULL;
	f->expires[i] = expires;
}

static void fake_done(struct fake *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->sk[i]);
		free(f->doc[i]);
	}
	f->n = 0;
}

static const char *fake_doc(const struct fake *f, const char *sk)
{
	size_t i = fake_find(f, sk);

	return i == (size_t)-1 ? NULL : f->doc[i] ? f->doc[i] : "";
}

static int fake_write(void *t, const struct ddb_write *w, size_t n, char *why, size_t why_len)
{
	struct fake *f = t;

	CHECK(n >= 1 && n <= DDB_TX_MAX);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			CHECK(strcmp(w[i].sk, w[j].sk) != 0); /* DynamoDB refuses two on one item */
	if (f->fail_next) {
		int r = f->fail_next;
		f->fail_next = 0;
		snprintf(why, why_len, "fake: refused");
		return r;
	}
	f->writes++;
	if (n > f->max_tx)
		f->max_tx = n;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(f->log);
		snprintf(f->log + l, sizeof(f->log) - l, "%s %s\n", w[i].doc ? "put" : "del",
			 w[i].sk);
		if (!w[i].doc)
			fake_set(f, w[i].sk, NULL, 0);
		else
			fake_set(f, w[i].sk, w[i].doc, w[i].expires);
	}
	return 0;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

/* The items under prefix in the order of their keys, as a Query returns them ("t/" before "w/"). */
static int fake_read_all(void *t, const char *prefix,
			 int (*fn)(const char *sk, const char *doc, size_t len, void *ud), void *ud,
			 char *why, size_t why_len)
{
	struct fake *f = t;
	char **order[FAKE_MAX] = { 0 };

	(void)why;
	(void)why_len;
	for (size_t i = 0; i < f->n; i++)
		order[i] = &f->sk[i];
	qsort(order, f->n, sizeof(*order), by_key);
	for (size_t k = 0; k < f->n; k++) {
		size_t i = (size_t)(order[k] - f->sk);
		if (!strncmp(f->sk[i], prefix, strlen(prefix)) &&
		    fn(f->sk[i], f->doc[i], f->doc[i] ? strlen(f->doc[i]) : 0, ud) < 0)
			break;
	}
	return 0;
}

static int fake_put_if_absent(void *t, const char *sk, const char *doc, char *why, size_t why_len)
{
	struct fake *f = t;

	(void)why;
	(void)why_len;
	if (fake_find(f, sk) != (size_t)-1)
		return -EEXIST;
	fake_set(f, sk, doc, 0);
	return 0;
}

static const struct state_table_io fake_io = { fake_write, fake_read_all, fake_put_if_absent };

static struct state *open_fake(struct fake *f, const char *dir, char **warning)
{
	struct state *s = NULL;
	char why[600];
	int r =
	    state_open_table_io(&fake_io, f, dir, "table 'fake'", &s, warning, why, sizeof(why));

	if (r < 0)
		fprintf(stderr, "open: %s\n", why);
	CHECK_INT(r, 0);
	return s;
}

static int save(struct state *s)
{
	char why[600];

	return state_save(s, why, sizeof(why));
}

/* A rollout record of watch "web" at its first step, for target tkey. */
static void fill_rec(struct rollout_rec *rec, char *tkey, char **containers)
{
	rec->watch = "web";
	rec->tkey = tkey;
	rec->step = STEP_START;
	rec->digest = D1;
	rec->image = "1.dkr.ecr.us-east-1.amazonaws.com/web";
	rec->cluster = "prod";
	rec->service = "web";
	rec->region = "us-east-1";
	rec->containers[0] = containers[0];
	rec->n_containers = 1;
	rec->timeout_ms = 1000;
}

TEST(state_table_fresh_meta_and_items)
{
	struct fake *f = calloc(1, sizeof(*f));
	char *warning = NULL;
	struct state *s = open_fake(f, NULL, &warning);

	CHECK(warning == NULL);
	CHECK(state_in_table(s));
	CHECK(!state_reset_pending(s)); /* an empty table is a first start, not a loss */
	CHECK(state_set_seen(s, "web", "prod", D1, NULL) == 0);
	CHECK(state_set_deployed(s, "web", "us-east-1/prod/web", D1) == 0);
	CHECK_INT(save(s), 0);
	CHECK(strstr(fake_doc(f, "meta"), "\"status\":\"ready\"") != NULL);
	CHECK(fake_doc(f, "g") != NULL);
	CHECK(strstr(fake_doc(f, "w/web"), D1) != NULL);
	CHECK(strstr(fake_doc(f, "w/web"), "targets") == NULL);
	CHECK_STR(fake_doc(f, "t/web/us-east-1/prod/web"), "{\"deployed\":\"" D1 "\"}");
	state_free(s);
	/* read back */
	s = open_fake(f, NULL, &warning);
	CHECK(warning == NULL);
	CHECK_STR(state_seen(s, "web", "prod"), D1);
	CHECK_STR(state_deployed(s, "web", "us-east-1/prod/web"), D1);
	CHECK(!state_reset_pending(s));
	f->log[0] = '\0';
	CHECK_INT(save(s), 0); /* nothing changed: nothing written */
	CHECK_STR(f->log, "");
	state_free(s);
	fake_done(f);
	free(f);
}

TEST(state_table_writes_only_what_changed)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct state *s = open_fake(f, NULL, NULL);

	CHECK(state_set_deployed(s, "web", "a", D1) == 0);
	CHECK(state_set_deployed(s, "web", "b", D1) == 0);
	CHECK(state_set_deployed(s, "api", "c", D1) == 0);
	CHECK_INT(save(s), 0);
	f->log[0] = '\0';
	/* one target changes: that target's item alone */
	CHECK(state_set_deployed(s, "web", "b", D2) == 0);
	CHECK_INT(save(s), 0);
	CHECK_STR(f->log, "put t/web/b\n");
	/* a change made and unmade: touched, compared, not written */
	f->log[0] = '\0';
	CHECK(state_set_held(s, "web", "a", D2) == 0);
	CHECK(state_set_held(s, "web", "a", "") == 0);
	struct state_pin pin = { D2, NULL, { 0, 1, 2 } };
	CHECK(state_set_pin(s, "api", "c", &pin) == 0);
	CHECK(state_set_pin(s, "api", "c", NULL) == 0);
	CHECK_INT(save(s), 0);
	CHECK_STR(f->log, "put t/web/a\n"); /* "held": "" is new; the pin came and went */
	/* a watch's part: its item alone; a pause of everything: g */
	f->log[0] = '\0';
	CHECK(state_set_seen(s, "api", "latest", D2, NULL) == 0);
	struct state_pause p = { "x", 0, { 0, 1, 2 } };
	CHECK(state_set_pause(s, NULL, NULL, &p) == 0);
	CHECK_INT(save(s), 0);
	CHECK_STR(f->log, "put g\nput w/api\n");
	/* a part emptied: its item deleted */
	f->log[0] = '\0';
	CHECK(state_set_pause(s, "api", "c", &p) == 0);
	CHECK_INT(save(s), 0);
	CHECK(state_set_pause(s, "api", "c", NULL) == 0);
	CHECK(state_set_pause(s, NULL, NULL, NULL) == 0);
	CHECK_INT(save(s), 0);
	CHECK_STR(f->log, "put t/api/c\nput g\nput t/api/c\n");
	state_free(s);
	fake_done(f);
	free(f);
}

TEST(state_table_chunks_and_failed_save)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct state *s = open_fake(f, NULL, NULL);
	char tkey[32];

	for (int i = 0; i < 250; i++) {
		snprintf(tkey, sizeof(tkey), "t%03d", i);
		CHECK(state_set_deployed(s, "web", tkey, D1) == 0);
	}
	CHECK_INT(save(s), 0);
	CHECK_INT(f->writes, 3); /* meta + g + 250 targets = 252 actions: 99 + 99 + 54 */
	CHECK_INT((long long)f->max_tx, DDB_TX_MAX);
	CHECK_INT((long long)f->n, 252);
	/* a refused save: the state stays dirty, the next one writes it */
	CHECK(state_set_deployed(s, "web", "t007", D2) == 0);
	f->fail_next = -ESTALE;
	CHECK_INT(save(s), -ESTALE);
	CHECK(state_dirty(s));
	CHECK(strstr(fake_doc(f, "t/web/t007"), D1) != NULL);
	f->log[0] = '\0';
	CHECK_INT(save(s), 0);
	CHECK_STR(f->log, "put t/web/t007\n");
	CHECK(!state_dirty(s));
	/* undo after a failed save: what the table holds is compared whole */
	struct state_undo *u = state_undo_mark(s);
	CHECK(state_set_deployed(s, "web", "t008", D2) == 0);
	f->fail_next = -EAGAIN;
	CHECK_INT(save(s), -EAGAIN);
	state_undo(s, u);
	f->log[0] = '\0';
	CHECK_INT(save(s), 0);
	CHECK_STR(f->log, ""); /* the table still holds what the undo went back to */
	state_free(s);
	fake_done(f);
	free(f);
}

static char *tmpdir(void)
{
	static char d[64];

	snprintf(d, sizeof(d), "/tmp/ecr-state-table-XXXXXX");
	return mkdtemp(d);
}

static void rm_rf(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_INT(system(cmd), 0);
}

TEST(state_table_bad_items_set_aside)
{
	struct fake *f = calloc(1, sizeof(*f));
	char *dir = tmpdir(), *warning = NULL, path[256];

	fake_set(f, "meta", "{\"version\":1,\"status\":\"ready\"}", 0);
	fake_set(f, "g", "{}", 0);
	fake_set(f, "w/good", "{\"tags\":{\"prod\":{\"digest\":\"" D1 "\"}}}", 0);
	fake_set(f, "w/bad", "not json", 0);
	fake_set(f, "t/good/x", "{\"deployed\":\"" D1 "\",\"failed\":7}", 0);
	fake_set(f, "t/good/y", "{\"deployed\":\"sha256:nope\",\"held\":\"" D2 "\"}", 0);
	fake_set(f, "t/noslash", "{}", 0);
	fake_set(f, "r/good/z", "{\"version\":1,\"watch\":\"good\",\"target\":\"other\"}", 0);
	fake_set(f, "zz", "{}", 0);
	struct state *s = open_fake(f, dir, &warning);
	CHECK(warning && strstr(warning, "'w/bad'") && strstr(warning, "not valid JSON"));
	CHECK(warning && strstr(warning, "'t/good/x'"));
	CHECK(warning && strstr(warning, "'t/noslash'"));
	CHECK(warning && strstr(warning, "'r/good/z'"));
	CHECK(warning && strstr(warning, "1 item this version does not know"));
	CHECK(warning && strstr(warning, "invalid digest 'sha256:nope'"));
	CHECK_STR(state_seen(s, "good", "prod"), D1);  /* the good ones load */
	CHECK_STR(state_held(s, "good", "y"), D2);     /* the rest of an item with a bad digest */
	CHECK(state_deployed(s, "good", "x") == NULL); /* left out */
	CHECK(state_reset_pending(s));                 /* a part lost: the reset mark */
	snprintf(path, sizeof(path), "%s/table-aside", dir);
	struct stat st;
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	f->log[0] = '\0';
	CHECK_INT(save(s), 0);
	/* the copied items are replaced (deleted: their part is empty now); the rollout deleted */
	CHECK(strstr(f->log, "del w/bad\n") && strstr(f->log, "del t/good/x\n") &&
	      strstr(f->log, "del r/good/z\n") && strstr(f->log, "put t/good/y\n") &&
	      strstr(f->log, "put g\n"));
	CHECK(fake_doc(f, "zz") != NULL); /* unknown: left alone */
	state_free(s);
	free(warning);
	rm_rf(dir);
	fake_done(f);
	free(f);
}

TEST(state_table_meta_refusals)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct state *s = NULL;
	char why[600];

	fake_set(f, "meta", "{\"version\":1,\"status\":\"migrating\"}", 0);
	CHECK_INT(state_open_table_io(&fake_io, f, NULL, "t", &s, NULL, why, sizeof(why)), -EBUSY);
	CHECK(strstr(why, "migrat") != NULL);
	fake_set(f, "meta", "{\"version\":2,\"status\":\"ready\"}", 0);
	CHECK_INT(state_open_table_io(&fake_io, f, NULL, "t", &s, NULL, why, sizeof(why)), -EPROTO);
	fake_set(f, "meta", "[", 0);
	CHECK_INT(state_open_table_io(&fake_io, f, NULL, "t", &s, NULL, why, sizeof(why)), -EPROTO);
	/* meta but no g: items deleted by hand; the reset mark */
	fake_set(f, "meta", "{\"version\":1,\"status\":\"ready\"}", 0);
	char *warning = NULL;
	s = open_fake(f, NULL, &warning);
	CHECK(state_reset_pending(s));
	CHECK(warning && strstr(warning, "no 'g' item"));
	free(warning);
	state_free(s);
	fake_done(f);
	free(f);
}

TEST(state_table_rollouts_and_blobs)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct state *s = open_fake(f, NULL, NULL);
	char why[600];
	struct rollout_rec rec = { 0 };
	char *containers[1] = { "app" };

	fill_rec(&rec, "us-east-1/prod/web", containers);
	f->log[0] = '\0';
	CHECK_INT(state_rollout_save(s, &rec, why, sizeof(why)), 0);
	CHECK_STR(f->log, "put r/web/us-east-1/prod/web\n");
	CHECK(state_has_rollout(s, "web", "us-east-1/prod/web"));
	state_free(s);
	s = open_fake(f, NULL, NULL);
	CHECK(state_has_rollout(s, "web", "us-east-1/prod/web"));
	f->log[0] = '\0';
	CHECK_INT(state_rollout_remove(s, "web", "us-east-1/prod/web", why, sizeof(why)), 0);
	CHECK_STR(f->log, "del r/web/us-east-1/prod/web\n");
	/* blobs: an entry, its sent mark in one transaction with the entry's removal */
	f->log[0] = '\0';
	CHECK_INT(state_blob_put(s, STATE_BLOB_OUTBOX, "hook.k1", "text", 4, why, sizeof(why)), 0);
	CHECK(state_blob_has(s, STATE_BLOB_OUTBOX, "hook.k1"));
	CHECK_INT(state_blob_mark_sent(s, "hook.k1", 12345, why, sizeof(why)), 0);
	CHECK_STR(f->log, "put o/hook.k1\nput s/hook.k1\ndel o/hook.k1\n");
	CHECK(!state_blob_has(s, STATE_BLOB_OUTBOX, "hook.k1"));
	CHECK(state_blob_has(s, STATE_BLOB_SENT, "hook.k1"));
	CHECK_INT(f->expires[fake_find(f, "s/hook.k1")], 12345);
	state_free(s);
	s = open_fake(f, NULL, NULL);
	CHECK(state_blob_has(s, STATE_BLOB_SENT, "hook.k1"));
	state_free(s);
	fake_done(f);
	free(f);
}

static int count_item(const char *sk, const char *doc, void *ud)
{
	(void)sk;
	(void)doc;
	++*(int *)ud;
	return 0;
}

TEST(state_table_migrate)
{
	struct fake *f = calloc(1, sizeof(*f));
	char *dir = tmpdir(), why[600], path[300], buf[4096];
	struct state *s = NULL;
	int n = 0;

	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	CHECK(state_set_seen(s, "web", "prod", D1, NULL) == 0);
	CHECK(state_set_deployed(s, "web", "a", D1) == 0);
	CHECK(state_set_deployed(s, "api", "b", D2) == 0);
	CHECK_INT(save(s), 0);
	CHECK_INT(state_each_item(s, count_item, &n), 0);
	CHECK_INT(n, 4); /* g, w/web, t/web/a, t/api/b (w/api is empty) */
	state_free(s);
	snprintf(path, sizeof(path), "%s/outbox", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/outbox/hook.k1.json", dir);
	FILE *fp = fopen(path, "w");
	fputs("{\"entry\":1}", fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/outbox/hook.k0.sent", dir);
	fp = fopen(path, "w");
	fclose(fp);
	FILE *out = fmemopen(buf, sizeof(buf), "w");
	int r = migrate_state_io(dir, &fake_io, f, out, why, sizeof(why));
	fclose(out);
	if (r < 0)
		fprintf(stderr, "migrate: %s\n", why);
	CHECK_INT(r, 0);
	CHECK(strstr(fake_doc(f, "meta"), "\"ready\"") != NULL);
	CHECK(strstr(fake_doc(f, "t/api/b"), D2) != NULL);
	CHECK_STR(fake_doc(f, "o/hook.k1"), "{\"entry\":1}");
	CHECK(fake_doc(f, "s/hook.k0") != NULL && f->expires[fake_find(f, "s/hook.k0")] > 0);
	CHECK(strstr(buf, "1 watch, 2 targets, 0 rollouts, 1 outbox entry, 1 sent mark") != NULL);
	/* the table holds state now: refused */
	CHECK_INT(migrate_state_io(dir, &fake_io, f, NULL, why, sizeof(why)), -EEXIST);
	/* a migration cut short ("migrating") may run again */
	fake_set(f, "meta", "{\"version\":1,\"status\":\"migrating\"}", 0);
	CHECK_INT(migrate_state_io(dir, &fake_io, f, NULL, why, sizeof(why)), 0);
	s = open_fake(f, NULL, NULL);
	CHECK_STR(state_deployed(s, "api", "b"), D2);
	CHECK_STR(state_seen(s, "web", "prod"), D1);
	CHECK(state_blob_has(s, STATE_BLOB_OUTBOX, "hook.k1"));
	state_free(s);
	rm_rf(dir);
	fake_done(f);
	free(f);
}

TEST(state_table_item_too_big_blocks_no_other)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct state *s = open_fake(f, NULL, NULL);
	char tag[32], why[600];

	CHECK_INT(save(s), 0);
	for (int i = 0; i < 4000; i++) {
		snprintf(tag, sizeof(tag), "tag-%04d", i);
		CHECK(state_set_seen(s, "huge", tag, D1, NULL) == 0);
	}
	CHECK(state_set_deployed(s, "web", "a", D2) == 0);
	f->log[0] = '\0';
	CHECK_INT(state_save(s, why, sizeof(why)), -EFBIG);
	CHECK(strstr(why, "'w/huge'") != NULL);
	CHECK_STR(f->log, "put t/web/a\n"); /* the rest is written */
	CHECK(state_dirty(s));
	state_free(s);
	fake_done(f);
	free(f);
}

/* ---- the outbox over a table ---- */

#include <ev.h>

#include "config.h"
#include "notice.h"
#include "outbox.h"

static void notice_of(struct notice *n, const char *identity)
{
	memset(n, 0, sizeof(*n));
	n->kind = NOTICE_COMPLETED;
	n->time = (double)time(NULL);
	n->host = "testhost";
	n->watch = "web";
	n->digest = D1;
	n->duration_ms = -1;
	notice_make_key(n, identity, "");
}

TEST(state_table_outbox_entries_and_marks)
{
	struct fake *f = calloc(1, sizeof(*f));
	char *dir = tmpdir(), why[600] = "", sk[200];
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct config cfg = { 0 };
	struct config_sink sink = { 0 };
	struct notice n, old, gone;

	sink.name = "hook";
	sink.type = SINK_WEBHOOK;
	sink.url = "http://127.0.0.1:1/hook"; /* the loop never runs: attempts stay in flight */
	sink.host = "127.0.0.1:1";
	sink.kinds = (1u << NOTICE_KIND_COUNT) - 1;
	sink.min_severity = SEVERITY_INFO;
	sink.max_age_ms = 3600 * 1000;
	sink.timeout_ms = 1000;
	sink.failing_after_ms = 60 * 1000;
	sink.concurrency = 1;
	sink.max_pending = 100;
	cfg.sinks = &sink;
	cfg.n_sinks = 1;
	cfg.state_dir = dir;
	/* left in the table: one of this sink, one of a sink removed, one unusable */
	notice_of(&old, "old");
	char *text = notice_entry(&old, "hook", (double)time(NULL));
	snprintf(sk, sizeof(sk), "o/hook.%s", old.key);
	fake_set(f, sk, text, 0);
	free(text);
	notice_of(&gone, "gone");
	text = notice_entry(&gone, "removed", (double)time(NULL));
	snprintf(sk, sizeof(sk), "o/removed.%s", gone.key);
	fake_set(f, sk, text, 0);
	free(text);
	fake_set(f, "o/hook.bad", "not an entry", 0);
	struct state *s = open_fake(f, dir, NULL);
	struct outbox_deps deps = { .loop = loop,
				    .region = "eu-west-1",
				    .state_dir = dir,
				    .host = "testhost",
				    .state = s };
	struct outbox *ob = outbox_new(&deps, &cfg, why, sizeof(why));
	CHECK(ob != NULL);
	struct outbox_sink_status st;
	CHECK_INT((long long)outbox_status(ob, &st, 1), 1);
	CHECK_INT((long long)st.pending, 1);      /* this sink's entry, read from the table */
	CHECK(fake_doc(f, sk) == NULL);           /* the removed sink's: deleted */
	CHECK(fake_doc(f, "o/hook.bad") == NULL); /* the unusable one: copied aside, deleted */
	/* a new notification: its entry is an item */
	notice_of(&n, "new");
	f->log[0] = '\0';
	outbox_post(ob, &n);
	snprintf(sk, sizeof(sk), "o/hook.%s", n.key);
	CHECK(fake_doc(f, sk) != NULL && strstr(fake_doc(f, sk), n.key));
	/* one already sent (its mark in the table) is not written again */
	outbox_free(ob);
	fake_set(f, sk, NULL, 0);
	snprintf(sk, sizeof(sk), "s/hook.%s", n.key);
	char mark[64];
	snprintf(mark, sizeof(mark), "{\"at\":%lld}", (long long)time(NULL));
	fake_set(f, sk, mark, 0);
	state_free(s);
	s = open_fake(f, dir, NULL);
	deps.state = s;
	ob = outbox_new(&deps, &cfg, why, sizeof(why));
	f->log[0] = '\0';
	outbox_post(ob, &n);
	snprintf(sk, sizeof(sk), "put o/hook.%s", n.key);
	CHECK(strstr(f->log, sk) == NULL);
	/* an old mark is pruned at start (here: the next start), in the table too */
	outbox_free(ob);
	state_free(s);
	snprintf(sk, sizeof(sk), "s/hook.%s", n.key);
	fake_set(f, sk, "{\"at\":1}", 0);
	s = open_fake(f, dir, NULL);
	deps.state = s;
	ob = outbox_new(&deps, &cfg, why, sizeof(why));
	CHECK(fake_doc(f, sk) == NULL);
	outbox_free(ob);
	state_free(s);
	ev_loop_destroy(loop);
	rm_rf(dir);
	fake_done(f);
	free(f);
}

TEST(state_table_pause_numbers_out_of_range)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct state_pause p;

	/* found by fuzz_state_table: a uid no long holds was converted anyway (undefined) */
	fake_set(f, "g",
		 "{\"frozen\":{\"reason\":\"\",\"uid\":1.11111e51,\"pid\":-1e300,\"at\":1}}", 0);
	struct state *s = open_fake(f, NULL, NULL);
	CHECK_INT(state_pause(s, NULL, NULL, &p), 1);
	CHECK_INT(p.by.uid, 0);
	CHECK_INT(p.by.pid, 0);
	state_free(s);
	fake_done(f);
	free(f);
}

TEST(state_table_purge_spares_a_new_record)
{
	struct fake *f = calloc(1, sizeof(*f));
	char why[600];
	struct rollout_rec rec = { 0 };
	char *containers[1] = { "app" };

	fake_set(f, "r/web/t1", "{\"version\":1,\"watch\":\"web\",\"target\":\"t1\"}", 0);
	char *dir = tmpdir();
	struct state *s = open_fake(f, dir, NULL);
	CHECK(!state_has_rollout(s, "web", "t1"));
	fill_rec(&rec, "t1", containers);
	CHECK_INT(state_rollout_save(s, &rec, why, sizeof(why)), 0);
	CHECK(state_set_deployed(s, "web", "t2", D1) == 0);
	CHECK_INT(save(s), 0);
	CHECK(fake_doc(f, "r/web/t1") && strstr(fake_doc(f, "r/web/t1"), D1)); /* not purged */
	state_free(s);
	rm_rf(dir);
	fake_done(f);
	free(f);
}

/* A rollout's record whose removal the table refused (throttled) is deleted by the next save,
 * once, and not left for the next start; a new record of the target before then survives it. */
TEST(state_table_failed_rollout_removal_is_done_by_the_next_save)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct state *s = open_fake(f, NULL, NULL);
	char why[600];
	struct rollout_rec rec = { 0 };
	char *containers[1] = { "app" };

	fill_rec(&rec, "t1", containers);
	CHECK_INT(state_rollout_save(s, &rec, why, sizeof(why)), 0);
	CHECK_INT(save(s), 0);
	/* refused twice: listed once all the same */
	for (int i = 0; i < 2; i++) {
		f->fail_next = -EAGAIN;
		CHECK(state_rollout_remove(s, "web", "t1", why, sizeof(why)) < 0);
	}
	CHECK(fake_doc(f, "r/web/t1") != NULL);
	CHECK(!state_has_rollout(s, "web", "t1"));
	CHECK(state_dirty(s));
	f->log[0] = '\0';
	f->fail_next = -EAGAIN; /* a save refused keeps it listed */
	CHECK(save(s) < 0);
	CHECK_INT(save(s), 0);
	CHECK_STR(f->log, "del r/web/t1\n");
	CHECK(fake_doc(f, "r/web/t1") == NULL);
	f->log[0] = '\0';
	state_set_deployed(s, "web", "t1", D1);
	CHECK_INT(save(s), 0);
	CHECK(strstr(f->log, "del r/") == NULL); /* done once */
	/* refused, then a new rollout of the target before the next save: the new record stays */
	CHECK_INT(state_rollout_save(s, &rec, why, sizeof(why)), 0);
	f->fail_next = -EAGAIN;
	CHECK(state_rollout_remove(s, "web", "t1", why, sizeof(why)) < 0);
	CHECK_INT(state_rollout_save(s, &rec, why, sizeof(why)), 0);
	CHECK_INT(save(s), 0);
	CHECK(fake_doc(f, "r/web/t1") != NULL);
	CHECK(state_has_rollout(s, "web", "t1"));
	state_free(s);
	fake_done(f);
	free(f);
}

TEST(state_table_migrate_refuses_a_missing_directory)
{
	struct fake *f = calloc(1, sizeof(*f));
	char why[600];

	CHECK_INT(migrate_state_io("/nonexistent/ecr-deployd", &fake_io, f, NULL, why, sizeof(why)),
		  -ENOENT);
	CHECK(strstr(why, "nothing to migrate") != NULL);
	CHECK_INT((long long)f->n, 0); /* not even meta */
	fake_done(f);
	free(f);
}

TEST(state_table_undo_deletes_each_item_once)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct state *s = open_fake(f, NULL, NULL);
	struct state_pin pin = { D1, NULL, { 0, 1, 2 } };

	CHECK_INT(save(s), 0);
	struct state_undo *u = state_undo_mark(s);
	/* written, deleted, written again: the key is known twice over */
	CHECK(state_set_pin(s, "x", "c", &pin) == 0);
	CHECK_INT(save(s), 0);
	CHECK(state_set_pin(s, "x", "c", NULL) == 0);
	CHECK_INT(save(s), 0);
	CHECK(state_set_pin(s, "x", "c", &pin) == 0);
	CHECK_INT(save(s), 0);
	state_undo(s, u); /* back to before watch x existed */
	f->log[0] = '\0';
	CHECK_INT(save(s), 0);
	CHECK_STR(f->log, "del t/x/c\n"); /* once (the fake checks no transaction has it twice) */
	state_free(s);
	fake_done(f);
	free(f);
}

TEST(state_table_read_back_writes_nothing)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct state *s = open_fake(f, NULL, NULL);
	struct state_pause p = { "a reason", 2000000000.5, { 1000, 42, 1760000000.25 } };
	struct state_pin pin = { D2, "v2", { 1000, 43, 1760000001 } };

	/* every kind of field, so that what is read back prints as it was written */
	CHECK(state_set_seen(s, "web", "prod", D1, NULL) == 0);
	CHECK(state_set_seen(s, "web", "*", D1, "v1.2.3") == 0);
	CHECK(state_set_want(s, "web", "prod", D1, "1.dkr.ecr.us-east-1.amazonaws.com/web") == 1);
	CHECK(state_set_want(s, "web", "prod", D2, "1.dkr.ecr.us-east-1.amazonaws.com/web") == 1);
	CHECK(state_set_pause(s, "web", NULL, &p) == 0);
	CHECK(state_set_deployed_td(s, "web", "t1", D1,
				    "arn:aws:ecs:us-east-1:1:task-definition/w:3") == 0);
	CHECK(state_add_failed(s, "web", "t1", D2, "exit 1 \"quoted\" \\ \x01", 1760000000.125) ==
	      0);
	CHECK(state_set_pin(s, "web", "t1", &pin) == 0);
	CHECK(state_set_pause(s, "web", "t1", &p) == 0);
	CHECK(state_set_pause(s, NULL, NULL, &p) == 0);
	CHECK(state_set_held(s, "web", "t2", D2) == 0);
	CHECK(state_set_seen(s, "api", "latest", D2, NULL) == 0);
	CHECK_INT(save(s), 0);
	state_free(s);
	s = open_fake(f, NULL, NULL);
	f->log[0] = '\0';
	state_set_held(s, "web", "t2", D1); /* dirty, then back: the save compares everything */
	state_set_held(s, "web", "t2", D2);
	CHECK_INT(save(s), 0);
	CHECK_STR(f->log, ""); /* a takeover rewrites nothing */
	state_free(s);
	fake_done(f);
	free(f);
}

/*
 * Sightings in a "w/" item in any form (as a hand or another version wrote them) read as they
 * did and are written back unchanged; a digest that is not one is refused, with the place and the
 * value, and the item written again without it.
 */
TEST(state_table_sightings_as_read)
{
	struct fake *f = calloc(1, sizeof(*f));
	char *warning = NULL;
	static const char good[] =
	    "{\"pause\":{\"reason\":\"r\",\"uid\":1,\"pid\":2,\"at\":3},\"tags\":{"
	    "\"prod\":{\"digest\":\"" D1 "\",\"seen_at\":\"2026-01-02T03:04:05Z\"},"
	    "\"*\":{\"digest\":\"" D2 "\",\"tag\":\"v\\\"1\",\"seen_at\":\"2026-01-02T03:04:05Z\"},"
	    "\"odd\":{\"seen_at\":\"x\",\"digest\":\"" D2 "\",\"more\":[true]}},"
	    "\"want\":{\"tag\":\"prod\",\"digest\":\"" D1 "\",\"image\":\"r\"}}";
	static const char bad[] =
	    "{\"tags\":{\"a\":{\"digest\":\"" D1 "\",\"seen_at\":\"2026-01-02T03:04:05Z\"},"
	    "\"b\":{\"digest\":\"sha256:NOT\\u0001\",\"seen_at\":\"2026-01-02T03:04:05Z\"},"
	    "\"c\":{\"digest\":\"" D2 "\",\"seen_at\":\"2026-01-02T03:04:05Z\"}}}";

	fake_set(f, "meta", "{\"version\":1,\"status\":\"ready\"}", 0);
	fake_set(f, "g", "{}", 0);
	fake_set(f, "w/web", good, 0);
	fake_set(f, "w/api", bad, 0);
	fake_set(f, "t/web/x", "{\"deployed\":\"" D1 "\"}", 0);
	struct state *s = open_fake(f, NULL, &warning);
	if (!s)
		return;
	CHECK(warning &&
	      strstr(warning, "'sha256:NOT\\x01' as the last seen of a tag of watch 'api'"));
	CHECK_STR(state_seen(s, "web", "prod"), D1);
	CHECK_STR(state_seen(s, "web", "odd"), D2);
	CHECK_STR(state_seen_tag(s, "web"), "v\"1");
	CHECK_STR(state_seen(s, "api", "c"), D2);
	CHECK(state_seen(s, "api", "b") == NULL);
	f->log[0] = '\0';
	CHECK_INT(save(s), 0);
	CHECK_STR(f->log, "put w/api\n"); /* only the repaired one */
	CHECK_STR(fake_doc(f, "w/web"), good);
	CHECK_STR(fake_doc(f, "w/api"),
		  "{\"tags\":{\"a\":{\"digest\":\"" D1 "\",\"seen_at\":\"2026-01-02T03:04:05Z\"},"
		  "\"c\":{\"digest\":\"" D2 "\",\"seen_at\":\"2026-01-02T03:04:05Z\"}}}");
	/* undo after a sighting: the item is written back as it was */
	struct state_undo *u = state_undo_mark(s);
	CHECK(state_set_seen(s, "web", "odd", D1, NULL) == 0);
	CHECK(state_set_seen(s, "web", "new", D1, NULL) == 0);
	CHECK_INT(save(s), 0);
	CHECK(strstr(fake_doc(f, "w/web"), "\"odd\":{\"digest\":\"" D1 "\",\"seen_at\":\"") !=
	      NULL);
	state_undo(s, u);
	CHECK_INT(save(s), 0);
	CHECK_STR(fake_doc(f, "w/web"), good);
	CHECK_STR(state_seen(s, "web", "odd"), D2);
	free(warning);
	state_free(s);
	fake_done(f);
	free(f);
}

/*
 * A watch held compactly (state.c's struct wrec) is written as items like any other, and read back
 * in the order of the keys ("t/" before "w/": its members then come "targets" first) it is
 * compact again, answers the same, and a save after the read writes nothing.
 */
TEST(state_table_compact_watches_read_back)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct state *s = f ? open_fake(f, NULL, NULL) : NULL;
	struct state_want want;

	if (!s)
		return;
	CHECK(state_set_seen(s, "web", "prod", D1, NULL) == 0);
	CHECK(state_set_want(s, "web", "prod", D1, "1.dkr.ecr.us-east-1.amazonaws.com/web") == 1);
	CHECK(state_set_deployed_td(s, "web", "t1", D1, "arn:td/w:3") == 0);
	CHECK(state_set_deployed(s, "web", "t2", D2) == 0);
	CHECK_INT((int)state_compact_watches(s), 1);
	CHECK_INT(save(s), 0);
	CHECK(strstr(fake_doc(f, "t/web/t1"), "\"task_definition\":\"arn:td/w:3\"") != NULL);
	state_free(s);
	s = open_fake(f, NULL, NULL);
	if (!s)
		return;
	CHECK_INT((int)state_compact_watches(s), 1);
	CHECK_STR(state_deployed(s, "web", "t1"), D1);
	CHECK_STR(state_task_def(s, "web", "t1"), "arn:td/w:3");
	CHECK_STR(state_deployed(s, "web", "t2"), D2);
	CHECK_STR(state_seen(s, "web", "prod"), D1);
	CHECK(state_want(s, "web", &want));
	f->log[0] = '\0';
	/* dirty, then back: the items print as they were read */
	CHECK_INT(state_set_deployed(s, "web", "t2", D1), 0);
	CHECK_INT(state_set_deployed(s, "web", "t2", D2), 0);
	CHECK_INT(save(s), 0);
	CHECK_STR(f->log, "");
	CHECK_INT((int)state_compact_watches(s), 1);
	state_free(s);
	fake_done(f);
	free(f);
}

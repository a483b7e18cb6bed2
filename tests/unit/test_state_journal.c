/* SPDX-License-Identifier: MIT */
/*
 * The state journal: its framing (statelog.h), and the directory backend writing changes to
 * state.journal and reading them back (state.h): a torn last record at every byte is dropped, a
 * bad record before it sets both files aside, a replay equals the state in memory, compaction
 * and a crash between its two steps, the clean stop leaving one file.
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"
#include "statelog.h"
#include "strbuf.h"

#define D(c)                                                                                      \
	"sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
	    c c c c c c c c c c c c c c c c c c c c c c c c

static char *jtmpdir(void)
{
	static char d[64];

	snprintf(d, sizeof(d), "/tmp/ecr-journal-XXXXXX");
	return mkdtemp(d);
}

static void rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) < 0)
			rm_rf(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

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

/* The bytes of a file (*len), malloc'd; NULL when missing. */
static char *slurp(const char *path, size_t *len)
{
	char *text = NULL;
	size_t n = 0;

	if (state_file_read(path, 256 * 1024 * 1024, &text, &n) < 0)
		return NULL;
	*len = n;
	return text;
}

static void spit(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_INT(write(fd, data, len), (long long)len);
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The state as its items, one "sk doc" line each, sorted: what two states hold, compared. */
static int add_line(const char *sk, const char *doc, void *ud)
{
	struct strbuf *b = ud;

	return strbuf_printf(b, "%s %s\n", sk, doc) < 0 ? -ENOMEM : 0;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *items_of(const struct state *s)
{
	struct strbuf b, out;
	char **lines = NULL, *p;
	size_t n = 0, cap = 0;

	strbuf_init(&b, 64 * 1024 * 1024);
	strbuf_init(&out, 64 * 1024 * 1024);
	CHECK_INT(state_each_item(s, add_line, &b), 0);
	for (p = b.buf; p && *p; p++) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			lines = realloc(lines, cap * sizeof(*lines));
			if (!lines)
				abort();
		}
		lines[n++] = p;
		if (!(p = strchr(p, '\n')))
			break;
		*p = '\0';
	}
	if (n)
		qsort(lines, n, sizeof(*lines), cmp_line);
	for (size_t i = 0; i < n; i++)
		strbuf_printf(&out, "%s\n", lines[i]);
	free(lines);
	strbuf_done(&b);
	return strbuf_steal(&out);
}

/* Opens dir with the journal in use from the first byte (what a big state does). */
static struct state *open_journaled(const char *dir, char **warn)
{
	struct state *s = NULL;
	char why[600];

	setenv("ECR_DEPLOYD_TEST_STATE_JOURNAL_FROM", "0", 1);
	if (warn)
		*warn = NULL;
	CHECK_INT(state_open(dir, &s, warn, why, sizeof(why)), 0);
	unsetenv("ECR_DEPLOYD_TEST_STATE_JOURNAL_FROM");
	return s;
}

static int save(struct state *s)
{
	char why[600];
	int r = state_save(s, why, sizeof(why));

	if (r < 0)
		unit_fail(__FILE__, __LINE__, "state_save: %s", why);
	return r;
}

/* Copies state.json and state.journal of from into to (an empty directory). */
static void copy_state(const char *from, const char *to)
{
	static const char *const names[] = { "state.json", "state.journal" };
	char a[300], b[300];

	for (size_t i = 0; i < 2; i++) {
		size_t len = 0;
		snprintf(a, sizeof(a), "%s/%s", from, names[i]);
		snprintf(b, sizeof(b), "%s/%s", to, names[i]);
		char *text = slurp(a, &len);
		if (text)
			spit(b, text, len);
		free(text);
	}
}

TEST(statelog_crc32c_known_answer)
{
	/* RFC 3720's check value of CRC-32C */
	CHECK_INT(statelog_crc32c(0, "123456789", 9), 0xe3069283);
	CHECK_INT(statelog_crc32c(statelog_crc32c(0, "1234", 4), "56789", 5), 0xe3069283);
	CHECK_INT(statelog_crc32c(0, "", 0), 0);
}

struct seen_entries {
	char text[512];
};

static int note_entry(const char *key, const char *doc, size_t len, void *ud)
{
	struct seen_entries *e = ud;
	size_t n = strlen(e->text);

	snprintf(e->text + n, sizeof(e->text) - n, "%s=%.*s;", key, doc ? (int)len : 1,
		 doc ? doc : "-");
	return 0;
}

static int note_record(uint64_t gen, const char *payload, size_t n, size_t off, void *ud)
{
	const char *problem = NULL;
	struct seen_entries *e = ud;
	size_t l = strlen(e->text);

	snprintf(e->text + l, sizeof(e->text) - l, "[%llu@%zu]", (unsigned long long)gen, off);
	return statelog_each(payload, n, note_entry, ud, &problem);
}

TEST(statelog_records_round_trip_and_refusals)
{
	struct strbuf b, all;
	struct statelog_scan sc;
	struct seen_entries seen = { "" };

	strbuf_init(&b, 1 << 20);
	strbuf_init(&all, 1 << 20);
	CHECK_INT(statelog_begin(&b), 0);
	CHECK_INT(statelog_put(&b, "w/web", "{\"a\":1}", 7), 0);
	CHECK_INT(statelog_put(&b, "t/web/x", NULL, 0), 0);
	CHECK_INT(statelog_put(&b, "", "{}", 2), -EINVAL);
	CHECK_INT(statelog_finish(&b, 7), 0);
	strbuf_append(&all, b.buf, b.len);
	CHECK_INT(statelog_begin(&b), 0);
	CHECK_INT(statelog_put(&b, "g", "{}", 2), 0);
	CHECK_INT(statelog_finish(&b, 8), 0);
	strbuf_append(&all, b.buf, b.len);
	CHECK_INT(statelog_scan(all.buf, all.len, note_record, &seen, &sc), 0);
	CHECK_INT(sc.end, STATELOG_CLEAN);
	CHECK_INT(sc.records, 2);
	CHECK_INT(sc.good, all.len);
	CHECK_STR(seen.text, "[7@0]w/web={\"a\":1};t/web/x=-;[8@53]g={};");

	/* Malformed payloads behind a valid checksum: refused whole, before any entry is seen. */
	static const struct {
		const char *payload;
		size_t len;
		const char *problem;
	} bad[] = {
		{ "X\1\0\0\0g", 6, "neither a put nor a delete" },
		{ "D\0\0\0\0", 5, "key length is out of range" },
		{ "D\x09\0\0\0g", 6, "key is cut short" },
		{ "D\2\0\0\0g\0", 7, "holds a NUL" },
		{ "P\1\0\0\0g\2\0", 8, "doc length is cut short" },
		{ "P\1\0\0\0g\5\0\0\0{}", 12, "doc is cut short" },
		{ "D\1\0\0\0gD", 7, "cut short" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *problem = NULL;
		seen.text[0] = '\0';
		CHECK_INT(statelog_each(bad[i].payload, bad[i].len, note_entry, &seen, &problem),
			  -EBADMSG);
		CHECK(problem && strstr(problem, bad[i].problem));
		CHECK_STR(seen.text, "");
	}
	strbuf_done(&b);
	strbuf_done(&all);
}

TEST(statelog_torn_and_damaged)
{
	struct strbuf b, all;
	struct statelog_scan sc;
	size_t first;

	strbuf_init(&b, 1 << 20);
	strbuf_init(&all, 1 << 20);
	for (int i = 0; i < 2; i++) {
		statelog_begin(&b);
		statelog_put(&b, "w/web", "{\"tags\":{}}", 11);
		statelog_finish(&b, 1);
		strbuf_append(&all, b.buf, b.len);
	}
	first = b.len;
	/* Every cut of the last record is a torn tail; the first record stays. */
	for (size_t cut = first; cut < all.len; cut++) {
		CHECK_INT(statelog_scan(all.buf, cut, NULL, NULL, &sc), 0);
		CHECK_INT(sc.end, cut == first ? STATELOG_CLEAN : STATELOG_TORN);
		CHECK_INT(sc.good, first);
		CHECK_INT(sc.records, 1);
	}
	/* A last record whose bytes became zeros (the extent a crash leaves), or trailing zeros. */
	char *z = malloc(all.len + 100);
	memcpy(z, all.buf, all.len);
	memset(z + first, 0, all.len - first);
	CHECK_INT(statelog_scan(z, all.len, NULL, NULL, &sc), 0);
	CHECK_INT(sc.end, STATELOG_TORN);
	CHECK_INT(sc.good, first);
	memcpy(z, all.buf, all.len);
	memset(z + all.len, 0, 100);
	CHECK_INT(statelog_scan(z, all.len + 100, NULL, NULL, &sc), 0);
	CHECK_INT(sc.end, STATELOG_TORN);
	CHECK_INT(sc.good, all.len);
	/* One bad byte in the last record: torn; in the first: damaged (more follows). */
	for (size_t at = 0; at < all.len; at++) {
		memcpy(z, all.buf, all.len);
		z[at] ^= 0x20;
		CHECK_INT(statelog_scan(z, all.len, NULL, NULL, &sc), 0);
		if (at < first) {
			CHECK_INT(sc.end, STATELOG_DAMAGED);
			CHECK_INT(sc.bad_at, 0);
			CHECK(sc.problem != NULL);
		} else {
			CHECK_INT(sc.end, STATELOG_TORN);
			CHECK_INT(sc.bad_at, first);
		}
	}
	free(z);
	strbuf_done(&b);
	strbuf_done(&all);
}

/* A state with a bit of everything, changed by step n of a deterministic series. */
static void change(struct state *s, unsigned n)
{
	char watch[32], tkey[64], tag[32];
	static const char *const digests[] = { D("a"), D("b"), D("c"), D("d"), D("e") };
	const char *d = digests[n % 5];

	snprintf(watch, sizeof(watch), "w%u", n % 7);
	snprintf(tkey, sizeof(tkey), "us-east-1/prod/svc%u", n % 3);
	snprintf(tag, sizeof(tag), "t%u", n % 11);
	switch (n % 12) {
	case 0:
	case 1:
	case 2:
		CHECK_INT(state_set_seen(s, watch, tag, d, NULL), 0);
		break;
	case 3:
		CHECK_INT(state_set_seen(s, watch, "*", d, tag), 0);
		break;
	case 4:
		CHECK(state_set_want(s, watch, tag, d, "123.dkr.ecr/x") >= 0); /* 0: the same */
		break;
	case 5:
		CHECK_INT(state_set_deployed_td(s, watch, tkey, d, "arn:td:1"), 0);
		break;
	case 6:
		CHECK_INT(state_add_failed(s, watch, tkey, d, "exit 1 \"quoted\"", 1700000000 + n),
			  0);
		break;
	case 7:
		state_forget_failed(s, watch, tkey, d);
		break;
	case 8: {
		struct state_pause p = { .reason = "maint",
					 .until = n % 2 ? 1.9e9 : 0,
					 .by = { 1000, 42, 1.7e9 } };
		CHECK_INT(state_set_pause(s, n % 4 ? watch : NULL, n % 3 ? tkey : NULL,
					  n % 5 ? &p : NULL),
			  0);
		break;
	}
	case 9: {
		struct state_pin p = { .digest = d, .tag = "v1", .by = { 0, 1, 2 } };
		CHECK_INT(state_set_pin(s, watch, tkey, n % 2 ? &p : NULL), 0);
		break;
	}
	case 10:
		CHECK_INT(state_set_held(s, watch, tkey, n % 2 ? d : NULL), 0);
		break;
	default:
		state_reset_done(s);
		CHECK_INT(state_set_retried(s, watch, tkey, d), 0);
		break;
	}
}

TEST(state_journal_replay_equals_memory)
{
	char *dir = jtmpdir(), copy[128];
	struct state *s = open_journaled(dir, NULL), *r = NULL;
	char *warn = NULL;

	CHECK(s != NULL);
	if (!s)
		return;
	snprintf(copy, sizeof(copy), "%s/copy", dir);
	for (unsigned n = 0; n < 400; n++) {
		change(s, n * 7919u + n / 13);
		if (n % 3 == 0)
			CHECK_INT(save(s), 0);
		if (n % 50 != 49)
			continue;
		/* a crash now: what a restart reads equals what was saved */
		CHECK_INT(save(s), 0);
		mkdir(copy, 0700);
		copy_state(dir, copy);
		r = open_journaled(copy, &warn);
		CHECK(warn == NULL);
		free(warn);
		char *a = items_of(s), *b = r ? items_of(r) : NULL;
		CHECK(a && b && !strcmp(a, b));
		if (a && b && strcmp(a, b))
			unit_fail(__FILE__, __LINE__, "at %u:\nmemory:\n%s\nreplayed:\n%s", n, a,
				  b);
		free(a);
		free(b);
		state_free(r);
		rm_rf(copy);
	}
	/* the journal did the work: state.json was written once, at the first save */
	size_t len = 0;
	char path[160], *text;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	text = slurp(path, &len);
	CHECK(text && strstr(text, "\"version\":2") && strstr(text, "\"generation\":1,"));
	free(text);
	snprintf(path, sizeof(path), "%s/state.journal", dir);
	CHECK(file_size(path) > 0);
	/* a clean stop leaves one file, version 1, that holds everything; nothing unsaved is
	 * written by it */
	char *before = items_of(s);
	char why[600];
	CHECK_INT(state_set_seen(s, "unsaved", "x", D("a"), NULL), 0);
	CHECK_INT(state_compact(s, why, sizeof(why)), 0);
	CHECK(file_size(path) > 0);
	state_free(s);
	s = open_journaled(dir, NULL);
	CHECK(s && !state_seen(s, "unsaved", "x"));
	CHECK_INT(s ? state_compact(s, why, sizeof(why)) : -1, 0);
	state_free(s);
	CHECK_INT(file_size(path), -1);
	s = open_journaled(dir, NULL);
	char *after = s ? items_of(s) : NULL;
	CHECK(before && after && !strcmp(before, after));
	free(before);
	free(after);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	text = slurp(path, &len);
	CHECK(text && strstr(text, "\"version\":1"));
	free(text);
	state_free(s);
	rm_rf(dir);
}

/* Saves three states: after the snapshot (A), after record 1 (B), after record 2 (C). */
struct three {
	char *a, *b, *c; /* their items */
	char *json, *journal;
	size_t json_len, journal_len, rec1_end;
};

static void three_states(const char *dir, struct three *t)
{
	struct state *s = open_journaled(dir, NULL);
	char path[160];

	memset(t, 0, sizeof(*t));
	if (!s)
		return;
	CHECK_INT(state_set_seen(s, "web", "prod", D("a"), NULL), 0);
	CHECK_INT(state_set_deployed(s, "web", "us-east-1/prod/web", D("a")), 0);
	CHECK_INT(save(s), 0);
	t->a = items_of(s);
	CHECK_INT(state_set_seen(s, "web", "prod", D("b"), NULL), 0);
	CHECK_INT(save(s), 0);
	t->b = items_of(s);
	snprintf(path, sizeof(path), "%s/state.journal", dir);
	t->rec1_end = (size_t)file_size(path);
	CHECK_INT(state_set_deployed(s, "web", "us-east-1/prod/web", D("b")), 0);
	CHECK_INT(state_set_seen(s, "api", "prod", D("c"), NULL), 0);
	CHECK_INT(save(s), 0);
	t->c = items_of(s);
	t->journal = slurp(path, &t->journal_len);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	t->json = slurp(path, &t->json_len);
	CHECK(t->rec1_end > 0 && t->journal_len > t->rec1_end);
	/* (freed without the clean stop's compaction: the files stay as a crash leaves them) */
	CHECK_INT(state_set_seen(s, "web", "x", D("d"), NULL), 0);
	state_free(s);
}

static void three_done(struct three *t)
{
	free(t->a);
	free(t->b);
	free(t->c);
	free(t->json);
	free(t->journal);
}

TEST(state_journal_torn_tail_at_every_byte)
{
	char *dir = jtmpdir(), sub[128], path[200];
	struct three t;

	snprintf(sub, sizeof(sub), "%s/src", dir);
	mkdir(sub, 0700);
	three_states(sub, &t);
	if (!t.journal || !t.json) {
		three_done(&t);
		rm_rf(dir);
		return;
	}
	snprintf(sub, sizeof(sub), "%s/dst", dir);
	for (size_t cut = t.rec1_end; cut <= t.journal_len; cut++) {
		struct state *s;
		char *warn = NULL, *items;
		mkdir(sub, 0700);
		snprintf(path, sizeof(path), "%s/state.json", sub);
		spit(path, t.json, t.json_len);
		snprintf(path, sizeof(path), "%s/state.journal", sub);
		spit(path, t.journal, cut);
		s = open_journaled(sub, &warn);
		CHECK(warn == NULL);
		free(warn);
		items = s ? items_of(s) : NULL;
		CHECK(items && !strcmp(items, cut == t.journal_len ? t.c : t.b));
		if (s && cut > t.rec1_end && cut < t.journal_len)
			CHECK(state_notes(s) && strstr(state_notes(s), "cut short by a crash"));
		free(items);
		/* the next save cuts the torn tail off and appends after record 1 */
		if (s && cut < t.journal_len) {
			CHECK_INT(state_set_seen(s, "web", "next", D("e"), NULL), 0);
			CHECK_INT(save(s), 0);
			char *want = items_of(s);
			struct state *again = open_journaled(sub, &warn);
			char *got = again ? items_of(again) : NULL;
			CHECK(warn == NULL && again && state_notes(again) == NULL);
			free(warn);
			CHECK(want && got && !strcmp(want, got));
			free(want);
			free(got);
			state_free(again);
		}
		state_free(s);
		rm_rf(sub);
	}
	three_done(&t);
	rm_rf(dir);
}

TEST(state_journal_damage_before_the_tail_sets_both_aside)
{
	char *dir = jtmpdir(), sub[128], path[200];
	struct three t;

	snprintf(sub, sizeof(sub), "%s/src", dir);
	mkdir(sub, 0700);
	three_states(sub, &t);
	if (!t.journal) {
		three_done(&t);
		rm_rf(dir);
		return;
	}
	snprintf(sub, sizeof(sub), "%s/dst", dir);
	/* a flipped byte in record 1's header, its payload, an item that is not an object */
	size_t at[] = { 0, 6, 12, 17, t.rec1_end - 3 };
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		struct state *s;
		char *warn = NULL, offset[64];
		mkdir(sub, 0700);
		snprintf(path, sizeof(path), "%s/state.json", sub);
		spit(path, t.json, t.json_len);
		snprintf(path, sizeof(path), "%s/state.journal", sub);
		t.journal[at[i]] ^= 0x01;
		spit(path, t.journal, t.journal_len);
		t.journal[at[i]] ^= 0x01;
		s = open_journaled(sub, &warn);
		CHECK(s != NULL);
		snprintf(offset, sizeof(offset), "damaged at offset 0:");
		CHECK(warn && strstr(warn, path) && strstr(warn, offset) &&
		      strstr(warn, "starts afresh") && strstr(warn, "state.journal.bad-") &&
		      strstr(warn, "state.json.bad-"));
		if (warn && !strstr(warn, offset))
			unit_fail(__FILE__, __LINE__, "byte %zu: %s", at[i], warn);
		CHECK_INT(count_prefixed(sub, "state.json.bad-"), 1);
		CHECK_INT(count_prefixed(sub, "state.journal.bad-"), 1);
		CHECK(s && state_reset_pending(s) && !state_seen(s, "web", "prod"));
		free(warn);
		state_free(s);
		rm_rf(sub);
	}
	three_done(&t);
	rm_rf(dir);
}

TEST(state_journal_compaction_and_a_crash_between_its_steps)
{
	char *dir = jtmpdir(), copy[128], path[200], jpath[200];
	struct state *s = open_journaled(dir, NULL);
	char *old = NULL, *warn = NULL;
	size_t old_len = 0;
	off_t size = 0;
	int compactions = 0;

	if (!s)
		return;
	snprintf(jpath, sizeof(jpath), "%s/state.journal", dir);
	snprintf(copy, sizeof(copy), "%s/copy", dir);
	/* each save appends a record of one watch with 200 tags (~25 KB): about 40 fill 1 MiB */
	for (unsigned n = 0; n < 120 && compactions < 2; n++) {
		char tag[16];
		for (int i = 0; i < 200; i++) {
			snprintf(tag, sizeof(tag), "t%d", i);
			CHECK_INT(state_set_seen(s, "big", tag, n % 2 ? D("a") : D("b"), NULL), 0);
		}
		free(old);
		old = slurp(jpath, &old_len);
		CHECK_INT(save(s), 0);
		off_t now = file_size(jpath);
		CHECK(now >= 0 && now <= 1024 * 1024 + 64 * 1024);
		if (now >= size) {
			size = now;
			continue;
		}
		/* compacted: a new state.json, an empty journal */
		compactions++;
		CHECK_INT(now, 0);
		CHECK(size > 1024 * 1024 - 64 * 1024);
		size = now;
		/* A crash between the snapshot and the truncation leaves the old records: they are
		 * of the older generation and ignored; the next save starts a new journal. */
		mkdir(copy, 0700);
		copy_state(dir, copy);
		snprintf(path, sizeof(path), "%s/state.journal", copy);
		spit(path, old, old_len);
		struct state *r = open_journaled(copy, &warn);
		char *a = items_of(s), *b = r ? items_of(r) : NULL;
		CHECK(warn == NULL && a && b && !strcmp(a, b));
		free(warn);
		free(b);
		CHECK_INT(state_set_seen(r, "small", "x", D("c"), NULL), 0);
		CHECK_INT(save(r), 0);
		CHECK(file_size(path) == 0); /* a snapshot: the stale records are gone */
		CHECK_INT(state_set_seen(r, "small", "y", D("d"), NULL), 0);
		CHECK_INT(save(r), 0);
		CHECK(file_size(path) > 0 && file_size(path) < 4096); /* and a record again */
		free(a);
		a = items_of(r);
		struct state *r2 = open_journaled(copy, &warn);
		b = r2 ? items_of(r2) : NULL;
		CHECK(warn == NULL && a && b && !strcmp(a, b));
		free(warn);
		free(a);
		free(b);
		state_free(r2);
		state_free(r);
		rm_rf(copy);
	}
	CHECK_INT(compactions, 2);
	free(old);
	state_free(s);
	rm_rf(dir);
}

TEST(state_journal_newer_than_the_state_file)
{
	char *dir = jtmpdir(), sub[128], path[200];
	struct three t;
	struct state *s;
	char *warn = NULL;

	snprintf(sub, sizeof(sub), "%s/src", dir);
	mkdir(sub, 0700);
	three_states(sub, &t);
	if (!t.journal) {
		three_done(&t);
		rm_rf(dir);
		return;
	}
	/* state.json replaced by an older copy (generation 0: none): the journal is not applied */
	snprintf(sub, sizeof(sub), "%s/dst", dir);
	mkdir(sub, 0700);
	snprintf(path, sizeof(path), "%s/state.json", sub);
	spit(path, "{\"version\":1,\"watches\":{}}", 27);
	snprintf(path, sizeof(path), "%s/state.journal", sub);
	spit(path, t.journal, t.journal_len);
	s = open_journaled(sub, &warn);
	CHECK(warn && strstr(warn, "newer than the state file") && strstr(warn, path));
	CHECK(s && state_reset_pending(s) && !state_seen(s, "web", "prod"));
	CHECK_INT(count_prefixed(sub, "state.journal.bad-"), 1);
	CHECK_INT(count_prefixed(sub, "state.json.bad-"), 0);
	free(warn);
	/* the reset mark reaches the disk at the next save */
	CHECK(s && state_dirty(s));
	CHECK_INT(s ? save(s) : -1, 0);
	state_free(s);
	s = open_journaled(sub, &warn);
	CHECK(warn == NULL && s && state_reset_pending(s));
	free(warn);
	state_free(s);
	/* the same when state.json is missing altogether */
	rm_rf(sub);
	mkdir(sub, 0700);
	spit(path, t.journal, t.journal_len);
	s = open_journaled(sub, &warn);
	CHECK(warn && strstr(warn, "newer than the state file"));
	CHECK(s && state_reset_pending(s));
	free(warn);
	state_free(s);
	three_done(&t);
	rm_rf(dir);
}

TEST(state_journal_small_state_keeps_one_file)
{
	char *dir = jtmpdir(), path[200];
	struct state *s = NULL;
	char why[600], *text;
	size_t len;

	/* below STATE_JOURNAL_FROM (64 KiB), each save rewrites state.json as version 1 */
	unsetenv("ECR_DEPLOYD_TEST_STATE_JOURNAL_FROM");
	CHECK_INT(state_open(dir, &s, NULL, why, sizeof(why)), 0);
	if (!s)
		return;
	for (int i = 0; i < 5; i++) {
		CHECK_INT(state_set_seen(s, "web", "prod", i % 2 ? D("a") : D("b"), NULL), 0);
		CHECK_INT(save(s), 0);
	}
	snprintf(path, sizeof(path), "%s/state.journal", dir);
	CHECK_INT(file_size(path), -1);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	text = slurp(path, &len);
	CHECK(text && strstr(text, "\"version\":1") && strstr(text, D("b")));
	free(text);
	/* a name the journal cannot carry (a '/' in a watch) is written by a snapshot */
	state_free(s);
	s = open_journaled(dir, NULL);
	CHECK_INT(state_set_seen(s, "a/b", "prod", D("c"), NULL), 0);
	CHECK_INT(save(s), 0);
	CHECK_INT(state_set_seen(s, "a/b", "prod", D("d"), NULL), 0);
	CHECK_INT(save(s), 0);
	text = slurp(path, &len);
	CHECK(text && strstr(text, D("d")));
	free(text);
	state_free(s);
	rm_rf(dir);
}

TEST(state_journal_failed_append_counts_for_nothing)
{
	char *dir = jtmpdir(), jpath[200], why[600];
	struct state *s = open_journaled(dir, NULL), *r;
	struct rlimit old, lim;
	off_t before;

	if (!s)
		return;
	CHECK_INT(state_set_seen(s, "web", "prod", D("a"), NULL), 0);
	CHECK_INT(save(s), 0); /* the snapshot */
	CHECK_INT(state_set_seen(s, "web", "prod", D("b"), NULL), 0);
	CHECK_INT(save(s), 0); /* a record */
	snprintf(jpath, sizeof(jpath), "%s/state.journal", dir);
	before = file_size(jpath);
	/* the file may not grow: the next append fails (EFBIG), a short write or none */
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)before + 10;
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
	CHECK_INT(state_set_seen(s, "web", "prod", D("c"), NULL), 0);
	CHECK(state_save(s, why, sizeof(why)) < 0);
	CHECK(strstr(why, jpath) != NULL);
	CHECK(state_dirty(s));
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_INT(file_size(jpath), before); /* cut back */
	r = open_journaled(dir, NULL);
	CHECK(r && state_seen(r, "web", "prod") && !strcmp(state_seen(r, "web", "prod"), D("b")));
	state_free(r);
	/* the next save writes it */
	CHECK_INT(save(s), 0);
	r = open_journaled(dir, NULL);
	CHECK(r && state_seen(r, "web", "prod") && !strcmp(state_seen(r, "web", "prod"), D("c")));
	state_free(r);
	state_free(s);
	rm_rf(dir);
}

/*
 * A compact watch (state.c's struct wrec) stays compact through the journal: a record of it
 * replayed at the next start rebuilds its members in another order ("targets" first), which is
 * still the common form, printed back in that order; and through the snapshot that folds it in.
 */
TEST(state_journal_keeps_watches_compact)
{
	char *dir = jtmpdir(), why[600];
	struct state *s;

	if (!dir)
		return;
	s = open_journaled(dir, NULL);
	if (!s)
		return;
	CHECK_INT(state_set_seen(s, "a", "x", D("1"), NULL), 0);
	CHECK_INT(state_set_want(s, "a", "x", D("1"), "r/a"), 1);
	CHECK_INT(state_set_deployed_td(s, "a", "t", D("1"), "td"), 0);
	CHECK_INT(save(s), 0);
	state_free(s);
	s = open_journaled(dir, NULL);
	if (!s)
		return;
	CHECK_INT((int)state_compact_watches(s), 1);
	CHECK_INT(state_set_seen(s, "a", "y", D("2"), NULL), 0);         /* a "w/a" record */
	CHECK_INT(state_set_deployed_td(s, "a", "u", D("2"), "td2"), 0); /* a "t/a/u" record */
	CHECK_INT(save(s), 0);
	state_free(s);
	s = open_journaled(dir, NULL);
	if (!s)
		return;
	CHECK_INT((int)state_compact_watches(s), 1);
	CHECK_STR(state_seen(s, "a", "y"), D("2"));
	CHECK_STR(state_task_def(s, "a", "t"), "td");
	CHECK_STR(state_task_def(s, "a", "u"), "td2");
	CHECK_INT(state_compact(s, why, sizeof(why)), 0);
	state_free(s);
	s = open_journaled(dir, NULL);
	if (!s)
		return;
	CHECK_INT((int)state_compact_watches(s), 1);
	CHECK_STR(state_seen(s, "a", "x"), D("1"));
	CHECK_STR(state_deployed(s, "a", "u"), D("2"));
	struct state_want want;
	CHECK(state_want(s, "a", &want));
	CHECK_STR(want.image, "r/a");
	state_free(s);
	rm_rf(dir);
}

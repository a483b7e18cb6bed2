/* SPDX-License-Identifier: MIT */
/*
 * The versioned state file, its journal and their atomic writes; the same state kept in a
 * DynamoDB table (the table backend, docs/ha.md); the blobs of the outbox.
 */
#include "state.h"

#include <cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "endpoint.h"
#include "record.h"
#include "cdtrack.h"
#include "escape.h"
#include "jsonscan.h"
#include "regfile.h"
#include "sightings.h"
#include "strbuf.h"
#include "strmap.h"
#include "config.h"
#include "ddb.h"
#include "statelog.h"

#define STATE_MAX (64 * 1024 * 1024)

/*
 * state.json's versions: 1, a whole state; 2, a state that records of state.journal of the same
 * "generation" may follow (an older ecr-deployd, which would not read them, refuses it). A
 * snapshot is version 2 only while a journal is kept; one written at a clean stop, or of a state
 * below STATE_JOURNAL_FROM, is version 1.
 */
#define STATE_FILE_JOURNALED      2
/* A state.json smaller than this is rewritten whole at every save (as cheap as a record, and one
 * file that anything reads); from there, changes go to the journal. */
#define STATE_JOURNAL_FROM        (64 * 1024)
/* The journal is folded into a new state.json once it outgrows max(this, state.json's size). */
#define STATE_JOURNAL_MIN_COMPACT (1024 * 1024)
/* The largest journal read: the compaction bound for the largest state.json, and a record. */
#define STATE_JOURNAL_MAX         ((size_t)2 * STATE_MAX + STATELOG_HEADER + STATELOG_PAYLOAD_MAX)

struct state {
	char *dir;
	char *path;
	char *rdir;           /* <dir>/rollouts */
	cJSON *rollouts;      /* "watch\x1ftarget" -> {"watch", "target", "rollout"} */
	struct strmap *index; /* watch name -> its struct wrec */
	struct wrec
	    *last_rec; /* the one find_rec() found last (of index; NULL when index changes) */
	/*
	 * {"version":1, "written_at":…, "watches": {name: {"tags": {}, …}}}: the sightings of an
	 * indexed watch are not in its "tags" object (left empty, where they print) but in its
	 * wrec's compact set.
	 */
	cJSON *root;
	char seen_text[SIGHTINGS_DIGEST_SIZE]; /* what state_seen() returns */
	char *notes;                           /* what state_open() did to the directory, or NULL */
	bool dirty;
	/* The table backend (io NULL: the directory). */
	const struct state_table_io *io;
	void *t;
	struct strmap *written; /* sk -> the doc the table holds (char *), NULL: no item */
	char **wkeys;           /* every key of written */
	size_t n_wkeys, cap_wkeys;
	struct strmap *dirty_map; /* sk -> non-NULL while listed in dirty_keys */
	char **dirty_keys;
	size_t n_dirty, cap_dirty;
	bool diff_all;     /* the next save compares every item (after open, after an undo) */
	bool meta_missing; /* "meta" is written at the next save */
	cJSON *purge;      /* keys of unusable items set aside, deleted at the next save */
	cJSON *blobs[2];   /* the table's "o/" (name -> text) and "s/" (name -> at) */
	bool blobs_only;   /* state_open_blobs() */
	/*
	 * The directory's journal, <dir>/state.journal (see save_file()). The keys a save writes
	 * are dirty_keys above (without a copy of any item's text); diff_all means they are not
	 * known (a change made without touch(), no memory to list one): a snapshot is written.
	 */
	char *jpath;
	int jfd; /* open for writing (during a save) when jfd_ok */
	bool jfd_ok;
	uint64_t gen;      /* state.json's generation on disk */
	int file_version;  /* state.json's version on disk (0: none yet) */
	bool jready;       /* records of gen may be appended at jlen */
	bool jsuspect;     /* a failed append may have left its record: snapshot before trusting */
	size_t jlen;       /* bytes of whole records of gen in the journal */
	size_t jsize;      /* the journal's size on disk (> jlen: a tail to cut before appending) */
	size_t snap_size;  /* bytes of state.json */
	size_t compact_at; /* a snapshot once jlen passes this */
	size_t journal_from; /* STATE_JOURNAL_FROM, or the test setting */
};

/*
 * A watch of the index: its object in root, that object's "tags" member (the first one
 * cJSON_GetObjectItem() finds, as every reader of a tag's entry did; NULL while none), and the
 * sightings that member stands for (NULL: none). A watch listed twice in a hand-made file is
 * indexed by its last object (strmap_put()'s), as ever; the others keep their "tags" as read.
 */
struct wrec {
	cJSON *obj;
	cJSON *tags;
	struct sightings *g;
	/* The same for its "want": the member (an empty object while want is set, where the want
	 * prints) and the want itself, compactly (NULL: the member, if any, holds it as read). */
	cJSON *want_at;
	struct wantrec *want;
	/*
	 * A watch of the common form, {"tags": …, "want": …, "targets": {key: {"deployed": …,
	 * "task_definition": …}}} (each part optional, in any order), is held without a tree: obj
	 * is left empty, its sightings are g, its want want and its targets the list ct, printed
	 * where obj is in the order of parts (those present: PART_*, as a tree appends members).
	 * Whatever else is asked of the watch makes it a tree again first (expand()); new watches
	 * start so.
	 */
	bool compact;
	uint8_t parts[3], n_parts;
	struct ctarget *ct;
};

/*
 * A target of a compact watch: what it deploys and the task definition that runs it (a tree of
 * five items, about 430 bytes, held in one allocation of about 170). The texts are kept as
 * written, so that state_deployed() and state_task_def() return them as they return a tree's.
 */
struct ctarget {
	struct ctarget *next;
	uint32_t deployed_at; /* where the digest starts in text */
	uint32_t td_at;       /* where the task definition starts in text; 0: none */
	char text[];          /* the key, NUL, the digest, NUL[, the task definition, NUL] */
};

/*
 * A watch's want, as state_set_want() makes it and most files hold it ({"tag", "digest",
 * "image", "previous"?}, the digests valid): about 100 bytes instead of a cJSON object of four
 * members (about 500). A want of any other form stays in the tree as read.
 */
struct wantrec {
	uint8_t digest[DIGEST_BYTES];
	uint32_t image_at; /* where the image starts in text */
	uint32_t prev_at;  /* where the previous digest's bytes start in text; 0: none */
	char text[];       /* the tag, NUL, the image, NUL[, the previous digest's 32 bytes] */
};

/* The previous digest of want w (DIGEST_BYTES), or NULL. */
static const uint8_t *want_previous(const struct wantrec *w)
{
	return w->prev_at ? (const uint8_t *)w->text + w->prev_at : NULL;
}

static struct wrec *find_rec(const struct state *s, const char *watch);
static void ct_free(struct ctarget *t);
static void compact_all(struct state *s);
static void forget_member(struct wrec *rec, const cJSON *m);
/*
 * After a load: the parsed tree was taken into compact sightings and freed, but the allocator
 * keeps the pages it held (several times what is left); they go back to the system, so that the
 * daemon's anonymous memory is what it holds, not what its state file once took to read.
 */
static void give_back_memory(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void touch(struct state *s, const char *watch, const char *tkey);
static char *item_key(const char *watch, const char *tkey);
static size_t journal_from(void);
static int journal_load(struct state *s, char **warnings, char *problem, size_t problem_len);
static int save_file(struct state *s, char *why, size_t why_len);
static void journal_close(struct state *s);
static int save_snapshot(struct state *s, int version, char *why, size_t why_len);
static int table_save(struct state *s, char *why, size_t why_len);
static int table_rollout_write(struct state *s, const char *watch, const char *tkey, const cJSON *f,
			       char *why, size_t why_len);
static void table_free(struct state *s);

static cJSON *fresh_root(void)
{
	cJSON *r = cJSON_CreateObject();

	if (!r)
		return NULL;
	cJSON_AddNumberToObject(r, "version", STATE_VERSION);
	if (!cJSON_AddObjectToObject(r, "watches")) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

static int mkdir_p(const char *dir)
{
	char tmp[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, dir, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Reads a regular file whole (never blocks on a FIFO or a device: -EINVAL); *ret_st gets its
 * status. */
static int read_all(const char *path, struct strbuf *out, struct stat *ret_st)
{
	char buf[65536];
	ssize_t n;
	int fd = regfile_open(path, NULL);

	if (fd < 0)
		return fd;
	if (fstat(fd, ret_st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (strbuf_append(out, buf, (size_t)n) < 0) {
			close(fd);
			return -EFBIG;
		}
	close(fd);
	return n < 0 ? -errno : 0;
}

/* Checks the shape; returns NULL when fine, else what is wrong. */
static const char *check_shape(const cJSON *root)
{
	const cJSON *v = cJSON_GetObjectItem(root, "version"), *w, *x;

	if (!cJSON_IsObject(root))
		return "it is not a JSON object";
	if (!cJSON_IsNumber(v))
		return "it has no version";
	if (v->valuedouble > STATE_FILE_JOURNALED)
		return "it was written by a newer ecr-deployd (version above 2)";
	if (v->valuedouble != STATE_VERSION && v->valuedouble != STATE_FILE_JOURNALED)
		return "its version is not 1 or 2";
	v = cJSON_GetObjectItem(root, "generation");
	if (v && !(cJSON_IsNumber(v) && v->valuedouble >= 0 &&
		   v->valuedouble < 9007199254740992.0 && v->valuedouble == floor(v->valuedouble)))
		return "its 'generation' is not a whole number";
	w = cJSON_GetObjectItem(root, "watches");
	if (!cJSON_IsObject(w))
		return "'watches' is not an object";
	cJSON_ArrayForEach(x, w)
	{
		const cJSON *tags = cJSON_GetObjectItem(x, "tags"), *t;
		if (!cJSON_IsObject(x) || (tags && !cJSON_IsObject(tags)))
			return "a watch entry is not an object";
		cJSON_ArrayForEach(t, tags)
		{
			if (!cJSON_IsObject(t))
				return "a tag entry is not an object";
		}
		const cJSON *targets = cJSON_GetObjectItem(x, "targets");
		if (targets && !cJSON_IsObject(targets))
			return "a watch's 'targets' is not an object";
		cJSON_ArrayForEach(t, targets)
		{
			if (!cJSON_IsObject(t))
				return "a target entry is not an object";
			if (cJSON_GetObjectItem(t, "failed") &&
			    !cJSON_IsArray(cJSON_GetObjectItem(t, "failed")))
				return "a target's 'failed' is not a list";
		}
	}
	return NULL;
}

/* Moves a file that cannot be used aside as <path>.bad-<time>; returns the new name or NULL. */
static char *keep_aside(const char *path)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	size_t n = strlen(path) + 48;
	char *aside = malloc(n);

	if (!aside)
		return NULL;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(aside, n, "%s.bad-%s", path, stamp);
	if (rename(path, aside) < 0) {
		free(aside);
		return NULL;
	}
	return aside;
}

/* Writes text to path atomically: a temporary file, fsync, rename, fsync of dir. */
/* Buffered writes to a file; the first error sticks and later writes are dropped. */
struct sink {
	int fd;
	int err;
	size_t n;
	size_t total; /* bytes put */
	char buf[16384];
};

static void sink_flush(struct sink *k)
{
	size_t off = 0;

	while (!k->err && off < k->n) {
		ssize_t w = write(k->fd, k->buf + off, k->n - off);
		if (w < 0 && errno != EINTR)
			k->err = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	k->n = 0;
}

static void sink_put(struct sink *k, const char *p, size_t len)
{
	k->total += len;
	while (!k->err && len) {
		size_t m = sizeof(k->buf) - k->n < len ? sizeof(k->buf) - k->n : len;
		memcpy(k->buf + k->n, p, m);
		k->n += m;
		p += m;
		len -= m;
		if (k->n == sizeof(k->buf))
			sink_flush(k);
	}
}

static void sink_json(struct sink *k, const cJSON *item)
{
	char *text = k->err ? NULL : cJSON_PrintUnformatted(item);

	if (!text) {
		if (!k->err)
			k->err = -ENOMEM;
		return;
	}
	sink_put(k, text, strlen(text));
	free(text);
}

static int watch_text(const struct state *s, const cJSON *w, const char *skip, struct strbuf *b);

/*
 * Object o member by member; when st is not NULL, o is st's root and its "watches" are written
 * one by one, each with its sightings (watch_text()): the text of the state is never held whole,
 * only that of one watch at a time.
 */
static void sink_object(struct sink *k, const cJSON *o, const struct state *st)
{
	const cJSON *m;
	bool first = true;
	struct strbuf b;

	strbuf_init(&b, STATE_MAX);
	sink_put(k, "{", 1);
	cJSON_ArrayForEach(m, o)
	{
		strbuf_reset(&b);
		if (!first)
			sink_put(k, ",", 1);
		first = false;
		if (jsonscan_write_string(&b, m->string) < 0 || strbuf_putc(&b, ':') < 0) {
			k->err = k->err ? k->err : -ENOMEM;
			break;
		}
		sink_put(k, b.buf, b.len);
		/* (the member the index is of: "watches" found as cJSON_GetObjectItem() finds it,
		 * whatever its case) */
		if (st && cJSON_IsObject(m) && m == cJSON_GetObjectItem(o, "watches")) {
			const cJSON *w;
			sink_put(k, "{", 1);
			cJSON_ArrayForEach(w, m)
			{
				strbuf_reset(&b);
				if ((w != m->child && strbuf_putc(&b, ',') < 0) ||
				    jsonscan_write_string(&b, w->string) < 0 ||
				    strbuf_putc(&b, ':') < 0 || watch_text(st, w, NULL, &b) < 0) {
					k->err = k->err ? k->err : -ENOMEM;
					break;
				}
				sink_put(k, b.buf, b.len);
			}
			sink_put(k, "}", 1);
		} else {
			sink_json(k, m);
		}
	}
	sink_put(k, "}", 1);
	strbuf_done(&b);
}

/*
 * Writes path atomically from o (see sink_object): a temporary file, fsync, rename, fsync of the
 * directory, so that a crash at any moment leaves the old file or the new one.
 */
static int write_atomic_sized(const char *dir, const char *path, const cJSON *o,
			      const struct state *st, const char *text, size_t text_len,
			      size_t *ret_size, char *why, size_t why_len)
{
	char tmp[4200];
	struct sink *k = malloc(sizeof(*k));
	int dfd, r = 0;

	if (!k) {
		snprintf(why, why_len, "out of memory while writing '%s'", path);
		return -ENOMEM;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
	k->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (k->fd < 0) {
		r = -errno;
		snprintf(why, why_len, "cannot create '%s': %s", tmp, strerror(errno));
		free(k);
		return r;
	}
	k->err = 0;
	k->n = 0;
	k->total = 0;
	if (o)
		sink_object(k, o, st);
	else
		sink_put(k, text, text_len);
	sink_flush(k);
	r = k->err;
	if (ret_size)
		*ret_size = k->total;
	if (r == 0 && fsync(k->fd) < 0)
		r = -errno;
	if (close(k->fd) < 0 && r == 0)
		r = -errno;
	free(k);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(why, why_len, "cannot write '%s': %s", path, strerror(-r));
		unlink(tmp);
		return r;
	}
	/* The rename itself must reach the disk. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			r = -errno;
		close(dfd);
	}
	if (r < 0)
		snprintf(why, why_len, "cannot sync the directory of '%s': %s", path, strerror(-r));
	return r;
}

static int write_atomic(const char *dir, const char *path, const cJSON *o, const struct state *st,
			const char *text, size_t text_len, char *why, size_t why_len)
{
	return write_atomic_sized(dir, path, o, st, text, text_len, NULL, why, why_len);
}

static void escape_value(const char *v, char *out, size_t n);

static const char *rollout_problem(const cJSON *f, char *buf, size_t n)
{
	struct rollout_rec *rec = NULL;

	if (!cJSON_IsObject(f) || !cJSON_IsNumber(cJSON_GetObjectItem(f, "version")))
		return "it is not a rollout record";
	if (cJSON_GetObjectItem(f, "version")->valuedouble != STATE_VERSION)
		return "its version is not 1";
	if (!cJSON_IsString(cJSON_GetObjectItem(f, "watch")) ||
	    !cJSON_IsString(cJSON_GetObjectItem(f, "target")))
		return "it does not name its watch and target";
	if (!cJSON_IsObject(cJSON_GetObjectItem(f, "rollout")))
		return "it holds no rollout";
	int r = state_record_from_json(cJSON_GetObjectItem(f, "rollout"),
				       cJSON_GetObjectItem(f, "watch")->valuestring,
				       cJSON_GetObjectItem(f, "target")->valuestring, &rec, buf, n);
	if (r == -ENOMEM)
		return "out of memory";
	if (r < 0)
		return buf;
	record_free(rec);
	return NULL;
}

static void add_warning(char **all, const char *text)
{
	size_t n = (*all ? strlen(*all) + 2 : 0) + strlen(text) + 1;
	char *w = malloc(n);

	if (!w)
		return;
	snprintf(w, n, "%s%s%s", *all ? *all : "", *all ? "; " : "", text);
	free(*all);
	*all = w;
}

/* v made safe for a message (escape.h's rules, quote and backslash escaped too), at most 120
 * bytes of v, then "...". */
static void escape_value(const char *v, char *out, size_t n)
{
	escape_bounded(v, 120, out, n, ESCAPE_SQUOTE | ESCAPE_BACKSLASH);
}

static void add_note(struct state *s, const char *text)
{
	add_warning(&s->notes, text);
}

/* Refusals of invalid digests, a few described and the rest counted. */
struct refusals {
	const char *file;
	char **warnings;
	int n;
	bool table; /* file names a table */
};

static void refuse(struct refusals *rf, const char *what, const char *watch, const cJSON *value)
{
	char v[600], w[600], text[1600];

	if (rf->n++ >= 8)
		return;
	escape_value(cJSON_IsString(value) ? value->valuestring : "(not a string)", v, sizeof(v));
	escape_value(watch, w, sizeof(w));
	snprintf(text, sizeof(text),
		 "the %s%s%s has an invalid digest '%s' as %s of watch '%s'; it is ignored",
		 rf->table ? "" : "state file '", rf->file, rf->table ? "" : "'", v, what, w);
	add_warning(rf->warnings, text);
}

/* Removes member key of o (in any case, each time it is listed) where it is not a digest (""
 * allowed when empty_ok); whether any went. */
static bool drop_bad(struct refusals *rf, cJSON *o, const char *key, bool empty_ok,
		     const char *what, const char *watch)
{
	cJSON *v, *next;
	bool dropped = false;

	/* every member a reader may find under key (cJSON_GetObjectItem() ignores case, and a
	 * hand-made file may list a name twice): each one that is not a digest goes */
	for (v = o ? o->child : NULL; v; v = next) {
		const char *d = cJSON_GetStringValue(v);
		next = v->next;
		if (!v->string || strcasecmp(v->string, key) || digest_valid(d) ||
		    (empty_ok && d && !*d))
			continue;
		refuse(rf, what, watch, v);
		cJSON_Delete(cJSON_DetachItemViaPointer(o, v));
		dropped = true;
	}
	return dropped;
}

/*
 * A pause whose fields are not what state_set_pause() writes is kept as a pause without an end and
 * said: dropping it would let the target deploy, which is not what whoever paused it wanted.
 */
static void repair_bad_pause(struct refusals *rf, cJSON *o, const char *key, const char *watch)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, key), *m;
	bool bad;

	if (!p)
		return;
	bad = !cJSON_IsObject(p);
	cJSON_ArrayForEach(m, p)
	{
		if (!strcmp(m->string ? m->string : "", "reason"))
			bad |= !cJSON_IsString(m);
		else
			bad |= !cJSON_IsNumber(m) || m->valuedouble < 0;
	}
	if (!bad)
		return;
	if (rf->n++ < 8) {
		char w[600], text[1200];
		escape_value(watch, w, sizeof(w));
		snprintf(text, sizeof(text),
			 "the %s%s%s has an invalid pause of '%s'; it is kept as a pause "
			 "without an end: resume it with ecr-deployctl when it should end",
			 rf->table ? "" : "state file '", rf->file, rf->table ? "" : "'", w);
		add_warning(rf->warnings, text);
	}
	cJSON *fixed = cJSON_CreateObject();
	if (!fixed ||
	    !cJSON_AddStringToObject(fixed, "reason", "an unreadable pause in state.json") ||
	    !cJSON_ReplaceItemInObjectCaseSensitive(o, key, fixed)) {
		cJSON_Delete(fixed);
		/* Without memory the state cannot be used at all; the caller's next allocation says
		 * so. */
	}
}

/* Every digest the state file holds is checked where it is read: one that is not sha256: and
 * 64 lowercase hex is dropped (never used, never taken for a failed one) with a warning. */
static void drop_bad_digests(struct state *s, char **warnings)
{
	struct refusals rf = { s->path, warnings, 0, s->io != NULL };
	cJSON *w;

	cJSON_ArrayForEach(w, cJSON_GetObjectItem(s->root, "watches"))
	{
		cJSON *tags = cJSON_GetObjectItem(w, "tags"), *targets, *t, *next;
		struct wrec *rec = w->string ? find_rec(s, w->string) : NULL;
		/* an indexed watch's are in its sightings (only the odd entries may be bad) */
		for (size_t i = 0; rec && rec->obj == w && i < sightings_count(rec->g);) {
			const cJSON *odd = sightings_odd(rec->g, i);
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(odd, "digest");
			if (!odd || digest_valid(cJSON_GetStringValue(d))) {
				i++;
				continue;
			}
			refuse(&rf, "the last seen of a tag", w->string, d);
			sightings_remove(rec->g, i);
		}
		for (t = tags ? tags->child : NULL; t; t = next) {
			next = t->next;
			cJSON *d = cJSON_GetObjectItemCaseSensitive(t, "digest");
			if (digest_valid(cJSON_GetStringValue(d)))
				continue;
			refuse(&rf, "the last seen of a tag", w->string, d);
			cJSON_Delete(cJSON_DetachItemViaPointer(tags, t));
		}
		cJSON *want = cJSON_GetObjectItem(w, "want");
		if (want &&
		    drop_bad(&rf, want, "digest", false, "the digest it deploys", w->string)) {
			forget_member(rec && rec->obj == w ? rec : NULL, want);
			cJSON_Delete(cJSON_DetachItemViaPointer(w, want));
		} else if (want)
			drop_bad(&rf, want, "previous", true, "the digest it deployed before",
				 w->string);
		repair_bad_pause(&rf, w, "pause", w->string);
		targets = cJSON_GetObjectItem(w, "targets");
		cJSON_ArrayForEach(t, targets)
		{
			cJSON *failed = cJSON_GetObjectItem(t, "failed"), *e;
			drop_bad(&rf, t, "deployed", true, "what a target runs", w->string);
			drop_bad(&rf, t, "held", true, "a digest held back", w->string);
			drop_bad(&rf, t, "retried", true, "a digest retried", w->string);
			if (cJSON_GetObjectItem(t, "pin") &&
			    (!cJSON_IsObject(cJSON_GetObjectItem(t, "pin")) ||
			     drop_bad(&rf, cJSON_GetObjectItem(t, "pin"), "digest", false,
				      "a target's pin", w->string) ||
			     !cJSON_GetObjectItem(cJSON_GetObjectItem(t, "pin"), "digest")))
				cJSON_DeleteItemFromObject(t, "pin");
			repair_bad_pause(&rf, t, "pause", w->string);
			for (e = failed ? failed->child : NULL; e; e = next) {
				next = e->next;
				if (cJSON_IsObject(e) &&
				    !drop_bad(&rf, e, "digest", false, "a failed digest",
					      w->string) &&
				    cJSON_GetObjectItem(e, "digest"))
					continue;
				if (!cJSON_IsObject(e) || !cJSON_GetObjectItem(e, "digest")) {
					if (cJSON_IsObject(e) && rf.n++ < 8) {
						char text[900];
						snprintf(text, sizeof(text),
							 "the %s%s%s has a failed entry "
							 "without a digest; it is ignored",
							 rf.table ? "" : "state file '", s->path,
							 rf.table ? "" : "'");
						add_warning(warnings, text);
					}
				}
				cJSON_Delete(cJSON_DetachItemViaPointer(failed, e));
			}
		}
	}
	repair_bad_pause(&rf, s->root, "frozen", "*");
	if (rf.n > 8) {
		char text[600];
		snprintf(text, sizeof(text), "%d more invalid digests in '%s' are ignored",
			 rf.n - 8, s->path);
		add_warning(warnings, text);
	}
	if (rf.n)
		s->dirty = true;
}

/*
 * The state directory (or its rollouts directory) must be ours and closed to others: another
 * user who can write in it could plant a rollout file. Owned by another user: refused (-EPERM);
 * writable by group or others: made 0700, said in the notes.
 */
static int check_dir(struct state *s, const char *dir, bool must_exist, char *why, size_t why_len)
{
	struct stat st;
	int r = 0, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		r = -errno;
		snprintf(why, why_len, "cannot open the state directory '%s': %s", dir,
			 strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(why, why_len, "cannot read the state directory '%s': %s", dir,
			 strerror(errno));
	} else if (st.st_uid != geteuid()) {
		r = -EPERM;
		snprintf(why, why_len,
			 "the state directory '%s' (mode 0%03o) is owned by uid %u, not by "
			 "ecr-deployd's uid %u: another user could plant files in it; give it to "
			 "uid %u with mode 0700 (or choose another state_directory)",
			 dir, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
			 (unsigned)geteuid(), (unsigned)geteuid());
	} else if ((st.st_mode & 022) && (st.st_mode & S_ISVTX)) {
		/* A shared directory like /tmp: closing it would break everyone else. */
		r = -EPERM;
		snprintf(
		    why, why_len,
		    "the state directory '%s' is a shared directory (mode 0%o, writable by others "
		    "with the sticky bit): choose a directory of ecr-deployd's own",
		    dir, (unsigned)(st.st_mode & 07777));
	} else if (st.st_mode & 022) {
		if (fchmod(fd, 0700) < 0) {
			r = -errno;
			snprintf(why, why_len,
				 "the state directory '%s' is writable by others (mode 0%03o) and "
				 "cannot be made 0700: %s",
				 dir, (unsigned)(st.st_mode & 07777), strerror(errno));
		} else {
			char note[4400];
			snprintf(
			    note, sizeof(note),
			    "the state directory '%s' was writable by others (mode 0%03o); its "
			    "mode is now 0700",
			    dir, (unsigned)(st.st_mode & 07777));
			add_note(s, note);
		}
	}
	close(fd);
	return r;
}

/* When name is base.tmp-<pid> (write_atomic's temporary files) of a process that is gone (or of
 * ours: a pid reused), true. base: state.json, or <16 hex>.json in the rollouts directory. */
static bool stale_temporary(const char *name, bool rollouts)
{
	const char *p = strstr(name, ".tmp-");
	size_t blen = p ? (size_t)(p - name) : 0;
	long pid = 0;

	if (!p)
		return false;
	if (rollouts) {
		if (blen != 21 || strncmp(name + 16, ".json", 5))
			return false;
		for (size_t i = 0; i < 16; i++)
			if (!isxdigit((unsigned char)name[i]))
				return false;
	} else if (blen != 10 || strncmp(name, "state.json", 10)) {
		return false;
	}
	p += 5;
	if (!*p || strlen(p) > 9)
		return false;
	for (const char *q = p; *q; q++) {
		if (*q < '0' || *q > '9')
			return false;
		pid = pid * 10 + (*q - '0');
	}
	if (pid <= 0)
		return false;
	return pid == (long)getpid() || (kill((pid_t)pid, 0) < 0 && errno == ESRCH);
}

/* Removes the stale temporary files of dir; adds their number to *count. */
static void remove_stale(const char *dir, bool rollouts, int *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (stale_temporary(e->d_name, rollouts) && unlinkat(dirfd(d), e->d_name, 0) == 0)
			(*count)++;
	closedir(d);
}

static char *rollout_key(const char *watch, const char *tkey)
{
	size_t n = strlen(watch) + strlen(tkey) + 2;
	char *k = malloc(n);

	if (k)
		snprintf(k, n, "%s\x1f%s", watch, tkey);
	return k;
}

/* Loads the rollout files (*.json) of <dir>/rollouts; unusable files are kept aside with a warning.
 */
static int build_index(struct state *s);
static int root_from(struct state *s, const cJSON *t);

static int load_rollouts(struct state *s, char **warnings)
{
	DIR *dir = opendir(s->rdir);
	struct dirent *e;

	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(dir))) {
		size_t len = strlen(e->d_name);
		char path[4400], text[9200], detail[800];
		struct strbuf buf;
		struct stat st;
		cJSON *f = NULL;
		const char *problem = NULL;

		if (len < 6 || strcmp(e->d_name + len - 5, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->rdir, e->d_name);
		strbuf_init(&buf, STATE_MAX);
		int rr = read_all(path, &buf, &st);
		if (rr == -EINVAL)
			problem = "it is not a regular file";
		else if (rr < 0)
			problem = "it cannot be read";
		else if (st.st_uid != geteuid()) {
			snprintf(detail, sizeof(detail),
				 "it is owned by uid %u, not by ecr-deployd", (unsigned)st.st_uid);
			problem = detail;
		} else if (!(f = cJSON_ParseWithLength(buf.buf ? buf.buf : "", buf.len)))
			problem = "it is not valid JSON";
		else
			problem = rollout_problem(f, detail, sizeof(detail));
		strbuf_done(&buf);
		if (problem) {
			char *aside = keep_aside(path);
			snprintf(text, sizeof(text),
				 "the rollout file '%s' is unusable (%s); it was kept as '%s' and "
				 "what it held is rebuilt from AWS at the next push",
				 path, problem, aside ? aside : "(could not be moved)");
			add_warning(warnings, text);
			free(aside);
			cJSON_Delete(f);
			continue;
		}
		char *key = rollout_key(cJSON_GetObjectItem(f, "watch")->valuestring,
					cJSON_GetObjectItem(f, "target")->valuestring);
		if (!key) {
			cJSON_Delete(f);
			closedir(dir);
			return -ENOMEM;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(s->rollouts, key);
		cJSON_AddItemToObject(s->rollouts, key, f);
		free(key);
	}
	closedir(dir);
	return 0;
}

int state_open(const char *dir, struct state **ret, char **ret_warning, char *why, size_t why_len)
{
	struct state *s = calloc(1, sizeof(*s));
	struct strbuf text;
	const char *problem = NULL;
	char reason[4600] = "";
	bool journal_bad = false;
	int r;

	if (ret_warning)
		*ret_warning = NULL;
	if (!s)
		return -ENOMEM;
	s->dir = strdup(dir);
	s->path = malloc(strlen(dir) + 16);
	s->rdir = malloc(strlen(dir) + 16);
	s->jpath = malloc(strlen(dir) + 16);
	s->rollouts = cJSON_CreateObject();
	s->dirty_map = strmap_new();
	if (!s->dir || !s->path || !s->rdir || !s->jpath || !s->rollouts || !s->dirty_map) {
		state_free(s);
		return -ENOMEM;
	}
	snprintf(s->path, strlen(dir) + 16, "%s/state.json", dir);
	snprintf(s->rdir, strlen(dir) + 16, "%s/rollouts", dir);
	snprintf(s->jpath, strlen(dir) + 16, "%s/state.journal", dir);
	s->journal_from = journal_from();
	r = mkdir_p(dir);
	if (r < 0) {
		snprintf(why, why_len, "cannot create the state directory '%s': %s", dir,
			 strerror(-r));
		state_free(s);
		return r;
	}
	if ((r = check_dir(s, dir, true, why, why_len)) < 0 ||
	    (r = check_dir(s, s->rdir, false, why, why_len)) < 0) {
		state_free(s);
		return r;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		r = -errno;
		snprintf(why, why_len, "cannot write in the state directory '%s': %s", dir,
			 strerror(errno));
		state_free(s);
		return r;
	}
	int stale = 0;
	remove_stale(dir, false, &stale);
	remove_stale(s->rdir, true, &stale);
	if (stale) {
		char note[4400];
		snprintf(note, sizeof(note),
			 "removed %d temporary file%s left in '%s' by a write that was interrupted",
			 stale, stale == 1 ? "" : "s", dir);
		add_note(s, note);
	}
	struct stat st;
	strbuf_init(&text, STATE_MAX);
	r = read_all(s->path, &text, &st);
	if (r == -ENOENT) {
		s->root = fresh_root();
	} else if (r == -EINVAL) {
		problem = "it is not a regular file";
	} else if (r < 0) {
		snprintf(reason, sizeof(reason), "it cannot be read: %s", strerror(-r));
		problem = reason;
	} else {
		s->root = cJSON_ParseWithLength(text.buf ? text.buf : "", text.len);
		problem = s->root ? check_shape(s->root) : "it is not valid JSON";
		if (problem) {
			cJSON_Delete(s->root);
			s->root = NULL;
		} else {
			s->snap_size = text.len;
			s->file_version =
			    (int)cJSON_GetNumberValue(cJSON_GetObjectItem(s->root, "version"));
			if (cJSON_IsNumber(cJSON_GetObjectItem(s->root, "generation")))
				s->gen = (uint64_t)cJSON_GetObjectItem(s->root, "generation")
					     ->valuedouble;
		}
	}
	strbuf_done(&text);
	if (!problem && s->root) {
		/* the changes since that snapshot (also when state.json is missing: a journal then
		 * is set aside) */
		r = journal_load(s, ret_warning ? ret_warning : &s->notes, reason, sizeof(reason));
		if (r < 0) {
			snprintf(why, why_len, "out of memory while reading '%s'", s->jpath);
			state_free(s);
			return r;
		}
		if (r > 0) {
			problem = reason;
			journal_bad = true;
			cJSON_Delete(s->root);
			s->root = NULL;
		}
	}
	if (problem) {
		/* Keep it aside for a human (with its journal, which belongs to it); start afresh.
		 */
		char *aside = NULL, *jaside = NULL;
		struct stat jst;
		if (lstat(s->jpath, &jst) == 0 && !(jaside = keep_aside(s->jpath))) {
			r = -errno;
			snprintf(
			    why, why_len,
			    "the state %s '%s' is unusable (%s) and the journal '%s' cannot be "
			    "moved aside: %s",
			    journal_bad ? "journal" : "file", journal_bad ? s->jpath : s->path,
			    problem, s->jpath, strerror(errno));
			state_free(s);
			return r;
		}
		if (!(aside = keep_aside(s->path)) && !(journal_bad && errno == ENOENT)) {
			r = -errno;
			snprintf(
			    why, why_len,
			    "the state file '%s' is unusable (%s) and cannot be moved aside: %s",
			    s->path, problem, strerror(errno));
			free(jaside);
			state_free(s);
			return r;
		}
		if (ret_warning) {
			size_t n = (aside ? strlen(aside) : 0) + (jaside ? strlen(jaside) : 0) +
				   strlen(s->path) + strlen(problem) + 300;
			*ret_warning = malloc(n);
			if (*ret_warning && journal_bad)
				snprintf(
				    *ret_warning, n,
				    "the state journal is unusable: %s; it was kept as '%s'%s%s%s "
				    "and ecr-deployd starts afresh, rebuilding what it can from "
				    "AWS",
				    problem, jaside ? jaside : "(could not be moved)",
				    aside ? " (and the state file as '" : "", aside ? aside : "",
				    aside ? "')" : "");
			else if (*ret_warning)
				snprintf(
				    *ret_warning, n,
				    "the state file '%s' is unusable (%s); it was kept as "
				    "'%s'%s%s%s and ecr-deployd starts afresh, rebuilding what it "
				    "can from AWS",
				    s->path, problem, aside, jaside ? " (and its journal as '" : "",
				    jaside ? jaside : "", jaside ? "')" : "");
		}
		free(aside);
		free(jaside);
		s->gen = 0;
		s->file_version = 0;
		s->root = fresh_root();
		s->dirty = true;
		if (s->root) {
			/* What was deployed and what failed is unknown until the deployer has
			 * looked again; the mark says so, and reaches the disk now, so that a
			 * restart before that look still knows (state_reset_pending()). */
			char stamp[32];
			time_t now = time(NULL);
			struct tm tm;
			gmtime_r(&now, &tm);
			strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
			cJSON_AddStringToObject(s->root, "reset_at", stamp);
		}
	}
	if (!s->root) {
		state_free(s);
		return -ENOMEM;
	}
	if (!problem)
		drop_bad_digests(s, ret_warning);
	if (s->dirty)
		s->diff_all = true; /* changed here without touch(): written whole */
	cJSON *read = s->root;
	s->root = NULL;
	r = root_from(s, read);
	cJSON_Delete(read);
	if (r < 0) {
		state_free(s);
		return -ENOMEM;
	}
	compact_all(s);
	if (problem) {
		char ignored[600];
		state_save(s, ignored, sizeof(ignored)); /* else at the next save */
	}
	char *more = NULL;
	r = load_rollouts(s, &more);
	if (more && ret_warning) {
		add_warning(ret_warning, more);
	}
	free(more);
	if (r < 0) {
		snprintf(why, why_len, "cannot read the rollouts directory '%s': %s", s->rdir,
			 strerror(-r));
		state_free(s);
		return r;
	}
	give_back_memory();
	*ret = s;
	return 0;
}

static void free_sightings(void *g)
{
	sightings_free(g);
}

static void free_wrec(void *p)
{
	struct wrec *rec = p;

	if (rec) {
		sightings_free(rec->g);
		free(rec->want);
		ct_free(rec->ct);
	}
	free(rec);
}

void state_free(struct state *s)
{
	if (!s)
		return;
	journal_close(s);
	cJSON_Delete(s->root);
	cJSON_Delete(s->rollouts);
	strmap_free(s->index, free_wrec);
	s->last_rec = NULL;
	free(s->notes);
	free(s->dir);
	free(s->path);
	free(s->rdir);
	free(s->jpath);
	table_free(s);
	free(s);
}

/* Watch entries by name (case matters, and there may be thousands). */
static struct wrec *find_rec(const struct state *s, const char *watch)
{
	struct wrec *rec = s->last_rec;

	/* a watch's tags are looked up one after another: its record is found again by name */
	if (rec && !strcmp(rec->obj->string, watch))
		return rec;
	if ((rec = strmap_get(s->index, watch)))
		((struct state *)(uintptr_t)s)->last_rec = rec;
	return rec;
}

static cJSON *find_watch(const struct state *s, const char *watch)
{
	struct wrec *rec = find_rec(s, watch);

	return rec ? rec->obj : NULL;
}

/*
 * Takes the entries of the watch's "tags" member (the first cJSON_GetObjectItem() finds) into its
 * sightings, leaving the member empty: where they print. A member that replaced the one the
 * sightings stood for (merge_part()) was told with rec->tags NULL. 0 or -ENOMEM (the entries not
 * taken stay, and are lost to the next save: the state cannot be used without memory anyway).
 */
static int adopt_tags(struct wrec *rec)
{
	cJSON *t = cJSON_GetObjectItem(rec->obj, "tags"), *e;

	if (t != rec->tags) {
		sightings_free(rec->g);
		rec->g = NULL;
		rec->tags = t;
	}
	if (!t || !t->child)
		return 0;
	if (!rec->g && !(rec->g = sightings_new()))
		return -ENOMEM;
	/* room for them all at once (a state of 100,000 tags loads without a realloc per tag) */
	size_t n = 0, text = 0;
	cJSON_ArrayForEach(e, t)
	{
		const cJSON *pick = cJSON_GetObjectItemCaseSensitive(e, "tag");
		n++;
		text += strlen(e->string ? e->string : "") + 1;
		text += cJSON_IsString(pick) ? strlen(pick->valuestring) + 1 : 0;
	}
	if (sightings_reserve(rec->g, n, text) < 0)
		return -ENOMEM;
	while ((e = t->child)) {
		cJSON_DetachItemViaPointer(t, e);
		if (sightings_add_json(rec->g, e->string ? e->string : "", e) < 0) {
			cJSON_Delete(e);
			return -ENOMEM;
		}
	}
	return 0;
}

/* A want of its parts (digest valid; previous valid or NULL). NULL without memory. */
static struct wantrec *wantrec_new(const char *tag, const char *digest, const char *image,
				   const char *previous)
{
	size_t tl = strlen(tag), il = strlen(image), pl = previous ? DIGEST_BYTES : 0;
	struct wantrec *w = tl + il < UINT32_MAX / 2 ? malloc(sizeof(*w) + tl + il + 2 + pl) : NULL;

	if (!w)
		return NULL;
	digest_pack(digest, w->digest);
	memcpy(w->text, tag, tl + 1);
	w->image_at = (uint32_t)(tl + 1);
	memcpy(w->text + tl + 1, image, il + 1);
	w->prev_at = previous ? (uint32_t)(tl + il + 2) : 0;
	if (previous)
		digest_pack(previous, (uint8_t *)w->text + w->prev_at);
	return w;
}

/* Whether want member m has the form a struct wantrec holds and prints back as it is: exactly a
 * string "tag", a valid "digest", a string "image" and perhaps a valid "previous", in that order
 * (names as written). */
static bool want_compact(const cJSON *m)
{
	const cJSON *x;
	unsigned seen = 0, bit;

	if (!cJSON_IsObject(m))
		return false;
	cJSON_ArrayForEach(x, m)
	{
		if (!x->string || !cJSON_IsString(x))
			return false;
		if (!strcmp(x->string, "tag"))
			bit = 1;
		else if (!strcmp(x->string, "digest") && digest_valid(x->valuestring))
			bit = 2;
		else if (!strcmp(x->string, "image"))
			bit = 4;
		else if (!strcmp(x->string, "previous") && digest_valid(x->valuestring))
			bit = 8;
		else
			return false;
		if (seen >= bit)
			return false; /* twice, or out of order */
		seen |= bit;
	}
	return (seen & 7) == 7;
}

/* Forgets the compact want of rec when m, a member of its object about to go, is where it is. */
static void forget_member(struct wrec *rec, const cJSON *m)
{
	if (rec && m && m == rec->want_at) {
		free(rec->want);
		rec->want = NULL;
		rec->want_at = NULL;
	}
}

/*
 * Takes the watch's "want" member (the first cJSON_GetObjectItem() finds) into a compact want
 * when it has that form, leaving the member empty: where it prints. A member that holds members
 * stands for itself (a compact want of an earlier member goes). 0, or -ENOMEM (the member then
 * stays as it is, which state_want() reads as well).
 */
static int adopt_want(struct wrec *rec)
{
	cJSON *m = cJSON_GetObjectItem(rec->obj, "want"), *x;
	struct wantrec *w;

	if (m != rec->want_at || (m && m->child)) {
		free(rec->want);
		rec->want = NULL;
		rec->want_at = m;
	}
	if (!m || !m->child || !want_compact(m))
		return 0;
	const cJSON *prev = cJSON_GetObjectItemCaseSensitive(m, "previous");
	if (!(w = wantrec_new(cJSON_GetObjectItemCaseSensitive(m, "tag")->valuestring,
			      cJSON_GetObjectItemCaseSensitive(m, "digest")->valuestring,
			      cJSON_GetObjectItemCaseSensitive(m, "image")->valuestring,
			      prev ? prev->valuestring : NULL)))
		return -ENOMEM;
	while ((x = m->child))
		cJSON_Delete(cJSON_DetachItemViaPointer(m, x));
	rec->want = w;
	return 0;
}

/* Writes want w back into the members of (empty) object at, as a file holds it. 0 or -ENOMEM. */
static int want_fill(const struct wantrec *w, cJSON *at)
{
	char d[DIGEST_LEN + 1], p[DIGEST_LEN + 1];

	if (!cJSON_AddStringToObject(at, "tag", w->text) ||
	    !cJSON_AddStringToObject(at, "digest", digest_unpack(w->digest, d)) ||
	    !cJSON_AddStringToObject(at, "image", w->text + w->image_at) ||
	    (want_previous(w) &&
	     !cJSON_AddStringToObject(at, "previous", digest_unpack(want_previous(w), p))))
		return -ENOMEM;
	return 0;
}

/* Want w as cJSON_PrintUnformatted() prints what want_fill() makes, appended to b. */
static int want_print(const struct wantrec *w, struct strbuf *b)
{
	char d[DIGEST_LEN + 1];
	int r = strbuf_puts(b, "{\"tag\":");

	r = r ? r : jsonscan_write_string(b, w->text);
	r = r ? r : strbuf_puts(b, ",\"digest\":\"");
	r = r ? r : strbuf_puts(b, digest_unpack(w->digest, d));
	r = r ? r : strbuf_puts(b, "\",\"image\":");
	r = r ? r : jsonscan_write_string(b, w->text + w->image_at);
	if (want_previous(w)) {
		r = r ? r : strbuf_puts(b, ",\"previous\":\"");
		r = r ? r : strbuf_puts(b, digest_unpack(want_previous(w), d));
		r = r ? r : strbuf_putc(b, '"');
	}
	r = r ? r : strbuf_putc(b, '}');
	return r < 0 ? -ENOMEM : 0;
}

/* ---- compact watches (struct wrec's compact) --------------------------------- */

static void intern_members(cJSON *o);

static void ct_free(struct ctarget *t)
{
	while (t) {
		struct ctarget *next = t->next;
		free(t);
		t = next;
	}
}

/* A compact target of its parts (deployed a valid digest, td NULL for none). NULL without
 * memory. */
static struct ctarget *ct_new(const char *key, const char *deployed, const char *td)
{
	size_t kl = strlen(key), tl = td ? strlen(td) : 0;
	struct ctarget *t =
	    kl + tl < UINT32_MAX / 2 ? malloc(sizeof(*t) + kl + DIGEST_LEN + tl + 3) : NULL;

	if (!t)
		return NULL;
	t->next = NULL;
	memcpy(t->text, key, kl + 1);
	t->deployed_at = (uint32_t)(kl + 1);
	memcpy(t->text + t->deployed_at, deployed, DIGEST_LEN + 1);
	t->td_at = td ? (uint32_t)(kl + DIGEST_LEN + 2) : 0;
	if (td)
		memcpy(t->text + t->td_at, td, tl + 1);
	return t;
}

static struct ctarget *ct_in(struct ctarget *list, const char *key)
{
	while (list && strcmp(list->text, key))
		list = list->next;
	return list;
}

static struct ctarget *ct_find(const struct wrec *rec, const char *key)
{
	return ct_in(rec->ct, key);
}

/* The parts of a compact watch (struct wrec's parts), and their member names. */
enum { PART_TAGS, PART_WANT, PART_TARGETS };
static const char *const part_names[] = { "tags", "want", "targets" };

static bool has_part(const struct wrec *rec, int part)
{
	for (uint8_t i = 0; i < rec->n_parts; i++)
		if (rec->parts[i] == part)
			return true;
	return false;
}

/* Part of compact rec present from now on: printed after those before it, as a tree appends a
 * member. */
static void add_part(struct wrec *rec, int part)
{
	if (!has_part(rec, part) && rec->n_parts < 3)
		rec->parts[rec->n_parts++] = (uint8_t)part;
}

/* Puts t in rec's list in the place of old (freed), or at the end when old is NULL. */
static void ct_put(struct wrec *rec, struct ctarget *old, struct ctarget *t)
{
	struct ctarget **at = &rec->ct;

	while (*at && *at != old)
		at = &(*at)->next;
	t->next = old ? old->next : NULL;
	free(old);
	*at = t;
	add_part(rec, PART_TARGETS);
}

/*
 * Sets key of target tkey of compact rec to value as target_set() would in a tree: 0 (done),
 * -ENOMEM, or 1 when the result is not of the compact form (the caller makes the watch a tree).
 * A new digest deployed drops the task definition (state_set_deployed()'s rule).
 */
static int ct_set(struct wrec *rec, const char *tkey, const char *key, const char *value)
{
	struct ctarget *old = ct_find(rec, tkey), *t;

	if (!strcmp(key, "deployed") && digest_valid(value))
		t = ct_new(tkey, value, NULL);
	else if (!strcmp(key, "task_definition") && old)
		t = ct_new(tkey, old->text + old->deployed_at, value);
	else
		return 1;
	if (!t)
		return -ENOMEM;
	ct_put(rec, old, t);
	return 0;
}

/* Target t's members into (empty) object o, as a tree holds them. 0 or -ENOMEM. */
static int ct_fill(const struct ctarget *t, cJSON *o)
{
	if (!cJSON_AddStringToObject(o, "deployed", t->text + t->deployed_at) ||
	    (t->td_at && !cJSON_AddStringToObject(o, "task_definition", t->text + t->td_at)))
		return -ENOMEM;
	intern_members(o);
	return 0;
}

/* Target t as cJSON_PrintUnformatted() prints what ct_fill() makes, appended to b. */
static int ct_print(const struct ctarget *t, struct strbuf *b)
{
	int r = strbuf_puts(b, "{\"deployed\":");

	r = r ? r : jsonscan_write_string(b, t->text + t->deployed_at);
	if (t->td_at) {
		r = r ? r : strbuf_puts(b, ",\"task_definition\":");
		r = r ? r : jsonscan_write_string(b, t->text + t->td_at);
	}
	r = r ? r : strbuf_putc(b, '}');
	return r < 0 ? -ENOMEM : 0;
}

/*
 * The members compact rec stands for, added to into (empty): "tags" an empty object (the
 * sightings stay rec's), "want" written out when fill_want (else empty: where rec's prints),
 * "targets" whole. 0, or -ENOMEM with into left as it was.
 */
static int compact_tree(const struct wrec *rec, cJSON *into, bool fill_want)
{
	cJSON *tags = NULL, *want = NULL, *targets = NULL, *o;
	int r = 0;

	if (has_part(rec, PART_TAGS) && !(tags = cJSON_CreateObject()))
		r = -ENOMEM;
	if (r == 0 && rec->want &&
	    (!(want = cJSON_CreateObject()) || (fill_want && want_fill(rec->want, want) < 0)))
		r = -ENOMEM;
	if (r == 0 && has_part(rec, PART_TARGETS) && !(targets = cJSON_CreateObject()))
		r = -ENOMEM;
	for (const struct ctarget *t = r == 0 ? rec->ct : NULL; t; t = t->next) {
		o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToObject(targets, t->text, o)) {
			cJSON_Delete(o);
			r = -ENOMEM;
			break;
		}
		if ((r = ct_fill(t, o)) < 0)
			break;
	}
	if (r < 0) {
		cJSON_Delete(tags);
		cJSON_Delete(want);
		cJSON_Delete(targets);
		return r;
	}
	for (uint8_t i = 0; i < rec->n_parts; i++) {
		cJSON *part = rec->parts[i] == PART_TAGS   ? tags
			      : rec->parts[i] == PART_WANT ? want
							   : targets;
		if (part)
			cJSON_AddItemToObjectCS(into, part_names[rec->parts[i]], part);
	}
	return 0;
}

/* Makes compact rec a tree again (its tags and want compact still, at their placeholders). 0,
 * or -ENOMEM (rec stays compact). */
static int expand(struct wrec *rec)
{
	if (!rec || !rec->compact)
		return 0;
	if (compact_tree(rec, rec->obj, false) < 0)
		return -ENOMEM;
	rec->tags =
	    has_part(rec, PART_TAGS) ? cJSON_GetObjectItemCaseSensitive(rec->obj, "tags") : NULL;
	rec->want_at = rec->want ? cJSON_GetObjectItemCaseSensitive(rec->obj, "want") : NULL;
	ct_free(rec->ct);
	rec->ct = NULL;
	rec->compact = false;
	rec->n_parts = 0;
	return 0;
}

/*
 * Makes rec compact when its object has the common form (see struct wrec) and prints back the
 * same: members "tags" (its placeholder), "want" (a compact want's) and "targets", each at most
 * once (in any order, kept), each target an object of exactly a valid "deployed" and perhaps a
 * string "task_definition", no key twice. Else (or without memory) rec stays as it is.
 */
static void make_compact(struct wrec *rec)
{
	const cJSON *m, *targets = NULL, *x;
	struct ctarget *list = NULL, **tail = &list, *c;
	uint8_t parts[3], n = 0;
	bool tags = false;

	if (!rec->obj || rec->compact)
		return;
	for (m = rec->obj->child; m; m = m->next) {
		int part = -1;
		for (int i = 0; i < 3 && m->string; i++)
			if (!strcmp(m->string, part_names[i]))
				part = i;
		if (part == PART_TAGS && m == rec->tags && !m->child && cJSON_IsObject(m))
			tags = true;
		else if (part == PART_WANT && m == rec->want_at && rec->want && !m->child)
			;
		else if (part == PART_TARGETS && !targets && cJSON_IsObject(m))
			targets = m;
		else
			return; /* anything else (a member twice too): stays a tree */
		parts[n++] = (uint8_t)part;
	}
	if ((!tags && rec->g) || (!rec->want_at && rec->want))
		return;
	cJSON_ArrayForEach(x, targets)
	{
		const cJSON *d = x->child, *td = d ? d->next : NULL;
		if (!x->string || !cJSON_IsObject(x) || !d || !d->string ||
		    strcmp(d->string, "deployed") || !digest_valid(cJSON_GetStringValue(d)) ||
		    (td && (!td->string || strcmp(td->string, "task_definition") ||
			    !cJSON_IsString(td) || td->next)) ||
		    ct_in(list, x->string) ||
		    !(c = ct_new(x->string, d->valuestring, td ? td->valuestring : NULL))) {
			ct_free(list);
			return;
		}
		*tail = c;
		tail = &c->next;
	}
	while ((x = rec->obj->child))
		cJSON_Delete(cJSON_DetachItemViaPointer(rec->obj, (cJSON *)(uintptr_t)x));
	rec->tags = NULL;
	rec->want_at = NULL;
	rec->ct = list;
	memcpy(rec->parts, parts, n);
	rec->n_parts = n;
	rec->compact = true;
}

/* Every indexed watch of the common form made compact (after a load, an undo). */
static void compact_all(struct state *s)
{
	const cJSON *w;

	const cJSON *ws = s->root ? cJSON_GetObjectItem(s->root, "watches") : NULL;

	cJSON_ArrayForEach(w, ws)
	{
		struct wrec *rec = w->string ? find_rec(s, w->string) : NULL;
		if (rec && rec->obj == w)
			make_compact(rec);
	}
}

/* Compact rec as watch_text() prints the tree it stands for (without member skip). */
static int compact_print(const struct wrec *rec, const char *skip, struct strbuf *b)
{
	int r = strbuf_putc(b, '{');
	bool first = true;

	for (uint8_t i = 0; i < rec->n_parts && r == 0; i++) {
		int part = rec->parts[i];
		if ((part == PART_WANT && !rec->want) || (skip && !strcmp(skip, part_names[part])))
			continue;
		r = first ? 0 : strbuf_putc(b, ',');
		first = false;
		r = r ? r : jsonscan_write_string(b, part_names[part]);
		r = r ? r : strbuf_putc(b, ':');
		if (part == PART_TAGS)
			r = r ? r : sightings_print(rec->g, b);
		else if (part == PART_WANT)
			r = r ? r : want_print(rec->want, b);
		else
			r = r ? r : strbuf_putc(b, '{');
		for (const struct ctarget *t = rec->ct; part == PART_TARGETS && t && r == 0;
		     t = t->next) {
			if (t != rec->ct)
				r = strbuf_putc(b, ',');
			r = r ? r : jsonscan_write_string(b, t->text);
			r = r ? r : strbuf_putc(b, ':');
			r = r ? r : ct_print(t, b);
		}
		if (part == PART_TARGETS)
			r = r ? r : strbuf_putc(b, '}');
	}
	r = r ? r : strbuf_putc(b, '}');
	return r < 0 ? -ENOMEM : 0;
}

/* The name of watch object w's k-th target (compact or not), NULL past the last. */
static const char *target_name(const struct state *s, const cJSON *w, int k)
{
	const struct wrec *rec = w->string ? find_rec(s, w->string) : NULL;

	if (rec && rec->obj == w && rec->compact) {
		const struct ctarget *t = rec->ct;
		while (t && k-- > 0)
			t = t->next;
		return t ? t->text : NULL;
	}
	const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(w, "targets"), k);
	return t ? (t->string ? t->string : "") : NULL;
}

static struct wrec *watch_rec(struct state *s, const char *watch, bool create)
{
	struct wrec *rec = find_rec(s, watch);
	cJSON *ws = cJSON_GetObjectItem(s->root, "watches");

	if (rec || !create)
		return rec;
	if (!(rec = calloc(1, sizeof(*rec))))
		return NULL;
	rec->compact = true; /* (a new watch is of the common form until it is not) */
	if (!(rec->obj = cJSON_AddObjectToObject(ws, watch)) ||
	    strmap_put(s->index, watch, rec, NULL) < 0) {
		if (rec->obj)
			cJSON_Delete(cJSON_DetachItemViaPointer(ws, rec->obj));
		free(rec);
		return NULL;
	}
	return rec;
}

/* The object of the watch, a tree (expand()) when create is set. */
static cJSON *watch_entry(struct state *s, const char *watch, bool create)
{
	struct wrec *rec = watch_rec(s, watch, create);

	if (rec && create && expand(rec) < 0)
		return NULL;
	return rec ? rec->obj : NULL;
}

/*
 * The member names every watch's object repeats, held once: a member named so points at the text
 * here (cJSON's "constant name", which cJSON_Delete() does not free) instead of a copy of its own,
 * an allocation less per member (about 300 bytes a watch with a target). Set on every member added
 * on the hot paths (intern_members()) and over each watch's object when the index is built.
 */
static const char *const common_names[] = {
	"tags",     "want",    "tag",      "digest",          "image",
	"previous", "targets", "deployed", "task_definition", "held",
	"retried",  "failed",  "at",       "reason",
};

static const char *common_name(const char *name)
{
	for (size_t i = 0; i < sizeof(common_names) / sizeof(common_names[0]); i++)
		if (name[0] == common_names[i][0] && !strcmp(name, common_names[i]))
			return common_names[i];
	return NULL;
}

/* The members of o named in common_names[] point at it (o itself is left as it is). */
static void intern_members(cJSON *o)
{
	cJSON *m;
	const char *k;

	cJSON_ArrayForEach(m, o)
	{
		if (m->string && !(m->type & cJSON_StringIsConst) && (k = common_name(m->string))) {
			cJSON_free(m->string);
			m->string = (char *)(uintptr_t)k;
			m->type |= cJSON_StringIsConst;
		}
	}
}

/* The same through o's whole tree (depth bounded by cJSON's parser). */
static void intern_tree(cJSON *o)
{
	cJSON *m;

	intern_members(o);
	cJSON_ArrayForEach(m, o)
	{
		if (cJSON_IsObject(m) || cJSON_IsArray(m))
			intern_tree(m);
	}
}

/*
 * The index of root's watches, their sightings taken from their "tags" (adopt_tags()), or from
 * kept (watch name -> struct sightings, those used taken out of it) when not NULL (an undo).
 * NULL without memory.
 */
static struct strmap *index_of(cJSON *root, struct strmap *kept)
{
	struct strmap *last = strmap_new(), *index = strmap_new();
	cJSON *ws = cJSON_GetObjectItem(root, "watches"), *w;
	int r = last && index ? 0 : -ENOMEM;

	/* a name listed twice: its last object is the one indexed */
	cJSON_ArrayForEach(w, ws)
	{
		if (r == 0 && w->string)
			r = strmap_put(last, w->string, w, NULL);
	}
	cJSON_ArrayForEach(w, ws)
	{
		struct wrec *rec;
		intern_tree(w);
		if (r < 0 || !w->string || strmap_get(last, w->string) != w)
			continue;
		if (!(rec = calloc(1, sizeof(*rec)))) {
			r = -ENOMEM;
			break;
		}
		rec->obj = w;
		rec->tags = cJSON_GetObjectItem(w, "tags");
		if (kept && (rec->g = strmap_get(kept, w->string)) &&
		    strmap_put(kept, w->string, NULL, NULL) < 0) {
			rec->g = NULL; /* still kept's */
			r = -ENOMEM;
		}
		if (r < 0 || strmap_put(index, w->string, rec, NULL) < 0) {
			free_wrec(rec);
			r = -ENOMEM;
		} else {
			r = adopt_tags(rec);
			r = r ? r : adopt_want(rec);
		}
	}
	strmap_free(last, NULL);
	if (r < 0) {
		strmap_free(index, free_wrec);
		return NULL;
	}
	return index;
}

/* Each tag of tags (t's, left as they are) into a new set of sightings in *ret. 0 or -ENOMEM. */
static int sightings_of(const cJSON *tags, struct sightings **ret)
{
	const cJSON *e;
	size_t n = 0, text = 0;
	struct sightings *g;
	int r = 0;

	*ret = NULL;
	if (!tags || !tags->child)
		return 0;
	cJSON_ArrayForEach(e, tags)
	{
		const cJSON *pick = cJSON_GetObjectItemCaseSensitive(e, "tag");
		n++;
		text += strlen(e->string ? e->string : "") + 1;
		text += cJSON_IsString(pick) ? strlen(pick->valuestring) + 1 : 0;
	}
	if (!(g = sightings_new()) || sightings_reserve(g, n, text) < 0)
		r = -ENOMEM;
	cJSON_ArrayForEach(e, tags)
	{
		if (r == 0)
			r = sightings_add_copy(g, e->string ? e->string : "", e);
	}
	if (r < 0) {
		sightings_free(g);
		return r;
	}
	*ret = g;
	return 0;
}

/*
 * s's root and index from t, a state file read and checked (t stays the caller's, to be freed):
 * a copy of t whose indexed watches' "tags" are empty, their entries in compact sightings. Made
 * whole before t is freed, so that what stays is not strewn among the holes t leaves: those go
 * back to the system (give_back_memory()), and a daemon that read 100,000 tags holds what it
 * keeps, not what reading them took. 0 or -ENOMEM.
 */
static int root_from(struct state *s, const cJSON *t)
{
	const cJSON *ws = cJSON_GetObjectItem(t, "watches"), *m, *w;
	struct strmap *last = strmap_new();
	cJSON *root = cJSON_CreateObject(), *cws = NULL, *cw;
	int r = last && root ? 0 : -ENOMEM;

	/* a name listed twice: its last object is the one indexed (index_of()) */
	cJSON_ArrayForEach(w, ws)
	{
		if (r == 0 && w->string)
			r = strmap_put(last, w->string, (void *)(uintptr_t)w, NULL);
	}
	cJSON_ArrayForEach(m, t)
	{
		cJSON *c = r < 0 ? NULL : m == ws ? cJSON_CreateObject() : cJSON_Duplicate(m, true);
		if (!c || !cJSON_AddItemToObject(root, m->string ? m->string : "", c)) {
			cJSON_Delete(c);
			r = -ENOMEM;
			break;
		}
		if (m == ws)
			cws = c;
	}
	const cJSON *from = r == 0 ? ws : NULL;
	cJSON_ArrayForEach(w, from)
	{
		const cJSON *tags = cJSON_GetObjectItem(w, "tags"), *x;
		bool indexed = w->string && strmap_get(last, w->string) == w;
		if (!(cw = cJSON_CreateObject()) ||
		    !cJSON_AddItemToObject(cws, w->string ? w->string : "", cw)) {
			cJSON_Delete(cw);
			r = -ENOMEM;
			break;
		}
		const struct wrec *had = w->string ? find_rec(s, w->string) : NULL;
		if (had && had->obj != w)
			had = NULL;
		/* a compact watch (made by the journal's records) is written out in the copy */
		if (had && had->compact && compact_tree(had, cw, true) < 0) {
			r = -ENOMEM;
			break;
		}
		cJSON_ArrayForEach(x, w)
		{
			cJSON *c =
			    indexed && x == tags ? cJSON_CreateObject() : cJSON_Duplicate(x, true);
			/* a want held compactly (records of the journal applied) is written out in
			 * the copy, to be taken again (adopt_want()) */
			if (c && had && had->want && x == had->want_at &&
			    want_fill(had->want, c) < 0) {
				cJSON_Delete(c);
				c = NULL;
			}
			if (!c || !cJSON_AddItemToObject(cw, x->string ? x->string : "", c)) {
				cJSON_Delete(c);
				r = -ENOMEM;
				break;
			}
		}
		if (r < 0)
			break;
	}
	strmap_free(last, NULL);
	struct strmap *index = r == 0 ? index_of(root, NULL) : NULL;
	/* the indexed copies in the order of t's: their sightings from t's entries */
	cw = cws ? cws->child : NULL;
	for (w = ws ? ws->child : NULL; index && w && cw; w = w->next, cw = cw->next) {
		struct wrec *rec = strmap_get(index, cw->string ? cw->string : "");
		const struct wrec *had = w->string ? find_rec(s, w->string) : NULL;
		if (!rec || rec->obj != cw || rec->g)
			continue;
		/* a watch of t indexed already (records of the journal applied to it) has its
		 * sightings: copied (not moved: the copy lies with the rest of what stays) */
		if (had && had->obj == w) {
			if (had->g && !(rec->g = sightings_clone(had->g))) {
				strmap_free(index, free_wrec);
				index = NULL;
			}
		} else if (sightings_of(cJSON_GetObjectItem(w, "tags"), &rec->g) < 0) {
			strmap_free(index, free_wrec);
			index = NULL;
		}
	}
	if (!index) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_Delete(s->root);
	strmap_free(s->index, free_wrec);
	s->last_rec = NULL;
	s->root = root;
	s->index = index;
	return 0;
}

/*
 * Indexes s->root, read and not indexed yet (state_open(), before the journal's records are
 * applied; a table's state, before its items are merged): each watch's sightings taken from its
 * "tags", its want from its "want" (index_of()). 0, or -ENOMEM.
 */
static int build_index(struct state *s)
{
	if (s->index)
		return 0; /* (its records hold what the tree's placeholders stand for) */
	s->index = index_of(s->root, NULL);
	s->last_rec = NULL;
	return s->index ? 0 : -ENOMEM;
}

/*
 * The text of watch object w as cJSON_PrintUnformatted() prints it (without its member skip, when
 * not NULL), its sightings where its "tags" is, appended to b. 0, or -ENOMEM.
 */
static int watch_text(const struct state *s, const cJSON *w, const char *skip, struct strbuf *b)
{
	const struct wrec *rec = w->string ? find_rec(s, w->string) : NULL;
	const cJSON *m;
	int r;
	bool first = true;

	if (rec && rec->obj != w)
		rec = NULL; /* a watch listed twice in a hand-made file: the others print as read */
	if (rec && rec->compact)
		return compact_print(rec, skip, b);
	r = strbuf_putc(b, '{');
	cJSON_ArrayForEach(m, w)
	{
		if (r < 0)
			break;
		if (skip && m->string && !strcmp(m->string, skip))
			continue;
		if (!first)
			r = strbuf_putc(b, ',');
		first = false;
		r = r ? r : jsonscan_write_string(b, m->string ? m->string : "");
		r = r ? r : strbuf_putc(b, ':');
		if (r == 0 && rec && m == rec->tags) {
			r = sightings_print(rec->g, b);
		} else if (r == 0 && rec && rec->want && m == rec->want_at) {
			r = want_print(rec->want, b);
		} else if (r == 0) {
			char *v = cJSON_PrintUnformatted(m);
			r = v ? strbuf_puts(b, v) : -ENOMEM;
			free(v);
		}
	}
	r = r ? r : strbuf_putc(b, '}');
	return r < 0 ? -ENOMEM : 0;
}

/* Sets key of o to v (replacing, case-sensitively). */
static void put_item(cJSON *o, const char *key, cJSON *v)
{
	if (cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
	else
		cJSON_AddItemToObject(o, key, v);
}

const char *state_seen(const struct state *s, const char *watch, const char *tag)
{
	const struct wrec *rec = find_rec(s, watch);
	long i = rec ? sightings_find(rec->g, tag) : -1;

	/* (the text is written in s's buffer: see state.h) */
	return i < 0
		   ? NULL
		   : sightings_digest(rec->g, (size_t)i, ((struct state *)(uintptr_t)s)->seen_text);
}

int state_seen_is(const struct state *s, const char *watch, const char *tag, const char *digest)
{
	const struct wrec *rec = find_rec(s, watch);
	long i = rec ? sightings_find(rec->g, tag) : -1;

	return i < 0 ? -1 : sightings_digest_is(rec->g, (size_t)i, digest);
}

const char *state_seen_tag(const struct state *s, const char *watch)
{
	const struct wrec *rec = find_rec(s, watch);
	long i = rec ? sightings_find(rec->g, "*") : -1;

	return i < 0 ? NULL : sightings_pick(rec->g, (size_t)i);
}

int state_set_seen(struct state *s, const char *watch, const char *tag, const char *digest,
		   const char *pick_tag)
{
	struct wrec *rec = find_rec(s, watch);
	long i = rec ? sightings_find(rec->g, tag) : -1;
	bool same = i >= 0 && sightings_digest_is(rec->g, (size_t)i, digest);
	const char *old_tag = same && pick_tag ? state_seen_tag(s, watch) : NULL;

	if (same && (!pick_tag || (old_tag && !strcmp(old_tag, pick_tag))))
		return 0;
	if (!(rec = watch_rec(s, watch, true)))
		return -ENOMEM;
	if (rec->compact) {
		add_part(rec, PART_TAGS);
	} else if (!rec->tags) {
		if (!(rec->tags = cJSON_AddObjectToObject(rec->obj, "tags")))
			return -ENOMEM;
		intern_members(rec->obj);
	}
	if (!rec->g && !(rec->g = sightings_new()))
		return -ENOMEM;
	if (sightings_set(rec->g, tag, digest, pick_tag, time(NULL)) < 0)
		return -ENOMEM;
	touch(s, watch, NULL);
	return 0;
}

bool state_want(const struct state *s, const char *watch, struct state_want *ret)
{
	const struct wrec *rec = find_rec(s, watch);
	const cJSON *w, *d, *image, *prev;

	if (rec && rec->want && !ret)
		return true;
	if (rec && rec->want) {
		digest_unpack(rec->want->digest, ret->digest);
		if (want_previous(rec->want))
			digest_unpack(want_previous(rec->want), ret->previous);
		else
			ret->previous[0] = '\0';
		ret->tag = rec->want->text;
		ret->image = rec->want->text + rec->want->image_at;
		return true;
	}
	/* a want of another form, as read (its digests were checked: drop_bad_digests()) */
	w = rec ? cJSON_GetObjectItem(rec->obj, "want") : NULL;
	d = cJSON_GetObjectItem(w, "digest");
	image = cJSON_GetObjectItem(w, "image");
	prev = cJSON_GetObjectItem(w, "previous");
	if (!cJSON_IsString(image) || !digest_valid(cJSON_GetStringValue(d)))
		return false;
	if (!ret)
		return true;
	memcpy(ret->digest, d->valuestring, DIGEST_LEN + 1);
	if (digest_valid(cJSON_GetStringValue(prev)))
		memcpy(ret->previous, prev->valuestring, DIGEST_LEN + 1);
	else
		ret->previous[0] = '\0';
	ret->tag = cJSON_GetStringValue(cJSON_GetObjectItem(w, "tag"));
	ret->image = image->valuestring;
	return true;
}

int state_set_want(struct state *s, const char *watch, const char *tag, const char *digest,
		   const char *image)
{
	const struct wrec *had = find_rec(s, watch);
	struct state_want old;
	bool known;
	cJSON *m;

	if (!digest_valid(digest))
		return -EINVAL;
	if (!tag)
		tag = "";
	/* (the watcher sets it after every poll: the same want is told without writing it out) */
	if (had && had->want && digest_packed_is(had->want->digest, digest) &&
	    !strcmp(had->want->text, tag) && !strcmp(had->want->text + had->want->image_at, image))
		return 0;
	known = state_want(s, watch, &old);
	if (known && !strcmp(old.digest, digest) && !strcmp(old.image, image) &&
	    !strcmp(old.tag ? old.tag : "", tag))
		return 0;
	/* What it followed before, the rollback's last resort when nothing else names it. */
	const char *before = known ? old.digest : NULL;
	if (!before || !strcmp(before, digest))
		before = known && *old.previous ? old.previous : NULL;
	if (before && !strcmp(before, digest))
		before = NULL;
	struct wantrec *w = wantrec_new(tag, digest, image, before);
	struct wrec *rec = w ? watch_rec(s, watch, true) : NULL;
	if (!rec) {
		free(w);
		return -ENOMEM;
	}
	if (rec->compact) {
		free(rec->want);
		rec->want = w;
		add_part(rec, PART_WANT);
		touch(s, watch, NULL);
		return 1;
	}
	m = cJSON_GetObjectItem(rec->obj, "want");
	if (m && !cJSON_IsObject(m)) {
		/* a want that is not an object, as read (null, a text, a list): an object in its
		 * place, where the record prints (and into which an undo writes it back) */
		cJSON *o = cJSON_CreateObject();
		if (!o || !cJSON_ReplaceItemInObjectCaseSensitive(rec->obj, m->string, o)) {
			cJSON_Delete(o);
			free(w);
			return -ENOMEM;
		}
		m = o;
		intern_members(rec->obj);
	}
	if (!m) {
		if (!(m = cJSON_AddObjectToObject(rec->obj, "want"))) {
			free(w);
			return -ENOMEM;
		}
		intern_members(rec->obj);
	}
	while (m->child) /* a want of another form, as read: replaced */
		cJSON_Delete(cJSON_DetachItemViaPointer(m, m->child));
	free(rec->want);
	rec->want = w;
	rec->want_at = m;
	touch(s, watch, NULL);
	return 1;
}

/* The entry of (watch, target key), created when create is set (NULL then only without memory). */
/* (Of a compact watch, NULL unless create, which makes it a tree: its targets hold nothing that
 * the callers without create remove or read.) */
static cJSON *target_entry(struct state *s, const char *watch, const char *tkey, bool create)
{
	const struct wrec *rec = find_rec(s, watch);
	cJSON *w = create ? watch_entry(s, watch, true) : rec && !rec->compact ? rec->obj : NULL;
	cJSON *targets, *t;

	if (!w)
		return NULL;
	targets = cJSON_GetObjectItem(w, "targets");
	if (!targets) {
		if (!create || !(targets = cJSON_AddObjectToObject(w, "targets")))
			return NULL;
		intern_members(w);
	}
	t = cJSON_GetObjectItemCaseSensitive(targets, tkey);
	if (!t && create)
		t = cJSON_AddObjectToObject(targets, tkey);
	return t;
}

static const char *target_string(const struct state *s, const char *watch, const char *tkey,
				 const char *key)
{
	const struct wrec *rec = find_rec(s, watch);

	if (rec && rec->compact) {
		const struct ctarget *c = ct_find(rec, tkey);
		if (c && !strcmp(key, "deployed"))
			return c->text + c->deployed_at;
		return c && c->td_at && !strcmp(key, "task_definition") ? c->text + c->td_at : NULL;
	}
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItem(rec ? rec->obj : NULL, "targets"), tkey);

	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, key));
}

static int target_set(struct state *s, const char *watch, const char *tkey, const char *key,
		      const char *value)
{
	const char *old = target_string(s, watch, tkey, key);
	struct wrec *rec;
	cJSON *t, *v;
	int r;

	if (!value)
		value = "";
	if (old && !strcmp(old, value))
		return 0;
	if (!(rec = watch_rec(s, watch, true)))
		return -ENOMEM;
	if (rec->compact && (r = ct_set(rec, tkey, key, value)) <= 0) {
		if (r == 0)
			touch(s, watch, tkey);
		return r;
	}
	/* (value may be a text of this watch's compact targets, which target_entry() frees) */
	char *copy = strdup(value);
	t = copy ? target_entry(s, watch, tkey, true) : NULL;
	v = t ? cJSON_CreateString(copy) : NULL;
	free(copy);
	if (!v)
		return -ENOMEM;
	put_item(t, key, v);
	intern_members(t);
	touch(s, watch, tkey);
	return 0;
}

const char *state_deployed(const struct state *s, const char *watch, const char *tkey)
{
	return target_string(s, watch, tkey, "deployed");
}

const char *state_held(const struct state *s, const char *watch, const char *tkey)
{
	return target_string(s, watch, tkey, "held");
}

const char *state_retried(const struct state *s, const char *watch, const char *tkey)
{
	return target_string(s, watch, tkey, "retried");
}

int state_set_deployed(struct state *s, const char *watch, const char *tkey, const char *digest)
{
	struct wrec *rec = find_rec(s, watch);

	/* (a compact target drops its task definition itself: ct_set()) */
	if (rec && rec->compact && !digest_valid(digest ? digest : "") && expand(rec) < 0)
		return -ENOMEM;
	const char *old = state_deployed(s, watch, tkey);

	if (old && strcmp(old, digest ? digest : "") && state_task_def(s, watch, tkey)) {
		cJSON_DeleteItemFromObjectCaseSensitive(target_entry(s, watch, tkey, false),
							"task_definition");
		touch(s, watch, tkey);
	}
	return target_set(s, watch, tkey, "deployed", digest);
}

const char *state_task_def(const struct state *s, const char *watch, const char *tkey)
{
	return target_string(s, watch, tkey, "task_definition");
}

int state_set_deployed_td(struct state *s, const char *watch, const char *tkey, const char *digest,
			  const char *task_def)
{
	int r = state_set_deployed(s, watch, tkey, digest);

	if (r == 0 && task_def && *task_def)
		r = target_set(s, watch, tkey, "task_definition", task_def);
	return r;
}

int state_set_held(struct state *s, const char *watch, const char *tkey, const char *digest)
{
	return target_set(s, watch, tkey, "held", digest);
}

int state_set_retried(struct state *s, const char *watch, const char *tkey, const char *digest)
{
	return target_set(s, watch, tkey, "retried", digest);
}

static cJSON *failed_entry(const cJSON *list, const char *digest)
{
	cJSON *e;

	cJSON_ArrayForEach(e, list)
	{
		if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "digest")) ?: "", digest))
			return e;
	}
	return NULL;
}

bool state_failed_has(const struct state *s, const char *watch, const char *tkey,
		      const char *digest)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItem(find_watch(s, watch), "targets"), tkey);

	return digest && failed_entry(cJSON_GetObjectItem(t, "failed"), digest) != NULL;
}

int state_add_failed(struct state *s, const char *watch, const char *tkey, const char *digest,
		     const char *reason, double at)
{
	/* (the entry made first: digest may be a text of the watch's compact targets, which
	 * target_entry() frees) */
	cJSON *e = cJSON_CreateObject(), *t, *list;

	if (!e || !cJSON_AddStringToObject(e, "digest", digest) ||
	    !cJSON_AddNumberToObject(e, "at", at) ||
	    !cJSON_AddStringToObject(e, "reason", reason ? reason : "") ||
	    !(t = target_entry(s, watch, tkey, true))) {
		cJSON_Delete(e);
		return -ENOMEM;
	}
	list = cJSON_GetObjectItem(t, "failed");
	if (!list && !(list = cJSON_AddArrayToObject(t, "failed"))) {
		cJSON_Delete(e);
		return -ENOMEM;
	}
	/* A digest is listed once: its newest failure. */
	cJSON *old = failed_entry(list, cJSON_GetObjectItem(e, "digest")->valuestring);
	if (old)
		cJSON_Delete(cJSON_DetachItemViaPointer(list, old));
	cJSON_AddItemToArray(list, e);
	while (cJSON_GetArraySize(list) > STATE_FAILED_KEPT)
		cJSON_DeleteItemFromArray(list, 0);
	touch(s, watch, tkey);
	return 0;
}

int state_forget_failed(struct state *s, const char *watch, const char *tkey, const char *digest)
{
	cJSON *t = target_entry(s, watch, tkey, false);
	cJSON *list = cJSON_GetObjectItem(t, "failed");
	cJSON *e = digest ? failed_entry(list, digest) : NULL;

	if (!e)
		return 0;
	cJSON_Delete(cJSON_DetachItemViaPointer(list, e));
	touch(s, watch, tkey);
	return 1;
}

const cJSON *state_failed_list(const struct state *s, const char *watch, const char *tkey)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItem(find_watch(s, watch), "targets"), tkey);
	const cJSON *list = cJSON_GetObjectItem(t, "failed");

	return cJSON_IsArray(list) ? list : NULL;
}

/* ---- the operator's overrides ---------------------------------------------- */

/* The object that holds the pause of (watch, tkey): the root, a watch's entry or a target's. */
static cJSON *pause_holder(struct state *s, const char *watch, const char *tkey, bool create)
{
	if (!watch)
		return s->root;
	if (!tkey)
		return create ? watch_entry(s, watch, true) : find_watch(s, watch);
	return target_entry(s, watch, tkey, create);
}

static const char *pause_key(const char *watch)
{
	return watch ? "pause" : "frozen";
}

static double num_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* A whole number of o (from outside: one that a long cannot hold is 0). */
static long long_of(const cJSON *o, const char *key)
{
	double v = num_of(o, key);

	return v > -9.2e18 && v < 9.2e18 ? (long)v : 0;
}

static void by_of(const cJSON *o, struct state_by *by)
{
	by->uid = long_of(o, "uid");
	by->pid = long_of(o, "pid");
	by->at = num_of(o, "at");
}

static bool add_by(cJSON *o, const struct state_by *by)
{
	return cJSON_AddNumberToObject(o, "uid", (double)by->uid) &&
	       cJSON_AddNumberToObject(o, "pid", (double)by->pid) &&
	       cJSON_AddNumberToObject(o, "at", by->at);
}

int state_pause(const struct state *s, const char *watch, const char *tkey, struct state_pause *ret)
{
	/* pause_holder() only reads when create is false */
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(
	    pause_holder((struct state *)(uintptr_t)s, watch, tkey, false), pause_key(watch));

	if (!cJSON_IsObject(p))
		return 0;
	ret->reason = cJSON_GetStringValue(cJSON_GetObjectItem(p, "reason"));
	if (!ret->reason)
		ret->reason = "";
	ret->until = num_of(p, "until");
	by_of(p, &ret->by);
	return 1;
}

int state_set_pause(struct state *s, const char *watch, const char *tkey,
		    const struct state_pause *p)
{
	cJSON *h, *e;

	if (!p) {
		h = pause_holder(s, watch, tkey, false);
		if (h && cJSON_GetObjectItemCaseSensitive(h, pause_key(watch))) {
			cJSON_DeleteItemFromObjectCaseSensitive(h, pause_key(watch));
			touch(s, watch, tkey);
		}
		return 0;
	}
	/* (the pause made first: its reason may be a text of the watch, which pause_holder() may
	 * free) */
	if (!(e = cJSON_CreateObject()) ||
	    !cJSON_AddStringToObject(e, "reason", p->reason ? p->reason : "") ||
	    (p->until > 0 && !cJSON_AddNumberToObject(e, "until", p->until)) ||
	    !add_by(e, &p->by) || !(h = pause_holder(s, watch, tkey, true))) {
		cJSON_Delete(e);
		return -ENOMEM;
	}
	put_item(h, pause_key(watch), e);
	touch(s, watch, tkey);
	return 0;
}

/* Lifts the pause in holder h when expired; keeps *next the earliest until left. */
static void expire_one(struct state *s, cJSON *h, const char *watch, const char *tkey, double now,
		       double *next, void (*fn)(const char *, const char *, void *), void *ud)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(h, pause_key(watch));
	double until = num_of(p, "until");

	if (!cJSON_IsObject(p) || until <= 0)
		return;
	if (until > now) {
		if (!*next || until < *next)
			*next = until;
		return;
	}
	fn(watch, tkey, ud);
	cJSON_DeleteItemFromObjectCaseSensitive(h, pause_key(watch));
	touch(s, watch, tkey);
}

double state_expire_pauses(struct state *s, double now,
			   void (*fn)(const char *watch, const char *tkey, void *ud), void *ud)
{
	double next = 0;
	cJSON *w, *t;

	expire_one(s, s->root, NULL, NULL, now, &next, fn, ud);
	cJSON_ArrayForEach(w, cJSON_GetObjectItem(s->root, "watches"))
	{
		expire_one(s, w, w->string, NULL, now, &next, fn, ud);
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(w, "targets"))
		{
			expire_one(s, t, w->string, t->string, now, &next, fn, ud);
		}
	}
	return next;
}

int state_prune_overrides(struct state *s,
			  bool (*keep)(const char *watch, const char *tkey, void *userdata),
			  void (*dropped)(const char *what, const char *watch, const char *tkey,
					  void *userdata),
			  void *userdata)
{
	static const char *const keys[] = { "pause", "pin" };
	cJSON *w;
	int n = 0;

	cJSON_ArrayForEach(w, cJSON_GetObjectItem(s->root, "watches"))
	{
		const char *watch = w->string ? w->string : "";
		bool known = keep(watch, NULL, userdata);
		cJSON *t;
		if (!known && cJSON_GetObjectItem(w, "pause")) {
			cJSON_DeleteItemFromObject(w, "pause");
			touch(s, watch, NULL);
			dropped("pause", watch, NULL, userdata);
			n++;
		}
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(w, "targets"))
		{
			const char *tkey = t->string ? t->string : "";
			if (known && keep(watch, tkey, userdata))
				continue;
			for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
				if (cJSON_GetObjectItem(t, keys[i])) {
					cJSON_DeleteItemFromObject(t, keys[i]);
					touch(s, watch, tkey);
					dropped(keys[i], watch, tkey, userdata);
					n++;
				}
		}
	}
	return n;
}

int state_pin(const struct state *s, const char *watch, const char *tkey, struct state_pin *ret)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItem(find_watch(s, watch), "targets"), tkey);
	const cJSON *p = cJSON_GetObjectItem(t, "pin");
	const char *digest = cJSON_GetStringValue(cJSON_GetObjectItem(p, "digest"));

	if (!digest)
		return 0;
	ret->digest = digest;
	ret->tag = cJSON_GetStringValue(cJSON_GetObjectItem(p, "tag"));
	by_of(p, &ret->by);
	return 1;
}

int state_set_pin(struct state *s, const char *watch, const char *tkey, const struct state_pin *p)
{
	cJSON *t, *e;

	if (!p) {
		t = target_entry(s, watch, tkey, false);
		if (t && cJSON_GetObjectItem(t, "pin")) {
			cJSON_DeleteItemFromObject(t, "pin");
			touch(s, watch, tkey);
		}
		return 0;
	}
	/* (the pin made first: its texts may be the watch's, which target_entry() may free) */
	if (!(e = cJSON_CreateObject()) || !cJSON_AddStringToObject(e, "digest", p->digest) ||
	    (p->tag && !cJSON_AddStringToObject(e, "tag", p->tag)) || !add_by(e, &p->by) ||
	    !(t = target_entry(s, watch, tkey, true))) {
		cJSON_Delete(e);
		return -ENOMEM;
	}
	put_item(t, "pin", e);
	touch(s, watch, tkey);
	return 0;
}

struct state_undo {
	cJSON *root;         /* the indexed watches' "tags" left empty, as in s */
	struct strmap *kept; /* watch name -> a copy of its sightings */
	bool dirty;
};

struct state_undo *state_undo_mark(const struct state *s)
{
	struct state_undo *u = calloc(1, sizeof(*u));
	const cJSON *w;

	if (!u)
		return NULL;
	u->root = cJSON_Duplicate(s->root, true);
	u->kept = strmap_new();
	u->dirty = s->dirty;
	if (!u->root || !u->kept) {
		state_undo_free(u);
		return NULL;
	}
	cJSON *cw = cJSON_GetObjectItem(u->root, "watches");
	cw = cw ? cw->child : NULL;
	cJSON_ArrayForEach(w, cJSON_GetObjectItem(s->root, "watches"))
	{
		const struct wrec *rec = w->string ? find_rec(s, w->string) : NULL;
		struct sightings *copy;
		const cJSON *m;
		cJSON *cm;
		/* the copy is made in the same order: a compact want is written out in it, to be
		 * taken again at the undo (adopt_want()) */
		for (m = w->child, cm = cw ? cw->child : NULL;
		     rec && rec->obj == w && rec->want && m && cm; m = m->next, cm = cm->next) {
			if (m == rec->want_at && want_fill(rec->want, cm) < 0) {
				state_undo_free(u);
				return NULL;
			}
		}
		/* a compact watch is written out whole in its (empty) copy */
		if (rec && rec->obj == w && rec->compact && cw && compact_tree(rec, cw, true) < 0) {
			state_undo_free(u);
			return NULL;
		}
		cw = cw ? cw->next : NULL;
		if (!rec || rec->obj != w || !rec->g)
			continue;
		if (!(copy = sightings_clone(rec->g)) ||
		    strmap_put(u->kept, w->string, copy, NULL) < 0) {
			sightings_free(copy);
			state_undo_free(u);
			return NULL;
		}
	}
	return u;
}

void state_undo(struct state *s, struct state_undo *u)
{
	if (!u)
		return;
	struct strmap *index = index_of(u->root, u->kept);
	if (index) {
		cJSON_Delete(s->root);
		strmap_free(s->index, free_wrec);
		s->last_rec = NULL;
		s->root = u->root;
		s->index = index;
		u->root = NULL;
		s->dirty = u->dirty;
		compact_all(s);
		if (s->io) {
			/* what the table holds is compared whole: a save that failed half-way
			 * wrote some of what is undone */
			s->diff_all = true;
			s->dirty = true;
		} else if (s->dirty_map) {
			/* the next save writes a snapshot: the keys listed may not cover what is
			 * undone; and a record whose append failed may still be in the journal */
			s->diff_all = true;
			s->dirty |= s->jsuspect;
		}
	}
	/* (without memory: the changed state stays; it is only not written yet) */
	state_undo_free(u);
}

void state_undo_free(struct state_undo *u)
{
	if (!u)
		return;
	cJSON_Delete(u->root);
	strmap_free(u->kept, free_sightings);
	free(u);
}

/* ---- the rollout record's JSON form ---------------------------------------- */

#define REC_STRINGS(X) RECORD_STRINGS(X)
/* clang-format off */
#define REC_NUMBERS(X) \
	X(started_at) \
	X(deadline) \
	X(register_sent_at) \
	X(update_sent_at) \
	X(rollback_deadline) \
	X(rollback_register_sent_at) \
	X(rollback_sent_at) \
	X(hook_expires_at) \
	X(hold_left) \
	X(stop_sent_at) \
	X(cd_create_sent_at) \
	X(cd_rb_create_sent_at) \
	X(cd_rb_wait_until)
/* clang-format on */

int state_record_to_json(const struct rollout_rec *rec, cJSON **ret)
{
	cJSON *o = cJSON_CreateObject(), *c;
	bool ok = o != NULL;

	ok = ok && cJSON_AddNumberToObject(o, "version", RECORD_VERSION);
	ok = ok && cJSON_AddStringToObject(o, "step", record_step_name(rec->step));
	ok = ok && cJSON_AddStringToObject(o, "watch", rec->watch ? rec->watch : "");
#define PUT_S(f) ok = ok && (!rec->f || cJSON_AddStringToObject(o, #f, rec->f));
	REC_STRINGS(PUT_S)
#undef PUT_S
#define PUT_N(f) ok = ok && (!(rec->f > 0) || cJSON_AddNumberToObject(o, #f, rec->f));
	REC_NUMBERS(PUT_N)
#undef PUT_N
	ok = ok && cJSON_AddNumberToObject(o, "timeout_ms", (double)rec->timeout_ms);
	ok = ok && cJSON_AddBoolToObject(o, "rollback", rec->rollback);
	ok = ok && cJSON_AddStringToObject(o, "on_first_start",
					   rec->first_start_skip ? "skip" : "deploy");
	ok = ok && (!rec->after_reset || cJSON_AddBoolToObject(o, "after_reset", 1));
	ok = ok && cJSON_AddBoolToObject(o, "base_pinned", rec->base_pinned);
	ok = ok && (!rec->no_stop || cJSON_AddBoolToObject(o, "no_stop", 1));
	ok = ok && (rec->rollback_by == ROLLBACK_BY_NONE ||
		    cJSON_AddStringToObject(o, "rollback_by",
					    rec->rollback_by == ROLLBACK_BY_ECS    ? "ecs"
					    : rec->rollback_by == ROLLBACK_BY_STOP ? "ecs-stop"
					    : rec->rollback_by == ROLLBACK_BY_CODEDEPLOY
						? "codedeploy"
						: "ecr-deployd"));
	ok = ok && (!rec->cd_port || cJSON_AddNumberToObject(o, "cd_port", (double)rec->cd_port));
	ok = ok && (!rec->cd_discovered || cJSON_AddBoolToObject(o, "cd_discovered", 1));
	ok = ok && (!rec->notified || cJSON_AddNumberToObject(o, "notified", rec->notified));
	c = ok ? cJSON_AddArrayToObject(o, "containers") : NULL;
	ok = c != NULL;
	for (size_t i = 0; ok && i < rec->n_containers; i++)
		ok = cJSON_AddItemToArray(c, cJSON_CreateString(rec->containers[i])) &&
		     cJSON_GetArraySize(c) == (int)i + 1;
	if (!ok) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	*ret = o;
	return 0;
}

int state_record_from_json(const cJSON *o, const char *watch, const char *tkey,
			   struct rollout_rec **ret, char *why, size_t why_len)
{
	struct rollout_rec *rec = calloc(1, sizeof(*rec));
	const cJSON *v, *c;
	int step, version = 1;
	char bad[300];

	if (!rec)
		return -ENOMEM;
	*bad = '\0';
	v = cJSON_GetObjectItemCaseSensitive(o, "version");
	if (v && !(cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= RECORD_VERSION))
		snprintf(bad, sizeof(bad), "its record version is not 1 to %d", RECORD_VERSION);
	else if (v)
		version = (int)v->valuedouble;
	step = record_step_from_name(cJSON_GetStringValue(cJSON_GetObjectItem(o, "step")));
	if (!*bad && step < 0)
		snprintf(bad, sizeof(bad), "its step is not one ecr-deployd knows");
	else if (!*bad && step < STEP_START)
		snprintf(bad, sizeof(bad), "its step '%s' is one that is never written",
			 record_step_name((enum rollout_step)step));
	rec->step = step < 0 ? STEP_START : (enum rollout_step)step;
	if (record_set(&rec->watch, watch) < 0 || record_set(&rec->tkey, tkey) < 0)
		goto nomem;
#define GET_S(f)                                                            \
	v = cJSON_GetObjectItemCaseSensitive(o, #f);                        \
	if (v && !cJSON_IsString(v) && !*bad)                               \
		snprintf(bad, sizeof(bad), "its '%s' is not a string", #f); \
	if (cJSON_IsString(v) && record_set(&rec->f, v->valuestring) < 0)   \
		goto nomem;
	REC_STRINGS(GET_S)
#undef GET_S
#define GET_N(f)                                                                                \
	v = cJSON_GetObjectItemCaseSensitive(o, #f);                                            \
	if (v && !(cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e11) && !*bad) \
		snprintf(bad, sizeof(bad), "its '%s' is not a time", #f);                       \
	rec->f = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e11              \
		     ? v->valuedouble                                                           \
		     : 0;
	REC_NUMBERS(GET_N)
#undef GET_N
	v = cJSON_GetObjectItemCaseSensitive(o, "timeout_ms");
	rec->timeout_ms = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e10
			      ? (long)v->valuedouble
			      : 600000;
	rec->rollback = cJSON_IsTrue(cJSON_GetObjectItem(o, "rollback"));
	rec->first_start_skip =
	    !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "on_first_start")) ?: "", "skip");
	rec->after_reset = cJSON_IsTrue(cJSON_GetObjectItem(o, "after_reset"));
	rec->base_pinned = cJSON_IsTrue(cJSON_GetObjectItem(o, "base_pinned"));
	rec->no_stop = cJSON_IsTrue(cJSON_GetObjectItem(o, "no_stop"));
	v = cJSON_GetObjectItem(o, "rollback_by");
	rec->rollback_by = !cJSON_IsString(v)                       ? ROLLBACK_BY_NONE
			   : !strcmp(v->valuestring, "ecs")         ? ROLLBACK_BY_ECS
			   : !strcmp(v->valuestring, "ecs-stop")    ? ROLLBACK_BY_STOP
			   : !strcmp(v->valuestring, "ecr-deployd") ? ROLLBACK_BY_US
			   : !strcmp(v->valuestring, "codedeploy")  ? ROLLBACK_BY_CODEDEPLOY
								    : ROLLBACK_BY_NONE;
	if (v && !cJSON_IsString(v) && !*bad)
		snprintf(bad, sizeof(bad), "its 'rollback_by' is not a string");
	/* a value is converted only once known to fit (an earlier error must not let a huge one
	 * through to the conversion: undefined behaviour) */
	v = cJSON_GetObjectItemCaseSensitive(o, "cd_port");
	if (v && !(cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 65535 &&
		   v->valuedouble == floor(v->valuedouble))) {
		if (!*bad)
			snprintf(bad, sizeof(bad), "its 'cd_port' is not a port (1 to 65535)");
	} else if (v) {
		rec->cd_port = (long)v->valuedouble;
	}
	rec->cd_discovered = cJSON_IsTrue(cJSON_GetObjectItem(o, "cd_discovered"));
	v = cJSON_GetObjectItemCaseSensitive(o, "notified");
	if (v && !(cJSON_IsNumber(v) && v->valuedouble >= 0 &&
		   v->valuedouble < (double)(1u << NOTICE_KIND_COUNT) &&
		   v->valuedouble == floor(v->valuedouble))) {
		if (!*bad)
			snprintf(bad, sizeof(bad),
				 "its 'notified' is not a set of notification kinds");
	} else if (v) {
		rec->notified = (uint32_t)v->valuedouble;
	}
	/* Deadlines missing (an old or edited record): a whole timeout from now, never already past
	 * (a first look would be a timeout read from an absence). */
	if (!(rec->deadline > 0))
		rec->deadline = (double)time(NULL) + (double)rec->timeout_ms / 1000.0;
	if (rec->rollback_by != ROLLBACK_BY_NONE && !(rec->rollback_deadline > 0))
		rec->rollback_deadline = (double)time(NULL) + (double)rec->timeout_ms / 1000.0;
	/* Version 1 had one time for both registrations. */
	if (version == 1 && rec->step == STEP_RB_REGISTERING)
		rec->rollback_register_sent_at = rec->register_sent_at;
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(o, "containers"))
	{
		if (!cJSON_IsString(c) || rec->n_containers == RECORD_CONTAINERS) {
			if (!*bad)
				snprintf(bad, sizeof(bad), "its containers are not 1 to %d names",
					 RECORD_CONTAINERS);
			break;
		}
		if (!(rec->containers[rec->n_containers] = strdup(c->valuestring)))
			goto nomem;
		rec->n_containers++;
	}
	if (!*bad && rec->digest &&
	    (!digest_valid(rec->digest) || (rec->previous_digest && *rec->previous_digest &&
					    !digest_valid(rec->previous_digest)))) {
		char val[600];
		const char *which = digest_valid(rec->digest) ? "previous digest" : "digest";
		escape_value(digest_valid(rec->digest) ? rec->previous_digest : rec->digest, val,
			     sizeof(val));
		snprintf(bad, sizeof(bad), "its %s '%.200s' is not a valid digest", which, val);
	}
	if (!*bad && (!rec->digest || !rec->image || !rec->cluster || !rec->service ||
		      !rec->region || !rec->n_containers))
		snprintf(bad, sizeof(bad),
			 "it lacks the digest, image, cluster, service, region or containers");
	if (!*bad && rec->step > STEP_READ_BASE && !(rec->base_td && *rec->base_td))
		snprintf(bad, sizeof(bad),
			 "its step '%s' comes after the service was read, but it lacks base_td",
			 record_step_name(rec->step));
	if (!*bad &&
	    (rec->step == STEP_TRACKING_SD || rec->step == STEP_SD_STOP ||
	     rec->step == STEP_SD_CHECK || rec->step == STEP_RB_TRACKING_SD) &&
	    !(rec->deployment_arn && *rec->deployment_arn))
		snprintf(bad, sizeof(bad),
			 "its step '%s' follows a service deployment, but it lacks deployment_arn",
			 record_step_name(rec->step));
	if (!*bad && rec->step >= STEP_CD_APPS && !record_is_codedeploy(rec))
		snprintf(bad, sizeof(bad), "its step '%s' is strategy codedeploy's, not '%.40s''s",
			 record_step_name(rec->step), rec->strategy ? rec->strategy : "revision");
	if (!*bad && rec->step >= STEP_CD_CREATING &&
	    !(rec->cd_application && *rec->cd_application && rec->cd_group && *rec->cd_group &&
	      rec->cd_token && strlen(rec->cd_token) == 16 &&
	      strspn(rec->cd_token, "0123456789abcdef") == 16))
		snprintf(bad, sizeof(bad),
			 "its step '%s' creates or follows a CodeDeploy deployment, but it lacks "
			 "cd_application, cd_group or a 16-hex cd_token",
			 record_step_name(rec->step));
	if (!*bad &&
	    (rec->step == STEP_CD_TRACKING || rec->step == STEP_CD_STOP ||
	     rec->step == STEP_CD_STOP_CHECK) &&
	    !(rec->cd_deployment_id && *rec->cd_deployment_id))
		snprintf(bad, sizeof(bad),
			 "its step '%s' follows a CodeDeploy deployment, but it lacks "
			 "cd_deployment_id",
			 record_step_name(rec->step));
	if (!*bad && rec->step == STEP_CD_RB_TRACKING &&
	    !(rec->rollback_deployment_id && *rec->rollback_deployment_id))
		snprintf(bad, sizeof(bad),
			 "its step '%s' follows a rollback deployment, but it lacks "
			 "rollback_deployment_id",
			 record_step_name(rec->step));
	if (!*bad && (rec->step == STEP_CD_RB_CREATING || rec->step == STEP_CD_RB_FIND) &&
	    !(rec->cd_rb_token && strlen(rec->cd_rb_token) == 16 &&
	      strspn(rec->cd_rb_token, "0123456789abcdef") == 16))
		snprintf(bad, sizeof(bad),
			 "its step '%s' creates our rollback deployment, but it lacks a 16-hex "
			 "cd_rb_token",
			 record_step_name(rec->step));
	/* CodeDeploy ids are sent to CodeDeploy and logged: only what CodeDeploy gives passes. */
	static const char *const id_names[] = { "cd_deployment_id", "rollback_deployment_id" };
	const char *ids[] = { rec->cd_deployment_id,
			      record_is_codedeploy(rec) ? rec->rollback_deployment_id : NULL };
	for (size_t i = 0; i < 2 && !*bad; i++)
		if (ids[i] && *ids[i] && !cdtrack_id_valid(ids[i])) {
			char val[600];
			escape_value(ids[i], val, sizeof(val));
			snprintf(bad, sizeof(bad),
				 "its %s '%.200s' is not a CodeDeploy deployment id", id_names[i],
				 val);
		}
	if (!*bad && !endpoint_valid_region(rec->region)) {
		char val[600];
		escape_value(rec->region, val, sizeof(val));
		snprintf(bad, sizeof(bad), "its region '%.200s' is not an AWS region name", val);
	}
	if (*bad) {
		snprintf(why, why_len, "%s", bad);
		record_free(rec);
		return -EINVAL;
	}
	*ret = rec;
	return 0;
nomem:
	record_free(rec);
	return -ENOMEM;
}

/* The file of a rollout: FNV-1a of its key, so that any watch or target name makes a safe name. */
static void rollout_path(const struct state *s, const char *watch, const char *tkey, char *out,
			 size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = watch; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ 0x1f) * 1099511628211ULL;
	for (const char *p = tkey; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	snprintf(out, n, "%s/%016llx.json", s->rdir, (unsigned long long)h);
}

int state_rollout_save(struct state *s, const struct rollout_rec *rec, char *why, size_t why_len)
{
	char *key = rollout_key(rec->watch, rec->tkey), path[4400];
	cJSON *f = cJSON_CreateObject(), *o = NULL;
	int r;

	if (!key || !f || !cJSON_AddNumberToObject(f, "version", STATE_VERSION) ||
	    !cJSON_AddStringToObject(f, "watch", rec->watch) ||
	    !cJSON_AddStringToObject(f, "target", rec->tkey) || state_record_to_json(rec, &o) < 0) {
		free(key);
		cJSON_Delete(f);
		snprintf(why, why_len, "out of memory while writing the rollout of watch '%s'",
			 rec->watch);
		return -ENOMEM;
	}
	cJSON_AddItemToObject(f, "rollout", o);
	if (s->io) {
		r = table_rollout_write(s, rec->watch, rec->tkey, f, why, why_len);
		if (r == 0) {
			cJSON_DeleteItemFromObjectCaseSensitive(s->rollouts, key);
			cJSON_AddItemToObject(s->rollouts, key, f);
		} else {
			cJSON_Delete(f);
		}
		free(key);
		return r;
	}
	if (mkdir(s->rdir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(why, why_len, "cannot create '%s': %s", s->rdir, strerror(errno));
		free(key);
		cJSON_Delete(f);
		return r;
	}
	rollout_path(s, rec->watch, rec->tkey, path, sizeof(path));
	r = write_atomic(s->rdir, path, f, NULL, NULL, 0, why, why_len);
	if (r == 0) {
		cJSON_DeleteItemFromObjectCaseSensitive(s->rollouts, key);
		cJSON_AddItemToObject(s->rollouts, key, f);
	} else {
		cJSON_Delete(f);
	}
	free(key);
	return r;
}

int state_each_rollout(struct state *s, void (*fn)(struct rollout_rec *rec, void *ud), void *ud)
{
	cJSON *f;
	int missed = 0;

	cJSON_ArrayForEach(f, s->rollouts)
	{
		struct rollout_rec *rec = NULL;
		char why[300];
		if (state_record_from_json(cJSON_GetObjectItem(f, "rollout"),
					   cJSON_GetObjectItem(f, "watch")->valuestring,
					   cJSON_GetObjectItem(f, "target")->valuestring, &rec, why,
					   sizeof(why)) < 0)
			missed++; /* checked at load: only memory can fail here */
		else
			fn(rec, ud);
	}
	return missed;
}

/* A rollout's record the table kept when its removal failed (throttled, say): deleted with the
 * next save, which the failure makes due, so that the record is not left behind until the next
 * start while the daemon runs on. A new record of that target written before then takes it
 * off the list (table_rollout_write). Without memory it stays until a start resumes it. */
static void purge_rollout_later(struct state *s, const char *watch, const char *tkey)
{
	char *sk = item_key(watch, tkey);
	bool listed = false; /* (once: a transaction may name an item only once) */
	const cJSON *p;

	if (!sk)
		return;
	sk[0] = 'r';
	cJSON_ArrayForEach(p, s->purge)
	{
		listed = listed || !strcmp(p->valuestring, sk);
	}
	if (!listed && !s->purge)
		s->purge = cJSON_CreateArray();
	if (listed || (s->purge && cJSON_AddItemToArray(s->purge, cJSON_CreateString(sk))))
		s->dirty = true;
	free(sk);
}

bool state_has_rollout(const struct state *s, const char *watch, const char *tkey)
{
	char *key = rollout_key(watch, tkey);
	bool has = key && cJSON_GetObjectItemCaseSensitive(s->rollouts, key);

	free(key);
	return has;
}

int state_rollout_remove(struct state *s, const char *watch, const char *tkey, char *why,
			 size_t why_len)
{
	char *key = rollout_key(watch, tkey), path[4400];
	int r = 0, dfd;

	if (key)
		cJSON_DeleteItemFromObjectCaseSensitive(s->rollouts, key);
	free(key);
	if (s->io) {
		r = table_rollout_write(s, watch, tkey, NULL, why, why_len);
		if (r < 0)
			purge_rollout_later(s, watch, tkey);
		return r;
	}
	rollout_path(s, watch, tkey, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(why, why_len, "cannot remove '%s': %s", path, strerror(errno));
		return r;
	}
	dfd = open(s->rdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			r = -errno;
		close(dfd);
	}
	if (r < 0)
		snprintf(why, why_len, "cannot sync '%s': %s", s->rdir, strerror(-r));
	return r;
}

size_t state_compact_watches(const struct state *s)
{
	const cJSON *w;
	size_t n = 0;

	cJSON_ArrayForEach(w, cJSON_GetObjectItem(s->root, "watches"))
	{
		const struct wrec *rec = w->string ? find_rec(s, w->string) : NULL;
		n += rec && rec->obj == w && rec->compact;
	}
	return n;
}

bool state_dirty(const struct state *s)
{
	return s->dirty;
}

const char *state_path(const struct state *s)
{
	return s->path;
}

int state_save(struct state *s, char *why, size_t why_len)
{
	if (!s->dirty)
		return 0;
	if (s->io)
		return table_save(s, why, why_len);
	return save_file(s, why, why_len);
}

const char *state_notes(const struct state *s)
{
	return s->notes;
}

bool state_reset_pending(const struct state *s)
{
	return cJSON_GetObjectItem(s->root, "reset_at") != NULL;
}

void state_reset_done(struct state *s)
{
	if (!state_reset_pending(s))
		return;
	cJSON_DeleteItemFromObject(s->root, "reset_at");
	touch(s, NULL, NULL);
}

/* ---- the file helpers, for the other files of the state directory (history.c) ---- */

int state_file_read(const char *path, size_t max, char **ret, size_t *ret_len)
{
	struct strbuf text;
	struct stat st;
	int r;

	strbuf_init(&text, max);
	r = read_all(path, &text, &st);
	if (r < 0) {
		strbuf_done(&text);
		return r;
	}
	*ret_len = text.len;
	*ret = strbuf_steal(&text);
	if (!*ret) {
		*ret = strdup("");
		*ret_len = 0;
	}
	return *ret ? 0 : -ENOMEM;
}

int state_file_write(const char *dir, const char *path, const cJSON *o, char *why, size_t why_len)
{
	return write_atomic(dir, path, o, NULL, NULL, 0, why, why_len);
}

int state_file_write_text(const char *dir, const char *path, const char *text, size_t len,
			  char *why, size_t why_len)
{
	return write_atomic(dir, path, NULL, NULL, text, len, why, why_len);
}

char *state_file_keep_aside(const char *path)
{
	return keep_aside(path);
}

/* ---- the table backend (state_open_table(), docs/ha.md) ---------------------------------- */

#define TABLE_ASIDE_DIR "table-aside"
/* written[sk] of an unusable item copied aside: differs from every doc, so it is replaced. */
static char bad_doc[] = "\x01(set aside)";

static bool is_bad_doc(const char *d)
{
	return d == bad_doc;
}

static void free_doc(void *d)
{
	if (d && !is_bad_doc(d))
		free(d);
}

static void table_free(struct state *s)
{
	strmap_free(s->written, free_doc);
	for (size_t i = 0; i < s->n_wkeys; i++)
		free(s->wkeys[i]);
	free(s->wkeys);
	strmap_free(s->dirty_map, NULL);
	for (size_t i = 0; i < s->n_dirty; i++)
		free(s->dirty_keys[i]);
	free(s->dirty_keys);
	cJSON_Delete(s->purge);
	cJSON_Delete(s->blobs[0]);
	cJSON_Delete(s->blobs[1]);
}

/* Appends a copy of key to a list. 0 or -ENOMEM. */
static int list_add(char ***list, size_t *n, size_t *cap, const char *key)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		char **l = realloc(*list, c * sizeof(*l));
		if (!l)
			return -ENOMEM;
		*list = l;
		*cap = c;
	}
	if (!((*list)[*n] = strdup(key)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* The key of the item that holds (watch, tkey)'s part: "g", "w/<watch>", "t/<watch>/<tkey>". */
static char *item_key(const char *watch, const char *tkey)
{
	size_t n = (watch ? strlen(watch) : 0) + (tkey ? strlen(tkey) : 0) + 8;
	char *k = malloc(n);

	if (!k)
		return NULL;
	if (!watch)
		snprintf(k, n, "g");
	else if (!tkey)
		snprintf(k, n, "w/%s", watch);
	else
		snprintf(k, n, "t/%s/%s", watch, tkey);
	return k;
}

/* Forgets the items listed for the next save: they are written. */
static void clear_dirty_keys(struct state *s)
{
	/* A map made anew, not the keys set to NULL: those would stay, and with them a copy of
	 * every key ever changed (about 25 bytes a watched tag, issue 19). */
	struct strmap *fresh = strmap_new();

	if (fresh) {
		strmap_free(s->dirty_map, NULL);
		s->dirty_map = fresh;
	}
	for (size_t i = 0; i < s->n_dirty; i++) {
		if (!fresh)
			strmap_put(s->dirty_map, s->dirty_keys[i], NULL, NULL);
		free(s->dirty_keys[i]);
	}
	s->n_dirty = 0;
	s->diff_all = false;
}

/* Lists sk among the items to compare at the next save. */
static void touch_key(struct state *s, const char *sk)
{
	if (strmap_get(s->dirty_map, sk))
		return;
	if (list_add(&s->dirty_keys, &s->n_dirty, &s->cap_dirty, sk) < 0 ||
	    strmap_put(s->dirty_map, sk, (void *)1, NULL) < 0)
		s->diff_all = true; /* without memory: everything is compared */
}

static void touch(struct state *s, const char *watch, const char *tkey)
{
	char *sk;

	s->dirty = true;
	if (!s->dirty_map)
		return;
	if (!(sk = item_key(watch, tkey))) {
		s->diff_all = true;
		return;
	}
	touch_key(s, sk);
	free(sk);
}

/* What the table holds for sk, as far as this instance knows: the doc, bad_doc, or NULL. */
static const char *written_doc(const struct state *s, const char *sk)
{
	return strmap_get(s->written, sk);
}

static int set_written(struct state *s, const char *sk, const char *doc)
{
	void *old = NULL;
	char *value = is_bad_doc(doc) ? bad_doc : NULL;

	if (!value && !doc && !strmap_get(s->written, sk))
		return 0; /* nothing known, nothing held */
	if (!value && doc && !(value = strdup(doc)))
		return -ENOMEM;
	if (strmap_put(s->written, sk, value, &old) < 0) {
		free_doc(value);
		return -ENOMEM;
	}
	/* (without memory the key is only not listed: compared when touched, not in a diff_all) */
	if (!old)
		(void)list_add(&s->wkeys, &s->n_wkeys, &s->cap_wkeys, sk);
	free_doc(old);
	return 0;
}

/* The doc of watch object w without its member skip (NULL: all), unformatted; NULL without
 * memory. */
static char *print_without(const struct state *s, const cJSON *w, const char *skip)
{
	struct strbuf b;

	strbuf_init(&b, STATE_MAX);
	if (watch_text(s, w, skip, &b) < 0 || strbuf_append(&b, "", 1) < 0) {
		strbuf_done(&b);
		return NULL;
	}
	return strbuf_steal(&b);
}

/* The global part: the pause of everything and the reset mark (always an item, "{}" at least). */
static char *global_doc(const struct state *s)
{
	cJSON *g = cJSON_CreateObject();
	const cJSON *v;
	char *doc = NULL;

	if (!g)
		return NULL;
	if ((v = cJSON_GetObjectItemCaseSensitive(s->root, "frozen")))
		cJSON_AddItemToObject(g, "frozen", cJSON_Duplicate(v, true));
	if ((v = cJSON_GetObjectItemCaseSensitive(s->root, "reset_at")))
		cJSON_AddItemToObject(g, "reset_at", cJSON_Duplicate(v, true));
	doc = cJSON_PrintUnformatted(g);
	cJSON_Delete(g);
	return doc;
}

/*
 * The doc sk should hold now: *ret a new string, or NULL when the item should not exist (an empty
 * part). 0, or -ENOMEM; -EINVAL for a key that names no part.
 */
static int item_doc(const struct state *s, const char *sk, char **ret)
{
	const char *slash;
	const cJSON *w, *t;
	char watch[256];

	*ret = NULL;
	if (!strcmp(sk, "g"))
		return (*ret = global_doc(s)) ? 0 : -ENOMEM;
	if (!strncmp(sk, "w/", 2)) {
		const struct wrec *rec = find_rec(s, sk + 2);
		w = rec ? rec->obj : NULL;
		bool empty = true;
		if (rec && rec->compact)
			empty = !has_part(rec, PART_TAGS) && !rec->want;
		else
			cJSON_ArrayForEach(t, w) empty &=
			    t->string && !strcmp(t->string, "targets");
		if (!w || empty)
			return 0;
		return (*ret = print_without(s, w, "targets")) ? 0 : -ENOMEM;
	}
	if (strncmp(sk, "t/", 2) || !(slash = strchr(sk + 2, '/')) ||
	    (size_t)(slash - sk - 2) >= sizeof(watch))
		return -EINVAL;
	memcpy(watch, sk + 2, (size_t)(slash - sk - 2));
	watch[slash - sk - 2] = '\0';
	const struct wrec *rec = find_rec(s, watch);
	if (rec && rec->compact) {
		const struct ctarget *c = ct_find(rec, slash + 1);
		struct strbuf b;
		if (!c)
			return 0;
		strbuf_init(&b, STATE_MAX);
		if (ct_print(c, &b) < 0 || strbuf_append(&b, "", 1) < 0) {
			strbuf_done(&b);
			return -ENOMEM;
		}
		return (*ret = strbuf_steal(&b)) ? 0 : -ENOMEM;
	}
	t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(find_watch(s, watch), "targets"),
					     slash + 1);
	if (!t || !t->child)
		return 0;
	return (*ret = cJSON_PrintUnformatted(t)) ? 0 : -ENOMEM;
}

/* The actions of one save, in order. */
struct actions {
	struct ddb_write *w;
	char **docs; /* owned, parallel to w */
	size_t n, cap;
	char big[400]; /* the first item too big for DynamoDB (not written), or "" */
};

/* What an item may hold: DynamoDB's 400 KB less the key and the other attributes. */
#define ITEM_DOC_MAX (DDB_ITEM_MAX - 2048)

static void actions_done(struct actions *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free((char *)(uintptr_t)a->w[i].sk);
		free(a->docs[i]);
	}
	free(a->w);
	free(a->docs);
}

/* Adds a Put (doc, taken over) or a Delete (doc NULL) of sk. 0 or -ENOMEM (doc freed). */
static int actions_add(struct actions *a, const char *sk, char *doc, long long expires)
{
	char *k = strdup(sk);

	if (a->n == a->cap) {
		size_t c = a->cap ? a->cap * 2 : 128;
		struct ddb_write *w = realloc(a->w, c * sizeof(*w));
		if (w)
			a->w = w;
		char **d = w ? realloc(a->docs, c * sizeof(*d)) : NULL;
		if (d)
			a->docs = d;
		if (!w || !d) {
			free(k);
			free(doc);
			return -ENOMEM;
		}
		a->cap = c;
	}
	if (!k) {
		free(doc);
		return -ENOMEM;
	}
	a->w[a->n] = (struct ddb_write){ .sk = k, .doc = doc, .expires = expires };
	a->docs[a->n++] = doc;
	return 0;
}

/* Compares sk's part with what the table holds; adds the action when they differ. */
static int diff_one(const struct state *s, struct actions *a, const char *sk)
{
	char *doc;
	const char *old = written_doc(s, sk);
	int r = item_doc(s, sk, &doc);

	if (r == -EINVAL)
		return 0;
	if (r < 0)
		return r;
	if ((!doc && !old) || (doc && old && !strcmp(doc, old))) {
		free(doc);
		return 0;
	}
	if (doc && strlen(doc) > ITEM_DOC_MAX) {
		/* never sent: one refused item would fail every transaction it is in */
		if (!a->big[0]) {
			char k[300];
			escape_value(sk, k, sizeof(k));
			snprintf(a->big, sizeof(a->big),
				 "the item '%s' (%zu bytes) is over %d bytes", k, strlen(doc),
				 ITEM_DOC_MAX);
		}
		free(doc);
		return 0;
	}
	return actions_add(a, sk, doc, 0);
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void stamp_now(char *out, size_t n)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Every item the table should hold now that differs from what it holds, in key order. */
static int collect_actions(struct state *s, struct actions *a)
{
	int r = 0;

	if (s->meta_missing) {
		char stamp[32], doc[160];
		stamp_now(stamp, sizeof(stamp));
		snprintf(doc, sizeof(doc),
			 "{\"version\":%d,\"status\":\"ready\",\"created_at\":\"%s\"}",
			 STATE_VERSION, stamp);
		char *d = strdup(doc);
		if (!d || actions_add(a, "meta", d, 0) < 0)
			return -ENOMEM;
	}
	const cJSON *p;
	cJSON_ArrayForEach(p, s->purge)
	{
		if (actions_add(a, p->valuestring, NULL, 0) < 0)
			return -ENOMEM;
	}
	if (!s->diff_all) {
		if (s->n_dirty) /* (none: only a purge is due) */
			qsort(s->dirty_keys, s->n_dirty, sizeof(*s->dirty_keys), cmp_key);
		for (size_t i = 0; i < s->n_dirty && r == 0; i++)
			r = diff_one(s, a, s->dirty_keys[i]);
		return r;
	}
	/* Everything: the items of the state, then those the table holds that it no longer has. */
	struct strmap *seen = strmap_new();
	const cJSON *w;
	if (!seen)
		return -ENOMEM;
	r = diff_one(s, a, "g");
	cJSON_ArrayForEach(w, cJSON_GetObjectItem(s->root, "watches"))
	{
		char *sk = item_key(w->string, NULL);
		/* (a watch or target twice in a hand-made state.json is one item, once) */
		r = r ? r : !sk ? -ENOMEM : strmap_get(seen, sk) ? 0 : diff_one(s, a, sk);
		if (sk && strmap_put(seen, sk, (void *)1, NULL) < 0)
			r = -ENOMEM;
		free(sk);
		const char *tk;
		for (int k = 0; (tk = target_name(s, w, k)); k++) {
			sk = item_key(w->string, tk);
			r = r ? r : !sk ? -ENOMEM : strmap_get(seen, sk) ? 0 : diff_one(s, a, sk);
			if (sk && strmap_put(seen, sk, (void *)1, NULL) < 0)
				r = -ENOMEM;
			free(sk);
		}
	}
	for (size_t i = 0; i < s->n_wkeys && r == 0; i++) {
		const char *sk = s->wkeys[i];
		if (written_doc(s, sk) && !strmap_get(seen, sk) && strcmp(sk, "g") &&
		    (!strncmp(sk, "w/", 2) || !strncmp(sk, "t/", 2))) {
			r = actions_add(a, sk, NULL, 0);
			/* (a key deleted and written again is listed twice: one action) */
			if (r == 0 && strmap_put(seen, sk, (void *)1, NULL) < 0)
				r = -ENOMEM;
		}
	}
	strmap_free(seen, NULL);
	return r;
}

static void say_io(char *why, size_t why_len, const char *what, int r)
{
	/* io's why is kept when it said something */
	if (!*why)
		snprintf(why, why_len, "cannot %s: %s", what, strerror(-r));
}

static int table_save(struct state *s, char *why, size_t why_len)
{
	struct actions a = { 0 };
	int r;

	*why = '\0';
	r = collect_actions(s, &a);
	for (size_t off = 0; r == 0 && off < a.n; off += DDB_TX_MAX) {
		size_t n = a.n - off < DDB_TX_MAX ? a.n - off : DDB_TX_MAX;
		r = s->io->write(s->t, a.w + off, n, why, why_len);
		if (r < 0) {
			say_io(why, why_len, "write the state to the table", r);
			break;
		}
		for (size_t i = off; i < off + n; i++) {
			if (!strcmp(a.w[i].sk, "meta")) {
				s->meta_missing = false;
				continue;
			}
			if (set_written(s, a.w[i].sk, a.w[i].doc) < 0)
				s->diff_all = true; /* compared whole next time */
		}
	}
	if (r == -ENOMEM && !*why)
		snprintf(why, why_len, "out of memory while writing the state to the table");
	if (r == 0 && a.big[0]) {
		/* the rest is written; this one stays dirty and is said at every save */
		snprintf(why, why_len, "cannot write the state to the %s: %s", s->path, a.big);
		r = -EFBIG;
	}
	actions_done(&a);
	if (r < 0)
		return r;
	clear_dirty_keys(s);
	cJSON_Delete(s->purge);
	s->purge = NULL;
	s->dirty = false;
	return 0;
}

/* ---- opening a table ---- */

struct raw_item {
	char *sk, *doc; /* doc NULL: the item has none */
	size_t len;
};

struct raw_items {
	struct raw_item *v;
	size_t n, cap;
	int err;
};

#define TABLE_ITEMS_MAX 10000000

static int collect_item(const char *sk, const char *doc, size_t len, void *ud)
{
	struct raw_items *ri = ud;

	if (ri->n == ri->cap) {
		size_t c = ri->cap ? ri->cap * 2 : 256;
		struct raw_item *v = c <= TABLE_ITEMS_MAX ? realloc(ri->v, c * sizeof(*v)) : NULL;
		if (!v) {
			ri->err = -ENOMEM;
			return -ENOMEM;
		}
		ri->v = v;
		ri->cap = c;
	}
	struct raw_item *it = &ri->v[ri->n];
	it->sk = strdup(sk ? sk : "");
	it->doc = doc ? malloc(len + 1) : NULL;
	it->len = len;
	if (!it->sk || (doc && !it->doc)) {
		free(it->sk);
		free(it->doc);
		ri->err = -ENOMEM;
		return -ENOMEM;
	}
	if (doc) {
		memcpy(it->doc, doc, len);
		it->doc[len] = '\0';
	}
	ri->n++;
	return 0;
}

static void raw_items_done(struct raw_items *ri)
{
	for (size_t i = 0; i < ri->n; i++) {
		free(ri->v[i].sk);
		free(ri->v[i].doc);
	}
	free(ri->v);
}

/* The 64-bit FNV-1a of text, for the names of copies. */
static uint64_t fnv64(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h;
}

/*
 * Copies an unusable item to <dir>/table-aside/<kind>-<hash of sk>-<time>.bad: the key on the
 * first line, then the doc as it was. Returns the path (free it) or NULL.
 */
static char *copy_aside(const char *dir, const char *sk, const char *doc, size_t len)
{
	char adir[4200], path[4400], stamp[32], why[600];
	time_t now = time(NULL);
	struct tm tm;
	struct strbuf b;
	char kind = isalnum((unsigned char)*sk) ? *sk : 'x';

	if (!dir)
		return NULL;
	snprintf(adir, sizeof(adir), "%s/%s", dir, TABLE_ASIDE_DIR);
	if (mkdir(adir, 0700) < 0 && errno != EEXIST)
		return NULL;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(path, sizeof(path), "%s/%c-%016llx-%s.bad", adir, kind,
		 (unsigned long long)fnv64(sk, strlen(sk)), stamp);
	strbuf_init(&b, STATE_MAX);
	if (strbuf_append(&b, sk, strlen(sk)) < 0 || strbuf_append(&b, "\n", 1) < 0 ||
	    (doc && strbuf_append(&b, doc, len) < 0)) {
		strbuf_done(&b);
		return NULL;
	}
	int r = write_atomic(adir, path, NULL, NULL, b.buf, b.len, why, sizeof(why));
	strbuf_done(&b);
	return r == 0 ? strdup(path) : NULL;
}

/* Says an unusable item; copies it aside. Returns whether it was copied. */
static bool set_aside(struct state *s, const char *sk, const char *doc, size_t len,
		      const char *problem, char **warnings)
{
	char k[600], p[600], text[6000];
	char *aside = copy_aside(s->dir, sk, doc, len);

	escape_value(sk, k, sizeof(k));
	escape_value(problem, p, sizeof(p));
	if (aside)
		snprintf(text, sizeof(text),
			 "the item '%s' of the %s is unusable (%s); it was copied to '%s' and is "
			 "left out",
			 k, s->path, p, aside);
	else
		snprintf(text, sizeof(text),
			 "the item '%s' of the %s is unusable (%s) and could not be copied aside; "
			 "it is left out (and stays in the table until its part is written again)",
			 k, s->path, p);
	add_warning(warnings, text);
	free(aside);
	return aside != NULL;
}

/* Parses an item's doc; NULL with *problem set. */
static cJSON *parse_doc(const struct raw_item *it, const char **problem)
{
	cJSON *o;

	if (!it->doc) {
		*problem = "it has no doc";
		return NULL;
	}
	if (!(o = cJSON_ParseWithLength(it->doc, it->len))) {
		*problem = "its doc is not valid JSON";
		return NULL;
	}
	if (!cJSON_IsObject(o)) {
		*problem = "its doc is not a JSON object";
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* A watch name in an item's key: 1 to 255 bytes without '/' or control characters. */
static bool key_name_ok(const char *p, size_t n)
{
	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '/' || (unsigned char)p[i] < 0x20)
			return false;
	return true;
}

/* Moves the members of doc (taken over) into the watch's entry (w/) or the target's (t/). */
static const char *merge_part(struct state *s, const char *sk, cJSON *doc)
{
	const char *slash = strchr(sk + 2, '/');
	char watch[256];
	cJSON *into, *m;
	const char *problem;

	if (sk[0] == 'w' ? !key_name_ok(sk + 2, strlen(sk + 2))
			 : !slash || !key_name_ok(sk + 2, (size_t)(slash - sk - 2)) || !slash[1]) {
		cJSON_Delete(doc);
		return "its key names no watch or target";
	}
	snprintf(watch, sizeof(watch), "%.*s", sk[0] == 'w' ? 255 : (int)(slash - sk - 2), sk + 2);
	/* The shape checks of state.json, on a state of this part alone. */
	cJSON *mini = cJSON_CreateObject(), *ws = NULL, *one = NULL, *targets = NULL;
	if (!mini || !cJSON_AddNumberToObject(mini, "version", STATE_VERSION) ||
	    !(ws = cJSON_AddObjectToObject(mini, "watches"))) {
		cJSON_Delete(mini);
		cJSON_Delete(doc);
		return "out of memory";
	}
	if (sk[0] == 'w') {
		cJSON_DeleteItemFromObjectCaseSensitive(doc, "targets");
		cJSON_AddItemToObject(ws, watch, doc);
	} else if ((one = cJSON_AddObjectToObject(ws, watch)) &&
		   (targets = cJSON_AddObjectToObject(one, "targets"))) {
		cJSON_AddItemToObject(targets, slash + 1, doc);
	} else {
		cJSON_Delete(doc);
		cJSON_Delete(mini);
		return "out of memory";
	}
	if ((problem = check_shape(mini))) {
		cJSON_Delete(mini);
		return problem;
	}
	struct wrec *rec = NULL;
	if (sk[0] == 'w') {
		cJSON_DetachItemViaPointer(ws, doc);
		rec = watch_rec(s, watch, true);
		into = rec && expand(rec) == 0 ? rec->obj : NULL;
	} else {
		cJSON_DetachItemViaPointer(targets, doc);
		into = target_entry(s, watch, slash + 1, true);
	}
	cJSON_Delete(mini);
	if (!into) {
		cJSON_Delete(doc);
		return "out of memory";
	}
	while ((m = doc->child)) {
		cJSON_DetachItemViaPointer(doc, m);
		if (sk[0] == 'w' && m->string && !strcmp(m->string, "targets")) {
			cJSON_Delete(m);
			continue;
		}
		if (rec && rec->tags && !strcmp(rec->tags->string, m->string)) {
			/* the member the sightings stood for is replaced: they go with it */
			sightings_free(rec->g);
			rec->g = NULL;
			rec->tags = NULL;
		}
		forget_member(rec, cJSON_GetObjectItemCaseSensitive(into, m->string));
		cJSON_DeleteItemFromObjectCaseSensitive(into, m->string);
		cJSON_AddItemToObject(into, m->string, m);
	}
	cJSON_Delete(doc);
	if (rec && (adopt_tags(rec) < 0 || adopt_want(rec) < 0))
		return "out of memory";
	return NULL;
}

/* A rollout record's item: its doc checked as a rollout file, and its key must be its own. */
static const char *load_rollout_item(struct state *s, const struct raw_item *it, char *buf,
				     size_t n)
{
	const char *problem = NULL;
	cJSON *f = parse_doc(it, &problem);

	if (!f)
		return problem;
	if ((problem = rollout_problem(f, buf, n))) {
		cJSON_Delete(f);
		return problem;
	}
	const char *watch = cJSON_GetObjectItem(f, "watch")->valuestring;
	const char *target = cJSON_GetObjectItem(f, "target")->valuestring;
	char *key = rollout_key(watch, target), *sk = item_key(watch, target);
	if (!key || !sk) {
		free(key);
		free(sk);
		cJSON_Delete(f);
		return "out of memory";
	}
	if (strcmp(sk + 2, it->sk + 2)) {
		free(key);
		free(sk);
		cJSON_Delete(f);
		return "its key is not that of the watch and target it names";
	}
	cJSON_DeleteItemFromObjectCaseSensitive(s->rollouts, key);
	cJSON_AddItemToObject(s->rollouts, key, f);
	free(key);
	free(sk);
	return NULL;
}

/* A sent mark's doc: {"at": Unix seconds}; anything else is taken as marked now. */
static double mark_at(const struct raw_item *it)
{
	cJSON *o = it->doc ? cJSON_ParseWithLength(it->doc, it->len) : NULL;
	const cJSON *at = cJSON_GetObjectItem(o, "at");
	double v = cJSON_IsNumber(at) && at->valuedouble > 0 && at->valuedouble < 1e11
		       ? at->valuedouble
		       : (double)time(NULL);

	cJSON_Delete(o);
	return v;
}

static bool blob_name_ok(const char *name)
{
	return *name && strlen(name) <= 1000 && !strchr(name, '/') && name[0] != '.';
}

/* meta: the header. NULL when usable (*ret_missing when absent), else why not, with *ret_r. */
static const char *check_meta(const struct raw_item *it, int *ret_r, char *buf, size_t n)
{
	const char *problem = NULL;
	cJSON *m = parse_doc(it, &problem);
	const cJSON *v = cJSON_GetObjectItem(m, "version"), *st = cJSON_GetObjectItem(m, "status");

	*ret_r = -EPROTO;
	if (!m) {
		snprintf(buf, n, "its 'meta' item is unusable (%s): fix it or delete it", problem);
	} else if (!cJSON_IsNumber(v) || v->valuedouble != STATE_VERSION) {
		snprintf(buf, n,
			 "its 'meta' item has version %s: it was written by another version of "
			 "ecr-deployd (this one reads version %d)",
			 cJSON_IsNumber(v)
			     ? (v->valuedouble > STATE_VERSION ? "above 1" : "below 1")
			     : "(none)",
			 STATE_VERSION);
	} else if (cJSON_IsString(st) && !strcmp(st->valuestring, "migrating")) {
		*ret_r = -EBUSY;
		snprintf(buf, n,
			 "it is being migrated from a state directory ('meta' says 'migrating'): "
			 "run --migrate-state-to-table again to finish it");
	} else if (!cJSON_IsString(st) || strcmp(st->valuestring, "ready")) {
		snprintf(buf, n, "its 'meta' item's status is not 'ready'");
	} else {
		cJSON_Delete(m);
		return NULL;
	}
	cJSON_Delete(m);
	return buf;
}

int state_open_table_io(const struct state_table_io *io, void *t, const char *dir,
			const char *label, struct state **ret, char **ret_warning, char *why,
			size_t why_len)
{
	struct state *s = calloc(1, sizeof(*s));
	struct raw_items ri = { 0 };
	bool has_meta = false, has_g = false, has_state = false, reset = false;
	int r, unknown = 0;
	char buf[600];

	if (ret_warning)
		*ret_warning = NULL;
	*why = '\0';
	if (!s)
		return -ENOMEM;
	s->io = io;
	s->t = t;
	s->dir = dir ? strdup(dir) : NULL;
	s->path = strdup(label ? label : "table");
	s->rdir = strdup("");
	s->rollouts = cJSON_CreateObject();
	s->root = fresh_root();
	s->written = strmap_new();
	s->dirty_map = strmap_new();
	s->blobs[STATE_BLOB_OUTBOX] = cJSON_CreateObject();
	s->blobs[STATE_BLOB_SENT] = cJSON_CreateObject();
	if ((dir && !s->dir) || !s->path || !s->rdir || !s->rollouts || !s->root || !s->written ||
	    !s->dirty_map || !s->blobs[0] || !s->blobs[1] || build_index(s) < 0) {
		snprintf(why, why_len, "out of memory while reading the %s", label);
		state_free(s);
		return -ENOMEM;
	}
	r = io->read_all(t, "", collect_item, &ri, why, why_len);
	if (r < 0 || ri.err < 0) {
		r = r < 0 ? r : ri.err;
		say_io(why, why_len, "read the state from the table", r);
		raw_items_done(&ri);
		state_free(s);
		return r;
	}
	char **warnings = ret_warning ? ret_warning : &s->notes;
	/* meta first: a table being migrated or from a newer version is not read further */
	for (size_t i = 0; i < ri.n; i++) {
		if (strcmp(ri.v[i].sk, "meta"))
			continue;
		has_meta = true;
		if (check_meta(&ri.v[i], &r, buf, sizeof(buf))) {
			snprintf(why, why_len, "the %s cannot be used: %s", s->path, buf);
			raw_items_done(&ri);
			state_free(s);
			return r;
		}
	}
	for (size_t i = 0; i < ri.n; i++) {
		struct raw_item *it = &ri.v[i];
		const char *sk = it->sk, *problem = NULL;
		cJSON *doc;
		if (!strcmp(sk, "meta") || !strcmp(sk, "lease"))
			continue;
		if (!strcmp(sk, "g")) {
			has_g = has_state = true;
			if (!(doc = parse_doc(it, &problem))) {
				set_aside(s, sk, it->doc, it->len, problem, warnings);
				reset = true;
				set_written(s, sk, bad_doc);
				continue;
			}
			const cJSON *v;
			if ((v = cJSON_GetObjectItemCaseSensitive(doc, "frozen")))
				cJSON_AddItemToObject(s->root, "frozen", cJSON_Duplicate(v, true));
			if ((v = cJSON_GetObjectItemCaseSensitive(doc, "reset_at")))
				cJSON_AddItemToObject(s->root, "reset_at",
						      cJSON_Duplicate(v, true));
			cJSON_Delete(doc);
			set_written(s, sk, it->doc);
		} else if (!strncmp(sk, "w/", 2) || !strncmp(sk, "t/", 2)) {
			has_state = true;
			doc = parse_doc(it, &problem);
			if (doc)
				problem = merge_part(s, sk, doc);
			if (problem) {
				if (set_aside(s, sk, it->doc, it->len, problem, warnings))
					set_written(s, sk, bad_doc);
				reset = true;
				continue;
			}
			set_written(s, sk, it->doc);
		} else if (!strncmp(sk, "r/", 2)) {
			has_state = true;
			if ((problem = load_rollout_item(s, it, buf, sizeof(buf)))) {
				if (set_aside(s, sk, it->doc, it->len, problem, warnings)) {
					if (!s->purge)
						s->purge = cJSON_CreateArray();
					cJSON_AddItemToArray(s->purge, cJSON_CreateString(sk));
					s->dirty = true;
				}
			}
		} else if ((!strncmp(sk, "o/", 2) || !strncmp(sk, "s/", 2)) &&
			   blob_name_ok(sk + 2)) {
			has_state = true;
			if (sk[0] == 'o')
				cJSON_AddItemToObject(s->blobs[STATE_BLOB_OUTBOX], sk + 2,
						      cJSON_CreateString(it->doc ? it->doc : ""));
			else
				cJSON_AddItemToObject(s->blobs[STATE_BLOB_SENT], sk + 2,
						      cJSON_CreateNumber(mark_at(it)));
		} else {
			unknown++;
		}
	}
	raw_items_done(&ri);
	if (unknown) {
		snprintf(buf, sizeof(buf),
			 "the %s holds %d item%s this version does not know (another version's?); "
			 "they are left alone",
			 s->path, unknown, unknown == 1 ? "" : "s");
		add_warning(warnings, buf);
	}
	if (has_meta && !has_g && !reset) {
		snprintf(buf, sizeof(buf),
			 "the %s has a 'meta' item but no 'g' item (items deleted by hand?)",
			 s->path);
		add_warning(warnings, buf);
		reset = true;
	}
	if (!has_meta) {
		/* an empty table is a first start; state without a header is said */
		s->meta_missing = true;
		s->dirty = true;
		if (has_state) {
			snprintf(
			    buf, sizeof(buf),
			    "the %s holds state but no 'meta' item (deleted by hand?); the state "
			    "is used and 'meta' is written again at the first save",
			    s->path);
			add_warning(warnings, buf);
		}
	}
	drop_bad_digests(s, warnings);
	compact_all(s);
	if (reset && !cJSON_GetObjectItem(s->root, "reset_at")) {
		char stamp[32];
		stamp_now(stamp, sizeof(stamp));
		cJSON_AddStringToObject(s->root, "reset_at", stamp);
	}
	/* what the checks repaired or set aside is written at the first save */
	s->diff_all = true;
	if (reset || s->dirty)
		s->dirty = true;
	give_back_memory();
	*ret = s;
	return 0;
}

static int ddb_io_write(void *t, const struct ddb_write *w, size_t n, char *why, size_t why_len)
{
	return ddb_write(t, w, n, why, why_len);
}

static int ddb_io_read_all(void *t, const char *prefix,
			   int (*fn)(const char *sk, const char *doc, size_t len, void *ud),
			   void *ud, char *why, size_t why_len)
{
	return ddb_read_all(t, prefix, fn, ud, why, why_len);
}

static int ddb_io_put_if_absent(void *t, const char *sk, const char *doc, char *why, size_t why_len)
{
	return ddb_put_if_absent(t, sk, doc, why, why_len);
}

const struct state_table_io state_ddb_io = { ddb_io_write, ddb_io_read_all, ddb_io_put_if_absent };

int state_open_table(struct ddb *t, const char *dir, const char *label, struct state **ret,
		     char **ret_warning, char *why, size_t why_len)
{
	return state_open_table_io(&state_ddb_io, t, dir, label, ret, ret_warning, why, why_len);
}

bool state_in_table(const struct state *s)
{
	return s->io != NULL;
}

static int table_write_one(struct state *s, const char *sk, const char *doc, long long expires,
			   char *why, size_t why_len)
{
	struct ddb_write w = { .sk = sk, .doc = doc, .expires = expires };
	int r;

	*why = '\0';
	r = s->io->write(s->t, &w, 1, why, why_len);
	if (r < 0)
		say_io(why, why_len, "write to the table", r);
	return r;
}

static int table_rollout_write(struct state *s, const char *watch, const char *tkey, const cJSON *f,
			       char *why, size_t why_len)
{
	char *sk = item_key(watch, tkey), *doc = f ? cJSON_PrintUnformatted(f) : NULL;
	int r;

	if (!sk || (f && !doc)) {
		free(sk);
		free(doc);
		snprintf(why, why_len, "out of memory while writing the rollout of watch '%s'",
			 watch);
		return -ENOMEM;
	}
	sk[0] = 'r';
	r = table_write_one(s, sk, doc, 0, why, why_len);
	if (r == 0) {
		/* an unusable record set aside at open is replaced now: the purge must not delete
		 * the new one */
		cJSON *p, *next;
		for (p = s->purge ? s->purge->child : NULL; p; p = next) {
			next = p->next;
			if (!strcmp(p->valuestring, sk))
				cJSON_Delete(cJSON_DetachItemViaPointer(s->purge, p));
		}
	}
	free(sk);
	free(doc);
	return r;
}

/* The part of s as items: fn(sk, doc) for g, each w/ and t/ (not the empty ones), each r/. */
int state_each_item(const struct state *s, int (*fn)(const char *sk, const char *doc, void *ud),
		    void *ud)
{
	const cJSON *w, *f;
	struct strmap *seen = strmap_new();
	int r = seen ? 0 : -ENOMEM;

	for (int pass = 0; pass < 3 && r == 0; pass++) {
		/* pass 0: g; 1: each watch's w/ then its t/s; 2: the rollouts */
		if (pass == 0) {
			char *doc = global_doc(s);
			r = doc ? fn("g", doc, ud) : -ENOMEM;
			free(doc);
			continue;
		}
		if (pass == 2) {
			cJSON_ArrayForEach(f, s->rollouts)
			{
				char *sk = item_key(cJSON_GetObjectItem(f, "watch")->valuestring,
						    cJSON_GetObjectItem(f, "target")->valuestring);
				char *doc = cJSON_PrintUnformatted(f);
				if (sk)
					sk[0] = 'r';
				r = r ? r : !sk || !doc ? -ENOMEM : fn(sk, doc, ud);
				free(sk);
				free(doc);
			}
			continue;
		}
		cJSON_ArrayForEach(w, cJSON_GetObjectItem(s->root, "watches"))
		{
			char *sk = item_key(w->string, NULL), *doc = NULL;
			for (int k = 0; r == 0 && sk; k++) {
				if (!strmap_get(seen, sk)) {
					r = strmap_put(seen, sk, (void *)1, NULL);
					r = r ? r : item_doc(s, sk, &doc);
					r = r ? r : doc ? fn(sk, doc, ud) : 0;
					free(doc);
					doc = NULL;
				}
				free(sk);
				sk = NULL;
				const char *tk = target_name(s, w, k);
				if (tk && !(sk = item_key(w->string, tk)))
					r = -ENOMEM;
			}
			free(sk);
			if (r)
				break;
		}
	}
	strmap_free(seen, NULL);
	return r;
}

/* ---- the journal of the directory backend (state.journal) ---------------------------------- */

/*
 * How a save reaches the disk (save_file()): while state.json is at least journal_from bytes and
 * a journal of its generation is ready, the items that changed (dirty_keys) are appended to
 * state.journal as one record (statelog.h: item_doc() of each, or its deletion) with one write()
 * and fdatasync(): the cost of a save follows the change, not the size of the state. Otherwise,
 * and once the journal outgrows max(STATE_JOURNAL_MIN_COMPACT, state.json's size), a snapshot:
 * state.json written atomically as before, carrying the next generation, after which the journal
 * is emptied (records of an older generation are never applied: a crash between the two steps
 * loses nothing). At open, the records of state.json's generation are applied in order through
 * merge_part() (the table backend's loader); a torn last record is dropped (its save never
 * returned); anything unreadable before it makes the journal unusable: both files are set aside
 * and the state starts afresh with the reset mark, as for an unusable state.json.
 */

/* ECR_DEPLOYD_TEST_STATE_JOURNAL_FROM=<bytes> (TESTS ONLY): journal from that size of state.json
 * (0: always), so that the tests exercise the journal on small states. */
static size_t journal_from(void)
{
	const char *v = getenv("ECR_DEPLOYD_TEST_STATE_JOURNAL_FROM");
	char *end = NULL;
	unsigned long long n;

	if (!v || !*v)
		return STATE_JOURNAL_FROM;
	errno = 0;
	n = strtoull(v, &end, 10);
	return errno || *end || n > STATE_MAX ? STATE_JOURNAL_FROM : (size_t)n;
}

static void journal_close(struct state *s)
{
	if (s->jfd_ok) {
		close(s->jfd);
		s->jfd_ok = false;
	}
}

static int sync_dir(const char *dir)
{
	int r = 0, dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	return r;
}

/* The journal open for writing (created, its directory entry made durable, when missing). */
static int journal_fd(struct state *s)
{
	int fd;

	if (s->jfd_ok)
		return 0;
	fd = open(s->jpath, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		fd = open(s->jpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 && sync_dir(s->dir) < 0) {
			int r = -errno;
			close(fd);
			return r;
		}
	}
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : !S_ISREG(st.st_mode) ? -EINVAL : 0;
	if (r < 0) {
		close(fd);
		return r;
	}
	s->jfd = fd;
	s->jfd_ok = true;
	return 0;
}

/*
 * Writes state.json whole, of the next generation, as version 2 (a journal follows: it is
 * emptied) or 1 (none: it is removed). Returns 0 once state.json is written; the journal's reset
 * failing only means the next save writes a snapshot again.
 */
static int save_snapshot(struct state *s, int version, char *why, size_t why_len)
{
	char when[32];
	uint64_t gen = s->gen + 1;
	size_t size = 0;
	int r;

	stamp_now(when, sizeof(when));
	cJSON_DeleteItemFromObjectCaseSensitive(s->root, "version");
	cJSON_DeleteItemFromObjectCaseSensitive(s->root, "generation");
	cJSON_DeleteItemFromObjectCaseSensitive(s->root, "written_at");
	if (!cJSON_AddNumberToObject(s->root, "version", version) ||
	    !cJSON_AddNumberToObject(s->root, "generation", (double)gen) ||
	    !cJSON_AddStringToObject(s->root, "written_at", when)) {
		snprintf(why, why_len, "out of memory while writing '%s'", s->path);
		return -ENOMEM;
	}
	r = write_atomic_sized(s->dir, s->path, s->root, s, NULL, 0, &size, why, why_len);
	if (r < 0) {
		/* not known whether the rename reached the disk: never append to either */
		s->jready = false;
		return r;
	}
	s->gen = gen;
	s->file_version = version;
	s->snap_size = size;
	s->jready = false;
	s->jsuspect = false;
	s->jlen = s->jsize = 0;
	s->compact_at = size > STATE_JOURNAL_MIN_COMPACT ? size : STATE_JOURNAL_MIN_COMPACT;
	clear_dirty_keys(s);
	s->dirty = false;
	if (version == STATE_FILE_JOURNALED) {
		/* records of the old generation are ignored from now on; emptied all the same */
		if (journal_fd(s) == 0 && ftruncate(s->jfd, 0) == 0 && fsync(s->jfd) == 0)
			s->jready = true;
		journal_close(s);
	} else {
		journal_close(s);
		if (unlink(s->jpath) == 0)
			(void)sync_dir(s->dir);
	}
	return 0;
}

/* A key whose item merge_part() takes back (else the change is written as a snapshot). */
static bool journal_key_ok(const char *sk)
{
	const char *slash;

	if (!strcmp(sk, "g"))
		return true;
	if (strlen(sk) > STATELOG_KEY_MAX)
		return false;
	if (!strncmp(sk, "w/", 2))
		return key_name_ok(sk + 2, strlen(sk + 2));
	return !strncmp(sk, "t/", 2) && (slash = strchr(sk + 2, '/')) &&
	       key_name_ok(sk + 2, (size_t)(slash - sk - 2)) && slash[1];
}

/*
 * One record of the items of dirty_keys at jlen. 0; 1 when they cannot be journaled (a key
 * merge_part() would refuse: the caller writes a snapshot); -errno with why filled, the journal
 * cut back to jlen when possible.
 */
static int journal_append(struct state *s, char *why, size_t why_len)
{
	struct strbuf b;
	int r = 0;

	strbuf_init(&b, STATELOG_HEADER + STATELOG_PAYLOAD_MAX);
	r = statelog_begin(&b);
	for (size_t i = 0; r == 0 && i < s->n_dirty; i++) {
		char *doc = NULL;
		if (!journal_key_ok(s->dirty_keys[i]) ||
		    (r = item_doc(s, s->dirty_keys[i], &doc)) == -EINVAL) {
			strbuf_done(&b);
			return 1;
		}
		if (r == 0)
			r = statelog_put(&b, s->dirty_keys[i], doc, doc ? strlen(doc) : 0);
		free(doc);
	}
	if (r == -ENOBUFS) {
		strbuf_done(&b);
		return 1; /* over a record's limit: a snapshot holds it */
	}
	if (r == 0)
		r = statelog_finish(&b, s->gen);
	if (r < 0) {
		strbuf_done(&b);
		snprintf(why, why_len, "out of memory while writing '%s'", s->jpath);
		return r;
	}
	if ((r = journal_fd(s)) < 0) {
		snprintf(why, why_len, "cannot open '%s': %s", s->jpath, strerror(-r));
		strbuf_done(&b);
		return r;
	}
	if (s->jsize != s->jlen && ftruncate(s->jfd, (off_t)s->jlen) < 0) {
		r = -errno;
		snprintf(why, why_len, "cannot cut the torn tail of '%s' at %zu bytes: %s",
			 s->jpath, s->jlen, strerror(errno));
		strbuf_done(&b);
		return r;
	}
	s->jsize = s->jlen;
	ssize_t w;
	do
		w = pwrite(s->jfd, b.buf, b.len, (off_t)s->jlen);
	while (w < 0 && errno == EINTR);
	if (w < 0 || (size_t)w != b.len || fdatasync(s->jfd) < 0) {
		r = w >= 0 && (size_t)w != b.len ? -ENOSPC : -errno;
		snprintf(why, why_len, "cannot write '%s': %s", s->jpath, strerror(-r));
		/* the record must not count: cut it off (a torn one would be dropped anyway) */
		s->jsize = s->jlen + b.len;
		if (ftruncate(s->jfd, (off_t)s->jlen) == 0)
			s->jsize = s->jlen;
		else
			s->jsuspect = true;
		strbuf_done(&b);
		return r;
	}
	s->jlen += b.len;
	s->jsize = s->jlen;
	strbuf_done(&b);
	return 0;
}

int state_compact(struct state *s, char *why, size_t why_len)
{
	struct stat st;

	if (s->io || !s->root || s->dirty ||
	    (s->file_version != STATE_FILE_JOURNALED && lstat(s->jpath, &st) < 0))
		return 0;
	return save_snapshot(s, STATE_VERSION, why, why_len);
}

static int save_file(struct state *s, char *why, size_t why_len)
{
	int version = s->snap_size < s->journal_from ? STATE_VERSION : STATE_FILE_JOURNALED;
	int r;

	if (!s->jready || s->jsuspect || s->diff_all || version == STATE_VERSION)
		return save_snapshot(s, version, why, why_len);
	r = journal_append(s, why, why_len);
	/* not kept open between saves: a file open for writing would keep its filesystem from
	 * being remounted read-only */
	journal_close(s);
	if (r > 0)
		return save_snapshot(s, version, why, why_len);
	if (r < 0)
		return r;
	clear_dirty_keys(s);
	s->dirty = false;
	if (s->jlen > s->compact_at) {
		char ignored[600];
		/* the change is durable already; a compaction that fails is tried again later */
		if (save_snapshot(s, version, ignored, sizeof(ignored)) < 0)
			s->compact_at = s->jlen + (s->snap_size > STATE_JOURNAL_MIN_COMPACT
						       ? s->snap_size
						       : STATE_JOURNAL_MIN_COMPACT);
	}
	return 0;
}

/* Replaying the journal at open. */
struct replay {
	struct state *s;
	const char *problem; /* what made the journal unusable */
	size_t off;          /* the offset of that record */
	int stale, newer, applied;
};

static int replay_entry(const char *sk, const char *doc, size_t len, void *ud)
{
	struct replay *rp = ud;
	struct state *s = rp->s;
	cJSON *o = NULL, *into, *m, *next;
	const char *slash;

	if (!journal_key_ok(sk)) {
		rp->problem = "a record names an item that is not a part of the state";
		return -EINVAL;
	}
	if (doc && !((o = cJSON_ParseWithLength(doc, len)) && cJSON_IsObject(o))) {
		cJSON_Delete(o);
		rp->problem = "a record's item is not a JSON object";
		return -EINVAL;
	}
	if (!strcmp(sk, "g")) {
		/* the global part: the pause of everything and the reset mark */
		static const char *const members[] = { "frozen", "reset_at" };
		for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
			cJSON_DeleteItemFromObjectCaseSensitive(s->root, members[i]);
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, members[i]);
			cJSON *copy = v ? cJSON_Duplicate(v, true) : NULL;
			if (v && (!copy || !cJSON_AddItemToObject(s->root, members[i], copy))) {
				cJSON_Delete(copy);
				cJSON_Delete(o);
				return -ENOMEM;
			}
		}
		cJSON_Delete(o);
		rp->applied++;
		return 0;
	}
	/*
	 * The item replaces the part whole: what it no longer holds goes. A watch's sightings
	 * ("tags") are replaced through merge_part() only (it owns how they are held): an item
	 * without them carries an empty "tags" when the watch had some.
	 */
	if (sk[0] == 'w') {
		struct wrec *rec = find_rec(s, sk + 2);
		if (expand(rec) < 0) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
		into = rec ? rec->obj : NULL;
		for (m = into ? into->child : NULL; m; m = next) {
			next = m->next;
			if (!m->string ||
			    (strcmp(m->string, "targets") && strcmp(m->string, "tags"))) {
				forget_member(rec, m);
				if (rec && m == rec->tags) {
					/* ("Tags": the member the sightings stood for goes) */
					sightings_free(rec->g);
					rec->g = NULL;
					rec->tags = NULL;
				}
				cJSON_Delete(cJSON_DetachItemViaPointer(into, m));
			}
		}
		if (!o && into && cJSON_GetObjectItemCaseSensitive(into, "tags") &&
		    !(o = cJSON_CreateObject()))
			return -ENOMEM;
		if (o && into && cJSON_GetObjectItemCaseSensitive(into, "tags") &&
		    !cJSON_GetObjectItemCaseSensitive(o, "tags") &&
		    !cJSON_AddObjectToObject(o, "tags")) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
	} else {
		char watch[256];
		slash = strchr(sk + 2, '/');
		snprintf(watch, sizeof(watch), "%.*s", (int)(slash - sk - 2), sk + 2);
		if (expand(find_rec(s, watch)) < 0) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(find_watch(s, watch), "targets"), slash + 1);
	}
	if (o && (rp->problem = merge_part(s, sk, o)))
		return strcmp(rp->problem, "out of memory") ? -EINVAL : -ENOMEM;
	rp->applied++;
	return 0;
}

static int replay_record(uint64_t gen, const char *payload, size_t n, size_t off, void *ud)
{
	struct replay *rp = ud;
	const char *problem = NULL;
	int r;

	rp->off = off;
	if (gen != rp->s->gen) {
		/* older: folded into state.json already; newer: state.json is older than them */
		if (gen < rp->s->gen)
			rp->stale++;
		else
			rp->newer++;
		return 0;
	}
	r = statelog_each(payload, n, replay_entry, rp, &problem);
	if (r == -EBADMSG)
		rp->problem = problem;
	return r;
}

/*
 * Applies state.journal's records of the snapshot's generation. 0; 1 when the journal is
 * unusable (problem filled: the file, the offset and what is wrong); -ENOMEM.
 */
static int journal_load(struct state *s, char **warnings, char *problem, size_t problem_len)
{
	struct strbuf text;
	struct stat st;
	struct replay rp = { .s = s };
	struct statelog_scan sc;
	char text_[5000];
	int r;

	s->jready = false;
	s->jlen = s->jsize = 0;
	s->compact_at =
	    s->snap_size > STATE_JOURNAL_MIN_COMPACT ? s->snap_size : STATE_JOURNAL_MIN_COMPACT;
	strbuf_init(&text, STATE_JOURNAL_MAX);
	r = read_all(s->jpath, &text, &st);
	if (r == -ENOENT) {
		strbuf_done(&text);
		s->jready = s->file_version == STATE_FILE_JOURNALED;
		return 0;
	}
	if (r < 0) {
		snprintf(problem, problem_len, "'%s' %s%s", s->jpath,
			 r == -EINVAL  ? "is not a regular file"
			 : r == -EFBIG ? "is larger than any journal ecr-deployd writes"
				       : "cannot be read: ",
			 r == -EINVAL || r == -EFBIG ? "" : strerror(-r));
		strbuf_done(&text);
		return 1;
	}
	if (build_index(s) < 0) {
		strbuf_done(&text);
		return -ENOMEM;
	}
	r = statelog_scan(text.buf ? text.buf : "", text.len, replay_record, &rp, &sc);
	if (r == -ENOMEM) {
		strbuf_done(&text);
		return r;
	}
	if (r < 0 || sc.end == STATELOG_DAMAGED) {
		snprintf(problem, problem_len, "'%s' is damaged at offset %zu: %s%s", s->jpath,
			 r < 0 ? rp.off : sc.bad_at, r < 0 ? rp.problem : sc.problem,
			 r < 0 ? "" : ", and more follows it");
		strbuf_done(&text);
		return 1;
	}
	if (sc.end == STATELOG_TORN) {
		snprintf(text_, sizeof(text_),
			 "the last record of the state journal '%s' (at offset %zu: %s) was cut "
			 "short by a crash; it is dropped (its save never completed)",
			 s->jpath, sc.bad_at, sc.problem);
		add_note(s, text_);
	}
	s->jlen = sc.good;
	s->jsize = text.len;
	strbuf_done(&text);
	if (rp.newer) {
		/* state.json is older than the journal (restored from a copy? replaced by an older
		 * ecr-deployd that set the journaled one aside?): its records are not applied, and
		 * what was deployed is looked at again */
		char *aside = keep_aside(s->jpath);
		snprintf(text_, sizeof(text_),
			 "the state journal '%s' holds changes newer than the state file '%s' (an "
			 "older copy of it?); the journal was kept as '%s', the state file is used "
			 "and what each target runs is checked again",
			 s->jpath, s->path, aside ? aside : "(could not be moved)");
		add_warning(warnings, text_);
		free(aside);
		if (!cJSON_GetObjectItemCaseSensitive(s->root, "reset_at")) {
			char stamp[32];
			stamp_now(stamp, sizeof(stamp));
			if (!cJSON_AddStringToObject(s->root, "reset_at", stamp))
				return -ENOMEM;
		}
		s->dirty = true;
		s->diff_all = true;
		s->jlen = s->jsize = 0;
		return 0;
	}
	s->jready = !rp.stale && s->file_version == STATE_FILE_JOURNALED;
	return 0;
}

/* ---- blobs (the outbox's entries and sent marks) ---- */

static const char *const blob_suffix[] = { ".json", ".sent" };
static const char blob_prefix[] = { 'o', 's' };

int state_open_blobs(const char *dir, struct state **ret)
{
	struct state *s = calloc(1, sizeof(*s));

	if (!s || !(s->dir = strdup(dir)) || !(s->path = strdup(dir)) || !(s->rdir = strdup(""))) {
		state_free(s);
		return -ENOMEM;
	}
	s->blobs_only = true;
	*ret = s;
	return 0;
}

static void blob_file(const struct state *s, enum state_blob_ns ns, const char *name, char *out,
		      size_t n)
{
	snprintf(out, n, "%s/outbox/%s%s", s->dir, name, blob_suffix[ns]);
}

static void blob_odir(const struct state *s, char *out, size_t n)
{
	snprintf(out, n, "%s/outbox", s->dir);
}

static char *blob_key(enum state_blob_ns ns, const char *name)
{
	size_t n = strlen(name) + 3;
	char *k = malloc(n);

	if (k)
		snprintf(k, n, "%c/%s", blob_prefix[ns], name);
	return k;
}

/* "at" of a sent mark's doc. */
static char *mark_doc(double at)
{
	char doc[64];

	snprintf(doc, sizeof(doc), "{\"at\":%.0f}", at);
	return strdup(doc);
}

/* Replaces name in the table's copy of ns (v taken over; NULL: removes). */
static void blob_keep(struct state *s, enum state_blob_ns ns, const char *name, cJSON *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(s->blobs[ns], name);
	if (v)
		cJSON_AddItemToObject(s->blobs[ns], name, v);
}

int state_blob_put(struct state *s, enum state_blob_ns ns, const char *name, const char *text,
		   size_t len, char *why, size_t why_len)
{
	char path[4400], odir[4200];

	if (!blob_name_ok(name)) {
		snprintf(why, why_len, "invalid blob name");
		return -EINVAL;
	}
	if (s->io) {
		char *sk = blob_key(ns, name), *doc = NULL;
		double now = (double)time(NULL);
		if (ns == STATE_BLOB_SENT)
			doc = mark_doc(now);
		else if ((doc = malloc(len + 1))) {
			memcpy(doc, text, len);
			doc[len] = '\0';
		}
		cJSON *v =
		    ns == STATE_BLOB_SENT ? cJSON_CreateNumber(now) : cJSON_CreateString(doc);
		int r = !sk || !doc || !v ? -ENOMEM : table_write_one(s, sk, doc, 0, why, why_len);
		if (r == -ENOMEM && !sk)
			snprintf(why, why_len, "out of memory");
		if (r == 0)
			blob_keep(s, ns, name, v);
		else
			cJSON_Delete(v);
		free(sk);
		free(doc);
		return r;
	}
	blob_odir(s, odir, sizeof(odir));
	blob_file(s, ns, name, path, sizeof(path));
	return write_atomic(odir, path, NULL, NULL, text, len, why, why_len);
}

int state_blob_remove(struct state *s, enum state_blob_ns ns, const char *name, char *why,
		      size_t why_len)
{
	char path[4400];

	if (s->io) {
		char *sk = blob_key(ns, name);
		int r = sk ? table_write_one(s, sk, NULL, 0, why, why_len) : -ENOMEM;
		if (r == 0)
			blob_keep(s, ns, name, NULL);
		free(sk);
		return r;
	}
	blob_file(s, ns, name, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT) {
		int r = -errno;
		snprintf(why, why_len, "cannot remove '%s': %s", path, strerror(errno));
		return r;
	}
	return 0;
}

int state_blob_mark_sent(struct state *s, const char *name, double expires, char *why,
			 size_t why_len)
{
	char from[4400], to[4400];

	if (s->io) {
		double now = (double)time(NULL);
		char *mk = blob_key(STATE_BLOB_SENT, name), *ok = blob_key(STATE_BLOB_OUTBOX, name);
		char *doc = mark_doc(now);
		cJSON *v = cJSON_CreateNumber(now);
		int r = -ENOMEM;
		if (mk && ok && doc && v) {
			struct ddb_write w[2] = {
				{ .sk = mk, .doc = doc, .expires = (long long)expires },
				{ .sk = ok, .doc = NULL, .expires = 0 }
			};
			*why = '\0';
			r = s->io->write(s->t, w, 2, why, why_len);
			if (r < 0)
				say_io(why, why_len, "write to the table", r);
		} else {
			snprintf(why, why_len, "out of memory");
		}
		if (r == 0) {
			blob_keep(s, STATE_BLOB_SENT, name, v);
			blob_keep(s, STATE_BLOB_OUTBOX, name, NULL);
		} else {
			cJSON_Delete(v);
		}
		free(mk);
		free(ok);
		free(doc);
		return r;
	}
	blob_file(s, STATE_BLOB_OUTBOX, name, from, sizeof(from));
	blob_file(s, STATE_BLOB_SENT, name, to, sizeof(to));
	if (rename(from, to) < 0) {
		int r = -errno;
		snprintf(why, why_len, "cannot rename '%s': %s", from, strerror(errno));
		return r;
	}
	utimensat(AT_FDCWD, to, NULL, 0); /* kept from now, not from its writing */
	return 0;
}

bool state_blob_has(const struct state *s, enum state_blob_ns ns, const char *name)
{
	char path[4400];

	if (s->io)
		return cJSON_GetObjectItemCaseSensitive(s->blobs[ns], name) != NULL;
	blob_file(s, ns, name, path, sizeof(path));
	return access(path, F_OK) == 0;
}

int state_blob_each(struct state *s, enum state_blob_ns ns, size_t max,
		    int (*fn)(const char *name, const char *text, size_t len, double at, int err,
			      void *ud),
		    void *ud, char *why, size_t why_len)
{
	char odir[4200], path[4600], name[4200];
	int r = 0;

	if (s->io) {
		/* a copy of the names: fn may remove what it is given */
		cJSON *copy = cJSON_Duplicate(s->blobs[ns], true);
		const cJSON *b;
		if (!copy) {
			snprintf(why, why_len, "out of memory");
			return -ENOMEM;
		}
		cJSON_ArrayForEach(b, copy)
		{
			if (ns == STATE_BLOB_SENT)
				r = fn(b->string, NULL, 0, b->valuedouble, 0, ud);
			else if (strlen(b->valuestring) > max)
				r = fn(b->string, NULL, 0, 0, -EFBIG, ud);
			else
				r = fn(b->string, b->valuestring, strlen(b->valuestring), 0, 0, ud);
			if (r < 0)
				break;
		}
		cJSON_Delete(copy);
		return r < 0 ? r : 0;
	}
	blob_odir(s, odir, sizeof(odir));
	DIR *dir = opendir(odir);
	struct dirent *de;
	if (!dir) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(why, why_len, "cannot read the outbox directory '%s': %s", odir,
			 strerror(errno));
		return r;
	}
	while (r >= 0 && (de = readdir(dir))) {
		const char *d = de->d_name, *suffix = blob_suffix[ns];
		size_t len = strlen(d), sl = strlen(suffix);
		struct stat st;
		if (*d == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", odir, d);
		if (ns == STATE_BLOB_OUTBOX && strstr(d, ".json.tmp-")) {
			unlink(path); /* a write cut short */
			continue;
		}
		if (len <= sl || strcmp(d + len - sl, suffix) || len - sl >= sizeof(name))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(len - sl), d);
		if (lstat(path, &st) < 0)
			continue;
		if (ns == STATE_BLOB_SENT) {
			r = fn(name, NULL, 0, (double)st.st_mtime, 0, ud);
			continue;
		}
		if (S_ISLNK(st.st_mode)) {
			/* never ours (entries are written in place): what it points to is not read
			 */
			r = fn(name, NULL, 0, 0, -ELOOP, ud);
			continue;
		}
		char *text = NULL;
		size_t tlen = 0;
		int e = state_file_read(path, max, &text, &tlen);
		if (e == -EINVAL)
			continue; /* not a regular file: not ours */
		r = fn(name, e < 0 ? NULL : text, e < 0 ? 0 : tlen, 0, e < 0 ? e : 0, ud);
		free(text);
	}
	closedir(dir);
	return r < 0 ? r : 0;
}

char *state_blob_keep_aside(struct state *s, enum state_blob_ns ns, const char *name)
{
	char path[4400], bad[4500];

	if (s->io) {
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(s->blobs[ns], name);
		const char *text = cJSON_GetStringValue(b);
		char *sk = blob_key(ns, name), why[600];
		char *aside = sk ? copy_aside(s->dir, sk, text, text ? strlen(text) : 0) : NULL;
		if (aside && table_write_one(s, sk, NULL, 0, why, sizeof(why)) == 0)
			blob_keep(s, ns, name, NULL);
		else if (aside)
			errno = EIO;
		else
			errno = s->dir ? EIO : ENOENT;
		free(sk);
		return aside;
	}
	blob_file(s, ns, name, path, sizeof(path));
	snprintf(bad, sizeof(bad), "%s.bad", path);
	if (rename(path, bad) < 0)
		return NULL;
	return strdup(bad);
}

/* SPDX-License-Identifier: MIT */
/*
 * The state file, <state_directory>/state.json: what ecr-deployd knows that
 * AWS does not tell it again, such as the last digest seen of every
 * followed tag. Versioned ("version": 1, or 2 while state.journal holds
 * changes made since it was written), written atomically (a temporary
 * file, fsync, rename, fsync of the directory), so that a crash at any
 * moment leaves either the old file or the new one; a large state's
 * changes are appended to state.journal in between (statelog.h), so that
 * a save costs what changed. A file that cannot be read, does not parse,
 * or comes from a newer version (or a journal damaged before its last
 * record) is kept aside as <file>.bad-<time> (never deleted) and the
 * daemon starts afresh, rebuilding what it can from AWS.
 */
#ifndef ECR_STATE_H
#define ECR_STATE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "digest.h"
#include "record.h"

#define STATE_VERSION 1

struct state;
struct ddb;
struct ddb_write;

/*
 * Opens the state in dir (created, mode 0700, when missing). Returns 0 and
 * *ret; when the old file had to be set aside, *ret_warning (if not NULL)
 * is set to a sentence naming both files (the caller logs it; free it).
 * Returns -errno when dir cannot be created or used, with why filled.
 */
int state_open(const char *dir, struct state **ret, char **ret_warning, char *why, size_t why_len);

/*
 * What state_open() did to the directory that the caller should say (a mode made 0700, stale
 * temporary files removed), as one sentence, or NULL when nothing.
 */
const char *state_notes(const struct state *s);

/*
 * Whether the state was rebuilt from nothing (state.json unusable) and the deployer has not yet
 * looked at every target since: what was deployed and what failed is unknown until then. The mark
 * is written at the reset, so it survives a restart; state_reset_done() clears it.
 */
bool state_reset_pending(const struct state *s);
void state_reset_done(struct state *s);

/* Frees (without saving). NULL is a no-op. */
void state_free(struct state *s);

/*
 * The digest last seen for (watch, tag), or NULL. tag "*" is the tag rule's pick. The sightings are
 * held compactly (daemon/sightings.h: the digest as 32 bytes), so the text returned is written in
 * a buffer of s: it lives until the next state_seen() on s or the next change of s (copy it to keep
 * it, or to compare two of them).
 */
const char *state_seen(const struct state *s, const char *watch, const char *tag);

/* Whether the digest last seen for (watch, tag) is digest: 1, 0 when it is another, -1 when none
 * is (compared without writing the text out). */
int state_seen_is(const struct state *s, const char *watch, const char *tag, const char *digest);

/* The tag of that pick for glob and semver rules, or NULL. Lives until the next change of s. */
const char *state_seen_tag(const struct state *s, const char *watch);

/*
 * Records a sighting (tag may be "*" with pick_tag naming the tag picked); digest may be a value
 * state_seen() returned. Returns 0 or -ENOMEM.
 */
int state_set_seen(struct state *s, const char *watch, const char *tag, const char *digest,
		   const char *pick_tag);

/*
 * What a watch deploys now: the digest, the repository URI it is pinned to (image), the tag it
 * came from (NULL: not known; "" for none) and the digest it followed before (previous: "" when
 * not known). The watcher sets it after every poll; the deployer reads it. In the state file it is
 * the watch's "want": {"tag", "digest", "image", "previous"?}; in memory a compact record.
 */
struct state_want {
	char digest[DIGEST_LEN + 1];
	char previous[DIGEST_LEN + 1];
	const char *tag;   /* lives until the watch's want changes or the state is undone */
	const char *image; /* the same */
};
/* Fills *ret (unless NULL) and returns true, or returns false when the watch wants nothing yet. */
bool state_want(const struct state *s, const char *watch, struct state_want *ret);
/* Returns 1 when the want changed, 0 when it was that already, -EINVAL when digest is not one,
 * -ENOMEM. */
int state_set_want(struct state *s, const char *watch, const char *tag, const char *digest,
		   const char *image);

/*
 * What is known of (watch, target key), each set through its own operation (which marks the state
 * changed): the digest it runs ("deployed": NULL never looked at, "" not a digest we can name),
 * one held back until a newer push, one the operator's 'retry' took, and the digests that failed
 * there (each listed once, its newest failure; the last STATE_FAILED_KEPT). The texts returned
 * here and by state_task_def() live until the next change of any target of the same watch (a
 * compact watch's record is replaced, or made a tree, then): copy one to keep it across a change.
 * A text given to a setter may be one of them.
 */
#define STATE_FAILED_KEPT 20
const char *state_deployed(const struct state *s, const char *watch, const char *tkey);
const char *state_held(const struct state *s, const char *watch, const char *tkey);
const char *state_retried(const struct state *s, const char *watch, const char *tkey);
bool state_failed_has(const struct state *s, const char *watch, const char *tkey,
		      const char *digest);
/* These return 0 or -ENOMEM. */
int state_set_deployed(struct state *s, const char *watch, const char *tkey, const char *digest);
int state_set_held(struct state *s, const char *watch, const char *tkey, const char *digest);
int state_set_retried(struct state *s, const char *watch, const char *tkey, const char *digest);
int state_add_failed(struct state *s, const char *watch, const char *tkey, const char *digest,
		     const char *reason, double at);

/*
 * The task definition the target runs, when known: set with the digest (state_set_deployed_td());
 * state_set_deployed() with another digest forgets it. NULL when unknown.
 */
const char *state_task_def(const struct state *s, const char *watch, const char *tkey);
int state_set_deployed_td(struct state *s, const char *watch, const char *tkey, const char *digest,
			  const char *task_def);

/*
 * Forgets one failed digest of (watch, tkey) (the operator's retry). Returns 1 when it was
 * listed, 0 when not.
 */
int state_forget_failed(struct state *s, const char *watch, const char *tkey, const char *digest);

/* The failed digests of (watch, tkey), oldest first: an array of {"digest", "at", "reason"}, or
 * NULL. */
const cJSON *state_failed_list(const struct state *s, const char *watch, const char *tkey);

/*
 * The operator's overrides (the control socket), persisted with the rest. Who made one: the
 * caller's uid and pid, and when (Unix seconds).
 */
struct state_by {
	long uid, pid;
	double at;
};

/* A pause of everything (watch NULL), of a watch (tkey NULL) or of a target. */
struct state_pause {
	const char *reason; /* "" when none given */
	double until;       /* Unix seconds, 0: until resumed */
	struct state_by by;
};

/*
 * Whether that pause is set (an expired one too, until state_expire_pauses() lifts it): 1 with
 * *ret filled (its strings live until the next change of the state), 0 when not.
 */
int state_pause(const struct state *s, const char *watch, const char *tkey,
		struct state_pause *ret);
/* Sets (p) or lifts (p NULL) that pause. 0, or -ENOMEM. */
int state_set_pause(struct state *s, const char *watch, const char *tkey,
		    const struct state_pause *p);
/*
 * Lifts every pause whose until is at or before now, calling fn(watch, tkey, ud) for each first
 * (watch NULL: the pause of everything; tkey NULL: a watch's). Returns the earliest until of the
 * pauses left (0: none has one).
 */
double state_expire_pauses(struct state *s, double now,
			   void (*fn)(const char *watch, const char *tkey, void *ud), void *ud);

/* A target's pin: the digest it deploys instead of the watch's (tag: the tag it was resolved
 * from, or NULL). */
struct state_pin {
	const char *digest;
	const char *tag;
	struct state_by by;
};
/*
 * Removes the pauses and pins of watches and targets the configuration no longer has: keep(watch,
 * NULL) says whether a watch is configured, keep(watch, tkey) whether that target of it is;
 * dropped(what ("pause" or "pin"), watch, tkey or NULL) is told of each removal. Returns how many.
 */
int state_prune_overrides(struct state *s,
			  bool (*keep)(const char *watch, const char *tkey, void *userdata),
			  void (*dropped)(const char *what, const char *watch, const char *tkey,
					  void *userdata),
			  void *userdata);
/* 1 with *ret (strings live until the next change), 0 when not pinned. */
int state_pin(const struct state *s, const char *watch, const char *tkey, struct state_pin *ret);
/* Sets (p) or lifts (p NULL) the pin. 0, or -ENOMEM. */
int state_set_pin(struct state *s, const char *watch, const char *tkey, const struct state_pin *p);

/*
 * A copy of the state in memory to go back to when a save fails (an operator's change must not
 * stay in memory when it could not be written). state_undo() puts it back and frees it;
 * state_undo_free() only frees. NULL without memory.
 */
struct state_undo;
struct state_undo *state_undo_mark(const struct state *s);
void state_undo(struct state *s, struct state_undo *u);
void state_undo_free(struct state_undo *u);

/*
 * Rollouts in flight live in files of their own, <dir>/rollouts/<hash>.json, so that writing a
 * step costs a small file, not the whole state. state_rollout_save() writes rec's file atomically
 * (temporary file, fsync, rename, fsync of the directory); state_rollout_remove() removes it.
 * Files that cannot be used are kept aside like the state file. Both return 0 or -errno (why
 * filled).
 */
int state_rollout_save(struct state *s, const struct rollout_rec *rec, char *why, size_t why_len);
int state_rollout_remove(struct state *s, const char *watch, const char *tkey, char *why,
			 size_t why_len);
bool state_has_rollout(const struct state *s, const char *watch, const char *tkey);

/*
 * Calls fn with every rollout record the files hold, each a new one that fn takes over (and frees
 * with record_free()). Returns how many could not be made (no memory); their files stay.
 */
int state_each_rollout(struct state *s, void (*fn)(struct rollout_rec *rec, void *ud), void *ud);

/*
 * The record's JSON form (the "rollout" object of its file; "version": RECORD_VERSION; a version
 * 1 record without it loads). from_json checks every field it reads (a digest must be one) and
 * fails with -EINVAL and why naming the first bad one, or -ENOMEM.
 */
int state_record_to_json(const struct rollout_rec *rec, cJSON **ret);
int state_record_from_json(const cJSON *o, const char *watch, const char *tkey,
			   struct rollout_rec **ret, char *why, size_t why_len);

/* Whether anything changed since the last save. */
bool state_dirty(const struct state *s);

/* How many watches are held compactly (without a cJSON tree; see state.c's struct wrec): for the
 * tests. */
size_t state_compact_watches(const struct state *s);

/*
 * Makes what changed durable, if anything did. Returns 0 or -errno (why filled); the state stays
 * dirty. In a directory, a small state (under 64 KiB) is written whole, atomically, to
 * state.json; a larger one appends one record of the parts that changed to state.journal
 * (written with one write() and fdatasync()), and writes state.json whole, atomically, only when
 * the journal has outgrown it (ecr-deployd(8), FILES).
 */
int state_save(struct state *s, char *why, size_t why_len);

/*
 * In a directory, folds state.journal into state.json (version 1, which an older ecr-deployd reads
 * too) and removes it: what a clean stop calls after its last state_save(), so that a stopped
 * daemon leaves one file. Does nothing when the state is dirty (what was not saved stays unsaved),
 * holds no journal, or lives in a table. 0 or -errno (why filled; the files stay usable).
 */
int state_compact(struct state *s, char *why, size_t why_len);

/* The path of the state file. */
const char *state_path(const struct state *s);

/*
 * The state file's helpers, for the other files of the state directory (history.json):
 * state_file_read() reads a regular file whole (at most max bytes: -EFBIG; not a regular file:
 * -EINVAL; *ret malloc'd, NUL-terminated); state_file_write() writes o to path atomically
 * (temporary file, fsync, rename, fsync of dir; -errno with why filled); state_file_keep_aside()
 * renames path to <path>.bad-<time> and returns the new name (free it), or NULL (errno set).
 */
int state_file_read(const char *path, size_t max, char **ret, size_t *ret_len);
int state_file_write(const char *dir, const char *path, const cJSON *o, char *why, size_t why_len);
/* The same for text of len bytes (an outbox entry): a temporary file "<path>.tmp-<pid>". */
int state_file_write_text(const char *dir, const char *path, const char *text, size_t len,
			  char *why, size_t why_len);
char *state_file_keep_aside(const char *path);

/* ---- the table backend (ha: several instances share one DynamoDB table, docs/ha.md) ---- */

/*
 * Opens the state held in the table: reads every item of the group (strongly consistent) and
 * checks each one as the file's reader checks state.json; then the same API works on it, and
 * every write goes through ddb_write() (fenced by the lease: -ESTALE when another instance leads).
 * Items: "meta" (the header), "g" (the global part: the pause of everything, the reset mark),
 * "w/<watch>" (sightings, pick tag, want, the watch's pause), "t/<watch>/<tkey>" (a target),
 * "r/<watch>/<tkey>" (a rollout record), "o/<entry>" and "s/<entry>" (the outbox, see the blobs
 * below). state_save() writes only the items whose part changed (Put, or Delete when the part is
 * gone), in transactions of at most DDB_TX_MAX actions; a failed save leaves them dirty (written
 * by the next one; an earlier transaction of the same save may have gone through).
 *
 * An unusable item (not JSON, the wrong shape, a watch or target the key does not name) is set
 * aside: copied to <dir>/table-aside/<time>-<hex of its key>.json when dir is not NULL, said in
 * *ret_warning, and left out (the good ones load); the reset mark is set (what a lost watch or
 * target held is unknown until the deployer looked again), as it is when "meta" exists but "g"
 * does not (items deleted by hand). A table without any state (no "meta", no item) starts afresh
 * like a missing state.json, and "meta" is written at the first save.
 * label names the table in messages and state_path() (e.g. "table 'x' group 'y'").
 *
 * Returns 0 and *ret; -EBUSY when the table's migration has not finished ("meta" says
 * "migrating": run --migrate-state-to-table again); -EPROTO when "meta" is unreadable or from a
 * newer version; -ENOMEM; or the read's -errno (-EAGAIN, -EACCES...). why filled.
 */
int state_open_table(struct ddb *t, const char *dir, const char *label, struct state **ret,
		     char **ret_warning, char *why, size_t why_len);

/*
 * The calls the table backend makes: ddb.h's (state_open_table()) or a test's fake, with t passed
 * through. Same contracts as ddb_write(), ddb_read_all() and ddb_put_if_absent().
 */
struct state_table_io {
	int (*write)(void *t, const struct ddb_write *w, size_t n, char *why, size_t why_len);
	int (*read_all)(void *t, const char *prefix,
			int (*fn)(const char *sk, const char *doc, size_t len, void *ud), void *ud,
			char *why, size_t why_len);
	int (*put_if_absent)(void *t, const char *sk, const char *doc, char *why, size_t why_len);
};
/* ddb.h's calls, as a state_table_io (t: a struct ddb). */
extern const struct state_table_io state_ddb_io;
int state_open_table_io(const struct state_table_io *io, void *t, const char *dir,
			const char *label, struct state **ret, char **ret_warning, char *why,
			size_t why_len);

/* Whether s lives in a table (state_open_table()) rather than in a directory. */
bool state_in_table(const struct state *s);

/*
 * The items of s's state as the table holds them (meta aside): fn(sk, doc) for "g", each "w/" and
 * each "t/" (not the empty ones), then each "r/". For the migration. 0, -ENOMEM, or fn's < 0.
 */
int state_each_item(const struct state *s, int (*fn)(const char *sk, const char *doc, void *ud),
		    void *ud);

/* ---- blobs: the outbox's entries and sent marks, in the directory or in the table ---- */

/*
 * A blob is a named piece of text in a namespace. Files: <dir>/outbox/<name>.json (an entry),
 * <dir>/outbox/<name>.sent (its sent mark, the entry renamed); table: items "o/<name>" (doc: the
 * text) and "s/<name>" (doc {"at": when marked}, with "expires" for DynamoDB's TTL). name: the
 * outbox's "<sink>.<key>", without '/'.
 */
enum state_blob_ns { STATE_BLOB_OUTBOX, STATE_BLOB_SENT };

/*
 * A state object for the blobs of dir alone (state.json is not read; nothing else works on it):
 * for an outbox given no state (tests, tools). 0 or -ENOMEM. Free with state_free().
 */
int state_open_blobs(const char *dir, struct state **ret);

/* Writes (creates or replaces) a blob; files atomically. 0 or -errno (why filled). */
int state_blob_put(struct state *s, enum state_blob_ns ns, const char *name, const char *text,
		   size_t len, char *why, size_t why_len);
/* Removes a blob (missing: 0). 0 or -errno (why filled). */
int state_blob_remove(struct state *s, enum state_blob_ns ns, const char *name, char *why,
		      size_t why_len);
/*
 * The entry name was sent: its sent mark made (marked now; expires: Unix seconds after which the
 * table may drop it) and the entry removed, in one step (a rename; one transaction). 0 or -errno.
 */
int state_blob_mark_sent(struct state *s, const char *name, double expires, char *why,
			 size_t why_len);
/* Whether the blob exists. */
bool state_blob_has(const struct state *s, enum state_blob_ns ns, const char *name);
/*
 * Calls fn for every blob of ns: its name, its text (NULL for a sent mark, or when err < 0), and
 * at (Unix seconds: when a sent mark was made; 0 for entries); err is 0, or -errno for one that
 * cannot be read (-ELOOP a symbolic link, -EFBIG over max bytes, -EIO...) which fn may set aside
 * with state_blob_keep_aside(). Files that are not regular are skipped; leftovers of interrupted
 * writes removed. fn returns < 0 to stop. Returns 0, -errno when the namespace cannot be read
 * (why filled; a missing directory is empty), or fn's < 0.
 */
int state_blob_each(struct state *s, enum state_blob_ns ns, size_t max,
		    int (*fn)(const char *name, const char *text, size_t len, double at, int err,
			      void *ud),
		    void *ud, char *why, size_t why_len);
/*
 * An unusable blob is kept for a human and no longer read: files renamed to <file>.bad; table: the
 * item copied to the state directory's table-aside/ and deleted. Returns the place it was kept
 * (free it), or NULL (errno set).
 */
char *state_blob_keep_aside(struct state *s, enum state_blob_ns ns, const char *name);

#endif

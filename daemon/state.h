/* SPDX-License-Identifier: MIT */
/*
 * The state file, <state_directory>/state.json: what ecr-deployd knows that
 * AWS does not tell it again, such as the last digest seen of every
 * followed tag. Versioned ("version": 1), written atomically (a temporary
 * file, fsync, rename, fsync of the directory), so that a crash at any
 * moment leaves either the old file or the new one. A file that cannot be
 * read, does not parse, or comes from a newer version is kept aside as
 * state.json.bad-<time> (never deleted) and the daemon starts afresh,
 * rebuilding what it can from AWS.
 */
#ifndef ECR_STATE_H
#define ECR_STATE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "record.h"

#define STATE_VERSION 1

struct state;

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

/* The digest last seen for (watch, tag), or NULL. tag "*" is the tag rule's pick. */
const char *state_seen(const struct state *s, const char *watch, const char *tag);

/* The tag of that pick for glob and semver rules, or NULL. */
const char *state_seen_tag(const struct state *s, const char *watch);

/* Records a sighting (tag may be "*" with pick_tag naming the tag picked). Returns 0 or -ENOMEM. */
int state_set_seen(struct state *s, const char *watch, const char *tag, const char *digest,
		   const char *pick_tag);

/*
 * What a watch deploys now: {"tag", "digest", "image", "previous"?} (image: the repository URI the
 * digest is pinned to; previous: the digest it followed before, when known), or NULL. The watcher
 * sets it after every poll; the deployer reads it.
 */
const cJSON *state_want(const struct state *s, const char *watch);
int state_set_want(struct state *s, const char *watch, const char *tag, const char *digest,
		   const char *image);

/*
 * What is known of (watch, target key), each set through its own operation (which marks the state
 * changed): the digest it runs ("deployed": NULL never looked at, "" not a digest we can name),
 * one held back until a newer push, one the operator's 'retry' took, and the digests that failed
 * there (each listed once, its newest failure; the last STATE_FAILED_KEPT).
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

/* Writes the file atomically if dirty. Returns 0 or -errno (why filled); the state stays dirty. */
int state_save(struct state *s, char *why, size_t why_len);

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

#endif

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
char *state_file_keep_aside(const char *path);

#endif

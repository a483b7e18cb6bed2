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
 * What a watch deploys now: {"tag", "digest", "image"} (image: the repository URI the digest is
 * pinned to), or NULL. The watcher sets it after every poll; the deployer reads it.
 */
const cJSON *state_want(const struct state *s, const char *watch);
int state_set_want(struct state *s, const char *watch, const char *tag, const char *digest,
		   const char *image);

/*
 * The record of (watch, target key): {"deployed", "held", "failed": [...]}, created empty when
 * create is set (NULL then only without memory). The deployer edits it in place and calls
 * state_touch().
 */
cJSON *state_target(struct state *s, const char *watch, const char *tkey, bool create);

/*
 * Rollouts in flight live in files of their own, <dir>/rollouts/<hash>.json, so that writing a
 * step costs a small file, not the whole state. state_rollout_put() takes rec over and returns
 * it (NULL without memory); state_rollout_save() writes its file atomically (temporary file,
 * fsync, rename, fsync of the directory); state_rollout_remove() forgets it and removes the file.
 * Files that cannot be used are kept aside like the state file.
 */
cJSON *state_rollout(const struct state *s, const char *watch, const char *tkey);
cJSON *state_rollout_put(struct state *s, const char *watch, const char *tkey, cJSON *rec);
int state_rollout_save(struct state *s, const char *watch, const char *tkey, char *why,
		       size_t why_len);
int state_rollout_remove(struct state *s, const char *watch, const char *tkey, char *why,
			 size_t why_len);

/* Calls fn for every rollout in flight. fn must not add or remove rollouts. */
void state_each_rollout(struct state *s,
			void (*fn)(const char *watch, const char *tkey, cJSON *rec, void *ud),
			void *ud);

/* Marks the state changed (after an edit through state_target()). */
void state_touch(struct state *s);

/* Whether anything changed since the last save. */
bool state_dirty(const struct state *s);

/* Writes the file atomically if dirty. Returns 0 or -errno (why filled); the state stays dirty. */
int state_save(struct state *s, char *why, size_t why_len);

/* The path of the state file. */
const char *state_path(const struct state *s);

#endif

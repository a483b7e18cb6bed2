/* SPDX-License-Identifier: MIT */
/*
 * The rollout history, <state_directory>/history.json: how every rollout ended, per target,
 * newest last, bounded to history_max entries per target (docs/control.md, `history`). Loaded at
 * start (a file that cannot be read or parsed, or of a newer version, is kept aside as
 * history.json.bad-<time> and the history starts empty) and written atomically at every rollout
 * end (temporary file, fsync, rename, fsync of the directory). Targets no longer configured are
 * dropped only when the file is rewritten, never at load.
 */
#ifndef ECR_HISTORY_H
#define ECR_HISTORY_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HISTORY_VERSION     1
#define HISTORY_MAX_DEFAULT 50

struct history;

/* How a rollout ended (the protocol's "result"). */
enum history_result {
	HISTORY_COMPLETED,
	HISTORY_FAILED,          /* failed, nothing rolled back (or ECS's rollback followed) */
	HISTORY_ROLLED_BACK,     /* failed and rolled back */
	HISTORY_ROLLBACK_FAILED, /* failed, and the rollback failed too */
	HISTORY_SUPERSEDED,      /* someone else deployed meanwhile */
	HISTORY_CANCELLED,       /* ended without an outcome of the image (blocked, skipped) */
	HISTORY_RESULT_COUNT
};

/* One rollout's end. The strings are borrowed (the hook's caller owns them). */
struct history_entry {
	const char *watch;           /* the watch's name */
	const char *target;          /* the canonical target name, WATCH/SERVICE */
	const char *digest;          /* the digest the rollout deployed */
	const char *tag;             /* the tag it came from, or NULL */
	const char *from_td, *to_td; /* task definitions, before and ours, or NULL unknown */
	enum history_result result;
	double started, ended; /* wall seconds (Unix time) */
	const char *reason;    /* why it failed or was cancelled, or NULL */
	bool by_operator;      /* a manual rollout (deploy, rollback), else "auto" */
	uid_t uid;             /* the operator's credentials, when by_operator */
	pid_t pid;
	const char *from_digest; /* the digest the target ran before, or NULL unknown (kept as
				    "from_digest", an addition to the protocol's fields) */
};

/* "completed", "failed", "rolled-back", "rollback-failed", "superseded", "cancelled". */
const char *history_result_name(enum history_result r);

/*
 * Loads dir/history.json (missing: empty), keeping at most max entries per target (max <= 0:
 * HISTORY_MAX_DEFAULT). Returns 0 and *ret; when the file had to be kept aside, *ret_warning
 * (if not NULL) gets a sentence naming both files (free it). -errno with why filled only
 * without memory.
 */
int history_open(const char *dir, int max, struct history **ret, char **ret_warning, char *why,
		 size_t why_len);
void history_free(struct history *h);

/* The bound per target from now on (a reload); applied at the next write. */
void history_set_max(struct history *h, int max);

/*
 * Appends e and writes the file, dropping the oldest entries of a target beyond the bound and,
 * when keep is not NULL, the entries of targets keep(watch, target, ud) says are no longer
 * configured. Returns 0, or -errno with why filled when the file could not be written (the entry
 * stays in memory and is written with the next one), -ENOMEM.
 */
int history_add(struct history *h, const struct history_entry *e,
		bool (*keep)(const char *watch, const char *target, void *ud), void *ud, char *why,
		size_t why_len);

/*
 * The protocol's entries (docs/control.md) newest first, at most n, of the watch or the target
 * name (NULL: all): a new array, or NULL without memory.
 */
cJSON *history_list(const struct history *h, const char *watch, const char *target, size_t n);

/*
 * The digest that last completed on target other than current (the one to roll back to), else the
 * newest digest an entry says ran before its rollout (a digest found running at first start
 * completed no rollout of ours), leaving out those skip(digest, ud) refuses (when skip is not
 * NULL: digests failed there since), or NULL when the history knows none. Points into h (valid
 * until the next history_add()).
 */
const char *history_previous(const struct history *h, const char *target, const char *current,
			     bool (*skip)(const char *digest, void *ud), void *ud);

/* Entries kept, all targets (tests). */
size_t history_count(const struct history *h);

#endif

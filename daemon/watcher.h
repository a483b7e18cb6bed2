/* SPDX-License-Identifier: MIT */
/*
 * Observing ECR: every poll_interval (plus jitter) one cycle asks ECR for
 * every watched tag with the fewest requests the API allows, then reports
 * what changed: a new digest of a followed tag (DETECTED), a tag that is
 * missing, a repository that cannot be read (POLL_FAILED) and its recovery.
 *
 * Requests per cycle, per (registry, region, repository): one DescribeImages
 * per 100 distinct fixed tags (tag/tags rules; BatchGetImage instead while one
 * of them is missing, as it says which), plus, when any watch of it uses
 * tag_glob or semver, one DescribeImages page per 1,000 tagged images.
 *
 * The watcher knows nothing of what is done with what it sees: it records
 * sightings and what each watch wants in the state, and tells its owner
 * through the callbacks of struct watcher_deps.
 */
#ifndef ECR_WATCHER_H
#define ECR_WATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aws_client;
struct config;
struct ev_loop;
struct state;
struct watcher;

/*
 * What the watcher uses and whom it tells; the caller owns all of it and keeps it alive longer
 * than the watcher. The callbacks run from the loop, never from inside a watcher_* call.
 */
struct watcher_deps {
	struct ev_loop *loop;
	struct aws_client *aws;    /* ECR is asked through it */
	struct state *state;       /* sightings and what each watch wants are recorded in it */
	struct config *const *cfg; /* where the config in force is: a reload replaces *cfg */
	const char *region;        /* the default region */
	bool once;                 /* --once: one cycle, no timer re-armed, nothing retried */
	/* The digest a watch wants may have moved (its repository has been read). */
	void (*moved)(const char *watch, void *userdata);
	/* A cycle ended (the state is saved): the watches' digests are as known as they get. Not
	 * after a read of hinted repositories (moved told the watches it read). */
	void (*cycle_done)(void *userdata);
	/* The repositories a hint named have been read and what was seen is in the state file (ok),
	 * or one could not be read or saved (!ok). May be NULL. */
	void (*hinted)(uint64_t ticket, bool ok, void *userdata);
	/* A repository was read, whole (ok) or not (metrics, watch-failing notifications): once per
	 * repository that a cycle or a read of hinted repositories reads; error says why it was not
	 * ("Code: message", NULL when ok). May be NULL. */
	void (*polled)(const char *repository, const char *region, bool ok, const char *error,
		       void *userdata);
	void *userdata;
};

/* A watcher over deps (copied). NULL without memory. */
struct watcher *watcher_new(const struct watcher_deps *deps);

/* Cancels a cycle in progress and frees. NULL is a no-op. */
void watcher_free(struct watcher *w);

/* Starts polling: the first cycle at once. With deps.once, that cycle is the only one. */
void watcher_start(struct watcher *w);

/* *deps.cfg changed: the next cycle uses it (one starts now unless one is running, or, with
 * deps.once, unless the one cycle has started). */
void watcher_config_changed(struct watcher *w);

/*
 * An event says that tag of (account, region, repository) may have moved: when a watch follows
 * it (its tag, tag list, glob or semver rule; its registry, or for a watch without one the
 * caller's account, learnt from ECR's replies), that repository is read again at once, alone
 * (beside a poll cycle in progress; after a read of hinted repositories in progress), and
 * deps.hinted(*ticket) says when that read is durable. Returns the number of repositories to
 * read (0: no watch follows it, nothing is asked and *ticket is 0), or -ENOMEM.
 */
int watcher_hint(struct watcher *w, const char *account, const char *region, const char *repository,
		 const char *tag, uint64_t *ticket);

/* The name of a watch that follows that tag (as watcher_hint matches), or NULL. */
const char *watcher_follows(const struct watcher *w, const char *account, const char *region,
			    const char *repository, const char *tag);

/* Poll cycles completed (with deps.once, a cycle that could not start counts: it is over). */
unsigned long watcher_cycles(const struct watcher *w);

/* The last cycle in a sentence, for systemd's status line. */
const char *watcher_status(const struct watcher *w);

/* Repositories whose polling failed in the last cycle (1 when, with deps.once, the one cycle
 * could not start). */
int watcher_failing(const struct watcher *w);

/* For `status`: the end of the last poll cycle and of the last one in which every repository
 * was read (Unix seconds, 0: none yet). */
double watcher_last_cycle(const struct watcher *w);
double watcher_last_ok(const struct watcher *w);

/* A repository that could not be read in the last cycle. */
struct watcher_failure {
	char repository[256];
	char region[64];
	char error[1200]; /* "Code: message" as ECR said it (not escaped) */
};
/* The repositories that failed in the last cycle (*n of them; NULL when none). */
const struct watcher_failure *watcher_failures(const struct watcher *w, size_t *n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Observing ECR: every poll_interval (plus jitter) one cycle asks ECR for
 * every watched tag with the fewest requests the API allows, then reports
 * what changed: a new digest of a followed tag (DETECTED), a tag that is
 * missing, a repository that cannot be read (POLL_FAILED) and its recovery.
 *
 * Requests per cycle, per (registry, region, repository): one BatchGetImage
 * per 100 distinct fixed tags (tag/tags rules), plus, when any watch of it
 * uses tag_glob or semver, one DescribeImages page per 1,000 tagged images.
 */
#ifndef ECR_WATCHER_H
#define ECR_WATCHER_H

#include <stddef.h>

struct daemon;
struct watcher;

struct watcher *watcher_new(struct daemon *d);

/* Cancels a cycle in progress and frees. NULL is a no-op. */
void watcher_free(struct watcher *w);

/* Starts polling: the first cycle at once. */
void watcher_start(struct watcher *w);

/* d->cfg changed: the next cycle uses it (one starts now unless one is running). */
void watcher_config_changed(struct watcher *w);

/* Poll cycles completed. */
unsigned long watcher_cycles(const struct watcher *w);

/* The last cycle in a sentence, for systemd's status line. */
const char *watcher_status(const struct watcher *w);

/* Repositories whose polling failed in the last cycle. */
int watcher_failing(const struct watcher *w);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Notification delivery (config "notify", docs/notifications.md): a durable outbox in
 * <state_directory>/outbox, one file per notification and sink, written atomically before the
 * first attempt and removed after the sink took it (a 2xx; for EventBridge a PutEvents reply
 * without a failed entry). Attempts run on the loop with their own HTTP client (a slow or dead
 * sink shares no connection with AWS and never delays detection, deploys or another sink), at
 * most the sink's "concurrency" at a time, retried with jittered exponential backoff until the
 * sink's "max_age"; a 4xx other than 408/429 (or a refused EventBridge entry) ends the attempts
 * with one NOTIFY_FAILED event; a backlog over "max_pending" drops the oldest with one
 * NOTIFY_DROPPED event saying how many. Entries left by a stop or a kill -9 are read at start and
 * sent (at least once: receivers dedupe by the Idempotency-Key).
 *
 * Secrets: a sink is named by its name and host only; its URL and HMAC secret never reach a log
 * line, an error, the status or the metrics.
 */
#ifndef ECR_OUTBOX_H
#define ECR_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notice.h"

struct aws_client;
struct config;
struct cred_provider;
struct ev_loop;
struct http_client;
struct sigv4_signer;
struct state;
struct outbox;

struct outbox_deps {
	struct ev_loop *loop;
	struct aws_client *aws;      /* EventBridge's PutEvents */
	const char *region;          /* the default region (EventBridge, STS) */
	struct cred_provider *creds; /* the daemon's: the base of a sink's assumed role */
	struct http_client *http;    /* the daemon's, for the STS calls of assumed roles only */
	struct sigv4_signer *signer;
	const char *state_dir;
	/* Where entries and sent marks are kept (state.h's blobs: the directory's outbox/ or the
	 * table's "o/" and "s/" items). NULL: the files of state_dir's outbox/. */
	struct state *state;
	const char *host; /* this host's name, for the bodies */
	/* Whether a delivery may start now (NULL: always): an ha instance whose lease was not
	 * renewed in time sends nothing until it is (the entries wait, their attempts uncounted).
	 */
	bool (*may_send)(void *userdata);
	/* Something outbox_status() shows changed (the metrics file). May be NULL. */
	void (*changed)(void *userdata);
	void *userdata;
};

/* A sink's health, for the status and the metrics. */
struct outbox_sink_status {
	const char *name, *type, *host;           /* valid until the next outbox call */
	size_t pending;                           /* waiting or in flight */
	uint64_t sent, failed, given_up, dropped; /* failed: attempts; given_up: notifications */
	bool failing;                             /* the last attempt failed */
	double failing_since, last_sent;          /* wall seconds; 0: never */
	char last_error[200];                     /* of the last failed attempt, no secret in it */
};

/* The outbox of cfg's sinks (none: an object that does nothing); reads the entries left in the
 * state directory. NULL with why (why_len bytes) when the directory cannot be made or read. */
struct outbox *outbox_new(const struct outbox_deps *deps, const struct config *cfg, char *why,
			  size_t why_len);

/* Cancels attempts in flight (their entries stay for the next start). NULL is a no-op. */
void outbox_free(struct outbox *ob);

/* A reload: sinks are matched by name (kept: their backlog too; removed: their entries are
 * dropped with NOTIFY_DROPPED; new: start empty). */
void outbox_reload(struct outbox *ob, const struct config *cfg);

/* A phase was reached: for every sink whose filter lets it through, its entry is written, then
 * attempted. An entry with the same sink and key already pending is not written twice. */
void outbox_post(struct outbox *ob, const struct notice *n);

/* A repository's poll ended (ok or with error, escaped text): watch-failing after a sink's
 * failing_after of failures in a row, once per streak. watches are the n watches that follow
 * the repository: a sink filtered by watches or services hears of it when one of them (or one of
 * their targets) is in its filter, with that watch named. */
void outbox_polled(struct outbox *ob, const char *repository, const char *region, bool ok,
		   const char *error, double now, const struct config_watch *const *watches,
		   size_t n);

/* Up to n sinks' health into out; returns how many sinks there are. */
size_t outbox_status(const struct outbox *ob, struct outbox_sink_status *out, size_t n);

/* The backoff before attempt k+1 after k (1-based) failed: u (in [0, 1)) times min(cap_ms,
 * base_ms * 2^(k-1)), "full jitter". Base 1 s and cap 5 min; for tests only, the environment's
 * ECR_DEPLOYD_NOTIFY_BACKOFF_MS sets the base (the cap then 300 times it) and
 * ECR_DEPLOYD_NOTIFY_BACKOFF_CAP_MS the cap (milliseconds, 1 to 300000). Pure. */
#define OUTBOX_BACKOFF_BASE_MS 1000
#define OUTBOX_BACKOFF_CAP_MS  300000
#define OUTBOX_BACKOFF_ENV     "ECR_DEPLOYD_NOTIFY_BACKOFF_MS"
#define OUTBOX_BACKOFF_CAP_ENV "ECR_DEPLOYD_NOTIFY_BACKOFF_CAP_MS"
long outbox_backoff_ms(int k, long base_ms, long cap_ms, double u);

/* The outbox directory of a state directory, into out (n bytes): "<state_dir>/outbox". */
void outbox_dir(const char *state_dir, char *out, size_t n);

#endif

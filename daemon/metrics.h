/* SPDX-License-Identifier: MIT */
/*
 * The daemon's Prometheus metrics (docs/metrics.md): counters and one histogram kept here, told by
 * hooks that daemon.c wires (every finished AWS call, every repository read, every poll cycle,
 * every rollout end), and gauges read at render time from the parts (the state, the retry budget,
 * what daemon.c says of each target). Rendered in the text exposition format 0.0.4: every family
 * once, together, with # HELP and # TYPE; label values escaped.
 *
 * Labels come only from configured names (watch, target, repository, region) and fixed sets of
 * our own code (service, operation, outcome, result), so the number of series is bounded by the
 * configuration; digests and task definitions appear only in _info gauges, one series per watch
 * or target at a time.
 *
 * With metrics_file configured the text is also written to that file (temporary file in the same
 * directory, mode 0644, rename) after every poll cycle and every rollout change, at most once a
 * second: metrics_changed() arms a timer that coalesces what happens within that second.
 */
#ifndef ECR_METRICS_H
#define ECR_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lease.h"

struct aws_client;
struct aws_result;
struct config;
struct config_target;
struct config_watch;
struct ev_loop;
struct history_entry;
struct metrics;
struct outbox_sink_status;
struct state;
struct strbuf;

/* The rollout duration histogram's upper bounds, seconds (+Inf besides). */
#define METRICS_DURATION_BUCKETS 10, 30, 60, 120, 300, 600, 1200, 1800, 3600

/* What is known of a target now; daemon.c fills it from the deployer and the state. */
struct metrics_target {
	const char *deployed;        /* the digest it runs, or NULL: not known (not rendered) */
	const char *task_definition; /* the task definition it runs, or NULL */
	int blocked, paused, pinned; /* 1 or 0; -1: not known (not rendered) */
};

/* What the metrics read; the caller owns all of it and keeps it alive longer. */
struct metrics_deps {
	struct ev_loop *loop;
	struct config *const *cfg;      /* the config in force (a reload replaces *cfg) */
	struct state *state;            /* what each watch wants (state_want); NULL: not rendered */
	const struct aws_client *aws;   /* the retry budget; NULL: not rendered */
	const char *version, *revision; /* NULL: the build's (version.h) */
	double start_time;              /* Unix seconds */
	/* Rollouts in progress now; NULL: not rendered. */
	int (*rollouts)(void *userdata);
	/* Fills *ret (zeroed, every int -1, by the caller) for target t of watch w; NULL: the
	 * target gauges are not rendered. */
	void (*target)(const struct config_watch *w, const struct config_target *t,
		       struct metrics_target *ret, void *userdata);
	/* Up to n notification sinks' counters into out (outbox_status()); returns how many sinks
	 * there are. NULL: the notification metrics are not rendered. */
	size_t (*sinks)(struct outbox_sink_status *out, size_t n, void *userdata);
	void *userdata;
};

/* A new set of metrics over deps (copied), all counters at 0. NULL without memory. */
struct metrics *metrics_new(const struct metrics_deps *deps);

/* The state to render from, once it is open (an ha instance opens it when it leads). */
void metrics_set_state(struct metrics *m, struct state *state);

/* Stops the file timer and frees (the file is left as it is). NULL is a no-op. */
void metrics_free(struct metrics *m);

/*
 * The hooks. Each is a no-op when m is NULL; without memory for a new series the event is not
 * counted (never fails otherwise).
 */
/* A finished AWS call (an aws_observer_fn: userdata is the struct metrics): counted by service,
 * operation and outcome; its retries (attempts - 1) by service and operation. */
void metrics_aws_observer(const struct aws_result *res, void *userdata);
/* A repository was read (a poll cycle's or a hint's read), whole (ok) or not. */
void metrics_poll(struct metrics *m, const char *repository, const char *region, bool ok);
/* n messages were received from the events queue at url. */
void metrics_event_messages(struct metrics *m, const char *url, size_t n);
/* A poll cycle ended at now (Unix seconds), every repository read (all_ok) or not. Also asks for
 * the file to be written. */
void metrics_cycle_done(struct metrics *m, bool all_ok, double now);
/* A rollout ended (deployer_deps.ended): deploys_total and the duration histogram. Also asks for
 * the file to be written. */
void metrics_rollout_ended(struct metrics *m, const struct history_entry *e);
/* Something the file shows changed: it is written within a second (coalesced). */
void metrics_changed(struct metrics *m);
/*
 * ha (issue 18): this instance's role and the lease's term, as the lease's accessors say them
 * (lease_role(), lease_term()) at each of its on_change calls. From the first call on, the
 * exposition has ecr_deployd_ha_role{role="..."} (one series per role of enum lease_role, 1 for
 * this one, 0 for the others) and ecr_deployd_ha_term; a single instance (never called) has
 * neither. Also asks for the file to be written.
 */
void metrics_ha(struct metrics *m, enum lease_role role, uint64_t term);

/* Writes the file now (at stop: the last counts are not lost, nor --once's one cycle). */
void metrics_flush(struct metrics *m);

/*
 * Appends the whole exposition to out. Returns 0, or -ENOMEM / -ENOBUFS (out is then partial:
 * the caller drops it).
 */
int metrics_render(struct metrics *m, struct strbuf *out);

/*
 * Renders and writes path atomically: a temporary file beside it (".NAME.XXXXXX", which a
 * textfile collector's "*.prom" does not match), mode 0644, renamed over path. Not fsynced: a
 * scraper tolerates a write lost to a crash (the next one comes within a poll interval) and the
 * rename alone never shows a partial file. Returns 0 or -errno with why filled (the path named).
 */
int metrics_write_file(struct metrics *m, const char *path, char *why, size_t why_len);

/*
 * Appends s to out as the inside of a label value: '\\' '"' and a newline escaped (\\, \", \n),
 * any other byte outside printable ASCII as '?' (our labels are ASCII names; a value from AWS
 * must not break the format). Returns 0 or -ENOMEM / -ENOBUFS.
 */
int metrics_escape_label(struct strbuf *out, const char *s);

#endif

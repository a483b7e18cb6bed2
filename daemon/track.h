/* SPDX-License-Identifier: MIT */
/*
 * The tracking verdict: from one DescribeServices look at a service, what became of a deployment
 * we made (ours, or our rollback). A pure function with `now` as an input, table-tested in
 * tests/unit/test_track.c. Every verdict comes from what ECS said: "rolled back by ECS" only when
 * ECS says a rollback is its circuit breaker's (the PRIMARY's rolloutStateReason, or a service
 * event "rolling back to ..." newer than ours); "superseded"
 * only when a deployment newer than ours, of a task definition not ours, is PRIMARY; a deployment
 * of ours that ECS does not list is waited for until appear_by, then it is an anomaly (never a
 * failure, a rollback or a success read from an absence).
 */
#ifndef ECR_TRACK_H
#define ECR_TRACK_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

enum track_verdict {
	TRACK_KEEP,         /* keep looking */
	TRACK_DONE,         /* ECS says it completed */
	TRACK_FAILED,       /* ECS says it failed (rolloutState FAILED) */
	TRACK_TIMEOUT,      /* not done by the deadline */
	TRACK_ECS_ROLLBACK, /* it failed and ECS's circuit breaker rolls back: other is that
			       deployment */
	TRACK_SUPERSEDED,   /* a newer deployment of a task definition not ours is PRIMARY: other */
	TRACK_ANOMALY,      /* ECS did something no rule explains */
};

struct track_input {
	const cJSON *svc;                /* a service of a DescribeServices reply */
	const char *id;                  /* our deployment's id when known, else NULL */
	const char *td;                  /* the task definition ours runs; NULL when it is the one
					    the service ran before (strategy force) */
	const char *prev_deployment;     /* the PRIMARY before our UpdateService: never ours */
	const char *not_ours;            /* another deployment that is never ours (a rollback's
					    failed one), or NULL */
	double now, deadline, appear_by; /* wall seconds */
	double since; /* AWS seconds: ECS events older than this are not about ours */
};

struct track_result {
	enum track_verdict verdict;
	const cJSON *ours;  /* our deployment when ECS lists it (into svc) */
	const cJSON *other; /* the deployment of ECS_ROLLBACK or SUPERSEDED (into svc) */
	char reason[512];   /* why, for FAILED, TIMEOUT, ECS_ROLLBACK, SUPERSEDED, ANOMALY */
};

void track_verdict(const struct track_input *in, struct track_result *out);

/* Our deployment as track_verdict() finds it (only svc, id, td, prev_deployment and not_ours
 * are read), or NULL when ECS does not list it. */
const cJSON *track_ours(const struct track_input *in);

/* A short stable name: "keep", "done", "failed", ... */
const char *track_verdict_name(enum track_verdict v);

/*
 * The same from one look at a service deployment (DescribeServiceDeployments), which says exactly
 * where a deployment is: done only when ECS says SUCCESSFUL (after bake time and hooks). The
 * verdicts are track_verdict's, plus the end of a rollback ECS runs (ours via
 * StopServiceDeployment, or its own); every one read from a status ECS gave.
 */
enum track_sd_verdict {
	SD_KEEP,            /* in progress (or not found yet, or waiting at a hook) */
	SD_DONE,            /* SUCCESSFUL */
	SD_FAILED,          /* stopped by a circuit breaker or an alarm without rollback */
	SD_TIMEOUT,         /* in progress past the deadline (never while a hook awaits action) */
	SD_ECS_ROLLBACK,    /* ECS rolls it back (ROLLBACK_*): reason says who and why */
	SD_SUPERSEDED,      /* STOPPED / STOP_REQUESTED by someone else (a newer deployment) */
	SD_ANOMALY,         /* not found past appear_by, or a status no rule explains */
	SD_ROLLED_BACK,     /* rolling back: ROLLBACK_SUCCESSFUL */
	SD_ROLLBACK_FAILED, /* rolling back: ROLLBACK_FAILED, or past the deadline */
	SD_NOT_ROLLING_BACK /* rolling back: ECS ended it another way (SUCCESSFUL, STOPPED) */
};

struct track_sd_input {
	const cJSON *sd;      /* ours in a DescribeServiceDeployments reply, or NULL */
	const char *missing;  /* NULL, or the reason of its failures[] entry ("MISSING") */
	bool rolling_back;    /* we follow a rollback of it */
	bool seen;            /* ECS has shown it before: not found is kept until the deadline */
	double now, deadline; /* wall seconds */
	double appear_by;     /* until then, not found is "not yet" */
};

struct track_sd_result {
	enum track_sd_verdict verdict;
	const char *status, *stage; /* into sd, NULL when absent */
	double weight;              /* requestedProductionTrafficWeight of ours, -1 when absent */
	int running, desired;       /* task counts of ours (targetServiceRevision), -1 absent */
	const cJSON *hook;          /* a PAUSE hook of it awaiting action (into sd), or NULL */
	char reason[700];           /* why, for every verdict but KEEP and DONE */
};

void track_sd(const struct track_sd_input *in, struct track_sd_result *out);

/* ECS's own words on why sd failed: the circuit breaker's counts, the alarms triggered, a hook
 * that failed or timed out, the rollback's and the status's reasons (printable, bounded). */
void track_sd_why(const cJSON *sd, char *buf, size_t n);

const char *track_sd_verdict_name(enum track_sd_verdict v);

#endif

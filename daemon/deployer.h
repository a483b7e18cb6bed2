/* SPDX-License-Identifier: MIT */
/*
 * The deploy engine: after every poll cycle it compares, per (watch,
 * target), the digest the watch wants with what the service is known to
 * run (decide.h), and deploys, tracks and rolls back.
 *
 * A rollout is a record in the state file whose "step" is written (and
 * synced) before and after every call that changes something in AWS:
 *
 *   start -> registering -> registered -> updating -> tracking
 *         -> (failed) rolling-back -> rollback-tracking
 *
 * Every step can be run again from AWS's answers alone, which is how a
 * rollout resumes after a crash, a SIGTERM or a transient AWS error: a
 * revision already registered (found by its ecr-deployd tags) or a
 * deployment already made (found in DescribeServices) is adopted, never
 * made twice. The record keeps everything the rollout needs, so that a
 * reload that changes or removes its watch never interrupts it.
 *
 * Tracking polls DescribeServices with up to 10 services of a cluster per
 * call, starting at 1 s and backing off to 10 s per rollout.
 */
#ifndef ECR_DEPLOYER_H
#define ECR_DEPLOYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct aws_client;
struct aws_error;
struct config_target;
struct config_watch;
struct config;
struct cred_provider;
struct ev_loop;
struct http_client;
struct sigv4_signer;
struct state;
struct deployer;
struct history;
struct history_entry;
struct notice;

/* What the deployer uses; daemon.c owns all of it and keeps it alive longer than the deployer. */
struct deployer_deps {
	struct ev_loop *loop;
	struct aws_client *aws;
	struct state *state;
	struct config *const *cfg;   /* where the config in force is: a reload replaces *cfg */
	const char *region;          /* the default region */
	struct cred_provider *creds; /* the daemon's credentials, the base of assumed roles */
	struct http_client *http;    /* for the STS calls of assumed roles */
	struct sigv4_signer *signer;
	bool dry_run; /* --dry-run (the config's dry_run is read from *cfg) */
	/* The look an event asked for (deployer_poke) has been read, and what it changed is in the
	 * rollout's record; also when the rollout ended first. May be NULL. */
	void (*poked)(uint64_t ticket, void *userdata);
	void *userdata;
	/* Where rollout ends are kept (history.h), or NULL; and the hook told of each end after it
	 * was added (metrics), or NULL. The entry and its strings live for the call only. */
	struct history *history;
	void (*ended)(const struct history_entry *e, void *userdata);
	/* A rollout reached a phase a notification is sent for (outbox.h), at most once per kind
	 * per rollout (per hook for awaiting-approval); n is valid during the call. Never in a dry
	 * run or for an inspection. May be NULL. */
	void (*notice)(const struct notice *n, void *userdata);
};

/* A deployer over deps (copied). NULL without memory. */
struct deployer *deployer_new(const struct deployer_deps *deps);

/* Cancels calls in flight (their steps are in the state file) and frees. NULL is a no-op. */
void deployer_free(struct deployer *dp);

/* Picks up the rollouts the state file holds (after a restart). */
void deployer_resume(struct deployer *dp);

/* Decides for every target, soon (from the loop), on the config in force and the state. */
void deployer_reconcile(struct deployer *dp);

/* The same for the targets of one watch (its digest may have moved). */
void deployer_reconcile_watch(struct deployer *dp, const char *watch);

/*
 * A poll cycle ended (the watches whose digest moved were reconciled as they were read): a pass
 * over every target only when one may have changed that nothing else reconciles, a reload (or the
 * first cycle) or the end of a blocked target's backoff. A quiet cycle costs nothing here.
 */
void deployer_cycle_done(struct deployer *dp);

/* No rollout, inspection or pending decision. */
bool deployer_idle(const struct deployer *dp);

/*
 * An ECS event (deployment or hook state change) about a service in region (cluster "" when the
 * event did not say): a rollout tracking it looks at once (after a look in flight), and
 * deps.poked(ticket) says when that look has been read. Returns 1 when one will look, 0 when no
 * rollout tracks that service now (the event concerns nothing in flight). A ticket given
 * earlier for the same rollout and not yet answered is set in *replaced (the new look answers
 * it too), else 0.
 */
int deployer_poke(struct deployer *dp, const char *region, const char *cluster, const char *service,
		  uint64_t ticket, uint64_t *replaced);

/* Whether events flow from a queue now: rollouts that got an ECS event look every 30 s as a
 * safety net instead of backing off from 1 s to 10 s. */
void deployer_events_flowing(struct deployer *dp, bool on);

/* The rollouts in progress in a few words: "1 rollout in progress (web 3/4 tasks)". */
void deployer_status(const struct deployer *dp, char *buf, size_t n);

/* Deploys that failed since start (a rollback counts as a failed deploy), plus one while the
 * state cannot be written (the deploys that wait for it have not happened). */
int deployer_failures(const struct deployer *dp);

/*
 * The operator's pauses changed (the control socket) or the daemon starts: those whose 'until'
 * has come are lifted (PAUSE_EXPIRED, their targets reconciled at once) and the timer is set for
 * the earliest left. The state is saved when it changed.
 */
void deployer_pauses_changed(struct deployer *dp);

struct config_target;

/* The key of target t in the state (account@region/cluster/service), in buf. */
void deployer_target_key(const struct deployer *dp, const struct config_target *t, char *buf,
			 size_t n);

/* Rollouts in flight (not counting first-start inspections). */
int deployer_in_flight(const struct deployer *dp);

/* What the deployer is doing with one target, for `status`. Strings live until the next turn of
 * the loop. */
struct deployer_target_status {
	bool rollout;                     /* a rollout or an inspection holds the target */
	bool inspecting;                  /* a first-start look at what it runs */
	bool tracking;                    /* its UpdateService is confirmed: ECS deploys */
	bool rolling_back;                /* our rollback, or ECS's that we follow */
	const char *digest, *step, *kind; /* kind: "deploy", "rollback" or "manual" */
	double started;                   /* Unix seconds */
	char detail[160];                 /* "3/4 tasks", "stage BAKE_TIME, 50% traffic", ... */
	bool awaiting;                    /* at a PAUSE hook */
	const char *hook;
	double hook_expires; /* Unix seconds, 0 unknown */
	bool blocked;        /* waits out a backoff after an authorization or request error */
	char error[256];
	double retry_at; /* Unix seconds */
};
void deployer_target_status(const struct deployer *dp, const char *watch, const char *tkey,
			    struct deployer_target_status *ret);

/* ---- an operator's actions (the control socket) ---------------------------- */

/* The canonical name of a target, WATCH/SERVICE (the service's name, also when the config gives
 * its ARN). */
void deployer_target_name(const char *watch, const char *service, char *buf, size_t n);

struct deployer_manual {
	const char *digest; /* NULL: what the watch wants now */
	bool force;         /* also a digest that failed there, a paused target, one it runs */
	uid_t uid;          /* the operator */
	pid_t pid;
};

/*
 * Starts now a rollout of m->digest (or the watch's digest) to target t of watch w (both of the
 * config in force), through the engine like any other (the guard, one rollout per service), its
 * record saying it was an operator's (history and status show it). A digest other than the
 * watch's holds the watch's back on t until a newer push, so that no reconcile undoes it.
 * Returns 0 when it started (*ret_digest, 80 bytes, gets the digest), else why says why (one
 * sentence) and: -EROFS a dry run, -ENOENT the watch has no digest yet, -EBUSY a rollout holds
 * the service or max_concurrent_deploys are running, -EPERM the target is paused (config, the
 * operator's pause of it, its watch or everything) or pinned (even with force: the reconcile would
 * deploy the pin again), -EALREADY it runs that digest, -ECANCELED the digest failed there before
 * (these three unless m->force), -EIO the state cannot be written, -ENOMEM.
 */
int deployer_deploy(struct deployer *dp, const struct config_watch *w,
		    const struct config_target *t, const struct deployer_manual *m,
		    char ret_digest[80], char *why, size_t why_len);

/*
 * An operator's rollback of target t: a rollout in flight there is rolled back as a failed one
 * is (its digest marked failed); else the digest it runs is marked failed ("rolled back by an
 * operator") and the last one that completed there before it (the history, else the digest the
 * watch followed before) is deployed as an operator's rollout. from and to (80 bytes each) get
 * the digests. Returns 0, or why filled and: -ENOENT no earlier digest, -EBUSY the rollout in
 * flight cannot be rolled back now (a call that changes AWS is out; try again), -EALREADY it is
 * rolling back already, -EROFS a dry run, -EIO the state cannot be written, -ENOMEM.
 */
int deployer_rollback(struct deployer *dp, const struct config_watch *w,
		      const struct config_target *t, uid_t uid, pid_t pid, char from[80],
		      char to[80], char *why, size_t why_len);

/* How an operator's approve/reject ended: rc 0 (hook: the hook's id), -EIO (err: ECS refused it
 * or the call failed), -ECANCELED (the rollout ended before the answer). */
typedef void (*deployer_continued_fn)(int rc, const char *hook, const struct aws_error *err,
				      void *ud);

/*
 * ContinueServiceDeployment (CONTINUE, or ROLLBACK when rollback) of the PAUSE hook our rollout on
 * target t awaits, with the rollout's credentials; done is called once, later, from the loop
 * (not when the deployer is freed first). Returns 0 when sent, else why says what the target is
 * doing and: -ENOENT nothing awaits approval there, -EBUSY an answer is already on its way,
 * -EROFS a dry run, -EIO the call could not be made, -ENOMEM.
 */
int deployer_continue(struct deployer *dp, const struct config_watch *w,
		      const struct config_target *t, bool rollback, deployer_continued_fn done,
		      void *ud, char *why, size_t why_len);

#endif

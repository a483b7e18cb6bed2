/* SPDX-License-Identifier: MIT */
/*
 * What to do for one (watch, target), given what ECR says the watch wants
 * now and what is known of the service: a pure function, so that every
 * rule is one row of a table test.
 */
#ifndef ECR_DECIDE_H
#define ECR_DECIDE_H

#include <stdbool.h>

enum decision {
	DECIDE_NOTHING,          /* nothing wanted, or it runs already */
	DECIDE_INSPECT,          /* first start: learn what the service runs (read-only) */
	DECIDE_DEPLOY,           /* deploy want now */
	DECIDE_WAIT_BUSY,        /* a rollout holds the service; the newest want goes after it */
	DECIDE_WAIT_CAPACITY,    /* max_concurrent_deploys rollouts run; wait for one to end */
	DECIDE_SKIP_FAILED,      /* want failed on this target before; never again */
	DECIDE_SKIP_PAUSED,      /* the target is paused */
	DECIDE_SKIP_HELD,        /* want is held back (first start with on_first_start skip, or
				    another deployment superseded ours) until a newer push */
	DECIDE_SKIP_UNSUPPORTED, /* the target's strategy is not part of this build */
	DECIDE_SKIP_PINNED,      /* the target runs its pin; the watch's newer digest waits for
				    an unpin */
	DECIDE_DRY_RUN,          /* would deploy; dry run */
};

struct decide_input {
	const char *want;     /* the digest to run: the target's pin, else the watch's, or NULL */
	const char *followed; /* the watch's digest (the same as want when not pinned) */
	bool pinned;          /* want is the operator's pin: a hold does not apply to it */
	const char *deployed; /* what the service is known to run: NULL unknown (not inspected),
				 "" inspected but not an ECR digest we can name */
	const char *held;     /* a digest not to deploy, or NULL */
	bool failed;          /* want failed on this target */
	bool paused;
	bool dry_run;
	bool busy;        /* a rollout holds the service */
	bool at_capacity; /* no room for another rollout */
	bool unsupported; /* the strategy is not part of this build */
};

enum decision decide(const struct decide_input *in);

/* A short stable name: "deploy", "skip-failed", ... (the REASON field of SKIPPED). */
const char *decision_name(enum decision d);

/*
 * Resuming step "updating" (UpdateService may have been sent before a stop): adopt our deployment
 * when the service shows it (found); else, when the call was sent at sent_at (wall seconds; 0:
 * never sent) and may still be carried out, that is within window seconds (its attempt timeout
 * and a margin), wait and look again; else send it.
 */
enum update_resume {
	UPDATE_ADOPT,
	UPDATE_WAIT,
	UPDATE_SEND,
};

enum update_resume decide_update_resume(bool found, double sent_at, double now, double window);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The lease of high availability (issue 18, docs/ha.md): one item per group in the DynamoDB
 * table (daemon/ddb.h), held by at most one instance, which alone acts.
 *
 * The protocol (no wall clock is ever compared between instances; time is CLOCK_BOOTTIME, the
 * monotonic clock that also counts a suspension of the host):
 * - STARTING: the item is read (ConsistentRead). Missing → PutItem with
 *   attribute_not_exists(pk); released (owner "") → UpdateItem conditioned on the version
 *   read; held by another → STANDBY.
 * - STANDBY: the item is read every min(500 ms, lease/3) (the contract said 1 s: a release
 *   must be seen and taken in under a second, the SIGTERM failover; two standbys
 *   then read 14,400 times an hour, about $0.002). Another's lease is taken only after
 *   the same version has been seen for a full lease_ms (the item's) by our own clock, counted
 *   from the arrival of the first reply that showed it, conditioned on that version. A take
 *   sets owner, term+1, version+1, since, host and lease_ms (ours).
 * - LEADING: renewed every lease/3 (UpdateItem conditioned on owner, term and the version we
 *   last wrote; version+1), each attempt bounded by lease/4; after a failed attempt, another
 *   after lease/12. Valid until (start of the last successful renewal request) + lease −
 *   margin, margin = lease/4; past that → SUSPENDED: lease_may_act() is false (the gate),
 *   renewals go on; one that succeeds → LEADING again.
 * - A write refused by its condition is checked with a read: our own write whose reply was
 *   lost (owner and term ours) is adopted (and renewed at once); anyone else's → LOST.
 * - LOST: final. The daemon demotes itself (on_lost); the lease makes no more calls.
 * - lease_release() (SIGTERM): UpdateItem owner "", version+1, conditioned on owner+term,
 *   blocking at most 1 s; a standby does nothing.
 *
 * Callbacks to the daemon (from the loop, never from inside a lease_* call of the daemon):
 * on_leading when the lease is acquired (load the state, start work), on_lost when another
 * instance leads (demote: stop without touching the table, re-exec as a standby), on_change at
 * every change of what the accessors say (role, leader, term: status, metrics, events).
 *
 * The lease sets the fence of its ddb (ddb_set_fence: owner and term while held) and the gate
 * of its writes (ddb_set_gate: lease_may_act). The daemon sets the same gate on its AWS
 * client: aws_client_set_gate(aws, lease_gate, lease).
 *
 * ECR_DEPLOYD_TEST_HA_NO_GATE=1 (TESTS ONLY: never in production) makes lease_may_act() ignore
 * the suspension (it says yes while SUSPENDED too), so that a test can prove that the fence in
 * DynamoDB, not the local gate, refuses a stale leader's write. Read once, at lease_new().
 */
#ifndef ECR_LEASE_H
#define ECR_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ddb.h"

struct ev_loop;
struct lease;

enum lease_role {
	LEASE_STARTING,  /* the first read has not been answered */
	LEASE_STANDBY,   /* another instance leads (or nobody yet: taking it) */
	LEASE_LEADING,   /* held and valid: this instance acts */
	LEASE_SUSPENDED, /* held, not renewed in time: no mutating call until renewed */
	LEASE_LOST,      /* another instance took it: demote */
};

struct lease_options {
	struct ev_loop *loop; /* the daemon's */
	struct ddb *ddb;      /* not owned; must outlive the lease */
	const char *instance; /* our instance id (config ha.instance_id) */
	const char *host;     /* shown in the item (gethostname); NULL: instance */
	uint64_t lease_ms;    /* config ha.lease_duration (3 s .. 5 min) */
	void (*on_leading)(void *ud);
	void (*on_lost)(void *ud);
	void (*on_change)(void *ud);
	void *userdata;
};

/*
 * Makes the lease (no call yet; lease_start() starts). Options copied. 0 and *ret; -EINVAL
 * (why: no ddb, a bad instance id, a lease out of range), -ENOMEM.
 */
int lease_new(const struct lease_options *o, struct lease **ret, char *why, size_t why_len);

/* Starts: the first read goes out from the loop. */
void lease_start(struct lease *l);

/* Cancels the call and the timer (no callbacks; the lease is not released). NULL: no-op. */
void lease_free(struct lease *l);

enum lease_role lease_role(const struct lease *l);

/* "starting", "standby", "leading", "suspended", "lost". */
const char *lease_role_name(enum lease_role r);

/* The instance that holds the lease as last read or written (ours when leading), or NULL
 * when nobody does (released, missing, not read yet). Valid until the loop runs again. */
const char *lease_leader(const struct lease *l);

/* When the leader acquired it (the item's since, Unix seconds: display only), 0 unknown. */
int64_t lease_leader_since(const struct lease *l);

/* The term of the lease as last read or written (ours when leading), 0 unknown. */
uint64_t lease_term(const struct lease *l);

/* The version as last read or written. */
uint64_t lease_version(const struct lease *l);

/* Who held the lease before we took it ("" none), for the LEADING event. */
const char *lease_previous_owner(const struct lease *l);

/* The failure of the lease calls while they fail ("" when the last one went through): table,
 * operation, AWS's code. */
const char *lease_last_error(const struct lease *l);

/* Whether this instance may act now: LEADING, and the validity not past by the clock now
 * (not only by the last timer). See ECR_DEPLOYD_TEST_HA_NO_GATE above. */
bool lease_may_act(const struct lease *l);

/* lease_may_act() for aws_client_set_gate() and ddb_set_gate(): ud is the lease. */
bool lease_gate(void *ud);

/*
 * Releases the lease if held (LEADING or SUSPENDED): the call in flight is cancelled, then
 * UpdateItem owner "", version+1 conditioned on owner+term, blocking at most 1 s. The role is
 * STANDBY afterwards (no more calls: the caller exits). A standby that tried to take the lease
 * (its answer may be lost, or still on its way) releases it the same way in case it landed,
 * conditioned on the term it tried. 0 (released, or nothing to release);
 * -ESTALE (someone else held it already), -EAGAIN (no answer in time: the others take it
 * after a lease), other -errno.
 */
int lease_release(struct lease *l);

/* ---- tests: the state machine with injected time and I/O ------------------------------- */

/*
 * What the lease needs from the world. lease_new() uses the real one (CLOCK_BOOTTIME, an
 * ev_timer, the ddb); tests pass their own to lease_new_io() and drive it with lease_tick()
 * and lease_answer(). At most one call is in flight at a time.
 */
struct lease_io {
	uint64_t (*now_ms)(void *ud);               /* monotonic */
	int64_t (*wall_ms)(void *ud);               /* Unix ms: the item's since (display) only */
	void (*arm)(void *ud, uint64_t at_ms);      /* lease_tick() at at_ms (replaces the last) */
	int (*read)(void *ud, uint64_t timeout_ms); /* answered by lease_answer(), later */
	int (*write)(void *ud, const struct ddb_lease *next, const struct ddb_lease_cond *cond,
		     uint64_t timeout_ms); /* answered by lease_answer(), later */
	void (*cancel)(void *ud);          /* the call in flight: no answer */
	int (*write_wait)(void *ud, const struct ddb_lease *next, const struct ddb_lease_cond *cond,
			  uint64_t timeout_ms, char *why, size_t why_len); /* blocking */
	void (*fence)(void *ud, const char *owner, uint64_t term);         /* ddb_set_fence */
	void *ud;
};

/* lease_new() with io instead of the loop and ddb (o->loop and o->ddb are ignored). */
int lease_new_io(const struct lease_options *o, const struct lease_io *io, struct lease **ret,
		 char *why, size_t why_len);

/* The timer armed by io->arm fired. */
void lease_tick(struct lease *l);

/* The answer of the call in flight (as ddb_lease_fn). */
void lease_answer(struct lease *l, int err, const struct ddb_lease *item, const char *why);

#endif

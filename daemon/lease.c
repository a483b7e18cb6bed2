/* SPDX-License-Identifier: MIT */
/*
 * The HA lease (lease.h): one state machine whose clock and calls go through struct lease_io,
 * so that the tests drive it with a fake clock and fake replies; the real io is the monotonic
 * clock, an ev_timer and daemon/ddb.
 */
#include "lease.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "escape.h"
#include "log.h"

#define LEASE_MIN_MS    3000
#define LEASE_MAX_MS    300000
#define RETRY_MIN_MS    50
/* A standby's reads: at most this far apart, so that a released lease (SIGTERM of the leader) is
 * taken in well under a second (issue 18); lease/3 when shorter. */
#define STANDBY_POLL_MS 500

/* What the call in flight is. */
enum pending {
	P_NONE,
	P_READ,   /* the standby's (or the start's) read */
	P_CREATE, /* PutItem of a missing item */
	P_TAKE,   /* UpdateItem of a released or expired item */
	P_RENEW,  /* the holder's UpdateItem */
	P_CHECK,  /* the read after a write refused by its condition */
};

struct lease {
	char instance[DDB_INSTANCE_MAX + 1];
	char host[DDB_HOST_MAX + 1];
	char session[DDB_SESSION_MAX + 1]; /* this process's, random (ddb_lease.session) */
	uint64_t lease_ms;
	void (*on_leading)(void *ud);
	void (*on_lost)(void *ud);
	void (*on_change)(void *ud);
	void *userdata;
	struct lease_io io;
	bool no_gate;

	/* the real io */
	struct ev_loop *loop;
	struct ddb *ddb;
	struct ddb_op *op;
	struct ev_timer timer;

	enum lease_role role;
	bool known; /* item holds what was last read or written */
	struct ddb_lease item;
	char prev_owner[DDB_INSTANCE_MAX + 1];

	/* standby: the version seen, since when (monotonic ms, the arrival of its first reply) */
	bool seen;
	uint64_t seen_version, seen_term, seen_at;
	char seen_owner[DDB_INSTANCE_MAX + 1];
	uint64_t next_read;

	/* holder */
	uint64_t valid_until; /* monotonic ms */
	uint64_t next_renew;
	bool adopting;       /* the item says we hold it (a write whose reply was lost): the next
				renewal that succeeds makes it ours */
	uint64_t tried_term; /* the term of our last take (0: none) */

	enum pending pending;
	uint64_t started; /* monotonic ms: the start of the call in flight */
	struct ddb_lease want;

	char last_error[512];
	bool failing;

	/* what on_change last told */
	enum lease_role told_role;
	char told_leader[DDB_INSTANCE_MAX + 1];
	uint64_t told_term;
	bool leading_due, lost_due;
	int dispatching;
	bool free_asked;
	bool stopped; /* released or lost: no more calls */
};

static void step(struct lease *l);

/* ---- small helpers ---------------------------------------------------------------------- */

const char *lease_role_name(enum lease_role r)
{
	static const char *const names[] = {
		[LEASE_STARTING] = "starting", [LEASE_STANDBY] = "standby",
		[LEASE_LEADING] = "leading",   [LEASE_SUSPENDED] = "suspended",
		[LEASE_LOST] = "lost",
	};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "unknown";
}

static uint64_t now_ms(const struct lease *l)
{
	return l->io.now_ms(l->io.ud);
}

static uint64_t margin(const struct lease *l)
{
	return l->lease_ms / 4;
}

static uint64_t poll_ms(const struct lease *l)
{
	return l->lease_ms / 3 < STANDBY_POLL_MS ? l->lease_ms / 3 : STANDBY_POLL_MS;
}

static uint64_t retry_ms(const struct lease *l)
{
	return l->lease_ms / 12 > RETRY_MIN_MS ? l->lease_ms / 12 : RETRY_MIN_MS;
}

static bool holding(const struct lease *l)
{
	return l->role == LEASE_LEADING || l->role == LEASE_SUSPENDED;
}

static void table_name(const struct lease *l, char *out, size_t n)
{
	escape_bounded(l->ddb ? ddb_table(l->ddb) : "(test)", 255, out, n, ESCAPE_SQUOTE);
}

/* A call failed: said once per streak (the lease goes on trying). */
static void failed(struct lease *l, const char *what, const char *why)
{
	snprintf(l->last_error, sizeof(l->last_error), "%s", why && *why ? why : what);
	if (l->failing)
		return;
	l->failing = true;
	log_at(LOG_WARNING, NULL, LOG_FIELDS({ "HA_INSTANCE", l->instance }),
	       "ha: %s failed: %s; trying again (role %s)", what, l->last_error,
	       lease_role_name(l->role));
}

static void answered(struct lease *l)
{
	char table[300];

	if (!l->failing)
		return;
	l->failing = false;
	l->last_error[0] = '\0';
	table_name(l, table, sizeof(table));
	log_at(LOG_INFO, NULL, LOG_FIELDS({ "HA_INSTANCE", l->instance }),
	       "ha: table '%s' answers again (role %s)", table, lease_role_name(l->role));
}

/* ---- callbacks ----------------------------------------------------------------------------- */

static void set_role(struct lease *l, enum lease_role r)
{
	l->role = r;
}

/* Tells the daemon what changed; the lease may be freed by a callback (deferred). Returns
 * false when the lease was freed meanwhile (touch nothing). */
static bool dispatch(struct lease *l)
{
	const char *leader = lease_leader(l);
	bool changed = l->told_role != l->role || l->told_term != lease_term(l) ||
		       strcmp(l->told_leader, leader ? leader : "");

	l->dispatching++;
	if (changed) {
		l->told_role = l->role;
		l->told_term = lease_term(l);
		snprintf(l->told_leader, sizeof(l->told_leader), "%s", leader ? leader : "");
		if (l->on_change)
			l->on_change(l->userdata);
	}
	if (l->leading_due && !l->free_asked) {
		l->leading_due = false;
		if (l->on_leading)
			l->on_leading(l->userdata);
	}
	if (l->lost_due && !l->free_asked) {
		l->lost_due = false;
		if (l->on_lost)
			l->on_lost(l->userdata);
	}
	l->dispatching--;
	if (l->dispatching == 0 && l->free_asked) {
		l->free_asked = false;
		lease_free(l);
		return false;
	}
	return true;
}

/* ---- transitions --------------------------------------------------------------------------- */

static void acquired(struct lease *l, uint64_t started)
{
	char table[300];

	l->valid_until = started + l->lease_ms - margin(l);
	l->next_renew = started + l->lease_ms / 3;
	l->adopting = false;
	l->seen = false;
	if (!holding(l)) {
		table_name(l, table, sizeof(table));
		set_role(l, LEASE_LEADING);
		l->io.fence(l->io.ud, l->instance, l->item.term);
		l->leading_due = true;
		log_at(LOG_INFO, NULL, LOG_FIELDS({ "HA_INSTANCE", l->instance }),
		       "ha: table '%s': lease taken, term %llu, version %llu (previous owner "
		       "'%s')",
		       table, (unsigned long long)l->item.term, (unsigned long long)l->item.version,
		       *l->prev_owner ? l->prev_owner : "none");
	} else if (l->role == LEASE_SUSPENDED && now_ms(l) < l->valid_until) {
		set_role(l, LEASE_LEADING);
		table_name(l, table, sizeof(table));
		log_at(LOG_INFO, NULL, LOG_FIELDS({ "HA_INSTANCE", l->instance }),
		       "ha: table '%s': the lease is renewed again; mutating calls resume", table);
	}
}

static void lost(struct lease *l, const char *why)
{
	l->io.cancel(l->io.ud);
	l->pending = P_NONE;
	l->io.fence(l->io.ud, NULL, 0);
	set_role(l, LEASE_LOST);
	l->stopped = true;
	l->lost_due = true;
	log_at(LOG_WARNING, NULL,
	       LOG_FIELDS({ "HA_INSTANCE", l->instance },
			  { "HA_LEADER", l->known ? l->item.owner : NULL }),
	       "ha: the lease was taken by another instance ('%s'): %s",
	       l->known && *l->item.owner ? l->item.owner : "none", why);
}

/* What was read of the item (a standby's read or a check). */
static void learn(struct lease *l, const struct ddb_lease *item, uint64_t now)
{
	l->item = *item;
	l->known = true;
	/* the same item: owner, term and version (a version alone could come back if the item
	 * were deleted and made again). A failed read in between does not restart the count: the
	 * same version at both ends proves that nobody wrote it meanwhile. */
	if (!l->seen || l->seen_version != item->version || l->seen_term != item->term ||
	    strcmp(l->seen_owner, item->owner)) {
		l->seen = true;
		l->seen_version = item->version;
		l->seen_term = item->term;
		snprintf(l->seen_owner, sizeof(l->seen_owner), "%s", item->owner);
		l->seen_at = now;
	}
}

/* ---- calls ------------------------------------------------------------------------------- */

static void start_read(struct lease *l, enum pending kind)
{
	uint64_t timeout = l->lease_ms / 4;
	int r;

	l->pending = kind;
	l->started = now_ms(l);
	r = l->io.read(l->io.ud, timeout);
	if (r < 0) {
		l->pending = P_NONE;
		failed(l, "GetItem", strerror(-r));
		l->next_read = now_ms(l) + poll_ms(l);
	}
}

static void start_write(struct lease *l, enum pending kind, const struct ddb_lease_cond *cond)
{
	int r;

	l->pending = kind;
	l->started = now_ms(l);
	r = l->io.write(l->io.ud, &l->want, cond, l->lease_ms / 4);
	if (r < 0) {
		l->pending = P_NONE;
		failed(l, kind == P_CREATE ? "PutItem" : "UpdateItem", strerror(-r));
		if (kind == P_RENEW)
			l->next_renew = now_ms(l) + retry_ms(l);
		else
			l->next_read = now_ms(l) + poll_ms(l);
	}
}

/* Takes the item: missing (create), or released or expired at version (take). */
static void take(struct lease *l, bool create)
{
	struct ddb_lease_cond cond = { .absent = create, .version = l->item.version };

	snprintf(l->prev_owner, sizeof(l->prev_owner), "%s",
		 create || !l->known ? "" : l->item.owner);
	memset(&l->want, 0, sizeof(l->want));
	snprintf(l->want.owner, sizeof(l->want.owner), "%s", l->instance);
	l->want.term = create ? 1 : l->item.term + 1;
	l->want.version = create ? 1 : l->item.version + 1;
	l->want.lease_ms = l->lease_ms;
	l->want.since_ms = (uint64_t)l->io.wall_ms(l->io.ud);
	snprintf(l->want.host, sizeof(l->want.host), "%s", l->host);
	snprintf(l->want.session, sizeof(l->want.session), "%s", l->session);
	l->tried_term = l->want.term;
	start_write(l, create ? P_CREATE : P_TAKE, &cond);
}

static void renew(struct lease *l)
{
	struct ddb_lease_cond cond = { .owner = l->instance,
				       .session = l->session,
				       .term = l->item.term,
				       .version = l->item.version };

	l->want = l->item;
	l->want.version = l->item.version + 1;
	l->want.lease_ms = l->lease_ms;
	start_write(l, P_RENEW, &cond);
}

/* ---- the step: what to do now, and when to wake up ---------------------------------------- */

static void step(struct lease *l)
{
	uint64_t now = now_ms(l), wake;

	if (l->stopped)
		return;
	if (l->role == LEASE_LEADING && now >= l->valid_until && !l->adopting) {
		char table[300];
		table_name(l, table, sizeof(table));
		set_role(l, LEASE_SUSPENDED);
		log_at(LOG_WARNING, NULL, LOG_FIELDS({ "HA_INSTANCE", l->instance }),
		       "ha: table '%s': the lease was not renewed in time (%s); every mutating "
		       "call is stopped until it is",
		       table, *l->last_error ? l->last_error : "no answer");
	}
	if (l->pending == P_NONE) {
		if (holding(l) || l->adopting) {
			if (now >= l->next_renew)
				renew(l);
		} else if (now >= l->next_read) {
			start_read(l, P_READ);
		}
	}
	/* the next wake-up: the next call when none is in flight, and the suspension */
	wake = UINT64_MAX;
	if (l->pending == P_NONE)
		wake = holding(l) || l->adopting ? l->next_renew : l->next_read;
	if (l->role == LEASE_LEADING && l->valid_until < wake)
		wake = l->valid_until;
	if (wake != UINT64_MAX)
		l->io.arm(l->io.ud, wake > now ? wake : now);
}

void lease_tick(struct lease *l)
{
	step(l);
	dispatch(l);
}

/* ---- answers ------------------------------------------------------------------------------ */

static void on_read(struct lease *l, int err, const struct ddb_lease *item, const char *why,
		    uint64_t now)
{
	l->next_read = now + poll_ms(l);
	if (err == -ENOENT) {
		answered(l);
		l->known = false;
		l->seen = false;
		take(l, true);
		return;
	}
	if (err < 0 || !item) {
		failed(l, "GetItem", why);
		return;
	}
	answered(l);
	learn(l, item, now);
	if (!*item->owner) {
		take(l, false);
		return;
	}
	if (!strcmp(item->owner, l->instance) && !strcmp(item->session, l->session) &&
	    l->tried_term && item->term == l->tried_term) {
		/* our take landed though its answer was lost: made sure of by a renewal */
		l->adopting = true;
		l->next_renew = now;
		return;
	}
	if (l->role == LEASE_STARTING)
		set_role(l, LEASE_STANDBY);
	if (now - l->seen_at >= (item->lease_ms ? item->lease_ms : l->lease_ms))
		take(l, false);
}

static void on_write(struct lease *l, enum pending kind, int err, const char *why, uint64_t now)
{
	const char *op = kind == P_CREATE ? "PutItem" : "UpdateItem";

	if (err == 0) {
		answered(l);
		l->item = l->want;
		l->known = true;
		acquired(l, l->started);
		return;
	}
	if (err == -ESTALE) {
		/* refused by its condition: whose write is there? (the table answered, but a
		 * streak of failures is said over only by a call that went through) */
		start_read(l, P_CHECK);
		return;
	}
	failed(l, op, why);
	if (kind == P_RENEW)
		l->next_renew = now + retry_ms(l);
	/* a take that may have landed is found by the next read (tried_term) */
}

static void on_check(struct lease *l, int err, const struct ddb_lease *item, const char *why,
		     uint64_t now)
{
	bool mine = holding(l) || l->adopting;

	if (err < 0 && err != -ENOENT) {
		/* unknown yet: a holder renews again soon (refused again, it checks again; the
		 * suspension covers the wait), a standby reads again */
		failed(l, "GetItem", why);
		if (mine)
			l->next_renew = now + retry_ms(l);
		else
			l->next_read = now + poll_ms(l);
		return;
	}
	answered(l);
	if (err == 0 && !strcmp(item->owner, l->instance) && !strcmp(item->session, l->session) &&
	    item->term == (mine ? l->item.term : l->tried_term)) {
		/* our own write, whose answer was lost (a retry then failed its condition):
		 * adopted, and made sure of by a renewal at once */
		l->item = *item;
		l->known = true;
		if (!holding(l))
			l->adopting = true;
		l->next_renew = now;
		return;
	}
	l->adopting = false;
	if (holding(l)) {
		if (err == 0)
			learn(l, item, now);
		lost(l, err == 0 ? "a renewal was refused by its condition"
				 : "the lease item is gone");
		return;
	}
	/* a take that lost the race, or an adoption that came too late: stand by */
	if (err == 0) {
		learn(l, item, now);
		if (l->role == LEASE_STARTING)
			set_role(l, LEASE_STANDBY);
	} else {
		l->known = false;
		l->seen = false;
	}
	l->next_read = now + poll_ms(l);
}

void lease_answer(struct lease *l, int err, const struct ddb_lease *item, const char *why)
{
	enum pending kind = l->pending;
	uint64_t now = now_ms(l);

	if (kind == P_NONE || l->stopped)
		return;
	l->pending = P_NONE;
	switch (kind) {
	case P_READ:
		on_read(l, err, item, why, now);
		break;
	case P_CREATE:
	case P_TAKE:
	case P_RENEW:
		on_write(l, kind, err, why, now);
		break;
	case P_CHECK:
		on_check(l, err, item, why, now);
		break;
	case P_NONE:
		break;
	}
	step(l);
	dispatch(l);
}

/* ---- the real io: the monotonic clock, an ev_timer, ddb ---------------------------------- */

static uint64_t real_now(void *ud)
{
	struct timespec ts;

	(void)ud;
	/* monotonic, and counting the time the host was suspended: a leader that slept through
	 * its lease knows it when it wakes, before it sends anything */
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t real_wall(void *ud)
{
	struct timespec ts;

	(void)ud;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void real_arm(void *ud, uint64_t at)
{
	struct lease *l = ud;
	uint64_t now = real_now(NULL);

	ev_timer_stop(l->loop, &l->timer);
	ev_timer_set(&l->timer, at > now ? (double)(at - now) / 1000.0 : 0.0, 0.0);
	ev_timer_start(l->loop, &l->timer);
}

static void on_timer(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	lease_tick(t->data);
}

static void on_ddb(int err, const struct ddb_lease *item, const char *why, void *ud)
{
	struct lease *l = ud;

	l->op = NULL;
	lease_answer(l, err, item, why);
}

static int real_read(void *ud, uint64_t timeout)
{
	struct lease *l = ud;

	return ddb_lease_read(l->ddb, (long)timeout, on_ddb, l, &l->op);
}

static int real_write(void *ud, const struct ddb_lease *next, const struct ddb_lease_cond *cond,
		      uint64_t timeout)
{
	struct lease *l = ud;

	return ddb_lease_write(l->ddb, next, cond, (long)timeout, on_ddb, l, &l->op);
}

static void real_cancel(void *ud)
{
	struct lease *l = ud;

	ddb_op_cancel(l->op);
	l->op = NULL;
}

static int real_write_wait(void *ud, const struct ddb_lease *next,
			   const struct ddb_lease_cond *cond, uint64_t timeout, char *why,
			   size_t why_len)
{
	struct lease *l = ud;

	return ddb_lease_write_wait(l->ddb, next, cond, (long)timeout, why, why_len);
}

static void real_fence(void *ud, const char *owner, uint64_t term)
{
	struct lease *l = ud;

	ddb_set_fence(l->ddb, owner, term);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static int make(const struct lease_options *o, const struct lease_io *io, struct lease **ret,
		char *why, size_t why_len)
{
	struct lease *l;
	const char *env = getenv("ECR_DEPLOYD_TEST_HA_NO_GATE");
	size_t n = o->instance ? strlen(o->instance) : 0;

	if (n == 0 || n > DDB_INSTANCE_MAX ||
	    strspn(o->instance,
		   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") != n) {
		snprintf(why, why_len,
			 "ha.instance_id: not an instance id ([A-Za-z0-9_.:-], 1 to "
			 "128)");
		return -EINVAL;
	}
	if (o->lease_ms < LEASE_MIN_MS || o->lease_ms > LEASE_MAX_MS) {
		snprintf(why, why_len, "ha.lease_duration: %llu ms is not within 3s..5m",
			 (unsigned long long)o->lease_ms);
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	snprintf(l->instance, sizeof(l->instance), "%s", o->instance);
	/* this process's own mark in the item: another process given the same instance id (a
	 * second copy on one host, a copied configuration) never takes our writes for its own */
	unsigned char nonce[DDB_SESSION_MAX / 2];
	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
		free(l);
		snprintf(why, why_len, "no random bytes for the lease's session: %s",
			 strerror(errno));
		return -EIO;
	}
	for (size_t i = 0; i < sizeof(nonce); i++)
		snprintf(l->session + 2 * i, 3, "%02x", nonce[i]);
	/* the host attribute is display only: printable, bounded */
	escape_bounded(o->host ? o->host : o->instance, DDB_HOST_MAX - 8, l->host, sizeof(l->host),
		       0);
	l->lease_ms = o->lease_ms;
	l->on_leading = o->on_leading;
	l->on_lost = o->on_lost;
	l->on_change = o->on_change;
	l->userdata = o->userdata;
	l->io = *io;
	l->no_gate = env && !strcmp(env, "1");
	l->role = l->told_role = LEASE_STARTING;
	if (l->no_gate)
		log_at(LOG_WARNING, NULL, LOG_FIELDS({ "HA_INSTANCE", l->instance }),
		       "ha: ECR_DEPLOYD_TEST_HA_NO_GATE=1: the local gate is off (a test setting: "
		       "a suspended leader keeps acting, only the fence in DynamoDB stops it)");
	*ret = l;
	return 0;
}

int lease_new_io(const struct lease_options *o, const struct lease_io *io, struct lease **ret,
		 char *why, size_t why_len)
{
	return make(o, io, ret, why, why_len);
}

int lease_new(const struct lease_options *o, struct lease **ret, char *why, size_t why_len)
{
	struct lease_io io = { real_now,    real_wall,       real_arm,   real_read, real_write,
			       real_cancel, real_write_wait, real_fence, NULL };
	struct lease *l;
	int r;

	if (!o->loop || !o->ddb) {
		snprintf(why, why_len, "lease: no loop or table");
		return -EINVAL;
	}
	r = make(o, &io, &l, why, why_len);
	if (r < 0)
		return r;
	l->io.ud = l;
	l->loop = o->loop;
	l->ddb = o->ddb;
	ev_timer_init(&l->timer, on_timer, 0.0, 0.0);
	l->timer.data = l;
	ddb_set_gate(l->ddb, lease_gate, l);
	*ret = l;
	return 0;
}

void lease_start(struct lease *l)
{
	l->next_read = now_ms(l);
	l->io.arm(l->io.ud, l->next_read);
}

void lease_free(struct lease *l)
{
	if (!l)
		return;
	if (l->dispatching) {
		l->free_asked = true;
		return;
	}
	l->io.cancel(l->io.ud);
	if (l->loop)
		ev_timer_stop(l->loop, &l->timer);
	if (l->ddb) {
		ddb_set_gate(l->ddb, NULL, NULL);
		ddb_set_fence(l->ddb, NULL, 0);
	}
	free(l);
}

/* ---- accessors --------------------------------------------------------------------------------
 */

enum lease_role lease_role(const struct lease *l)
{
	return l->role;
}

const char *lease_leader(const struct lease *l)
{
	if (holding(l))
		return l->instance;
	return l->known && *l->item.owner ? l->item.owner : NULL;
}

int64_t lease_leader_since(const struct lease *l)
{
	return l->known && *l->item.owner ? (int64_t)(l->item.since_ms / 1000) : 0;
}

uint64_t lease_term(const struct lease *l)
{
	return l->known ? l->item.term : 0;
}

uint64_t lease_version(const struct lease *l)
{
	return l->known ? l->item.version : 0;
}

const char *lease_previous_owner(const struct lease *l)
{
	return l->prev_owner;
}

const char *lease_last_error(const struct lease *l)
{
	return l->failing ? l->last_error : "";
}

bool lease_may_act(const struct lease *l)
{
	if (l->no_gate)
		return holding(l);
	return l->role == LEASE_LEADING && now_ms(l) < l->valid_until;
}

bool lease_gate(void *ud)
{
	return lease_may_act(ud);
}

int lease_release(struct lease *l)
{
	struct ddb_lease next;
	struct ddb_lease_cond cond = { .owner = l->instance,
				       .session = l->session,
				       .term = l->item.term,
				       .any_version = true };
	char why[512] = "", table[300];
	int r;

	if (!holding(l) && !l->adopting) {
		l->stopped = true;
		l->io.cancel(l->io.ud);
		l->pending = P_NONE;
		if (!l->tried_term || l->role == LEASE_LOST)
			return 0;
		/* a take of ours may have landed though its answer never came: released if so
		 * (refused by the condition when it did not: nothing to release) */
		struct ddb_lease_cond tc = { .owner = l->instance,
					     .session = l->session,
					     .term = l->tried_term,
					     .any_version = true };
		next = l->want;
		next.owner[0] = '\0';
		r = l->io.write_wait(l->io.ud, &next, &tc, 1000, why, sizeof(why));
		return r == -ESTALE ? 0 : r;
	}
	l->io.cancel(l->io.ud);
	l->pending = P_NONE;
	l->stopped = true;
	/* no more acting, whatever the answer */
	l->io.fence(l->io.ud, NULL, 0);
	set_role(l, LEASE_STANDBY);
	next = l->item;
	next.owner[0] = '\0';
	next.version = l->item.version + 1;
	r = l->io.write_wait(l->io.ud, &next, &cond, 1000, why, sizeof(why));
	table_name(l, table, sizeof(table));
	if (r == 0) {
		l->item = next;
		log_at(LOG_INFO, NULL, LOG_FIELDS({ "HA_INSTANCE", l->instance }),
		       "ha: table '%s': lease released (term %llu)", table,
		       (unsigned long long)l->item.term);
	} else {
		log_at(LOG_WARNING, NULL, LOG_FIELDS({ "HA_INSTANCE", l->instance }),
		       "ha: table '%s': the lease could not be released: %s; %s", table, why,
		       r == -ESTALE ? "another instance held it already"
				    : "the others take it after a lease duration");
	}
	return r;
}

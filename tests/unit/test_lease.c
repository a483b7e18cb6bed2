/* SPDX-License-Identifier: MIT */
/*
 * daemon/lease: the protocol as a state machine, driven with a fake monotonic clock, a fake
 * wall clock and a fake table that answers as DynamoDB does (conditions checked), so that
 * each rule of the contract is shown: takeover only after the same version for a full lease,
 * suspension at lease - margin, resumption, loss on a refused renewal, release, two standbys
 * racing, and a wall clock that jumps changing nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease.h"
#include "unit.h"

#define L_MS 20000ULL

/* The table the instances share. */
struct table {
	bool exists;
	struct ddb_lease item;
	int writes_applied;
};

/* One instance's world. */
struct fake {
	struct table *tbl;
	uint64_t now;
	int64_t wall;
	bool armed;
	uint64_t armed_at;
	/* the call in flight */
	bool in_flight, is_write;
	struct ddb_lease next;
	struct ddb_lease_cond cond;
	char cond_owner[DDB_INSTANCE_MAX + 1];
	uint64_t timeout;
	int reads, writes, cancels;
	/* the fence */
	bool fenced;
	char fence_owner[DDB_INSTANCE_MAX + 1];
	uint64_t fence_term;
	/* the blocking write */
	int waits;
	struct ddb_lease wait_next;
	struct ddb_lease_cond wait_cond;
	/* callbacks */
	int leading, lost, changes;
	struct lease *l;
};

static uint64_t f_now(void *ud)
{
	return ((struct fake *)ud)->now;
}

static int64_t f_wall(void *ud)
{
	return ((struct fake *)ud)->wall;
}

static void f_arm(void *ud, uint64_t at)
{
	struct fake *f = ud;

	f->armed = true;
	f->armed_at = at;
}

static int f_read(void *ud, uint64_t timeout)
{
	struct fake *f = ud;

	CHECK(!f->in_flight);
	f->in_flight = true;
	f->is_write = false;
	f->timeout = timeout;
	f->reads++;
	return 0;
}

static int f_write(void *ud, const struct ddb_lease *next, const struct ddb_lease_cond *cond,
		   uint64_t timeout)
{
	struct fake *f = ud;

	CHECK(!f->in_flight);
	f->in_flight = true;
	f->is_write = true;
	f->next = *next;
	f->cond = *cond;
	snprintf(f->cond_owner, sizeof(f->cond_owner), "%s", cond->owner ? cond->owner : "");
	f->cond.owner = cond->owner ? f->cond_owner : NULL;
	f->timeout = timeout;
	f->writes++;
	return 0;
}

static void f_cancel(void *ud)
{
	struct fake *f = ud;

	if (f->in_flight)
		f->cancels++;
	f->in_flight = false;
}

/* The condition as DynamoDB checks it. */
static bool cond_holds(const struct table *t, const struct ddb_lease_cond *c)
{
	if (c->absent)
		return !t->exists;
	if (!t->exists)
		return false;
	if (c->owner && (strcmp(t->item.owner, c->owner) || t->item.term != c->term))
		return false;
	return c->any_version || t->item.version == c->version;
}

static void apply(struct table *t, const struct ddb_lease *next, const struct ddb_lease_cond *c)
{
	uint64_t v = t->item.version;

	t->exists = true;
	t->item = *next;
	if (c->any_version)
		t->item.version = v + 1;
	t->writes_applied++;
}

static int f_write_wait(void *ud, const struct ddb_lease *next, const struct ddb_lease_cond *cond,
			uint64_t timeout, char *why, size_t why_len)
{
	struct fake *f = ud;

	CHECK_INT(timeout, 1000);
	f->waits++;
	f->wait_next = *next;
	f->wait_cond = *cond;
	if (!cond_holds(f->tbl, cond)) {
		snprintf(why, why_len, "refused");
		return -ESTALE;
	}
	apply(f->tbl, next, cond);
	return 0;
}

static void f_fence(void *ud, const char *owner, uint64_t term)
{
	struct fake *f = ud;

	f->fenced = owner != NULL;
	snprintf(f->fence_owner, sizeof(f->fence_owner), "%s", owner ? owner : "");
	f->fence_term = term;
}

static void on_leading(void *ud)
{
	((struct fake *)ud)->leading++;
}

static void on_lost(void *ud)
{
	((struct fake *)ud)->lost++;
}

static void on_change(void *ud)
{
	((struct fake *)ud)->changes++;
}

static struct lease *make(struct fake *f, struct table *t, const char *instance)
{
	struct lease_io io = { 0 };
	struct lease_options o = { .instance = instance,
				   .host = "host.example",
				   .lease_ms = L_MS,
				   .on_leading = on_leading,
				   .on_lost = on_lost,
				   .on_change = on_change,
				   .userdata = f };
	char why[256];
	struct lease *l = NULL;

	io.now_ms = f_now;
	io.wall_ms = f_wall;
	io.arm = f_arm;
	io.read = f_read;
	io.write = f_write;
	io.cancel = f_cancel;
	io.write_wait = f_write_wait;
	io.fence = f_fence;
	io.ud = f;
	memset(f, 0, sizeof(*f));
	f->tbl = t;
	f->now = 1000000; /* monotonic: any origin */
	f->wall = 1764547200000LL;
	CHECK_INT(lease_new_io(&o, &io, &l, why, sizeof(why)), 0);
	f->l = l;
	if (l)
		lease_start(l);
	return l;
}

/* Fires the timer if it is due. */
static void fire(struct fake *f)
{
	if (f->armed && f->armed_at <= f->now) {
		f->armed = false;
		lease_tick(f->l);
	}
}

/* Moves the clock to now + ms, firing the timer at each time it was armed for. */
static void advance(struct fake *f, uint64_t ms)
{
	uint64_t end = f->now + ms;

	while (f->armed && f->armed_at <= end) {
		if (f->armed_at > f->now)
			f->now = f->armed_at;
		f->armed = false;
		lease_tick(f->l);
	}
	f->now = end;
}

/* Answers the call in flight as the table does. */
static void serve(struct fake *f)
{
	struct table *t = f->tbl;

	if (!f->in_flight) {
		CHECK(!"no call in flight");
		return;
	}
	f->in_flight = false;
	if (!f->is_write) {
		if (t->exists)
			lease_answer(f->l, 0, &t->item, "");
		else
			lease_answer(f->l, -ENOENT, NULL, "no lease item");
		return;
	}
	if (!cond_holds(t, &f->cond)) {
		lease_answer(f->l, -ESTALE, NULL, "ConditionalCheckFailedException");
		return;
	}
	apply(t, &f->next, &f->cond);
	lease_answer(f->l, 0, &f->next, "");
}

/* Answers the call in flight with an error (nothing done in the table). */
static void fail_call(struct fake *f, int err)
{
	CHECK(f->in_flight);
	f->in_flight = false;
	lease_answer(f->l, err, NULL, "table 'ha' UpdateItem: ThrottlingException: slow down");
}

/* Serves every call until none is in flight (at the same time). */
static void serve_all(struct fake *f)
{
	for (int i = 0; i < 10 && f->in_flight; i++)
		serve(f);
}

static void held_by(struct table *t, const char *owner, uint64_t term, uint64_t version)
{
	t->exists = true;
	memset(&t->item, 0, sizeof(t->item));
	snprintf(t->item.owner, sizeof(t->item.owner), "%s", owner);
	t->item.term = term;
	t->item.version = version;
	t->item.lease_ms = L_MS;
	t->item.since_ms = 1764540000000ULL;
	snprintf(t->item.host, sizeof(t->item.host), "%s.example", owner);
}

/* Starts an instance on an empty table and makes it lead. */
static struct lease *leader(struct fake *f, struct table *t, const char *instance)
{
	struct lease *l = make(f, t, instance);

	fire(f);
	serve_all(f);
	return l;
}

TEST(lease_takes_a_missing_item)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l = make(&f, &t, "a");

	CHECK_INT(lease_role(l), LEASE_STARTING);
	CHECK(!lease_may_act(l));
	CHECK_INT(f.reads, 0); /* nothing from inside lease_start() */
	fire(&f);
	CHECK_INT(f.reads, 1);
	serve(&f); /* missing */
	CHECK(f.in_flight && f.is_write && f.cond.absent);
	CHECK_STR(f.next.owner, "a");
	CHECK_INT(f.next.term, 1);
	CHECK_INT(f.next.version, 1);
	CHECK_INT(f.next.lease_ms, L_MS);
	CHECK_INT(f.next.since_ms, f.wall);
	CHECK_STR(f.next.host, "host.example");
	serve(&f);
	CHECK_INT(lease_role(l), LEASE_LEADING);
	CHECK(lease_may_act(l));
	CHECK(lease_gate(l));
	CHECK_INT(f.leading, 1);
	CHECK(f.changes >= 1);
	CHECK(f.fenced);
	CHECK_STR(f.fence_owner, "a");
	CHECK_INT(f.fence_term, 1);
	CHECK_STR(lease_leader(l), "a");
	CHECK_INT(lease_term(l), 1);
	CHECK_INT(lease_leader_since(l), f.wall / 1000);
	lease_free(l);
}

TEST(lease_renews_every_third_with_its_condition)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l = leader(&f, &t, "a");
	uint64_t t0 = f.now;

	CHECK(f.armed);
	CHECK_INT(f.armed_at, t0 + L_MS / 3);
	advance(&f, L_MS / 3 - 1);
	CHECK(!f.in_flight);
	advance(&f, 1);
	CHECK(f.in_flight && f.is_write);
	CHECK_INT(f.timeout, L_MS / 4); /* per attempt */
	CHECK(f.cond.owner && !strcmp(f.cond.owner, "a"));
	CHECK_INT(f.cond.term, 1);
	CHECK_INT(f.cond.version, 1);
	CHECK(!f.cond.any_version);
	CHECK_INT(f.next.version, 2);
	CHECK_INT(f.next.term, 1);
	serve(&f);
	CHECK_INT(t.item.version, 2);
	CHECK_INT(f.leading, 1); /* a renewal is not an acquisition */
	/* the next at a third after this one's start */
	CHECK_INT(f.armed_at, t0 + 2 * (L_MS / 3));
	lease_free(l);
}

TEST(lease_suspends_at_lease_minus_margin_and_resumes)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l = leader(&f, &t, "a");
	uint64_t t0 = f.now; /* the acquisition's request started here */
	int changes;

	/* every renewal fails (throttled), answered at once */
	while (f.now < t0 + L_MS - L_MS / 4 - 1) {
		uint64_t to = t0 + L_MS - L_MS / 4 - 1 - f.now;
		advance(&f, to < 100 ? to : 100);
		if (f.in_flight)
			fail_call(&f, -EAGAIN);
	}
	CHECK_INT(lease_role(l), LEASE_LEADING);
	CHECK(lease_may_act(l));
	CHECK(f.writes >= 3); /* retried after lease/12 */
	changes = f.changes;
	/* the gate closes by the clock, even before the timer fires */
	f.now = t0 + L_MS - L_MS / 4;
	CHECK(!lease_may_act(l));
	fire(&f);
	CHECK_INT(lease_role(l), LEASE_SUSPENDED);
	CHECK(!lease_may_act(l));
	CHECK_INT(f.changes, changes + 1);
	CHECK(f.fenced); /* the fence stays: it is DynamoDB's to refuse */
	CHECK(strstr(lease_last_error(l), "ThrottlingException") != NULL);
	/* renewals go on; one that succeeds resumes */
	advance(&f, L_MS / 12);
	CHECK(f.in_flight);
	serve(&f);
	CHECK_INT(lease_role(l), LEASE_LEADING);
	CHECK(lease_may_act(l));
	CHECK_INT(f.changes, changes + 2);
	CHECK_INT(f.leading, 1);
	CHECK_INT(f.lost, 0);
	CHECK_STR(lease_last_error(l), "");
	lease_free(l);
}

TEST(lease_lost_when_a_renewal_is_refused)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l = leader(&f, &t, "a");

	/* another instance took it (after our lease ran out, say) */
	held_by(&t, "b", 2, 7);
	advance(&f, L_MS / 3);
	CHECK(f.in_flight && f.is_write);
	serve(&f); /* refused: checked with a read */
	CHECK(f.in_flight && !f.is_write);
	CHECK_INT(lease_role(l), LEASE_LEADING);
	serve(&f);
	CHECK_INT(lease_role(l), LEASE_LOST);
	CHECK_INT(f.lost, 1);
	CHECK(!lease_may_act(l));
	CHECK(!f.fenced);
	CHECK_STR(lease_leader(l), "b");
	/* no more calls */
	f.armed = false;
	advance(&f, 10 * L_MS);
	CHECK(!f.in_flight);
	CHECK_INT(lease_release(l), 0);
	CHECK_INT(f.waits, 0);
	lease_free(l);
}

/* A renewal that landed but whose answer was lost: the next one is refused by its version; the
 * check finds our owner and term: adopted, not lost. */
TEST(lease_adopts_its_own_lost_renewal)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l = leader(&f, &t, "a");

	advance(&f, L_MS / 3);
	CHECK(f.in_flight);
	apply(&t, &f.next, &f.cond); /* landed... */
	fail_call(&f, -EAGAIN);      /* ...the answer lost */
	CHECK_INT(t.item.version, 2);
	advance(&f, L_MS / 12);
	CHECK(f.in_flight && f.is_write);
	CHECK_INT(f.cond.version, 1);
	serve(&f); /* refused */
	serve(&f); /* the check: ours */
	CHECK(f.in_flight && f.is_write);
	CHECK_INT(f.cond.version, 2);
	serve(&f);
	CHECK_INT(lease_role(l), LEASE_LEADING);
	CHECK_INT(t.item.version, 3);
	CHECK_INT(f.lost, 0);
	lease_free(l);
}

TEST(lease_standby_takes_over_only_after_a_full_lease_of_one_version)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l;
	uint64_t first;

	held_by(&t, "b", 4, 10);
	l = make(&f, &t, "a");
	fire(&f);
	serve(&f);
	first = f.now; /* the arrival of the first reply that showed version 10 */
	CHECK_INT(lease_role(l), LEASE_STANDBY);
	CHECK_STR(lease_leader(l), "b");
	CHECK_INT(lease_term(l), 4);
	CHECK_INT(lease_leader_since(l), 1764540000);
	CHECK(!lease_may_act(l));
	CHECK_INT(f.writes, 0);
	/* reads every half second (min(500 ms, lease/3)) */
	CHECK_INT(f.armed_at, first + 500);
	/* b renews at 5 s: the clock starts again from the reply that shows version 11 */
	while (f.now < first + 5000) {
		advance(&f, 1000);
		serve_all(&f);
	}
	t.item.version = 11;
	advance(&f, 1000);
	serve(&f);
	uint64_t second = f.now;
	CHECK_INT(f.writes, 0);
	/* b stops renewing: no take until a full lease after `second` */
	while (f.now + 1000 < second + L_MS) {
		advance(&f, 1000);
		serve_all(&f);
		CHECK_INT(f.writes, 0);
	}
	advance(&f, second + L_MS - f.now);
	CHECK(f.in_flight && !f.is_write);
	serve(&f);
	CHECK(f.in_flight && f.is_write);
	CHECK(!f.cond.absent && !f.cond.owner);
	CHECK_INT(f.cond.version, 11);
	CHECK_INT(f.next.term, 5);
	CHECK_INT(f.next.version, 12);
	serve(&f);
	CHECK_INT(lease_role(l), LEASE_LEADING);
	CHECK_INT(f.leading, 1);
	CHECK_STR(lease_previous_owner(l), "b");
	CHECK_INT(f.fence_term, 5);
	lease_free(l);
}

/* The holder's own lease_ms counts, not ours. */
TEST(lease_standby_waits_the_holders_lease)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l;

	held_by(&t, "b", 1, 1);
	t.item.lease_ms = 60000;
	l = make(&f, &t, "a");
	fire(&f);
	serve(&f);
	uint64_t first = f.now;
	while (f.now < first + 59000) {
		advance(&f, 1000);
		serve_all(&f);
	}
	CHECK_INT(f.writes, 0);
	advance(&f, 1000);
	serve(&f);
	CHECK_INT(f.writes, 1);
	lease_free(l);
}

TEST(lease_released_item_taken_at_once)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l;

	held_by(&t, "", 3, 9);
	l = make(&f, &t, "a");
	fire(&f);
	serve(&f);
	CHECK(f.in_flight && f.is_write);
	CHECK_INT(f.cond.version, 9);
	serve(&f);
	CHECK_INT(lease_role(l), LEASE_LEADING);
	CHECK_INT(lease_term(l), 4);
	lease_free(l);
}

TEST(lease_release_blocks_and_frees_the_item)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l = leader(&f, &t, "a");

	advance(&f, L_MS / 3); /* a renewal in flight: cancelled */
	CHECK(f.in_flight);
	CHECK_INT(lease_release(l), 0);
	CHECK_INT(f.cancels, 1);
	CHECK_INT(f.waits, 1);
	CHECK(f.wait_cond.owner && !strcmp(f.wait_cond.owner, "a"));
	CHECK_INT(f.wait_cond.term, 1);
	CHECK(f.wait_cond.any_version);
	CHECK_STR(t.item.owner, "");
	CHECK_INT(t.item.term, 1);
	CHECK_INT(t.item.version, 2);
	CHECK_INT(lease_role(l), LEASE_STANDBY);
	CHECK(!lease_may_act(l));
	CHECK(!f.fenced);
	f.armed = false;
	advance(&f, L_MS);
	CHECK(!f.in_flight);
	lease_free(l);

	/* taken meanwhile by another: -ESTALE */
	struct table t2 = { 0 };
	l = leader(&f, &t2, "a");
	held_by(&t2, "b", 2, 5);
	CHECK_INT(lease_release(l), -ESTALE);
	CHECK_STR(t2.item.owner, "b");
	lease_free(l);

	/* a standby has nothing to release */
	struct table t3 = { 0 };
	held_by(&t3, "b", 2, 5);
	l = make(&f, &t3, "a");
	fire(&f);
	serve(&f);
	CHECK_INT(lease_release(l), 0);
	CHECK_INT(f.waits, 0);
	lease_free(l);
}

TEST(lease_two_standbys_racing_one_wins)
{
	struct table t = { 0 };
	struct fake fa, fb;
	struct lease *a, *b;

	held_by(&t, "x", 1, 3);
	a = make(&fa, &t, "a");
	b = make(&fb, &t, "b");
	fire(&fa);
	fire(&fb);
	serve(&fa);
	serve(&fb);
	for (int i = 0; i < 20; i++) {
		advance(&fa, 1000);
		advance(&fb, 1000);
		if (fa.in_flight && !fa.is_write)
			serve(&fa);
		if (fb.in_flight && !fb.is_write)
			serve(&fb);
	}
	/* both want it, conditioned on version 3 */
	CHECK(fa.in_flight && fa.is_write && fa.cond.version == 3);
	CHECK(fb.in_flight && fb.is_write && fb.cond.version == 3);
	serve(&fa);
	serve(&fb); /* refused */
	serve(&fb); /* the check: a holds it */
	CHECK_INT(lease_role(a), LEASE_LEADING);
	CHECK_INT(lease_role(b), LEASE_STANDBY);
	CHECK_INT(fa.leading, 1);
	CHECK_INT(fb.leading, 0);
	CHECK_INT(fb.lost, 0);
	CHECK(!lease_may_act(b));
	CHECK(!fb.fenced);
	CHECK_STR(lease_leader(b), "a");
	CHECK_INT(t.item.term, 2);
	/* a renews; b keeps standing by */
	for (int i = 0; i < 30; i++) {
		advance(&fa, 1000);
		advance(&fb, 1000);
		serve_all(&fa);
		serve_all(&fb);
	}
	CHECK_INT(lease_role(a), LEASE_LEADING);
	CHECK_INT(lease_role(b), LEASE_STANDBY);
	CHECK_INT(fb.writes, 1);
	lease_free(a);
	lease_free(b);
}

/* A take whose answer was lost: the next read shows our owner and term; a renewal makes it
 * ours (not a full lease of waiting for ourselves). */
TEST(lease_take_with_lost_answer_adopted)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l;

	held_by(&t, "", 1, 2);
	l = make(&f, &t, "a");
	fire(&f);
	serve(&f);
	CHECK(f.in_flight && f.is_write);
	apply(&t, &f.next, &f.cond);
	fail_call(&f, -EAGAIN);
	CHECK(lease_role(l) != LEASE_LEADING);
	advance(&f, 1000);
	serve(&f); /* the read: owner a, term 2 */
	CHECK(f.in_flight && f.is_write);
	CHECK(f.cond.owner && !strcmp(f.cond.owner, "a"));
	CHECK_INT(f.cond.version, 3);
	CHECK(!lease_may_act(l));
	serve(&f);
	CHECK_INT(lease_role(l), LEASE_LEADING);
	CHECK_INT(f.leading, 1);
	lease_free(l);
}

/* The wall clock jumping (NTP, a VM resumed, faketime) moves nothing: only `since` reads it. */
TEST(lease_wall_clock_jump_changes_nothing)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l;

	held_by(&t, "b", 1, 1);
	l = make(&f, &t, "a");
	fire(&f);
	serve(&f);
	uint64_t first = f.now;
	for (int i = 0; f.now + 1000 < first + L_MS; i++) {
		f.wall += (i % 2 ? -1 : 1) * 3600 * 1000LL; /* an hour each way */
		advance(&f, 1000);
		serve_all(&f);
		CHECK_INT(f.writes, 0);
	}
	f.wall -= 86400 * 1000LL;
	advance(&f, first + L_MS - f.now);
	serve(&f);
	CHECK_INT(f.writes, 1);
	serve(&f);
	CHECK_INT(lease_role(l), LEASE_LEADING);
	uint64_t t0 = f.now;
	/* leading: the validity is by the monotonic clock */
	f.wall += 7200 * 1000LL;
	CHECK(lease_may_act(l));
	f.now = t0 + L_MS - L_MS / 4 - 1;
	f.wall -= 7200 * 1000LL;
	CHECK(lease_may_act(l));
	lease_free(l);
}

/* ECR_DEPLOYD_TEST_HA_NO_GATE=1: a suspended leader still says it may act (tests of the
 * fence); without it, it does not. */
TEST(lease_test_no_gate)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l;

	setenv("ECR_DEPLOYD_TEST_HA_NO_GATE", "1", 1);
	l = leader(&f, &t, "a");
	unsetenv("ECR_DEPLOYD_TEST_HA_NO_GATE");
	advance(&f, L_MS / 3);
	f.now += L_MS; /* the renewal never answers */
	fire(&f);
	CHECK_INT(lease_role(l), LEASE_SUSPENDED);
	CHECK(lease_may_act(l));
	lease_free(l);
	f.in_flight = false;
	l = leader(&f, &t, "c");
	lease_free(l);
}

TEST(lease_new_checks)
{
	struct lease_io io = { 0 };
	struct lease_options o = { .instance = "a", .lease_ms = L_MS };
	struct lease *l = NULL;
	char why[256];

	o.lease_ms = 2999;
	CHECK_INT(lease_new_io(&o, &io, &l, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "lease_duration") != NULL);
	o.lease_ms = 300001;
	CHECK_INT(lease_new_io(&o, &io, &l, why, sizeof(why)), -EINVAL);
	o.lease_ms = L_MS;
	o.instance = "a b";
	CHECK_INT(lease_new_io(&o, &io, &l, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "instance_id") != NULL);
	o.instance = "";
	CHECK_INT(lease_new_io(&o, &io, &l, why, sizeof(why)), -EINVAL);
	o.instance = "a";
	CHECK_INT(lease_new(&o, &l, why, sizeof(why)), -EINVAL); /* no loop, no table */
	CHECK_STR(lease_role_name(LEASE_STANDBY), "standby");
	CHECK_STR(lease_role_name(LEASE_SUSPENDED), "suspended");
	CHECK_STR(lease_role_name((enum lease_role)99), "unknown");
	lease_free(NULL);
}

/* on_lost may free the lease (the daemon tears down): nothing touches it afterwards. */
static void free_on_lost(void *ud)
{
	struct fake *f = ud;

	f->lost++;
	lease_free(f->l);
	f->l = NULL;
}

TEST(lease_freed_from_its_callback)
{
	struct table t = { 0 };
	struct fake f;
	struct lease_io io = { 0 };
	struct lease_options o = { .instance = "a", .lease_ms = L_MS, .on_lost = free_on_lost };
	char why[256];

	memset(&f, 0, sizeof(f));
	f.tbl = &t;
	f.now = 5000;
	io.now_ms = f_now;
	io.wall_ms = f_wall;
	io.arm = f_arm;
	io.read = f_read;
	io.write = f_write;
	io.cancel = f_cancel;
	io.write_wait = f_write_wait;
	io.fence = f_fence;
	io.ud = &f;
	o.userdata = &f;
	CHECK_INT(lease_new_io(&o, &io, &f.l, why, sizeof(why)), 0);
	lease_start(f.l);
	fire(&f);
	serve_all(&f);
	held_by(&t, "b", 9, 9);
	advance(&f, L_MS / 3);
	serve(&f);
	serve(&f); /* lost: freed inside (ASan sees a use after free if anything touches it) */
	CHECK_INT(f.lost, 1);
	CHECK(f.l == NULL);
}

/* The full lease counts from the arrival of the reply that showed the version, not from its
 * request (the holder may have written it while the read was on its way). */
TEST(lease_standby_counts_from_the_reply)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l;

	held_by(&t, "b", 1, 1);
	l = make(&f, &t, "a");
	fire(&f);
	f.now += 400; /* a slow reply */
	serve(&f);
	uint64_t arrival = f.now;
	while (f.now + 1000 <= arrival + L_MS - 1) {
		advance(&f, 1000);
		if (f.in_flight && !f.is_write) {
			f.now += 400;
			serve(&f);
		}
		CHECK_INT(f.writes, 0);
	}
	f.now = arrival + L_MS - 1;
	fire(&f);
	if (f.in_flight && !f.is_write)
		serve(&f);
	CHECK_INT(f.writes, 0);
	advance(&f, 1000);
	if (f.in_flight && !f.is_write)
		serve(&f);
	CHECK_INT(f.writes, 1);
	lease_free(l);
}

/* The same version under another owner or term (the item deleted and made again) is another
 * item: the count starts again. Failed reads in between do not restart it. */
TEST(lease_standby_counts_one_item)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l;

	held_by(&t, "b", 1, 1);
	l = make(&f, &t, "a");
	fire(&f);
	serve(&f);
	for (int i = 0; i < 10; i++) {
		advance(&f, 1000);
		fail_call(&f, -EAGAIN);
	}
	held_by(&t, "c", 1, 1); /* made again by c */
	advance(&f, 1000);
	serve(&f);
	uint64_t again = f.now;
	while (f.now + 1000 < again + L_MS) {
		advance(&f, 1000);
		if (f.now % 3000 == 0) {
			fail_call(&f, -EAGAIN);
			continue;
		}
		serve(&f);
		CHECK_INT(f.writes, 0);
	}
	advance(&f, again + L_MS - f.now);
	serve(&f);
	CHECK_INT(f.writes, 1);
	CHECK_INT(f.cond.version, 1);
	lease_free(l);
}

/* SIGTERM while a take is on its way: it may land after we stop; released in case it did. */
TEST(lease_release_during_a_take)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l;

	held_by(&t, "", 3, 9);
	l = make(&f, &t, "a");
	fire(&f);
	serve(&f);
	CHECK(f.in_flight && f.is_write);
	apply(&t, &f.next, &f.cond); /* it landed; the answer is not read */
	CHECK_STR(t.item.owner, "a");
	CHECK_INT(lease_release(l), 0);
	CHECK_INT(f.cancels, 1);
	CHECK_INT(f.waits, 1);
	CHECK_INT(f.wait_cond.term, 4);
	CHECK_STR(t.item.owner, "");
	CHECK_INT(f.leading, 0);
	lease_free(l);

	/* it did not land (another took it): nothing released, 0 */
	struct table t2 = { 0 };
	held_by(&t2, "", 3, 9);
	l = make(&f, &t2, "a");
	fire(&f);
	serve(&f);
	held_by(&t2, "b", 4, 10);
	CHECK_INT(lease_release(l), 0);
	CHECK_INT(f.waits, 1);
	CHECK_STR(t2.item.owner, "b");
	lease_free(l);
}

/* An adoption (our take's answer lost) that comes too late: another took the item meanwhile.
 * Never held, so not lost: the instance stands by. */
TEST(lease_adoption_too_late_stands_by)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l;

	held_by(&t, "", 1, 2);
	l = make(&f, &t, "a");
	fire(&f);
	serve(&f);
	apply(&t, &f.next, &f.cond); /* the take landed, its answer lost */
	fail_call(&f, -EAGAIN);
	advance(&f, 1000);
	serve(&f); /* the read: ours, term 2: adopting, a renewal goes out */
	CHECK(f.in_flight && f.is_write);
	held_by(&t, "b", 3, 9); /* b took it (say our adoption waited a lease) */
	serve(&f);              /* refused */
	serve(&f);              /* the check: b's */
	CHECK_INT(lease_role(l), LEASE_STANDBY);
	CHECK_INT(f.lost, 0);
	CHECK_INT(f.leading, 0);
	CHECK_STR(lease_leader(l), "b");
	CHECK(!lease_may_act(l));
	lease_free(l);
}

/*
 * Two processes given one instance id (a second copy on one host, a copied configuration): the
 * other's take lands first, with the term ours would have written. Its item names our instance
 * and our term, but not our session: ours was refused, not lost, so this one stands by.
 */
TEST(lease_same_id_other_process_is_not_adopted)
{
	struct table t = { 0 };
	struct fake f;
	struct lease *l;

	held_by(&t, "", 1, 2);
	l = make(&f, &t, "a");
	fire(&f);
	serve(&f); /* the read: released: a take goes out */
	CHECK(f.in_flight && f.is_write);
	CHECK_INT(f.next.term, 2);
	CHECK(strlen(f.next.session) == DDB_SESSION_MAX);
	/* the other process's take, the same owner and term */
	held_by(&t, "a", 2, 3);
	snprintf(t.item.session, sizeof(t.item.session), "%s", "00ff00ff");
	serve(&f); /* ours: refused by its condition; a check read goes out */
	CHECK(f.in_flight && !f.is_write);
	serve(&f);
	CHECK_INT(lease_role(l), LEASE_STANDBY);
	CHECK(!lease_may_act(l));
	CHECK_INT(f.leading, 0);
	lease_free(l);
}

/* SPDX-License-Identifier: MIT */
/*
 * The deployer's public face (deployer.h): after every poll cycle it decides, per (watch,
 * target), what to do (decide.h), starts rollouts and inspections on the engine (rollout.h),
 * resumes those a stop left, keeps blocked targets aside until their backoff or a reload, and
 * says the rollouts in progress for the status line.
 */
#include "deployer.h"

#include <cJSON.h>
#include <errno.h>
#include <ev.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws.h"
#include "config.h"
#include "credentials.h"
#include "decide.h"
#include "ecs.h"
#include "events.h"
#include "guard.h"
#include "history.h"
#include "log.h"
#include "rollout.h"
#include "state.h"
#include "strmap.h"

#define TICK_S        0.25
#define INSPECT_MAX   16     /* first-start inspections at once (they are only reads) */
#define BLOCK_FIRST_S 60.0   /* a blocked target is tried again after this, doubling, */
#define BLOCK_MAX_S   3600.0 /* up to an hour (and at every reload) */

static void kick(struct deployer *dp);
static void on_pauses(struct ev_loop *loop, struct ev_timer *t, int revents);

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

void deployer_ended(struct deployer *dp)
{
	dp->all = true; /* the service and a rollout slot are free */
	kick(dp);
}

static void skey_of(const struct rollout_rec *c, char *buf, size_t n)
{
	snprintf(buf, n, "%s\x1f%s", c->watch, c->tkey);
}

bool deployer_blocked(struct deployer *dp, struct rollout *r)
{
	char skey[1200];

	skey_of(r->rec, skey, sizeof(skey));
	return strmap_get(dp->blocked, skey) != NULL;
}

double deployer_block(struct deployer *dp, struct rollout *r)
{
	char skey[1200];
	struct blocked *b;

	skey_of(r->rec, skey, sizeof(skey));
	b = strmap_get(dp->blocked, skey);
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b || strmap_put(dp->blocked, skey, b, NULL) < 0) {
			free(b);
			return 0; /* without memory: tried again at the next reconcile */
		}
	} else {
		b->delay = b->delay * 2 > BLOCK_MAX_S ? BLOCK_MAX_S : b->delay * 2;
	}
	if (b->delay < BLOCK_FIRST_S)
		b->delay = BLOCK_FIRST_S;
	b->until = ev_now(dp->d->loop) + b->delay;
	if (!dp->blocked_next || b->until < dp->blocked_next)
		dp->blocked_next = b->until;
	snprintf(b->digest, sizeof(b->digest), "%s", r->rec->digest);
	snprintf(b->error, sizeof(b->error), "%.255s", r->reason);
	return b->delay;
}

void deployer_unblock(struct deployer *dp, struct rollout *r)
{
	char skey[1200];
	void *old = NULL;

	skey_of(r->rec, skey, sizeof(skey));
	if (strmap_get(dp->blocked, skey) && strmap_put(dp->blocked, skey, NULL, &old) == 0)
		free(old);
}

static void on_state_retry(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct deployer *dp = t->data;

	(void)loop;
	(void)revents;
	dp->all = true;
	kick(dp);
}

static void on_tick(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct deployer *dp = t->data;
	double now = ev_now(loop);

	(void)revents;
	for (struct rollout *r = dp->rollouts, *next; r; r = next) {
		next = r->next;
		if (r->poke_ticket && !r->batch && !rollout_steps[r->rec->step].batched) {
			/* It left tracking (a wait, a rollback...) before the look an event asked
			 * for: nothing more will be read for it; its record is on disk. */
			uint64_t ticket = r->poke_ticket;
			r->poke_ticket = 0;
			r->repoke = false;
			if (dp->d->poked)
				dp->d->poked(ticket, dp->d->userdata);
		}
		if (r->waiting && r->next_at <= now)
			rollout_run(r); /* may free r, never another rollout */
	}
	rollout_track_due(dp);
	if (!dp->rollouts) /* an idle daemon does not wake four times a second */
		ev_timer_stop(loop, &dp->tick);
}

/* ---- deciding ------------------------------------------------------------ */

/* Region, cluster name and service name of a target (ARNs name their region). */
static void place(const struct config_target *t, const char *default_region, char region[64],
		  char key[1024])
{
	const char *c = t->cluster;

	snprintf(region, 64, "%s", default_region);
	if (!strncmp(c, "arn:", 4)) {
		/* arn:partition:ecs:region:account:cluster/name */
		const char *p = c;
		for (int i = 0; i < 3 && p; i++)
			p = strchr(p + 1, ':');
		if (p) {
			const char *e = strchr(p + 1, ':');
			if (e && e - p - 1 < 64 && e - p - 1 > 0)
				snprintf(region, 64, "%.*s", (int)(e - p - 1), p + 1);
		}
		c = strrchr(c, '/') ? strrchr(c, '/') + 1 : c;
	}
	const char *s = strrchr(t->service, '/') ? strrchr(t->service, '/') + 1 : t->service;
	snprintf(key, 1024, "%s%s%s/%s/%s", t->account ? t->account : "", t->account ? "@" : "",
		 region, c, s);
}

static struct rollout *holding(const struct deployer *dp, const char *tkey)
{
	for (struct rollout *r = dp->rollouts; r; r = r->next)
		if (!strcmp(r->rec->tkey, tkey))
			return r;
	return NULL;
}

/* A new record for (w, t) wanting want: what ran before is what the state knows the service runs,
 * else the digest the tag had before this push. NULL without memory. */
static struct rollout_rec *new_record(const struct config_watch *w, const struct config_target *t,
				      const char *tkey, const struct state_want *want,
				      const char *region, const char *deployed, bool inspect)
{
	struct rollout_rec *r = calloc(1, sizeof(*r));
	double now = rollout_wall_now();
	const char *previous = deployed && *deployed ? deployed : want->previous;
	bool ok;

	if (!r)
		return NULL;
	r->step = inspect ? STEP_INSPECT : STEP_START;
	ok = record_set(&r->watch, w->name) == 0 && record_set(&r->tkey, tkey) == 0 &&
	     record_set(&r->repository, w->repository) == 0 &&
	     record_set(&r->tag, want->tag) == 0 && record_set(&r->digest, want->digest) == 0 &&
	     record_set(&r->image, want->image) == 0 &&
	     record_set(&r->previous_digest, previous) == 0 &&
	     record_set(&r->strategy, config_strategy_name(t->strategy)) == 0 &&
	     record_set(&r->cluster, t->cluster) == 0 && record_set(&r->service, t->service) == 0 &&
	     record_set(&r->region, region) == 0 && record_set(&r->role_arn, t->role_arn) == 0 &&
	     record_set(&r->approve, t->approve == APPROVE_AUTO ? "auto" : "manual") == 0 &&
	     record_set(&r->guard, t->guard == GUARD_ENFORCE ? "enforce"
				   : t->guard == GUARD_OFF   ? "off"
							     : "warn") == 0;
	for (size_t i = 0; ok && i < t->n_containers && i < RECORD_CONTAINERS; i++) {
		ok = (r->containers[i] = strdup(t->containers[i])) != NULL;
		r->n_containers += ok;
	}
	if (!ok) {
		record_free(r);
		return NULL;
	}
	if (ok && t->strategy == STRATEGY_CODEDEPLOY)
		ok = record_set(&r->cd_application, t->cd_application) == 0 &&
		     record_set(&r->cd_group, t->cd_group) == 0 &&
		     record_set(&r->cd_config, t->cd_config) == 0 &&
		     record_set(&r->cd_container, t->cd_container) == 0;
	if (!ok) {
		record_free(r);
		return NULL;
	}
	r->cd_port = t->cd_container ? t->cd_port : 0;
	r->rollback = t->rollback;
	r->first_start_skip = t->first_start_skip;
	r->timeout_ms = t->rollout_timeout_ms;
	if (!inspect) {
		r->started_at = now;
		r->deadline = now + (double)t->rollout_timeout_ms / 1000.0;
	}
	return r;
}

/* Whether the target waits out a block (an authorization or request error) for this digest now;
 * its backoff's end is then remembered for the pass after it (deployer_cycle_done()). */
static bool is_blocked(struct deployer *dp, const char *skey, const char *digest)
{
	struct blocked *b = strmap_get(dp->blocked, skey);

	if (!b || ev_now(dp->d->loop) >= b->until || !digest || strcmp(b->digest, digest))
		return false;
	if (!dp->blocked_next || b->until < dp->blocked_next)
		dp->blocked_next = b->until;
	return true;
}

static void free_dry_look(void *v)
{
	struct dry_look *look = v;

	if (look) {
		cJSON_Delete(look->svc);
		cJSON_Delete(look->td);
		free(look);
	}
}

/*
 * Whether a deploy of t would be skipped (or blocked) on the service as a dry run's look found it
 * (NULL: not looked at in this run: false), decided as the start step decides, against t's
 * settings of now; reason: the SKIPPED event's REASON it would say, why its sentence.
 */
static bool dry_refusal(const struct dry_look *look, const struct config_target *t, char *reason,
			size_t reason_len, char *why, size_t why_len)
{
	struct guard_finding f[GUARD_FINDINGS_MAX];
	const char *status = look ? str_of(look->svc, "status") : NULL;
	bool cd = t->strategy == STRATEGY_CODEDEPLOY;
	size_t n;

	if (!look || !look->svc)
		return false;
	if (status && strcmp(status, "ACTIVE")) {
		char v[64];
		ecs_printable(status, v, sizeof(v));
		snprintf(reason, reason_len, "blocked");
		snprintf(why, why_len, "the service is %s, not ACTIVE", v);
		return true;
	}
	if (deploy_controller_refuses(
		cd, str_of(cJSON_GetObjectItem(look->svc, "deploymentController"), "type"), why,
		why_len)) {
		snprintf(reason, reason_len, "deployment-controller");
		return true;
	}
	if (cd || t->guard != GUARD_ENFORCE)
		return false;
	n = guard_check(look->svc, look->td, (const char *const *)t->containers,
			t->n_containers < RECORD_CONTAINERS ? t->n_containers : RECORD_CONTAINERS,
			t->strategy != STRATEGY_REVISION, t->rollback, f, GUARD_FINDINGS_MAX);
	if (!n)
		return false;
	deploy_guard_refusal(f, n, why, why_len);
	snprintf(reason, reason_len, "unsafe-deployment-config");
	return true;
}

/* Says a decision that is not an action, once per (target, digest, decision). */
static void say(struct deployer *dp, const char *skey, const struct config_watch *w,
		const struct config_target *t, const char *digest, enum decision dec)
{
	char said[160], *copy;
	void *old = NULL;
	const char *prev = strmap_get(dp->said, skey);

	if (dec == DECIDE_NOTHING) {
		/* says nothing, so nothing is kept (a thousand targets up to date hold no text);
		 * what was said before is forgotten, as a different decision replaces it */
		if (prev && strmap_put(dp->said, skey, NULL, &old) == 0)
			free(old);
		return;
	}
	snprintf(said, sizeof(said), "%s %s", decision_name(dec), digest ? digest : "");
	if (prev && !strcmp(prev, said))
		return;
	copy = strdup(said);
	if (!copy || strmap_put(dp->said, skey, copy, &old) < 0) {
		free(copy);
		return;
	}
	free(old);
	const struct log_field *f = LOG_FIELDS(
	    { "WATCH", w->name }, { "ECR_REPOSITORY", w->repository }, { "IMAGE_DIGEST", digest },
	    { "ECS_CLUSTER", t->cluster }, { "ECS_SERVICE", t->service },
	    { "STRATEGY", config_strategy_name(t->strategy) }, { "REASON", decision_name(dec) });
	switch (dec) {
	case DECIDE_SKIP_FAILED:
		log_at(LOG_NOTICE, EVENT_SKIPPED, f,
		       "watch '%s': %s failed on service '%s' before; not deploying it again (push "
		       "a newer image)",
		       w->name, digest, t->service);
		break;
	case DECIDE_SKIP_PAUSED:
		log_at(LOG_NOTICE, EVENT_SKIPPED, f, "watch '%s': service '%s' is paused; %s waits",
		       w->name, t->service, digest);
		break;
	case DECIDE_SKIP_HELD:
		log_at(LOG_INFO, EVENT_SKIPPED, f,
		       "watch '%s': %s is held back on service '%s' until a newer push", w->name,
		       digest, t->service);
		break;
	case DECIDE_SKIP_PINNED:
		log_at(LOG_INFO, EVENT_SKIPPED, f,
		       "watch '%s': service '%s' is pinned by an operator; %s waits for an unpin",
		       w->name, t->service, digest);
		break;
	case DECIDE_SKIP_UNSUPPORTED:
		log_at(LOG_WARNING, EVENT_SKIPPED, f,
		       "watch '%s': strategy 'codedeploy' is not part of this build; %s is not "
		       "deployed to service '%s'",
		       w->name, digest, t->service);
		break;
	case DECIDE_DRY_RUN: {
		/* what this run's look at the service found that the deploy would refuse */
		char reason[32], why[1200];
		if (!dry_refusal(strmap_get(dp->dry_looks, skey), t, reason, sizeof(reason), why,
				 sizeof(why))) {
			log_at(LOG_NOTICE, EVENT_SKIPPED, f,
			       "dry run: would deploy %s to service '%s' in cluster '%s' (strategy "
			       "'%s')",
			       digest, t->service, t->cluster, config_strategy_name(t->strategy));
			break;
		}
		log_at(LOG_NOTICE, EVENT_SKIPPED,
		       LOG_FIELDS({ "WATCH", w->name }, { "ECR_REPOSITORY", w->repository },
				  { "IMAGE_DIGEST", digest }, { "ECS_CLUSTER", t->cluster },
				  { "ECS_SERVICE", t->service },
				  { "STRATEGY", config_strategy_name(t->strategy) },
				  { "REASON", decision_name(dec) }, { "DRY_RUN_REASON", reason }),
		       "dry run: would not deploy %s to service '%s' in cluster '%s' (strategy "
		       "'%s'): %s (the service as this run first found it)",
		       digest, t->service, t->cluster, config_strategy_name(t->strategy), why);
		break;
	}
	case DECIDE_WAIT_BUSY:
		log_at(LOG_INFO, NULL, f,
		       "watch '%s': service '%s' is busy with a rollout; %s goes after it", w->name,
		       t->service, digest);
		break;
	case DECIDE_WAIT_CAPACITY:
		log_at(LOG_INFO, NULL, f,
		       "watch '%s': %d rollouts run (max_concurrent_deploys); %s waits", w->name,
		       (*dp->d->cfg)->max_concurrent_deploys, digest);
		break;
	default:
		break;
	}
}

/* Whether the operator paused everything, the watch (tkey NULL) or the target, and the pause
 * has not expired (the timer lifts it; until then its time decides). */
static bool overrides_paused(const struct state *st, const char *watch, const char *tkey)
{
	struct state_pause p;
	double now = rollout_wall_now();

	if (!tkey && state_pause(st, NULL, NULL, &p) && (!p.until || p.until > now))
		return true;
	return state_pause(st, watch, tkey, &p) && (!p.until || p.until > now);
}

/*
 * The want of a pinned target: the watch's (followed: its image, its previous) with the pin's
 * digest and tag. False when the target is not pinned, or when the watch has no image yet (then
 * nothing is deployed: the image's repository URI is not known).
 */
static bool pinned_want(const struct state *st, const char *watch, const char *tkey,
			const struct state_want *followed, struct state_want *ret)
{
	struct state_pin pin;

	if (!followed || !state_pin(st, watch, tkey, &pin))
		return false;
	*ret = *followed;
	snprintf(ret->digest, sizeof(ret->digest), "%s", pin.digest);
	ret->tag = pin.tag ? pin.tag : "";
	return true;
}

/* Decides, and starts what is decided, for target t of watch w (its place region and tkey),
 * want the digest it should run (its pin, else followed: the watch's). Returns false when the
 * state cannot be written: the rest waits for the state's retry. */
static bool reconcile_target(struct deployer *dp, const struct config_watch *w,
			     const struct config_target *t, const char *region, const char *tkey,
			     const struct state_want *want, const struct state_want *followed,
			     bool pinned, bool watch_paused)
{
	struct deployer_deps *d = dp->d;
	const struct config *cfg = *d->cfg;
	bool dry = cfg->dry_run || d->dry_run;
	char skey[1200];
	const char *digest = want ? want->digest : NULL;

	snprintf(skey, sizeof(skey), "%s\x1f%s", w->name, tkey);
	const char *deployed = state_deployed(d->state, w->name, tkey);
	const char *retried = state_retried(d->state, w->name, tkey);
	bool failed = digest && state_failed_has(d->state, w->name, tkey, digest);
	if (!deployed)
		dp->reset_unseen++;
	struct decide_input in = {
		.want = digest,
		.followed = followed ? followed->digest : NULL,
		.pinned = pinned,
		.deployed = deployed,
		.held = state_held(d->state, w->name, tkey),
		.failed = failed && !(t->retry && !strcmp(t->retry, digest) &&
				      strcmp(retried ? retried : "", digest)),
		.paused = t->paused || watch_paused || overrides_paused(d->state, w->name, tkey),
		.dry_run = dry,
		.busy = holding(dp, tkey) != NULL,
		.at_capacity = dp->deploying >= cfg->max_concurrent_deploys,
		.unsupported = false, /* every strategy is deployed (codedeploy: cdeploy.c) */
	};
	enum decision dec = decide(&in);
	if (dec == DECIDE_WAIT_BUSY && holding(dp, tkey)->inspect)
		return true; /* being looked at; decided again when that ends */
	if (dec == DECIDE_WAIT_BUSY && !strcmp(holding(dp, tkey)->rec->digest, digest))
		return true; /* this very digest is being deployed: nothing to say */
	if (dec != DECIDE_DEPLOY && dec != DECIDE_INSPECT) {
		say(dp, skey, w, t,
		    dec == DECIDE_SKIP_PINNED ? (followed ? followed->digest : NULL) : digest, dec);
		return true;
	}
	if (is_blocked(dp, skey, digest))
		return true; /* said when it was blocked; tried again after its backoff */
	if (dec == DECIDE_INSPECT && dp->inspecting >= INSPECT_MAX)
		return true; /* the next one starts when one ends */
	if (dec == DECIDE_DEPLOY && dp->state_failing && ev_is_active(&dp->state_retry))
		return true; /* decided again when the state's retry is due */
	struct rollout_rec *rec =
	    new_record(w, t, tkey, want, region, deployed, dec == DECIDE_INSPECT);
	if (!rec) {
		log_error("out of memory while starting a rollout to '%s'", tkey);
		return true;
	}
	if (dec == DECIDE_INSPECT && state_reset_pending(d->state)) {
		/* What failed here is unknown: as on_first_start skip, until a new push. */
		rec->first_start_skip = true;
		rec->after_reset = true;
	}
	struct rollout *ro = rollout_new(dp, rec, dec == DECIDE_INSPECT);
	if (!ro) {
		record_free(rec);
		log_error("out of memory while starting a rollout to '%s'", tkey);
		return true;
	}
	if (dec == DECIDE_INSPECT) {
		rollout_run(ro);
		return true;
	}
	char why[600];
	if (state_rollout_save(d->state, rec, why, sizeof(why)) < 0) {
		/* Never started: dropped without a trace (an operator's retry is not used
		 * up); the state's retry decides again. */
		rollout_free(ro);
		rollout_state_failed(dp, why);
		return false;
	}
	if (t->retry && !strcmp(t->retry, digest) && failed) {
		/* The operator's one more time: taken now, not again. */
		state_set_retried(d->state, w->name, tkey, digest);
		log_at(LOG_NOTICE, NULL,
		       LOG_FIELDS({ "WATCH", w->name }, { "IMAGE_DIGEST", digest },
				  { "ECS_SERVICE", t->service }),
		       "watch '%s': %s failed on service '%s' before; deploying it once "
		       "more, as its 'retry' asks",
		       w->name, digest, t->service);
	}
	rollout_emit(ro, LOG_NOTICE, EVENT_DEPLOY_STARTED, NULL,
		     "deploying %s ('%s:%s') to service '%s' in cluster '%s' (strategy "
		     "'%s')",
		     digest, w->repository, want->tag, t->service, t->cluster,
		     config_strategy_name(t->strategy));
	rollout_run(ro);
	return true;
}

/* Decides, and starts what is decided, for each target of one watch. */
static void reconcile_watch(struct deployer *dp, const struct config_watch *w)
{
	struct deployer_deps *d = dp->d;
	struct state_want want, pin;
	const struct state_want *followed = state_want(d->state, w->name, &want) ? &want : NULL;
	bool watch_paused = overrides_paused(d->state, w->name, NULL);

	for (size_t j = 0; j < w->n_targets; j++) {
		const struct config_target *t = &w->targets[j];
		char region[64], tkey[1024];
		place(t, d->region, region, tkey);
		bool pinned = pinned_want(d->state, w->name, tkey, followed, &pin);
		bool go = reconcile_target(dp, w, t, region, tkey, pinned ? &pin : followed,
					   followed, pinned, watch_paused);
		if (!go)
			return;
	}
}

static int by_position(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* A watch of the config in force by name: what positions() looks names up in (16 bytes a watch,
 * sorted, instead of a hash map holding a copy of every name). */
struct watch_position {
	const char *name;
	size_t pos;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct watch_position *)a)->name,
		      ((const struct watch_position *)b)->name);
}

/* The positions in the config in force of the watches named in names (those still there),
 * ascending; NULL without memory. */
static size_t *positions(struct deployer *dp, char **names, size_t n, size_t *ret_n)
{
	struct config *cfg = *dp->d->cfg;
	size_t *pos = calloc(n + 1, sizeof(*pos)), k = 0;

	if (!pos)
		return NULL;
	if (dp->indexed != cfg) {
		struct watch_position *index = calloc(cfg->n_watches + 1, sizeof(*index));
		if (!index) {
			free(pos);
			return NULL;
		}
		for (size_t i = 0; i < cfg->n_watches; i++)
			index[i] = (struct watch_position){ cfg->watches[i].name, i };
		qsort(index, cfg->n_watches, sizeof(*index), by_name);
		free(dp->index);
		config_free(dp->indexed);
		dp->index = index;
		dp->n_index = cfg->n_watches;
		dp->indexed = config_ref(cfg);
	}
	for (size_t i = 0; i < n; i++) {
		struct watch_position key = { names[i], 0 };
		const struct watch_position *at =
		    bsearch(&key, dp->index, dp->n_index, sizeof(*dp->index), by_name);
		if (at)
			pos[k++] = at->pos;
	}
	qsort(pos, k, sizeof(*pos), by_position);
	*ret_n = k;
	return pos;
}

/* Every watch after a change that can touch any (a reload, a freed slot), else only those marked
 * since the last pass, in config order either way. */
static void reconcile_now(struct deployer *dp)
{
	const struct config *cfg = *dp->d->cfg;
	char **names = dp->dirty_names;
	size_t n = dp->n_dirty, n_pos = 0, *pos = NULL;
	struct strmap *dirty = dp->dirty;
	bool all = dp->all;

	dp->all = false;
	dp->dirty = strmap_new();
	dp->dirty_names = NULL;
	dp->n_dirty = dp->cap_dirty = 0;
	if (!dp->dirty) {
		dp->dirty = dirty;
		dirty = NULL;
		all = true;
	}
	if (!all && !(pos = positions(dp, names, n, &n_pos)))
		all = true;
	if (dp->blocked_cfg != *dp->d->cfg) {
		/* A reload: every blocked target is tried again (its fix may be in it). */
		strmap_free(dp->blocked, free);
		dp->blocked = strmap_new();
		config_free(dp->blocked_cfg);
		dp->blocked_cfg = config_ref(*dp->d->cfg);
		all = true;
	}
	if (all)
		log_at(LOG_DEBUG, NULL, NULL, "reconcile: every watch");
	else
		log_at(LOG_DEBUG, NULL, NULL, "reconcile: %zu named watches", n_pos);
	if (all) {
		dp->reset_unseen = 0;
		dp->blocked_next = 0; /* what is still blocked says so again below */
		for (size_t i = 0; i < cfg->n_watches; i++)
			reconcile_watch(dp, &cfg->watches[i]);
		/* Every target has been looked at since the state was rebuilt: the reset is over.
		 */
		if (!dp->reset_unseen && !dp->inspecting && state_reset_pending(dp->d->state)) {
			state_reset_done(dp->d->state);
			rollout_save_state(dp);
		}
	} else {
		for (size_t i = 0; i < n_pos; i++)
			reconcile_watch(dp, &cfg->watches[pos[i]]);
	}
	free(pos);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	strmap_free(dirty, NULL);
}

static void on_kick(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct deployer *dp = t->data;

	(void)loop;
	(void)revents;
	dp->kick_pending = false;
	reconcile_now(dp);
}

static void kick(struct deployer *dp)
{
	if (dp->kick_pending)
		return;
	dp->kick_pending = true;
	ev_timer_set(&dp->kick, 0.0, 0.0);
	ev_timer_start(dp->d->loop, &dp->kick);
}

/* ---- public -------------------------------------------------------------- */

struct deployer *deployer_new(const struct deployer_deps *deps)
{
	struct deployer *dp = calloc(1, sizeof(*dp));

	if (!dp)
		return NULL;
	dp->d_ = *deps;
	dp->d = &dp->d_;
	dp->creds = strmap_new();
	dp->said = strmap_new();
	dp->dirty = strmap_new();
	dp->blocked = strmap_new();
	dp->guard_said = strmap_new();
	dp->dry_looks = strmap_new();
	dp->cd_groups = strmap_new();
	if (!dp->creds || !dp->said || !dp->dirty || !dp->blocked || !dp->guard_said ||
	    !dp->dry_looks || !dp->cd_groups) {
		deployer_free(dp);
		return NULL;
	}
	ev_timer_init(&dp->tick, on_tick, TICK_S, TICK_S);
	dp->tick.data = dp;
	ev_timer_init(&dp->kick, on_kick, 0.0, 0.0);
	dp->kick.data = dp;
	ev_timer_init(&dp->state_retry, on_state_retry, 0.0, 0.0);
	dp->state_retry.data = dp;
	ev_timer_init(&dp->pauses, on_pauses, 0.0, 0.0);
	dp->pauses.data = dp;
	return dp;
}

static void free_creds(void *p)
{
	cred_provider_free(p);
}

/* The name in a name or an ECS ARN (…:cluster/NAME, …:service/CLUSTER/NAME, …:service/NAME). */
static const char *ecs_name(const char *s)
{
	const char *slash = strncmp(s, "arn:", 4) ? NULL : strrchr(s, '/');

	return slash ? slash + 1 : s;
}

int deployer_poke(struct deployer *dp, const char *region, const char *cluster, const char *service,
		  uint64_t ticket, uint64_t *replaced)
{
	*replaced = 0;
	for (struct rollout *r = dp->rollouts; r; r = r->next) {
		const struct rollout_rec *rec = r->rec;
		if (r->inspect || !rec->region || !rec->service || !rec->cluster ||
		    strcmp(rec->region, region) || strcmp(ecs_name(rec->service), service) ||
		    (*cluster && strcmp(ecs_name(rec->cluster), cluster)))
			continue;
		r->event_seen = true;
		if (!rollout_steps[rec->step].batched || r->waiting)
			return 0; /* not tracking now: its next look is not ours to hasten */
		*replaced = r->poke_ticket;
		r->poke_ticket = ticket;
		if (r->batch)
			r->repoke = true;
		else
			r->next_at = ev_now(dp->d->loop); /* the next tick (0.25 s) looks */
		return 1;
	}
	return 0;
}

void deployer_events_flowing(struct deployer *dp, bool on)
{
	dp->events_flowing = on;
}

void deployer_free(struct deployer *dp)
{
	if (!dp)
		return;
	ev_timer_stop(dp->d->loop, &dp->tick);
	ev_timer_stop(dp->d->loop, &dp->kick);
	ev_timer_stop(dp->d->loop, &dp->state_retry);
	ev_timer_stop(dp->d->loop, &dp->pauses);
	dp->freeing = true;
	rollout_free_batches(dp);
	while (dp->rollouts)
		rollout_free(dp->rollouts); /* the records stay in the state file */
	strmap_free(dp->said, free);
	strmap_free(dp->dirty, NULL);
	for (size_t i = 0; i < dp->n_dirty; i++)
		free(dp->dirty_names[i]);
	free(dp->dirty_names);
	free(dp->index);
	config_free(dp->indexed);
	strmap_free(dp->creds, free_creds);
	strmap_free(dp->blocked, free);
	strmap_free(dp->guard_said, free);
	strmap_free(dp->dry_looks, free_dry_look);
	strmap_free(dp->cd_groups, free);
	config_free(dp->blocked_cfg);
	free(dp);
}

/* A time a record says a call went out, moved to now (when it has one). */
static void sent_now(double *at, double now)
{
	if (*at > 0)
		*at = now;
}

static void resume_one(struct rollout_rec *rec, void *ud)
{
	struct deployer *dp = ud;
	struct rollout *r;

	if (state_in_table(dp->d->state)) {
		/* ha: the record may come from another instance, whose wall clock is not this
		 * host's; a call it sent counts as sent now, so that the wait for one that may
		 * still be carried out (rollout_wait_for_sent()) lasts its whole window by this
		 * host's clock instead of being judged over by a clock minutes off. */
		double now = rollout_wall_now();
		sent_now(&rec->register_sent_at, now);
		sent_now(&rec->update_sent_at, now);
		sent_now(&rec->rollback_register_sent_at, now);
		sent_now(&rec->rollback_sent_at, now);
		sent_now(&rec->stop_sent_at, now);
		sent_now(&rec->cd_create_sent_at, now);
		sent_now(&rec->cd_rb_create_sent_at, now);
	}
	r = rollout_new(dp, rec, false);

	if (!r) {
		log_error("out of memory while resuming the rollout to '%s'", rec->tkey);
		record_free(rec);
		return;
	}
	rollout_emit(r, LOG_NOTICE, NULL, NULL,
		     "resuming the rollout of %s to service '%s' at step '%s' (it was in flight "
		     "when ecr-deployd stopped)",
		     rec->digest, rec->service, record_step_name(rec->step));
	rollout_resume(r);
}

static void count_one(struct rollout_rec *rec, void *ud)
{
	(*(int *)ud)++;
	log_warning("dry run: the rollout of watch '%s' to '%s' in the state file is left as it "
		    "is (resuming it could change ECS)",
		    rec->watch, rec->tkey);
	record_free(rec);
}

void deployer_resume(struct deployer *dp)
{
	int n = 0, missed;

	if (state_reset_pending(dp->d->state))
		log_at(
		    LOG_WARNING, EVENT_STATE_RESET,
		    LOG_FIELDS({ "STATE_FILE", state_path(dp->d->state) }),
		    "the state was rebuilt, so what each service runs and which digests failed "
		    "there are unknown: every target is treated as on_first_start 'skip' until a "
		    "new push (what runs is looked at; nothing is deployed before a newer image)");

	deployer_pauses_changed(dp); /* those that expired while stopped are lifted now */
	if ((*dp->d->cfg)->dry_run || dp->d->dry_run)
		missed = state_each_rollout(dp->d->state, count_one, &n);
	else
		missed = state_each_rollout(dp->d->state, resume_one, dp);
	if (missed)
		log_error(
		    "out of memory while reading %d rollout records; their files stay for the "
		    "next start",
		    missed);
}

void deployer_reconcile(struct deployer *dp)
{
	dp->all = true;
	kick(dp);
}

void deployer_reconcile_watch(struct deployer *dp, const char *watch)
{
	char *name;

	if (dp->all || strmap_get(dp->dirty, watch)) {
		kick(dp);
		return;
	}
	if (dp->n_dirty == dp->cap_dirty) {
		size_t cap = dp->cap_dirty ? 2 * dp->cap_dirty : 16;
		char **more = realloc(dp->dirty_names, cap * sizeof(*more));
		if (more) {
			dp->dirty_names = more;
			dp->cap_dirty = cap;
		}
	}
	name = dp->n_dirty < dp->cap_dirty ? strdup(watch) : NULL;
	if (!name || strmap_put(dp->dirty, watch, (void *)1, NULL) < 0) {
		free(name);
		dp->all = true; /* without memory, look at everything */
	} else {
		dp->dirty_names[dp->n_dirty++] = name;
	}
	kick(dp);
}

void deployer_cycle_done(struct deployer *dp)
{
	/* Everything else reconciles itself when it happens: a moved digest (the watcher), a freed
	 * slot or service (deployer_ended), the state's retry, an expired pause, the operator's
	 * commands. */
	if (dp->blocked_cfg != *dp->d->cfg ||
	    (dp->blocked_next && ev_now(dp->d->loop) >= dp->blocked_next))
		deployer_reconcile(dp);
}

bool deployer_idle(const struct deployer *dp)
{
	return !dp->rollouts && !dp->kick_pending;
}

void deployer_status(const struct deployer *dp, char *buf, size_t n)
{
	int count = 0, listed = 0;
	size_t len;

	for (const struct rollout *r = dp ? dp->rollouts : NULL; r; r = r->next)
		count += !r->inspect;
	if (!count) {
		snprintf(buf, n, "no rollout in progress");
		return;
	}
	len = (size_t)snprintf(buf, n, "%d rollout%s in progress", count, count == 1 ? "" : "s");
	for (const struct rollout *r = dp->rollouts; r && len < n; r = r->next) {
		if (r->inspect)
			continue;
		if (listed == 3) {
			len += (size_t)snprintf(buf + len, n - len, ", ...");
			break;
		}
		len += (size_t)snprintf(buf + len, n - len, "%s%s ", listed ? ", " : " (",
					r->rec->service);
		if (len >= n)
			break;
		if (record_is_codedeploy(r->rec) && !r->awaiting) {
			/* CodeDeploy's status and lifecycle event, the traffic on the new revision,
			 * and deploymentOverview (its targets by state); no task count: a
			 * codedeploy rollout never reads one. */
			static const char *const overview[6] = { "pending",   "in progress",
								 "succeeded", "failed",
								 "skipped",   "ready" };
			len += (size_t)snprintf(buf + len, n - len, "CodeDeploy %s",
						*r->stage ? r->stage : "starting");
			if (len < n && r->weight >= 0)
				len += (size_t)snprintf(buf + len, n - len, ", %.0f%% traffic",
							r->weight);
			for (int i = 0, said = 0; i < 6 && len < n; i++)
				if (r->cd_overview[i] > 0)
					len += (size_t)snprintf(buf + len, n - len, "%s%d %s",
								said++ ? ", " : ", targets ",
								r->cd_overview[i], overview[i]);
		} else if (r->awaiting)
			len += (size_t)snprintf(buf + len, n - len, "awaiting approval at %s",
						*r->stage ? r->stage : "a hook");
		else if (*r->stage && r->weight >= 0)
			len += (size_t)snprintf(buf + len, n - len, "%s %.0f%% traffic", r->stage,
						r->weight);
		else if (*r->stage)
			len += (size_t)snprintf(buf + len, n - len, "%s %d/%d tasks", r->stage,
						r->running, r->desired);
		else
			len += (size_t)snprintf(buf + len, n - len, "%d/%d tasks", r->running,
						r->desired);
		if (len < n && rollout_steps[r->rec->step].rolling_back)
			len += (size_t)snprintf(buf + len, n - len, " rolling back");
		listed++;
	}
	if (listed && len < n)
		snprintf(buf + len, n - len, ")");
}

int deployer_failures(const struct deployer *dp)
{
	/* A deploy that waits for the state to be written has not happened: --once says so. */
	return dp->failures + (dp->state_failing ? 1 : 0);
}

/* ---- an operator's actions and the end of every rollout ------------------- */

void deployer_target_name(const char *watch, const char *service, char *buf, size_t n)
{
	const char *s = strrchr(service, '/') ? strrchr(service, '/') + 1 : service;

	snprintf(buf, n, "%s/%s", watch, s);
}

/* Whether the configured target named watch/... still exists (the history keeps only those). */
static bool configured(const char *watch, const char *target, void *ud)
{
	const struct config *cfg = ud;
	char name[600];

	for (size_t i = 0; i < cfg->n_watches; i++) {
		const struct config_watch *w = &cfg->watches[i];
		if (strcmp(w->name, watch))
			continue;
		for (size_t j = 0; j < w->n_targets; j++) {
			deployer_target_name(w->name, w->targets[j].service, name, sizeof(name));
			if (!strcmp(name, target))
				return true;
		}
	}
	return false;
}

/* "deploy UID PID" / "rollback UID PID": who asked; false when the record is the engine's. */
static bool manual_of(const struct rollout_rec *c, bool *ret_rollback, uid_t *ret_uid,
		      pid_t *ret_pid)
{
	char kind[16];
	long uid, pid;

	if (!c->manual || sscanf(c->manual, "%15s %ld %ld", kind, &uid, &pid) != 3)
		return false;
	*ret_rollback = !strcmp(kind, "rollback");
	*ret_uid = (uid_t)uid;
	*ret_pid = (pid_t)pid;
	return true;
}

void deployer_rollout_ended(struct deployer *dp, struct rollout *r, enum history_result result)
{
	const struct rollout_rec *c = r->rec;
	char target[600], why[600];
	bool rollback = false;
	struct history_entry e = {
		.watch = c->watch,
		.target = target,
		.digest = c->digest,
		.tag = c->tag,
		.from_td = c->base_td,
		.to_td = c->new_td,
		.result = result,
		.started = c->started_at,
		.ended = rollout_wall_now(),
		.reason = result == HISTORY_COMPLETED ? NULL : r->reason,
		.from_digest = c->previous_digest,
	};

	if (r->inspect || !c->watch || !c->digest || !c->service)
		return;
	/* A rollout that ends before it changed anything in AWS (blocked, skipped by the guard) is
	 * said in the journal; in the history it would push real outcomes out at every retry of a
	 * blocked target. */
	if (result == HISTORY_CANCELLED && !c->new_td && !c->update_sent_at && !c->manual)
		return;
	e.by_operator = manual_of(c, &rollback, &e.uid, &e.pid);
	deployer_target_name(c->watch, c->service, target, sizeof(target));
	if (dp->d->history &&
	    history_add(dp->d->history, &e, configured, *dp->d->cfg, why, sizeof(why)) < 0)
		log_error(
		    "%s; the entry of the rollout of %s to '%s' is kept in memory and written "
		    "with the next one",
		    why, c->digest, target);
	if (dp->d->ended)
		dp->d->ended(&e, dp->d->userdata);
}

/* Region, target key and skey of t. */
static void keys_of(struct deployer *dp, const struct config_watch *w,
		    const struct config_target *t, char region[64], char tkey[1024],
		    char skey[1200])
{
	place(t, dp->d->region, region, tkey);
	snprintf(skey, 1200, "%s\x1f%s", w->name, tkey);
}

/* Starts the operator's rollout of want to t; kind and the caller go in its record. */
static int start_manual(struct deployer *dp, const struct config_watch *w,
			const struct config_target *t, const struct state_want *want,
			const char *kind, uid_t uid, pid_t pid, char *why, size_t why_len)
{
	struct deployer_deps *d = dp->d;
	char region[64], tkey[1024], skey[1200], manual[64], err[600];
	const char *digest = want->digest;

	keys_of(dp, w, t, region, tkey, skey);
	struct rollout_rec *rec =
	    new_record(w, t, tkey, want, region, state_deployed(d->state, w->name, tkey), false);
	snprintf(manual, sizeof(manual), "%s %ld %ld", kind, (long)uid, (long)pid);
	if (!rec || record_set(&rec->manual, manual) < 0) {
		record_free(rec);
		snprintf(why, why_len, "out of memory while starting a rollout to '%s'", tkey);
		return -ENOMEM;
	}
	struct rollout *ro = rollout_new(dp, rec, false);
	if (!ro) {
		record_free(rec);
		snprintf(why, why_len, "out of memory while starting a rollout to '%s'", tkey);
		return -ENOMEM;
	}
	if (state_rollout_save(d->state, rec, err, sizeof(err)) < 0) {
		rollout_free(ro);
		rollout_state_failed(dp, err);
		snprintf(why, why_len, "%s", err);
		return -EIO;
	}
	deployer_unblock(dp, ro); /* an operator's try is the retry of a block */
	rollout_emit(ro, LOG_NOTICE, EVENT_DEPLOY_STARTED,
		     LOG_FIELDS({ "CALLER_UID", manual + strlen(kind) + 1 }),
		     "deploying %s ('%s%s%s') to service '%s' in cluster '%s' (strategy '%s'), "
		     "as an operator asked (%s, uid %ld, pid %ld)",
		     digest, w->repository, rec->tag ? ":" : "", rec->tag ? rec->tag : "",
		     t->service, t->cluster, config_strategy_name(t->strategy), kind, (long)uid,
		     (long)pid);
	rollout_run(ro);
	return 0;
}

int deployer_deploy(struct deployer *dp, const struct config_watch *w,
		    const struct config_target *t, const struct deployer_manual *m,
		    char ret_digest[80], char *why, size_t why_len)
{
	struct deployer_deps *d = dp->d;
	const struct config *cfg = *d->cfg;
	char region[64], tkey[1024], skey[1200], name[600];
	struct state_want want, mine;
	bool known = state_want(d->state, w->name, &want);
	const char *current = known ? want.digest : NULL;
	const char *digest = m->digest ? m->digest : current;
	const char *image = known ? want.image : NULL;
	struct rollout *busy;
	int rc;

	keys_of(dp, w, t, region, tkey, skey);
	deployer_target_name(w->name, t->service, name, sizeof(name));
	if (cfg->dry_run || d->dry_run) {
		snprintf(why, why_len, "the daemon runs as a dry run: nothing is deployed");
		return -EROFS;
	}
	if (!digest || !image) {
		snprintf(why, why_len,
			 "watch '%s' has not read its repository yet: there is no digest to deploy",
			 w->name);
		return -ENOENT;
	}
	if ((busy = holding(dp, tkey))) {
		snprintf(why, why_len, "a rollout %s service '%s' (%s)",
			 busy->inspect ? "is looking at" : "holds", t->service,
			 busy->inspect ? "first start" : busy->rec->digest);
		return -EBUSY;
	}
	if (dp->deploying >= cfg->max_concurrent_deploys) {
		snprintf(why, why_len, "%d rollouts run already (max_concurrent_deploys)",
			 dp->deploying);
		return -EBUSY;
	}
	if (dp->state_failing) {
		snprintf(why, why_len, "the state cannot be written ('%s'): nothing is started",
			 state_path(d->state));
		return -EIO;
	}
	if (!m->force && (t->paused || overrides_paused(d->state, w->name, NULL) ||
			  overrides_paused(d->state, w->name, tkey))) {
		snprintf(why, why_len, "'%s' is paused (force deploys it anyway)", name);
		return -EPERM;
	}
	struct state_pin pin;
	if (state_pin(d->state, w->name, tkey, &pin)) {
		/* The reconcile would put the pin back at once: an unpin comes first. */
		snprintf(why, why_len, "'%s' is pinned to %s by an operator (unpin it first)", name,
			 pin.digest);
		return -EPERM;
	}
	if (!m->force && state_failed_has(d->state, w->name, tkey, digest)) {
		snprintf(why, why_len, "%s failed on '%s' before (force deploys it again)", digest,
			 name);
		return -ECANCELED;
	}
	const char *deployed = state_deployed(d->state, w->name, tkey);
	if (!m->force && deployed && !strcmp(deployed, digest)) {
		snprintf(why, why_len, "'%s' runs %s already (force deploys it again)", name,
			 digest);
		return -EALREADY;
	}
	/* The record is made from the watch's want, with the operator's digest in it (the tag
	 * then unknown: it names the watch's digest, not this one). */
	mine = want;
	if (strcmp(current, digest)) {
		snprintf(mine.digest, sizeof(mine.digest), "%s", digest);
		mine.tag = NULL;
	}
	if (strcmp(current, digest) && state_set_held(d->state, w->name, tkey, current) < 0) {
		snprintf(why, why_len, "out of memory while starting a rollout to '%s'", name);
		return -ENOMEM;
	}
	rc = start_manual(dp, w, t, &mine, "deploy", m->uid, m->pid, why, why_len);
	if (rc == 0) {
		rollout_save_state(dp); /* the hold, before the rollout changes anything */
		snprintf(ret_digest, 80, "%s", digest);
	}
	return rc;
}

struct failed_skip {
	struct state *st;
	const char *watch, *tkey;
};

static bool failed_there(const char *digest, void *ud)
{
	const struct failed_skip *f = ud;

	return state_failed_has(f->st, f->watch, f->tkey, digest);
}

int deployer_rollback(struct deployer *dp, const struct config_watch *w,
		      const struct config_target *t, uid_t uid, pid_t pid, char from[80],
		      char to[80], char *why, size_t why_len)
{
	struct deployer_deps *d = dp->d;
	char region[64], tkey[1024], skey[1200], name[600];
	struct state_want want;
	bool known = state_want(d->state, w->name, &want);
	struct rollout *r;
	int rc;

	keys_of(dp, w, t, region, tkey, skey);
	deployer_target_name(w->name, t->service, name, sizeof(name));
	if ((*d->cfg)->dry_run || d->dry_run) {
		snprintf(why, why_len, "the daemon runs as a dry run: nothing is rolled back");
		return -EROFS;
	}
	r = holding(dp, tkey);
	if (r && r->inspect) {
		snprintf(why, why_len,
			 "'%s' is being looked at (first start); try again in a moment", name);
		return -EBUSY;
	}
	if (r) {
		char reason[128];
		snprintf(from, 80, "%s", r->rec->digest);
		snprintf(to, 80, "%s",
			 r->rec->previous_digest && *r->rec->previous_digest
			     ? r->rec->previous_digest
			     : "");
		snprintf(reason, sizeof(reason), "rolled back by an operator (uid %ld, pid %ld)",
			 (long)uid, (long)pid);
		rc = rollout_operator_rollback(r, reason);
		if (rc == -EALREADY)
			snprintf(why, why_len, "the rollout of %s to '%s' is rolling back already",
				 from, name);
		else if (rc < 0)
			snprintf(why, why_len,
				 "the rollout of %s to '%s' is at step '%s', which a rollback "
				 "cannot interrupt; try again when it tracks",
				 from, name, record_step_name(r->rec->step));
		return rc;
	}
	const char *current = state_deployed(d->state, w->name, tkey);
	if (!current || !*current) {
		snprintf(why, why_len, "what '%s' runs is not known: nothing to roll back", name);
		return -ENOENT;
	}
	struct failed_skip skip = { d->state, w->name, tkey };
	const char *earlier =
	    d->history ? history_previous(d->history, name, current, failed_there, &skip) : NULL;
	const char *previous = known && *want.previous ? want.previous : NULL;
	if (!earlier && previous && strcmp(previous, current) && !failed_there(previous, &skip))
		earlier = previous;
	if (!earlier) {
		snprintf(why, why_len,
			 "no digest completed on '%s' before %s: nothing to roll "
			 "back to",
			 name, current);
		return -ENOENT;
	}
	snprintf(from, 80, "%s", current);
	snprintf(to, 80, "%s", earlier); /* copied: history_add() may drop what it points to */
	const char *watched = known ? want.digest : NULL;
	if (!known) {
		snprintf(why, why_len, "the watch has no image yet while rolling '%s' back", name);
		return -ENOENT;
	}
	struct state_want mine = { .tag = NULL, .image = want.image };
	snprintf(mine.digest, sizeof(mine.digest), "%s", to);
	snprintf(mine.previous, sizeof(mine.previous), "%s", from);
	if (state_add_failed(d->state, w->name, tkey, from, "rolled back by an operator",
			     (double)time(NULL)) < 0 ||
	    (watched && strcmp(watched, to) &&
	     state_set_held(d->state, w->name, tkey, watched) < 0)) {
		snprintf(why, why_len, "out of memory while rolling '%s' back", name);
		return -ENOMEM;
	}
	if (!rollout_save_state(dp)) {
		snprintf(why, why_len, "the state cannot be written ('%s')", state_path(d->state));
		return -EIO;
	}
	log_at(LOG_NOTICE, EVENT_DEPLOY_FAILED,
	       LOG_FIELDS({ "WATCH", w->name }, { "IMAGE_DIGEST", from },
			  { "ECS_SERVICE", t->service },
			  { "REASON", "rolled back by an operator" }),
	       "'%s': %s is rolled back by an operator (uid %ld, pid %ld) to %s; it is not "
	       "deployed there again",
	       name, from, (long)uid, (long)pid, to);
	rc = start_manual(dp, w, t, &mine, "rollback", uid, pid, why, why_len);
	return rc;
}

int deployer_continue(struct deployer *dp, const struct config_watch *w,
		      const struct config_target *t, bool rollback, deployer_continued_fn done,
		      void *ud, char *why, size_t why_len)
{
	char region[64], tkey[1024], skey[1200], name[600];
	struct rollout *r;

	keys_of(dp, w, t, region, tkey, skey);
	deployer_target_name(w->name, t->service, name, sizeof(name));
	if ((*dp->d->cfg)->dry_run || dp->d->dry_run) {
		snprintf(why, why_len, "the daemon runs as a dry run: nothing is approved");
		return -EROFS;
	}
	r = holding(dp, tkey);
	if (!r || r->inspect) {
		snprintf(why, why_len,
			 "nothing awaits approval on '%s': no rollout is in flight there", name);
		return -ENOENT;
	}
	if (record_is_codedeploy(r->rec))
		return cd_continue(r, rollback, done, ud, why, why_len);
	return sd_continue(r, rollback, done, ud, why, why_len);
}

/* ---- the operator's overrides and status (the control socket) ----------- */

/* A pause whose time has come: said, and its targets reconciled. */
static void pause_expired(const char *watch, const char *tkey, void *ud)
{
	struct deployer *dp = ud;
	const char *svc = tkey ? strrchr(tkey, '/') : NULL;

	svc = svc ? svc + 1 : tkey;
	if (!watch) {
		log_at(LOG_NOTICE, EVENT_PAUSE_EXPIRED, LOG_FIELDS({ "WATCH", "*" }),
		       "the pause of every watch expired; deploys go on");
		dp->all = true;
		kick(dp);
		return;
	}
	log_at(LOG_NOTICE, EVENT_PAUSE_EXPIRED,
	       LOG_FIELDS({ "WATCH", watch }, { "ECS_SERVICE", svc }),
	       tkey ? "the pause of service '%s' of watch '%s' expired; deploys go on"
		    : "%sthe pause of watch '%s' expired; deploys go on",
	       tkey ? svc : "", watch);
	deployer_reconcile_watch(dp, watch);
}

void deployer_pauses_changed(struct deployer *dp)
{
	double now = rollout_wall_now();
	double next = state_expire_pauses(dp->d->state, now, pause_expired, dp);

	if (state_dirty(dp->d->state))
		rollout_save_state(dp); /* else written with the next change */
	ev_timer_stop(dp->d->loop, &dp->pauses);
	if (!next)
		return;
	/* Wall time: looked at again at least hourly, should the clock be set. */
	double in = next - now + 0.01;
	ev_timer_set(&dp->pauses, in > 3600 ? 3600 : in < 0.01 ? 0.01 : in, 0.0);
	ev_timer_start(dp->d->loop, &dp->pauses);
}

static void on_pauses(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	deployer_pauses_changed(t->data);
}

void deployer_target_key(const struct deployer *dp, const struct config_target *t, char *buf,
			 size_t n)
{
	char region[64], key[1024];

	place(t, dp->d->region, region, key);
	snprintf(buf, n, "%s", key);
}

int deployer_in_flight(const struct deployer *dp)
{
	int n = 0;

	for (const struct rollout *r = dp->rollouts; r; r = r->next)
		n += !r->inspect;
	return n;
}

void deployer_target_status(const struct deployer *dp, const char *watch, const char *tkey,
			    struct deployer_target_status *ret)
{
	const struct rollout *r = holding(dp, tkey);
	char skey[1200];
	const struct blocked *b;

	memset(ret, 0, sizeof(*ret));
	snprintf(skey, sizeof(skey), "%s\x1f%s", watch, tkey);
	b = strmap_get(dp->blocked, skey);
	if (b && ev_now(dp->d->loop) < b->until) {
		ret->blocked = true;
		snprintf(ret->error, sizeof(ret->error), "%s", b->error);
		ret->retry_at = rollout_wall_now() + (b->until - ev_now(dp->d->loop));
	}
	if (!r || strcmp(r->rec->watch, watch))
		return;
	const struct rollout_rec *c = r->rec;
	ret->rollout = true;
	ret->inspecting = r->inspect;
	ret->digest = c->digest;
	ret->step = record_step_name(c->step);
	ret->started = c->started_at;
	ret->rolling_back = rollout_steps[c->step].rolling_back;
	ret->tracking = rollout_steps[c->step].batched || c->step == STEP_APPROVING ||
			c->step == STEP_CONFIRM_LIST || c->step == STEP_CONFIRM_TASKS ||
			c->step == STEP_CD_APPROVING || c->step == STEP_CD_DIAG_LIST ||
			c->step == STEP_CD_DIAG;
	ret->kind = ret->rolling_back ? "rollback" : c->manual ? "manual" : "deploy";
	if (r->awaiting) {
		ret->awaiting = true;
		ret->hook = c->hook_id ? c->hook_id : "";
		ret->hook_expires = c->hook_expires_at;
	}
	if (r->inspect)
		snprintf(ret->detail, sizeof(ret->detail), "looking at what it runs");
	else if (r->awaiting)
		snprintf(ret->detail, sizeof(ret->detail), "awaiting approval at %s",
			 *r->stage ? r->stage : "a hook");
	else if (*r->stage && r->weight >= 0)
		snprintf(ret->detail, sizeof(ret->detail), "stage %s, %.0f%% traffic", r->stage,
			 r->weight);
	else if (*r->stage)
		snprintf(ret->detail, sizeof(ret->detail), "stage %s, %d/%d tasks", r->stage,
			 r->running, r->desired);
	else if (ret->tracking)
		snprintf(ret->detail, sizeof(ret->detail), "%d/%d tasks", r->running, r->desired);
	else
		snprintf(ret->detail, sizeof(ret->detail), "step %s", ret->step);
}

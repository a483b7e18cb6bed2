/* SPDX-License-Identifier: MIT */
/* Rollouts as resumable step machines over ECS; see deployer.h. */
#include "deployer.h"

#include <cJSON.h>
#include <errno.h>
#include <ev.h>
#include <stdarg.h>
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
#include "log.h"
#include "state.h"
#include "strbuf.h"
#include "strmap.h"
#include "taskdef.h"

#define BATCH_MAX     10 /* services per DescribeServices */
#define TRACK_FIRST_S 1.0
#define TRACK_MAX_S   10.0
#define RETRY_FIRST_S 2.0
#define RETRY_MAX_S   60.0
#define RESTARTS_MAX  3  /* re-reads after the service changed under us */
#define FAILED_KEPT   20 /* failed digests remembered per target */
#define EVENTS_KEPT   3  /* ECS event messages quoted in DEPLOY_FAILED */
#define TICK_S        0.25
#define INSPECT_MAX   16 /* first-start inspections at once (they are only reads) */
#define UPDATE_ATTEMPT_MS \
	10000 /* attempt timeout of RegisterTaskDefinition and UpdateService (never retried) */
#define UPDATE_WINDOW_S     (UPDATE_ATTEMPT_MS / 1000.0 + 5.0) /* it may be carried out until then */
#define STATE_RETRY_FIRST_S 1.0 /* a state that cannot be written is tried again after this, */
				/* doubling up to the poll interval */

struct batch;

struct rollout {
	struct deployer *dp;
	struct rollout *next;
	char *watch, *tkey;
	cJSON *rec; /* the "rollout" object of the target's state record; owned when inspect */
	bool inspect;
	struct cred_provider *creds; /* NULL: the daemon's */
	struct aws_call *call;
	struct batch *batch;
	int batch_slot;
	cJSON *described; /* DescribeTaskDefinition reply, for the registration */
	bool waiting;     /* run_step() again at next_at */
	double next_at;   /* ev_now() time of the next tracking poll or retry */
	double interval;  /* tracking interval now */
	int attempts;     /* transient failures in a row */
	int restarts;
	double events_after; /* ECS events newer than this (AWS epoch seconds) are reported */
	char events[EVENTS_KEPT][256];
	int n_events;
	int running, desired; /* tasks of the deployment tracked, at the last look */
	bool update_waited;   /* the wait for an UpdateService sent before a stop was said */
};

struct batch {
	struct deployer *dp;
	struct rollout *r[BATCH_MAX];
	int n;
	char *cluster, *region;
	struct cred_provider *creds;
	struct aws_call *call;
	struct batch *next;
};

struct deployer {
	struct deployer_deps d_; /* what it uses, from daemon.c */
	struct deployer_deps *d;
	struct rollout *rollouts;
	struct batch *batches; /* in flight */
	int deploying;         /* rollouts that are deploys (not inspections) */
	int inspecting;
	int failures;
	struct strmap *creds; /* role ARN -> struct cred_provider */
	struct strmap *said;  /* watch\x1ftarget -> "reason digest" last reported */
	struct ev_timer tick, kick;
	bool kick_pending;
	int reset_unseen;   /* targets not looked at since a state reset (last full pass) */
	bool state_failing; /* the state cannot be written: no new rollout until state_retry */
	double state_delay; /* the backoff of state_retry now */
	struct ev_timer state_retry;
	bool all;             /* the next reconcile looks at every watch */
	struct strmap *dirty; /* else at these (watch name -> 1), */
	char **dirty_names;   /* kept in a list too, so that a reconcile costs what changed */
	size_t n_dirty, cap_dirty;
	struct config *indexed; /* the config index was built for (a reference: never reused) */
	struct strmap *index;   /* watch name -> its position in indexed, plus one */
};

static void run_step(struct rollout *r);
static void kick(struct deployer *dp);

/* ---- the record ---------------------------------------------------------- */

static const char *S(const struct rollout *r, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(r->rec, key));
}

static double N(const struct rollout *r, const char *key)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItem(r->rec, key));
}

static void set_s(cJSON *o, const char *key, const char *value)
{
	cJSON *v = cJSON_CreateString(value ? value : "");

	if (!v)
		return;
	if (cJSON_GetObjectItem(o, key))
		cJSON_ReplaceItemInObject(o, key, v);
	else
		cJSON_AddItemToObject(o, key, v);
}

static void set_n(cJSON *o, const char *key, double value)
{
	cJSON *v = cJSON_CreateNumber(value);

	if (!v)
		return;
	if (cJSON_GetObjectItem(o, key))
		cJSON_ReplaceItemInObject(o, key, v);
	else
		cJSON_AddItemToObject(o, key, v);
}

static bool is_revision(const struct rollout *r)
{
	const char *s = S(r, "strategy");

	return !s || !strcmp(s, "revision");
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static cJSON *target_rec(struct rollout *r)
{
	return state_target(r->dp->d->state, r->watch, r->tkey, true);
}

/* The backoff of a state that cannot be written: 1 s, doubling at every failed retry, up to the
 * poll interval. A pure function, for the step machine to come (issue 12). */
static double state_backoff(double delay, bool retried, double max)
{
	double next = delay <= 0 ? STATE_RETRY_FIRST_S : retried ? delay * 2 : delay;

	if (max < STATE_RETRY_FIRST_S)
		max = STATE_RETRY_FIRST_S;
	return next > max ? max : next;
}

/*
 * The state cannot be written (why says where and why). Said once, when it starts; then no new
 * rollout starts and every step that waits for a write is tried again after state_delay, which
 * doubles at each retry that fails, up to the poll interval: an unwritable disk costs a few
 * wake-ups, never a busy loop or a flood of log lines.
 */
static void state_failed(struct deployer *dp, const char *why)
{
	double max = (double)(*dp->d->cfg)->poll_interval_ms / 1000.0;
	bool retried = dp->state_failing && !ev_is_active(&dp->state_retry);

	if (dp->state_failing && ev_is_active(&dp->state_retry))
		return; /* a retry is set already */
	dp->state_delay = state_backoff(dp->state_failing ? dp->state_delay : 0, retried, max);
	if (!dp->state_failing)
		log_at(LOG_ERR, EVENT_STATE_WRITE_FAILED,
		       LOG_FIELDS({ "STATE_FILE", state_path(dp->d->state) }),
		       "%s; deploys wait until the state can be written: trying again in %.0fs, "
		       "then less often, up to every %.0fs",
		       why, dp->state_delay, max > STATE_RETRY_FIRST_S ? max : STATE_RETRY_FIRST_S);
	dp->state_failing = true;
	ev_timer_stop(dp->d->loop, &dp->state_retry);
	ev_timer_set(&dp->state_retry, dp->state_delay, 0.0);
	ev_timer_start(dp->d->loop, &dp->state_retry);
}

/* A write of the state reached the disk: said once, if it had failed. */
static void state_written(struct deployer *dp)
{
	if (!dp->state_failing)
		return;
	dp->state_failing = false;
	dp->state_delay = 0;
	ev_timer_stop(dp->d->loop, &dp->state_retry);
	log_at(LOG_NOTICE, EVENT_STATE_WRITTEN,
	       LOG_FIELDS({ "STATE_FILE", state_path(dp->d->state) }),
	       "the state can be written again; deploys go on");
}

/* Whether new rollouts wait for the state (a retry is set). */
static bool state_blocked(const struct deployer *dp)
{
	return dp->state_failing && ev_is_active(&dp->state_retry);
}

static void on_state_retry(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct deployer *dp = t->data;

	(void)loop;
	(void)revents;
	dp->all = true;
	kick(dp);
}

static bool save(struct deployer *dp)
{
	char why[600];
	bool dirty = state_dirty(dp->d->state);

	if (state_save(dp->d->state, why, sizeof(why)) == 0) {
		if (dirty)
			state_written(dp);
		return true;
	}
	state_failed(dp, why);
	return false;
}

/*
 * Writes the step; false when it could not reach the disk: the step is then not taken, and the
 * rollout runs it again when the state's retry is due (see state_failed()).
 */
static bool persist(struct rollout *r, const char *step)
{
	char why[600];
	struct deployer *dp = r->dp;

	set_s(r->rec, "step", step);
	if (r->inspect)
		return true;
	if (state_rollout_save(dp->d->state, r->watch, r->tkey, why, sizeof(why)) == 0) {
		state_written(dp);
		return true;
	}
	state_failed(dp, why);
	r->waiting = true;
	r->next_at = ev_now(dp->d->loop) + dp->state_delay;
	return false;
}

/* ---- events -------------------------------------------------------------- */

static void emit(struct rollout *r, int prio, const char *id, const struct log_field *extra,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void emit(struct rollout *r, int prio, const char *id, const struct log_field *extra,
		 const char *fmt, ...)
{
	struct log_field f[32];
	size_t n = 0;
	char msg[2048], ms[32], containers[512] = "";
	const cJSON *c;
	va_list ap;

	if (prio > log_max_priority)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(r->rec, "containers"))
	{
		size_t len = strlen(containers);
		if (cJSON_IsString(c))
			snprintf(containers + len, sizeof(containers) - len, "%s%s", len ? "," : "",
				 c->valuestring);
	}
	snprintf(ms, sizeof(ms), "%.0f", (wall_now() - N(r, "started_at")) * 1000.0);
#define F(k, v) f[n++] = (struct log_field){ (k), (v) }
	F("WATCH", r->watch);
	F("ECR_REPOSITORY", S(r, "repository"));
	F("IMAGE_TAG", S(r, "tag"));
	F("IMAGE_DIGEST", S(r, "digest"));
	F("PREVIOUS_DIGEST",
	  S(r, "previous_digest") && *S(r, "previous_digest") ? S(r, "previous_digest") : NULL);
	F("ECS_CLUSTER", S(r, "cluster"));
	F("ECS_SERVICE", S(r, "service"));
	F("ECS_CONTAINER", *containers ? containers : NULL);
	F("TASK_DEFINITION", S(r, "new_td"));
	F("PREVIOUS_TASK_DEFINITION", S(r, "base_td"));
	F("DEPLOYMENT_ID", S(r, "deployment_id"));
	F("STRATEGY", S(r, "strategy"));
	if (!r->inspect && N(r, "started_at") > 0)
		F("DURATION_MS", ms);
	for (const struct log_field *e = extra; e && e->key && n < 31; e++)
		f[n++] = *e;
	F(NULL, NULL);
#undef F
	log_event(prio, id, f, "%s", msg);
}

/* What AWS said, as API_ERROR. */
static void api_error(struct rollout *r, const struct aws_result *res, const char *then)
{
	emit(r, LOG_WARNING, EVENT_API_ERROR,
	     LOG_FIELDS({ "AWS_OPERATION", res->operation }, { "AWS_ERROR_CODE", res->err.code },
			{ "AWS_REQUEST_ID", *res->err.request_id ? res->err.request_id : NULL }),
	     "service '%s': %s failed: %s: %s; %s", S(r, "service"), res->operation, res->err.code,
	     res->err.message, then);
}

static bool transient(const struct aws_result *res)
{
	const char *c = res->err.code;

	return res->err.http_status == 0 || res->err.http_status >= 500 || aws_is_throttle(c) ||
	       !strcmp(c, "RequestTimeout") || !strcmp(c, "ConnectionError") ||
	       !strcmp(c, "MalformedResponse") || !strcmp(c, "CredentialsError") ||
	       !strcmp(c, "ServerException");
}

/* ---- life of a rollout --------------------------------------------------- */

static void rollout_free(struct rollout *r)
{
	struct deployer *dp = r->dp;

	for (struct rollout **p = &dp->rollouts; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	if (r->call)
		aws_call_cancel(r->call);
	if (r->batch)
		r->batch->r[r->batch_slot] = NULL;
	if (!r->inspect) {
		dp->deploying--;
	} else {
		dp->inspecting--;
		cJSON_Delete(r->rec);
	}
	cJSON_Delete(r->described);
	free(r->watch);
	free(r->tkey);
	free(r);
}

/* The rollout is over: its record leaves the state, the service is free. */
static void finish(struct rollout *r)
{
	struct deployer *dp = r->dp;

	if (!r->inspect) {
		char why[600];
		/* The outcome first, then the rollout goes: a crash in between resumes the rollout,
		 * which ends the same way again. */
		save(dp);
		if (state_rollout_remove(dp->d->state, r->watch, r->tkey, why, sizeof(why)) < 0) {
			if (!dp->state_failing)
				log_at(LOG_ERR, NULL,
				       LOG_FIELDS({ "STATE_FILE", state_path(dp->d->state) }),
				       "%s; the next start resumes this rollout and finds it ended",
				       why);
			state_failed(dp, why);
		}
		r->rec = NULL;
	}
	rollout_free(r);
	dp->all = true; /* the service and a rollout slot are free */
	kick(dp);
}

/* Retries the step later, with backoff. */
static void retry_later(struct rollout *r)
{
	double delay = RETRY_FIRST_S;

	for (int i = 0; i < r->attempts && delay < RETRY_MAX_S; i++)
		delay *= 2;
	if (delay > RETRY_MAX_S)
		delay = RETRY_MAX_S;
	r->attempts++;
	r->waiting = true;
	r->next_at = ev_now(r->dp->d->loop) + delay;
}

static struct rollout *rollout_new(struct deployer *dp, const char *watch, const char *tkey,
				   cJSON *rec, bool inspect)
{
	struct rollout *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->dp = dp;
	r->watch = strdup(watch);
	r->tkey = strdup(tkey);
	r->rec = rec;
	r->inspect = inspect;
	r->interval = TRACK_FIRST_S;
	if (!r->watch || !r->tkey) {
		free(r->watch);
		free(r->tkey);
		free(r);
		return NULL;
	}
	if (S(r, "role_arn") && *S(r, "role_arn")) {
		r->creds = strmap_get(dp->creds, S(r, "role_arn"));
		if (!r->creds) {
			struct deployer_deps *d = dp->d;
			struct cred_options co = { d->loop,   d->http,
						   d->signer, (*d->cfg)->profile,
						   d->region, (*d->cfg)->endpoints[AWS_SERVICE_STS],
						   0 };
			r->creds =
			    cred_assume_role_new(d->creds, S(r, "role_arn"), "ecr-deployd", &co);
			if (r->creds &&
			    strmap_put(dp->creds, S(r, "role_arn"), r->creds, NULL) < 0) {
				cred_provider_free(r->creds);
				r->creds = NULL;
			}
		}
	}
	r->events_after = wall_now() + (double)aws_clock_skew(dp->d->aws) - 1.0;
	if (N(r, "started_at") > 0 && N(r, "started_at") - 1.0 < r->events_after)
		r->events_after = N(r, "started_at") + (double)aws_clock_skew(dp->d->aws) - 1.0;
	r->next = dp->rollouts;
	dp->rollouts = r;
	if (!ev_is_active(&dp->tick)) /* it runs only while there are rollouts */
		ev_timer_start(dp->d->loop, &dp->tick);
	if (!inspect)
		dp->deploying++;
	else
		dp->inspecting++;
	return r;
}

/* ---- AWS calls ----------------------------------------------------------- */

/* Calls operation with params (taken; NULL, as when a build ran out of memory: the step is
 * tried again later, never sent without them). */
static int call(struct rollout *r, const char *operation, cJSON *params, aws_done_fn done)
{
	struct aws_call_spec spec = { .service = &aws_ecs,
				      .operation = operation,
				      .params = params,
				      .creds = r->creds,
				      .region = S(r, "region"),
				      /* a lost reply is resolved by reading AWS again (run_step) */
				      .timeout_ms =
					  !strcmp(operation, "UpdateService") ||
						  !strcmp(operation, "RegisterTaskDefinition")
					      ? UPDATE_ATTEMPT_MS
					      : 0,
				      .not_idempotent =
					  !strcmp(operation, "RegisterTaskDefinition") ||
					  !strcmp(operation, "UpdateService") };
	int rc = params ? aws_call(r->dp->d->aws, &spec, done, r, &r->call) : -ENOMEM;

	cJSON_Delete(params);
	if (rc < 0) {
		emit(r, LOG_ERR, EVENT_API_ERROR, LOG_FIELDS({ "AWS_OPERATION", operation }),
		     "service '%s': cannot call %s: %s; trying again later", S(r, "service"),
		     operation, rc == -ENOMEM ? "out of memory" : "no ECS endpoint for the region");
		r->call = NULL;
		retry_later(r);
	}
	return rc;
}

static cJSON *service_params(const struct rollout *r)
{
	cJSON *p = cJSON_CreateObject(), *a = p ? cJSON_AddArrayToObject(p, "services") : NULL;

	if (!a) {
		cJSON_Delete(p);
		return NULL;
	}
	cJSON_AddStringToObject(p, "cluster", S(r, "cluster"));
	cJSON_AddItemToArray(a, cJSON_CreateString(S(r, "service")));
	return p;
}

/* DescribeTaskDefinition of td (a family, or family:revision), with its tags when asked. */
static cJSON *td_params(const char *td, bool tags)
{
	cJSON *p = cJSON_CreateObject();

	if (p &&
	    (!cJSON_AddStringToObject(p, "taskDefinition", td) ||
	     (tags && !cJSON_AddItemToObject(
			  p, "include", cJSON_CreateStringArray((const char *[]){ "TAGS" }, 1))))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

/* ListTasks of the service's running tasks (the first 100 are enough to judge). */
static cJSON *list_tasks_params(const struct rollout *r)
{
	cJSON *p = cJSON_CreateObject();

	if (p && (!cJSON_AddStringToObject(p, "cluster", S(r, "cluster")) ||
		  !cJSON_AddStringToObject(p, "serviceName", S(r, "service")) ||
		  !cJSON_AddStringToObject(p, "desiredStatus", "RUNNING") ||
		  !cJSON_AddNumberToObject(p, "maxResults", 100))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

/* DescribeTasks of the tasks a ListTasks reply named (at most 100, the call's limit). */
static cJSON *describe_tasks_params(const struct rollout *r, const cJSON *list_reply)
{
	cJSON *p = cJSON_CreateObject(), *a = p ? cJSON_AddArrayToObject(p, "tasks") : NULL;
	const cJSON *x;
	int n = 0;

	if (!a || !cJSON_AddStringToObject(p, "cluster", S(r, "cluster"))) {
		cJSON_Delete(p);
		return NULL;
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(list_reply, "taskArns"))
	{
		if (n++ < 100)
			cJSON_AddItemToArray(a, cJSON_Duplicate(x, 0));
	}
	return p;
}

/* The RegisterTaskDefinition of described with the target's containers pinned to digest; see
 * taskdef_pin() for the returns. *image gets the pinned reference. */
static int pin_params(const struct rollout *r, const cJSON *described, const char *digest,
		      const char *tag, char *image, size_t image_len, cJSON **ret, char *why,
		      size_t why_len)
{
	const char *names[64];
	const cJSON *c;
	size_t n = 0;

	cJSON_ArrayForEach(c, cJSON_GetObjectItem(r->rec, "containers"))
	{
		if (n < 64 && cJSON_IsString(c))
			names[n++] = c->valuestring;
	}
	snprintf(image, image_len, "%s@%s", S(r, "image"), digest);
	return taskdef_pin(described, names, n, image, digest, tag, ret, why, why_len);
}

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

/* Common handling of a failed call: transient ones retry the step; others return false. */
static bool call_failed(struct rollout *r, struct aws_result *res)
{
	r->call = NULL;
	if (res->ok) {
		r->attempts = 0;
		return false;
	}
	if (transient(res)) {
		char then[64];
		retry_later(r);
		snprintf(then, sizeof(then), "trying again in %.0fs",
			 r->next_at - ev_now(r->dp->d->loop));
		api_error(r, res, then);
		return true;
	}
	return false;
}

/* ---- failure and success ------------------------------------------------- */

static void add_failed(struct rollout *r, const char *reason)
{
	cJSON *t = target_rec(r), *list = cJSON_GetObjectItem(t, "failed"), *e;

	if (!t)
		return;
	if (!list)
		list = cJSON_AddArrayToObject(t, "failed");
	e = cJSON_CreateObject();
	if (!list || !e) {
		cJSON_Delete(e);
		return;
	}
	cJSON_AddStringToObject(e, "digest", S(r, "digest"));
	cJSON_AddNumberToObject(e, "at", (double)time(NULL));
	cJSON_AddStringToObject(e, "reason", reason);
	cJSON_AddItemToArray(list, e);
	while (cJSON_GetArraySize(list) > FAILED_KEPT)
		cJSON_DeleteItemFromArray(list, 0);
	state_touch(r->dp->d->state);
}

static void set_target(struct rollout *r, const char *key, const char *value)
{
	cJSON *t = target_rec(r);

	if (t) {
		set_s(t, key, value);
		state_touch(r->dp->d->state);
	}
}

static const char *quoted_events(struct rollout *r, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < r->n_events && len < n; i++)
		len += (size_t)snprintf(buf + len, n - len, "%s'%s'", i ? "; " : "", r->events[i]);
	return buf;
}

static void start_rollback(struct rollout *r);
static const char *rollback_td(const struct rollout *r);
static void ecs_rollback_follow(struct rollout *r);

/*
 * Our deployment failed (reason says how). The digest is never deployed to this target again;
 * with rollback auto the previous task definition goes back.
 */
static void deploy_failed(struct rollout *r, const char *reason, bool mark)
{
	char ev[900];
	bool rollback = cJSON_IsTrue(cJSON_GetObjectItem(r->rec, "rollback"));

	r->dp->failures++;
	if (mark)
		add_failed(r, reason);
	set_target(r, "deployed", "");
	save(r->dp); /* the failed digest is remembered before the rollback starts */
	quoted_events(r, ev, sizeof(ev));
	emit(r, LOG_ERR, EVENT_DEPLOY_FAILED, LOG_FIELDS({ "REASON", reason }),
	     "deploy of %s to service '%s' failed: %s%s%s%s", S(r, "digest"), S(r, "service"),
	     reason, *ev ? "; ECS said: " : "", ev,
	     mark ? "; this digest is not deployed to this service again" : "");
	if (!strcmp(S(r, "rollback_by") ?: "", "ecs")) {
		ecs_rollback_follow(r);
		return;
	}
	if (rollback && is_revision(r) && S(r, "deployment_id")) {
		start_rollback(r);
		return;
	}
	if (rollback && S(r, "deployment_id"))
		emit(r, LOG_WARNING, NULL, NULL,
		     "service '%s': strategy 'force' reuses the task definition, so there is "
		     "nothing to roll back to; ECS's deployment circuit breaker (with rollback) is "
		     "the rollback for it",
		     S(r, "service"));
	finish(r);
}

/* Failed before anything changed in ECS. */
static void failed_before_change(struct rollout *r, const struct aws_result *res, const char *what)
{
	char reason[900];

	if (res)
		snprintf(reason, sizeof(reason), "%s refused: %s: %s", res->operation,
			 res->err.code, res->err.message);
	else
		snprintf(reason, sizeof(reason), "%s", what ? what : "failed");
	if (res)
		emit(r, LOG_ERR, EVENT_API_ERROR,
		     LOG_FIELDS(
			 { "AWS_OPERATION", res->operation }, { "AWS_ERROR_CODE", res->err.code },
			 { "AWS_REQUEST_ID", *res->err.request_id ? res->err.request_id : NULL }),
		     "service '%s': %s", S(r, "service"), reason);
	if (r->inspect) {
		set_target(r, "held", S(r, "digest"));
		emit(r, LOG_WARNING, EVENT_SKIPPED, LOG_FIELDS({ "REASON", "inspect-failed" }),
		     "service '%s': cannot learn what it runs (%s); %s is not deployed until a "
		     "newer push",
		     S(r, "service"), reason, S(r, "digest"));
		finish(r);
		return;
	}
	r->dp->failures++;
	add_failed(r, reason);
	emit(r, LOG_ERR, EVENT_DEPLOY_FAILED, LOG_FIELDS({ "REASON", reason }),
	     "deploy of %s to service '%s' failed before anything changed: %s; this digest is "
	     "not deployed to this service again",
	     S(r, "digest"), S(r, "service"), reason);
	finish(r);
}

/* Before ECS changed: true when res can be used; else the call is retried later or the rollout
 * ended on its error. */
static bool answered_before_change(struct rollout *r, struct aws_result *res)
{
	if (call_failed(r, res))
		return false;
	if (!res->ok) {
		failed_before_change(r, res, NULL);
		return false;
	}
	return true;
}

static void deploy_completed(struct rollout *r)
{
	set_target(r, "deployed", S(r, "digest"));
	emit(r, LOG_NOTICE, EVENT_DEPLOY_COMPLETED, NULL,
	     "deployed %s to service '%s' in cluster '%s'%s%s", S(r, "digest"), S(r, "service"),
	     S(r, "cluster"), S(r, "new_td") ? " as " : "", S(r, "new_td") ? S(r, "new_td") : "");
	finish(r);
}

/* ---- tracking ------------------------------------------------------------ */

static void report_events(struct rollout *r, const cJSON *svc)
{
	const cJSON *events = cJSON_GetObjectItem(svc, "events");
	double newest = r->events_after;

	/* Newest first: report them oldest first. */
	for (int i = cJSON_GetArraySize(events) - 1; i >= 0; i--) {
		const cJSON *e = cJSON_GetArrayItem(events, i);
		double at = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "createdAt"));
		const char *m = str_of(e, "message");
		if (!m || !(at > r->events_after))
			continue;
		if (at > newest)
			newest = at;
		emit(r, LOG_INFO, NULL, LOG_FIELDS({ "ECS_EVENT", m }), "service '%s': ECS: %s",
		     S(r, "service"), m);
		if (strstr(m, "has started") || strstr(m, "has stopped") ||
		    strstr(m, "steady state"))
			continue;
		if (r->n_events == EVENTS_KEPT) {
			memmove(r->events[0], r->events[1],
				sizeof(r->events[0]) * (EVENTS_KEPT - 1));
			r->n_events--;
		}
		snprintf(r->events[r->n_events++], sizeof(r->events[0]), "%s", m);
	}
	r->events_after = newest;
}

static void confirm_force(struct rollout *r);

static void rollback_done(struct rollout *r, bool ok, const char *why)
{
	if (ok) {
		set_target(r, "deployed", S(r, "previous_digest"));
		emit(r, LOG_NOTICE, EVENT_ROLLBACK_COMPLETED, NULL, "service '%s' is back on %s%s",
		     S(r, "service"), rollback_td(r),
		     !strcmp(S(r, "rollback_by") ?: "", "ecs") ? " (rolled back by ECS)" : "");
	} else {
		set_target(r, "deployed", "");
		emit(r, LOG_ERR, EVENT_ROLLBACK_FAILED, LOG_FIELDS({ "REASON", why }),
		     "rollback of service '%s' to %s failed: %s; the service needs a human",
		     S(r, "service"), rollback_td(r), why);
	}
	finish(r);
}

static void evaluate(struct rollout *r, const cJSON *svc)
{
	const char *step = S(r, "step");
	const cJSON *primary = ecs_primary(svc);
	double now = wall_now();

	report_events(r, svc);
	{
		const cJSON *dep =
		    ecs_find_deployment(svc, "id",
					!strcmp(step, "tracking") ? S(r, "deployment_id")
								  : S(r, "rollback_deployment_id"));
		r->running = ecs_count(dep, "runningCount");
		r->desired = ecs_count(dep, "desiredCount");
	}
	if (!strcmp(step, "tracking")) {
		const cJSON *ours = ecs_find_deployment(svc, "id", S(r, "deployment_id"));
		const char *state = str_of(ours, "rolloutState");
		bool ecs_rollback =
		    primary && primary != ours && is_revision(r) &&
		    !strcmp(str_of(primary, "taskDefinition") ?: "", S(r, "base_td") ?: "");

		if (ours && state && !strcmp(state, "FAILED")) {
			char reason[512];
			snprintf(reason, sizeof(reason), "rollout FAILED: %s",
				 str_of(ours, "rolloutStateReason") ?: "no reason given");
			if (primary && primary != ours) {
				set_s(r->rec, "rollback_by", "ecs");
				set_s(r->rec, "rollback_deployment_id", str_of(primary, "id"));
			}
			deploy_failed(r, reason, true);
			return;
		}
		if (!ours && ecs_rollback) {
			set_s(r->rec, "rollback_by", "ecs");
			set_s(r->rec, "rollback_deployment_id", str_of(primary, "id"));
			deploy_failed(r, "rollout FAILED; ECS rolled back", true);
			return;
		}
		if (!ours || strcmp(str_of(ours, "status") ?: "", "PRIMARY")) {
			char reason[512];
			set_target(r, "held", S(r, "digest"));
			snprintf(reason, sizeof(reason),
				 "superseded by deployment %s (%s), made by someone else",
				 primary ? str_of(primary, "id") ?: "?" : "?",
				 primary ? str_of(primary, "taskDefinition") ?: "?" : "?");
			r->dp->failures++;
			set_target(r, "deployed", "");
			emit(r, LOG_WARNING, EVENT_DEPLOY_FAILED, LOG_FIELDS({ "REASON", reason }),
			     "deploy of %s to service '%s' stopped: %s; it is not deployed again "
			     "until a newer push",
			     S(r, "digest"), S(r, "service"), reason);
			finish(r);
			return;
		}
		if (ecs_completed(svc, ours)) {
			if (is_revision(r))
				deploy_completed(r);
			else
				confirm_force(r);
			return;
		}
		if (now > N(r, "deadline")) {
			char reason[128];
			snprintf(reason, sizeof(reason),
				 "not complete within the rollout timeout (%.0fs)",
				 N(r, "timeout_ms") / 1000.0);
			deploy_failed(r, reason, true);
		}
		return;
	}
	/* rollback-tracking */
	const cJSON *rb = ecs_find_deployment(svc, "id", S(r, "rollback_deployment_id"));
	const char *rs = str_of(rb, "rolloutState");
	if (rb && ecs_completed(svc, rb))
		rollback_done(r, true, NULL);
	else if (rb && rs && !strcmp(rs, "FAILED"))
		rollback_done(r, false, str_of(rb, "rolloutStateReason") ?: "rollout FAILED");
	else if (!rb || strcmp(str_of(rb, "status") ?: "", "PRIMARY"))
		rollback_done(r, false, "another deployment superseded the rollback");
	else if (now > N(r, "rollback_deadline"))
		rollback_done(r, false, "not complete within the rollout timeout");
}

static bool tracking(const struct rollout *r)
{
	const char *s = r->rec ? S(r, "step") : NULL;

	return s && (!strcmp(s, "tracking") || !strcmp(s, "rollback-tracking"));
}

static void batch_free(struct batch *b)
{
	struct deployer *dp = b->dp;

	for (struct batch **p = &dp->batches; *p; p = &(*p)->next)
		if (*p == b) {
			*p = b->next;
			break;
		}
	for (int i = 0; i < b->n; i++)
		if (b->r[i])
			b->r[i]->batch = NULL;
	if (b->call)
		aws_call_cancel(b->call);
	free(b->cluster);
	free(b->region);
	free(b);
}

static void on_batch(struct aws_result *res, void *userdata)
{
	struct batch *b = userdata;
	double now = ev_now(b->dp->d->loop);
	bool said = false;

	b->call = NULL;
	for (int i = 0; i < b->n; i++) {
		struct rollout *r = b->r[i];
		if (!r)
			continue;
		r->batch = NULL;
		b->r[i] = NULL;
		r->next_at = now + r->interval;
		r->interval = r->interval * 1.5 > TRACK_MAX_S ? TRACK_MAX_S : r->interval * 1.5;
		if (!res->ok) {
			if (!said)
				api_error(r, res, "tracking goes on");
			said = true;
			continue;
		}
		const cJSON *svc = ecs_find_service(res->body, S(r, "service"));
		if (svc)
			evaluate(r, svc);
		else if (!strcmp(S(r, "step"), "tracking"))
			deploy_failed(r, "the service no longer exists", false);
		else
			rollback_done(r, false, "the service no longer exists");
	}
	batch_free(b);
}

static void send_batch(struct batch *b)
{
	cJSON *p = cJSON_CreateObject(), *a = p ? cJSON_AddArrayToObject(p, "services") : NULL;
	struct aws_call_spec spec = { .service = &aws_ecs,
				      .operation = "DescribeServices",
				      .params = p,
				      .creds = b->creds,
				      .region = b->region };

	if (a) {
		cJSON_AddStringToObject(p, "cluster", b->cluster);
		for (int i = 0; i < b->n; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(S(b->r[i], "service")));
	}
	if (!a || aws_call(b->dp->d->aws, &spec, on_batch, b, &b->call) < 0) {
		b->call = NULL;
		for (int i = 0; i < b->n; i++)
			if (b->r[i]) {
				b->r[i]->next_at = ev_now(b->dp->d->loop) + TRACK_MAX_S;
				b->r[i]->batch = NULL;
			}
		b->n = 0;
		batch_free(b);
	}
	cJSON_Delete(p);
}

/* Tracking polls that are due, by (region, credentials, cluster), 10 services per call. */
static void track_due(struct deployer *dp)
{
	double now = ev_now(dp->d->loop);
	struct strmap *open = strmap_new();

	if (!open)
		return;
	for (struct rollout *r = dp->rollouts; r; r = r->next) {
		char key[1024];
		struct batch *b;

		if (!tracking(r) || r->call || r->batch || r->waiting || r->next_at > now)
			continue;
		snprintf(key, sizeof(key), "%s\x1f%p\x1f%s", S(r, "region"), (void *)r->creds,
			 S(r, "cluster"));
		b = strmap_get(open, key);
		if (!b || b->n == BATCH_MAX) {
			if (b)
				send_batch(b);
			b = calloc(1, sizeof(*b));
			if (!b)
				break;
			b->dp = dp;
			b->cluster = strdup(S(r, "cluster"));
			b->region = strdup(S(r, "region"));
			b->creds = r->creds;
			b->next = dp->batches;
			dp->batches = b;
			if (!b->cluster || !b->region || strmap_put(open, key, b, NULL) < 0) {
				batch_free(b);
				break;
			}
		}
		r->batch = b;
		r->batch_slot = b->n;
		b->r[b->n++] = r;
	}
	/* Send what is still open: the batches not yet sent have no call. */
	for (struct batch *b = dp->batches, *next; b; b = next) {
		next = b->next;
		if (!b->call && b->n)
			send_batch(b);
	}
	strmap_free(open, NULL);
}

static void on_tick(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct deployer *dp = t->data;
	double now = ev_now(loop);

	(void)revents;
	for (struct rollout *r = dp->rollouts, *next; r; r = next) {
		next = r->next;
		if (r->waiting && r->next_at <= now) {
			r->waiting = false;
			run_step(r); /* may free r, never another rollout */
		}
	}
	track_due(dp);
	if (!dp->rollouts) /* an idle daemon does not wake four times a second */
		ev_timer_stop(loop, &dp->tick);
}

/* ---- the steps ----------------------------------------------------------- */

static void begin_tracking(struct rollout *r, const char *step)
{
	r->interval = TRACK_FIRST_S;
	r->next_at = ev_now(r->dp->d->loop) + TRACK_FIRST_S;
	r->n_events = 0;
	persist(r, step);
}

/* During a rollback: true when res can be used; else the call is retried later or the rollback
 * ended on its error. */
static bool answered_in_rollback(struct rollout *r, struct aws_result *res)
{
	char why[700];

	if (call_failed(r, res))
		return false;
	if (res->ok)
		return true;
	snprintf(why, sizeof(why), "%s refused: %s: %s", res->operation, res->err.code,
		 res->err.message);
	rollback_done(r, false, why);
	return false;
}

static void on_rollback_update(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;

	if (!answered_in_rollback(r, res))
		return;
	const cJSON *svc = cJSON_GetObjectItem(res->body, "service");
	const cJSON *dep = ecs_primary(svc);
	set_s(r->rec, "rollback_deployment_id", str_of(dep, "id"));
	begin_tracking(r, "rollback-tracking");
}

/* Where a rollback goes: the revision the service ran, or one pinning the digest it ran. */
static const char *rollback_td(const struct rollout *r)
{
	const char *td = S(r, "rollback_td");

	return td && *td ? td : S(r, "base_td");
}

/* UpdateService of our service to td, or with forceNewDeployment when td is NULL. */
static cJSON *update_params(const struct rollout *r, const char *td)
{
	cJSON *p = cJSON_CreateObject();

	if (p && (!cJSON_AddStringToObject(p, "cluster", S(r, "cluster")) ||
		  !cJSON_AddStringToObject(p, "service", S(r, "service")) ||
		  !(td ? cJSON_AddStringToObject(p, "taskDefinition", td)
		       : cJSON_AddBoolToObject(p, "forceNewDeployment", 1)))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

static void rollback_update(struct rollout *r)
{
	call(r, "UpdateService", update_params(r, rollback_td(r)), on_rollback_update);
}

static void on_rollback_check(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	if (!answered_in_rollback(r, res))
		return;
	const cJSON *svc = ecs_find_service(res->body, S(r, "service"));
	const cJSON *primary = ecs_primary(svc);
	if (!svc) {
		rollback_done(r, false, "the service no longer exists");
		return;
	}
	/* Made before a crash? Then it is the primary deployment, on the old revision. */
	if (primary && strcmp(str_of(primary, "id") ?: "", S(r, "deployment_id") ?: "") &&
	    !strcmp(str_of(primary, "taskDefinition") ?: "", rollback_td(r))) {
		set_s(r->rec, "rollback_deployment_id", str_of(primary, "id"));
		begin_tracking(r, "rollback-tracking");
		return;
	}
	rollback_update(r);
}

/*
 * A RegisterTaskDefinition or UpdateService sent at the time the record holds under key (before a
 * stop, or with a reply lost) may still be carried out until its attempt timeout has passed: until
 * then a resume that does not see its result yet looks again each second instead of sending it a
 * second time (decide_update_resume()). True when the rollout now waits.
 */
static bool wait_for_call_sent(struct rollout *r, const char *key, const char *what)
{
	double sent = N(r, key), now = wall_now();

	if (decide_update_resume(false, sent, now, UPDATE_WINDOW_S) != UPDATE_WAIT)
		return false;
	if (!r->update_waited)
		emit(r, LOG_INFO, NULL, NULL,
		     "service '%s': no %s yet, but our call was sent %.0fs ago and may still be "
		     "carried out; looking again until %.0fs after it before sending it again",
		     S(r, "service"), what, now - sent, UPDATE_WINDOW_S);
	r->update_waited = true;
	r->waiting = true;
	r->next_at = ev_now(r->dp->d->loop) +
		     (sent + UPDATE_WINDOW_S - now < 1.0 ? sent + UPDATE_WINDOW_S - now : 1.0);
	return true;
}

static void on_rollback_registered(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;

	if (call_failed(r, res))
		return;
	const char *arn =
	    res->ok ? str_of(cJSON_GetObjectItem(res->body, "taskDefinition"), "taskDefinitionArn")
		    : NULL;
	if (!arn) {
		char why[700];
		snprintf(why, sizeof(why), "RegisterTaskDefinition refused: %s: %s",
			 res->ok ? "no ARN" : res->err.code, res->ok ? "" : res->err.message);
		rollback_done(r, false, why);
		return;
	}
	set_s(r->rec, "rollback_td", arn);
	if (!persist(r, "rolling-back"))
		return;
	rollback_update(r);
}

static void on_rollback_base(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	char image[700], why[800];
	cJSON *params;

	if (!answered_in_rollback(r, res))
		return;
	int rc = pin_params(r, res->body, S(r, "previous_digest"), "", image, sizeof(image),
			    &params, why, sizeof(why));
	if (rc == -ENOMEM) {
		retry_later(r);
		return;
	}
	if (rc < 0) {
		rollback_done(r, false, why);
		return;
	}
	set_n(r->rec, "register_sent_at", wall_now());
	if (!persist(r, "rollback-registering")) {
		cJSON_Delete(params);
		return;
	}
	call(r, "RegisterTaskDefinition", params, on_rollback_registered);
}

/* Resuming "rollback-registering": a revision pinning the previous digest, made from base_td,
 * may exist already (the family's latest, by our tags). */
static void on_rollback_latest(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	const char *arn;

	if (call_failed(r, res))
		return;
	arn =
	    res->ok ? ecs_ours_already(res->body, S(r, "previous_digest"), S(r, "base_td")) : NULL;
	if (!arn && wait_for_call_sent(r, "register_sent_at", "pinned revision for the rollback"))
		return;
	if (!arn) {
		call(r, "DescribeTaskDefinition", td_params(S(r, "base_td"), true),
		     on_rollback_base);
		return;
	}
	set_s(r->rec, "rollback_td", arn);
	if (!persist(r, "rolling-back"))
		return;
	rollback_update(r);
}

/*
 * Back to what ran before. When that revision names a tag, the tag now points at the failed
 * image and ECS would pull it again; so the rollback registers a revision of it pinned to the
 * digest that ran, and deploys that.
 */
static void start_rollback(struct rollout *r)
{
	bool pin = !cJSON_IsTrue(cJSON_GetObjectItem(r->rec, "base_pinned")) &&
		   S(r, "previous_digest") && *S(r, "previous_digest");

	set_n(r->rec, "rollback_deadline", wall_now() + N(r, "timeout_ms") / 1000.0);
	set_s(r->rec, "rollback_by", "ecr-deployd");
	if (!persist(r, pin ? "rollback-registering" : "rolling-back"))
		return;
	if (pin)
		emit(r, LOG_WARNING, EVENT_ROLLBACK_STARTED, NULL,
		     "rolling service '%s' back to %s, as a revision of %s pinned to it (that one "
		     "names a tag, which now points at the failed image)",
		     S(r, "service"), S(r, "previous_digest"), S(r, "base_td"));
	else
		emit(r, LOG_WARNING, EVENT_ROLLBACK_STARTED, NULL,
		     "rolling service '%s' back to %s", S(r, "service"), S(r, "base_td"));
	run_step(r);
}

static void ecs_rollback_follow(struct rollout *r)
{
	set_n(r->rec, "rollback_deadline", wall_now() + N(r, "timeout_ms") / 1000.0);
	emit(r, LOG_WARNING, EVENT_ROLLBACK_STARTED,
	     LOG_FIELDS({ "ROLLBACK_DEPLOYMENT_ID", S(r, "rollback_deployment_id") }),
	     "ECS's circuit breaker rolls service '%s' back to %s; following it", S(r, "service"),
	     S(r, "base_td"));
	begin_tracking(r, "rollback-tracking");
}

/* The force strategy's proof: the tasks of our deployment run the digest. */
static void on_confirm_tasks(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	const cJSON *want;
	int checked = 0;
	char bad[600] = "";

	if (!answered_before_change(r, res))
		return;
	cJSON_ArrayForEach(want, cJSON_GetObjectItem(r->rec, "containers"))
	{
		const char *d = NULL;
		int n = 0;
		enum ecs_tasks_verdict v = ecs_tasks_digest(res->body, cJSON_GetStringValue(want),
							    S(r, "deployment_id"), &d, &n);
		char v_text[300];
		checked += n;
		if (v == ECS_TASKS_INVALID) {
			/* Not a digest: refused, named, never recorded as failed. */
			ecs_printable(d, v_text, sizeof(v_text));
			snprintf(bad, sizeof(bad), "'%s' (which is not a valid digest)", v_text);
		} else if (v == ECS_TASKS_MIXED) {
			snprintf(bad, sizeof(bad), "more than one digest");
		} else if (v == ECS_TASKS_ONE && strcmp(d, S(r, "digest"))) {
			snprintf(bad, sizeof(bad), "%s", d);
		}
	}
	if (*bad) {
		char reason[900];
		snprintf(reason, sizeof(reason),
			 "the new tasks run %s, not the pushed digest (the tag moved again, or the "
			 "task definition names another image)",
			 bad);
		deploy_failed(r, reason, false);
		return;
	}
	emit(r, LOG_INFO, NULL, NULL, "service '%s': %d containers of the new tasks run %s",
	     S(r, "service"), checked, S(r, "digest"));
	deploy_completed(r);
}

static void on_confirm_list(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;

	if (!answered_before_change(r, res))
		return;
	if (!cJSON_GetArraySize(cJSON_GetObjectItem(res->body, "taskArns"))) {
		deploy_completed(r); /* no task runs (desired count 0) */
		return;
	}
	call(r, "DescribeTasks", describe_tasks_params(r, res->body), on_confirm_tasks);
}

static void confirm_force(struct rollout *r)
{
	call(r, "ListTasks", list_tasks_params(r), on_confirm_list);
}

static void on_update(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;

	if (!answered_before_change(r, res))
		return;
	const cJSON *svc = cJSON_GetObjectItem(res->body, "service");
	const cJSON *dep = is_revision(r)
			       ? ecs_find_deployment(svc, "taskDefinition", S(r, "new_td"))
			       : ecs_primary(svc);
	set_s(r->rec, "deployment_id", str_of(dep, "id"));
	emit(r, LOG_INFO, NULL, NULL, "service '%s': deployment %s started; tracking it",
	     S(r, "service"), S(r, "deployment_id"));
	begin_tracking(r, "tracking");
}

static void update(struct rollout *r)
{
	/* When it was sent is written with the step: a resume waits out the call's attempt
	 * timeout before it sends it again (decide_update_resume()). */
	set_n(r->rec, "update_sent_at", wall_now());
	if (!persist(r, "updating")) {
		cJSON_DeleteItemFromObject(r->rec, "update_sent_at"); /* not sent */
		return;
	}
	call(r, "UpdateService", update_params(r, is_revision(r) ? S(r, "new_td") : NULL),
	     on_update);
}

static void on_deregistered(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;

	r->call = NULL;
	if (!res->ok)
		api_error(r, res, "the unused revision stays registered");
	cJSON_DeleteItemFromObject(r->rec, "new_td");
	persist(r, "start");
	run_step(r);
}

/* Someone else deployed between our read and our update: never overwrite; read again. */
static void service_changed(struct rollout *r, const char *now_td)
{
	r->restarts++;
	emit(r, LOG_WARNING, NULL, LOG_FIELDS({ "CURRENT_TASK_DEFINITION", now_td }),
	     "service '%s' changed under us (it now runs %s, not %s); %s", S(r, "service"), now_td,
	     S(r, "base_td"),
	     r->restarts > RESTARTS_MAX ? "giving up" : "reading it again and deciding anew");
	if (r->restarts > RESTARTS_MAX) {
		failed_before_change(r, NULL, "the service kept changing under us");
		return;
	}
	if (S(r, "new_td") && *S(r, "new_td")) {
		emit(r, LOG_NOTICE, NULL, NULL,
		     "service '%s': deregistering %s, registered by us and now unused",
		     S(r, "service"), S(r, "new_td"));
		call(r, "DeregisterTaskDefinition", td_params(S(r, "new_td"), false),
		     on_deregistered);
		return;
	}
	persist(r, "start");
	run_step(r);
}

/* Before UpdateService (step registered or updating): is the service where we left it? */
static void on_check(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	if (!answered_before_change(r, res))
		return;
	const cJSON *svc = ecs_find_service(res->body, S(r, "service"));
	const char *td = str_of(svc, "taskDefinition");
	if (!svc) {
		failed_before_change(r, NULL, "the service does not exist");
		return;
	}
	if (!strcmp(S(r, "step"), "updating")) {
		/* Did our UpdateService happen before the crash? Adopt its deployment. */
		const cJSON *dep = NULL, *primary = ecs_primary(svc);
		if (is_revision(r))
			dep = ecs_find_deployment(svc, "taskDefinition", S(r, "new_td"));
		else if (primary &&
			 strcmp(str_of(primary, "id") ?: "", S(r, "prev_deployment") ?: ""))
			dep = primary;
		double sent = N(r, "update_sent_at"), now = wall_now();
		switch (decide_update_resume(dep != NULL, sent, now, UPDATE_WINDOW_S)) {
		case UPDATE_ADOPT:
			set_s(r->rec, "deployment_id", str_of(dep, "id"));
			emit(r, LOG_INFO, NULL, NULL,
			     "service '%s': deployment %s was made before the restart; tracking it",
			     S(r, "service"), S(r, "deployment_id"));
			begin_tracking(r, "tracking");
			return;
		case UPDATE_WAIT:
			wait_for_call_sent(r, "update_sent_at",
					   is_revision(r) ? "deployment of our revision"
							  : "forced deployment");
			return;
		case UPDATE_SEND:
			break;
		}
		/* Our UpdateService was sent and its time is out, no deployment of our revision is
		 * listed, yet the service has a deployment of the previous revision newer than the
		 * one it had when we read it: ECS made one since. That is what its circuit breaker
		 * does when it rolls ours back (and forgets our FAILED deployment); sending ours
		 * again would deploy a digest that failed. The digest is marked failed, which an
		 * operator's 'retry' undoes. */
		const char *pid = str_of(primary, "id"), *prev = S(r, "prev_deployment");
		if (is_revision(r) && pid && prev && *prev && strcmp(pid, prev) && td &&
		    !strcmp(td, S(r, "base_td"))) {
			char why[700];
			snprintf(why, sizeof(why),
				 "ECS made deployment %s of the previous revision after our "
				 "UpdateService and lists none of ours (its circuit breaker rolled "
				 "ours back, or someone redeployed); not sending it again",
				 pid);
			deploy_failed(r, why, true);
			return;
		}
	}
	if (!td || strcmp(td, S(r, "base_td"))) {
		service_changed(r, td ? td : "nothing");
		return;
	}
	update(r);
}

static void on_registered(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;

	if (!answered_before_change(r, res))
		return;
	const char *arn =
	    str_of(cJSON_GetObjectItem(res->body, "taskDefinition"), "taskDefinitionArn");
	if (!arn) {
		failed_before_change(r, NULL, "RegisterTaskDefinition returned no ARN");
		return;
	}
	set_s(r->rec, "new_td", arn);
	emit(r, LOG_INFO, NULL, NULL, "service '%s': registered %s with %s", S(r, "service"), arn,
	     S(r, "pinned_image"));
	if (!persist(r, "registered"))
		return;
	run_step(r);
}

static void register_revision(struct rollout *r)
{
	char image[700], why[600];
	cJSON *params;
	int rc = pin_params(r, r->described, S(r, "digest"), S(r, "tag"), image, sizeof(image),
			    &params, why, sizeof(why));

	if (rc == -ENOMEM) {
		retry_later(r);
		return;
	}
	if (rc < 0) {
		failed_before_change(r, NULL, why);
		return;
	}
	set_s(r->rec, "pinned_image", image);
	set_n(r->rec, "register_sent_at", wall_now());
	if (!persist(r, "registering")) {
		cJSON_Delete(params);
		return;
	}
	call(r, "RegisterTaskDefinition", params, on_registered);
}

static void on_describe_td(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	const cJSON *td;
	const cJSON *c;

	if (!answered_before_change(r, res))
		return;
	td = cJSON_GetObjectItem(res->body, "taskDefinition");
	set_s(r->rec, "family", str_of(td, "family"));
	/* What the first named container runs, when it is pinned. */
	c = cJSON_GetArrayItem(cJSON_GetObjectItem(r->rec, "containers"), 0);
	const char *pinned = NULL;
	if (ecs_pinned_digest(td, cJSON_GetStringValue(c), &pinned) == -EINVAL) {
		char v[400];
		ecs_printable(pinned, v, sizeof(v));
		emit(r, LOG_WARNING, NULL, NULL,
		     "service '%s': task definition %s pins container '%s' to '%s', which is not a "
		     "valid digest; it is ignored",
		     S(r, "service"), S(r, "base_td"), cJSON_GetStringValue(c), v);
		pinned = NULL;
	}
	if (pinned)
		set_s(r->rec, "previous_digest", pinned);
	cJSON_DeleteItemFromObject(r->rec, "base_pinned");
	cJSON_AddBoolToObject(r->rec, "base_pinned", pinned != NULL);
	cJSON_Delete(r->described);
	r->described = aws_result_take_body(res);
	register_revision(r);
}

static void on_start_service(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	if (!answered_before_change(r, res))
		return;
	const cJSON *svc = ecs_find_service(res->body, S(r, "service"));
	const char *td = str_of(svc, "taskDefinition");
	const char *status = str_of(svc, "status");
	if (!svc || !td || (status && strcmp(status, "ACTIVE"))) {
		failed_before_change(r, NULL,
				     svc ? "the service is not ACTIVE"
					 : "the service does not exist in the cluster");
		return;
	}
	if (strcmp(str_of(cJSON_GetObjectItem(svc, "deploymentController"), "type") ?: "ECS",
		   "ECS")) {
		failed_before_change(r, NULL,
				     "the service's deployment controller is not ECS (strategy "
				     "'codedeploy' is needed for CODE_DEPLOY services)");
		return;
	}
	set_s(r->rec, "base_td", td);
	set_s(r->rec, "prev_deployment", str_of(ecs_primary(svc), "id"));
	if (!is_revision(r)) {
		update(r);
		return;
	}
	call(r, "DescribeTaskDefinition", td_params(td, true), on_describe_td);
}

/* Resuming "registering": did RegisterTaskDefinition happen? The family's latest revision says,
 * through our tags. */
static void on_resume_registering(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	const char *arn;

	if (call_failed(r, res))
		return;
	arn = res->ok ? ecs_ours_already(res->body, S(r, "digest"), S(r, "base_td")) : NULL;
	if (!arn && wait_for_call_sent(r, "register_sent_at", "revision of ours"))
		return;
	if (!arn) {
		/* Not registered: start over from a fresh read. */
		persist(r, "start");
		run_step(r);
		return;
	}
	set_s(r->rec, "new_td", arn);
	emit(r, LOG_INFO, NULL, NULL,
	     "service '%s': %s was registered before the restart; using it", S(r, "service"), arn);
	if (!persist(r, "registered"))
		return;
	run_step(r);
}

/* ---- first start: what does the service run? ----------------------------- */

static void inspected(struct rollout *r, const char *running, const char *how)
{
	const char *want = S(r, "digest");
	bool skip = !strcmp(S(r, "on_first_start") ?: "deploy", "skip");

	set_target(r, "deployed", running ? running : "");
	if (running && !strcmp(running, want)) {
		emit(r, LOG_INFO, NULL, NULL,
		     "service '%s' already runs %s (%s); nothing to deploy", S(r, "service"), want,
		     how);
	} else if (skip && cJSON_IsTrue(cJSON_GetObjectItem(r->rec, "after_reset"))) {
		set_target(r, "held", want);
		emit(r, LOG_NOTICE, EVENT_SKIPPED, LOG_FIELDS({ "REASON", "state-reset" }),
		     "service '%s' runs %s (%s), ECR has %s; the state was rebuilt, so whether it "
		     "failed here before is unknown: it waits for the next push",
		     S(r, "service"), running ? running : "an unknown digest", how, want);
	} else if (skip) {
		set_target(r, "held", want);
		emit(r, LOG_NOTICE, EVENT_SKIPPED, LOG_FIELDS({ "REASON", "first-start" }),
		     "service '%s' runs %s (%s), ECR has %s; on_first_start is 'skip', so it waits "
		     "for the next push",
		     S(r, "service"), running ? running : "an unknown digest", how, want);
	} else {
		emit(r, LOG_NOTICE, NULL, NULL,
		     "service '%s' runs %s (%s), ECR has %s; deploying it (on_first_start "
		     "'deploy')",
		     S(r, "service"), running ? running : "an unknown digest", how, want);
	}
	save(r->dp);
	finish(r);
}

static void on_inspect_tasks(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	const char *name =
	    cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(r->rec, "containers"), 0));
	const char *seen = NULL;
	char v[400];

	if (!answered_before_change(r, res))
		return;
	switch (ecs_tasks_digest(res->body, name, NULL, &seen, NULL)) {
	case ECS_TASKS_INVALID:
		ecs_printable(seen, v, sizeof(v));
		emit(r, LOG_WARNING, NULL, NULL,
		     "service '%s': a running task reports '%s' as the imageDigest of container "
		     "'%s', which is not a valid digest; it is ignored",
		     S(r, "service"), v, name);
		inspected(r, NULL, "its running tasks report an invalid digest");
		break;
	case ECS_TASKS_MIXED:
		inspected(r, NULL, "its running tasks disagree");
		break;
	default:
		inspected(r, seen, "the imageDigest of its running tasks");
		break;
	}
}

static void on_inspect_list(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;

	if (!answered_before_change(r, res))
		return;
	if (!cJSON_GetArraySize(cJSON_GetObjectItem(res->body, "taskArns"))) {
		inspected(r, NULL, "no task runs and its task definition names a tag");
		return;
	}
	call(r, "DescribeTasks", describe_tasks_params(r, res->body), on_inspect_tasks);
}

static void on_inspect_td(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	const char *name =
	    cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(r->rec, "containers"), 0));

	if (!answered_before_change(r, res))
		return;
	const cJSON *td = cJSON_GetObjectItem(res->body, "taskDefinition");
	const char *pinned = NULL;
	int rc = ecs_pinned_digest(td, name, &pinned);
	if (rc == -ENOENT || !taskdef_image(td, name)) {
		char why[300];
		snprintf(why, sizeof(why), "its task definition has no container '%s'", name);
		failed_before_change(r, NULL, why);
		return;
	}
	if (rc == 1) {
		inspected(r, pinned, "its task definition pins it");
		return;
	}
	if (rc == -EINVAL) {
		char v[400];
		ecs_printable(pinned, v, sizeof(v));
		emit(
		    r, LOG_WARNING, NULL, NULL,
		    "service '%s': its task definition pins container '%s' to '%s', which is not "
		    "a valid digest; it is ignored, and what the running tasks run is read instead",
		    S(r, "service"), name, v);
	}
	call(r, "ListTasks", list_tasks_params(r), on_inspect_list);
}

static void on_inspect_service(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	if (!answered_before_change(r, res))
		return;
	const cJSON *svc = ecs_find_service(res->body, S(r, "service"));
	const char *td = str_of(svc, "taskDefinition");
	if (!svc || !td) {
		failed_before_change(r, NULL, "the service does not exist in the cluster");
		return;
	}
	call(r, "DescribeTaskDefinition", td_params(td, false), on_inspect_td);
}

/* Runs the step the record names, from AWS's answers alone. */
static void run_step(struct rollout *r)
{
	const char *step = S(r, "step");

	if (!strcmp(step, "inspect")) {
		call(r, "DescribeServices", service_params(r), on_inspect_service);
	} else if (!strcmp(step, "start")) {
		call(r, "DescribeServices", service_params(r), on_start_service);
	} else if (!strcmp(step, "registering")) {
		call(r, "DescribeTaskDefinition", td_params(S(r, "family"), true),
		     on_resume_registering);
	} else if (!strcmp(step, "registered") || !strcmp(step, "updating")) {
		call(r, "DescribeServices", service_params(r), on_check);
	} else if (!strcmp(step, "tracking") || !strcmp(step, "rollback-tracking")) {
		r->next_at = ev_now(r->dp->d->loop);
	} else if (!strcmp(step, "rollback-registering")) {
		call(r, "DescribeTaskDefinition", td_params(S(r, "family"), true),
		     on_rollback_latest);
	} else if (!strcmp(step, "rolling-back")) {
		call(r, "DescribeServices", service_params(r), on_rollback_check);
	} else {
		log_at(LOG_ERR, NULL, LOG_FIELDS({ "WATCH", r->watch }),
		       "rollout of watch '%s' to '%s' has an unknown step '%s' in the state file; "
		       "it is dropped",
		       r->watch, r->tkey, step);
		finish(r);
	}
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
		if (!strcmp(r->tkey, tkey))
			return r;
	return NULL;
}

static bool failed_before(const cJSON *t, const char *digest)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItem(t, "failed"))
	{
		if (!strcmp(str_of(e, "digest") ?: "", digest))
			return true;
	}
	return false;
}

static cJSON *new_record(const struct config_watch *w, const struct config_target *t,
			 const cJSON *want, const char *region, const char *previous, bool inspect)
{
	cJSON *r = cJSON_CreateObject(), *c;
	double now = wall_now();

	if (!r)
		return NULL;
	set_s(r, "step", inspect ? "inspect" : "start");
	set_s(r, "watch", w->name);
	set_s(r, "repository", w->repository);
	set_s(r, "tag", str_of(want, "tag"));
	set_s(r, "digest", str_of(want, "digest"));
	set_s(r, "image", str_of(want, "image"));
	set_s(r, "previous_digest", previous);
	set_s(r, "strategy", config_strategy_name(t->strategy));
	set_s(r, "cluster", t->cluster);
	set_s(r, "service", t->service);
	set_s(r, "region", region);
	if (t->role_arn)
		set_s(r, "role_arn", t->role_arn);
	c = cJSON_AddArrayToObject(r, "containers");
	for (size_t i = 0; c && i < t->n_containers; i++)
		cJSON_AddItemToArray(c, cJSON_CreateString(t->containers[i]));
	cJSON_AddBoolToObject(r, "rollback", t->rollback);
	set_s(r, "on_first_start", t->first_start_skip ? "skip" : "deploy");
	set_n(r, "timeout_ms", (double)t->rollout_timeout_ms);
	if (!inspect) {
		set_n(r, "started_at", now);
		set_n(r, "deadline", now + (double)t->rollout_timeout_ms / 1000.0);
	}
	return r;
}

/* Says a decision that is not an action, once per (target, digest, decision). */
static void say(struct deployer *dp, const char *skey, const struct config_watch *w,
		const struct config_target *t, const char *digest, enum decision dec)
{
	char said[160], *copy;
	void *old = NULL;
	const char *prev = strmap_get(dp->said, skey);

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
	case DECIDE_SKIP_UNSUPPORTED:
		log_at(LOG_WARNING, EVENT_SKIPPED, f,
		       "watch '%s': strategy 'codedeploy' is not part of this build; %s is not "
		       "deployed to service '%s'",
		       w->name, digest, t->service);
		break;
	case DECIDE_DRY_RUN:
		log_at(LOG_NOTICE, EVENT_SKIPPED, f,
		       "dry run: would deploy %s to service '%s' in cluster '%s' (strategy '%s')",
		       digest, t->service, t->cluster, config_strategy_name(t->strategy));
		break;
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

/* Decides, and starts what is decided, for each target of one watch. */
static void reconcile_watch(struct deployer *dp, const struct config_watch *w)
{
	struct deployer_deps *d = dp->d;
	const struct config *cfg = *d->cfg;
	bool dry = cfg->dry_run || d->dry_run;

	const cJSON *want = state_want(d->state, w->name);
	for (size_t j = 0; j < w->n_targets; j++) {
		const struct config_target *t = &w->targets[j];
		char region[64], tkey[1024], skey[1200];
		place(t, d->region, region, tkey);
		snprintf(skey, sizeof(skey), "%s\x1f%s", w->name, tkey);
		cJSON *rec = state_target(d->state, w->name, tkey, false);
		const char *digest = str_of(want, "digest");
		if (!cJSON_IsString(cJSON_GetObjectItem(rec, "deployed")))
			dp->reset_unseen++;
		struct decide_input in = {
			.want = digest,
			.deployed = str_of(rec, "deployed"),
			.held = str_of(rec, "held"),
			.failed = digest && failed_before(rec, digest) &&
				  !(t->retry && !strcmp(t->retry, digest) &&
				    strcmp(str_of(rec, "retried") ?: "", digest)),
			.paused = t->paused,
			.dry_run = dry,
			.busy = holding(dp, tkey) != NULL,
			.at_capacity = dp->deploying >= cfg->max_concurrent_deploys,
			.unsupported = t->strategy == STRATEGY_CODEDEPLOY,
		};
		enum decision dec = decide(&in);
		if (dec == DECIDE_WAIT_BUSY && holding(dp, tkey)->inspect)
			continue; /* being looked at; decided again when that ends */
		if (dec != DECIDE_DEPLOY && dec != DECIDE_INSPECT) {
			say(dp, skey, w, t, digest, dec);
			continue;
		}
		if (dec == DECIDE_INSPECT && dp->inspecting >= INSPECT_MAX)
			continue; /* the next one starts when one ends */
		if (dec == DECIDE_DEPLOY && state_blocked(dp))
			continue; /* decided again when the state's retry is due */
		cJSON *r = new_record(w, t, want, region, in.deployed, dec == DECIDE_INSPECT);
		if (!r) {
			log_error("out of memory while starting a rollout to '%s'", tkey);
			continue;
		}
		if (dec == DECIDE_INSPECT && state_reset_pending(d->state)) {
			/* What failed here is unknown: as on_first_start skip, until a new push. */
			set_s(r, "on_first_start", "skip");
			cJSON_AddBoolToObject(r, "after_reset", 1);
		}
		struct rollout *ro;
		if (dec == DECIDE_INSPECT) {
			ro = rollout_new(dp, w->name, tkey, r, true);
			if (!ro) {
				cJSON_Delete(r);
				continue;
			}
			run_step(ro);
			continue;
		}
		if (t->retry && !strcmp(t->retry, digest) && failed_before(rec, digest)) {
			/* The operator's one more time: taken now, not again. */
			set_s(state_target(d->state, w->name, tkey, true), "retried", digest);
			state_touch(d->state);
			log_at(LOG_NOTICE, NULL,
			       LOG_FIELDS({ "WATCH", w->name }, { "IMAGE_DIGEST", digest },
					  { "ECS_SERVICE", t->service }),
			       "watch '%s': %s failed on service '%s' before; deploying it "
			       "once "
			       "more, as its 'retry' asks",
			       w->name, digest, t->service);
		}
		r = state_rollout_put(d->state, w->name, tkey, r);
		ro = r ? rollout_new(dp, w->name, tkey, r, false) : NULL;
		if (!ro) {
			char why[300];
			state_rollout_remove(d->state, w->name, tkey, why, sizeof(why));
			log_error("out of memory while starting a rollout to '%s'", tkey);
			continue;
		}
		if (!persist(ro, "start")) {
			/* Never started: dropped without a trace; the state's retry decides again.
			 */
			char why[600];
			state_rollout_remove(d->state, w->name, tkey, why, sizeof(why));
			rollout_free(ro);
			return;
		}
		emit(ro, LOG_NOTICE, EVENT_DEPLOY_STARTED, NULL,
		     "deploying %s ('%s:%s') to service '%s' in cluster '%s' (strategy "
		     "'%s')",
		     digest, w->repository, str_of(want, "tag"), t->service, t->cluster,
		     config_strategy_name(t->strategy));
		run_step(ro);
	}
}

static int by_position(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
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
		struct strmap *index = strmap_new();
		for (size_t i = 0; index && i < cfg->n_watches; i++)
			if (strmap_put(index, cfg->watches[i].name, (void *)(uintptr_t)(i + 1),
				       NULL) < 0) {
				strmap_free(index, NULL);
				index = NULL;
			}
		if (!index) {
			free(pos);
			return NULL;
		}
		strmap_free(dp->index, NULL);
		config_free(dp->indexed);
		dp->index = index;
		dp->indexed = config_ref(cfg);
	}
	for (size_t i = 0; i < n; i++) {
		uintptr_t at = (uintptr_t)strmap_get(dp->index, names[i]);
		if (at)
			pos[k++] = at - 1;
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
	if (all) {
		dp->reset_unseen = 0;
		for (size_t i = 0; i < cfg->n_watches; i++)
			reconcile_watch(dp, &cfg->watches[i]);
		/* Every target has been looked at since the state was rebuilt: the reset is over.
		 */
		if (!dp->reset_unseen && !dp->inspecting && state_reset_pending(dp->d->state)) {
			state_reset_done(dp->d->state);
			save(dp);
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
	if (!dp->creds || !dp->said || !dp->dirty) {
		deployer_free(dp);
		return NULL;
	}
	ev_timer_init(&dp->tick, on_tick, TICK_S, TICK_S);
	dp->tick.data = dp;
	ev_timer_init(&dp->kick, on_kick, 0.0, 0.0);
	dp->kick.data = dp;
	ev_timer_init(&dp->state_retry, on_state_retry, 0.0, 0.0);
	dp->state_retry.data = dp;
	return dp;
}

static void free_creds(void *p)
{
	cred_provider_free(p);
}

void deployer_free(struct deployer *dp)
{
	if (!dp)
		return;
	ev_timer_stop(dp->d->loop, &dp->tick);
	ev_timer_stop(dp->d->loop, &dp->kick);
	ev_timer_stop(dp->d->loop, &dp->state_retry);
	while (dp->batches)
		batch_free(dp->batches);
	while (dp->rollouts)
		rollout_free(dp->rollouts); /* the records stay in the state file */
	strmap_free(dp->said, free);
	strmap_free(dp->dirty, NULL);
	for (size_t i = 0; i < dp->n_dirty; i++)
		free(dp->dirty_names[i]);
	free(dp->dirty_names);
	strmap_free(dp->index, NULL);
	config_free(dp->indexed);
	strmap_free(dp->creds, free_creds);
	free(dp);
}

static void resume_one(const char *watch, const char *tkey, cJSON *rec, void *ud)
{
	struct deployer *dp = ud;
	struct rollout *r = rollout_new(dp, watch, tkey, rec, false);

	if (!r) {
		log_error("out of memory while resuming the rollout to '%s'", tkey);
		return;
	}
	emit(r, LOG_NOTICE, NULL, NULL,
	     "resuming the rollout of %s to service '%s' at step '%s' (it was in flight when "
	     "ecr-deployd stopped)",
	     S(r, "digest"), S(r, "service"), S(r, "step"));
	if (!strcmp(S(r, "step"), "rolling-back") || !strcmp(S(r, "step"), "rollback-tracking"))
		r->n_events = 0;
	r->waiting = true;
	r->next_at = ev_now(dp->d->loop);
}

static void count_one(const char *watch, const char *tkey, cJSON *rec, void *ud)
{
	(void)rec;
	(*(int *)ud)++;
	log_warning("dry run: the rollout of watch '%s' to '%s' in the state file is left as it "
		    "is (resuming it could change ECS)",
		    watch, tkey);
}

void deployer_resume(struct deployer *dp)
{
	int n = 0;

	if (state_reset_pending(dp->d->state))
		log_at(
		    LOG_WARNING, EVENT_STATE_RESET,
		    LOG_FIELDS({ "STATE_FILE", state_path(dp->d->state) }),
		    "the state was rebuilt, so what each service runs and which digests failed "
		    "there are unknown: every target is treated as on_first_start 'skip' until a "
		    "new push (what runs is looked at; nothing is deployed before a newer image)");

	if ((*dp->d->cfg)->dry_run || dp->d->dry_run)
		state_each_rollout(dp->d->state, count_one, &n);
	else
		state_each_rollout(dp->d->state, resume_one, dp);
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
		len +=
		    (size_t)snprintf(buf + len, n - len, "%s%s %d/%d tasks%s", listed ? ", " : " (",
				     S(r, "service"), r->running, r->desired,
				     strncmp(S(r, "step"), "roll", 4) ? "" : " rolling back");
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

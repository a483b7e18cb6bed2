/* SPDX-License-Identifier: MIT */
/*
 * The service-deployment steps of the rollout engine (rollout.h): our deployment tracked by its
 * ARN with DescribeServiceDeployments (batched by the engine), its lifecycle stages said once
 * each, approvals at PAUSE hooks (an operator's, or ours with "approve": "auto"), and our
 * rollback through StopServiceDeployment(ROLLBACK) while it is in progress, followed to its end.
 * Each reader returns the next step or an outcome, from what ECS said.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ecs.h"
#include "events.h"
#include "rollout.h"
#include "state.h"
#include "track.h"

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

static bool same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

bool sd_in_progress(const struct rollout_rec *c)
{
	return c->deployment_arn && *c->deployment_arn && !c->no_stop &&
	       (same(c->sd_status, "PENDING") || same(c->sd_status, "IN_PROGRESS"));
}

/* Ours in a DescribeServiceDeployments reply, or NULL (*missing: the reason of its failures[]
 * entry, when it has one). */
static const cJSON *find_sd(const cJSON *body, const char *arn, const char **missing)
{
	const cJSON *x;

	*missing = NULL;
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(body, "serviceDeployments"))
	{
		if (same(str_of(x, "serviceDeploymentArn"), arn))
			return x;
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(body, "failures"))
	{
		if (same(str_of(x, "arn"), arn))
			*missing = str_of(x, "reason") ?: "no reason given";
	}
	return NULL;
}

static void iso_time(double t, char *buf, size_t n)
{
	time_t s = (time_t)t;
	struct tm tm;

	if (!(t > 0) || t > 1e11 || !gmtime_r(&s, &tm) ||
	    !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "unknown");
}

cJSON *sd_arn_params(struct rollout *r)
{
	cJSON *p = cJSON_CreateObject(),
	      *a = p ? cJSON_AddArrayToObject(p, "serviceDeploymentArns") : NULL;

	if (!a || !r->rec->deployment_arn ||
	    !cJSON_AddItemToArray(a, cJSON_CreateString(r->rec->deployment_arn))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

/* The record names no service deployment to track (an old or edited record). */
static int no_arn(struct rollout *r, int outcome)
{
	snprintf(r->reason, sizeof(r->reason),
		 "the rollout record at step '%s' names no service deployment to track",
		 record_step_name(r->rec->step));
	return outcome;
}

/* The last look's figures, and a DEPLOY_PROGRESS when the lifecycle stage changed. */
static void progress(struct rollout *r, const struct track_sd_result *out)
{
	struct rollout_rec *c = r->rec;
	char stage[sizeof(r->stage)], weight[16] = "";

	if (out->status)
		record_set(&c->sd_status, out->status);
	if (out->running >= 0)
		r->running = out->running;
	if (out->desired >= 0)
		r->desired = out->desired;
	r->weight = out->weight;
	if (!out->stage)
		return;
	ecs_printable(out->stage, stage, sizeof(stage));
	snprintf(r->stage, sizeof(r->stage), "%s", stage);
	if (same(c->stage, stage))
		return;
	record_set(&c->stage, stage);
	if (out->weight >= 0)
		snprintf(weight, sizeof(weight), "%.0f", out->weight);
	rollout_emit(r, LOG_INFO, EVENT_DEPLOY_PROGRESS,
		     LOG_FIELDS({ "LIFECYCLE_STAGE", stage },
				{ "PRODUCTION_TRAFFIC_WEIGHT", *weight ? weight : NULL },
				{ "SERVICE_DEPLOYMENT_STATUS", c->sd_status }),
		     "service '%s': deployment at %s (%s)%s%s%s", c->service, stage,
		     c->sd_status ? c->sd_status : "?", *weight ? ", " : "", weight,
		     *weight ? "% of production traffic on the new revision" : "");
	rollout_persist(r);
}

/* A PAUSE hook of ours awaits action: said once per hook; the rollout timeout stands still. */
static int awaiting(struct rollout *r, const cJSON *hook)
{
	struct rollout_rec *c = r->rec;
	double now = rollout_wall_now();
	char id[96], expires[32], action[24];
	const cJSON *at = cJSON_GetObjectItem(hook, "expiresAt");
	bool auto_ok = same(c->approve, "auto");

	/* The id goes back to ECS as it came when it is a plain token; else it is shown escaped
	 * (and ContinueServiceDeployment of it is refused, said). */
	const char *raw = str_of(hook, "hookId");
	if (strlen(raw) < sizeof(id) &&
	    strspn(raw, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:/") ==
		strlen(raw))
		snprintf(id, sizeof(id), "%s", raw);
	else
		ecs_printable(raw, id, sizeof(id));
	ecs_printable(str_of(hook, "timeoutAction") ?: "ROLLBACK", action, sizeof(action));
	r->awaiting = true;
	/* The time left is kept; the deadline is made from it again when the hook ends. */
	if (!(c->hold_left > 0))
		c->hold_left = c->deadline - now > 1.0 ? c->deadline - now : 1.0;
	if (!same(c->hook_id, id)) {
		record_set(&c->hook_id, id);
		c->hook_expires_at = cJSON_IsNumber(at) ? at->valuedouble : 0;
		iso_time(c->hook_expires_at, expires, sizeof(expires));
		rollout_emit(
		    r, LOG_NOTICE, EVENT_AWAITING_APPROVAL,
		    LOG_FIELDS({ "HOOK_ID", id },
			       { "LIFECYCLE_STAGE", *r->stage ? r->stage : NULL },
			       { "HOOK_EXPIRES_AT", expires }, { "HOOK_TIMEOUT_ACTION", action },
			       { "APPROVE", auto_ok ? "auto" : "manual" }),
		    "service '%s': the deployment of %s waits for approval at %s (PAUSE hook %s) "
		    "until %s, then ECS applies %s; %s",
		    c->service, c->digest, *r->stage ? r->stage : "a lifecycle hook", id, expires,
		    action,
		    auto_ok
			? "\"approve\": \"auto\": continuing it"
			: "approve or reject it: ecr-deployctl approve|reject WATCH/SERVICE (or "
			  "ecr-deployd --approve|--reject WATCH/SERVICE)");
		rollout_persist(r);
	}
	if (auto_ok && strcmp(r->continued, id)) {
		snprintf(r->continued, sizeof(r->continued), "%s", id);
		return STEP_APPROVING;
	}
	return OUT_WAIT;
}

/* The hook we waited at no longer awaits action: the timeout runs again from where it stood. */
static void hook_ended(struct rollout *r, const cJSON *sd)
{
	struct rollout_rec *c = r->rec;
	const cJSON *x;
	char status[32] = "ended";

	cJSON_ArrayForEach(x, cJSON_GetObjectItem(sd, "lifecycleHookDetails"))
	{
		if (same(str_of(x, "hookId"), c->hook_id))
			ecs_printable(str_of(x, "status") ?: "ended", status, sizeof(status));
	}
	r->awaiting = false;
	c->deadline = rollout_wall_now() + c->hold_left;
	c->hold_left = 0;
	rollout_emit(
	    r, LOG_NOTICE, NULL, LOG_FIELDS({ "HOOK_ID", c->hook_id }, { "HOOK_STATUS", status }),
	    "service '%s': PAUSE hook %s is %s; the rollout timeout runs again (%.0fs left)",
	    c->service, c->hook_id, status, c->deadline - rollout_wall_now());
	rollout_persist(r);
}

/* tracking-sd: what ECS says of our service deployment. */
int sd_read_tracking(struct rollout *r, struct aws_result *res)
{
	struct rollout_rec *c = r->rec;
	const char *missing = NULL;
	const cJSON *sd;
	struct track_sd_result out;

	if (!c->deployment_arn || !*c->deployment_arn || !res)
		return no_arn(r, OUT_UNMARKED);
	sd = find_sd(res->body, c->deployment_arn, &missing);
	double now = rollout_wall_now();
	/* While a hook awaits action the deadline moves with each look; from the record (after a
	 * restart) it is where the hook began: the time left is what counts. */
	struct track_sd_input in = { .sd = sd,
				     .missing = missing,
				     .seen = c->sd_status && *c->sd_status,
				     .now = now,
				     .deadline =
					 c->hold_left > 0 ? now + c->hold_left : c->deadline,
				     .appear_by = c->update_sent_at + rollout_appear_s(c) };
	track_sd(&in, &out);
	progress(r, &out);
	if (out.hook) {
		rollout_read_events(r);
		return awaiting(r, out.hook);
	}
	if (c->hold_left > 0)
		hook_ended(r, sd);
	snprintf(r->reason, sizeof(r->reason), "%s", out.reason);
	switch (out.verdict) {
	case SD_KEEP:
		rollout_read_events(r);
		return OUT_WAIT;
	case SD_DONE:
		return record_is_revision(c) ? OUT_DONE : STEP_CONFIRM_LIST;
	case SD_TIMEOUT:
		snprintf(r->reason, sizeof(r->reason),
			 "not complete within the rollout timeout (%.0fs; ECS: %s%s%s)",
			 (double)c->timeout_ms / 1000.0, c->sd_status ? c->sd_status : "?",
			 *r->stage ? " at " : "", r->stage);
		r->after_events = OUT_FAILED;
		break;
	case SD_FAILED:
		r->after_events = OUT_FAILED;
		break;
	case SD_ECS_ROLLBACK:
		r->after_events = OUT_ECS_ROLLBACK;
		break;
	case SD_SUPERSEDED:
		r->after_events = OUT_SUPERSEDED;
		break;
	default:
		r->after_events = OUT_ANOMALY;
		break;
	}
	return STEP_SD_EVENTS; /* ECS's events of the service, quoted in what is said next */
}

/* read-events: the service's events since ours started, for the outcome's message; a failed read
 * loses only the quote. */
int sd_read_events(struct rollout *r, struct aws_result *res)
{
	const cJSON *svc = res->ok ? ecs_find_service(res->body, r->rec->service) : NULL;

	if (svc)
		rollout_report_events(r, svc);
	if (svc && r->after_events == OUT_SUPERSEDED) {
		/* Who took over, as DescribeServices names it. */
		const cJSON *primary = ecs_primary(svc);
		const char *pid = str_of(primary, "id"), *ptd = str_of(primary, "taskDefinition");
		if (pid && ptd && !same(ptd, r->rec->new_td)) {
			char reason[sizeof(r->reason)], a[160], b[400];
			ecs_printable(pid, a, sizeof(a));
			ecs_printable(ptd, b, sizeof(b));
			snprintf(reason, sizeof(reason),
				 "superseded by deployment %s (%s), made by someone else; %.700s",
				 a, b, r->reason);
			memcpy(r->reason, reason, sizeof(reason));
		}
	}
	return r->after_events ? r->after_events : OUT_ANOMALY;
}

cJSON *sd_continue_params(struct rollout *r)
{
	cJSON *p = cJSON_CreateObject();

	if (p && (!r->rec->deployment_arn || !r->rec->hook_id ||
		  !cJSON_AddStringToObject(p, "serviceDeploymentArn", r->rec->deployment_arn) ||
		  !cJSON_AddStringToObject(p, "hookId", r->rec->hook_id) ||
		  !cJSON_AddStringToObject(p, "action", "CONTINUE"))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

/* approving ("approve": "auto"): ContinueServiceDeployment answered. Whatever it says, tracking
 * goes on: a refusal leaves the hook to an operator (said), never tried again for this hook. */
int sd_read_continue(struct rollout *r, struct aws_result *res)
{
	if (res->ok)
		rollout_emit(r, LOG_NOTICE, NULL, LOG_FIELDS({ "HOOK_ID", r->rec->hook_id }),
			     "service '%s': continued PAUSE hook %s (\"approve\": \"auto\")",
			     r->rec->service, r->rec->hook_id);
	else
		rollout_emit(
		    r, LOG_WARNING, EVENT_API_ERROR,
		    LOG_FIELDS({ "AWS_OPERATION", res->operation },
			       { "AWS_ERROR_CODE", res->err.code }, { "HOOK_ID", r->rec->hook_id }),
		    "service '%s': ContinueServiceDeployment of hook %s refused: %s: %s; %s",
		    r->rec->service, r->rec->hook_id, res->err.code, res->err.message,
		    !strcmp(res->err.code, "ConflictException")
			? "it no longer awaits action"
			: "an operator can approve it: ecr-deployctl approve WATCH/SERVICE");
	return STEP_TRACKING_SD;
}

/* An operator's ContinueServiceDeployment answered: said, the hook looked at again at once, the
 * operator told. */
static void on_continued(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	deployer_continued_fn done = r->continue_done;
	void *ud = r->continue_ud;
	const char *hook = r->rec->hook_id;

	r->continue_call = NULL;
	r->continue_done = NULL;
	if (res->ok) {
		rollout_emit(r, LOG_NOTICE, NULL, LOG_FIELDS({ "HOOK_ID", hook }),
			     "service '%s': PAUSE hook %s answered by an operator", r->rec->service,
			     hook);
		if (rollout_steps[r->rec->step].batched && !r->batch)
			r->next_at = ev_now(r->dp->d->loop); /* what ECS does next, at once */
	} else {
		rollout_emit(r, LOG_WARNING, EVENT_API_ERROR,
			     LOG_FIELDS({ "AWS_OPERATION", res->operation },
					{ "AWS_ERROR_CODE", res->err.code }, { "HOOK_ID", hook }),
			     "service '%s': ContinueServiceDeployment of hook %s, as an operator "
			     "asked, refused: %s: %s",
			     r->rec->service, hook, res->err.code, res->err.message);
	}
	done(res->ok ? 0 : -EIO, hook, res->ok ? NULL : &res->err, ud);
}

int sd_continue(struct rollout *r, bool rollback, deployer_continued_fn done, void *ud, char *why,
		size_t why_len)
{
	const struct rollout_rec *c = r->rec;
	char name[600];
	cJSON *p;
	int rc;

	deployer_target_name(c->watch, c->service, name, sizeof(name));
	if (r->continue_call) {
		snprintf(why, why_len, "an answer to PAUSE hook %s of '%s' is on its way already",
			 c->hook_id ? c->hook_id : "?", name);
		return -EBUSY;
	}
	if (!r->awaiting || !c->hook_id || !c->deployment_arn) {
		if (*r->stage)
			snprintf(why, why_len,
				 "nothing awaits approval on '%s': the rollout of %s is at step "
				 "'%s' (ECS: %s, %d/%d tasks)",
				 name, c->digest, record_step_name(c->step), r->stage, r->running,
				 r->desired);
		else
			snprintf(why, why_len,
				 "nothing awaits approval on '%s': the rollout of %s is at step "
				 "'%s' (%d/%d tasks)",
				 name, c->digest, record_step_name(c->step), r->running,
				 r->desired);
		return -ENOENT;
	}
	p = cJSON_CreateObject();
	if (!p || !cJSON_AddStringToObject(p, "serviceDeploymentArn", c->deployment_arn) ||
	    !cJSON_AddStringToObject(p, "hookId", c->hook_id) ||
	    !cJSON_AddStringToObject(p, "action", rollback ? "ROLLBACK" : "CONTINUE")) {
		cJSON_Delete(p);
		snprintf(why, why_len, "out of memory while answering the hook of '%s'", name);
		return -ENOMEM;
	}
	struct aws_call_spec spec = { .service = &aws_ecs,
				      .operation = "ContinueServiceDeployment",
				      .params = p,
				      .creds = r->creds,
				      .region = c->region,
				      /* sent again only when it surely was not carried out: a
				       * second one would be refused (the hook no longer awaits) */
				      .not_idempotent = true };
	rc = aws_call(r->dp->d->aws, &spec, on_continued, r, &r->continue_call);
	cJSON_Delete(p);
	if (rc < 0) {
		r->continue_call = NULL;
		snprintf(why, why_len, "cannot call ContinueServiceDeployment for '%s': %s", name,
			 rc == -ENOMEM ? "out of memory" : "no ECS endpoint for the region");
		return rc == -ENOMEM ? -ENOMEM : -EIO;
	}
	r->continue_done = done;
	r->continue_ud = ud;
	return 0;
}

cJSON *sd_stop_params(struct rollout *r)
{
	cJSON *p = cJSON_CreateObject();

	if (p && (!r->rec->deployment_arn ||
		  !cJSON_AddStringToObject(p, "serviceDeploymentArn", r->rec->deployment_arn) ||
		  !cJSON_AddStringToObject(p, "stopType", "ROLLBACK"))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

/* ECS will not roll ours back (why): the pinned revision that ran before, through UpdateService,
 * where there is one. */
static int roll_back_ourselves(struct rollout *r, const char *why)
{
	struct rollout_rec *c = r->rec;

	if (!c->rollback || !record_is_revision(c)) {
		snprintf(r->reason, sizeof(r->reason), "%s; %s", why,
			 c->rollback ? "strategy 'force' reuses the task definition, so there is "
				       "nothing else to roll back to"
				     : "rollback is off for this target");
		return OUT_ROLLBACK_FAILED;
	}
	rollout_emit(r, LOG_WARNING, NULL, NULL,
		     "service '%s': %s; rolling back with UpdateService to the revision that ran "
		     "before",
		     c->service, why);
	c->rollback_by = ROLLBACK_BY_US;
	return STEP_ROLLBACK;
}

/* stopping: StopServiceDeployment(ROLLBACK) answered. */
int sd_read_stop(struct rollout *r, struct aws_result *res)
{
	struct rollout_rec *c = r->rec;
	char why[1200];

	if (res->ok) {
		r->said_rollback = true;
		rollout_emit(
		    r, LOG_WARNING, EVENT_ROLLBACK_STARTED, NULL,
		    "stopped our deployment of service '%s' with "
		    "StopServiceDeployment(ROLLBACK): ECS rolls it back to %s; following it",
		    c->service, c->base_td ? c->base_td : "what ran before");
		return STEP_RB_TRACKING_SD;
	}
	if (!strcmp(res->err.code, "ConflictException"))
		return STEP_SD_CHECK; /* not in progress any more: how did it end? */
	snprintf(why, sizeof(why), "StopServiceDeployment was refused (%s: %.900s)", res->err.code,
		 res->err.message);
	return roll_back_ourselves(r, why);
}

/* stop-check: after a stop whose reply was lost, or refused as not in progress. */
int sd_read_check(struct rollout *r, struct aws_result *res)
{
	struct rollout_rec *c = r->rec;
	const char *missing = NULL, *st;
	const cJSON *sd = find_sd(res->body, c->deployment_arn, &missing);
	char why[300], p[64];

	st = str_of(sd, "status");
	if (st)
		record_set(&c->sd_status, st);
	if (st && !strncmp(st, "ROLLBACK_", 9)) {
		r->said_rollback = true;
		rollout_emit(r, LOG_WARNING, EVENT_ROLLBACK_STARTED, NULL,
			     "ECS rolls service '%s' back to %s (%s); following it", c->service,
			     c->base_td ? c->base_td : "what ran before", st);
		return STEP_RB_TRACKING_SD;
	}
	if (same(st, "PENDING") || same(st, "IN_PROGRESS")) {
		if (rollout_wall_now() > c->rollback_deadline || r->stops >= 2)
			return roll_back_ourselves(r,
						   "ECS does not roll our deployment back on "
						   "StopServiceDeployment (it stays in progress)");
		if (rollout_wait_for_sent(r, c->stop_sent_at, "rollback of our stop"))
			return OUT_WAIT;
		r->stops++;
		return STEP_SD_STOP;
	}
	ecs_printable(st ? st : missing ? missing : "no answer", p, sizeof(p));
	snprintf(why, sizeof(why), "ECS ended our deployment without a rollback (%s)", p);
	return roll_back_ourselves(r, why);
}

/* rollback-tracking-sd: ECS's rollback of our service deployment. */
int sd_read_rb_tracking(struct rollout *r, struct aws_result *res)
{
	struct rollout_rec *c = r->rec;
	const char *missing = NULL;
	struct track_sd_result out;

	if (!c->deployment_arn || !*c->deployment_arn || !res)
		return no_arn(r, OUT_ROLLBACK_FAILED);
	struct track_sd_input in = { .sd = find_sd(res->body, c->deployment_arn, &missing),
				     .missing = missing,
				     .rolling_back = true,
				     .now = rollout_wall_now(),
				     .deadline = c->rollback_deadline,
				     .appear_by = c->rollback_deadline };
	track_sd(&in, &out);
	if (out.status)
		record_set(&c->sd_status, out.status);
	if (out.running >= 0)
		r->running = out.running;
	if (out.desired >= 0)
		r->desired = out.desired;
	snprintf(r->reason, sizeof(r->reason), "%s", out.reason);
	switch (out.verdict) {
	case SD_KEEP:
		return OUT_WAIT;
	case SD_ROLLED_BACK:
		return OUT_ROLLED_BACK;
	case SD_NOT_ROLLING_BACK:
		return roll_back_ourselves(r, out.reason);
	default:
		return OUT_ROLLBACK_FAILED;
	}
}

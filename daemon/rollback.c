/* SPDX-License-Identifier: MIT */
/*
 * The rollback steps of the rollout engine (rollout.h): back to what ran before, always pinned
 * to a digest (a revision that names a tag would pull the failed image again), or following
 * ECS's own circuit-breaker rollback.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "ecs.h"
#include "events.h"
#include "rollout.h"
#include "track.h"

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

/* A record (old or edited) without the revision to go back to: never sent as forceNewDeployment,
 * which would restart what runs, nor tracked from an absence. */
static int no_target(struct rollout *r)
{
	snprintf(r->reason, sizeof(r->reason),
		 "the rollout record at step '%s' names no revision to roll back to (no "
		 "rollback_td, and its previous task definition is not pinned to a digest)",
		 record_step_name(r->rec->step));
	return OUT_ROLLBACK_FAILED;
}

/* The revision to go back to is known: strategy codedeploy deploys it through CodeDeploy, the
 * others update the service to it (once it is seen not made already). */
static int after_target(const struct rollout *r)
{
	return record_is_codedeploy(r->rec) ? STEP_CD_RB_CREATING : STEP_RB_CHECK;
}

const char *rollback_target_td(const struct rollout *r)
{
	const struct rollout_rec *c = r->rec;

	if (c->rollback_td && *c->rollback_td)
		return c->rollback_td;
	/* ECS's own rollback goes back to the digests it resolved for that revision. */
	return c->base_pinned || c->rollback_by == ROLLBACK_BY_ECS ||
		       c->rollback_by == ROLLBACK_BY_STOP
		   ? c->base_td
		   : NULL;
}

/* rollback: which revision to go back to. No request. */
int rollback_read_start(struct rollout *r, struct aws_result *res)
{
	struct rollout_rec *c = r->rec;

	(void)res;
	/* After ECS's rollback did not happen, ROLLBACK_STARTED was said already: once. */
	const char *id = r->said_rollback ? NULL : EVENT_ROLLBACK_STARTED;

	if (rollback_target_td(r)) {
		rollout_emit(r, LOG_WARNING, id, NULL, "rolling service '%s' back to %s",
			     c->service, rollback_target_td(r));
		return after_target(r);
	}
	if (digest_valid(c->previous_digest)) {
		rollout_emit(r, LOG_WARNING, id, NULL,
			     "rolling service '%s' back to %s, as a revision of %s pinned to it "
			     "(that one names a tag, which now points at the failed image)",
			     c->service, c->previous_digest, c->base_td);
		return STEP_RB_FIND;
	}
	snprintf(r->reason, sizeof(r->reason),
		 "the revision it ran before (%s) names a tag, which now points at the failed "
		 "image, and the digest that ran before is unknown (no task reported one, and the "
		 "tag's digest before this push was never seen); a tag is never deployed as a "
		 "rollback: deploy a known-good digest by hand, or push one",
		 c->base_td ? c->base_td : "unknown");
	return OUT_ROLLBACK_FAILED;
}

/* rollback-find: a revision pinning the digest that ran, made by us from base_td, may exist
 * (made before a stop): the family's latest, by our tags. */
int rollback_read_find(struct rollout *r, struct aws_result *res)
{
	const char *arn =
	    res->ok ? ecs_ours_already(res->body, r->rec->previous_digest, r->rec->base_td) : NULL;

	if (!arn && rollout_wait_for_sent(r, r->rec->rollback_register_sent_at,
					  "pinned revision for the rollback"))
		return OUT_WAIT;
	if (!arn)
		return STEP_RB_READ_BASE;
	if (record_set(&r->rec->rollback_td, arn) < 0)
		return OUT_RETRY;
	return after_target(r);
}

cJSON *rollback_base_params(struct rollout *r)
{
	return rollout_td_params(r->rec->base_td, true);
}

int rollback_read_base(struct rollout *r, struct aws_result *res)
{
	char why[800];
	cJSON *params = NULL;
	int rc = deploy_pin(r, res->body, r->rec->previous_digest, "", &params, why, sizeof(why));

	if (rc == -ENOMEM)
		return OUT_RETRY;
	if (rc < 0) {
		snprintf(r->reason, sizeof(r->reason), "%s", why);
		return OUT_ROLLBACK_FAILED;
	}
	cJSON_Delete(r->described);
	r->described = params;
	return STEP_RB_REGISTERING;
}

cJSON *rollback_register_params(struct rollout *r)
{
	return r->described ? cJSON_Duplicate(r->described, 1) : NULL;
}

int rollback_read_registered(struct rollout *r, struct aws_result *res)
{
	const char *arn = ecs_taskdef_arn(res->body);

	if (!arn) {
		snprintf(r->reason, sizeof(r->reason), "RegisterTaskDefinition returned no ARN");
		return OUT_ROLLBACK_FAILED;
	}
	if (record_set(&r->rec->rollback_td, arn) < 0)
		return OUT_RETRY;
	cJSON_Delete(r->described);
	r->described = NULL;
	return after_target(r);
}

/* rollback-check: made already (before a stop)? Then it is the PRIMARY, on the old revision. */
int rollback_read_check(struct rollout *r, struct aws_result *res)
{
	const cJSON *svc = ecs_find_service(res->body, r->rec->service);
	const cJSON *primary = ecs_primary(svc);
	const char *pid = str_of(primary, "id");

	if (!rollback_target_td(r))
		return no_target(r);
	if (!svc) {
		snprintf(r->reason, sizeof(r->reason), "the service no longer exists");
		return OUT_ROLLBACK_FAILED;
	}
	if (pid && strcmp(pid, r->rec->deployment_id ? r->rec->deployment_id : "") &&
	    !strcmp(str_of(primary, "taskDefinition") ?: "", rollback_target_td(r))) {
		if (record_set(&r->rec->rollback_deployment_id, pid) < 0)
			return OUT_RETRY;
		return STEP_RB_TRACKING;
	}
	if (rollout_wait_for_sent(r, r->rec->rollback_sent_at, "rollback deployment"))
		return OUT_WAIT;
	return STEP_ROLLING_BACK;
}

cJSON *rollback_update_params(struct rollout *r)
{
	return rollout_update_params(r, rollback_target_td(r));
}

int rollback_read_update(struct rollout *r, struct aws_result *res)
{
	const cJSON *svc = cJSON_GetObjectItem(res->body, "service");
	struct track_input in = { .svc = svc,
				  .td = rollback_target_td(r),
				  /* neither the deployment before ours (it may run the same
				   * revision) nor our failed one is the rollback's */
				  .prev_deployment = r->rec->prev_deployment,
				  .not_ours = r->rec->deployment_id };
	const cJSON *ours = track_ours(&in);

	if (ours && record_set(&r->rec->rollback_deployment_id, str_of(ours, "id")) < 0)
		return OUT_RETRY;
	return STEP_RB_TRACKING;
}

/* rollback-tracking: ours, or ECS's. */
int rollback_read_tracking(struct rollout *r, struct aws_result *res)
{
	const cJSON *svc = ecs_find_service(res->body, r->rec->service);
	struct track_result out;

	if (!rollback_target_td(r))
		return no_target(r);
	if (!svc) {
		snprintf(r->reason, sizeof(r->reason), "the service no longer exists");
		return OUT_ROLLBACK_FAILED;
	}
	rollout_report_events(r, svc);
	struct track_input in = { .svc = svc,
				  .id = r->rec->rollback_deployment_id,
				  .td = rollback_target_td(r),
				  /* neither the deployment before ours (it may run the same
				   * revision) nor our failed one is the rollback's */
				  .prev_deployment = r->rec->prev_deployment,
				  .not_ours = r->rec->deployment_id,
				  .now = rollout_wall_now(),
				  .deadline = r->rec->rollback_deadline,
				  .appear_by = r->rec->rollback_sent_at + rollout_appear_s(r->rec),
				  .since = r->rec->rollback_sent_at - 5.0 };
	track_verdict(&in, &out);
	r->running = ecs_count(out.ours, "runningCount");
	r->desired = ecs_count(out.ours, "desiredCount");
	if (out.ours && !r->rec->rollback_deployment_id)
		record_set(&r->rec->rollback_deployment_id, str_of(out.ours, "id"));
	switch (out.verdict) {
	case TRACK_KEEP:
		return OUT_WAIT;
	case TRACK_DONE:
		return OUT_ROLLED_BACK;
	case TRACK_SUPERSEDED:
		snprintf(r->reason, sizeof(r->reason),
			 "another deployment superseded the rollback (%s)", out.reason);
		return OUT_ROLLBACK_FAILED;
	case TRACK_TIMEOUT:
		snprintf(r->reason, sizeof(r->reason), "not complete within the rollout timeout");
		return OUT_ROLLBACK_FAILED;
	default:
		snprintf(r->reason, sizeof(r->reason), "%s", out.reason);
		return OUT_ROLLBACK_FAILED;
	}
}

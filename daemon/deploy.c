/* SPDX-License-Identifier: MIT */
/*
 * The deploy steps of the rollout engine (rollout.h): read the service, register the revision
 * pinned to the digest, update the service, track our deployment, and (strategy force) confirm
 * that its tasks run the digest. Each reader returns the next step or an outcome.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdtrack.h"
#include "ecs.h"
#include "events.h"
#include "guard.h"
#include "rollout.h"
#include "strmap.h"
#include "taskdef.h"
#include "track.h"

#define RESTARTS_MAX 3 /* re-reads after the service changed under us */

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

static bool same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* The RegisterTaskDefinition of the task definition described with the target's containers
 * pinned to digest; see taskdef_pin() for the returns. */
int deploy_pin(struct rollout *r, const cJSON *described, const char *digest, const char *tag,
	       cJSON **ret, char *why, size_t why_len)
{
	const char *names[RECORD_CONTAINERS];
	char image[700];

	for (size_t i = 0; i < r->rec->n_containers; i++)
		names[i] = r->rec->containers[i];
	snprintf(image, sizeof(image), "%s@%s", r->rec->image, digest);
	if (tag && *tag && record_set(&r->rec->pinned_image, image) < 0)
		return -ENOMEM;
	return taskdef_pin(described, names, r->rec->n_containers, image, digest, tag, ret, why,
			   why_len);
}

/* Ours in a service: the deployment of our revision (or, for force, a PRIMARY that is not the
 * one before), newest first. */
static const cJSON *find_ours(const struct rollout *r, const cJSON *svc)
{
	struct track_input in = { .svc = svc,
				  .td = record_is_revision(r->rec) ? r->rec->new_td : NULL,
				  .prev_deployment = r->rec->prev_deployment };

	return track_ours(&in);
}

/* start: where is the service? */
bool deploy_controller_refuses(bool codedeploy, const char *controller, char *why, size_t n)
{
	char v[64];

	if (!controller)
		controller = "ECS";
	if (codedeploy ? same(controller, "CODE_DEPLOY") : same(controller, "ECS"))
		return false;
	ecs_printable(controller, v, sizeof(v));
	if (codedeploy)
		snprintf(why, n,
			 "strategy 'codedeploy' deploys through CodeDeploy, but the service's "
			 "deployment controller is %s, not CODE_DEPLOY (use strategy 'revision')",
			 v);
	else
		snprintf(
		    why, n,
		    "the service's deployment controller is %s, which refuses UpdateService of "
		    "a new task definition%s",
		    v,
		    same(controller, "CODE_DEPLOY") ? " (strategy 'codedeploy' deploys through "
						      "CodeDeploy)"
						    : " (it deploys by task sets)");
	return true;
}

void deploy_guard_refusal(const struct guard_finding *f, size_t n, char *why, size_t len)
{
	size_t k =
	    (size_t)snprintf(why, len,
			     "the service's deployment configuration is not safe (\"guard\": "
			     "\"enforce\"): ");

	for (size_t i = 0; i < n && k < len; i++)
		k += (size_t)snprintf(why + k, len - k, "%s%.127s = %.159s (%.200s)", i ? "; " : "",
				      f[i].setting, f[i].value, f[i].why);
}

int deploy_read_start(struct rollout *r, struct aws_result *res)
{
	const cJSON *svc = ecs_find_service(res->body, r->rec->service);
	const char *td = str_of(svc, "taskDefinition"), *status = str_of(svc, "status");

	if (!svc || !td)
		return rollout_block(r, "DescribeServices",
				     "the service does not exist in cluster '%s'", r->rec->cluster);
	if (status && strcmp(status, "ACTIVE"))
		return rollout_block(r, "DescribeServices", "the service is %s, not ACTIVE",
				     status);
	if (deploy_controller_refuses(
		record_is_codedeploy(r->rec),
		str_of(cJSON_GetObjectItem(svc, "deploymentController"), "type"), r->reason,
		sizeof(r->reason))) {
		r->skip_reason = "deployment-controller";
		return OUT_SKIPPED;
	}
	if (record_is_codedeploy(r->rec))
		return cd_start(r, svc);
	if (record_set(&r->rec->base_td, td) < 0 ||
	    record_set(&r->rec->prev_deployment, str_of(ecs_primary(svc), "id")) < 0 ||
	    record_set(&r->rec->prev_deployment_arn, str_of(svc, "currentServiceDeployment")) < 0)
		return OUT_RETRY;
	cJSON_Delete(r->svc);
	r->svc = cJSON_Duplicate(svc, 1); /* the guard's, at read-base */
	if (!r->svc)
		return OUT_RETRY;
	/* A fresh start: a revision named before (deregistered, resumed at deregister) is not ours
	 * to update to, nor to deregister again. */
	free(r->rec->new_td);
	r->rec->new_td = NULL;
	return record_is_revision(r->rec) || !same(r->rec->guard, "off") ? STEP_READ_BASE
									 : STEP_UPDATING;
}

/*
 * The zero-downtime guard, on the service read at start and the task definition it runs: "warn"
 * says each unsafe setting once per target until its value changes; "enforce" skips the deploy.
 * Returns 0 to go on, or OUT_SKIPPED.
 */
static int guard(struct rollout *r, const cJSON *td)
{
	struct rollout_rec *c = r->rec;
	struct guard_finding f[GUARD_FINDINGS_MAX];
	const char *names[RECORD_CONTAINERS];
	size_t n;

	if (same(c->guard, "off") || !r->svc)
		return 0;
	for (size_t i = 0; i < c->n_containers; i++)
		names[i] = c->containers[i];
	n = guard_check(r->svc, td, names, c->n_containers, !record_is_revision(c), c->rollback, f,
			GUARD_FINDINGS_MAX);
	if (n && same(c->guard, "enforce")) {
		deploy_guard_refusal(f, n, r->reason, sizeof(r->reason));
		r->skip_reason = "unsafe-deployment-config";
		return OUT_SKIPPED;
	}
	/* What was said for this target: "setting=value\n" per finding. A finding is said when it
	 * is not in it (new, or its value changed); a setting that became safe leaves it, so that
	 * it is said again if it comes back. */
	char key[1300], now_set[GUARD_FINDINGS_MAX * 300] = "";
	size_t len_set = 0;
	const char *said;
	snprintf(key, sizeof(key), "%.600s\x1f%.600s", c->watch, c->tkey);
	said = strmap_get(r->dp->guard_said, key);
	for (size_t i = 0; i < n; i++) {
		char item[300];
		snprintf(item, sizeof(item), "\x1e%.127s=%.159s\n", f[i].setting, f[i].value);
		if (len_set + strlen(item) < sizeof(now_set))
			len_set += (size_t)snprintf(now_set + len_set, sizeof(now_set) - len_set,
						    "%s", item);
		if (said && strstr(said, item))
			continue;
		rollout_emit(
		    r, LOG_WARNING, EVENT_GUARD_WARNING,
		    LOG_FIELDS({ "GUARD_SETTING", f[i].setting }, { "GUARD_VALUE", f[i].value },
			       { "GUARD_MODE", "warn" }),
		    "service '%s': %s = %s is not safe for a zero-downtime deploy: %s; "
		    "deploying all the same (\"guard\": \"warn\"; said once until it changes)",
		    c->service, f[i].setting, f[i].value, f[i].why);
	}
	if (!said || strcmp(said, now_set)) {
		char *copy = strdup(now_set);
		void *old = NULL;
		if (copy && strmap_put(r->dp->guard_said, key, copy, &old) < 0)
			free(copy);
		else
			free(old);
	}
	return 0;
}

cJSON *deploy_read_base_params(struct rollout *r)
{
	return rollout_td_params(r->rec->base_td, true);
}

/* read-base: the revision the service runs, to copy; what it pins is the digest that ran. */
int deploy_read_base(struct rollout *r, struct aws_result *res)
{
	const cJSON *td = cJSON_GetObjectItem(res->body, "taskDefinition");
	const char *first = r->rec->containers[0], *pinned = NULL;
	char why[600];
	cJSON *params = NULL;
	int skip = guard(r, td);

	if (skip)
		return skip;
	/* ECS's own rollback (StopServiceDeployment) would resolve again a tag of the revision
	 * before, which now names the failed image, when its versionConsistency is disabled. */
	r->rec->no_stop = false;
	for (size_t i = 0; i < r->rec->n_containers; i++) {
		const cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(td, "containerDefinitions"))
		{
			const char *img = str_of(c, "image");
			if (same(str_of(c, "name"), r->rec->containers[i]) && img &&
			    !image_pinned_digest(img) &&
			    same(str_of(c, "versionConsistency"), "disabled"))
				r->rec->no_stop = true;
		}
	}
	if (!record_pins(r->rec))
		return STEP_UPDATING; /* force: the task definition was read for the guard */
	if (record_set(&r->rec->family, str_of(td, "family")) < 0)
		return OUT_RETRY;
	if (ecs_pinned_digest(td, first, &pinned) == -EINVAL) {
		char v[400];
		ecs_printable(pinned, v, sizeof(v));
		rollout_emit(r, LOG_WARNING, NULL, NULL,
			     "service '%s': task definition %s pins container '%s' to '%s', which "
			     "is not a valid digest; it is ignored",
			     r->rec->service, r->rec->base_td, first, v);
		pinned = NULL;
	}
	if (pinned && record_set(&r->rec->previous_digest, pinned) < 0)
		return OUT_RETRY;
	r->rec->base_pinned = pinned != NULL;
	int rc = deploy_pin(r, res->body, r->rec->digest, r->rec->tag, &params, why, sizeof(why));
	if (rc == -ENOMEM)
		return OUT_RETRY;
	if (rc < 0)
		return rollout_block(r, "DescribeTaskDefinition", "%s", why);
	cJSON_Delete(r->described);
	r->described = params; /* what registering sends */
	return STEP_REGISTERING;
}

cJSON *deploy_register_params(struct rollout *r)
{
	return r->described ? cJSON_Duplicate(r->described, 1) : NULL;
}

/* registering: RegisterTaskDefinition answered. */
int deploy_read_registered(struct rollout *r, struct aws_result *res)
{
	const char *arn = ecs_taskdef_arn(res->body);

	if (!arn) {
		snprintf(r->reason, sizeof(r->reason), "RegisterTaskDefinition returned no ARN");
		return OUT_UNMARKED;
	}
	if (record_set(&r->rec->new_td, arn) < 0)
		return OUT_RETRY;
	cJSON_Delete(r->described);
	r->described = NULL;
	/* pinned_image is set only with a tag (an operator's digest has none): else named here */
	rollout_emit(r, LOG_INFO, NULL, NULL, "service '%s': registered %s with %s%s%s",
		     r->rec->service, arn,
		     r->rec->pinned_image ? r->rec->pinned_image : r->rec->image,
		     r->rec->pinned_image ? "" : "@", r->rec->pinned_image ? "" : r->rec->digest);
	return STEP_REGISTERED;
}

cJSON *deploy_family_params(struct rollout *r)
{
	return rollout_td_params(r->rec->family ? r->rec->family : r->rec->base_td, true);
}

/* find-registered (resuming registering): is the family's latest revision ours, by our tags? */
int deploy_read_find_registered(struct rollout *r, struct aws_result *res)
{
	const char *arn =
	    res->ok ? ecs_ours_already(res->body, r->rec->digest, r->rec->base_td) : NULL;

	if (!arn && rollout_wait_for_sent(r, r->rec->register_sent_at, "revision of ours"))
		return OUT_WAIT;
	if (!arn)
		return STEP_START; /* never registered: start over from a fresh read */
	if (record_set(&r->rec->new_td, arn) < 0)
		return OUT_RETRY;
	rollout_emit(r, LOG_INFO, NULL, NULL,
		     "service '%s': %s was registered before the restart; using it",
		     r->rec->service, arn);
	return STEP_REGISTERED;
}

/* The service moved between our read and our update: never overwrite; read it again (after
 * deregistering our revision, which would go unused). */
static int service_changed(struct rollout *r, const char *now_td)
{
	r->restarts++;
	rollout_emit(r, LOG_WARNING, NULL, LOG_FIELDS({ "CURRENT_TASK_DEFINITION", now_td }),
		     "service '%s' changed under us (it now runs %s, not %s); %s", r->rec->service,
		     now_td, r->rec->base_td,
		     r->restarts > RESTARTS_MAX ? "giving up"
						: "reading it again and deciding anew");
	if (r->restarts > RESTARTS_MAX)
		return rollout_block(r, "DescribeServices", "the service kept changing under us");
	if (r->rec->new_td && *r->rec->new_td)
		return deploy_deregister_then(r, STEP_START);
	return STEP_START;
}

/* Whether the record lacks our revision where strategy revision needs it (a record written by
 * an older version, or edited): UpdateService would go out without it (forceNewDeployment of
 * what runs) and the tracking would follow a deployment that is not ours. */
static bool lacks_revision(struct rollout *r)
{
	if (!record_pins(r->rec) || (r->rec->new_td && *r->rec->new_td))
		return false;
	rollout_emit(r, LOG_WARNING, NULL, NULL,
		     "service '%s': the rollout record at step '%s' names no revision of ours; "
		     "starting the rollout over",
		     r->rec->service, record_step_name(r->rec->step));
	return true;
}

/* registered: is the service where we read it? */
int deploy_read_check(struct rollout *r, struct aws_result *res)
{
	const cJSON *svc = ecs_find_service(res->body, r->rec->service);
	const char *td =
	    record_is_codedeploy(r->rec) ? cdtrack_base_td(svc) : str_of(svc, "taskDefinition");

	if (!svc)
		return rollout_block(r, "DescribeServices", "the service does not exist");
	if (lacks_revision(r))
		return STEP_START;
	if (!same(td, r->rec->base_td))
		return service_changed(r, td ? td : "nothing");
	return record_is_codedeploy(r->rec) ? STEP_CD_CREATING : STEP_UPDATING;
}

int deploy_deregister_then(struct rollout *r, int after)
{
	rollout_emit(r, LOG_NOTICE, NULL, NULL,
		     "service '%s': deregistering %s, registered by us and now unused",
		     r->rec->service, r->rec->new_td);
	r->after_deregister = after;
	return STEP_DEREGISTER;
}

cJSON *deploy_deregister_params(struct rollout *r)
{
	return rollout_td_params(r->rec->new_td, false);
}

/* deregister: our revision would go unused; best effort, said either way. */
int deploy_read_deregistered(struct rollout *r, struct aws_result *res)
{
	char note[1400];
	size_t len = strlen(r->reason);

	if (res->ok)
		snprintf(note, sizeof(note), "our revision %s, registered for it, was deregistered",
			 r->rec->new_td);
	else
		snprintf(note, sizeof(note),
			 "our revision %s, registered for it, stays registered (%s: %s)",
			 r->rec->new_td, res->err.code, res->err.message);
	rollout_emit(r, res->ok ? LOG_NOTICE : LOG_WARNING, NULL, NULL, "service '%s': %s",
		     r->rec->service, note);
	if (len && len < sizeof(r->reason))
		snprintf(r->reason + len, sizeof(r->reason) - len, "; %.600s", note);
	free(r->rec->new_td);
	r->rec->new_td = NULL;
	return r->after_deregister;
}

cJSON *deploy_update_params(struct rollout *r)
{
	return rollout_update_params(r, record_is_revision(r->rec) ? r->rec->new_td : NULL);
}

/* The ARN of the service deployment ECS names current, when the reply has a plausible one that
 * is not the one current before our UpdateService. True when ours is known by it. */
static bool keep_arn(struct rollout *r, const cJSON *svc)
{
	const char *arn = str_of(svc, "currentServiceDeployment");

	if (arn && !strncmp(arn, "arn:", 4) && strlen(arn) < 300 && !strpbrk(arn, " \t\r\n\"\\") &&
	    !same(arn, r->rec->prev_deployment_arn))
		record_set(&r->rec->deployment_arn, arn);
	return r->rec->deployment_arn && *r->rec->deployment_arn;
}

/* updating: UpdateService answered; which deployment is ours? */
int deploy_read_update(struct rollout *r, struct aws_result *res)
{
	const cJSON *svc = cJSON_GetObjectItem(res->body, "service");
	const cJSON *dep = find_ours(r, svc);
	bool by_arn = keep_arn(r, svc);

	if (dep && record_set(&r->rec->deployment_id, str_of(dep, "id")) < 0)
		return OUT_RETRY;
	if (by_arn) {
		rollout_emit(r, LOG_INFO, NULL, NULL,
			     "service '%s': service deployment %s started; tracking it",
			     r->rec->service, r->rec->deployment_arn);
		return STEP_TRACKING_SD;
	}
	if (dep)
		rollout_emit(r, LOG_INFO, NULL, NULL,
			     "service '%s': deployment %s started; tracking it", r->rec->service,
			     r->rec->deployment_id);
	else
		rollout_emit(r, LOG_NOTICE, NULL, NULL,
			     "service '%s': UpdateService was answered, but ECS does not list a "
			     "deployment of ours yet; looking for it for up to %.0fs",
			     r->rec->service, rollout_appear_s(r->rec));
	return STEP_TRACKING;
}

/* find-update (resuming updating): did ECS make our deployment before the stop? */
int deploy_read_find_update(struct rollout *r, struct aws_result *res)
{
	const cJSON *svc = ecs_find_service(res->body, r->rec->service);
	const cJSON *dep = find_ours(r, svc);
	const char *td = str_of(svc, "taskDefinition");

	if (!svc)
		return rollout_block(r, "DescribeServices", "the service does not exist");
	if (lacks_revision(r))
		return STEP_START;
	if (dep) {
		if (record_set(&r->rec->deployment_id, str_of(dep, "id")) < 0)
			return OUT_RETRY;
		rollout_emit(r, LOG_INFO, NULL, NULL,
			     "service '%s': deployment %s was made before the restart; tracking it",
			     r->rec->service, r->rec->deployment_id);
		/* Its service deployment is the current one only while ours is PRIMARY. */
		if (same(str_of(dep, "status"), "PRIMARY") && keep_arn(r, svc))
			return STEP_TRACKING_SD;
		return STEP_TRACKING;
	}
	if (rollout_wait_for_sent(r, r->rec->update_sent_at,
				  record_is_revision(r->rec) ? "deployment of our revision"
							     : "forced deployment"))
		return OUT_WAIT;
	/* Not listed and its time is out: did ECS say what became of it? */
	struct track_input in = { .svc = svc,
				  .td = record_is_revision(r->rec) ? r->rec->new_td : NULL,
				  .prev_deployment = r->rec->prev_deployment,
				  .now = rollout_wall_now(),
				  .deadline = r->rec->deadline,
				  .since = r->rec->update_sent_at - 5.0 };
	struct track_result out;
	track_verdict(&in, &out);
	if (r->rec->update_sent_at > 0 && out.verdict == TRACK_ECS_ROLLBACK) {
		snprintf(r->reason, sizeof(r->reason),
			 "%s; our UpdateService is not listed: not sending it again", out.reason);
		record_set(&r->rec->rollback_deployment_id, str_of(out.other, "id"));
		return OUT_ECS_ROLLBACK;
	}
	if (r->rec->update_sent_at > 0 && out.verdict == TRACK_SUPERSEDED &&
	    record_is_revision(r->rec)) {
		snprintf(r->reason, sizeof(r->reason), "%.800s after our UpdateService",
			 out.reason);
		return OUT_SUPERSEDED;
	}
	if (!same(td, r->rec->base_td))
		return service_changed(r, td ? td : "nothing");
	return STEP_UPDATING;
}

/* tracking: what ECS says of our deployment. */
int deploy_read_tracking(struct rollout *r, struct aws_result *res)
{
	const cJSON *svc = ecs_find_service(res->body, r->rec->service);
	struct track_result out;

	if (!svc) {
		snprintf(r->reason, sizeof(r->reason), "the service no longer exists");
		return OUT_UNMARKED;
	}
	if (record_is_revision(r->rec) && !(r->rec->new_td && *r->rec->new_td)) {
		snprintf(r->reason, sizeof(r->reason),
			 "the rollout record at step '%s' names no revision of ours to track",
			 record_step_name(r->rec->step));
		return OUT_UNMARKED;
	}
	rollout_report_events(r, svc);
	struct track_input in = { .svc = svc,
				  .id = r->rec->deployment_id,
				  .td = record_is_revision(r->rec) ? r->rec->new_td : NULL,
				  .prev_deployment = r->rec->prev_deployment,
				  .now = rollout_wall_now(),
				  .deadline = r->rec->deadline,
				  .appear_by = r->rec->update_sent_at + rollout_appear_s(r->rec),
				  .since = r->rec->update_sent_at - 5.0 };
	track_verdict(&in, &out);
	r->running = ecs_count(out.ours, "runningCount");
	r->desired = ecs_count(out.ours, "desiredCount");
	if (out.ours && !r->rec->deployment_id) {
		record_set(&r->rec->deployment_id, str_of(out.ours, "id"));
		rollout_emit(r, LOG_INFO, NULL, NULL,
			     "service '%s': deployment %s of ours is listed now; tracking it",
			     r->rec->service, r->rec->deployment_id);
	}
	snprintf(r->reason, sizeof(r->reason), "%s", out.reason);
	/* Listed now as the current deployment: its service deployment says the rest (done only
	 * when it is SUCCESSFUL, after bake time and hooks). */
	if ((out.verdict == TRACK_KEEP || out.verdict == TRACK_DONE) && out.ours &&
	    !r->sd_refused && same(str_of(out.ours, "status"), "PRIMARY") && keep_arn(r, svc)) {
		rollout_emit(r, LOG_INFO, NULL, NULL,
			     "service '%s': tracking service deployment %s", r->rec->service,
			     r->rec->deployment_arn);
		return STEP_TRACKING_SD;
	}
	switch (out.verdict) {
	case TRACK_KEEP:
		return OUT_WAIT;
	case TRACK_DONE:
		return record_is_revision(r->rec) ? OUT_DONE : STEP_CONFIRM_LIST;
	case TRACK_FAILED:
		return OUT_FAILED;
	case TRACK_TIMEOUT:
		snprintf(r->reason, sizeof(r->reason),
			 "not complete within the rollout timeout (%.0fs)",
			 (double)r->rec->timeout_ms / 1000.0);
		return OUT_FAILED;
	case TRACK_ECS_ROLLBACK:
		record_set(&r->rec->rollback_deployment_id, str_of(out.other, "id"));
		return OUT_ECS_ROLLBACK;
	case TRACK_SUPERSEDED:
		return OUT_SUPERSEDED;
	case TRACK_ANOMALY:
		return OUT_ANOMALY;
	}
	return OUT_WAIT;
}

/* confirm-list (force): the running tasks of the service. */
int deploy_read_confirm_list(struct rollout *r, struct aws_result *res)
{
	cJSON_Delete(r->listed);
	r->listed = aws_result_take_body(res);
	if (!cJSON_GetArraySize(cJSON_GetObjectItem(r->listed, "taskArns")))
		return OUT_DONE; /* no task runs (desired count 0) */
	return STEP_CONFIRM_TASKS;
}

/* confirm-tasks (force): the proof is that the tasks of our deployment run the digest. */
int deploy_read_confirm_tasks(struct rollout *r, struct aws_result *res)
{
	int checked = 0;
	char bad[600] = "";

	for (size_t i = 0; i < r->rec->n_containers; i++) {
		const char *d = NULL;
		int n = 0;
		char v_text[300];
		enum ecs_tasks_verdict v = ecs_tasks_digest(res->body, r->rec->containers[i],
							    r->rec->deployment_id, &d, &n);
		checked += n;
		if (v == ECS_TASKS_INVALID) {
			ecs_printable(d, v_text, sizeof(v_text));
			snprintf(bad, sizeof(bad), "'%s' (which is not a valid digest)", v_text);
		} else if (v == ECS_TASKS_MIXED) {
			snprintf(bad, sizeof(bad), "more than one digest");
		} else if (v == ECS_TASKS_ONE && strcmp(d, r->rec->digest)) {
			snprintf(bad, sizeof(bad), "%s", d);
		}
	}
	if (*bad) {
		snprintf(r->reason, sizeof(r->reason),
			 "the new tasks run %s, not the pushed digest (the tag moved again, or the "
			 "task definition names another image)",
			 bad);
		return OUT_UNMARKED;
	}
	rollout_emit(r, LOG_INFO, NULL, NULL, "service '%s': %d containers of the new tasks run %s",
		     r->rec->service, checked, r->rec->digest);
	return OUT_DONE;
}

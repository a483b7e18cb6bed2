/* SPDX-License-Identifier: MIT */
/*
 * First start (rollout.h): what does a service run that ecr-deployd has never looked at? Its
 * task definition's pinned digest, else the imageDigest its running tasks report. Only reads;
 * the answer goes to the state, then the deployer decides.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "ecs.h"
#include "events.h"
#include "rollout.h"
#include "strmap.h"
#include "state.h"
#include "taskdef.h"

/* ---- a dry run: what the deploy would find ---------------------------------- */

static bool dry(const struct rollout *r)
{
	return (*r->dp->d->cfg)->dry_run || r->dp->d->dry_run;
}

/* The dry run's look at r's target (made when missing; NULL without memory). */
static struct dry_look *dry_look(struct rollout *r)
{
	struct rollout_rec *c = r->rec;
	char key[1200]; /* (as reconcile_target()'s skey) */
	struct dry_look *look;

	snprintf(key, sizeof(key), "%s\x1f%s", c->watch, c->tkey);
	if ((look = strmap_get(r->dp->dry_looks, key)))
		return look;
	if (!(look = calloc(1, sizeof(*look))) ||
	    strmap_put(r->dp->dry_looks, key, look, NULL) < 0) {
		free(look);
		return NULL;
	}
	return look;
}

/* Keeps a copy of v as *slot (the one before dropped: a later look replaces it). */
static void dry_keep(cJSON **slot, const cJSON *v)
{
	cJSON_Delete(*slot);
	*slot = v ? cJSON_Duplicate(v, 1) : NULL;
}

static int inspected(struct rollout *r, const char *running, const char *how)
{
	struct rollout_rec *c = r->rec;
	struct state *st = r->dp->d->state;
	const char *want = c->digest;

	if (running)
		state_set_deployed_td(st, c->watch, c->tkey, running, c->base_td);
	else
		state_set_deployed(st, c->watch, c->tkey, "");
	if (running && !strcmp(running, want)) {
		rollout_emit(r, LOG_INFO, NULL, NULL,
			     "service '%s' already runs %s (%s); nothing to deploy", c->service,
			     want, how);
	} else if (c->first_start_skip && c->after_reset) {
		state_set_held(st, c->watch, c->tkey, want);
		rollout_emit(r, LOG_NOTICE, EVENT_SKIPPED, LOG_FIELDS({ "REASON", "state-reset" }),
			     "service '%s' runs %s (%s), ECR has %s; the state was rebuilt, so "
			     "whether it failed here before is unknown: it waits for the next push",
			     c->service, running ? running : "an unknown digest", how, want);
	} else if (c->first_start_skip) {
		state_set_held(st, c->watch, c->tkey, want);
		rollout_emit(r, LOG_NOTICE, EVENT_SKIPPED, LOG_FIELDS({ "REASON", "first-start" }),
			     "service '%s' runs %s (%s), ECR has %s; on_first_start is 'skip', so "
			     "it waits for the next push",
			     c->service, running ? running : "an unknown digest", how, want);
	} else {
		rollout_emit(r, LOG_NOTICE, NULL, NULL,
			     "service '%s' runs %s (%s), ECR has %s; deploying it (on_first_start "
			     "'deploy')",
			     c->service, running ? running : "an unknown digest", how, want);
	}
	rollout_save_state(r->dp);
	return OUT_END;
}

int inspect_read_service(struct rollout *r, struct aws_result *res)
{
	const cJSON *svc = ecs_find_service(res->body, r->rec->service);
	const char *td = cJSON_GetStringValue(cJSON_GetObjectItem(svc, "taskDefinition"));
	/* A CODE_DEPLOY (or EXTERNAL) service runs task sets: what runs is its PRIMARY one's, and
	 * its tasks are those the task set started (kept in prev_deployment: an inspection has no
	 * deployment of its own, and is never written). */
	const cJSON *ts = ecs_primary_task_set(svc);

	if (ts) {
		td = cJSON_GetStringValue(cJSON_GetObjectItem(ts, "taskDefinition"));
		if (record_set(&r->rec->prev_deployment,
			       cJSON_GetStringValue(cJSON_GetObjectItem(ts, "id"))) < 0)
			return OUT_RETRY;
	}
	if (!svc || !td)
		return rollout_block(r, "DescribeServices",
				     "the service does not exist in cluster '%s'", r->rec->cluster);
	struct dry_look *look = dry(r) ? dry_look(r) : NULL;
	if (look) {
		dry_keep(&look->svc, svc);
		dry_keep(&look->td, NULL);
	}
	/* Blue/green, linear and canary services run two revisions during a deployment: what runs
	 * is read from the service revisions ECS names current, not from the tasks. */
	const char *strategy = cJSON_GetStringValue(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(svc, "deploymentConfiguration"), "strategy"));
	const cJSON *revs = cJSON_GetObjectItem(svc, "currentServiceRevisions");
	cJSON_Delete(r->svc);
	r->svc = NULL;
	if (strategy && strcmp(strategy, "ROLLING") && cJSON_GetArraySize(revs) > 0 &&
	    !(r->svc = cJSON_Duplicate(revs, 1)))
		return OUT_RETRY;
	return record_set(&r->rec->base_td, td) < 0 ? OUT_RETRY : STEP_INSPECT_TD;
}

cJSON *inspect_td_params(struct rollout *r)
{
	return rollout_td_params(r->rec->base_td, false);
}

int inspect_read_td(struct rollout *r, struct aws_result *res)
{
	const char *name = r->rec->containers[0], *pinned = NULL;
	const cJSON *td = cJSON_GetObjectItem(res->body, "taskDefinition");
	int rc = ecs_pinned_digest(td, name, &pinned);

	struct dry_look *look = dry(r) ? dry_look(r) : NULL;
	if (look)
		dry_keep(&look->td, td);
	if (rc == -ENOENT || !taskdef_image(td, name))
		return rollout_block(r, "DescribeTaskDefinition",
				     "its task definition %s has no container '%s'",
				     r->rec->base_td, name);
	if (rc == 1)
		return inspected(r, pinned, "its task definition pins it");
	if (r->svc)
		return STEP_INSPECT_REV;
	if (rc == -EINVAL) {
		char v[400];
		ecs_printable(pinned, v, sizeof(v));
		rollout_emit(r, LOG_WARNING, NULL, NULL,
			     "service '%s': its task definition pins container '%s' to '%s', "
			     "which is not a valid digest; it is ignored, and what the running "
			     "tasks run is read instead",
			     r->rec->service, name, v);
	}
	return STEP_INSPECT_LIST;
}

int inspect_read_list(struct rollout *r, struct aws_result *res)
{
	cJSON_Delete(r->listed);
	r->listed = aws_result_take_body(res);
	if (!cJSON_GetArraySize(cJSON_GetObjectItem(r->listed, "taskArns")))
		return inspected(r, NULL, "no task runs and its task definition names a tag");
	return STEP_INSPECT_TASKS;
}

int inspect_read_tasks(struct rollout *r, struct aws_result *res)
{
	const char *name = r->rec->containers[0], *seen = NULL;
	const char *task_set =
	    r->rec->prev_deployment && *r->rec->prev_deployment ? r->rec->prev_deployment : NULL;
	enum ecs_tasks_verdict v_tasks = ecs_tasks_digest(res->body, name, task_set, &seen, NULL);
	char v[400];

	/* The tasks of a PRIMARY task set are told by their startedBy (the task set's id); when
	 * none says so, every task of the service is read, and disagreeing ones mean unknown. */
	if (task_set && v_tasks == ECS_TASKS_NONE)
		v_tasks = ecs_tasks_digest(res->body, name, NULL, &seen, NULL);
	switch (v_tasks) {
	case ECS_TASKS_INVALID:
		ecs_printable(seen, v, sizeof(v));
		rollout_emit(r, LOG_WARNING, NULL, NULL,
			     "service '%s': a running task reports '%s' as the imageDigest of "
			     "container '%s', which is not a valid digest; it is ignored",
			     r->rec->service, v, name);
		return inspected(r, NULL, "its running tasks report an invalid digest");
	case ECS_TASKS_MIXED:
		return inspected(r, NULL, "its running tasks disagree");
	default:
		return inspected(r, seen, "the imageDigest of its running tasks");
	}
}

cJSON *inspect_rev_params(struct rollout *r)
{
	cJSON *p = cJSON_CreateObject(),
	      *a = p ? cJSON_AddArrayToObject(p, "serviceRevisionArns") : NULL;
	const cJSON *x;
	int n = 0;

	if (!a) {
		cJSON_Delete(p);
		return NULL;
	}
	cJSON_ArrayForEach(x, r->svc)
	{
		const char *arn = cJSON_GetStringValue(cJSON_GetObjectItem(x, "arn"));
		if (arn && n++ < 20)
			cJSON_AddItemToArray(a, cJSON_CreateString(arn));
	}
	return p;
}

/* inspect-revision: the digest ECS resolved for the container in the current service revisions
 * (blue/green, linear, canary). */
int inspect_read_rev(struct rollout *r, struct aws_result *res)
{
	const char *name = r->rec->containers[0], *seen = NULL;
	const cJSON *rev, *img;
	bool mixed = false;
	char v[400];

	cJSON_ArrayForEach(rev, cJSON_GetObjectItem(res->body, "serviceRevisions"))
	{
		cJSON_ArrayForEach(img, cJSON_GetObjectItem(rev, "containerImages"))
		{
			const char *c =
			    cJSON_GetStringValue(cJSON_GetObjectItem(img, "containerName"));
			const char *d =
			    cJSON_GetStringValue(cJSON_GetObjectItem(img, "imageDigest"));
			if (!c || strcmp(c, name) || !d)
				continue;
			if (!digest_valid(d)) {
				ecs_printable(d, v, sizeof(v));
				rollout_emit(
				    r, LOG_WARNING, NULL, NULL,
				    "service '%s': its service revision reports '%s' as the "
				    "imageDigest of container '%s', which is not a valid "
				    "digest; it is ignored",
				    r->rec->service, v, name);
				return inspected(r, NULL,
						 "its service revision reports an invalid digest");
			}
			if (seen && strcmp(seen, d))
				mixed = true;
			seen = d;
		}
	}
	if (mixed)
		return inspected(r, NULL, "its current service revisions run different digests");
	return inspected(r, seen,
			 seen ? "the imageDigest ECS resolved for its current service revision"
			      : "its current service revision names no digest for the container");
}

/* SPDX-License-Identifier: MIT */
/* The tracking verdict; see track.h. */
#include "track.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ecs.h"

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

static bool same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* Ours: by id when known, else the newest deployment of our task definition (or, for force, the
 * newest PRIMARY) that is neither the one before nor the one never ours. */
const cJSON *track_ours(const struct track_input *in)
{
	const cJSON *d, *best = NULL;

	if (in->id && *in->id)
		return ecs_find_deployment(in->svc, "id", in->id);
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(in->svc, "deployments"))
	{
		const char *id = str_of(d, "id");
		if (!id || same(id, in->prev_deployment) || same(id, in->not_ours))
			continue;
		if (in->td ? !same(str_of(d, "taskDefinition"), in->td)
			   : !same(str_of(d, "status"), "PRIMARY"))
			continue;
		if (!best || cJSON_GetNumberValue(cJSON_GetObjectItem(d, "createdAt")) >
				 cJSON_GetNumberValue(cJSON_GetObjectItem(best, "createdAt")))
			best = d;
	}
	return best;
}

/*
 * ECS says primary is its circuit breaker's rollback: the PRIMARY's rolloutStateReason says so
 * while it runs, and the service's events ("rolling back to deployment ...") say so after it,
 * when newer than since (AWS seconds: when ours was created).
 */
static bool ecs_rolls_back(const cJSON *svc, const cJSON *primary, double since)
{
	const char *r = str_of(primary, "rolloutStateReason");
	const cJSON *e;

	if (r && strstr(r, "circuit breaker") && strstr(r, "rolling back"))
		return true;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(svc, "events"))
	{
		const char *m = str_of(e, "message");
		if (m && strstr(m, "rolling back to") &&
		    cJSON_GetNumberValue(cJSON_GetObjectItem(e, "createdAt")) >= since)
			return true;
	}
	return false;
}

void track_verdict(const struct track_input *in, struct track_result *out)
{
	const cJSON *ours = track_ours(in), *primary = ecs_primary(in->svc);
	const char *state = str_of(ours, "rolloutState");
	const char *pid = str_of(primary, "id") ?: "?",
		   *ptd = str_of(primary, "taskDefinition") ?: "?";

	memset(out, 0, sizeof(*out));
	out->ours = ours;
	if (ours && same(state, "FAILED")) {
		const char *why = str_of(ours, "rolloutStateReason") ?: "no reason given";
		if (primary && primary != ours &&
		    ecs_rolls_back(in->svc, primary,
				   cJSON_GetNumberValue(cJSON_GetObjectItem(ours, "createdAt")))) {
			out->verdict = TRACK_ECS_ROLLBACK;
			out->other = primary;
		} else {
			out->verdict = TRACK_FAILED;
		}
		snprintf(out->reason, sizeof(out->reason), "rollout FAILED: %s", why);
		return;
	}
	if (ours && same(str_of(ours, "status"), "PRIMARY")) {
		if (ecs_completed(in->svc, ours)) {
			out->verdict = TRACK_DONE;
		} else if (in->now > in->deadline) {
			out->verdict = TRACK_TIMEOUT;
			snprintf(out->reason, sizeof(out->reason), "not complete by its deadline");
		}
		return;
	}
	if (ours) {
		/* Listed, not PRIMARY, not FAILED: something newer took over. */
		if (primary && !same(ptd, str_of(ours, "taskDefinition"))) {
			out->verdict = TRACK_SUPERSEDED;
			out->other = primary;
			snprintf(out->reason, sizeof(out->reason),
				 "superseded by deployment %s (%s), made by someone else", pid,
				 ptd);
		} else if (primary) {
			out->verdict = TRACK_ANOMALY;
			snprintf(out->reason, sizeof(out->reason),
				 "ECS made deployment %s of the same task definition %s after ours "
				 "and did not say why",
				 pid, ptd);
		} else if (in->now > in->deadline) {
			out->verdict = TRACK_TIMEOUT;
			snprintf(out->reason, sizeof(out->reason),
				 "not complete by its deadline (the service has no PRIMARY)");
		}
		return;
	}
	/* Not listed. */
	if (primary && !same(pid, in->prev_deployment) && !same(pid, in->not_ours) &&
	    ecs_rolls_back(in->svc, primary, in->since)) {
		out->verdict = TRACK_ECS_ROLLBACK;
		out->other = primary;
		snprintf(out->reason, sizeof(out->reason),
			 "rollout FAILED; ECS's circuit breaker rolls back (%s)",
			 str_of(primary, "rolloutStateReason"));
		return;
	}
	if (primary && !same(pid, in->prev_deployment) && !same(pid, in->not_ours) &&
	    !same(ptd, in->td) && in->td) {
		out->verdict = TRACK_SUPERSEDED;
		out->other = primary;
		snprintf(out->reason, sizeof(out->reason),
			 "superseded by deployment %s (%s), made by someone else", pid, ptd);
		return;
	}
	if (in->now <= in->appear_by)
		return; /* ECS may not list it yet */
	out->verdict = TRACK_ANOMALY;
	if (in->id && *in->id)
		snprintf(out->reason, sizeof(out->reason),
			 "ECS no longer lists deployment %s and says nothing of what became of it "
			 "(PRIMARY: %s of %s)",
			 in->id, pid, ptd);
	else
		snprintf(out->reason, sizeof(out->reason),
			 "UpdateService was answered, but ECS lists no deployment of %s (PRIMARY: "
			 "%s of %s)",
			 in->td ? in->td : "ours", pid, ptd);
}

const char *track_verdict_name(enum track_verdict v)
{
	static const char *const n[] = { "keep",         "done",       "failed", "timeout",
					 "ecs-rollback", "superseded", "anomaly" };

	return (unsigned)v < sizeof(n) / sizeof(n[0]) ? n[v] : "?";
}

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

/* ---- service deployments ------------------------------------------------- */

static bool is(const char *s, const char *v)
{
	return s && !strcmp(s, v);
}

/* Appends "; " (when buf is not empty), label, then v made printable, then tail. */
static void append(char *buf, size_t n, const char *label, const char *v, const char *tail)
{
	size_t len = strlen(buf);
	char p[300];

	if (len + 3 >= n)
		return;
	ecs_printable(v, p, sizeof(p));
	snprintf(buf + len, n - len, "%s%s%s%s", len ? "; " : "", label, p, tail);
}

void track_sd_why(const cJSON *sd, char *buf, size_t n)
{
	const cJSON *cb = cJSON_GetObjectItem(sd, "deploymentCircuitBreaker");
	const cJSON *al = cJSON_GetObjectItem(sd, "alarms"), *x;

	buf[0] = '\0';
	if (is(str_of(cb, "status"), "TRIGGERED")) {
		const cJSON *fc = cJSON_GetObjectItem(cb, "failureCount"),
			    *th = cJSON_GetObjectItem(cb, "threshold");
		char counts[96] = "";
		if (cJSON_IsNumber(fc) && cJSON_IsNumber(th))
			snprintf(counts, sizeof(counts), " (failureCount %.0f, threshold %.0f)",
				 fc->valuedouble, th->valuedouble);
		snprintf(buf + strlen(buf), n - strlen(buf), "%sECS's circuit breaker triggered%s",
			 *buf ? "; " : "", counts);
	}
	if (is(str_of(al, "status"), "TRIGGERED")) {
		char names[300] = "";
		size_t len = 0;
		cJSON_ArrayForEach(x, cJSON_GetObjectItem(al, "triggeredAlarmNames"))
		{
			if (cJSON_IsString(x) && len + 2 < sizeof(names)) {
				char p[128];
				ecs_printable(x->valuestring, p, sizeof(p));
				len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
							len ? ", " : "", p);
			}
		}
		if (len >= sizeof(names))
			len = sizeof(names) - 1;
		append(buf, n, "alarm triggered: ", len ? names : "(no name given)", "");
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(sd, "lifecycleHookDetails"))
	{
		const char *st = str_of(x, "status");
		char what[200];
		if (!is(st, "FAILED") && !is(st, "TIMED_OUT"))
			continue;
		snprintf(what, sizeof(what), "%s hook %.80s %s",
			 is(str_of(x, "targetType"), "PAUSE") ? "the PAUSE" : "the lifecycle",
			 str_of(x, "hookId") ?: "?",
			 is(st, "FAILED") ? is(str_of(x, "targetType"), "PAUSE")
						? "was rejected (ROLLBACK)"
						: "failed"
					  : "timed out");
		append(buf, n, "", what, "");
	}
	if (str_of(cJSON_GetObjectItem(sd, "rollback"), "reason"))
		append(buf, n, "rollback: ", str_of(cJSON_GetObjectItem(sd, "rollback"), "reason"),
		       "");
	if (str_of(sd, "statusReason"))
		append(buf, n, "ECS: ", str_of(sd, "statusReason"), "");
}

/* A monitor of sd (circuit breaker, alarms) or a hook says it failed. */
static bool sd_failed(const cJSON *sd)
{
	const cJSON *x;

	if (is(str_of(cJSON_GetObjectItem(sd, "deploymentCircuitBreaker"), "status"),
	       "TRIGGERED") ||
	    is(str_of(cJSON_GetObjectItem(sd, "alarms"), "status"), "TRIGGERED"))
		return true;
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(sd, "lifecycleHookDetails"))
	{
		if (is(str_of(x, "status"), "FAILED") || is(str_of(x, "status"), "TIMED_OUT"))
			return true;
	}
	return false;
}

static int count_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e6
		   ? (int)v->valuedouble
		   : -1;
}

void track_sd(const struct track_sd_input *in, struct track_sd_result *out)
{
	const cJSON *sd = in->sd, *target = cJSON_GetObjectItem(sd, "targetServiceRevision"), *x;
	const cJSON *w = cJSON_GetObjectItem(target, "requestedProductionTrafficWeight");
	const char *st = str_of(sd, "status");
	char why[600], p[200];

	memset(out, 0, sizeof(*out));
	out->status = st;
	out->stage = str_of(sd, "lifecycleStage");
	out->weight =
	    cJSON_IsNumber(w) && w->valuedouble >= 0 && w->valuedouble <= 100 ? w->valuedouble : -1;
	out->running = count_of(target, "runningTaskCount");
	out->desired = count_of(target, "requestedTaskCount");
	if (!sd) {
		/* A just-made deployment may not be found yet; one seen before may be missed by one
		 * reply: neither is a verdict before its time. */
		if (in->now <= in->appear_by || (in->seen && in->now <= in->deadline))
			return;
		out->verdict = SD_ANOMALY;
		ecs_printable(in->missing ? in->missing : "no answer for it", p, sizeof(p));
		snprintf(out->reason, sizeof(out->reason),
			 "ECS does not find our service deployment (%s) and says nothing of what "
			 "became of it",
			 p);
		return;
	}
	/* A hook awaits action only in a deployment in progress (a rollback may leave it shown). */
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(sd, "lifecycleHookDetails"))
	{
		if ((is(st, "PENDING") || is(st, "IN_PROGRESS")) &&
		    is(str_of(x, "targetType"), "PAUSE") &&
		    is(str_of(x, "status"), "AWAITING_ACTION") && str_of(x, "hookId"))
			out->hook = x;
	}
	track_sd_why(sd, why, sizeof(why));
	if (in->rolling_back) {
		if (is(st, "ROLLBACK_SUCCESSFUL")) {
			out->verdict = SD_ROLLED_BACK;
		} else if (is(st, "ROLLBACK_FAILED")) {
			out->verdict = SD_ROLLBACK_FAILED;
			snprintf(out->reason, sizeof(out->reason), "ECS's rollback FAILED%s%s",
				 *why ? ": " : "", why);
		} else if (is(st, "SUCCESSFUL") || is(st, "STOPPED")) {
			out->verdict = SD_NOT_ROLLING_BACK;
			snprintf(out->reason, sizeof(out->reason), "ECS ended it %s%s%s", st,
				 *why ? ": " : "", why);
		} else if (in->now > in->deadline) {
			out->verdict = SD_ROLLBACK_FAILED;
			ecs_printable(st ? st : "no status", p, sizeof(p));
			snprintf(out->reason, sizeof(out->reason),
				 "ECS's rollback not complete by its deadline (status %s)", p);
		}
		return;
	}
	if (is(st, "SUCCESSFUL")) {
		out->verdict = SD_DONE;
	} else if (is(st, "ROLLBACK_REQUESTED") || is(st, "ROLLBACK_IN_PROGRESS") ||
		   is(st, "ROLLBACK_SUCCESSFUL") || is(st, "ROLLBACK_FAILED")) {
		out->verdict = SD_ECS_ROLLBACK;
		snprintf(out->reason, sizeof(out->reason), "ECS rolls it back (%s)%s%s", st,
			 *why ? ": " : "", why);
	} else if (is(st, "STOPPED") || is(st, "STOP_REQUESTED")) {
		bool failed = sd_failed(sd);
		out->verdict = failed ? SD_FAILED : SD_SUPERSEDED;
		snprintf(out->reason, sizeof(out->reason), "%s: ECS %s it%s%s",
			 failed ? "failed" : "stopped by someone else",
			 is(st, "STOPPED") ? "stopped" : "is stopping", *why ? ": " : "", why);
	} else if (is(st, "PENDING") || is(st, "IN_PROGRESS")) {
		if (!out->hook && in->now > in->deadline) {
			out->verdict = SD_TIMEOUT;
			snprintf(out->reason, sizeof(out->reason), "not complete by its deadline");
		}
	} else {
		/* A status no rule knows: said, and looked at again until the deadline. */
		if (in->now > in->deadline) {
			out->verdict = SD_ANOMALY;
			ecs_printable(st ? st : "(none)", p, sizeof(p));
			snprintf(out->reason, sizeof(out->reason),
				 "ECS gives our service deployment the status '%s', which "
				 "ecr-deployd does not know",
				 p);
		}
	}
}

const char *track_sd_verdict_name(enum track_sd_verdict v)
{
	static const char *const n[] = {
		"keep",       "done",    "failed",      "timeout",         "ecs-rollback",
		"superseded", "anomaly", "rolled-back", "rollback-failed", "not-rolling-back"
	};

	return (unsigned)v < sizeof(n) / sizeof(n[0]) ? n[v] : "?";
}

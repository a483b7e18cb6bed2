/* SPDX-License-Identifier: MIT */
/* daemon/track: one row per rule of the tracking verdict. */
#include "unit.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

#include "track.h"

#define TD1 "arn:aws:ecs:us-east-1:1:task-definition/web:1"
#define TD2 "arn:aws:ecs:us-east-1:1:task-definition/web:2"
#define TD3 "arn:aws:ecs:us-east-1:1:task-definition/web:3"

/* A deployment: id, status, task definition, rolloutState (or NULL), reason, createdAt. */
#define DEP(id, st, td, rs, why, at)                                                    \
	"{\"id\": \"" id "\", \"status\": \"" st "\", \"taskDefinition\": \"" td "\", " \
	"\"desiredCount\": 2, \"runningCount\": 2, \"createdAt\": " #at "" rs why "}"
#define RS(s)  ", \"rolloutState\": \"" s "\""
#define WHY(s) ", \"rolloutStateReason\": \"" s "\""

#define CB_ROLLBACK "ECS deployment circuit breaker: rolling back to deploymentId old."

TEST(track_verdict_table)
{
	static const struct {
		const char *name;
		const char *svc; /* the service object */
		const char *id, *td, *prev, *not_ours;
		double now, deadline, appear_by, since;
		enum track_verdict want;
		const char *want_ours, *want_other; /* ids, or NULL */
	} rows[] = {
		{ "ours PRIMARY and COMPLETED: done",
		  "{\"deployments\": [" DEP("new", "PRIMARY", TD2, RS("COMPLETED"), "", 20) "]}",
		  "new", TD2, "old", NULL, 100, 200, 50, 0, TRACK_DONE, "new", NULL },
		{ "ours PRIMARY, in progress: keep",
		  "{\"deployments\": [" DEP("new", "PRIMARY", TD2, RS("IN_PROGRESS"), "",
					    20) "," DEP("old", "ACTIVE", TD1, RS("COMPLETED"), "",
							10) "]}",
		  "new", TD2, "old", NULL, 100, 200, 50, 0, TRACK_KEEP, "new", NULL },
		{ "ours PRIMARY, in progress, past the deadline: timeout",
		  "{\"deployments\": [" DEP("new", "PRIMARY", TD2, RS("IN_PROGRESS"), "",
					    20) "," DEP("old", "ACTIVE", TD1, RS("COMPLETED"), "",
							10) "]}",
		  "new", TD2, "old", NULL, 300, 200, 50, 0, TRACK_TIMEOUT, "new", NULL },
		{ "ours FAILED, ECS's rollback PRIMARY says so: ECS rolls back",
		  "{\"deployments\": [" DEP("rb", "PRIMARY", TD1, RS("IN_PROGRESS"),
					    WHY(CB_ROLLBACK),
					    30) "," DEP("new", "ACTIVE", TD2, RS("FAILED"),
							WHY("tasks failed to start."), 20) "]}",
		  "new", TD2, "old", NULL, 100, 200, 50, 0, TRACK_ECS_ROLLBACK, "new", "rb" },
		{ "ours FAILED, the rollback done already, an event newer than ours says so",
		  "{\"deployments\": [" DEP(
		      "rb", "PRIMARY", TD1, RS("COMPLETED"), WHY("done."),
		      30) "," DEP("new", "ACTIVE", TD2, RS("FAILED"), "",
				  20) "], \"events\": [{\"createdAt\": 25, "
				      "\"message\": \"(service web) rolling back to deployment "
				      "with task definition x.\"}]}",
		  "new", TD2, "old", NULL, 100, 200, 50, 0, TRACK_ECS_ROLLBACK, "new", "rb" },
		{ "ours FAILED, a 'rolling back' event older than ours is not about ours",
		  "{\"deployments\": [" DEP("rb", "PRIMARY", TD1, RS("COMPLETED"), "", 30) "," DEP(
		      "new", "ACTIVE", TD2, RS("FAILED"), "",
		      20) "], \"events\": [{\"createdAt\": 5, "
			  "\"message\": \"(service web) rolling back to deployment with task "
			  "definition x.\"}]}",
		  "new", TD2, "old", NULL, 100, 200, 50, 0, TRACK_FAILED, "new", NULL },
		{ "ours FAILED and nothing else: failed",
		  "{\"deployments\": [" DEP("new", "PRIMARY", TD2, RS("FAILED"), WHY("health"),
					    20) "]}",
		  "new", TD2, "old", NULL, 100, 200, 50, 0, TRACK_FAILED, "new", NULL },
		{ "ours ACTIVE, a newer PRIMARY of another revision: superseded",
		  "{\"deployments\": [" DEP("x", "PRIMARY", TD3, RS("IN_PROGRESS"), "", 30) "," DEP(
		      "new", "ACTIVE", TD2, RS("IN_PROGRESS"), "", 20) "]}",
		  "new", TD2, "old", NULL, 100, 200, 50, 0, TRACK_SUPERSEDED, "new", "x" },
		{ "ours ACTIVE, a newer PRIMARY of our revision, unexplained: anomaly",
		  "{\"deployments\": [" DEP("x", "PRIMARY", TD2, RS("IN_PROGRESS"), "", 30) "," DEP(
		      "new", "ACTIVE", TD2, RS("IN_PROGRESS"), "", 20) "]}",
		  "new", TD2, "old", NULL, 100, 200, 50, 0, TRACK_ANOMALY, "new", NULL },
		{ "case 1: only the PRIMARY from before is listed, ours not yet: keep",
		  "{\"deployments\": [" DEP("old", "PRIMARY", TD1, RS("COMPLETED"), "", 10) "]}",
		  NULL, TD2, "old", NULL, 40, 200, 50, 0, TRACK_KEEP, NULL, NULL },
		{ "case 1: still only the PRIMARY from before, past the bound: anomaly, not a "
		  "rollback",
		  "{\"deployments\": [" DEP("old", "PRIMARY", TD1, RS("COMPLETED"), "", 10) "]}",
		  NULL, TD2, "old", NULL, 60, 200, 50, 0, TRACK_ANOMALY, NULL, NULL },
		{ "not listed, a new PRIMARY of another revision: superseded",
		  "{\"deployments\": [" DEP("x", "PRIMARY", TD3, RS("IN_PROGRESS"), "", 30) "]}",
		  NULL, TD2, "old", NULL, 40, 200, 50, 0, TRACK_SUPERSEDED, NULL, "x" },
		{ "not listed, a new PRIMARY that is ECS's rollback (ours forgotten): ECS rolls "
		  "back",
		  "{\"deployments\": [" DEP("rb", "PRIMARY", TD1, RS("IN_PROGRESS"),
					    WHY(CB_ROLLBACK), 30) "]}",
		  NULL, TD2, "old", NULL, 40, 200, 50, 0, TRACK_ECS_ROLLBACK, NULL, "rb" },
		{ "ours found by its revision when the id is unknown",
		  "{\"deployments\": [" DEP("new", "PRIMARY", TD2, RS("COMPLETED"), "", 20) "]}",
		  NULL, TD2, "old", NULL, 40, 200, 50, 0, TRACK_DONE, "new", NULL },
		{ "force: ours is the PRIMARY that is not the one before",
		  "{\"deployments\": [" DEP("new", "PRIMARY", TD1, RS("COMPLETED"), "", 20) "]}",
		  NULL, NULL, "old", NULL, 40, 200, 50, 0, TRACK_DONE, "new", NULL },
		{ "force: only the one before: keep, then anomaly",
		  "{\"deployments\": [" DEP("old", "PRIMARY", TD1, RS("COMPLETED"), "", 10) "]}",
		  NULL, NULL, "old", NULL, 60, 200, 50, 0, TRACK_ANOMALY, NULL, NULL },
		{ "a rollback: the failed deployment is never ours",
		  "{\"deployments\": [" DEP("rb", "PRIMARY", TD3, RS("COMPLETED"), "", 30) "," DEP(
		      "new", "ACTIVE", TD3, RS("FAILED"), "", 20) "]}",
		  NULL, TD3, "new", "new", 40, 200, 50, 0, TRACK_DONE, "rb", NULL },
		{ "ours by id vanished, nothing explains it: anomaly",
		  "{\"deployments\": [" DEP("old", "PRIMARY", TD1, RS("COMPLETED"), "", 10) "]}",
		  "new", TD2, "old", NULL, 60, 200, 50, 0, TRACK_ANOMALY, NULL, NULL },
		{ "without rolloutState: the ServicesStable rule",
		  "{\"deployments\": [" DEP("new", "PRIMARY", TD2, "", "", 20) "]}", "new", TD2,
		  "old", NULL, 40, 200, 50, 0, TRACK_DONE, "new", NULL },
		{ "hostile: deployments not a list", "{\"deployments\": {\"id\": \"new\"}}", "new",
		  TD2, "old", NULL, 40, 200, 50, 0, TRACK_KEEP, NULL, NULL },
		{ "hostile: fields of the wrong type",
		  "{\"deployments\": [{\"id\": 7, \"status\": [], \"taskDefinition\": {}, "
		  "\"createdAt\": \"x\"}],"
		  " \"events\": [{\"createdAt\": \"x\", \"message\": \"rolling back to\"}, 3]}",
		  NULL, TD2, "old", NULL, 60, 200, 50, 0, TRACK_ANOMALY, NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cJSON *svc = cJSON_Parse(rows[i].svc);
		struct track_input in = { svc,
					  rows[i].id,
					  rows[i].td,
					  rows[i].prev,
					  rows[i].not_ours,
					  rows[i].now,
					  rows[i].deadline,
					  rows[i].appear_by,
					  rows[i].since };
		struct track_result out;

		if (!svc) {
			unit_fail(__FILE__, __LINE__, "row '%s': bad JSON", rows[i].name);
			continue;
		}
		track_verdict(&in, &out);
		const char *ours = cJSON_GetStringValue(cJSON_GetObjectItem(out.ours, "id"));
		const char *other = cJSON_GetStringValue(cJSON_GetObjectItem(out.other, "id"));
		if (out.verdict != rows[i].want ||
		    (rows[i].want_ours ? !ours || strcmp(ours, rows[i].want_ours)
				       : out.ours != NULL) ||
		    (rows[i].want_other ? !other || strcmp(other, rows[i].want_other)
					: out.other != NULL))
			unit_fail(__FILE__, __LINE__,
				  "row '%s': got %s (ours %s, other %s), want %s", rows[i].name,
				  track_verdict_name(out.verdict), ours ? ours : "-",
				  other ? other : "-", track_verdict_name(rows[i].want));
		if (out.verdict != TRACK_KEEP && out.verdict != TRACK_DONE && !*out.reason)
			unit_fail(__FILE__, __LINE__, "row '%s': no reason", rows[i].name);
		cJSON_Delete(svc);
	}
}

/* A service deployment: status, then more members (each starting with a comma). */
#define SD(st, more) "{\"serviceDeploymentArn\": \"arn:sd\", \"status\": \"" st "\"" more "}"
#define STAGE(s)     ", \"lifecycleStage\": \"" s "\""
#define HOOK(st, type)                                                              \
	", \"lifecycleHookDetails\": [{\"hookId\": \"h1\", \"targetType\": \"" type \
	"\", \"status\": \"" st "\", \"expiresAt\": 500}]"
#define CB(st)                                               \
	", \"deploymentCircuitBreaker\": {\"status\": \"" st \
	"\", \"failureCount\": 3, \"threshold\": 3}"
#define ALARMS(st)                                                                \
	", \"alarms\": {\"status\": \"" st "\", \"alarmNames\": [\"a\", \"b\"], " \
	"\"triggeredAlarmNames\": [\"cpu-high\"]}"

TEST(track_sd_table)
{
	static const struct {
		const char *name;
		const char *sd; /* NULL: not in the reply */
		const char *missing;
		bool rolling_back, seen;
		double now, deadline, appear_by;
		enum track_sd_verdict want;
		const char *want_reason; /* a part of the reason, or NULL */
		bool want_hook;
	} rows[] = {
		{ "SUCCESSFUL: done", SD("SUCCESSFUL", ""), NULL, false, false, 100, 200, 50,
		  SD_DONE, NULL, false },
		{ "in progress at bake time: keep", SD("IN_PROGRESS", STAGE("BAKE_TIME")), NULL,
		  false, false, 100, 200, 50, SD_KEEP, NULL, false },
		{ "PENDING: keep", SD("PENDING", ""), NULL, false, false, 100, 200, 50, SD_KEEP,
		  NULL, false },
		{ "in progress past the deadline: timeout", SD("IN_PROGRESS", ""), NULL, false,
		  false, 300, 200, 50, SD_TIMEOUT, "deadline", false },
		{ "a PAUSE hook awaits past the deadline: keep, the timeout stands still",
		  SD("IN_PROGRESS", HOOK("AWAITING_ACTION", "PAUSE")), NULL, false, false, 300, 200,
		  50, SD_KEEP, NULL, true },
		{ "a Lambda hook in progress is no approval",
		  SD("IN_PROGRESS", HOOK("IN_PROGRESS", "AWS_LAMBDA")), NULL, false, false, 100,
		  200, 50, SD_KEEP, NULL, false },
		{ "circuit breaker with rollback: ECS rolls back, counts quoted",
		  SD("ROLLBACK_IN_PROGRESS", CB("TRIGGERED")), NULL, false, false, 100, 200, 50,
		  SD_ECS_ROLLBACK, "(failureCount 3, threshold 3)", false },
		{ "alarm with rollback: the alarm named",
		  SD("ROLLBACK_REQUESTED", ALARMS("TRIGGERED")), NULL, false, false, 100, 200, 50,
		  SD_ECS_ROLLBACK, "alarm triggered: cpu-high", false },
		{ "a rejected hook: ECS rolls back, said",
		  SD("ROLLBACK_IN_PROGRESS", HOOK("FAILED", "PAUSE")), NULL, false, false, 100, 200,
		  50, SD_ECS_ROLLBACK, "was rejected", false },
		{ "an expired hook: said", SD("ROLLBACK_SUCCESSFUL", HOOK("TIMED_OUT", "PAUSE")),
		  NULL, false, false, 100, 200, 50, SD_ECS_ROLLBACK, "timed out", false },
		{ "circuit breaker without rollback: STOPPED is a failure",
		  SD("STOPPED", CB("TRIGGERED")), NULL, false, false, 100, 200, 50, SD_FAILED,
		  "failureCount 3", false },
		{ "alarm without rollback: STOPPED is a failure",
		  SD("STOPPED", ALARMS("TRIGGERED")), NULL, false, false, 100, 200, 50, SD_FAILED,
		  "cpu-high", false },
		{ "STOPPED with monitors quiet: someone else",
		  SD("STOPPED", CB("MONITORING") ", \"statusReason\": \"Superseded by x.\""), NULL,
		  false, false, 100, 200, 50, SD_SUPERSEDED, "Superseded by x.", false },
		{ "STOP_REQUESTED: someone else", SD("STOP_REQUESTED", ""), NULL, false, false, 100,
		  200, 50, SD_SUPERSEDED, "is stopping", false },
		{ "not found yet: keep", NULL, "MISSING", false, false, 40, 200, 50, SD_KEEP, NULL,
		  false },
		{ "not found past appear_by: anomaly, never a failure", NULL, "MISSING", false,
		  false, 60, 200, 50, SD_ANOMALY, "MISSING", false },
		{ "an unknown status before the deadline: keep", SD("EXPLODED", ""), NULL, false,
		  false, 100, 200, 50, SD_KEEP, NULL, false },
		{ "an unknown status past it: anomaly", SD("EXPLODED", ""), NULL, false, false, 300,
		  200, 50, SD_ANOMALY, "EXPLODED", false },
		{ "hostile: a status that is a number", "{\"status\": 7, \"lifecycleStage\": []}",
		  NULL, false, false, 100, 200, 50, SD_KEEP, NULL, false },
		{ "hostile: counts that are strings",
		  SD("STOPPED", ", \"deploymentCircuitBreaker\": {\"status\": \"TRIGGERED\", "
				"\"failureCount\": \"3\"}"),
		  NULL, false, false, 100, 200, 50, SD_FAILED, "circuit breaker triggered", false },
		{ "rolling back: ROLLBACK_SUCCESSFUL", SD("ROLLBACK_SUCCESSFUL", ""), NULL, true,
		  false, 100, 200, 50, SD_ROLLED_BACK, NULL, false },
		{ "rolling back: ROLLBACK_FAILED, ECS's reason quoted",
		  SD("ROLLBACK_FAILED", ", \"statusReason\": \"Rollback tasks failed.\""), NULL,
		  true, false, 100, 200, 50, SD_ROLLBACK_FAILED, "ECS: Rollback tasks failed.",
		  false },
		{ "rolling back: ROLLBACK_FAILED after a circuit breaker: both said",
		  SD("ROLLBACK_FAILED",
		     CB("TRIGGERED") ", \"statusReason\": \"Rollback tasks failed.\""),
		  NULL, true, false, 100, 200, 50, SD_ROLLBACK_FAILED,
		  "(failureCount 3, threshold 3); ECS: Rollback tasks failed.", false },
		{ "ROLLBACK_FAILED at the first look: ECS rolled back, its reason quoted",
		  SD("ROLLBACK_FAILED", ", \"statusReason\": \"Rollback tasks failed.\""), NULL,
		  false, false, 100, 200, 50, SD_ECS_ROLLBACK, "ECS: Rollback tasks failed.",
		  false },
		{ "rolling back: in progress: keep", SD("ROLLBACK_IN_PROGRESS", ""), NULL, true,
		  false, 100, 200, 50, SD_KEEP, NULL, false },
		{ "rolling back: past its deadline", SD("ROLLBACK_IN_PROGRESS", ""), NULL, true,
		  false, 300, 200, 50, SD_ROLLBACK_FAILED, "deadline", false },
		{ "rolling back: it completed instead (the stop came late)", SD("SUCCESSFUL", ""),
		  NULL, true, false, 100, 200, 50, SD_NOT_ROLLING_BACK, "SUCCESSFUL", false },
		{ "a hook shown AWAITING_ACTION during ECS's rollback is no approval",
		  SD("ROLLBACK_IN_PROGRESS", HOOK("AWAITING_ACTION", "PAUSE") CB("TRIGGERED")),
		  NULL, false, false, 100, 200, 50, SD_ECS_ROLLBACK, "failureCount 3", false },
		{ "seen before, missing in one reply: keep until the deadline", NULL, "MISSING",
		  false, true, 100, 200, 50, SD_KEEP, NULL, false },
		{ "seen before, missing past the deadline: anomaly", NULL, "MISSING", false, true,
		  300, 200, 50, SD_ANOMALY, "MISSING", false },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cJSON *sd = rows[i].sd ? cJSON_Parse(rows[i].sd) : NULL;
		struct track_sd_input in = { .sd = sd,
					     .missing = rows[i].missing,
					     .rolling_back = rows[i].rolling_back,
					     .seen = rows[i].seen,
					     .now = rows[i].now,
					     .deadline = rows[i].deadline,
					     .appear_by = rows[i].appear_by };
		struct track_sd_result out;

		if (rows[i].sd && !sd) {
			unit_fail(__FILE__, __LINE__, "row '%s': bad JSON", rows[i].name);
			continue;
		}
		track_sd(&in, &out);
		if (out.verdict != rows[i].want)
			unit_fail(__FILE__, __LINE__, "row '%s': %s, want %s (%s)", rows[i].name,
				  track_sd_verdict_name(out.verdict),
				  track_sd_verdict_name(rows[i].want), out.reason);
		if (rows[i].want_reason && !strstr(out.reason, rows[i].want_reason))
			unit_fail(__FILE__, __LINE__, "row '%s': reason '%s' lacks '%s'",
				  rows[i].name, out.reason, rows[i].want_reason);
		if ((out.hook != NULL) != rows[i].want_hook)
			unit_fail(__FILE__, __LINE__, "row '%s': hook %s", rows[i].name,
				  out.hook ? "found" : "not found");
		cJSON_Delete(sd);
	}
}

TEST(track_sd_figures)
{
	cJSON *sd = cJSON_Parse(
	    SD("IN_PROGRESS",
	       STAGE("PRODUCTION_TRAFFIC_SHIFT") ", \"targetServiceRevision\": "
						 "{\"requestedProductionTrafficWeight\": "
						 "30.0, \"runningTaskCount\": 2, "
						 "\"requestedTaskCount\": 4}"));
	struct track_sd_input in = { .sd = sd, .now = 1, .deadline = 2 };
	struct track_sd_result out;

	track_sd(&in, &out);
	CHECK_STR(out.stage, "PRODUCTION_TRAFFIC_SHIFT");
	CHECK(out.weight == 30.0);
	CHECK_INT(out.running, 2);
	CHECK_INT(out.desired, 4);
	cJSON_Delete(sd);
	/* A weight out of range is unknown, never shown. */
	sd = cJSON_Parse(SD("IN_PROGRESS", ", \"targetServiceRevision\": "
					   "{\"requestedProductionTrafficWeight\": 1e9}"));
	in.sd = sd;
	track_sd(&in, &out);
	CHECK(out.weight < 0);
	CHECK_INT(out.running, -1);
	cJSON_Delete(sd);
}

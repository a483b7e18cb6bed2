/* SPDX-License-Identifier: MIT */
/*
 * daemon/cdtrack: strategy codedeploy's pure parts. The verdict over deploymentInfo shapes
 * (every status, missing fields, an unknown status, hostile strings), the AppSpec built from the
 * record (escaping; the optional keys only when the service has them), ours found by the token
 * in its description, and the ECS target's event, diagnostics and traffic weight.
 */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdtrack.h"

static void verdict_of(const char *info_json, bool by_us, double now, double rollback_until,
		       struct cd_result *out)
{
	cJSON *info = info_json ? cJSON_Parse(info_json) : NULL;
	struct cd_input in = { .info = info,
			       .stopped_by_us = by_us,
			       .now = now,
			       .deadline = 1000,
			       .appear_by = 100,
			       .rollback_until = rollback_until };

	if (info_json)
		CHECK(info != NULL);
	cdtrack_verdict(&in, out);
	cJSON_Delete(info);
}

TEST(cdeploy_verdict_table)
{
	static const struct {
		const char *info;
		bool by_us;
		double now, rollback_until;
		enum cd_verdict want;
		const char *in_reason;
	} rows[] = {
		/* in progress, at every status that is not an end */
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Created\"}", false, 10, 0, CD_KEEP,
		  "Created" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Queued\"}", false, 10, 0, CD_KEEP,
		  "Queued" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"InProgress\"}", false, 10, 0, CD_KEEP,
		  "" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Baking\"}", false, 10, 0, CD_KEEP,
		  "Baking" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Ready\"}", false, 10, 0, CD_READY,
		  "Ready" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Succeeded\"}", false, 10, 0, CD_DONE,
		  "" },
		/* past the deadline while in progress: our timeout; an end beats the deadline */
		{ "{\"deploymentId\":\"d-1\",\"status\":\"InProgress\"}", false, 2000, 0,
		  CD_TIMEOUT, "in time" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Succeeded\"}", false, 2000, 0, CD_DONE,
		  "" },
		/* Failed: quoted; CodeDeploy's rollback named, or to come (bounded), or none */
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Failed\",\"errorInformation\":{\"code\":"
		  "\"HEALTH_CONSTRAINTS\",\"message\":\"too few healthy\"}}",
		  false, 10, 0, CD_FAILED, "HEALTH_CONSTRAINTS: too few healthy" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Failed\",\"rollbackInfo\":{"
		  "\"rollbackDeploymentId\":\"d-RB\",\"rollbackMessage\":\"rolled back\"}}",
		  false, 10, 0, CD_ROLLBACK, "rolled back" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Failed\",\"autoRollbackConfiguration\":{"
		  "\"enabled\":true,\"events\":[\"DEPLOYMENT_FAILURE\"]}}",
		  false, 10, 50, CD_WAIT_ROLLBACK, "Failed" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Failed\",\"autoRollbackConfiguration\":{"
		  "\"enabled\":true,\"events\":[\"DEPLOYMENT_FAILURE\"]}}",
		  false, 60, 50, CD_FAILED, "Failed" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Failed\",\"autoRollbackConfiguration\":{"
		  "\"enabled\":false,\"events\":[\"DEPLOYMENT_FAILURE\"]}}",
		  false, 10, 50, CD_FAILED, "Failed" },
		/* a rollback id that names the deployment itself, or hostile: not a rollback */
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Failed\",\"rollbackInfo\":{"
		  "\"rollbackDeploymentId\":\"d-1\"}}",
		  false, 10, 0, CD_FAILED, "" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Failed\",\"rollbackInfo\":{"
		  "\"rollbackDeploymentId\":\"d-1; rm -rf /\"}}",
		  false, 10, 0, CD_FAILED, "" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Failed\",\"rollbackInfo\":{"
		  "\"rollbackDeploymentId\":7}}",
		  false, 10, 0, CD_FAILED, "" },
		/* Stopped: by someone else (superseded), by us (its rollback waited for) */
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Stopped\"}", false, 10, 50, CD_STOPPED,
		  "Stopped" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Stopped\",\"rollbackInfo\":{"
		  "\"rollbackDeploymentId\":\"d-RB\"}}",
		  false, 10, 0, CD_ROLLBACK, "" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Stopped\"}", true, 10, 50,
		  CD_WAIT_ROLLBACK, "" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Stopped\"}", true, 60, 50, CD_FAILED,
		  "" },
		/* missing: looked at again until appear_by, then said */
		{ NULL, false, 10, 0, CD_KEEP, "yet" },
		{ NULL, false, 200, 0, CD_MISSING, "does not list" },
		/* an answer that makes no sense */
		{ "{\"deploymentId\":\"d-1\"}", false, 10, 0, CD_ANOMALY, "(none)" },
		{ "{\"deploymentId\":\"d-1\",\"status\":7}", false, 10, 0, CD_ANOMALY, "" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"succeeded\"}", false, 10, 0, CD_ANOMALY,
		  "'succeeded'" },
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Teleported\\n\\u001b[31mMESSAGE_ID=x\"}",
		  false, 10, 0, CD_ANOMALY, "Teleported" },
		/* wrong types everywhere: no crash, nothing concluded from them */
		{ "{\"deploymentId\":\"d-1\",\"status\":\"Failed\",\"errorInformation\":\"boom\","
		  "\"rollbackInfo\":[1],\"autoRollbackConfiguration\":{\"enabled\":\"yes\"},"
		  "\"deploymentOverview\":{\"Pending\":-5}}",
		  false, 10, 50, CD_FAILED, "Failed" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cd_result out;
		verdict_of(rows[i].info, rows[i].by_us, rows[i].now, rows[i].rollback_until, &out);
		if (out.verdict != rows[i].want)
			unit_fail(__FILE__, __LINE__, "row %zu: verdict %d, want %d (%s)", i,
				  (int)out.verdict, (int)rows[i].want, out.reason);
		if (!strstr(out.reason, rows[i].in_reason))
			unit_fail(__FILE__, __LINE__, "row %zu: reason '%s' lacks '%s'", i,
				  out.reason, rows[i].in_reason);
		/* whatever came in, what is said has no control byte (a journal field, a line) */
		for (const char *p = out.reason; *p; p++)
			CHECK((unsigned char)*p >= 0x20);
		for (const char *p = out.status; *p; p++)
			CHECK((unsigned char)*p >= 0x20);
	}
	/* the figures: the rollback id, the error code, Ready's STOP_DEPLOYMENT, the overview */
	struct cd_result out;
	verdict_of(
	    "{\"deploymentId\":\"d-1\",\"status\":\"Failed\",\"errorInformation\":{\"code\":"
	    "\"HOOK_EXECUTION_FAILURE\"},\"rollbackInfo\":{\"rollbackDeploymentId\":\"d-RB\"},"
	    "\"blueGreenDeploymentConfiguration\":{\"deploymentReadyOption\":{"
	    "\"actionOnTimeout\":\"STOP_DEPLOYMENT\"}},\"deploymentOverview\":{\"Failed\":1}}",
	    false, 10, 0, &out);
	CHECK_STR(out.rollback_id, "d-RB");
	CHECK_STR(out.error_code, "HOOK_EXECUTION_FAILURE");
	CHECK_STR(out.status, "Failed");
	CHECK(out.ready_stop);
	CHECK_INT(out.overview[3], 1);
	CHECK_INT(out.overview[0], -1);
}

/* CODEDEPLOY_OVERVIEW: the six counts in CodeDeploy's order; a count that is not a number from 0
 * to 999999999 (a string, negative, huge, a nested object) is left out, never said as a number. */
TEST(cdeploy_overview_text)
{
	static const struct {
		const char *overview; /* the deploymentOverview of a deploymentInfo, or NULL */
		const char *want;
	} rows[] = {
		{ "{\"Pending\":0,\"InProgress\":1,\"Succeeded\":0,\"Failed\":0,\"Skipped\":0,"
		  "\"Ready\":0}",
		  "Pending=0 InProgress=1 Succeeded=0 Failed=0 Skipped=0 Ready=0" },
		{ "{\"Ready\":2,\"Pending\":3}", "Pending=3 Ready=2" },
		{ "{\"Pending\":\"7 Failed=9\",\"InProgress\":-1,\"Succeeded\":1e12,\"Failed\":{},"
		  "\"Skipped\":null,\"Ready\":999999999}",
		  "Ready=999999999" },
		{ "{\"pending\":1,\"Surprise\":4}", "" },
		{ "[1,2,3]", "" },
		{ NULL, "" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char info[400], text[160];
		struct cd_result out;
		snprintf(info, sizeof(info),
			 "{\"deploymentId\":\"d-1\",\"status\":\"InProgress\"%s%s}",
			 rows[i].overview ? ",\"deploymentOverview\":" : "",
			 rows[i].overview ? rows[i].overview : "");
		verdict_of(info, false, 10, 0, &out);
		cdtrack_overview_text(out.overview, text, sizeof(text));
		if (strcmp(text, rows[i].want))
			unit_fail(__FILE__, __LINE__, "row %zu: '%s', want '%s'", i, text,
				  rows[i].want);
	}
	/* a short buffer: cut, terminated */
	int all[6] = { 1, 2, 3, 4, 5, 6 };
	char small[12];
	cdtrack_overview_text(all, small, sizeof(small));
	CHECK_STR(small, "Pending=1 I");
}

TEST(cdeploy_rollback_verdict)
{
	static const struct {
		const char *info;
		double now;
		enum cd_verdict want;
	} rows[] = {
		{ "{\"deploymentId\":\"d-RB\",\"status\":\"InProgress\"}", 10, CD_KEEP },
		{ "{\"deploymentId\":\"d-RB\",\"status\":\"Succeeded\"}", 10, CD_DONE },
		{ "{\"deploymentId\":\"d-RB\",\"status\":\"Failed\"}", 10, CD_FAILED },
		{ "{\"deploymentId\":\"d-RB\",\"status\":\"Stopped\"}", 10, CD_FAILED },
		{ "{\"deploymentId\":\"d-RB\",\"status\":\"InProgress\"}", 2000, CD_TIMEOUT },
		{ "{\"deploymentId\":\"d-RB\",\"status\":\"Dancing\"}", 10, CD_ANOMALY },
		{ NULL, 10, CD_KEEP },
		{ NULL, 200, CD_MISSING },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cJSON *info = rows[i].info ? cJSON_Parse(rows[i].info) : NULL;
		struct cd_input in = {
			.info = info, .now = rows[i].now, .deadline = 1000, .appear_by = 100
		};
		struct cd_result out;
		cdtrack_rollback_verdict(&in, &out);
		if (out.verdict != rows[i].want)
			unit_fail(__FILE__, __LINE__, "row %zu: verdict %d, want %d (%s)", i,
				  (int)out.verdict, (int)rows[i].want, out.reason);
		cJSON_Delete(info);
	}
}

TEST(cdeploy_appspec_has_the_optional_keys_only_when_given)
{
	struct cd_appspec in = { .td = "arn:aws:ecs:us-east-1:1:task-definition/web:2",
				 .container = "app\"x\\", /* escaped, never breaking the JSON */
				 .port = 8080 };
	char *text = NULL, why[200];
	cJSON *o, *props;

	CHECK_INT(cdtrack_appspec(&in, &text, why, sizeof(why)), 0);
	o = text ? cJSON_Parse(text) : NULL;
	CHECK(o != NULL);
	CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "version")) == 0.0);
	props = cJSON_GetObjectItem(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "Resources"), 0),
				"TargetService"),
	    "Properties");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(props, "TaskDefinition")), in.td);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
		      cJSON_GetObjectItem(props, "LoadBalancerInfo"), "ContainerName")),
		  "app\"x\\");
	CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(
		  cJSON_GetObjectItem(props, "LoadBalancerInfo"), "ContainerPort")) == 8080.0);
	CHECK(cJSON_GetArraySize(props) == 2); /* nothing else unless the service has it */
	cJSON_Delete(o);
	free(text);

	/* From a service with all three: PascalCase, the values kept. */
	cJSON *svc = cJSON_Parse(
	    "{\"platformVersion\":\"1.4.0\",\"networkConfiguration\":{\"awsvpcConfiguration\":{"
	    "\"subnets\":[\"subnet-1\",\"subnet-2\"],\"securityGroups\":[\"sg-1\"],"
	    "\"assignPublicIp\":\"DISABLED\"}},\"capacityProviderStrategy\":[{"
	    "\"capacityProvider\":\"FARGATE_SPOT\",\"weight\":3,\"base\":1}]}");
	char *platform, *network, *capacity;
	CHECK_INT(cdtrack_appspec_keys(svc, &platform, &network, &capacity, why, sizeof(why)), 0);
	CHECK_STR(platform, "1.4.0");
	CHECK_STR(network, "{\"AwsvpcConfiguration\":{\"Subnets\":[\"subnet-1\",\"subnet-2\"],"
			   "\"SecurityGroups\":[\"sg-1\"],\"AssignPublicIp\":\"DISABLED\"}}");
	CHECK_STR(capacity, "[{\"CapacityProvider\":\"FARGATE_SPOT\",\"Base\":1,\"Weight\":3}]");
	in.platform = platform;
	in.network = network;
	in.capacity = capacity;
	CHECK_INT(cdtrack_appspec(&in, &text, why, sizeof(why)), 0);
	o = text ? cJSON_Parse(text) : NULL;
	props = cJSON_GetObjectItem(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "Resources"), 0),
				"TargetService"),
	    "Properties");
	CHECK(cJSON_GetArraySize(props) == 5);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
		      cJSON_GetObjectItem(cJSON_GetObjectItem(props, "NetworkConfiguration"),
					  "AwsvpcConfiguration"),
		      "AssignPublicIp")),
		  "DISABLED");
	cJSON_Delete(o);
	free(text);
	free(platform);
	free(network);
	free(capacity);
	cJSON_Delete(svc);

	/* A service without them: none; one of the wrong shape: refused, named. */
	svc = cJSON_Parse("{\"taskDefinition\":\"td:1\"}");
	CHECK_INT(cdtrack_appspec_keys(svc, &platform, &network, &capacity, why, sizeof(why)), 0);
	CHECK(!platform && !network && !capacity);
	cJSON_Delete(svc);
	svc = cJSON_Parse("{\"networkConfiguration\":{\"awsvpcConfiguration\":{\"subnets\":[1]}}}");
	CHECK_INT(cdtrack_appspec_keys(svc, &platform, &network, &capacity, why, sizeof(why)),
		  -EINVAL);
	CHECK(strstr(why, "networkConfiguration") != NULL);
	cJSON_Delete(svc);
	svc = cJSON_Parse("{\"networkConfiguration\":{\"awsvpcConfiguration\":{\"subnets\":[],"
			  "\"assignPublicIp\":\"MAYBE\"}}}");
	CHECK_INT(cdtrack_appspec_keys(svc, &platform, &network, &capacity, why, sizeof(why)),
		  -EINVAL);
	cJSON_Delete(svc);
	svc = cJSON_Parse("{\"capacityProviderStrategy\":[{\"weight\":1}]}");
	CHECK_INT(cdtrack_appspec_keys(svc, &platform, &network, &capacity, why, sizeof(why)),
		  -EINVAL);
	CHECK(strstr(why, "capacityProviderStrategy") != NULL);
	cJSON_Delete(svc);

	/* A record whose JSON text was edited into something else: refused, not sent. */
	in.platform = NULL;
	in.network = "{\"AwsvpcConfiguration\":";
	in.capacity = NULL;
	CHECK_INT(cdtrack_appspec(&in, &text, why, sizeof(why)), -EINVAL);
	CHECK(text == NULL);
	in.network = "[1]";
	CHECK_INT(cdtrack_appspec(&in, &text, why, sizeof(why)), -EINVAL);
	in.network = NULL;
	in.port = 0;
	CHECK_INT(cdtrack_appspec(&in, &text, why, sizeof(why)), -EINVAL);
}

TEST(cdeploy_service_base_and_load_balancer)
{
	cJSON *svc = cJSON_Parse(
	    "{\"taskDefinition\":\"td:9\",\"taskSets\":[{\"status\":\"ACTIVE\",\"taskDefinition\":"
	    "\"td:3\"},{\"status\":\"PRIMARY\",\"taskDefinition\":\"td:2\",\"loadBalancers\":[{"
	    "\"containerName\":\"web\",\"containerPort\":80}]}],\"loadBalancers\":[{"
	    "\"targetGroupArn\":\"tg\"}]}");
	const char *c = NULL;
	long port = 0;

	CHECK_STR(cdtrack_base_td(svc), "td:2");  /* the PRIMARY task set's */
	CHECK_INT(cdtrack_lb(svc, &c, &port), 0); /* the service's has no container: the set's */
	CHECK_STR(c, "web");
	CHECK_INT(port, 80);
	cJSON_Delete(svc);
	svc = cJSON_Parse("{\"taskDefinition\":\"td:9\",\"loadBalancers\":[{\"containerName\":"
			  "\"app\",\"containerPort\":70000}]}");
	CHECK_STR(cdtrack_base_td(svc), "td:9");
	CHECK_INT(cdtrack_lb(svc, &c, &port), -ENOENT); /* not a port */
	cJSON_Delete(svc);
	CHECK(cdtrack_base_td(NULL) == NULL);
}

TEST(cdeploy_ours_is_found_by_its_token)
{
	cJSON *body = cJSON_Parse(
	    "{\"deploymentsInfo\":[{\"deploymentId\":\"d-A\",\"description\":\"ecr-deployd "
	    "0123456789abcdef0 sha256:x for web\"},{\"deploymentId\":\"d-B\",\"description\":"
	    "\"someone else's\"},{\"deploymentId\":\"d-C\",\"description\":\"ecr-deployd "
	    "0123456789abcdef sha256:x for web\"},{\"deploymentId\":\"bad id\",\"description\":"
	    "\"ecr-deployd fedcba9876543210 x\"}]}");
	char id[CD_ID_MAX], desc[200];

	CHECK(cdtrack_find_token(body, "0123456789abcdef", id, sizeof(id)));
	CHECK_STR(id, "d-C"); /* not d-A, whose token only starts the same */
	CHECK(!cdtrack_find_token(body, "fedcba9876543210", id, sizeof(id))); /* its id is bad */
	CHECK(!cdtrack_find_token(body, "1111111111111111", id, sizeof(id)));
	CHECK(!cdtrack_find_token(body, NULL, id, sizeof(id)));
	CHECK(cdtrack_info(body, "d-B") != NULL);
	CHECK(cdtrack_info(body, "d-Z") == NULL);
	cdtrack_description("0123456789abcdef", "sha256:x", "web", desc, sizeof(desc));
	CHECK_STR(desc, "ecr-deployd 0123456789abcdef sha256:x for web");
	cJSON_Delete(body);
	CHECK(cdtrack_id_valid("d-ABC123"));
	CHECK(!cdtrack_id_valid(""));
	CHECK(!cdtrack_id_valid(NULL));
	CHECK(!cdtrack_id_valid("d-1/../x"));
}

TEST(cdeploy_target_event_diagnostics_and_weight)
{
	cJSON *body = cJSON_Parse(
	    "{\"deploymentTargets\":[{\"deploymentTargetType\":\"ECSTarget\",\"ecsTarget\":{"
	    "\"lifecycleEvents\":[{\"lifecycleEventName\":\"BeforeInstall\",\"status\":"
	    "\"Succeeded\"},{\"lifecycleEventName\":\"AfterAllowTestTraffic\",\"status\":"
	    "\"Failed\","
	    "\"diagnostics\":{\"errorCode\":\"ScriptFailed\",\"scriptName\":\"CheckHealth\","
	    "\"message\":\"5xx\\nMESSAGE_ID=evil\",\"logTail\":\"boom\"}},{\"lifecycleEventName\":"
	    "\"AllowTraffic\",\"status\":\"InProgress\"}],\"taskSetsInfo\":[{\"taskSetLabel\":"
	    "\"BLUE\",\"trafficWeight\":60},{\"taskSetLabel\":\"GREEN\",\"trafficWeight\":40}]}}]"
	    "}");
	struct cd_target t;

	cdtrack_target(body, &t);
	CHECK_STR(t.event, "AllowTraffic");
	CHECK_STR(t.failed_event, "AfterAllowTestTraffic");
	CHECK(strstr(t.diagnostics, "ScriptFailed in CheckHealth") != NULL);
	CHECK(strstr(t.diagnostics, "boom") != NULL);
	CHECK(strchr(t.diagnostics, '\n') == NULL);
	CHECK(t.weight == 40.0);
	cJSON_Delete(body);
	/* the model's labels are "Blue" and "Green" */
	body = cJSON_Parse("{\"deploymentTargets\":[{\"ecsTarget\":{\"taskSetsInfo\":[{"
			   "\"taskSetLabel\":\"Blue\",\"trafficWeight\":90},{\"taskSetLabel\":"
			   "\"Green\",\"trafficWeight\":10.0}]}}]}");
	cdtrack_target(body, &t);
	CHECK(t.weight == 10.0);
	cJSON_Delete(body);
	body = cJSON_Parse("{\"deploymentTargets\":[{\"ecsTarget\":{\"taskSetsInfo\":[{"
			   "\"taskSetLabel\":\"GREEN\",\"trafficWeight\":400}],\"lifecycleEvents\":"
			   "7}}]}");
	cdtrack_target(body, &t);
	CHECK(t.weight == -1);
	CHECK_STR(t.event, "");
	cJSON_Delete(body);
	cdtrack_target(NULL, &t);
	CHECK(t.weight == -1);
}

static void count(const char *app, const char *group, void *ud)
{
	char *seen = ud;
	size_t len = strlen(seen);

	snprintf(seen + len, 200 - len, "%s/%s;", app, group);
}

TEST(cdeploy_discovery_matches_cluster_and_service)
{
	cJSON *body = cJSON_Parse(
	    "{\"deploymentGroupsInfo\":[{\"applicationName\":\"a\",\"deploymentGroupName\":\"g1\","
	    "\"ecsServices\":[{\"serviceName\":\"web\",\"clusterName\":\"prod\"}]},{"
	    "\"applicationName\":\"a\",\"deploymentGroupName\":\"g2\",\"ecsServices\":[{"
	    "\"serviceName\":\"web\",\"clusterName\":\"staging\"}]},{\"applicationName\":\"a\","
	    "\"deploymentGroupName\":\"g3\",\"ecsServices\":\"web\"},{\"applicationName\":7}]}");
	char seen[200] = "";

	CHECK_INT(cdtrack_groups_matching(body, "arn:aws:ecs:us-east-1:1:cluster/prod", "web",
					  count, seen),
		  1);
	CHECK_STR(seen, "a/g1;");
	cJSON_Delete(body);
}

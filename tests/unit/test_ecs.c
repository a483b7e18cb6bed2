/* SPDX-License-Identifier: MIT */
/* daemon/ecs: the readers of ECS replies, over replies as the simulator gives them and hostile
 * ones. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ecs.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

TEST(ecs_services_and_deployments)
{
	cJSON *b = cJSON_Parse(
	    "{\"services\": [{\"serviceName\": \"api\"}, {\"serviceName\": \"web\", "
	    "\"deployments\": [{\"id\": \"ecs-svc/2\", \"status\": \"PRIMARY\", "
	    "\"taskDefinition\": "
	    "\"td:2\", \"rolloutState\": \"IN_PROGRESS\"}, {\"id\": \"ecs-svc/1\", \"status\": "
	    "\"ACTIVE\", \"taskDefinition\": \"td:1\", \"runningCount\": 2, \"desiredCount\": "
	    "2}]}], "
	    "\"failures\": []}");
	const cJSON *svc = ecs_find_service(b, "web");

	CHECK(svc != NULL);
	CHECK(ecs_find_service(b, "nope") == NULL);
	CHECK(ecs_find_service(b, NULL) == NULL);
	CHECK(ecs_primary(svc) == ecs_find_deployment(svc, "id", "ecs-svc/2"));
	CHECK(ecs_find_deployment(svc, "taskDefinition", "td:1") != NULL);
	CHECK(!ecs_completed(svc, ecs_primary(svc)));
	CHECK(!ecs_completed(svc, ecs_find_deployment(svc, "id", "ecs-svc/1"))); /* two of them */
	CHECK(!ecs_completed(svc, NULL));
	cJSON_Delete(b);
	b = cJSON_Parse(
	    "{\"services\": [{\"serviceName\": \"web\", \"deployments\": [{\"id\": "
	    "\"d\", \"status\": \"PRIMARY\", \"runningCount\": 3, \"desiredCount\": 3}]}]}");
	svc = ecs_find_service(b, "web");
	CHECK(ecs_completed(svc, ecs_primary(svc))); /* no rolloutState: ServicesStable */
	cJSON_Delete(b);
	/* Wrong types everywhere: nothing found, nothing crashes. */
	b = cJSON_Parse("{\"services\": {\"serviceName\": \"web\"}, \"deployments\": 3}");
	CHECK(ecs_find_service(b, "web") == NULL);
	CHECK(ecs_primary(b) == NULL);
	cJSON_Delete(b);
}

/* CODE_DEPLOY services: the PRIMARY task set, only when there is exactly one that names its
 * task definition. */
TEST(ecs_primary_task_set)
{
	static const struct {
		const char *json;
		const char *want; /* its id, or NULL */
	} cases[] = {
		{ "{\"taskSets\": [{\"id\": \"ecs-svc/2\", \"status\": \"ACTIVE\", "
		  "\"taskDefinition\": \"td:2\"}, {\"id\": \"ecs-svc/1\", \"status\": "
		  "\"PRIMARY\", \"taskDefinition\": \"td:1\"}]}",
		  "ecs-svc/1" },
		{ "{\"taskSets\": []}", NULL },
		{ "{}", NULL },
		{ "{\"taskSets\": {\"status\": \"PRIMARY\"}}", NULL },
		{ "{\"taskSets\": [{\"id\": \"a\", \"status\": \"PRIMARY\"}]}", NULL },
		{ "{\"taskSets\": [{\"id\": \"a\", \"status\": 1, \"taskDefinition\": \"x\"}]}",
		  NULL },
		{ "{\"taskSets\": [{\"id\": \"a\", \"status\": \"PRIMARY\", "
		  "\"taskDefinition\": \"x\"}, {\"id\": \"b\", \"status\": \"PRIMARY\", "
		  "\"taskDefinition\": \"y\"}]}",
		  NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *svc = cJSON_Parse(cases[i].json);
		const cJSON *ts = ecs_primary_task_set(svc);
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(ts, "id"));
		CHECK(svc != NULL);
		if (cases[i].want)
			CHECK_STR(id, cases[i].want);
		else
			CHECK(ts == NULL);
		cJSON_Delete(svc);
	}
	CHECK(ecs_primary_task_set(NULL) == NULL);
}

/* A count that is missing, negative, huge or not a number is 0, never cast (UBSan's
 * float-cast-overflow caught (int)NaN for a deployment not in the reply). */
TEST(ecs_count)
{
	cJSON *d = cJSON_Parse("{\"a\": 3, \"b\": -1, \"c\": 1e300, \"d\": \"7\"}");

	CHECK_INT(ecs_count(d, "a"), 3);
	CHECK_INT(ecs_count(d, "b"), 0);
	CHECK_INT(ecs_count(d, "c"), 0);
	CHECK_INT(ecs_count(d, "d"), 0);
	CHECK_INT(ecs_count(d, "missing"), 0);
	CHECK_INT(ecs_count(NULL, "a"), 0);
	cJSON_Delete(d);
}

TEST(ecs_ours_already)
{
	cJSON *b =
	    cJSON_Parse("{\"taskDefinition\": {\"taskDefinitionArn\": \"arn:td:3\"}, "
			"\"tags\": [{\"key\": \"ecr-deployd:digest\", \"value\": \"" D1 "\"}, "
			"{\"key\": \"ecr-deployd:previous\", \"value\": \"arn:td:1\"}]}");

	CHECK_STR(ecs_ours_already(b, D1, "arn:td:1"), "arn:td:3");
	CHECK(ecs_ours_already(b, D2, "arn:td:1") == NULL);
	CHECK(ecs_ours_already(b, D1, "arn:td:2") == NULL);
	CHECK(ecs_ours_already(b, NULL, "arn:td:1") == NULL);
	CHECK_STR(ecs_taskdef_arn(b), "arn:td:3");
	cJSON_Delete(b);
}

/* Issue 11 case 5: a digest from ECS that is not one is reported, never used. */
TEST(ecs_tasks_digest)
{
	static const struct {
		const char *name, *body, *started_by;
		enum ecs_tasks_verdict want;
		const char *digest;
		int checked;
	} rows[] = {
		{ "one digest",
		  "{\"tasks\": [{\"containers\": [{\"name\": \"app\", \"imageDigest\": \"" D1
		  "\"}, {\"name\": \"side\", \"imageDigest\": \"" D2 "\"}]}]}",
		  NULL, ECS_TASKS_ONE, D1, 1 },
		{ "no task", "{\"tasks\": []}", NULL, ECS_TASKS_NONE, NULL, 0 },
		{ "no digest yet", "{\"tasks\": [{\"containers\": [{\"name\": \"app\"}]}]}", NULL,
		  ECS_TASKS_NONE, NULL, 0 },
		{ "mixed",
		  "{\"tasks\": [{\"containers\": [{\"name\": \"app\", \"imageDigest\": \"" D1
		  "\"}]}, {\"containers\": [{\"name\": \"app\", \"imageDigest\": \"" D2 "\"}]}]}",
		  NULL, ECS_TASKS_MIXED, NULL, 2 },
		{ "uppercase",
		  "{\"tasks\": [{\"containers\": [{\"name\": \"app\", \"imageDigest\": "
		  "\"sha256:"
		  "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"
		  "\"}]}]}",
		  NULL, ECS_TASKS_INVALID,
		  "sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789", 1 },
		{ "a newline",
		  "{\"tasks\": [{\"containers\": [{\"name\": \"app\", \"imageDigest\": \"" D1
		  "\"}]}, {\"containers\": [{\"name\": \"app\", \"imageDigest\": "
		  "\"sha256:1\\nMESSAGE_ID=x\"}]}]}",
		  NULL, ECS_TASKS_INVALID, "sha256:1\nMESSAGE_ID=x", 2 },
		{ "only the deployment's tasks",
		  "{\"tasks\": [{\"startedBy\": \"ecs-svc/1\", \"containers\": [{\"name\": "
		  "\"app\", "
		  "\"imageDigest\": \"" D1 "\"}]}, {\"startedBy\": \"ecs-svc/2\", \"containers\": "
		  "[{\"name\": \"app\", \"imageDigest\": \"" D2 "\"}]}]}",
		  "ecs-svc/2", ECS_TASKS_ONE, D2, 1 },
		{ "wrong types", "{\"tasks\": [{\"containers\": {\"name\": \"app\"}}, 7]}", NULL,
		  ECS_TASKS_NONE, NULL, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cJSON *b = cJSON_Parse(rows[i].body);
		const char *d = NULL;
		int checked = -1;
		enum ecs_tasks_verdict v =
		    ecs_tasks_digest(b, "app", rows[i].started_by, &d, &checked);
		if (!b || v != rows[i].want || checked != rows[i].checked ||
		    (rows[i].digest ? !d || strcmp(d, rows[i].digest) : d != NULL))
			unit_fail(__FILE__, __LINE__, "%s: verdict %d, digest %s, checked %d",
				  rows[i].name, v, d ? d : "(null)", checked);
		cJSON_Delete(b);
	}
}

TEST(ecs_pinned_digest)
{
	cJSON *td = cJSON_Parse(
	    "{\"containerDefinitions\": [{\"name\": \"app\", \"image\": \"r/web@" D1 "\"}, "
	    "{\"name\": \"tag\", \"image\": \"r/web:prod\"}, {\"name\": \"bad\", \"image\": "
	    "\"r/web@sha256:../../etc/passwd\"}, {\"name\": \"none\"}]}");
	const char *d = NULL;

	CHECK_INT(ecs_pinned_digest(td, "app", &d), 1);
	CHECK_STR(d, D1);
	CHECK_INT(ecs_pinned_digest(td, "tag", &d), 0);
	CHECK(d == NULL);
	CHECK_INT(ecs_pinned_digest(td, "bad", &d), -EINVAL);
	CHECK_STR(d, "sha256:../../etc/passwd");
	CHECK_INT(ecs_pinned_digest(td, "none", &d), 0);
	CHECK_INT(ecs_pinned_digest(td, "missing", &d), -ENOENT);
	cJSON_Delete(td);
}

TEST(ecs_printable)
{
	char out[64];

	ecs_printable("sha256:1\nMESSAGE_ID=x\x1b[2J'\\", out, sizeof(out));
	CHECK_STR(out, "sha256:1\\nMESSAGE_ID=x\\x1b[2J\\'\\\\");
	ecs_printable(NULL, out, sizeof(out));
	CHECK_STR(out, "(none)");
	ecs_printable("0123456789012345678901234567890123456789012345678901234567890123456789", out,
		      sizeof(out));
	CHECK(strlen(out) < sizeof(out) && strstr(out, "...") != NULL);
}

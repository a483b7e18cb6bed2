/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the readers of the ECS replies the deploy engine uses
 * (daemon/ecs.h, daemon/taskdef.h): the bytes are parsed as a reply and read as
 * each of DescribeServices, DescribeTaskDefinition (with its tags),
 * RegisterTaskDefinition, ListTasks, DescribeTasks and DescribeServiceDeployments
 * (the tracking verdict of each service deployment, deploying and rolling back)
 * would be, including the RegisterTaskDefinition request built from it.
 */
#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "ecs.h"
#include "taskdef.h"
#include "track.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = cJSON_ParseWithLength((const char *)data, size), *pinned = NULL;
	const char *containers[] = { "app", "sidecar" }, *d = NULL;
	const cJSON *svc, *dep;
	char why[600], text[400];
	int checked = 0;

	if (!body)
		return 0;
	/* DescribeServices */
	svc = ecs_find_service(body, "web");
	dep = ecs_primary(svc);
	(void)ecs_completed(svc, dep);
	(void)ecs_count(dep, "runningCount");
	(void)ecs_count(ecs_find_deployment(svc, "id", "nope"), "desiredCount");
	(void)ecs_completed(svc, ecs_find_deployment(svc, "id", "ecs-svc/1"));
	(void)ecs_find_deployment(svc, "taskDefinition",
				  "arn:aws:ecs:us-east-1:1:task-definition/web:2");
	(void)cJSON_GetStringValue(cJSON_GetObjectItem(svc, "taskDefinition"));
	/* DescribeTaskDefinition, RegisterTaskDefinition */
	(void)ecs_taskdef_arn(body);
	(void)ecs_ours_already(body, D1, "arn:aws:ecs:us-east-1:1:task-definition/web:1");
	const cJSON *td = cJSON_GetObjectItem(body, "taskDefinition");
	if (ecs_pinned_digest(td, "app", &d) != 0 && d)
		ecs_printable(d, text, sizeof(text));
	(void)image_pinned_digest(taskdef_image(td, "sidecar"));
	if (taskdef_pin(body, containers, 2, "1.dkr.ecr.us-east-1.amazonaws.com/team/web@" D1, D1,
			"prod", &pinned, why, sizeof(why)) == 0) {
		char *text_out = cJSON_PrintUnformatted(pinned);
		cJSON_free(text_out);
		cJSON_Delete(pinned);
	}
	/* ListTasks, DescribeTasks */
	(void)cJSON_GetArraySize(cJSON_GetObjectItem(body, "taskArns"));
	if (ecs_tasks_digest(body, "app", NULL, &d, &checked) == ECS_TASKS_INVALID)
		ecs_printable(d, text, sizeof(text));
	(void)ecs_tasks_digest(body, "app", "ecs-svc/1", &d, NULL);
	/* DescribeServiceDeployments */
	const cJSON *sd;
	cJSON_ArrayForEach(sd, cJSON_GetObjectItem(body, "serviceDeployments"))
	{
		struct track_sd_result out;
		for (int rb = 0; rb < 2; rb++) {
			struct track_sd_input in = { .sd = sd,
						     .rolling_back = rb,
						     .now = 100,
						     .deadline = rb ? 50 : 200,
						     .appear_by = 50 };
			track_sd(&in, &out);
			(void)cJSON_GetStringValue(cJSON_GetObjectItem(out.hook, "hookId"));
		}
	}
	struct track_sd_input none = { .missing = "MISSING", .now = 100, .deadline = 200 };
	struct track_sd_result out;
	track_sd(&none, &out);
	cJSON_Delete(body);
	return 0;
}

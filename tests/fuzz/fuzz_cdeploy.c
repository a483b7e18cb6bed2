/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the readers of the CodeDeploy replies strategy codedeploy uses
 * (daemon/cdtrack.h): the bytes are parsed as a reply and read as each of GetDeployment and
 * BatchGetDeployments (the verdict on ours, deploying, stopped by us and by someone else, and on
 * a rollback; ours found by its token), BatchGetDeploymentTargets (event, diagnostics, traffic
 * weight), BatchGetDeploymentGroups (discovery), and as the DescribeServices reply the AppSpec
 * is built from (its keys converted, the AppSpec made).
 */
#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cdtrack.h"
#include "ecs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void found(const char *app, const char *group, void *ud)
{
	size_t *n = ud;

	*n += strlen(app) + strlen(group);
}

static void verdicts(const cJSON *info)
{
	struct cd_result out;
	double nows[] = { 10, 60, 2000 };

	for (size_t i = 0; i < sizeof(nows) / sizeof(nows[0]); i++)
		for (int by_us = 0; by_us < 2; by_us++) {
			struct cd_input in = { .info = info,
					       .stopped_by_us = by_us,
					       .now = nows[i],
					       .deadline = 1000,
					       .appear_by = 100,
					       .rollback_until = 50 };
			cdtrack_verdict(&in, &out);
			cdtrack_rollback_verdict(&in, &out);
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = cJSON_ParseWithLength((const char *)data, size);
	const cJSON *x;
	char id[CD_ID_MAX], why[300];
	struct cd_target t;
	size_t n = 0;

	if (!body)
		return 0;
	/* GetDeployment, BatchGetDeployments */
	verdicts(cJSON_GetObjectItem(body, "deploymentInfo"));
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(body, "deploymentsInfo"))
	{
		verdicts(x);
	}
	(void)cdtrack_info(body, "d-1");
	(void)cdtrack_find_token(body, "0123456789abcdef", id, sizeof(id));
	/* BatchGetDeploymentTargets */
	cdtrack_target(body, &t);
	/* BatchGetDeploymentGroups */
	(void)cdtrack_groups_matching(body, "arn:aws:ecs:us-east-1:1:cluster/prod", "web", found,
				      &n);
	/* DescribeServices: the service the AppSpec is built from */
	const cJSON *svc = ecs_find_service(body, "web");
	const char *container = NULL, *td = cdtrack_base_td(svc);
	long port = 0;
	char *platform = NULL, *network = NULL, *capacity = NULL, *appspec = NULL;
	if (cdtrack_lb(svc, &container, &port) < 0) {
		container = "app";
		port = 8080;
	}
	if (cdtrack_appspec_keys(svc, &platform, &network, &capacity, why, sizeof(why)) == 0) {
		struct cd_appspec in = { .td = td ? td : "td:1",
					 .container = container,
					 .port = port,
					 .platform = platform,
					 .network = network,
					 .capacity = capacity };
		if (cdtrack_appspec(&in, &appspec, why, sizeof(why)) == 0) {
			cJSON *back = cJSON_Parse(appspec);
			if (!back)
				abort(); /* what is built always parses */
			cJSON_Delete(back);
		}
	}
	free(appspec);
	free(platform);
	free(network);
	free(capacity);
	cJSON_Delete(body);
	return 0;
}

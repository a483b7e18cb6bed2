/* SPDX-License-Identifier: MIT */
/*
 * daemon/event.c: what arrives from SQS. Events as AWS documents them (ECR push and delete,
 * ECS deployment and hook state changes, in every partition, also inside an SNS
 * notification), then each field made missing, mistyped or hostile; ReceiveMessage and
 * DeleteMessageBatch replies of every shape a peer can send.
 */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "unit.h"

#define DG  "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DG2 "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* As ECR sends them (ecr-eventbridge.html), with a full digest and the CDK's extra keys. */
static const char ecr_push[] =
    "{\"version\":\"0\",\"id\":\"13cde686-328b-6117-af20-0e5566167482\","
    "\"detail-type\":\"ECR Image Action\",\"source\":\"aws.ecr\",\"account\":\"123456789012\","
    "\"time\":\"2019-11-16T01:54:34Z\",\"region\":\"us-west-2\",\"resources\":[],"
    "\"detail\":{\"result\":\"SUCCESS\",\"repository-name\":\"my-repository-name\","
    "\"image-digest\":\"" DG "\",\"action-type\":\"PUSH\",\"image-tag\":\"latest\","
    "\"manifest-media-type\":\"application/vnd.oci.image.manifest.v1+json\"}}";

static const char ecr_delete[] =
    "{\"version\":\"0\",\"id\":\"dd3b46cb-2c74-f49e-393b-28286b67279d\","
    "\"detail-type\":\"ECR Image Action\",\"source\":\"aws.ecr\",\"account\":\"123456789012\","
    "\"time\":\"2019-11-16T02:01:05Z\",\"region\":\"us-west-2\",\"resources\":[],"
    "\"detail\":{\"result\":\"SUCCESS\",\"repository-name\":\"team/my-repository-name\","
    "\"image-digest\":\"" DG2 "\",\"action-type\":\"DELETE\",\"image-tag\":\"v1.2.3\"}}";

static const char ecr_scan[] =
    "{\"version\":\"0\",\"id\":\"85fc3613-e913-7fc4-a80c-a3753e4aa9ae\","
    "\"detail-type\":\"ECR Image Scan\",\"source\":\"aws.ecr\",\"account\":\"123456789012\","
    "\"time\":\"2019-10-29T02:36:48Z\",\"region\":\"us-east-1\",\"resources\":"
    "[\"arn:aws:ecr:us-east-1:123456789012:repository/my-repository-name\"],"
    "\"detail\":{\"scan-status\":\"COMPLETE\",\"repository-name\":\"my-repository-name\","
    "\"finding-severity-counts\":{\"CRITICAL\":10,\"MEDIUM\":9},"
    "\"image-digest\":\"" DG "\",\"image-tags\":[]}}";

/* ecs_service_deployment_events.html */
static const char ecs_deploy[] =
    "{\"version\":\"0\",\"id\":\"ddca6449-b258-46c0-8653-e0e3a6EXAMPLE\","
    "\"detail-type\":\"ECS Deployment State Change\",\"source\":\"aws.ecs\","
    "\"account\":\"111122223333\",\"time\":\"2020-05-23T12:31:14Z\",\"region\":\"us-west-2\","
    "\"resources\":[\"arn:aws:ecs:us-west-2:111122223333:service/default/servicetest\"],"
    "\"detail\":{\"eventType\":\"INFO\",\"eventName\":\"SERVICE_DEPLOYMENT_IN_PROGRESS\","
    "\"deploymentId\":\"ecs-svc/123\",\"updatedAt\":\"2020-05-23T11:11:11Z\","
    "\"reason\":\"ECS deployment deploymentId in progress.\"}}";

static const char ecs_hook[] =
    "{\"version\":\"0\",\"id\":\"0b8c4a3e-6a4f-4e3c-9f51-3f0a2b7c1d9e\","
    "\"detail-type\":\"ECS Hook State Change\",\"source\":\"aws.ecs\","
    "\"account\":\"111122223333\",\"time\":\"2025-07-16T09:30:01.250Z\",\"region\":\"us-west-2\","
    "\"resources\":[\"arn:aws:ecs:us-west-2:111122223333:service/default/servicetest\"],"
    "\"detail\":{\"eventName\":\"HOOK_AWAITING_ACTION\",\"hookId\":\"hk-0a1b2c\","
    "\"serviceDeploymentArn\":\"arn:aws:ecs:us-west-2:111122223333:service-deployment/"
    "default/servicetest/Xy7_Ab-9\",\"lifecycleStage\":\"POST_SCALE_UP\","
    "\"expiresAt\":\"2025-07-16T10:30:01Z\"}}";

static const char ecs_task[] =
    "{\"version\":\"0\",\"id\":\"3317b2af-7005-947d-b652-f55e762e571a\","
    "\"detail-type\":\"ECS Task State Change\",\"source\":\"aws.ecs\","
    "\"account\":\"111122223333\",\"time\":\"2020-01-23T17:57:58Z\",\"region\":\"us-west-2\","
    "\"resources\":[\"arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb4\"],"
    "\"detail\":{\"lastStatus\":\"RUNNING\"}}";

/* What S3 sends to a new queue, and what people send by hand. */
static const char s3_test[] =
    "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Time\":\"2014-10-13T15:57:02.089Z\","
    "\"Bucket\":\"bucketname\",\"RequestId\":\"5582815E1AEA5ADF\",\"HostId\":\"8cLeGAmw098X\"}";

static int parse(const char *body, struct event *ev, char *why, size_t why_n)
{
	memset(ev, 0x5a, sizeof(*ev)); /* every field must be written */
	*why = '\0';
	return event_parse(body, strlen(body), ev, why, why_n);
}

TEST(event_reads_each_kind_as_aws_sends_it)
{
	static const struct {
		const char *body;
		enum event_kind kind;
		const char *account, *region, *repository, *tag, *digest, *cluster, *service,
		    *event_name, *deployment_id, *sd_arn, *reason;
		long long time;
	} rows[] = {
		{ ecr_push, EVENT_ECR_PUSH, "123456789012", "us-west-2", "my-repository-name",
		  "latest", DG, "", "", "", "", "", "", 1573869274 },
		{ ecr_delete, EVENT_ECR_DELETE, "123456789012", "us-west-2",
		  "team/my-repository-name", "v1.2.3", DG2, "", "", "", "", "", "", 1573869665 },
		{ ecs_deploy, EVENT_ECS_DEPLOYMENT, "111122223333", "us-west-2", "", "", "",
		  "default", "servicetest", "SERVICE_DEPLOYMENT_IN_PROGRESS", "ecs-svc/123", "",
		  "ECS deployment deploymentId in progress.", 1590237074 },
		{ ecs_hook, EVENT_ECS_HOOK, "111122223333", "us-west-2", "", "", "", "default",
		  "servicetest", "HOOK_AWAITING_ACTION", "",
		  "arn:aws:ecs:us-west-2:111122223333:service-deployment/default/servicetest/"
		  "Xy7_Ab-9",
		  "", 1752658201 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct event ev;
		char why[256];
		int r = parse(rows[i].body, &ev, why, sizeof(why));
		if (r != 0)
			fprintf(stderr, "row %zu: %s\n", i, why);
		CHECK_INT(r, 0);
		CHECK_INT(ev.kind, rows[i].kind);
		CHECK_STR(ev.account, rows[i].account);
		CHECK_STR(ev.region, rows[i].region);
		CHECK_STR(ev.repository, rows[i].repository);
		CHECK_STR(ev.tag, rows[i].tag);
		CHECK_STR(ev.digest, rows[i].digest);
		CHECK_STR(ev.cluster, rows[i].cluster);
		CHECK_STR(ev.service, rows[i].service);
		CHECK_STR(ev.event_name, rows[i].event_name);
		CHECK_STR(ev.deployment_id, rows[i].deployment_id);
		CHECK_STR(ev.service_deployment_arn, rows[i].sd_arn);
		CHECK_STR(ev.reason, rows[i].reason);
		CHECK_INT(ev.time, rows[i].time);
		CHECK(ev.id[0] != '\0' && strlen(ev.id) < sizeof(ev.id));
	}
}

TEST(event_ignores_what_is_not_ours)
{
	static const char *const rows[] = {
		ecr_scan,
		ecs_task,
		s3_test,
		"{}",
		"{\"Type\":\"SubscriptionConfirmation\",\"Message\":\"You have chosen to "
		"subscribe\","
		"\"TopicArn\":\"arn:aws:sns:us-west-2:123456789012:t\"}",
		"{\"version\":\"0\",\"source\":\"com.example.orders\",\"detail-type\":"
		"\"OrderPlaced\","
		"\"account\":\"x\",\"detail\":{\"repository-name\":\"Not A Repo\"}}",
		"{\"source\":\"aws.s3\",\"detail-type\":\"Object Created\",\"detail\":{}}",
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct event ev;
		char why[256];
		int r = parse(rows[i], &ev, why, sizeof(why));
		if (r != 0)
			fprintf(stderr, "row %zu: %s\n", i, why);
		CHECK_INT(r, 0);
		CHECK_INT(ev.kind, EVENT_IGNORED);
		CHECK_STR(ev.repository, "");
		CHECK_STR(ev.service, "");
	}
}

/* base with the member at path (dotted) replaced by the JSON value, or removed (NULL). */
static char *mutate(const char *base, const char *path, const char *value)
{
	cJSON *root = cJSON_Parse(base), *o = root;
	char key[64], *out;
	const char *p = path, *dot;

	CHECK(root != NULL);
	while ((dot = strchr(p, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - p), p);
		o = cJSON_GetObjectItemCaseSensitive(o, key);
		p = dot + 1;
	}
	if (value) {
		cJSON *v = cJSON_Parse(value);
		CHECK(v != NULL);
		if (cJSON_HasObjectItem(o, p))
			cJSON_ReplaceItemInObjectCaseSensitive(o, p, v);
		else
			cJSON_AddItemToObject(o, p, v);
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(o, p);
	}
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
}

struct mutation {
	const char *base, *path, *value;
	int rc;               /* 0 or -EINVAL */
	enum event_kind kind; /* when 0 */
	const char *why;      /* a substring of why, when -EINVAL */
};

static void run_mutations(const struct mutation *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *body = mutate(rows[i].base, rows[i].path, rows[i].value);
		struct event ev;
		char why[256];
		int r = parse(body, &ev, why, sizeof(why));

		if (r != rows[i].rc || (r == 0 && ev.kind != rows[i].kind) ||
		    (r < 0 && !strstr(why, rows[i].why)))
			fprintf(stderr, "row %zu (%s = %s): %d '%s'\n", i, rows[i].path,
				rows[i].value ? rows[i].value : "(removed)", r, why);
		CHECK_INT(r, rows[i].rc);
		if (r == 0)
			CHECK_INT(ev.kind, rows[i].kind);
		else
			CHECK(strstr(why, rows[i].why) != NULL);
		/* a message from outside never carries a raw control character */
		for (const char *c = why; *c; c++)
			CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
		cJSON_free(body);
	}
}

#define LONG_300                                                                                   \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aa"                                                                                       \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aa"                                                                                       \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aa"                                                                                       \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

TEST(event_refuses_each_bad_field_of_an_ecr_event)
{
	static const struct mutation rows[] = {
		/* what the event claims to be */
		{ ecr_push, "source", NULL, -EINVAL, 0, "source" },
		{ ecr_push, "source", "5", -EINVAL, 0, "source" },
		{ ecr_push, "source", "\"aws.ecs\"", -EINVAL, 0, "source" },
		{ ecr_push, "source", "\"aws.s3\"", -EINVAL, 0, "source" },
		{ ecr_push, "source", "\"AWS.ECR\"", -EINVAL, 0, "source" },
		{ ecr_push, "detail-type", NULL, -EINVAL, 0, "detail-type" },
		{ ecr_push, "detail-type", "[\"ECR Image Action\"]", -EINVAL, 0, "detail-type" },
		{ ecr_push, "detail-type", "\"ecr image action\"", -EINVAL, 0, "detail-type" },
		{ ecr_push, "detail-type", "\"ECR Image Scan\"", 0, EVENT_IGNORED, NULL },
		{ ecr_push, "detail-type", "\"ECR Pull Through Cache Action\"", 0, EVENT_IGNORED,
		  NULL },
		/* where it comes from */
		{ ecr_push, "account", NULL, -EINVAL, 0, "account" },
		{ ecr_push, "account", "123456789012", -EINVAL, 0, "account" },
		{ ecr_push, "account", "\"12345678901\"", -EINVAL, 0, "'12345678901'" },
		{ ecr_push, "account", "\"1234567890123\"", -EINVAL, 0, "account" },
		{ ecr_push, "account", "\"12345678901a\"", -EINVAL, 0, "account" },
		{ ecr_push, "region", NULL, -EINVAL, 0, "region" },
		{ ecr_push, "region", "\"US-WEST-2\"", -EINVAL, 0, "region" },
		{ ecr_push, "region", "\"us-west-2\\n\"", -EINVAL, 0, "'us-west-2\\n'" },
		{ ecr_push, "region", "\"\"", -EINVAL, 0, "region" },
		{ ecr_push, "region", "{}", -EINVAL, 0, "region" },
		{ ecr_push, "region", "\"" LONG_300 "\"", -EINVAL, 0, "region" },
		{ ecr_push, "id", "5", -EINVAL, 0, "id" },
		{ ecr_push, "id", "\"" LONG_300 "\"", -EINVAL, 0, "id" },
		{ ecr_push, "id", "\"a\\u001bb\"", -EINVAL, 0, "\\x1b" },
		{ ecr_push, "id", NULL, 0, EVENT_ECR_PUSH, NULL },
		{ ecr_push, "detail", NULL, -EINVAL, 0, "detail" },
		{ ecr_push, "detail", "[]", -EINVAL, 0, "detail" },
		{ ecr_push, "detail", "\"x\"", -EINVAL, 0, "detail" },
		/* the detail */
		{ ecr_push, "detail.result", NULL, -EINVAL, 0, "detail.result" },
		{ ecr_push, "detail.result", "\"FAILURE\"", 0, EVENT_IGNORED, NULL },
		{ ecr_push, "detail.result", "\"success\"", -EINVAL, 0, "detail.result" },
		{ ecr_push, "detail.result", "1", -EINVAL, 0, "detail.result" },
		{ ecr_push, "detail.action-type", NULL, -EINVAL, 0, "detail.action-type" },
		{ ecr_push, "detail.action-type", "\"DELETE\"", 0, EVENT_ECR_DELETE, NULL },
		{ ecr_push, "detail.action-type", "\"push\"", -EINVAL, 0, "detail.action-type" },
		{ ecr_push, "detail.action-type", "true", -EINVAL, 0, "detail.action-type" },
		{ ecr_push, "detail.repository-name", NULL, -EINVAL, 0, "detail.repository-name" },
		{ ecr_push, "detail.repository-name", "\"My-Repo\"", -EINVAL, 0, "'My-Repo'" },
		{ ecr_push, "detail.repository-name", "\"a\"", -EINVAL, 0, "repository-name" },
		{ ecr_push, "detail.repository-name", "\"../etc\"", -EINVAL, 0, "repository-name" },
		{ ecr_push, "detail.repository-name", "\"repo\\u001b[31m\"", -EINVAL, 0,
		  "\\x1b[31m" },
		{ ecr_push, "detail.repository-name", "\"" LONG_300 "\"", -EINVAL, 0, "..." },
		{ ecr_push, "detail.repository-name", "[\"repo\"]", -EINVAL, 0, "repository-name" },
		{ ecr_push, "detail.repository-name", "null", -EINVAL, 0, "repository-name" },
		{ ecr_push, "detail.image-tag", NULL, 0, EVENT_ECR_PUSH, NULL },
		{ ecr_push, "detail.image-tag", "\"\"", 0, EVENT_ECR_PUSH, NULL },
		{ ecr_push, "detail.image-tag", "\"-bad\"", -EINVAL, 0, "detail.image-tag" },
		{ ecr_push, "detail.image-tag", "\"a b\"", -EINVAL, 0, "'a b'" },
		{ ecr_push, "detail.image-tag", "\"" LONG_300 "\"", -EINVAL, 0, "image-tag" },
		{ ecr_push, "detail.image-tag", "7", -EINVAL, 0, "image-tag" },
		{ ecr_push, "detail.image-digest", NULL, 0, EVENT_ECR_PUSH, NULL },
		{ ecr_push, "detail.image-digest",
		  "\"sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234\"",
		  -EINVAL, 0, "detail.image-digest" },
		{ ecr_push, "detail.image-digest",
		  "\"sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"",
		  -EINVAL, 0, "image-digest" },
		{ ecr_push, "detail.image-digest", "\"" DG "\\n\"", -EINVAL, 0, "image-digest" },
		{ ecr_push, "detail.image-digest", "{}", -EINVAL, 0, "image-digest" },
		/* a failed push is not looked at further */
		{ ecr_delete, "detail.result", "\"FAILURE\"", 0, EVENT_IGNORED, NULL },
		{ ecr_delete, "detail.repository-name", "\"Bad Repo\"", -EINVAL, 0, "repository" },
	};

	run_mutations(rows, sizeof(rows) / sizeof(rows[0]));
}

#define ARN(res) "[\"arn:aws:ecs:us-west-2:111122223333:" res "\"]"

TEST(event_refuses_each_bad_field_of_an_ecs_event)
{
	static const struct mutation rows[] = {
		{ ecs_deploy, "detail-type", "\"ECS Task State Change\"", 0, EVENT_IGNORED, NULL },
		{ ecs_deploy, "detail-type", "\"ECS Service Action\"", 0, EVENT_IGNORED, NULL },
		{ ecs_deploy, "source", "\"aws.ecr\"", -EINVAL, 0, "source" },
		{ ecs_deploy, "account", "\"111122223334\"", -EINVAL, 0, "account" },
		{ ecs_deploy, "region", "\"us-east-1\"", -EINVAL, 0, "region" },
		/* resources */
		{ ecs_deploy, "resources", NULL, -EINVAL, 0, "resources" },
		{ ecs_deploy, "resources", "[]", -EINVAL, 0, "resources" },
		{ ecs_deploy, "resources",
		  "\"arn:aws:ecs:us-west-2:111122223333:service/default/servicetest\"", -EINVAL, 0,
		  "resources" },
		{ ecs_deploy, "resources", "[5]", -EINVAL, 0, "resources" },
		{ ecs_deploy, "resources", ARN("task/default/c13b4cb4"), -EINVAL, 0, "resources" },
		{ ecs_deploy, "resources", ARN("service/servicetest"), 0, EVENT_ECS_DEPLOYMENT,
		  NULL },
		{ ecs_deploy, "resources",
		  "[\"arn:aws:ecs:us-west-2:111122223333:cluster/default\","
		  "\"arn:aws:ecs:us-west-2:111122223333:service/default/servicetest\"]",
		  0, EVENT_ECS_DEPLOYMENT, NULL },
		{ ecs_deploy, "resources",
		  "[\"arn:aws:ecs:us-west-2:111122223333:service/default/a\","
		  "\"arn:aws:ecs:us-west-2:111122223333:service/default/b\"]",
		  -EINVAL, 0, "resources" },
		{ ecs_deploy, "resources", "[\"arn:aws:ecs:us-east-1:111122223333:service/d/s\"]",
		  -EINVAL, 0, "'us-east-1'" },
		{ ecs_deploy, "resources", "[\"arn:aws:ecs:us-west-2:999999999999:service/d/s\"]",
		  -EINVAL, 0, "'999999999999'" },
		{ ecs_deploy, "resources",
		  "[\"arn:aws-cn:ecs:us-west-2:111122223333:service/d/s\"]", -EINVAL, 0, "aws-cn" },
		{ ecs_deploy, "resources",
		  "[\"arn:aws-xx:ecs:us-west-2:111122223333:service/d/s\"]", -EINVAL, 0,
		  "resources" },
		{ ecs_deploy, "resources", "[\"arn:aws:ecr:us-west-2:111122223333:service/d/s\"]",
		  -EINVAL, 0, "resources" },
		{ ecs_deploy, "resources", ARN("service/default/bad name"), -EINVAL, 0,
		  "'arn:aws:ecs:us-west-2:111122223333:service/default/bad name'" },
		{ ecs_deploy, "resources", ARN("service/a/b/c"), -EINVAL, 0, "resources" },
		{ ecs_deploy, "resources", ARN("service/"), -EINVAL, 0, "resources" },
		{ ecs_deploy, "resources", ARN("service//s"), -EINVAL, 0, "resources" },
		{ ecs_deploy, "resources", ARN("service/" LONG_300 "/s"), -EINVAL, 0, "resources" },
		{ ecs_deploy, "resources", ARN("service/d/s\\u0085"), -EINVAL, 0, "\\u0085" },
		{ ecs_deploy, "resources", "[\"arn:aws:ecs:us-west-2:111122223333\"]", -EINVAL, 0,
		  "resources" },
		/* the detail */
		{ ecs_deploy, "detail", NULL, -EINVAL, 0, "detail" },
		{ ecs_deploy, "detail.eventName", NULL, -EINVAL, 0, "detail.eventName" },
		{ ecs_deploy, "detail.eventName", "\"completed\"", -EINVAL, 0, "detail.eventName" },
		{ ecs_deploy, "detail.eventName", "\"" LONG_300 "\"", -EINVAL, 0, "eventName" },
		{ ecs_deploy, "detail.eventName", "[]", -EINVAL, 0, "eventName" },
		{ ecs_deploy, "detail.eventName", "\"SERVICE_DEPLOYMENT_FAILED\"", 0,
		  EVENT_ECS_DEPLOYMENT, NULL },
		{ ecs_deploy, "detail.deploymentId", NULL, 0, EVENT_ECS_DEPLOYMENT, NULL },
		{ ecs_deploy, "detail.deploymentId", "5", -EINVAL, 0, "detail.deploymentId" },
		{ ecs_deploy, "detail.deploymentId", "\"ecs-svc/1\\n\"", -EINVAL, 0,
		  "deploymentId" },
		{ ecs_deploy, "detail.deploymentId", "\"" LONG_300 "\"", -EINVAL, 0,
		  "deploymentId" },
		{ ecs_deploy, "detail.reason", NULL, 0, EVENT_ECS_DEPLOYMENT, NULL },
		{ ecs_deploy, "detail.reason", "\"" LONG_300 LONG_300 "\"", 0, EVENT_ECS_DEPLOYMENT,
		  NULL },
		{ ecs_deploy, "detail.reason", "false", -EINVAL, 0, "detail.reason" },
		/* a hook names its service by its resources, its service deployment, or both */
		{ ecs_hook, "detail.serviceDeploymentArn", NULL, 0, EVENT_ECS_HOOK, NULL },
		{ ecs_hook, "resources", "[]", 0, EVENT_ECS_HOOK, NULL },
		{ ecs_hook, "resources", NULL, 0, EVENT_ECS_HOOK, NULL },
		{ ecs_hook, "resources", ARN("service/servicetest"), 0, EVENT_ECS_HOOK, NULL },
		{ ecs_hook, "resources", ARN("service/default/other"), -EINVAL, 0,
		  "serviceDeploymentArn" },
		{ ecs_hook, "resources", ARN("service/other/servicetest"), -EINVAL, 0,
		  "serviceDeploymentArn" },
		{ ecs_hook, "detail.serviceDeploymentArn",
		  "\"arn:aws:ecs:us-west-2:111122223333:service-deployment/default/servicetest\"",
		  -EINVAL, 0, "detail.serviceDeploymentArn" },
		{ ecs_hook, "detail.serviceDeploymentArn",
		  "\"arn:aws:ecs:eu-west-1:111122223333:service-deployment/default/servicetest/x\"",
		  -EINVAL, 0, "'eu-west-1'" },
		{ ecs_hook, "detail.serviceDeploymentArn", "1", -EINVAL, 0,
		  "serviceDeploymentArn" },
		{ ecs_hook, "detail.serviceDeploymentArn",
		  "\"arn:aws:ecs:us-west-2:111122223333:service-deployment/default/servicetest/"
		  "x y\"",
		  -EINVAL, 0, "serviceDeploymentArn" },
		{ ecs_hook, "detail.eventName", NULL, -EINVAL, 0, "eventName" },
	};

	run_mutations(rows, sizeof(rows) / sizeof(rows[0]));
	{
		struct event ev;
		char why[256];
		char *body = mutate(ecs_hook, "resources", "[]");
		char *body2 = mutate(body, "detail.serviceDeploymentArn", NULL);
		CHECK_INT(parse(body2, &ev, why, sizeof(why)), -EINVAL);
		CHECK(strstr(why, "service") != NULL);
		cJSON_free(body);
		cJSON_free(body2);
	}
}

TEST(event_reads_service_arns_of_every_partition_and_both_formats)
{
	static const struct {
		const char *region, *arn, *cluster, *service;
	} rows[] = {
		{ "us-west-2", "arn:aws:ecs:us-west-2:111122223333:service/default/servicetest",
		  "default", "servicetest" },
		{ "us-west-2", "arn:aws:ecs:us-west-2:111122223333:service/servicetest", "",
		  "servicetest" },
		{ "cn-north-1", "arn:aws-cn:ecs:cn-north-1:111122223333:service/prod/web", "prod",
		  "web" },
		{ "cn-northwest-1", "arn:aws-cn:ecs:cn-northwest-1:111122223333:service/web", "",
		  "web" },
		{ "us-gov-west-1", "arn:aws-us-gov:ecs:us-gov-west-1:111122223333:service/c_1/s-2",
		  "c_1", "s-2" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char res[256], region[64], why[256];
		struct event ev;
		snprintf(res, sizeof(res), "[\"%s\"]", rows[i].arn);
		snprintf(region, sizeof(region), "\"%s\"", rows[i].region);
		char *a = mutate(ecs_deploy, "resources", res);
		char *b = mutate(a, "region", region);
		int r = parse(b, &ev, why, sizeof(why));
		if (r != 0)
			fprintf(stderr, "row %zu: %s\n", i, why);
		CHECK_INT(r, 0);
		CHECK_INT(ev.kind, EVENT_ECS_DEPLOYMENT);
		CHECK_STR(ev.region, rows[i].region);
		CHECK_STR(ev.cluster, rows[i].cluster);
		CHECK_STR(ev.service, rows[i].service);
		cJSON_free(a);
		cJSON_free(b);
	}
}

TEST(event_reads_the_time_as_rfc3339_utc)
{
	static const struct {
		const char *value; /* JSON */
		long long time;
	} rows[] = {
		{ "\"2019-11-16T01:54:34Z\"", 1573869274 },
		{ "\"2019-11-16T01:54:34.123Z\"", 1573869274 },
		{ "\"2019-11-16T01:54:34.123456789Z\"", 1573869274 },
		{ "\"2019-11-16t01:54:34z\"", 1573869274 },
		{ "\"2019-11-16T03:54:34+02:00\"", 1573869274 },
		{ "\"2019-11-15T23:54:34-02:00\"", 1573869274 },
		{ "\"2024-02-29T23:59:59Z\"", 1709251199 },
		{ "\"1970-01-01T00:00:00Z\"", 0 },
		/* unreadable: 0, the event is still read */
		{ "\"2019-11-16T01:54:34\"", 0 },
		{ "\"2019-11-16 01:54:34Z\"", 0 },
		{ "\"2019-11-16T01:54:34.Z\"", 0 },
		{ "\"2019-02-29T01:54:34Z\"", 0 },
		{ "\"2019-13-16T01:54:34Z\"", 0 },
		{ "\"2019-11-16T24:00:00Z\"", 0 },
		{ "\"2019-11-16T01:54:34Zjunk\"", 0 },
		{ "\"2019-11-16T01:54:34+2:00\"", 0 },
		{ "\"+2019-11-16T01:54:34Z\"", 0 },
		{ "\"\"", 0 },
		{ "1573869274", 0 },
		{ NULL, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *body = mutate(ecr_push, "time", rows[i].value);
		struct event ev;
		char why[256];
		CHECK_INT(parse(body, &ev, why, sizeof(why)), 0);
		if (ev.time != rows[i].time)
			fprintf(stderr, "row %zu: %s\n", i,
				rows[i].value ? rows[i].value : "(none)");
		CHECK_INT(ev.time, rows[i].time);
		CHECK_INT(ev.kind, EVENT_ECR_PUSH);
		cJSON_free(body);
	}
}

/* Raw bodies, hostile at the byte level. */
TEST(event_refuses_hostile_bodies)
{
	static const struct {
		const char *body;
		int rc;
		const char *why;
	} rows[] = {
		{ "", -EINVAL, "JSON" },
		{ "not json", -EINVAL, "JSON" },
		{ "[]", -EINVAL, "object" },
		{ "\"aws.ecr\"", -EINVAL, "object" },
		{ "null", -EINVAL, "object" },
		{ "{} {}", -EINVAL, "JSON" },
		{ "{}x", -EINVAL, "JSON" },
		{ "{\"detail\":{}}", -EINVAL, "source" },
		{ "{\"source\":\"aws.ecr\"}", -EINVAL, "detail-type" },
		{ "{\"detail-type\":\"ECS Hook State Change\"}", -EINVAL, "source" },
		{ "{\"source\":5}", -EINVAL, "source" },
		{ "{\"Source\":\"aws.ecr\",\"detail-type\":\"ECR Image Action\"}", -EINVAL,
		  "source" },
		/* duplicate keys: two readers could see two events */
		{ "{\"source\":\"aws.ecr\",\"source\":\"aws.ecs\",\"detail-type\":\"ECR Image "
		  "Action\"}",
		  -EINVAL, "source" },
		{ "{\"source\":\"aws.ecr\",\"detail-type\":\"ECR Image Action\","
		  "\"account\":\"123456789012\",\"region\":\"us-west-2\",\"detail\":{\"result\":"
		  "\"SUCCESS\",\"action-type\":\"PUSH\",\"repository-name\":\"a1\","
		  "\"repository-name\":\"b1\"}}",
		  -EINVAL, "detail.repository-name" },
		{ "{\"source\":\"aws.ecr\",\"detail-type\":\"ECR Image Action\","
		  "\"account\":\"123456789012\",\"account\":\"123456789013\",\"region\":\"us-west-"
		  "2\","
		  "\"detail\":{}}",
		  -EINVAL, "account" },
		/* a NUL inside a string would cut the value where C reads it */
		{ "{\"source\":\"aws.ecr\",\"detail-type\":\"ECR Image Action\","
		  "\"account\":\"123456789012\",\"region\":\"us-west-2\",\"detail\":{\"result\":"
		  "\"SUCCESS\",\"action-type\":\"PUSH\",\"repository-name\":\"repo\\u0000evil\"}}",
		  -EINVAL, "NUL" },
		{ "{\"source\":\"aws.ecr\\u0000x\",\"detail-type\":\"ECR Image Action\"}", -EINVAL,
		  "NUL" },
		{ "{\"Message\":\"\\\\u0000\"}", 0, NULL }, /* an escaped backslash, then text */
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct event ev;
		char why[256];
		int r = parse(rows[i].body, &ev, why, sizeof(why));
		if (r != rows[i].rc || (r < 0 && !strstr(why, rows[i].why)))
			fprintf(stderr, "row %zu: %d '%s'\n", i, r, why);
		CHECK_INT(r, rows[i].rc);
		if (r < 0)
			CHECK(strstr(why, rows[i].why) != NULL);
		else
			CHECK_INT(ev.kind, EVENT_IGNORED);
	}
}

TEST(event_refuses_hostile_sizes_and_bytes)
{
	struct event ev;
	char why[256];
	size_t n = strlen(ecr_push);
	char *exact = malloc(n), *big, *deep;

	/* not NUL-terminated: read exactly len bytes (ASan sees an over-read) */
	memcpy(exact, ecr_push, n);
	CHECK_INT(event_parse(exact, n, &ev, why, sizeof(why)), 0);
	CHECK_INT(ev.kind, EVENT_ECR_PUSH);
	/* a prefix is cut JSON */
	CHECK_INT(event_parse(exact, n - 1, &ev, why, sizeof(why)), -EINVAL);
	CHECK_INT(event_parse(exact, 0, &ev, why, sizeof(why)), -EINVAL);
	free(exact);

	/* a raw NUL byte inside the body */
	{
		char body[] = "{\"source\":\"aws.ecr\0\",\"detail-type\":\"ECR Image Action\"}";
		CHECK_INT(event_parse(body, sizeof(body) - 1, &ev, why, sizeof(why)), -EINVAL);
		CHECK(strstr(why, "NUL") != NULL);
	}

	/* longer than EVENT_BODY_MAX, even if it is JSON */
	big = malloc(EVENT_BODY_MAX + 2);
	memset(big, ' ', EVENT_BODY_MAX + 1);
	memcpy(big, "{}", 2);
	CHECK_INT(event_parse(big, EVENT_BODY_MAX, &ev, why, sizeof(why)), 0);
	CHECK_INT(event_parse(big, EVENT_BODY_MAX + 1, &ev, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "262144") != NULL);

	/* a huge reason is cut, not refused; a huge repository is refused, cut in why */
	{
		size_t len = 200000;
		const char *pre =
		    "{\"source\":\"aws.ecs\",\"detail-type\":\"ECS Deployment State "
		    "Change\",\"account\":\"111122223333\",\"region\":\"us-west-2\","
		    "\"resources\":[\"arn:aws:ecs:us-west-2:111122223333:service/d/s\"],"
		    "\"detail\":{\"eventName\":\"SERVICE_DEPLOYMENT_FAILED\",\"reason\":\"";
		size_t p = strlen(pre);
		memcpy(big, pre, p);
		memset(big + p, 'r', len);
		memcpy(big + p + len, "\"}}", 4);
		CHECK_INT(event_parse(big, strlen(big), &ev, why, sizeof(why)), 0);
		CHECK_INT(strlen(ev.reason), sizeof(ev.reason) - 1);
	}
	free(big);

	/* nesting far beyond what cJSON reads */
	{
		size_t depth = 100000, p;
		const char *pre = "{\"source\":\"aws.ecr\",\"detail-type\":\"ECR Image Action\","
				  "\"detail\":";
		deep = malloc(strlen(pre) + 2 * depth + 2);
		p = strlen(pre);
		memcpy(deep, pre, p);
		memset(deep + p, '[', depth);
		memset(deep + p + depth, ']', depth);
		memcpy(deep + p + 2 * depth, "}", 2);
		CHECK_INT(event_parse(deep, strlen(deep), &ev, why, sizeof(why)), -EINVAL);
		free(deep);
	}

	/* a reason cut at the limit keeps whole UTF-8 characters */
	{
		char body[2048], reason[700];
		size_t k = 0;
		reason[k++] = 'x';
		reason[k++] = 'y';
		while (k + 2 < 600) {
			reason[k++] = (char)0xc3; /* é */
			reason[k++] = (char)0xa9;
		}
		reason[k] = '\0';
		snprintf(body, sizeof(body),
			 "{\"source\":\"aws.ecs\",\"detail-type\":\"ECS Deployment State Change\","
			 "\"account\":\"111122223333\",\"region\":\"us-west-2\",\"resources\":"
			 "[\"arn:aws:ecs:us-west-2:111122223333:service/d/s\"],\"detail\":{"
			 "\"eventName\":\"SERVICE_DEPLOYMENT_FAILED\",\"reason\":\"%s\"}}",
			 reason);
		CHECK_INT(event_parse(body, strlen(body), &ev, why, sizeof(why)), 0);
		CHECK_INT(strlen(ev.reason), 510); /* "xy" and 254 whole characters */
		CHECK((unsigned char)ev.reason[509] == 0xa9);
	}

	/* why is always terminated, even when tiny; NULL and 0 are allowed */
	{
		char tiny[4] = "zzz";
		CHECK_INT(event_parse("[]", 2, &ev, tiny, sizeof(tiny)), -EINVAL);
		CHECK(strlen(tiny) < sizeof(tiny));
		CHECK_INT(event_parse("[]", 2, &ev, NULL, 0), -EINVAL);
	}
}

/* body wrapped as SNS delivers it to SQS without raw message delivery. */
static char *sns_wrap(const char *body)
{
	cJSON *o = cJSON_CreateObject();
	char *out;

	cJSON_AddStringToObject(o, "Type", "Notification");
	cJSON_AddStringToObject(o, "MessageId", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324");
	cJSON_AddStringToObject(o, "TopicArn", "arn:aws:sns:us-west-2:123456789012:ecr-events");
	cJSON_AddStringToObject(o, "Message", body);
	cJSON_AddStringToObject(o, "Timestamp", "2019-11-16T01:54:35.123Z");
	cJSON_AddStringToObject(o, "SignatureVersion", "1");
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

TEST(event_unwraps_one_sns_notification)
{
	struct event ev;
	char why[256];
	char *push = sns_wrap(ecr_push), *hook = sns_wrap(ecs_hook), *twice = sns_wrap(push);
	char *bad = mutate(ecr_push, "detail.repository-name", "\"Bad\"");
	char *wrapped_bad = sns_wrap(bad);
	char *nul = mutate(ecr_push, "detail.repository-name", "\"repo\\\\u0000x\"");
	char *nul_inner;

	CHECK_INT(parse(push, &ev, why, sizeof(why)), 0);
	CHECK_INT(ev.kind, EVENT_ECR_PUSH);
	CHECK_STR(ev.repository, "my-repository-name");
	CHECK_STR(ev.digest, DG);
	CHECK_INT(parse(hook, &ev, why, sizeof(why)), 0);
	CHECK_INT(ev.kind, EVENT_ECS_HOOK);
	CHECK_STR(ev.service, "servicetest");
	CHECK_INT(parse(twice, &ev, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "SNS") != NULL);
	CHECK_INT(parse(wrapped_bad, &ev, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "detail.repository-name") != NULL && strstr(why, "'Bad'") != NULL);
	/* \u0000 as text (an escaped backslash) is no NUL, but no repository name either */
	CHECK_INT(parse(nul, &ev, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "repository-name") != NULL);
	nul_inner = mutate(ecr_push, "detail.repository-name", "\"repo\"");
	{
		/* an inner body that holds \u0000 in a string */
		char inner[1024];
		snprintf(inner, sizeof(inner), "%s", nul_inner);
		char *at = strstr(inner, "\"repo\"");
		memmove(at + 11, at + 5, strlen(at + 5) + 1);
		memcpy(at + 5, "\\u0000", 6);
		char *w = sns_wrap(inner);
		CHECK_INT(parse(w, &ev, why, sizeof(why)), -EINVAL);
		CHECK(strstr(why, "NUL") != NULL);
		cJSON_free(w);
	}
	CHECK_INT(parse("{\"Type\":\"Notification\",\"Message\":5}", &ev, why, sizeof(why)),
		  -EINVAL);
	CHECK(strstr(why, "Message") != NULL);
	CHECK_INT(parse("{\"Type\":\"Notification\"}", &ev, why, sizeof(why)), -EINVAL);
	CHECK_INT(
	    parse("{\"Type\":\"Notification\",\"Message\":\"not json\"}", &ev, why, sizeof(why)),
	    -EINVAL);
	CHECK(strstr(why, "Message") != NULL);
	CHECK_INT(parse("{\"Type\":\"Notification\",\"Message\":\"[1]\"}", &ev, why, sizeof(why)),
		  -EINVAL);
	CHECK_INT(parse("{\"Type\":\"Notification\",\"Message\":\"{}\"}", &ev, why, sizeof(why)),
		  0);
	CHECK_INT(ev.kind, EVENT_IGNORED);
	cJSON_free(push);
	cJSON_free(hook);
	cJSON_free(twice);
	cJSON_free(bad);
	cJSON_free(wrapped_bad);
	cJSON_free(nul);
	cJSON_free(nul_inner);
}

TEST(event_kind_names)
{
	CHECK_STR(event_kind_name(EVENT_IGNORED), "ignored");
	CHECK_STR(event_kind_name(EVENT_ECR_PUSH), "ecr-push");
	CHECK_STR(event_kind_name(EVENT_ECR_DELETE), "ecr-delete");
	CHECK_STR(event_kind_name(EVENT_ECS_DEPLOYMENT), "ecs-deployment");
	CHECK_STR(event_kind_name(EVENT_ECS_HOOK), "ecs-hook");
	CHECK_STR(event_kind_name((enum event_kind)99), "ignored");
}

/* ---- ReceiveMessage ---- */

#define RECEIPT_1024                                                                               \
	LONG_300 LONG_300 LONG_300 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" \
				   "bbbbbbbbbbbbbbbbbbbbbbbbbbbbb"                                 \
				   "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static int receive(const char *text, struct sqs_message **m, size_t *n, char *why)
{
	cJSON *j = cJSON_Parse(text);
	int r;

	CHECK(j != NULL);
	*m = (struct sqs_message *)0x1;
	*n = 99;
	*why = '\0';
	r = sqs_parse_receive(j, m, n, why, 256);
	cJSON_Delete(j);
	return r;
}

TEST(sqs_receive_reads_replies_of_every_shape)
{
	static const struct {
		const char *reply;
		int rc;
		size_t n;
		const char *why;
	} rows[] = {
		{ "{}", 0, 0, NULL },
		{ "{\"Messages\":[]}", 0, 0, NULL },
		{ "{\"Messages\":null}", 0, 0, NULL },
		{ "{\"Messages\":[1,2,3,4,5,6,7,8,9,10]}", 0, 10, NULL },
		{ "{\"Messages\":[1,2,3,4,5,6,7,8,9,10,11]}", -EINVAL, 0, "11" },
		{ "{\"Messages\":{}}", -EINVAL, 0, "Messages" },
		{ "{\"Messages\":\"x\"}", -EINVAL, 0, "Messages" },
		{ "{\"Messages\":[],\"Messages\":[{}]}", -EINVAL, 0, "Messages" },
		{ "[]", -EINVAL, 0, "object" },
		{ "\"\"", -EINVAL, 0, "object" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sqs_message *m;
		size_t n;
		char why[256];
		int r = receive(rows[i].reply, &m, &n, why);
		if (r != rows[i].rc)
			fprintf(stderr, "row %zu: %d '%s'\n", i, r, why);
		CHECK_INT(r, rows[i].rc);
		if (r == 0) {
			CHECK_INT(n, rows[i].n);
			for (size_t k = 0; k < n; k++)
				CHECK(!*m[k].id && !*m[k].receipt && !m[k].body);
			sqs_messages_free(m, n);
		} else {
			CHECK(strstr(why, rows[i].why) != NULL);
		}
	}
	{
		char why[16];
		struct sqs_message *m;
		size_t n;
		CHECK_INT(sqs_parse_receive(NULL, &m, &n, why, sizeof(why)), -EINVAL);
	}
}

TEST(sqs_receive_reads_each_message_field)
{
	static const struct {
		const char *message; /* one element of Messages */
		const char *id, *receipt, *body;
		int receive_count;
		long long sent_ms;
	} rows[] = {
		{ "{\"MessageId\":\"5fea7756-0ea4-451a-a703-a558b933e274\",\"ReceiptHandle\":"
		  "\"MbZj6wDWli+JvwwJaBV+3dcjk2YW2vA3+STFFljTM8tJJg6HRG6PYSasuWXPJB+Cw=\","
		  "\"MD5OfBody\":\"fafb00f5732ab283681e124bf8747ed1\",\"Body\":\"{\\\"a\\\":1}\","
		  "\"Attributes\":{\"ApproximateReceiveCount\":\"3\",\"SentTimestamp\":"
		  "\"1700000000123\",\"SenderId\":\"AIDASSYFHUBOBT7F4XT75\"}}",
		  "5fea7756-0ea4-451a-a703-a558b933e274",
		  "MbZj6wDWli+JvwwJaBV+3dcjk2YW2vA3+STFFljTM8tJJg6HRG6PYSasuWXPJB+Cw=", "{\"a\":1}",
		  3, 1700000000123LL },
		/* each field missing */
		{ "{\"ReceiptHandle\":\"r\",\"Body\":\"b\"}", "", "r", "b", 0, 0 },
		{ "{\"MessageId\":\"m\",\"Body\":\"b\"}", "m", "", "b", 0, 0 },
		{ "{\"MessageId\":\"m\",\"ReceiptHandle\":\"r\"}", "m", "r", NULL, 0, 0 },
		{ "{\"MessageId\":\"m\",\"ReceiptHandle\":\"r\",\"Body\":\"\"}", "m", "r", "", 0,
		  0 },
		/* wrong types and shapes */
		{ "5", "", "", NULL, 0, 0 },
		{ "[]", "", "", NULL, 0, 0 },
		{ "{\"MessageId\":5,\"ReceiptHandle\":[],\"Body\":{}}", "", "", NULL, 0, 0 },
		{ "{\"MessageId\":\"\",\"ReceiptHandle\":\"\"}", "", "", NULL, 0, 0 },
		{ "{\"MessageId\":\"m\\n\",\"ReceiptHandle\":\"r\\u001b\"}", "", "", NULL, 0, 0 },
		{ "{\"MessageId\":\"a b\",\"ReceiptHandle\":\"r\\u00e9\"}", "", "", NULL, 0, 0 },
		{ "{\"MessageId\":\"" LONG_300 "\",\"ReceiptHandle\":\"" RECEIPT_1024 "\"}", "",
		  RECEIPT_1024, NULL, 0, 0 },
		{ "{\"MessageId\":\"m\",\"ReceiptHandle\":\"" RECEIPT_1024 "c\"}", "m", "", NULL, 0,
		  0 },
		{ "{\"MessageId\":\"m\",\"MessageId\":\"n\",\"ReceiptHandle\":\"r\","
		  "\"ReceiptHandle\":\"s\",\"Body\":\"b\",\"Body\":\"c\"}",
		  "", "", NULL, 0, 0 },
		/* attributes */
		{ "{\"Attributes\":[]}", "", "", NULL, 0, 0 },
		{ "{\"Attributes\":{\"ApproximateReceiveCount\":3,\"SentTimestamp\":1700000000123}"
		  "}",
		  "", "", NULL, 0, 0 },
		{ "{\"Attributes\":{\"ApproximateReceiveCount\":\"-1\",\"SentTimestamp\":\"1e3\"}}",
		  "", "", NULL, 0, 0 },
		{ "{\"Attributes\":{\"ApproximateReceiveCount\":\"99999999999999999999\","
		  "\"SentTimestamp\":\"99999999999999999999\"}}",
		  "", "", NULL, 0, 0 },
		{ "{\"Attributes\":{\"ApproximateReceiveCount\":\"\",\"SentTimestamp\":\" 1\"}}",
		  "", "", NULL, 0, 0 },
		{ "{\"Attributes\":{\"ApproximateReceiveCount\":\"1000000\",\"SentTimestamp\":"
		  "\"0\"}}",
		  "", "", NULL, 1000000, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char text[4096], why[256];
		struct sqs_message *m;
		size_t n;
		snprintf(text, sizeof(text), "{\"Messages\":[%s]}", rows[i].message);
		int r = receive(text, &m, &n, why);
		if (r != 0)
			fprintf(stderr, "row %zu: %s\n", i, why);
		CHECK_INT(r, 0);
		if (r != 0)
			continue;
		CHECK_INT(n, 1);
		CHECK_STR(m[0].id, rows[i].id);
		CHECK_STR(m[0].receipt, rows[i].receipt);
		if (rows[i].body)
			CHECK_STR(m[0].body, rows[i].body);
		else
			CHECK(m[0].body == NULL);
		CHECK_INT(m[0].receive_count, rows[i].receive_count);
		CHECK_INT(m[0].sent_ms, rows[i].sent_ms);
		sqs_messages_free(m, n);
	}
	sqs_messages_free(NULL, 0);
}

/* ---- DeleteMessageBatch ---- */

TEST(sqs_delete_batch_reads_replies_of_every_shape)
{
	static const struct {
		const char *reply;
		size_t n;
		int rc;
		const char *deleted; /* '1' per entry deleted */
		const char *failure;
	} rows[] = {
		{ "{\"Successful\":[{\"Id\":\"0\"},{\"Id\":\"1\"},{\"Id\":\"2\"}],\"Failed\":[]}",
		  3, 3, "111", "" },
		{ "{\"Successful\":[{\"Id\":\"2\"},{\"Id\":\"0\"}]}", 3, 2, "101", "" },
		{ "{\"Successful\":[{\"Id\":\"0\"}],\"Failed\":[{\"Id\":\"1\",\"SenderFault\":true,"
		  "\"Code\":\"ReceiptHandleIsInvalid\",\"Message\":\"The input receipt handle is "
		  "invalid.\"},{\"Id\":\"2\",\"SenderFault\":false,\"Code\":\"InternalError\","
		  "\"Message\":\"x\"}]}",
		  3, 1, "100", "ReceiptHandleIsInvalid: The input receipt handle is invalid." },
		{ "{\"Successful\":[],\"Failed\":[{\"Id\":\"0\",\"Code\":\"Bad\\u001b[2J\","
		  "\"Message\":\"line\\nforged\"}]}",
		  1, 0, "0", "Bad\\x1b[2J: line\\nforged" },
		{ "{\"Failed\":[{\"Id\":\"0\"}]}", 1, 0, "0", "(none): (none)" },
		{ "{}", 2, 0, "00", "" },
		{ "{\"Successful\":[],\"Failed\":[]}", 0, 0, "", "" },
		/* ids unknown, duplicated or malformed: the reply is not for what we sent */
		{ "{\"Successful\":[{\"Id\":\"0\"},{\"Id\":\"3\"}]}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[{\"Id\":\"0\"},{\"Id\":\"0\"}]}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[{\"Id\":\"0\"}],\"Failed\":[{\"Id\":\"0\",\"Code\":\"X\"}]}", 3,
		  -EINVAL, "000", "" },
		{ "{\"Failed\":[{\"Id\":\"1\"},{\"Id\":\"1\"}]}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[{\"Id\":\"01\"}]}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[{\"Id\":\"-0\"}]}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[{\"Id\":\"\"}]}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[{\"Id\":\"1 \"}]}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[{\"Id\":\"99999999999999999999\"}]}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[{\"Id\":\"0\"},{\"Id\":\"1\"}],\"Failed\":[{\"Id\":\"2\"},"
		  "{\"Id\":\"3\"}]}",
		  3, -EINVAL, "000", "" }, /* more entries than sent */
		{ "{\"Successful\":[{\"Id\":1}]}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[{}]}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[\"0\"]}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[{\"Id\":\"0\",\"Id\":\"1\"}]}", 3, -EINVAL, "000", "" },
		/* wrong types */
		{ "{\"Successful\":{\"Id\":\"0\"}}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[],\"Failed\":\"x\"}", 3, -EINVAL, "000", "" },
		{ "{\"Successful\":[{\"Id\":\"0\"}],\"Successful\":[{\"Id\":\"1\"}]}", 3, -EINVAL,
		  "000", "" },
		{ "[]", 3, -EINVAL, "000", "" },
		{ "null", 3, -EINVAL, "000", "" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cJSON *j = cJSON_Parse(rows[i].reply);
		bool deleted[8];
		char failure[128] = "stale";
		int r;

		CHECK(j != NULL);
		memset(deleted, 1, sizeof(deleted));
		r = sqs_parse_delete_batch(j, rows[i].n, deleted, failure, sizeof(failure));
		if (r != rows[i].rc)
			fprintf(stderr, "row %zu: %d '%s'\n", i, r, failure);
		CHECK_INT(r, rows[i].rc);
		for (size_t k = 0; k < rows[i].n; k++)
			CHECK_INT(deleted[k], rows[i].deleted[k] == '1');
		if (r >= 0)
			CHECK_STR(failure, rows[i].failure);
		cJSON_Delete(j);
	}
}

TEST(sqs_delete_batch_cuts_the_failure)
{
	cJSON *j = cJSON_Parse("{\"Failed\":[{\"Id\":\"0\",\"Code\":\"AccessDenied\",\"Message\":"
			       "\"" LONG_300 "\"}]}");
	bool deleted[1];
	char failure[32];

	CHECK_INT(sqs_parse_delete_batch(j, 1, deleted, failure, sizeof(failure)), 0);
	CHECK(strlen(failure) < sizeof(failure));
	CHECK(!strncmp(failure, "AccessDenied: aaa", 17));
	CHECK_INT(sqs_parse_delete_batch(j, 1, deleted, NULL, 0), 0);
	cJSON_Delete(j);
}

/* SPDX-License-Identifier: MIT */
/* daemon/taskdef: copy-through with pinned images, tags, and what AWS refuses dropped. */
#include "unit.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "taskdef.h"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define IMAGE  "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web@" DIGEST

static const char described[] =
    "{\"taskDefinition\": {"
    " \"taskDefinitionArn\": \"arn:aws:ecs:us-east-1:123456789012:task-definition/web:7\","
    " \"family\": \"web\", \"revision\": 7, \"status\": \"ACTIVE\","
    " \"requiresAttributes\": [{\"name\": \"ecs.capability.execution-role-awslogs\"}],"
    " \"compatibilities\": [\"EC2\", \"FARGATE\"], \"registeredAt\": 1700000000.5,"
    " \"registeredBy\": \"arn:aws:iam::123456789012:user/ci\","
    " \"deregisteredAt\": null, \"deleteRequestedAt\": 1, \"placementConstraints\": [],"
    " \"volumes\": [], \"taskRoleArn\": \"\", \"cpu\": \"256\","
    " \"someFieldFromTheFuture\": {\"nested\": [1, 2, {\"x\": \"y\"}]},"
    " \"containerDefinitions\": ["
    "  {\"name\": \"app\", \"image\": "
    "\"123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web:prod\","
    "   \"environment\": [{\"name\": \"EMPTY\", \"value\": \"\"}], \"hostname\": \"\","
    "   \"mountPoints\": [], \"essential\": true},"
    "  {\"name\": \"sidecar\", \"image\": \"envoy:1.29\"}]},"
    " \"tags\": [{\"key\": \"team\", \"value\": \"web\"},"
    "  {\"key\": \"ecr-deployd:digest\", \"value\": \"sha256:old\"},"
    "  {\"key\": \"aws:cloudformation:stack-name\", \"value\": \"x\"}]}";

TEST(taskdef_pin_copies_through)
{
	cJSON *in = cJSON_Parse(described), *out = NULL;
	const char *names[] = { "app" };
	char why[256] = "";

	CHECK(in != NULL);
	CHECK_INT(taskdef_pin(in, names, 1, IMAGE, DIGEST, "prod", &out, why, sizeof(why)), 0);
	CHECK(out != NULL);
	if (!out) {
		cJSON_Delete(in);
		return;
	}
	/* Read-only fields dropped; the rest kept, unknown fields included. */
	static const char *const gone[] = {
		"taskDefinitionArn",  "revision",        "status",
		"requiresAttributes", "compatibilities", "registeredAt",
		"registeredBy",       "deregisteredAt",  "deleteRequestedAt"
	};
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		CHECK(!cJSON_GetObjectItem(out, gone[i]));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(out, "cpu")), "256");
	CHECK(cJSON_Compare(cJSON_GetObjectItem(out, "someFieldFromTheFuture"),
			    cJSON_GetObjectItem(cJSON_GetObjectItem(in, "taskDefinition"),
						"someFieldFromTheFuture"),
			    true));
	/* Empty lists at the top and empty strings anywhere go; an empty env value stays. */
	CHECK(!cJSON_GetObjectItem(out, "placementConstraints"));
	CHECK(!cJSON_GetObjectItem(out, "volumes"));
	CHECK(!cJSON_GetObjectItem(out, "taskRoleArn"));
	const cJSON *app = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "containerDefinitions"), 0);
	const cJSON *side = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "containerDefinitions"), 1);
	CHECK_STR(taskdef_image(out, "app"), IMAGE);
	CHECK_STR(taskdef_image(out, "sidecar"), "envoy:1.29");
	CHECK(!cJSON_GetObjectItem(app, "hostname"));
	CHECK(cJSON_IsArray(cJSON_GetObjectItem(app, "mountPoints")));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
		      cJSON_GetArrayItem(cJSON_GetObjectItem(app, "environment"), 0), "value")),
		  "");
	CHECK(side != NULL);
	/* Tags: theirs kept, aws: and our old ones dropped, ours added. */
	const cJSON *tags = cJSON_GetObjectItem(out, "tags");
	CHECK_INT(cJSON_GetArraySize(tags), 4);
	CHECK_STR(taskdef_tag(tags, "team"), "web");
	CHECK_STR(taskdef_tag(tags, TAG_DIGEST), DIGEST);
	CHECK_STR(taskdef_tag(tags, TAG_TAG), "prod");
	CHECK_STR(taskdef_tag(tags, TAG_PREVIOUS),
		  "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7");
	CHECK(!taskdef_tag(tags, "aws:cloudformation:stack-name"));
	cJSON_Delete(out);
	cJSON_Delete(in);
}

TEST(taskdef_pin_errors)
{
	cJSON *in = cJSON_Parse(described), *out = NULL;
	const char *missing[] = { "app", "worker" };
	char why[256] = "";

	CHECK_INT(taskdef_pin(in, missing, 2, IMAGE, DIGEST, "prod", &out, why, sizeof(why)),
		  -EINVAL);
	CHECK(out == NULL);
	CHECK_STR(why, "task definition 'arn:aws:ecs:us-east-1:123456789012:task-definition/web:7' "
		       "has no container 'worker' (it has: 'app' 'sidecar')");
	/* 48 tags of theirs + our 3 is over the limit of 50. */
	cJSON *tags = cJSON_GetObjectItem(in, "tags");
	for (int i = 0; i < 47; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		cJSON *t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "key", k);
		cJSON_AddStringToObject(t, "value", "v");
		cJSON_AddItemToArray(tags, t);
	}
	const char *names[] = { "app" };
	CHECK_INT(taskdef_pin(in, names, 1, IMAGE, DIGEST, "prod", &out, why, sizeof(why)),
		  -EINVAL);
	CHECK(strstr(why, "has 48 tags") != NULL);
	cJSON *bare = cJSON_Parse("{\"taskDefinition\": {}}");
	CHECK_INT(taskdef_pin(bare, names, 1, IMAGE, DIGEST, "prod", &out, why, sizeof(why)),
		  -EINVAL);
	cJSON_Delete(bare);
	cJSON_Delete(in);
	/* Found by fuzz_ecs: a container without an image (a hostile reply) gets ours; it is not
	 * "out of memory", and nothing leaks. */
	in = cJSON_Parse("{\"taskDefinition\": {\"taskDefinitionArn\": \"arn:td:1\", "
			 "\"containerDefinitions\": [{\"name\": \"app\"}]}}");
	CHECK_INT(taskdef_pin(in, names, 1, IMAGE, DIGEST, "prod", &out, why, sizeof(why)), 0);
	CHECK_STR(taskdef_image(out, "app"), IMAGE);
	cJSON_Delete(out);
	cJSON_Delete(in);
}

TEST(image_pinned_digest)
{
	CHECK_STR(image_pinned_digest(IMAGE), DIGEST);
	CHECK(image_pinned_digest("repo:tag") == NULL);
	CHECK(image_pinned_digest("repo@sha256:short") == NULL);
	/* Issue 11 case 5: the form is checked whole, not just the prefix and the length. */
	CHECK(image_pinned_digest(
		  "repo@sha256:"
		  "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789") == NULL);
	CHECK(image_pinned_digest(
		  "repo@sha256:"
		  "0123456789abcdef0123456789abcdef0123456789abcdef012345678\n../x") == NULL);
	CHECK(image_pinned_digest(NULL) == NULL);
}

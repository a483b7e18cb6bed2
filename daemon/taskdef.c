/* SPDX-License-Identifier: MIT */
/* Copy-through of task definitions with pinned images. */
#include "taskdef.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "digest.h"

/* Returned by DescribeTaskDefinition, refused by RegisterTaskDefinition. */
static const char *const read_only[] = {
	"taskDefinitionArn",  "revision",        "status",
	"requiresAttributes", "compatibilities", "registeredAt",
	"registeredBy",       "deregisteredAt",  "deleteRequestedAt",
};

#define MAX_TAGS 50

/* Drops null members and empty strings (an environment variable's "value" may be empty), at every
 * depth; empty lists at the top level. */
static void prune(cJSON *v, bool top)
{
	cJSON *c = v ? v->child : NULL;

	while (c) {
		cJSON *next = c->next;
		bool drop = false;

		if (cJSON_IsObject(v)) {
			drop =
			    cJSON_IsNull(c) ||
			    (cJSON_IsString(c) && !*c->valuestring && strcmp(c->string, "value")) ||
			    (top && cJSON_IsArray(c) && !c->child);
		}
		if (drop)
			cJSON_Delete(cJSON_DetachItemViaPointer(v, c));
		else if (cJSON_IsObject(c) || cJSON_IsArray(c))
			prune(c, false);
		c = next;
	}
}

const char *taskdef_image(const cJSON *taskdef, const char *name)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItem(taskdef, "containerDefinitions"))
	{
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(c, "name"));
		if (n && !strcmp(n, name))
			return cJSON_GetStringValue(cJSON_GetObjectItem(c, "image"));
	}
	return NULL;
}

const char *image_pinned_digest(const char *image)
{
	const char *at = image ? strrchr(image, '@') : NULL;

	if (!at || !digest_valid(at + 1))
		return NULL;
	return at + 1;
}

const char *taskdef_tag(const cJSON *tags, const char *key)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, tags)
	{
		const char *k = cJSON_GetStringValue(cJSON_GetObjectItem(t, "key"));
		if (k && !strcmp(k, key))
			return cJSON_GetStringValue(cJSON_GetObjectItem(t, "value"));
	}
	return NULL;
}

static int add_tag(cJSON *tags, const char *key, const char *value)
{
	cJSON *t = cJSON_CreateObject();

	if (!t || !cJSON_AddStringToObject(t, "key", key) ||
	    !cJSON_AddStringToObject(t, "value", value)) {
		cJSON_Delete(t);
		return -ENOMEM;
	}
	cJSON_AddItemToArray(tags, t);
	return 0;
}

int taskdef_pin(const cJSON *described, const char *const *containers, size_t n_containers,
		const char *image, const char *digest, const char *tag, cJSON **ret, char *why,
		size_t why_len)
{
	const cJSON *td = cJSON_GetObjectItem(described, "taskDefinition"), *t;
	const char *arn = cJSON_GetStringValue(cJSON_GetObjectItem(td, "taskDefinitionArn"));
	cJSON *out, *defs, *tags, *c;
	int n_tags = 0;

	*ret = NULL;
	if (!cJSON_IsObject(td) || !arn) {
		snprintf(why, why_len, "the reply has no task definition with an ARN");
		return -EINVAL;
	}
	out = cJSON_Duplicate(td, true);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(read_only) / sizeof(read_only[0]); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(out, read_only[i]);
	defs = cJSON_GetObjectItem(out, "containerDefinitions");
	for (size_t i = 0; i < n_containers; i++) {
		bool found = false;
		cJSON_ArrayForEach(c, defs)
		{
			const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(c, "name"));
			if (n && !strcmp(n, containers[i])) {
				cJSON *img = cJSON_CreateString(image);
				bool ok =
				    img &&
				    (cJSON_GetObjectItemCaseSensitive(c, "image")
					 ? cJSON_ReplaceItemInObjectCaseSensitive(c, "image", img)
					 : cJSON_AddItemToObject(c, "image", img));
				found = true;
				if (!ok) {
					cJSON_Delete(img);
					cJSON_Delete(out);
					return -ENOMEM;
				}
			}
		}
		if (!found) {
			int len =
			    snprintf(why, why_len,
				     "task definition '%s' has no container '%s' (it has:", arn,
				     containers[i]);
			cJSON_ArrayForEach(c, defs)
			{
				const char *n =
				    cJSON_GetStringValue(cJSON_GetObjectItem(c, "name"));
				if (len >= 0 && (size_t)len < why_len)
					len += snprintf(why + len, why_len - (size_t)len, " '%s'",
							n ? n : "?");
			}
			if (len >= 0 && (size_t)len < why_len)
				snprintf(why + len, why_len - (size_t)len, ")");
			cJSON_Delete(out);
			return -EINVAL;
		}
	}
	prune(out, true);
	/* The old tags, except ours and the reserved aws: ones, then ours. */
	tags = cJSON_AddArrayToObject(out, "tags");
	if (!tags) {
		cJSON_Delete(out);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(described, "tags"))
	{
		const char *k = cJSON_GetStringValue(cJSON_GetObjectItem(t, "key"));
		const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(t, "value"));
		if (!k || !v || !strncmp(k, "ecr-deployd:", 12) || !strncasecmp(k, "aws:", 4))
			continue;
		if (add_tag(tags, k, v) < 0) {
			cJSON_Delete(out);
			return -ENOMEM;
		}
		n_tags++;
	}
	if (n_tags + 3 > MAX_TAGS) {
		snprintf(why, why_len,
			 "task definition '%s' has %d tags; with ecr-deployd's 3 that is over the "
			 "limit of %d",
			 arn, n_tags, MAX_TAGS);
		cJSON_Delete(out);
		return -EINVAL;
	}
	if (add_tag(tags, TAG_DIGEST, digest) < 0 || add_tag(tags, TAG_TAG, tag ? tag : "") < 0 ||
	    add_tag(tags, TAG_PREVIOUS, arn) < 0) {
		cJSON_Delete(out);
		return -ENOMEM;
	}
	*ret = out;
	return 0;
}

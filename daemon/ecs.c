/* SPDX-License-Identifier: MIT */
/* Readers of ECS replies, pure; see ecs.h. */
#include "ecs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "escape.h"
#include "taskdef.h"

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

const cJSON *ecs_find_service(const cJSON *body, const char *name)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, cJSON_GetObjectItem(body, "services"))
	{
		const char *sn = str_of(s, "serviceName");
		if (sn && name && !strcmp(sn, name))
			return s;
	}
	return NULL;
}

const cJSON *ecs_find_deployment(const cJSON *svc, const char *key, const char *value)
{
	const cJSON *d;

	cJSON_ArrayForEach(d, cJSON_GetObjectItem(svc, "deployments"))
	{
		const char *v = str_of(d, key);
		if (v && value && !strcmp(v, value))
			return d;
	}
	return NULL;
}

const cJSON *ecs_primary(const cJSON *svc)
{
	return ecs_find_deployment(svc, "status", "PRIMARY");
}

const cJSON *ecs_primary_task_set(const cJSON *svc)
{
	const cJSON *ts, *found = NULL;

	cJSON_ArrayForEach(ts, cJSON_GetObjectItem(svc, "taskSets"))
	{
		const char *status = str_of(ts, "status");
		if (!status || strcmp(status, "PRIMARY"))
			continue;
		if (found || !str_of(ts, "taskDefinition"))
			return NULL;
		found = ts;
	}
	return found;
}

bool ecs_completed(const cJSON *svc, const cJSON *dep)
{
	const char *state = str_of(dep, "rolloutState");

	if (!dep)
		return false;
	if (state)
		return !strcmp(state, "COMPLETED");
	return cJSON_GetArraySize(cJSON_GetObjectItem(svc, "deployments")) == 1 &&
	       cJSON_IsNumber(cJSON_GetObjectItem(dep, "runningCount")) &&
	       cJSON_GetNumberValue(cJSON_GetObjectItem(dep, "runningCount")) ==
		   cJSON_GetNumberValue(cJSON_GetObjectItem(dep, "desiredCount"));
}

int ecs_count(const cJSON *dep, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(dep, key);
	double n = cJSON_IsNumber(v) ? v->valuedouble : 0.0;

	return n >= 0.0 && n <= (double)INT_MAX ? (int)n : 0; /* false for NaN too */
}

const char *ecs_taskdef_arn(const cJSON *body)
{
	return str_of(cJSON_GetObjectItem(body, "taskDefinition"), "taskDefinitionArn");
}

const char *ecs_ours_already(const cJSON *body, const char *digest, const char *base_td)
{
	const cJSON *tags = cJSON_GetObjectItem(body, "tags");
	const char *d = taskdef_tag(tags, TAG_DIGEST), *prev = taskdef_tag(tags, TAG_PREVIOUS);

	if (!d || !prev || !digest || !base_td || strcmp(d, digest) || strcmp(prev, base_td))
		return NULL;
	return ecs_taskdef_arn(body);
}

enum ecs_tasks_verdict ecs_tasks_digest(const cJSON *body, const char *container,
					const char *started_by, const char **ret_digest,
					int *ret_checked)
{
	const cJSON *t, *c;
	const char *seen = NULL;
	bool mixed = false;
	int checked = 0;

	*ret_digest = NULL;
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(body, "tasks"))
	{
		if (started_by && strcmp(str_of(t, "startedBy") ?: "", started_by))
			continue;
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(t, "containers"))
		{
			const char *d = str_of(c, "imageDigest");
			if (!d || !container || strcmp(str_of(c, "name") ?: "", container))
				continue;
			checked++;
			if (!digest_valid(d)) {
				*ret_digest = d;
				if (ret_checked)
					*ret_checked = checked;
				return ECS_TASKS_INVALID;
			}
			if (seen && strcmp(seen, d))
				mixed = true;
			seen = d;
		}
	}
	if (ret_checked)
		*ret_checked = checked;
	if (mixed)
		return ECS_TASKS_MIXED;
	*ret_digest = seen;
	return seen ? ECS_TASKS_ONE : ECS_TASKS_NONE;
}

int ecs_pinned_digest(const cJSON *td, const char *container, const char **ret_digest)
{
	const cJSON *c;
	const char *image = NULL, *at;
	bool found = false;

	*ret_digest = NULL;
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(td, "containerDefinitions"))
	{
		if (container && !strcmp(str_of(c, "name") ?: "", container)) {
			found = true;
			image = str_of(c, "image");
			break;
		}
	}
	if (!found)
		return -ENOENT;
	at = image ? strrchr(image, '@') : NULL;
	if (!at)
		return 0;
	*ret_digest = at + 1;
	return digest_valid(at + 1) ? 1 : -EINVAL;
}

void ecs_printable(const char *v, char *out, size_t n)
{
	if (n)
		escape_bounded(v, 120, out, n, ESCAPE_SQUOTE | ESCAPE_BACKSLASH);
}

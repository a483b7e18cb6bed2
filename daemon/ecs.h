/* SPDX-License-Identifier: MIT */
/*
 * Readers of the ECS replies the deploy engine uses (DescribeServices,
 * DescribeTaskDefinition, RegisterTaskDefinition, DescribeTasks), as pure
 * functions over the parsed body: no I/O, no logging, so that each is
 * unit-tested and fuzzed (tests/fuzz/fuzz_ecs.c) on its own. Every byte of a
 * reply is hostile until checked: a digest is used only when digest_valid()
 * says it is one; anything else is reported to the caller, never used.
 */
#ifndef ECR_ECS_H
#define ECR_ECS_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* The service named name in a DescribeServices reply, or NULL (ECS lists it as a failure). */
const cJSON *ecs_find_service(const cJSON *body, const char *name);

/* The deployment of a service whose string member key is value, or NULL. */
const cJSON *ecs_find_deployment(const cJSON *svc, const char *key, const char *value);

/* The service's PRIMARY deployment, or NULL. */
const cJSON *ecs_primary(const cJSON *svc);

/* The service's PRIMARY task set (CODE_DEPLOY and EXTERNAL controllers), with a taskDefinition;
 * NULL when there is none, or more than one (which ECS never answers). */
const cJSON *ecs_primary_task_set(const cJSON *svc);

/* Done by the rules of ECS: rolloutState COMPLETED, or, without one, the ServicesStable rule (one
 * deployment, all its tasks running). */
bool ecs_completed(const cJSON *svc, const cJSON *dep);

/* A task count member (runningCount, desiredCount...) of a deployment: 0 unless it is a number
 * from 0 to INT_MAX (a hostile or missing value is never cast). */
int ecs_count(const cJSON *dep, const char *key);

/* The taskDefinitionArn of a RegisterTaskDefinition or DescribeTaskDefinition reply, or NULL. */
const char *ecs_taskdef_arn(const cJSON *body);

/*
 * The ARN of a DescribeTaskDefinition reply (with its tags) when our tags say that revision pins
 * digest and was made from base_td: registered by us before a crash. Else NULL.
 */
const char *ecs_ours_already(const cJSON *body, const char *digest, const char *base_td);

/* What the running tasks of a DescribeTasks reply say their container runs. */
enum ecs_tasks_verdict {
	ECS_TASKS_NONE,    /* no task names a digest for the container */
	ECS_TASKS_ONE,     /* all that do name the same valid digest: *ret_digest */
	ECS_TASKS_MIXED,   /* they disagree */
	ECS_TASKS_INVALID, /* one names something that is not a digest: *ret_digest is it */
};

/*
 * Reads the imageDigest of container in every task of a DescribeTasks reply; when started_by is
 * not NULL, only of the tasks that deployment started. *ret_digest points into body.
 * *ret_checked (if not NULL) counts the containers read.
 */
enum ecs_tasks_verdict ecs_tasks_digest(const cJSON *body, const char *container,
					const char *started_by, const char **ret_digest,
					int *ret_checked);

/*
 * The digest the image of container pins in a task definition object: 1 and *ret_digest (a
 * valid digest, into td) when it is pinned; 0 when it names a tag (or the container has no
 * image); -EINVAL with *ret_digest set to what follows '@' when that is not a valid digest;
 * -ENOENT when td has no such container.
 */
int ecs_pinned_digest(const cJSON *td, const char *container, const char **ret_digest);

/* v made safe for a message (escape.h's rules, quote and backslash escaped too), at most 120
 * bytes of v then "...". */
void ecs_printable(const char *v, char *out, size_t n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The zero-downtime guard: which settings of an ECS service make a deploy
 * unsafe. A pure function of the service as DescribeServices describes it
 * and, for strategy force, of its task definition (no I/O, no logging), so
 * that each rule is a row of tests/unit/test_guard.c. The caller decides
 * what a finding does (the target's "guard": warn, enforce or off);
 * ecr-deployd never changes these settings itself.
 *
 * The rules (a missing field has ECS's default: strategy ROLLING,
 * minimumHealthyPercent 100, maximumPercent 200, circuit breaker and alarms
 * disabled; a field of the wrong type, or a number ECS could not have sent,
 * counts as missing):
 *  - a ROLLING REPLICA service with desiredCount d > 0 whose
 *    minimumHealthyPercent is below 100: tasks are stopped before their
 *    replacements are healthy;
 *  - the same whose maximumPercent leaves no room for a new task beside the
 *    d old ones (floor(d * maximumPercent / 100) <= d): old tasks must stop
 *    first;
 *  - any strategy, the target's rollback off, and neither the deployment
 *    circuit breaker nor CloudWatch alarms enabled: a bad image would stay;
 *  - strategy force, a target container whose image names a tag (no
 *    "@sha256:") while its versionConsistency is "disabled": tasks of one
 *    deployment may run different digests.
 * The minimum and maximum rules do not apply to BLUE_GREEN, LINEAR and
 * CANARY services (ECS starts a full green fleet beside the blue one), nor
 * to DAEMON services (one task per instance: ECS must stop the old task
 * before it starts the new one there).
 */
#ifndef ECR_GUARD_H
#define ECR_GUARD_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define GUARD_FINDINGS_MAX 6

struct guard_finding {
	char setting[128]; /* e.g. "deploymentConfiguration.minimumHealthyPercent" */
	char value[160];   /* the value as ECS has it, stable while the setting does not change,
			      e.g. "50" */
	char why[400]; /* one sentence for the log, e.g. "4 tasks may drop to 2 during a deploy" */
};

/*
 * The unsafe settings of svc for a deploy: svc is a DescribeServices service;
 * td the taskDefinition object (NULL when not read: the versionConsistency
 * rule is skipped); containers the target's container names; force: strategy
 * force; rollback: the target's "rollback" is on. Writes up to max findings
 * to out (in the order of the rules above, containers in the order given)
 * and returns how many. Every text is NUL-terminated, bounded and printable
 * (anything from AWS is escaped). A svc that is not an object gives none.
 */
size_t guard_check(const cJSON *svc, const cJSON *td, const char *const *containers,
		   size_t n_containers, bool force, bool rollback, struct guard_finding *out,
		   size_t max);

#endif

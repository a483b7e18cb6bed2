/* SPDX-License-Identifier: MIT */
/*
 * `ecr-deployd --approve TARGET` and `--reject TARGET`: the operator's one-shot answer to a PAUSE
 * lifecycle hook of an ECS-run deployment (BLUE_GREEN, LINEAR, CANARY). It talks to AWS only,
 * whether the daemon runs or not: DescribeServices (the service's currentServiceDeployment),
 * DescribeServiceDeployments (its hook with targetType PAUSE and status AWAITING_ACTION), then
 * ContinueServiceDeployment with CONTINUE or ROLLBACK. For a target with strategy codedeploy
 * that names its application and deployment group: ListDeployments of the group in status Ready
 * (blue/green waiting for its traffic to be rerouted), then ContinueDeployment(READY_WAIT), or
 * StopDeployment with autoRollbackEnabled. A running daemon sees the result at its next tracking
 * look.
 *
 * The AWS client stack is set up as the daemon sets it up (region, profile, endpoints, FIPS, CA
 * bundle, the target's role_arn assumed over the credential chain), on a loop of its own that
 * runs only for these calls. What it did goes to stdout in one line; errors go to stderr, every
 * value from AWS escaped. Never prints secrets.
 */
#ifndef ECR_APPROVE_H
#define ECR_APPROVE_H

#include <stdio.h>

#include <cJSON.h>

struct config;
struct config_target;
struct config_watch;

enum approve_action {
	APPROVE_CONTINUE, /* --approve */
	APPROVE_ROLLBACK, /* --reject */
};

/*
 * The target of cfg that name designates: "WATCH/SERVICE", "CLUSTER/SERVICE" (the cluster's name,
 * also when the configuration gives its ARN) or "SERVICE" (the service's name). Returns 0 with
 * *ret_w and *ret_t; -ENOENT when none matches, -EEXIST when several distinct targets do (a
 * target reached by two of its names counts once); then, if err is not NULL, writes to err what
 * went wrong and the candidates (the matching targets, or every target when none matched), one a
 * line, values escaped.
 */
int approve_find_target(const struct config *cfg, const char *name,
			const struct config_watch **ret_w, const struct config_target **ret_t,
			FILE *err);

/*
 * The same lookup for the control socket, without printing. Returns 0 with *ret_w and *ret_t;
 * -ENOENT or -EEXIST as above, then *ret_candidates (if not NULL) is a new JSON array of
 * canonical names ("WATCH/SERVICE"): the targets that answer to name when it is ambiguous, else
 * the configured targets closest to name by edit distance, closest first, at most
 * APPROVE_CANDIDATES (may be empty; NULL without memory).
 */
#define APPROVE_CANDIDATES 5
int approve_match_target(const struct config *cfg, const char *name,
			 const struct config_watch **ret_w, const struct config_target **ret_t,
			 cJSON **ret_candidates);

/*
 * The watch of cfg named name. Returns 0 with *ret_w, or -ENOENT with *ret_candidates (if not
 * NULL) a new JSON array of the closest watch names, closest first, at most APPROVE_CANDIDATES.
 */
int approve_match_watch(const struct config *cfg, const char *name,
			const struct config_watch **ret_w, cJSON **ret_candidates);

/*
 * Runs the whole command for target (a name as approve_find_target() takes it) with cfg (not
 * owned). Returns the process's exit status: 0 when the hook was continued (the line on stdout
 * says which), 1 when no PAUSE hook awaits action (stderr says what the deployment is doing), 64
 * for an unknown or ambiguous target, 78 when no usable region is configured, 69 when an AWS call
 * failed (the operation, code and message on stderr), 71 without memory or an HTTP client.
 */
int approve_run(const struct config *cfg, const char *target, enum approve_action action);

#endif

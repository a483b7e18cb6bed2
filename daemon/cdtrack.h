/* SPDX-License-Identifier: MIT */
/*
 * Strategy codedeploy's pure parts: what the AppSpec says (built from the service ECS describes),
 * which deployment is ours (by the description we gave it), what CodeDeploy says of a deployment
 * (the verdict), and what its ECS target says (lifecycle event, diagnostics, traffic weight).
 * Every byte they read comes from outside: nothing here trusts a type, a length or a charset.
 * No I/O, no clock: the caller gives the time.
 */
#ifndef ECR_CDTRACK_H
#define ECR_CDTRACK_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define CD_ID_MAX 64 /* a deployment id ("d-" and 9 characters), with room */

/* Whether s is a plausible CodeDeploy deployment id: 1 to 63 of [A-Za-z0-9-]. */
bool cdtrack_id_valid(const char *s);

/* ---- the service ---- */

/* The task definition a CODE_DEPLOY service runs: its PRIMARY task set's, else the service's
 * taskDefinition; NULL when neither is a string. */
const char *cdtrack_base_td(const cJSON *svc);

/* The load balancer's container and port (the service's loadBalancers[], else the PRIMARY task
 * set's): 0 with *container (into svc) and *port, -ENOENT when none names both. */
int cdtrack_lb(const cJSON *svc, const char **container, long *port);

/*
 * The AppSpec's optional keys from the service (else its PRIMARY task set): *platform (a copy of
 * platformVersion), *network (networkConfiguration.awsvpcConfiguration as AppSpec JSON text:
 * {"AwsvpcConfiguration":{"Subnets":[..],"SecurityGroups":[..],"AssignPublicIp":".."}}),
 * *capacity (capacityProviderStrategy as [{"CapacityProvider":..,"Base":N,"Weight":N}]); each
 * NULL when the service has none. 0, -EINVAL (why: a key of the wrong shape), -ENOMEM. The
 * caller frees the three.
 */
int cdtrack_appspec_keys(const cJSON *svc, char **platform, char **network, char **capacity,
			 char *why, size_t why_len);

struct cd_appspec {
	const char *td;        /* TaskDefinition */
	const char *container; /* LoadBalancerInfo.ContainerName */
	long port;             /* LoadBalancerInfo.ContainerPort */
	const char *platform;  /* NULL: no PlatformVersion */
	const char *network;   /* JSON text or NULL */
	const char *capacity;  /* JSON text or NULL */
};

/* The AppSpec content (JSON text, malloc'd) into *ret. 0, -EINVAL (why: network or capacity is
 * not the JSON it should be, or td/container missing), -ENOMEM. */
int cdtrack_appspec(const struct cd_appspec *in, char **ret, char *why, size_t why_len);

/* The description of a deployment of ours: "ecr-deployd <token> <digest> for <watch>". */
void cdtrack_description(const char *token, const char *digest, const char *watch, char *out,
			 size_t n);

/* The deploymentId of the deployment in a BatchGetDeployments reply (deploymentsInfo[]) whose
 * description carries token ("ecr-deployd <token> "), copied to id; false when none does. */
bool cdtrack_find_token(const cJSON *body, const char *token, char *id, size_t n);

/* The deploymentInfo of id in a BatchGetDeployments (deploymentsInfo[]) or GetDeployment
 * (deploymentInfo) reply, or NULL. */
const cJSON *cdtrack_info(const cJSON *body, const char *id);

/* ---- the verdict ---- */

enum cd_verdict {
	CD_KEEP,          /* in progress (Created, Queued, InProgress, Baking) */
	CD_READY,         /* Ready: waits for ContinueDeployment (READY_WAIT) */
	CD_DONE,          /* Succeeded */
	CD_FAILED,        /* Failed or Stopped, CodeDeploy does not roll it back */
	CD_ROLLBACK,      /* Failed or Stopped, CodeDeploy rolls it back (rollback_id) */
	CD_WAIT_ROLLBACK, /* Failed or Stopped with an automatic rollback to come: look again */
	CD_STOPPED,       /* Stopped by someone else (not us), without a rollback */
	CD_TIMEOUT,       /* not ended by the deadline */
	CD_MISSING,       /* not found (just after creation: looked at again) */
	CD_ANOMALY,       /* an answer that makes no sense (unknown status, a hostile field) */
};

struct cd_input {
	const cJSON *info;  /* the deploymentInfo, or NULL when the reply lacks it */
	bool stopped_by_us; /* we sent StopDeployment: Stopped is ours, not someone else's */
	double now, deadline;
	double appear_by;      /* a missing deployment is waited for until then */
	double rollback_until; /* an automatic rollback's rollbackInfo is waited for until then */
};

struct cd_result {
	enum cd_verdict verdict;
	char status[16];     /* the status, printable ("" when there is none) */
	char error_code[64]; /* errorInformation.code, printable */
	char rollback_id[CD_ID_MAX];
	char reason[900]; /* why, quoting errorInformation and rollbackInfo (escaped) */
	bool ready_stop;  /* deploymentReadyOption.actionOnTimeout is STOP_DEPLOYMENT */
	int overview[6];  /* Pending, InProgress, Succeeded, Failed, Skipped, Ready; -1 unknown */
};

void cdtrack_verdict(const struct cd_input *in, struct cd_result *out);

/*
 * deploymentOverview as DEPLOY_PROGRESS's CODEDEPLOY_OVERVIEW says it: "Pending=N InProgress=N
 * Succeeded=N Failed=N Skipped=N Ready=N", in that order, each N a count CodeDeploy gave (a count
 * it did not give, or not as a number from 0 to 999999999, is left out); "" when it gave none.
 */
void cdtrack_overview_text(const int overview[6], char *out, size_t n);

/* The verdict on CodeDeploy's rollback deployment: CD_DONE (rolled back), CD_FAILED, CD_KEEP,
 * CD_TIMEOUT, CD_MISSING (after appear_by), CD_ANOMALY. */
void cdtrack_rollback_verdict(const struct cd_input *in, struct cd_result *out);

/* ---- the ECS target ---- */

struct cd_target {
	char event[40];        /* the lifecycle event in progress, "" none */
	char failed_event[40]; /* the first lifecycle event Failed, "" none */
	char diagnostics[700]; /* its diagnostics (errorCode, scriptName, message, logTail) */
	double weight;         /* the Green task set's trafficWeight, -1 unknown */
};

/* Reads a BatchGetDeploymentTargets reply (deploymentTargets[].ecsTarget). */
void cdtrack_target(const cJSON *body, struct cd_target *out);

/* ---- discovery ---- */

/* The deployment groups of a BatchGetDeploymentGroups reply whose ecsServices name cluster and
 * service (either may be an ARN or a name); calls found for each, up to its return. */
int cdtrack_groups_matching(const cJSON *body, const char *cluster, const char *service,
			    void (*found)(const char *app, const char *group, void *ud), void *ud);

#endif

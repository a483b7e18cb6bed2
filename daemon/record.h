/* SPDX-License-Identifier: MIT */
/*
 * The rollout record: everything a rollout in flight needs, typed, so that it can be written
 * before and after every call that changes AWS and picked up again after a stop. Its JSON form
 * belongs to state.c (state_record_to_json(), state_record_from_json()); the steps' meaning to
 * rollout.c's step table.
 */
#ifndef ECR_RECORD_H
#define ECR_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The steps of a rollout; see the table and the diagram in rollout.h. */
enum rollout_step {
	STEP_INSPECT,         /* first start: DescribeServices (an inspection is never written) */
	STEP_INSPECT_TD,      /* DescribeTaskDefinition of what it runs */
	STEP_INSPECT_LIST,    /* ListTasks: its running tasks */
	STEP_INSPECT_TASKS,   /* DescribeTasks: their imageDigest */
	STEP_INSPECT_REV,     /* DescribeServiceRevisions: containerImages (blue/green, ...) */
	STEP_START,           /* DescribeServices: where the service is */
	STEP_READ_BASE,       /* DescribeTaskDefinition of the revision it runs, with tags */
	STEP_REGISTERING,     /* RegisterTaskDefinition of the pinned revision */
	STEP_FIND_REGISTERED, /* resuming registering: is ours the family's latest? */
	STEP_REGISTERED,      /* DescribeServices: still where we left it? */
	STEP_DEREGISTER,      /* it moved: DeregisterTaskDefinition of our unused revision */
	STEP_UPDATING,        /* UpdateService */
	STEP_FIND_UPDATE,     /* resuming updating: did ECS make our deployment? */
	STEP_TRACKING,        /* DescribeServices (batched) until ECS says how it ended */
	STEP_TRACKING_SD,     /* DescribeServiceDeployments (batched) of ours, by its ARN */
	STEP_APPROVING,       /* "approve": "auto": ContinueServiceDeployment of its PAUSE hook */
	STEP_SD_EVENTS,       /* it ended badly: DescribeServices for ECS's events, quoted */
	STEP_CONFIRM_LIST,    /* force: ListTasks of our deployment */
	STEP_CONFIRM_TASKS,   /* force: DescribeTasks: do they run the digest? */
	STEP_SD_STOP,         /* StopServiceDeployment(ROLLBACK) of ours, still in progress */
	STEP_SD_CHECK,        /* DescribeServiceDeployments: did the stop take? */
	STEP_RB_TRACKING_SD,  /* DescribeServiceDeployments (batched) until ECS's rollback ends */
	STEP_ROLLBACK,        /* our deployment failed: choose the revision to go back to */
	STEP_RB_FIND,         /* DescribeTaskDefinition: a pinned revision of ours to go back to? */
	STEP_RB_READ_BASE,    /* DescribeTaskDefinition of the revision that ran before */
	STEP_RB_REGISTERING,  /* RegisterTaskDefinition of it pinned to the digest that ran */
	STEP_RB_CHECK,        /* DescribeServices: was the rollback made already? */
	STEP_ROLLING_BACK,    /* UpdateService to the revision that ran before */
	STEP_RB_TRACKING,     /* DescribeServices (batched) until the rollback ends */
	/* strategy codedeploy (cdeploy.c) */
	STEP_CD_APPS,        /* ListApplications: group discovery (paged) */
	STEP_CD_GROUPS,      /* ListDeploymentGroups of one application (paged) */
	STEP_CD_GROUP_INFO,  /* BatchGetDeploymentGroups: which groups name the service? */
	STEP_CD_CREATING,    /* CreateDeployment of our revision (description: our token) */
	STEP_CD_FIND,        /* resuming creating: ListDeployments of the group since it was sent */
	STEP_CD_FIND_INFO,   /* BatchGetDeployments of those: is one ours, by its description? */
	STEP_CD_TRACKING,    /* BatchGetDeployments (batched) until CodeDeploy says how it ended */
	STEP_CD_APPROVING,   /* "approve": "auto": ContinueDeployment(READY_WAIT) of a Ready one */
	STEP_CD_DIAG_LIST,   /* it failed: ListDeploymentTargets, for the failing lifecycle event */
	STEP_CD_DIAG,        /* BatchGetDeploymentTargets: its diagnostics, quoted */
	STEP_CD_STOP,        /* StopDeployment(autoRollbackEnabled) of ours, in progress */
	STEP_CD_STOP_CHECK,  /* GetDeployment: did the stop take, with a rollback? */
	STEP_CD_RB_TRACKING, /* BatchGetDeployments (batched) of CodeDeploy's rollback deployment */
	STEP_CD_RB_CREATING, /* our rollback: CreateDeployment of the revision that ran before */
	STEP_CD_RB_FIND,     /* resuming it: ListDeployments of the group since it was sent */
	STEP_CD_RB_FIND_INFO, /* BatchGetDeployments of those: is one our rollback? */
	STEP_COUNT
};

/* Who rolls the service back after our deployment failed. */
enum rollback_by {
	ROLLBACK_BY_NONE,
	ROLLBACK_BY_US,
	ROLLBACK_BY_ECS,        /* ECS's own (circuit breaker, alarms, a hook): we follow it */
	ROLLBACK_BY_STOP,       /* ours, carried out by ECS: StopServiceDeployment(ROLLBACK) */
	ROLLBACK_BY_CODEDEPLOY, /* CodeDeploy's (automatic, or on our StopDeployment): followed */
};

#define RECORD_VERSION                                                  \
	3 /* 1: the same keys without "version"; new keys are optional; \
	      3: strategy codedeploy's keys (cd_*) */
#define RECORD_CONTAINERS 10

struct rollout_rec {
	enum rollout_step step;
	/* what and where (fixed at the start) */
	char *watch, *tkey; /* the watch and the target's key (account@region/cluster/service) */
	char *repository, *tag, *digest,
	    *image;            /* image: the repository URI the digest is pinned to */
	char *previous_digest; /* what ran before, when known ("" unknown) */
	char *strategy;        /* "revision" or "force" */
	char *cluster, *service, *region, *role_arn;
	char *containers[RECORD_CONTAINERS];
	size_t n_containers;
	bool rollback; /* roll back on failure */
	bool first_start_skip, after_reset;
	long timeout_ms;             /* rollout_timeout */
	double started_at, deadline; /* wall seconds; 0 for an inspection */
	/* learned on the way */
	char *family, *base_td, *new_td, *pinned_image;
	bool base_pinned; /* base_td pins the digest of the first container */
	bool no_stop; /* base_td names a tag with versionConsistency disabled: ECS's rollback would
			 pull the tag (now the failed image); ours pins the digest instead */
	char *prev_deployment;     /* the PRIMARY deployment before our UpdateService */
	char *prev_deployment_arn; /* the service deployment current before it (never ours) */
	char *deployment_id, *deployment_arn;    /* ours (arn: currentServiceDeployment) */
	double register_sent_at, update_sent_at; /* when the calls that change AWS went out */
	char *anomaly; /* why the service is put back, when ECS did something unexplained */
	enum rollback_by rollback_by;
	char *rollback_td, *rollback_deployment_id;
	double rollback_deadline, rollback_register_sent_at, rollback_sent_at;
	/* the service deployment (tracked by deployment_arn) */
	char *sd_status;        /* its status at the last look */
	char *stage;            /* its lifecycleStage last reported (DEPLOY_PROGRESS) */
	char *hook_id;          /* the PAUSE hook last said to await action (AWAITING_APPROVAL) */
	char *approve;          /* "manual" or "auto" */
	char *guard;            /* "warn", "enforce" or "off" */
	double hook_expires_at; /* when ECS applies the hook's timeout action (wall seconds) */
	double hold_left;    /* > 0 while a hook awaits: the rollout timeout left when it began */
	double stop_sent_at; /* StopServiceDeployment */
	/* an operator's rollout (the control socket): "deploy UID PID" or "rollback UID PID";
	 * NULL: the engine's own */
	char *manual;
	/* strategy codedeploy: where (from the target, or discovered), and what the AppSpec says */
	char *cd_application, *cd_group, *cd_config;
	bool cd_discovered; /* the group was discovered (its cache is dropped when it is gone) */
	char *cd_container; /* the load balancer's container and port (the target's, else the
			       service's loadBalancers[]) */
	long cd_port;
	char *cd_platform, *cd_network, *cd_capacity; /* AppSpec keys, JSON text (PascalCase),
							 NULL when the service has none */
	char *cd_token;         /* 16 hex: in the description of the deployment we create */
	char *cd_deployment_id; /* ours, once known */
	char *cd_status;        /* its CodeDeploy status at the last look */
	char *cd_event;         /* the lifecycle event last reported (DEPLOY_PROGRESS) */
	char *cd_rb_token;      /* our own rollback deployment's token */
	double cd_create_sent_at, cd_rb_create_sent_at; /* CreateDeployment sent */
	double cd_rb_wait_until; /* waiting for CodeDeploy's rollbackInfo until then */
	/* notifications (outbox.h): 1u << enum notice_kind for each kind posted already (at most
	 * one per kind per rollout; optional key "notified"), and the hook (or CodeDeploy wait)
	 * whose awaiting-approval was posted last (one per hook) */
	uint32_t notified;
	char *notified_hook;
};

/*
 * The string fields of a record besides watch and tkey, for the code that walks them all (copy,
 * free, the JSON form): a field added to struct rollout_rec is added here.
 */
/* clang-format off */
#define RECORD_STRINGS(X) \
	X(repository) \
	X(tag) \
	X(digest) \
	X(image) \
	X(previous_digest) \
	X(strategy) \
	X(cluster) \
	X(service) \
	X(region) \
	X(role_arn) \
	X(family) \
	X(base_td) \
	X(new_td) \
	X(pinned_image) \
	X(prev_deployment) \
	X(prev_deployment_arn) \
	X(deployment_id) \
	X(deployment_arn) \
	X(anomaly) \
	X(rollback_td) \
	X(rollback_deployment_id) \
	X(sd_status) \
	X(stage) \
	X(hook_id) \
	X(approve) \
	X(guard) \
	X(manual) \
	X(cd_application) \
	X(cd_group) \
	X(cd_config) \
	X(cd_container) \
	X(cd_platform) \
	X(cd_network) \
	X(cd_capacity) \
	X(cd_token) \
	X(cd_deployment_id) \
	X(cd_status) \
	X(cd_event) \
	X(cd_rb_token) \
	X(notified_hook)
/* clang-format on */

/* The step's name in records and events ("start", "tracking", ...), and back; -1 if unknown. */
const char *record_step_name(enum rollout_step step);
int record_step_from_name(const char *name);

/* Frees every string of rec and rec itself. NULL is a no-op. */
void record_free(struct rollout_rec *rec);

/* Sets *field to a copy of value (NULL stays NULL). Returns 0 or -ENOMEM (*field unchanged). */
int record_set(char **field, const char *value);

/* Whether the strategy is "revision" (also when unset). */
bool record_is_revision(const struct rollout_rec *rec);

/* Whether the strategy is "codedeploy". */
bool record_is_codedeploy(const struct rollout_rec *rec);

/* Whether the strategy registers a revision pinned to the digest ("revision", "codedeploy"). */
bool record_pins(const struct rollout_rec *rec);

#endif

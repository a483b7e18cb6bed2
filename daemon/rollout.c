/* SPDX-License-Identifier: MIT */
/* The rollout engine: the step table and the one function that runs it; see rollout.h. */
#include "rollout.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "credentials.h"
#include "ecs.h"
#include "events.h"
#include "notice.h"
#include "state.h"

#define BATCH_MAX      20 /* service deployments per DescribeServiceDeployments */
#define BATCH_SERVICES 10 /* services per DescribeServices */
#define BATCH_CD       25 /* deployments per BatchGetDeployments */
#define TRACK_FIRST_S  1.0
#define TRACK_MAX_S    10.0
#define TRACK_SAFETY_S 30.0 /* while ECS's events about the service flow */
#define RETRY_FIRST_S  2.0
#define RETRY_MAX_S    60.0
#define UPDATE_ATTEMPT_MS \
	10000 /* attempt timeout of the calls that change AWS (never retried blindly) */
#define UPDATE_WINDOW_S     (UPDATE_ATTEMPT_MS / 1000.0 + 5.0) /* carried out until then */
#define STATE_RETRY_FIRST_S 1.0

struct batch {
	struct deployer *dp;
	const char *operation; /* DescribeServices, DescribeServiceDeployments or
				  BatchGetDeployments (CodeDeploy) */
	struct rollout *r[BATCH_CD];
	int n, max;
	char *cluster, *region;
	struct cred_provider *creds;
	struct aws_call *call;
	struct batch *next;
};

/*
 * The step table: for each step its request, the reader of the reply (which returns the next
 * step or an outcome), whether the record is written with it, and what a record found at it after
 * a stop runs. tests/unit/test_rollout.c checks the diagram of rollout.h against it.
 */
const struct rollout_step_def rollout_steps[STEP_COUNT] = {
	[STEP_INSPECT] = { .next = { STEP_INSPECT_TD },
			   .operation = "DescribeServices",
			   .params = rollout_service_params,
			   .read = inspect_read_service,
			   .resume = STEP_INSPECT },
	[STEP_INSPECT_TD] = { .next = { STEP_INSPECT_LIST, STEP_INSPECT_REV },
			      .operation = "DescribeTaskDefinition",
			      .params = inspect_td_params,
			      .read = inspect_read_td,
			      .resume = STEP_INSPECT },
	[STEP_INSPECT_LIST] = { .next = { STEP_INSPECT_TASKS },
				.operation = "ListTasks",
				.params = rollout_list_tasks_params,
				.read = inspect_read_list,
				.resume = STEP_INSPECT },
	[STEP_INSPECT_TASKS] = { .operation = "DescribeTasks",
				 .params = rollout_describe_tasks_params,
				 .read = inspect_read_tasks,
				 .resume = STEP_INSPECT },
	[STEP_INSPECT_REV] = { .operation = "DescribeServiceRevisions",
			       .params = inspect_rev_params,
			       .read = inspect_read_rev,
			       .resume = STEP_INSPECT },
	[STEP_START] = { .next = { STEP_READ_BASE, STEP_UPDATING, STEP_CD_APPS,
				   STEP_CD_GROUP_INFO },
			 .operation = "DescribeServices",
			 .params = rollout_service_params,
			 .read = deploy_read_start,
			 .written = true,
			 .resume = STEP_START },
	[STEP_READ_BASE] = { .next = { STEP_REGISTERING, STEP_UPDATING },
			     .operation = "DescribeTaskDefinition",
			     .params = deploy_read_base_params,
			     .read = deploy_read_base,
			     .resume = STEP_START },
	[STEP_REGISTERING] = { .next = { STEP_REGISTERED },
			       .operation = "RegisterTaskDefinition",
			       .params = deploy_register_params,
			       .read = deploy_read_registered,
			       .written = true,
			       .resume = STEP_FIND_REGISTERED,
			       .sent_at = SENT_REGISTER },
	[STEP_FIND_REGISTERED] = { .next = { STEP_START, STEP_REGISTERED },
				   .operation = "DescribeTaskDefinition",
				   .params = deploy_family_params,
				   .read = deploy_read_find_registered,
				   .own_errors = true,
				   .resume = STEP_FIND_REGISTERED },
	[STEP_REGISTERED] = { .next = { STEP_UPDATING, STEP_DEREGISTER, STEP_START,
					STEP_CD_CREATING },
			      .operation = "DescribeServices",
			      .params = rollout_service_params,
			      .read = deploy_read_check,
			      .written = true,
			      .resume = STEP_REGISTERED },
	[STEP_DEREGISTER] = { .next = { STEP_START },
			      .operation = "DeregisterTaskDefinition",
			      .params = deploy_deregister_params,
			      .read = deploy_read_deregistered,
			      .own_errors = true,
			      /* written: a stop while our revision is (maybe) deregistered
			       * starts over, never updates the service to it */
			      .written = true,
			      .resume = STEP_START },
	[STEP_UPDATING] = { .next = { STEP_TRACKING, STEP_TRACKING_SD },
			    .operation = "UpdateService",
			    .params = deploy_update_params,
			    .read = deploy_read_update,
			    .written = true,
			    .resume = STEP_FIND_UPDATE,
			    .sent_at = SENT_UPDATE },
	[STEP_FIND_UPDATE] = { .next = { STEP_TRACKING, STEP_TRACKING_SD, STEP_UPDATING,
					 STEP_DEREGISTER, STEP_START },
			       .operation = "DescribeServices",
			       .params = rollout_service_params,
			       .read = deploy_read_find_update,
			       .resume = STEP_FIND_UPDATE },
	[STEP_TRACKING] = { .next = { STEP_CONFIRM_LIST, STEP_TRACKING_SD },
			    .operation = "DescribeServices",
			    .read = deploy_read_tracking,
			    .written = true,
			    .batched = true,
			    .resume = STEP_TRACKING },
	[STEP_TRACKING_SD] = { .next = { STEP_CONFIRM_LIST, STEP_APPROVING, STEP_SD_EVENTS,
					 STEP_TRACKING },
			       .operation = "DescribeServiceDeployments",
			       .read = sd_read_tracking,
			       .written = true,
			       .batched = true,
			       .resume = STEP_TRACKING_SD },
	[STEP_APPROVING] = { .next = { STEP_TRACKING_SD },
			     .operation = "ContinueServiceDeployment",
			     .params = sd_continue_params,
			     .read = sd_read_continue,
			     .own_errors = true,
			     .resume = STEP_TRACKING_SD },
	[STEP_SD_EVENTS] = { .operation = "DescribeServices",
			     .params = rollout_service_params,
			     .read = sd_read_events,
			     .own_errors = true,
			     .resume = STEP_TRACKING_SD },
	[STEP_SD_STOP] = { .next = { STEP_RB_TRACKING_SD, STEP_SD_CHECK, STEP_ROLLBACK },
			   .operation = "StopServiceDeployment",
			   .params = sd_stop_params,
			   .read = sd_read_stop,
			   .own_errors = true,
			   .written = true,
			   .rolling_back = true,
			   .resume = STEP_SD_CHECK,
			   .sent_at = SENT_SD_STOP },
	[STEP_SD_CHECK] = { .next = { STEP_RB_TRACKING_SD, STEP_SD_STOP, STEP_ROLLBACK },
			    .operation = "DescribeServiceDeployments",
			    .params = sd_arn_params,
			    .read = sd_read_check,
			    .rolling_back = true,
			    .resume = STEP_SD_CHECK },
	[STEP_RB_TRACKING_SD] = { .next = { STEP_ROLLBACK },
				  .operation = "DescribeServiceDeployments",
				  .read = sd_read_rb_tracking,
				  .written = true,
				  .batched = true,
				  .rolling_back = true,
				  .resume = STEP_RB_TRACKING_SD },
	[STEP_CONFIRM_LIST] = { .next = { STEP_CONFIRM_TASKS },
				.operation = "ListTasks",
				.params = rollout_list_tasks_params,
				.read = deploy_read_confirm_list,
				.resume = STEP_TRACKING },
	[STEP_CONFIRM_TASKS] = { .operation = "DescribeTasks",
				 .params = rollout_describe_tasks_params,
				 .read = deploy_read_confirm_tasks,
				 .resume = STEP_TRACKING },
	[STEP_ROLLBACK] = { .next = { STEP_RB_CHECK, STEP_RB_FIND, STEP_CD_RB_CREATING },
			    .read = rollback_read_start,
			    .written = true,
			    .rolling_back = true,
			    .resume = STEP_ROLLBACK },
	[STEP_RB_FIND] = { .next = { STEP_RB_READ_BASE, STEP_RB_CHECK, STEP_CD_RB_CREATING },
			   .operation = "DescribeTaskDefinition",
			   .params = deploy_family_params,
			   .read = rollback_read_find,
			   .own_errors = true,
			   .rolling_back = true,
			   .resume = STEP_ROLLBACK },
	[STEP_RB_READ_BASE] = { .next = { STEP_RB_REGISTERING },
				.operation = "DescribeTaskDefinition",
				.params = rollback_base_params,
				.read = rollback_read_base,
				.rolling_back = true,
				.resume = STEP_ROLLBACK },
	[STEP_RB_REGISTERING] = { .next = { STEP_RB_CHECK, STEP_CD_RB_CREATING },
				  .operation = "RegisterTaskDefinition",
				  .params = rollback_register_params,
				  .read = rollback_read_registered,
				  .written = true,
				  .rolling_back = true,
				  .resume = STEP_RB_FIND,
				  .sent_at = SENT_RB_REGISTER },
	[STEP_RB_CHECK] = { .next = { STEP_RB_TRACKING, STEP_ROLLING_BACK },
			    .operation = "DescribeServices",
			    .params = rollout_service_params,
			    .read = rollback_read_check,
			    .rolling_back = true,
			    .resume = STEP_RB_CHECK },
	[STEP_ROLLING_BACK] = { .next = { STEP_RB_TRACKING },
				.operation = "UpdateService",
				.params = rollback_update_params,
				.read = rollback_read_update,
				.written = true,
				.rolling_back = true,
				.resume = STEP_RB_CHECK,
				.sent_at = SENT_RB_UPDATE },
	[STEP_RB_TRACKING] = { .operation = "DescribeServices",
			       .read = rollback_read_tracking,
			       .written = true,
			       .batched = true,
			       .rolling_back = true,
			       .resume = STEP_RB_TRACKING },
	/* strategy codedeploy */
	[STEP_CD_APPS] = { .next = { STEP_CD_APPS, STEP_CD_GROUPS },
			   .api = API_CODEDEPLOY,
			   .operation = "ListApplications",
			   .params = cd_apps_params,
			   .read = cd_read_apps,
			   .resume = STEP_START },
	[STEP_CD_GROUPS] = { .next = { STEP_CD_GROUPS, STEP_CD_GROUP_INFO, STEP_READ_BASE },
			     .api = API_CODEDEPLOY,
			     .operation = "ListDeploymentGroups",
			     .params = cd_groups_params,
			     .read = cd_read_groups,
			     .resume = STEP_START },
	[STEP_CD_GROUP_INFO] = { .next = { STEP_CD_GROUP_INFO, STEP_CD_GROUPS, STEP_READ_BASE,
					   STEP_CD_APPS },
				 .api = API_CODEDEPLOY,
				 .operation = "BatchGetDeploymentGroups",
				 .params = cd_group_info_params,
				 .read = cd_read_group_info,
				 .resume = STEP_START },
	[STEP_CD_CREATING] = { .next = { STEP_CD_TRACKING },
			       .api = API_CODEDEPLOY,
			       .operation = "CreateDeployment",
			       .params = cd_create_params,
			       .read = cd_read_create,
			       .own_errors = true,
			       .written = true,
			       .resume = STEP_CD_FIND,
			       .sent_at = SENT_CD_CREATE },
	[STEP_CD_FIND] = { .next = { STEP_CD_FIND, STEP_CD_FIND_INFO, STEP_CD_CREATING },
			   .api = API_CODEDEPLOY,
			   .operation = "ListDeployments",
			   .params = cd_find_params,
			   .read = cd_read_find,
			   .own_errors = true, /* a refusal keeps the record: ours may exist */
			   .resume = STEP_CD_FIND },
	[STEP_CD_FIND_INFO] = { .next = { STEP_CD_TRACKING, STEP_CD_FIND_INFO, STEP_CD_FIND,
					  STEP_CD_CREATING },
				.api = API_CODEDEPLOY,
				.operation = "BatchGetDeployments",
				.params = cd_find_info_params,
				.read = cd_read_find_info,
				.own_errors = true,
				.resume = STEP_CD_FIND },
	[STEP_CD_TRACKING] = { .next = { STEP_CD_APPROVING, STEP_CD_DIAG_LIST, STEP_CD_FIND },
			       .api = API_CODEDEPLOY,
			       .operation = "BatchGetDeployments",
			       .read = cd_read_tracking,
			       .written = true,
			       .batched = true,
			       .resume = STEP_CD_TRACKING },
	[STEP_CD_APPROVING] = { .next = { STEP_CD_TRACKING },
				.api = API_CODEDEPLOY,
				.operation = "ContinueDeployment",
				.params = cd_continue_params,
				.read = cd_read_continue,
				.own_errors = true,
				.resume = STEP_CD_TRACKING },
	[STEP_CD_DIAG_LIST] = { .next = { STEP_CD_DIAG },
				.api = API_CODEDEPLOY,
				.operation = "ListDeploymentTargets",
				.params = cd_targets_params,
				.read = cd_read_targets,
				.own_errors = true,
				.resume = STEP_CD_TRACKING },
	[STEP_CD_DIAG] = { .api = API_CODEDEPLOY,
			   .operation = "BatchGetDeploymentTargets",
			   .params = cd_target_info_params,
			   .read = cd_read_diag,
			   .own_errors = true,
			   .resume = STEP_CD_TRACKING },
	[STEP_CD_STOP] = { .next = { STEP_CD_STOP_CHECK },
			   .api = API_CODEDEPLOY,
			   .operation = "StopDeployment",
			   .params = cd_stop_params,
			   .read = cd_read_stop,
			   .own_errors = true,
			   .written = true,
			   .rolling_back = true,
			   .resume = STEP_CD_STOP_CHECK,
			   .sent_at = SENT_SD_STOP },
	[STEP_CD_STOP_CHECK] = { .next = { STEP_CD_RB_TRACKING, STEP_CD_STOP, STEP_ROLLBACK },
				 .api = API_CODEDEPLOY,
				 .operation = "GetDeployment",
				 .params = cd_get_params,
				 .read = cd_read_stop_check,
				 .rolling_back = true,
				 .resume = STEP_CD_STOP_CHECK },
	[STEP_CD_RB_TRACKING] = { .api = API_CODEDEPLOY,
				  .operation = "BatchGetDeployments",
				  .read = cd_read_rb_tracking,
				  .written = true,
				  .batched = true,
				  .rolling_back = true,
				  .resume = STEP_CD_RB_TRACKING },
	[STEP_CD_RB_CREATING] = { .next = { STEP_CD_RB_TRACKING },
				  .api = API_CODEDEPLOY,
				  .operation = "CreateDeployment",
				  .params = cd_create_params,
				  .read = cd_read_create,
				  .own_errors = true,
				  .written = true,
				  .rolling_back = true,
				  .resume = STEP_CD_RB_FIND,
				  .sent_at = SENT_CD_RB_CREATE },
	[STEP_CD_RB_FIND] = { .next = { STEP_CD_RB_FIND, STEP_CD_RB_FIND_INFO,
					STEP_CD_RB_CREATING },
			      .api = API_CODEDEPLOY,
			      .operation = "ListDeployments",
			      .params = cd_find_params,
			      .read = cd_read_find,
			      .own_errors = true,
			      .rolling_back = true,
			      .resume = STEP_CD_RB_FIND },
	[STEP_CD_RB_FIND_INFO] = { .next = { STEP_CD_RB_TRACKING, STEP_CD_RB_FIND_INFO,
					     STEP_CD_RB_FIND, STEP_CD_RB_CREATING },
				   .api = API_CODEDEPLOY,
				   .operation = "BatchGetDeployments",
				   .params = cd_find_info_params,
				   .read = cd_read_find_info,
				   .own_errors = true,
				   .rolling_back = true,
				   .resume = STEP_CD_RB_FIND },
};

static void advance(struct rollout *r, int next);

bool rollout_step_may(enum rollout_step from, enum rollout_step to)
{
	const struct rollout_step_def *s = &rollout_steps[from];

	for (size_t i = 0; i < sizeof(s->next) / sizeof(s->next[0]); i++)
		if (s->next[i] == to && to != STEP_INSPECT)
			return true;
	return false;
}

double rollout_appear_s(const struct rollout_rec *rec)
{
	double t = (double)rec->timeout_ms / 1000.0;

	return t > 0 && t < ROLLOUT_APPEAR_S ? t : ROLLOUT_APPEAR_S;
}

double rollout_wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct ev_loop *loop_of(const struct rollout *r)
{
	return r->dp->d->loop;
}

/* ---- events -------------------------------------------------------------- */

int rollout_notice_due(struct rollout_rec *rec, enum notice_kind k, const char *sub)
{
	uint32_t bit = 1u << k;

	if (!sub)
		sub = "";
	if (k == NOTICE_AWAITING_APPROVAL) {
		if (rec->notified_hook && !strcmp(rec->notified_hook, sub))
			return 0;
		if (record_set(&rec->notified_hook, sub) < 0)
			return -ENOMEM;
		rec->notified |= bit;
		return 1;
	}
	if (rec->notified & bit)
		return 0;
	rec->notified |= bit;
	return 1;
}

/* The notification kind of a phase's event, or -1. */
static int notice_kind_of(const char *id)
{
	static const struct {
		const char *id;
		enum notice_kind kind;
	} map[] = {
		{ EVENT_DEPLOY_STARTED, NOTICE_STARTED },
		{ EVENT_DEPLOY_COMPLETED, NOTICE_COMPLETED },
		{ EVENT_DEPLOY_FAILED, NOTICE_FAILED },
		{ EVENT_ROLLBACK_COMPLETED, NOTICE_ROLLED_BACK },
		{ EVENT_ROLLBACK_FAILED, NOTICE_ROLLBACK_FAILED },
		{ EVENT_AWAITING_APPROVAL, NOTICE_AWAITING_APPROVAL },
		{ EVENT_BLOCKED, NOTICE_BLOCKED },
	};

	for (size_t i = 0; id && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i].id, id))
			return (int)map[i].kind;
	return -1;
}

/* The notification of a phase (said in summary, the journal's sentence), made from the record. */
static void rollout_notify(struct rollout *r, enum notice_kind k, char *summary)
{
	struct rollout_rec *c = r->rec;
	const struct deployer_deps *d = r->dp->d;
	const char *sub = "";
	char identity[2400], reason[200];
	int due;
	/* An operator's rollback ("ecr-deployctl rollback") deploys the digest that ran before: to
	 * whoever reads the notifications its end is the service rolled back (or not), not a
	 * deploy, and the digest it is about is the one rolled back from. */
	bool by_operator = c->manual && !strncmp(c->manual, "rollback ", 9);

	if (r->inspect || !d->notice || d->dry_run || (*d->cfg)->dry_run || !c->digest ||
	    (k == NOTICE_BLOCKED && r->quiet_block))
		return;
	if (by_operator) {
		if (k == NOTICE_STARTED)
			return;
		if (k == NOTICE_COMPLETED)
			k = NOTICE_ROLLED_BACK;
		else if (k == NOTICE_FAILED)
			k = NOTICE_ROLLBACK_FAILED;
	}
	if (k == NOTICE_AWAITING_APPROVAL)
		sub = record_is_codedeploy(c) ? c->cd_deployment_id : c->hook_id;
	due = rollout_notice_due(c, k, sub);
	if (due <= 0)
		return;
	struct notice n = { .kind = k, .time = rollout_wall_now(), .duration_ms = -1 };
	/* A block outlives its rollout (the retry after a backoff or a restart is a new one): its
	 * key is the target's and the digest's, so that it is said once while it lasts. */
	if (k == NOTICE_BLOCKED)
		snprintf(identity, sizeof(identity), "%s\n%s\nblocked", c->tkey, c->digest);
	else
		snprintf(identity, sizeof(identity), "%s\n%s\n%.0f", c->tkey, c->digest,
			 c->started_at * 1000.0);
	notice_make_key(&n, identity, sub ? sub : "");
	n.watch = c->watch;
	n.repository = c->repository;
	n.tag = c->tag;
	n.digest = c->digest;
	n.previous_digest = c->previous_digest && *c->previous_digest ? c->previous_digest : NULL;
	n.target = c->tkey;
	n.cluster = c->cluster;
	n.service = c->service;
	n.region = c->region;
	n.task_definition = c->new_td;
	n.previous_task_definition = c->base_td;
	n.deployment_id = record_is_codedeploy(c)                 ? c->cd_deployment_id
			  : c->deployment_id && *c->deployment_id ? c->deployment_id
								  : NULL;
	n.strategy = c->strategy;
	if (k == NOTICE_FAILED || k == NOTICE_ROLLBACK_FAILED || k == NOTICE_BLOCKED)
		n.reason = *r->reason ? r->reason : NULL;
	else if (k == NOTICE_AWAITING_APPROVAL)
		n.reason = summary;
	if (by_operator && n.previous_digest) {
		long uid = -1, pid = -1;

		sscanf(c->manual + 9, "%ld %ld", &uid, &pid);
		snprintf(reason, sizeof(reason), "rolled back by an operator (uid %ld, pid %ld)",
			 uid, pid);
		if (k == NOTICE_ROLLED_BACK)
			n.reason = reason;
		n.digest = n.previous_digest;
		n.previous_digest = c->digest;
		n.task_definition = c->base_td;
		n.previous_task_definition = c->new_td;
	}
	n.summary = summary;
	if (c->started_at > 0)
		n.duration_ms = (long long)((rollout_wall_now() - c->started_at) * 1000.0);
	if (k == NOTICE_FAILED || k == NOTICE_ROLLED_BACK || k == NOTICE_ROLLBACK_FAILED)
		for (int i = r->n_events - 1; i >= 0 && n.n_messages < NOTICE_MESSAGES_MAX; i--)
			n.messages[n.n_messages++] = r->events[i];
	d->notice(&n, d->userdata);
}

void rollout_emit(struct rollout *r, int prio, const char *id, const struct log_field *extra,
		  const char *fmt, ...)
{
	const struct rollout_rec *c = r->rec;
	struct log_field f[40];
	size_t n = 0;
	char msg[2048], ms[32], containers[512] = "";
	va_list ap;

	int kind = notice_kind_of(id);

	if (prio > log_max_priority && kind < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (kind >= 0)
		rollout_notify(r, (enum notice_kind)kind, msg);
	if (prio > log_max_priority)
		return;
	for (size_t i = 0; i < c->n_containers; i++) {
		size_t len = strlen(containers);
		snprintf(containers + len, sizeof(containers) - len, "%s%s", len ? "," : "",
			 c->containers[i]);
	}
	snprintf(ms, sizeof(ms), "%.0f", (rollout_wall_now() - c->started_at) * 1000.0);
#define F(k, v) f[n++] = (struct log_field){ (k), (v) }
	F("WATCH", c->watch);
	F("ECR_REPOSITORY", c->repository);
	F("IMAGE_TAG", c->tag);
	F("IMAGE_DIGEST", c->digest);
	F("PREVIOUS_DIGEST", c->previous_digest && *c->previous_digest ? c->previous_digest : NULL);
	F("ECS_CLUSTER", c->cluster);
	F("ECS_SERVICE", c->service);
	F("ECS_CONTAINER", *containers ? containers : NULL);
	F("TASK_DEFINITION", c->new_td);
	F("PREVIOUS_TASK_DEFINITION", c->base_td);
	F("DEPLOYMENT_ID", c->deployment_id && *c->deployment_id ? c->deployment_id : NULL);
	F("SERVICE_DEPLOYMENT_ARN", c->deployment_arn);
	F("STRATEGY", c->strategy);
	F("ROLLOUT_STEP", record_step_name(c->step));
	if (record_is_codedeploy(c)) {
		F("CODEDEPLOY_APPLICATION", c->cd_application);
		F("CODEDEPLOY_DEPLOYMENT_GROUP", c->cd_group);
		F("CODEDEPLOY_DEPLOYMENT_ID", c->cd_deployment_id);
		F("CODEDEPLOY_STATUS", c->cd_status);
		F("LIFECYCLE_EVENT", c->cd_event);
		F("CODEDEPLOY_ERROR_CODE", *r->cd_error_code ? r->cd_error_code : NULL);
	}
	if (!r->inspect && c->started_at > 0)
		F("DURATION_MS", ms);
	for (const struct log_field *e = extra; e && e->key && n < 39; e++)
		f[n++] = *e;
	F(NULL, NULL);
#undef F
	log_event(prio, id, f, "%s", msg);
}

static void api_error(struct rollout *r, const struct aws_result *res, const char *then)
{
	rollout_emit(
	    r, LOG_WARNING, EVENT_API_ERROR,
	    LOG_FIELDS({ "AWS_OPERATION", res->operation }, { "AWS_ERROR_CODE", res->err.code },
		       { "AWS_REQUEST_ID", *res->err.request_id ? res->err.request_id : NULL }),
	    "service '%s': %s failed: %s: %s; %s", r->rec->service, res->operation, res->err.code,
	    res->err.message, then);
}

void rollout_report_events(struct rollout *r, const cJSON *svc)
{
	const cJSON *events = cJSON_GetObjectItem(svc, "events");
	double newest = r->events_after;

	/* Newest first: report them oldest first. */
	for (int i = cJSON_GetArraySize(events) - 1; i >= 0; i--) {
		const cJSON *e = cJSON_GetArrayItem(events, i);
		double at = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "createdAt"));
		const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(e, "message"));
		if (!m || !(at > r->events_after))
			continue;
		if (at > newest)
			newest = at;
		rollout_emit(r, LOG_INFO, NULL, LOG_FIELDS({ "ECS_EVENT", m }),
			     "service '%s': ECS: %s", r->rec->service, m);
		if (strstr(m, "has started") || strstr(m, "has stopped") ||
		    strstr(m, "steady state"))
			continue;
		if (r->n_events == EVENTS_KEPT) {
			memmove(r->events[0], r->events[1],
				sizeof(r->events[0]) * (EVENTS_KEPT - 1));
			r->n_events--;
		}
		snprintf(r->events[r->n_events++], sizeof(r->events[0]), "%s", m);
	}
	r->events_after = newest;
}

static void on_events(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	const cJSON *svc = res->ok ? ecs_find_service(res->body, r->rec->service) : NULL;

	r->events_call = NULL;
	if (svc)
		rollout_report_events(r, svc);
}

void rollout_read_events(struct rollout *r)
{
	double now = ev_now(loop_of(r));
	cJSON *params;

	if (r->events_call || now - r->events_at < ROLLOUT_EVENTS_S)
		return;
	r->events_at = now;
	params = rollout_service_params(r);
	struct aws_call_spec spec = { .service = &aws_ecs,
				      .operation = "DescribeServices",
				      .params = params,
				      .creds = r->creds,
				      .region = r->rec->region };
	if (!params || aws_call(r->dp->d->aws, &spec, on_events, r, &r->events_call) < 0)
		r->events_call = NULL; /* the next look tries again */
	cJSON_Delete(params);
}

static const char *quoted_events(const struct rollout *r, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < r->n_events && len < n; i++)
		len += (size_t)snprintf(buf + len, n - len, "%s'%s'", i ? "; " : "", r->events[i]);
	return buf;
}

/* ---- the state ------------------------------------------------------------ */

/* The backoff of a state that cannot be written: 1 s, doubling at every failed retry, up to max. */
static double state_backoff(double delay, bool retried, double max)
{
	double next = delay <= 0 ? STATE_RETRY_FIRST_S : retried ? delay * 2 : delay;

	if (max < STATE_RETRY_FIRST_S)
		max = STATE_RETRY_FIRST_S;
	return next > max ? max : next;
}

/*
 * The state cannot be written (why says where and why). Said once, when it starts; then no new
 * rollout starts and every step that waits for a write is tried again after state_delay, which
 * doubles at each retry that fails, up to the poll interval.
 */
void rollout_state_failed(struct deployer *dp, const char *why)
{
	double max = (double)(*dp->d->cfg)->poll_interval_ms / 1000.0;
	bool retried = dp->state_failing && !ev_is_active(&dp->state_retry);

	if (dp->state_failing && ev_is_active(&dp->state_retry))
		return; /* a retry is set already */
	dp->state_delay = state_backoff(dp->state_failing ? dp->state_delay : 0, retried, max);
	if (!dp->state_failing)
		log_at(LOG_ERR, EVENT_STATE_WRITE_FAILED,
		       LOG_FIELDS({ "STATE_FILE", state_path(dp->d->state) }),
		       "%s; deploys wait until the state can be written: trying again in %.0fs, "
		       "then less often, up to every %.0fs",
		       why, dp->state_delay, max > STATE_RETRY_FIRST_S ? max : STATE_RETRY_FIRST_S);
	dp->state_failing = true;
	ev_timer_stop(dp->d->loop, &dp->state_retry);
	ev_timer_set(&dp->state_retry, dp->state_delay, 0.0);
	ev_timer_start(dp->d->loop, &dp->state_retry);
}

static void state_written(struct deployer *dp)
{
	if (!dp->state_failing)
		return;
	dp->state_failing = false;
	dp->state_delay = 0;
	ev_timer_stop(dp->d->loop, &dp->state_retry);
	log_at(LOG_NOTICE, EVENT_STATE_WRITTEN,
	       LOG_FIELDS({ "STATE_FILE", state_path(dp->d->state) }),
	       "the state can be written again; deploys go on");
}

bool rollout_save_state(struct deployer *dp)
{
	char why[600];
	bool dirty = state_dirty(dp->d->state);

	if (state_save(dp->d->state, why, sizeof(why)) == 0) {
		if (dirty)
			state_written(dp);
		return true;
	}
	rollout_state_failed(dp, why);
	return false;
}

/* Writes the record; false when it could not reach the disk: the step then waits for the
 * state's retry and is written again before it runs. */
bool rollout_persist(struct rollout *r)
{
	char why[600];
	struct deployer *dp = r->dp;

	r->unwritten = false;
	if (r->inspect)
		return true;
	if (state_rollout_save(dp->d->state, r->rec, why, sizeof(why)) == 0) {
		state_written(dp);
		return true;
	}
	rollout_state_failed(dp, why);
	r->unwritten = true;
	r->waiting = true;
	r->next_at = ev_now(loop_of(r)) + dp->state_delay;
	return false;
}

/* ---- life of a rollout --------------------------------------------------- */

struct rollout *rollout_new(struct deployer *dp, struct rollout_rec *rec, bool inspect)
{
	struct rollout *r = calloc(1, sizeof(*r));
	struct deployer_deps *d = dp->d;

	if (!r)
		return NULL;
	r->dp = dp;
	r->rec = rec;
	r->inspect = inspect;
	r->interval = TRACK_FIRST_S;
	r->weight = -1;
	if (rec->role_arn && *rec->role_arn) {
		r->creds = strmap_get(dp->creds, rec->role_arn);
		if (!r->creds) {
			struct cred_options co = { d->loop,   d->http,
						   d->signer, (*d->cfg)->profile,
						   d->region, (*d->cfg)->endpoints[AWS_SERVICE_STS],
						   0 };
			r->creds =
			    cred_assume_role_new(d->creds, rec->role_arn, "ecr-deployd", &co);
			if (r->creds && strmap_put(dp->creds, rec->role_arn, r->creds, NULL) < 0) {
				cred_provider_free(r->creds);
				r->creds = NULL;
			}
		}
	}
	r->events_after = rollout_wall_now() + (double)aws_clock_skew(d->aws) - 1.0;
	if (rec->started_at > 0 && rec->started_at - 1.0 < r->events_after)
		r->events_after = rec->started_at + (double)aws_clock_skew(d->aws) - 1.0;
	r->next = dp->rollouts;
	dp->rollouts = r;
	if (!ev_is_active(&dp->tick)) /* it runs only while there are rollouts */
		ev_timer_start(d->loop, &dp->tick);
	if (inspect)
		dp->inspecting++;
	else
		dp->deploying++;
	return r;
}

void rollout_free(struct rollout *r)
{
	struct deployer *dp = r->dp;

	for (struct rollout **p = &dp->rollouts; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	if (r->call)
		aws_call_cancel(r->call);
	if (r->events_call)
		aws_call_cancel(r->events_call);
	if (r->continue_call)
		aws_call_cancel(r->continue_call);
	if (r->continue_done)
		/* The operator's answer cannot be told any more: the rollout ended first, or the
		 * daemon stops (the control server, freed before, drops the answer; the caller
		 * frees what it holds). */
		r->continue_done(-ECANCELED, r->rec->hook_id, NULL, r->continue_ud);
	cd_free(r);
	if (r->batch)
		r->batch->r[r->batch_slot] = NULL;
	if (r->inspect)
		dp->inspecting--;
	else
		dp->deploying--;
	if (r->poke_ticket && dp->d->poked) /* nothing more to read: the record says the end */
		dp->d->poked(r->poke_ticket, dp->d->userdata);
	record_free(r->rec);
	cJSON_Delete(r->described);
	cJSON_Delete(r->listed);
	cJSON_Delete(r->svc);
	free(r);
}

/* The rollout is over: its record leaves the state, the service is free. */
static void end(struct rollout *r)
{
	struct deployer *dp = r->dp;

	if (!r->inspect) {
		char why[600];
		/* The outcome first, then the rollout goes: a crash in between resumes the rollout,
		 * which ends the same way again. */
		rollout_save_state(dp);
		if (state_rollout_remove(dp->d->state, r->rec->watch, r->rec->tkey, why,
					 sizeof(why)) < 0) {
			if (!dp->state_failing)
				log_at(LOG_ERR, NULL,
				       LOG_FIELDS({ "STATE_FILE", state_path(dp->d->state) }),
				       "%s; the next start resumes this rollout and finds it ended",
				       why);
			rollout_state_failed(dp, why);
		}
	}
	rollout_free(r);
	deployer_ended(dp);
}

static void retry_later(struct rollout *r)
{
	double delay = RETRY_FIRST_S;

	/* A call that changes AWS may have been carried out though its reply was lost: what runs
	 * again is the step's resume variant, which looks before sending it again. */
	if (rollout_steps[r->rec->step].sent_at)
		r->rec->step = rollout_steps[r->rec->step].resume;

	for (int i = 0; i < r->attempts && delay < RETRY_MAX_S; i++)
		delay *= 2;
	if (delay > RETRY_MAX_S)
		delay = RETRY_MAX_S;
	r->attempts++;
	r->waiting = true;
	r->next_at = ev_now(loop_of(r)) + delay;
}

bool rollout_wait_for_sent(struct rollout *r, double sent, const char *what)
{
	double now = rollout_wall_now();

	if (!(sent > 0) || now >= sent + UPDATE_WINDOW_S || now < sent - UPDATE_WINDOW_S)
		return false;
	if (!r->said_wait)
		rollout_emit(r, LOG_INFO, NULL, NULL,
			     "service '%s': no %s yet, but our call was sent %.0fs ago and may "
			     "still be carried out; looking again until %.0fs after it before "
			     "sending it again",
			     r->rec->service, what, now - sent, UPDATE_WINDOW_S);
	r->said_wait = true;
	r->next_at = ev_now(loop_of(r)) +
		     (sent + UPDATE_WINDOW_S - now < 1.0 ? sent + UPDATE_WINDOW_S - now : 1.0);
	return true;
}

/* ---- requests ------------------------------------------------------------ */

cJSON *rollout_service_params(struct rollout *r)
{
	cJSON *p = cJSON_CreateObject(), *a = p ? cJSON_AddArrayToObject(p, "services") : NULL;

	if (!a || !cJSON_AddStringToObject(p, "cluster", r->rec->cluster) ||
	    !cJSON_AddItemToArray(a, cJSON_CreateString(r->rec->service))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

cJSON *rollout_td_params(const char *td, bool tags)
{
	cJSON *p = td ? cJSON_CreateObject() : NULL;

	if (p &&
	    (!cJSON_AddStringToObject(p, "taskDefinition", td) ||
	     (tags && !cJSON_AddItemToObject(
			  p, "include", cJSON_CreateStringArray((const char *[]){ "TAGS" }, 1))))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

cJSON *rollout_update_params(const struct rollout *r, const char *td)
{
	cJSON *p = cJSON_CreateObject();

	if (p && (!cJSON_AddStringToObject(p, "cluster", r->rec->cluster) ||
		  !cJSON_AddStringToObject(p, "service", r->rec->service) ||
		  !(td ? cJSON_AddStringToObject(p, "taskDefinition", td)
		       : cJSON_AddBoolToObject(p, "forceNewDeployment", 1)))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

cJSON *rollout_list_tasks_params(struct rollout *r)
{
	cJSON *p = cJSON_CreateObject();

	if (p && (!cJSON_AddStringToObject(p, "cluster", r->rec->cluster) ||
		  !cJSON_AddStringToObject(p, "serviceName", r->rec->service) ||
		  !cJSON_AddStringToObject(p, "desiredStatus", "RUNNING") ||
		  !cJSON_AddNumberToObject(p, "maxResults", 100))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

cJSON *rollout_describe_tasks_params(struct rollout *r)
{
	cJSON *p = cJSON_CreateObject(), *a = p ? cJSON_AddArrayToObject(p, "tasks") : NULL;
	const cJSON *x;
	int n = 0;

	if (!a || !cJSON_AddStringToObject(p, "cluster", r->rec->cluster)) {
		cJSON_Delete(p);
		return NULL;
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(r->listed, "taskArns"))
	{
		if (n++ < 100)
			cJSON_AddItemToArray(a, cJSON_Duplicate(x, 0));
	}
	return p;
}

int rollout_block(struct rollout *r, const char *operation, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	memset(&r->err, 0, sizeof(r->err));
	snprintf(r->err_operation, sizeof(r->err_operation), "%s", operation);
	return OUT_BLOCKED;
}

/* ---- the engine ---------------------------------------------------------- */

static void on_reply(struct aws_result *res, void *userdata);

/* Sends the step's request, or runs its reader at once when it has none. */
static void run_step(struct rollout *r)
{
	const struct rollout_step_def *s = &rollout_steps[r->rec->step];
	const char *op = s->operation;

	if (s->batched) {
		r->next_at = ev_now(loop_of(r)); /* the tick batches it */
		return;
	}
	if (!op) {
		advance(r, s->read(r, NULL));
		return;
	}
	bool changes = s->sent_at != 0;
	cJSON *params = s->params(r);
	struct aws_call_spec spec = { .service =
					  s->api == API_CODEDEPLOY ? &aws_codedeploy : &aws_ecs,
				      .operation = op,
				      .params = params,
				      .creds = r->creds,
				      .region = r->rec->region,
				      /* a lost reply is resolved by reading AWS again (the resume
				       * variant of the step) */
				      .timeout_ms = changes ? UPDATE_ATTEMPT_MS : 0,
				      .not_idempotent = changes };
	int rc = params ? aws_call(r->dp->d->aws, &spec, on_reply, r, &r->call) : -ENOMEM;

	cJSON_Delete(params);
	if (rc < 0) {
		r->call = NULL;
		rollout_emit(r, LOG_ERR, EVENT_API_ERROR, LOG_FIELDS({ "AWS_OPERATION", op }),
			     "service '%s': cannot call %s: %s; trying again later",
			     r->rec->service, op,
			     rc == -ENOMEM              ? "out of memory"
			     : s->api == API_CODEDEPLOY ? "no CodeDeploy endpoint for the region"
							: "no ECS endpoint for the region");
		retry_later(r);
	}
}

/* Enters step: its call time and the record are written first when the step is written. */
static void enter(struct rollout *r, enum rollout_step step)
{
	const struct rollout_step_def *s = &rollout_steps[step];

	r->rec->step = step;
	r->said_wait = false;
	switch (s->sent_at) {
	case SENT_NONE:
		break;
	case SENT_REGISTER:
		r->rec->register_sent_at = rollout_wall_now();
		break;
	case SENT_UPDATE:
		r->rec->update_sent_at = rollout_wall_now();
		break;
	case SENT_RB_REGISTER:
		r->rec->rollback_register_sent_at = rollout_wall_now();
		break;
	case SENT_RB_UPDATE:
		r->rec->rollback_sent_at = rollout_wall_now();
		break;
	case SENT_SD_STOP:
		r->rec->stop_sent_at = rollout_wall_now();
		break;
	case SENT_CD_CREATE:
		r->rec->cd_create_sent_at = rollout_wall_now();
		break;
	case SENT_CD_RB_CREATE:
		r->rec->cd_rb_create_sent_at = rollout_wall_now();
		break;
	}
	if (s->batched) {
		r->interval = TRACK_FIRST_S;
		r->n_events = 0;
	}
	if (s->written && !rollout_persist(r))
		return;
	if (s->batched) {
		r->next_at = ev_now(loop_of(r)) + TRACK_FIRST_S;
		return;
	}
	run_step(r);
}

void rollout_resume(struct rollout *r)
{
	r->rec->step = rollout_steps[r->rec->step].resume;
	r->waiting = true;
	r->next_at = ev_now(loop_of(r));
}

void rollout_run(struct rollout *r)
{
	r->waiting = false;
	if (r->restep != STEP_INSPECT) {
		/* A reader waited to go on with another step (looking again from the start of a
		 * list); it was allowed to go there. */
		enum rollout_step to = r->restep;
		r->restep = STEP_INSPECT;
		if (rollout_step_may(r->rec->step, to))
			r->rec->step = to;
	}
	if (r->unwritten) {
		enter(r, r->rec->step);
		return;
	}
	run_step(r);
}

static void on_reply(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	const struct rollout_step_def *s = &rollout_steps[r->rec->step];

	r->call = NULL;
	if (res->ok)
		r->attempts = 0;
	if (!res->ok && aws_error_classify(&res->err) == AWS_ERROR_TRANSIENT) {
		char then[64];
		retry_later(r);
		snprintf(then, sizeof(then), "trying again in %.0fs",
			 r->next_at - ev_now(loop_of(r)));
		api_error(r, res, then);
		return;
	}
	if (!res->ok && !s->own_errors) {
		snprintf(r->reason, sizeof(r->reason), "%s refused: %s: %s", res->operation,
			 res->err.code, res->err.message);
		if (s->rolling_back) {
			advance(r, OUT_ROLLBACK_FAILED);
			return;
		}
		r->err = res->err;
		snprintf(r->err_operation, sizeof(r->err_operation), "%s", res->operation);
		advance(r, OUT_BLOCKED);
		return;
	}
	advance(r, s->read(r, res));
}

/* Whether ecr-deployd can roll the service back: our service deployment is in progress (ECS
 * rolls it back on StopServiceDeployment, whatever the strategy), or the revision that ran
 * before can be deployed again (strategy revision). */
static bool can_roll_back(const struct rollout_rec *c)
{
	if (record_is_codedeploy(c))
		return cd_in_progress(c) || (c->rollback && c->base_td && *c->base_td);
	return c->rollback && (sd_in_progress(c) || record_is_revision(c));
}

static void start_rollback(struct rollout *r)
{
	bool stop = sd_in_progress(r->rec);

	r->rec->rollback_by = stop ? ROLLBACK_BY_STOP : ROLLBACK_BY_US;
	r->rec->rollback_deadline = rollout_wall_now() + (double)r->rec->timeout_ms / 1000.0;
	r->n_events = 0;
	if (record_is_codedeploy(r->rec)) {
		enter(r, cd_rollback_step(r));
		return;
	}
	enter(r, stop ? STEP_SD_STOP : STEP_ROLLBACK);
}

/* Whether our revision was registered and never deployed (the outcome came before UpdateService
 * was answered, or the service moved): it is deregistered before the rollout ends. */
static bool unused_revision(const struct rollout *r)
{
	enum rollout_step s = r->rec->step;

	return r->rec->new_td && *r->rec->new_td &&
	       (s == STEP_REGISTERING || s == STEP_REGISTERED || s == STEP_FIND_REGISTERED ||
		(s == STEP_UPDATING && !r->rec->deployment_id) ||
		(s == STEP_CD_CREATING && !r->rec->cd_deployment_id));
}

static void failed_event(struct rollout *r, int prio, const char *what, bool mark)
{
	char ev[900];

	quoted_events(r, ev, sizeof(ev));
	rollout_emit(r, prio, EVENT_DEPLOY_FAILED, LOG_FIELDS({ "REASON", r->reason }),
		     "deploy of %s to service '%s' %s: %s%s%s%s", r->rec->digest, r->rec->service,
		     what, r->reason, *ev ? "; ECS said: " : "", ev,
		     mark ? "; this digest is not deployed to this service again" : "");
}

static void blocked(struct rollout *r)
{
	char action[128];

	if (aws_error_action(&r->err, action, sizeof(action)) != 1)
		action[0] = '\0';
	if (r->after_deregister == OUT_BLOCKED)
		r->rec->step = r->blocked_at; /* the events name the step refused, not the
						 deregister after it (the record is removed next) */
	r->dp->failures++;
	r->quiet_block = deployer_blocked(r->dp, r);
	double again = deployer_block(r->dp, r);
	rollout_emit(
	    r, LOG_ERR, EVENT_BLOCKED,
	    LOG_FIELDS({ "REASON", "blocked" }, { "AWS_OPERATION", r->err_operation },
		       { "AWS_ERROR_CODE", *r->err.code ? r->err.code : NULL },
		       { "AWS_ACTION", *action ? action : NULL },
		       { "AWS_REQUEST_ID", *r->err.request_id ? r->err.request_id : NULL }),
	    "service '%s' is blocked: %s; %s is not marked failed%s%s; trying again in %.0fs, "
	    "or at the next reload",
	    r->rec->service, r->reason, r->rec->digest,
	    *action ? "; the missing permission is " : "", action, again);
}

/* What the history calls an outcome that ends a rollout. */
static enum history_result result_of(int outcome)
{
	switch ((enum rollout_outcome)outcome) {
	case OUT_DONE:
		return HISTORY_COMPLETED;
	case OUT_ROLLED_BACK:
		return HISTORY_ROLLED_BACK;
	case OUT_ROLLBACK_FAILED:
		return HISTORY_ROLLBACK_FAILED;
	case OUT_SUPERSEDED:
	case OUT_SUPERSEDED_RB:
		return HISTORY_SUPERSEDED;
	case OUT_BLOCKED:
	case OUT_SKIPPED:
	case OUT_END:
		return HISTORY_CANCELLED;
	default:
		return HISTORY_FAILED;
	}
}

/* Acts on what a reader returned: the next step, a wait, or how the rollout ends. */
static void advance(struct rollout *r, int next)
{
	struct rollout_rec *c = r->rec;
	struct deployer *dp = r->dp;
	struct state *st = dp->d->state;

	if (next >= 0) {
		if (!rollout_step_may(c->step, (enum rollout_step)next)) {
			/* A bug: never carried out, said, and the rollout stops where it is safe.
			 */
			snprintf(
			    r->reason, sizeof(r->reason),
			    "internal error: step '%s' went to '%s', which the step table does "
			    "not allow",
			    record_step_name(c->step), record_step_name((enum rollout_step)next));
			next = OUT_UNMARKED;
		} else {
			enter(r, (enum rollout_step)next);
			return;
		}
	}
	switch ((enum rollout_outcome)next) {
	case OUT_WAIT:
		r->waiting = true;
		if (r->next_at <= ev_now(loop_of(r)))
			r->next_at = ev_now(loop_of(r)) + 1.0;
		return;
	case OUT_RETRY:
		retry_later(r);
		return;
	case OUT_DONE:
		deployer_unblock(dp, r);
		state_set_deployed_td(st, c->watch, c->tkey, c->digest,
				      c->new_td ? c->new_td : c->base_td);
		rollout_emit(r, LOG_NOTICE, EVENT_DEPLOY_COMPLETED, NULL,
			     "deployed %s to service '%s' in cluster '%s'%s%s", c->digest,
			     c->service, c->cluster, c->new_td ? " as " : "",
			     c->new_td ? c->new_td : "");
		break;
	case OUT_FAILED:
	case OUT_ECS_ROLLBACK:
		dp->failures++;
		state_add_failed(st, c->watch, c->tkey, c->digest, r->reason, (double)time(NULL));
		state_set_deployed(st, c->watch, c->tkey, "");
		rollout_save_state(dp); /* the failed digest is remembered before a rollback */
		failed_event(r, LOG_ERR, "failed", true);
		if (next == OUT_ECS_ROLLBACK && record_is_codedeploy(c)) {
			c->rollback_by = ROLLBACK_BY_CODEDEPLOY;
			c->rollback_deadline = rollout_wall_now() + (double)c->timeout_ms / 1000.0;
			rollout_emit(
			    r, LOG_WARNING, EVENT_ROLLBACK_STARTED,
			    LOG_FIELDS({ "ROLLBACK_DEPLOYMENT_ID", c->rollback_deployment_id }),
			    "CodeDeploy rolls service '%s' back to %s (rollback deployment %s); "
			    "following it",
			    c->service, c->base_td, c->rollback_deployment_id);
			enter(r, STEP_CD_RB_TRACKING);
			return;
		}
		if (next == OUT_ECS_ROLLBACK) {
			bool sd = c->step == STEP_TRACKING_SD || c->step == STEP_SD_EVENTS;
			c->rollback_by = ROLLBACK_BY_ECS;
			c->rollback_deadline = rollout_wall_now() + (double)c->timeout_ms / 1000.0;
			rollout_emit(
			    r, LOG_WARNING, EVENT_ROLLBACK_STARTED,
			    LOG_FIELDS({ "ROLLBACK_DEPLOYMENT_ID", c->rollback_deployment_id }),
			    "ECS %s service '%s' back to %s; following it",
			    sd ? "rolls" : "'s circuit breaker rolls", c->service, c->base_td);
			enter(r, sd ? STEP_RB_TRACKING_SD : STEP_RB_TRACKING);
			return;
		}
		if (can_roll_back(c)) {
			start_rollback(r);
			return;
		}
		if (c->rollback && !c->deployment_arn && !record_is_codedeploy(c))
			rollout_emit(
			    r, LOG_WARNING, NULL, NULL,
			    "service '%s': strategy 'force' reuses the task definition, so "
			    "there is nothing to roll back to; ECS's deployment circuit "
			    "breaker (with rollback) is the rollback for it",
			    c->service);
		break;
	case OUT_UNMARKED:
		dp->failures++;
		state_set_deployed(st, c->watch, c->tkey, "");
		failed_event(r, LOG_ERR, "failed", false);
		break;
	case OUT_SUPERSEDED:
	case OUT_SUPERSEDED_RB:
		dp->failures++;
		state_set_held(st, c->watch, c->tkey, c->digest);
		state_set_deployed(st, c->watch, c->tkey, "");
		failed_event(r, LOG_WARNING, "stopped", false);
		rollout_emit(r, LOG_NOTICE, NULL, NULL,
			     "service '%s': %s is not deployed again until a newer push",
			     c->service, c->digest);
		if (next == OUT_SUPERSEDED_RB) {
			rollout_save_state(dp);
			c->rollback_by = ROLLBACK_BY_CODEDEPLOY;
			c->rollback_deadline = rollout_wall_now() + (double)c->timeout_ms / 1000.0;
			rollout_emit(
			    r, LOG_WARNING, EVENT_ROLLBACK_STARTED,
			    LOG_FIELDS({ "ROLLBACK_DEPLOYMENT_ID", c->rollback_deployment_id }),
			    "CodeDeploy rolls service '%s' back to %s (rollback deployment %s) "
			    "after the stop; following it",
			    c->service, c->base_td, c->rollback_deployment_id);
			enter(r, STEP_CD_RB_TRACKING);
			return;
		}
		break;
	case OUT_ANOMALY:
		dp->failures++;
		record_set(&c->anomaly, r->reason);
		state_set_held(st, c->watch, c->tkey, c->digest);
		state_set_deployed(st, c->watch, c->tkey, "");
		rollout_save_state(dp);
		{
			char reason[sizeof(r->reason)];
			snprintf(reason, sizeof(reason), "anomaly: %.1380s", r->reason);
			memcpy(r->reason, reason, sizeof(reason));
		}
		failed_event(r, LOG_ERR, "stopped on an anomaly", false);
		if (can_roll_back(c)) {
			rollout_emit(r, LOG_WARNING, NULL, NULL,
				     "service '%s': putting it back on the revision it ran before; "
				     "%s waits for a newer push",
				     c->service, c->digest);
			start_rollback(r);
			return;
		}
		break;
	case OUT_BLOCKED:
		if (unused_revision(r) && !r->after_deregister) {
			r->blocked_at = c->step;
			enter(r, deploy_deregister_then(r, OUT_BLOCKED));
			return;
		}
		blocked(r);
		break;
	case OUT_ROLLED_BACK:
		state_set_deployed(st, c->watch, c->tkey,
				   c->previous_digest ? c->previous_digest : "");
		rollout_emit(r, LOG_NOTICE, EVENT_ROLLBACK_COMPLETED,
			     LOG_FIELDS({ "ROLLBACK_DEPLOYMENT_ID", c->rollback_deployment_id }),
			     "service '%s' is back on %s%s", c->service,
			     rollback_target_td(r) ? rollback_target_td(r) : c->base_td,
			     c->rollback_by == ROLLBACK_BY_ECS    ? " (rolled back by ECS)"
			     : c->rollback_by == ROLLBACK_BY_STOP ? " (rolled back by ECS on our "
								    "StopServiceDeployment)"
			     : c->rollback_by == ROLLBACK_BY_CODEDEPLOY
				 ? " (rolled back by CodeDeploy)"
			     : record_is_codedeploy(c) ? " (by a CodeDeploy deployment of ours)"
						       : "");
		break;
	case OUT_ROLLBACK_FAILED:
		state_set_deployed(st, c->watch, c->tkey, "");
		rollout_emit(r, LOG_ERR, EVENT_ROLLBACK_FAILED, LOG_FIELDS({ "REASON", r->reason }),
			     "rollback of service '%s' to %s failed: %s; the service needs a human",
			     c->service, rollback_target_td(r) ? rollback_target_td(r) : "(none)",
			     r->reason);
		break;
	case OUT_SKIPPED: {
		double again = deployer_block(dp, r);
		rollout_emit(r, LOG_WARNING, EVENT_SKIPPED,
			     LOG_FIELDS({ "REASON", r->skip_reason ? r->skip_reason : "skipped" }),
			     "not deploying %s to service '%s': %s; %s is not marked failed; "
			     "looked at again in %.0fs, or at the next reload",
			     c->digest, c->service, r->reason, c->digest, again);
		break;
	}
	case OUT_END:
		break;
	}
	deployer_rollout_ended(dp, r, result_of(next));
	end(r);
}

int rollout_operator_rollback(struct rollout *r, const char *reason)
{
	struct rollout_rec *c = r->rec;

	if (rollout_steps[c->step].rolling_back)
		return -EALREADY;
	if (c->step != STEP_TRACKING && c->step != STEP_TRACKING_SD && c->step != STEP_CD_TRACKING)
		return -EBUSY;
	/* A tracking look in flight changes nothing: it is dropped. */
	if (r->batch) {
		r->batch->r[r->batch_slot] = NULL;
		r->batch = NULL;
	}
	if (r->call) {
		aws_call_cancel(r->call);
		r->call = NULL;
	}
	if (r->events_call) {
		aws_call_cancel(r->events_call);
		r->events_call = NULL;
	}
	r->waiting = false;
	r->repoke = false;
	c->rollback = true; /* the operator asks for it, whatever the target's "rollback" */
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	advance(r, OUT_FAILED);
	return 0;
}

/* ---- tracking ------------------------------------------------------------ */

static void batch_free(struct batch *b)
{
	struct deployer *dp = b->dp;

	for (struct batch **p = &dp->batches; *p; p = &(*p)->next)
		if (*p == b) {
			*p = b->next;
			break;
		}
	for (int i = 0; i < b->n; i++)
		if (b->r[i])
			b->r[i]->batch = NULL;
	if (b->call)
		aws_call_cancel(b->call);
	free(b->cluster);
	free(b->region);
	free(b);
}

/* The next look: interval, or while ECS's events about the service flow the 30 s safety net,
 * but never later than the rollout's deadline. */
static double safety_interval(const struct rollout *r, double interval)
{
	double left;

	if (!r->dp->events_flowing || !r->event_seen)
		return interval;
	left = r->rec->deadline > 0 ? r->rec->deadline - rollout_wall_now() : TRACK_SAFETY_S;
	if (left < interval)
		return interval;
	return left < TRACK_SAFETY_S ? left : TRACK_SAFETY_S;
}

static void on_batch(struct aws_result *res, void *userdata)
{
	struct batch *b = userdata;
	struct deployer *dp = b->dp;
	double now = ev_now(b->dp->d->loop);
	bool said = false;
	uint64_t pokes[BATCH_CD];
	int n_pokes = 0;

	b->call = NULL;
	for (int i = 0; i < b->n; i++) {
		struct rollout *r = b->r[i];
		if (!r)
			continue;
		r->batch = NULL;
		b->r[i] = NULL;
		if (r->repoke) {
			r->next_at = now; /* an event came while this look was in flight */
			r->repoke = false;
		} else {
			if (r->poke_ticket && res->ok) { /* else the next look answers it */
				pokes[n_pokes++] = r->poke_ticket;
				r->poke_ticket = 0;
			}
			r->next_at = now + safety_interval(r, r->interval);
		}
		r->interval = r->interval * 1.5 > TRACK_MAX_S ? TRACK_MAX_S : r->interval * 1.5;
		if (!res->ok && r->rec->step == STEP_TRACKING_SD &&
		    aws_error_classify(&res->err) == AWS_ERROR_AUTH) {
			/* Not allowed to read service deployments (a policy from before them):
			 * tracked as before, said once per rollout. */
			r->sd_refused = true;
			if (r->rec->hold_left > 0) { /* DescribeServices cannot see the hook */
				r->rec->deadline = rollout_wall_now() + r->rec->hold_left;
				r->rec->hold_left = 0;
			}
			rollout_emit(r, LOG_WARNING, EVENT_API_ERROR,
				     LOG_FIELDS({ "AWS_OPERATION", res->operation },
						{ "AWS_ERROR_CODE", res->err.code }),
				     "service '%s': %s refused: %s: %s; tracking it with "
				     "DescribeServices instead, which cannot see bake time or "
				     "hooks: allow ecs:DescribeServiceDeployments (README, IAM)",
				     r->rec->service, res->operation, res->err.code,
				     res->err.message);
			advance(r, STEP_TRACKING);
			continue;
		}
		if (!res->ok) {
			/* What ECS did is unknown: tracking goes on, nothing is concluded. A
			 * refusal that lasts (a missing permission) is said once, not at every
			 * look, until ECS answers again. */
			bool lasting = aws_error_classify(&res->err) != AWS_ERROR_TRANSIENT;
			if (!said && !(lasting && r->said_blocked)) {
				api_error(r, res,
					  lasting ? "tracking goes on (said once until AWS answers)"
						  : "tracking goes on");
				said = true;
			}
			if (lasting)
				r->said_blocked = true;
			continue;
		}
		r->said_blocked = false;
		int next = rollout_steps[r->rec->step].read(r, res);
		if (next != OUT_WAIT)     /* keep tracking: next_at is set */
			advance(r, next); /* may free r, never another rollout */
	}
	batch_free(b);
	/* What each look changed is in its record now (advance writes it). */
	for (int i = 0; i < n_pokes; i++)
		if (dp->d->poked)
			dp->d->poked(pokes[i], dp->d->userdata);
}

/* The CodeDeploy deployment a batched step looks at: ours, or CodeDeploy's rollback of it. */
static const char *batch_cd_id(const struct rollout_rec *rec)
{
	return rec->step == STEP_CD_RB_TRACKING ? rec->rollback_deployment_id
						: rec->cd_deployment_id;
}

static void send_batch(struct batch *b)
{
	bool services = !strcmp(b->operation, "DescribeServices");
	bool cd = !strcmp(b->operation, "BatchGetDeployments");
	cJSON *p = cJSON_CreateObject(),
	      *a = p ? cJSON_AddArrayToObject(p, services ? "services"
						 : cd     ? "deploymentIds"
							  : "serviceDeploymentArns")
		     : NULL;
	struct aws_call_spec spec = { .service = cd ? &aws_codedeploy : &aws_ecs,
				      .operation = b->operation,
				      .params = p,
				      .creds = b->creds,
				      .region = b->region };

	if (a) {
		if (services)
			cJSON_AddStringToObject(p, "cluster", b->cluster);
		for (int i = 0; i < b->n; i++)
			cJSON_AddItemToArray(
			    a, cJSON_CreateString(services ? b->r[i]->rec->service
						  : cd     ? batch_cd_id(b->r[i]->rec)
							   : b->r[i]->rec->deployment_arn));
	}
	if (!a || aws_call(b->dp->d->aws, &spec, on_batch, b, &b->call) < 0) {
		b->call = NULL;
		for (int i = 0; i < b->n; i++)
			if (b->r[i]) {
				b->r[i]->next_at = ev_now(b->dp->d->loop) + TRACK_MAX_S;
				b->r[i]->batch = NULL;
			}
		b->n = 0;
		batch_free(b);
	}
	cJSON_Delete(p);
}

/*
 * The key of the batch that rollout r's look (operation op) joins, written in key: calls of one
 * operation, region and credentials, and for DescribeServices of one cluster (service deployments
 * and CodeDeploy deployments are named by ARN or ID: one call covers every cluster). False when
 * r's record lacks what it is tracked by (its reader says so).
 */
static bool batch_key(const struct rollout *r, const char *op, char key[1200])
{
	bool services = !strcmp(op, "DescribeServices"), cd = !strcmp(op, "BatchGetDeployments");

	if (cd ? !(batch_cd_id(r->rec) && *batch_cd_id(r->rec))
	       : !services && !(r->rec->deployment_arn && *r->rec->deployment_arn))
		return false;
	snprintf(key, 1200, "%s\x1f%s\x1f%p\x1f%s", op, r->rec->region, (void *)r->creds,
		 services ? r->rec->cluster : "");
	return true;
}

void rollout_track_due(struct deployer *dp)
{
	double now = ev_now(dp->d->loop);
	struct strmap *open = strmap_new();

	if (!open)
		return;
	for (struct rollout *r = dp->rollouts; r; r = r->next) {
		const char *op = rollout_steps[r->rec->step].operation;
		bool services;
		char key[1200];
		struct batch *b;

		if (!rollout_steps[r->rec->step].batched || r->call || r->batch || r->waiting ||
		    r->next_at > now)
			continue;
		services = !strcmp(op, "DescribeServices");
		bool cd = !strcmp(op, "BatchGetDeployments");
		if (!batch_key(r, op, key)) {
			/* A record without the ARN it is tracked by: its reader says so. */
			advance(r, rollout_steps[r->rec->step].read(r, NULL));
			break; /* r may be gone, and the list with it: the next tick goes on */
		}
		b = strmap_get(open, key);
		if (!b || b->n == b->max) {
			if (b)
				send_batch(b);
			b = calloc(1, sizeof(*b));
			if (!b)
				break;
			b->dp = dp;
			b->operation = op;
			b->max = services ? BATCH_SERVICES : cd ? BATCH_CD : BATCH_MAX;
			b->cluster = strdup(r->rec->cluster);
			b->region = strdup(r->rec->region);
			b->creds = r->creds;
			b->next = dp->batches;
			dp->batches = b;
			if (!b->cluster || !b->region || strmap_put(open, key, b, NULL) < 0) {
				batch_free(b);
				break;
			}
		}
		r->batch = b;
		r->batch_slot = b->n;
		b->r[b->n++] = r;
	}
	/*
	 * A look due within half its interval joins a batch going out now for the same key:
	 * rollouts started a moment apart (each on its own timeline) are read together from then
	 * on, not in calls that alternate. Reading a little early changes nothing but when the next
	 * look is.
	 */
	for (struct rollout *r = dp->rollouts; r; r = r->next) {
		char key[1200];
		struct batch *b;

		if (!rollout_steps[r->rec->step].batched || r->call || r->batch || r->waiting ||
		    r->next_at <= now || r->next_at > now + r->interval / 2 ||
		    !batch_key(r, rollout_steps[r->rec->step].operation, key))
			continue;
		b = strmap_get(open, key);
		if (!b || b->call || b->n == b->max)
			continue;
		r->batch = b;
		r->batch_slot = b->n;
		b->r[b->n++] = r;
	}
	/* Send what is still open: the batches not yet sent have no call. */
	for (struct batch *b = dp->batches, *next; b; b = next) {
		next = b->next;
		if (!b->call && b->n)
			send_batch(b);
	}
	strmap_free(open, NULL);
}

void rollout_free_batches(struct deployer *dp)
{
	while (dp->batches)
		batch_free(dp->batches);
}

/* SPDX-License-Identifier: MIT */
/*
 * The CodeDeploy steps of the rollout engine (rollout.h), strategy codedeploy: the service's
 * deployment group (the target's, or discovered once and cached), CreateDeployment of the pinned
 * revision with an AppSpec built from the record (a lost reply found again by our token in the
 * description), tracking by BatchGetDeployments (batched by the engine), Ready deployments
 * approved (ContinueDeployment READY_WAIT) or rejected, StopDeployment on our timeout or an
 * operator's rollback, and CodeDeploy's rollback followed (or ours: a CodeDeploy deployment of
 * the revision that ran before). Each reader returns the next step or an outcome, from what
 * CodeDeploy said, never from an absence.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cdtrack.h"
#include "config.h"
#include "ecs.h"
#include "events.h"
#include "rollout.h"

#define CD_PAGES_MAX    50    /* pages of one list read (a list that never ends is an error) */
#define CD_FIND_BACK_S  300   /* ListDeployments from this long before our CreateDeployment */
#define CD_ROLLBACK_S   300.0 /* how long CodeDeploy's announced automatic rollback is waited for */
#define CD_TARGETS_S    3.0   /* the deployment's target is read at most this often */
#define CD_BATCH_IDS    25    /* BatchGetDeployments */
#define CD_BATCH_GROUPS 100   /* BatchGetDeploymentGroups */

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

static bool same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static bool rb_step(const struct rollout *r)
{
	enum rollout_step s = r->rec->step;

	return s == STEP_CD_RB_CREATING || s == STEP_CD_RB_FIND || s == STEP_CD_RB_FIND_INFO;
}

/* A fresh 16-hex token; 0 or -EIO. */
static int new_token(char **field)
{
	unsigned char b[8];
	char hex[17];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -EIO;
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", b[i]);
	return record_set(field, hex);
}

/* A reader's block on a refusal (an authorization or request error): the target waits. */
static int refused(struct rollout *r, const struct aws_result *res)
{
	snprintf(r->reason, sizeof(r->reason), "%s refused: %s: %s", res->operation, res->err.code,
		 res->err.message);
	r->err = res->err;
	snprintf(r->err_operation, sizeof(r->err_operation), "%s", res->operation);
	return OUT_BLOCKED;
}

bool cd_in_progress(const struct rollout_rec *c)
{
	const char *s = c->cd_status;

	/* Only what CodeDeploy calls an end is one: a status ecr-deployd does not know may still
	 * run, and is stopped before anything else is deployed. */
	return c->cd_deployment_id && *c->cd_deployment_id &&
	       !(same(s, "Succeeded") || same(s, "Failed") || same(s, "Stopped"));
}

void cd_free(struct rollout *r)
{
	if (r->cd_targets_call)
		aws_call_cancel(r->cd_targets_call);
	r->cd_targets_call = NULL;
	cJSON_Delete(r->cd_names);
	cJSON_Delete(r->cd_groups);
	cJSON_Delete(r->cd_matches);
	r->cd_names = r->cd_groups = r->cd_matches = NULL;
	free(r->cd_next);
	r->cd_next = NULL;
}

/* ---- the group: the target's, or discovered ---------------------------- */

static void cache_key(const struct rollout *r, char *key, size_t n)
{
	const struct rollout_rec *c = r->rec;

	snprintf(key, n, "%s\x1f%s\x1f%s\x1f%s", c->region, c->role_arn ? c->role_arn : "",
		 c->cluster, c->service);
}

void cd_forget_group(struct rollout *r)
{
	char key[1500];

	void *old = NULL;

	cache_key(r, key, sizeof(key));
	if (strmap_get(r->dp->cd_groups, key) &&
	    strmap_put(r->dp->cd_groups, key, NULL, &old) == 0) /* NULL: not cached */
		free(old);
}

static int use_group(struct rollout *r, const char *app, const char *group, bool discovered)
{
	if (record_set(&r->rec->cd_application, app) < 0 ||
	    record_set(&r->rec->cd_group, group) < 0)
		return -ENOMEM;
	r->rec->cd_discovered = discovered;
	return 0;
}

/* start, strategy codedeploy: the service ECS describes (its controller is CODE_DEPLOY). */
int cd_start(struct rollout *r, const cJSON *svc)
{
	struct rollout_rec *c = r->rec;
	const char *td = cdtrack_base_td(svc), *container = NULL;
	long port = 0;
	char why[300], *platform, *network, *capacity;

	if (!td)
		return rollout_block(r, "DescribeServices",
				     "the service names no task definition (no PRIMARY task set)");
	if (record_set(&c->base_td, td) < 0)
		return OUT_RETRY;
	/* The container and port: the target's (in the record from the start), else the load
	 * balancer's the service names. */
	if (!(c->cd_container && *c->cd_container && c->cd_port > 0)) {
		if (cdtrack_lb(svc, &container, &port) < 0)
			return rollout_block(
			    r, "DescribeServices",
			    "the service names no load balancer with a container name and port "
			    "(loadBalancers[]), and the target gives none: set \"codedeploy\": "
			    "{\"container\", \"port\"}");
		if (record_set(&c->cd_container, container) < 0)
			return OUT_RETRY;
		c->cd_port = port;
	}
	int rc = cdtrack_appspec_keys(svc, &platform, &network, &capacity, why, sizeof(why));
	if (rc == -ENOMEM)
		return OUT_RETRY;
	if (rc < 0)
		return rollout_block(r, "DescribeServices", "the service cannot be deployed: %s",
				     why);
	free(c->cd_platform);
	free(c->cd_network);
	free(c->cd_capacity);
	c->cd_platform = platform;
	c->cd_network = network;
	c->cd_capacity = capacity;
	if (!c->cd_token && new_token(&c->cd_token) < 0)
		return OUT_RETRY;
	free(c->new_td); /* a fresh start: a revision named before is not ours to use */
	c->new_td = NULL;
	if (c->cd_application && *c->cd_application && c->cd_group && *c->cd_group &&
	    !c->cd_discovered)
		return STEP_READ_BASE;
	/* Discovered before (this rollout, or another one of the service): the cache's, once
	 * BatchGetDeploymentGroups says it still names the service. */
	char key[1500];
	cache_key(r, key, sizeof(key));
	const char *cached = r->dp->cd_groups ? strmap_get(r->dp->cd_groups, key) : NULL;
	cd_free(r);
	if (cached && strchr(cached, '\x1f')) {
		char app[300];
		snprintf(app, sizeof(app), "%.*s", (int)(strchr(cached, '\x1f') - cached), cached);
		r->cd_names = cJSON_CreateArray();
		r->cd_groups = cJSON_CreateArray();
		r->cd_matches = cJSON_CreateArray();
		if (!r->cd_names || !r->cd_groups || !r->cd_matches ||
		    !cJSON_AddItemToArray(r->cd_names, cJSON_CreateString(app)) ||
		    !cJSON_AddItemToArray(r->cd_groups,
					  cJSON_CreateString(strchr(cached, '\x1f') + 1)))
			return OUT_RETRY;
		r->cd_app = r->cd_pos = r->cd_pages = 0;
		r->cd_verifying = true;
		return STEP_CD_GROUP_INFO;
	}
	r->cd_verifying = false;
	r->cd_names = cJSON_CreateArray();
	r->cd_matches = cJSON_CreateArray();
	r->cd_pages = 0;
	r->cd_app = 0;
	if (!r->cd_names || !r->cd_matches)
		return OUT_RETRY;
	rollout_emit(r, LOG_INFO, NULL, NULL,
		     "service '%s': the target names no CodeDeploy application and deployment "
		     "group; looking for the group whose ECS services name it",
		     c->service);
	return STEP_CD_APPS;
}

/* Adds the page's nextToken (or none) for the next request; false when the list never ends. */
static bool next_page(struct rollout *r, const cJSON *body)
{
	const char *next = str_of(body, "nextToken");

	free(r->cd_next);
	r->cd_next = next && *next && strlen(next) < 4096 ? strdup(next) : NULL;
	return ++r->cd_pages <= CD_PAGES_MAX;
}

static cJSON *with_next(cJSON *p, struct rollout *r)
{
	r->cd_paging = r->cd_next != NULL;
	if (p && r->cd_next && !cJSON_AddStringToObject(p, "nextToken", r->cd_next)) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

cJSON *cd_apps_params(struct rollout *r)
{
	return with_next(cJSON_CreateObject(), r);
}

/*
 * A look for a deployment of ours that may exist (find-deployment and its rollback variant)
 * cannot end the rollout: its record and token are what finds it. A refusal, or a list that
 * never ends, is said once and looked at again after a backoff (2 s doubling to 60 s), the
 * service held meanwhile.
 */
static int look_again(struct rollout *r, const char *operation, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int look_again(struct rollout *r, const char *operation, const char *fmt, ...)
{
	char why[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!r->said_blocked)
		rollout_emit(
		    r, LOG_ERR, EVENT_API_ERROR, LOG_FIELDS({ "AWS_OPERATION", operation }),
		    "service '%s': %s; a CodeDeploy deployment of ours (token %s) may "
		    "exist, so nothing is made again before it is found: looking again "
		    "with a backoff (said once)",
		    r->rec->service, why, rb_step(r) ? r->rec->cd_rb_token : r->rec->cd_token);
	r->said_blocked = true;
	/* From the first page again, after the backoff of OUT_RETRY. */
	cd_free(r);
	r->cd_paging = false;
	r->restep = rb_step(r) ? STEP_CD_RB_FIND : STEP_CD_FIND;
	return OUT_RETRY;
}

static int too_long(struct rollout *r, const char *operation)
{
	if (r->rec->step == STEP_CD_FIND || r->rec->step == STEP_CD_RB_FIND ||
	    r->rec->step == STEP_CD_FIND_INFO || r->rec->step == STEP_CD_RB_FIND_INFO)
		return look_again(r, operation, "%s kept answering with more pages (over %d)",
				  operation, CD_PAGES_MAX);
	return rollout_block(r, operation, "%s kept answering with more pages (over %d)", operation,
			     CD_PAGES_MAX);
}

/* cd-applications: every application's name, page by page. */
int cd_read_apps(struct rollout *r, struct aws_result *res)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, cJSON_GetObjectItem(res->body, "applications"))
	{
		if (cJSON_IsString(x) && *x->valuestring && strlen(x->valuestring) <= 100 &&
		    !cJSON_AddItemToArray(r->cd_names, cJSON_CreateString(x->valuestring)))
			return OUT_RETRY;
	}
	if (!next_page(r, res->body))
		return too_long(r, res->operation);
	if (r->cd_next)
		return STEP_CD_APPS;
	r->cd_pages = 0;
	r->cd_app = 0;
	if (!cJSON_GetArraySize(r->cd_names))
		return rollout_block(
		    r, "ListApplications",
		    "no CodeDeploy application in region %s: nothing deploys service "
		    "'%s' (name one in the target's \"codedeploy\")",
		    r->rec->region, r->rec->service);
	cJSON_Delete(r->cd_groups);
	r->cd_groups = cJSON_CreateArray();
	return r->cd_groups ? STEP_CD_GROUPS : OUT_RETRY;
}

cJSON *cd_groups_params(struct rollout *r)
{
	cJSON *p = cJSON_CreateObject();
	const char *app = cJSON_GetStringValue(cJSON_GetArrayItem(r->cd_names, r->cd_app));

	if (!p || !app || !cJSON_AddStringToObject(p, "applicationName", app)) {
		cJSON_Delete(p);
		return NULL;
	}
	return with_next(p, r);
}

/* After the groups of one application: the next application, or the verdict. */
static int next_app(struct rollout *r)
{
	struct rollout_rec *c = r->rec;
	int n = cJSON_GetArraySize(r->cd_matches);

	r->cd_pages = 0;
	free(r->cd_next);
	r->cd_next = NULL;
	cJSON_Delete(r->cd_groups);
	r->cd_groups = cJSON_CreateArray();
	if (!r->cd_groups)
		return OUT_RETRY;
	if (++r->cd_app < cJSON_GetArraySize(r->cd_names))
		return STEP_CD_GROUPS;
	if (n == 0)
		return rollout_block(r, "BatchGetDeploymentGroups",
				     "no CodeDeploy deployment group of the %d applications in "
				     "region %s names service '%s' of cluster '%s'",
				     cJSON_GetArraySize(r->cd_names), c->region, c->service,
				     c->cluster);
	if (n > 1) {
		char list[600] = "";
		size_t len = 0;
		const cJSON *x;
		cJSON_ArrayForEach(x, r->cd_matches)
		{
			char v[200], both[220];
			const char *m = cJSON_GetStringValue(x), *s = m ? strchr(m, '\x1f') : NULL;
			snprintf(both, sizeof(both), "%.*s/%s", s ? (int)(s - m) : 0, m ? m : "",
				 s ? s + 1 : "");
			ecs_printable(both, v, sizeof(v));
			if (len < sizeof(list))
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s'%s'",
							len ? ", " : "", v);
		}
		return rollout_block(r, "BatchGetDeploymentGroups",
				     "%d CodeDeploy deployment groups name service '%s' of cluster "
				     "'%s' (%s): name one in the target's \"codedeploy\" "
				     "(application, deployment_group)",
				     n, c->service, c->cluster, list);
	}
	const char *m = cJSON_GetStringValue(cJSON_GetArrayItem(r->cd_matches, 0));
	const char *sep = m ? strchr(m, '\x1f') : NULL;
	char app[300], key[1500];
	if (!sep)
		return OUT_RETRY;
	snprintf(app, sizeof(app), "%.*s", (int)(sep - m), m);
	if (use_group(r, app, sep + 1, true) < 0)
		return OUT_RETRY;
	cache_key(r, key, sizeof(key));
	char *copy = strdup(m);
	void *old = NULL;
	if (copy && r->dp->cd_groups && strmap_put(r->dp->cd_groups, key, copy, &old) == 0)
		free(old);
	else
		free(copy);
	char a[200], g[200];
	ecs_printable(c->cd_application, a, sizeof(a));
	ecs_printable(c->cd_group, g, sizeof(g));
	rollout_emit(r, LOG_INFO, NULL, NULL,
		     "service '%s': CodeDeploy application '%s', deployment group '%s' deploy it",
		     c->service, a, g);
	cd_free(r);
	return STEP_READ_BASE;
}

/* cd-groups: the group names of one application, page by page. */
int cd_read_groups(struct rollout *r, struct aws_result *res)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, cJSON_GetObjectItem(res->body, "deploymentGroups"))
	{
		if (cJSON_IsString(x) && *x->valuestring && strlen(x->valuestring) <= 100 &&
		    !cJSON_AddItemToArray(r->cd_groups, cJSON_CreateString(x->valuestring)))
			return OUT_RETRY;
	}
	if (!next_page(r, res->body))
		return too_long(r, res->operation);
	if (r->cd_next)
		return STEP_CD_GROUPS;
	r->cd_pos = 0;
	if (!cJSON_GetArraySize(r->cd_groups))
		return next_app(r);
	return STEP_CD_GROUP_INFO;
}

cJSON *cd_group_info_params(struct rollout *r)
{
	cJSON *p = cJSON_CreateObject(),
	      *a = p ? cJSON_AddArrayToObject(p, "deploymentGroupNames") : NULL;
	const char *app = cJSON_GetStringValue(cJSON_GetArrayItem(r->cd_names, r->cd_app));

	if (!a || !app || !cJSON_AddStringToObject(p, "applicationName", app)) {
		cJSON_Delete(p);
		return NULL;
	}
	for (int i = r->cd_pos;
	     i < cJSON_GetArraySize(r->cd_groups) && i < r->cd_pos + CD_BATCH_GROUPS; i++)
		if (!cJSON_AddItemToArray(
			a, cJSON_Duplicate(cJSON_GetArrayItem(r->cd_groups, i), 0))) {
			cJSON_Delete(p);
			return NULL;
		}
	return p;
}

static void matched(const char *app, const char *group, void *ud)
{
	struct rollout *r = ud;
	char m[300];

	snprintf(m, sizeof(m), "%.100s\x1f%.100s", app, group);
	cJSON_AddItemToArray(r->cd_matches, cJSON_CreateString(m));
}

/* cd-group-info: the groups of this batch that name the service (or: does the group found
 * before still name it?). */
int cd_read_group_info(struct rollout *r, struct aws_result *res)
{
	int n = cdtrack_groups_matching(res->body, r->rec->cluster, r->rec->service, matched, r);

	if (r->cd_verifying) {
		r->cd_verifying = false;
		if (n == 1)
			return next_app(r); /* the one application: the verdict, cached again */
		cd_forget_group(r);
		rollout_emit(r, LOG_NOTICE, NULL, NULL,
			     "service '%s': the CodeDeploy group found before no longer names it; "
			     "looking again",
			     r->rec->service);
		cd_free(r);
		r->cd_names = cJSON_CreateArray();
		r->cd_matches = cJSON_CreateArray();
		r->cd_app = r->cd_pos = r->cd_pages = 0;
		return r->cd_names && r->cd_matches ? STEP_CD_APPS : OUT_RETRY;
	}
	r->cd_pos += CD_BATCH_GROUPS;
	if (r->cd_pos < cJSON_GetArraySize(r->cd_groups))
		return STEP_CD_GROUP_INFO;
	return next_app(r);
}

/* ---- creating ----------------------------------------------------------- */

cJSON *cd_create_params(struct rollout *r)
{
	struct rollout_rec *c = r->rec;
	bool rb = rb_step(r);
	char desc[400], why[200], *content = NULL;
	const char *td = rb ? rollback_target_td(r) : c->new_td;
	struct cd_appspec in = { .td = td,
				 .container = c->cd_container,
				 .port = c->cd_port,
				 .platform = c->cd_platform,
				 .network = c->cd_network,
				 .capacity = c->cd_capacity };
	cJSON *p, *rev, *asc;

	if (cdtrack_appspec(&in, &content, why, sizeof(why)) < 0)
		return NULL; /* a record without what the AppSpec needs: retried, then checked */
	cdtrack_description(
	    rb ? c->cd_rb_token : c->cd_token,
	    rb ? (c->previous_digest && *c->previous_digest ? c->previous_digest : "rollback")
	       : c->digest,
	    c->watch, desc, sizeof(desc));
	p = cJSON_CreateObject();
	if (!p || !cJSON_AddStringToObject(p, "applicationName", c->cd_application) ||
	    !cJSON_AddStringToObject(p, "deploymentGroupName", c->cd_group) ||
	    !(rev = cJSON_AddObjectToObject(p, "revision")) ||
	    !cJSON_AddStringToObject(rev, "revisionType", "AppSpecContent") ||
	    !(asc = cJSON_AddObjectToObject(rev, "appSpecContent")) ||
	    !cJSON_AddStringToObject(asc, "content", content) ||
	    !cJSON_AddStringToObject(p, "description", desc) ||
	    (c->cd_config && *c->cd_config &&
	     !cJSON_AddStringToObject(p, "deploymentConfigName", c->cd_config))) {
		cJSON_Delete(p);
		p = NULL;
	}
	free(content);
	return p;
}

/* creating / cd-rolling-back: CreateDeployment answered. */
int cd_read_create(struct rollout *r, struct aws_result *res)
{
	struct rollout_rec *c = r->rec;
	bool rb = rb_step(r);
	const char *id = res->ok ? str_of(res->body, "deploymentId") : NULL;

	if (!res->ok) {
		const char *code = res->err.code;
		if (same(code, "DeploymentLimitExceededException")) {
			/* Another deployment of the group is in progress (someone's, or the end
			 * of ours): looked for again, then created again, until the deadline. */
			if (rollout_wall_now() < (rb ? c->rollback_deadline : c->deadline)) {
				rollout_emit(
				    r, LOG_NOTICE, NULL, NULL,
				    "service '%s': CodeDeploy's group '%s' has a deployment "
				    "in progress; trying again",
				    c->service, c->cd_group);
				return OUT_RETRY;
			}
		}
		if (same(code, "DeploymentGroupDoesNotExistException") ||
		    same(code, "ApplicationDoesNotExistException")) {
			cd_forget_group(r);
			if (c->cd_discovered) { /* found again at the next start */
				free(c->cd_application);
				free(c->cd_group);
				c->cd_application = c->cd_group = NULL;
			}
		}
		if (rb) {
			snprintf(r->reason, sizeof(r->reason),
				 "CreateDeployment of the revision that ran before was refused: "
				 "%s: %s",
				 code, res->err.message);
			return OUT_ROLLBACK_FAILED;
		}
		return refused(r, res);
	}
	if (!cdtrack_id_valid(id)) {
		/* Answered without a usable id: whether one was made is found by our token. */
		rollout_emit(r, LOG_WARNING, NULL, NULL,
			     "service '%s': CreateDeployment answered without a deployment id; "
			     "looking for ours by its description",
			     c->service);
		return OUT_RETRY; /* resumed as find: never created twice */
	}
	if (record_set(rb ? &c->rollback_deployment_id : &c->cd_deployment_id, id) < 0)
		return OUT_RETRY;
	if (rb) {
		rollout_emit(r, LOG_NOTICE, NULL, LOG_FIELDS({ "ROLLBACK_DEPLOYMENT_ID", id }),
			     "service '%s': CodeDeploy deployment %s rolls it back to %s",
			     c->service, id, rollback_target_td(r));
		return STEP_CD_RB_TRACKING;
	}
	record_set(&c->cd_status, "Created");
	rollout_emit(r, LOG_INFO, NULL, NULL,
		     "service '%s': CodeDeploy deployment %s of %s started (application '%s', "
		     "group '%s'); tracking it",
		     c->service, id, c->new_td, c->cd_application, c->cd_group);
	return STEP_CD_TRACKING;
}

/* ---- finding ours again (a lost reply, a stop) ---------------------------- */

cJSON *cd_find_params(struct rollout *r)
{
	struct rollout_rec *c = r->rec;
	double sent = rb_step(r) ? c->cd_rb_create_sent_at : c->cd_create_sent_at;
	cJSON *p = cJSON_CreateObject(), *range;

	if (!r->cd_next)
		r->cd_pages = 0;
	if (!p || !cJSON_AddStringToObject(p, "applicationName", c->cd_application) ||
	    !cJSON_AddStringToObject(p, "deploymentGroupName", c->cd_group) ||
	    !(range = cJSON_AddObjectToObject(p, "createTimeRange")) ||
	    !cJSON_AddNumberToObject(
		range, "start",
		(double)(long)(sent > CD_FIND_BACK_S ? sent - CD_FIND_BACK_S : 0))) {
		cJSON_Delete(p);
		return NULL;
	}
	return with_next(p, r);
}

/* Not found (yet): waits while our call may still be carried out, else creates again. */
static int not_found(struct rollout *r)
{
	bool rb = rb_step(r);
	double sent = rb ? r->rec->cd_rb_create_sent_at : r->rec->cd_create_sent_at;

	if (rollout_wait_for_sent(r, sent, "CodeDeploy deployment of ours")) {
		r->restep = rb ? STEP_CD_RB_FIND : STEP_CD_FIND;
		return OUT_WAIT;
	}
	if (!rb && r->rec->cd_deployment_id && *r->rec->cd_deployment_id) {
		/* Looked for again from tracking (CodeDeploy stopped listing the id we had): it
		 * was made, so it is never made again; looked for until the rollout timeout. */
		if (rollout_wall_now() < r->rec->deadline || r->rec->hold_left > 0) {
			r->restep = STEP_CD_FIND;
			r->next_at = ev_now(r->dp->d->loop) + 10.0;
			return OUT_WAIT;
		}
		snprintf(r->reason, sizeof(r->reason),
			 "CodeDeploy lists neither deployment %s nor another with our token %s "
			 "within the rollout timeout; nothing is made again",
			 r->rec->cd_deployment_id, r->rec->cd_token);
		return OUT_SUPERSEDED;
	}
	rollout_emit(r, LOG_NOTICE, NULL, NULL,
		     "service '%s': CodeDeploy has no deployment of ours (token %s); creating it",
		     r->rec->service, rb ? r->rec->cd_rb_token : r->rec->cd_token);
	return rb ? STEP_CD_RB_CREATING : STEP_CD_CREATING;
}

/* find-deployment: the group's deployments created since ours was sent, page by page. */
int cd_read_find(struct rollout *r, struct aws_result *res)
{
	bool rb = rb_step(r);
	const cJSON *x;

	if (!res->ok)
		return look_again(r, res->operation, "%s refused: %s: %s", res->operation,
				  res->err.code, res->err.message);
	if (!r->cd_paging) {
		cJSON_Delete(r->cd_names);
		r->cd_names = cJSON_CreateArray();
		if (!r->cd_names)
			return OUT_RETRY;
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(res->body, "deployments"))
	{
		if (cdtrack_id_valid(cJSON_GetStringValue(x)) &&
		    !cJSON_AddItemToArray(r->cd_names, cJSON_CreateString(x->valuestring)))
			return OUT_RETRY;
	}
	if (!next_page(r, res->body))
		return too_long(r, res->operation);
	if (r->cd_next)
		return rb ? STEP_CD_RB_FIND : STEP_CD_FIND;
	r->cd_pos = 0;
	if (!cJSON_GetArraySize(r->cd_names))
		return not_found(r);
	return rb ? STEP_CD_RB_FIND_INFO : STEP_CD_FIND_INFO;
}

cJSON *cd_find_info_params(struct rollout *r)
{
	cJSON *p = cJSON_CreateObject(), *a = p ? cJSON_AddArrayToObject(p, "deploymentIds") : NULL;

	if (!a) {
		cJSON_Delete(p);
		return NULL;
	}
	for (int i = r->cd_pos; i < cJSON_GetArraySize(r->cd_names) && i < r->cd_pos + CD_BATCH_IDS;
	     i++)
		if (!cJSON_AddItemToArray(a,
					  cJSON_Duplicate(cJSON_GetArrayItem(r->cd_names, i), 0))) {
			cJSON_Delete(p);
			return NULL;
		}
	return p;
}

/* find-deployment-info: is one of these ours, by the token in its description? */
int cd_read_find_info(struct rollout *r, struct aws_result *res)
{
	struct rollout_rec *c = r->rec;
	bool rb = rb_step(r);
	char id[CD_ID_MAX];

	if (!res->ok)
		return look_again(r, res->operation, "%s refused: %s: %s", res->operation,
				  res->err.code, res->err.message);
	if (cdtrack_find_token(res->body, rb ? c->cd_rb_token : c->cd_token, id, sizeof(id))) {
		if (record_set(rb ? &c->rollback_deployment_id : &c->cd_deployment_id, id) < 0)
			return OUT_RETRY;
		rollout_emit(r, LOG_INFO, NULL, NULL,
			     "service '%s': CodeDeploy deployment %s of ours was made before; "
			     "tracking it",
			     c->service, id);
		cd_free(r);
		return rb ? STEP_CD_RB_TRACKING : STEP_CD_TRACKING;
	}
	r->cd_pos += CD_BATCH_IDS;
	if (r->cd_pos < cJSON_GetArraySize(r->cd_names))
		return rb ? STEP_CD_RB_FIND_INFO : STEP_CD_FIND_INFO;
	return not_found(r);
}

/* ---- tracking ------------------------------------------------------------- */

cJSON *cd_targets_params(struct rollout *r)
{
	cJSON *p = cJSON_CreateObject();

	if (p && (!r->rec->cd_deployment_id ||
		  !cJSON_AddStringToObject(p, "deploymentId", r->rec->cd_deployment_id))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

cJSON *cd_get_params(struct rollout *r)
{
	return cd_targets_params(r);
}

cJSON *cd_target_info_params(struct rollout *r)
{
	cJSON *p = cd_targets_params(r), *a = p ? cJSON_AddArrayToObject(p, "targetIds") : NULL;

	if (!a || !cJSON_AddItemToArray(a, cJSON_CreateString(r->cd_target_id))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

/* The first target id of a ListDeploymentTargets reply into r->cd_target_id; false: none. */
static bool keep_target(struct rollout *r, const cJSON *body)
{
	const char *t =
	    cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(body, "targetIds"), 0));

	if (!t || !*t || strlen(t) >= sizeof(r->cd_target_id) || strpbrk(t, "\"\\\r\n"))
		return false;
	snprintf(r->cd_target_id, sizeof(r->cd_target_id), "%s", t);
	return true;
}

/*
 * DEPLOY_PROGRESS once per change of status, lifecycle event, traffic weight or deploymentOverview
 * counts (overview NULL: not read this time), never per look; CODEDEPLOY_OVERVIEW carries the
 * counts (cdtrack_overview_text()).
 */
static void progress(struct rollout *r, const char *status, const char *event, double weight,
		     const int *overview)
{
	struct rollout_rec *c = r->rec;
	static const char *const states[6] = { "pending", "in progress", "succeeded",
					       "failed",  "skipped",     "ready" };
	bool changed = false;
	char w[16] = "", ov[160], targets[160] = "";
	size_t len = 0;

	if (status && *status && !same(c->cd_status, status)) {
		record_set(&c->cd_status, status);
		changed = true;
	}
	if (same(c->cd_status, "Ready")) {
		/* between AfterAllowTestTraffic and BeforeAllowTraffic: no lifecycle event runs,
		 * and one read before is not where it waits */
		free(c->cd_event);
		c->cd_event = NULL;
		event = NULL;
	}
	if (same(c->cd_status, "Baking") || same(c->cd_status, "Succeeded")) {
		/* after every lifecycle event, all the traffic moved: a target read before is not
		 * what runs now */
		free(c->cd_event);
		c->cd_event = NULL;
		event = NULL;
		weight = 100;
	}
	if (event && *event && !same(c->cd_event, event)) {
		record_set(&c->cd_event, event);
		changed = true;
	}
	if (weight >= 0 && weight != r->weight) {
		r->weight = weight;
		changed = true;
	}
	if (overview && memcmp(overview, r->cd_overview, sizeof(r->cd_overview))) {
		memcpy(r->cd_overview, overview, sizeof(r->cd_overview));
		changed = true;
	}
	snprintf(r->stage, sizeof(r->stage), "%s%s%s", c->cd_status ? c->cd_status : "?",
		 c->cd_event ? " " : "", c->cd_event ? c->cd_event : "");
	if (!changed)
		return;
	if (r->weight >= 0)
		snprintf(w, sizeof(w), "%.0f", r->weight);
	cdtrack_overview_text(r->cd_overview, ov, sizeof(ov));
	/* the message names the targets' states that have any (the field, all of them) */
	for (int i = 0, said = 0; i < 6 && len < sizeof(targets); i++)
		if (r->cd_overview[i] > 0)
			len += (size_t)snprintf(targets + len, sizeof(targets) - len, "%s%d %s",
						said++ ? ", " : "; targets: ", r->cd_overview[i],
						states[i]);
	rollout_emit(r, LOG_INFO, EVENT_DEPLOY_PROGRESS,
		     LOG_FIELDS({ "PRODUCTION_TRAFFIC_WEIGHT", *w ? w : NULL },
				{ "CODEDEPLOY_OVERVIEW", *ov ? ov : NULL }),
		     "service '%s': CodeDeploy deployment %s is %s%s%s%s%s%s%s", c->service,
		     c->cd_deployment_id, c->cd_status ? c->cd_status : "?",
		     c->cd_event ? " at " : "", c->cd_event ? c->cd_event : "", *w ? ", " : "", w,
		     *w ? "% of production traffic on the new revision" : "", targets);
	rollout_persist(r);
}

static void on_target_info(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	struct cd_target t;

	r->cd_targets_call = NULL;
	if (!res->ok || !same(r->rec->cd_status, "InProgress"))
		return; /* read while it moved on: the next look says what runs */
	cdtrack_target(res->body, &t);
	progress(r, NULL, t.event, t.weight, NULL);
}

static void target_call(struct rollout *r, const char *operation, cJSON *params, aws_done_fn done)
{
	struct aws_call_spec spec = { .service = &aws_codedeploy,
				      .operation = operation,
				      .params = params,
				      .creds = r->creds,
				      .region = r->rec->region };

	if (!params || aws_call(r->dp->d->aws, &spec, done, r, &r->cd_targets_call) < 0)
		r->cd_targets_call = NULL; /* the next look tries again */
	cJSON_Delete(params);
}

static void on_target_list(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;

	r->cd_targets_call = NULL;
	if (res->ok && keep_target(r, res->body))
		target_call(r, "BatchGetDeploymentTargets", cd_target_info_params(r),
			    on_target_info);
}

/* The target's lifecycle event and traffic weight, read beside the tracking, at most every
 * CD_TARGETS_S. */
static void read_target(struct rollout *r)
{
	double now = ev_now(r->dp->d->loop);

	if (r->cd_targets_call || now - r->cd_targets_at < CD_TARGETS_S)
		return;
	r->cd_targets_at = now;
	if (*r->cd_target_id)
		target_call(r, "BatchGetDeploymentTargets", cd_target_info_params(r),
			    on_target_info);
	else
		target_call(r, "ListDeploymentTargets", cd_targets_params(r), on_target_list);
}

/* Ready: said once per deployment; the rollout timeout stands still; "auto" continues it. */
static int ready(struct rollout *r)
{
	struct rollout_rec *c = r->rec;
	bool auto_ok = same(c->approve, "auto");

	r->awaiting = true;
	if (!(c->hold_left > 0))
		c->hold_left =
		    c->deadline - rollout_wall_now() > 1.0 ? c->deadline - rollout_wall_now() : 1.0;
	if (!same(c->hook_id, c->cd_deployment_id)) {
		record_set(&c->hook_id, c->cd_deployment_id);
		rollout_emit(r, LOG_NOTICE, EVENT_AWAITING_APPROVAL,
			     LOG_FIELDS({ "APPROVE", auto_ok ? "auto" : "manual" }),
			     "service '%s': CodeDeploy deployment %s of %s is Ready and waits for "
			     "traffic to be rerouted; %s",
			     c->service, c->cd_deployment_id, c->digest,
			     auto_ok ? "\"approve\": \"auto\": continuing it"
				     : "approve or reject it: ecr-deployctl approve|reject "
				       "WATCH/SERVICE");
		rollout_persist(r);
	}
	if (auto_ok && strcmp(r->cd_ready, c->cd_deployment_id)) {
		snprintf(r->cd_ready, sizeof(r->cd_ready), "%s", c->cd_deployment_id);
		return STEP_CD_APPROVING;
	}
	return OUT_WAIT;
}

/* cd-tracking: what CodeDeploy says of our deployment. */
int cd_read_tracking(struct rollout *r, struct aws_result *res)
{
	struct rollout_rec *c = r->rec;
	struct cd_result out;
	double now = rollout_wall_now();

	if (!res || !c->cd_deployment_id || !*c->cd_deployment_id) {
		snprintf(r->reason, sizeof(r->reason),
			 "the rollout record at step '%s' names no CodeDeploy deployment to track",
			 record_step_name(c->step));
		return OUT_UNMARKED;
	}
	struct cd_input in = { .info = cdtrack_info(res->body, c->cd_deployment_id),
			       .now = now,
			       .deadline = c->hold_left > 0 ? now + c->hold_left : c->deadline,
			       .appear_by = c->cd_create_sent_at + rollout_appear_s(c),
			       .rollback_until = c->cd_rb_wait_until > 0 ? c->cd_rb_wait_until
									 : now + CD_ROLLBACK_S };
	cdtrack_verdict(&in, &out);
	snprintf(r->cd_error_code, sizeof(r->cd_error_code), "%s", out.error_code);
	progress(r, out.status, NULL, -1, out.overview);
	if (out.verdict == CD_READY)
		return ready(r);
	if (c->hold_left > 0) { /* no longer Ready: the timeout runs again */
		r->awaiting = false;
		c->deadline = now + c->hold_left;
		c->hold_left = 0;
		rollout_persist(r);
	}
	snprintf(r->reason, sizeof(r->reason), "%s", out.reason);
	switch (out.verdict) {
	case CD_KEEP:
		if (same(out.status, "InProgress")) {
			/* the traffic shift is seen: looked at every CD_TARGETS_S at least */
			double at = ev_now(r->dp->d->loop) + CD_TARGETS_S;
			read_target(r);
			if (r->interval > CD_TARGETS_S)
				r->interval = CD_TARGETS_S;
			if (r->next_at > at)
				r->next_at = at;
		}
		return OUT_WAIT;
	case CD_DONE:
		return OUT_DONE;
	case CD_WAIT_ROLLBACK:
		if (!(c->cd_rb_wait_until > 0)) {
			c->cd_rb_wait_until = in.rollback_until;
			rollout_persist(r);
		}
		if (!r->cd_said_wait_rb)
			rollout_emit(r, LOG_NOTICE, NULL, NULL,
				     "service '%s': %s; CodeDeploy's automatic rollback is "
				     "configured: waiting up to %.0fs for it",
				     c->service, out.reason, c->cd_rb_wait_until - now);
		r->cd_said_wait_rb = true;
		return OUT_WAIT;
	case CD_ROLLBACK:
		if (record_set(&c->rollback_deployment_id, out.rollback_id) < 0)
			return OUT_RETRY;
		r->after_events =
		    same(out.status, "Stopped") ? OUT_SUPERSEDED_RB : OUT_ECS_ROLLBACK;
		if (r->after_events == OUT_SUPERSEDED_RB) {
			size_t len = strlen(r->reason);
			snprintf(r->reason + len, sizeof(r->reason) - len, "; %s",
				 same(out.error_code, "TIMEOUT")
				     ? "stopped by CodeDeploy: nobody rerouted traffic within the "
				       "Ready wait"
				     : "stopped by someone else");
		}
		break;
	case CD_FAILED:
		r->after_events = OUT_FAILED;
		break;
	case CD_STOPPED:
		snprintf(r->reason, sizeof(r->reason), "%.800s, %s", out.reason,
			 same(out.error_code, "TIMEOUT")
			     ? "by CodeDeploy: nobody rerouted traffic within the Ready wait"
			     : "by someone else");
		r->after_events = OUT_SUPERSEDED;
		break;
	case CD_TIMEOUT:
		snprintf(r->reason, sizeof(r->reason),
			 "not complete within the rollout timeout (%.0fs; CodeDeploy: %s)",
			 (double)c->timeout_ms / 1000.0, c->cd_status ? c->cd_status : "?");
		return OUT_FAILED; /* in progress: stopped, rolled back */
	case CD_MISSING:
		/* An absence is no verdict: ours is looked for by its token (find-deployment),
		 * never made again. */
		if (!r->cd_said_missing)
			rollout_emit(
			    r, LOG_WARNING, NULL, NULL,
			    "service '%s': CodeDeploy does not list deployment %s; looking "
			    "for ours by its token %s",
			    c->service, c->cd_deployment_id, c->cd_token);
		r->cd_said_missing = true;
		return STEP_CD_FIND;
	case CD_ANOMALY:
		return OUT_ANOMALY;
	case CD_READY:
		break;
	}
	if (r->after_events == OUT_SUPERSEDED || r->after_events == OUT_SUPERSEDED_RB)
		return r->after_events;
	return STEP_CD_DIAG_LIST; /* the failing lifecycle event, quoted in what is said next */
}

/* cd-read-targets: the deployment's target, for its diagnostics; a failed read loses only the
 * quote. */
int cd_read_targets(struct rollout *r, struct aws_result *res)
{
	if (res->ok && keep_target(r, res->body))
		return STEP_CD_DIAG;
	return r->after_events ? r->after_events : OUT_FAILED;
}

/* cd-read-diagnostics: the failing lifecycle event and its diagnostics, quoted. */
int cd_read_diag(struct rollout *r, struct aws_result *res)
{
	struct cd_target t;
	size_t len = strlen(r->reason);

	if (res->ok) {
		cdtrack_target(res->body, &t);
		if (*t.failed_event) {
			record_set(&r->rec->cd_event, t.failed_event);
			if (len < sizeof(r->reason))
				snprintf(r->reason + len, sizeof(r->reason) - len,
					 "; lifecycle event %s failed%s%s", t.failed_event,
					 *t.diagnostics ? ": " : "", t.diagnostics);
		}
	}
	return r->after_events ? r->after_events : OUT_FAILED;
}

cJSON *cd_continue_params(struct rollout *r)
{
	cJSON *p = cd_targets_params(r);

	if (p && !cJSON_AddStringToObject(p, "deploymentWaitType", "READY_WAIT")) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

/* cd-approving ("approve": "auto"): ContinueDeployment answered; tracking goes on either way. */
int cd_read_continue(struct rollout *r, struct aws_result *res)
{
	if (res->ok)
		rollout_emit(r, LOG_NOTICE, NULL, NULL,
			     "service '%s': continued CodeDeploy deployment %s (\"approve\": "
			     "\"auto\")",
			     r->rec->service, r->rec->cd_deployment_id);
	else
		rollout_emit(r, LOG_WARNING, EVENT_API_ERROR,
			     LOG_FIELDS({ "AWS_OPERATION", res->operation },
					{ "AWS_ERROR_CODE", res->err.code }),
			     "service '%s': ContinueDeployment of %s refused: %s: %s; an operator "
			     "can approve it: ecr-deployctl approve WATCH/SERVICE",
			     r->rec->service, r->rec->cd_deployment_id, res->err.code,
			     res->err.message);
	return STEP_CD_TRACKING;
}

static void on_continued(struct aws_result *res, void *userdata)
{
	struct rollout *r = userdata;
	deployer_continued_fn done = r->continue_done;
	void *ud = r->continue_ud;
	const char *id = r->rec->cd_deployment_id;
	bool lost = !res->ok && aws_error_classify(&res->err) == AWS_ERROR_TRANSIENT;

	r->continue_call = NULL;
	r->continue_done = NULL;
	if (res->ok) {
		rollout_emit(r, LOG_NOTICE, NULL, NULL,
			     "service '%s': CodeDeploy deployment %s continued by an operator",
			     r->rec->service, id);
		if (rollout_steps[r->rec->step].batched && !r->batch)
			r->next_at = ev_now(r->dp->d->loop);
	} else if (lost) {
		/* No usable reply (lost, garbled, a timeout): it may have taken; the next look
		 * says. Never called a refusal, never sent again blindly. */
		rollout_emit(r, LOG_WARNING, EVENT_API_ERROR,
			     LOG_FIELDS({ "AWS_OPERATION", res->operation },
					{ "AWS_ERROR_CODE", res->err.code }),
			     "service '%s': no usable answer from CodeDeploy to ContinueDeployment "
			     "of %s, as an operator asked (%s); whether it took shows at the next "
			     "look",
			     r->rec->service, id, res->err.code);
		if (rollout_steps[r->rec->step].batched && !r->batch)
			r->next_at = ev_now(r->dp->d->loop);
	} else {
		rollout_emit(r, LOG_WARNING, EVENT_API_ERROR,
			     LOG_FIELDS({ "AWS_OPERATION", res->operation },
					{ "AWS_ERROR_CODE", res->err.code }),
			     "service '%s': ContinueDeployment of %s, as an operator asked, "
			     "refused: %s: %s",
			     r->rec->service, id, res->err.code, res->err.message);
	}
	if (done)
		done(res->ok ? 0 : lost ? -ETIMEDOUT : -EIO, id, res->ok ? NULL : &res->err, ud);
}

int cd_continue(struct rollout *r, bool rollback, deployer_continued_fn done, void *ud, char *why,
		size_t why_len)
{
	struct rollout_rec *c = r->rec;
	char name[600];
	cJSON *p;
	int rc;

	deployer_target_name(c->watch, c->service, name, sizeof(name));
	if (r->continue_call || r->continue_done) {
		snprintf(why, why_len,
			 "an answer to CodeDeploy deployment %s of '%s' is on its way",
			 c->cd_deployment_id ? c->cd_deployment_id : "?", name);
		return -EBUSY;
	}
	if (!r->awaiting || c->step != STEP_CD_TRACKING || !c->cd_deployment_id) {
		snprintf(why, why_len,
			 "nothing awaits approval on '%s': the rollout of %s is at step '%s' "
			 "(CodeDeploy: %s)",
			 name, c->digest, record_step_name(c->step),
			 c->cd_status ? c->cd_status : "?");
		return -ENOENT;
	}
	if (rollback) {
		/* Rejected: StopDeployment (written first), CodeDeploy's rollback followed; the
		 * operator is told when CodeDeploy answered the stop. */
		char reason[160];
		snprintf(reason, sizeof(reason), "rejected by an operator at Ready");
		r->continue_done = done;
		r->continue_ud = ud;
		rc = rollout_operator_rollback(r, reason);
		if (rc < 0) {
			r->continue_done = NULL;
			snprintf(why, why_len, "the rollout of %s to '%s' cannot be rejected now",
				 c->digest, name);
		}
		return rc;
	}
	p = cd_continue_params(r);
	struct aws_call_spec spec = { .service = &aws_codedeploy,
				      .operation = "ContinueDeployment",
				      .params = p,
				      .creds = r->creds,
				      .region = c->region,
				      .not_idempotent = true };
	rc = p ? aws_call(r->dp->d->aws, &spec, on_continued, r, &r->continue_call) : -ENOMEM;
	cJSON_Delete(p);
	if (rc < 0) {
		r->continue_call = NULL;
		snprintf(why, why_len, "cannot call ContinueDeployment for '%s': %s", name,
			 rc == -ENOMEM ? "out of memory" : "no CodeDeploy endpoint for the region");
		return rc == -ENOMEM ? -ENOMEM : -EIO;
	}
	r->continue_done = done;
	r->continue_ud = ud;
	return 0;
}

/* ---- rolling back --------------------------------------------------------- */

enum rollout_step cd_rollback_step(struct rollout *r)
{
	struct rollout_rec *c = r->rec;

	if (cd_in_progress(c)) {
		c->rollback_by = ROLLBACK_BY_CODEDEPLOY;
		return STEP_CD_STOP;
	}
	c->rollback_by = ROLLBACK_BY_US;
	if (new_token(&c->cd_rb_token) < 0 || !c->cd_rb_token)
		record_set(&c->cd_rb_token, "0000000000000000"); /* never: getrandom works */
	return STEP_ROLLBACK; /* which revision, pinned as for strategy revision */
}

cJSON *cd_stop_params(struct rollout *r)
{
	cJSON *p = cd_targets_params(r);

	if (p && !cJSON_AddBoolToObject(p, "autoRollbackEnabled", r->rec->rollback)) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

/* The operator who rejected is told how the stop went. */
/* The operator who rejected, if one waits: told once (rc 0: the stop took). */
static void tell_rejecter(struct rollout *r, int rc, const struct aws_error *err)
{
	deployer_continued_fn done = r->continue_done;

	r->continue_done = NULL;
	if (done)
		done(rc, r->rec->cd_deployment_id, err, r->continue_ud);
}

/* cd-stopping: StopDeployment answered. */
int cd_read_stop(struct rollout *r, struct aws_result *res)
{
	struct rollout_rec *c = r->rec;

	tell_rejecter(r, res->ok ? 0 : -EIO, res->ok ? NULL : &res->err);
	if (res->ok) {
		rollout_emit(r, LOG_WARNING, NULL, NULL,
			     "stopped CodeDeploy deployment %s of service '%s'%s",
			     c->cd_deployment_id, c->service,
			     c->rollback ? " with its automatic rollback; following it" : "");
		return STEP_CD_STOP_CHECK;
	}
	if (same(res->err.code, "DeploymentAlreadyCompletedException"))
		return STEP_CD_STOP_CHECK; /* how did it end? */
	snprintf(r->reason, sizeof(r->reason), "StopDeployment of %s was refused: %s: %s",
		 c->cd_deployment_id, res->err.code, res->err.message);
	return OUT_ROLLBACK_FAILED;
}

/* cd-stop-check: after our stop (or a stop whose reply was lost): CodeDeploy's rollback? */
int cd_read_stop_check(struct rollout *r, struct aws_result *res)
{
	struct rollout_rec *c = r->rec;
	struct cd_result out;
	double now = rollout_wall_now();
	struct cd_input in = { .info = cdtrack_info(res->body, c->cd_deployment_id),
			       .stopped_by_us = true,
			       .now = now,
			       .appear_by = 0,
			       .rollback_until =
				   c->rollback ? c->stop_sent_at + CD_ROLLBACK_S : 0 };

	cdtrack_verdict(&in, &out);
	if (*out.status)
		record_set(&c->cd_status, out.status);
	snprintf(r->cd_error_code, sizeof(r->cd_error_code), "%s", out.error_code);
	/* An operator's reject whose StopDeployment reply was lost: CodeDeploy says it took. */
	if (same(out.status, "Stopped") || *out.rollback_id)
		tell_rejecter(r, 0, NULL);
	switch (out.verdict) {
	case CD_ROLLBACK:
		if (record_set(&c->rollback_deployment_id, out.rollback_id) < 0)
			return OUT_RETRY;
		c->rollback_by = ROLLBACK_BY_CODEDEPLOY;
		r->said_rollback = true;
		rollout_emit(r, LOG_WARNING, EVENT_ROLLBACK_STARTED,
			     LOG_FIELDS({ "ROLLBACK_DEPLOYMENT_ID", c->rollback_deployment_id }),
			     "CodeDeploy rolls service '%s' back to %s (rollback deployment %s); "
			     "following it",
			     c->service, c->base_td, c->rollback_deployment_id);
		return STEP_CD_RB_TRACKING;
	case CD_WAIT_ROLLBACK:
		r->next_at = ev_now(r->dp->d->loop) + 1.0;
		return OUT_WAIT;
	case CD_KEEP:
	case CD_READY:
		if (rollout_wait_for_sent(r, c->stop_sent_at, "stop of our deployment"))
			return OUT_WAIT;
		if (r->stops++ < 2)
			return STEP_CD_STOP;
		snprintf(r->reason, sizeof(r->reason),
			 "CodeDeploy deployment %s does not stop (%s)", c->cd_deployment_id,
			 out.status);
		return OUT_ROLLBACK_FAILED;
	case CD_MISSING:
	case CD_ANOMALY:
	case CD_TIMEOUT:
		snprintf(r->reason, sizeof(r->reason), "after our stop: %s", out.reason);
		return OUT_ROLLBACK_FAILED;
	default:
		break;
	}
	/* Ended without CodeDeploy's rollback (succeeded before the stop took, or stopped
	 * without one): ours, a deployment of the revision that ran before. */
	if (!c->rollback) {
		rollout_emit(
		    r, LOG_NOTICE, NULL, NULL,
		    "service '%s': our stop of CodeDeploy deployment %s took (%s); rollback "
		    "is off for this target: the service stays as CodeDeploy left it",
		    c->service, c->cd_deployment_id, out.reason);
		return OUT_END;
	}
	rollout_emit(r, LOG_WARNING, NULL, NULL,
		     "service '%s': CodeDeploy did not roll back (%s); deploying the revision that "
		     "ran before, %s",
		     c->service, out.reason, c->base_td);
	c->rollback_by = ROLLBACK_BY_US;
	c->rollback_deadline = rollout_wall_now() + (double)c->timeout_ms / 1000.0;
	if (new_token(&c->cd_rb_token) < 0)
		return OUT_RETRY;
	r->said_rollback = true; /* said: the rollback step says where to */
	return STEP_ROLLBACK;
}

/* cd-rollback-tracking: CodeDeploy's rollback deployment (or ours). */
int cd_read_rb_tracking(struct rollout *r, struct aws_result *res)
{
	struct rollout_rec *c = r->rec;
	struct cd_result out;

	if (!res || !c->rollback_deployment_id || !*c->rollback_deployment_id) {
		snprintf(r->reason, sizeof(r->reason),
			 "the rollout record at step '%s' names no rollback deployment to follow",
			 record_step_name(c->step));
		return OUT_ROLLBACK_FAILED;
	}
	struct cd_input in = { .info = cdtrack_info(res->body, c->rollback_deployment_id),
			       .now = rollout_wall_now(),
			       .deadline = c->rollback_deadline,
			       .appear_by = c->rollback_deadline };
	cdtrack_rollback_verdict(&in, &out);
	snprintf(r->reason, sizeof(r->reason), "%s", out.reason);
	switch (out.verdict) {
	case CD_KEEP:
		return OUT_WAIT;
	case CD_DONE:
		return OUT_ROLLED_BACK;
	default:
		return OUT_ROLLBACK_FAILED;
	}
}

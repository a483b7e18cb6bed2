/* SPDX-License-Identifier: MIT */
/*
 * --approve / --reject: a few AWS calls on a loop of their own, as a step machine (one enum, one
 * request builder and one reader per step, one dispatcher); see approve.h.
 */
#include "approve.h"

#include <cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "aws.h"
#include "cdtrack.h"
#include "config.h"
#include "credentials.h"
#include "endpoint.h"
#include "escape.h"
#include "http.h"
#include "profile.h"
#include "sigv4.h"

#define MAX_CANDIDATES 50   /* targets listed for an unknown or ambiguous name */
#define ARN_MAX        2048 /* longer is not an ARN ECS gives */
#define HOOK_ID_MAX    256

enum approve_step {
	STEP_SERVICE,    /* DescribeServices: currentServiceDeployment */
	STEP_DEPLOYMENT, /* DescribeServiceDeployments: the PAUSE hook awaiting action */
	STEP_CONTINUE,   /* ContinueServiceDeployment */
	STEP_CD_LIST,    /* strategy codedeploy: ListDeployments of the group, status Ready */
	STEP_CD_ANSWER,  /* ContinueDeployment(READY_WAIT), or StopDeployment with rollback */
	STEP_COUNT,
};

/* What a reader returns besides a step: the command is over with a->rc. */
#define STEP_END (-1)

struct approve {
	struct ev_loop *loop;
	struct http_client *http;
	struct sigv4_signer *signer;
	struct cred_provider *base, *role; /* role: the target's role_arn assumed, or NULL */
	struct aws_client *aws;
	const struct config_target *t;
	enum approve_action action;
	char region[64];      /* the target's: its cluster ARN's, else the configured one */
	const char *cluster;  /* as configured (a name or an ARN) */
	const char *service;  /* as configured */
	const char *svc_name; /* the service's name (after the last '/') */
	char deployment[ARN_MAX + 1];
	char hook[HOOK_ID_MAX + 1];
	char stage[64];
	char cd_id[CD_ID_MAX + 1]; /* the Ready CodeDeploy deployment */
	enum approve_step step;
	int rc;
};

static const char *const step_operation[STEP_COUNT] = {
	[STEP_SERVICE] = "DescribeServices",
	[STEP_DEPLOYMENT] = "DescribeServiceDeployments",
	[STEP_CONTINUE] = "ContinueServiceDeployment",
	[STEP_CD_LIST] = "ListDeployments",
	[STEP_CD_ANSWER] = "ContinueDeployment",
};

/* The operation a step sends (a rejection of a CodeDeploy deployment stops it). */
static const char *operation_of(const struct approve *a)
{
	if (a->step == STEP_CD_ANSWER && a->action == APPROVE_ROLLBACK)
		return "StopDeployment";
	return step_operation[a->step];
}

/* ---- naming a target ------------------------------------------------------ */

static const char *last_part(const char *s)
{
	const char *slash = strrchr(s, '/');

	return slash ? slash + 1 : s;
}

/* Whether name is a/b: the part before name's first '/' is a, the rest is b. */
static bool is_pair(const char *name, const char *a, const char *b)
{
	size_t n = strlen(a);

	return !strncmp(name, a, n) && name[n] == '/' && !strcmp(name + n + 1, b);
}

static bool answers_to(const struct config_watch *w, const struct config_target *t,
		       const char *name)
{
	const char *svc = last_part(t->service);

	if (!strchr(name, '/'))
		return !strcmp(name, svc);
	return is_pair(name, w->name, svc) || is_pair(name, last_part(t->cluster), svc);
}

static void print_candidate(FILE *err, const struct config_watch *w, const struct config_target *t)
{
	char wn[256], sn[256], cn[256];

	fprintf(err, "  %s/%s (cluster '%s')\n", escape_bounded(w->name, 120, wn, sizeof(wn), 0),
		escape_bounded(last_part(t->service), 120, sn, sizeof(sn), 0),
		escape_bounded(t->cluster, 200, cn, sizeof(cn), ESCAPE_SQUOTE | ESCAPE_BACKSLASH));
}

int approve_find_target(const struct config *cfg, const char *name,
			const struct config_watch **ret_w, const struct config_target **ret_t,
			FILE *err)
{
	const struct config_watch *fw = NULL;
	const struct config_target *ft = NULL;
	size_t n = 0;
	char shown[300];

	for (size_t i = 0; i < cfg->n_watches; i++)
		for (size_t j = 0; j < cfg->watches[i].n_targets; j++)
			if (answers_to(&cfg->watches[i], &cfg->watches[i].targets[j], name)) {
				if (!n) {
					fw = &cfg->watches[i];
					ft = &cfg->watches[i].targets[j];
				}
				n++;
			}
	if (n == 1) {
		*ret_w = fw;
		*ret_t = ft;
		return 0;
	}
	if (err) {
		size_t listed = 0;
		escape_bounded(name, 200, shown, sizeof(shown), ESCAPE_SQUOTE | ESCAPE_BACKSLASH);
		if (n)
			fprintf(
			    err,
			    "ecr-deployd: target '%s' is ambiguous: %zu targets answer to it; name "
			    "one as WATCH/SERVICE or CLUSTER/SERVICE:\n",
			    shown, n);
		else
			fprintf(
			    err,
			    "ecr-deployd: target '%s' is not in the configuration; its targets "
			    "are (WATCH/SERVICE, or CLUSTER/SERVICE, or SERVICE when unique):\n",
			    shown);
		for (size_t i = 0; i < cfg->n_watches; i++)
			for (size_t j = 0; j < cfg->watches[i].n_targets; j++) {
				const struct config_watch *w = &cfg->watches[i];
				if (n && !answers_to(w, &w->targets[j], name))
					continue;
				if (listed++ < MAX_CANDIDATES)
					print_candidate(err, w, &w->targets[j]);
			}
		if (!listed)
			fprintf(err, "  (none)\n");
		else if (listed > MAX_CANDIDATES)
			fprintf(err, "  ... and %zu more\n", listed - MAX_CANDIDATES);
	}
	return n ? -EEXIST : -ENOENT;
}

/* Levenshtein distance of a and b, each counted up to NAME_CMP_MAX bytes. */
#define NAME_CMP_MAX 128
static size_t distance(const char *a, const char *b)
{
	size_t la = strnlen(a, NAME_CMP_MAX), lb = strnlen(b, NAME_CMP_MAX);
	size_t row[NAME_CMP_MAX + 1];

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

struct ranked {
	size_t dist;
	size_t order; /* config order, for equal distances */
	char name[520];
};

/* Keeps the APPROVE_CANDIDATES closest in best (n of them so far). */
static void rank(struct ranked *best, size_t *n, size_t dist, size_t order, const char *a,
		 const char *b)
{
	size_t at = *n;

	while (at > 0 && (best[at - 1].dist > dist ||
			  (best[at - 1].dist == dist && best[at - 1].order > order)))
		at--;
	if (at >= APPROVE_CANDIDATES)
		return;
	if (*n < APPROVE_CANDIDATES)
		(*n)++;
	memmove(&best[at + 1], &best[at], (*n - 1 - at) * sizeof(*best));
	best[at].dist = dist;
	best[at].order = order;
	if (b)
		snprintf(best[at].name, sizeof(best[at].name), "%.255s/%.255s", a, b);
	else
		snprintf(best[at].name, sizeof(best[at].name), "%.255s", a);
}

static cJSON *ranked_array(const struct ranked *best, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < n; i++)
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(best[i].name))) {
			cJSON_Delete(a);
			return NULL;
		}
	return a;
}

int approve_match_target(const struct config *cfg, const char *name,
			 const struct config_watch **ret_w, const struct config_target **ret_t,
			 cJSON **ret_candidates)
{
	struct ranked best[APPROVE_CANDIDATES + 1];
	size_t n_best = 0, order = 0;
	int r = approve_find_target(cfg, name, ret_w, ret_t, NULL);

	if (r == 0 || !ret_candidates)
		return r;
	for (size_t i = 0; i < cfg->n_watches; i++)
		for (size_t j = 0; j < cfg->watches[i].n_targets; j++, order++) {
			const struct config_watch *w = &cfg->watches[i];
			const struct config_target *t = &w->targets[j];
			const char *svc = last_part(t->service);
			size_t d;
			if (r == -EEXIST) {
				if (answers_to(w, t, name))
					rank(best, &n_best, 0, order, w->name, svc);
				continue;
			}
			/* the closest of the three ways to name it */
			char other[520];
			d = distance(name, svc);
			snprintf(other, sizeof(other), "%.255s/%.255s", w->name, svc);
			size_t d2 = distance(name, other);
			d = d2 < d ? d2 : d;
			snprintf(other, sizeof(other), "%.255s/%.255s", last_part(t->cluster), svc);
			d2 = distance(name, other);
			d = d2 < d ? d2 : d;
			rank(best, &n_best, d, order, w->name, svc);
		}
	*ret_candidates = ranked_array(best, n_best);
	return r;
}

int approve_match_watch(const struct config *cfg, const char *name,
			const struct config_watch **ret_w, cJSON **ret_candidates)
{
	struct ranked best[APPROVE_CANDIDATES + 1];
	size_t n_best = 0;

	for (size_t i = 0; i < cfg->n_watches; i++)
		if (!strcmp(cfg->watches[i].name, name)) {
			*ret_w = &cfg->watches[i];
			return 0;
		}
	if (ret_candidates) {
		for (size_t i = 0; i < cfg->n_watches; i++)
			rank(best, &n_best, distance(name, cfg->watches[i].name), i,
			     cfg->watches[i].name, NULL);
		*ret_candidates = ranked_array(best, n_best);
	}
	return -ENOENT;
}

/* ---- the steps ------------------------------------------------------------ */

static const char *str_in(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* The region an ECS ARN names (arn:partition:ecs:REGION:account:...) into out, if it names one. */
static void arn_region(const char *arn, char *out, size_t n)
{
	const char *p = arn;

	if (strncmp(arn, "arn:", 4))
		return;
	for (int i = 0; i < 3 && p; i++)
		p = strchr(p + 1, ':');
	if (!p)
		return;
	const char *e = strchr(p + 1, ':');
	if (e && e - p - 1 > 0 && (size_t)(e - p - 1) < n)
		snprintf(out, n, "%.*s", (int)(e - p - 1), p + 1);
}

/* Outside text made printable: up to max bytes of s, escaped, for a value in single quotes. */
static const char *shown(const char *s, size_t max, char *out, size_t n)
{
	return escape_bounded(s, max, out, n, ESCAPE_SQUOTE | ESCAPE_BACKSLASH);
}

static void say_service(const struct approve *a, FILE *f)
{
	char s[300], c[300];

	fprintf(f, "service '%s' (cluster '%s', %s)", shown(a->svc_name, 120, s, sizeof(s)),
		shown(last_part(a->cluster), 120, c, sizeof(c)), a->region);
}

static cJSON *params_of(const struct approve *a)
{
	cJSON *p = cJSON_CreateObject();
	bool ok = p != NULL;

	switch (a->step) {
	case STEP_SERVICE:
		ok = ok && cJSON_AddStringToObject(p, "cluster", a->cluster) &&
		     cJSON_AddItemToObject(p, "services", cJSON_CreateStringArray(&a->service, 1));
		break;
	case STEP_DEPLOYMENT: {
		const char *arn = a->deployment;
		ok = ok && cJSON_AddItemToObject(p, "serviceDeploymentArns",
						 cJSON_CreateStringArray(&arn, 1));
		break;
	}
	case STEP_CONTINUE:
		ok = ok && cJSON_AddStringToObject(p, "serviceDeploymentArn", a->deployment) &&
		     cJSON_AddStringToObject(p, "hookId", a->hook) &&
		     cJSON_AddStringToObject(
			 p, "action", a->action == APPROVE_CONTINUE ? "CONTINUE" : "ROLLBACK");
		break;
	case STEP_CD_LIST: {
		const char *ready = "Ready";
		ok = ok && cJSON_AddStringToObject(p, "applicationName", a->t->cd_application) &&
		     cJSON_AddStringToObject(p, "deploymentGroupName", a->t->cd_group) &&
		     cJSON_AddItemToObject(p, "includeOnlyStatuses",
					   cJSON_CreateStringArray(&ready, 1));
		break;
	}
	case STEP_CD_ANSWER:
		ok = ok && cJSON_AddStringToObject(p, "deploymentId", a->cd_id) &&
		     (a->action == APPROVE_CONTINUE
			  ? cJSON_AddStringToObject(p, "deploymentWaitType", "READY_WAIT") != NULL
			  : cJSON_AddBoolToObject(p, "autoRollbackEnabled", 1) != NULL);
		break;
	default:
		ok = false;
	}
	if (!ok) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

/* A failures[] entry of a Describe* reply for what was asked, said as an AWS error. */
static int say_failure(struct approve *a, const cJSON *body, const char *what, const char *value)
{
	const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(body, "failures"), 0);
	char v[ARN_MAX + 64], r[300], d[300];

	fprintf(stderr, "ecr-deployd: %s: ", step_operation[a->step]);
	say_service(a, stderr);
	fprintf(stderr, ": %s '%s' not found: %s%s%s\n", what, shown(value, ARN_MAX, v, sizeof(v)),
		f ? shown(str_in(f, "reason"), 120, r, sizeof(r)) : "not in the reply",
		f && str_in(f, "detail") ? ": " : "",
		f && str_in(f, "detail") ? shown(str_in(f, "detail"), 200, d, sizeof(d)) : "");
	a->rc = EX_UNAVAILABLE;
	return STEP_END;
}

static int read_service(struct approve *a, const cJSON *body)
{
	const cJSON *s, *svc = NULL;

	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(body, "services"))
	{
		const char *name = str_in(s, "serviceName"), *arn = str_in(s, "serviceArn");
		if ((name && !strcmp(name, a->svc_name)) || (arn && !strcmp(arn, a->service)))
			svc = s;
	}
	if (!svc)
		return say_failure(a, body, "service", a->svc_name);
	const char *arn = str_in(svc, "currentServiceDeployment");
	if (!arn || strncmp(arn, "arn:", 4) || strlen(arn) > ARN_MAX) {
		char v[300];
		fprintf(stderr, "ecr-deployd: ");
		say_service(a, stderr);
		fprintf(stderr,
			": ECS names no service deployment in progress (currentServiceDeployment "
			"%s%s%s); no PAUSE hook to answer, nothing sent\n",
			arn ? "'" : "", arn ? shown(arn, 120, v, sizeof(v)) : "absent",
			arn ? "'" : "");
		a->rc = 1;
		return STEP_END;
	}
	snprintf(a->deployment, sizeof(a->deployment), "%s", arn);
	return STEP_DEPLOYMENT;
}

static int read_deployment(struct approve *a, const cJSON *body)
{
	const cJSON *d, *sd = NULL, *h;
	char v[ARN_MAX + 64], st[200], sg[200];

	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(body, "serviceDeployments"))
	{
		const char *arn = str_in(d, "serviceDeploymentArn");
		if (arn && !strcmp(arn, a->deployment))
			sd = d;
	}
	if (!sd)
		return say_failure(a, body, "service deployment", a->deployment);
	const char *status = str_in(sd, "status"), *stage = str_in(sd, "lifecycleStage");
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(sd, "lifecycleHookDetails"))
	{
		const char *id = str_in(h, "hookId"), *type = str_in(h, "targetType"),
			   *hs = str_in(h, "status");
		if (!id || !*id || strlen(id) > HOOK_ID_MAX || !type || strcmp(type, "PAUSE") ||
		    !hs || strcmp(hs, "AWAITING_ACTION"))
			continue;
		snprintf(a->hook, sizeof(a->hook), "%s", id);
		shown(stage ? stage : "(none)", 60, a->stage, sizeof(a->stage));
		return STEP_CONTINUE;
	}
	fprintf(stderr, "ecr-deployd: ");
	say_service(a, stderr);
	fprintf(stderr,
		": deployment '%s' is %s, stage %s; no PAUSE hook awaits action, nothing sent\n",
		shown(a->deployment, ARN_MAX, v, sizeof(v)),
		status ? shown(status, 60, st, sizeof(st)) : "(no status)",
		stage ? shown(stage, 60, sg, sizeof(sg)) : "(none)");
	a->rc = 1;
	return STEP_END;
}

static int read_continued(struct approve *a, const cJSON *body)
{
	char v[ARN_MAX + 64], hk[HOOK_ID_MAX * 4 + 8];

	(void)body;
	printf("%s: ", a->action == APPROVE_CONTINUE ? "approved" : "rejected");
	say_service(a, stdout);
	printf(": deployment '%s', PAUSE hook '%s' at %s: ContinueServiceDeployment %s sent\n",
	       shown(a->deployment, ARN_MAX, v, sizeof(v)),
	       shown(a->hook, HOOK_ID_MAX, hk, sizeof(hk)), a->stage,
	       a->action == APPROVE_CONTINUE ? "CONTINUE" : "ROLLBACK");
	fflush(stdout);
	a->rc = 0;
	return STEP_END;
}

/* The deployment group's one deployment in status Ready (waiting for its traffic to be
 * rerouted): a group runs one deployment at a time. */
static int read_cd_list(struct approve *a, const cJSON *body)
{
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(body, "deployments");
	const char *id = cJSON_GetStringValue(cJSON_GetArrayItem(ids, 0));
	char g[300], v[300];

	if (cJSON_GetArraySize(ids) != 1 || !cdtrack_id_valid(id)) {
		fprintf(stderr, "ecr-deployd: ");
		say_service(a, stderr);
		if (cJSON_GetArraySize(ids) > 1)
			fprintf(stderr,
				": CodeDeploy names %d deployments of group '%s' as Ready; "
				"nothing sent\n",
				cJSON_GetArraySize(ids), shown(a->t->cd_group, 120, g, sizeof(g)));
		else if (id && *id)
			fprintf(stderr,
				": CodeDeploy names '%s' as the Ready deployment, which is not a "
				"deployment id; nothing sent\n",
				shown(id, 120, v, sizeof(v)));
		else
			fprintf(stderr,
				": no deployment of CodeDeploy group '%s' is Ready (waiting for "
				"its traffic to be rerouted); nothing sent\n",
				shown(a->t->cd_group, 120, g, sizeof(g)));
		a->rc = 1;
		return STEP_END;
	}
	snprintf(a->cd_id, sizeof(a->cd_id), "%s", id);
	return STEP_CD_ANSWER;
}

static int read_cd_answered(struct approve *a, const cJSON *body)
{
	char v[CD_ID_MAX * 4 + 8];

	(void)body;
	printf("%s: ", a->action == APPROVE_CONTINUE ? "approved" : "rejected");
	say_service(a, stdout);
	printf(": CodeDeploy deployment '%s' (Ready): %s sent\n",
	       shown(a->cd_id, CD_ID_MAX, v, sizeof(v)),
	       a->action == APPROVE_CONTINUE ? "ContinueDeployment READY_WAIT"
					     : "StopDeployment with autoRollbackEnabled");
	fflush(stdout);
	a->rc = 0;
	return STEP_END;
}

static int (*const step_read[STEP_COUNT])(struct approve *, const cJSON *) = {
	[STEP_SERVICE] = read_service,       [STEP_DEPLOYMENT] = read_deployment,
	[STEP_CONTINUE] = read_continued,    [STEP_CD_LIST] = read_cd_list,
	[STEP_CD_ANSWER] = read_cd_answered,
};

/* ---- the engine ----------------------------------------------------------- */

static void on_reply(struct aws_result *res, void *userdata);

static void send_step(struct approve *a)
{
	cJSON *params = params_of(a);
	bool cd = a->step == STEP_CD_LIST || a->step == STEP_CD_ANSWER;
	struct aws_call_spec spec = { .service = cd ? &aws_codedeploy : &aws_ecs,
				      .operation = operation_of(a),
				      .params = params,
				      .creds = a->role,
				      .region = a->region,
				      /* a lost reply is not retried blindly: the operator runs the
				       * command again, which reads where the deployment stands */
				      .not_idempotent =
					  a->step == STEP_CONTINUE || a->step == STEP_CD_ANSWER };
	int r = params ? aws_call(a->aws, &spec, on_reply, a, NULL) : -ENOMEM;

	cJSON_Delete(params);
	if (r < 0) {
		fprintf(stderr, "ecr-deployd: cannot call %s in %s: %s\n", operation_of(a),
			a->region,
			r == -ENOMEM ? "out of memory"
			: cd         ? "no CodeDeploy endpoint for the region"
				     : "no ECS endpoint for the region");
		a->rc = r == -ENOMEM ? EX_OSERR : EX_UNAVAILABLE;
		ev_break(a->loop, EVBREAK_ALL);
	}
}

static void say_error(struct approve *a, const struct aws_result *res)
{
	char msg[1200], code[300], action[128];

	fprintf(stderr, "ecr-deployd: %s: ", res->operation);
	say_service(a, stderr);
	fprintf(stderr, ": %s: %s", shown(res->err.code, 128, code, sizeof(code)),
		shown(res->err.message, sizeof(res->err.message), msg, sizeof(msg)));
	if (res->err.request_id[0])
		fprintf(stderr, " (request id %s)",
			shown(res->err.request_id, 128, code, sizeof(code)));
	if (aws_error_classify(&res->err) == AWS_ERROR_AUTH &&
	    aws_error_action(&res->err, action, sizeof(action)))
		fprintf(stderr, "; the identity needs %s", action);
	fprintf(stderr, "\n");
}

static void on_reply(struct aws_result *res, void *userdata)
{
	struct approve *a = userdata;
	int next;

	if (!res->ok) {
		say_error(a, res);
		a->rc = EX_UNAVAILABLE;
		next = STEP_END;
	} else {
		next = step_read[a->step](a, res->body);
	}
	if (next == STEP_END) {
		ev_break(a->loop, EVBREAK_ALL);
		return;
	}
	a->step = (enum approve_step)next;
	send_step(a);
}

/* The AWS client stack, as the daemon's setup() and rollout_new() build it. */
static int setup(struct approve *a, const struct config *cfg)
{
	struct http_client_options ho = { .ca_bundle = cfg->ca_bundle };
	struct aws_options ao = { 0 };
	char why[512] = "", region[64];
	const char *src = NULL, *w = NULL;

	if (profile_region(cfg->region, cfg->profile, region, sizeof(region), &src, why,
			   sizeof(why)) < 0) {
		fprintf(stderr, "ecr-deployd: %s\n", why);
		return EX_CONFIG;
	}
	if (!endpoint_valid_region(region)) {
		fprintf(stderr, "ecr-deployd: region '%s' (from %s) is not an AWS region name\n",
			region, src);
		return EX_CONFIG;
	}
	snprintf(a->region, sizeof(a->region), "%s", region);
	arn_region(a->cluster, a->region, sizeof(a->region));
	if (!endpoint_valid_region(a->region)) {
		char c[300];
		fprintf(stderr, "ecr-deployd: cluster '%s' names no AWS region\n",
			shown(a->cluster, 200, c, sizeof(c)));
		return EX_CONFIG;
	}
	ao.region = region;
	ao.fips = cfg->fips;
	for (int i = 0; i < AWS_SERVICE_COUNT; i++)
		ao.endpoints[i] = cfg->endpoints[i];
	a->http = http_client_new(a->loop, &ho);
	a->signer = sigv4_signer_new();
	struct cred_options co = { a->loop,   a->http,
				   a->signer, cfg->profile,
				   region,    cfg->endpoints[AWS_SERVICE_STS],
				   0 };
	a->base = a->http && a->signer ? cred_chain_new(&co) : NULL;
	if (a->base && a->t->role_arn && *a->t->role_arn) {
		a->role = cred_assume_role_new(a->base, a->t->role_arn, "ecr-deployd", &co);
		if (!a->role) {
			cred_provider_free(a->base);
			a->base = NULL;
		}
	}
	a->aws = a->base ? aws_client_new(a->loop, a->http, a->signer, a->base, &ao, &w) : NULL;
	if (!a->aws) {
		fprintf(stderr, "ecr-deployd: cannot set up the AWS client: %s\n",
			w ? w : "out of memory");
		return EX_OSERR;
	}
	return EX_OK;
}

int approve_run(const struct config *cfg, const char *target, enum approve_action action)
{
	const struct config_watch *w;
	const struct config_target *t;
	struct approve a = { .action = action, .rc = EX_SOFTWARE };
	int rc;

	if (approve_find_target(cfg, target, &w, &t, stderr) < 0)
		return EX_USAGE;
	a.t = t;
	a.cluster = t->cluster;
	a.service = t->service;
	a.svc_name = last_part(t->service);
	a.loop = ev_loop_new(EVFLAG_AUTO);
	if (!a.loop) {
		fprintf(stderr, "ecr-deployd: no event loop\n");
		return EX_OSERR;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = setup(&a, cfg);
	if (rc == EX_OK && t->strategy == STRATEGY_CODEDEPLOY &&
	    !(t->cd_application && t->cd_group)) {
		char sn[300];
		fprintf(
		    stderr,
		    "ecr-deployd: %s: the target names no CodeDeploy application and deployment "
		    "group (\"codedeploy\": {\"application\", \"deployment_group\"}), and "
		    "this command does not search for them; nothing sent. The running daemon "
		    "knows the group it found: ecr-deployctl %s %s\n",
		    shown(target, 200, sn, sizeof(sn)),
		    action == APPROVE_CONTINUE ? "approve" : "reject", sn);
		rc = EX_CONFIG;
	} else if (rc == EX_OK) {
		a.step = t->strategy == STRATEGY_CODEDEPLOY ? STEP_CD_LIST : STEP_SERVICE;
		send_step(&a);
		if (a.rc == EX_SOFTWARE) /* not failed at once */
			ev_run(a.loop, 0);
		rc = a.rc;
	}
	aws_client_free(a.aws);
	cred_provider_free(a.role);
	cred_provider_free(a.base);
	sigv4_signer_free(a.signer);
	http_client_free(a.http);
	ev_loop_destroy(a.loop);
	return rc;
}

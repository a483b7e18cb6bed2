/* SPDX-License-Identifier: MIT */
/* Strategy codedeploy's pure parts; see cdtrack.h. */
#include "cdtrack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecs.h"

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

static bool same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

bool cdtrack_id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n < CD_ID_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* The PRIMARY task set of a service, or NULL. */
static const cJSON *primary_set(const cJSON *svc)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, cJSON_GetObjectItem(svc, "taskSets"))
	{
		if (same(str_of(x, "status"), "PRIMARY"))
			return x;
	}
	return NULL;
}

const char *cdtrack_base_td(const cJSON *svc)
{
	return str_of(primary_set(svc), "taskDefinition") ?: str_of(svc, "taskDefinition");
}

static int lb_of(const cJSON *o, const char **container, long *port)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "loadBalancers"))
	{
		const char *c = str_of(x, "containerName");
		const cJSON *p = cJSON_GetObjectItem(x, "containerPort");
		if (c && *c && cJSON_IsNumber(p) && p->valuedouble >= 1 &&
		    p->valuedouble <= 65535) {
			*container = c;
			*port = (long)p->valuedouble;
			return 0;
		}
	}
	return -ENOENT;
}

int cdtrack_lb(const cJSON *svc, const char **container, long *port)
{
	if (lb_of(svc, container, port) == 0)
		return 0;
	return lb_of(primary_set(svc), container, port);
}

/* A copy of an array of strings (each string), or NULL when it is not one. */
static cJSON *strings(const cJSON *a)
{
	const cJSON *x;
	cJSON *out;

	if (!cJSON_IsArray(a))
		return NULL;
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(x, a)
	{
		if (!out || !cJSON_IsString(x) ||
		    !cJSON_AddItemToArray(out, cJSON_CreateString(x->valuestring))) {
			cJSON_Delete(out);
			return NULL;
		}
	}
	return out;
}

static int print_to(cJSON *o, char **ret)
{
	*ret = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return *ret ? 0 : -ENOMEM;
}

static int network_of(const cJSON *nc, char **ret, char *why, size_t why_len)
{
	const cJSON *a = cJSON_GetObjectItem(nc, "awsvpcConfiguration");
	cJSON *o = cJSON_CreateObject(),
	      *v = o ? cJSON_AddObjectToObject(o, "AwsvpcConfiguration") : NULL;
	cJSON *subnets = strings(cJSON_GetObjectItem(a, "subnets"));
	const cJSON *sg = cJSON_GetObjectItem(a, "securityGroups");
	const char *pub = str_of(a, "assignPublicIp");

	if (!cJSON_IsObject(a) || !subnets || (sg && !cJSON_IsArray(sg)) ||
	    (cJSON_GetObjectItem(a, "assignPublicIp") && !same(pub, "ENABLED") &&
	     !same(pub, "DISABLED"))) {
		cJSON_Delete(subnets);
		cJSON_Delete(o);
		snprintf(why, why_len,
			 "its networkConfiguration.awsvpcConfiguration is not {subnets, "
			 "securityGroups, assignPublicIp ENABLED|DISABLED}");
		return -EINVAL;
	}
	if (!v || !cJSON_AddItemToObject(v, "Subnets", subnets)) {
		cJSON_Delete(subnets);
		cJSON_Delete(o);
		return -ENOMEM;
	}
	if (sg) {
		cJSON *s = strings(sg);
		if (!s) {
			cJSON_Delete(o);
			snprintf(why, why_len,
				 "its networkConfiguration's securityGroups are not strings");
			return -EINVAL;
		}
		if (!cJSON_AddItemToObject(v, "SecurityGroups", s)) {
			cJSON_Delete(s);
			cJSON_Delete(o);
			return -ENOMEM;
		}
	}
	if (pub && !cJSON_AddStringToObject(v, "AssignPublicIp", pub)) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	return print_to(o, ret);
}

static int capacity_of(const cJSON *cps, char **ret, char *why, size_t why_len)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *x;

	cJSON_ArrayForEach(x, cps)
	{
		const char *cp = str_of(x, "capacityProvider");
		const cJSON *base = cJSON_GetObjectItem(x, "base"),
			    *weight = cJSON_GetObjectItem(x, "weight");
		cJSON *e;
		if (!cp || !*cp || (base && !cJSON_IsNumber(base)) ||
		    (weight && !cJSON_IsNumber(weight))) {
			cJSON_Delete(out);
			snprintf(why, why_len,
				 "its capacityProviderStrategy is not [{capacityProvider, base, "
				 "weight}]");
			return -EINVAL;
		}
		e = cJSON_CreateObject();
		if (!out || !e || !cJSON_AddStringToObject(e, "CapacityProvider", cp) ||
		    (base && !cJSON_AddNumberToObject(e, "Base", base->valuedouble)) ||
		    (weight && !cJSON_AddNumberToObject(e, "Weight", weight->valuedouble)) ||
		    !cJSON_AddItemToArray(out, e)) {
			cJSON_Delete(e);
			cJSON_Delete(out);
			return -ENOMEM;
		}
	}
	return print_to(out, ret);
}

int cdtrack_appspec_keys(const cJSON *svc, char **platform, char **network, char **capacity,
			 char *why, size_t why_len)
{
	const cJSON *set = primary_set(svc);
	const cJSON *pv = cJSON_GetObjectItem(svc, "platformVersion")
			      ?: cJSON_GetObjectItem(set, "platformVersion");
	const cJSON *nc = cJSON_GetObjectItem(svc, "networkConfiguration")
			      ?: cJSON_GetObjectItem(set, "networkConfiguration");
	const cJSON *cps = cJSON_GetObjectItem(svc, "capacityProviderStrategy");
	int rc = 0;

	*platform = *network = *capacity = NULL;
	if (!cJSON_GetArraySize(cps))
		cps = cJSON_GetObjectItem(set, "capacityProviderStrategy");
	if (pv && !cJSON_IsNull(pv)) {
		if (!cJSON_IsString(pv) || !*pv->valuestring) {
			snprintf(why, why_len, "its platformVersion is not a string");
			return -EINVAL;
		}
		if (!(*platform = strdup(pv->valuestring)))
			return -ENOMEM;
	}
	if (nc && !cJSON_IsNull(nc))
		rc = network_of(nc, network, why, why_len);
	if (!rc && cJSON_GetArraySize(cps) > 0)
		rc = capacity_of(cps, capacity, why, why_len);
	else if (!rc && cps && !cJSON_IsArray(cps) && !cJSON_IsNull(cps)) {
		snprintf(why, why_len, "its capacityProviderStrategy is not an array");
		rc = -EINVAL;
	}
	if (rc) {
		free(*platform);
		free(*network);
		free(*capacity);
		*platform = *network = *capacity = NULL;
	}
	return rc;
}

int cdtrack_appspec(const struct cd_appspec *in, char **ret, char *why, size_t why_len)
{
	cJSON *o = cJSON_CreateObject(), *res, *ts, *props, *lb, *x;

	*ret = NULL;
	if (!in->td || !*in->td || !in->container || !*in->container || in->port < 1 ||
	    in->port > 65535) {
		cJSON_Delete(o);
		snprintf(why, why_len,
			 "the AppSpec lacks the task definition or the container/port");
		return -EINVAL;
	}
	if (!o || !cJSON_AddNumberToObject(o, "version", 0.0) ||
	    !(res = cJSON_AddArrayToObject(o, "Resources")) ||
	    !cJSON_AddItemToArray(res, x = cJSON_CreateObject()) ||
	    !(ts = cJSON_AddObjectToObject(x, "TargetService")) ||
	    !cJSON_AddStringToObject(ts, "Type", "AWS::ECS::Service") ||
	    !(props = cJSON_AddObjectToObject(ts, "Properties")) ||
	    !cJSON_AddStringToObject(props, "TaskDefinition", in->td) ||
	    !(lb = cJSON_AddObjectToObject(props, "LoadBalancerInfo")) ||
	    !cJSON_AddStringToObject(lb, "ContainerName", in->container) ||
	    !cJSON_AddNumberToObject(lb, "ContainerPort", (double)in->port) ||
	    (in->platform && !cJSON_AddStringToObject(props, "PlatformVersion", in->platform))) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	const char *json[2] = { in->network, in->capacity };
	const char *key[2] = { "NetworkConfiguration", "CapacityProviderStrategy" };
	for (int i = 0; i < 2; i++) {
		if (!json[i])
			continue;
		cJSON *v = cJSON_Parse(json[i]);
		if (!v || (i == 0 ? !cJSON_IsObject(v) : !cJSON_IsArray(v))) {
			cJSON_Delete(v);
			cJSON_Delete(o);
			snprintf(why, why_len, "the rollout record's %s is not JSON of its shape",
				 key[i]);
			return -EINVAL;
		}
		if (!cJSON_AddItemToObject(props, key[i], v)) {
			cJSON_Delete(v);
			cJSON_Delete(o);
			return -ENOMEM;
		}
	}
	return print_to(o, ret);
}

void cdtrack_description(const char *token, const char *digest, const char *watch, char *out,
			 size_t n)
{
	snprintf(out, n, "ecr-deployd %s %s for %.100s", token, digest, watch);
}

bool cdtrack_find_token(const cJSON *body, const char *token, char *id, size_t n)
{
	char prefix[64];
	const cJSON *x;

	if (!token || strlen(token) != 16)
		return false;
	snprintf(prefix, sizeof(prefix), "ecr-deployd %s ", token);
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(body, "deploymentsInfo"))
	{
		const char *d = str_of(x, "description"), *i = str_of(x, "deploymentId");
		if (d && !strncmp(d, prefix, strlen(prefix)) && cdtrack_id_valid(i)) {
			snprintf(id, n, "%s", i);
			return true;
		}
	}
	return false;
}

const cJSON *cdtrack_info(const cJSON *body, const char *id)
{
	const cJSON *x = cJSON_GetObjectItem(body, "deploymentInfo");

	if (x && same(str_of(x, "deploymentId"), id))
		return x;
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(body, "deploymentsInfo"))
	{
		if (same(str_of(x, "deploymentId"), id))
			return x;
	}
	return NULL;
}

static const char *const statuses[] = { "Created", "Queued",    "InProgress", "Baking",
					"Ready",   "Succeeded", "Failed",     "Stopped" };

static int status_index(const char *s)
{
	for (size_t i = 0; s && i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (!strcmp(s, statuses[i]))
			return (int)i;
	return -1;
}

/*
 * Whether an automatic rollback is configured for this end: Failed with DEPLOYMENT_FAILURE;
 * Stopped with DEPLOYMENT_STOP_ON_REQUEST (a stop by someone) or DEPLOYMENT_FAILURE (CodeDeploy's
 * own stop, at the end of a Ready wait). rollbackInfo may come a moment after the status: the
 * caller waits for it, bounded, before it concludes there is none.
 */
static bool auto_rollback(const cJSON *info, const char *status)
{
	const cJSON *a = cJSON_GetObjectItem(info, "autoRollbackConfiguration"), *e;

	if (!cJSON_IsTrue(cJSON_GetObjectItem(a, "enabled")))
		return false;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(a, "events"))
	{
		const char *ev = cJSON_GetStringValue(e);
		if (same(ev, "DEPLOYMENT_FAILURE") &&
		    (same(status, "Failed") || same(status, "Stopped")))
			return true;
		if (same(ev, "DEPLOYMENT_STOP_ON_REQUEST") && same(status, "Stopped"))
			return true;
	}
	return false;
}

static const char *const ov_keys[6] = { "Pending", "InProgress", "Succeeded",
					"Failed",  "Skipped",    "Ready" };

void cdtrack_overview_text(const int overview[6], char *out, size_t n)
{
	size_t len = 0;

	if (n)
		*out = '\0';
	for (int i = 0; i < 6 && len < n; i++)
		if (overview[i] >= 0)
			len += (size_t)snprintf(out + len, n - len, "%s%s=%d", len ? " " : "",
						ov_keys[i], overview[i]);
}

static void common(const struct cd_input *in, struct cd_result *out, int *st)
{
	const cJSON *info = in->info;
	const cJSON *err = cJSON_GetObjectItem(info, "errorInformation");
	const cJSON *rb = cJSON_GetObjectItem(info, "rollbackInfo");
	const cJSON *ov = cJSON_GetObjectItem(info, "deploymentOverview");
	const char *rid = str_of(rb, "rollbackDeploymentId");

	memset(out, 0, sizeof(*out));
	*st = status_index(str_of(info, "status"));
	if (*st >= 0)
		snprintf(out->status, sizeof(out->status), "%s", statuses[*st]);
	else if (str_of(info, "status"))
		ecs_printable(str_of(info, "status"), out->status, sizeof(out->status));
	if (str_of(err, "code"))
		ecs_printable(str_of(err, "code"), out->error_code, sizeof(out->error_code));
	if (cdtrack_id_valid(rid) && !same(rid, str_of(info, "deploymentId")))
		snprintf(out->rollback_id, sizeof(out->rollback_id), "%s", rid);
	out->ready_stop =
	    same(str_of(cJSON_GetObjectItem(
			    cJSON_GetObjectItem(info, "blueGreenDeploymentConfiguration"),
			    "deploymentReadyOption"),
			"actionOnTimeout"),
		 "STOP_DEPLOYMENT");
	for (int i = 0; i < 6; i++) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(ov, ov_keys[i]);
		out->overview[i] = cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble < 1e9
				       ? (int)n->valuedouble
				       : -1;
	}
}

/* "CODE: message; rollback: message" of the deployment, escaped, into out->reason after what. */
static void say_error(const cJSON *info, struct cd_result *out, const char *what)
{
	const cJSON *err = cJSON_GetObjectItem(info, "errorInformation");
	const cJSON *rb = cJSON_GetObjectItem(info, "rollbackInfo");
	char msg[400] = "", rbm[300] = "";

	if (str_of(err, "message"))
		ecs_printable(str_of(err, "message"), msg, sizeof(msg));
	if (str_of(rb, "rollbackMessage"))
		ecs_printable(str_of(rb, "rollbackMessage"), rbm, sizeof(rbm));
	snprintf(out->reason, sizeof(out->reason), "%s%s%s%s%s%s%s%s", what,
		 *out->error_code || *msg ? " (" : "", out->error_code,
		 *out->error_code && *msg ? ": " : "", msg, *out->error_code || *msg ? ")" : "",
		 *rbm ? "; CodeDeploy: " : "", rbm);
}

void cdtrack_verdict(const struct cd_input *in, struct cd_result *out)
{
	int st;

	common(in, out, &st);
	if (!in->info) {
		out->verdict = in->now < in->appear_by ? CD_KEEP : CD_MISSING;
		snprintf(out->reason, sizeof(out->reason),
			 "CodeDeploy does not list the deployment%s",
			 out->verdict == CD_KEEP ? " yet" : "");
		return;
	}
	if (st < 0) {
		out->verdict = CD_ANOMALY;
		snprintf(out->reason, sizeof(out->reason),
			 "CodeDeploy says the deployment's status is '%s', which ecr-deployd does "
			 "not know",
			 *out->status ? out->status : "(none)");
		return;
	}
	switch (st) {
	case 5: /* Succeeded */
		out->verdict = CD_DONE;
		snprintf(out->reason, sizeof(out->reason), "CodeDeploy: Succeeded");
		return;
	case 6: /* Failed */
	case 7: /* Stopped */
		say_error(in->info, out, st == 6 ? "CodeDeploy: Failed" : "CodeDeploy: Stopped");
		if (*out->rollback_id)
			out->verdict = CD_ROLLBACK;
		else if ((auto_rollback(in->info, out->status) || (st == 7 && in->stopped_by_us)) &&
			 in->now < in->rollback_until)
			out->verdict = CD_WAIT_ROLLBACK;
		else if (st == 7 && !in->stopped_by_us)
			out->verdict = CD_STOPPED;
		else
			out->verdict = CD_FAILED;
		return;
	case 4: /* Ready */
		out->verdict = CD_READY;
		snprintf(out->reason, sizeof(out->reason),
			 "CodeDeploy: Ready (waits for traffic to be rerouted)");
		return;
	default:
		break;
	}
	if (in->deadline > 0 && in->now >= in->deadline) {
		out->verdict = CD_TIMEOUT;
		snprintf(out->reason, sizeof(out->reason), "not complete in time (CodeDeploy: %s)",
			 out->status);
		return;
	}
	out->verdict = CD_KEEP;
	snprintf(out->reason, sizeof(out->reason), "CodeDeploy: %s", out->status);
}

void cdtrack_rollback_verdict(const struct cd_input *in, struct cd_result *out)
{
	int st;

	common(in, out, &st);
	if (!in->info) {
		out->verdict = in->now < in->appear_by ? CD_KEEP : CD_MISSING;
		snprintf(out->reason, sizeof(out->reason),
			 "CodeDeploy does not list the rollback deployment");
		return;
	}
	if (st == 5) {
		out->verdict = CD_DONE;
		snprintf(out->reason, sizeof(out->reason), "CodeDeploy's rollback: Succeeded");
	} else if (st == 6 || st == 7) {
		out->verdict = CD_FAILED;
		say_error(in->info, out,
			  st == 6 ? "CodeDeploy's rollback: Failed"
				  : "CodeDeploy's rollback: Stopped");
	} else if (st < 0) {
		out->verdict = CD_ANOMALY;
		snprintf(
		    out->reason, sizeof(out->reason),
		    "CodeDeploy says the rollback's status is '%s', which ecr-deployd does not "
		    "know",
		    *out->status ? out->status : "(none)");
	} else if (in->deadline > 0 && in->now >= in->deadline) {
		out->verdict = CD_TIMEOUT;
		snprintf(out->reason, sizeof(out->reason),
			 "the rollback did not complete in time (CodeDeploy: %s)", out->status);
	} else {
		out->verdict = CD_KEEP;
		snprintf(out->reason, sizeof(out->reason), "CodeDeploy's rollback: %s",
			 out->status);
	}
}

void cdtrack_target(const cJSON *body, struct cd_target *out)
{
	const cJSON *t, *e;

	memset(out, 0, sizeof(*out));
	out->weight = -1;
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(body, "deploymentTargets"))
	{
		const cJSON *ecs = cJSON_GetObjectItem(t, "ecsTarget");
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(ecs, "lifecycleEvents"))
		{
			const char *name = str_of(e, "lifecycleEventName"),
				   *st = str_of(e, "status");
			if (!name)
				continue;
			if (same(st, "InProgress") && !*out->event)
				ecs_printable(name, out->event, sizeof(out->event));
			if (same(st, "Failed") && !*out->failed_event) {
				const cJSON *d = cJSON_GetObjectItem(e, "diagnostics");
				char code[64] = "", script[96] = "", msg[300] = "", tail[200] = "";
				ecs_printable(name, out->failed_event, sizeof(out->failed_event));
				if (str_of(d, "errorCode"))
					ecs_printable(str_of(d, "errorCode"), code, sizeof(code));
				if (str_of(d, "scriptName"))
					ecs_printable(str_of(d, "scriptName"), script,
						      sizeof(script));
				if (str_of(d, "message"))
					ecs_printable(str_of(d, "message"), msg, sizeof(msg));
				if (str_of(d, "logTail"))
					ecs_printable(str_of(d, "logTail"), tail, sizeof(tail));
				snprintf(out->diagnostics, sizeof(out->diagnostics),
					 "%s%s%s%s%s%s%s%s%s", code, *script ? " in " : "", script,
					 *msg ? ": " : "", msg, *tail ? " (log: " : "", tail,
					 *tail ? ")" : "", "");
			}
		}
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(ecs, "taskSetsInfo"))
		{
			const cJSON *w = cJSON_GetObjectItem(e, "trafficWeight");
			const char *label = str_of(e, "taskSetLabel");
			/* the model's TargetLabel is "Green"; "GREEN" is read too */
			if (label && !strcasecmp(label, "Green") && cJSON_IsNumber(w) &&
			    w->valuedouble >= 0 && w->valuedouble <= 100)
				out->weight = w->valuedouble;
		}
	}
}

/* The last part of an ARN's path (or the name itself). */
static const char *name_of(const char *s)
{
	const char *slash = s ? strrchr(s, '/') : NULL;

	return slash ? slash + 1 : s;
}

int cdtrack_groups_matching(const cJSON *body, const char *cluster, const char *service,
			    void (*found)(const char *app, const char *group, void *ud), void *ud)
{
	const cJSON *g, *s;
	int n = 0;

	cJSON_ArrayForEach(g, cJSON_GetObjectItem(body, "deploymentGroupsInfo"))
	{
		const char *app = str_of(g, "applicationName"),
			   *group = str_of(g, "deploymentGroupName");
		if (!app || !group || !*app || !*group)
			continue;
		cJSON_ArrayForEach(s, cJSON_GetObjectItem(g, "ecsServices"))
		{
			if (same(name_of(str_of(s, "serviceName")), name_of(service)) &&
			    same(name_of(str_of(s, "clusterName")), name_of(cluster))) {
				found(app, group, ud);
				n++;
				break;
			}
		}
	}
	return n;
}

/* SPDX-License-Identifier: MIT */
/*
 * The zero-downtime guard (see guard.h): reads a DescribeServices service
 * and a DescribeTaskDefinition taskDefinition, trusting no type in them, and
 * names each setting that makes a deploy unsafe. Values from AWS reach a
 * finding only as numbers this file formats or as escaped, bounded text.
 */
#include "guard.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"

#define SETTING_MIN "deploymentConfiguration.minimumHealthyPercent"
#define SETTING_MAX "deploymentConfiguration.maximumPercent"
#define SETTING_CB  "deploymentConfiguration.deploymentCircuitBreaker"
#define NAME_SHOWN  60 /* bytes of a container name shown in a setting */
#define VC_BEFORE   "containerDefinitions["
#define VC_AFTER    "].versionConsistency"

/* The member key of o when o is an object, else NULL. */
static const cJSON *member(const cJSON *o, const char *key)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static const cJSON *object_member(const cJSON *o, const char *key)
{
	const cJSON *v = member(o, key);

	return cJSON_IsObject(v) ? v : NULL;
}

static const char *string_member(const cJSON *o, const char *key)
{
	const cJSON *v = member(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A member that is an Integer as ECS sends one (a whole number from 0 to 2^31 - 1) into *ret;
 * false (*ret untouched) for anything else: missing, null, a string, a fraction, -1, 1e400. */
static bool int_member(const cJSON *o, const char *key, long long *ret)
{
	const cJSON *v = member(o, key);
	double x;

	if (!cJSON_IsNumber(v))
		return false;
	x = v->valuedouble;
	if (!(x >= 0 && x <= 2147483647.0)) /* false for NaN too: the cast below is defined */
		return false;
	if (x != (double)(long long)x)
		return false;
	*ret = (long long)x;
	return true;
}

/* Appends a finding when there is room (*n < max); why is a printf format. */
static void add(struct guard_finding *out, size_t max, size_t *n, const char *setting,
		const char *value, const char *why, ...) __attribute__((format(printf, 6, 7)));
static void add(struct guard_finding *out, size_t max, size_t *n, const char *setting,
		const char *value, const char *why, ...)
{
	struct guard_finding *f;
	va_list ap;

	if (*n >= max)
		return;
	f = &out[(*n)++];
	snprintf(f->setting, sizeof(f->setting), "%s", setting);
	snprintf(f->value, sizeof(f->value), "%s", value);
	va_start(ap, why);
	vsnprintf(f->why, sizeof(f->why), why, ap);
	va_end(ap);
}

/* The capacity rules of a ROLLING service that runs d > 0 replicas. */
static void check_capacity(const cJSON *svc, const cJSON *dc, struct guard_finding *out, size_t max,
			   size_t *n)
{
	const char *strategy = string_member(dc, "strategy");
	const char *scheduling = string_member(svc, "schedulingStrategy");
	long long d = 0, min = 100, maxp = 200, keep, room;
	char value[32];

	if (strategy && strcmp(strategy, "ROLLING"))
		return; /* BLUE_GREEN, LINEAR, CANARY: a full new fleet beside the old one */
	if (scheduling && !strcmp(scheduling, "DAEMON"))
		return; /* one task per instance, replaced in place */
	if (!int_member(svc, "desiredCount", &d) || d == 0)
		return;
	int_member(dc, "minimumHealthyPercent", &min);
	int_member(dc, "maximumPercent", &maxp);
	/* ECS rounds the healthy minimum up and the maximum down (both below 2^62 here) */
	keep = (d * min + 99) / 100;
	room = d * maxp / 100;
	if (min < 100) {
		snprintf(value, sizeof(value), "%lld", min);
		add(out, max, n, SETTING_MIN, value,
		    "%lld tasks may drop to %lld during a deploy: ECS stops old tasks before their "
		    "replacements are healthy",
		    d, keep);
	}
	if (room <= d) {
		snprintf(value, sizeof(value), "%lld", maxp);
		add(out, max, n, SETTING_MAX, value,
		    "with %lld tasks at most %lld may run during a deploy: there is no room to "
		    "start "
		    "a new task beside the old ones, so old tasks are stopped first",
		    d, room);
	}
}

/* Whether ECS itself stops a failing deployment: its circuit breaker or CloudWatch alarms. */
static bool ecs_stops_failures(const cJSON *dc)
{
	return cJSON_IsTrue(member(object_member(dc, "deploymentCircuitBreaker"), "enable")) ||
	       cJSON_IsTrue(member(object_member(dc, "alarms"), "enable"));
}

/* The first container definition of td named name, or NULL. */
static const cJSON *container_def(const cJSON *td, const char *name)
{
	const cJSON *defs = member(td, "containerDefinitions"), *c;

	if (!cJSON_IsArray(defs))
		return NULL;
	cJSON_ArrayForEach(c, defs)
	{
		const char *n = string_member(c, "name");
		if (n && !strcmp(n, name))
			return c;
	}
	return NULL;
}

/* Strategy force keeps the image as the task definition names it: a tag may resolve to several
 * digests within one deployment when versionConsistency is disabled. */
static void check_version_consistency(const cJSON *td, const char *const *containers,
				      size_t n_containers, struct guard_finding *out, size_t max,
				      size_t *n)
{
	for (size_t i = 0; i < n_containers; i++) {
		const cJSON *def = containers[i] ? container_def(td, containers[i]) : NULL;
		const char *image = string_member(def, "image");
		const char *vc = string_member(def, "versionConsistency");
		/* the name fits whole, escapes and "..." included, between the two parts */
		char name[sizeof(out->setting) - sizeof(VC_BEFORE VC_AFTER) + 1];
		char setting[sizeof(out->setting)];

		if (!image || strstr(image, "@sha256:") || !vc || strcmp(vc, "disabled"))
			continue;
		escape_bounded(containers[i], NAME_SHOWN, name, sizeof(name),
			       ESCAPE_SQUOTE | ESCAPE_BACKSLASH);
		snprintf(setting, sizeof(setting), VC_BEFORE "%s" VC_AFTER, name);
		add(out, max, n, setting, "disabled",
		    "the image names a tag and versionConsistency is disabled: with strategy "
		    "force, "
		    "the tasks of one deployment may run different digests of it");
	}
}

size_t guard_check(const cJSON *svc, const cJSON *td, const char *const *containers,
		   size_t n_containers, bool force, bool rollback, struct guard_finding *out,
		   size_t max)
{
	const cJSON *dc;
	size_t n = 0;

	if (!cJSON_IsObject(svc) || !out || max == 0)
		return 0;
	dc = object_member(svc, "deploymentConfiguration");
	check_capacity(svc, dc, out, max, &n);
	if (!rollback && !ecs_stops_failures(dc))
		add(out, max, &n, SETTING_CB, "disabled, alarms disabled",
		    "neither the deployment circuit breaker nor CloudWatch alarms stop a failing "
		    "deployment, and the target's rollback is 'none': a bad image would stay");
	if (force && td && containers)
		check_version_consistency(td, containers, n_containers, out, max, &n);
	return n;
}

/* SPDX-License-Identifier: MIT */
/*
 * The readers of what arrives from SQS: ReceiveMessage and DeleteMessageBatch replies, and the
 * EventBridge events in the message bodies. Each value is checked where it is read; an event
 * is refused as a whole at its first bad field, with the field and the value in why.
 */
#include "event.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "endpoint.h"
#include "escape.h"

#define SHOWN_MAX 64 /* bytes of an outside value shown in why */

static int fail(char *why, size_t why_n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t why_n, const char *fmt, ...)
{
	va_list ap;

	if (why && why_n) {
		va_start(ap, fmt);
		vsnprintf(why, why_n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* s escaped for a message in single quotes, cut after SHOWN_MAX bytes. */
static const char *shown(const char *s, char *out, size_t n)
{
	return escape_bounded(s, SHOWN_MAX, out, n, ESCAPE_SQUOTE | ESCAPE_BACKSLASH);
}

static const char *type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	return "an object";
}

/* True when s is 1..max characters, each printable ASCII other than space. */
static bool graph_ascii(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f || n >= max)
			return false;
	return n > 0;
}

/*
 * The member key of object o (case-sensitive) in *ret, NULL when absent. -EINVAL when it is
 * there twice: two readers of the same text could then see two different events.
 */
static int member(const cJSON *o, const char *key, const cJSON **ret)
{
	const cJSON *c, *found = NULL;

	cJSON_ArrayForEach(c, o)
	{
		if (!c->string || strcmp(c->string, key))
			continue;
		if (found)
			return -EINVAL;
		found = c;
	}
	*ret = found;
	return 0;
}

/* Where a value is read, for messages: the JSON path of the object and the parser's why. */
struct place {
	const char *path; /* "" or "detail." */
	char *why;
	size_t why_n;
};

/*
 * The string member key of o in *ret: NULL when absent (-EINVAL when required), -EINVAL when
 * it appears twice or is not a string.
 */
static int get_string(const struct place *at, const cJSON *o, const char *key, bool required,
		      const char **ret)
{
	const cJSON *v;

	if (member(o, key, &v) < 0)
		return fail(at->why, at->why_n, "%s%s: given twice", at->path, key);
	if (!v) {
		*ret = NULL;
		return required ? fail(at->why, at->why_n, "%s%s: absent", at->path, key) : 0;
	}
	if (!cJSON_IsString(v))
		return fail(at->why, at->why_n, "%s%s: %s, not a string", at->path, key,
			    type_name(v));
	*ret = v->valuestring;
	return 0;
}

static int bad_value(const struct place *at, const char *key, const char *value, const char *what)
{
	char v[SHOWN_MAX * 4 + 8];

	return fail(at->why, at->why_n, "%s%s: '%s' is not %s", at->path, key,
		    shown(value, v, sizeof(v)), what);
}

/* ---- RFC 3339 ---- */

/* n decimal digits at *p into *ret, advancing *p. */
static bool digits(const char **p, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*ret = v;
	return true;
}

static bool expect(const char **p, const char *one_of)
{
	if (!**p || !strchr(one_of, **p))
		return false;
	(*p)++;
	return true;
}

/* "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" as seconds since the epoch, or 0. */
static time_t parse_time(const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	struct tm tm = { 0 };
	time_t t;

	if (!digits(&p, 4, &y) || !expect(&p, "-") || !digits(&p, 2, &mo) || !expect(&p, "-") ||
	    !digits(&p, 2, &d) || !expect(&p, "Tt") || !digits(&p, 2, &h) || !expect(&p, ":") ||
	    !digits(&p, 2, &mi) || !expect(&p, ":") || !digits(&p, 2, &sec))
		return 0;
	if (*p == '.') {
		const char *f = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == f)
			return 0;
	}
	if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!digits(&p, 2, &oh) || !expect(&p, ":") || !digits(&p, 2, &om) || oh > 23 ||
		    om > 59)
			return 0;
	} else if (!expect(&p, "Zz")) {
		return 0;
	}
	if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60)
		return 0;
	if (d > mdays[mo - 1] + (mo == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return 0;
	t -= (time_t)sign * (oh * 3600 + om * 60);
	return t < 0 ? 0 : t;
}

/* ---- ARNs ---- */

/* The partition of a region's ARNs. */
static const char *partition_of(const char *region)
{
	static const struct {
		const char *prefix, *partition;
	} table[] = {
		{ "cn-", "aws-cn" },         { "us-gov-", "aws-us-gov" },
		{ "us-isob-", "aws-iso-b" }, { "us-isof-", "aws-iso-f" },
		{ "us-iso-", "aws-iso" },    { "eu-isoe-", "aws-iso-e" },
		{ "eusc-", "aws-eusc" },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strncmp(region, table[i].prefix, strlen(table[i].prefix)))
			return table[i].partition;
	return "aws";
}

/* The next ':'-separated field of *p into out (n bytes); false when absent or too long. */
static bool arn_field(const char **p, char *out, size_t n)
{
	const char *end = strchr(*p, ':');
	size_t len;

	if (!end)
		return false;
	len = (size_t)(end - *p);
	if (len >= n)
		return false;
	memcpy(out, *p, len);
	out[len] = '\0';
	*p = end + 1;
	return true;
}

/* The '/'-separated part of *p into out (n bytes), advancing past the '/'. */
static bool arn_part(const char **p, char *out, size_t n)
{
	size_t len = strcspn(*p, "/");

	if (len >= n)
		return false;
	memcpy(out, *p, len);
	out[len] = '\0';
	*p += len;
	if (**p == '/')
		(*p)++;
	return true;
}

struct service_ref {
	char cluster[NAME_ECS_MAX + 1]; /* "" for the older ARN without a cluster */
	char service[NAME_ECS_MAX + 1];
};

/*
 * An ECS ARN of the event's partition, region and account: "service/[<cluster>/]<service>" or
 * "service-deployment/<cluster>/<service>/<id>" into *ref. Returns 1 when it is one of those,
 * 0 when it is an ECS ARN of another kind (a cluster, a task), -EINVAL otherwise.
 */
static int read_ecs_arn(const struct place *at, const char *key, const char *arn,
			const struct event *ev, struct service_ref *ref)
{
	char part[16], service[8], region[32], account[16], kind[24], x[NAME_ECS_MAX + 2];
	char y[NAME_ECS_MAX + 2], id[NAME_ECS_MAX + 2], v[SHOWN_MAX * 4 + 8], w[SHOWN_MAX * 4 + 8];
	const char *p = arn;
	bool deployment;

	if (strncmp(p, "arn:", 4))
		return bad_value(at, key, arn, "an ARN");
	p += 4;
	if (!arn_field(&p, part, sizeof(part)) || !arn_field(&p, service, sizeof(service)) ||
	    !arn_field(&p, region, sizeof(region)) || !arn_field(&p, account, sizeof(account)) ||
	    strcmp(service, "ecs"))
		return bad_value(at, key, arn, "an ECS ARN");
	/* part, region and account are shown escaped: they are the ARN's, from outside */
	if (strcmp(part, partition_of(ev->region)))
		return fail(at->why, at->why_n,
			    "%s%s: '%s' is of partition '%s', the event's region %s of '%s'",
			    at->path, key, shown(arn, v, sizeof(v)), shown(part, w, sizeof(w)),
			    ev->region, partition_of(ev->region));
	if (strcmp(region, ev->region))
		return fail(at->why, at->why_n,
			    "%s%s: '%s' is in region '%s', the event's region %s", at->path, key,
			    shown(arn, v, sizeof(v)), shown(region, w, sizeof(w)), ev->region);
	if (strcmp(account, ev->account))
		return fail(at->why, at->why_n,
			    "%s%s: '%s' is of account '%s', the event's account %s", at->path, key,
			    shown(arn, v, sizeof(v)), shown(account, w, sizeof(w)), ev->account);
	if (!arn_part(&p, kind, sizeof(kind)))
		return bad_value(at, key, arn, "an ECS ARN");
	deployment = !strcmp(kind, "service-deployment");
	if (!deployment && strcmp(kind, "service"))
		return 0;
	memset(ref, 0, sizeof(*ref));
	if (!arn_part(&p, x, sizeof(x)) || !name_valid_ecs(x))
		goto bad;
	if (!*p) {
		if (deployment || arn[strlen(arn) - 1] == '/')
			goto bad;
		memcpy(ref->service, x, strlen(x) + 1);
		return 1;
	}
	if (!arn_part(&p, y, sizeof(y)) || !name_valid_ecs(y))
		goto bad;
	if (deployment && (!arn_part(&p, id, sizeof(id)) || !name_all(id, 1, 128, "-_")))
		goto bad;
	if (*p || arn[strlen(arn) - 1] == '/')
		goto bad;
	memcpy(ref->cluster, x, strlen(x) + 1);
	memcpy(ref->service, y, strlen(y) + 1);
	return 1;
bad:
	return bad_value(at, key, arn,
			 deployment ? "a service deployment ARN (service-deployment/<cluster>/"
				      "<service>/<id>)"
				    : "a service ARN (service/[<cluster>/]<service>)");
}

/*
 * Takes ref as the event's service: the first, or the same one again (a service named without
 * its cluster matches it in any cluster, and the cluster is then kept).
 */
static int take_service(const struct place *at, const char *key, struct event *ev,
			const struct service_ref *ref)
{
	char a[SHOWN_MAX * 4 + 8], b[SHOWN_MAX * 4 + 8];

	if (!*ev->service) {
		memcpy(ev->cluster, ref->cluster, sizeof(ev->cluster));
		memcpy(ev->service, ref->service, sizeof(ev->service));
		return 0;
	}
	if (strcmp(ev->service, ref->service) ||
	    (*ev->cluster && *ref->cluster && strcmp(ev->cluster, ref->cluster)))
		return fail(at->why, at->why_n,
			    "%s%s: names service '%s' in cluster '%s', the event another one ('%s' "
			    "in '%s')",
			    at->path, key, shown(ref->service, a, sizeof(a)), ref->cluster,
			    shown(ev->service, b, sizeof(b)), ev->cluster);
	if (!*ev->cluster)
		memcpy(ev->cluster, ref->cluster, sizeof(ev->cluster));
	return 0;
}

/* ---- the events ---- */

static int read_ecr(const cJSON *detail, struct event *ev, char *why, size_t why_n)
{
	const struct place at = { "detail.", why, why_n };
	const char *result, *action, *repo, *tag, *digest;
	int r;

	if ((r = get_string(&at, detail, "result", true, &result)) < 0)
		return r;
	if (!strcmp(result, "FAILURE"))
		return 0; /* EVENT_IGNORED */
	if (strcmp(result, "SUCCESS"))
		return bad_value(&at, "result", result, "SUCCESS or FAILURE");
	if ((r = get_string(&at, detail, "action-type", true, &action)) < 0)
		return r;
	if (!strcmp(action, "PUSH"))
		ev->kind = EVENT_ECR_PUSH;
	else if (!strcmp(action, "DELETE"))
		ev->kind = EVENT_ECR_DELETE;
	else if (!name_all(action, 1, 64, "_") || strpbrk(action, "abcdefghijklmnopqrstuvwxyz"))
		return bad_value(&at, "action-type", action, "an action such as PUSH or DELETE");
	else
		return 0; /* another action, not ours */
	if ((r = get_string(&at, detail, "repository-name", true, &repo)) < 0 ||
	    (r = get_string(&at, detail, "image-tag", false, &tag)) < 0 ||
	    (r = get_string(&at, detail, "image-digest", false, &digest)) < 0)
		goto fail;
	if (!name_valid_repository(repo)) {
		r = bad_value(&at, "repository-name", repo, "a repository name");
		goto fail;
	}
	if (tag && *tag && !name_valid_tag(tag)) {
		r = bad_value(&at, "image-tag", tag, "a tag");
		goto fail;
	}
	if (digest && !digest_valid(digest)) {
		r = bad_value(&at, "image-digest", digest, "a digest (sha256: and 64 hex digits)");
		goto fail;
	}
	memcpy(ev->repository, repo, strlen(repo) + 1);
	if (tag)
		memcpy(ev->tag, tag, strlen(tag) + 1);
	if (digest)
		memcpy(ev->digest, digest, DIGEST_LEN + 1);
	return 0;
fail:
	ev->kind = EVENT_IGNORED;
	return r;
}

/* s into out (n bytes), cut before a UTF-8 character that would not fit whole. */
static void copy_cut(char *out, size_t n, const char *s)
{
	size_t len = strlen(s);

	if (len >= n) {
		len = n - 1;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(out, s, len);
	out[len] = '\0';
}

static int read_ecs(const cJSON *root, const cJSON *detail, struct event *ev, char *why,
		    size_t why_n)
{
	const struct place top = { "", why, why_n }, at = { "detail.", why, why_n };
	const char *name, *dep_id, *sd_arn, *reason;
	const cJSON *resources, *res;
	struct service_ref ref;
	int r, n = 0;

	if (member(root, "resources", &resources) < 0)
		return fail(why, why_n, "resources: given twice");
	if (resources && !cJSON_IsArray(resources))
		return fail(why, why_n, "resources: %s, not an array", type_name(resources));
	cJSON_ArrayForEach(res, resources)
	{
		if (!cJSON_IsString(res))
			return fail(why, why_n, "resources[%d]: %s, not a string", n,
				    type_name(res));
		if ((r = read_ecs_arn(&top, "resources", res->valuestring, ev, &ref)) < 0)
			return r;
		if (r > 0 && (r = take_service(&top, "resources", ev, &ref)) < 0)
			return r;
		n++;
	}
	if ((r = get_string(&at, detail, "eventName", true, &name)) < 0 ||
	    (r = get_string(&at, detail, "deploymentId", false, &dep_id)) < 0 ||
	    (r = get_string(&at, detail, "serviceDeploymentArn", false, &sd_arn)) < 0 ||
	    (r = get_string(&at, detail, "reason", false, &reason)) < 0)
		return r;
	if (!name_all(name, 1, sizeof(ev->event_name) - 1, "_") ||
	    strpbrk(name, "abcdefghijklmnopqrstuvwxyz"))
		return bad_value(&at, "eventName", name, "an event name (SERVICE_DEPLOYMENT_...)");
	if (dep_id && !name_all(dep_id, 1, sizeof(ev->deployment_id) - 1, "-_/.:"))
		return bad_value(&at, "deploymentId", dep_id, "a deployment id (ecs-svc/...)");
	if (sd_arn) {
		if (strlen(sd_arn) >= sizeof(ev->service_deployment_arn))
			return bad_value(&at, "serviceDeploymentArn", sd_arn,
					 "a service deployment ARN");
		if ((r = read_ecs_arn(&at, "serviceDeploymentArn", sd_arn, ev, &ref)) < 0)
			return r;
		if (r == 0 || !strstr(sd_arn, ":service-deployment/"))
			return bad_value(&at, "serviceDeploymentArn", sd_arn,
					 "a service deployment ARN");
		if ((r = take_service(&at, "serviceDeploymentArn", ev, &ref)) < 0)
			return r;
		memcpy(ev->service_deployment_arn, sd_arn, strlen(sd_arn) + 1);
	}
	if (!*ev->service)
		return fail(why, why_n, "resources: no service ARN%s",
			    ev->kind == EVENT_ECS_HOOK ? " and no detail.serviceDeploymentArn"
						       : "");
	memcpy(ev->event_name, name, strlen(name) + 1);
	if (dep_id)
		memcpy(ev->deployment_id, dep_id, strlen(dep_id) + 1);
	if (reason)
		copy_cut(ev->reason, sizeof(ev->reason), reason);
	return 0;
}

static const struct {
	const char *detail_type, *source;
	enum event_kind kind;
} ours[] = {
	{ "ECR Image Action", "aws.ecr", EVENT_ECR_PUSH },
	{ "ECS Deployment State Change", "aws.ecs", EVENT_ECS_DEPLOYMENT },
	{ "ECS Hook State Change", "aws.ecs", EVENT_ECS_HOOK },
};

/* The account, region, id and time of an event of ours. */
static int read_top(const cJSON *root, struct event *ev, char *why, size_t why_n)
{
	const struct place at = { "", why, why_n };
	const char *account, *region, *id, *t;
	const cJSON *tv;
	int r;

	if ((r = get_string(&at, root, "account", true, &account)) < 0 ||
	    (r = get_string(&at, root, "region", true, &region)) < 0 ||
	    (r = get_string(&at, root, "id", false, &id)) < 0)
		return r;
	if (strlen(account) != 12 || strspn(account, "0123456789") != 12)
		return bad_value(&at, "account", account, "an account (12 digits)");
	if (strlen(region) >= sizeof(ev->region) || !endpoint_valid_region(region))
		return bad_value(&at, "region", region, "a region");
	if (id && !graph_ascii(id, sizeof(ev->id) - 1))
		return bad_value(&at, "id", id, "an event id");
	memcpy(ev->account, account, 13);
	memcpy(ev->region, region, strlen(region) + 1);
	if (id)
		memcpy(ev->id, id, strlen(id) + 1);
	/* the time is only shown: unreadable is 0, not a reason to refuse the event */
	if (member(root, "time", &tv) == 0 && (t = cJSON_GetStringValue(tv)))
		ev->time = parse_time(t);
	return 0;
}

/* A parsed body that is a JSON object (not an SNS envelope) into *ev (zeroed). */
static int read_event(const cJSON *root, struct event *ev, char *why, size_t why_n)
{
	const struct place at = { "", why, why_n };
	const char *source, *type;
	const cJSON *detail;
	size_t k;
	int r;

	if ((r = get_string(&at, root, "source", false, &source)) < 0 ||
	    (r = get_string(&at, root, "detail-type", false, &type)) < 0 ||
	    member(root, "detail", &detail) < 0)
		return r < 0 ? r : fail(why, why_n, "detail: given twice");
	if (!source && !type)
		return detail ? fail(why, why_n, "source: absent, and there is a detail") : 0;
	for (k = 0; k < sizeof(ours) / sizeof(ours[0]); k++)
		if (type && !strcasecmp(type, ours[k].detail_type))
			break;
	if (k == sizeof(ours) / sizeof(ours[0])) {
		/* another detail-type: ours only when the source claims so */
		if (!source || (strcasecmp(source, "aws.ecr") && strcasecmp(source, "aws.ecs")))
			return 0;
		if (!type)
			return fail(why, why_n, "detail-type: absent (source '%s')", source);
		if (strcmp(source, "aws.ecr") && strcmp(source, "aws.ecs"))
			return bad_value(&at, "source", source, "aws.ecr or aws.ecs");
		return 0;
	}
	if (strcmp(type, ours[k].detail_type))
		return bad_value(&at, "detail-type", type, ours[k].detail_type);
	if (!source)
		return fail(why, why_n, "source: absent (detail-type '%s')", type);
	if (strcmp(source, ours[k].source)) {
		char v[SHOWN_MAX * 4 + 8];
		return fail(why, why_n, "source: '%s' is not %s, the source of '%s'",
			    shown(source, v, sizeof(v)), ours[k].source, type);
	}
	if ((r = read_top(root, ev, why, why_n)) < 0)
		return r;
	if (!detail)
		return fail(why, why_n, "detail: absent");
	if (!cJSON_IsObject(detail))
		return fail(why, why_n, "detail: %s, not an object", type_name(detail));
	if (ours[k].kind == EVENT_ECR_PUSH)
		return read_ecr(detail, ev, why, why_n);
	ev->kind = ours[k].kind;
	return read_ecs(root, detail, ev, why, why_n);
}

/*
 * True when the JSON text holds the escape \u0000: cJSON would end the string there, and the
 * value read would not be the one sent. Outside strings a backslash is no JSON at all.
 */
static bool has_nul_escape(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] != '\\')
			continue;
		if (s[i + 1] == 'u' && i + 5 < len && !memcmp(s + i + 2, "0000", 4))
			return true;
		i++; /* the escaped character */
	}
	return false;
}

/* len bytes of JSON text (nothing after it but white space) into *ret, an object. */
static int parse_object(const char *what, const char *text, size_t len, cJSON **ret, char *why,
			size_t why_n)
{
	const char *end = NULL;
	cJSON *root;

	if (len > EVENT_BODY_MAX)
		return fail(why, why_n, "%s: %zu bytes, more than %d", what, len, EVENT_BODY_MAX);
	if (memchr(text, '\0', len))
		return fail(why, why_n, "%s: holds a NUL byte at %zu", what,
			    (size_t)((const char *)memchr(text, '\0', len) - text));
	if (has_nul_escape(text, len))
		return fail(why, why_n, "%s: a string holds a NUL (\\u0000)", what);
	root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (root && end)
		while ((size_t)(end - text) < len && strchr(" \t\r\n", *end))
			end++;
	if (!root || !end || (size_t)(end - text) != len) {
		size_t at = end && end >= text ? (size_t)(end - text) : 0;
		cJSON_Delete(root);
		return fail(why, why_n, "%s: not JSON (at byte %zu of %zu)", what, at, len);
	}
	if (!cJSON_IsObject(root)) {
		fail(why, why_n, "%s: %s, not a JSON object", what, type_name(root));
		cJSON_Delete(root);
		return -EINVAL;
	}
	*ret = root;
	return 0;
}

/* An SNS notification's envelope: "Type": "Notification" and no event of its own. */
static bool is_sns(const cJSON *root)
{
	const cJSON *t, *s, *d;

	return member(root, "Type", &t) == 0 && cJSON_IsString(t) &&
	       !strcmp(t->valuestring, "Notification") && member(root, "source", &s) == 0 && !s &&
	       member(root, "detail-type", &d) == 0 && !d;
}

int event_parse(const char *body, size_t len, struct event *ev, char *why, size_t why_n)
{
	cJSON *root = NULL, *inner = NULL;
	int r;

	memset(ev, 0, sizeof(*ev));
	if (why && why_n)
		*why = '\0';
	if (!body)
		return fail(why, why_n, "body: absent");
	if ((r = parse_object("body", body, len, &root, why, why_n)) < 0)
		return r;
	if (is_sns(root)) {
		const struct place at = { "", why, why_n };
		const char *message;

		if ((r = get_string(&at, root, "Message", true, &message)) < 0)
			goto out;
		if ((r = parse_object("SNS Message", message, strlen(message), &inner, why,
				      why_n)) < 0)
			goto out;
		if (is_sns(inner)) {
			r = fail(why, why_n, "SNS Message: an SNS notification inside another");
			goto out;
		}
		if ((r = read_event(inner, ev, why, why_n)) < 0) {
			/* say where: the field is inside the SNS Message */
			char inner_why[256];
			snprintf(inner_why, sizeof(inner_why), "%s", why ? why : "");
			fail(why, why_n, "SNS Message: %s", inner_why);
		}
	} else {
		r = read_event(root, ev, why, why_n);
	}
out:
	if (r < 0)
		memset(ev, 0, sizeof(*ev));
	cJSON_Delete(inner);
	cJSON_Delete(root);
	return r;
}

const char *event_kind_name(enum event_kind k)
{
	switch (k) {
	case EVENT_ECR_PUSH:
		return "ecr-push";
	case EVENT_ECR_DELETE:
		return "ecr-delete";
	case EVENT_ECS_DEPLOYMENT:
		return "ecs-deployment";
	case EVENT_ECS_HOOK:
		return "ecs-hook";
	case EVENT_IGNORED:
		break;
	}
	return "ignored";
}

/* ---- SQS ---- */

/* A non-negative decimal of at most max_digits digits, as SQS writes its attributes; else 0. */
static long long attribute_number(const cJSON *attrs, const char *key, int max_digits)
{
	const cJSON *v;
	const char *s;
	long long x = 0;
	size_t len;

	if (member(attrs, key, &v) < 0 || !(s = cJSON_GetStringValue(v)))
		return 0;
	len = strlen(s);
	if (len == 0 || len > (size_t)max_digits || strspn(s, "0123456789") != len)
		return 0;
	for (; *s; s++)
		x = x * 10 + (*s - '0');
	return x;
}

/* One element of Messages into *m (zeroed); fields of the wrong type or shape stay empty. */
static int read_message(const cJSON *item, struct sqs_message *m)
{
	const cJSON *id, *receipt, *body, *attrs;

	if (!cJSON_IsObject(item))
		return 0;
	if (member(item, "MessageId", &id) == 0 && cJSON_IsString(id) &&
	    graph_ascii(id->valuestring, EVENT_MESSAGE_ID_MAX))
		memcpy(m->id, id->valuestring, strlen(id->valuestring) + 1);
	if (member(item, "ReceiptHandle", &receipt) == 0 && cJSON_IsString(receipt) &&
	    graph_ascii(receipt->valuestring, EVENT_RECEIPT_MAX))
		memcpy(m->receipt, receipt->valuestring, strlen(receipt->valuestring) + 1);
	if (member(item, "Attributes", &attrs) == 0 && cJSON_IsObject(attrs)) {
		m->receive_count = (int)attribute_number(attrs, "ApproximateReceiveCount", 9);
		m->sent_ms = attribute_number(attrs, "SentTimestamp", 15);
	}
	if (member(item, "Body", &body) == 0 && cJSON_IsString(body) &&
	    !(m->body = strdup(body->valuestring)))
		return -ENOMEM;
	return 0;
}

#define SQS_RECEIVE_MAX 10

int sqs_parse_receive(const cJSON *reply, struct sqs_message **ret, size_t *n, char *why,
		      size_t why_n)
{
	const cJSON *messages, *item;
	struct sqs_message *m;
	size_t count, i = 0;

	if (why && why_n)
		*why = '\0';
	if (!cJSON_IsObject(reply))
		return fail(why, why_n, "ReceiveMessage reply: %s, not an object",
			    reply ? type_name(reply) : "nothing");
	if (member(reply, "Messages", &messages) < 0)
		return fail(why, why_n, "ReceiveMessage reply: Messages given twice");
	if (!messages || cJSON_IsNull(messages)) {
		*ret = NULL;
		*n = 0;
		return 0;
	}
	if (!cJSON_IsArray(messages))
		return fail(why, why_n, "ReceiveMessage reply: Messages is %s, not an array",
			    type_name(messages));
	count = (size_t)cJSON_GetArraySize(messages);
	if (count > SQS_RECEIVE_MAX)
		return fail(why, why_n, "ReceiveMessage reply: %zu messages, more than %d", count,
			    SQS_RECEIVE_MAX);
	if (count == 0) {
		*ret = NULL;
		*n = 0;
		return 0;
	}
	if (!(m = calloc(count, sizeof(*m))))
		return -ENOMEM;
	cJSON_ArrayForEach(item, messages)
	{
		if (read_message(item, &m[i++]) < 0) {
			sqs_messages_free(m, count);
			return -ENOMEM;
		}
	}
	*ret = m;
	*n = count;
	return 0;
}

void sqs_messages_free(struct sqs_message *m, size_t n)
{
	if (!m)
		return;
	for (size_t i = 0; i < n; i++)
		free(m[i].body);
	free(m);
}

/* The entry id "0" .. "<n-1>" (canonical decimal), or -1. */
static long entry_index(const cJSON *entry, size_t n)
{
	const cJSON *id;
	const char *s;
	long x = 0;
	size_t len;

	if (!cJSON_IsObject(entry) || member(entry, "Id", &id) < 0 ||
	    !(s = cJSON_GetStringValue(id)))
		return -1;
	len = strlen(s);
	if (len == 0 || len > 6 || strspn(s, "0123456789") != len || (len > 1 && s[0] == '0'))
		return -1;
	for (; *s; s++)
		x = x * 10 + (*s - '0');
	return (size_t)x < n ? x : -1;
}

/* True when an entry of failed before e has e's index i. */
static bool failed_before(const cJSON *failed, const cJSON *e, long i, size_t n)
{
	for (const cJSON *f = failed->child; f && f != e; f = f->next)
		if (entry_index(f, n) == i)
			return true;
	return false;
}

int sqs_parse_delete_batch(const cJSON *reply, size_t n, bool *deleted, char *failure,
			   size_t failure_n)
{
	const cJSON *ok, *failed, *e;
	int count = 0;

	if (failure && failure_n)
		*failure = '\0';
	for (size_t i = 0; i < n; i++)
		deleted[i] = false;
	/* more entries than were sent holds an unknown or repeated id (and bounds the work) */
	if (!cJSON_IsObject(reply) || member(reply, "Successful", &ok) < 0 ||
	    member(reply, "Failed", &failed) < 0 || (ok && !cJSON_IsArray(ok)) ||
	    (failed && !cJSON_IsArray(failed)) ||
	    (size_t)cJSON_GetArraySize(ok) + (size_t)cJSON_GetArraySize(failed) > n)
		return -EINVAL;
	cJSON_ArrayForEach(e, ok)
	{
		long i = entry_index(e, n);
		if (i < 0 || deleted[i])
			goto bad;
		deleted[i] = true;
		count++;
	}
	cJSON_ArrayForEach(e, failed)
	{
		long i = entry_index(e, n);
		if (i < 0 || deleted[i] || failed_before(failed, e, i, n))
			goto bad;
		if (failure && failure_n && !*failure) {
			const cJSON *code = NULL, *message = NULL;
			char c[SHOWN_MAX * 4 + 8], m[SHOWN_MAX * 4 + 8];
			member(e, "Code", &code);
			member(e, "Message", &message);
			snprintf(
			    failure, failure_n, "%s: %s",
			    escape_bounded(cJSON_GetStringValue(code), SHOWN_MAX, c, sizeof(c), 0),
			    escape_bounded(cJSON_GetStringValue(message), SHOWN_MAX * 2, m,
					   sizeof(m), 0));
		}
	}
	return count;
bad:
	for (size_t i = 0; i < n; i++)
		deleted[i] = false;
	if (failure && failure_n)
		*failure = '\0';
	return -EINVAL;
}

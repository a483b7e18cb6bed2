/* SPDX-License-Identifier: MIT */
/*
 * ecr-deployctl status: the "ha" object of the status reply (issue 18) on one line, for each
 * role, the leader's since in UTC (the same on every host), hostile values escaped, and no line
 * at all for a daemon without ha.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "ctl_render.h"

/* The status page of the reply text, rendered at a fixed now; malloc'd, NULL on failure. */
static char *render(const char *json, bool color)
{
	cJSON *res = cJSON_Parse(json);
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (res && out)
		CHECK_INT(ctl_render_status(out, res, 1764578462.0, color), 0);
	if (out)
		fclose(out);
	cJSON_Delete(res);
	return text;
}

static void check_has(const char *text, const char *want, int line)
{
	if (!text || !strstr(text, want))
		unit_fail(__FILE__, line, "'%s' not in:\n%s", want, text ? text : "(null)");
}

TEST(ctl_status_ha_standby_line)
{
	/* 1764578462 is 2025-12-01 08:41:02 UTC */
	char *text = render("{\"version\": \"1.0\", \"pid\": 7, \"ha\": {\"role\": \"standby\", "
			    "\"instance\": \"host-a\", \"leader\": \"host-b\", \"leader_since\": "
			    "1764578462, \"term\": 7, \"table\": \"T\", \"group\": \"G\"}}",
			    false);

	check_has(text,
		  "\nha: standby (leader: host-b since 2025-12-01 08:41:02 UTC), term 7, table "
		  "T/group G, this instance host-a\n",
		  __LINE__);
	free(text);
}

TEST(ctl_status_ha_each_role)
{
	char *text =
	    render("{\"ha\": {\"role\": \"leading\", \"instance\": \"host-a\", \"leader\": "
		   "\"host-a\", \"leader_since\": 1764578462.5, \"term\": 12, \"table\": "
		   "\"ecr-deployd\", \"group\": \"prod\"}}",
		   false);

	check_has(text,
		  "ha: leading (leader: host-a since 2025-12-01 08:41:02 UTC), term 12, table "
		  "ecr-deployd/group prod, this instance host-a\n",
		  __LINE__);
	free(text);
	text = render("{\"ha\": {\"role\": \"suspended\", \"instance\": \"host-a\", \"leader\": "
		      "\"host-a\", \"leader_since\": 1764578462, \"term\": 12, \"table\": \"t1x\", "
		      "\"group\": \"g\"}}",
		      false);
	check_has(text, "ha: suspended (leader: host-a since 2025-12-01 08:41:02 UTC), term 12",
		  __LINE__);
	check_has(text, "\n  the lease was not renewed in time: no mutating call until it is\n",
		  __LINE__);
	free(text);
	/* Starting: nobody known yet, no since, no term. */
	text =
	    render("{\"ha\": {\"role\": \"starting\", \"instance\": \"host-a\", \"leader\": null, "
		   "\"leader_since\": null, \"term\": 0, \"table\": \"t1x\", \"group\": \"g\"}}",
		   false);
	check_has(text,
		  "ha: starting (no leader), term 0, table t1x/group g, this instance host-a\n",
		  __LINE__);
	free(text);
	/* In colour: the role's. */
	text = render("{\"ha\": {\"role\": \"leading\", \"instance\": \"a\", \"leader\": \"a\", "
		      "\"term\": 1, \"table\": \"t1x\", \"group\": \"g\"}}",
		      true);
	check_has(text, "ha: \033[32mleading\033[0m (leader: a), term 1", __LINE__);
	free(text);
}

TEST(ctl_status_ha_escapes_and_survives_junk)
{
	char *text =
	    render("{\"ha\": {\"role\": \"lead\\u001b[2Jing\", \"instance\": 5, \"leader\": "
		   "\"b\\nx\", \"leader_since\": 1e300, \"term\": \"7\", \"table\": [], "
		   "\"group\": {}}}",
		   false);

	CHECK(text != NULL);
	if (text)
		CHECK(strchr(text, '\033') == NULL);
	check_has(text,
		  "ha: lead\\x1b[2Jing (leader: b\\nx since -), table -/group -, this instance -\n",
		  __LINE__);
	free(text);
	/* Why the lease cannot be read, while that lasts (the status's "error"), escaped. */
	text = render("{\"ha\": {\"role\": \"standby\", \"instance\": \"a\", \"leader\": null, "
		      "\"term\": 0, \"table\": \"t1x\", \"group\": \"g\", \"error\": \"table 't1x' "
		      "GetItem: AccessDeniedException: no\\u0007 dynamodb:GetItem\"}}",
		      false);
	check_has(
	    text,
	    "ha: standby (no leader), term 0, table t1x/group g, this instance a\n  the lease "
	    "cannot be read or written: table 't1x' GetItem: AccessDeniedException: no\\x07 "
	    "dynamodb:GetItem\n",
	    __LINE__);
	free(text);
	text = render("{\"ha\": {\"role\": \"leading\", \"instance\": \"a\", \"leader\": \"a\", "
		      "\"term\": 3, \"table\": \"t1x\", \"group\": \"g\", \"error\": null}}",
		      false);
	CHECK(text && !strstr(text, "cannot be read"));
	free(text);
	/* Without ha (a single instance): no line. */
	text = render("{\"version\": \"1.0\", \"pid\": 7}", false);
	CHECK(text && !strstr(text, "ha:"));
	free(text);
}

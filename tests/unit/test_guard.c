/* SPDX-License-Identifier: MIT */
/* daemon/guard: one row per rule of the zero-downtime guard, each at its boundary, and hostile
 * shapes (wrong types, nulls, missing arrays) that must neither crash nor invent a finding. */
#include "unit.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"

#define MIN_SET  "deploymentConfiguration.minimumHealthyPercent"
#define MAX_SET  "deploymentConfiguration.maximumPercent"
#define CB_SET   "deploymentConfiguration.deploymentCircuitBreaker"
#define CB_OFF   CB_SET "=disabled, alarms disabled"
#define VC(name) "containerDefinitions[" name "].versionConsistency=disabled"

/* A service: desiredCount d, then the members of deploymentConfiguration. */
#define SVC(d, dc)     "{\"desiredCount\": " #d ", \"deploymentConfiguration\": {" dc "}}"
#define MINMAX(lo, hi) "\"minimumHealthyPercent\": " #lo ", \"maximumPercent\": " #hi
#define CB_ON          "\"deploymentCircuitBreaker\": {\"enable\": true, \"rollback\": true}"

/* A task definition with an app and a sidecar container. */
#define TD(app_image, app_vc, side_image, side_vc)                                            \
	"{\"containerDefinitions\": [{\"name\": \"app\", \"image\": \"" app_image "\"" app_vc \
	"}, {\"name\": \"sidecar\", \"image\": \"" side_image "\"" side_vc "}]}"
#define VC_OFF ", \"versionConsistency\": \"disabled\""
#define VC_ON  ", \"versionConsistency\": \"enabled\""
#define TAGGED "1.dkr.ecr.us-east-1.amazonaws.com/team/web:prod"
#define PINNED                                               \
	"1.dkr.ecr.us-east-1.amazonaws.com/team/web@sha256:" \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct guard_row {
	const char *name;
	const char *svc, *td;   /* JSON; td NULL: not read */
	const char *containers; /* the target's, separated by spaces */
	bool force, rollback;
	size_t max;
	const char *want; /* "setting=value\n" for each finding, in order */
};

#define F(setting_value) setting_value "\n"

static const struct guard_row rows[] = {
	/* the defaults: ROLLING, 100/200, no circuit breaker, no alarms */
	{ "defaults, rollback on: safe", "{\"desiredCount\": 4}", NULL, "app", false, true, 6, "" },
	{ "defaults, rollback off: nothing stops a bad image", "{\"desiredCount\": 4}", NULL, "app",
	  false, false, 6, F(CB_OFF) },
	/* minimumHealthyPercent, at its boundary */
	{ "min 100: safe", SVC(4, MINMAX(100, 200)), NULL, "app", false, true, 6, "" },
	{ "min 99: unsafe", SVC(4, MINMAX(99, 200)), NULL, "app", false, true, 6,
	  F(MIN_SET "=99") },
	{ "min 0 with one task", SVC(1, MINMAX(0, 200)), NULL, "app", false, true, 6,
	  F(MIN_SET "=0") },
	{ "min 50 alone, max by default", SVC(4, "\"minimumHealthyPercent\": 50"), NULL, "app",
	  false, true, 6, F(MIN_SET "=50") },
	{ "strategy ROLLING said is the default",
	  SVC(4, "\"strategy\": \"ROLLING\", " MINMAX(50, 200)), NULL, "app", false, true, 6,
	  F(MIN_SET "=50") },
	/* maximumPercent: room for one new task beside d old ones, floor(d * max / 100) > d */
	{ "d 1, max 200: room for one", SVC(1, MINMAX(100, 200)), NULL, "app", false, true, 6, "" },
	{ "d 1, max 199: no room", SVC(1, MINMAX(100, 199)), NULL, "app", false, true, 6,
	  F(MAX_SET "=199") },
	{ "d 4, max 125: room for one", SVC(4, MINMAX(100, 125)), NULL, "app", false, true, 6, "" },
	{ "d 4, max 124: no room", SVC(4, MINMAX(100, 124)), NULL, "app", false, true, 6,
	  F(MAX_SET "=124") },
	{ "d 3, max 134: room for one", SVC(3, MINMAX(100, 134)), NULL, "app", false, true, 6, "" },
	{ "d 3, max 133: no room", SVC(3, MINMAX(100, 133)), NULL, "app", false, true, 6,
	  F(MAX_SET "=133") },
	{ "d 100, max 101: room for one", SVC(100, MINMAX(100, 101)), NULL, "app", false, true, 6,
	  "" },
	{ "d 100, max 100: no room", SVC(100, MINMAX(100, 100)), NULL, "app", false, true, 6,
	  F(MAX_SET "=100") },
	{ "min and max both", SVC(4, MINMAX(50, 100)), NULL, "app", false, true, 6,
	  F(MIN_SET "=50") F(MAX_SET "=100") },
	/* no task: nothing to keep up */
	{ "d 0", SVC(0, MINMAX(0, 100)), NULL, "app", false, true, 6, "" },
	{ "desiredCount missing", "{\"deploymentConfiguration\": {" MINMAX(0, 100) "}}", NULL,
	  "app", false, true, 6, "" },
	/* ECS's own blue/green, linear and canary start a full new fleet: min/max do not apply */
	{ "BLUE_GREEN", SVC(4, "\"strategy\": \"BLUE_GREEN\", " MINMAX(0, 100)), NULL, "app", false,
	  true, 6, "" },
	{ "LINEAR", SVC(4, "\"strategy\": \"LINEAR\", " MINMAX(0, 100)), NULL, "app", false, true,
	  6, "" },
	{ "CANARY", SVC(4, "\"strategy\": \"CANARY\", " MINMAX(0, 100)), NULL, "app", false, true,
	  6, "" },
	{ "BLUE_GREEN, rollback off, no circuit breaker", SVC(4, "\"strategy\": \"BLUE_GREEN\""),
	  NULL, "app", false, false, 6, F(CB_OFF) },
	{ "DAEMON: one task per instance, stopped before its replacement",
	  "{\"desiredCount\": 3, \"schedulingStrategy\": \"DAEMON\", "
	  "\"deploymentConfiguration\": {" MINMAX(0, 100) "}}",
	  NULL, "app", false, true, 6, "" },
	{ "REPLICA said is the default",
	  "{\"desiredCount\": 3, \"schedulingStrategy\": \"REPLICA\", "
	  "\"deploymentConfiguration\": {" MINMAX(0, 100) "}}",
	  NULL, "app", false, true, 6, F(MIN_SET "=0") F(MAX_SET "=100") },
	/* circuit breaker and alarms */
	{ "rollback off, circuit breaker on", SVC(4, CB_ON), NULL, "app", false, false, 6, "" },
	{ "rollback off, alarms on",
	  SVC(4, "\"alarms\": {\"enable\": true, \"rollback\": true, \"alarmNames\": [\"5xx\"]}"),
	  NULL, "app", false, false, 6, "" },
	{ "rollback off, both said disabled",
	  SVC(4, "\"deploymentCircuitBreaker\": {\"enable\": false, \"rollback\": true}, "
		 "\"alarms\": {\"enable\": false, \"alarmNames\": [\"5xx\"]}"),
	  NULL, "app", false, false, 6, F(CB_OFF) },
	{ "rollback on, both disabled: our rollback covers it", SVC(4, ""), NULL, "app", false,
	  true, 6, "" },
	/* versionConsistency, strategy force only, with the task definition read */
	{ "force, tag, disabled", SVC(2, CB_ON), TD(TAGGED, VC_OFF, TAGGED, ""), "app", true, true,
	  6, F(VC("app")) },
	{ "force, digest, disabled", SVC(2, CB_ON), TD(PINNED, VC_OFF, TAGGED, ""), "app", true,
	  true, 6, "" },
	{ "force, tag, enabled", SVC(2, CB_ON), TD(TAGGED, VC_ON, TAGGED, VC_OFF), "app", true,
	  true, 6, "" },
	{ "force, tag, versionConsistency by default (enabled)", SVC(2, CB_ON),
	  TD(TAGGED, "", TAGGED, VC_OFF), "app", true, true, 6, "" },
	{ "revision: the image will be pinned", SVC(2, CB_ON), TD(TAGGED, VC_OFF, TAGGED, VC_OFF),
	  "app sidecar", false, true, 6, "" },
	{ "force, task definition not read", SVC(2, CB_ON), NULL, "app", true, true, 6, "" },
	{ "force, only the target's containers count", SVC(2, CB_ON),
	  TD(PINNED, VC_OFF, TAGGED, VC_OFF), "app", true, true, 6, "" },
	{ "force, two containers in the target's order", SVC(2, CB_ON),
	  TD(TAGGED, VC_OFF, TAGGED, VC_OFF), "sidecar app", true, true, 6,
	  F(VC("sidecar")) F(VC("app")) },
	{ "force, a container the task definition lacks", SVC(2, CB_ON),
	  TD(TAGGED, VC_OFF, TAGGED, VC_OFF), "worker", true, true, 6, "" },
	/* every rule at once, and max */
	{ "all of them", SVC(4, MINMAX(50, 100)), TD(TAGGED, VC_OFF, TAGGED, VC_OFF), "app sidecar",
	  true, false, 6,
	  F(MIN_SET "=50") F(MAX_SET "=100") F(CB_OFF) F(VC("app")) F(VC("sidecar")) },
	{ "all of them, max 2", SVC(4, MINMAX(50, 100)), TD(TAGGED, VC_OFF, TAGGED, VC_OFF),
	  "app sidecar", true, false, 2, F(MIN_SET "=50") F(MAX_SET "=100") },
	{ "all of them, max 0", SVC(4, MINMAX(50, 100)), TD(TAGGED, VC_OFF, TAGGED, VC_OFF),
	  "app sidecar", true, false, 0, "" },
	/* hostile shapes: a wrong type counts as missing (ECS's default), never as a finding */
	{ "svc a list", "[1, 2]", NULL, "app", true, false, 6, "" },
	{ "svc a string", "\"svc\"", NULL, "app", true, false, 6, "" },
	{ "deploymentConfiguration a string",
	  "{\"desiredCount\": 4, \"deploymentConfiguration\": \"50/100\"}", NULL, "app", false,
	  true, 6, "" },
	{ "nulls", "{\"desiredCount\": null, \"deploymentConfiguration\": null}", NULL, "app",
	  false, false, 6, F(CB_OFF) },
	{ "numbers as strings",
	  "{\"desiredCount\": \"4\", \"deploymentConfiguration\": {"
	  "\"minimumHealthyPercent\": \"50\", \"maximumPercent\": \"100\"}}",
	  NULL, "app", false, true, 6, "" },
	{ "desiredCount as a string, min and max numbers", SVC("4", MINMAX(50, 100)), NULL, "app",
	  false, true, 6, "" },
	{ "numbers ECS cannot send", SVC(4, MINMAX(-1, 1e400)), NULL, "app", false, true, 6, "" },
	{ "fractions", SVC(4, MINMAX(99.5, 124.5)), NULL, "app", false, true, 6, "" },
	{ "desiredCount infinite", SVC(1e400, MINMAX(50, 100)), NULL, "app", false, true, 6, "" },
	{ "desiredCount the largest Integer", SVC(2147483647, MINMAX(100, 100)), NULL, "app", false,
	  true, 6, F(MAX_SET "=100") },
	{ "strategy a number", SVC(4, "\"strategy\": 1, " MINMAX(50, 200)), NULL, "app", false,
	  true, 6, F(MIN_SET "=50") },
	{ "circuit breaker enable a string",
	  SVC(4, "\"deploymentCircuitBreaker\": {\"enable\": \"true\"}, \"alarms\": []"), NULL,
	  "app", false, false, 6, F(CB_OFF) },
	{ "containerDefinitions an object", SVC(2, CB_ON), "{\"containerDefinitions\": {}}", "app",
	  true, true, 6, "" },
	{ "container items of every wrong type", SVC(2, CB_ON),
	  "{\"containerDefinitions\": [null, 1, \"app\", [], {\"name\": 1}, {\"name\": \"app\", "
	  "\"image\": 7, \"versionConsistency\": \"disabled\"}, {\"name\": \"app\", \"image\": "
	  "\"x:1\", \"versionConsistency\": false}]}",
	  "app", true, true, 6, "" },
	{ "task definition a list", SVC(2, CB_ON), "[]", "app", true, true, 6, "" },
};

/* Whether s is NUL-terminated within n and holds no control character. */
static bool printable(const char *s, size_t n)
{
	const char *end = memchr(s, '\0', n);

	if (!end)
		return false;
	for (; s < end; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

TEST(guard_check_table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct guard_row *row = &rows[i];
		struct guard_finding out[GUARD_FINDINGS_MAX + 1];
		cJSON *svc = cJSON_Parse(row->svc), *td = row->td ? cJSON_Parse(row->td) : NULL;
		char names[64], *containers[3], *save = NULL, got[2048] = "";
		size_t n_containers = 0, n, len = 0;

		if (!svc || (row->td && !td))
			unit_fail(__FILE__, __LINE__, "%s: the row's JSON does not parse",
				  row->name);
		snprintf(names, sizeof(names), "%s", row->containers);
		for (char *c = strtok_r(names, " ", &save); c && n_containers < 3;
		     c = strtok_r(NULL, " ", &save))
			containers[n_containers++] = c;
		memset(out, 0x41, sizeof(out)); /* no NUL: a text left unset shows */
		n = guard_check(svc, td, (const char *const *)containers, n_containers, row->force,
				row->rollback, out, row->max);
		for (size_t k = 0; k < n && k < GUARD_FINDINGS_MAX + 1; k++) {
			if (!printable(out[k].setting, sizeof(out[k].setting)) ||
			    !printable(out[k].value, sizeof(out[k].value)) ||
			    !printable(out[k].why, sizeof(out[k].why)) || !out[k].why[0]) {
				unit_fail(__FILE__, __LINE__,
					  "%s: finding %zu is not printable text", row->name, k);
				break;
			}
			len += (size_t)snprintf(got + len, sizeof(got) - len, "%s=%s\n",
						out[k].setting, out[k].value);
		}
		if (strcmp(got, row->want))
			unit_fail(__FILE__, __LINE__, "%s:\n  got\n%s  want\n%s", row->name, got,
				  row->want);
		if (n > row->max ||
		    (row->max <= GUARD_FINDINGS_MAX && out[row->max].setting[0] != 0x41))
			unit_fail(__FILE__, __LINE__, "%s: wrote past max %zu", row->name,
				  row->max);
		cJSON_Delete(svc);
		cJSON_Delete(td);
	}
}

/* The sentences, for the log: what happens during a deploy, with the service's numbers. */
TEST(guard_check_says_why)
{
	cJSON *svc = cJSON_Parse(SVC(4, MINMAX(50, 100)));
	cJSON *td = cJSON_Parse(TD(TAGGED, VC_OFF, PINNED, ""));
	const char *app[] = { "app" };
	struct guard_finding out[GUARD_FINDINGS_MAX];
	size_t n = guard_check(svc, td, app, 1, true, false, out, GUARD_FINDINGS_MAX);

	CHECK_INT(n, 4);
	if (n == 4) {
		CHECK_STR(out[0].why, "4 tasks may drop to 2 during a deploy: ECS stops old tasks "
				      "before their replacements are healthy");
		CHECK_STR(out[1].why, "with 4 tasks at most 4 may run during a deploy: there is no "
				      "room to start a new task beside the old ones, so old tasks "
				      "are stopped first");
		CHECK_STR(out[2].why,
			  "neither the deployment circuit breaker nor CloudWatch alarms "
			  "stop a failing deployment, and the target's rollback is "
			  "'none': a bad image would stay");
		CHECK_STR(out[3].why, "the image names a tag and versionConsistency is disabled: "
				      "with strategy force, the tasks of one deployment may run "
				      "different digests of it");
	}
	cJSON_Delete(svc);
	cJSON_Delete(td);

	/* ECS rounds the healthy minimum up: 3 tasks at 50% keep 2 */
	svc = cJSON_Parse(SVC(3, MINMAX(50, 200)));
	n = guard_check(svc, NULL, app, 1, false, true, out, GUARD_FINDINGS_MAX);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_STR(out[0].why, "3 tasks may drop to 2 during a deploy: ECS stops old tasks "
				      "before their replacements are healthy");
	cJSON_Delete(svc);
}

/* A container name is shown escaped and bounded, whatever it holds. */
TEST(guard_check_escapes_and_bounds_names)
{
	char long_name[301], ctl_name[41], td_text[2048], json_ctl[41 * 6 + 1] = "";
	const char *names[3] = { "a\x1b[2J\n", long_name, ctl_name };
	struct guard_finding out[GUARD_FINDINGS_MAX];
	cJSON *svc = cJSON_Parse(SVC(2, CB_ON)), *td;
	size_t n;

	memset(long_name, 'x', 300);
	long_name[300] = '\0';
	memset(ctl_name, 0x01, 40); /* each shown as \x01: four times as long */
	ctl_name[40] = '\0';
	for (int i = 0; i < 40; i++)
		memcpy(json_ctl + 6 * i, "\\u0001", 7);
	snprintf(td_text, sizeof(td_text),
		 "{\"containerDefinitions\": [{\"name\": \"a\\u001b[2J\\n\", \"image\": \"r:t\", "
		 "\"versionConsistency\": \"disabled\"}, {\"name\": \"%s\", \"image\": \"r:t\", "
		 "\"versionConsistency\": \"disabled\"}, {\"name\": \"%s\", \"image\": \"r:t\", "
		 "\"versionConsistency\": \"disabled\"}]}",
		 long_name, json_ctl);
	td = cJSON_Parse(td_text);
	n = guard_check(svc, td, names, 3, true, true, out, GUARD_FINDINGS_MAX);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_STR(out[0].setting, "containerDefinitions[a\\x1b[2J\\n].versionConsistency");
		for (size_t k = 1; k < 3; k++) {
			CHECK(printable(out[k].setting, sizeof(out[k].setting)));
			CHECK_STR(out[k].value, "disabled");
			/* cut whole: never inside an escape, always with its closing part */
			CHECK(strstr(out[k].setting, "...].versionConsistency") != NULL);
		}
		CHECK(strncmp(out[1].setting, "containerDefinitions[xxxx", 25) == 0);
		CHECK(strstr(out[2].setting, "\\x01\\x01...]") != NULL);
	}
	cJSON_Delete(svc);
	cJSON_Delete(td);
}

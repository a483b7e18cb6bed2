/* SPDX-License-Identifier: MIT */
/* The typed rollout record; see record.h. */
#include "record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[STEP_COUNT] = {
	[STEP_INSPECT] = "inspect",
	[STEP_INSPECT_TD] = "inspect-taskdef",
	[STEP_INSPECT_LIST] = "inspect-list",
	[STEP_INSPECT_TASKS] = "inspect-tasks",
	[STEP_INSPECT_REV] = "inspect-revision",
	[STEP_START] = "start",
	[STEP_READ_BASE] = "read-base",
	[STEP_REGISTERING] = "registering",
	[STEP_FIND_REGISTERED] = "find-registered",
	[STEP_REGISTERED] = "registered",
	[STEP_DEREGISTER] = "deregister",
	[STEP_UPDATING] = "updating",
	[STEP_FIND_UPDATE] = "find-update",
	[STEP_TRACKING] = "tracking",
	[STEP_TRACKING_SD] = "tracking-sd",
	[STEP_APPROVING] = "approving",
	[STEP_SD_EVENTS] = "read-events",
	[STEP_CONFIRM_LIST] = "confirm-list",
	[STEP_CONFIRM_TASKS] = "confirm-tasks",
	[STEP_SD_STOP] = "stopping",
	[STEP_SD_CHECK] = "stop-check",
	[STEP_RB_TRACKING_SD] = "rollback-tracking-sd",
	[STEP_ROLLBACK] = "rollback",
	[STEP_RB_FIND] = "rollback-find",
	[STEP_RB_READ_BASE] = "rollback-read-base",
	[STEP_RB_REGISTERING] = "rollback-registering",
	[STEP_RB_CHECK] = "rollback-check",
	[STEP_ROLLING_BACK] = "rolling-back",
	[STEP_RB_TRACKING] = "rollback-tracking",
	[STEP_CD_APPS] = "cd-applications",
	[STEP_CD_GROUPS] = "cd-groups",
	[STEP_CD_GROUP_INFO] = "cd-group-info",
	[STEP_CD_CREATING] = "creating",
	[STEP_CD_FIND] = "find-deployment",
	[STEP_CD_FIND_INFO] = "find-deployment-info",
	[STEP_CD_TRACKING] = "cd-tracking",
	[STEP_CD_APPROVING] = "cd-approving",
	[STEP_CD_DIAG_LIST] = "cd-read-targets",
	[STEP_CD_DIAG] = "cd-read-diagnostics",
	[STEP_CD_STOP] = "cd-stopping",
	[STEP_CD_STOP_CHECK] = "cd-stop-check",
	[STEP_CD_RB_TRACKING] = "cd-rollback-tracking",
	[STEP_CD_RB_CREATING] = "cd-rolling-back",
	[STEP_CD_RB_FIND] = "cd-rollback-find",
	[STEP_CD_RB_FIND_INFO] = "cd-rollback-find-info",
};

const char *record_step_name(enum rollout_step step)
{
	return (unsigned)step < STEP_COUNT ? names[step] : "?";
}

int record_step_from_name(const char *name)
{
	for (int i = 0; name && i < STEP_COUNT; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

int record_set(char **field, const char *value)
{
	char *c = NULL;

	if (value && !(c = strdup(value)))
		return -ENOMEM;
	free(*field);
	*field = c;
	return 0;
}

#define STRINGS(X) X(watch) X(tkey) RECORD_STRINGS(X)

void record_free(struct rollout_rec *rec)
{
	if (!rec)
		return;
#define FREE(f) free(rec->f);
	STRINGS(FREE)
#undef FREE
	for (size_t i = 0; i < rec->n_containers; i++)
		free(rec->containers[i]);
	free(rec);
}

bool record_is_revision(const struct rollout_rec *rec)
{
	return !rec->strategy || !strcmp(rec->strategy, "revision");
}

bool record_is_codedeploy(const struct rollout_rec *rec)
{
	return rec->strategy && !strcmp(rec->strategy, "codedeploy");
}

bool record_pins(const struct rollout_rec *rec)
{
	return record_is_revision(rec) || record_is_codedeploy(rec);
}

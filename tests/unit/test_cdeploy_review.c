/* SPDX-License-Identifier: MIT */
/*
 * Review of daemon/cdtrack (issue 16): verdicts on CodeDeploy answers that are odd but possible.
 * Each test here failed when it was written; its comment says what should happen instead.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdtrack.h"
#include "record.h"
#include "rollout.h"

/*
 * A deployment Stopped by someone else (not us) in a group whose automatic rollback covers
 * DEPLOYMENT_STOP_ON_REQUEST, or Stopped by CodeDeploy at the end of a Ready wait (TIMEOUT) with
 * DEPLOYMENT_FAILURE covered: CodeDeploy rolls it back, and rollbackInfo may come a moment after
 * the status (awssim's codedeploy_rollback_delay). Today the verdict is CD_STOPPED at once
 * (auto_rollback() only looks at Failed), so the rollback is never followed nor reported. It
 * should be CD_WAIT_ROLLBACK until rollback_until, as for Failed.
 */
TEST(cdeploy_review_stopped_with_an_automatic_rollback_waits_for_rollback_info)
{
	static const char *const infos[] = {
		"{\"deploymentId\":\"d-1\",\"status\":\"Stopped\",\"errorInformation\":{\"code\":"
		"\"DEPLOYMENT_STOPPED\",\"message\":\"stopped by a user\"},"
		"\"autoRollbackConfiguration\":{\"enabled\":true,\"events\":["
		"\"DEPLOYMENT_STOP_ON_REQUEST\"]}}",
		"{\"deploymentId\":\"d-1\",\"status\":\"Stopped\",\"errorInformation\":{\"code\":"
		"\"TIMEOUT\",\"message\":\"ready wait timed out\"},"
		"\"autoRollbackConfiguration\":{\"enabled\":true,\"events\":["
		"\"DEPLOYMENT_FAILURE\"]}}",
	};

	for (size_t i = 0; i < sizeof(infos) / sizeof(infos[0]); i++) {
		cJSON *info = cJSON_Parse(infos[i]);
		struct cd_input in = { .info = info,
				       .stopped_by_us = false,
				       .now = 10,
				       .deadline = 1000,
				       .appear_by = 100,
				       .rollback_until = 50 };
		struct cd_result out;

		CHECK(info != NULL);
		cdtrack_verdict(&in, &out);
		if (out.verdict != CD_WAIT_ROLLBACK)
			fprintf(stderr, "  row %zu: verdict %d (%s), want CD_WAIT_ROLLBACK (%d)\n",
				i, (int)out.verdict, out.reason, (int)CD_WAIT_ROLLBACK);
		CHECK(out.verdict == CD_WAIT_ROLLBACK);
		cJSON_Delete(info);
	}
}

/*
 * An unknown status (CD_ANOMALY): cd_read_tracking's progress() first records it as cd_status,
 * then OUT_ANOMALY asks can_roll_back()/cd_rollback_step(), which ask cd_in_progress(). With the
 * unknown status recorded, cd_in_progress() says no, so the rollback is a CreateDeployment of
 * ours (ROLLBACK_BY_US) while CodeDeploy's deployment, in a state we do not know, may still run:
 * no StopDeployment is sent. A status we do not know is not an end: cd_in_progress() should say
 * yes (stop it first, as for InProgress), and say no only for Succeeded, Failed and Stopped.
 */
TEST(cdeploy_review_an_unknown_status_is_not_taken_for_an_end)
{
	struct rollout_rec rec;

	memset(&rec, 0, sizeof(rec));
	CHECK(record_set(&rec.cd_deployment_id, "d-ABCDEFGHI") == 0);
	CHECK(record_set(&rec.cd_status, "InProgress") == 0);
	CHECK(cd_in_progress(&rec));
	CHECK(record_set(&rec.cd_status, "Exploding") == 0);
	CHECK(cd_in_progress(&rec));
	CHECK(record_set(&rec.cd_status, "Stopped") == 0);
	CHECK(!cd_in_progress(&rec));
	free(rec.cd_deployment_id);
	free(rec.cd_status);
}

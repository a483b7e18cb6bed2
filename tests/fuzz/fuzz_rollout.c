/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the rollout files: the bytes become one file of
 * <state>/rollouts in a scratch directory, state_open() loads it (or sets it
 * aside with a warning), the rollouts are walked as the deployer does at a
 * resume, and everything is freed and emptied again.
 */
#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "state.h"
#include "statedir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(struct rollout_rec *rec, void *ud)
{
	cJSON *back = NULL;

	/* What the deployer does at a resume (it takes the record over), and the record written
	 * back. */
	if (state_record_to_json(rec, &back) == 0)
		cJSON_Delete(back);
	*(size_t *)ud += (rec->watch ? 1 : 0) + (rec->tkey ? 1 : 0);
	record_free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = fuzz_statedir();
	char path[300], why[600];
	struct state *s = NULL;
	char *warning = NULL;
	size_t n = 0;

	if (!dir)
		return 0;
	snprintf(path, sizeof(path), "%s/rollouts", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/rollouts/00000000000000ff.json", dir);
	if (fuzz_put(path, data, size) == 0 &&
	    state_open(dir, &s, &warning, why, sizeof(why)) == 0) {
		state_each_rollout(s, walk, &n);
		state_free(s);
	}
	free(warning);
	fuzz_clean();
	return 0;
}

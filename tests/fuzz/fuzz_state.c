/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the state file loader: the bytes become state.json in a
 * scratch directory, state_open() reads them (checks the shape, refuses invalid
 * digests, sets an unusable file aside and starts afresh), the readers run over
 * what it kept, and everything is freed and emptied again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "state.h"
#include "statedir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = fuzz_statedir();
	char path[300], why[600];
	struct state *s = NULL;
	char *warning = NULL;

	if (!dir)
		return 0;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	if (fuzz_put(path, data, size) == 0 &&
	    state_open(dir, &s, &warning, why, sizeof(why)) == 0) {
		(void)state_seen(s, "web", "prod");
		(void)state_seen_tag(s, "web");
		struct state_want want;
		if (state_want(s, "web", &want) && (!want.image || !digest_valid(want.digest)))
			abort();
		(void)state_deployed(s, "web", "us-east-1/prod/web");
		(void)state_held(s, "web", "us-east-1/prod/web");
		(void)state_failed_has(
		    s, "web", "us-east-1/prod/web",
		    "sha256:"
		    "0000000000000000000000000000000000000000000000000000000000000000");
		(void)state_reset_pending(s);
		state_free(s);
	}
	free(warning);
	fuzz_clean();
	return 0;
}

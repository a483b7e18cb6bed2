/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the history loader: the bytes become history.json in a scratch directory,
 * history_open() reads them (checks every entry, keeps an unusable file aside and starts empty,
 * trims each target to the bound), the readers run over what it kept, one entry is added (the
 * file written again), and everything is freed and emptied again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "history.h"
#include "statedir.h"

#define D0 "sha256:0000000000000000000000000000000000000000000000000000000000000000"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = fuzz_statedir();
	char path[300], why[600];
	struct history *h = NULL;
	char *warning = NULL;
	struct history_entry e = { .watch = "web",
				   .target = "web/web",
				   .digest = D0,
				   .result = HISTORY_COMPLETED,
				   .started = 1,
				   .ended = 2 };

	if (!dir)
		return 0;
	snprintf(path, sizeof(path), "%s/history.json", dir);
	if (fuzz_put(path, data, size) == 0 &&
	    history_open(dir, 3, &h, &warning, why, sizeof(why)) == 0) {
		cJSON_Delete(history_list(h, NULL, NULL, 1000));
		cJSON_Delete(history_list(h, "web", NULL, 5));
		cJSON_Delete(history_list(h, NULL, "web/web", 5));
		(void)history_previous(h, "web/web", D0, NULL, NULL);
		(void)history_add(h, &e, NULL, NULL, why, sizeof(why));
		(void)history_count(h);
		history_free(h);
	}
	free(warning);
	fuzz_clean();
	return 0;
}

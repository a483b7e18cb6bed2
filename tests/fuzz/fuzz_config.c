/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the configuration parser (comment stripping, the
 * position index, cJSON, every validator). Built with clang by `make fuzz`;
 * under gcc, tests/fuzz/replay.c runs it over the committed corpus in
 * `make check` (and under ASan with SANITIZE=1).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = { 0 };
	struct config *cfg = NULL;

	static FILE *sink;

	if (!sink)
		sink = fopen("/dev/null", "we"); /* the summary is formatted, then discarded */
	if (config_parse_text("fuzz.json", (const char *)data, size, &cfg, &errs) == 0 && sink)
		config_print_summary(cfg, sink);
	config_free(cfg);
	config_errors_done(&errs);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * ecr-deployctl's views of the daemon's replies (daemon/ctl/ctl_render): any JSON, of any shape,
 * rendered as a status and as a history, with and without colour, into memory. Nothing the daemon
 * sends may crash the client or leak; and no control character of the input reaches the output
 * other than the newlines and the colour codes of the client's own.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "ctl_render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when out holds no control character but '\n' and, with color, ESC. */
static int clean(const char *out, size_t len, int color)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];
		if (c == '\n' || (color && c == 0x1b))
			continue;
		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	cJSON *root = cJSON_ParseWithLength((const char *)data, size);
	if (!root)
		return 0;
	for (int color = 0; color < 2; color++) {
		for (int view = 0; view < 2; view++) {
			char *out = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&out, &len);
			if (!f)
				abort();
			if (view == 0)
				ctl_render_status(f, root, 1796076000.0, color);
			else
				ctl_render_history(f, root, 1796076000.0, color);
			fclose(f);
			if (!clean(out, len, color))
				abort();
			free(out);
		}
	}
	cJSON_Delete(root);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the shared config and credentials files
 * (profile_parse_text: sections, "profile NAME", key = value, indented
 * sub-blocks). The first byte picks the file kind and the profile asked
 * for; the rest is the file. Secrets must land in the secret arena and none
 * may leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "default", "ops", "base", "profile ops" };
	struct secmem_stats before, after;
	struct aws_profile p;
	char why[512], *text;

	if (size < 1)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	secmem_stats(&before);
	memset(&p, 0, sizeof(p));
	if (profile_parse_text(text, "fuzz", data[0] & 1, names[(data[0] >> 1) & 3], &p, why,
			       sizeof(why)) == 0) {
		if ((p.secret_access_key && !secmem_owns(p.secret_access_key)) ||
		    (p.session_token && !secmem_owns(p.session_token)))
			abort();
	}
	profile_done(&p);
	secmem_stats(&after);
	if (after.in_use != before.in_use)
		abort();
	free(text);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* The one check of an image digest's form; see digest.h. */
#include "digest.h"

#include <string.h>

/* The lowercase hex digits (read on every tag of every poll: a table, not two ranges). */
static const unsigned char lower_hex[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
};

bool digest_valid_n(const char *s, size_t len)
{
	unsigned ok = 1;

	if (!s || len != DIGEST_LEN || memcmp(s, "sha256:", 7) != 0)
		return false;
	for (size_t i = 7; i < DIGEST_LEN; i++)
		ok &= lower_hex[(unsigned char)s[i]];
	return ok;
}

bool digest_valid(const char *s)
{
	return s && digest_valid_n(s, strnlen(s, DIGEST_LEN + 1));
}

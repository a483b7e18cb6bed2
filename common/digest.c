/* SPDX-License-Identifier: MIT */
/* The one check of an image digest's form; see digest.h. */
#include "digest.h"

#include <string.h>

bool digest_valid_n(const char *s, size_t len)
{
	if (!s || len != DIGEST_LEN || memcmp(s, "sha256:", 7) != 0)
		return false;
	for (size_t i = 7; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool digest_valid(const char *s)
{
	return s && digest_valid_n(s, strnlen(s, DIGEST_LEN + 1));
}

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

static const char hex_digits[] = "0123456789abcdef";

static unsigned hex_value(char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

void digest_pack(const char *d, uint8_t out[DIGEST_BYTES])
{
	for (size_t k = 0; k < DIGEST_BYTES; k++)
		out[k] = (uint8_t)(hex_value(d[7 + 2 * k]) << 4 | hex_value(d[8 + 2 * k]));
}

char *digest_unpack(const uint8_t in[DIGEST_BYTES], char out[DIGEST_LEN + 1])
{
	memcpy(out, "sha256:", 7);
	for (size_t k = 0; k < DIGEST_BYTES; k++) {
		out[7 + 2 * k] = hex_digits[in[k] >> 4];
		out[8 + 2 * k] = hex_digits[in[k] & 15];
	}
	out[DIGEST_LEN] = '\0';
	return out;
}

bool digest_packed_is(const uint8_t in[DIGEST_BYTES], const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0)
		return false;
	d += 7;
	for (size_t k = 0; k < DIGEST_BYTES; k++)
		if (d[2 * k] != hex_digits[in[k] >> 4] || d[2 * k + 1] != hex_digits[in[k] & 15])
			return false;
	return d[64] == '\0';
}

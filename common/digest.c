/* SPDX-License-Identifier: MIT */
/* The one check of an image digest's form; see digest.h. */
#include "digest.h"

#include <stdint.h>
#include <string.h>

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether the 8 bytes of w are all lowercase hex digits, 8 at a time (read on every tag of every
 * poll): with no byte at 0x80 or above, x + (0x80 - c) has its high bit set exactly when x >= c,
 * and no sum carries into the next byte. */
static bool lower_hex8(uint64_t w)
{
	uint64_t ge_0 = (w + ONES * (0x80 - '0')) & HIGHS,
		 gt_9 = (w + ONES * (0x80 - '9' - 1)) & HIGHS,
		 ge_a = (w + ONES * (0x80 - 'a')) & HIGHS,
		 gt_f = (w + ONES * (0x80 - 'f' - 1)) & HIGHS;

	return !(w & HIGHS) && ((ge_0 & ~gt_9) | (ge_a & ~gt_f)) == HIGHS;
}

bool digest_valid_n(const char *s, size_t len)
{
	bool ok = true;

	if (!s || len != DIGEST_LEN || memcmp(s, "sha256:", 7) != 0)
		return false;
	for (size_t i = 7; i < DIGEST_LEN; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		ok &= lower_hex8(w);
	}
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

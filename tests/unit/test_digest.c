/* SPDX-License-Identifier: MIT */
/* Table-driven tests of common/digest: the one accepted form and the rejections around it. */
#include "unit.h"

#include <string.h>

#include "digest.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX63 "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX62 "23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

TEST(digest_valid_rows)
{
	static const struct {
		const char *text;
		bool ok;
	} rows[] = {
		{ "sha256:" HEX64, true },
		{ "sha256:"
		  "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		  true },
		{ "sha256:"
		  "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		  false },
		{ "sha256:"
		  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
		  false },
		{ "sha256:" HEX64 "0", false },
		{ "sha256:" HEX64 "\n", false },
		{ "sha256:"
		  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
		  false },
		{ "sha256:"
		  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\"'",
		  false },
		{ "sha256:"
		  "../../../../etc/passwd/0123456789abcdef0123456789abcdef0123456789",
		  false },
		/* each neighbour of the ranges, and bytes above 0x7f */
		{ "sha256:/" HEX63, false },
		{ "sha256::" HEX63, false },
		{ "sha256:`" HEX63, false },
		{ "sha256:\xff" HEX63, false },
		{ "sha256:\xc3\xa9" HEX62, false },
		{ "sha256:" HEX63 "@", false },
		{ "sha256:0" HEX63, true },
		{ "sha512:" HEX64, false },
		{ "SHA256:" HEX64, false },
		{ " sha256:" HEX64, false },
		{ "sha256:", false },
		{ "", false },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (digest_valid(rows[i].text) != rows[i].ok)
			unit_fail(__FILE__, __LINE__, "row %zu '%s': expected %s", i, rows[i].text,
				  rows[i].ok ? "valid" : "invalid");
		if (digest_valid_n(rows[i].text, strlen(rows[i].text)) != rows[i].ok)
			unit_fail(__FILE__, __LINE__, "row %zu (with length): expected %s", i,
				  rows[i].ok ? "valid" : "invalid");
	}
	CHECK(!digest_valid(NULL));
	CHECK(!digest_valid_n(NULL, DIGEST_LEN));
	/* a NUL inside the length given */
	char nul[DIGEST_LEN + 1];
	memcpy(nul, "sha256:" HEX64, sizeof(nul));
	nul[40] = '\0';
	CHECK(!digest_valid_n(nul, DIGEST_LEN));
	/* A valid digest followed by more bytes is valid only with its own length. */
	CHECK(digest_valid_n("sha256:" HEX64 "@x", DIGEST_LEN));
	CHECK(!digest_valid("sha256:" HEX64 "@x"));
}

/* Every byte value at every position of the hex part (the check reads 8 bytes at a time): valid
 * exactly when it is a lowercase hex digit, whatever the bytes around it. */
TEST(digest_valid_every_byte_at_every_position)
{
	char d[DIGEST_LEN + 1];
	int wrong = 0;

	for (size_t pos = 7; pos < DIGEST_LEN; pos++)
		for (int c = 0; c < 256; c++) {
			memcpy(d, "sha256:" HEX64, DIGEST_LEN + 1);
			d[pos] = (char)c;
			bool want = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
			if (digest_valid_n(d, DIGEST_LEN) != want)
				wrong++;
		}
	CHECK(wrong == 0);
}

/* SPDX-License-Identifier: MIT */
/*
 * common/escape: what reaches stderr, the journal's MESSAGE or a message
 * from outside (AWS replies, tags, digests, ARNs, file text) must stay one
 * safe line. Table rows: input bytes, flags, the text expected.
 */
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "strbuf.h"
#include "unit.h"

struct row {
	const char *in;
	unsigned flags;
	const char *want;
};

static const struct row rows[] = {
	{ "", 0, "" },
	{ "plain words: 'team/web:prod' sha256:ab", 0, "plain words: 'team/web:prod' sha256:ab" },
	/* the forged line of the issue: an ECS event with a newline and a MESSAGE_ID */
	{ "x\n2026-01-01T00:00:00Z notice  deployed MESSAGE_ID=b70dbb90", 0,
	  "x\\n2026-01-01T00:00:00Z notice  deployed MESSAGE_ID=b70dbb90" },
	{ "a\rb\tc\n", 0, "a\\rb\\tc\\n" },
	{ "esc \x1b[31mred\x1b[0m", 0, "esc \\x1b[31mred\\x1b[0m" },
	{ "\x01\x07\x08\x0b\x0c\x1f\x7f", 0, "\\x01\\x07\\x08\\x0b\\x0c\\x1f\\x7f" },
	/* valid UTF-8 is kept: 2, 3 and 4 bytes */
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80", 0,
	  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80" },
	{ "\xef\xbf\xbf\xf4\x8f\xbf\xbf", 0, "\xef\xbf\xbf\xf4\x8f\xbf\xbf" },
	/* invalid UTF-8: every bad byte as \xNN, what follows is read again */
	{ "bad \xff\xfe end", 0, "bad \\xff\\xfe end" },
	{ "lone \x80 cont", 0, "lone \\x80 cont" },
	{ "cut \xc3", 0, "cut \\xc3" },
	{ "cut \xe2\x82", 0, "cut \\xe2\\x82" },
	{ "cut \xe2\x82x", 0, "cut \\xe2\\x82x" },
	{ "overlong \xc0\xaf \xc1\xbf", 0, "overlong \\xc0\\xaf \\xc1\\xbf" },
	{ "overlong \xe0\x80\xaf", 0, "overlong \\xe0\\x80\\xaf" },
	{ "overlong \xf0\x80\x80\xaf", 0, "overlong \\xf0\\x80\\x80\\xaf" },
	{ "surrogate \xed\xa0\x80", 0, "surrogate \\xed\\xa0\\x80" },
	{ "too big \xf4\x90\x80\x80", 0, "too big \\xf4\\x90\\x80\\x80" },
	{ "too big \xf5\x80\x80\x80", 0, "too big \\xf5\\x80\\x80\\x80" },
	{ "newline in a sequence \xe2\n", 0, "newline in a sequence \\xe2\\n" },
	/* valid UTF-8 that a terminal or reader would act on */
	{ "c1 csi \xc2\x9b"
	  "31m",
	  0, "c1 csi \\u009b31m" },
	{ "nel \xc2\x85", 0, "nel \\u0085" },
	{ "ls \xe2\x80\xa8 ps \xe2\x80\xa9", 0, "ls \\u2028 ps \\u2029" },
	{ "rlo \xe2\x80\xae gnp.exe", 0, "rlo \\u202e gnp.exe" },
	{ "isolate \xe2\x81\xa6", 0, "isolate \\u2066" },
	{ "marks \xe2\x80\x8e \xe2\x80\x8f", 0, "marks \\u200e \\u200f" },
	/* backslashes and quotes stay unless quoting */
	{ "a\\n \"q\"", 0, "a\\n \"q\"" },
	{ "a\\n \"q\"", ESCAPE_DQUOTE | ESCAPE_BACKSLASH, "a\\\\n \\\"q\\\"" },
	{ "it's \\ \"x\"", ESCAPE_SQUOTE | ESCAPE_BACKSLASH, "it\\'s \\\\ \"x\"" },
	/* a journal field may be multi-line; the rest is still escaped */
	{ "one\ntwo\r\x1b", ESCAPE_KEEP_NEWLINE, "one\ntwo\\r\\x1b" },
};

TEST(escape_table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct strbuf sb;
		strbuf_init(&sb, 4096);
		CHECK_INT(escape_append(&sb, rows[i].in, rows[i].flags), 0);
		if (strcmp(strbuf_str(&sb), rows[i].want) != 0)
			unit_fail(__FILE__, __LINE__, "row %zu: got '%s', want '%s'", i,
				  strbuf_str(&sb), rows[i].want);
		strbuf_done(&sb);
	}
}

/* Whatever the input, the output is one line of printable ASCII or valid UTF-8. */
TEST(escape_every_byte)
{
	for (int c = 0; c < 256; c++) {
		char in[4] = { 'a', (char)c, 'b', '\0' };
		struct strbuf sb;
		strbuf_init(&sb, 64);
		CHECK_INT(escape_append(&sb, in, 0), 0);
		for (const unsigned char *p = (const unsigned char *)strbuf_str(&sb); *p; p++)
			if (*p < 0x20 || *p >= 0x7f)
				unit_fail(__FILE__, __LINE__, "byte 0x%02x: 0x%02x left in '%s'", c,
					  *p, strbuf_str(&sb));
		strbuf_done(&sb);
	}
}

TEST(escape_full_buffer)
{
	struct strbuf sb;

	strbuf_init(&sb, 8);
	CHECK(escape_append(&sb, "0123456789\n", 0) < 0);
	CHECK(strchr(strbuf_str(&sb), '\n') == NULL);
	strbuf_done(&sb);
}

/* Cut after max bytes of the input or before the output would overflow, marked "...", never inside
 * an escape or a UTF-8 sequence. */
TEST(escape_bounded_rows)
{
	static const struct {
		const char *in;
		size_t max, n;
		unsigned flags;
		const char *want;
	} b[] = {
		{ "short", 120, 64, 0, "short" },
		{ "0123456789", 4, 64, 0, "0123..." },
		{ "0123456789", 120, 10, 0, "012345..." },
		{ "ab\x1b[2J", 120, 64, 0, "ab\\x1b[2J" },
		{ "ab\x1b"
		  "cd",
		  120, 9, 0, "ab..." }, /* the escape does not fit whole */
		{ "ab\xc3\xa9"
		  "cd",
		  3, 64, 0, "ab\xc3\xa9..." }, /* a sequence is taken whole */
		{ "it's", 120, 64, ESCAPE_SQUOTE, "it\\'s" },
		{ NULL, 120, 64, 0, "(none)" },
	};
	char out[64];

	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		escape_bounded(b[i].in, b[i].max, out, b[i].n, b[i].flags);
		if (strcmp(out, b[i].want) != 0)
			unit_fail(__FILE__, __LINE__, "row %zu: got '%s', want '%s'", i, out,
				  b[i].want);
	}
}

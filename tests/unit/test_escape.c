/* SPDX-License-Identifier: MIT */
/*
 * log_escape(): what reaches stderr or the journal's MESSAGE from outside
 * (AWS replies, tags, digests, ARNs) must stay one safe line. Table rows:
 * input bytes, flags, the text expected.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
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
	/* backslashes and quotes stay unless quoting */
	{ "a\\n \"q\"", 0, "a\\n \"q\"" },
	{ "a\\n \"q\"", LOG_ESCAPE_QUOTES, "a\\\\n \\\"q\\\"" },
	/* a journal field may be multi-line; the rest is still escaped */
	{ "one\ntwo\r\x1b", LOG_ESCAPE_KEEP_NEWLINE, "one\ntwo\\r\\x1b" },
};

TEST(log_escape_table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct strbuf sb;
		strbuf_init(&sb, 4096);
		CHECK_INT(log_escape(&sb, rows[i].in, rows[i].flags), 0);
		if (strcmp(strbuf_str(&sb), rows[i].want) != 0)
			unit_fail(__FILE__, __LINE__, "row %zu: got '%s', want '%s'", i,
				  strbuf_str(&sb), rows[i].want);
		strbuf_done(&sb);
	}
}

/* Whatever the input, the output is one line of printable ASCII or valid UTF-8. */
TEST(log_escape_every_byte)
{
	for (int c = 0; c < 256; c++) {
		char in[4] = { 'a', (char)c, 'b', '\0' };
		struct strbuf sb;
		strbuf_init(&sb, 64);
		CHECK_INT(log_escape(&sb, in, 0), 0);
		for (const unsigned char *p = (const unsigned char *)strbuf_str(&sb); *p; p++)
			if (*p < 0x20 || *p >= 0x7f)
				unit_fail(__FILE__, __LINE__, "byte 0x%02x: 0x%02x left in '%s'", c,
					  *p, strbuf_str(&sb));
		strbuf_done(&sb);
	}
}

TEST(log_escape_full_buffer)
{
	struct strbuf sb;

	strbuf_init(&sb, 8);
	CHECK(log_escape(&sb, "0123456789\n", 0) < 0);
	CHECK(strchr(strbuf_str(&sb), '\n') == NULL);
	strbuf_done(&sb);
}

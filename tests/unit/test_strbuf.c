/* SPDX-License-Identifier: MIT */
/* Tests of common/strbuf: the bound is exact, failed appends change nothing. */
#include "unit.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

TEST(strbuf_empty_is_empty_string)
{
	struct strbuf sb;

	strbuf_init(&sb, 10);
	CHECK_STR(strbuf_str(&sb), "");
	CHECK_INT(sb.len, 0);
	strbuf_done(&sb);
	strbuf_done(NULL);
}

TEST(strbuf_bound_is_exact)
{
	struct strbuf sb;

	strbuf_init(&sb, 8);
	CHECK_INT(strbuf_puts(&sb, "abcd"), 0);
	CHECK_INT(strbuf_puts(&sb, "efgh"), 0);
	CHECK_STR(strbuf_str(&sb), "abcdefgh");
	CHECK_INT(strbuf_putc(&sb, 'i'), -ENOBUFS);
	CHECK_INT(strbuf_puts(&sb, ""), 0);
	CHECK_STR(strbuf_str(&sb), "abcdefgh");
	CHECK_INT(sb.len, 8);
	strbuf_done(&sb);
}

TEST(strbuf_failed_append_changes_nothing)
{
	struct strbuf sb;

	strbuf_init(&sb, 10);
	CHECK_INT(strbuf_puts(&sb, "12345"), 0);
	CHECK_INT(strbuf_puts(&sb, "678901"), -ENOBUFS);
	CHECK_STR(strbuf_str(&sb), "12345");
	CHECK_INT(strbuf_printf(&sb, "%s-%d", "abc", 12), -ENOBUFS);
	CHECK_STR(strbuf_str(&sb), "12345");
	CHECK_INT(strbuf_printf(&sb, "%s%d", "ab", 123), 0);
	CHECK_STR(strbuf_str(&sb), "12345ab123");
	/* a size that would wrap size_t must not slip past the bound */
	CHECK_INT(strbuf_append(&sb, "x", SIZE_MAX), -ENOBUFS);
	CHECK_INT(sb.len, 10);
	strbuf_done(&sb);
}

TEST(strbuf_grows_past_initial_capacity)
{
	struct strbuf sb;
	char chunk[100];

	memset(chunk, 'x', sizeof(chunk));
	strbuf_init(&sb, 100000);
	for (int i = 0; i < 1000; i++)
		CHECK_INT(strbuf_append(&sb, chunk, sizeof(chunk)), 0);
	CHECK_INT(sb.len, 100000);
	CHECK(sb.cap <= 100001);
	CHECK_INT(strlen(strbuf_str(&sb)), 100000);
	CHECK_INT(strbuf_putc(&sb, 'y'), -ENOBUFS);
	strbuf_done(&sb);
}

TEST(strbuf_binary_and_reset)
{
	struct strbuf sb;

	strbuf_init(&sb, 64);
	CHECK_INT(strbuf_append(&sb, "a\0b", 3), 0);
	CHECK_INT(sb.len, 3);
	CHECK(memcmp(sb.buf, "a\0b", 4) == 0);
	strbuf_reset(&sb);
	CHECK_STR(strbuf_str(&sb), "");
	CHECK_INT(strbuf_printf(&sb, "%05d", 42), 0);
	CHECK_STR(strbuf_str(&sb), "00042");
	strbuf_done(&sb);
}

TEST(strbuf_steal_hands_over)
{
	struct strbuf sb;
	char *s;

	strbuf_init(&sb, 64);
	s = strbuf_steal(&sb);
	CHECK(s != NULL);
	CHECK_STR(s, "");
	free(s);
	CHECK_INT(strbuf_puts(&sb, "hello"), 0);
	s = strbuf_steal(&sb);
	CHECK_STR(s, "hello");
	CHECK_STR(strbuf_str(&sb), "");
	CHECK_INT(sb.len, 0);
	free(s);
	strbuf_done(&sb);
}

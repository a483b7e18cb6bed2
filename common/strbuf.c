/* SPDX-License-Identifier: MIT */
/*
 * Bounded string buffer: growth by doubling, a hard cap, all-or-nothing
 * appends.
 */
#include "strbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(struct strbuf *sb, size_t max)
{
	sb->buf = NULL;
	sb->len = 0;
	sb->cap = 0;
	sb->max = max;
	sb->wipe = false;
}

void strbuf_init_secret(struct strbuf *sb, size_t max)
{
	strbuf_init(sb, max);
	sb->wipe = true;
}

void strbuf_done(struct strbuf *sb)
{
	if (!sb)
		return;
	if (sb->wipe && sb->buf)
		explicit_bzero(sb->buf, sb->cap);
	free(sb->buf);
	sb->buf = NULL;
	sb->len = 0;
	sb->cap = 0;
}

void strbuf_reset(struct strbuf *sb)
{
	if (sb->wipe && sb->buf)
		explicit_bzero(sb->buf, sb->len);
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

/* Makes room for extra more bytes plus the NUL. */
static int reserve(struct strbuf *sb, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > sb->max || sb->len > sb->max - extra)
		return -ENOBUFS;
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return 0;
	cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > sb->max + 1)
		cap = sb->max + 1;
	if (sb->wipe) {
		p = malloc(cap);
		if (!p)
			return -ENOMEM;
		if (sb->buf) {
			memcpy(p, sb->buf, sb->len + 1);
			explicit_bzero(sb->buf, sb->cap);
			free(sb->buf);
		}
	} else {
		p = realloc(sb->buf, cap);
		if (!p)
			return -ENOMEM;
	}
	sb->buf = p;
	sb->cap = cap;
	return 0;
}

int strbuf_append(struct strbuf *sb, const void *data, size_t n)
{
	int r = reserve(sb, n);

	if (r < 0)
		return r;
	if (n)
		memcpy(sb->buf + sb->len, data, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
	return 0;
}

int strbuf_puts(struct strbuf *sb, const char *s)
{
	return strbuf_append(sb, s, strlen(s));
}

int strbuf_putc(struct strbuf *sb, char c)
{
	return strbuf_append(sb, &c, 1);
}

int strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list aq;
	int n, r;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return -EINVAL;
	r = reserve(sb, (size_t)n);
	if (r < 0)
		return r;
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
	return 0;
}

int strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = strbuf_vprintf(sb, fmt, ap);
	va_end(ap);
	return r;
}

const char *strbuf_str(const struct strbuf *sb)
{
	return sb->buf ? sb->buf : "";
}

char *strbuf_steal(struct strbuf *sb)
{
	char *p = sb->buf;

	if (!p) {
		p = strdup("");
		if (!p)
			return NULL;
	}
	sb->buf = NULL;
	sb->len = 0;
	sb->cap = 0;
	return p;
}

/* SPDX-License-Identifier: MIT */
/*
 * A growable string buffer with a hard upper bound. Used wherever a peer or
 * a user controls how much text we collect (HTTP bodies, canonical requests,
 * messages): an append that would pass the bound fails as a whole and leaves
 * the buffer as it was, so a caller never works on a silently cut string.
 *
 * The contents are always NUL-terminated; strbuf_str() of an empty buffer is
 * "". Binary data (embedded NULs) may be appended with strbuf_append().
 */
#ifndef ECR_STRBUF_H
#define ECR_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len; /* bytes held, NUL excluded */
	size_t cap; /* bytes allocated */
	size_t max; /* largest len allowed */
	bool wipe;  /* secret contents: every copy is wiped before its memory is released */
};

/* Prepares an empty buffer that may hold at most max bytes. Allocates nothing. */
void strbuf_init(struct strbuf *sb, size_t max);

/* As strbuf_init(), for text that may hold a secret: growing copies the contents to a new block
 * and wipes the old one (realloc would leave it behind), and reset and done wipe what was held. */
void strbuf_init_secret(struct strbuf *sb, size_t max);

/* Frees the contents; the buffer is empty and reusable afterwards. NULL is a no-op. */
void strbuf_done(struct strbuf *sb);

/* Empties the buffer, keeping its memory. */
void strbuf_reset(struct strbuf *sb);

/*
 * Appends n bytes of data. Returns 0, -ENOBUFS if the result would exceed the
 * bound, or -ENOMEM; on failure the buffer is unchanged.
 */
int strbuf_append(struct strbuf *sb, const void *data, size_t n);

/* Appends a NUL-terminated string; as strbuf_append(). */
int strbuf_puts(struct strbuf *sb, const char *s);

/* Appends one byte; as strbuf_append(). */
int strbuf_putc(struct strbuf *sb, char c);

/* Appends formatted text; as strbuf_append(), plus -EINVAL on a format error. */
int strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The contents, NUL-terminated; valid until the next change. Never NULL. */
const char *strbuf_str(const struct strbuf *sb);

/*
 * Hands the contents to the caller, who frees them with free(), and leaves
 * the buffer empty. Returns NULL only when allocation fails.
 */
char *strbuf_steal(struct strbuf *sb);

#endif

/* SPDX-License-Identifier: MIT */
/* The one escaper of text from outside; see escape.h. */
#include "escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "strbuf.h"

/* Code points that are valid but that a terminal or a reader acts on. */
static bool unsafe_code_point(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) ||     /* C1 controls: CSI, NEL, ... */
	       cp == 0x200e || cp == 0x200f ||   /* left-to-right and right-to-left marks */
	       (cp >= 0x2028 && cp <= 0x202e) || /* separators, embeddings, overrides */
	       (cp >= 0x2066 && cp <= 0x2069);   /* isolates */
}

/* The length of the valid UTF-8 sequence at u (2 to 4 bytes, within len) and its code point, or 0.
 */
static size_t utf8_seq(const unsigned char *u, size_t len, uint32_t *ret_cp)
{
	uint32_t cp, min;
	size_t n;

	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		n = 2, cp = u[0] & 0x1f, min = 0x80;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		n = 3, cp = u[0] & 0x0f, min = 0x800;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		n = 4, cp = u[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t k = 1; k < n; k++) {
		if (k >= len || (u[k] & 0xc0) != 0x80) /* a NUL ends a sequence too */
			return 0;
		cp = (cp << 6) | (u[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return n;
}

/* Whether the printable ASCII byte c stays as it is under flags. */
static bool plain(unsigned char c, unsigned flags)
{
	return c >= 0x20 && c < 0x7f && !(c == '"' && (flags & ESCAPE_DQUOTE)) &&
	       !(c == '\'' && (flags & ESCAPE_SQUOTE)) &&
	       !(c == '\\' && (flags & ESCAPE_BACKSLASH));
}

/* One character of s (len bytes left, the first not plain) as piece (NUL-terminated); returns the
 * bytes of s it stands for (>= 1). */
static size_t escape_one(const unsigned char *s, size_t len, unsigned flags, char piece[16])
{
	uint32_t cp;
	size_t n;

	if (*s == '\n' && (flags & ESCAPE_KEEP_NEWLINE)) {
		snprintf(piece, 16, "\n");
	} else if (*s == '\n' || *s == '\r' || *s == '\t') {
		snprintf(piece, 16, "%s", *s == '\n' ? "\\n" : *s == '\r' ? "\\r" : "\\t");
	} else if (*s == '"' || *s == '\'' || *s == '\\') {
		snprintf(piece, 16, "\\%c", *s);
	} else if (*s >= 0x80 && (n = utf8_seq(s, len, &cp)) > 0) {
		if (unsafe_code_point(cp)) {
			snprintf(piece, 16, "\\u%04x", (unsigned)cp);
		} else {
			memcpy(piece, s, n);
			piece[n] = '\0';
		}
		return n;
	} else {
		snprintf(piece, 16, "\\x%02x", *s); /* C0, DEL, a byte of bad UTF-8 */
	}
	return 1;
}

int escape_append(struct strbuf *sb, const char *s, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	char piece[16];
	int r = 0;

	while (*p && r >= 0) {
		const unsigned char *run = p;
		/* The common case, copied in one go. */
		while (*p && plain(*p, flags))
			p++;
		if (p > run)
			r = strbuf_append(sb, run, (size_t)(p - run));
		if (!*p || r < 0)
			break;
		p += escape_one(p, len - (size_t)(p - (const unsigned char *)s), flags, piece);
		r = strbuf_puts(sb, piece);
	}
	return r < 0 ? r : 0;
}

const char *escape_bounded(const char *s, size_t max, char *out, size_t n, unsigned flags)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, j = 0, len;
	char piece[16];

	if (!s) {
		snprintf(out, n, "(none)");
		return out;
	}
	len = strlen(s);
	while (i < len && i < max) {
		size_t used = 1, pl = 1;
		if (plain(u[i], flags)) {
			piece[0] = (char)u[i];
			piece[1] = '\0';
		} else {
			used = escape_one(u + i, len - i, flags, piece);
			pl = strlen(piece);
		}
		if (j + pl + 4 > n)
			break;
		memcpy(out + j, piece, pl);
		j += pl;
		i += used;
	}
	if (i < len) {
		memcpy(out + j, "...", 3);
		j += 3;
	}
	out[j] = '\0';
	return out;
}

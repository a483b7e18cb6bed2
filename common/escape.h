/* SPDX-License-Identifier: MIT */
/*
 * Text from outside (AWS replies, files, events) made safe for a log line or
 * a message: it can neither break nor forge a line, nor drive a terminal.
 * Printable ASCII and valid UTF-8 stay as they are; \n, \r and \t are
 * written "\n", "\r", "\t"; other control characters (C0, DEL) and each byte
 * of invalid UTF-8 (overlong, surrogate, beyond U+10FFFF, truncated) are
 * written "\xNN"; C1 controls, the Unicode line and paragraph separators and
 * the bidirectional marks, embeddings, overrides and isolates are written
 * "\uNNNN". The one escaper of the program: the log sinks, the configuration's
 * messages, the state file's and the deployer's warnings all use it.
 */
#ifndef ECR_ESCAPE_H
#define ECR_ESCAPE_H

#include <stddef.h>

struct strbuf;

enum escape_flags {
	ESCAPE_KEEP_NEWLINE = 1 << 0, /* '\n' stays raw (a journal field may be multi-line) */
	ESCAPE_DQUOTE = 1 << 1,       /* '"' becomes \" (a value in double quotes) */
	ESCAPE_SQUOTE = 1 << 2,       /* '\'' becomes \' (a value in single quotes) */
	ESCAPE_BACKSLASH = 1 << 3,    /* '\\' becomes \\ (so that an escape is unambiguous) */
};

/* Appends s, escaped, to sb. Returns 0, or -ENOBUFS when sb is full or -ENOMEM (what fitted is
 * kept). */
int escape_append(struct strbuf *sb, const char *s, unsigned flags);

/*
 * s escaped into out (n >= 8 bytes), cut after max bytes of s or before out would overflow, a
 * cut marked "..."; never in the middle of an escape or a UTF-8 sequence. s NULL gives "(none)".
 * Returns out.
 */
const char *escape_bounded(const char *s, size_t max, char *out, size_t n, unsigned flags);

#endif

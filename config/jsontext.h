/* SPDX-License-Identifier: MIT */
/*
 * JSON text helpers for the config loader: comment stripping that keeps
 * every line and column where it was, and an index from JSON paths
 * ("watches[2].targets[0].service") to where their values start, so that
 * errors found after cJSON has parsed the text can still name file:line:col.
 */
#ifndef ECR_JSONTEXT_H
#define ECR_JSONTEXT_H

#include <stddef.h>

/* The deepest nesting of objects and lists a configuration file may have. */
#define JSONTEXT_MAX_DEPTH 64

/*
 * Replaces // line comments and block comments in text[0..len) with spaces
 * (newlines kept), leaving strings alone. Returns 0, or -EINVAL for a block
 * comment that never ends (*ret_offset: where it starts).
 */
int jsontext_strip_comments(char *text, size_t len, size_t *ret_offset);

/*
 * Checks that text[0..len) (comments stripped; need not be valid JSON)
 * nests at most max objects and lists in one another, strings skipped.
 * Returns 0, or -E2BIG and *ret_offset: where the first one too deep opens.
 */
int jsontext_check_depth(const char *text, size_t len, int max, size_t *ret_offset);

/* 1-based line and column of byte offset off in text. */
void jsontext_position(const char *text, size_t off, int *ret_line, int *ret_col);

struct jsonpos_entry {
	char *path;
	size_t value_off; /* where the value starts */
	size_t key_off;   /* where its key starts (objects), else value_off */
};

struct jsonpos_dup {
	char *path; /* the duplicated member */
	size_t off, first_off;
};

/* A string holding the escape \u0000, which a NUL-terminated string would cut short. */
struct jsonpos_nul {
	char *path; /* the value's path; for a key, its object's */
	size_t off; /* where the escape starts */
};

struct strmap;

struct jsonpos {
	struct jsonpos_entry *entries;
	size_t n, cap;
	struct strmap *by_path; /* path -> entry index + 1 */
	size_t *lines;          /* offsets where lines start */
	size_t n_lines;
	struct jsonpos_dup *dups; /* duplicate keys found */
	size_t n_dups, cap_dups;
	struct jsonpos_nul *nuls; /* \u0000 escapes found, in keys and values */
	size_t n_nuls, cap_nuls;
};

/*
 * Indexes the positions of every value in text (valid JSON, comments
 * already stripped), and notes duplicate keys and \u0000 escapes. Returns 0;
 * -EINVAL when the text is not JSON or nests deeper than JSONTEXT_MAX_DEPTH
 * objects and lists; -ENOMEM. Free with jsonpos_done() in every case.
 */
int jsonpos_index(const char *text, size_t len, struct jsonpos *ret);
void jsonpos_done(struct jsonpos *p);

/* The entry for path, or NULL. */
const struct jsonpos_entry *jsonpos_find(const struct jsonpos *p, const char *path);

/* 1-based line and column of offset off, by the line index (O(log lines)). */
void jsonpos_position(const struct jsonpos *p, size_t off, int *ret_line, int *ret_col);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * A strict JSON reader that allocates nothing (but jsonscan_number() for absurdly long numbers),
 * for AWS replies read on every poll: the document is checked whole once (RFC 8259: one value,
 * strings with every escape including \u surrogate pairs and no raw control character, numbers of
 * the grammar, nesting at most JSONSCAN_DEPTH_MAX, nothing after the value but whitespace), then
 * the caller walks only the members it uses through spans of the document: an object's members one
 * by one (key and value), an array's items, a string decoded into the caller's buffer.
 *
 * Where it differs from cJSON (cJSON_ParseWithLengthOpts, require_null_terminated), jsonscan is
 * the stricter one: cJSON skips a UTF-8 byte-order mark and takes every byte up to 0x20 as
 * whitespace, accepts raw control characters inside strings, \u followed by other than 4 hex
 * digits, leading zeros ("01", "-01") and a fraction without digits ("1.", "1.e5", "-.5"); jsonscan
 * refuses all of them (tests/unit/test_jsonscan.c, tests/fuzz/fuzz_jsonscan.c). Like cJSON, it
 * keeps bytes of invalid UTF-8 inside strings as they are (AWS strings reach the escaper,
 * common/escape.h, before any log line) and accepts duplicate keys (jsonscan_member() takes the
 * first). Members are named case-sensitively (cJSON_GetObjectItem() is not).
 */
#ifndef ECR_JSONSCAN_H
#define ECR_JSONSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* Nesting of arrays and objects accepted (cJSON's CJSON_NESTING_LIMIT). */
#define JSONSCAN_DEPTH_MAX 1000

enum jsonscan_type {
	JSONSCAN_NULL = 1,
	JSONSCAN_FALSE,
	JSONSCAN_TRUE,
	JSONSCAN_NUMBER,
	JSONSCAN_STRING,
	JSONSCAN_ARRAY,
	JSONSCAN_OBJECT,
};

/* A value of a checked document: its text (a string's with its quotes), not NUL-terminated. It
 * points into the document, which must outlive it. */
struct jsonscan_value {
	enum jsonscan_type type;
	const char *text;
	size_t len;
};

/* A position among an array's items or an object's members. */
struct jsonscan_iter {
	const char *p, *end;
	bool object;
	bool open; /* (jsonscan_member_iter()) the walk ends at the container's closing bracket */
};

/*
 * Checks the len bytes at doc (NULs included) as one JSON document; on success *ret_root is its
 * value. Returns 0, or -EBADMSG with why (why_len bytes, NUL-terminated, may be 0) naming the
 * offset and the fault ("offset 12: raw control character in a string").
 */
int jsonscan_parse(const char *doc, size_t len, struct jsonscan_value *ret_root, char *why,
		   size_t why_len);

/* Starts a walk over the items of v, an array, or the members of v, an object (anything else
 * has none; an array has no members, an object no items). */
void jsonscan_iter_init(struct jsonscan_iter *it, const struct jsonscan_value *v);

/* The next item of an array: false at the end. */
bool jsonscan_next_item(struct jsonscan_iter *it, struct jsonscan_value *ret_value);

/* The next member of an object, its key (a string value) and value: false at the end. */
bool jsonscan_next_member(struct jsonscan_iter *it, struct jsonscan_value *ret_key,
			  struct jsonscan_value *ret_value);

/* The first member of object obj whose key decodes to exactly name (case-sensitive); false when
 * obj is not an object or has none. */
bool jsonscan_member(const struct jsonscan_value *obj, const char *name,
		     struct jsonscan_value *ret_value);

/*
 * The walk over the items (or members) of obj's first member named name, when its value is an
 * array (or an object), started without first going over that value to find its end: a reader
 * that walks a long array once instead of twice. False when obj is not an object, has no such
 * member or its value is neither (ret_it then has nothing to walk).
 */
bool jsonscan_member_iter(const struct jsonscan_value *obj, const char *name,
			  struct jsonscan_iter *ret_it);

/* The members of object obj named names[0..n-1] in one walk: ret_values[i] is the first member
 * named names[i], its type 0 when there is none (or obj is not an object). */
void jsonscan_members(const struct jsonscan_value *obj, const char *const *names, size_t n,
		      struct jsonscan_value *ret_values);

/* The next item of an array and, when it is an object, its members named names[0..n-1] as
 * jsonscan_members() gives them, in one walk over it (ret_values all type 0 for another item).
 * False at the end. */
bool jsonscan_next_item_members(struct jsonscan_iter *it, const char *const *names, size_t n,
				struct jsonscan_value *ret_values, struct jsonscan_value *ret_item);

/*
 * A single pass that checks as it goes, for a reader of a few members of a long reply (the check
 * and a walk fused): the cursor moves into containers and through their members or items, and
 * every value it passes, taken or not, is checked as jsonscan_parse() checks it. A reader that
 * entered the root, left it and then finds jsonscan_cursor_end() true has had the whole document
 * checked. Any false or -1 on the way says only that this reading stopped: the document may be
 * valid in a shape the reader does not follow, or not valid; it is then read with
 * jsonscan_parse(), which names the fault. Containers are entered JSONSCAN_CURSOR_DEPTH deep at
 * most (a value taken whole may nest as deep as jsonscan_parse() allows).
 */
#define JSONSCAN_CURSOR_DEPTH 8

struct jsonscan_cursor {
	const char *s;
	size_t n, at;
	size_t depth;
	char open[JSONSCAN_CURSOR_DEPTH]; /* the containers entered: '{' or '[' */
	bool first;                       /* before the first member or item of the innermost one */
};

/* At the start of the len bytes at doc (past the whitespace there). */
void jsonscan_cursor_init(struct jsonscan_cursor *c, const char *doc, size_t len);

/* Into the object (open '{') or array (open '[') at the cursor; false (nothing moved) when another
 * value is there or the cursor is JSONSCAN_CURSOR_DEPTH deep. */
bool jsonscan_cursor_enter(struct jsonscan_cursor *c, char open);

/*
 * To the next member (its key, checked, into *ret_key) or item (ret_key NULL) of the innermost
 * container entered, at its value: 1. 0 when that container ends (the cursor then past it, in
 * the one around it); -1 at a fault, or for a member when ret_key is NULL (or an item when not).
 */
int jsonscan_cursor_next(struct jsonscan_cursor *c, struct jsonscan_value *ret_key);

/* The value at the cursor, checked whole (nesting counted from the containers entered), into
 * *ret (as a walk gives it) and the cursor past it; false at a fault. */
bool jsonscan_cursor_value(struct jsonscan_cursor *c, struct jsonscan_value *ret);

/* Whether the cursor is out of every container entered and only whitespace follows. */
bool jsonscan_cursor_end(struct jsonscan_cursor *c);

/* Whether v is a string that decodes to exactly text (a decoded U+0000 never matches). */
bool jsonscan_string_is(const struct jsonscan_value *v, const char *text);

/*
 * v's decoded text into out (size bytes, NUL-terminated; UTF-8, a \u0000 written as a NUL) and,
 * when ret_len is not NULL, its length in *ret_len (NULs included). Returns 0, -EINVAL when v is
 * not a string, -ENOBUFS when it does not fit (out then holds "").
 */
int jsonscan_string(const struct jsonscan_value *v, char *out, size_t size, size_t *ret_len);

/* v's number (strtod of its text: 1e999 is HUGE_VAL). Returns 0, -EINVAL when v is not a number,
 * -ENOMEM (the one allocation of the module, for a number of more than 63 characters). */
int jsonscan_number(const struct jsonscan_value *v, double *ret);

/*
 * Appends s as a JSON string (quoted) to sb, for requests written without a tree: '"' and '\\'
 * escaped, the control characters below 0x20 written \b \f \n \r \t or \u00XX, every other byte
 * as it is (the same text cJSON_PrintUnformatted() writes; NULL as ""). Returns 0, or strbuf's
 * error (the buffer may then hold part of it).
 */
struct strbuf;
int jsonscan_write_string(struct strbuf *sb, const char *s);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for common/jsonscan, differential against cJSON
 * (cJSON_ParseWithLengthOpts with require_null_terminated, over a NUL-terminated copy):
 * - jsonscan never accepts what cJSON refuses;
 * - when cJSON accepts what jsonscan refuses, the input holds one of cJSON's leniencies that
 *   jsonscan.h lists (a byte below 0x20 in a string, or outside one other than JSON's whitespace,
 *   a byte-order mark,
 *   \u without 4 hex digits, a leading zero, a '.' without a digit before or after it);
 * - when both accept, a walk of jsonscan's spans and cJSON's tree agree on every value: type,
 *   members in order with their keys, items, decoded strings (up to cJSON's cut at a NUL),
 *   numbers;
 * - the cursor (jsonscan_cursor_*), walking every container it may enter and taking the deeper
 *   values whole, accepts exactly what jsonscan_parse() accepts, with the same spans as the walk
 *   over the checked text (keys, items, values taken whole).
 */
#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok)
{
	if (!ok)
		abort();
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Whether s (a document cJSON accepted) holds one of its leniencies. */
static bool has_leniency(const char *s, size_t n)
{
	bool in_string = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 && (in_string || (c != '\t' && c != '\n' && c != '\r')))
			return true;
		if (c == '"')
			in_string = !in_string;
		if (c == '\\' && in_string && i + 1 < n && s[i + 1] != 'u') {
			i++;
			continue;
		}
		if (c == 0xef && i + 2 < n && (unsigned char)s[i + 1] == 0xbb &&
		    (unsigned char)s[i + 2] == 0xbf)
			return true;
		if (c == '\\' && i + 1 < n && s[i + 1] == 'u') {
			for (size_t k = i + 2; k < i + 6; k++)
				if (k >= n || !is_hex(s[k]))
					return true;
		}
		if (c == '0' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')
			return true;
		if (c == '.' && (i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '9' || i == 0 ||
				 s[i - 1] < '0' || s[i - 1] > '9'))
			return true;
	}
	return false;
}

static void same_string(const struct jsonscan_value *v, const char *cj)
{
	char *buf = malloc(v->len + 1);
	size_t len = 0;

	require(buf != NULL);
	require(jsonscan_string(v, buf, v->len + 1, &len) == 0);
	/* cJSON's string ends at the first NUL decoded */
	require(strlen(cj) == strnlen(buf, len) && !memcmp(buf, cj, strlen(cj)));
	if (!memchr(buf, '\0', len))
		require(jsonscan_string_is(v, cj));
	free(buf);
}

static void same(const struct jsonscan_value *v, const cJSON *cj)
{
	struct jsonscan_iter it;
	struct jsonscan_value k, x;
	const cJSON *c;
	double d;

	switch (v->type) {
	case JSONSCAN_NULL:
		require(cJSON_IsNull(cj));
		return;
	case JSONSCAN_FALSE:
		require(cJSON_IsFalse(cj));
		return;
	case JSONSCAN_TRUE:
		require(cJSON_IsTrue(cj));
		return;
	case JSONSCAN_NUMBER:
		require(cJSON_IsNumber(cj));
		if (jsonscan_number(v, &d) == 0)
			require(d == cj->valuedouble);
		return;
	case JSONSCAN_STRING:
		require(cJSON_IsString(cj));
		same_string(v, cj->valuestring);
		return;
	case JSONSCAN_ARRAY:
		require(cJSON_IsArray(cj));
		jsonscan_iter_init(&it, v);
		c = cj->child;
		while (jsonscan_next_item(&it, &x)) {
			require(c != NULL);
			same(&x, c);
			c = c->next;
		}
		require(c == NULL);
		return;
	case JSONSCAN_OBJECT:
		require(cJSON_IsObject(cj));
		jsonscan_iter_init(&it, v);
		c = cj->child;
		while (jsonscan_next_member(&it, &k, &x)) {
			require(c != NULL && k.type == JSONSCAN_STRING);
			same_string(&k, c->string);
			same(&x, c);
			c = c->next;
		}
		require(c == NULL);
		return;
	}
	abort();
}

static bool same_span(const struct jsonscan_value *a, const struct jsonscan_value *b)
{
	return a->type == b->type && a->text == b->text && a->len == b->len;
}

/*
 * The value at the cursor walked: entered when a container within the cursor's depth (its members
 * or items walked in turn, each compared with the walk over the checked text of v when v is not
 * NULL), else taken whole (and compared with v). False when the cursor stops.
 */
static bool cursor_walk(struct jsonscan_cursor *c, const struct jsonscan_value *v)
{
	struct jsonscan_value key, got, k, x;
	struct jsonscan_iter it;
	int r;

	if (c->at < c->n && (c->s[c->at] == '{' || c->s[c->at] == '[')) {
		const char *start = c->s + c->at;
		bool object = *start == '{';
		if (jsonscan_cursor_enter(c, *start)) {
			if (v) {
				require(v->text == start);
				jsonscan_iter_init(&it, v);
			}
			while ((r = jsonscan_cursor_next(c, object ? &key : NULL)) == 1) {
				const struct jsonscan_value *want = NULL;
				if (v && object) {
					require(jsonscan_next_member(&it, &k, &x) &&
						same_span(&k, &key));
					want = &x;
				} else if (v) {
					require(jsonscan_next_item(&it, &x));
					want = &x;
				}
				if (!cursor_walk(c, want))
					return false;
			}
			if (v && r == 0)
				require(object ? !jsonscan_next_member(&it, &k, &x)
					       : !jsonscan_next_item(&it, &x));
			return r == 0;
		}
	}
	if (!jsonscan_cursor_value(c, &got))
		return false;
	if (v)
		require(same_span(&got, v));
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonscan_cursor cur;
	char *copy = malloc(size + 1);
	struct jsonscan_value root;
	char why[128];
	cJSON *cj;
	int r;

	require(copy != NULL);
	if (size)
		memcpy(copy, data, size);
	copy[size] = '\0';
	cj = cJSON_ParseWithLengthOpts(copy, size + 1, NULL, 1);
	/* from a buffer of exactly size bytes, so that ASan sees any read past it */
	r = jsonscan_parse((const char *)data, size, &root, why, sizeof(why));
	if (r == 0) {
		require(cj != NULL);
		require(root.text >= (const char *)data &&
			root.text + root.len <= (const char *)data + size);
		same(&root, cj);
	}
	jsonscan_cursor_init(&cur, (const char *)data, size);
	bool walked = cursor_walk(&cur, r == 0 ? &root : NULL) && jsonscan_cursor_end(&cur);
	require(walked == (r == 0));
	if (r != 0) {
		require(r < 0 && !strncmp(why, "offset ", 7));
		if (cj)
			require(has_leniency(copy, size));
	}
	cJSON_Delete(cj);
	free(copy);
	return 0;
}

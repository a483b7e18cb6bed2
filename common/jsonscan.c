/* SPDX-License-Identifier: MIT */
/* A strict JSON check in one pass, then walks over the checked text (see jsonscan.h). */
#include "jsonscan.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The 4 hex digits at s (at least 4 bytes), or -1. */
static long hex4(const char *s)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hex_value(s[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* ---- the check --------------------------------------------------------------- */

struct scan {
	const char *s;
	size_t n, at;
	const char *fault;
};

static bool fail(struct scan *sc, const char *fault)
{
	sc->fault = fault;
	return false;
}

/* Inlined: called between every two tokens, and most often with no whitespace to skip. */
static inline __attribute__((always_inline)) void skip_ws(struct scan *sc)
{
	while (sc->at < sc->n && is_ws(sc->s[sc->at]))
		sc->at++;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The bytes of w (8 bytes of text, the first lowest) that end or escape a string or are control
 * characters: a '"', a '\\' or a byte below 0x20, each found as a zero byte of w with every byte
 * changed, or of w less 0x20 in every byte. A borrow may flag a byte above a true one, never
 * below it: the lowest flag is exact. 0: none. */
static uint64_t special_bytes(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');

	return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w)) & HIGHS;
}

/* A string at sc->at (its opening quote) up to and past its closing quote. */
static bool check_string(struct scan *sc)
{
	const char *s = sc->s;

	sc->at++;
	while (sc->at < sc->n) {
		/* 8 bytes at a time up to the first that needs a look (most of a reply's text) */
		while (sc->n - sc->at >= 8) {
			uint64_t w, special;
			memcpy(&w, s + sc->at, 8);
			if ((special = special_bytes(w))) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
				sc->at += (size_t)__builtin_ctzll(special) / 8;
#endif /* (else the bytes of this word are looked at one by one) */
				break;
			}
			sc->at += 8;
		}
		if (sc->at >= sc->n)
			break;
		unsigned char c = (unsigned char)s[sc->at];
		if (c == '"') {
			sc->at++;
			return true;
		}
		if (c < 0x20)
			return fail(sc, "raw control character in a string");
		if (c != '\\') {
			sc->at++;
			continue;
		}
		if (sc->at + 1 >= sc->n)
			break;
		c = (unsigned char)s[sc->at + 1];
		if (c != 'u') {
			if (!strchr("\"\\/bfnrt", c) || !c)
				return fail(sc, "unknown escape in a string");
			sc->at += 2;
			continue;
		}
		long u = sc->at + 6 <= sc->n ? hex4(s + sc->at + 2) : -1;
		if (u < 0)
			return fail(sc, "\\u without 4 hex digits");
		if (u >= 0xdc00 && u <= 0xdfff)
			return fail(sc, "\\u of a low surrogate without a high one");
		sc->at += 6;
		if (u < 0xd800 || u > 0xdbff)
			continue;
		long low = sc->at + 6 <= sc->n && s[sc->at] == '\\' && s[sc->at + 1] == 'u'
			       ? hex4(s + sc->at + 2)
			       : -1;
		if (low < 0xdc00 || low > 0xdfff)
			return fail(sc, "\\u of a high surrogate without a low one");
		sc->at += 6;
	}
	return fail(sc, "unterminated string");
}

/* A number of RFC 8259's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool check_number(struct scan *sc)
{
	const char *s = sc->s;
	size_t n = sc->n;

	if (s[sc->at] == '-')
		sc->at++;
	if (sc->at >= n || !is_digit(s[sc->at]))
		return fail(sc, "number without digits");
	if (s[sc->at] == '0') {
		sc->at++;
		if (sc->at < n && is_digit(s[sc->at]))
			return fail(sc, "number with a leading zero");
	} else {
		while (sc->at < n && is_digit(s[sc->at]))
			sc->at++;
	}
	if (sc->at < n && s[sc->at] == '.') {
		sc->at++;
		if (sc->at >= n || !is_digit(s[sc->at]))
			return fail(sc, "number without digits after '.'");
		while (sc->at < n && is_digit(s[sc->at]))
			sc->at++;
	}
	if (sc->at < n && (s[sc->at] == 'e' || s[sc->at] == 'E')) {
		sc->at++;
		if (sc->at < n && (s[sc->at] == '+' || s[sc->at] == '-'))
			sc->at++;
		if (sc->at >= n || !is_digit(s[sc->at]))
			return fail(sc, "number without digits in its exponent");
		while (sc->at < n && is_digit(s[sc->at]))
			sc->at++;
	}
	return true;
}

static bool check_word(struct scan *sc, const char *word)
{
	size_t k = strlen(word);

	if (sc->n - sc->at < k || memcmp(sc->s + sc->at, word, k) != 0)
		return fail(sc, "unknown literal");
	sc->at += k;
	return true;
}

/* A scalar at sc->at (not at the end). */
static bool check_scalar(struct scan *sc)
{
	char c = sc->s[sc->at];

	if (c == '"')
		return check_string(sc);
	if (c == '-' || is_digit(c))
		return check_number(sc);
	if (c == 't')
		return check_word(sc, "true");
	if (c == 'f')
		return check_word(sc, "false");
	if (c == 'n')
		return check_word(sc, "null");
	return fail(sc, "not a JSON value");
}

/* One value at sc->at (no whitespace before it) and past it, inside base open containers (the
 * nesting limit counts them); the open containers are a stack of '{' and '['. */
static bool check_value(struct scan *sc, size_t base)
{
	char stack[JSONSCAN_DEPTH_MAX];
	size_t depth = 0;

value:
	if (sc->at >= sc->n)
		return fail(sc, "end of the document where a value was expected");
	if (sc->s[sc->at] == '{' || sc->s[sc->at] == '[') {
		if (base + depth >= JSONSCAN_DEPTH_MAX)
			return fail(sc, "nested too deep");
		char open = sc->s[sc->at];
		stack[depth++] = open;
		sc->at++;
		skip_ws(sc);
		if (sc->at < sc->n && sc->s[sc->at] == (open == '{' ? '}' : ']')) {
			sc->at++;
			depth--;
			goto after;
		}
		if (open == '[')
			goto value;
		goto key;
	}
	if (!check_scalar(sc))
		return false;
after:
	if (depth == 0)
		return true;
	skip_ws(sc);
	if (sc->at >= sc->n)
		return fail(sc, "end of the document inside an array or object");
	char c = sc->s[sc->at], top = stack[depth - 1];
	if (c == ',') {
		sc->at++;
		skip_ws(sc);
		if (top == '[')
			goto value;
		goto key;
	}
	if (c != (top == '{' ? '}' : ']'))
		return fail(sc, top == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
	sc->at++;
	depth--;
	goto after;
key:
	if (sc->at >= sc->n || sc->s[sc->at] != '"')
		return fail(sc, "expected a string as a member's name");
	if (!check_string(sc))
		return false;
	skip_ws(sc);
	if (sc->at >= sc->n || sc->s[sc->at] != ':')
		return fail(sc, "expected ':' after a member's name");
	sc->at++;
	skip_ws(sc);
	goto value;
}

/* The whole document: one value with nothing but whitespace around it. */
static bool check_document(struct scan *sc)
{
	skip_ws(sc);
	if (!check_value(sc, 0))
		return false;
	skip_ws(sc);
	return sc->at == sc->n || fail(sc, "more than one value");
}

/* ---- the cursor: the check and a walk in one pass -------------------------- */

static enum jsonscan_type type_of(char c);

void jsonscan_cursor_init(struct jsonscan_cursor *c, const char *doc, size_t len)
{
	struct scan sc = { .s = doc, .n = doc ? len : 0 };

	skip_ws(&sc);
	memset(c, 0, sizeof(*c));
	c->s = sc.s;
	c->n = sc.n;
	c->at = sc.at;
}

bool jsonscan_cursor_enter(struct jsonscan_cursor *c, char open)
{
	if (c->depth >= JSONSCAN_CURSOR_DEPTH || c->at >= c->n || c->s[c->at] != open ||
	    (open != '{' && open != '['))
		return false;
	struct scan sc = { .s = c->s, .n = c->n, .at = c->at + 1 };
	skip_ws(&sc);
	c->open[c->depth++] = open;
	c->at = sc.at;
	c->first = true;
	return true;
}

int jsonscan_cursor_next(struct jsonscan_cursor *c, struct jsonscan_value *ret_key)
{
	struct scan sc = { .s = c->s, .n = c->n, .at = c->at };

	if (!c->depth)
		return -1;
	char open = c->open[c->depth - 1], close = open == '{' ? '}' : ']';
	if ((open == '{') != (ret_key != NULL))
		return -1;
	skip_ws(&sc);
	if (sc.at >= sc.n)
		return -1;
	if (sc.s[sc.at] == close) {
		sc.at++;
		c->depth--;
		c->first = false; /* the container around it is past a value: this one */
		skip_ws(&sc);
		c->at = sc.at;
		return 0;
	}
	if (!c->first) {
		if (sc.s[sc.at] != ',')
			return -1;
		sc.at++;
		skip_ws(&sc);
	}
	if (open == '{') {
		size_t k = sc.at;
		if (sc.at >= sc.n || sc.s[sc.at] != '"' || !check_string(&sc))
			return -1;
		ret_key->type = JSONSCAN_STRING;
		ret_key->text = sc.s + k;
		ret_key->len = sc.at - k;
		skip_ws(&sc);
		if (sc.at >= sc.n || sc.s[sc.at] != ':')
			return -1;
		sc.at++;
		skip_ws(&sc);
	}
	/* where no value can start (a trailing ',', a member without a value): refused here, not
	 * left to a reader that would not take the value */
	if (sc.at >= sc.n || sc.s[sc.at] == ',' || sc.s[sc.at] == ']' || sc.s[sc.at] == '}')
		return -1;
	c->first = false;
	c->at = sc.at;
	return 1;
}

bool jsonscan_cursor_value(struct jsonscan_cursor *c, struct jsonscan_value *ret)
{
	struct scan sc = { .s = c->s, .n = c->n, .at = c->at };

	if (sc.at >= sc.n || !check_value(&sc, c->depth))
		return false;
	ret->type = type_of(c->s[c->at]);
	ret->text = c->s + c->at;
	ret->len = sc.at - c->at;
	c->at = sc.at;
	return true;
}

bool jsonscan_cursor_end(struct jsonscan_cursor *c)
{
	struct scan sc = { .s = c->s, .n = c->n, .at = c->at };

	skip_ws(&sc);
	return c->depth == 0 && sc.at == sc.n;
}

/* ---- walks over checked text ----------------------------------------------- */

static enum jsonscan_type type_of(char c)
{
	switch (c) {
	case '{':
		return JSONSCAN_OBJECT;
	case '[':
		return JSONSCAN_ARRAY;
	case '"':
		return JSONSCAN_STRING;
	case 't':
		return JSONSCAN_TRUE;
	case 'f':
		return JSONSCAN_FALSE;
	case 'n':
		return JSONSCAN_NULL;
	default:
		return JSONSCAN_NUMBER;
	}
}

/* Past the string whose opening quote is at p (checked text). */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end;) {
		const char *q = memchr(p, '"', (size_t)(end - p));
		size_t backslashes = 0;
		if (!q)
			return end;
		/* escaped when an odd number of backslashes precede it */
		while (q - backslashes > p && q[-1 - (ptrdiff_t)backslashes] == '\\')
			backslashes++;
		if (backslashes % 2 == 0)
			return q + 1;
		p = q + 1;
	}
	return end;
}

/* The value at p (checked text, no whitespace before it) into v; returns what follows it. */
static const char *take_value(const char *p, const char *end, struct jsonscan_value *v)
{
	const char *q = p;

	v->type = type_of(*p);
	if (v->type == JSONSCAN_STRING) {
		q = skip_string(p, end);
	} else if (v->type == JSONSCAN_OBJECT || v->type == JSONSCAN_ARRAY) {
		size_t depth = 0;
		while (q < end) {
			char c = *q;
			if (c == '"') {
				q = skip_string(q, end);
				continue;
			}
			q++;
			if (c == '{' || c == '[')
				depth++;
			else if ((c == '}' || c == ']') && --depth == 0)
				break;
		}
	} else {
		while (q < end && !is_ws(*q) && *q != ',' && *q != ']' && *q != '}')
			q++;
	}
	v->text = p;
	v->len = (size_t)(q - p);
	return q;
}

static const char *skip_ws_at(const char *p, const char *end)
{
	while (p < end && is_ws(*p))
		p++;
	return p;
}

int jsonscan_parse(const char *doc, size_t len, struct jsonscan_value *ret_root, char *why,
		   size_t why_len)
{
	struct scan sc = { .s = doc, .n = len };
	const char *p;

	if (!doc && len)
		sc.n = 0;
	if (!check_document(&sc)) {
		if (why_len)
			snprintf(why, why_len, "offset %zu: %s", sc.at, sc.fault);
		return -EBADMSG;
	}
	/* the root spans the checked text less the whitespace around it: no second pass */
	p = skip_ws_at(doc, doc + len);
	const char *end = doc + len;
	while (end > p && is_ws(end[-1]))
		end--;
	ret_root->type = type_of(*p);
	ret_root->text = p;
	ret_root->len = (size_t)(end - p);
	return 0;
}

void jsonscan_iter_init(struct jsonscan_iter *it, const struct jsonscan_value *v)
{
	it->object = v->type == JSONSCAN_OBJECT;
	it->open = false;
	if (v->type != JSONSCAN_ARRAY && v->type != JSONSCAN_OBJECT) {
		it->p = it->end = NULL;
		return;
	}
	/* inside the brackets: between them, items or members and commas */
	it->p = v->text + 1;
	it->end = v->text + v->len - 1;
}

/* The next value (an item, or a member's key) of it's container. */
static bool next_value(struct jsonscan_iter *it, struct jsonscan_value *ret_value)
{
	const char *p = skip_ws_at(it->p, it->end);

	if (p < it->end && *p == ',')
		p = skip_ws_at(p + 1, it->end);
	if (p >= it->end || (it->open && (*p == ']' || *p == '}'))) {
		it->p = it->end;
		return false;
	}
	it->p = take_value(p, it->end, ret_value);
	return true;
}

bool jsonscan_next_item(struct jsonscan_iter *it, struct jsonscan_value *ret_value)
{
	return !it->object && next_value(it, ret_value);
}

bool jsonscan_next_member(struct jsonscan_iter *it, struct jsonscan_value *ret_key,
			  struct jsonscan_value *ret_value)
{
	const char *p;

	if (!it->object || !next_value(it, ret_key))
		return false;
	p = skip_ws_at(it->p, it->end);
	p = skip_ws_at(p + 1, it->end); /* past ':' */
	it->p = take_value(p, it->end, ret_value);
	return true;
}

/* The members of the object whose '{' is at p (checked text) named names into ret_values (zeroed
 * first); returns what follows the object. */
static const char *walk_members(const char *p, const char *end, const char *const *names, size_t n,
				struct jsonscan_value *ret_values)
{
	struct jsonscan_value k, v;

	memset(ret_values, 0, n * sizeof(*ret_values));
	for (p++;;) {
		p = skip_ws_at(p, end);
		if (p < end && *p == ',')
			p = skip_ws_at(p + 1, end);
		if (p >= end || *p == '}')
			return p < end ? p + 1 : end;
		p = take_value(p, end, &k);
		p = skip_ws_at(p, end);
		p = skip_ws_at(p + 1, end); /* past ':' */
		p = take_value(p, end, &v);
		for (size_t i = 0; i < n; i++)
			if (!ret_values[i].type && jsonscan_string_is(&k, names[i])) {
				ret_values[i] = v;
				break;
			}
	}
}

bool jsonscan_next_item_members(struct jsonscan_iter *it, const char *const *names, size_t n,
				struct jsonscan_value *ret_values, struct jsonscan_value *ret_item)
{
	const char *p;

	if (it->object)
		return false;
	p = skip_ws_at(it->p, it->end);
	if (p < it->end && *p == ',')
		p = skip_ws_at(p + 1, it->end);
	if (p >= it->end || (it->open && *p == ']')) {
		it->p = it->end;
		return false;
	}
	if (*p != '{') {
		memset(ret_values, 0, n * sizeof(*ret_values));
		it->p = take_value(p, it->end, ret_item);
		return true;
	}
	it->p = walk_members(p, it->end, names, n, ret_values);
	ret_item->type = JSONSCAN_OBJECT;
	ret_item->text = p;
	ret_item->len = (size_t)(it->p - p);
	return true;
}

bool jsonscan_member_iter(const struct jsonscan_value *obj, const char *name,
			  struct jsonscan_iter *ret_it)
{
	struct jsonscan_iter it;
	struct jsonscan_value k, v;
	const char *p;

	ret_it->p = ret_it->end = NULL;
	ret_it->object = ret_it->open = false;
	if (obj->type != JSONSCAN_OBJECT)
		return false;
	jsonscan_iter_init(&it, obj);
	while (next_value(&it, &k)) {
		p = skip_ws_at(it.p, it.end);
		p = skip_ws_at(p + 1, it.end); /* past ':' */
		if ((*p == '[' || *p == '{') && jsonscan_string_is(&k, name)) {
			/* (checked text: the container's closing bracket comes before obj's) */
			ret_it->p = p + 1;
			ret_it->end = it.end;
			ret_it->object = *p == '{';
			ret_it->open = true;
			return true;
		}
		it.p = take_value(p, it.end, &v);
		if (jsonscan_string_is(&k, name))
			return false; /* the first one is neither */
	}
	return false;
}

void jsonscan_members(const struct jsonscan_value *obj, const char *const *names, size_t n,
		      struct jsonscan_value *ret_values)
{
	struct jsonscan_iter it;
	struct jsonscan_value k, v;

	memset(ret_values, 0, n * sizeof(*ret_values));
	jsonscan_iter_init(&it, obj);
	while (jsonscan_next_member(&it, &k, &v))
		for (size_t i = 0; i < n; i++)
			if (!ret_values[i].type && jsonscan_string_is(&k, names[i])) {
				ret_values[i] = v;
				break;
			}
}

bool jsonscan_member(const struct jsonscan_value *obj, const char *name,
		     struct jsonscan_value *ret_value)
{
	struct jsonscan_iter it;
	struct jsonscan_value k, v;

	if (obj->type != JSONSCAN_OBJECT)
		return false;
	jsonscan_iter_init(&it, obj);
	while (jsonscan_next_member(&it, &k, &v))
		if (jsonscan_string_is(&k, name)) {
			*ret_value = v;
			return true;
		}
	return false;
}

/* Decodes the code point of the escape at p (a checked string's backslash) into out (at least 4
 * bytes); returns the bytes written and sets *used to the escape's length. */
static size_t decode_escape(const char *p, char *out, size_t *used)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	unsigned long u;

	if (p[1] != 'u') {
		*used = 2;
		out[0] = to[strchr(from, p[1]) - from];
		return 1;
	}
	u = (unsigned long)hex4(p + 2);
	*used = 6;
	if (u >= 0xd800 && u <= 0xdbff) {
		u = 0x10000 + ((u - 0xd800) << 10) + ((unsigned long)hex4(p + 8) - 0xdc00);
		*used = 12;
	}
	if (u < 0x80) {
		out[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		out[0] = (char)(0xc0 | (u >> 6));
		out[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		out[0] = (char)(0xe0 | (u >> 12));
		out[1] = (char)(0x80 | ((u >> 6) & 0x3f));
		out[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (u >> 18));
	out[1] = (char)(0x80 | ((u >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((u >> 6) & 0x3f));
	out[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

int jsonscan_string(const struct jsonscan_value *v, char *out, size_t size, size_t *ret_len)
{
	const char *p, *end;
	size_t n = 0;

	if (v->type != JSONSCAN_STRING)
		return -EINVAL;
	if (size == 0)
		return -ENOBUFS;
	out[0] = '\0';
	p = v->text + 1;
	end = v->text + v->len - 1;
	while (p < end) {
		/* the bytes up to the next escape in one copy, then the escape */
		const char *esc = memchr(p, '\\', (size_t)(end - p));
		size_t run = (size_t)((esc ? esc : end) - p);
		if (size - n <= run) {
			out[0] = '\0';
			return -ENOBUFS;
		}
		memcpy(out + n, p, run);
		n += run;
		p += run;
		if (!esc)
			break;
		char buf[4];
		size_t used = 1, k = decode_escape(p, buf, &used);
		if (size - n <= k) {
			out[0] = '\0';
			return -ENOBUFS;
		}
		memcpy(out + n, buf, k);
		n += k;
		p += used;
	}
	out[n] = '\0';
	if (ret_len)
		*ret_len = n;
	return 0;
}

bool jsonscan_string_is(const struct jsonscan_value *v, const char *text)
{
	const char *p, *end, *t = text;

	if (v->type != JSONSCAN_STRING)
		return false;
	p = v->text + 1;
	end = v->text + v->len - 1;
	/* most names a reader asks about are not this one: told by their first byte */
	if (p < end && *p != '\\' && *p != *t)
		return false;
	/* the common case: no escape, compared in place */
	if (!memchr(p, '\\', (size_t)(end - p)))
		return strlen(text) == (size_t)(end - p) && !memcmp(p, text, (size_t)(end - p));
	while (p < end) {
		char buf[4];
		size_t k = 1, used = 1;
		if (*p == '\\')
			k = decode_escape(p, buf, &used);
		else
			buf[0] = *p;
		for (size_t i = 0; i < k; i++, t++)
			if (!*t || *t != buf[i])
				return false;
		p += used;
	}
	return !*t;
}

int jsonscan_number(const struct jsonscan_value *v, double *ret)
{
	char buf[64], *copy = buf;

	if (v->type != JSONSCAN_NUMBER)
		return -EINVAL;
	if (v->len >= sizeof(buf) && !(copy = malloc(v->len + 1)))
		return -ENOMEM;
	memcpy(copy, v->text, v->len);
	copy[v->len] = '\0';
	*ret = strtod(copy, NULL);
	if (copy != buf)
		free(copy);
	return 0;
}

int jsonscan_write_string(struct strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run;

	if (!s)
		s = ""; /* as cJSON prints a string it has none of */
	run = s;
	int r = strbuf_putc(sb, '"');

	for (; r == 0 && *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7] = { '\\', 0 };
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		if ((r = strbuf_append(sb, run, (size_t)(s - run))) == 0)
			r = strbuf_append(sb, esc, n);
		run = s + 1;
	}
	if (r == 0)
		r = strbuf_append(sb, run, (size_t)(s - run));
	return r ? r : strbuf_putc(sb, '"');
}

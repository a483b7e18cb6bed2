/* SPDX-License-Identifier: MIT */
/* Comment stripping and a path → position index for JSON text. */
#include "jsontext.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "strmap.h"

int jsontext_strip_comments(char *t, size_t len, size_t *ret_offset)
{
	size_t i = 0;

	while (i < len) {
		if (t[i] == '"') {
			for (i++; i < len && t[i] != '"'; i++)
				if (t[i] == '\\' && i + 1 < len)
					i++;
			i++;
		} else if (t[i] == '/' && i + 1 < len && t[i + 1] == '/') {
			while (i < len && t[i] != '\n')
				t[i++] = ' ';
		} else if (t[i] == '/' && i + 1 < len && t[i + 1] == '*') {
			size_t start = i;
			t[i++] = ' ';
			t[i++] = ' ';
			while (i < len && !(t[i] == '*' && i + 1 < len && t[i + 1] == '/')) {
				if (t[i] != '\n')
					t[i] = ' ';
				i++;
			}
			if (i >= len) {
				if (ret_offset)
					*ret_offset = start;
				return -EINVAL;
			}
			t[i++] = ' ';
			t[i++] = ' ';
		} else {
			i++;
		}
	}
	return 0;
}

int jsontext_check_depth(const char *t, size_t len, int max, size_t *ret_offset)
{
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		if (t[i] == '"') {
			for (i++; i < len && t[i] != '"'; i++)
				if (t[i] == '\\')
					i++;
		} else if (t[i] == '{' || t[i] == '[') {
			if (++depth > max) {
				*ret_offset = i;
				return -E2BIG;
			}
		} else if ((t[i] == '}' || t[i] == ']') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

void jsontext_position(const char *text, size_t off, int *ret_line, int *ret_col)
{
	int line = 1, col = 1;

	for (size_t i = 0; i < off && text[i]; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	*ret_line = line;
	*ret_col = col;
}

struct scan {
	const char *t;
	size_t len, i;
	struct jsonpos *pos;
};

static void ws(struct scan *s)
{
	while (s->i < s->len && (s->t[s->i] == ' ' || s->t[s->i] == '\t' || s->t[s->i] == '\n' ||
				 s->t[s->i] == '\r'))
		s->i++;
}

/* Makes room for one more element in a growable array. */
static int grow(void **items, size_t n, size_t *cap, size_t size, size_t first)
{
	size_t nc;
	void *p;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : first;
	p = realloc(*items, nc * size);
	if (!p)
		return -ENOMEM;
	*items = p;
	*cap = nc;
	return 0;
}

static int add_entry(struct jsonpos *p, const char *path, size_t value_off, size_t key_off)
{
	if (grow((void **)&p->entries, p->n, &p->cap, sizeof(*p->entries), 64) < 0)
		return -ENOMEM;
	p->entries[p->n].path = strdup(path);
	if (!p->entries[p->n].path)
		return -ENOMEM;
	p->entries[p->n].value_off = value_off;
	p->entries[p->n].key_off = key_off;
	p->n++;
	/* The first entry of a path wins (a duplicate key is reported apart). */
	if (!strmap_get(p->by_path, path) &&
	    strmap_put(p->by_path, path, (void *)(uintptr_t)p->n, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static int add_dup(struct jsonpos *p, const char *path, size_t off, size_t first)
{
	if (grow((void **)&p->dups, p->n_dups, &p->cap_dups, sizeof(*p->dups), 8) < 0)
		return -ENOMEM;
	p->dups[p->n_dups].path = strdup(path);
	if (!p->dups[p->n_dups].path)
		return -ENOMEM;
	p->dups[p->n_dups].off = off;
	p->dups[p->n_dups].first_off = first;
	p->n_dups++;
	return 0;
}

static int add_nul(struct jsonpos *p, const char *path, size_t off)
{
	if (grow((void **)&p->nuls, p->n_nuls, &p->cap_nuls, sizeof(*p->nuls), 8) < 0)
		return -ENOMEM;
	p->nuls[p->n_nuls].path = strdup(path);
	if (!p->nuls[p->n_nuls].path)
		return -ENOMEM;
	p->nuls[p->n_nuls].off = off;
	p->n_nuls++;
	return 0;
}

/*
 * Reads a string at s->i (at its '"'); its decoded text (escapes kept as is but for \" and \\) goes
 * to out. A \u0000 in it is noted under path.
 */
static int string(struct scan *s, struct strbuf *out, const char *path)
{
	if (s->i >= s->len || s->t[s->i] != '"')
		return -EINVAL;
	for (s->i++; s->i < s->len && s->t[s->i] != '"'; s->i++) {
		char c = s->t[s->i];
		if (c == '\\') {
			if (s->len - s->i >= 6 && !memcmp(s->t + s->i, "\\u0000", 6) &&
			    add_nul(s->pos, path, s->i) < 0)
				return -ENOMEM;
			if (++s->i >= s->len)
				return -EINVAL;
			c = s->t[s->i];
		}
		if (out && strbuf_putc(out, c) < 0)
			return -ENOMEM;
	}
	if (s->i >= s->len)
		return -EINVAL;
	s->i++;
	return 0;
}

static int value(struct scan *s, struct strbuf *path, size_t key_off, int depth);

static int object(struct scan *s, struct strbuf *path, int depth)
{
	size_t base = path->len;
	size_t first_entry = s->pos->n;

	s->i++; /* '{' */
	ws(s);
	if (s->i < s->len && s->t[s->i] == '}') {
		s->i++;
		return 0;
	}
	for (;;) {
		struct strbuf key;
		size_t key_off;
		int r;

		ws(s);
		key_off = s->i;
		strbuf_init(&key, 4096);
		r = string(s, &key, strbuf_str(path));
		if (r == 0)
			r = strbuf_printf(path, "%s%s", base ? "." : "", strbuf_str(&key));
		strbuf_done(&key);
		if (r < 0)
			return r;
		/* A duplicate of a member seen earlier in this object? */
		for (size_t k = first_entry; k < s->pos->n; k++)
			if (!strcmp(s->pos->entries[k].path, strbuf_str(path)) &&
			    (r = add_dup(s->pos, strbuf_str(path), key_off,
					 s->pos->entries[k].key_off)) < 0)
				return r;
		ws(s);
		if (s->i >= s->len || s->t[s->i] != ':')
			return -EINVAL;
		s->i++;
		ws(s);
		if ((r = value(s, path, key_off, depth + 1)) < 0)
			return r;
		path->len = base;
		path->buf[base] = '\0';
		ws(s);
		if (s->i < s->len && s->t[s->i] == ',') {
			s->i++;
			continue;
		}
		if (s->i < s->len && s->t[s->i] == '}') {
			s->i++;
			return 0;
		}
		return -EINVAL;
	}
}

static int array(struct scan *s, struct strbuf *path, int depth)
{
	size_t base = path->len;

	s->i++; /* '[' */
	ws(s);
	if (s->i < s->len && s->t[s->i] == ']') {
		s->i++;
		return 0;
	}
	for (size_t n = 0;; n++) {
		int r;

		ws(s);
		if ((r = strbuf_printf(path, "[%zu]", n)) < 0 ||
		    (r = value(s, path, s->i, depth + 1)) < 0)
			return r;
		path->len = base;
		path->buf[base] = '\0';
		ws(s);
		if (s->i < s->len && s->t[s->i] == ',') {
			s->i++;
			continue;
		}
		if (s->i < s->len && s->t[s->i] == ']') {
			s->i++;
			return 0;
		}
		return -EINVAL;
	}
}

static int value(struct scan *s, struct strbuf *path, size_t key_off, int depth)
{
	int r;

	ws(s);
	if (s->i >= s->len)
		return -EINVAL;
	/* depth counts the objects and lists around this value */
	if ((s->t[s->i] == '{' || s->t[s->i] == '[') && depth >= JSONTEXT_MAX_DEPTH)
		return -EINVAL;
	/* Index this value even when it is an object or array (before its members). */
	if ((r = add_entry(s->pos, strbuf_str(path), s->i, key_off)) < 0)
		return r;
	switch (s->t[s->i]) {
	case '{':
		return object(s, path, depth);
	case '[':
		return array(s, path, depth);
	case '"':
		return string(s, NULL, strbuf_str(path));
	default:
		/* number, true, false, null: up to a delimiter */
		while (s->i < s->len && !strchr(",}] \t\r\n", s->t[s->i]))
			s->i++;
		return 0;
	}
}

int jsonpos_index(const char *text, size_t len, struct jsonpos *ret)
{
	struct scan s = { text, len, 0, ret };
	struct strbuf path;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->by_path = strmap_new();
	ret->lines = malloc(64 * sizeof(size_t));
	if (!ret->by_path || !ret->lines)
		return -ENOMEM;
	{
		size_t cap = 64;
		ret->lines[ret->n_lines++] = 0;
		for (size_t i = 0; i < len; i++)
			if (text[i] == '\n') {
				if (grow((void **)&ret->lines, ret->n_lines, &cap, sizeof(size_t),
					 64) < 0)
					return -ENOMEM;
				ret->lines[ret->n_lines++] = i + 1;
			}
	}
	strbuf_init(&path, 64 * 1024);
	if (strbuf_puts(&path, "") < 0) {
		strbuf_done(&path);
		return -ENOMEM;
	}
	r = value(&s, &path, 0, 0);
	strbuf_done(&path);
	return r;
}

void jsonpos_done(struct jsonpos *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->entries[i].path);
	for (size_t i = 0; i < p->n_dups; i++)
		free(p->dups[i].path);
	for (size_t i = 0; i < p->n_nuls; i++)
		free(p->nuls[i].path);
	free(p->entries);
	free(p->dups);
	free(p->nuls);
	strmap_free(p->by_path, NULL);
	free(p->lines);
	memset(p, 0, sizeof(*p));
}

const struct jsonpos_entry *jsonpos_find(const struct jsonpos *p, const char *path)
{
	uintptr_t i = p->by_path ? (uintptr_t)strmap_get(p->by_path, path) : 0;

	return i ? &p->entries[i - 1] : NULL;
}

void jsonpos_position(const struct jsonpos *p, size_t off, int *ret_line, int *ret_col)
{
	size_t lo = 0, hi = p->n_lines;

	if (!p->lines || p->n_lines == 0) {
		*ret_line = *ret_col = 1;
		return;
	}
	while (hi - lo > 1) { /* the last line start <= off */
		size_t mid = lo + (hi - lo) / 2;
		if (p->lines[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	*ret_line = (int)lo + 1;
	*ret_col = (int)(off - p->lines[lo]) + 1;
}

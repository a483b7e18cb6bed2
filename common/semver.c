/* SPDX-License-Identifier: MIT */
/* Semantic version parsing, ordering and constraints. */
#include "semver.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { OP_EQ, OP_GT, OP_GE, OP_LT, OP_LE };

struct comparator {
	enum op op;
	struct semver v;
};

/* A set of comparators that must all hold; a range is any of its sets. */
struct cset {
	struct comparator c[8];
	size_t n;
};

struct semver_range {
	struct cset sets[8];
	size_t n;
};

static int parse_num(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	if (*s == '0' && isdigit((unsigned char)s[1]))
		return -EINVAL; /* no leading zeros */
	while (isdigit((unsigned char)*s)) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		s++;
	}
	*p = s;
	*out = v;
	return 0;
}

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '-';
}

/* Dot-separated non-empty identifiers of [0-9A-Za-z-]; numeric ones without leading zeros. */
static int parse_idents(const char **p, char *out, size_t n, bool numeric_rule)
{
	const char *s = *p, *start = s;

	for (;;) {
		const char *id = s;
		bool digits = true;

		while (ident_char(*s)) {
			if (!isdigit((unsigned char)*s))
				digits = false;
			s++;
		}
		if (s == id)
			return -EINVAL;
		if (numeric_rule && digits && *id == '0' && s - id > 1)
			return -EINVAL;
		if (*s != '.')
			break;
		s++;
	}
	if (out) {
		if ((size_t)(s - start) >= n)
			return -EINVAL;
		memcpy(out, start, (size_t)(s - start));
		out[s - start] = '\0';
	}
	*p = s;
	return 0;
}

/* "-pre" (when allowed, into pre) then "+build" (checked, dropped), each optional. */
static int parse_suffix(const char **p, char *pre, size_t n, bool allow_pre)
{
	const char *s = *p;

	if (allow_pre && *s == '-') {
		s++;
		if (parse_idents(&s, pre, n, true) < 0)
			return -EINVAL;
	}
	if (*s == '+') {
		s++;
		if (parse_idents(&s, NULL, 0, false) < 0)
			return -EINVAL;
	}
	*p = s;
	return 0;
}

/* Parses a full version at *p, advancing past it. */
static int parse_at(const char **p, struct semver *v)
{
	const char *s = *p;

	memset(v, 0, sizeof(*v));
	if (*s == 'v' || *s == 'V')
		s++;
	if (parse_num(&s, &v->major) < 0 || *s++ != '.' || parse_num(&s, &v->minor) < 0 ||
	    *s++ != '.' || parse_num(&s, &v->patch) < 0)
		return -EINVAL;
	if (parse_suffix(&s, v->pre, sizeof(v->pre), true) < 0)
		return -EINVAL;
	*p = s;
	return 0;
}

int semver_parse(const char *text, struct semver *ret)
{
	const char *p = text;
	struct semver v;

	if (parse_at(&p, &v) < 0 || *p)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int compare_pre(const char *a, const char *b)
{
	if (!*a || !*b)
		return !*a && !*b ? 0 : (!*a ? 1 : -1); /* a release outranks its pre-releases */
	while (*a && *b) {
		size_t la = strcspn(a, "."), lb = strcspn(b, ".");
		bool na = la > 0, nb = lb > 0;
		int r;

		for (size_t i = 0; i < la; i++)
			na = na && isdigit((unsigned char)a[i]);
		for (size_t i = 0; i < lb; i++)
			nb = nb && isdigit((unsigned char)b[i]);
		if (na && nb)
			r = la != lb ? (la < lb ? -1 : 1) : strncmp(a, b, la);
		else if (na || nb)
			r = na ? -1 : 1; /* numeric identifiers sort first */
		else {
			r = strncmp(a, b, la < lb ? la : lb);
			if (r == 0)
				r = la < lb ? -1 : la > lb;
		}
		if (r)
			return r < 0 ? -1 : 1;
		a += la + (a[la] == '.');
		b += lb + (b[lb] == '.');
	}
	return *a ? 1 : *b ? -1 : 0;
}

int semver_compare(const struct semver *a, const struct semver *b)
{
	int r = cmp_u64(a->major, b->major);

	if (!r)
		r = cmp_u64(a->minor, b->minor);
	if (!r)
		r = cmp_u64(a->patch, b->patch);
	if (!r)
		r = compare_pre(a->pre, b->pre);
	return r;
}

/* A partial version: "1", "1.2", "1.2.3", with x, X or * as a wildcard; parts = how many were
 * given. */
struct partial {
	uint64_t n[3];
	int parts;
	char pre[128];
};

static int parse_partial(const char **p, struct partial *out)
{
	const char *s = *p;

	memset(out, 0, sizeof(*out));
	if (*s == 'v' || *s == 'V')
		s++;
	for (int i = 0; i < 3; i++) {
		if (*s == 'x' || *s == 'X' || *s == '*') {
			s++;
			break; /* a wildcard ends the version */
		}
		if (parse_num(&s, &out->n[i]) < 0)
			return -EINVAL;
		out->parts = i + 1;
		if (i < 2 && *s == '.')
			s++;
		else
			break;
	}
	if (parse_suffix(&s, out->pre, sizeof(out->pre), out->parts == 3) < 0)
		return -EINVAL;
	*p = s;
	return 0;
}

static struct semver sv(uint64_t a, uint64_t b, uint64_t c, const char *pre)
{
	struct semver v = { a, b, c, "" };

	if (pre)
		snprintf(v.pre, sizeof(v.pre), "%s", pre);
	return v;
}

static int add(struct cset *s, enum op op, struct semver v)
{
	if (s->n == sizeof(s->c) / sizeof(s->c[0]))
		return -EINVAL;
	s->c[s->n++] = (struct comparator){ op, v };
	return 0;
}

/* The lowest pre-release of a version: "0" sorts before every other identifier. */
#define LOWEST "0"

static int add_comparator(struct cset *s, const char *op, struct partial *v)
{
	uint64_t M = v->n[0], m = v->n[1], p = v->n[2];

	if (!strcmp(op, "^")) {
		if (v->parts == 0)
			return 0;
		if (add(s, OP_GE, sv(M, m, p, v->pre)) < 0)
			return -EINVAL;
		if (M > 0 || v->parts == 1)
			return add(s, OP_LT, sv(M + 1, 0, 0, LOWEST));
		if (m > 0 || v->parts == 2)
			return add(s, OP_LT, sv(0, m + 1, 0, LOWEST));
		return add(s, OP_LT, sv(0, 0, p + 1, LOWEST));
	}
	if (!strcmp(op, "~")) {
		if (v->parts == 0)
			return 0;
		if (add(s, OP_GE, sv(M, m, p, v->pre)) < 0)
			return -EINVAL;
		if (v->parts == 1)
			return add(s, OP_LT, sv(M + 1, 0, 0, LOWEST));
		return add(s, OP_LT, sv(M, m + 1, 0, LOWEST));
	}
	if (v->parts == 0) /* "*": anything (except as filtered for pre-releases) */
		return !strcmp(op, "") || !strcmp(op, "=") || !strcmp(op, ">=") || !strcmp(op, "<=")
			   ? 0
			   : -EINVAL;
	if (v->parts < 3) {
		/* A partial version is a range of its own. */
		struct semver lo = sv(M, v->parts > 1 ? m : 0, 0, NULL);
		struct semver hi =
		    v->parts == 1 ? sv(M + 1, 0, 0, LOWEST) : sv(M, m + 1, 0, LOWEST);
		if (!strcmp(op, "") || !strcmp(op, "="))
			return add(s, OP_GE, lo) < 0 ? -EINVAL : add(s, OP_LT, hi);
		if (!strcmp(op, ">="))
			return add(s, OP_GE, lo);
		if (!strcmp(op, ">"))
			return add(s, OP_GE, hi);
		if (!strcmp(op, "<"))
			return add(s, OP_LT, lo);
		if (!strcmp(op, "<="))
			return add(s, OP_LT, hi);
		return -EINVAL;
	}
	struct semver x = sv(M, m, p, v->pre);
	if (!strcmp(op, "") || !strcmp(op, "="))
		return add(s, OP_EQ, x);
	if (!strcmp(op, ">"))
		return add(s, OP_GT, x);
	if (!strcmp(op, ">="))
		return add(s, OP_GE, x);
	if (!strcmp(op, "<"))
		return add(s, OP_LT, x);
	if (!strcmp(op, "<="))
		return add(s, OP_LE, x);
	return -EINVAL;
}

int semver_range_parse(const char *text, struct semver_range **ret, const char **why)
{
	struct semver_range *r = calloc(1, sizeof(*r));
	const char *p = text;

	if (!r)
		return -ENOMEM;
#define FAIL(msg)                   \
	do {                        \
		if (why)            \
			*why = msg; \
		free(r);            \
		return -EINVAL;     \
	} while (0)
	for (;;) {
		struct cset *set;
		bool any = false;

		if (r->n == sizeof(r->sets) / sizeof(r->sets[0]))
			FAIL("too many '||' alternatives (at most 8)");
		set = &r->sets[r->n++];
		for (;;) {
			char op[3] = "";
			struct partial v;

			while (*p == ' ')
				p++;
			if (!*p || (p[0] == '|' && p[1] == '|'))
				break;
			if (*p == '^' || *p == '~' || *p == '=') {
				op[0] = *p++;
			} else if (*p == '>' || *p == '<') {
				op[0] = *p++;
				if (*p == '=')
					op[1] = *p++;
			}
			while (*p == ' ')
				p++;
			if (parse_partial(&p, &v) < 0)
				FAIL("expected a version after the operator, like 1, 1.4 or 1.4.2");
			if (*p && *p != ' ' && *p != '|')
				FAIL("unexpected character in the constraint");
			if (add_comparator(set, op, &v) < 0)
				FAIL("too many comparators, or an operator that does not apply to "
				     "'*'");
			any = true;
		}
		if (!any && (*p || r->n > 1 || p == text))
			FAIL("an empty constraint or an empty side of '||'");
		if (!*p)
			break;
		p += 2; /* "||" */
	}
#undef FAIL
	*ret = r;
	return 0;
}

void semver_range_free(struct semver_range *r)
{
	free(r);
}

static bool holds(const struct comparator *c, const struct semver *v)
{
	int r = semver_compare(v, &c->v);

	switch (c->op) {
	case OP_EQ:
		return r == 0;
	case OP_GT:
		return r > 0;
	case OP_GE:
		return r >= 0;
	case OP_LT:
		return r < 0;
	case OP_LE:
		return r <= 0;
	}
	return false;
}

bool semver_range_match(const struct semver_range *r, const struct semver *v, bool allow_prerelease)
{
	if (*v->pre && !allow_prerelease)
		return false;
	for (size_t i = 0; i < r->n; i++) {
		bool ok = true;

		for (size_t j = 0; j < r->sets[i].n && ok; j++)
			ok = holds(&r->sets[i].c[j], v);
		if (ok)
			return true;
	}
	return false;
}

/* Whether the comparators of one set leave any version: the tightest bounds, compared. */
static bool set_can_match(const struct cset *s)
{
	const struct semver *lo = NULL, *hi = NULL;
	bool lo_in = true, hi_in = true;
	int r;

	for (size_t i = 0; i < s->n; i++) {
		const struct comparator *c = &s->c[i];
		if (c->op == OP_EQ || c->op == OP_GE || c->op == OP_GT) {
			r = lo ? semver_compare(&c->v, lo) : 1;
			if (r > 0) {
				lo = &c->v;
				lo_in = c->op != OP_GT;
			} else if (r == 0 && c->op == OP_GT) {
				lo_in = false;
			}
		}
		if (c->op == OP_EQ || c->op == OP_LE || c->op == OP_LT) {
			r = hi ? semver_compare(&c->v, hi) : -1;
			if (r < 0) {
				hi = &c->v;
				hi_in = c->op != OP_LT;
			} else if (r == 0 && c->op == OP_LT) {
				hi_in = false;
			}
		}
	}
	if (!lo || !hi)
		return true;
	r = semver_compare(lo, hi);
	return r < 0 || (r == 0 && lo_in && hi_in);
}

bool semver_range_can_match(const struct semver_range *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (set_can_match(&r->sets[i]))
			return true;
	return false;
}

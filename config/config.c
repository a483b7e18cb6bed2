/* SPDX-License-Identifier: MIT */
/*
 * Loading and validating the watch rules. Each file is read, stripped of
 * comments (positions kept), parsed with cJSON and indexed for positions;
 * then every member is checked and copied into struct config. Checks that
 * span files (duplicate names, two watches on one container) run last.
 */
#include "config.h"

#include <cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "duration.h"
#include "escape.h"
#include "names.h"
#include "jsontext.h"
#include "regfile.h"
#include "secmem.h"
#include "strbuf.h"
#include "strmap.h"

#define FILE_MAX    (4 * 1024 * 1024)
#define MAX_WATCHES 10000
#define MAX_TARGETS 100

/* A rollout may wait at an ECS PAUSE hook for up to 14 days (20160 minutes). */
#define ROLLOUT_TIMEOUT_MIN (10 * DURATION_MS_PER_SEC)
#define ROLLOUT_TIMEOUT_MAX (14 * DURATION_MS_PER_DAY)

/* In the order of enum config_approve and enum config_guard. */
static const char *const approve_names[] = { "manual", "auto" };
static const char *const guard_names[] = { "warn", "enforce", "off" };
#define N_APPROVE (sizeof(approve_names) / sizeof(approve_names[0]))
#define N_GUARD   (sizeof(guard_names) / sizeof(guard_names[0]))

struct parse {
	struct config *cfg;
	struct config_errors *errs;
	const char *file; /* the name errors use (an entry of cfg->files) */
	size_t file_no;   /* its index there */
	bool on_disk;     /* loaded from files: paths it names may be checked */
	const char *text; /* comments stripped */
	struct jsonpos pos;
	bool main;
};

/* ---- errors ------------------------------------------------------------------ */

#define SHOW_MAX 400 /* room for a value as show() writes it */

/* Text from a file in a message: escape.h's rules, a backslash doubled so that an escape shown
 * cannot be mistaken for one typed. */
static void put_escaped(struct strbuf *sb, const char *s)
{
	escape_append(sb, s, ESCAPE_BACKSLASH);
}

/* s escaped into out (size n >= 8), cut after max bytes of s or when out is full, with "...". */
static const char *escaped(const char *s, size_t max, char *out, size_t n)
{
	return escape_bounded(s, max, out, n, ESCAPE_BACKSLASH);
}

static int errs_add(struct config_errors *e, char *text, size_t file_no, int line, int col,
		    bool warning)
{
	if (!text)
		return -ENOMEM;
	if (e->n == e->cap) {
		size_t nc = e->cap ? e->cap * 2 : 16;
		struct config_error *it = realloc(e->items, nc * sizeof(*it));
		if (!it) {
			free(text);
			return -ENOMEM;
		}
		e->items = it;
		e->cap = nc;
	}
	e->items[e->n++] = (struct config_error){ text, warning, file_no, line, col };
	return 0;
}

static void place_of(struct parse *p, const char *path, bool key, int *line, int *col)
{
	const struct jsonpos_entry *e = jsonpos_find(&p->pos, path);

	jsonpos_position(&p->pos, e ? (key ? e->key_off : e->value_off) : 0, line, col);
}

/* "file:line:col: " ("file: " for line 0), the name escaped. */
static void put_place(struct strbuf *sb, const char *file, int line, int col)
{
	put_escaped(sb, file);
	if (line > 0)
		strbuf_printf(sb, ":%d:%d", line, col);
	strbuf_puts(sb, ": ");
}

static void vreport(struct parse *p, const char *path, bool at_key, bool warning, const char *fmt,
		    va_list ap)
{
	struct strbuf sb;
	int line, col;

	place_of(p, path, at_key, &line, &col);
	strbuf_init(&sb, 8192);
	put_place(&sb, p->file, line, col);
	if (*path)
		put_escaped(&sb, path);
	else
		strbuf_puts(&sb, "(top level)");
	strbuf_puts(&sb, warning ? ": warning: " : ": ");
	strbuf_vprintf(&sb, fmt, ap);
	errs_add(p->errs, strbuf_steal(&sb), p->file_no, line, col, warning);
}

static void errorf(struct parse *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errorf(struct parse *p, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(p, path, false, false, fmt, ap);
	va_end(ap);
}

static void key_errorf(struct parse *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void key_errorf(struct parse *p, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(p, path, true, false, fmt, ap);
	va_end(ap);
}

static void warnf(struct parse *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warnf(struct parse *p, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(p, path, false, true, fmt, ap);
	va_end(ap);
}

/* An error about a file (line 0) or a place in it that has no JSON path. */
static void file_errorf(struct config_errors *e, const char *file, size_t file_no, int line,
			int col, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void file_errorf(struct config_errors *e, const char *file, size_t file_no, int line,
			int col, const char *fmt, ...)
{
	struct strbuf sb;
	va_list ap;

	strbuf_init(&sb, 8192);
	put_place(&sb, file, line, col);
	va_start(ap, fmt);
	strbuf_vprintf(&sb, fmt, ap);
	va_end(ap);
	errs_add(e, strbuf_steal(&sb), file_no, line, col, false);
}

/* A user value as an error shows it: 'text' (escaped, cut at 80), 42, true, null, an object, a
 * list. */
static const char *show(const cJSON *v, char *buf, size_t n)
{
	if (cJSON_IsString(v)) {
		size_t l;
		buf[0] = '\'';
		escaped(v->valuestring, 80, buf + 1, n - 2);
		l = strlen(buf);
		buf[l] = '\'';
		buf[l + 1] = '\0';
	} else if (cJSON_IsNumber(v)) {
		snprintf(buf, n, "%g", v->valuedouble);
	} else if (cJSON_IsBool(v)) {
		snprintf(buf, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
	} else if (cJSON_IsNull(v)) {
		snprintf(buf, n, "null");
	} else if (cJSON_IsArray(v)) {
		snprintf(buf, n, "a list");
	} else {
		snprintf(buf, n, "an object");
	}
	return buf;
}

#define PATH_LEN 256

/* out = base + "." + key (or key alone at the top), cut to PATH_LEN - 1. */
static void subpath(char out[PATH_LEN], const char *base, const char *key)
{
	size_t bl = strlen(base), kl = strlen(key), o = 0;

	if (bl > PATH_LEN / 2)
		bl = PATH_LEN / 2;
	memcpy(out, base, bl);
	o = bl;
	if (bl)
		out[o++] = '.';
	if (kl > PATH_LEN - 1 - o)
		kl = PATH_LEN - 1 - o;
	memcpy(out + o, key, kl);
	out[o + kl] = '\0';
}

/* out = base + "[i]". */
static void indexpath(char out[PATH_LEN], const char *base, size_t i)
{
	char idx[32];
	size_t bl = strlen(base), il;

	snprintf(idx, sizeof(idx), "[%zu]", i);
	il = strlen(idx);
	if (bl > PATH_LEN - 1 - il)
		bl = PATH_LEN - 1 - il;
	memcpy(out, base, bl);
	memcpy(out + bl, idx, il + 1);
}

static char *join_path(const char *base, const char *key)
{
	size_t n = strlen(base) + strlen(key) + 2;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s%s%s", base, *base ? "." : "", key);
	return s;
}

/* What a file that is not a regular one is, for messages. */
/* ---- keys -------------------------------------------------------------------- */

static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) !=
						    tolower((unsigned char)b[j - 1]));
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

/* Reports members of obj not in allowed[], with a suggestion. */
static void check_keys(struct parse *p, const cJSON *obj, const char *path,
		       const char *const *allowed, size_t n)
{
	const cJSON *m;

	cJSON_ArrayForEach(m, obj)
	{
		const char *best = NULL;
		size_t best_d = 99;
		bool known = false;
		char shown[SHOW_MAX];

		for (size_t i = 0; i < n; i++) {
			size_t d;
			if (!strcmp(m->string, allowed[i])) {
				known = true;
				break;
			}
			d = distance(m->string, allowed[i]);
			if (d < best_d) {
				best_d = d;
				best = allowed[i];
			}
		}
		if (known)
			continue;
		char *mp = join_path(path, m->string);
		struct strbuf list;
		strbuf_init(&list, 4096);
		for (size_t i = 0; i < n; i++)
			strbuf_printf(&list, "%s%s", i ? ", " : "", allowed[i]);
		escaped(m->string, 80, shown, sizeof(shown));
		if (best && (best_d <= 2 || (best_d <= 3 && strlen(m->string) > 6)))
			key_errorf(p, mp ? mp : path, "unknown key '%s'; did you mean '%s'?", shown,
				   best);
		else
			key_errorf(p, mp ? mp : path, "unknown key '%s'; allowed here: %s", shown,
				   strbuf_str(&list));
		strbuf_done(&list);
		free(mp);
	}
}

/* ---- typed getters ------------------------------------------------------------- */

/* Each returns true when the member is absent or valid; errors are recorded. */

static const cJSON *member(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static bool get_string(struct parse *p, const cJSON *obj, const char *path, const char *key,
		       char **out)
{
	const cJSON *v = member(obj, key);
	char buf[SHOW_MAX];

	if (!v)
		return true;
	char *mp = join_path(path, key);
	if (!cJSON_IsString(v) || !*v->valuestring) {
		errorf(p, mp ? mp : path, "%s is not allowed here: expected a non-empty string",
		       show(v, buf, sizeof(buf)));
		free(mp);
		return false;
	}
	free(mp);
	free(*out);
	*out = strdup(v->valuestring);
	return *out != NULL;
}

static bool get_bool(struct parse *p, const cJSON *obj, const char *path, const char *key,
		     bool *out)
{
	const cJSON *v = member(obj, key);
	char buf[SHOW_MAX];

	if (!v)
		return true;
	if (!cJSON_IsBool(v)) {
		char *mp = join_path(path, key);
		errorf(p, mp ? mp : path, "%s is not allowed here: expected true or false",
		       show(v, buf, sizeof(buf)));
		free(mp);
		return false;
	}
	*out = cJSON_IsTrue(v);
	return true;
}

/* Whether x is a whole number from lo to hi: not NaN, not -0, no fraction. */
static bool whole_in(double x, int lo, int hi)
{
	if (!(x >= (double)lo && x <= (double)hi)) /* false for NaN too */
		return false;
	if (x == 0 && signbit(x))
		return false;
	return x == (double)(int)x; /* in int's range now, so the cast is defined */
}

static bool get_int(struct parse *p, const cJSON *obj, const char *path, const char *key, int lo,
		    int hi, int *out)
{
	const cJSON *v = member(obj, key);
	char buf[SHOW_MAX];

	if (!v)
		return true;
	/* Range first: converting a double out of int's range (1e400 is inf) is undefined. */
	if (!cJSON_IsNumber(v) || !whole_in(v->valuedouble, lo, hi)) {
		char *mp = join_path(path, key);
		errorf(p, mp ? mp : path,
		       "%s is not allowed here: expected a whole number from %d to %d",
		       show(v, buf, sizeof(buf)), lo, hi);
		free(mp);
		return false;
	}
	*out = (int)v->valuedouble;
	return true;
}

static bool get_duration(struct parse *p, const cJSON *obj, const char *path, const char *key,
			 uint64_t lo, uint64_t hi, uint64_t *out)
{
	const cJSON *v = member(obj, key);
	char buf[SHOW_MAX], los[DURATION_FORMAT_MAX], his[DURATION_FORMAT_MAX];
	const char *why = NULL;
	uint64_t ms;

	if (!v)
		return true;
	char *mp = join_path(path, key);
	duration_format(lo, los, sizeof(los));
	duration_format(hi, his, sizeof(his));
	if (!cJSON_IsString(v)) {
		errorf(p, mp ? mp : path,
		       "%s is not a duration: write it as a string like '30s', '15m' or "
		       "'1h30m' (from %s to %s)",
		       show(v, buf, sizeof(buf)), los, his);
	} else if (duration_parse(v->valuestring, &ms, &why) < 0) {
		errorf(p, mp ? mp : path, "%s is not a duration: %s", show(v, buf, sizeof(buf)),
		       why);
	} else if (ms < lo || ms > hi) {
		errorf(p, mp ? mp : path, "%s is out of bounds: from %s to %s",
		       show(v, buf, sizeof(buf)), los, his);
	} else {
		*out = ms;
		free(mp);
		return true;
	}
	free(mp);
	return false;
}

static bool get_enum(struct parse *p, const cJSON *obj, const char *path, const char *key,
		     const char *const *names, size_t n, int *out)
{
	const cJSON *v = member(obj, key);
	char buf[SHOW_MAX];

	if (!v)
		return true;
	if (cJSON_IsString(v))
		for (size_t i = 0; i < n; i++)
			if (!strcmp(v->valuestring, names[i])) {
				*out = (int)i;
				return true;
			}
	struct strbuf list;
	char *mp = join_path(path, key);
	strbuf_init(&list, 1024);
	for (size_t i = 0; i < n; i++)
		strbuf_printf(&list, "%s'%s'", i ? ", " : "", names[i]);
	errorf(p, mp ? mp : path, "%s is not allowed here: one of %s", show(v, buf, sizeof(buf)),
	       strbuf_str(&list));
	strbuf_done(&list);
	free(mp);
	return false;
}

/*
 * A list of strings, each checked by valid(), into a new NULL-free array that
 * replaces *out and *n_out (both freed or overwritten together, never one
 * without the other). The array and its texts are one allocation: free() frees
 * both (so every list of a watch or target is freed by free(), never item by item).
 */
static bool get_string_list(struct parse *p, const cJSON *v, const char *path,
			    bool (*valid)(const char *), const char *what, char ***out,
			    size_t *n_out)
{
	char buf[SHOW_MAX], ip[PATH_LEN];
	size_t n = 0, i = 0, got = 0, bytes = 0;
	const cJSON *e, *f;
	char **list, *at;
	bool ok = true;

	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
		errorf(p, path, "%s is not allowed here: expected a non-empty list, each item %s",
		       show(v, buf, sizeof(buf)), what);
		return false;
	}
	n = (size_t)cJSON_GetArraySize(v);
	/* checked first, then copied into one block: the pointers, then the texts (a list of
	 * ten tags is one allocation, not eleven) */
	cJSON_ArrayForEach(e, v)
	{
		indexpath(ip, path, i);
		if (!cJSON_IsString(e) || !valid(e->valuestring)) {
			errorf(p, ip, "%s is not %s", show(e, buf, sizeof(buf)), what);
			ok = false;
		} else {
			for (f = v->child; f != e; f = f->next)
				if (cJSON_IsString(f) && valid(f->valuestring) &&
				    !strcmp(f->valuestring, e->valuestring)) {
					errorf(p, ip, "%s is listed twice",
					       show(e, buf, sizeof(buf)));
					ok = false;
					break;
				}
			bytes += strlen(e->valuestring) + 1;
		}
		i++;
	}
	list = malloc(n * sizeof(char *) + bytes);
	if (!list)
		return false;
	at = (char *)(list + n);
	cJSON_ArrayForEach(e, v)
	{
		if (cJSON_IsString(e) && valid(e->valuestring)) {
			size_t len = strlen(e->valuestring) + 1;
			memcpy(at, e->valuestring, len);
			list[got++] = at;
			at += len;
		}
	}
	free(*out);
	*out = list;
	*n_out = got;
	return ok;
}

/* ---- value rules ---------------------------------------------------------------- */

static bool valid_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return i == n;
}

static bool tag_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/*
 * A tag glob as fnmatch() reads it that can match a tag: tag characters, '*',
 * '?' and bracket expressions "[a-z0-9]" or "[!-]" of tag characters and
 * forward ranges. NULL when valid, else why not (in why[n]).
 */
static const char *glob_problem(const char *s, char *why, size_t n)
{
	size_t len = strlen(s);

	if (len < 1 || len > 128)
		return "a tag glob has 1 to 128 characters";
	for (size_t i = 0; i < len; i++) {
		if (s[i] == ']') {
			snprintf(why, n, "the ']' at character %zu closes no '['", i + 1);
			return why;
		}
		if (s[i] != '[') {
			if (!tag_char(s[i]) && s[i] != '*' && s[i] != '?')
				return "";
			continue;
		}
		size_t open = i++, items = 0;
		if (i < len && s[i] == '!')
			i++;
		for (; i < len && s[i] != ']'; i++, items++) {
			if (!tag_char(s[i]))
				return "";
			if (i + 2 < len && s[i + 1] == '-' && s[i + 2] != ']') {
				if (!tag_char(s[i + 2]))
					return "";
				if ((unsigned char)s[i] > (unsigned char)s[i + 2]) {
					snprintf(
					    why, n,
					    "the range '%c-%c' at character %zu runs backwards",
					    s[i], s[i + 2], i + 1);
					return why;
				}
				i += 2;
			}
		}
		if (i >= len) {
			snprintf(why, n, "the '[' at character %zu is never closed with ']'",
				 open + 1);
			return why;
		}
		if (items == 0) {
			snprintf(why, n, "the '[' at character %zu lists no character", open + 1);
			return why;
		}
	}
	return NULL;
}

static bool valid_glob(const char *s)
{
	char why[96];

	return glob_problem(s, why, sizeof(why)) == NULL;
}

static bool valid_watch_name(const char *s)
{
	return isalnum((unsigned char)s[0]) && name_all(s, 1, 64, "_.-");
}

/* arn:<partition>:iam::<12 digits>:role/<path/>name; writes the account to acct[13]. */
static bool valid_role_arn(const char *s, char acct[13])
{
	static const char *const parts[] = { "arn:aws:", "arn:aws-cn:", "arn:aws-us-gov:",
					     "arn:aws-iso:", "arn:aws-iso-b:" };
	const char *p = NULL;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && !p; i++)
		if (!strncmp(s, parts[i], strlen(parts[i])))
			p = s + strlen(parts[i]);
	if (!p || strncmp(p, "iam::", 5))
		return false;
	p += 5;
	for (int i = 0; i < 12; i++)
		if (!isdigit((unsigned char)p[i]))
			return false;
	memcpy(acct, p, 12);
	acct[12] = '\0';
	p += 12;
	if (strncmp(p, ":role/", 6))
		return false;
	p += 6;
	const char *name = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
	return name_all(p, 1, 512, "+=,.@_-/") && name_all(name, 1, 64, "+=,.@_-");
}

/* https://sqs.<region>.amazonaws.com[.cn]/<account>/<queue>; the parts into region[64],
 * acct[16] and name[128] (a queue name: [A-Za-z0-9_-]{1,80}, ".fifo" allowed at its end). */
static bool valid_queue_url(const char *s, char region[64], char acct[16], char name[128])
{
	/* sqs.R.amazonaws.com, sqs.R.amazonaws.com.cn, sqs-fips.R.amazonaws.com, sqs.R.api.aws */
	static const char *const prefixes[] = { "https://sqs.", "https://sqs-fips." };
	static const char *const suffixes[] = { ".amazonaws.com", ".amazonaws.com.cn", ".api.aws" };
	const char *host = NULL, *end;

	for (size_t i = 0; i < 2 && !host; i++)
		if (!strncmp(s, prefixes[i], strlen(prefixes[i])))
			host = s + strlen(prefixes[i]);
	end = host ? strchr(host, '/') : NULL;
	if (!end || end - host >= 64 + 20)
		return false;
	bool known = false;
	for (size_t i = 0; i < 3 && !known; i++) {
		size_t sl = strlen(suffixes[i]), hl = (size_t)(end - host);
		if (hl > sl && !strncmp(end - sl, suffixes[i], sl) && hl - sl < 64) {
			snprintf(region, 64, "%.*s", (int)(hl - sl), host);
			known = true;
		}
	}
	int n = 0;
	if (!known || sscanf(end, "/%15[0-9]/%127[A-Za-z0-9_.-]%n", acct, name, &n) != 2 ||
	    (size_t)n != strlen(end))
		return false;
	size_t len = strlen(name);
	bool fifo = len > 5 && !strcmp(name + len - 5, ".fifo");
	char base[128];
	snprintf(base, sizeof(base), "%.*s", (int)(fifo ? len - 5 : len), name);
	return endpoint_valid_region(region) && strlen(acct) == 12 && name_all(base, 1, 80, "_-");
}

/* A cluster or service given by name, or by an ECS ARN of that kind. */
static bool valid_ecs_ref(const char *s, const char *kind)
{
	char part[16], region[64], acct[16], what[16], rest[600];
	int n = 0;

	if (name_valid_ecs(s))
		return true;
	if (sscanf(s, "arn:%15[a-z-]:ecs:%63[a-z0-9-]:%15[0-9]:%15[a-z]/%599[A-Za-z0-9_/-]%n", part,
		   region, acct, what, rest, &n) != 5 ||
	    (size_t)n != strlen(s))
		return false;
	return !strncmp(part, "aws", 3) && !strcmp(what, kind) && endpoint_valid_region(region) &&
	       strlen(acct) == 12;
}

/*
 * An endpoint: http:// or https://, a host, an optional port from 1 to 65535,
 * then a path; no credentials (user:password@), which are refused without
 * being shown, and no spaces or control characters.
 */
static void check_endpoint(struct parse *p, const char *path, const char *url)
{
	size_t scheme = !strncmp(url, "https://", 8) ? 8 : !strncmp(url, "http://", 7) ? 7 : 0;
	size_t auth_len, host_len;
	const char *auth = url + scheme, *at, *port = NULL;
	char buf[SHOW_MAX], shown[SHOW_MAX];

	escaped(url, 80, buf, sizeof(buf));
	if (!scheme) {
		errorf(p, path, "'%s' is not an http:// or https:// URL", buf);
		return;
	}
	auth_len = strcspn(auth, "/?#");
	at = memchr(auth, '@', auth_len);
	if (at) {
		/* the scheme, "...", then from the '@' on */
		snprintf(shown, sizeof(shown), "%.*s...%s", (int)scheme, url,
			 escaped(at, 80, buf, sizeof(buf)));
		errorf(p, path,
		       "'%s' holds credentials (before '@', not shown): an endpoint URL takes "
		       "none; AWS credentials come from the credential chain",
		       shown);
		return;
	}
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f) {
			errorf(p, path, "'%s' holds a space or a control character", buf);
			return;
		}
	if (auth[0] == '[') { /* [IPv6] */
		const char *close = memchr(auth, ']', auth_len);
		host_len = close ? (size_t)(close - auth) + 1 : auth_len;
		if (!close || (host_len < auth_len && auth[host_len] != ':')) {
			errorf(p, path, "'%s' has an IPv6 address without its closing ']'", buf);
			return;
		}
	} else {
		host_len = strcspn(auth, ":/?#");
	}
	if (host_len == 0) {
		errorf(p, path, "'%s' names no host", buf);
		return;
	}
	if (host_len < auth_len)
		port = auth + host_len + 1; /* after the ':' */
	if (port) {
		size_t digits = (size_t)(auth + auth_len - port);
		unsigned long v = 0;
		bool ok = digits >= 1 && digits <= 5 && strspn(port, "0123456789") >= digits;
		for (size_t k = 0; ok && k < digits; k++)
			v = v * 10 + (unsigned long)(port[k] - '0');
		if (!ok || v < 1 || v > 65535) {
			char given[24];
			snprintf(given, sizeof(given), "%.*s", (int)(digits < 20 ? digits : 20),
				 port);
			errorf(p, path, "'%s' has port '%s': a port is a number from 1 to 65535",
			       buf, escaped(given, 20, shown, sizeof(shown)));
		}
	}
}

/* ---- sections ------------------------------------------------------------------ */

/* A group as getgrnam() knows it, or a number. */
static bool group_name_valid(const char *s)
{
	size_t n = strlen(s);
	bool digits = true;

	if (n < 1 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		digits = digits && s[i] >= '0' && s[i] <= '9';
	if (digits)
		return n <= 10;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.' ||
		      (ch == '$' && i == n - 1)))
			return false;
	}
	return true;
}

/* "control": {"socket", "group", "read_group"} (docs/control.md). */
static void parse_control(struct parse *p, const cJSON *ctl)
{
	static const char *const keys[] = { "socket", "group", "read_group" };
	struct config *c = p->cfg;
	char buf[SHOW_MAX];
	const cJSON *v;

	if (!cJSON_IsObject(ctl)) {
		errorf(p, "control",
		       "%s is not allowed here: expected an object like {\"socket\": \"/run/...\"}",
		       show(ctl, buf, sizeof(buf)));
		return;
	}
	check_keys(p, ctl, "control", keys, 3);
	v = member(ctl, "socket");
	if (v && (!cJSON_IsString(v) ||
		  (*v->valuestring && (v->valuestring[0] != '/' ||
				       strlen(v->valuestring) > CONFIG_CONTROL_SOCKET_MAX ||
				       strrchr(v->valuestring, '/') - v->valuestring + 1 >
					   CONFIG_CONTROL_SOCKET_DIR_MAX)))) {
		errorf(p, "control.socket",
		       "%s is not allowed here: expected an absolute path of at most %d bytes (its "
		       "directory at most %d), or \"\" for no socket",
		       show(v, buf, sizeof(buf)), CONFIG_CONTROL_SOCKET_MAX,
		       CONFIG_CONTROL_SOCKET_DIR_MAX);
	} else if (v) {
		free(c->control_socket);
		c->control_socket = strdup(v->valuestring);
	}
	v = member(ctl, "group");
	if (v && (!cJSON_IsString(v) || !group_name_valid(v->valuestring)))
		errorf(p, "control.group",
		       "%s is not allowed here: expected a group name or number",
		       show(v, buf, sizeof(buf)));
	else if (v) {
		free(c->control_group);
		c->control_group = strdup(v->valuestring);
	}
	v = member(ctl, "read_group");
	if (v && (!cJSON_IsString(v) ||
		  (strcmp(v->valuestring, "*") && !group_name_valid(v->valuestring))))
		errorf(p, "control.read_group",
		       "%s is not allowed here: expected a group name or number, or \"*\" for "
		       "every local user",
		       show(v, buf, sizeof(buf)));
	else if (v) {
		free(c->control_read_group);
		c->control_read_group = strdup(v->valuestring);
	}
}

static void parse_aws(struct parse *p, const cJSON *aws)
{
	static const char *const keys[] = { "region",    "profile",   "fips",
					    "ca_bundle", "endpoints", "http_version" };
	static const char *const http_versions[] = { "1.1", "2" };
	int http_version = 0;
	static const char *const ep_keys[] = { "ecr", "ecs",    "sqs",     "codedeploy",
					       "sts", "events", "dynamodb" };
	static const enum aws_service_id ids[] = { AWS_SERVICE_ECR,     AWS_SERVICE_ECS,
						   AWS_SERVICE_SQS,     AWS_SERVICE_CODEDEPLOY,
						   AWS_SERVICE_STS,     AWS_SERVICE_EVENTS,
						   AWS_SERVICE_DYNAMODB };
#define N_EP_KEYS (sizeof(ep_keys) / sizeof(ep_keys[0]))
	struct config *c = p->cfg;
	char buf[SHOW_MAX];
	const cJSON *eps;

	if (!cJSON_IsObject(aws)) {
		errorf(p, "aws", "%s is not allowed here: expected an object",
		       show(aws, buf, sizeof(buf)));
		return;
	}
	check_keys(p, aws, "aws", keys, 6);
	if (get_string(p, aws, "aws", "region", &c->region) && c->region &&
	    !endpoint_valid_region(c->region))
		errorf(p, "aws.region", "%s is not an AWS region name (like 'us-east-1')",
		       show(member(aws, "region"), buf, sizeof(buf)));
	get_string(p, aws, "aws", "profile", &c->profile);
	get_bool(p, aws, "aws", "fips", &c->fips);
	if (get_enum(p, aws, "aws", "http_version", http_versions, 2, &http_version))
		c->http2 = http_version == 1;
	if (get_string(p, aws, "aws", "ca_bundle", &c->ca_bundle) && c->ca_bundle &&
	    c->ca_bundle[0] != '/') {
		errorf(p, "aws.ca_bundle", "%s must be an absolute path",
		       show(member(aws, "ca_bundle"), buf, sizeof(buf)));
	} else if (c->ca_bundle && p->on_disk) {
		/* TLS reads it at each handshake: a FIFO there would block the loop. */
		struct stat st;
		if (stat(c->ca_bundle, &st) == 0 && !S_ISREG(st.st_mode))
			errorf(p, "aws.ca_bundle", "%s is not a regular file but %s",
			       show(member(aws, "ca_bundle"), buf, sizeof(buf)),
			       regfile_kind(st.st_mode));
	}
	eps = member(aws, "endpoints");
	if (!eps)
		return;
	if (!cJSON_IsObject(eps)) {
		errorf(p, "aws.endpoints",
		       "%s is not allowed here: expected an object like "
		       "{\"ecs\": \"https://...\"}",
		       show(eps, buf, sizeof(buf)));
		return;
	}
	check_keys(p, eps, "aws.endpoints", ep_keys, N_EP_KEYS);
	for (size_t i = 0; i < N_EP_KEYS; i++) {
		char path[PATH_LEN];
		subpath(path, "aws.endpoints", ep_keys[i]);
		if (get_string(p, eps, "aws.endpoints", ep_keys[i], &c->endpoints[ids[i]]) &&
		    c->endpoints[ids[i]])
			check_endpoint(p, path, c->endpoints[ids[i]]);
	}
}

/* Whether s is a name CodeDeploy may hold: 1 to 100 printable ASCII characters. */
static bool cd_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 100)
		return false;
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/*
 * The target's "codedeploy" object: every key optional. application and deployment_group come
 * together (neither: found from the service's deployment groups), container and port too
 * (neither: the service's load balancer); deployment_config defaults to the group's.
 */
static void parse_codedeploy(struct parse *p, const cJSON *v, const char *path,
			     struct config_target *t)
{
	static const char *const keys[] = { "application", "deployment_group", "deployment_config",
					    "container", "port" };
	static const char *const pairs[][3] = {
		{ "application", "deployment_group",
		  "give both, or neither to use the deployment group whose ECS service is this "
		  "target's" },
		{ "container", "port",
		  "give both, or neither to use the container and port of the service's load "
		  "balancer" },
	};
	char buf[SHOW_MAX], cp[PATH_LEN];
	int port = 0;

	if (!cJSON_IsObject(v)) {
		errorf(p, path,
		       "%s is not allowed here: expected an object with application, "
		       "deployment_group, deployment_config, container and port (each optional)",
		       show(v, buf, sizeof(buf)));
		return;
	}
	check_keys(p, v, path, keys, 5);
	get_string(p, v, path, "application", &t->cd_application);
	get_string(p, v, path, "deployment_group", &t->cd_group);
	get_string(p, v, path, "deployment_config", &t->cd_config);
	get_string(p, v, path, "container", &t->cd_container);
	if (get_int(p, v, path, "port", 1, 65535, &port))
		t->cd_port = port;
	for (size_t i = 0; i < 2; i++)
		if (!member(v, pairs[i][0]) != !member(v, pairs[i][1]))
			errorf(p, path, "'%s' is given without '%s': %s",
			       pairs[i][!member(v, pairs[i][0])],
			       pairs[i][!!member(v, pairs[i][0])], pairs[i][2]);
	static const char *const names[] = { "application", "deployment_group",
					     "deployment_config" };
	char **const vals[] = { &t->cd_application, &t->cd_group, &t->cd_config };
	for (size_t i = 0; i < 3; i++) {
		subpath(cp, path, names[i]);
		if (*vals[i] && !cd_name_valid(*vals[i]))
			errorf(p, cp, "%s is not a CodeDeploy name (1 to 100 printable characters)",
			       show(member(v, names[i]), buf, sizeof(buf)));
	}
	subpath(cp, path, "container");
	if (t->cd_container && !name_valid_ecs(t->cd_container))
		errorf(p, cp,
		       "%s is not a container name (letters, digits, '-' and '_', up to 255)",
		       show(member(v, "container"), buf, sizeof(buf)));
}

static void parse_target(struct parse *p, const cJSON *v, const char *path, struct config_target *t)
{
	static const char *const keys[] = { "cluster",         "service",        "container",
					    "containers",      "strategy",       "codedeploy",
					    "rollout_timeout", "rollback",       "role_arn",
					    "paused",          "on_first_start", "retry",
					    "approve",         "guard" };
	static const char *const strategies[] = { "revision", "force", "codedeploy" };
	static const char *const rollbacks[] = { "auto", "none" };
	static const char *const first_start[] = { "deploy", "skip" };
	int first = 0;
	char buf[SHOW_MAX], mp[PATH_LEN], acct[13];
	int strategy = STRATEGY_REVISION, rollback = 0;
	int approve = p->cfg->approve, guard = p->cfg->guard;
	const cJSON *m;

	jsonpos_position(&p->pos,
			 jsonpos_find(&p->pos, path) ? jsonpos_find(&p->pos, path)->value_off : 0,
			 &t->at.line, &t->at.col);
	t->at.file = p->file;
	t->rollback = true;
	t->rollout_timeout_ms = p->cfg->rollout_timeout_ms;
	t->approve = p->cfg->approve;
	t->guard = p->cfg->guard;
	if (!cJSON_IsObject(v)) {
		errorf(p, path,
		       "%s is not allowed here: expected an object with cluster, service and "
		       "containers",
		       show(v, buf, sizeof(buf)));
		return;
	}
	check_keys(p, v, path, keys, sizeof(keys) / sizeof(keys[0]));
	for (size_t i = 0; i < 2; i++) {
		const char *k = i ? "service" : "cluster";
		char **out = i ? &t->service : &t->cluster;
		subpath(mp, path, k);
		if (!member(v, k))
			errorf(p, path, "'%s' is required", k);
		else if (get_string(p, v, path, k, out) && !valid_ecs_ref(*out, k))
			errorf(p, mp,
			       "%s is not a valid %s name (letters, digits, '-' and '_', 1 to 255) "
			       "or %s ARN",
			       show(member(v, k), buf, sizeof(buf)), k, k);
	}
	m = member(v, "container");
	if (m && member(v, "containers")) {
		subpath(mp, path, "containers");
		key_errorf(p, mp, "give either 'container' or 'containers', not both");
	} else if (m) {
		subpath(mp, path, "container");
		cJSON *tmp = cJSON_CreateArray();
		if (tmp && cJSON_IsString(m))
			cJSON_AddItemToArray(tmp, cJSON_CreateString(m->valuestring));
		if (!cJSON_IsString(m) || !name_valid_ecs(m->valuestring))
			errorf(
			    p, mp,
			    "%s is not a container name (letters, digits, '-' and '_', 1 to 255)",
			    show(m, buf, sizeof(buf)));
		else
			get_string_list(p, tmp, mp, name_valid_ecs, "a container name",
					&t->containers, &t->n_containers);
		cJSON_Delete(tmp);
	} else if ((m = member(v, "containers"))) {
		subpath(mp, path, "containers");
		get_string_list(p, m, mp, name_valid_ecs,
				"a container name (letters, digits, '-' and '_', 1 to 255)",
				&t->containers, &t->n_containers);
	} else {
		errorf(p, path,
		       "'containers' is required: the container(s) whose image is replaced");
	}
	get_enum(p, v, path, "strategy", strategies, 3, &strategy);
	t->strategy = (enum config_strategy)strategy;
	m = member(v, "codedeploy");
	subpath(mp, path, "codedeploy");
	if (t->strategy != STRATEGY_CODEDEPLOY && m)
		key_errorf(p, mp,
			   "'codedeploy' applies only with strategy 'codedeploy' (this target's "
			   "strategy is '%s')",
			   strategies[t->strategy]);
	else if (m)
		parse_codedeploy(p, m, mp, t);
	get_duration(p, v, path, "rollout_timeout", ROLLOUT_TIMEOUT_MIN, ROLLOUT_TIMEOUT_MAX,
		     &t->rollout_timeout_ms);
	if (get_enum(p, v, path, "rollback", rollbacks, 2, &rollback))
		t->rollback = rollback == 0;
	if (get_enum(p, v, path, "approve", approve_names, N_APPROVE, &approve))
		t->approve = (enum config_approve)approve;
	if (get_enum(p, v, path, "guard", guard_names, N_GUARD, &guard))
		t->guard = (enum config_guard)guard;
	if (get_string(p, v, path, "role_arn", &t->role_arn) && t->role_arn) {
		subpath(mp, path, "role_arn");
		if (!valid_role_arn(t->role_arn, acct))
			errorf(p, mp,
			       "%s is not an IAM role ARN (arn:aws:iam::123456789012:role/name)",
			       show(member(v, "role_arn"), buf, sizeof(buf)));
		else
			t->account = strdup(acct);
	}
	get_bool(p, v, path, "paused", &t->paused);
	if (get_enum(p, v, path, "on_first_start", first_start, 2, &first))
		t->first_start_skip = first == 1;
	if (get_string(p, v, path, "retry", &t->retry) && t->retry) {
		subpath(mp, path, "retry");
		if (!digest_valid(t->retry))
			errorf(p, mp,
			       "%s is not an image digest (sha256: and 64 lowercase hex digits)",
			       show(member(v, "retry"), buf, sizeof(buf)));
	}
}

/* Repository as a name, or as <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<name>. */
static void parse_repository(struct parse *p, const cJSON *v, const char *path,
			     struct config_watch *w)
{
	char mp[PATH_LEN], buf[128], acct[16], region[64], name[300];
	const char *s;
	int n = 0;

	subpath(mp, path, "repository");
	if (!v) {
		errorf(p, path,
		       "'repository' is required (a name like 'team/web', or "
		       "'123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web')");
		return;
	}
	if (!cJSON_IsString(v)) {
		errorf(p, mp, "%s is not allowed here: expected a string",
		       show(v, buf, sizeof(buf)));
		return;
	}
	s = v->valuestring;
	if (strstr(s, ".dkr.ecr.")) {
		bool ok = sscanf(s, "%15[0-9].dkr.ecr.%63[a-z0-9-].amazonaws.com/%299s%n", acct,
				 region, name, &n) == 3 &&
			  (size_t)n == strlen(s);
		if (!ok) {
			n = 0;
			ok = sscanf(s, "%15[0-9].dkr.ecr.%63[a-z0-9-].amazonaws.com.cn/%299s%n",
				    acct, region, name, &n) == 3 &&
			     (size_t)n == strlen(s);
		}
		if (ok && (strchr(name, ':') || strchr(name, '@'))) {
			errorf(p, mp,
			       "%s names a tag or digest; the repository URI ends with the "
			       "repository name, and the tag goes in 'tag', 'tags', 'tag_glob' or "
			       "'semver'",
			       show(v, buf, sizeof(buf)));
			return;
		}
		if (!ok || strlen(acct) != 12 || !endpoint_valid_region(region) ||
		    !name_valid_repository(name)) {
			errorf(p, mp,
			       "%s is not a repository URI of the form "
			       "<12-digit account>.dkr.ecr.<region>.amazonaws.com/<name>",
			       show(v, buf, sizeof(buf)));
			return;
		}
		if (w->registry_id && strcmp(w->registry_id, acct))
			errorf(p, mp, "the URI's account '%s' differs from registry_id '%s'", acct,
			       w->registry_id);
		if (w->region && strcmp(w->region, region))
			errorf(p, mp, "the URI's region '%s' differs from region '%s'", region,
			       w->region);
		free(w->registry_id);
		free(w->region);
		w->registry_id = strdup(acct);
		w->region = strdup(region);
		w->repository = strdup(name);
		return;
	}
	if (!name_valid_repository(s)) {
		errorf(p, mp,
		       "%s is not an ECR repository name (2 to 256 lowercase letters and digits, "
		       "with '.', '_', '-' between them and '/' between path parts)",
		       show(v, buf, sizeof(buf)));
		return;
	}
	w->repository = strdup(s);
}

static void parse_watch(struct parse *p, const cJSON *v, const char *path, struct config_watch *w)
{
	static const char *const keys[] = { "name",       "repository", "registry_id", "region",
					    "tag",        "tags",       "tag_glob",    "semver",
					    "prerelease", "exclude",    "targets" };
	static const char *const rules[] = { "tag", "tags", "tag_glob", "semver" };
	char buf[SHOW_MAX], mp[PATH_LEN];
	const cJSON *m;
	int n_rules = 0;

	jsonpos_position(&p->pos,
			 jsonpos_find(&p->pos, path) ? jsonpos_find(&p->pos, path)->value_off : 0,
			 &w->at.line, &w->at.col);
	w->at.file = p->file;
	if (!cJSON_IsObject(v)) {
		errorf(p, path,
		       "%s is not allowed here: expected an object with name, repository, a tag "
		       "rule and targets",
		       show(v, buf, sizeof(buf)));
		return;
	}
	check_keys(p, v, path, keys, sizeof(keys) / sizeof(keys[0]));
	subpath(mp, path, "name");
	if (!member(v, "name"))
		errorf(p, path, "'name' is required (unique across all files)");
	else if (get_string(p, v, path, "name", &w->name) && !valid_watch_name(w->name))
		errorf(p, mp,
		       "%s is not a watch name (1 to 64 letters, digits, '.', '_' and '-', "
		       "starting with a letter or digit)",
		       show(member(v, "name"), buf, sizeof(buf)));
	subpath(mp, path, "registry_id");
	if (get_string(p, v, path, "registry_id", &w->registry_id) && w->registry_id &&
	    !valid_digits(w->registry_id, 12))
		errorf(p, mp, "%s is not a 12-digit AWS account id",
		       show(member(v, "registry_id"), buf, sizeof(buf)));
	subpath(mp, path, "region");
	if (get_string(p, v, path, "region", &w->region) && w->region &&
	    !endpoint_valid_region(w->region))
		errorf(p, mp, "%s is not an AWS region name (like 'us-east-1')",
		       show(member(v, "region"), buf, sizeof(buf)));
	parse_repository(p, member(v, "repository"), path, w);

	for (size_t i = 0; i < 4; i++)
		n_rules += member(v, rules[i]) != NULL;
	if (n_rules != 1)
		errorf(p, path,
		       "give exactly one of 'tag', 'tags', 'tag_glob' or 'semver' (found %d)",
		       n_rules);
	if ((m = member(v, "tag"))) {
		subpath(mp, path, "tag");
		w->rule = TAG_ONE;
		if (!cJSON_IsString(m) || !name_valid_tag(m->valuestring)) {
			errorf(
			    p, mp,
			    "%s is not an image tag (1 to 128 letters, digits, '_', '.' and '-', "
			    "not starting with '.' or '-')",
			    show(m, buf, sizeof(buf)));
		} else {
			/* a list of one (get_string_list()'s layout: freed by free()) */
			size_t len = strlen(m->valuestring) + 1;
			free(w->tags);
			if ((w->tags = malloc(sizeof(char *) + len))) {
				w->tags[0] = memcpy(w->tags + 1, m->valuestring, len);
				w->n_tags = 1;
			}
		}
	}
	if ((m = member(v, "tags"))) {
		subpath(mp, path, "tags");
		w->rule = TAG_LIST;
		get_string_list(p, m, mp, name_valid_tag, "an image tag", &w->tags, &w->n_tags);
	}
	if ((m = member(v, "tag_glob"))) {
		subpath(mp, path, "tag_glob");
		w->rule = TAG_GLOB;
		char why[96];
		const char *problem =
		    cJSON_IsString(m) ? glob_problem(m->valuestring, why, sizeof(why)) : "";
		if (problem && !*problem)
			errorf(p, mp,
			       "%s is not a tag glob (tag characters plus '*', '?' and '[...]')",
			       show(m, buf, sizeof(buf)));
		else if (problem)
			errorf(p, mp, "%s is not a tag glob: %s", show(m, buf, sizeof(buf)),
			       problem);
		else
			w->glob = strdup(m->valuestring);
	}
	if ((m = member(v, "semver"))) {
		const char *why = NULL;
		subpath(mp, path, "semver");
		w->rule = TAG_SEMVER;
		if (!cJSON_IsString(m))
			errorf(p, mp,
			       "%s is not a semver constraint (like '^1.4', '~2.0' or '>=1.2.0 "
			       "<2.0.0')",
			       show(m, buf, sizeof(buf)));
		else if (semver_range_parse(m->valuestring, &w->semver, &why) < 0)
			errorf(p, mp,
			       "%s is not a semver constraint: %s (write it like '^1.4', '~2.0' or "
			       "'>=1.2.0 <2.0.0')",
			       show(m, buf, sizeof(buf)), why ? why : "cannot parse");
		else {
			w->semver_text = strdup(m->valuestring);
			if (!semver_range_can_match(w->semver))
				warnf(
				    p, mp,
				    "%s can never match: no version is within its bounds, so this "
				    "watch will deploy nothing",
				    show(m, buf, sizeof(buf)));
		}
	}
	if (member(v, "prerelease") && !member(v, "semver")) {
		subpath(mp, path, "prerelease");
		key_errorf(p, mp, "'prerelease' applies only with 'semver'");
	}
	get_bool(p, v, path, "prerelease", &w->prerelease);
	if ((m = member(v, "exclude"))) {
		subpath(mp, path, "exclude");
		if (member(v, "tag"))
			key_errorf(p, mp,
				   "'exclude' applies to 'tags', 'tag_glob' and 'semver', not to a "
				   "single 'tag'");
		else
			get_string_list(p, m, mp, valid_glob, "a tag or tag glob", &w->exclude,
					&w->n_exclude);
	}

	m = member(v, "targets");
	subpath(mp, path, "targets");
	if (!m) {
		errorf(p, path, "'targets' is required: the ECS services this watch deploys to");
		return;
	}
	if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) == 0 ||
	    cJSON_GetArraySize(m) > MAX_TARGETS) {
		errorf(p, mp, "%s is not allowed here: expected a list of 1 to %d targets",
		       show(m, buf, sizeof(buf)), MAX_TARGETS);
		return;
	}
	w->n_targets = (size_t)cJSON_GetArraySize(m);
	w->targets = calloc(w->n_targets, sizeof(*w->targets));
	if (!w->targets) {
		w->n_targets = 0;
		return;
	}
	size_t i = 0;
	const cJSON *t;
	cJSON_ArrayForEach(t, m)
	{
		char tp[PATH_LEN];
		indexpath(tp, mp, i);
		parse_target(p, t, tp, &w->targets[i]);
		i++;
	}
}

static void config_queue_done(struct config_queue *q)
{
	free(q->url);
	free(q->region);
	free(q->name);
	free(q->role_arn);
	memset(q, 0, sizeof(*q));
}

/* One queue of events[] (path "events[i]"), or the old event_queue (path "event_queue": v is
 * the URL string). Returns whether it is valid; *q is filled as far as it is. */
static bool parse_queue(struct parse *p, const cJSON *v, const char *path, bool old,
			struct config_queue *q)
{
	static const char *const keys[] = { "queue_url", "region", "role_arn" };
	char buf[SHOW_MAX], mp[PATH_LEN], region[64], acct[16], name[128], racct[13];
	const cJSON *url = v;
	bool ok = true;

	if (cJSON_IsObject(v)) {
		check_keys(p, v, path, keys, sizeof(keys) / sizeof(keys[0]));
		url = member(v, "queue_url");
		subpath(mp, path, "queue_url");
		if (!url) {
			errorf(p, path, "a queue needs 'queue_url'");
			return false;
		}
	} else if (!old) {
		errorf(p, path, "%s is not allowed here: expected a queue {\"queue_url\": ...}",
		       show(v, buf, sizeof(buf)));
		return false;
	} else {
		snprintf(mp, sizeof(mp), "%s", path);
	}
	if (!cJSON_IsString(url) || !valid_queue_url(url->valuestring, region, acct, name)) {
		errorf(p, mp,
		       "%s is not an SQS queue URL "
		       "(https://sqs.<region>.amazonaws.com/<account>/<queue>)",
		       show(url, buf, sizeof(buf)));
		return false;
	}
	q->url = strdup(url->valuestring);
	q->name = strdup(name);
	if (!cJSON_IsObject(v)) {
		q->region = strdup(region);
		return q->url && q->name && q->region;
	}
	if (get_string(p, v, path, "region", &q->region) && q->region) {
		subpath(mp, path, "region");
		if (!endpoint_valid_region(q->region)) {
			errorf(p, mp, "%s is not an AWS region name",
			       show(member(v, "region"), buf, sizeof(buf)));
			ok = false;
		} else if (strcmp(q->region, region) != 0) {
			errorf(p, mp, "%s is not the region of the queue URL ('%s')",
			       show(member(v, "region"), buf, sizeof(buf)), region);
			ok = false;
		}
	} else if (member(v, "region")) {
		ok = false;
	}
	if (!q->region)
		q->region = strdup(region);
	if (get_string(p, v, path, "role_arn", &q->role_arn) && q->role_arn) {
		subpath(mp, path, "role_arn");
		if (!valid_role_arn(q->role_arn, racct)) {
			errorf(p, mp,
			       "%s is not an IAM role ARN (arn:aws:iam::123456789012:role/name)",
			       show(member(v, "role_arn"), buf, sizeof(buf)));
			ok = false;
		}
	}
	return ok && q->url && q->name && q->region;
}

/* events: [queue, ...], or the old event_queue: "url" (one queue; both is an error). */
static void parse_events(struct parse *p, const cJSON *root)
{
	const cJSON *events = member(root, "events"), *old = member(root, "event_queue");
	struct config *c = p->cfg;
	char buf[SHOW_MAX], path[PATH_LEN];
	const cJSON *q;
	size_t n, i = 0;

	if (events && old) {
		errorf(p, "event_queue",
		       "'event_queue' and 'events' are both set; keep only 'events' (the old "
		       "key names one queue: {\"events\": [{\"queue_url\": ...}]})");
		return;
	}
	if (old) {
		c->queues = calloc(1, sizeof(*c->queues));
		if (!c->queues)
			return;
		if (parse_queue(p, old, "event_queue", true, &c->queues[0])) {
			c->n_queues = 1;
			warnf(p, "event_queue",
			      "'event_queue' is the old name of one queue of 'events'; write "
			      "\"events\": [{\"queue_url\": \"%s\"}] instead",
			      c->queues[0].url); /* valid: URL characters only */
		} else {
			config_queue_done(&c->queues[0]);
		}
		return;
	}
	if (!events)
		return;
	if (!cJSON_IsArray(events)) {
		errorf(p, "events", "%s is not allowed here: expected a list of queues",
		       show(events, buf, sizeof(buf)));
		return;
	}
	n = (size_t)cJSON_GetArraySize(events);
	if (n > CONFIG_MAX_QUEUES) {
		errorf(p, "events", "%zu queues: at most %d", n, CONFIG_MAX_QUEUES);
		return;
	}
	c->queues = calloc(n + 1, sizeof(*c->queues));
	if (!c->queues)
		return;
	cJSON_ArrayForEach(q, events)
	{
		indexpath(path, "events", i++);
		if (!parse_queue(p, q, path, false, &c->queues[c->n_queues])) {
			config_queue_done(&c->queues[c->n_queues]);
			continue;
		}
		for (size_t k = 0; k < c->n_queues; k++)
			if (!strcmp(c->queues[k].url, c->queues[c->n_queues].url)) {
				errorf(p, path, "the queue '%s' is listed twice (also events[%zu])",
				       c->queues[k].url, k);
				break;
			}
		c->n_queues++;
	}
}

static void free_list(char **l, size_t n);

/* ---- notify ----------------------------------------------------------------------- */

#define SINK_URL_MAX    2048
#define SINK_SECRET_MAX 4096

/* Whether the host (without port) of a URL is a loopback one http:// may go to. */
static bool loopback_host(const char *host, size_t len)
{
	static const char *const names[] = { "127.0.0.1", "[::1]", "localhost" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (len == strlen(names[i]) && !strncasecmp(host, names[i], len))
			return true;
	return false;
}

/*
 * A sink's URL: https:// with a host (http:// only to a loopback host), no credentials, no space
 * or control character, at most SINK_URL_MAX bytes. The URL holds a token, so why[n] says what is
 * wrong without quoting it (the host at most, which is checked first to hold only host
 * characters); the host[:port] goes to host[hn] either way when it could be found ("" if not).
 */
static bool sink_url_ok(const char *url, char *host, size_t hn, char *why, size_t n)
{
	size_t scheme = !strncmp(url, "https://", 8) ? 8 : !strncmp(url, "http://", 7) ? 7 : 0;
	const char *auth = url + scheme;
	size_t auth_len, host_len;
	char shown[100];

	host[0] = '\0';
	if (strlen(url) > SINK_URL_MAX) {
		snprintf(why, n, "is longer than %d bytes", SINK_URL_MAX);
		return false;
	}
	if (!scheme) {
		snprintf(why, n, "is not an https:// URL");
		return false;
	}
	auth_len = strcspn(auth, "/?#");
	if (memchr(auth, '@', auth_len)) {
		snprintf(why, n,
			 "holds credentials (user:password@, not shown); put no credentials "
			 "in it");
		return false;
	}
	if (auth[0] == '[') {
		const char *close = memchr(auth, ']', auth_len);
		host_len = close ? (size_t)(close - auth) + 1 : auth_len;
		if (!close || (host_len < auth_len && auth[host_len] != ':') ||
		    strspn(auth + 1, "0123456789abcdefABCDEF:.") != host_len - 2) {
			snprintf(why, n, "has an IPv6 address that is not one");
			return false;
		}
	} else {
		host_len = strcspn(auth, ":/?#");
		for (size_t i = 0; i < host_len; i++)
			if (!isalnum((unsigned char)auth[i]) && !strchr("-._", auth[i])) {
				snprintf(why, n,
					 "has a host with a character not allowed in a "
					 "host name");
				return false;
			}
	}
	if (host_len == 0) {
		snprintf(why, n, "names no host");
		return false;
	}
	if (auth_len >= hn || host_len > 255) {
		snprintf(why, n, "has a host name longer than 255 characters");
		return false;
	}
	memcpy(host, auth, auth_len);
	host[auth_len] = '\0';
	escaped(host, 80, shown, sizeof(shown));
	if (host_len < auth_len) {
		const char *port = auth + host_len + 1;
		size_t digits = (size_t)(auth + auth_len - port);
		unsigned long v = 0;
		bool ok = digits >= 1 && digits <= 5 && strspn(port, "0123456789") >= digits;
		for (size_t k = 0; ok && k < digits; k++)
			v = v * 10 + (unsigned long)(port[k] - '0');
		if (!ok || v < 1 || v > 65535) {
			snprintf(why, n, "has a port that is not a number from 1 to 65535");
			return false;
		}
	}
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f) {
			snprintf(why, n, "to '%s' holds a space or a control character", shown);
			return false;
		}
	if (scheme == 7 && !loopback_host(auth, host_len)) {
		snprintf(
		    why, n,
		    "to '%s' uses http://, which is allowed only to 127.0.0.1, ::1 or localhost "
		    "(the URL holds a token: use https://)",
		    shown);
		return false;
	}
	return true;
}

/*
 * Reads file (url_file, secret_file: an absolute path to a regular file, at path mp) into secmem:
 * one line, its final newline stripped, not empty, at most max bytes, NUL-terminated (*ret_len
 * without the NUL). A file every user may read is a warning. Returns whether it was read; errors
 * name the path, never the content.
 */
static bool read_secret_file(struct parse *p, const char *mp, const char *file, size_t max,
			     char **ret, size_t *ret_len)
{
	char buf[SHOW_MAX], data[SINK_SECRET_MAX + 2];
	size_t len = 0;
	ssize_t r;
	mode_t mode = 0;
	struct stat st;
	int fd;

	escaped(file, 200, buf, sizeof(buf));
	if (file[0] != '/') {
		errorf(p, mp, "'%s' must be an absolute path", buf);
		return false;
	}
	fd = regfile_open(file, &mode);
	if (fd == -EINVAL) {
		errorf(p, mp, "'%s' is not a regular file but %s", buf, regfile_kind(mode));
		return false;
	}
	if (fd < 0) {
		errorf(p, mp, "cannot read '%s': %s", buf, strerror(-fd));
		return false;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 0004))
		warnf(p, mp,
		      "'%s' may be read by every user (mode %04o); it holds a secret: chmod o-r it",
		      buf, (unsigned)(st.st_mode & 07777));
	while (len < max + 2 && (r = read(fd, data + len, max + 2 - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			explicit_bzero(data, sizeof(data));
			errorf(p, mp, "cannot read '%s': %s", buf, strerror(e));
			return false;
		}
		len += (size_t)r;
	}
	close(fd);
	if (len > 0 && data[len - 1] == '\n')
		len--;
	const char *why = len == 0                  ? "is empty"
			  : len > max               ? "is too long"
			  : memchr(data, '\n', len) ? "holds more than one line"
						    : NULL;
	if (why) {
		explicit_bzero(data, sizeof(data));
		if (len > max)
			errorf(p, mp, "'%s' is longer than %zu bytes", buf, max);
		else
			errorf(p, mp, "'%s' %s", buf, why);
		return false;
	}
	*ret = secmem_alloc(len + 1);
	if (*ret) {
		memcpy(*ret, data, len);
		(*ret)[len] = '\0';
		*ret_len = len;
	}
	explicit_bzero(data, sizeof(data));
	return *ret != NULL;
}

static bool valid_kind_name(const char *s)
{
	return notice_kind_from_name(s) >= 0;
}

static bool valid_sink_service(const char *s)
{
	const char *slash = strchr(s, '/');
	char cluster[256];

	if (!slash)
		return name_valid_ecs(s);
	if ((size_t)(slash - s) >= sizeof(cluster))
		return false;
	snprintf(cluster, sizeof(cluster), "%.*s", (int)(slash - s), s);
	return name_valid_ecs(cluster) && name_valid_ecs(slash + 1);
}

/* An event bus name or ARN as a PutEvents entry takes it (NonPartnerEventBusNameOrArn: no '/' in
 * the name, which is at most 256 characters). */
static bool valid_event_bus(const char *s)
{
	char part[16], region[64], acct[16];
	int n = 0;

	if (!strncmp(s, "arn:", 4)) {
		if (sscanf(s, "arn:%15[a-z-]:events:%63[a-z0-9-]:%15[0-9]:event-bus/%n", part,
			   region, acct, &n) != 3 ||
		    n == 0)
			return false;
		if (strncmp(part, "aws", 3) || !endpoint_valid_region(region) || strlen(acct) != 12)
			return false;
		s += n;
	}
	return name_all(s, 1, 256, "._-");
}

static void config_sink_done(struct config_sink *s)
{
	free(s->name);
	secmem_free(s->url);
	free(s->url_file);
	free(s->host);
	secmem_free(s->secret);
	free(s->secret_file);
	free(s->bus);
	free(s->region);
	free(s->role_arn);
	free(s->watches);
	free(s->watches_at);
	free(s->services);
	memset(s, 0, sizeof(*s));
}

/* The sink's URL, from "url" or "url_file" (webhook and slack). */
static void parse_sink_url(struct parse *p, const cJSON *v, const char *path, struct config_sink *s)
{
	const cJSON *url = member(v, "url"), *file = member(v, "url_file");
	char mp[PATH_LEN], why[SHOW_MAX], host[300], buf[SHOW_MAX];
	char *text = NULL;
	size_t len = 0;

	if (url && file) {
		errorf(p, path, "'url' and 'url_file' are both set; keep one");
		return;
	}
	if (!url && !file) {
		errorf(p, path, "a %s sink needs 'url' or 'url_file'",
		       config_sink_type_name(s->type));
		return;
	}
	if (url) {
		subpath(mp, path, "url");
		if (!cJSON_IsString(url)) {
			errorf(p, mp, "%s is not allowed here: expected an https:// URL",
			       show(url, buf, sizeof(buf)));
			return;
		}
		if (!sink_url_ok(url->valuestring, host, sizeof(host), why, sizeof(why))) {
			errorf(p, mp, "the URL %s", why);
			return;
		}
		s->url = secmem_strdup(url->valuestring);
	} else {
		subpath(mp, path, "url_file");
		if (!get_string(p, v, path, "url_file", &s->url_file))
			return;
		if (!read_secret_file(p, mp, s->url_file, SINK_URL_MAX, &text, &len))
			return;
		if (strlen(text) != len ||
		    !sink_url_ok(text, host, sizeof(host), why, sizeof(why))) {
			if (strlen(text) != len)
				snprintf(why, sizeof(why), "holds a NUL byte");
			errorf(p, mp, "the URL in '%s' %s",
			       escaped(s->url_file, 200, buf, sizeof(buf)), why);
			secmem_free(text);
			return;
		}
		s->url = text;
	}
	s->host = strdup(host);
}

/* One sink of notify[]; returns whether its type is known (it is named then). */
static bool parse_sink(struct parse *p, const cJSON *v, const char *path, struct config_sink *s)
{
	static const char *const keys[] = { "type",        "name",        "url",
					    "url_file",    "secret_file", "event_bus",
					    "region",      "role_arn",    "events",
					    "watches",     "services",    "min_severity",
					    "max_age",     "timeout",     "failing_after",
					    "concurrency", "max_pending" };
	static const char *const types[] = { "webhook", "slack", "eventbridge" };
	static const char *const severities[] = { "info", "warning", "error" };
	/* The keys of one type only, and which types take them (bits of enum config_sink_type). */
	static const struct {
		const char *key;
		unsigned types;
	} only[] = {
		{ "url", 1u << SINK_WEBHOOK | 1u << SINK_SLACK },
		{ "url_file", 1u << SINK_WEBHOOK | 1u << SINK_SLACK },
		{ "secret_file", 1u << SINK_WEBHOOK },
		{ "event_bus", 1u << SINK_EVENTBRIDGE },
		{ "region", 1u << SINK_EVENTBRIDGE },
		{ "role_arn", 1u << SINK_EVENTBRIDGE },
	};
	char buf[SHOW_MAX], mp[PATH_LEN], acct[13];
	const cJSON *m;
	int type = -1, sev = SEVERITY_INFO;

	s->kinds = ((1u << NOTICE_KIND_COUNT) - 1) & ~(1u << NOTICE_STARTED);
	s->min_severity = SEVERITY_INFO;
	s->max_age_ms = 24 * DURATION_MS_PER_HOUR;
	s->timeout_ms = 10 * DURATION_MS_PER_SEC;
	s->failing_after_ms = 15 * DURATION_MS_PER_MIN;
	s->concurrency = 2;
	s->max_pending = 1000;
	s->at.file = p->file;
	place_of(p, path, false, &s->at.line, &s->at.col);
	if (!cJSON_IsObject(v)) {
		errorf(p, path, "%s is not allowed here: expected a sink {\"type\": ...}",
		       show(v, buf, sizeof(buf)));
		return false;
	}
	check_keys(p, v, path, keys, sizeof(keys) / sizeof(keys[0]));
	if (!member(v, "type")) {
		errorf(p, path, "a sink needs 'type': one of 'webhook', 'slack', 'eventbridge'");
		return false;
	}
	if (!get_enum(p, v, path, "type", types, 3, &type))
		return false;
	s->type = (enum config_sink_type)type;
	for (size_t i = 0; i < sizeof(only) / sizeof(only[0]); i++)
		if (member(v, only[i].key) && !(only[i].types & (1u << s->type))) {
			subpath(mp, path, only[i].key);
			key_errorf(p, mp, "'%s' is not allowed for %s %s sink", only[i].key,
				   s->type == SINK_EVENTBRIDGE ? "an" : "a",
				   config_sink_type_name(s->type));
		}
	if (get_string(p, v, path, "name", &s->name) && s->name && !valid_watch_name(s->name)) {
		subpath(mp, path, "name");
		errorf(p, mp,
		       "%s is not a sink name (1 to 64 letters, digits, '_', '.' and '-', "
		       "starting with a letter or digit)",
		       show(member(v, "name"), buf, sizeof(buf)));
	}
	if (s->type != SINK_EVENTBRIDGE)
		parse_sink_url(p, v, path, s);
	if (s->type == SINK_WEBHOOK && get_string(p, v, path, "secret_file", &s->secret_file) &&
	    s->secret_file) {
		char *secret = NULL;
		subpath(mp, path, "secret_file");
		if (read_secret_file(p, mp, s->secret_file, SINK_SECRET_MAX, &secret,
				     &s->secret_len))
			s->secret = (unsigned char *)secret;
	}
	if (s->type == SINK_EVENTBRIDGE) {
		if (get_string(p, v, path, "event_bus", &s->bus) && s->bus &&
		    !valid_event_bus(s->bus)) {
			subpath(mp, path, "event_bus");
			errorf(p, mp, "%s is not an event bus name or ARN",
			       show(member(v, "event_bus"), buf, sizeof(buf)));
		}
		if (!s->bus)
			s->bus = strdup("default");
		if (get_string(p, v, path, "region", &s->region) && s->region &&
		    !endpoint_valid_region(s->region)) {
			subpath(mp, path, "region");
			errorf(p, mp, "%s is not an AWS region name (like 'us-east-1')",
			       show(member(v, "region"), buf, sizeof(buf)));
		}
		if (get_string(p, v, path, "role_arn", &s->role_arn) && s->role_arn &&
		    !valid_role_arn(s->role_arn, acct)) {
			subpath(mp, path, "role_arn");
			errorf(p, mp,
			       "%s is not an IAM role ARN (arn:aws:iam::123456789012:role/name)",
			       show(member(v, "role_arn"), buf, sizeof(buf)));
		}
	}
	if ((m = member(v, "events"))) {
		char **names = NULL;
		size_t n = 0;
		struct strbuf what;
		strbuf_init(&what, 1024);
		strbuf_puts(&what, "an event kind: one of ");
		for (int k = 0; k < NOTICE_KIND_COUNT; k++)
			strbuf_printf(&what, "%s%s", k ? ", " : "",
				      notice_kind_name((enum notice_kind)k));
		subpath(mp, path, "events");
		get_string_list(p, m, mp, valid_kind_name, strbuf_str(&what), &names, &n);
		strbuf_done(&what);
		s->kinds = 0;
		for (size_t i = 0; i < n; i++)
			s->kinds |= 1u << notice_kind_from_name(names[i]);
		free(names);
	}
	if ((m = member(v, "watches"))) {
		subpath(mp, path, "watches");
		if (get_string_list(p, m, mp, valid_watch_name, "a watch name", &s->watches,
				    &s->n_watches) &&
		    (s->watches_at = calloc(s->n_watches, sizeof(*s->watches_at)))) {
			/* each name's place, for the warning when no watch has it (cross_checks) */
			for (size_t i = 0; i < s->n_watches; i++) {
				char ip[PATH_LEN];
				indexpath(ip, mp, i);
				s->watches_at[i].file = p->file;
				place_of(p, ip, false, &s->watches_at[i].line,
					 &s->watches_at[i].col);
			}
		}
	}
	if ((m = member(v, "services"))) {
		subpath(mp, path, "services");
		get_string_list(p, m, mp, valid_sink_service,
				"a service ('service' or 'cluster/service')", &s->services,
				&s->n_services);
	}
	if (get_enum(p, v, path, "min_severity", severities, 3, &sev))
		s->min_severity = (enum notice_severity)sev;
	get_duration(p, v, path, "max_age", DURATION_MS_PER_MIN, 7 * DURATION_MS_PER_DAY,
		     &s->max_age_ms);
	get_duration(p, v, path, "timeout", DURATION_MS_PER_SEC, 60 * DURATION_MS_PER_SEC,
		     &s->timeout_ms);
	get_duration(p, v, path, "failing_after", 10 * DURATION_MS_PER_SEC, 7 * DURATION_MS_PER_DAY,
		     &s->failing_after_ms);
	get_int(p, v, path, "concurrency", 1, 16, &s->concurrency);
	get_int(p, v, path, "max_pending", 1, 100000, &s->max_pending);
	return true;
}

/* notify: [sink, ...]: each sink, then the default names and their uniqueness. */
static void parse_notify(struct parse *p, const cJSON *root)
{
	const cJSON *list = member(root, "notify"), *v;
	struct config *c = p->cfg;
	char buf[SHOW_MAX], path[PATH_LEN], mp[PATH_LEN];
	size_t n, i = 0, per_type[3] = { 0, 0, 0 };
	bool typed[CONFIG_MAX_SINKS] = { false };

	if (!list)
		return;
	if (!cJSON_IsArray(list)) {
		errorf(p, "notify", "%s is not allowed here: expected a list of sinks",
		       show(list, buf, sizeof(buf)));
		return;
	}
	n = (size_t)cJSON_GetArraySize(list);
	if (n > CONFIG_MAX_SINKS) {
		errorf(p, "notify", "%zu sinks: at most %d", n, CONFIG_MAX_SINKS);
		return;
	}
	c->sinks = calloc(n + 1, sizeof(*c->sinks));
	if (!c->sinks)
		return;
	cJSON_ArrayForEach(v, list)
	{
		indexpath(path, "notify", i++);
		typed[c->n_sinks] = parse_sink(p, v, path, &c->sinks[c->n_sinks]);
		c->n_sinks++;
	}
	for (i = 0; i < c->n_sinks; i++)
		if (typed[i])
			per_type[c->sinks[i].type]++;
	for (i = 0; i < c->n_sinks; i++) {
		struct config_sink *s = &c->sinks[i];
		if (!typed[i] && !s->name)
			continue; /* its error is said; nothing to name */
		if (!s->name) {
			const char *t = config_sink_type_name(s->type);
			char name[64];
			if (per_type[s->type] > 1)
				snprintf(name, sizeof(name), "%s-%zu", t, i + 1);
			else
				snprintf(name, sizeof(name), "%s", t);
			s->name = strdup(name);
			indexpath(path, "notify", i);
			snprintf(mp, sizeof(mp), "%s", path);
		} else {
			indexpath(path, "notify", i);
			subpath(mp, path, "name");
		}
		for (size_t k = 0; s->name && k < i; k++)
			if (c->sinks[k].name && !strcmp(c->sinks[k].name, s->name)) {
				errorf(p, mp, "the sink name '%s' is already used by notify[%zu]",
				       escaped(s->name, 80, buf, sizeof(buf)), k);
				break;
			}
	}
}

/* ---- ha ----------------------------------------------------------------------------- */

static void config_ha_free(struct config_ha *h)
{
	if (!h)
		return;
	free(h->table);
	free(h->table_name);
	free(h->region);
	free(h->role_arn);
	free(h->group);
	free(h->instance_id);
	free(h);
}

static bool valid_table_name(const char *s)
{
	return name_all(s, 3, 255, "_.-");
}

static bool valid_ha_group(const char *s)
{
	return name_all(s, 1, 64, "_.-");
}

static bool valid_instance_id(const char *s)
{
	return name_all(s, 1, CONFIG_HA_INSTANCE_MAX, "_.:-");
}

/* arn:<partition>:dynamodb:<region>:<12 digits>:table/<name>; the region into region[64] and the
 * name into name[256]. */
static bool valid_table_arn(const char *s, char region[64], char name[256])
{
	char part[16], acct[16];
	int n = 0;

	if (strlen(s) > 400 ||
	    sscanf(s, "arn:%15[a-z-]:dynamodb:%63[a-z0-9-]:%15[0-9]:table/%255[A-Za-z0-9_.-]%n",
		   part, region, acct, name, &n) != 4 ||
	    (size_t)n != strlen(s))
		return false;
	return !strncmp(part, "aws", 3) && endpoint_valid_region(region) && strlen(acct) == 12 &&
	       valid_table_name(name);
}

/* ha: {"table", "region"?, "role_arn"?, "group"?, "instance_id"?, "lease_duration"?}. */
static void parse_ha(struct parse *p, const cJSON *v)
{
	static const char *const keys[] = { "table", "region",      "role_arn",
					    "group", "instance_id", "lease_duration" };
	struct config *c = p->cfg;
	struct config_ha *h;
	char buf[SHOW_MAX], region[64] = "", name[256] = "", racct[13];
	const cJSON *m;

	if (!cJSON_IsObject(v)) {
		errorf(p, "ha",
		       "%s is not allowed here: expected an object like {\"table\": "
		       "\"ecr-deployd\"}",
		       show(v, buf, sizeof(buf)));
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return;
	config_ha_free(c->ha);
	c->ha = h;
	place_of(p, "ha", false, &h->at.line, &h->at.col);
	h->at.file = p->file;
	h->lease_ms = CONFIG_HA_DEFAULT_LEASE_MS;
	check_keys(p, v, "ha", keys, sizeof(keys) / sizeof(keys[0]));

	m = member(v, "table");
	if (!m) {
		errorf(p, "ha", "'ha' needs 'table': the DynamoDB table the instances share");
	} else if (get_string(p, v, "ha", "table", &h->table)) {
		if (!strncmp(h->table, "arn:", 4)) {
			if (!valid_table_arn(h->table, region, name))
				errorf(p, "ha.table",
				       "%s is not a DynamoDB table ARN "
				       "(arn:aws:dynamodb:<region>:<account>:table/<name>)",
				       show(m, buf, sizeof(buf)));
			else
				h->table_name = strdup(name);
		} else if (!valid_table_name(h->table)) {
			errorf(p, "ha.table",
			       "%s is not a DynamoDB table name: 3 to 255 of A-Z a-z 0-9 _ . -, or "
			       "a table ARN",
			       show(m, buf, sizeof(buf)));
		} else {
			h->table_name = strdup(h->table);
		}
	}
	if (get_string(p, v, "ha", "region", &h->region) && h->region) {
		if (!endpoint_valid_region(h->region))
			errorf(p, "ha.region", "%s is not an AWS region name (like 'us-east-1')",
			       show(member(v, "region"), buf, sizeof(buf)));
		else if (*region && strcmp(region, h->region))
			errorf(p, "ha.region", "%s is not the region of the table ARN ('%s')",
			       show(member(v, "region"), buf, sizeof(buf)), region);
	}
	if (!h->region && *region)
		h->region = strdup(region);
	if (get_string(p, v, "ha", "role_arn", &h->role_arn) && h->role_arn &&
	    !valid_role_arn(h->role_arn, racct))
		errorf(p, "ha.role_arn",
		       "%s is not an IAM role ARN (arn:aws:iam::123456789012:role/name)",
		       show(member(v, "role_arn"), buf, sizeof(buf)));
	if (get_string(p, v, "ha", "group", &h->group) && h->group && !valid_ha_group(h->group))
		errorf(p, "ha.group", "%s is not a group name: 1 to 64 of A-Z a-z 0-9 _ . -",
		       show(member(v, "group"), buf, sizeof(buf)));
	if (!h->group)
		h->group = strdup(CONFIG_HA_DEFAULT_GROUP);
	if (get_string(p, v, "ha", "instance_id", &h->instance_id) && h->instance_id &&
	    !valid_instance_id(h->instance_id))
		errorf(p, "ha.instance_id",
		       "%s is not an instance id: 1 to %d of A-Z a-z 0-9 _ . : -",
		       show(member(v, "instance_id"), buf, sizeof(buf)), CONFIG_HA_INSTANCE_MAX);
	if (!h->instance_id && !member(v, "instance_id")) {
		char host[256];
		int err = gethostname(host, sizeof(host)) < 0 ? errno : 0;
		if (!err && !memchr(host, '\0', sizeof(host)))
			err = ENAMETOOLONG;
		if (err) {
			errorf(p, "ha",
			       "the host name cannot be read (%s): set 'instance_id' to a name "
			       "unique among the instances",
			       strerror(err));
		} else if (!valid_instance_id(host)) {
			char shown[SHOW_MAX];
			errorf(p, "ha",
			       "the host name '%s' is not an instance id (1 to %d of A-Z a-z 0-9 "
			       "_ . : -): set 'instance_id' to a name unique among the instances",
			       escaped(host, 80, shown, sizeof(shown)), CONFIG_HA_INSTANCE_MAX);
		} else {
			h->instance_id = strdup(host);
		}
	}
	get_duration(p, v, "ha", "lease_duration", CONFIG_HA_LEASE_MIN_MS, CONFIG_HA_LEASE_MAX_MS,
		     &h->lease_ms);
}

static void parse_top(struct parse *p, const cJSON *root)
{
	static const char *const keys[] = { "aws",
					    "poll_interval",
					    "jitter",
					    "state_directory",
					    "rollout_timeout",
					    "approve",
					    "guard",
					    "log_level",
					    "dry_run",
					    "max_concurrent_deploys",
					    "max_requests_in_flight",
					    "control",
					    "metrics_file",
					    "history_max",
					    "event_queue",
					    "events",
					    "notify",
					    "ha",
					    "watches" };
	static const char *const levels[] = { "error", "warning", "notice", "info", "debug" };
	struct config *c = p->cfg;
	char buf[SHOW_MAX];
	const cJSON *m;
	int level = c->log_level, approve = c->approve, guard = c->guard;

	if (!cJSON_IsObject(root)) {
		errorf(p, "", "%s is not allowed here: the file must hold one JSON object",
		       show(root, buf, sizeof(buf)));
		return;
	}
	if (!p->main) {
		/* A drop-in holds watches only; a global setting there is named as such. */
		cJSON_ArrayForEach(m, root)
		{
			for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
				if (strcmp(m->string, "watches") && !strcmp(m->string, keys[i]))
					key_errorf(p, m->string,
						   "'%s' belongs in the main configuration "
						   "file; a drop-in file holds only 'watches'",
						   m->string);
		}
		cJSON *others = cJSON_CreateObject();
		cJSON_ArrayForEach(m, root)
		{
			bool global = false;
			for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
				global = global || !strcmp(m->string, keys[i]);
			if (!global && others)
				cJSON_AddItemToObject(others, m->string, cJSON_CreateNull());
		}
		if (others)
			check_keys(p, others, "", (const char *const[]){ "watches" }, 1);
		cJSON_Delete(others);
	} else {
		check_keys(p, root, "", keys, sizeof(keys) / sizeof(keys[0]));
		if ((m = member(root, "aws")))
			parse_aws(p, m);
		get_duration(p, root, "", "poll_interval", 10 * DURATION_MS_PER_SEC,
			     24 * DURATION_MS_PER_HOUR, &c->poll_interval_ms);
		get_duration(p, root, "", "jitter", 0, 12 * DURATION_MS_PER_HOUR, &c->jitter_ms);
		if (member(root, "jitter") && c->jitter_ms > c->poll_interval_ms / 2)
			errorf(p, "jitter", "must be at most half of poll_interval");
		if (get_string(p, root, "", "state_directory", &c->state_dir) &&
		    c->state_dir[0] != '/')
			errorf(p, "state_directory", "%s must be an absolute path",
			       show(member(root, "state_directory"), buf, sizeof(buf)));
		get_duration(p, root, "", "rollout_timeout", ROLLOUT_TIMEOUT_MIN,
			     ROLLOUT_TIMEOUT_MAX, &c->rollout_timeout_ms);
		if (get_enum(p, root, "", "approve", approve_names, N_APPROVE, &approve))
			c->approve = (enum config_approve)approve;
		if (get_enum(p, root, "", "guard", guard_names, N_GUARD, &guard))
			c->guard = (enum config_guard)guard;
		if (get_enum(p, root, "", "log_level", levels, 5, &level))
			c->log_level = (enum config_log_level)level;
		get_bool(p, root, "", "dry_run", &c->dry_run);
		get_int(p, root, "", "max_concurrent_deploys", 1, 100, &c->max_concurrent_deploys);
		get_int(p, root, "", "max_requests_in_flight", 1, 1000, &c->max_requests_in_flight);
		if ((m = member(root, "control")))
			parse_control(p, m);
		if (get_string(p, root, "", "metrics_file", &c->metrics_file) && c->metrics_file &&
		    c->metrics_file[0] != '/')
			errorf(p, "metrics_file", "%s must be an absolute path",
			       show(member(root, "metrics_file"), buf, sizeof(buf)));
		get_int(p, root, "", "history_max", 1, 1000, &c->history_max);
		parse_events(p, root);
		parse_notify(p, root);
		if ((m = member(root, "ha")))
			parse_ha(p, m);
	}
	m = member(root, "watches");
	if (!m)
		return;
	if (!cJSON_IsArray(m)) {
		errorf(p, "watches", "%s is not allowed here: expected a list of watches",
		       show(m, buf, sizeof(buf)));
		return;
	}
	size_t n = (size_t)cJSON_GetArraySize(m);
	if (c->n_watches + n > MAX_WATCHES) {
		errorf(p, "watches", "more than %d watches in all", MAX_WATCHES);
		return;
	}
	struct config_watch *ws = realloc(c->watches, (c->n_watches + n + 1) * sizeof(*ws));
	if (!ws)
		return;
	c->watches = ws;
	memset(ws + c->n_watches, 0, (n + 1) * sizeof(*ws));
	size_t i = 0;
	const cJSON *w;
	cJSON_ArrayForEach(w, m)
	{
		char wp[PATH_LEN];
		indexpath(wp, "watches", i);
		parse_watch(p, w, wp, &ws[c->n_watches + i]);
		i++;
	}
	c->n_watches += n;
}

/* ---- files ---------------------------------------------------------------------- */

/* Parses one file's text (changed in place). on_disk: read from a file, so names of other files
 * in it may be checked on disk (not for text from tests and the fuzzer). */
static int parse_one(struct config *cfg, struct config_errors *errs, size_t file_no, char *text,
		     size_t len, bool main_file, bool on_disk)
{
	const char *name = cfg->files[file_no];
	struct parse p = { cfg, errs, name, file_no, on_disk, text, { 0 }, main_file };
	size_t off = 0, deep = 0;
	const char *end = NULL;
	cJSON *root;
	int line, col, r;
	bool too_deep;

	if (memchr(text, '\0', len)) {
		file_errorf(errs, name, file_no, 0, 0,
			    "the file contains a NUL byte; it must be UTF-8 JSON text");
		return 0;
	}
	if (jsontext_strip_comments(text, len, &off) < 0) {
		jsontext_position(text, off, &line, &col);
		file_errorf(errs, name, file_no, line, col, "a /* comment that never ends");
		return 0;
	}
	/* Deeper than we index is named so, also where cJSON's own limit would call it invalid. */
	too_deep = jsontext_check_depth(text, len, JSONTEXT_MAX_DEPTH, &deep) < 0;
	root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (too_deep && (root || !end || (size_t)(end - text) >= deep)) {
		jsontext_position(text, deep, &line, &col);
		file_errorf(errs, name, file_no, line, col,
			    "nested too deeply: at most %d levels of objects and lists",
			    JSONTEXT_MAX_DEPTH);
		cJSON_Delete(root);
		return 0;
	}
	if (!root) {
		jsontext_position(text, end ? (size_t)(end - text) : 0, &line, &col);
		file_errorf(errs, name, file_no, line, col, "not valid JSON here%s",
			    end && (size_t)(end - text) >= len ? " (the text ends too soon)" : "");
		return 0;
	}
	/* Anything after the value? */
	while (end && (size_t)(end - text) < len && isspace((unsigned char)*end))
		end++;
	if (end && (size_t)(end - text) < len) {
		jsontext_position(text, (size_t)(end - text), &line, &col);
		file_errorf(errs, name, file_no, line, col,
			    "unexpected text after the JSON object");
		cJSON_Delete(root);
		return 0;
	}
	r = jsonpos_index(text, len, &p.pos);
	if (r == -ENOMEM) {
		cJSON_Delete(root);
		jsonpos_done(&p.pos);
		return r;
	}
	if (r < 0) {
		/* cJSON took it, the depth is checked: the two scanners disagree */
		file_errorf(errs, name, file_no, 0, 0,
			    "cannot index the positions of this JSON text");
	} else {
		for (size_t i = 0; i < p.pos.n_dups; i++) {
			struct strbuf sb;
			int fl, fc;
			jsonpos_position(&p.pos, p.pos.dups[i].off, &line, &col);
			jsonpos_position(&p.pos, p.pos.dups[i].first_off, &fl, &fc);
			strbuf_init(&sb, 8192);
			put_escaped(&sb, p.pos.dups[i].path);
			file_errorf(errs, name, file_no, line, col,
				    "%s: duplicate key (first given at line %d, column %d)",
				    strbuf_str(&sb), fl, fc);
			strbuf_done(&sb);
		}
		/* cJSON ends a string at \u0000: "team/web\u0000evil" would read as "team/web". */
		for (size_t i = 0; i < p.pos.n_nuls; i++) {
			struct strbuf sb;
			jsonpos_position(&p.pos, p.pos.nuls[i].off, &line, &col);
			strbuf_init(&sb, 8192);
			if (*p.pos.nuls[i].path)
				put_escaped(&sb, p.pos.nuls[i].path);
			else
				strbuf_puts(&sb, "(top level)");
			file_errorf(errs, name, file_no, line, col,
				    "%s: \\u0000 (a NUL character) is not allowed in a string of "
				    "the configuration",
				    strbuf_str(&sb));
			strbuf_done(&sb);
		}
		parse_top(&p, root);
	}
	cJSON_Delete(root);
	jsonpos_done(&p.pos);
	return 0;
}

/* The index in c->files of a place's file (which points into c->files). */
static size_t file_no_of(const struct config *c, const char *file)
{
	for (size_t i = 0; i < c->n_files; i++)
		if (c->files[i] == file)
			return i;
	return c->n_files;
}

/* Duplicate watch names and containers deployed by two targets, each found with one hash lookup. */
static void cross_checks(struct config *c, struct config_errors *errs)
{
	struct strmap *names = strmap_new(), *owners = strmap_new();
	struct strbuf key, first_at;
	char s1[SHOW_MAX], s2[SHOW_MAX], s3[SHOW_MAX], s4[SHOW_MAX];

	strbuf_init(&key, 4096);
	strbuf_init(&first_at, 8192);
	for (size_t i = 0; names && owners && i < c->n_watches; i++) {
		struct config_watch *w = &c->watches[i];
		const struct config_watch *first = w->name ? strmap_get(names, w->name) : NULL;
		size_t file_no = file_no_of(c, w->at.file);

		if (first) {
			strbuf_reset(&first_at);
			put_place(&first_at, first->at.file, first->at.line, first->at.col);
			first_at.buf[first_at.len - 2] = '\0'; /* without the ": " */
			file_errorf(errs, w->at.file, file_no, w->at.line, w->at.col,
				    "watch name '%s' is already used by the watch at %s",
				    escaped(w->name, 80, s1, sizeof(s1)), strbuf_str(&first_at));
		} else if (w->name) {
			strmap_put(names, w->name, w, NULL);
		}
		/* One container of one service (in one account and region) belongs to one target.
		 */
		for (size_t t = 0; t < w->n_targets; t++) {
			const struct config_target *x = &w->targets[t];
			if (!x->cluster || !x->service)
				continue;
			for (size_t k = 0; k < x->n_containers; k++) {
				strbuf_reset(&key);
				strbuf_printf(&key, "%s\x1f%s\x1f%s\x1f%s\x1f%s",
					      x->account ? x->account : "",
					      w->region ? w->region : "", x->cluster, x->service,
					      x->containers[k]);
				const struct config_watch *yw =
				    strmap_get(owners, strbuf_str(&key));
				if (!yw) {
					strmap_put(owners, strbuf_str(&key), w, NULL);
					continue;
				}
				/* the earlier target of that watch with this container */
				const struct config_target *y = NULL;
				for (size_t u = 0; u < yw->n_targets && !y; u++)
					for (size_t l = 0; l < yw->targets[u].n_containers && !y;
					     l++)
						if (yw->targets[u].cluster &&
						    yw->targets[u].service &&
						    !strcmp(yw->targets[u].cluster, x->cluster) &&
						    !strcmp(yw->targets[u].service, x->service) &&
						    !strcmp(yw->targets[u].containers[l],
							    x->containers[k]))
							y = &yw->targets[u];
				strbuf_reset(&first_at);
				if (y) {
					put_place(&first_at, y->at.file, y->at.line, y->at.col);
					first_at.buf[first_at.len - 2] = '\0';
				}
				file_errorf(errs, x->at.file, file_no, x->at.line, x->at.col,
					    "container '%s' of service '%s' in cluster '%s' is "
					    "already deployed by watch '%s' (%s); two watches must "
					    "not deploy the same container",
					    escaped(x->containers[k], 80, s1, sizeof(s1)),
					    escaped(x->service, 80, s2, sizeof(s2)),
					    escaped(x->cluster, 80, s3, sizeof(s3)),
					    yw->name ? escaped(yw->name, 80, s4, sizeof(s4)) : "?",
					    y ? strbuf_str(&first_at) : "?:0:0");
			}
		}
	}
	/* A sink's watches filter naming no watch: a warning, as the sink never hears of it. */
	for (size_t i = 0; names && i < c->n_sinks; i++) {
		const struct config_sink *s = &c->sinks[i];
		for (size_t k = 0; s->watches_at && k < s->n_watches; k++) {
			if (strmap_get(names, s->watches[k]))
				continue;
			struct strbuf sb;
			strbuf_init(&sb, 8192);
			put_place(&sb, s->watches_at[k].file, s->watches_at[k].line,
				  s->watches_at[k].col);
			strbuf_printf(&sb,
				      "notify[%zu].watches[%zu]: warning: no watch is named '%s'; "
				      "this sink never hears of it",
				      i, k, escaped(s->watches[k], 80, s1, sizeof(s1)));
			errs_add(errs, strbuf_steal(&sb), file_no_of(c, s->watches_at[k].file),
				 s->watches_at[k].line, s->watches_at[k].col, true);
		}
	}
	strbuf_done(&key);
	strbuf_done(&first_at);
	strmap_free(names, NULL);
	strmap_free(owners, NULL);
}

static struct config *config_new(void)
{
	struct config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->refs = 1;
	c->poll_interval_ms = 60 * DURATION_MS_PER_SEC;
	c->jitter_ms = 0;
	c->rollout_timeout_ms = 30 * DURATION_MS_PER_MIN;
	c->approve = APPROVE_MANUAL;
	c->guard = GUARD_WARN;
	c->log_level = LOG_LEVEL_INFO;
	c->max_concurrent_deploys = 4;
	c->max_requests_in_flight = 64;
	c->history_max = CONFIG_DEFAULT_HISTORY_MAX;
	c->state_dir = strdup(CONFIG_DEFAULT_STATE_DIR);
	c->control_socket = strdup(CONFIG_DEFAULT_CONTROL_SOCKET);
	c->control_group = strdup(CONFIG_DEFAULT_CONTROL_GROUP);
	if (!c->state_dir || !c->control_socket || !c->control_group) {
		free(c->state_dir);
		free(c->control_socket);
		free(c->control_group);
		free(c);
		return NULL;
	}
	return c;
}

static int add_file(struct config *c, const char *path)
{
	char **f = realloc(c->files, (c->n_files + 1) * sizeof(*f));

	if (!f)
		return -ENOMEM;
	c->files = f;
	c->files[c->n_files] = strdup(path);
	if (!c->files[c->n_files])
		return -ENOMEM;
	c->n_files++;
	return 0;
}

/*
 * Reads a regular file whole. Anything else (a FIFO, which would block until
 * a writer comes, a device, a socket, a directory) is refused before it is
 * opened for reading, and the open itself cannot block (O_NONBLOCK); errors
 * name the file, as file file_no.
 */
static int read_file(const char *path, size_t file_no, struct strbuf *out,
		     struct config_errors *errs)
{
	char buf[65536];
	ssize_t n;
	mode_t mode = 0;
	int fd = regfile_open(path, &mode);

	if (fd == -EINVAL) {
		file_errorf(errs, path, file_no, 0, 0,
			    "not a regular file but %s; the configuration is read only from "
			    "regular files",
			    regfile_kind(mode));
		return -EIO;
	}
	if (fd < 0) {
		file_errorf(errs, path, file_no, 0, 0, "cannot open: %s", strerror(-fd));
		return fd == -ENOENT ? -ENOENT : -EIO;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (strbuf_append(out, buf, (size_t)n) < 0) {
			close(fd);
			file_errorf(errs, path, file_no, 0, 0, "larger than %d bytes", FILE_MAX);
			return -EFBIG;
		}
	if (n < 0) {
		int e = errno;
		close(fd);
		file_errorf(errs, path, file_no, 0, 0, "cannot read: %s", strerror(e));
		return -EIO;
	}
	close(fd);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

struct ordered {
	struct config_error e;
	size_t seq;
};

static int by_place(const void *a, const void *b)
{
	const struct ordered *x = a, *y = b;

	if (x->e.file_no != y->e.file_no)
		return x->e.file_no < y->e.file_no ? -1 : 1;
	if (x->e.line != y->e.line)
		return x->e.line < y->e.line ? -1 : 1;
	if (x->e.col != y->e.col)
		return x->e.col < y->e.col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorts errs->items[from..] by file, line and column, keeping the order of equals. */
static void sort_errors(struct config_errors *errs, size_t from)
{
	size_t n = errs->n - from;
	struct ordered *o;

	if (n < 2)
		return;
	o = calloc(n, sizeof(*o));
	if (!o)
		return; /* in the order found, then */
	for (size_t i = 0; i < n; i++)
		o[i] = (struct ordered){ errs->items[from + i], i };
	qsort(o, n, sizeof(*o), by_place);
	for (size_t i = 0; i < n; i++)
		errs->items[from + i] = o[i].e;
	free(o);
}

static int finish_load(struct config *cfg, struct config_errors *errs, size_t errors_before,
		       struct config **ret)
{
	size_t errors = 0;

	cross_checks(cfg, errs);
	sort_errors(errs, errors_before);
	for (size_t i = errors_before; i < errs->n; i++)
		errors += !errs->items[i].warning;
	if (errors > 0) {
		config_free(cfg);
		return -EINVAL;
	}
	*ret = cfg;
	return 0;
}

int config_load(const char *main_file, const char *dir, struct config **ret,
		struct config_errors *errs)
{
	struct config *cfg = config_new();
	size_t before = errs->n;
	struct strbuf text;
	int r;

	if (!cfg)
		return -ENOMEM;
	strbuf_init(&text, FILE_MAX);
	r = read_file(main_file, 0, &text, errs);
	if (r == 0)
		r = add_file(cfg, main_file);
	if (r == 0)
		r = parse_one(cfg, errs, 0, text.buf ? text.buf : (char *)"", text.len, true, true);
	strbuf_done(&text);
	if (r < 0) {
		config_free(cfg);
		return r == -ENOENT ? -ENOENT : r == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	if (dir) {
		struct dirent **names = NULL;
		int n = scandir(dir, &names, NULL, by_name);
		if (n < 0 && errno != ENOENT) {
			int e = errno;
			file_errorf(errs, dir, cfg->n_files, 0, 0,
				    "cannot read the drop-in directory: %s", strerror(e));
		}
		for (int i = 0; i < n; i++) {
			const char *nm = names[i]->d_name;
			size_t l = strlen(nm);
			if (nm[0] != '.' && l > 5 && !strcmp(nm + l - 5, ".json")) {
				char path[4096];
				snprintf(path, sizeof(path), "%s/%s", dir, nm);
				strbuf_init(&text, FILE_MAX);
				/* an unreadable file is named at the index the next file gets */
				r = read_file(path, cfg->n_files, &text, errs);
				if (r == 0 && (r = add_file(cfg, path)) == 0)
					r = parse_one(cfg, errs, cfg->n_files - 1,
						      text.buf ? text.buf : (char *)"", text.len,
						      false, true);
				strbuf_done(&text);
				if (r == -ENOMEM) {
					for (int k = i; k < n; k++)
						free(names[k]);
					free(names);
					config_free(cfg);
					return r;
				}
			}
			free(names[i]);
		}
		free(names);
	}
	return finish_load(cfg, errs, before, ret);
}

int config_parse_text(const char *name, const char *text, size_t len, struct config **ret,
		      struct config_errors *errs)
{
	struct config *cfg = config_new();
	size_t before = errs->n;
	char *copy;
	int r;

	if (!cfg)
		return -ENOMEM;
	copy = malloc(len + 1);
	if (!copy || add_file(cfg, name) < 0) {
		free(copy);
		config_free(cfg);
		return -ENOMEM;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	r = parse_one(cfg, errs, 0, copy, len, true, false);
	free(copy);
	if (r < 0) {
		config_free(cfg);
		return r;
	}
	return finish_load(cfg, errs, before, ret);
}

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

struct config *config_ref(struct config *c)
{
	c->refs++;
	return c;
}

void config_free(struct config *c)
{
	if (!c || --c->refs > 0)
		return;
	for (size_t i = 0; i < c->n_watches; i++) {
		struct config_watch *w = &c->watches[i];
		for (size_t t = 0; t < w->n_targets; t++) {
			struct config_target *x = &w->targets[t];
			free(x->cluster);
			free(x->service);
			free(x->containers);
			free(x->cd_application);
			free(x->cd_group);
			free(x->cd_config);
			free(x->cd_container);
			free(x->role_arn);
			free(x->account);
			free(x->retry);
		}
		free(w->targets);
		free(w->name);
		free(w->repository);
		free(w->registry_id);
		free(w->region);
		free(w->tags);
		free(w->glob);
		free(w->semver_text);
		semver_range_free(w->semver);
		free(w->exclude);
	}
	free(c->watches);
	free_list(c->files, c->n_files);
	free(c->region);
	free(c->profile);
	free(c->ca_bundle);
	for (int i = 0; i < AWS_SERVICE_COUNT; i++)
		free(c->endpoints[i]);
	free(c->state_dir);
	free(c->control_socket);
	free(c->control_group);
	free(c->control_read_group);
	free(c->metrics_file);
	for (size_t i = 0; i < c->n_queues; i++)
		config_queue_done(&c->queues[i]);
	free(c->queues);
	for (size_t i = 0; i < c->n_sinks; i++)
		config_sink_done(&c->sinks[i]);
	free(c->sinks);
	config_ha_free(c->ha);
	free(c);
}

void config_errors_done(struct config_errors *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++)
		free(e->items[i].text);
	free(e->items);
	memset(e, 0, sizeof(*e));
}

size_t config_target_count(const struct config *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_watches; i++)
		n += c->watches[i].n_targets;
	return n;
}

const char *config_strategy_name(enum config_strategy s)
{
	return s == STRATEGY_FORCE ? "force" : s == STRATEGY_CODEDEPLOY ? "codedeploy" : "revision";
}

const char *config_approve_name(enum config_approve a)
{
	return (size_t)a < N_APPROVE ? approve_names[a] : "?";
}

const char *config_guard_name(enum config_guard g)
{
	return (size_t)g < N_GUARD ? guard_names[g] : "?";
}

static const char *const notice_kind_names[NOTICE_KIND_COUNT] = {
	[NOTICE_STARTED] = "deploy-started",
	[NOTICE_COMPLETED] = "deploy-completed",
	[NOTICE_FAILED] = "deploy-failed",
	[NOTICE_ROLLED_BACK] = "rolled-back",
	[NOTICE_ROLLBACK_FAILED] = "rollback-failed",
	[NOTICE_AWAITING_APPROVAL] = "awaiting-approval",
	[NOTICE_BLOCKED] = "blocked",
	[NOTICE_WATCH_FAILING] = "watch-failing",
};

const char *notice_kind_name(enum notice_kind k)
{
	return (size_t)k < NOTICE_KIND_COUNT ? notice_kind_names[k] : NULL;
}

int notice_kind_from_name(const char *name)
{
	for (int k = 0; name && k < NOTICE_KIND_COUNT; k++)
		if (!strcmp(name, notice_kind_names[k]))
			return k;
	return -1;
}

const char *notice_severity_name(enum notice_severity s)
{
	static const char *const names[] = { "info", "warning", "error" };

	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : NULL;
}

const char *config_sink_type_name(enum config_sink_type t)
{
	static const char *const names[] = { "webhook", "slack", "eventbridge" };

	return (size_t)t < sizeof(names) / sizeof(names[0]) ? names[t] : NULL;
}

/* A filter part of the summary's sink line: ": " before the first, "; " before the others. */
static void print_part(FILE *out, bool *first, const char *what, const char *const *l, size_t n)
{
	fprintf(out, "%s%s ", *first ? ": " : "; ", what);
	*first = false;
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ", " : "", l[i]);
}

/* A sink: its name, type, host (or bus, region and role) and what differs from the default
 * filter. Never the URL or the secret. */
static void print_sink(const struct config_sink *s, FILE *out)
{
	uint32_t dflt = ((1u << NOTICE_KIND_COUNT) - 1) & ~(1u << NOTICE_STARTED);
	const char *kinds[NOTICE_KIND_COUNT], *sev[1];
	size_t n = 0;
	bool first = true;

	fprintf(out, "  notify %s (%s) to ", s->name ? s->name : "?",
		config_sink_type_name(s->type));
	if (s->type == SINK_EVENTBRIDGE)
		fprintf(out, "bus '%s'%s%s%s%s", s->bus ? s->bus : "default",
			s->region ? " in " : "", s->region ? s->region : "",
			s->role_arn ? " as " : "", s->role_arn ? s->role_arn : "");
	else
		fprintf(out, "%s%s", s->host ? s->host : "?", s->secret ? " (signed)" : "");
	for (int k = 0; k < NOTICE_KIND_COUNT; k++)
		if (s->kinds & (1u << k))
			kinds[n++] = notice_kind_name((enum notice_kind)k);
	if (s->kinds != dflt)
		print_part(out, &first, "events", kinds, n);
	if (s->n_watches)
		print_part(out, &first, "watches", (const char *const *)s->watches, s->n_watches);
	if (s->n_services)
		print_part(out, &first, "services", (const char *const *)s->services,
			   s->n_services);
	if (s->min_severity != SEVERITY_INFO) {
		sev[0] = notice_severity_name(s->min_severity);
		print_part(out, &first, "min severity", sev, 1);
	}
	fputc('\n', out);
}

size_t config_ha_changes(const struct config *old, const struct config *new, char *out, size_t n)
{
	const struct config_ha *a = old->ha, *b = new->ha;
	struct strbuf sb;
	size_t count = 0;

#define HA_DIFF(x, y) (((x) == NULL) != ((y) == NULL) || ((x) && (y) && strcmp((x), (y))))
#define HA_KEY(name)                                                \
	do {                                                        \
		strbuf_printf(&sb, "%s%s", count ? " " : "", name); \
		count++;                                            \
	} while (0)
	strbuf_init(&sb, 256);
	if (!a != !b) {
		HA_KEY("ha");
	} else if (a) {
		if (HA_DIFF(a->table, b->table))
			HA_KEY("ha.table");
		if (HA_DIFF(a->region, b->region))
			HA_KEY("ha.region");
		if (HA_DIFF(a->role_arn, b->role_arn))
			HA_KEY("ha.role_arn");
		if (HA_DIFF(a->group, b->group))
			HA_KEY("ha.group");
		if (HA_DIFF(a->instance_id, b->instance_id))
			HA_KEY("ha.instance_id");
		if (a->lease_ms != b->lease_ms)
			HA_KEY("ha.lease_duration");
	}
#undef HA_KEY
#undef HA_DIFF
	if (n)
		snprintf(out, n, "%s", strbuf_str(&sb));
	strbuf_done(&sb);
	return count;
}

void config_print_summary(const struct config *c, FILE *out)
{
	size_t per[3] = { 0, 0, 0 };
	char d1[DURATION_FORMAT_MAX], d2[DURATION_FORMAT_MAX];

	fprintf(out, "files read: %zu\n", c->n_files);
	for (size_t i = 0; i < c->n_files; i++)
		fprintf(out, "  %s\n", c->files[i]);
	for (size_t i = 0; i < c->n_watches; i++)
		for (size_t t = 0; t < c->watches[i].n_targets; t++)
			per[c->watches[i].targets[t].strategy]++;
	duration_format(c->poll_interval_ms, d1, sizeof(d1));
	duration_format(c->rollout_timeout_ms, d2, sizeof(d2));
	fprintf(
	    out,
	    "%zu watches, %zu targets (revision %zu, force %zu, codedeploy %zu); poll every %s; "
	    "rollout timeout %s; approve %s; guard %s%s\n",
	    c->n_watches, config_target_count(c), per[0], per[1], per[2], d1, d2,
	    config_approve_name(c->approve), config_guard_name(c->guard),
	    c->dry_run ? "; dry run" : "");
	if (*c->control_socket)
		fprintf(out, "control socket %s (group %s%s%s)", c->control_socket,
			c->control_group, c->control_read_group ? ", read-only: " : "",
			c->control_read_group
			    ? (strcmp(c->control_read_group, "*") ? c->control_read_group
								  : "every user")
			    : "");
	else
		fprintf(out, "no control socket");
	fprintf(out, "; history of %d rollouts per target\n", c->history_max);
	if (c->metrics_file)
		fprintf(out, "metrics written to %s\n", c->metrics_file);
	if (c->ha) {
		char lease[DURATION_FORMAT_MAX];
		duration_format(c->ha->lease_ms, lease, sizeof(lease));
		fprintf(out, "ha: table %s, region %s, group %s, instance %s, lease %s%s%s\n",
			c->ha->table,
			c->ha->region ? c->ha->region
			: c->region   ? c->region
				      : "(the default)",
			c->ha->group, c->ha->instance_id, lease, c->ha->role_arn ? ", as " : "",
			c->ha->role_arn ? c->ha->role_arn : "");
	} else {
		fprintf(out, "ha: off (one instance, state in %s)\n", c->state_dir);
	}
	for (size_t i = 0; i < c->n_queues; i++)
		fprintf(out, "  events from %s (%s)%s%s\n", c->queues[i].url, c->queues[i].region,
			c->queues[i].role_arn ? " as " : "",
			c->queues[i].role_arn ? c->queues[i].role_arn : "");
	for (size_t i = 0; i < c->n_sinks; i++)
		print_sink(&c->sinks[i], out);
	for (size_t i = 0; i < c->n_watches; i++) {
		const struct config_watch *w = &c->watches[i];
		fprintf(out, "  %s: %s%s%s ", w->name, w->registry_id ? w->registry_id : "",
			w->registry_id ? "/" : "", w->repository);
		switch (w->rule) {
		case TAG_ONE:
			fprintf(out, "tag '%s'", w->tags[0]);
			break;
		case TAG_LIST:
			fprintf(out, "%zu tags", w->n_tags);
			break;
		case TAG_GLOB:
			fprintf(out, "tags matching '%s'", w->glob);
			break;
		case TAG_SEMVER:
			fprintf(out, "semver '%s'%s", w->semver_text,
				w->prerelease ? " with pre-releases" : "");
			break;
		}
		fputc('\n', out);
		for (size_t t = 0; t < w->n_targets; t++) {
			const struct config_target *x = &w->targets[t];
			/* what differs from the defaults on the line above */
			bool approve = x->approve != c->approve, guard = x->guard != c->guard;
			fprintf(out, "    -> %s/%s [%s]%s%s%s%s%s%s%s%s\n", x->cluster, x->service,
				config_strategy_name(x->strategy), x->paused ? " paused" : "",
				x->role_arn ? " as " : "", x->role_arn ? x->role_arn : "",
				approve ? " approve " : "",
				approve ? config_approve_name(x->approve) : "",
				approve && guard ? "," : "", guard ? " guard " : "",
				guard ? config_guard_name(x->guard) : "");
		}
	}
}

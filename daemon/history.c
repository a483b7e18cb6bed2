/* SPDX-License-Identifier: MIT */
/*
 * The rollout history (history.h): every entry in the protocol's own form (docs/control.md,
 * `history`), oldest first, in {"version": 1, "entries": [...]}, kept in memory and written whole
 * with the state file's atomic write at each rollout end.
 */
#include "history.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "strmap.h"
#include "state.h"

#define HISTORY_FILE_MAX (64u << 20) /* bytes read at most */
#define HISTORY_MAX_MAX  1000

struct history {
	char *dir, *path;
	int max;
	cJSON *entries; /* oldest first */
};

static const char *const result_names[HISTORY_RESULT_COUNT] = {
	[HISTORY_COMPLETED] = "completed",     [HISTORY_FAILED] = "failed",
	[HISTORY_ROLLED_BACK] = "rolled-back", [HISTORY_ROLLBACK_FAILED] = "rollback-failed",
	[HISTORY_SUPERSEDED] = "superseded",   [HISTORY_CANCELLED] = "cancelled",
};

const char *history_result_name(enum history_result r)
{
	return (unsigned)r < HISTORY_RESULT_COUNT ? result_names[r] : "cancelled";
}

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static bool same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static int bound(int max)
{
	return max <= 0 ? HISTORY_MAX_DEFAULT : max > HISTORY_MAX_MAX ? HISTORY_MAX_MAX : max;
}

/* Whether v is absent/null or a string. */
static bool opt_string(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return !v || cJSON_IsNull(v) || cJSON_IsString(v);
}

static bool is_time(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e11;
}

/* NULL when e is an entry as history_add() writes it, else what is wrong. */
static const char *entry_problem(const cJSON *e)
{
	const char *result = str_of(e, "result"), *by = str_of(e, "by");
	bool known = false;

	if (!cJSON_IsObject(e))
		return "an entry is not an object";
	if (!str_of(e, "watch") || !str_of(e, "target"))
		return "an entry has no watch or target";
	if (!str_of(e, "digest") || !digest_valid(str_of(e, "digest")))
		return "an entry's digest is not one";
	for (int i = 0; i < HISTORY_RESULT_COUNT && result; i++)
		known = known || !strcmp(result, result_names[i]);
	if (!known)
		return "an entry's result is not one ecr-deployd knows";
	if (!same(by, "auto") && !same(by, "operator"))
		return "an entry's 'by' is neither 'auto' nor 'operator'";
	if (!is_time(e, "at") || !is_time(e, "started") || !is_time(e, "duration"))
		return "an entry's times are not times";
	if (str_of(e, "from_digest") && !digest_valid(str_of(e, "from_digest")))
		return "an entry's from_digest is not a digest";
	if (!opt_string(e, "tag") || !opt_string(e, "from_task_definition") ||
	    !opt_string(e, "to_task_definition") || !opt_string(e, "reason"))
		return "an entry has a field of the wrong type";
	return NULL;
}

/* NULL when root is a history file of this version, else what is wrong. */
static const char *file_problem(const cJSON *root)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version"), *e;
	const char *p;

	if (!cJSON_IsObject(root))
		return "it is not a JSON object";
	if (!cJSON_IsNumber(v))
		return "it has no version";
	if (v->valuedouble > HISTORY_VERSION)
		return "it was written by a newer ecr-deployd (version above 1)";
	if (v->valuedouble != HISTORY_VERSION)
		return "its version is not 1";
	if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "entries")))
		return "'entries' is not a list";
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "entries"))
	{
		if ((p = entry_problem(e)))
			return p;
	}
	return NULL;
}

/* Drops the oldest entries of target beyond the bound. */
static void trim_target(struct history *h, const char *target)
{
	int n = 0;
	cJSON *e, *next;

	cJSON_ArrayForEach(e, h->entries)
	{
		n += same(str_of(e, "target"), target);
	}
	for (e = h->entries->child; e && n > h->max; e = next) {
		next = e->next;
		if (same(str_of(e, "target"), target)) {
			cJSON_Delete(cJSON_DetachItemViaPointer(h->entries, e));
			n--;
		}
	}
}

/* Every target's bound (a loaded file may hold more than the bound now). -ENOMEM or 0. */
static int trim_all(struct history *h)
{
	struct strmap *count = strmap_new();
	cJSON *e, *next;

	if (!count)
		return -ENOMEM;
	cJSON_ArrayForEach(e, h->entries)
	{
		const char *t = str_of(e, "target");
		uintptr_t n = (uintptr_t)strmap_get(count, t);
		if (strmap_put(count, t, (void *)(n + 1), NULL) < 0) {
			strmap_free(count, NULL);
			return -ENOMEM;
		}
	}
	for (e = h->entries->child; e; e = next) {
		const char *t = str_of(e, "target");
		uintptr_t n = (uintptr_t)strmap_get(count, t);
		next = e->next;
		if (n > (uintptr_t)h->max) {
			strmap_put(count, t, (void *)(n - 1),
				   NULL); /* the key exists: no allocation */
			cJSON_Delete(cJSON_DetachItemViaPointer(h->entries, e));
		}
	}
	strmap_free(count, NULL);
	return 0;
}

void history_free(struct history *h)
{
	if (!h)
		return;
	cJSON_Delete(h->entries);
	free(h->dir);
	free(h->path);
	free(h);
}

int history_open(const char *dir, int max, struct history **ret, char **ret_warning, char *why,
		 size_t why_len)
{
	struct history *h = calloc(1, sizeof(*h));
	size_t n = strlen(dir) + 16, len = 0;
	char *text = NULL, reason[128];
	const char *problem = NULL;
	cJSON *root = NULL;
	int r;

	if (ret_warning)
		*ret_warning = NULL;
	if (!h || !(h->dir = strdup(dir)) || !(h->path = malloc(n)))
		goto nomem;
	snprintf(h->path, n, "%s/history.json", dir);
	h->max = bound(max);
	r = state_file_read(h->path, HISTORY_FILE_MAX, &text, &len);
	if (r == -ENOMEM)
		goto nomem;
	if (r == -ENOENT) {
		h->entries = cJSON_CreateArray();
	} else if (r == -EINVAL) {
		problem = "it is not a regular file";
	} else if (r == -EFBIG) {
		problem = "it is larger than 64 MiB";
	} else if (r < 0) {
		snprintf(reason, sizeof(reason), "it cannot be read: %s", strerror(-r));
		problem = reason;
	} else {
		root = cJSON_ParseWithLength(text, len);
		problem = root ? file_problem(root) : "it is not valid JSON";
		if (!problem)
			h->entries = cJSON_DetachItemFromObjectCaseSensitive(root, "entries");
	}
	free(text);
	cJSON_Delete(root);
	if (problem) {
		char *aside = state_file_keep_aside(h->path);
		if (ret_warning) {
			size_t m = strlen(h->path) * 2 + 400;
			*ret_warning = malloc(m);
			if (*ret_warning && aside)
				snprintf(*ret_warning, m,
					 "the history file '%s' is unusable (%s); kept aside as "
					 "'%s', the history starts empty",
					 h->path, problem, aside);
			else if (*ret_warning)
				snprintf(
				    *ret_warning, m,
				    "the history file '%s' is unusable (%s) and cannot be "
				    "moved aside (%s); the history starts empty and replaces it "
				    "at the next rollout end",
				    h->path, problem, strerror(errno));
		}
		free(aside);
		h->entries = cJSON_CreateArray();
	}
	if (!h->entries || trim_all(h) < 0)
		goto nomem;
	*ret = h;
	return 0;
nomem:
	snprintf(why, why_len, "out of memory while reading the history in '%s'", dir);
	history_free(h);
	return -ENOMEM;
}

void history_set_max(struct history *h, int max)
{
	h->max = bound(max);
}

static bool put_string(cJSON *o, const char *key, const char *v)
{
	return v ? cJSON_AddStringToObject(o, key, v) != NULL
		 : cJSON_AddNullToObject(o, key) != NULL;
}

static cJSON *entry_json(const struct history_entry *e)
{
	cJSON *o = cJSON_CreateObject(), *caller;
	double duration = e->ended > e->started ? e->ended - e->started : 0;
	bool ok = o != NULL;

	ok = ok && cJSON_AddNumberToObject(o, "at", e->ended);
	ok = ok && cJSON_AddNumberToObject(o, "started", e->started);
	ok = ok && put_string(o, "watch", e->watch);
	ok = ok && put_string(o, "target", e->target);
	ok = ok && put_string(o, "digest", e->digest);
	ok = ok && put_string(o, "tag", e->tag && *e->tag ? e->tag : NULL);
	ok = ok &&
	     put_string(o, "from_task_definition", e->from_td && *e->from_td ? e->from_td : NULL);
	ok = ok && put_string(o, "to_task_definition", e->to_td && *e->to_td ? e->to_td : NULL);
	ok = ok && put_string(o, "result", history_result_name(e->result));
	ok = ok && cJSON_AddNumberToObject(o, "duration", duration);
	ok = ok && put_string(o, "reason", e->reason && *e->reason ? e->reason : NULL);
	ok = ok && put_string(o, "by", e->by_operator ? "operator" : "auto");
	ok = ok &&
	     put_string(o, "from_digest",
			e->from_digest && digest_valid(e->from_digest) ? e->from_digest : NULL);
	if (ok && e->by_operator) {
		caller = cJSON_AddObjectToObject(o, "caller");
		ok = caller && cJSON_AddNumberToObject(caller, "uid", (double)e->uid) &&
		     cJSON_AddNumberToObject(caller, "pid", (double)e->pid);
	} else if (ok) {
		ok = cJSON_AddNullToObject(o, "caller") != NULL;
	}
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int history_add(struct history *h, const struct history_entry *e,
		bool (*keep)(const char *watch, const char *target, void *ud), void *ud, char *why,
		size_t why_len)
{
	cJSON *o, *root, *x, *next;
	int r;

	if (!e->watch || !e->target || !e->digest || !(o = entry_json(e))) {
		snprintf(why, why_len, "out of memory while adding to the history '%s'", h->path);
		return -ENOMEM;
	}
	cJSON_AddItemToArray(h->entries, o);
	trim_target(h, e->target);
	for (x = keep ? h->entries->child : NULL; x; x = next) {
		next = x->next;
		if (!keep(str_of(x, "watch"), str_of(x, "target"), ud))
			cJSON_Delete(cJSON_DetachItemViaPointer(h->entries, x));
	}
	root = cJSON_CreateObject();
	if (!root || !cJSON_AddNumberToObject(root, "version", HISTORY_VERSION)) {
		cJSON_Delete(root);
		snprintf(why, why_len, "out of memory while writing the history '%s'", h->path);
		return -ENOMEM;
	}
	/* Lent to root for the write, taken back after. */
	cJSON_AddItemReferenceToObject(root, "entries", h->entries);
	r = state_file_write(h->dir, h->path, root, why, why_len);
	cJSON_Delete(root);
	return r;
}

/* The entries of watch or target (NULL: any), oldest first, in a new array of pointers into h
 * (*ret_n of them); NULL without memory. */
static const cJSON **select_entries(const struct history *h, const char *watch, const char *target,
				    size_t *ret_n)
{
	size_t n = (size_t)cJSON_GetArraySize(h->entries), k = 0;
	const cJSON **v = malloc((n + 1) * sizeof(*v));
	const cJSON *e;

	if (!v)
		return NULL;
	cJSON_ArrayForEach(e, h->entries)
	{
		if ((!watch || same(str_of(e, "watch"), watch)) &&
		    (!target || same(str_of(e, "target"), target)))
			v[k++] = e;
	}
	*ret_n = k;
	return v;
}

cJSON *history_list(const struct history *h, const char *watch, const char *target, size_t n)
{
	cJSON *list = cJSON_CreateArray();
	size_t k = 0;
	const cJSON **v = list ? select_entries(h, watch, target, &k) : NULL;

	if (!v) {
		cJSON_Delete(list);
		return NULL;
	}
	for (size_t i = k; i > 0 && k - i < n; i--) {
		cJSON *copy = cJSON_Duplicate(v[i - 1], 1);
		if (!copy) {
			cJSON_Delete(list);
			list = NULL;
			break;
		}
		cJSON_AddItemToArray(list, copy);
	}
	free(v);
	return list;
}

const char *history_previous(const struct history *h, const char *target, const char *current,
			     bool (*skip)(const char *digest, void *ud), void *ud)
{
	size_t k = 0;
	const cJSON **v = select_entries(h, NULL, target, &k);
	const char *found = NULL;

	for (size_t i = k; v && i > 0 && !found; i--) {
		const char *d = str_of(v[i - 1], "digest");
		if (same(str_of(v[i - 1], "result"), "completed") && !same(d, current) &&
		    !(skip && skip(d, ud)))
			found = d;
	}
	for (size_t i = k; v && i > 0 && !found; i--) {
		const char *d = str_of(v[i - 1], "from_digest");
		if (d && !same(d, current) && !(skip && skip(d, ud)))
			found = d;
	}
	free(v);
	return found;
}

size_t history_count(const struct history *h)
{
	return (size_t)cJSON_GetArraySize(h->entries);
}

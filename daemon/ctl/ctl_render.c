/* SPDX-License-Identifier: MIT */
/* The status page and the history table; see ctl_render.h. */
#include "ctl_render.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_time.h"
#include "digest.h"
#include "escape.h"
#include "strbuf.h"

#define RED    "\033[31m"
#define GREEN  "\033[32m"
#define YELLOW "\033[33m"
#define CYAN   "\033[36m"
#define BOLD   "\033[1m"
#define RESET  "\033[0m"

/* The longest value shown in a cell or a line (bytes of the daemon's text). */
#define VALUE_MAX 512

const char *ctl_json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool ctl_json_num(const cJSON *obj, const char *key, double *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return false;
	*ret = v->valuedouble;
	return true;
}

const cJSON *ctl_json_array(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsArray(v) ? v : NULL;
}

const cJSON *ctl_json_obj(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsObject(v) ? v : NULL;
}

static double num_or(const cJSON *obj, const char *key, double dflt)
{
	double v;
	return ctl_json_num(obj, key, &v) ? v : dflt;
}

char *ctl_escape(const char *s, size_t max)
{
	char buf[VALUE_MAX * 6 + 8];
	if (!s)
		return strdup("-");
	if (max > VALUE_MAX)
		max = VALUE_MAX;
	return strdup(escape_bounded(s, max, buf, sizeof(buf), 0));
}

void ctl_short_digest(const char *digest, char *buf, size_t n)
{
	if (!digest) {
		snprintf(buf, n, "-");
		return;
	}
	if (digest_valid(digest)) {
		snprintf(buf, n, "%.19s", digest);
		return;
	}
	escape_bounded(digest, 24, buf, n, 0);
}

void ctl_task_def(const char *arn, char *buf, size_t n)
{
	if (!arn) {
		snprintf(buf, n, "-");
		return;
	}
	const char *p = strstr(arn, "task-definition/");
	if (p)
		p += strlen("task-definition/");
	else if ((p = strrchr(arn, '/')))
		p++;
	else
		p = arn;
	escape_bounded(p, 128, buf, n, 0);
}

/* The display width of escaped text: its UTF-8 characters. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

#define TABLE_MAX_COLS 10

/* An aligned table of escaped cells, the last column unpadded. */
struct table {
	size_t ncols, nrows, cap;
	char **cells;        /* nrows * ncols, malloc'd */
	const char **colors; /* nrows * ncols, static, NULL for none */
};

static void table_done(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->colors);
}

/* Adds a row; cells are taken (NULL cells mean out of memory and fail the row). */
static int table_add(struct table *t, char **cells, const char **colors)
{
	int r = 0;
	for (size_t i = 0; i < t->ncols; i++)
		if (!cells[i])
			r = -ENOMEM;
	if (r == 0 && t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));
		if (c)
			t->cells = c;
		const char **k = c ? realloc(t->colors, cap * t->ncols * sizeof(*k)) : NULL;
		if (k)
			t->colors = k;
		if (!c || !k)
			r = -ENOMEM;
		else
			t->cap = cap;
	}
	if (r < 0) {
		for (size_t i = 0; i < t->ncols; i++)
			free(cells[i]);
		return r;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		t->cells[t->nrows * t->ncols + i] = cells[i];
		t->colors[t->nrows * t->ncols + i] = colors ? colors[i] : NULL;
	}
	t->nrows++;
	return 0;
}

static void table_print(FILE *out, const struct table *t, bool color)
{
	size_t w[TABLE_MAX_COLS] = { 0 };
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t cw = width(t->cells[r * t->ncols + c]);
			if (cw > w[c])
				w[c] = cw;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			const char *k = color ? t->colors[r * t->ncols + c] : NULL;
			bool last = c + 1 == t->ncols;
			fprintf(out, "%s%s%s", k ? k : "", cell, k ? RESET : "");
			if (!last)
				fprintf(out, "%*s", (int)(w[c] - width(cell) + 2), "");
		}
		fputc('\n', out);
	}
}

static const char *state_color(const char *state)
{
	static const struct {
		const char *state, *color;
	} colors[] = {
		{ "idle", GREEN },
		{ "deploying", YELLOW },
		{ "tracking", YELLOW },
		{ "inspecting", YELLOW },
		{ "awaiting-approval", YELLOW },
		{ "rolling-back", RED },
		{ "blocked", RED },
		{ "skipped-failed", RED },
		{ "failed", RED },
		{ "rollback-failed", RED },
		{ "paused", CYAN },
		{ "pinned", CYAN },
		{ "held", CYAN },
		{ "completed", GREEN },
		{ "rolled-back", YELLOW },
	};
	if (!state)
		return NULL;
	for (size_t i = 0; i < sizeof(colors) / sizeof(colors[0]); i++)
		if (strcmp(colors[i].state, state) == 0)
			return colors[i].color;
	return NULL;
}

/* " by uid N" from a {"uid", "pid"} object, or "". */
static void by_text(const cJSON *by, char *buf, size_t n)
{
	double uid;
	if (by && ctl_json_num(by, "uid", &uid))
		snprintf(buf, n, " by uid %.0f", uid);
	else
		buf[0] = '\0';
}

/* Appends a pause's or freeze's note: 'reason' until TIME (in 3h) by uid N. */
static int pause_note(struct strbuf *sb, const char *what, const cJSON *p, double now)
{
	char by[64], at[64], rel[64];
	int r = strbuf_puts(sb, what);
	const char *reason = ctl_json_str(p, "reason");
	if (reason && *reason) {
		r = r ?: strbuf_puts(sb, " '");
		r = r ?: escape_append(sb, reason, ESCAPE_SQUOTE | ESCAPE_BACKSLASH);
		r = r ?: strbuf_putc(sb, '\'');
	}
	double until;
	if (ctl_json_num(p, "until", &until)) {
		ctl_format_local(until, at, sizeof(at));
		ctl_format_relative(until, now, rel, sizeof(rel));
		r = r ?: strbuf_printf(sb, " until %s (%s)", at, rel);
	}
	by_text(ctl_json_obj(p, "by"), by, sizeof(by));
	r = r ?: strbuf_puts(sb, by);
	return r;
}

static int sep(struct strbuf *sb)
{
	return sb->len ? strbuf_puts(sb, "; ") : 0;
}

/* The NOTE column of a target. */
static char *target_note(const cJSON *t, const cJSON *watch_paused, const cJSON *frozen, double now)
{
	struct strbuf sb;
	char rel[64], d[64];
	int r = 0;
	strbuf_init(&sb, 4 * VALUE_MAX);
	const cJSON *pin = ctl_json_obj(t, "pinned");
	if (pin) {
		const char *tag = ctl_json_str(pin, "tag");
		char by[64];
		ctl_short_digest(ctl_json_str(pin, "digest"), d, sizeof(d));
		by_text(ctl_json_obj(pin, "by"), by, sizeof(by));
		r = r ?: strbuf_printf(&sb, "pinned to %s", d);
		if (tag) {
			r = r ?: strbuf_puts(&sb, " (tag '");
			r = r ?: escape_append(&sb, tag, ESCAPE_SQUOTE | ESCAPE_BACKSLASH);
			r = r ?: strbuf_puts(&sb, "')");
		}
		r = r ?: strbuf_puts(&sb, by);
	}
	const cJSON *paused = ctl_json_obj(t, "paused");
	if (paused) {
		r = r ?: sep(&sb);
		r = r ?: pause_note(&sb, "paused", paused, now);
	} else if (watch_paused) {
		r = r ?: sep(&sb);
		r = r ?: pause_note(&sb, "watch paused", watch_paused, now);
	} else if (frozen) {
		r = r ?: sep(&sb);
		r = r ?: strbuf_puts(&sb, "frozen");
	}
	const cJSON *rollout = ctl_json_obj(t, "rollout");
	if (rollout) {
		const char *kind = ctl_json_str(rollout, "kind");
		r = r ?: sep(&sb);
		ctl_short_digest(ctl_json_str(rollout, "digest"), d, sizeof(d));
		r = r ?: escape_append(&sb, kind ? kind : "rollout", 0);
		r = r ?: strbuf_printf(&sb, " of %s", d);
		double started;
		if (ctl_json_num(rollout, "started", &started)) {
			ctl_format_relative(started, now, rel, sizeof(rel));
			r = r ?: strbuf_printf(&sb, " started %s", rel);
		}
	}
	const cJSON *awaiting = ctl_json_obj(t, "awaiting_approval");
	if (awaiting) {
		double expires;
		r = r ?: sep(&sb);
		r = r ?: strbuf_puts(&sb, "awaits approval");
		if (ctl_json_num(awaiting, "expires", &expires)) {
			ctl_format_relative(expires, now, rel, sizeof(rel));
			r = r ?: strbuf_printf(&sb, ", expires %s", rel);
		}
	}
	const cJSON *blocked = ctl_json_obj(t, "blocked");
	if (blocked) {
		double retry;
		r = r ?: sep(&sb);
		r = r ?: strbuf_puts(&sb, "blocked: ");
		r = r ?: escape_append(&sb, ctl_json_str(blocked, "error") ?: "(no error)", 0);
		if (ctl_json_num(blocked, "retry_at", &retry)) {
			ctl_format_relative(retry, now, rel, sizeof(rel));
			r = r ?: strbuf_printf(&sb, ", retry %s", rel);
		}
	}
	const cJSON *failed = cJSON_GetObjectItemCaseSensitive(t, "failed");
	int nfailed = cJSON_IsArray(failed) ? cJSON_GetArraySize(failed) : 0;
	if (nfailed > 0) {
		r = r ?: sep(&sb);
		r = r ?: strbuf_printf(&sb, "%d failed digest%s", nfailed, nfailed == 1 ? "" : "s");
	}
	if (r == 0 && sb.len == 0)
		r = strbuf_puts(&sb, "-");
	char *s = r == 0 ? strbuf_steal(&sb) : NULL;
	strbuf_done(&sb);
	return s;
}

/* The STATE column: the state word and its detail. */
static char *target_state(const cJSON *t)
{
	struct strbuf sb;
	strbuf_init(&sb, 2 * VALUE_MAX);
	const char *state = ctl_json_str(t, "state");
	const char *detail = ctl_json_str(t, "detail");
	int r = escape_append(&sb, state ? state : "unknown", 0);
	if (detail && *detail) {
		r = r ?: strbuf_puts(&sb, " (");
		r = r ?: escape_append(&sb, detail, 0);
		r = r ?: strbuf_putc(&sb, ')');
	}
	char *s = r == 0 ? strbuf_steal(&sb) : NULL;
	strbuf_done(&sb);
	return s;
}

/* t (Unix seconds) as "2026-12-01 08:41:02 UTC": the leader's since is the same for every
 * instance that shows it, wherever it runs; "-" when t is not a usable time. */
static void format_utc(double t, char *buf, size_t n)
{
	struct tm tm;
	time_t tt;

	if (!isfinite(t) || t <= 0 || t > 253402300799.0) { /* 9999-12-31 */
		snprintf(buf, n, "-");
		return;
	}
	tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, n, "-");
}

/*
 * The "ha" object of the status (issue 18) on one line:
 *   ha: standby (leader: host-b since 2026-12-01 08:41:02 UTC), term 7, table T/group G,
 *   this instance host-a
 * then, while the lease cannot be read or written, why (the object's "error"). The role in
 * colour when asked (leading green, standby plain, suspended red, the others yellow); every
 * value escaped.
 */
static int ha_line(FILE *out, const cJSON *ha, bool color)
{
	const char *role = ctl_json_str(ha, "role"), *leader = ctl_json_str(ha, "leader");
	char *r = ctl_escape(role ? role : "unknown", 32);
	char *l = ctl_escape(leader, 128);
	char *inst = ctl_escape(ctl_json_str(ha, "instance"), 128);
	char *table = ctl_escape(ctl_json_str(ha, "table"), 300);
	char *group = ctl_escape(ctl_json_str(ha, "group"), 64);
	char since[64];
	double t, term;
	int ret = 0;

	if (!r || !l || !inst || !table || !group) {
		ret = -ENOMEM;
		goto done;
	}
	const char *k = !color                       ? ""
			: !role                      ? YELLOW
			: !strcmp(role, "leading")   ? GREEN
			: !strcmp(role, "standby")   ? ""
			: !strcmp(role, "suspended") ? RED
						     : YELLOW;
	fprintf(out, "ha: %s%s%s (", k, r, *k ? RESET : "");
	if (leader && *leader) {
		fprintf(out, "leader: %s", l);
		if (ctl_json_num(ha, "leader_since", &t) && t > 0) {
			format_utc(t, since, sizeof(since));
			fprintf(out, " since %s", since);
		}
	} else {
		fprintf(out, "no leader");
	}
	fputc(')', out);
	if (ctl_json_num(ha, "term", &term) && term >= 0 && term < 1e19)
		fprintf(out, ", term %.0f", term);
	fprintf(out, ", table %s/group %s, this instance %s\n", table, group, inst);
	if (role && !strcmp(role, "suspended"))
		fprintf(out,
			"  %sthe lease was not renewed in time%s: no mutating call until it "
			"is\n",
			color ? RED : "", color ? RESET : "");
	const char *error = ctl_json_str(ha, "error");
	if (error && *error) {
		char *e = ctl_escape(error, VALUE_MAX);
		if (!e) {
			ret = -ENOMEM;
			goto done;
		}
		fprintf(out, "  %sthe lease cannot be read or written%s: %s\n", color ? RED : "",
			color ? RESET : "", e);
		free(e);
	}
done:
	free(r);
	free(l);
	free(inst);
	free(table);
	free(group);
	return ret;
}

static int status_header(FILE *out, const cJSON *res, double now, bool color)
{
	char buf[128], rel[64];
	const char *version = ctl_json_str(res, "version");
	char *v = ctl_escape(version ? version : "?", 64);
	if (!v)
		return -ENOMEM;
	double started, pid = num_or(res, "pid", 0);
	fprintf(out, "%secr-deployd %s%s, pid %.0f", color ? BOLD : "", v, color ? RESET : "", pid);
	free(v);
	if (ctl_json_num(res, "started", &started)) {
		ctl_format_duration(now - started, buf, sizeof(buf));
		fprintf(out, ", up %s", buf);
	}
	fputc('\n', out);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "dry_run")))
		fprintf(out, "%sDRY RUN%s: nothing is changed in AWS\n", color ? YELLOW : "",
			color ? RESET : "");
	const cJSON *ha = ctl_json_obj(res, "ha");
	if (ha) {
		int r = ha_line(out, ha, color);
		if (r < 0)
			return r;
	}
	const cJSON *frozen = ctl_json_obj(res, "frozen");
	if (frozen) {
		struct strbuf sb;
		strbuf_init(&sb, 4 * VALUE_MAX);
		int r = pause_note(&sb, "", frozen, now);
		if (r < 0) {
			strbuf_done(&sb);
			return r;
		}
		fprintf(out, "%sFROZEN%s: no new rollout anywhere%s%s\n", color ? CYAN : "",
			color ? RESET : "", sb.len ? ":" : "", strbuf_str(&sb));
		strbuf_done(&sb);
	}

	const cJSON *poll = ctl_json_obj(res, "poll");
	if (poll) {
		double interval, cycle, ok;
		fprintf(out, "poll:");
		if (ctl_json_num(poll, "interval", &interval)) {
			ctl_format_duration(interval, buf, sizeof(buf));
			fprintf(out, " every %s,", buf);
		}
		if (ctl_json_num(poll, "last_cycle", &cycle)) {
			ctl_format_relative(cycle, now, rel, sizeof(rel));
			fprintf(out, " last %s", rel);
		} else {
			fprintf(out, " not yet");
		}
		if (ctl_json_num(poll, "last_ok", &ok)) {
			ctl_format_relative(ok, now, rel, sizeof(rel));
			fprintf(out, ", last complete %s", rel);
		}
		const cJSON *failing = cJSON_GetObjectItemCaseSensitive(poll, "failing");
		int nfail = cJSON_IsArray(failing) ? cJSON_GetArraySize(failing) : 0;
		fprintf(out, "%s\n", nfail ? "" : ", no repository failing");
		const cJSON *f;
		cJSON_ArrayForEach(f, failing)
		{
			char *repo = ctl_escape(ctl_json_str(f, "repository"), 256);
			char *region = ctl_escape(ctl_json_str(f, "region"), 64);
			char *err = ctl_escape(ctl_json_str(f, "error"), VALUE_MAX);
			if (repo && region && err)
				fprintf(out, "  %sfailing%s: %s (%s): %s\n", color ? RED : "",
					color ? RESET : "", repo, region, err);
			free(repo);
			free(region);
			free(err);
		}
	}

	const cJSON *events = ctl_json_obj(res, "events");
	const cJSON *queues = events ? cJSON_GetObjectItemCaseSensitive(events, "queues") : NULL;
	if (cJSON_IsArray(queues) && cJSON_GetArraySize(queues) > 0) {
		const cJSON *q;
		cJSON_ArrayForEach(q, queues)
		{
			const char *state = ctl_json_str(q, "state");
			char *url = ctl_escape(ctl_json_str(q, "url"), 256);
			char *st = ctl_escape(state ? state : "unknown", 32);
			char *err = ctl_escape(ctl_json_str(q, "error"), VALUE_MAX);
			double last;
			if (url && st && err) {
				const char *k = !color                               ? NULL
						: state && !strcmp(state, "ok")      ? GREEN
						: state && !strcmp(state, "failing") ? RED
										     : YELLOW;
				fprintf(out, "events: %s %s%s%s", url, k ? k : "", st,
					k ? RESET : "");
				if (ctl_json_num(q, "last_message", &last)) {
					ctl_format_relative(last, now, rel, sizeof(rel));
					fprintf(out, ", last message %s", rel);
				}
				if (ctl_json_str(q, "error"))
					fprintf(out, ": %s", err);
				fputc('\n', out);
			}
			free(url);
			free(st);
			free(err);
		}
	}
	const cJSON *sinks = cJSON_GetObjectItemCaseSensitive(res, "notify");
	if (cJSON_IsArray(sinks) && cJSON_GetArraySize(sinks) > 0) {
		const cJSON *k;
		fprintf(out, "notifications:\n");
		cJSON_ArrayForEach(k, sinks)
		{
			char *name = ctl_escape(ctl_json_str(k, "name"), 64);
			char *type = ctl_escape(ctl_json_str(k, "type"), 32);
			char *host = ctl_escape(ctl_json_str(k, "host"), 256);
			char *err = ctl_escape(ctl_json_str(k, "last_error"), VALUE_MAX);
			double pending = 0, sent = 0, given_up = 0, since;
			bool failing = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k, "failing"));
			ctl_json_num(k, "pending", &pending);
			ctl_json_num(k, "sent", &sent);
			ctl_json_num(k, "given_up", &given_up);
			if (name && type && host && err) {
				fprintf(out,
					"  %s (%s, %s): %.0f pending, %.0f sent, %.0f given up, ",
					name, type, host, pending, sent, given_up);
				if (!failing) {
					fprintf(out, "%sok%s\n", color ? GREEN : "",
						color ? RESET : "");
				} else {
					if (ctl_json_num(k, "failing_since", &since))
						ctl_format_relative(since, now, rel, sizeof(rel));
					else
						snprintf(rel, sizeof(rel), "a while");
					fprintf(out, "%sfailing%s since %s: %s\n", color ? RED : "",
						color ? RESET : "", rel, err);
				}
			}
			free(name);
			free(type);
			free(host);
			free(err);
		}
	}
	double inflight;
	if (ctl_json_num(res, "rollouts_in_flight", &inflight))
		fprintf(out, "rollouts in flight: %.0f\n", inflight);
	return 0;
}

int ctl_render_status(FILE *out, const cJSON *res, double now, bool color)
{
	int r = status_header(out, res, now, color);
	if (r < 0)
		return r;
	struct table t = { .ncols = 6 };
	char *head[] = { strdup("TARGET"),   strdup("STATE"),    strdup("WANTED"),
			 strdup("DEPLOYED"), strdup("TASK DEF"), strdup("NOTE") };
	r = table_add(&t, head, NULL);
	const cJSON *frozen = ctl_json_obj(res, "frozen");
	const cJSON *w;
	cJSON_ArrayForEach(w, ctl_json_array(res, "watches"))
	{
		const cJSON *wpaused = ctl_json_obj(w, "paused");
		const cJSON *tg;
		cJSON_ArrayForEach(tg, ctl_json_array(w, "targets"))
		{
			char wanted[64], deployed[64], td[192];
			ctl_short_digest(ctl_json_str(tg, "wanted"), wanted, sizeof(wanted));
			ctl_short_digest(ctl_json_str(tg, "deployed"), deployed, sizeof(deployed));
			ctl_task_def(ctl_json_str(tg, "task_definition"), td, sizeof(td));
			char *cells[] = { ctl_escape(ctl_json_str(tg, "name"), 256),
					  target_state(tg),
					  strdup(wanted),
					  strdup(deployed),
					  strdup(td),
					  target_note(tg, wpaused, frozen, now) };
			const char *colors[] = { NULL, state_color(ctl_json_str(tg, "state")),
						 NULL, NULL,
						 NULL, NULL };
			if (r == 0)
				r = table_add(&t, cells, colors);
			else
				for (size_t i = 0; i < 6; i++)
					free(cells[i]);
		}
	}
	if (r == 0) {
		fputc('\n', out);
		if (t.nrows > 1)
			table_print(out, &t, color);
		else
			fprintf(out, "no targets configured\n");
	}
	table_done(&t);
	return r;
}

int ctl_render_history(FILE *out, const cJSON *res, double now, bool color)
{
	struct table t = { .ncols = 9 };
	char *head[] = { strdup("WHEN"),     strdup("TARGET"),    strdup("DIGEST"),
			 strdup("TAG"),      strdup("FROM → TO"), strdup("RESULT"),
			 strdup("DURATION"), strdup("BY"),        strdup("REASON") };
	int r = table_add(&t, head, NULL);
	const cJSON *e;
	cJSON_ArrayForEach(e, ctl_json_array(res, "entries"))
	{
		char when[64], digest[64], from[192], to[192], dur[32], fromto[400], by[64];
		double at = num_or(e, "at", 0), duration;
		if (isfinite(at) && at > 0 && now - at < 3600)
			ctl_format_relative(at, now, when, sizeof(when));
		else
			ctl_format_local(at, when, sizeof(when));
		ctl_short_digest(ctl_json_str(e, "digest"), digest, sizeof(digest));
		ctl_task_def(ctl_json_str(e, "from_task_definition"), from, sizeof(from));
		ctl_task_def(ctl_json_str(e, "to_task_definition"), to, sizeof(to));
		snprintf(fromto, sizeof(fromto), "%s → %s", from, to);
		if (ctl_json_num(e, "duration", &duration))
			ctl_format_duration(duration, dur, sizeof(dur));
		else
			snprintf(dur, sizeof(dur), "-");
		const cJSON *caller = ctl_json_obj(e, "caller");
		const char *who = ctl_json_str(e, "by");
		double uid;
		if (caller && ctl_json_num(caller, "uid", &uid))
			snprintf(by, sizeof(by), "uid %.0f", uid);
		else
			escape_bounded(who ? who : "-", 16, by, sizeof(by), 0);
		const char *result = ctl_json_str(e, "result");
		char *cells[] = { strdup(when),
				  ctl_escape(ctl_json_str(e, "target"), 256),
				  strdup(digest),
				  ctl_escape(ctl_json_str(e, "tag"), 128),
				  strdup(fromto),
				  ctl_escape(result, 32),
				  strdup(dur),
				  strdup(by),
				  ctl_escape(ctl_json_str(e, "reason"), VALUE_MAX) };
		const char *colors[] = { NULL, NULL, NULL, NULL, NULL, state_color(result),
					 NULL, NULL, NULL };
		if (r == 0)
			r = table_add(&t, cells, colors);
		else
			for (size_t i = 0; i < 9; i++)
				free(cells[i]);
	}
	if (r == 0) {
		if (t.nrows > 1)
			table_print(out, &t, color);
		else
			fprintf(out, "no rollouts recorded\n");
	}
	table_done(&t);
	return r;
}

/* SPDX-License-Identifier: MIT */
/* Prometheus metrics: counters kept here, gauges read at render time, the text file. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "aws.h"
#include "config.h"
#include "history.h"
#include "log.h"
#include "outbox.h"
#include "state.h"
#include "strbuf.h"
#include "strmap.h"
#include "version.h"

#define RENDER_MAX    (64 * 1024 * 1024) /* a bound no configuration reaches */
#define WRITE_EVERY_S 1.0

static const double duration_buckets[] = { METRICS_DURATION_BUCKETS };
#define N_BUCKETS (sizeof(duration_buckets) / sizeof(duration_buckets[0]))

/* The label values of history_entry.result (the protocol's words, history_result_name()'s). */
static const char *const result_names[HISTORY_RESULT_COUNT] = {
	[HISTORY_COMPLETED] = "completed",     [HISTORY_FAILED] = "failed",
	[HISTORY_ROLLED_BACK] = "rolled-back", [HISTORY_ROLLBACK_FAILED] = "rollback-failed",
	[HISTORY_SUPERSEDED] = "superseded",   [HISTORY_CANCELLED] = "cancelled",
};

/* One series of a counter family: its label set, rendered and escaped, and its value. */
struct series {
	const char *labels; /* the family's index holds the text (or its twin's) */
	unsigned long long value;
	struct series *twin; /* the series of the same label set in a family without an index */
};

/* The series one AWS reply adds to, by what names them (copied: an operation's name may be
 * freed). Series live as long as the metrics. */
#define AWS_SERIES_KEPT 16
struct aws_series {
	char service[32], operation[64];
	enum aws_outcome outcome;
	struct series *requests, *retries; /* requests NULL: an empty slot */
};

/* The series of one family, indexed by label set. */
struct family {
	struct series **items;
	size_t n, cap;
	struct strmap *index; /* labels -> struct series */
};

struct histogram {
	unsigned long long buckets[N_BUCKETS]; /* each counts what is <= its bound (cumulative) */
	unsigned long long count;
	double sum;
};

struct metrics {
	struct metrics_deps deps;
	struct family aws_requests, aws_retries, polls, poll_failures, deploys, messages;
	struct histogram durations[HISTORY_RESULT_COUNT];
	struct strbuf key;                             /* count()'s label set */
	struct aws_series aws_series[AWS_SERIES_KEPT]; /* metrics_aws_observer()'s, lately used */
	size_t aws_series_next;                        /* the slot the next one takes */
	unsigned long long cycles;
	double last_ok; /* Unix seconds; 0: no cycle read every repository yet */
	struct ev_timer file_timer;
	double last_write;    /* ev_now() of the last write; 0: none yet */
	char file_error[600]; /* the last write's failure, said once until it changes or recovers */
	bool ha;              /* metrics_ha() was called: an ha instance */
	enum lease_role ha_role;
	uint64_t ha_term;
};

/* ---- families ---------------------------------------------------------------- */

static void family_done(struct family *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->items[i]);
	}
	free(f->items);
	strmap_free(f->index, NULL);
}

/* Room for one more series in f; 0 or -ENOMEM. */
static int family_room(struct family *f)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct series **items = realloc(f->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		f->items = items;
		f->cap = cap;
	}
	return 0;
}

/* The series of that label set, made at 0 when new; NULL without memory. */
static struct series *family_get(struct family *f, const char *labels)
{
	struct series *s = f->index ? strmap_get(f->index, labels) : NULL;

	if (s)
		return s;
	if (!f->index && !(f->index = strmap_new()))
		return NULL;
	if (family_room(f) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s || strmap_put(f->index, labels, s, NULL) < 0) {
		free(s);
		return NULL;
	}
	s->labels = strmap_key(f->index, labels);
	f->items[f->n++] = s;
	return s;
}

/* The series of f (a family found only through twins, without an index of its own) with of's
 * label set, made at 0 and kept as of's twin when new: two families counted for every repository
 * hold its label set and an index entry once. NULL without memory. */
static struct series *family_twin(struct family *f, struct series *of)
{
	struct series *s;

	if (of->twin)
		return of->twin;
	if (family_room(f) < 0 || !(s = calloc(1, sizeof(*s))))
		return NULL;
	s->labels = of->labels;
	f->items[f->n++] = s;
	of->twin = s;
	return s;
}

static int by_labels(const void *a, const void *b)
{
	return strcmp((*(const struct series *const *)a)->labels,
		      (*(const struct series *const *)b)->labels);
}

/* ---- labels -------------------------------------------------------------------- */

int metrics_escape_label(struct strbuf *out, const char *s)
{
	const char *run = s; /* the bytes since the last escape, appended in one go */
	const char *rep;
	int r = 0;

	for (const char *p = s; *p && r == 0; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\\')
			rep = "\\\\";
		else if (c == '"')
			rep = "\\\"";
		else if (c == '\n')
			rep = "\\n";
		else if (c < 0x20 || c >= 0x7f)
			rep = "?";
		else
			continue;
		r = strbuf_append(out, run, (size_t)(p - run));
		if (r == 0)
			r = strbuf_puts(out, rep);
		run = p + 1;
	}
	return r ? r : strbuf_puts(out, run);
}

/*
 * A label set from NULL-terminated name, value pairs: name="value",... in the order given.
 * Returns 0 or a negative errno (out partial).
 */
static int labels_of(struct strbuf *out, const char *const *pairs)
{
	int r = 0;

	for (size_t i = 0; pairs[i] && r == 0; i += 2) {
		if (i)
			r = strbuf_putc(out, ',');
		if (r == 0)
			r = strbuf_puts(out, pairs[i]);
		if (r == 0)
			r = strbuf_puts(out, "=\"");
		if (r == 0)
			r = metrics_escape_label(out, pairs[i + 1] ? pairs[i + 1] : "");
		if (r == 0)
			r = strbuf_putc(out, '"');
	}
	return r;
}

#define LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Adds n to the series of that label set (made when new). The label set is written in the
 * metrics' one buffer, kept between calls: two to four counts follow every AWS reply. */
static struct series *count(struct metrics *m, struct family *f, const char *const *pairs,
			    unsigned long long n)
{
	struct series *s = NULL;

	strbuf_reset(&m->key);
	if (labels_of(&m->key, pairs) == 0 && (s = family_get(f, strbuf_str(&m->key))))
		s->value += n;
	return s;
}

/* ---- hooks ---------------------------------------------------------------------- */

void metrics_aws_observer(const struct aws_result *res, void *userdata)
{
	struct metrics *m = userdata;
	const char *service = res->service ? res->service->signing_name : "";
	const char *operation = res->operation ? res->operation : "";

	unsigned long long retries =
	    res->attempts > 1 ? (unsigned long long)(res->attempts - 1) : 0;
	enum aws_outcome outcome;
	struct aws_series *c;

	if (!m)
		return;
	outcome = aws_outcome_of(res);
	/* Every reply counts here: the series of a (service, operation, outcome) seen lately are
	 * found by name, without writing and hashing their label sets again. */
	for (size_t i = 0; i < AWS_SERIES_KEPT; i++) {
		c = &m->aws_series[i];
		if (c->requests && c->outcome == outcome && !strcmp(c->service, service) &&
		    !strcmp(c->operation, operation)) {
			c->requests->value++;
			c->retries->value += retries;
			return;
		}
	}
	c = &m->aws_series[m->aws_series_next];
	c->requests = count(m, &m->aws_requests,
			    LABELS("service", service, "operation", operation, "outcome",
				   aws_outcome_name(outcome)),
			    1);
	c->retries =
	    count(m, &m->aws_retries, LABELS("service", service, "operation", operation), retries);
	c->outcome = outcome;
	if (!c->requests || !c->retries || strlen(service) >= sizeof(c->service) ||
	    strlen(operation) >= sizeof(c->operation)) {
		c->requests = NULL; /* not kept: counted the long way each time */
		return;
	}
	snprintf(c->service, sizeof(c->service), "%s", service);
	snprintf(c->operation, sizeof(c->operation), "%s", operation);
	m->aws_series_next = (m->aws_series_next + 1) % AWS_SERIES_KEPT;
}

void metrics_poll(struct metrics *m, const char *repository, const char *region, bool ok)
{
	if (!m)
		return;
	struct series *polls =
	    count(m, &m->polls, LABELS("repository", repository, "region", region), 1);
	/* Made at 0 by a read that worked: a rate of failures has a series to start from. */
	struct series *failures = polls ? family_twin(&m->poll_failures, polls) : NULL;
	if (failures)
		failures->value += ok ? 0 : 1;
}

void metrics_event_messages(struct metrics *m, const char *url, size_t n)
{
	if (m)
		count(m, &m->messages, LABELS("queue", url), n);
}

void metrics_cycle_done(struct metrics *m, bool all_ok, double now)
{
	if (!m)
		return;
	m->cycles++;
	if (all_ok)
		m->last_ok = now;
	metrics_changed(m);
}

void metrics_rollout_ended(struct metrics *m, const struct history_entry *e)
{
	struct histogram *h;
	double d;

	if (!m || (unsigned)e->result >= HISTORY_RESULT_COUNT)
		return;
	count(m, &m->deploys,
	      LABELS("watch", e->watch, "target", e->target, "result", result_names[e->result]), 1);
	d = e->ended - e->started;
	if (!(d >= 0)) /* a clock stepped back, or NaN */
		d = 0;
	h = &m->durations[e->result];
	for (size_t i = 0; i < N_BUCKETS; i++)
		h->buckets[i] += d <= duration_buckets[i];
	h->count++;
	h->sum += d;
	metrics_changed(m);
}

/* ---- rendering ------------------------------------------------------------------- */

static int head(struct strbuf *out, const char *name, const char *type, const char *help)
{
	return strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int render_family(struct strbuf *out, struct family *f, const char *name, const char *help)
{
	int r = head(out, name, "counter", help);

	if (f->n)
		qsort(f->items, f->n, sizeof(*f->items), by_labels);
	for (size_t i = 0; i < f->n && r == 0; i++)
		r = strbuf_printf(out, "%s{%s} %llu\n", name, f->items[i]->labels,
				  f->items[i]->value);
	return r;
}

/* One sample: name{pairs} value. */
static int sample(struct strbuf *out, const char *name, const char *const *pairs, double value)
{
	int r = strbuf_puts(out, name);

	if (r == 0 && pairs && pairs[0]) {
		r = strbuf_putc(out, '{');
		if (r == 0)
			r = labels_of(out, pairs);
		if (r == 0)
			r = strbuf_putc(out, '}');
	}
	if (r == 0)
		r = strbuf_printf(out, " %.15g\n", value);
	return r;
}

static int render_histogram(struct strbuf *out, struct metrics *m)
{
	const char *name = "ecr_deployd_rollout_duration_seconds";
	int r = head(out, name, "histogram",
		     "How long rollouts took, from their start to their end, by result.");

	for (size_t k = 0; k < HISTORY_RESULT_COUNT && r == 0; k++) {
		const struct histogram *h = &m->durations[k];
		char le[32];
		for (size_t i = 0; i < N_BUCKETS && r == 0; i++) {
			snprintf(le, sizeof(le), "%g", duration_buckets[i]);
			r = sample(out, "ecr_deployd_rollout_duration_seconds_bucket",
				   LABELS("result", result_names[k], "le", le),
				   (double)h->buckets[i]);
		}
		if (r == 0)
			r = sample(out, "ecr_deployd_rollout_duration_seconds_bucket",
				   LABELS("result", result_names[k], "le", "+Inf"),
				   (double)h->count);
		if (r == 0)
			r = sample(out, "ecr_deployd_rollout_duration_seconds_sum",
				   LABELS("result", result_names[k]), h->sum);
		if (r == 0)
			r = sample(out, "ecr_deployd_rollout_duration_seconds_count",
				   LABELS("result", result_names[k]), (double)h->count);
	}
	return r;
}

static const char *short_service(const struct config_target *t)
{
	return strrchr(t->service, '/') ? strrchr(t->service, '/') + 1 : t->service;
}

/* The per-target gauges: one family at a time over every configured target. */
enum target_gauge { TG_DEPLOYED, TG_BLOCKED, TG_PAUSED, TG_PINNED, TG_COUNT };

static int render_targets(struct strbuf *out, struct metrics *m, const struct config *cfg)
{
	static const struct {
		const char *name, *help;
	} fam[TG_COUNT] = {
		[TG_DEPLOYED] = { "ecr_deployd_target_deployed_info",
				  "The digest and task definition a target is known to run "
				  "(one series per target)." },
		[TG_BLOCKED] = { "ecr_deployd_target_blocked",
				 "1 while a target is blocked by an authorization or request "
				 "error (tried again later), else 0." },
		[TG_PAUSED] = { "ecr_deployd_target_paused",
				"1 while a target is paused (itself, its watch, or everything), "
				"else 0." },
		[TG_PINNED] = { "ecr_deployd_target_pinned",
				"1 while a target is pinned to a digest, else 0." },
	};
	size_t n = config_target_count(cfg), k = 0;
	struct metrics_target *views;
	char(*names)[200];
	int r = 0;

	if (!m->deps.target || !n)
		return 0;
	views = calloc(n, sizeof(*views));
	names = calloc(n, sizeof(*names));
	if (!views || !names) {
		free(views);
		free(names);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_watches; i++)
		for (size_t j = 0; j < cfg->watches[i].n_targets && k < n; j++, k++) {
			const struct config_watch *w = &cfg->watches[i];
			views[k].blocked = views[k].paused = views[k].pinned = -1;
			m->deps.target(w, &w->targets[j], &views[k], m->deps.userdata);
			snprintf(names[k], sizeof(names[k]), "%s/%s", w->name,
				 short_service(&w->targets[j]));
		}
	for (int g = 0; g < TG_COUNT && r == 0; g++) {
		bool any = false;
		for (size_t i = 0; i < k; i++)
			any = any || (g == TG_DEPLOYED  ? views[i].deployed != NULL
				      : g == TG_BLOCKED ? views[i].blocked >= 0
				      : g == TG_PAUSED  ? views[i].paused >= 0
							: views[i].pinned >= 0);
		if (!any)
			continue; /* nothing known of any target: the family is left out */
		r = head(out, fam[g].name, "gauge", fam[g].help);
		for (size_t i = 0; i < k && r == 0; i++) {
			const struct metrics_target *v = &views[i];
			if (g == TG_DEPLOYED && v->deployed)
				r = sample(out, fam[g].name,
					   LABELS("target", names[i], "digest", v->deployed,
						  "task_definition",
						  v->task_definition ? v->task_definition : ""),
					   1);
			else if (g != TG_DEPLOYED) {
				int val = g == TG_BLOCKED  ? v->blocked
					  : g == TG_PAUSED ? v->paused
							   : v->pinned;
				if (val >= 0)
					r = sample(out, fam[g].name, LABELS("target", names[i]),
						   val);
			}
		}
	}
	free(views);
	free(names);
	return r;
}

static int render_watches(struct strbuf *out, struct metrics *m, const struct config *cfg)
{
	const char *name = "ecr_deployd_watch_digest_info";
	int r;

	if (!m->deps.state)
		return 0;
	r = head(out, name, "gauge",
		 "The digest each watch wants deployed now and the tag it came from (one series "
		 "per watch).");
	for (size_t i = 0; i < cfg->n_watches && r == 0; i++) {
		struct state_want want;
		if (state_want(m->deps.state, cfg->watches[i].name, &want))
			r = sample(out, name,
				   LABELS("watch", cfg->watches[i].name, "tag",
					  want.tag ? want.tag : "", "digest", want.digest),
				   1);
	}
	return r;
}

/* The notification sinks' counters (outbox.h), by sink and type. */
static int render_sinks(struct strbuf *out, struct metrics *m)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
		{ "ecr_deployd_notifications_sent_total", "counter",
		  "Notifications a sink took (a 2xx; for EventBridge an entry accepted)." },
		{ "ecr_deployd_notification_attempts_failed_total", "counter",
		  "Attempts to deliver a notification that failed (each retry counts)." },
		{ "ecr_deployd_notifications_given_up_total", "counter",
		  "Notifications given up: refused for good, or not delivered within max_age." },
		{ "ecr_deployd_notifications_dropped_total", "counter",
		  "Notifications dropped unsent: the backlog bound (max_pending)." },
		{ "ecr_deployd_notifications_pending", "gauge",
		  "Notifications in the outbox now, waiting or being sent." },
	};
	struct outbox_sink_status st[CONFIG_MAX_SINKS];
	size_t n = m->deps.sinks(st, CONFIG_MAX_SINKS, m->deps.userdata);
	int r = 0;

	if (n > CONFIG_MAX_SINKS)
		n = CONFIG_MAX_SINKS;
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]) && r == 0; f++) {
		r = head(out, fams[f].name, fams[f].type, fams[f].help);
		for (size_t i = 0; i < n && r == 0; i++) {
			const struct outbox_sink_status *k = &st[i];
			double v = f == 0   ? (double)k->sent
				   : f == 1 ? (double)k->failed
				   : f == 2 ? (double)k->given_up
				   : f == 3 ? (double)k->dropped
					    : (double)k->pending;
			r = sample(out, fams[f].name, LABELS("sink", k->name, "type", k->type), v);
		}
	}
	return r;
}

void metrics_ha(struct metrics *m, enum lease_role role, uint64_t term)
{
	if (!m)
		return;
	if (m->ha && m->ha_role == role && m->ha_term == term)
		return;
	m->ha = true;
	m->ha_role = role;
	m->ha_term = term;
	metrics_changed(m);
}

/* ecr_deployd_ha_role{role} for every role (1 for ours), then ecr_deployd_ha_term. */
static int render_ha(struct strbuf *out, const struct metrics *m)
{
	static const enum lease_role roles[] = { LEASE_STARTING, LEASE_STANDBY, LEASE_LEADING,
						 LEASE_SUSPENDED, LEASE_LOST };
	int r = head(out, "ecr_deployd_ha_role", "gauge",
		     "This instance's role in its high-availability group (1 for the role it has "
		     "now): leading acts, standby waits for the lease, suspended holds a lease it "
		     "could not renew in time and makes no mutating call.");

	for (size_t i = 0; r == 0 && i < sizeof(roles) / sizeof(roles[0]); i++)
		r = sample(out, "ecr_deployd_ha_role", LABELS("role", lease_role_name(roles[i])),
			   roles[i] == m->ha_role ? 1 : 0);
	if (r == 0)
		r = head(
		    out, "ecr_deployd_ha_term", "gauge",
		    "The term of the lease as this instance last read or wrote it (+1 at every "
		    "takeover; 0 unknown).");
	if (r == 0)
		r = sample(out, "ecr_deployd_ha_term", NULL, (double)m->ha_term);
	return r;
}

int metrics_render(struct metrics *m, struct strbuf *out)
{
	const struct config *cfg = m->deps.cfg ? *m->deps.cfg : NULL;
	int r;

	r = head(out, "ecr_deployd_info", "gauge",
		 "The version of ecr-deployd that runs (always 1).");
	if (r == 0)
		r = sample(
		    out, "ecr_deployd_info",
		    LABELS("version", m->deps.version ? m->deps.version : ECR_DEPLOYD_VERSION,
			   "revision", m->deps.revision ? m->deps.revision : ECR_DEPLOYD_REVISION),
		    1);
	if (r == 0)
		r = head(out, "ecr_deployd_start_time_seconds", "gauge",
			 "When the daemon started, Unix seconds.");
	if (r == 0)
		r = sample(out, "ecr_deployd_start_time_seconds", NULL, m->deps.start_time);
	if (r == 0)
		r = head(out, "ecr_deployd_poll_cycles_total", "counter",
			 "Poll cycles completed since start.");
	if (r == 0)
		r = sample(out, "ecr_deployd_poll_cycles_total", NULL, (double)m->cycles);
	if (r == 0)
		r = head(out, "ecr_deployd_last_successful_poll_timestamp_seconds", "gauge",
			 "When the last poll cycle that read every repository ended, Unix seconds "
			 "(no sample before the first).");
	if (r == 0 && m->last_ok > 0)
		r = sample(out, "ecr_deployd_last_successful_poll_timestamp_seconds", NULL,
			   m->last_ok);
	if (r == 0)
		r = render_family(out, &m->polls, "ecr_deployd_polls_total",
				  "Reads of a repository (poll cycles' and events' reads).");
	if (r == 0)
		r = render_family(out, &m->poll_failures, "ecr_deployd_poll_failures_total",
				  "Reads of a repository that failed.");
	if (r == 0)
		r = render_family(out, &m->aws_requests, "ecr_deployd_aws_requests_total",
				  "AWS calls finished, by service, operation and outcome (retries "
				  "included in the one call).");
	if (r == 0)
		r = render_family(out, &m->aws_retries, "ecr_deployd_aws_retries_total",
				  "Attempts of AWS calls beyond the first.");
	if (r == 0 && m->deps.aws) {
		r = head(out, "ecr_deployd_aws_retry_budget_tokens", "gauge",
			 "Tokens left in the AWS retry budget (a retry costs 5, 10 after a "
			 "timeout; a success pays back).");
		if (r == 0)
			r = sample(out, "ecr_deployd_aws_retry_budget_tokens", NULL,
				   aws_retry_budget(m->deps.aws));
	}
	if (r == 0)
		r = render_family(
		    out, &m->messages, "ecr_deployd_events_messages_total",
		    "Messages received from an events queue (a message received again "
		    "counts again).");
	if (r == 0)
		r = render_family(out, &m->deploys, "ecr_deployd_deploys_total",
				  "Rollouts ended, by watch, target and result.");
	if (r == 0)
		r = render_histogram(out, m);
	if (r == 0 && m->deps.rollouts) {
		r = head(out, "ecr_deployd_rollouts_in_progress", "gauge",
			 "Rollouts in progress now.");
		if (r == 0)
			r = sample(out, "ecr_deployd_rollouts_in_progress", NULL,
				   m->deps.rollouts(m->deps.userdata));
	}
	if (r == 0 && cfg)
		r = render_watches(out, m, cfg);
	if (r == 0 && cfg)
		r = render_targets(out, m, cfg);
	if (r == 0 && m->deps.sinks)
		r = render_sinks(out, m);
	if (r == 0 && m->ha)
		r = render_ha(out, m);
	return r;
}

/* ---- the file ------------------------------------------------------------------- */

int metrics_write_file(struct metrics *m, const char *path, char *why, size_t why_len)
{
	struct strbuf text, tmp;
	const char *slash = strrchr(path, '/');
	bool made = false;
	int fd = -1, r;

	strbuf_init(&text, RENDER_MAX);
	strbuf_init(&tmp, 8192);
	r = metrics_render(m, &text);
	if (r == 0)
		r = strbuf_printf(&tmp, "%.*s.%s.XXXXXX", slash ? (int)(slash - path + 1) : 0, path,
				  slash ? slash + 1 : path);
	if (r < 0) {
		snprintf(why, why_len, "cannot write '%s': %s", path, strerror(-r));
		goto out;
	}
	fd = mkostemp(tmp.buf, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(why, why_len, "cannot create a temporary file beside '%s': %s", path,
			 strerror(errno));
		goto out;
	}
	made = true;
	if (fchmod(fd, 0644) < 0) {
		r = -errno;
		snprintf(why, why_len, "cannot set the mode of '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	for (size_t off = 0; off < text.len;) {
		ssize_t n = write(fd, text.buf + off, text.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			snprintf(why, why_len, "cannot write '%s': %s", tmp.buf, strerror(-r));
			goto out;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		snprintf(why, why_len, "cannot write '%s': %s", tmp.buf, strerror(-r));
		goto out;
	}
	fd = -1;
	if (rename(tmp.buf, path) < 0) {
		r = -errno;
		snprintf(why, why_len, "cannot rename '%s' to '%s': %s", tmp.buf, path,
			 strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (r < 0 && made)
		unlink(tmp.buf); /* not renamed */
	strbuf_done(&text);
	strbuf_done(&tmp);
	return r;
}

static void write_now(struct metrics *m)
{
	const char *path = m->deps.cfg && *m->deps.cfg ? (*m->deps.cfg)->metrics_file : NULL;
	char why[sizeof(m->file_error)] = "";

	m->last_write = ev_now(m->deps.loop);
	if (!path || !*path)
		return;
	if (metrics_write_file(m, path, why, sizeof(why)) < 0) {
		if (strcmp(why, m->file_error))
			log_warning(
			    "metrics: %s; trying again at the next poll cycle or rollout end", why);
		snprintf(m->file_error, sizeof(m->file_error), "%s", why);
		return;
	}
	if (*m->file_error)
		log_info("metrics: '%s' written again", path);
	*m->file_error = '\0';
}

static void on_file_timer(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	write_now(t->data);
}

void metrics_changed(struct metrics *m)
{
	const char *path;
	double delay;

	if (!m || !m->deps.loop || ev_is_active(&m->file_timer))
		return;
	path = m->deps.cfg && *m->deps.cfg ? (*m->deps.cfg)->metrics_file : NULL;
	if (!path || !*path)
		return;
	delay = m->last_write > 0 ? m->last_write + WRITE_EVERY_S - ev_now(m->deps.loop) : 0;
	ev_timer_set(&m->file_timer, delay > 0 ? delay : 0, 0);
	ev_timer_start(m->deps.loop, &m->file_timer);
}

void metrics_flush(struct metrics *m)
{
	if (!m || !m->deps.loop)
		return;
	ev_timer_stop(m->deps.loop, &m->file_timer);
	write_now(m);
}

/* ---- lifecycle -------------------------------------------------------------------- */

struct metrics *metrics_new(const struct metrics_deps *deps)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->deps = *deps;
	strbuf_init(&m->key, 4096);
	ev_timer_init(&m->file_timer, on_file_timer, 0, 0);
	m->file_timer.data = m;
	return m;
}

void metrics_set_state(struct metrics *m, struct state *state)
{
	if (m)
		m->deps.state = state;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	if (m->deps.loop)
		ev_timer_stop(m->deps.loop, &m->file_timer);
	family_done(&m->aws_requests);
	family_done(&m->aws_retries);
	family_done(&m->polls);
	family_done(&m->poll_failures);
	family_done(&m->deploys);
	family_done(&m->messages);
	strbuf_done(&m->key);
	free(m);
}

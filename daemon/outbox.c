/* SPDX-License-Identifier: MIT */
/*
 * The notification outbox (outbox.h): one file per notification and sink in
 * <state_directory>/outbox, attempted on the loop with its own HTTP client (EventBridge through
 * the daemon's AWS client), retried with jittered backoff until the sink's max_age, bounded per
 * sink in flight and in backlog. A sink's URL and secret are only ever handed to the HTTP layer:
 * what is said of a sink is its name, type and host.
 */
#include "outbox.h"

#include <cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws.h"
#include "config.h"
#include "credentials.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "secmem.h"
#include "state.h"
#include "strmap.h"
#include "version.h"

#define ENTRY_MAX_BYTES (1024 * 1024) /* an entry file read at start */
#define REPLY_MAX_BYTES (64 * 1024)   /* a receiver's reply: only its status and a word matter */
#define SAID_MAX        (CONFIG_MAX_SINKS * 66)

struct entry {
	struct entry *next; /* the sink's FIFO, oldest first */
	struct sink *sink;
	struct notice n;
	char *name;     /* its blob's name (state.h): "<sink>.<key>" */
	double created; /* wall seconds */
	int attempts;
	double due;   /* ev_now() of the next attempt */
	bool on_disk; /* its blob is kept (the directory or the table) */
	bool in_flight;
	struct http_request *req;
	struct aws_call *call;
};

struct sink {
	struct outbox *ob;
	struct config_sink c; /* a copy: url and secret in secmem */
	char *show;           /* what is said of it: the host, or the bus and region */
	struct cred_provider *creds;
	/* webhook, slack: connections of its own (at most its concurrency), so that a hung
	 * receiver holds none another sink needs, even one on the same host */
	struct http_client *http;
	int http_conc; /* the concurrency http was made for */
	struct entry *head;
	size_t pending;
	int in_flight;
	uint64_t sent, failed, given_up, dropped;
	bool failing; /* the last attempt failed */
	bool said;    /* NOTIFY_SINK_FAILING was said */
	int failures; /* attempts failed in a row */
	double failing_since, last_sent;
	char last_error[200];
};

/* A repository whose polls fail: since when, and to which sinks watch-failing went. */
struct streak {
	double start;        /* wall seconds of the first failure */
	char said[SAID_MAX]; /* "\n"-separated sink names */
};

struct outbox {
	struct outbox_deps d;
	struct state *st; /* where entries and sent marks are kept (state.h's blobs) */
	bool own_st;      /* st made here (outbox_deps.state NULL) */
	char *dir, *region, *host, *profile, *sts_endpoint, *ca_bundle;
	struct sink **sinks;
	size_t n;
	struct ev_timer timer;
	struct strmap *streaks;
	long base_ms, cap_ms;
	uint64_t rng;
	double pruned_at; /* wall seconds of the last prune_marks() */
};

static void pump(struct outbox *ob);

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long outbox_backoff_ms(int k, long base_ms, long cap_ms, double u)
{
	double ceiling = (double)base_ms;

	for (int i = 1; i < k && ceiling < (double)cap_ms; i++)
		ceiling *= 2;
	if (ceiling > (double)cap_ms)
		ceiling = (double)cap_ms;
	if (u < 0)
		u = 0;
	if (u >= 1)
		u = 0.999999;
	return (long)(u * ceiling);
}

void outbox_dir(const char *state_dir, char *out, size_t n)
{
	snprintf(out, n, "%s/outbox", state_dir);
}

static double next_unit(struct outbox *ob)
{
	/* xorshift64*: jitter only */
	ob->rng ^= ob->rng >> 12;
	ob->rng ^= ob->rng << 25;
	ob->rng ^= ob->rng >> 27;
	return (double)((ob->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* ---- a sink's settings ---------------------------------------------------- */

static void settings_done(struct config_sink *c)
{
	free(c->name);
	secmem_free(c->url);
	free(c->host);
	secmem_free(c->secret);
	free(c->bus);
	free(c->region);
	free(c->role_arn);
	for (size_t i = 0; i < c->n_watches; i++)
		free(c->watches[i]);
	free(c->watches);
	for (size_t i = 0; i < c->n_services; i++)
		free(c->services[i]);
	free(c->services);
	memset(c, 0, sizeof(*c));
}

static int copy_list(char ***ret, size_t *ret_n, char *const *from, size_t n)
{
	*ret = NULL;
	*ret_n = 0;
	if (!n)
		return 0;
	*ret = calloc(n, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		(*ret)[i] = strdup(from[i]);
		if (!(*ret)[i])
			return -ENOMEM;
		(*ret_n)++;
	}
	return 0;
}

#define DUP(x) ((x) ? strdup(x) : NULL)

/* A copy of the settings of a sink (the filter, the URL and secret in secmem); -ENOMEM. */
static int settings_copy(struct config_sink *to, const struct config_sink *c)
{
	memset(to, 0, sizeof(*to));
	to->type = c->type;
	to->kinds = c->kinds;
	to->min_severity = c->min_severity;
	to->max_age_ms = c->max_age_ms;
	to->timeout_ms = c->timeout_ms;
	to->failing_after_ms = c->failing_after_ms;
	to->concurrency = c->concurrency > 0 ? c->concurrency : 1;
	to->max_pending = c->max_pending > 0 ? c->max_pending : 1;
	to->at = c->at;
	to->at.file = NULL;
	to->name = DUP(c->name);
	to->url = c->url ? secmem_strdup(c->url) : NULL;
	to->host = DUP(c->host);
	to->bus = DUP(c->bus);
	to->region = DUP(c->region);
	to->role_arn = DUP(c->role_arn);
	if (c->secret && c->secret_len) {
		to->secret = secmem_alloc(c->secret_len);
		if (to->secret) {
			memcpy(to->secret, c->secret, c->secret_len);
			to->secret_len = c->secret_len;
		}
	}
	if (!to->name || (c->url && !to->url) || (c->host && !to->host) || (c->bus && !to->bus) ||
	    (c->region && !to->region) || (c->role_arn && !to->role_arn) ||
	    (c->secret && c->secret_len && !to->secret) ||
	    copy_list(&to->watches, &to->n_watches, c->watches, c->n_watches) < 0 ||
	    copy_list(&to->services, &to->n_services, c->services, c->n_services) < 0) {
		settings_done(to);
		return -ENOMEM;
	}
	return 0;
}

static const char *sink_region(const struct sink *s)
{
	return s->c.region ? s->c.region : s->ob->region;
}

/* What is said of a sink: its host, or for EventBridge its bus and region. */
static char *show_of(const struct outbox *ob, const struct config_sink *c)
{
	char buf[600];

	if (c->type == SINK_EVENTBRIDGE)
		snprintf(buf, sizeof(buf), "%s@%s", c->bus ? c->bus : "default",
			 c->region ? c->region : ob->region);
	else
		snprintf(buf, sizeof(buf), "%s", c->host ? c->host : "(unknown host)");
	return strdup(buf);
}

static int make_creds(struct sink *s)
{
	struct outbox *ob = s->ob;

	cred_provider_free(s->creds);
	s->creds = NULL;
	if (s->c.type != SINK_EVENTBRIDGE || !s->c.role_arn)
		return 0;
	struct cred_options co = {
		ob->d.loop, ob->d.http, ob->d.signer, ob->profile, ob->region, ob->sts_endpoint, 0
	};
	s->creds = cred_assume_role_new(ob->d.creds, s->c.role_arn, "ecr-deployd", &co);
	return s->creds ? 0 : -ENOMEM;
}

/* ---- entries ---------------------------------------------------------------- */

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	http_cancel(e->req);
	aws_call_cancel(e->call);
	notice_done(&e->n);
	free(e->name);
	free(e);
}

/*
 * The name of (sink, key)'s blob: its entry (<outbox>/<name>.json, or the table's "o/<name>"), and
 * its sent mark (<name>.sent, "s/<name>"), left when it was sent so that the same phase said
 * again (after a restart, a retried rollout) is not sent twice; kept for the longest max_age.
 */
static void entry_name(const char *sink, const char *key, char *out, size_t n)
{
	snprintf(out, n, "%s.%s", sink, key);
}

/* Where an entry is kept, for messages: its file, or its item in the table. */
static void entry_where(const struct outbox *ob, const char *name, char *out, size_t n)
{
	if (state_in_table(ob->st))
		snprintf(out, n, "o/%s", name); /* the table's item */
	else
		snprintf(out, n, "%s/%s.json", ob->dir, name);
}

/* The longest max_age of the sinks: how long a sent mark is kept. */
static double marks_kept(const struct outbox *ob)
{
	uint64_t ms = 24 * 3600 * 1000ULL;

	for (size_t i = 0; i < ob->n; i++)
		if (ob->sinks[i]->c.max_age_ms > ms)
			ms = ob->sinks[i]->c.max_age_ms;
	return (double)ms / 1000.0;
}

struct prune {
	struct outbox *ob;
	double now, keep;
};

static int prune_one(const char *name, const char *text, size_t len, double at, int err, void *ud)
{
	struct prune *p = ud;
	char why[600];

	(void)text;
	(void)len;
	if (err == 0 && p->now - at > p->keep &&
	    state_blob_remove(p->ob->st, STATE_BLOB_SENT, name, why, sizeof(why)) < 0)
		log_debug("outbox: %s", why);
	return 0;
}

/* Removes the sent marks older than marks_kept(); at start and then at most hourly. */
static void prune_marks(struct outbox *ob)
{
	struct prune p = { ob, wall_now(), marks_kept(ob) };
	char why[600];

	ob->pruned_at = p.now;
	if (state_blob_each(ob->st, STATE_BLOB_SENT, 0, prune_one, &p, why, sizeof(why)) < 0)
		log_debug("outbox: %s", why);
}

/* Takes e out of its sink's FIFO. */
static void unlink_entry(struct entry *e)
{
	struct sink *s = e->sink;

	for (struct entry **p = &s->head; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			s->pending--;
			break;
		}
	if (e->in_flight)
		s->in_flight--;
	e->in_flight = false;
}

/* e is done with (sent, given up or dropped): out of the FIFO, its file removed, freed. */
static void remove_entry(struct entry *e)
{
	char why[600];

	unlink_entry(e);
	if (e->on_disk &&
	    state_blob_remove(e->sink->ob->st, STATE_BLOB_OUTBOX, e->name, why, sizeof(why)) < 0)
		log_warning("outbox: %s; it is sent again after a restart", why);
	entry_free(e);
}

/* Into the sink's FIFO by creation time. */
static void insert_entry(struct sink *s, struct entry *e)
{
	struct entry **p = &s->head;

	while (*p && (*p)->created <= e->created)
		p = &(*p)->next;
	e->next = *p;
	*p = e;
	e->sink = s;
	s->pending++;
}

static struct entry *find_entry(const struct sink *s, const char *key)
{
	for (struct entry *e = s->head; e; e = e->next)
		if (!strcmp(e->n.key, key))
			return e;
	return NULL;
}

static void say_dropped_as(const char *name, const char *type, const char *host, size_t count,
			   const char *why)
{
	char num[32];

	snprintf(num, sizeof(num), "%zu", count);
	log_at(LOG_WARNING, EVENT_NOTIFY_DROPPED,
	       LOG_FIELDS({ "NOTIFY_SINK", name }, { "NOTIFY_SINK_TYPE", type },
			  { "NOTIFY_HOST", host }, { "NOTIFY_DROPPED_COUNT", num }),
	       "notify sink '%s': %zu pending notification%s dropped unsent: %s", name, count,
	       count == 1 ? "" : "s", why);
}

static void say_dropped(const struct sink *s, size_t count, const char *why)
{
	say_dropped_as(s->c.name, config_sink_type_name(s->c.type), s->show, count, why);
}

/* The backlog bound: the oldest entries not in flight go until pending <= max_pending. */
static void enforce_bound(struct sink *s)
{
	size_t dropped = 0;

	for (struct entry *e = s->head, *next; e && s->pending > (size_t)s->c.max_pending;
	     e = next) {
		next = e->next;
		if (e->in_flight)
			continue;
		remove_entry(e);
		dropped++;
	}
	if (!dropped)
		return;
	s->dropped += dropped;
	char why[160];
	snprintf(why, sizeof(why), "the backlog reached max_pending (%d); the oldest went first",
		 s->c.max_pending);
	say_dropped(s, dropped, why);
}

/* ---- outcomes ----------------------------------------------------------------- */

static void give_up(struct entry *e, const char *reason, long status, const char *aws_code)
{
	struct sink *s = e->sink;
	char st[24] = "";

	if (status > 0)
		snprintf(st, sizeof(st), "%ld", status);
	s->given_up++;
	log_at(LOG_ERR, EVENT_NOTIFY_FAILED,
	       LOG_FIELDS({ "NOTIFY_SINK", s->c.name },
			  { "NOTIFY_SINK_TYPE", config_sink_type_name(s->c.type) },
			  { "NOTIFY_HOST", s->show },
			  { "NOTIFY_KIND", notice_kind_name(e->n.kind) },
			  { "NOTIFY_KEY", e->n.key }, { "HTTP_STATUS", *st ? st : NULL },
			  { "AWS_ERROR_CODE", aws_code }, { "REASON", reason }),
	       "notify sink '%s' (%s, %s): the %s notification %s is given up after %d attempt%s: "
	       "%s",
	       s->c.name, config_sink_type_name(s->c.type), s->show, notice_kind_name(e->n.kind),
	       e->n.key, e->attempts, e->attempts == 1 ? "" : "s", reason);
	remove_entry(e);
}

static void attempt_ok(struct entry *e)
{
	struct sink *s = e->sink;
	struct outbox *ob = s->ob;

	s->sent++;
	s->last_sent = wall_now();
	log_at(LOG_INFO, NULL,
	       LOG_FIELDS({ "NOTIFY_SINK", s->c.name }, { "NOTIFY_KEY", e->n.key },
			  { "NOTIFY_KIND", notice_kind_name(e->n.kind) }),
	       "notify sink '%s': the %s notification %s was sent (attempt %d)", s->c.name,
	       notice_kind_name(e->n.kind), e->n.key, e->attempts);
	if (s->said)
		log_at(LOG_NOTICE, EVENT_NOTIFY_SINK_RECOVERED,
		       LOG_FIELDS({ "NOTIFY_SINK", s->c.name },
				  { "NOTIFY_SINK_TYPE", config_sink_type_name(s->c.type) },
				  { "NOTIFY_HOST", s->show }),
		       "notify sink '%s' (%s, %s) works again after %d failed attempt%s; %zu "
		       "more pending notification%s to send",
		       s->c.name, config_sink_type_name(s->c.type), s->show, s->failures,
		       s->failures == 1 ? "" : "s", s->pending - 1, s->pending == 2 ? "" : "s");
	s->said = false;
	s->failing = false;
	s->failing_since = 0;
	s->failures = 0;
	if (e->on_disk) {
		char why[600];
		/* the mark is kept from now, not from its writing */
		if (state_blob_mark_sent(ob->st, e->name, wall_now() + marks_kept(ob), why,
					 sizeof(why)) == 0)
			e->on_disk = false;
		else
			log_warning("outbox: %s; the entry is removed, and the same notification "
				    "may be sent again if its phase is said again",
				    why);
	}
	remove_entry(e);
	/* The others waited out backoffs for a sink that works now. */
	for (struct entry *x = s->head; x; x = x->next)
		if (!x->in_flight)
			x->due = ev_now(ob->d.loop);
}

static void mark_failing(struct sink *s, const char *error)
{
	snprintf(s->last_error, sizeof(s->last_error), "%s", error);
	s->failed++;
	s->failures++;
	if (!s->failing)
		s->failing_since = wall_now();
	s->failing = true;
}

/* The attempt of e is over: it is no longer in flight (it stays in its place in the FIFO). */
static void settle(struct entry *e)
{
	if (e->in_flight)
		e->sink->in_flight--;
	e->in_flight = false;
}

/* A transient failure: tried again after a backoff; given up at max_age unless keep (an attempt
 * that could not start: the pump gives it up, since it walks the FIFO). */
static void retry_later(struct entry *e, const char *error, long status, const char *aws_code,
			bool keep)
{
	struct sink *s = e->sink;
	struct outbox *ob = s->ob;
	double now = wall_now(), deadline = e->created + (double)s->c.max_age_ms / 1000.0;
	long delay = outbox_backoff_ms(e->attempts, ob->base_ms, ob->cap_ms, next_unit(ob));

	mark_failing(s, error);
	if (!s->said) {
		s->said = true;
		log_at(LOG_WARNING, EVENT_NOTIFY_SINK_FAILING,
		       LOG_FIELDS({ "NOTIFY_SINK", s->c.name },
				  { "NOTIFY_SINK_TYPE", config_sink_type_name(s->c.type) },
				  { "NOTIFY_HOST", s->show }, { "REASON", error }),
		       "notify sink '%s' (%s, %s) fails: %s; notifications are kept and tried "
		       "again with a backoff up to %lds, for up to the sink's max_age",
		       s->c.name, config_sink_type_name(s->c.type), s->show, error,
		       ob->cap_ms / 1000);
	} else {
		log_at(LOG_DEBUG, NULL, LOG_FIELDS({ "NOTIFY_SINK", s->c.name }),
		       "notify sink '%s': attempt %d of %s failed: %s; again in %.1fs", s->c.name,
		       e->attempts, e->n.key, error, (double)delay / 1000.0);
	}
	settle(e);
	if (now >= deadline && !keep) {
		char why[400];
		snprintf(why, sizeof(why), "not delivered within max_age (last error: %s)", error);
		give_up(e, why, status, aws_code);
		return;
	}
	e->due = ev_now(ob->d.loop) + (double)delay / 1000.0;
	if (e->due > ev_now(ob->d.loop) + (deadline - now))
		e->due = ev_now(ob->d.loop) + (deadline - now);
}

static void attempt_failed(struct entry *e, const char *error, long status, const char *aws_code)
{
	retry_later(e, error, status, aws_code, false);
}

/* A permanent failure: no more attempts. */
static void attempt_refused(struct entry *e, const char *reason, long status, const char *aws_code)
{
	struct sink *s = e->sink;

	mark_failing(s, reason);
	settle(e);
	give_up(e, reason, status, aws_code);
}

/* ---- HTTP sinks --------------------------------------------------------------- */

/* A fixed description of a transport error: curl's text may hold the URL. */
static const char *transport_text(int error)
{
	switch (-error) {
	case ETIMEDOUT:
		return "timed out";
	case ECONNREFUSED:
		return "connection refused";
	case EHOSTUNREACH:
		return "host not found or unreachable";
	case ECONNRESET:
		return "the connection broke or closed early";
	case EFBIG:
		return "the reply is too big";
	case E2BIG:
		return "the reply has too many headers";
	case EACCES:
		return "the receiver's TLS certificate is not trusted";
	case EPROTO:
		return "TLS or HTTP protocol error";
	case ENOMEM:
		return "out of memory";
	default:
		return "transport error";
	}
}

/* Whether a Slack reply's body is "ok" (white space around it aside). */
static bool slack_ok(const struct http_response *resp)
{
	const char *b = resp->body.buf;
	size_t len = resp->body.len, i = 0;

	while (b && len && (b[len - 1] == '\n' || b[len - 1] == '\r' || b[len - 1] == ' '))
		len--;
	while (b && i < len && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r'))
		i++;
	return b && len - i == 2 && !memcmp(b + i, "ok", 2);
}

/* Slack's error word of a 4xx ("invalid_payload"), when the body is just that. */
static void slack_word(const struct http_response *resp, char *out, size_t n)
{
	const char *b = resp->body.buf;
	size_t len = resp->body.len;

	*out = '\0';
	if (!b || !len || len > 64 || len >= n)
		return;
	for (size_t i = 0; i < len; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || b[i] == '_'))
			return;
	memcpy(out, b, len);
	out[len] = '\0';
}

static void on_http_done(struct http_response *resp, void *userdata)
{
	struct entry *e = userdata;
	struct sink *s = e->sink;
	struct outbox *ob = s->ob;
	char why[300], word[80];
	long st = resp->status;

	e->req = NULL;
	if (resp->error == -EFBIG && st >= 200 && st < 300 && s->c.type == SINK_WEBHOOK) {
		/* the receiver took it; only its reply (never read) was longer than we keep */
		attempt_ok(e);
	} else if (resp->error) {
		snprintf(why, sizeof(why), "%s: %s", s->show, transport_text(resp->error));
		attempt_failed(e, why, 0, NULL);
	} else if (st >= 200 && st < 300 && s->c.type == SINK_SLACK && !slack_ok(resp)) {
		/* Slack takes a message with 200 "ok"; another 2xx reply is not Slack's (a proxy, a
		 * portal): not delivered */
		snprintf(why, sizeof(why), "%s: HTTP %ld without Slack's \"ok\"", s->show, st);
		attempt_failed(e, why, st, NULL);
	} else if (st >= 200 && st < 300) {
		attempt_ok(e);
	} else if (st >= 300 && st < 400) {
		snprintf(why, sizeof(why), "redirected (status %ld); fix the URL", st);
		attempt_refused(e, why, st, NULL);
	} else if (st == 408 || st == 429 || st >= 500 || st < 200) {
		/* only Slack's words are quoted: another receiver's body is its own business */
		if (s->c.type == SINK_SLACK)
			slack_word(resp, word, sizeof(word));
		else
			*word = '\0';
		snprintf(why, sizeof(why), "%s: HTTP %ld%s%s", s->show, st, *word ? " " : "", word);
		attempt_failed(e, why, st, NULL);
	} else {
		if (s->c.type == SINK_SLACK)
			slack_word(resp, word, sizeof(word));
		else
			*word = '\0';
		snprintf(why, sizeof(why), "%s: HTTP %ld%s%s%s", s->show, st, *word ? " (" : "",
			 word, *word ? ")" : "");
		if (st == 413)
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 ": the receiver refuses a body this size");
		attempt_refused(e, why, st, NULL);
	}
	pump(ob);
}

static int attempt_http(struct entry *e)
{
	struct sink *s = e->sink;
	char *body = s->c.type == SINK_SLACK ? notice_slack(&e->n) : notice_body(&e->n);
	char key[80], kind[80], sig[200], sighdr[240];
	const char *headers[6];
	int nh = 0, r;

	if (!body)
		return -ENOMEM;
	headers[nh++] = "Content-Type: application/json";
	if (s->c.type == SINK_WEBHOOK) {
		snprintf(key, sizeof(key), "%s: %s", NOTICE_KEY_HEADER, e->n.key);
		snprintf(kind, sizeof(kind), "X-Ecr-Deployd-Event: %s",
			 notice_kind_name(e->n.kind));
		headers[nh++] = key;
		headers[nh++] = kind;
		if (s->c.secret && s->c.secret_len) {
			if (notice_sign(s->c.secret, s->c.secret_len, (long long)wall_now(), body,
					strlen(body), sig, sizeof(sig)) < 0) {
				free(body);
				return -ENOBUFS;
			}
			snprintf(sighdr, sizeof(sighdr), "%s: %s", NOTICE_SIGNATURE_HEADER, sig);
			headers[nh++] = sighdr;
		}
	}
	headers[nh] = NULL;
	struct http_request_spec spec = { .method = "POST",
					  .url = s->c.url,
					  .headers = headers,
					  .body = body,
					  .body_len = strlen(body),
					  .timeout_ms = (long)s->c.timeout_ms };
	r = s->http ? http_submit(s->http, &spec, on_http_done, e, &e->req) : -ENOMEM;
	free(body);
	return r;
}

/* ---- EventBridge ------------------------------------------------------------------- */

static void on_put_events(struct aws_result *res, void *userdata)
{
	struct entry *e = userdata;
	struct sink *s = e->sink;
	struct outbox *ob = s->ob;
	char why[1400];

	e->call = NULL;
	if (!res->ok) {
		snprintf(why, sizeof(why), "%s: PutEvents failed: %s: %.1000s", s->show,
			 res->err.code, res->err.message);
		if (aws_error_classify(&res->err) == AWS_ERROR_TRANSIENT)
			attempt_failed(e, why, res->err.http_status, res->err.code);
		else
			attempt_refused(e, why, res->err.http_status, res->err.code);
		pump(ob);
		return;
	}
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(res->body, "FailedEntryCount");
	const cJSON *first =
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res->body, "Entries"), 0);
	const char *code =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "ErrorCode"));
	const char *msg =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "ErrorMessage"));
	if (!cJSON_IsNumber(count)) {
		/* a verdict only from what EventBridge said: a reply that does not say whether the
		 * entry was taken is tried again */
		snprintf(why, sizeof(why), "%s: PutEvents answered without FailedEntryCount",
			 s->show);
		attempt_failed(e, why, 0, NULL);
	} else if (count->valuedouble == 0 && !code) {
		attempt_ok(e);
	} else if (!code) {
		snprintf(why, sizeof(why),
			 "%s: PutEvents failed the entry without an ErrorCode (FailedEntryCount "
			 "%.0f)",
			 s->show, count->valuedouble);
		attempt_failed(e, why, 0, NULL);
	} else {
		char c[128];
		snprintf(c, sizeof(c), "%.100s", code);
		snprintf(why, sizeof(why), "%s: PutEvents refused the entry: %s: %.1000s", s->show,
			 c, msg ? msg : "(no message)");
		if (!strcmp(c, "ThrottlingException") || !strcmp(c, "InternalFailure"))
			attempt_failed(e, why, 0, c);
		else
			attempt_refused(e, why, 0, c);
	}
	pump(ob);
}

static int attempt_events(struct entry *e)
{
	struct sink *s = e->sink;
	cJSON *p = notice_eventbridge(&e->n, s->c.bus ? s->c.bus : "default");
	struct aws_call_spec spec = { .service = aws_service_by_id(AWS_SERVICE_EVENTS),
				      .operation = "PutEvents",
				      .params = p,
				      .creds = s->creds,
				      .region = sink_region(s),
				      .timeout_ms = (long)s->c.timeout_ms };
	int r;

	if (!p)
		return -ENOMEM;
	r = aws_call(s->ob->d.aws, &spec, on_put_events, e, &e->call);
	cJSON_Delete(p);
	return r;
}

/* ---- the pump ------------------------------------------------------------------------ */

static void attempt(struct entry *e)
{
	struct sink *s = e->sink;
	int r;

	e->attempts++;
	e->in_flight = true;
	s->in_flight++;
	if (s->c.type == SINK_EVENTBRIDGE)
		r = s->ob->d.aws ? attempt_events(e) : -EINVAL;
	else
		r = attempt_http(e);
	if (r < 0) {
		char why[200];
		e->req = NULL;
		e->call = NULL;
		snprintf(why, sizeof(why), "%s: the attempt could not start: %s", s->show,
			 r == -EINVAL ? "no endpoint for it" : strerror(-r));
		retry_later(e, why, 0, NULL, true); /* e stays where the pump is */
	}
}

/* Starts what is due, up to each sink's concurrency, oldest first; arms the timer for the rest. */
static void pump(struct outbox *ob)
{
	double now = ev_now(ob->d.loop), wall = wall_now(), next = 0;
	bool any = false;

	if (ob->d.may_send && !ob->d.may_send(ob->d.userdata)) {
		/* the gate (ha): looked at again in a second */
		ev_timer_stop(ob->d.loop, &ob->timer);
		ev_timer_set(&ob->timer, 1.0, 0.0);
		ev_timer_start(ob->d.loop, &ob->timer);
		return;
	}
	for (size_t i = 0; i < ob->n; i++) {
		struct sink *s = ob->sinks[i];
		for (struct entry *e = s->head, *nx; e; e = nx) {
			nx = e->next;
			if (e->in_flight)
				continue;
			double deadline = e->created + (double)s->c.max_age_ms / 1000.0;
			if (wall >= deadline) {
				char why[300];
				snprintf(why, sizeof(why), "not delivered within max_age%s%s%s",
					 *s->last_error ? " (last error: " : "", s->last_error,
					 *s->last_error ? ")" : "");
				give_up(e, why, 0, NULL);
				continue;
			}
			if (e->due > now || s->in_flight >= s->c.concurrency) {
				double at = e->due > now ? e->due : now + 1.0;
				if (!any || at < next)
					next = at;
				any = true;
				continue;
			}
			attempt(e);
			/* a failure to start set its due; the list may have changed */
			nx = e->next;
			if (!e->in_flight) {
				if (!any || e->due < next)
					next = e->due;
				any = true;
			}
		}
	}
	if (ob->d.changed)
		ob->d.changed(ob->d.userdata);
	ev_timer_stop(ob->d.loop, &ob->timer);
	if (!any)
		return;
	/* An attempt's end pumps again; the timer is for backoffs. */
	ev_timer_set(&ob->timer, next > now ? next - now : 0.01, 0.0);
	ev_timer_start(ob->d.loop, &ob->timer);
}

static void on_timer(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	pump(t->data);
}

/* ---- posting ---------------------------------------------------------------------------- */

/* Writes n for sink s (created at wall second created) and queues it. */
static void post_one(struct sink *s, const struct notice *n, double created)
{
	struct outbox *ob = s->ob;
	struct entry *e;
	char name[4200], why[600];
	char *text;

	if (find_entry(s, n->key))
		return;
	entry_name(s->c.name, n->key, name, sizeof(name));
	if (state_blob_has(ob->st, STATE_BLOB_SENT, name)) {
		log_debug("notify sink '%s': the %s notification %s was sent already", s->c.name,
			  notice_kind_name(n->kind), n->key);
		return;
	}
	e = calloc(1, sizeof(*e));
	if (!e || notice_copy(&e->n, n) < 0) {
		free(e);
		log_error("notify sink '%s': out of memory for the %s notification %s", s->c.name,
			  notice_kind_name(n->kind), n->key);
		return;
	}
	if (!e->n.host && ob->host)
		e->n.host = strdup(ob->host);
	e->name = strdup(name);
	e->created = created;
	e->due = ev_now(ob->d.loop);
	text = notice_entry(&e->n, s->c.name, created);
	if (!e->name || !text) {
		free(text);
		entry_free(e);
		log_error("notify sink '%s': out of memory for the %s notification %s", s->c.name,
			  notice_kind_name(n->kind), n->key);
		return;
	}
	if (state_blob_put(ob->st, STATE_BLOB_OUTBOX, name, text, strlen(text), why, sizeof(why)) <
	    0)
		log_error("notify sink '%s': %s; the %s notification %s is attempted all the same, "
			  "but a restart before it is sent loses it",
			  s->c.name, why, notice_kind_name(n->kind), n->key);
	else
		e->on_disk = true;
	free(text);
	insert_entry(s, e);
	enforce_bound(s);
}

void outbox_post(struct outbox *ob, const struct notice *n)
{
	double created = wall_now();

	if (!ob)
		return;
	if (created - ob->pruned_at > 3600.0)
		prune_marks(ob);
	for (size_t i = 0; i < ob->n; i++)
		if (notice_matches(&ob->sinks[i]->c, n))
			post_one(ob->sinks[i], n, created);
	pump(ob);
}

/* ---- watch-failing ------------------------------------------------------------------------ */

static bool said_to(const struct streak *k, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = k->said; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l == len && !memcmp(p, name, len))
			return true;
		p += l + (nl ? 1 : 0);
	}
	return false;
}

/* The first of the watches a sink's watches and services filters let through (a service filter
 * matches a watch by its targets), or NULL. */
static const struct config_watch *watch_for(const struct config_sink *c,
					    const struct config_watch *const *watches, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct config_watch *w = watches[i];
		bool ok = !c->n_watches;
		for (size_t j = 0; j < c->n_watches && !ok; j++)
			ok = !strcmp(c->watches[j], w->name);
		if (!ok)
			continue;
		ok = !c->n_services;
		for (size_t t = 0; t < w->n_targets && !ok; t++) {
			struct notice probe = { .kind = NOTICE_COMPLETED,
						.watch = w->name,
						.cluster = w->targets[t].cluster,
						.service = w->targets[t].service };
			struct config_sink only = { .kinds = 1u << NOTICE_COMPLETED,
						    .services = c->services,
						    .n_services = c->n_services };
			ok = notice_matches(&only, &probe);
		}
		if (ok)
			return w;
	}
	return NULL;
}

void outbox_polled(struct outbox *ob, const char *repository, const char *region, bool ok,
		   const char *error, double now, const struct config_watch *const *watches,
		   size_t n_watches)
{
	char key[600];
	struct streak *k;

	if (!ob || !ob->n)
		return;
	snprintf(key, sizeof(key), "%s/%s", region ? region : "", repository);
	k = strmap_get(ob->streaks, key);
	if (ok) {
		if (k) {
			void *old = NULL;
			strmap_put(ob->streaks, key, NULL, &old);
			free(old);
		}
		return;
	}
	if (!k) {
		k = calloc(1, sizeof(*k));
		if (!k || strmap_put(ob->streaks, key, k, NULL) < 0) {
			free(k);
			return;
		}
		k->start = now;
		return;
	}
	struct notice n = { .kind = NOTICE_WATCH_FAILING, .time = now, .duration_ms = -1 };
	char identity[700], summary[2400], mins[32];
	bool built = false;
	for (size_t i = 0; i < ob->n; i++) {
		struct sink *s = ob->sinks[i];
		if (now - k->start < (double)s->c.failing_after_ms / 1000.0 ||
		    said_to(k, s->c.name))
			continue;
		if (!built) {
			snprintf(mins, sizeof(mins), "%.0f", (now - k->start) / 60.0);
			snprintf(identity, sizeof(identity), "%s\n%.0f", key, k->start * 1000.0);
			snprintf(summary, sizeof(summary),
				 "polling '%s' in %s has failed for %s minute%s: %s", repository,
				 region ? region : "the default region", mins,
				 strcmp(mins, "1") ? "s" : "", error ? error : "(no error text)");
			n.repository = (char *)(uintptr_t)repository;
			n.region = (char *)(uintptr_t)region;
			n.reason = (char *)(uintptr_t)(error ? error : "");
			n.summary = summary;
			n.host = ob->host;
			notice_make_key(&n, identity, "");
			built = true;
		}
		const struct config_watch *w = watch_for(&s->c, watches, n_watches);
		if ((s->c.n_watches || s->c.n_services) && !w)
			continue;
		n.watch = w ? w->name : NULL;
		/* the watches and services filters were applied above, by the watch's targets */
		struct config_sink by_kind = s->c;
		by_kind.n_watches = 0;
		by_kind.n_services = 0;
		if (!notice_matches(&by_kind, &n))
			continue;
		size_t len = strlen(k->said);
		snprintf(k->said + len, sizeof(k->said) - len, "%s%s", len ? "\n" : "", s->c.name);
		post_one(s, &n, wall_now());
	}
	if (built)
		pump(ob);
}

/* ---- the start-up read -------------------------------------------------------------------- */

static struct sink *sink_named(const struct outbox *ob, const char *name)
{
	for (size_t i = 0; i < ob->n; i++)
		if (!strcmp(ob->sinks[i]->c.name, name))
			return ob->sinks[i];
	return NULL;
}

/* Entries found at start of sinks the configuration no longer has, counted by sink. */
#define GONE_MAX 32
struct gone {
	char name[128];
	size_t count;
};

static void count_gone(struct gone *g, size_t *n, const char *sink)
{
	size_t i;

	for (i = 0; i < *n && strcmp(g[i].name, sink); i++)
		;
	if (i == *n && *n == GONE_MAX)
		i = GONE_MAX - 1; /* the last counts the rest */
	else if (i == *n) {
		snprintf(g[i].name, sizeof(g[i].name), "%s", sink);
		g[i].count = 0;
		(*n)++;
	}
	g[i].count++;
}

/* What load_dir() counts while it reads. */
struct loading {
	struct outbox *ob;
	struct gone gone[GONE_MAX];
	size_t n_gone;
};

/* One entry at start: queued, given up, dropped, or kept aside (.bad). */
static int load_one(const char *name, const char *text, size_t len, double at, int err, void *ud)
{
	struct loading *ld = ud;
	struct outbox *ob = ld->ob;
	char where[4400], why[600], sink[128];
	double created = 0, now = wall_now();
	struct notice n;
	int r = err;

	(void)at;
	entry_where(ob, name, where, sizeof(where));
	if (r == -ELOOP)
		snprintf(why, sizeof(why), "a symbolic link, not followed");
	else if (r < 0)
		snprintf(why, sizeof(why), "%s", r == -EFBIG ? "it is too big" : strerror(-r));
	else
		r = notice_entry_parse(text, len, &n, &created, sink, sizeof(sink), why,
				       sizeof(why));
	if (r < 0) {
		char *bad = state_blob_keep_aside(ob->st, STATE_BLOB_OUTBOX, name);
		if (!bad)
			log_warning(
			    "outbox: entry '%s' is unusable (%s) and cannot be set aside: %s",
			    where, why, strerror(errno));
		else
			log_warning("outbox: entry '%s' is unusable (%s); kept aside as '%s'",
				    where, why, bad);
		free(bad);
		return 0;
	}
	struct sink *s = sink_named(ob, sink);
	if (!s) {
		count_gone(ld->gone, &ld->n_gone, sink);
		state_blob_remove(ob->st, STATE_BLOB_OUTBOX, name, why, sizeof(why));
		notice_done(&n);
		return 0;
	}
	struct entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(name)) || find_entry(s, n.key)) {
		if (e && e->name) /* the same notification twice: one is enough */
			state_blob_remove(ob->st, STATE_BLOB_OUTBOX, name, why, sizeof(why));
		free(e ? e->name : NULL);
		free(e);
		notice_done(&n);
		return 0;
	}
	e->n = n;
	/* an entry dated after now (a clock set back, a hand edit) ages from now: max_age holds */
	e->created = created > now ? now : created;
	e->on_disk = true;
	e->due = ev_now(ob->d.loop);
	insert_entry(s, e);
	if (now >= e->created + (double)s->c.max_age_ms / 1000.0)
		give_up(e, "not delivered within max_age (found at start)", 0, NULL);
	return 0;
}

/* Every entry kept (and the leftovers of writes cut short removed). */
static int load_dir(struct outbox *ob, char *why, size_t why_len)
{
	struct loading *ld = calloc(1, sizeof(*ld));
	int r;

	if (!ld) {
		snprintf(why, why_len, "out of memory for the outbox");
		return -ENOMEM;
	}
	ld->ob = ob;
	r = state_blob_each(ob->st, STATE_BLOB_OUTBOX, ENTRY_MAX_BYTES, load_one, ld, why, why_len);
	for (size_t i = 0; i < ld->n_gone; i++)
		say_dropped_as(ld->gone[i].name, "unknown", NULL, ld->gone[i].count,
			       "the sink is no longer in the configuration (found at start)");
	free(ld);
	return r;
}

/* ---- life ------------------------------------------------------------------------------- */

static void sink_free(struct sink *s)
{
	if (!s)
		return;
	while (s->head) {
		struct entry *e = s->head;
		unlink_entry(e);
		entry_free(e);
	}
	http_client_free(s->http);
	cred_provider_free(s->creds);
	settings_done(&s->c);
	free(s->show);
	free(s);
}

/* The sink's own HTTP client (webhook, slack), for its concurrency. 0 or -ENOMEM. */
static int make_http(struct sink *s)
{
	if (s->c.type == SINK_EVENTBRIDGE)
		return 0;
	struct http_client_options ho = { .ca_bundle = s->ob->ca_bundle,
					  .max_host_connections = s->c.concurrency,
					  .max_response_bytes = REPLY_MAX_BYTES,
					  .user_agent = "ecr-deployd/" ECR_DEPLOYD_VERSION,
					  .no_multiplex = true };
	s->http = http_client_new(s->ob->d.loop, &ho);
	s->http_conc = s->c.concurrency;
	return s->http ? 0 : -ENOMEM;
}

static struct sink *sink_new(struct outbox *ob, const struct config_sink *c)
{
	struct sink *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ob = ob;
	if (settings_copy(&s->c, c) < 0) {
		free(s);
		return NULL;
	}
	s->show = show_of(ob, &s->c);
	if (!s->show || make_creds(s) < 0 || make_http(s) < 0) {
		sink_free(s);
		return NULL;
	}
	return s;
}

static void set_strings(struct outbox *ob, const struct config *cfg)
{
	free(ob->profile);
	free(ob->sts_endpoint);
	free(ob->ca_bundle);
	ob->profile = DUP(cfg->profile);
	ob->sts_endpoint = DUP(cfg->endpoints[AWS_SERVICE_STS]);
	ob->ca_bundle = DUP(cfg->ca_bundle);
}

/* A test knob (outbox.h): milliseconds, 1 to the default cap; 0 when unset or not that. */
static long env_ms(const char *name)
{
	const char *v = getenv(name);
	char *end;
	long ms;

	if (!v || !*v)
		return 0;
	errno = 0;
	ms = strtol(v, &end, 10);
	return !*end && !errno && ms >= 1 && ms <= OUTBOX_BACKOFF_CAP_MS ? ms : 0;
}

struct outbox *outbox_new(const struct outbox_deps *deps, const struct config *cfg, char *why,
			  size_t why_len)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	char dir[4096];

	if (!ob) {
		snprintf(why, why_len, "out of memory for the outbox");
		return NULL;
	}
	ob->d = *deps;
	ob->d.state_dir = NULL;
	ob->d.host = NULL;
	ob->d.region = NULL;
	outbox_dir(deps->state_dir ? deps->state_dir : "", dir, sizeof(dir));
	ob->dir = strdup(dir);
	ob->st = deps->state;
	ob->own_st = !ob->st;
	if (!ob->st && state_open_blobs(deps->state_dir ? deps->state_dir : "", &ob->st) < 0)
		ob->st = NULL;
	ob->region = DUP(deps->region);
	ob->host = DUP(deps->host);
	ob->streaks = strmap_new();
	ev_timer_init(&ob->timer, on_timer, 0.0, 0.0);
	ob->timer.data = ob;
	ob->base_ms = OUTBOX_BACKOFF_BASE_MS;
	ob->cap_ms = OUTBOX_BACKOFF_CAP_MS;
	long base = env_ms(OUTBOX_BACKOFF_ENV), cap = env_ms(OUTBOX_BACKOFF_CAP_ENV);
	if (base > 0) {
		ob->base_ms = base;
		ob->cap_ms =
		    base * 300 < OUTBOX_BACKOFF_CAP_MS ? base * 300 : OUTBOX_BACKOFF_CAP_MS;
	}
	if (cap > 0)
		ob->cap_ms = cap;
	if (ob->cap_ms < ob->base_ms)
		ob->cap_ms = ob->base_ms;
	if (getrandom(&ob->rng, sizeof(ob->rng), 0) != sizeof(ob->rng) || !ob->rng)
		ob->rng = (uint64_t)time(NULL) | 1;
	set_strings(ob, cfg);
	if (!ob->dir || !ob->st || !ob->streaks || (deps->host && !ob->host) ||
	    (deps->region && !ob->region)) {
		snprintf(why, why_len, "out of memory for the outbox");
		outbox_free(ob);
		return NULL;
	}
	ob->sinks = calloc(CONFIG_MAX_SINKS + cfg->n_sinks + 1, sizeof(*ob->sinks));
	if (!ob->sinks) {
		snprintf(why, why_len, "out of memory for the outbox");
		outbox_free(ob);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_sinks; i++) {
		struct sink *s = sink_new(ob, &cfg->sinks[i]);
		if (!s) {
			snprintf(why, why_len, "out of memory for notify sink '%s'",
				 cfg->sinks[i].name);
			outbox_free(ob);
			return NULL;
		}
		ob->sinks[ob->n++] = s;
	}
	/* Without sinks the directory is not touched (entries a removed sink left wait for the
	 * configuration that has it again). A directory that cannot be made or read stops no
	 * deploy: said once, and the notifications are attempted all the same, without the
	 * durability (each write failure says so). */
	if (ob->n && !state_in_table(ob->st) && mkdir(ob->dir, 0700) < 0 && errno != EEXIST)
		log_error("outbox: cannot make the directory '%s': %s; notifications are sent "
			  "but not kept across a restart",
			  ob->dir, strerror(errno));
	else if (ob->n && load_dir(ob, why, why_len) < 0)
		log_error("outbox: %s; what it holds is not sent", why);
	else if (ob->n)
		prune_marks(ob);
	*why = '\0';
	for (size_t i = 0; i < ob->n; i++)
		enforce_bound(ob->sinks[i]);
	size_t pending = 0;
	for (size_t i = 0; i < ob->n; i++)
		pending += ob->sinks[i]->pending;
	if (pending)
		log_info("outbox: %zu notification%s left from before %s sent now", pending,
			 pending == 1 ? "" : "s", pending == 1 ? "is" : "are");
	pump(ob);
	return ob;
}

void outbox_free(struct outbox *ob)
{
	if (!ob)
		return;
	ev_timer_stop(ob->d.loop, &ob->timer);
	for (size_t i = 0; i < ob->n; i++)
		sink_free(ob->sinks[i]);
	free(ob->sinks);
	strmap_free(ob->streaks, free);
	free(ob->ca_bundle);
	if (ob->own_st)
		state_free(ob->st);
	free(ob->dir);
	free(ob->region);
	free(ob->host);
	free(ob->profile);
	free(ob->sts_endpoint);
	free(ob);
}

/* A sink that is no longer configured: its entries are dropped (files removed), said once. */
static void sink_removed(struct sink *s)
{
	size_t count = 0;

	while (s->head) {
		remove_entry(s->head);
		count++;
	}
	if (count)
		say_dropped(s, count, "the sink is no longer in the configuration");
	sink_free(s);
}

/* A reload changed the sink's role (calls: their credentials go) or its connections (requests):
 * those attempts in flight are cancelled and made again, not counted as attempts. */
static void requeue(struct sink *s, bool calls, bool requests)
{
	for (struct entry *e = s->head; e; e = e->next) {
		if (calls && e->call) {
			aws_call_cancel(e->call);
			e->call = NULL;
		} else if (requests && e->req) {
			http_cancel(e->req);
			e->req = NULL;
		} else {
			continue;
		}
		e->in_flight = false;
		s->in_flight--;
		e->attempts--;
	}
}

void outbox_reload(struct outbox *ob, const struct config *cfg)
{
	struct sink **next;
	size_t n = 0;

	if (!ob)
		return;
	next = calloc(CONFIG_MAX_SINKS + cfg->n_sinks + 1, sizeof(*next));
	if (!next) {
		log_error("outbox: out of memory at the reload; the notification sinks stay as "
			  "they were");
		return;
	}
	set_strings(ob, cfg);
	for (size_t i = 0; i < cfg->n_sinks; i++) {
		const struct config_sink *c = &cfg->sinks[i];
		struct sink *s = sink_named(ob, c->name);
		struct config_sink copy;
		if (!s) {
			s = sink_new(ob, c);
			if (!s)
				log_error(
				    "outbox: out of memory for notify sink '%s'; it is not used",
				    c->name);
			else
				next[n++] = s;
			continue;
		}
		if (settings_copy(&copy, c) < 0) {
			log_error("outbox: out of memory at the reload of notify sink '%s'; its "
				  "previous settings stay",
				  c->name);
			next[n++] = s;
			continue;
		}
		bool role = (copy.role_arn == NULL) != (s->c.role_arn == NULL) ||
			    (copy.role_arn && strcmp(copy.role_arn, s->c.role_arn)) ||
			    copy.type != s->c.type;
		bool conc = s->http && copy.concurrency != s->http_conc;
		requeue(s, role, conc || (s->http && copy.type == SINK_EVENTBRIDGE));
		settings_done(&s->c);
		s->c = copy;
		if (conc || (s->http && copy.type == SINK_EVENTBRIDGE) ||
		    (!s->http && copy.type != SINK_EVENTBRIDGE)) {
			http_client_free(s->http);
			s->http = NULL;
			if (make_http(s) < 0)
				log_error(
				    "outbox: out of memory for the connections of notify sink "
				    "'%s'",
				    s->c.name);
		}
		char *show = show_of(ob, &s->c);
		if (show) {
			free(s->show);
			s->show = show;
		}
		if (role && make_creds(s) < 0)
			log_error("outbox: out of memory for the role of notify sink '%s'",
				  s->c.name);
		next[n++] = s;
	}
	for (size_t i = 0; i < ob->n; i++) {
		bool kept = false;
		for (size_t j = 0; j < n && !kept; j++)
			kept = next[j] == ob->sinks[i];
		if (!kept)
			sink_removed(ob->sinks[i]);
	}
	free(ob->sinks);
	ob->sinks = next;
	ob->n = n;
	for (size_t i = 0; i < ob->n; i++)
		enforce_bound(ob->sinks[i]);
	pump(ob);
}

size_t outbox_status(const struct outbox *ob, struct outbox_sink_status *out, size_t n)
{
	if (!ob)
		return 0;
	for (size_t i = 0; i < ob->n && i < n; i++) {
		const struct sink *s = ob->sinks[i];
		struct outbox_sink_status *o = &out[i];
		memset(o, 0, sizeof(*o));
		o->name = s->c.name;
		o->type = config_sink_type_name(s->c.type);
		o->host = s->show;
		o->pending = s->pending;
		o->sent = s->sent;
		o->failed = s->failed;
		o->given_up = s->given_up;
		o->dropped = s->dropped;
		o->failing = s->failing;
		o->failing_since = s->failing ? s->failing_since : 0;
		o->last_sent = s->last_sent;
		snprintf(o->last_error, sizeof(o->last_error), "%s", s->last_error);
	}
	return ob->n;
}

/* SPDX-License-Identifier: MIT */
/* Poll cycles: plan per repository, run the requests under a cap, evaluate each watch. */
#include "watcher.h"

#include <cJSON.h>
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws.h"
#include "config.h"
#include "endpoint.h"
#include "events.h"
#include "images.h"
#include "log.h"
#include "state.h"
#include "strbuf.h"
#include "strmap.h"

#define TAGS_PER_CALL 100
/* DescribeImages pages followed per repository and cycle: a reply's nextToken is the peer's to
 * choose, and a chain of short or repeating pages must end. IMAGES_MAX full pages and as many
 * again. */
#define PAGES_MAX     (2 * IMAGES_MAX / IMAGES_PER_PAGE)

struct group {
	char *key;
	const char *registry_id; /* into the cycle's config */
	const char *region;
	const char *repository;
	const char *const *tags; /* distinct fixed tags: the first watch's own list (config.c
			      refuses a tag listed twice) until a second watch adds to it */
	size_t n_tags;
	bool tags_owned; /* tags is the group's array, not a watch's */
	bool want_images;
	struct images *seen; /* what ECR answered this cycle: made at the first reply, dropped
				when the group is evaluated (NULL: nothing, seen_of()) */
	size_t tag_failures; /* the per-image failures ECR reported this cycle (seen's, kept) */
	size_t first_watch, last_watch; /* the cycle's watches on this repository, in config
					   order through cycle.next_watch[] */
	int pending;                    /* requests not answered yet */
	bool batch;                     /* asked with BatchGetImage this cycle */
	int pages;                  /* DescribeImages pages of every image asked for this cycle */
	uint64_t ticket;            /* the last hint about it this cycle answers, or 0 */
	struct group_failure *fail; /* why the repository could not be read this cycle, or NULL */
};

/* Apart from the group: a thousand repositories read fine carry none of it. */
struct group_failure {
	char error[1200]; /* code: message (a message is at most 1023 bytes) */
	char code[128];
	char operation[32];
	char request_id[128];
};

/* What a group holds while ECR answered nothing for it (yet). */
static const struct images no_images;

static const struct images *seen_of(const struct group *g)
{
	return g->seen ? g->seen : &no_images;
}

/* What a failure is recorded as when there is no memory for its details. */
static struct group_failure no_memory = { "out of memory", "OutOfMemory", "", "" };

struct cycle;

enum req_kind {
	REQ_LOOKUP = IMAGES_LOOKUP, /* DescribeImages of up to 100 tags */
	REQ_BATCH = IMAGES_BATCH,   /* BatchGetImage of up to 100 tags */
	REQ_LIST = IMAGES_LIST,     /* a DescribeImages page of every tagged image */
};

/* A request to make; its body is written only when it is sent, so that a cycle's queue of a
 * thousand repositories holds no JSON. */
struct req {
	struct cycle *c;
	size_t group;
	enum req_kind kind;
	size_t first_tag; /* REQ_LOOKUP and REQ_BATCH: the group's tags from here, up to 100 */
	char *next_token; /* REQ_LIST: the page after the first */
	struct aws_call *call;
	int read;                   /* what the reply's reader returned (read_reply) */
	struct images_reply answer; /* what the reply said besides its images */
	struct req *next;
	struct req *prev; /* on the running list: taken off it in one step, not by a walk */
};

#define NO_WATCH SIZE_MAX

struct cycle {
	struct watcher *w;
	struct config *cfg;
	struct group *groups;
	size_t n_groups;
	size_t *next_watch; /* the next watch of cfg in the same group, by index; NO_WATCH: none */
	size_t planned;     /* watches given a group (all, unless planning ran out of memory) */
	struct req *queue, *running; /* queue: asked again, next pages (taken first) */
	/* The next of the cycle's first requests, made as they are sent (not all at its start):
	 * the group, and the first tag of its next lookup (past its tags: its first page of every
	 * image, if it wants them, then the next group). */
	size_t gen_group, gen_tag;
	int in_flight;
	long requests, minimum;
	struct timespec started;
	struct strmap *missing_next, *errors_next; /* what this cycle reports, kept for the next */
	struct strmap *bad_next;
	bool partial;             /* reads only hinted repositories (watcher_hint) */
	uint64_t ticket_at_start; /* the last hint given before it started */
};

/* A hint waiting for a read of one repository (a hint may name several: one each). */
struct hint {
	uint64_t ticket;
	char *key; /* the group key */
	struct hint *next;
};

struct watcher {
	struct watcher_deps deps;
	struct ev_timer timer;
	struct cycle *cycle;
	/* "watch\x1ftag" -> the malformed digest ECR answered for it (reported once) */
	struct strmap *bad;
	struct strmap *missing;      /* "watch\x1ftag" of tags found missing (reported once) */
	struct strmap *group_errors; /* group key -> error code */
	struct strmap *batch_repos;  /* group key -> (void *)1 while a tag of it is missing */
	bool state_error;            /* the last save failed (reported once) */
	bool ran;                    /* a cycle has started (deps.once: the one there is) */
	unsigned long cycles;        /* completed */
	int failing;                 /* repositories that failed in the last cycle */
	char status[256];            /* the last cycle, in a sentence */
	unsigned rng;
	struct ev_timer hint_timer; /* starts a read of hinted repositories */
	struct strmap *hinted;      /* group key -> the last ticket (uintptr_t) not yet read */
	size_t n_hinted;            /* keys of it with a ticket */
	struct hint *hints;         /* waiting for their reads, oldest first */
	uint64_t last_ticket;
	struct strbuf body;    /* the request being started (aws_call() copies it) */
	struct cycle *partial; /* the read of hinted repositories in progress, beside a cycle */
	char own_account[13];  /* the registry of watches that name none, once ECR said it */
	double last_cycle, last_ok;    /* Unix seconds (status) */
	struct watcher_failure *fails; /* of the last cycle (status) */
	size_t n_fails;
};

static void remember_cycle(struct watcher *wt, const struct cycle *c);

static void req_free(struct req *r)
{
	free(r->next_token);
	free(r->answer.next_token);
	free(r);
}

static void cycle_free(struct cycle *c)
{
	if (!c)
		return;
	for (struct req *r = c->running; r;) {
		struct req *n = r->next;
		aws_call_cancel(r->call);
		req_free(r);
		r = n;
	}
	for (struct req *r = c->queue; r;) {
		struct req *n = r->next;
		req_free(r);
		r = n;
	}
	for (size_t i = 0; i < c->n_groups; i++) {
		free(c->groups[i].key);
		if (c->groups[i].tags_owned)
			free((void *)(uintptr_t)c->groups[i].tags);
		if (c->groups[i].fail != &no_memory)
			free(c->groups[i].fail);
		images_done(c->groups[i].seen);
		free(c->groups[i].seen);
	}
	free(c->groups);
	free(c->next_watch);
	strmap_free(c->missing_next, NULL);
	strmap_free(c->errors_next, free);
	strmap_free(c->bad_next, free);
	config_free(c->cfg);
	free(c);
}

/* A watch's region: its own, else the default one, resolved at start (aws.region applies at a
 * restart). */
static const char *watch_region(const struct config_watch *w, const char *default_region)
{
	return w->region ? w->region : default_region;
}

static char *group_key(const char *registry, const char *region, const char *repo)
{
	size_t n = strlen(registry) + strlen(region) + strlen(repo) + 3;
	char *k = malloc(n);

	if (k)
		snprintf(k, n, "%s/%s/%s", registry, region, repo);
	return k;
}

/* Groups the watches by repository; returns 0 or -ENOMEM. */
static int plan(struct cycle *c, struct strmap *index)
{
	const struct config *cfg = c->cfg;

	c->groups = calloc(cfg->n_watches + 1, sizeof(*c->groups));
	c->next_watch = calloc(cfg->n_watches + 1, sizeof(*c->next_watch));
	if (!c->groups || !c->next_watch)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_watches; i++) {
		const struct config_watch *w = &cfg->watches[i];
		const char *region = watch_region(w, c->w->deps.region);
		char *key = group_key(w->registry_id ? w->registry_id : "", region, w->repository);
		struct group *g;
		void *idx;

		if (!key)
			return -ENOMEM;
		uintptr_t ticket = (uintptr_t)strmap_get(c->w->hinted, key);
		if (c->partial && !ticket) {
			free(key);
			continue;
		}
		idx = strmap_get(index, key);
		c->next_watch[i] = NO_WATCH;
		if (idx) {
			g = &c->groups[(size_t)(uintptr_t)idx - 1];
			free(key);
			c->next_watch[g->last_watch] = i;
			g->last_watch = i;
		} else {
			g = &c->groups[c->n_groups];
			g->key = key;
			g->registry_id = w->registry_id;
			g->region = region;
			g->repository = w->repository;
			g->ticket = ticket;
			g->first_watch = g->last_watch = i;
			if (strmap_put(index, key, (void *)(uintptr_t)(c->n_groups + 1), NULL) <
			    0) {
				g->key = NULL; /* (not counted: cycle_free() would not see it) */
				free(key);
				return -ENOMEM;
			}
			c->n_groups++;
		}
		c->planned = i + 1;
		if (w->rule == TAG_GLOB || w->rule == TAG_SEMVER) {
			g->want_images = true;
			continue;
		}
		if (!g->tags) {
			/* the one watch of most repositories: its list is the group's, as it is */
			g->tags = (const char *const *)w->tags;
			g->n_tags = w->n_tags;
			continue;
		}
		/* a second watch: the group's own array, with room for every tag at once */
		if (!w->n_tags)
			continue;
		const char **nt = malloc((g->n_tags + w->n_tags) * sizeof(*nt));
		size_t n = g->n_tags;
		if (!nt)
			return -ENOMEM;
		memcpy(nt, g->tags, n * sizeof(*nt));
		for (size_t t = 0; t < w->n_tags; t++) {
			bool dup = false;
			for (size_t k = 0; k < n && !dup; k++)
				dup = !strcmp(nt[k], w->tags[t]);
			if (!dup)
				nt[n++] = w->tags[t];
		}
		if (g->tags_owned)
			free((void *)(uintptr_t)g->tags);
		g->tags = nt;
		g->n_tags = n;
		g->tags_owned = true;
	}
	return 0;
}

/* A request; the next token (REQ_LIST) is copied. NULL without memory. */
static struct req *req_new(struct cycle *c, size_t group, enum req_kind kind, size_t first_tag,
			   const char *next_token)
{
	struct req *r = calloc(1, sizeof(*r));

	if (!r || (next_token && !(r->next_token = strdup(next_token)))) {
		free(r);
		return NULL;
	}
	r->c = c;
	r->group = group;
	r->kind = kind;
	r->first_tag = first_tag;
	return r;
}

/* Queues a request beyond the cycle's first ones. Returns 0 or -ENOMEM. */
static int enqueue(struct cycle *c, size_t group, enum req_kind kind, size_t first_tag,
		   const char *next_token)
{
	struct req *r = req_new(c, group, kind, first_tag, next_token);

	if (!r)
		return -ENOMEM;
	c->groups[group].pending++;
	r->next = c->queue;
	c->queue = r;
	return 0;
}

/* The request's body into wt->body; 0 or -ENOMEM. */
static int req_body(const struct req *r)
{
	const struct group *g = &r->c->groups[r->group];
	size_t n = 0;

	if (r->kind != REQ_LIST)
		n = g->n_tags - r->first_tag < TAGS_PER_CALL ? g->n_tags - r->first_tag
							     : TAGS_PER_CALL;
	return images_request(&r->c->w->body, (enum images_call)r->kind, g->repository,
			      g->registry_id, g->tags + r->first_tag, n, r->next_token) < 0
		   ? -ENOMEM
		   : 0;
}

/* The reader of the request's 2xx reply (aws_call_spec.reader): into the group's images at once,
 * without a tree. A reply it refuses (not a JSON object) has added nothing and becomes a
 * MalformedResponse, retried as before; one it accepts ends the call, so it fills once. */
static int read_reply(const char *body, size_t len, void *ud, char *why, size_t why_len)
{
	struct req *r = ud;
	struct group *g = &r->c->groups[r->group];
	struct images *seen = g->seen ? g->seen : (g->seen = calloc(1, sizeof(*g->seen)));

	free(r->answer.next_token);
	r->answer.next_token = NULL;
	if (!seen) {
		/* no room for what it says: the reply is taken (not a malformed one to ask
		 * again), and the repository fails this cycle as out of memory (reply_unread) */
		r->read = -ENOMEM;
		return 0;
	}
	if (r->kind == REQ_LIST)
		r->read = images_read_list(seen, body, len, &r->answer, why, why_len);
	else if (r->kind == REQ_BATCH)
		r->read = images_read_batch(seen, body, len, &r->answer, why, why_len);
	else
		r->read = images_read_lookup(seen, body, len, &r->answer, why, why_len);
	return r->read == -EBADMSG ? -EBADMSG : 0;
}

/* A cycle's first requests, counted at its start: a lookup for each TAGS_PER_CALL fixed tags of a
 * repository, and the first page of every image for a glob or semver rule (more pages are added
 * as they are found). */
static void count_first_requests(struct cycle *c)
{
	for (size_t i = 0; i < c->n_groups; i++) {
		struct group *g = &c->groups[i];
		int n = (int)((g->n_tags + TAGS_PER_CALL - 1) / TAGS_PER_CALL) + g->want_images;

		g->pending += n;
		c->minimum += n;
	}
}

/*
 * The cycle's next first request (counted in its group's pending already), made now: a cycle
 * holds the requests in flight, not one for each repository from its start. Returns false when
 * there is none left; *ret NULL without memory (the caller fails group *ret_group then).
 *
 * Fixed tags are looked up with DescribeImages, which answers digests without manifests (a
 * fraction of BatchGetImage's reply) but fails whole when one tag is missing. A repository with a
 * missing tag is asked with BatchGetImage instead, which reports it per image, until every tag of
 * it exists again: one extra request on the cycle a tag goes missing, none after.
 */
static bool next_first_request(struct cycle *c, struct req **ret, size_t *ret_group)
{
	while (c->gen_group < c->n_groups) {
		size_t gi = c->gen_group, t = c->gen_tag;
		struct group *g = &c->groups[gi];

		*ret_group = gi;
		if (t < g->n_tags) {
			bool batch = strmap_get(c->w->batch_repos, g->key) != NULL;
			c->gen_tag = t + TAGS_PER_CALL;
			*ret = req_new(c, gi, batch ? REQ_BATCH : REQ_LOOKUP, t, NULL);
			return true;
		}
		c->gen_group++;
		c->gen_tag = 0;
		if (g->want_images) {
			*ret = req_new(c, gi, REQ_LIST, 0, NULL);
			return true;
		}
	}
	return false;
}

static void pump(struct cycle *c);
static void cycle_done(struct cycle *c);
static void group_done(struct cycle *c, size_t gi);

/* Records why the group could not be read (the first reason wins); NULL when it has one. */
static struct group_failure *group_failed(struct group *g)
{
	if (g->fail)
		return NULL;
	g->fail = calloc(1, sizeof(*g->fail));
	if (!g->fail)
		g->fail = &no_memory;
	return g->fail == &no_memory ? NULL : g->fail;
}

static void group_fail(struct group *g, const struct aws_result *res, const char *operation)
{
	struct group_failure *f = group_failed(g);

	if (!f)
		return;
	snprintf(f->code, sizeof(f->code), "%s", res->err.code);
	snprintf(f->operation, sizeof(f->operation), "%s", operation);
	snprintf(f->request_id, sizeof(f->request_id), "%s", res->err.request_id);
	snprintf(f->error, sizeof(f->error), "%s: %s", res->err.code, res->err.message);
}

static void group_fail_text(struct group *g, const char *code, const char *operation,
			    const char *why)
{
	struct group_failure *f = g->fail;

	snprintf(f->code, sizeof(f->code), "%s", code);
	snprintf(f->operation, sizeof(f->operation), "%s", operation);
	snprintf(f->error, sizeof(f->error), "%s", why);
}

static const char *operation_of(enum req_kind k)
{
	return k == REQ_BATCH ? "BatchGetImage" : "DescribeImages";
}

/* A reply that could not be read whole (r < 0) fails the repository this cycle. */
static void reply_unread(struct group *g, enum req_kind kind, int r)
{
	char why[128];

	if (r >= 0 || !group_failed(g))
		return;
	if (r == -E2BIG)
		snprintf(why, sizeof(why), "more than %d tagged images listed", IMAGES_MAX);
	else
		snprintf(why, sizeof(why), "out of memory while reading the reply");
	group_fail_text(g, r == -E2BIG ? "TooManyImages" : "OutOfMemory", operation_of(kind), why);
}

/* The registry of watches that name none is the caller's account: ECR says it in each image's
 * registryId (checked by the reader: 12 digits). Events of other accounts are then told apart. */
static void learn_account(struct watcher *wt, const struct images_reply *answer)
{
	if (*answer->account)
		memcpy(wt->own_account, answer->account, sizeof(wt->own_account));
}

static void on_reply(struct aws_result *res, void *userdata)
{
	struct req *r = userdata;
	struct cycle *c = r->c;
	struct group *g = &c->groups[r->group];

	/* Off the running list. */
	if (r->prev)
		r->prev->next = r->next;
	else
		c->running = r->next;
	if (r->next)
		r->next->prev = r->prev;
	c->in_flight--;
	if (res->ok && !g->registry_id && !*c->w->own_account)
		learn_account(c->w, &r->answer);
	if (!res->ok && r->kind == REQ_LOOKUP && !strcmp(res->err.code, "ImageNotFoundException")) {
		/* A tag is missing: ask again with BatchGetImage, which says which. */
		strmap_put(c->w->batch_repos, g->key, (void *)1, NULL);
		if (enqueue(c, r->group, REQ_BATCH, r->first_tag, NULL) < 0 && group_failed(g))
			group_fail_text(g, "OutOfMemory", "BatchGetImage",
					"out of memory while asking again");
	} else if (!res->ok) {
		group_fail(g, res, operation_of(r->kind));
	} else if (r->kind == REQ_LIST) {
		const char *next = r->answer.next_token;
		int read = r->read;
		if (read < 0) {
			reply_unread(g, r->kind, read);
		} else if (next && ++g->pages >= PAGES_MAX) {
			char why[160];
			snprintf(why, sizeof(why),
				 "ECR kept answering with a next page past %d pages; the "
				 "repository is not read this cycle",
				 PAGES_MAX);
			if (group_failed(g))
				group_fail_text(g, "TooManyPages", "DescribeImages", why);
		} else if (next && enqueue(c, r->group, REQ_LIST, 0, next) == 0)
			c->minimum++;
		else if (next && group_failed(g))
			group_fail_text(g, "OutOfMemory", "DescribeImages",
					"out of memory while asking for the next page");
	} else if (r->kind == REQ_BATCH) {
		g->batch = true;
		reply_unread(g, r->kind, r->read);
	} else {
		reply_unread(g, r->kind, r->read);
	}
	size_t gi = r->group;
	req_free(r);
	if (--g->pending == 0)
		group_done(c, gi);
	pump(c);
}

/* Starts queued requests up to the cap; ends the cycle when nothing is left. */
static void pump(struct cycle *c)
{
	int cap = c->cfg->max_requests_in_flight;

	while (c->in_flight < cap) {
		struct req *r = c->queue;
		size_t first_of;
		if (r) {
			c->queue = r->next;
		} else if (!next_first_request(c, &r, &first_of)) {
			break;
		} else if (!r) {
			/* no room for it: its repository fails this cycle as out of memory */
			struct group *g = &c->groups[first_of];
			if (group_failed(g))
				group_fail_text(g, "OutOfMemory", "DescribeImages",
						"out of memory while starting a request");
			if (--g->pending == 0)
				group_done(c, first_of);
			continue;
		}
		struct group *g = &c->groups[r->group];
		struct aws_call_spec spec = { .service = &aws_ecr,
					      .operation = operation_of(r->kind),
					      .region = g->region,
					      .reader = read_reply,
					      .reader_ud = r };
		int started = -1;
		if (!g->fail && req_body(r) < 0 && group_failed(g))
			group_fail_text(g, "OutOfMemory", operation_of(r->kind),
					"out of memory while building the request");
		spec.body = c->w->body.buf;
		spec.body_len = c->w->body.len;
		if (!g->fail)
			started = aws_call(c->w->deps.aws, &spec, on_reply, r, &r->call);
		if (started < 0) {
			if (!g->fail && group_failed(g)) {
				char why[128];
				bool endpoint = started == -EINVAL; /* else out of memory */
				snprintf(why, sizeof(why), "%s '%s'",
					 endpoint
					     ? "no ECR endpoint for region"
					     : "out of memory while starting a request in region",
					 g->region);
				group_fail_text(g, endpoint ? "EndpointError" : "OutOfMemory",
						operation_of(r->kind), why);
			}
			size_t gi = r->group;
			req_free(r);
			if (--g->pending == 0)
				group_done(c, gi);
			continue;
		}
		r->prev = NULL;
		r->next = c->running;
		if (c->running)
			c->running->prev = r;
		c->running = r;
		c->in_flight++;
		c->requests++;
	}
	if (!c->queue && c->in_flight == 0 && c->gen_group >= c->n_groups)
		cycle_done(c);
}

/* ---- evaluation ---------------------------------------------------------- */

/* What happens next to what a cycle could not see: a message never promises a cycle that --once
 * does not run. */
static const char *again_words(const struct watcher *wt)
{
	return wt->deps.once ? "--once: not checked again" : "checking again every poll";
}

/* One sighting of (watch, tag): tag_key is the tag, or "*" for the pick of a glob or semver rule.
 * Returns 1 when the digest moved since the last sighting, 0 when it did not (or is seen for the
 * first time), -1 when there is none. */
static int observe(struct watcher *wt, struct strmap *missing_next, const struct config_watch *w,
		   const struct group *g, const char *tag_key, const char *tag, const char *digest)
{
	const char *tag_error = tag && !digest ? strmap_get(seen_of(g)->tag_errors, tag) : NULL;
	struct state *st = wt->deps.state;
	/* compared as bytes; the text of the one before is written out only when it moved */
	int same = digest ? state_seen_is(st, w->name, tag_key, digest) : -1;
	const char *prev = same == 0 ? state_seen(st, w->name, tag_key) : NULL;
	if (same == 0 && !prev)
		same = -1; /* (a hand-made entry without a digest: a first sighting, as before) */
	const char *repo = w->repository;
	const char *again = again_words(wt);
	char mkey[512];

	if (!digest) {
		snprintf(mkey, sizeof(mkey), "%s\x1f%s", w->name, tag_key);
		strmap_put(missing_next, mkey, (void *)1, NULL);
		if (strmap_get(wt->missing, mkey))
			return -1; /* said already */
		if (tag_error)
			log_at(LOG_WARNING, NULL,
			       LOG_FIELDS({ "WATCH", w->name }, { "ECR_REPOSITORY", repo },
					  { "IMAGE_TAG", tag }),
			       "watch '%s': tag '%s' of '%s' cannot be read: %s; %s", w->name, tag,
			       repo, tag_error, again);
		else if (tag)
			log_at(LOG_WARNING, NULL,
			       LOG_FIELDS({ "WATCH", w->name }, { "ECR_REPOSITORY", repo },
					  { "IMAGE_TAG", tag }),
			       "watch '%s': tag '%s' of '%s' does not exist in ECR (yet); %s",
			       w->name, tag, repo, again);
		else
			log_at(LOG_WARNING, NULL,
			       LOG_FIELDS({ "WATCH", w->name }, { "ECR_REPOSITORY", repo }),
			       "watch '%s': no tag of '%s' matches its rule (yet); %s", w->name,
			       repo, again);
		return -1;
	}
	if (same < 0) {
		log_at(LOG_INFO, NULL,
		       LOG_FIELDS({ "WATCH", w->name }, { "ECR_REPOSITORY", repo },
				  { "IMAGE_TAG", tag }, { "IMAGE_DIGEST", digest }),
		       "watch '%s': '%s:%s' is at %s", w->name, repo, tag, digest);
	} else if (same == 0) {
		log_at(LOG_NOTICE, EVENT_DETECTED,
		       LOG_FIELDS({ "WATCH", w->name }, { "ECR_REPOSITORY", repo },
				  { "IMAGE_TAG", tag }, { "IMAGE_DIGEST", digest },
				  { "PREVIOUS_DIGEST", prev }, { "ECR_REGISTRY", g->registry_id },
				  { "ECR_REGION", g->region }),
		       "watch '%s': new digest of '%s:%s': %s", w->name, repo, tag, digest);
	}
	int moved = same == 0; /* prev is gone after the update */
	if (same == 1 && strcmp(tag_key, "*") != 0)
		return 0; /* (state_set_seen() would change nothing) */
	if (state_set_seen(st, w->name, tag_key, digest, strcmp(tag_key, "*") ? NULL : tag) < 0)
		log_error("out of memory while recording a sighting of '%s:%s'", repo, tag);
	return moved;
}

/* ECR answered value, which is not a digest, for the watch's tag: refused by name (log_event
 * escapes it), once while ECR keeps answering the same; nothing of it is recorded. */
static void refuse_digest(struct watcher *wt, struct strmap *bad_next, const struct config_watch *w,
			  const char *tag, const char *value)
{
	const char *said;
	char key[512], *copy = strdup(value);
	void *old = NULL;

	snprintf(key, sizeof(key), "%s\x1f%s", w->name, tag);
	said = strmap_get(wt->bad, key);
	bool again = said && !strcmp(said, value);
	/* bad_next is wt->bad itself for a partial read: said is read before it is replaced */
	if (!copy || strmap_put(bad_next, key, copy, &old) < 0)
		free(copy);
	free(old);
	if (again)
		return;
	log_at(
	    LOG_ERR, EVENT_POLL_FAILED,
	    LOG_FIELDS({ "WATCH", w->name }, { "ECR_REPOSITORY", w->repository },
		       { "IMAGE_TAG", tag }, { "REASON", "invalid-digest" }),
	    "watch '%s': ECR answered '%.200s'%s as the digest of '%s:%s', which is not an image "
	    "digest (sha256: and 64 lowercase hex digits); the tag is ignored until ECR answers "
	    "one, %s",
	    w->name, value, strlen(value) > 200 ? " (cut)" : "", w->repository, tag,
	    again_words(wt));
}

/* Records what the watch deploys now: tag's digest, pinned to the repository's URI. Returns
 * whether that changed (the deployer has something to decide). */
static bool want(struct watcher *wt, const struct config_watch *w, const struct group *g,
		 const char *tag, const char *digest)
{
	const char *registry = g->registry_id ? g->registry_id : seen_of(g)->registry;
	char image[512];
	int r;

	if (!*registry)
		return false; /* no image seen yet, so no account to name */
	snprintf(image, sizeof(image), "%s.dkr.ecr.%s.%s/%s", registry, g->region,
		 endpoint_dns_suffix(g->region), w->repository);
	if ((r = state_set_want(wt->deps.state, w->name, tag, digest, image)) < 0)
		log_error("watch '%s': what it deploys cannot be recorded: %s", w->name,
			  strerror(-r));
	return r != 0;
}

/* The key a failure is remembered under: a credentials failure is one problem, not one per
 * repository, so it is reported once for all of them. */
static const char *failure_key(const struct group *g)
{
	return g->fail && !strcmp(g->fail->code, "CredentialsError") ? "(credentials)" : g->key;
}

static void report_group(struct watcher *wt, struct strmap *errors_next, const struct group *g)
{
	const char *key = failure_key(g);
	const char *prev = strmap_get(wt->group_errors, key);
	const char *prev_creds = strmap_get(wt->group_errors, "(credentials)");
	const struct group_failure *f = g->fail;
	char then[64];

	if (!f) {
		if (prev && !strmap_get(errors_next, "(recovered)")) /* said per repository */
			log_at(LOG_NOTICE, NULL, LOG_FIELDS({ "ECR_REPOSITORY", g->repository }),
			       "polling '%s' works again", g->repository);
		if (prev_creds && !strmap_get(errors_next, "(credentials ok)")) {
			log_notice("AWS credentials work again; polling resumed");
			strmap_put(errors_next, "(credentials ok)", strdup("1"), NULL);
		}
		return;
	}
	if (strmap_get(errors_next, key))
		return; /* this cycle's report was made by another repository */
	char *copy = strdup(f->code);
	if (!copy || strmap_put(errors_next, key, copy, NULL) < 0) {
		free(copy);
		return;
	}
	if (prev && !strcmp(prev, f->code))
		return; /* reported when it started */
	if (wt->deps.once)
		snprintf(then, sizeof(then), "--once: not retried");
	else
		snprintf(then, sizeof(then), "trying again in %llus",
			 (unsigned long long)((*wt->deps.cfg)->poll_interval_ms / 1000));
	if (key != g->key)
		log_at(LOG_ERR, EVENT_POLL_FAILED,
		       LOG_FIELDS({ "AWS_OPERATION", f->operation }, { "AWS_ERROR_CODE", f->code }),
		       "polling failed: no usable AWS credentials: %s; %s", f->error, then);
	else
		log_at(LOG_ERR, EVENT_POLL_FAILED,
		       LOG_FIELDS({ "ECR_REPOSITORY", g->repository },
				  { "AWS_OPERATION", f->operation }, { "AWS_ERROR_CODE", f->code },
				  { "AWS_REQUEST_ID", *f->request_id ? f->request_id : NULL },
				  { "ECR_REGION", g->region }),
		       "polling '%s' failed: %s; %s", g->repository, f->error, then);
}

static void schedule(struct watcher *wt, const struct timespec *started)
{
	const struct config *cfg = *wt->deps.cfg;
	struct timespec now;
	double elapsed, delay;

	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed =
	    (double)(now.tv_sec - started->tv_sec) + (double)(now.tv_nsec - started->tv_nsec) / 1e9;
	delay = (double)cfg->poll_interval_ms / 1000.0 - elapsed;
	if (delay < 0)
		delay = 0;
	if (cfg->jitter_ms)
		delay += (double)(rand_r(&wt->rng) % (cfg->jitter_ms + 1)) / 1000.0;
	ev_timer_stop(wt->deps.loop, &wt->timer);
	ev_timer_set(&wt->timer, delay, 0.0);
	ev_timer_start(wt->deps.loop, &wt->timer);
}

static void save_state(struct watcher *wt)
{
	char why[600];

	if (state_save(wt->deps.state, why, sizeof(why)) == 0) {
		if (wt->state_error) {
			log_notice("the state file '%s' is written again",
				   state_path(wt->deps.state));
			wt->state_error = false;
		}
		return;
	}
	if (!wt->state_error)
		log_at(LOG_ERR, NULL, LOG_FIELDS({ "STATE_FILE", state_path(wt->deps.state) }),
		       "%s; what was seen is kept in memory and written %s", why,
		       wt->deps.once ? "again at exit" : "after the next poll");
	wt->state_error = true;
}

/* Every request of a repository is answered: what its watches follow is known now, so it can be
 * deployed without waiting for the rest of the cycle. */
static void evaluate_group(struct cycle *c, size_t gi)
{
	struct watcher *wt = c->w;
	struct strmap *missing = c->missing_next;
	const struct group *g = &c->groups[gi];
	const struct images *seen = seen_of(g);

	if (wt->deps.polled)
		wt->deps.polled(g->repository, g->region, !g->fail, g->fail ? g->fail->error : NULL,
				wt->deps.userdata);
	if (!missing || !c->errors_next || !c->bad_next)
		return;
	report_group(wt, c->errors_next, g);
	for (size_t i = g->first_watch; i != NO_WATCH; i = c->next_watch[i]) {
		const struct config_watch *w = &c->cfg->watches[i];
		bool pick = w->rule == TAG_GLOB || w->rule == TAG_SEMVER, changed = false;
		if (g->fail) {
			/* Nothing new can be said; what was missing stays reported. */
			for (size_t t = 0; t < (pick ? 1 : w->n_tags); t++) {
				char mkey[512];
				snprintf(mkey, sizeof(mkey), "%s\x1f%s", w->name,
					 pick ? "*" : w->tags[t]);
				if (strmap_get(wt->missing, mkey))
					strmap_put(missing, mkey, (void *)1, NULL);
			}
			continue;
		}
		if (pick) {
			const char *tag = NULL, *digest = NULL;
			for (size_t b = 0; b < seen->n_bad; b++)
				if (images_rule_matches(w, seen->bad[b].tag))
					refuse_digest(wt, c->partial ? wt->bad : c->bad_next, w,
						      seen->bad[b].tag, seen->bad[b].value);
			images_pick(seen, w, &tag, &digest);
			if (observe(wt, missing, w, g, "*", tag, digest) >= 0)
				changed = want(wt, w, g, tag, digest);
		} else {
			/* A tag list deploys the tag that moved, the first listed winning;
			 * before anything moved, the first listed tag that exists. */
			size_t pick_t = w->n_tags;
			bool moved = false;
			for (size_t t = 0; t < w->n_tags; t++) {
				const char *bad = images_bad_digest(seen, w->tags[t]);
				if (bad) {
					refuse_digest(wt, c->partial ? wt->bad : c->bad_next, w,
						      w->tags[t], bad);
					continue;
				}
				int r = observe(wt, missing, w, g, w->tags[t], w->tags[t],
						images_digest(seen, w->tags[t]));
				if (r == 1 && !moved) {
					pick_t = t;
					moved = true;
				} else if (r == 0 && pick_t == w->n_tags) {
					pick_t = t;
				}
			}
			if (pick_t < w->n_tags &&
			    (moved || w->n_tags == 1 || !state_want(wt->deps.state, w->name, NULL)))
				changed = want(wt, w, g, w->tags[pick_t],
					       images_digest(seen, w->tags[pick_t]));
		}
		/* A quiet read tells nobody: the deployer decided on this want already (or is told
		 * by what else changed: deployer_cycle_done()). */
		if (changed)
			wt->deps.moved(w->name, wt->deps.userdata);
	}
}

/* The group is evaluated as soon as it is read; what ECR answered is dropped then (but its count
 * of per-image failures, which the end of the cycle reads), so that a cycle holds the images of
 * the repositories in flight only, not of every repository. */
static void group_done(struct cycle *c, size_t gi)
{
	struct group *g = &c->groups[gi];

	evaluate_group(c, gi);
	g->tag_failures = g->seen ? g->seen->tag_failures : 0;
	images_done(g->seen);
	free(g->seen);
	g->seen = NULL;
}

/* A partial read updates what is reported of its repositories and watches only. */
static void merge_reports(struct cycle *c)
{
	struct watcher *wt = c->w;
	bool any_ok = false;

	for (size_t i = 0; i < c->n_groups; i++) {
		const struct group *g = &c->groups[i];
		char *code = strmap_get(c->errors_next, g->key), *copy = code ? strdup(code) : NULL;
		void *old = NULL;
		any_ok = any_ok || !g->fail;
		if (strmap_put(wt->group_errors, g->key, copy, &old) < 0)
			free(copy);
		free(old);
		for (size_t k = g->first_watch; k != NO_WATCH; k = c->next_watch[k]) {
			const struct config_watch *w = &c->cfg->watches[k];
			bool pick = w->rule == TAG_GLOB || w->rule == TAG_SEMVER;
			for (size_t t = 0; t < (pick ? 1 : w->n_tags); t++) {
				char mkey[512];
				snprintf(mkey, sizeof(mkey), "%s\x1f%s", w->name,
					 pick ? "*" : w->tags[t]);
				strmap_put(wt->missing, mkey, strmap_get(c->missing_next, mkey),
					   NULL);
			}
		}
	}
	/* Credentials: a failure is said by any read, a recovery by a read that worked. */
	char *creds = strmap_get(c->errors_next, "(credentials)");
	if (creds || any_ok) {
		char *copy = creds ? strdup(creds) : NULL;
		void *old = NULL;
		if (strmap_put(wt->group_errors, "(credentials)", copy, &old) < 0)
			free(copy);
		free(old);
	}
	/* Malformed digests refused by a partial read went to wt->bad directly (refuse_digest). */
}

/* The hints a read of group g answered: each ticket is resolved when every repository it named
 * has been read (ok) or when one could not be (not ok). */
static void resolve_hints(struct watcher *wt, const char *key, uint64_t upto, bool ok)
{
	for (struct hint **p = &wt->hints; *p;) {
		struct hint *h = *p;
		if (h->ticket > upto || strcmp(h->key, key)) {
			p = &h->next;
			continue;
		}
		uint64_t ticket = h->ticket;
		*p = h->next;
		free(h->key);
		free(h);
		bool others = false;
		for (struct hint **q = &wt->hints; *q;) {
			if ((*q)->ticket != ticket) {
				q = &(*q)->next;
				continue;
			}
			if (ok) {
				others = true;
				break;
			}
			struct hint *x =
			    *q; /* the ticket failed: its other reads no longer matter */
			if (p == &x->next)
				p = q;
			*q = x->next;
			free(x->key);
			free(x);
		}
		if (!others && wt->deps.hinted)
			wt->deps.hinted(ticket, ok, wt->deps.userdata);
	}
}

/* Whether cycle c (NULL: none) reads the repository of group key. */
static bool reads(const struct cycle *c, const char *key)
{
	for (size_t i = 0; c && i < c->n_groups; i++)
		if (!strcmp(c->groups[i].key, key))
			return true;
	return false;
}

/* A read ended (its state saved): the hints it answers are resolved, ok when the repository was
 * read whole and saved; then the hints given before it started that no read in progress takes
 * named repositories no watch reads any more. */
static void answer_hints(struct cycle *c)
{
	struct watcher *wt = c->w;
	const struct cycle *other = c->partial ? wt->cycle : wt->partial;

	for (size_t i = 0; i < c->n_groups; i++) {
		const struct group *g = &c->groups[i];
		if (g->ticket)
			resolve_hints(wt, g->key, g->ticket,
				      !g->fail && !g->tag_failures && !wt->state_error);
	}
	for (struct hint *h = wt->hints; h;) {
		if (h->ticket > c->ticket_at_start || reads(other, h->key) ||
		    strmap_get(wt->hinted, h->key)) {
			h = h->next;
			continue;
		}
		char *key = strdup(h->key);
		if (!key)
			return;
		resolve_hints(wt, key, c->ticket_at_start, true);
		free(key);
		h = wt->hints; /* the list changed: from the start (each pass removes one) */
	}
}

static void start_cycle(struct watcher *wt, bool partial);

static void cycle_done(struct cycle *c)
{
	struct watcher *wt = c->w;

	if (c->partial) {
		merge_reports(c);
		save_state(wt);
		answer_hints(c);
		log_at(LOG_DEBUG, NULL, NULL, "read %zu hinted repositories (%ld requests)",
		       c->n_groups, c->requests);
		wt->partial = NULL;
		cycle_free(c);
		if (wt->n_hinted) {
			ev_timer_stop(wt->deps.loop, &wt->hint_timer);
			ev_timer_set(&wt->hint_timer, 0.0, 0.0);
			ev_timer_start(wt->deps.loop, &wt->hint_timer);
		}
		/* No deps.cycle_done: the watches it read were told (moved); a pass over every
		 * watch per event would cost what the event saves. */
		return;
	}

	for (size_t i = 0; i < c->n_groups; i++) {
		const struct group *g = &c->groups[i];
		if (g->batch && !g->fail && !g->tag_failures)
			strmap_put(wt->batch_repos, g->key, NULL, NULL); /* every tag is back */
	}
	if (c->missing_next && c->errors_next && c->bad_next) {
		strmap_free(wt->bad, free);
		wt->bad = c->bad_next;
		c->bad_next = NULL;
		strmap_free(wt->missing, NULL);
		wt->missing = c->missing_next;
		c->missing_next = NULL;
		strmap_free(wt->group_errors, free);
		wt->group_errors = c->errors_next;
		c->errors_next = NULL;
	}
	save_state(wt);
	remember_cycle(wt, c);
	wt->cycles++;
	wt->failing = 0;
	for (size_t i = 0; i < c->n_groups; i++)
		wt->failing += (c->groups[i].fail != NULL);
	log_at(LOG_DEBUG, NULL, NULL,
	       "poll cycle: %zu watches, %zu repositories, %ld requests (minimum %ld)",
	       c->cfg->n_watches, c->n_groups, c->requests, c->minimum);
	{
		size_t tags = 0, failing = 0;
		char when[16];
		time_t now = time(NULL);
		struct tm tm;
		for (size_t i = 0; i < c->n_groups; i++) {
			tags += c->groups[i].n_tags + (c->groups[i].want_images ? 1 : 0);
			failing += (c->groups[i].fail != NULL);
		}
		localtime_r(&now, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		snprintf(wt->status, sizeof(wt->status),
			 "watching %zu tag rules in %zu repositories; last poll at %s (%ld "
			 "requests); %zu repositories failing",
			 tags, c->n_groups, when, c->requests, failing);
	}
	answer_hints(c);
	struct timespec started = c->started;
	wt->cycle = NULL;
	cycle_free(c);
	if (!wt->deps.once)
		schedule(wt, &started);
	if (wt->n_hinted && !wt->partial) {
		ev_timer_stop(wt->deps.loop, &wt->hint_timer);
		ev_timer_set(&wt->hint_timer, 0.0, 0.0);
		ev_timer_start(wt->deps.loop, &wt->hint_timer);
	}
	wt->deps.cycle_done(wt->deps.userdata);
}

static void start_cycle(struct watcher *wt, bool partial)
{
	struct cycle *c = calloc(1, sizeof(*c));
	struct strmap *index = strmap_new();

	if (!partial)
		wt->ran = true;
	if (!c || !index) {
		free(c);
		strmap_free(index, NULL);
		if (wt->deps.once) {
			/* The one cycle is over, failed: the caller may finish. */
			log_error(
			    "cannot start the poll cycle: out of memory; --once: not retried");
			wt->cycles++;
			wt->failing = 1;
			wt->deps.cycle_done(wt->deps.userdata);
			return;
		}
		log_error("cannot start a poll cycle: out of memory; trying again in 10s");
		ev_timer_set(&wt->timer, 10.0, 0.0);
		ev_timer_start(wt->deps.loop, &wt->timer);
		return;
	}
	c->w = wt;
	c->partial = partial;
	c->ticket_at_start = wt->last_ticket;
	c->cfg = config_ref(*wt->deps.cfg);
	c->missing_next = strmap_new();
	c->errors_next = strmap_new();
	c->bad_next = strmap_new();
	clock_gettime(CLOCK_MONOTONIC, &c->started);
	if (partial)
		wt->partial = c;
	else
		wt->cycle = c;
	if (plan(c, index) < 0) {
		log_error(
		    "poll cycle: out of memory while planning; some repositories are skipped");
		/* nothing is asked (a group planned in part lacks a watch's tags), as before */
		c->gen_group = c->n_groups;
	} else {
		count_first_requests(c);
	}
	strmap_free(index, NULL);
	/* Every hinted repository a watch still reads is in this plan; one that is not is watched
	 * no more (a reload in between): nothing waits for a read any longer. */
	strmap_free(wt->hinted, NULL);
	wt->hinted = strmap_new();
	wt->n_hinted = 0;
	pump(c);
}

static void on_timer(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct watcher *wt = t->data;

	(void)loop;
	(void)revents;
	if (!wt->cycle && !(wt->deps.once && wt->ran))
		start_cycle(wt, false);
}

static void on_hint_timer(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct watcher *wt = t->data;

	(void)loop;
	(void)revents;
	if (!wt->partial && wt->n_hinted)
		start_cycle(wt, true);
}

/* Whether account is the watch's registry: its registry_id, or for a watch naming none the
 * caller's account once ECR said it (before that, any account: an extra read at worst). */
static bool same_registry(const struct watcher *wt, const struct config_watch *w,
			  const char *account)
{
	if (w->registry_id)
		return !strcmp(w->registry_id, account);
	return !*wt->own_account || !strcmp(wt->own_account, account);
}

/* Whether tag is one the watch follows. */
static bool follows(const struct config_watch *w, const char *tag)
{
	if (w->rule == TAG_GLOB || w->rule == TAG_SEMVER)
		return images_rule_matches(w, tag);
	for (size_t t = 0; t < w->n_tags; t++)
		if (!strcmp(w->tags[t], tag))
			return true;
	return false;
}

const char *watcher_follows(const struct watcher *wt, const char *account, const char *region,
			    const char *repository, const char *tag)
{
	const struct config *cfg = *wt->deps.cfg;

	if (!tag || !*tag)
		return NULL;
	for (size_t i = 0; i < cfg->n_watches; i++) {
		const struct config_watch *w = &cfg->watches[i];
		if (!strcmp(w->repository, repository) &&
		    !strcmp(watch_region(w, wt->deps.region), region) &&
		    same_registry(wt, w, account) && follows(w, tag))
			return w->name;
	}
	return NULL;
}

int watcher_hint(struct watcher *wt, const char *account, const char *region,
		 const char *repository, const char *tag, uint64_t *ticket)
{
	const struct config *cfg = *wt->deps.cfg;
	uint64_t t = wt->last_ticket + 1;
	int n = 0;

	*ticket = 0;
	if (!tag || !*tag)
		return 0;
	if (!wt->hinted && !(wt->hinted = strmap_new()))
		return -ENOMEM; /* the message is left to come back */
	wt->last_ticket = t;    /* used even if this fails part way: never given twice */
	for (size_t i = 0; i < cfg->n_watches; i++) {
		const struct config_watch *w = &cfg->watches[i];
		if (strcmp(w->repository, repository) ||
		    strcmp(watch_region(w, wt->deps.region), region) ||
		    !same_registry(wt, w, account) || !follows(w, tag))
			continue;
		char *key = group_key(w->registry_id ? w->registry_id : "",
				      watch_region(w, wt->deps.region), w->repository);
		struct hint *h = calloc(1, sizeof(*h)), **end = &wt->hints;
		if (!key || !h) {
			free(key);
			free(h);
			return -ENOMEM;
		}
		bool dup = false;
		for (; *end; end = &(*end)->next)
			dup = dup || ((*end)->ticket == t && !strcmp((*end)->key, key));
		if (dup) {
			free(key);
			free(h);
			continue;
		}
		if (!strmap_get(wt->hinted, key))
			wt->n_hinted++;
		if (strmap_put(wt->hinted, key, (void *)(uintptr_t)t, NULL) < 0) {
			free(key);
			free(h);
			return -ENOMEM;
		}
		h->ticket = t;
		h->key = key;
		*end = h;
		n++;
	}
	if (!n)
		return 0;
	*ticket = t;
	if (!wt->partial && !ev_is_active(&wt->hint_timer)) {
		ev_timer_set(&wt->hint_timer, 0.0, 0.0);
		ev_timer_start(wt->deps.loop, &wt->hint_timer);
	}
	return n;
}

struct watcher *watcher_new(const struct watcher_deps *deps)
{
	struct watcher *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->deps = *deps;
	/* 100 tags of 128 bytes, escaped, or a page's token: a request is far smaller */
	strbuf_init(&w->body, 1 << 20);
	w->missing = strmap_new();
	w->group_errors = strmap_new();
	w->batch_repos = strmap_new();
	w->bad = strmap_new();
	w->hinted = strmap_new();
	ev_timer_init(&w->hint_timer, on_hint_timer, 0.0, 0.0);
	w->hint_timer.data = w;
	w->rng = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)w;
	ev_timer_init(&w->timer, on_timer, 0.0, 0.0);
	w->timer.data = w;
	if (!w->missing || !w->group_errors || !w->batch_repos || !w->bad || !w->hinted) {
		watcher_free(w);
		return NULL;
	}
	return w;
}

void watcher_free(struct watcher *w)
{
	if (!w)
		return;
	ev_timer_stop(w->deps.loop, &w->timer);
	ev_timer_stop(w->deps.loop, &w->hint_timer);
	cycle_free(w->cycle);
	cycle_free(w->partial);
	for (struct hint *h = w->hints; h;) {
		struct hint *n = h->next;
		free(h->key);
		free(h);
		h = n;
	}
	strmap_free(w->hinted, NULL);
	strmap_free(w->missing, NULL);
	strmap_free(w->group_errors, free);
	strmap_free(w->batch_repos, NULL);
	strmap_free(w->bad, free);
	free(w->fails);
	strbuf_done(&w->body);
	free(w);
}

void watcher_start(struct watcher *w)
{
	ev_timer_stop(w->deps.loop, &w->timer); /* an armed timer cannot be set */
	ev_timer_set(&w->timer, 0.0, 0.0);
	ev_timer_start(w->deps.loop, &w->timer);
}

void watcher_config_changed(struct watcher *w)
{
	if (!w->cycle && !(w->deps.once && w->ran))
		watcher_start(w);
	/* else: the cycle in progress ends on the old rules; the next (if any) uses the new */
}

unsigned long watcher_cycles(const struct watcher *w)
{
	return w->cycles;
}

int watcher_failing(const struct watcher *w)
{
	return w->failing;
}

const char *watcher_status(const struct watcher *w)
{
	return *w->status ? w->status : "first poll under way";
}

/* ---- for status ------------------------------------------------------------ */

/* What status says of the cycle that ended: when, and the repositories that failed. */
static void remember_cycle(struct watcher *wt, const struct cycle *c)
{
	size_t n = 0;
	struct watcher_failure *f;

	for (size_t i = 0; i < c->n_groups; i++)
		n += c->groups[i].fail != NULL;
	wt->last_cycle = (double)time(NULL);
	if (!n)
		wt->last_ok = wt->last_cycle;
	free(wt->fails);
	wt->fails = NULL;
	wt->n_fails = 0;
	if (!n || !(f = calloc(n, sizeof(*f))))
		return; /* without memory, status lists none (the count is still right) */
	for (size_t i = 0; i < c->n_groups; i++) {
		const struct group *g = &c->groups[i];
		if (!g->fail)
			continue;
		snprintf(f[wt->n_fails].repository, sizeof(f->repository), "%s", g->repository);
		snprintf(f[wt->n_fails].region, sizeof(f->region), "%s", g->region);
		snprintf(f[wt->n_fails].error, sizeof(f->error), "%s", g->fail->error);
		wt->n_fails++;
	}
	wt->fails = f;
}

double watcher_last_cycle(const struct watcher *w)
{
	return w->last_cycle;
}

double watcher_last_ok(const struct watcher *w)
{
	return w->last_ok;
}

const struct watcher_failure *watcher_failures(const struct watcher *w, size_t *n)
{
	*n = w->n_fails;
	return w->fails;
}

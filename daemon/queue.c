/* SPDX-License-Identifier: MIT */
/*
 * The SQS consumer of push events (queue.h): one long poll per queue on the loop, messages
 * kept until what they caused is durable, deleted in batches of up to ten.
 */
#include "queue.h"

#include <cJSON.h>
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws.h"
#include "config.h"
#include "credentials.h"
#include "event.h"
#include "events.h"
#include "log.h"
#include "strmap.h"

#define WAIT_S           20    /* ReceiveMessage's long poll: the most SQS allows */
#define RECEIVE_TIMEOUT  30000 /* ms per attempt: above the wait, or every long poll is cut */
#define MAX_PENDING      100   /* messages kept per queue before receiving more */
#define RETRY_FIRST_S    1.0
#define RETRY_MAX_S      60.0
#define DELETE_TRIES     5 /* then the message is left to come back (and deleted then) */
#define WARNED_MAX       1024
#define MIN_VISIBILITY_S 5 /* asked for when the queue's own is shorter */

enum msg_state {
	MSG_HINT,   /* waiting for the read of a repository */
	MSG_POKE,   /* waiting for a rollout's look */
	MSG_DELETE, /* to delete */
};

struct msg {
	char id[EVENT_MESSAGE_ID_MAX + 1];
	char receipt[EVENT_RECEIPT_MAX + 1];
	char newer[EVENT_RECEIPT_MAX + 1]; /* received again while a delete was in flight */
	enum msg_state st;
	uint64_t ticket;
	int tries;    /* DeleteMessageBatch attempts that failed */
	bool sending; /* in the DeleteMessageBatch in flight */
	struct msg *next;
};

struct queue {
	struct queues *qs;
	char *url, *region, *name, *role_arn;
	struct cred_provider *creds; /* the assumed role's, or NULL: the daemon's */
	struct aws_call *receive, *remove, *attrs;
	struct ev_timer retry; /* the next ReceiveMessage after a failure */
	struct ev_timer flush; /* the next DeleteMessageBatch */
	struct msg *msgs;
	size_t n_msgs;
	double backoff, flush_backoff;
	bool ok;          /* the last ReceiveMessage was answered */
	bool failing;     /* ReceiveMessage fails (said) */
	bool del_failing; /* DeleteMessageBatch fails (said) */
	int visibility;   /* the queue's VisibilityTimeout (s), -1 unknown */
	char fail_code[128];
	int failures;        /* in a row */
	double last_message; /* ev_now() of the last message, 0: none yet */
	struct msg *batch[10];
	int n_batch;
};

struct queues {
	struct queue_deps d;
	struct queue *q;
	size_t n;
	uint64_t last_poke;
	struct strmap *warned; /* MessageIds said malformed (reset when it grows past WARNED_MAX) */
	bool flowing;
};

static void receive(struct queue *q);
static void flush_soon(struct queue *q, double delay);

static void update_flowing(struct queues *qs)
{
	bool on = false;

	for (size_t i = 0; i < qs->n; i++)
		on = on || (qs->q[i].ok && !qs->q[i].failing);
	if (on != qs->flowing) {
		qs->flowing = on;
		if (qs->d.flowing)
			qs->d.flowing(on, qs->d.userdata);
	}
}

static struct msg *find_msg(struct queue *q, const char *id)
{
	for (struct msg *m = q->msgs; m; m = m->next)
		if (*id && !strcmp(m->id, id))
			return m;
	return NULL;
}

static void drop_msg(struct queue *q, struct msg *gone)
{
	for (struct msg **p = &q->msgs; *p; p = &(*p)->next)
		if (*p == gone) {
			*p = gone->next;
			free(gone);
			q->n_msgs--;
			return;
		}
}

/* A malformed message: said once (by MessageId), then deleted. */
static void malformed(struct queue *q, const struct sqs_message *m, const char *why)
{
	struct queues *qs = q->qs;
	const char *id = *m->id ? m->id : "(none)";

	if (strmap_get(qs->warned, id))
		return;
	if (strmap_size(qs->warned) >= WARNED_MAX) {
		strmap_free(qs->warned, NULL);
		qs->warned = strmap_new();
	}
	if (qs->warned)
		strmap_put(qs->warned, id, (void *)1, NULL);
	log_at(LOG_WARNING, EVENT_MESSAGE_MALFORMED,
	       LOG_FIELDS({ "SQS_QUEUE_URL", q->url }, { "SQS_MESSAGE_ID", id }),
	       "queue '%s': message %s is not an event ecr-deployd can use: %s; %s", q->name, id,
	       why, *m->receipt ? "deleted" : "it has no receipt handle, so it cannot be deleted");
}

/* What one message asks for; returns the state it waits in (MSG_DELETE: nothing to wait for),
 * or -1 to leave it (it comes back after its visibility timeout). */
static int dispatch(struct queue *q, const struct sqs_message *m, uint64_t *ticket)
{
	struct queues *qs = q->qs;
	struct event ev;
	char why[400];
	uint64_t replaced = 0;
	int r;

	if (!m->body || !*m->id) {
		malformed(q, m, !m->body ? "it has no body" : "it has no valid MessageId");
		return MSG_DELETE;
	}
	if (event_parse(m->body, strlen(m->body), &ev, why, sizeof(why)) < 0) {
		malformed(q, m, why);
		return MSG_DELETE;
	}
	switch (ev.kind) {
	case EVENT_ECR_PUSH:
		r = qs->d.hint ? qs->d.hint(&ev, ticket, qs->d.userdata) : 0;
		if (r < 0)
			return -1;
		log_at(LOG_DEBUG, NULL, NULL, "queue '%s': push of '%s:%s' (%s)%s", q->name,
		       ev.repository, ev.tag, ev.digest, r ? ": reading it" : ": not watched");
		return r ? MSG_HINT : MSG_DELETE;
	case EVENT_ECR_DELETE: {
		const char *watch = qs->d.follows ? qs->d.follows(&ev, qs->d.userdata) : NULL;
		if (watch)
			log_at(LOG_NOTICE, EVENT_IMAGE_DELETED,
			       LOG_FIELDS({ "WATCH", watch }, { "ECR_REPOSITORY", ev.repository },
					  { "IMAGE_TAG", ev.tag },
					  { "IMAGE_DIGEST", *ev.digest ? ev.digest : NULL },
					  { "SQS_MESSAGE_ID", m->id }),
			       "watch '%s': ECR says tag '%s' of '%s' was deleted%s%s; nothing is "
			       "deployed for it (the services keep what they run)",
			       watch, ev.tag, ev.repository, *ev.digest ? " from " : "", ev.digest);
		return MSG_DELETE;
	}
	case EVENT_ECS_DEPLOYMENT:
	case EVENT_ECS_HOOK:
		*ticket = ++qs->last_poke;
		r = qs->d.poke ? qs->d.poke(&ev, *ticket, &replaced, qs->d.userdata) : 0;
		if (replaced)
			queues_poked(qs, replaced);
		log_at(LOG_DEBUG, NULL, NULL, "queue '%s': %s of service '%s' (%s)%s", q->name,
		       event_kind_name(ev.kind), ev.service, ev.event_name,
		       r ? ": looking at its rollout" : ": no rollout in flight");
		return r ? MSG_POKE : MSG_DELETE;
	case EVENT_IGNORED:
		log_at(LOG_DEBUG, NULL, LOG_FIELDS({ "SQS_MESSAGE_ID", m->id }),
		       "queue '%s': message %s is an event ecr-deployd does not act on (another "
		       "source or detail-type, a failed push); deleted",
		       q->name, m->id);
		break;
	}
	return MSG_DELETE;
}

/* A call of the queue failed: said once per outage (whatever codes follow), with the latest code
 * kept for STATUS=. op is "ReceiveMessage" or "DeleteMessageBatch". */
static void queue_failed(struct queue *q, const char *op, const char *code, const char *message,
			 const char *request_id, const char *hint)
{
	bool receiving = !strcmp(op, "ReceiveMessage");
	bool *failing = receiving ? &q->failing : &q->del_failing;

	snprintf(q->fail_code, sizeof(q->fail_code), "%s", code);
	q->failures++;
	if (*failing)
		return;
	*failing = true;
	log_at(LOG_ERR, EVENT_QUEUE_FAILED,
	       LOG_FIELDS({ "SQS_QUEUE_URL", q->url }, { "AWS_OPERATION", op },
			  { "AWS_ERROR_CODE", code },
			  { "AWS_REQUEST_ID", request_id && *request_id ? request_id : NULL }),
	       "queue '%s': %s failed: %s: %s%s; %s", q->name, op, code, message, hint,
	       receiving ? "polling ECR goes on, and the queue is tried again, up to every minute"
			 : "messages acted on come back after their visibility timeout and cost "
			   "one more read each; tried again with a backoff");
	update_flowing(q->qs);
}

static void queue_answers(struct queue *q, const char *op)
{
	bool *failing = strcmp(op, "ReceiveMessage") ? &q->del_failing : &q->failing;

	if (*failing)
		log_at(LOG_NOTICE, EVENT_QUEUE_RECOVERED,
		       LOG_FIELDS({ "SQS_QUEUE_URL", q->url }, { "AWS_OPERATION", op }),
		       "queue '%s': %s works again (after %d failed attempt%s); events flow",
		       q->name, op, q->failures, q->failures == 1 ? "" : "s");
	*failing = false;
	if (!q->failing && !q->del_failing) {
		q->failures = 0;
		*q->fail_code = '\0';
	}
	update_flowing(q->qs);
}

/* AWS refused a call of the queue: said as queue_failed() says it, naming the IAM action a
 * refusal names. */
static void queue_call_failed(struct queue *q, const char *op, const struct aws_error *e)
{
	char action[128], hint[200] = "";

	if (aws_error_classify(e) == AWS_ERROR_AUTH && aws_error_action(e, action, sizeof(action)))
		snprintf(hint, sizeof(hint), " (allow %s)", action);
	queue_failed(q, op, e->code, e->message, e->request_id, hint);
}

/* A backoff after one more failure: 1 s doubling to a minute. */
static double backoff_after(double delay)
{
	delay = delay > 0 ? delay * 2 : RETRY_FIRST_S;
	return delay > RETRY_MAX_S ? RETRY_MAX_S : delay;
}

/* The next ReceiveMessage after a failure. */
static void receive_later(struct queue *q)
{
	q->backoff = backoff_after(q->backoff);
	ev_timer_stop(q->qs->d.loop, &q->retry);
	ev_timer_set(&q->retry, q->backoff, 0.0);
	ev_timer_start(q->qs->d.loop, &q->retry);
}

static void on_receive(struct aws_result *res, void *userdata)
{
	struct queue *q = userdata;
	struct sqs_message *ms = NULL;
	size_t n = 0;
	char why[400];

	q->receive = NULL;
	if (!res->ok) {
		q->ok = false;
		queue_call_failed(q, "ReceiveMessage", &res->err);
		receive_later(q);
		return;
	}
	if (sqs_parse_receive(res->body, &ms, &n, why, sizeof(why)) < 0) {
		/* The reply, not a message, is wrong: said like a failure, tried again. */
		q->ok = false;
		queue_failed(q, "ReceiveMessage", "MalformedResponse", why, res->request_id,
			     " (a reply SQS never sends)");
		receive_later(q);
		return;
	}
	q->ok = true;
	q->backoff = 0;
	queue_answers(q, "ReceiveMessage");
	if (n)
		q->last_message = ev_now(q->qs->d.loop);
	if (n && q->qs->d.received)
		q->qs->d.received(q->url, n, q->qs->d.userdata);
	bool fresh = false; /* a message not held already */

	for (size_t i = 0; i < n; i++) {
		const struct sqs_message *m = &ms[i];
		struct msg *known = find_msg(q, m->id);
		uint64_t ticket = 0;
		if (known) {
			/* Received again before we were done (its visibility timeout ran out): only
			 * the newest receipt handle deletes it, also when a delete with the older
			 * one is in flight (it "succeeds" and deletes nothing). */
			if (*m->receipt && known->sending)
				snprintf(known->newer, sizeof(known->newer), "%s", m->receipt);
			else if (*m->receipt)
				snprintf(known->receipt, sizeof(known->receipt), "%s", m->receipt);
			continue;
		}
		fresh = true;
		int st = dispatch(q, m, &ticket);
		if (st < 0 || !*m->receipt)
			continue; /* it comes back, or it cannot be deleted at all */
		struct msg *x = calloc(1, sizeof(*x));
		if (!x)
			continue; /* it comes back after its visibility timeout */
		snprintf(x->id, sizeof(x->id), "%s", m->id);
		snprintf(x->receipt, sizeof(x->receipt), "%s", m->receipt);
		x->st = (enum msg_state)st;
		x->ticket = ticket;
		x->next = q->msgs;
		q->msgs = x;
		q->n_msgs++;
		if (st == MSG_DELETE)
			flush_soon(q, 0.0);
	}
	sqs_messages_free(ms, n);
	if (n && !fresh) {
		/* Only messages held already (a visibility timeout shorter than our work): not
		 * again at once, or a queue with a 0 s timeout would be asked in a loop. */
		ev_timer_stop(q->qs->d.loop, &q->retry);
		ev_timer_set(&q->retry, RETRY_FIRST_S, 0.0);
		ev_timer_start(q->qs->d.loop, &q->retry);
		return;
	}
	receive(q);
}

static void receive(struct queue *q)
{
	cJSON *p;
	struct aws_call_spec spec = { .service = &aws_sqs,
				      .operation = "ReceiveMessage",
				      .creds = q->creds,
				      .region = q->region,
				      .timeout_ms = RECEIVE_TIMEOUT };
	int r = -ENOMEM;

	if (q->receive || ev_is_active(&q->retry) || q->n_msgs >= MAX_PENDING)
		return; /* resumed as messages are done */
	p = cJSON_CreateObject();
	cJSON *names = p ? cJSON_AddArrayToObject(p, "MessageSystemAttributeNames") : NULL;
	if (names) {
		cJSON_AddStringToObject(p, "QueueUrl", q->url);
		cJSON_AddNumberToObject(p, "MaxNumberOfMessages", 10);
		cJSON_AddNumberToObject(p, "WaitTimeSeconds", WAIT_S);
		cJSON_AddItemToArray(names, cJSON_CreateString("ApproximateReceiveCount"));
		cJSON_AddItemToArray(names, cJSON_CreateString("SentTimestamp"));
		/* A queue whose visibility timeout is shorter than a read would hand a message
		 * out again while we act on it. */
		if (q->visibility >= 0 && q->visibility < MIN_VISIBILITY_S)
			cJSON_AddNumberToObject(p, "VisibilityTimeout", MIN_VISIBILITY_S);
		spec.params = p;
		r = aws_call(q->qs->d.aws, &spec, on_receive, q, &q->receive);
	}
	if (r < 0) {
		char what[200];
		q->receive = NULL;
		q->ok = false;
		snprintf(what, sizeof(what), "%s '%s'",
			 r == -EINVAL ? "no SQS endpoint for region" : "out of memory in region",
			 q->region);
		queue_failed(q, "ReceiveMessage", r == -EINVAL ? "EndpointError" : "OutOfMemory",
			     what, NULL, "");
		receive_later(q);
	}
	cJSON_Delete(p);
}

static void on_retry(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	receive(t->data);
}

static void on_deleted(struct aws_result *res, void *userdata)
{
	struct queue *q = userdata;
	bool deleted[10] = { false };
	char failure[1200] = "";
	int n = q->n_batch, got = -1;

	q->remove = NULL;
	q->n_batch = 0;
	if (res->ok) {
		got =
		    sqs_parse_delete_batch(res->body, (size_t)n, deleted, failure, sizeof(failure));
		if (got < 0)
			queue_failed(q, "DeleteMessageBatch", "MalformedResponse",
				     "a reply SQS never sends", res->request_id, "");
		else
			queue_answers(q, "DeleteMessageBatch");
	} else {
		snprintf(failure, sizeof(failure), "%s: %s", res->err.code, res->err.message);
		queue_call_failed(q, "DeleteMessageBatch", &res->err);
	}
	for (int i = 0; i < n; i++) {
		struct msg *m = q->batch[i];
		m->sending = false;
		if (deleted[i] && *m->newer) {
			/* Received again meanwhile: the delete went to the older handle. */
			snprintf(m->receipt, sizeof(m->receipt), "%s", m->newer);
			*m->newer = '\0';
			continue;
		}
		if (deleted[i]) {
			drop_msg(q, m);
			continue;
		}

		if (++m->tries >= DELETE_TRIES) {
			log_at(
			    LOG_WARNING, NULL,
			    LOG_FIELDS({ "SQS_QUEUE_URL", q->url }, { "SQS_MESSAGE_ID", m->id }),
			    "queue '%s': message %s could not be deleted (%s); it comes back after "
			    "its visibility timeout and is deleted then",
			    q->name, m->id, *failure ? failure : "no reason given");
			drop_msg(q, m);
		}
	}
	q->flush_backoff = got == n ? 0 : backoff_after(q->flush_backoff);
	flush_soon(q, q->flush_backoff);
	receive(q); /* if it waited for room */
}

static void on_flush(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct queue *q = t->data;
	cJSON *p, *entries;
	struct aws_call_spec spec = { .service = &aws_sqs,
				      .operation = "DeleteMessageBatch",
				      .creds = q->creds,
				      .region = q->region };

	(void)loop;
	(void)revents;
	if (q->remove)
		return; /* on_deleted flushes again */
	p = cJSON_CreateObject();
	entries = p ? cJSON_AddArrayToObject(p, "Entries") : NULL;
	if (!entries) {
		cJSON_Delete(p);
		flush_soon(q, RETRY_FIRST_S);
		return;
	}
	cJSON_AddStringToObject(p, "QueueUrl", q->url);
	for (struct msg *m = q->msgs; m && q->n_batch < 10; m = m->next) {
		if (m->st != MSG_DELETE || m->sending)
			continue;
		cJSON *e = cJSON_CreateObject();
		char id[8];
		snprintf(id, sizeof(id), "%d", q->n_batch);
		if (!e)
			break;
		cJSON_AddStringToObject(e, "Id", id);
		cJSON_AddStringToObject(e, "ReceiptHandle", m->receipt);
		cJSON_AddItemToArray(entries, e);
		m->sending = true;
		q->batch[q->n_batch++] = m;
	}
	spec.params = p;
	if (q->n_batch && aws_call(q->qs->d.aws, &spec, on_deleted, q, &q->remove) < 0) {
		q->remove = NULL;
		for (int i = 0; i < q->n_batch; i++)
			q->batch[i]->sending = false;
		q->n_batch = 0;
		flush_soon(q, RETRY_MAX_S);
	}
	cJSON_Delete(p);
}

/* A DeleteMessageBatch after delay, if any message is to be deleted. */
static void flush_soon(struct queue *q, double delay)
{
	bool any = false;

	for (struct msg *m = q->msgs; m && !any; m = m->next)
		any = m->st == MSG_DELETE && !m->sending;
	if (!any || q->remove || ev_is_active(&q->flush))
		return;
	ev_timer_set(&q->flush, delay, 0.0);
	ev_timer_start(q->qs->d.loop, &q->flush);
}

/* The messages waiting in state st for ticket are done: deleted (ok), or left to come back. */
static void settle(struct queues *qs, enum msg_state st, uint64_t ticket, bool ok)
{
	for (size_t i = 0; i < qs->n; i++) {
		struct queue *q = &qs->q[i];
		for (struct msg *m = q->msgs, *next; m; m = next) {
			next = m->next;
			if (m->st != st || m->ticket != ticket)
				continue;
			if (ok)
				m->st = MSG_DELETE;
			else
				drop_msg(q, m);
		}
		flush_soon(q, 0.0);
		receive(q);
	}
}

void queues_hinted(struct queues *qs, uint64_t ticket, bool ok)
{
	if (qs)
		settle(qs, MSG_HINT, ticket, ok);
}

void queues_poked(struct queues *qs, uint64_t ticket)
{
	if (qs)
		settle(qs, MSG_POKE, ticket, true);
}

struct queues *queues_new(const struct queue_deps *deps)
{
	struct queues *qs = calloc(1, sizeof(*qs));
	const struct config *cfg = deps->cfg;

	if (!qs)
		return NULL;
	qs->d = *deps;
	qs->warned = strmap_new();
	qs->q = calloc(cfg->n_queues + 1, sizeof(*qs->q));
	if (!qs->q || !qs->warned) {
		queues_free(qs);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_queues; i++) {
		const struct config_queue *c = &cfg->queues[i];
		struct queue *q = &qs->q[i];
		q->qs = qs;
		q->visibility = -1;
		qs->n++;
		q->url = strdup(c->url);
		q->region = strdup(c->region);
		q->name = strdup(c->name);
		q->role_arn = c->role_arn ? strdup(c->role_arn) : NULL;
		ev_timer_init(&q->retry, on_retry, 0.0, 0.0);
		q->retry.data = q;
		ev_timer_init(&q->flush, on_flush, 0.0, 0.0);
		q->flush.data = q;
		if (!q->url || !q->region || !q->name || (c->role_arn && !q->role_arn)) {
			queues_free(qs);
			return NULL;
		}
		if (q->role_arn) {
			struct cred_options co = { deps->loop,
						   deps->http,
						   deps->signer,
						   cfg->profile,
						   deps->region,
						   cfg->endpoints[AWS_SERVICE_STS],
						   0 };
			q->creds =
			    cred_assume_role_new(deps->creds, q->role_arn, "ecr-deployd", &co);
			if (!q->creds) {
				queues_free(qs);
				return NULL;
			}
		}
	}
	return qs;
}

/* What the queue's settings mean for an operator, said once at start (a queue without a
 * dead-letter queue keeps a message nobody can delete coming back forever). */
static void on_attributes(struct aws_result *res, void *userdata)
{
	struct queue *q = userdata;
	const cJSON *a = res->ok ? cJSON_GetObjectItemCaseSensitive(res->body, "Attributes") : NULL;
	const char *vis =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "VisibilityTimeout"));
	const char *redrive =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "RedrivePolicy"));
	cJSON *rp = redrive ? cJSON_Parse(redrive) : NULL;
	const cJSON *dlq = cJSON_GetObjectItemCaseSensitive(rp, "deadLetterTargetArn"),
		    *max = cJSON_GetObjectItemCaseSensitive(rp, "maxReceiveCount");
	char dlq_text[400] = "";

	q->attrs = NULL;
	if (!res->ok) {
		log_at(LOG_WARNING, NULL,
		       LOG_FIELDS({ "SQS_QUEUE_URL", q->url },
				  { "AWS_OPERATION", "GetQueueAttributes" },
				  { "AWS_ERROR_CODE", res->err.code }),
		       "queue '%s': its settings cannot be read (%s: %s); receiving goes on",
		       q->name, res->err.code, res->err.message);
		return;
	}
	if (cJSON_IsString(dlq) && (cJSON_IsNumber(max) || cJSON_IsString(max)))
		snprintf(dlq_text, sizeof(dlq_text),
			 "; a message received %.0f times goes to %.300s",
			 cJSON_IsNumber(max) ? max->valuedouble : atof(max->valuestring),
			 dlq->valuestring);
	if (vis && *vis && strlen(vis) <= 6 && strspn(vis, "0123456789") == strlen(vis))
		q->visibility = atoi(vis);
	log_at(LOG_INFO, NULL, LOG_FIELDS({ "SQS_QUEUE_URL", q->url }),
	       "queue '%s': visibility timeout %.12s s%s", q->name,
	       vis && strspn(vis, "0123456789") == strlen(vis) && *vis ? vis : "(not said)",
	       dlq_text);
	if (!*dlq_text)
		log_at(LOG_WARNING, NULL, LOG_FIELDS({ "SQS_QUEUE_URL", q->url }),
		       "queue '%s' has no dead-letter queue (RedrivePolicy): a message that can "
		       "never be deleted keeps coming back; see docs/events.md",
		       q->name);
	cJSON_Delete(rp);
}

void queues_start(struct queues *qs)
{
	for (size_t i = 0; i < qs->n; i++) {
		struct queue *q = &qs->q[i];
		cJSON *p = cJSON_CreateObject(), *names;
		struct aws_call_spec spec = { .service = &aws_sqs,
					      .operation = "GetQueueAttributes",
					      .creds = q->creds,
					      .region = q->region };
		names = p ? cJSON_AddArrayToObject(p, "AttributeNames") : NULL;
		if (names) {
			cJSON_AddStringToObject(p, "QueueUrl", q->url);
			cJSON_AddItemToArray(names, cJSON_CreateString("VisibilityTimeout"));
			cJSON_AddItemToArray(names, cJSON_CreateString("RedrivePolicy"));
			spec.params = p;
			if (aws_call(qs->d.aws, &spec, on_attributes, q, &q->attrs) < 0)
				q->attrs = NULL;
		}
		cJSON_Delete(p);
		receive(q);
	}
	if (qs->n)
		log_info("receiving events from %zu queue%s", qs->n, qs->n == 1 ? "" : "s");
}

void queues_free(struct queues *qs)
{
	if (!qs)
		return;
	for (size_t i = 0; i < qs->n; i++) {
		struct queue *q = &qs->q[i];
		ev_timer_stop(qs->d.loop, &q->retry);
		ev_timer_stop(qs->d.loop, &q->flush);
		aws_call_cancel(q->receive);
		aws_call_cancel(q->remove);
		aws_call_cancel(q->attrs);
		while (q->msgs)
			drop_msg(q, q->msgs);
		cred_provider_free(q->creds);
		free(q->url);
		free(q->region);
		free(q->name);
		free(q->role_arn);
	}
	free(qs->q);
	strmap_free(qs->warned, NULL);
	free(qs);
}

void queues_status(const struct queues *qs, char *buf, size_t n)
{
	size_t failing = 0;
	double last = 0;
	const char *code = "";

	*buf = '\0';
	if (!qs || !qs->n)
		return;
	for (size_t i = 0; i < qs->n; i++) {
		if (qs->q[i].failing || qs->q[i].del_failing) {
			failing++;
			code = qs->q[i].fail_code;
		}
		if (qs->q[i].last_message > last)
			last = qs->q[i].last_message;
	}
	char fail[200] = "", when[64];
	if (failing)
		snprintf(fail, sizeof(fail), " (%zu failing: %s)", failing, code);
	if (last > 0)
		snprintf(when, sizeof(when), "last message %.0f s ago", ev_now(qs->d.loop) - last);
	else
		snprintf(when, sizeof(when), "no message yet");
	snprintf(buf, n, "events: %zu queue%s%s, %s", qs->n, qs->n == 1 ? "" : "s", fail, when);
}

/* ---- for status ------------------------------------------------------------ */

size_t queues_count(const struct queues *qs)
{
	return qs ? qs->n : 0;
}

void queues_info(const struct queues *qs, size_t i, struct queue_info *ret)
{
	const struct queue *q = &qs->q[i];

	ret->url = q->url;
	ret->state = q->failing || q->del_failing ? "failing" : q->ok ? "ok" : "starting";
	ret->last_message =
	    q->last_message > 0 ? (double)time(NULL) - (ev_now(qs->d.loop) - q->last_message) : 0;
	ret->error = (q->failing || q->del_failing) && *q->fail_code ? q->fail_code : NULL;
}

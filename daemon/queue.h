/* SPDX-License-Identifier: MIT */
/*
 * Push events: each configured SQS queue (config "events") is long-polled on the loop
 * (ReceiveMessage, WaitTimeSeconds 20, MaxNumberOfMessages 10, an HTTP timeout of 30 s) with
 * the daemon's AWS client, under the queue's assumed role if it names one.
 *
 * Every message is a hint (daemon/event.h reads it): an ECR push of a followed tag makes the
 * watcher read that repository at once (deps.hint); an ECR delete of one is said
 * (IMAGE_DELETED); an ECS deployment or hook state change makes the rollout tracking that
 * service look at once (deps.poke). A message is deleted (DeleteMessageBatch) only when what it
 * caused is durable: the read of the repository saved in the state file (queues_hinted), the
 * look of the rollout read (queues_poked); at once when it concerns nothing watched or cannot
 * be read (MESSAGE_MALFORMED, said once, naming its MessageId). One that is not deleted comes
 * back after its visibility timeout, so a stop or kill -9 at any point loses no push.
 *
 * A queue that fails (refused, missing, throttled, unreachable) is said once when it starts
 * (QUEUE_FAILED) and once when it clears (QUEUE_RECOVERED), and is tried again with a backoff
 * up to a minute; polling ECR goes on meanwhile.
 */
#ifndef ECR_QUEUE_H
#define ECR_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aws_client;
struct config;
struct cred_provider;
struct event;
struct ev_loop;
struct http_client;
struct sigv4_signer;
struct queues;

struct queue_deps {
	struct ev_loop *loop;
	struct aws_client *aws;
	const struct config *cfg;    /* the queues are read once: they change at a restart */
	const char *region;          /* the default region (for STS) */
	struct cred_provider *creds; /* the daemon's: the base of a queue's assumed role */
	struct http_client *http;    /* for the STS calls of assumed roles */
	struct sigv4_signer *signer;
	/* An ECR push: > 0 and *ticket when a repository will be read (queues_hinted(ticket)
	 * follows), 0 when no watch follows that tag, < 0 when it cannot be asked now. */
	int (*hint)(const struct event *ev, uint64_t *ticket, void *userdata);
	/* An ECR delete: the name of a watch that follows that tag, or NULL. */
	const char *(*follows)(const struct event *ev, void *userdata);
	/* An ECS event: 1 when a rollout will look (queues_poked(ticket) follows; *replaced is an
	 * earlier ticket the same look answers, or 0), 0 when nothing in flight is concerned. */
	int (*poke)(const struct event *ev, uint64_t ticket, uint64_t *replaced, void *userdata);
	/* Whether events flow now (some queue answers). */
	void (*flowing)(bool on, void *userdata);
	/* n messages were received from the queue at url (metrics). May be NULL. */
	void (*received)(const char *url, size_t n, void *userdata);
	void *userdata;
};

/* The queues of deps->cfg (none: an object that does nothing). NULL without memory. */
struct queues *queues_new(const struct queue_deps *deps);

/* Starts receiving from every queue. */
void queues_start(struct queues *qs);

/* Cancels calls in flight (their messages come back after their visibility timeout). NULL is a
 * no-op. */
void queues_free(struct queues *qs);

/* The read a hint asked for is durable (ok), or failed (the message is left to come back). */
void queues_hinted(struct queues *qs, uint64_t ticket, bool ok);

/* The look an ECS event asked for has been read. */
void queues_poked(struct queues *qs, uint64_t ticket);

/* For the status line: "" without queues, else "events: 1 queue, last message 12 s ago". */
void queues_status(const struct queues *qs, char *buf, size_t n);

/* One queue as `status` shows it. */
struct queue_info {
	const char *url;
	const char *state;   /* "ok" (answered), "failing", "starting" (not answered yet) */
	double last_message; /* Unix seconds of the last message, 0: none yet */
	const char *error;   /* the AWS error code while failing, else NULL */
};
/* How many queues there are (0 without events, or qs NULL). */
size_t queues_count(const struct queues *qs);
/* Queue i (< queues_count()); strings live as long as the queues. */
void queues_info(const struct queues *qs, size_t i, struct queue_info *ret);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * A notification (docs/notifications.md): what happened to one rollout phase, or to a watch,
 * and its three wire forms: the versioned JSON body of a webhook (with its HMAC-SHA256
 * signature), a Slack incoming-webhook message, an EventBridge PutEvents entry. Also the outbox
 * entry it is kept in until delivered, read back after a restart (outside bytes: every field is
 * checked). Pure: no I/O, no clock (times are inputs).
 */
#ifndef ECR_NOTICE_H
#define ECR_NOTICE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define NOTICE_VERSION      1    /* the body's "version" */
#define NOTICE_KEY_LEN      32   /* hex characters of an idempotency key */
#define NOTICE_MESSAGES_MAX 5    /* ECS's (or CodeDeploy's) last messages quoted */
#define NOTICE_TEXT_MAX     2000 /* bytes of reason, summary and of each message (cut at UTF-8) */

struct notice {
	enum notice_kind kind;
	char key[NOTICE_KEY_LEN + 1]; /* the idempotency key (notice_make_key()) */
	double time;                  /* wall seconds when the phase was reached */
	char *host;                   /* the daemon's host name */
	/* each may be NULL (left out of the body as null) */
	char *watch, *repository, *tag, *digest, *previous_digest;
	char *target; /* account@region/cluster/service, the target's key */
	char *cluster, *service, *region;
	char *task_definition, *previous_task_definition;
	char *deployment_id;   /* ECS's deployment id, or CodeDeploy's */
	char *strategy;        /* "revision", "force", "codedeploy" */
	char *reason;          /* why it failed, was blocked, awaits approval */
	char *summary;         /* the journal's sentence for it */
	long long duration_ms; /* since the rollout started; -1: not known / not a rollout */
	char *messages[NOTICE_MESSAGES_MAX]; /* the last messages of ECS (or CodeDeploy), newest
						first */
	size_t n_messages;
};

/* Severity of a kind: info (started, completed), warning (awaiting-approval, rolled-back),
 * error (failed, rollback-failed, blocked, watch-failing). */
enum notice_severity notice_severity_of(enum notice_kind k);

/*
 * Sets n->key: the first NOTICE_KEY_LEN hex characters of SHA-256 over "v1\n" identity "\n"
 * kind-name "\n" sub, where identity names the rollout for good (the caller's: target key,
 * digest and the start time in milliseconds) and sub tells phases of one kind apart (a PAUSE
 * hook's id for awaiting-approval; "" otherwise). The same inputs always give the same key, so a
 * phase said again after a restart is the same notification.
 */
void notice_make_key(struct notice *n, const char *identity, const char *sub);

/* Frees what n points to (not n); n is zeroed. */
void notice_done(struct notice *n);

/* A deep copy; 0 or -ENOMEM (ret zeroed then). */
int notice_copy(struct notice *ret, const struct notice *n);

/* Whether the sink's filter lets n through (kinds, watches, services, min_severity). */
bool notice_matches(const struct config_sink *s, const struct notice *n);

/*
 * The webhook body, version NOTICE_VERSION (docs/notifications.md): {"version":1,"id":key,
 * "kind":..., "severity":..., "time":"2026-12-01T10:00:00.123Z", "host":..., "watch":...,
 * "repository":..., "tag":..., "digest":..., "previous_digest":..., "target":..., "cluster":...,
 * "service":..., "region":..., "task_definition":..., "previous_task_definition":...,
 * "deployment_id":..., "strategy":..., "duration_ms":..., "reason":..., "summary":...,
 * "messages":[...]}: every key always there, null when not known. Unformatted JSON; NULL without
 * memory. Every string is made valid UTF-8 (a bad byte becomes U+FFFD) and cut at NOTICE_TEXT_MAX
 * bytes (marked "…"); a digest that fails digest_valid() is null; "messages" is [] when none.
 */
char *notice_body(const struct notice *n);

/*
 * The signature header's value for body at unix time ts: "t=<ts>,v1=<hex HMAC-SHA256(secret,
 * "<ts>." body)>", into out (n bytes). Returns 0, -ENOBUFS.
 */
#define NOTICE_SIGNATURE_HEADER "X-Ecr-Deployd-Signature"
#define NOTICE_KEY_HEADER       "Idempotency-Key"
int notice_sign(const unsigned char *secret, size_t secret_len, long long ts, const char *body,
		size_t body_len, char *out, size_t n);

/*
 * The Slack incoming-webhook payload: {"text": a one-line fallback, "attachments": [{"color":
 * green/red/amber by result, "blocks": [header (title), section with fields (service, image: tag
 * and short digest, result, duration), section (reason, when there is one), section (the last
 * messages, when there are), context (host, watch)]}]}; within Slack's block kit limits (header
 * ≤ 150 characters, a field ≤ 2000, a section's text ≤ 3000, ≤ 10 fields), text escaped for
 * mrkdwn (&, <, >). NULL without memory.
 */
char *notice_slack(const struct notice *n);

/* EventBridge: "Deploy Started", "Deploy Completed", "Deploy Failed", "Deploy Rolled Back",
 * "Rollback Failed", "Deploy Awaiting Approval", "Deploy Blocked", "Watch Failing". */
const char *notice_detail_type(enum notice_kind k);

/* The PutEvents parameters: {"Entries":[{"Source":"ecr-deployd","DetailType":...,"Detail":
 * notice_body(),"EventBusName":bus,"Time":n->time (epoch seconds)}]}. NULL without memory. */
cJSON *notice_eventbridge(const struct notice *n, const char *bus);

/*
 * The outbox entry of a notification for one sink: {"format":1,"sink":name,"created":wall
 * seconds,"notice":<notice_body() as an object>}. notice_entry() makes its text (NULL without
 * memory); notice_entry_parse() reads one back (len bytes, outside bytes): every field checked
 * (kind a known name, key NOTICE_KEY_LEN lowercase hex, digests digest_valid(), strings valid
 * UTF-8 without NUL and within NOTICE_TEXT_MAX, numbers finite and in range). Returns 0 with
 * *ret, *created and sink (n bytes), or -EINVAL with why (why_len bytes) naming the field and the
 * value (escaped); -ENOMEM.
 */
char *notice_entry(const struct notice *n, const char *sink, double created);
int notice_entry_parse(const char *text, size_t len, struct notice *ret, double *created,
		       char *sink, size_t sink_len, char *why, size_t why_len);

#endif

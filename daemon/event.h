/* SPDX-License-Identifier: MIT */
/*
 * What arrives from SQS, read where it enters (pure; fuzzed by tests/fuzz/fuzz_event.c): a
 * ReceiveMessage reply, the EventBridge event in each message's body (also wrapped in an SNS
 * notification), and a DeleteMessageBatch reply.
 *
 * Every value kept is checked: account 12 digits, region a region, repository and tag the
 * shapes ECR allows, digest sha256 + 64 hex, cluster and service ECS names. An event is a hint
 * (ECR's are best effort; they arrive late, twice or out of order), so nothing in it is trusted
 * beyond naming what to look at again.
 */
#ifndef ECR_EVENT_H
#define ECR_EVENT_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "digest.h"
#include "names.h"

#define EVENT_MESSAGE_ID_MAX 128  /* SQS: up to 100 characters */
#define EVENT_RECEIPT_MAX    1024 /* SQS: receipt handles are up to 1,024 characters */
#define EVENT_BODY_MAX       (256 * 1024)

/* One message of a ReceiveMessage reply. */
struct sqs_message {
	char id[EVENT_MESSAGE_ID_MAX + 1];   /* MessageId, printable ASCII; "" when absent or
						invalid (the message is then malformed) */
	char receipt[EVENT_RECEIPT_MAX + 1]; /* ReceiptHandle, printable ASCII; "" when absent or
						invalid (then it cannot be deleted) */
	char *body;                          /* Body, NUL-terminated (may hold any bytes but NUL);
						NULL when absent or not a string */
	int receive_count;                   /* Attributes.ApproximateReceiveCount, else 0 */
	long long sent_ms; /* Attributes.SentTimestamp (ms since the epoch), else 0 */
};

/*
 * Reads a ReceiveMessage reply (the parsed JSON body). {} and {"Messages": []} are no messages.
 * A message that is not an object, or whose fields have the wrong type or shape, is still
 * returned (with "" or NULL in those fields) so that the caller can warn about it by MessageId
 * and delete it when it has a receipt. At most 10 messages are kept (SQS never sends more);
 * more is an error. Returns 0 with *ret (free with sqs_messages_free) and *n, -EINVAL when the
 * reply itself is not of that shape (why says where; values escaped), -ENOMEM.
 */
int sqs_parse_receive(const cJSON *reply, struct sqs_message **ret, size_t *n, char *why,
		      size_t why_n);
void sqs_messages_free(struct sqs_message *m, size_t n);

enum event_kind {
	EVENT_IGNORED,        /* well-formed, not one we act on: another source or detail-type, a
				 push that FAILED, a scan result, an SQS test message */
	EVENT_ECR_PUSH,       /* ECR Image Action, PUSH, SUCCESS */
	EVENT_ECR_DELETE,     /* ECR Image Action, DELETE, SUCCESS */
	EVENT_ECS_DEPLOYMENT, /* ECS Deployment State Change */
	EVENT_ECS_HOOK,       /* ECS Hook State Change */
};

struct event {
	enum event_kind kind;
	char id[128];     /* the event's "id" ("" when absent) */
	char account[13]; /* the top-level "account" */
	char region[32];  /* the top-level "region" */
	time_t time;      /* the top-level "time" (RFC 3339, UTC), 0 when absent or unreadable */

	/* EVENT_ECR_PUSH, EVENT_ECR_DELETE */
	char repository[NAME_REPOSITORY_MAX + 1];
	char tag[NAME_TAG_MAX + 1];  /* "" for a push or delete without a tag */
	char digest[DIGEST_LEN + 1]; /* "" when absent */

	/* EVENT_ECS_DEPLOYMENT, EVENT_ECS_HOOK: the service, from resources[] (a service ARN,
	 * arn:<partition>:ecs:<region>:<account>:service/<cluster>/<service>, or the older
	 * service/<service> without a cluster: cluster "") or, for a hook, from
	 * serviceDeploymentArn (…:service-deployment/<cluster>/<service>/<id>). */
	char cluster[NAME_ECS_MAX + 1];
	char service[NAME_ECS_MAX + 1];
	char event_name[64];     /* SERVICE_DEPLOYMENT_COMPLETED, HOOK_AWAITING_ACTION... */
	char deployment_id[128]; /* detail.deploymentId (ecs-svc/...), "" when absent */
	char service_deployment_arn[512]; /* detail.serviceDeploymentArn, "" when absent */
	char reason[512];                 /* detail.reason, as sent (escape before logging) */
};

/*
 * Reads one message body (len bytes from outside; need not be NUL-terminated). An SNS
 * notification ({"Type": "Notification", "Message": "<event>"}) is unwrapped once. Returns 0
 * and fills *ev (every field; "" and 0 where absent), or -EINVAL when the body is not an
 * EventBridge event we can use: not JSON, not an object, or a field we need missing, of the
 * wrong type or shape (a PUSH without a repository, an account that is not 12 digits, a digest
 * that is not sha256 + 64 hex...); why then names the field and the value (escaped, short).
 * A well-formed event of a kind we do not act on is 0 with EVENT_IGNORED, not an error.
 */
int event_parse(const char *body, size_t len, struct event *ev, char *why, size_t why_n);

/* "ecr-push", "ecr-delete", "ecs-deployment", "ecs-hook", "ignored". */
const char *event_kind_name(enum event_kind k);

/*
 * Reads a DeleteMessageBatch reply for n entries sent with the ids "0" .. "<n-1>": deleted[i]
 * is set for each id listed under Successful. Failed entries (and ids never mentioned) stay
 * false; for the first failed one, failure gets "<Code>: <Message>" (escaped, cut to
 * failure_n). Returns the number deleted, or -EINVAL when the reply is not of that shape.
 */
int sqs_parse_delete_batch(const cJSON *reply, size_t n, bool *deleted, char *failure,
			   size_t failure_n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * AWS JSON 1.0/1.1 calls (ECR, ECS, SQS, CodeDeploy): POST / with
 * X-Amz-Target and the service's content type (SQS also sends
 * x-amzn-query-mode: true), signed with SigV4, sent on the shared HTTP
 * client, parsed with cJSON. The caller gets the parsed body or a
 * structured error.
 *
 * Retries follow the AWS SDKs' "standard" mode: throttling codes, transient
 * errors (HTTP 500/502/503/504, RequestTimeout…), connection failures,
 * timeouts and unparseable 2xx replies are retried with exponential backoff
 * and full jitter under a cap; client errors never are. A retry budget
 * shared by every call of the client (a token bucket: a retry costs 5
 * tokens, 10 after a timeout; a success pays 1 back) stops an outage from
 * becoming a request storm. When AWS says the signature's time is off, the
 * client learns the skew from the reply's Date header and retries at once.
 */
#ifndef ECR_AWS_H
#define ECR_AWS_H

#include <cJSON.h>
#include <ev.h>
#include <stdbool.h>

#include "credentials.h"
#include "endpoint.h"
#include "http.h"
#include "sigv4.h"

struct aws_options {
	const char *region;                       /* required */
	bool fips;                                /* FIPS endpoints */
	const char *endpoints[AWS_SERVICE_COUNT]; /* configured overrides, or NULL */
	int max_attempts;                         /* per call; 0: 3 */
	long retry_base_ms;                       /* 0: 100 */
	long retry_cap_ms;                        /* 0: 20000 */
	int retry_budget;                         /* tokens; 0: 500 */
	long timeout_ms;                          /* per attempt; 0: 10000 */
};

/* Ends a message from AWS that was cut: at the bound of aws_error.message (at a word boundary
 * when there is one near it), or where the reply ended before the message did. */
#define AWS_ERROR_CUT_MARK "... (cut)"

struct aws_error {
	int http_status;       /* 0 when no HTTP reply arrived */
	int transport;         /* negative errno of the transport failure, else 0 */
	char code[128];        /* AWS error code, '#' prefix and ':' suffix stripped; ours for
				  client-side failures: "RequestTimeout", "ConnectionError",
				  "MalformedResponse", "CredentialsError", "EndpointError" */
	char legacy_code[128]; /* SQS: the code of x-amzn-query-error, else "" */
	char message[1024];    /* whole, or cut and ending in AWS_ERROR_CUT_MARK */
	char request_id[128];
};

struct aws_result {
	const struct aws_service *service;
	const char *operation;
	bool ok;
	cJSON *body;          /* the parsed reply when ok (NULL when the call had a reader); freed
				 after the callback unless taken */
	struct aws_error err; /* when !ok */
	cJSON *err_body;      /* when !ok: the error reply when it was a JSON object (its other
				 members: CancellationReasons...), else NULL; freed after the
				 callback */
	int attempts;
	long duration_ms;
	char request_id[128]; /* of the last attempt */
	long http_version;    /* of the last attempt's reply: 11, 20; 0 when none */
};

typedef void (*aws_done_fn)(struct aws_result *res, void *userdata);

struct aws_call_spec {
	const struct aws_service *service;
	const char *operation;
	const cJSON *params; /* serialized at submit; NULL: {} */
	/* A JSON object already serialized (not necessarily NUL-terminated), body_len bytes of it
	 * (at least 1): sent as it is, and signed, instead of params when not NULL. aws_call()
	 * copies it: the caller keeps it alive until aws_call() returns only. */
	const char *body;
	size_t body_len;
	/* When set, the body of a 2xx reply with a JSON content type is handed to reader instead of
	 * being parsed into res->body (which stays NULL). reader returns 0 when it accepted the
	 * body, or a negative value with why filled (NUL-terminated, why_len bytes at most) when
	 * the body is malformed or of the wrong shape: that is then handled exactly as an
	 * unparsable 2xx reply (aws_error code "MalformedResponse", the same class, the same retry
	 * decision), why becoming err.message. It may run once per attempt, so it must reset what
	 * it filled at each call. It runs on the loop. */
	int (*reader)(const char *body, size_t len, void *reader_ud, char *why, size_t why_len);
	void *reader_ud;
	struct cred_provider *creds; /* NULL: the client's */
	const char *region;          /* NULL: the client's */
	long timeout_ms;             /* per attempt; 0: the client's */
	bool not_idempotent;         /* retried only when the reply proves it was not carried out
					(throttled, refused connection, clock skew, expired token): a
					lost reply is the caller's to resolve */
};

struct aws_client;
struct aws_call;

/* A client; it does not own loop, http or creds. NULL on bad options (why says) or no memory. */
struct aws_client *aws_client_new(struct ev_loop *loop, struct http_client *http,
				  struct sigv4_signer *signer, struct cred_provider *creds,
				  const struct aws_options *o, const char **why);

/* Cancels calls in flight (no callbacks) and frees. NULL is a no-op. */
void aws_client_free(struct aws_client *c);

/*
 * Starts a call. done runs once, from the loop, never from inside aws_call().
 * Returns 0 (and *ret, if asked, until done runs or aws_call_cancel()),
 * -EINVAL for a bad spec or an endpoint that cannot be resolved, -ENOMEM.
 */
int aws_call(struct aws_client *c, const struct aws_call_spec *spec, aws_done_fn done,
	     void *userdata, struct aws_call **ret);

void aws_call_cancel(struct aws_call *call);

/*
 * The gate (issue 18, high availability): with one set, a call whose operation is not a read
 * fails without any request, from the loop, when may_mutate(ud) says no: err.code "NotLeader"
 * (class TRANSIENT, outcome "refused"), http_status 0, no attempt counted. The gate is asked
 * before every attempt, so a retry that falls after the suspension is refused too. A read is an
 * operation named Describe*, List*, Get*, BatchGet*, and every DynamoDB call (the lease needs
 * them); ReceiveMessage is not one (it hides messages from the leader). fn NULL removes it.
 */
void aws_client_set_gate(struct aws_client *c, bool (*may_mutate)(void *ud), void *ud);

/* Whether operation of service counts as a read for the gate (pure). */
bool aws_operation_is_read(const struct aws_service *service, const char *operation);

/*
 * The cancellation reasons of a TransactionCanceledException, in the order of the
 * transaction's actions: the Code of each entry of the error body's CancellationReasons
 * (err_body may be NULL), or else the bracket list that ends AWS's message ("Transaction
 * cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed,
 * None]"). Each code ("None" when the action was not the cause) is copied, printable ASCII
 * only, into codes[i] (AWS_REASON_MAX bytes); returns how many (at most max), 0 when neither
 * says, -EPROTO for a list that cannot be read.
 */
#define AWS_REASON_MAX 64
int aws_cancellation_reasons(const cJSON *err_body, const char *message,
			     char (*codes)[AWS_REASON_MAX], size_t max);

/* Takes the body out of a result so that it survives the callback. */
cJSON *aws_result_take_body(struct aws_result *res);

/*
 * Reads an AWS error reply (outside bytes, len of them, NULs included): a JSON body
 * ({"__type"|"code", "message"|"Message"}) or an XML one (<Code>, <Message>, <RequestId> in an
 * <Error>, <ErrorResponse> or <Response> element: the query protocol's, S3's and EC2's shapes,
 * with or without a prolog, namespaces, the five entities, character references, CDATA), told
 * apart by the first byte that is not a space, whatever the content type said; or anything else.
 * Also the x-amzn-ErrorType header (used when the body names no code), the SQS
 * x-amzn-query-error header ("Code;Sender") and x-amzn-RequestId (else the XML's RequestId);
 * each header may be NULL. Fills every field of ret: the code without its namespace ('#') and
 * suffix (':'), printable ASCII ('?' for any other byte), "HTTP<status>" when none is given; the
 * message whole, or cut at the field's bound (at a word boundary when one is near, never inside
 * a UTF-8 sequence) or where the body ended inside it, and then ending in AWS_ERROR_CUT_MARK;
 * its bytes as they came, control characters and invalid UTF-8 included (whoever shows it
 * escapes them, escape.h), a NUL as '?', XML text without the white space around it; for a body
 * that is none of these shapes, its printable ASCII excerpt ('?' for any other byte), 200 bytes
 * at most (the mark included when cut). Never fails.
 */
void aws_parse_error(long status, const char *body, size_t len, const char *error_type,
		     const char *query_error, const char *request_id, struct aws_error *ret);

/* What an error means for the caller (aws_error_classify()). */
enum aws_error_class {
	AWS_ERROR_TRANSIENT, /* no reply, 5xx, throttled, timed out, unreadable: try again later */
	AWS_ERROR_AUTH,      /* refused to these credentials: IAM, an expired or unknown key */
	AWS_ERROR_REQUEST,   /* the request's fault (a parameter, the configuration): not retried */
	AWS_ERROR_NOT_FOUND, /* the thing asked about does not exist; the caller says what it means
			      */
};

/*
 * Classifies an error (pure; from its status and code). TRANSIENT: no HTTP reply (status 0),
 * any 5xx, 429, the throttling codes, RequestTimeout(Exception), PriorRequestNotComplete,
 * ConnectionError, MalformedResponse, CredentialsError, EndpointError, ServerException,
 * InternalError, InternalFailure, ServiceUnavailable(Exception). AUTH: AccessDenied(Exception),
 * UnauthorizedOperation, UnrecognizedClientException, InvalidClientTokenId, ExpiredToken*,
 * MissingAuthenticationToken*, signature and clock codes that outlived the client's own
 * correction, and a 401 or 403 without a code. NOT_FOUND: a code with "NotFound",
 * "DoesNotExist", "NonExistent" in it or starting "NoSuch", and ECS's
 * ServiceNotActiveException. REQUEST: everything else (ClientException,
 * InvalidParameterException, ValidationException, SerializationException, any other 4xx; a 404
 * without a code, which is an endpoint that is not AWS's, not a missing resource).
 */
enum aws_error_class aws_error_classify(const struct aws_error *e);

/* "transient", "authorization", "request", "not-found"; "unknown" for another value. */
const char *aws_error_class_name(enum aws_error_class c);

/*
 * The IAM action an authorization message names as missing ("... is not authorized to
 * perform: ecs:RegisterTaskDefinition on resource: ...", "... not authorized to perform
 * iam:PassRole ...", "... no identity-based policy allows the ecr:BatchGetImage action"),
 * copied to buf (n bytes): a service of [a-z0-9-], ':', an action of [A-Za-z0-9*]. Returns 1
 * when one was found and fits, else 0 with buf "" (when n > 0).
 */
int aws_error_action(const struct aws_error *e, char *buf, size_t n);

/* Parses an HTTP Date header ("Tue, 01 Dec 2026 10:00:00 GMT"). Returns 0 or -EINVAL. */
int aws_parse_http_date(const char *s, time_t *ret);

/* Whether code is one of the throttling codes of the AWS SDKs. */
bool aws_is_throttle(const char *code);

/* Current clock skew correction (seconds added to local time when signing). */
long aws_clock_skew(const struct aws_client *c);

/*
 * How a finished call ended, in one word of a small fixed set (a metrics label): ok; throttled (a
 * throttling code or HTTP 429); timeout (no reply in time, or RequestTimeout); network (no HTTP
 * reply: refused, reset, unreachable); server_error (5xx); auth (aws_error_classify() says
 * AUTH); client_error (any other AWS error reply); malformed (a 2xx reply that is not a JSON
 * object); credentials (no request could be signed: no credentials, a signing failure).
 */
enum aws_outcome {
	AWS_OUTCOME_OK,
	AWS_OUTCOME_THROTTLED,
	AWS_OUTCOME_TIMEOUT,
	AWS_OUTCOME_NETWORK,
	AWS_OUTCOME_SERVER_ERROR,
	AWS_OUTCOME_AUTH,
	AWS_OUTCOME_CLIENT_ERROR,
	AWS_OUTCOME_MALFORMED,
	AWS_OUTCOME_CREDENTIALS,
	AWS_OUTCOME_REFUSED, /* the gate refused it: no request was sent */
	AWS_OUTCOME_COUNT
};

/* The outcome of a finished call (pure). */
enum aws_outcome aws_outcome_of(const struct aws_result *res);

/* "ok", "throttled", "timeout", "network", "server_error", "auth", "client_error", "malformed",
 * "credentials", "refused"; "unknown" for another value. */
const char *aws_outcome_name(enum aws_outcome o);

/*
 * Told of every call that finished (not of one cancelled), from the loop, just before the call's
 * own done callback, with the same result (read it, take nothing): for metrics. common/ knows
 * nothing of who listens. One observer per client; fn NULL removes it.
 */
typedef void (*aws_observer_fn)(const struct aws_result *res, void *userdata);
void aws_client_set_observer(struct aws_client *c, aws_observer_fn fn, void *userdata);

/* Tokens left in the retry budget. */
int aws_retry_budget(const struct aws_client *c);

/* Calls in flight (waiting for credentials, on the wire, or waiting to retry). */
int aws_in_flight(const struct aws_client *c);

#endif

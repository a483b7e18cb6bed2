/* SPDX-License-Identifier: MIT */
/*
 * common/aws for high availability (issue 18): the gate (a mutating call of a standby or a
 * suspended leader never reaches the HTTP layer; reads and DynamoDB calls pass), and the
 * cancellation reasons of a TransactionCanceledException (the JSON body and the message).
 */
#include <arpa/inet.h>
#include <cJSON.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aws.h"
#include "credentials.h"
#include "http.h"
#include "sigv4.h"
#include "unit.h"

/* A local listener that counts the connections made to it and never answers. */
struct sink {
	int fd;
	int port;
	int accepted;
	int conns[16];
	struct ev_io io;
};

static void on_accept(struct ev_loop *loop, struct ev_io *w, int revents)
{
	struct sink *s = w->data;
	int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	(void)loop;
	(void)revents;
	if (c < 0)
		return;
	if (s->accepted < 16)
		s->conns[s->accepted] = c;
	else
		close(c);
	s->accepted++;
}

static int sink_open(struct ev_loop *loop, struct sink *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s->fd, 16) < 0 || getsockname(s->fd, (struct sockaddr *)&a, &len) < 0)
		return -errno;
	s->port = ntohs(a.sin_port);
	ev_io_init(&s->io, on_accept, s->fd, EV_READ);
	s->io.data = s;
	ev_io_start(loop, &s->io);
	return 0;
}

static void sink_close(struct ev_loop *loop, struct sink *s)
{
	ev_io_stop(loop, &s->io);
	for (int i = 0; i < s->accepted && i < 16; i++)
		close(s->conns[i]);
	close(s->fd);
}

struct outcome {
	bool done;
	bool ok;
	char code[128];
	int attempts;
	enum aws_outcome outcome;
	bool observed;
};

static void on_done(struct aws_result *res, void *ud)
{
	struct outcome *o = ud;

	o->done = true;
	o->ok = res->ok;
	o->attempts = res->attempts;
	o->outcome = aws_outcome_of(res);
	snprintf(o->code, sizeof(o->code), "%s", res->err.code);
}

static void on_observe(const struct aws_result *res, void *ud)
{
	struct outcome *o = ud;

	(void)res;
	o->observed = true;
}

static bool gate_open;
static int gate_asked;

static bool gate(void *ud)
{
	CHECK(ud == &gate_open);
	gate_asked++;
	return gate_open;
}

struct rig {
	struct ev_loop *loop;
	struct sink sink;
	struct http_client *http;
	struct sigv4_signer *signer;
	struct cred_provider *creds;
	struct aws_client *aws;
};

static int rig_open(struct rig *r)
{
	struct http_client_options ho = { 0 };
	struct cred_options co = { 0 };
	struct aws_options ao = { .region = "us-east-1", .max_attempts = 1, .timeout_ms = 300 };
	char url[64];
	const char *why = NULL;

	memset(r, 0, sizeof(*r));
	r->loop = ev_loop_new(EVFLAG_AUTO);
	if (!r->loop || sink_open(r->loop, &r->sink) < 0)
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", r->sink.port);
	for (int i = 0; i < AWS_SERVICE_COUNT; i++)
		ao.endpoints[i] = url;
	setenv("AWS_ACCESS_KEY_ID", "AKIDGATETEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "gateTestSecret", 1);
	co.loop = r->loop;
	r->http = http_client_new(r->loop, &ho);
	r->signer = sigv4_signer_new();
	co.http = r->http;
	co.signer = r->signer;
	co.region = "us-east-1";
	r->creds = cred_chain_new(&co);
	r->aws = r->creds ? aws_client_new(r->loop, r->http, r->signer, r->creds, &ao, &why) : NULL;
	return r->aws ? 0 : -1;
}

static void rig_close(struct rig *r)
{
	aws_client_free(r->aws);
	cred_provider_free(r->creds);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	sigv4_signer_free(r->signer);
	http_client_free(r->http);
	sink_close(r->loop, &r->sink);
	ev_loop_destroy(r->loop);
}

/* Runs one call to its end; returns the connections the listener saw meanwhile. */
static int run_call(struct rig *r, const struct aws_service *svc, const char *op, struct outcome *o)
{
	struct aws_call_spec spec = { .service = svc, .operation = op };
	int before = r->sink.accepted;

	memset(o, 0, sizeof(*o));
	aws_client_set_observer(r->aws, on_observe, o);
	CHECK_INT(aws_call(r->aws, &spec, on_done, o, NULL), 0);
	CHECK(!o->done); /* never from inside aws_call() */
	while (!o->done)
		ev_run(r->loop, EVRUN_ONCE);
	/* a connection that was made is accepted by now: the request went out on it */
	ev_run(r->loop, EVRUN_NOWAIT);
	return r->sink.accepted - before;
}

TEST(aws_gate_refuses_mutations_without_a_request)
{
	struct rig r;
	struct outcome o;

	if (rig_open(&r) < 0) {
		CHECK(!"cannot set up the test rig");
		return;
	}
	gate_open = false;
	gate_asked = 0;
	aws_client_set_gate(r.aws, gate, &gate_open);

	/* mutating calls: refused from the loop, no connection, no attempt */
	static const struct {
		const struct aws_service *svc;
		const char *op;
	} mutating[] = {
		{ &aws_ecs, "UpdateService" },
		{ &aws_ecs, "RegisterTaskDefinition" },
		{ &aws_codedeploy, "CreateDeployment" },
		{ &aws_sqs, "DeleteMessageBatch" },
		{ &aws_sqs, "ReceiveMessage" }, /* not a read: it hides messages from the leader */
		{ &aws_events, "PutEvents" },
	};
	for (size_t i = 0; i < sizeof(mutating) / sizeof(mutating[0]); i++) {
		CHECK_INT(run_call(&r, mutating[i].svc, mutating[i].op, &o), 0);
		CHECK(!o.ok);
		CHECK_STR(o.code, "NotLeader");
		CHECK_INT(o.attempts, 0);
		CHECK_INT(o.outcome, AWS_OUTCOME_REFUSED);
		CHECK(o.observed);
	}
	CHECK_INT(r.sink.accepted, 0);
	CHECK(gate_asked >= 6);

	/* reads and DynamoDB calls pass the closed gate: they reach the listener (which never
	 * answers: a timeout) */
	static const struct {
		const struct aws_service *svc;
		const char *op;
	} passing[] = {
		{ &aws_ecs, "DescribeServices" }, { &aws_ecr, "ListImages" },
		{ &aws_ecr, "BatchGetImage" },    { &aws_codedeploy, "GetDeployment" },
		{ &aws_dynamodb, "UpdateItem" },  { &aws_dynamodb, "TransactWriteItems" },
		{ &aws_dynamodb, "GetItem" },
	};
	for (size_t i = 0; i < sizeof(passing) / sizeof(passing[0]); i++) {
		CHECK_INT(run_call(&r, passing[i].svc, passing[i].op, &o), 1);
		CHECK(!o.ok);
		CHECK_STR(o.code, "RequestTimeout");
		CHECK_INT(o.attempts, 1);
	}

	/* the gate open: a mutating call goes out */
	gate_open = true;
	CHECK_INT(run_call(&r, &aws_ecs, "UpdateService", &o), 1);
	CHECK_STR(o.code, "RequestTimeout");

	/* no gate: the same */
	gate_open = false;
	aws_client_set_gate(r.aws, NULL, NULL);
	CHECK_INT(run_call(&r, &aws_ecs, "UpdateService", &o), 1);
	CHECK_STR(o.code, "RequestTimeout");
	rig_close(&r);
}

/* NotLeader is transient (the next leader, or this one resumed, does it), and says "refused". */
TEST(aws_gate_error_class)
{
	struct aws_error e = { 0 };
	struct aws_result res = { .ok = false };

	snprintf(e.code, sizeof(e.code), "NotLeader");
	CHECK_INT(aws_error_classify(&e), AWS_ERROR_TRANSIENT);
	res.err = e;
	CHECK_STR(aws_outcome_name(aws_outcome_of(&res)), "refused");
}

TEST(aws_operation_is_read_table)
{
	static const struct {
		const struct aws_service *svc;
		const char *op;
		bool read;
	} rows[] = {
		{ &aws_ecs, "DescribeServices", true },
		{ &aws_ecs, "DescribeTaskDefinition", true },
		{ &aws_ecr, "DescribeImages", true },
		{ &aws_ecr, "ListImages", true },
		{ &aws_ecr, "BatchGetImage", true },
		{ &aws_ecr, "GetAuthorizationToken", true },
		{ &aws_sqs, "GetQueueAttributes", true },
		{ &aws_codedeploy, "GetDeployment", true },
		{ &aws_dynamodb, "PutItem", true },
		{ &aws_dynamodb, "TransactWriteItems", true },
		{ &aws_ecs, "UpdateService", false },
		{ &aws_ecs, "RegisterTaskDefinition", false },
		{ &aws_ecs, "DeregisterTaskDefinition", false },
		{ &aws_ecs, "TagResource", false },
		{ &aws_codedeploy, "CreateDeployment", false },
		{ &aws_codedeploy, "StopDeployment", false },
		{ &aws_codedeploy, "PutLifecycleEventHookExecutionStatus", false },
		{ &aws_codedeploy, "ContinueDeployment", false },
		{ &aws_sqs, "ReceiveMessage", false },
		{ &aws_sqs, "DeleteMessageBatch", false },
		{ &aws_sqs, "ChangeMessageVisibility", false },
		{ &aws_events, "PutEvents", false },
		{ &aws_ecs, "Getaway", false },   /* a verb, then a capital */
		{ &aws_ecs, "Describe", false },  /* the verb alone */
		{ &aws_ecs, "describeX", false }, /* case matters */
		{ &aws_ecs, "", false },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (aws_operation_is_read(rows[i].svc, rows[i].op) != rows[i].read)
			unit_fail(__FILE__, __LINE__, "row %zu: %s", i, rows[i].op);
	CHECK(!aws_operation_is_read(NULL, "DescribeServices"));
	CHECK(!aws_operation_is_read(&aws_ecs, NULL));
}

TEST(aws_cancellation_reasons_body)
{
	char codes[4][AWS_REASON_MAX];
	cJSON *b = cJSON_Parse(
	    "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\","
	    "\"Message\":\"Transaction cancelled, please refer cancellation reasons for specific "
	    "reasons [None, ConditionalCheckFailed]\","
	    "\"CancellationReasons\":[{\"Code\":\"ConditionalCheckFailed\",\"Message\":\"The "
	    "conditional request failed\"},{\"Code\":\"None\"},{}]}");

	/* the body wins over the message (they disagree here on purpose) */
	CHECK_INT(aws_cancellation_reasons(b, "... [None, ConditionalCheckFailed]", codes, 4), 3);
	CHECK_STR(codes[0], "ConditionalCheckFailed");
	CHECK_STR(codes[1], "None");
	CHECK_STR(codes[2], "None"); /* an entry without a Code */
	CHECK_INT(aws_cancellation_reasons(b, NULL, codes, 1), 1);
	CHECK_STR(codes[0], "ConditionalCheckFailed");
	cJSON_Delete(b);

	/* hostile: a code that is not text, an entry that is not an object, a long code */
	b = cJSON_Parse("{\"CancellationReasons\":[{\"Code\":5}]}");
	CHECK_INT(aws_cancellation_reasons(b, NULL, codes, 4), 1);
	CHECK_STR(codes[0], "None");
	cJSON_Delete(b);
	b = cJSON_Parse("{\"CancellationReasons\":[\"ConditionalCheckFailed\"]}");
	CHECK_INT(aws_cancellation_reasons(b, NULL, codes, 4), -EPROTO);
	cJSON_Delete(b);
	b = cJSON_Parse(
	    "{\"CancellationReasons\":[{\"Code\":\"Conditional\\u0001Check"
	    "FailedXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\"}]}");
	CHECK_INT(aws_cancellation_reasons(b, NULL, codes, 4), 1);
	CHECK_INT(strlen(codes[0]), AWS_REASON_MAX - 1);
	CHECK(!strncmp(codes[0], "Conditional?Check", 17));
	cJSON_Delete(b);
}

TEST(aws_cancellation_reasons_message)
{
	char codes[4][AWS_REASON_MAX];

	CHECK_INT(aws_cancellation_reasons(NULL,
					   "Transaction cancelled, please refer cancellation "
					   "reasons for specific reasons [ConditionalCheckFailed, "
					   "None]",
					   codes, 4),
		  2);
	CHECK_STR(codes[0], "ConditionalCheckFailed");
	CHECK_STR(codes[1], "None");
	CHECK_INT(aws_cancellation_reasons(NULL, "x [None,TransactionConflict,None]", codes, 4), 3);
	CHECK_STR(codes[1], "TransactionConflict");
	CHECK_INT(aws_cancellation_reasons(NULL, "x [None, None, None, None, None]", codes, 4), 4);
	/* the body without the list: the message says */
	cJSON *b = cJSON_Parse("{\"message\":\"m\"}");
	CHECK_INT(aws_cancellation_reasons(b, "x [ThrottlingError]", codes, 4), 1);
	CHECK_STR(codes[0], "ThrottlingError");
	cJSON_Delete(b);
	/* neither says; broken lists */
	CHECK_INT(aws_cancellation_reasons(NULL, "Transaction cancelled", codes, 4), 0);
	CHECK_INT(aws_cancellation_reasons(NULL, NULL, codes, 4), 0);
	CHECK_INT(aws_cancellation_reasons(NULL, "x [None, ConditionalCheckFailed", codes, 4),
		  -EPROTO);
	CHECK_INT(aws_cancellation_reasons(NULL, "x [None,, None]", codes, 4), -EPROTO);
	CHECK_INT(aws_cancellation_reasons(NULL, "x []", codes, 4), -EPROTO);
	CHECK_INT(aws_cancellation_reasons(NULL, "x [\x01\x7f]", codes, 4), 1);
	CHECK_STR(codes[0], "??");
}

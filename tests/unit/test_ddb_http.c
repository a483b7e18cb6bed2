/* SPDX-License-Identifier: MIT */
/*
 * daemon/ddb and daemon/lease over HTTP: a small DynamoDB stand-in on a thread answers each
 * call from a script, and records what it received (X-Amz-Target, the JSON body), so that the
 * blocking calls on the private loop, the asynchronous ones on the daemon's loop, their
 * bounds, the error mapping of real replies and the lease's real driver are shown end to end.
 */
#include <arpa/inet.h>
#include <cJSON.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "aws.h"
#include "credentials.h"
#include "ddb.h"
#include "http.h"
#include "lease.h"
#include "sigv4.h"
#include "unit.h"

#define MAX_REQ   32
#define MAX_CONNS 16

struct conn;

struct reply {
	int status;       /* 0: never answer (held until the client gives up) */
	const char *body; /* JSON */
};

struct server {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t mu;
	volatile bool stop;
	struct reply script[MAX_REQ];
	int n_script; /* replies after the script: {} with 200 */
	int n_req;
	char target[MAX_REQ][96];
	char *body[MAX_REQ];
	struct conn *conns;
	pthread_t conn_threads[MAX_CONNS];
	int n_conns;
};

/* Reads one request (headers and a Content-Length body); 0, or -1 when the peer is gone. */
static int read_request(struct server *s, int c, char *target, size_t tn, char **body)
{
	char buf[65536];
	size_t len = 0;
	char *end = NULL, *cl, *tg;
	long clen = 0;

	while (!end) {
		struct pollfd p = { c, POLLIN, 0 };
		ssize_t r;

		if (s->stop || len >= sizeof(buf) - 1)
			return -1;
		if (poll(&p, 1, 50) <= 0)
			continue;
		r = read(c, buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			return -1;
		len += (size_t)r;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	*end = '\0';
	cl = strcasestr(buf, "Content-Length:");
	if (cl)
		clen = strtol(cl + 15, NULL, 10);
	tg = strcasestr(buf, "X-Amz-Target:");
	snprintf(target, tn, "%.*s", tg ? (int)strcspn(tg + 14, "\r\n") : 0, tg ? tg + 14 : "");
	size_t have = len - (size_t)(end + 4 - buf);
	char *b = calloc(1, (size_t)clen + 1);
	if (!b)
		return -1;
	memcpy(b, end + 4, have < (size_t)clen ? have : (size_t)clen);
	while ((long)have < clen) {
		ssize_t r = read(c, b + have, (size_t)clen - have);
		if (r <= 0) {
			free(b);
			return -1;
		}
		have += (size_t)r;
	}
	*body = b;
	return 0;
}

struct conn {
	struct server *s;
	int fd;
};

/* One connection: requests answered in turn until the peer closes. */
static void *serve_conn(void *ud)
{
	struct conn *cn = ud;
	struct server *s = cn->s;
	int c = cn->fd;

	for (;;) {
		char target[96], *body = NULL, head[256];
		struct reply rep = { 200, "{}" };
		int i;

		if (read_request(s, c, target, sizeof(target), &body) < 0)
			break;
		pthread_mutex_lock(&s->mu);
		i = s->n_req++;
		if (i < MAX_REQ) {
			snprintf(s->target[i], sizeof(s->target[i]), "%s", target);
			s->body[i] = body;
			body = NULL;
		}
		if (i < s->n_script)
			rep = s->script[i];
		pthread_mutex_unlock(&s->mu);
		free(body);
		if (rep.status == 0) {
			/* held: until the client closes */
			struct pollfd q = { c, POLLIN, 0 };
			while (!s->stop && poll(&q, 1, 50) == 0)
				;
			break;
		}
		snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Type: application/x-amz-json-1.0\r\n"
			 "Content-Length: %zu\r\nx-amzn-RequestId: r%d\r\n\r\n",
			 rep.status, strlen(rep.body), i);
		if (write(c, head, strlen(head)) < 0 || write(c, rep.body, strlen(rep.body)) < 0)
			break;
	}
	close(c);
	return NULL;
}

static void *serve(void *ud)
{
	struct server *s = ud;

	while (!s->stop) {
		struct pollfd p = { s->fd, POLLIN, 0 };
		int c;

		if (poll(&p, 1, 50) <= 0)
			continue;
		c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		if (s->n_conns >= MAX_CONNS) {
			close(c);
			continue;
		}
		s->conns[s->n_conns] = (struct conn){ s, c };
		if (pthread_create(&s->conn_threads[s->n_conns], NULL, serve_conn,
				   &s->conns[s->n_conns]) == 0)
			s->n_conns++;
		else
			close(c);
	}
	for (int i = 0; i < s->n_conns; i++)
		pthread_join(s->conn_threads[i], NULL);
	return NULL;
}

static int server_start(struct server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s->fd, 16) < 0 || getsockname(s->fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	s->port = ntohs(a.sin_port);
	s->conns = calloc(MAX_CONNS, sizeof(*s->conns));
	if (!s->conns)
		return -1;
	return pthread_create(&s->thread, NULL, serve, s) == 0 ? 0 : -1;
}

static void server_stop(struct server *s)
{
	s->stop = true;
	pthread_join(s->thread, NULL);
	close(s->fd);
	for (int i = 0; i < s->n_req && i < MAX_REQ; i++)
		free(s->body[i]);
	pthread_mutex_destroy(&s->mu);
	free(s->conns);
}

static void script(struct server *s, int i, int status, const char *body)
{
	pthread_mutex_lock(&s->mu);
	s->script[i] = (struct reply){ status, body };
	if (s->n_script < i + 1)
		s->n_script = i + 1;
	pthread_mutex_unlock(&s->mu);
}

static int requests(struct server *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->n_req;
	pthread_mutex_unlock(&s->mu);
	return n;
}

struct rig {
	struct server srv;
	struct ev_loop *loop;
	struct http_client *http;
	struct sigv4_signer *signer;
	struct cred_provider *creds;
	struct aws_client *aws;
	struct aws_options ao;
	char url[64];
	struct ddb *t;
};

static int observed;

static void observe(const struct aws_result *res, void *ud)
{
	(void)ud;
	if (res->service == &aws_dynamodb)
		observed++;
}

static void on_creds(const struct aws_credentials *cr, int err, const char *why, void *ud)
{
	(void)cr;
	(void)err;
	(void)why;
	*(bool *)ud = true;
}

/* The credentials resolved on the loop, as the lease's first call does in the daemon. */
static void warm_up(struct rig *r)
{
	bool done = false;

	if (cred_wait(r->creds, on_creds, &done, NULL) < 0)
		return;
	while (!done)
		ev_run(r->loop, EVRUN_ONCE);
}

static int rig_open(struct rig *r, long timeout_ms)
{
	struct http_client_options ho = { 0 };
	struct cred_options co = { 0 };
	const char *w = NULL;
	char why[256];

	memset(r, 0, sizeof(*r));
	if (server_start(&r->srv) < 0)
		return -1;
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d", r->srv.port);
	r->ao.region = "us-east-1";
	r->ao.max_attempts = 1;
	r->ao.endpoints[AWS_SERVICE_DYNAMODB] = r->url;
	r->loop = ev_loop_new(EVFLAG_AUTO);
	r->http = http_client_new(r->loop, &ho);
	r->signer = sigv4_signer_new();
	setenv("AWS_ACCESS_KEY_ID", "AKIDDDBHTTP", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ddbHttpSecret", 1);
	co.loop = r->loop;
	co.http = r->http;
	co.signer = r->signer;
	co.region = "us-east-1";
	r->creds = cred_chain_new(&co);
	r->aws = aws_client_new(r->loop, r->http, r->signer, r->creds, &r->ao, &w);
	struct ddb_options o = { .loop = r->loop,
				 .aws = r->aws,
				 .http = r->http,
				 .signer = r->signer,
				 .creds = r->creds,
				 .aws_options = &r->ao,
				 .table = "ecr-ha",
				 .group = "prod",
				 .timeout_ms = timeout_ms,
				 .observer = observe };
	if (!r->aws || ddb_new(&o, &r->t, why, sizeof(why)) < 0)
		return -1;
	warm_up(r);
	return 0;
}

static void rig_close(struct rig *r)
{
	ddb_free(r->t);
	aws_client_free(r->aws);
	cred_provider_free(r->creds);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	sigv4_signer_free(r->signer);
	http_client_free(r->http);
	ev_loop_destroy(r->loop);
	server_stop(&r->srv);
}

static long ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static bool gate_open = true;

static bool gate(void *ud)
{
	(void)ud;
	return gate_open;
}

TEST(ddb_http_fenced_write)
{
	struct rig r;
	struct ddb_write w[] = { { "w/web", "{}", 0 }, { "r/web/svc", NULL, 0 } };
	char why[700] = "";

	if (rig_open(&r, 1500) < 0) {
		CHECK(!"cannot set up the rig");
		return;
	}
	/* no fence yet: refused without a request */
	CHECK_INT(ddb_write(r.t, w, 2, why, sizeof(why)), -EAGAIN);
	CHECK_INT(requests(&r.srv), 0);
	ddb_set_fence(r.t, "host-a", 3);
	/* the gate closed: the same */
	gate_open = false;
	ddb_set_gate(r.t, gate, NULL);
	CHECK_INT(ddb_write(r.t, w, 2, why, sizeof(why)), -EAGAIN);
	CHECK(strstr(why, "not acting") != NULL);
	CHECK_INT(requests(&r.srv), 0);
	gate_open = true;

	/* accepted; the observer told */
	observed = 0;
	CHECK_INT(ddb_write(r.t, w, 2, why, sizeof(why)), 0);
	CHECK_INT(requests(&r.srv), 1);
	CHECK_INT(observed, 1);
	CHECK_STR(r.srv.target[0], "DynamoDB_20120810.TransactWriteItems");
	cJSON *sent = cJSON_Parse(r.srv.body[0]);
	cJSON *want = ddb_build_write("ecr-ha", "prod", "host-a", 3, w, 2, why, sizeof(why));
	CHECK(sent && want && cJSON_Compare(sent, want, true));
	cJSON_Delete(sent);
	cJSON_Delete(want);

	/* refused by the fence: the reasons in the body... */
	script(&r.srv, 1, 400,
	       "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\","
	       "\"Message\":\"Transaction cancelled, please refer cancellation reasons for "
	       "specific reasons [ConditionalCheckFailed, None, None]\",\"CancellationReasons\":"
	       "[{\"Code\":\"ConditionalCheckFailed\",\"Message\":\"The conditional request "
	       "failed\"},{\"Code\":\"None\"},{\"Code\":\"None\"}]}");
	CHECK_INT(ddb_write(r.t, w, 2, why, sizeof(why)), -ESTALE);
	CHECK(strstr(why, "table 'ecr-ha' TransactWriteItems: TransactionCanceledException "
			  "(action 0: ConditionalCheckFailed)") != NULL);
	/* ...or in the message only */
	script(&r.srv, 2, 400,
	       "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\","
	       "\"message\":\"Transaction cancelled, please refer cancellation reasons for "
	       "specific reasons [ConditionalCheckFailed, None, None]\"}");
	CHECK_INT(ddb_write(r.t, w, 2, why, sizeof(why)), -ESTALE);
	/* a conflict is tried again within the bound */
	script(&r.srv, 3, 400,
	       "{\"__type\":\"TransactionCanceledException\",\"message\":\"x [None, "
	       "TransactionConflict, None]\"}");
	CHECK_INT(ddb_write(r.t, w, 2, why, sizeof(why)), 0);
	CHECK_INT(requests(&r.srv), 5);
	/* refused to our credentials; a missing table */
	script(&r.srv, 5, 400,
	       "{\"__type\":\"com.amazon.coral.service#AccessDeniedException\",\"Message\":\"User "
	       "is not authorized to perform: dynamodb:TransactWriteItems\"}");
	CHECK_INT(ddb_write(r.t, w, 2, why, sizeof(why)), -EACCES);
	CHECK(strstr(why, "AccessDeniedException") != NULL);
	script(&r.srv, 6, 400,
	       "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\","
	       "\"message\":\"Requested resource not found\"}");
	CHECK_INT(ddb_write(r.t, w, 2, why, sizeof(why)), -ENXIO);
	rig_close(&r);
}

/* Over DynamoDB's 4 MB, a write goes as several transactions, each fenced. */
TEST(ddb_http_big_write_cut)
{
	struct rig r;
	struct ddb_write w[12];
	char keys[12][16], why[700] = "";
	char *doc = malloc(390001);

	if (!doc || rig_open(&r, 3000) < 0) {
		CHECK(!"cannot set up the rig");
		free(doc);
		return;
	}
	memset(doc, 'x', 390000);
	doc[390000] = '\0';
	for (int i = 0; i < 12; i++) {
		snprintf(keys[i], sizeof(keys[i]), "r/w/%d", i);
		w[i] = (struct ddb_write){ keys[i], doc, 0 };
	}
	ddb_set_fence(r.t, "host-a", 2);
	CHECK_INT(ddb_write(r.t, w, 12, why, sizeof(why)), 0);
	CHECK_INT(requests(&r.srv), 2);
	for (int i = 0; i < 2 && i < requests(&r.srv); i++) {
		cJSON *b = cJSON_Parse(r.srv.body[i]);
		cJSON *items = cJSON_GetObjectItem(b, "TransactItems");
		CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "ConditionCheck") != NULL);
		CHECK(strlen(r.srv.body[i]) < 4000000);
		CHECK_INT(cJSON_GetArraySize(items), i == 0 ? 10 : 4); /* 9 + 3 Puts */
		cJSON_Delete(b);
	}
	/* the first refused: the second is not sent */
	script(&r.srv, 2, 400,
	       "{\"__type\":\"TransactionCanceledException\",\"message\":\"x "
	       "[ConditionalCheckFailed, None]\"}");
	CHECK_INT(ddb_write(r.t, w, 12, why, sizeof(why)), -ESTALE);
	CHECK_INT(requests(&r.srv), 3);
	rig_close(&r);
	free(doc);
}

/* A blocking call never waits for credentials (nor runs the daemon's loop to get them). */
TEST(ddb_http_credentials_not_ready)
{
	struct server srv;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct http_client_options ho = { 0 };
	struct http_client *http = http_client_new(loop, &ho);
	struct sigv4_signer *signer = sigv4_signer_new();
	struct cred_options co = { .loop = loop, .http = http, .signer = signer };
	struct aws_options ao = { .region = "us-east-1" };
	char url[64], why[700] = "";
	const char *w = NULL;
	struct ddb *t = NULL;

	CHECK_INT(server_start(&srv), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
	ao.endpoints[AWS_SERVICE_DYNAMODB] = url;
	setenv("AWS_ACCESS_KEY_ID", "AKIDDDBHTTP", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ddbHttpSecret", 1);
	struct cred_provider *creds = cred_chain_new(&co);
	struct aws_client *aws = aws_client_new(loop, http, signer, creds, &ao, &w);
	struct ddb_options o = { .loop = loop,
				 .aws = aws,
				 .http = http,
				 .signer = signer,
				 .creds = creds,
				 .aws_options = &ao,
				 .table = "ecr-ha",
				 .group = "prod" };
	CHECK_INT(ddb_new(&o, &t, why, sizeof(why)), 0);
	if (t) {
		struct ddb_write wr[] = { { "w/a", "{}", 0 } };
		ddb_set_fence(t, "a", 1);
		CHECK_INT(ddb_write(t, wr, 1, why, sizeof(why)), -EAGAIN);
		CHECK(strstr(why, "credentials are not ready") != NULL);
		CHECK_INT(requests(&srv), 0);
	}
	ddb_free(t);
	aws_client_free(aws);
	cred_provider_free(creds);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	sigv4_signer_free(signer);
	http_client_free(http);
	ev_loop_destroy(loop);
	server_stop(&srv);
}

TEST(ddb_http_blocking_call_is_bounded)
{
	struct rig r;
	struct ddb_write w[] = { { "w/web", "{}", 0 } };
	struct timespec t0;
	char why[700] = "";

	if (rig_open(&r, 400) < 0) {
		CHECK(!"cannot set up the rig");
		return;
	}
	ddb_set_fence(r.t, "host-a", 1);
	script(&r.srv, 0, 0, NULL); /* never answered */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(ddb_write(r.t, w, 1, why, sizeof(why)), -EAGAIN);
	long took = ms_since(&t0);
	CHECK(took >= 350 && took < 1500);
	CHECK(strstr(why, "TransactWriteItems") != NULL);
	/* the client works again afterwards */
	CHECK_INT(ddb_write(r.t, w, 1, why, sizeof(why)), 0);
	rig_close(&r);
}

struct collected {
	int n;
	char sks[8][32];
	int docs;
};

static int collect(const char *sk, const char *doc, size_t len, void *ud)
{
	struct collected *c = ud;

	(void)len;
	if (c->n < 8)
		snprintf(c->sks[c->n], sizeof(c->sks[0]), "%s", sk);
	c->n++;
	c->docs += doc != NULL;
	return 0;
}

TEST(ddb_http_read_all_pages)
{
	struct rig r;
	struct collected c = { 0 };
	char why[700] = "";

	if (rig_open(&r, 1500) < 0) {
		CHECK(!"cannot set up the rig");
		return;
	}
	script(
	    &r.srv, 0, 200,
	    "{\"Items\":[{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"w/a\"},\"doc\":{\"S\":\"{}\"}},"
	    "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"w/b\"},\"doc\":{\"S\":\"{}\"}}],"
	    "\"Count\":2,\"LastEvaluatedKey\":{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"w/b\"}}}");
	script(&r.srv, 1, 200,
	       "{\"Items\":[{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"w/c\"}}],\"Count\":1}");
	CHECK_INT(ddb_read_all(r.t, "w/", collect, &c, why, sizeof(why)), 0);
	CHECK_INT(c.n, 3);
	CHECK_STR(c.sks[2], "w/c");
	CHECK_INT(c.docs, 2);
	CHECK_STR(r.srv.target[0], "DynamoDB_20120810.Query");
	cJSON *q0 = cJSON_Parse(r.srv.body[0]), *q1 = cJSON_Parse(r.srv.body[1]);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(q0, "ConsistentRead")));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(q0, "KeyConditionExpression")),
		  "#pk = :pk AND begins_with(#sk, :pre)");
	CHECK(!cJSON_GetObjectItem(q0, "ExclusiveStartKey"));
	CHECK_STR(
	    cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(q1, "ExclusiveStartKey"), "sk"), "S")),
	    "w/b");
	cJSON_Delete(q0);
	cJSON_Delete(q1);

	/* a hostile item stops the read, named */
	script(
	    &r.srv, 2, 200,
	    "{\"Items\":[{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"w/x\"},\"doc\":{\"N\":\"1\"}}]}");
	c.n = 0;
	CHECK_INT(ddb_read_all(r.t, "", collect, &c, why, sizeof(why)), -EPROTO);
	CHECK(strstr(why, "'doc'") != NULL);
	/* another group's item */
	script(&r.srv, 3, 200, "{\"Items\":[{\"pk\":{\"S\":\"other\"},\"sk\":{\"S\":\"w/x\"}}]}");
	CHECK_INT(ddb_read_all(r.t, "", collect, &c, why, sizeof(why)), -EPROTO);
	/* put if absent */
	script(&r.srv, 4, 400,
	       "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","
	       "\"message\":\"The conditional request failed\"}");
	CHECK_INT(ddb_put_if_absent(r.t, "meta", "{}", why, sizeof(why)), -EEXIST);
	CHECK_STR(r.srv.target[4], "DynamoDB_20120810.PutItem");
	CHECK(strstr(r.srv.body[4], "attribute_not_exists(sk)") != NULL);
	CHECK_INT(ddb_put_if_absent(r.t, "meta", "{}", why, sizeof(why)), 0);
	rig_close(&r);
}

struct answer {
	bool done;
	int err;
	struct ddb_lease item;
	char why[512];
};

static void on_answer(int err, const struct ddb_lease *item, const char *why, void *ud)
{
	struct answer *a = ud;

	a->done = true;
	a->err = err;
	if (item)
		a->item = *item;
	snprintf(a->why, sizeof(a->why), "%s", why);
}

static void wait_answer(struct rig *r, struct answer *a)
{
	while (!a->done)
		ev_run(r->loop, EVRUN_ONCE);
}

TEST(ddb_http_lease_calls_on_the_loop)
{
	struct rig r;
	struct answer a = { 0 };
	struct ddb_op *op = NULL;
	struct timespec t0;

	if (rig_open(&r, 1500) < 0) {
		CHECK(!"cannot set up the rig");
		return;
	}
	script(&r.srv, 0, 200, "{}");
	CHECK_INT(ddb_lease_read(r.t, 1000, on_answer, &a, &op), 0);
	CHECK(!a.done);
	wait_answer(&r, &a);
	CHECK_INT(a.err, -ENOENT);
	CHECK_STR(r.srv.target[0], "DynamoDB_20120810.GetItem");
	CHECK(strstr(r.srv.body[0], "\"ConsistentRead\":true") != NULL);

	script(
	    &r.srv, 1, 200,
	    "{\"Item\":{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"S\":\"b\"},"
	    "\"term\":{\"N\":\"2\"},\"version\":{\"N\":\"9\"},\"lease_ms\":{\"N\":\"3000\"},"
	    "\"since\":{\"N\":\"1\"},\"host\":{\"S\":\"b.example\"}}}");
	a = (struct answer){ 0 };
	CHECK_INT(ddb_lease_read(r.t, 1000, on_answer, &a, &op), 0);
	wait_answer(&r, &a);
	CHECK_INT(a.err, 0);
	CHECK_STR(a.item.owner, "b");
	CHECK_INT(a.item.version, 9);

	/* a write: exact request */
	struct ddb_lease next = { .owner = "a",
				  .term = 3,
				  .version = 10,
				  .lease_ms = 3000,
				  .since_ms = 5,
				  .host = "a.example",
				  .session = "0f1e" };
	struct ddb_lease_cond cond = { .version = 9 };
	a = (struct answer){ 0 };
	CHECK_INT(ddb_lease_write(r.t, &next, &cond, 1000, on_answer, &a, &op), 0);
	wait_answer(&r, &a);
	CHECK_INT(a.err, 0);
	CHECK_STR(r.srv.target[2], "DynamoDB_20120810.UpdateItem");
	CHECK_STR(
	    r.srv.body[2],
	    "{\"TableName\":\"ecr-ha\",\"Key\":{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":"
	    "\"lease\"}},\"UpdateExpression\":\"SET #o = :o, #t = :t, #v = :v, #l = :l, #s = "
	    ":s, #h = :h, #n = :n\",\"ConditionExpression\":\"#v = "
	    ":ev\",\"ExpressionAttributeNames\":{"
	    "\"#o\":\"owner\",\"#t\":\"term\",\"#v\":\"version\",\"#l\":\"lease_ms\",\"#s\":"
	    "\"since\",\"#h\":\"host\",\"#n\":\"session\"},\"ExpressionAttributeValues\":{\":o\":{"
	    "\"S\":\"a\"},"
	    "\":t\":{\"N\":\"3\"},\":v\":{\"N\":\"10\"},\":l\":{\"N\":\"3000\"},\":s\":{\"N\":"
	    "\"5\"},\":h\":{\"S\":\"a.example\"},\":n\":{\"S\":\"0f1e\"},\":ev\":{\"N\":\"9\"}}}");

	/* refused by its condition */
	script(&r.srv, 3, 400,
	       "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","
	       "\"message\":\"The conditional request failed\"}");
	a = (struct answer){ 0 };
	struct ddb_lease_cond renew = { .owner = "a", .term = 3, .version = 10 };
	CHECK_INT(ddb_lease_write(r.t, &next, &renew, 1000, on_answer, &a, &op), 0);
	wait_answer(&r, &a);
	CHECK_INT(a.err, -ESTALE);
	CHECK(strstr(r.srv.body[3], "\"#v = :ev AND #o = :eo AND #t = :et\"") != NULL);

	/* bounded: no answer in time */
	script(&r.srv, 4, 0, NULL);
	a = (struct answer){ 0 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(ddb_lease_read(r.t, 300, on_answer, &a, &op), 0);
	wait_answer(&r, &a);
	CHECK_INT(a.err, -EAGAIN);
	CHECK(ms_since(&t0) < 1000);
	CHECK(strstr(a.why, "GetItem") != NULL);

	/* cancelled: no callback */
	a = (struct answer){ 0 };
	CHECK_INT(ddb_lease_read(r.t, 1000, on_answer, &a, &op), 0);
	ddb_op_cancel(op);
	ev_run(r.loop, EVRUN_NOWAIT);
	CHECK(!a.done);
	rig_close(&r);
}

struct events {
	int leading, lost, changes;
	struct ev_loop *loop;
};

static void ev_leading(void *ud)
{
	((struct events *)ud)->leading++;
}

static void ev_lost(void *ud)
{
	((struct events *)ud)->lost++;
}

static void ev_change(void *ud)
{
	((struct events *)ud)->changes++;
}

/* The real driver: a missing item taken, then released at SIGTERM. */
TEST(lease_http_real_driver)
{
	struct rig r;
	struct events e = { 0 };
	struct lease *l = NULL;
	char why[256];

	if (rig_open(&r, 1500) < 0) {
		CHECK(!"cannot set up the rig");
		return;
	}
	struct lease_options o = { .loop = r.loop,
				   .ddb = r.t,
				   .instance = "a",
				   .host = "a.example",
				   .lease_ms = 3000,
				   .on_leading = ev_leading,
				   .on_lost = ev_lost,
				   .on_change = ev_change,
				   .userdata = &e };
	script(&r.srv, 0, 200, "{}"); /* GetItem: missing */
	script(&r.srv, 1, 200, "{}"); /* PutItem: taken */
	CHECK_INT(lease_new(&o, &l, why, sizeof(why)), 0);
	lease_start(l);
	CHECK_INT(requests(&r.srv), 0);
	for (int i = 0; i < 200 && !e.leading; i++)
		ev_run(r.loop, EVRUN_ONCE);
	CHECK_INT(e.leading, 1);
	CHECK_INT(lease_role(l), LEASE_LEADING);
	CHECK(lease_may_act(l));
	CHECK_STR(r.srv.target[1], "DynamoDB_20120810.PutItem");
	CHECK(strstr(r.srv.body[1], "attribute_not_exists(pk)") != NULL);
	/* the fence is set: a write carries owner a, term 1 */
	struct ddb_write w[] = { { "g", "{}", 0 } };
	int wr = ddb_write(r.t, w, 1, why, sizeof(why));
	CHECK_INT(wr, 0);
	if (wr)
		fprintf(stderr, "why: %s\n", why);
	int n = requests(&r.srv);
	CHECK(strstr(r.srv.body[n - 1], "{\":me\":{\"S\":\"a\"},\":term\":{\"N\":\"1\"}}") != NULL);
	/* released: owner "", conditioned on owner and term */
	CHECK_INT(lease_release(l), 0);
	n = requests(&r.srv);
	CHECK_STR(r.srv.target[n - 1], "DynamoDB_20120810.UpdateItem");
	CHECK(strstr(r.srv.body[n - 1], "\":o\":{\"S\":\"\"}") != NULL);
	CHECK(strstr(r.srv.body[n - 1], "\"#o = :eo AND #t = :et\"") != NULL);
	CHECK(strstr(r.srv.body[n - 1], "#v = #v + :v") != NULL);
	CHECK(!lease_may_act(l));
	/* no fence after the release */
	CHECK_INT(ddb_write(r.t, w, 1, why, sizeof(why)), -EAGAIN);
	lease_free(l);
	rig_close(&r);
}

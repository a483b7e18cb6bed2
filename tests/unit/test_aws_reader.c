/* SPDX-License-Identifier: MIT */
/*
 * common/aws, Contract A of issue 19: a body serialized by the caller is sent byte for byte and
 * signed (checked by signing the received request again), and a reply reader stands in for the
 * cJSON parse: what it accepts is a success without res->body, what it refuses is a
 * MalformedResponse with its reason, retried exactly as a reply that is not JSON is. A small
 * HTTP/1.1 server on a thread answers from a script and records every request.
 */
#include <arpa/inet.h>
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

#include <cJSON.h>

#include "aws.h"
#include "credentials.h"
#include "http.h"
#include "sigv4.h"
#include "unit.h"

#define MAX_REQ 16

struct reply {
	int status;
	const char *content_type; /* NULL: application/x-amz-json-1.1 */
	const char *body;
};

struct seen {
	char host[128], content_type[96], target[128], date[32], authz[512];
	char *body;
	size_t body_len;
};

struct server {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t mu;
	volatile bool stop;
	bool started;
	struct reply script[MAX_REQ];
	int n_script; /* after the script: 200 {} */
	int n_req;
	struct seen req[MAX_REQ];
};

/* The value of header name in the head (NUL-terminated, lines ending in CRLF), copied. */
static void header(const char *head, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);
	const char *p = head;

	out[0] = '\0';
	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;
			v += strspn(v, " ");
			snprintf(out, n, "%.*s", (int)strcspn(v, "\r\n"), v);
			return;
		}
	}
}

/* Reads one request into *ret; 0, or -1 when the peer is gone or the server stops. */
static int read_request(struct server *s, int c, struct seen *ret)
{
	char buf[16384], cl[32];
	size_t len = 0, have, clen;
	char *end = NULL;

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
	end[2] = '\0'; /* the head keeps its last CRLF */
	memset(ret, 0, sizeof(*ret));
	header(buf, "Host", ret->host, sizeof(ret->host));
	header(buf, "Content-Type", ret->content_type, sizeof(ret->content_type));
	header(buf, "X-Amz-Target", ret->target, sizeof(ret->target));
	header(buf, "X-Amz-Date", ret->date, sizeof(ret->date));
	header(buf, "Authorization", ret->authz, sizeof(ret->authz));
	header(buf, "Content-Length", cl, sizeof(cl));
	clen = strtoul(cl, NULL, 10);
	have = len - (size_t)(end + 4 - buf);
	ret->body = calloc(1, clen + 1);
	if (!ret->body)
		return -1;
	memcpy(ret->body, end + 4, have < clen ? have : clen);
	while (have < clen) {
		ssize_t r = read(c, ret->body + have, clen - have);
		if (r <= 0) {
			free(ret->body);
			ret->body = NULL;
			return -1;
		}
		have += (size_t)r;
	}
	ret->body_len = clen;
	return 0;
}

static void serve_conn(struct server *s, int c)
{
	for (;;) {
		struct reply rep = { 200, NULL, "{}" };
		struct seen q;
		char head[256];
		int i;

		if (read_request(s, c, &q) < 0)
			break;
		pthread_mutex_lock(&s->mu);
		i = s->n_req++;
		if (i < MAX_REQ)
			s->req[i] = q;
		else
			free(q.body);
		if (i < s->n_script)
			rep = s->script[i];
		pthread_mutex_unlock(&s->mu);
		snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "x-amzn-RequestId: req-%d\r\n\r\n",
			 rep.status,
			 rep.content_type ? rep.content_type : "application/x-amz-json-1.1",
			 strlen(rep.body), i);
		if (write(c, head, strlen(head)) < 0 || write(c, rep.body, strlen(rep.body)) < 0)
			break;
	}
	close(c);
}

/* One connection at a time: the calls of these tests are sequential. */
static void *serve(void *ud)
{
	struct server *s = ud;

	while (!s->stop) {
		struct pollfd p = { s->fd, POLLIN, 0 };
		int c;

		if (poll(&p, 1, 50) <= 0)
			continue;
		c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			serve_conn(s, c);
	}
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
	s->started = pthread_create(&s->thread, NULL, serve, s) == 0;
	return s->started ? 0 : -1;
}

static void server_stop(struct server *s)
{
	s->stop = true;
	if (s->started)
		pthread_join(s->thread, NULL);
	if (s->fd >= 0)
		close(s->fd);
	for (int i = 0; i < s->n_req && i < MAX_REQ; i++)
		free(s->req[i].body);
	pthread_mutex_destroy(&s->mu);
}

static void script(struct server *s, int i, int status, const char *content_type, const char *body)
{
	pthread_mutex_lock(&s->mu);
	s->script[i] = (struct reply){ status, content_type, body };
	if (s->n_script < i + 1)
		s->n_script = i + 1;
	pthread_mutex_unlock(&s->mu);
}

struct rig {
	struct server srv;
	struct ev_loop *loop;
	struct http_client *http;
	struct sigv4_signer *signer;
	struct cred_provider *creds;
	struct aws_client *aws;
};

#define KEY_ID "AKIDREADERTEST"
#define SECRET "readerTestSecretKey"

static int rig_open(struct rig *r, int max_attempts)
{
	struct http_client_options ho = { 0 };
	struct cred_options co = { 0 };
	struct aws_options ao = { .region = "us-east-1",
				  .max_attempts = max_attempts,
				  .retry_base_ms = 1,
				  .retry_cap_ms = 5,
				  .timeout_ms = 5000 };
	char url[64];
	const char *why = NULL;

	memset(r, 0, sizeof(*r));
	if (server_start(&r->srv) < 0)
		return -1;
	r->loop = ev_loop_new(EVFLAG_AUTO);
	if (!r->loop)
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", r->srv.port);
	for (int i = 0; i < AWS_SERVICE_COUNT; i++)
		ao.endpoints[i] = url;
	setenv("AWS_ACCESS_KEY_ID", KEY_ID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	unsetenv("AWS_SESSION_TOKEN");
	r->http = http_client_new(r->loop, &ho);
	r->signer = sigv4_signer_new();
	co.loop = r->loop;
	co.http = r->http;
	co.signer = r->signer;
	co.region = "us-east-1";
	r->creds = r->http && r->signer ? cred_chain_new(&co) : NULL;
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
	if (r->loop)
		ev_loop_destroy(r->loop);
	server_stop(&r->srv);
}

/* What a reader saw and what it is told to answer. */
struct reader_state {
	int calls;
	int refuse; /* refuse the first `refuse` bodies */
	char got[256];
	size_t got_len;
	int items; /* "filled" by the reader: reset at each call */
};

static int reader(const char *body, size_t len, void *ud, char *why, size_t why_len)
{
	struct reader_state *st = ud;

	st->calls++;
	st->items = 0;
	st->got_len = len < sizeof(st->got) ? len : sizeof(st->got) - 1;
	memcpy(st->got, body, st->got_len);
	st->got[st->got_len] = '\0';
	if (st->calls <= st->refuse) {
		snprintf(why, why_len, "imageDetails: expected an array at byte %zu", len / 2);
		return -EPROTO;
	}
	st->items = 1;
	return 0;
}

struct outcome {
	bool done, ok, had_body;
	int attempts, http_status;
	char code[128], message[1024], request_id[128];
	char err_body[256]; /* the error reply's members as the callback saw them, printed, or "" */
	enum aws_outcome outcome;
	enum aws_error_class cls;
};

static void on_done(struct aws_result *res, void *ud)
{
	struct outcome *o = ud;

	o->done = true;
	o->ok = res->ok;
	o->had_body = res->body != NULL;
	o->attempts = res->attempts;
	o->outcome = aws_outcome_of(res);
	o->cls = aws_error_classify(&res->err);
	snprintf(o->code, sizeof(o->code), "%s", res->err.code);
	snprintf(o->message, sizeof(o->message), "%s", res->err.message);
	snprintf(o->request_id, sizeof(o->request_id), "%s", res->request_id);
	o->http_status = res->err.http_status;
	char *text = res->err_body ? cJSON_PrintUnformatted(res->err_body) : NULL;
	snprintf(o->err_body, sizeof(o->err_body), "%s", text ? text : "");
	free(text);
}

/* rig_open(), or a failed check and the rig closed (the test then returns). */
static bool rig_ready(struct rig *r, int max_attempts)
{
	if (rig_open(r, max_attempts) == 0)
		return true;
	CHECK(!"cannot set up the test rig");
	rig_close(r);
	return false;
}

static void run(struct rig *r, const struct aws_call_spec *spec, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	CHECK_INT(aws_call(r->aws, spec, on_done, o, NULL), 0);
	while (!o->done)
		ev_run(r->loop, EVRUN_ONCE);
}

/* Signs the recorded request again, as the client must have, and compares. */
static void check_signed(const struct seen *q, const char *body, size_t body_len)
{
	struct sigv4_signer *signer = sigv4_signer_new();
	struct sigv4_header h[3] = {
		{ "Host", q->host },
		{ "Content-Type", q->content_type },
		{ "X-Amz-Target", q->target },
	};
	struct sigv4_request sr = { .method = "POST",
				    .path = "/",
				    .headers = h,
				    .n_headers = 3,
				    .body = body,
				    .body_len = body_len,
				    .normalize_path = true };
	struct sigv4_credentials sc = { KEY_ID, SECRET, NULL };
	struct sigv4_result sig;
	struct tm tm = { 0 };
	const char *end = strptime(q->date, "%Y%m%dT%H%M%SZ", &tm);

	CHECK(signer != NULL);
	CHECK(end != NULL && *end == '\0');
	sigv4_result_init(&sig);
	CHECK_INT(sigv4_sign(signer, &sr, &sc, "us-east-1", "ecr", timegm(&tm), &sig), 0);
	CHECK_STR(q->date, sig.amz_date);
	CHECK_STR(q->authz, strbuf_str(&sig.authorization));
	sigv4_result_done(&sig);
	sigv4_signer_free(signer);
}

TEST(aws_reader_body_is_sent_verbatim_and_signed)
{
	struct rig r;
	struct outcome o;
	/* not NUL-terminated where it ends, and not cJSON's spacing: sent as it is */
	static const char text[] = "{\"repositoryName\": \"a/b\",\"maxResults\":1000}TRAILING";
	size_t len = strlen(text) - strlen("TRAILING");
	char *copy;

	if (!rig_ready(&r, 1))
		return;
	copy = malloc(sizeof(text));
	CHECK(copy != NULL);
	if (!copy) {
		rig_close(&r);
		return;
	}
	memcpy(copy, text, sizeof(text));
	struct aws_call_spec spec = {
		.service = &aws_ecr, .operation = "DescribeImages", .body = copy, .body_len = len
	};
	memset(&o, 0, sizeof(o));
	CHECK_INT(aws_call(r.aws, &spec, on_done, &o, NULL), 0);
	/* aws_call() copied it: the caller's buffer may go at once */
	memset(copy, 'x', sizeof(text));
	free(copy);
	while (!o.done)
		ev_run(r.loop, EVRUN_ONCE);
	CHECK(o.ok);
	CHECK(o.had_body); /* no reader: parsed as before */
	CHECK_INT(r.srv.n_req, 1);
	CHECK_INT((int)r.srv.req[0].body_len, (int)len);
	CHECK(r.srv.req[0].body && !memcmp(r.srv.req[0].body, text, len));
	CHECK_STR(r.srv.req[0].target, "AmazonEC2ContainerRegistry_V20150921.DescribeImages");
	CHECK(!strncmp(r.srv.req[0].authz, "AWS4-HMAC-SHA256 Credential=" KEY_ID "/", 33));
	check_signed(&r.srv.req[0], text, len);

	/* params still serialized when no body is given */
	cJSON *params = cJSON_CreateObject();
	cJSON_AddStringToObject(params, "repositoryName", "c");
	struct aws_call_spec spec2 = { .service = &aws_ecr,
				       .operation = "DescribeImages",
				       .params = params };
	run(&r, &spec2, &o);
	cJSON_Delete(params);
	CHECK(o.ok);
	CHECK_INT(r.srv.n_req, 2);
	CHECK_STR(r.srv.req[1].body, "{\"repositoryName\":\"c\"}");
	check_signed(&r.srv.req[1], "{\"repositoryName\":\"c\"}", 22);

	/* a body of no bytes is no JSON object: a bad spec */
	struct aws_call_spec empty = { .service = &aws_ecr,
				       .operation = "DescribeImages",
				       .body = "" };
	CHECK_INT(aws_call(r.aws, &empty, on_done, &o, NULL), -EINVAL);
	rig_close(&r);
}

TEST(aws_reader_accepts_and_refuses)
{
	struct rig r;
	struct outcome o;
	struct reader_state st;
	static const char reply[] = "{\"imageDetails\":[{\"imageTags\":[\"v1\"]}]}";

	if (!rig_ready(&r, 3))
		return;
	struct aws_call_spec spec = { .service = &aws_ecr,
				      .operation = "DescribeImages",
				      .body = "{}",
				      .body_len = 2,
				      .reader = reader,
				      .reader_ud = &st };

	/* accepted: a success, the body handed over whole and not parsed */
	memset(&st, 0, sizeof(st));
	script(&r.srv, 0, 200, NULL, reply);
	run(&r, &spec, &o);
	CHECK(o.ok);
	CHECK(!o.had_body);
	CHECK_INT(o.attempts, 1);
	CHECK_INT(st.calls, 1);
	CHECK_STR(st.got, reply);
	CHECK_INT(st.items, 1);

	/* refused once: retried like an unparsable reply, then accepted */
	memset(&st, 0, sizeof(st));
	st.refuse = 1;
	script(&r.srv, 1, 200, NULL, reply);
	script(&r.srv, 2, 200, NULL, reply);
	run(&r, &spec, &o);
	CHECK(o.ok);
	CHECK_INT(o.attempts, 2);
	CHECK_INT(st.calls, 2);
	CHECK_INT(r.srv.n_req, 3);

	/* refused every time: MalformedResponse with the reader's reason, after every attempt */
	memset(&st, 0, sizeof(st));
	st.refuse = 100;
	for (int i = 3; i < 6; i++)
		script(&r.srv, i, 200, NULL, reply);
	run(&r, &spec, &o);
	CHECK(!o.ok);
	CHECK_INT(o.attempts, 3);
	CHECK_INT(st.calls, 3);
	CHECK_INT(st.items, 0); /* reset at each call */
	CHECK_STR(o.code, "MalformedResponse");
	CHECK_STR(o.message, "imageDetails: expected an array at byte 19");
	CHECK_INT(o.outcome, AWS_OUTCOME_MALFORMED);
	CHECK_INT(o.cls, AWS_ERROR_TRANSIENT);

	/* the same as a reply that is not JSON, without a reader: code, outcome, class, attempts */
	struct aws_call_spec plain = { .service = &aws_ecr, .operation = "DescribeImages" };
	struct outcome bad;
	for (int i = 6; i < 9; i++)
		script(&r.srv, i, 200, NULL, "{\"imageDetails\":[");
	run(&r, &plain, &bad);
	CHECK(!bad.ok);
	CHECK_INT(bad.attempts, o.attempts);
	CHECK_STR(bad.code, o.code);
	CHECK_INT(bad.outcome, o.outcome);
	CHECK_INT(bad.cls, o.cls);

	/* not idempotent: neither is retried */
	struct aws_call_spec once = spec;
	once.not_idempotent = true;
	memset(&st, 0, sizeof(st));
	st.refuse = 100;
	script(&r.srv, 9, 200, NULL, reply);
	run(&r, &once, &o);
	CHECK(!o.ok);
	CHECK_INT(o.attempts, 1);
	CHECK_INT(st.calls, 1);
	CHECK_STR(o.code, "MalformedResponse");
	plain.not_idempotent = true;
	script(&r.srv, 10, 200, NULL, "[]");
	run(&r, &plain, &bad);
	CHECK_INT(bad.attempts, 1);
	CHECK_STR(bad.code, "MalformedResponse");

	/* a reply that does not say it is JSON never reaches the reader */
	memset(&st, 0, sizeof(st));
	script(&r.srv, 11, 200, "text/html", "<html></html>");
	script(&r.srv, 12, 200, "text/html", "<html></html>");
	script(&r.srv, 13, 200, "text/html", "<html></html>");
	run(&r, &spec, &o);
	CHECK(!o.ok);
	CHECK_INT(st.calls, 0);
	CHECK_STR(o.code, "MalformedResponse");
	CHECK(strstr(o.message, "text/html") != NULL);

	/* an error reply is not handed to the reader either */
	memset(&st, 0, sizeof(st));
	script(&r.srv, 14, 400, NULL,
	       "{\"__type\":\"RepositoryNotFoundException\",\"message\":\"no such\"}");
	run(&r, &spec, &o);
	CHECK(!o.ok);
	CHECK_INT(st.calls, 0);
	CHECK_STR(o.code, "RepositoryNotFoundException");
	CHECK_INT(o.attempts, 1);
	rig_close(&r);
}

/* A reader that refuses without saying why still yields a message that names the status. */
static int silent_reader(const char *body, size_t len, void *ud, char *why, size_t why_len)
{
	(void)body;
	(void)len;
	(void)ud;
	(void)why;
	(void)why_len;
	return -EINVAL;
}

TEST(aws_reader_refusal_without_reason)
{
	struct rig r;
	struct outcome o;

	if (!rig_ready(&r, 1))
		return;
	struct aws_call_spec spec = { .service = &aws_ecr,
				      .operation = "DescribeImages",
				      .reader = silent_reader };
	run(&r, &spec, &o);
	CHECK(!o.ok);
	CHECK_STR(o.code, "MalformedResponse");
	CHECK(strstr(o.message, "HTTP 200") != NULL);
	CHECK_STR(r.srv.req[0].body, "{}");
	rig_close(&r);
}

/*
 * The result a call ends with is its last attempt's, whole: a 503 retried and then a 400 gives the
 * 400's code, status, request ID and error reply (its other members, for the caller), nothing of
 * the 503's; the reply's JSON is given to the callback and freed after it (ASan: no leak of the
 * retried attempt's, which is never parsed for the caller).
 */
TEST(aws_error_result_is_the_last_attempts)
{
	struct rig r;
	struct outcome o;

	if (!rig_ready(&r, 3))
		return;
	script(&r.srv, 0, 503, NULL,
	       "{\"__type\":\"ServiceUnavailableException\",\"message\":\"busy\",\"Extra\":1}");
	script(&r.srv, 1, 400, NULL,
	       "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\","
	       "\"message\":\"cancelled\",\"CancellationReasons\":[{\"Code\":\"None\"}]}");
	struct aws_call_spec spec = { .service = &aws_ecr, .operation = "DescribeImages" };
	run(&r, &spec, &o);
	CHECK(!o.ok);
	CHECK_INT(o.attempts, 2);
	CHECK_STR(o.code, "TransactionCanceledException");
	CHECK_STR(o.message, "cancelled");
	CHECK_INT(o.http_status, 400);
	CHECK_STR(o.request_id, "req-1");
	CHECK(strstr(o.err_body, "\"CancellationReasons\":[{\"Code\":\"None\"}]") != NULL);
	CHECK(strstr(o.err_body, "Extra") == NULL);
	CHECK_INT(r.srv.n_req, 2);
	rig_close(&r);
}

/* What a callback of the loop does: starts call a (noting whether its end came inside aws_call()),
 * then starts call b and cancels it at once. */
struct in_callback {
	struct rig *r;
	struct outcome a, b;
	bool a_done_inside;
	struct aws_call *b_call;
	int a_started, b_started;
};

static void start_from_callback(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct in_callback *ic = t->data;
	struct aws_call_spec spec = { .service = &aws_ecr, .operation = "DescribeImages" };

	(void)loop;
	(void)revents;
	ic->a_started = aws_call(ic->r->aws, &spec, on_done, &ic->a, NULL);
	ic->a_done_inside = ic->a.done;
	ic->b_started = aws_call(ic->r->aws, &spec, on_done, &ic->b, &ic->b_call);
	if (ic->b_started == 0)
		aws_call_cancel(ic->b_call);
}

/*
 * A call started from within a callback of the loop begins in the same pass (a pending event, no
 * timer), never inside aws_call(); one cancelled before its first attempt never runs: no request,
 * no callback (ASan: nothing touches it after it is freed).
 */
TEST(aws_call_from_a_callback_starts_later_and_cancels_cleanly)
{
	struct rig r;
	struct in_callback ic;
	struct ev_timer t;

	if (!rig_ready(&r, 1))
		return;
	memset(&ic, 0, sizeof(ic));
	ic.r = &r;
	ev_timer_init(&t, start_from_callback, 0.0, 0.0);
	t.data = &ic;
	ev_timer_start(r.loop, &t);
	for (int i = 0; i < 1000 && !ic.a.done; i++)
		ev_run(r.loop, EVRUN_ONCE);
	CHECK_INT(ic.a_started, 0);
	CHECK_INT(ic.b_started, 0);
	CHECK(!ic.a_done_inside);
	CHECK(ic.a.done && ic.a.ok);
	/* a few more turns: b stays silent */
	for (int i = 0; i < 5; i++)
		ev_run(r.loop, EVRUN_NOWAIT);
	CHECK(!ic.b.done);
	pthread_mutex_lock(&r.srv.mu);
	int n = r.srv.n_req;
	pthread_mutex_unlock(&r.srv.mu);
	CHECK_INT(n, 1);
	rig_close(&r);
}

/* SPDX-License-Identifier: MIT */
/*
 * common/http keeps each finished request with its easy handle and reuses both without
 * curl_easy_reset(), setting only what a request owns: nothing of one request may reach the next
 * (its method, body, headers, timeout), nor of one reply reach the next reply's headers. A small
 * HTTP/1.1 server on a thread answers from a script and records every request it reads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ev.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "unit.h"

#define MAX_REQ 16

struct answer {
	int status;
	long delay_ms;     /* before answering; a client gone meanwhile gets nothing */
	const char *extra; /* header lines, each ending in CRLF, or NULL */
	const char *body;
};

struct got {
	char line[256]; /* the request line */
	char head[8192];
	char *body;
	size_t body_len;
};

struct server {
	int fd, port;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	volatile bool stop;
	struct answer script[MAX_REQ];
	int n_req;
	struct got req[MAX_REQ];
};

static bool has_header(const char *head, const char *name)
{
	char want[128];

	snprintf(want, sizeof(want), "\r\n%s:", name);
	return strcasestr(head, want) != NULL;
}

static int read_request(struct server *s, int c, struct got *g)
{
	char buf[8192];
	size_t len = 0, have, clen = 0;
	char *end = NULL, *cl;

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
	end[2] = '\0';
	memset(g, 0, sizeof(*g));
	snprintf(g->line, sizeof(g->line), "%.*s", (int)strcspn(buf, "\r\n"), buf);
	snprintf(g->head, sizeof(g->head), "%s", buf);
	cl = strcasestr(buf, "\r\nContent-Length:");
	if (cl)
		clen = strtoul(cl + 17, NULL, 10);
	have = len - (size_t)(end + 4 - buf);
	g->body = calloc(1, clen + 1);
	if (!g->body)
		return -1;
	memcpy(g->body, end + 4, have < clen ? have : clen);
	while (have < clen) {
		ssize_t r = read(c, g->body + have, clen - have);
		if (r <= 0) {
			free(g->body);
			return -1;
		}
		have += (size_t)r;
	}
	g->body_len = clen;
	return 0;
}

/* Waits ms, or until the peer closes or the server stops; false when the peer is gone. */
static bool hold(struct server *s, int c, long ms)
{
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { c, POLLIN, 0 };
		long spent;

		clock_gettime(CLOCK_MONOTONIC, &now);
		spent = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= ms)
			return true;
		if (s->stop || poll(&p, 1, (int)(ms - spent < 50 ? ms - spent : 50)) > 0)
			return false; /* readable with nothing asked: closed */
	}
}

static void serve_conn(struct server *s, int c)
{
	for (;;) {
		struct answer a = { 200, 0, NULL, "{}" };
		struct got g;
		char head[512];
		int i;

		if (read_request(s, c, &g) < 0)
			break;
		pthread_mutex_lock(&s->mu);
		i = s->n_req++;
		if (i < MAX_REQ) {
			s->req[i] = g;
			a = s->script[i].status ? s->script[i] : a;
		} else {
			free(g.body);
		}
		pthread_mutex_unlock(&s->mu);
		if (a.delay_ms && !hold(s, c, a.delay_ms))
			break;
		snprintf(
		    head, sizeof(head),
		    "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		    "%s\r\n",
		    a.status, strlen(a.body), a.extra ? a.extra : "");
		if (write(c, head, strlen(head)) < 0 || write(c, a.body, strlen(a.body)) < 0)
			break;
	}
	close(c);
}

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

struct reply {
	bool done;
	long status;
	int error;
	char request_id[64], error_type[64], body[64];
	bool has_request_id, has_error_type, has_date;
};

static void on_done(struct http_response *resp, void *ud)
{
	struct reply *r = ud;

	r->done = true;
	r->status = resp->status;
	r->error = resp->error;
	r->has_request_id = resp->request_id != NULL;
	r->has_error_type = resp->error_type != NULL;
	r->has_date = resp->date != NULL;
	snprintf(r->request_id, sizeof(r->request_id), "%s",
		 resp->request_id ? resp->request_id : "");
	snprintf(r->error_type, sizeof(r->error_type), "%s",
		 resp->error_type ? resp->error_type : "");
	snprintf(r->body, sizeof(r->body), "%s", strbuf_str(&resp->body));
}

static void send_one(struct ev_loop *loop, struct http_client *http,
		     const struct http_request_spec *spec, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	CHECK_INT(http_submit(http, spec, on_done, r, NULL), 0);
	while (!r->done)
		ev_run(loop, EVRUN_ONCE);
}

TEST(http_reused_handles_carry_nothing_over)
{
	struct server srv;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct http_client_options ho = { .max_host_connections = 1 };
	struct http_client *http = NULL;
	struct reply r;
	char url[64];

	if (!loop || server_start(&srv) < 0) {
		CHECK(!"cannot start the server");
		server_stop(&srv);
		if (loop)
			ev_loop_destroy(loop);
		return;
	}
	http = http_client_new(loop, &ho);
	CHECK(http != NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/p", srv.port);
	srv.script[0] = (struct answer){ 200, 0,
					 "x-amzn-RequestId: rid-0\r\nx-amzn-ErrorType: Boom\r\n"
					 "Date: Tue, 01 Dec 2026 10:00:00 GMT\r\n",
					 "{\"n\":0}" };
	srv.script[1] = (struct answer){ 404, 0, NULL, "{\"n\":1}" };
	srv.script[4] = (struct answer){ 200, 1000, NULL, "late" };
	srv.script[5] = (struct answer){ 200, 400, "x-amz-request-id: rid-5\r\n", "{\"n\":5}" };

	/* 0: a POST with a body and headers, one a secret */
	const char *h0[] = { "X-A: one", "Authorization: secret-value", NULL };
	struct http_request_spec post = { .method = "POST",
					  .url = url,
					  .headers = h0,
					  .body = "abc",
					  .body_len = 3,
					  .timeout_ms = 5000 };
	send_one(loop, http, &post, &r);
	CHECK_INT(r.error, 0);
	CHECK_INT((int)r.status, 200);
	CHECK_STR(r.body, "{\"n\":0}");
	CHECK_STR(r.request_id, "rid-0");
	CHECK_STR(r.error_type, "Boom");
	CHECK(r.has_date);
	CHECK(!strncmp(srv.req[0].line, "POST /p ", 8));
	CHECK(has_header(srv.req[0].head, "X-A") && has_header(srv.req[0].head, "Authorization"));
	CHECK(!has_header(srv.req[0].head, "Expect"));
	CHECK_STR(srv.req[0].body, "abc");

	/* 1: a GET on the same handle: no body, none of the POST's headers, none of its reply's */
	const char *h1[] = { "X-B: two", NULL };
	struct http_request_spec get = { .method = "GET", .url = url, .headers = h1 };
	send_one(loop, http, &get, &r);
	CHECK_INT(r.error, 0);
	CHECK_INT((int)r.status, 404);
	CHECK_STR(r.body, "{\"n\":1}"); /* the body buffer was emptied */
	CHECK(!r.has_request_id && !r.has_error_type && !r.has_date);
	CHECK(!strncmp(srv.req[1].line, "GET /p ", 7));
	CHECK(has_header(srv.req[1].head, "X-B"));
	CHECK(!has_header(srv.req[1].head, "X-A") && !has_header(srv.req[1].head, "Authorization"));
	CHECK(!has_header(srv.req[1].head, "Content-Length"));
	CHECK_INT((int)srv.req[1].body_len, 0);

	/* 2: a PUT, then 3: a POST of no bytes: each its own method and length */
	struct http_request_spec put = {
		.method = "PUT", .url = url, .body = "xyz", .body_len = 3
	};
	send_one(loop, http, &put, &r);
	CHECK_INT(r.error, 0);
	CHECK(!strncmp(srv.req[2].line, "PUT /p ", 7));
	CHECK_STR(srv.req[2].body, "xyz");
	CHECK(!has_header(srv.req[2].head, "X-B"));
	struct http_request_spec empty = { .method = "POST", .url = url };
	send_one(loop, http, &empty, &r);
	CHECK_INT(r.error, 0);
	CHECK(!strncmp(srv.req[3].line, "POST /p ", 8));
	CHECK(strcasestr(srv.req[3].head, "\r\nContent-Length: 0\r\n") != NULL);

	/* 4: a short timeout runs out; 5: the next request has its own, longer one */
	struct http_request_spec quick = { .method = "GET", .url = url, .timeout_ms = 150 };
	send_one(loop, http, &quick, &r);
	CHECK_INT(r.error, -ETIMEDOUT);
	struct http_request_spec patient = { .method = "GET", .url = url, .timeout_ms = 5000 };
	send_one(loop, http, &patient, &r);
	CHECK_INT(r.error, 0);
	CHECK_INT((int)r.status, 200);
	CHECK_STR(r.request_id, "rid-5");
	CHECK(!r.has_error_type);
	CHECK_INT(srv.n_req, 6);

	/* a spec that is refused leaves nothing half made behind */
	struct http_request_spec bad = { .method = "DELETE", .url = url };
	CHECK_INT(http_submit(http, &bad, on_done, &r, NULL), -EINVAL);
	http_client_free(http);
	server_stop(&srv);
	ev_loop_destroy(loop);
}

static struct http_response last_emfile;

static void on_emfile(struct http_response *resp, void *ud)
{
	last_emfile = *resp; /* the scalars and error_text; the buffers are not read */
	*(int *)ud = 1;
}

/* In a child, with every descriptor the limit allows in use: the request fails as EMFILE, named
 * ("Too many open files"), not as curl's "couldn't connect" (review of issue 19). */
TEST(http_no_socket_names_the_descriptor_limit)
{
	pid_t pid = fork();
	int status = 0;

	CHECK(pid >= 0);
	if (pid == 0) {
		struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
		struct http_client *http = loop ? http_client_new(loop, NULL) : NULL;
		struct http_response got = { 0 };
		struct rlimit rl = { 64, 64 };
		const char *h[] = { NULL };
		struct http_request_spec spec = { .method = "GET",
						  .url = "http://127.0.0.1:9/",
						  .headers = h,
						  .timeout_ms = 2000 };
		int fd, done = 0;
		char text[sizeof(got.error_text)] = "";

		if (!http || setrlimit(RLIMIT_NOFILE, &rl) < 0)
			_exit(2);
		while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0 && fd < 1000)
			;
		if (errno != EMFILE)
			_exit(3);
		if (http_submit(http, &spec, on_emfile, &done, NULL) < 0)
			_exit(4);
		while (!done)
			ev_run(loop, EVRUN_ONCE);
		got = last_emfile;
		snprintf(text, sizeof(text), "%s", got.error_text);
		_exit(got.error == -EMFILE && strstr(text, "Too many open files") ? 0 : 5);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
}

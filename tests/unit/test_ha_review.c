/* SPDX-License-Identifier: MIT */
/*
 * A hostile review of high availability (issue 18): defects found by review, each a test that
 * fails against the code as reviewed; the comment says what should happen instead.
 */
#include <arpa/inet.h>
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

/* A loopback listener: counts connections; answers each with reply once `release` is set. */
struct listener {
	int fd, port, accepted;
	int conns[8];
	bool answered[8];
	const char *reply; /* NULL: never answers */
	bool release;
	struct ev_io io;
};

static void on_conn(struct ev_loop *loop, struct ev_io *w, int revents)
{
	struct listener *l = w->data;
	int c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	(void)loop;
	(void)revents;
	if (c < 0)
		return;
	if (l->accepted < 8)
		l->conns[l->accepted] = c;
	else
		close(c);
	l->accepted++;
}

static int listener_open(struct ev_loop *loop, struct listener *l, const char *reply)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	memset(l, 0, sizeof(*l));
	l->reply = reply;
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l->fd, 8) < 0 || getsockname(l->fd, (struct sockaddr *)&a, &len) < 0)
		return -errno;
	l->port = ntohs(a.sin_port);
	ev_io_init(&l->io, on_conn, l->fd, EV_READ);
	l->io.data = l;
	ev_io_start(loop, &l->io);
	return 0;
}

/* Answers the connections accepted so far (once each), if released. */
static void listener_answer(struct listener *l)
{
	char buf[4096];

	if (!l->release || !l->reply)
		return;
	for (int i = 0; i < l->accepted && i < 8; i++) {
		if (l->answered[i])
			continue;
		/* the request, as far as it came (a GET without a body fits) */
		(void)!read(l->conns[i], buf, sizeof(buf));
		(void)!write(l->conns[i], l->reply, strlen(l->reply));
		l->answered[i] = true;
	}
}

static void listener_close(struct ev_loop *loop, struct listener *l)
{
	ev_io_stop(loop, &l->io);
	for (int i = 0; i < l->accepted && i < 8; i++)
		close(l->conns[i]);
	close(l->fd);
}

static bool gate_open;

static bool gate(void *ud)
{
	(void)ud;
	return gate_open;
}

struct result {
	bool done;
	char code[128];
};

static void on_done(struct aws_result *res, void *ud)
{
	struct result *o = ud;

	o->done = true;
	snprintf(o->code, sizeof(o->code), "%s", res->ok ? "ok" : res->err.code);
}

static void run_for(struct ev_loop *loop, struct listener *creds, double seconds, bool *until)
{
	ev_now_update(loop);
	double end = ev_now(loop) + seconds;

	while (!(until && *until) && ev_now(loop) < end) {
		listener_answer(creds);
		ev_run(loop, EVRUN_NOWAIT);
		usleep(2000);
		ev_now_update(loop);
	}
}

/*
 * A mutating call checks the gate in attempt() (common/aws.c), then, when no credentials are
 * usable yet, waits for them (cred_wait); on_creds() then calls send_signed() without asking the
 * gate again. Credentials that take a while (an STS AssumeRole, the container or instance
 * metadata endpoint slow, or refreshed after they expired: the lease's own renewals wait for the
 * same provider, so the lease runs out meanwhile) let an UpdateService go out seconds after the
 * lease stopped being valid, possibly after another instance took over. What should happen: the
 * gate is asked again right before the request is signed and sent (in on_creds/send_signed), and
 * a closed gate answers NotLeader without a request.
 */
TEST(review_gate_is_asked_again_when_credentials_arrive)
{
	static const char body[] = "{\"AccessKeyId\":\"AKIDREVIEW\",\"SecretAccessKey\":"
				   "\"reviewSecret\",\"Token\":\"tok\","
				   "\"Expiration\":\"2099-01-01T00:00:00Z\"}";
	char creds_reply[512];
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct listener ecs, creds;
	struct http_client_options ho = { 0 };
	struct aws_options ao = { .region = "us-east-1", .max_attempts = 1, .timeout_ms = 2000 };
	struct cred_options co = { 0 };
	struct http_client *http = NULL;
	struct sigv4_signer *signer = NULL;
	struct cred_provider *cp = NULL;
	struct aws_client *aws = NULL;
	struct result res = { 0 };
	char url[64], full[96];
	const char *why = NULL;

	snprintf(creds_reply, sizeof(creds_reply),
		 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
		 "Content-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	if (!loop || listener_open(loop, &ecs, NULL) < 0 ||
	    listener_open(loop, &creds, creds_reply) < 0) {
		CHECK(!"cannot set up the listeners");
		return;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ecs.port);
	snprintf(full, sizeof(full), "http://127.0.0.1:%d/creds", creds.port);
	for (int i = 0; i < AWS_SERVICE_COUNT; i++)
		ao.endpoints[i] = url;
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	unsetenv("AWS_ROLE_ARN");
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	setenv("AWS_CONFIG_FILE", "/nonexistent/review/config", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/review/credentials", 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", full, 1);
	http = http_client_new(loop, &ho);
	signer = sigv4_signer_new();
	co.loop = loop;
	co.http = http;
	co.signer = signer;
	co.region = "us-east-1";
	cp = http && signer ? cred_chain_new(&co) : NULL;
	aws = cp ? aws_client_new(loop, http, signer, cp, &ao, &why) : NULL;
	if (!aws) {
		CHECK(!"cannot set up the client");
		goto out;
	}
	gate_open = true; /* leading */
	aws_client_set_gate(aws, gate, NULL);
	struct aws_call_spec spec = { .service = &aws_ecs, .operation = "UpdateService" };
	CHECK_INT(aws_call(aws, &spec, on_done, &res, NULL), 0);
	/* the call waits for the credentials: the container endpoint took the request */
	for (int i = 0; i < 500 && creds.accepted == 0; i++)
		run_for(loop, &creds, 0.01, NULL);
	CHECK_INT(creds.accepted, 1);
	CHECK(!res.done);
	/* the lease runs out meanwhile: the gate closes; then the credentials come */
	gate_open = false;
	creds.release = true;
	run_for(loop, &creds, 1.5, &res.done);
	run_for(loop, &creds, 0.2, NULL);
	CHECK(res.done);
	CHECK_INT(ecs.accepted, 0); /* no UpdateService went out */
	CHECK_STR(res.code, "NotLeader");
out:
	aws_client_free(aws);
	cred_provider_free(cp);
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_EC2_METADATA_DISABLED");
	sigv4_signer_free(signer);
	http_client_free(http);
	listener_close(loop, &ecs);
	listener_close(loop, &creds);
	ev_loop_destroy(loop);
}

/* SPDX-License-Identifier: MIT */
/*
 * daemon/control on a private loop with a client in the same process: the lifetimes of a call
 * that the server cannot see from outside. A handler that answers twice, a call answered after
 * its client left, after the server was freed, after the server answered `timeout` (a handler
 * deadline of 0.2 s): each second answer is dropped, nothing is used after it is freed (ASan in
 * `make check SANITIZE=1`), and the connection goes on serving.
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"

static struct control_call *held;
static int runs;

static void run_hold(struct control_call *call, const cJSON *args, void *userdata)
{
	(void)args;
	(void)userdata;
	runs++;
	held = call;
}

static void run_twice(struct control_call *call, const cJSON *args, void *userdata)
{
	(void)args;
	(void)userdata;
	runs++;
	control_reply(call, cJSON_CreateObject());
	control_fail(call, "internal", 70, NULL, "a second answer");
}

static void run_echo(struct control_call *call, const cJSON *args, void *userdata)
{
	(void)userdata;
	runs++;
	control_reply(call, cJSON_Duplicate(args, true));
}

static const struct control_command table[] = {
	{ "hold", false, run_hold },
	{ "twice", true, run_twice },
	{ "echo", false, run_echo },
	{ NULL, false, NULL },
};
static const struct control_command *const tables[] = { table };

struct fixture {
	struct ev_loop *loop;
	struct control *c;
	char dir[64];
	char path[96];
};

static bool fixture_start(struct fixture *f, double handler_seconds)
{
	struct control_settings cs = { 0 };
	char why[512];

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ecr-unit-ctl-XXXXXX");
	if (!mkdtemp(f->dir))
		return false;
	snprintf(f->path, sizeof(f->path), "%s/s", f->dir);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	cs.path = f->path;
	cs.handler_seconds = handler_seconds;
	int r = control_new(f->loop, &cs, tables, 1, NULL, &f->c, NULL, why, sizeof(why));
	if (r < 0)
		unit_fail(__FILE__, __LINE__, "control_new: %s", why);
	return r == 0;
}

static void fixture_stop(struct fixture *f)
{
	control_free(f->c);
	if (f->loop)
		ev_loop_destroy(f->loop);
	rmdir(f->dir);
}

static int client_connect(const struct fixture *f)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(a.sun_path, f->path, strlen(f->path) + 1);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Turns the loop until fd is readable (a reply or its end) or 3 s pass. */
static bool pump_until_readable(struct fixture *f, int fd)
{
	for (int i = 0; i < 300; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ev_run(f->loop, EVRUN_NOWAIT);
		if (poll(&p, 1, 10) > 0)
			return true;
	}
	return false;
}

static void pump(struct fixture *f, int turns)
{
	for (int i = 0; i < turns; i++) {
		ev_run(f->loop, EVRUN_NOWAIT);
		usleep(1000);
	}
}

/* Sends a request; returns the reply line (static), "" at the end of the stream. */
static const char *ask(struct fixture *f, int fd, const char *req)
{
	static char buf[4096];
	size_t n = 0;

	if (req && (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, 0) < 0))
		return "";
	while (n < sizeof(buf) - 1) {
		if (!pump_until_readable(f, fd))
			return "(no reply)";
		ssize_t r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n))
			break;
	}
	buf[n] = '\0';
	return buf;
}

TEST(control_handler_answering_twice_is_answered_once)
{
	struct fixture f;

	if (!fixture_start(&f, 0))
		return;
	int fd = client_connect(&f);
	CHECK(fd >= 0);
	const char *r = ask(&f, fd, "{\"v\":1,\"id\":1,\"cmd\":\"twice\"}");
	CHECK(strstr(r, "\"ok\":true") && strstr(r, "\"id\":1"));
	CHECK(!strstr(r, "a second answer"));
	/* The second answer was dropped, not queued: the next request gets its own reply. */
	r = ask(&f, fd, "{\"v\":1,\"id\":2,\"cmd\":\"echo\",\"args\":{\"a\":1}}");
	CHECK(strstr(r, "\"id\":2") && strstr(r, "\"result\":{\"a\":1}"));
	close(fd);
	fixture_stop(&f);
}

TEST(control_answer_after_the_client_left_is_dropped)
{
	struct fixture f;

	if (!fixture_start(&f, 0))
		return;
	int fd = client_connect(&f);
	held = NULL;
	send(fd, "{\"v\":1,\"cmd\":\"hold\"}\n", 21, MSG_NOSIGNAL);
	for (int i = 0; i < 300 && !held; i++)
		pump(&f, 1);
	CHECK(held != NULL);
	CHECK(control_call_live(held));
	CHECK_INT(control_call_peer(held)->uid, geteuid());
	close(fd);
	pump(&f, 20);
	/* The write fails (the client is gone): the client is freed, the call lives for the
	 * handler until its answer. */
	control_reply(held, cJSON_CreateObject());
	pump(&f, 20);
	/* A new client is served. */
	fd = client_connect(&f);
	CHECK(strstr(ask(&f, fd, "{\"v\":1,\"cmd\":\"echo\"}"), "\"ok\":true"));
	close(fd);
	fixture_stop(&f);
}

TEST(control_answer_after_the_server_is_freed_is_dropped)
{
	struct fixture f;

	if (!fixture_start(&f, 0))
		return;
	int fd = client_connect(&f);
	held = NULL;
	send(fd, "{\"v\":1,\"cmd\":\"hold\"}\n", 21, MSG_NOSIGNAL);
	for (int i = 0; i < 300 && !held; i++)
		pump(&f, 1);
	CHECK(held != NULL);
	control_free(f.c);
	f.c = NULL;
	CHECK(!control_call_live(held));
	CHECK_INT(control_call_peer(held)->pid, getpid());
	control_fail(held, "internal", 70, cJSON_CreateObject(), "too late");
	/* The client was told the daemon stops (timeout), then sees the end of the stream; the
	 * handler's late answer never reaches it. */
	char b[1024];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(b) - 1 && (n = recv(fd, b + got, sizeof(b) - 1 - got, 0)) > 0)
		got += (size_t)n;
	b[got] = '\0';
	CHECK(strstr(b, "\"code\":\"timeout\"") && strstr(b, "stopping"));
	CHECK(!strstr(b, "too late"));
	CHECK(got > 0 && b[got - 1] == '\n' && !strchr(b, '\n')[1]);
	close(fd);
	CHECK(access(f.path, F_OK) < 0 && errno == ENOENT);
	fixture_stop(&f);
}

static int stops;

/* A handler's stop function: stops its work and answers. */
static void stop_held(void *data)
{
	stops++;
	control_fail(data, "timeout", 75, NULL, "the daemon stopped");
}

TEST(control_free_stops_a_waiting_handler_and_its_client_gets_the_answer)
{
	struct fixture f;

	if (!fixture_start(&f, 0))
		return;
	int fd = client_connect(&f);
	held = NULL;
	stops = 0;
	send(fd, "{\"v\":1,\"id\":5,\"cmd\":\"hold\"}\n", 28, MSG_NOSIGNAL);
	for (int i = 0; i < 300 && !held; i++)
		pump(&f, 1);
	CHECK(held != NULL);
	control_call_on_stop(held, stop_held, held);
	control_free(f.c);
	f.c = NULL;
	CHECK_INT(stops, 1);
	char b[512];
	ssize_t n = recv(fd, b, sizeof(b) - 1, 0);
	CHECK(n > 0);
	b[n > 0 ? n : 0] = '\0';
	CHECK(strstr(b, "\"code\":\"timeout\"") && strstr(b, "\"id\":5"));
	close(fd);
	fixture_stop(&f);
}

TEST(control_a_client_that_hangs_up_while_its_call_runs_is_noticed)
{
	struct fixture f;

	if (!fixture_start(&f, 0))
		return;
	int fd = client_connect(&f);
	held = NULL;
	send(fd, "{\"v\":1,\"cmd\":\"hold\"}\n", 21, MSG_NOSIGNAL);
	for (int i = 0; i < 300 && !held; i++)
		pump(&f, 1);
	CHECK(held != NULL && control_call_live(held));
	close(fd);
	for (int i = 0; i < 300 && control_call_live(held); i++)
		pump(&f, 1);
	CHECK(!control_call_live(held)); /* the handler may give up */
	control_reply(held, cJSON_CreateObject());
	/* A client that shuts only its writing side still gets its reply. */
	fd = client_connect(&f);
	held = NULL;
	send(fd, "{\"v\":1,\"cmd\":\"hold\"}\n", 21, MSG_NOSIGNAL);
	for (int i = 0; i < 300 && !held; i++)
		pump(&f, 1);
	shutdown(fd, SHUT_WR);
	pump(&f, 20);
	CHECK(held != NULL && control_call_live(held));
	control_reply(held, cJSON_CreateObject());
	pump(&f, 20);
	char b[512];
	ssize_t n = recv(fd, b, sizeof(b) - 1, MSG_DONTWAIT);
	CHECK(n > 0);
	b[n > 0 ? n : 0] = '\0';
	CHECK(strstr(b, "\"ok\":true") != NULL);
	close(fd);
	fixture_stop(&f);
}

TEST(control_handler_timeout_then_late_answer)
{
	struct fixture f;

	if (!fixture_start(&f, 0.2))
		return;
	int fd = client_connect(&f);
	held = NULL;
	const char *r = ask(&f, fd, "{\"v\":1,\"id\":\"t\",\"cmd\":\"hold\"}");
	CHECK(strstr(r, "\"code\":\"timeout\"") && strstr(r, "\"exit\":75") &&
	      strstr(r, "\"id\":\"t\""));
	CHECK(held && !control_call_live(held));
	control_reply(held, cJSON_CreateObject()); /* dropped quietly */
	r = ask(&f, fd, "{\"v\":1,\"id\":3,\"cmd\":\"echo\"}");
	CHECK(strstr(r, "\"id\":3") && strstr(r, "\"ok\":true"));
	close(fd);
	fixture_stop(&f);
}

TEST(control_pipelined_requests_are_answered_in_order)
{
	struct fixture f;
	char all[8192];
	size_t n = 0;

	if (!fixture_start(&f, 0))
		return;
	int fd = client_connect(&f);
	static const char reqs[] = "{\"v\":1,\"id\":1,\"cmd\":\"echo\"}\n{\"v\":1,\"id\":2,\"cmd\":"
				   "\"nope\"}\n{\"v\":1,\"id\":3,\"cmd\":\"echo\"}\n";
	send(fd, reqs, sizeof(reqs) - 1, MSG_NOSIGNAL);
	while (n < sizeof(all) - 1) {
		if (!pump_until_readable(&f, fd))
			break;
		ssize_t r = recv(fd, all + n, sizeof(all) - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		all[n] = '\0';
		if (strstr(all, "\"id\":3"))
			break;
	}
	all[n] = '\0';
	char *a = strstr(all, "\"id\":1"), *b = strstr(all, "\"id\":2"),
	     *c = strstr(all, "\"id\":3");
	CHECK(a && b && c && a < b && b < c);
	CHECK(strstr(all, "unknown-command") != NULL);
	close(fd);
	fixture_stop(&f);
}

/* The count of entries of dir other than . and .. */
static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* The socket file appears whole: listening (a connect as soon as the path exists is taken, before
 * any turn of the loop), mode 0660, nothing left under its first name; a stale socket left under
 * that name by a killed process of our pid is taken, a file that is not a socket is not; a live
 * server's path is refused and its file kept; a path of that control_path_fits() refuses is refused
 * by name. */
TEST(control_socket_appears_listening_and_whole)
{
	struct fixture f, g;
	struct control_settings cs = { 0 };
	struct control *c2 = NULL;
	struct stat st;
	char why[512], leftover[160], longpath[160];

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/ecr-unit-ctl-XXXXXX");
	if (!mkdtemp(f.dir))
		return;
	snprintf(f.path, sizeof(f.path), "%s/s", f.dir);
	snprintf(leftover, sizeof(leftover), "%s/.%06lx~", f.dir, (unsigned long)getpid());
	/* a leftover that is not a socket: refused, named, kept */
	int lfd = open(leftover, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(lfd >= 0);
	if (lfd >= 0)
		close(lfd);
	f.loop = ev_loop_new(EVFLAG_AUTO);
	cs.path = f.path;
	CHECK(control_new(f.loop, &cs, tables, 1, NULL, &f.c, NULL, why, sizeof(why)) == -EEXIST);
	CHECK(strstr(why, "the name it is made under first, exists and is not a socket") != NULL);
	CHECK(dir_entries(f.dir) == 1);
	unlink(leftover);
	/* a stale socket there (a kill between bind and rename): taken */
	struct sockaddr_un la = { .sun_family = AF_UNIX };
	memcpy(la.sun_path, leftover, strlen(leftover) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&la, sizeof(la)) == 0);
	if (lfd >= 0)
		close(lfd);
	CHECK(dir_entries(f.dir) == 1);
	f.c = NULL;
	CHECK(control_new(f.loop, &cs, tables, 1, NULL, &f.c, NULL, why, sizeof(why)) == 0);
	int fd = client_connect(&f);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(stat(f.path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0660);
	CHECK(dir_entries(f.dir) == 1);

	/* a second server on the live path */
	memset(&g, 0, sizeof(g));
	g.loop = ev_loop_new(EVFLAG_AUTO);
	why[0] = '\0';
	CHECK(control_new(g.loop, &cs, tables, 1, NULL, &c2, NULL, why, sizeof(why)) ==
	      -EADDRINUSE);
	CHECK(strstr(why, "another process answers on it") != NULL);
	CHECK(dir_entries(f.dir) == 1);
	fd = client_connect(&f);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);

	/* 107 bytes fit with a name of 8 or more; a shorter name then leaves no room for the
	 * first one; 108 bytes never fit */
	memset(longpath, 'x', sizeof(longpath));
	memcpy(longpath, "/tmp/", 5);
	longpath[90] = '/';
	longpath[107] = '\0';
	CHECK(control_path_fits(longpath));
	longpath[100] = '/';
	CHECK(!control_path_fits(longpath));
	longpath[100] = 'x';
	longpath[107] = 'x';
	longpath[108] = '\0';
	CHECK(!control_path_fits(longpath));
	cs.path = longpath;
	CHECK(control_new(g.loop, &cs, tables, 1, NULL, &c2, NULL, why, sizeof(why)) ==
	      -ENAMETOOLONG);
	CHECK(strstr(why, "the path is too long (at most 107 bytes, and its directory's at most "
			  "99)") != NULL);
	ev_loop_destroy(g.loop);
	fixture_stop(&f);
	CHECK(dir_entries(f.dir) == -1); /* removed: the socket went at free */
}

/* SPDX-License-Identifier: MIT */
/* One request and its reply on the control socket; see ctl_conn.h. */
#include "ctl_conn.h"

#include <errno.h>
#include <grp.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "ctlproto.h"
#include "escape.h"
#include "strbuf.h"

static double monotonic_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds left until deadline, at least 0. */
static int left_ms(double deadline)
{
	double left = deadline - monotonic_now();
	if (left <= 0)
		return 0;
	if (left > 86400)
		left = 86400;
	return (int)ceil(left * 1000);
}

/* The group that owns the socket file at path, for the message of a refused connect. */
static void socket_group(const char *path, char *buf, size_t n)
{
	struct stat st;
	struct group gr, *found = NULL;
	char grbuf[4096];
	if (stat(path, &st) < 0) {
		snprintf(buf, n, "ecr-deployd");
		return;
	}
	if (getgrgid_r(st.st_gid, &gr, grbuf, sizeof(grbuf), &found) == 0 && found)
		snprintf(buf, n, "%s", found->gr_name);
	else
		snprintf(buf, n, "%u", (unsigned)st.st_gid);
}

static int connect_socket(const char *path, double deadline, int *ret_fd, char *msg, size_t n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char esc[512];
	escape_bounded(path, 300, esc, sizeof(esc), ESCAPE_SQUOTE);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(msg, n, "socket '%s': the path is longer than %zu bytes", esc,
			 sizeof(sa.sun_path) - 1);
		return EX_USAGE;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(msg, n, "socket(AF_UNIX): %s", strerror(errno));
		return EX_OSERR;
	}
	/* A connect to a daemon whose backlog is full waits, at most until the deadline. */
	int ms = left_ms(deadline);
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	if (ms == 0)
		tv.tv_usec = 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		switch (e) {
		case ENOENT:
		case ECONNREFUSED:
		case ENOTDIR:
			snprintf(msg, n, "is ecr-deployd running? socket '%s': %s", esc,
				 strerror(e));
			return EX_UNAVAILABLE;
		case EACCES:
		case EPERM: {
			char group[256];
			socket_group(path, group, sizeof(group));
			snprintf(
			    msg, n,
			    "socket '%s': %s: the members of the group '%s' and root may use it "
			    "(usermod -aG %s USER, then log in again)",
			    esc, strerror(e), group, group);
			return EX_NOPERM;
		}
		case EAGAIN:
		case EINPROGRESS:
		case ETIMEDOUT:
			snprintf(msg, n, "socket '%s': no connection within the timeout", esc);
			return EX_TEMPFAIL;
		default:
			snprintf(msg, n, "socket '%s': connect: %s", esc, strerror(e));
			return EX_UNAVAILABLE;
		}
	}
	*ret_fd = fd;
	return 0;
}

/* Sends the whole line; a peer that closed is not an error here (its reply may be waiting). */
static int send_line(int fd, const char *line, size_t len, double deadline, char *msg, size_t n)
{
	size_t off = 0;
	while (off < len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int r = poll(&p, 1, left_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			snprintf(msg, n, "the daemon did not take the request within the timeout");
			return EX_TEMPFAIL;
		}
		ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == EPIPE || errno == ECONNRESET)
				return 0;
			snprintf(msg, n, "sending the request: %s", strerror(errno));
			return EX_OSERR;
		}
		off += (size_t)w;
	}
	return 0;
}

/* Reads up to the first '\n' into sb (the '\n' not kept). */
static int read_line(int fd, struct strbuf *sb, double deadline, char *msg, size_t n)
{
	char buf[65536];
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, left_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			snprintf(msg, n, "no reply from the daemon within the timeout");
			return EX_TEMPFAIL;
		}
		ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ECONNRESET) {
				snprintf(msg, n,
					 "the daemon closed the connection before replying");
				return EX_PROTOCOL;
			}
			snprintf(msg, n, "reading the reply: %s", strerror(errno));
			return EX_OSERR;
		}
		if (got == 0) {
			snprintf(msg, n,
				 sb->len
				     ? "the daemon closed the connection in the middle of its reply"
				     : "the daemon closed the connection before replying");
			return EX_PROTOCOL;
		}
		const char *nl = memchr(buf, '\n', (size_t)got);
		size_t take = nl ? (size_t)(nl - buf) : (size_t)got;
		if (strbuf_append(sb, buf, take) < 0) {
			snprintf(msg, n, "the reply is longer than %d bytes", CTL_CONN_MAX_REPLY);
			return EX_PROTOCOL;
		}
		if (nl)
			return 0;
	}
}

int ctl_conn_call(const char *path, double timeout, const char *cmd, cJSON *args,
		  struct ctl_reply *ret, char *msg, size_t msg_len)
{
	double deadline = monotonic_now() + timeout;
	char *line = ctlproto_request_line(cmd, args);
	if (!line) {
		snprintf(msg, msg_len, "out of memory");
		return EX_OSERR;
	}
	int fd = -1;
	int r = connect_socket(path, deadline, &fd, msg, msg_len);
	if (r == 0) {
		size_t len = strlen(line);
		struct strbuf req;
		strbuf_init(&req, len + 1);
		if (strbuf_append(&req, line, len) < 0 || strbuf_putc(&req, '\n') < 0) {
			snprintf(msg, msg_len, "out of memory");
			r = EX_OSERR;
		} else {
			r = send_line(fd, strbuf_str(&req), req.len, deadline, msg, msg_len);
		}
		strbuf_done(&req);
	}
	free(line);
	if (r != 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}

	struct strbuf reply;
	strbuf_init(&reply, CTL_CONN_MAX_REPLY);
	r = read_line(fd, &reply, deadline, msg, msg_len);
	close(fd);
	if (r == 0) {
		char why[512];
		cJSON *root = NULL;
		const cJSON *result = NULL, *error = NULL;
		int ok = ctlproto_parse_reply(strbuf_str(&reply), reply.len, &root, &result, &error,
					      why, sizeof(why));
		if (ok < 0) {
			snprintf(msg, msg_len,
				 "the daemon's reply is not one of protocol version %d: %s",
				 CTLPROTO_VERSION, why);
			r = EX_PROTOCOL;
		} else {
			ret->root = root;
			ret->result = ok ? result : NULL;
			ret->error = ok ? NULL : error;
		}
	}
	strbuf_done(&reply);
	return r;
}

void ctl_reply_done(struct ctl_reply *reply)
{
	if (!reply)
		return;
	cJSON_Delete(reply->root);
	reply->root = NULL;
	reply->result = reply->error = NULL;
}

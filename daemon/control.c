/* SPDX-License-Identifier: MIT */
/*
 * The control socket's server (docs/control.md). Each client moves through phases, each with its
 * own deadline on one timer: READING a request (10 s from the connection or the previous reply),
 * RUNNING its handler (60 s, then the server answers `timeout`), WRITING the reply (10 s). A
 * client's next request is taken only when its reply is written whole, so that a client that
 * pipelines requests without reading replies holds one reply at most; the input buffer holds one
 * request line. One step function, client_advance(), moves a client on; the callbacks only feed
 * it, and it frees the client at its end only, so that a handler answering from inside it, or a
 * write failing there, never frees what is still in use.
 *
 * A call (one request handed to a handler) is reference counted: the handler holds a reference
 * until it answers, the server one while it runs the handler, and the client one until its next
 * request or its end. A call answered twice while any of them holds it is noticed and the second
 * answer dropped; a call whose client is gone, or that the server answered with `timeout`,
 * swallows the handler's answer quietly.
 */
#include "control.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "ctlproto.h"
#include "escape.h"
#include "events.h"
#include "log.h"

#define MAX_CLIENTS       32
#define REQUEST_SECONDS   10.0
#define WRITE_SECONDS     10.0
#define HANDLER_SECONDS   60.0
#define READ_PER_WAKEUP   (64 * 1024)
#define ACCEPT_PER_WAKEUP 16
#define MAX_GROUPS        65536
#define REFUSALS_KEPT     16   /* uids whose refusals are rate-limited */
#define REFUSAL_SECONDS   60.0 /* one refusal logged per uid per minute */
#define ARGS_LOGGED       512

enum phase { PHASE_READING, PHASE_RUNNING, PHASE_WRITING };

struct client;

struct control_call {
	int refs;
	struct client *client; /* NULL once it is gone or the call was answered */
	bool replied;          /* an answer went out (the handler's or the server's timeout) */
	bool handler_done;     /* the handler answered */
	bool writes;
	char cmd[40];
	char *args_text; /* the args as logged: escaped, at most ARGS_LOGGED bytes */
	cJSON *request;  /* the request's tree: id and args point into it */
	const cJSON *id;
	struct control_peer peer;
	/* While the handler holds it: linked in its server's pending list, and what stops it. */
	struct control *owner;
	struct control_call *pnext, **pprev;
	void (*on_stop)(void *data);
	void *on_stop_data;
};

struct client {
	struct control *c;
	struct client *next;
	int fd;
	ev_io rio, wio;
	ev_timer timer;
	enum phase phase;
	struct control_peer peer;
	bool close_after; /* close once the output is written */
	bool eof;         /* the client will send nothing more */
	bool dead;        /* to be freed at the end of client_advance() */
	bool busy, again; /* client_advance() is running; run it once more */
	bool read_held;   /* while a call runs: input is waiting, not read until the reply */
	char in[CTLPROTO_MAX_LINE + 1];
	size_t in_len;
	size_t scanned; /* bytes of in known to hold no '\n' */
	char *out;
	size_t out_len, out_off;
	struct control_call *call; /* the handler's, while RUNNING */
	struct control_call *last; /* the last call, kept until the next request */
};

struct refusal {
	uid_t uid;
	ev_tstamp at;
};

struct control {
	struct ev_loop *loop;
	int fd;
	ev_io accept_w;
	ev_timer accept_pause; /* out of file descriptors: accept again in a second */
	char *path;
	dev_t dev;
	ino_t ino;
	const struct control_command *const *tables;
	size_t n_tables;
	void *userdata;
	const char *(*filter)(const char *cmd, void *userdata); /* control_set_filter() */
	uid_t own_uid;
	double handler_seconds;
	bool has_write_gid, has_read_gid, read_all;
	gid_t write_gid, read_gid;
	struct client *clients;
	size_t n_clients;
	struct control_call *pending; /* calls whose handler has not answered yet */
	struct refusal refusals[REFUSALS_KEPT];
	ev_tstamp full_said; /* when "too many clients" was last logged */
};

static void client_advance(struct client *cl);

/* ---- calls ----------------------------------------------------------------------------------- */

static void call_unref(struct control_call *call)
{
	if (!call || --call->refs > 0)
		return;
	free(call->args_text);
	cJSON_Delete(call->request);
	free(call);
}

const struct control_peer *control_call_peer(const struct control_call *call)
{
	return &call->peer;
}

void control_call_on_stop(struct control_call *call, void (*fn)(void *data), void *data)
{
	if (!call->pprev) /* answered already */
		return;
	call->on_stop = fn;
	call->on_stop_data = data;
}

bool control_call_live(const struct control_call *call)
{
	return call && call->client && !call->replied;
}

/* CONTROL_ACTION: a writing command, its caller and its result. */
static void log_action(const struct control_call *call, const char *result)
{
	char uid[24], pid[24];

	snprintf(uid, sizeof(uid), "%u", (unsigned)call->peer.uid);
	snprintf(pid, sizeof(pid), "%d", (int)call->peer.pid);
	log_at(!strcmp(result, "ok") ? LOG_NOTICE : LOG_WARNING, EVENT_CONTROL_ACTION,
	       LOG_FIELDS({ "CALLER_UID", uid }, { "CALLER_PID", pid }, { "COMMAND", call->cmd },
			  { "ARGS", call->args_text }, { "RESULT", result }),
	       "control: '%s' from uid %s (pid %s): %s", call->cmd, uid, pid, result);
}

/* ---- output ---------------------------------------------------------------------------------- */

/* Queues one reply line (taken; NULL: out of memory, answered as such if possible). */
static void client_queue(struct client *cl, char *line)
{
	static const char oom[] = "{\"v\":1,\"id\":null,\"ok\":false,\"error\":{\"code\":"
				  "\"internal\",\"message\":\"out of memory\",\"exit\":70}}";
	size_t n = line ? strlen(line) : 0;

	if (line && n > CTLPROTO_MAX_REPLY) {
		free(line);
		line = ctlproto_reply_error(NULL, "internal", EX_SOFTWARE, NULL,
					    "the reply is larger than the protocol allows");
		n = line ? strlen(line) : 0;
	}
	free(cl->out);
	cl->out = NULL;
	cl->out_len = cl->out_off = 0;
	char *buf = malloc((line ? n : sizeof(oom) - 1) + 1);
	if (!buf) {
		free(line);
		cl->dead = true;
		return;
	}
	if (line)
		memcpy(buf, line, n);
	else {
		n = sizeof(oom) - 1;
		memcpy(buf, oom, n);
	}
	buf[n] = '\n';
	free(line);
	cl->out = buf;
	cl->out_len = n + 1;
}

static void client_queue_error(struct client *cl, const cJSON *id, const char *code, int exit,
			       cJSON *extra, const char *message)
{
	client_queue(cl, ctlproto_reply_error(id, code, exit, extra, message));
}

/* Writes what it can; false when the client is gone. */
static bool client_flush(struct client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0) {
			log_debug(
			    "control: client pid %d went away while its reply was written: %s",
			    (int)cl->peer.pid, n < 0 ? strerror(errno) : "closed");
			return false;
		}
		cl->out_off += (size_t)n;
	}
	free(cl->out);
	cl->out = NULL;
	cl->out_len = cl->out_off = 0;
	return true;
}

/* ---- answering ------------------------------------------------------------------------------- */

/* The client's part of its call ends: the answer went out (or the server's timeout did). */
static void client_release_call(struct client *cl)
{
	struct control_call *call = cl->call;

	if (!call)
		return;
	cl->call = NULL;
	call->client = NULL;
	cl->read_held = false;
	/* The client keeps the call until its next request, so that an answer given twice is
	 * noticed. */
	call_unref(cl->last);
	cl->last = call;
}

static void answer(struct control_call *call, char *line, const char *result)
{
	if (call->writes)
		log_action(call, result);
	call->replied = true;
	struct client *cl = call->client;
	if (!cl) {
		free(line);
		return;
	}
	client_release_call(cl);
	client_queue(cl, line);
	client_advance(cl);
}

/* The handler's answer: the first one counts; it goes out if the call is still live. */
static void pending_unlink(struct control_call *call)
{
	if (!call->pprev)
		return;
	*call->pprev = call->pnext;
	if (call->pnext)
		call->pnext->pprev = call->pprev;
	call->pnext = NULL;
	call->pprev = NULL;
	call->on_stop = NULL;
}

static bool handler_answers(struct control_call *call)
{
	pending_unlink(call);
	if (call->handler_done) {
		log_error("control: the handler of '%s' answered twice; the second answer is "
			  "dropped",
			  call->cmd);
		return false;
	}
	call->handler_done = true;
	return true;
}

void control_reply(struct control_call *call, cJSON *result)
{
	if (!handler_answers(call)) {
		cJSON_Delete(result);
		return;
	}
	if (call->replied) {
		log_debug("control: the late answer of '%s' is dropped", call->cmd);
		cJSON_Delete(result);
	} else
		answer(call, ctlproto_reply_ok(call->id, result), "ok");
	call_unref(call); /* the handler's */
}

void control_fail(struct control_call *call, const char *code, int exit, cJSON *extra,
		  const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	if (!handler_answers(call)) {
		cJSON_Delete(extra);
		return;
	}
	if (call->replied) {
		log_debug("control: the late answer of '%s' is dropped", call->cmd);
		cJSON_Delete(extra);
	} else {
		va_start(ap, fmt);
		vsnprintf(message, sizeof(message), fmt, ap);
		va_end(ap);
		answer(call, ctlproto_reply_error(call->id, code, exit, extra, message), code);
	}
	call_unref(call);
}

/* ---- requests -------------------------------------------------------------------------------- */

static const struct control_command *find_command(const struct control *c, const char *name)
{
	for (size_t t = 0; t < c->n_tables; t++)
		for (const struct control_command *cmd = c->tables[t]; cmd && cmd->name; cmd++)
			if (!strcmp(cmd->name, name))
				return cmd;
	return NULL;
}

/* Whether a refusal of uid is to be logged now (once per uid per minute). */
static bool refusal_logged(struct control *c, uid_t uid)
{
	ev_tstamp now = ev_now(c->loop);
	struct refusal *oldest = &c->refusals[0];

	for (size_t i = 0; i < REFUSALS_KEPT; i++) {
		struct refusal *r = &c->refusals[i];
		if (r->at > 0 && r->uid == uid) {
			if (now - r->at < REFUSAL_SECONDS)
				return false;
			r->at = now;
			return true;
		}
		if (r->at < oldest->at)
			oldest = r;
	}
	oldest->uid = uid;
	oldest->at = now;
	return true;
}

static char *args_logged(const cJSON *args)
{
	char *text = cJSON_PrintUnformatted(args);
	char out[ARGS_LOGGED * 4 + 8];

	escape_bounded(text ? text : "{}", ARGS_LOGGED, out, sizeof(out), 0);
	free(text);
	return strdup(out);
}

static void set_phase(struct client *cl, enum phase phase)
{
	const double seconds[] = { REQUEST_SECONDS, cl->c->handler_seconds, WRITE_SECONDS };

	if (cl->phase == phase && ev_is_active(&cl->timer))
		return;
	cl->phase = phase;
	ev_timer_stop(cl->c->loop, &cl->timer);
	ev_timer_set(&cl->timer, seconds[phase], 0.);
	ev_timer_start(cl->c->loop, &cl->timer);
}

/* Runs one request line (len bytes, '\n' excluded). */
static void client_request(struct client *cl, const char *line, size_t len)
{
	struct control *c = cl->c;
	struct ctlproto_request req;
	const char *code = NULL;
	char why[512];

	call_unref(cl->last);
	cl->last = NULL;
	if (ctlproto_parse_request(line, len, &req, &code, why, sizeof(why)) < 0) {
		cJSON *extra = NULL;
		if (!strcmp(code, "unsupported-version")) {
			extra = cJSON_CreateObject();
			cJSON *versions = cJSON_AddArrayToObject(extra, "versions");
			cJSON_AddItemToArray(versions, cJSON_CreateNumber(CTLPROTO_VERSION));
		}
		log_debug("control: a bad request from pid %d: %s", (int)cl->peer.pid, why);
		client_queue_error(cl, req.id, code,
				   !strcmp(code, "unsupported-version") ? EX_PROTOCOL : EX_USAGE,
				   extra, why);
		ctlproto_request_done(&req);
		return;
	}
	const struct control_command *cmd = find_command(c, req.cmd);
	if (!cmd) {
		char shown[200];
		snprintf(why, sizeof(why), "unknown command '%s'",
			 escape_bounded(req.cmd, 40, shown, sizeof(shown), ESCAPE_SQUOTE));
		client_queue_error(cl, req.id, "unknown-command", EX_USAGE, NULL, why);
		ctlproto_request_done(&req);
		return;
	}
	const char *refused = c->filter ? c->filter(cmd->name, c->userdata) : NULL;
	if (refused) {
		client_queue_error(cl, req.id, "standby", EX_TEMPFAIL, NULL, refused);
		ctlproto_request_done(&req);
		return;
	}
	struct control_call *call = calloc(1, sizeof(*call));
	char *args_text = call && cmd->writes ? args_logged(req.args) : NULL;
	if (!call || (cmd->writes && !args_text)) {
		free(call);
		free(args_text);
		client_queue_error(cl, req.id, "internal", EX_SOFTWARE, NULL, "out of memory");
		ctlproto_request_done(&req);
		return;
	}
	snprintf(call->cmd, sizeof(call->cmd), "%s", cmd->name);
	call->writes = cmd->writes;
	call->args_text = args_text;
	call->request = req.root;
	call->id = req.id;
	call->peer = cl->peer;
	req.root = NULL;
	if (cmd->writes && !cl->peer.may_write) {
		if (refusal_logged(c, cl->peer.uid))
			log_action(call, "permission-denied");
		client_queue_error(cl, call->id, "permission-denied", EX_NOPERM, NULL,
				   "permission denied: this command changes what the daemon does; "
				   "it needs root, the daemon's user or its control group");
		call->refs = 1;
		call_unref(call);
		return;
	}
	/* The handler's reference, the server's (while it runs) and the client's. */
	call->refs = 3;
	call->client = cl;
	cl->call = call;
	call->owner = c;
	call->pnext = c->pending;
	if (c->pending)
		c->pending->pprev = &call->pnext;
	c->pending = call;
	call->pprev = &c->pending;
	set_phase(cl, PHASE_RUNNING);
	cmd->run(call, cJSON_GetObjectItemCaseSensitive(call->request, "args"), c->userdata);
	call_unref(call);
}

/* ---- the client's steps ---------------------------------------------------------------------- */

static void client_free(struct client *cl)
{
	struct control *c = cl->c;

	for (struct client **p = &c->clients; *p; p = &(*p)->next)
		if (*p == cl) {
			*p = cl->next;
			c->n_clients--;
			break;
		}
	ev_io_stop(c->loop, &cl->rio);
	ev_io_stop(c->loop, &cl->wio);
	ev_timer_stop(c->loop, &cl->timer);
	if (cl->call) {
		/* The handler answers later, into the void. */
		struct control_call *call = cl->call;
		cl->call = NULL;
		call->client = NULL;
		call_unref(call);
	}
	call_unref(cl->last);
	close(cl->fd);
	free(cl->out);
	free(cl);
}

/* Takes the requests in the buffer, one at a time, while the client is ready for one. */
static void client_steps(struct client *cl)
{
	for (;;) {
		if (cl->dead)
			return;
		if (cl->out && !client_flush(cl)) {
			cl->dead = true;
			return;
		}
		if (cl->out) {
			set_phase(cl, PHASE_WRITING);
			ev_io_stop(cl->c->loop, &cl->rio);
			ev_io_start(cl->c->loop, &cl->wio);
			return;
		}
		ev_io_stop(cl->c->loop, &cl->wio);
		if (cl->close_after) {
			cl->dead = true;
			return;
		}
		if (cl->call) {
			/* Watched while the handler works only to notice a client that hangs up
			 * (client_read()); what it sends waits for the reply. */
			if (cl->read_held)
				ev_io_stop(cl->c->loop, &cl->rio);
			else
				ev_io_start(cl->c->loop, &cl->rio);
			return;
		}
		char *nl = memchr(cl->in + cl->scanned, '\n', cl->in_len - cl->scanned);
		if (nl) {
			size_t len = (size_t)(nl - cl->in);
			client_request(cl, cl->in, len);
			memmove(cl->in, nl + 1, cl->in_len - len - 1);
			cl->in_len -= len + 1;
			cl->scanned = 0;
			/* A reply queued resets the request's deadline when it is written. */
			if (!cl->call && cl->phase == PHASE_READING)
				ev_timer_stop(cl->c->loop, &cl->timer);
			continue;
		}
		cl->scanned = cl->in_len;
		if (cl->in_len == sizeof(cl->in)) {
			log_debug("control: a request of more than %d bytes from pid %d",
				  CTLPROTO_MAX_LINE, (int)cl->peer.pid);
			char why[128];
			snprintf(why, sizeof(why), "the request is longer than %d bytes",
				 CTLPROTO_MAX_LINE);
			client_queue_error(cl, NULL, "request-too-large", EX_USAGE, NULL, why);
			cl->close_after = true;
			cl->in_len = cl->scanned = 0;
			continue;
		}
		if (cl->eof) {
			cl->dead = true;
			return;
		}
		set_phase(cl, PHASE_READING);
		ev_io_start(cl->c->loop, &cl->rio);
		return;
	}
}

static void client_advance(struct client *cl)
{
	if (cl->busy) {
		cl->again = true;
		return;
	}
	cl->busy = true;
	do {
		cl->again = false;
		client_steps(cl);
	} while (cl->again && !cl->dead);
	cl->busy = false;
	if (cl->dead)
		client_free(cl);
}

static void client_read(struct client *cl)
{
	size_t room = sizeof(cl->in) - cl->in_len;

	if (cl->call) {
		/* A call runs. A client that closed its socket (both ways: POLLHUP, not a mere
		 * shutdown of its writing side, after which it still reads the reply) is gone: its
		 * call is detached, so that the handler knows nobody waits. Anything else (a next
		 * request, a half close) waits until the reply. */
		struct pollfd pfd = { .fd = cl->fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR))) {
			log_debug("control: client pid %d hung up while '%s' ran",
				  (int)cl->peer.pid, cl->call->cmd);
			cl->dead = true;
		} else {
			cl->read_held = true;
			ev_io_stop(cl->c->loop, &cl->rio);
		}
		client_advance(cl);
		return;
	}

	if (room > READ_PER_WAKEUP)
		room = READ_PER_WAKEUP;
	if (!room) {
		ev_io_stop(cl->c->loop, &cl->rio);
		return;
	}
	ssize_t n = recv(cl->fd, cl->in + cl->in_len, room, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		cl->eof = true;
		ev_io_stop(cl->c->loop, &cl->rio);
	} else
		cl->in_len += (size_t)n;
	client_advance(cl);
}

static void on_client_read(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	client_read(w->data);
}

static void on_client_write(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	client_advance(w->data);
}

static void client_timeout(struct client *cl)
{
	switch (cl->phase) {
	case PHASE_READING:
		log_debug("control: pid %d sent no whole request within %.0fs; closed",
			  (int)cl->peer.pid, REQUEST_SECONDS);
		cl->dead = true;
		break;
	case PHASE_WRITING:
		log_debug("control: pid %d did not read its reply within %.0fs; closed",
			  (int)cl->peer.pid, WRITE_SECONDS);
		cl->dead = true;
		break;
	case PHASE_RUNNING: {
		struct control_call *call = cl->call;
		if (!call)
			break;
		log_warning("control: '%s' from pid %d got no answer within %gs; answered "
			    "'timeout'",
			    call->cmd, (int)call->peer.pid, cl->c->handler_seconds);
		if (call->writes)
			log_action(call, "timeout");
		call->replied = true;
		client_release_call(cl);
		char why[128];
		snprintf(why, sizeof(why), "the command got no answer within %g seconds",
			 cl->c->handler_seconds);
		client_queue_error(cl, call->id, "timeout", EX_TEMPFAIL, NULL, why);
		break;
	}
	}
	client_advance(cl);
}

static void on_client_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	client_timeout(t->data);
}

/* ---- connections ----------------------------------------------------------------------------- */

static bool in_groups(gid_t g, gid_t primary, const gid_t *groups, size_t n)
{
	if (g == primary)
		return true;
	for (size_t i = 0; i < n; i++)
		if (groups[i] == g)
			return true;
	return false;
}

/* The peer's credentials and what they allow. -errno when they cannot be read. */
static int peer_access(const struct control *c, int fd, struct control_peer *peer, bool *may_read)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t stack[64], *groups = stack;
	size_t n = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	peer->uid = cred.uid;
	peer->gid = cred.gid;
	peer->pid = cred.pid;
	len = sizeof(stack);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, stack, &len) == 0)
		n = len / sizeof(gid_t);
	else if (errno == ERANGE && len / sizeof(gid_t) <= MAX_GROUPS) {
		groups = malloc(len ? len : 1);
		if (!groups)
			return -ENOMEM;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
			n = len / sizeof(gid_t);
	} /* else: no supplementary groups known; uid and gid still decide */
	peer->may_write = cred.uid == 0 || cred.uid == c->own_uid ||
			  (c->has_write_gid && in_groups(c->write_gid, cred.gid, groups, n));
	*may_read = peer->may_write || c->read_all ||
		    (c->has_read_gid && in_groups(c->read_gid, cred.gid, groups, n));
	if (groups != stack)
		free(groups);
	return 0;
}

/* Answers a connection the server does not keep, and closes it at once: it holds no place. What
 * the client sent already is read first (a socket closed with unread data resets its peer). */
static void refuse_now(int fd, const char *code, int exit, const char *message)
{
	char *line = ctlproto_reply_error(NULL, code, exit, NULL, message);
	char drain[4096];

	(void)!recv(fd, drain, sizeof(drain), MSG_DONTWAIT);
	if (line) {
		size_t n = strlen(line);
		line[n] = '\n'; /* the NUL is not sent */
		(void)!send(fd, line, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		free(line);
	}
	close(fd);
}

/*
 * Frees the clients that hung up between requests and whose end the loop has not read yet: a
 * script that runs one command after another opens its next connection before the server has
 * seen the last one close, and those must not count against the limit.
 */
static void reap_closed(struct control *c)
{
	struct client *cl = c->clients, *next;
	char b;

	for (; cl; cl = next) {
		next = cl->next;
		if (cl->phase == PHASE_READING && !cl->in_len && !cl->call && !cl->busy &&
		    recv(cl->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
			client_free(cl);
	}
}

static void accept_one(struct control *c, int fd)
{
	struct control_peer peer = { 0 };
	bool may_read = false;
	char uid[24], pid[24];
	int r;

	if (c->n_clients >= MAX_CLIENTS)
		reap_closed(c);
	if (c->n_clients >= MAX_CLIENTS) {
		if (ev_now(c->loop) - c->full_said >= REFUSAL_SECONDS) {
			c->full_said = ev_now(c->loop);
			log_warning("control: %d clients already; connections are refused "
				    "(said once a minute)",
				    MAX_CLIENTS);
		}
		refuse_now(fd, "too-many-clients", EX_TEMPFAIL,
			   "too many clients at once; try again");
		return;
	}
	if ((r = peer_access(c, fd, &peer, &may_read)) < 0) {
		log_warning("control: the credentials of a connection cannot be read: %s; "
			    "closed",
			    strerror(-r));
		close(fd);
		return;
	}
	if (!may_read) {
		snprintf(uid, sizeof(uid), "%u", (unsigned)peer.uid);
		snprintf(pid, sizeof(pid), "%d", (int)peer.pid);
		if (refusal_logged(c, peer.uid))
			log_at(LOG_WARNING, EVENT_CONTROL_REFUSED,
			       LOG_FIELDS({ "CALLER_UID", uid }, { "CALLER_PID", pid }),
			       "control: refused a connection from uid %s (pid %s): not root, "
			       "not the daemon's user, not in the control group or the read group",
			       uid, pid);
		refuse_now(fd, "permission-denied", EX_NOPERM,
			   "permission denied: not root, not the daemon's user, not in its control "
			   "group or its read group");
		return;
	}
	struct client *cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return;
	}
	cl->c = c;
	cl->fd = fd;
	cl->peer = peer;
	ev_io_init(&cl->rio, on_client_read, fd, EV_READ);
	ev_io_init(&cl->wio, on_client_write, fd, EV_WRITE);
	ev_timer_init(&cl->timer, on_client_timer, REQUEST_SECONDS, 0.);
	cl->rio.data = cl->wio.data = cl->timer.data = cl;
	cl->phase = PHASE_READING;
	cl->next = c->clients;
	c->clients = cl;
	c->n_clients++;
	client_advance(cl);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control *c = w->data;

	(void)revents;
	for (int i = 0; i < ACCEPT_PER_WAKEUP; i++) {
		int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			accept_one(c, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			log_warning("control: cannot accept a connection: %s; accepting again in "
				    "1s",
				    strerror(errno));
			ev_io_stop(loop, &c->accept_w);
			ev_timer_start(loop, &c->accept_pause);
		}
		return;
	}
}

static void on_accept_pause(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct control *c = t->data;

	(void)revents;
	ev_io_start(loop, &c->accept_w);
}

/* ---- setup ----------------------------------------------------------------------------------- */

/* A group by name or number. 1 found, 0 no such group, -errno. */
static int group_lookup(const char *name, gid_t *ret)
{
	char *end = NULL;
	struct group gr, *found = NULL;
	size_t size = 16384;

	errno = 0;
	unsigned long n = strtoul(name, &end, 10);
	if (*name >= '0' && *name <= '9' && end && !*end && errno == 0 && n < (gid_t)-1) {
		*ret = (gid_t)n;
		return 1;
	}
	for (;;) {
		char *buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		int r = getgrnam_r(name, &gr, buf, size, &found);
		if (r == ERANGE && size < 1024 * 1024) {
			free(buf);
			size *= 4;
			continue;
		}
		if (r == 0 && found)
			*ret = gr.gr_gid;
		free(buf);
		if (r != 0 && r != ENOENT && r != ESRCH && r != EBADF && r != EPERM)
			return -r;
		return r == 0 && found ? 1 : 0;
	}
}

static void add_warning(char **warning, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_warning(char **warning, const char *fmt, ...)
{
	char text[512], *joined = NULL;
	va_list ap;

	if (!warning)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (asprintf(&joined, "%s%s%s", *warning ? *warning : "", *warning ? "; " : "", text) < 0)
		return;
	free(*warning);
	*warning = joined;
}

/* Whether a process answers on the socket at path. */
static bool socket_live(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return true; /* cannot tell: do not take it */
	int r = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	int e = errno;
	close(fd);
	return r == 0 || e == EAGAIN || e == EINPROGRESS;
}

bool control_path_fits(const char *path)
{
	struct sockaddr_un addr;
	const char *slash = strrchr(path, '/');
	size_t dir_len = slash ? (size_t)(slash - path + 1) : 0;

	return strlen(path) < sizeof(addr.sun_path) &&
	       dir_len + sizeof(CONTROL_TEMP_NAME) <= sizeof(addr.sun_path);
}

/* Whether the path holds a socket file that may be taken: 0 when there is none or a stale one (a
 * process that ended left it; it is removed), or -errno with why. */
static int clear_path(struct control *c, const struct sockaddr_un *addr, const char *shown,
		      char *why, size_t why_len)
{
	struct stat st;

	if (lstat(c->path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		snprintf(why, why_len, "control socket '%s': %s", shown, strerror(e));
		return -e;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(why, why_len, "control socket '%s': the path exists and is not a socket",
			 shown);
		return -EEXIST;
	}
	if (socket_live(addr)) {
		snprintf(why, why_len,
			 "control socket '%s': another process answers on it (another "
			 "ecr-deployd running?)",
			 shown);
		return -EADDRINUSE;
	}
	log_info("control socket '%s': removing the stale socket of a process that ended", shown);
	if (unlink(c->path) < 0 && errno != ENOENT) {
		int e = errno;
		snprintf(why, why_len, "control socket '%s': cannot remove the stale one: %s",
			 shown, strerror(e));
		return -e;
	}
	return 0;
}

/*
 * The socket made whole under a name of its own (CONTROL_TEMP_NAME in the path's directory:
 * bound, its group and mode set, listening), then renamed to the path without replacing a file
 * there: a client that sees the path can connect (a socket bound at the path itself refuses
 * connections until listen(), and its file first has the umask's mode). Daemons starting on one
 * directory take turns from the first name to the rename (an flock on the directory): none sees
 * another's socket half made, or removes a stale file just after another put its socket in its
 * place. Fills c->dev and c->ino; on failure nothing of ours is left at either name.
 */
static int bind_socket(struct control *c, const struct control_settings *settings,
		       const char *shown, char **ret_warning, char *why, size_t why_len)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX }, tmp = { .sun_family = AF_UNIX };
	char dir[sizeof(tmp.sun_path)], tmp_shown[512];
	struct stat st;
	int r, e, lock_fd;

	memcpy(addr.sun_path, c->path, strlen(c->path) + 1);
	const char *slash = strrchr(c->path, '/');
	int dir_len = slash ? (int)(slash - c->path + 1) : 0;
	snprintf(dir, sizeof(dir), "%.*s", dir_len ? dir_len : 1, dir_len ? c->path : ".");
	snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%.*s.%06lx~", dir_len, c->path,
		 (unsigned long)getpid());
	escape_bounded(tmp.sun_path, 200, tmp_shown, sizeof(tmp_shown), ESCAPE_SQUOTE);

	lock_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0) {
		r = -errno;
		snprintf(why, why_len, "control socket '%s': cannot lock its directory: %s", shown,
			 strerror(-r));
		if (lock_fd >= 0)
			close(lock_fd);
		return r;
	}
	/* A file under the first name now is a kill's leftover (a process of our pid, here or in
	 * another pid namespace, that died between bind and rename): taken when it is a socket
	 * that nobody answers on, as a stale socket at the path is. */
	if (lstat(tmp.sun_path, &st) == 0) {
		bool is_sock = S_ISSOCK(st.st_mode);
		if (!is_sock || socket_live(&tmp)) {
			snprintf(
			    why, why_len,
			    "control socket '%s': '%s', the name it is made under first, exists "
			    "and is %s",
			    shown, tmp_shown,
			    is_sock ? "a socket a process answers on" : "not a socket");
			r = -EEXIST;
			goto out;
		}
		unlink(tmp.sun_path);
	}
	mode_t old = umask(0177);
	r = bind(c->fd, (const struct sockaddr *)&tmp, sizeof(tmp));
	e = errno;
	umask(old);
	if (r < 0) {
		snprintf(why, why_len,
			 "control socket '%s': cannot bind '%s' (the name it is made "
			 "under first): %s",
			 shown, tmp_shown, strerror(e));
		r = -e;
		goto out;
	}
	if (stat(tmp.sun_path, &st) < 0)
		goto fail_errno;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	if (c->has_write_gid && st.st_gid != c->write_gid &&
	    chown(tmp.sun_path, (uid_t)-1, c->write_gid) < 0)
		add_warning(ret_warning, "control socket '%s': cannot give it group '%s': %s",
			    shown, settings->group, strerror(errno));
	/* A read group needs the file open to others: a file has one group, and the mode decides
	 * who may connect; the credentials decide the rest. */
	if (chmod(tmp.sun_path, c->read_all || c->has_read_gid ? 0666 : 0660) < 0 ||
	    listen(c->fd, 64) < 0)
		goto fail_errno;
	if ((r = clear_path(c, &addr, shown, why, why_len)) < 0)
		goto fail;
	if (renameat2(AT_FDCWD, tmp.sun_path, AT_FDCWD, c->path, RENAME_NOREPLACE) == 0)
		goto out;
	/* a filesystem without RENAME_NOREPLACE: a hard link does not replace a file either */
	if (errno == EINVAL && link(tmp.sun_path, c->path) == 0) {
		unlink(tmp.sun_path);
		goto out;
	}
	r = -errno;
	if (r == -EEXIST)
		snprintf(why, why_len,
			 "control socket '%s': a file appeared at the path while the socket was "
			 "made (a process that does not take turns by the directory's lock)",
			 shown);
	else
		snprintf(why, why_len, "control socket '%s': cannot move it there from '%s': %s",
			 shown, tmp_shown, strerror(-r));
	goto fail;
fail_errno:
	r = -errno;
	snprintf(why, why_len, "control socket '%s': '%s' (the name it is made under first): %s",
		 shown, tmp_shown, strerror(-r));
fail:
	unlink(tmp.sun_path);
out:
	close(lock_fd); /* the lock goes with it */
	return r;
}

int control_new(struct ev_loop *loop, const struct control_settings *settings,
		const struct control_command *const *tables, size_t n, void *userdata,
		struct control **ret, char **ret_warning, char *why, size_t why_len)
{
	struct sockaddr_un addr;
	char shown[512];
	int r;

	escape_bounded(settings->path, 200, shown, sizeof(shown), ESCAPE_SQUOTE);
	if (!control_path_fits(settings->path)) {
		snprintf(why, why_len,
			 "control socket '%s': the path is too long (at most %zu bytes, and its "
			 "directory's at most %zu)",
			 shown, sizeof(addr.sun_path) - 1,
			 sizeof(addr.sun_path) - 1 - sizeof(CONTROL_TEMP_NAME) + 1);
		return -ENAMETOOLONG;
	}
	struct control *c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(settings->path))) {
		free(c);
		snprintf(why, why_len, "control socket '%s': out of memory", shown);
		return -ENOMEM;
	}
	c->loop = loop;
	c->tables = tables;
	c->n_tables = n;
	c->userdata = userdata;
	c->own_uid = geteuid();
	c->handler_seconds =
	    settings->handler_seconds > 0 ? settings->handler_seconds : HANDLER_SECONDS;
	c->fd = -1;
	ev_io_init(&c->accept_w, on_accept, -1, EV_READ);
	ev_timer_init(&c->accept_pause, on_accept_pause, 1., 0.);
	c->accept_w.data = c->accept_pause.data = c;

	if (settings->group && *settings->group) {
		r = group_lookup(settings->group, &c->write_gid);
		if (r > 0)
			c->has_write_gid = true;
		else
			add_warning(
			    ret_warning,
			    "control socket: no group '%s' (%s); only root and the daemon's "
			    "user may run writing commands",
			    settings->group, r == 0 ? "unknown to this system" : strerror(-r));
	}
	if (settings->read_group && !strcmp(settings->read_group, "*"))
		c->read_all = true;
	else if (settings->read_group && *settings->read_group) {
		r = group_lookup(settings->read_group, &c->read_gid);
		if (r > 0)
			c->has_read_gid = true;
		else
			add_warning(
			    ret_warning, "control socket: no read group '%s' (%s); it is ignored",
			    settings->read_group, r == 0 ? "unknown to this system" : strerror(-r));
	}

	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		r = -errno;
		snprintf(why, why_len, "control socket '%s': %s", shown, strerror(-r));
		goto fail;
	}
	if ((r = bind_socket(c, settings, shown, ret_warning, why, why_len)) < 0)
		goto fail;
	ev_io_set(&c->accept_w, c->fd, EV_READ);
	ev_io_start(loop, &c->accept_w);
	*ret = c;
	return 0;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c->path);
	free(c);
	return r;
}

void control_free(struct control *c)
{
	struct stat st;

	if (!c)
		return;
	/* Handlers still waiting (for AWS) stop now and answer; a client that waits still gets
	 * that answer before its connection closes. A handler without a stop function answers
	 * later, into the void; its client is told now that the daemon stops (`timeout`: what
	 * the command started may or may not have happened). */
	while (c->pending) {
		struct control_call *call = c->pending;
		void (*fn)(void *) = call->on_stop;
		void *data = call->on_stop_data;
		pending_unlink(call);
		if (fn) {
			fn(data);
			continue;
		}
		struct client *cl = call->client;
		if (!cl || call->replied)
			continue;
		if (call->writes)
			log_action(call, "timeout");
		call->replied = true;
		client_release_call(cl);
		client_queue_error(
		    cl, call->id, "timeout", EX_TEMPFAIL, NULL,
		    "ecr-deployd is stopping before the command got its answer; what "
		    "it started may or may not have happened: look with status");
		client_advance(cl);
	}
	while (c->clients)
		client_free(c->clients);
	ev_io_stop(c->loop, &c->accept_w);
	ev_timer_stop(c->loop, &c->accept_pause);
	if (c->fd >= 0)
		close(c->fd);
	/* Only the socket file this server made: another daemon may have taken the path. */
	if (stat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
	free(c->path);
	free(c);
}

void control_set_filter(struct control *c, const char *(*filter)(const char *cmd, void *userdata))
{
	if (c)
		c->filter = filter;
}

/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a Unix stream socket served on the loop, one JSON request and one JSON
 * reply per line (docs/control.md, protocol version 1). Every connection's peer credentials
 * (SO_PEERCRED, SO_PEERGROUPS) decide what it may run: writing commands need root, the daemon's
 * own uid or the configured group; read-only ones may be open to more. Everything a client
 * controls is bounded: clients at once, the request's size, the time to send a request and to read
 * a reply, the time a handler may take. Writing commands are logged as CONTROL_ACTION events.
 *
 * The server knows no command itself: every one comes in tables (struct control_command)
 * that daemon.c registers (its own `version` and `reload` among them), each handler answering its
 * call exactly once, at once or later (after an AWS call). A call whose client went away, or that
 * the server already answered with `timeout`, swallows the late answer quietly.
 */
#ifndef ECR_CONTROL_H
#define ECR_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cJSON.h>

struct ev_loop;
struct control;
struct control_call;

struct control_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool may_write;
};

struct control_command {
	const char *name; /* NULL ends a table */
	bool writes;      /* needs write access; logged as CONTROL_ACTION */
	/* Runs the request (args: an object, {} when the request had none; valid until the call is
	 * answered). Must answer call once with control_reply() or control_fail(), now or later. */
	void (*run)(struct control_call *call, const cJSON *args, void *userdata);
};

struct control_settings {
	const char *path;       /* the socket's path */
	const char *group;      /* write group: a name or a number; NULL or "": the process's */
	const char *read_group; /* read-only group, "*" for everyone, or NULL */
	double handler_seconds; /* a handler's time to answer before `timeout`; 0: 60 s (tests) */
};

/* The name the socket is made under first, in its directory: a dot, the pid in 6 hex digits (a
 * pid is below 2^22) and a tilde. */
#define CONTROL_TEMP_NAME ".PPPPPP~"

/* Whether path is short enough for the socket: at most 107 bytes (a sockaddr_un's), and its
 * directory (up to its last '/') with CONTROL_TEMP_NAME too. */
bool control_path_fits(const char *path);

/*
 * Creates the socket at settings->path (control_path_fits(); made whole under another
 * name, then renamed into place: a client that sees the file can connect; a stale socket file is
 * replaced; one a live process answers on is not: -EADDRINUSE) and serves it on loop with the given
 * command tables (an array of n tables, each NULL-name terminated; kept by pointer, must outlive
 * the server), userdata passed to every handler. Returns 0 and *ret, or -errno with why filled (the
 * path named). A group that does not exist is not an error: *ret_warning (if not NULL) gets a
 * sentence for the log (free it).
 */
int control_new(struct ev_loop *loop, const struct control_settings *settings,
		const struct control_command *const *tables, size_t n, void *userdata,
		struct control **ret, char **ret_warning, char *why, size_t why_len);
/* Closes every connection (their calls' late answers are dropped), removes the socket file (when
 * it is still the one this server made), frees. NULL is a no-op. Not from inside a handler. */
void control_free(struct control *c);

/*
 * A filter that may refuse a command before it runs: filter(cmd, userdata) returns NULL to let it
 * run, or the message of the refusal (code "standby", exit EX_TEMPFAIL; the string lives until
 * the next call of the filter). An ha standby refuses this way what only the leader may do.
 */
void control_set_filter(struct control *c, const char *(*filter)(const char *cmd, void *userdata));

/* Who sent the call. */
const struct control_peer *control_call_peer(const struct control_call *call);
/* Answers with ok true and result (taken; NULL means {}). */
void control_reply(struct control_call *call, cJSON *result);
/* Answers with ok false: code (a stable word of docs/control.md), exit (the sysexits code the
 * client exits with), extra (an object whose members are added to "error", taken, may be NULL) and
 * a message (values from outside escaped by the caller). */
void control_fail(struct control_call *call, const char *code, int exit, cJSON *extra,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * Tells the server how to stop the handler's work on call (an AWS call it waits for) when the
 * server is freed before the handler answered: control_free() runs fn(data), which must cancel
 * that work and answer the call at once (the answer still reaches a client that waits). Without
 * it the handler keeps the call until it answers, and whatever it holds outlives the server.
 */
void control_call_on_stop(struct control_call *call, void (*fn)(void *data), void *data);
/* Whether an answer would still reach the client (it is connected and was not answered). */
bool control_call_live(const struct control_call *call);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The control protocol, version 1 (docs/control.md), without any I/O: shared by the daemon's
 * server and ecr-deployctl. One JSON object per line each way.
 *
 * A request is {"v": 1, "id": any?, "cmd": "name", "args": {...}?}; a reply is
 * {"v": 1, "id": …, "ok": true, "result": {...}} or {"v": 1, "id": …, "ok": false,
 * "error": {"code", "message", "exit", …}}.
 */
#ifndef ECR_CTLPROTO_H
#define ECR_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <cJSON.h>

#define CTLPROTO_VERSION   1
#define CTLPROTO_MAX_LINE  (64 * 1024) /* a request or reply line, '\n' excluded */
#define CTLPROTO_MAX_ID    256         /* the serialised id */
/* A reply line may be longer than a request (a status of many watches, the metrics text). */
#define CTLPROTO_MAX_REPLY (16 * 1024 * 1024)

struct ctlproto_request {
	cJSON *root;       /* owns everything below */
	const char *cmd;   /* checked: [a-z-]{1,32} */
	const cJSON *id;   /* NULL when the request had none */
	const cJSON *args; /* an object ({} added when missing) */
};

/*
 * Parses one request line (len bytes, no '\n'). Returns 0 and *ret (free with
 * ctlproto_request_done()), or a negative value with *ret_code (a static stable error word:
 * "bad-request", "unsupported-version", "request-too-large") and why filled (one sentence, values
 * escaped). On failure ret->root may hold the parsed tree and ret->id the request's id when it was
 * valid (so that the error reply can echo it): call ctlproto_request_done() in both cases.
 * Members other than v, id, cmd and args, and a member given twice (also in args), are refused.
 */
int ctlproto_parse_request(const char *line, size_t len, struct ctlproto_request *ret,
			   const char **ret_code, char *why, size_t why_len);
void ctlproto_request_done(struct ctlproto_request *req);

/* Args helpers for handlers: each returns 0, or -EINVAL with why naming the key and the value. */
/* Refuses a member of args not in allowed (NULL-terminated). */
int ctlproto_check_keys(const cJSON *args, const char *const *allowed, char *why, size_t why_len);
/* *ret: the string at key (NULL when absent, when !required); at most max_len bytes, no control
 * characters. */
int ctlproto_get_string(const cJSON *args, const char *key, bool required, size_t max_len,
			const char **ret, char *why, size_t why_len);
/* *ret: the number at key, within [min, max] (absent: *ret untouched, unless required). */
int ctlproto_get_number(const cJSON *args, const char *key, bool required, double min, double max,
			double *ret, char *why, size_t why_len);
/* *ret: the bool at key (absent: *ret untouched). */
int ctlproto_get_bool(const cJSON *args, const char *key, bool *ret, char *why, size_t why_len);

/* A reply line (without '\n'), malloc'd, or NULL without memory. result and extra are taken; id
 * NULL gives "id": null. extra's members are added to "error" (code, message, exit stay). */
char *ctlproto_reply_ok(const cJSON *id, cJSON *result);
char *ctlproto_reply_error(const cJSON *id, const char *code, int exit, cJSON *extra,
			   const char *message);

/* A request line for the client (without '\n'), malloc'd, or NULL. args taken (NULL: none). */
char *ctlproto_request_line(const char *cmd, cJSON *args);
/*
 * Parses a reply line: returns 1 for ok (*ret_result points into *ret_root), 0 for an error
 * (*ret_code, *ret_message, *ret_exit and *ret_error point into *ret_root), or -EPROTO with why
 * filled when the line is not a version-1 reply. Free *ret_root with cJSON_Delete.
 */
int ctlproto_parse_reply(const char *line, size_t len, cJSON **ret_root, const cJSON **ret_result,
			 const cJSON **ret_error, char *why, size_t why_len);

#endif

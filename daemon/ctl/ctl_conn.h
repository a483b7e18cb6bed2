/* SPDX-License-Identifier: MIT */
/*
 * One request to ecr-deployd's control socket and its reply (docs/control.md): connect, send one
 * line, read one line, all within a deadline. The failures come back as the sysexits code
 * ecr-deployctl exits with and one message.
 */
#ifndef ECR_CTL_CONN_H
#define ECR_CTL_CONN_H

#include <stddef.h>

#include <cJSON.h>

#include "ctlproto.h"

/* The largest reply line read (a status or the metrics of a large configuration). */
#define CTL_CONN_MAX_REPLY CTLPROTO_MAX_REPLY

struct ctl_reply {
	cJSON *root;         /* owns result and error */
	const cJSON *result; /* the result object of an ok reply, else NULL */
	const cJSON *error;  /* the error object of a failed reply, else NULL */
};

/*
 * Sends cmd with args (taken; NULL: none) to the socket at path and reads the reply within
 * timeout seconds. Returns 0 with *ret filled (free with ctl_reply_done()) when a version-1 reply
 * came, ok or not; otherwise a sysexits code with msg filled: 69 (EX_UNAVAILABLE) when the socket
 * is missing or refuses, 77 (EX_NOPERM) when it may not be opened, 76 (EX_PROTOCOL) when the
 * reply is not one, 75 (EX_TEMPFAIL) when the deadline passed, 71 (EX_OSERR) otherwise.
 */
int ctl_conn_call(const char *path, double timeout, const char *cmd, cJSON *args,
		  struct ctl_reply *ret, char *msg, size_t msg_len);

void ctl_reply_done(struct ctl_reply *reply);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * STS over its query protocol (form-encoded POST, XML reply): AssumeRole
 * (signed) and AssumeRoleWithWebIdentity (unsigned). Only what the
 * credential providers need.
 */
#ifndef ECR_STS_H
#define ECR_STS_H

#include "credentials.h"
#include "http.h"
#include "sigv4.h"

struct sts_request;

/* On success creds is handed over to the callee (free with aws_credentials_free);
 * on failure it is NULL and why says what went wrong (an AWS code and message, or the transport
 * error). */
typedef void (*sts_done_fn)(struct aws_credentials *creds, int err, const char *why,
			    void *userdata);

struct sts_call {
	struct http_client *http;
	struct sigv4_signer *signer;
	const char *endpoint; /* base URL, no trailing '/' */
	const char *region;
	const char *role_arn;
	const char *session_name;
	int duration_seconds; /* 0: STS's default (1 hour) */
	long timeout_ms;
};

/* Signed with base. Returns 0 or a negative errno (nothing started). */
int sts_assume_role(const struct sts_call *call, const struct aws_credentials *base,
		    sts_done_fn done, void *userdata, struct sts_request **ret);

/* Unsigned; token is the web identity token (never kept after the request is sent; the copy in the
 * form is wiped). */
int sts_assume_role_with_web_identity(const struct sts_call *call, const char *token,
				      sts_done_fn done, void *userdata, struct sts_request **ret);

void sts_cancel(struct sts_request *r);

/* Exposed for tests: the text of the first <tag>…</tag> in xml, entities decoded; NULL when absent.
 * Free with free(). */
char *sts_xml_text(const char *xml, const char *tag);

/*
 * Reads an STS reply (outside bytes: any NUL-terminated text) with HTTP
 * status to action ("AssumeRole", named in messages). A 200 with
 * AccessKeyId, SecretAccessKey, SessionToken and an ISO 8601 Expiration
 * gives new credentials in *ret (secret and token in the secret arena; free
 * with aws_credentials_free) and 0. Otherwise why gets STS's code and
 * message as aws_parse_error() reads them (XML or JSON; cut with
 * AWS_ERROR_CUT_MARK when they do not fit), or what is missing, and the
 * result is -EACCES (a 4xx), -EAGAIN
 * (a 5xx) or -EPROTO (a 200 without usable credentials). Never quotes a
 * secret.
 */
int sts_parse_reply(const char *body, long status, const char *action, struct aws_credentials **ret,
		    char *why, size_t why_len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * AWS credentials and where they come from.
 *
 * cred_chain_new() resolves, asynchronously and in the SDKs' order: the
 * environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN);
 * web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, through STS
 * AssumeRoleWithWebIdentity); the shared config and credentials files
 * (static keys, role_arn + source_profile through a signed STS AssumeRole,
 * role_arn + web_identity_token_file); the ECS container endpoint
 * (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI, with
 * AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]); EC2 IMDSv2 (unless
 * AWS_EC2_METADATA_DISABLED=true). The first source that is configured is
 * used; if it fails, that failure is reported rather than silently trying
 * the next one (IMDS, the last, is tried when nothing else is configured).
 *
 * Credentials are cached. Those that expire are refreshed ahead of time:
 * from 15 minutes before expiry (or half their lifetime when shorter),
 * without making callers wait; while a refresh fails, the current ones are
 * used until they expire and the refresh is retried with backoff.
 * cred_assume_role_new() layers an STS AssumeRole (cross-account) on any
 * provider, with the same caching.
 *
 * Nothing here logs, and no error text ever contains a secret or token.
 * Secrets are held in the secret arena (secmem.h, left out of core dumps)
 * from the moment they are read; the environment's secret variables are
 * overwritten in environ when cred_chain_new() takes them.
 */
#ifndef ECR_CREDENTIALS_H
#define ECR_CREDENTIALS_H

#include <ev.h>
#include <stdbool.h>
#include <time.h>

#include "http.h"
#include "sigv4.h"

struct aws_credentials {
	char *access_key_id;
	char *secret_access_key; /* in the secret arena (secmem.h) */
	char *session_token;     /* in the secret arena; NULL when none */
	time_t expiration;       /* 0: does not expire */
	bool extended;           /* IMDS handed out expired keys; their expiry was pushed out */
	char source[256];        /* "environment", "profile 'x'", "web identity role '…'", ... */
};

/* Wipes and frees. NULL is a no-op. */
void aws_credentials_free(struct aws_credentials *c);

struct cred_options {
	struct ev_loop *loop;
	struct http_client *http;
	struct sigv4_signer *signer;
	const char *profile;      /* NULL: AWS_PROFILE, AWS_DEFAULT_PROFILE, "default" */
	const char *region;       /* for STS's regional endpoint and signing */
	const char *sts_endpoint; /* NULL: as endpoint_resolve() says for STS */
	long retry_base_ms;       /* refresh retry backoff base; 0: 1000 */
};

struct cred_provider;
struct cred_waiter;

/* creds is NULL on failure, with err (negative errno) and why (no secrets). */
typedef void (*cred_done_fn)(const struct aws_credentials *creds, int err, const char *why,
			     void *userdata);

/* The default chain. Options are copied. NULL when out of memory. */
struct cred_provider *cred_chain_new(const struct cred_options *o);

/* A provider that assumes role_arn with the credentials of base (not owned). */
struct cred_provider *cred_assume_role_new(struct cred_provider *base, const char *role_arn,
					   const char *session_name, const struct cred_options *o);

/* Cancels waiters (no callbacks) and requests in flight. NULL is a no-op. */
void cred_provider_free(struct cred_provider *p);

/*
 * The current credentials when they are usable now, else NULL (then use
 * cred_wait()). Starts a refresh in the background when one is due.
 * The pointer stays valid until control returns to the loop.
 */
const struct aws_credentials *cred_peek(struct cred_provider *p);

/*
 * Calls done (always later, from the loop) once credentials are usable or
 * resolving failed. Returns 0 or -ENOMEM; *ret (if not NULL) allows
 * cred_wait_cancel() until the callback runs.
 */
int cred_wait(struct cred_provider *p, cred_done_fn done, void *userdata, struct cred_waiter **ret);
void cred_wait_cancel(struct cred_waiter *w);

/*
 * Puts the secret variables the process took from its environment (and wiped there) back, for an
 * execv() of this same program, whose new image takes them again. Nothing but the exec should
 * follow: the values sit in the environment's own memory until then.
 */
void cred_env_restore(void);

/* Forgets the current credentials (AWS said they expired) and resolves again. */
void cred_invalidate(struct cred_provider *p);

/*
 * Parses the JSON credentials reply of the ECS container endpoint and of
 * EC2 IMDS ({"AccessKeyId", "SecretAccessKey", "Token", "Expiration",
 * "Code"}) from len bytes of body (outside bytes: any content). source
 * names the endpoint in messages and in the result. On success *ret holds
 * new credentials (secret and token in the secret arena; free with
 * aws_credentials_free) and 0 is returned; else -EPROTO (why says what is
 * wrong, never quoting a secret) or -ENOMEM. The secret strings of the
 * parsed tree are wiped; wiping body is the caller's.
 */
int cred_parse_json(const char *body, size_t len, const char *source, struct aws_credentials **ret,
		    char *why, size_t why_len);

/* Parses an ISO 8601 UTC time ("2026-11-26T17:00:00Z", fractions and +00:00 allowed). */
int cred_parse_time(const char *s, time_t *ret);

#endif

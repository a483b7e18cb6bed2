/* SPDX-License-Identifier: MIT */
/*
 * AWS Signature Version 4, header signing. The signer builds the canonical
 * request, the string to sign and the Authorization header value for a
 * request, deriving the signing key with HMAC-SHA256 and caching derived
 * keys per (access key, date, region, service).
 *
 * The caller sends the headers it passed in plus X-Amz-Date (the result's
 * amz_date), X-Amz-Security-Token when the credentials have a token,
 * X-Amz-Content-SHA256 when sign_payload_header was set, and Authorization.
 * Nothing here logs; the results hold no secret key, but the Authorization
 * value must still never be logged (it is a bearer proof for 5 minutes), and
 * the canonical request holds the session token: sigv4_result_done() wipes
 * them. The signer's cache of derived keys lives in the secret arena
 * (secmem.h), out of core dumps.
 */
#ifndef ECR_SIGV4_H
#define ECR_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "crypto.h"
#include "strbuf.h"

struct sigv4_header {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method;
	/* The path, not yet percent-encoded (UTF-8 allowed); "/" for AWS JSON calls. */
	const char *path;
	/* The query string without '?', percent-encoded or not; NULL or "" for none. */
	const char *query;
	/* Headers to sign, in order; a name may repeat. Must include Host. */
	const struct sigv4_header *headers;
	size_t n_headers;
	const void *body;
	size_t body_len;
	/* Remove "." and ".." segments and empty segments (every service but S3). */
	bool normalize_path;
	/* Also sign and send X-Amz-Content-SHA256 (S3 style). */
	bool sign_payload_header;
};

struct sigv4_credentials {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* NULL when none */
};

#define SIGV4_DATE_LEN 17 /* "YYYYMMDDTHHMMSSZ" + NUL */

struct sigv4_result {
	char amz_date[SIGV4_DATE_LEN];
	char payload_hash[CRYPTO_SHA256_HEX];
	char signature[CRYPTO_SHA256_HEX];
	struct strbuf authorization;     /* the Authorization header value */
	struct strbuf canonical_request; /* kept for tests; never log it */
	struct strbuf string_to_sign;
};

struct sigv4_signer;

/* A signer with an empty key cache; NULL when out of memory. */
struct sigv4_signer *sigv4_signer_new(void);

/* Wipes the cached keys and frees the signer. NULL is a no-op. */
void sigv4_signer_free(struct sigv4_signer *s);

/* Initialises a result so that sigv4_result_done() may always be called. */
void sigv4_result_init(struct sigv4_result *r);
/* Wipes and frees what a result holds. */
void sigv4_result_done(struct sigv4_result *r);
/* Wipes what a result holds and keeps its memory for the next sigv4_sign(). */
void sigv4_result_clear(struct sigv4_result *r);

/*
 * Signs r for region and service at time `when` (UTC seconds). Fills ret
 * (which must have been initialised; previous contents are replaced).
 * Returns 0; -EINVAL when the request lacks Host, carries its own X-Amz-Date
 * or Authorization, or a name or value has a byte that cannot be signed;
 * -ENOBUFS when a part passes the size bound; -ENOMEM; -EIO from OpenSSL.
 */
int sigv4_sign(struct sigv4_signer *s, const struct sigv4_request *r,
	       const struct sigv4_credentials *c, const char *region, const char *service,
	       time_t when, struct sigv4_result *ret);

/*
 * Percent-encodes src (len bytes) as SigV4 does: A-Z a-z 0-9 - . _ ~ kept,
 * '/' kept when keep_slash, every other byte %XX in upper case. Appends to
 * out; returns 0 or the strbuf error.
 */
int sigv4_uri_encode(struct strbuf *out, const char *src, size_t len, bool keep_slash);

#endif

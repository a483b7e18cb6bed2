/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 and HMAC-SHA256 through OpenSSL's libcrypto, and lowercase hex.
 * The only place that talks to OpenSSL's digest API.
 */
#ifndef ECR_CRYPTO_H
#define ECR_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_SHA256_HEX (2 * CRYPTO_SHA256_LEN + 1)

/* out = SHA-256(data). Returns 0 or -EIO when OpenSSL fails. */
int crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN]);

/* out = HMAC-SHA256(key, data). Returns 0 or -EIO. */
int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		       uint8_t out[CRYPTO_SHA256_LEN]);

/* Writes 2*len lowercase hex digits and a NUL to out. */
void crypto_hex(const uint8_t *bytes, size_t len, char *out);

/* hex(SHA-256(data)) into out. Returns 0 or -EIO. */
int crypto_sha256_hex(const void *data, size_t len, char out[CRYPTO_SHA256_HEX]);

/* Overwrites len bytes at p in a way the compiler keeps. */
void crypto_wipe(void *p, size_t len);

/* free() and realloc() that wipe a block (its malloc_usable_size()) before releasing it; for
 * libraries' allocators (libcurl, OpenSSL) so that their buffers leave no secrets behind. */
void crypto_wiping_free(void *p);
void *crypto_wiping_realloc(void *p, size_t n);

/*
 * Makes OpenSSL wipe every block it frees (TLS record buffers hold the
 * plaintext of credential replies). Must run before OpenSSL's first
 * allocation; returns 0, or -EBUSY when that is too late (then nothing
 * changed). Later calls return the first one's result.
 */
int crypto_wipe_on_free(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Digests and MACs for SigV4 on OpenSSL's SHA-256 (libcrypto's assembly: SHA-NI or AVX2 where the
 * CPU has them). Through SHA256_Init/Update/Final on a context on the stack, which OpenSSL 3
 * deprecates but keeps: its EVP interface allocates and frees a provider context at every
 * EVP_DigestInit_ex2() even when the digest and the context are reused (six a request, with their
 * wiping frees, most of libcrypto's share of a poll cycle: issue 19). The result is the same
 * SHA-256 (checked against known answers, RFC 4231's vectors and the SigV4 suite). Every
 * context is wiped after use: its chaining state follows from a key.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto.h"

#include <errno.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#define SHA256_BLOCK 64

int crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
	SHA256_CTX c;
	int ok =
	    SHA256_Init(&c) == 1 && SHA256_Update(&c, data, len) == 1 && SHA256_Final(out, &c) == 1;

	explicit_bzero(&c, sizeof(c));
	return ok ? 0 : -EIO;
}

/* RFC 2104: H((K ^ opad) || H((K ^ ipad) || data)), K hashed first when longer than a block. */
int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		       uint8_t out[CRYPTO_SHA256_LEN])
{
	uint8_t k[SHA256_BLOCK] = { 0 }, pad[SHA256_BLOCK], inner[CRYPTO_SHA256_LEN];
	SHA256_CTX c;
	int ok;

	if (key_len > SHA256_BLOCK) {
		if (crypto_sha256(key, key_len, k) < 0)
			return -EIO;
	} else if (key_len) {
		memcpy(k, key, key_len);
	}
	for (size_t i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	ok = SHA256_Init(&c) == 1 && SHA256_Update(&c, pad, sizeof(pad)) == 1 &&
	     SHA256_Update(&c, data, len) == 1 && SHA256_Final(inner, &c) == 1;
	for (size_t i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	ok = ok && SHA256_Init(&c) == 1 && SHA256_Update(&c, pad, sizeof(pad)) == 1 &&
	     SHA256_Update(&c, inner, sizeof(inner)) == 1 && SHA256_Final(out, &c) == 1;
	explicit_bzero(&c, sizeof(c));
	explicit_bzero(k, sizeof(k));
	explicit_bzero(pad, sizeof(pad));
	explicit_bzero(inner, sizeof(inner));
	return ok ? 0 : -EIO;
}

void crypto_hex(const uint8_t *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * len] = '\0';
}

int crypto_sha256_hex(const void *data, size_t len, char out[CRYPTO_SHA256_HEX])
{
	uint8_t md[CRYPTO_SHA256_LEN];
	int r = crypto_sha256(data, len, md);

	if (r < 0)
		return r;
	crypto_hex(md, sizeof(md), out);
	return 0;
}

/* explicit_bzero, not OPENSSL_cleanse: both survive the optimiser, but libcrypto's stores 8 bytes
 * at a time at most, and every block libcurl and OpenSSL free passes here (3.5 % of a quiet cycle's
 * instructions, issue 19), where glibc's runs at memset's speed. */
void crypto_wipe(void *p, size_t len)
{
	explicit_bzero(p, len);
}

void crypto_wiping_free(void *p)
{
	if (p) {
		explicit_bzero(p, malloc_usable_size(p));
		free(p);
	}
}

void *crypto_wiping_realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (!p)
		return malloc(n);
	if (!n) {
		crypto_wiping_free(p);
		return NULL;
	}
	old = malloc_usable_size(p);
	if (n <= old)
		return p;
	q = malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, old);
	crypto_wiping_free(p);
	return q;
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return crypto_wiping_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	crypto_wiping_free(p);
}

int crypto_wipe_on_free(void)
{
	static int done;

	if (!done)
		done = CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) ? 1 : -1;
	return done > 0 ? 0 : -EBUSY;
}

/* SPDX-License-Identifier: MIT */
/*
 * Digests and MACs for SigV4 on OpenSSL 3's EVP interface. The SHA-256 implementation is fetched
 * once and one digest context is reused: a one-shot EVP_Digest() or HMAC() fetches the algorithm
 * and allocates a context on every call, which was a tenth of a poll cycle's CPU. The daemon signs
 * on one thread only (curl's resolver threads never call in here).
 */
#include "crypto.h"

#include <errno.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <openssl/evp.h>
#include <string.h>

#define SHA256_BLOCK 64

static EVP_MD *sha256_md;
static EVP_MD_CTX *sha256_ctx;

static EVP_MD_CTX *digest_begin(void)
{
	if (!sha256_md && !(sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL)))
		return NULL;
	if (!sha256_ctx && !(sha256_ctx = EVP_MD_CTX_new()))
		return NULL;
	return EVP_DigestInit_ex2(sha256_ctx, sha256_md, NULL) == 1 ? sha256_ctx : NULL;
}

static int digest_end(EVP_MD_CTX *ctx, uint8_t out[CRYPTO_SHA256_LEN])
{
	unsigned int n = 0;

	return EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == CRYPTO_SHA256_LEN ? 0 : -EIO;
}

int crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
	EVP_MD_CTX *ctx = digest_begin();

	if (!ctx || EVP_DigestUpdate(ctx, data, len) != 1)
		return -EIO;
	return digest_end(ctx, out);
}

/* RFC 2104: H((K ^ opad) || H((K ^ ipad) || data)), K hashed first when longer than a block. */
int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		       uint8_t out[CRYPTO_SHA256_LEN])
{
	uint8_t k[SHA256_BLOCK] = { 0 }, pad[SHA256_BLOCK], inner[CRYPTO_SHA256_LEN];
	EVP_MD_CTX *ctx;
	int r = -EIO;

	if (key_len > SHA256_BLOCK) {
		if (crypto_sha256(key, key_len, k) < 0)
			return -EIO;
	} else if (key_len) {
		memcpy(k, key, key_len);
	}
	for (size_t i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	ctx = digest_begin();
	if (!ctx || EVP_DigestUpdate(ctx, pad, sizeof(pad)) != 1 ||
	    EVP_DigestUpdate(ctx, data, len) != 1 || digest_end(ctx, inner) < 0)
		goto out;
	for (size_t i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	ctx = digest_begin();
	if (!ctx || EVP_DigestUpdate(ctx, pad, sizeof(pad)) != 1 ||
	    EVP_DigestUpdate(ctx, inner, sizeof(inner)) != 1 || digest_end(ctx, out) < 0)
		goto out;
	r = 0;
out:
	/* The context's chaining state is now the MAC (a derived key, or a signature): reset it. */
	if (sha256_ctx)
		(void)EVP_DigestInit_ex2(sha256_ctx, sha256_md, NULL);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return r;
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

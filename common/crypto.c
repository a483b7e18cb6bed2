/* SPDX-License-Identifier: MIT */
/* Digests and MACs for SigV4, on OpenSSL 3's one-shot interfaces. */
#include "crypto.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

int crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != CRYPTO_SHA256_LEN)
		return -EIO;
	return 0;
}

int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		       uint8_t out[CRYPTO_SHA256_LEN])
{
	unsigned int n = 0;

	if (key_len > INT32_MAX)
		return -EINVAL;
	if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) || n != CRYPTO_SHA256_LEN)
		return -EIO;
	return 0;
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

void crypto_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}

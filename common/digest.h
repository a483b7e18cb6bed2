/* SPDX-License-Identifier: MIT */
/*
 * Image digests as ecr-deployd accepts them: "sha256:" followed by exactly 64
 * lowercase hex digits, nothing else. Every digest that enters from outside
 * (ECR and ECS replies, SQS events, the state file, the operator's 'retry'
 * key) is checked with digest_valid() where it enters; a value that fails is
 * never stored, sent or recorded as failed.
 */
#ifndef ECR_DIGEST_H
#define ECR_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of a valid digest, without the NUL. */
#define DIGEST_LEN 71

/* True when s (NUL-terminated; NULL is false) is a valid digest. */
bool digest_valid(const char *s);

/* True when the len bytes at s are a valid digest (s need not be NUL-terminated). */
bool digest_valid_n(const char *s, size_t len);

/* A digest held as its 32 bytes (what the state keeps of one, not 72 bytes of text). */
#define DIGEST_BYTES 32

/* d (valid: digest_valid()) as its bytes. */
void digest_pack(const char *d, uint8_t out[DIGEST_BYTES]);

/* The text of in, written in out (returned). */
char *digest_unpack(const uint8_t in[DIGEST_BYTES], char out[DIGEST_LEN + 1]);

/* Whether d (NULL: false) is the text of in, compared without writing that text out. */
bool digest_packed_is(const uint8_t in[DIGEST_BYTES], const char *d);

#endif

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

/* Length of a valid digest, without the NUL. */
#define DIGEST_LEN 71

/* True when s (NUL-terminated; NULL is false) is a valid digest. */
bool digest_valid(const char *s);

/* True when the len bytes at s are a valid digest (s need not be NUL-terminated). */
bool digest_valid_n(const char *s, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Durations as operators write them in the config: "30s", "15m", "1h30m",
 * "250ms", "2d". A duration is a sequence of <digits><unit> pairs with units
 * in strictly descending order (d, h, m, s, ms), each at most once, no sign,
 * no spaces, no bare number. Values are held in milliseconds.
 */
#ifndef ECR_DURATION_H
#define ECR_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_MS_PER_SEC  UINT64_C(1000)
#define DURATION_MS_PER_MIN  (60 * DURATION_MS_PER_SEC)
#define DURATION_MS_PER_HOUR (60 * DURATION_MS_PER_MIN)
#define DURATION_MS_PER_DAY  (24 * DURATION_MS_PER_HOUR)

/* Longest text duration_format() writes, NUL included. */
#define DURATION_FORMAT_MAX 48

/*
 * Parses text into milliseconds. Returns 0 and sets *ret_ms on success;
 * -EINVAL when text is not a duration and -ERANGE when it does not fit in
 * 64 bits of milliseconds. On failure *reason (if not NULL) points to a
 * static sentence saying what is wrong; the caller adds place and value.
 */
int duration_parse(const char *text, uint64_t *ret_ms, const char **reason);

/*
 * Writes ms in the shortest form duration_parse() reads back to the same
 * value ("1h30m", "2s500ms", "0s") into buf of size n. Returns the length
 * written, or -ENOBUFS when n is too small (buf then holds "").
 */
int duration_format(uint64_t ms, char *buf, size_t n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The terminal views of ecr-deployctl: the status page and the history table, from the result
 * objects of the daemon's replies (docs/control.md). Every value from the daemon is escaped
 * (common/escape.h) before it is printed; colour is used only when asked (a TTY without
 * NO_COLOR, decided by the caller).
 */
#ifndef ECR_CTL_RENDER_H
#define ECR_CTL_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cJSON.h>

/* Helpers for reading a result: NULL / false when the member is missing or of another type. */
const char *ctl_json_str(const cJSON *obj, const char *key);
bool ctl_json_num(const cJSON *obj, const char *key, double *ret);
const cJSON *ctl_json_obj(const cJSON *obj, const char *key);
const cJSON *ctl_json_array(const cJSON *obj, const char *key);

/* s escaped (quotes and backslashes too when quote), cut at max bytes: a malloc'd string, or NULL
 * without memory. NULL s gives "-". */
char *ctl_escape(const char *s, size_t max);

/* "sha256:" + the first 12 hex digits of a valid digest; anything else escaped and cut. */
void ctl_short_digest(const char *digest, char *buf, size_t n);

/* "web:7" from a task definition ARN (the part after "task-definition/"), escaped. */
void ctl_task_def(const char *arn, char *buf, size_t n);

/* Prints the status result. Returns 0, or -ENOMEM. */
int ctl_render_status(FILE *out, const cJSON *result, double now, bool color);

/* Prints the history result. Returns 0, or -ENOMEM. */
int ctl_render_history(FILE *out, const cJSON *result, double now, bool color);

#endif

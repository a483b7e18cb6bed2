/* SPDX-License-Identifier: MIT */
/*
 * The shapes of AWS names that enter from the configuration and from outside (events, replies):
 * ECR repository names, image tags and ECS names. Pure checks of NUL-terminated strings.
 */
#ifndef ECR_NAMES_H
#define ECR_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* The longest repository name, tag and ECS name, without the NUL. */
#define NAME_REPOSITORY_MAX 256
#define NAME_TAG_MAX        128
#define NAME_ECS_MAX        255

/* True when every character of s is alphanumeric or in extra, and its length in [lo, hi]. */
bool name_all(const char *s, size_t lo, size_t hi, const char *extra);

/* ECR: components of [a-z0-9]+ joined by '.', '_', '__' or runs of '-', separated by '/'; 2-256
 * characters. */
bool name_valid_repository(const char *s);

/* A Docker tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool name_valid_tag(const char *s);

/* An ECS cluster, service or container name: [A-Za-z0-9_-]{1,255}. */
bool name_valid_ecs(const char *s);

#endif

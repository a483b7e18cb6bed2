/* SPDX-License-Identifier: MIT */
/*
 * Task definitions, as data: the RegisterTaskDefinition request that pins
 * a digest, made from what DescribeTaskDefinition returned. Everything is
 * copied through, including fields this code has never heard of (AWS adds
 * some every few months); only the read-only fields are dropped, and the
 * empty strings and empty lists that RegisterTaskDefinition refuses.
 * No I/O: unit-tested on its own.
 */
#ifndef ECR_TASKDEF_H
#define ECR_TASKDEF_H

#include <cJSON.h>
#include <stddef.h>

/* Tags ecr-deployd adds to each revision it registers. */
#define TAG_DIGEST   "ecr-deployd:digest"
#define TAG_TAG      "ecr-deployd:tag"
#define TAG_PREVIOUS "ecr-deployd:previous"

/*
 * From a DescribeTaskDefinition reply (with include TAGS), the parameters
 * of a RegisterTaskDefinition that replaces the image of each named
 * container by image (repository@sha256:...) and tags the revision with
 * digest, tag and the ARN it was made from. Returns 0 and *ret, or -EINVAL
 * with why filled (a container is missing, too many tags...), -ENOMEM.
 */
int taskdef_pin(const cJSON *described, const char *const *containers, size_t n_containers,
		const char *image, const char *digest, const char *tag, cJSON **ret, char *why,
		size_t why_len);

/* The image of container name in a task definition object, or NULL. */
const char *taskdef_image(const cJSON *taskdef, const char *name);

/* The "sha256:..." an image reference is pinned to, or NULL when it names a tag or what follows
 * '@' is not a valid digest (digest_valid()). */
const char *image_pinned_digest(const char *image);

/* The value of tag key in a [{"key","value"}] list, or NULL. */
const char *taskdef_tag(const cJSON *tags, const char *key);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Semantic versions (semver.org 2.0.0) as image tags carry them, and the
 * constraints watch rules use to pick a tag: "^1.4", "~2.0", ">=1.2.0 <2.0.0",
 * "1.x", "*", "=1.2.3", alternatives joined by "||". A leading 'v' on a tag
 * or in a constraint is accepted ("v1.2.3").
 *
 * Pre-releases ("1.3.0-rc.1") satisfy a constraint only when the caller
 * allows them, and then as semver orders them (1.3.0-rc.1 < 1.3.0).
 */
#ifndef ECR_SEMVER_H
#define ECR_SEMVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct semver {
	uint64_t major, minor, patch;
	char pre[128]; /* the pre-release, without '-'; "" for a release */
};

/* Parses "1.2.3", "v1.2.3", "1.2.3-rc.1", "1.2.3+build" (build metadata ignored). Returns 0 or
 * -EINVAL. */
int semver_parse(const char *text, struct semver *ret);

/* <0, 0, >0 by semver precedence. */
int semver_compare(const struct semver *a, const struct semver *b);

struct semver_range; /* opaque: a parsed constraint */

/*
 * Parses a constraint. Returns 0 and *ret (free with semver_range_free), or
 * -EINVAL with *why (static text) naming what is wrong; -ENOMEM.
 */
int semver_range_parse(const char *text, struct semver_range **ret, const char **why);
void semver_range_free(struct semver_range *r);

/* Whether v satisfies r; pre-releases only when allow_prerelease. */
bool semver_range_match(const struct semver_range *r, const struct semver *v,
			bool allow_prerelease);

/*
 * False when no version at all (pre-releases included) can satisfy r: every
 * alternative has a lower bound above its upper bound (">=2.0.0 <1.0.0"), or
 * equal bounds of which one excludes the version (">1.0.0 <=1.0.0"). True
 * otherwise; a range true here may still match no release.
 */
bool semver_range_can_match(const struct semver_range *r);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The AWS shared config and credentials files (INI): ~/.aws/config with
 * [default] and [profile NAME] sections, ~/.aws/credentials with [NAME]
 * sections, or the files named by AWS_CONFIG_FILE and
 * AWS_SHARED_CREDENTIALS_FILE. A key in the credentials file wins over the
 * same key in the config file. Indented sub-blocks ("services" style) and
 * [services ...] / [sso-session ...] sections are skipped.
 */
#ifndef ECR_PROFILE_H
#define ECR_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

struct aws_profile {
	char *name;
	bool found; /* some section of either file names it */
	char *region;
	char *role_arn;
	char *source_profile;
	char *credential_source;
	char *web_identity_token_file;
	char *role_session_name;
	char *access_key_id;
	char *secret_access_key; /* in the secret arena (secmem.h) */
	char *session_token;     /* in the secret arena */
	char *endpoint_url;
	char *duration_seconds;
};

/* The profile to use: explicit (non-NULL, non-empty), else AWS_PROFILE, else AWS_DEFAULT_PROFILE,
 * else "default". */
const char *profile_name(const char *explicit_name);

/*
 * Reads profile `name` from both files into ret (zeroed first). A missing
 * file is not an error. Returns 0; -EIO (with why filled: file and line)
 * when a file cannot be read or a line does not parse; -EFBIG over 1 MiB;
 * -ENOMEM.
 */
int profile_load(const char *name, struct aws_profile *ret, char *why, size_t why_len);

/*
 * The region to use: configured (the daemon's config) if set, else
 * AWS_REGION, else AWS_DEFAULT_REGION, else the profile's region. Writes it
 * to out and names where it came from in *ret_source ("config",
 * "AWS_REGION", "AWS_DEFAULT_REGION", "profile"). Returns 0; -ENOENT when
 * none is set anywhere; a profile_load() error (why filled).
 */
int profile_region(const char *configured, const char *profile, char *out, size_t n,
		   const char **ret_source, char *why, size_t why_len);

/*
 * Parses the text of one file (path: named in messages; config: the config
 * file's "[profile NAME]" sections, else the credentials file's "[NAME]"):
 * the values of section `name` overwrite ret's fields (ret must be zeroed
 * or filled by an earlier call), and ret->found is set when the section
 * exists. text is NUL-terminated outside bytes and is modified in place
 * (lines are cut); wiping it is the caller's. Secret values go into the
 * secret arena. Returns 0; -EIO with why ("path:line: ...") for a line
 * that does not parse; -ENOMEM.
 */
int profile_parse_text(char *text, const char *path, bool config, const char *name,
		       struct aws_profile *ret, char *why, size_t why_len);

/* Frees the strings of p (wiping the secret ones). NULL is a no-op. */
void profile_done(struct aws_profile *p);

#endif

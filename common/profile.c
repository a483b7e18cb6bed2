/* SPDX-License-Identifier: MIT */
/*
 * INI reading for the AWS shared files. A file is read into a wiping
 * buffer; secret values (aws_secret_access_key, aws_session_token) go
 * straight into the secret arena, and the text is wiped once parsed.
 */
#include "profile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "regfile.h"
#include "secmem.h"
#include "strbuf.h"

#define PROFILE_FILE_MAX (1024 * 1024)

const char *profile_name(const char *explicit_name)
{
	const char *v;

	if (explicit_name && *explicit_name)
		return explicit_name;
	v = getenv("AWS_PROFILE");
	if (v && *v)
		return v;
	v = getenv("AWS_DEFAULT_PROFILE");
	return v && *v ? v : "default";
}

void profile_done(struct aws_profile *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->region);
	free(p->role_arn);
	free(p->source_profile);
	free(p->credential_source);
	free(p->web_identity_token_file);
	free(p->role_session_name);
	free(p->access_key_id);
	secmem_free(p->secret_access_key);
	secmem_free(p->session_token);
	free(p->endpoint_url);
	free(p->duration_seconds);
	memset(p, 0, sizeof(*p));
}

/* The slot of key in p, NULL when we do not read it; *secret says whether it holds a secret. */
static char **field(struct aws_profile *p, const char *key, bool *secret)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "region", offsetof(struct aws_profile, region) },
		{ "role_arn", offsetof(struct aws_profile, role_arn) },
		{ "source_profile", offsetof(struct aws_profile, source_profile) },
		{ "credential_source", offsetof(struct aws_profile, credential_source) },
		{ "web_identity_token_file",
		  offsetof(struct aws_profile, web_identity_token_file) },
		{ "role_session_name", offsetof(struct aws_profile, role_session_name) },
		{ "aws_access_key_id", offsetof(struct aws_profile, access_key_id) },
		{ "aws_secret_access_key", offsetof(struct aws_profile, secret_access_key) },
		{ "aws_session_token", offsetof(struct aws_profile, session_token) },
		{ "aws_security_token", offsetof(struct aws_profile, session_token) },
		{ "endpoint_url", offsetof(struct aws_profile, endpoint_url) },
		{ "duration_seconds", offsetof(struct aws_profile, duration_seconds) },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(keys[i].key, key)) {
			*secret = keys[i].off == offsetof(struct aws_profile, secret_access_key) ||
				  keys[i].off == offsetof(struct aws_profile, session_token);
			return (char **)((char *)p + keys[i].off);
		}
	return NULL;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int read_file(const char *path, struct strbuf *out, char *why, size_t why_len)
{
	char buf[8192];
	ssize_t n;
	mode_t mode = 0;
	int fd = regfile_open(path, &mode);

	if (fd == -ENOENT)
		return 1;
	if (fd == -EINVAL) {
		snprintf(why, why_len, "cannot read '%s': it is %s, not a regular file", path,
			 regfile_kind(mode));
		return -EIO;
	}
	if (fd < 0) {
		snprintf(why, why_len, "cannot read '%s': %s", path, strerror(-fd));
		return -EIO;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		int r = strbuf_append(out, buf, (size_t)n);
		if (r < 0) {
			close(fd);
			crypto_wipe(buf, sizeof(buf));
			snprintf(why, why_len, "'%s' is larger than %d bytes", path,
				 PROFILE_FILE_MAX);
			return r == -ENOBUFS ? -EFBIG : r;
		}
	}
	close(fd);
	crypto_wipe(buf, sizeof(buf));
	if (n < 0) {
		snprintf(why, why_len, "cannot read '%s': %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

int profile_parse_text(char *text, const char *path, bool config, const char *name,
		       struct aws_profile *ret, char *why, size_t why_len)
{
	char *p, *line;
	bool in_wanted = false;
	int lineno = 0;

	for (p = text; p && *p; p = line) {
		char *nl = strchr(p, '\n'), *s;

		line = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		if (*p == ' ' || *p == '\t')
			continue; /* a sub-block line of a nested key */
		s = trim(p);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']'), *sec;
			if (!end) {
				snprintf(why, why_len, "%s:%d: a section header without ']'", path,
					 lineno);
				return -EIO;
			}
			*end = '\0';
			sec = trim(s + 1);
			if (config && strcmp(sec, "default") != 0) {
				if (strncmp(sec, "profile", 7) ||
				    (sec[7] != ' ' && sec[7] != '\t')) {
					in_wanted = false;
					continue;
				}
				sec = trim(sec + 8);
			}
			in_wanted = !strcmp(sec, name);
			if (in_wanted)
				ret->found = true;
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(why, why_len, "%s:%d: expected 'key = value'", path, lineno);
			return -EIO;
		}
		if (!in_wanted)
			continue;
		*eq = '\0';
		bool secret = false;
		char **slot = field(ret, trim(s), &secret);
		char *value = trim(eq + 1);
		if (!slot || !*value)
			continue;
		char *copy = secret ? secmem_strdup(value) : strdup(value);
		if (!copy)
			return -ENOMEM;
		if (secret)
			secmem_free(*slot);
		else
			free(*slot);
		*slot = copy;
	}
	return 0;
}

/* Parses one file; values of the wanted section overwrite ret's fields. */
static int parse(const char *path, bool config, const char *name, struct aws_profile *ret,
		 char *why, size_t why_len)
{
	struct strbuf text;
	int r;

	strbuf_init_secret(&text, PROFILE_FILE_MAX);
	r = read_file(path, &text, why, why_len);
	if (r == 0 && text.buf)
		r = profile_parse_text(text.buf, path, config, name, ret, why, why_len);
	strbuf_done(&text);
	return r > 0 ? 0 : r;
}

static int default_path(const char *env, const char *file, char *out, size_t n)
{
	const char *v = getenv(env), *home;

	if (v && *v) {
		snprintf(out, n, "%s", v);
		return 0;
	}
	home = getenv("HOME");
	if (!home || !*home)
		return -ENOENT;
	snprintf(out, n, "%s/.aws/%s", home, file);
	return 0;
}

int profile_load(const char *name, struct aws_profile *ret, char *why, size_t why_len)
{
	char path[4096];
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->name = strdup(name);
	if (!ret->name)
		return -ENOMEM;
	if (default_path("AWS_CONFIG_FILE", "config", path, sizeof(path)) == 0 &&
	    (r = parse(path, true, name, ret, why, why_len)) < 0)
		return r;
	if (default_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", path, sizeof(path)) == 0 &&
	    (r = parse(path, false, name, ret, why, why_len)) < 0)
		return r;
	return 0;
}

int profile_region(const char *configured, const char *profile, char *out, size_t n,
		   const char **ret_source, char *why, size_t why_len)
{
	static const char *const vars[] = { "AWS_REGION", "AWS_DEFAULT_REGION" };
	struct aws_profile p;
	int r;

	if (configured && *configured) {
		snprintf(out, n, "%s", configured);
		*ret_source = "config";
		return 0;
	}
	for (size_t i = 0; i < 2; i++) {
		const char *v = getenv(vars[i]);
		if (v && *v) {
			snprintf(out, n, "%s", v);
			*ret_source = vars[i];
			return 0;
		}
	}
	r = profile_load(profile_name(profile), &p, why, why_len);
	if (r == 0 && p.region) {
		snprintf(out, n, "%s", p.region);
		*ret_source = "profile";
	} else if (r == 0) {
		snprintf(why, why_len,
			 "no region: set it in the configuration, AWS_REGION, "
			 "AWS_DEFAULT_REGION or profile '%s'",
			 profile_name(profile));
		r = -ENOENT;
	}
	profile_done(&p);
	return r;
}

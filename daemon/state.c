/* SPDX-License-Identifier: MIT */
/* The versioned state file and its atomic writes. */
#include "state.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"

#define STATE_MAX (64 * 1024 * 1024)

struct state {
	char *dir;
	char *path;
	cJSON *root; /* {"version":1, "written_at":…, "watches": {name: {"tags": {tag: {...}}}}} */
	bool dirty;
};

static cJSON *fresh_root(void)
{
	cJSON *r = cJSON_CreateObject();

	if (!r)
		return NULL;
	cJSON_AddNumberToObject(r, "version", STATE_VERSION);
	if (!cJSON_AddObjectToObject(r, "watches")) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

static int mkdir_p(const char *dir)
{
	char tmp[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, dir, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int read_all(const char *path, struct strbuf *out)
{
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (strbuf_append(out, buf, (size_t)n) < 0) {
			close(fd);
			return -EFBIG;
		}
	close(fd);
	return n < 0 ? -errno : 0;
}

/* Checks the shape; returns NULL when fine, else what is wrong. */
static const char *check_shape(const cJSON *root)
{
	const cJSON *v = cJSON_GetObjectItem(root, "version"), *w, *x;

	if (!cJSON_IsObject(root))
		return "it is not a JSON object";
	if (!cJSON_IsNumber(v))
		return "it has no version";
	if (v->valuedouble > STATE_VERSION)
		return "it was written by a newer ecr-deployd (version above 1)";
	if (v->valuedouble != STATE_VERSION)
		return "its version is not 1";
	w = cJSON_GetObjectItem(root, "watches");
	if (!cJSON_IsObject(w))
		return "'watches' is not an object";
	cJSON_ArrayForEach(x, w)
	{
		const cJSON *tags = cJSON_GetObjectItem(x, "tags"), *t;
		if (!cJSON_IsObject(x) || (tags && !cJSON_IsObject(tags)))
			return "a watch entry is not an object";
		cJSON_ArrayForEach(t, tags)
		{
			const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(t, "digest"));
			if (!d || strncmp(d, "sha256:", 7) || strlen(d) != 71)
				return "a tag entry has no valid digest";
		}
		const cJSON *targets = cJSON_GetObjectItem(x, "targets");
		if (targets && !cJSON_IsObject(targets))
			return "a watch's 'targets' is not an object";
		cJSON_ArrayForEach(t, targets)
		{
			const cJSON *r = cJSON_GetObjectItem(t, "rollout");
			if (!cJSON_IsObject(t))
				return "a target entry is not an object";
			if (r && (!cJSON_IsObject(r) ||
				  !cJSON_IsString(cJSON_GetObjectItem(r, "step")) ||
				  !cJSON_IsString(cJSON_GetObjectItem(r, "digest")) ||
				  !cJSON_IsString(cJSON_GetObjectItem(r, "cluster")) ||
				  !cJSON_IsString(cJSON_GetObjectItem(r, "service"))))
				return "a rollout entry lacks its step, digest, cluster or service";
			if (cJSON_GetObjectItem(t, "failed") &&
			    !cJSON_IsArray(cJSON_GetObjectItem(t, "failed")))
				return "a target's 'failed' is not a list";
		}
	}
	return NULL;
}

int state_open(const char *dir, struct state **ret, char **ret_warning, char *why, size_t why_len)
{
	struct state *s = calloc(1, sizeof(*s));
	struct strbuf text;
	const char *problem = NULL;
	char reason[256] = "";
	int r;

	if (ret_warning)
		*ret_warning = NULL;
	if (!s)
		return -ENOMEM;
	s->dir = strdup(dir);
	s->path = malloc(strlen(dir) + 16);
	if (!s->dir || !s->path) {
		state_free(s);
		return -ENOMEM;
	}
	snprintf(s->path, strlen(dir) + 16, "%s/state.json", dir);
	r = mkdir_p(dir);
	if (r < 0) {
		snprintf(why, why_len, "cannot create the state directory '%s': %s", dir,
			 strerror(-r));
		state_free(s);
		return r;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		r = -errno;
		snprintf(why, why_len, "cannot write in the state directory '%s': %s", dir,
			 strerror(errno));
		state_free(s);
		return r;
	}
	strbuf_init(&text, STATE_MAX);
	r = read_all(s->path, &text);
	if (r == -ENOENT) {
		s->root = fresh_root();
	} else if (r < 0) {
		snprintf(reason, sizeof(reason), "it cannot be read: %s", strerror(-r));
		problem = reason;
	} else {
		s->root = cJSON_ParseWithLength(text.buf ? text.buf : "", text.len);
		problem = s->root ? check_shape(s->root) : "it is not valid JSON";
		if (problem) {
			cJSON_Delete(s->root);
			s->root = NULL;
		}
	}
	strbuf_done(&text);
	if (problem) {
		/* Keep it aside for a human; start afresh. */
		char aside[4200], stamp[32];
		time_t now = time(NULL);
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(aside, sizeof(aside), "%s.bad-%s", s->path, stamp);
		if (rename(s->path, aside) < 0) {
			r = -errno;
			snprintf(
			    why, why_len,
			    "the state file '%s' is unusable (%s) and cannot be moved aside: %s",
			    s->path, problem, strerror(errno));
			state_free(s);
			return r;
		}
		if (ret_warning) {
			size_t n = strlen(aside) + strlen(s->path) + strlen(problem) + 200;
			*ret_warning = malloc(n);
			if (*ret_warning)
				snprintf(*ret_warning, n,
					 "the state file '%s' is unusable (%s); it was kept as "
					 "'%s' and ecr-deployd starts afresh, rebuilding what it "
					 "can from AWS",
					 s->path, problem, aside);
		}
		s->root = fresh_root();
		s->dirty = true;
	}
	if (!s->root) {
		state_free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

void state_free(struct state *s)
{
	if (!s)
		return;
	cJSON_Delete(s->root);
	free(s->dir);
	free(s->path);
	free(s);
}

static cJSON *tag_entry(const struct state *s, const char *watch, const char *tag)
{
	cJSON *w = cJSON_GetObjectItem(cJSON_GetObjectItem(s->root, "watches"), watch);

	return cJSON_GetObjectItem(cJSON_GetObjectItem(w, "tags"), tag);
}

const char *state_seen(const struct state *s, const char *watch, const char *tag)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(tag_entry(s, watch, tag), "digest"));
}

const char *state_seen_tag(const struct state *s, const char *watch)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(tag_entry(s, watch, "*"), "tag"));
}

int state_set_seen(struct state *s, const char *watch, const char *tag, const char *digest,
		   const char *pick_tag)
{
	cJSON *watches = cJSON_GetObjectItem(s->root, "watches");
	cJSON *w = cJSON_GetObjectItem(watches, watch), *tags, *e;
	const char *old = state_seen(s, watch, tag), *old_tag = state_seen_tag(s, watch);
	char when[32];
	time_t now = time(NULL);
	struct tm tm;

	if (old && !strcmp(old, digest) && (!pick_tag || (old_tag && !strcmp(old_tag, pick_tag))))
		return 0;
	if (!w && !(w = cJSON_AddObjectToObject(watches, watch)))
		return -ENOMEM;
	tags = cJSON_GetObjectItem(w, "tags");
	if (!tags && !(tags = cJSON_AddObjectToObject(w, "tags")))
		return -ENOMEM;
	e = cJSON_CreateObject();
	if (!e)
		return -ENOMEM;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(e, "digest", digest);
	if (pick_tag)
		cJSON_AddStringToObject(e, "tag", pick_tag);
	cJSON_AddStringToObject(e, "seen_at", when);
	if (cJSON_GetObjectItem(tags, tag))
		cJSON_ReplaceItemInObject(tags, tag, e);
	else
		cJSON_AddItemToObject(tags, tag, e);
	s->dirty = true;
	return 0;
}

static cJSON *watch_entry(struct state *s, const char *watch, bool create)
{
	cJSON *watches = cJSON_GetObjectItem(s->root, "watches");
	cJSON *w = cJSON_GetObjectItem(watches, watch);

	if (!w && create)
		w = cJSON_AddObjectToObject(watches, watch);
	return w;
}

const cJSON *state_want(const struct state *s, const char *watch)
{
	const cJSON *w = cJSON_GetObjectItem(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(s->root, "watches"), watch), "want");

	return cJSON_IsString(cJSON_GetObjectItem(w, "digest")) &&
		       cJSON_IsString(cJSON_GetObjectItem(w, "image"))
		   ? w
		   : NULL;
}

int state_set_want(struct state *s, const char *watch, const char *tag, const char *digest,
		   const char *image)
{
	const cJSON *old = state_want(s, watch);
	cJSON *w, *e;

	if (old && !strcmp(cJSON_GetObjectItem(old, "digest")->valuestring, digest) &&
	    !strcmp(cJSON_GetObjectItem(old, "image")->valuestring, image) &&
	    !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(old, "tag")) ?: "", tag ?: ""))
		return 0;
	w = watch_entry(s, watch, true);
	e = cJSON_CreateObject();
	if (!w || !e || !cJSON_AddStringToObject(e, "tag", tag ? tag : "") ||
	    !cJSON_AddStringToObject(e, "digest", digest) ||
	    !cJSON_AddStringToObject(e, "image", image)) {
		cJSON_Delete(e);
		return -ENOMEM;
	}
	if (cJSON_GetObjectItem(w, "want"))
		cJSON_ReplaceItemInObject(w, "want", e);
	else
		cJSON_AddItemToObject(w, "want", e);
	s->dirty = true;
	return 0;
}

cJSON *state_target(struct state *s, const char *watch, const char *tkey, bool create)
{
	cJSON *w = watch_entry(s, watch, create), *targets, *t;

	if (!w)
		return NULL;
	targets = cJSON_GetObjectItem(w, "targets");
	if (!targets && (!create || !(targets = cJSON_AddObjectToObject(w, "targets"))))
		return NULL;
	t = cJSON_GetObjectItem(targets, tkey);
	if (!t && create) {
		t = cJSON_AddObjectToObject(targets, tkey);
		if (t)
			s->dirty = true;
	}
	return t;
}

void state_each_rollout(struct state *s,
			void (*fn)(const char *watch, const char *tkey, cJSON *target, void *ud),
			void *ud)
{
	cJSON *w, *t;

	cJSON_ArrayForEach(w, cJSON_GetObjectItem(s->root, "watches"))
	{
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(w, "targets"))
		{
			if (cJSON_IsObject(cJSON_GetObjectItem(t, "rollout")))
				fn(w->string, t->string, t, ud);
		}
	}
}

void state_touch(struct state *s)
{
	s->dirty = true;
}

bool state_dirty(const struct state *s)
{
	return s->dirty;
}

const char *state_path(const struct state *s)
{
	return s->path;
}

int state_save(struct state *s, char *why, size_t why_len)
{
	char tmp[4200], when[32];
	time_t now = time(NULL);
	struct tm tm;
	char *text;
	size_t len, off = 0;
	int fd, dfd, r = 0;

	if (!s->dirty)
		return 0;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_DeleteItemFromObject(s->root, "written_at");
	cJSON_AddStringToObject(s->root, "written_at", when);
	text = cJSON_Print(s->root);
	if (!text) {
		snprintf(why, why_len, "out of memory while writing '%s'", s->path);
		return -ENOMEM;
	}
	len = strlen(text);
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", s->path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(why, why_len, "cannot create '%s': %s", tmp, strerror(errno));
		free(text);
		return r;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	free(text);
	if (r == 0 && rename(tmp, s->path) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(why, why_len, "cannot write '%s': %s", s->path, strerror(-r));
		unlink(tmp);
		return r;
	}
	/* The rename itself must reach the disk. */
	dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			r = -errno;
		close(dfd);
	}
	if (r < 0) {
		snprintf(why, why_len, "cannot sync the directory of '%s': %s", s->path,
			 strerror(-r));
		return r;
	}
	s->dirty = false;
	return 0;
}

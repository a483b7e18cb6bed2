/* SPDX-License-Identifier: MIT */
/*
 * A scratch state directory for the state and rollout fuzz targets: made once
 * under $TMPDIR (or /tmp), emptied after every input, removed at exit.
 */
#ifndef ECR_FUZZ_STATEDIR_H
#define ECR_FUZZ_STATEDIR_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir[256];

static void fuzz_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0)
			unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
	}
	if (d)
		closedir(d);
}

/* Empties the scratch directory (and its rollouts directory). */
static void fuzz_clean(void)
{
	char sub[300];

	snprintf(sub, sizeof(sub), "%s/rollouts", fuzz_dir);
	fuzz_empty(sub);
	fuzz_empty(fuzz_dir);
}

static void fuzz_remove(void)
{
	fuzz_clean();
	rmdir(fuzz_dir);
}

/* The scratch directory, made on the first call; NULL when it cannot be. */
static const char *fuzz_statedir(void)
{
	if (!fuzz_dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/ecr-fuzz-state-XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(fuzz_dir)) {
			fuzz_dir[0] = '\0';
			return NULL;
		}
		atexit(fuzz_remove);
	}
	return fuzz_dir;
}

/* Writes size bytes to path; 0 or -1. */
static int fuzz_put(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < size) {
		ssize_t w = write(fd, data + off, size - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);
	return off == size ? 0 : -1;
}

#endif

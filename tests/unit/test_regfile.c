/* SPDX-License-Identifier: MIT */
/* common/regfile: regular files open, everything else is refused at once with its kind. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "regfile.h"

TEST(regfile_open_kinds)
{
	char dir[] = "/tmp/regfile-XXXXXX", path[256];
	mode_t mode = 0;
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/plain", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	fd = regfile_open(path, &mode);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);

	snprintf(path, sizeof(path), "%s/fifo", dir);
	CHECK_INT(mkfifo(path, 0600), 0);
	alarm(10); /* a blocking open fails the test instead of hanging it */
	CHECK_INT(regfile_open(path, &mode), -EINVAL);
	CHECK(!strcmp(regfile_kind(mode), "a FIFO"));
	unlink(path);

	CHECK_INT(regfile_open(dir, &mode), -EINVAL);
	CHECK(!strcmp(regfile_kind(mode), "a directory"));
	CHECK_INT(regfile_open("/dev/null", &mode), -EINVAL);
	CHECK(!strcmp(regfile_kind(mode), "a character device"));
	alarm(0);

	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK_INT(regfile_open(path, NULL), -ENOENT);
	snprintf(path, sizeof(path), "%s/plain", dir);
	unlink(path);
	rmdir(dir);
}

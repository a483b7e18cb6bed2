/* SPDX-License-Identifier: MIT */
/* Non-blocking opens of regular files only; see regfile.h. */
#include "regfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

const char *regfile_kind(mode_t m)
{
	return S_ISDIR(m)    ? "a directory"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISSOCK(m) ? "a socket"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
			     : "a special file";
}

int regfile_open(const char *path, mode_t *ret_mode)
{
	struct stat st;
	int fd;

	/* stat() first: opening a device can have effects of its own. */
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		if (ret_mode)
			*ret_mode = st.st_mode;
		return -EINVAL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* It may have been replaced between stat() and open(). */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (ret_mode)
			*ret_mode = st.st_mode;
		close(fd);
		return -EINVAL;
	}
	return fd;
}

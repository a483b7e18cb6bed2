/* SPDX-License-Identifier: MIT */
/*
 * Opening a file an operator named (configuration, AWS config and
 * credentials files, token files, the state file) without ever blocking:
 * only a regular file is opened, and it is opened non-blocking, so that a
 * FIFO, a device or a socket put in its place is refused with its kind named
 * instead of stalling the event loop.
 */
#ifndef ECR_REGFILE_H
#define ECR_REGFILE_H

#include <sys/types.h>

/*
 * Opens path for reading (O_CLOEXEC, O_NONBLOCK, O_NOCTTY) when it is a
 * regular file, checked before the open and again on the open descriptor.
 * Returns the descriptor; -errno when it cannot be opened (-ENOENT when it
 * does not exist); -EINVAL when it is not a regular file, with *ret_mode
 * (if not NULL) set to its mode for regfile_kind().
 */
int regfile_open(const char *path, mode_t *ret_mode);

/* "a directory", "a FIFO", "a socket", "a character device", "a block device", "a special file". */
const char *regfile_kind(mode_t mode);

#endif

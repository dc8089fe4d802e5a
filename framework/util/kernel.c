/* SPDX-License-Identifier: MIT */
/*
 * Kernel features that a machine may lack at run time although mproc was
 * built for them.  memfd_create (Linux 3.17) can be missing on an old
 * kernel or refused by a seccomp filter (some container profiles): then
 * an unnamed file on the tmpfs at /dev/shm does the same job, shared by
 * descriptor and mapped.  pidfds and clone3 have their fallbacks where
 * they are used (process.c, children.c, server.c).
 */
#include "internal.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

int
mproc__memfd(const char *name)
{
    int fd = memfd_create(name, MFD_CLOEXEC);

    if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
        return fd;
    /* O_TMPFILE: no name ever exists, so nothing can be left behind. */
    fd = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        errno = ENOSYS; /* the reason the caller gives: memfd is missing */
    return fd;
}

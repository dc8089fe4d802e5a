/* SPDX-License-Identifier: MIT */
/*
 * Reading a job file whole, before inih sees a byte of it (parse.c
 * says why it reads the file itself).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_int.h"

/*
 * Read a whole file into a NUL-terminated buffer.  A job file is a
 * regular file: a FIFO with no writer would block the open (and one with
 * a writer the read) for ever, a device or a folder makes no sense.  So
 * open without blocking, look, then read.
 */
int
mproc__config_read_file(const char *path, char **data, size_t *len,
                        mproc_err_t *err)
{
    char *buf = NULL, *nb;
    size_t cap = 0, n = 0;
    struct stat st;
    ssize_t got;
    int r, fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return mproc__err(err, MPROC_EINPUT, "%s: cannot open: %s", path,
                          strerror(errno));
    if (fstat(fd, &st) != 0) {
        r = mproc__err(err, MPROC_EINPUT, "%s: cannot open: %s", path,
                       strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        r = mproc__err(err, MPROC_EINPUT,
                       "%s: not a regular file (%s); a job file must be one",
                       path,
                       S_ISFIFO(st.st_mode)  ? "a FIFO"
                       : S_ISDIR(st.st_mode) ? "a folder"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "a device");
        goto fail;
    }
    for (;;) {
        if (n > MPROC__CONFIG_FILE_MAX) {
            r = mproc__err(err, MPROC_EINPUT,
                           "%s: cannot read: larger than %zu MiB; not a "
                           "job file",
                           path, MPROC__CONFIG_FILE_MAX >> 20);
            goto fail;
        }
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            if ((nb = realloc(buf, cap)) == NULL) {
                r = mproc__err(err, MPROC_ENOMEM, "out of memory");
                goto fail;
            }
            buf = nb;
        }
        got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            r = mproc__err(err, MPROC_EINPUT, "%s: cannot read: %s", path,
                           strerror(errno));
            goto fail;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;

fail:
    free(buf);
    close(fd);
    return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * Files the host opens by name: the job log, the output.  A name may be
 * a FIFO, a terminal or a device as well as a regular file, and the
 * default blocking open() of a FIFO waits for its peer for ever, before
 * any signal handling can say why.  So every open here is non-blocking,
 * CLOEXEC (no worker or exec'd command inherits the host's files), and
 * looks at what it opened before using it.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

/* Back to blocking I/O, which stdio expects, once the open is done. */
static int
set_blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

int
cli_open_read(const char *path, const char *what, bool missing_ok, int *fd)
{
    struct stat st;
    int e;

    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (*fd < 0) {
        e = errno;
        if (e == ENOENT && missing_ok)
            return 0;
        cli_error("%s %s: cannot open: %s", what, path, strerror(e));
        errno = e;
        return CLI_EXIT_NOINPUT;
    }
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode) || set_blocking(*fd)) {
        e = errno;
        close(*fd);
        *fd = -1;
        if (!S_ISREG(st.st_mode))
            cli_error("%s %s: not a regular file", what, path);
        else
            cli_error("%s %s: %s", what, path, strerror(e));
        return CLI_EXIT_NOINPUT;
    }
    return 0;
}

int
cli_open_write(const char *path, const char *what, bool append, FILE **out)
{
    int fd, e;

    *out = NULL;
    fd = open(path,
              O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC) | O_CLOEXEC |
                  O_NONBLOCK | O_NOCTTY,
              0666);
    if (fd < 0 && errno == ENXIO) {
        /* open(2): a FIFO opened to write without blocking, and no
         * process has it open to read. */
        cli_error("%s %s: a FIFO with no reader; start the reader first",
                  what, path);
        return CLI_EXIT_CANTCREAT;
    }
    if (fd < 0) {
        cli_error("%s %s: cannot create: %s", what, path, strerror(errno));
        return CLI_EXIT_CANTCREAT;
    }
    if (set_blocking(fd) != 0 ||
        (*out = fdopen(fd, append ? "a" : "w")) == NULL) {
        e = errno;
        close(fd);
        cli_error("%s %s: cannot create: %s", what, path, strerror(e));
        return CLI_EXIT_CANTCREAT;
    }
    return 0;
}

int
cli_check_plugin_file(const char *path)
{
    struct stat st;

    /* dlopen() would open a FIFO and wait for a writer for ever; a
     * missing file is the loader's to report. */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        cli_error("plugin %s: not a regular file", path);
        return CLI_EXIT_CONFIG;
    }
    return 0;
}

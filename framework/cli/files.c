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
#include <stdlib.h>
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
cli_check_plugin_file(const char *path, const char *where)
{
    struct stat st;

    /* dlopen() would open a FIFO and wait for a writer for ever; a
     * missing file is the loader's to report. */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        cli_error("%s%splugin %s: not a regular file", where ? where : "",
                  where ? ": " : "", path);
        return CLI_EXIT_CONFIG;
    }
    return 0;
}

/* ---- the files a run writes must not be those it reads ---- */

struct named_file {
    const char *path, *what;
    bool writes, option; /* option: given on the command line (64) */
};

/* A path not there yet, as its folder's real path and its name (so that
 * ./x, x and /cwd/x are one); NULL when its folder cannot be resolved
 * either (then compared as written). */
static char *
future_path(const char *path)
{
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    char *dir, *real, *out = NULL;

    if (slash == path)
        dir = strdup("/");
    else if (slash != NULL)
        dir = strndup(path, (size_t)(slash - path));
    else
        dir = strdup(".");
    real = dir != NULL ? realpath(dir, NULL) : NULL;
    if (real != NULL && asprintf(&out, "%s/%s", real, name) < 0)
        out = NULL;
    free(real);
    free(dir);
    return out;
}

bool
cli_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    bool ha = stat(a, &sa) == 0, hb = stat(b, &sb) == 0, same;
    char *fa, *fb;

    if (ha && hb)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino &&
               S_ISREG(sa.st_mode);
    if (ha || hb)
        return false;
    fa = future_path(a);
    fb = future_path(b);
    same = fa != NULL && fb != NULL ? strcmp(fa, fb) == 0 : strcmp(a, b) == 0;
    free(fa);
    free(fb);
    return same;
}

int
cli_paths_clash(const char *job, const char *input, const char *output,
                const char *joblog, const char *quarantine,
                const char *slowlog)
{
    const struct named_file f[] = {
        {joblog, "the job log (--joblog)", true, true},
        {quarantine, "the quarantine file (--quarantine)", true, true},
        {slowlog, "the slow log (--slowlog)", true, true},
        {output, "the output", true, false},
        {job, "the job file", false, false},
        {input, "the input", false, false},
    };
    size_t i, j, n = sizeof(f) / sizeof(f[0]);

    for (i = 0; i < n; i++) {
        if (f[i].path == NULL || !f[i].writes)
            continue;
        for (j = i + 1; j < n; j++) {
            if (f[j].path == NULL || !cli_same_file(f[i].path, f[j].path))
                continue;
            cli_error("%s %s is also %s: writing it would %s; give "
                      "another file",
                      f[i].what, f[i].path, f[j].what,
                      f[j].writes ? "mix the two in one file"
                                  : "destroy it before it is read");
            return f[i].option ? CLI_EXIT_USAGE : CLI_EXIT_CONFIG;
        }
    }
    return 0;
}

int
cli_output_writable(const char *path, const char *what)
{
    struct stat sb;
    char *dir, *slash;
    int fd, r = 0;

    if (path == NULL)
        return 0;
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            cli_error("%s %s: a folder, not a file", what, path);
            return CLI_EXIT_CANTCREAT;
        }
        if (!S_ISREG(sb.st_mode))
            return 0; /* a FIFO, a terminal: the run sees to it */
        /* Opened as the run will, without emptying it. */
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            cli_error("%s %s: cannot write it: %s", what, path,
                      strerror(errno));
            return CLI_EXIT_CANTCREAT;
        }
        close(fd);
        return 0;
    }
    if ((dir = strdup(path)) == NULL)
        return 0;
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    if (access(slash != NULL ? dir : ".", W_OK | X_OK) != 0) {
        cli_error("%s %s: cannot be created in %s: %s", what, path,
                  slash != NULL ? dir : ".", strerror(errno));
        r = CLI_EXIT_CANTCREAT;
    }
    free(dir);
    return r;
}

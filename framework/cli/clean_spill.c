/* SPDX-License-Identifier: MIT */
/*
 * `mproc clean`, the temporary folders part: the folders a run makes in
 * $TMPDIR, mproc-spill.PID.XXXXXX (big exec outputs waiting for their
 * turn, cmd_run.c) and mproc-exec.PID.XXXXXX (mproc exec's FIFO and halt
 * mark, exec_lines.c), are removed by the run at its end; a run killed
 * with SIGKILL leaves them.  The PID in the name is the run's: a folder
 * whose run is dead is removed with what it holds, one of a live run
 * never (nor one whose PID a new process took since: left, to be safe).
 * Only the caller's own folders, real ones (not links), and only files
 * directly in them (the runs make no subfolders).  The same for the
 * folder holding the key of a job's [manager] start = yes,
 * mproc-mgrjob.PID.XXXXXX, made in $XDG_RUNTIME_DIR when it is set (so
 * looked for there too), else in $TMPDIR (manager/job.c).
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/exec.h"

static const char *const prefixes[] = {"mproc-spill.", CLI_XDIR_PREFIX,
                                       "mproc-mgrjob."};

/* The run's pid in a folder's name ("PREFIX" PID "." XXXXXX), or 0. */
static long
owner_of(const char *name)
{
    size_t i, n;
    char *end;
    long pid;

    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        n = strlen(prefixes[i]);
        if (strncmp(name, prefixes[i], n) != 0)
            continue;
        if (name[n] < '1' || name[n] > '9')
            return 0; /* an older name, without the pid: unknown */
        pid = strtol(name + n, &end, 10);
        return *end == '.' && strlen(end + 1) == 6 && pid > 0 ? pid : 0;
    }
    return 0;
}

/* Remove the folder `name` of `dir` and the files in it: 0, or -1. */
static int
remove_folder(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                   O_CLOEXEC);
    DIR *d;
    struct dirent *e;

    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    return unlinkat(dfd, name, AT_REMOVEDIR);
}

/* The dead runs' folders in `t`: how many, or -1 after saying why. */
static int
clean_in(const char *t, bool dry)
{
    DIR *d;
    struct dirent *e;
    struct stat st;
    long pid;
    int n = 0;

    if ((d = opendir(t)) == NULL) {
        cli_error("clean: %s: %s", t, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if ((pid = owner_of(e->d_name)) == 0 ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISDIR(st.st_mode) || st.st_uid != getuid())
            continue;
        /* EPERM: a live process of another user took the pid. */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        if (!dry && remove_folder(dirfd(d), e->d_name) < 0) {
            cli_error("clean: %s/%s: %s", t, e->d_name, strerror(errno));
            continue;
        }
        printf("%s %s/%s (run pid %ld, dead)\n",
               dry ? "would remove" : "removed", t, e->d_name, pid);
        n++;
    }
    closedir(d);
    return n;
}

int
cli_clean_spill(bool dry)
{
    const char *t = getenv("TMPDIR"), *x = getenv("XDG_RUNTIME_DIR");
    int n, m;

    if (t == NULL || t[0] == '\0')
        t = "/tmp";
    if ((n = clean_in(t, dry)) < 0)
        return -1;
    /* A manager's key folder (above), when the runtime folder is
     * another one and usable. */
    if (x != NULL && x[0] == '/' && strcmp(x, t) != 0 &&
        access(x, W_OK) == 0) {
        if ((m = clean_in(x, dry)) < 0)
            return -1;
        n += m;
    }
    return n;
}

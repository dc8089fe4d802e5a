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
 * directly in them (the runs make no subfolders).
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

static const char *const prefixes[] = {"mproc-spill.", CLI_XDIR_PREFIX};

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

int
cli_clean_spill(bool dry)
{
    const char *t = getenv("TMPDIR");
    DIR *d;
    struct dirent *e;
    struct stat st;
    long pid;
    int n = 0;

    if (t == NULL || t[0] == '\0')
        t = "/tmp";
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

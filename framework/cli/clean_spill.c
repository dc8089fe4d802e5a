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
 * directly in them: the runs make no subfolders, so a folder holding one
 * is not a run's, and is left (said as such, with --dry-run too).  The same for the
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

/* A folder in d, which no run makes (its folders hold files and FIFOs
 * only): true, with its name in what.  Then the folder is not mproc's,
 * even if named so, and is left with all it holds. */
static bool
holds_folder(DIR *d, char *what, size_t cap)
{
    struct dirent *e;
    struct stat st;
    bool found = false;

    while (!found && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        /* Not followed: a link to a folder is a file to unlink. */
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode)) {
            snprintf(what, cap, "%s", e->d_name);
            found = true;
        }
    }
    rewinddir(d);
    return found;
}

/* Remove the entries of d, the folder `name` of dfd, then the folder:
 * 0, or -1 with errno set and the entry that failed in what (empty: the
 * folder itself).  unlinkat() without AT_REMOVEDIR never goes into a
 * folder (one that appeared since holds_folder() fails, EISDIR) nor
 * through a link. */
static int
remove_folder(int dfd, const char *name, DIR *d, char *what, size_t cap)
{
    struct dirent *e;
    int first = 0;

    what[0] = '\0';
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) < 0 && first == 0) {
            first = errno;
            snprintf(what, cap, "/%s", e->d_name);
        }
    }
    if (first != 0) {
        errno = first;
        return -1;
    }
    return unlinkat(dfd, name, AT_REMOVEDIR);
}

/* The dead runs' folders in `t`: how many, or -1 after saying why.
 * *failed is set when one could not be removed (said). */
static int
clean_in(const char *t, bool dry, bool *failed)
{
    DIR *d, *sub;
    struct dirent *e;
    struct stat st;
    char what[NAME_MAX + 2];
    long pid;
    int n = 0, fd, r;

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
        /* Looked into the same way with --dry-run, so that it lists
         * what a removal would do, not more. */
        fd = openat(dirfd(d), e->d_name,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || (sub = fdopendir(fd)) == NULL) {
            cli_error("clean: %s/%s: %s", t, e->d_name, strerror(errno));
            if (fd >= 0)
                close(fd);
            *failed = true;
            continue;
        }
        if (holds_folder(sub, what, sizeof(what))) {
            printf("%s %s/%s (run pid %ld, dead): not made by mproc (it "
                   "holds a folder, %s)\n",
                   dry ? "would not remove" : "left", t, e->d_name, pid,
                   what);
            closedir(sub);
            continue;
        }
        r = dry ? 0 : remove_folder(dirfd(d), e->d_name, sub, what,
                                    sizeof(what));
        if (r < 0) {
            cli_error("clean: %s/%s%s: %s", t, e->d_name, what,
                      strerror(errno));
            *failed = true;
        }
        closedir(sub);
        if (r < 0)
            continue;
        printf("%s %s/%s (run pid %ld, dead)\n",
               dry ? "would remove" : "removed", t, e->d_name, pid);
        n++;
    }
    closedir(d);
    return n;
}

int
cli_clean_spill(bool dry, bool *failed)
{
    const char *t = getenv("TMPDIR"), *x = getenv("XDG_RUNTIME_DIR");
    int n, m;

    if (t == NULL || t[0] == '\0')
        t = "/tmp";
    if ((n = clean_in(t, dry, failed)) < 0)
        return -1;
    /* A manager's key folder (above), when the runtime folder is
     * another one and usable. */
    if (x != NULL && x[0] == '/' && strcmp(x, t) != 0 &&
        access(x, W_OK) == 0) {
        if ((m = clean_in(x, dry, failed)) < 0)
            return -1;
        n += m;
    }
    return n;
}

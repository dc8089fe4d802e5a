/* SPDX-License-Identifier: MIT */
/*
 * What the process test programs share (test-process.c and
 * test-process-fixes.c): a clock, the end of a handle, and whether a pid
 * has ended.  Included once per program.
 */
#ifndef MPROC_TEST_PROCESS_UTIL_H
#define MPROC_TEST_PROCESS_UTIL_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <mproc/process.h>

#define PU_UNUSED_ __attribute__((unused))

static long long PU_UNUSED_
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Close and free a handle (NULL: nothing). */
static void PU_UNUSED_
done(mproc_process_t *p)
{
    if (p != NULL)
        mproc_process_close(p);
    mproc_process_free(p);
}

/* Is `pid` gone or a zombie? */
static bool PU_UNUSED_
gone(pid_t pid)
{
    char path[64], buf[512], *s;
    FILE *f;
    bool dead = true;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (f == NULL)
        return true;
    if (fgets(buf, sizeof(buf), f) != NULL && (s = strrchr(buf, ')')) != NULL)
        dead = s[2] == 'Z' || s[2] == 'X';
    fclose(f);
    return dead;
}

/* The state letter and parent of process `pid` (a /proc name): false
 * when it is gone. */
static bool PU_UNUSED_
proc_stat(const char *pid, char *state, int *ppid)
{
    char path[300], buf[512], *s;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    if ((f = fopen(path, "re")) == NULL)
        return false;
    s = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
    fclose(f);
    return s != NULL && sscanf(s + 2, "%c %d", state, ppid) == 2;
}

/* The start method from "PROGRAM [HELPER] METHOD", made the default;
 * the test plugin's path into plugin[4096].  0, or -1 after a "Bail
 * out!". */
static int PU_UNUSED_
setup_method(int argc, char **argv, const char **method, char *plugin,
             const mproc_context_t **ctx)
{
    const char *dir = getenv("MPROC_TEST_PLUGINS");
    mproc_err_t err;

    *method = argc > 2 ? argv[2] : argc > 1 ? argv[1] : "fork";
    snprintf(plugin, 4096, "%s/proc.so", dir ? dir : "tests/.libs");
    if (mproc_set_start_method(*method, false, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return -1;
    }
    mproc_get_context(NULL, ctx, &err);
    return 0;
}

/* A process running `fn`, or PLUGIN:TASK, with input `in`; NULL (and a
 * diagnostic) on failure. */
static mproc_process_t *PU_UNUSED_
make_process(const char *plugin, const char *task, mproc_task_fn fn,
             const char *in, bool daemon, const mproc_context_t *ctx)
{
    struct mproc_process_opts o;
    mproc_process_t *p = NULL;
    char target[4200];
    mproc_err_t err;

    snprintf(target, sizeof(target), "%s:%s", plugin, task);
    mproc_process_opts_init(&o);
    if (fn != NULL)
        o.fn = fn;
    else
        o.target = target;
    o.input = in;
    o.input_len = in ? strlen(in) : 0;
    o.daemon = daemon;
    o.context = ctx;
    if (mproc_process_new(&p, &o, &err) < 0)
        printf("# new: %s\n", err.msg);
    return p;
}

/* Run this program as "SELF WHAT METHOD"; its first line of output into
 * buf.  The helper's pid, or -1. */
static pid_t PU_UNUSED_
run_helper(const char *self, const char *what, const char *method,
           char *buf, size_t len)
{
    int fd[2];
    pid_t pid;
    ssize_t n;
    size_t got = 0;

    if (pipe2(fd, O_CLOEXEC) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        execl(self, self, what, method, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    while (got < len - 1 && (n = read(fd[0], buf + got, len - 1 - got)) > 0) {
        got += (size_t)n;
        if (buf[got - 1] == '\n')
            break;
    }
    buf[got] = '\0';
    close(fd[0]);
    return pid;
}

#endif

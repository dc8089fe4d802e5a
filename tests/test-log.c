/* SPDX-License-Identifier: MIT */
/*
 * Issue 16.7: mproc_log_to_stderr() and MPROC_DEBUG print the library's
 * own events on stderr, one line each with the level, the process's
 * name and its pid (Python's log_to_stderr()); a spawned child inherits
 * the level through the boot message.  tests/obj16-log.sh covers a pool
 * worker's death and replacement in `mproc run`.
 *
 * "helper-env": start and join one forked process (run with MPROC_DEBUG
 * set by the test).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "tap.h"
#include "process-util.h"

static int
t_nothing(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
          struct mproc_buf *out)
{
    (void)ctx, (void)in, (void)len, (void)index, (void)out;
    return MPROC_TASK_OK;
}

/* Run one process (fn under fork, else proc.so:TASK) to its end. */
static pid_t
run(const char *method, const char *plugin, const char *task)
{
    const mproc_context_t *ctx;
    mproc_process_t *p;
    pid_t pid = 0;

    mproc_get_context(method, &ctx, NULL);
    p = make_process(plugin, task, task ? NULL : t_nothing, NULL, false,
                     ctx);
    if (p != NULL && mproc_process_start(p) == 0) {
        pid = mproc_process_pid(p);
        mproc_process_join(p, 30000);
    }
    done(p);
    return pid;
}

/* Everything written on fd 2 while `fn` runs. */
static char *
capture(pid_t (*fn)(const char *, const char *, const char *),
        const char *method, const char *plugin, const char *task,
        pid_t *pid)
{
    static char buf[8192];
    char path[] = "/tmp/mproc-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    ssize_t n;

    unlink(path);
    fflush(stderr);
    dup2(fd, 2);
    *pid = fn(method, plugin, task);
    dup2(saved, 2);
    close(saved);
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    return buf;
}

int
main(int argc, char **argv)
{
    const char *dir = getenv("MPROC_TEST_PLUGINS");
    char plugin[4096], want[256], *out;
    int fd[2], st;
    pid_t pid, h = -1;
    ssize_t n;

    alarm(60);
    if (argc == 2 && strcmp(argv[1], "helper-env") == 0) {
        run("fork", NULL, NULL);
        return 0;
    }
    snprintf(plugin, sizeof(plugin), "%s/proc.so", dir ? dir : "tests/.libs");
    unsetenv("MPROC_DEBUG");

    is_int(mproc_log_level(), MPROC_LOG_OFF, "off by default");
    out = capture(run, "fork", NULL, NULL, &pid);
    is_str(out, "", "off: nothing on stderr");

    is_int(mproc_log_to_stderr(7), MPROC_EINVAL, "an unknown level: EINVAL");
    is_int(mproc_log_to_stderr(MPROC_LOG_INFO), MPROC_LOG_OFF,
           "log_to_stderr returns the previous level");
    out = capture(run, "fork", NULL, NULL, &pid);
    snprintf(want, sizeof(want),
             "[INFO/MainProcess %ld] process Process-2 started (pid %ld, "
             "fork)\n",
             (long)getpid(), (long)pid);
    like_str(out, want, "a start: level, name, pid, what");
    snprintf(want, sizeof(want),
             "[INFO/MainProcess %ld] process Process-2 (pid %ld) ended "
             "with exitcode 0\n",
             (long)getpid(), (long)pid);
    like_str(out, want, "an end, with the exitcode");

    /* A spawned child that starts a child of its own logs too. */
    out = capture(run, "spawn", plugin, "nested", &pid);
    snprintf(want, sizeof(want), "[INFO/Process-3 %ld] process Process-3:1 "
             "started", (long)pid);
    like_str(out, want, "a spawned child logs at its parent's level");
    like_str(out, "started (pid", "... and the parent logs its start");

    mproc_log_to_stderr(MPROC_LOG_WARNING);
    out = capture(run, "fork", NULL, NULL, &pid);
    is_str(out, "", "WARNING: starts and ends are not shown");
    is_int(mproc_log_to_stderr(MPROC_LOG_OFF), MPROC_LOG_WARNING, "off again");

    /* MPROC_DEBUG=1 in the environment. */
    if (pipe(fd) == 0 && (h = fork()) == 0) {
        dup2(fd[1], 2);
        setenv("MPROC_DEBUG", "1", 1);
        execl(argv[0], argv[0], "helper-env", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    n = read(fd[0], want, sizeof(want) - 1);
    want[n > 0 ? n : 0] = '\0';
    close(fd[0]);
    waitpid(h, &st, 0);
    like_str(want, "[INFO/MainProcess", "MPROC_DEBUG=1 turns it on");
    like_str(want, "] process Process-1 started (pid", "... with the events");
    return done_testing();
}

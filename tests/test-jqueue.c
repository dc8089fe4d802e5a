/* SPDX-License-Identifier: MIT */
/*
 * Issue 16.4: JoinableQueue and SimpleQueue on every IPC backend, after
 * CPython's _TestQueue.test_task_done (4 workers, 10 items, join, then a
 * None per worker) and _TestSimpleQueue (empty, close), plus what Python
 * leaves out: task_done too many times, join with a timeout, a consumer
 * killed between get and task_done (join times out and says how many
 * are missing, never hangs), a failed put counts nothing.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc/queue.h>

#include "tap.h"

static void
on_usr1(int sig)
{
    (void)sig;
}

static mproc_queue_t *
jq(const char *backend, size_t maxsize)
{
    struct mproc_queue_opts o;
    mproc_queue_t *q = NULL;
    mproc_err_t err;

    mproc_queue_opts_init(&o);
    o.backend = backend;
    o.maxsize = maxsize;
    if (mproc_joinable_queue_new(&q, &o, &err) < 0)
        diag("joinable_queue_new: %s", err.msg);
    return q;
}

/* CPython's _test_task_done: get until an empty message ("None"), then
 * task_done each one but the None. */
static void
worker(mproc_queue_t *q)
{
    char buf[16];
    size_t n;

    while (mproc_queue_get(q, buf, sizeof(buf), &n, 20000) == 0 && n > 0) {
        usleep(1000);
        if (mproc_queue_task_done(q) < 0)
            _exit(2);
    }
    _exit(0);
}

static void
test_task_done(const char *b)
{
    mproc_queue_t *q = jq(b, 0);
    pid_t pids[4];
    int i, st, good = 0;

    if (q == NULL) {
        ok(0, "%s: a JoinableQueue", b);
        return;
    }
    ok(mproc_queue_is_joinable(q), "%s: is_joinable", b);
    is_int(mproc_queue_join(q, 0), 0, "%s: join of a new queue returns", b);
    is_int(mproc_queue_task_done(q), MPROC_EINVAL,
           "%s: task_done with nothing put: EINVAL (ValueError)", b);
    like_str(mproc_queue_errmsg(q), "called too many times", "... says so");
    is_int(mproc_queue_unfinished(q), 0, "%s: the count stays 0", b);

    for (i = 0; i < 4; i++)
        if ((pids[i] = fork()) == 0)
            worker(q);
    for (i = 0; i < 10; i++)
        mproc_queue_put(q, "item", 4, 10000);
    is_int(mproc_queue_join(q, 30000), 0,
           "%s: join returns once 4 workers task_done'd 10 items", b);
    is_int(mproc_queue_unfinished(q), 0, "%s: nothing unfinished", b);
    for (i = 0; i < 4; i++)
        mproc_queue_put(q, "", 0, 10000);
    for (i = 0; i < 4; i++)
        if (waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st) &&
            WEXITSTATUS(st) == 0)
            good++;
    is_int(good, 4, "%s: every worker ended well", b);
    is_int(mproc_queue_unfinished(q), 4,
           "%s: the 4 stop items count until task_done", b);
    for (i = 0; i < 4; i++)
        mproc_queue_task_done(q);
    is_int(mproc_queue_task_done(q), MPROC_EINVAL,
           "%s: one task_done too many: EINVAL", b);
    mproc_queue_free(q);
}

static void
test_deaths_and_limits(const char *b)
{
    mproc_queue_t *q = jq(b, 1);
    char buf[16];
    size_t n;
    pid_t pid;
    int st;

    if (q == NULL) {
        ok(0, "%s: a JoinableQueue", b);
        return;
    }
    is_int(mproc_queue_put(q, "a", 1, 10000), 0, "%s: put (maxsize 1)", b);
    is_int(mproc_queue_put(q, "b", 1, 0), MPROC_ETIMEDOUT,
           "%s: a put on a full queue fails ...", b);
    is_int(mproc_queue_unfinished(q), 1, "%s: ... and counts nothing", b);

    /* A consumer killed between its get and its task_done. */
    pid = fork();
    if (pid == 0) {
        if (mproc_queue_get(q, buf, sizeof(buf), &n, 10000) == 0)
            raise(SIGKILL);
        _exit(1);
    }
    waitpid(pid, &st, 0);
    ok(WIFSIGNALED(st), "%s: the consumer was killed after its get", b);
    is_int(mproc_queue_qsize(q), 0, "%s: it took the message", b);
    is_int(mproc_queue_join(q, 300), MPROC_ETIMEDOUT,
           "%s: join does not hang: it times out", b);
    like_str(mproc_queue_errmsg(q), "1 task still unfinished",
             "%s: ... saying how many are missing", b);
    is_int(mproc_queue_join(q, 0), MPROC_ETIMEDOUT, "%s: join(0) only looks",
           b);
    is_int(mproc_queue_unfinished(q), 1, "%s: unfinished says 1", b);

    /* A signal handler without SA_RESTART interrupts join. */
    {
        struct sigaction sa, old;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, &old);
        /* Again and again, so that one lands inside the join however
         * late a loaded machine runs it. */
        pid = fork();
        if (pid == 0) {
            for (;;) {
                usleep(50000);
                kill(getppid(), SIGUSR1);
            }
        }
        is_int(mproc_queue_join(q, 20000), MPROC_EINTR,
               "%s: a signal (no SA_RESTART) interrupts join", b);
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        sigaction(SIGUSR1, &old, NULL);
    }

    /* join wakes when another process finishes the last task. */
    pid = fork();
    if (pid == 0) {
        usleep(100000);
        _exit(mproc_queue_task_done(q) == 0 ? 0 : 1);
    }
    is_int(mproc_queue_join(q, 30000), 0,
           "%s: join wakes at another process's last task_done", b);
    waitpid(pid, &st, 0);
    is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0, "%s: its task_done", b);
    /* Works after close: the count is not the transport. */
    mproc_queue_close(q);
    is_int(mproc_queue_task_done(q), MPROC_EINVAL,
           "%s: task_done after close still checks the count", b);
    mproc_queue_free(q);
}

static void
test_simple(const char *b)
{
    mproc_queue_t *q = NULL;
    mproc_err_t err;
    char buf[16];
    size_t n = 0;

    if (mproc_simple_queue_new(&q, b, &err) < 0) {
        ok(0, "%s: simple_queue_new: %s", b, err.msg);
        return;
    }
    is_str(mproc_queue_backend(q), b, "%s: a SimpleQueue on it", b);
    ok(!mproc_queue_is_joinable(q), "%s: not joinable", b);
    ok(mproc_queue_empty(q), "%s: empty at first", b);
    is_int(mproc_queue_put(q, "x", 1, 1000), 0, "%s: put", b);
    ok(!mproc_queue_empty(q), "%s: not empty after put", b);
    is_int(mproc_queue_get(q, buf, sizeof(buf), &n, 1000), 0, "%s: get", b);
    ok(n == 1 && buf[0] == 'x', "%s: the message", b);
    ok(mproc_queue_empty(q), "%s: empty again", b);
    is_int(mproc_queue_task_done(q), MPROC_EINVAL,
           "%s: task_done on a SimpleQueue: EINVAL", b);
    like_str(mproc_queue_errmsg(q), "not a JoinableQueue", "... says why");
    is_int(mproc_queue_join(q, 0), MPROC_EINVAL, "%s: join: EINVAL", b);
    is_int(mproc_queue_unfinished(q), MPROC_EINVAL, "%s: unfinished: EINVAL",
           b);
    is_int(mproc_queue_close(q), 0, "%s: close", b);
    is_int(mproc_queue_put(q, "x", 1, 0), MPROC_ECLOSED,
           "%s: put after close", b);
    mproc_queue_free(q);
}

int
main(void)
{
    const char *const *b;
    mproc_queue_t *q = NULL;
    mproc_err_t err;

    alarm(120);
    for (b = mproc_ipc_backends(); *b != NULL; b++) {
        test_task_done(*b);
        test_deaths_and_limits(*b);
        test_simple(*b);
    }
    is_int(mproc_simple_queue_new(&q, NULL, &err), 0, "SimpleQueue: NULL");
    is_str(q ? mproc_queue_backend(q) : "", "pipe", "... is on pipe");
    mproc_queue_free(q);
    is_int(mproc_simple_queue_new(&q, "carrier-pigeon", &err), MPROC_EINVAL,
           "SimpleQueue: an unknown backend");
    is_int(mproc_joinable_queue_new(&q, NULL, &err), 0,
           "JoinableQueue: default options");
    mproc_queue_free(q);
    return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * A put (or a Pipe send) WITH a timeout, waiting for the transport in the
 * middle of its message when the consumer of that message is killed in
 * the middle of it: the Queue is broken at once, but the put only looked
 * for a dead receiver when it had no deadline, so it sat out its whole
 * timeout (20 s here), and every producer queued behind it for the
 * sender's lock timed out with MPROC_ETIMEDOUT instead of MPROC_EPIPE
 * (session s16, 2026-12-01).  Each must return MPROC_EPIPE within a few
 * hundred milliseconds, on every backend.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "tap.h"

static const char *const ipcs[] = {"pipe", "mq", "shmring"};

#define BIG ((size_t)32 << 20)
#define TIMEOUT_MS 20000

static double
now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Wait (15 s at most) until pid stops itself. */
static void
stopped(pid_t pid)
{
    int st, i;

    for (i = 0; i < 1500; i++) {
        if (waitpid(pid, &st, WUNTRACED | WNOHANG) == pid && WIFSTOPPED(st))
            return;
        usleep(10000);
    }
}

/* Reap pid; its exit status, or -1. */
static int
status_of(pid_t pid)
{
    int st;

    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* The child's verdict: 0 for EPIPE within 5 s, 1 for EPIPE later, 2 for
 * another code. */
static int
verdict(int r, double ms)
{
    if (r != MPROC_EPIPE)
        return 2;
    return ms < 5000 ? 0 : 1;
}

static void
test_queue(const char *backend)
{
    struct mproc_queue_opts o;
    mproc_queue_t *q = NULL;
    mproc_err_t err;
    pid_t c, p, p2;
    char *b;

    mproc_queue_opts_init(&o);
    o.backend = backend;
    if (mproc_queue_new(&q, &o, &err) < 0 || (b = calloc(1, BIG)) == NULL) {
        ok(0, "%s: a queue: %s", backend, err.msg);
        return;
    }
    if ((c = fork()) == 0) {
        size_t len;
        char *r = malloc(BIG);
        /* Stops itself once part of the message is in. */
        setenv("MPROC_TEST_HOOK_IPC", "get-partial", 1);
        mproc_queue_get(q, r, BIG, &len, -1);
        _exit(0);
    }
    usleep(100000);
    if ((p = fork()) == 0) {
        double t = now_ms();
        int r = mproc_queue_put(q, b, BIG, TIMEOUT_MS);
        _exit(verdict(r, now_ms() - t));
    }
    stopped(c);
    usleep(100000);
    if ((p2 = fork()) == 0) {
        /* Waits for the sender's lock, behind p. */
        double t = now_ms();
        int r = mproc_queue_put(q, "x", 1, TIMEOUT_MS);
        _exit(verdict(r, now_ms() - t));
    }
    usleep(100000);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    is_int(status_of(p), 0, "%s: a put with a timeout returns EPIPE soon "
           "once its consumer died mid-message", backend);
    is_int(status_of(p2), 0, "%s: and so does the put queued behind it",
           backend);
    mproc_queue_free(q);
    free(b);
}

static void
test_pipe(const char *backend)
{
    struct mproc_pipe_opts o;
    mproc_pipe_t *r = NULL, *w = NULL;
    mproc_err_t err;
    pid_t c, c2, p;
    char *b;

    mproc_pipe_opts_init(&o);
    o.backend = backend;
    o.duplex = false;
    if (mproc_pipe_new(&r, &w, &o, &err) < 0 ||
        (b = calloc(1, BIG)) == NULL) {
        ok(0, "%s: a pipe: %s", backend, err.msg);
        return;
    }
    if ((c = fork()) == 0) {
        size_t len;
        char *x = malloc(BIG);
        mproc_pipe_free(w);
        setenv("MPROC_TEST_HOOK_IPC", "get-partial", 1);
        mproc_pipe_recv(r, x, BIG, &len, -1);
        _exit(0);
    }
    if ((c2 = fork()) == 0) {
        /* Holds the receive end open and never reads. */
        mproc_pipe_free(w);
        pause();
        _exit(0);
    }
    mproc_pipe_free(r);
    usleep(100000);
    if ((p = fork()) == 0) {
        double t = now_ms();
        int rc = mproc_pipe_send(w, b, BIG, TIMEOUT_MS);
        _exit(verdict(rc, now_ms() - t));
    }
    stopped(c);
    usleep(100000);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    is_int(status_of(p), 0, "%s: a send with a timeout returns EPIPE soon "
           "once its receiver died mid-message", backend);
    kill(c2, SIGKILL);
    waitpid(c2, NULL, 0);
    mproc_pipe_free(w);
    free(b);
}

int
main(void)
{
    size_t i;

    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < 3; i++) {
        test_queue(ipcs[i]);
        test_pipe(ipcs[i]);
    }
    return done_testing();
}

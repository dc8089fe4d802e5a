/* SPDX-License-Identifier: MIT */
/*
 * Issue 13.4, second round (the start path without libc's wrappers in
 * the child, fewer getpid() calls, the error message out of the handle):
 * what it changed must not show.  For every start method:
 *
 *   signals  a child starts with SIGHUP SIGINT SIGQUIT SIGTERM SIGUSR1
 *            SIGUSR2 SIGPIPE SIGALRM SIGCHLD SIGXCPU SIGXFSZ SIGTSTP at
 *            SIG_DFL and an empty mask, whatever its parent caught,
 *            ignored or blocked; a forked one keeps the parent's handler
 *            of any other signal (SIGWINCH), a new image does not
 *   parent   mproc_parent_process() in the child is its parent
 *   task     an unknown task fails, and the message names it (looked
 *            up by the parent before it starts; the forkserver looks it
 *            up for its child again, the child only when that failed)
 *   errmsg   a handle's message is "" until an error, then says it
 *   consumed a fork child that takes a Semaphore unit and returns keeps
 *            it: the unit does not come back as its owner's death (the
 *            child's end drops its hold, checked without a call)
 *
 * and in this process: mproc_parent_process() is NULL.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "process-util.h"
#include "tap.h"

static char plugin[4096];

static void
on_sig(int sig)
{
    (void)sig;
}

/* Run PLUGIN:task by `method`; its exit code, result (a C string) into
 * buf, its failure message (or "") into fail. */
static int
run(const char *method, const char *task, char *buf, size_t cap,
    char *fail, size_t fcap)
{
    const mproc_context_t *ctx;
    mproc_process_t *p;
    const void *data;
    const char *f;
    size_t n;
    int code = -99;

    buf[0] = fail[0] = '\0';
    mproc_get_context(method, &ctx, NULL);
    p = make_process(plugin, task, NULL, NULL, false, ctx);
    if (p == NULL)
        return -99;
    if (mproc_process_start(p) < 0) {
        snprintf(fail, fcap, "start: %s", mproc_process_errmsg(p));
        done(p);
        return -98;
    }
    if (mproc_process_join(p, -1) == 0 &&
        mproc_process_exitcode(p, &code) == 0 &&
        mproc_process_result(p, &data, &n) == 0) {
        if (n >= cap)
            n = cap - 1;
        memcpy(buf, data, n);
        buf[n] = '\0';
    }
    f = mproc_process_failure(p);
    snprintf(fail, fcap, "%s", f != NULL ? f : "");
    done(p);
    return code;
}

static void
test_signals(const char *method)
{
    struct sigaction sa, old[6];
    static const int set[] = {SIGTERM, SIGUSR1, SIGWINCH, SIGINT, SIGPIPE,
                              SIGHUP};
    sigset_t block, oldmask;
    char buf[256], fail[1024], want[64];
    int code, i;

    /* Caught: SIGTERM SIGUSR1 SIGWINCH; ignored: SIGINT SIGPIPE SIGHUP;
     * blocked: SIGUSR2 SIGALRM. */
    memset(&sa, 0, sizeof(sa));
    for (i = 0; i < 6; i++) {
        sa.sa_handler = i < 3 ? on_sig : SIG_IGN;
        sigaction(set[i], &sa, &old[i]);
    }
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, &oldmask);
    code = run(method, "signals", buf, sizeof(buf), fail, sizeof(fail));
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    for (i = 0; i < 6; i++)
        sigaction(set[i], &old[i], NULL);
    /* Twelve at SIG_DFL; SIGWINCH: the parent's handler after fork. */
    snprintf(want, sizeof(want), "DDDDDDDDDDDD%c/-",
             strcmp(method, "fork") == 0 ? 'H' : 'D');
    ok(code == 0, "%s: signals: the child ends well (%d%s%s)", method, code,
       fail[0] ? ": " : "", fail);
    is_str(buf, want, "%s: signals: twelve at SIG_DFL, the mask empty, "
           "SIGWINCH as a %s has it", method,
           strcmp(method, "fork") == 0 ? "forked child" : "new image");
}

static void
test_parent(const char *method)
{
    char buf[256], fail[1024];
    int code = run(method, "parent", buf, sizeof(buf), fail, sizeof(fail));

    ok(code == 0, "%s: parent: the child ends well (%d)", method, code);
    is_str(buf, "MainProcess", "%s: parent: mproc_parent_process() in the "
           "child is its parent", method);
}

static void
test_task(const char *method)
{
    char buf[256], fail[1024];
    int code = run(method, "nosuch", buf, sizeof(buf), fail, sizeof(fail));

    /* fork loads the plugin in the parent: start fails; a new image
     * fails in the child. */
    ok(code != 0, "%s: unknown task: a failure (%d)", method, code);
    ok(strstr(fail, "no task 'nosuch'") != NULL, "%s: unknown task: the "
       "message names it (%s)", method, fail);
}

static void
test_errmsg(const char *method)
{
    const mproc_context_t *ctx;
    mproc_process_t *p;
    int code = -1;

    mproc_get_context(method, &ctx, NULL);
    p = make_process(plugin, "parent", NULL, NULL, false, ctx);
    if (p == NULL) {
        ok(false, "%s: errmsg: a handle", method);
        return;
    }
    bool failed;

    is_str(mproc_process_errmsg(p), "", "%s: errmsg: \"\" before any error",
           method);
    failed = mproc_process_join(p, 0) < 0;
    like_str(mproc_process_errmsg(p), "not started", "%s: errmsg: joining "
             "an unstarted process fails (%d) and says so", method, failed);
    failed = mproc_process_start(p) < 0 || mproc_process_join(p, -1) < 0 ||
             mproc_process_exitcode(p, &code) < 0;
    ok(!failed && code == 0, "%s: errmsg: it then runs (%d)", method, code);
    failed = mproc_process_start(p) < 0;
    ok(failed, "%s: errmsg: starting it again fails", method);
    like_str(mproc_process_errmsg(p), "cannot start a process twice",
             "%s: errmsg: ... and says so", method);
    done(p);
}

static mproc_sem_t *unit;

static int
take_unit(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
          struct mproc_buf *out)
{
    (void)ctx, (void)in, (void)len, (void)index, (void)out;
    return mproc_sem_acquire(unit, 1000) == 0 ? MPROC_TASK_OK
                                              : MPROC_TASK_FAIL;
}

static void
test_consumed(const char *backend)
{
    const mproc_context_t *ctx;
    mproc_sync_t *s = NULL;
    mproc_process_t *p;
    int code = -1;

    if (mproc_sync_new(&s, backend, 0, NULL) < 0 ||
        mproc_sem_new(s, 1, false, &unit, NULL) < 0) {
        ok(false, "consumed/%s: a Semaphore", backend);
        mproc_sync_free(s);
        return;
    }
    mproc_get_context("fork", &ctx, NULL);
    p = make_process(NULL, NULL, take_unit, NULL, false, ctx);
    if (p != NULL && mproc_process_start(p) == 0 &&
        mproc_process_join(p, -1) == 0)
        mproc_process_exitcode(p, &code);
    is_int(code, 0, "consumed/%s: a fork child took the unit and returned",
           backend);
    done(p);
    is_int(mproc_sem_acquire(unit, 300), MPROC_ETIMEDOUT,
           "consumed/%s: the unit does not come back", backend);
    is_int(mproc_sem_get_value(unit), 0, "consumed/%s: the value stays 0",
           backend);
    mproc_sync_free(s);
}

int
main(int argc, char **argv)
{
    static const char *const methods[] = {"fork", "spawn", "forkserver"};
    const char *dir = getenv("MPROC_TEST_PLUGINS");
    size_t i;

    (void)argc, (void)argv;
    alarm(120);
    snprintf(plugin, sizeof(plugin), "%s/start13b.so",
             dir != NULL ? dir : "tests/.libs");
    ok(mproc_parent_process() == NULL, "the main process has no parent "
       "process");
    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        test_signals(methods[i]);
        test_parent(methods[i]);
        test_task(methods[i]);
        test_errmsg(methods[i]);
    }
    test_consumed("futex");
    test_consumed("posix");
    return done_testing();
}

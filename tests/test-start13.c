/* SPDX-License-Identifier: MIT */
/*
 * Issue 13.4, the cheaper process start: what it changed must not show.
 * For every start method:
 *
 *   results   result files are reused (process/result.c): results of every
 *             size, failures, crashes and nested children in a row, more
 *             of them than the pool keeps, each read back as its own; a
 *             child that writes nothing never shows the last one's result
 *   input     inputs of 10 B, 30 KB and 100 KB arrive whole (a forkserver
 *             request carries the boot message inline up to 32 KiB, in
 *             a memfd above)
 *   many      more children alive at once than the pool keeps, each with
 *             its own result
 *   sentinel  the pidfd is made on first need: a sentinel asked for while
 *             the child runs is not ready, then ready at its end; asked
 *             for after the join, it is ready at once
 *   eintr     join without a timeout (waitid) ends with MPROC_EINTR on a
 *             signal whose handler has no SA_RESTART, goes on otherwise
 *
 * and for fork: a child that frees its copy of its own handle still
 * knows its name and its parent's (become_forked borrows them).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "process-util.h"
#include "tap.h"

static char plugin[4096];

static mproc_process_t *
make(const char *method, const char *task, const char *in)
{
    const mproc_context_t *ctx;

    mproc_get_context(method, &ctx, NULL);
    return make_process(plugin, task, NULL, in, false, ctx);
}

/* Start and join, then close and free p: the exit code, and the
 * result's code into *r and its bytes into buf (a C string). */
static int
run(mproc_process_t *p, int *r, char *buf, size_t cap)
{
    const void *data;
    size_t n;
    int code = -99;

    buf[0] = '\0';
    *r = -99;
    if (p == NULL || mproc_process_start(p) < 0 ||
        mproc_process_join(p, -1) < 0 ||
        mproc_process_exitcode(p, &code) < 0) {
        done(p);
        return -99;
    }
    *r = mproc_process_result(p, &data, &n);
    if (*r == 0) {
        if (n >= cap)
            n = cap - 1;
        memcpy(buf, data, n);
        buf[n] = '\0';
    }
    done(p);
    return code;
}

static bool
all_x(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] != 'x')
            return false;
    return s[n] == '\0';
}

static void
test_results(const char *method)
{
    static char buf[200000];
    char in[32];
    int round, code, r;
    bool good = true;

    for (round = 0; round < 4; round++) {
        snprintf(in, sizeof(in), "round %d", round);
        code = run(make(method, "ret", in), &r, buf, sizeof(buf));
        good &= code == 0 && r == 0 && strcmp(buf, in) == 0;
        code = run(make(method, "big", "300"), &r, buf, sizeof(buf));
        good &= code == 0 && r == 0 && strlen(buf) == 300 && all_x(buf, 300);
        /* A child that writes nothing: no result, not the last one. */
        code = run(make(method, "exit", "3"), &r, buf, sizeof(buf));
        good &= code == 3 && r == MPROC_EWORKER && buf[0] == '\0';
        code = run(make(method, "big", "100000"), &r, buf, sizeof(buf));
        good &= code == 0 && r == 0 && all_x(buf, 100000);
        code = run(make(method, "abort", NULL), &r, buf, sizeof(buf));
        good &= code == -SIGABRT && r == MPROC_EWORKER;
        code = run(make(method, "ret", ""), &r, buf, sizeof(buf));
        good &= code == 0 && r == 0 && buf[0] == '\0';
        code = run(make(method, "fail", NULL), &r, buf, sizeof(buf));
        good &= code == 1 && r == MPROC_ETASK;
        code = run(make(method, "nested", NULL), &r, buf, sizeof(buf));
        good &= code == 0 && r == 0 && strchr(buf, '|') != NULL;
        if (!good) {
            diag("%s: round %d: code %d r %d '%.40s'", method, round, code, r,
                 buf);
            break;
        }
    }
    ok(good, "%s: 32 results in a row, each its own (ret, big 300, exit, "
       "big 100000, abort, empty, fail, nested)", method);
}

/* A boot message past MPROC__BOOT_INLINE_MAX goes to the forkserver in
 * a memfd, a smaller one inline: both arrive whole. */
static void
test_input(const char *method)
{
    static char in[100001], buf[100001];
    size_t sizes[] = {10, 30000, 100000}, i;
    int code, r;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        memset(in, 'a' + (int)i, sizes[i]);
        in[sizes[i]] = '\0';
        code = run(make(method, "ret", in), &r, buf, sizeof(buf));
        ok(code == 0 && r == 0 && strcmp(buf, in) == 0,
           "%s: an input of %zu bytes arrives whole", method, sizes[i]);
    }
}

static void
test_many(const char *method)
{
    enum { N = 20 };
    mproc_process_t *p[N];
    char in[32];
    const void *data;
    size_t n;
    int i, good = 0;

    for (i = 0; i < N; i++) {
        snprintf(in, sizeof(in), "child %d", i);
        p[i] = make(method, "ret", in);
        if (p[i] != NULL && mproc_process_start(p[i]) < 0)
            diag("start: %s", mproc_process_errmsg(p[i]));
    }
    for (i = 0; i < N; i++) {
        snprintf(in, sizeof(in), "child %d", i);
        if (p[i] != NULL && mproc_process_join(p[i], -1) == 0 &&
            mproc_process_result(p[i], &data, &n) == 0 &&
            n == strlen(in) && memcmp(data, in, n) == 0)
            good++;
        done(p[i]);
    }
    is_int(good, N, "%s: %d children at once, each its own result", method,
           N);
}

static void
test_sentinel(const char *method)
{
    mproc_process_t *p = make(method, "sleep", "300");
    struct pollfd pfd = {-1, POLLIN, 0};

    if (p == NULL || mproc_process_start(p) < 0) {
        ok(0, "%s: a sleeper", method);
        done(p);
        return;
    }
    pfd.fd = mproc_process_sentinel(p);
    ok(pfd.fd >= 0, "%s: a sentinel while it runs", method);
    is_int(poll(&pfd, 1, 0), 0, "%s: ... not ready while it runs", method);
    is_int(poll(&pfd, 1, 30000), 1, "%s: ... ready at its end", method);
    is_int(mproc_process_sentinel(p), pfd.fd, "%s: ... the same descriptor",
           method);
    is_int(mproc_process_join(p, -1), 0, "%s: joined", method);
    done(p);

    p = make(method, "ret", "x");
    is_int(p != NULL && mproc_process_start(p) == 0
               ? mproc_process_join(p, -1)
               : -1,
           0, "%s: joined before asking for the sentinel", method);
    pfd.fd = mproc_process_sentinel(p);
    pfd.revents = 0;
    ok(pfd.fd >= 0 && poll(&pfd, 1, 0) == 1,
       "%s: a sentinel asked for after the join is ready at once", method);
    is_int(mproc_process_join(p, 0), 0, "%s: ... and joins again", method);
    done(p);
}

static atomic_int signals;
static atomic_bool kicker_stop;
static pthread_t main_thread;

static void
on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&signals, 1);
}

static void *
kicker(void *arg)
{
    struct timespec ts = {0, 100000000};

    (void)arg;
    while (!atomic_load(&kicker_stop)) {
        nanosleep(&ts, NULL);
        pthread_kill(main_thread, SIGUSR1);
    }
    return NULL;
}

static void
test_eintr(const char *method)
{
    struct sigaction sa, old;
    mproc_process_t *p;
    pthread_t t;
    int r, code = -1;

    main_thread = pthread_self();
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, &old); /* no SA_RESTART */
    p = make(method, "sleep", "60000");
    if (p == NULL || mproc_process_start(p) < 0) {
        ok(0, "%s: a sleeper", method);
        done(p);
        sigaction(SIGUSR1, &old, NULL);
        return;
    }
    atomic_store(&kicker_stop, false);
    pthread_create(&t, NULL, kicker, NULL);
    r = mproc_process_join(p, -1);
    atomic_store(&kicker_stop, true);
    pthread_join(t, NULL);
    is_int(r, MPROC_EINTR, "%s: join(-1) ends with MPROC_EINTR on a signal "
           "handled without SA_RESTART", method);
    like_str(mproc_process_errmsg(p), "interrupted", "%s: ... and says so",
             method);
    ok(mproc_process_is_alive(p), "%s: ... the child still runs", method);
    mproc_process_kill(p);
    while (mproc_process_join(p, -1) == MPROC_EINTR)
        ;
    ok(mproc_process_exitcode(p, &code) == 0 && code == -SIGKILL,
       "%s: ... then killed and joined (%d)", method, code);
    done(p);

    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    atomic_store(&signals, 0);
    p = make(method, "sleep", "800");
    atomic_store(&kicker_stop, false);
    pthread_create(&t, NULL, kicker, NULL);
    r = p != NULL && mproc_process_start(p) == 0 ? mproc_process_join(p, -1)
                                                 : -1;
    atomic_store(&kicker_stop, true);
    pthread_join(t, NULL);
    is_int(r, 0, "%s: with SA_RESTART, join(-1) waits for the end", method);
    ok(mproc_process_exitcode(p, &code) == 0 && code == 0 &&
           atomic_load(&signals) > 0,
       "%s: ... through the signals (%d)", method, atomic_load(&signals));
    done(p);
    sigaction(SIGUSR1, &old, NULL);
}

/* fork: the child frees its copy of its own handle, then says who it
 * is. */
static mproc_process_t *own;

static int
f_free_self(struct mproc_ctx *c, const void *in, size_t len, uint64_t index,
            struct mproc_buf *out)
{
    mproc_process_t *pp = mproc_parent_process();

    (void)c, (void)in, (void)len, (void)index;
    mproc_process_free(own);
    return mproc_buf_printf(out, "%s|%s",
                            mproc_process_name(mproc_current_process()),
                            pp ? mproc_process_name(pp) : "-");
}

static void
test_free_self(void)
{
    struct mproc_process_opts o;
    const mproc_context_t *ctx;
    char want[256], buf[256];
    int r, code;

    mproc_get_context("fork", &ctx, NULL);
    mproc_process_opts_init(&o);
    o.fn = f_free_self;
    o.context = ctx;
    o.name = "free-self";
    if (mproc_process_new(&own, &o, NULL) < 0) {
        ok(0, "fork: a process");
        return;
    }
    snprintf(want, sizeof(want), "free-self|%s",
             mproc_process_name(mproc_current_process()));
    code = run(own, &r, buf, sizeof(buf));
    ok(code == 0 && r == 0, "fork: a child that frees its own handle ends "
       "well (%d, %d)", code, r);
    is_str(buf, want, "fork: ... and still knows its name and its "
           "parent's");
}

int
main(int argc, char **argv)
{
    static const char *const methods[] = {"fork", "spawn", "forkserver"};
    const mproc_context_t *ctx;
    const char *method;
    size_t i;

    alarm(240);
    if (setup_method(argc, argv, &method, plugin, &ctx) < 0)
        return 1;
    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        test_results(methods[i]);
        test_input(methods[i]);
        test_many(methods[i]);
        test_sentinel(methods[i]);
        test_eintr(methods[i]);
    }
    test_free_self();
    return done_testing();
}

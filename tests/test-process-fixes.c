/* SPDX-License-Identifier: MIT */
/*
 * Regression tests of the process module's fork, thread and signal safety,
 * run once per start method (tests/process-fixes-METHOD.sh):
 *
 *   fork-hammer  12.6   a Process started while other threads hold the
 *                       module's lock (a hook keeps it held) runs its
 *                       target and is joined, 200 times
 *   reap-race    12.11  join racing mproc_active_children() on the same
 *                       process: one reap, the right exit code
 *   thread-daemon 10.6  a daemon started from a thread that exits lives
 *                       on, and dies when its parent process is killed
 *                       (in a helper process: the forkserver it starts is
 *                       the helper's own, started from that thread)
 *   pool-thread  10.6   pool workers die with their host process, also
 *                       when the thread that made the pool has exited
 *   two-pools    10.5   freeing one Pool API pool leaves another's
 *                       workers alone (they share the forkserver, which
 *                       the first pool's result thread started)
 *   eintr        11.5   join and wait end with MPROC_EINTR on a signal
 *                       whose handler has no SA_RESTART, go on otherwise
 *   registry     12.10  a registered descriptor is dropped in a forked
 *                       child, an unregistered one kept
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "process/process_int.h"
#include "process-util.h"
#include "tap.h"

static const char *method;
static char plugin[4096];
static const mproc_context_t *ctx;
static bool is_fork;

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int
f_ret(struct mproc_ctx *c, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    (void)c, (void)index;
    return mproc_buf_append(out, in, len);
}

static mproc_process_t *
make(const char *task, const char *in, bool daemon)
{
    return make_process(plugin, task, is_fork && strcmp(task, "ret") == 0 ? f_ret : NULL, in, daemon, ctx);
}

/* Wait up to 10 s (a loaded machine) for `pid` to be gone. */
static bool
gone_soon(pid_t pid)
{
    long long t0 = now_ms();

    while (!gone(pid) && now_ms() - t0 < 10000)
        sleep_ms(5);
    return gone(pid);
}

/* The live children of `parent` (the forkserver included), up to max. */
static int
children_of(pid_t parent, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int ppid, n = 0;
    char st;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (!proc_stat(e->d_name, &st, &ppid) || ppid != parent || st == 'Z')
            continue;
        out[n++] = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return n;
}

static pid_t
helper(const char *self, const char *what, char *buf, size_t len)
{
    return run_helper(self, what, method, buf, len);
}

/* ---- 12.6: fork while other threads hold the module's lock ---- */

static atomic_bool hammer_stop;

/* Nothing that allocates: under valgrind a forked child would count
 * another thread's allocation in flight as lost, and exit with 9. */
static void *
hammer(void *arg)
{
    mproc_process_t *out[4];

    (void)arg;
    while (!atomic_load(&hammer_stop)) {
        /* With the hook, each call holds the module's lock 1 ms. */
        mproc_active_children(out, 4);
        mproc_get_start_method();
        mproc_process_is_alive(mproc_parent_process() ? mproc_parent_process()
                                                      : mproc_current_process());
    }
    return NULL;
}

static void
test_fork_hammer(void)
{
    enum { N = 200, THREADS = 3 };
    pthread_t t[THREADS];
    int i, bad = 0, r;

    setenv("MPROC_TEST_HOOK_CHILDREN_HOLD_MS", "1", 1);
    atomic_store(&hammer_stop, false);
    for (i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (i = 0; i < N && bad == 0; i++) {
        mproc_process_t *p = make("ret", "ran", false);
        const void *data;
        size_t len;
        int code = -1;

        if (p == NULL || mproc_process_start(p) < 0) {
            diag("start %d: %s", i, p ? mproc_process_errmsg(p) : "");
            bad++;
        } else if ((r = mproc_process_join(p, 20000)) != 0) {
            diag("join %d: %s (the child hangs)", i,
                 mproc_process_errmsg(p));
            mproc_process_kill(p);
            mproc_process_join(p, -1);
            bad++;
        } else if (mproc_process_exitcode(p, &code) < 0 || code != 0 ||
                   mproc_process_result(p, &data, &len) < 0 || len != 3 ||
                   memcmp(data, "ran", 3) != 0) {
            diag("child %d: exit code %d, %s", i, code,
                 mproc_process_failure(p) ? mproc_process_failure(p) : "");
            bad++;
        }
        done(p);
    }
    atomic_store(&hammer_stop, true);
    for (i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    unsetenv("MPROC_TEST_HOOK_CHILDREN_HOLD_MS");
    is_int(bad, 0, "12.6: %d children started while other threads held "
           "the module's lock ran their target and were joined", N);
}

/* ---- 12.11: join racing active_children on one process ---- */

static void *
call_active(void *arg)
{
    mproc_process_t *out[4];

    (void)arg;
    mproc_active_children(out, 4);
    return NULL;
}

static atomic_bool racer_stop;

static void *
racer(void *arg)
{
    mproc_process_t *out[4];

    (void)arg;
    while (!atomic_load(&racer_stop))
        mproc_active_children(out, 4);
    return NULL;
}

/* Block until p's child has ended, without reaping it. */
static void
wait_ended(mproc_process_t *p)
{
    struct pollfd pfd = {mproc_process_sentinel(p), POLLIN, 0};

    poll(&pfd, 1, 20000);
}

static void
test_reap_race(void)
{
    int i, code, bad = 0, zero = 0;
    pthread_t t;

    /* The hook: active_children() reaps, then sleeps 1 s before it
     * records the end; join runs in that second. */
    for (i = 0; i < 2; i++) {
        mproc_process_t *p = make("exit", "3", false);
        pid_t pid;
        long long t0;

        if (p == NULL || mproc_process_start(p) < 0) {
            bad++;
            done(p);
            continue;
        }
        pid = mproc_process_pid(p);
        wait_ended(p);
        setenv("MPROC_TEST_HOOK_REAP_DELAY_MS", "1000", 1);
        pthread_create(&t, NULL, call_active, NULL);
        t0 = now_ms();
        while (kill(pid, 0) == 0 && now_ms() - t0 < 10000)
            sleep_ms(1); /* until the other thread has reaped it */
        code = -1;
        if (mproc_process_join(p, 20000) != 0 ||
            mproc_process_exitcode(p, &code) != 0 || code != 3) {
            diag("exit code %d, %s", code,
                 mproc_process_failure(p) ? mproc_process_failure(p) : "");
            bad++;
        }
        pthread_join(t, NULL);
        unsetenv("MPROC_TEST_HOOK_REAP_DELAY_MS");
        done(p);
    }
    is_int(bad, 0, "12.11: join while active_children() reaps the same "
           "child: exit code 3, not 0");

    /* And no hook: many rounds of the race as it comes. */
    atomic_store(&racer_stop, false);
    pthread_create(&t, NULL, racer, NULL);
    for (i = 0, bad = 0; i < 100; i++) {
        mproc_process_t *p = make("exit", "3", false);

        code = -1;
        if (p == NULL || mproc_process_start(p) < 0 ||
            mproc_process_join(p, 20000) != 0 ||
            mproc_process_exitcode(p, &code) != 0)
            bad++;
        else if (code != 3)
            zero++;
        done(p);
    }
    atomic_store(&racer_stop, true);
    pthread_join(t, NULL);
    is_int(bad, 0, "12.11: 100 children started and joined under the race");
    is_int(zero, 0, "12.11: every one of them has exit code 3");
}

/* ---- 10.6: a daemon started from a thread that exits ---- */

static mproc_process_t *thread_daemon;

static void *
start_daemon(void *arg)
{
    (void)arg;
    thread_daemon = make("sleep", "60000", true);
    if (thread_daemon != NULL && mproc_process_start(thread_daemon) < 0) {
        fprintf(stderr, "%s\n", mproc_process_errmsg(thread_daemon));
        thread_daemon = NULL;
    }
    /* Exit only once the child has surely set itself up (a signal bound
     * to this thread, before the fix, fires only if set before we go). */
    sleep_ms(500);
    return NULL;
}

/* Helper: a thread starts a daemon and exits; after 300 ms say "PID
 * alive" or "PID dead CODE", then wait to be killed. */
static int
helper_thread_daemon(void)
{
    pthread_t t;
    int code = 0;

    pthread_create(&t, NULL, start_daemon, NULL);
    pthread_join(t, NULL);
    if (thread_daemon == NULL) {
        printf("0 failed\n");
        return 1;
    }
    sleep_ms(300);
    if (mproc_process_is_alive(thread_daemon))
        printf("%d alive\n", (int)mproc_process_pid(thread_daemon));
    else {
        mproc_process_exitcode(thread_daemon, &code);
        printf("%d dead %d\n", (int)mproc_process_pid(thread_daemon), code);
    }
    fflush(stdout);
    pause(); /* until killed */
    return 0;
}

static void
test_thread_daemon(const char *self)
{
    char buf[128], state[16] = "";
    int pid = 0, st;
    pid_t h;

    h = helper(self, "helper-thread-daemon", buf, sizeof(buf));
    if (sscanf(buf, "%d %15s", &pid, state) != 2)
        pid = 0;
    if (!ok(strcmp(state, "alive") == 0, "10.6: a daemon started from a "
            "thread that exited lives on"))
        diag("helper said '%s'", buf);
    kill(h, SIGKILL);
    waitpid(h, &st, 0);
    ok(pid > 0 && gone_soon(pid), "10.6: the daemon dies when its parent "
       "process is killed");
}

/* ---- 10.6: pool workers started from a thread ---- */

static mproc_apool_t *thread_pool;

static void *
start_pool(void *arg)
{
    struct mproc_pool_opts o;
    mproc_err_t err;
    int i;

    (void)arg;
    mproc_pool_opts_init(&o);
    o.plugin = plugin;
    o.task = "sleep";
    o.workers = 2;
    o.start_method = method;
    if (mproc_apool_new(&thread_pool, &o, &err) < 0) {
        fprintf(stderr, "apool: %s\n", err.msg);
        return NULL;
    }
    for (i = 0; i < 2; i++)
        mproc_apool_apply_async(thread_pool, NULL, "60000", 5, NULL, NULL);
    return NULL;
}

/* Helper: a thread makes a pool of two workers, busy for a minute, and
 * exits; say the workers' pids, then wait to be killed. */
static int
helper_pool_thread(void)
{
    pid_t w[8];
    long long t0 = now_ms();
    pthread_t t;
    int n = 0, i;

    pthread_create(&t, NULL, start_pool, NULL);
    pthread_join(t, NULL);
    sleep_ms(300);
    while (thread_pool != NULL && (n = children_of(getpid(), w, 8)) < 2 &&
           now_ms() - t0 < 20000)
        sleep_ms(10);
    sleep_ms(300);
    n = children_of(getpid(), w, 8);
    printf("%d", n);
    for (i = 0; i < n; i++)
        printf(" %d", (int)w[i]);
    printf("\n");
    fflush(stdout);
    pause(); /* until killed */
    return 0;
}

static void
test_pool_thread(const char *self)
{
    char buf[256], *s, *e;
    int n = 0, i, st, left = 0;
    pid_t h, w[8];

    h = helper(self, "helper-pool-thread", buf, sizeof(buf));
    n = (int)strtol(buf, &s, 10);
    for (i = 0; i < n && i < 8; i++, s = e)
        w[i] = (pid_t)strtol(s, &e, 10);
    if (!ok(n >= 2, "10.6: a pool made by a thread that exited keeps its "
            "two workers"))
        diag("helper said '%s'", buf);
    kill(h, SIGKILL);
    waitpid(h, &st, 0);
    for (i = 0; i < n && i < 8; i++)
        left += !gone_soon(w[i]);
    is_int(left, 0, "10.6: the pool's workers die when their host is "
           "killed");
}

/* ---- 10.5: two Pool API pools ---- */

static mproc_apool_t *
plugin_pool(mproc_err_t *err)
{
    struct mproc_pool_opts o;
    mproc_apool_t *p = NULL;

    mproc_pool_opts_init(&o);
    o.plugin = plugin;
    o.task = "sleep";
    o.workers = 2;
    o.start_method = method;
    if (mproc_apool_new(&p, &o, err) < 0)
        return NULL;
    return p;
}

/* Helper, in a fresh process so that the first pool's result thread is
 * what starts the forkserver: free that pool while the second runs two
 * tasks; say "ok" or what went wrong. */
static int
helper_two_pools(void)
{
    mproc_apool_t *a, *b;
    mproc_async_t *r[2] = {NULL, NULL}, *x = NULL;
    const struct mproc_result *res;
    mproc_err_t err;
    size_t nres;
    int i, bad = 0;

    a = plugin_pool(&err);
    b = a ? plugin_pool(&err) : NULL;
    if (a == NULL || b == NULL) {
        printf("pools: %s\n", err.msg);
        return 1;
    }
    if (mproc_apool_apply(a, NULL, "1", 1, &x) != 0)
        bad++;
    mproc_async_free(x);
    for (i = 0; i < 2; i++)
        if (mproc_apool_apply_async(b, NULL, "1500", 4, NULL, &r[i]) < 0)
            bad++;
    sleep_ms(300); /* the second pool's workers run their tasks */
    mproc_apool_close(a);
    mproc_apool_join(a);
    mproc_apool_free(a);
    for (i = 0; i < 2; i++) {
        int st = r[i] ? mproc_async_get(r[i], 30000, &res, &nres) : -1;
        if (st != 0 && bad++ == 0)
            printf("task %d of the second pool: %s (%s)\n", i,
                   mproc_strerror(st), r[i] ? mproc_async_errmsg(r[i]) : "");
        mproc_async_free(r[i]);
    }
    mproc_apool_close(b);
    mproc_apool_join(b);
    mproc_apool_free(b);
    if (bad == 0)
        printf("ok\n");
    fflush(stdout);
    return bad != 0;
}

static void
test_two_pools(const char *self)
{
#if defined(__SANITIZE_ADDRESS__)
    /* A pool's result thread forks a worker when work comes, while this
     * thread allocates the next call's job: a fork while another thread
     * is in AddressSanitizer's allocator leaves the child stuck on its
     * lock (glibc's malloc is fork-safe, ASan's is not; a sanitizer run
     * of the suite hung here once, for the test's 300 s). */
    (void)self;
    ok(1, "10.5: two pools # SKIP under AddressSanitizer");
#else
    char buf[512];
    pid_t h = helper(self, "helper-two-pools", buf, sizeof(buf));
    int st = -1;

    waitpid(h, &st, 0);
    if (!ok(strcmp(buf, "ok\n") == 0 && WIFEXITED(st) &&
                WEXITSTATUS(st) == 0,
            "10.5: freeing one pool leaves the other's workers running "
            "their tasks"))
        diag("helper said '%s'", buf);
#endif
}

/* ---- 11.5: a signal during join ---- */

static atomic_int signals;

static void
on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&signals, 1);
}

static pthread_t main_thread;
static atomic_bool kicker_stop;

/* Signal the main thread every 100 ms until told to stop: it may not be
 * waiting yet at the first one. */
static void *
kicker(void *arg)
{
    (void)arg;
    while (!atomic_load(&kicker_stop)) {
        sleep_ms(100);
        pthread_kill(main_thread, SIGUSR1);
    }
    return NULL;
}

static void
test_eintr(void)
{
    struct sigaction sa, old;
    mproc_process_t *p;
    pthread_t t;
    int r, fds[1], ready[1], code = -1;
    ssize_t n;

    main_thread = pthread_self();
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, &old); /* no SA_RESTART */

    p = make("sleep", "60000", false);
    if (p == NULL || mproc_process_start(p) < 0) {
        ok(0, "11.5: a sleeper");
        done(p);
        return;
    }
    atomic_store(&kicker_stop, false);
    pthread_create(&t, NULL, kicker, NULL);
    r = mproc_process_join(p, 30000);
    is_int(r, MPROC_EINTR, "11.5: join ends with MPROC_EINTR on a signal "
           "handled without SA_RESTART");
    like_str(mproc_process_errmsg(p), "interrupted", "... and says so");
    fds[0] = mproc_process_sentinel(p);
    n = mproc_wait(fds, 1, 30000, ready);
    is_int(n, MPROC_EINTR, "11.5: so does mproc_wait");
    ok(mproc_process_is_alive(p), "11.5: the child still runs");
    atomic_store(&kicker_stop, true);
    pthread_join(t, NULL);
    mproc_process_kill(p);
    while (mproc_process_join(p, 30000) == MPROC_EINTR)
        ;
    done(p);

    /* With SA_RESTART the wait goes on to the end. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    p = make("sleep", "800", false);
    atomic_store(&signals, 0);
    atomic_store(&kicker_stop, false);
    pthread_create(&t, NULL, kicker, NULL);
    r = p != NULL && mproc_process_start(p) == 0 ? mproc_process_join(p, 30000)
                                                 : -1;
    atomic_store(&kicker_stop, true);
    pthread_join(t, NULL);
    is_int(r, 0, "11.5: with SA_RESTART, join waits for the end");
    ok(mproc_process_exitcode(p, &code) == 0 && code == 0 &&
           atomic_load(&signals) > 0,
       "11.5: ... through the signals (%d)", atomic_load(&signals));
    done(p);
    sigaction(SIGUSR1, &old, NULL);
}

/* ---- 12.10: the registry of descriptors forked children drop ---- */

static void
test_registry(void)
{
    int reg[2], unreg[2], bad = 0;
    mproc_process_t *p;
    struct pollfd pfd;

    ok(pipe2(reg, O_CLOEXEC) == 0 && pipe2(unreg, O_CLOEXEC) == 0,
       "12.10: two pipes");
    is_int(mproc__fork_fd_register(reg[1]), 0, "12.10: register one end");
    ok(mproc__fork_fd_registered(reg[1]) && !mproc__fork_fd_registered(unreg[1]),
       "12.10: registered is registered, the other not");
    is_int(mproc__fork_fd_register(-1), MPROC_EBADF,
           "12.10: a negative descriptor is refused");
    p = make("sleep", "60000", false);
    if (p == NULL || mproc_process_start(p) < 0)
        bad++;
    /* Our own write ends go; what the child holds keeps a pipe open. */
    mproc__fork_fd_close(reg[1]);
    close(unreg[1]);
    ok(!mproc__fork_fd_registered(reg[1]), "12.10: closed is unregistered");
    pfd.fd = reg[0];
    pfd.events = POLLIN;
    ok(bad == 0 && poll(&pfd, 1, 20000) == 1 && (pfd.revents & POLLHUP),
       "12.10: a registered descriptor is not in the %s child", method);
    pfd.fd = unreg[0];
    if (is_fork)
        ok(bad == 0 && poll(&pfd, 1, 0) == 0,
           "12.10: an unregistered one is (fork)");
    mproc_process_kill(p);
    mproc_process_join(p, -1);
    done(p);
    close(reg[0]);
    close(unreg[0]);
}

int
main(int argc, char **argv)
{
    alarm(300);
    if (setup_method(argc, argv, &method, plugin, &ctx) < 0)
        return 1;
    is_fork = strcmp(method, "fork") == 0;
    if (argc > 2 && strcmp(argv[1], "helper-thread-daemon") == 0)
        return helper_thread_daemon();
    if (argc > 2 && strcmp(argv[1], "helper-pool-thread") == 0)
        return helper_pool_thread();
    if (argc > 2 && strcmp(argv[1], "helper-two-pools") == 0)
        return helper_two_pools();

    diag("start method %s", method);
    test_fork_hammer();
    test_reap_race();
    test_thread_daemon(argv[0]);
    test_pool_thread(argv[0]);
    test_two_pools(argv[0]);
    test_eintr();
    test_registry();
    return done_testing();
}

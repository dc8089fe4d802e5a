/* SPDX-License-Identifier: MIT */
/*
 * Regression tests of the Pool API (mproc_apool_*) for issues 11 and 12:
 * a task runs once however its output is batched (12.1), batches keep to
 * message_max (12.2), a worker dying after it staged a whole batch loses
 * nothing (12.5), a failing input wakes its waiters (11.2), a result is
 * ready only after its callback (11.4), a signal interrupts a wait
 * (11.5), an empty input is an empty result (11.6), a task's input is
 * NUL-terminated (11.8), one slow task holds nobody back (12.9).
 * tests/pool-api-fixes-BACKEND.sh runs it on each IPC backend.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "tap.h"

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Memory shared with the workers (mapped before any fork). */
struct shared {
    long runs[4096];   /* executions per task index */
    int slow_state;    /* 1 while the slow task runs, 2 after */
    int slow_release;  /* set by the test: the slow task may end */
};
static struct shared *sh;

static void
runs_reset(void)
{
    memset(sh->runs, 0, sizeof(sh->runs));
}

/* A pool of function targets, or of the in-process plugin desc. */
static mproc_apool_t *
pool_of(const struct mproc_plugin *desc, unsigned workers,
        size_t message_max, int timeout_ms)
{
    struct mproc_pool_opts o;
    mproc_apool_t *p = NULL;
    mproc_err_t err;

    mproc_pool_opts_init(&o);
    o.workers = workers;
    o.plugin_desc = desc;
    if (message_max > 0)
        o.message_max = message_max;
    o.timeout_ms = timeout_ms;
    if (getenv("MPROC_TEST_IPC") != NULL)
        o.ipc = getenv("MPROC_TEST_IPC");
    if (mproc_apool_new(&p, &o, &err) < 0) {
        diag("mproc_apool_new: %s", err.msg);
        return NULL;
    }
    return p;
}

static mproc_apool_t *
new_pool(unsigned workers, size_t message_max, int timeout_ms)
{
    return pool_of(NULL, workers, message_max, timeout_ms);
}

static void
pool_end(mproc_apool_t *p)
{
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
}

static int
f_slow(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out);
static int
f_echo(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out);

/* ---- 12.1: a task runs once, whatever the size of its output ---- */

/* Counts its run, then writes (index * 397) % 4000 bytes. */
static int
f_sized(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    size_t n = (size_t)(index * 397 % 4000);
    __atomic_add_fetch(&sh->runs[index], 1, __ATOMIC_RELAXED);
    if (mproc_buf_reserve(out, n) != MPROC_TASK_OK)
        return MPROC_TASK_FAIL;
    if (n > 0)
        memset(out->data + out->len, 'a' + (int)(index % 26), n);
    out->len += n;
    return MPROC_TASK_OK;
}

static struct mproc_item *
items_of(size_t n, char (**text)[24])
{
    struct mproc_item *it = calloc(n, sizeof(*it));
    size_t i;
    *text = calloc(n, sizeof(**text));
    for (i = 0; i < n; i++) {
        snprintf((*text)[i], sizeof((*text)[i]), "%zu", i);
        it[i].data = (*text)[i];
        it[i].len = strlen((*text)[i]);
    }
    return it;
}

static void
test_runs_once(void)
{
    mproc_apool_t *p = new_pool(2, 4096, 0);
    struct mproc_call_opts call = {.chunksize = 8};
    const struct mproc_result *r;
    struct mproc_input in;
    mproc_async_t *ar = NULL;
    char(*text)[24];
    size_t n = 0, i, bad = 0, twice = 0;
    long total = 0;

    if (p == NULL)
        return;
    runs_reset();
    in = (struct mproc_input){.items = items_of(200, &text), .n = 200};
    is_int(mproc_apool_map(p, f_sized, &in, &call, &ar), 0,
           "12.1: map of 200 tasks with outputs of 0..4000 bytes, "
           "message_max 4096, chunks of 8");
    mproc_async_get(ar, 0, &r, &n);
    for (i = 0; i < n; i++)
        if (r[i].status != 0 || r[i].len != i * 397 % 4000)
            bad++;
    for (i = 0; i < 200; i++) {
        total += sh->runs[i];
        if (sh->runs[i] != 1)
            twice++;
    }
    ok(n == 200 && bad == 0, "... every output whole");
    is_int(twice, 0, "... no task ran more or less than once");
    is_int(total, 200, "... 200 executions in all");
    mproc_async_free(ar);
    free((void *)in.items);
    free(text);
    pool_end(p);
}

/* ---- 12.2: batches within message_max ---- */

static int
f_echo(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out)
{
    return mproc_buf_append(out, in, len);
}

static void
test_message_max(void)
{
    mproc_apool_t *p = new_pool(2, 4096, 0);
    struct mproc_item *it = calloc(2000, sizeof(*it));
    const struct mproc_result *r;
    struct mproc_input in = {.items = it, .n = 2000};
    mproc_async_t *ar = NULL;
    size_t n = 0, i, bad = 0;
    int st;

    if (p == NULL)
        return;
    for (i = 0; i < 2000; i++) {
        it[i].data = "x";
        it[i].len = 1;
    }
    st = mproc_apool_map(p, f_echo, &in, NULL, &ar);
    mproc_async_get(ar, 0, &r, &n);
    for (i = 0; i < n; i++)
        if (r[i].status != 0 || r[i].len != 1)
            bad++;
    is_int(st, 0, "12.2: message_max 4096, 2,000 one-byte tasks: map ok");
    if (st != 0)
        diag("  %s", mproc_async_errmsg(ar));
    ok(n == 2000 && bad == 0, "... every one succeeded");
    mproc_async_free(ar);

    /* The limit still holds for one item: message_max is the largest. */
    {
        static char big[4097];
        memset(big, 'b', sizeof(big));
        st = mproc_apool_apply(p, f_echo, big, 4096, &ar);
        is_int(st, 0, "... an item and output of exactly message_max: ok");
        mproc_async_free(ar);
        st = mproc_apool_apply(p, f_echo, big, 4097, &ar);
        is_int(st, MPROC_EMSGSIZE, "... one byte more: MPROC_EMSGSIZE");
        like_str(mproc_async_errmsg(ar), "message_max (4096)",
                 "... which names the limit");
        mproc_async_free(ar);
    }
    free(it);
    pool_end(p);
}

/* ---- 12.5: a death after a whole batch was staged ---- */

static int
f_counted(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
          struct mproc_buf *out)
{
    __atomic_add_fetch(&sh->runs[index], 1, __ATOMIC_RELAXED);
    return mproc_buf_printf(out, "%llu", (unsigned long long)index);
}

static void
test_staged_death(void)
{
    char hook[64], want[24];
    struct mproc_call_opts call = {.chunksize = 4};
    const struct mproc_result *r;
    struct mproc_input in;
    mproc_async_t *ar = NULL;
    mproc_apool_t *p;
    char(*text)[24];
    size_t n = 0, i, bad = 0, twice = 0;
    struct stat stt;

    snprintf(hook, sizeof(hook), "/tmp/mproc-apool-hook-%d", (int)getpid());
    unlink(hook);
    setenv("MPROC_TEST_HOOK_APOOL_DIE_AFTER_BATCH", hook, 1);
    /* Read by each worker as it starts. */
    p = new_pool(2, 0, 0);
    if (p == NULL) {
        unsetenv("MPROC_TEST_HOOK_APOOL_DIE_AFTER_BATCH");
        return;
    }
    runs_reset();
    in = (struct mproc_input){.items = items_of(64, &text), .n = 64};
    is_int(mproc_apool_map(p, f_counted, &in, &call, &ar), 0,
           "12.5: a worker dies after staging every task of its batch: "
           "the map succeeds");
    mproc_async_get(ar, 0, &r, &n);
    for (i = 0; i < n; i++) {
        snprintf(want, sizeof(want), "%zu", i);
        if (r[i].status != 0 || r[i].len != strlen(want) ||
            memcmp(r[i].data, want, r[i].len) != 0) {
            if (bad++ == 0)
                diag("  item %zu: status %d %s", i, r[i].status,
                     r[i].message ? r[i].message : "");
        }
    }
    for (i = 0; i < 64; i++)
        if (sh->runs[i] != 1)
            twice++;
    ok(stat(hook, &stt) == 0, "... (the hook killed a worker)");
    ok(n == 64 && bad == 0, "... every result kept, the last staged too");
    is_int(twice, 0, "... every task ran once");
    mproc_async_free(ar);
    free((void *)in.items);
    free(text);
    pool_end(p);
    unsetenv("MPROC_TEST_HOOK_APOOL_DIE_AFTER_BATCH");
    unlink(hook);
}

/* ---- 11.2: a failing input wakes its waiters ---- */

static int
next_fail(void *user, struct mproc_item *item)
{
    return MPROC_EIO;
}

static int
next_empty(void *user, struct mproc_item *item)
{
    return 0;
}

static void
test_failing_input(void)
{
    mproc_apool_t *p = new_pool(2, 0, 0);
    struct mproc_input in = {.next = next_fail};
    const struct mproc_result *r;
    mproc_imap_t *it = NULL;
    mproc_async_t *ar = NULL;
    double t0;
    int st;

    if (p == NULL)
        return;
    /* Before the fix: a hang (the alarm) or the whole timeout. */
    is_int(mproc_apool_map(p, f_echo, &in, NULL, &ar), MPROC_EIO,
           "11.2: map whose input fails at once returns its error");
    mproc_async_free(ar);

    mproc_apool_map_async(p, f_echo, &in, NULL, &ar);
    t0 = now();
    st = mproc_async_get(ar, 20000, &r, NULL);
    is_int(st, MPROC_EIO, "... get(20 s) on it: the input's error");
    ok(now() - t0 < 10, "... at once, not after the timeout (%.3f s)",
       now() - t0);
    mproc_async_free(ar);

    mproc_apool_imap(p, f_echo, &in, NULL, &it);
    t0 = now();
    is_int(mproc_imap_next(it, 20000, &r), MPROC_EIO,
           "... imap next(20 s): the input's error");
    ok(now() - t0 < 10, "... at once, not after the timeout (%.3f s)",
       now() - t0);
    is_int(mproc_imap_next(it, 20000, &r), 0, "... then the end");
    mproc_imap_free(it);

    in.next = next_empty;
    is_int(mproc_apool_map(p, f_echo, &in, NULL, &ar), 0,
           "... map of an input callback with no item: 0 at once");
    mproc_async_free(ar);
    pool_end(p);
}

/* A thread that waits for a result, then says what it got. */
struct waiter {
    mproc_async_t *ar;
    int st;
};

static void *
waiter_main(void *arg)
{
    struct waiter *w = arg;
    w->st = mproc_async_get(w->ar, -1, NULL, NULL);
    return NULL;
}

/* terminate() wakes a thread waiting on a task that never ends. */
static void
test_terminate_wakes(void)
{
    mproc_apool_t *p = new_pool(1, 0, 0);
    struct waiter w = {NULL, 1}, q = {NULL, 1};
    pthread_t th[2];

    if (p == NULL)
        return;
    sh->slow_state = 0;
    sh->slow_release = 0;
    /* One worker: the second task waits in the queue, never started. */
    mproc_apool_apply_async(p, f_slow, "", 0, NULL, &w.ar);
    mproc_apool_apply_async(p, f_echo, "x", 1, NULL, &q.ar);
    while (__atomic_load_n(&sh->slow_state, __ATOMIC_ACQUIRE) == 0)
        usleep(1000);
    pthread_create(&th[0], NULL, waiter_main, &w);
    pthread_create(&th[1], NULL, waiter_main, &q);
    usleep(50 * 1000); /* most likely asleep in get by now; either way */
    mproc_apool_terminate(p);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    is_int(w.st, MPROC_ECANCELED,
           "11.2: terminate wakes a waiter on a running task");
    is_int(q.st, MPROC_ECANCELED, "... and one on a task never started");
    mproc_async_free(w.ar);
    mproc_async_free(q.ar);
    mproc_apool_join(p);
    mproc_apool_free(p);
}

/* ---- 11.4: ready after the callback ---- */

static int cb_flag;

static void
cb_slow(void *user, mproc_async_t *ar)
{
    usleep(300 * 1000);
    __atomic_store_n(&cb_flag, 1, __ATOMIC_RELEASE);
}

static void
test_callback_then_ready(void)
{
    mproc_apool_t *p = new_pool(2, 0, 0);
    struct mproc_call_opts call = {.callback = cb_slow,
                                   .error_callback = cb_slow};
    struct mproc_item one = {"fail", 4};
    struct mproc_input in = {.items = &one, .n = 1};
    mproc_async_t *ar = NULL;

    if (p == NULL)
        return;
    cb_flag = 0;
    mproc_apool_apply_async(p, f_echo, "1", 1, &call, &ar);
    is_int(mproc_async_wait(ar, -1), 0, "11.4: wait() for an apply_async");
    is_int(__atomic_load_n(&cb_flag, __ATOMIC_ACQUIRE), 1,
           "... its callback (300 ms) had returned");
    mproc_async_free(ar);

    cb_flag = 0;
    mproc_apool_map_async(p, f_echo, &in, &call, &ar);
    while (!mproc_async_ready(ar))
        usleep(1000);
    is_int(__atomic_load_n(&cb_flag, __ATOMIC_ACQUIRE), 1,
           "... ready() of a map_async: its callback had returned");
    mproc_async_free(ar);
    pool_end(p);
}

/* ---- 11.5: a signal interrupts a wait ---- */

static volatile sig_atomic_t got_sig;
static int stop_kicker;

static void
on_usr1(int sig)
{
    got_sig = sig;
}

/* Signals the main thread every 20 ms until told to stop: one signal
 * could come before the wait starts. */
static void *
kicker(void *arg)
{
    pthread_t main_thr = *(pthread_t *)arg;
    while (!__atomic_load_n(&stop_kicker, __ATOMIC_ACQUIRE)) {
        pthread_kill(main_thr, SIGUSR1);
        usleep(20 * 1000);
    }
    return NULL;
}

static int
f_sleep(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    usleep((useconds_t)atoi(in) * 1000);
    return mproc_buf_printf(out, "slept");
}

static void
test_eintr(void)
{
    /* Two workers for the two long tasks, one for the short one. */
    mproc_apool_t *p = new_pool(3, 0, 0);
    struct mproc_item one = {"20000", 5};
    struct mproc_input in = {.items = &one, .n = 1};
    const struct mproc_result *r;
    struct sigaction sa, old;
    pthread_t self = pthread_self(), kt;
    mproc_async_t *ar = NULL, *quick = NULL;
    mproc_imap_t *it = NULL;
    double t0;

    if (p == NULL)
        return;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, &old);
    mproc_apool_apply_async(p, f_sleep, "20000", 5, NULL, &ar);
    mproc_apool_imap(p, f_sleep, &in, NULL, &it);

    stop_kicker = 0;
    pthread_create(&kt, NULL, kicker, &self);
    is_int(mproc_async_get(ar, -1, &r, NULL), MPROC_EINTR,
           "11.5: get(-1) interrupted by a handler without SA_RESTART: "
           "MPROC_EINTR");
    like_str(mproc_async_errmsg(ar), "interrupted", "... says so");
    is_int(mproc_async_wait(ar, 30000), MPROC_EINTR,
           "... wait(30 s): MPROC_EINTR");
    is_int(mproc_imap_next(it, -1, &r), MPROC_EINTR,
           "... imap next(-1): MPROC_EINTR");
    __atomic_store_n(&stop_kicker, 1, __ATOMIC_RELEASE);
    pthread_join(kt, NULL);
    ok(!mproc_async_ready(ar), "... the task still runs");

    /* With SA_RESTART the kernel restarts an untimed wait. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    mproc_apool_apply_async(p, f_sleep, "300", 3, NULL, &quick);
    stop_kicker = 0;
    pthread_create(&kt, NULL, kicker, &self);
    is_int(mproc_async_get(quick, -1, &r, NULL), 0,
           "... with SA_RESTART, get(-1) goes on to the result");
    __atomic_store_n(&stop_kicker, 1, __ATOMIC_RELEASE);
    pthread_join(kt, NULL);
    mproc_async_free(quick);

    sigaction(SIGUSR1, &old, NULL);
    t0 = now();
    mproc_apool_terminate(p);
    is_int(mproc_async_get(ar, -1, &r, NULL), MPROC_ECANCELED,
           "... after terminate: MPROC_ECANCELED");
    diag("terminate took %.3f s", now() - t0);
    mproc_async_free(ar);
    mproc_imap_free(it);
    mproc_apool_join(p);
    mproc_apool_free(p);
}

/* ---- 11.6: an empty input ---- */

static int empty_cb;

static void
cb_count(void *user, mproc_async_t *ar)
{
    __atomic_add_fetch(&empty_cb, 1, __ATOMIC_RELAXED);
}

static int
f_star(struct mproc_ctx *ctx, const struct mproc_item *args, size_t n,
       uint64_t index, struct mproc_buf *out)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (((const char *)args[i].data)[args[i].len] != '\0')
            return mproc_fail(ctx, "argument %zu is not NUL-terminated", i);
    return mproc_buf_printf(out, "%zu", n);
}

static void
test_empty(void)
{
    mproc_apool_t *p = new_pool(2, 0, 0);
    struct mproc_call_opts call = {.callback = cb_count};
    struct mproc_item none[1];
    struct mproc_input in = {.items = none, .n = 0};
    struct mproc_input in_null = {.items = NULL, .n = 0};
    const struct mproc_result *r = NULL;
    mproc_imap_t *it = NULL;
    mproc_async_t *ar = NULL;
    size_t n = 99;

    if (p == NULL)
        return;
    empty_cb = 0;
    is_int(mproc_apool_map(p, f_echo, &in, &call, &ar), 0,
           "11.6: map of an empty array: 0");
    is_int(mproc_async_get(ar, 0, &r, &n), 0, "... get: 0");
    is_int(n, 0, "... zero results");
    is_int(empty_cb, 1, "... its callback ran, once");
    mproc_async_free(ar);
    is_int(mproc_apool_map(p, f_echo, &in_null, NULL, &ar), 0,
           "... map of no array and no items: 0");
    mproc_async_free(ar);
    is_int(mproc_apool_map_async(p, f_echo, &in, NULL, &ar), 0,
           "... map_async: 0");
    is_int(mproc_async_get(ar, -1, &r, &n), 0, "... get: 0");
    is_int(n, 0, "... zero results");
    mproc_async_free(ar);
    is_int(mproc_apool_starmap(p, f_star, NULL, 0, NULL, &ar), 0,
           "... starmap of no tasks: 0");
    mproc_async_free(ar);
    is_int(mproc_apool_imap(p, f_echo, &in, NULL, &it), 0, "... imap: 0");
    is_int(mproc_imap_next(it, -1, &r), 0, "... its next: the end");
    mproc_imap_free(it);
    is_int(mproc_apool_imap_unordered(p, f_echo, &in, NULL, &it), 0,
           "... imap_unordered: 0");
    is_int(mproc_imap_next(it, -1, &r), 0, "... its next: the end");
    mproc_imap_free(it);
    pool_end(p);
}

/* ---- 11.8: NUL-terminated inputs ---- */

/* mproc-pool(3)'s example. */
static int
twice(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t i,
      struct mproc_buf *out)
{
    return mproc_buf_printf(out, "%d", 2 * atoi(in));
}

static int
f_nul(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    if (((const char *)in)[len] != '\0')
        return mproc_fail(ctx, "item %llu is not NUL-terminated",
                          (unsigned long long)index);
    return mproc_buf_append(out, in, len);
}

static void
check_nul_pool(mproc_apool_t *p, const char *how)
{
    /* Items packed end to end in one buffer: nothing but the pool puts
     * a NUL after each. */
    static const char packed[] = "1234567890abcdefghijklmnopqrstuvwxyz";
    struct mproc_item it[200];
    struct mproc_args targs[3];
    struct mproc_item args[3] = {{"12", 1}, {"23", 1}, {"3", 1}};
    struct mproc_input in = {.items = it, .n = 200};
    struct mproc_call_opts call = {.chunksize = 16};
    const struct mproc_result *r;
    mproc_imap_t *imap = NULL;
    mproc_async_t *ar = NULL;
    size_t i, n = 0, bad = 0;

    for (i = 0; i < 200; i++) {
        it[i].data = packed + i % 30;
        it[i].len = i % 7;
    }
    is_int(mproc_apool_map(p, f_nul, &in, &call, &ar), 0,
           "11.8 (%s): map: every item NUL-terminated", how);
    mproc_async_free(ar);
    is_int(mproc_apool_apply(p, f_nul, packed, 3, &ar), 0,
           "... apply", how);
    mproc_async_free(ar);
    mproc_apool_imap_unordered(p, f_nul, &in, NULL, &imap);
    while (mproc_imap_next(imap, -1, &r) == 1)
        if (r->status != 0)
            bad++;
    is_int(bad, 0, "... imap_unordered");
    mproc_imap_free(imap);
    for (i = 0; i < 3; i++) {
        targs[i].v = args;
        targs[i].n = i + 1;
    }
    is_int(mproc_apool_starmap(p, f_star, targs, 3, NULL, &ar), 0,
           "... starmap: every argument");
    mproc_async_free(ar);

    /* The man page's example, on items "12" and "2" cut to one byte. */
    it[0].data = "12";
    it[0].len = 1;
    it[1].data = "2";
    it[1].len = 1;
    in.n = 2;
    is_int(mproc_apool_map(p, twice, &in, NULL, &ar), 0,
           "... mproc-pool(3)'s example");
    mproc_async_get(ar, 0, &r, &n);
    ok(n == 2 && r[0].len == 1 && memcmp(r[0].data, "2", 1) == 0 &&
           r[1].len == 1 && memcmp(r[1].data, "4", 1) == 0,
       "... atoi(in) reads the item, not past it");
    mproc_async_free(ar);
}

static void
test_nul(void)
{
    mproc_apool_t *p = new_pool(2, 0, 0);
    if (p != NULL) {
        check_nul_pool(p, "batched");
        pool_end(p);
    }
    /* A time limit sends each task on its own. */
    p = new_pool(2, 0, 60000);
    if (p != NULL) {
        check_nul_pool(p, "one task per message");
        pool_end(p);
    }
}

/* ---- 12.9: one slow task holds nobody back ---- */

static int
f_slow(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out)
{
    int i;
    __atomic_store_n(&sh->slow_state, 1, __ATOMIC_RELEASE);
    for (i = 0; i < 30000 && !__atomic_load_n(&sh->slow_release,
                                               __ATOMIC_ACQUIRE);
         i++)
        usleep(1000);
    __atomic_store_n(&sh->slow_state, 2, __ATOMIC_RELEASE);
    return mproc_buf_printf(out, "slow");
}

static void
check_slow(int timeout_ms, size_t ntasks, const char *how)
{
    mproc_apool_t *p = new_pool(2, 0, timeout_ms);
    mproc_async_t *slow = NULL, *ar = NULL;
    struct mproc_input in;
    char(*text)[24];
    int st;

    if (p == NULL)
        return;
    sh->slow_state = 0;
    sh->slow_release = 0;
    mproc_apool_apply_async(p, f_slow, "", 0, NULL, &slow);
    while (__atomic_load_n(&sh->slow_state, __ATOMIC_ACQUIRE) == 0)
        usleep(1000);
    in = (struct mproc_input){.items = items_of(ntasks, &text), .n = ntasks};
    st = mproc_apool_map(p, f_echo, &in, NULL, &ar);
    is_int(st, 0, "12.9 (%s): a map of %zu tasks behind one slow task",
           how, ntasks);
    is_int(__atomic_load_n(&sh->slow_state, __ATOMIC_ACQUIRE), 1,
           "... ends while the slow task still runs");
    __atomic_store_n(&sh->slow_release, 1, __ATOMIC_RELEASE);
    is_int(mproc_async_get(slow, -1, NULL, NULL), 0,
           "... which then ends too");
    mproc_async_free(ar);
    mproc_async_free(slow);
    free((void *)in.items);
    free(text);
    pool_end(p);
}

static void
test_slow_task(void)
{
    check_slow(0, 3000, "batched");
    /* A time limit sends one task per message.  500 messages: past about
     * 1,000 the engine's own window (pool.c, ordered by index even in
     * unordered mode) holds them back, which is the engine's part of
     * 12.9. */
    check_slow(60000, 500, "one task per message");
}

/* ---- 12.10: two pools, each closes on its own ---- */

static char fini_dir[64];

static int
t_pid(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    return mproc_buf_printf(out, "%d", (int)getpid());
}

/* Leaves a file named after the worker: proof that fini ran. */
static void
t_fini(struct mproc_ctx *ctx)
{
    char path[128];
    int fd;
    snprintf(path, sizeof(path), "%s/fini-%d", fini_dir, (int)getpid());
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
}

static const struct mproc_task_def pid_tasks[] = {
    {"pid", t_pid, "the worker's pid"},
    {NULL, NULL, NULL},
};

static const struct mproc_plugin fini_desc = {
    .abi_major = MPROC_PLUGIN_ABI_MAJOR,
    .abi_minor = MPROC_PLUGIN_ABI_MINOR,
    .size = sizeof(struct mproc_plugin),
    .name = "finitest",
    .version = "1",
    .fini = t_fini,
    .tasks = pid_tasks,
};

/* Runs 20 tasks; *pids gets the workers that ran them.  0 or -1. */
static int
run_pids(mproc_apool_t *p, int pids[20])
{
    static struct mproc_item it[20];
    struct mproc_input in = {.items = it, .n = 20};
    const struct mproc_result *r;
    mproc_async_t *ar = NULL;
    size_t n = 0, i;
    int st;

    for (i = 0; i < 20; i++) {
        it[i].data = "x";
        it[i].len = 1;
    }
    st = mproc_apool_map(p, NULL, &in, NULL, &ar);
    if (st != 0) {
        const char *m = ar != NULL ? mproc_async_errmsg(ar)
                                   : mproc_apool_errmsg(p);
        diag("map: %s", m);
        /* The mq backend under the whole suite: the user's message queue
         * budget (RLIMIT_MSGQUEUE, issue 10.8) may be spent by other
         * tests at that moment.  Not what is tested here. */
        if (strstr(m, "cannot open a channel") != NULL) {
            mproc_async_free(ar);
            return -2;
        }
    }
    mproc_async_get(ar, 0, &r, &n);
    for (i = 0; i < 20; i++)
        pids[i] = i < n && r[i].status == 0 ? atoi(r[i].data) : 0;
    mproc_async_free(ar);
    return st == 0 && n == 20 ? 0 : -1;
}

/* close + join of p: 0 when it was quick and every worker in pids ran
 * its fini. */
static int
end_checked(mproc_apool_t *p, const int pids[20], double *took)
{
    char path[128];
    struct stat st;
    double t0 = now();
    int missing = 0, i;

    mproc_apool_close(p);
    if (mproc_apool_join(p) != 0)
        return -1;
    *took = now() - t0;
    for (i = 0; i < 20; i++) {
        snprintf(path, sizeof(path), "%s/fini-%d", fini_dir, pids[i]);
        if (pids[i] == 0 || stat(path, &st) != 0)
            missing++;
    }
    return *took < 5 && missing == 0 ? 0 : -1;
}

struct pool_thread {
    mproc_apool_t *p;
    int pids[20];
    int st;
};

/* Creates a pool and runs tasks on it, while another thread does too:
 * each starts workers while the other may fork. */
static void *
pool_thread(void *arg)
{
    struct pool_thread *t = arg;
    t->p = pool_of(&fini_desc, 2, 0, 0);
    t->st = t->p != NULL ? run_pids(t->p, t->pids) : -1;
    return NULL;
}

static void
test_two_pools_at_once(void)
{
    struct pool_thread t[2];
    pthread_t th[2];
    double took = 0;
    int bad = 0, done = 0, round, i;

#if defined(__SANITIZE_ADDRESS__)
    /* A fork while the other thread is in AddressSanitizer's allocator
     * leaves the child stuck on its lock (glibc's malloc is fork-safe,
     * ASan's is not): this test forks from two threads at once. */
    ok(1, "12.10: two pools started at once # SKIP under AddressSanitizer");
    return;
#endif
    /* Each worker start holds its new channels unregistered for 20 ms
     * (a test hook), so that the other thread's forks land there. */
    setenv("MPROC_TEST_HOOK_APOOL_SLOW_OPEN", "20", 1);
    for (round = 0; round < 5; round++) {
        memset(t, 0, sizeof(t));
        for (i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, pool_thread, &t[i]);
        for (i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        for (i = 0; i < 2; i++) {
            if (t[i].st == -2) {
                mproc_apool_free(t[i].p); /* no worker could start */
                continue;
            }
            done++;
            if (t[i].st != 0 || end_checked(t[i].p, t[i].pids, &took) < 0) {
                diag("round %d, pool %d: tasks %d, %.3f s: %s", round, i,
                     t[i].st, took,
                     t[i].p != NULL ? mproc_apool_errmsg(t[i].p) : "no pool");
                bad++;
            }
            mproc_apool_free(t[i].p);
        }
    }
    unsetenv("MPROC_TEST_HOOK_APOOL_SLOW_OPEN");
    if (done == 0) {
        ok(1, "12.10: two pools started at once # SKIP no worker could "
              "start (message queue budget spent by other tests)");
        return;
    }
    is_int(bad, 0, "12.10: two pools started at once from two threads, "
                   "5 times: each closes quickly and its workers run fini "
                   "(%d of 10 pools ran)", done);
}

static void
test_two_pools(void)
{
    mproc_apool_t *p1 = NULL, *p2 = NULL;
    int pids2[20], pids1[20], r1, r2;
    double took = 0;

    snprintf(fini_dir, sizeof(fini_dir), "/tmp/mproc-fini-XXXXXX");
    if (mkdtemp(fini_dir) == NULL) {
        ok(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    /* p2's workers first, then p1's: forked later, p1's workers would
     * hold p2's task channels open.  p1 is made only once p2's workers
     * run, so that no thread of p1 is busy while p2 forks (under
     * AddressSanitizer, whose allocator is not fork-safe, a child forked
     * while another thread allocates can stick). */
    p2 = pool_of(&fini_desc, 2, 0, 0);
    if (p2 == NULL)
        goto out;
    r2 = run_pids(p2, pids2);
    p1 = r2 == 0 ? pool_of(&fini_desc, 2, 0, 0) : NULL;
    if (r2 == 0 && p1 == NULL)
        goto out;
    r1 = r2 == 0 ? run_pids(p1, pids1) : r2;
    if (r1 == -2) {
        ok(1, "12.10: two plugin pools # SKIP no worker could start "
              "(message queue budget spent by other tests)");
    } else {
        is_int(r2, 0, "12.10: two plugin pools: tasks on p2");
        is_int(r1, 0, "... then on p1");
        ok(end_checked(p2, pids2, &took) == 0,
           "... close + join of p2: quick (%.3f s), every worker ran its "
           "fini", took);
    }
    test_two_pools_at_once();
out:
    if (p2 != NULL)
        mproc_apool_free(p2);
    if (p1 != NULL)
        pool_end(p1);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fini_dir);
        if (system(cmd) != 0)
            diag("could not remove %s", fini_dir);
    }
}

/* ---- 11.7: who a worker is ---- */

static int
f_who(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    mproc_process_t *par = mproc_parent_process();
    return mproc_buf_printf(out, "%s %s %d",
                            mproc_process_name(mproc_current_process()),
                            par != NULL ? mproc_process_name(par) : "-",
                            par != NULL ? (int)mproc_process_pid(par) : 0);
}

static void
test_identity(void)
{
    mproc_apool_t *p = new_pool(2, 0, 0);
    mproc_async_t *ar = NULL;
    const struct mproc_result *r;
    char want[64], got[128] = "";
    mproc_process_t *kids[8];
    size_t n;

    if (p == NULL)
        return;
    is_int(mproc_apool_apply(p, f_who, "", 0, &ar), 0,
           "11.7: apply in a pool worker");
    if (mproc_async_get(ar, 0, &r, NULL) == 0)
        snprintf(got, sizeof(got), "%.*s", (int)r->len,
                 (const char *)r->data);
    like_str(got, "ForkPoolWorker-", "... it is ForkPoolWorker-N");
    snprintf(want, sizeof(want), " MainProcess %d", (int)getpid());
    like_str(got, want, "... its parent is this process");
    mproc_async_free(ar);
    n = mproc_active_children(kids, 8);
    is_int(n, 2, "... active_children counts the 2 live workers");
    if (n == 2 && n <= 8)
        like_str(mproc_process_name(kids[0]), "ForkPoolWorker-",
                 "... by name");
    pool_end(p);
    is_int(mproc_active_children(kids, 8), 0,
           "... and none once the pool is joined");
}

/* The same with a plugin file, on each start method: proc.so's whoami
 * says "NAME|PARENT-NAME". */
static void
check_identity_method(const char *method, const char *want)
{
    char plugin[512], got[256] = "";
    const char *dir = getenv("MPROC_TEST_PLUGINS");
    struct mproc_pool_opts o;
    const struct mproc_result *r;
    mproc_async_t *ar = NULL;
    mproc_apool_t *p = NULL;
    mproc_err_t err;

    snprintf(plugin, sizeof(plugin), "%s/proc.so",
             dir != NULL ? dir : "tests/.libs");
    mproc_pool_opts_init(&o);
    o.workers = 1;
    o.plugin = plugin;
    o.task = "whoami";
    o.start_method = method;
    if (getenv("MPROC_TEST_IPC") != NULL)
        o.ipc = getenv("MPROC_TEST_IPC");
    if (mproc_apool_new(&p, &o, &err) < 0) {
        ok(0, "11.7 (%s): a plugin pool: %s", method, err.msg);
        return;
    }
    if (mproc_apool_apply(p, NULL, "", 0, &ar) == 0 &&
        mproc_async_get(ar, 0, &r, NULL) == 0)
        snprintf(got, sizeof(got), "%.*s", (int)r->len,
                 (const char *)r->data);
    else
        snprintf(got, sizeof(got), "failed: %s", mproc_async_errmsg(ar));
    like_str(got, want, "11.7 (%s): a plugin worker is %s...", method, want);
    like_str(got, "|MainProcess", "... its parent MainProcess");
    mproc_async_free(ar);
    pool_end(p);
}

static void
test_identity_methods(void)
{
    check_identity_method("fork", "ForkPoolWorker-");
    check_identity_method("spawn", "SpawnPoolWorker-");
    check_identity_method("forkserver", "ForkServerPoolWorker-");
}

/* No child of this process is left (zombie or alive). */
static int
children_left(void)
{
    int n = 0;
    pid_t r;
    while ((r = waitpid(-1, NULL, WNOHANG)) > 0)
        n++;
    return n + (r == 0);
}

/* ---- What a forked function worker inherits ----
 *
 * As in Python, a Queue made before a fork pool works in its tasks: a
 * function worker keeps the caller's open objects (only plugin workers
 * drop everything but their channels, issue 10.3). */
static mproc_queue_t *inh_q;

static int
f_put(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    (void)index;
    (void)out;
    if (mproc_queue_put(inh_q, in, len, 10000) != 0) {
        mproc_fail(ctx, "queue put failed");
        return MPROC_TASK_FAIL;
    }
    return MPROC_TASK_OK;
}

static void
test_inherited_queue(void)
{
    struct mproc_queue_opts qo;
    struct mproc_input in = {0};
    struct mproc_item *it;
    char (*text)[24];
    mproc_async_t *ar = NULL;
    mproc_apool_t *p;
    mproc_err_t err;
    char buf[64];
    size_t len, i, got = 0, sum = 0;
    int r;

    mproc_queue_opts_init(&qo);
    if (getenv("MPROC_TEST_IPC") != NULL)
        qo.backend = getenv("MPROC_TEST_IPC");
    if (mproc_queue_new(&inh_q, &qo, &err) < 0) {
        ok(0, "queue: %s", err.msg);
        return;
    }
    p = new_pool(2, 0, 0);
    it = items_of(100, &text);
    in.items = it;
    in.n = 100;
    /* Workers start on demand, from the pool's thread.  Under
     * AddressSanitizer (gcc 12), whose allocator is not fork-safe, a
     * worker forked while this thread allocates in a get can stick for
     * good; so a first map starts both workers before the gets begin. */
    if (p != NULL && mproc_apool_map(p, f_echo, &in, NULL, &ar) != 0)
        diag("warm-up map: %s", mproc_async_errmsg(ar));
    mproc_async_free(ar);
    ar = NULL;
    /* Read while the map runs: a transport (an mq queue) may hold fewer
     * than 100 messages, and a put waits for room. */
    r = p == NULL ? -1 : mproc_apool_map_async(p, f_put, &in, NULL, &ar);
    is_int(r, 0, "inherited queue: a map of 100 puts is submitted");
    for (i = 0; i < 100 && r == 0; i++) {
        if (mproc_queue_get(inh_q, buf, sizeof(buf) - 1, &len, 10000) != 0)
            break;
        buf[len] = '\0';
        got++;
        sum += (size_t)atol(buf);
    }
    is_int((int)got, 100, "inherited queue: every task's message arrives");
    is_int((int)sum, 4950, "inherited queue: each item once");
    is_int(ar == NULL ? -1 : mproc_async_wait(ar, 30000), 0,
           "inherited queue: the map ends");
    is_int(ar == NULL ? -1 : mproc_async_successful(ar), 1,
           "inherited queue: every put succeeded");
    mproc_async_free(ar);
    if (p != NULL)
        pool_end(p);
    mproc_queue_free(inh_q);
    free(it);
    free(text);
}

#define RUN(t, secs)                                                        \
    do {                                                                    \
        const char *only_ = getenv("MPROC_TEST_ONLY");                      \
        if (only_ == NULL || strcmp(only_, #t) == 0) {                      \
            alarm(secs);                                                    \
            t();                                                            \
        }                                                                   \
    } while (0)

int
main(void)
{
    void *m = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    sh = m;
    /* Each test is bounded: a hang fails the program.  MPROC_TEST_ONLY
     * names one test to run (to see it fail before its fix). */
    RUN(test_runs_once, 60);
    RUN(test_message_max, 60);
    RUN(test_staged_death, 60);
    RUN(test_failing_input, 60);
    RUN(test_terminate_wakes, 60);
    RUN(test_callback_then_ready, 60);
    RUN(test_eintr, 60);
    RUN(test_empty, 60);
    RUN(test_nul, 60);
    RUN(test_two_pools, 60);
    RUN(test_inherited_queue, 60);
    RUN(test_identity, 60);
    RUN(test_slow_task, 90);
    alarm(60);
    is_int(children_left(), 0, "no child process left");
    /* Last: the forkserver it starts lives as long as this process. */
    RUN(test_identity_methods, 60);
    munmap(sh, sizeof(*sh));
    return done_testing();
}

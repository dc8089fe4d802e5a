/* SPDX-License-Identifier: MIT */
/*
 * The Python-style Pool API (mproc_apool_*): every call, every error a
 * user can reach, worker deaths, time limits, terminate, broken pools,
 * callbacks and the thread they run in, backpressure of imap, and that no
 * child is left behind.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* ---- function targets ---- */

/* Doubles a decimal number; misbehaves on request. */
static int
f_double(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%.*s", (int)len, (const char *)in);
    if (strcmp(buf, "fail") == 0)
        return mproc_fail(ctx, "failing item %llu on purpose",
                          (unsigned long long)index);
    if (strcmp(buf, "segv") == 0)
        raise(SIGSEGV);
    if (strcmp(buf, "exit3") == 0)
        _exit(3);
    if (strncmp(buf, "sleep", 5) == 0) {
        usleep((useconds_t)atoi(buf + 5) * 1000);
        return mproc_buf_printf(out, "slept");
    }
    return mproc_buf_printf(out, "%lld", 2 * atoll(buf));
}

/* Counts its runs in memory shared with the test (mapped before fork). */
static long *runs;

static int
f_counted(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
          struct mproc_buf *out)
{
    __atomic_add_fetch(runs, 1, __ATOMIC_RELAXED);
    return f_double(ctx, in, len, index, out);
}

/* The worker's pid, and what the initializer left in ctx->state. */
static int
f_whoami(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    return mproc_buf_printf(out, "%d %s", (int)getpid(),
                            ctx->state ? (const char *)ctx->state : "-");
}

static int
f_index(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    return mproc_buf_printf(out, "%llu", (unsigned long long)index);
}

static int
f_star(struct mproc_ctx *ctx, const struct mproc_item *args, size_t n,
       uint64_t index, struct mproc_buf *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (i > 0 && mproc_buf_append(out, "+", 1) != MPROC_TASK_OK)
            return MPROC_TASK_FAIL;
        if (mproc_buf_append(out, args[i].data, args[i].len) !=
            MPROC_TASK_OK)
            return MPROC_TASK_FAIL;
    }
    return MPROC_TASK_OK;
}

static char init_state[] = "initialised";

static int
init_ok(struct mproc_ctx *ctx, void *arg)
{
    ctx->state = arg;
    return MPROC_TASK_OK;
}

static int
init_fail(struct mproc_ctx *ctx, void *arg)
{
    return mproc_fail(ctx, "initializer refuses on purpose");
}

/* ---- a plugin, in this program ---- */

static int
t_upper(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    size_t i;
    if (mproc_buf_reserve(out, len) != MPROC_TASK_OK)
        return MPROC_TASK_FAIL;
    for (i = 0; i < len; i++) {
        char c = ((const char *)in)[i];
        out->data[out->len++] = c >= 'a' && c <= 'z' ? c - 32 : c;
    }
    return MPROC_TASK_OK;
}

static const struct mproc_task_def tasks[] = {
    {"upper", t_upper, "upper-case"},
    {NULL, NULL, NULL},
};

static const struct mproc_plugin desc = {
    .abi_major = MPROC_PLUGIN_ABI_MAJOR,
    .abi_minor = MPROC_PLUGIN_ABI_MINOR,
    .size = sizeof(struct mproc_plugin),
    .name = "testapi",
    .version = "1",
    .tasks = tasks,
};

/* ---- helpers ---- */

static mproc_apool_t *
new_pool(unsigned workers, void (*tweak)(struct mproc_pool_opts *))
{
    struct mproc_pool_opts o;
    mproc_apool_t *p = NULL;
    mproc_err_t err;
    int r;

    mproc_pool_opts_init(&o);
    o.workers = workers;
    /* tests/pool-api-BACKEND.sh runs the program on each IPC backend. */
    if (getenv("MPROC_TEST_IPC") != NULL)
        o.ipc = getenv("MPROC_TEST_IPC");
    if (tweak != NULL)
        tweak(&o);
    r = mproc_apool_new(&p, &o, &err);
    if (r < 0) {
        diag("mproc_apool_new: %s", err.msg);
        return NULL;
    }
    return p;
}

static char *
res_str(const struct mproc_result *r)
{
    static char buf[256];
    if (r->status != 0)
        snprintf(buf, sizeof(buf), "error %d: %s", r->status,
                 r->message ? r->message : "(null)");
    else
        snprintf(buf, sizeof(buf), "%.*s", (int)r->len,
                 (const char *)r->data);
    return buf;
}

static const char *
apply_str(mproc_apool_t *p, mproc_task_fn fn, const char *in, int *status)
{
    static char buf[256];
    mproc_async_t *ar = NULL;
    const struct mproc_result *r;
    int st = mproc_apool_apply(p, fn, in, strlen(in), &ar);

    if (status != NULL)
        *status = st;
    if (ar == NULL) {
        snprintf(buf, sizeof(buf), "not submitted: %s",
                 mproc_apool_errmsg(p));
        return buf;
    }
    mproc_async_get(ar, 0, &r, NULL);
    snprintf(buf, sizeof(buf), "%s", res_str(r));
    mproc_async_free(ar);
    return buf;
}

/* Items "0", "1", ... as an array. */
struct numbers {
    struct mproc_item *items;
    char (*text)[24];
    size_t n;
};

static void
numbers_init(struct numbers *nb, size_t n)
{
    size_t i;
    nb->n = n;
    nb->items = calloc(n, sizeof(*nb->items));
    nb->text = calloc(n, sizeof(*nb->text));
    for (i = 0; i < n; i++) {
        snprintf(nb->text[i], sizeof(nb->text[i]), "%zu", i);
        nb->items[i].data = nb->text[i];
        nb->items[i].len = strlen(nb->text[i]);
    }
}

static void
numbers_free(struct numbers *nb)
{
    free(nb->items);
    free(nb->text);
}

/* ---- tests ---- */

static void
opt_init(struct mproc_pool_opts *o)
{
    o->initializer = init_ok;
    o->initarg = init_state;
}

static void
test_apply(void)
{
    mproc_apool_t *p = new_pool(2, opt_init);
    mproc_async_t *ar = NULL;
    const struct mproc_result *r;
    size_t n;
    int st;

    ok(p != NULL, "function pool with an initializer");
    if (p == NULL)
        return;
    is_int(mproc_apool_workers(p), 2, "workers as asked");
    is_str(apply_str(p, f_double, "21", &st), "42", "apply returns output");
    is_int(st, 0, "apply: status 0");
    like_str(apply_str(p, f_whoami, "", NULL), " initialised",
             "the initializer ran in the worker, ctx->state = initarg");
    is_str(apply_str(p, f_double, "fail", &st),
           "error -4006: failing item 0 on purpose",
           "apply of a failing task: its message");
    is_int(st, MPROC_ETASK, "apply of a failing task: MPROC_ETASK");

    st = mproc_apool_apply(p, f_double, "fail", 4, &ar);
    is_str(mproc_async_errmsg(ar), "failing item 0 on purpose",
           "async errmsg is the task's message");
    is_int(mproc_async_successful(ar), 0, "successful() false on failure");
    mproc_async_free(ar);

    /* get / wait with timeouts, ready, successful */
    /* Long enough that a loaded machine still runs the checks below
     * while it sleeps. */
    ok(mproc_apool_apply_async(p, f_double, "sleep1500", 9, NULL, &ar) == 0,
       "apply_async returns at once");
    ok(!mproc_async_ready(ar), "ready() false while running");
    is_int(mproc_async_successful(ar), MPROC_EINVAL,
           "successful() before ready is an error");
    like_str(mproc_async_errmsg(ar), "not ready", "... and says so");
    is_int(mproc_async_get(ar, 20, &r, &n), MPROC_EAGAIN,
           "get(20 ms) on a running task: MPROC_EAGAIN, not ETIMEDOUT");
    is_int(mproc_async_wait(ar, 0), MPROC_EAGAIN, "wait(0): not ready");
    is_int(mproc_async_wait(ar, 20), MPROC_EAGAIN, "wait(20 ms): not ready");
    is_int(mproc_async_wait(ar, -1), 0, "wait(-1) until ready");
    ok(mproc_async_ready(ar), "ready() after wait");
    is_int(mproc_async_get(ar, 0, &r, &n), 0, "get(0) when ready");
    is_int(n, 1, "one result");
    is_str(res_str(r), "slept", "its output");
    is_int(mproc_async_successful(ar), 1, "successful() true");
    mproc_async_free(ar);

    ok(mproc_apool_close(p) == 0, "close");
    ok(mproc_apool_join(p) == 0, "join after close");
    mproc_apool_free(p);
}

/* Bursts of apply_async: more jobs at once than one of the pool's slabs
 * of apply jobs holds (jobslab.c), freed forward, backward and
 * interleaved, with jobs of large items (from the heap) and ones never
 * waited for among them; every result is its own item's, every time. */
#define BURST 5000
static void
test_bursts(void)
{
    static mproc_async_t *ar[BURST];
    static char item[BURST][96];
    mproc_apool_t *p = new_pool(2, NULL);
    int round, bad = 0, fails = 0;
    size_t i, k;

    if (p == NULL) {
        ok(false, "bursts: a pool");
        return;
    }
    /* Both workers forked before the burst allocates: a fork while this
     * thread is in AddressSanitizer's allocator (not fork-safe) would
     * leave the child stuck. */
    apply_str(p, f_double, "1", NULL);
    for (i = 0; i < 500; i++) {
        mproc_process_t *w[4];
        if (mproc_active_children(w, 4) >= 2)
            break;
        usleep(10000);
    }
    for (round = 0; round < 3; round++) {
        for (i = 0; i < BURST; i++) {
            /* Every 7th item is longer than a slab job's room. */
            int len = snprintf(item[i], sizeof(item[i]), "%zu", i + round);
            if (i % 7 == 0) {
                memset(item[i] + len, ' ', 80 - (size_t)len);
                len = 80;
            }
            if (i % 11 == 5 &&
                mproc_apool_apply_async(p, f_double, item[i], (size_t)len,
                                        NULL, NULL) < 0)
                fails++; /* fire and forget: freed by the pool */
            if (mproc_apool_apply_async(p, f_double, item[i], (size_t)len,
                                        NULL, &ar[i]) < 0) {
                fails++;
                ar[i] = NULL;
            }
        }
        for (k = 0; k < BURST; k++) {
            const struct mproc_result *r;
            char want[32];
            /* round 0 forward, 1 backward, 2 odd ones first */
            i = round == 0   ? k
                : round == 1 ? BURST - 1 - k
                : k < BURST / 2 ? 2 * k + 1
                                : 2 * (k - BURST / 2);
            if (ar[i] == NULL)
                continue;
            snprintf(want, sizeof(want), "%zu", 2 * (i + (size_t)round));
            if (mproc_async_get(ar[i], -1, &r, NULL) != 0 ||
                strcmp(res_str(r), want) != 0)
                bad++;
            mproc_async_free(ar[i]);
        }
    }
    is_int(fails, 0, "bursts: 3 x %d apply_async calls taken", BURST);
    is_int(bad, 0, "bursts: every result is its item's, freed in any "
           "order");
    is_str(apply_str(p, f_double, "21", NULL), "42",
           "bursts: apply after them");
    ok(mproc_apool_close(p) == 0 && mproc_apool_join(p) == 0,
       "bursts: close and join");
    mproc_apool_free(p);
}

/* Callbacks: which thread, how often. */
struct cbs {
    pthread_mutex_t mu;
    int ok, err;
    bool other_thread;
    pthread_t main;
    int apply_in_cb, get_in_cb, join_in_cb;
    mproc_apool_t *p;
};

static void
on_ok(void *user, mproc_async_t *ar)
{
    struct cbs *c = user;
    const struct mproc_result *r;
    mproc_async_t *x = NULL;

    pthread_mutex_lock(&c->mu);
    c->ok++;
    c->other_thread = !pthread_equal(pthread_self(), c->main);
    if (c->apply_in_cb == 1) {
        c->apply_in_cb = mproc_apool_apply(c->p, f_double, "1", 1, &x);
        mproc_async_free(x);
        c->join_in_cb = mproc_apool_join(c->p);
        /* A not-ready result: waiting on it would deadlock. */
        mproc_apool_apply_async(c->p, f_double, "sleep50", 7, NULL, &x);
        c->get_in_cb = mproc_async_get(x, -1, &r, NULL);
        mproc_async_free(x);
    }
    pthread_mutex_unlock(&c->mu);
}

static void
on_err(void *user, mproc_async_t *ar)
{
    struct cbs *c = user;
    pthread_mutex_lock(&c->mu);
    c->err++;
    pthread_mutex_unlock(&c->mu);
}

static void
test_callbacks(void)
{
    mproc_apool_t *p = new_pool(2, NULL);
    struct cbs c = {.mu = PTHREAD_MUTEX_INITIALIZER, .main = pthread_self()};
    struct mproc_call_opts call = {.callback = on_ok,
                                   .error_callback = on_err,
                                   .user = &c};
    mproc_async_t *a1, *a2, *a3;
    struct mproc_item items[3] = {{"1", 1}, {"fail", 4}, {"3", 1}};
    struct mproc_input in = {.items = items, .n = 3};
    int i;

    if (p == NULL)
        return;
    c.p = p;
    mproc_apool_apply_async(p, f_double, "5", 1, &call, &a1);
    mproc_apool_apply_async(p, f_double, "fail", 4, &call, &a2);
    mproc_apool_map_async(p, f_double, &in, &call, &a3);
    for (i = 0; i < 5; i++)
        mproc_apool_apply_async(p, f_double, "7", 1, &call, NULL);
    mproc_async_wait(a1, -1);
    mproc_async_wait(a2, -1);
    mproc_async_wait(a3, -1);
    /* Fire-and-forget results: wait for their callbacks. */
    for (i = 0; i < 500; i++) {
        int done;
        pthread_mutex_lock(&c.mu);
        done = c.ok + c.err;
        pthread_mutex_unlock(&c.mu);
        if (done == 8)
            break;
        usleep(10000);
    }
    is_int(c.ok, 6, "callback once per successful call (6)");
    is_int(c.err, 2, "error_callback once per failed call (apply, map)");
    ok(c.other_thread, "callbacks run in the pool's result thread");
    mproc_async_free(a1);
    mproc_async_free(a2);
    mproc_async_free(a3);

    /* Blocking calls from a callback are refused, not deadlocked. */
    c.apply_in_cb = 1;
    mproc_apool_apply_async(p, f_double, "1", 1, &call, &a1);
    mproc_async_wait(a1, -1);
    usleep(50000);
    pthread_mutex_lock(&c.mu);
    is_int(c.apply_in_cb, MPROC_EINVAL, "apply() in a callback: MPROC_EINVAL");
    is_int(c.join_in_cb, MPROC_EINVAL, "join() in a callback: MPROC_EINVAL");
    is_int(c.get_in_cb, MPROC_EINVAL,
           "get() of a running task in a callback: MPROC_EINVAL");
    pthread_mutex_unlock(&c.mu);
    mproc_async_free(a1);
    mproc_apool_close(p);
    is_int(mproc_apool_join(p), 0, "join");
    mproc_apool_free(p);
}

static void
test_map(void)
{
    mproc_apool_t *p = new_pool(2, NULL);
    struct numbers nb;
    struct mproc_input in;
    struct mproc_call_opts call = {0};
    const struct mproc_result *r;
    mproc_async_t *ar;
    size_t n, i;
    unsigned cs[] = {0, 1, 7};
    unsigned k;
    int st;

    if (p == NULL)
        return;
    numbers_init(&nb, 5000);
    in = (struct mproc_input){.items = nb.items, .n = nb.n};
    for (k = 0; k < 3; k++) {
        bool good = true;
        call.chunksize = cs[k];
        st = mproc_apool_map(p, f_double, &in, &call, &ar);
        is_int(st, 0, "map of 5000, chunksize %u: status 0", cs[k]);
        mproc_async_get(ar, 0, &r, &n);
        is_int(n, 5000, "... 5000 results");
        for (i = 0; i < n && good; i++) {
            char want[32];
            snprintf(want, sizeof(want), "%zu", 2 * i);
            good = r[i].status == 0 && r[i].index == i &&
                   strcmp(res_str(&r[i]), want) == 0;
            if (!good)
                diag("item %zu: %s", i, res_str(&r[i]));
        }
        ok(good, "... in input order, each right");
        mproc_async_free(ar);
    }

    /* Failures: the first failed item's status and message. */
    nb.items[7].data = "fail";
    nb.items[7].len = 4;
    nb.items[3].data = "fail";
    nb.items[3].len = 4;
    st = mproc_apool_map(p, f_double, &in, NULL, &ar);
    is_int(st, MPROC_ETASK, "map with failures: the first one's status");
    is_str(mproc_async_errmsg(ar), "item 3: failing item 3 on purpose",
           "... and its message, naming the item");
    mproc_async_get(ar, 0, &r, &n);
    ok(n == 5000 && r[3].status == MPROC_ETASK && r[7].status == MPROC_ETASK &&
           r[4].status == 0,
       "... every other item has its own result");
    mproc_async_free(ar);

    /* map_async, and an index that is the position in the call. */
    st = mproc_apool_map_async(p, f_index, &in, NULL, &ar);
    is_int(st, 0, "map_async");
    is_int(mproc_async_get(ar, -1, &r, &n), 0, "get all");
    ok(n == 5000 && strcmp(res_str(&r[4999]), "4999") == 0,
       "a function sees the item's position in its call");
    mproc_async_free(ar);

    /* Input errors (an empty input is not one: see test-pool-api-fixes) */
    in.n = 3;
    in.items = NULL;
    is_int(mproc_apool_map_async(p, f_double, &in, NULL, &ar), MPROC_EINVAL,
           "map of 3 items without an array: MPROC_EINVAL");
    like_str(mproc_apool_errmsg(p), "no input", "... says so");
    ok(ar == NULL, "... and hands out nothing");
    in.n = 0;
    is_int(mproc_apool_map_async(p, NULL, &in, NULL, &ar), MPROC_EINVAL,
           "map with no function in a function pool: MPROC_EINVAL");
    like_str(mproc_apool_errmsg(p), "needs a function", "... says so");
    numbers_free(&nb);
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
}

static void
test_starmap(void)
{
    mproc_apool_t *p = new_pool(2, NULL);
    struct mproc_item a0[] = {{"a", 1}, {"bb", 2}, {"", 0}};
    struct mproc_item a1[] = {{"x", 1}};
    struct mproc_item many[MPROC_STAR_MAX + 1];
    struct mproc_args t[] = {{a0, 3}, {a1, 1}, {NULL, 0}};
    const struct mproc_result *r;
    mproc_async_t *ar;
    size_t n;

    if (p == NULL)
        return;
    is_int(mproc_apool_starmap(p, f_star, t, 3, NULL, &ar), 0, "starmap");
    mproc_async_get(ar, 0, &r, &n);
    is_int(n, 3, "... 3 results");
    is_str(res_str(&r[0]), "a+bb+", "... several arguments");
    is_str(res_str(&r[1]), "x", "... one argument");
    is_str(res_str(&r[2]), "", "... none");
    mproc_async_free(ar);
    memset(many, 0, sizeof(many));
    t[0].v = many;
    t[0].n = MPROC_STAR_MAX + 1;
    is_int(mproc_apool_starmap_async(p, f_star, t, 3, NULL, &ar),
           MPROC_EINVAL, "starmap with too many arguments: MPROC_EINVAL");
    like_str(mproc_apool_errmsg(p), "MPROC_STAR_MAX", "... names the limit");
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
}

/* A lazy input: "0", "1", ... up to n, failing at `fail_at` if set. */
struct counter {
    uint64_t i, n, fail_at;
    char buf[24];
};

static int
count_next(void *user, struct mproc_item *item)
{
    struct counter *c = user;
    if (c->fail_at && c->i == c->fail_at)
        return MPROC_EIO;
    if (c->i >= c->n)
        return 0;
    snprintf(c->buf, sizeof(c->buf), "%llu", (unsigned long long)c->i);
    __atomic_store_n(&c->i, c->i + 1, __ATOMIC_RELAXED); /* read by main */
    item->data = c->buf;
    item->len = strlen(c->buf);
    return 1;
}

static void
test_imap(void)
{
    mproc_apool_t *p = new_pool(2, NULL);
    struct counter c = {.n = 20000};
    struct mproc_input in = {.next = count_next, .next_user = &c};
    struct mproc_call_opts call = {.buffer = 64};
    const struct mproc_result *r;
    mproc_imap_t *it;
    uint64_t i, ahead = 0;
    char *seen;
    bool good = true;
    int st;

    if (p == NULL)
        return;
    is_int(mproc_apool_imap(p, f_double, &in, &call, &it), 0, "imap");
    for (i = 0; (st = mproc_imap_next(it, -1, &r)) == 1; i++) {
        char want[32];
        snprintf(want, sizeof(want), "%llu", (unsigned long long)(2 * i));
        if (good && (r->index != i || strcmp(res_str(r), want) != 0)) {
            diag("result %llu: index %llu, %s", (unsigned long long)i,
                 (unsigned long long)r->index, res_str(r));
            good = false;
        }
        /* Read ahead of the consumer, as seen by the input callback. */
        if (__atomic_load_n(&c.i, __ATOMIC_RELAXED) - i > ahead)
            ahead = __atomic_load_n(&c.i, __ATOMIC_RELAXED) - i;
        if (i == 100)
            usleep(100000); /* a slow consumer, once */
    }
    is_int(st, 0, "imap ends with 0");
    is_int(i, 20000, "20000 results");
    ok(good, "in input order, each right");
    ok(ahead <= 64 + 1, "input read at most `buffer` ahead (%llu)",
       (unsigned long long)ahead);
    is_int(mproc_imap_next(it, -1, &r), 0, "and 0 again after the end");
    mproc_imap_free(it);

    /* unordered: each index exactly once */
    c.i = 0;
    c.n = 3000;
    seen = calloc(3000, 1);
    is_int(mproc_apool_imap_unordered(p, f_double, &in, NULL, &it), 0,
           "imap_unordered");
    good = true;
    for (i = 0; (st = mproc_imap_next(it, -1, &r)) == 1; i++)
        if (r->index >= 3000 || seen[r->index]++ || r->status != 0)
            good = false;
    is_int(i, 3000, "3000 results");
    ok(good, "each index once, all right");
    free(seen);
    mproc_imap_free(it);

    /* An input that fails: results of what it gave, then its error. */
    c.i = 0;
    c.n = 100;
    c.fail_at = 5;
    is_int(mproc_apool_imap(p, f_double, &in, NULL, &it), 0, "imap (input "
                                                            "fails at 5)");
    for (i = 0; (st = mproc_imap_next(it, -1, &r)) == 1; i++)
        ;
    is_int(i, 5, "5 results");
    is_int(st, MPROC_EIO, "then the input's error");
    is_int(mproc_imap_next(it, -1, &r), 0, "then the end");
    mproc_imap_free(it);

    /* Timeout of next, and freeing an iterator half-way. */
    {
        struct mproc_item slow[] = {{"sleep300", 8}, {"1", 1}};
        struct mproc_input sin = {.items = slow, .n = 2};
        is_int(mproc_apool_imap(p, f_double, &sin, NULL, &it), 0, "imap");
        is_int(mproc_imap_next(it, 20, &r), MPROC_EAGAIN,
               "next(20 ms) before the first result: MPROC_EAGAIN");
        mproc_imap_free(it);
    }
    c.i = 0;
    c.n = 1000000;
    c.fail_at = 0;
    is_int(mproc_apool_imap(p, f_double, &in, &call, &it), 0,
           "imap of a million");
    for (i = 0; i < 10 && mproc_imap_next(it, -1, &r) == 1; i++)
        ;
    mproc_imap_free(it);
    ok(c.i < 2000, "freed after 10: the input is not read on (%llu read)",
       (unsigned long long)c.i);
    mproc_apool_close(p);
    is_int(mproc_apool_join(p), 0, "join");
    mproc_apool_free(p);
}

static void
test_deaths(void)
{
    mproc_apool_t *p;

    runs = mmap(NULL, sizeof(*runs), PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    p = new_pool(2, NULL);
    struct numbers nb;
    struct mproc_input in;
    const struct mproc_result *r;
    mproc_async_t *ar;
    size_t n, i;
    int st, bad = 0;

    if (p == NULL)
        return;
    st = mproc_apool_apply(p, f_double, "segv", 4, &ar);
    is_int(st, MPROC_EWORKER, "a task that kills its worker: MPROC_EWORKER");
    mproc_async_get(ar, 0, &r, &n);
    like_str(r->message, "killed by SIGSEGV", "... says how");
    is_int(r->exitcode, -SIGSEGV, "... exitcode is minus the signal");
    mproc_async_free(ar);
    is_str(apply_str(p, f_double, "4", NULL), "8",
           "the pool goes on after a death");

    /* Deaths inside batches: only the culprits fail. */
    numbers_init(&nb, 3000);
    nb.items[1000].data = "exit3";
    nb.items[1000].len = 5;
    nb.items[2500].data = "segv";
    nb.items[2500].len = 4;
    in = (struct mproc_input){.items = nb.items, .n = nb.n};
    *runs = 0;
    st = mproc_apool_map(p, f_counted, &in, NULL, &ar);
    is_int(st, MPROC_EWORKER, "map with two deaths: MPROC_EWORKER");
    is_int(*runs, 3000, "... every task ran exactly once (batched, too)");
    mproc_async_get(ar, 0, &r, &n);
    is_int(n, 3000, "... every item has a result");
    like_str(res_str(&r[1000]), "exited with status 3", "... item 1000: how");
    like_str(res_str(&r[2500]), "killed by SIGSEGV", "... item 2500: how");
    for (i = 0; i < n; i++)
        if (i != 1000 && i != 2500 && r[i].status != 0)
            bad++;
    is_int(bad, 0, "... and every other item succeeded");
    mproc_async_free(ar);
    numbers_free(&nb);
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
    munmap(runs, sizeof(*runs));
}

static void
opt_maxtasks(struct mproc_pool_opts *o)
{
    o->max_tasks_per_child = 2;
}

static void
test_max_tasks(void)
{
    mproc_apool_t *p = new_pool(2, opt_maxtasks);
    struct mproc_item items[10];
    struct mproc_input in = {.items = items, .n = 10};
    const struct mproc_result *r;
    mproc_async_t *ar;
    char pids[10][16];
    size_t n, i, k, distinct = 0;

    if (p == NULL)
        return;
    for (i = 0; i < 10; i++)
        items[i] = (struct mproc_item){"", 0};
    is_int(mproc_apool_map(p, f_whoami, &in, NULL, &ar), 0,
           "map with max_tasks_per_child = 2");
    mproc_async_get(ar, 0, &r, &n);
    for (i = 0; i < n; i++) {
        snprintf(pids[i], sizeof(pids[i]), "%.*s", (int)r[i].len,
                 (const char *)r[i].data);
        for (k = 0; k < i && strcmp(pids[k], pids[i]) != 0; k++)
            ;
        distinct += k == i;
    }
    ok(distinct >= 5, "10 tasks ran in at least 5 processes (%zu)",
       distinct);
    mproc_async_free(ar);
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
}

static void
opt_timeout(struct mproc_pool_opts *o)
{
    o->timeout_ms = 300;
    o->timeout_grace_ms = 200;
}

static void
opt_long_limit(struct mproc_pool_opts *o)
{
    o->timeout_ms = 10000; /* a hang still ends */
}

static void
test_timeout(void)
{
    mproc_apool_t *p = new_pool(2, opt_timeout);
    mproc_async_t *ar;
    const struct mproc_result *r;
    double t0 = now();
    int st;

    if (p == NULL)
        return;
    st = mproc_apool_apply(p, f_double, "sleep20000", 10, &ar);
    is_int(st, MPROC_ETIMEDOUT, "a task over timeout_ms: MPROC_ETIMEDOUT");
    ok(now() - t0 < 10, "... well before it would have ended");
    mproc_async_get(ar, 0, &r, NULL);
    like_str(r->message, "timed out", "... says so");
    mproc_async_free(ar);
    is_str(apply_str(p, f_double, "3", NULL), "6", "the pool goes on");
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
}

static void
test_lifecycle_errors(void)
{
    mproc_apool_t *p = new_pool(2, NULL);
    mproc_async_t *ar = NULL, *running[4], *queued;
    const struct mproc_result *r;
    struct mproc_item items[2] = {{"1", 1}, {"2", 1}};
    struct mproc_input in = {.items = items, .n = 2};
    mproc_imap_t *it;
    double t0;
    int i;

    if (p == NULL)
        return;
    is_int(mproc_apool_join(p), MPROC_EINVAL, "join before close: EINVAL");
    like_str(mproc_apool_errmsg(p), "close() or terminate()", "... says so");
    for (i = 0; i < 4; i++)
        mproc_apool_apply_async(p, f_double, "sleep20000", 10, NULL,
                                &running[i]);
    mproc_apool_apply_async(p, f_double, "1", 1, NULL, &queued);
    usleep(100000);
    t0 = now();
    is_int(mproc_apool_terminate(p), 0, "terminate");
    is_int(mproc_async_get(running[0], 10000, &r, NULL), MPROC_ECANCELED,
           "a running task after terminate: MPROC_ECANCELED");
    like_str(r->message, "terminated", "... says why");
    ok(now() - t0 < 5, "terminate stops long tasks at once");
    for (i = 1; i < 4; i++)
        mproc_async_wait(running[i], -1);
    /* Tasks not yet handed to a worker are cancelled by the result thread
     * once the engine has stopped: soon, not necessarily before the
     * running ones are. */
    mproc_async_wait(queued, 10000);
    ok(mproc_async_ready(queued), "a queued task is ready too");
    is_int(mproc_async_get(queued, 0, NULL, NULL), MPROC_ECANCELED,
           "... as MPROC_ECANCELED");
    is_int(mproc_apool_apply_async(p, f_double, "1", 1, NULL, &ar),
           MPROC_ECLOSED, "apply_async after terminate: MPROC_ECLOSED");
    ok(ar == NULL, "... hands out nothing");
    like_str(mproc_apool_errmsg(p), "terminated", "... says why");
    is_int(mproc_apool_map_async(p, f_double, &in, NULL, &ar), MPROC_ECLOSED,
           "map_async after terminate: MPROC_ECLOSED");
    is_int(mproc_apool_imap(p, f_double, &in, NULL, &it), MPROC_ECLOSED,
           "imap after terminate: MPROC_ECLOSED");
    is_int(mproc_apool_join(p), 0, "join after terminate");
    is_int(mproc_apool_join(p), 0, "join twice");
    for (i = 0; i < 4; i++)
        mproc_async_free(running[i]);
    mproc_apool_free(p);
    /* Results outlive their pool. */
    is_int(mproc_async_get(queued, 0, NULL, NULL), MPROC_ECANCELED,
           "a result is readable after its pool is freed");
    mproc_async_free(queued);

    p = new_pool(1, NULL);
    mproc_apool_close(p);
    is_int(mproc_apool_apply_async(p, f_double, "1", 1, NULL, &ar),
           MPROC_ECLOSED, "apply_async after close: MPROC_ECLOSED");
    like_str(mproc_apool_errmsg(p), "closed", "... says so");
    is_int(mproc_apool_close(p), 0, "close twice is fine");
    is_int(mproc_apool_join(p), 0, "join");
    mproc_apool_free(p);

    /* Free with work in flight, and async results abandoned early. */
    p = new_pool(2, NULL);
    for (i = 0; i < 3; i++) {
        mproc_apool_apply_async(p, f_double, "sleep20000", 10, NULL, &ar);
        mproc_async_free(ar);
    }
    mproc_apool_apply_async(p, f_double, "sleep20000", 10, NULL, &queued);
    t0 = now();
    mproc_apool_free(p);
    ok(now() - t0 < 5, "free without close terminates at once");
    is_int(mproc_async_get(queued, 0, NULL, NULL), MPROC_ECANCELED,
           "... its tasks end as MPROC_ECANCELED");
    mproc_async_free(queued);
    mproc_apool_free(NULL);
    mproc_async_free(NULL);
    mproc_imap_free(NULL);
    ok(1, "free(NULL) is a no-op");
}

static void
opt_initfail(struct mproc_pool_opts *o)
{
    o->initializer = init_fail;
}

static void
test_broken(void)
{
    mproc_apool_t *p = new_pool(2, opt_initfail);
    mproc_async_t *ar = NULL;
    int st;

    if (p == NULL)
        return;
    /* The first worker may fail its initializer before or after the task
     * is submitted: either the task ends MPROC_EINIT (and has a result
     * that says why) or the submission is refused (and the pool says
     * why).  Both are the documented outcome of a broken pool. */
    st = mproc_apool_apply(p, f_double, "1", 1, &ar);
    is_int(st, MPROC_EINIT, "a failing initializer: the task ends MPROC_EINIT");
    like_str(ar != NULL ? mproc_async_errmsg(ar) : mproc_apool_errmsg(p),
             "initializer refuses on purpose",
             "... with the initializer's message");
    mproc_async_free(ar);
    ar = NULL;
    is_int(mproc_apool_apply_async(p, f_double, "1", 1, NULL, &ar),
           MPROC_EINIT, "the pool is broken: later submissions fail");
    like_str(mproc_apool_errmsg(p), "initializer refuses", "... saying why");
    mproc_apool_close(p);
    is_int(mproc_apool_join(p), MPROC_EINIT, "join says it too");
    mproc_apool_free(p);
}

static void
opt_spawn(struct mproc_pool_opts *o)
{
    o->start_method = "spawn";
}

static void
opt_plugin(struct mproc_pool_opts *o)
{
    o->plugin_desc = &desc;
}

static void
opt_plugin_init(struct mproc_pool_opts *o)
{
    o->plugin_desc = &desc;
    o->initializer = init_ok;
}

static void
test_creation_errors(void)
{
    struct mproc_pool_opts o;
    mproc_apool_t *p = NULL;
    mproc_err_t err;

    mproc_pool_opts_init(&o);
    opt_spawn(&o);
    is_int(mproc_apool_new(&p, &o, &err), MPROC_ENOTSUP,
           "function targets with spawn: MPROC_ENOTSUP, as documented");
    like_str(err.msg, "fork", "... says fork is needed");
    ok(p == NULL, "... no pool");
    mproc_pool_opts_init(&o);
    opt_plugin_init(&o);
    is_int(mproc_apool_new(&p, &o, &err), MPROC_EINVAL,
           "an initializer with a plugin: MPROC_EINVAL");
    mproc_pool_opts_init(&o);
    o.plugin = "no-such-plugin-here";
    is_int(mproc_apool_new(&p, &o, &err), MPROC_EPLUGIN,
           "a missing plugin: MPROC_EPLUGIN");
    like_str(err.msg, "no-such-plugin-here", "... named");
}

static void
test_plugin_pool(void)
{
    mproc_apool_t *p = new_pool(2, opt_plugin);
    mproc_async_t *ar;
    const struct mproc_result *r;
    struct mproc_item items[3] = {{"ab", 2}, {"cd", 2}, {"", 0}};
    struct mproc_input in = {.items = items, .n = 3};
    size_t n;
    int st;

    ok(p != NULL, "a plugin pool");
    if (p == NULL)
        return;
    is_str(apply_str(p, NULL, "hello", &st), "HELLO",
           "apply runs the plugin's task");
    is_int(mproc_apool_apply_async(p, f_double, "x", 1, NULL, &ar),
           MPROC_EINVAL, "a function with a plugin pool: MPROC_EINVAL");
    like_str(mproc_apool_errmsg(p), "pass NULL", "... says so");
    is_int(mproc_apool_map(p, NULL, &in, NULL, &ar), 0, "map");
    mproc_async_get(ar, 0, &r, &n);
    ok(n == 3 && strcmp(res_str(&r[0]), "AB") == 0 &&
           strcmp(res_str(&r[1]), "CD") == 0 && r[2].len == 0,
       "... results in order");
    mproc_async_free(ar);
    {
        struct mproc_args t[1] = {{items, 1}};
        is_int(mproc_apool_starmap_async(p, NULL, t, 1, NULL, &ar),
               MPROC_EINVAL, "starmap with a plugin pool: MPROC_EINVAL");
    }
    mproc_apool_close(p);
    is_int(mproc_apool_join(p), 0, "join");
    mproc_apool_free(p);

    /* A plugin file, found by name (MPROC_PLUGIN_PATH in make check). */
    if (getenv("MPROC_PLUGIN_PATH") != NULL) {
        struct mproc_pool_opts o;
        mproc_err_t err;
        mproc_pool_opts_init(&o);
        o.workers = 1;
        o.plugin = "echo";
        st = mproc_apool_new(&p, &o, &err);
        is_int(st, 0, "a pool of the echo plugin");
        if (st == 0) {
            is_str(apply_str(p, NULL, "hi there", NULL), "hi there",
                   "... runs it");
            mproc_apool_close(p);
            mproc_apool_join(p);
            mproc_apool_free(p);
        }
    } else {
        ok(1, "# SKIP MPROC_PLUGIN_PATH not set");
        ok(1, "# SKIP MPROC_PLUGIN_PATH not set");
    }
}

/* Several application threads submitting at once. */
static void *
submitter(void *arg)
{
    mproc_apool_t *p = arg;
    mproc_async_t *ar[500];
    long bad = 0;
    int i;

    for (i = 0; i < 500; i++) {
        char in[16];
        snprintf(in, sizeof(in), "%d", i);
        if (mproc_apool_apply_async(p, f_double, in, strlen(in), NULL,
                                    &ar[i]) < 0)
            ar[i] = NULL;
    }
    for (i = 0; i < 500; i++) {
        const struct mproc_result *r;
        char want[16];
        snprintf(want, sizeof(want), "%d", 2 * i);
        if (ar[i] == NULL || mproc_async_get(ar[i], -1, &r, NULL) != 0 ||
            r->len != strlen(want) || memcmp(r->data, want, r->len) != 0)
            bad++;
        mproc_async_free(ar[i]);
    }
    return (void *)bad;
}

static void
test_threads(void)
{
    mproc_apool_t *p = new_pool(2, NULL);
    pthread_t t[4];
    long total = 0;
    int i;

    if (p == NULL)
        return;
    /* Start the workers first: a fork while another thread holds a lock
     * that is not fork-safe (ASan's allocator's is not; glibc malloc's is)
     * leaves the child stuck on it. */
    apply_str(p, f_double, "1", NULL);
    for (i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, submitter, p);
    for (i = 0; i < 4; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        total += (long)bad;
    }
    is_int(total, 0, "4 threads x 500 apply_async: every result right");
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
}

/* Round trips from several threads at once, some pausing between calls:
 * the result thread alternates between spinning (a submission then only
 * bumps a word) and sleeping on its eventfd (a submission writes it), and
 * a kick lost between the two would leave an apply waiting for ever (the
 * alarm ends the test then).  Every result is checked. */
struct rt_arg {
    mproc_apool_t *p;
    int id;
};

static void *
round_tripper(void *arg)
{
    struct rt_arg *a = arg;
    long bad = 0;
    int i;

    for (i = 0; i < 1500; i++) {
        const struct mproc_result *r;
        mproc_async_t *ar = NULL;
        char in[16], want[16];
        int n = snprintf(in, sizeof(in), "%d", a->id * 100000 + i);

        snprintf(want, sizeof(want), "%d", 2 * (a->id * 100000 + i));
        if (mproc_apool_apply(a->p, f_double, in, (size_t)n, &ar) < 0 ||
            mproc_async_get(ar, 0, &r, NULL) != 0 ||
            r->len != strlen(want) || memcmp(r->data, want, r->len) != 0)
            bad++;
        mproc_async_free(ar);
        /* Threads 1 and 3 pause now and then, longer than any spin, so
         * that the result thread also falls asleep between calls. */
        if ((a->id & 1) && i % 50 == 0)
            usleep(200 + 300 * (i % 7));
    }
    return (void *)bad;
}

static void
test_round_trip_threads(void)
{
    mproc_apool_t *p = new_pool(2, NULL);
    struct rt_arg args[4];
    pthread_t t[4];
    long total = 0;
    int i;

    if (p == NULL)
        return;
    apply_str(p, f_double, "1", NULL); /* the workers first: see above */
    for (i = 0; i < 4; i++) {
        args[i].p = p;
        args[i].id = i;
        pthread_create(&t[i], NULL, round_tripper, &args[i]);
    }
    for (i = 0; i < 4; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        total += (long)bad;
    }
    is_int(total, 0, "4 threads x 1500 apply, some pausing: every result "
                     "right, none lost");
    /* And one thread alone, after a pause: the spin budgets have fallen. */
    usleep(100 * 1000);
    args[0].id = 7;
    is_int((long)round_tripper(&args[0]), 0,
           "1500 apply after an idle spell: every result right");
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
}

/*
 * apply's own turn of the engine: with nothing else in flight, apply
 * sends its task and reads the answer in the caller's thread.  The cases
 * a turn must survive: the worker dying under it, a time limit, other
 * threads' calls arriving meanwhile (their callbacks still run in the
 * result thread, never in the caller's).
 */
struct turn_other {
    mproc_apool_t *p;
    pthread_t caller;
    int stop;
    long done, bad, wrong_thread;
};

static void
turn_cb(void *user, mproc_async_t *ar)
{
    struct turn_other *t = user;
    (void)ar;
    if (pthread_equal(pthread_self(), t->caller))
        __atomic_add_fetch(&t->wrong_thread, 1, __ATOMIC_RELAXED);
}

static void *
turn_other_thread(void *arg)
{
    struct turn_other *t = arg;
    long i;

    for (i = 0; !__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE); i++) {
        struct mproc_call_opts co = {.callback = turn_cb, .user = t};
        const struct mproc_result *r;
        mproc_async_t *ar = NULL;
        char in[24], want[24];

        snprintf(in, sizeof(in), "%ld", 1000000 + i);
        snprintf(want, sizeof(want), "%ld", 2 * (1000000 + i));
        if (mproc_apool_apply_async(t->p, f_double, in, strlen(in), &co,
                                    &ar) < 0 ||
            mproc_async_get(ar, -1, &r, NULL) != 0 ||
            r->len != strlen(want) || memcmp(r->data, want, r->len) != 0)
            t->bad++;
        mproc_async_free(ar);
        t->done++;
        usleep(300);
    }
    return NULL;
}

/* SIGUSR1 for the thread `to`: 300 us after an f_counted task began (so
 * that `to` waits for it by then), then every 2 ms until `stop`. */
struct poke {
    pthread_t to;
    int stop;
    int sent; /* before `stop` */
};

static void
on_usr1(int sig)
{
    (void)sig;
}

static void *
poke_thread(void *arg)
{
    struct poke *k = arg;
    struct timespec first = {0, 300 * 1000}, next = {0, 2000 * 1000};
    int i;

    for (i = 0; i < 20000 && !__atomic_load_n(runs, __ATOMIC_ACQUIRE); i++)
        usleep(50);
    nanosleep(&first, NULL);
    while (!__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE) && k->sent < 100) {
        pthread_kill(k->to, SIGUSR1);
        __atomic_add_fetch(&k->sent, 1, __ATOMIC_RELEASE);
        nanosleep(&next, NULL);
    }
    return NULL;
}

static void
test_own_turn(void)
{
    mproc_apool_t *p;
    struct turn_other t = {.caller = pthread_self()};
    const struct mproc_result *r;
    mproc_async_t *ar;
    pthread_t th;
    char in[24], want[24];
    int i, k, st, bad = 0, deaths = 0;

    runs = mmap(NULL, sizeof(*runs), PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (runs == MAP_FAILED || (p = new_pool(2, opt_timeout)) == NULL)
        return;
    /* Warm: every worker up, the turn's budget grown. */
    for (i = 0; i < 300; i++)
        if (strcmp(apply_str(p, f_double, "21", NULL), "42") != 0)
            bad++;
    is_int(bad, 0, "300 apply in a row, each alone in the pool: right");
    for (k = 0; k < 5; k++) {
        for (i = 0; i < 50; i++)
            apply_str(p, f_double, "1", NULL);
        st = mproc_apool_apply(p, f_double, "segv", 4, &ar);
        mproc_async_get(ar, 0, &r, NULL);
        deaths += st == MPROC_EWORKER && r->message != NULL &&
                  strstr(r->message, "killed by SIGSEGV") != NULL;
        mproc_async_free(ar);
    }
    is_int(deaths, 5, "a worker that dies under apply's own turn: "
                      "MPROC_EWORKER and how, each time (no hang)");
    for (i = 0; i < 50; i++)
        apply_str(p, f_double, "1", NULL);
    st = mproc_apool_apply(p, f_double, "sleep20000", 10, &ar);
    is_int(st, MPROC_ETIMEDOUT, "a time limit passing in a turn: "
                                "MPROC_ETIMEDOUT");
    mproc_async_free(ar);

    /* A handler without SA_RESTART (Ctrl-C's) runs while apply waits:
     * apply returns MPROC_EINTR, as a waiting get does, and the task goes
     * on.  The first signal lands 300 us into the task, in apply's turn
     * (a turn that swallowed it would leave it to a later one): so the
     * first one ends the wait, in one try of three at least.  Not under
     * valgrind, which refuses pidfds: no turn there. */
    {
        struct sigaction sa, old;
        const char *pre = getenv("LD_PRELOAD");
        bool grind = pre != NULL && strstr(pre, "vgpreload") != NULL;
        /* A pool of its own: this one's 300 ms time limit ended the
         * task under load (the rare failure of sessions 14-15). */
        mproc_apool_t *q = new_pool(2, opt_long_limit);
        double t0;
        int intr = 0, later = 0, first = 0;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, &old);
        for (i = 0; i < 3; i++) {
            struct poke poke = {.to = pthread_self()};
            pthread_t pk;

            for (k = 0; k < 50; k++)
                apply_str(q, f_double, "1", NULL);
            *runs = 0;
            t0 = now();
            pthread_create(&pk, NULL, poke_thread, &poke);
            /* 800 ms, the wait ended within 600: on a loaded machine
             * (load average 15) a 200 ms bound was too short. */
            st = mproc_apool_apply(q, f_counted, "sleep800", 8, &ar);
            __atomic_store_n(&poke.stop, 1, __ATOMIC_RELEASE);
            pthread_join(pk, NULL);
            intr += st == MPROC_EINTR && now() - t0 < 0.6 && ar != NULL;
            if (st != MPROC_EINTR || now() - t0 >= 0.6)
                diag("try %d: apply %d after %.3f s", i, st, now() - t0);
            first += st == MPROC_EINTR && poke.sent == 1;
            {
                /* Said when it is not: a rare failure under heavy load
                 * (sessions 14-15) is to be understood, not hidden. */
                int g = ar != NULL ? mproc_async_get(ar, -1, &r, NULL)
                                   : MPROC_EINVAL;
                bool good = g == 0 && r->len == 5 &&
                            memcmp(r->data, "slept", 5) == 0;

                later += good;
                if (!good)
                    diag("try %d: apply %d, get %d (%s), %s", i, st, g,
                         mproc_err_name(g),
                         g == 0 ? "another result" : "no result");
            }
            mproc_async_free(ar);
        }
        sigaction(SIGUSR1, &old, NULL);
        is_int(intr, 3, "a signal handler while apply waits: MPROC_EINTR "
                        "well before the task ends");
        if (grind)
            ok(1, "# SKIP no turn under valgrind");
        else
            ok(first > 0, "... the first signal, under the turn, ended the "
                          "wait (%d of 3)", first);
        is_int(later, 3, "... and the task goes on: a get has its result");
        mproc_apool_close(q);
        mproc_apool_join(q);
        mproc_apool_free(q);
    }

    t.p = p;
    pthread_create(&th, NULL, turn_other_thread, &t);
    bad = 0;
    for (i = 0; i < 3000; i++) {
        snprintf(in, sizeof(in), "%d", i);
        snprintf(want, sizeof(want), "%d", 2 * i);
        if (strcmp(apply_str(p, f_double, in, NULL), want) != 0)
            bad++;
    }
    __atomic_store_n(&t.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    is_int(bad, 0, "3000 apply while another thread calls apply_async: "
                   "every result right");
    ok(t.done > 0 && t.bad == 0, "... and the other thread's %ld calls too",
       t.done);
    is_int(t.wrong_thread, 0, "... whose callbacks never ran in the "
                              "apply caller's thread");
    mproc_apool_close(p);
    is_int(mproc_apool_join(p), 0, "join");
    mproc_apool_free(p);
    munmap(runs, sizeof(*runs));
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

/* A forked child's copy of its parent's pool: every call says so at
 * once (they hung: the result thread is not in the child), free leaves
 * the parent's workers alone, and the parent's pool goes on. */
static void
test_forked_child(void)
{
    mproc_apool_t *p = new_pool(2, NULL);
    mproc_async_t *ar = NULL, *pending = NULL;
    const struct mproc_result *r;
    struct mproc_item items[2] = {{"1", 1}, {"2", 1}};
    struct mproc_input in = {.items = items, .n = 2};
    mproc_imap_t *it = NULL;
    size_t n;
    double t0;
    pid_t pid;
    int st, bad, k, fds[2];

    if (p == NULL)
        return;
    /* The child's findings come through a pipe, not its exit status
     * (valgrind's --error-exitcode would mix in). */
    if (pipe2(fds, O_CLOEXEC) != 0) {
        ok(0, "forked child: pipe");
        return;
    }
    is_int(mproc_apool_apply(p, f_double, "2", 1, &ar), 0,
           "forked child: apply before the fork");
    mproc_async_free(ar);
    is_int(mproc_apool_apply_async(p, f_double, "sleep300", 8, NULL, &pending),
           0, "forked child: a task in flight at the fork");
    is_int(mproc_apool_imap(p, f_double, &in, NULL, &it), 0,
           "forked child: an iterator open at the fork");
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        mproc_async_t *c = NULL;
        bad = 0;
        alarm(20);
        if (mproc_apool_apply(p, f_double, "3", 1, &c) != MPROC_EINVAL ||
            strstr(mproc_apool_errmsg(p), "belongs to process") == NULL)
            bad |= 1;
        if (mproc_apool_apply_async(p, f_double, "3", 1, NULL, &c) !=
                MPROC_EINVAL ||
            mproc_apool_map(p, f_double, &in, NULL, &c) != MPROC_EINVAL)
            bad |= 2;
        if (mproc_async_get(pending, -1, NULL, NULL) != MPROC_EINVAL ||
            mproc_async_wait(pending, -1) != MPROC_EINVAL ||
            mproc_async_ready(pending) ||
            strstr(mproc_async_errmsg(pending), "forked child") == NULL)
            bad |= 4;
        if (mproc_imap_next(it, -1, &r) != MPROC_EINVAL)
            bad |= 8;
        if (mproc_apool_close(p) != MPROC_EINVAL ||
            mproc_apool_terminate(p) != MPROC_EINVAL ||
            mproc_apool_join(p) != MPROC_EINVAL)
            bad |= 16;
        mproc_async_free(pending);
        mproc_imap_free(it);
        mproc_apool_free(p);
        bad |= 64; /* it got here */
        if (write(fds[1], &bad, sizeof(bad)) != (ssize_t)sizeof(bad))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    t0 = now();
    waitpid(pid, &st, 0);
    ok(now() - t0 < 10, "forked child: its calls return at once (%.2f s)",
       now() - t0);
    if (read(fds[0], &bad, sizeof(bad)) != (ssize_t)sizeof(bad) ||
        !(bad & 64))
        bad = 255;
    close(fds[0]);
    ok(bad != 255, "forked child: it got through every call");
    ok(!(bad & 1), "forked child: apply says MPROC_EINVAL, naming the owner");
    ok(!(bad & 2), "forked child: apply_async and map say MPROC_EINVAL");
    ok(!(bad & 4), "forked child: get, wait, ready on a parent's result refuse");
    ok(!(bad & 8), "forked child: next on a parent's iterator refuses");
    ok(!(bad & 16), "forked child: close, terminate, join refuse");
    is_int(mproc_async_get(pending, 10000, &r, &n), 0,
           "forked child: the parent's task in flight still ends");
    if (n == 1)
        ok(r[0].len == 5 && memcmp(r[0].data, "slept", 5) == 0,
           "... with its result");
    mproc_async_free(pending);
    for (k = 0; mproc_imap_next(it, 10000, &r) == 1; k++)
        ;
    is_int(k, 2, "forked child: the parent's iterator gives both results");
    mproc_imap_free(it);
    is_int(mproc_apool_apply(p, f_double, "5", 1, &ar), 0,
           "forked child: the parent's pool works after the child's free");
    if (mproc_async_get(ar, 0, &r, &n) == 0 && n == 1)
        ok(r[0].len == 2 && memcmp(r[0].data, "10", 2) == 0,
           "... and computes right");
    mproc_async_free(ar);
    mproc_apool_close(p);
    is_int(mproc_apool_join(p), 0, "forked child: the parent joins its pool");
    mproc_apool_free(p);
}

int
main(void)
{
    alarm(240);
    test_apply();
    test_bursts();
    test_callbacks();
    test_map();
    test_starmap();
    test_imap();
    test_deaths();
    test_max_tasks();
    test_timeout();
    test_lifecycle_errors();
    test_broken();
    test_creation_errors();
    test_plugin_pool();
    test_threads();
    test_round_trip_threads();
    test_own_turn();
    test_forked_child();
    is_int(children_left(), 0, "no child process left");
    return done_testing();
}

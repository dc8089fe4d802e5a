/* SPDX-License-Identifier: MIT */
/*
 * The pool, driven from C with in-process plugin descriptors (the fork
 * start method runs them directly): results, ordering, failures, worker
 * deaths, recycling, init failures, stops, limits, reduce, and that no
 * child is left behind after any run.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "tap.h"

/* ---- a test plugin, in this program ---- */

static int
t_echo(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out)
{
    const char *s = in;

    if (len == 4 && memcmp(s, "fail", 4) == 0)
        return mproc_fail(ctx, "failing item %llu on purpose",
                          (unsigned long long)index);
    if (len == 4 && memcmp(s, "segv", 4) == 0)
        raise(SIGSEGV);
    if (len == 6 && memcmp(s, "exit:3", 6) == 0)
        _exit(3);
    if (len == 3 && memcmp(s, "big", 3) == 0) {
        /* More than the pool's message_max in the limit test. */
        static char blob[8192];
        if (mproc_buf_append(out, blob, sizeof(blob)) != MPROC_TASK_OK)
            return mproc_fail(ctx, "output too large");
        return MPROC_TASK_OK;
    }
    if (len == 5 && memcmp(s, "bigok", 5) == 0) {
        /* Ignores the refusal and claims success: must not pass. */
        static char blob[8192];
        mproc_buf_append(out, blob, sizeof(blob));
        return MPROC_TASK_OK;
    }
    if (len == 5 && memcmp(s, "sleep", 5) == 0)
        usleep(200000);
    return mproc_buf_append(out, in, len);
}

static int
t_pid(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    return mproc_buf_printf(out, "%d", (int)getpid());
}

/* Shared with the forked workers (MAP_SHARED, made before any pool). */
struct shared {
    int inits;   /* workers started */
    int finis;   /* fini() calls that ran to their end */
    int crashes; /* "crash-once" items that crashed */
};
static struct shared *shm;

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* The pool's promises to a task: a NUL after its item; "hang" never
 * returns; "crash-once" crashes on its first attempt; "slow" takes a
 * while. */
static int
t_check(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    const char *s = in;

    (void)index;
    if (s[len] != '\0')
        return mproc_fail(ctx, "no NUL after the item");
    if (strcmp(s, "hang") == 0)
        for (;;)
            pause();
    if (strcmp(s, "crash-once") == 0 &&
        __atomic_fetch_add(&shm->crashes, 1, __ATOMIC_SEQ_CST) == 0)
        raise(SIGSEGV);
    if (strcmp(s, "slow") == 0)
        sleep_ms(300);
    return mproc_buf_append(out, in, len);
}

static int
t_count_init(struct mproc_ctx *ctx)
{
    (void)ctx;
    __atomic_fetch_add(&shm->inits, 1, __ATOMIC_SEQ_CST);
    return MPROC_TASK_OK;
}

/* A fini that takes a while, and counts when it gets to its end. */
static void
t_slow_fini(struct mproc_ctx *ctx)
{
    (void)ctx;
    sleep_ms(300);
    __atomic_fetch_add(&shm->finis, 1, __ATOMIC_SEQ_CST);
}

static int
t_init(struct mproc_ctx *ctx)
{
    const char *mode = mproc_arg(ctx, "init", "ok");
    if (strcmp(mode, "fail") == 0)
        return mproc_fail(ctx, "init refuses: mode=%s", mode);
    if (strcmp(mode, "crash") == 0)
        abort();
    return MPROC_TASK_OK;
}

static int
t_reduce(struct mproc_ctx *ctx, const void *data, size_t len, uint64_t index)
{
    long long *sum = ctx->state;
    char buf[32];

    if (sum == NULL && (sum = ctx->state = calloc(1, sizeof(*sum))) == NULL)
        return mproc_fail(ctx, "out of memory");
    snprintf(buf, sizeof(buf), "%.*s", (int)len, (const char *)data);
    *sum += atoll(buf);
    return MPROC_TASK_OK;
}

static int
t_reduce_end(struct mproc_ctx *ctx, struct mproc_buf *out)
{
    long long *sum = ctx->state;
    int r = mproc_buf_printf(out, "%lld\n", sum ? *sum : 0);
    free(sum);
    ctx->state = NULL;
    return r;
}

static const struct mproc_task_def tasks[] = {
    {"echo", t_echo, "copy, or misbehave on request"},
    {"pid", t_pid, "the worker's pid"},
    {NULL, NULL, NULL},
};

static const struct mproc_task_def check_tasks[] = {
    {"check", t_check, "check the item's NUL, or hang, crash, be slow"},
    {NULL, NULL, NULL},
};

static const struct mproc_plugin desc_check = {
    .abi_major = MPROC_PLUGIN_ABI_MAJOR,
    .abi_minor = MPROC_PLUGIN_ABI_MINOR,
    .size = sizeof(struct mproc_plugin),
    .name = "testcheck",
    .version = "1",
    .init = t_count_init,
    .fini = t_slow_fini,
    .tasks = check_tasks,
};

static const struct mproc_plugin desc = {
    .abi_major = MPROC_PLUGIN_ABI_MAJOR,
    .abi_minor = MPROC_PLUGIN_ABI_MINOR,
    .size = sizeof(struct mproc_plugin),
    .name = "testpool",
    .version = "1",
    .init = t_init,
    .tasks = tasks,
};

static const struct mproc_plugin desc_reduce = {
    .abi_major = MPROC_PLUGIN_ABI_MAJOR,
    .abi_minor = MPROC_PLUGIN_ABI_MINOR,
    .size = sizeof(struct mproc_plugin),
    .name = "testsum",
    .version = "1",
    .tasks = tasks,
    .reduce = t_reduce,
    .reduce_end = t_reduce_end,
};

/* ---- item sources and result sinks ---- */

struct items {
    const char *const *v; /* NULL: numbers 0..n-1 as text */
    size_t n, next;
    char num[32];
};

struct results;
static struct items *items_of(void *user);

static int
next_item(void *user, struct mproc_item *item)
{
    struct items *it = items_of(user);

    if (it->next == it->n)
        return 0;
    if (it->v != NULL) {
        item->data = it->v[it->next];
        item->len = strlen(it->v[it->next]);
    } else {
        item->len = (size_t)snprintf(it->num, sizeof(it->num), "%zu",
                                     it->next);
        item->data = it->num;
    }
    it->next++;
    return 1;
}

#define MAXR 2000
struct results {
    size_t n;
    uint64_t index[MAXR];
    int status[MAXR];
    char out[MAXR][48];
    char msg[MAXR][160];
    int seen[MAXR];
    unsigned attempts[MAXR];
    int in_order;
    int stop_after; /* ask the pool to stop after this many, 0 = never */
    struct items *it; /* the source, sharing the callbacks' user pointer */
};

static struct items *
items_of(void *user)
{
    return ((struct results *)user)->it;
}

static int
on_result(void *user, const struct mproc_result *r)
{
    struct results *rs = user;
    size_t i = rs->n++;

    if (i >= MAXR)
        return 1;
    rs->index[i] = r->index;
    rs->status[i] = r->status;
    rs->attempts[i] = r->attempts;
    if (i > 0 && rs->index[i - 1] + 1 != r->index)
        rs->in_order = 0;
    if (r->index < MAXR)
        rs->seen[r->index]++;
    if (r->status == 0)
        snprintf(rs->out[i], sizeof(rs->out[i]), "%.*s", (int)r->len,
                 (const char *)r->data);
    else
        snprintf(rs->msg[i], sizeof(rs->msg[i]), "%s", r->message);
    return rs->stop_after && rs->n >= (size_t)rs->stop_after;
}

static int
no_children(void)
{
    return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

static int
run(struct mproc_pool_opts *o, struct items *it, struct results *rs,
    mproc_pool_t **keep)
{
    mproc_pool_t *p;
    mproc_err_t err;
    int r;

    memset(rs, 0, sizeof(*rs));
    rs->in_order = 1;
    rs->it = it;
    /* tests/pool-BACKEND.sh runs the whole program on each IPC backend. */
    if (getenv("MPROC_TEST_IPC") != NULL)
        o->ipc = getenv("MPROC_TEST_IPC");
    r = mproc_pool_new(&p, o, &err);
    if (r < 0) {
        diag("pool_new: %s", err.msg);
        return r;
    }
    r = mproc_pool_run(p, next_item, on_result, rs);
    if (keep != NULL)
        *keep = p;
    else
        mproc_pool_free(p);
    return r;
}

static size_t
find(const struct results *rs, uint64_t index)
{
    size_t i;
    for (i = 0; i < rs->n; i++)
        if (rs->index[i] == index)
            return i;
    return (size_t)-1;
}

static int
each_once(const struct results *rs, size_t n)
{
    size_t i;
    if (rs->n != n)
        return 0;
    for (i = 0; i < n; i++)
        if (rs->seen[i] != 1)
            return 0;
    return 1;
}

static struct results rs;

static void
test_basic(void)
{
    struct mproc_pool_opts o;
    struct items it = {.n = 1000};
    size_t i;
    int good = 1;

    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.task = "echo";
    o.workers = 3;
    o.chunksize = 7;
    is_int(run(&o, &it, &rs, NULL), 0, "ordered run of 1000 items");
    ok(each_once(&rs, 1000), "every item has exactly one result");
    ok(rs.in_order, "results come in input order");
    for (i = 0; i < rs.n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "%zu", i);
        good &= rs.status[i] == 0 && strcmp(rs.out[i], want) == 0;
    }
    ok(good, "every output equals its input");
    ok(no_children(), "no child left after the run");

    it.next = 0;
    o.ordered = false;
    is_int(run(&o, &it, &rs, NULL), 0, "unordered run");
    ok(each_once(&rs, 1000), "unordered: every item exactly once");

    it = (struct items){.n = 0};
    is_int(run(&o, &it, &rs, NULL), 0, "empty input runs");
    is_int(rs.n, 0, "empty input: no result");
    ok(no_children(), "no child left after an empty run");
}

static void
test_failures(void)
{
    static const char *const v[] = {"a", "fail", "b", "segv", "c",
                                    "exit:3", "", "d"};
    struct mproc_pool_opts o;
    struct items it = {.v = v, .n = 8};
    size_t i;

    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.task = "echo";
    o.workers = 2;
    o.chunksize = 2;
    is_int(run(&o, &it, &rs, NULL), 0, "a run with failures completes");
    ok(each_once(&rs, 8), "every item has exactly one result");
    i = find(&rs, 1);
    is_int(rs.status[i], MPROC_ETASK, "a failing task reports ETASK");
    is_str(rs.msg[i], "failing item 1 on purpose", "with its message");
    i = find(&rs, 3);
    is_int(rs.status[i], MPROC_EWORKER, "a segfault reports EWORKER");
    like_str(rs.msg[i], "killed by SIGSEGV", "naming the signal");
    i = find(&rs, 5);
    is_int(rs.status[i], MPROC_EWORKER, "exit(3) in a task reports EWORKER");
    like_str(rs.msg[i], "exited with status 3", "naming the status");
    i = find(&rs, 6);
    ok(rs.status[i] == 0 && rs.out[i][0] == '\0', "an empty item works");
    ok(rs.status[find(&rs, 7)] == 0 && rs.status[find(&rs, 4)] == 0 &&
           rs.status[find(&rs, 0)] == 0,
       "items after deaths succeed (replacement workers)");
    ok(no_children(), "no child left");
}

static void
test_recycle(void)
{
    struct mproc_pool_opts o;
    struct items it = {.n = 60};
    size_t i, j, distinct = 0;

    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.task = "echo";
    o.task = "pid";
    o.workers = 2;
    o.max_tasks_per_child = 1;
    is_int(run(&o, &it, &rs, NULL), 0, "max_tasks_per_child = 1 run");
    ok(each_once(&rs, 60), "every item once");
    for (i = 0; i < rs.n; i++) {
        for (j = 0; j < i; j++)
            if (strcmp(rs.out[i], rs.out[j]) == 0)
                break;
        distinct += j == i;
    }
    is_int(distinct, 60, "each task ran in a fresh worker");

    it.next = 0;
    o.max_tasks_per_child = 0;
    o.workers = 1;
    is_int(run(&o, &it, &rs, NULL), 0, "one worker, no recycling");
    for (i = 1, distinct = 1; i < rs.n; i++)
        distinct += strcmp(rs.out[i], rs.out[0]) != 0;
    is_int(distinct, 1, "without recycling one process runs them all");
    ok(no_children(), "no child left");
}

static void
test_init(void)
{
    struct mproc_kv fail[] = {{"init", "fail"}}, crash[] = {{"init", "crash"}};
    struct mproc_pool_opts o;
    struct items it = {.n = 20};
    mproc_pool_t *p = NULL;
    size_t i;
    int cancelled = 1;

    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.task = "echo";
    o.workers = 2;
    o.args = fail;
    o.nargs = 1;
    is_int(run(&o, &it, &rs, &p), MPROC_EINIT, "a failing init stops the run");
    like_str(mproc_pool_errmsg(p), "init refuses: mode=fail",
             "the error carries init's message");
    mproc_pool_free(p);
    for (i = 0; i < rs.n; i++)
        cancelled &= rs.status[i] == MPROC_ECANCELED;
    ok(cancelled && rs.n == it.next, "items taken get 'not run' results");
    ok(no_children(), "no child left");

    it.next = 0;
    o.args = crash;
    is_int(run(&o, &it, &rs, &p), MPROC_EINIT,
           "an init that crashes stops the run, no endless respawn");
    like_str(mproc_pool_errmsg(p), "SIGABRT", "naming the signal");
    mproc_pool_free(p);
    ok(no_children(), "no child left");
}

static void
test_stop(void)
{
    static const char *const v[] = {"a", "b", "fail", "c", "d", "e", "f",
                                    "g", "h", "i", "j", "k"};
    struct mproc_pool_opts o;
    struct items it = {.v = v, .n = 12};
    mproc_pool_t *p;
    mproc_err_t err;
    int fds[2];
    size_t i, failed = 0;

    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.task = "echo";
    o.workers = 1;
    o.stop_on_error = true;
    is_int(run(&o, &it, &rs, NULL), MPROC_ECANCELED,
           "stop_on_error stops the run");
    ok(rs.n == it.next && rs.n >= 3, "every item taken has one result");
    for (i = 0; i < rs.n; i++)
        failed += rs.status[i] == MPROC_ETASK;
    is_int(failed, 1, "one failure reported");
    ok(rs.status[find(&rs, 0)] == 0 && rs.status[find(&rs, 1)] == 0,
       "items before it succeeded");
    ok(no_children(), "no child left");

    /* A cancel descriptor that is ready at once. */
    ok(pipe(fds) == 0 && write(fds[1], "x", 1) == 1, "cancel pipe");
    it = (struct items){.n = 100000};
    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.task = "echo";
    o.workers = 2;
    o.cancel_fd = fds[0];
    is_int(run(&o, &it, &rs, NULL), MPROC_ECANCELED,
           "a readable cancel_fd stops the run");
    ok(rs.n == it.next && it.next < 100000,
       "it stops early, every item taken has one result");
    close(fds[0]);
    close(fds[1]);
    ok(no_children(), "no child left");

    /* The result callback asks to stop. */
    it = (struct items){.n = 500};
    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.task = "echo";
    memset(&rs, 0, sizeof(rs));
    rs.stop_after = 10;
    rs.it = &it;
    is_int(mproc_pool_new(&p, &o, &err), 0, "pool");
    is_int(mproc_pool_run(p, next_item, on_result, &rs), MPROC_ECANCELED,
           "a callback returning non-zero stops the run");
    is_int(mproc_pool_run(p, next_item, on_result, &rs), MPROC_EINVAL,
           "a pool runs once");
    mproc_pool_free(p);
    ok(no_children(), "no child left");
}

static void
test_limits(void)
{
    static char large[5000];
    static const char *v[] = {"ok", NULL, "big", "ok2", "bigok"};
    struct mproc_pool_opts o;
    struct items it = {.v = v, .n = 5};
    size_t i;

    memset(large, 'x', sizeof(large) - 1);
    v[1] = large;
    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.task = "echo";
    o.message_max = 4096;
    is_int(run(&o, &it, &rs, NULL), 0, "run with message_max 4096");
    ok(each_once(&rs, 5), "every item once");
    i = find(&rs, 1);
    is_int(rs.status[i], MPROC_EMSGSIZE, "an item over the limit fails");
    like_str(rs.msg[i], "message_max (4096)", "naming the limit");
    i = find(&rs, 2);
    is_int(rs.status[i], MPROC_EMSGSIZE, "an output over the limit fails");
    is_str(rs.msg[i],
           "output of at least 8192 bytes exceeds message_max (4096): output "
           "too large",
           "naming the limit, then the task's message");
    ok(rs.status[find(&rs, 3)] == 0, "the next item is fine");
    i = find(&rs, 4);
    is_int(rs.status[i], MPROC_EMSGSIZE,
           "a task that ignores the limit and succeeds still fails");
    is_str(rs.msg[i],
           "output of at least 8192 bytes exceeds message_max (4096)",
           "never a truncated result");
}

static void
test_reduce(void)
{
    struct mproc_pool_opts o;
    struct items it = {.n = 1001};
    mproc_pool_t *p = NULL;
    const void *data;
    size_t len;

    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc_reduce;
    o.task = "echo";
    o.workers = 2;
    o.chunksize = 10;
    is_int(run(&o, &it, &rs, &p), 0, "reduce run");
    ok(mproc_pool_has_reduce(p), "the pool reduces");
    is_int(mproc_pool_reduce_output(p, &data, &len), 0, "reduce output");
    ok(len == 7 && memcmp(data, "500500\n", 7) == 0,
       "sum of 0..1000 is 500500");
    mproc_pool_free(p);
}

static void
test_new_errors(void)
{
    struct mproc_plugin bad = desc;
    struct mproc_pool_opts o;
    mproc_pool_t *p = NULL;
    mproc_err_t err;

    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.task = "echo";
    o.start_method = "spawn";
    is_int(mproc_pool_new(&p, &o, &err), MPROC_ENOTSUP,
           "spawn with an in-process descriptor: ENOTSUP");
    like_str(err.msg, "an in-process plugin descriptor works with fork only",
             "says so");
    o.start_method = "vfork";
    is_int(mproc_pool_new(&p, &o, &err), MPROC_EINVAL,
           "unknown start method: EINVAL");
    like_str(err.msg, "expected fork, spawn or forkserver", "lists them");
    o.start_method = "fork";
    o.message_max = 0;
    is_int(mproc_pool_new(&p, &o, &err), MPROC_EINVAL, "message_max 0");
    like_str(err.msg, "message_max must be from 1 to", "says the range");
    o.message_max = (size_t)-1;
    is_int(mproc_pool_new(&p, &o, &err), MPROC_EINVAL,
           "message_max past what a channel message carries");
    like_str(err.msg, "message_max must be from 1 to", "says the range");
    o.message_max = 1 << 20;
    o.ipc = "carrier-pigeon";
    is_int(mproc_pool_new(&p, &o, &err), MPROC_EINVAL, "unknown ipc");
    like_str(err.msg, "expected one of pipe, mq, shmring", "lists the backends");
    o.ipc = "pipe";
    o.task = "nope";
    is_int(mproc_pool_new(&p, &o, &err), MPROC_EPLUGIN, "unknown task");
    is_str(err.msg,
           "plugin (in-process) (testpool) has no task 'nope'; it has: "
           "echo, pid",
           "the message lists the tasks");
    o.task = NULL;
    is_int(mproc_pool_new(&p, &o, &err), MPROC_EPLUGIN,
           "no task named with several to choose from");
    bad.abi_major = 9;
    o.plugin_desc = &bad;
    is_int(mproc_pool_new(&p, &o, &err), MPROC_EABI, "ABI major checked");
    ok(p == NULL, "nothing to free after a failed new");
    mproc_pool_free(NULL);
    ok(1, "mproc_pool_free(NULL) is a no-op");
}

static int
all_ok(const struct results *r)
{
    size_t i;
    int good = 1;
    for (i = 0; i < r->n; i++) {
        good &= r->status[i] == 0;
        if (r->status[i] != 0)
            diag("item %llu: %s", (unsigned long long)r->index[i],
                 r->msg[i]);
    }
    return good;
}

/* Issue 11.8: a task finds a NUL after its item, on every path. */
static void
test_nul(void)
{
    static const char *const v[] = {"",     "a",          "bc", "crash-once",
                                    "defg", "0123456789", "x",  "yz"};
    struct mproc_pool_opts o;
    struct items it = {.v = v, .n = 8};

    shm->crashes = 0;
    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc_check;
    o.workers = 2;
    o.chunksize = 3;
    o.retries = 1;
    is_int(run(&o, &it, &rs, NULL), 0, "NUL check: chunks of 3, a retry");
    ok(each_once(&rs, 8), "NUL check: every item once");
    ok(all_ok(&rs), "every task found a NUL after its item, the retried "
                    "one too");
    is_int(shm->crashes, 2, "the crashing item ran again (its retry)");
    ok(no_children(), "no child left");
}

/* Issue 12.4: a limit signal sent just as its item completes (a test
 * hook makes the deadline pass as the result arrives). */
static void
test_stale_limit(void)
{
    static const char *const v[] = {"a", "slow", "b", "c"};
    struct mproc_pool_opts o;
    struct items it = {.v = v, .n = 4};
    size_t i;

    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc_check;
    o.workers = 1;
    o.timeout_ms = 20000;
    o.timeout_grace_ms = 10000;
    setenv("MPROC_TEST_HOOK_LIMIT_AT_RESULT", "0", 1);
    is_int(run(&o, &it, &rs, NULL), 0,
           "a limit signal for an item that completed: the run succeeds");
    ok(each_once(&rs, 4), "every item once");
    ok(all_ok(&rs), "the next item is not killed by it");
    i = find(&rs, 1);
    is_int(rs.attempts[i], 1, "and is not charged an attempt");

    /* A worker retired after its task gets the signal in fini(). */
    it = (struct items){.v = v, .n = 3};
    shm->finis = shm->inits = 0;
    o.max_tasks_per_child = 1;
    is_int(run(&o, &it, &rs, NULL), 0, "max_tasks_per_child = 1: exit 0");
    ok(all_ok(&rs), "every item succeeds");
    ok(shm->inits >= 3, "a worker per item");
    is_int(shm->finis, shm->inits, "every worker's fini() ran to its end, "
                                   "the signalled one's too");
    unsetenv("MPROC_TEST_HOOK_LIMIT_AT_RESULT");
    ok(no_children(), "no child left");
}

/* Issue 12.9: unordered results are not held up by one hung item. */
struct unord {
    size_t total, next, stopped_at;
    _Atomic size_t n;
    bool hung_first;
    _Atomic long long last_ms;
    _Atomic bool done;
    int cancel_w;
    _Atomic bool cancelled;
    char num[32];
};

static long long
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int
unord_next(void *user, struct mproc_item *item)
{
    struct unord *u = user;

    if (u->next == u->total)
        return 0;
    if (u->next == 10) {
        item->data = "hang";
        item->len = 4;
    } else {
        item->len = (size_t)snprintf(u->num, sizeof(u->num), "%zu", u->next);
        item->data = u->num;
    }
    u->next++;
    return 1;
}

static int
unord_result(void *user, const struct mproc_result *r)
{
    struct unord *u = user;

    u->n++;
    u->last_ms = mono_ms();
    if (r->index == 10 && u->stopped_at == 0)
        u->hung_first = true;
    if (u->n == u->total - 1 && u->stopped_at == 0) {
        u->stopped_at = u->n; /* all but the hung one: stop it */
        return 1;
    }
    return 0;
}

/* A watchdog thread: no result for 5 s means the run is stuck (the pool
 * sleeps in poll()); cancel it, and the test fails rather than hangs. */
static void *
unord_watch(void *arg)
{
    struct unord *u = arg;

    while (!u->done) {
        usleep(100000);
        if (!u->cancelled && mono_ms() - u->last_ms > 5000) {
            u->cancelled = true;
            if (write(u->cancel_w, "x", 1) != 1)
                diag("cannot cancel");
        }
    }
    return NULL;
}

static void
test_unordered_hang(void)
{
    struct mproc_pool_opts o;
    struct unord u = {.total = 5000};
    mproc_pool_t *p;
    mproc_err_t err;
    pthread_t watch;
    int fds[2];

    ok(pipe(fds) == 0, "cancel pipe");
    u.cancel_w = fds[1];
    u.last_ms = mono_ms();
    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc_check;
    o.workers = 2;
    o.ordered = false;
    o.cancel_fd = fds[0];
    if (getenv("MPROC_TEST_IPC") != NULL)
        o.ipc = getenv("MPROC_TEST_IPC");
    is_int(mproc_pool_new(&p, &o, &err), 0, "pool");
    pthread_create(&watch, NULL, unord_watch, &u);
    is_int(mproc_pool_run(p, unord_next, unord_result, &u), MPROC_ECANCELED,
           "unordered, one item hangs: stopped once the others are in");
    u.done = true;
    pthread_join(watch, NULL);
    is_int(u.stopped_at, 4999,
           "all 4,999 other items were delivered while it hung");
    ok(!u.hung_first && !u.cancelled, "the hung one had no result before");
    is_int(u.n, 5000, "then it got its result (not run)");
    mproc_pool_free(p);
    close(fds[0]);
    close(fds[1]);
    ok(no_children(), "no child left");
}

/* Issue 10.8: a worker that cannot be started or replaced (a test hook
 * fails starts as a spent RLIMIT_MSGQUEUE would). */
static int warnings;
static char warning[512];

static void
on_warning(void *user, const char *msg)
{
    (void)user;
    warnings++;
    snprintf(warning, sizeof(warning), "%s", msg);
}

static void
test_start_fail(void)
{
    struct mproc_pool_opts o;
    struct items it = {.n = 200};
    mproc_pool_t *p = NULL;
    size_t i;
    int cancelled = 1;

    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.task = "echo";
    o.workers = 3;
    o.on_warning = on_warning;
    setenv("MPROC_TEST_HOOK_START_FAIL", "2", 1);
    warnings = 0;
    is_int(run(&o, &it, &rs, NULL), 0,
           "one of 3 workers cannot start: the run goes on");
    ok(each_once(&rs, 200) && all_ok(&rs), "every item done");
    is_int(warnings, 1, "said once");
    like_str(warning, "going on with 2 of 3 workers", "how many work");
    like_str(warning, "Too many open files", "and why");

    setenv("MPROC_TEST_HOOK_START_FAIL", "2:3", 1);
    it = (struct items){.n = 100};
    o.workers = 2;
    o.max_tasks_per_child = 10;
    warnings = 0;
    is_int(run(&o, &it, &rs, NULL), 0,
           "replacements fail 3 times, then start: the run goes on");
    ok(each_once(&rs, 100) && all_ok(&rs), "every item done");
    is_int(warnings, 1, "said once");

    /* None can start, or none is left: the run ends, never hangs. */
    setenv("MPROC_TEST_HOOK_START_FAIL", "0", 1);
    it = (struct items){.n = 20};
    is_int(run(&o, &it, &rs, &p), MPROC_EWORKER, "no worker starts: EWORKER");
    like_str(mproc_pool_errmsg(p), "Too many open files", "saying why");
    mproc_pool_free(p);
    setenv("MPROC_TEST_HOOK_START_FAIL", "1", 1);
    it = (struct items){.n = 20};
    o.workers = 1;
    o.max_tasks_per_child = 5;
    is_int(run(&o, &it, &rs, &p), MPROC_EWORKER,
           "the only worker cannot be replaced: EWORKER after retries");
    mproc_pool_free(p);
    for (i = 0; i < rs.n; i++)
        cancelled &= i < 5 ? rs.status[i] == 0
                           : rs.status[i] == MPROC_ECANCELED;
    ok(cancelled && rs.n == it.next,
       "its 5 items done, every other item taken has a result");
    unsetenv("MPROC_TEST_HOOK_START_FAIL");
    ok(no_children(), "no child left");
}

/* What a stranger's pass over the engine found (2026-11-30). */
static int
next_seven(void *user, struct mproc_item *item)
{
    (void)user;
    item->data = "x";
    item->len = 1;
    return 7;
}

static int
next_null(void *user, struct mproc_item *item)
{
    (void)user;
    item->data = NULL;
    item->len = 10;
    return 1;
}

/* Items "sleep", "fail", then "a" ... but only 100 ms after the first
 * call: by then the failure is known (the old pool took them all while
 * the slow item ran). */
static int late_n;
static long long late_t0;

static int
next_late(void *user, struct mproc_item *item)
{
    (void)user;
    if (late_t0 == 0)
        late_t0 = mono_ms();
    if (late_n >= 40)
        return 0;
    if (late_n >= 2 && mono_ms() - late_t0 < 100)
        return MPROC_EAGAIN;
    item->data = late_n == 0 ? "sleep" : late_n == 1 ? "fail" : "a";
    item->len = strlen(item->data);
    late_n++;
    return 1;
}

static void
test_stranger_engine(void)
{
    static const char *v[40] = {"sleep", "fail"};
    struct mproc_pool_opts o;
    struct items it = {.v = v, .n = 40};
    mproc_pool_t *p = NULL;
    mproc_err_t err;
    const void *data;
    size_t len, i, ok_after = 0;
    pid_t pid;
    int st;

    for (i = 2; i < 40; i++)
        v[i] = "a";
    /* Ordered stop_on_error: the failure (item 1) is known long before
     * the slow item 0 is delivered; nothing after the failure is
     * delivered as a success, and no new item is taken meanwhile. */
    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.task = "echo";
    o.workers = 3;
    o.stop_on_error = true;
    o.chunksize = 1;
    is_int(run(&o, &it, &rs, NULL), MPROC_ECANCELED,
           "ordered stop_on_error: the run stops");
    for (i = 0; i < rs.n; i++)
        ok_after += rs.index[i] > 1 && rs.status[i] == 0;
    is_int(ok_after, 0, "nothing after the failure delivered as a success");
    if (getenv("MPROC_TEST_IPC") != NULL)
        o.ipc = getenv("MPROC_TEST_IPC");
    if (mproc_pool_new(&p, &o, &err) == 0) {
        memset(&rs, 0, sizeof(rs));
        rs.in_order = 1;
        rs.it = &it;
        late_n = 0;
        late_t0 = 0;
        mproc_pool_run(p, next_late, on_result, &rs);
        ok(late_n == 2, "and no new item taken once it failed (%d taken, "
                        "the others ready 100 ms later)", late_n);
        mproc_pool_free(p);
    }

    /* The reduced output: after the run only. */
    it = (struct items){.n = 11};
    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc_reduce;
    o.task = "echo";
    o.workers = 2;
    if (getenv("MPROC_TEST_IPC") != NULL)
        o.ipc = getenv("MPROC_TEST_IPC");
    if (mproc_pool_new(&p, &o, &err) == 0) {
        is_int(mproc_pool_reduce_output(p, &data, &len), MPROC_EINVAL,
               "reduce output before the run: EINVAL");
        memset(&rs, 0, sizeof(rs));
        rs.in_order = 1;
        rs.it = &it;
        is_int(mproc_pool_run(p, next_item, on_result, &rs), 0, "then a run");
        ok(mproc_pool_reduce_output(p, &data, &len) == 0 && len == 3 &&
               memcmp(data, "55\n", 3) == 0,
           "whose outputs all reach the total (0..10: 55)");
        mproc_pool_free(p);
    } else {
        ok(0, "a reduce pool: %s", err.msg);
    }

    /* The caller's mistakes: refused, not run nor crashed. */
    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.task = "echo";
    o.workers = 1;
    is_int(mproc_pool_new(NULL, &o, &err), MPROC_EINVAL, "new(NULL): EINVAL");
    is_int(mproc_pool_new(&p, NULL, &err), MPROC_EINVAL,
           "new with NULL options: EINVAL");
    o.plugin = "echo";
    is_int(mproc_pool_new(&p, &o, &err), MPROC_EINVAL,
           "a plugin file and a descriptor both: EINVAL");
    o.plugin = NULL;
    if (mproc_pool_new(&p, &o, &err) == 0) {
        is_int(mproc_pool_run(p, NULL, on_result, &rs), MPROC_EINVAL,
               "run without next: EINVAL");
        mproc_pool_free(p);
    }
    if (mproc_pool_new(&p, &o, &err) == 0) {
        is_int(mproc_pool_run(p, next_seven, on_result, &rs), MPROC_EINVAL,
               "next returning 7: EINVAL");
        like_str(mproc_pool_errmsg(p), "next returned 7", "and says so");
        mproc_pool_free(p);
    }
    if (mproc_pool_new(&p, &o, &err) == 0) {
        is_int(mproc_pool_run(p, next_null, on_result, &rs), MPROC_EINVAL,
               "an item of 10 bytes at NULL: EINVAL");
        mproc_pool_free(p);
    }

    /* More workers than RLIMIT_NOFILE has room for: the soft limit is
     * raised when the hard one allows, else a clear refusal (a child:
     * a lowered hard limit stays low). */
    pid = fork();
    if (pid == 0) {
        struct rlimit rl;
        int r;

        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2048)
            _exit(10); /* cannot tell here */
        rl.rlim_cur = 256;
        setrlimit(RLIMIT_NOFILE, &rl);
        o.workers = 100;
        r = mproc_pool_new(&p, &o, &err);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (r != 0 || rl.rlim_cur < 400)
            _exit(1);
        mproc_pool_free(p);
        rl.rlim_cur = rl.rlim_max = 256;
        setrlimit(RLIMIT_NOFILE, &rl);
        /* valgrind keeps descriptors of its own up there and does not
         * let a program lower the hard limit: nothing to tell then. */
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max != 256)
            _exit(10);
        r = mproc_pool_new(&p, &o, &err);
        if (r == MPROC_EMFILE && strstr(err.msg, "RLIMIT_NOFILE"))
            _exit(0);
        diag("hard limit 256: %d %s", r, r < 0 ? err.msg : "(made)");
        _exit(2);
    }
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 10),
       "100 workers under RLIMIT_NOFILE 256: raised, or refused saying "
       "so (status %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int
main(void)
{
    shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED)
        return 99;

    alarm(120); /* a hang is a failure, not a stuck test run */
    test_basic();
    test_failures();
    test_recycle();
    test_init();
    test_stop();
    test_limits();
    test_reduce();
    test_new_errors();
    test_nul();
    test_stale_limit();
    test_unordered_hang();
    test_start_fail();
    test_stranger_engine();
    munmap(shm, sizeof(*shm));
    return done_testing();
}

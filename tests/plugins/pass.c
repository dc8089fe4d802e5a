/* SPDX-License-Identifier: MIT */
/*
 * Targets for tests/test-pass.c: each task uses an object its parent
 * handed it with mproc_process_pass(), as a forked child would, under
 * whichever start method ran it.  They call libmproc, which the program
 * that loads this plugin provides (test-pass and mproc-worker).
 */
#include <stdio.h>
#include <string.h>

#include <mproc/mproc.h>

#define UNUSED_ARGS (void)in, (void)len, (void)index

/* Get the passed object #0 of `kind`, or fail the task. */
#define PASSED(kind, var)                                                   \
    do {                                                                    \
        void *o_;                                                           \
        int r_ = mproc_process_passed(kind, 0, &o_);                        \
        if (r_ < 0)                                                         \
            return mproc_fail(ctx, "passed: %s", mproc_strerror(r_));       \
        var = o_;                                                           \
    } while (0)

/* Get one message, put "got:" + it back. */
static int
t_queue(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    mproc_queue_t *q;
    char buf[256], reply[300];
    size_t n;
    int r;

    UNUSED_ARGS;
    PASSED(MPROC_PASS_QUEUE, q);
    if ((r = mproc_queue_get(q, buf, sizeof(buf) - 1, &n, 10000)) < 0)
        return mproc_fail(ctx, "get: %s", mproc_queue_errmsg(q));
    buf[n] = '\0';
    snprintf(reply, sizeof(reply), "got:%s", buf);
    if ((r = mproc_queue_put(q, reply, strlen(reply), 10000)) < 0)
        return mproc_fail(ctx, "put: %s", mproc_queue_errmsg(q));
    return mproc_buf_printf(out, "%s", mproc_queue_backend(q));
}

/* A JoinableQueue's consumer: get every message until "stop", task_done
 * each. */
static int
t_jqueue(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    mproc_queue_t *q;
    char buf[64];
    size_t n;
    int got = 0;

    UNUSED_ARGS;
    PASSED(MPROC_PASS_QUEUE, q);
    if (!mproc_queue_is_joinable(q))
        return mproc_fail(ctx, "not joinable");
    for (;;) {
        if (mproc_queue_get(q, buf, sizeof(buf), &n, 10000) < 0)
            return mproc_fail(ctx, "get: %s", mproc_queue_errmsg(q));
        if (mproc_queue_task_done(q) < 0)
            return mproc_fail(ctx, "task_done: %s", mproc_queue_errmsg(q));
        if (n == 4 && memcmp(buf, "stop", 4) == 0)
            break;
        got++;
    }
    return mproc_buf_printf(out, "%d", got);
}

/* Receive one message on the Pipe end, send "pong:" + it. */
static int
t_pipe(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out)
{
    mproc_pipe_t *p;
    char buf[256], reply[300];
    size_t n;

    UNUSED_ARGS;
    PASSED(MPROC_PASS_PIPE, p);
    if (mproc_pipe_recv(p, buf, sizeof(buf) - 1, &n, 10000) < 0)
        return mproc_fail(ctx, "recv: %s", mproc_pipe_errmsg(p));
    buf[n] = '\0';
    snprintf(reply, sizeof(reply), "pong:%s", buf);
    if (mproc_pipe_send(p, reply, strlen(reply), 10000) < 0)
        return mproc_fail(ctx, "send: %s", mproc_pipe_errmsg(p));
    return mproc_buf_printf(out, "ok");
}

/* Every sync object of the arena, found by name. */
static int
t_sync(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out)
{
    mproc_sync_t *s;
    mproc_lock_t *l, *rl;
    mproc_sem_t *sem;
    mproc_event_t *ev;
    mproc_cond_t *c;
    mproc_barrier_t *b;
    mproc_value_t *v, *a;
    size_t i;

    UNUSED_ARGS;
    PASSED(MPROC_PASS_SYNC, s);
    l = mproc_sync_find(s, "lock", "l");
    rl = mproc_sync_find(s, "rlock", "r");
    sem = mproc_sync_find(s, "semaphore", "s");
    ev = mproc_sync_find(s, "event", "e");
    c = mproc_sync_find(s, "condition", "c");
    b = mproc_sync_find(s, "barrier", "b");
    v = mproc_sync_find(s, "value", "v");
    a = mproc_sync_find(s, "array", "a");
    if (!l || !rl || !sem || !ev || !c || !b || !v || !a)
        return mproc_fail(ctx, "an object is missing");
    /* The parent holds the Lock until we set the Event. */
    if (mproc_lock_acquire(l, 0) != MPROC_ETIMEDOUT)
        return mproc_fail(ctx, "the Lock was free");
    if (mproc_lock_acquire(rl, 1000) < 0 || mproc_lock_acquire(rl, 1000) < 0 ||
        mproc_lock_release(rl) < 0 || mproc_lock_release(rl) < 0)
        return mproc_fail(ctx, "rlock");
    if (mproc_sem_release(sem) < 0)
        return mproc_fail(ctx, "semaphore");
    if (mproc_value_add_i64(v, 0, 1) < 0)
        return mproc_fail(ctx, "value");
    for (i = 0; i < mproc_value_length(a); i++)
        if (mproc_value_set_i64(a, i, (int64_t)i * 10) < 0)
            return mproc_fail(ctx, "array");
    mproc_event_set(ev);
    /* The parent releases the Lock once it sees the Event. */
    if (mproc_lock_acquire(l, 10000) < 0 || mproc_lock_release(l) < 0)
        return mproc_fail(ctx, "lock");
    /* Condition: the parent waits until the Value is 2. */
    if (mproc_lock_acquire(mproc_cond_lock(c), 10000) < 0)
        return mproc_fail(ctx, "condition's lock");
    mproc_value_add_i64(v, 0, 1);
    mproc_cond_notify_all(c);
    mproc_lock_release(mproc_cond_lock(c));
    if (mproc_barrier_wait(b, 10000) < 0)
        return mproc_fail(ctx, "barrier");
    return mproc_buf_printf(out, "ok");
}

/* Write the input into the block; say its name and size. */
static int
t_shm(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    mproc_shm_t *m;

    (void)index;
    PASSED(MPROC_PASS_SHM, m);
    if (mproc_shm_size(m) < len)
        return mproc_fail(ctx, "too small");
    memcpy(mproc_shm_buf(m), in, len);
    return mproc_buf_printf(out, "%s %zu", mproc_shm_name(m),
                            mproc_shm_size(m));
}

/* How many objects, and the kind check. */
static int
t_count(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    void *o;

    UNUSED_ARGS;
    (void)ctx;
    return mproc_buf_printf(
        out, "%zu %d %d", mproc_process_npassed(),
        mproc_process_passed(MPROC_PASS_PIPE, 0, &o),
        mproc_process_passed(MPROC_PASS_QUEUE, mproc_process_npassed(), &o));
}

static const struct mproc_task_def tasks[] = {
    {"queue", t_queue, "get a message, put got:MESSAGE"},
    {"jqueue", t_jqueue, "consume a JoinableQueue until stop"},
    {"pipe", t_pipe, "recv, send pong:MESSAGE"},
    {"sync", t_sync, "use every sync object of the arena"},
    {"shm", t_shm, "write the input into the block"},
    {"count", t_count, "the number of objects"},
    {NULL, NULL, NULL}};
MPROC_PLUGIN_DEFINE(.name = "pass", .version = "0",
                    .description = "targets for the pass tests",
                    .tasks = tasks);

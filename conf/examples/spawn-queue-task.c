/* SPDX-License-Identifier: MIT */
/*
 * The target of spawn-queue.c: Python's `def foo(q): q.put('hello')`.
 * The Queue is the first object its parent handed it.
 */
#include <mproc/mproc.h>

static int
foo(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
    struct mproc_buf *out)
{
    void *q;

    (void)in, (void)len, (void)index, (void)out;
    if (mproc_process_passed(MPROC_PASS_QUEUE, 0, &q) < 0)
        return mproc_fail(ctx, "no Queue was handed to this process");
    if (mproc_queue_put(q, "hello", 5, -1) < 0)
        return mproc_fail(ctx, "put: %s", mproc_queue_errmsg(q));
    return MPROC_TASK_OK;
}

static const struct mproc_task_def tasks[] = {
    {"foo", foo, "put 'hello' on the Queue handed to this process"},
    {NULL, NULL, NULL}};
MPROC_PLUGIN_DEFINE(.name = "spawnqueue", .version = "1",
                    .description = "the tutorial's spawn + Queue target",
                    .tasks = tasks);

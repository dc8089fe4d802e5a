/* SPDX-License-Identifier: MIT */
/*
 * histogram: line lengths, counted by every worker into one shared array.
 *
 * The job declares the shared objects (conf/histogram.ini):
 *   [lock:histogram]                 guards the array
 *   [array:lengths]  type = int64, length = 256, lock = false
 * Each task adds its item's length (256 and longer share the last bucket)
 * under the lock; the task outputs nothing.  In the parent, reduce_end reads
 * the array and prints "LENGTH<TAB>COUNT" for every length seen.
 *
 * It links libmproc's sync code (the plugin ABI gives the objects, the
 * library gives the operations on them).
 */
#include <inttypes.h>
#include <stdint.h>

#include <mproc/plugin.h>
#include <mproc/shared.h>
#include <mproc/sync.h>

static int
count(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    mproc_lock_t *lock = mproc_shared(ctx, "lock", "histogram");
    mproc_value_t *hist = lock ? mproc_shared(ctx, "array", "lengths")
                               : NULL;
    int64_t *bucket;
    size_t n;
    int r;

    (void)in;
    (void)index;
    (void)out;
    if (hist == NULL)
        return MPROC_TASK_FAIL; /* mproc_shared() said which is missing */
    n = mproc_value_length(hist);
    if (mproc_value_type(hist) != MPROC_T_INT64)
        return mproc_fail(ctx, "[array:lengths] must be of type int64");
    bucket = mproc_value_ptr(hist);
    r = mproc_lock_acquire(lock, -1);
    if (r != 0 && r != MPROC_EOWNERDEAD)
        return mproc_fail(ctx, "cannot lock the histogram: %s",
                          mproc_strerror(r));
    /* Owner died: a holder was killed between its lock and unlock, and an
     * increment is a single store, so the array is consistent: go on. */
    bucket[len < n ? len : n - 1]++;
    mproc_lock_release(lock);
    return MPROC_TASK_OK;
}

static int
ignore(struct mproc_ctx *ctx, const void *data, size_t len, uint64_t index)
{
    (void)ctx;
    (void)data;
    (void)len;
    (void)index;
    return MPROC_TASK_OK;
}

static int
print(struct mproc_ctx *ctx, struct mproc_buf *out)
{
    mproc_value_t *hist = mproc_shared(ctx, "array", "lengths");
    const int64_t *bucket;
    size_t i, n;

    if (hist == NULL)
        return MPROC_TASK_FAIL;
    bucket = mproc_value_ptr(hist);
    n = mproc_value_length(hist);
    for (i = 0; i < n; i++)
        if (bucket[i] != 0 &&
            mproc_buf_printf(out, "%zu%s\t%" PRId64 "\n", i,
                             i == n - 1 ? "+" : "", bucket[i]) !=
                MPROC_TASK_OK)
            return mproc_fail(ctx, "output exceeds the message limit");
    return MPROC_TASK_OK;
}

static const struct mproc_task_def tasks[] = {
    {"count", count, "add the item's length to the shared histogram"},
    {NULL, NULL, NULL},
};

/* It reads no [args]: a key there is a mistake, and refused. */
static const struct mproc_arg_def args[] = {MPROC_ARG_END};

MPROC_PLUGIN_DEFINE(.name = "histogram", .version = "1.0",
                    .description = "line lengths in a shared array under a "
                                   "lock",
                    .tasks = tasks, .reduce = ignore, .reduce_end = print,
                    .args = args);

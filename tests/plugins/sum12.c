/* SPDX-License-Identifier: MIT */
/*
 * A reducing plugin as built against the ABI 1.2 headers: its descriptor
 * ends at `args`, before reduce_flags (ABI 1.3), so the host reads its
 * flags as 0 and mproc merge must refuse to fold its shards.  The task
 * passes each number on; reduce sums them; reduce_end prints the sum.
 */
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <mproc/plugin.h>

static int
num(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
    struct mproc_buf *out)
{
    (void)ctx;
    (void)index;
    return mproc_buf_append(out, in, len);
}

static int
sum(struct mproc_ctx *ctx, const void *data, size_t len, uint64_t index)
{
    long long *total = ctx->state;
    char buf[32];

    (void)index;
    if (total == NULL && (total = ctx->state = calloc(1, sizeof(*total))) ==
                             NULL)
        return mproc_fail(ctx, "out of memory");
    if (len == 5 && memcmp(data, "crash", 5) == 0)
        raise(SIGSEGV); /* a reduce that crashes (cli-stranger.sh) */
    if (len >= sizeof(buf))
        return mproc_fail(ctx, "not a number");
    for (size_t i = 0; i < len; i++)
        buf[i] = ((const char *)data)[i];
    buf[len] = '\0';
    *total += atoll(buf);
    return MPROC_TASK_OK;
}

static int
sum_end(struct mproc_ctx *ctx, struct mproc_buf *out)
{
    long long *total = ctx->state;
    int r;

    ctx->state = NULL;
    r = mproc_buf_printf(out, "%lld\n", total ? *total : 0);
    free(total);
    return r;
}

static const struct mproc_task_def tasks[] = {{"num", num, NULL},
                                              {NULL, NULL, NULL}};

__attribute__((visibility("default"))) const struct mproc_plugin
    mproc_plugin_v1 = {
        .abi_major = 1,
        .abi_minor = 2,
        .size = offsetof(struct mproc_plugin, reduce_flags),
        .name = "sum12",
        .version = "1.2",
        .tasks = tasks,
        .reduce = sum,
        .reduce_end = sum_end,
};

/* SPDX-License-Identifier: MIT */
/*
 * echo: the output of each item is the item itself.  The simplest plugin,
 * and the end-to-end check that bytes cross the pool unchanged.
 */
#include <mproc/plugin.h>

static int
echo(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
     struct mproc_buf *out)
{
    (void)index;
    if (mproc_buf_append(out, in, len) != MPROC_TASK_OK)
        return mproc_fail(ctx, "output of %zu bytes exceeds the message limit",
                          len);
    return MPROC_TASK_OK;
}

static const struct mproc_task_def tasks[] = {
    {"echo", echo, "copy the item to the output"},
    {NULL, NULL, NULL},
};

/* It reads no [args]: a key there is a mistake, and refused. */
static const struct mproc_arg_def args[] = {MPROC_ARG_END};

MPROC_PLUGIN_DEFINE(.name = "echo", .version = "1.0",
                    .description = "copy each item to the output",
                    .tasks = tasks, .args = args);

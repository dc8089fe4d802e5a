/* SPDX-License-Identifier: MIT */
/* A task shared by the test plugins: echo the item. */
#include <mproc/plugin.h>

static int
t_echo(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out)
{
    (void)ctx;
    (void)index;
    return mproc_buf_append(out, in, len);
}

/* SPDX-License-Identifier: MIT */
/*
 * A plugin as built against the ABI 1.1 headers: its descriptor ends at
 * reduce_end, as a 1.1 binary's does, so the host must not read `args`
 * from it.  It declares nothing, so [args] stays unchecked: the task
 * prints [args] greeting, whatever other keys the job has.
 */
#include <stddef.h>

#include <mproc/plugin.h>

/* struct mproc_plugin as ABI 1.1 defined it. */
struct plugin_v1_1 {
    uint32_t abi_major, abi_minor, size, reserved;
    const char *name, *version, *description;
    mproc_init_fn init;
    mproc_fini_fn fini;
    const struct mproc_task_def *tasks;
    mproc_reduce_fn reduce;
    mproc_reduce_end_fn reduce_end;
};

static int
greet(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    (void)index;
    return mproc_buf_printf(out, "%s %.*s",
                            mproc_arg(ctx, "greeting", "hello"), (int)len,
                            (const char *)in);
}

static const struct mproc_task_def tasks[] = {{"greet", greet, NULL},
                                              {NULL, NULL, NULL}};
__attribute__((visibility("default"))) const struct plugin_v1_1
    mproc_plugin_v1 = {
        .abi_major = 1,
        .abi_minor = 1,
        .size = sizeof(struct plugin_v1_1),
        .name = "abi11",
        .version = "1.1",
        .tasks = tasks,
};

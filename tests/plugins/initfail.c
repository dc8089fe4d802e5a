/* SPDX-License-Identifier: MIT */
/* A valid plugin whose init always fails. */
#include "common.h"

static int
refuse(struct mproc_ctx *ctx)
{
    return mproc_fail(ctx, "initfail: refusing to start");
}

static const struct mproc_task_def tasks[] = {{"t", t_echo, NULL},
                                              {NULL, NULL, NULL}};
MPROC_PLUGIN_DEFINE(.name = "initfail", .version = "0",
                    .description = "init always fails", .init = refuse,
                    .tasks = tasks);

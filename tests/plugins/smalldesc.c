/* SPDX-License-Identifier: MIT */
/* A descriptor that claims to be smaller than ABI 1.0's. */
#include <stddef.h>

#include "common.h"

static const struct mproc_task_def tasks[] = {{"t", t_echo, NULL},
                                              {NULL, NULL, NULL}};
__attribute__((visibility("default"))) const struct mproc_plugin
    mproc_plugin_v1 = {
        .abi_major = MPROC_PLUGIN_ABI_MAJOR,
        .abi_minor = MPROC_PLUGIN_ABI_MINOR,
        .size = offsetof(struct mproc_plugin, tasks),
        .name = "smalldesc",
        .tasks = tasks,
};

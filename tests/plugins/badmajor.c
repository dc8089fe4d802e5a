/* SPDX-License-Identifier: MIT */
/* A descriptor built for the next ABI major. */
#include "common.h"

static const struct mproc_task_def tasks[] = {{"t", t_echo, NULL},
                                              {NULL, NULL, NULL}};
__attribute__((visibility("default"))) const struct mproc_plugin
    mproc_plugin_v1 = {
        .abi_major = MPROC_PLUGIN_ABI_MAJOR + 1,
        .abi_minor = 0,
        .size = sizeof(struct mproc_plugin),
        .name = "badmajor",
        .tasks = tasks,
};

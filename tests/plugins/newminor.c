/* SPDX-License-Identifier: MIT */
/* A descriptor from a newer minor ABI than the host's. */
#include "common.h"

static const struct mproc_task_def tasks[] = {{"t", t_echo, NULL},
                                              {NULL, NULL, NULL}};
__attribute__((visibility("default"))) const struct mproc_plugin
    mproc_plugin_v1 = {
        .abi_major = MPROC_PLUGIN_ABI_MAJOR,
        .abi_minor = MPROC_PLUGIN_ABI_MINOR + 1,
        .size = sizeof(struct mproc_plugin),
        .name = "newminor",
        .tasks = tasks,
};

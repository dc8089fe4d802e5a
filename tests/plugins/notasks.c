/* SPDX-License-Identifier: MIT */
/* A valid plugin with one task, "only": the tests ask it for another. */
#include "common.h"

static const struct mproc_task_def tasks[] = {{"only", t_echo, NULL},
                                              {NULL, NULL, NULL}};
MPROC_PLUGIN_DEFINE(.name = "notasks", .version = "0",
                    .description = "one task, named only", .tasks = tasks);

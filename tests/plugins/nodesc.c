/* SPDX-License-Identifier: MIT */
/* A shared object with a task function but no descriptor symbol: the
 * loader must say that mproc_plugin_v1 is missing. */
#include "common.h"

mproc_task_fn nodesc_task(void);

/* Exported, so the object has a visible symbol other than the descriptor. */
__attribute__((visibility("default"))) mproc_task_fn
nodesc_task(void)
{
    return t_echo;
}

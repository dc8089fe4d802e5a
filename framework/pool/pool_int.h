/*
 * Pool internals shared by the host side (pool.c) and the worker side
 * (worker.c).
 */
#ifndef MPROC_POOL_INT_H
#define MPROC_POOL_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <mproc/pool.h>

#include "plugin/plugin_int.h"

/* What a forked worker needs to run. */
struct mproc__worker_args {
    const struct mproc_plugin *desc;
    const struct mproc_task_def *task;
    const struct mproc_kv *args;
    size_t nargs;
    size_t message_max;
    const struct mproc_sync *sync; /* shared objects, or NULL */
    unsigned slot;   /* worker slot, 0..N-1 */
    int task_fd;     /* read end: frames from the host */
    int result_fd;   /* write end: frames to the host */
};

/* The worker's main loop; never returns. */
void mproc__worker_main(const struct mproc__worker_args *a)
    __attribute__((noreturn));

/* The loaded plugin of a pool, for the CLI's reports. */
const struct mproc__plugin *mproc__pool_plugin(const mproc_pool_t *p);

/* Exit status of a worker whose init failed (the host also gets a frame). */
#define MPROC__WORKER_EXIT_INIT 78

#endif

/*
 * mproc: process pools running plugin tasks.
 *
 * A pool applies one task of one plugin to a stream of input items, in N
 * worker processes.  The caller supplies items through a callback and gets
 * exactly one result per item through another: success with the task's
 * output, or failure with a message that says why (the task failed, its
 * worker died and how, or the run was stopped).  A worker that dies is
 * replaced and the run goes on; it never hangs on a dead worker.
 *
 * Both callbacks run in the calling thread, inside mproc_pool_run(); a slow
 * callback slows down result handling (and so the pool), nothing more.
 *
 * Start methods and IPC backends are chosen by name: workers start by
 * "fork", "spawn" (a fresh image that loads the plugin from its file) or
 * "forkserver"; this version moves tasks over the "pipe" backend and
 * answers MPROC_EUNAVAIL for the others.
 */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A pool (opaque). */
typedef struct mproc_pool mproc_pool_t;

/** Pool options.  Fill with mproc_pool_opts_init(), then set fields. */
struct mproc_pool_opts {
    /** Worker processes; 0 = the CPUs this process may run on. */
    unsigned workers;
    /** Plugin name (searched) or path (contains '/'); or NULL with desc. */
    const char *plugin;
    /** An in-process descriptor instead of a file (fork only); borrowed
     *  for the pool's lifetime. */
    const struct mproc_plugin *plugin_desc;
    /** Task name; NULL selects the plugin's only task. */
    const char *task;
    /** The [args] handed to the plugin's init; copied. */
    const struct mproc_kv *args;
    size_t nargs;
    /** Items sent to a worker at a time (default 1). */
    unsigned chunksize;
    /** Retire a worker after this many tasks; 0 = never. */
    unsigned max_tasks_per_child;
    /** Largest item or task output in bytes (default 64 MiB). */
    size_t message_max;
    /** Deliver results in input order (default true). */
    bool ordered;
    /** Stop at the first failed task (default false). */
    bool stop_on_error;
    /** Fold outputs with the plugin's reduce, when it has one (default
     *  true); see mproc_pool_reduce_output(). */
    bool reduce;
    /** "fork" (default), "spawn" or "forkserver"; the last two need a
     *  plugin file (not plugin_desc): MPROC_ENOTSUP otherwise. */
    const char *start_method;
    /** "pipe" (default); "mq" and "shmring" are not available yet. */
    const char *ipc;
    /** Called (with the run's user pointer) each time the pool is about to
     *  sleep waiting for workers or input: the place to flush buffered
     *  output, so results show while the run goes on.  NULL: none. */
    void (*on_idle)(void *user);
    /** With a `next` that may answer MPROC_EAGAIN: the descriptor that
     *  becomes readable when more input may be ready; -1 = none (then the
     *  pool asks again after the next result). */
    int input_fd;
    /** Shared objects the plugin finds by name with mproc_shared(): an
     *  arena created (and its objects named) before mproc_pool_run();
     *  borrowed.  NULL: none. */
    struct mproc_sync *sync;
    /** When this descriptor becomes readable the run stops as cancelled
     *  (e.g. the read end of a self-pipe written by a SIGINT handler);
     *  -1 = none. */
    int cancel_fd;

    /* ---- limits and recovery ---- */
    /** Per-task time limit in milliseconds; 0 = none.  When it passes the
     *  worker gets SIGTERM (a plugin may catch it and return a failure);
     *  if the task still runs timeout_grace_ms later, SIGKILL.  The item
     *  fails with MPROC_ETIMEDOUT and a replacement worker starts. */
    unsigned timeout_ms;
    /** Grace between the soft and the hard time limit (default 1000). */
    unsigned timeout_grace_ms;
    /** Run a task again this many times when it fails, times out or its
     *  worker dies (not for MPROC_EMSGSIZE or a cancelled run). */
    unsigned retries;
    /** Retire a worker, after the task it runs, once its resident memory
     *  exceeds this many bytes; 0 = no limit. */
    size_t max_memory_per_child;
    /** Resource limits set in each worker (setrlimit); 0 = unchanged. */
    unsigned long rlimit_cpu;    /**< seconds of CPU time */
    unsigned long rlimit_as;     /**< bytes of address space */
    unsigned long rlimit_nofile; /**< open descriptors */
    /** Added to each worker's nice value; 0 = unchanged. */
    int nice;

    /* ---- fields added by later work go below this line ---- */
};

/** Defaults for every field. */
MPROC_API void mproc_pool_opts_init(struct mproc_pool_opts *o);

/** An input item; the pool copies the bytes before the callback returns. */
struct mproc_item {
    const void *data;
    size_t len;
};

/**
 * The next input item: fill *item and return 1; return 0 at the end of
 * the input; return MPROC_EAGAIN when no item is ready yet (the pool then
 * waits, handling results meanwhile, until input_fd is readable, and asks
 * again); any other negative MPROC_E* code stops the run with that error
 * (its message then comes from the callback's own reporting).
 */
typedef int (*mproc_next_fn)(void *user, struct mproc_item *item);

/** One result, borrowed for the duration of the callback. */
struct mproc_result {
    uint64_t index;   /**< the item's position in the input, from 0 */
    int status;       /**< 0; MPROC_ETASK (the task failed);
                           MPROC_EWORKER (its worker died);
                           MPROC_ETIMEDOUT (it ran past timeout_ms);
                           MPROC_EMSGSIZE (item or output too large);
                           MPROC_ECANCELED (not run: the run stopped) */
    const void *data; /**< the task's output when status is 0 */
    size_t len;
    const char *message;  /**< why, when status is not 0 */
    const void *item;     /**< the input item */
    size_t item_len;
    pid_t worker;         /**< the worker that ran it, or 0 */
    unsigned attempts;    /**< times it was started (1 + retries used) */
    double started;       /**< wall clock (seconds since the epoch) when
                               its last attempt was sent; 0 if never */
    double duration;      /**< seconds from then to its result */
    int exitcode;         /**< MPROC_EWORKER/ETIMEDOUT: the worker's exit
                               status, or minus the signal that ended it */
};

/**
 * Called once per item.  Return 0 to go on, or non-zero to stop the run as
 * if stop_on_error had fired.
 */
typedef int (*mproc_result_fn)(void *user, const struct mproc_result *r);

/**
 * Create a pool: load and check the plugin and the task.  No process is
 * started until mproc_pool_run().
 * @return 0; MPROC_EPLUGIN, MPROC_EABI (plugin problems, the message names
 *         the file and the reason); MPROC_EUNAVAIL (IPC backend not
 *         available yet); MPROC_ENOTSUP (spawn or forkserver with an
 *         in-process descriptor); MPROC_EINVAL (unknown names, bad
 *         values); MPROC_ENOMEM.
 */
MPROC_API int mproc_pool_new(mproc_pool_t **out,
                             const struct mproc_pool_opts *o,
                             mproc_err_t *err);

/**
 * Run the task over every item from `next`, calling `on_result` exactly
 * once per item, and stop the workers.  A pool runs once.
 * @return 0 when every item was delivered (some may have failed: see each
 *         result's status); MPROC_ECANCELED when cancel_fd fired, stop_on_error
 *         fired or on_result asked to stop; MPROC_EINIT when a worker's init
 *         failed (mproc_pool_errmsg() says why); the code returned by
 *         `next`; MPROC_EINVAL if the pool already ran; system errors.
 *         On every return no worker process is left.
 */
MPROC_API int mproc_pool_run(mproc_pool_t *p, mproc_next_fn next,
                             mproc_result_fn on_result, void *user);

/** True when the pool's plugin has a reduce step and reduce is enabled. */
MPROC_API bool mproc_pool_has_reduce(const mproc_pool_t *p);

/**
 * After mproc_pool_run(): the reduced output (the plugin's reduce_end).
 * *data is borrowed until mproc_pool_free().
 * @return 0; MPROC_ENOTSUP when the pool has no reduce; MPROC_ETASK when
 *         reduce_end failed (see mproc_pool_errmsg()).
 */
MPROC_API int mproc_pool_reduce_output(mproc_pool_t *p, const void **data,
                                       size_t *len);

/** The name of the task the pool runs (borrowed). */
MPROC_API const char *mproc_pool_task(const mproc_pool_t *p);

/** The number of workers the pool runs (after resolving 0 = CPUs). */
MPROC_API unsigned mproc_pool_workers(const mproc_pool_t *p);

/** The last error message of the pool ("" when none); borrowed. */
MPROC_API const char *mproc_pool_errmsg(const mproc_pool_t *p);

/** Release a pool (stopping workers if any).  NULL is a no-op. */
MPROC_API void mproc_pool_free(mproc_pool_t *p);

/** The CPUs this process may run on (its affinity mask), at least 1. */
MPROC_API unsigned mproc_cpu_usable(void);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_POOL_H */

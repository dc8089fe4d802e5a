/* SPDX-License-Identifier: MIT */
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
 * "forkserver"; items and results travel over "pipe", "mq" (POSIX message
 * queues) or "shmring" (a shared-memory ring), with the same results.
 *
 * What a worker is, whatever the start method: stdin is /dev/null; stdout
 * and stderr are both the caller's stderr (stdout line buffered, stdio
 * flushed after every task and before the worker ends, so nothing a
 * plugin prints is lost); a worker of a plugin loaded from a file holds
 * no other descriptor of the caller's than its two channels and the
 * `sync` arena (a forked worker closes the rest, so the caller's output
 * files cannot be written by a task or a command it runs), while a forked
 * worker running an in-process function (the Pool API's function pools)
 * keeps what the caller had open, as Python's fork workers do (a Queue or
 * Pipe made before the pool works in its tasks), less the library's own
 * descriptors (other pools' channels, sentinels); it leads a process group of its own, which the
 * processes its tasks start join: time-limit and stop signals go to that
 * group, and what is left of it is killed when the worker ends.  A task's
 * item is followed by a NUL byte (see mproc_task_fn in plugin.h).
 *
 * A NULL handle is refused, never dereferenced: MPROC_EINVAL from a call
 * that returns an error code, 0/false/NULL from one that does not, no-op
 * for the frees (the rule in <mproc/error.h>).
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
    /** Items sent to a worker at a time (default 1); each is still its
     *  own task.  0 = auto: from 1, grown while tasks are tiny (about
     *  2 ms of work a chunk, 64 items at most).  Whatever the chunk,
     *  tiny tasks travel, and their results come back, many per message
     *  (up to 128 ahead per worker); a worker's death still costs only
     *  the item it was running. */
    unsigned chunksize;
    /** Retire a worker after this many tasks; 0 = never. */
    unsigned max_tasks_per_child;
    /** Largest item or task output in bytes (default 64 MiB). */
    size_t message_max;
    /** Deliver results in input order (default true).  In order, at most
     *  a window of items (a few per worker, 1024 at least) is in flight,
     *  so one slow item holds back the results after it; unordered, each
     *  result is delivered and its place freed at once, and tasks queued
     *  to a busy worker are handed to idle ones, so one slow (or hung)
     *  item holds back no other.  Memory is bounded either way. */
    bool ordered;
    /** Stop at the first failed task (default false): no item is taken
     *  once one failed; the few already handed to workers may still run;
     *  none after it is delivered as a success. */
    bool stop_on_error;
    /** Fold outputs with the plugin's reduce, when it has one (default
     *  true); see mproc_pool_reduce_output(). */
    bool reduce;
    /** "fork" (default), "spawn" or "forkserver"; the last two need a
     *  plugin file (not plugin_desc): MPROC_ENOTSUP otherwise. */
    const char *start_method;
    /** "pipe" (default), "mq" or "shmring": the transport of items and
     *  results (see mproc-queue(3) for the backends); or "auto": chosen
     *  by mproc_pool_new() from a measurement of about 0.1 s (it forks
     *  short-lived processes) made once per kernel release and CPU
     *  count and cached in $XDG_CACHE_HOME/mproc/ipc-auto (see
     *  mproc.ini(5)); pipe unless another is clearly faster. */
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
     *  if the task still runs timeout_grace_ms later, SIGKILL (both to the
     *  worker's process group).  The item fails with MPROC_ETIMEDOUT and
     *  a replacement worker starts.  A signal that crossed the end of its
     *  task (and so ends the worker during the next one) fails no task:
     *  that one is run again elsewhere, not counted as an attempt. */
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

    /** Called (in the calling thread, with the run's user pointer) with a
     *  one-line message, without newline, when the run goes on in a
     *  degraded way: a worker could not be started or replaced (e.g. the
     *  mq backend's RLIMIT_MSGQUEUE is spent) and the others carry on;
     *  it is tried again with a growing delay.  Said once per run.  NULL:
     *  nothing is said (the library never prints). */
    void (*on_warning)(void *user, const char *msg);

    /* Used by the Python-style Pool API (mproc_apool_*) only. */
    /** Function-target pools (no plugin, no plugin_desc): called once in
     *  each worker before its first task, with ctx->state set to initarg
     *  (the initializer may replace it; tasks see ctx->state).  Return
     *  MPROC_TASK_OK, or MPROC_TASK_FAIL after mproc_fail().  NULL: none. */
    int (*initializer)(struct mproc_ctx *ctx, void *initarg);
    /** Handed to the initializer; borrowed (the worker gets a copy of the
     *  parent's memory at fork). */
    void *initarg;

    /* ---- debugging (issue 19) ---- */
    /** An item whose task has ended this many workers (a crash, an exit,
     *  a kill) is not run again: it fails with its result's quarantined
     *  set and a message holding each death's backtrace.  0 = 2 when
     *  retries > 0, else off (default 0). */
    unsigned quarantine_after;
    /** Ask a worker where its task is (a backtrace, without stopping it)
     *  once the task has run this many milliseconds, once per item, and
     *  also when a soft time limit (SIGTERM) is sent; 0 = never.  The
     *  trace goes to on_slow. */
    unsigned slowlog_ms;
    /** Called (with the run's user pointer) with the item, the seconds it
     *  has run, why ("slow" or "timeout") and its backtrace (lines, each
     *  starting with "\n  #N"); NULL: no slow log. */
    void (*on_slow)(void *user, uint64_t index, const void *item,
                    size_t item_len, double seconds, const char *why,
                    const char *trace);
    /** Live status (issue 19): serve this pool's state while it runs on
     *  a Unix socket of mode 0600 in a private folder
     *  ($XDG_RUNTIME_DIR/mproc, else /tmp/mproc-UID), which `mproc status`
     *  reads; the string (copied) labels the run there, e.g. a job name.
     *  NULL (the default): none.  MPROC_STATUS=0 in the environment turns
     *  it off too.  The socket is served from the pool's own loop, so it
     *  costs nothing until a client asks. */
    const char *status;
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
    const void *data; /**< the task's output when status is 0; for
                           MPROC_ETASK, what it wrote before it failed
                           when it gave its own status (exec), else
                           NULL */
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
                               status, or minus the signal that ended it;
                               MPROC_ETASK (and a time limit that a task
                               survived): the task's own status, when it
                               gave one (exec: the command's exit status
                               or minus its signal), else 0 */
    /** Issue 19: workers this item's task ended (crashes, exits, kills). */
    unsigned deaths;
    /** Issue 19: not run again because it ended quarantine_after workers
     *  (status MPROC_EWORKER; message holds each death's backtrace). */
    bool quarantined;
};

/**
 * Called once per item.  Return 0 to go on, or non-zero to stop the run as
 * if stop_on_error had fired.
 */
typedef int (*mproc_result_fn)(void *user, const struct mproc_result *r);

/**
 * Create a pool: load and check the plugin and the task.  No process is
 * started until mproc_pool_run().  Not thread-safe against other calls on
 * the same pool; separate pools may be used from separate threads.
 * @return 0; MPROC_EPLUGIN, MPROC_EABI (plugin problems, the message names
 *         the file and the reason); MPROC_ENOTSUP (spawn or forkserver with an
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
 *         failed (mproc_pool_errmsg() says why); MPROC_EWORKER when no
 *         worker could be started, or none is left and none can be
 *         started after retrying for a few seconds (a worker that cannot
 *         be replaced while others live only slows the run: see
 *         on_warning); the code returned by `next`; MPROC_EINVAL if the
 *         pool already ran; system errors.
 *         On every return no worker process is left.
 */
MPROC_API int mproc_pool_run(mproc_pool_t *p, mproc_next_fn next,
                             mproc_result_fn on_result, void *user);

/** True when the pool's plugin has a reduce step and reduce is enabled. */
MPROC_API bool mproc_pool_has_reduce(const mproc_pool_t *p);

/**
 * After mproc_pool_run(): the reduced output (the plugin's reduce_end).
 * *data is borrowed until mproc_pool_free().
 * @return 0; MPROC_ENOTSUP when the pool has no reduce; MPROC_EINVAL
 *         before mproc_pool_run() has returned; MPROC_ETASK when
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

/* ---- the Python-style Pool API ---- */

/*
 * What Python's multiprocessing.Pool offers, from C: a pool of worker
 * processes that stays up, takes tasks from any thread at any time
 * (apply, apply_async, map, map_async, imap, imap_unordered, starmap,
 * starmap_async) and hands back async results and iterators, until
 * close() or terminate() and join().
 *
 * Why a handle of its own (mproc_apool_t) and not an "async mode" of
 * mproc_pool_t: the run-once engine above keeps its state private to its
 * file and mproc_pool_free() knows nothing of a result thread, so freeing
 * an mproc_pool_t in async mode could not stop that thread.  An
 * mproc_apool_t owns one engine and one result thread and frees them in
 * order; the two ways of using a pool cannot be mixed by construction.
 *
 * Targets.  A pool created with neither `plugin` nor `plugin_desc` runs C
 * functions (fork start method only: a forked worker has the same code at
 * the same addresses): each call names its function, an mproc_task_fn
 * (or an mproc_star_fn for starmap).  A pool created with a plugin runs
 * that plugin's task, with every start method the engine offers; calls
 * then pass NULL as the function.  Options are those of mproc_pool_new():
 * workers (the `processes`; 0 = usable CPUs), initializer and initarg
 * (function pools; a plugin's own init is its initializer, with `args`),
 * max_tasks_per_child, start_method, ipc, sync, timeout_ms, retries...
 * `ordered`, `stop_on_error`, `reduce`, `on_idle`, `input_fd` and
 * `cancel_fd` are the pool's own business and ignored.
 *
 * The index a task sees: for function targets, the item's position in
 * its call's input (0 for apply); for plugin tasks, the task's number in
 * the pool's submission order.  A function task's input is followed by a
 * NUL byte that `len` does not count (each starmap argument too), so it
 * may be read as a string, as in a Process target.
 *
 * Results.  Every submitted task ends in exactly one result, a
 * struct mproc_result whose status is 0 (data/len hold the output),
 * MPROC_ETASK (the task failed; message says why), MPROC_EWORKER (its
 * worker died: message and exitcode say how), MPROC_ETIMEDOUT (it ran
 * past timeout_ms), MPROC_EMSGSIZE (item or output over message_max),
 * MPROC_ECANCELED (the pool was terminated before it ended) or MPROC_EINIT (not
 * run: a worker's initializer failed, which breaks the pool).  Waiting
 * never hangs on a dead worker.  In results kept by the pool, `item` is
 * NULL.
 *
 * Batching.  Function tasks queued faster than the workers take them
 * travel several per message, sized from measured task durations (about
 * 2 ms of work per message, and never more than a fair share of what is
 * queued, so slow tasks still spread over every worker), and a message of
 * several tasks never holds more than message_max bytes of them.  Each
 * task runs once per attempt and keeps its own result, whatever the size
 * of its output (up to message_max): a worker starts the next task of a
 * message only while the message has room for a result of that size.
 * When a worker dies, the task it was running fails with the cause, those
 * it finished keep their results (copied to shared memory as they
 * finish; one whose result was too large for that copy fails with the
 * death rather than running again) and those after it run on other
 * workers.  A call's `chunksize` c > 1 keeps its items in groups of c
 * that travel (and run, in order) together, like Python's chunks, within
 * message_max; 0 and 1 leave it to the pool.  A pool with timeout_ms, retries or max_tasks_per_child set
 * sends each task on its own (those limits count messages).  Plugin tasks
 * always travel opts.chunksize to a message, set at creation.
 *
 * Workers.  A pool's worker is named as Python names it:
 * mproc_current_process() there is "ForkPoolWorker-N",
 * "SpawnPoolWorker-N" or "ForkServerPoolWorker-N" by start method (N
 * from the counter of Process-N), a daemon whose mproc_parent_process()
 * is the pool's process.  In the pool's process mproc_active_children() counts the live
 * workers of every pool, with handles that answer name, pid, daemon and
 * is_alive (join and terminate refuse them: the pool owns its workers),
 * borrowed until the next mproc_active_children() call or the pool's
 * free.  A child forked by any thread (another pool's worker, a
 * Process, the application's fork()) closes the pool's channels, so
 * close() and join() never wait on a process that is not the pool's.
 *
 * Threads.  Every function here may be called from any thread.  The pool
 * has one result thread, started by mproc_apool_new(), which feeds the
 * workers and receives their results: callbacks, error callbacks and
 * input iterators run in that thread, one at a time, so a slow callback
 * slows the whole pool's result handling (and an iterator must not call
 * the pool).  A callback must not block on the pool: apply(), map(),
 * starmap(), a waiting get()/wait()/next() on a result not yet ready, and
 * join() return MPROC_EINVAL there instead of deadlocking.  The result
 * thread blocks every signal, so handlers run in the application's
 * threads.
 */

/** A Python-style pool (opaque). */
typedef struct mproc_apool mproc_apool_t;
/** The result of an apply_async/map_async/starmap_async (opaque). */
typedef struct mproc_async mproc_async_t;
/** An imap/imap_unordered iterator (opaque). */
typedef struct mproc_imap mproc_imap_t;

/**
 * A function target with several arguments (starmap): args[0..nargs-1]
 * are the task's arguments, borrowed for the call.  Otherwise as
 * mproc_task_fn.
 */
typedef int (*mproc_star_fn)(struct mproc_ctx *ctx,
                             const struct mproc_item *args, size_t nargs,
                             uint64_t index, struct mproc_buf *out);

/** The arguments of one starmap task. */
struct mproc_args {
    const struct mproc_item *v; /**< the arguments */
    size_t n;                   /**< how many (at most MPROC_STAR_MAX) */
};

/** Most arguments of one starmap task. */
#define MPROC_STAR_MAX 64

/**
 * Called in the result thread once every task of the call has its
 * result, with the result (mproc_async_get(ar, 0, ...) and
 * mproc_async_ready() answer at once there; `ar` is valid for the call).
 * As in Python, the result becomes ready for the other threads only
 * after the callback returned: a wait() that returns 0 has seen it run.
 * Not called for a result the application freed first.
 */
typedef void (*mproc_async_fn)(void *user, mproc_async_t *ar);

/** Per-call options; a NULL pointer means all defaults (zeroes). */
struct mproc_call_opts {
    /** Function pools: this call's items travel in groups of chunksize
     *  (a larger value than 4096 travels as groups of 4096); 0 or 1 =
     *  automatic.  See "Batching" above. */
    unsigned chunksize;
    /** Called when every task of the call succeeded; NULL: none. */
    mproc_async_fn callback;
    /** Called when a task failed (status 0 excluded); NULL: none. */
    mproc_async_fn error_callback;
    /** Handed to both callbacks. */
    void *user;
    /** imap: most results pulled but not yet consumed (default 8192):
     *  input is read lazily, only as fast as results are consumed, so
     *  memory stays bounded for any input length. */
    unsigned buffer;
};

/**
 * The input of a map: an array (`items`, `n`; an empty one, n = 0 with
 * or without an array, makes a call with zero results, ready at once),
 * or a callback that yields
 * items lazily (`next`, `next_user`; it returns 1 with an item, 0 at the
 * end, or a negative code that ends the input with that error, never
 * MPROC_EAGAIN).  The array is borrowed until the call's result is ready
 * or freed; the callback runs in the result thread, with the pool's lock
 * held: it must not call the pool.  An item it returns must stay valid
 * until it is called again.
 */
struct mproc_input {
    const struct mproc_item *items;
    size_t n;
    mproc_next_fn next;
    void *next_user;
};

/**
 * Create a pool and start its result thread (workers start with the
 * first task and are replaced when they die or retire).
 * @param out  the pool; free it with mproc_apool_free()
 * @param o    options (see above); borrowed for the call
 * @return 0; MPROC_ENOTSUP (function targets with spawn or
 *         forkserver); MPROC_EINVAL (an unknown start method, an
 *         initializer with a plugin ...); MPROC_EPERM (called in a daemon
 *         process: a pool's worker, or a Process started with daemon
 *         set); the errors of mproc_pool_new(); MPROC_ENOMEM; system
 *         errors.
 */
MPROC_API int mproc_apool_new(mproc_apool_t **out,
                              const struct mproc_pool_opts *o,
                              mproc_err_t *err);

/**
 * Submit one task and return at once.
 * @param fn    the function (function pools), or NULL (plugin pools)
 * @param data  the item, copied before the call returns
 * @param call  callbacks; NULL for none (chunksize is unused here)
 * @param out   the async result, which the caller frees with
 *              mproc_async_free(); or NULL to fire and forget (the
 *              callbacks still run; the pool frees the result)
 * @return 0; MPROC_ECLOSED after close or terminate; MPROC_EINIT if a
 *         worker's initializer failed (the pool is broken); MPROC_EINVAL
 *         (a function with a plugin pool or none with a function pool);
 *         MPROC_ENOMEM.  mproc_apool_errmsg() says why.
 */
MPROC_API int mproc_apool_apply_async(mproc_apool_t *p, mproc_task_fn fn,
                                      const void *data, size_t len,
                                      const struct mproc_call_opts *call,
                                      mproc_async_t **out);

/**
 * Run one task and wait for it: apply_async() then mproc_async_get().
 * @param out  the (ready) result, to read with mproc_async_get() and free
 *             with mproc_async_free(); set whenever the task was
 *             submitted, also when it failed
 * @return 0 when the task succeeded; its failure status otherwise; the
 *         errors of apply_async(); MPROC_EINVAL from a callback;
 *         MPROC_EINTR when a signal interrupted the wait (see
 *         mproc_async_get(): *out is set, the task goes on, wait on it
 *         again or free it).
 */
MPROC_API int mproc_apool_apply(mproc_apool_t *p, mproc_task_fn fn,
                                const void *data, size_t len,
                                mproc_async_t **out);

/**
 * Run fn over every item of `in`; one async result for the whole call,
 * ready when every item has its result; mproc_async_get() gives them in
 * input order.  callback runs when all succeeded, error_callback when
 * some failed.  An empty input succeeds with zero results (its callback
 * runs).  Errors as apply_async(), plus MPROC_EINVAL for an input given
 * twice (items and next) or n > 0 items without an array.
 */
MPROC_API int mproc_apool_map_async(mproc_apool_t *p, mproc_task_fn fn,
                                    const struct mproc_input *in,
                                    const struct mproc_call_opts *call,
                                    mproc_async_t **out);

/**
 * map_async(), then wait.  @return 0 when every item succeeded, else the
 * status of the first failed item (in input order); MPROC_EINTR as
 * apply(); *out as apply().
 */
MPROC_API int mproc_apool_map(mproc_apool_t *p, mproc_task_fn fn,
                              const struct mproc_input *in,
                              const struct mproc_call_opts *call,
                              mproc_async_t **out);

/** map_async() of a function with several arguments per task (function
 *  pools only; each task has at most MPROC_STAR_MAX arguments; the array
 *  is borrowed until the result is ready or freed). */
MPROC_API int mproc_apool_starmap_async(mproc_apool_t *p, mproc_star_fn fn,
                                        const struct mproc_args *tasks,
                                        size_t n,
                                        const struct mproc_call_opts *call,
                                        mproc_async_t **out);

/** starmap_async(), then wait; returns as mproc_apool_map(). */
MPROC_API int mproc_apool_starmap(mproc_apool_t *p, mproc_star_fn fn,
                                  const struct mproc_args *tasks, size_t n,
                                  const struct mproc_call_opts *call,
                                  mproc_async_t **out);

/**
 * A lazy map: results come out of mproc_imap_next() in input order while
 * later tasks still run.  Input is pulled only while fewer than
 * call->buffer results wait to be consumed: a slow consumer slows the
 * input, never grows memory.  Callbacks in `call` are not used.
 * Errors as map_async().  Free the iterator with mproc_imap_free().
 */
MPROC_API int mproc_apool_imap(mproc_apool_t *p, mproc_task_fn fn,
                               const struct mproc_input *in,
                               const struct mproc_call_opts *call,
                               mproc_imap_t **out);

/** As mproc_apool_imap(), results in the order they finish. */
MPROC_API int mproc_apool_imap_unordered(mproc_apool_t *p, mproc_task_fn fn,
                                         const struct mproc_input *in,
                                         const struct mproc_call_opts *call,
                                         mproc_imap_t **out);

/**
 * No more tasks: the workers run what was submitted, then retire, and
 * the result thread ends (see join).  Later submissions fail with
 * MPROC_ECLOSED.  Closing twice is fine.  @return 0.
 */
MPROC_API int mproc_apool_close(mproc_apool_t *p);

/**
 * Stop now: workers get SIGTERM (SIGKILL timeout_grace_ms later, or at
 * once if it is 0), and every task
 * not finished ends with MPROC_ECANCELED.  Later submissions fail with
 * MPROC_ECLOSED.  @return 0.
 */
MPROC_API int mproc_apool_terminate(mproc_apool_t *p);

/**
 * Wait for the result thread to end, which it does once every task has
 * its result and no worker is left.
 * @return 0; MPROC_EINVAL before close() or terminate(), or from a
 *         callback; MPROC_EINTR when a signal handler interrupted the
 *         wait (see "Signals" at mproc_async_get(); call it again);
 *         after a broken pool (MPROC_EINIT ...) that error.
 */
MPROC_API int mproc_apool_join(mproc_apool_t *p);

/** The number of worker processes. */
MPROC_API unsigned mproc_apool_workers(const mproc_apool_t *p);

/** The message of the last failed call on the pool, from any thread
 *  ("" when none); borrowed until the next call. */
MPROC_API const char *mproc_apool_errmsg(const mproc_apool_t *p);

/**
 * Free the pool: terminate() and join() first if the application did
 * not.  Async results and iterators still held stay usable (they are all
 * ready by then) until freed.  Never from a callback.  NULL is a no-op.
 */
MPROC_API void mproc_apool_free(mproc_apool_t *p);

/**
 * Wait up to timeout_ms (-1: forever, 0: do not wait) for the result.
 * @param results  NULL, or: the results, in input order (one for apply),
 *                 borrowed until mproc_async_free()
 * @param n        NULL, or: how many
 * @return 0 when every task succeeded; the status of the first failed
 *         task (MPROC_ETASK ...; mproc_async_errmsg() has its message);
 *         MPROC_EAGAIN when the timeout passed first (distinct from
 *         MPROC_ETIMEDOUT, a task that ran past the pool's time limit);
 *         MPROC_EINTR when a signal interrupted the wait (below);
 *         MPROC_EINVAL when waiting from a callback.
 *
 * Signals.  get, wait, mproc_imap_next() and mproc_apool_join() return
 * MPROC_EINTR as soon as a signal handler that was installed without
 * SA_RESTART has run in the waiting thread, so a program can stop
 * waiting on Ctrl-C as Python raises KeyboardInterrupt; the result is
 * untouched, wait again to go on.  With SA_RESTART an untimed wait
 * (timeout_ms = -1) goes on; a timed wait returns MPROC_EINTR after any
 * handler, SA_RESTART or not, because Linux does not restart timed
 * sleeps (as with poll(2)).  The pool's own thread blocks every signal.
 * A waiter is woken by every change that can satisfy it: a result, an
 * input that fails or ends, terminate(), a pool that breaks.
 */
MPROC_API int mproc_async_get(mproc_async_t *ar, int timeout_ms,
                              const struct mproc_result **results,
                              size_t *n);

/** Wait up to timeout_ms (-1: forever).  @return 0 when ready;
 *  MPROC_EAGAIN when the timeout passed first; MPROC_EINTR when a signal
 *  interrupted it (see mproc_async_get()); MPROC_EINVAL when waiting
 *  from a callback. */
MPROC_API int mproc_async_wait(mproc_async_t *ar, int timeout_ms);

/** True when every task of the call has its result and its callback
 *  returned (in the callback itself: true). */
MPROC_API bool mproc_async_ready(mproc_async_t *ar);

/** @return 1 when ready and every task succeeded, 0 when ready and one
 *  failed, MPROC_EINVAL when not ready yet (errmsg says so). */
MPROC_API int mproc_async_successful(mproc_async_t *ar);

/** The first failed task's message, "item N: why" for a map, or the
 *  last misuse; "" when none.  Borrowed until mproc_async_free(). */
MPROC_API const char *mproc_async_errmsg(mproc_async_t *ar);

/** Release an async result.  If it is not ready yet, it is abandoned:
 *  its tasks not started are dropped (a map's input is not read on),
 *  those running finish unseen, and no callback runs.  NULL is a no-op.
 *
 *  Memory: the pool keeps some of what a freed result held for the next
 *  calls, since fresh memory costs a page fault and zeroing per page
 *  (the largest map result array up to 128 MiB, up to 8 blocks of 4 MiB
 *  of result bytes, up to 32768 apply results); mproc_apool_free()
 *  releases it. */
MPROC_API void mproc_async_free(mproc_async_t *ar);

/**
 * The next result, waiting up to timeout_ms (-1: forever).
 * @param r  the result, borrowed until the next call or the free; its
 *           index is the item's position in the input
 * @return 1 with a result (which may be a failure: see r->status); 0 at
 *         the end; MPROC_EAGAIN when the timeout passed first; once, after
 *         the results of the items already read: the input callback's
 *         error, or the pool's when it was terminated (MPROC_ECANCELED)
 *         or broke (MPROC_EINIT ...), whose reason mproc_apool_errmsg()
 *         then gives; MPROC_EINTR when a signal
 *         interrupted the wait (see mproc_async_get()); MPROC_EINVAL
 *         when waiting from a callback.  An empty input ends at once.
 */
MPROC_API int mproc_imap_next(mproc_imap_t *it, int timeout_ms,
                              const struct mproc_result **r);

/** Release an iterator; input not read yet is never read, results still
 *  to come are dropped.  NULL is a no-op. */
MPROC_API void mproc_imap_free(mproc_imap_t *it);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_POOL_H */

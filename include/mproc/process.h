/* SPDX-License-Identifier: MIT */
/*
 * mproc: processes and start methods (Python's multiprocessing.Process).
 *
 * A process runs one target in a child process: a C function with the task
 * signature of <mproc/plugin.h> (mproc_task_fn), or a plugin task named
 * "PLUGIN:TASK", with an input buffer.  What the target appends to its
 * output buffer, or the message it gives mproc_fail(), reaches the parent,
 * where mproc_process_result() and mproc_process_failure() read it after
 * mproc_process_join().  A plugin target is the same thing a pool worker
 * runs: init, the task, fini.
 *
 * Start methods:
 *   fork        the child is a copy of the parent; the target runs directly.
 *   spawn       a fresh image (posix_spawn of the mproc-worker program)
 *               that inherits only the descriptors it needs.  The target
 *               must be a plugin task: a function pointer means nothing in
 *               a new image.
 *   forkserver  a clean server process, started on first use by spawn,
 *               forks children on request; plugin targets only, as spawn.
 *
 * Exit codes follow Python: the exit status, or minus the signal number
 * when a signal ended the process (-15 after mproc_process_terminate()).
 * A target that returns MPROC_TASK_OK exits with 0, one that fails with 1.
 *
 * Children and cleanup: a started process is reaped by join,
 * mproc_active_children() or at exit, never left a zombie.  When the parent
 * exits normally it joins its non-daemon children and terminates its daemon
 * children; a daemon child also dies (SIGKILL) when its parent process ends
 * any other way, killed included, whichever thread started it and whether
 * that thread still runs (not PR_SET_PDEATHSIG, which follows the thread;
 * see mproc-process(3)).
 *
 * Thread safety: a process handle is used by one thread at a time; the
 * module-level functions may be called from any thread, also while another
 * thread joins one of the children they look at (each child is reaped once,
 * under a lock of its own).
 *
 * Fork safety: a child the library forks keeps no descriptor of the
 * library's but its own, and no lock held by another thread at the fork.
 * In a forked child the parent's handles are not children: join answers
 * MPROC_EINVAL, the other calls answer as at the fork.
 *
 * Signals: join and mproc_wait() return MPROC_EINTR when a signal is caught
 * during the wait and some handler of the program was installed without
 * SA_RESTART (poll(2) cannot say which ran; fault signals do not count);
 * with SA_RESTART handlers only, the wait goes on.
 *
 * A NULL handle is refused, never dereferenced: MPROC_EINVAL from a call
 * that returns an error code, 0/false/NULL from one that does not, no-op
 * for the frees (the rule in <mproc/error.h>).
 */
#ifndef MPROC_PROCESS_H
#define MPROC_PROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A process (opaque). */
typedef struct mproc_process mproc_process_t;

/** A start-method context (opaque, static: never freed). */
typedef struct mproc_context mproc_context_t;

/** Process options.  Fill with mproc_process_opts_init(), then set fields. */
struct mproc_process_opts {
    /** A function target (fork only); its `index` argument is 0.  Or: */
    mproc_task_fn fn;
    /** A plugin task target "PLUGIN:TASK" (PLUGIN a name or a path; without
     *  ":TASK" the plugin's only task).  Exactly one of fn and target. */
    const char *target;
    /** The target's input bytes; copied (and the target sees a NUL after
     *  them, so text input can be used as a C string). */
    const void *input;
    size_t input_len;
    /** The [args] the target's ctx->args shows; copied. */
    const struct mproc_kv *args;
    size_t nargs;
    /** The process's name; NULL: "Process-N1:...:Nk".  Copied. */
    const char *name;
    /** A daemon process is terminated when its parent exits, and killed
     *  when its parent process dies. */
    bool daemon;
    /** Largest output the target may produce (default 64 MiB). */
    size_t result_max;
    /** The start method's context; NULL: the default one. */
    const mproc_context_t *context;
};

/** Fill `o` with the defaults. */
MPROC_API void mproc_process_opts_init(struct mproc_process_opts *o);

/**
 * Create a process (not started).  The name is given now: the counter of
 * this process's children advances with every process created.
 * @return 0, MPROC_EINVAL (no target, both targets, bad options) or
 *         MPROC_ENOMEM, with a message in `err`.
 */
MPROC_API int mproc_process_new(mproc_process_t **out,
                                const struct mproc_process_opts *o,
                                mproc_err_t *err);

/**
 * Start the process, once.  The plugin of a plugin target is loaded here
 * first, so a bad target fails here.
 * @return 0; MPROC_EBUSY when already started; MPROC_ENOTSUP for a function
 *         target with spawn or forkserver; MPROC_EPERM in a daemon process
 *         (daemons may not have children); MPROC_EPLUGIN, MPROC_EABI for a
 *         plugin that does not load; MPROC_ECLOSED after close; or a system
 *         error.  See mproc_process_errmsg().
 */
MPROC_API int mproc_process_start(mproc_process_t *p);

/**
 * Wait for the process to end, at most `timeout_ms` (-1: no limit), reading
 * its result meanwhile (a large result never deadlocks), and reap it.  May
 * be called many times.
 * @return 0 when it has ended; MPROC_ETIMEDOUT; MPROC_EINTR when a signal
 *         interrupted the wait (see "Signals" above; the process still
 *         runs); MPROC_ECHILD when it was never started; MPROC_EINVAL for
 *         the current process (a process cannot join itself) or a handle
 *         of the parent's in a forked child; MPROC_ECLOSED after close.
 */
MPROC_API int mproc_process_join(mproc_process_t *p, int timeout_ms);

/** Started and not ended yet (reaps it when it has ended).  false after
 *  close. */
MPROC_API bool mproc_process_is_alive(mproc_process_t *p);

/**
 * The exit code: the exit status, or -SIGNAL when a signal ended it.
 * @return 0 and *code; MPROC_EAGAIN while it runs or before start;
 *         MPROC_ECLOSED after close.
 */
MPROC_API int mproc_process_exitcode(mproc_process_t *p, int *code);

/** The pid: 0 before start; MPROC_ECLOSED (negative) after close;
 *  MPROC_EINVAL for NULL. */
MPROC_API pid_t mproc_process_pid(const mproc_process_t *p);

/**
 * A descriptor that polls readable when the process ends: a pidfd (or,
 * where the kernel refuses pidfds, the read end of its result pipe).
 * Made on the first call, not at start; asked for once the process was
 * joined, it is a descriptor that is readable at once (a pipe with no
 * writer).  The same descriptor on every call.  Owned by the process;
 * valid until close.
 * @return the descriptor; MPROC_ECHILD before start; MPROC_ECLOSED.
 */
MPROC_API int mproc_process_sentinel(const mproc_process_t *p);

/** Send SIGTERM / SIGKILL.  0 (also when it has already ended);
 *  MPROC_ECHILD before start; MPROC_ECLOSED. */
MPROC_API int mproc_process_terminate(mproc_process_t *p);
MPROC_API int mproc_process_kill(mproc_process_t *p);

/** The name (borrowed, valid until set_name or free; "" after close). */
MPROC_API const char *mproc_process_name(const mproc_process_t *p);
/** Rename; 0, MPROC_EINVAL (NULL), MPROC_ENOMEM or MPROC_ECLOSED. */
MPROC_API int mproc_process_set_name(mproc_process_t *p, const char *name);
/** The daemon flag. */
MPROC_API bool mproc_process_daemon(const mproc_process_t *p);
/** Set the daemon flag: 0, MPROC_EBUSY once started, MPROC_ECLOSED. */
MPROC_API int mproc_process_set_daemon(mproc_process_t *p, bool daemon);

/**
 * The target's output, after it ended with success: *data and *len point
 * into the process (valid until close or free).
 * @return 0; MPROC_EAGAIN while it runs; MPROC_ETASK when the target
 *         failed (mproc_process_failure() says why); MPROC_EWORKER when it
 *         ended without a result (exit() or a signal); MPROC_ECHILD before
 *         start; MPROC_ECLOSED.
 */
MPROC_API int mproc_process_result(mproc_process_t *p, const void **data,
                                   size_t *len);

/**
 * Why the target failed, once it has ended: its mproc_fail() message, or
 * "exited with status 3", "killed by SIGTERM" ...; NULL when it succeeded,
 * runs, or was not started.  Borrowed, valid until close or free.
 */
MPROC_API const char *mproc_process_failure(const mproc_process_t *p);

/** The last error message ("" when none); borrowed. */
MPROC_API const char *mproc_process_errmsg(const mproc_process_t *p);

/**
 * Release the process's resources (descriptors, result).  Any later call
 * but name, errmsg and free answers MPROC_ECLOSED.
 * @return 0 (also when already closed); MPROC_EAGAIN while it runs (join
 *         or terminate it first).
 */
MPROC_API int mproc_process_close(mproc_process_t *p);

/**
 * Free the handle.  A process still running is not stopped: it stays
 * among the children and is reaped by mproc_active_children() or at exit.
 * NULL is a no-op.  Never free the handles of mproc_current_process() and
 * mproc_parent_process().
 */
MPROC_API void mproc_process_free(mproc_process_t *p);

/* ---- handing shared objects to a child ---- */

/** What mproc_process_pass() hands to a child. */
enum mproc_pass_kind {
    /** An mproc_queue_t * (a Queue, JoinableQueue or SimpleQueue). */
    MPROC_PASS_QUEUE = 1,
    /** An mproc_pipe_t * (one end of a Pipe). */
    MPROC_PASS_PIPE,
    /** An mproc_sync_t *: the arena, with every Lock, RLock, Semaphore,
     *  BoundedSemaphore, Event, Condition, Barrier, Value and Array in it;
     *  the child finds them by the names mproc_sync_name() gave them,
     *  with mproc_sync_find(). */
    MPROC_PASS_SYNC,
    /** An mproc_shm_t * (a SharedMemory block). */
    MPROC_PASS_SHM
};

/**
 * Hand `obj`, of `kind`, to the child `p` will run, with any start
 * method: the child gets it back with mproc_process_passed(kind, index)
 * (index: this call's return value, 0 for the first object, 1 for the
 * next ...) and uses it as a forked child uses an inherited one.  Under
 * fork the child's handle is the parent's own pointer; under spawn and
 * forkserver the object travels as descriptors in the boot message and
 * the child gets a handle of its own (which it may free, or leave to
 * its exit).  Call before mproc_process_start(); `obj` is borrowed until
 * then and must not be closed or freed before the start.  Handing the
 * same object to many children is fine; the parent keeps using it.
 * @return the index (>= 0); MPROC_EINVAL (unknown kind, NULL obj);
 *         MPROC_EBUSY once started; MPROC_ENOMEM; MPROC_ECLOSED.  At
 *         start, spawn and forkserver may also fail with MPROC_E2BIG (more
 *         than 63 descriptors in all, the child's own one or two included:
 *         a Queue takes 2 to 9, a Pipe end 2 to 10, an arena or a block 1) or MPROC_ECLOSED (an object closed
 *         in this process).
 */
MPROC_API int mproc_process_pass(mproc_process_t *p, int kind, void *obj);

/**
 * In a child: the object its parent handed it at `index` (see
 * mproc_process_pass()), checked to be of `kind`; *out gets the handle
 * (mproc_queue_t *, mproc_pipe_t *, mproc_sync_t * or mproc_shm_t *).
 * @return 0; MPROC_ENOENT when there is no object at index (also in the
 *         main program); MPROC_EINVAL when it is of another kind.
 */
MPROC_API int mproc_process_passed(int kind, size_t index, void **out);

/** In a child: how many objects it was handed (0 in the main program). */
MPROC_API size_t mproc_process_npassed(void);

/**
 * The worker program that spawn (and the forkserver, when it starts)
 * runs (Python's set_executable()): a copy of mproc-worker, or a wrapper
 * (a script that sets up the environment, then execs mproc-worker with
 * the same arguments; the descriptors 3 and up must reach it).  It
 * overrides the MPROC_WORKER variable; NULL restores the default.
 * Copied.  Takes effect for the next child.
 * @return 0; MPROC_EACCES when `path` is not an executable file (the
 *         message says why); MPROC_ENOMEM.
 */
MPROC_API int mproc_set_executable(const char *path, mproc_err_t *err);

/** The worker program spawn runs now (borrowed, valid until the next
 *  mproc_set_executable()). */
MPROC_API const char *mproc_get_executable(void);

/* ---- the module ---- */

/** The number of online CPUs, at least 1 (see mproc_cpu_usable() for the
 *  CPUs this process may run on). */
MPROC_API unsigned mproc_cpu_count(void);

/** This process: "MainProcess" in the main program, its own process in a
 *  child.  Borrowed; supports name, pid, daemon, is_alive. */
MPROC_API mproc_process_t *mproc_current_process(void);

/** The parent of this process, or NULL in the main program.  Borrowed;
 *  supports name, pid, is_alive, sentinel and join. */
MPROC_API mproc_process_t *mproc_parent_process(void);

/**
 * The children started by this process that are still running, after
 * reaping those that have ended.  Fills up to `max` borrowed handles.  A
 * child whose handle was freed is reaped here too, but neither listed nor
 * counted: there is no handle left to give.
 * @return the number of running children with a handle (may exceed max).
 */
MPROC_API size_t mproc_active_children(mproc_process_t **out, size_t max);

/**
 * Wait until at least one of the descriptors is ready (readable or hung
 * up): process sentinels, channel and queue descriptors, Listeners'
 * and Connections' (mproc_listener_fd, mproc_conn_fd), any fd, at once
 * (Python's multiprocessing.connection.wait).  The ready ones are copied
 * to `ready` (room for n), in the order given.
 * @return how many are ready, 0 on timeout (-1: no limit), or a negative
 *         error (MPROC_EINVAL for a negative fd, MPROC_EINTR when a signal
 *         interrupted the wait (see "Signals" above), a poll error).
 */
MPROC_API ssize_t mproc_wait(const int *fds, size_t n, int timeout_ms,
                             int *ready);

/**
 * Set the default start method ("fork", "spawn", "forkserver").  Once set
 * it can be changed only with `force`.
 * @return 0; MPROC_EINVAL (unknown name); MPROC_EBUSY (already set).
 */
MPROC_API int mproc_set_start_method(const char *method, bool force,
                                     mproc_err_t *err);

/** The default start method ("fork" unless set).  Static string. */
MPROC_API const char *mproc_get_start_method(void);

/** The start methods, NULL-terminated, the default first.  Static. */
MPROC_API const char *const *mproc_get_all_start_methods(void);

/**
 * A context for one start method, for mproc_process_opts.context; NULL
 * `method` is the default.  Static: nothing to free.
 * @return 0 or MPROC_EINVAL (unknown name).
 */
MPROC_API int mproc_get_context(const char *method,
                                const mproc_context_t **out,
                                mproc_err_t *err);

/** A context's start method (static string). */
MPROC_API const char *mproc_context_start_method(const mproc_context_t *c);

/**
 * Plugins the forkserver loads when it starts (names or paths; copied), so
 * its children start with them loaded.  Takes effect for a server started
 * later.  0 or MPROC_ENOMEM.
 */
MPROC_API int mproc_set_forkserver_preload(const char *const *plugins,
                                           size_t n, mproc_err_t *err);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_PROCESS_H */

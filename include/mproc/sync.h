/* SPDX-License-Identifier: MIT */
/*
 * mproc: locks, semaphores, events, conditions and barriers shared
 * between processes.
 *
 * A sync arena (mproc_sync_t) is a shared memory segment holding sync
 * objects, all implemented by one backend chosen by name at run time:
 *
 *   "futex"  Linux futexes on words in the segment;
 *   "posix"  process-shared robust pthread mutexes and sem_t;
 *   "sysv"   System V semaphores with SEM_UNDO.
 *
 * Create the arena and its objects before forking: the children inherit
 * the mapping at the same address, so the object pointers stay valid in
 * every process of the family.
 *
 * A holder that dies never deadlocks the others.  When a process is killed
 * while it holds a Lock, an RLock or a Semaphore unit, the next acquirer
 * gets the object with MPROC_EOWNERDEAD instead of 0 (within about 50 ms of
 * starting to wait).  Semaphore units that a process took and kept when it
 * exited normally (exit(), a return from main, a pool worker's retirement)
 * were consumed, as a counter's are, and do not come back.  The object is then held as after a normal acquire,
 * but the state it protects may be half-updated: check or rebuild it before
 * relying on it, then release as usual.
 *
 * Timeouts are in milliseconds: -1 waits for ever, 0 only tries.
 */
#ifndef MPROC_SYNC_H
#define MPROC_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A shared segment of sync objects with one backend (opaque). */
typedef struct mproc_sync mproc_sync_t;
/** A Lock or an RLock, living in an arena (opaque). */
typedef struct mproc_lock mproc_lock_t;
/** A Semaphore or a BoundedSemaphore, living in an arena (opaque). */
typedef struct mproc_sem mproc_sem_t;
/** An Event (opaque). */
typedef struct mproc_event mproc_event_t;
/** A Condition over a Lock or an RLock (opaque). */
typedef struct mproc_cond mproc_cond_t;
/** A Barrier (opaque). */
typedef struct mproc_barrier mproc_barrier_t;

/**
 * Create an arena of `size` bytes (0: 64 KiB) for the backend `backend`
 * ("futex", "posix" or "sysv"; NULL: "futex").  The segment has no name
 * (memfd), so nothing is left in /dev/shm whatever happens; a sysv arena
 * also owns a System V semaphore set, removed by mproc_sync_free() in the
 * process that created it.
 * @return 0; MPROC_EINVAL for an unknown backend (the message lists them);
 *         MPROC_ENOMEM; a system error.
 */
MPROC_API int mproc_sync_new(mproc_sync_t **out, const char *backend,
                             size_t size, mproc_err_t *err);

/** The backend's name (static string). */
MPROC_API const char *mproc_sync_backend(const mproc_sync_t *s);

/** The names of every backend, NULL-terminated (static). */
MPROC_API const char *const *mproc_sync_backends(void);

/**
 * Unmap the arena in this process.  In the creating process it also
 * releases what the kernel keeps (the sysv semaphore set): free it there
 * only after the other processes are done.  NULL is a no-op.
 */
MPROC_API void mproc_sync_free(mproc_sync_t *s);

/**
 * Give an object of the arena a name, for mproc_sync_find() in any process
 * that maps the arena.  `kind` is "lock", "rlock", "semaphore",
 * "boundedsemaphore", "event", "condition", "barrier", "value" or "array";
 * names are unique per kind, up to 43 bytes.
 * @return 0; MPROC_EEXIST; MPROC_EINVAL (name too long, object of another
 *         arena); MPROC_ENOMEM (directory full: 256 names).
 */
MPROC_API int mproc_sync_name(mproc_sync_t *s, const char *kind,
                              const char *name, void *object);

/** The object named `name` of `kind`, or NULL. */
MPROC_API void *mproc_sync_find(const mproc_sync_t *s, const char *kind,
                                const char *name);

/**
 * Create a Lock (`recursive` false) or an RLock (true) in the arena.
 * A Lock is held by one process at a time and only its holder may release
 * it; an RLock may be acquired again by the process that holds it and is
 * free once released as many times.
 * @return 0; MPROC_ENOMEM when the arena is full.
 */
MPROC_API int mproc_lock_new(mproc_sync_t *s, bool recursive,
                             mproc_lock_t **out, mproc_err_t *err);

/**
 * Acquire.  @return 0; MPROC_EOWNERDEAD (acquired: the previous holder
 * died holding it); MPROC_ETIMEDOUT.  A Lock acquired again by its own
 * holder waits like any other process (as in Python).
 */
MPROC_API int mproc_lock_acquire(mproc_lock_t *l, int timeout_ms);

/** Release.  @return 0; MPROC_EPERM when this process does not hold it. */
MPROC_API int mproc_lock_release(mproc_lock_t *l);

/**
 * Create a Semaphore holding `value` units, or a BoundedSemaphore
 * (`bounded`), whose value may never exceed its initial value.
 * @return 0; MPROC_EINVAL for a value above 1,000,000,000; MPROC_ENOMEM.
 */
MPROC_API int mproc_sem_new(mproc_sync_t *s, unsigned value, bool bounded,
                            mproc_sem_t **out, mproc_err_t *err);

/**
 * Take one unit.  @return 0; MPROC_EOWNERDEAD (taken: a process died
 * holding units, which went back to the semaphore); MPROC_ETIMEDOUT.
 */
MPROC_API int mproc_sem_acquire(mproc_sem_t *sem, int timeout_ms);

/**
 * Give one unit back.  Any process may release a Semaphore.
 * @return 0; MPROC_ERANGE when a BoundedSemaphore would exceed its initial
 *         value.
 */
MPROC_API int mproc_sem_release(mproc_sem_t *sem);

/** The units available now (a snapshot). */
MPROC_API int mproc_sem_get_value(const mproc_sem_t *sem);

/* ---- Event ---- */

/** Create an Event, initially clear.  @return 0; MPROC_ENOMEM. */
MPROC_API int mproc_event_new(mproc_sync_t *s, mproc_event_t **out,
                              mproc_err_t *err);
/** Set the flag and wake every waiter. */
MPROC_API void mproc_event_set(mproc_event_t *e);
/** Clear the flag. */
MPROC_API void mproc_event_clear(mproc_event_t *e);
/** Is the flag set? */
MPROC_API bool mproc_event_is_set(const mproc_event_t *e);
/**
 * Wait until the flag is set.  @return 0 (it is set); MPROC_ETIMEDOUT.
 * A waiter never depends on another process staying alive.
 */
MPROC_API int mproc_event_wait(mproc_event_t *e, int timeout_ms);

/* ---- Condition ---- */

/**
 * Create a Condition over `lock` (a Lock or an RLock of the same arena),
 * or over a new Lock when `lock` is NULL (see mproc_cond_lock()).
 * @return 0; MPROC_EINVAL (lock of another arena); MPROC_ENOMEM.
 */
MPROC_API int mproc_cond_new(mproc_sync_t *s, mproc_lock_t *lock,
                             mproc_cond_t **out, mproc_err_t *err);
/** The Condition's lock: acquire it before wait and notify. */
MPROC_API mproc_lock_t *mproc_cond_lock(const mproc_cond_t *c);
/**
 * Release the lock (entirely, for an RLock), wait for a notify, and take
 * the lock back (as deep as before) before returning.
 * @return 0 (notified); MPROC_ETIMEDOUT (not notified; the lock is held
 *         again); MPROC_EOWNERDEAD (the lock was taken back from a holder
 *         that died); MPROC_EPERM (this process does not hold the lock).
 * Like any condition variable it may wake without a notify aimed at it
 * (notably: waiters just entering their wait when a notify comes all
 * wake), so wait in a loop on the predicate you care about.
 */
MPROC_API int mproc_cond_wait(mproc_cond_t *c, int timeout_ms);
/** Wake up to `n` waiters.  @return 0; MPROC_EPERM without the lock. */
MPROC_API int mproc_cond_notify(mproc_cond_t *c, int n);
/** Wake every waiter.  @return 0; MPROC_EPERM without the lock. */
MPROC_API int mproc_cond_notify_all(mproc_cond_t *c);

/* ---- Barrier ---- */

/**
 * Create a Barrier for `parties` processes (1 to 64).
 * @return 0; MPROC_EINVAL; MPROC_ENOMEM.
 */
MPROC_API int mproc_barrier_new(mproc_sync_t *s, unsigned parties,
                                mproc_barrier_t **out, mproc_err_t *err);
/**
 * Wait until `parties` processes have called wait.
 * @return the arrival index, 0 to parties-1 (>= 0); MPROC_EBROKEN when the
 *         barrier is or becomes broken (abort, a reset while waiting, a
 *         waiting party that died, another waiter's timeout);
 *         MPROC_ETIMEDOUT (this waiter's timeout: the barrier is now
 *         broken for the others).
 */
MPROC_API int mproc_barrier_wait(mproc_barrier_t *b, int timeout_ms);
/** Break the barrier: current and later waiters get MPROC_EBROKEN. */
MPROC_API void mproc_barrier_abort(mproc_barrier_t *b);
/** Return to the empty, unbroken state; current waiters get EBROKEN. */
MPROC_API void mproc_barrier_reset(mproc_barrier_t *b);
/** The number of parties. */
MPROC_API unsigned mproc_barrier_parties(const mproc_barrier_t *b);
/** The number of processes waiting now. */
MPROC_API unsigned mproc_barrier_n_waiting(const mproc_barrier_t *b);
/** Is it broken? */
MPROC_API bool mproc_barrier_broken(const mproc_barrier_t *b);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_SYNC_H */

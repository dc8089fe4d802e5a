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
 * Objects are carved from the arena: one that does not fit fails with
 * MPROC_ENOMEM and takes nothing, so smaller ones still fit.  On "sysv"
 * each Lock, RLock, Semaphore, Condition and Barrier also takes one
 * semaphore of the arena's set (247 in all); Events, Values and Arrays
 * take none.
 *
 * Create the arena and its objects before forking: the children inherit
 * the mapping at the same address, so the object pointers stay valid in
 * every process of the family.
 *
 * A holder that dies never deadlocks the others.  When a process ends
 * while it holds a Lock or an RLock, whether it was killed or exited
 * (exit(), _exit(), a return from main) inside its critical section, the
 * next acquirer gets the object with MPROC_EOWNERDEAD instead of 0 (within
 * about 50 ms of starting to wait).  A normal exit is not told apart on
 * purpose: a holder that leaves mid-section may have left the protected
 * state half-updated just as a killed one.  The object is then held as
 * after a normal acquire: check or rebuild the state before relying on it,
 * then release as usual.
 *
 * Semaphore units a process took and kept are different: kept units may
 * have been consumed (a Semaphore used as a counter), so they come back
 * (with MPROC_EOWNERDEAD to the acquirer that gets them) only when the
 * holder was killed.  Exactly:
 *   - units kept by a process that called exit() or returned from main,
 *     or that was an mproc Process or pool worker ending normally, stay
 *     consumed;
 *   - for a process that called _exit(), or any other, mproc reads how it
 *     ended while it is a zombie: exited, the units stay consumed; killed
 *     by a signal, they come back;
 *   - once its parent has reaped it (waitpid) before a waiter looked, how
 *     it ended is known to nobody but the parent: its units come back, as
 *     for a kill, since a unit lost for good could deadlock the others.
 *     (A forked child that calls _exit() while holding units it means to
 *     consume should exit() instead, or its parent should reap it only
 *     after the other processes looked.)
 *   - "sysv": the kernel's SEM_UNDO gives back every unit a process took
 *     and kept whenever it exits, however it exits; whether the acquirer
 *     that gets them sees MPROC_EOWNERDEAD follows the rules above.
 *     A Semaphore meant to count consumption across processes wants
 *     "futex" or "posix".
 *
 * Signals: a blocking call (lock and semaphore acquire, event, condition
 * and barrier wait) during which a signal handler runs returns
 * MPROC_EINTR, within a few milliseconds, when the process has a handler
 * installed without SA_RESTART (the kernel does not tell which signal ran,
 * so any such handler counts; fault signals such as SIGSEGV do not); with
 * SA_RESTART handlers only, the call goes on waiting, as read() would.
 * This lets a C program stop a wait on Ctrl-C as Python's
 * KeyboardInterrupt does.  What each call holds after MPROC_EINTR is said
 * at the call.  An Event wait sleeps in one piece.  Limit: Lock,
 * Semaphore, Condition and Barrier waits sleep in slices of about 50 ms
 * (to look for dead holders); a signal that comes between two slices is
 * held and ends the wait at the next, but one that comes as a slice times
 * out (the same moment, give or take the scheduler's delay: a busy
 * machine) runs its handler unseen and the call waits on; a program that
 * must never miss one waits with a finite timeout and checks its own flag
 * between calls.
 *
 * Timeouts are in milliseconds: -1 (any negative value) waits for ever,
 * 0 only tries.
 *
 * A NULL handle is refused, never dereferenced: MPROC_EINVAL from a call
 * that returns an error code, 0/false/NULL from one that does not, no-op
 * for the frees (the rule in <mproc/error.h>).
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
 * also owns a System V semaphore set (250 semaphores, mode 0600), removed
 * by mproc_sync_free() in the process that created it; each Lock, RLock,
 * Semaphore, Condition and Barrier takes one of its 247 for objects
 * (Events, Values and Arrays take none), MPROC_ENOMEM when they are
 * spent.
 * A creator killed before that leaves its set: the next sysv arena of the same user
 * removes the sets whose creator is dead, and so does `mproc clean`
 * (mproc(1)).
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
 * ended holding it, killed or by a normal exit); MPROC_ETIMEDOUT;
 * MPROC_EINTR (a signal, see above; not acquired).  A Lock acquired again
 * by its own holder waits like any other process (as in Python).
 * Thread-safe; a Lock is held by a process, not a thread.
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
 * Take one unit.  @return 0; MPROC_EOWNERDEAD (taken: a process was
 * killed holding units, which went back to the semaphore; see above for
 * which ends count); MPROC_ETIMEDOUT; MPROC_EINTR (a signal; nothing
 * taken).
 */
MPROC_API int mproc_sem_acquire(mproc_sem_t *sem, int timeout_ms);

/**
 * Give one unit back.  Any process may release a Semaphore.
 * @return 0; MPROC_ERANGE when a BoundedSemaphore would exceed its initial
 *         value.
 */
MPROC_API int mproc_sem_release(mproc_sem_t *sem);

/** The units available now (a snapshot); MPROC_EINVAL for NULL. */
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
 * Wait until the flag is set.  @return 0 (it is set); MPROC_ETIMEDOUT;
 * MPROC_EINTR (a signal).  A waiter never depends on another process
 * staying alive, and a waiter killed while waiting hangs nobody.
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
 * the lock back (as deep as before) before returning, whatever the result.
 * @return 0 (notified); MPROC_ETIMEDOUT (not notified); MPROC_EINTR (a
 *         signal; not notified); MPROC_EOWNERDEAD (the lock was taken back
 *         from a holder that ended holding it); MPROC_EPERM (this process
 *         does not hold the lock).  A notify that reaches the waiter
 *         between its timeout (or signal) and taking the lock back makes
 *         it return 0: a notify is never lost that way.
 * The first 64 processes waiting at once on one Condition are notified
 * one by one, oldest first (see mproc_cond_notify()); any waiter beyond
 * those 64 wakes at every notify, as if spuriously.  Wait in a loop on
 * the predicate you care about, as with any condition variable.
 * A waiter killed while waiting hangs nobody; a notify it was given passes
 * to the oldest live waiter within about 50 ms.
 */
MPROC_API int mproc_cond_wait(mproc_cond_t *c, int timeout_ms);
/**
 * Wake up to `n` of the processes waiting when it is called (the oldest
 * first); later waiters are not woken by it.  n <= 0 does nothing.
 * @return 0; MPROC_EPERM without the lock.
 */
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
 *         waiting party that died, another waiter's timeout or signal);
 *         MPROC_ETIMEDOUT (this waiter's timeout: the barrier is now
 *         broken for the others); MPROC_EINTR (a signal: likewise broken,
 *         as in Python).  A waiter whose timeout or signal comes as the
 *         last party arrives passes with its index: its generation
 *         completed, and nothing is broken.
 */
MPROC_API int mproc_barrier_wait(mproc_barrier_t *b, int timeout_ms);
/** Break the barrier: current and later waiters get MPROC_EBROKEN. */
MPROC_API void mproc_barrier_abort(mproc_barrier_t *b);
/** Return to the empty, unbroken state; current waiters get EBROKEN. */
MPROC_API void mproc_barrier_reset(mproc_barrier_t *b);
/** The number of parties. */
MPROC_API unsigned mproc_barrier_parties(const mproc_barrier_t *b);
/** The number of processes waiting now; 0 while it is broken. */
MPROC_API unsigned mproc_barrier_n_waiting(const mproc_barrier_t *b);
/** Is it broken? */
MPROC_API bool mproc_barrier_broken(const mproc_barrier_t *b);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_SYNC_H */

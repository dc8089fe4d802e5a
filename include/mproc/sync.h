/*
 * mproc: locks and semaphores shared between processes.
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
 * starting to wait).  The object is then held as after a normal acquire,
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

#ifdef __cplusplus
}
#endif
#endif /* MPROC_SYNC_H */

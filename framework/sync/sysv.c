/* SPDX-License-Identifier: MIT */
/*
 * The sysv backend: one System V semaphore per Lock and Semaphore, in the
 * arena's set, always changed with SEM_UNDO.  (Event, Condition and
 * Barrier wait on their word with a futex, as on every backend.)
 *
 * SEM_UNDO is the point of this backend: the kernel records every change a
 * process makes and reverses it when the process exits, however it exits,
 * so a holder killed with SIGKILL gives its lock or units back by itself.
 * (The shared layer still reports it, from the holder it recorded.)  The
 * price is a system call for every operation, contended or not, and one
 * limit: a unit taken by one process and given back by another returns to
 * the semaphore a second time when the taker exits (its undo), so
 * producer/consumer counting across processes wants futex or posix.
 */
#include "internal.h"

#include <stdatomic.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include "sync/sync_int.h"

union semun_ {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

static int
op(const struct mproc__sobj *o, short delta, bool undo,
   const struct timespec *deadline)
{
    int semid = mproc__sync_hdr_of(o)->semid;
    struct sembuf b = {.sem_num = (unsigned short)o->index, .sem_op = delta,
                       .sem_flg = undo ? SEM_UNDO : 0};
    struct timespec rel;
    int r;

    for (;;) {
        if (deadline != NULL) {
            long ms = mproc__ms_left(deadline);
            rel.tv_sec = ms / 1000;
            rel.tv_nsec = (ms % 1000) * 1000000L;
            r = semtimedop(semid, &b, 1, &rel);
        } else {
            r = semop(semid, &b, 1);
        }
        if (r == 0)
            return 0;
        /* semop is never restarted after a handler (SA_RESTART or not):
         * EINTR goes up and the shared layer decides; a post (no wait)
         * is retried here. */
        if (errno == EINTR && delta > 0)
            continue;
        if (errno == EINTR)
            return MPROC_EINTR;
        return errno == EAGAIN ? MPROC_ETIMEDOUT : -errno;
    }
}

static int
set_value(struct mproc__sobj *o, int value)
{
    union semun_ arg = {.val = value};
    return semctl(mproc__sync_hdr_of(o)->semid, (int)o->index, SETVAL, arg) < 0
               ? -errno
               : 0;
}

static int
mutex_init(struct mproc__sobj *o, void *impl)
{
    return set_value(o, 1);
}

static int
mutex_trylock(struct mproc__sobj *o, void *impl)
{
    struct sembuf b = {.sem_num = (unsigned short)o->index, .sem_op = -1,
                       .sem_flg = SEM_UNDO | IPC_NOWAIT};
    int r;

    do
        r = semop(mproc__sync_hdr_of(o)->semid, &b, 1);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    return errno == EAGAIN ? MPROC_EAGAIN : -errno;
}

static int
mutex_lock(struct mproc__sobj *o, void *impl, const struct timespec *deadline)
{
    return op(o, -1, true, deadline);
}

static int
mutex_unlock(struct mproc__sobj *o, void *impl)
{
    return op(o, 1, true, NULL);
}

static int
sem_init_(struct mproc__sobj *o, void *impl, unsigned value)
{
    /* A System V semaphore holds at most SEMVMX (32767). */
    return value > 32767 ? MPROC_ERANGE : set_value(o, (int)value);
}

static int
sem_wait_(struct mproc__sobj *o, void *impl, const struct timespec *deadline)
{
    return op(o, -1, true, deadline);
}

static int
sem_post_(struct mproc__sobj *o, void *impl, bool own)
{
    /* A unit this process took is given back with SEM_UNDO, which cancels
     * the take's pending undo.  A unit it did not take (a producer's post)
     * must not be undone when the poster exits. */
    return op(o, 1, own, NULL);
}

static int
sem_value_(const struct mproc__sobj *o, const void *impl)
{
    return semctl(mproc__sync_hdr_of(o)->semid, (int)o->index, GETVAL);
}

const struct mproc_sync_ops mproc__sync_sysv_ops = {
    .name = "sysv",
    .mutex_size = 0,
    .sem_size = 0,
    .undo_on_death = true,
    .mutex_init = mutex_init,
    .mutex_trylock = mutex_trylock,
    .mutex_lock = mutex_lock,
    .mutex_unlock = mutex_unlock,
    .sem_init = sem_init_,
    .sem_wait = sem_wait_,
    .sem_post = sem_post_,
    .sem_value = sem_value_,
    /* Words are waited on with a futex, not a semaphore of the set: a
     * sleeper looked at the word, then slept in semop(), and a wake-up
     * between the two was lost until the slice ended (12.18).  A word wait
     * needs no undo, the point of this backend. */
    .word_size = 0,
    .word_init = mproc__futex_word_init,
    .word_wait = mproc__futex_word_wait,
    .word_wake = mproc__futex_word_wake,
};

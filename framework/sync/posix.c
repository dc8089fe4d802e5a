/* SPDX-License-Identifier: MIT */
/*
 * The posix backend: process-shared robust pthread mutexes and process-
 * shared sem_t, in the segment.
 *
 * A robust mutex is the kernel's own answer to a holder that dies: glibc
 * keeps each thread's held robust mutexes on a list the kernel walks at
 * exit, so the next locker gets EOWNERDEAD at once, and must mark the
 * mutex consistent before it is usable again.
 *
 * Nothing here sleeps inside glibc, for two reasons.  A process-shared
 * condition variable keeps a reference for each waiter, so a waiter killed
 * inside pthread_cond_wait() hangs the next broadcast for ever (glibc
 * 2.36): words are waited on with futexes instead, as in the futex
 * backend.  And pthread_mutex_clocklock() retries after EINTR by itself,
 * so a signal could not interrupt a Lock: a contended mutex is waited on
 * through its own lock word, with the kernel's robust-futex protocol
 * (Documentation/locking/robust-futex-ABI): the word holds the owner's
 * TID, FUTEX_WAITERS asks the unlocker (glibc, or the kernel when the
 * owner dies) for a wake-up, and the mutex is always taken with
 * pthread_mutex_trylock(), which keeps glibc's robust list right.
 */
#include "internal.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <semaphore.h>

#include "sync/sync_int.h"

static int
mutex_init(struct mproc__sobj *o, void *impl)
{
    pthread_mutexattr_t a;
    int r;

    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    r = pthread_mutex_init(impl, &a);
    pthread_mutexattr_destroy(&a);
    return -r;
}

static int
mutex_trylock(struct mproc__sobj *o, void *impl)
{
    int r = pthread_mutex_trylock(impl);

    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(impl);
        return MPROC_EOWNERDEAD;
    }
    return r == EBUSY ? MPROC_EAGAIN : -r;
}

/* The mutex's lock word (glibc's __lock: the robust-futex word). */
static _Atomic uint32_t *
lock_word(void *impl)
{
    return (_Atomic uint32_t *)&((pthread_mutex_t *)impl)->__data.__lock;
}

static int
mutex_lock(struct mproc__sobj *o, void *impl, const struct timespec *deadline)
{
    _Atomic uint32_t *w = lock_word(impl);
    bool slept = false;
    uint32_t v;
    int r;

    for (;;) {
        r = mutex_trylock(o, impl);
        if (r != MPROC_EAGAIN) {
            /* Taken after a sleep: others may sleep too, and glibc's
             * trylock stored our TID without FUTEX_WAITERS, so nobody
             * would wake them at unlock.  Ask for it, as glibc's own
             * pthread_mutex_lock() does after sleeping. */
            if (slept && (r == 0 || r == MPROC_EOWNERDEAD))
                atomic_fetch_or(w, FUTEX_WAITERS);
            return r;
        }
        v = atomic_load(w);
        if ((v & FUTEX_TID_MASK) == 0)
            continue; /* let go meanwhile (or its owner died): try again */
        if (!(v & FUTEX_WAITERS) &&
            !atomic_compare_exchange_strong(w, &v, v | FUTEX_WAITERS))
            continue;
        slept = true;
        r = mproc__futex_wait(w, v | FUTEX_WAITERS, deadline);
        if (r < 0)
            return r; /* MPROC_ETIMEDOUT or MPROC_EINTR */
    }
}

static int
mutex_unlock(struct mproc__sobj *o, void *impl)
{
    return -pthread_mutex_unlock(impl);
}

static int
sem_init_(struct mproc__sobj *o, void *impl, unsigned value)
{
    return sem_init(impl, 1, value) < 0 ? -errno : 0;
}

static int
sem_wait_(struct mproc__sobj *o, void *impl, const struct timespec *deadline)
{
    int r;

    /* EINTR goes up: the shared layer decides whether to go on. */
    r = deadline ? sem_clockwait(impl, CLOCK_MONOTONIC, deadline)
                 : sem_wait(impl);
    if (r < 0)
        return errno == ETIMEDOUT ? MPROC_ETIMEDOUT : -errno;
    return 0;
}

static int
sem_post_(struct mproc__sobj *o, void *impl, bool own)
{
    return sem_post(impl) < 0 ? -errno : 0;
}

static int
sem_value_(const struct mproc__sobj *o, const void *impl)
{
    int v = 0;
    sem_getvalue((sem_t *)impl, &v);
    return v;
}

const struct mproc_sync_ops mproc__sync_posix_ops = {
    .name = "posix",
    .mutex_size = sizeof(pthread_mutex_t),
    .sem_size = sizeof(sem_t),
    .undo_on_death = false,
    .mutex_init = mutex_init,
    .mutex_trylock = mutex_trylock,
    .mutex_lock = mutex_lock,
    .mutex_unlock = mutex_unlock,
    .sem_init = sem_init_,
    .sem_wait = sem_wait_,
    .sem_post = sem_post_,
    .sem_value = sem_value_,
    .word_size = 0,
    .word_init = mproc__futex_word_init, /* a futex on the word (12.7) */
    .word_wait = mproc__futex_word_wait,
    .word_wake = mproc__futex_word_wake,
};

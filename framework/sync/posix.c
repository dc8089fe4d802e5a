/* SPDX-License-Identifier: MIT */
/*
 * The posix backend: process-shared robust pthread mutexes and process-
 * shared sem_t, in the segment.
 *
 * A robust mutex is the kernel's own answer to a holder that dies: glibc
 * keeps each thread's held robust mutexes on a list the kernel walks at
 * exit, so the next locker gets EOWNERDEAD at once, and must mark the
 * mutex consistent before it is usable again.
 */
#include "internal.h"

#include <limits.h>
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

static int
mutex_lock(struct mproc__sobj *o, void *impl, const struct timespec *deadline)
{
    int r = deadline ? pthread_mutex_clocklock(impl, CLOCK_MONOTONIC, deadline)
                     : pthread_mutex_lock(impl);

    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(impl);
        return MPROC_EOWNERDEAD;
    }
    return r == ETIMEDOUT ? MPROC_ETIMEDOUT : -r;
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

    do
        r = deadline ? sem_clockwait(impl, CLOCK_MONOTONIC, deadline)
                     : sem_wait(impl);
    while (r < 0 && errno == EINTR);
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

/* Waiting on a word: a robust mutex and a condition variable, both
 * process-shared.  The waker changes the word before it takes the mutex,
 * and the waiter checks the word with the mutex held, so a wake cannot
 * fall between the check and the sleep. */
struct pword {
    pthread_mutex_t m;
    pthread_cond_t c;
};

static int
word_init(struct mproc__sobj *o, void *impl)
{
    struct pword *w = impl;
    pthread_condattr_t ca;
    int r = mutex_init(o, &w->m);

    if (r < 0)
        return r;
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    r = pthread_cond_init(&w->c, &ca);
    pthread_condattr_destroy(&ca);
    return -r;
}

static void
wlock(struct pword *w)
{
    /* Held only around a check and a signal: a holder that died there
     * left nothing half-done. */
    if (pthread_mutex_lock(&w->m) == EOWNERDEAD)
        pthread_mutex_consistent(&w->m);
}

static int
word_wait(struct mproc__sobj *o, void *impl, _Atomic uint32_t *word,
          uint32_t expected, const struct timespec *deadline)
{
    struct pword *w = impl;
    int r = 0;

    wlock(w);
    if (atomic_load(word) == expected)
        r = deadline ? pthread_cond_timedwait(&w->c, &w->m, deadline)
                     : pthread_cond_wait(&w->c, &w->m);
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(&w->m);
        r = 0;
    }
    pthread_mutex_unlock(&w->m);
    return r == ETIMEDOUT ? MPROC_ETIMEDOUT : 0;
}

static void
word_wake(struct mproc__sobj *o, void *impl, _Atomic uint32_t *word, int n)
{
    struct pword *w = impl;

    wlock(w);
    if (n == INT_MAX)
        pthread_cond_broadcast(&w->c);
    else
        while (n-- > 0)
            pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
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
    .word_size = sizeof(struct pword),
    .word_init = word_init,
    .word_wait = word_wait,
    .word_wake = word_wake,
};

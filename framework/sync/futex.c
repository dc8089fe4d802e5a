/* SPDX-License-Identifier: MIT */
/*
 * The futex backend: words in the shared segment, and the kernel's futex
 * wait/wake to sleep on them.
 *
 * Mutex word: 0 when free, else the holder's pid, with WAITERS set when
 * someone may be asleep on it (so an unlock without waiters makes no system
 * call).  The kernel knows nothing of who holds it, so a waiter that wakes
 * from a slice checks whether the pid in the word is still alive, and takes
 * the word over from a dead holder with one compare-and-swap.
 *
 * Semaphore: a counter word and a count of sleepers; post wakes one
 * sleeper only when there is one.
 */
#include "internal.h"

#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sync/sync_int.h"

#define WAITERS 0x40000000u /* pids are below 2^22 on Linux */
#define PID_MASK 0x3fffffffu

struct fmutex {
    _Atomic uint32_t word;
};

struct fsem {
    _Atomic uint32_t count;
    _Atomic uint32_t sleepers;
};

/* Sleep while *w == val, until woken or the deadline (MONOTONIC). */
int
mproc__futex_wait(_Atomic uint32_t *w, uint32_t val,
                  const struct timespec *deadline)
{
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, unlike
     * FUTEX_WAIT's relative one.  A timed futex wait is never restarted
     * by the kernel after a handler ran, SA_RESTART or not: the EINTR goes
     * up, and the shared layer decides. */
    long r = syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_BITSET, val,
                     deadline, NULL, FUTEX_BITSET_MATCH_ANY);
    if (r < 0 && errno == ETIMEDOUT)
        return MPROC_ETIMEDOUT;
    if (r < 0 && errno == EINTR)
        return MPROC_EINTR;
    return 0; /* woken or EAGAIN (value changed): look again */
}

void
mproc__futex_wake(_Atomic uint32_t *w, int n)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, n, NULL, NULL, 0);
}

#define fwait mproc__futex_wait
#define fwake mproc__futex_wake

static int
mutex_init(struct mproc__sobj *o, void *impl)
{
    struct fmutex *m = impl;
    atomic_init(&m->word, 0);
    return 0;
}

static int
mutex_trylock(struct mproc__sobj *o, void *impl)
{
    struct fmutex *m = impl;
    uint32_t cur = 0;

    /* A free word becomes ours.  Acquire pairs with the release in
     * mutex_unlock, so the previous holder's writes are seen. */
    return atomic_compare_exchange_strong_explicit(
               &m->word, &cur, (uint32_t)mproc__self(), memory_order_acquire,
               memory_order_relaxed)
               ? 0
               : MPROC_EAGAIN;
}

static int
mutex_lock(struct mproc__sobj *o, void *impl, const struct timespec *deadline)
{
    struct fmutex *m = impl;
    uint32_t self = (uint32_t)mproc__self(), cur = 0;
    int spins = 100, r;

    if (atomic_compare_exchange_strong_explicit(&m->word, &cur, self,
                                                memory_order_acquire,
                                                memory_order_relaxed))
        return 0;
    /* A short spin: the holder may be about to let go on the other core. */
    while (spins-- > 0) {
        cur = 0;
        if (atomic_compare_exchange_weak_explicit(&m->word, &cur, self,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return 0;
        mproc__cpu_relax();
    }
    for (;;) {
        cur = atomic_load_explicit(&m->word, memory_order_relaxed);
        if (cur == 0) {
            /* Take it, keeping WAITERS: others may still sleep. */
            if (atomic_compare_exchange_strong_explicit(
                    &m->word, &cur, self | WAITERS, memory_order_acquire,
                    memory_order_relaxed))
                return 0;
            continue;
        }
        if (!(cur & WAITERS) &&
            !atomic_compare_exchange_strong_explicit(
                &m->word, &cur, cur | WAITERS, memory_order_relaxed,
                memory_order_relaxed))
            continue;
        r = fwait(&m->word, cur | WAITERS, deadline);
        if (r == MPROC_EINTR)
            return r;
        if (r == MPROC_ETIMEDOUT) {
            /* Between slices: a dead holder's word is taken over. */
            cur = atomic_load_explicit(&m->word, memory_order_relaxed);
            if (cur != 0 && mproc__pid_dead((int32_t)(cur & PID_MASK)) &&
                atomic_compare_exchange_strong_explicit(
                    &m->word, &cur, self | WAITERS, memory_order_acquire,
                    memory_order_relaxed))
                return MPROC_EOWNERDEAD;
            return MPROC_ETIMEDOUT;
        }
    }
}

static int
mutex_unlock(struct mproc__sobj *o, void *impl)
{
    struct fmutex *m = impl;
    /* Release pairs with the acquire in mutex_lock. */
    uint32_t old = atomic_exchange_explicit(&m->word, 0, memory_order_release);

    if (old & WAITERS)
        fwake(&m->word, 1);
    return 0;
}

static int
sem_init_(struct mproc__sobj *o, void *impl, unsigned value)
{
    struct fsem *s = impl;
    atomic_init(&s->count, value);
    atomic_init(&s->sleepers, 0);
    return 0;
}

static int
sem_wait_(struct mproc__sobj *o, void *impl, const struct timespec *deadline)
{
    struct fsem *s = impl;
    uint32_t c;
    int r;

    for (;;) {
        c = atomic_load_explicit(&s->count, memory_order_relaxed);
        while (c > 0) {
            /* Acquire pairs with the release in sem_post_. */
            if (atomic_compare_exchange_weak_explicit(
                    &s->count, &c, c - 1, memory_order_acquire,
                    memory_order_relaxed))
                return 0;
        }
        atomic_fetch_add(&s->sleepers, 1);
        r = fwait(&s->count, 0, deadline);
        atomic_fetch_sub(&s->sleepers, 1);
        if (r < 0)
            return r; /* MPROC_ETIMEDOUT or MPROC_EINTR */
    }
}

static int
sem_post_(struct mproc__sobj *o, void *impl, bool own)
{
    struct fsem *s = impl;

    atomic_fetch_add_explicit(&s->count, 1, memory_order_release);
    /* seq_cst on both sides (sleepers++ then the count check in the
     * kernel; count++ then this load) makes a lost wake-up impossible. */
    if (atomic_load(&s->sleepers) > 0)
        fwake(&s->count, 1);
    return 0;
}

static int
sem_value_(const struct mproc__sobj *o, const void *impl)
{
    const struct fsem *s = impl;
    return (int)atomic_load((_Atomic uint32_t *)&s->count);
}

/*
 * Waiting on a word, for every backend: a futex on the word itself.  The
 * kernel compares the word and puts the sleeper to sleep in one step, so
 * a wake-up sent after the sleeper looked is never missed; and there is no
 * state besides the word, so a waiter killed while asleep leaves nothing
 * behind (12.7: posix's process-shared pthread_cond_t did; 12.18: sysv's
 * semaphore doorbell, then gate, looked at the word and slept in two
 * steps, and lost a wake-up sent between them).
 */
int
mproc__futex_word_init(struct mproc__sobj *o, void *impl)
{
    return 0;
}

int
mproc__futex_word_wait(struct mproc__sobj *o, void *impl,
                       _Atomic uint32_t *word, uint32_t expected,
                       const struct timespec *deadline)
{
    /* Test hooks (12.18): stop where a two-step wait had its windows,
     * before the look at the word (LOOK) and before the sleep (SLEEP); a
     * wake-up sent while stopped must still end this wait. */
    if (mproc__sync_hook("WORD_WAIT_STOP_LOOK") ||
        mproc__sync_hook("WORD_WAIT_STOP_SLEEP"))
        raise(SIGSTOP);
    return fwait(word, expected, deadline);
}

void
mproc__futex_word_wake(struct mproc__sobj *o, void *impl,
                       _Atomic uint32_t *word, int n)
{
    fwake(word, n);
}

const struct mproc_sync_ops mproc__sync_futex_ops = {
    .name = "futex",
    .mutex_size = sizeof(struct fmutex),
    .sem_size = sizeof(struct fsem),
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
    .word_init = mproc__futex_word_init,
    .word_wait = mproc__futex_word_wait,
    .word_wake = mproc__futex_word_wake,
};

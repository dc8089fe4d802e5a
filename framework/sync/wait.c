/* SPDX-License-Identifier: MIT */
/*
 * Event, Condition and Barrier: the primitives that sleep until something
 * changes.  Each is a word in the segment and the backend's word_wait /
 * word_wake; none counts sleepers or waits for an acknowledgement, so a
 * process that dies while waiting strands nobody (Python's Condition, built
 * on semaphores that count sleepers, can hang its notifier that way).
 *
 * Waits are cut into slices, as for locks: a Barrier's waiters use them to
 * notice a party that died at the barrier.
 */
#include "internal.h"

#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "sync/sync_int.h"

#define EVENT_MAGIC 0x65766e74u   /* "evnt" */
#define COND_MAGIC 0x636f6e64u    /* "cond" */
#define BARRIER_MAX_MAGIC 0x62617272u /* "barr" */

static mproc_lock_t *
lock_at(const struct mproc__sobj *o, uint64_t offset)
{
    return (mproc_lock_t *)((char *)mproc__sync_hdr_of(o) + offset);
}

/* Allocate an object with the backend's word state, and set that up. */
static void *
new_waitable(mproc_sync_t *s, size_t size, uint32_t magic, mproc_err_t *err)
{
    const struct mproc_sync_ops *ops = mproc__sync_ops(s);
    uint32_t index = 0;
    struct mproc__sobj *o;
    int r;

    o = mproc__sync_alloc(s, size + ops->word_size, magic, &index, err);
    if (o == NULL)
        return NULL;
    r = ops->word_init(o, (char *)o + size);
    if (r < 0) {
        mproc__err(err, r, "cannot set up a %s wait: %s", ops->name,
                   mproc_strerror(r));
        return NULL;
    }
    return o;
}

#define SPIN_MIN 8
#define SPIN_MAX 4096
/* Pauses to spin before sleeping; per thread, adapted as it goes. */
static _Thread_local int spin_budget = 512;

/*
 * Sleep until *word != expected or the deadline, in slices; `check` (may be
 * NULL) runs between slices and ends the wait when it returns non-zero.
 */
static int
wait_word(struct mproc__sobj *o, void *impl, _Atomic uint32_t *word,
          uint32_t expected, const struct timespec *deadline,
          int (*check)(void *), void *arg)
{
    const struct mproc_sync_ops *ops = mproc__sync_ops_of(o);
    struct timespec sl;
    int r, spin;

    /* A short spin first: a wake-up through the kernel costs tens of
     * microseconds on these machines, while a peer that is awake on
     * another core changes the word in well under one.  But when the peer
     * needs this very core (more busy processes than cores) spinning only
     * delays it, so the budget adapts: it doubles when a spin sees the
     * change and halves when the wait had to sleep anyway. */
    for (spin = 0; spin < spin_budget && atomic_load(word) == expected; spin++)
        mproc__cpu_relax();
    if (atomic_load(word) != expected) {
        if (spin_budget < SPIN_MAX)
            spin_budget *= 2;
        return 0;
    }
    if (spin_budget > SPIN_MIN)
        spin_budget /= 2;
    while (atomic_load(word) == expected) {
        ops->word_wait(o, impl, word, expected,
                       mproc__sync_slice(&sl, deadline));
        if (atomic_load(word) != expected)
            break;
        if (check != NULL && (r = check(arg)) != 0)
            return r;
        if (mproc__sync_passed(deadline))
            return MPROC_ETIMEDOUT;
    }
    return 0;
}

/* ---- Event ---- */

int
mproc_event_new(mproc_sync_t *s, mproc_event_t **out, mproc_err_t *err)
{
    *out = new_waitable(s, sizeof(**out), EVENT_MAGIC, err);
    return *out ? 0 : MPROC_ENOMEM;
}

void
mproc_event_set(mproc_event_t *e)
{
    /* seq_cst store, then the wake: a waiter that checked before this
     * store is asleep on the old value and gets woken. */
    atomic_store(&e->flag, 1);
    mproc__sync_ops_of(&e->o)->word_wake(&e->o, e->impl, &e->flag, INT_MAX);
}

void
mproc_event_clear(mproc_event_t *e)
{
    atomic_store(&e->flag, 0);
}

bool
mproc_event_is_set(const mproc_event_t *e)
{
    return atomic_load((_Atomic uint32_t *)&e->flag) != 0;
}

int
mproc_event_wait(mproc_event_t *e, int timeout_ms)
{
    struct timespec ts;
    return wait_word(&e->o, e->impl, &e->flag, 0,
                     mproc__deadline_of(&ts, timeout_ms), NULL, NULL);
}

/* ---- Condition ---- */

int
mproc_cond_new(mproc_sync_t *s, mproc_lock_t *lock, mproc_cond_t **out,
               mproc_err_t *err)
{
    struct mproc__sync_hdr *h = mproc__sync_hdr(s);
    mproc_cond_t *c;
    int r;

    *out = NULL;
    if (lock == NULL) {
        r = mproc_lock_new(s, false, &lock, err);
        if (r < 0)
            return r;
    } else if (mproc__sync_hdr_of(&lock->o) != h) {
        return mproc__err(err, MPROC_EINVAL, "the condition's lock belongs "
                                             "to another arena");
    }
    c = new_waitable(s, sizeof(*c), COND_MAGIC, err);
    if (c == NULL)
        return MPROC_ENOMEM;
    c->lock_offset = lock->o.offset;
    *out = c;
    return 0;
}

mproc_lock_t *
mproc_cond_lock(const mproc_cond_t *c)
{
    return lock_at(&c->o, c->lock_offset);
}

static bool
held(mproc_lock_t *l)
{
    return atomic_load(&l->owner) == mproc__self();
}

int
mproc_cond_wait(mproc_cond_t *c, int timeout_ms)
{
    mproc_lock_t *l = mproc_cond_lock(c);
    struct timespec ts;
    uint32_t seq, depth;
    int r, r2;

    if (!held(l))
        return MPROC_EPERM;
    /* Read the sequence while holding the lock: a notify needs the lock,
     * so it cannot slip between this read and the wait below unseen. */
    seq = atomic_load(&c->seq);
    depth = l->depth;
    l->depth = 1;
    mproc_lock_release(l);
    r = wait_word(&c->o, c->impl, &c->seq, seq,
                  mproc__deadline_of(&ts, timeout_ms), NULL, NULL);
    r2 = mproc_lock_acquire(l, -1);
    l->depth = depth;
    if (r2 == MPROC_EOWNERDEAD)
        return r2;
    return r;
}

static int
notify(mproc_cond_t *c, int n)
{
    if (!held(mproc_cond_lock(c)))
        return MPROC_EPERM;
    atomic_fetch_add(&c->seq, 1);
    mproc__sync_ops_of(&c->o)->word_wake(&c->o, c->impl, &c->seq, n);
    return 0;
}

int
mproc_cond_notify(mproc_cond_t *c, int n)
{
    return n <= 0 ? 0 : notify(c, n);
}

int
mproc_cond_notify_all(mproc_cond_t *c)
{
    return notify(c, INT_MAX);
}

/* ---- Barrier ---- */

int
mproc_barrier_new(mproc_sync_t *s, unsigned parties, mproc_barrier_t **out,
                  mproc_err_t *err)
{
    mproc_lock_t *l;
    mproc_barrier_t *b;
    int r;

    *out = NULL;
    if (parties < 1 || parties > MPROC__BARRIER_MAX)
        return mproc__err(err, MPROC_EINVAL, "a barrier has 1 to %d parties, "
                          "not %u", MPROC__BARRIER_MAX, parties);
    r = mproc_lock_new(s, false, &l, err);
    if (r < 0)
        return r;
    b = new_waitable(s, sizeof(*b), BARRIER_MAX_MAGIC, err);
    if (b == NULL)
        return MPROC_ENOMEM;
    b->lock_offset = l->o.offset;
    b->parties = parties;
    atomic_store(&b->broken_gen, UINT32_MAX);
    *out = b;
    return 0;
}

static void
wake_all(mproc_barrier_t *b)
{
    mproc__sync_ops_of(&b->o)->word_wake(&b->o, b->impl, &b->gen, INT_MAX);
}

/* Break the current generation; the caller holds the barrier's lock. */
static void
break_locked(mproc_barrier_t *b)
{
    atomic_store(&b->broken, 1);
    /* gen stays: waiters see `broken` when they wake. */
}

/* Between slices: a party waiting here that died breaks the barrier. */
static int
check_parties(void *arg)
{
    mproc_barrier_t *b = arg;
    unsigned i, n = atomic_load(&b->count);

    if (atomic_load(&b->broken))
        return MPROC_EBROKEN;
    for (i = 0; i < n && i < MPROC__BARRIER_MAX; i++) {
        int32_t pid = atomic_load(&b->arrived[i]);
        if (pid != 0 && mproc__pid_dead(pid)) {
            atomic_store(&b->broken, 1);
            wake_all(b);
            return MPROC_EBROKEN;
        }
    }
    return 0;
}

int
mproc_barrier_wait(mproc_barrier_t *b, int timeout_ms)
{
    mproc_lock_t *l = lock_at(&b->o, b->lock_offset);
    struct timespec ts;
    uint32_t gen, idx;
    int r;

    r = mproc_lock_acquire(l, -1);
    if (r == MPROC_EOWNERDEAD)
        break_locked(b); /* a party died inside wait: nobody can trust it */
    if (atomic_load(&b->broken)) {
        mproc_lock_release(l);
        return MPROC_EBROKEN;
    }
    gen = atomic_load(&b->gen);
    idx = atomic_fetch_add(&b->count, 1);
    if (idx + 1 == b->parties) {
        /* The last arrival ends the generation and wakes the others. */
        memset((void *)b->arrived, 0, sizeof(b->arrived));
        atomic_store(&b->count, 0);
        atomic_fetch_add(&b->gen, 1);
        mproc_lock_release(l);
        wake_all(b);
        return (int)idx;
    }
    atomic_store(&b->arrived[idx], mproc__self());
    mproc_lock_release(l);

    r = wait_word(&b->o, b->impl, &b->gen, gen, mproc__deadline_of(&ts, timeout_ms),
                  check_parties, b);
    if (r == MPROC_ETIMEDOUT) {
        /* As in Python: a waiter's timeout breaks the barrier for all. */
        mproc_barrier_abort(b);
        return MPROC_ETIMEDOUT;
    }
    if (r < 0)
        return r;
    if (atomic_load(&b->broken_gen) == gen)
        return MPROC_EBROKEN; /* ended by reset, not by the last party */
    return (int)idx;
}

void
mproc_barrier_abort(mproc_barrier_t *b)
{
    mproc_lock_t *l = lock_at(&b->o, b->lock_offset);

    mproc_lock_acquire(l, -1);
    break_locked(b);
    mproc_lock_release(l);
    wake_all(b);
}

void
mproc_barrier_reset(mproc_barrier_t *b)
{
    mproc_lock_t *l = lock_at(&b->o, b->lock_offset);

    mproc_lock_acquire(l, -1);
    if (atomic_load(&b->count) > 0 || atomic_load(&b->broken)) {
        /* Waiters of this generation leave with EBROKEN. */
        atomic_store(&b->broken_gen, atomic_load(&b->gen));
        atomic_fetch_add(&b->gen, 1);
    }
    memset((void *)b->arrived, 0, sizeof(b->arrived));
    atomic_store(&b->count, 0);
    atomic_store(&b->broken, 0);
    mproc_lock_release(l);
    wake_all(b);
}

unsigned
mproc_barrier_parties(const mproc_barrier_t *b)
{
    return b->parties;
}

unsigned
mproc_barrier_n_waiting(const mproc_barrier_t *b)
{
    return atomic_load((_Atomic uint32_t *)&b->count);
}

bool
mproc_barrier_broken(const mproc_barrier_t *b)
{
    return atomic_load((_Atomic uint32_t *)&b->broken) != 0;
}

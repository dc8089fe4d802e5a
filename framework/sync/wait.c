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
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "sync/sync_int.h"


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
    struct mproc__sobj *o;
    int r;

    /* No semaphore of a sysv set: word waits are futexes everywhere. */
    o = mproc__sync_alloc(s, size + ops->word_size, magic, false, NULL, err);
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

/* What a wait waits for, and what it looks at between slices. */
struct waiter {
    _Atomic uint32_t *word;  /* the word slept on */
    uint32_t expected;       /* for done_changed */
    bool (*done)(struct waiter *w);
    int (*check)(struct waiter *w); /* may be NULL; non-zero ends it */
    void *obj;
    struct mproc__cond_slot *slot; /* Condition */
    uint64_t mine;                 /* Condition: the slot's waiting word */
    uint32_t gen;                  /* Barrier */
};

static bool
done_changed(struct waiter *w)
{
    return atomic_load(w->word) != w->expected;
}

/*
 * Sleep until w->done(w), the deadline, or a signal (MPROC_EINTR, when
 * mproc__sync_intr() says so), in slices; w->check runs between slices
 * and ends the wait when it returns non-zero.
 */
static int
wait_until(struct mproc__sobj *o, void *impl, struct waiter *w,
           const struct timespec *deadline)
{
    const struct mproc_sync_ops *ops = mproc__sync_ops_of(o);
    struct timespec sl;
    uint32_t seen;
    int r, spin;

    /* A short spin first: a wake-up through the kernel costs tens of
     * microseconds on these machines, while a peer that is awake on
     * another core changes the word in well under one.  But when the peer
     * needs this very core (more busy processes than cores) spinning only
     * delays it, so the budget adapts: it doubles when a spin sees the
     * change and halves when the wait had to sleep anyway. */
    for (spin = 0; spin < spin_budget && !w->done(w); spin++)
        mproc__cpu_relax();
    if (w->done(w)) {
        if (spin_budget < SPIN_MAX)
            spin_budget *= 2;
        return 0;
    }
    if (spin_budget > SPIN_MIN)
        spin_budget /= 2;
    mproc__intr_begin(); /* a signal between two slices: util/signal.c */
    for (;;) {
        /* The word is read before `done` is checked: a change after the
         * check makes the sleep below return at once. */
        seen = atomic_load(w->word);
        if (w->done(w)) {
            r = 0;
            break;
        }
        if ((r = mproc__intr_sleep()) < 0)
            break;
        /* Slices only for a check to run: each end of one is a moment
         * where a signal's handler can run on the way back from a sleep
         * that timed out, and go unseen (util/signal.c). */
        r = ops->word_wait(o, impl, w->word, seen,
                           w->check != NULL ? mproc__sync_slice(&sl, deadline)
                                            : deadline);
        if (w->done(w)) {
            r = 0;
            break;
        }
        mproc__intr_hold(); /* not done: hold signals till the next sleep */
        if (r == MPROC_EINTR && mproc__sync_intr())
            break;
        if (r == MPROC_ETIMEDOUT && w->check != NULL &&
            (r = w->check(w)) != 0)
            break;
        if (mproc__sync_passed(deadline)) {
            r = MPROC_ETIMEDOUT;
            break;
        }
    }
    mproc__intr_end();
    return r;
}

/* ---- Event ---- */

int
mproc_event_new(mproc_sync_t *s, mproc_event_t **out, mproc_err_t *err)
{
    if (s == NULL)
        return mproc__err(err, MPROC_EINVAL, "event: no arena");
    *out = new_waitable(s, sizeof(**out), EVENT_MAGIC, err);
    return *out ? 0 : MPROC_ENOMEM;
}

/*
 * The word: bit 0 the flag, the bits above a count of sets.  A waiter
 * returns once the flag is set or a set came since it began to wait:
 * a set followed at once by a clear still wakes every waiter (Python's),
 * which a flag alone would hide from those that woke after the clear.
 */
void
mproc_event_set(mproc_event_t *e)
{
    uint32_t v;

    if (e == NULL)
        return;
    v = atomic_load(&e->flag);
    /* seq_cst, then the wake: a waiter that checked before this store is
     * asleep on the old value and gets woken. */
    while (!atomic_compare_exchange_weak(&e->flag, &v, (v + 2) | 1u))
        ;
    mproc__sync_ops_of(&e->o)->word_wake(&e->o, e->impl, &e->flag, INT_MAX);
}

void
mproc_event_clear(mproc_event_t *e)
{
    if (e == NULL)
        return;
    atomic_fetch_and(&e->flag, ~1u);
}

bool
mproc_event_is_set(const mproc_event_t *e)
{
    if (e == NULL)
        return false;
    return (atomic_load((_Atomic uint32_t *)&e->flag) & 1u) != 0;
}

/* Set now, or set (and maybe cleared) since the wait began. */
static bool
done_event(struct waiter *w)
{
    uint32_t v = atomic_load(w->word);

    return (v & 1u) != 0 || (v >> 1) != (w->expected >> 1);
}

int
mproc_event_wait(mproc_event_t *e, int timeout_ms)
{
    struct timespec ts;
    struct waiter w = {.done = done_event};

    if (e == NULL)
        return MPROC_EINVAL;
    w.word = &e->flag;
    w.expected = atomic_load(&e->flag);
    if (w.expected & 1u)
        return 0;
    return wait_until(&e->o, e->impl, &w, mproc__deadline_of(&ts, timeout_ms));
}

/* ---- Condition ----
 *
 * Each waiter takes a slot: its pid, a state (waiting, then notified) and
 * a ticket, under the Condition's lock.  notify(n) needs the lock too, so
 * the waiters it sees are exactly those waiting when it was called; it
 * marks the n oldest of them notified, bumps `wakes` and wakes the
 * sleepers of `wakes`.  Each sleeper then looks at its own slot: the others
 * sleep again, uncounted.  A waiter killed while waiting is found dead by
 * the live waiters between slices; its slot is freed and, if it had been
 * notified, the notification passes on to the oldest live waiter, so a
 * death neither hangs a notifier nor swallows a notify.
 */
#define SLOT_FREE 0u
#define SLOT_WAITING 1u
#define SLOT_NOTIFIED 2u
#define SLOT(pid, state) ((uint64_t)(uint32_t)(pid) << 32 | (state))
#define SLOT_PID(w) ((int32_t)((w) >> 32))
#define SLOT_STATE(w) ((uint32_t)(w))

int
mproc_cond_new(mproc_sync_t *s, mproc_lock_t *lock, mproc_cond_t **out,
               mproc_err_t *err)
{
    struct mproc__sync_hdr *h;
    mproc_cond_t *c;
    int r;

    if (s == NULL)
        return mproc__err(err, MPROC_EINVAL, "condition: no arena");
    h = mproc__sync_hdr(s);
    *out = NULL;
    if (lock == NULL) {
        r = mproc__sync_room(s, sizeof(*c) + mproc__sync_ops(s)->word_size, 1,
                             err);
        if (r == 0)
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
    if (c == NULL)
        return NULL;
    return lock_at(&c->o, c->lock_offset);
}

/* Held here: by this process (a Lock), by this thread (an RLock). */
static bool
held(mproc_lock_t *l)
{
    return atomic_load(&l->owner) == mproc__self() &&
           (!l->recursive || atomic_load(&l->tid) == mproc__self_tid());
}

static void
wake_cond(mproc_cond_t *c)
{
    atomic_fetch_add(&c->wakes, 1);
    mproc__sync_ops_of(&c->o)->word_wake(&c->o, c->impl, &c->wakes, INT_MAX);
}

/* Mark the oldest waiting slot notified.  False when none waits. */
static bool
notify_oldest(mproc_cond_t *c)
{
    for (;;) {
        struct mproc__cond_slot *best = NULL;
        uint64_t bw = 0;
        uint32_t bt = 0;
        unsigned i;

        for (i = 0; i < MPROC__COND_WAITERS; i++) {
            struct mproc__cond_slot *sl = &c->slots[i];
            /* Acquire pairs with the release that published the slot, so
             * its ticket is seen. */
            uint64_t w = atomic_load_explicit(&sl->word,
                                              memory_order_acquire);
            uint32_t t = atomic_load_explicit(&sl->ticket,
                                              memory_order_relaxed);
            if (SLOT_STATE(w) == SLOT_WAITING &&
                (best == NULL || (int32_t)(t - bt) < 0)) {
                best = sl;
                bw = w;
                bt = t;
            }
        }
        if (best == NULL)
            return false;
        /* Fails only if a reaper freed a dead waiter's slot: look again. */
        if (atomic_compare_exchange_strong(
                &best->word, &bw, SLOT(SLOT_PID(bw), SLOT_NOTIFIED)))
            return true;
    }
}

/* Between slices: free the slots of waiters that died, and pass on the
 * notifications they were given. */
static int
reap_waiters(struct waiter *wt)
{
    mproc_cond_t *c = wt->obj;
    unsigned i, passed = 0;

    for (i = 0; i < MPROC__COND_WAITERS; i++) {
        struct mproc__cond_slot *sl = &c->slots[i];
        uint64_t w = atomic_load(&sl->word);

        if (SLOT_STATE(w) == SLOT_FREE || SLOT_PID(w) == mproc__self() ||
            !mproc__pid_dead(SLOT_PID(w)))
            continue;
        if (!atomic_compare_exchange_strong(&sl->word, &w, 0))
            continue;
        atomic_fetch_sub(&c->nwaiters, 1);
        if (SLOT_STATE(w) == SLOT_NOTIFIED && notify_oldest(c))
            passed++;
    }
    if (passed > 0)
        wake_cond(c);
    return 0;
}

static bool
done_notified(struct waiter *w)
{
    return atomic_load(&w->slot->word) != w->mine;
}

/* Take a slot, with the lock held.  NULL when all are taken by live
 * waiters. */
static struct mproc__cond_slot *
take_slot(mproc_cond_t *c, int32_t self)
{
    struct waiter reaper = {.obj = c};
    unsigned i, pass;

    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < MPROC__COND_WAITERS; i++) {
            struct mproc__cond_slot *sl = &c->slots[i];
            uint64_t none = 0;
            /* The ticket is written first, the word published with
             * release (pairs with the acquire in notify_oldest). */
            if (atomic_load(&sl->word) != 0)
                continue;
            atomic_store_explicit(&sl->ticket,
                                  atomic_fetch_add(&c->tickets, 1),
                                  memory_order_relaxed);
            if (atomic_compare_exchange_strong_explicit(
                    &sl->word, &none, SLOT(self, SLOT_WAITING),
                    memory_order_release, memory_order_relaxed)) {
                atomic_fetch_add(&c->nwaiters, 1);
                return sl;
            }
        }
        reap_waiters(&reaper); /* full: dead waiters may hold slots */
    }
    return NULL;
}

int
mproc_cond_wait(mproc_cond_t *c, int timeout_ms)
{
    mproc_lock_t *l;
    struct timespec ts;
    struct waiter w = {.obj = c};
    int32_t self = mproc__self();
    uint32_t depth;
    uint64_t mine;
    int r, r2;

    if (c == NULL)
        return MPROC_EINVAL;
    l = mproc_cond_lock(c);
    w.word = &c->wakes;
    if (!held(l))
        return MPROC_EPERM;
    w.slot = take_slot(c, self);
    if (w.slot != NULL) {
        w.mine = SLOT(self, SLOT_WAITING);
        w.done = done_notified;
        w.check = reap_waiters;
    } else {
        /* More waiters than slots: this one wakes at the next notify of
         * any kind (documented in sync.h). */
        atomic_fetch_add(&c->untracked, 1);
        w.expected = atomic_load(&c->wakes);
        w.done = done_changed;
    }
    depth = l->depth;
    l->depth = 1;
    mproc_lock_release(l);
    r = wait_until(&c->o, c->impl, &w, mproc__deadline_of(&ts, timeout_ms));
    r2 = mproc__lock_take(l);
    l->depth = depth;
    if (w.slot != NULL) {
        /* Leave the slot.  A notify that came after the timeout or the
         * signal, before we took the lock back, was given to us: take it,
         * rather than let it fall to nobody. */
        mine = w.mine;
        if (!atomic_compare_exchange_strong(&w.slot->word, &mine, 0)) {
            atomic_store(&w.slot->word, 0);
            r = 0;
        }
        atomic_fetch_sub(&c->nwaiters, 1);
    } else {
        atomic_fetch_sub(&c->untracked, 1);
    }
    if (r2 == MPROC_EOWNERDEAD)
        return r2;
    return r;
}

static int
notify(mproc_cond_t *c, int n)
{
    int k = 0;

    if (!held(mproc_cond_lock(c)))
        return MPROC_EPERM;
    if (atomic_load(&c->nwaiters) > 0)
        while (k < n && notify_oldest(c))
            k++;
    if (k > 0 || atomic_load(&c->untracked) > 0)
        wake_cond(c);
    return 0;
}

int
mproc_cond_notify(mproc_cond_t *c, int n)
{
    if (c == NULL)
        return MPROC_EINVAL;
    return n <= 0 ? 0 : notify(c, n);
}

int
mproc_cond_notify_all(mproc_cond_t *c)
{
    if (c == NULL)
        return MPROC_EINVAL;
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

    if (s == NULL)
        return mproc__err(err, MPROC_EINVAL, "barrier: no arena");
    *out = NULL;
    if (parties < 1 || parties > MPROC__BARRIER_MAX)
        return mproc__err(err, MPROC_EINVAL, "a barrier has 1 to %d parties, "
                          "not %u", MPROC__BARRIER_MAX, parties);
    r = mproc__sync_room(s, sizeof(*b) + mproc__sync_ops(s)->word_size, 1,
                         err);
    if (r == 0)
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

/* Between slices: a party waiting here that died breaks the barrier,
 * unless its generation completed meanwhile (checked under the lock: a
 * party that died after the last one arrived broke nothing). */
static int
check_parties(struct waiter *w)
{
    mproc_barrier_t *b = w->obj;
    mproc_lock_t *l = lock_at(&b->o, b->lock_offset);
    unsigned i, n;
    int r = 0;

    if (atomic_load(&b->broken))
        return atomic_load(&b->gen) == w->gen ? MPROC_EBROKEN : 0;
    n = atomic_load(&b->count);
    for (i = 0; i < n && i < MPROC__BARRIER_MAX; i++) {
        int32_t pid = atomic_load(&b->arrived[i]);
        if (pid != 0 && mproc__pid_dead(pid))
            break;
    }
    if (i == n || i == MPROC__BARRIER_MAX)
        return 0;
    mproc__lock_take(l);
    if (atomic_load(&b->gen) == w->gen) {
        break_locked(b);
        r = MPROC_EBROKEN;
    }
    mproc_lock_release(l);
    if (r != 0)
        wake_all(b);
    return r;
}

static bool
done_barrier(struct waiter *w)
{
    mproc_barrier_t *b = w->obj;
    return atomic_load(&b->gen) != w->gen || atomic_load(&b->broken);
}

int
mproc_barrier_wait(mproc_barrier_t *b, int timeout_ms)
{
    mproc_lock_t *l;
    struct timespec ts;
    struct waiter w = {.done = done_barrier, .check = check_parties,
                       .obj = b};
    uint32_t idx;
    int r;

    if (b == NULL)
        return MPROC_EINVAL;
    l = lock_at(&b->o, b->lock_offset);
    w.word = &b->gen;
    r = mproc__lock_take(l);
    if (r == MPROC_EOWNERDEAD)
        break_locked(b); /* a party died inside wait: nobody can trust it */
    if (atomic_load(&b->broken)) {
        mproc_lock_release(l);
        return MPROC_EBROKEN;
    }
    w.gen = atomic_load(&b->gen);
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

    r = wait_until(&b->o, b->impl, &w, mproc__deadline_of(&ts, timeout_ms));
    if (r == MPROC_ETIMEDOUT || r == MPROC_EINTR) {
        /* Test hook: stop between the timeout and the lock, where the
         * last party may arrive (12.13). */
        if (mproc__sync_hook("BARRIER_STOP"))
            raise(SIGSTOP);
        /* As in Python: a waiter's timeout (or interruption) breaks the
         * barrier for all, but only if its generation is still the
         * current one: if the last party arrived meanwhile, this waiter
         * passed like the others. */
        mproc__lock_take(l);
        if (atomic_load(&b->gen) == w.gen) {
            break_locked(b);
            mproc_lock_release(l);
            wake_all(b);
            return r;
        }
        mproc_lock_release(l);
    } else if (r < 0) {
        return r;
    }
    if (atomic_load(&b->gen) == w.gen)
        return MPROC_EBROKEN; /* broken while waiting */
    if (atomic_load(&b->broken_gen) == w.gen)
        return MPROC_EBROKEN; /* ended by reset, not by the last party */
    return (int)idx;
}

void
mproc_barrier_abort(mproc_barrier_t *b)
{
    mproc_lock_t *l;

    if (b == NULL)
        return;
    l = lock_at(&b->o, b->lock_offset);
    mproc__lock_take(l);
    break_locked(b);
    mproc_lock_release(l);
    wake_all(b);
}

void
mproc_barrier_reset(mproc_barrier_t *b)
{
    mproc_lock_t *l;

    if (b == NULL)
        return;
    l = lock_at(&b->o, b->lock_offset);
    mproc__lock_take(l);
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
    if (b == NULL)
        return 0;
    return b->parties;
}

unsigned
mproc_barrier_n_waiting(const mproc_barrier_t *b)
{
    /* As Python's: a broken barrier has nobody waiting at it (those who
     * were have left with MPROC_EBROKEN, or are leaving). */
    if (b == NULL || atomic_load((_Atomic uint32_t *)&b->broken) != 0)
        return 0;
    return atomic_load((_Atomic uint32_t *)&b->count);
}

bool
mproc_barrier_broken(const mproc_barrier_t *b)
{
    if (b == NULL)
        return false;
    return atomic_load((_Atomic uint32_t *)&b->broken) != 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Locked channels: one channel that many processes and threads send on
 * and receive from at once (a Queue, a direction of a Pipe).  See
 * chan_int.h.
 *
 * The channel is opened MPROC__CHAN_SHARED (a reader stops exactly at the
 * end of a message) and MPROC__CHAN_EINTR.  Senders take turns under a
 * writer lock and receivers under a reader lock: 32-bit words in a small
 * shared segment holding the holder's thread id (and a WAITERS bit), so
 * they exclude threads as well as processes, and a waiter takes the word
 * over from a dead holder (a thread that ended holding it, or its
 * process).  Then the holder's "part" word says whether it may have died
 * in the middle of a message:
 *
 *   wpart  set by the channel before the first byte of a message that
 *          cannot go out all or nothing (larger than the transport's
 *          atomic chunk), cleared here once the message is counted;
 *   rpart  set by the channel before the first byte of a message is read
 *          (only when bytes are there to take), cleared here once the
 *          message is whole in this process and counted out.
 *
 * A receive that times out in the middle of a message (its sender is
 * slow or stopped) keeps what came and keeps the reader lock, so that the
 * same thread's next receive goes on with the message; other receivers
 * wait meanwhile (their own timeouts apply).  Closing the side then, or
 * the thread ending, loses the message's start: the lchan is broken.
 *
 * A takeover that finds the dead holder's pid in its part word marks the
 * lchan broken (the stream cannot be resynchronised): every later call of
 * every process returns MPROC_EPIPE, "broken".  A holder killed in the
 * tiny window around the system call that moved a message may make a
 * takeover judge the stream broken when it is not: safe, and clear.
 *
 * Counting: `count` is the number of whole messages in the transport.  A
 * sender waits for room (count < maxsize) and adds one after its message
 * went, both under the writer lock; a receiver takes one away once it has
 * the whole message, under the reader lock.  So a process that dies in
 * any window holds no reservation that could leak (the one waiting for
 * room holds the writer lock, and a takeover resets its flag).  A
 * receiver may count a message out before its sender counted it in:
 * count is then -1 for a moment, which qsize shows as 0.
 */
#include "internal.h"

#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ipc/chan_int.h"
#include "sync/sync_int.h"

#define L_MAGIC 0x6d706c63u /* "mplc" */
#define L_LAYOUT 1
/* A receiver waiting for the rest of a message looks for its sender's
 * death this often; one waiting for a message to begin, less often: each
 * slice's end is a moment where a signal can go unseen (util/signal.c). */
#define SLICE_MS 100
#define IDLE_SLICE_MS 500

#define L_WAITERS 0x40000000u /* pids are below 2^22 on Linux */
#define L_PID 0x3fffffffu

/* Why an lchan is broken. */
#define BROKEN_SENDER 1u
#define BROKEN_RECEIVER 2u

struct lshared {
    uint32_t magic;
    uint32_t layout_version;
    uint64_t size;
    uint64_t maxsize;
    uint64_t reserved;
    alignas(64) _Atomic uint32_t wlock;
    _Atomic int32_t wpart;
    _Atomic uint32_t space_wait; /* the writer-lock holder waits for room */
    alignas(64) _Atomic uint32_t rlock;
    _Atomic int32_t rpart;
    _Atomic uint32_t space;      /* futex word: bumped by a receive */
    alignas(64) _Atomic int64_t count;
    _Atomic uint32_t broken;     /* 0, BROKEN_SENDER, BROKEN_RECEIVER */
};
_Static_assert(offsetof(struct lshared, wlock) == 64, "lchan layout");
_Static_assert(offsetof(struct lshared, rlock) == 128, "lchan layout");
_Static_assert(offsetof(struct lshared, count) == 192, "lchan layout");

struct mproc__lchan {
    struct mproc_chan *ch;  /* received on (and sent on, when one) */
    struct mproc_chan *wch; /* sent on: ch, or the WR side imported apart */
    struct lshared *sh;
    int shfd;               /* sh's memfd, for a new image */
    const char *what;
    size_t maxsize;
    int32_t kept_by;        /* the process that kept a whole message after
                               MPROC_ERANGE (its own to take again) */
    char errmsg[MPROC_ERRMSG_MAX];
};

static int
lerr(struct mproc__lchan *lc, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
lerr(struct mproc__lchan *lc, int code, const char *fmt, ...)
{
    va_list ap;
    int n;

    n = snprintf(lc->errmsg, sizeof(lc->errmsg), "%s: ", lc->what);
    va_start(ap, fmt);
    vsnprintf(lc->errmsg + n, sizeof(lc->errmsg) - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

void
mproc__ipc_hook(const char *point)
{
    /* getenv() on every put and get would cost more than the rest of a
     * small one: look once per process (a forked child looks again, so
     * a test can set the variable in the child alone). */
    static _Atomic int32_t seen_in;
    static const char *_Atomic hook;
    const char *h;

    if (atomic_load_explicit(&seen_in, memory_order_acquire) !=
        mproc__self()) {
        atomic_store_explicit(&hook, getenv("MPROC_TEST_HOOK_IPC"),
                              memory_order_relaxed);
        atomic_store_explicit(&seen_in, mproc__self(), memory_order_release);
    }
    h = atomic_load_explicit(&hook, memory_order_relaxed);
    if (h != NULL && strcmp(h, point) == 0)
        raise(SIGSTOP);
}

/* ---- the robust locks ---- */

/*
 * Take a lock word: 0, MPROC_EOWNERDEAD (taken over from a dead holder),
 * MPROC_ETIMEDOUT, MPROC_EINTR.
 */
static int
wlock_take(_Atomic uint32_t *w, const struct timespec *dl)
{
    uint32_t self = (uint32_t)mproc__chan_self(), cur = 0;
    struct timespec sl;
    int r;

    /* Acquire pairs with the release in wlock_give: the previous holder's
     * writes (the stream, the counters) are seen. */
    if (atomic_compare_exchange_strong_explicit(w, &cur, self,
                                                memory_order_acquire,
                                                memory_order_relaxed))
        return 0;
    for (;;) {
        cur = atomic_load_explicit(w, memory_order_relaxed);
        if (cur == 0) {
            /* Keep WAITERS: others may sleep on it too. */
            if (atomic_compare_exchange_strong_explicit(
                    w, &cur, self | L_WAITERS, memory_order_acquire,
                    memory_order_relaxed))
                return 0;
            continue;
        }
        if (!(cur & L_WAITERS) &&
            !atomic_compare_exchange_strong_explicit(
                w, &cur, cur | L_WAITERS, memory_order_relaxed,
                memory_order_relaxed))
            continue;
        r = mproc__chan_futex_wait(w, cur | L_WAITERS,
                                   mproc__sync_slice(&sl, dl), true);
        if (r == MPROC_EINTR)
            return r;
        if (r == MPROC_ETIMEDOUT) {
            cur = atomic_load_explicit(w, memory_order_relaxed);
            /* A holder that died never gives it back: take it over,
             * with one compare-and-swap so that only one waiter does. */
            if (cur != 0 && mproc__pid_dead((int32_t)(cur & L_PID)) &&
                atomic_compare_exchange_strong_explicit(
                    w, &cur, self | L_WAITERS, memory_order_acquire,
                    memory_order_relaxed))
                return MPROC_EOWNERDEAD;
            if (mproc__sync_passed(dl))
                return MPROC_ETIMEDOUT;
        }
    }
}

static void
wlock_give(_Atomic uint32_t *w)
{
    /* Release pairs with the acquire in wlock_take. */
    if (atomic_exchange_explicit(w, 0, memory_order_release) & L_WAITERS)
        mproc__futex_wake(w, 1);
}

/* ---- open, close ---- */

static bool receiver_died(void *arg);

int
mproc__lchan_open(struct mproc__lchan **out, const char *what,
                  const char *backend, const struct mproc__chan_opts *o,
                  size_t maxsize, mproc_err_t *err)
{
    struct mproc__chan_opts co = *o;
    struct mproc__lchan *lc;
    void *m = MAP_FAILED;
    int fd = -1, r;

    *out = NULL;
    lc = calloc(1, sizeof(*lc));
    if (lc == NULL)
        return mproc__err(err, MPROC_ENOMEM, "%s: out of memory", what);
    lc->what = what;
    lc->maxsize = maxsize;
    co.flags |= MPROC__CHAN_SHARED | MPROC__CHAN_EINTR;
    /* mq: a user's object is one of a few, not one of a pool's many:
     * larger chunks (a sixteenth of RLIMIT_MSGQUEUE at most). */
    if (co.group == 0)
        co.group = MPROC__LCHAN_MQ_GROUP;
    if ((r = mproc__chan_open(&lc->ch, backend, &co, err)) < 0)
        goto fail;
    /* No name, so nothing to leak; the mapping is inherited by fork, and
     * the memfd is kept open to hand the lchan to a new image
     * (mproc__lchan_export). */
    fd = mproc__memfd("mproc-lchan");
    if (fd < 0 || ftruncate(fd, sizeof(struct lshared)) < 0 ||
        (m = mmap(NULL, sizeof(struct lshared), PROT_READ | PROT_WRITE,
                  MAP_SHARED, fd, 0)) == MAP_FAILED) {
        r = mproc__err(err, -errno, "%s: shared memory: %s", what,
                       strerror(errno));
        goto fail;
    }
    lc->shfd = fd;
    lc->wch = lc->ch;
    lc->sh = m;
    lc->sh->magic = L_MAGIC;
    lc->sh->layout_version = L_LAYOUT;
    lc->sh->size = sizeof(struct lshared);
    lc->sh->maxsize = maxsize;
    lc->ch->wpart = &lc->sh->wpart;
    lc->ch->rpart = &lc->sh->rpart;
    lc->ch->abort = &lc->sh->broken;
    lc->ch->abort_judge = receiver_died;
    lc->ch->abort_arg = lc;
    *out = lc;
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    mproc__chan_free(lc->ch);
    free(lc);
    return r;
}

static bool held_here(const struct mproc__lchan *lc);
static int set_broken(struct mproc__lchan *lc, uint32_t why);

void
mproc__lchan_close_side(struct mproc__lchan *lc, unsigned side)
{
    struct mproc_chan *c;
    unsigned other;
    bool gone;

    if (lc == NULL)
        return;
    c = side == MPROC__CHAN_WR ? lc->wch : lc->ch;
    if (c == NULL || !(c->sides & side))
        return;
    if (side == MPROC__CHAN_RD && held_here(lc)) {
        /* The start of a message goes with our buffer. */
        set_broken(lc, BROKEN_RECEIVER);
        wlock_give(&lc->sh->rlock);
    }
    /* The sides still held once this one is closed, on either channel
     * (an imported lchan may have one per side). */
    other = (lc->ch != NULL ? lc->ch->sides : 0) |
            (lc->wch != NULL ? lc->wch->sides : 0);
    other &= ~side;
    gone = (c->sides & ~side) == 0;
    mproc__chan_close_side(c, side); /* frees c with its last side */
    if (gone) {
        if (lc->ch == c)
            lc->ch = NULL;
        if (lc->wch == c)
            lc->wch = NULL;
    }
    if (other == 0) {
        munmap(lc->sh, sizeof(struct lshared));
        if (lc->shfd >= 0)
            close(lc->shfd);
        free(lc);
    }
}

/* ---- helpers ---- */

/* This thread holds the reader lock from a receive that timed out in the
 * middle of a message. */
static bool
held_here(const struct mproc__lchan *lc)
{
    uint32_t w = atomic_load_explicit(&lc->sh->rlock, memory_order_relaxed);

    return (w & L_PID) == (uint32_t)mproc__chan_self() &&
           mproc__chan_in_partial(lc->ch);
}

static int
left(const struct timespec *dl)
{
    return dl == NULL ? -1 : (int)mproc__ms_left(dl);
}

static int
broken_err(struct mproc__lchan *lc)
{
    uint32_t b = atomic_load_explicit(&lc->sh->broken, memory_order_acquire);

    return lerr(lc, MPROC_EPIPE,
                "broken: a %s process died (or its thread ended) in the "
                "middle of a message; what it held is lost and no message "
                "can be told from the next any more",
                b == BROKEN_SENDER ? "sending" : "receiving");
}

static bool
is_broken(const struct mproc__lchan *lc)
{
    /* Acquire pairs with the release in set_broken. */
    return atomic_load_explicit(&lc->sh->broken, memory_order_acquire) != 0;
}

static int
set_broken(struct mproc__lchan *lc, uint32_t why)
{
    uint32_t zero = 0;

    atomic_compare_exchange_strong_explicit(&lc->sh->broken, &zero, why,
                                            memory_order_release,
                                            memory_order_relaxed);
    /* Wake whoever waits for room: it must see it too. */
    atomic_fetch_add_explicit(&lc->sh->space, 1, memory_order_release);
    mproc__futex_wake(&lc->sh->space, INT32_MAX);
    return broken_err(lc);
}

/*
 * A sender waits on the transport: the receiver holding the reader lock
 * may have died (or, its thread, ended) in the middle of a message, which
 * no receiver notices until one comes to take the lock over, maybe never
 * (a Pipe's other receivers busy elsewhere).  Judged as a takeover would:
 * the stream is then broken.  true when it is.
 */
static bool
receiver_died(void *arg)
{
    struct mproc__lchan *lc = arg;
    int32_t pid = atomic_load_explicit(&lc->sh->rpart, memory_order_relaxed);

    if (pid != 0 && mproc__pid_dead(pid) &&
        (atomic_load_explicit(&lc->sh->rlock, memory_order_relaxed) &
         L_PID) == (uint32_t)pid)
        set_broken(lc, BROKEN_RECEIVER);
    return is_broken(lc);
}

/* Take one of the locks; on a takeover, judge the dead holder. */
static int
take(struct mproc__lchan *lc, bool writer, const struct timespec *dl)
{
    struct lshared *sh = lc->sh;
    _Atomic uint32_t *w = writer ? &sh->wlock : &sh->rlock;
    _Atomic int32_t *part = writer ? &sh->wpart : &sh->rpart;
    int32_t pid;
    int r = wlock_take(w, dl);

    if (r == MPROC_ETIMEDOUT) {
        if (writer && lc->maxsize > 0 &&
            atomic_load_explicit(&sh->count, memory_order_relaxed) >=
                (int64_t)lc->maxsize)
            return lerr(lc, r, "full (maxsize %zu)", lc->maxsize);
        return lerr(lc, r, "timed out (others are %s)",
                    writer ? "sending" : "receiving");
    }
    if (r == MPROC_EINTR)
        return lerr(lc, r, "interrupted by a signal");
    if (r == MPROC_EOWNERDEAD) {
        pid = atomic_load_explicit(part, memory_order_relaxed);
        if (pid != 0 && mproc__pid_dead(pid)) {
            set_broken(lc, writer ? BROKEN_SENDER : BROKEN_RECEIVER);
            wlock_give(w);
            return broken_err(lc);
        }
        atomic_store_explicit(part, 0, memory_order_relaxed);
        if (writer)
            atomic_store_explicit(&sh->space_wait, 0, memory_order_relaxed);
    }
    if (is_broken(lc)) {
        wlock_give(w);
        return broken_err(lc);
    }
    return 0;
}

/* Under the writer lock: wait until a message may be added. */
static int
room(struct mproc__lchan *lc, const struct timespec *dl)
{
    struct lshared *sh = lc->sh;
    struct timespec sl;
    int r;

    if (lc->maxsize == 0)
        return 0;
    for (;;) {
        uint32_t seq = atomic_load_explicit(&sh->space, memory_order_acquire);

        if (atomic_load_explicit(&sh->count, memory_order_seq_cst) <
            (int64_t)lc->maxsize)
            return 0;
        if (is_broken(lc))
            return broken_err(lc);
        if (mproc__sync_passed(dl))
            return lerr(lc, MPROC_ETIMEDOUT, "full (maxsize %zu)",
                        lc->maxsize);
        atomic_store_explicit(&sh->space_wait, 1, memory_order_seq_cst);
        /* Re-check after announcing ourselves: a receive that counted a
         * message out before it saw the flag has bumped `space` (seq_cst
         * on both sides: a Dekker handshake). */
        if (atomic_load_explicit(&sh->count, memory_order_seq_cst) <
            (int64_t)lc->maxsize)
            continue;
        r = mproc__chan_futex_wait(&sh->space, seq,
                                   mproc__sync_slice(&sl, dl), true);
        if (r == MPROC_EINTR)
            return lerr(lc, r, "interrupted by a signal");
    }
}

/* ---- put, get, poll ---- */

int
mproc__lchan_put(struct mproc__lchan *lc, const void *data, size_t len,
                 int timeout_ms)
{
    return mproc__lchan_put_counted(lc, data, len, timeout_ms, NULL);
}

static int
put_counted_(struct mproc__lchan *lc, const void *data, size_t len,
             int timeout_ms, _Atomic int64_t *counted)
{
    struct lshared *sh = lc->sh;
    struct timespec ts;
    const struct timespec *dl = mproc__deadline_of(&ts, timeout_ms);
    int r;

    if (data == NULL && len > 0)
        return lerr(lc, MPROC_EINVAL, "the message is NULL with a length of "
                    "%zu", len);
    if (is_broken(lc))
        return broken_err(lc);
    if (len > lc->wch->lim.message_max)
        return lerr(lc, MPROC_EMSGSIZE,
                    "a message of %zu bytes exceeds message_max (%zu bytes)",
                    len, lc->wch->lim.message_max);
    if ((r = take(lc, true, dl)) < 0)
        return r;
    if ((r = room(lc, dl)) < 0)
        goto out;
    /* Room is had: the caller's count goes up now, not while it waited
     * (a process killed waiting leaves none behind), and before the
     * message can reach a consumer (whose count down must find it). */
    if (counted != NULL)
        atomic_fetch_add_explicit(counted, 1, memory_order_seq_cst);
    atomic_store_explicit(&sh->space_wait, 0, memory_order_relaxed);
    mproc__ipc_hook("put-locked");
    r = mproc__chan_send(lc->wch, data, len, 0, left(dl));
    if (r != 0 && counted != NULL)
        /* Not sent: taken back (the caller wakes who waits for 0). */
        atomic_fetch_sub_explicit(counted, 1, memory_order_seq_cst);
    if (r == 0) {
        /* Counted in before wpart is cleared: a death between the two
         * breaks the stream rather than losing the count. */
        atomic_fetch_add_explicit(&sh->count, 1, memory_order_seq_cst);
        mproc__ipc_hook("put-sent");
    } else if (r == MPROC_EAGAIN || r == MPROC_ETIMEDOUT) {
        r = lerr(lc, MPROC_ETIMEDOUT, "timed out (the transport is full)");
    } else if (is_broken(lc)) {
        r = broken_err(lc);
    } else {
        r = lerr(lc, r, "%s", mproc__chan_errmsg(lc->wch));
    }
    /* A send that failed sent nothing or the whole message (the channel
     * finishes what it began), so the stream is whole either way. */
    atomic_store_explicit(&sh->wpart, 0, memory_order_release);
out:
    wlock_give(&sh->wlock);
    return r;
}

/* One scope for the signals that come between its sleeps (util/signal.c). */
int
mproc__lchan_put_counted(struct mproc__lchan *lc, const void *data,
                         size_t len, int timeout_ms, _Atomic int64_t *counted)
{
    int r;

    mproc__intr_begin();
    r = put_counted_(lc, data, len, timeout_ms, counted);
    mproc__intr_end();
    return r;
}

/* Under the reader lock: the whole message at the front of the in-buffer
 * is counted out (once) and copied. */
static int
deliver(struct mproc__lchan *lc, void *buf, size_t cap, size_t *len)
{
    int r = mproc__chan_recv(lc->ch, buf, cap, len, 0);

    if (r == MPROC_ERANGE)
        lc->kept_by = mproc__self(); /* kept for this process only */
    if (r < 0)
        return lerr(lc, r, "%s", mproc__chan_errmsg(lc->ch));
    return 0;
}

/* A whole message kept after MPROC_ERANGE by another process is a copy
 * fork() made of it: that process takes it again, not this one (it was
 * handed to a child, then to the parent: twice). */
static void
forget_inherited(struct mproc__lchan *lc)
{
    if (lc->kept_by != mproc__self() && mproc__chan_has_message(lc->ch))
        mproc__chan_drop_message(lc->ch);
}

static void
counted_out(struct mproc__lchan *lc)
{
    struct lshared *sh = lc->sh;

    atomic_fetch_sub_explicit(&sh->count, 1, memory_order_seq_cst);
    /* Only now may a later taker judge this process's death harmless. */
    atomic_store_explicit(&sh->rpart, 0, memory_order_release);
    if (lc->maxsize > 0 &&
        atomic_load_explicit(&sh->space_wait, memory_order_seq_cst)) {
        /* Release pairs with the acquire load of `space` in room(). */
        atomic_fetch_add_explicit(&sh->space, 1, memory_order_release);
        mproc__futex_wake(&sh->space, INT32_MAX);
    }
}

static int
get_(struct mproc__lchan *lc, void *buf, size_t cap, size_t *len,
     int timeout_ms)
{
    struct lshared *sh = lc->sh;
    struct timespec ts;
    const struct timespec *dl = mproc__deadline_of(&ts, timeout_ms);
    const void *m;
    size_t n;
    int r;

    /* Before anything is taken: a message would be lost. */
    if (len == NULL)
        return lerr(lc, MPROC_EINVAL, "len is NULL: nowhere to give the "
                    "message's size");
    if (buf == NULL && cap > 0)
        return lerr(lc, MPROC_EINVAL, "buf is NULL with a cap of %zu", cap);
    if (!held_here(lc)) {
        if ((r = take(lc, false, dl)) < 0)
            return r;
        /* Part of a message here without the lock is a copy that fork()
         * made while another thread was reading it: not ours. */
        mproc__chan_drop_partial(lc->ch);
    }
    /* One kept by an earlier MPROC_ERANGE: counted out already. */
    forget_inherited(lc);
    if (mproc__chan_has_message(lc->ch)) {
        r = deliver(lc, buf, cap, len);
        goto out;
    }
    for (;;) {
        struct timespec sl;

        /* Slices, so that a sender's death mid-message is noticed (of
         * varied lengths: mproc__sync_slice_of() says why). */
        if (left(dl) == 0)
            r = mproc__chan_peek(lc->ch, &m, &n, 0);
        else
            r = mproc__chan_peek_until(
                lc->ch, &m, &n,
                mproc__sync_slice_of(&sl, dl,
                                     mproc__chan_in_partial(lc->ch)
                                         ? SLICE_MS
                                         : IDLE_SLICE_MS));
        if (r == 0)
            break;
        if (r == MPROC_EINTR) {
            r = lerr(lc, r, "interrupted by a signal");
            goto out;
        }
        if (r == MPROC_EIO) {
            r = set_broken(lc, BROKEN_SENDER);
            goto out;
        }
        if (r != MPROC_EAGAIN && r != MPROC_ETIMEDOUT) {
            r = lerr(lc, r, "%s", mproc__chan_errmsg(lc->ch));
            goto out;
        }
        if (mproc__chan_in_partial(lc->ch)) {
            /* A message has begun: its sender may be gone. */
            int32_t tid = atomic_load_explicit(&sh->wpart,
                                               memory_order_relaxed);

            if (tid != 0 && mproc__pid_dead(tid)) {
                r = set_broken(lc, BROKEN_SENDER);
                goto out;
            }
            if (is_broken(lc)) {
                r = broken_err(lc);
                goto out;
            }
            if (mproc__sync_passed(dl) || timeout_ms == 0)
                /* Keep the lock and what came: see the top. */
                return lerr(lc, MPROC_ETIMEDOUT,
                            "timed out in the middle of a message (%s); "
                            "the next receive goes on with it",
                            "its sender is slow or stopped");
            continue;
        }
        if (is_broken(lc)) {
            r = broken_err(lc);
            goto out;
        }
        if (mproc__sync_passed(dl) || timeout_ms == 0) {
            r = lerr(lc, MPROC_ETIMEDOUT, "%s",
                     timeout_ms == 0 ? "empty" : "timed out");
            goto out;
        }
    }
    counted_out(lc);
    mproc__ipc_hook("get-taken");
    r = deliver(lc, buf, cap, len);
out:
    wlock_give(&sh->rlock);
    return r;
}

/* One scope for the signals that come between its sleeps (util/signal.c). */
int
mproc__lchan_get(struct mproc__lchan *lc, void *buf, size_t cap,
                 size_t *len, int timeout_ms)
{
    int r;

    mproc__intr_begin();
    r = get_(lc, buf, cap, len, timeout_ms);
    mproc__intr_end();
    return r;
}

static int
poll_(struct mproc__lchan *lc, int timeout_ms)
{
    int r;

    if (is_broken(lc))
        return 1; /* a get returns at once (MPROC_EPIPE) */
    forget_inherited(lc);
    r = mproc__chan_readable(lc->ch, timeout_ms);
    if (r < 0)
        return lerr(lc, r, "%s", mproc__chan_errmsg(lc->ch));
    return r;
}

/* One scope for the signals that come between its sleeps (util/signal.c). */
int
mproc__lchan_poll(struct mproc__lchan *lc, int timeout_ms)
{
    int r;

    mproc__intr_begin();
    r = poll_(lc, timeout_ms);
    mproc__intr_end();
    return r;
}

int
mproc__lchan_fileno(struct mproc__lchan *lc)
{
    int fd = mproc__chan_wait_fd(lc->ch);

    if (fd < 0)
        return lerr(lc, fd, "%s", mproc__chan_errmsg(lc->ch));
    return fd;
}

ssize_t
mproc__lchan_count(const struct mproc__lchan *lc)
{
    int64_t c = atomic_load_explicit(&lc->sh->count, memory_order_relaxed);

    return c < 0 ? 0 : (ssize_t)c;
}

struct mproc_chan *
mproc__lchan_chan(const struct mproc__lchan *lc)
{
    return lc->ch;
}

const char *
mproc__lchan_errmsg(const struct mproc__lchan *lc)
{
    return lc->errmsg;
}

/* ---- handing an lchan to a new image ---- */

/* The blob: a header, then per side its channel blob; the descriptors
 * are the sides' in the same order, then the shared words' memfd. */
struct xhead {
    uint32_t magic;
    uint32_t sides;
    uint32_t nfds[2];
    uint32_t bloblen[2];
};

int
mproc__lchan_export(struct mproc__lchan *lc, unsigned sides, int *fds,
                    size_t *nfds, void *blob, size_t *len)
{
    static const unsigned order[2] = {MPROC__CHAN_RD, MPROC__CHAN_WR};
    struct xhead h = {L_MAGIC, sides, {0, 0}, {0, 0}};
    size_t off = sizeof(h), n = 0, i;
    int r;

    for (i = 0; i < 2; i++) {
        struct mproc_chan *c = i == 0 ? lc->ch : lc->wch;
        size_t k = 0, bl = 0;

        if (!(sides & order[i]))
            continue;
        if (c == NULL || lc->shfd < 0)
            return lerr(lc, MPROC_EINVAL, "cannot hand a closed side to "
                        "a new process");
        r = mproc__chan_export(c, order[i], fds + n, &k,
                               (char *)blob + off, &bl);
        if (r < 0)
            return lerr(lc, r, "%s", mproc__chan_errmsg(c));
        h.nfds[i] = (uint32_t)k;
        h.bloblen[i] = (uint32_t)bl;
        n += k;
        off += bl;
    }
    fds[n++] = lc->shfd;
    memcpy(blob, &h, sizeof(h));
    *nfds = n;
    *len = off;
    return 0;
}

int
mproc__lchan_import(struct mproc__lchan **out, const char *what,
                    const int *fds, size_t nfds, const void *blob,
                    size_t len, mproc_err_t *err)
{
    struct mproc_chan *c[2] = {NULL, NULL};
    struct mproc__lchan *lc = NULL;
    struct xhead h;
    size_t off = sizeof(h), n = 0, i;
    void *m = MAP_FAILED;
    int r;

    *out = NULL;
    if (len < sizeof(h))
        goto bad;
    memcpy(&h, blob, sizeof(h));
    if (h.magic != L_MAGIC || h.nfds[0] + h.nfds[1] + 1 != nfds ||
        off + h.bloblen[0] + h.bloblen[1] != len)
        goto bad;
    for (i = 0; i < 2; i++) {
        if (h.nfds[i] == 0)
            continue;
        r = mproc__chan_import(&c[i], fds + n, h.nfds[i],
                               (const char *)blob + off, h.bloblen[i], err);
        if (r < 0)
            goto fail;
        n += h.nfds[i];
        off += h.bloblen[i];
    }
    if (c[0] == NULL && c[1] == NULL)
        goto bad;
    m = mmap(NULL, sizeof(struct lshared), PROT_READ | PROT_WRITE,
             MAP_SHARED, fds[n], 0);
    if (m == MAP_FAILED) {
        r = mproc__err(err, -errno, "%s: shared memory: %s", what,
                       strerror(errno));
        goto fail;
    }
    if (((struct lshared *)m)->magic != L_MAGIC ||
        ((struct lshared *)m)->layout_version != L_LAYOUT)
        goto bad;
    lc = calloc(1, sizeof(*lc));
    if (lc == NULL) {
        r = mproc__err(err, MPROC_ENOMEM, "%s: out of memory", what);
        goto fail;
    }
    lc->what = what;
    lc->sh = m;
    lc->maxsize = (size_t)lc->sh->maxsize;
    lc->ch = c[0] != NULL ? c[0] : c[1];
    lc->wch = c[1] != NULL ? c[1] : c[0];
    lc->shfd = fds[n];
    for (i = 0; i < 2; i++)
        if (c[i] != NULL) {
            c[i]->wpart = &lc->sh->wpart;
            c[i]->rpart = &lc->sh->rpart;
            c[i]->abort = &lc->sh->broken;
            c[i]->abort_judge = receiver_died;
            c[i]->abort_arg = lc;
        }
    *out = lc;
    return 0;

bad:
    r = mproc__err(err, MPROC_EINVAL, "%s: import: the description is "
                   "invalid", what);
fail:
    if (m != MAP_FAILED)
        munmap(m, sizeof(struct lshared));
    for (i = 0; i < 2; i++)
        mproc__chan_free(c[i]);
    return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * Queue: many producers and consumers over one shared channel
 * (<mproc/queue.h>).
 *
 * The channel is opened MPROC__CHAN_SHARED (readers stop exactly at the end
 * of a message) and every process keeps both sides.  Producers take turns
 * under a write Lock, consumers under a read Lock (futex sync backend), so
 * each message goes in and comes out whole.  A small shared segment holds
 * the count of queued messages (qsize, maxsize) and, while a message is
 * partly written or partly read, the pid of the process doing it.
 *
 * When a process dies holding a Lock, the next taker gets
 * MPROC_EOWNERDEAD.  If the dead process was in the middle of a message
 * (its pid is still in the shared word), the stream is cut and cannot be
 * resynchronised: the Queue is marked broken and every later call returns
 * MPROC_EPIPE, rather than handing out garbage or hanging.  A consumer
 * waiting for the rest of a message looks for the producer's death every
 * SLICE_MS.
 */
#include "internal.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mproc/queue.h>
#include <mproc/sync.h>

#include "ipc/chan_int.h"
#include "sync/sync_int.h"

#define Q_MAGIC 0x6d707175u /* "mpqu" */
#define Q_LAYOUT 1
#define SLICE_MS 100

/* The shared part, in its own memfd mapping. */
struct qshared {
    uint32_t magic;
    uint32_t layout_version;
    uint64_t size;
    uint64_t maxsize;
    uint64_t reserved;
    alignas(64) _Atomic int64_t count;    /* put (or being put), not got */
    _Atomic uint32_t space;               /* futex word: bumped by a get */
    _Atomic uint32_t space_waiters;       /* puts waiting for room */
    _Atomic uint32_t broken;              /* 1 producer, 2 consumer died */
    alignas(64) _Atomic int32_t wpart;    /* producer mid-message, or 0 */
    alignas(64) _Atomic int32_t rpart;    /* consumer mid-message, or 0 */
};
_Static_assert(offsetof(struct qshared, count) == 64, "queue layout");
_Static_assert(offsetof(struct qshared, wpart) == 128, "queue layout");
_Static_assert(offsetof(struct qshared, rpart) == 192, "queue layout");

struct mproc_queue {
    struct mproc_chan *ch;
    struct qshared *sh;
    mproc_sync_t *sync;
    mproc_lock_t *wlock, *rlock;
    const char *backend;
    size_t maxsize;
    bool closed;
    char errmsg[MPROC_ERRMSG_MAX];
};

static const char *const backends[] = {"pipe", "mq", "shmring", NULL};

const char *const *
mproc_ipc_backends(void)
{
    return backends;
}

void
mproc_queue_opts_init(struct mproc_queue_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->backend = "pipe";
}

static int
qerr(mproc_queue_t *q, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
qerr(mproc_queue_t *q, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(q->errmsg, sizeof(q->errmsg), fmt, ap);
    va_end(ap);
    return code;
}

int
mproc_queue_new(mproc_queue_t **out, const struct mproc_queue_opts *o,
                mproc_err_t *err)
{
    struct mproc_queue_opts d;
    struct mproc__chan_opts co = {0};
    mproc_queue_t *q = NULL;
    void *m = MAP_FAILED;
    int fd = -1, r;

    *out = NULL;
    if (o == NULL) {
        mproc_queue_opts_init(&d);
        o = &d;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return mproc__err(err, MPROC_ENOMEM, "queue: out of memory");
    co.message_max = o->message_max;
    co.capacity = o->capacity;
    co.flags = MPROC__CHAN_SHARED;
    if ((r = mproc__chan_open(&q->ch, o->backend, &co, err)) < 0)
        goto fail;
    q->backend = mproc__chan_backend(q->ch);
    /* No name, so nothing to leak; the mapping is inherited by fork. */
    fd = memfd_create("mproc-queue", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, sizeof(struct qshared)) < 0 ||
        (m = mmap(NULL, sizeof(struct qshared), PROT_READ | PROT_WRITE,
                  MAP_SHARED, fd, 0)) == MAP_FAILED) {
        r = mproc__err(err, -errno, "queue: shared memory: %s",
                       strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    q->sh = m;
    q->sh->magic = Q_MAGIC;
    q->sh->layout_version = Q_LAYOUT;
    q->sh->size = sizeof(struct qshared);
    q->sh->maxsize = o->maxsize;
    q->maxsize = o->maxsize;
    if ((r = mproc_sync_new(&q->sync, "futex", 4096, err)) < 0 ||
        (r = mproc_lock_new(q->sync, false, &q->wlock, err)) < 0 ||
        (r = mproc_lock_new(q->sync, false, &q->rlock, err)) < 0)
        goto fail;
    q->ch->wpart = &q->sh->wpart;
    q->ch->rpart = &q->sh->rpart;
    *out = q;
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    if (m != MAP_FAILED)
        munmap(m, sizeof(struct qshared));
    mproc_sync_free(q->sync);
    mproc__chan_free(q->ch);
    free(q);
    return r;
}

/* Milliseconds left until the deadline (NULL: -1, for ever). */
static int
left(const struct timespec *dl)
{
    return dl == NULL ? -1 : (int)mproc__ms_left(dl);
}

static int
broken(mproc_queue_t *q)
{
    uint32_t b = atomic_load_explicit(&q->sh->broken, memory_order_acquire);

    return qerr(q, MPROC_EPIPE,
                "queue: broken: a %s process died in the middle of a "
                "message",
                b == 1 ? "producing" : "consuming");
}

/* The lock's previous holder died: was it inside a message? */
static int
taken_over(mproc_queue_t *q, mproc_lock_t *l, _Atomic int32_t *part,
           uint32_t why)
{
    int32_t pid = atomic_load_explicit(part, memory_order_relaxed);

    if (pid != 0 && mproc__pid_dead(pid)) {
        /* Release pairs with the acquire in broken(). */
        atomic_store_explicit(&q->sh->broken, why, memory_order_release);
        mproc_lock_release(l);
        return broken(q);
    }
    atomic_store_explicit(part, 0, memory_order_relaxed);
    return 0;
}

static int
lock(mproc_queue_t *q, mproc_lock_t *l, _Atomic int32_t *part, uint32_t why,
     const struct timespec *dl)
{
    int r = mproc_lock_acquire(l, left(dl));

    if (r == MPROC_EOWNERDEAD)
        return taken_over(q, l, part, why);
    if (r == MPROC_ETIMEDOUT)
        return qerr(q, r, "queue: timed out (others are %s)",
                    l == q->wlock ? "putting" : "getting");
    if (r < 0)
        return qerr(q, r, "queue: lock: %s", mproc_strerror(r));
    return 0;
}

/* Take a slot under maxsize (or just count the message). */
static int
reserve(mproc_queue_t *q, const struct timespec *dl)
{
    struct qshared *sh = q->sh;
    int64_t c;

    if (q->maxsize == 0) {
        atomic_fetch_add_explicit(&sh->count, 1, memory_order_relaxed);
        return 0;
    }
    for (;;) {
        uint32_t seq = atomic_load_explicit(&sh->space, memory_order_acquire);
        struct timespec sl;

        c = atomic_load_explicit(&sh->count, memory_order_relaxed);
        while (c < (int64_t)q->maxsize) {
            if (atomic_compare_exchange_weak_explicit(
                    &sh->count, &c, c + 1, memory_order_relaxed,
                    memory_order_relaxed))
                return 0;
        }
        if (mproc__sync_passed(dl))
            return qerr(q, MPROC_ETIMEDOUT, "queue: full (maxsize %zu)",
                        q->maxsize);
        atomic_fetch_add_explicit(&sh->space_waiters, 1, memory_order_seq_cst);
        /* Re-check after announcing ourselves: a get that freed a slot
         * before it saw us has bumped `space`, so the wait returns. */
        if (atomic_load_explicit(&sh->count, memory_order_seq_cst) >=
            (int64_t)q->maxsize)
            mproc__sync_futex_ops.word_wait(NULL, NULL, &sh->space, seq,
                                            mproc__sync_slice(&sl, dl));
        atomic_fetch_sub_explicit(&sh->space_waiters, 1, memory_order_relaxed);
    }
}

static void
unreserve(mproc_queue_t *q)
{
    struct qshared *sh = q->sh;

    atomic_fetch_sub_explicit(&sh->count, 1, memory_order_seq_cst);
    if (q->maxsize > 0 &&
        atomic_load_explicit(&sh->space_waiters, memory_order_seq_cst) > 0) {
        /* Release pairs with the acquire load of `space` in reserve. */
        atomic_fetch_add_explicit(&sh->space, 1, memory_order_release);
        mproc__sync_futex_ops.word_wake(NULL, NULL, &sh->space, INT32_MAX);
    }
}

int
mproc_queue_put(mproc_queue_t *q, const void *data, size_t len,
                int timeout_ms)
{
    struct timespec ts;
    const struct timespec *dl = mproc__deadline_of(&ts, timeout_ms);
    int r;

    if (q->closed)
        return qerr(q, MPROC_ECLOSED, "queue: closed");
    if (atomic_load_explicit(&q->sh->broken, memory_order_acquire))
        return broken(q);
    if (len > q->ch->lim.message_max)
        return qerr(q, MPROC_EMSGSIZE,
                    "queue: a message of %zu bytes exceeds message_max "
                    "(%zu bytes)",
                    len, q->ch->lim.message_max);
    if ((r = reserve(q, dl)) < 0)
        return r;
    if ((r = lock(q, q->wlock, &q->sh->wpart, 1, dl)) < 0) {
        unreserve(q);
        return r;
    }
    r = mproc__chan_send(q->ch, data, len, 0, left(dl));
    mproc_lock_release(q->wlock);
    if (r < 0) {
        unreserve(q);
        if (r == MPROC_EAGAIN || r == MPROC_ETIMEDOUT)
            return qerr(q, MPROC_ETIMEDOUT,
                        "queue: timed out (the transport is full)");
        return qerr(q, r, "queue: %s", mproc__chan_errmsg(q->ch));
    }
    return 0;
}

/* Hand out the message this process holds (whole, in the channel). */
static int
deliver(mproc_queue_t *q, void *buf, size_t cap, size_t *len)
{
    int r = mproc__chan_recv(q->ch, buf, cap, len, 0);

    if (r == MPROC_ERANGE)
        return qerr(q, r, "queue: %s", mproc__chan_errmsg(q->ch));
    if (r < 0)
        return qerr(q, r, "queue: %s", mproc__chan_errmsg(q->ch));
    unreserve(q);
    return 0;
}

int
mproc_queue_get(mproc_queue_t *q, void *buf, size_t cap, size_t *len,
                int timeout_ms)
{
    struct timespec ts;
    const struct timespec *dl = mproc__deadline_of(&ts, timeout_ms);
    const void *m;
    size_t n;
    int r;

    if (q->closed)
        return qerr(q, MPROC_ECLOSED, "queue: closed");
    /* One kept by an earlier MPROC_ERANGE: ours, no lock needed. */
    if (mproc__chan_has_message(q->ch))
        return deliver(q, buf, cap, len);
    if (atomic_load_explicit(&q->sh->broken, memory_order_acquire))
        return broken(q);
    if ((r = lock(q, q->rlock, &q->sh->rpart, 2, dl)) < 0)
        return r;
    for (;;) {
        int t = left(dl);

        /* Slices, so that a producer's death mid-message is noticed. */
        r = mproc__chan_peek(q->ch, &m, &n,
                             t < 0 || t > SLICE_MS ? SLICE_MS : t);
        if (r == 0)
            break;
        if (r != MPROC_EAGAIN && r != MPROC_ETIMEDOUT) {
            mproc_lock_release(q->rlock);
            return qerr(q, r, "queue: %s", mproc__chan_errmsg(q->ch));
        }
        if (mproc__chan_in_partial(q->ch)) {
            /* A message has begun: finish it whatever the timeout says,
             * unless its producer is gone. */
            int32_t pid =
                atomic_load_explicit(&q->sh->wpart, memory_order_relaxed);

            if (pid != 0 && mproc__pid_dead(pid)) {
                atomic_store_explicit(&q->sh->broken, 1,
                                      memory_order_release);
                mproc_lock_release(q->rlock);
                return broken(q);
            }
            continue;
        }
        if (mproc__sync_passed(dl) || timeout_ms == 0) {
            mproc_lock_release(q->rlock);
            return qerr(q, MPROC_ETIMEDOUT, "queue: %s",
                        timeout_ms == 0 ? "empty" : "timed out");
        }
    }
    mproc_lock_release(q->rlock);
    return deliver(q, buf, cap, len);
}

ssize_t
mproc_queue_qsize(const mproc_queue_t *q)
{
    int64_t c = atomic_load_explicit(&q->sh->count, memory_order_relaxed);

    return c < 0 ? 0 : (ssize_t)c;
}

bool
mproc_queue_empty(const mproc_queue_t *q)
{
    return mproc_queue_qsize(q) == 0;
}

bool
mproc_queue_full(const mproc_queue_t *q)
{
    return q->maxsize > 0 && (size_t)mproc_queue_qsize(q) >= q->maxsize;
}

int
mproc_queue_close(mproc_queue_t *q)
{
    if (q->closed)
        return qerr(q, MPROC_ECLOSED, "queue: closed already");
    q->closed = true;
    return 0;
}

void
mproc_queue_free(mproc_queue_t *q)
{
    if (q == NULL)
        return;
    mproc__chan_free(q->ch);
    mproc_sync_free(q->sync);
    munmap(q->sh, sizeof(struct qshared));
    free(q);
}

const char *
mproc_queue_errmsg(const mproc_queue_t *q)
{
    return q->errmsg;
}

const char *
mproc_queue_backend(const mproc_queue_t *q)
{
    return q->backend;
}

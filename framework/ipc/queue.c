/* SPDX-License-Identifier: MIT */
/*
 * Queue: many producers and consumers over one shared channel
 * (<mproc/queue.h>).
 *
 * A Queue is a locked channel (lchan.c) whose both sides every process of
 * the family keeps, with a maxsize: producers take turns under a writer
 * lock and consumers under a reader lock, so each message goes in and
 * comes out whole, and a process that dies in the middle of a message
 * breaks the Queue for everyone (MPROC_EPIPE, "broken") rather than
 * handing out garbage or hanging.  The count behind qsize and maxsize is
 * kept under the same locks, so a death leaks no slot.
 *
 * A JoinableQueue adds a count of unfinished tasks in a small shared
 * segment of its own (a memfd, kept open so the Queue can be handed to a
 * new image): put adds one before the message goes (so a consumer's
 * task_done can never find the count short), task_done takes one away
 * and, at zero, bumps a futex word that join sleeps on.  A SimpleQueue is
 * a Queue with no maxsize: the same object, fewer promises.
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

#include "ipc/chan_int.h"
#include "sync/sync_int.h"

#define J_MAGIC 0x6d706a71u /* "mpjq" */
#define J_LAYOUT 1

/* A JoinableQueue's shared part. */
struct jshared {
    uint32_t magic;
    uint32_t layout_version;
    uint64_t size;
    alignas(64) _Atomic int64_t unfinished; /* put and not task_done yet */
    _Atomic uint32_t done_seq;              /* futex: bumped at zero */
    _Atomic uint32_t waiters;               /* joins that may sleep */
};

struct mproc_queue {
    struct mproc__lchan *lc;
    const char *backend;
    size_t maxsize;
    bool closed;
    struct jshared *js; /* JoinableQueue only */
    int jfd;            /* its memfd, for a new image; -1 */
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
    if (o == NULL)
        return;
    memset(o, 0, sizeof(*o));
    o->backend = "pipe";
}

int
mproc_queue_new(mproc_queue_t **out, const struct mproc_queue_opts *o,
                mproc_err_t *err)
{
    struct mproc_queue_opts d;
    struct mproc__chan_opts co = {0};
    mproc_queue_t *q;
    int r;

    if (out == NULL)
        return mproc__err(err, MPROC_EINVAL, "queue: no place for the handle "
                          "(out is NULL)");
    *out = NULL;
    if (o == NULL) {
        mproc_queue_opts_init(&d);
        o = &d;
    }
    /* The shared count is signed 64-bit: a larger maxsize would read as
     * negative, a Queue always full.  (Python's refuses too.) */
    if (o->maxsize > (size_t)INT64_MAX)
        return mproc__err(err, MPROC_EINVAL, "queue: maxsize %zu is too "
                          "large (at most %lld; 0: no limit)", o->maxsize,
                          (long long)INT64_MAX);
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return mproc__err(err, MPROC_ENOMEM, "queue: out of memory");
    co.message_max = o->message_max;
    co.capacity = o->capacity;
    r = mproc__lchan_open(&q->lc, "queue", o->backend, &co, o->maxsize, err);
    if (r < 0) {
        free(q);
        return r;
    }
    q->backend = mproc__chan_backend(mproc__lchan_chan(q->lc));
    q->maxsize = o->maxsize;
    q->jfd = -1;
    *out = q;
    return 0;
}

/* Map a JoinableQueue's shared part from `fd` (kept by q on success). */
static int
j_map(mproc_queue_t *q, int fd, mproc_err_t *err)
{
    void *m;

    m = mmap(NULL, sizeof(struct jshared), PROT_READ | PROT_WRITE,
             MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return mproc__err(err, -errno, "queue: shared memory: %s",
                          strerror(errno));
    q->js = m;
    q->jfd = fd;
    return 0;
}

int
mproc_joinable_queue_new(mproc_queue_t **out,
                         const struct mproc_queue_opts *o, mproc_err_t *err)
{
    mproc_queue_t *q;
    int fd, r;

    if (out == NULL)
        return mproc__err(err, MPROC_EINVAL, "queue: out is NULL");
    r = mproc_queue_new(&q, o, err);
    if (r < 0)
        return r;
    /* No name, nothing to leak; inherited by fork, passed to new images
     * (mproc_process_pass). */
    fd = mproc__memfd("mproc-jqueue");
    if (fd < 0 || ftruncate(fd, sizeof(struct jshared)) < 0) {
        r = mproc__err(err, -errno, "queue: shared memory: %s",
                       strerror(errno));
        goto fail;
    }
    if ((r = j_map(q, fd, err)) < 0)
        goto fail;
    q->js->magic = J_MAGIC;
    q->js->layout_version = J_LAYOUT;
    q->js->size = sizeof(struct jshared);
    *out = q;
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    mproc_queue_free(q);
    return r;
}

int
mproc_simple_queue_new(mproc_queue_t **out, const char *backend,
                       mproc_err_t *err)
{
    struct mproc_queue_opts o;

    if (out == NULL)
        return mproc__err(err, MPROC_EINVAL, "queue: out is NULL");
    mproc_queue_opts_init(&o);
    if (backend != NULL)
        o.backend = backend;
    return mproc_queue_new(out, &o, err);
}

bool
mproc_queue_is_joinable(const mproc_queue_t *q)
{
    if (q == NULL)
        return false;
    return q->js != NULL;
}

/*
 * The count went to zero: wake every join.  The system call only when a
 * join may sleep: the count's store (seq_cst, before this) and the
 * joiner's `waiters` store (seq_cst, before it reads the count) cannot
 * both miss each other, so either the joiner sees zero or we see it.
 */
static void
j_wake(struct jshared *js)
{
    /* Release pairs with the acquire load of done_seq in join: the
     * consumer's work before task_done is seen by the joiner. */
    atomic_fetch_add_explicit(&js->done_seq, 1, memory_order_release);
    if (atomic_load_explicit(&js->waiters, memory_order_seq_cst) > 0)
        mproc__futex_wake(&js->done_seq, 1 << 30);
}

static int
not_joinable(mproc_queue_t *q, const char *what)
{
    snprintf(q->errmsg, sizeof(q->errmsg),
             "queue: %s: not a JoinableQueue", what);
    return MPROC_EINVAL;
}

int
mproc_queue_task_done(mproc_queue_t *q)
{
    int64_t cur;

    if (q == NULL)
        return MPROC_EINVAL;
    if (q->js == NULL)
        return not_joinable(q, "task_done");
    cur = atomic_load_explicit(&q->js->unfinished, memory_order_relaxed);
    do {
        if (cur <= 0) {
            snprintf(q->errmsg, sizeof(q->errmsg),
                     "queue: task_done() called too many times");
            return MPROC_EINVAL;
        }
    } while (!atomic_compare_exchange_weak_explicit(
        &q->js->unfinished, &cur, cur - 1, memory_order_seq_cst,
        memory_order_relaxed));
    if (cur == 1)
        j_wake(q->js);
    return 0;
}

int
mproc_queue_join(mproc_queue_t *q, int timeout_ms)
{
    struct timespec dl, sl;
    const struct timespec *d;
    uint32_t seq;
    int r;

    if (q == NULL)
        return MPROC_EINVAL;
    if (q->js == NULL)
        return not_joinable(q, "join");
    d = mproc__deadline_of(&dl, timeout_ms);
    /* Counted before the count is read (see j_wake).  A joiner killed
     * here leaves the count one too high: task_done then makes a system
     * call it did not need, nothing worse. */
    atomic_fetch_add_explicit(&q->js->waiters, 1, memory_order_seq_cst);
    mproc__intr_begin();
    for (;;) {
        /* Read the sequence before the count: a task_done that ends the
         * count after our look changes the word, so the wait returns. */
        seq = atomic_load_explicit(&q->js->done_seq, memory_order_acquire);
        if (atomic_load_explicit(&q->js->unfinished, memory_order_seq_cst) <=
            0) {
            r = 0;
            goto out;
        }
        if (timeout_ms == 0 || mproc__sync_passed(d))
            break;
        r = mproc__chan_futex_wait(&q->js->done_seq, seq,
                                   mproc__sync_slice(&sl, d), true);
        if (r == MPROC_EINTR) {
            snprintf(q->errmsg, sizeof(q->errmsg),
                     "queue: join: interrupted by a signal");
            goto out;
        }
    }
    snprintf(q->errmsg, sizeof(q->errmsg),
             "queue: join: %lld task%s still unfinished after %d ms",
             (long long)atomic_load(&q->js->unfinished),
             atomic_load(&q->js->unfinished) == 1 ? "" : "s", timeout_ms);
    r = MPROC_ETIMEDOUT;
out:
    mproc__intr_end();
    atomic_fetch_sub_explicit(&q->js->waiters, 1, memory_order_relaxed);
    return r;
}

ssize_t
mproc_queue_unfinished(const mproc_queue_t *q)
{
    if (q == NULL || q->js == NULL)
        return MPROC_EINVAL;
    return (ssize_t)atomic_load_explicit(&q->js->unfinished,
                                         memory_order_relaxed);
}

/* The lchan's message becomes the Queue's. */
static int
from_lc(mproc_queue_t *q, int r)
{
    snprintf(q->errmsg, sizeof(q->errmsg), "%s", mproc__lchan_errmsg(q->lc));
    return r;
}

static int
closed_err(mproc_queue_t *q, const char *what)
{
    snprintf(q->errmsg, sizeof(q->errmsg), "queue: closed%s", what);
    return MPROC_ECLOSED;
}

int
mproc_queue_put(mproc_queue_t *q, const void *data, size_t len,
                int timeout_ms)
{
    int r;

    if (q == NULL)
        return MPROC_EINVAL;
    if (q->closed)
        return closed_err(q, "");
    /* Counted before it goes (a consumer may task_done it at once), but
     * once it has room: a producer killed while it waited for room must
     * leave no unfinished task behind. */
    r = mproc__lchan_put_counted(q->lc, data, len, timeout_ms,
                                 q->js != NULL ? &q->js->unfinished : NULL);
    if (r < 0 && q->js != NULL &&
        atomic_load_explicit(&q->js->unfinished, memory_order_seq_cst) == 0)
        j_wake(q->js);
    return r < 0 ? from_lc(q, r) : 0;
}

int
mproc_queue_get(mproc_queue_t *q, void *buf, size_t cap, size_t *len,
                int timeout_ms)
{
    int r;

    if (q == NULL)
        return MPROC_EINVAL;
    if (q->closed)
        return closed_err(q, "");
    r = mproc__lchan_get(q->lc, buf, cap, len, timeout_ms);
    return r < 0 ? from_lc(q, r) : 0;
}

int
mproc_queue_fileno(mproc_queue_t *q)
{
    int r;

    if (q == NULL)
        return MPROC_EINVAL;
    if (q->closed)
        return closed_err(q, "");
    r = mproc__lchan_fileno(q->lc);
    return r < 0 ? from_lc(q, r) : r;
}

ssize_t
mproc_queue_qsize(const mproc_queue_t *q)
{
    if (q == NULL)
        return MPROC_EINVAL;
    return mproc__lchan_count(q->lc);
}

bool
mproc_queue_empty(const mproc_queue_t *q)
{
    return mproc_queue_qsize(q) == 0;
}

bool
mproc_queue_full(const mproc_queue_t *q)
{
    if (q == NULL)
        return false;
    return q->maxsize > 0 && (size_t)mproc_queue_qsize(q) >= q->maxsize;
}

int
mproc_queue_close(mproc_queue_t *q)
{
    if (q == NULL)
        return MPROC_EINVAL;
    if (q->closed)
        return closed_err(q, " already");
    q->closed = true;
    return 0;
}

void
mproc_queue_free(mproc_queue_t *q)
{
    if (q == NULL)
        return;
    mproc__lchan_close_side(q->lc, MPROC__CHAN_RD);
    mproc__lchan_close_side(q->lc, MPROC__CHAN_WR);
    if (q->js != NULL)
        munmap(q->js, sizeof(struct jshared));
    if (q->jfd >= 0)
        close(q->jfd);
    free(q);
}

const char *
mproc_queue_errmsg(const mproc_queue_t *q)
{
    if (q == NULL)
        return "queue: none";
    return q->errmsg;
}

const char *
mproc_queue_backend(const mproc_queue_t *q)
{
    if (q == NULL)
        return NULL;
    return q->backend;
}

/* ---- handing a Queue to a new image (process/pass.c) ---- */

struct qhead {
    uint64_t maxsize;
    uint32_t joinable;
    uint32_t reserved;
};

int
mproc__queue_export(mproc_queue_t *q, int *fds, size_t *nfds, void *blob,
                    size_t *len, mproc_err_t *err)
{
    struct qhead h = {q->maxsize, q->js != NULL, 0};
    size_t n = 0, bl = 0;
    int r;

    if (q->closed)
        return mproc__err(err, MPROC_ECLOSED, "queue: closed in this "
                          "process: cannot hand it to a new process");
    r = mproc__lchan_export(q->lc, MPROC__CHAN_RD | MPROC__CHAN_WR, fds, &n,
                            (char *)blob + sizeof(h), &bl);
    if (r < 0)
        return mproc__err(err, r, "%s", mproc__lchan_errmsg(q->lc));
    if (q->js != NULL)
        fds[n++] = q->jfd;
    memcpy(blob, &h, sizeof(h));
    *nfds = n;
    *len = sizeof(h) + bl;
    return 0;
}

int
mproc__queue_import(mproc_queue_t **out, const int *fds, size_t nfds,
                    const void *blob, size_t len, mproc_err_t *err)
{
    struct qhead h;
    mproc_queue_t *q;
    int r;

    *out = NULL;
    if (len < sizeof(h) || nfds < 1)
        return mproc__err(err, MPROC_EINVAL, "queue: import: bad "
                          "description");
    memcpy(&h, blob, sizeof(h));
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return mproc__err(err, MPROC_ENOMEM, "queue: out of memory");
    q->jfd = -1;
    r = mproc__lchan_import(&q->lc, "queue", fds, nfds - (h.joinable != 0),
                            (const char *)blob + sizeof(h),
                            len - sizeof(h), err);
    if (r < 0) {
        free(q);
        return r;
    }
    q->backend = mproc__chan_backend(mproc__lchan_chan(q->lc));
    q->maxsize = (size_t)h.maxsize;
    if (h.joinable && (r = j_map(q, fds[nfds - 1], err)) < 0) {
        mproc_queue_free(q);
        return r;
    }
    *out = q;
    return 0;
}

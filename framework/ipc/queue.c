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
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc/queue.h>

#include "ipc/chan_int.h"

struct mproc_queue {
    struct mproc__lchan *lc;
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

int
mproc_queue_new(mproc_queue_t **out, const struct mproc_queue_opts *o,
                mproc_err_t *err)
{
    struct mproc_queue_opts d;
    struct mproc__chan_opts co = {0};
    mproc_queue_t *q;
    int r;

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
    r = mproc__lchan_open(&q->lc, "queue", o->backend, &co, o->maxsize, err);
    if (r < 0) {
        free(q);
        return r;
    }
    q->backend = mproc__chan_backend(mproc__lchan_chan(q->lc));
    q->maxsize = o->maxsize;
    *out = q;
    return 0;
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

    if (q->closed)
        return closed_err(q, "");
    r = mproc__lchan_put(q->lc, data, len, timeout_ms);
    return r < 0 ? from_lc(q, r) : 0;
}

int
mproc_queue_get(mproc_queue_t *q, void *buf, size_t cap, size_t *len,
                int timeout_ms)
{
    int r;

    if (q->closed)
        return closed_err(q, "");
    r = mproc__lchan_get(q->lc, buf, cap, len, timeout_ms);
    return r < 0 ? from_lc(q, r) : 0;
}

int
mproc_queue_fileno(mproc_queue_t *q)
{
    int r;

    if (q->closed)
        return closed_err(q, "");
    r = mproc__lchan_fileno(q->lc);
    return r < 0 ? from_lc(q, r) : r;
}

ssize_t
mproc_queue_qsize(const mproc_queue_t *q)
{
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
    return q->maxsize > 0 && (size_t)mproc_queue_qsize(q) >= q->maxsize;
}

int
mproc_queue_close(mproc_queue_t *q)
{
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

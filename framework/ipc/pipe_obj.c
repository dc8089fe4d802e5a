/* SPDX-License-Identifier: MIT */
/*
 * Pipe: two ends over one channel per direction (<mproc/pipe.h>).
 *
 * Both ends are made in one process and share the channel handles there:
 * an end owns the writing side of the channel it sends on and the reading
 * side of the one it receives on, and closing an end closes exactly those
 * sides (a channel handle goes when its last side does).  After fork()
 * each process has its own copy of the handles, and freeing the unused
 * end leaves the used one as the only holder, so the other process's
 * death reaches it.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc/pipe.h>

#include "ipc/chan_int.h"

struct mproc_pipe {
    struct mproc_chan *tx; /* we hold its WR side, or NULL */
    struct mproc_chan *rx; /* we hold its RD side, or NULL */
    const char *backend;   /* static */
    bool closed;
    char errmsg[MPROC_ERRMSG_MAX];
};

void
mproc_pipe_opts_init(struct mproc_pipe_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->backend = "pipe";
    o->duplex = true;
}

int
mproc_pipe_new(mproc_pipe_t **end1, mproc_pipe_t **end2,
               const struct mproc_pipe_opts *o, mproc_err_t *err)
{
    struct mproc_pipe_opts d;
    struct mproc__chan_opts co = {0};
    struct mproc_chan *a = NULL, *b = NULL;
    mproc_pipe_t *e1 = NULL, *e2 = NULL;
    int r;

    *end1 = *end2 = NULL;
    if (o == NULL) {
        mproc_pipe_opts_init(&d);
        o = &d;
    }
    co.message_max = o->message_max;
    co.capacity = o->capacity;
    e1 = calloc(1, sizeof(*e1));
    e2 = calloc(1, sizeof(*e2));
    if (e1 == NULL || e2 == NULL) {
        r = mproc__err(err, MPROC_ENOMEM, "pipe: out of memory");
        goto fail;
    }
    /* a: end2 -> end1; b: end1 -> end2 (duplex only). */
    if ((r = mproc__chan_open(&a, o->backend, &co, err)) < 0)
        goto fail;
    if (o->duplex && (r = mproc__chan_open(&b, o->backend, &co, err)) < 0)
        goto fail;
    e1->rx = a;
    e2->tx = a;
    e1->backend = e2->backend = mproc__chan_backend(a);
    e1->tx = b;
    e2->rx = b;
    *end1 = e1;
    *end2 = e2;
    return 0;

fail:
    mproc__chan_free(a);
    mproc__chan_free(b);
    free(e1);
    free(e2);
    return r;
}

/* Keep the channel's message, mapping a zero-timeout miss to ETIMEDOUT. */
static int
fail_from(mproc_pipe_t *p, struct mproc_chan *ch, int r)
{
    if (r == MPROC_EAGAIN) {
        snprintf(p->errmsg, sizeof(p->errmsg), "%s: nothing ready",
                 mproc__chan_backend(ch));
        return MPROC_ETIMEDOUT;
    }
    snprintf(p->errmsg, sizeof(p->errmsg), "%s", mproc__chan_errmsg(ch));
    return r;
}

static int
closed_err(mproc_pipe_t *p, const char *what)
{
    snprintf(p->errmsg, sizeof(p->errmsg), "pipe: this end %s",
             p->closed ? "is closed" : what);
    return MPROC_ECLOSED;
}

int
mproc_pipe_send(mproc_pipe_t *p, const void *data, size_t len, int timeout_ms)
{
    int r;

    if (p->closed || p->tx == NULL)
        return closed_err(p, "only receives");
    r = mproc__chan_send(p->tx, data, len, 0, timeout_ms);
    return r < 0 ? fail_from(p, p->tx, r) : 0;
}

int
mproc_pipe_recv(mproc_pipe_t *p, void *buf, size_t cap, size_t *len,
                int timeout_ms)
{
    int r;

    if (p->closed || p->rx == NULL)
        return closed_err(p, "only sends");
    r = mproc__chan_recv(p->rx, buf, cap, len, timeout_ms);
    return r < 0 ? fail_from(p, p->rx, r) : 0;
}

int
mproc_pipe_poll(mproc_pipe_t *p, int timeout_ms)
{
    const void *m;
    size_t n;
    int r;

    if (p->closed || p->rx == NULL)
        return closed_err(p, "only sends");
    /* A peek reads ahead without consuming: the message stays. */
    r = mproc__chan_peek(p->rx, &m, &n, timeout_ms);
    if (r == 0 || r == MPROC_EPIPE)
        return 1;
    if (r == MPROC_EAGAIN || r == MPROC_ETIMEDOUT)
        return 0;
    return fail_from(p, p->rx, r);
}

int
mproc_pipe_close(mproc_pipe_t *p)
{
    if (p->closed)
        return closed_err(p, "");
    mproc__chan_close_side(p->tx, MPROC__CHAN_WR);
    mproc__chan_close_side(p->rx, MPROC__CHAN_RD);
    p->tx = p->rx = NULL;
    p->closed = true;
    return 0;
}

void
mproc_pipe_free(mproc_pipe_t *p)
{
    if (p == NULL)
        return;
    if (!p->closed)
        mproc_pipe_close(p);
    free(p);
}

const char *
mproc_pipe_errmsg(const mproc_pipe_t *p)
{
    return p->errmsg;
}

const char *
mproc_pipe_backend(const mproc_pipe_t *p)
{
    return p->backend;
}

bool
mproc_pipe_can_send(const mproc_pipe_t *p)
{
    return !p->closed && p->tx != NULL;
}

bool
mproc_pipe_can_recv(const mproc_pipe_t *p)
{
    return !p->closed && p->rx != NULL;
}

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
 *
 * Each direction is a locked channel (lchan.c): any number of processes
 * and threads may send on an end and receive from it at once, every
 * message arrives whole, and poll consumes nothing, whoever polls.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc/pipe.h>

#include "ipc/chan_int.h"

struct mproc_pipe {
    struct mproc__lchan *tx; /* we hold its WR side, or NULL */
    struct mproc__lchan *rx; /* we hold its RD side, or NULL */
    const char *backend;   /* static */
    bool closed;
    char errmsg[MPROC_ERRMSG_MAX];
};

void
mproc_pipe_opts_init(struct mproc_pipe_opts *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof(*o));
    o->backend = "pipe";
    o->duplex = true;
}

static void
lchan_free(struct mproc__lchan *lc)
{
    mproc__lchan_close_side(lc, MPROC__CHAN_RD);
    mproc__lchan_close_side(lc, MPROC__CHAN_WR);
}

int
mproc_pipe_new(mproc_pipe_t **end1, mproc_pipe_t **end2,
               const struct mproc_pipe_opts *o, mproc_err_t *err)
{
    struct mproc_pipe_opts d;
    struct mproc__chan_opts co = {0};
    struct mproc__lchan *a = NULL, *b = NULL;
    mproc_pipe_t *e1 = NULL, *e2 = NULL;
    int r;

    if (end1 == NULL || end2 == NULL)
        return mproc__err(err, MPROC_EINVAL, "pipe: end1 or end2 is NULL");
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
    if ((r = mproc__lchan_open(&a, "pipe", o->backend, &co, 0, err)) < 0)
        goto fail;
    if (o->duplex &&
        (r = mproc__lchan_open(&b, "pipe", o->backend, &co, 0, err)) < 0)
        goto fail;
    e1->rx = a;
    e2->tx = a;
    e1->backend = e2->backend =
        mproc__chan_backend(mproc__lchan_chan(a));
    e1->tx = b;
    e2->rx = b;
    *end1 = e1;
    *end2 = e2;
    return 0;

fail:
    lchan_free(a);
    lchan_free(b);
    free(e1);
    free(e2);
    return r;
}

/* Keep the lchan's message. */
static int
fail_from(mproc_pipe_t *p, struct mproc__lchan *lc, int r)
{
    snprintf(p->errmsg, sizeof(p->errmsg), "%s", mproc__lchan_errmsg(lc));
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

    if (p == NULL)
        return MPROC_EINVAL;
    if (p->closed || p->tx == NULL)
        return closed_err(p, "only receives");
    r = mproc__lchan_put(p->tx, data, len, timeout_ms);
    return r < 0 ? fail_from(p, p->tx, r) : 0;
}

int
mproc_pipe_recv(mproc_pipe_t *p, void *buf, size_t cap, size_t *len,
                int timeout_ms)
{
    int r;

    if (p == NULL)
        return MPROC_EINVAL;
    if (p->closed || p->rx == NULL)
        return closed_err(p, "only sends");
    r = mproc__lchan_get(p->rx, buf, cap, len, timeout_ms);
    return r < 0 ? fail_from(p, p->rx, r) : 0;
}

int
mproc_pipe_poll(mproc_pipe_t *p, int timeout_ms)
{
    int r;

    if (p == NULL)
        return MPROC_EINVAL;
    if (p->closed || p->rx == NULL)
        return closed_err(p, "only sends");
    /* Looks at the transport without reading from it: a message stays for
     * whichever process receives it. */
    r = mproc__lchan_poll(p->rx, timeout_ms);
    return r < 0 ? fail_from(p, p->rx, r) : r;
}

int
mproc_pipe_fileno(mproc_pipe_t *p)
{
    int r;

    if (p == NULL)
        return MPROC_EINVAL;
    if (p->closed || p->rx == NULL)
        return closed_err(p, "only sends");
    r = mproc__lchan_fileno(p->rx);
    return r < 0 ? fail_from(p, p->rx, r) : r;
}

int
mproc_pipe_close(mproc_pipe_t *p)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (p->closed)
        return closed_err(p, "");
    mproc__lchan_close_side(p->tx, MPROC__CHAN_WR);
    mproc__lchan_close_side(p->rx, MPROC__CHAN_RD);
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
    if (p == NULL)
        return "pipe: none";
    return p->errmsg;
}

const char *
mproc_pipe_backend(const mproc_pipe_t *p)
{
    if (p == NULL)
        return NULL;
    return p->backend;
}

bool
mproc_pipe_can_send(const mproc_pipe_t *p)
{
    if (p == NULL)
        return false;
    return !p->closed && p->tx != NULL;
}

bool
mproc_pipe_can_recv(const mproc_pipe_t *p)
{
    if (p == NULL)
        return false;
    return !p->closed && p->rx != NULL;
}

/* ---- handing a Pipe end to a new image (process/pass.c) ---- */

struct phead {
    uint32_t nfds[2];   /* tx, rx */
    uint32_t bloblen[2];
};

int
mproc__pipe_export(mproc_pipe_t *p, int *fds, size_t *nfds, void *blob,
                   size_t *len, mproc_err_t *err)
{
    struct mproc__lchan *lc[2] = {p->tx, p->rx};
    static const unsigned side[2] = {MPROC__CHAN_WR, MPROC__CHAN_RD};
    struct phead h = {{0, 0}, {0, 0}};
    size_t off = sizeof(h), n = 0, k, bl, i;
    int r;

    if (p->closed)
        return mproc__err(err, MPROC_ECLOSED, "pipe: this end is closed: "
                          "cannot hand it to a new process");
    for (i = 0; i < 2; i++) {
        if (lc[i] == NULL)
            continue;
        r = mproc__lchan_export(lc[i], side[i], fds + n, &k,
                                (char *)blob + off, &bl);
        if (r < 0)
            return mproc__err(err, r, "%s", mproc__lchan_errmsg(lc[i]));
        h.nfds[i] = (uint32_t)k;
        h.bloblen[i] = (uint32_t)bl;
        n += k;
        off += bl;
    }
    memcpy(blob, &h, sizeof(h));
    *nfds = n;
    *len = off;
    return 0;
}

int
mproc__pipe_import(mproc_pipe_t **out, const int *fds, size_t nfds,
                   const void *blob, size_t len, mproc_err_t *err)
{
    struct phead h;
    mproc_pipe_t *p;
    const char *b = blob;
    int r;

    *out = NULL;
    if (len < sizeof(h))
        goto bad;
    memcpy(&h, blob, sizeof(h));
    if ((size_t)h.nfds[0] + h.nfds[1] != nfds ||
        sizeof(h) + (size_t)h.bloblen[0] + h.bloblen[1] != len)
        goto bad;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return mproc__err(err, MPROC_ENOMEM, "pipe: out of memory");
    b += sizeof(h);
    if (h.nfds[0] > 0 &&
        (r = mproc__lchan_import(&p->tx, "pipe", fds, h.nfds[0], b,
                                 h.bloblen[0], err)) < 0)
        goto fail;
    if (h.nfds[1] > 0 &&
        (r = mproc__lchan_import(&p->rx, "pipe", fds + h.nfds[0],
                                 h.nfds[1], b + h.bloblen[0], h.bloblen[1],
                                 err)) < 0)
        goto fail;
    p->backend = mproc__chan_backend(
        mproc__lchan_chan(p->tx != NULL ? p->tx : p->rx));
    *out = p;
    return 0;

bad:
    return mproc__err(err, MPROC_EINVAL, "pipe: import: bad description");
fail:
    mproc__lchan_close_side(p->tx, MPROC__CHAN_WR);
    free(p);
    return r;
}

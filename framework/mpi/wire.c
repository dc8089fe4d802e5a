/* SPDX-License-Identifier: MIT */
/*
 * The MPI launcher's wire format: fixed-width numbers in host byte order
 * (every rank of one job runs the same mproc build on the same kind of
 * machine), byte strings after a 32-bit length.  And the sends in
 * flight, whose buffers must live until MPI is done with them.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/launcher.h"

int
cli_wbuf_put(struct cli_wbuf *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        unsigned char *p;

        while (cap < b->len + len)
            cap *= 2;
        if ((p = realloc(b->p, cap)) == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    if (len > 0 && data != NULL) /* NULL: room only, filled by the caller */
        memcpy(b->p + b->len, data, len);
    b->len += len;
    return 0;
}

int
cli_wbuf_u32(struct cli_wbuf *b, uint32_t v)
{
    return cli_wbuf_put(b, &v, sizeof(v));
}

int
cli_wbuf_u64(struct cli_wbuf *b, uint64_t v)
{
    return cli_wbuf_put(b, &v, sizeof(v));
}

int
cli_wbuf_f64(struct cli_wbuf *b, double v)
{
    return cli_wbuf_put(b, &v, sizeof(v));
}

int
cli_wbuf_bytes(struct cli_wbuf *b, const void *data, size_t len)
{
    if (len > UINT32_MAX)
        return -1;
    return cli_wbuf_u32(b, (uint32_t)len) | cli_wbuf_put(b, data, len);
}

void
cli_wbuf_free(struct cli_wbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static const void *
take(struct cli_rbuf *r, size_t n)
{
    const void *p;

    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return NULL;
    }
    p = r->p + r->off;
    r->off += n;
    return p;
}

uint32_t
cli_rbuf_u32(struct cli_rbuf *r)
{
    const void *p = take(r, sizeof(uint32_t));
    uint32_t v = 0;

    if (p != NULL)
        memcpy(&v, p, sizeof(v));
    return v;
}

uint64_t
cli_rbuf_u64(struct cli_rbuf *r)
{
    const void *p = take(r, sizeof(uint64_t));
    uint64_t v = 0;

    if (p != NULL)
        memcpy(&v, p, sizeof(v));
    return v;
}

double
cli_rbuf_f64(struct cli_rbuf *r)
{
    const void *p = take(r, sizeof(double));
    double v = 0;

    if (p != NULL)
        memcpy(&v, p, sizeof(v));
    return v;
}

const void *
cli_rbuf_bytes(struct cli_rbuf *r, size_t *len)
{
    const void *p;

    *len = cli_rbuf_u32(r);
    p = take(r, *len);
    if (p == NULL)
        *len = 0;
    return p != NULL ? p : "";
}

int
cli_sends_start(struct cli_sends *s, const struct mproc__mpi_ops *ops, int dest,
                int tag, struct cli_wbuf *b, char *err, size_t cap)
{
    struct cli_send *v;

    if (s->n == s->cap) {
        size_t c = s->cap ? 2 * s->cap : 16;

        if ((v = realloc(s->v, c * sizeof(*v))) == NULL) {
            snprintf(err, cap, "out of memory");
            return -1;
        }
        s->v = v;
        s->cap = c;
    }
    v = &s->v[s->n];
    if (ops->isend(dest, tag, b->len ? (void *)b->p : (void *)"", b->len,
                   &v->req, err, cap) < 0)
        return -1;
    v->buf = b->p;
    v->dest = dest;
    s->n++;
    b->p = NULL;
    b->len = b->cap = 0;
    return 0;
}

size_t
cli_sends_poll(struct cli_sends *s, const struct mproc__mpi_ops *ops, int dest)
{
    char err[256];
    size_t i = 0, left = 0;

    while (i < s->n) {
        struct cli_send *v = &s->v[i];

        /* A send that fails stays (as not done): its peer is gone, which
         * the heartbeats tell. */
        if (ops->test(v->req, err, sizeof(err)) == 1) {
            free(v->buf);
            s->v[i] = s->v[--s->n];
            continue;
        }
        if (dest < 0 || v->dest == dest)
            left++;
        i++;
    }
    return left;
}

void
cli_sends_free(struct cli_sends *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->v[i].buf);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

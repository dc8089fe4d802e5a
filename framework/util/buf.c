/* SPDX-License-Identifier: MIT */
/*
 * Framework-owned growable buffers and failure messages: the services a
 * plugin reaches through struct mproc_host.  Plugins never allocate or free
 * these buffers; they only ask the host to grow them.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include <mproc/sync.h>

#include "util/buf_int.h"
#include "manager/mgrjob_int.h"

/* Keep at most this much allocation between tasks. */
#define KEEP_CAP (1u << 20)

/* The largest size refused by a limit since the last reset (per process:
 * a worker runs one task at a time). */
static size_t overflow;

static int
buf_reserve(struct mproc_buf *buf, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > buf->limit || buf->len > buf->limit - extra) {
        size_t want = extra > (size_t)-1 - buf->len ? (size_t)-1
                                                     : buf->len + extra;
        if (want > overflow)
            overflow = want;
        return MPROC_TASK_FAIL;
    }
    need = buf->len + extra;
    if (need <= buf->cap)
        return MPROC_TASK_OK;
    cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    p = realloc(buf->data, cap);
    if (p == NULL)
        return MPROC_TASK_FAIL;
    buf->data = p;
    buf->cap = cap;
    return MPROC_TASK_OK;
}

static int
buf_append(struct mproc_buf *buf, const void *data, size_t len)
{
    if (len == 0)
        return MPROC_TASK_OK;
    if (buf_reserve(buf, len) != MPROC_TASK_OK)
        return MPROC_TASK_FAIL;
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return MPROC_TASK_OK;
}

static int
buf_vprintf(struct mproc_buf *buf, const char *fmt, va_list ap)
{
    va_list aq;
    int n;

    /* vsnprintf writes a NUL, so reserve one byte more than the text. */
    va_copy(aq, ap);
    n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0 || buf_reserve(buf, (size_t)n + 1) != MPROC_TASK_OK)
        return MPROC_TASK_FAIL;
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    buf->len += (size_t)n;
    return MPROC_TASK_OK;
}

static int
ctx_vfail(struct mproc_ctx *ctx, const char *fmt, va_list ap)
{
    struct mproc__ctx_priv *priv = ctx->priv;

    if (priv != NULL) {
        priv->failed = 1;
        vsnprintf(priv->msg, sizeof(priv->msg), fmt, ap);
    }
    return MPROC_TASK_FAIL;
}

static void *
ctx_shared(struct mproc_ctx *ctx, const char *kind, const char *name)
{
    const struct mproc__ctx_priv *priv = ctx->priv;
    void *o = priv && priv->sync ? mproc_sync_find(priv->sync, kind, name)
                                 : NULL;

    if (o == NULL)
        mproc_fail(ctx, "no [%s:%s] is declared in the job", kind, name);
    return o;
}

const struct mproc_host mproc__host = {
    .size = sizeof(struct mproc_host),
    .abi_minor = MPROC_PLUGIN_ABI_MINOR,
    .buf_reserve = buf_reserve,
    .buf_append = buf_append,
    .buf_vprintf = buf_vprintf,
    .vfail = ctx_vfail,
    .shared = ctx_shared,
    .manager = mproc__ctx_manager, /* ABI 1.4 (manager/job.c) */
};

void
mproc__buf_init(struct mproc_buf *buf, size_t limit)
{
    memset(buf, 0, sizeof(*buf));
    buf->host = &mproc__host;
    buf->limit = limit;
}

void
mproc__buf_free(struct mproc_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

void
mproc__buf_reset(struct mproc_buf *buf)
{
    if (buf->cap > KEEP_CAP)
        mproc__buf_free(buf);
    buf->len = 0;
}

size_t
mproc__buf_overflow(bool reset)
{
    size_t v = overflow;
    /* Stored only when set: in a forked Process child, an unchanged page
     * stays shared (process.c). */
    if (reset && v != 0)
        overflow = 0;
    return v;
}

void
mproc__ctx_init(struct mproc_ctx *ctx, struct mproc__ctx_priv *priv,
                const struct mproc_kv *args, size_t nargs, unsigned worker)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->host = &mproc__host;
    ctx->args = args;
    ctx->nargs = nargs;
    ctx->worker = worker;
    ctx->priv = priv;
    priv->sync = NULL;
    priv->failed = 0;
    priv->msg[0] = '\0';
    priv->has_status = false;
    priv->status = 0;
}

void
mproc__ctx_clear(struct mproc_ctx *ctx)
{
    struct mproc__ctx_priv *priv = ctx->priv;
    priv->failed = 0;
    priv->msg[0] = '\0';
    priv->has_status = false;
    priv->status = 0;
}

void
mproc__task_status(struct mproc_ctx *ctx, int status)
{
    struct mproc__ctx_priv *priv = ctx->priv;
    priv->has_status = true;
    priv->status = status;
}

const char *
mproc__ctx_msg(const struct mproc_ctx *ctx, const char *dflt)
{
    const struct mproc__ctx_priv *priv = ctx->priv;
    return priv->failed && priv->msg[0] ? priv->msg : dflt;
}

/* ---- [args] lists ---- */

void
mproc__kv_free(struct mproc_kv *kv, size_t n)
{
    size_t i;

    for (i = 0; kv != NULL && i < n; i++) {
        free((char *)kv[i].key);
        free((char *)kv[i].value);
    }
    free(kv);
}

int
mproc__kv_dup(const struct mproc_kv *kv, size_t n, struct mproc_kv **out)
{
    struct mproc_kv *c;
    size_t i;

    *out = NULL;
    if (n == 0)
        return 0;
    if ((c = calloc(n, sizeof(*c))) == NULL)
        return MPROC_ENOMEM;
    for (i = 0; i < n; i++) {
        c[i].key = strdup(kv[i].key);
        c[i].value = strdup(kv[i].value);
        if (c[i].key == NULL || c[i].value == NULL) {
            mproc__kv_free(c, n);
            return MPROC_ENOMEM;
        }
    }
    *out = c;
    return 0;
}

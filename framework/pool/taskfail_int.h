/* SPDX-License-Identifier: MIT */
/*
 * A failed task's answer (a FAIL frame with status 0): its message, and,
 * when the task gave its own exit status (mproc__task_status(): exec's
 * command's status, or minus the signal that ended it), a NUL, that
 * status (int32, native order) and the output the task wrote before it
 * failed.  The pool keeps the whole payload until the item's turn and
 * hands the parts to the caller (struct mproc_result's exitcode, data and
 * len), so the job log's exit column and a failed command's stdout need
 * no reading back from words.  A task that gives no status sends its
 * message alone, as before.
 */
#ifndef MPROC_TASKFAIL_INT_H
#define MPROC_TASKFAIL_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "util/buf_int.h"

struct mproc__taskfail {
    bool has_status;   /* false: the message alone */
    int status;
    const char *out;   /* the output, when has_status */
    size_t out_len;
};

/* The payload for message `m` in `b` (a buffer without limit): its length,
 * or 0 when out of memory (then send `m` alone). */
static inline size_t
mproc__taskfail_pack(struct mproc_buf *b, const struct mproc_ctx *ctx,
                     const char *m, const struct mproc_buf *out)
{
    const struct mproc__ctx_priv *priv = ctx->priv;
    int32_t st = priv->status;
    size_t n = strlen(m);

    b->len = 0;
    if (!priv->has_status ||
        mproc_buf_append(b, m, n + 1) != MPROC_TASK_OK ||
        mproc_buf_append(b, &st, sizeof(st)) != MPROC_TASK_OK ||
        mproc_buf_append(b, out->data, out->len) != MPROC_TASK_OK)
        return 0;
    return b->len;
}

/* The parts of a FAIL payload (the message is what comes before a NUL). */
static inline void
mproc__taskfail_unpack(const char *p, size_t len, struct mproc__taskfail *f)
{
    const char *nul = len > 0 ? memchr(p, '\0', len) : NULL;
    int32_t st;

    memset(f, 0, sizeof(*f));
    if (nul == NULL || (size_t)(p + len - nul) < 1 + sizeof(st))
        return;
    memcpy(&st, nul + 1, sizeof(st));
    f->has_status = true;
    f->status = st;
    f->out = nul + 1 + sizeof(st);
    f->out_len = (size_t)(p + len - f->out);
}

#endif

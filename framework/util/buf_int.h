/* SPDX-License-Identifier: MIT */
/*
 * The framework side of struct mproc_buf and struct mproc_ctx: the host
 * services a plugin reaches through <mproc/plugin.h>.
 */
#ifndef MPROC_BUF_INT_H
#define MPROC_BUF_INT_H

#include <stdbool.h>

#include <mproc/plugin.h>

/* The one host-services table handed to every plugin. */
extern const struct mproc_host mproc__host;

/* Longest failure message kept for a task, including the NUL. */
#define MPROC__FAILMSG_MAX 4096

/* An empty buffer that may grow up to `limit` bytes. */
void mproc__buf_init(struct mproc_buf *buf, size_t limit);
/* Release the bytes; the buffer is empty and usable again. */
void mproc__buf_free(struct mproc_buf *buf);
/* Drop the bytes, keep the allocation (shrink it when it grew huge). */
void mproc__buf_reset(struct mproc_buf *buf);

/*
 * The largest size a buffer limit refused since the last reset, 0 if none;
 * reset it when `reset`.  Lets the host tell "output too large" from other
 * failures, and catch a plugin that ignored the refusal.
 */
size_t mproc__buf_overflow(bool reset);

/* The host's private part of a context: the last failure message. */
struct mproc__ctx_priv {
    const struct mproc_sync *sync; /* the job's shared objects, or NULL */
    int failed;
    char msg[MPROC__FAILMSG_MAX];
    /* mproc__task_status(): the task's own exit status (exec: the
     * command's, or minus the signal), sent with its failure. */
    bool has_status;
    int status;
};

void mproc__ctx_init(struct mproc_ctx *ctx, struct mproc__ctx_priv *priv,
                     const struct mproc_kv *args, size_t nargs,
                     unsigned worker);
/* Forget the previous failure before the next callback. */
void mproc__ctx_clear(struct mproc_ctx *ctx);
/* The message recorded by mproc_fail(), or `dflt` when none was. */
const char *mproc__ctx_msg(const struct mproc_ctx *ctx, const char *dflt);
/*
 * For a shipped plugin (exec): the current task's own exit status, given
 * before it fails.  Its failure then carries that status and the output
 * it wrote (pool/taskfail_int.h) to struct mproc_result's exitcode, data
 * and len.  Forgotten by mproc__ctx_clear().
 */
void mproc__task_status(struct mproc_ctx *ctx, int status);

#endif

/*
 * The pool, worker side: run the plugin's init, then one task per frame
 * received, answering each with one frame, in order, until the host closes
 * the task pipe.
 *
 * The worker writes each result as soon as its task ends (one writev per
 * result) rather than batching: if the worker dies later, every result it
 * finished has already reached the host, and the host can tell exactly which
 * task the death interrupted.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc/frame_int.h"
#include "pool/pool_int.h"
#include "sync/sync_int.h"
#include "util/buf_int.h"

#define READ_CHUNK 65536

static void __attribute__((noreturn))
worker_exit(const struct mproc__worker_args *a, struct mproc_ctx *ctx,
            int code)
{
    if (code == 0 && a->desc->fini != NULL)
        a->desc->fini(ctx);
    mproc__sync_exit(); /* a normal end: its semaphore units were used */
    /* _exit, not exit: stdio buffers and atexit handlers belong to the
     * host process this one was forked from. */
    _exit(code);
}

static void
run_task(const struct mproc__worker_args *a, struct mproc_ctx *ctx,
         struct mproc_buf *out, uint64_t index, const char *in, size_t len)
{
    char msg[MPROC__FAILMSG_MAX + 128];
    size_t over;
    int r;

    mproc__buf_reset(out);
    mproc__ctx_clear(ctx);
    mproc__buf_overflow(true);
    r = a->task->fn(ctx, in, len, index, out);
    over = mproc__buf_overflow(true);
    if (over > 0) {
        /* The output hit message_max.  Even if the task went on and
         * returned success, its output is incomplete: never pass a
         * truncated result off as a good one. */
        snprintf(msg, sizeof(msg),
                 "output of at least %zu bytes exceeds message_max (%zu)%s%s",
                 over, a->message_max, r == MPROC_TASK_OK ? "" : ": ",
                 r == MPROC_TASK_OK ? "" : mproc__ctx_msg(ctx, ""));
        r = mproc__frame_write(a->result_fd, MPROC__FRAME_FAIL,
                               (uint32_t)-MPROC_EMSGSIZE, index, msg,
                               strlen(msg));
    } else if (r == MPROC_TASK_OK) {
        r = mproc__frame_write(a->result_fd, MPROC__FRAME_OK, 0, index,
                               out->data, out->len);
    } else {
        const char *m = mproc__ctx_msg(ctx, "task failed without a message");
        r = mproc__frame_write(a->result_fd, MPROC__FRAME_FAIL, 0, index, m,
                               strlen(m));
    }
    if (r < 0)
        _exit(70); /* the host is gone */
}

void
mproc__worker_main(const struct mproc__worker_args *a)
{
    struct mproc__ctx_priv priv;
    struct mproc_ctx ctx;
    struct mproc_buf in, out;
    size_t off = 0;

    mproc__ctx_init(&ctx, &priv, a->args, a->nargs, a->slot);
    priv.sync = a->sync;
    mproc__buf_init(&in, (size_t)-1);
    mproc__buf_init(&out, a->message_max);

    if (a->desc->init != NULL && a->desc->init(&ctx) != MPROC_TASK_OK) {
        const char *msg = mproc__ctx_msg(&ctx, "failed without a message");
        mproc__frame_write(a->result_fd, MPROC__FRAME_INITFAIL, 0, 0, msg,
                           strlen(msg));
        _exit(MPROC__WORKER_EXIT_INIT);
    }
    if (mproc__frame_write(a->result_fd, MPROC__FRAME_READY, 0, 0, NULL, 0) <
        0)
        _exit(70);

    for (;;) {
        struct mproc__frame_hdr h;
        const char *payload;
        size_t n, need = 0;
        ssize_t got;

        while ((n = mproc__frame_next(in.data + off, in.len - off, &h,
                                      &payload, &need)) > 0) {
            off += n;
            if (h.type == MPROC__FRAME_TASK)
                run_task(a, &ctx, &out, h.index, payload, (size_t)h.len);
        }
        /* Keep the partial frame, at the front, and read more. */
        if (off > 0) {
            memmove(in.data, in.data + off, in.len - off);
            in.len -= off;
            off = 0;
        }
        if (in.len == 0)
            mproc__buf_reset(&in);
        need = need > in.len + READ_CHUNK ? need - in.len : READ_CHUNK;
        if (mproc_buf_reserve(&in, need) != MPROC_TASK_OK)
            _exit(71);
        got = read(a->task_fd, in.data + in.len, in.cap - in.len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            _exit(72);
        if (got == 0)
            worker_exit(a, &ctx, 0); /* the host has no more tasks */
        in.len += (size_t)got;
    }
}

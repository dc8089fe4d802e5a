/* SPDX-License-Identifier: MIT */
/*
 * mproc: Pipe, a pair of connected ends that carry whole messages
 * (Python's multiprocessing.Pipe and its Connection objects).
 *
 * mproc_pipe_new() returns two ends.  Duplex (the default): each end can
 * send and receive.  One-way: the first end only receives and the second
 * only sends.  Create the Pipe before fork(); then each process frees the
 * end it does not use (as with a pipe(2)), so that the death or close of
 * the other process is seen: a receive then returns MPROC_EPIPE once the
 * messages sent before are read, and a send returns MPROC_EPIPE (pipe at
 * once; mq and shmring at the latest when the transport is full).
 *
 * Backends as for Queue (<mproc/queue.h>): "pipe" (default), "mq",
 * "shmring".  Timeouts in milliseconds: -1 for ever, 0 only tries; a send
 * that has started is always finished.
 *
 * Sharing an end: any number of processes (an end inherited by fork) and
 * of threads may send on the same end at once, and receive from it at
 * once, on every backend: senders take turns under a lock in shared
 * memory, and so do receivers, so each message arrives whole and once.
 * mproc_pipe_errmsg() is per end: with several threads it may hold
 * another thread's message.  A process killed in the middle of a message
 * breaks that direction as a Queue is broken (<mproc/queue.h>: every
 * later call returns MPROC_EPIPE saying "broken"); one killed while it
 * waits breaks nothing.
 *
 * Signals: a send, receive or poll waiting when a signal handler
 * installed without SA_RESTART runs returns MPROC_EINTR at once, before
 * any byte of a message moved (SA_RESTART handlers: it goes on waiting).
 * Limit: as for a Queue (queue.h), a handler that runs between two of the
 * wait's sleeps is not seen.
 *
 * A NULL handle is refused, never dereferenced: MPROC_EINVAL from a call
 * that returns an error code, 0/false/NULL from one that does not, no-op
 * for the frees (the rule in <mproc/error.h>).
 */
#ifndef MPROC_PIPE_H
#define MPROC_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One end of a Pipe (opaque). */
typedef struct mproc_pipe mproc_pipe_t;

/** Options of mproc_pipe_new().  Fill with mproc_pipe_opts_init(). */
struct mproc_pipe_opts {
    const char *backend; /**< "pipe" (default), "mq" or "shmring" */
    bool duplex;         /**< both ends send and receive (default true) */
    size_t message_max;  /**< largest message in bytes; 0: 64 MiB */
    size_t capacity;     /**< transport buffer per direction; 0: default */
};

/** Defaults: backend "pipe", duplex, 64 MiB messages. */
MPROC_API void mproc_pipe_opts_init(struct mproc_pipe_opts *o);

/**
 * Create a Pipe: *end1 and *end2.  `o` may be NULL (defaults).  One-way:
 * *end1 receives what *end2 sends.
 * @return 0; MPROC_EINVAL (unknown backend: the message lists them);
 *         MPROC_ENOMEM; a system error.  The message is in err.
 */
MPROC_API int mproc_pipe_new(mproc_pipe_t **end1, mproc_pipe_t **end2,
                             const struct mproc_pipe_opts *o,
                             mproc_err_t *err);

/**
 * Send a copy of `len` bytes at `data` to the other end.
 * @return 0; MPROC_ETIMEDOUT (the transport stayed full); MPROC_EMSGSIZE
 *         (len > message_max, the message names the limit); MPROC_EPIPE
 *         (the other end is closed or its process died, or the direction
 *         is broken); MPROC_ECLOSED (this end is closed, or receive-only);
 *         MPROC_EINTR (a signal, above: nothing was sent).
 */
MPROC_API int mproc_pipe_send(mproc_pipe_t *p, const void *data, size_t len,
                              int timeout_ms);

/**
 * Receive the next message into `buf` (`cap` bytes); *len gets its size.
 * @return 0; MPROC_ETIMEDOUT; MPROC_ERANGE when it is larger than cap:
 *         *len is the size needed and the message stays for the next
 *         receive (Python's BufferTooShort); MPROC_EPIPE at the end (the
 *         other end is closed or died, and everything it sent was read; a
 *         message cut short by a death is also MPROC_EPIPE); MPROC_ECLOSED
 *         (this end is closed, or send-only); MPROC_EINTR (a signal,
 *         above: nothing was taken).
 */
MPROC_API int mproc_pipe_recv(mproc_pipe_t *p, void *buf, size_t cap,
                              size_t *len, int timeout_ms);

/**
 * Wait until a message can be received, or the end of the stream is
 * reached (a receive would then return MPROC_EPIPE).  Poll consumes
 * nothing, whoever polls: it looks at the transport without reading from
 * it, so the message stays for whichever process receives it.  Ready
 * means that a message has begun to arrive (its sender always finishes
 * it) or that this process holds one kept by MPROC_ERANGE; when several
 * processes receive on the end, another may take it first.
 * @return 1 ready; 0 not within the timeout; MPROC_ECLOSED (closed, or
 *         send-only); MPROC_EINTR (a signal, above); an error.
 */
MPROC_API int mproc_pipe_poll(mproc_pipe_t *p, int timeout_ms);

/**
 * A descriptor for mproc_wait() (or poll(2) with POLLIN): it becomes
 * readable when mproc_pipe_poll() would return 1: a message waits in the
 * transport, or the other end is closed or dead (a hang-up).  Per
 * backend: "pipe" is the pipe itself; "mq" an epoll descriptor over the
 * message queue and a pipe that hangs up with the sender; "shmring" an
 * epoll descriptor over a doorbell that the sender rings.  Spurious
 * readiness is possible (follow with poll or a receive with a timeout).
 * Call this again before each wait ("shmring" arms its doorbell here);
 * the number stays the same while the end is open.  The descriptor
 * belongs to the end: do not close it.
 * @return the descriptor; MPROC_ECLOSED (closed, or send-only); a
 *         system error.
 */
MPROC_API int mproc_pipe_fileno(mproc_pipe_t *p);

/**
 * Close this end: the other end sees the end of the stream.  Later calls
 * on it return MPROC_ECLOSED.  Returns 0 (MPROC_ECLOSED when closed
 * already).
 */
MPROC_API int mproc_pipe_close(mproc_pipe_t *p);

/** Close (if needed) and release the end.  NULL: no-op. */
MPROC_API void mproc_pipe_free(mproc_pipe_t *p);

/** The message of the last failure on this end (borrowed). */
MPROC_API const char *mproc_pipe_errmsg(const mproc_pipe_t *p);

/** The backend's name (static string). */
MPROC_API const char *mproc_pipe_backend(const mproc_pipe_t *p);

/** This end can send / receive (not closed, right direction). */
MPROC_API bool mproc_pipe_can_send(const mproc_pipe_t *p);
MPROC_API bool mproc_pipe_can_recv(const mproc_pipe_t *p);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_PIPE_H */

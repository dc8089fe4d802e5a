/* SPDX-License-Identifier: MIT */
/*
 * mproc: Queue, a FIFO of messages shared by many processes (Python's
 * multiprocessing.Queue).
 *
 * A message is a byte string of 0 ... message_max bytes; it is copied in
 * by put and out by get, and arrives whole or not at all.  Any number of
 * processes may put and get at the same time: create the Queue before
 * fork(), and the children inherit it (the same mproc_queue_t pointer is
 * valid in every process of the family).  Messages from one producer come
 * out in the order it put them.
 *
 * The transport is a backend chosen by name at run time:
 *   "pipe"     a pipe (the default);
 *   "mq"       a POSIX message queue (named, unlinked at once: nothing is
 *              left in /dev/mqueue; larger messages than the system's
 *              msgsize_max are split and reassembled);
 *   "shmring"  a ring buffer in shared memory with no name (memfd), with
 *              a short spin before sleeping on a futex.
 *
 * Timeouts are in milliseconds: -1 waits for ever, 0 only tries.  Both a
 * try that finds nothing (Python's Empty/Full) and a timeout that expires
 * return MPROC_ETIMEDOUT.
 *
 * A put waits for room when maxsize messages are queued and when the
 * transport's buffer is full (Python's feeder thread would buffer
 * instead): the timeout bounds the wait until the message starts to go
 * out; a message that has started is always finished.
 *
 * Not thread-safe: use one handle per thread, or lock around it.
 */
#ifndef MPROC_QUEUE_H
#define MPROC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A Queue (opaque). */
typedef struct mproc_queue mproc_queue_t;

/** Options of mproc_queue_new().  Fill with mproc_queue_opts_init(). */
struct mproc_queue_opts {
    const char *backend;  /**< "pipe" (default), "mq" or "shmring" */
    size_t maxsize;       /**< messages queued at most; 0: no limit */
    size_t message_max;   /**< largest message in bytes; 0: 64 MiB */
    size_t capacity;      /**< transport buffer in bytes; 0: backend's */
};

/** Defaults: backend "pipe", no maxsize, 64 MiB messages. */
MPROC_API void mproc_queue_opts_init(struct mproc_queue_opts *o);

/**
 * Create a Queue.  `o` may be NULL (defaults).
 * @return 0 and *out; MPROC_EINVAL for an unknown backend (the message
 *         lists them) or a bad option; MPROC_ENOMEM; a system error (for
 *         "mq": MPROC_ENOSPC, MPROC_EMFILE when the user's limits are
 *         spent).  The message is in err.
 */
MPROC_API int mproc_queue_new(mproc_queue_t **out,
                              const struct mproc_queue_opts *o,
                              mproc_err_t *err);

/**
 * Put a copy of `len` bytes at `data`.
 * @return 0; MPROC_ETIMEDOUT when the Queue is full (maxsize) or its
 *         transport is, for the whole timeout; MPROC_EMSGSIZE when len >
 *         message_max (the message names the limit); MPROC_ECLOSED after
 *         mproc_queue_close(); MPROC_EPIPE when the Queue is broken (a
 *         process died in the middle of a message).
 */
MPROC_API int mproc_queue_put(mproc_queue_t *q, const void *data, size_t len,
                              int timeout_ms);

/**
 * Take the oldest message into `buf` (`cap` bytes); *len gets its size.
 * @return 0; MPROC_ETIMEDOUT when nothing came in time; MPROC_ERANGE when
 *         the message is larger than cap: *len is then the size needed and
 *         the message is kept for this process's next get (Python's
 *         BufferTooShort); MPROC_ECLOSED; MPROC_EPIPE (broken, as above).
 */
MPROC_API int mproc_queue_get(mproc_queue_t *q, void *buf, size_t cap,
                              size_t *len, int timeout_ms);

/** Messages put and not yet got (approximate while others work on it). */
MPROC_API ssize_t mproc_queue_qsize(const mproc_queue_t *q);
/** No message is queued (approximate, as qsize). */
MPROC_API bool mproc_queue_empty(const mproc_queue_t *q);
/** maxsize messages are queued (never true without maxsize). */
MPROC_API bool mproc_queue_full(const mproc_queue_t *q);

/**
 * This process will put and get no more: later calls on this handle
 * return MPROC_ECLOSED.  Other processes' handles keep working.  Returns 0
 * (MPROC_ECLOSED when closed already).
 */
MPROC_API int mproc_queue_close(mproc_queue_t *q);

/** Release this process's handle (after close or not).  NULL: no-op. */
MPROC_API void mproc_queue_free(mproc_queue_t *q);

/** The message of the last failure on this handle (borrowed). */
MPROC_API const char *mproc_queue_errmsg(const mproc_queue_t *q);

/** The backend's name (static string). */
MPROC_API const char *mproc_queue_backend(const mproc_queue_t *q);

/** The names of the IPC backends, NULL-terminated (static). */
MPROC_API const char *const *mproc_ipc_backends(void);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_QUEUE_H */

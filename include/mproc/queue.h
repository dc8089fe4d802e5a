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
 * Timeouts are in milliseconds: -1 (any negative value) waits for ever,
 * 0 only tries.  Both a
 * try that finds nothing (Python's Empty/Full) and a timeout that expires
 * return MPROC_ETIMEDOUT.
 *
 * A put waits for room when maxsize messages are queued and when the
 * transport's buffer is full (Python's feeder thread would buffer
 * instead): the timeout bounds the wait until the message starts to go
 * out; a message that has started is always finished.  Likewise a get
 * that has begun to receive a message waits for the rest of it while its
 * producer lives.
 *
 * Processes and threads: any number of processes and of threads in each
 * may put and get on the same handle at once, on every backend (producers
 * take turns under a writer lock and consumers under a reader lock, both
 * in shared memory).  mproc_queue_errmsg() is per handle: with several
 * threads it may hold another thread's message.
 *
 * Deaths: a process killed while it waits, or between two messages,
 * breaks nothing and holds no slot of maxsize.  One killed in the middle
 * of a message (a producer that wrote part of it, a consumer that read
 * part of it) cuts the stream, which cannot be resynchronised: the Queue
 * is then broken, and every later put and get of every process returns
 * MPROC_EPIPE with a message saying so (a consumer killed holding a whole
 * message loses that one message only).  A death in the few instructions
 * around the system call that moves a message may also be judged as
 * "broken".  Never a hang, never a spliced message.
 *
 * Signals: a put or get waiting (for the locks, for room, for a message)
 * when a signal handler installed without SA_RESTART runs returns
 * MPROC_EINTR at once (so a program can stop on Ctrl-C); with SA_RESTART
 * handlers only (signal(3)'s default) it goes on waiting.  A message that
 * has begun to move is finished first.  On pipe and mq, a wait for a
 * message or for room in the transport sleeps in poll() until the
 * message, the peer's end or the timeout, and signals that come while it
 * is between two sleeps are held and let in atomically at the next one,
 * so once asleep it sees every signal (one handled just before it sleeps
 * is not seen, as with any blocking system call).  Limit: shmring's waits
 * sleep on a futex in slices of about 0.5 s (to see a peer killed without
 * closing), and waits for a bounded Queue's room or another process's
 * turn (the locks) in 50 ms slices; signals between slices are held and
 * seen, but one that comes as a slice times out (the same moment, give or
 * take the scheduler's delay: a busy machine) runs its handler unseen.
 *
 * A NULL handle is refused, never dereferenced: MPROC_EINVAL from a call
 * that returns an error code, 0/false/NULL from one that does not, no-op
 * for the frees (the rule in <mproc/error.h>).
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
 *         process died in the middle of a message); MPROC_EINTR (a signal,
 *         above: nothing was put).
 */
MPROC_API int mproc_queue_put(mproc_queue_t *q, const void *data, size_t len,
                              int timeout_ms);

/**
 * Take the oldest message into `buf` (`cap` bytes); *len gets its size.
 * @return 0; MPROC_ETIMEDOUT when nothing came in time; MPROC_ERANGE when
 *         the message is larger than cap: *len is then the size needed and
 *         the message is kept for this process's next get (Python's
 *         BufferTooShort; it has left the Queue: qsize no longer counts
 *         it, and it is lost if this process ends first); MPROC_ECLOSED; MPROC_EPIPE (broken, as above);
 *         MPROC_EINTR (a signal, above: nothing was taken).
 */
MPROC_API int mproc_queue_get(mproc_queue_t *q, void *buf, size_t cap,
                              size_t *len, int timeout_ms);

/**
 * A descriptor for mproc_wait() (or poll(2) with POLLIN): it becomes
 * readable when a get may find a message.  Readiness means bytes wait in
 * the transport ("pipe": the pipe has data; "mq": the message queue has
 * a chunk; "shmring": the ring has bytes, rung through a doorbell);
 * another consumer may take the message first, so a get after it may
 * still wait: use a timeout.  Spurious readiness is possible.  A message
 * kept by MPROC_ERANGE is not shown: get it again directly.  Call this
 * again before each wait ("shmring" arms its doorbell here); the number
 * stays the same while the handle lives.  The descriptor belongs to the
 * handle: do not close it.
 * @return the descriptor; MPROC_ECLOSED; a system error.
 */
MPROC_API int mproc_queue_fileno(mproc_queue_t *q);

/** Messages put and not yet got (approximate while others work on it;
 *  a message being received counts until it is whole in the receiver). */
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

/* ---- JoinableQueue and SimpleQueue ---- */

/**
 * Create a JoinableQueue (Python's multiprocessing.JoinableQueue): a
 * Queue, with every call above, that also counts unfinished tasks.  Each
 * put adds one task; each mproc_queue_task_done() of a consumer, after it
 * has handled a message it got, takes one away; mproc_queue_join() waits
 * until the count is zero.  Forked children inherit it as a Queue; new
 * images get it through mproc_process_pass().
 *
 * Deaths: a consumer killed between its get and its task_done never
 * calls task_done, so the count stays above zero for good: join then
 * returns MPROC_ETIMEDOUT when its timeout expires (and with -1 would
 * wait for ever, as Python's does: give join a finite timeout whenever
 * a consumer can die).  mproc_queue_unfinished() tells how many are
 * missing.
 * @return as mproc_queue_new(); also a system error for the shared count.
 */
MPROC_API int mproc_joinable_queue_new(mproc_queue_t **out,
                                       const struct mproc_queue_opts *o,
                                       mproc_err_t *err);

/**
 * One task of a JoinableQueue is done.  Works after mproc_queue_close()
 * too (the count is not the transport).
 * @return 0; MPROC_EINVAL when called more times than items were put
 *         (Python's ValueError: the count is left at zero) or when q is
 *         not a JoinableQueue.  See mproc_queue_errmsg().
 */
MPROC_API int mproc_queue_task_done(mproc_queue_t *q);

/**
 * Wait until every item put has been task_done (at most timeout_ms; -1:
 * no limit, 0: only look).
 * @return 0; MPROC_ETIMEDOUT (the message says how many remain);
 *         MPROC_EINTR (a signal, as get); MPROC_EINVAL when q is not a
 *         JoinableQueue.
 */
MPROC_API int mproc_queue_join(mproc_queue_t *q, int timeout_ms);

/** Tasks put and not yet task_done; MPROC_EINVAL when q is not a
 *  JoinableQueue. */
MPROC_API ssize_t mproc_queue_unfinished(const mproc_queue_t *q);

/** Whether q was made by mproc_joinable_queue_new(). */
MPROC_API bool mproc_queue_is_joinable(const mproc_queue_t *q);

/**
 * Create a SimpleQueue (Python's multiprocessing.SimpleQueue): a Queue on
 * `backend` (NULL: "pipe") with no maxsize and the default message size;
 * use put, get, empty, close and free on it (the other calls work too).
 * @return as mproc_queue_new().
 */
MPROC_API int mproc_simple_queue_new(mproc_queue_t **out,
                                     const char *backend, mproc_err_t *err);

/** The backend's name (static string). */
MPROC_API const char *mproc_queue_backend(const mproc_queue_t *q);

/** The names of the IPC backends, NULL-terminated (static). */
MPROC_API const char *const *mproc_ipc_backends(void);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_QUEUE_H */

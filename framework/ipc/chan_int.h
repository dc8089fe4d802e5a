/* SPDX-License-Identifier: MIT */
/*
 * Channels: one interface over the IPC backends ("pipe", "mq", "shmring").
 *
 * A channel moves whole messages (0 ... message_max bytes) in one
 * direction, from a writer side (WR) to a reader side (RD).  Both sides are
 * created together in one process; a fork() copies the handle, and each
 * process then closes the side it does not use (mproc__chan_close_side).
 * A side can also be exported as a few fds and a small blob, and imported
 * by a freshly exec'd image.  Backends move bytes; this layer (ipc.c) adds
 * the framing (an 8-byte header per message), batching, the deadline
 * logic, message_max and the "buffer too short" rule, so each backend stays
 * small.
 *
 * ==== Integration contract (for the pool) ====
 *
 * Creation and inheritance.  The host creates two channels per worker
 * before forking it: `task` (host -> worker) and `result` (worker -> host),
 * with mproc__chan_open(&ch, backend, &opts, &err).  In the child:
 * mproc__chan_close_side(task, WR), mproc__chan_close_side(result, RD), and
 * mproc__chan_free() of every other worker's channels that were inherited
 * (otherwise a dead peer is only noticed once those copies are gone too).
 * In the host: close_side(task, RD), close_side(result, WR).  A side that is
 * closed cleanly is seen by the peer at once (EPIPE after the data is
 * drained); a side whose process dies is seen when the peer would wait
 * (pipe, mq: at once through a pipe's hang-up; shmring: at once in poll()
 * mode, within MPROC__CHAN_SLICE_MS when sleeping on the futex).
 *
 * Spawn (exec'd worker).  mproc__chan_export(ch, side, fds, &nfds, blob,
 * &len) lists at most MPROC__CHAN_MAX_FDS fds (borrowed) and at most
 * MPROC__CHAN_BLOB_MAX bytes.  posix_spawn the worker with those fds
 * dup2'd onto known numbers (spawn file actions; dup2 clears CLOEXEC) and
 * the blob hex-encoded in argv or the environment (mproc__chan_hex_encode),
 * then close_side() that side in the host.  The worker calls
 * mproc__chan_import(&ch, fds, nfds, blob, len, &err) with the new numbers
 * in the same order; the handle owns those fds from then on.
 *
 * Host event loop (single thread, poll()).
 *   - Sending tasks: mproc__chan_send(task, buf, len, MPROC__CHAN_MORE, 0)
 *     never blocks: the message is appended to the channel's out-buffer
 *     (flushed opportunistically, without blocking, once it holds
 *     MPROC__CHAN_BATCH bytes).  At the end of a loop iteration call
 *     mproc__chan_flush(task, 0): 0 when everything went out, MPROC_EAGAIN
 *     when bytes remain (then poll the WR side for writability, below),
 *     MPROC_EPIPE when the worker's side is gone.
 *   - Receiving results: mproc__chan_peek(result, &p, &len, 0) returns 0
 *     and a view of the next whole message (valid until
 *     mproc__chan_consume()), MPROC_EAGAIN when no whole message is there
 *     yet, MPROC_EPIPE when the worker's side is gone and everything it
 *     sent was read (mid-message: also EPIPE, the message says so).  Loop
 *     peek/consume until EAGAIN; a burst of results costs one read.
 *   - Before poll(): for each channel side it waits on, call
 *     mproc__chan_poll_prepare(ch, side, &pfd).  It returns 1 when the side
 *     is ready already (a whole message buffered, or nothing to flush: do
 *     not sleep, use timeout 0), 0 when pfd (fd, events) should be polled,
 *     or an error.  Any revents (POLLIN, POLLOUT, POLLHUP, POLLERR) means
 *     "call peek/flush again"; spurious wake-ups are harmless.  The fd of a
 *     side is stable (mproc__chan_fd) so it can stay in the pollfd array.
 *     shmring: the RD fd is a "doorbell" pipe that the writer rings only
 *     while the reader is armed (asleep in poll), so a busy stream costs no
 *     system call; prepare must be called before each poll to arm it.
 *   - Worker death: the pidfd tells the pool; the channels then report
 *     EPIPE.  Free both channels of a dead worker before starting the next.
 *
 * Worker side (blocking): mproc__chan_recv()/peek() with timeout -1 and
 * mproc__chan_send(result, ..., 0, -1) (or MPROC__CHAN_MORE + a flush once
 * the worker has no further task buffered: mproc__chan_has_message()).
 *
 * Timeouts are in milliseconds: -1 waits for ever, 0 never waits.  A
 * message that has started to go out is always finished (a timeout only
 * bounds the wait before its first byte is accepted), so a stream is never
 * left with half a message.  A message of at most lim.chunk bytes with its
 * header goes out all or nothing, so a timeout there is exact.  Not
 * thread-safe: one thread per handle.
 */
#ifndef MPROC_CHAN_INT_H
#define MPROC_CHAN_INT_H

#include <poll.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include <mproc/error.h>

/* pwritev2() flag (Linux 6.16): fail with EPIPE without raising SIGPIPE.
 * Older kernels refuse unknown flags with EOPNOTSUPP. */
#ifndef RWF_NOSIGNAL
#define RWF_NOSIGNAL 0x00000100
#endif

#define MPROC_IPC_OPS_ABI 1

/* Sides of a channel, also used as a bit mask. */
#define MPROC__CHAN_RD 1u
#define MPROC__CHAN_WR 2u

/* mproc__chan_opts.flags */
/* Many processes read (a Queue): reads stop exactly at message ends, so
 * no reader takes bytes of a message that another reader will get.
 * Writers must then send one whole message at a time (no MORE). */
#define MPROC__CHAN_SHARED 1u
/* A wait ended by a signal handler installed without SA_RESTART returns
 * MPROC_EINTR, as long as no byte of the current message has moved (a
 * message that has begun is finished first).  For the user's objects; the
 * pool's channels keep retrying. */
#define MPROC__CHAN_EINTR 2u

/* mproc__chan_send() flags */
/* Append to the out-buffer and return: more messages follow, the caller
 * flushes.  Never blocks. */
#define MPROC__CHAN_MORE 1u

#define MPROC__CHAN_MESSAGE_MAX_DEFAULT ((size_t)64 << 20)
/* Frames carry 32-bit lengths. */
#define MPROC__CHAN_MESSAGE_MAX_LIMIT ((size_t)INT32_MAX - 64)
/* Out-buffer size at which a MORE send tries to write. */
#define MPROC__CHAN_BATCH ((size_t)64 << 10)
/* A sleeping side looks for its peer's death this often (futex sleeps). */
#define MPROC__CHAN_SLICE_MS 50
#define MPROC__CHAN_MAX_FDS 4
#define MPROC__CHAN_BLOB_MAX 128

struct mproc__chan_opts {
    size_t message_max; /* 0: MPROC__CHAN_MESSAGE_MAX_DEFAULT */
    size_t capacity;    /* bytes the transport buffers; 0: its default */
    unsigned flags;     /* MPROC__CHAN_SHARED, MPROC__CHAN_EINTR */
    /* How many channels the caller opens together (a pool: 2 per
     * worker).  mq: so that all of them fit the user's RLIMIT_MSGQUEUE
     * budget from the start (0: unknown, size for
     * MPROC__MQ_GROUP_DEFAULT).  shmring: a large group gets smaller
     * rings when capacity is 0 (0: one ring of the default size). */
    unsigned group;
    /* shmring: take the ring from this segment of the group's rings
     * (mproc__shmring_arena_new) while it has room; NULL: a segment of
     * its own.  Other backends ignore it. */
    struct mproc__ring_arena *arena;
};
/* Queues per user that a queue of unknown group is sized to share the
 * RLIMIT_MSGQUEUE budget with (a pool of 16 workers has 32, plus room for
 * a few Queues and a second run). */
#define MPROC__MQ_GROUP_DEFAULT 64u

/* What a channel can do, once open. */
struct mproc__chan_limits {
    size_t message_max; /* largest payload */
    size_t capacity;    /* bytes in flight before a writer waits */
    size_t chunk;       /* largest piece moved all or nothing (pipe:
                           PIPE_BUF, mq: msgsize, shmring: the ring) */
    long mq_maxmsg;     /* mq: messages in the queue, else 0 */
};

/* The framing: every message is preceded by this, native byte order.
 * `check` = len ^ MPROC__CHAN_HDR_MAGIC catches a desynchronised stream. */
struct mproc__chan_hdr {
    uint32_t len;
    uint32_t check;
};
#define MPROC__CHAN_HDR_MAGIC 0x4d505243u /* "MPRC" */

struct mproc_chan;

/*
 * A backend moves bytes without blocking and waits for readiness.
 *   open:   create both sides; fill ch->lim.  Returns 0 or an error (with
 *           a message in err).  On failure nothing is left to clean up.
 *   write:  move some bytes of iov: >0 bytes taken, -EAGAIN no room,
 *           -EPIPE no reader left, other -errno.
 *   read:   >0 bytes, 0 end of stream (no writer left and nothing
 *           buffered), -EAGAIN nothing now, other -errno.  Backends with
 *           MPROC__IPC_CHUNKED need len >= lim.chunk.
 *   wait:   sleep until `side` may be ready, the peer is gone, or the
 *           absolute CLOCK_MONOTONIC deadline (NULL: none; a past one
 *           means "look, do not sleep"): 0 (try again) or MPROC_ETIMEDOUT.
 *           With MPROC__CHAN_EINTR in ch->flags, also MPROC_EINTR when
 *           a signal handler without SA_RESTART ran (mproc__signal_interrupts).
 *   pollfd: the fd and events to poll() for `side`, arming any doorbell;
 *           -EAGAIN when the side is ready already (do not sleep).
 *   pending: RD side, without taking anything: 1 when bytes wait in the
 *           transport, 0 when none, -EPIPE when none and no writer is
 *           left.  Any process may ask (poll must not consume).
 *   wait_fd: RD side: an fd that polls readable (POLLIN or a hang-up)
 *           when pending() may have changed, for mproc_wait(); arms any
 *           doorbell, so call it before each wait.  Stable while the side
 *           is open; owned by the handle.  <0: -errno.
 *   fd:     the stable fd pollfd() returns, or -1 when the side is closed.
 *   close_side: release this process's resources of one side.
 *   export/import: see mproc__chan_export().  Optional: NULL = cannot.
 *   read_block/write_block: optional (NULL: none): as read/write, but
 *           sleep in the system call until some bytes move or the peer is
 *           gone, so a wait costs one call instead of a failed try, a
 *           poll() and a second try.  -EINTR when a signal handler ran;
 *           -EAGAIN when they cannot block after all (the caller then
 *           waits with wait()).  Used without a deadline only.
 *   glance: optional (NULL: none): RD side, whether bytes wait, from
 *           shared memory only (no system call, no word of the peer's
 *           end): for a reader that spins.
 *   nofork: optional (NULL: nothing to do): children forked from now on
 *           need nothing of this handle; see mproc__chan_nofork().
 */
struct mproc_ipc_ops {
    const char *name;
    unsigned abi;       /* MPROC_IPC_OPS_ABI */
    size_t priv_size;   /* bytes of ch->priv */
    unsigned flags;
#define MPROC__IPC_CHUNKED 1u    /* reads return whole chunks (mq) */
#define MPROC__IPC_EOF_READ 2u   /* read() reports the writer's end itself,
                                    so a zero-timeout read needs no wait() */
#define MPROC__IPC_MEMCPY 4u     /* write() is a copy into memory, no system
                                    call: every message goes straight from
                                    the caller's buffer (no out-buffer) */
    int (*open)(struct mproc_chan *ch, const struct mproc__chan_opts *o,
                mproc_err_t *err);
    ssize_t (*write)(struct mproc_chan *ch, const struct iovec *iov,
                     int iovcnt);
    ssize_t (*read)(struct mproc_chan *ch, void *buf, size_t len);
    int (*wait)(struct mproc_chan *ch, unsigned side,
                const struct timespec *deadline);
    int (*pollfd)(struct mproc_chan *ch, unsigned side, short *events);
    int (*pending)(struct mproc_chan *ch);
    int (*wait_fd)(struct mproc_chan *ch);
    int (*fd)(const struct mproc_chan *ch, unsigned side);
    void (*close_side)(struct mproc_chan *ch, unsigned side);
    int (*export_side)(const struct mproc_chan *ch, unsigned side, int *fds,
                       size_t *nfds, void *blob, size_t *len);
    int (*import_side)(struct mproc_chan *ch, unsigned side, const int *fds,
                       size_t nfds, const void *blob, size_t len,
                       mproc_err_t *err);
    ssize_t (*read_block)(struct mproc_chan *ch, void *buf, size_t len);
    ssize_t (*write_block)(struct mproc_chan *ch, const struct iovec *iov,
                           int iovcnt);
    bool (*glance)(struct mproc_chan *ch);
    void (*nofork)(struct mproc_chan *ch);
};

extern const struct mproc_ipc_ops mproc__ipc_pipe_ops;
extern const struct mproc_ipc_ops mproc__ipc_mq_ops;
extern const struct mproc_ipc_ops mproc__ipc_shmring_ops;

/* The process-local handle.  Backends use lim, sides and priv only. */
struct mproc_chan {
    const struct mproc_ipc_ops *ops;
    unsigned backend;  /* index in the table */
    unsigned sides;    /* MPROC__CHAN_RD | MPROC__CHAN_WR held here */
    unsigned flags;    /* MPROC__CHAN_SHARED */
    struct mproc__chan_limits lim;
    /* out-buffer: bytes [ob_off, ob_len) still to write */
    char *ob;
    size_t ob_off, ob_len, ob_cap;
    /* in-buffer: bytes [ib_start, ib_end) read, not consumed */
    char *ib;
    size_t ib_start, ib_end, ib_cap;
    bool peeked;       /* a whole message at ib_start was handed out */
    /* Optional shared words (a Queue's or a Pipe's, see lchan.c): this
     * thread's id (mproc__chan_self) is stored there before the first byte of a message
     * that may move in more than one piece is written (wpart), and before
     * the first byte of a message is read (rpart; taken back when the read
     * finds nothing).  The owner of the words clears them once the message
     * is whole at the other end or in this process. */
    _Atomic int32_t *wpart, *rpart;
    /* Optional: non-zero once the owner knows the stream is dead (a
     * broken Queue): a send finishing a message stops waiting then. */
    _Atomic uint32_t *abort;
    /* Optional: asked each few slices of such a wait, and of a send
     * without deadline: true when the owner judges the stream dead from
     * the other side's state (a receiver that died in the middle of a
     * message, which no other receiver may ever come to notice). */
    bool (*abort_judge)(void *arg);
    void *abort_arg;
    char errmsg[MPROC_ERRMSG_MAX];
    alignas(64) unsigned char priv[];
};

/* ---- the channel API (ipc.c) ---- */

/* This thread's id (gettid), cached and right after fork().  Locked
 * channels are held by threads: a thread that ends holding one is as
 * dead as a process. */
int32_t mproc__chan_self(void);

/* The backend table index of `name`, or -1. */
int mproc__ipc_index(const char *name);
const struct mproc_ipc_ops *mproc__ipc_ops(unsigned index);
/* "pipe, mq, shmring", for messages. */
const char *mproc__ipc_names(void);

/* Create both sides.  o may be NULL (defaults).  0, MPROC_EINVAL (unknown
 * backend, bad option: the message lists the backends / names the limit),
 * MPROC_ENOMEM, or a system error; the message is in err. */
int mproc__chan_open(struct mproc_chan **out, const char *backend,
                     const struct mproc__chan_opts *o, mproc_err_t *err);

/* Close one side in this process; the handle is freed with the last. */
void mproc__chan_close_side(struct mproc_chan *ch, unsigned side);
/* Close every side held here.  NULL is a no-op. */
void mproc__chan_free(struct mproc_chan *ch);
/* No child forked from now on uses this handle, except to free it (it
 * then only closes its descriptors), and it is not exported again: what
 * the handle maps is left out of their copies (shmring's segment,
 * MADV_DONTFORK), and what only export needs is closed (its memfd, listed
 * as -1 from then on).  For the pool's host
 * sides once their worker runs: a fork copies every mapping, and a host
 * of 1000 workers made each start copy, and each new worker unmap, the
 * 2000 rings of the others.  NULL is a no-op. */
void mproc__chan_nofork(struct mproc_chan *ch);

/* Send one message.  flags: MPROC__CHAN_MORE.  0; MPROC_EAGAIN (timeout
 * 0) or MPROC_ETIMEDOUT: nothing of it was sent; MPROC_EMSGSIZE: len >
 * message_max (the message names the limit); MPROC_EPIPE: no reader;
 * MPROC_ECLOSED: this side is not held here. */
int mproc__chan_send(struct mproc_chan *ch, const void *buf, size_t len,
                     unsigned flags, int timeout_ms);
/* Write what the out-buffer holds: 0 (empty), MPROC_EAGAIN/ETIMEDOUT
 * (bytes remain), MPROC_EPIPE. */
int mproc__chan_flush(struct mproc_chan *ch, int timeout_ms);
/* Bytes waiting in the out-buffer. */
size_t mproc__chan_unflushed(const struct mproc_chan *ch);

/* A view of the next whole message, valid until consume (or the next call
 * on the RD side).  0; MPROC_EAGAIN/ETIMEDOUT; MPROC_EPIPE (end: the writer
 * is gone; also mid-message, the message says so); MPROC_EIO (the stream is
 * corrupt); MPROC_ENOMEM. */
int mproc__chan_peek(struct mproc_chan *ch, const void **msg, size_t *len,
                     int timeout_ms);
/* The same, waiting until an absolute CLOCK_MONOTONIC time (NULL: no
 * limit): the end of a wait slice (mproc__sync_slice_of()). */
int mproc__chan_peek_until(struct mproc_chan *ch, const void **msg,
                           size_t *len, const struct timespec *until);
/* Drop the message peek returned. */
void mproc__chan_consume(struct mproc_chan *ch);
/* peek + copy + consume.  MPROC_ERANGE when the message is larger than
 * cap: *len is then the size needed and the message stays for the next
 * call (Python's BufferTooShort).  Else as peek. */
int mproc__chan_recv(struct mproc_chan *ch, void *buf, size_t cap,
                     size_t *len, int timeout_ms);
/* A whole message is buffered here (peek with timeout 0 would not read). */
bool mproc__chan_has_message(const struct mproc_chan *ch);
/* For a reader that spins: false only when surely nothing is there to
 * read now (a look at shared memory where the backend can; else true,
 * and a zero-timeout peek finds out).  Not the peer's end. */
bool mproc__chan_glance(struct mproc_chan *ch);
/* Wait, as a blocking read would (the backend's spin, then its sleep),
 * until something may be there to read or the writer may be gone,
 * without taking it: 0, or MPROC_ETIMEDOUT at `deadline` (absolute,
 * CLOCK_MONOTONIC); with `intr`, also MPROC_EINTR as MPROC__CHAN_EINTR
 * says.  A zero-timeout peek says what there is. */
int mproc__chan_await(struct mproc_chan *ch, const struct timespec *deadline,
                      bool intr);
/* Part of a message is buffered here (a shared reader must finish it). */
bool mproc__chan_in_partial(const struct mproc_chan *ch);
/* Forget the part of a message buffered here (a copy inherited by fork
 * from a thread that was reading it: the rest is that thread's). */
void mproc__chan_drop_partial(struct mproc_chan *ch);
/* Drop what the in-buffer holds, a whole message too (a copy a fork()
 * made of another process's: lchan.c). */
void mproc__chan_drop_message(struct mproc_chan *ch);

/* RD side, consuming nothing, whoever asks: 1 when a whole message is
 * buffered here or bytes wait in the transport or the end is reached (a
 * peek would not wait, or only for the rest of a message being written);
 * 0 when the timeout passed first; MPROC_EINTR; another error. */
int mproc__chan_readable(struct mproc_chan *ch, int timeout_ms);
/* RD side: see wait_fd above.  The fd or an error (message in ch). */
int mproc__chan_wait_fd(struct mproc_chan *ch);
/* The largest message (payload) that moves all or nothing. */
size_t mproc__chan_atomic_max(const struct mproc_chan *ch);

/* See the contract above.  1 ready, 0 poll pfd, <0 error. */
int mproc__chan_poll_prepare(struct mproc_chan *ch, unsigned side,
                             struct pollfd *pfd);
int mproc__chan_fd(const struct mproc_chan *ch, unsigned side);

/* Export one side: fds (borrowed, at most MPROC__CHAN_MAX_FDS) and a blob
 * (at most MPROC__CHAN_BLOB_MAX bytes).  MPROC_EINVAL when the side is not
 * held or has unsent/unread bytes buffered, MPROC_ENOTSUP. */
int mproc__chan_export(struct mproc_chan *ch, unsigned side, int *fds,
                       size_t *nfds, void *blob, size_t *len);
/* Rebuild a handle of one side from exported fds (owned by the handle on
 * success, untouched on failure) and blob. */
int mproc__chan_import(struct mproc_chan **out, const int *fds, size_t nfds,
                       const void *blob, size_t len, mproc_err_t *err);
/* Hex for argv/env: out needs 2 * len + 1 bytes.  decode returns the
 * number of bytes or -1. */
void mproc__chan_hex_encode(char *out, const void *blob, size_t len);
ssize_t mproc__chan_hex_decode(void *blob, size_t cap, const char *hex);

const struct mproc__chan_limits *mproc__chan_limits(
    const struct mproc_chan *ch);
const char *mproc__chan_backend(const struct mproc_chan *ch);
/* The message of the last failure on this handle. */
const char *mproc__chan_errmsg(const struct mproc_chan *ch);

/* ---- locked channels: the user's objects (lchan.c) ---- */

/*
 * A channel that any number of processes and threads may send on and
 * receive from at once: a Queue, or one direction of a Pipe.  Senders take
 * turns under a writer lock, receivers under a reader lock, both in shared
 * memory and robust to a holder killed while holding them: a message comes
 * out whole or, when a process died in the middle of one, the lchan is
 * broken (MPROC_EPIPE with a message for every user), never a hang or a
 * spliced message.  The count of messages is kept under the same locks, so
 * a process that dies leaks no slot of maxsize.  Waits end with
 * MPROC_EINTR when a signal handler without SA_RESTART runs.
 */
struct mproc__lchan;

/* mq sizing (mproc__chan_opts.group) of a Queue or a Pipe direction: one
 * of a few objects, not one of a pool's many, so larger chunks. */
#define MPROC__LCHAN_MQ_GROUP 8u

/* `what` names the object in messages ("queue", "pipe"); static. */
int mproc__lchan_open(struct mproc__lchan **out, const char *what,
                      const char *backend, const struct mproc__chan_opts *o,
                      size_t maxsize, mproc_err_t *err);
void mproc__lchan_close_side(struct mproc__lchan *lc, unsigned side);
/* As mproc_queue_put/get (<mproc/queue.h>); timeouts in ms. */
int mproc__lchan_put(struct mproc__lchan *lc, const void *data, size_t len,
                     int timeout_ms);
/* The same, adding one to *counted once the message has room (maxsize),
 * before it goes, and taking it back if it does not go (a JoinableQueue's
 * unfinished tasks: a producer killed while it waited leaves none). */
int mproc__lchan_put_counted(struct mproc__lchan *lc, const void *data,
                             size_t len, int timeout_ms,
                             _Atomic int64_t *counted);
int mproc__lchan_get(struct mproc__lchan *lc, void *buf, size_t cap,
                     size_t *len, int timeout_ms);
/* 1 when a get would not wait (a message or the end is there), 0 after
 * the timeout; consumes nothing.  Or an error (MPROC_EINTR...). */
int mproc__lchan_poll(struct mproc__lchan *lc, int timeout_ms);
/* An fd that polls readable when a get may not wait (mproc_wait). */
int mproc__lchan_fileno(struct mproc__lchan *lc);
ssize_t mproc__lchan_count(const struct mproc__lchan *lc);
struct mproc_chan *mproc__lchan_chan(const struct mproc__lchan *lc);
const char *mproc__lchan_errmsg(const struct mproc__lchan *lc);

/*
 * Hand an lchan to a new image (mproc_process_pass): export `sides`
 * (MPROC__CHAN_RD, _WR or both) as descriptors (borrowed; at most
 * MPROC__LCHAN_MAX_FDS) and a blob (at most MPROC__LCHAN_BLOB_MAX bytes);
 * the image imports them with the descriptors at their new numbers, in
 * the same order.  The import owns the descriptors from then on, also
 * when it fails (the caller then exits).  `what` is static.
 */
#define MPROC__LCHAN_MAX_FDS (2 * MPROC__CHAN_MAX_FDS + 1)
#define MPROC__LCHAN_BLOB_MAX (2 * MPROC__CHAN_BLOB_MAX + 24)
int mproc__lchan_export(struct mproc__lchan *lc, unsigned sides, int *fds,
                        size_t *nfds, void *blob, size_t *len);
int mproc__lchan_import(struct mproc__lchan **out, const char *what,
                        const int *fds, size_t nfds, const void *blob,
                        size_t len, mproc_err_t *err);

/*
 * A Queue (any kind) or a Pipe end handed to a new image, as above: at
 * most MPROC__OBJ_MAX_FDS descriptors and MPROC__OBJ_BLOB_MAX bytes.  The
 * object keeps working in the exporting process.
 */
#define MPROC__OBJ_MAX_FDS (2 * MPROC__LCHAN_MAX_FDS)
#define MPROC__OBJ_BLOB_MAX (2 * MPROC__LCHAN_BLOB_MAX + 32)
struct mproc_queue;
struct mproc_pipe;
int mproc__queue_export(struct mproc_queue *q, int *fds, size_t *nfds,
                        void *blob, size_t *len, mproc_err_t *err);
int mproc__queue_import(struct mproc_queue **out, const int *fds,
                        size_t nfds, const void *blob, size_t len,
                        mproc_err_t *err);
int mproc__pipe_export(struct mproc_pipe *p, int *fds, size_t *nfds,
                       void *blob, size_t *len, mproc_err_t *err);
int mproc__pipe_import(struct mproc_pipe **out, const int *fds,
                       size_t nfds, const void *blob, size_t len,
                       mproc_err_t *err);

/*
 * Test hooks: MPROC_TEST_HOOK_IPC=POINT stops this process (SIGSTOP) at
 * POINT of a locked channel, so that a test can kill it in the exact
 * window.  Points: put-locked (writer lock held, nothing sent), put-partial
 * (the first piece of a multi-piece message went), put-sent (sent and
 * counted), get-partial (the first bytes of a message were read),
 * get-taken (whole and counted out, not yet delivered).  The variable is
 * read once per process (again in a forked child, so a child can set it
 * for itself before its first put or get).
 */
void mproc__ipc_hook(const char *point);

/* shmring: the bytes a ring of `cap` data bytes takes, and its layout in
 * any memory of at least that size (cap a power of two). */
size_t mproc__shmring_memsize(size_t cap);
int mproc__shmring_init(void *mem, size_t len, size_t cap);
/* shmring: one segment, one mapping, for up to `nrings` rings opened
 * with opts like `o` (its group and capacity decide the rings' size), or
 * NULL (no memory: the rings then take a segment each).  A pool's many
 * workers: the host's fork() copied one mapping per ring, and each of
 * its children dropped them again.  The caller holds one reference;
 * each ring taken from it holds one more. */
struct mproc__ring_arena *
mproc__shmring_arena_new(unsigned nrings, const struct mproc__chan_opts *o);
void mproc__shmring_arena_unref(struct mproc__ring_arena *a);
/* shmring: 1 while the index that `side` waits for (RD: the producer's,
 * WR: the consumer's) is published without a fence, its sleeper paying
 * with membarrier(2) (see shmring.c); else 0.  For tests. */
int mproc__shmring_asym(const struct mproc_chan *ch, unsigned side);

/* ---- helpers for the backends (ipc.c) ---- */

/* Set ch->errmsg; returns code. */
int mproc__chan_err(struct mproc_chan *ch, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A "bell": a pipe, O_NONBLOCK and CLOEXEC both ends. */
int mproc__bell_open(int fds[2]);
/* One byte; a full pipe or a gone reader is fine (SIGPIPE suppressed). */
void mproc__bell_ring(int fd);
void mproc__bell_drain(int fd);
/* The read end `fd` is hung up: every write end is closed. */
bool mproc__bell_hup(int fd);
/* poll() until the absolute deadline (NULL: none).  Returns poll's. */
int mproc__poll_until(struct pollfd *p, nfds_t n,
                      const struct timespec *deadline);
/* The same; with `intr`, -1 and errno EINTR when a signal handler that
 * should interrupt (mproc__signal_interrupts) ran. */
int mproc__poll_wait(struct pollfd *p, nfds_t n,
                     const struct timespec *deadline, bool intr);
/* Sleep on a futex word while it holds `val`, until the absolute
 * CLOCK_MONOTONIC deadline (NULL: none): 0 (woken, changed or spurious),
 * MPROC_ETIMEDOUT, or (with intr) MPROC_EINTR. */
int mproc__chan_futex_wait(_Atomic uint32_t *w, uint32_t val,
                           const struct timespec *deadline, bool intr);
/* (wake: mproc__futex_wake of sync/sync_int.h) */

/* mq: the bytes the kernel charges to RLIMIT_MSGQUEUE for one queue of
 * maxmsg messages of msgsize bytes. */
size_t mproc__mq_cost(long maxmsg, long msgsize);
/* mq: can `n` queues opened together (group n) be created under this
 * process's RLIMIT_MSGQUEUE?  When not, a message in err says what to do
 * (`ulimit -q`, `ipc = shmring`).  For `mproc check`. */
bool mproc__mq_fits(unsigned n, mproc_err_t *err);
/*
 * A short, adaptive spin before sleeping in poll(): poll() without
 * timeout again and again for up to budget_ns.  The budget doubles when
 * the spin paid off and halves when it did not (down to none, then a
 * short try every so often), so it stops taking the CPU a peer needs
 * when processes outnumber cores.  Returns true when an fd became ready.
 */
struct mproc__spin {
    long budget_ns;
    unsigned idle;
};
void mproc__spin_init(struct mproc__spin *s);
bool mproc__spin_poll(struct mproc__spin *s, struct pollfd *p, nfds_t n);
/* More threads are runnable on the machine than it has CPUs (the fourth
 * field of /proc/loadavg, read at most every few milliseconds): then a
 * waiter spinning on poll(0) only takes, one system call after another,
 * the CPU its peer needs, and sleeps at once.  (shmring's spin reads
 * memory and adapts its budget; it keeps spinning: measured, it lost to
 * pipe at 64 in flight with 4 workers on 2 cores when it did not.)
 * False when it cannot be told. */
bool mproc__cpus_crowded(void);

/* writev() that never raises SIGPIPE: -errno or bytes. */
ssize_t mproc__writev_nosig(int fd, const struct iovec *iov, int n);
void mproc__close_fd(int *fd);
/* An unpredictable 64-bit number. */
uint64_t mproc__random64(void);

#endif

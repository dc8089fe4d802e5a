/* SPDX-License-Identifier: MIT */
/*
 * mproc: Listeners and Connections between any processes, related or not
 * (Python's multiprocessing.connection: Listener, Client, Connection).
 *
 * A Listener waits at an address; a client connects to it; each side
 * then holds a Connection that carries whole messages (byte strings)
 * both ways, in order.  Addresses:
 *
 *   unix:PATH        a Unix socket file, created mode 0600 whatever the
 *                    umask, removed when the Listener is closed by the
 *                    process that opened it.  A path that exists and is
 *                    not a socket is never replaced (MPROC_EEXIST); a
 *                    stale socket file (nobody listens) is.
 *   unix:@NAME       a Linux abstract socket: no file, gone with the
 *                    Listener.  Any local user can connect to an abstract
 *                    name: use an authkey.
 *   tcp:HOST:PORT    TCP.  HOST is a name or an address ([::1] for IPv6);
 *   tcp:PORT         127.0.0.1.  A Listener binds only to a loopback
 *                    address unless the options carry MPROC_CONN_ANY
 *                    (then any address, 0.0.0.0 included).  Port 0: the
 *                    system picks one; mproc_listener_address() tells it.
 *
 * Authentication: with an authkey (any bytes, not empty) both sides prove
 * that they know it before any other byte is read, by a mutual HMAC-SHA256
 * challenge-response over 32 random bytes from each side (libsodium),
 * as Python's deliver_challenge/answer_challenge in both directions.  A
 * wrong key, or a key on one side only, is MPROC_EAUTH (Python's
 * AuthenticationError) on both sides, at once.  THE AUTHKEY AUTHENTICATES
 * BUT DOES NOT ENCRYPT: whoever can watch or alter the traffic (a tcp:
 * address off the host) sees every message.  Keep tcp: on loopback, or
 * tunnel it (ssh, WireGuard) when it must cross a network.
 *
 * Messages: each is sent whole with its length before it; a receiver
 * refuses a length over its message_max (MPROC_EMSGSIZE, and the
 * connection is broken) without allocating or reading it.
 *
 * Timeouts are in milliseconds: -1 for ever, 0 only tries.
 *
 * Event loops: every socket is non-blocking inside, so a program can wait
 * on mproc_listener_fd() and mproc_conn_fd() with mproc_wait(), poll(2)
 * or epoll (POLLIN), then call accept, recv or poll with a timeout of 0.
 * Handshakes of several clients run side by side inside the Listener, so
 * a slow or wrong client never delays the others.  As with Python's
 * Listener, handshakes move on only while mproc_listener_accept() runs:
 * a server that spends time with one client should wait on the
 * Listener's fd beside its Connections (an event loop), or accept in a
 * thread of its own, so that clients at the door get their answer (a
 * refusal at once, well within a second).
 *
 * Threads and fork: one object is used by one thread at a time.  Sockets
 * are CLOEXEC.  After fork() both processes hold the same sockets: let
 * one of them free its copy (a forked child may only free a Listener it
 * inherited: that leaves the parent's socket file and handshakes alone).
 * A send to a peer that has gone returns MPROC_EPIPE, never SIGPIPE.
 *
 * Signals: as for Pipe (<mproc/pipe.h>), a wait interrupted by a signal
 * whose handler was installed without SA_RESTART returns MPROC_EINTR and
 * loses nothing: a send returns it only before its first byte (a begun
 * message is finished), a receive keeps a begun message for the next
 * call.
 *
 * A NULL handle is refused, never dereferenced: MPROC_EINVAL from a call
 * that returns an error code, 0/false/NULL from one that does not, no-op
 * for the frees (the rule in <mproc/error.h>).
 */
#ifndef MPROC_CONNECTION_H
#define MPROC_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A Listener (opaque). */
typedef struct mproc_listener mproc_listener_t;

/** One end of a connection (opaque). */
typedef struct mproc_conn mproc_conn_t;

/** Options flag: a tcp: Listener may bind to a non-loopback address. */
#define MPROC_CONN_ANY 0x1u

/** Default largest message: 64 MiB. */
#define MPROC_CONN_MESSAGE_MAX ((size_t)64 << 20)

/** Options of Listeners and Connections.  Fill with mproc_conn_opts_init(). */
struct mproc_conn_opts {
    /** Largest message received (and sent) in bytes; 0: 64 MiB.  A larger
     *  message that arrives breaks the connection (MPROC_EMSGSIZE). */
    size_t message_max;
    /** Listener: a client must finish the handshake within this many ms,
     *  or it is dropped; 0: 5000. */
    int handshake_timeout_ms;
    /** A send that has begun waits at most this long (ms) for the peer to
     *  take more bytes, then breaks the connection (and shuts its socket
     *  down, so the peer's receive ends with MPROC_EPIPE, never waits for
     *  the rest); 0: 10000. */
    int stall_timeout_ms;
    /** listen(2) backlog; 0: SOMAXCONN. */
    int backlog;
    /** MPROC_CONN_ANY or 0. */
    unsigned flags;
};

/** Defaults: 64 MiB messages, 5 s handshakes, loopback only. */
MPROC_API void mproc_conn_opts_init(struct mproc_conn_opts *o);

/**
 * Listen at `address` (above).  `authkey` (`keylen` bytes, copied) is the
 * shared secret; NULL or 0 bytes: no authentication.  `o` may be NULL.
 * @return 0 and *out; MPROC_EINVAL (bad address, or a non-loopback tcp:
 *         address without MPROC_CONN_ANY: the message says so);
 *         MPROC_EEXIST (a path that is not a socket); MPROC_EBUSY (a
 *         Listener is alive at that address); a system error.  The
 *         message is in err.
 */
MPROC_API int mproc_listener_open(mproc_listener_t **out, const char *address,
                                  const void *authkey, size_t keylen,
                                  const struct mproc_conn_opts *o,
                                  mproc_err_t *err);

/**
 * Wait up to timeout_ms for a client that has finished the handshake and
 * hand its Connection to *out (the caller frees it).  Clients are
 * accepted and authenticated in the background of this call, all at
 * once, each within handshake_timeout_ms.
 * @return 0; MPROC_ETIMEDOUT (no client ready; timeout 0 only tries);
 *         MPROC_EAUTH (a client failed the handshake: wrong or missing
 *         key, not an mproc client, hung up before the end, or too slow;
 *         the message names it; the Listener goes on: call accept
 *         again; a connection closed before it sent a byte, a port scan,
 *         is dropped without a word); MPROC_ECLOSED; MPROC_EINTR;
 *         a system error (MPROC_EMFILE ...).
 */
MPROC_API int mproc_listener_accept(mproc_listener_t *l, int timeout_ms,
                                    mproc_conn_t **out);

/**
 * The address clients use, e.g. "unix:/run/x.sock", "unix:@name" or
 * "tcp:127.0.0.1:40321" (the port chosen when 0 was asked).  Borrowed,
 * valid until the Listener is freed.
 */
MPROC_API const char *mproc_listener_address(const mproc_listener_t *l);

/**
 * A descriptor for mproc_wait(), poll(2) or epoll (POLLIN): readable
 * when mproc_listener_accept() has work (a new client, a handshake step,
 * a handshake deadline, or a Connection ready to hand out).  Spurious
 * readiness is possible: accept with timeout 0 then says MPROC_ETIMEDOUT.
 * Belongs to the Listener: do not close it.
 * @return the descriptor; MPROC_ECLOSED.
 */
MPROC_API int mproc_listener_fd(const mproc_listener_t *l);

/**
 * Stop listening: the socket file (unix:PATH, in the process that opened
 * the Listener) is removed, clients in the middle of the handshake are
 * dropped.  Connections already accepted stay open.
 * @return 0; MPROC_ECLOSED when closed already.
 */
MPROC_API int mproc_listener_close(mproc_listener_t *l);

/** Close (if needed) and release.  NULL: no-op. */
MPROC_API void mproc_listener_free(mproc_listener_t *l);

/** The message of the last failure on this Listener (borrowed). */
MPROC_API const char *mproc_listener_errmsg(const mproc_listener_t *l);

/**
 * Connect to a Listener at `address` and run the handshake with
 * `authkey` (NULL or 0 bytes: none), all within timeout_ms (-1: for ever;
 * a refused unix: or tcp: connection is not retried).  Any address may
 * be connected to (MPROC_CONN_ANY concerns Listeners).  `o` may be NULL.
 * @return 0 and *out; MPROC_EAUTH (wrong key, a key on one side only, or
 *         not an mproc Listener); MPROC_ETIMEDOUT; MPROC_EINVAL (bad
 *         address); MPROC_ENOENT or MPROC_ECONNREFUSED (nobody listens
 *         there); MPROC_EINTR; a system error.  The message is in err.
 */
MPROC_API int mproc_client_connect(mproc_conn_t **out, const char *address,
                                   const void *authkey, size_t keylen,
                                   int timeout_ms,
                                   const struct mproc_conn_opts *o,
                                   mproc_err_t *err);

/**
 * A Connection over `fd`, a connected SOCK_STREAM socket (socketpair(2),
 * one inherited or passed over a Unix socket), whose other end speaks the
 * same message format.  No handshake is done (the fd's origin is trusted).
 * Takes `fd` on success (closed by mproc_conn_free); on failure it stays
 * the caller's.  `o` may be NULL.
 * @return 0 and *out; MPROC_EINVAL (not a stream socket); MPROC_ENOMEM.
 */
MPROC_API int mproc_conn_from_fd(mproc_conn_t **out, int fd,
                                 const struct mproc_conn_opts *o,
                                 mproc_err_t *err);

/**
 * Two connected Connections (a socketpair, Python's Pipe(duplex=True)
 * over sockets): what one sends the other receives.  `o` may be NULL.
 */
MPROC_API int mproc_conn_pair(mproc_conn_t **a, mproc_conn_t **b,
                              const struct mproc_conn_opts *o,
                              mproc_err_t *err);

/**
 * Send `len` bytes at `data` (0 allowed) as one message.  The timeout
 * covers the wait for room for its first byte; once begun, the message is
 * finished, waiting for the peer as long as it takes bytes (a peer that
 * takes none for stall_timeout_ms breaks the connection: MPROC_EPIPE
 * here, and the peer's receive of the cut message says MPROC_EPIPE).
 * @return 0; MPROC_ETIMEDOUT (nothing sent); MPROC_EMSGSIZE (len >
 *         message_max; nothing sent); MPROC_EPIPE (peer closed or died,
 *         or the connection is broken); MPROC_ECLOSED; MPROC_EINTR
 *         (nothing sent).
 */
MPROC_API int mproc_conn_send_bytes(mproc_conn_t *c, const void *data,
                                    size_t len, int timeout_ms);

/**
 * Receive the next message into `buf` (`cap` bytes); *len gets its size.
 * A message that arrives in pieces is kept across calls: a timeout in
 * its middle loses nothing.
 * @return 0; MPROC_ETIMEDOUT; MPROC_ERANGE when it is larger than cap:
 *         *len is the size needed and the message stays for the next
 *         receive (Python's BufferTooShort); MPROC_EPIPE at the end of the
 *         stream (peer closed or died; also a message cut short by its
 *         death); MPROC_EMSGSIZE (the peer announced a message over
 *         message_max: the connection is broken, nothing was allocated);
 *         MPROC_ECLOSED; MPROC_EINTR (nothing lost).
 */
MPROC_API int mproc_conn_recv_bytes(mproc_conn_t *c, void *buf, size_t cap,
                                    size_t *len, int timeout_ms);

/**
 * Receive the next message into a new buffer *out (malloc'd, the caller
 * frees it; one byte more than *len, set to NUL, so text can be read as
 * a C string).  Errors as mproc_conn_recv_bytes() but never MPROC_ERANGE;
 * MPROC_ENOMEM (the message stays).
 */
MPROC_API int mproc_conn_recv_alloc(mproc_conn_t *c, void **out, size_t *len,
                                    int timeout_ms);

/**
 * Wait until a receive would not wait: a message has begun to arrive, or
 * the stream ended (a receive then says MPROC_EPIPE).  Takes nothing.
 * @return 1 ready; 0 not within the timeout; MPROC_ECLOSED; MPROC_EINTR.
 */
MPROC_API int mproc_conn_poll(mproc_conn_t *c, int timeout_ms);

/**
 * The socket, for mproc_wait(), poll(2) or epoll (POLLIN: a message has
 * begun to arrive or the peer hung up).  Readiness can be spurious (a
 * message in several pieces): follow with poll or recv with timeout 0.
 * When a receive holds a message back (MPROC_ERANGE, or one half
 * arrived) the descriptor may not be readable: call mproc_conn_poll(c, 0)
 * first.  Belongs to the Connection: do not close it.
 * @return the descriptor; MPROC_ECLOSED.
 */
MPROC_API int mproc_conn_fd(const mproc_conn_t *c);

/**
 * Close the connection: the peer sees the end of the stream.
 * @return 0; MPROC_ECLOSED when closed already.
 */
MPROC_API int mproc_conn_close(mproc_conn_t *c);

/** Close (if needed) and release.  NULL: no-op. */
MPROC_API void mproc_conn_free(mproc_conn_t *c);

/** The message of the last failure on this Connection (borrowed). */
MPROC_API const char *mproc_conn_errmsg(const mproc_conn_t *c);

/**
 * The peer's process id when the Connection is over a Unix socket
 * (SO_PEERCRED, taken when connected), else 0.
 */
MPROC_API pid_t mproc_conn_peer_pid(const mproc_conn_t *c);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_CONNECTION_H */

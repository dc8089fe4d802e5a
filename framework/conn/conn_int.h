/* SPDX-License-Identifier: MIT */
/*
 * Listeners and Connections: what the files of framework/conn/ share.
 *
 * Wire format (one version, "MPROC-CONN/1"): every frame is an 8-byte
 * big-endian length and that many bytes.  A connection starts with the
 * handshake (auth.c), then carries the user's messages, one frame each.
 */
#ifndef MPROC_CONN_INT_H
#define MPROC_CONN_INT_H

#include "internal.h"

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <mproc/connection.h>

#define MPROC__CONN_HDR 8
/* Handshakes a listener keeps under way at once; a new socket beyond
 * them drops the oldest (listener.c, evict_oldest()). */
#define MPROC__CONN_PENDING_MAX 1024

/* ---- addresses (address.c) ---- */

struct mproc__addr {
    struct sockaddr_storage sa;
    socklen_t len;
    int family;         /* AF_UNIX, AF_INET, AF_INET6 */
    bool abstract;      /* unix:@NAME */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unix:PATH */
};

/* Parse "unix:PATH", "unix:@NAME", "tcp:HOST:PORT" or "tcp:PORT".  With
 * `listen`, a tcp: address must be loopback unless MPROC_CONN_ANY is in
 * flags. */
int mproc__addr_parse(const char *address, bool listen, unsigned flags,
                      struct mproc__addr *out, mproc_err_t *err);

/* The listening socket, bound and listening (unix: files mode 0600, a
 * stale socket file replaced, anything else refused).  -1 and err. */
int mproc__addr_listen(const char *address, const struct mproc__addr *a,
                       int backlog, mproc_err_t *err);

/* "tcp:127.0.0.1:PORT" of a bound tcp socket into buf. */
int mproc__addr_tcp_name(int fd, char *buf, size_t cap, mproc_err_t *err);

/* The peer's address, for messages ("tcp:1.2.3.4:5", "unix"). */
void mproc__addr_peer(int fd, char *buf, size_t cap);

/* ---- the handshake (auth.c) ---- */

#define MPROC__HS_NONCE 32
#define MPROC__HS_MAC 32
#define MPROC__HS_FRAME_MAX 64

enum mproc__hs_state { HS_HELLO, HS_RESP, HS_VERDICT, HS_DONE };

struct mproc__hs {
    int fd;
    bool server;
    bool ok;                      /* we accepted the peer's answer */
    enum mproc__hs_state state;
    const unsigned char *key;     /* borrowed */
    size_t keylen;
    unsigned char nonce[MPROC__HS_NONCE];
    unsigned char peer_nonce[MPROC__HS_NONCE];
    unsigned char rx[MPROC__CONN_HDR + MPROC__HS_FRAME_MAX];
    size_t rxlen;
    bool heard;                   /* the peer sent a byte: not a probe */
    long long deadline;           /* mproc__now_ms() */
    struct mproc__hs *next;       /* the listener's list */
    char peer[96];                /* for messages */
    char why[256];                /* a failure, for the message */
};

/* sodium_init() once; MPROC_ENOSYS with err when libsodium cannot run. */
int mproc__hs_crypto_init(mproc_err_t *err);

/* Set up and send our hello.  0, or a negative code with hs->why. */
int mproc__hs_start(struct mproc__hs *hs, int fd, bool server,
                    const void *key, size_t keylen, long long deadline);

/* Read what has arrived (never a byte past the handshake) and answer.
 * 1 done, 0 wait for readability, or a negative code with hs->why:
 * MPROC_EAUTH for a refusal, MPROC_EPIPE when the peer went away early. */
int mproc__hs_step(struct mproc__hs *hs);

/* Forget the nonces. */
void mproc__hs_wipe(struct mproc__hs *hs);

/* ---- connections (conn.c) ---- */

struct mproc_conn {
    int fd;
    bool closed;
    bool eof;                   /* the peer's end of stream was seen */
    int broken;                 /* 0 or the code every call returns */
    pid_t peer_pid;
    size_t message_max;
    int stall_ms;
    /* The message being received: header bytes, then its payload, kept
     * in `part` when a call returns in its middle (so nothing is lost). */
    unsigned char hdr[MPROC__CONN_HDR];
    size_t hdr_got;
    bool have_len;
    uint64_t len;
    unsigned char *part;        /* len + 1 bytes, or NULL */
    size_t got;                 /* payload bytes in part */
    bool skip_oversize;         /* see mproc__conn_skip_oversize() */
    uint64_t skip_left;         /* bytes of an oversize message to drop */
    struct mproc_conn *next;    /* a listener's ready queue */
    char errmsg[MPROC_ERRMSG_MAX];
};

/* Effective options: defaults for the zeros, `o` may be NULL. */
void mproc__conn_opts(const struct mproc_conn_opts *o,
                      struct mproc_conn_opts *out);

/* A Connection over a connected socket (taken on success). */
int mproc__conn_wrap(int fd, const struct mproc_conn_opts *o,
                     mproc_conn_t **out);

/* Wait for `events` on fd until `deadline` (-1: none).  1 ready, 0 time
 * out, MPROC_EINTR (see util/signal.c), or an error. */
int mproc__conn_wait(int fd, short events, long long deadline);

/* From now on a message over message_max that arrives is not fatal: the
 * receive returns MPROC_EMSGSIZE at once, leaving the connection usable,
 * and the following receives read its bytes and drop them before the
 * next message (the manager's server answers such a request with
 * MPROC_EMSGSIZE and keeps the client).  mproc__conn_skipping() tells
 * how many bytes are still to drop (just after MPROC_EMSGSIZE: the
 * message's length). */
void mproc__conn_skip_oversize(mproc_conn_t *c);
uint64_t mproc__conn_skipping(const mproc_conn_t *c);

/* A deadline from a timeout: -1 for a negative timeout. */
long long mproc__conn_deadline(int timeout_ms);

#endif

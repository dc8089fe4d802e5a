/* SPDX-License-Identifier: MIT */
/*
 * Connections: whole messages over a stream socket, each an 8-byte
 * big-endian length and its bytes (conn_int.h), and the client side of
 * the Listener's handshake.
 *
 * Every socket call is non-blocking (MSG_DONTWAIT) and waits in poll(2)
 * with the caller's deadline, so a timeout of 0 suits an event loop and
 * a descriptor from mproc_conn_from_fd() keeps its own flags.  Sends use
 * MSG_NOSIGNAL: a peer that has gone is MPROC_EPIPE, never SIGPIPE.
 */
#include "conn_int.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

void
mproc_conn_opts_init(struct mproc_conn_opts *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof(*o));
    o->message_max = MPROC_CONN_MESSAGE_MAX;
    o->handshake_timeout_ms = 5000;
    o->stall_timeout_ms = 10000;
}

void
mproc__conn_opts(const struct mproc_conn_opts *o, struct mproc_conn_opts *out)
{
    mproc_conn_opts_init(out);
    if (o)
        *out = *o;
    if (!out->message_max)
        out->message_max = MPROC_CONN_MESSAGE_MAX;
    if (out->handshake_timeout_ms <= 0)
        out->handshake_timeout_ms = 5000;
    if (out->stall_timeout_ms <= 0)
        out->stall_timeout_ms = 10000;
    if (out->backlog <= 0)
        out->backlog = SOMAXCONN;
}

long long
mproc__conn_deadline(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : mproc__now_ms() + timeout_ms;
}

int
mproc__conn_wait(int fd, short events, long long deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    long long left;
    int r;

    for (;;) {
        left = deadline < 0 ? -1 : deadline - mproc__now_ms();
        if (deadline >= 0 && left < 0)
            left = 0;
        r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (r > 0)
            return 1;
        if (r == 0) {
            if (deadline >= 0 && mproc__now_ms() >= deadline)
                return 0;
            continue;
        }
        if (errno != EINTR)
            return -errno;
        if (mproc__signal_interrupts())
            return MPROC_EINTR;
    }
}

static int
seterr(mproc_conn_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
breakc(mproc_conn_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
seterr(mproc_conn_t *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    mproc__msg_vformat(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
    return code;
}

/* As seterr, and every later call returns MPROC_EPIPE (a broken
 * connection, as mproc-connection(3) says; the message still says why):
 * the stream lost its framing (or its peer).  Only this call returns
 * `code` (an oversized message's MPROC_EMSGSIZE would otherwise tell a
 * later 1-byte send that it is too big).  The socket is shut down both ways, so that the
 * peer learns it too: a peer blocked receiving the rest of a message we
 * began sends (a stalled send) gets its end of stream (MPROC_EPIPE, a
 * message cut short) instead of waiting for ever, and one sending to us
 * gets MPROC_EPIPE.  The descriptor stays open until close or free. */
static int
breakc(mproc_conn_t *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    mproc__msg_vformat(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
    c->broken = MPROC_EPIPE;
    free(c->part);
    c->part = NULL;
    if (c->fd >= 0)
        (void)shutdown(c->fd, SHUT_RDWR);
    return code;
}

static int
usable(mproc_conn_t *c)
{
    if (!c)
        return MPROC_EINVAL;
    if (c->closed)
        return seterr(c, MPROC_ECLOSED, "connection: closed");
    if (c->broken)
        return c->broken; /* the message says why, from the first time */
    return 0;
}

int
mproc__conn_wrap(int fd, const struct mproc_conn_opts *o, mproc_conn_t **out)
{
    struct mproc_conn_opts eo;
    mproc_conn_t *c;
    struct ucred cr;
    socklen_t crlen = sizeof(cr);
    int one = 1;

    mproc__conn_opts(o, &eo);
    c = calloc(1, sizeof(*c));
    if (!c)
        return MPROC_ENOMEM;
    c->fd = fd;
    c->message_max = eo.message_max;
    c->stall_ms = eo.stall_timeout_ms;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == 0 &&
        cr.pid > 0)
        c->peer_pid = cr.pid;
    /* Messages go out whole in one send; Nagle would hold back the last
     * segment of each until the peer acknowledges the one before. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *out = c;
    return 0;
}

int
mproc_conn_from_fd(mproc_conn_t **out, int fd, const struct mproc_conn_opts *o,
                   mproc_err_t *err)
{
    int type = 0;
    socklen_t len = sizeof(type);

    if (!out || fd < 0)
        return mproc__err(err, MPROC_EINVAL, "connection: no descriptor");
    *out = NULL;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
        type != SOCK_STREAM)
        return mproc__err(err, MPROC_EINVAL,
                          "connection: fd %d is not a stream socket", fd);
    if (mproc__conn_wrap(fd, o, out) < 0)
        return mproc__err(err, MPROC_ENOMEM, "connection: out of memory");
    return 0;
}

int
mproc_conn_pair(mproc_conn_t **a, mproc_conn_t **b,
                const struct mproc_conn_opts *o, mproc_err_t *err)
{
    int sv[2] = { -1, -1 };
    int rc;

    if (!a || !b)
        return mproc__err(err, MPROC_EINVAL, "connection pair: no result");
    *a = *b = NULL;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return mproc__err(err, -errno, "connection pair: socketpair: %s",
                          strerror(errno));
    if ((rc = mproc__conn_wrap(sv[0], o, a)) < 0)
        goto fail;
    sv[0] = -1;
    if ((rc = mproc__conn_wrap(sv[1], o, b)) < 0)
        goto fail;
    return 0;
fail:
    mproc_conn_free(*a);
    *a = NULL;
    if (sv[0] >= 0)
        close(sv[0]);
    close(sv[1]);
    return mproc__err(err, rc, "connection pair: out of memory");
}

/* ---- the client side ---- */

static int
connect_socket(const char *address, const struct mproc__addr *a,
               long long deadline, mproc_err_t *err)
{
    int fd = -1, rc, e = 0;
    socklen_t elen = sizeof(e);

    for (;;) {
        fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return mproc__err(err, -errno, "connect %s: socket: %s", address,
                              strerror(errno));
        if (connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0)
            return fd;
        e = errno;
        /* A unix: Listener whose backlog is full says EAGAIN at once
         * instead of queueing us: try again until the deadline. */
        if (e != EAGAIN || a->family != AF_UNIX)
            break;
        close(fd);
        fd = -1;
        if (deadline >= 0 && mproc__now_ms() >= deadline) {
            rc = mproc__err(err, MPROC_ETIMEDOUT, "connect %s: the listener's "
                            "backlog stayed full", address);
            goto fail;
        }
        usleep(2000);
    }
    if (e == EINPROGRESS || e == EINTR) {
        rc = mproc__conn_wait(fd, POLLOUT, deadline);
        if (rc == 0) {
            rc = mproc__err(err, MPROC_ETIMEDOUT, "connect %s: timed out",
                            address);
            goto fail;
        }
        if (rc < 0) {
            rc = mproc__err(err, rc, "connect %s: %s", address,
                            mproc_strerror(rc));
            goto fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
            e = errno;
        if (e == 0)
            return fd;
    }
    if (e == ENOENT || e == ECONNREFUSED)
        rc = mproc__err(err, -e, "connect %s: nobody listens there (%s)",
                        address, strerror(e));
    else
        rc = mproc__err(err, -e, "connect %s: %s", address, strerror(e));
fail:
    if (fd >= 0)
        close(fd);
    return rc;
}

int
mproc_client_connect(mproc_conn_t **out, const char *address,
                     const void *authkey, size_t keylen, int timeout_ms,
                     const struct mproc_conn_opts *o, mproc_err_t *err)
{
    struct mproc__addr a;
    struct mproc__hs hs;
    long long deadline = mproc__conn_deadline(timeout_ms);
    int fd = -1, rc;

    if (!out)
        return mproc__err(err, MPROC_EINVAL, "connect: no result");
    *out = NULL;
    memset(&hs, 0, sizeof(hs));
    if ((rc = mproc__hs_crypto_init(err)) < 0)
        return rc;
    if ((rc = mproc__addr_parse(address, false, 0, &a, err)) < 0)
        return rc;
    fd = connect_socket(address, &a, deadline, err);
    if (fd < 0)
        return fd;
    rc = mproc__hs_start(&hs, fd, false, authkey, keylen, deadline);
    while (rc == 0 && (rc = mproc__hs_step(&hs)) == 0) {
        rc = mproc__conn_wait(fd, POLLIN, deadline);
        if (rc == 1)
            rc = 0;
        else if (rc == 0)
            rc = mproc__err(err, MPROC_ETIMEDOUT,
                            "connect %s: the handshake did not finish in "
                            "time", address);
        else
            rc = mproc__err(err, rc, "connect %s: %s", address,
                            mproc_strerror(rc));
        if (rc < 0)
            goto fail;
    }
    if (rc < 0) {
        rc = mproc__err(err, rc, "connect %s: %s", address, hs.why);
        goto fail;
    }
    mproc__hs_wipe(&hs);
    if ((rc = mproc__conn_wrap(fd, o, out)) < 0) {
        rc = mproc__err(err, rc, "connect %s: out of memory", address);
        goto fail;
    }
    return 0;
fail:
    mproc__hs_wipe(&hs);
    close(fd);
    return rc;
}

/* ---- sending ---- */

int
mproc_conn_send_bytes(mproc_conn_t *c, const void *data, size_t len,
                      int timeout_ms)
{
    unsigned char hdr[MPROC__CONN_HDR];
    struct iovec iov[2];
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
    size_t sent = 0, total = MPROC__CONN_HDR + len;
    long long deadline = mproc__conn_deadline(timeout_ms);
    int rc;

    if ((rc = usable(c)) < 0)
        return rc;
    if (len && !data)
        return seterr(c, MPROC_EINVAL, "send: no data");
    if (len > c->message_max)
        return seterr(c, MPROC_EMSGSIZE, "send: %zu bytes is over the "
                      "largest message, %zu bytes", len, c->message_max);
    for (int i = 7; i >= 0; i--)
        hdr[7 - i] = (unsigned char)((uint64_t)len >> (8 * i));
    while (sent < total) {
        ssize_t w;

        if (sent < MPROC__CONN_HDR) {
            iov[0].iov_base = hdr + sent;
            iov[0].iov_len = MPROC__CONN_HDR - sent;
            iov[1].iov_base = (void *)data;
            iov[1].iov_len = len;
            mh.msg_iov = iov;
            mh.msg_iovlen = len ? 2 : 1;
        } else {
            iov[1].iov_base = (unsigned char *)data + (sent - MPROC__CONN_HDR);
            iov[1].iov_len = total - sent;
            mh.msg_iov = iov + 1;
            mh.msg_iovlen = 1;
        }
        w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            int e = errno;
            if (sent == 0)
                return seterr(c, e == EPIPE || e == ECONNRESET ? MPROC_EPIPE
                              : -e, "send: %s", e == EPIPE || e == ECONNRESET
                              ? "the peer closed the connection"
                              : strerror(e));
            return breakc(c, MPROC_EPIPE, "send: the peer went away in the "
                          "middle of a message (%s)", strerror(e));
        }
        /* Before the first byte the caller's timeout rules; once begun,
         * the message is finished unless the peer stops taking bytes. */
        rc = mproc__conn_wait(c->fd, POLLOUT, sent == 0 ? deadline
                              : mproc__conn_deadline(c->stall_ms));
        if (rc == 1)
            continue;
        if (sent == 0) {
            if (rc == 0)
                return seterr(c, MPROC_ETIMEDOUT, "send: the peer's buffer "
                              "stayed full");
            return seterr(c, rc, "send: %s", mproc_strerror(rc));
        }
        if (rc == MPROC_EINTR)
            continue; /* nothing to give back: the message is begun */
        return breakc(c, MPROC_EPIPE, "send: the peer took no byte for %d "
                      "ms in the middle of a message; connection broken",
                      c->stall_ms);
    }
    return 0;
}

/* ---- receiving ---- */

static uint64_t
hdr_len(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < MPROC__CONN_HDR; i++)
        v = v << 8 | p[i];
    return v;
}

/* Read into dst[0..want) from *got on; 1 full, 0 would block, or the
 * end of stream / an error (the connection is marked). */
static int
fill(mproc_conn_t *c, unsigned char *dst, size_t want, size_t *got)
{
    while (*got < want) {
        ssize_t r = recv(c->fd, dst + *got, want - *got, MSG_DONTWAIT);
        if (r > 0) {
            *got += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r < 0 && errno != ECONNRESET)
            return seterr(c, -errno, "recv: %s", strerror(errno));
        c->eof = true;
        if (c->hdr_got == 0 && !c->have_len)
            return breakc(c, MPROC_EPIPE, "recv: the peer closed the "
                          "connection (end of stream)");
        return breakc(c, MPROC_EPIPE, "recv: the peer closed the connection "
                      "in the middle of a message");
    }
    return 1;
}

/* Wait for more; 0 go on, or ETIMEDOUT / EINTR / an error. */
static int
wait_more(mproc_conn_t *c, long long deadline)
{
    int rc = mproc__conn_wait(c->fd, POLLIN, deadline);

    if (rc == 1)
        return 0;
    if (rc == 0)
        return seterr(c, MPROC_ETIMEDOUT, "recv: no message in time");
    return seterr(c, rc, "recv: %s", mproc_strerror(rc));
}

void
mproc__conn_skip_oversize(mproc_conn_t *c)
{
    c->skip_oversize = true;
}

uint64_t
mproc__conn_skipping(const mproc_conn_t *c)
{
    return c->skip_left;
}

/* Drop the rest of an oversize message (skip_oversize).  0 done, or
 * ETIMEDOUT / EINTR (more to drop later) / EPIPE. */
static int
skip(mproc_conn_t *c, long long deadline)
{
    unsigned char sink[16384];
    int rc;

    while (c->skip_left > 0) {
        size_t want = c->skip_left < sizeof(sink) ? (size_t)c->skip_left
                                                   : sizeof(sink);
        ssize_t r = recv(c->fd, sink, want, MSG_DONTWAIT);

        if (r > 0) {
            c->skip_left -= (uint64_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if ((rc = wait_more(c, deadline)) < 0)
                return rc;
            continue;
        }
        if (r < 0 && errno != ECONNRESET)
            return seterr(c, -errno, "recv: %s", strerror(errno));
        c->eof = true;
        return breakc(c, MPROC_EPIPE, "recv: the peer closed the connection "
                      "in the middle of a message");
    }
    return 0;
}

static int
recv_common(mproc_conn_t *c, void *buf, size_t cap, size_t *len,
            void **alloc, int timeout_ms)
{
    long long deadline = mproc__conn_deadline(timeout_ms);
    unsigned char *dst;
    size_t got;
    int rc;

    if ((rc = usable(c)) < 0)
        return rc;
    if (c->skip_left > 0 && (rc = skip(c, deadline)) < 0)
        return rc;
    while (!c->have_len) {
        rc = fill(c, c->hdr, MPROC__CONN_HDR, &c->hdr_got);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            if ((rc = wait_more(c, deadline)) < 0)
                return rc;
            continue;
        }
        c->len = hdr_len(c->hdr);
        c->have_len = true;
        if (c->len > c->message_max && c->skip_oversize) {
            c->skip_left = c->len;
            c->hdr_got = 0;
            c->have_len = false;
            return seterr(c, MPROC_EMSGSIZE, "recv: the peer sent a message "
                          "of %llu bytes, over the largest, %zu bytes; "
                          "skipped", (unsigned long long)c->len,
                          c->message_max);
        }
        if (c->len > c->message_max)
            return breakc(c, MPROC_EMSGSIZE, "recv: the peer sent a message "
                          "of %llu bytes, over the largest, %zu bytes; "
                          "connection broken", (unsigned long long)c->len,
                          c->message_max);
    }
    if (len)
        *len = (size_t)c->len;
    if (!alloc && c->len > cap)
        return seterr(c, MPROC_ERANGE, "recv: the message has %llu bytes, "
                      "the buffer %zu", (unsigned long long)c->len, cap);
    if (alloc && !c->part) {
        c->part = malloc((size_t)c->len + 1);
        if (!c->part)
            return seterr(c, MPROC_ENOMEM, "recv: no memory for a message "
                          "of %llu bytes", (unsigned long long)c->len);
        c->got = 0;
    }
    /* Straight into the caller's buffer unless a part is kept already. */
    dst = c->part ? c->part : buf;
    got = c->part ? c->got : 0;
    for (;;) {
        rc = fill(c, dst, (size_t)c->len, &got);
        if (rc < 0)
            return rc;
        if (rc == 1)
            break;
        rc = wait_more(c, deadline);
        if (rc < 0 && got > 0 && !c->part) {
            /* Keep what came, so that a timeout loses nothing. */
            c->part = malloc((size_t)c->len + 1);
            if (!c->part)
                return breakc(c, MPROC_ENOMEM, "recv: no memory to keep a "
                              "message cut by the timeout; connection "
                              "broken");
            memcpy(c->part, buf, got);
        }
        if (rc < 0) {
            if (c->part)
                c->got = got;
            return rc;
        }
    }
    if (alloc) {
        c->part[c->len] = '\0';
        *alloc = c->part;
    } else if (c->part) {
        memcpy(buf, c->part, (size_t)c->len);
        free(c->part);
    }
    c->part = NULL;
    c->got = 0;
    c->hdr_got = 0;
    c->have_len = false;
    return 0;
}

int
mproc_conn_recv_bytes(mproc_conn_t *c, void *buf, size_t cap, size_t *len,
                      int timeout_ms)
{
    if (c && cap && !buf)
        return seterr(c, MPROC_EINVAL, "recv: no buffer");
    return recv_common(c, buf, cap, len, NULL, timeout_ms);
}

int
mproc_conn_recv_alloc(mproc_conn_t *c, void **out, size_t *len,
                      int timeout_ms)
{
    if (c && !out)
        return seterr(c, MPROC_EINVAL, "recv: no result pointer");
    return recv_common(c, NULL, 0, len, out, timeout_ms);
}

int
mproc_conn_poll(mproc_conn_t *c, int timeout_ms)
{
    int rc;

    if (c && !c->closed && c->broken == MPROC_EPIPE && c->eof)
        return 1; /* the end of stream is what a receive says now */
    if ((rc = usable(c)) < 0)
        return rc;
    if (c->hdr_got || c->have_len)
        return 1;
    rc = mproc__conn_wait(c->fd, POLLIN, mproc__conn_deadline(timeout_ms));
    if (rc < 0)
        return seterr(c, rc, "poll: %s", mproc_strerror(rc));
    return rc;
}

int
mproc_conn_fd(const mproc_conn_t *c)
{
    if (!c)
        return MPROC_EINVAL;
    return c->closed ? MPROC_ECLOSED : c->fd;
}

int
mproc_conn_close(mproc_conn_t *c)
{
    if (!c)
        return MPROC_EINVAL;
    if (c->closed)
        return MPROC_ECLOSED;
    c->closed = true;
    close(c->fd);
    c->fd = -1;
    free(c->part);
    c->part = NULL;
    return 0;
}

void
mproc_conn_free(mproc_conn_t *c)
{
    if (!c)
        return;
    if (!c->closed)
        mproc_conn_close(c);
    free(c);
}

const char *
mproc_conn_errmsg(const mproc_conn_t *c)
{
    return c ? c->errmsg : "connection: none";
}

pid_t
mproc_conn_peer_pid(const mproc_conn_t *c)
{
    return c ? c->peer_pid : 0;
}

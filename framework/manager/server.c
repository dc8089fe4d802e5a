/* SPDX-License-Identifier: MIT */
/*
 * The manager server's event loop: one thread, one poll(2) over the
 * Listener and every client Connection.  A client is read only when its
 * last reply is written, so each holds at most one request and one reply
 * (bounded by the message limit); a client that sends garbage, announces
 * a message over the limit, or stops reading its replies is dropped and
 * the others go on.  A request over the message limit is not
 * misbehaviour (the client may not know the limit): its bytes are
 * dropped as they come and it is answered MPROC_EMSGSIZE.
 *
 * A unix: client may move to a shared-memory ring (ring.h): its socket
 * then only carries doorbells and its hang-up.  After handling work the
 * loop spins over the rings for a bounded time (none on one CPU), so a
 * client's next request costs no syscall while both run; it polls the
 * sockets at least every millisecond meanwhile (new clients, socket
 * clients, deadlines), and sleeps in ppoll once the rings are quiet.
 * Each pass takes at most one message chunk per ring: fair to all.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mproc/connection.h>

#include "../conn/conn_int.h" /* mproc__conn_skip_oversize() */
#include "mgr_int.h"
#include "mgr_srv.h"
#include "ring.h"

struct tclient {
    struct mgr_client c; /* first: the core's view */
    mproc_conn_t *conn;
    bool pending;        /* c.out holds a reply not yet sent */
    struct mgr_ring *ring; /* the fast path, or NULL: the socket */
    unsigned char *in;   /* a ring request being assembled */
    size_t inlen, incap;
    uint64_t skipped;    /* bytes of an oversize ring request dropped */
    size_t outoff;       /* bytes of c.out already put in the ring */
    struct tclient *next;
};

struct loop {
    struct mgr_srv core;
    mproc_listener_t *lis;
    struct tclient *clients;
    unsigned nclients, max_clients, nring;
    unsigned char *rbuf;
    size_t rcap;
    struct pollfd *pfd;
    struct tclient **pcl;
    size_t pcap;
    volatile sig_atomic_t *stop;
    struct mgr_spin spin; /* how long ring_spin() waits for more */
    bool rang;            /* a reply had to wake its client */
};

/* Put the next chunk of t's pending reply in its ring if the client
 * took the last one.  True when it did; L->rang when it had to wake
 * the client. */
static bool
ring_put(struct loop *L, struct tclient *t)
{
    struct mgr_ring *g = t->ring;
    size_t n = t->c.out.len - t->outoff;

    if (!t->pending || atomic_load_explicit(&g->rep.full,
                                            memory_order_acquire) != 0)
        return false;
    if (n > MGR_RING_CAP)
        n = MGR_RING_CAP;
    memcpy(g->rep_data, (unsigned char *)t->c.out.data + t->outoff, n);
    t->outoff += n;
    g->rep.len = (uint32_t)n;
    g->rep.more = t->outoff < t->c.out.len;
    if (!g->rep.more) {
        t->pending = false;
        t->c.out.len = 0;
    }
    if (mproc__ring_publish(&g->rep.full, 1, &g->cli_sleep,
                            mproc_conn_fd(t->conn)))
        L->rang = true;
    return true;
}

/* The core finished a reply for c: send it now if the socket takes it. */
static void
ready(struct mgr_srv *s, struct mgr_client *mc)
{
    struct tclient *t = (struct tclient *)mc;
    int r;

    if (mc->gone)
        return;
    if (t->ring != NULL) {
        t->pending = true;
        t->outoff = 0;
        ring_put((struct loop *)s, t);
        return;
    }
    /* A timeout of 0 waits for nothing: no room for the first byte means
     * the reply waits for POLLOUT, and its client is not read meanwhile. */
    r = mproc_conn_send_bytes(t->conn, mc->out.data, mc->out.len, 0);
    if (r == MPROC_ETIMEDOUT) {
        t->pending = true;
        return;
    }
    t->pending = false;
    mc->out.len = 0;
    if (r < 0)
        mproc_conn_close(t->conn); /* seen as a hang-up by the loop */
}

static void
drop(struct loop *L, struct tclient *t)
{
    struct tclient **p;

    for (p = &L->clients; *p != t; p = &(*p)->next)
        ;
    *p = t->next;
    mproc__mgr_client_gone(&t->c);
    mproc_conn_free(t->conn);
    if (t->ring != NULL)
        L->nring--;
    mproc__ring_unmap(t->ring);
    free(t->in);
    free(t);
    L->nclients--;
}

/* OP_RING: make t's ring, say yes on the socket, pass the memfd.  A
 * client refused (no memfd here) stays on the socket. */
static int
ring_setup(struct loop *L, struct tclient *t)
{
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    struct mgr_ring *g = NULL;
    int sock = mproc_conn_fd(t->conn), fd = -1, r;

    if (t->ring != NULL)
        return MPROC_EINVAL;
    if (getsockname(sock, (struct sockaddr *)&sa, &sl) < 0 ||
        sa.ss_family != AF_UNIX)
        r = MPROC_ENOTSUP;
    else
        r = mproc__ring_create(&g, &fd);
    mproc__mgr_rep_begin(&t->c);
    if (r == 0) /* the limit, as a PING's reply gives it */
        mproc__mgr_rep_i64(&t->c, (int64_t)L->core.max_message);
    mproc__mgr_rep_end(&t->c, r);
    if (r < 0)
        return 0;
    /* The client waits for this reply: its socket has room for it. */
    if (!t->pending && mproc_conn_fd(t->conn) >= 0)
        r = mproc__ring_send_fd(sock, fd, 1000);
    else
        r = MPROC_EPIPE;
    close(fd);
    if (r < 0) {
        mproc__ring_unmap(g);
        return r;
    }
    t->ring = g;
    L->nring++;
    return 0;
}

/* Answer a request of `len` bytes, over the limit, that was dropped. */
static void
oversize(struct loop *L, struct tclient *t, uint64_t len)
{
    char msg[200];

    snprintf(msg, sizeof(msg), "a request of %llu bytes is over the "
             "server's message limit, %zu bytes (max_message); it was "
             "dropped", (unsigned long long)len, L->core.max_message);
    mproc__mgr_rep_error(&t->c, MPROC_EMSGSIZE, msg);
}

/* Take one chunk of t's next request from its ring (a whole request is
 * handled), or put one chunk of its reply.  1 work done, 0 none, or a
 * negative code: drop the client. */
static int
ring_take(struct loop *L, struct tclient *t)
{
    struct mgr_ring *g = t->ring;
    uint32_t n, more;
    size_t len;

    if (t->pending)
        return ring_put(L, t) ? 1 : 0;
    if (t->c.parked ||
        atomic_load_explicit(&g->req.full, memory_order_acquire) == 0)
        return 0;
    /* The client can write the mapping at any time: read each field
     * once, bound it, copy the bytes out before parsing them. */
    n = *(volatile uint32_t *)&g->req.len;
    more = *(volatile uint32_t *)&g->req.more;
    if (n > MGR_RING_CAP)
        return MPROC_EMSGSIZE; /* no client of ours does that: garbage */
    if (t->skipped > 0 || t->inlen + n > L->core.max_message) {
        /* An oversize request: take its chunks and drop them, then say
         * so (the client reads no reply before its last chunk). */
        t->skipped += t->inlen + n;
        t->inlen = 0;
        if (more) {
            mproc__ring_publish(&g->req.full, 0, &g->cli_sleep,
                                mproc_conn_fd(t->conn));
            return 1;
        }
        atomic_store(&g->req.full, 0);
        oversize(L, t, t->skipped);
        t->skipped = 0;
        return 1;
    }
    if (t->inlen + n > t->incap) {
        size_t cap = t->incap ? t->incap : 256;
        unsigned char *p;
        while (cap < t->inlen + n)
            cap *= 2;
        p = realloc(t->in, cap);
        if (p == NULL)
            return MPROC_ENOMEM;
        t->in = p;
        t->incap = cap;
    }
    memcpy(t->in + t->inlen, g->req_data, n);
    t->inlen += n;
    /* Only a client sending more chunks waits for the mailbox. */
    if (more) {
        mproc__ring_publish(&g->req.full, 0, &g->cli_sleep,
                            mproc_conn_fd(t->conn));
        return 1;
    }
    atomic_store(&g->req.full, 0);
    len = t->inlen;
    t->inlen = 0;
    return mproc__mgr_handle(&t->c, t->in, len) < 0 ? MPROC_EINVAL : 1;
}

/* One chunk from or to every ring.  Returns how many moved. */
static unsigned
ring_pass(struct loop *L)
{
    struct tclient *t, *nx;
    unsigned work = 0;
    int r;

    for (t = L->clients; t != NULL; t = nx) {
        nx = t->next;
        if (t->ring == NULL)
            continue;
        r = ring_take(L, t);
        if (r < 0)
            drop(L, t);
        else
            work += (unsigned)r;
    }
    return work;
}

/* Tell every ring client that the server sleeps (1) or runs (0). */
static void
ring_sleep(struct loop *L, uint32_t v)
{
    struct tclient *t;

    for (t = L->clients; t != NULL; t = t->next)
        if (t->ring != NULL)
            atomic_store(&t->ring->srv_sleep, v);
}

/* Serve the rings while they have work, then spin for the learnt
 * budget (ring.h) waiting for more; true when a millisecond passed with
 * work still coming, so the sockets are polled without sleeping. */
static bool
ring_spin(struct loop *L)
{
    long spin = 0;
    int64_t t0 = mproc__ring_now_us(), last = t0, now;
    bool idle = false;

    for (;;) {
        if (L->core.stopping || (L->stop != NULL && *L->stop))
            return false;
        now = mproc__ring_now_us();
        L->rang = false;
        if (ring_pass(L) > 0) {
            if (idle && spin > 0)
                /* A request came while we spun: spinning pays. */
                mproc__spin_learn(&L->spin, true);
            spin = mproc__spin_budget(&L->spin, L->rang);
            idle = false;
            last = now;
        } else if (now - last >= spin) {
            if (spin > 0)
                mproc__spin_learn(&L->spin, false);
            return false;
        } else {
            idle = true;
        }
        if (now - t0 >= 1000)
            return true;
        mproc__ring_relax();
    }
}

/* Read and handle one request of t, if a whole one is there. */
static int
serve(struct loop *L, struct tclient *t)
{
    size_t len = 0;
    int r;

    for (;;) {
        r = mproc_conn_recv_bytes(t->conn, L->rbuf, L->rcap, &len, 0);
        if (r != MPROC_ERANGE)
            break;
        /* len <= message_max: the connection refused larger ones. */
        unsigned char *n = realloc(L->rbuf, len);
        if (n == NULL)
            return MPROC_ENOMEM;
        L->rbuf = n;
        L->rcap = len;
    }
    if (r == MPROC_ETIMEDOUT)
        return 0;
    if (r == MPROC_EMSGSIZE && mproc_conn_fd(t->conn) >= 0) {
        /* Skipped (mproc__conn_skip_oversize), the connection usable:
         * the bytes still to come are dropped by the next receives. */
        oversize(L, t, mproc__conn_skipping(t->conn));
        return 0;
    }
    if (r < 0)
        return r;
    if (len >= MGR_REQ_HDR && L->rbuf[0] == OP_RING)
        return ring_setup(L, t);
    return mproc__mgr_handle(&t->c, L->rbuf, len);
}

/* A client over max_clients: one unasked reply, `code` (MPROC_EBUSY, or
 * MPROC_ENOMEM when there is no room for it) with the reason, which the
 * client reads as the answer to its first request; then the connection
 * closes. */
static void
refuse(mproc_conn_t *conn, int code, const char *why)
{
    unsigned char frame[MGR_REP_HDR + 4 + 256], sink[256];
    int n, fd = mproc_conn_fd(conn);

    n = snprintf((char *)frame + MGR_REP_HDR + 4, 256, "%s", why);
    if (n > 255)
        n = 255;
    mgr_put32(frame, (uint32_t)code);
    mgr_put32(frame + 4, 1);
    mgr_put32(frame + 8, (uint32_t)n);
    (void)mproc_conn_send_bytes(conn, frame, MGR_REP_HDR + 4 + (size_t)n, 0);
    /* Closing with unread bytes (its first request, already sent) would
     * reset a tcp: connection, and a reset can reach the client before it
     * reads the refusal: read them first. */
    while (fd >= 0 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
        ;
    mproc_conn_free(conn);
}

static void
accept_all(struct loop *L)
{
    mproc_conn_t *conn;
    struct tclient *t;
    char why[200];
    int r;

    for (;;) {
        r = mproc_listener_accept(L->lis, 0, &conn);
        if (r == MPROC_EAUTH)
            continue; /* refused; the Listener serves the others */
        if (r < 0)
            return;
        if (L->nclients >= L->max_clients) {
            snprintf(why, sizeof(why), "the server serves %u clients, its "
                     "max_clients, and refused one more: try again when one "
                     "leaves, or start it with a larger max_clients",
                     L->max_clients);
            refuse(conn, MPROC_EBUSY, why);
            continue;
        }
        t = calloc(1, sizeof(*t));
        if (t == NULL) {
            refuse(conn, MPROC_ENOMEM, "the server is out of memory for "
                   "one more client");
            continue;
        }
        mproc__conn_skip_oversize(conn);
        mproc__mgr_client_init(&L->core, &t->c);
        t->conn = conn;
        t->next = L->clients;
        L->clients = t;
        L->nclients++;
    }
}

/* Lift the descriptor limit to its hard maximum: one per client. */
static void
raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int
mproc__mgr_serve(mproc_listener_t *lis, const struct mproc_mtype *const *types,
                 unsigned max_clients, size_t max_message, int lifeline,
                 volatile sig_atomic_t *stop, const sigset_t *waitmask)
{
    struct timespec ts;
    struct loop L;
    struct tclient *t, *nx;
    size_t n, i;
    int timeout, pr, r = 0;
    bool busy = false;

    memset(&L, 0, sizeof(L));
    mproc__mgr_srv_init(&L.core, max_message, types);
    L.core.ready = ready;
    L.lis = lis;
    L.max_clients = max_clients;
    L.stop = stop;
    L.spin.budget = -1;
    raise_nofile();
    while (!L.core.stopping && !(stop != NULL && *stop)) {
        /* Going to sleep: say so, then look at the rings once more (a
         * request put before the flag was seen is found here). */
        if (!busy && L.nring > 0) {
            ring_sleep(&L, 1);
            busy = ring_pass(&L) > 0;
        }
        /* After the rings: a request parked there has its deadline. */
        timeout = busy ? 0 : mproc__mgr_expire(&L.core);
        if (busy)
            (void)mproc__mgr_expire(&L.core);
        if (L.nclients + 2 > L.pcap) {
            size_t cap = (L.nclients + 2) * 2;
            struct pollfd *p = realloc(L.pfd, cap * sizeof(*p));
            struct tclient **c;
            if (p == NULL) {
                r = MPROC_ENOMEM;
                break;
            }
            L.pfd = p;
            c = realloc(L.pcl, cap * sizeof(*c));
            if (c == NULL) {
                r = MPROC_ENOMEM;
                break;
            }
            L.pcl = c;
            L.pcap = cap;
        }
        L.pfd[0].fd = mproc_listener_fd(lis);
        L.pfd[0].events = POLLIN;
        L.pfd[1].fd = lifeline;
        L.pfd[1].events = POLLIN;
        n = 2;
        for (t = L.clients; t != NULL; t = t->next) {
            L.pfd[n].fd = mproc_conn_fd(t->conn);
            /* A client is read only when it has no reply waiting to go
             * and no request parked: one request each at most.  A parked
             * one is still watched for its end: tcp: reports a peer's
             * close as POLLRDHUP only, and a dead waiter must let go. */
            L.pfd[n].events = t->ring != NULL ? POLLIN /* doorbells */
                              : t->pending ? POLLOUT
                              : t->c.parked ? POLLRDHUP : POLLIN;
            L.pcl[n++] = t;
        }
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (long)(timeout % 1000) * 1000000;
        /* The stop signals are blocked but while waiting here: one that
         * comes between the check of *stop and the wait is not lost. */
        pr = ppoll(L.pfd, n, timeout < 0 ? NULL : &ts, waitmask);
        if (L.nring > 0)
            ring_sleep(&L, 0);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        if (L.pfd[1].revents != 0)
            break; /* whoever started the server is gone */
        /* Clients first: a new client's pollfd was not in this round. */
        for (i = 2; i < n; i++) {
            t = L.pcl[i];
            if (mproc_conn_fd(t->conn) < 0) {
                drop(&L, t); /* the connection was closed (send failed) */
                continue;
            }
            if (L.pfd[i].revents == 0)
                continue;
            if (t->ring != NULL) {
                /* Doorbells are read; the rings are served below. */
                if (mproc__ring_drain(mproc_conn_fd(t->conn)) < 0 ||
                    (L.pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)))
                    drop(&L, t);
                continue;
            }
            if (t->pending) {
                if (L.pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
                    drop(&L, t);
                    continue;
                }
                ready(&L.core, &t->c);
                continue;
            }
            /* A request (or the hang-up) arrived; misbehaving: dropped. */
            if (serve(&L, t) < 0 || mproc_conn_fd(t->conn) < 0)
                drop(&L, t);
        }
        if (L.pfd[0].revents != 0)
            accept_all(&L);
        busy = L.nring > 0 && ring_spin(&L);
    }
    for (t = L.clients; t != NULL; t = nx) {
        nx = t->next;
        mproc__mgr_client_gone(&t->c);
        mproc_conn_free(t->conn);
        mproc__ring_unmap(t->ring);
        free(t->in);
        free(t);
    }
    mproc__mgr_srv_fini(&L.core);
    free(L.rbuf);
    free(L.pfd);
    free(L.pcl);
    return r;
}

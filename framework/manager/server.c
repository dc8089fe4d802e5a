/* SPDX-License-Identifier: MIT */
/*
 * The manager server's event loop: one thread, one poll(2) over the
 * Listener and every client Connection.  A client is read only when its
 * last reply is written, so each holds at most one request and one reply
 * (bounded by the message limit); a client that sends garbage, announces
 * a message over the limit, or stops reading its replies is dropped and
 * the others go on.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <mproc/connection.h>

#include "mgr_int.h"
#include "mgr_srv.h"

struct tclient {
    struct mgr_client c; /* first: the core's view */
    mproc_conn_t *conn;
    bool pending;        /* c.out holds a reply not yet sent */
    struct tclient *next;
};

struct loop {
    struct mgr_srv core;
    mproc_listener_t *lis;
    struct tclient *clients;
    unsigned nclients, max_clients;
    unsigned char *rbuf;
    size_t rcap;
    struct pollfd *pfd;
    struct tclient **pcl;
    size_t pcap;
    volatile sig_atomic_t *stop;
};

/* The core finished a reply for c: send it now if the socket takes it. */
static void
ready(struct mgr_srv *s, struct mgr_client *mc)
{
    struct tclient *t = (struct tclient *)mc;
    int r;

    (void)s;
    if (mc->gone)
        return;
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
    free(t);
    L->nclients--;
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
    if (r < 0)
        return r;
    return mproc__mgr_handle(&t->c, L->rbuf, len);
}

static void
accept_all(struct loop *L)
{
    mproc_conn_t *conn;
    struct tclient *t;
    int r;

    for (;;) {
        r = mproc_listener_accept(L->lis, 0, &conn);
        if (r == MPROC_EAUTH)
            continue; /* refused; the Listener serves the others */
        if (r < 0)
            return;
        t = calloc(1, sizeof(*t));
        if (t == NULL || L->nclients >= L->max_clients) {
            free(t);
            mproc_conn_free(conn);
            continue;
        }
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
    int timeout, r = 0;

    memset(&L, 0, sizeof(L));
    mproc__mgr_srv_init(&L.core, max_message, types);
    L.core.ready = ready;
    L.lis = lis;
    L.max_clients = max_clients;
    L.stop = stop;
    raise_nofile();
    while (!L.core.stopping && !(stop != NULL && *stop)) {
        timeout = mproc__mgr_expire(&L.core);
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
            L.pfd[n].events = t->pending ? POLLOUT
                              : t->c.parked ? POLLRDHUP : POLLIN;
            L.pcl[n++] = t;
        }
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (long)(timeout % 1000) * 1000000;
        /* The stop signals are blocked but while waiting here: one that
         * comes between the check of *stop and the wait is not lost. */
        if (ppoll(L.pfd, n, timeout < 0 ? NULL : &ts, waitmask) < 0) {
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
    }
    for (t = L.clients; t != NULL; t = nx) {
        nx = t->next;
        mproc__mgr_client_gone(&t->c);
        mproc_conn_free(t->conn);
        free(t);
    }
    mproc__mgr_srv_fini(&L.core);
    free(L.rbuf);
    free(L.pfd);
    free(L.pcl);
    return r;
}

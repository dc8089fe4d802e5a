/* SPDX-License-Identifier: MIT */
/*
 * Connections that end badly, as an outside tester saw them: a send that
 * stalls past stall_timeout_ms breaks the connection and the peer's
 * receive of the cut message ends with MPROC_EPIPE (it used to wait for
 * ever); a client that hangs up in the middle of its handshake (after
 * half an answer, after garbage) makes accept return MPROC_EAUTH naming
 * it at once, not MPROC_ETIMEDOUT at accept's own deadline; one that
 * connects and closes without a byte (a port scan, another process's
 * look at whether the address is in use) is no client: nothing is said,
 * and the next real client is accepted.
 */
#include "config.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <mproc/connection.h>

#include "tap.h"

static double
now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static char name[64];

/* A raw client of the abstract Listener `name`. */
static int
raw(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t n = strlen(name);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memcpy(sa.sun_path + 1, name, n);
    if (connect(fd, (struct sockaddr *)&sa,
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) <
        0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void
refused(mproc_listener_t *l, const char *what)
{
    mproc_conn_t *c = NULL;
    double t0 = now();
    int r = mproc_listener_accept(l, 3000, &c);

    is_int(r, MPROC_EAUTH, "%s: accept says EAUTH", what);
    ok(now() - t0 < 1.5, "%s: at once (%.2f s), not at a deadline", what,
       now() - t0);
    ok(strstr(mproc_listener_errmsg(l), "client") != NULL,
       "%s: naming the client (%s)", what, mproc_listener_errmsg(l));
    mproc_conn_free(c);
}

int
main(void)
{
    struct mproc_conn_opts o;
    mproc_conn_t *a = NULL, *b = NULL, *c = NULL;
    mproc_listener_t *l = NULL;
    mproc_err_t err;
    size_t big = 40u << 20, n;
    unsigned char in[256];
    char *p;
    void *q = NULL;
    double t0;
    ssize_t got;
    int r, fd;

    alarm(60);
    plan(11);
    signal(SIGPIPE, SIG_IGN);

    /* A stalled send: the peer learns that the connection broke. */
    mproc_conn_opts_init(&o);
    o.stall_timeout_ms = 500;
    if (mproc_conn_pair(&a, &b, &o, &err) < 0) {
        diag("pair: %s", err.msg);
        return 1;
    }
    p = calloc(1, big);
    r = mproc_conn_send_bytes(a, p, big, 1000);
    is_int(r, MPROC_EPIPE, "a send nobody reads breaks after the stall "
           "timeout");
    t0 = now();
    r = mproc_conn_recv_alloc(b, &q, &n, 5000);
    is_int(r, MPROC_EPIPE, "the peer's receive of the cut message: EPIPE");
    ok(now() - t0 < 2.0, "at once (%.2f s), not at its timeout", now() - t0);
    free(q);
    free(p);
    mproc_conn_free(a);
    mproc_conn_free(b);

    /* Clients that hang up in the middle of the handshake. */
    snprintf(name, sizeof(name), "mproc-conn16-break-%d", (int)getpid());
    {
        char addr[96];
        snprintf(addr, sizeof(addr), "unix:@%s", name);
        mproc_conn_opts_init(&o);
        o.handshake_timeout_ms = 10000;
        if (mproc_listener_open(&l, addr, "sixteen-byte-key", 16, &o,
                                &err) < 0) {
            diag("listen: %s", err.msg);
            return 1;
        }
    }
    fd = raw();
    close(fd);
    t0 = now();
    is_int(mproc_listener_accept(l, 300, &c), MPROC_ETIMEDOUT,
           "connect, then close without a byte: no client, nothing said");
    ok(now() - t0 > 0.25, "connect, then close: accept waited its time");

    fd = raw();
    (void)mproc_listener_accept(l, 200, &c); /* sends its hello */
    got = recv(fd, in, sizeof(in), MSG_DONTWAIT);
    (void)!write(fd, in, got > 0 ? (size_t)got / 2 : 0);
    close(fd);
    refused(l, "half an answer, then close");

    fd = raw();
    (void)!write(fd, "\0\0\0\0\0\0\0\x02xy", 10); /* a short frame */
    close(fd);
    refused(l, "a bad hello, then close");
    mproc_listener_free(l);
    return done_testing();
}

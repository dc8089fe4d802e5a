/* SPDX-License-Identifier: MIT */
/*
 * Listeners and Connections (<mproc/connection.h>), after CPython's
 * _TestConnection and _TestListenerClient: messages of every size and
 * byte, the too-small-buffer rule, end of stream, poll, the authkey
 * handshake (right, wrong, missing keys on either side, with a good
 * client served while a bad or silent one fails), every address kind,
 * the socket file's mode and removal, 250 clients at once served by an
 * event loop over mproc_wait(), and clients killed in the middle of a
 * message.
 *
 * Also the two halves of tests/conn-unrelated.sh, which the shell starts
 * as two processes that are not parent and child:
 *   test-conn serve ADDRESS KEYFILE ADDRFILE   serves 3 echo clients
 *   test-conn client ADDRFILE KEYFILE          one echo round trip
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/connection.h>
#include <mproc/process.h>

#include "tap.h"

static const char KEY[] = "the right key";
static const char BADKEY[] = "the wrong key";

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
wait_exit(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

static char tmpdir[64];

static void
path_in_tmp(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "unix:%s/%s", tmpdir, name);
}

/* ---- messages over a pair ---- */

/* A child that echoes every message back until the end of stream. */
static pid_t
echo_child(mproc_conn_t *mine, mproc_conn_t *theirs)
{
    pid_t pid = fork();

    if (pid == 0) {
        void *m;
        size_t n;
        int rc = 0;
        mproc_conn_free(mine);
        while ((rc = mproc_conn_recv_alloc(theirs, &m, &n, 10000)) == 0) {
            rc = mproc_conn_send_bytes(theirs, m, n, 10000);
            free(m);
            if (rc < 0)
                break;
        }
        mproc_conn_free(theirs);
        _exit(rc == MPROC_EPIPE ? 0 : 1);
    }
    mproc_conn_free(theirs);
    return pid;
}

static void
test_messages(void)
{
    struct mproc_conn_opts o;
    mproc_conn_t *a, *b;
    unsigned char all[256], *big, *back;
    size_t n = 99, max = 1 << 20;
    pid_t pid;
    int rc;

    mproc_conn_opts_init(&o);
    o.message_max = max;
    is_int(mproc_conn_pair(&a, &b, &o, NULL), 0, "pair: created");
    pid = echo_child(a, b);
    big = malloc(max + 1);
    back = malloc(max + 1);
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    is_int(mproc_conn_send_bytes(a, "", 0, 1000), 0, "send: empty message");
    rc = mproc_conn_recv_bytes(a, back, 16, &n, 5000);
    ok(rc == 0 && n == 0, "recv: the empty message comes back empty");
    mproc_conn_send_bytes(a, "x", 1, 1000);
    rc = mproc_conn_recv_bytes(a, back, 16, &n, 5000);
    ok(rc == 0 && n == 1 && back[0] == 'x', "1 byte round trip");
    mproc_conn_send_bytes(a, all, 256, 1000);
    rc = mproc_conn_recv_bytes(a, back, 256, &n, 5000);
    ok(rc == 0 && n == 256 && memcmp(back, all, 256) == 0,
       "all 256 byte values round trip (a buffer of exactly the size)");
    mproc_conn_send_bytes(a, all + 1, 255, 1000);
    rc = mproc_conn_recv_bytes(a, back, 10, &n, 5000);
    ok(rc == MPROC_ERANGE && n == 255,
       "buffer too small: MPROC_ERANGE and the size needed");
    like_str(mproc_conn_errmsg(a), "255 bytes", "errmsg names the size");
    is_int(mproc_conn_poll(a, 0), 1, "poll: the kept message is ready");
    rc = mproc_conn_recv_bytes(a, back, 255, &n, 5000);
    ok(rc == 0 && n == 255 && memcmp(back, all + 1, 255) == 0,
       "the message stays for the next receive, whole");
    for (size_t i = 0; i < max; i++)
        big[i] = (unsigned char)(i * 7 + (i >> 9));
    is_int(mproc_conn_send_bytes(a, big, max, 5000), 0,
           "send: a message of message_max bytes");
    rc = mproc_conn_recv_bytes(a, back, max, &n, 10000);
    ok(rc == 0 && n == max && memcmp(back, big, max) == 0,
       "recv: the message of message_max bytes, whole");
    mproc_conn_send_bytes(a, big, max - 1, 5000);
    rc = mproc_conn_recv_bytes(a, back, max, &n, 10000);
    ok(rc == 0 && n == max - 1 && memcmp(back, big, max - 1) == 0,
       "an odd size near the maximum");
    is_int(mproc_conn_send_bytes(a, big, max + 1, 1000), MPROC_EMSGSIZE,
           "send over message_max: MPROC_EMSGSIZE");
    mproc_conn_send_bytes(a, "ok", 2, 1000);
    rc = mproc_conn_recv_bytes(a, back, 16, &n, 5000);
    ok(rc == 0 && n == 2, "the connection works after EMSGSIZE (nothing "
       "was sent)");
    is_int(mproc_conn_poll(a, 100), 0, "poll: nothing within 100 ms");
    is_int(mproc_conn_recv_bytes(a, back, 16, &n, 50), MPROC_ETIMEDOUT,
           "recv: MPROC_ETIMEDOUT");
    mproc_conn_close(a);
    is_int(mproc_conn_send_bytes(a, "x", 1, 0), MPROC_ECLOSED,
           "send on a closed end: MPROC_ECLOSED");
    is_int(mproc_conn_close(a), MPROC_ECLOSED, "close twice: MPROC_ECLOSED");
    is_int(wait_exit(pid), 0, "the echo child saw the end of stream");
    mproc_conn_free(a);
    free(big);
    free(back);
}

static void
on_usr1(int sig)
{
    (void)sig;
}

static void
test_eof_and_framing(void)
{
    mproc_conn_t *a, *b;
    unsigned char buf[64], hdr[8] = { 0, 0, 0, 0, 0, 0, 0, 20 };
    size_t n;
    int rc;

    mproc_conn_pair(&a, &b, NULL, NULL);
    mproc_conn_send_bytes(b, "last", 4, 1000);
    mproc_conn_free(b);
    is_int(mproc_conn_poll(a, 1000), 1, "poll: ready with a message "
           "before the end");
    rc = mproc_conn_recv_bytes(a, buf, sizeof(buf), &n, 1000);
    ok(rc == 0 && n == 4, "what was sent before the close is read");
    is_int(mproc_conn_poll(a, 1000), 1, "poll: ready at the end of stream");
    is_int(mproc_conn_recv_bytes(a, buf, sizeof(buf), &n, 1000), MPROC_EPIPE,
           "recv at the end: MPROC_EPIPE (Python's EOFError)");
    is_int(mproc_conn_send_bytes(a, "x", 1, 1000), MPROC_EPIPE,
           "send to a closed peer: MPROC_EPIPE, no SIGPIPE");
    mproc_conn_free(a);

    /* A message that arrives in pieces, across timeouts. */
    mproc_conn_pair(&a, &b, NULL, NULL);
    ok(write(mproc_conn_fd(b), hdr, 5) == 5, "raw: 5 bytes of a header");
    is_int(mproc_conn_recv_bytes(a, buf, sizeof(buf), &n, 50),
           MPROC_ETIMEDOUT, "half a header: MPROC_ETIMEDOUT");
    ok(write(mproc_conn_fd(b), hdr + 5, 3) == 3 &&
       write(mproc_conn_fd(b), "0123456789", 10) == 10, "raw: the rest of "
       "the header and half the payload");
    is_int(mproc_conn_recv_bytes(a, buf, sizeof(buf), &n, 50),
           MPROC_ETIMEDOUT, "half a payload: MPROC_ETIMEDOUT");
    is_int(mproc_conn_poll(a, 0), 1, "poll: a begun message is ready");
    ok(write(mproc_conn_fd(b), "abcdefghij", 10) == 10, "raw: the rest");
    rc = mproc_conn_recv_bytes(a, buf, sizeof(buf), &n, 1000);
    ok(rc == 0 && n == 20 && memcmp(buf, "0123456789abcdefghij", 20) == 0,
       "the message is whole after the timeouts (nothing lost)");

    /* A peer that announces more than message_max. */
    memset(hdr, 0, sizeof(hdr));
    hdr[2] = 1; /* 2^40 bytes */
    ok(write(mproc_conn_fd(b), hdr, 8) == 8, "raw: a header of 1 TiB");
    is_int(mproc_conn_recv_bytes(a, buf, sizeof(buf), &n, 1000),
           MPROC_EMSGSIZE, "an oversized frame: MPROC_EMSGSIZE, unread");
    like_str(mproc_conn_errmsg(a), "broken", "errmsg: connection broken");
    /* Broken, as mproc-connection(3) says: EPIPE from then on (it gave
     * EMSGSIZE again, and a 1-byte send was told it was too big). */
    is_int(mproc_conn_recv_bytes(a, buf, sizeof(buf), &n, 0),
           MPROC_EPIPE, "and it stays broken: MPROC_EPIPE");
    is_int(mproc_conn_send_bytes(a, "x", 1, 100), MPROC_EPIPE,
           "... a 1-byte send too, not MPROC_EMSGSIZE");
    like_str(mproc_conn_errmsg(a), "over the largest",
             "... and the message still says why");
    mproc_conn_free(a);
    mproc_conn_free(b);

    /* The peer dies in the middle of a message. */
    mproc_conn_pair(&a, &b, NULL, NULL);
    hdr[2] = 0;
    hdr[7] = 100;
    ok(write(mproc_conn_fd(b), hdr, 8) == 8 &&
       write(mproc_conn_fd(b), "abc", 3) == 3, "raw: 3 bytes of 100");
    mproc_conn_free(b);
    is_int(mproc_conn_recv_bytes(a, buf, sizeof(buf), &n, 1000),
           MPROC_ERANGE, "the cut message is too big for the buffer first");
    {
        unsigned char big[128];
        is_int(mproc_conn_recv_bytes(a, big, sizeof(big), &n, 1000),
               MPROC_EPIPE, "a message cut by the peer's end: MPROC_EPIPE");
        like_str(mproc_conn_errmsg(a), "middle", "errmsg: in the middle");
    }
    mproc_conn_free(a);

    /* A signal handler without SA_RESTART interrupts a wait. */
    {
        struct sigaction sa, old;
        pid_t pid;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, &old);
        mproc_conn_pair(&a, &b, NULL, NULL);
        pid = fork();
        if (pid == 0) {
            /* Again and again: one that lands before the wait is lost. */
            for (int i = 0; i < 100; i++) {
                usleep(100000);
                kill(getppid(), SIGUSR1);
            }
            _exit(0);
        }
        is_int(mproc_conn_recv_bytes(a, buf, sizeof(buf), &n, 10000),
               MPROC_EINTR, "a signal (no SA_RESTART) during recv: "
               "MPROC_EINTR");
        kill(pid, SIGKILL);
        wait_exit(pid);
        mproc_conn_send_bytes(b, "after", 5, 1000);
        rc = mproc_conn_recv_bytes(a, buf, sizeof(buf), &n, 1000);
        ok(rc == 0 && n == 5, "the connection works after MPROC_EINTR");
        sigaction(SIGUSR1, &old, NULL);
        mproc_conn_free(a);
        mproc_conn_free(b);
    }

    is_int(mproc_conn_from_fd(&a, 0, NULL, NULL) == 0 ? 0 : -1, -1,
           "from_fd: stdin is no socket: refused");
    {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        mproc_err_t e;
        is_int(mproc_conn_from_fd(&a, fd, NULL, &e), MPROC_EINVAL,
               "from_fd: /dev/null: MPROC_EINVAL");
        like_str(e.msg, "not a stream socket", "and says why");
        close(fd);
    }
}

/* ---- listeners ---- */

/* The bound on a refusal: 1 s, times MPROC_TEST_SCALE under valgrind. */
static int
bound_ms(void)
{
    const char *s = getenv("MPROC_TEST_SCALE");
    return 1000 * (s && atoi(s) > 0 ? atoi(s) : 1);
}

/* A child that connects with `key` and checks one echo; exit 0 on
 * success, 10 for MPROC_EAUTH within bound_ms() (the connect's
 * timeout), 2 for anything slower. */
static pid_t
client_child(const char *address, const char *key, int linger_ms)
{
    pid_t pid = fork();

    if (pid == 0) {
        mproc_conn_t *c;
        mproc_err_t e;
        char buf[64];
        size_t n;
        int rc = mproc_client_connect(&c, address, key,
                                      key ? strlen(key) : 0, bound_ms(),
                                      NULL, &e);
        if (rc == MPROC_EAUTH)
            _exit(10);
        if (rc == MPROC_ETIMEDOUT)
            _exit(2);
        if (rc < 0) {
            fprintf(stderr, "client: %s\n", e.msg);
            _exit(3);
        }
        if (linger_ms)
            usleep((useconds_t)linger_ms * 1000);
        rc = mproc_conn_send_bytes(c, "ping", 4, 5000);
        if (rc == 0)
            rc = mproc_conn_recv_bytes(c, buf, sizeof(buf), &n, 5000);
        mproc_conn_free(c);
        _exit(rc == 0 && n == 4 && memcmp(buf, "ping", 4) == 0 ? 0 : 4);
    }
    return pid;
}

/* Serve as a server should: one loop over mproc_wait() on the listener
 * and its Connections, echoing each message, until `want` Connections
 * were served and `*refused` refusals seen (the count is returned
 * there); gives up after 10 s.  As with Python's Listener, handshakes
 * move only inside accept, so a server must not sit in one client's
 * receive while others wait at the door. */
static char last_refusal[MPROC_ERRMSG_MAX];

#define SERVE_MAX 8

static int
serve(mproc_listener_t *l, int want, int *refused)
{
    long long end = now_ms() + 10000;
    int served = 0, want_refused = *refused;
    mproc_conn_t *cs[SERVE_MAX] = { 0 };

    *refused = 0;
    while ((served < want || *refused < want_refused) && now_ms() < end) {
        int fds[SERVE_MAX + 1], ready[SERVE_MAX + 1];
        size_t n = 0;
        mproc_conn_t *c;
        int rc;

        fds[n++] = mproc_listener_fd(l);
        for (int i = 0; i < SERVE_MAX; i++)
            if (cs[i])
                fds[n++] = mproc_conn_fd(cs[i]);
        if (mproc_wait(fds, n, 200, ready) <= 0)
            continue;
        while ((rc = mproc_listener_accept(l, 0, &c)) != MPROC_ETIMEDOUT) {
            if (rc == MPROC_EAUTH) {
                (*refused)++;
                snprintf(last_refusal, sizeof(last_refusal), "%s",
                         mproc_listener_errmsg(l));
                diag("refused: %s", last_refusal);
                continue;
            }
            if (rc < 0)
                break;
            for (int i = 0; i < SERVE_MAX && c; i++)
                if (!cs[i]) {
                    cs[i] = c;
                    c = NULL;
                }
            mproc_conn_free(c);
        }
        for (int i = 0; i < SERVE_MAX; i++) {
            char buf[64];
            size_t len;
            if (!cs[i])
                continue;
            rc = mproc_conn_recv_bytes(cs[i], buf, sizeof(buf), &len, 0);
            if (rc == MPROC_ETIMEDOUT)
                continue;
            if (rc == 0 && mproc_conn_send_bytes(cs[i], buf, len, 5000) == 0)
                served++;
            mproc_conn_free(cs[i]);
            cs[i] = NULL;
        }
    }
    for (int i = 0; i < SERVE_MAX; i++)
        mproc_conn_free(cs[i]);
    return served;
}

static void
test_auth(const char *address)
{
    mproc_listener_t *l;
    mproc_err_t e;
    pid_t good, bad, none;
    int refused = 0;
    long long t0;

    is_int(mproc_listener_open(&l, address, KEY, strlen(KEY), NULL, &e), 0,
           "%s: listener with an authkey", address);
    good = client_child(mproc_listener_address(l), KEY, 0);
    is_int(serve(l, 1, &refused), 1, "%s: right key: served", address);
    is_int(wait_exit(good), 0, "%s: right key: the client got its echo",
           address);

    t0 = now_ms();
    bad = client_child(mproc_listener_address(l), BADKEY, 0);
    none = client_child(mproc_listener_address(l), NULL, 0);
    good = client_child(mproc_listener_address(l), KEY, 300);
    refused = 2;
    is_int(serve(l, 1, &refused), 1, "%s: the right-key client is served "
           "beside two bad ones", address);
    is_int(wait_exit(bad), 10, "%s: wrong key: MPROC_EAUTH in the client "
           "within 1 s", address);
    is_int(wait_exit(none), 10, "%s: no key: MPROC_EAUTH in the client "
           "within 1 s", address);
    is_int(wait_exit(good), 0, "%s: the right-key client got its echo",
           address);
    is_int(refused, 2, "%s: the listener reported both refusals "
           "(MPROC_EAUTH)", address);
    ok(now_ms() - t0 < 5000, "%s: all of it in bounded time", address);
    mproc_listener_free(l);

    /* A client with a key at a listener without one. */
    is_int(mproc_listener_open(&l, address, NULL, 0, NULL, &e), 0,
           "%s: listener without authkey", address);
    bad = client_child(mproc_listener_address(l), KEY, 0);
    good = client_child(mproc_listener_address(l), NULL, 0);
    refused = 1;
    is_int(serve(l, 1, &refused), 1, "%s: no key on both sides: served",
           address);
    is_int(wait_exit(bad), 10, "%s: a key at a keyless listener: "
           "MPROC_EAUTH in the client", address);
    is_int(wait_exit(good), 0, "%s: the keyless client got its echo",
           address);
    is_int(refused, 1, "%s: and MPROC_EAUTH in the listener", address);
    like_str(last_refusal, "uses an authkey",
             "%s: the message says what was wrong", address);
    mproc_listener_free(l);
}

/* A client that connects and says nothing, or sends garbage, does not
 * delay a good one, and is dropped at the handshake deadline. */
static void
test_silent_client(void)
{
    char address[128];
    struct mproc_conn_opts o;
    mproc_listener_t *l;
    mproc_conn_t *c;
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    int silent, garbage, rc;
    pid_t good;
    long long t0;

    path_in_tmp(address, sizeof(address), "silent.sock");
    mproc_conn_opts_init(&o);
    o.handshake_timeout_ms = 400;
    mproc_listener_open(&l, address, KEY, strlen(KEY), &o, NULL);
    snprintf(un.sun_path, sizeof(un.sun_path), "%.100s", address + 5);
    silent = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    garbage = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ok(connect(silent, (struct sockaddr *)&un, sizeof(un)) == 0 &&
       connect(garbage, (struct sockaddr *)&un, sizeof(un)) == 0,
       "raw: a silent client and a garbage one connected");
    ok(write(garbage, "GET / HTTP/1.0\r\n\r\n", 18) == 18,
       "raw: garbage sent");
    t0 = now_ms();
    good = client_child(address, KEY, 0);
    {
        int refused = 0;
        is_int(serve(l, 1, &refused), 1, "a good client is served while a "
               "silent one waits");
    }
    is_int(wait_exit(good), 0, "the good client got its echo");
    rc = 0;
    while (rc != MPROC_ETIMEDOUT && now_ms() - t0 < 3000) {
        rc = mproc_listener_accept(l, 1000, &c);
        if (rc == MPROC_EAUTH &&
            strstr(mproc_listener_errmsg(l), "did not finish"))
            break;
    }
    is_int(rc, MPROC_EAUTH, "the silent client: MPROC_EAUTH at the "
           "deadline");
    like_str(mproc_listener_errmsg(l), "400 ms", "the message names it");
    {
        char b[8];
        ok(read(silent, b, sizeof(b)) >= 0, "the silent client's socket "
           "was closed by the listener");
    }
    close(silent);
    close(garbage);
    mproc_listener_free(l);
}

/* More silent connections than the handshakes a Listener keeps at once
 * (1,024) do not keep a real client out: the oldest are dropped to make
 * room.  (The Listener stopped accepting instead, and a real client
 * waited in the backlog for the silent ones' deadline, 5 s; a few
 * thousand of them, from any local user, made it time out.) */
static void
test_silent_flood(void)
{
    enum { FLOOD = 1500 };
    static int fds[FLOOD];
    char address[128];
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    struct rlimit rl;
    mproc_listener_t *l;
    mproc_conn_t *c;
    int i, opened = 0, refused = 0;
    pid_t good;
    long long t0;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 ||
        (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * FLOOD + 256)) {
        ok(1, "# SKIP the descriptor limit is below %d", 2 * FLOOD + 256);
        ok(1, "# SKIP the descriptor limit is below %d", 2 * FLOOD + 256);
        return;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 2 * FLOOD + 256) {
        rl.rlim_cur = 2 * FLOOD + 256;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    path_in_tmp(address, sizeof(address), "flood.sock");
    mproc_listener_open(&l, address, KEY, strlen(KEY), NULL, NULL);
    snprintf(un.sun_path, sizeof(un.sun_path), "%.100s", address + 5);
    for (i = 0; i < FLOOD; i++) {
        fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        0);
        if (fds[i] < 0)
            break;
        while (connect(fds[i], (struct sockaddr *)&un, sizeof(un)) < 0 &&
               errno == EAGAIN)
            (void)mproc_listener_accept(l, 0, &c); /* a full backlog */
        opened++;
        if (i % 64 == 63)
            while (mproc_listener_accept(l, 0, &c) == MPROC_EAUTH)
                refused++;
    }
    ok(opened == FLOOD, "%d silent connections opened", opened);
    t0 = now_ms();
    good = client_child(address, KEY, 0);
    refused = 0; /* serve() waits for none */
    is_int(serve(l, 1, &refused), 1, "a real client is served behind them");
    is_int(wait_exit(good), 0, "the real client got its echo");
    ok(now_ms() - t0 < 2500, "within 2.5 s, not at the silent ones' 5 s "
       "deadline (%lld ms)", now_ms() - t0);
    for (i = 0; i < opened; i++)
        close(fds[i]);
    mproc_listener_free(l);
}

/* The same flood under a low descriptor limit (RLIMIT_NOFILE 1024 is a
 * common default): the Listener runs out of descriptors before it has
 * 1,024 handshakes, accept4() fails with EMFILE, and the oldest silent
 * handshake must then go to make room, as at 1,024.  (accept returned
 * EMFILE on every call instead: a manager spun at 100 % CPU and real
 * clients waited for the silent ones' 5 s deadline, or timed out while
 * the flood reconnected.) */
/* valgrind keeps descriptors of its own at the top of the table and
 * handles RLIMIT_NOFILE itself: the EMFILE tests below cannot run under
 * it (the sanitizer build runs them). */
static bool
under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");

    return pre != NULL && strstr(pre, "vgpreload") != NULL;
}

static void
test_silent_flood_emfile(void)
{
    enum { FLOOD = 400, ROOM = 150 };
    char address[128];
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    struct rlimit rl, low;
    mproc_listener_t *l;
    mproc_conn_t *c;
    int p[2], probe, refused = 0, served;
    char b;
    pid_t flooder, good;
    long long t0, end;

    if (under_valgrind()) {
        for (int i = 0; i < 3; i++)
            ok(1, "# SKIP under valgrind (it handles RLIMIT_NOFILE itself)");
        return;
    }

    path_in_tmp(address, sizeof(address), "emfile.sock");
    mproc_listener_open(&l, address, KEY, strlen(KEY), NULL, NULL);
    snprintf(un.sun_path, sizeof(un.sun_path), "%.100s", address + 5);
    if (pipe(p) < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0)
    {
        ok(0, "pipe or getrlimit: %s", strerror(errno));
        return;
    }
    flooder = fork();
    if (flooder == 0) {
        int n = 0;
        low = rl;
        low.rlim_cur = FLOOD + 64;
        setrlimit(RLIMIT_NOFILE, &low);
        for (int i = 0; i < FLOOD; i++) {
            int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0)
                break;
            n++;
        }
        (void)!write(p[1], "x", 1);
        pause();
        _exit(n == FLOOD ? 0 : 1);
    }
    close(p[1]);
    /* Room for ROOM more descriptors in this process, not for FLOOD. */
    probe = dup(0);
    low = rl;
    low.rlim_cur = (rlim_t)probe + ROOM;
    close(probe);
    setrlimit(RLIMIT_NOFILE, &low);
    end = now_ms() + 10000;
    while (now_ms() < end) {
        struct pollfd pf = { .fd = p[0], .events = POLLIN };
        (void)mproc_listener_accept(l, 0, &c);
        mproc_conn_free(c);
        if (poll(&pf, 1, 1) == 1)
            break;
    }
    (void)!read(p[0], &b, 1);
    close(p[0]);
    for (int i = 0; i < 4 * FLOOD; i++) { /* take what the backlog holds */
        (void)mproc_listener_accept(l, 0, &c);
        mproc_conn_free(c);
    }
    t0 = now_ms();
    good = client_child(address, KEY, 0);
    served = serve(l, 1, &refused);
    is_int(served, 1, "a real client is served behind %d silent ones with "
           "descriptors for %d", FLOOD, ROOM);
    is_int(wait_exit(good), 0, "the real client got its echo");
    ok(now_ms() - t0 < 2500, "within 2.5 s, not at the silent ones' 5 s "
       "deadline (%lld ms)", now_ms() - t0);
    setrlimit(RLIMIT_NOFILE, &rl);
    kill(flooder, SIGKILL);
    wait_exit(flooder);
    mproc_listener_free(l);
}

/* Out of descriptors with no handshake to drop (they are all clients'):
 * the client waiting is refused at once.  accept4() failed with EMFILE
 * on every call: the listening socket stayed readable, a server's loop
 * spun, and the client waited for its own timeout. */
static void
test_emfile_nothing_pending(void)
{
    char address[128];
    struct rlimit rl, low;
    mproc_listener_t *l;
    mproc_conn_t *c;
    int probe, rc, refused = 0, calls = 0, client;
    pid_t who;
    long long t0, end;

    if (under_valgrind()) {
        for (int i = 0; i < 4; i++)
            ok(1, "# SKIP under valgrind (it handles RLIMIT_NOFILE itself)");
        return;
    }

    path_in_tmp(address, sizeof(address), "emfile2.sock");
    if (mproc_listener_open(&l, address, KEY, strlen(KEY), NULL, NULL) < 0 ||
        getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        ok(0, "listener or getrlimit: %s", strerror(errno));
        return;
    }
    t0 = now_ms();
    who = client_child(address, KEY, 0);
    /* No descriptor left in this process: the lowest free one is the
     * limit. */
    probe = dup(0);
    close(probe);
    low = rl;
    low.rlim_cur = (rlim_t)probe;
    setrlimit(RLIMIT_NOFILE, &low);
    end = now_ms() + 4000;
    while (refused == 0 && now_ms() < end) {
        rc = mproc_listener_accept(l, 100, &c);
        calls++;
        if (rc == MPROC_EAUTH) {
            refused = 1;
            diag("refused: %s", mproc_listener_errmsg(l));
        } else if (rc == 0) {
            mproc_conn_free(c);
        }
    }
    setrlimit(RLIMIT_NOFILE, &rl);
    ok(refused, "out of descriptors, nothing to drop: the client is "
       "refused (%d accept calls)", calls);
    like_str(mproc_listener_errmsg(l), "out of descriptors",
         "  the refusal says why");
    client = wait_exit(who);
    ok(client != 0 && client != 2, "  the client is told at once, not at "
       "its handshake timeout (exit %d, %lld ms)", client, now_ms() - t0);
    ok(now_ms() - t0 < 2500, "  within 2.5 s (%lld ms)", now_ms() - t0);
    mproc_listener_free(l);
}

static void
test_addresses(void)
{
    char address[160], file[128];
    mproc_listener_t *l, *l2;
    mproc_conn_t *c;
    mproc_err_t e;
    struct stat st;
    struct mproc_conn_opts o;
    mode_t old;
    int fd, refused = 0;
    pid_t good;

    static const char *bad[] = { "foo", "unix:", "tcp:", "tcp:host",
                                 "tcp:127.0.0.1:99999", "tcp:127.0.0.1:x",
                                 "udp:1.2.3.4:5", "unix:@" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(mproc_listener_open(&l, bad[i], NULL, 0, NULL, &e),
               MPROC_EINVAL, "bad address '%s': MPROC_EINVAL", bad[i]);
    }
    like_str(e.msg, "abstract", "the message says what was expected");
    memset(address, 'x', sizeof(address));
    memcpy(address, "unix:/tmp/", 10);
    address[sizeof(address) - 1] = '\0';
    is_int(mproc_listener_open(&l, address, NULL, 0, NULL, &e), MPROC_EINVAL,
           "a path over 107 bytes: MPROC_EINVAL");
    like_str(e.msg, "shorter path", "and the advice");

    /* unix:PATH: mode 0600 whatever the umask, removed at close. */
    path_in_tmp(address, sizeof(address), "a.sock");
    old = umask(0);
    is_int(mproc_listener_open(&l, address, NULL, 0, NULL, &e), 0,
           "unix:PATH listener (umask 0)");
    umask(old);
    ok(stat(address + 5, &st) == 0 && S_ISSOCK(st.st_mode) &&
       (st.st_mode & 07777) == 0600, "the socket file is mode 0600");
    is_str(mproc_listener_address(l), address, "address: as given");
    is_int(mproc_listener_open(&l2, address, NULL, 0, NULL, &e), MPROC_EBUSY,
           "a second listener at a live path: MPROC_EBUSY");
    good = fork();
    if (good == 0) {
        mproc_listener_free(l); /* a child frees its inherited copy */
        _exit(0);
    }
    is_int(wait_exit(good), 0, "a forked child freed its copy");
    ok(stat(address + 5, &st) == 0, "the socket file stays for the parent");
    {
        /* A handshake under way while a child frees its copy. */
        int raw = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        snprintf(un.sun_path, sizeof(un.sun_path), "%.100s", address + 5);
        ok(connect(raw, (struct sockaddr *)&un, sizeof(un)) == 0, "raw "
           "client");
        is_int(mproc_listener_accept(l, 100, &c), MPROC_ETIMEDOUT,
               "its handshake is pending");
        good = fork();
        if (good == 0) {
            mproc_listener_free(l);
            _exit(0);
        }
        wait_exit(good);
        ok(write(raw, "GET / HTTP/1.0\r\n\r\n", 18) == 18, "raw: garbage");
        /* Seen at once (not at the 5 s deadline): the child's free left
         * the parent's epoll set alone. */
        is_int(mproc_listener_accept(l, 2000, &c), MPROC_EAUTH,
               "the parent still watches its pending handshake");
        close(raw);
    }
    good = client_child(address, NULL, 0);
    is_int(serve(l, 1, &refused), 1, "unix:PATH: served");
    is_int(wait_exit(good), 0, "unix:PATH: echo");
    mproc_listener_close(l);
    ok(lstat(address + 5, &st) < 0 && errno == ENOENT,
       "the socket file is removed by close");
    is_int(mproc_listener_accept(l, 0, &c), MPROC_ECLOSED,
           "accept after close: MPROC_ECLOSED");
    mproc_listener_free(l);
    {
        int rc = mproc_client_connect(&c, address, NULL, 0, 1000, NULL, &e);
        ok(rc == MPROC_ENOENT || rc == MPROC_ECONNREFUSED,
           "connect where nobody listens: ENOENT or ECONNREFUSED (%s)",
           mproc_err_name(rc));
    }

    /* A file that is not a socket is never replaced. */
    snprintf(file, sizeof(file), "%s/plain", tmpdir);
    fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ok(write(fd, "data", 4) == 4, "a plain file");
    close(fd);
    path_in_tmp(address, sizeof(address), "plain");
    is_int(mproc_listener_open(&l, address, NULL, 0, NULL, &e), MPROC_EEXIST,
           "a plain file at the path: MPROC_EEXIST");
    ok(stat(file, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4,
       "and it is untouched");
    unlink(file);

    /* A stale socket (its listener gone without close) is replaced. */
    {
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        path_in_tmp(address, sizeof(address), "stale.sock");
        snprintf(un.sun_path, sizeof(un.sun_path), "%.100s", address + 5);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ok(bind(fd, (struct sockaddr *)&un, sizeof(un)) == 0,
           "a stale socket file");
        close(fd);
        is_int(mproc_listener_open(&l, address, NULL, 0, NULL, &e), 0,
               "a stale socket file is replaced");
        mproc_listener_free(l);
    }

    /* unix:@NAME, abstract. */
    snprintf(address, sizeof(address), "unix:@mproc-test-conn-%ld",
             (long)getpid());
    is_int(mproc_listener_open(&l, address, KEY, strlen(KEY), NULL, &e), 0,
           "unix:@NAME listener");
    good = client_child(address, KEY, 0);
    is_int(serve(l, 1, &refused), 1, "unix:@NAME: served");
    is_int(wait_exit(good), 0, "unix:@NAME: echo");
    is_int(mproc_listener_open(&l2, address, NULL, 0, NULL, &e), MPROC_EBUSY,
           "a second listener at the same abstract name: MPROC_EBUSY");
    mproc_listener_free(l);

    /* tcp: port 0, loopback only unless asked. */
    is_int(mproc_listener_open(&l, "tcp:127.0.0.1:0", KEY, strlen(KEY), NULL,
                               &e), 0, "tcp:127.0.0.1:0 listener");
    ok(strncmp(mproc_listener_address(l), "tcp:127.0.0.1:", 14) == 0 &&
       atoi(mproc_listener_address(l) + 14) > 0,
       "address: the port chosen (%s)", mproc_listener_address(l));
    good = client_child(mproc_listener_address(l), KEY, 0);
    is_int(serve(l, 1, &refused), 1, "tcp: served");
    is_int(wait_exit(good), 0, "tcp: echo");
    is_int(mproc_listener_open(&l2, mproc_listener_address(l), NULL, 0, NULL,
                               &e), MPROC_EBUSY,
           "a second listener at the same tcp port: MPROC_EBUSY "
           "(CPython's test_multiple_bind)");
    mproc_listener_free(l);
    is_int(mproc_listener_open(&l, "tcp:0.0.0.0:0", NULL, 0, NULL, &e),
           MPROC_EINVAL, "tcp:0.0.0.0 without MPROC_CONN_ANY: refused");
    like_str(e.msg, "MPROC_CONN_ANY", "the message says how to ask");
    mproc_conn_opts_init(&o);
    o.flags = MPROC_CONN_ANY;
    is_int(mproc_listener_open(&l, "tcp:0.0.0.0:0", NULL, 0, &o, &e), 0,
           "tcp:0.0.0.0 with MPROC_CONN_ANY");
    mproc_listener_free(l);
    is_int(mproc_listener_open(&l, "tcp:0", NULL, 0, NULL, &e), 0,
           "tcp:PORT means loopback");
    like_str(mproc_listener_address(l), "tcp:127.0.0.1:", "tcp:0 is on "
             "127.0.0.1");
    mproc_listener_free(l);
}

/* ---- many clients, an event loop over mproc_wait() ---- */

#define NCHILD 10
#define PERCHILD 25

static void
test_many(const char *address)
{
    mproc_listener_t *l;
    mproc_conn_t *conns[NCHILD * PERCHILD + 1] = { 0 };
    int fds[NCHILD * PERCHILD + 1], ready[NCHILD * PERCHILD + 1];
    pid_t pids[NCHILD];
    int served = 0, open_now = 0, max_open = 0, bad_children = 0;
    long long end;

    is_int(mproc_listener_open(&l, address, KEY, strlen(KEY), NULL, NULL), 0,
           "many: listener at %s", address);
    for (int i = 0; i < NCHILD; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            mproc_conn_t *mine[PERCHILD];
            int rc = 0;
            char buf[32], want[32];
            size_t n;
            for (int k = 0; k < PERCHILD && rc == 0; k++)
                rc = mproc_client_connect(&mine[k], address, KEY, strlen(KEY),
                                          20000, NULL, NULL);
            for (int k = 0; k < PERCHILD && rc == 0; k++) {
                snprintf(want, sizeof(want), "%d/%d", i, k);
                rc = mproc_conn_send_bytes(mine[k], want, strlen(want), 20000);
            }
            for (int k = 0; k < PERCHILD && rc == 0; k++) {
                snprintf(want, sizeof(want), "%d/%d", i, k);
                rc = mproc_conn_recv_bytes(mine[k], buf, sizeof(buf), &n,
                                           20000);
                if (rc == 0 && (n != strlen(want) || memcmp(buf, want, n)))
                    rc = -1;
            }
            _exit(rc == 0 ? 0 : 1);
        }
    }
    /* One loop: the listener's fd and every Connection's fd, in one
     * mproc_wait(), accept and recv with timeout 0 (as a server does). */
    end = now_ms() + 40000;
    while (served < NCHILD * PERCHILD && now_ms() < end) {
        size_t n = 0;
        ssize_t k;
        fds[n] = mproc_listener_fd(l);
        conns[n++] = NULL;
        for (int i = 1; i <= NCHILD * PERCHILD; i++)
            if (conns[i])
                fds[n++] = mproc_conn_fd(conns[i]);
        k = mproc_wait(fds, n, 1000, ready);
        for (ssize_t j = 0; j < k; j++) {
            if (ready[j] == fds[0]) {
                mproc_conn_t *c;
                while (mproc_listener_accept(l, 0, &c) == 0) {
                    for (int i = 1; i <= NCHILD * PERCHILD; i++)
                        if (!conns[i]) {
                            conns[i] = c;
                            c = NULL;
                            break;
                        }
                    mproc_conn_free(c);
                    if (++open_now > max_open)
                        max_open = open_now;
                }
                continue;
            }
            for (int i = 1; i <= NCHILD * PERCHILD; i++) {
                char buf[32];
                size_t len;
                int rc;
                if (!conns[i] || mproc_conn_fd(conns[i]) != ready[j])
                    continue;
                rc = mproc_conn_recv_bytes(conns[i], buf, sizeof(buf), &len,
                                           0);
                if (rc == 0 && mproc_conn_send_bytes(conns[i], buf, len,
                                                     5000) == 0)
                    served++;
                if (rc != MPROC_ETIMEDOUT && rc != 0) {
                    mproc_conn_free(conns[i]);
                    conns[i] = NULL;
                    open_now--;
                }
                break;
            }
        }
    }
    for (int i = 0; i < NCHILD; i++)
        bad_children += wait_exit(pids[i]) != 0;
    is_int(served, NCHILD * PERCHILD, "many: %d clients served by one "
           "mproc_wait() loop", NCHILD * PERCHILD);
    is_int(bad_children, 0, "many: every client got its own echo");
    ok(max_open > 20, "many: clients were connected at once (%d)", max_open);
    for (int i = 1; i <= NCHILD * PERCHILD; i++)
        mproc_conn_free(conns[i]);
    mproc_listener_free(l);
}

/* A client killed in the middle of a message: the server's receive ends
 * with MPROC_EPIPE, and a server waiting on a killed client is freed. */
static void
test_killed_client(void)
{
    char address[128];
    mproc_listener_t *l;
    mproc_conn_t *c = NULL;
    char buf[256];
    size_t n;
    int p[2], rc;
    pid_t pid;

    path_in_tmp(address, sizeof(address), "kill.sock");
    mproc_listener_open(&l, address, KEY, strlen(KEY), NULL, NULL);
    ok(pipe2(p, O_CLOEXEC) == 0, "pipe");
    pid = fork();
    if (pid == 0) {
        mproc_conn_t *mine;
        unsigned char hdr[8] = { 0, 0, 0, 0, 0, 0, 0, 200 };
        close(p[0]);
        if (mproc_client_connect(&mine, address, KEY, strlen(KEY), 5000,
                                 NULL, NULL) < 0)
            _exit(1);
        /* Half a message, then wait to be killed. */
        if (write(mproc_conn_fd(mine), hdr, 8) != 8 ||
            write(mproc_conn_fd(mine), "partial", 7) != 7 ||
            write(p[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(p[1]);
    rc = mproc_listener_accept(l, 5000, &c);
    is_int(rc, 0, "killed: the client was accepted");
    ok(read(p[0], buf, 1) == 1, "killed: the client sent half a message");
    close(p[0]);
    is_int(mproc_conn_recv_bytes(c, buf, sizeof(buf), &n, 100),
           MPROC_ETIMEDOUT, "killed: half a message times out, kept");
    kill(pid, SIGKILL);
    is_int(mproc_conn_recv_bytes(c, buf, sizeof(buf), &n, 5000), MPROC_EPIPE,
           "killed: SIGKILL mid-message: MPROC_EPIPE, no hang");
    is_int(wait_exit(pid), 128 + SIGKILL, "killed: the client died of "
           "SIGKILL");
    mproc_conn_free(c);
    mproc_listener_free(l);
}

/* CPython's test_issue14725 and test_issue16955: the client sends and
 * closes before the server gets to it; the message, then the end of the
 * stream, are still there, and poll sees the message. */
static void
test_late_accept(void)
{
    char address[128], buf[16];
    mproc_listener_t *l;
    mproc_conn_t *c = NULL;
    size_t n;
    pid_t pid;

    path_in_tmp(address, sizeof(address), "late.sock");
    mproc_listener_open(&l, address, KEY, strlen(KEY), NULL, NULL);
    pid = fork();
    if (pid == 0) {
        mproc_conn_t *m;
        int rc = mproc_client_connect(&m, address, KEY, strlen(KEY), 10000,
                                      NULL, NULL);
        if (rc == 0)
            rc = mproc_conn_send_bytes(m, "hello", 5, 1000);
        mproc_conn_free(m);
        _exit(rc == 0 ? 0 : 1);
    }
    usleep(300000);
    is_int(mproc_listener_accept(l, 5000, &c), 0, "late accept: the waiting "
           "client is accepted");
    is_int(wait_exit(pid), 0, "late accept: the client sent and closed");
    is_int(mproc_conn_poll(c, 1000), 1, "late accept: poll sees the message");
    ok(mproc_conn_recv_bytes(c, buf, sizeof(buf), &n, 1000) == 0 && n == 5 &&
       memcmp(buf, "hello", 5) == 0, "late accept: the message is there");
    is_int(mproc_conn_recv_bytes(c, buf, sizeof(buf), &n, 1000), MPROC_EPIPE,
           "late accept: then the end of the stream");
    mproc_conn_free(c);
    mproc_listener_free(l);
}

static void
test_wait(void)
{
    char address[128];
    mproc_listener_t *l;
    mproc_conn_t *c, *s;
    int fds[2], ready[2];

    path_in_tmp(address, sizeof(address), "wait.sock");
    mproc_listener_open(&l, address, NULL, 0, NULL, NULL);
    fds[0] = mproc_listener_fd(l);
    is_int(mproc_wait(fds, 1, 50, ready), 0, "mproc_wait: an idle listener "
           "is not ready");
    is_int(mproc_client_connect(&c, address, NULL, 0, 0, NULL, NULL),
           MPROC_ETIMEDOUT, "connect with timeout 0: the handshake needs "
           "the listener: MPROC_ETIMEDOUT");
    /* It sent its hello, then gave up: a client that hung up in its
     * handshake, said (mproc_listener_accept(3)). */
    is_int(mproc_listener_accept(l, 200, &s), MPROC_EAUTH,
           "accept: the client gave up in its handshake: MPROC_EAUTH");
    {
        pid_t pid = fork();
        if (pid == 0) {
            mproc_conn_t *m;
            if (mproc_client_connect(&m, address, NULL, 0, 5000, NULL,
                                     NULL) < 0)
                _exit(1);
            mproc_conn_send_bytes(m, "hi", 2, 1000);
            mproc_conn_free(m);
            _exit(0);
        }
        is_int(mproc_wait(fds, 1, 5000, ready), 1, "mproc_wait: the listener "
               "fd is ready when a client comes");
        s = NULL;
        for (int i = 0; i < 50 && !s; i++)
            if (mproc_listener_accept(l, 100, &s) < 0)
                s = NULL;
        ok(s != NULL, "accept after the wait");
        fds[1] = mproc_conn_fd(s);
        ok((fcntl(fds[0], F_GETFD) & FD_CLOEXEC) &&
           (fcntl(fds[1], F_GETFD) & FD_CLOEXEC),
           "the listener's and an accepted connection's fds are CLOEXEC");
        is_int(mproc_wait(fds + 1, 1, 5000, ready), 1, "mproc_wait: the "
               "connection fd is ready with a message");
        is_int(ready[0], fds[1], "mproc_wait: reports the connection fd");
        is_int(wait_exit(pid), 0, "the client ended");
        mproc_conn_free(s);
    }
    mproc_listener_free(l);
}

/* ---- the halves of tests/conn-unrelated.sh ---- */

static size_t
read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    size_t n;
    if (!f)
        return 0;
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    return n;
}

static int
main_serve(const char *address, const char *keyfile, const char *addrfile)
{
    char key[256], tmp[512];
    mproc_listener_t *l;
    mproc_err_t e;
    size_t keylen = read_file(keyfile, key, sizeof(key));
    int refused, served;
    FILE *f;

    alarm(60);
    if (mproc_listener_open(&l, address, key, keylen, NULL, &e) < 0) {
        fprintf(stderr, "serve: %s\n", e.msg);
        return 1;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", addrfile);
    f = fopen(tmp, "we");
    fprintf(f, "%s\n", mproc_listener_address(l));
    fclose(f);
    rename(tmp, addrfile);
    refused = 1;
    served = serve(l, 2, &refused);
    printf("served %d refused %d\n", served, refused);
    mproc_listener_free(l);
    return served == 2 && refused >= 1 ? 0 : 1;
}

static int
main_client(const char *addrfile, const char *keyfile)
{
    char key[256], address[256], buf[64];
    mproc_conn_t *c;
    mproc_err_t e;
    size_t keylen = read_file(keyfile, key, sizeof(key)), n;
    int rc;

    alarm(30);
    if (!read_file(addrfile, address, sizeof(address)))
        return 2;
    rc = mproc_client_connect(&c, address, key, keylen, 10000, NULL, &e);
    if (rc < 0) {
        printf("client: %s: %s\n", mproc_err_name(rc), e.msg);
        return rc == MPROC_EAUTH ? 10 : 1;
    }
    rc = mproc_conn_send_bytes(c, "unrelated", 9, 5000);
    if (rc == 0)
        rc = mproc_conn_recv_bytes(c, buf, sizeof(buf), &n, 5000);
    mproc_conn_free(c);
    if (rc < 0 || n != 9 || memcmp(buf, "unrelated", 9) != 0)
        return 1;
    printf("client: echo from pid-unrelated server ok\n");
    return 0;
}

int
main(int argc, char **argv)
{
    char address[128];

    if (argc == 5 && strcmp(argv[1], "serve") == 0)
        return main_serve(argv[2], argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[1], "client") == 0)
        return main_client(argv[2], argv[3]);
    alarm(120);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mproc-conn-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_messages();
    test_eof_and_framing();
    path_in_tmp(address, sizeof(address), "auth.sock");
    test_auth(address);
    test_auth("tcp:127.0.0.1:0");
    snprintf(address, sizeof(address), "unix:@mproc-test-auth-%ld",
             (long)getpid());
    test_auth(address);
    test_silent_client();
    test_silent_flood();
    test_silent_flood_emfile();
    test_emfile_nothing_pending();
    test_addresses();
    path_in_tmp(address, sizeof(address), "many.sock");
    test_many(address);
    test_killed_client();
    test_late_accept();
    test_wait();
    ok(rmdir(tmpdir) == 0, "no socket file left behind (%s)", tmpdir);
    ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "no child left");
    return done_testing();
}

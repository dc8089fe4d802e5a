/* SPDX-License-Identifier: MIT */
/*
 * Channel waits without a deadline (issue 13): where the backend sleeps in
 * the read or write system call itself (pipe), what a user relies on
 * stays as it was with poll(): a signal handler without SA_RESTART ends
 * a wait of an MPROC__CHAN_EINTR channel before any byte of the message
 * moved and never after; other handlers do not end it; a peer that dies
 * ends it with EPIPE; a large message interrupted again and again still
 * arrives whole.  Plus: an mq channel opened alone carries a 4 KiB
 * payload as one chunk.  Run for every backend.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "ipc/chan_int.h"
#include "tap.h"

static const char *backends[] = {"pipe", "mq", "shmring"};
static volatile sig_atomic_t hits;
/* Buffers a forked child frees before it exits (valgrind-clean). */
static void *child_frees[2];

static void
child_exit(int code)
{
    free(child_frees[0]);
    free(child_frees[1]);
    _exit(code);
}

static void
on_signal(int sig)
{
    (void)sig;
    hits++;
}

static void
handler(bool restart)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
}

static int
wait_exit(pid_t pid)
{
    int st = 0;

    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

static struct mproc_chan *
open_chan(const char *b, unsigned flags, size_t capacity)
{
    struct mproc__chan_opts o = {.flags = flags, .capacity = capacity,
                                 .group = 1};
    struct mproc_chan *ch = NULL;
    mproc_err_t err;

    if (mproc__chan_open(&ch, b, &o, &err) != 0) {
        diag("open %s: %s", b, err.msg);
        exit(1);
    }
    return ch;
}

/* A child that signals us `n` times, every `ms`, then (with `ch`) sends
 * one message "late" on its WR side.  Not at a multiple of 50 ms: a
 * shmring sleeper wakes every MPROC__CHAN_SLICE_MS to look for its peer,
 * and a signal handled between two sleeps does not end the wait. */
static pid_t
signaller(struct mproc_chan *ch, int n, long ms)
{
    pid_t parent = getpid(), pid = fork();
    int i, r;

    if (pid != 0)
        return pid;
    if (ch != NULL)
        mproc__chan_close_side(ch, MPROC__CHAN_RD);
    for (i = 0; i < n; i++) {
        sleep_ms(ms);
        kill(parent, SIGUSR1);
    }
    if (ch != NULL) {
        sleep_ms(ms);
        r = mproc__chan_send(ch, "late", 4, 0, -1);
        mproc__chan_free(ch);
        child_exit(r == 0 ? 0 : 1);
    }
    child_exit(0);
    return 0;
}

/* A signal handled between two sleeps of a shmring waiter is not seen by
 * the wait (a window of microseconds every slice), so the signaller keeps
 * signalling until the wait ended; then it is stopped. */
static void
stop(pid_t pid)
{
    kill(pid, SIGKILL);
    wait_exit(pid);
}

static void
test_intr(const char *b)
{
    struct mproc_chan *ch = open_chan(b, MPROC__CHAN_EINTR, 0);
    char buf[256];
    size_t len = 0;
    int r, sent = 0, got = 0;
    pid_t pid;

    /* A receive on empty, no deadline, a handler without SA_RESTART. */
    handler(false);
    pid = signaller(NULL, 20, 230);
    r = mproc__chan_recv(ch, buf, sizeof(buf), &len, -1);
    is_int(r, MPROC_EINTR, "%s: recv(-1) on empty: EINTR", b);
    stop(pid);

    /* A send on a full transport: EINTR, and nothing of it went. */
    memset(buf, 7, sizeof(buf));
    while (mproc__chan_send(ch, buf, 200, 0, 0) == 0)
        sent++;
    pid = signaller(NULL, 20, 230);
    r = mproc__chan_send(ch, buf, 200, 0, -1);
    is_int(r, MPROC_EINTR, "%s: send(-1) on a full transport: EINTR", b);
    stop(pid);
    while (mproc__chan_recv(ch, buf, sizeof(buf), &len, 0) == 0 &&
           len == 200)
        got++;
    ok(sent > 0 && got == sent,
       "%s: every accepted message came, none of the interrupted (%d/%d)",
       b, got, sent);
    mproc__chan_free(ch);

    /* With SA_RESTART the wait goes on to the message. */
    ch = open_chan(b, MPROC__CHAN_EINTR, 0);
    handler(true);
    pid = signaller(ch, 2, 130);
    r = mproc__chan_recv(ch, buf, sizeof(buf), &len, -1);
    ok(r == 0 && len == 4 && memcmp(buf, "late", 4) == 0,
       "%s: SA_RESTART: recv(-1) waits through signals for the message (%d)",
       b, r);
    is_int(wait_exit(pid), 0, "%s: SA_RESTART: the sender ended well", b);
    mproc__chan_free(ch);

    /* Without MPROC__CHAN_EINTR no handler ends the wait. */
    ch = open_chan(b, 0, 0);
    handler(false);
    pid = signaller(ch, 2, 130);
    r = mproc__chan_recv(ch, buf, sizeof(buf), &len, -1);
    ok(r == 0 && len == 4 && memcmp(buf, "late", 4) == 0,
       "%s: without the EINTR flag recv(-1) waits for the message (%d)", b,
       r);
    is_int(wait_exit(pid), 0, "%s: the sender ended well", b);
    mproc__chan_free(ch);
}

/* A 4 MiB message sent with no deadline while signals keep coming (no
 * SA_RESTART, EINTR flag): once begun it is finished, and arrives whole. */
static void
test_big_interrupted(const char *b)
{
    struct mproc_chan *ch = open_chan(b, MPROC__CHAN_EINTR, 65536);
    size_t n = (size_t)4 << 20, len = 0, i;
    unsigned char *msg = malloc(n), *in = malloc(n);
    pid_t reader, sig;
    int r;

    for (i = 0; i < n; i++)
        msg[i] = (unsigned char)(i * 31 + (i >> 12));
    child_frees[0] = msg;
    child_frees[1] = in;
    reader = fork();
    if (reader == 0) {
        bool same;
        mproc__chan_close_side(ch, MPROC__CHAN_WR);
        sleep_ms(50);
        r = mproc__chan_recv(ch, in, n, &len, 20000);
        same = r == 0 && len == n && memcmp(in, msg, n) == 0;
        mproc__chan_free(ch);
        child_exit(same ? 0 : 1);
    }
    mproc__chan_close_side(ch, MPROC__CHAN_RD);
    handler(false);
    hits = 0;
    sig = signaller(NULL, 40, 2);
    r = mproc__chan_send(ch, msg, n, 0, -1);
    ok(r == 0 || r == MPROC_EINTR,
       "%s: a 4 MiB send(-1) under signals: %d (%d signals)", b, r,
       (int)hits);
    if (r == MPROC_EINTR) /* before its first byte: send it again */
        r = mproc__chan_send(ch, msg, n, 0, -1);
    is_int(r, 0, "%s: the 4 MiB message went", b);
    wait_exit(sig);
    is_int(wait_exit(reader), 0, "%s: and arrived whole", b);
    mproc__chan_free(ch);
    free(msg);
    free(in);
    child_frees[0] = child_frees[1] = NULL;
}

/* A peer that dies ends a wait without deadline with EPIPE. */
static void
test_death(const char *b)
{
    struct mproc_chan *ch = open_chan(b, 0, 0);
    char buf[256];
    size_t len;
    pid_t pid;
    int r;

    pid = fork();
    if (pid == 0) {
        mproc__chan_close_side(ch, MPROC__CHAN_RD);
        sleep_ms(100);
        raise(SIGKILL);
        _exit(1);
    }
    mproc__chan_close_side(ch, MPROC__CHAN_WR);
    r = mproc__chan_recv(ch, buf, sizeof(buf), &len, -1);
    is_int(r, MPROC_EPIPE, "%s: recv(-1): the writer killed: EPIPE", b);
    wait_exit(pid);
    mproc__chan_free(ch);

    ch = open_chan(b, 0, 0);
    pid = fork();
    if (pid == 0) {
        mproc__chan_close_side(ch, MPROC__CHAN_WR);
        sleep_ms(100);
        raise(SIGKILL);
        _exit(1);
    }
    mproc__chan_close_side(ch, MPROC__CHAN_RD);
    memset(buf, 1, sizeof(buf));
    do
        r = mproc__chan_send(ch, buf, 200, 0, -1);
    while (r == 0);
    is_int(r, MPROC_EPIPE, "%s: send(-1) on full: the reader killed: EPIPE",
           b);
    wait_exit(pid);
    mproc__chan_free(ch);
}

/* mq: a queue opened alone holds a 4 KiB payload and its header in one
 * chunk, where /proc and RLIMIT_MSGQUEUE leave room for that at all. */
static void
test_mq_chunk(void)
{
    struct mproc_chan *ch = open_chan("mq", 0, 0);
    const struct mproc__chan_limits *lim = mproc__chan_limits(ch);
    struct rlimit rl;
    long maxsize = 0, maxmsg = 0;
    FILE *f;

    if ((f = fopen("/proc/sys/fs/mqueue/msgsize_max", "r")) != NULL) {
        if (fscanf(f, "%ld", &maxsize) != 1)
            maxsize = 0;
        fclose(f);
    }
    if ((f = fopen("/proc/sys/fs/mqueue/msg_max", "r")) != NULL) {
        if (fscanf(f, "%ld", &maxmsg) != 1)
            maxmsg = 0;
        fclose(f);
    }
    getrlimit(RLIMIT_MSGQUEUE, &rl);
    if (maxsize < 4096 + 64 || maxmsg < 1 ||
        (rl.rlim_cur != RLIM_INFINITY &&
         rl.rlim_cur / 16 < (rlim_t)maxmsg * (4096 + 64 + 128)))
        ok(1, "mq: a 4 KiB payload is one chunk # SKIP limits too small");
    else
        ok(lim->chunk >= 4096 + sizeof(struct mproc__chan_hdr),
           "mq: a 4 KiB payload and its header are one chunk (%zu bytes)",
           lim->chunk);
    mproc__chan_free(ch);
}

int
main(int argc, char **argv)
{
    size_t i;

    alarm(60);
    for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        if (argc > 1 && strcmp(argv[1], backends[i]) != 0)
            continue; /* one backend only (for debugging) */
        test_intr(backends[i]);
        test_big_interrupted(backends[i]);
        test_death(backends[i]);
    }
    test_mq_chunk();
    return done_testing();
}

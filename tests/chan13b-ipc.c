/* SPDX-License-Identifier: MIT */
/*
 * shmring without fences on the busy path (issue 13, point 5): a channel
 * with one process per side publishes its indices without a fence while
 * its sleepers pay with membarrier(2); a sleeper that saw a lot go by
 * turns that on, one that sleeps for every message turns it off, and one
 * whose membarrier is refused (MPROC_TEST_NO_MEMBARRIER=1, as a seccomp
 * filter would) turns it off for good.  In every case each message
 * arrives, whole and in order, and no sleeper is left asleep: with a
 * blocking reader (futex) and a poll() reader (doorbell), and a writer
 * waiting for room.  A Queue's ring always fences.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/membarrier.h>

#include <mproc/mproc.h>

#include "ipc/chan_int.h"
#include "tap.h"

#define BURST 1000
#define ROUNDS 20

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

/* This kernel (and this process: valgrind says no) has the barrier. */
static bool
membarrier_here(void)
{
    long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    const char *e = getenv("MPROC_TEST_NO_MEMBARRIER");

    if (e != NULL && *e != '\0' && strcmp(e, "0") != 0)
        return false; /* refused for the whole run */
    return q >= 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
           (q & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED);
}

/* Message i: its number then bytes that depend on it; 8 to 200 bytes. */
static size_t
fill_msg(char *buf, uint32_t i)
{
    size_t len = 8 + (i * 37u) % 193u, k;

    memcpy(buf, &i, sizeof(i));
    for (k = sizeof(i); k < len; k++)
        buf[k] = (char)(i + k);
    return len;
}

static bool
check_msg(const char *buf, size_t len, uint32_t i)
{
    char want[256];

    return len == fill_msg(want, i) && memcmp(buf, want, len) == 0;
}

/* Wait (bounded) until the ring's flag for `side` is `want`. */
static bool
flag_becomes(struct mproc_chan *ch, unsigned side, int want)
{
    int i;

    for (i = 0; i < 10000; i++) {
        if (mproc__shmring_asym(ch, side) == want)
            return true;
        sleep_ms(1);
    }
    return false;
}

/* Child: the reader.  Blocking recv, or the pool's poll() loop. */
static int
reader(struct mproc_chan *ch, int go, int ack, bool use_poll)
{
    char buf[256], c;
    uint32_t i = 0;
    size_t len;

    if (read(go, &c, 1) != 1)
        return 10;
    for (;;) {
        int r;

        if (use_poll) {
            const void *m;
            struct pollfd p;

            r = mproc__chan_poll_prepare(ch, MPROC__CHAN_RD, &p);
            if (r < 0)
                return 11;
            if (r == 0 && poll(&p, 1, -1) < 0 && errno != EINTR)
                return 12;
            r = mproc__chan_peek(ch, &m, &len, 0);
            if (r == MPROC_EAGAIN)
                continue;
            if (r == 0) {
                if (len <= sizeof(buf))
                    memcpy(buf, m, len);
                mproc__chan_consume(ch);
            }
        } else {
            r = mproc__chan_recv(ch, buf, sizeof(buf), &len, -1);
        }
        if (r == MPROC_EPIPE)
            return i == BURST + ROUNDS ? 0 : 13;
        if (r != 0)
            return 14;
        if (!check_msg(buf, len, i))
            return 15;
        i++;
        /* After the burst, every message is acknowledged (the writer
         * then waits, so we sleep after each one). */
        if (i > BURST && write(ack, "a", 1) != 1)
            return 16;
    }
}

/*
 * A burst of BURST messages written while the reader waits (so it reads
 * them all without sleeping, then sleeps: a lot went by), then ROUNDS
 * messages one at a time, each acknowledged (the reader sleeps after each
 * one: little went by).  `refuse`: the reader's membarrier is refused.
 */
static void
test_stream(bool refuse, bool use_poll, bool have)
{
    struct mproc__chan_opts o = {.capacity = 1 << 20};
    const char *how = use_poll ? "poll" : "blocking";
    const char *mode = refuse ? "refused" : "membarrier";
    struct mproc_chan *ch;
    mproc_err_t err;
    int go[2], ack[2];
    char buf[256], c;
    uint32_t i;
    pid_t pid;
    bool sent = true;

    if (mproc__chan_open(&ch, "shmring", &o, &err) != 0 || pipe(go) < 0 ||
        pipe(ack) < 0) {
        ok(0, "%s, %s: open: %s", mode, how, err.msg);
        return;
    }
    ok(mproc__shmring_asym(ch, MPROC__CHAN_RD) == have &&
           mproc__shmring_asym(ch, MPROC__CHAN_WR) == have,
       "%s, %s: a new ring %s", mode, how,
       have ? "publishes without fences" : "fences (no membarrier here)");
    pid = fork();
    if (pid == 0) {
        int rc;

        if (refuse)
            setenv("MPROC_TEST_NO_MEMBARRIER", "1", 1);
        close(go[1]);
        close(ack[0]);
        mproc__chan_close_side(ch, MPROC__CHAN_WR);
        rc = reader(ch, go[0], ack[1], use_poll);
        mproc__chan_free(ch);
        _exit(rc);
    }
    close(go[0]);
    close(ack[1]);
    mproc__chan_close_side(ch, MPROC__CHAN_RD);
    for (i = 0; i < BURST && sent; i++)
        sent = mproc__chan_send(ch, buf, fill_msg(buf, i), 0, -1) == 0;
    ok(sent && write(go[1], "g", 1) == 1, "%s, %s: a burst sent", mode, how);
    /* The reader drains it, then sleeps. */
    ok(flag_becomes(ch, MPROC__CHAN_RD, have && !refuse),
       "%s, %s: after a burst the sleeping reader %s", mode, how,
       have && !refuse ? "keeps the writer without fences"
                       : "has the writer fence");
    for (; i < BURST + ROUNDS && sent; i++) {
        sent = mproc__chan_send(ch, buf, fill_msg(buf, i), 0, -1) == 0 &&
               read(ack[0], &c, 1) == 1;
        sleep_ms(2); /* the reader is asleep again */
    }
    ok(sent, "%s, %s: one message at a time, each woke the reader", mode,
       how);
    ok(flag_becomes(ch, MPROC__CHAN_RD, 0),
       "%s, %s: a reader that sleeps for every message has the writer "
       "fence",
       mode, how);
    mproc__chan_free(ch);
    close(go[1]);
    close(ack[0]);
    is_int(wait_exit(pid), 0,
           "%s, %s: every message arrived whole and in order, then the end",
           mode, how);
}

/* A writer that waits for room in a small ring, the reader slow or not,
 * refused or not: everything arrives. */
static void
test_full(bool refuse)
{
    struct mproc__chan_opts o = {.capacity = 4096};
    struct mproc_chan *ch;
    mproc_err_t err;
    char buf[256];
    uint32_t i, n = 3000;
    pid_t pid;
    bool sent = true;

    if (mproc__chan_open(&ch, "shmring", &o, &err) != 0) {
        ok(0, "full ring: open: %s", err.msg);
        return;
    }
    pid = fork();
    if (pid == 0) {
        size_t len;
        int rc = 0;

        if (refuse)
            setenv("MPROC_TEST_NO_MEMBARRIER", "1", 1);
        mproc__chan_close_side(ch, MPROC__CHAN_WR);
        for (i = 0; i < n && rc == 0; i++) {
            if (i % 500 == 0)
                sleep_ms(5); /* the writer fills the ring and sleeps */
            if (mproc__chan_recv(ch, buf, sizeof(buf), &len, -1) != 0 ||
                !check_msg(buf, len, i))
                rc = 2;
        }
        if (rc == 0 && mproc__chan_recv(ch, buf, sizeof(buf), &len, -1) !=
                           MPROC_EPIPE)
            rc = 3;
        mproc__chan_free(ch);
        _exit(rc);
    }
    if (refuse)
        setenv("MPROC_TEST_NO_MEMBARRIER", "1", 1);
    mproc__chan_close_side(ch, MPROC__CHAN_RD);
    for (i = 0; i < n && sent; i++)
        sent = mproc__chan_send(ch, buf, fill_msg(buf, i), 0, -1) == 0;
    ok(sent, "full ring%s: %u messages through 4 KiB", refuse ? ", refused"
                                                             : "", n);
    mproc__chan_free(ch);
    is_int(wait_exit(pid), 0, "full ring%s: all arrived in order",
           refuse ? ", refused" : "");
    unsetenv("MPROC_TEST_NO_MEMBARRIER");
}

static void
test_queue(void)
{
    struct mproc__chan_opts o = {0};
    struct mproc__lchan *lc;
    mproc_err_t err;
    char buf[16];
    size_t len;

    if (mproc__lchan_open(&lc, "queue", "shmring", &o, 0, &err) != 0) {
        ok(0, "queue: open: %s", err.msg);
        return;
    }
    ok(mproc__shmring_asym(mproc__lchan_chan(lc), MPROC__CHAN_RD) == 0 &&
           mproc__shmring_asym(mproc__lchan_chan(lc), MPROC__CHAN_WR) == 0,
       "queue: a ring with several processes per side always fences");
    ok(mproc__lchan_put(lc, "hello", 5, -1) == 0 &&
           mproc__lchan_get(lc, buf, sizeof(buf), &len, -1) == 0 &&
           len == 5 && memcmp(buf, "hello", 5) == 0,
       "queue: a message through it");
    mproc__lchan_close_side(lc, MPROC__CHAN_RD);
    mproc__lchan_close_side(lc, MPROC__CHAN_WR);
}

int
main(void)
{
    bool have = membarrier_here();

    alarm(60);
    if (!have)
        diag("no membarrier global expedited here: fences everywhere");
    test_stream(false, false, have);
    test_stream(false, true, have);
    test_stream(true, false, have);
    test_stream(true, true, have);
    test_full(false);
    test_full(true);
    test_queue();
    return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * Stress: producers and consumers of a Queue are SIGKILLed at random
 * points, again and again, on every backend (issue 12.8, 12.12).
 *
 * Each round makes a Queue (maxsize 8, a small transport so that one
 * message in forty goes in several pieces), runs two producers and two
 * consumers, and kills one of them every few milliseconds (a few times a
 * round, so that some rounds end unbroken), starting a new one in its
 * place.  A producer killed in the middle of a large message, or a
 * consumer in the middle of reading one, breaks the Queue: the round ends
 * there, with every user told "broken".  Then it stops the killing, lets the producers
 * end and the consumers drain the Queue, and checks:
 *   - nothing hangs (every wait is bounded; alarm() backs it up);
 *   - no message is duplicated or damaged (a checksum per message);
 *   - unless the Queue was broken, no message whose put returned 0 is
 *     lost, except the one each killed consumer may have held, and
 *     qsize is 0 at the end (no slot leaked);
 *   - every error is a timeout or a clear "broken" MPROC_EPIPE.
 * Bounded: about four seconds per backend, twelve in all.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "tap.h"

#define MAXID 100000
#define BIG 40000
#define ROLES 4 /* 0, 1 producers; 2, 3 consumers */

struct shared {
    _Atomic unsigned char put_ok[MAXID];
    _Atomic unsigned char got[MAXID];
    _Atomic uint32_t next_id;
    _Atomic int stop_producers, stop_consumers;
    _Atomic int broken, bad, unclear;
    char unclear_msg[256];
};

static struct shared *sh;
static mproc_queue_t *q;

static long
now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static size_t
msg_len(uint32_t id)
{
    return id % 40 == 0 ? BIG : 8 + id % 200;
}

static void
msg_fill(unsigned char *b, uint32_t id)
{
    size_t i, n = msg_len(id);
    uint32_t x = id * 2654435761u + 7;

    memcpy(b, &id, 4);
    for (i = 4; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char)x;
    }
}

static bool
msg_ok(const unsigned char *b, size_t len, uint32_t *id)
{
    static unsigned char want[BIG];

    if (len < 4)
        return false;
    memcpy(id, b, 4);
    if (*id >= MAXID || len != msg_len(*id))
        return false;
    msg_fill(want, *id);
    return memcmp(b, want, len) == 0;
}

/* An error is clear when it is a timeout or a "broken" EPIPE. */
static bool
judge(int r)
{
    if (r == MPROC_ETIMEDOUT)
        return true;
    if (r == MPROC_EPIPE && strstr(mproc_queue_errmsg(q), "broken")) {
        atomic_store(&sh->broken, 1);
        return false;
    }
    if (atomic_fetch_add(&sh->unclear, 1) == 0)
        snprintf(sh->unclear_msg, sizeof(sh->unclear_msg), "%d: %s", r,
                 mproc_queue_errmsg(q));
    return false;
}

static void
producer(void)
{
    static unsigned char b[BIG];

    while (!atomic_load(&sh->stop_producers) && !atomic_load(&sh->broken)) {
        uint32_t id = atomic_fetch_add(&sh->next_id, 1);
        int r;

        if (id >= MAXID)
            break;
        msg_fill(b, id);
        r = mproc_queue_put(q, b, msg_len(id), 2000);
        if (r == 0)
            atomic_store(&sh->put_ok[id], 1);
        else if (!judge(r))
            break;
    }
    _exit(0);
}

static void
consumer(void)
{
    static unsigned char b[BIG];

    for (;;) {
        size_t len;
        uint32_t id;
        int r = mproc_queue_get(q, b, sizeof(b), &len, 200);

        if (r == 0) {
            if (!msg_ok(b, len, &id))
                atomic_fetch_add(&sh->bad, 1);
            else
                atomic_fetch_add(&sh->got[id], 1);
            continue;
        }
        if (!judge(r) || atomic_load(&sh->stop_consumers))
            break;
    }
    _exit(0);
}

static pid_t
spawn(int role)
{
    pid_t pid = fork();

    if (pid == 0) {
        if (role < 2)
            producer();
        consumer();
    }
    return pid;
}

/* Wait for a child at most `ms`; SIGKILL it after that (a hang). */
static bool
reap(pid_t pid, long ms)
{
    long end = now_ms() + ms;

    while (now_ms() < end) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return true;
        usleep(2000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return false;
}

struct tally {
    int rounds, kills, ckills, broken, hangs, lost_over, leaked, dups;
};

static void
round_(const char *backend, struct tally *t, unsigned *seed)
{
    struct mproc_queue_opts o;
    pid_t pids[ROLES];
    long end;
    int i, ckills = 0, lost = 0;
    mproc_err_t err;

    memset(sh, 0, sizeof(*sh));
    mproc_queue_opts_init(&o);
    o.backend = backend;
    o.maxsize = 8;
    o.capacity = 16384;
    if (mproc_queue_new(&q, &o, &err) != 0) {
        diag("queue: %s", err.msg);
        t->hangs++;
        return;
    }
    for (i = 0; i < ROLES; i++)
        pids[i] = spawn(i);
    end = now_ms() + 300;
    while (now_ms() < end && !atomic_load(&sh->broken)) {
        int role = (int)(rand_r(seed) % ROLES);

        usleep(1000 + rand_r(seed) % 60000);
        kill(pids[role], SIGKILL);
        waitpid(pids[role], NULL, 0);
        t->kills++;
        if (role >= 2)
            ckills++;
        pids[role] = spawn(role);
    }
    /* Producers end after their current put (at most its timeout). */
    atomic_store(&sh->stop_producers, 1);
    for (i = 0; i < 2; i++)
        if (!reap(pids[i], 5000))
            t->hangs++;
    /* Consumers drain, then end at their next empty get. */
    end = now_ms() + 5000;
    while (now_ms() < end && mproc_queue_qsize(q) > 0 &&
           !atomic_load(&sh->broken))
        usleep(5000);
    atomic_store(&sh->stop_consumers, 1);
    for (i = 2; i < ROLES; i++)
        if (!reap(pids[i], 5000))
            t->hangs++;
    for (i = 0; i < MAXID; i++) {
        if (atomic_load(&sh->got[i]) > 1)
            t->dups++;
        if (atomic_load(&sh->put_ok[i]) && atomic_load(&sh->got[i]) == 0)
            lost++;
    }
    t->rounds++;
    t->ckills += ckills;
    if (atomic_load(&sh->broken)) {
        t->broken++;
    } else {
        if (lost > ckills) {
            diag("%s: %d messages lost, %d consumers killed", backend, lost,
                 ckills);
            t->lost_over++;
        }
        if (mproc_queue_qsize(q) != 0) {
            diag("%s: qsize %zd at the end", backend, mproc_queue_qsize(q));
            t->leaked++;
        }
    }
    mproc_queue_free(q);
    q = NULL;
}

int
main(void)
{
    static const char *const backends[] = {"pipe", "mq", "shmring"};
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    size_t b;

    alarm(120);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    diag("seed %u", seed);
    for (b = 0; b < 3; b++) {
        struct tally t = {0};
        long end = now_ms() + 3500;

        while (now_ms() < end)
            round_(backends[b], &t, &seed);
        diag("%s: %d rounds, %d kills (%d consumers), %d rounds ended "
             "broken",
             backends[b], t.rounds, t.kills, t.ckills, t.broken);
        is_int(t.hangs, 0, "%s: nothing hangs", backends[b]);
        is_int(t.dups, 0, "%s: no message is duplicated", backends[b]);
        is_int(atomic_load(&sh->bad), 0, "%s: no message is damaged",
               backends[b]);
        is_int(t.lost_over, 0,
               "%s: none lost but the killed consumers' own", backends[b]);
        is_int(t.leaked, 0, "%s: qsize is 0 at the end (no slot leaked)",
               backends[b]);
        if (!ok(atomic_load(&sh->unclear) == 0,
                "%s: every error is a timeout or 'broken'", backends[b]))
            diag("  %s", sh->unclear_msg);
    }
    munmap(sh, sizeof(*sh));
    return done_testing();
}

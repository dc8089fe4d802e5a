/* SPDX-License-Identifier: MIT */
/*
 * The manager's same-host fast path (framework/manager/ring.h): a unix:
 * client moves to a shared-memory ring after the handshake, tcp: and
 * MPROC_MANAGER_RING=0 stay on the socket; many clients at once lose
 * nothing; messages far past a ring's size go through in chunks; a
 * client SIGKILLed in the middle of requests (small and chunked) drops
 * only itself, and one killed holding a Lock makes the next acquirer see
 * owner-died within a second; a server killed while a client waits (or
 * sends a chunked request) is an error for the client, never a hang; an
 * idle server does not spin; nothing is left in /dev/shm.
 */
#include "config.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/manager.h>
#include <mproc/shared.h>

#include "tap.h"

#define RING_CAP (64 * 1024) /* MGR_RING_CAP of ring.h */

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether this process maps a manager ring. */
static bool
has_ring(void)
{
    char line[512];
    bool found = false;
    FILE *f = fopen("/proc/self/maps", "r");

    if (f == NULL)
        return false;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, "memfd:mproc-manager") != NULL)
            found = true;
    fclose(f);
    return found;
}

/* Entries of /dev/shm a manager could have left (the machine is shared
 * with other programs: only names of ours count).  The ring is a memfd,
 * which never has one. */
static int
shm_ours(void)
{
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, "manager") != NULL ||
             strstr(e->d_name, "mgr") != NULL;
    closedir(d);
    return n;
}

/* A SIGKILLed server leaves its socket file: the test removes it, so
 * that free() can remove the folder. */
static void
unlink_sock(mproc_manager_t *m)
{
    const char *a = mproc_manager_address(m);

    if (strncmp(a, "unix:/", 6) == 0)
        unlink(a + 5);
}

static mproc_manager_t *
start(const char *address)
{
    struct mproc_manager_opts o;
    mproc_manager_t *m = NULL;
    mproc_err_t err;

    mproc_manager_opts_init(&o);
    o.address = address;
    if (mproc_manager_start(&m, &o, &err) < 0)
        diag("start: %s", err.msg);
    return m;
}

static mproc_manager_t *
connect_(mproc_manager_t *m)
{
    mproc_manager_t *c = NULL;
    mproc_err_t err;
    size_t kl;
    const void *k = mproc_manager_authkey(m, &kl);

    if (mproc_manager_connect(&c, mproc_manager_address(m), k, kl, &err) < 0)
        diag("connect: %s", err.msg);
    return c;
}

/* A ring for unix:, none for tcp: or when turned off; both work. */
static void
t_paths(void)
{
    mproc_manager_t *m, *c;
    mproc_mobj_t *d;
    const void *v;
    size_t vl;

    ok(!has_ring(), "paths: no ring mapped before any connection");
    m = start(NULL);
    if (m == NULL)
        return;
    ok(has_ring(), "paths: a unix: client maps a ring");
    setenv("MPROC_MANAGER_RING", "0", 1);
    c = connect_(m);
    unsetenv("MPROC_MANAGER_RING");
    ok(c != NULL && mproc_manager_dict(c, "d", &d) == 0 &&
           mproc_mdict_set(d, "k", 1, "sock", 4) == 0,
       "paths: MPROC_MANAGER_RING=0 keeps the socket, and works");
    mproc_mobj_free(d);
    mproc_manager_free(c);
    mproc_manager_dict(m, "d", &d);
    ok(mproc_mdict_get(d, "k", 1, &v, &vl) == 0 && vl == 4 &&
           memcmp(v, "sock", 4) == 0,
       "paths: the ring client sees what the socket client set");
    mproc_mobj_free(d);
    mproc_manager_free(m);
    ok(!has_ring(), "paths: the ring is unmapped by free");

    m = start("tcp:127.0.0.1:0");
    if (m == NULL)
        return;
    mproc_manager_dict(m, NULL, &d);
    ok(!has_ring() && mproc_mdict_set(d, "k", 1, "v", 1) == 0,
       "paths: tcp: stays on the socket");
    mproc_mobj_free(d);
    mproc_manager_free(m);
}

/* Many clients at once, each its own process and ring. */
#define NCLI 12
#define NOPS 400

static void
t_many(void)
{
    mproc_manager_t *m = start(NULL), *c;
    mproc_mobj_t *a, *d, *q;
    pid_t pid[NCLI];
    int64_t total = -1;
    int i, st, good = 0;

    if (m == NULL)
        return;
    mproc_manager_array(m, "count", MPROC_T_INT64, 1, &a);
    mproc_manager_dict(m, "seen", &d);
    mproc_manager_queue(m, "q", 0, false, &q);
    for (i = 0; i < NCLI; i++) {
        pid[i] = fork();
        if (pid[i] == 0) {
            mproc_mobj_t *ca, *cd, *cq;
            char k[16];
            int j, kl = snprintf(k, sizeof(k), "c%d", i);
            c = connect_(m);
            if (c == NULL || !has_ring() ||
                mproc_manager_array(c, "count", MPROC_T_INT64, 1, &ca) < 0 ||
                mproc_manager_dict(c, "seen", &cd) < 0 ||
                mproc_manager_queue(c, "q", 0, false, &cq) < 0)
                _exit(1);
            for (j = 0; j < NOPS; j++)
                if (mproc_marray_add_i64(ca, 0, 1, NULL) < 0 ||
                    mproc_mdict_set(cd, k, (size_t)kl, &j, sizeof(j)) < 0 ||
                    mproc_mqueue_put(cq, &j, sizeof(j), -1) < 0)
                    _exit(2);
            _exit(0);
        }
    }
    for (i = 0; i < NCLI; i++)
        if (pid[i] > 0 && waitpid(pid[i], &st, 0) == pid[i] &&
            WIFEXITED(st) && WEXITSTATUS(st) == 0)
            good++;
    is_int(good, NCLI, "many: %d ring clients at once all finished", NCLI);
    mproc_marray_get_i64(a, 0, &total);
    is_int(total, NCLI * NOPS, "many: no increment lost");
    is_int(mproc_mdict_len(d), NCLI, "many: every client's key is there");
    is_int(mproc_mqueue_qsize(q), NCLI * NOPS, "many: no put lost");
    mproc_mobj_free(a);
    mproc_mobj_free(d);
    mproc_mobj_free(q);
    mproc_manager_free(m);
}

/* Messages around and far past a ring's size, both ways. */
static void
t_sizes(void)
{
    static const size_t big[] = { 3 * RING_CAP + 5, 1024 * 1024 + 7 };
    mproc_manager_t *m = start(NULL);
    mproc_mobj_t *d, *q;
    unsigned char *buf = malloc(1024 * 1024 + 8);
    const void *v;
    size_t vl, n, i;
    int bad = 0;

    if (m == NULL || buf == NULL) {
        free(buf);
        mproc_manager_free(m);
        return;
    }
    for (i = 0; i < 1024 * 1024 + 8; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    mproc_manager_dict(m, NULL, &d);
    mproc_manager_queue(m, NULL, 0, false, &q);
    /* Every size across one ring's edge, requests and replies. */
    for (n = RING_CAP - 40; n <= RING_CAP + 8; n++)
        if (mproc_mdict_set(d, "k", 1, buf, n) < 0 ||
            mproc_mdict_get(d, "k", 1, &v, &vl) < 0 || vl != n ||
            memcmp(v, buf, n) != 0)
            bad++;
    is_int(bad, 0, "sizes: every value across the ring's edge round-trips");
    for (i = 0; i < 2; i++) {
        ok(mproc_mdict_set(d, "big", 3, buf, big[i]) == 0 &&
               mproc_mdict_get(d, "big", 3, &v, &vl) == 0 &&
               vl == big[i] && memcmp(v, buf, vl) == 0,
           "sizes: a %zu-byte value through the dict", big[i]);
        ok(mproc_mqueue_put(q, buf, big[i], -1) == 0 &&
               mproc_mqueue_get(q, -1, &v, &vl) == 0 && vl == big[i] &&
               memcmp(v, buf, vl) == 0,
           "sizes: a %zu-byte item through the Queue", big[i]);
    }
    ok(mproc_mdict_set(d, "small", 5, "x", 1) == 0 &&
           mproc_mdict_get(d, "small", 5, &v, &vl) == 0 && vl == 1,
       "sizes: small calls go on after chunked ones");
    mproc_mobj_free(d);
    mproc_mobj_free(q);
    mproc_manager_free(m);
    free(buf);
}

/* A client SIGKILLed while it sends requests: small ones, then chunked
 * ones (killed inside a message, as likely as not). */
static void
t_killed_client(void)
{
    mproc_manager_t *m = start(NULL);
    mproc_mobj_t *d;
    const void *v;
    size_t vl;
    pid_t pid;
    int round, st;

    if (m == NULL)
        return;
    mproc_manager_dict(m, "d", &d);
    for (round = 0; round < 2; round++) {
        int p[2];
        char b;
        if (pipe(p) < 0)
            break;
        pid = fork();
        if (pid == 0) {
            mproc_manager_t *c = connect_(m);
            mproc_mobj_t *cd;
            size_t n = round == 0 ? 16 : 5 * RING_CAP;
            char *val = calloc(1, n);
            if (c == NULL || val == NULL ||
                mproc_manager_dict(c, "d", &cd) < 0)
                _exit(1);
            if (write(p[1], "x", 1) != 1)
                _exit(1);
            for (;;)
                if (mproc_mdict_set(cd, "c", 1, val, n) < 0 ||
                    mproc_mdict_get(cd, "c", 1, &v, &vl) < 0)
                    _exit(2);
        }
        close(p[1]);
        if (read(p[0], &b, 1) != 1)
            diag("killed: the child did not start");
        close(p[0]);
        usleep(30000);
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        ok(WIFSIGNALED(st),
           "killed: a client SIGKILLed in the middle of %s requests",
           round == 0 ? "small" : "chunked");
        ok(mproc_mdict_set(d, "p", 1, "1", 1) == 0 &&
               mproc_mdict_get(d, "p", 1, &v, &vl) == 0 && vl == 1,
           "killed: the server goes on serving the others");
    }
    mproc_mobj_free(d);
    mproc_manager_free(m);
}

/* A ring client SIGKILLed holding a Lock. */
static void
t_lock_holder(void)
{
    mproc_manager_t *m = start(NULL);
    mproc_mobj_t *l;
    int64_t t0;
    pid_t pid;
    int p[2], st;
    char b;

    if (m == NULL || pipe(p) < 0)
        return;
    mproc_manager_lock(m, "l", false, &l);
    pid = fork();
    if (pid == 0) {
        mproc_manager_t *c = connect_(m);
        mproc_mobj_t *cl;
        if (c == NULL || mproc_manager_lock(c, "l", false, &cl) < 0 ||
            mproc_mlock_acquire(cl, -1) != 0 || write(p[1], "x", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    ok(read(p[0], &b, 1) == 1, "lock: a ring client holds the Lock");
    close(p[0]);
    is_int(mproc_mlock_acquire(l, 0), MPROC_ETIMEDOUT,
           "lock: held, so a try fails");
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    t0 = now_ms();
    is_int(mproc_mlock_acquire(l, 5000), MPROC_EOWNERDEAD,
           "lock: the next acquirer gets MPROC_EOWNERDEAD");
    ok(now_ms() - t0 < 1000, "lock: within a second (%lld ms)",
       (long long)(now_ms() - t0));
    is_int(mproc_mlock_release(l), 0, "lock: and holds it");
    mproc_mobj_free(l);
    mproc_manager_free(m);
}

/* Kill the server `ms` milliseconds from now, from another process. */
static pid_t
kill_later(pid_t server, int ms)
{
    pid_t k = fork();

    if (k == 0) {
        usleep((useconds_t)ms * 1000);
        kill(server, SIGKILL);
        _exit(0);
    }
    return k;
}

/* The server SIGKILLed while a client waits in a call, or sends. */
static void
t_killed_server(void)
{
    mproc_manager_t *m;
    mproc_mobj_t *q, *d;
    const void *v;
    size_t vl;
    pid_t k;
    int r = 0, i;
    char *val;

    m = start(NULL);
    if (m == NULL)
        return;
    mproc_manager_queue(m, NULL, 0, false, &q);
    k = kill_later(mproc_manager_pid(m), 100);
    is_int(mproc_mqueue_get(q, -1, &v, &vl), MPROC_EPIPE,
           "server killed: a client blocked in get gets MPROC_EPIPE");
    is_int(mproc_mqueue_qsize(q), MPROC_EPIPE,
           "server killed: every later call too");
    waitpid(k, NULL, 0);
    mproc_mobj_free(q);
    unlink_sock(m);
    mproc_manager_free(m);

    m = start(NULL);
    val = calloc(1, 4 * RING_CAP);
    if (m == NULL || val == NULL) {
        free(val);
        return;
    }
    mproc_manager_dict(m, NULL, &d);
    k = kill_later(mproc_manager_pid(m), 50);
    for (i = 0; i < 1000000 && r == 0; i++)
        r = mproc_mdict_set(d, "k", 1, val, 4 * RING_CAP);
    is_int(r, MPROC_EPIPE,
           "server killed: a client sending chunked requests gets "
           "MPROC_EPIPE");
    waitpid(k, NULL, 0);
    mproc_mobj_free(d);
    unlink_sock(m);
    mproc_manager_free(m);
    free(val);
}

/* The server's CPU time (utime + stime) in clock ticks, or -1. */
static long
cpu_ticks(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut, st;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    /* After the name: state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime. */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
                            "%*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)(ut + st);
}

/* Spinning is bounded: an idle server and client sleep. */
static void
t_idle(void)
{
    mproc_manager_t *m = start(NULL);
    mproc_mobj_t *d;
    long t0, t1, hz = sysconf(_SC_CLK_TCK);
    int i;

    if (m == NULL)
        return;
    mproc_manager_dict(m, NULL, &d);
    for (i = 0; i < 2000; i++)
        mproc_mdict_set(d, "k", 1, "v", 1);
    usleep(100000);
    t0 = cpu_ticks(mproc_manager_pid(m));
    usleep(500000);
    t1 = cpu_ticks(mproc_manager_pid(m));
    /* A server that kept spinning would use most of the half second
     * whenever it got a CPU; a sleeping one uses none. */
    ok(t0 >= 0 && (t1 - t0) * 1000 / hz < 20,
       "idle: the server sleeps when its clients are quiet (%ld ms of CPU "
       "in 500 ms)", (t1 - t0) * 1000 / hz);
    mproc_mobj_free(d);
    mproc_manager_free(m);
}

int
main(void)
{
    int shm0 = shm_ours();

    alarm(120);
    t_paths();
    t_many();
    t_sizes();
    t_killed_client();
    t_lock_holder();
    t_killed_server();
    t_idle();
    is_int(shm_ours(), shm0, "nothing left in /dev/shm");
    ok(!has_ring(), "no ring left mapped");
    return done_testing();
}

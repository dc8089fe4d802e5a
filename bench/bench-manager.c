/* SPDX-License-Identifier: MIT */
/*
 * The C side of bench/bench-manager.sh: round trips through a Manager
 * over unix: (and tcp:127.0.0.1), the median of RUNS runs of N each:
 *   dict   d[k] = v then d[k] (one set and one get: 2 round trips)
 *   queue  q.put(x) then q.get() (2 round trips)
 *   raw    two 1-byte ping-pongs over a socketpair between two processes:
 *          the ceiling any server process reached over a socket
 *   shm    two ping-pongs of a word in shared memory between two spinning
 *          processes (no syscall): the ceiling of the manager's ring,
 *          reached only while both processes have a CPU each
 * Prints "NAME PAIRS_PER_SECOND" lines for the script to compare.
 * Usage: bench-manager [N [RUNS]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc/manager.h>

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double
run(mproc_mobj_t *o, bool queue, long n)
{
    const void *v;
    size_t vl;
    char k[32];
    double t0 = now();
    long i;

    for (i = 0; i < n; i++) {
        int l = snprintf(k, sizeof(k), "key%ld", i % 1000);
        if (queue) {
            if (mproc_mqueue_put(o, k, (size_t)l, -1) < 0 ||
                mproc_mqueue_get(o, -1, &v, &vl) < 0)
                exit(1);
        } else if (mproc_mdict_set(o, k, (size_t)l, "value", 5) < 0 ||
                   mproc_mdict_get(o, k, (size_t)l, &v, &vl) < 0) {
            exit(1);
        }
    }
    return n / (now() - t0);
}

static void
bench(const char *label, const char *address, long n, int runs)
{
    struct mproc_manager_opts o;
    mproc_manager_t *m;
    mproc_mobj_t *d, *q;
    mproc_err_t err;
    double r[2][64];
    int i;

    mproc_manager_opts_init(&o);
    o.address = address;
    if (mproc_manager_start(&m, &o, &err) < 0) {
        fprintf(stderr, "bench-manager: %s\n", err.msg);
        exit(1);
    }
    mproc_manager_dict(m, NULL, &d);
    mproc_manager_queue(m, NULL, 0, false, &q);
    run(d, false, n / 10); /* warm up */
    for (i = 0; i < runs; i++) {
        r[0][i] = run(d, false, n);
        r[1][i] = run(q, true, n);
    }
    qsort(r[0], (size_t)runs, sizeof(double), cmp);
    qsort(r[1], (size_t)runs, sizeof(double), cmp);
    printf("%s-dict %.0f\n%s-queue %.0f\n", label, r[0][runs / 2], label,
           r[1][runs / 2]);
    fflush(stdout);
    mproc_mobj_free(d);
    mproc_mobj_free(q);
    mproc_manager_free(m);
}

/* The ceiling: two round trips of one byte between two processes. */
static void
raw(long n, int runs)
{
    double r[64], t0;
    char b[64];
    int sv[2], i;
    long k;
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        exit(1);
    pid = fork();
    if (pid == 0) {
        close(sv[0]);
        while (read(sv[1], b, sizeof(b)) > 0)
            if (write(sv[1], b, 1) != 1)
                break;
        _exit(0);
    }
    close(sv[1]);
    for (i = 0; i < runs; i++) {
        t0 = now();
        for (k = 0; k < 2 * n; k++)
            if (write(sv[0], "x", 1) != 1 || read(sv[0], b, sizeof(b)) != 1)
                exit(1);
        r[i] = n / (now() - t0);
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
    qsort(r, (size_t)runs, sizeof(double), cmp);
    printf("raw-pair %.0f\n", r[runs / 2]);
}

/* The ring's ceiling: two round trips of a shared word, both spinning. */
static void
raw_shm(long n, int runs)
{
    _Atomic long *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    double r[64], t0;
    long k, total = 2 * n * runs;
    int i;
    pid_t pid;

    if (w == MAP_FAILED)
        exit(1);
    atomic_store(w, 0);
    pid = fork();
    if (pid == 0) {
        /* Odd values are requests, even ones replies. */
        for (k = 1; k < 2 * total; k += 2) {
            while (atomic_load(w) != k)
                ;
            atomic_store(w, k + 1);
        }
        _exit(0);
    }
    for (i = 0, k = 0; i < runs; i++) {
        long end = k + 4 * n;
        t0 = now();
        for (; k < end; k += 2) {
            atomic_store(w, k + 1);
            while (atomic_load(w) != k + 2)
                ;
        }
        r[i] = n / (now() - t0);
    }
    waitpid(pid, NULL, 0);
    munmap((void *)w, 4096);
    qsort(r, (size_t)runs, sizeof(double), cmp);
    printf("raw-shm %.0f\n", r[runs / 2]);
}

int
main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000;
    int runs = argc > 2 ? atoi(argv[2]) : 5;

    if (n < 10 || runs < 1 || runs > 64)
        return 64;
    raw(n, runs);
    raw_shm(n, runs);
    bench("unix", NULL, n, runs);
    bench("tcp", "tcp:127.0.0.1:0", n, runs);
    return 0;
}

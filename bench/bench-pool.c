/* SPDX-License-Identifier: MIT */
/*
 * bench-pool: the Pool API (mproc_apool_*) against Python's
 * multiprocessing.Pool and concurrent.futures.ProcessPoolExecutor, measured
 * in the same run (bench/python_pool.py).  Not a test: medians of 3 runs
 * with their ranges, and the targets of issues 4 and 13 (MET or MISSED).
 *
 *   make bench-pool     (or: bench/bench-pool [PYTHON_SCRIPT])
 *
 * The task is Python's `f(x) = x * 2` in C: an 8-byte integer in, its
 * double out, in a pool of 2 workers (fork), on the pipe and the shmring
 * IPC backends; the table compares shmring.
 */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc/mproc.h>

#define REPS 3
#define WORKERS 2

static double
now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The range of the last median()'s runs, for the report. */
static double last_lo, last_hi;

static double
median(double (*fn)(mproc_apool_t *), mproc_apool_t *p)
{
    double v[REPS];
    int i;
    for (i = 0; i < REPS; i++)
        v[i] = fn(p);
    qsort(v, REPS, sizeof(v[0]), cmp_double);
    last_lo = v[0];
    last_hi = v[REPS - 1];
    return v[REPS / 2];
}

static int
f_double(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    int64_t x;
    memcpy(&x, in, sizeof(x));
    x *= 2;
    return mproc_buf_append(out, &x, sizeof(x));
}

static void
die(const char *what, int r, mproc_apool_t *p)
{
    fprintf(stderr, "bench-pool: %s: %s (%s)\n", what, mproc_strerror(r),
            p ? mproc_apool_errmsg(p) : "");
    exit(1);
}

/* Items 0..n-1 as 8-byte integers. */
static int64_t *vals;
static struct mproc_item *items;

static void
make_items(size_t n)
{
    size_t i;
    vals = malloc(n * sizeof(*vals));
    items = malloc(n * sizeof(*items));
    if (vals == NULL || items == NULL)
        die("malloc", MPROC_ENOMEM, NULL);
    for (i = 0; i < n; i++) {
        vals[i] = (int64_t)i;
        items[i].data = &vals[i];
        items[i].len = sizeof(vals[i]);
    }
}

static void
check(const struct mproc_result *r, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        int64_t x;
        if (r[i].status != 0 || r[i].len != 8)
            die("a task failed", r[i].status, NULL);
        memcpy(&x, r[i].data, 8);
        if (x != 2 * (int64_t)i) {
            fprintf(stderr, "bench-pool: wrong result at %zu\n", i);
            exit(1);
        }
    }
}

#define N_APPLY_ASYNC 100000
static double
b_apply_async(mproc_apool_t *p)
{
    static mproc_async_t *ar[N_APPLY_ASYNC];
    double t = now();
    size_t i;
    int r;

    for (i = 0; i < N_APPLY_ASYNC; i++)
        if ((r = mproc_apool_apply_async(p, f_double, &vals[i], 8, NULL,
                                         &ar[i])) < 0)
            die("apply_async", r, p);
    for (i = 0; i < N_APPLY_ASYNC; i++) {
        const struct mproc_result *res;
        int64_t x;
        if ((r = mproc_async_get(ar[i], -1, &res, NULL)) < 0)
            die("get", r, p);
        memcpy(&x, res->data, 8);
        if (x != 2 * (int64_t)i)
            die("apply_async: wrong result", MPROC_EINVAL, p);
        mproc_async_free(ar[i]);
    }
    return N_APPLY_ASYNC / (now() - t);
}

static double
map_n(mproc_apool_t *p, size_t n, unsigned chunksize)
{
    struct mproc_input in = {.items = items, .n = n};
    struct mproc_call_opts call = {.chunksize = chunksize};
    const struct mproc_result *res;
    mproc_async_t *ar;
    double t = now();
    size_t got;
    int r;

    if ((r = mproc_apool_map(p, f_double, &in, &call, &ar)) < 0)
        die("map", r, p);
    t = now() - t;
    mproc_async_get(ar, 0, &res, &got);
    check(res, got);
    mproc_async_free(ar);
    return n / t;
}

#define N_MAP_DEFAULT 1000000
#define N_MAP_C1 100000
#define N_IMAP 1000000
#define N_APPLY 5000

static double
b_map_default(mproc_apool_t *p)
{
    return map_n(p, N_MAP_DEFAULT, 0);
}

static double
b_map_c1(mproc_apool_t *p)
{
    return map_n(p, N_MAP_C1, 1);
}

/* Python's default rule, len / (4 * workers), given explicitly: the same
 * work as b_map_default, to compare the default against it. */
static double
b_map_pyrule(mproc_apool_t *p)
{
    return map_n(p, N_MAP_DEFAULT, N_MAP_DEFAULT / (4 * WORKERS));
}

struct counter {
    int64_t i, n;
};

static int
count_next(void *user, struct mproc_item *item)
{
    struct counter *c = user;
    if (c->i >= c->n)
        return 0;
    item->data = &vals[c->i++];
    item->len = 8;
    return 1;
}

static double
b_imap(mproc_apool_t *p)
{
    struct counter c = {0, N_IMAP};
    struct mproc_input in = {.next = count_next, .next_user = &c};
    const struct mproc_result *res;
    mproc_imap_t *it;
    double t = now();
    int64_t i = 0, x;
    int r;

    if ((r = mproc_apool_imap(p, f_double, &in, NULL, &it)) < 0)
        die("imap", r, p);
    while ((r = mproc_imap_next(it, -1, &res)) == 1) {
        memcpy(&x, res->data, 8);
        if (res->status != 0 || x != 2 * i++)
            die("imap: wrong result", res->status, p);
    }
    if (r < 0 || i != N_IMAP)
        die("imap", r, p);
    mproc_imap_free(it);
    return N_IMAP / (now() - t);
}

static double
b_apply(mproc_apool_t *p)
{
    double t = now();
    size_t i;
    int r;

    for (i = 0; i < N_APPLY; i++) {
        mproc_async_t *ar;
        if ((r = mproc_apool_apply(p, f_double, &vals[i], 8, &ar)) < 0)
            die("apply", r, p);
        mproc_async_free(ar);
    }
    return (now() - t) / N_APPLY * 1e6;
}

/* The floor of a round trip between two processes on this machine, in
 * the same run: 8 bytes to a forked child over a pipe and back (two
 * sleeping hand-offs, as the worker's answer and the caller's wake-up
 * are), in us per round trip, medians of REPS. */
static double
raw_roundtrip(void)
{
    int a[2], b[2];
    double v[REPS];
    pid_t pid;
    int rep, i;
    char buf[8] = {0};

    if (pipe(a) < 0 || pipe(b) < 0)
        return 0;
    pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        close(a[1]); /* so that the parent's close ends the loop */
        close(b[0]);
        while (read(a[0], buf, 8) == 8)
            if (write(b[1], buf, 8) != 8)
                break;
        _exit(0);
    }
    close(a[0]);
    close(b[1]);
    for (rep = 0; rep < REPS; rep++) {
        double t = now();
        for (i = 0; i < N_APPLY; i++)
            if (write(a[1], buf, 8) != 8 || read(b[0], buf, 8) != 8)
                break;
        v[rep] = (now() - t) / N_APPLY * 1e6;
    }
    close(a[1]);
    close(b[0]);
    waitpid(pid, NULL, 0);
    qsort(v, REPS, sizeof(v[0]), cmp_double);
    last_lo = v[0];
    last_hi = v[REPS - 1];
    return v[REPS / 2];
}

/* The floor of the Pool API's round trip, in the same run: its three
 * parties (the caller, the pool's result thread, a worker process)
 * handing a counter on through shared memory, each spinning for it and
 * giving way with sched_yield() between looks (on 2 CPUs one of the
 * three has none, and a pure spin would keep it off until the
 * scheduler's tick).  No queue, no channel, no bookkeeping: what any
 * design with a result thread between caller and worker costs at least
 * here.  In us per round trip, medians of REPS. */
struct relay {
    alignas(64) _Atomic long a2b;
    alignas(64) _Atomic long b2c;
    alignas(64) _Atomic long c2b;
    alignas(64) _Atomic long b2a;
};

static void
relay_wait(_Atomic long *w, long v)
{
    unsigned k = 0;
    while (atomic_load_explicit(w, memory_order_acquire) != v)
        if (++k < 64)
            __builtin_ia32_pause();
        else
            sched_yield();
}

static void *
relay_mid(void *arg)
{
    struct relay *r = arg;
    long i;
    for (i = 1; i <= (long)(REPS * N_APPLY); i++) {
        relay_wait(&r->a2b, i);
        atomic_store_explicit(&r->b2c, i, memory_order_release);
        relay_wait(&r->c2b, i);
        atomic_store_explicit(&r->b2a, i, memory_order_release);
    }
    return NULL;
}

static double
relay_roundtrip(void)
{
    struct relay *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    double v[REPS];
    pthread_t thr;
    long i = 0;
    pid_t pid;
    int rep, k;

    if (r == MAP_FAILED)
        return 0;
    pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        for (i = 1; i <= (long)(REPS * N_APPLY); i++) {
            relay_wait(&r->b2c, i);
            atomic_store_explicit(&r->c2b, i, memory_order_release);
        }
        _exit(0);
    }
    if (pthread_create(&thr, NULL, relay_mid, r) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 0;
    }
    for (rep = 0; rep < REPS; rep++) {
        double t = now();
        for (k = 0; k < N_APPLY; k++) {
            i++;
            atomic_store_explicit(&r->a2b, i, memory_order_release);
            relay_wait(&r->b2a, i);
        }
        v[rep] = (now() - t) / N_APPLY * 1e6;
    }
    pthread_join(thr, NULL);
    waitpid(pid, NULL, 0);
    munmap(r, sizeof(*r));
    qsort(v, REPS, sizeof(v[0]), cmp_double);
    last_lo = v[0];
    last_hi = v[REPS - 1];
    return v[REPS / 2];
}

static int
f_sleep(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    usleep(2000 * 1000);
    return MPROC_TASK_OK;
}

/* Issue 12.9: a map of 3,000 tasks submitted behind one task of 2 s; its
 * time in ms (milliseconds when nothing waits behind the slow task, about
 * 2,000 when something does). */
static double
b_map_behind_slow(mproc_apool_t *p)
{
    mproc_async_t *slow;
    double t;
    int r;

    if ((r = mproc_apool_apply_async(p, f_sleep, "", 0, NULL, &slow)) < 0)
        die("apply_async", r, p);
    usleep(100 * 1000); /* let it start */
    t = now();
    map_n(p, 3000, 0);
    t = now() - t;
    mproc_async_wait(slow, -1);
    mproc_async_free(slow);
    return t * 1e3;
}

/* Python's figures, from the script's "name value unit" lines. */
struct py {
    const char *name;
    double value;
    bool have;
};

static struct py py[] = {
    {"pool_apply_async", 0, false},
    {"pool_map_default_chunksize", 0, false},
    {"pool_map_chunksize1", 0, false},
    {"pool_imap", 0, false},
    {"pool_apply_roundtrip", 0, false},
    {"ppe_submit", 0, false},
    {"ppe_map_default_chunksize", 0, false},
    {"ppe_map_chunksize1", 0, false},
    {"ppe_submit_roundtrip", 0, false},
};

static struct py *
py_get(const char *name)
{
    size_t i;
    for (i = 0; i < sizeof(py) / sizeof(py[0]); i++)
        if (strcmp(py[i].name, name) == 0)
            return &py[i];
    return NULL;
}

static void
run_python(const char *script)
{
    char cmd[4200], line[512], name[128];
    double v;
    FILE *fp;

    snprintf(cmd, sizeof(cmd), "python3 '%s'", script);
    fp = popen(cmd, "r");
    if (fp == NULL)
        return;
    while (fgets(line, sizeof(line), fp) != NULL) {
        struct py *e;
        fputs("  python: ", stdout);
        fputs(line, stdout);
        if (sscanf(line, "%127s %lf", name, &v) == 2 &&
            (e = py_get(name)) != NULL) {
            e->value = v;
            e->have = true;
        }
    }
    pclose(fp);
}

/*
 * apply_async against Python's at the same moments: ROUNDS rounds, each
 * SIDE runs of ours, one of Python's (a Pool kept warm by
 * python_pool.py serve; 100,000 tasks take it seconds), SIDE more of
 * ours; a round's ratio is our median over Python's run.  A ratio of
 * figures taken minutes apart compared two loads of a shared machine
 * (66x to 104x in one session).  The median ratio, its range, and the
 * medians of both sides; 0 when Python is not there.
 */
#define ROUNDS 5
#define SIDE 5
static double
interleaved_apply_async(const char *script, double *lo, double *hi,
                        double *ours, double *theirs)
{
    char cmd[4200], line[128];
    double ratio[ROUNDS], mine[ROUNDS], py_r[ROUNDS], v[2 * SIDE];
    struct mproc_pool_opts o;
    mproc_apool_t *p;
    mproc_err_t err;
    FILE *in, *out;
    int fin[2], fout[2], k, i, n = 0;
    pid_t pid;

    mproc_pool_opts_init(&o);
    o.workers = WORKERS;
    o.ipc = "shmring";
    if (mproc_apool_new(&p, &o, &err) < 0)
        return 0;
    map_n(p, 1000, 0);
    /* Close-on-exec: the pool's workers, forked later when one is
     * replaced, must not hold Python's stdin open (it would never see
     * the end).  dup2() clears the flag on 0 and 1. */
    if (pipe2(fin, O_CLOEXEC) < 0 || pipe2(fout, O_CLOEXEC) < 0)
        return 0;
    snprintf(cmd, sizeof(cmd), "python3 '%s' serve", script);
    pid = fork();
    if (pid == 0) {
        dup2(fin[0], 0);
        dup2(fout[1], 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fin[0]);
    close(fout[1]);
    in = fdopen(fin[1], "w");
    out = fdopen(fout[0], "r");
    for (k = 0; pid > 0 && in != NULL && out != NULL && k < ROUNDS; k++) {
        for (i = 0; i < SIDE; i++)
            v[i] = b_apply_async(p);
        if (fputs("go\n", in) == EOF || fflush(in) == EOF ||
            fgets(line, sizeof(line), out) == NULL ||
            sscanf(line, "%lf", &py_r[k]) != 1 || py_r[k] <= 0)
            break;
        for (i = SIDE; i < 2 * SIDE; i++)
            v[i] = b_apply_async(p);
        qsort(v, 2 * SIDE, sizeof(v[0]), cmp_double);
        mine[k] = (v[SIDE - 1] + v[SIDE]) / 2;
        ratio[k] = mine[k] / py_r[k];
        n++;
    }
    if (in != NULL)
        fclose(in);
    else
        close(fin[1]);
    if (out != NULL)
        fclose(out);
    else
        close(fout[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
    if (n < ROUNDS)
        return 0;
    qsort(ratio, ROUNDS, sizeof(ratio[0]), cmp_double);
    qsort(mine, ROUNDS, sizeof(mine[0]), cmp_double);
    qsort(py_r, ROUNDS, sizeof(py_r[0]), cmp_double);
    *lo = ratio[0];
    *hi = ratio[ROUNDS - 1];
    *ours = mine[ROUNDS / 2];
    *theirs = py_r[ROUNDS / 2];
    return ratio[ROUNDS / 2];
}

/* One line of the table; `higher` when more is better. */
static void
row(const char *what, double c, const char *unit, const char *pool_name,
    const char *ppe_name, bool higher, double target)
{
    struct py *a = py_get(pool_name), *b = ppe_name ? py_get(ppe_name) : NULL;
    double ra = 0, rb = 0;

    if (a != NULL && a->have && a->value > 0)
        ra = higher ? c / a->value : a->value / c;
    if (b != NULL && b->have && b->value > 0)
        rb = higher ? c / b->value : b->value / c;
    printf("%-30s %12.0f %-8s", what, c, unit);
    if (a != NULL && a->have)
        printf(" %12.0f %7.1fx", a->value, ra);
    else
        printf(" %12s %8s", "-", "-");
    if (b != NULL && b->have)
        printf(" %12.0f %7.1fx", b->value, rb);
    else
        printf(" %12s %8s", "-", "-");
    if (target > 0)
        printf("   target >=%gx vs Pool: %s", target,
               ra == 0 ? "n/a" : ra >= target ? "MET" : "MISSED");
    printf("\n");
}

/* The measurements on one IPC backend: apply_async, map default, map
 * chunksize 1, imap (tasks/s), the apply round trip (us), map with
 * Python's chunksize rule (tasks/s); each with its range in lo[], hi[]. */
#define NM 6
static int
measure(const char *ipc, double m[NM], double lo[NM], double hi[NM])
{
    struct mproc_pool_opts o;
    mproc_apool_t *p;
    mproc_err_t err;
    int r;

    mproc_pool_opts_init(&o);
    o.workers = WORKERS;
    o.ipc = ipc;
    if ((r = mproc_apool_new(&p, &o, &err)) < 0) {
        fprintf(stderr, "bench-pool: %s\n", err.msg);
        return r;
    }
    /* Warm up: start the workers. */
    map_n(p, 1000, 0);
    printf("mproc Pool API, %d workers (fork), ipc %s, medians of %d runs\n",
           WORKERS, ipc, REPS);
#define ONE(k, fn, fmt, ...)                                               \
    do {                                                                   \
        m[k] = median(fn, p);                                              \
        lo[k] = last_lo;                                                   \
        hi[k] = last_hi;                                                   \
        printf(fmt " (min %.1f max %.1f)\n", __VA_ARGS__, m[k], lo[k],     \
               hi[k]);                                                     \
    } while (0)
    ONE(0, b_apply_async, "  apply_async + get, %d tasks: %.0f tasks/s",
        N_APPLY_ASYNC);
    ONE(1, b_map_default, "  map, default chunksize, %d items: %.0f tasks/s",
        N_MAP_DEFAULT);
    ONE(5, b_map_pyrule,
        "  map, chunksize %d (Python's rule), %d items: %.0f tasks/s",
        N_MAP_DEFAULT / (4 * WORKERS), N_MAP_DEFAULT);
    ONE(2, b_map_c1, "  map, chunksize 1, %d items: %.0f tasks/s", N_MAP_C1);
    ONE(3, b_imap, "  imap, %d items: %.0f tasks/s", N_IMAP);
    ONE(4, b_apply, "  apply round trip, %d calls: %.1f us", N_APPLY);
#undef ONE
    printf("  map of 3000 behind one 2 s task: %.1f ms\n",
           b_map_behind_slow(p));
    fflush(stdout);
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *script = argc > 1 ? argv[1] : "bench/python_pool.py";
    double pipe[NM], ring[NM], plo[NM], phi[NM], lo[NM], hi[NM];
    double raw, rawlo, rawhi, relay, relaylo, relayhi;

    make_items(N_MAP_DEFAULT);
    if (measure("pipe", pipe, plo, phi) < 0 ||
        measure("shmring", ring, lo, hi) < 0)
        return 1;
    raw = raw_roundtrip();
    rawlo = last_lo;
    rawhi = last_hi;
    printf("raw round trip, 8 bytes to a forked child over pipes and back: "
           "%.1f us (min %.1f max %.1f)\n", raw, rawlo, rawhi);
    relay = relay_roundtrip();
    relaylo = last_lo;
    relayhi = last_hi;
    printf("raw three-party relay (caller thread, second thread, forked "
           "child; shared memory, spin then yield): %.1f us (min %.1f max "
           "%.1f)\n", relay, relaylo, relayhi);

    printf("\nPython (same machine, same run): %s\n", script);
    fflush(stdout);
    run_python(script);

    /* The table compares the faster backend, shmring. */
    printf("\n(mproc on shmring)\n%-30s %12s %-8s %12s %8s %12s %8s\n",
           "measurement", "mproc", "",
           "Pool", "ratio", "PPExecutor", "ratio");
    row("apply_async throughput", ring[0], "tasks/s", "pool_apply_async",
        "ppe_submit", true, 0);
    row("map, default chunksize", ring[1], "tasks/s",
        "pool_map_default_chunksize", "ppe_map_default_chunksize", true, 2);
    row("map, chunksize 1", ring[2], "tasks/s", "pool_map_chunksize1",
        "ppe_map_chunksize1", true, 35);
    row("imap (default chunksize)", ring[3], "tasks/s", "pool_imap", NULL,
        true, 0);
    row("apply round trip (lower=better)", ring[4], "us",
        "pool_apply_roundtrip", "ppe_submit_roundtrip", false, 50);
    printf("map default vs chunksize %d (Python's rule), same items: "
           "%.2fx\n", N_MAP_DEFAULT / (4 * WORKERS),
           ring[5] > 0 ? ring[1] / ring[5] : 0);
    {
        double ilo, ihi, ours, theirs,
            x = interleaved_apply_async(script, &ilo, &ihi, &ours, &theirs);

        if (x > 0)
            printf("apply_async vs Pool, %d rounds interleaved (%d runs of "
                   "ours around each of Python's): mproc %.0f, Python %.0f "
                   "tasks/s: %.1fx (rounds %.1f-%.1f); target >=100x: %s\n",
                   ROUNDS, 2 * SIDE, ours, theirs, x, ilo, ihi,
                   x >= 100 ? "MET" : "MISSED");
        else
            printf("apply_async vs Pool, interleaved: python3 not there; "
                   "target >=100x: n/a\n");
    }
    printf("apply round trip %.1f us (min %.1f max %.1f); the raw "
           "two-process round trip %.1f us, ratio %.2fx; target <= 5 us: "
           "%s\n",
           ring[4], lo[4], hi[4], raw, raw > 0 ? ring[4] / raw : 0,
           ring[4] <= 5 ? "MET" : "MISSED");
    printf("apply round trip vs the raw three-party relay (the floor of "
           "a round trip through a result thread, which apply's own turn "
           "skips): %.2fx (relay %.1f us)\n",
           relay > 0 ? ring[4] / relay : 0, relay);
    return 0;
}

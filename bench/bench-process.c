/* SPDX-License-Identifier: MIT */
/*
 * bench-process: start + join of a trivial target per start method,
 * against the raw primitives (fork + _exit + waitpid; posix_spawn of a tiny
 * static program + waitpid) and Python's multiprocessing, all in the same
 * run.  Medians over N processes each (default 1000).
 *
 *   make bench-process
 *   bench/bench-process PLUGIN.so TINY_STATIC_PROGRAM [PYTHON_SCRIPT] [N]
 *
 * The machine is shared and its load changes from one second to the
 * next, so the measures that are compared are interleaved, one process of
 * each in turn: a raw fork, an mproc fork with a function target, one with
 * a plugin target, a forkserver start; then a raw spawn of the static
 * program, one of /bin/true, an mproc spawn.  Each ratio is the median of
 * one measure over the median of its reference; the range after it is
 * the lowest and highest ratio over five consecutive fifths of the run.
 *
 * Python's fork starts are taken in blocks between ours: every PY_EVERY
 * rounds, PY_BLOCK mproc fork starts (plugin target) in a row, then as
 * many by a Python process (python_process.py serve), which says how long
 * each took.  Both in a loop, so both warm, and both under the load of
 * the same moment.  Python's spawn and forkserver starts, ten to forty
 * times slower, are measured after the run.
 *
 * Two floors, interleaved too: a raw fork whose child writes a result
 * frame into a file made once and whose parent reads it (the least a
 * fork start with a result does), and one request to a small static
 * server that clones a child of ours (bench-true server: the least a
 * forkserver start does).
 *
 * Issue 13's targets, printed MET or MISSED at the end: fork with a
 * plugin target <= 1.25x raw fork and >= 10x faster than Python's fork
 * start; forkserver <= 1.5x raw fork.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

extern char **environ;

#define BLOCKS 5
#define PY_EVERY 50 /* a block of Python fork starts every 50 rounds */
#define PY_BLOCK 20 /* fork starts a block */

static double
now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n), v left as it was. */
static double
median(const double *v, int n)
{
    double *c = malloc((size_t)n * sizeof(*c)), m;

    if (c == NULL)
        exit(1);
    memcpy(c, v, (size_t)n * sizeof(*c));
    qsort(c, (size_t)n, sizeof(*c), cmp_double);
    m = c[n / 2];
    free(c);
    return m;
}

/* One measure: its samples, in the order taken. */
struct measure {
    const char *name;
    double *v;
};

/* The ratio of a's median to ref's, and its range over BLOCKS parts. */
static double
ratio(const struct measure *a, const struct measure *ref, int n, double *lo,
      double *hi)
{
    int b, k = n / BLOCKS;

    *lo = 1e30;
    *hi = 0;
    for (b = 0; b < BLOCKS && k > 0; b++) {
        double r = median(a->v + b * k, k) / median(ref->v + b * k, k);
        if (r < *lo)
            *lo = r;
        if (r > *hi)
            *hi = r;
    }
    return median(a->v, n) / median(ref->v, n);
}

static double
raw_fork(void)
{
    double t = now_us();
    int st;
    pid_t pid = fork();

    if (pid == 0)
        _exit(0);
    waitpid(pid, &st, 0);
    return now_us() - t;
}

/*
 * The least a fork start that brings a result back does: a fork whose
 * child writes a 24-byte frame at offset 0 of a file made once, flushes
 * stdio and exits; the parent reaps it and reads the frame.
 */
static int result_fd = -1;

static double
raw_fork_result(void)
{
    char frame[24] = {2};
    double t = now_us();
    int st;
    pid_t pid = fork();

    if (pid == 0) {
        if (pwrite(result_fd, frame, sizeof(frame), 0) < 0)
            _exit(1);
        fflush(NULL);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    if (pread(result_fd, frame, sizeof(frame), 0) != (ssize_t)sizeof(frame))
        exit(1);
    return now_us() - t;
}

/* The least a forkserver start does: one request to a small static
 * server (bench-true server) that clones a child of ours, which we reap. */
static int server_sock = -1;

static double
raw_server(void)
{
    double t = now_us();
    int32_t pid;
    int st;

    if (write(server_sock, "x", 1) != 1 ||
        read(server_sock, &pid, sizeof(pid)) != (ssize_t)sizeof(pid) ||
        pid <= 0) {
        fprintf(stderr, "bench-process: the raw server failed\n");
        exit(1);
    }
    waitpid(pid, &st, 0);
    return now_us() - t;
}

static void
raw_server_start(const char *tiny)
{
    char *argv[] = {(char *)tiny, (char *)"server", NULL};
    posix_spawn_file_actions_t fa;
    int sv[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        exit(1);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
    if (posix_spawn(&pid, tiny, &fa, NULL, argv, environ) != 0) {
        fprintf(stderr, "bench-process: cannot spawn %s server\n", tiny);
        exit(1);
    }
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    server_sock = sv[0];
}

/* The Python process that makes fork starts on request (serve mode). */
static FILE *py_in, *py_out;
static pid_t py_pid = -1;

static bool
py_serve_start(const char *script)
{
    char *argv[] = {(char *)"python3", (char *)script, (char *)"serve", NULL};
    posix_spawn_file_actions_t fa;
    int in[2], out[2];

    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        return false;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&py_pid, "python3", &fa, NULL, argv, environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        py_pid = -1;
        return false;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    py_in = fdopen(in[1], "w");
    py_out = fdopen(out[0], "r");
    return py_in != NULL && py_out != NULL;
}

/* PY_BLOCK Python fork starts + joins in a row, their times in
 * microseconds in v[]; false: Python is gone or said something else. */
static bool
py_forks(double *v)
{
    char line[PY_BLOCK * 32], *p = line, *end;
    int i;

    if (py_in == NULL || fprintf(py_in, "%d\n", PY_BLOCK) < 0 ||
        fflush(py_in) == EOF || fgets(line, sizeof(line), py_out) == NULL)
        return false;
    for (i = 0; i < PY_BLOCK; i++, p = end) {
        v[i] = strtod(p, &end);
        if (end == p || v[i] <= 0)
            return false;
    }
    return true;
}

static void
py_serve_stop(void)
{
    if (py_in != NULL)
        fclose(py_in); /* end of file: the server ends */
    if (py_out != NULL)
        fclose(py_out);
    while (py_pid > 0 && waitpid(py_pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static double
raw_spawn(const char *prog)
{
    char *argv[] = {(char *)prog, NULL};
    double t = now_us();
    pid_t pid;
    int st;

    if (posix_spawn(&pid, prog, NULL, NULL, argv, environ) != 0) {
        fprintf(stderr, "bench-process: cannot spawn %s\n", prog);
        exit(1);
    }
    waitpid(pid, &st, 0);
    return now_us() - t;
}

static int
noop(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
     struct mproc_buf *out)
{
    (void)ctx, (void)in, (void)len, (void)index, (void)out;
    return MPROC_TASK_OK;
}

/* One start + join of `target` (NULL: the function noop) by `method`. */
static double
mproc_start_join(const char *method, const char *target)
{
    struct mproc_process_opts o;
    mproc_process_t *p = NULL;
    mproc_err_t err;
    double t;
    int code = -1;

    mproc_process_opts_init(&o);
    mproc_get_context(method, &o.context, NULL);
    o.fn = target ? NULL : noop;
    o.target = target;
    t = now_us();
    if (mproc_process_new(&p, &o, &err) < 0) {
        fprintf(stderr, "bench-process: %s: %s\n", method, err.msg);
        exit(1);
    }
    if (mproc_process_start(p) < 0 || mproc_process_join(p, -1) < 0 ||
        mproc_process_exitcode(p, &code) < 0 || code != 0) {
        fprintf(stderr, "bench-process: %s: %s (exit code %d)\n", method,
                mproc_process_errmsg(p), code);
        exit(1);
    }
    mproc_process_close(p);
    mproc_process_free(p);
    return now_us() - t;
}

static void
row(const struct measure *m, int n, const struct measure *ref)
{
    double lo, hi, r;

    if (ref == NULL) {
        printf("%-40s %10.1f\n", m->name, median(m->v, n));
        return;
    }
    r = ratio(m, ref, n, &lo, &hi);
    printf("%-40s %10.1f  %5.2fx %s (%.2f-%.2f)\n", m->name, median(m->v, n),
           r, ref->name, lo, hi);
}

int
main(int argc, char **argv)
{
    const char *plugin = argc > 1 ? argv[1] : ".libs/echo.so";
    const char *tiny = argc > 2 ? argv[2] : "bench/bench-true";
    const char *script = argc > 3 ? argv[3] : "bench/python_process.py";
    int n = argc > 4 ? atoi(argv[4]) : 1000, ns, i;
    static const char *const methods[] = {"fork", "spawn", "forkserver"};
    /* The anchors' figures, used when python3 is not there. */
    double py[3] = {3200, 98000, 16000}, lo, hi, rfork, rfs, pyx[3], reach;
    struct measure rf = {"raw fork", NULL}, fn = {"mproc fork, function target",
                                                 NULL},
                   rr = {"raw fork + result (the floor)", NULL},
                   rv = {"raw forkserver request (the floor)", NULL},
                   pf = {"mproc fork, plugin target", NULL},
                   fs = {"mproc forkserver, plugin target", NULL},
                   rs = {"raw spawn", NULL},
                   rd = {"raw posix_spawn /bin/true (dynamic)", NULL},
                   ps = {"mproc spawn, plugin target", NULL},
                   pyf = {"python fork", NULL},
                   pfs = {"mproc fork, plugin target, in blocks", NULL};
    struct measure *all[] = {&rf, &rr, &rv, &fn, &pf, &fs, &rs, &rd, &ps,
                             &pyf, &pfs};
    char target[4200], cmd[4300], line[256];
    bool py_live = false, met, py_inter;
    int np = 0;
    FILE *f;

    if (n < BLOCKS)
        n = BLOCKS;
    /* spawn costs ten forks: a fifth as many keep the run short. */
    ns = n / 5 < BLOCKS ? BLOCKS : n / 5;
    for (i = 0; i < (int)(sizeof(all) / sizeof(all[0])); i++)
        if ((all[i]->v = malloc((size_t)n * sizeof(double))) == NULL)
            return 1;
    snprintf(target, sizeof(target), "%s:echo", plugin);
    if ((result_fd = memfd_create("bench-result", MFD_CLOEXEC)) < 0)
        return 1;
    raw_server_start(tiny);
    /* Python's warm-up: its first block, not kept. */
    py_inter = py_serve_start(script) && py_forks(pyf.v);
    /* Warm-up: the plugin is loaded, the forkserver started. */
    mproc_start_join("fork", NULL);
    for (i = 0; i < 3; i++)
        mproc_start_join(methods[i], target);

    for (i = 0; i < n; i++) {
        rf.v[i] = raw_fork();
        rr.v[i] = raw_fork_result();
        rv.v[i] = raw_server();
        fn.v[i] = mproc_start_join("fork", NULL);
        pf.v[i] = mproc_start_join("fork", target);
        fs.v[i] = mproc_start_join("forkserver", target);
        /* A block of ours in a row, then Python's: the same load. */
        if (py_inter && i % PY_EVERY == 0 && np + PY_BLOCK <= n) {
            int k;

            for (k = 0; k < PY_BLOCK; k++)
                pfs.v[np + k] = mproc_start_join("fork", target);
            if (!py_forks(pyf.v + np))
                py_inter = false;
            np += PY_BLOCK;
        }
    }
    py_serve_stop();
    if (np < BLOCKS)
        py_inter = false;
    for (i = 0; i < ns; i++) {
        rs.v[i] = raw_spawn(tiny);
        rd.v[i] = raw_spawn("/bin/true");
        ps.v[i] = mproc_start_join("spawn", target);
    }

    snprintf(cmd, sizeof(cmd), "python3 '%s' %s 2>/dev/null", script,
             py_inter ? "spawn forkserver" : "");
    if ((f = popen(cmd, "r")) != NULL) {
        while (fgets(line, sizeof(line), f) != NULL) {
            char m[32];
            double ms;
            if (sscanf(line, "%31s %lf", m, &ms) != 2)
                continue;
            for (i = 0; i < 3; i++)
                if (strcmp(m, methods[i]) == 0) {
                    py[i] = ms * 1000;
                    py_live = true;
                }
        }
        pclose(f);
    }

    printf("process start + join, medians of %d interleaved (spawn: %d), "
           "microseconds; ratio (range over %d parts of the run)\n",
           n, ns, BLOCKS);
    row(&rf, n, NULL);
    row(&rr, n, &rf);
    row(&rv, n, &rf);
    row(&fn, n, &rf);
    row(&pf, n, &rf);
    row(&fs, n, &rf);
    rs.name = "raw posix_spawn (static)";
    row(&rs, ns, NULL);
    rs.name = "raw spawn";
    row(&rd, ns, &rs);
    row(&ps, ns, &rs);
    pyx[0] = py[0] / median(pf.v, n);
    if (py_inter) { /* the paired samples' medians */
        py[0] = median(pyf.v, np);
        pyx[0] = py[0] / median(pfs.v, np);
    }
    pyx[1] = py[1] / median(ps.v, ns);
    pyx[2] = py[2] / median(fs.v, n);
    for (i = 0; i < 3; i++)
        printf("python %-33s %10.1f  (%s)  mproc %.1fx faster\n", methods[i],
               py[i],
               i == 0 && py_inter ? "in blocks"
               : py_live          ? "measured"
                                  : "anchor",
               pyx[i]);

    rfork = ratio(&pf, &rf, n, &lo, &hi);
    met = rfork <= 1.25;
    printf("target: fork, plugin target <= 1.25x raw fork: %.2fx "
           "(%.2f-%.2f): %s\n", rfork, lo, hi, met ? "MET" : "MISSED");
    /* No fork start that brings a result back beats the floor (raw fork +
     * result), so python / floor is the most any could reach here: below
     * 10x the target is out of reach in this run, whatever mproc does. */
    reach = py[0] / median(rr.v, n);
    /* Interleaved: the ratio of the paired samples, with its range over
     * the parts of the run, as for the ratios to raw fork. */
    lo = hi = pyx[0];
    if (py_inter)
        (void)ratio(&pyf, &pfs, np, &lo, &hi);
    printf("target: fork, plugin target >= 10x python fork: %.1fx "
           "(%.1f-%.1f; reach: python / floor %.1fx): %s\n", pyx[0], lo, hi,
           reach,
           pyx[0] >= 10 ? "MET"
           : reach < 10 ? "MISSED (out of reach in this run)" : "MISSED");
    rfs = ratio(&fs, &rf, n, &lo, &hi);
    printf("target: forkserver <= 1.5x raw fork: %.2fx (%.2f-%.2f): %s\n",
           rfs, lo, hi, rfs <= 1.5 ? "MET" : "MISSED");
    /* What is left above the floors: the library's own share. */
    printf("floors: fork + result %.2fx raw fork, mproc fork %.2fx that "
           "floor; raw forkserver request %.2fx raw fork, mproc forkserver "
           "%.2fx that floor\n",
           ratio(&rr, &rf, n, &lo, &hi), ratio(&pf, &rr, n, &lo, &hi),
           ratio(&rv, &rf, n, &lo, &hi), ratio(&fs, &rv, n, &lo, &hi));
    for (i = 0; i < (int)(sizeof(all) / sizeof(all[0])); i++)
        free(all[i]->v);
    return 0;
}

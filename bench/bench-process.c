/* SPDX-License-Identifier: MIT */
/*
 * bench-process: start + join of a trivial target per start method,
 * against the raw primitives (fork + _exit + waitpid; posix_spawn of a tiny
 * static program + waitpid) and Python's multiprocessing, all in the same
 * run.  Medians over N processes each (default 1000).
 *
 *   make bench-process
 *   bench/bench-process PLUGIN.so TINY_STATIC_PROGRAM [PYTHON_SCRIPT] [N]
 */
#include "config.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

extern char **environ;

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

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static double
raw_fork(int n)
{
    double *v = malloc((size_t)n * sizeof(*v)), m;
    int i, st;

    for (i = 0; i < n; i++) {
        double t = now_us();
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        waitpid(pid, &st, 0);
        v[i] = now_us() - t;
    }
    m = median(v, n);
    free(v);
    return m;
}

static double
raw_spawn(const char *prog, int n)
{
    double *v = malloc((size_t)n * sizeof(*v)), m;
    char *argv[] = {(char *)prog, NULL};
    int i, st;

    for (i = 0; i < n; i++) {
        double t = now_us();
        pid_t pid;
        if (posix_spawn(&pid, prog, NULL, NULL, argv, environ) != 0) {
            fprintf(stderr, "bench-process: cannot spawn %s\n", prog);
            exit(1);
        }
        waitpid(pid, &st, 0);
        v[i] = now_us() - t;
    }
    m = median(v, n);
    free(v);
    return m;
}

static int
noop(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
     struct mproc_buf *out)
{
    (void)ctx, (void)in, (void)len, (void)index, (void)out;
    return MPROC_TASK_OK;
}

/* Start + join of `target` (NULL: the function noop) by `method`. */
static double
mproc_start_join(const char *method, const char *target, int n)
{
    struct mproc_process_opts o;
    double *v = malloc((size_t)n * sizeof(*v)), m;
    int i;

    mproc_process_opts_init(&o);
    mproc_get_context(method, &o.context, NULL);
    o.fn = target ? NULL : noop;
    o.target = target;
    for (i = -1; i < n; i++) { /* one warm-up: the forkserver starts */
        mproc_process_t *p;
        double t = now_us();
        int code = -1;

        if (mproc_process_new(&p, &o, NULL) < 0 ||
            mproc_process_start(p) < 0 || mproc_process_join(p, -1) < 0 ||
            mproc_process_exitcode(p, &code) < 0 || code != 0) {
            fprintf(stderr, "bench-process: %s: %s\n", method,
                    mproc_process_errmsg(p));
            exit(1);
        }
        if (i >= 0)
            v[i] = now_us() - t;
        mproc_process_close(p);
        mproc_process_free(p);
    }
    m = median(v, n);
    free(v);
    return m;
}

int
main(int argc, char **argv)
{
    const char *plugin = argc > 1 ? argv[1] : ".libs/echo.so";
    const char *tiny = argc > 2 ? argv[2] : "bench/bench-true";
    const char *script = argc > 3 ? argv[3] : "bench/python_process.py";
    int n = argc > 4 ? atoi(argv[4]) : 1000;
    static const char *const methods[] = {"fork", "spawn", "forkserver"};
    /* The anchors' figures, used when python3 is not there. */
    double py[3] = {3200, 98000, 16000}, me[3], fn_fork, rf, rs, rd;
    char target[4200], cmd[4300], line[256];
    bool py_live = false;
    FILE *f;
    int i;

    snprintf(target, sizeof(target), "%s:echo", plugin);
    rf = raw_fork(n);
    rs = raw_spawn(tiny, n);
    rd = raw_spawn("/bin/true", n);
    fn_fork = mproc_start_join("fork", NULL, n);
    for (i = 0; i < 3; i++)
        me[i] = mproc_start_join(methods[i], target, n);

    snprintf(cmd, sizeof(cmd), "python3 '%s' 2>/dev/null", script);
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

    printf("process start + join, medians of %d (microseconds)\n", n);
    printf("%-40s %10.1f\n", "raw fork + _exit + waitpid", rf);
    printf("%-40s %10.1f\n", "raw posix_spawn (static) + waitpid", rs);
    printf("%-40s %10.1f\n", "raw posix_spawn /bin/true (dynamic)", rd);
    printf("%-40s %10.1f  %5.2fx raw fork\n", "mproc fork, function target",
           fn_fork, fn_fork / rf);
    for (i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "mproc %s, plugin target", methods[i]);
        printf("%-40s %10.1f  %5.2fx raw %s  python %9.1f (%s)  %5.1fx "
               "faster\n",
               name, me[i], me[i] / (i == 1 ? rs : rf),
               i == 1 ? "spawn" : "fork", py[i],
               py_live ? "measured" : "anchor", py[i] / me[i]);
    }
    printf("%-40s %10.2fx\n", "mproc spawn vs /bin/true (dynamic)",
           me[1] / rd);
    printf("targets: fork <= 1.5x raw fork: %s; spawn <= 1.5x raw spawn: %s; "
           "forkserver nearer fork than spawn: %s; >= 10x python: %s\n",
           me[0] <= 1.5 * rf ? "yes" : "NO", me[1] <= 1.5 * rs ? "yes" : "NO",
           me[2] - me[0] < me[1] - me[2] ? "yes" : "NO",
           py[0] / me[0] >= 10 && py[1] / me[1] >= 10 && py[2] / me[2] >= 10
               ? "yes"
               : "NO");
    return 0;
}

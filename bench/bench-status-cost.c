/* SPDX-License-Identifier: MIT */
/*
 * bench-status-cost: what live status adds to each result, measured
 * without the noise of a whole run: the nanoseconds of one
 * mproc__status_result() call (the only per-item work status does),
 * median of 5 rounds of 10 million, over latencies like a real run's
 * (mostly equal, an occasional slower one entering the top K).  CPU
 * time of the process, not wall time: on a shared machine the loop is
 * descheduled now and then, which is not status's cost.
 * bench-status.sh prints it beside the time per item of echo.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "status/status_int.h"

#define CALLS 10000000L
#define ROUNDS 5

static double
now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int
main(void)
{
    char dir[] = "/tmp/mproc-bench-XXXXXX", sock[64];
    struct mproc__status *st = NULL;
    double ns[ROUNDS];
    mproc_err_t err;
    long i;
    int r;

    if (mkdtemp(dir) == NULL)
        return 1;
    setenv("XDG_RUNTIME_DIR", dir, 1);
    if (mproc__status_open(&st, "bench", 2, &err) < 0 || st == NULL) {
        fprintf(stderr, "bench-status-cost: %s\n", err.msg);
        return 1;
    }
    for (r = 0; r < ROUNDS; r++) {
        double t0 = now();
        for (i = 0; i < CALLS; i++)
            mproc__status_result(st, (uint64_t)i, 0,
                                 (i & 1023) == 0 ? i >> 10 : i & 3, "item",
                                 4);
        ns[r] = (now() - t0) * 1e9 / CALLS;
    }
    qsort(ns, ROUNDS, sizeof(ns[0]), cmp);
    printf("%.2f\n", ns[ROUNDS / 2]);
    mproc__status_close(st);
    snprintf(sock, sizeof(sock), "%s/mproc", dir);
    rmdir(sock);
    rmdir(dir);
    return 0;
}

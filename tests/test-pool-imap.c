/* SPDX-License-Identifier: MIT */
/*
 * imap over 10,000,000 items in bounded memory: the input is a callback
 * read lazily, results are consumed as they come, and this process's peak
 * resident memory (VmHWM: the host; workers are separate processes) must
 * stay under 64 MiB.
 *
 * Why 64 MiB: what the pool keeps is bounded by the imap buffer (8192
 * results of ~100 bytes), the engine's slot window (at most 1024 messages)
 * and messages of at most 256 KiB: a few MiB over the ~5 MiB a linked C
 * program starts with.  Anything proportional to the input (10M results of
 * even 8 bytes) would be far above it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "tap.h"

#define N 10000000ULL
#define BOUND_KIB (64 * 1024)


static int
f_double(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    uint64_t x;
    memcpy(&x, in, sizeof(x));
    x *= 2;
    return mproc_buf_append(out, &x, sizeof(x));
}

struct counter {
    uint64_t i, v;
};

static int
next_item(void *user, struct mproc_item *item)
{
    struct counter *c = user;
    if (c->i >= N)
        return 0;
    c->v = c->i++;
    item->data = &c->v;
    item->len = sizeof(c->v);
    return 1;
}

static long
vm_hwm_kib(void)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
            break;
    fclose(f);
    return v;
}

int
main(void)
{
    struct mproc_pool_opts o;
    struct counter c = {0, 0};
    struct mproc_input in = {.next = next_item, .next_user = &c};
    const struct mproc_result *r;
    mproc_apool_t *p;
    mproc_imap_t *it;
    mproc_err_t err;
    uint64_t i = 0, bad = 0, x;
    struct timespec t0, t1;
    long hwm;
    int st;

    alarm(300);
    plan(6);
    mproc_pool_opts_init(&o);
    o.workers = 2;
    st = mproc_apool_new(&p, &o, &err);
    is_int(st, 0, "pool");
    if (st < 0)
        return done_testing();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mproc_apool_imap(p, f_double, &in, NULL, &it);
    while ((st = mproc_imap_next(it, -1, &r)) == 1) {
        memcpy(&x, r->data, sizeof(x));
        if (r->status != 0 || r->index != i || x != 2 * i)
            bad++;
        i++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    is_int(st, 0, "imap ends");
    is_int(i, N, "10,000,000 results");
    is_int(bad, 0, "in order, each right");
    mproc_imap_free(it);
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
    hwm = vm_hwm_kib();
    diag("%.1f s, %.2f M items/s, peak RSS %ld KiB",
         (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
         N / ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9) /
             1e6,
         hwm);
    if (TAP_SANITIZED || (getenv("LD_PRELOAD") != NULL &&
                      strstr(getenv("LD_PRELOAD"), "vgpreload") != NULL))
        ok(1, "# SKIP peak RSS under a sanitizer or valgrind is not the "
              "program's");
    else
        ok(hwm > 0 && hwm < BOUND_KIB, "peak RSS %ld KiB < %d KiB", hwm,
           BOUND_KIB);
    is_int(waitpid(-1, NULL, WNOHANG), -1, "no child left");
    return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * The Pool API's result storage (issue 13.3): map and apply results live
 * in a per-job arena, a freed job's result memory and apply jobs are
 * reused by the next ones.  Asserts what a user relies on: every result
 * (data, length, NUL after it, status, message) stays right across many
 * jobs, while older jobs are still held, for zero-length, small, large
 * (past an arena chunk) and failed results, when a worker dies mid-map,
 * for apply_async bursts past the pool's store of free jobs, and after
 * the pool itself is freed; apply_async out of memory (address space
 * capped) fails cleanly.  tests/pool-arena-shmring.sh runs it on the
 * shmring backend.
 */
#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "tap.h"

/* Under valgrind, fewer tasks (the same paths: sizes past the arena's
 * chunks; only the apply bursts stay under the pool's store of jobs). */
static int slow;

/* Items are decimal numbers; the output of item x is out_len(x) bytes of
 * a pattern that depends on x and the position; x % 97 == 5 fails with
 * "bad x"; "kill" makes the worker die. */
static size_t
out_len(long x)
{
    if (x % 5 == 0)
        return 0;
    if (x % 1001 == 3)
        return (size_t)1 << 20; /* past a quarter of a chunk */
    return (size_t)(x * 7919 % 700);
}

static char
pat(long x, size_t i)
{
    return (char)('a' + (x + i) % 26);
}

static int
f_out(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    long x;
    size_t n, i;
    char *d;

    if (len == 4 && memcmp(in, "kill", 4) == 0)
        raise(SIGKILL);
    x = atol(in);
    if (x % 97 == 5)
        return mproc_fail(ctx, "bad %ld", x);
    n = out_len(x);
    if (n == 0)
        return MPROC_TASK_OK;
    if (mproc_buf_reserve(out, n) != MPROC_TASK_OK)
        return mproc_fail(ctx, "no memory");
    d = out->data + out->len;
    for (i = 0; i < n; i++)
        d[i] = pat(x, i);
    out->len += n;
    return MPROC_TASK_OK;
}

/* Whether r is the right result of item x. */
static int
right(const struct mproc_result *r, long x)
{
    char want[32];
    size_t i, n = out_len(x);
    const char *d = r->data;

    if (x % 97 == 5) {
        snprintf(want, sizeof(want), "bad %ld", x);
        return r->status == MPROC_ETASK && r->message != NULL &&
               strcmp(r->message, want) == 0;
    }
    if (r->status != 0 || r->len != n || d == NULL || d[n] != '\0')
        return 0;
    for (i = 0; i < n; i++)
        if (d[i] != pat(x, i))
            return 0;
    return 1;
}

struct items {
    char (*txt)[24];
    struct mproc_item *it;
    size_t n;
};

static void
items_make(struct items *s, size_t n, long base)
{
    size_t i;
    s->txt = malloc(n * sizeof(*s->txt));
    s->it = malloc(n * sizeof(*s->it));
    s->n = n;
    for (i = 0; i < n; i++) {
        snprintf(s->txt[i], sizeof(s->txt[i]), "%ld", base + (long)i);
        s->it[i].data = s->txt[i];
        s->it[i].len = strlen(s->txt[i]);
    }
}

static void
items_free(struct items *s)
{
    free(s->txt);
    free(s->it);
}

/* How many results of a map of items base.. are wrong (skipping `skip`). */
static size_t
wrong(const struct mproc_result *r, size_t n, long base, size_t skip)
{
    size_t i, bad = 0;
    for (i = 0; i < n; i++)
        if (i != skip && !right(&r[i], base + (long)i))
            bad++;
    return bad;
}

static mproc_apool_t *
new_pool(size_t message_max)
{
    struct mproc_pool_opts o;
    mproc_apool_t *p = NULL;
    mproc_err_t err;

    mproc_pool_opts_init(&o);
    o.workers = 2;
    if (message_max > 0)
        o.message_max = message_max;
    if (getenv("MPROC_TEST_IPC") != NULL)
        o.ipc = getenv("MPROC_TEST_IPC");
    if (mproc_apool_new(&p, &o, &err) < 0)
        diag("mproc_apool_new: %s", err.msg);
    return p;
}

/* Many maps in a row, each checked after the next one ran (so a reused
 * array or chunk must not be one a held job still uses). */
static void
test_many_jobs(mproc_apool_t *p)
{
    enum { JOBS = 12 };
    size_t N = slow ? 1500 : 6000;
    mproc_async_t *prev = NULL;
    struct items s[JOBS];
    size_t bad = 0, got, k;
    const struct mproc_result *r;
    int st, ok_st = 1;

    for (k = 0; k < JOBS; k++) {
        struct mproc_input in;
        mproc_async_t *ar;

        /* Sizes vary from job to job: a smaller map reuses a larger
         * one's array, a larger one cannot. */
        items_make(&s[k], N / 2 + (k * 1237) % N, (long)k * 100000);
        in = (struct mproc_input){.items = s[k].it, .n = s[k].n};
        st = mproc_apool_map(p, f_out, &in, NULL, &ar);
        if (st != MPROC_ETASK)
            ok_st = 0;
        if (prev != NULL) {
            mproc_async_get(prev, 0, &r, &got);
            bad += got != s[k - 1].n;
            bad += wrong(r, got, (long)(k - 1) * 100000, (size_t)-1);
            mproc_async_free(prev);
            items_free(&s[k - 1]);
        }
        prev = ar;
    }
    mproc_async_get(prev, 0, &r, &got);
    bad += wrong(r, got, (long)(JOBS - 1) * 100000, (size_t)-1);
    mproc_async_free(prev);
    items_free(&s[JOBS - 1]);
    ok(ok_st, "%d maps with failures: each MPROC_ETASK", JOBS);
    is_int(bad, 0, "... every result right (zero-length, small, 1 MiB, "
                   "failed), checked after the next map ran");
}

/* Results larger than an arena chunk (4 MiB) among small ones. */
static int
f_big(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    size_t n = index % 4 == 1 ? (size_t)5 << 20 : index % 4 == 2 ? 0 : 10;
    char *d;

    if (n == 0)
        return MPROC_TASK_OK;
    if (mproc_buf_reserve(out, n) != MPROC_TASK_OK)
        return mproc_fail(ctx, "no memory");
    d = out->data + out->len;
    memset(d, 'A' + (int)(index % 26), n);
    out->len += n;
    return MPROC_TASK_OK;
}

static void
test_big(void)
{
    mproc_apool_t *p = new_pool((size_t)6 << 20);
    struct mproc_item it[12];
    struct mproc_input in = {.items = it, .n = 12};
    const struct mproc_result *r;
    mproc_async_t *ar;
    size_t i, got, bad = 0;

    if (p == NULL) {
        ok(0, "a pool with message_max 6 MiB");
        return;
    }
    for (i = 0; i < 12; i++) {
        it[i].data = "x";
        it[i].len = 1;
    }
    is_int(mproc_apool_map(p, f_big, &in, NULL, &ar), 0,
           "map with 5 MiB, zero-length and 10-byte results");
    mproc_async_get(ar, 0, &r, &got);
    is_int(got, 12, "... 12 results");
    for (i = 0; i < got; i++) {
        size_t n = i % 4 == 1 ? (size_t)5 << 20 : i % 4 == 2 ? 0 : 10, k;
        const char *d = r[i].data;
        if (r[i].status != 0 || r[i].len != n || d == NULL || d[n] != '\0') {
            bad++;
            continue;
        }
        for (k = 0; k < n; k++)
            if (d[k] != 'A' + (int)(i % 26)) {
                bad++;
                break;
            }
    }
    is_int(bad, 0, "... each whole, NUL after it");
    mproc_async_free(ar);
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
}

/* A worker killed mid-map: only its task fails; then a map that reuses
 * the memory of the first. */
static void
test_death(mproc_apool_t *p)
{
    struct items s;
    struct mproc_input in;
    const struct mproc_result *r;
    mproc_async_t *ar;
    size_t got;
    int st;

    items_make(&s, 5000, 0);
    s.it[1234].data = "kill";
    s.it[1234].len = 4;
    in = (struct mproc_input){.items = s.it, .n = s.n};
    st = mproc_apool_map(p, f_out, &in, NULL, &ar);
    ok(st == MPROC_EWORKER || st == MPROC_ETASK,
       "map with a worker killed at item 1234: fails (%s)",
       mproc_strerror(st));
    mproc_async_get(ar, 0, &r, &got);
    is_int(got, 5000, "... 5000 results");
    is_int(r[1234].status, MPROC_EWORKER, "... item 1234: MPROC_EWORKER");
    is_int(wrong(r, got, 0, 1234), 0, "... every other result right");
    mproc_async_free(ar);
    items_free(&s);

    items_make(&s, 4000, 7);
    in = (struct mproc_input){.items = s.it, .n = s.n};
    mproc_apool_map(p, f_out, &in, NULL, &ar);
    mproc_async_get(ar, 0, &r, &got);
    ok(got == 4000 && wrong(r, got, 7, (size_t)-1) == 0,
       "the next map, in the memory the first gave back: every result "
       "right");
    mproc_async_free(ar);
    items_free(&s);
}

static unsigned long cb_count;

static void
on_done(void *user, mproc_async_t *ar)
{
    cb_count++;
}

/* apply_async bursts larger than the pool's store of free jobs, items
 * that fit in a recycled job and one that does not, fire and forget. */
static void
test_apply(mproc_apool_t *p)
{
    enum { NMAX = 40000 };
    static mproc_async_t *ar[NMAX];
    size_t N = slow ? 3000 : NMAX;
    char big[200];
    size_t i, bad = 0, round;
    struct mproc_call_opts call = {.callback = on_done};

    for (round = 0; round < 3; round++) {
        for (i = 0; i < N; i++) {
            char txt[24];
            int l = snprintf(txt, sizeof(txt), "%zu", i * 3 + round);
            if (mproc_apool_apply_async(p, f_out, txt, (size_t)l, NULL,
                                        &ar[i]) < 0)
                bad++;
        }
        for (i = 0; i < N; i++) {
            const struct mproc_result *r;
            if (ar[i] == NULL)
                continue;
            mproc_async_get(ar[i], -1, &r, NULL);
            if (!right(r, (long)(i * 3 + round)))
                bad++;
            mproc_async_free(ar[i]);
        }
    }
    is_int(bad, 0, "3 bursts of %zu apply_async: every result right", N);

    /* An item past the recycled size: a job of its own size. */
    memset(big, ' ', sizeof(big));
    memcpy(big, "12", 2);
    big[sizeof(big) - 1] = '\0';
    {
        mproc_async_t *a;
        const struct mproc_result *r;
        is_int(mproc_apool_apply(p, f_out, big, sizeof(big) - 1, &a), 0,
               "apply of a 199-byte item");
        mproc_async_get(a, 0, &r, NULL);
        ok(right(r, 12), "... its result right");
        mproc_async_free(a);
    }

    cb_count = 0;
    for (i = 0; i < 1000; i++)
        if (mproc_apool_apply_async(p, f_out, "8", 1, &call, NULL) < 0)
            bad++;
    {
        /* An apply behind them: the result thread runs callbacks in
         * order of completion, so wait for the count instead. */
        int spins = 0;
        while (cb_count < 1000 && spins++ < 20000)
            usleep(1000);
    }
    is_int(cb_count, 1000, "1000 fire-and-forget apply_async: each callback "
                           "ran once");
}

/* Results held past the pool's end, recycled jobs among them. */
static void
test_after_free(void)
{
    mproc_apool_t *p = new_pool(0);
    mproc_async_t *a[3];
    const struct mproc_result *r;
    struct items s;
    struct mproc_input in;
    size_t got;

    if (p == NULL) {
        ok(0, "a pool");
        return;
    }
    /* A job freed first goes to the pool's store. */
    mproc_apool_apply(p, f_out, "1", 1, &a[0]);
    mproc_async_free(a[0]);
    mproc_apool_apply(p, f_out, "2", 1, &a[0]);
    mproc_apool_apply(p, f_out, "3", 1, &a[1]);
    items_make(&s, 3000, 11);
    in = (struct mproc_input){.items = s.it, .n = s.n};
    mproc_apool_map(p, f_out, &in, NULL, &a[2]);
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
    mproc_async_get(a[0], 0, &r, NULL);
    ok(right(r, 2), "an apply's result after its pool was freed");
    mproc_async_free(a[0]);
    mproc_async_get(a[1], 0, &r, NULL);
    ok(right(r, 3), "... another's, after the first was freed");
    mproc_async_free(a[1]);
    mproc_async_get(a[2], 0, &r, &got);
    ok(got == 3000 && wrong(r, got, 11, (size_t)-1) == 0,
       "... a map's, every result");
    mproc_async_free(a[2]);
    items_free(&s);
}

/* Out of memory: with the address space capped, apply_async fails with
 * MPROC_ENOMEM and says so, taking nothing; every call it took gets its
 * own result; with the cap lifted the pool goes on.  The tasks' results
 * are empty (kept in the job itself), so the result thread needs no new
 * memory under the cap.  Not under ASan or valgrind, whose own memory
 * lives in the same address space. */
static void
test_nomem(void)
{
    enum { CAP = 2000000 };
    mproc_async_t **v = calloc(CAP, sizeof(*v));
    mproc_apool_t *p = new_pool(0);
    struct rlimit was, lim;
    size_t n = 0, i, good = 0;
    long pages = 0;
    FILE *f;
    int r = 0;

    if (TAP_SANITIZED || slow || v == NULL || p == NULL) {
        for (i = 0; i < 5; i++)
            ok(1, "# SKIP out of memory: %s",
               v == NULL || p == NULL ? "no pool" : "a sanitizer's memory");
        free(v);
        if (p != NULL)
            mproc_apool_free(p);
        return;
    }
    memset(v, 0, CAP * sizeof(*v)); /* faulted in before the cap */
    ok(mproc_apool_apply(p, f_out, "1", 1, &v[0]) == 0,
       "out of memory: the workers run before the cap");
    mproc_async_free(v[0]);
    if ((f = fopen("/proc/self/statm", "r")) != NULL) {
        if (fscanf(f, "%ld", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    getrlimit(RLIMIT_AS, &was);
    lim.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (32 << 20);
    lim.rlim_max = was.rlim_max;
    setrlimit(RLIMIT_AS, &lim);
    while (n < CAP &&
           (r = mproc_apool_apply_async(p, f_out, "10", 2, NULL, &v[n])) == 0)
        n++;
    setrlimit(RLIMIT_AS, &was);
    is_int(r, MPROC_ENOMEM, "out of memory: apply_async says MPROC_ENOMEM "
           "(after %zu calls)", n);
    like_str(mproc_apool_errmsg(p), "apply_async: out of memory",
             "out of memory: and its message says so");
    for (i = 0; i < n; i++) {
        const struct mproc_result *res;
        if (mproc_async_get(v[i], 60000, &res, NULL) == 0 && right(res, 10))
            good++;
        mproc_async_free(v[i]);
    }
    is_int(good, n, "out of memory: every call taken has its result");
    {
        const struct mproc_result *res;
        ok(mproc_apool_apply(p, f_out, "2", 1, &v[0]) == 0 &&
               mproc_async_get(v[0], 0, &res, NULL) == 0 && right(res, 2),
           "out of memory: the pool goes on once memory is back");
        mproc_async_free(v[0]);
    }
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
    free(v);
}

int
main(void)
{
    mproc_apool_t *p;

    slow = getenv("LD_PRELOAD") != NULL &&
           strstr(getenv("LD_PRELOAD"), "vgpreload") != NULL;
    alarm(slow ? 600 : 120);
    plan(23);
    p = new_pool(0);
    if (p == NULL)
        return 1;
    test_many_jobs(p);
    test_death(p);
    test_apply(p);
    mproc_apool_close(p);
    is_int(mproc_apool_join(p), 0, "join");
    mproc_apool_free(p);
    test_big();
    test_after_free();
    test_nomem();
    return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * primes: count the primes below [args] limit (default 10,000,000), split
 * in blocks of [args] block numbers (default 100,000).  Item N counts the
 * primes in [N*block, min((N+1)*block, limit)) with a segmented sieve;
 * the parent's reduce sums the counts.  range:0..99 covers the default.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mproc/plugin.h>

struct primes {
    uint64_t limit, block;
};

/* Limits and blocks stay below 10^19, so that sqrt(hi) < 2^32 and no
 * product in the sieve can overflow. */
#define MAX_ARG 9999999999999999999ull

/* Parse decimal digits: 0, -1 when s is not a number, 1 when it is one
 * but does not fit in 64 bits (*out is then UINT64_MAX). */
static int
parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    int big = 0;

    if (len == 0)
        return -1;
    for (i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9)
            return -1;
        if (v > (UINT64_MAX - d) / 10)
            big = 1;
        else
            v = v * 10 + d;
    }
    *out = big ? UINT64_MAX : v;
    return big;
}

static int
arg_u64(struct mproc_ctx *ctx, const char *key, uint64_t dflt, uint64_t *out)
{
    const char *s = mproc_arg(ctx, key, NULL);
    int r;

    *out = dflt;
    if (s == NULL)
        return MPROC_TASK_OK;
    r = parse_u64(s, strlen(s), out);
    if (r < 0 || *out == 0)
        return mproc_fail(ctx, "%s: expected a positive integer, got '%s'",
                          key, s);
    if (r > 0 || *out > MAX_ARG)
        return mproc_fail(ctx, "%s: %s is too large; the most is %llu", key,
                          s, MAX_ARG);
    return MPROC_TASK_OK;
}

static int
primes_init(struct mproc_ctx *ctx)
{
    struct primes *p;
    uint64_t limit, block;

    if (arg_u64(ctx, "limit", 10000000, &limit) != MPROC_TASK_OK ||
        arg_u64(ctx, "block", 100000, &block) != MPROC_TASK_OK)
        return MPROC_TASK_FAIL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return mproc_fail(ctx, "out of memory");
    p->limit = limit;
    p->block = block;
    ctx->state = p;
    return MPROC_TASK_OK;
}

static void
primes_fini(struct mproc_ctx *ctx)
{
    free(ctx->state);
    ctx->state = NULL;
}

/* The smallest r with r * r >= n, by Newton's method on integers (no
 * libm: a plugin links nothing). */
static uint64_t
ceil_sqrt(uint64_t n)
{
    uint64_t x, y;

    if (n < 2)
        return n;
    /* Start at or above the root: n / 2 + 1 for small n, 2^32 otherwise. */
    x = n < (1ull << 32) ? n / 2 + 1 : 1ull << 32;
    for (;;) {
        y = (x + n / x) / 2;
        if (y >= x)
            break;
        x = y;
    }
    /* x is now floor(sqrt(n)). */
    return x * x == n ? x : x + 1;
}

/* Primes in [lo, hi), by sieving the block with the primes up to sqrt(hi). */
static int
count_block(uint64_t lo, uint64_t hi, uint64_t *count)
{
    uint64_t r = ceil_sqrt(hi), i, j, n = 0;
    unsigned char *small, *seg;

    small = calloc(r + 1, 1);
    seg = calloc(hi - lo, 1);
    if (small == NULL || seg == NULL) {
        free(small);
        free(seg);
        return -1;
    }
    for (i = 2; i <= r; i++) {
        if (small[i])
            continue;
        for (j = i * i; j <= r; j += i)
            small[j] = 1;
        /* Cross out multiples of i in the block, from max(i*i, lo). */
        j = i * i;
        if (j < lo)
            j = (lo + i - 1) / i * i;
        for (; j < hi; j += i)
            seg[j - lo] = 1;
    }
    for (i = lo < 2 ? 2 : lo; i < hi; i++)
        n += !seg[i - lo];
    free(small);
    free(seg);
    *count = n;
    return 0;
}

static int
primes_count(struct mproc_ctx *ctx, const void *in, size_t len,
             uint64_t index, struct mproc_buf *out)
{
    const struct primes *p = ctx->state;
    uint64_t n, lo, hi, nblocks, count = 0;

    (void)index;
    /* A number too big for 64 bits is simply past the limit. */
    if (parse_u64(in, len, &n) < 0)
        return mproc_fail(ctx, "expected a block number (an integer >= 0)");
    /* Blocks at or past the limit hold no primes below it.  Deciding that
     * before multiplying keeps n * block from overflowing. */
    nblocks = p->limit / p->block + (p->limit % p->block != 0);
    if (n < nblocks) {
        lo = n * p->block;
        hi = p->limit - lo > p->block ? lo + p->block : p->limit;
        if (count_block(lo, hi, &count) != 0)
            return mproc_fail(ctx, "out of memory sieving [%" PRIu64
                                   ", %" PRIu64 ")", lo, hi);
    }
    return mproc_buf_printf(out, "%" PRIu64, count);
}

static int
primes_reduce(struct mproc_ctx *ctx, const void *data, size_t len,
              uint64_t index)
{
    uint64_t *sum = ctx->state, v;

    (void)index;
    if (sum == NULL && (sum = ctx->state = calloc(1, sizeof(*sum))) == NULL)
        return mproc_fail(ctx, "out of memory");
    if (parse_u64(data, len, &v) != 0)
        return mproc_fail(ctx, "a task output is not a count");
    *sum += v;
    return MPROC_TASK_OK;
}

static int
primes_reduce_end(struct mproc_ctx *ctx, struct mproc_buf *out)
{
    uint64_t *sum = ctx->state;
    int r = mproc_buf_printf(out, "%" PRIu64 "\n", sum ? *sum : 0);

    free(sum);
    ctx->state = NULL;
    return r;
}

static const struct mproc_task_def tasks[] = {
    {"count", primes_count, "count the primes of block N"},
    {NULL, NULL, NULL},
};

static const struct mproc_arg_def args[] = {
    {"limit", MPROC_ARG_INT, "10000000", 0, "count the primes below this",
     NULL},
    {"block", MPROC_ARG_INT, "100000", 0, "numbers per item", NULL},
    MPROC_ARG_END,
};

MPROC_PLUGIN_DEFINE(.name = "primes", .version = "1.0",
                    .description = "count primes below a limit, in blocks",
                    .init = primes_init, .fini = primes_fini, .tasks = tasks,
                    .reduce = primes_reduce,
                    .reduce_end = primes_reduce_end, .args = args);

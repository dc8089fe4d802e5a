/*
 * primes: count the primes below [args] limit (default 10,000,000), split
 * in blocks of [args] block numbers (default 100,000).  Item N counts the
 * primes in [N*block, min((N+1)*block, limit)) with a segmented sieve;
 * the parent's reduce sums the counts.  range:0..99 covers the default.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mproc/plugin.h>

struct primes {
    uint64_t limit, block;
};

static int
parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0 || len > 19)
        return -1;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

static int
arg_u64(struct mproc_ctx *ctx, const char *key, uint64_t dflt, uint64_t *out)
{
    const char *s = mproc_arg(ctx, key, NULL);

    *out = dflt;
    if (s == NULL)
        return MPROC_TASK_OK;
    if (parse_u64(s, strlen(s), out) != 0 || *out == 0)
        return mproc_fail(ctx, "%s: expected a positive integer, got '%s'",
                          key, s);
    return MPROC_TASK_OK;
}

static int
primes_init(struct mproc_ctx *ctx)
{
    struct primes *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return mproc_fail(ctx, "out of memory");
    ctx->state = p;
    if (arg_u64(ctx, "limit", 10000000, &p->limit) != MPROC_TASK_OK ||
        arg_u64(ctx, "block", 100000, &p->block) != MPROC_TASK_OK)
        return MPROC_TASK_FAIL;
    return MPROC_TASK_OK;
}

static void
primes_fini(struct mproc_ctx *ctx)
{
    free(ctx->state);
    ctx->state = NULL;
}

/* Primes in [lo, hi), by sieving the block with the primes up to sqrt(hi). */
static int
count_block(uint64_t lo, uint64_t hi, uint64_t *count)
{
    uint64_t r = 1, i, j, n = 0;
    unsigned char *small, *seg;

    while (r * r < hi)
        r++;
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
    uint64_t n, lo, hi, count = 0;

    (void)index;
    if (parse_u64(in, len, &n) != 0)
        return mproc_fail(ctx, "expected a block number (an integer >= 0)");
    if (n > p->limit / p->block + 1) {
        count = 0;
    } else {
        lo = n * p->block;
        hi = lo + p->block < p->limit ? lo + p->block : p->limit;
        if (lo < hi && count_block(lo, hi, &count) != 0)
            return mproc_fail(ctx, "out of memory sieving a block of %" PRIu64,
                              p->block);
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

MPROC_PLUGIN_DEFINE(.name = "primes", .version = "1.0",
                    .description = "count primes below a limit, in blocks",
                    .init = primes_init, .fini = primes_fini, .tasks = tasks,
                    .reduce = primes_reduce,
                    .reduce_end = primes_reduce_end);

/* SPDX-License-Identifier: MIT */
/*
 * An imap (or imap_unordered) over an input callback that fails: next()
 * returns the callback's error once, after the results of the items
 * read, but nothing said why: an iterator has no errmsg of its own and
 * mproc_apool_errmsg() stayed "" (session s16, 2026-12-01), where
 * map_async over the same input says "input: at item 3: ...".  next()
 * now leaves its reason in mproc_apool_errmsg().
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <mproc/mproc.h>

#include "tap.h"

static int
echo(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t idx,
     struct mproc_buf *out)
{
    (void)ctx;
    (void)idx;
    return mproc_buf_append(out, in, len);
}

/* Three items, then MPROC_EIO. */
static int
failing_next(void *u, struct mproc_item *it)
{
    int *i = u;

    if (*i == 3)
        return MPROC_EIO;
    (*i)++;
    it->data = "x";
    it->len = 1;
    return 1;
}

static void
test_one(mproc_apool_t *p, bool unordered)
{
    const char *what = unordered ? "imap_unordered" : "imap";
    const struct mproc_result *r;
    mproc_imap_t *it = NULL;
    int i = 0, k, n = 0;
    struct mproc_input in = {.next = failing_next, .next_user = &i};

    ok((unordered ? mproc_apool_imap_unordered : mproc_apool_imap)(
           p, echo, &in, NULL, &it) == 0, "%s: started", what);
    while ((k = mproc_imap_next(it, 10000, &r)) == 1)
        n++;
    is_int(n, 3, "%s: the 3 items read have their results", what);
    is_int(k, MPROC_EIO, "%s: then the input's error", what);
    like_str(mproc_apool_errmsg(p), "at item 3",
             "%s: mproc_apool_errmsg() says where the input failed", what);
    is_int(mproc_imap_next(it, 0, &r), 0, "%s: then the end", what);
    mproc_imap_free(it);
}

int
main(void)
{
    struct mproc_pool_opts o;
    mproc_apool_t *p = NULL;
    mproc_err_t err;

    mproc_pool_opts_init(&o);
    o.workers = 1;
    if (mproc_apool_new(&p, &o, &err) < 0) {
        ok(0, "a pool: %s", err.msg);
        return done_testing();
    }
    test_one(p, false);
    test_one(p, true);
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
    return done_testing();
}

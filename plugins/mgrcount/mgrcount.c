/* SPDX-License-Identifier: MIT */
/*
 * mgrcount: every worker counts its items into a Manager's objects, which
 * processes outside the run read and write too (conf/mgrcount.ini).
 *
 * The job's [manager] (mproc.ini(5), MANAGER) declares the objects:
 *   objects = dict:items value:total=int64
 * Each task adds 1 to the Value `total` (atomic on the server) and sets
 * items[ITEM] to the worker slot that ran it; the task outputs nothing.
 * With [args] gate = NAME, the first item (index 0) first waits for the
 * manager Event NAME, which a process outside the run sets: a run that
 * ends has met it.  In the parent, reduce_end prints the final total.
 *
 * A worker's connection comes from mproc_ctx_manager() (plugin ABI 1.4);
 * the operations from libmproc's <mproc/manager.h>.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc/manager.h>
#include <mproc/plugin.h>
#include <mproc/shared.h>

struct state {
    mproc_mobj_t *items, *total;
};

static int
fail_mgr(struct mproc_ctx *ctx, mproc_manager_t *m, const char *what)
{
    return mproc_fail(ctx, "%s: %s", what, mproc_manager_errmsg(m));
}

static int
init(struct mproc_ctx *ctx)
{
    mproc_manager_t *m = mproc_ctx_manager(ctx);
    struct state *st;

    if (m == NULL)
        return MPROC_TASK_FAIL; /* mproc_ctx_manager() said why */
    if ((st = calloc(1, sizeof(*st))) == NULL)
        return mproc_fail(ctx, "out of memory");
    ctx->state = st;
    /* Named objects: the job's [manager] objects, or made here. */
    if (mproc_manager_dict(m, mproc_arg(ctx, "dict", "items"), &st->items) <
        0)
        return fail_mgr(ctx, m, "dict");
    if (mproc_manager_value(m, mproc_arg(ctx, "counter", "total"),
                            MPROC_T_INT64, &st->total) < 0)
        return fail_mgr(ctx, m, "counter");
    return MPROC_TASK_OK;
}

static void
fini(struct mproc_ctx *ctx)
{
    struct state *st = ctx->state;

    if (st == NULL)
        return;
    mproc_mobj_free(st->items);
    mproc_mobj_free(st->total);
    free(st);
    ctx->state = NULL;
}

static int
tally(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    mproc_manager_t *m = mproc_ctx_manager(ctx);
    struct state *st = ctx->state;
    const char *gate = mproc_arg(ctx, "gate", NULL);
    char slot[16];
    int r;

    (void)out;
    if (m == NULL)
        return MPROC_TASK_FAIL;
    if (gate != NULL && index == 0) {
        mproc_mobj_t *ev;
        if (mproc_manager_event(m, gate, &ev) < 0)
            return fail_mgr(ctx, m, "gate");
        r = mproc_mevent_wait(ev, 30000);
        mproc_mobj_free(ev);
        if (r < 0)
            return mproc_fail(ctx, "gate %s: not set within 30s: %s", gate,
                              mproc_strerror(r));
    }
    snprintf(slot, sizeof(slot), "%u", ctx->worker);
    if (mproc_mdict_set(st->items, in, len, slot, strlen(slot)) < 0)
        return fail_mgr(ctx, m, "dict set");
    if (mproc_marray_add_i64(st->total, 0, 1, NULL) < 0)
        return fail_mgr(ctx, m, "counter add");
    return MPROC_TASK_OK;
}

static int
ignore(struct mproc_ctx *ctx, const void *data, size_t len, uint64_t index)
{
    (void)ctx;
    (void)data;
    (void)len;
    (void)index;
    return MPROC_TASK_OK;
}

/* In the parent, after the last task: the total as the manager has it
 * (outside processes may have added to it too). */
static int
print(struct mproc_ctx *ctx, struct mproc_buf *out)
{
    mproc_manager_t *m = mproc_ctx_manager(ctx);
    mproc_mobj_t *total;
    int64_t v = 0;
    int r;

    if (m == NULL)
        return MPROC_TASK_FAIL;
    if (mproc_manager_value(m, mproc_arg(ctx, "counter", "total"),
                            MPROC_T_INT64, &total) < 0)
        return fail_mgr(ctx, m, "counter");
    r = mproc_marray_get_i64(total, 0, &v);
    mproc_mobj_free(total);
    if (r < 0)
        return fail_mgr(ctx, m, "counter get");
    return mproc_buf_printf(out, "total %" PRId64 "\n", v);
}

static const struct mproc_task_def tasks[] = {
    {"tally", tally, "count the item into the job's manager"},
    {NULL, NULL, NULL},
};

static const struct mproc_arg_def args[] = {
    {"dict", MPROC_ARG_STRING, "items", 0,
     "the manager dict: item -> worker slot", NULL},
    {"counter", MPROC_ARG_STRING, "total", 0,
     "the manager int64 Value counting the items", NULL},
    {"gate", MPROC_ARG_STRING, NULL, 0,
     "a manager Event the first item waits for (30s), set from outside",
     NULL},
    MPROC_ARG_END};

MPROC_PLUGIN_DEFINE(.name = "mgrcount", .version = "1.0",
                    .description = "count items into a Manager's dict and "
                                   "Value, shared with other processes",
                    .init = init, .fini = fini, .tasks = tasks,
                    .reduce = ignore, .reduce_end = print, .args = args);

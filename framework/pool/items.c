/* SPDX-License-Identifier: MIT */
/*
 * The pool's items (see pool.c, "Bookkeeping"): the ring of slots that
 * holds them from the moment they are taken from the caller until their
 * result is delivered, the delivery itself (once each, in input order
 * when asked), the retries of failed attempts, and the items cancelled
 * when a run stops.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/engine_int.h"
#include "pool/taskfail_int.h"
#include "status/status_int.h"
#include "util/buf_int.h"

/* ---- the slot ring ---- */

void
mproc__pool_slot_clear(struct slot *s)
{
    free(s->item);
    free(s->out);
    free(s->deaths_msg);
    memset(s, 0, sizeof(*s));
}

/* The slot of a new item, or false when the window is full. */
static bool
slot_take(mproc_pool_t *p, uint64_t *ref)
{
    if (p->o.ordered) {
        if (p->next_index - p->base > p->mask)
            return false;
        *ref = p->next_index & p->mask;
    } else {
        if (p->nfree == 0)
            return false;
        *ref = p->free_refs[--p->nfree];
    }
    p->used++;
    return true;
}

/* The item in `ref` is delivered: the slot is free. */
static void
slot_release(mproc_pool_t *p, uint64_t ref)
{
    mproc__pool_slot_clear(slot_of(p, ref));
    p->used--;
    if (!p->o.ordered)
        p->free_refs[p->nfree++] = (uint32_t)(ref & p->mask);
}

void
mproc__pool_requeue_push(mproc_pool_t *p, uint64_t ref)
{
    /* At most W items exist, so the ring of W entries cannot overflow. */
    p->requeue[(p->rq_head + p->rq_len) & p->mask] = ref;
    p->rq_len++;
    slot_of(p, ref)->state = SLOT_PENDING;
}

/* A task sent to a worker that ended before starting it: not an attempt. */
void
mproc__pool_unsent(mproc_pool_t *p, uint64_t ref)
{
    struct slot *s = slot_of(p, ref);
    if (s->attempts > 0)
        s->attempts--;
    mproc__pool_requeue_push(p, ref);
}

const char *volatile mproc__in_reduce;

const char *
mproc__pool_in_reduce(void)
{
    return mproc__in_reduce;
}

/* ---- results: delivered once each, in order when asked; retries ---- */

/*
 * Hand one result to the caller (and to reduce).  `data` is the output on
 * success or the message on failure.
 */
static void
deliver(mproc_pool_t *p, uint64_t ref, int status, const char *data,
        size_t len)
{
    struct slot *s = slot_of(p, ref);
    uint64_t index = s->index;
    struct mproc_result r = {
        .index = index,
        .status = status,
        .item = s->item,
        .item_len = s->item_len,
        .worker = s->worker,
        .attempts = s->attempts,
        .started = s->started,
        .duration = s->duration,
        .exitcode = s->exitcode,
        .deaths = s->deaths,
        .quarantined = s->quarantined,
    };
    const struct mproc_plugin *d = p->plugin->desc;
    char msg[MPROC__FAILMSG_MAX + 16];

    /* Ordered: after an item that did not run (a stop), a later result,
     * though at hand, is not delivered either: what was delivered stays a
     * prefix of the input, so a resume that runs the rest appends exactly
     * what an uninterrupted run would have written. */
    if (p->o.ordered && p->gap && status != MPROC_ECANCELED) {
        static const char held_stop[] = "not delivered: an earlier item did "
                                        "not run (the run was stopped)";
        static const char held_fail[] = "not delivered: the run stopped at "
                                        "an earlier item's failure "
                                        "(stop_on_error)";
        const char *held = p->gap_failed ? held_fail : held_stop;
        if (status != 0) {
            /* Its failure is still news (it may be what stopped the
             * run); its output and its log line are not written. */
            snprintf(msg, sizeof(msg), "%s: %.*s", MPROC__HELD_FAILED,
                     (int)strnlen(data, len), data);
            data = msg;
            len = strlen(msg);
        } else {
            data = held;
            len = strlen(held);
        }
        status = r.status = MPROC_ECANCELED;
    }
    if (p->o.ordered && status == MPROC_ECANCELED)
        p->gap = true;
    if (status == 0 && p->has_reduce) {
        int rr;

        mproc__ctx_clear(&p->rctx);
        mproc__in_reduce = p->plugin->path;
        rr = d->reduce(&p->rctx, data, len, index);
        mproc__in_reduce = NULL;
        if (rr != MPROC_TASK_OK) {
            snprintf(msg, sizeof(msg), "reduce: %s",
                     mproc__ctx_msg(&p->rctx, "failed without a message"));
            status = r.status = MPROC_ETASK;
            data = msg;
            len = strlen(msg);
        }
    }
    if (status == 0) {
        r.data = data;
        r.len = len;
    } else {
        /* Messages travel without a NUL; give the caller a string. */
        if (data != msg) {
            size_t n = len < MPROC__FAILMSG_MAX ? len : MPROC__FAILMSG_MAX - 1;
            memcpy(msg, data, n);
            msg[n] = '\0';
        }
        r.message = msg;
        if (status == MPROC_ETASK || status == MPROC_ETIMEDOUT) {
            /* What the task wrote before it failed or gave up at its
             * time limit (taskfail_int.h). */
            struct mproc__taskfail f;
            mproc__taskfail_unpack(data, len, &f);
            r.data = f.out;
            r.len = f.out_len;
        }
    }
    if (p->on_result != NULL && p->on_result(p->user, &r) != 0)
        stop(p, MPROC_ECANCELED);
    if (status != 0 && status != MPROC_ECANCELED && p->o.stop_on_error) {
        /* Ordered: what finished after it, at hand in this same round,
         * is not delivered either. */
        if (p->o.ordered && !p->gap) {
            p->gap = true;
            p->gap_failed = true;
        }
        stop(p, MPROC_ECANCELED);
    }
}

/* Ordered: deliver, in order, every finished result at the front of the
 * ring. */
static void
advance(mproc_pool_t *p)
{
    while (p->base < p->next_index) {
        struct slot *s = slot_of(p, p->base);
        if (s->state != SLOT_DONE)
            break;
        if (!s->delivered)
            deliver(p, p->base, s->status, s->out, s->out_len);
        slot_release(p, p->base);
        p->base++;
    }
}

/* A result for the item in `ref` is known. */
static void
complete(mproc_pool_t *p, uint64_t ref, int status, const char *data,
         size_t len)
{
    struct slot *s = slot_of(p, ref);

    /* stop_on_error: known failed (maybe not delivered yet: ordered) is
     * enough to take no new item, and to stop the run now: waiting for
     * its delivery, in order, held the stop for as long as an earlier
     * item ran (for ever, for one that hangs) while the items queued at
     * the workers went on.  The earlier items still running are stopped
     * with the run, as running tasks are; this one's failure is said
     * when its turn comes (items.c, deliver: held). */
    if (status != 0 && status != MPROC_ECANCELED && p->o.stop_on_error) {
        p->failed_stop = true;
        stop(p, MPROC_ECANCELED);
    }
    if (s->attempts > 0)
        s->duration = (double)(p->now - s->t0_ms) / 1000.0;
    if (p->status != NULL)
        mproc__status_result(p->status, s->index, status,
                             s->attempts > 0 ? p->now - s->t0_ms : 0,
                             s->item, s->item_len);
    if (!p->o.ordered) {
        /* Deliver at once, without copying the output, and free the slot
         * at once: nothing waits for an older item. */
        deliver(p, ref, status, data, len);
        slot_release(p, ref);
        return;
    }
    if (s->index == p->base) {
        deliver(p, ref, status, data, len);
        s->delivered = true;
    } else {
        s->status = status;
        s->out_len = len;
        s->out = malloc(len ? len : 1);
        if (s->out == NULL) {
            s->status = MPROC_ENOMEM;
            s->out = strdup("out of memory keeping the result");
            s->out_len = s->out ? strlen(s->out) : 0;
        } else if (len > 0) {
            memcpy(s->out, data, len);
        }
    }
    s->state = SLOT_DONE;
    advance(p);
}

/* Failures that another attempt may cure. */
static bool
retryable(int status)
{
    return status == MPROC_ETASK || status == MPROC_EWORKER ||
           status == MPROC_ETIMEDOUT;
}

/* An attempt of the item in `ref` ended: retry it, or its result is
 * known. */
void
mproc__pool_finish(mproc_pool_t *p, uint64_t ref, int status,
                   const char *data, size_t len, int exitcode)
{
    struct slot *s = slot_of(p, ref);

    if (p->stop_sent && status != 0 && status != MPROC_ECANCELED) {
        /* A failure once the stop signalled the workers is the stop's
         * doing (an exec command killed by its SIGTERM), not the item's:
         * cut short like a task whose worker the stop killed, so a resume
         * runs it again and an ordered output stays a prefix. */
        char msg[MPROC__FAILMSG_MAX + 64];

        snprintf(msg, sizeof(msg), "%s: %.*s", MPROC__STOPPED_RUNNING,
                 (int)strnlen(data, len), data);
        mproc__pool_finish_stopped(p, ref, msg, strlen(msg), exitcode);
        return;
    }
    s->exitcode = exitcode;
    if (status == MPROC_EWORKER &&
        mproc__quarantine_death(&s->deaths, &s->deaths_msg, data, len,
                                p->o.quarantine_after, p->o.retries)) {
        /* Poison: it has ended enough workers; not run again. */
        s->quarantined = true;
        if (s->deaths_msg != NULL) {
            data = s->deaths_msg;
            len = strlen(s->deaths_msg);
        }
    } else if (retryable(status) && s->attempts <= p->o.retries &&
               !p->stopping) {
        p->retried++;
        mproc__pool_requeue_push(p, ref);
        return;
    }
    complete(p, ref, status, data, len);
}

/* A task that was running when the run stopped, and whose worker ended
 * without its result: cancelled as the tasks that never ran are (a
 * resume runs it again), with a message that says it ran. */
void
mproc__pool_finish_stopped(mproc_pool_t *p, uint64_t ref, const char *msg,
                           size_t len, int exitcode)
{
    slot_of(p, ref)->exitcode = exitcode;
    complete(p, ref, MPROC_ECANCELED, msg, len);
}

/* ---- taking items from the caller ---- */

static bool
window_full(const mproc_pool_t *p)
{
    return p->o.ordered ? p->next_index - p->base > p->mask : p->nfree == 0;
}

/* The ref of the next task to send, or -1 when there is none right now. */
int
mproc__pool_take(mproc_pool_t *p, uint64_t *ref)
{
    struct mproc_item item;
    struct slot *s;
    size_t keep;
    bool cut;
    int r;

    for (;;) {
        if (p->rq_len > 0) {
            *ref = p->requeue[p->rq_head & p->mask];
            p->rq_head++;
            p->rq_len--;
            return 0;
        }
        if (p->source_done || p->stopping || p->failed_stop ||
            p->input_wait ||
            window_full(p))
            return -1;
        item.data = NULL;
        item.len = 0;
        r = p->next(p->user, &item);
        if (r == 0) {
            p->source_done = true;
            return -1;
        }
        if (r == MPROC_EAGAIN) {
            p->input_wait = true;
            return -1;
        }
        if (r < 0) {
            p->source_done = true;
            stop(p, r);
            return -1;
        }
        cut = r == MPROC__ITEM_CUT;
        if (cut)
            r = 1;
        if (r != 1 || (item.data == NULL && item.len > 0)) {
            /* The caller's mistake: not an item to run (made up, or bytes
             * promised at NULL). */
            set_errmsg(p, r != 1 ? "next returned %d (1: an item, 0: the "
                                   "end, < 0: an error)"
                                 : "next gave an item of %d bytes at NULL",
                       r != 1 ? r : (int)item.len);
            p->source_done = true;
            stop(p, MPROC_EINVAL);
            return -1;
        }
        if (!slot_take(p, ref))
            return -1; /* cannot happen: the window is not full */
        s = slot_of(p, *ref);
        s->index = p->next_index;
        /* A NUL after the bytes, sent with them: a task may read its item
         * as a string (the NUL is not counted in its length).  Of a cut
         * item, only the start its source kept. */
        keep = cut && item.len > MPROC__ITEM_CUT_KEEP ? MPROC__ITEM_CUT_KEEP
                                                      : item.len;
        s->item = malloc(keep + 1);
        if (s->item == NULL) {
            stop(p, MPROC_ENOMEM);
            set_errmsg(p, "out of memory holding item %llu",
                       (unsigned long long)p->next_index);
            /* Not an item yet: it has no result to give. */
            p->used--;
            if (!p->o.ordered)
                p->free_refs[p->nfree++] = (uint32_t)*ref;
            return -1;
        }
        memcpy(s->item, item.data, keep);
        s->item[keep] = '\0';
        s->item_len = keep;
        s->state = SLOT_PENDING;
        p->next_index++;
        if (cut || item.len > p->o.message_max) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "item is %zu bytes, more than message_max (%zu)",
                     item.len, p->o.message_max);
            complete(p, *ref, MPROC_EMSGSIZE, msg, strlen(msg));
            continue;
        }
        return 0;
    }
}

bool
mproc__pool_has_work(const mproc_pool_t *p)
{
    return !p->stopping &&
           (p->rq_len > 0 ||
            (!p->source_done && !p->input_wait && !window_full(p)));
}

/* ---- after a stop ---- */

static int
by_index(const void *a, const void *b, void *slots)
{
    const struct slot *s = slots;
    uint64_t x = s[*(const uint32_t *)a].index, y = s[*(const uint32_t *)b].index;
    return x < y ? -1 : x > y;
}

/* After a stop: every item not delivered yet gets its one result. */
void
mproc__pool_cancel_rest(mproc_pool_t *p)
{
    static const char msg[] = "not run: the run was stopped";

    p->rq_len = 0;
    if (!p->o.ordered) {
        /* The slots in use, in input order.  The free stack's unused
         * top is room enough for them: used + nfree = W. */
        uint32_t *held = p->free_refs + p->nfree;
        uint64_t n = 0, i;

        for (i = 0; i <= p->mask; i++)
            if (p->slots[i].state != SLOT_FREE)
                held[n++] = (uint32_t)i;
        qsort_r(held, n, sizeof(*held), by_index, p->slots);
        /* complete() pushes the i-th freed slot onto the stack at
         * held[i], which has been read by then. */
        for (i = 0; i < n; i++)
            complete(p, held[i], MPROC_ECANCELED, msg, strlen(msg));
        return;
    }
    while (p->base < p->next_index) {
        struct slot *s = slot_of(p, p->base);
        if (s->state != SLOT_DONE) {
            s->state = SLOT_DONE;
            s->status = MPROC_ECANCELED;
            free(s->out);
            s->out = strdup(msg);
            s->out_len = s->out ? strlen(msg) : 0;
        }
        advance(p);
    }
}

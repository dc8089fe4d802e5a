/* SPDX-License-Identifier: MIT */
/*
 * The pool, host side: start workers (start.c), hand them items in chunks
 * over their task channels (ipc/), gather results, retry or time out
 * tasks as configured, and keep every item accounted for.
 *
 * Bookkeeping.  Every item taken from the caller gets an index and one of
 * W slots (W a power of two), so no more than W items are ever in flight
 * and memory stays bounded for any input length.  Ordered, the slots are a
 * ring holding the items between `base` (the oldest not yet delivered)
 * and `next_index` (the next to take): item i lives in slot i mod W.
 * Unordered, a result is delivered at once and its slot freed at once
 * (a free list), so one slow item holds one slot, not the whole window.
 * Workers' FIFOs and the requeue ring hold slot numbers ("refs"); a slot
 * knows its item's index.
 *
 * Each worker has a FIFO of the tasks it was sent, in order; a worker runs
 * its tasks in that order, so the head of its FIFO is the task it is
 * running.  When a worker dies, the head fails with the cause (signal or
 * exit status) and the rest, which it never started, are queued again for
 * other workers.  That is how the pool knows exactly which task a death
 * costs, and why it never waits on a dead worker: deaths are seen through
 * pidfds, which poll() reports like any other descriptor.
 *
 * Time limits.  A limit signal is sent when the head's deadline passes as
 * far as the host can tell; its result may be on the way already.  So a
 * worker is doomed once signalled (no more tasks), and if the item the
 * signal was meant for completes anyway, a later death by that signal is
 * not charged to the task that was running then: it is queued again,
 * without counting an attempt (it may have started: the one documented
 * case of a task run twice).
 *
 * Taking tasks back.  A worker is sent up to two chunks ahead, so that it
 * never waits for the host; but a task queued behind one that runs long
 * (or hangs) would wait with it while other workers idle.  So each place
 * of a worker's FIFO has a claim word in shared memory: the host stores
 * the task's index + 1 there before sending it; the worker swaps it for
 * MPROC__CLAIM_RUN before starting it; the host, when a worker is idle and
 * nothing else is to be done, swaps a waiting task's word for
 * MPROC__CLAIM_REVOKED and queues the task again.  Exactly one of the two
 * swaps succeeds, so a task taken back never runs where it was sent; the
 * worker answers "not run" for it, and the host drops that answer (the
 * FIFO entry is marked STOLEN).
 *
 * Results in batches.  Items go to a worker TRANSPORT_DEPTH (or two
 * chunks) at a time, many per write, and a worker answers several in
 * one message (worker.c); each is still its own task with its own
 * result, attempts and time limit.  A worker stages the results it has
 * not sent yet in shared memory, after its claim words (struct
 * mproc__stage): when it dies, harvest() takes from there the results
 * that the channel did not bring, so that the head of its FIFO is again
 * the task it was running.  A worker holds results back only for tasks
 * that end within a millisecond of the batch's first, so a time limit
 * counted from the head the host sees is at most that early.
 */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/chan_int.h"
#include "ipc/auto_int.h"
#include "ipc/frame_int.h"
#include "pool/pool_int.h"
#include "pool/taskfail_int.h"
#include "status/status_int.h"
#include "util/buf_int.h"

#define DEFAULT_MESSAGE_MAX ((size_t)64 << 20)
/* What a channel message can carry, less a frame's overhead. */
#define MAX_MESSAGE_MAX (MPROC__CHAN_MESSAGE_MAX_LIMIT - 8192)
/* Workers that die before init completes, in a row, before giving up. */
#define MAX_START_DEATHS 3
/* How long workers get to exit after a stop: after SIGTERM, and to finish
 * fini() after a normal end, before SIGKILL. */
#define STOP_GRACE_MS 2000
#define FINI_GRACE_MS 10000
/* A worker that cannot be started (or replaced) is tried again after
 * START_RETRY_MS, doubling up to START_RETRY_MAX_MS; with no worker alive,
 * MAX_START_FAILS failures in a row end the run. */
#define START_RETRY_MS 50
#define START_RETRY_MAX_MS 2000
#define MAX_START_FAILS 6

/* Tasks sent to a worker ahead of the one it runs, at most (or two
 * chunks): enough that a stream of tiny items costs a write and a
 * wake-up per batch, not per item (see "Results in batches"). */
#define TRANSPORT_DEPTH 128
#define TOPUP_BYTES ((size_t)1 << 20)
/* chunksize auto: at most this; and the work a worker is sent ahead is
 * about DEPTH_MS long (two chunks at least), the chunk about CHUNK_MS,
 * as measured over samples of ADAPT_MS. */
#define AUTO_CHUNK_MAX 64
#define DEPTH_MS 10.0
#define CHUNK_MS 2.0
#define ADAPT_MS 20
/* How long results held back in a worker's stage wait before the host
 * takes them from there (see watch_stages()). */
#define HARVEST_MS 2

/* A FIFO entry whose task was taken back (its ref may serve another item
 * by the time the worker answers). */
#define STOLEN (UINT64_C(1) << 63)

enum slot_state {
    SLOT_FREE = 0,
    SLOT_PENDING, /* taken from the caller or requeued, not sent */
    SLOT_SENT,    /* in a worker's FIFO */
    SLOT_DONE     /* result known; delivered in order later */
};

struct slot {
    uint64_t index; /* the item's position in the input */
    int state;
    int status;     /* result status when DONE */
    bool delivered; /* handed to the caller already (unordered mode) */
    pid_t worker;
    char *item;
    size_t item_len;
    char *out;      /* ordered mode: output or message kept until delivery */
    size_t out_len;
    unsigned attempts; /* times sent to a worker */
    int exitcode;      /* worker died: exit status or -signal */
    long long t0_ms;   /* monotonic: when its last attempt started */
    double started;    /* the same, on the wall clock */
    double duration;   /* seconds from t0_ms to its result */
    /* issue 19: workers its task ended, and what each death said */
    unsigned deaths;
    bool quarantined;
    unsigned char where_done; /* slow log: 1 slow, 2 timeout: asked */
    char *deaths_msg;
};

struct worker {
    pid_t pid;          /* 0: slot empty */
    int pidfd;
    struct mproc_chan *task;   /* our write side; NULL once closed */
    struct mproc_chan *result; /* our read side */
    bool ready;         /* init succeeded */
    bool retiring;      /* no more tasks: close `task` once flushed */
    bool task_gone;     /* `task` has no reader any more */
    bool eof;           /* `result` reached its end */
    bool reaping;       /* in reap(): drain must not reap again */
    bool stale_limit;   /* a limit signal was sent for an item that then
                           completed: a death by it is not the head's */
    unsigned sent;      /* tasks sent to this process */
    uint64_t answered;  /* its answers handled: the head's number */
    bool topping;       /* dispatch() fills its FIFO */
    /* its stage, as watch_stages() saw it last, and since when */
    uint64_t seen_gen, seen_len;
    long long seen_ms;
    bool seen_taken;    /* harvested since */
    uint64_t *fifo;     /* refs of the tasks sent, oldest first */
    unsigned fifo_head, fifo_len, fifo_cap;
    /* time limit of the running task (the head of the FIFO) */
    long long head_ms;  /* when it started; 0: none runs (or not ready) */
    int limit;          /* LIMIT_NONE, LIMIT_SOFT (SIGTERM sent), _HARD */
    long long limit_ms; /* when the last limit signal was sent */
    uint64_t limit_index; /* the item it was meant for */
    /* a start that failed: try again at retry_ms */
    long long retry_ms;
    unsigned start_fails;
    /* issue 19: asked where its task is (slow log), when; 0: not */
    long long slow_ms;
    uint32_t slow_seq;
    const char *slow_why;
};

enum { LIMIT_NONE = 0, LIMIT_SOFT, LIMIT_HARD };

struct mproc_pool {
    struct mproc_pool_opts o;
    struct mproc_kv *args;
    size_t nargs;
    struct mproc__plugin *plugin;
    const struct mproc_task_def *task;
    unsigned nworkers;
    bool ran;
    char errmsg[MPROC__FAILMSG_MAX];

    /* reduce, in this process */
    bool has_reduce;
    bool reduce_ended;
    struct mproc_ctx rctx;
    struct mproc__ctx_priv rpriv;
    struct mproc_buf rout;

    /* run state */
    mproc_next_fn next;
    mproc_result_fn on_result;
    void *user;
    struct worker *w;
    struct slot *slots;
    uint64_t mask;
    uint64_t base;
    uint64_t next_index;
    uint64_t *requeue;  /* ring of W refs */
    uint64_t rq_head, rq_len;
    uint64_t used;      /* slots holding an item */
    uint32_t *free_refs; /* unordered: the free slots, a stack */
    uint64_t nfree;
    bool source_done;
    bool input_wait;    /* `next` said EAGAIN: poll input_fd first */
    bool stopping;
    int stop_code;
    unsigned start_deaths;
    bool started_one;   /* some worker started in this run */
    bool warned_short;  /* said once that a worker could not be started */
    long long hook_limit_at; /* test hooks, see hooks_init(); -1: off */
    unsigned long hook_starts;
    unsigned long long retried;
    size_t chan_max;         /* message_max of the channels */
    /* claim words: fifo_cap per worker slot, shared; NULL: none */
    _Atomic uint64_t *claims;
    int claims_fd;
    size_t claims_len;
    unsigned fifo_cap;
    /* The clock, read once per turn of the loop rather than per item:
     * reading it costs more than handling an item on some machines. */
    long long now;           /* monotonic ms */
    long long now0;          /* at the start of the run, and then */
    double wall0;            /* the wall clock */
    struct mproc_buf scratch; /* frames are built here */
    char *hbuf;              /* a copy of a stage (MPROC__STAGE_BYTES) */
    /* Chunks and depth (see adapt()): the chunk sent at a time, and how
     * many items a worker is sent ahead, at most, within fifo_cap. */
    bool auto_chunk;
    uint64_t total;          /* items in the input; 0: unknown */
    unsigned chunk, depth;
    long long adapt_ms;      /* when the last sample began */
    uint64_t adapt_done;     /* results since then */
    struct mproc__status *status; /* live status (status/); NULL: off */
    char *status_label;      /* opts.status, copied; NULL: no status */
};

static void
set_errmsg(mproc_pool_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_errmsg(mproc_pool_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
    va_end(ap);
}

unsigned
mproc_cpu_usable(void)
{
    cpu_set_t set;
    int n;

    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
    n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

void
mproc_pool_opts_init(struct mproc_pool_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->chunksize = 1;
    o->message_max = DEFAULT_MESSAGE_MAX;
    o->ordered = true;
    o->reduce = true;
    o->start_method = "fork";
    o->ipc = "pipe";
    o->cancel_fd = -1;
    o->input_fd = -1;
    o->timeout_grace_ms = 1000;
}

static int
check_names(const struct mproc_pool_opts *o, mproc_err_t *err)
{
    const char *sm = o->start_method ? o->start_method : "fork";
    const char *ipc = o->ipc ? o->ipc : "pipe";

    if (strcmp(sm, "fork") != 0 && strcmp(sm, "spawn") != 0 &&
        strcmp(sm, "forkserver") != 0)
        return mproc__err(err, MPROC_EINVAL,
                          "unknown start method '%s'; expected fork, spawn "
                          "or forkserver", sm);
    if (strcmp(sm, "fork") != 0 && o->plugin == NULL)
        return mproc__err(err, MPROC_ENOTSUP,
                          "start method '%s' loads the plugin from its file "
                          "in a new image; an in-process plugin descriptor "
                          "works with fork only", sm);
    if (mproc__ipc_index(ipc) < 0 && strcmp(ipc, "auto") != 0)
        return mproc__err(err, MPROC_EINVAL,
                          "unknown ipc backend '%s'; expected one of %s or "
                          "auto", ipc, mproc__ipc_names());
    return 0;
}

int
mproc_pool_new(mproc_pool_t **out, const struct mproc_pool_opts *o,
               mproc_err_t *err)
{
    mproc_pool_t *p = NULL;
    int r;

    *out = NULL;
    r = check_names(o, err);
    if (r < 0)
        return r;
    if (o->message_max == 0 || o->message_max > MAX_MESSAGE_MAX)
        return mproc__err(err, MPROC_EINVAL,
                          "message_max must be from 1 to %zu bytes",
                          (size_t)MAX_MESSAGE_MAX);
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    p->o = *o;
    p->o.plugin = NULL;
    p->o.task = NULL;
    p->o.args = NULL;
    /* The caller's string is borrowed: keep a static one. */
    p->o.start_method = o->start_method == NULL ? "fork"
                        : strcmp(o->start_method, "spawn") == 0 ? "spawn"
                        : strcmp(o->start_method, "forkserver") == 0
                            ? "forkserver"
                            : "fork";
    /* auto: measured (or cached) now, before any worker starts. */
    p->o.ipc = o->ipc != NULL && strcmp(o->ipc, "auto") == 0
                   ? mproc__ipc_auto(NULL)
                   : mproc__ipc_ops((unsigned)mproc__ipc_index(
                         o->ipc ? o->ipc : "pipe"))->name;
    /* A frame: its header, and an item, an output or a failure message. */
    p->chan_max = p->o.message_max + MPROC__FRAME_HDR_SIZE +
                  MPROC__FAILMSG_MAX + 256;
    mproc__buf_init(&p->scratch, (size_t)-1);
    p->claims_fd = -1;
    /* chunksize 0 is auto: the chunk is chosen when the run starts and
     * adapted as it goes (see adapt()). */
    p->auto_chunk = p->o.chunksize == 0;
    p->nworkers = o->workers ? o->workers : mproc_cpu_usable();

    if (mproc__kv_dup(o->args, o->nargs, &p->args) < 0)
        goto nomem;
    p->nargs = o->nargs;

    if (o->plugin_desc != NULL)
        r = mproc__plugin_wrap(&p->plugin, o->plugin_desc, err);
    else
        r = mproc__plugin_open(&p->plugin, o->plugin, err);
    if (r < 0)
        goto fail;
    r = mproc__plugin_task(p->plugin, o->task, &p->task, err);
    if (r < 0)
        goto fail;

    if (o->status != NULL && (p->status_label = strdup(o->status)) == NULL)
        goto nomem;
    p->o.status = NULL; /* borrowed: status_label is the copy */
    p->has_reduce = o->reduce && p->plugin->desc->reduce != NULL;
    mproc__ctx_init(&p->rctx, &p->rpriv, p->args, p->nargs, p->nworkers);
    p->rpriv.sync = o->sync;
    mproc__buf_init(&p->rout, o->message_max);
    *out = p;
    return 0;

nomem:
    r = mproc__err(err, MPROC_ENOMEM, "out of memory");
fail:
    mproc__plugin_close(p->plugin);
    mproc__kv_free(p->args, p->nargs);
    free(p);
    return r;
}

/* ---- the slot ring ---- */

static struct slot *
slot_of(mproc_pool_t *p, uint64_t ref)
{
    return &p->slots[ref & p->mask];
}

static void
slot_clear(struct slot *s)
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
    slot_clear(slot_of(p, ref));
    p->used--;
    if (!p->o.ordered)
        p->free_refs[p->nfree++] = (uint32_t)(ref & p->mask);
}

static void
requeue_push(mproc_pool_t *p, uint64_t ref)
{
    /* At most W items exist, so the ring of W entries cannot overflow. */
    p->requeue[(p->rq_head + p->rq_len) & p->mask] = ref;
    p->rq_len++;
    slot_of(p, ref)->state = SLOT_PENDING;
}

/* A task sent to a worker that ended before starting it: not an attempt. */
static void
unsent(mproc_pool_t *p, uint64_t ref)
{
    struct slot *s = slot_of(p, ref);
    if (s->attempts > 0)
        s->attempts--;
    requeue_push(p, ref);
}

static void
tick(mproc_pool_t *p)
{
    p->now = mproc__now_ms();
}

/* The wall clock at p->now. */
static double
wall(const mproc_pool_t *p)
{
    return p->wall0 + (double)(p->now - p->now0) / 1000.0;
}

static void
stop(mproc_pool_t *p, int code)
{
    if (!p->stopping) {
        p->stopping = true;
        p->stop_code = code;
    }
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

    if (status == 0 && p->has_reduce) {
        mproc__ctx_clear(&p->rctx);
        if (d->reduce(&p->rctx, data, len, index) != MPROC_TASK_OK) {
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
        if (status == MPROC_ETASK) {
            /* What the task wrote before it failed (taskfail_int.h). */
            struct mproc__taskfail f;
            mproc__taskfail_unpack(data, len, &f);
            r.data = f.out;
            r.len = f.out_len;
        }
    }
    if (p->on_result != NULL && p->on_result(p->user, &r) != 0)
        stop(p, MPROC_ECANCELED);
    if (status != 0 && status != MPROC_ECANCELED && p->o.stop_on_error)
        stop(p, MPROC_ECANCELED);
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
static void
finish(mproc_pool_t *p, uint64_t ref, int status, const char *data,
       size_t len, int exitcode)
{
    struct slot *s = slot_of(p, ref);

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
        requeue_push(p, ref);
        return;
    }
    complete(p, ref, status, data, len);
}

/* ---- taking items from the caller ---- */

static bool
window_full(const mproc_pool_t *p)
{
    return p->o.ordered ? p->next_index - p->base > p->mask : p->nfree == 0;
}

/* The ref of the next task to send, or -1 when there is none right now. */
static int
take(mproc_pool_t *p, uint64_t *ref)
{
    struct mproc_item item;
    struct slot *s;
    int r;

    for (;;) {
        if (p->rq_len > 0) {
            *ref = p->requeue[p->rq_head & p->mask];
            p->rq_head++;
            p->rq_len--;
            return 0;
        }
        if (p->source_done || p->stopping || p->input_wait ||
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
        if (!slot_take(p, ref))
            return -1; /* cannot happen: the window is not full */
        s = slot_of(p, *ref);
        s->index = p->next_index;
        /* A NUL after the bytes, sent with them: a task may read its item
         * as a string (the NUL is not counted in its length). */
        s->item = malloc(item.len + 1);
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
        memcpy(s->item, item.data, item.len);
        s->item[item.len] = '\0';
        s->item_len = item.len;
        s->state = SLOT_PENDING;
        p->next_index++;
        if (item.len > p->o.message_max) {
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

static bool
has_work(const mproc_pool_t *p)
{
    return !p->stopping &&
           (p->rq_len > 0 ||
            (!p->source_done && !p->input_wait && !window_full(p)));
}

/*
 * Test hooks, read once per run (never set outside the tests):
 * MPROC_TEST_HOOK_LIMIT_AT_RESULT=I: item I's time limit passes just as
 * its result arrives (the race of a limit signal and a finishing task);
 * MPROC_TEST_HOOK_START_FAIL=N[:M]: after N worker starts, the next M
 * (0 or none: every one) fail as an exhausted resource would.
 */
static void
hooks_init(mproc_pool_t *p)
{
    const char *v = getenv("MPROC_TEST_HOOK_LIMIT_AT_RESULT");

    p->hook_limit_at = v != NULL && *v != '\0' ? atoll(v) : -1;
}

static int
start_hook(mproc_pool_t *p, char *errbuf, size_t errlen)
{
    const char *v = getenv("MPROC_TEST_HOOK_START_FAIL");
    unsigned long after, count = 0;
    char *end;

    if (v == NULL || *v == '\0')
        return 0;
    after = strtoul(v, &end, 10);
    if (*end == ':')
        count = strtoul(end + 1, NULL, 10);
    if (p->hook_starts++ < after ||
        (count != 0 && p->hook_starts > after + count))
        return 0;
    snprintf(errbuf, errlen, "cannot open a channel for a worker: "
                             "Too many open files (test hook)");
    return MPROC_EMFILE;
}

/* ---- workers ---- */

static unsigned live_workers(const mproc_pool_t *p);

/*
 * Signal a worker and everything its tasks started: it leads a process
 * group (start.c).  Only while the worker is not reaped: until then its
 * pid, and so the group's id, cannot name anyone else's.  A worker that
 * has not made its group yet gets the signal alone.
 */
static void
signal_worker(const struct worker *w, int sig)
{
    if (kill(-w->pid, sig) < 0 && errno == ESRCH)
        kill(w->pid, sig);
}

static void
worker_release(struct worker *w)
{
    mproc__chan_free(w->task);
    mproc__chan_free(w->result);
    if (w->pidfd >= 0)
        close(w->pidfd);
    free(w->fifo);
    memset(w, 0, sizeof(*w));
    w->pidfd = -1;
}

/* The start of worker `w` failed: try again later, or end the run when
 * none could ever start or none is left to carry it. */
static void
start_failed(mproc_pool_t *p, struct worker *w, int code, unsigned live)
{
    unsigned shift = w->start_fails < 6 ? w->start_fails : 6;
    long long delay = (long long)START_RETRY_MS << shift;

    w->start_fails++;
    if (!p->started_one ||
        (live == 0 && w->start_fails >= MAX_START_FAILS)) {
        /* errmsg says why already. */
        stop(p, code == MPROC_ENOMEM ? MPROC_ENOMEM : MPROC_EWORKER);
        return;
    }
    w->retry_ms = p->now + (delay < START_RETRY_MAX_MS ? delay
                                                       : START_RETRY_MAX_MS);
    if (!p->warned_short && p->o.on_warning != NULL) {
        char msg[MPROC__FAILMSG_MAX + 128];
        snprintf(msg, sizeof(msg),
                 "%s; going on with %u of %u workers, trying again", p->errmsg,
                 live, p->nworkers);
        p->o.on_warning(p->user, msg);
    }
    p->warned_short = true;
}

/* Worker slot i's claim words and result stage (NULL: none). */
static _Atomic uint64_t *
claims_of(const mproc_pool_t *p, unsigned i)
{
    if (p->claims == NULL)
        return NULL;
    return (_Atomic uint64_t *)(void *)((char *)p->claims +
                                        (size_t)i * mproc__claims_slot_bytes(
                                                        p->fifo_cap));
}

static struct mproc__stage *
stage_of(const mproc_pool_t *p, unsigned i)
{
    return (struct mproc__stage *)(void *)((char *)claims_of(p, i) +
                                           mproc__stage_offset(p->fifo_cap));
}

/* Worker slot i's backtrace record (pool/crash.c), or NULL. */
static struct mproc__crash *
crash_of(const mproc_pool_t *p, unsigned i)
{
    if (p->claims == NULL)
        return NULL;
    return (struct mproc__crash *)(void *)((char *)claims_of(p, i) +
                                           mproc__crash_offset(p->fifo_cap));
}

static int
spawn(mproc_pool_t *p, unsigned i)
{
    struct worker *w = &p->w[i];
    struct mproc__worker_args a = {
        .desc = p->plugin->desc,
        .task = p->task,
        .args = p->args,
        .nargs = p->nargs,
        .message_max = p->o.message_max,
        .sync = p->o.sync,
        .slot = i,
        .max_memory = p->o.max_memory_per_child,
        .rlimit_cpu = p->o.rlimit_cpu,
        .rlimit_as = p->o.rlimit_as,
        .rlimit_nofile = p->o.rlimit_nofile,
        .nice = p->o.nice,
        .claims = claims_of(p, i),
        .claims_fd = -1,
        .has_claims = p->claims != NULL,
        .fifo_cap = p->fifo_cap,
    };
    struct mproc__start req = {
        .method = p->o.start_method,
        .wa = &a,
        .plugin_path = p->plugin->handle != NULL ? p->plugin->path : NULL,
        .ipc = p->o.ipc,
        .chan_max = p->chan_max,
        .chan_group = 2 * p->nworkers,
        .cancel_fd = p->o.cancel_fd,
        .claims_fd = p->claims_fd,
    };
    struct mproc__started st;
    struct mproc_chan **chans;
    int *fds, r;
    size_t n = 0, nc = 0;
    unsigned k;

    /* A forked worker must not keep the other workers' channels open, or
     * their deaths could go unseen. */
    fds = malloc(p->nworkers * sizeof(*fds) + sizeof(*fds));
    chans = malloc(2 * p->nworkers * sizeof(*chans) + sizeof(*chans));
    if (fds == NULL || chans == NULL) {
        free(fds);
        free(chans);
        set_errmsg(p, "out of memory");
        return MPROC_ENOMEM;
    }
    for (k = 0; k < p->nworkers; k++) {
        if (p->w[k].pid == 0)
            continue;
        if (p->w[k].task != NULL)
            chans[nc++] = p->w[k].task;
        if (p->w[k].result != NULL)
            chans[nc++] = p->w[k].result;
        if (p->w[k].pidfd >= 0)
            fds[n++] = p->w[k].pidfd;
    }
    if (p->status != NULL) /* the room of the extra one above */
        fds[n++] = mproc__status_fd(p->status);
    req.close_chans = chans;
    req.nclose_chans = nc;
    req.close_fds = fds;
    req.nclose = n;
    mproc__crash_reset(crash_of(p, i)); /* before the worker arms it */
    r = start_hook(p, p->errmsg, sizeof(p->errmsg));
    if (r == 0)
        r = mproc__worker_start(&req, &st, p->errmsg, sizeof(p->errmsg));
    free(fds);
    free(chans);
    if (r < 0)
        return r;
    p->started_one = true;
    if (p->claims != NULL) {
        for (k = 0; k < p->fifo_cap; k++)
            atomic_store(&claims_of(p, i)[k], 0);
        atomic_store(&stage_of(p, i)->len, 0);
    }
    w->start_fails = 0;
    w->retry_ms = 0;
    mproc__log(MPROC_LOG_INFO, "pool: worker %d started", (int)st.pid);
    w->pid = st.pid;
    w->pidfd = st.pidfd;
    w->task = st.task;
    w->result = st.result;
    w->fifo_cap = p->fifo_cap;
    w->fifo = malloc(w->fifo_cap * sizeof(*w->fifo));
    if (w->fifo == NULL) {
        set_errmsg(p, "out of memory");
        signal_worker(w, SIGKILL);
        MPROC__NOINTR(waitpid(w->pid, NULL, 0));
        worker_release(w);
        return MPROC_ENOMEM;
    }
    return 0;
}

/*
 * Idle workers and nothing new to give them: take back tasks that wait
 * behind a running one in another worker's FIFO, the last first (see
 * "Taking tasks back" above).
 */
static void
take_back(mproc_pool_t *p)
{
    unsigned i, k, idle = 0;

    if (p->claims == NULL || p->stopping || has_work(p))
        return;
    for (i = 0; i < p->nworkers; i++) {
        const struct worker *w = &p->w[i];
        if (w->pid != 0 ? !w->retiring && w->fifo_len == 0
                        : w->retry_ms == 0 || p->now >= w->retry_ms)
            idle++;
    }
    for (i = 0; i < p->nworkers && idle > 0; i++) {
        struct worker *w = &p->w[i];

        for (k = w->fifo_len; k-- > 1 && idle > 0;) {
            unsigned pos = (w->fifo_head + k) % w->fifo_cap;
            uint64_t e = w->fifo[pos], want;

            if (e & STOLEN)
                continue;
            want = slot_of(p, e)->index + 1;
            /* Fails when the worker has started it, and so every task
             * before it. */
            if (!atomic_compare_exchange_strong(
                    &claims_of(p, i)[pos], &want,
                    MPROC__CLAIM_REVOKED))
                break;
            w->fifo[pos] = e | STOLEN;
            unsent(p, e);
            idle--;
        }
    }
}

/* Write queued frames without blocking; close `task` when retiring. */
static void
flush(struct worker *w)
{
    if (w->task == NULL)
        return;
    if (!w->task_gone && mproc__chan_flush(w->task, 0) == MPROC_EPIPE)
        w->task_gone = true; /* the worker is gone; its pidfd says how */
    if (w->retiring &&
        (w->task_gone || mproc__chan_unflushed(w->task) == 0)) {
        /* The worker sees the end once it has read everything. */
        mproc__chan_free(w->task);
        w->task = NULL;
    }
}

/*
 * The task at the head of w's FIFO starts now, as far as the host can tell:
 * the worker is ready and has finished the one before (or had nothing).
 * Its time limit counts from here.
 */
static void
head_started(mproc_pool_t *p, struct worker *w)
{
    struct slot *s;

    /* The limit of the task before, if any, is over (stale_limit stays:
     * its signal may still land). */
    w->limit = LIMIT_NONE;
    w->head_ms = 0;
    if (!w->ready || w->fifo_len == 0 || (w->fifo[w->fifo_head] & STOLEN))
        return; /* none runs, or one that will not: no time limit */
    w->head_ms = p->now;
    s = slot_of(p, w->fifo[w->fifo_head]);
    s->t0_ms = w->head_ms;
    s->started = wall(p);
}

static int
send_task(mproc_pool_t *p, struct worker *w, uint64_t ref)
{
    struct slot *s = slot_of(p, ref);

    /* Its claim word first: a MORE send may write the frame out at once
     * (pairs with the worker's swap; see "Taking tasks back"). */
    if (p->claims != NULL)
        atomic_store(&claims_of(p, (unsigned)(w - p->w))
                          [(w->fifo_head + w->fifo_len) % w->fifo_cap],
                     s->index + 1);
    /* Queued in the channel; written by flush(), many tasks at a time.
     * A worker that is gone is found by its pidfd, and what it held is
     * accounted for then.  The item goes with its NUL (see take()). */
    if (mproc__frame_send(w->task, &p->scratch, MPROC__CHAN_MORE,
                          MPROC__FRAME_TASK, 0, s->index, s->item,
                          s->item_len + 1, 0) == MPROC_ENOMEM) {
        requeue_push(p, ref);
        set_errmsg(p, "out of memory queueing item %llu",
                   (unsigned long long)s->index);
        stop(p, MPROC_ENOMEM);
        return -1;
    }
    w->fifo[(w->fifo_head + w->fifo_len) % w->fifo_cap] = ref;
    w->fifo_len++;
    w->sent++;
    s->state = SLOT_SENT;
    s->worker = w->pid;
    s->attempts++;
    s->exitcode = 0;
    s->t0_ms = p->now;
    s->started = wall(p);
    if (w->fifo_len == 1)
        head_started(p, w);
    return 0;
}

/*
 * Chunks and depth.  A worker is sent work ahead so that it never waits
 * for the host, but not so much that the items queued behind a long one
 * wait while other workers idle: about DEPTH_MS of it, from the time per
 * item measured over the last ADAPT_MS (the workers, times the time,
 * over the results that came), and two chunks at least.  Tiny
 * tasks go TRANSPORT_DEPTH at a time; long ones two chunks at a time, as
 * without batching.  With chunksize auto, the chunk is Python's
 * total / (4 x workers) when the input's size is known, else it follows
 * the time per item too (about CHUNK_MS of work); within 1 ...
 * AUTO_CHUNK_MAX either way.
 */
static void
chunk_init(mproc_pool_t *p)
{
    /* Auto without a total: from 1, growing once times are measured. */
    p->chunk = mproc__pool_chunksize(p);
    if (p->chunk == 0)
        p->chunk = 1;
    /* Until a time is measured: as without batching. */
    p->depth = 2 * p->chunk;
    p->adapt_ms = p->now;
}

static void
adapt(mproc_pool_t *p)
{
    long long span = p->now - p->adapt_ms;
    unsigned i, busy = 0;
    double per, want;

    if (span < ADAPT_MS)
        return;
    /* The workers that ran tasks in the span: those alive now (an
     * estimate: high when input came slower than they ran). */
    for (i = 0; i < p->nworkers; i++)
        busy += p->w[i].pid != 0 && p->w[i].ready;
    if (busy > 0) {
        /* No result at all in the span: at least that long each. */
        per = (double)span * busy /
              (double)(p->adapt_done ? p->adapt_done : 1);
        if (p->auto_chunk && p->total == 0) {
            want = CHUNK_MS / per;
            p->chunk = want < 1 ? 1
                       : want > AUTO_CHUNK_MAX ? AUTO_CHUNK_MAX
                                               : (unsigned)want;
        }
        want = DEPTH_MS / per;
        p->depth = want < 2.0 * p->chunk ? 2 * p->chunk
                   : want > p->fifo_cap  ? p->fifo_cap
                                         : (unsigned)want;
    }
    p->adapt_ms = p->now;
    p->adapt_done = 0;
}

/*
 * Give every worker work, starting workers as needed: a chunk to idle
 * workers first, so that when few items come at a time (a Pool API's
 * apply) each goes where it runs at once rather than behind another;
 * then, to each worker whose FIFO was half empty, a chunk per round
 * until it is full, so that what there is spreads over the workers, and
 * many items go in each write.
 */
static void
dispatch(mproc_pool_t *p)
{
    unsigned i, k, pass, chunk = p->chunk;
    bool gave = true;
    uint64_t ref;
    int r;

    for (pass = 0; gave && has_work(p); pass++) {
        gave = false;
        for (i = 0; i < p->nworkers && has_work(p); i++) {
            struct worker *w = &p->w[i];

            if (pass > 0) {
                /* Large items: what waits in the channel's buffer here
                 * stays within TOPUP_BYTES (and a chunk). */
                if (w->pid == 0 || w->retiring || !w->topping ||
                    w->fifo_len + chunk > p->depth ||
                    mproc__chan_unflushed(w->task) >= TOPUP_BYTES)
                    continue;
            } else {
                if (w->pid == 0) {
                    if (w->retry_ms != 0 && p->now < w->retry_ms)
                        continue; /* its last start failed: not yet */
                    r = spawn(p, i);
                    if (r < 0) {
                        start_failed(p, w, r, live_workers(p));
                        if (p->stopping)
                            return;
                        continue;
                    }
                }
                /* Doomed (a limit signal, max_tasks_per_child): once
                 * what it holds is written, the end of its task channel
                 * tells it to finish (below), or it would wait for a
                 * task for ever. */
                w->topping = !w->retiring && w->fifo_len <= p->depth / 2;
                if (w->retiring || w->fifo_len > 0)
                    continue;
            }
            for (k = 0; k < chunk; k++) {
                if (take(p, &ref) < 0)
                    break;
                if (send_task(p, w, ref) < 0)
                    return;
                gave = true;
                if (p->o.max_tasks_per_child &&
                    w->sent >= p->o.max_tasks_per_child) {
                    w->retiring = true;
                    w->topping = false;
                    break;
                }
            }
        }
    }
    for (i = 0; i < p->nworkers; i++)
        if (p->w[i].pid != 0)
            flush(&p->w[i]);
}

/* ---- what workers send, and how they end ---- */

/*
 * The head of w's FIFO is past its deadline: SIGTERM to the worker's group
 * (SIGKILL when there is no grace).  The worker is doomed: it is sent
 * nothing more, and ends once it has answered what it holds.
 */
static void
limit_signal(mproc_pool_t *p, struct worker *w)
{
    w->limit = p->o.timeout_grace_ms > 0 ? LIMIT_SOFT : LIMIT_HARD;
    w->limit_ms = p->now;
    w->limit_index = slot_of(p, w->fifo[w->fifo_head])->index;
    w->retiring = true;
    signal_worker(w, w->limit == LIMIT_SOFT ? SIGTERM : SIGKILL);
}

static void
describe_status(int st, char *buf, size_t len)
{
    if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by SIG%s", sigabbrev_np(WTERMSIG(st))
                                                  ? sigabbrev_np(WTERMSIG(st))
                                                  : "?");
    else if (WIFEXITED(st))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
    else
        snprintf(buf, len, "ended with wait status %#x", st);
}

static void
init_failed(mproc_pool_t *p, pid_t pid, const char *why, size_t len)
{
    set_errmsg(p, "plugin %s: init failed in worker %d: %.*s",
               p->plugin->path, (int)pid, (int)len, why);
    stop(p, MPROC_EINIT);
}

/* The tasks of w's FIFO from place `from` on never started: they go to
 * other workers, not counted as attempts (those taken back are queued
 * already).  The FIFO is empty then. */
static void
give_back(mproc_pool_t *p, struct worker *w, unsigned from)
{
    unsigned k;

    for (k = from; k < w->fifo_len; k++) {
        uint64_t e = w->fifo[(w->fifo_head + k) % w->fifo_cap];
        if (!(e & STOLEN))
            unsent(p, e);
    }
    w->fifo_head = (w->fifo_head + w->fifo_len) % w->fifo_cap;
    w->fifo_len = 0;
}

/* The worker said it ends after the task it ran (max_memory_per_child, or
 * a SIGTERM between tasks): the tasks still in its FIFO never started, so
 * other workers get them. */
static void
retire(mproc_pool_t *p, struct worker *w)
{
    give_back(p, w, 0);
    w->retiring = true;
    mproc__chan_free(w->task); /* it reads no more: drop what is queued */
    w->task = NULL;
}

static void
limit_text(const mproc_pool_t *p, char *buf, size_t len)
{
    snprintf(buf, len, "timed out after %gs", p->o.timeout_ms / 1000.0);
}

/* A task's answer (OK or FAIL frame) has arrived. */
static void
result(mproc_pool_t *p, struct worker *w, uint64_t ref,
       const struct mproc__frame_hdr *h, const char *payload)
{
    int status = h->type == MPROC__FRAME_OK ? 0
                 : h->status == (uint32_t)-MPROC_EMSGSIZE ? MPROC_EMSGSIZE
                                                          : MPROC_ETASK;
    char msg[MPROC__FAILMSG_MAX + 64];
    size_t len = (size_t)h->len;
    bool limited = w->limit != LIMIT_NONE && w->limit_index == h->index;
    struct mproc__taskfail f = {0};

    if (status == MPROC_ETASK)
        mproc__taskfail_unpack(payload, len, &f);

    /* The item completed after all: its limit signal, on its way or
     * blocked in the worker, may still end the worker during a later
     * task, which is then not to blame (see reap()). */
    if (limited)
        w->stale_limit = true;
    if (status == MPROC_ETASK && limited) {
        /* The task caught the soft limit's SIGTERM and gave up: it still
         * timed out.  (A task that finishes its work anyway succeeds.) */
        size_t n;
        limit_text(p, msg, sizeof(msg));
        n = strlen(msg);
        snprintf(msg + n, sizeof(msg) - n, ": %.*s",
                 (int)(len < MPROC__FAILMSG_MAX ? len : MPROC__FAILMSG_MAX),
                 payload);
        status = MPROC_ETIMEDOUT;
        payload = msg;
        len = strlen(msg);
    }
    finish(p, ref, status, payload, len, f.status);
}

/* Handle one frame from a worker. */
static void
handle(mproc_pool_t *p, struct worker *w, const struct mproc__frame_hdr *h,
       const char *payload)
{
    uint64_t ref;

    switch (h->type) {
    case MPROC__FRAME_READY:
        w->ready = true;
        p->start_deaths = 0;
        head_started(p, w);
        break;
    case MPROC__FRAME_RETIRE:
        retire(p, w);
        break;
    case MPROC__FRAME_INITFAIL:
        init_failed(p, w->pid, payload, (size_t)h->len);
        break;
    case MPROC__FRAME_OK:
    case MPROC__FRAME_FAIL:
        if (w->fifo_len > 0 && (w->fifo[w->fifo_head] & STOLEN)) {
            /* Taken back: its answer can only be "not run". */
            if (h->type != MPROC__FRAME_FAIL ||
                h->status != (uint32_t)-MPROC_ECANCELED || h->len != 0) {
                set_errmsg(p, "worker %d ran a task taken back from it",
                           (int)w->pid);
                signal_worker(w, SIGKILL);
                return;
            }
            w->fifo_head = (w->fifo_head + 1) % w->fifo_cap;
            w->fifo_len--;
            w->answered++;
            head_started(p, w);
            break;
        }
        if (w->fifo_len == 0 ||
            slot_of(p, ref = w->fifo[w->fifo_head])->index != h->index) {
            /* Cannot happen with a well-behaved worker: results come in
             * the order tasks were sent. */
            set_errmsg(p, "worker %d answered out of order", (int)w->pid);
            signal_worker(w, SIGKILL);
            return;
        }
        if (h->type == MPROC__FRAME_FAIL &&
            h->status == (uint32_t)-MPROC_ECANCELED && h->len == 0) {
            /* "Not run" for a task not taken back: its claim word did not
             * hold what was sent (cannot happen: send_task stores it
             * first).  It did not run; it runs elsewhere. */
            w->fifo_head = (w->fifo_head + 1) % w->fifo_cap;
            w->fifo_len--;
            w->answered++;
            unsent(p, ref);
            head_started(p, w);
            break;
        }
        if ((long long)h->index == p->hook_limit_at && p->o.timeout_ms > 0 &&
            w->limit == LIMIT_NONE) {
            /* Test hook: the deadline passes just as the result comes. */
            limit_signal(p, w);
        }
        w->fifo_head = (w->fifo_head + 1) % w->fifo_cap;
        w->fifo_len--;
        w->answered++;
        p->adapt_done++;
        result(p, w, ref, h, payload);
        head_started(p, w);
        break;
    default:
        set_errmsg(p, "worker %d sent an unknown frame %u", (int)w->pid,
                   (unsigned)h->type);
        signal_worker(w, SIGKILL);
    }
}

static void reap(mproc_pool_t *p, struct worker *w);

/* Did worker `w`, with wait status `st`, die of a limit signal sent for
 * an item that completed (not of the task it was running)? */
static bool
stale_death(const mproc_pool_t *p, struct worker *w, int st)
{
    uint64_t running = w->fifo[w->fifo_head];

    if (!w->stale_limit || !WIFSIGNALED(st) ||
        (WTERMSIG(st) != SIGTERM && WTERMSIG(st) != SIGKILL))
        return false;
    /* Its own limit passed too: then it timed out. */
    return !(w->limit != LIMIT_NONE &&
             w->limit_index == p->slots[running & p->mask].index);
}

/* 0 when msg is a sequence of whole frames, one at least. */
static int
frames_check(const void *msg, size_t len)
{
    struct mproc__frame_hdr h;
    const char *payload;
    size_t off, n;

    if (len == 0)
        return MPROC_EIO;
    for (off = 0; off < len; off += n) {
        n = mproc__frame_next((const char *)msg + off, len - off, &h,
                              &payload, NULL);
        if (n == 0)
            return MPROC_EIO;
    }
    return 0;
}

/*
 * Handle one message from w: one frame, or a batch of results, whose
 * first frame (MPROC__FRAME_BATCH) gives the number of the first result.
 * Results of a batch that were handled already (taken from the stage) are
 * skipped; the rest must follow on: returns false at a gap (the results
 * between have not come yet).
 */
static bool
handle_msg(mproc_pool_t *p, struct worker *w, const char *msg, size_t len)
{
    struct mproc__frame_hdr h;
    const char *payload;
    uint64_t seq = 0;
    bool batch = false;
    size_t off, n;

    for (off = 0; off < len; off += n) {
        n = mproc__frame_next(msg + off, len - off, &h, &payload, NULL);
        if (n == 0)
            return false; /* checked before: cannot happen */
        if (off == 0 && h.type == MPROC__FRAME_BATCH) {
            batch = true;
            seq = h.index;
            continue;
        }
        if (batch) {
            if (seq > w->answered)
                return false;
            if (seq++ < w->answered)
                continue;
        }
        handle(p, w, &h, payload);
    }
    return true;
}

/* A consistent copy of worker i's stage in p->hbuf (see struct
 * mproc__stage): its length, 0 when empty or changing. */
static size_t
stage_read(mproc_pool_t *p, unsigned i, long long *t0_ns)
{
    struct mproc__stage *st = stage_of(p, i);
    uint64_t gen = atomic_load_explicit(&st->gen, memory_order_acquire);
    /* Acquire: pairs with the worker's release store after the bytes. */
    uint64_t len = atomic_load_explicit(&st->len, memory_order_acquire);

    if (len == 0 || len > sizeof(st->data))
        return 0;
    memcpy(p->hbuf, st->data, (size_t)len);
    *t0_ns = atomic_load_explicit(&st->t0_ns, memory_order_relaxed);
    /* Pairs with the worker's release fence after it changed gen: bytes
     * of a new batch read above mean a new gen read below. */
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&st->gen, memory_order_relaxed) != gen)
        return 0;
    return (size_t)len;
}

/*
 * Take the results w has staged and the channel has not brought (see
 * "Results in batches"), so that the head of its FIFO is the task it
 * runs, or ran when it died.  A limit signal sent while the head was one
 * of those (finished, its result held back) was meant for the task
 * running after it: the limit moves on.  That task started at most
 * BATCH_HOLD_NS (worker.c) after the batch's first: its time counts from
 * there.
 */
static bool
harvest(mproc_pool_t *p, struct worker *w)
{
    struct mproc__frame_hdr h;
    const char *payload;
    long long t0_ns = 0, t0;
    uint64_t seq;
    size_t len, off, n;
    bool took = false;

    if (p->claims == NULL)
        return true;
    len = stage_read(p, (unsigned)(w - p->w), &t0_ns);
    if (len == 0 || frames_check(p->hbuf, len) < 0)
        return false; /* empty, or changing: look again */
    n = mproc__frame_next(p->hbuf, len, &h, &payload, NULL);
    if (h.type != MPROC__FRAME_BATCH)
        return true;
    for (seq = h.index, off = n; off < len && w->fifo_len > 0;
         off += n, seq++) {
        int limit = w->limit;
        long long limit_ms = w->limit_ms;
        bool moved;

        n = mproc__frame_next(p->hbuf + off, len - off, &h, &payload, NULL);
        if (seq > w->answered)
            break; /* results before these are still on their way */
        if (seq < w->answered)
            continue; /* came through the channel */
        if (h.type != MPROC__FRAME_OK && h.type != MPROC__FRAME_FAIL)
            break;
        moved = limit != LIMIT_NONE && h.index == w->limit_index &&
                !(w->fifo[w->fifo_head] & STOLEN);
        if (moved)
            w->limit = LIMIT_NONE; /* it did not end by the signal */
        handle(p, w, &h, payload);
        took = true;
        if (moved && w->fifo_len > 0 && !(w->fifo[w->fifo_head] & STOLEN)) {
            w->limit = limit;
            w->limit_ms = limit_ms;
            w->limit_index = slot_of(p, w->fifo[w->fifo_head])->index;
        }
    }
    t0 = t0_ns / 1000000;
    if (took && w->head_ms > t0 && t0 > 0) {
        struct slot *s = slot_of(p, w->fifo[w->fifo_head]);
        w->head_ms = t0;
        s->t0_ms = t0;
        s->started = p->wall0 + (double)(t0 - p->now0) / 1000.0;
    }
    return true;
}

/*
 * Results held back in a worker's stage while it runs a long task: taken
 * from there once they have waited HARVEST_MS.  Returns the milliseconds
 * until the next look is due, or -1.
 */
static int
watch_stages(mproc_pool_t *p)
{
    int next = -1, left;
    unsigned i;

    if (p->claims == NULL)
        return -1;
    for (i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->w[i];
        struct mproc__stage *st;
        uint64_t gen, len;

        if (w->pid == 0 || w->fifo_len == 0)
            continue;
        st = stage_of(p, i);
        len = atomic_load_explicit(&st->len, memory_order_relaxed);
        gen = atomic_load_explicit(&st->gen, memory_order_relaxed);
        if (len == 0)
            continue;
        if (gen != w->seen_gen || len != w->seen_len) {
            w->seen_gen = gen;
            w->seen_len = len;
            w->seen_ms = p->now;
            w->seen_taken = false;
        }
        if (w->seen_taken)
            continue;
        left = (int)(w->seen_ms + HARVEST_MS - p->now);
        if (left <= 0) {
            /* Taken, or caught changing: then again soon. */
            w->seen_taken = harvest(p, w);
            left = 1;
            if (w->seen_taken)
                continue;
        }
        if (next < 0 || left < next)
            next = left;
    }
    return next;
}

/* Handle what the worker sent, without blocking. */
static void
drain(mproc_pool_t *p, struct worker *w)
{
    while (!w->eof && w->result != NULL) {
        const void *msg;
        size_t len;
        int r = mproc__chan_peek(w->result, &msg, &len, 0);

        if (r == MPROC_EAGAIN)
            return;
        if (r == 0 && frames_check(msg, len) < 0)
            r = MPROC_EIO;
        if (r < 0) {
            if (r != MPROC_EPIPE) {
                set_errmsg(p, "worker %d: %s", (int)w->pid,
                           r == MPROC_EIO ? "sent a malformed frame"
                                          : mproc__chan_errmsg(w->result));
                signal_worker(w, SIGKILL);
            }
            w->eof = true;
            if (w->pidfd < 0 && !w->reaping)
                reap(p, w); /* no pidfd: the end of the channel is the
                               sign */
            return;
        }
        handle_msg(p, w, msg, len);
        mproc__chan_consume(w->result);
    }
}

/* The worker has ended: account for what it held and free its slot. */
static void
reap(mproc_pool_t *p, struct worker *w)
{
    char why[64], msg[MPROC__FAILMSG_MAX];
    siginfo_t si;
    int st = 0, r;
    pid_t pid = w->pid;

    /* Known to have ended, not collected yet: a zombie keeps its pid, so
     * its process group's id still names the group it made. */
    memset(&si, 0, sizeof(si));
    r = MPROC__NOINTR(waitid(P_PID, (id_t)pid, &si,
                             WEXITED | WNOWAIT |
                                 (w->pidfd < 0 ? 0 : WNOHANG)));
    if (r == 0 && si.si_pid == 0)
        return; /* not yet: pidfds are ready only at exit, but be safe */
    /* What its tasks started and left behind (a command's background
     * jobs, a timed-out command's children) ends with it.  Not when
     * someone else reaped it (r < 0): its pid may name another by now. */
    if (r == 0)
        kill(-pid, SIGKILL);
    MPROC__NOINTR(waitpid(pid, &st, 0));
    w->reaping = true;
    drain(p, w);
    harvest(p, w);
    describe_status(st, why, sizeof(why));
    mproc__log(p->stopping || (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                   ? MPROC_LOG_DEBUG
                   : MPROC_LOG_WARNING,
               "pool: worker %d %s", (int)pid, why);

    if (!w->ready && !p->stopping) {
        /* Died before init completed, and without saying why.  A few such
         * deaths in a row mean init itself kills the worker. */
        if (++p->start_deaths >= MAX_START_DEATHS) {
            snprintf(msg, sizeof(msg), "%s (%u workers in a row)", why,
                     p->start_deaths);
            init_failed(p, pid, msg, strlen(msg));
        }
    }
    if (w->fifo_len > 0 && !p->stopping &&
        (!w->ready || (w->fifo[w->fifo_head] & STOLEN) ||
         stale_death(p, w, st))) {
        /* It never started a task (its head was taken back, so it ran
         * none), or the task it ran was ended by a limit signal meant for
         * one that had completed: all of them go to other workers, not
         * counted as attempts. */
        give_back(p, w, 0);
    } else if (w->fifo_len > 0 && !p->stopping) {
        uint64_t running = w->fifo[w->fifo_head];

        bool timed = w->limit != LIMIT_NONE &&
                     w->limit_index == slot_of(p, running)->index;
        int code = WIFEXITED(st) ? WEXITSTATUS(st)
                   : WIFSIGNALED(st) ? -WTERMSIG(st) : 0;

        if (timed) {
            limit_text(p, msg, sizeof(msg));
            snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
                     "; worker %d %s", (int)pid, why);
        } else {
            snprintf(msg, sizeof(msg), "worker %d %s", (int)pid, why);
        }
        mproc__crash_describe(crash_of(p, (unsigned)(w - p->w)), st, msg,
                              sizeof(msg));
        give_back(p, w, 1);
        finish(p, running, timed ? MPROC_ETIMEDOUT : MPROC_EWORKER, msg,
               strlen(msg), code);
    } else if (w->fifo_len > 0) {
        /* Stopping: what it held is reported as not run. */
        unsigned k;
        for (k = 0; k < w->fifo_len; k++) {
            uint64_t e = w->fifo[(w->fifo_head + k) % w->fifo_cap];
            if (!(e & STOLEN))
                slot_of(p, e)->state = SLOT_PENDING;
        }
        w->fifo_len = 0;
    }
    worker_release(w);
}

static unsigned
live_workers(const mproc_pool_t *p)
{
    unsigned i, n = 0;
    for (i = 0; i < p->nworkers; i++)
        n += p->w[i].pid != 0;
    return n;
}

/* ---- waiting on workers, stopping them ---- */

/*
 * Fill *pfd to wait for w's results.  True when some are ready already
 * (then pfd->fd is -2, a mark for the caller: drain without waiting).
 */
static bool
result_wait(struct worker *w, struct pollfd *pfd)
{
    pfd->fd = -1;
    pfd->events = 0;
    pfd->revents = 0;
    if (w->eof || w->result == NULL)
        return false;
    if (mproc__chan_poll_prepare(w->result, MPROC__CHAN_RD, pfd) == 0)
        return false;
    pfd->fd = -2;
    return true;
}

/*
 * Without a pidfd (pidfd_open missing or refused), a worker's end shows
 * only as the end of its result channel, and an mq channel has none (a
 * message queue outlives its writers): the run would wait for ever.  So a
 * worker without a pidfd is also looked at every BLIND_POLL_MS.
 */
#define BLIND_POLL_MS 20

static bool
ended_unseen(const struct worker *w)
{
    siginfo_t si;

    if (w->pid == 0 || w->pidfd >= 0 || w->reaping)
        return false;
    memset(&si, 0, sizeof(si));
    return waitid(P_PID, (id_t)w->pid, &si,
                  WEXITED | WNOWAIT | WNOHANG) == 0 &&
           si.si_pid != 0;
}

/* The poll timeout, shortened while some worker has no pidfd. */
static int
blind_wait(const mproc_pool_t *p, int wait_ms)
{
    unsigned i;

    for (i = 0; i < p->nworkers; i++)
        if (p->w[i].pid != 0 && p->w[i].pidfd < 0)
            return wait_ms < 0 || wait_ms > BLIND_POLL_MS ? BLIND_POLL_MS
                                                          : wait_ms;
    return wait_ms;
}

/* The same for sending tasks: only while some wait to be written. */
static bool
task_wait(struct worker *w, struct pollfd *pfd)
{
    pfd->fd = -1;
    pfd->events = 0;
    pfd->revents = 0;
    if (w->task == NULL || w->task_gone ||
        mproc__chan_unflushed(w->task) == 0)
        return false;
    if (mproc__chan_poll_prepare(w->task, MPROC__CHAN_WR, pfd) == 0)
        return false;
    pfd->fd = -2;
    return true;
}

/*
 * Wait for every worker to end, reading their results meanwhile.  When
 * `hard`, they are sent SIGTERM first; either way, those still running
 * after the grace period are killed.
 */
static void
stop_workers(mproc_pool_t *p, bool hard)
{
    long long deadline = mproc__now_ms() + (hard ? STOP_GRACE_MS
                                                 : FINI_GRACE_MS);
    bool killed = false;
    unsigned i;
    int r;

    for (i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->w[i];
        if (w->pid == 0)
            continue;
        w->retiring = true;
        flush(w);
        /* What did not fit is not needed: the worker ends now. */
        mproc__chan_free(w->task);
        w->task = NULL;
        if (hard)
            signal_worker(w, SIGTERM);
    }
    while (live_workers(p) > 0) {
        struct pollfd pfd[2 * p->nworkers];
        unsigned n = 0;
        long long left = deadline - mproc__now_ms();
        bool now = false;

        if (left <= 0 && !killed) {
            for (i = 0; i < p->nworkers; i++)
                if (p->w[i].pid != 0)
                    signal_worker(&p->w[i], SIGKILL);
            killed = true;
        }
        for (i = 0; i < p->nworkers; i++) {
            struct worker *w = &p->w[i];
            if (w->pid == 0)
                continue;
            pfd[n].fd = w->pidfd;
            pfd[n++].events = POLLIN;
            if (result_wait(w, &pfd[n++]))
                now = true;
        }
        r = poll(pfd, n,
                 blind_wait(p, now      ? 0
                               : killed ? 1000
                                        : (int)(left > 0 ? left : 0)));
        tick(p);
        if (r < 0 && errno != EINTR)
            break;
        for (i = 0, n = 0; i < p->nworkers; i++) {
            struct worker *w = &p->w[i];
            if (w->pid == 0)
                continue;
            if (pfd[n + 1].revents || pfd[n + 1].fd == -2)
                drain(p, w);
            if (pfd[n].revents || ended_unseen(w))
                reap(p, w);
            n += 2;
        }
    }
}

static int
by_index(const void *a, const void *b, void *slots)
{
    const struct slot *s = slots;
    uint64_t x = s[*(const uint32_t *)a].index, y = s[*(const uint32_t *)b].index;
    return x < y ? -1 : x > y;
}

/* After a stop: every item not delivered yet gets its one result. */
static void
cancel_rest(mproc_pool_t *p)
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

/* ---- slow tasks (issue 19; the worker's side is in crash.c) ---- */

/*
 * Ask worker w where its task is, without stopping it (a signal its
 * backtrace handler answers in shared memory), once per item; hand the
 * answer to on_slow.  `why`: "slow" or "timeout".  True while an answer
 * is awaited (1 s at most: then it is given up).
 */
static bool
where_ask(mproc_pool_t *p, struct worker *w, const char *why)
{
    struct mproc__crash *c = crash_of(p, (unsigned)(w - p->w));
    char trace[MPROC__FAILMSG_MAX];
    unsigned char bit = why[0] == 's' ? 1 : 2;
    struct slot *s;

    if (p->o.on_slow == NULL || c == NULL || w->fifo_len == 0 ||
        (w->fifo[w->fifo_head] & STOLEN))
        return false;
    s = slot_of(p, w->fifo[w->fifo_head]);
    if (w->slow_ms > 0) {
        bool got = mproc__crash_answered(c, w->slow_seq);
        if (!got && p->now - w->slow_ms < 1000)
            return true;
        w->slow_ms = 0;
        trace[0] = '\0';
        if (c->slow.index != s->index + 1)
            return false; /* that task ended: no trace of it */
        s->where_done |= w->slow_why[0] == 's' ? 1 : 2;
        if (got && mproc__crash_format(c, &c->slow, trace, sizeof(trace)) > 0)
            p->o.on_slow(p->user, s->index, s->item, s->item_len,
                         (double)(p->now - w->head_ms) / 1000.0,
                         w->slow_why, trace);
        return false;
    }
    /* Only the task that runs: one whose result waits in the stage is
     * done. */
    if ((s->where_done & bit) || !mproc__crash_is_running(c, s->index))
        return false;
    w->slow_seq = mproc__crash_ask(c, w->pid);
    w->slow_why = why;
    w->slow_ms = p->now;
    return true;
}

/* The slow log: ask every task that has run slowlog_ms.  Returns the
 * milliseconds until the next look is due, or -1. */
static int
check_slow(mproc_pool_t *p)
{
    long long next = -1, due;
    unsigned i;

    if (p->o.slowlog_ms == 0 || p->o.on_slow == NULL)
        return -1;
    for (i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->w[i];

        if (w->pid == 0 || w->head_ms == 0 || w->limit != LIMIT_NONE)
            continue;
        due = w->slow_ms > 0 ? p->now : w->head_ms + p->o.slowlog_ms;
        if (p->now >= due && !where_ask(p, w, "slow"))
            continue;
        if (p->now >= due)
            due = p->now + 5; /* answered soon */
        if (next < 0 || due - p->now < next)
            next = due - p->now;
    }
    return next < 0 ? -1 : (int)(next < INT32_MAX ? next : INT32_MAX);
}

/* ---- time limits ---- */

/*
 * Time limits: SIGTERM to a worker whose task runs past timeout_ms, SIGKILL
 * timeout_grace_ms later.  Returns the milliseconds until the next limit
 * falls due, or -1 when none is pending.
 */
static int
check_limits(mproc_pool_t *p)
{
    long long now = p->now, next = -1, due;
    unsigned i;

    if (p->o.timeout_ms == 0)
        return -1;
    for (i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->w[i];

        if (w->pid == 0 || w->head_ms == 0 || w->limit == LIMIT_HARD)
            continue;
        if (w->limit == LIMIT_NONE) {
            due = w->head_ms + p->o.timeout_ms;
            if (now >= due) {
                /* The head may be done, its result held back in the
                 * stage: the limit is for the task that runs. */
                harvest(p, w);
                if (w->pid == 0 || w->head_ms == 0)
                    continue;
                due = w->head_ms + p->o.timeout_ms;
            }
            if (now >= due && p->o.timeout_grace_ms > 0 &&
                where_ask(p, w, "timeout")) {
                /* Where it was, asked first: SIGTERM would end it before
                 * the answer (issue 19, slow log). */
                due = now + 5;
            } else if (now >= due) {
                limit_signal(p, w);
                if (w->limit == LIMIT_HARD)
                    continue;
                due = now + p->o.timeout_grace_ms;
            }
        } else {
            due = w->limit_ms + p->o.timeout_grace_ms;
            if (now >= due) {
                w->limit = LIMIT_HARD;
                signal_worker(w, SIGKILL);
                continue;
            }
        }
        if (next < 0 || due - now < next)
            next = due - now;
    }
    return next < 0 ? -1 : (int)(next < INT32_MAX ? next : INT32_MAX);
}

/* ---- the run ---- */

/* Shorten *wait_ms to the next retry of a worker start, if sooner. */
static void
retry_wait(const mproc_pool_t *p, int *wait_ms)
{
    unsigned i;

    if (!has_work(p))
        return;
    for (i = 0; i < p->nworkers; i++) {
        const struct worker *w = &p->w[i];
        long long left;

        if (w->pid != 0 || w->retry_ms == 0)
            continue;
        left = w->retry_ms > p->now ? w->retry_ms - p->now : 0;
        if (*wait_ms < 0 || left < *wait_ms)
            *wait_ms = (int)left;
    }
}

/* ---- live status (status/status.c) ---- */

/* The socket lives while the run does.  Status is for watching: a run
 * goes on without it, with a warning. */
static void
status_open(mproc_pool_t *p)
{
    mproc_err_t se;

    if (p->status_label != NULL &&
        mproc__status_open(&p->status, p->status_label, p->nworkers,
                           &se) < 0 &&
        p->o.on_warning != NULL)
        p->o.on_warning(p->user, se.msg);
}

/* A `mproc status` client connected: what each worker does now. */
static void
status_reply(mproc_pool_t *p)
{
    struct mproc__status_snap *sn = mproc__status_snap(p->status);
    unsigned i;

    for (i = 0; i < p->nworkers; i++) {
        const struct worker *w = &p->w[i];
        struct mproc__status_worker *o = &sn->w[i];
        bool runs = w->pid != 0 && w->ready && w->fifo_len > 0 &&
                    !(w->fifo[w->fifo_head] & STOLEN) && w->head_ms != 0;

        o->pid = w->pid;
        o->state = w->pid == 0 ? "down" : !w->ready ? "starting"
                   : w->retiring ? "retiring" : runs ? "running" : "idle";
        o->index = -1;
        o->done = w->answered;
        if (runs) {
            const struct slot *s = slot_of(p, w->fifo[w->fifo_head]);
            o->index = (int64_t)s->index;
            o->item = s->item;
            o->item_len = s->item_len;
            o->since_ms = w->head_ms;
        }
    }
    sn->taken = p->next_index;
    sn->retried = p->retried;
    sn->total = p->total;
    sn->source_done = p->source_done;
    sn->now_ms = p->now;
    mproc__status_reply(p->status);
}

static int
run_loop(mproc_pool_t *p)
{
    unsigned nfds = 2 + 3 * p->nworkers + 1; /* + the status socket */
    struct pollfd *pfd = calloc(nfds, sizeof(*pfd));
    unsigned i, n;
    int wait_ms, r;
    bool now;

    if (pfd == NULL) {
        set_errmsg(p, "out of memory");
        return MPROC_ENOMEM;
    }
    for (;;) {
        adapt(p);
        dispatch(p);
        take_back(p);
        if (p->rq_len > 0)
            dispatch(p);
        if (p->stopping)
            break;
        if (p->source_done && p->rq_len == 0 && p->used == 0)
            break;

        n = 0;
        pfd[n].fd = p->o.cancel_fd;
        pfd[n++].events = POLLIN;
        pfd[n].fd = p->input_wait ? p->o.input_fd : -1;
        pfd[n++].events = POLLIN;
        now = false;
        for (i = 0; i < p->nworkers; i++) {
            struct worker *w = &p->w[i];
            bool alive = w->pid != 0;
            pfd[n].fd = alive ? w->pidfd : -1;
            pfd[n++].events = POLLIN;
            pfd[n].fd = pfd[n + 1].fd = -1;
            if (alive && result_wait(w, &pfd[n]))
                now = true;
            n++;
            if (alive && task_wait(w, &pfd[n]))
                now = true;
            n++;
        }
        if (p->o.on_idle != NULL)
            p->o.on_idle(p->user);
        /* Input that is not ready and has no descriptor to watch: ask
         * again soon. */
        wait_ms = check_limits(p);
        r = check_slow(p);
        if (r >= 0 && (wait_ms < 0 || r < wait_ms))
            wait_ms = r;
        retry_wait(p, &wait_ms);
        r = watch_stages(p);
        if (r >= 0 && (wait_ms < 0 || r < wait_ms))
            wait_ms = r;
        if (p->input_wait && p->o.input_fd < 0 && (wait_ms < 0 || wait_ms > 10))
            wait_ms = 10;
        if (now)
            wait_ms = 0;
        pfd[n].fd = mproc__status_fd(p->status);
        pfd[n].events = POLLIN;
        pfd[n].revents = 0;
        r = poll(pfd, n + 1, blind_wait(p, wait_ms));
        tick(p);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            set_errmsg(p, "poll: %s", strerror(errno));
            stop(p, -errno);
            break;
        }
        if (pfd[0].revents) {
            set_errmsg(p, "cancelled");
            stop(p, MPROC_ECANCELED);
        }
        if (pfd[1].revents || p->o.input_fd < 0)
            p->input_wait = false; /* more input, or its end */
        if (pfd[n].revents)
            status_reply(p);
        for (i = 0, n = 2; i < p->nworkers; i++, n += 3) {
            struct worker *w = &p->w[i];
            if (w->pid == 0)
                continue;
            if (pfd[n + 2].revents || pfd[n + 2].fd == -2)
                flush(w);
            if (pfd[n + 1].revents || pfd[n + 1].fd == -2)
                drain(p, w);
            if (pfd[n].revents || ended_unseen(w))
                reap(p, w);
        }
    }
    free(pfd);
    return p->stopping ? p->stop_code : 0;
}

/* The claim words of every worker slot, in a memfd that a new image can
 * map.  Without them (no memfd) nothing is taken back, which is only
 * slower. */
static void
claims_open(mproc_pool_t *p)
{
    size_t len = (size_t)p->nworkers * mproc__claims_slot_bytes(p->fifo_cap);
    void *m = MAP_FAILED;
    int fd = mproc__memfd("mproc-claims");

    if (fd < 0)
        return;
    if (ftruncate(fd, (off_t)len) == 0)
        m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        return;
    }
    p->claims = m;
    p->claims_fd = fd;
    p->claims_len = len;
}

int
mproc_pool_run(mproc_pool_t *p, mproc_next_fn next, mproc_result_fn on_result,
               void *user)
{
    sigset_t pipeset, oldset, pending;
    uint64_t want, w = 1024, i;
    bool had_sigpipe;
    int r;

    if (p->ran) {
        set_errmsg(p, "the pool has already run");
        return MPROC_EINVAL;
    }
    p->ran = true;
    tick(p);
    p->now0 = p->now;
    p->wall0 = mproc__wall_now();
    p->next = next;
    p->on_result = on_result;
    p->user = user;

    /* Enough slots to fill every worker's FIFO twice over, so that one
     * slow item does not stall the others at once. */
    want = 4ull * p->nworkers *
           (p->o.chunksize > TRANSPORT_DEPTH / 2 ? p->o.chunksize
                                                 : TRANSPORT_DEPTH / 2);
    chunk_init(p);
    while (w < want && w < (1u << 20))
        w <<= 1;
    p->mask = w - 1;
    p->slots = calloc(w, sizeof(*p->slots));
    p->requeue = calloc(w, sizeof(*p->requeue));
    p->free_refs = calloc(w, sizeof(*p->free_refs));
    p->w = calloc(p->nworkers, sizeof(*p->w));
    if (p->slots == NULL || p->requeue == NULL || p->free_refs == NULL ||
        p->w == NULL) {
        set_errmsg(p, "out of memory");
        return MPROC_ENOMEM;
    }
    p->fifo_cap = 2 * p->o.chunksize > TRANSPORT_DEPTH
                      ? 2 * p->o.chunksize
                      : TRANSPORT_DEPTH;
    claims_open(p);
    if (p->claims != NULL) {
        p->hbuf = malloc(MPROC__STAGE_BYTES);
        if (p->hbuf == NULL) {
            set_errmsg(p, "out of memory");
            return MPROC_ENOMEM;
        }
    }
    /* Taken from the top: slot 0 first. */
    for (i = 0; i < w; i++)
        p->free_refs[i] = (uint32_t)(w - 1 - i);
    p->nfree = w;
    hooks_init(p);
    for (i = 0; i < p->nworkers; i++)
        p->w[i].pidfd = -1;

    /* A write to a dead worker's pipe must give EPIPE, not kill the host.
     * Block SIGPIPE for the run and discard any we caused. */
    sigemptyset(&pipeset);
    sigaddset(&pipeset, SIGPIPE);
    sigpending(&pending);
    had_sigpipe = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipeset, &oldset);

    status_open(p);
    r = run_loop(p);
    stop_workers(p, p->stopping);
    mproc__status_close(p->status); /* gone with the run */
    p->status = NULL;
    cancel_rest(p);

    sigpending(&pending);
    if (!had_sigpipe && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipeset, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &oldset, NULL);
    if (r == 0 && p->stopping)
        r = p->stop_code;
    return r;
}

bool
mproc_pool_has_reduce(const mproc_pool_t *p)
{
    return p->has_reduce;
}

int
mproc_pool_reduce_output(mproc_pool_t *p, const void **data, size_t *len)
{
    if (!p->has_reduce)
        return MPROC_ENOTSUP;
    if (!p->reduce_ended) {
        p->reduce_ended = true;
        mproc__ctx_clear(&p->rctx);
        if (p->plugin->desc->reduce_end(&p->rctx, &p->rout) !=
            MPROC_TASK_OK) {
            set_errmsg(p, "plugin %s: reduce_end: %s", p->plugin->path,
                       mproc__ctx_msg(&p->rctx, "failed without a message"));
            p->rout.len = 0;
            return MPROC_ETASK;
        }
    }
    *data = p->rout.data;
    *len = p->rout.len;
    return 0;
}

void
mproc__pool_set_total(mproc_pool_t *p, long long total)
{
    p->total = total > 0 ? (uint64_t)total : 0;
}

unsigned
mproc__pool_chunksize(const mproc_pool_t *p)
{
    uint64_t c;

    if (!p->auto_chunk)
        return p->o.chunksize;
    if (p->total == 0)
        return 0;
    c = p->total / (4ull * p->nworkers);
    return c < 1 ? 1 : c > AUTO_CHUNK_MAX ? AUTO_CHUNK_MAX : (unsigned)c;
}

const struct mproc__plugin *
mproc__pool_plugin(const mproc_pool_t *p)
{
    return p->plugin;
}

size_t
mproc__pool_host_fds(const mproc_pool_t *p, int *fds, size_t max,
                     uint64_t *gen, pid_t *pids)
{
    unsigned char blob[MPROC__CHAN_BLOB_MAX];
    int f[MPROC__CHAN_MAX_FDS];
    size_t n = 0, k, len, j;
    unsigned i, s;

    *gen = 0;
    for (i = 0; i < p->nworkers; i++)
        pids[i] = 0;
    for (i = 0; p->w != NULL && i < p->nworkers; i++) {
        const struct worker *w = &p->w[i];
        pids[i] = w->pid;
        if (w->pid == 0)
            continue;
        *gen = *gen * 1000003u + (uint64_t)w->pid * 2 + (w->task != NULL);
        for (s = 0; s < 2; s++) {
            struct mproc_chan *ch = s == 0 ? w->task : w->result;
            unsigned side = s == 0 ? MPROC__CHAN_WR : MPROC__CHAN_RD;
            k = MPROC__CHAN_MAX_FDS;
            len = sizeof(blob);
            if (ch == NULL || !(ch->sides & side) ||
                ch->ops->export_side(ch, side, f, &k, blob, &len) < 0)
                continue;
            for (j = 0; j < k; j++, n++)
                if (n < max)
                    fds[n] = f[j];
        }
    }
    return n;
}

const char *
mproc_pool_task(const mproc_pool_t *p)
{
    return p->task->name;
}

unsigned
mproc_pool_workers(const mproc_pool_t *p)
{
    return p->nworkers;
}

const char *
mproc_pool_errmsg(const mproc_pool_t *p)
{
    return p->errmsg;
}

void
mproc_pool_free(mproc_pool_t *p)
{
    uint64_t i;

    if (p == NULL)
        return;
    if (p->w != NULL) {
        stop_workers(p, true);
        free(p->w);
    }
    if (p->has_reduce && !p->reduce_ended) {
        /* reduce_end is where the plugin frees its state. */
        struct mproc_buf scratch;
        mproc__buf_init(&scratch, p->o.message_max);
        mproc__ctx_clear(&p->rctx);
        p->plugin->desc->reduce_end(&p->rctx, &scratch);
        mproc__buf_free(&scratch);
    }
    if (p->slots != NULL)
        for (i = 0; i <= p->mask; i++)
            slot_clear(&p->slots[i]);
    free(p->slots);
    free(p->requeue);
    free(p->free_refs);
    free(p->hbuf);
    if (p->claims != NULL)
        munmap(p->claims, p->claims_len);
    if (p->claims_fd >= 0)
        close(p->claims_fd);
    mproc__status_close(p->status);
    free(p->status_label);
    mproc__buf_free(&p->rout);
    mproc__buf_free(&p->scratch);
    mproc__plugin_close(p->plugin);
    mproc__kv_free(p->args, p->nargs);
    free(p);
}

/* ---- the MPI launcher's host (framework/mpi/host.c) ---- */

int
mproc__pool_reduce_feed(mproc_pool_t *p, const void *data, size_t len,
                        uint64_t index, char *msg, size_t cap)
{
    if (!p->has_reduce)
        return 0;
    mproc__ctx_clear(&p->rctx);
    if (p->plugin->desc->reduce(&p->rctx, data, len, index) ==
        MPROC_TASK_OK)
        return 0;
    snprintf(msg, cap, "reduce: %s",
             mproc__ctx_msg(&p->rctx, "failed without a message"));
    return -1;
}

void
mproc__pool_set_errmsg(mproc_pool_t *p, const char *msg)
{
    set_errmsg(p, "%s", msg);
}

/* SPDX-License-Identifier: MIT */
/*
 * The pool engine's private parts: its tunables, the state of a run (the
 * slots of items, the workers) and the small helpers that every file of
 * the host side uses.  The engine is pool.c (options, the run, the MPI
 * host's hooks), items.c (the items taken from the caller, and their
 * results), dispatch.c (starting workers, sending them tasks) and
 * harvest.c (what workers send, how they end, time limits); pool.c's
 * opening comment says how it keeps account of every item.  What the
 * rest of the library uses of the pool is in pool_int.h, not here.
 */
#ifndef MPROC_POOL_ENGINE_INT_H
#define MPROC_POOL_ENGINE_INT_H

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "pool/pool_int.h"
#include "util/buf_int.h"

struct mproc__status;

#define DEFAULT_MESSAGE_MAX ((size_t)64 << 20)
/* What a channel message can carry, less a frame's overhead. */
#define MAX_MESSAGE_MAX (MPROC__CHAN_MESSAGE_MAX_LIMIT - 8192)
/* Workers that die before init completes, in a row, before giving up. */
#define MAX_START_DEATHS 3
/* How long workers get to finish fini() after a normal end, before
 * SIGKILL.  After a stop's SIGTERM they get timeout_grace_ms, as after a
 * time limit's: one grace, which the exec plugin also keeps for its
 * command (it kills it a little earlier, to report it). */
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
/* ... or sooner, once this many results came in a millisecond or more:
 * tiny tasks then leave the two-in-flight start (a wake-up per two items)
 * within a few milliseconds instead of a sample of ADAPT_MS each step. */
#define ADAPT_EARLY 64
/* How long results held back in a worker's stage wait before the host
 * takes them from there (see mproc__pool_watch_stages()). */
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
    bool reaping;       /* in mproc__pool_reap(): drain must not reap again */
    bool chan_killed;   /* SIGKILLed by the pool when `result` ended */
    bool stale_limit;   /* a limit signal was sent for an item that then
                           completed: a death by it is not the head's */
    unsigned sent;      /* tasks sent to this process */
    uint64_t answered;  /* its answers handled: the head's number */
    bool topping;       /* mproc__pool_dispatch() fills its FIFO */
    /* its stage, as mproc__pool_watch_stages() saw it last, and since when */
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
    long long spawn_ms; /* when it was started (its init's clock) */
    /* issue 19: asked where its task is (slow log), when; 0: not */
    long long slow_ms;
    uint32_t slow_seq;
    const char *slow_why;
    /* retiring, its last result in: since when it runs the plugin's fini
     * (0: not yet), and whether mproc__pool_check_fini() killed it */
    long long fini_ms;
    bool fini_killed;
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
    bool run_over;      /* mproc_pool_run() returned */
    pid_t owner; /* the process that made it (a forked child's copy
                    is not its own: see mproc_pool_free) */
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
    /* ordered: an item was delivered cancelled; every later one is too,
     * so that what was delivered stays a prefix in input order */
    bool gap;
    /* stop_on_error: a task failed for good (its result may wait for its
     * turn): no new item is taken; once it is delivered, nothing after
     * it is (gap, with gap_failed's words). */
    bool failed_stop, gap_failed;
    bool stop_sent;     /* the stop signalled the workers (stop_workers) */
    unsigned fini_deaths; /* workers that died after their last task */
    int stop_code;
    unsigned start_deaths;
    bool started_one;   /* some worker started in this run */
    bool init_warned;   /* mproc__pool_check_inits() said a slow init */
    bool fini_warned;   /* mproc__pool_check_fini() said a hung fini */
    long long init_warn_ms; /* after how long (10 s; a test hook) */
    bool warned_short;  /* said once that a worker could not be started */
    /* test hooks, see mproc__pool_hooks_init(); -1: off */
    long long hook_limit_at;
    unsigned long hook_starts;
    unsigned long long retried;
    size_t chan_max;         /* message_max of the channels */
    /* claim words: fifo_cap per worker slot, shared; NULL: none */
    _Atomic uint64_t *claims;
    int claims_fd;
    /* shmring: one segment for the workers' rings (started once each) */
    struct mproc__ring_arena *arena;
    bool arena_tried;
    size_t claims_len;
    unsigned fifo_cap;
    /* The clock, read once per turn of the loop rather than per item:
     * reading it costs more than handling an item on some machines. */
    long long now;           /* monotonic ms */
    long long now0;          /* at the start of the run, and then */
    double wall0;            /* the wall clock */
    struct mproc_buf scratch; /* frames are built here */
    char *hbuf;              /* a copy of a stage (MPROC__STAGE_BYTES) */
    /* Chunks and depth (see mproc__pool_adapt()): the chunk sent at a
     * time, and how many items a worker is sent ahead, at most, within
     * fifo_cap. */
    bool auto_chunk;
    uint64_t total;          /* items in the input; 0: unknown */
    unsigned chunk, depth;
    long long adapt_ms;      /* when the last sample began */
    uint64_t adapt_done;     /* results since then */
    struct mproc__status *status; /* live status (status/); NULL: off */
    char *status_label;      /* opts.status, copied; NULL: no status */
    /* The caller's turn (mproc__pool_drive()): the loop holds `baton`
     * but while it sleeps in poll(), which also watches wake_fd; live
     * while the loop runs.  NULL: no other thread ever drives. */
    pthread_mutex_t *baton;
    int wake_fd;
    bool baton_live;
};

/* ---- helpers of every part ---- */

static inline void
set_errmsg(mproc_pool_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void
set_errmsg(mproc_pool_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
    va_end(ap);
}

static inline struct slot *
slot_of(mproc_pool_t *p, uint64_t ref)
{
    return &p->slots[ref & p->mask];
}

static inline void
tick(mproc_pool_t *p)
{
    p->now = mproc__now_ms();
}

/* The wall clock at p->now. */
static inline double
wall(const mproc_pool_t *p)
{
    return p->wall0 + (double)(p->now - p->now0) / 1000.0;
}

static inline void
stop(mproc_pool_t *p, int code)
{
    if (!p->stopping) {
        p->stopping = true;
        p->stop_code = code;
    }
}

/* Worker slot i's claim words and result stage (NULL: none). */
static inline _Atomic uint64_t *
claims_of(const mproc_pool_t *p, unsigned i)
{
    if (p->claims == NULL)
        return NULL;
    return (_Atomic uint64_t *)(void *)((char *)p->claims +
                                        (size_t)i * mproc__claims_slot_bytes(
                                                        p->fifo_cap));
}

static inline struct mproc__stage *
stage_of(const mproc_pool_t *p, unsigned i)
{
    return (struct mproc__stage *)(void *)((char *)claims_of(p, i) +
                                           mproc__stage_offset(p->fifo_cap));
}

/* Worker slot i's backtrace record (pool/crash.c), or NULL. */
static inline struct mproc__crash *
crash_of(const mproc_pool_t *p, unsigned i)
{
    if (p->claims == NULL)
        return NULL;
    return (struct mproc__crash *)(void *)((char *)claims_of(p, i) +
                                           mproc__crash_offset(p->fifo_cap));
}

/* ---- items.c: the slot ring, results and retries, taking items ---- */

void mproc__pool_slot_clear(struct slot *s);
void mproc__pool_requeue_push(mproc_pool_t *p, uint64_t ref);
void mproc__pool_unsent(mproc_pool_t *p, uint64_t ref);
void mproc__pool_finish_stopped(mproc_pool_t *p, uint64_t ref, const char *msg,
                                size_t len, int exitcode);
void mproc__pool_finish(mproc_pool_t *p, uint64_t ref, int status,
                        const char *data, size_t len, int exitcode);
int mproc__pool_take(mproc_pool_t *p, uint64_t *ref);
bool mproc__pool_has_work(const mproc_pool_t *p);
void mproc__pool_cancel_rest(mproc_pool_t *p);

/* ---- dispatch.c: starting workers, sending them tasks ---- */

void mproc__pool_hooks_init(mproc_pool_t *p);
void mproc__pool_signal_worker(const struct worker *w, int sig);
void mproc__pool_worker_release(struct worker *w);
void mproc__pool_take_back(mproc_pool_t *p);
void mproc__pool_take_back_all(mproc_pool_t *p, struct worker *w);
void mproc__pool_flush(struct worker *w);
void mproc__pool_head_started(mproc_pool_t *p, struct worker *w);
void mproc__pool_chunk_init(mproc_pool_t *p);
void mproc__pool_adapt(mproc_pool_t *p);
void mproc__pool_dispatch(mproc_pool_t *p);

/* ---- harvest.c: what workers send, how they end, time limits ---- */

void mproc__pool_drain(mproc_pool_t *p, struct worker *w);
void mproc__pool_reap(mproc_pool_t *p, struct worker *w);
unsigned mproc__pool_live_workers(const mproc_pool_t *p);
int mproc__pool_watch_stages(mproc_pool_t *p);
int mproc__pool_check_slow(mproc_pool_t *p);
int mproc__pool_check_limits(mproc_pool_t *p);
/* Kill a retiring worker still in the plugin's fini FINI_GRACE_MS after
 * its last result (said once a run); ms until the next such is due, or
 * -1. */
int mproc__pool_check_fini(mproc_pool_t *p);
/* Workers still in the plugin's init after init_warn_ms: said once
 * (on_warning).  The ms until the next look, or -1. */
int mproc__pool_check_inits(mproc_pool_t *p);

#endif

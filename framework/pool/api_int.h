/* SPDX-License-Identifier: MIT */
/*
 * Pool API internals, shared by api.c (the calls: the pool, async results,
 * imap iterators), api_engine.c (the result thread, the worker side,
 * the jobs and their queue, batching) and api_fork.c (what forked
 * children close, worker names and handles).
 *
 * The Python-style Pool API (mproc_apool_*), on top of the run-once engine
 * in pool.c, which it does not change.
 *
 * One pool = one engine (mproc_pool_t) + one result thread that runs
 * mproc_pool_run() for the pool's whole life.  The engine pulls work with
 * eng_next(), which takes it from a queue of submitted calls ("jobs")
 * under the pool's mutex and answers MPROC_EAGAIN when the queue is empty;
 * the engine then polls an eventfd (opts.input_fd) that submitters write
 * when, and only when, the thread said it was about to sleep (`waiting`),
 * so a burst of submissions costs one write, not one per task.  Results
 * come back through eng_result(), which stores them in the jobs (async
 * results, imap rings) and wakes waiters.  close() makes eng_next() answer
 * 0 once the queue is drained; terminate() writes the engine's cancel_fd.
 *
 * Function targets run in an in-process descriptor (call_desc) whose one
 * task decodes a batch of records {function, index, kind, item} and runs
 * each.  The engine is created with chunksize 1, and eng_next() keeps at
 * most one message per worker in flight, so nothing waits queued behind a
 * slow task; throughput comes from putting several tasks in one message
 * instead, sized from measured durations (a few ms of work per message),
 * capped by a fair share of what is queued and by message_max.  Each task
 * in a batch gets its own result record, and runs once: a worker starts
 * a task only while the message has room for its largest result.  A worker that dies in a batch leaves its progress in a
 * small shared page (which task it was on) and a copy of the result
 * records it finished (the "stage", 256 KiB per worker), so exactly that
 * task fails with the cause, the finished ones keep their results and
 * the rest are queued again: batching never changes what a task's result
 * is, only how it travels.
 *
 * Ordering: the engine runs unordered (a slow task must not hold back the
 * results of other calls); map keeps results by position and ordered imap
 * reorders in a ring of `buffer` entries.  Backpressure: an imap job is
 * not pulled from while `buffer` of its results wait for the consumer,
 * which bounds both the ring and the input read ahead.
 *
 * Locking: one mutex per pool guards everything shared with the
 * application's threads; waiters sleep on a futex word that is bumped
 * (and woken, only when someone waits) whenever a result arrives, a job
 * becomes complete or ready, or the pool ends.  Callbacks run in the
 * result thread without the lock, and a job is ready only after its
 * callback returned.
 *
 * Forks: a pthread_atfork handler has every child forked in the process
 * close the other pools' worker channels (which it would otherwise keep
 * open) and names a worker the engine forks (ForkPoolWorker-N).
 */
#ifndef MPROC_API_INT_H
#define MPROC_API_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <mproc/pool.h>

#include "ipc/chan_int.h"
#include "sync/sync_int.h"
#include "util/buf_int.h"

/* Most tasks, and input bytes, per message. */
#define MAX_BATCH 4096
#define BATCH_BYTES ((size_t)256 << 10)
/* Work per message the batch size aims at, in seconds. */
#define BATCH_SECONDS 0.002
/* Function pools run their engine with a message_max of twice the
 * pool's plus this: a worker starts another task of a message only while
 * the room left holds a result of the largest size (message_max), so a
 * task that ran always has its result sent (see call_task()). */
#define ENG_SLACK ((size_t)4096)
/* The engine's largest message_max (engine_int.h's MAX_MESSAGE_MAX). */
#define ENG_MAX_LIMIT (MPROC__CHAN_MESSAGE_MAX_LIMIT - 8192)
/* Default imap buffer (results pulled but not consumed). */
#define IMAP_BUFFER 8192

enum job_kind { K_APPLY, K_MAP, K_IMAP, K_IMAP_UNORDERED };
enum fn_kind { F_PLAIN = 1, F_STAR = 2 };

/* The bytes of map and apply results (data and messages) are carved
 * from chunks the job owns and frees with it: one malloc per result cost
 * more than the task itself for small results.  A small first result
 * (apply's) fits in the job itself.  Chunks double up to ARENA_MAX; a
 * result of more than a quarter of a chunk gets a chunk of its own. */
#define ARENA_FIRST ((size_t)4096 - 64)
#define ARENA_MAX ((size_t)4 << 20)
#define ARENA_INLINE 32
/* A freed job's result array (up to SPARE_RR_BYTES) and full-size
 * chunks (up to SPARE_CHUNKS) wait in the pool for the next job: fresh
 * memory costs a page fault and the kernel's zeroing of every page,
 * which took more of a million-item map's time than everything else the
 * result thread does. */
#define SPARE_RR_MIN ((size_t)64 << 10)
#define SPARE_RR_BYTES ((size_t)128 << 20)
#define SPARE_CHUNKS 8
/* Apply jobs whose item fits in APPLY_INLINE bytes are all one size and
 * live in the pool's slabs (jobslab.c), which stay mapped for the next
 * burst of apply_async: from the heap, every burst faulted in and zeroed
 * new pages and gave them back when freed. */
#define APPLY_INLINE 64
struct mproc__jobslab;
struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    char data[];
};

/* A stored result; `mem` owns r.data and r.message. */
struct res {
    struct mproc_result r;
    char *mem;
    bool done;
};

struct mproc_async {
    struct mproc_apool *pool;
    int kind;
    unsigned refs;      /* the application's + the result thread's */
    bool freed;         /* the application let go */
    bool fire_forget;   /* apply_async with out == NULL */
    bool recycle;       /* of the pool's apply size (APPLY_INLINE) */
    struct mproc__jobslab *slab; /* its slab (jobslab.c) */
    /* what to run */
    int fkind;
    mproc_task_fn fn;
    mproc_star_fn sfn;
    unsigned chunksize;
    mproc_async_fn cb, ecb;
    void *cb_user;
    /* input */
    const struct mproc_item *items;
    const struct mproc_args *targs;
    size_t n_in;
    mproc_next_fn next;
    void *next_user;
    const char *own;     /* apply: the copy of the item (after the struct) */
    size_t own_len;
    size_t pos;          /* next input position */
    bool in_done;        /* no more input will be pulled */
    int in_error;        /* the input (or the pool) ended with an error */
    bool in_error_told;
    struct mproc_async *qnext, *qprev; /* the queue of jobs with input */
    bool queued;
    struct mproc_async *nnext; /* a list of jobs to notify */
    int call;            /* which callback notify() runs: 0, 1 ok, 2 error */
    uint64_t pulled, completed, consumed;
    bool complete;       /* every task has its result (under mu) */
    bool ready;          /* complete and its callback returned */
    /* the first failure, by input position */
    bool failed;
    uint64_t fail_idx;
    int status;
    char *msg;           /* its message, or a misuse message; malloc'd */
    /* results: apply and map, by position (res_cap of them), their
     * bytes in the arena */
    struct mproc_result *rr;
    struct mproc_result one_r;
    size_t res_cap;
    struct arena_chunk *arena;
    size_t inl_used;
    union {
        char b[ARENA_INLINE];
        uint64_t align;
    } inl;
    /* imap: ring of res_cap entries, ordered by index or FIFO */
    struct res *res;
    uint64_t uhead, ucount;
    struct res cur;
};

struct mproc_imap {
    struct mproc_async a;
};

/* One task of a message in flight. */
struct taskref {
    struct mproc_async *job;
    uint64_t idx;
    uint32_t off, len; /* its record in the message */
    uint32_t tries;    /* attempts made before this message (retries) */
};

/* The tasks of a message in flight, found by its engine index in a hash
 * table: results come back in any order, so memory follows what is in
 * flight, never the distance to the oldest message still running. */
struct batch {
    struct batch *hnext;
    uint64_t index;
    uint32_t n;
    struct taskref t[];
};

/* A task to send again: its record (function pools) or item. */
struct rtask {
    struct rtask *next;
    struct mproc_async *job;
    uint64_t idx;
    uint32_t tries; /* as struct taskref's */
    size_t len;
    char rec[];
};

/* Where a worker is in its message: written by the worker, read by the
 * host after the worker died (so no ordering is needed beyond the kernel
 * having seen the writes, which a process's death guarantees). */
struct progress {
    uint64_t index;  /* the engine index of the message it runs */
    uint32_t done;   /* tasks of it finished */
    uint32_t staged; /* of which this many have their result staged */
    int32_t pid;
    char pad[44];
};

/* Per worker: a copy of the result records of the message it runs, so
 * that the results it finished survive its death. */
#define STAGE_BYTES ((size_t)256 << 10)

/* A descriptor and the file it was, so that a child closes it only if it
 * is still that file (the number may have been reused meanwhile). */
struct regfd {
    int fd;
    dev_t dev;
    ino_t ino;
};

/* A task record, host to worker, and a result record, worker to host.
 * A task record's item (each argument, for starmap) is followed by a NUL
 * byte that its length does not count, so a task may read its input as a
 * string. */
struct rec_hdr {
    uint64_t fn;
    uint64_t idx;
    uint32_t kind;
    uint32_t len;
};
struct out_hdr {
    int32_t status;
    uint32_t len;
};

struct mproc_apool {
    pthread_mutex_t mu;
    /* Waiters sleep on this word (a futex), not on a condition variable:
     * a futex wait ends with EINTR when a signal handler runs, so a wait
     * can return MPROC_EINTR (pthread_cond_wait never does). */
    uint32_t seq;
    unsigned nwait;       /* threads waiting on seq */
    unsigned refs;        /* the application's + one per job */
    mproc_pool_t *eng;
    bool func;            /* function targets */
    bool can_batch;
    /* A function task that fails (MPROC_ETASK) runs again up to this many
     * times (opts.retries; the engine retries the other failures). */
    unsigned retries;
    unsigned nworkers;
    /* Most messages in flight: one chunk per worker.  The engine would
     * queue a second behind each running one, and a message queued behind
     * a slow task waits for it (Python's workers take a task only when
     * idle).  Reached (`capped`), eng_next answers MPROC_EAGAIN until a
     * result frees a place. */
    uint64_t max_inflight;
    bool capped;
    size_t message_max;   /* the pool's: largest item or output */
    size_t eng_max;       /* the engine's (see ENG_SLACK) */
    int efd, cfd;         /* input eventfd, cancel eventfd */
    pthread_t thr;
    bool thr_started, thr_done, joined;
    bool began;           /* the engine called eng_next once */
    bool closed, terminated, waiting;
    int broken;           /* the engine ended with this error, or 0 */
    char broken_msg[MPROC_ERRMSG_MAX];
    int (*initializer)(struct mproc_ctx *, void *);
    void *initarg;
    struct progress *prog;
    size_t prog_len;
    char *stage;
    /* queue */
    struct mproc_async *jhead, *jtail;
    struct rtask *rqhead, *rqtail;
    uint64_t known_left;  /* tasks queued, when countable */
    unsigned iter_jobs;   /* queued jobs with a callback input */
    unsigned inflight_multi;
    uint64_t inflight_tasks; /* tasks in messages the engine holds */
    /* The result thread's, or an apply's in its turn of the engine
     * (api.c, drive_apply: under the engine's baton) */
    struct batch **bhash; /* messages in flight, by engine index */
    uint64_t eng_next, bmask, bcount;
    struct mproc_buf scratch;
    struct taskref *refs_tmp;
    double target;
    struct mproc_async *notify;
    bool bcast;
    /* The host's sides of this pool's worker channels, as last seen by
     * the result thread: a child that another thread forks closes them
     * (else it would keep a worker from seeing the end of its tasks).
     * Guarded by the registry's lock (api_engine.c). */
    struct mproc_apool *reg_next;
    struct regfd *reg;
    size_t reg_n, reg_cap;
    uint64_t reg_gen;
    int *reg_tmp;
    /* The next worker's name and its parent's, set just before the
     * engine forks it (api_engine.c, reg_prepare) and read in the child:
     * Python's ForkPoolWorker-N. */
    char wname[48];
    char hostname[MPROC_ERRMSG_MAX];
    pid_t hostpid;
    bool naming;
    /* Worker handles for mproc_active_children() (under the registry's
     * lock): one per live worker slot, the names given at fork waiting
     * for their process to show, and handles of ended workers, freed at
     * the next mproc_active_children() (their handles were borrowed). */
    pid_t reg_owner;      /* the process the pool belongs to */
    pid_t *wpid, *wpid_tmp;
    struct mproc_process **whandle;
    char (*wnames)[48];
    unsigned wn_head, wn_len, wn_cap;
    struct mproc_process **wdead;
    size_t wdead_n, wdead_cap;
    /* Result memory kept from freed jobs (under mu; see SPARE_RR_BYTES) */
    struct mproc_result *spare_rr;
    size_t spare_n;
    struct arena_chunk *spare_chunks;
    unsigned spare_nchunks;
    /* The caller's spin before it sleeps for a result (api.c,
     * spin_ready): its budget in ns and the waits since the last try. */
    long long spin_ns;
    unsigned spin_probe;
    /* apply's own turn of the engine (api.c, drive_apply): the baton the
     * engine holds but while it sleeps (mproc__pool_drive()); the job of
     * the turn under way, the only one eng_next hands out then (under
     * mu); the turn's budget in ns and the applies since the last try,
     * as for the spin. */
    pthread_mutex_t baton;
    bool can_drive;
    struct mproc_async *drive_job;
    long long drive_ns;
    unsigned drive_probe;
    /* The slabs of apply jobs (jobslab.c; under mu) */
    struct mproc__jobslab *slab_part, *slab_empty;
    size_t slab_nempty;
    char errmsg[MPROC_ERRMSG_MAX];
};

/* Wake every waiter (wait_until in api.c).  Under mu. */
void mproc__apool_wake(struct mproc_apool *p);

/* An apply job's memory, zeroed, with its slab set (NULL without
 * memory); back to its slab; every slab unmapped (at the pool's end).
 * Under mu (jobslab.c). */
struct mproc_async *mproc__jobslab_get(struct mproc_apool *p);
void mproc__jobslab_put(struct mproc_apool *p, struct mproc_async *j);
void mproc__jobslab_free_all(struct mproc_apool *p);

/* The in-process descriptor of function targets (api_engine.c). */
extern const struct mproc_plugin mproc__apool_call_desc;

/* The result thread: runs the engine for the pool's life. */
void *mproc__apool_engine_main(void *arg);

/* A forked child's copy of a pool of its parent's (api.c: refuse_foreign):
 * reg_owner is set when the pool is made. */
static inline bool
mproc__apool_foreign(const struct mproc_apool *p)
{
    return p->reg_owner != mproc__self();
}

void mproc__apool_set_err(struct mproc_apool *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool mproc__apool_in_result_thread(const struct mproc_apool *p);
/* Wake the result thread if it sleeps waiting for input.  Under mu. */
void mproc__apool_kick(struct mproc_apool *p);

/* Ask for transparent huge pages for the 2 MiB-aligned part of a large
 * allocation that is about to be filled: a million results would
 * otherwise cost tens of thousands of page faults. */
void mproc__apool_hint_huge(void *mem, size_t len);

/* A map's result array of n entries, the pool's spare if it is large
 * enough (its entries are stale: each is written when its task
 * completes, before anyone may read it), or NULL.  Takes mu.  _spare_free:
 * free what the pool keeps (at its end). */
struct mproc_result *mproc__apool_rr_alloc(struct mproc_apool *p, size_t n);
void mproc__apool_spare_free(struct mproc_apool *p);

/* Jobs (under mu).  job_unref returns true when the pool lost its last
 * reference: the caller destroys it (pool_destroy) after unlocking. */
void mproc__apool_res_clear(struct res *s);
bool mproc__apool_job_unref(struct mproc_async *j);
void mproc__apool_job_set_msg(struct mproc_async *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mproc__apool_job_enqueue(struct mproc_apool *p, struct mproc_async *j);
void mproc__apool_job_input_done(struct mproc_apool *p,
                                 struct mproc_async *j);
void mproc__apool_job_unlink(struct mproc_apool *p, struct mproc_async *j);

/* The pool whose result thread runs in this thread, or NULL; in a
 * worker forked from it, that pool (api_fork.c). */
extern __thread struct mproc_apool *mproc__apool_tl;

/* Enter the pool in the registry of pools whose channels forked
 * children close, and take it out (api_fork.c).  _add: 0 or
 * MPROC_ENOMEM.  _refresh: in the result thread, after each engine
 * call, bring its entry up to date with the engine's workers. */
int mproc__apool_reg_add(struct mproc_apool *p);
void mproc__apool_reg_del(struct mproc_apool *p);
void mproc__apool_reg_refresh(struct mproc_apool *p);

/* Free a pool whose last reference is gone (api.c). */
void mproc__apool_pool_destroy(struct mproc_apool *p);

#endif

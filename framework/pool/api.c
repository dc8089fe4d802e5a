/*
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
 * each.  The engine is created with chunksize 1 so that it never queues
 * more than two messages per worker (slow tasks spread over every worker);
 * throughput comes from putting several tasks in one message instead,
 * sized from measured durations (a few ms of work per message) and capped
 * by a fair share of what is queued.  Each task in a batch gets its own
 * result record.  A worker that dies in a batch leaves its progress in a
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
 * application's threads; one condition variable is broadcast (only when
 * someone waits) when a result arrives or a job becomes ready.  Callbacks
 * run in the result thread without the lock.
 */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <mproc/pool.h>

#include "plugin/plugin_int.h"
#include "util/buf_int.h"

/* Most tasks, and input bytes, per message. */
#define MAX_BATCH 1024
#define BATCH_BYTES ((size_t)256 << 10)
/* Work per message the batch size aims at, in seconds. */
#define BATCH_SECONDS 0.002
/* Default imap buffer (results pulled but not consumed). */
#define IMAP_BUFFER 8192

enum job_kind { K_APPLY, K_MAP, K_IMAP, K_IMAP_UNORDERED };
enum fn_kind { F_PLAIN = 1, F_STAR = 2 };

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
    bool ready;
    /* the first failure, by input position */
    bool failed;
    uint64_t fail_idx;
    int status;
    char *msg;           /* its message, or a misuse message; malloc'd */
    /* results: apply and map, by position (res_cap of them) */
    struct mproc_result *rr;
    char **mm;           /* what each owns (data and message) */
    struct mproc_result one_r;
    char *one_m;
    size_t res_cap;
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
};

struct batch {
    uint32_t n;
    struct taskref t[];
};

/* A task to send again: its record (function pools) or item. */
struct rtask {
    struct rtask *next;
    struct mproc_async *job;
    uint64_t idx;
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

/* A task record, host to worker, and a result record, worker to host. */
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
    pthread_cond_t cv;
    unsigned nwait;       /* threads in cv waits */
    unsigned refs;        /* the application's + one per job */
    mproc_pool_t *eng;
    bool func;            /* function targets */
    bool can_batch;
    unsigned nworkers;
    size_t message_max;
    int efd, cfd;         /* input eventfd, cancel eventfd */
    pthread_t thr;
    bool thr_started, thr_done, joined;
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
    /* result thread only */
    struct batch **bring;
    uint64_t bbase, eng_next, bmask;
    struct mproc_buf scratch;
    struct taskref *refs_tmp;
    double target;
    struct mproc_async *notify;
    bool bcast;
    char errmsg[MPROC_ERRMSG_MAX];
};

/* The pool whose result thread forked this worker: the child is a copy of
 * that thread, so a thread-local set there is what the worker sees. */
static __thread struct mproc_apool *tl_pool;

static void
set_err(struct mproc_apool *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_err(struct mproc_apool *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
    va_end(ap);
}

static bool
in_result_thread(const struct mproc_apool *p)
{
    return p->thr_started && pthread_equal(pthread_self(), p->thr);
}

/* Wake the result thread if it sleeps waiting for input.  Under mu. */
static void
kick(struct mproc_apool *p)
{
    uint64_t one = 1;
    if (p->waiting) {
        p->waiting = false;
        if (write(p->efd, &one, sizeof(one)) < 0) {
            /* An eventfd write fails only on counter overflow, when it is
             * readable anyway. */
        }
    }
}

/* ---- the worker side: run a message of function tasks ---- */

static struct mproc_buf child_tmp;

static int
call_init(struct mproc_ctx *ctx)
{
    struct mproc_apool *p = tl_pool;

    mproc__buf_init(&child_tmp, p->message_max - sizeof(struct out_hdr));
    if (p->prog != NULL && ctx->worker < p->nworkers)
        p->prog[ctx->worker].pid = (int32_t)getpid();
    ctx->state = p->initarg;
    if (p->initializer != NULL)
        return p->initializer(ctx, p->initarg);
    return MPROC_TASK_OK;
}

static void
call_fini(struct mproc_ctx *ctx)
{
    mproc__buf_free(&child_tmp);
}

static int
run_star(struct mproc_ctx *ctx, mproc_star_fn fn, const char *in, size_t len,
         uint64_t idx, struct mproc_buf *out)
{
    struct mproc_item args[MPROC_STAR_MAX];
    uint32_t n, l, i;
    size_t off;

    if (len < 4)
        return mproc_fail(ctx, "malformed starmap arguments");
    memcpy(&n, in, 4);
    off = 4 + (size_t)n * 4;
    if (n > MPROC_STAR_MAX || off > len)
        return mproc_fail(ctx, "malformed starmap arguments");
    for (i = 0; i < n; i++) {
        memcpy(&l, in + 4 + 4 * i, 4);
        if (l > len - off)
            return mproc_fail(ctx, "malformed starmap arguments");
        args[i].data = in + off;
        args[i].len = l;
        off += l;
    }
    return fn(ctx, args, n, idx, out);
}

/*
 * The one task of function pools.  Runs each record in turn and appends
 * one result record per task; stops early (the host sends the rest again)
 * when the next output would not fit in the message.
 */
static int
call_task(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
          struct mproc_buf *out)
{
    struct mproc_apool *p = tl_pool;
    struct progress *pr = p->prog != NULL && ctx->worker < p->nworkers
                              ? &p->prog[ctx->worker]
                              : NULL;
    char *stage = pr != NULL ? p->stage + ctx->worker * STAGE_BYTES : NULL;
    const char *s = in;
    size_t off = 0, st = 0;
    uint32_t done = 0;

    if (pr != NULL) {
        __atomic_store_n(&pr->done, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&pr->staged, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&pr->index, index, __ATOMIC_RELEASE);
    }
    while (off + sizeof(struct rec_hdr) <= len) {
        struct rec_hdr h;
        struct out_hdr oh;
        const char *payload;
        size_t over;
        int r;

        memcpy(&h, s + off, sizeof(h));
        if (h.len > len - off - sizeof(h))
            return mproc_fail(ctx, "malformed task message");
        payload = s + off + sizeof(h);
        mproc__buf_reset(&child_tmp);
        mproc__ctx_clear(ctx);
        mproc__buf_overflow(true);
        if (h.kind == F_STAR) {
            mproc_star_fn fn;
            memcpy(&fn, &h.fn, sizeof(fn));
            r = run_star(ctx, fn, payload, h.len, h.idx, &child_tmp);
        } else {
            mproc_task_fn fn;
            memcpy(&fn, &h.fn, sizeof(fn));
            r = fn(ctx, payload, h.len, h.idx, &child_tmp);
        }
        over = mproc__buf_overflow(true);
        if (over > 0) {
            char m[160];
            mproc__buf_reset(&child_tmp);
            snprintf(m, sizeof(m),
                     "output of at least %zu bytes exceeds message_max "
                     "(%zu)", over, p->message_max);
            mproc_buf_append(&child_tmp, m, strlen(m));
            oh.status = MPROC_EMSGSIZE;
        } else if (r != MPROC_TASK_OK) {
            const char *m = mproc__ctx_msg(ctx, "task failed without a "
                                                "message");
            mproc__buf_reset(&child_tmp);
            mproc_buf_append(&child_tmp, m, strlen(m));
            oh.status = MPROC_ETASK;
        } else {
            oh.status = 0;
        }
        oh.len = (uint32_t)child_tmp.len;
        /* Not the first and no room left: stop here; the host sends this
         * task and the rest again (this one runs twice: only when one
         * output is over half of message_max). */
        if (done > 0 &&
            out->limit - out->len < sizeof(oh) + child_tmp.len)
            break;
        if (mproc_buf_append(out, &oh, sizeof(oh)) != MPROC_TASK_OK ||
            mproc_buf_append(out, child_tmp.data, child_tmp.len) !=
                MPROC_TASK_OK)
            return mproc_fail(ctx, "out of memory for results");
        done++;
        off += sizeof(h) + h.len;
        if (stage != NULL && st + sizeof(oh) + child_tmp.len <= STAGE_BYTES) {
            memcpy(stage + st, &oh, sizeof(oh));
            memcpy(stage + st + sizeof(oh), child_tmp.data, child_tmp.len);
            st += sizeof(oh) + child_tmp.len;
            /* Release: the host reads the records after the count (after
             * this process died). */
            __atomic_store_n(&pr->staged, done, __ATOMIC_RELEASE);
            __atomic_store_n(&pr->done, done, __ATOMIC_RELEASE);
        } else {
            if (pr != NULL)
                __atomic_store_n(&pr->done, done, __ATOMIC_RELEASE);
            break; /* an unstaged result ends the message */
        }
        if (out->len >= p->message_max / 2)
            break;
    }
    mproc__ctx_clear(ctx);
    return MPROC_TASK_OK;
}

static const struct mproc_task_def call_tasks[] = {
    {"call", call_task, "run the C functions submitted to the pool"},
    {NULL, NULL, NULL},
};

static const struct mproc_plugin call_desc = {
    .abi_major = MPROC_PLUGIN_ABI_MAJOR,
    .abi_minor = MPROC_PLUGIN_ABI_MINOR,
    .size = sizeof(struct mproc_plugin),
    .name = "function",
    .version = "1",
    .description = "function targets of the Pool API",
    .init = call_init,
    .fini = call_fini,
    .tasks = call_tasks,
};

/* ---- jobs and their results ---- */

static void
res_clear(struct res *s)
{
    free(s->mem);
    memset(s, 0, sizeof(*s));
}

static void pool_destroy(struct mproc_apool *p);

/* Drop one reference; under mu.  Returns true when the pool itself lost
 * its last reference (the caller destroys it after unlocking). */
static bool
job_unref(struct mproc_async *j)
{
    struct mproc_apool *p = j->pool;
    size_t i;

    if (--j->refs > 0)
        return false;
    if (j->res != NULL)
        for (i = 0; i < j->res_cap; i++)
            res_clear(&j->res[i]);
    free(j->res);
    if (j->mm != NULL)
        for (i = 0; i < j->res_cap; i++)
            free(j->mm[i]);
    if (j->mm != &j->one_m) {
        free(j->mm);
        free(j->rr);
    }
    res_clear(&j->cur);
    free(j->msg);
    free(j);
    return --p->refs == 0;
}

static void
job_set_msg(struct mproc_async *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
job_set_msg(struct mproc_async *j, const char *fmt, ...)
{
    va_list ap;
    char *m = NULL;
    va_start(ap, fmt);
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    va_end(ap);
    free(j->msg);
    j->msg = m;
}

static void
check_ready(struct mproc_apool *p, struct mproc_async *j)
{
    if (j->ready || !j->in_done || j->completed != j->pulled)
        return;
    /* Release: pairs with the acquire load of a spinning waiter. */
    __atomic_store_n(&j->ready, true, __ATOMIC_RELEASE);
    p->bcast = true;
    /* The result thread's reference goes with the notification. */
    j->nnext = p->notify;
    p->notify = j;
}

/* Copy a result into *dst, its bytes into a new *mem. */
static void
store(struct mproc_result *dst, char **mem, const struct mproc_result *src,
      uint64_t idx, int status, const void *data, size_t len,
      const char *message)
{
    size_t mlen = message != NULL ? strlen(message) : 0;
    char *m;

    free(*mem);
    if (src != NULL)
        *dst = *src;
    else
        memset(dst, 0, sizeof(*dst));
    dst->index = idx;
    dst->status = status;
    dst->item = NULL;
    dst->item_len = 0;
    dst->data = NULL;
    dst->len = 0;
    dst->message = NULL;
    *mem = m = malloc((status == 0 ? len : 0) + mlen + 1);
    if (m == NULL) {
        dst->status = MPROC_ENOMEM;
        dst->message = "out of memory keeping the result";
    } else if (status == 0) {
        if (len > 0)
            memcpy(m, data, len);
        m[len] = '\0';
        dst->data = m;
        dst->len = len;
    } else {
        memcpy(m, message ? message : "", mlen);
        m[mlen] = '\0';
        dst->message = m;
    }
}

/* Keep a result of task `idx` of job j.  Under mu. */
static void
complete(struct mproc_apool *p, struct mproc_async *j, uint64_t idx,
         const struct mproc_result *src, int status, const void *data,
         size_t len, const char *message)
{
    struct res *s;

    j->completed++;
    if (status != 0 && (!j->failed || idx < j->fail_idx)) {
        j->failed = true;
        j->fail_idx = idx;
        j->status = status;
        if (j->kind == K_APPLY)
            job_set_msg(j, "%s", message ? message : "");
        else
            job_set_msg(j, "item %llu: %s", (unsigned long long)idx,
                        message ? message : "");
    }
    if (!j->freed || j->fire_forget) {
        switch (j->kind) {
        case K_APPLY:
        case K_MAP:
            if (idx < j->res_cap)
                store(&j->rr[idx], &j->mm[idx], src, idx, status, data, len,
                      message);
            break;
        case K_IMAP:
        case K_IMAP_UNORDERED:
            if (j->kind == K_IMAP)
                s = &j->res[idx % j->res_cap];
            else
                s = &j->res[(j->uhead + j->ucount++) % j->res_cap];
            store(&s->r, &s->mem, src, idx, status, data, len, message);
            s->done = true;
            p->bcast = true;
            break;
        }
    }
    check_ready(p, j);
}

/* ---- the queue ---- */

static void
job_enqueue(struct mproc_apool *p, struct mproc_async *j)
{
    j->qnext = NULL;
    j->qprev = p->jtail;
    if (p->jtail != NULL)
        p->jtail->qnext = j;
    else
        p->jhead = j;
    p->jtail = j;
    j->queued = true;
    if (j->next != NULL)
        p->iter_jobs++;
    else
        p->known_left += j->n_in;
    kick(p);
}

static void
job_input_done(struct mproc_apool *p, struct mproc_async *j)
{
    if (j->in_done)
        return;
    j->in_done = true;
    if (j->next != NULL)
        p->iter_jobs--;
    else
        p->known_left -= j->n_in - j->pos;
}

static void
job_unlink(struct mproc_apool *p, struct mproc_async *j)
{
    if (!j->queued)
        return;
    if (j->qprev != NULL)
        j->qprev->qnext = j->qnext;
    else
        p->jhead = j->qnext;
    if (j->qnext != NULL)
        j->qnext->qprev = j->qprev;
    else
        p->jtail = j->qprev;
    j->qnext = j->qprev = NULL;
    j->queued = false;
}

static bool
job_throttled(const struct mproc_async *j)
{
    return (j->kind == K_IMAP || j->kind == K_IMAP_UNORDERED) &&
           j->pulled - j->consumed >= j->res_cap;
}

/*
 * The next input item of j: 1 with it, 0 when there is none (j->in_done
 * then says whether for good).  Under mu.
 */
static int
job_pull(struct mproc_apool *p, struct mproc_async *j, const void **data,
         size_t *len, const struct mproc_args **star)
{
    struct mproc_item it;
    int r;

    *star = NULL;
    if (j->in_done || j->freed) {
        job_input_done(p, j);
        return 0;
    }
    if (job_throttled(j))
        return 0;
    if (j->kind == K_APPLY) {
        *data = j->own;
        *len = j->own_len;
    } else if (j->targs != NULL) {
        *star = &j->targs[j->pos];
        *data = NULL;
        *len = 0;
    } else if (j->items != NULL) {
        *data = j->items[j->pos].data;
        *len = j->items[j->pos].len;
    } else {
        it.data = NULL;
        it.len = 0;
        r = j->next(j->next_user, &it);
        if (r <= 0) {
            if (r < 0) {
                j->in_error = r == MPROC_EAGAIN ? MPROC_EINVAL : r;
                if (!j->failed)
                    job_set_msg(j, "input: %s",
                                r == MPROC_EAGAIN
                                    ? "the input callback answered "
                                      "MPROC_EAGAIN, which a map's input "
                                      "may not"
                                    : mproc_strerror(r));
            }
            job_input_done(p, j);
            check_ready(p, j);
            return 0;
        }
        if (j->kind == K_MAP && j->pulled >= j->res_cap) {
            size_t cap = j->res_cap ? 2 * j->res_cap : 64;
            struct mproc_result *nr = realloc(j->rr, cap * sizeof(*nr));
            char **nm = nr != NULL ? realloc(j->mm, cap * sizeof(*nm))
                                   : NULL;
            if (nr != NULL)
                j->rr = nr;
            if (nm == NULL) {
                j->in_error = MPROC_ENOMEM;
                job_set_msg(j, "input: out of memory");
                job_input_done(p, j);
                check_ready(p, j);
                return 0;
            }
            memset(nm + j->res_cap, 0, (cap - j->res_cap) * sizeof(*nm));
            j->mm = nm;
            j->res_cap = cap;
        }
        *data = it.data;
        *len = it.len;
        j->pos++;
        j->pulled++;
        return 1;
    }
    j->pos++;
    j->pulled++;
    p->known_left--;
    if (j->pos == j->n_in) {
        j->in_done = true;
        if (j->next != NULL)
            p->iter_jobs--;
    }
    return 1;
}

static uint32_t
star_size(const struct mproc_args *a)
{
    size_t n = 4 + 4 * a->n, i;
    for (i = 0; i < a->n; i++)
        n += a->v[i].len;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Append one task record to the scratch message; -1 without memory. */
static int
put_record(struct mproc_apool *p, const struct mproc_async *j, uint64_t idx,
           const void *data, size_t len, const struct mproc_args *star)
{
    struct mproc_buf *b = &p->scratch;
    struct rec_hdr h;
    size_t i;

    memset(&h, 0, sizeof(h));
    if (star != NULL) {
        memcpy(&h.fn, &j->sfn, sizeof(j->sfn));
        h.kind = F_STAR;
        h.len = star_size(star);
    } else {
        memcpy(&h.fn, &j->fn, sizeof(j->fn));
        h.kind = F_PLAIN;
        h.len = (uint32_t)len;
    }
    h.idx = idx;
    if (mproc_buf_reserve(b, sizeof(h) + h.len) != MPROC_TASK_OK)
        return -1;
    memcpy(b->data + b->len, &h, sizeof(h));
    b->len += sizeof(h);
    if (star != NULL) {
        uint32_t n = (uint32_t)star->n, l;
        memcpy(b->data + b->len, &n, 4);
        b->len += 4;
        for (i = 0; i < star->n; i++) {
            l = (uint32_t)star->v[i].len;
            memcpy(b->data + b->len, &l, 4);
            b->len += 4;
        }
        for (i = 0; i < star->n; i++) {
            if (star->v[i].len > 0)
                memcpy(b->data + b->len, star->v[i].data, star->v[i].len);
            b->len += star->v[i].len;
        }
    } else {
        if (len > 0)
            memcpy(b->data + b->len, data, len);
        b->len += len;
    }
    return 0;
}

/* How many tasks the next message may carry. */
static unsigned
batch_limit(const struct mproc_apool *p)
{
    double t = p->target;
    uint64_t share;

    if (!p->can_batch)
        return 1;
    /* A fair share of what is queued, so the tail spreads over every
     * worker (guided self-scheduling). */
    if (p->iter_jobs == 0) {
        uint64_t left = p->known_left;
        struct rtask *rt;
        for (rt = p->rqhead; rt != NULL && left < MAX_BATCH * 4; rt = rt->next)
            left++;
        share = (left + 2 * p->nworkers - 1) / (2 * p->nworkers);
        if (share < t)
            t = (double)share;
    }
    if (t < 1)
        t = 1;
    if (t > MAX_BATCH)
        t = MAX_BATCH;
    return (unsigned)t;
}

/*
 * Fill the next message.  Function pools: records into p->scratch and
 * p->refs_tmp.  Plugin pools: one task, its item in *pdata and *plen.  Returns
 * the number of tasks.  Under mu.
 */
static unsigned
build(struct mproc_apool *p, const void **pdata, size_t *plen)
{
    unsigned limit = batch_limit(p), n = 0;
    struct mproc_async *j;

    p->scratch.len = 0;
    while (n < limit && p->rqhead != NULL) {
        struct rtask *rt = p->rqhead;
        if (n > 0 && p->scratch.len + rt->len > BATCH_BYTES)
            return n;
        if (mproc_buf_reserve(&p->scratch, rt->len) != MPROC_TASK_OK)
            return n;
        p->refs_tmp[n].job = rt->job;
        p->refs_tmp[n].idx = rt->idx;
        p->refs_tmp[n].off = (uint32_t)p->scratch.len;
        p->refs_tmp[n].len = (uint32_t)rt->len;
        memcpy(p->scratch.data + p->scratch.len, rt->rec, rt->len);
        p->scratch.len += rt->len;
        n++;
        p->rqhead = rt->next;
        if (p->rqhead == NULL)
            p->rqtail = NULL;
        free(rt);
        if (!p->func) {
            *pdata = p->scratch.data;
            *plen = p->scratch.len;
            return n;
        }
    }
    j = p->jhead;
    while (j != NULL && n < limit) {
        const struct mproc_args *star;
        const void *data = NULL;
        size_t len = 0, before;
        unsigned stop = limit;

        /* chunksize c: this call's items travel in groups of c (rounded
         * up, within MAX_BATCH), like Python's chunks. */
        if (j->chunksize > 1 && p->can_batch && n < limit) {
            stop = n + (limit - n + j->chunksize - 1) / j->chunksize *
                           j->chunksize;
            if (stop > MAX_BATCH)
                stop = MAX_BATCH;
        }
        while (n < stop) {
            uint64_t idx = j->pulled;
            if (job_pull(p, j, &data, &len, &star) <= 0)
                break;
            if (!p->func) {
                p->refs_tmp[0].job = j;
                p->refs_tmp[0].idx = idx;
                p->refs_tmp[0].off = 0;
                p->refs_tmp[0].len = (uint32_t)len;
                *pdata = data;
                *plen = len;
                n = 1;
                break;
            }
            before = p->scratch.len;
            if (put_record(p, j, idx, data, len, star) < 0) {
                /* Out of memory: fail this task rather than lose it. */
                complete(p, j, idx, NULL, MPROC_ENOMEM, NULL, 0,
                         "out of memory queueing the task");
                continue;
            }
            p->refs_tmp[n].job = j;
            p->refs_tmp[n].idx = idx;
            p->refs_tmp[n].off = (uint32_t)before;
            p->refs_tmp[n].len = (uint32_t)(p->scratch.len - before);
            n++;
            if (p->scratch.len >= BATCH_BYTES)
                limit = stop = n;
        }
        if (n >= stop && stop > limit)
            limit = stop;
        if (j->in_done) {
            /* Off the queue: nothing more to pull from it. */
            struct mproc_async *nx = j->qnext;
            job_unlink(p, j);
            j = nx;
            continue;
        }
        if (!p->func && n > 0)
            break;
        j = j->qnext;
    }
    if (p->func) {
        *pdata = p->scratch.data;
        *plen = p->scratch.len;
    }
    return n;
}

/* Keep the message's tasks under the engine index it will get. */
static int
ring_put(struct mproc_apool *p, struct batch *b)
{
    if (p->eng_next - p->bbase > p->bmask) {
        uint64_t cap = 2 * (p->bmask + 1), i;
        struct batch **nr = calloc(cap, sizeof(*nr));
        if (nr == NULL)
            return -1;
        for (i = p->bbase; i < p->eng_next; i++)
            nr[i & (cap - 1)] = p->bring[i & p->bmask];
        free(p->bring);
        p->bring = nr;
        p->bmask = cap - 1;
    }
    p->bring[p->eng_next & p->bmask] = b;
    p->eng_next++;
    return 0;
}

static struct batch *
ring_take(struct mproc_apool *p, uint64_t index)
{
    struct batch *b;

    if (index < p->bbase || index >= p->eng_next)
        return NULL;
    b = p->bring[index & p->bmask];
    p->bring[index & p->bmask] = NULL;
    while (p->bbase < p->eng_next && p->bring[p->bbase & p->bmask] == NULL)
        p->bbase++;
    return b;
}

/* The engine's `next`: in the result thread. */
static int
eng_next(void *user, struct mproc_item *item)
{
    struct mproc_apool *p = user;
    const void *data = NULL;
    size_t len = 0;
    unsigned n, attempt;
    struct batch *b;

    pthread_mutex_lock(&p->mu);
    for (attempt = 0;; attempt++) {
        n = build(p, &data, &len);
        if (n > 0)
            break;
        if (p->closed && !p->terminated && p->jhead == NULL &&
            p->rqhead == NULL && p->inflight_multi == 0) {
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
        if (attempt > 0 || p->terminated) {
            pthread_mutex_unlock(&p->mu);
            return MPROC_EAGAIN;
        }
        /* About to sleep: from now on a submission writes the eventfd.
         * Drain it, then look once more, so none is missed. */
        p->waiting = true;
        pthread_mutex_unlock(&p->mu);
        {
            uint64_t v;
            if (read(p->efd, &v, sizeof(v)) < 0) {
                /* EAGAIN: nothing to drain. */
            }
        }
        pthread_mutex_lock(&p->mu);
    }
    p->waiting = false;
    b = malloc(sizeof(*b) + n * sizeof(b->t[0]));
    if (b == NULL || ring_put(p, b) < 0) {
        unsigned i;
        free(b);
        for (i = 0; i < n; i++)
            complete(p, p->refs_tmp[i].job, p->refs_tmp[i].idx, NULL,
                     MPROC_ENOMEM, NULL, 0, "out of memory sending the task");
        pthread_mutex_unlock(&p->mu);
        return MPROC_ENOMEM;
    }
    b->n = n;
    memcpy(b->t, p->refs_tmp, n * sizeof(b->t[0]));
    p->inflight_tasks += n;
    if (n > 1)
        p->inflight_multi++;
    pthread_mutex_unlock(&p->mu);
    item->data = data;
    item->len = len;
    return 1;
}

/* Queue a task again, first in line. */
static void
requeue(struct mproc_apool *p, const struct taskref *t, const char *msgbase)
{
    struct rtask *rt = malloc(sizeof(*rt) + t->len);

    if (rt == NULL) {
        complete(p, t->job, t->idx, NULL, MPROC_ENOMEM, NULL, 0,
                 "out of memory queueing the task again");
        return;
    }
    rt->job = t->job;
    rt->idx = t->idx;
    rt->len = t->len;
    memcpy(rt->rec, msgbase + t->off, t->len);
    rt->next = p->rqhead;
    p->rqhead = rt;
    if (p->rqtail == NULL)
        p->rqtail = rt;
}

/* Requeue tasks t[from..n-1] keeping their order. */
static void
requeue_range(struct mproc_apool *p, const struct batch *b, uint32_t from,
              uint32_t to, const char *msgbase)
{
    uint32_t k;
    for (k = to; k > from; k--)
        requeue(p, &b->t[k - 1], msgbase);
}

static void
learn(struct mproc_apool *p, const struct mproc_result *r, unsigned n)
{
    double per = r->duration / (n ? n : 1), want;

    want = per > 0 ? BATCH_SECONDS / per : MAX_BATCH;
    if (want > 2 * p->target)
        want = 2 * p->target;
    if (want < 1)
        want = 1;
    if (want > MAX_BATCH)
        want = MAX_BATCH;
    p->target = want;
}

/* Run the callbacks of the jobs that became ready, then drop the result
 * thread's references.  Called without mu. */
static void
notify(struct mproc_apool *p)
{
    struct mproc_async *list, *j, *nx;

    pthread_mutex_lock(&p->mu);
    list = p->notify;
    p->notify = NULL;
    if (p->bcast && p->nwait > 0)
        pthread_cond_broadcast(&p->cv);
    p->bcast = false;
    /* Decide under the lock: the application may free a job meanwhile
     * (the memory stays: this thread still holds a reference). */
    for (j = list; j != NULL; j = j->nnext) {
        bool good = !j->failed && j->in_error == 0;
        j->call = j->freed && !j->fire_forget ? 0
                  : good && j->cb != NULL     ? 1
                  : !good && j->ecb != NULL   ? 2
                                              : 0;
    }
    pthread_mutex_unlock(&p->mu);
    for (j = list; j != NULL; j = j->nnext) {
        if (j->call == 1)
            j->cb(j->cb_user, j);
        else if (j->call == 2)
            j->ecb(j->cb_user, j);
    }
    if (list == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    for (j = list; j != NULL; j = nx) {
        nx = j->nnext;
        job_unref(j); /* never the pool's last: the application holds it */
    }
    pthread_mutex_unlock(&p->mu);
}

/* The engine's `on_result`: in the result thread. */
static int
eng_result(void *user, const struct mproc_result *r)
{
    struct mproc_apool *p = user;
    const char *base = r->item;
    struct batch *b;
    uint32_t k;
    bool wake = false;

    pthread_mutex_lock(&p->mu);
    b = ring_take(p, r->index);
    if (b == NULL) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    p->inflight_tasks -= b->n;
    if (r->status == MPROC_ECANCELED && !p->terminated && base != NULL) {
        /* The engine stopped on its own (a failed initializer ...): keep
         * the tasks; they get the engine's verdict once it returns. */
        requeue_range(p, b, 0, b->n, base);
    } else if (!p->func) {
        complete(p, b->t[0].job, b->t[0].idx, r, r->status, r->data, r->len,
                 r->status == MPROC_ECANCELED
                     ? "not run: the pool was terminated"
                     : r->message);
    } else if (r->status == 0) {
        const char *d = r->data;
        size_t off = 0;

        for (k = 0; k < b->n && off + sizeof(struct out_hdr) <= r->len; k++) {
            struct out_hdr oh;
            memcpy(&oh, d + off, sizeof(oh));
            off += sizeof(oh);
            if (oh.len > r->len - off)
                break;
            if (oh.status == 0) {
                complete(p, b->t[k].job, b->t[k].idx, r, 0, d + off, oh.len,
                         NULL);
            } else {
                /* Messages travel without their NUL: give one. */
                char *m = strndup(d + off, oh.len);
                complete(p, b->t[k].job, b->t[k].idx, r, oh.status, NULL, 0,
                         m != NULL ? m : "out of memory");
                free(m);
            }
            off += oh.len;
        }
        if (k < b->n) {
            requeue_range(p, b, k, b->n, base);
            wake = true;
        }
        learn(p, r, k);
    } else if (r->status == MPROC_EWORKER && b->n > 1 && base != NULL) {
        uint32_t d = 0, staged = 0;
        const char *stage = NULL;
        size_t off = 0;
        unsigned w;
        for (w = 0; p->prog != NULL && w < p->nworkers; w++)
            if (p->prog[w].pid == (int32_t)r->worker &&
                __atomic_load_n(&p->prog[w].index, __ATOMIC_ACQUIRE) ==
                    r->index) {
                d = __atomic_load_n(&p->prog[w].done, __ATOMIC_ACQUIRE);
                staged = __atomic_load_n(&p->prog[w].staged,
                                         __ATOMIC_ACQUIRE);
                stage = p->stage + w * STAGE_BYTES;
                break;
            }
        if (d >= b->n)
            d = b->n - 1;
        if (staged > d)
            staged = d;
        /* The tasks it finished: their results from the stage. */
        for (k = 0; k < staged; k++) {
            struct out_hdr oh;
            memcpy(&oh, stage + off, sizeof(oh));
            off += sizeof(oh);
            if (oh.status == 0) {
                complete(p, b->t[k].job, b->t[k].idx, r, 0, stage + off,
                         oh.len, NULL);
            } else {
                char *m = strndup(stage + off, oh.len);
                complete(p, b->t[k].job, b->t[k].idx, r, oh.status, NULL, 0,
                         m != NULL ? m : "out of memory");
                free(m);
            }
            off += oh.len;
        }
        /* The one it was running fails; those after it never started. */
        requeue_range(p, b, d + 1, b->n, base);
        complete(p, b->t[d].job, b->t[d].idx, r, r->status, NULL, 0,
                 r->message);
        /* A finished task whose result was not staged (at most the last
         * before a death in a sliver of time) runs again. */
        requeue_range(p, b, staged, d, base);
        wake = true;
    } else {
        for (k = 0; k < b->n; k++)
            complete(p, b->t[k].job, b->t[k].idx, r, r->status, NULL, 0,
                     r->status == MPROC_ECANCELED
                         ? "not run: the pool was terminated"
                         : r->message);
    }
    if (b->n > 1 && --p->inflight_multi == 0 && p->closed)
        wake = true;
    if (wake)
        kick(p);
    pthread_mutex_unlock(&p->mu);
    free(b);
    notify(p);
    return 0;
}

/* The engine has returned: every task still without a result gets one. */
static void
fail_rest(struct mproc_apool *p, int status, const char *msg)
{
    struct mproc_async *j, *nx;
    struct rtask *rt;
    uint64_t i;

    while ((rt = p->rqhead) != NULL) {
        p->rqhead = rt->next;
        complete(p, rt->job, rt->idx, NULL, status, NULL, 0, msg);
        free(rt);
    }
    p->rqtail = NULL;
    for (i = p->bbase; i < p->eng_next; i++) {
        struct batch *b = p->bring[i & p->bmask];
        uint32_t k;
        if (b == NULL)
            continue;
        p->bring[i & p->bmask] = NULL;
        for (k = 0; k < b->n; k++)
            complete(p, b->t[k].job, b->t[k].idx, NULL, status, NULL, 0,
                     msg);
        free(b);
    }
    p->bbase = p->eng_next;
    p->inflight_multi = 0;
    p->inflight_tasks = 0;
    for (j = p->jhead; j != NULL; j = nx) {
        nx = j->qnext;
        job_unlink(p, j);
        if (!j->in_done && !j->freed &&
            (j->kind == K_APPLY || j->kind == K_MAP) && j->next == NULL) {
            while (j->pos < j->n_in) {
                uint64_t idx = j->pulled;
                j->pos++;
                j->pulled++;
                p->known_left--;
                complete(p, j, idx, NULL, status, NULL, 0, msg);
            }
        } else if (!j->in_done && j->in_error == 0) {
            j->in_error = status;
            if (!j->failed)
                job_set_msg(j, "%s", msg);
        }
        job_input_done(p, j);
        check_ready(p, j);
    }
}

static void *
engine_main(void *arg)
{
    struct mproc_apool *p = arg;
    char msg[MPROC_ERRMSG_MAX + 16];
    int r, st;

    tl_pool = p;
    r = mproc_pool_run(p->eng, eng_next, eng_result, p);
    pthread_mutex_lock(&p->mu);
    if (p->terminated) {
        st = MPROC_ECANCELED;
        snprintf(msg, sizeof(msg), "not run: the pool was terminated");
    } else if (r < 0) {
        st = r;
        snprintf(msg, sizeof(msg), "not run: %s",
                 mproc_pool_errmsg(p->eng)[0] ? mproc_pool_errmsg(p->eng)
                                              : mproc_strerror(r));
        p->broken = r;
        snprintf(p->broken_msg, sizeof(p->broken_msg), "%.200s", msg + 9);
    } else {
        st = MPROC_ECANCELED;
        snprintf(msg, sizeof(msg), "not run: the pool ended");
    }
    fail_rest(p, st, msg);
    p->thr_done = true;
    p->bcast = true;
    pthread_mutex_unlock(&p->mu);
    notify(p);
    return NULL;
}

/* ---- the pool ---- */

static void
pool_destroy(struct mproc_apool *p)
{
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

int
mproc_apool_new(mproc_apool_t **out, const struct mproc_pool_opts *o,
                mproc_err_t *err)
{
    struct mproc_apool *p = NULL;
    struct mproc_pool_opts eo;
    pthread_condattr_t ca;
    pthread_mutexattr_t ma;
    sigset_t all, old;
    bool mu_ok = false, cv_ok = false;
    int r;

    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    p->efd = p->cfd = -1;
    p->func = o->plugin == NULL && o->plugin_desc == NULL;
    if (p->func && o->start_method != NULL &&
        strcmp(o->start_method, "fork") != 0) {
        r = mproc__err(err, MPROC_EINVAL,
                       "function targets need the fork start method, not "
                       "'%s'; use a plugin for other start methods",
                       o->start_method);
        goto fail;
    }
    if (!p->func && o->initializer != NULL) {
        r = mproc__err(err, MPROC_EINVAL,
                       "initializer is for function targets; a plugin's "
                       "init is its initializer");
        goto fail;
    }
    if (o->message_max < 1024) {
        r = mproc__err(err, MPROC_EINVAL,
                       "message_max must be at least 1024 bytes");
        goto fail;
    }
    p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    p->cfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->efd < 0 || p->cfd < 0) {
        r = mproc__err(err, -errno, "eventfd: %s", strerror(errno));
        goto fail;
    }
    eo = *o;
    eo.ordered = false;
    eo.stop_on_error = false;
    eo.reduce = false;
    eo.on_idle = NULL;
    eo.input_fd = p->efd;
    eo.cancel_fd = p->cfd;
    if (p->func) {
        eo.plugin_desc = &call_desc;
        eo.task = NULL;
        eo.chunksize = 1;
        p->can_batch = o->timeout_ms == 0 && o->retries == 0 &&
                       o->max_tasks_per_child == 0;
    }
    r = mproc_pool_new(&p->eng, &eo, err);
    if (r < 0)
        goto fail;
    p->nworkers = mproc_pool_workers(p->eng);
    p->message_max = o->message_max;
    p->initializer = o->initializer;
    p->initarg = o->initarg;
    p->target = 1;
    p->refs = 1;
    p->bmask = 63;
    p->bring = calloc(p->bmask + 1, sizeof(*p->bring));
    p->refs_tmp = calloc(MAX_BATCH, sizeof(*p->refs_tmp));
    if (p->bring == NULL || p->refs_tmp == NULL) {
        r = mproc__err(err, MPROC_ENOMEM, "out of memory");
        goto fail;
    }
    mproc__buf_init(&p->scratch, (size_t)-1);
    if (p->func) {
        /* Shared with every worker forked later; pages of the stage are
         * only touched as results are staged. */
        void *m;
        p->prog_len = p->nworkers * (sizeof(struct progress) + STAGE_BYTES);
        m = mmap(NULL, p->prog_len, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            r = mproc__err(err, -errno, "mmap: %s", strerror(errno));
            goto fail;
        }
        p->stage = m;
        p->prog = (struct progress *)(p->stage + p->nworkers * STAGE_BYTES);
    }
    /* Adaptive: the lock is taken per task by the application and per
     * message by the result thread, for short spells; spinning a little
     * beats a futex sleep and wake-up. */
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    r = pthread_mutex_init(&p->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    if (r != 0) {
        r = mproc__err(err, MPROC_ENOMEM, "pthread_mutex_init failed");
        goto fail;
    }
    mu_ok = true;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    r = pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (r != 0) {
        r = mproc__err(err, MPROC_ENOMEM, "pthread_cond_init failed");
        goto fail;
    }
    cv_ok = true;
    /* The result thread takes no signals: handlers belong to the
     * application's threads (the thread inherits this mask). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&p->thr, NULL, engine_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        r = mproc__err(err, -r, "cannot start the result thread: %s",
                       strerror(r));
        goto fail;
    }
    p->thr_started = true;
    *out = p;
    return 0;

fail:
    if (p->stage != NULL)
        munmap(p->stage, p->prog_len);
    mproc_pool_free(p->eng);
    if (p->efd >= 0)
        close(p->efd);
    if (p->cfd >= 0)
        close(p->cfd);
    mproc__buf_free(&p->scratch);
    free(p->bring);
    free(p->refs_tmp);
    if (mu_ok)
        pthread_mutex_destroy(&p->mu);
    if (cv_ok)
        pthread_cond_destroy(&p->cv);
    free(p);
    return r;
}

/* Whether the pool takes work; sets the message if not.  Under mu. */
static int
check_open(struct mproc_apool *p)
{
    if (p->broken) {
        set_err(p, "the pool is broken: %s", p->broken_msg);
        return p->broken;
    }
    if (p->terminated) {
        set_err(p, "the pool is terminated");
        return MPROC_ECLOSED;
    }
    if (p->closed) {
        set_err(p, "the pool is closed");
        return MPROC_ECLOSED;
    }
    return 0;
}

static int
check_fn(struct mproc_apool *p, const void *fn, const char *what)
{
    if (p->func && fn == NULL) {
        set_err(p, "%s: a function pool needs a function", what);
        return MPROC_EINVAL;
    }
    if (!p->func && fn != NULL) {
        set_err(p, "%s: this pool runs its plugin's task; pass NULL as the "
                   "function", what);
        return MPROC_EINVAL;
    }
    return 0;
}

static struct mproc_async *
job_alloc(struct mproc_apool *p, int kind, size_t extra,
          const struct mproc_call_opts *call)
{
    struct mproc_async *j;
    size_t sz = kind == K_IMAP || kind == K_IMAP_UNORDERED
                    ? sizeof(struct mproc_imap)
                    : sizeof(*j);

    j = calloc(1, sz + extra);
    if (j == NULL)
        return NULL;
    j->pool = p;
    j->kind = kind;
    j->refs = 2;
    if (call != NULL) {
        j->chunksize = call->chunksize;
        j->cb = call->callback;
        j->ecb = call->error_callback;
        j->cb_user = call->user;
    }
    return j;
}

/* Hand a new job to the queue, or say why not.  Takes mu. */
static int
submit(struct mproc_apool *p, struct mproc_async *j)
{
    int r;

    pthread_mutex_lock(&p->mu);
    r = check_open(p);
    if (r == 0) {
        p->refs++;
        job_enqueue(p, j);
    }
    pthread_mutex_unlock(&p->mu);
    return r;
}

int
mproc_apool_apply_async(mproc_apool_t *p, mproc_task_fn fn, const void *data,
                        size_t len, const struct mproc_call_opts *call,
                        mproc_async_t **out)
{
    struct mproc_async *j;
    int r;

    if (out != NULL)
        *out = NULL;
    pthread_mutex_lock(&p->mu);
    r = check_fn(p, (const void *)fn, "apply_async");
    pthread_mutex_unlock(&p->mu);
    if (r < 0)
        return r;
    j = job_alloc(p, K_APPLY, len, call);
    if (j == NULL) {
        pthread_mutex_lock(&p->mu);
        set_err(p, "apply_async: out of memory");
        pthread_mutex_unlock(&p->mu);
        return MPROC_ENOMEM;
    }
    j->fkind = F_PLAIN;
    j->fn = fn;
    j->own = (const char *)(j + 1);
    j->own_len = len;
    if (len > 0)
        memcpy((char *)(j + 1), data, len);
    j->n_in = 1;
    j->rr = &j->one_r;
    j->mm = &j->one_m;
    j->res_cap = 1;
    if (out == NULL) {
        /* Fire and forget: only the result thread holds it. */
        j->fire_forget = true;
        j->refs = 1;
    }
    r = submit(p, j);
    if (r < 0) {
        free(j);
        return r;
    }
    if (out != NULL)
        *out = j;
    return 0;
}

static int
wait_ready(mproc_async_t *ar, int timeout_ms);

int
mproc_apool_apply(mproc_apool_t *p, mproc_task_fn fn, const void *data,
                  size_t len, mproc_async_t **out)
{
    int r;

    *out = NULL;
    if (in_result_thread(p)) {
        pthread_mutex_lock(&p->mu);
        set_err(p, "apply: waiting in a callback would deadlock");
        pthread_mutex_unlock(&p->mu);
        return MPROC_EINVAL;
    }
    r = mproc_apool_apply_async(p, fn, data, len, NULL, out);
    if (r < 0)
        return r;
    return mproc_async_get(*out, -1, NULL, NULL);
}

static int
map_common(mproc_apool_t *p, int kind, mproc_task_fn fn, mproc_star_fn sfn,
           const struct mproc_input *in, const struct mproc_args *targs,
           size_t ntargs, const struct mproc_call_opts *call,
           struct mproc_async **out, const char *what)
{
    struct mproc_async *j = NULL;
    size_t n = in != NULL ? in->n : ntargs, i;
    bool iter = in != NULL && in->next != NULL;
    int r;

    *out = NULL;
    pthread_mutex_lock(&p->mu);
    r = check_fn(p, sfn != NULL ? (const void *)sfn : (const void *)fn,
                 what);
    if (r == 0 && targs != NULL && !p->func) {
        set_err(p, "%s: starmap needs a function pool", what);
        r = MPROC_EINVAL;
    }
    if (r == 0 && in != NULL && in->items != NULL && in->next != NULL) {
        set_err(p, "%s: give items or a next callback, not both", what);
        r = MPROC_EINVAL;
    }
    if (r == 0 && !iter && (n == 0 || (in != NULL && in->items == NULL) ||
                            (in == NULL && targs == NULL))) {
        set_err(p, "%s: no input (an empty array or none)", what);
        r = MPROC_EINVAL;
    }
    for (i = 0; r == 0 && targs != NULL && i < ntargs; i++)
        if (targs[i].n > MPROC_STAR_MAX) {
            set_err(p, "%s: task %zu has %zu arguments, more than "
                       "MPROC_STAR_MAX (%d)", what, i, targs[i].n,
                    MPROC_STAR_MAX);
            r = MPROC_EINVAL;
        }
    pthread_mutex_unlock(&p->mu);
    if (r < 0)
        return r;
    j = job_alloc(p, kind, 0, call);
    if (j == NULL)
        goto nomem;
    j->fkind = sfn != NULL ? F_STAR : F_PLAIN;
    j->fn = fn;
    j->sfn = sfn;
    j->targs = targs;
    if (in != NULL) {
        j->items = in->items;
        j->next = in->next;
        j->next_user = in->next_user;
    }
    j->n_in = iter ? 0 : n;
    if (kind == K_MAP) {
        j->res_cap = iter ? 0 : n;
        if (!iter && ((j->rr = calloc(n, sizeof(*j->rr))) == NULL ||
                      (j->mm = calloc(n, sizeof(*j->mm))) == NULL))
            goto nomem;
    } else {
        j->res_cap = call != NULL && call->buffer > 0 ? call->buffer
                                                      : IMAP_BUFFER;
        j->res = calloc(j->res_cap, sizeof(*j->res));
        if (j->res == NULL)
            goto nomem;
    }
    r = submit(p, j);
    if (r < 0) {
        free(j->res);
        free(j->rr);
        free(j->mm);
        free(j);
        return r;
    }
    *out = j;
    return 0;

nomem:
    if (j != NULL) {
        free(j->res);
        free(j->rr);
        free(j->mm);
    }
    free(j);
    pthread_mutex_lock(&p->mu);
    set_err(p, "%s: out of memory", what);
    pthread_mutex_unlock(&p->mu);
    return MPROC_ENOMEM;
}

int
mproc_apool_map_async(mproc_apool_t *p, mproc_task_fn fn,
                      const struct mproc_input *in,
                      const struct mproc_call_opts *call, mproc_async_t **out)
{
    if (in == NULL) {
        *out = NULL;
        pthread_mutex_lock(&p->mu);
        set_err(p, "map_async: no input");
        pthread_mutex_unlock(&p->mu);
        return MPROC_EINVAL;
    }
    return map_common(p, K_MAP, fn, NULL, in, NULL, 0, call, out,
                      "map_async");
}

static int
wait_call(mproc_apool_t *p, mproc_async_t **out, int r, const char *what)
{
    if (r < 0)
        return r;
    return mproc_async_get(*out, -1, NULL, NULL);
}

static int
refuse_in_callback(mproc_apool_t *p, const char *what)
{
    if (!in_result_thread(p))
        return 0;
    pthread_mutex_lock(&p->mu);
    set_err(p, "%s: waiting in a callback would deadlock", what);
    pthread_mutex_unlock(&p->mu);
    return MPROC_EINVAL;
}

int
mproc_apool_map(mproc_apool_t *p, mproc_task_fn fn,
                const struct mproc_input *in,
                const struct mproc_call_opts *call, mproc_async_t **out)
{
    int r = refuse_in_callback(p, "map");
    *out = NULL;
    if (r < 0)
        return r;
    return wait_call(p, out, mproc_apool_map_async(p, fn, in, call, out),
                     "map");
}

int
mproc_apool_starmap_async(mproc_apool_t *p, mproc_star_fn fn,
                          const struct mproc_args *tasks, size_t n,
                          const struct mproc_call_opts *call,
                          mproc_async_t **out)
{
    if (fn == NULL && p->func) {
        *out = NULL;
        pthread_mutex_lock(&p->mu);
        set_err(p, "starmap_async: a function pool needs a function");
        pthread_mutex_unlock(&p->mu);
        return MPROC_EINVAL;
    }
    return map_common(p, K_MAP, NULL, fn, NULL, tasks, n, call, out,
                      "starmap_async");
}

int
mproc_apool_starmap(mproc_apool_t *p, mproc_star_fn fn,
                    const struct mproc_args *tasks, size_t n,
                    const struct mproc_call_opts *call, mproc_async_t **out)
{
    int r = refuse_in_callback(p, "starmap");
    *out = NULL;
    if (r < 0)
        return r;
    return wait_call(p, out,
                     mproc_apool_starmap_async(p, fn, tasks, n, call, out),
                     "starmap");
}

int
mproc_apool_imap(mproc_apool_t *p, mproc_task_fn fn,
                 const struct mproc_input *in,
                 const struct mproc_call_opts *call, mproc_imap_t **out)
{
    struct mproc_async *j;
    int r;

    *out = NULL;
    if (in == NULL) {
        pthread_mutex_lock(&p->mu);
        set_err(p, "imap: no input");
        pthread_mutex_unlock(&p->mu);
        return MPROC_EINVAL;
    }
    r = map_common(p, K_IMAP, fn, NULL, in, NULL, 0, call, &j, "imap");
    if (r == 0)
        *out = (mproc_imap_t *)j;
    return r;
}

int
mproc_apool_imap_unordered(mproc_apool_t *p, mproc_task_fn fn,
                           const struct mproc_input *in,
                           const struct mproc_call_opts *call,
                           mproc_imap_t **out)
{
    struct mproc_async *j;
    int r;

    *out = NULL;
    if (in == NULL) {
        pthread_mutex_lock(&p->mu);
        set_err(p, "imap_unordered: no input");
        pthread_mutex_unlock(&p->mu);
        return MPROC_EINVAL;
    }
    r = map_common(p, K_IMAP_UNORDERED, fn, NULL, in, NULL, 0, call, &j,
                   "imap_unordered");
    if (r == 0)
        *out = (mproc_imap_t *)j;
    return r;
}

int
mproc_apool_close(mproc_apool_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    p->waiting = true; /* the thread must look again: write the eventfd */
    kick(p);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int
mproc_apool_terminate(mproc_apool_t *p)
{
    uint64_t one = 1;

    pthread_mutex_lock(&p->mu);
    p->terminated = true;
    p->closed = true;
    if (write(p->cfd, &one, sizeof(one)) < 0) {
        /* Cannot fail short of counter overflow (readable anyway). */
    }
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int
mproc_apool_join(mproc_apool_t *p)
{
    bool do_join;
    int r;

    if (refuse_in_callback(p, "join") < 0)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (!p->closed && !p->terminated) {
        set_err(p, "join: close() or terminate() the pool first");
        pthread_mutex_unlock(&p->mu);
        return MPROC_EINVAL;
    }
    while (!p->thr_done) {
        p->nwait++;
        pthread_cond_wait(&p->cv, &p->mu);
        p->nwait--;
    }
    do_join = !p->joined;
    p->joined = true;
    r = p->broken;
    if (r < 0)
        set_err(p, "the pool is broken: %s", p->broken_msg);
    pthread_mutex_unlock(&p->mu);
    if (do_join)
        pthread_join(p->thr, NULL);
    return r;
}

unsigned
mproc_apool_workers(const mproc_apool_t *p)
{
    return p->nworkers;
}

const char *
mproc_apool_errmsg(const mproc_apool_t *p)
{
    return p->errmsg;
}

void
mproc_apool_free(mproc_apool_t *p)
{
    bool last;

    if (p == NULL)
        return;
    if (!p->joined) {
        mproc_apool_terminate(p);
        mproc_apool_join(p);
    }
    mproc_pool_free(p->eng);
    p->eng = NULL;
    if (p->stage != NULL)
        munmap(p->stage, p->prog_len);
    close(p->efd);
    close(p->cfd);
    mproc__buf_free(&p->scratch);
    free(p->bring);
    free(p->refs_tmp);
    pthread_mutex_lock(&p->mu);
    last = --p->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (last)
        pool_destroy(p);
}

/* ---- async results ---- */

/* Wait under mu until `cond` holds or the deadline passes. */
#define WAIT_UNTIL(p, cond, timeout_ms, rc)                                 \
    do {                                                                    \
        struct timespec dl_;                                                \
        (rc) = 0;                                                           \
        if ((timeout_ms) > 0) {                                             \
            clock_gettime(CLOCK_MONOTONIC, &dl_);                           \
            dl_.tv_sec += (timeout_ms) / 1000;                              \
            dl_.tv_nsec += ((timeout_ms) % 1000) * 1000000L;                \
            if (dl_.tv_nsec >= 1000000000L) {                               \
                dl_.tv_sec++;                                               \
                dl_.tv_nsec -= 1000000000L;                                 \
            }                                                               \
        }                                                                   \
        while (!(cond)) {                                                   \
            int w_ = 0;                                                     \
            if ((timeout_ms) == 0) {                                        \
                (rc) = MPROC_EAGAIN;                                        \
                break;                                                      \
            }                                                               \
            (p)->nwait++;                                                   \
            if ((timeout_ms) < 0)                                           \
                pthread_cond_wait(&(p)->cv, &(p)->mu);                      \
            else                                                            \
                w_ = pthread_cond_timedwait(&(p)->cv, &(p)->mu, &dl_);      \
            (p)->nwait--;                                                   \
            if (w_ == ETIMEDOUT && !(cond)) {                               \
                (rc) = MPROC_EAGAIN;                                        \
                break;                                                      \
            }                                                               \
        }                                                                   \
    } while (0)

/* Under mu: wait for ar, refusing to block the result thread. */
static int
wait_locked(mproc_async_t *ar, int timeout_ms)
{
    struct mproc_apool *p = ar->pool;
    int rc;

    if (!ar->ready && timeout_ms != 0 && in_result_thread(p) &&
        !p->thr_done) {
        job_set_msg(ar, "waiting in a callback would deadlock");
        return MPROC_EINVAL;
    }
    if (!ar->ready && timeout_ms != 0 && p->iter_jobs == 0 &&
        p->known_left + p->inflight_tasks <= p->nworkers) {
        /* Little in flight (apply's round trip): spin up to a millisecond
         * first.  A sleep and wake-up costs tens of microseconds on these
         * machines, the whole round trip not much more.  Not with much in
         * flight: the spin would take the CPU the workers need. */
        long long t0 = mproc__now_ms();
        int k = 0;
        pthread_mutex_unlock(&p->mu);
        while (!__atomic_load_n(&ar->ready, __ATOMIC_ACQUIRE) &&
               (++k & 63 || mproc__now_ms() - t0 < 1))
            __builtin_ia32_pause();
        pthread_mutex_lock(&p->mu);
    }
    WAIT_UNTIL(p, ar->ready, timeout_ms, rc);
    return rc;
}

static int
wait_ready(mproc_async_t *ar, int timeout_ms)
{
    int r;
    pthread_mutex_lock(&ar->pool->mu);
    r = wait_locked(ar, timeout_ms);
    pthread_mutex_unlock(&ar->pool->mu);
    return r;
}

int
mproc_async_get(mproc_async_t *ar, int timeout_ms,
                const struct mproc_result **results, size_t *n)
{
    int r;

    if (results != NULL)
        *results = NULL;
    if (n != NULL)
        *n = 0;
    pthread_mutex_lock(&ar->pool->mu);
    r = wait_locked(ar, timeout_ms);
    if (r == 0) {
        if (results != NULL)
            *results = ar->rr;
        if (n != NULL)
            *n = ar->kind == K_APPLY ? 1 : (size_t)ar->pulled;
        r = ar->failed ? ar->status : ar->in_error;
    } else if (r == MPROC_EAGAIN) {
        job_set_msg(ar, "not ready after %d ms", timeout_ms);
    }
    pthread_mutex_unlock(&ar->pool->mu);
    return r;
}

int
mproc_async_wait(mproc_async_t *ar, int timeout_ms)
{
    return wait_ready(ar, timeout_ms);
}

bool
mproc_async_ready(mproc_async_t *ar)
{
    bool r;
    pthread_mutex_lock(&ar->pool->mu);
    r = ar->ready;
    pthread_mutex_unlock(&ar->pool->mu);
    return r;
}

int
mproc_async_successful(mproc_async_t *ar)
{
    int r;
    pthread_mutex_lock(&ar->pool->mu);
    if (!ar->ready) {
        job_set_msg(ar, "successful: the result is not ready yet");
        r = MPROC_EINVAL;
    } else {
        r = !ar->failed && ar->in_error == 0;
    }
    pthread_mutex_unlock(&ar->pool->mu);
    return r;
}

const char *
mproc_async_errmsg(mproc_async_t *ar)
{
    return ar->msg != NULL ? ar->msg : "";
}

/* The application lets go of a job (async result or iterator). */
static void
job_release(struct mproc_async *j)
{
    struct mproc_apool *p = j->pool;
    bool last;

    pthread_mutex_lock(&p->mu);
    j->freed = true;
    if (!j->in_done) {
        /* Read no more input: the array may be gone after this. */
        job_input_done(p, j);
        job_unlink(p, j);
        kick(p); /* a closed pool may have nothing left to wait for */
        if (!j->ready && j->completed == j->pulled) {
            j->ready = true;
            j->refs--; /* the result thread's: nothing more will come */
        }
    }
    last = job_unref(j);
    pthread_mutex_unlock(&p->mu);
    if (last)
        pool_destroy(p);
}

void
mproc_async_free(mproc_async_t *ar)
{
    if (ar == NULL)
        return;
    job_release(ar);
}

/* ---- imap iterators ---- */

int
mproc_imap_next(mproc_imap_t *it, int timeout_ms,
                const struct mproc_result **r)
{
    struct mproc_async *j = &it->a;
    struct mproc_apool *p = j->pool;
    struct res *s;
    int rc;

    *r = NULL;
    pthread_mutex_lock(&p->mu);
    res_clear(&j->cur);
#define IMAP_HAS_ONE                                                        \
    (j->kind == K_IMAP ? j->res[j->consumed % j->res_cap].done              \
                       : j->ucount > 0)
#define IMAP_AT_END (j->in_done && j->consumed == j->pulled)
    if (!IMAP_HAS_ONE && !IMAP_AT_END && timeout_ms != 0 &&
        in_result_thread(p)) {
        job_set_msg(j, "waiting in a callback would deadlock");
        pthread_mutex_unlock(&p->mu);
        return MPROC_EINVAL;
    }
    WAIT_UNTIL(p, IMAP_HAS_ONE || IMAP_AT_END, timeout_ms, rc);
    if (rc < 0) {
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    if (IMAP_HAS_ONE) {
        if (j->kind == K_IMAP) {
            s = &j->res[j->consumed % j->res_cap];
        } else {
            s = &j->res[j->uhead % j->res_cap];
            j->uhead++;
            j->ucount--;
        }
        j->cur = *s;
        memset(s, 0, sizeof(*s));
        j->consumed++;
        /* Room again: the thread may be waiting for it. */
        if (j->pulled - j->consumed == j->res_cap - 1)
            kick(p);
        *r = &j->cur.r;
        rc = 1;
    } else if (j->in_error != 0 && !j->in_error_told) {
        j->in_error_told = true;
        rc = j->in_error;
    } else {
        rc = 0;
    }
#undef IMAP_HAS_ONE
#undef IMAP_AT_END
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void
mproc_imap_free(mproc_imap_t *it)
{
    if (it == NULL)
        return;
    job_release(&it->a);
}

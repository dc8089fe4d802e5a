/* SPDX-License-Identifier: MIT */
/*
 * The Pool API's result thread and worker side (see api_int.h): the
 * function-target descriptor that runs a message of tasks in a worker,
 * the jobs and their queue, the batches that eng_next() builds for the
 * engine, and eng_result(), which turns the engine's results back into
 * each task's own.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <mproc/pool.h>

#include "plugin/plugin_int.h"
#include "pool/api_int.h"
#include "pool/pool_int.h"

/* tl_pool is the pool whose result thread runs here (api_int.h). */
#define tl_pool mproc__apool_tl

void
mproc__apool_set_err(struct mproc_apool *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
    va_end(ap);
}

bool
mproc__apool_in_result_thread(const struct mproc_apool *p)
{
    return p->thr_started && pthread_equal(pthread_self(), p->thr);
}

/* Wake the result thread if it sleeps waiting for input.  Under mu. */
void
mproc__apool_kick(struct mproc_apool *p)
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

/* Test hook (MPROC_TEST_HOOK_APOOL_DIE_AFTER_BATCH=FILE): the first
 * worker to finish and stage every task of a message of several tasks
 * creates FILE and dies before it answers, as a crash there would. */
static const char *hook_die_after;

static void
hook_die(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return; /* another worker went first */
    close(fd);
    raise(SIGKILL);
}

static int
call_init(struct mproc_ctx *ctx)
{
    struct mproc_apool *p = tl_pool;

    hook_die_after = getenv("MPROC_TEST_HOOK_APOOL_DIE_AFTER_BATCH");
    /* A task's output may be message_max bytes, as in a plugin pool;
     * the engine's own limit is larger (see ENG_SLACK). */
    mproc__buf_init(&child_tmp,
                    p->eng_max - sizeof(struct out_hdr) < p->message_max
                        ? p->eng_max - sizeof(struct out_hdr)
                        : p->message_max);
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
        /* Each argument is followed by its NUL (see put_record()). */
        if (l >= len - off || in[off + l] != '\0')
            return mproc_fail(ctx, "malformed starmap arguments");
        args[i].data = in + off;
        args[i].len = l;
        off += (size_t)l + 1;
    }
    return fn(ctx, args, n, idx, out);
}

/*
 * The one task of function pools.  Runs each record in turn and appends
 * one result record per task.  A task that ran must have its result
 * sent, never be run again for want of room: so a task other than the
 * first starts only while the message has room for a result of the
 * largest size (message_max; the engine's limit is about twice that), and
 * the message ends before it otherwise (the host sends the rest again,
 * none of them started).
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

        if (done > 0 &&
            out->limit - out->len < sizeof(oh) + child_tmp.limit)
            break;
        memcpy(&h, s + off, sizeof(h));
        if (h.len >= len - off - sizeof(h) ||
            s[off + sizeof(h) + h.len] != '\0')
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
        /* Room was checked before the task ran (see above). */
        if (mproc_buf_append(out, &oh, sizeof(oh)) != MPROC_TASK_OK ||
            mproc_buf_append(out, child_tmp.data, child_tmp.len) !=
                MPROC_TASK_OK)
            return mproc_fail(ctx, "out of memory for results");
        done++;
        off += sizeof(h) + h.len + 1;
        if (stage != NULL && st + sizeof(oh) + child_tmp.len <= STAGE_BYTES) {
            memcpy(stage + st, &oh, sizeof(oh));
            if (child_tmp.len > 0) /* data may be NULL then */
                memcpy(stage + st + sizeof(oh), child_tmp.data,
                       child_tmp.len);
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
    }
    if (hook_die_after != NULL && done > 1 && off >= len)
        hook_die(hook_die_after);
    mproc__ctx_clear(ctx);
    return MPROC_TASK_OK;
}

static const struct mproc_task_def call_tasks[] = {
    {"call", call_task, "run the C functions submitted to the pool"},
    {NULL, NULL, NULL},
};

const struct mproc_plugin mproc__apool_call_desc = {
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

void
mproc__apool_res_clear(struct res *s)
{
    free(s->mem);
    memset(s, 0, sizeof(*s));
}

/* Drop one reference; under mu.  Returns true when the pool itself lost
 * its last reference (the caller destroys it after unlocking). */
bool
mproc__apool_job_unref(struct mproc_async *j)
{
    struct mproc_apool *p = j->pool;
    size_t i;

    if (--j->refs > 0)
        return false;
    if (j->res != NULL)
        for (i = 0; i < j->res_cap; i++)
            mproc__apool_res_clear(&j->res[i]);
    free(j->res);
    if (j->rr != &j->one_r && j->rr != NULL) {
        size_t bytes = j->res_cap * sizeof(*j->rr);
        if (bytes >= SPARE_RR_MIN && bytes <= SPARE_RR_BYTES &&
            j->res_cap > p->spare_n) {
            free(p->spare_rr);
            p->spare_rr = j->rr;
            p->spare_n = j->res_cap;
        } else {
            free(j->rr);
        }
    }
    while (j->arena != NULL) {
        struct arena_chunk *c = j->arena;
        j->arena = c->next;
        if (c->cap == ARENA_MAX && p->spare_nchunks < SPARE_CHUNKS) {
            c->next = p->spare_chunks;
            p->spare_chunks = c;
            p->spare_nchunks++;
        } else {
            free(c);
        }
    }
    mproc__apool_res_clear(&j->cur);
    free(j->msg);
    if (j->recycle)
        mproc__jobslab_put(p, j);
    else
        free(j);
    return --p->refs == 0;
}

void
mproc__apool_job_set_msg(struct mproc_async *j, const char *fmt, ...)
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

/* Every task of j has its result: queue it for notify(), which runs its
 * callback and only then makes it ready (as Python does: a waiter may
 * count on the callback having run).  Under mu. */
static void
check_ready(struct mproc_apool *p, struct mproc_async *j)
{
    if (j->complete || !j->in_done || j->completed != j->pulled)
        return;
    j->complete = true;
    p->bcast = true;
    /* The result thread's reference goes with the notification. */
    j->nnext = p->notify;
    p->notify = j;
}

void
mproc__apool_wake(struct mproc_apool *p)
{
    /* Relaxed: the waiters read seq under mu too; the futex call only
     * needs to see that it changed. */
    __atomic_add_fetch(&p->seq, 1, __ATOMIC_RELAXED);
    if (p->nwait > 0)
        syscall(SYS_futex, &p->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL,
                0);
}

void
mproc__apool_hint_huge(void *mem, size_t len)
{
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t a = ((uintptr_t)mem + huge - 1) & ~(huge - 1);
    uintptr_t e = ((uintptr_t)mem + len) & ~(huge - 1);

    if (e > a)
        (void)madvise((void *)a, e - a, MADV_HUGEPAGE); /* a hint only */
}

struct mproc_result *
mproc__apool_rr_alloc(struct mproc_apool *p, size_t n)
{
    struct mproc_result *rr = NULL;

    pthread_mutex_lock(&p->mu);
    if (p->spare_rr != NULL && p->spare_n >= n) {
        rr = p->spare_rr;
        p->spare_rr = NULL;
        p->spare_n = 0;
    }
    pthread_mutex_unlock(&p->mu);
    if (rr == NULL && (rr = calloc(n, sizeof(*rr))) != NULL)
        mproc__apool_hint_huge(rr, n * sizeof(*rr));
    return rr;
}

void
mproc__apool_spare_free(struct mproc_apool *p)
{
    free(p->spare_rr);
    p->spare_rr = NULL;
    p->spare_n = 0;
    while (p->spare_chunks != NULL) {
        struct arena_chunk *c = p->spare_chunks;
        p->spare_chunks = c->next;
        free(c);
    }
    p->spare_nchunks = 0;
}

/* `need` bytes from j's arena (8-aligned), or NULL without memory. */
static char *
arena_alloc(struct mproc_async *j, size_t need)
{
    struct arena_chunk *c = j->arena, *nc;
    size_t a = (need + 7) & ~(size_t)7, cap;
    char *m;

    if (c == NULL && j->inl_used + a <= sizeof(j->inl.b)) {
        m = j->inl.b + j->inl_used;
        j->inl_used += a;
        return m;
    }
    if (c != NULL && c->cap - c->used >= a) {
        m = c->data + c->used;
        c->used += a;
        return m;
    }
    cap = c == NULL ? ARENA_FIRST : 2 * c->cap;
    if (cap > ARENA_MAX)
        cap = ARENA_MAX;
    if (a > cap / 4) {
        /* Its own chunk, behind the current one, which keeps serving the
         * small results. */
        nc = malloc(sizeof(*nc) + a);
        if (nc == NULL)
            return NULL;
        nc->cap = nc->used = a;
        if (c != NULL) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = NULL;
            j->arena = nc;
            /* Too full for small results: the next one opens a chunk. */
        }
        return nc->data;
    }
    if (cap == ARENA_MAX && j->pool->spare_chunks != NULL) {
        nc = j->pool->spare_chunks;
        j->pool->spare_chunks = nc->next;
        j->pool->spare_nchunks--;
    } else if ((nc = malloc(sizeof(*nc) + cap)) == NULL) {
        return NULL;
    } else if (cap == ARENA_MAX) {
        mproc__apool_hint_huge(nc->data, cap);
    }
    nc->next = c;
    nc->cap = cap;
    nc->used = a;
    j->arena = nc;
    return nc->data;
}

/* Copy a result into *dst, its bytes into a new *mem, or into j's arena
 * when mem is NULL. */
static void
store(struct mproc_async *j, struct mproc_result *dst, char **mem,
      const struct mproc_result *src, uint64_t idx, int status,
      const void *data, size_t len, const char *message)
{
    size_t mlen = message != NULL ? strlen(message) : 0;
    size_t need = (status == 0 ? len : 0) + mlen + 1;
    char *m;

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
    if (mem != NULL) {
        free(*mem);
        *mem = m = malloc(need);
    } else {
        m = arena_alloc(j, need);
    }
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
            mproc__apool_job_set_msg(j, "%s", message ? message : "");
        else
            mproc__apool_job_set_msg(j, "item %llu: %s", (unsigned long long)idx,
                        message ? message : "");
    }
    if (!j->freed || j->fire_forget) {
        switch (j->kind) {
        case K_APPLY:
        case K_MAP:
            if (idx < j->res_cap)
                store(j, &j->rr[idx], NULL, src, idx, status, data, len,
                      message);
            break;
        case K_IMAP:
        case K_IMAP_UNORDERED:
            if (j->kind == K_IMAP)
                s = &j->res[idx % j->res_cap];
            else
                s = &j->res[(j->uhead + j->ucount++) % j->res_cap];
            store(j, &s->r, &s->mem, src, idx, status, data, len, message);
            s->done = true;
            p->bcast = true;
            break;
        }
    }
    check_ready(p, j);
}

/* ---- the queue ---- */

void
mproc__apool_job_enqueue(struct mproc_apool *p, struct mproc_async *j)
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
    /* An apply that takes its own turn sends it itself (api.c). */
    if (p->drive_job != j)
        mproc__apool_kick(p);
}

void
mproc__apool_job_input_done(struct mproc_apool *p, struct mproc_async *j)
{
    if (j->in_done)
        return;
    j->in_done = true;
    if (j->next != NULL)
        p->iter_jobs--;
    else
        p->known_left -= j->n_in - j->pos;
}

void
mproc__apool_job_unlink(struct mproc_apool *p, struct mproc_async *j)
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
        mproc__apool_job_input_done(p, j);
        return 0;
    }
    if (job_throttled(j))
        return 0;
    if (j->next == NULL && j->pos >= j->n_in) {
        /* An empty array: done before it began. */
        mproc__apool_job_input_done(p, j);
        check_ready(p, j);
        return 0;
    }
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
                    mproc__apool_job_set_msg(j, "input: at item %llu: %s",
                                (unsigned long long)j->pulled,
                                r == MPROC_EAGAIN
                                    ? "the input callback answered "
                                      "MPROC_EAGAIN, which a map's input "
                                      "may not"
                                    : mproc_strerror(r));
            }
            mproc__apool_job_input_done(p, j);
            check_ready(p, j);
            return 0;
        }
        if (j->kind == K_MAP && j->pulled >= j->res_cap) {
            size_t cap = j->res_cap ? 2 * j->res_cap : 64;
            struct mproc_result *nr = realloc(j->rr, cap * sizeof(*nr));
            if (nr == NULL) {
                j->in_error = MPROC_ENOMEM;
                mproc__apool_job_set_msg(j, "input: out of memory");
                mproc__apool_job_input_done(p, j);
                check_ready(p, j);
                return 0;
            }
            j->rr = nr;
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

/* A caller's mistake that would make the copy fault: bytes promised at
 * NULL (the item's, an argument list's or one argument's). */
static bool
null_data(const void *data, size_t len, const struct mproc_args *a)
{
    size_t i;

    if (a == NULL)
        return data == NULL && len > 0;
    if (a->v == NULL)
        return a->n > 0;
    for (i = 0; i < a->n; i++)
        if (a->v[i].data == NULL && a->v[i].len > 0)
            return true;
    return false;
}

static uint32_t
star_size(const struct mproc_args *a)
{
    size_t n = 4 + 4 * a->n, i;
    for (i = 0; i < a->n; i++)
        n += a->v[i].len + 1; /* and its NUL */
    return n > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)n;
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
    if (mproc_buf_reserve(b, sizeof(h) + h.len + 1) != MPROC_TASK_OK)
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
            b->data[b->len++] = '\0';
        }
    } else {
        if (len > 0)
            memcpy(b->data + b->len, data, len);
        b->len += len;
    }
    b->data[b->len++] = '\0'; /* the record's, after its payload */
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
    rt->tries = t->tries;
    rt->len = t->len;
    memcpy(rt->rec, msgbase + t->off, t->len);
    rt->next = p->rqhead;
    p->rqhead = rt;
    if (p->rqtail == NULL)
        p->rqtail = rt;
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
    /* A message of several tasks stays within message_max (one task may
     * take a few bytes more: its record's header and NUL). */
    size_t cap = p->message_max < BATCH_BYTES ? p->message_max : BATCH_BYTES;
    struct mproc_async *j;

    p->scratch.len = 0;
    /* In an apply's own turn, only its task (see api.c, drive_apply). */
    while (n < limit && p->rqhead != NULL && p->drive_job == NULL) {
        struct rtask *rt = p->rqhead;
        if (n > 0 && p->scratch.len + rt->len > cap)
            return n;
        if (mproc_buf_reserve(&p->scratch, rt->len) != MPROC_TASK_OK)
            return n;
        p->refs_tmp[n].job = rt->job;
        p->refs_tmp[n].idx = rt->idx;
        p->refs_tmp[n].off = (uint32_t)p->scratch.len;
        p->refs_tmp[n].len = (uint32_t)rt->len;
        p->refs_tmp[n].tries = rt->tries;
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
    while (j != NULL && n < limit &&
           (p->drive_job == NULL || j == p->drive_job)) {
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
                p->refs_tmp[0].tries = 0;
                *pdata = data;
                *plen = len;
                n = 1;
                break;
            }
            if (null_data(data, len, star)) {
                complete(p, j, idx, NULL, MPROC_EINVAL, NULL, 0,
                         star != NULL ? "an argument's data is NULL with a "
                                        "length above 0"
                                      : "the item's data is NULL with a "
                                        "length above 0");
                continue;
            }
            if ((star != NULL ? star_size(star) : len) > p->message_max) {
                char m[160];
                snprintf(m, sizeof(m),
                         "item is %zu bytes, more than message_max (%zu)",
                         star != NULL ? (size_t)star_size(star) : len,
                         p->message_max);
                complete(p, j, idx, NULL, MPROC_EMSGSIZE, NULL, 0, m);
                continue;
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
            p->refs_tmp[n].tries = 0;
            if (n > 0 && p->scratch.len > cap) {
                /* Over the limit: this task opens the next message (it was
                 * pulled already, so it waits first in line). */
                requeue(p, &p->refs_tmp[n], p->scratch.data);
                p->scratch.len = before;
                limit = stop = n;
                break;
            }
            n++;
            if (p->scratch.len >= cap)
                limit = stop = n;
        }
        if (n >= stop && stop > limit)
            limit = stop;
        if (j->in_done) {
            /* Off the queue: nothing more to pull from it. */
            struct mproc_async *nx = j->qnext;
            mproc__apool_job_unlink(p, j);
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

/* Keep the message's tasks under the engine index it will get.  The
 * table grows with what is in flight (which the engine bounds), never
 * with the age of the oldest message: results come back in any order. */
static int
ring_put(struct mproc_apool *p, struct batch *b)
{
    uint64_t i;

    if (p->bcount >= p->bmask + 1) {
        uint64_t cap = 2 * (p->bmask + 1);
        struct batch **nh = calloc(cap, sizeof(*nh));
        if (nh == NULL)
            return -1;
        for (i = 0; i <= p->bmask; i++)
            while (p->bhash[i] != NULL) {
                struct batch *x = p->bhash[i];
                p->bhash[i] = x->hnext;
                x->hnext = nh[x->index & (cap - 1)];
                nh[x->index & (cap - 1)] = x;
            }
        free(p->bhash);
        p->bhash = nh;
        p->bmask = cap - 1;
    }
    b->index = p->eng_next++;
    b->hnext = p->bhash[b->index & p->bmask];
    p->bhash[b->index & p->bmask] = b;
    p->bcount++;
    return 0;
}

static struct batch *
ring_take(struct mproc_apool *p, uint64_t index)
{
    struct batch **pp = &p->bhash[index & p->bmask], *b;

    for (; (b = *pp) != NULL; pp = &b->hnext)
        if (b->index == index) {
            *pp = b->hnext;
            p->bcount--;
            return b;
        }
    return NULL;
}

/* The engine's `next`: in the result thread. */
static int
eng_next_locked(struct mproc_apool *p, struct mproc_item *item);
static void
notify(struct mproc_apool *p);

/* r for task t: its attempts counting those of earlier messages (a
 * task retried after its own failure), in *tmp when they differ. */
static const struct mproc_result *
with_tries(const struct mproc_result *r, const struct taskref *t,
           struct mproc_result *tmp)
{
    if (t->tries == 0)
        return r;
    *tmp = *r;
    tmp->attempts += t->tries;
    return tmp;
}

/* The engine's `next`: in the result thread.  Pulling input can make a
 * job ready (its input failed, was empty, or its items were refused), and
 * nothing else would tell its waiters: the engine may sleep next, with no
 * result to come.  So every call ends by notifying. */
static int
eng_next(void *user, struct mproc_item *item)
{
    struct mproc_apool *p = user;
    bool pending;
    int r;

    mproc__apool_reg_refresh(p);
    pthread_mutex_lock(&p->mu);
    if (!p->began) {
        /* mproc_apool_new() waits for this (see there). */
        p->began = true;
        mproc__apool_wake(p);
    }
    r = eng_next_locked(p, item);
    pending = p->notify != NULL || p->bcast;
    pthread_mutex_unlock(&p->mu);
    if (pending)
        notify(p);
    return r;
}

static int
eng_next_locked(struct mproc_apool *p, struct mproc_item *item)
{
    const void *data = NULL;
    size_t len = 0;
    unsigned n, attempt;
    struct batch *b;

    if (p->bcount >= p->max_inflight &&
        (p->jhead != NULL || p->rqhead != NULL)) {
        /* Every worker has its chunk: the next waits for a free one
         * (eng_result kicks the engine then). */
        p->capped = true;
        p->waiting = true;
        return MPROC_EAGAIN;
    }
    for (attempt = 0;; attempt++) {
        n = build(p, &data, &len);
        if (n > 0)
            break;
        if (p->closed && !p->terminated && p->jhead == NULL &&
            p->rqhead == NULL && p->inflight_multi == 0)
            return 0;
        if (attempt > 0 || p->terminated || p->drive_job != NULL) {
            /* The engine sleeps on the eventfd now: a submission must
             * write it, even if one came (and its write was drained)
             * while we looked again and its job gave no message (an
             * empty or failing input). */
            p->waiting = true;
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
        return MPROC_ENOMEM;
    }
    b->n = n;
    memcpy(b->t, p->refs_tmp, n * sizeof(b->t[0]));
    p->inflight_tasks += n;
    if (n > 1)
        p->inflight_multi++;
    item->data = data;
    item->len = len;
    return 1;
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
    /* A message that took a few times the goal was as likely preempted
     * (a worker waiting for a CPU counts in its duration) as slow: halve
     * at most.  Dropping at once made batches of tiny tasks collapse on
     * a loaded machine, where the default chunksize then lost to a fixed
     * one (issue 13.3).  One far longer means long tasks: follow it. */
    if (want < p->target / 2 && r->duration < 10 * BATCH_SECONDS)
        want = p->target / 2;
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
    if (p->bcast)
        mproc__apool_wake(p);
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
        /* Release: pairs with the acquire load of a spinning waiter. */
        __atomic_store_n(&j->ready, true, __ATOMIC_RELEASE);
        mproc__apool_job_unref(j); /* never the pool's last: the application holds it */
    }
    mproc__apool_wake(p);
    pthread_mutex_unlock(&p->mu);
}

/* The engine's `on_result`: in the result thread. */
static int
eng_result(void *user, const struct mproc_result *r)
{
    struct mproc_apool *p = user;
    const char *base = r->item;
    struct mproc_result tmp;
    struct batch *b;
    uint32_t k;
    bool wake = false;

    mproc__apool_reg_refresh(p);
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
                     ? "cancelled: the pool was terminated before the task ended"
                     : r->message);
    } else if (r->status == 0) {
        const char *d = r->data;
        size_t off = 0;

        for (k = 0; k < b->n && off + sizeof(struct out_hdr) <= r->len; k++) {
            struct out_hdr oh;
            const struct mproc_result *rk = with_tries(r, &b->t[k], &tmp);
            memcpy(&oh, d + off, sizeof(oh));
            off += sizeof(oh);
            if (oh.len > r->len - off)
                break;
            if (oh.status == MPROC_ETASK && base != NULL && b->n == 1 &&
                !p->terminated && rk->attempts <= p->retries) {
                /* Its own failure, with attempts left: again, first in
                 * line (a pool with retries sends tasks one by one). */
                struct taskref t = b->t[k];
                t.tries = rk->attempts;
                requeue(p, &t, base);
                wake = true;
            } else if (oh.status == 0) {
                complete(p, b->t[k].job, b->t[k].idx, rk, 0, d + off, oh.len,
                         NULL);
            } else {
                /* Messages travel without their NUL: give one. */
                char *m = strndup(d + off, oh.len);
                complete(p, b->t[k].job, b->t[k].idx, rk, oh.status, NULL, 0,
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
        if (d > b->n)
            d = b->n;
        if (staged > d)
            staged = d;
        /* The tasks it finished and staged: their results. */
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
        /* One it finished whose result did not fit in the stage (the
         * worker ends the message there) ran: its result went with the
         * worker, as an unbatched task's would; it is not run again. */
        for (; k < d; k++)
            complete(p, b->t[k].job, b->t[k].idx, r, r->status, NULL, 0,
                     r->message);
        /* The one it was running fails; those after it never started.
         * When it had finished them all, nothing fails: it died after. */
        if (d < b->n) {
            requeue_range(p, b, d + 1, b->n, base);
            complete(p, b->t[d].job, b->t[d].idx, r, r->status, NULL, 0,
                     r->message);
        }
        wake = true;
    } else {
        for (k = 0; k < b->n; k++)
            complete(p, b->t[k].job, b->t[k].idx,
                     with_tries(r, &b->t[k], &tmp), r->status, NULL, 0,
                     r->status == MPROC_ECANCELED
                         ? "cancelled: the pool was terminated before the task ended"
                         : r->message);
    }
    if (b->n > 1 && --p->inflight_multi == 0 && p->closed)
        wake = true;
    if (p->capped) {
        /* A place is free: the engine must ask again (it waits for its
         * input descriptor since eng_next answered MPROC_EAGAIN). */
        p->capped = false;
        p->waiting = true;
        wake = true;
    }
    if (wake)
        mproc__apool_kick(p);
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
    for (i = 0; i <= p->bmask; i++) {
        struct batch *b;
        while ((b = p->bhash[i]) != NULL) {
            uint32_t k;
            p->bhash[i] = b->hnext;
            for (k = 0; k < b->n; k++)
                complete(p, b->t[k].job, b->t[k].idx, NULL, status, NULL, 0,
                         msg);
            free(b);
        }
    }
    p->bcount = 0;
    p->inflight_multi = 0;
    p->inflight_tasks = 0;
    for (j = p->jhead; j != NULL; j = nx) {
        nx = j->qnext;
        mproc__apool_job_unlink(p, j);
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
                mproc__apool_job_set_msg(j, "%s", msg);
        }
        mproc__apool_job_input_done(p, j);
        check_ready(p, j);
    }
}

void *
mproc__apool_engine_main(void *arg)
{
    struct mproc_apool *p = arg;
    char msg[MPROC_ERRMSG_MAX + 16];
    int r, st;

    tl_pool = p;
    r = mproc_pool_run(p->eng, eng_next, eng_result, p);
    mproc__apool_reg_refresh(p); /* no worker is left: nor are their handles */
    pthread_mutex_lock(&p->mu);
    if (p->terminated) {
        st = MPROC_ECANCELED;
        snprintf(msg, sizeof(msg), "cancelled: the pool was terminated before the task ended");
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

/* SPDX-License-Identifier: MIT */
/*
 * The Python-style Pool API (mproc_apool_*, mproc_async_*, mproc_imap_*):
 * creating, feeding, closing and joining a pool, and waiting for results.
 * How it works is told in api_int.h; the result thread is in
 * api_engine.c.
 */
#include "internal.h"

#include <errno.h>
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
#include "process/process_int.h"
#include "pool/pool_int.h"

static int
wait_until(struct mproc_apool *p, bool (*pred)(const void *), const void *arg,
           int timeout_ms);
static bool
pool_ended(const void *arg);
static bool
engine_began(const void *arg);

/*
 * apply's own turn of the engine.  A round trip through the result
 * thread is two sleeping hand-offs (the caller wakes it to send the
 * task, it wakes the caller with the answer), each costing more than the
 * task on these machines.  When the pool has nothing else to do, apply
 * does the engine's turn itself (mproc__pool_drive()): it sends its task
 * to an idle worker and reads the answer, while the result thread sleeps
 * on.  Only its own task is handed out in that turn, so no other job's
 * callback ever runs in the caller's thread.  It waits for the answer as
 * a blocking read does (the channel's spin, then its sleep).  The turn
 * holds the engine (time limits, other callers' tasks, terminate wait
 * for it), so it is short: its budget adapts as the wait's spin does
 * (spin_ready): doubled when the answer came in time, halved when not,
 * down to none, then a short try every DRIVE_PROBE applies.  Not on one
 * CPU: the worker needs one besides the caller's.
 */
#define DRIVE_START_NS 1000000LL
#define DRIVE_MAX_NS 2000000LL
#define DRIVE_MIN_NS 100000LL
#define DRIVE_PROBE 64u

/* ---- the pool ---- */

void
mproc__apool_pool_destroy(struct mproc_apool *p)
{
    mproc__apool_spare_free(p);
    mproc__jobslab_free_all(p);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->baton);
    free(p);
}

int
mproc_apool_new(mproc_apool_t **out, const struct mproc_pool_opts *o,
                mproc_err_t *err)
{
    struct mproc_apool *p = NULL;
    struct mproc_pool_opts eo;
    pthread_mutexattr_t ma;
    sigset_t all, old;
    bool mu_ok = false;
    int r;

    if (out == NULL)
        return mproc__err(err, MPROC_EINVAL, "pool: out is NULL");
    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    p->efd = p->cfd = -1;
    p->func = o->plugin == NULL && o->plugin_desc == NULL;
    if (mproc__process_is_daemon()) {
        /* As Python's: a pool's worker, or a daemon process, is ended
         * with its parent and may start no children (nor a pool). */
        r = mproc__err(err, MPROC_EPERM,
                       "a daemon process (a pool's worker, or a Process "
                       "started with daemon set) may not start a pool; "
                       "start it in the program that owns the workers");
        goto fail;
    }
    if (p->func && o->start_method != NULL &&
        strcmp(o->start_method, "fork") != 0) {
        bool known = strcmp(o->start_method, "spawn") == 0 ||
                     strcmp(o->start_method, "forkserver") == 0;

        r = known ? mproc__err(err, MPROC_ENOTSUP,
                               "function targets need the fork start "
                               "method, not '%s' (a function pointer means "
                               "nothing in a new image); use a plugin for "
                               "the other start methods", o->start_method)
                  : mproc__err(err, MPROC_EINVAL,
                               "unknown start method '%s'; expected fork, "
                               "spawn or forkserver", o->start_method);
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
    p->eng_max = o->message_max;
    if (p->func) {
        eo.plugin_desc = &mproc__apool_call_desc;
        eo.task = NULL;
        eo.chunksize = 1;
        /* Room for the results already in a message plus one of the
         * largest size (see ENG_SLACK); the engine refuses a message_max
         * over its limit, and a huge one stays as it is (one task per
         * message then). */
        if (o->message_max <= (ENG_MAX_LIMIT - ENG_SLACK) / 2)
            p->eng_max = 2 * o->message_max + ENG_SLACK;
        else if (o->message_max <= ENG_MAX_LIMIT)
            p->eng_max = ENG_MAX_LIMIT;
        eo.message_max = p->eng_max;
        p->can_batch = o->timeout_ms == 0 && o->retries == 0 &&
                       o->max_tasks_per_child == 0;
        p->retries = o->retries;
    }
    r = mproc_pool_new(&p->eng, &eo, err);
    if (r < 0)
        goto fail;
    p->nworkers = mproc_pool_workers(p->eng);
    p->max_inflight = (uint64_t)p->nworkers * (eo.chunksize ? eo.chunksize : 1);
    if (mproc__apool_reg_add(p) < 0) {
        r = mproc__err(err, MPROC_ENOMEM, "out of memory");
        goto fail;
    }
    p->message_max = o->message_max;
    p->initializer = o->initializer;
    p->initarg = o->initarg;
    p->target = 1;
    p->refs = 1;
    p->bmask = 63;
    p->bhash = calloc(p->bmask + 1, sizeof(*p->bhash));
    p->refs_tmp = calloc(MAX_BATCH, sizeof(*p->refs_tmp));
    if (p->bhash == NULL || p->refs_tmp == NULL) {
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
    /* apply's turn of the engine (drive_apply): where a spinning caller
     * does not take the CPU its worker needs. */
    pthread_mutex_init(&p->baton, NULL);
    p->can_drive = mproc_cpu_usable() > 1;
    p->drive_ns = DRIVE_START_NS;
    mproc__pool_set_baton(p->eng, &p->baton, p->efd);
    /* The result thread takes no signals: handlers belong to the
     * application's threads (the thread inherits this mask). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&p->thr, NULL, mproc__apool_engine_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        r = mproc__err(err, -r, "cannot start the result thread: %s",
                       strerror(r));
        goto fail;
    }
    p->thr_started = true;
    /* The engine starts a first worker at once, then asks for work.  Until
     * then that worker's channels are not in the registry of those that
     * other forked children close (api_engine.c): a pool created next
     * would start its own first worker in that window, and it would keep
     * this pool's worker from seeing the end of its tasks. */
    pthread_mutex_lock(&p->mu);
    while (wait_until(p, engine_began, p, -1) == MPROC_EINTR)
        ;
    pthread_mutex_unlock(&p->mu);
    *out = p;
    return 0;

fail:
    if (p->stage != NULL)
        munmap(p->stage, p->prog_len);
    mproc__apool_reg_del(p);
    mproc_pool_free(p->eng);
    if (p->efd >= 0)
        close(p->efd);
    if (p->cfd >= 0)
        close(p->cfd);
    mproc__buf_free(&p->scratch);
    free(p->bhash);
    free(p->refs_tmp);
    if (mu_ok) {
        pthread_mutex_destroy(&p->mu);
        pthread_mutex_destroy(&p->baton);
    }
    free(p);
    return r;
}

/* Whether the pool takes work; sets the message if not.  Under mu. */
static int
check_open(struct mproc_apool *p)
{
    if (p->broken) {
        mproc__apool_set_err(p, "the pool is broken: %s", p->broken_msg);
        return p->broken;
    }
    if (p->terminated) {
        mproc__apool_set_err(p, "the pool is terminated");
        return MPROC_ECLOSED;
    }
    if (p->closed) {
        mproc__apool_set_err(p, "the pool is closed");
        return MPROC_ECLOSED;
    }
    return 0;
}

/*
 * A forked child's copy of its parent's pool is not the child's: the
 * result thread and the workers are the parent's, and its locks may be
 * held by threads the child does not have.  Every call on it says so at
 * once, without a lock (the child may still have other threads: the
 * message is all they share).  MPROC_EINVAL, or 0 for the owner.
 */
static int
refuse_foreign(struct mproc_apool *p, const char *what)
{
    if (!mproc__apool_foreign(p))
        return 0;
    mproc__apool_set_err(p, "%s: the pool belongs to process %d: a forked "
                            "child cannot use its parent's pool (make one of "
                            "its own)",
                         what, (int)p->reg_owner);
    return MPROC_EINVAL;
}

/* The same for a result or an iterator of such a pool (the message is
 * the result's). */
static int
refuse_foreign_job(struct mproc_async *j, const char *what)
{
    if (!mproc__apool_foreign(j->pool))
        return 0;
    mproc__apool_job_set_msg(j, "%s: the pool belongs to process %d: a "
                                "forked child cannot wait for its parent's "
                                "results",
                             what, (int)j->pool->reg_owner);
    return MPROC_EINVAL;
}

static int
check_fn(struct mproc_apool *p, const void *fn, const char *what)
{
    if (p->func && fn == NULL) {
        mproc__apool_set_err(p, "%s: a function pool needs a function", what);
        return MPROC_EINVAL;
    }
    if (!p->func && fn != NULL) {
        mproc__apool_set_err(p, "%s: this pool runs its plugin's task; pass NULL as the "
                   "function", what);
        return MPROC_EINVAL;
    }
    return 0;
}

/* A new job; `j` is an apply job from a slab (zeroed: api_int.h) or
 * NULL. */
static struct mproc_async *
job_alloc(struct mproc_apool *p, struct mproc_async *j, int kind,
          size_t extra, const struct mproc_call_opts *call)
{
    size_t sz = kind == K_IMAP || kind == K_IMAP_UNORDERED
                    ? sizeof(struct mproc_imap)
                    : sizeof(*j);

    if (j != NULL)
        j->recycle = true;
    else if ((j = calloc(1, sz + extra)) == NULL)
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

/* Under mu: whether j, about to be queued, takes its own turn; *budget
 * then says how long. */
static bool
may_drive(struct mproc_apool *p, long long *budget)
{
    if (!p->can_drive || p->drive_job != NULL || !p->thr_started ||
        p->thr_done || p->closed || p->terminated || p->jhead != NULL ||
        p->rqhead != NULL || p->inflight_tasks != 0 || p->notify != NULL)
        return false;
    *budget = p->drive_ns;
    if (*budget == 0) {
        if (++p->drive_probe < DRIVE_PROBE)
            return false;
        p->drive_probe = 0;
        *budget = DRIVE_MIN_NS;
    }
    return true;
}

static bool
job_ready(void *arg)
{
    const struct mproc_async *j = arg;
    /* Acquire: pairs with notify()'s release store. */
    return __atomic_load_n(&j->ready, __ATOMIC_ACQUIRE);
}

/* MPROC_EINTR when a signal handler interrupted the turn, else 0. */
static int
drive_apply(struct mproc_apool *p, struct mproc_async *j, long long budget)
{
    int r = mproc__pool_drive(p->eng, job_ready, j, budget);

    pthread_mutex_lock(&p->mu);
    p->drive_job = NULL;
    /* What the turn did not take is the result thread's: j itself when
     * there was no turn, jobs queued meanwhile. */
    if (p->jhead != NULL || p->rqhead != NULL) {
        p->waiting = true;
        mproc__apool_kick(p);
    }
    if (r == 1)
        p->drive_ns = budget * 2 > DRIVE_MAX_NS ? DRIVE_MAX_NS
                      : budget * 2 < DRIVE_START_NS ? DRIVE_START_NS
                                                    : budget * 2;
    else if (r == 0 && (p->drive_ns = budget / 2) < DRIVE_MIN_NS)
        p->drive_ns = 0;
    pthread_mutex_unlock(&p->mu);
    return r == MPROC_EINTR ? r : 0;
}

/* Hand a new job to the queue, or say why not.  Takes mu.  drive: NULL,
 * or where to say how long j's own turn may be (0: none). */
static int
submit(struct mproc_apool *p, struct mproc_async *j, long long *drive)
{
    int r;

    pthread_mutex_lock(&p->mu);
    r = check_open(p);
    if (r == 0) {
        p->refs++;
        if (drive != NULL && may_drive(p, drive))
            p->drive_job = j;
        mproc__apool_job_enqueue(p, j);
    }
    pthread_mutex_unlock(&p->mu);
    return r;
}

/* An apply job of fn(data): `j` recycled, or NULL for a new one; NULL
 * without memory. */
static struct mproc_async *
apply_job(struct mproc_apool *p, struct mproc_async *j, mproc_task_fn fn,
          const void *data, size_t len, const struct mproc_call_opts *call,
          bool forget)
{
    j = job_alloc(p, j, K_APPLY, len, call);
    if (j == NULL)
        return NULL;
    j->fkind = F_PLAIN;
    j->fn = fn;
    j->own = (const char *)(j + 1);
    j->own_len = len;
    if (len > 0)
        memcpy((char *)(j + 1), data, len);
    j->n_in = 1;
    j->rr = &j->one_r;
    j->res_cap = 1;
    if (forget) {
        /* Fire and forget: only the result thread holds it. */
        j->fire_forget = true;
        j->refs = 1;
    }
    return j;
}

/* apply_async, and apply with `drive` (see submit()). */
static int
apply_submit(mproc_apool_t *p, mproc_task_fn fn, const void *data,
             size_t len, const struct mproc_call_opts *call,
             mproc_async_t **out, long long *drive)
{
    struct mproc_async *j = NULL;
    int r;

    if (out != NULL)
        *out = NULL;
    if (drive != NULL)
        *drive = 0;
    if ((r = refuse_foreign(p, drive != NULL ? "apply" : "apply_async")) < 0)
        return r;
    if (data == NULL && len > 0) {
        pthread_mutex_lock(&p->mu);
        mproc__apool_set_err(p, "%s: data is NULL with a length of %zu",
                             drive != NULL ? "apply" : "apply_async", len);
        pthread_mutex_unlock(&p->mu);
        return MPROC_EINVAL;
    }
    pthread_mutex_lock(&p->mu);
    r = check_fn(p, (const void *)fn, "apply_async");
    if (r == 0 && len <= APPLY_INLINE && (r = check_open(p)) == 0) {
        /* A job from the slabs: taken, filled and queued under this one
         * lock (the lock is what the result thread and the callers
         * contend for). */
        if ((j = mproc__jobslab_get(p)) == NULL) {
            mproc__apool_set_err(p, "apply_async: out of memory");
            pthread_mutex_unlock(&p->mu);
            return MPROC_ENOMEM;
        }
        apply_job(p, j, fn, data, len, call, out == NULL);
        p->refs++;
        if (drive != NULL && may_drive(p, drive))
            p->drive_job = j;
        mproc__apool_job_enqueue(p, j);
        pthread_mutex_unlock(&p->mu);
        if (out != NULL)
            *out = j;
        return 0;
    }
    pthread_mutex_unlock(&p->mu);
    if (r < 0)
        return r;
    j = apply_job(p, NULL, fn, data, len, call, out == NULL);
    if (j == NULL) {
        pthread_mutex_lock(&p->mu);
        mproc__apool_set_err(p, "apply_async: out of memory");
        pthread_mutex_unlock(&p->mu);
        return MPROC_ENOMEM;
    }
    r = submit(p, j, drive);
    if (r < 0) {
        free(j);
        return r;
    }
    if (out != NULL)
        *out = j;
    return 0;
}

int
mproc_apool_apply_async(mproc_apool_t *p, mproc_task_fn fn, const void *data,
                        size_t len, const struct mproc_call_opts *call,
                        mproc_async_t **out)
{
    if (p == NULL)
        return MPROC_EINVAL;
    return apply_submit(p, fn, data, len, call, out, NULL);
}

static int
wait_ready(mproc_async_t *ar, int timeout_ms);

int
mproc_apool_apply(mproc_apool_t *p, mproc_task_fn fn, const void *data,
                  size_t len, mproc_async_t **out)
{
    long long budget;
    int r;

    if (p == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if ((r = refuse_foreign(p, "apply")) < 0)
        return r;
    if (mproc__apool_in_result_thread(p)) {
        pthread_mutex_lock(&p->mu);
        mproc__apool_set_err(p, "apply: waiting in a callback would deadlock");
        pthread_mutex_unlock(&p->mu);
        return MPROC_EINVAL;
    }
    r = apply_submit(p, fn, data, len, NULL, out, &budget);
    if (r < 0)
        return r;
    if (budget > 0 && drive_apply(p, *out, budget) == MPROC_EINTR &&
        !job_ready(*out))
        return MPROC_EINTR; /* as the wait below would */
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
    if ((r = refuse_foreign(p, what)) < 0)
        return r;
    pthread_mutex_lock(&p->mu);
    r = check_fn(p, sfn != NULL ? (const void *)sfn : (const void *)fn,
                 what);
    if (r == 0 && targs != NULL && !p->func) {
        mproc__apool_set_err(p, "%s: starmap needs a function pool", what);
        r = MPROC_EINVAL;
    }
    if (r == 0 && in != NULL && in->items != NULL && in->next != NULL) {
        mproc__apool_set_err(p, "%s: give items or a next callback, not both", what);
        r = MPROC_EINVAL;
    }
    /* An empty input is a call with no tasks, ready at once with zero
     * results, as in Python; only a missing array of some items is an
     * error. */
    if (r == 0 && !iter && n > 0 &&
        ((in != NULL && in->items == NULL) || (in == NULL && targs == NULL))) {
        mproc__apool_set_err(p, "%s: no input (a count of %zu items without "
                             "an array)", what, n);
        r = MPROC_EINVAL;
    }
    for (i = 0; r == 0 && targs != NULL && i < ntargs; i++)
        if (targs[i].n > MPROC_STAR_MAX) {
            mproc__apool_set_err(p, "%s: task %zu has %zu arguments, more than "
                       "MPROC_STAR_MAX (%d)", what, i, targs[i].n,
                    MPROC_STAR_MAX);
            r = MPROC_EINVAL;
        }
    pthread_mutex_unlock(&p->mu);
    if (r < 0)
        return r;
    j = job_alloc(p, NULL, kind, 0, call);
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
        if (!iter && n > 0) {
            if ((j->rr = mproc__apool_rr_alloc(p, n)) == NULL)
                goto nomem;
        }
    } else {
        j->res_cap = call != NULL && call->buffer > 0 ? call->buffer
                                                      : IMAP_BUFFER;
        j->res = calloc(j->res_cap, sizeof(*j->res));
        if (j->res == NULL)
            goto nomem;
    }
    r = submit(p, j, NULL);
    if (r < 0) {
        free(j->res);
        free(j->rr);
        free(j);
        return r;
    }
    *out = j;
    return 0;

nomem:
    if (j != NULL) {
        free(j->res);
        free(j->rr);
    }
    free(j);
    pthread_mutex_lock(&p->mu);
    mproc__apool_set_err(p, "%s: out of memory", what);
    pthread_mutex_unlock(&p->mu);
    return MPROC_ENOMEM;
}

int
mproc_apool_map_async(mproc_apool_t *p, mproc_task_fn fn,
                      const struct mproc_input *in,
                      const struct mproc_call_opts *call, mproc_async_t **out)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (in == NULL && refuse_foreign(p, "map_async") == 0) {
        *out = NULL;
        pthread_mutex_lock(&p->mu);
        mproc__apool_set_err(p, "map_async: no input");
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
    int r = refuse_foreign(p, what);

    if (r < 0 || !mproc__apool_in_result_thread(p))
        return r;
    pthread_mutex_lock(&p->mu);
    mproc__apool_set_err(p, "%s: waiting in a callback would deadlock", what);
    pthread_mutex_unlock(&p->mu);
    return MPROC_EINVAL;
}

int
mproc_apool_map(mproc_apool_t *p, mproc_task_fn fn,
                const struct mproc_input *in,
                const struct mproc_call_opts *call, mproc_async_t **out)
{
    int r;

    if (p == NULL)
        return MPROC_EINVAL;
    r = refuse_in_callback(p, "map");
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
    if (p == NULL)
        return MPROC_EINVAL;
    if (fn == NULL && p->func && refuse_foreign(p, "starmap_async") == 0) {
        *out = NULL;
        pthread_mutex_lock(&p->mu);
        mproc__apool_set_err(p, "starmap_async: a function pool needs a function");
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
    int r;

    if (p == NULL)
        return MPROC_EINVAL;
    r = refuse_in_callback(p, "starmap");
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

    if (p == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (in == NULL && refuse_foreign(p, "imap") == 0) {
        pthread_mutex_lock(&p->mu);
        mproc__apool_set_err(p, "imap: no input");
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

    if (p == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (in == NULL && refuse_foreign(p, "imap_unordered") == 0) {
        pthread_mutex_lock(&p->mu);
        mproc__apool_set_err(p, "imap_unordered: no input");
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
    int r;

    if (p == NULL)
        return MPROC_EINVAL;
    r = refuse_foreign(p, "close");
    if (r < 0)
        return r;
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    p->waiting = true; /* the thread must look again: write the eventfd */
    mproc__apool_kick(p);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int
mproc_apool_terminate(mproc_apool_t *p)
{
    uint64_t one = 1;
    int r;

    if (p == NULL)
        return MPROC_EINVAL;
    r = refuse_foreign(p, "terminate");
    if (r < 0)
        return r;
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

    if (p == NULL)
        return MPROC_EINVAL;
    if (refuse_in_callback(p, "join") < 0)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (!p->closed && !p->terminated) {
        mproc__apool_set_err(p, "join: close() or terminate() the pool first");
        pthread_mutex_unlock(&p->mu);
        return MPROC_EINVAL;
    }
    r = wait_until(p, pool_ended, p, -1);
    if (r < 0) {
        mproc__apool_set_err(p, "join: interrupted by a signal");
        pthread_mutex_unlock(&p->mu);
        return r;
    }
    do_join = !p->joined;
    p->joined = true;
    r = p->broken;
    if (r < 0)
        mproc__apool_set_err(p, "the pool is broken: %s", p->broken_msg);
    pthread_mutex_unlock(&p->mu);
    if (do_join)
        pthread_join(p->thr, NULL);
    return r;
}

unsigned
mproc_apool_workers(const mproc_apool_t *p)
{
    if (p == NULL)
        return 0;
    return p->nworkers;
}

const char *
mproc_apool_errmsg(const mproc_apool_t *p)
{
    if (p == NULL)
        return "pool: none";
    return p->errmsg;
}

void
mproc_apool_free(mproc_apool_t *p)
{
    bool last;

    if (p == NULL)
        return;
    /* A forked child's copy: the parent's, left alone (see
     * refuse_foreign; the engine's free does the same). */
    if (mproc__apool_foreign(p))
        return;
    if (!p->joined) {
        mproc_apool_terminate(p);
        while (mproc_apool_join(p) == MPROC_EINTR)
            ;
    }
    mproc__apool_reg_del(p);
    mproc_pool_free(p->eng);
    p->eng = NULL;
    if (p->stage != NULL)
        munmap(p->stage, p->prog_len);
    close(p->efd);
    close(p->cfd);
    mproc__buf_free(&p->scratch);
    free(p->bhash);
    free(p->refs_tmp);
    pthread_mutex_lock(&p->mu);
    last = --p->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (last)
        mproc__apool_pool_destroy(p);
}

/* ---- async results ---- */

/*
 * Under mu: wait until pred(arg) holds.  Returns 0; MPROC_EAGAIN when
 * timeout_ms (-1: none) passed first; MPROC_EINTR when a signal handler
 * ran in this thread and the kernel did not restart the sleep (see
 * mproc_async_get() in pool.h).  Waiters sleep on p->seq, which
 * mproc__apool_wake() bumps under mu: a waiter reads it under mu before
 * it sleeps, so a wake-up between its unlock and its sleep is not lost
 * (the futex call sees a changed word and returns at once).
 */
static int
wait_until(struct mproc_apool *p, bool (*pred)(const void *), const void *arg,
           int timeout_ms)
{
    struct timespec dl = {0, 0}, now, rel;
    uint32_t seq;
    long r;
    int e;

    if (timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
    }
    while (!pred(arg)) {
        if (timeout_ms == 0)
            return MPROC_EAGAIN;
        if (timeout_ms > 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            rel.tv_sec = dl.tv_sec - now.tv_sec;
            rel.tv_nsec = dl.tv_nsec - now.tv_nsec;
            if (rel.tv_nsec < 0) {
                rel.tv_sec--;
                rel.tv_nsec += 1000000000L;
            }
            if (rel.tv_sec < 0)
                return MPROC_EAGAIN;
        }
        seq = p->seq;
        p->nwait++;
        pthread_mutex_unlock(&p->mu);
        /* FUTEX_WAIT measures its relative timeout on CLOCK_MONOTONIC. */
        r = syscall(SYS_futex, &p->seq, FUTEX_WAIT_PRIVATE, seq,
                    timeout_ms > 0 ? &rel : NULL, NULL, 0);
        e = errno;
        pthread_mutex_lock(&p->mu);
        p->nwait--;
        if (r < 0 && e == EINTR && !pred(arg))
            return MPROC_EINTR;
    }
    return 0;
}

/* The result is there for this thread: ready, or complete and this is
 * its callback (in the result thread) asking. */
static bool
job_settled(const void *arg)
{
    const struct mproc_async *ar = arg;
    return ar->ready ||
           (ar->complete && mproc__apool_in_result_thread(ar->pool));
}

static bool
pool_ended(const void *arg)
{
    return ((const struct mproc_apool *)arg)->thr_done;
}

static bool
engine_began(const void *arg)
{
    const struct mproc_apool *p = arg;
    return p->began || p->thr_done;
}

/*
 * Under mu, with little in flight (apply's round trip): look for the
 * result for a while before sleeping.  A sleep and wake-up costs tens of
 * microseconds on these machines, the whole round trip not much more.
 * But this thread's CPU is one that the result thread and the worker
 * need: when processes outnumber CPUs, spinning delays the very result it
 * waits for.  So the budget adapts (issue 13.3), as the channels' spins
 * do: it doubles (up to SPIN_MAX_NS) when the result came during the
 * spin and halves when it did not, down to none; then one short try
 * every SPIN_PROBE waits finds out whether CPUs became free.  Not with
 * much in flight at all: that spin would take the workers' CPU.
 */
#define SPIN_START_NS 100000LL
#define SPIN_MAX_NS 1000000LL
#define SPIN_MIN_NS 5000LL
#define SPIN_PROBE 64u

static void
spin_ready(struct mproc_apool *p, mproc_async_t *ar)
{
    long long t0, budget = p->spin_ns;
    bool got;
    int k = 0;

    if (p->spin_probe == 0 && budget == 0)
        budget = SPIN_START_NS; /* the first wait */
    if (budget == 0) {
        if (++p->spin_probe < SPIN_PROBE)
            return;
        budget = SPIN_MIN_NS;
    }
    p->spin_probe = 1;
    pthread_mutex_unlock(&p->mu);
    t0 = mproc__now_ns();
    while (!(got = __atomic_load_n(&ar->ready, __ATOMIC_ACQUIRE)) &&
           (++k & 63 || mproc__now_ns() - t0 < budget))
        __builtin_ia32_pause();
    pthread_mutex_lock(&p->mu);
    if (got)
        budget = budget * 2 > SPIN_MAX_NS ? SPIN_MAX_NS : budget * 2;
    else if ((budget /= 2) < SPIN_MIN_NS)
        budget = 0;
    p->spin_ns = budget;
}

/* Under mu: wait for ar, refusing to block the result thread. */
static int
wait_locked(mproc_async_t *ar, int timeout_ms)
{
    struct mproc_apool *p = ar->pool;

    if (!job_settled(ar) && timeout_ms != 0 &&
        mproc__apool_in_result_thread(p) && !p->thr_done) {
        mproc__apool_job_set_msg(ar, "waiting in a callback would deadlock");
        return MPROC_EINVAL;
    }
    if (!ar->ready && timeout_ms != 0 && p->iter_jobs == 0 &&
        p->known_left + p->inflight_tasks <= p->nworkers)
        spin_ready(p, ar);
    return wait_until(p, job_settled, ar, timeout_ms);
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

    if (ar == NULL)
        return MPROC_EINVAL;
    if (results != NULL)
        *results = NULL;
    if (n != NULL)
        *n = 0;
    if ((r = refuse_foreign_job(ar, "get")) < 0)
        return r;
    pthread_mutex_lock(&ar->pool->mu);
    r = wait_locked(ar, timeout_ms);
    if (r == 0) {
        if (results != NULL)
            *results = ar->rr;
        if (n != NULL)
            *n = ar->kind == K_APPLY ? 1 : (size_t)ar->pulled;
        r = ar->failed ? ar->status : ar->in_error;
    } else if (r == MPROC_EAGAIN) {
        mproc__apool_job_set_msg(ar, "not ready after %d ms", timeout_ms);
    } else if (r == MPROC_EINTR) {
        mproc__apool_job_set_msg(ar, "interrupted by a signal");
    }
    pthread_mutex_unlock(&ar->pool->mu);
    return r;
}

int
mproc_async_wait(mproc_async_t *ar, int timeout_ms)
{
    int r;

    if (ar == NULL)
        return MPROC_EINVAL;
    r = refuse_foreign_job(ar, "wait");
    return r < 0 ? r : wait_ready(ar, timeout_ms);
}

bool
mproc_async_ready(mproc_async_t *ar)
{
    bool r;

    if (ar == NULL)
        return false;
    if (mproc__apool_foreign(ar->pool))
        return false; /* never, here */
    pthread_mutex_lock(&ar->pool->mu);
    r = job_settled(ar);
    pthread_mutex_unlock(&ar->pool->mu);
    return r;
}

int
mproc_async_successful(mproc_async_t *ar)
{
    int r;

    if (ar == NULL)
        return MPROC_EINVAL;
    if ((r = refuse_foreign_job(ar, "successful")) < 0)
        return r;
    pthread_mutex_lock(&ar->pool->mu);
    if (!job_settled(ar)) {
        mproc__apool_job_set_msg(ar, "successful: the result is not ready yet");
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
    if (ar == NULL)
        return "result: none";
    return ar->msg != NULL ? ar->msg : "";
}

/* The application lets go of a job (async result or iterator). */
static void
job_release(struct mproc_async *j)
{
    struct mproc_apool *p = j->pool;
    bool last;

    if (mproc__apool_foreign(p))
        return; /* the parent's (see refuse_foreign) */
    pthread_mutex_lock(&p->mu);
    j->freed = true;
    if (!j->in_done) {
        /* Read no more input: the array may be gone after this. */
        mproc__apool_job_input_done(p, j);
        mproc__apool_job_unlink(p, j);
        mproc__apool_kick(p); /* a closed pool may have nothing left to wait for */
        if (!j->complete && j->completed == j->pulled) {
            j->complete = j->ready = true;
            j->refs--; /* the result thread's: nothing more will come */
        }
    }
    last = mproc__apool_job_unref(j);
    pthread_mutex_unlock(&p->mu);
    if (last)
        mproc__apool_pool_destroy(p);
}

void
mproc_async_free(mproc_async_t *ar)
{
    if (ar == NULL)
        return;
    job_release(ar);
}

/* ---- imap iterators ---- */

static bool
imap_has_one(const struct mproc_async *j)
{
    return j->kind == K_IMAP ? j->res[j->consumed % j->res_cap].done
                             : j->ucount > 0;
}

static bool
imap_at_end(const struct mproc_async *j)
{
    return j->in_done && j->consumed == j->pulled;
}

static bool
imap_settled(const void *arg)
{
    return imap_has_one(arg) || imap_at_end(arg);
}

int
mproc_imap_next(mproc_imap_t *it, int timeout_ms,
                const struct mproc_result **r)
{
    struct mproc_async *j;
    struct mproc_apool *p;
    struct res *s;
    int rc;

    if (it == NULL)
        return MPROC_EINVAL;
    j = &it->a;
    p = j->pool;
    *r = NULL;
    if ((rc = refuse_foreign_job(j, "next")) < 0)
        return rc;
    pthread_mutex_lock(&p->mu);
    mproc__apool_res_clear(&j->cur);
    if (!imap_settled(j) && timeout_ms != 0 &&
        mproc__apool_in_result_thread(p)) {
        mproc__apool_job_set_msg(j, "waiting in a callback would deadlock");
        pthread_mutex_unlock(&p->mu);
        return MPROC_EINVAL;
    }
    rc = wait_until(p, imap_settled, j, timeout_ms);
    if (rc < 0) {
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    if (imap_has_one(j)) {
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
            mproc__apool_kick(p);
        *r = &j->cur.r;
        rc = 1;
    } else if (j->in_error != 0 && !j->in_error_told) {
        j->in_error_told = true;
        rc = j->in_error;
        /* An iterator has no errmsg of its own: say why on the pool's
         * (j->msg is the input's or the pool's reason, unless a task's
         * failure took it first). */
        mproc__apool_set_err(p, "next: %s",
                             j->msg != NULL && !j->failed
                                 ? j->msg : mproc_strerror(rc));
    } else {
        rc = 0;
    }
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

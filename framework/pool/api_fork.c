/* SPDX-License-Identifier: MIT */
/*
 * The Pool API and fork (see api_int.h): the registry of every pool's
 * worker channels, which a child forked anywhere in the process closes;
 * the window around a worker's start in which no other thread forks; the
 * names of pool workers (ForkPoolWorker-N ...) and their handles for
 * mproc_active_children().
 */
#include "internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mproc/pool.h>
#include <mproc/process.h>

#include "pool/api_int.h"
#include "pool/pool_int.h"
#include "process/process_int.h"

/* The pool whose result thread runs here; in a worker forked from that
 * thread, the pool it belongs to (the child is a copy of the thread). */
__thread struct mproc_apool *mproc__apool_tl;
#define tl_pool mproc__apool_tl

/* ---- other pools' channels, closed in forked children ---- */

/*
 * A worker sees the end of its tasks when every write side of its task
 * channel is closed.  A child forked by another thread (another pool's
 * worker, a Process, the application's own fork) inherits that side and
 * keeps it open for its whole life, so close() + join() of this pool
 * would wait for the retirement timeout and kill its workers before
 * their fini.  So a pool's channels are entered in a registry as soon as
 * they are open (mproc__fork_window_opened), and dropped when their
 * worker is gone (mproc__apool_reg_refresh, after each engine call); a
 * child forked anywhere in the process closes every registered
 * descriptor of the other pools, if it is still the same file (the
 * number may have been reused).  A worker's own pool's are closed by
 * the engine (start.c).
 */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mproc_apool *reg_head;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

/* Held from the start of a worker until its new channels are in the
 * registry (mproc__fork_window_begin to _opened): a fork by another
 * thread in between would copy them unregistered.  Not held across the
 * worker's own fork, so no other atfork handler ever runs under it.
 * Taken before reg_mu, never after. */
static pthread_mutex_t win_mu = PTHREAD_MUTEX_INITIALIZER;
static __thread bool tl_window; /* this thread holds win_mu */

static void
reg_prepare(void)
{
    pthread_mutex_lock(&win_mu);
    pthread_mutex_lock(&reg_mu);
}

static void
reg_parent(void)
{
    pthread_mutex_unlock(&reg_mu);
    pthread_mutex_unlock(&win_mu);
}

/* In the child, right after fork: async-signal-safe calls only. */
static void
reg_child(void)
{
    struct mproc_apool *q;
    struct stat st;
    size_t i;

    for (q = reg_head; q != NULL; q = q->reg_next) {
        /* A worker of q: q's engine closes q's other channels itself.
         * Any other fork in q's result thread (a callback's) closes them
         * here. */
        if (q == tl_pool && q->naming)
            continue;
        for (i = 0; i < q->reg_n; i++)
            if (fstat(q->reg[i].fd, &st) == 0 &&
                st.st_dev == q->reg[i].dev && st.st_ino == q->reg[i].ino)
                close(q->reg[i].fd);
    }
    if (tl_pool != NULL && tl_pool->naming)
        mproc__process_set_identity(tl_pool->wname, tl_pool->hostpid,
                                    tl_pool->hostname);
    /* The child has one thread: start the locks afresh. */
    pthread_mutex_init(&reg_mu, NULL);
    pthread_mutex_init(&win_mu, NULL);
    tl_window = false;
}

/* mproc_active_children()'s hook: this process's live pool workers. */
static size_t
reg_workers(mproc_process_t **out, size_t max)
{
    struct mproc_apool *q;
    size_t n = 0, i;

    pthread_mutex_lock(&reg_mu);
    for (q = reg_head; q != NULL; q = q->reg_next) {
        if (q->reg_owner != getpid())
            continue; /* a forked child's copy of its parent's pool */
        for (i = 0; i < q->wdead_n; i++)
            mproc__process_worker_free(q->wdead[i]);
        q->wdead_n = 0;
        for (i = 0; i < q->nworkers; i++)
            if (q->whandle[i] != NULL) {
                if (n < max)
                    out[n] = q->whandle[i];
                n++;
            }
    }
    pthread_mutex_unlock(&reg_mu);
    return n;
}

static void
reg_init(void)
{
    mproc__process_pool_workers = reg_workers;
    pthread_atfork(reg_prepare, reg_parent, reg_child);
}

/* Under reg_mu: worker slot i is now process pid (0: none). */
static void
reg_worker(struct mproc_apool *p, unsigned i, pid_t pid)
{
    char name[48];

    if (p->whandle[i] != NULL) {
        mproc__process_worker_end(p->whandle[i]);
        if (p->wdead_n == p->wdead_cap) {
            size_t cap = p->wdead_cap ? 2 * p->wdead_cap : 8;
            struct mproc_process **nd =
                realloc(p->wdead, cap * sizeof(*nd));
            if (nd == NULL) {
                /* Free it now: a handle still borrowed is the lesser
                 * risk than none ever freed. */
                mproc__process_worker_free(p->whandle[i]);
                p->whandle[i] = NULL;
                goto add;
            }
            p->wdead = nd;
            p->wdead_cap = cap;
        }
        p->wdead[p->wdead_n++] = p->whandle[i];
        p->whandle[i] = NULL;
    }
add:
    p->wpid[i] = pid;
    if (pid == 0)
        return;
    if (p->wn_len > 0) {
        memcpy(name, p->wnames[p->wn_head], sizeof(name));
        p->wn_head = (p->wn_head + 1) % p->wn_cap;
        p->wn_len--;
    } else {
        snprintf(name, sizeof(name), "PoolWorker-%d", (int)pid);
    }
    p->whandle[i] = mproc__process_worker_new(name, pid);
}

static void
reg_free(struct mproc_apool *p)
{
    size_t i;

    for (i = 0; p->whandle != NULL && i < p->nworkers; i++)
        mproc__process_worker_free(p->whandle[i]);
    for (i = 0; i < p->wdead_n; i++)
        mproc__process_worker_free(p->wdead[i]);
    free(p->wdead);
    free(p->whandle);
    free(p->wnames);
    free(p->wpid);
    free(p->wpid_tmp);
    free(p->reg);
    free(p->reg_tmp);
    p->reg = NULL;
    p->reg_tmp = NULL;
    p->whandle = NULL;
    p->wdead = NULL;
    p->wnames = NULL;
    p->wpid = p->wpid_tmp = NULL;
    p->wdead_n = p->wdead_cap = 0;
}

int
mproc__apool_reg_add(struct mproc_apool *p)
{
    /* The live workers' host sides, and every side of the one starting. */
    p->reg_cap = ((size_t)p->nworkers * 2 + 4) * MPROC__CHAN_MAX_FDS;
    p->reg = calloc(p->reg_cap, sizeof(*p->reg));
    p->reg_tmp = calloc(p->reg_cap, sizeof(*p->reg_tmp));
    p->wpid = calloc(p->nworkers, sizeof(*p->wpid));
    p->wpid_tmp = calloc(p->nworkers, sizeof(*p->wpid_tmp));
    p->whandle = calloc(p->nworkers, sizeof(*p->whandle));
    p->wn_cap = p->nworkers + 4;
    p->wnames = calloc(p->wn_cap, sizeof(*p->wnames));
    p->reg_owner = getpid();
    if (p->reg == NULL || p->reg_tmp == NULL || p->wpid == NULL ||
        p->wpid_tmp == NULL || p->whandle == NULL || p->wnames == NULL) {
        reg_free(p);
        return MPROC_ENOMEM;
    }
    pthread_once(&reg_once, reg_init);
    pthread_mutex_lock(&reg_mu);
    p->reg_next = reg_head;
    reg_head = p;
    pthread_mutex_unlock(&reg_mu);
    return 0;
}

void
mproc__apool_reg_del(struct mproc_apool *p)
{
    struct mproc_apool **pp;

    if (p->reg == NULL)
        return;
    pthread_mutex_lock(&reg_mu);
    for (pp = &reg_head; *pp != NULL; pp = &(*pp)->reg_next)
        if (*pp == p) {
            *pp = p->reg_next;
            break;
        }
    pthread_mutex_unlock(&reg_mu);
    reg_free(p);
}

const char *
mproc__fork_window_begin(const char *method, const char **parent_name)
{
    struct mproc_apool *p = tl_pool;

    pthread_mutex_lock(&win_mu);
    tl_window = true;
    /* Only a Pool API pool's engine runs in a thread with tl_pool set;
     * the application's callbacks run there too, but start no worker. */
    if (p == NULL || p->reg == NULL || p->reg_owner != getpid())
        return NULL;
    snprintf(p->wname, sizeof(p->wname), "%sPoolWorker-%u",
             strcmp(method, "spawn") == 0        ? "Spawn"
             : strcmp(method, "forkserver") == 0 ? "ForkServer"
                                                 : "Fork",
             (unsigned)mproc__process_next_id());
    snprintf(p->hostname, sizeof(p->hostname), "%s",
             mproc_process_name(mproc_current_process()));
    p->hostpid = getpid();
    p->naming = true; /* reg_child: the fork in this window is the worker */
    *parent_name = p->hostname;
    return p->wname;
}

/* Under reg_mu: enter what `n` descriptors of fds[] are now. */
static void
reg_put(struct mproc_apool *p, const int *fds, size_t n)
{
    struct stat st;
    size_t i;

    for (i = 0; i < n && p->reg_n < p->reg_cap; i++)
        if (fstat(fds[i], &st) == 0) {
            p->reg[p->reg_n].fd = fds[i];
            p->reg[p->reg_n].dev = st.st_dev;
            p->reg[p->reg_n].ino = st.st_ino;
            p->reg_n++;
        }
}

/* Under reg_mu: enter every side of a new worker's channel. */
static void
reg_chan(struct mproc_apool *p, struct mproc_chan *ch)
{
    unsigned char blob[MPROC__CHAN_BLOB_MAX];
    int f[MPROC__CHAN_MAX_FDS];
    size_t k, len;
    unsigned s;

    for (s = MPROC__CHAN_RD; ch != NULL && s <= MPROC__CHAN_WR; s <<= 1) {
        k = MPROC__CHAN_MAX_FDS;
        len = sizeof(blob);
        if ((ch->sides & s) &&
            ch->ops->export_side(ch, s, f, &k, blob, &len) == 0)
            reg_put(p, f, k);
    }
}

void
mproc__fork_window_opened(struct mproc_chan *task, struct mproc_chan *result)
{
    struct mproc_apool *p = tl_pool;
    const char *hook;
    uint64_t gen;
    size_t n;

    /* Test hook: widen the time between the opening of a worker's
     * channels and their registration (milliseconds). */
    if ((hook = getenv("MPROC_TEST_HOOK_APOOL_SLOW_OPEN")) != NULL)
        usleep((useconds_t)atoi(hook) * 1000);
    if (p != NULL && p->reg != NULL && p->reg_owner == getpid()) {
        /* The live workers' sides, then both of the new worker's
         * channels whole: a child forked before the host closes the
         * worker's sides must close those too. */
        n = mproc__pool_host_fds(p->eng, p->reg_tmp, p->reg_cap, &gen,
                                 p->wpid_tmp);
        pthread_mutex_lock(&reg_mu);
        p->reg_n = 0;
        reg_put(p, p->reg_tmp, n < p->reg_cap ? n : p->reg_cap);
        reg_chan(p, task);
        reg_chan(p, result);
        pthread_mutex_unlock(&reg_mu);
    }
    if (tl_window) {
        tl_window = false;
        pthread_mutex_unlock(&win_mu);
    }
}

void
mproc__fork_window_end(const struct mproc__started *out)
{
    struct mproc_apool *p = tl_pool;

    if (p != NULL && p->reg != NULL && p->reg_owner == getpid()) {
        pthread_mutex_lock(&reg_mu);
        if (out != NULL) {
            /* The handle takes the name when reg_refresh sees the
             * process (workers start one at a time). */
            if (p->wn_len == p->wn_cap) {
                p->wn_head = (p->wn_head + 1) % p->wn_cap;
                p->wn_len--;
            }
            memcpy(p->wnames[(p->wn_head + p->wn_len++) % p->wn_cap],
                   p->wname, sizeof(p->wname));
        }
        p->naming = false;
        pthread_mutex_unlock(&reg_mu);
    }
    if (tl_window) { /* the channels never opened */
        tl_window = false;
        pthread_mutex_unlock(&win_mu);
    }
}

/* In the result thread, after each engine call: cheap unless the
 * workers changed (then a stat per descriptor). */
void
mproc__apool_reg_refresh(struct mproc_apool *p)
{
    uint64_t gen;
    size_t n, i, k = 0;
    struct stat st;

    if (p->reg == NULL)
        return;
    n = mproc__pool_host_fds(p->eng, p->reg_tmp, p->reg_cap, &gen,
                             p->wpid_tmp);
    if (n > p->reg_cap)
        n = p->reg_cap;
    if (gen == p->reg_gen && n == p->reg_n)
        return;
    pthread_mutex_lock(&reg_mu);
    for (i = 0; i < p->nworkers; i++)
        if (p->wpid_tmp[i] != p->wpid[i])
            reg_worker(p, (unsigned)i, p->wpid_tmp[i]);
    for (i = 0; i < n; i++)
        if (fstat(p->reg_tmp[i], &st) == 0) {
            p->reg[k].fd = p->reg_tmp[i];
            p->reg[k].dev = st.st_dev;
            p->reg[k].ino = st.st_ino;
            k++;
        }
    p->reg_n = k;
    p->reg_gen = gen;
    pthread_mutex_unlock(&reg_mu);
}


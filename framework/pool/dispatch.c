/* SPDX-License-Identifier: MIT */
/*
 * The pool's workers, host side: starting them (and starting them again
 * after a failure), giving them tasks in chunks over their task
 * channels, adapting the chunk and how far ahead a worker is sent work
 * to the time tasks take, and taking back tasks that wait behind a long
 * one (see pool.c, "Taking tasks back").
 */
#include "internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/chan_int.h"
#include "ipc/frame_int.h"
#include "pool/engine_int.h"
#include "status/status_int.h"

/* ---- test hooks ---- */

/*
 * Test hooks, read once per run (never set outside the tests):
 * MPROC_TEST_HOOK_LIMIT_AT_RESULT=I: item I's time limit passes just as
 * its result arrives (the race of a limit signal and a finishing task);
 * MPROC_TEST_HOOK_START_FAIL=N[:M]: after N worker starts, the next M
 * (0 or none: every one) fail as an exhausted resource would.
 */
void
mproc__pool_hooks_init(mproc_pool_t *p)
{
    const char *v = getenv("MPROC_TEST_HOOK_LIMIT_AT_RESULT");

    p->hook_limit_at = v != NULL && *v != '\0' ? atoll(v) : -1;
    /* The slow-init warning's delay, shortened by tests. */
    v = getenv("MPROC_TEST_HOOK_INIT_WARN_MS");
    p->init_warn_ms = v != NULL && *v != '\0' ? atoll(v) : 10000;
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

/*
 * Signal a worker and everything its tasks started: it leads a process
 * group (start.c).  Only while the worker is not reaped: until then its
 * pid, and so the group's id, cannot name anyone else's.  A worker that
 * has not made its group yet gets the signal alone.
 */
void
mproc__pool_signal_worker(const struct worker *w, int sig)
{
    if (kill(-w->pid, sig) < 0 && errno == ESRCH)
        kill(w->pid, sig);
}

void
mproc__pool_worker_release(struct worker *w)
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
        .arena = NULL,
        .cancel_fd = p->o.cancel_fd,
        .claims_fd = p->claims_fd,
    };
    struct mproc__started st;
    struct mproc_chan **chans;
    int *fds, r;
    size_t n = 0, nc = 0;
    unsigned k;

    /* shmring: the first start makes one segment for every worker's
     * two rings (a mapping and a memfd for each ring cost the host's
     * fork() per worker started after it). */
    if (!p->arena_tried && strcmp(p->o.ipc, "shmring") == 0) {
        struct mproc__chan_opts co = {.message_max = p->chan_max,
                                      .group = 2 * p->nworkers};
        p->arena_tried = true;
        p->arena = mproc__shmring_arena_new(2 * p->nworkers, &co);
    }
    req.arena = p->arena;
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
        /* Not in the plugin's init yet: a time the slot's last worker
         * left there (it died in its init) is not this one's. */
        if (crash_of(p, i) != NULL)
            atomic_store(&crash_of(p, i)->init_ms, 0);
    }
    w->start_fails = 0;
    w->retry_ms = 0;
    mproc__log(MPROC_LOG_INFO, "pool: worker %d started", (int)st.pid);
    w->pid = st.pid;
    /* Not p->now: a dispatch that starts many workers takes seconds. */
    w->spawn_ms = mproc__now_ms();
    w->pidfd = st.pidfd;
    w->task = st.task;
    w->result = st.result;
    w->fifo_cap = p->fifo_cap;
    w->fifo = malloc(w->fifo_cap * sizeof(*w->fifo));
    if (w->fifo == NULL) {
        set_errmsg(p, "out of memory");
        mproc__pool_signal_worker(w, SIGKILL);
        MPROC__NOINTR(waitpid(w->pid, NULL, 0));
        mproc__pool_worker_release(w);
        return MPROC_ENOMEM;
    }
    return 0;
}

/*
 * Idle workers and nothing new to give them: take back tasks that wait
 * behind a running one in another worker's FIFO, the last first (see
 * "Taking tasks back" above).
 */
void
mproc__pool_take_back(mproc_pool_t *p)
{
    unsigned i, k, idle = 0;

    if (p->claims == NULL || p->stopping || mproc__pool_has_work(p))
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
            mproc__pool_unsent(p, e);
            idle--;
        }
    }
}

/*
 * The run stops: no task waiting in w's FIFO may start now (a stop
 * signal, terminate, --halt).  Each one the worker has not claimed yet
 * is taken back, the last first so that a worker moving on meets only
 * taken ones; it answers "not run" for them, and the run's end reports
 * them so.  The one it runs (or claims right now) is stopped by the
 * signal that follows.
 */
void
mproc__pool_take_back_all(mproc_pool_t *p, struct worker *w)
{
    unsigned i = (unsigned)(w - p->w), k;

    if (p->claims == NULL)
        return;
    for (k = w->fifo_len; k-- > 0;) {
        unsigned pos = (w->fifo_head + k) % w->fifo_cap;
        uint64_t e = w->fifo[pos], want;

        if (e & STOLEN)
            continue;
        want = slot_of(p, e)->index + 1;
        if (atomic_compare_exchange_strong(&claims_of(p, i)[pos], &want,
                                           MPROC__CLAIM_REVOKED)) {
            w->fifo[pos] = e | STOLEN;
            mproc__pool_unsent(p, e);
        }
    }
}

/* Write queued frames without blocking; close `task` when retiring. */
void
mproc__pool_flush(struct worker *w)
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
void
mproc__pool_head_started(mproc_pool_t *p, struct worker *w)
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
    /* Queued in the channel; written by mproc__pool_flush(), many tasks
     * at a time.  A worker that is gone is found by its pidfd, and what
     * it held is accounted for then.  The item goes with its NUL (see
     * mproc__pool_take()). */
    if (mproc__frame_send(w->task, &p->scratch, MPROC__CHAN_MORE,
                          MPROC__FRAME_TASK, 0, s->index, s->item,
                          s->item_len + 1, 0) == MPROC_ENOMEM) {
        mproc__pool_requeue_push(p, ref);
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
        mproc__pool_head_started(p, w);
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
void
mproc__pool_chunk_init(mproc_pool_t *p)
{
    /* Auto without a total: from 1, growing once times are measured. */
    p->chunk = mproc__pool_chunksize(p);
    if (p->chunk == 0)
        p->chunk = 1;
    /* Until a time is measured: as without batching. */
    p->depth = 2 * p->chunk;
    p->adapt_ms = p->now;
}

void
mproc__pool_adapt(mproc_pool_t *p)
{
    long long span = p->now - p->adapt_ms;
    unsigned i, busy = 0;
    double per, want;

    if (span < ADAPT_MS && (p->adapt_done < ADAPT_EARLY || span < 1))
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
void
mproc__pool_dispatch(mproc_pool_t *p)
{
    unsigned i, k, pass, chunk = p->chunk;
    bool gave = true;
    uint64_t ref;
    int r;

    for (pass = 0; gave && mproc__pool_has_work(p); pass++) {
        gave = false;
        for (i = 0; i < p->nworkers && mproc__pool_has_work(p); i++) {
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
                        start_failed(p, w, r, mproc__pool_live_workers(p));
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
                if (mproc__pool_take(p, &ref) < 0)
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
            mproc__pool_flush(&p->w[i]);
}

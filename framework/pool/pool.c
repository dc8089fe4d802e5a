/* SPDX-License-Identifier: MIT */
/*
 * The pool, host side: start workers (start.c), hand them items in chunks
 * over their task channels (ipc/), gather results, retry or time out
 * tasks as configured, and keep every item accounted for.
 *
 * The engine's parts: this file has the options, the run's loop, the
 * run and what the rest of the library asks of a pool; items.c the
 * items taken from the caller and their results; dispatch.c starting
 * workers and sending them tasks; harvest.c what workers send, how they
 * end, and time limits; engine_int.h the state they share.
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

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/chan_int.h"
#include "ipc/auto_int.h"
#include "ipc/frame_int.h"
#include "pool/engine_int.h"
#include "status/status_int.h"
#include "util/buf_int.h"

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
    if (o == NULL)
        return;
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

/*
 * Descriptors: a worker holds up to FDS_PER_WORKER here (its pidfd, its
 * channels' ends and their doorbells: measured 3.3 on pipe, 7.3 on mq
 * and shmring),
 * and poll() refuses more entries than RLIMIT_NOFILE, so a pool larger
 * than the limit allows failed every run ("poll: Invalid argument").  The
 * soft limit is raised to what the pool needs when the hard one allows
 * (the usual soft 1024 is select()'s, and mproc polls); else the pool is
 * refused now, saying which limit.
 */
#define FDS_PER_WORKER(ipc) (strcmp((ipc), "pipe") == 0 ? 4 : 8)
#define FDS_SPARE 64
static int
fd_budget(unsigned workers, const char *ipc, mproc_err_t *err)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)workers * FDS_PER_WORKER(ipc) + FDS_SPARE;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
        rl.rlim_cur = need;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            return 0;
    }
    return mproc__err(err, MPROC_EMFILE,
                      "%u workers need about %llu file descriptors, more "
                      "than RLIMIT_NOFILE allows (%llu): raise it (ulimit "
                      "-n) or use fewer workers",
                      workers, (unsigned long long)need,
                      (unsigned long long)rl.rlim_max);
}

int
mproc_pool_new(mproc_pool_t **out, const struct mproc_pool_opts *o,
               mproc_err_t *err)
{
    mproc_pool_t *p = NULL;
    int r;

    if (out == NULL || o == NULL)
        return mproc__err(err, MPROC_EINVAL, "mproc_pool_new: %s is NULL",
                          out == NULL ? "out" : "opts");
    *out = NULL;
    if (o->plugin != NULL && o->plugin_desc != NULL)
        return mproc__err(err, MPROC_EINVAL, "give a plugin file or an "
                          "in-process descriptor (plugin_desc), not both");
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
    p->owner = getpid();
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
    p->wake_fd = -1;
    /* chunksize 0 is auto: the chunk is chosen when the run starts and
     * adapted as it goes (see mproc__pool_adapt()). */
    p->auto_chunk = p->o.chunksize == 0;
    p->nworkers = o->workers ? o->workers : mproc_cpu_usable();
    if ((r = fd_budget(p->nworkers, p->o.ipc, err)) < 0) {
        free(p);
        return r;
    }

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
    long long deadline = mproc__now_ms() + (hard ? p->o.timeout_grace_ms
                                                 : FINI_GRACE_MS);
    bool killed = false;
    unsigned i;
    int r;

    p->stop_sent = hard;
    for (i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->w[i];
        if (w->pid == 0)
            continue;
        w->retiring = true;
        if (hard)
            mproc__pool_take_back_all(p, w);
        mproc__pool_flush(w);
        /* What did not fit is not needed: the worker ends now. */
        mproc__chan_free(w->task);
        w->task = NULL;
        if (hard)
            mproc__pool_signal_worker(w, SIGTERM);
    }
    while (mproc__pool_live_workers(p) > 0) {
        struct pollfd pfd[2 * p->nworkers];
        unsigned n = 0;
        long long left = deadline - mproc__now_ms();
        bool now = false;

        if (left <= 0 && !killed) {
            unsigned late = 0;

            for (i = 0; i < p->nworkers; i++)
                if (p->w[i].pid != 0) {
                    mproc__pool_signal_worker(&p->w[i], SIGKILL);
                    p->w[i].fini_killed = true; /* said here, not as a death */
                    late++;
                }
            killed = true;
            /* At a normal end they were in the plugin's fini: a hang
             * there is the plugin's to fix, and was killed unsaid. */
            if (!hard && late > 0 && p->o.on_warning != NULL &&
                p->plugin != NULL) {
                char msg[MPROC__FAILMSG_MAX];

                snprintf(msg, sizeof(msg), "plugin %s: %u worker%s still in "
                         "the plugin's fini %d s after the last task: "
                         "killed (no item failed)", p->plugin->path, late,
                         late == 1 ? "" : "s", FINI_GRACE_MS / 1000);
                p->o.on_warning(p->user, msg);
            }
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
                mproc__pool_drain(p, w);
            if (pfd[n].revents || ended_unseen(w))
                mproc__pool_reap(p, w);
            n += 2;
        }
    }
}

/* ---- the run ---- */

/* Shorten *wait_ms to the next retry of a worker start, if sooner. */
static void
retry_wait(const mproc_pool_t *p, int *wait_ms)
{
    unsigned i;

    if (!mproc__pool_has_work(p))
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
    /* + the status socket and wake_fd */
    unsigned nfds = 2 + 3 * p->nworkers + 2;
    struct pollfd *pfd = calloc(nfds, sizeof(*pfd));
    unsigned i, n;
    int wait_ms, r;
    bool now;

    if (pfd == NULL) {
        set_errmsg(p, "out of memory");
        return MPROC_ENOMEM;
    }
    if (p->baton != NULL) {
        pthread_mutex_lock(p->baton);
        p->baton_live = true;
    }
    for (;;) {
        mproc__pool_adapt(p);
        mproc__pool_dispatch(p);
        mproc__pool_take_back(p);
        if (p->rq_len > 0)
            mproc__pool_dispatch(p);
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
        wait_ms = mproc__pool_check_limits(p);
        r = mproc__pool_check_slow(p);
        if (r >= 0 && (wait_ms < 0 || r < wait_ms))
            wait_ms = r;
        r = mproc__pool_check_inits(p);
        if (r >= 0 && (wait_ms < 0 || r < wait_ms))
            wait_ms = r;
        r = mproc__pool_check_fini(p);
        if (r >= 0 && (wait_ms < 0 || r < wait_ms))
            wait_ms = r;
        retry_wait(p, &wait_ms);
        r = mproc__pool_watch_stages(p);
        if (r >= 0 && (wait_ms < 0 || r < wait_ms))
            wait_ms = r;
        if (p->input_wait && p->o.input_fd < 0 && (wait_ms < 0 || wait_ms > 10))
            wait_ms = 10;
        if (now)
            wait_ms = 0;
        pfd[n].fd = mproc__status_fd(p->status);
        pfd[n].events = POLLIN;
        pfd[n].revents = 0;
        pfd[n + 1].fd = p->wake_fd;
        pfd[n + 1].events = POLLIN;
        pfd[n + 1].revents = 0;
        if (p->baton != NULL)
            pthread_mutex_unlock(p->baton);
        r = poll(pfd, n + 2, blind_wait(p, wait_ms));
        if (p->baton != NULL)
            pthread_mutex_lock(p->baton);
        tick(p);
        if (r > 0 && pfd[n + 1].revents) {
            uint64_t v;
            (void)!read(p->wake_fd, &v, sizeof(v));
            /* The caller's turn may have left input to take. */
            p->input_wait = false;
        }
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
                mproc__pool_flush(w);
            if (pfd[n + 1].revents || pfd[n + 1].fd == -2)
                mproc__pool_drain(p, w);
            if (pfd[n].revents || ended_unseen(w))
                mproc__pool_reap(p, w);
        }
    }
    if (p->baton != NULL) {
        p->baton_live = false;
        pthread_mutex_unlock(p->baton);
    }
    free(pfd);
    p->run_over = true;
    return p->stopping ? p->stop_code : 0;
}

/* ---- the caller's turn (pool_int.h) ---- */

void
mproc__pool_set_baton(mproc_pool_t *p, pthread_mutex_t *mu, int wake_fd)
{
    p->baton = mu;
    p->wake_fd = wake_fd;
}

/* Every worker up, with a pidfd (so that only the loop reaps, and never
 * in a turn: the loop's poll() holds their descriptors), none starting,
 * and one idle. */
static bool
drivable(const mproc_pool_t *p)
{
    unsigned i, idle = 0;

    if (!p->baton_live || p->stopping || p->rq_len > 0)
        return false;
    for (i = 0; i < p->nworkers; i++) {
        const struct worker *w = &p->w[i];

        if (w->pid == 0 || w->pidfd < 0 || w->eof || w->reaping)
            return false;
        if (w->ready && !w->retiring && w->task != NULL && !w->task_gone &&
            w->fifo_len == 0 && w->limit == LIMIT_NONE)
            idle++;
    }
    return idle > 0;
}

/* Anything the loop must look at after a turn. */
static bool
loop_needed(const mproc_pool_t *p)
{
    unsigned i;

    if (p->used > 0 || p->rq_len > 0 || p->stopping)
        return true;
    for (i = 0; i < p->nworkers; i++) {
        const struct worker *w = &p->w[i];
        if (w->eof || w->retiring || w->task_gone ||
            (w->task != NULL && mproc__chan_unflushed(w->task) > 0))
            return true;
    }
    return false;
}

int
mproc__pool_drive(mproc_pool_t *p, bool (*done)(void *), void *arg,
                  long long budget_ns)
{
    struct worker *waited = NULL;
    struct timespec until;
    long long end;
    unsigned i;
    bool got = false, late = false;
    int r = 0;

    if (p->baton == NULL || pthread_mutex_trylock(p->baton) != 0)
        return -1;
    if (!drivable(p)) {
        pthread_mutex_unlock(p->baton);
        return -1;
    }
    end = mproc__now_ns() + budget_ns;
    until.tv_sec = (time_t)(end / 1000000000LL);
    until.tv_nsec = (long)(end % 1000000000LL);
    tick(p);
    /* The loop sleeps waiting for input, or for nothing: what the caller
     * just queued is there now. */
    p->input_wait = false;
    mproc__pool_dispatch(p);
    for (;;) {
        struct worker *busy = NULL;

        for (i = 0; i < p->nworkers; i++) {
            struct worker *w = &p->w[i];

            if (w->fifo_len == 0 || w->result == NULL || w->eof)
                continue;
            /* The one waited for: a look that finds the writer's end too
             * (the wait returns for that as well). */
            if (w == waited || mproc__chan_glance(w->result))
                mproc__pool_drain(p, w);
            if (w->fifo_len > 0 && !w->eof)
                busy = w;
        }
        if ((got = done(arg)) || p->stopping || busy == NULL || late)
            break;
        /* Its answer (the spin of a blocking read, then its sleep, so
         * that a worker on this CPU runs) or the end of the turn (then
         * one more look). */
        waited = busy;
        r = mproc__chan_await(busy->result, &until, true);
        late = r == MPROC_ETIMEDOUT;
        tick(p);
        if (r == MPROC_EINTR)
            break; /* as a waiting get would (mproc_async_get()) */
    }
    if (loop_needed(p)) {
        uint64_t one = 1;
        (void)!write(p->wake_fd, &one, sizeof(one));
    }
    pthread_mutex_unlock(p->baton);
    return got ? 1 : r == MPROC_EINTR ? r : 0;
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
    struct mproc__sigpipe_hold hold;
    uint64_t want, w = 1024, i;
    int r;

    if (p == NULL)
        return MPROC_EINVAL;
    if (p->owner != getpid()) {
        set_errmsg(p, "the pool belongs to process %d: a forked child "
                      "cannot run its parent's pool (make one of its own)",
                   (int)p->owner);
        return MPROC_EINVAL;
    }
    if (p->ran) {
        set_errmsg(p, "the pool has already run");
        return MPROC_EINVAL;
    }
    if (next == NULL) {
        set_errmsg(p, "no next callback: it gives the items");
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
    mproc__pool_chunk_init(p);
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
    mproc__pool_hooks_init(p);
    for (i = 0; i < p->nworkers; i++)
        p->w[i].pidfd = -1;

    /* A write to a dead worker's pipe must give EPIPE, not kill the host.
     * Block SIGPIPE for the run and discard any we caused. */
    mproc__sigpipe_hold(&hold);

    status_open(p);
    r = run_loop(p);
    stop_workers(p, p->stopping);
    mproc__status_close(p->status); /* gone with the run */
    p->status = NULL;
    mproc__pool_cancel_rest(p);

    mproc__sigpipe_release(&hold);
    if (r == 0 && p->stopping)
        r = p->stop_code;
    return r;
}

bool
mproc_pool_has_reduce(const mproc_pool_t *p)
{
    if (p == NULL)
        return false;
    return p->has_reduce;
}

int
mproc_pool_reduce_output(mproc_pool_t *p, const void **data, size_t *len)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (!p->has_reduce)
        return MPROC_ENOTSUP;
    if (!p->ran || !p->run_over) {
        /* reduce_end would fold nothing, and the run's outputs would
         * never reach the total. */
        set_errmsg(p, "the reduced output comes after mproc_pool_run() "
                      "has returned");
        return MPROC_EINVAL;
    }
    if (!p->reduce_ended) {
        int rr;

        p->reduce_ended = true;
        mproc__ctx_clear(&p->rctx);
        mproc__in_reduce = p->plugin->path;
        rr = p->plugin->desc->reduce_end(&p->rctx, &p->rout);
        mproc__in_reduce = NULL;
        if (rr != MPROC_TASK_OK) {
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
    if (p == NULL)
        return NULL;
    return p->task->name;
}

unsigned
mproc_pool_workers(const mproc_pool_t *p)
{
    if (p == NULL)
        return 0;
    return p->nworkers;
}

const char *
mproc_pool_errmsg(const mproc_pool_t *p)
{
    if (p == NULL)
        return "pool: none";
    return p->errmsg;
}

void
mproc_pool_free(mproc_pool_t *p)
{
    uint64_t i;

    if (p == NULL)
        return;
    /* A forked child's copy of its parent's pool: the workers, the
     * status socket and the plugin's state are the parent's, and another
     * thread of the parent may have been in the middle of any of it.
     * Leave it all alone (as Python's finalizers ignore the objects of
     * another process). */
    if (p->owner != getpid())
        return;
    if (p->w != NULL) {
        stop_workers(p, true);
        free(p->w);
    }
    mproc__shmring_arena_unref(p->arena); /* after the workers' rings */
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
            mproc__pool_slot_clear(&p->slots[i]);
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
mproc__pool_ran_elsewhere(mproc_pool_t *p)
{
    p->ran = true;
    p->run_over = true;
}

void
mproc__pool_set_errmsg(mproc_pool_t *p, const char *msg)
{
    set_errmsg(p, "%s", msg);
}

/* SPDX-License-Identifier: MIT */
/*
 * What the pool's workers send, and how they end: their frames and
 * batches of results, the results they staged and the channel has not
 * brought (see pool.c, "Results in batches"), a worker's death and the
 * tasks it held; and the watch on the tasks they run: the slow log and
 * time limits (see pool.c, "Time limits").
 */
#include "internal.h"

#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ipc/chan_int.h"
#include "ipc/frame_int.h"
#include "pool/engine_int.h"
#include "pool/taskfail_int.h"

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
    mproc__pool_signal_worker(w, w->limit == LIMIT_SOFT ? SIGTERM : SIGKILL);
}

static void
describe_status(int st, char *buf, size_t len)
{
    if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by SIG%s", sigabbrev_np(WTERMSIG(st))
                                                  ? sigabbrev_np(WTERMSIG(st))
                                                  : "?");
    else if (WIFEXITED(st) && WEXITSTATUS(st) == MPROC__WORKER_EXIT_RECV)
        /* worker.c's own: no task could be read (no memory for it, under
         * a small pool.rlimit_as or max_memory_per_child). */
        snprintf(buf, len, "exited with status %d: it could not receive "
                 "its task (out of memory? see pool.rlimit_as)",
                 WEXITSTATUS(st));
    else if (WIFEXITED(st))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
    else
        snprintf(buf, len, "ended with wait status %#x", st);
}

/* Deaths in fini that are said (then no more: one per worker would flood
 * a long run with max_tasks_per_child). */
#define FINI_DEATHS_SAID 3

/* Ended by a fault of its own, or with a status other than 0: not by
 * the pool's SIGTERM or SIGKILL. */
static bool
crashed(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st) != 0;
    if (!WIFSIGNALED(st))
        return false;
    switch (WTERMSIG(st)) {
    case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGABRT:
    case SIGSYS: case SIGTRAP:
        return true;
    default:
        return false;
    }
}

static void
init_failed(mproc_pool_t *p, pid_t pid, const char *why, size_t len)
{
    if (strcmp(p->plugin->path, MPROC__PLUGIN_IN_PROCESS) == 0)
        /* A Pool API function pool's initializer, or an in-process
         * descriptor's init: no file to name. */
        set_errmsg(p, "the initializer failed in worker %d: %.*s",
                   (int)pid, (int)len, why);
    else
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
            mproc__pool_unsent(p, e);
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
    char msg[MPROC__FAILMSG_MAX + 64], *packed = NULL;
    size_t len = (size_t)h->len;
    bool limited = w->limit != LIMIT_NONE && w->limit_index == h->index;
    struct mproc__taskfail f = {0};

    if (status == MPROC_ETASK)
        mproc__taskfail_unpack(payload, len, &f);

    /* The item completed after all: its limit signal, on its way or
     * blocked in the worker, may still end the worker during a later
     * task, which is then not to blame (see mproc__pool_reap()). */
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
        n = strlen(msg);
        /* What it wrote before it gave up (an exec command's stdout,
         * which parallel prints for a timed-out job too) goes with the
         * new message, as the task sent it (taskfail_int.h). */
        if (f.has_status &&
            (packed = malloc(n + 1 + sizeof(int32_t) + f.out_len)) != NULL) {
            int32_t st = f.status;

            memcpy(packed, msg, n + 1);
            memcpy(packed + n + 1, &st, sizeof(st));
            if (f.out_len > 0)
                memcpy(packed + n + 1 + sizeof(st), f.out, f.out_len);
            payload = packed;
            len = n + 1 + sizeof(st) + f.out_len;
        } else {
            payload = msg;
            len = n;
        }
    }
    mproc__pool_finish(p, ref, status, payload, len, f.status);
    free(packed);
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
        mproc__pool_head_started(p, w);
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
                mproc__pool_signal_worker(w, SIGKILL);
                return;
            }
            w->fifo_head = (w->fifo_head + 1) % w->fifo_cap;
            w->fifo_len--;
            w->answered++;
            mproc__pool_head_started(p, w);
            break;
        }
        if (w->fifo_len == 0 ||
            slot_of(p, ref = w->fifo[w->fifo_head])->index != h->index) {
            /* Cannot happen with a well-behaved worker: results come in
             * the order tasks were sent. */
            set_errmsg(p, "worker %d answered out of order", (int)w->pid);
            mproc__pool_signal_worker(w, SIGKILL);
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
            mproc__pool_unsent(p, ref);
            mproc__pool_head_started(p, w);
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
        mproc__pool_head_started(p, w);
        break;
    default:
        set_errmsg(p, "worker %d sent an unknown frame %u", (int)w->pid,
                   (unsigned)h->type);
        mproc__pool_signal_worker(w, SIGKILL);
    }
}

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
int
mproc__pool_watch_stages(mproc_pool_t *p)
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

/* The kernel's PF_EXITING flag of pid (field 9 of /proc/PID/stat): it
 * is on its way out, killed or exiting, and will not run plugin code
 * again.  False when /proc cannot say (then the wait below decides). */
static bool
exiting(pid_t pid)
{
    char path[64], buf[512], *p;
    unsigned long flags;
    ssize_t n;
    int fd, i;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* After the command's ")": state, ppid, pgrp, session, tty_nr,
     * tpgid, flags. */
    if ((p = strrchr(buf, ')')) == NULL)
        return false;
    for (i = 0; i < 7 && p != NULL; i++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p + 1, "%lu", &flags) != 1)
        return false;
    return (flags & 0x4UL) != 0; /* PF_EXITING */
}

/* Its channel ended: has the worker ended too (killed from outside,
 * the OOM killer, a crash)?  An exiting process closes its descriptors
 * before it becomes a zombie, so the end of the channel can come first:
 * it is given a few milliseconds.  Only a worker alive after them closed
 * its channel itself (a plugin that closed descriptors it does not own);
 * the pool's SIGKILL, and the failure's "by the pool", are for that one,
 * not for a SIGKILL someone else sent. */
static bool
worker_ending(const struct worker *w)
{
    for (int i = 0; i < 50; i++) {
        siginfo_t si;

        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, (id_t)w->pid, &si,
                   WEXITED | WNOHANG | WNOWAIT) != 0) {
            if (errno == EINTR)
                continue;
            return true; /* reaped elsewhere: it has ended */
        }
        if (si.si_pid != 0 || exiting(w->pid))
            return true;
        usleep(1000);
    }
    return false;
}

/* Handle what the worker sent, without blocking. */
void
mproc__pool_drain(mproc_pool_t *p, struct worker *w)
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
            if (r != MPROC_EPIPE)
                set_errmsg(p, "worker %d: %s", (int)w->pid,
                           r == MPROC_EIO ? "sent a malformed frame"
                                          : mproc__chan_errmsg(w->result));
            /* The end of its channel: a worker closes it only by ending,
             * or by a plugin that closed descriptors not its own.  On
             * shmring such a worker lived on, the ring still mapped, and
             * the run waited for it for ever: it is ended here, and its
             * death is handled as any other. */
            if (!worker_ending(w)) {
                mproc__pool_signal_worker(w, SIGKILL);
                w->chan_killed = true;
            }
            w->eof = true;
            if (w->pidfd < 0 && !w->reaping)
                mproc__pool_reap(p, w); /* no pidfd: the end of the
                                           channel is the sign */
            return;
        }
        handle_msg(p, w, msg, len);
        mproc__chan_consume(w->result);
    }
}

/* The worker had begun the task at the head of its FIFO: it swapped the
 * claim word (or, without claim words, the host saw it start). */
static bool
head_claimed(const mproc_pool_t *p, const struct worker *w)
{
    if (p->claims != NULL)
        return atomic_load(&claims_of(p, (unsigned)(w - p->w))[w->fifo_head]) ==
               MPROC__CLAIM_RUN;
    return w->ready && w->head_ms != 0;
}

/* The worker has ended: account for what it held and free its slot. */
void
mproc__pool_reap(mproc_pool_t *p, struct worker *w)
{
    char why[256], msg[MPROC__FAILMSG_MAX];
    siginfo_t si;
    int st = 0, r;
    pid_t pid = w->pid;
    bool lost;

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
    /* Reaped elsewhere (SIGCHLD ignored: the kernel reaps then, or a
     * waitpid(-1) of the program): how it ended is lost, not 0. */
    lost = MPROC__NOINTR(waitpid(pid, &st, 0)) < 0;
    w->reaping = true;
    mproc__pool_drain(p, w);
    harvest(p, w);
    if (lost)
        snprintf(why, sizeof(why), "ended, how is unknown (reaped "
                 "elsewhere: SIGCHLD ignored, or a waitpid(-1) of the "
                 "program)");
    else
        describe_status(st, why, sizeof(why));
    if (!lost && w->chan_killed && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
        /* Alive with its channel closed: a plugin that closed
         * descriptors it does not own (a crash ends with its own
         * signal, not this one). */
        snprintf(why + strlen(why), sizeof(why) - strlen(why),
                 " (by the pool: it closed its channel to the host; does "
                 "the plugin close descriptors it does not own?)");
    mproc__log(p->stopping || (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                   ? MPROC_LOG_DEBUG
                   : MPROC_LOG_WARNING,
               "pool: worker %d %s", (int)pid, why);

    if (w->ready && w->fifo_len == 0 && crashed(st) && !w->fini_killed &&
        p->o.on_warning != NULL && ++p->fini_deaths <= FINI_DEATHS_SAID) {
        /* After its last task (in the plugin's fini, as the run ends or
         * the worker retires): no item fails, but a crash must not go
         * unseen (mproc(1), FAILURES AND SIGNALS); said a few times, not
         * once per worker of a long run with max_tasks_per_child. */
        snprintf(msg, sizeof(msg), "plugin %s: worker %d %s after its last "
                 "task (in the plugin's fini); no item failed%s",
                 p->plugin->path, (int)pid, why,
                 p->fini_deaths == FINI_DEATHS_SAID
                     ? " (further such deaths are not reported)"
                     : "");
        p->o.on_warning(p->user, msg);
    }
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
        mproc__pool_finish(p, running,
                           timed ? MPROC_ETIMEDOUT : MPROC_EWORKER, msg,
                           strlen(msg), code);
    } else if (w->fifo_len > 0) {
        /* Stopping: the task it ran (it claimed it) failed with the stop,
         * what waited behind it is reported as not run. */
        unsigned k = 0;
        uint64_t head = w->fifo[w->fifo_head];

        if (!(head & STOLEN) && head_claimed(p, w)) {
            int code = WIFEXITED(st) ? WEXITSTATUS(st)
                       : WIFSIGNALED(st) ? -WTERMSIG(st) : 0;

            snprintf(msg, sizeof(msg), "%s: worker %d %s",
                     MPROC__STOPPED_RUNNING, (int)pid, why);
            mproc__pool_finish_stopped(p, head, msg, strlen(msg), code);
            k = 1;
        }
        for (; k < w->fifo_len; k++) {
            uint64_t e = w->fifo[(w->fifo_head + k) % w->fifo_cap];
            if (!(e & STOLEN))
                slot_of(p, e)->state = SLOT_PENDING;
        }
        w->fifo_len = 0;
    }
    mproc__pool_worker_release(w);
}

unsigned
mproc__pool_live_workers(const mproc_pool_t *p)
{
    unsigned i, n = 0;
    for (i = 0; i < p->nworkers; i++)
        n += p->w[i].pid != 0;
    return n;
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
int
mproc__pool_check_slow(mproc_pool_t *p)
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
 * A plugin's init that has not returned after init_warn_ms (10 s) is
 * said, once per run: a hang there holds the run, which Ctrl-C ends.
 * Counted from the moment the worker called it (its crash record), where
 * the slot has one: 1000 workers on 2 CPUs took more than 10 s from the
 * first fork to the last worker's first instruction, and a worker whose
 * READY wait unread in its channel (the host busy starting the others)
 * was said to hang in an init that does nothing.  A worker that has not
 * reached the init is not the plugin's doing and is not said.
 */
int
mproc__pool_check_inits(mproc_pool_t *p)
{
    long long next = -1, age, due, since;
    char msg[MPROC__FAILMSG_MAX];
    bool drained = false;
    unsigned i;

    if (p->init_warned || p->o.on_warning == NULL || p->stopping)
        return -1;
    for (i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->w[i];
        const struct mproc__crash *c = crash_of(p, i);

        if (w->pid == 0 || w->ready || w->eof)
            continue;
        since = w->spawn_ms;
        if (c != NULL &&
            (since = atomic_load_explicit(&c->init_ms,
                                          memory_order_relaxed)) <= 0) {
            /* Not in the init yet (look again a period from now), or
             * out of it (READY follows). */
            due = p->init_warn_ms;
            if (since == 0 && (next < 0 || due < next))
                next = due;
            continue;
        }
        age = p->now - since;
        if (age >= p->init_warn_ms) {
            /* Its READY may be waiting in the channel.  A read takes
             * back the arming of the result side for poll(): the loop
             * must prepare it again before it sleeps (return 0). */
            mproc__pool_drain(p, w);
            drained = true;
            if (w->pid == 0 || w->ready || w->eof)
                continue;
        }
        if (age >= p->init_warn_ms) {
            p->init_warned = true;
            snprintf(msg, sizeof(msg), "plugin %s: worker %d is still in "
                     "the plugin's init after %llds (a hang there? Ctrl-C "
                     "stops the run)",
                     p->plugin->path, (int)w->pid, age / 1000);
            p->o.on_warning(p->user, msg);
            return 0;
        }
        due = since + p->init_warn_ms - p->now;
        if (next < 0 || due < next)
            next = due;
    }
    return drained ? 0 : (int)next;
}

/*
 * A worker that retires (max_tasks_per_child, max_memory_per_child) runs
 * the plugin's fini after its last result, and its slot takes a new
 * worker only once it has ended: a fini that hung held its slot for
 * ever, and with every slot so, the run.  Past FINI_GRACE_MS (as at the
 * end of a run) it is killed, its group with it, and said once a run; no
 * item fails.
 */
int
mproc__pool_check_fini(mproc_pool_t *p)
{
    long long next = -1, due;
    char msg[MPROC__FAILMSG_MAX];
    unsigned i;

    if (p->stopping)
        return -1; /* stop_workers() has a deadline of its own */
    for (i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->w[i];

        if (w->pid == 0 || !w->retiring || w->fifo_len > 0 ||
            w->task != NULL || w->fini_killed) {
            w->fini_ms = 0;
            continue;
        }
        if (w->fini_ms == 0)
            w->fini_ms = p->now;
        due = w->fini_ms + FINI_GRACE_MS;
        if (p->now < due) {
            if (next < 0 || due - p->now < next)
                next = due - p->now;
            continue;
        }
        mproc__pool_signal_worker(w, SIGKILL);
        w->fini_killed = true;
        if (!p->fini_warned && p->o.on_warning != NULL) {
            p->fini_warned = true;
            snprintf(msg, sizeof(msg), "plugin %s: worker %d still in the "
                     "plugin's fini %d s after its last task, as it "
                     "retires: killed, and a new worker takes its place "
                     "(no item failed; said once a run)",
                     p->plugin->path, (int)w->pid, FINI_GRACE_MS / 1000);
            p->o.on_warning(p->user, msg);
        }
    }
    return next < 0 ? -1 : (int)(next < INT32_MAX ? next : INT32_MAX);
}

/*
 * Time limits: SIGTERM to a worker whose task runs past timeout_ms, SIGKILL
 * timeout_grace_ms later.  Returns the milliseconds until the next limit
 * falls due, or -1 when none is pending.
 */
int
mproc__pool_check_limits(mproc_pool_t *p)
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
                mproc__pool_signal_worker(w, SIGKILL);
                continue;
            }
        }
        if (next < 0 || due - now < next)
            next = due - now;
    }
    return next < 0 ? -1 : (int)(next < INT32_MAX ? next : INT32_MAX);
}

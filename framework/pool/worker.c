/* SPDX-License-Identifier: MIT */
/*
 * The pool, worker side: run the plugin's init, then one task per frame
 * received on the task channel, answering each with one frame on the result
 * channel, in order, until the host closes the task channel.
 *
 * Results in batches.  Several tasks arrive in one read; their results
 * go back in one message, so that a stream of tiny tasks costs one write
 * and one wake-up of the host per batch rather than per task.  A result
 * the worker has not sent yet is staged first, in shared memory (struct
 * mproc__stage): if the worker dies, the host finds there every result
 * it finished, and so still knows exactly which task the death
 * interrupted (nothing finished is lost or run again).  The batch goes
 * out when the worker has no further task at hand, when the stage is
 * full, and once BATCH_HOLD_NS have passed since its first task started:
 * a task that takes longer has its result sent at once, as without
 * batching.
 *
 * What a plugin prints.  The worker's stdout is its stderr (start.c), line
 * buffered as on a terminal, and it is flushed after every task, and all
 * of stdio before every exit: _exit() discards stdio buffers, and a worker that is
 * retired, recycled or killed for another item must not take a task's
 * lines with it.
 *
 * SIGTERM is the host's time limit (and stop) signal.  It is blocked
 * except while a task runs: a limit signal that was sent for a task just
 * as it finished (the host had not yet read its result) must not kill the
 * next task or fini().  Found pending before a task, it ends the worker
 * cleanly (a RETIRE frame: the host gives that task to another worker,
 * not charged as an attempt).  Within a batch of tiny tasks (all started
 * within BATCH_HOLD_NS of the first) it stays unblocked from one to the
 * next, which saves three system calls a task: the host's clock for
 * them all starts with the batch, so a limit signal then is for the
 * batch's task that runs.  Not when the plugin's init installed a SIGTERM
 * handler of its own (exec): that one must only ever see a task's.
 *
 * Before it starts a task the worker claims it (a compare-and-swap on the
 * claim word of its place in the FIFO, shared with the host); the host may
 * have taken a task still waiting here back for an idle worker, and then
 * the claim fails and the worker answers "not run" for it (a FAIL frame
 * with status -MPROC_ECANCELED and no payload).
 */
#include "internal.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ipc/chan_int.h"
#include "ipc/frame_int.h"
#include "pool/taskfail_int.h"
#include "pool/pool_int.h"
#include "sync/sync_int.h"
#include "util/buf_int.h"

/* Frames to the host, built here. */
static struct mproc_buf scratch;

/* How long the results of a batch may wait for the tasks after them. */
#define BATCH_HOLD_NS 1000000LL

/* The results staged (see the top): NULL without claim words. */
static struct mproc__stage *stage;
static size_t stage_cap;      /* bytes of stage->data used at most */
static uint64_t stage_len;    /* what stage->len says, kept here too */
static uint64_t answered;     /* tasks answered: the next result's seq */
static long long batch_t0;    /* when the batch's first task started */
static bool term_open;        /* SIGTERM is unblocked now */
static bool term_batch;       /* it may stay so between tiny tasks */

/* SIGTERM alone, for blocking it between tasks. */
static sigset_t term_set;

/* Every way out of a worker: what the plugin printed goes out first.
 * _exit, not exit: atexit handlers belong to the host process this one
 * may have been forked from. */
static void __attribute__((noreturn))
worker_end(int code)
{
    fflush(NULL);
    _exit(code);
}

/* Send one frame to the host and wait until it is out: a result is never
 * held back, so when the worker dies the host knows exactly which task
 * it was running.  The host gone: nothing more to do. */
static void
answer(const struct mproc__worker_args *a, uint32_t type, uint32_t status,
       uint64_t index, const void *data, size_t len)
{
    if (mproc__frame_send(a->result_ch, &scratch, 0, type, status, index, data,
                          len, -1) < 0)
        worker_end(70);
}

static long long
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Send the staged results, as one message, and wait until it is out. */
static void
stage_flush(const struct mproc__worker_args *a)
{
    if (stage_len == 0)
        return;
    if (mproc__chan_send(a->result_ch, stage->data, (size_t)stage_len, 0,
                         -1) < 0)
        worker_end(70);
    /* Sent: from here the host reads them from the channel.  (It may
     * have taken them from the stage already: it counts the results it
     * has handled, and the batch says which it holds.) */
    stage_len = 0;
    atomic_store_explicit(&stage->len, 0, memory_order_release);
}

/*
 * The answer to the task just run (or refused): staged, then sent with
 * the batch; sent at once when there is no stage or it does not fit.
 */
static void
result(const struct mproc__worker_args *a, uint32_t type, uint32_t status,
       uint64_t index, const void *data, size_t len)
{
    struct mproc__frame_hdr h = {
        .type = type, .status = status, .index = index, .len = len};
    size_t need = sizeof(h) + len;

    if (stage != NULL && stage_len + need > stage_cap)
        stage_flush(a);
    if (stage == NULL || sizeof(h) + need > stage_cap) {
        answer(a, type, status, index, data, len);
        answered++;
        return;
    }
    if (stage_len == 0) {
        struct mproc__frame_hdr b = {.type = MPROC__FRAME_BATCH,
                                     .index = answered};
        /* A new batch over the old bytes: a host reading the stage now
         * sees gen change (pairs with its acquire fence, harvest.c
         * stage_read()). */
        atomic_store_explicit(&stage->gen,
                              atomic_load_explicit(&stage->gen,
                                                   memory_order_relaxed) +
                                  1,
                              memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
        atomic_store_explicit(&stage->t0_ns, batch_t0, memory_order_relaxed);
        memcpy(stage->data, &b, sizeof(b));
        stage_len = sizeof(b);
    }
    memcpy(stage->data + stage_len, &h, sizeof(h));
    if (len > 0)
        memcpy(stage->data + stage_len + sizeof(h), data, len);
    stage_len += need;
    answered++;
    /* Release: pairs with the host's acquire load; the bytes are there
     * before the length says so. */
    atomic_store_explicit(&stage->len, stage_len, memory_order_release);
}

static void
term_close(void)
{
    if (term_open)
        sigprocmask(SIG_BLOCK, &term_set, NULL);
    term_open = false;
}

/* After a task: send the batch unless more tasks are at hand and it is
 * young; SIGTERM is blocked again unless the batch goes on. */
static void
batch_end(const struct mproc__worker_args *a)
{
    bool go_on = stage_len > 0 && mproc__chan_has_message(a->task_ch) &&
                 now_ns() - batch_t0 < BATCH_HOLD_NS;

    if (go_on && term_batch)
        return;
    term_close();
    if (!go_on)
        stage_flush(a);
}

static void __attribute__((noreturn))
worker_exit(const struct mproc__worker_args *a, struct mproc_ctx *ctx,
            int code)
{
    /* SIGTERM blocked: a stale limit signal must not cut fini() short
     * (the host sends SIGKILL if a worker takes too long to end). */
    term_close();
    stage_flush(a);
    if (code == 0 && a->desc->fini != NULL)
        a->desc->fini(ctx);
    mproc__sync_exit(); /* a normal end: its semaphore units were used */
    worker_end(code);
}

/* Between tasks: a SIGTERM that arrived since the last one (blocked) is
 * either stale, meant for the task that just ended, or a stop.  Either
 * way this worker ends before starting another task. */
static bool
term_pending(void)
{
    static const struct timespec zero = {0, 0};
    sigset_t pending;

    if (sigpending(&pending) < 0 || !sigismember(&pending, SIGTERM))
        return false;
    sigtimedwait(&term_set, NULL, &zero); /* taken: it was handled here */
    return true;
}

static void
run_task(const struct mproc__worker_args *a, struct mproc_ctx *ctx,
         struct mproc_buf *out, uint64_t index, const char *in, size_t len)
{
    char msg[MPROC__FAILMSG_MAX + 128];
    size_t over;
    int r;

    mproc__buf_reset(out);
    mproc__ctx_clear(ctx);
    mproc__buf_overflow(true);
    /* The task is the only code a time limit may interrupt (see the
     * top: blocked again by batch_end()). */
    if (!term_open)
        sigprocmask(SIG_UNBLOCK, &term_set, NULL);
    term_open = true;
    mproc__crash_running(index + 1);
    r = a->task->fn(ctx, in, len, index, out);
    mproc__crash_running(0);
    /* Before the result: the host reports the item after its lines.
     * stdout and stderr only: a forked worker's other FILEs may be the
     * host's, whose descriptors it closed (and may have reused). */
    fflush(stdout);
    fflush(stderr);
    over = mproc__buf_overflow(true);
    /* A plugin that set out->len itself past what out holds would send
     * the worker's heap as its output, or crash copying it (and the
     * crash was blamed on the item before). */
    if (out->len > 0 && (out->data == NULL || out->len > out->cap)) {
        snprintf(msg, sizeof(msg),
                 "plugin bug: the task set out->len to %zu, beyond the %zu "
                 "bytes out holds%s (grow it with mproc_buf_reserve or "
                 "mproc_buf_append)",
                 out->len, out->data == NULL ? (size_t)0 : out->cap,
                 out->data == NULL ? " (out->data is NULL)" : "");
        result(a, MPROC__FRAME_FAIL, 0, index, msg, strlen(msg));
    } else if (over > 0) {
        /* The output hit message_max.  Even if the task went on and
         * returned success, its output is incomplete: never pass a
         * truncated result off as a good one. */
        snprintf(msg, sizeof(msg),
                 "output of at least %zu bytes exceeds message_max (%zu)%s%s",
                 over, a->message_max, r == MPROC_TASK_OK ? "" : ": ",
                 r == MPROC_TASK_OK ? "" : mproc__ctx_msg(ctx, ""));
        result(a, MPROC__FRAME_FAIL, (uint32_t)-MPROC_EMSGSIZE, index, msg,
               strlen(msg));
    } else if (r == MPROC_TASK_OK) {
        result(a, MPROC__FRAME_OK, 0, index, out->data, out->len);
    } else {
        static struct mproc_buf fb = {.host = &mproc__host,
                                      .limit = (size_t)-1};
        const char *m = mproc__ctx_msg(ctx, "task failed without a message");
        /* With the task's own status and output, when it gave one. */
        size_t n = mproc__taskfail_pack(&fb, ctx, m, out);

        result(a, MPROC__FRAME_FAIL, 0, index, n > 0 ? fb.data : m,
               n > 0 ? n : strlen(m));
    }
}

/* This worker's claim words: inherited across fork, or mapped from the
 * descriptor a new image was given.  NULL: none (every task is ours). */
static _Atomic uint64_t *
claims_of(const struct mproc__worker_args *a)
{
    struct stat st;
    void *m;

    if (a->claims != NULL || !a->has_claims || a->claims_fd < 0)
        return a->claims;
    if (fstat(a->claims_fd, &st) < 0 ||
        (uint64_t)st.st_size < ((uint64_t)a->slot + 1) *
                                   mproc__claims_slot_bytes(a->fifo_cap))
        return NULL;
    m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
             a->claims_fd, 0);
    close(a->claims_fd);
    if (m == MAP_FAILED)
        return NULL;
    return (_Atomic uint64_t *)(void *)((char *)m +
                                        (size_t)a->slot *
                                            mproc__claims_slot_bytes(
                                                a->fifo_cap));
}

/* Claim the task at FIFO place `pos`: false when the host took it back. */
static bool
claim(_Atomic uint64_t *claims, uint32_t cap, uint64_t pos, uint64_t index)
{
    uint64_t want = index + 1;

    if (claims == NULL || cap == 0)
        return true;
    /* seq_cst, as the host's compare-and-swap it races with. */
    return atomic_compare_exchange_strong(&claims[pos % cap], &want,
                                          MPROC__CLAIM_RUN);
}

/* Resident memory in bytes, from /proc/self/statm; 0 if unknown. */
static size_t
resident(void)
{
    char buf[128];
    unsigned long size, rss;
    ssize_t n;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (sscanf(buf, "%lu %lu", &size, &rss) != 2)
        return 0;
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

/* Apply the pool's per-worker limits; on failure, say which in `msg`. */
static int
apply_limits(const struct mproc__worker_args *a, char *msg, size_t len)
{
    static const struct {
        const char *name;
        int resource;
        size_t offset;
    } lim[] = {
        {"rlimit_cpu", RLIMIT_CPU,
         offsetof(struct mproc__worker_args, rlimit_cpu)},
        {"rlimit_as", RLIMIT_AS,
         offsetof(struct mproc__worker_args, rlimit_as)},
        {"rlimit_nofile", RLIMIT_NOFILE,
         offsetof(struct mproc__worker_args, rlimit_nofile)},
    };
    size_t i;

    for (i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
        unsigned long v =
            *(const unsigned long *)((const char *)a + lim[i].offset);
        struct rlimit rl;

        if (v == 0)
            continue;
        if (getrlimit(lim[i].resource, &rl) < 0)
            rl.rlim_max = RLIM_INFINITY;
        rl.rlim_cur = (rlim_t)v;
        /* CPU: the soft limit sends SIGXCPU; a hard limit a little
         * above it makes sure the worker ends even if that is caught. */
        if (lim[i].resource == RLIMIT_CPU && rl.rlim_max > rl.rlim_cur + 1)
            rl.rlim_max = rl.rlim_cur + 1;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
            rl.rlim_cur = rl.rlim_max;
        if (setrlimit(lim[i].resource, &rl) < 0) {
            snprintf(msg, len, "%s = %lu: setrlimit: %s", lim[i].name, v,
                     strerror(errno));
            return -1;
        }
    }
    if (a->nice != 0) {
        errno = 0;
        if (nice(a->nice) == -1 && errno != 0) {
            snprintf(msg, len, "nice = %d: %s%s", a->nice, strerror(errno),
                     a->nice < 0 ? " (a negative nice needs root or "
                                   "CAP_SYS_NICE)"
                                 : "");
            return -1;
        }
    }
    return 0;
}

void
mproc__worker_main(const struct mproc__worker_args *a)
{
    struct mproc__ctx_priv priv;
    struct mproc_ctx ctx;
    struct mproc_buf out;
    char lmsg[256];
    _Atomic uint64_t *claims = claims_of(a);
    struct mproc__crash *crash = NULL; /* the record of init_ms */
    const char *hook;
    uint64_t received = 0;

    sigemptyset(&term_set);
    sigaddset(&term_set, SIGTERM);
    /* stdout is stderr here (see start.c): lines show as they are printed,
     * as on a terminal, rather than when a buffer fills. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    mproc__ctx_init(&ctx, &priv, a->args, a->nargs, a->slot);
    priv.sync = a->sync;
    mproc__buf_init(&out, a->message_max);
    mproc__buf_init(&scratch, (size_t)-1);

    if (a->has_claims && claims == NULL) {
        /* The host may take tasks back: without the words it could run
         * one twice. */
        snprintf(lmsg, sizeof(lmsg), "cannot map the pool's claim words");
        answer(a, MPROC__FRAME_INITFAIL, 0, 0, lmsg, strlen(lmsg));
        worker_end(MPROC__WORKER_EXIT_INIT);
    }
    if (claims != NULL && a->fifo_cap > 0) {
        size_t max = mproc__chan_limits(a->result_ch)->message_max;
        stage = (struct mproc__stage *)(void *)((char *)claims +
                                                mproc__stage_offset(
                                                    a->fifo_cap));
        stage_cap = max < MPROC__STAGE_BYTES ? max : MPROC__STAGE_BYTES;
    }
    if (apply_limits(a, lmsg, sizeof(lmsg)) < 0) {
        answer(a, MPROC__FRAME_INITFAIL, 0, 0, lmsg, strlen(lmsg));
        worker_end(MPROC__WORKER_EXIT_INIT);
    }
    /* Test hook: a worker that a busy machine leaves unscheduled for
     * a while before the plugin's init (milliseconds). */
    if ((hook = getenv("MPROC_TEST_HOOK_WORKER_LATE_MS")) != NULL)
        usleep((useconds_t)atoi(hook) * 1000);
    if (claims != NULL && a->desc->init != NULL) {
        long long t = mproc__now_ms();

        crash = (struct mproc__crash *)(void *)(
            (char *)claims + mproc__crash_offset(a->fifo_cap));
        /* Relaxed: a clock reading the host only compares. */
        atomic_store_explicit(&crash->init_ms, t > 0 ? t : 1,
                              memory_order_relaxed);
    }
    if (a->desc->init != NULL && a->desc->init(&ctx) != MPROC_TASK_OK) {
        const char *msg = mproc__ctx_msg(&ctx, "failed without a message");
        answer(a, MPROC__FRAME_INITFAIL, 0, 0, msg, strlen(msg));
        worker_end(MPROC__WORKER_EXIT_INIT);
    }
    /* Returned, though READY may wait for a CPU a while yet. */
    if (crash != NULL)
        atomic_store_explicit(&crash->init_ms, -1, memory_order_relaxed);
    /* After init: the plugin's libraries are loaded by now. */
    if (claims != NULL)
        mproc__crash_arm((struct mproc__crash *)(void *)(
            (char *)claims + mproc__crash_offset(a->fifo_cap)));
    sigprocmask(SIG_BLOCK, &term_set, NULL);
    {
        struct sigaction cur;
        term_batch = stage != NULL && sigaction(SIGTERM, NULL, &cur) == 0 &&
                     !(cur.sa_flags & SA_SIGINFO) &&
                     cur.sa_handler == SIG_DFL;
    }
    answer(a, MPROC__FRAME_READY, 0, 0, NULL, 0);

    for (;;) {
        struct mproc__frame_hdr h;
        const char *payload;
        const void *msg;
        size_t len;
        int r;

        /* About to wait for tasks: the results go first. */
        if (stage_len > 0 && !mproc__chan_has_message(a->task_ch))
            stage_flush(a);
        r = mproc__chan_peek(a->task_ch, &msg, &len, -1);

        if (r == MPROC_EPIPE)
            worker_exit(a, &ctx, 0); /* the host has no more tasks */
        if (r < 0)
            worker_end(MPROC__WORKER_EXIT_RECV);
        if (mproc__frame_parse(msg, len, &h, &payload) < 0)
            worker_end(73);
        if (h.type == MPROC__FRAME_TASK && !term_open && term_pending()) {
            stage_flush(a);
            snprintf(lmsg, sizeof(lmsg), "SIGTERM between tasks");
            answer(a, MPROC__FRAME_RETIRE, 0, 0, lmsg, strlen(lmsg));
            worker_exit(a, &ctx, 0);
        }
        /* The task's input stays in the channel's buffer until it is
         * answered.  The host sends it with a NUL byte after it (not
         * counted in the task's length), so a task may treat it as a
         * string, as a Process target may. */
        if (h.type == MPROC__FRAME_TASK) {
            if (h.len == 0 || payload[h.len - 1] != '\0')
                worker_end(73);
            if (stage_len == 0)
                batch_t0 = now_ns();
            if (claim(claims, a->fifo_cap, received++, h.index))
                run_task(a, &ctx, &out, h.index, payload,
                         (size_t)h.len - 1);
            else
                result(a, MPROC__FRAME_FAIL, (uint32_t)-MPROC_ECANCELED,
                       h.index, NULL, 0);
        }
        mproc__chan_consume(a->task_ch);
        batch_end(a);
        if (a->max_memory > 0 && resident() > a->max_memory) {
            /* Recycle: say so, so the host hands the tasks queued here
             * to others, then end normally. */
            snprintf(lmsg, sizeof(lmsg),
                     "resident memory over max_memory_per_child (%zu bytes)",
                     a->max_memory);
            stage_flush(a);
            answer(a, MPROC__FRAME_RETIRE, 0, 0, lmsg, strlen(lmsg));
            worker_exit(a, &ctx, 0);
        }
    }
}

/* SPDX-License-Identifier: MIT */
/*
 * Pool internals shared by the host side (pool.c) and the worker side
 * (worker.c).
 */
#ifndef MPROC_POOL_INT_H
#define MPROC_POOL_INT_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <mproc/pool.h>

#include "plugin/plugin_int.h"
#include "pool/crash_int.h"

struct mproc_chan;

/* Largest piece of an exported channel side (MPROC__CHAN_BLOB_MAX). */
#define MPROC__WA_BLOB 128

/* What a worker needs to run. */
struct mproc__worker_args {
    const struct mproc_plugin *desc;
    const struct mproc_task_def *task;
    const struct mproc_kv *args;
    size_t nargs;
    size_t message_max;
    const struct mproc_sync *sync; /* shared objects, or NULL */
    unsigned slot;   /* worker slot, 0..N-1 */
    struct mproc_chan *task_ch;   /* its read side: frames from the host */
    struct mproc_chan *result_ch; /* its write side: frames to the host */
    /* Limits the worker applies to itself (see struct mproc_pool_opts). */
    size_t max_memory;
    unsigned long rlimit_cpu, rlimit_as, rlimit_nofile;
    int nice;
    /* Claims (see pool.c, "Taking tasks back"): fifo_cap words, one per
     * place in the worker's FIFO, shared with the host, followed by the
     * worker's result stage (struct mproc__stage).  A forked worker
     * finds them at `claims`; a new image maps claims_fd (the whole
     * pool's array: its own part starts at slot *
     * mproc__claims_slot_bytes(fifo_cap)).  None: has_claims 0. */
    _Atomic uint64_t *claims;
    int claims_fd;
    uint32_t has_claims, fifo_cap;
    /* A new image rebuilds task and result from exported sides: the
     * descriptors follow in that order, these say how many and carry
     * each side's blob (see ipc/chan_int.h). */
    uint32_t task_nfds, result_nfds;
    uint32_t task_bloblen, result_bloblen;
    unsigned char task_blob[MPROC__WA_BLOB], result_blob[MPROC__WA_BLOB];
};

/* The worker's main loop; never returns. */
void mproc__worker_main(const struct mproc__worker_args *a)
    __attribute__((noreturn));

/*
 * Starting one worker process: the start method's half of the pool.  The
 * host fills a request; mproc__worker_start() opens the task and result
 * channels on the `ipc` backend, starts the process by `method` and hands
 * back the host's sides.
 */
struct mproc__start {
    const char *method;  /* "fork", "spawn" or "forkserver" */
    /* What the worker runs; its task_ch/result_ch are ignored (the start
     * code opens the channels).  desc/task are usable in a forked child only. */
    const struct mproc__worker_args *wa;
    /* The plugin file, for methods that load it anew; NULL when the pool
     * runs an in-process descriptor (fork only). */
    const char *plugin_path;
    const char *ipc;     /* channel backend */
    size_t chan_max;     /* message_max of the channels */
    unsigned chan_group; /* channels the pool opens in all (mq sizing) */
    struct mproc__ring_arena *arena; /* shmring: rings from here; or NULL */
    /* What a forked child must close: other workers' channels (else a
     * worker's death may go unseen) and descriptors (pidfds). */
    struct mproc_chan *const *close_chans;
    size_t nclose_chans;
    const int *close_fds;
    size_t nclose;
    int cancel_fd; /* closed in the child too; -1: none */
    int claims_fd; /* handed to a new image; -1: none */
};

struct mproc__started {
    pid_t pid;
    int pidfd;     /* -1 where the kernel refuses pidfds (see pool.c) */
    struct mproc_chan *task;   /* the host's write side */
    struct mproc_chan *result; /* the host's read side */
};

/*
 * Around the start of a worker (mproc__worker_start, and open_channels):
 * from begin until _opened no other thread of the process forks (a lock
 * that the pthread_atfork handler of pool/api_fork.c takes), and _opened
 * enters the new channels in the registry of descriptors that every child
 * forked later closes, when a Pool API pool starts the worker; end (out:
 * the started worker, or NULL) closes the window.  Until the process-wide
 * descriptor registry takes this over.  begin returns the name the worker takes as its
 * mproc_current_process() (Python's ForkPoolWorker-N, SpawnPoolWorker-N,
 * ForkServerPoolWorker-N, by `method`) and its parent's in *parent_name,
 * for a Pool API pool's worker; NULL otherwise.  A forked worker takes it
 * at fork; a new image from its boot message.
 */
const char *mproc__fork_window_begin(const char *method,
                                     const char **parent_name);
void mproc__fork_window_opened(struct mproc_chan *task,
                               struct mproc_chan *result);
void mproc__fork_window_end(const struct mproc__started *out);

/* 0, or a negative MPROC_E* code with a message in errbuf. */
int mproc__worker_start(const struct mproc__start *s,
                        struct mproc__started *out, char *errbuf,
                        size_t errlen);

/*
 * An item too large to run that its source did not keep whole: mproc
 * run's line reader stops keeping a line once it is longer than
 * message_max, so that a long line (or an endless one) takes no more
 * memory than a short one.  Its next callback returns MPROC__ITEM_CUT
 * rather than 1, with item->len the item's whole size and item->data
 * only its first min(len, MPROC__ITEM_CUT_KEEP) bytes, for the message
 * that names it; the item fails as too large, whatever its size.
 */
#define MPROC__ITEM_CUT 2
#define MPROC__ITEM_CUT_KEEP 256

/* chunksize auto: the number of items in the input, when known before
 * the run (range, files); <= 0: unknown.  Before mproc_pool_run(). */
void mproc__pool_set_total(mproc_pool_t *p, long long total);
/* The chunk a run starts with: the fixed chunksize, or auto's choice
 * from the total; 0 when auto adapts it from measured task times (no
 * total known).  For mproc check. */
unsigned mproc__pool_chunksize(const mproc_pool_t *p);

/* The MPI launcher's host (framework/mpi/host.c) runs no worker of this
 * pool, only its reduce: hand it one output (no-op without a reduce);
 * -1 with why in msg when reduce failed.  And say why the run failed,
 * for mproc_pool_errmsg(). */
/* The plugin file whose reduce or reduce_end runs now in this process,
 * or NULL: what a crash handler of the host's names (mproc run; a
 * function, safe in a signal handler: it reads one word). */
extern const char *volatile mproc__in_reduce;
const char *mproc__pool_in_reduce(void);

/* The MPI host ran the items instead of mproc_pool_run(): the pool
 * counts as run (its reduced output may be asked for; it runs no more). */
void mproc__pool_ran_elsewhere(mproc_pool_t *p);
int mproc__pool_reduce_feed(mproc_pool_t *p, const void *data, size_t len,
                            uint64_t index, char *msg, size_t cap);
void mproc__pool_set_errmsg(mproc_pool_t *p, const char *msg);

/*
 * The caller's turn.  A pool run by a thread of its own (the Pool API's
 * result thread) may let another thread do a turn of its loop while that
 * thread sleeps, so that a caller waiting for one task sends it and reads
 * its answer itself, rather than pass it through a third party twice.
 * set_baton(), before the run: the run's loop holds `mu` except while it
 * sleeps, and wakes for wake_fd (an eventfd, read when it fires).
 * drive(): when the loop sleeps, every worker is up and one is idle,
 * send what `next` has now and read the answers, until done(arg) or
 * budget_ns passed; the loop is woken after if anything is left for it.
 * 1: done(arg) came true; 0: not within the budget; -1: no turn (busy, or
 * not in a state to hand over); MPROC_EINTR: a signal handler installed
 * without SA_RESTART ran in this thread meanwhile (the turn ended, the
 * task goes on).  The engine's callbacks run in this thread then: its
 * `next` must hand out only what this caller waits for.
 */
void mproc__pool_set_baton(mproc_pool_t *p, pthread_mutex_t *mu,
                           int wake_fd);
int mproc__pool_drive(mproc_pool_t *p, bool (*done)(void *), void *arg,
                      long long budget_ns);

/* The loaded plugin of a pool, for the CLI's reports. */
const struct mproc__plugin *mproc__pool_plugin(const mproc_pool_t *p);

/* Claim words: a task sent waits as its index + 1; then one side wins. */
#define MPROC__CLAIM_RUN UINT64_MAX           /* the worker started it */
#define MPROC__CLAIM_REVOKED (UINT64_MAX - 1) /* the host took it back */
/* The message of a task cancelled as it ran (its worker ended with the
 * run, before its result came): what follows says how. */
#define MPROC__STOPPED_RUNNING "stopped with the run while it ran"
/* The message of a task that failed after an item the stop cut short, in
 * an ordered run: cancelled too (not logged, its output not written), its
 * failure told after this. */
#define MPROC__HELD_FAILED "failed, after an item the stop cut short"

/* The descriptors of the host's sides of every live worker's channels:
 * up to max of them in fds; returns how many there are.  *gen changes
 * whenever the set of workers does; pids[i] is worker slot i's process
 * (0: none), for each of the pool's workers.  In the thread that runs the pool
 * (for the Pool API, which has children forked by other threads close
 * them: see api_engine.c). */
size_t mproc__pool_host_fds(const mproc_pool_t *p, int *fds, size_t max,
                            uint64_t *gen, pid_t *pids);

/*
 * A worker's results, staged (see pool.c, "Results in batches").  Each
 * worker slot's part of the claims memfd holds its fifo_cap claim words,
 * then this: the message of results the worker has finished but not yet
 * sent: a MPROC__FRAME_BATCH frame whose index is the number of the
 * first result (counted from 0, in the order tasks were sent to this
 * worker), then the result frames, in task order.  A seqlock: the worker
 * adds 1 to gen before it starts a new batch over the old bytes, then
 * sets t0_ns (CLOCK_MONOTONIC: when the batch's first task started) and
 * publishes len with a release store after each frame's bytes; len is 0
 * once the batch was sent.  The host may read it at any time: a copy is
 * good when gen was the same before and after.
 */
#define MPROC__STAGE_BYTES ((size_t)64 << 10)
#define MPROC__FRAME_BATCH 64u /* frame type, in result messages only */
struct mproc__stage {
    _Atomic uint64_t gen;
    _Atomic uint64_t len;
    _Atomic int64_t t0_ns;
    alignas(16) char data[MPROC__STAGE_BYTES];
};

/* The start of the stage within a worker slot's part of the claims memfd,
 * and the size of that part. */
static inline size_t
mproc__stage_offset(uint32_t fifo_cap)
{
    return ((size_t)fifo_cap * sizeof(uint64_t) + 63) & ~(size_t)63;
}

/* After the stage: the slot's backtrace record (pool/crash_int.h). */
static inline size_t
mproc__crash_offset(uint32_t fifo_cap)
{
    return (mproc__stage_offset(fifo_cap) + sizeof(struct mproc__stage) +
            63) & ~(size_t)63;
}

/* Rounded to a cache line: the next slot's claim words and stage (16-byte
 * aligned) start there, whatever the backtrace record's size (it grew by
 * 8 bytes once, and every slot but the first was misaligned). */
static inline size_t
mproc__claims_slot_bytes(uint32_t fifo_cap)
{
    return (mproc__crash_offset(fifo_cap) + sizeof(struct mproc__crash) +
            63) & ~(size_t)63;
}

/* Exit status of a worker whose init failed (the host also gets a frame). */
#define MPROC__WORKER_EXIT_INIT 78
/* A worker's exit status when it cannot receive a task (worker.c): the
 * host says what it means (harvest.c). */
#define MPROC__WORKER_EXIT_RECV 72

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The "shmring" backend: a single-producer single-consumer byte ring in a
 * memfd segment (no name, so nothing to leak in /dev/shm) mapped by both
 * sides.  Records are the framing layer's messages, laid end to end with
 * wrap-around; a message larger than the ring streams through in pieces.
 *
 * Indices are free-running byte counts (tail: written, head: read), so
 * used = tail - head and no byte is wasted to tell full from empty.  Each
 * index lives on its own cache line and each side keeps a private copy of
 * the other's index, re-reading the shared one only when its copy says
 * "full" or "empty" (DPDK's trick): a busy stream moves cache lines once
 * per batch, not once per message.
 *
 * Waiting: a side that finds the ring empty (full) spins for a while, with
 * a budget that doubles when spinning paid off and halves when it did not,
 * so it stops burning the CPU its peer needs when processes outnumber
 * cores.  Then it sleeps: it sets its sleep word, re-checks, and waits on
 * the word with the futex sync backend's word_wait; the other side wakes
 * it only when the word is set (so a busy stream makes no system call).
 * Sleeps are cut into slices of MPROC__CHAN_SLICE_MS to look for a dead
 * peer (an interruptible one, a Queue's or a Pipe's, in slices of
 * INTR_SLICE_MS: see s_wait).  A side that is polled instead (the pool's event loop) sets the
 * word to 2, and the peer then writes a byte to a "doorbell" pipe.
 *
 * Several processes may wait on one side (the readers and writers of a
 * Queue or a Pipe end take turns under a lock, but pollers and those
 * waiting for room do not): the sleep word is a set of bits, FUTEX and
 * POLL, that each sleeper ORs in and only the waker clears, waking every
 * futex sleeper; a sleeper that finds the ring ready leaves its bit for
 * the next wake to clear (one spare system call, never a lost wake-up).
 * A channel with one process per side (the pool's) clears its own bit as
 * it always did, so a busy stream makes no system call.
 *
 * Fences: publishing an index and then looking at the peer's sleep word
 * is the busy side of a Dekker handshake, and on x86 the store must be
 * followed by a fence (a locked instruction) for the load not to pass it:
 * measured, that was two thirds of a 64-byte send.  Where the kernel has
 * membarrier(2)'s MEMBARRIER_CMD_GLOBAL_EXPEDITED, the side going to sleep
 * can pay instead: its membarrier runs a full barrier on every CPU running
 * a registered process (a process that publishes without a fence
 * registers first, see asym_here), so the busy side needs only a release
 * store and a compiler barrier.  A membarrier costs microseconds (an
 * interrupt to the other CPU), a fence tens of nanoseconds, so the sleeper
 * chooses, per direction, from how much went through since its last
 * sleep (asym[]: a stream that rarely sleeps skips the fences, a pool
 * task that sleeps for every message keeps them).  The choice is the
 * sleeper's alone, so only channels with one process per side make it
 * (not a Queue's or a Pipe's, which fence as before).  Such a channel
 * starts without fences when its creator could register; a side whose
 * membarrier is refused (a seccomp filter, an older kernel, or
 * MPROC_TEST_NO_MEMBARRIER=1 in tests) turns them back on for good, and
 * its first sleep after that is not sure to be woken: it looks again
 * after 1 ms (futex) or at once (poll).  The publisher reads the flag
 * after its store (publish), which is what makes a switch safe: see
 * sleep_fence.
 *
 * Children forked after s_nofork() get no copy of the segment: the pool's
 * host keeps a ring pair per worker, and each fork copied, and each new
 * worker unmapped, all of the others' (s_close_side then only closes the
 * descriptors in such a child, see mapped_here).
 *
 * Peer death: each direction has two doorbell pipes, the writer side
 * holding the write end of one and the reader side of the other.  When
 * every holder of a side is gone (closed or killed) the kernel hangs the
 * other side's read end up, seen by poll() at once or by a sleeper at its
 * next slice.
 */
#include "internal.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/membarrier.h>

#include "ipc/chan_int.h"
#include "sync/sync_int.h"

#define RING_MAGIC 0x6d707267u /* "mprg" */
/* 2: asym[] (the sleepers' fence choice) where 1 had a reserved word;
 * a side of another layout would not pay its half of it.  3: crowded. */
#define RING_LAYOUT 3
#define DEFAULT_CAPACITY ((size_t)256 << 10)
#define MIN_CAPACITY ((size_t)4096)
#define MAX_CAPACITY ((size_t)1 << 30)
/* Rings opened together (mproc__chan_opts.group: a pool's, two per
 * worker) share this many bytes, each at least GROUP_MIN_CAPACITY, when
 * the caller leaves the capacity to us.  A ring's bytes are used in turn
 * whatever is in flight, so each of its pages is faulted in by both
 * sides (a pipe reuses a few hot pages) and the stream walks through all
 * of them in the caches.  With 256 KiB rings and 64 echo workers the
 * host took 6,900 more page faults than on pipe over 400,000 items, and
 * 20-30% more CPU; 2 to 8 workers keep the whole DEFAULT_CAPACITY. */
#define GROUP_BYTES ((size_t)4 << 20)
#define GROUP_MIN_CAPACITY ((size_t)32 << 10)

/* Spinning budget, in nanoseconds. */
/* An interruptible wait's slices (see s_wait). */
#define INTR_SLICE_MS 500L
#define SPIN_START_NS 20000L
#define SPIN_MAX_NS 50000L
#define SPIN_MIN_NS 1000L
/* At most this many pauses between two looks at the peer's index. */
#define SPIN_BACKOFF 8u
/* With no budget left, try a spin of SPIN_PROBE_NS again every this many
 * waits.  Not much shorter: a peer that answers at once (a worker whose
 * caller spins for the answer) takes a few us to hand the next message
 * back, and a probe shorter than that never succeeds, so a pair that lost
 * its spins once (a preemption) would sleep for good. */
#define SPIN_PROBE 64u
#define SPIN_PROBE_NS 5000L
/* A group of more rings than this per CPU (a pool of more than 4 workers
 * per CPU) starts without a spin budget (see reset_local).  Not fewer:
 * issue 13's case, 4 workers on 2 CPUs, keeps the spins it measured. */
#define CROWD_RINGS_PER_CPU 8u

/* Sleep words: bits. */
#define AWAKE 0u
#define FUTEX 1u /* some side asleep on the futex: wake them all */
#define POLL 2u  /* some side asleep in poll(): ring the doorbell */

/* The shared segment. */
struct mproc__ring {
    uint32_t magic;
    uint32_t layout_version;
    uint64_t size;                       /* bytes of the whole segment */
    uint64_t cap;                        /* bytes of data[], a power of 2 */
    /* 1: the index (0 tail, 1 head) is published without a fence; its
     * sleeper (0 the consumer, 1 the producer) calls membarrier. */
    _Atomic uint32_t asym[2];
    /* 1: opened in a group of more than CROWD_RINGS_PER_CPU rings per
     * CPU (see reset_local).  Set before either side uses the ring. */
    uint32_t crowded;
    alignas(64) _Atomic uint64_t tail;   /* written by the producer only */
    alignas(64) _Atomic uint32_t rsleep; /* the consumer's sleep word */
    alignas(64) _Atomic uint64_t head;   /* written by the consumer only */
    alignas(64) _Atomic uint32_t wsleep; /* the producer's sleep word */
    alignas(64) unsigned char data[];
};
_Static_assert(offsetof(struct mproc__ring, size) == 8, "ring layout");
_Static_assert(offsetof(struct mproc__ring, crowded) == 32, "ring layout");
_Static_assert(offsetof(struct mproc__ring, tail) == 64, "ring layout");
_Static_assert(offsetof(struct mproc__ring, rsleep) == 128, "ring layout");
_Static_assert(offsetof(struct mproc__ring, head) == 192, "ring layout");
_Static_assert(offsetof(struct mproc__ring, wsleep) == 256, "ring layout");
_Static_assert(offsetof(struct mproc__ring, data) == 320, "ring layout");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "lock-free 64-bit atomics");

struct spin {
    long budget_ns;
    unsigned idle;
};

/* A segment of a group's rings (see mproc__shmring_arena_new).  Mapped
 * MADV_DONTFORK as a whole: a ring's slice is opened to fork() from its
 * open until s_nofork, as a ring of its own segment would be.  Slices are
 * handed out once, never again: a ring freed may still be mapped in a
 * process that outlived its peer. */
struct mproc__ring_arena {
    int memfd;
    char *base;
    size_t len;        /* bytes mapped at base */
    size_t slot_len;   /* bytes of one ring's slice, whole pages */
    size_t cap;        /* each ring's data bytes */
    unsigned nslots, next;
    unsigned refs;
    int32_t pid;       /* the process that mapped it (mproc__self) */
};

struct ring_priv {
    struct mproc__ring *r;
    size_t maplen;
    int memfd;
    struct mproc__ring_arena *arena; /* r is a slice of it, or NULL */
    uint64_t arena_off;              /* the slice's offset in its memfd */
    int rbell[2];       /* WR side holds [1], rings it; RD side polls [0] */
    int wbell[2];       /* RD side holds [1], rings it; WR side polls [0] */
    uint64_t head_seen; /* producer's copy of head */
    uint64_t tail_seen; /* consumer's copy of tail */
    uint64_t wneed;     /* room the producer waits for */
    uint64_t slept[2];  /* the peer's index (tail, head) at our last
                           sleep on RD, WR: see sleep_fence */
    bool wgone, rgone;  /* the writers / readers are gone */
    int32_t rarmed, warmed; /* the process that armed RD, WR for poll()
                               (0: not armed); a child forked after
                               inherits the flags, not the arming */
    struct spin rspin, wspin;
    int wfd[2];         /* RD side's wait_fd: epoll of rbell[0] and an
                           eventfd rung here when ready at arming */
    int32_t wfd_pid;    /* the process that made wfd[] */
    int32_t nofork_pid; /* 0, or the process that left r out of its
                           children (s_nofork): in any other, r names
                           no mapping */
};

static struct ring_priv *
priv(const struct mproc_chan *ch)
{
    return (struct ring_priv *)ch->priv;
}

/* The segment is mapped in this process (see s_nofork). */
static bool
mapped_here(const struct ring_priv *p)
{
    return p->nofork_pid == 0 || p->nofork_pid == mproc__self();
}

/* ---- asymmetric fences (see the top of the file) ---- */

/* A sleeper turns the fence-less publishing on after at least this many
 * bytes went through since its previous sleep, off below. */
#define ASYM_BYTES ((uint64_t)64 << 10)
/* A sleep that a fence-less publish may have missed looks again this
 * soon (a store waits in a CPU's store buffer for nanoseconds). */
#define UNSURE_MS 1

/* The process (mproc__self) that registered for membarrier's global
 * expedited barrier, or minus the one that could not: after a fork() the
 * child registers again (it may not inherit the registration). */
static _Atomic int32_t asym_pid;

static bool
asym_refused(void)
{
    const char *e = getenv("MPROC_TEST_NO_MEMBARRIER");

    return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
}

__attribute__((noinline)) static bool
asym_register(int32_t self)
{
    long q = -1;
    bool ok = false;

    if (!asym_refused())
        q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (q >= 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
        (q & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED))
        ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
                     0, 0) == 0;
    atomic_store_explicit(&asym_pid, ok ? self : -self, memory_order_relaxed);
    return ok;
}

/* This process is registered, so it may publish without a fence and
 * sleep with membarrier.  Two loads; system calls once per process. */
static inline bool
asym_here(void)
{
    int32_t self = mproc__self(),
            v = atomic_load_explicit(&asym_pid, memory_order_relaxed);

    if (v == self)
        return true;
    if (v == -self)
        return false;
    return asym_register(self);
}

/*
 * Publish a new index (tail or head, `which` 0 or 1), before wake() looks
 * at the peer's sleep word.  Release at least: the bytes written (read)
 * are done before the index says so.  Fenced (a seq_cst store: one xchg on
 * x86) unless the sleeper says it pays with membarrier; that is decided
 * by a look at the flag after the store (see sleep_fence), with a fence
 * then if it was turned off meanwhile.
 */
static inline void
publish(struct mproc__ring *r, unsigned which, uint64_t v)
{
    _Atomic uint64_t *idx = which == 0 ? &r->tail : &r->head;

    if (!atomic_load_explicit(&r->asym[which], memory_order_relaxed) ||
        !asym_here()) {
        atomic_store_explicit(idx, v, memory_order_seq_cst);
        return;
    }
    atomic_store_explicit(idx, v, memory_order_release);
    /* The compiler must keep the loads below after the store. */
    atomic_signal_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&r->asym[which], memory_order_relaxed))
        atomic_thread_fence(memory_order_seq_cst);
}

/*
 * The sleeper's half, after setting its sleep word and before looking at
 * the peer's index one last time.  `moved`: bytes through since its last
 * sleep.  Switching is safe both ways because this sleep calls membarrier
 * whenever the flag was or will be on: a publisher that read the flag on
 * did its store before the barrier membarrier ran on its CPU (its load of
 * the flag came after the store, and after that barrier it would have
 * read off), so the store is seen by the re-check that follows, here and
 * at every later sleep.  One sleeper per flag (no MPROC__CHAN_SHARED).
 */
static bool
sleep_fence(const struct mproc_chan *ch, struct mproc__ring *r,
            unsigned which, uint64_t moved)
{
    _Atomic uint32_t *f = &r->asym[which]; /* the peer publishes */
    uint32_t was = atomic_load_explicit(f, memory_order_relaxed), want = 0;
    bool can = asym_here(); /* registered: membarrier works here */

    if (!(ch->flags & MPROC__CHAN_SHARED) && moved >= ASYM_BYTES && can)
        want = 1;
    if (want != was)
        atomic_store_explicit(f, want, memory_order_relaxed);
    if ((was || want) && can &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0)
        return true;
    if (was || want) /* refused: fence from now on */
        atomic_store_explicit(f, 0, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    /* A publish that read the flag on may have passed us. */
    return !was && !want;
}

int
mproc__shmring_asym(const struct mproc_chan *ch, unsigned side)
{
    const struct ring_priv *p = (const struct ring_priv *)ch->priv;

    return p->r != NULL &&
           atomic_load_explicit(
               &p->r->asym[side == MPROC__CHAN_RD ? 0 : 1],
               memory_order_relaxed) != 0;
}

size_t
mproc__shmring_memsize(size_t cap)
{
    return sizeof(struct mproc__ring) + cap;
}

/* Lay a ring of `cap` bytes (a power of two) out in `mem` (`len` bytes,
 * zero-filled or not).  0 or MPROC_EINVAL. */
int
mproc__shmring_init(void *mem, size_t len, size_t cap)
{
    struct mproc__ring *r = mem;

    if (cap == 0 || (cap & (cap - 1)) != 0 || len < mproc__shmring_memsize(cap))
        return MPROC_EINVAL;
    r->magic = RING_MAGIC;
    r->layout_version = RING_LAYOUT;
    r->size = len;
    r->cap = cap;
    atomic_init(&r->asym[0], 0);
    atomic_init(&r->asym[1], 0);
    r->crowded = 0;
    atomic_init(&r->tail, 0);
    atomic_init(&r->head, 0);
    atomic_init(&r->rsleep, AWAKE);
    atomic_init(&r->wsleep, AWAKE);
    return 0;
}

static long
ncpu(void)
{
    static long n;

    if (n == 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    return n;
}

static long
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* ---- readiness and wake-ups ---- */

static bool
can_read(struct ring_priv *p)
{
    uint64_t head = atomic_load_explicit(&p->r->head, memory_order_relaxed);

    /* Signed: in a Queue another reader may have moved head past our
     * copy of tail. */
    if ((int64_t)(p->tail_seen - head) > 0)
        return true;
    /* Acquire pairs with the release store of tail in s_write: the bytes
     * are in memory before the index says so. */
    p->tail_seen = atomic_load_explicit(&p->r->tail, memory_order_acquire);
    return p->tail_seen != head;
}

static bool
s_glance(struct mproc_chan *ch)
{
    return can_read(priv(ch));
}

static bool
can_write(struct ring_priv *p)
{
    uint64_t tail = atomic_load_explicit(&p->r->tail, memory_order_relaxed);

    /* Our copy of head may be older than the last producer's tail (a
     * Queue's producers take turns): then it says nothing. */
    if (tail - p->head_seen < p->r->cap &&
        p->r->cap - (tail - p->head_seen) >= p->wneed)
        return true;
    /* Acquire pairs with the release store of head in s_read: the reader
     * is done with the bytes we are about to overwrite. */
    p->head_seen = atomic_load_explicit(&p->r->head, memory_order_acquire);
    return p->r->cap - (tail - p->head_seen) >= p->wneed;
}

static bool
ready(struct ring_priv *p, unsigned side)
{
    return side == MPROC__CHAN_RD ? can_read(p) : can_write(p);
}

/* wake()'s slow half: the peer sleeps, on the futex or in poll(). */
__attribute__((noinline)) static void
wake_up(_Atomic uint32_t *word, int bell)
{
    uint32_t v = atomic_exchange_explicit(word, AWAKE, memory_order_relaxed);

    if (v & FUTEX)
        mproc__futex_wake(word, INT32_MAX);
    if ((v & POLL) && bell >= 0)
        mproc__bell_ring(bell);
}

/*
 * After publishing an index (publish()): wake the peer if it sleeps.
 * A Dekker handshake: the publisher stores its index then loads the sleep
 * word; the sleeper stores its word, then sleep_fence(), then loads the
 * index (s_wait, s_pollfd).  Either the sleeper sees the new index when it
 * re-checks, or we see its word here.  The store and the load are both
 * seq_cst, or (asym) the sleeper's membarrier puts a full barrier between
 * them on our CPU, or we had passed both, or neither.
 */
static inline void
wake(_Atomic uint32_t *word, int bell)
{
    if (atomic_load_explicit(word, memory_order_seq_cst) != AWAKE)
        wake_up(word, bell);
}

/* Done sleeping: a side that is alone on its word takes its bit back. */
static void
awake(const struct mproc_chan *ch, _Atomic uint32_t *word)
{
    if (!(ch->flags & MPROC__CHAN_SHARED))
        atomic_store_explicit(word, AWAKE, memory_order_relaxed);
}

/* ---- open ---- */

static void
release(struct ring_priv *p)
{
    /* A slice is unmapped with its arena, in the process that made it;
     * in a child forked with it, only the slice was mapped. */
    if (p->r != NULL && mapped_here(p) &&
        (p->arena == NULL || p->arena->pid != mproc__self()))
        munmap(p->r, p->maplen);
    /* A slice freed before its worker ran (a start that failed) goes
     * back out of fork()'s reach. */
    if (p->r != NULL && p->arena != NULL && p->arena->pid == mproc__self() &&
        p->nofork_pid == 0)
        (void)madvise(p->r, p->maplen, MADV_DONTFORK);
    p->r = NULL;
    if (p->arena != NULL) {
        mproc__shmring_arena_unref(p->arena);
        p->arena = NULL;
    }
    mproc__close_fd(&p->memfd);
    mproc__close_fd(&p->rbell[0]);
    mproc__close_fd(&p->rbell[1]);
    mproc__close_fd(&p->wbell[0]);
    mproc__close_fd(&p->wbell[1]);
    mproc__close_fd(&p->wfd[0]);
    mproc__close_fd(&p->wfd[1]);
}

static void
reset_local(struct ring_priv *p)
{
    p->head_seen = p->tail_seen = 0;
    p->wneed = 1;
    p->wgone = p->rgone = false;
    p->rarmed = p->warmed = 0;
    /* A pool of many more workers than CPUs: a worker's peer (the host)
     * is on a CPU only part of the time, and what a side spins for its
     * first waits is taken from the processes that would answer it.
     * With 256 echo workers on 2 CPUs the first spins (20 us, then
     * halved) were 7% of the CPU of a run of 300 items.  Such sides start
     * with no budget and probe (spin) now and then, which gives it back
     * where spinning pays. */
    p->rspin.budget_ns = p->wspin.budget_ns =
        ncpu() > 1 && !p->r->crowded ? SPIN_START_NS : 0;
    p->rspin.idle = p->wspin.idle = 0;
    p->slept[0] = p->slept[1] = 0;
}

/* The data bytes of a ring opened with o (a power of two), or 0 when
 * the capacity asked for is too large. */
static size_t
ring_cap(const struct mproc__chan_opts *o)
{
    size_t cap = MIN_CAPACITY, want = o->capacity ? o->capacity
                                                  : DEFAULT_CAPACITY;

    if (o->capacity == 0 && o->group > 0 && GROUP_BYTES / o->group < want)
        want = GROUP_BYTES / o->group < GROUP_MIN_CAPACITY
                   ? GROUP_MIN_CAPACITY
                   : GROUP_BYTES / o->group;
    if (want > MAX_CAPACITY)
        return 0;
    while (cap < want)
        cap *= 2;
    return cap;
}

static size_t
page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

struct mproc__ring_arena *
mproc__shmring_arena_new(unsigned nrings, const struct mproc__chan_opts *o)
{
    struct mproc__ring_arena *a;
    size_t cap = ring_cap(o);

    if (cap == 0 || nrings == 0 || (a = calloc(1, sizeof(*a))) == NULL)
        return NULL;
    a->cap = cap;
    a->slot_len = page_round(mproc__shmring_memsize(cap));
    a->nslots = nrings;
    a->len = a->slot_len * nrings;
    a->refs = 1;
    a->pid = mproc__self();
    a->memfd = mproc__memfd("mproc-shmring");
    if (a->memfd < 0 || a->len / a->slot_len != nrings ||
        ftruncate(a->memfd, (off_t)a->len) < 0 ||
        (a->base = mmap(NULL, a->len, PROT_READ | PROT_WRITE, MAP_SHARED,
                        a->memfd, 0)) == MAP_FAILED) {
        if (a->memfd >= 0)
            close(a->memfd);
        free(a);
        return NULL;
    }
    /* Nothing of it goes to a child but the slices being started. */
    (void)madvise(a->base, a->len, MADV_DONTFORK);
    return a;
}

void
mproc__shmring_arena_unref(struct mproc__ring_arena *a)
{
    if (a == NULL || --a->refs > 0)
        return;
    /* A forked child has the slices it was started with at most (they are
     * unmapped with their rings), and the holes may hold its own maps by
     * now: only the maker unmaps the whole. */
    if (a->pid == mproc__self())
        munmap(a->base, a->len);
    mproc__close_fd(&a->memfd);
    free(a);
}

/* A slice of o->arena for p, when it has one of the size o asks for. */
static bool
take_slice(struct ring_priv *p, const struct mproc__chan_opts *o, size_t cap)
{
    struct mproc__ring_arena *a = o->arena;
    char *m;

    if (a == NULL || a->pid != mproc__self() || a->cap != cap ||
        a->next >= a->nslots)
        return false;
    m = a->base + (size_t)a->next * a->slot_len;
    /* Forked with the process started next (until s_nofork).  Where
     * madvise refuses, the segment of its own is the way. */
    if (madvise(m, a->slot_len, MADV_DOFORK) < 0)
        return false;
    p->arena_off = (uint64_t)a->next * a->slot_len;
    a->next++;
    a->refs++;
    p->arena = a;
    p->r = (struct mproc__ring *)(void *)m;
    p->maplen = a->slot_len;
    return true;
}

static int
s_open(struct mproc_chan *ch, const struct mproc__chan_opts *o,
       mproc_err_t *err)
{
    struct ring_priv *p = priv(ch);
    size_t cap = ring_cap(o);
    int r;

    p->r = NULL;
    p->arena = NULL;
    p->memfd = p->rbell[0] = p->rbell[1] = p->wbell[0] = p->wbell[1] = -1;
    p->wfd[0] = p->wfd[1] = -1;
    p->nofork_pid = 0;
    if (cap == 0)
        return mproc__err(err, MPROC_EINVAL,
                          "shmring: capacity %zu is above %zu bytes",
                          o->capacity, MAX_CAPACITY);
    if (take_slice(p, o, cap)) {
        /* A slice handed out once: zero-filled. */
    } else {
        p->maplen = mproc__shmring_memsize(cap);
        p->memfd = mproc__memfd("mproc-shmring");
        if (p->memfd < 0 || ftruncate(p->memfd, (off_t)p->maplen) < 0) {
            r = -errno;
            release(p);
            return mproc__err(err, r, "shmring: cannot create %zu bytes of "
                              "shared memory: %s", p->maplen, strerror(-r));
        }
        p->r = mmap(NULL, p->maplen, PROT_READ | PROT_WRITE, MAP_SHARED,
                    p->memfd, 0);
        if (p->r == MAP_FAILED) {
            r = -errno;
            p->r = NULL;
            release(p);
            return mproc__err(err, r, "shmring: mmap: %s", strerror(-r));
        }
    }
    mproc__shmring_init(p->r, p->maplen, cap);
    p->r->crowded = o->group > CROWD_RINGS_PER_CPU * (unsigned long)ncpu();
    /* One process per side: start without fences where this process
     * could register (the first sleep of a side that cannot turns them
     * back on). */
    if (!(ch->flags & MPROC__CHAN_SHARED) && asym_here()) {
        atomic_store_explicit(&p->r->asym[0], 1, memory_order_relaxed);
        atomic_store_explicit(&p->r->asym[1], 1, memory_order_relaxed);
    }
    if ((r = mproc__bell_open(p->rbell)) < 0 ||
        (r = mproc__bell_open(p->wbell)) < 0) {
        release(p);
        return mproc__err(err, r, "shmring: cannot create a pipe: %s",
                          strerror(-r));
    }
    reset_local(p);
    ch->lim.capacity = cap;
    ch->lim.chunk = cap;
    ch->lim.mq_maxmsg = 0;
    return 0;
}

/* ---- moving bytes ---- */

static void
disarm(const struct mproc_chan *ch, _Atomic uint32_t *word, int bell,
       int self, int32_t *armed)
{
    uint64_t v;
    bool mine;

    if (*armed == 0)
        return;
    mine = *armed == mproc__self();
    *armed = 0;
    /* Armed by the process this one was forked from: the doorbell's byte
     * and the eventfd's count are the readiness its poll() waits for, and
     * a process in that poll would sleep on with a message waiting. */
    if (!mine)
        return;
    /* Shared: the word's POLL bit stays (another process may poll too),
     * the next wake clears it. */
    awake(ch, word);
    mproc__bell_drain(bell);
    if (self >= 0)
        (void)!read(self, &v, sizeof(v));
}

static ssize_t
s_write(struct mproc_chan *ch, const struct iovec *iov, int iovcnt)
{
    struct ring_priv *p = priv(ch);
    struct mproc__ring *r = p->r;
    uint64_t tail, room, done = 0, total = 0, need;
    size_t mask = r->cap - 1;
    int i;

    disarm(ch, &r->wsleep, p->wbell[0], -1, &p->warmed);
    if (p->rgone)
        return -EPIPE;
    /* Relaxed: only this side writes tail. */
    tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (iovcnt == 2 && tail - p->head_seen < r->cap) {
        /* The framing layer's message, header and payload: when it fits
         * without wrapping, two copies and a publish (the header's a
         * constant 8 bytes, which the compiler copies inline: a libc
         * call for 8 bytes was a tenth of a 64-byte send). */
        size_t a = iov[0].iov_len, b = iov[1].iov_len, off = tail & mask;

        if (a + b <= r->cap - (tail - p->head_seen) && off + a + b <= r->cap) {
            if (a == 8)
                memcpy(r->data + off, iov[0].iov_base, 8);
            else
                memcpy(r->data + off, iov[0].iov_base, a);
            memcpy(r->data + off + a, iov[1].iov_base, b);
            p->wneed = 1;
            publish(r, 0, tail + a + b);
            wake(&r->rsleep, p->rbell[1]);
            return (ssize_t)(a + b);
        }
    }
    room = tail - p->head_seen >= r->cap ? 0 : r->cap - (tail - p->head_seen);
    for (i = 0; i < iovcnt && total <= r->cap; i++)
        total += iov[i].iov_len;
    /* All or nothing up to the ring's size, as a pipe is up to PIPE_BUF:
     * then a send that times out has sent nothing.  Larger writes stream
     * through in pieces. */
    need = total <= r->cap ? total : 1;
    if (room < need) {
        /* Acquire pairs with the release of head in s_read. */
        p->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
        room = r->cap - (tail - p->head_seen);
    }
    if (room < need) {
        p->wneed = need; /* what can_write waits for */
        return -EAGAIN;
    }
    p->wneed = 1;
    /* A piece larger than the ring goes a quarter of it at a time, so the
     * reader starts on it while we copy the rest. */
    if (total > r->cap && room > r->cap / 4)
        room = r->cap / 4;
    for (i = 0; i < iovcnt && done < room; i++) {
        const char *src = iov[i].iov_base;
        size_t n = iov[i].iov_len, off;

        if (n > room - done)
            n = (size_t)(room - done);
        off = (size_t)((tail + done) & mask);
        if (off + n <= r->cap) {
            memcpy(r->data + off, src, n);
        } else {
            memcpy(r->data + off, src, r->cap - off);
            memcpy(r->data, src + (r->cap - off), n - (r->cap - off));
        }
        done += n;
    }
    /* A release (at least): pairs with the acquire load of tail in
     * can_read/s_read, so the bytes above are visible before the new tail;
     * and the handshake of wake().  (In a Queue the producers take turns
     * under a lock, which orders their tails.) */
    publish(r, 0, tail + done);
    wake(&r->rsleep, p->rbell[1]);
    return (ssize_t)done;
}

static ssize_t
s_read(struct mproc_chan *ch, void *buf, size_t len)
{
    struct ring_priv *p = priv(ch);
    struct mproc__ring *r = p->r;
    uint64_t head, avail;
    size_t mask = r->cap - 1, n, off;

    disarm(ch, &r->rsleep, p->rbell[0], p->wfd[1], &p->rarmed);
    /* Relaxed: only this side writes head. */
    head = atomic_load_explicit(&r->head, memory_order_relaxed);
    avail = p->tail_seen - head;
    if ((int64_t)avail <= 0) {
        /* Empty as far as we know (or our copy is older than head, moved
         * by another reader of a Queue). */
        /* Acquire pairs with the release of tail in s_write. */
        p->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        avail = p->tail_seen - head;
        if (avail == 0)
            return p->wgone ? 0 : -EAGAIN;
    }
    n = avail < len ? (size_t)avail : len;
    /* A quarter of the ring at a time: the writer refills what we free
     * while we copy the rest (large messages stream in parallel). */
    if (n > r->cap / 4)
        n = r->cap / 4;
    off = (size_t)(head & mask);
    if (off + n <= r->cap) {
        memcpy(buf, r->data + off, n);
    } else {
        memcpy(buf, r->data + off, r->cap - off);
        memcpy((char *)buf + (r->cap - off), r->data, n - (r->cap - off));
    }
    /* A release (at least): pairs with the acquire load of head in
     * s_write/can_write, so we are done with these bytes before the
     * writer may reuse them; and the handshake of wake(). */
    publish(r, 1, head + n);
    wake(&r->wsleep, p->wbell[1]);
    return (ssize_t)n;
}

/* ---- waiting ---- */

/* Spin until `side` is ready or the budget is spent; adapt the budget. */
static bool
spin(struct ring_priv *p, unsigned side)
{
    struct spin *s = side == MPROC__CHAN_RD ? &p->rspin : &p->wspin;
    long start;
    unsigned i, pauses = 1;

    if (s->budget_ns == 0) {
        if (ncpu() < 2 || ++s->idle < SPIN_PROBE)
            return false;
        s->idle = 0;
        s->budget_ns = SPIN_PROBE_NS;
    }
    start = now_ns();
    for (i = 1;; i++) {
        unsigned k;

        if (ready(p, side)) {
            s->budget_ns = s->budget_ns * 2 > SPIN_MAX_NS ? SPIN_MAX_NS
                                                          : s->budget_ns * 2;
            return true;
        }
        /* Look less often the longer it takes: every look pulls the
         * peer's index line over, and the peer's next store must take it
         * back (a streaming writer would pay that once per message). */
        for (k = 0; k < pauses; k++)
            mproc__cpu_relax();
        if (pauses < SPIN_BACKOFF)
            pauses *= 2;
        if ((i & 7) == 0 && now_ns() - start > s->budget_ns)
            break;
    }
    s->budget_ns /= 2;
    if (s->budget_ns < SPIN_MIN_NS)
        s->budget_ns = 0;
    return false;
}

/* About to sleep on `side`: set the word's bit, then sleep_fence() with
 * how much the peer moved since our last sleep.  False when a publish may
 * have passed unseen (look again soon). */
static bool
arm(const struct mproc_chan *ch, unsigned side, uint32_t bit, uint32_t *cur)
{
    struct ring_priv *p = priv(ch);
    unsigned i = side == MPROC__CHAN_RD ? 0 : 1;
    _Atomic uint32_t *word = i == 0 ? &p->r->rsleep : &p->r->wsleep;
    uint64_t at = atomic_load_explicit(i == 0 ? &p->r->tail : &p->r->head,
                                       memory_order_relaxed),
             moved = at - p->slept[i];

    p->slept[i] = at;
    *cur = atomic_fetch_or_explicit(word, bit, memory_order_relaxed) | bit;
    /* Pairs with publish() and wake(): see the comment there. */
    return sleep_fence(ch, p->r, i, moved);
}

static bool
peer_gone(struct ring_priv *p, unsigned side)
{
    bool *gone = side == MPROC__CHAN_RD ? &p->wgone : &p->rgone;

    if (!*gone &&
        mproc__bell_hup(side == MPROC__CHAN_RD ? p->rbell[0] : p->wbell[0]))
        *gone = true;
    return *gone;
}

static int
s_wait(struct mproc_chan *ch, unsigned side, const struct timespec *deadline)
{
    struct ring_priv *p = priv(ch);
    _Atomic uint32_t *word =
        side == MPROC__CHAN_RD ? &p->r->rsleep : &p->r->wsleep;
    struct timespec sl;
    uint32_t cur;
    long slice;
    int rc;

    if (ready(p, side))
        return 0;
    if (mproc__sync_passed(deadline))
        return peer_gone(p, side) ? 0 : MPROC_ETIMEDOUT;
    if (spin(p, side) || peer_gone(p, side))
        return 0;
    for (;;) {
        const struct timespec *until;
        bool sure = arm(ch, side, FUTEX, &cur);

        if (ready(p, side)) {
            awake(ch, word);
            return 0;
        }
        /* A deadline a slice or two away (the caller's own slice, as a
         * Queue's get takes) is slept to whole: each wake-up is a moment
         * where a signal's handler can run unseen, as the sleep times out
         * (util/signal.c).  So an interruptible wait (a Queue's, a
         * Pipe's) has long slices: a peer killed without closing is seen
         * within INTR_SLICE_MS instead of 50 ms (one that closes its end
         * wakes us at once: s_close_side). */
        slice = (ch->flags & MPROC__CHAN_EINTR) ? INTR_SLICE_MS
                                                : MPROC__SYNC_SLICE_MS;
        until = deadline != NULL && mproc__ms_left(deadline) <= 2 * slice
                    ? deadline
                    : mproc__sync_slice_of(&sl, deadline, slice);
        if (!sure) {
            struct timespec soon;

            mproc__deadline_in(&soon, UNSURE_MS);
            if (until == NULL || soon.tv_sec < until->tv_sec ||
                (soon.tv_sec == until->tv_sec &&
                 soon.tv_nsec < until->tv_nsec)) {
                sl = soon;
                until = &sl;
            }
        }
        rc = mproc__chan_futex_wait(word, cur, until,
                                    ch->flags & MPROC__CHAN_EINTR);
        awake(ch, word);
        if (ready(p, side))
            return 0;
        if (rc == MPROC_EINTR)
            return rc;
        if (rc != MPROC_ETIMEDOUT)
            return 0; /* woken: the caller looks again */
        if (peer_gone(p, side))
            return 0;
        if (mproc__sync_passed(deadline))
            return MPROC_ETIMEDOUT;
    }
}

static int
s_pollfd(struct mproc_chan *ch, unsigned side, short *events)
{
    struct ring_priv *p = priv(ch);
    bool rd = side == MPROC__CHAN_RD;
    _Atomic uint32_t *word = rd ? &p->r->rsleep : &p->r->wsleep;
    uint32_t cur;

    *events = POLLIN;
    /* Ready already: no sleep, so no arming either.  Arming counts as a
     * sleep for the fence choice (sleep_fence), and a poller draining a
     * burst would otherwise "sleep" with nothing moved at every look and
     * turn the writer's fences back on in the middle of a stream. */
    if (ready(p, side))
        return -EAGAIN;
    /* Unsure (see arm): say ready, the caller looks and arms again. */
    if (!arm(ch, side, POLL, &cur) || ready(p, side)) {
        awake(ch, word);
        return -EAGAIN;
    }
    if (rd)
        p->rarmed = mproc__self();
    else
        p->warmed = mproc__self();
    return rd ? p->rbell[0] : p->wbell[0];
}

static int
s_pending(struct mproc_chan *ch)
{
    struct ring_priv *p = priv(ch);

    /* Acquire pairs with the seq_cst stores of s_write / s_read. */
    if (atomic_load_explicit(&p->r->tail, memory_order_acquire) !=
        atomic_load_explicit(&p->r->head, memory_order_acquire))
        return 1;
    return peer_gone(p, MPROC__CHAN_RD) ? -EPIPE : 0;
}

static int
s_wait_fd(struct mproc_chan *ch)
{
    struct ring_priv *p = priv(ch);
    struct epoll_event ev = {.events = EPOLLIN};
    short events;
    uint64_t one = 1;
    int e;

    if (p->wfd[0] >= 0 && p->wfd_pid != mproc__self()) {
        /* The parent's, inherited through fork(): its eventfd and epoll
         * instance are shared with it, so draining them here would take
         * the parent's readiness.  Ours are made below. */
        mproc__close_fd(&p->wfd[0]);
        mproc__close_fd(&p->wfd[1]);
    }
    if (p->wfd[0] < 0) {
        /* The doorbell alone will not do: it is rung only for bytes
         * written after it was armed, so bytes already there ring an
         * eventfd of our own.  One epoll descriptor stands for both (and
         * shows the writers' end as the doorbell's hang-up). */
        p->wfd[0] = epoll_create1(EPOLL_CLOEXEC);
        p->wfd[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->wfd[0] < 0 || p->wfd[1] < 0 ||
            epoll_ctl(p->wfd[0], EPOLL_CTL_ADD, p->rbell[0], &ev) < 0 ||
            epoll_ctl(p->wfd[0], EPOLL_CTL_ADD, p->wfd[1], &ev) < 0) {
            e = errno;
            mproc__close_fd(&p->wfd[0]);
            mproc__close_fd(&p->wfd[1]);
            return -e;
        }
        p->wfd_pid = mproc__self();
    }
    p->rarmed = mproc__self();
    if (s_pollfd(ch, MPROC__CHAN_RD, &events) == -EAGAIN)
        (void)!write(p->wfd[1], &one, sizeof(one));
    return p->wfd[0];
}

static int
s_fd(const struct mproc_chan *ch, unsigned side)
{
    return side == MPROC__CHAN_RD ? priv(ch)->rbell[0] : priv(ch)->wbell[0];
}

static void
s_close_side(struct mproc_chan *ch, unsigned side)
{
    struct ring_priv *p = priv(ch);
    _Atomic uint32_t *peer;

    if (side == MPROC__CHAN_RD) {
        mproc__close_fd(&p->wfd[0]);
        mproc__close_fd(&p->wfd[1]);
        mproc__close_fd(&p->rbell[0]);
        mproc__close_fd(&p->wbell[1]);
        peer = &p->r->wsleep;
    } else {
        mproc__close_fd(&p->rbell[1]);
        mproc__close_fd(&p->wbell[0]);
        peer = &p->r->rsleep;
    }
    /* A child that was not given the segment holds a copy of the handle
     * only: the sides stay open in the process that has it, so there is
     * nothing to tell the peer, and nothing mapped to tell it with.
     * (Each new pool worker closes every other worker's host sides: a
     * wake here was one for every idle worker at every start.) */
    if (!mapped_here(p)) {
        if ((ch->sides & ~side) == 0)
            release(p);
        return;
    }
    /* A peer asleep on the futex looks for our end now rather than at its
     * next slice.  (One in poll() gets the pipe's hang-up, if we were the
     * last holder; its POLL word is left alone.) */
    if (atomic_fetch_and_explicit(peer, ~FUTEX, memory_order_relaxed) &
        FUTEX)
        mproc__futex_wake(peer, INT32_MAX);
    if ((ch->sides & ~side) == 0)
        release(p);
}

/* The pool's host sides, once their worker runs: no later child needs
 * the segment (see the top).  Where madvise refuses, children keep
 * copying it, as before.  Nor is the side handed on again, so the memfd,
 * which only export needs, goes: each new worker closes every
 * descriptor of the host's (start.c), and ours were twice pipe's. */
static void
s_nofork(struct mproc_chan *ch)
{
    struct ring_priv *p = priv(ch);

    if (p->r != NULL && mapped_here(p) &&
        madvise(p->r, p->maplen, MADV_DONTFORK) == 0)
        p->nofork_pid = mproc__self();
    mproc__close_fd(&p->memfd);
    /* A slice: back into its arena's one mapping (the kernel merges the
     * three again), and handed on no more either. */
    if (p->arena != NULL)
        p->arena_off = UINT64_MAX;
}

/* ---- export, import ---- */

static int
s_export(const struct mproc_chan *ch, unsigned side, int *fds, size_t *nfds,
         void *blob, size_t *len)
{
    const struct ring_priv *p = priv(ch);

    size_t room = *len;

    /* -1 after s_nofork: such a side is only listed (for closing in
     * children), never handed on. */
    fds[0] = p->memfd;
    fds[1] = side == MPROC__CHAN_RD ? p->rbell[0] : p->rbell[1];
    fds[2] = side == MPROC__CHAN_RD ? p->wbell[1] : p->wbell[0];
    *nfds = 3;
    *len = 0;
    if (p->arena != NULL && p->arena_off != UINT64_MAX) {
        /* A slice: the arena's memfd, and where in it. */
        uint64_t where[2] = {p->arena_off, p->maplen};
        if (room < sizeof(where))
            return MPROC_EINVAL;
        fds[0] = p->arena->memfd;
        memcpy(blob, where, sizeof(where));
        *len = sizeof(where);
    }
    return 0;
}

static int
s_import(struct mproc_chan *ch, unsigned side, const int *fds, size_t nfds,
         const void *blob, size_t len, mproc_err_t *err)
{
    struct ring_priv *p = priv(ch);
    struct stat st;
    size_t i;
    void *m;

    uint64_t where[2] = {0, 0}; /* offset, length; length 0: the file */
    size_t maplen;

    if (nfds != 3 || (len != 0 && len != sizeof(where)))
        return mproc__err(err, MPROC_EINVAL,
                          "shmring: import: bad description");
    if (len == sizeof(where))
        memcpy(where, blob, sizeof(where));
    if (fstat(fds[0], &st) < 0 ||
        (where[1] == 0 && st.st_size < (off_t)sizeof(struct mproc__ring)) ||
        (where[1] != 0 &&
         (where[1] < sizeof(struct mproc__ring) ||
          where[0] > (uint64_t)st.st_size ||
          where[1] > (uint64_t)st.st_size - where[0] ||
          where[0] % (uint64_t)sysconf(_SC_PAGESIZE) != 0)))
        return mproc__err(err, MPROC_EINVAL,
                          "shmring: import: fd %d is not a ring", fds[0]);
    maplen = where[1] != 0 ? (size_t)where[1] : (size_t)st.st_size;
    m = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0],
             (off_t)where[0]);
    if (m == MAP_FAILED)
        return mproc__err(err, -errno, "shmring: import: mmap: %s",
                          strerror(errno));
    p->r = m;
    if (p->r->magic != RING_MAGIC || p->r->layout_version != RING_LAYOUT ||
        p->r->size != (uint64_t)maplen ||
        mproc__shmring_memsize(p->r->cap) > maplen ||
        p->r->cap != ch->lim.capacity) {
        munmap(m, maplen);
        return mproc__err(err, MPROC_EINVAL,
                          "shmring: import: the segment's header is not "
                          "this layout (magic, version or size)");
    }
    for (i = 0; i < nfds; i++)
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
            munmap(m, maplen);
            return mproc__err(err, -errno, "shmring: import: fd %d: %s",
                              fds[i], strerror(errno));
        }
    (void)fcntl(fds[1], F_SETFL, O_NONBLOCK);
    (void)fcntl(fds[2], F_SETFL, O_NONBLOCK);
    p->maplen = maplen;
    p->arena = NULL;
    p->nofork_pid = 0;
    p->memfd = fds[0];
    p->rbell[0] = p->rbell[1] = p->wbell[0] = p->wbell[1] = -1;
    p->wfd[0] = p->wfd[1] = -1;
    if (side == MPROC__CHAN_RD) {
        p->rbell[0] = fds[1];
        p->wbell[1] = fds[2];
    } else {
        p->rbell[1] = fds[1];
        p->wbell[0] = fds[2];
    }
    reset_local(p);
    /* The other side's index may have moved already: start from it. */
    p->head_seen = atomic_load_explicit(&p->r->head, memory_order_acquire);
    p->tail_seen = atomic_load_explicit(&p->r->tail, memory_order_acquire);
    return 0;
}

const struct mproc_ipc_ops mproc__ipc_shmring_ops = {
    .name = "shmring",
    .abi = MPROC_IPC_OPS_ABI,
    .priv_size = sizeof(struct ring_priv),
    .flags = MPROC__IPC_MEMCPY,
    .open = s_open,
    .write = s_write,
    .read = s_read,
    .wait = s_wait,
    .pollfd = s_pollfd,
    .pending = s_pending,
    .wait_fd = s_wait_fd,
    .fd = s_fd,
    .close_side = s_close_side,
    .export_side = s_export,
    .import_side = s_import,
    .glance = s_glance,
    .nofork = s_nofork,
};

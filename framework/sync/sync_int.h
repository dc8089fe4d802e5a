/* SPDX-License-Identifier: MIT */
/*
 * Sync internals: the layout of the shared segment and the backend
 * interface.
 *
 * Two kinds of types (STYLE.md): the shared structs below hold fixed-width
 * fields and offsets only, since every process sees them; the process-local
 * handle (struct mproc_sync) holds pointers.  Objects are found from their
 * own address: `offset` leads back to the segment's header.
 */
#ifndef MPROC_SYNC_INT_H
#define MPROC_SYNC_INT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <mproc/sync.h>

#define MPROC__SYNC_MAGIC 0x6d707379u /* "mpsy" */
/* Each object's kind, its first word (struct mproc__sobj's magic). */
#define LOCK_MAGIC 0x6c6f636bu        /* "lock": Lock, RLock */
#define SEM_MAGIC 0x73656d61u         /* "sema": (Bounded)Semaphore */
#define EVENT_MAGIC 0x65766e74u       /* "evnt" */
#define COND_MAGIC 0x636f6e64u        /* "cond" */
#define BARRIER_MAX_MAGIC 0x62617272u /* "barr" */
#define VALUE_MAGIC 0x76616c75u       /* "valu": Value, Array */
#define MPROC__SYNC_LAYOUT 3
/* Holders a Semaphore tracks for owner-died recovery. */
#define MPROC__SEM_HOLDERS 64
/* Waits are cut into slices this long, to look for dead holders. */
#define MPROC__SYNC_SLICE_MS 50

/* The segment's header, at offset 0. */
struct mproc__sync_hdr {
    uint32_t magic;
    uint32_t layout_version;
    uint64_t size;
    _Atomic uint64_t used;      /* bump allocator */
    uint32_t backend;           /* index in the backend table */
    int32_t semid;              /* sysv: the semaphore set, else -1 */
    _Atomic uint32_t next_sem;  /* sysv: next free semaphore in the set */
    uint32_t nsems;             /* sysv: size of the set */
    uint64_t dir_offset;        /* the directory of named objects */
    _Atomic uint32_t dir_len;
    uint32_t dir_cap;
};

/* One named object in the arena's directory. */
struct mproc__sync_name {
    char kind[20];
    char name[44];
    uint64_t offset;
};

/* What every object starts with. */
struct mproc__sobj {
    uint32_t magic;    /* which kind of object */
    uint32_t index;    /* sysv: its semaphore in the set */
    uint64_t offset;   /* from the segment's start */
};

struct mproc_lock {
    struct mproc__sobj o;
    _Atomic int32_t owner; /* pid of the holder, 0 when free */
    uint32_t depth;        /* RLock: times acquired by its holder */
    uint32_t recursive;
    _Atomic int32_t tid;   /* RLock: the holder's thread (owner's) */
    uint32_t track_tid;    /* a Value's Lock: `tid` kept too (value.c) */
    alignas(64) unsigned char impl[]; /* the backend's mutex */
};

struct mproc_event {
    struct mproc__sobj o;
    _Atomic uint32_t flag;
    uint32_t reserved;
    alignas(64) unsigned char impl[]; /* the backend's waiting state */
};

/* Waiters a Condition tracks one by one (see wait.c); more wait too, but
 * every notify wakes those extra ones. */
#define MPROC__COND_WAITERS 64

/* One waiter of a Condition: `word` packs its pid (high half) and its
 * state (low half: free, waiting or notified) so that a slot changes
 * hands in one compare-and-swap; `ticket` orders waiters (FIFO). */
struct mproc__cond_slot {
    _Atomic uint64_t word;
    _Atomic uint32_t ticket;
    uint32_t reserved;
};

struct mproc_cond {
    struct mproc__sobj o;
    uint64_t lock_offset;     /* the lock, from the segment's start */
    _Atomic uint32_t wakes;   /* bumped by every notify: sleepers wait on it */
    _Atomic uint32_t tickets; /* the next waiter's ticket */
    _Atomic uint32_t nwaiters; /* slots in use */
    _Atomic uint32_t untracked; /* waiters beyond the slots */
    struct mproc__cond_slot slots[MPROC__COND_WAITERS];
    alignas(64) unsigned char impl[];
};

#define MPROC__BARRIER_MAX 64

struct mproc_barrier {
    struct mproc__sobj o;
    uint64_t lock_offset;     /* its own Lock */
    uint32_t parties;
    _Atomic uint32_t count;   /* arrived in this generation */
    _Atomic uint32_t gen;     /* bumped when a generation ends */
    _Atomic uint32_t broken;  /* the current generation is broken */
    _Atomic uint32_t broken_gen; /* a generation ended by reset */
    uint32_t reserved;
    _Atomic int32_t arrived[MPROC__BARRIER_MAX]; /* pids, for death */
    alignas(64) unsigned char impl[];
};

/* A holder of Semaphore units: its pid (high half) and how many units it
 * holds (low half) in one word, so that a dead holder's units are taken
 * back in one atomic step (a new holder cannot slip between). */
struct mproc__holder {
    _Atomic uint64_t word;
};

struct mproc_sem {
    struct mproc__sobj o;
    uint32_t initial;
    uint32_t bounded;
    _Atomic uint32_t died;  /* units returned from dead holders, to report */
    _Atomic uint32_t handed; /* Bounded: units released by a process that
                                held none (a hand-off): a dead holder's
                                unit that was handed on does not return */
    struct mproc__holder holders[MPROC__SEM_HOLDERS];
    alignas(64) unsigned char impl[]; /* the backend's counter */
};

/*
 * A backend.  `impl` is the object's impl[] area of mutex_size or sem_size
 * bytes; `o` leads to the header (sysv's set).  Deadlines are absolute,
 * CLOCK_MONOTONIC; NULL means none.  Results: 0, MPROC_ETIMEDOUT, and for
 * mutex_lock MPROC_EOWNERDEAD (locked; the previous holder died).  Every
 * sleep (mutex_lock, sem_wait, word_wait) returns MPROC_EINTR when a signal
 * handler ran meanwhile, and never retries by itself: the shared layer
 * decides (mproc__sync_intr).
 */
struct mproc_sync_ops {
    const char *name;
    size_t mutex_size;
    size_t sem_size;
    /* The kernel gives back what a dead process held (SEM_UNDO). */
    bool undo_on_death;
    int (*mutex_init)(struct mproc__sobj *o, void *impl);
    /* Take the mutex if it is free, at once: 0, MPROC_EOWNERDEAD or
     * MPROC_EAGAIN (held).  The uncontended path: no clock, no slices. */
    int (*mutex_trylock)(struct mproc__sobj *o, void *impl);
    int (*mutex_lock)(struct mproc__sobj *o, void *impl,
                      const struct timespec *deadline);
    int (*mutex_unlock)(struct mproc__sobj *o, void *impl);
    int (*sem_init)(struct mproc__sobj *o, void *impl, unsigned value);
    int (*sem_wait)(struct mproc__sobj *o, void *impl,
                    const struct timespec *deadline);
    /* `own`: this process gives back a unit it took (sysv: SEM_UNDO
     * then cancels the take's undo; else the post is not undone). */
    int (*sem_post)(struct mproc__sobj *o, void *impl, bool own);
    int (*sem_value)(const struct mproc__sobj *o, const void *impl);
    /* Sleeping on a 32-bit word of the object (Event, Condition, Barrier):
     * word_wait returns when *word != expected, on a wake, or spuriously
     * (0), or at the deadline (MPROC_ETIMEDOUT); callers re-check. */
    size_t word_size;
    int (*word_init)(struct mproc__sobj *o, void *impl);
    int (*word_wait)(struct mproc__sobj *o, void *impl, _Atomic uint32_t *word,
                     uint32_t expected, const struct timespec *deadline);
    /* Wake up to n sleepers of the word (a backend may wake them all). */
    void (*word_wake)(struct mproc__sobj *o, void *impl,
                      _Atomic uint32_t *word, int n);
};

extern const struct mproc_sync_ops mproc__sync_futex_ops;
extern const struct mproc_sync_ops mproc__sync_posix_ops;
extern const struct mproc_sync_ops mproc__sync_sysv_ops;

/* The header of the segment an object lives in. */
static inline struct mproc__sync_hdr *
mproc__sync_hdr_of(const struct mproc__sobj *o)
{
    return (struct mproc__sync_hdr *)((char *)o - o->offset);
}

/* The backend of an object or an arena; the arena's header. */
const struct mproc_sync_ops *mproc__sync_ops_of(const struct mproc__sobj *o);
const struct mproc_sync_ops *mproc__sync_ops(const mproc_sync_t *s);
struct mproc__sync_hdr *mproc__sync_hdr(const mproc_sync_t *s);

/* Take `len` bytes (64-aligned) of the arena for an object of kind `magic`
 * (and, for sysv when `sem`, one semaphore of the set, in *index).  NULL
 * when full; a failed allocation takes nothing, so smaller ones after it
 * still succeed. */
void *mproc__sync_alloc(mproc_sync_t *s, size_t len, uint32_t magic,
                        bool sem, uint32_t *index, mproc_err_t *err);

/* Before an object made of two allocations (a Value, Condition or Barrier
 * with its own Lock): do `len` bytes (the object without its Lock) and a
 * Lock, with `sems` semaphores of a sysv set in all, fit now?  0, or
 * MPROC_ENOMEM with the message, so that the Lock is not made in vain. */
int mproc__sync_room(mproc_sync_t *s, size_t len, unsigned sems,
                     mproc_err_t *err);

/* A backend's sleep returned MPROC_EINTR: should the call return it?
 * True when a handler installed without SA_RESTART exists for a signal
 * that can interrupt a wait (the kernel does not say which signal ran);
 * with SA_RESTART handlers only, the wait goes on, as a read() would. */
bool mproc__sync_intr(void);

/* Lock acquire for the library's own short critical sections (a
 * Condition taking its lock back, a Barrier's bookkeeping): a signal does
 * not interrupt it.  Results as mproc_lock_acquire() without MPROC_EINTR. */
int mproc__lock_take(mproc_lock_t *l);
/* True when the calling thread holds `l` (a Value's Lock or an RLock:
 * those keep their holder's thread). */
bool mproc__lock_mine(const mproc_lock_t *l);

/* Futex wait and wake on a shared (not process-private) word, for every
 * backend that sleeps on words.  wait: 0 (woken, or the word was not
 * `val`), MPROC_ETIMEDOUT at the deadline (absolute, MONOTONIC; NULL:
 * none), MPROC_EINTR. */
int mproc__futex_wait(_Atomic uint32_t *w, uint32_t val,
                      const struct timespec *deadline);
void mproc__futex_wake(_Atomic uint32_t *w, int n);
/* The word_init, word_wait and word_wake of every backend: a futex on the
 * word (see futex.c for why). */
int mproc__futex_word_init(struct mproc__sobj *o, void *impl);
int mproc__futex_word_wait(struct mproc__sobj *o, void *impl,
                           _Atomic uint32_t *word, uint32_t expected,
                           const struct timespec *deadline);
void mproc__futex_word_wake(struct mproc__sobj *o, void *impl,
                            _Atomic uint32_t *word, int n);

/* System V semaphore sets of mproc whose creator is dead: list them
 * (`remove` false) or remove them.  `each` (may be NULL) is called for
 * each one with its id and creator pid.  Returns how many, or a negative
 * error. */
int mproc__sysv_clean(bool remove, void (*each)(int semid, long pid,
                                                void *arg),
                      void *arg, mproc_err_t *err);

/* The end of the next wait slice (now + MPROC__SYNC_SLICE_MS, or the
 * deadline if sooner), and whether a deadline (NULL: none) has passed. */
const struct timespec *mproc__sync_slice(struct timespec *out,
                                         const struct timespec *deadline);
/* The same with slices of about `ms` (give or take a seventh). */
const struct timespec *mproc__sync_slice_of(struct timespec *out,
                                            const struct timespec *deadline,
                                            long ms);
bool mproc__sync_passed(const struct timespec *deadline);

/* The arena's memfd (owned by the arena), to hand to a new image. */
int mproc__sync_fd(const mproc_sync_t *s);
/* Map the arena behind `fd` (taken over: closed by mproc_sync_free) in a
 * new image.  0, or MPROC_EINVAL (not an arena), a system error. */
int mproc__sync_attach(mproc_sync_t **out, int fd, mproc_err_t *err);

/* The arena's System V semaphore set, or -1 (for tests). */
int mproc__sync_semid(const mproc_sync_t *s);

/* A pause inside a spin-wait loop. */
static inline void
mproc__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* This process's pid, cached: getpid() is a system call in glibc, and
 * every acquire and release needs it.  The cache is reset in the child of
 * every fork() made through libc (pthread_atfork).  Inline: a channel's
 * send looks at it too. */
extern _Atomic int32_t mproc__self_pid;
int32_t mproc__self_fill(void);
/* The calling thread's id, cached per thread (and renewed in a forked
 * child). */
int32_t mproc__self_tid(void);

static inline int32_t
mproc__self(void)
{
    int32_t pid = atomic_load_explicit(&mproc__self_pid, memory_order_relaxed);

    return pid != 0 ? pid : mproc__self_fill();
}

/* A normal exit: drop this process's Semaphore holds (atexit does it for
 * exit(); a pool worker, which leaves with _exit(), calls it itself). */
void mproc__sync_exit(void);

/* The same, where the usual case must cost nothing: a forked Process
 * child's end.  Its code is in sync.c, one more page for the child to map;
 * the count it looks at first is read here (the parent reads it before
 * fork(), so that the child finds the page mapped). */
extern int mproc__sync_nheld;
static inline void
mproc__sync_exit_child(void)
{
    if (mproc__sync_nheld != 0)
        mproc__sync_exit();
}

/* Has this process ended (dead or a zombie)? */
bool mproc__pid_dead(int32_t pid);

/* How a process is, as far as anybody but its parent can tell. */
enum mproc__pid_state {
    MPROC__PID_ALIVE,
    MPROC__PID_EXITED, /* a zombie that exited (exit, _exit, main) */
    MPROC__PID_KILLED, /* a zombie killed by a signal */
    MPROC__PID_GONE    /* reaped: how it ended is lost */
};
enum mproc__pid_state mproc__pid_state(int32_t pid);

/* Test hooks: MPROC_TEST_HOOK_<name> set in the environment. */
bool mproc__sync_hook(const char *name);

/* *ts = now + ms on CLOCK_MONOTONIC. */
void mproc__deadline_in(struct timespec *ts, long ms);
/* The deadline of a timeout in ms (filled in *ts), or NULL for a negative
 * one (wait for ever). */
const struct timespec *mproc__deadline_of(struct timespec *ts,
                                          int timeout_ms);
/* Milliseconds left until ts (0 when passed; capped at INT_MAX). */
long mproc__ms_left(const struct timespec *ts);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * What every child the library makes with fork() needs, in one place (see
 * process_int.h for the API):
 *
 * The registry of descriptors a forked child must not keep.  A forked
 * child inherits every descriptor of its parent, CLOEXEC or not: the task
 * channels of other pools, the result files and pidfds of other
 * Processes, the host's output.  Holding them is not harmless: a pipe end
 * held by a stranger never reads as end of file, so its owner waits for a
 * peer that is gone.  The library registers such descriptors here and
 * every child it forks drops them right after fork(), except those it is
 * given.  The registry is a two-level bitmap of atomic words: the child
 * reads it without a lock (async-signal-safe), and chunks are never freed,
 * so a pointer read is always valid.
 *
 * The hold.  A descriptor made by one thread while another forks reaches
 * the child before it could be registered; a read lock held from creation
 * to registration, and taken for writing by a pthread_atfork handler,
 * keeps fork() out of that window.
 *
 * The lifeline.  PR_SET_PDEATHSIG fires when the *thread* that made the
 * child exits, not the process: a daemon started from a short-lived
 * thread died with that thread, and forkserver children, whose parent is
 * the thread that spawned the server, died with it.  Instead each process
 * has one lifeline pipe whose write end only it holds (CLOEXEC, and
 * registered, so no child it makes keeps it).  A child that must die with
 * its parent opens its own file description of the read end through
 * /proc/self/fd, owns it (F_SETOWN) and asks for SIGKILL instead of SIGIO
 * (F_SETSIG) with O_ASYNC: when the parent process ends, whichever way,
 * the kernel closes the write end and sends SIGKILL to every such child.
 * No thread of the child watches anything, and the child's signal
 * dispositions are its own.  A new image (spawn, forkserver) gets the
 * read end as a descriptor and does the same.
 */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "process/process_int.h"

/* ---- the registry ---- */

#define CHUNK_WORDS 64 /* 4096 descriptors a chunk */
#define CHUNK_FDS (CHUNK_WORDS * 64)
#define NCHUNKS 1024 /* descriptors below 4 Mi: more than any nofile limit */

static _Atomic(_Atomic uint64_t *) chunks[NCHUNKS];
/* One past the highest chunk ever made: a child scans only those, not
 * all 8 KiB of pointers, whose pages a parent that never touched them
 * does not have (each one a page fault in every child). */
static _Atomic unsigned chunks_end;

/* `alloc` false: in a forked child, where malloc is best left alone. */
static int
reg(int fd, bool alloc)
{
    _Atomic uint64_t *c, *fresh, *none = NULL;
    unsigned k, end;

    if (fd < 0 || fd >= NCHUNKS * CHUNK_FDS)
        return MPROC_EBADF;
    k = (unsigned)fd / CHUNK_FDS;
    /* Acquire pairs with the release of the CAS below: the chunk's zeroed
     * words are seen before its pointer. */
    c = atomic_load_explicit(&chunks[k], memory_order_acquire);
    if (c == NULL && !alloc)
        return MPROC_ENOMEM;
    if (c == NULL) {
        fresh = calloc(CHUNK_WORDS, sizeof(*fresh));
        if (fresh == NULL)
            return MPROC_ENOMEM;
        /* The end first: a child forked at any point after the chunk's
         * pointer is there scans it. */
        end = atomic_load(&chunks_end);
        while (end < k + 1 &&
               !atomic_compare_exchange_weak(&chunks_end, &end, k + 1))
            ;
        if (atomic_compare_exchange_strong_explicit(
                &chunks[k], &none, fresh, memory_order_acq_rel,
                memory_order_acquire)) {
            c = fresh;
        } else {
            free(fresh); /* another thread's chunk won */
            c = none;
        }
    }
    /* Already set (a forked child registering what its parent did): no
     * store, so the page stays shared with the parent. */
    if ((atomic_load_explicit(&c[(fd % CHUNK_FDS) / 64],
                              memory_order_relaxed) >>
         (fd % 64)) & 1)
        return 0;
    atomic_fetch_or_explicit(&c[(fd % CHUNK_FDS) / 64],
                             UINT64_C(1) << (fd % 64), memory_order_relaxed);
    return 0;
}

int
mproc__fork_fd_register(int fd)
{
    return reg(fd, true);
}

void
mproc__fork_fd_unregister(int fd)
{
    _Atomic uint64_t *c;

    if (fd < 0 || fd >= NCHUNKS * CHUNK_FDS)
        return;
    c = atomic_load_explicit(&chunks[fd / CHUNK_FDS], memory_order_acquire);
    if (c != NULL)
        atomic_fetch_and_explicit(&c[(fd % CHUNK_FDS) / 64],
                                  ~(UINT64_C(1) << (fd % 64)),
                                  memory_order_relaxed);
}

bool
mproc__fork_fd_registered(int fd)
{
    _Atomic uint64_t *c;

    if (fd < 0 || fd >= NCHUNKS * CHUNK_FDS)
        return false;
    c = atomic_load_explicit(&chunks[fd / CHUNK_FDS], memory_order_acquire);
    return c != NULL &&
           (atomic_load_explicit(&c[(fd % CHUNK_FDS) / 64],
                                 memory_order_relaxed) >>
            (fd % 64)) & 1;
}

void
mproc__fork_fd_close(int fd)
{
    if (fd < 0)
        return;
    mproc__fork_fd_unregister(fd);
    close(fd);
}

static bool
kept(int fd, const int *keep, size_t nkeep)
{
    size_t i;

    for (i = 0; i < nkeep; i++)
        if (keep[i] == fd)
            return true;
    return false;
}

/*
 * In the child: close every registered descriptor but keep[].  Objects
 * inherited from the parent still name those numbers: the child must not
 * close them again once it has opened anything (a number may be reused),
 * so the process module forgets rather than closes what the parent's
 * handles hold in a forked child.
 */
static void
drop_registered(const int *keep, size_t nkeep)
{
    _Atomic uint64_t *c;
    uint64_t bits;
    unsigned k, w, end = atomic_load(&chunks_end);
    int fd;

    for (k = 0; k < end; k++) {
        c = atomic_load_explicit(&chunks[k], memory_order_acquire);
        for (w = 0; c != NULL && w < CHUNK_WORDS; w++) {
            bits = atomic_load_explicit(&c[w], memory_order_relaxed);
            while (bits != 0) {
                fd = (int)(k * CHUNK_FDS + w * 64) + __builtin_ctzll(bits);
                bits &= bits - 1;
                if (kept(fd, keep, nkeep))
                    continue;
                mproc__fork_fd_unregister(fd);
                close(fd);
            }
        }
    }
}

/* ---- the locks taken across fork() ---- */

/*
 * The hold is write-locked before every fork() and unlocked after it, in
 * the parent while the child runs: a store to a page the two share, which
 * the kernel copies (a few microseconds of every start), and a child that
 * finds it locked must store it anew (another copy).  So these locks live
 * on a page of their own that a child gets zeroed (MADV_WIPEONFORK, Linux
 * 4.14): the parent's page is not shared, and the child's reads as
 * unlocked, glibc's initializers being all zero bytes (checked at load).
 * Where that cannot be had, static storage, and the child handler stores
 * them new.
 */
struct fork_locks {
    pthread_rwlock_t hold;
    pthread_mutex_t life;
};
static struct fork_locks locks_static = {PTHREAD_RWLOCK_INITIALIZER,
                                         PTHREAD_MUTEX_INITIALIZER};
static struct fork_locks *locks = &locks_static;
static bool locks_wiped; /* locks is on a page the child gets zeroed */

static void
locks_init(void)
{
#ifdef MADV_WIPEONFORK
    static const struct fork_locks zero;
    size_t len = (size_t)sysconf(_SC_PAGESIZE);
    void *page;

    if (memcmp(&locks_static, &zero, sizeof(zero)) != 0 ||
        len < sizeof(zero))
        return;
    page = mmap(NULL, len, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return;
    if (madvise(page, len, MADV_WIPEONFORK) < 0) {
        munmap(page, len);
        return;
    }
    locks = page; /* zero bytes: both unlocked */
    locks_wiped = true;
#endif
}

/* ---- the hold ---- */

void
mproc__fork_fd_hold(void)
{
    pthread_rwlock_rdlock(&locks->hold);
}

void
mproc__fork_fd_release(void)
{
    pthread_rwlock_unlock(&locks->hold);
}

/* ---- the lifeline ---- */

static pid_t life_owner;       /* the process the pipe belongs to */
static int life_rd = -1, life_wr = -1;
static int life_armed = -1;    /* a child's armed description, or -1 */

int
mproc__lifeline_fd(void)
{
    int fds[2], r;

    pthread_mutex_lock(&locks->life);
    if (life_owner != getpid()) {
        /* Inherited through a fork not made by the library: the parent's
         * pipe, not ours (and closing it could close someone's reused
         * number, so it is left as it is). */
        life_owner = 0;
        life_rd = life_wr = -1;
    }
    if (life_rd < 0) {
        mproc__fork_fd_hold();
        if (pipe2(fds, O_CLOEXEC) < 0) {
            r = -errno;
            mproc__fork_fd_release();
            pthread_mutex_unlock(&locks->life);
            return r;
        }
        if ((r = mproc__fork_fd_register(fds[0])) < 0 ||
            (r = mproc__fork_fd_register(fds[1])) < 0) {
            mproc__fork_fd_unregister(fds[0]);
            mproc__fork_fd_release();
            close(fds[0]);
            close(fds[1]);
            pthread_mutex_unlock(&locks->life);
            return r;
        }
        mproc__fork_fd_release();
        life_rd = fds[0];
        life_wr = fds[1];
        life_owner = getpid();
    }
    r = life_rd;
    pthread_mutex_unlock(&locks->life);
    return r;
}

/* "/proc/self/fd/N" without snprintf, which is not async-signal-safe. */
static void
fd_path(char *buf, int fd)
{
    static const char pre[] = "/proc/self/fd/";
    char digits[16];
    size_t n = 0, i;

    do
        digits[n++] = (char)('0' + fd % 10);
    while ((fd /= 10) > 0);
    for (i = 0; i < sizeof(pre) - 1; i++)
        *buf++ = pre[i];
    while (n > 0)
        *buf++ = digits[--n];
    *buf = '\0';
}

int
mproc__lifeline_arm(int rd)
{
    char path[48];
    int fd, fl;

    fd_path(path, rd);
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    fl = fcntl(fd, F_GETFL);
    if (fcntl(fd, F_SETOWN, getpid()) < 0 || fcntl(fd, F_SETSIG, SIGKILL) < 0 ||
        fl < 0 || fcntl(fd, F_SETFL, fl | O_ASYNC) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int
mproc__lifeline_check(int fd, pid_t parent)
{
    struct pollfd p = {fd, POLLIN, 0};

    if (fd < 0) {
        /* No /proc (or no lifeline): the thread-bound signal is all
         * there is. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        return getppid() == parent ? 0 : -1;
    }
    /* Our children need not share it: they get their own from us. */
    reg(fd, false);
    life_armed = fd;
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0
               ? -1
               : 0;
}

int
mproc__lifeline_armed(void)
{
    return life_armed;
}

void
mproc__lifeline_group(void)
{
    /* A negative owner is a process group: SIGKILL goes to each member
     * still in it when the parent's write end closes. */
    if (life_armed >= 0 && getpgrp() == getpid())
        fcntl(life_armed, F_SETOWN, -getpid());
}

int
mproc__fork_child(bool follow, pid_t parent, const int *keep, size_t nkeep)
{
    int fd = -1, rd = life_owner == parent ? life_rd : -1;

    /* The description is opened before the inherited write end is
     * dropped: if the parent is already gone, dropping our copy of the
     * last writer is what sends the signal. */
    if (follow && rd >= 0)
        fd = mproc__lifeline_arm(rd);
    /* The lifeline is the parent's: we make our own when we need one.
     * Stored only when set: every page a child writes is copied, a few
     * microseconds each, and most parents have no lifeline. */
    if (life_owner != 0 || life_rd != -1 || life_wr != -1) {
        life_owner = 0;
        life_rd = life_wr = -1;
    }
    drop_registered(keep, nkeep);
    return follow ? mproc__lifeline_check(fd, parent) : 0;
}

/* ---- a forked child's signals ---- */

void
mproc__fork_child_signals(void)
{
    /* The signals through which a process is stopped or told things
     * (process.c says why these), as a mask in the code: a table would be
     * read from .rodata, one more page to map.  Direct system calls, not
     * glibc's wrappers (process_int.h: mproc__raw_syscall). */
#define BIT(s) (UINT64_C(1) << ((s) - 1))
    uint64_t sigs = BIT(SIGHUP) | BIT(SIGINT) | BIT(SIGQUIT) |
                    BIT(SIGTERM) | BIT(SIGUSR1) | BIT(SIGUSR2) |
                    BIT(SIGPIPE) | BIT(SIGALRM) | BIT(SIGCHLD) |
                    BIT(SIGXCPU) | BIT(SIGXFSZ) | BIT(SIGTSTP);
#undef BIT
    /* The kernel's struct sigaction, all zero: SIG_DFL, no flags, no
     * mask (large enough for every architecture's layout). */
    uint64_t dfl[4] = {0, 0, 0, 0}, none = 0;

    while (sigs != 0) {
        int sig = __builtin_ctzll(sigs) + 1;

        sigs &= sigs - 1;
        mproc__raw_syscall(SYS_rt_sigaction, sig, (long)dfl, 0,
                           sizeof(none));
    }
    mproc__raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, sizeof(none));
}

/* ---- fork() itself ---- */

static void
before_fork(void)
{
    /* Pairs with mproc__fork_fd_hold: no descriptor is between its
     * creation and its registration while we fork. */
    pthread_rwlock_wrlock(&locks->hold);
}

static void
after_fork_parent(void)
{
    pthread_rwlock_unlock(&locks->hold);
}

/* In the child only this thread exists: a lock another thread held stays
 * held for ever, so every lock starts again unlocked.  What they guard is
 * either consistent (the hold) or this process's to rebuild (the
 * lifeline, checked against getpid()).  On a wiped page they are new
 * already. */
static void
after_fork_child(void)
{
    static const pthread_rwlock_t rw0 = PTHREAD_RWLOCK_INITIALIZER;
    static const pthread_mutex_t m0 = PTHREAD_MUTEX_INITIALIZER;

    if (locks_wiped)
        return;
    locks->hold = rw0; /* write-locked by before_fork: always stored */
    mproc__reinit_mutex(&locks->life, &m0);
}

__attribute__((constructor)) static void
fork_init(void)
{
    locks_init();
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

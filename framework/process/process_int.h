/* SPDX-License-Identifier: MIT */
/*
 * Process internals: what a new process image is told (the boot message),
 * and the start methods that make a new image (spawn, forkserver), shared
 * by Process objects (process.c, children.c) and pool workers
 * (pool/start.c).
 *
 * A spawned or forkserver child finds its descriptors at fixed numbers:
 *   3   the boot message, a memfd read from offset 0
 *   4.. the descriptors of the request, in order (MPROC__FD_FIRST + i):
 *       process:    4 the result memfd, 5 the sentinel pipe's write end
 *                   (only where the kernel refuses pidfds), then the
 *                   descriptors of the objects handed to it
 *                   (mproc_process_pass; pass.c), each object's in a row
 *       worker:     the task channel's read side (wa.task_nfds of them),
 *                   the result channel's write side (wa.result_nfds),
 *                   then the sync arena's memfd when there is one
 *       forkserver: 4 its request socket
 *   then the parent's lifeline (fork.c) for a child that must die with its
 *       parent: pool workers, daemon processes, the forkserver; the boot
 *       message says where (lifeline_fd)
 */
#ifndef MPROC_PROCESS_INT_H
#define MPROC_PROCESS_INT_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <mproc/process.h>

#include "ipc/chan_int.h"
#include "pool/pool_int.h"

#define MPROC__FD_BOOT 3
/* A forkserver request carries a boot message up to this size inline,
 * a larger one in a memfd (launch.c, server.c). */
#define MPROC__BOOT_INLINE_MAX ((size_t)32 << 10)
#define MPROC__FD_FIRST 4
/* Descriptors a request may carry: a worker's two channel sides (up to
 * MPROC__CHAN_MAX_FDS each, see ipc/chan_int.h), the sync arena, the
 * pool's claim words and the lifeline; a process's result file, sentinel,
 * lifeline and the objects handed to it.  Below SCM_MAX_FD (253), which
 * bounds what one forkserver request can carry. */
#define MPROC__FD_MAX 64
_Static_assert(MPROC__FD_MAX >= 2 * MPROC__CHAN_MAX_FDS + 3,
               "a worker's descriptors fit a request");

enum mproc__boot_kind {
    MPROC__BOOT_PROCESS = 1, /* a Process target */
    MPROC__BOOT_WORKER,      /* a pool worker */
    MPROC__BOOT_SERVER       /* the forkserver */
};

/* An object handed to a child (pass.c): its kind (MPROC_PASS_*) and
 * handle. */
struct mproc__pass {
    int kind;
    void *obj;
};

/* An object in the boot message: its descriptors are request
 * descriptors fd0 .. fd0 + nfds - 1 (at MPROC__FD_FIRST + fd0 ...), its
 * description len bytes at data (malloc'd by mproc__pass_export, or into
 * the decoded message). */
struct mproc__pass_rec {
    uint32_t kind;
    uint32_t fd0;
    uint32_t nfds;
    size_t len;
    void *data;
};

/* Everything a new image needs; pointers are borrowed (encode) or point
 * into the decoded message (decode). */
struct mproc__boot {
    uint32_t kind;
    pid_t parent_pid;      /* who started it (getppid() without /proc) */
    const char *plugin;    /* the plugin's file (process, worker) */
    const char *task;      /* NULL: the only task */
    struct mproc_kv *args; /* ctx->args */
    size_t nargs;
    uint32_t nfds;         /* descriptors at 4.., the lifeline included */
    uint32_t lifeline_fd;  /* where the parent's lifeline is; 0: none */
    /* process */
    const char *name;
    const char *parent_name;
    const uint32_t *identity; /* Process-N1:...:Nk */
    size_t nidentity;
    bool daemon;
    const void *input;
    size_t input_len;
    uint64_t result_max;
    bool has_sentinel;     /* the sentinel pipe's write end is at 5 */
    struct mproc__pass_rec *passes; /* objects handed to it */
    size_t npasses;
    /* worker: the scalar fields of its arguments (desc, task, args, sync
     * and the descriptors are carried otherwise) */
    struct mproc__worker_args wa;
    bool has_sync;
    /* forkserver */
    char **preload;
    size_t npreload;
};

/* Serialize `b` into a new memfd (returned, or a negative code). */
int mproc__boot_write(const struct mproc__boot *b, char *errbuf,
                      size_t errlen);

/* Read the boot message from `fd` into *b (pointers into *mem; free
 * *mem and b->args, b->preload with mproc__boot_free). */
int mproc__boot_read(int fd, struct mproc__boot *b, void **mem);
/* The same without a file: _encode appends the message to *buf (0 or
 * MPROC_ENOMEM); _decode takes buf[0..len) (malloc'd: it becomes *mem,
 * or is freed on failure). */
struct mproc_buf;
int mproc__boot_encode(const struct mproc__boot *b, struct mproc_buf *buf);
int mproc__boot_decode(char *buf, size_t len, struct mproc__boot *b,
                       void **mem);
void mproc__boot_free(struct mproc__boot *b, void *mem);

/* In the forkserver, before it makes a child for a request: the plugin
 * it loaded for it and the task it found there (either may be NULL),
 * which mproc__boot_run() in the child then uses instead of opening the
 * plugin again (a dlopen() and symbol lookups in every child) and looking
 * the task up (the plugin's strings, one more page for the child to
 * map).  Stored only when they change: every page the server writes is
 * copied at its next request. */
struct mproc__plugin;
void mproc__boot_use_plugin(struct mproc__plugin *pl,
                            const struct mproc_task_def *task);

/* In the new image (spawned, or forked by the server), with its
 * descriptors in place: run what the boot message says.  Never returns. */
void mproc__boot_run(const struct mproc__boot *b) __attribute__((noreturn));
/* The same, for callers inside libmproc (the forkserver's children):
 * mproc__boot_run is exported for mproc-worker, so a call to it from
 * inside the library goes through the PLT, a page each child would map
 * for that one call. */
void mproc__boot_start(const struct mproc__boot *b)
    __attribute__((noreturn, visibility("hidden")));

/* In a new image: die with the parent process (the lifeline of the boot
 * message); false when the parent is already gone. */
bool mproc__boot_follow(const struct mproc__boot *b);

/* The forkserver's loop, in the spawned server image.  Never returns. */
void mproc__server_main(const struct mproc__boot *b)
    __attribute__((noreturn));

/*
 * Start a new image by `method` ("spawn" or "forkserver") for `b`, passing
 * fds[0..nfds) as descriptors 4.. .  `worker_stdio`: stdin from /dev/null
 * and stdout to stderr (pool workers).  *pid is the child, a child of this
 * process in both methods.  0, or a negative code with a message.
 */
int mproc__launch(const char *method, const struct mproc__boot *b,
                  const int *fds, size_t nfds, char *errbuf, size_t errlen,
                  pid_t *pid);

/* The mproc-worker program: MPROC_WORKER, else the build tree's copy when
 * this program runs from the build tree, else the installed one. */
const char *mproc__worker_path(void);

/*
 * Objects handed to a child (pass.c).  _kind_ok: a known MPROC_PASS_*.
 * _export: for a new image, append each object's descriptors (borrowed)
 * to fds (*nfds of fdcap used) and fill recs[0..n) (free their data with
 * _recs_free, also on failure, which it does itself); 0 or a negative
 * code with a message.  _adopt: in the new image, rebuild the objects
 * (descriptors taken over) and make them mproc_process_passed()'s.
 * _set: what a forked child answers with (the parent's array).
 */
bool mproc__pass_kind_ok(int kind);
int mproc__pass_export(const struct mproc__pass *o, size_t n, int *fds,
                       size_t *nfds, size_t fdcap,
                       struct mproc__pass_rec *recs, char *errbuf,
                       size_t errlen);
void mproc__pass_recs_free(struct mproc__pass_rec *recs, size_t n);
int mproc__pass_adopt(const struct mproc__pass_rec *recs, size_t n,
                      mproc_err_t *err);
void mproc__pass_set(const struct mproc__pass *o, size_t n);

/*
 * Result files (result.c), reused through a small pool.
 * _file: a registered memfd whose header reads "no result", or a
 * negative code.  _write (the child): the one frame, at offset 0; 0 or
 * -errno.  _read (the parent, the child reaped): the frame, malloc'd into
 * *out, its size returned (0: none; a cut one reads as incomplete), and
 * in *span how much of the file it took (SIZE_MAX: unknown), for _put,
 * which takes the file back (registered) or closes it.  `me` is
 * getpid(), which the callers know (a system call saved per start).
 */
int mproc__result_file(pid_t me);
int mproc__result_write(int fd, uint32_t type, uint32_t status,
                        const void *data, size_t len);
size_t mproc__result_read(int fd, size_t max, char **out, size_t *span);
void mproc__result_file_put(int fd, size_t span, pid_t me);

/* The sizes and names that process.c and the child side share. */
#define MPROC__RESULT_MAX_DEFAULT ((size_t)64 << 20)

/*
 * The child side of a Process, shared by every start method: run init, the
 * task with the input, fini; send the result (a frame) on result_fd; exit
 * 0 or 1.  `desc` is the plugin, NULL for a function target `fn`.
 */
void mproc__process_child(const struct mproc_plugin *desc, mproc_task_fn fn,
                          const struct mproc_kv *args, size_t nargs,
                          const void *input, size_t len, size_t result_max,
                          int result_fd) __attribute__((noreturn));

/* Make this process the child described (name, identity, parent), after
 * fork or in a new image: current_process() answers with it.  The strings
 * and identity are borrowed: they must live as long as the process.
 * result_fd and sentinel_fd (-1: none) are its own ends, which its
 * children must not hold. */
void mproc__process_become(const char *name, const uint32_t *identity,
                           size_t nidentity, bool daemon, pid_t parent_pid,
                           const char *parent_name, int result_fd,
                           int sentinel_fd);

/* A start-method context (context.c): static, one per method. */
struct mproc_context {
    const char *method;
};

/*
 * poll() until an event, the deadline (mproc__now_ms() value; 0: none)
 * or a signal that stops waits (context.c): > 0, 0 on timeout, or a
 * negative code, MPROC_EINTR among them.  poll() fails with EINTR after
 * any handler ran, SA_RESTART or not: MPROC_EINTR when some handler of
 * the process has no SA_RESTART, else the wait goes on.
 */
struct pollfd;
int mproc__poll_deadline(struct pollfd *pfd, unsigned long n,
                      long long deadline);

/*
 * Pool API workers (pool/api_engine.c; issue 11.7).
 *
 * mproc__process_set_identity: in a forked pool worker, before it runs
 * anything: this process is `name`, a daemon child of parent_pid named
 * parent_name.  Plain stores and close() only, so it is safe in a
 * pthread_atfork child handler; both strings must live as long as the
 * process.
 *
 * mproc__process_next_id: the next number of the counter Process-N takes
 * its N from (Python's ForkPoolWorker-N shares it).
 *
 * mproc__process_pool_workers: the hook mproc_active_children() calls to
 * count this process's live pool workers and fill handles for them
 * (at most max into out); NULL: none.
 *
 * mproc__process_worker_new/_end/_free: a pool worker's handle, which
 * answers name, pid, daemon and is_alive (true until _end); join,
 * terminate and the like refuse it (the pool owns the process).
 */
mproc_process_t *mproc__process_worker_new(const char *name, pid_t pid);
void mproc__process_worker_end(mproc_process_t *p);
void mproc__process_worker_free(mproc_process_t *p);
void mproc__process_set_identity(const char *name, pid_t parent_pid,
                                 const char *parent_name);
uint32_t mproc__process_next_id(void);
/* true in a daemon process: a pool worker, or a Process started with
 * daemon set (which may not have children, nor a pool). */
bool mproc__process_is_daemon(void);
extern size_t (*mproc__process_pool_workers)(mproc_process_t **out,
                                             size_t max);

/*
 * ---- Process objects (process.c, children.c) ----
 *
 * process.c makes handles and starts children; children.c keeps this
 * process, its parent and the list of children, and reaps them.
 */

/* A handle's state, and what it stands for. */
enum { MPROC__PS_NEW, MPROC__PS_STARTED, MPROC__PS_ENDED, MPROC__PS_CLOSED };
enum {
    MPROC__PK_CHILD,   /* started by this process */
    MPROC__PK_CURRENT, /* this process (mproc__process_self) */
    MPROC__PK_PARENT,  /* the process that started this one */
    MPROC__PK_WORKER   /* a pool's worker (mproc__process_worker_new) */
};

struct mproc_process {
    pthread_mutex_t mu; /* reaping: check() (a MPROC__PK_CHILD's) */
    int kind;
    int state;
    char *name;
    bool name_owned; /* false for the static "MainProcess" */
    pid_t starter;   /* the process that started it */
    uint32_t *identity;
    size_t nidentity;
    bool daemon;
    /* the target */
    mproc_task_fn fn;
    char *target;
    char *input;
    size_t input_len;
    struct mproc_kv *args;
    size_t nargs;
    size_t result_max;
    const mproc_context_t *context;
    struct mproc__plugin *plugin;
    bool plugin_cached; /* owned by the cache, not by the process */
    const struct mproc_task_def *task;
    /* running */
    pid_t pid;
    int pidfd;       /* -1 where the kernel refuses pidfds */
    int result_fd;   /* the memfd the child writes its result to */
    int sentinel_fd; /* without pidfds: a pipe only the child holds open */
    bool reaped;
    int exitcode;
    char *rbuf;      /* the result, read at the end */
    size_t rlen;
    int rtype;       /* the frame's type, 0 if none */
    const char *rdata; /* into rbuf */
    size_t rdata_len;
    char *failure;
    bool died_after; /* success, then a death or an exit other than 0 */
    bool lost_status; /* reaped elsewhere before it sent a result */
    bool freed;      /* free() while it ran: free when reaped */
    struct mproc__pass *pass; /* objects handed to it (pass.c) */
    size_t npass;
    struct mproc_process *next;
    /* The last error's message, MPROC_ERRMSG_MAX bytes made on the first
     * error: inline, it made a handle too large for malloc's per-thread
     * cache, and freeing one wrote to the arena, a page a start wrote
     * (and, after fork(), took a fault on) for nothing. */
    char *errmsg;
    bool errmsg_lost; /* an error whose message there was no room for */
};

/* The module's lock: the children list, and the identity a new handle
 * takes from this process's. */
extern pthread_mutex_t mproc__process_lock;
/* This process as a handle (mproc_current_process()). */
extern struct mproc_process mproc__process_self;

/* Keep the error's message in p (made on the first error); returns
 * code.  _closed: MPROC_ECLOSED, saying so. */
int mproc__process_set_err(mproc_process_t *p, int code, const char *fmt,
                           ...) __attribute__((format(printf, 3, 4)));
int mproc__process_closed(mproc_process_t *p);
/* Release what p holds and free it (process.c). */
void mproc__process_destroy(mproc_process_t *p);
/* Look at a started child: read its result and reap it if it ended;
 * true when it has ended (children.c). */
bool mproc__process_check(mproc_process_t *p);
/* Put a child just started by `me` on the children list; take one off
 * it (the module's lock held). */
void mproc__process_list_add(mproc_process_t *p, pid_t me);
void mproc__process_unlink(mproc_process_t *p);

/* pidfd_open(pid), or -1 with errno. */
int mproc__pidfd_open(pid_t pid);

/*
 * ---- Fork safety (fork.c) ----
 *
 * A child made by fork() inherits every descriptor of its parent, CLOEXEC
 * or not, and every lock as it was at fork() in the one thread that
 * exists in the child.  The rules, for every module of the library:
 *
 * Descriptors.  A descriptor that a forked child has no business holding
 * (a channel end of a pool, a Process's result file or pidfd, the host's
 * output file or job log) is registered here right after it is made:
 *
 *     mproc__fork_fd_hold();
 *     fd = open(..., O_CLOEXEC);          (pipe2, memfd_create, ...)
 *     if (fd >= 0 && mproc__fork_fd_register(fd) < 0) ...
 *     mproc__fork_fd_release();
 *
 * The hold (a read lock; fork() takes it for writing in a pthread_atfork
 * handler) keeps any fork() out between the creation and the
 * registration, so no child gets the descriptor unregistered.  Never fork
 * or wait for a fork while holding it.  To close a registered descriptor,
 * use mproc__fork_fd_close() (unregister first, then close: the other
 * order would let a descriptor opened meanwhile under the same number be
 * unregistered).  Descriptors a user expects a forked child to use (Queue
 * and Pipe objects, as in Python) are not registered.
 *
 * Every child the library forks calls mproc__fork_child() first thing
 * after fork(), listing the registered descriptors it is given (`keep`):
 * every other registered descriptor is closed.  Objects the child
 * inherited still name those numbers: once the child has opened anything
 * it must not close them again (the number may be someone else's now),
 * so code that frees an inherited object in a forked child forgets its
 * registered descriptors instead (as process.c does with the parent's
 * handles).  Children of the spawn and forkserver methods start from a
 * fresh image and inherit nothing.
 *
 * Locks.  A lock of the library that a forked child may take (directly,
 * or through an atexit handler when the child calls exit()) gets a
 * pthread_atfork child handler that makes it new and unlocked, and its
 * state is either discarded by the child (checked against getpid()) or
 * kept consistent at every store.  A prepare handler that takes the lock
 * (so that the child sees its state whole) is only for locks never held
 * while forking or while waiting for a fork in another thread.
 */

/*
 * In a pthread_atfork child handler: make *m as *m0 (unlocked, new), but
 * store only when it differs.  An unlocked mutex is byte for byte its
 * initializer, and every page a forked child writes is copied (a few
 * microseconds each), so most children then write nothing here.
 */
static inline void
mproc__reinit_mutex(pthread_mutex_t *m, const pthread_mutex_t *m0)
{
    if (memcmp(m, m0, sizeof(*m)) != 0)
        *m = *m0;
}

/* Register fd: 0, MPROC_EBADF (negative or beyond 4 Mi), MPROC_ENOMEM.
 * Thread-safe, lock-free. */
int mproc__fork_fd_register(int fd);
/* Unregister fd (not registered: nothing). */
void mproc__fork_fd_unregister(int fd);
/* Is fd registered? */
bool mproc__fork_fd_registered(int fd);
/* Unregister and close fd (-1: nothing). */
void mproc__fork_fd_close(int fd);
/* Keep fork() out between making and registering descriptors. */
void mproc__fork_fd_hold(void);
void mproc__fork_fd_release(void);

/*
 * The lifeline: how a child dies with its parent *process*, whichever
 * thread made it and however the parent ends (PR_SET_PDEATHSIG follows
 * the thread that forked).  mproc__lifeline_fd() is this process's
 * lifeline read end (made on first use; registered), or a negative code:
 * call it before forking a child that must follow, and pass it to a new
 * image.  In the child, mproc__lifeline_arm(rd) opens the child's own
 * description of it, armed to deliver SIGKILL when the parent's write end
 * closes (or -1 without /proc); then, once the inherited write end (if
 * any) is closed, mproc__lifeline_check(fd, parent) registers fd and
 * returns -1 when the parent is already gone, else 0 (with fd -1 it falls
 * back to PR_SET_PDEATHSIG and getppid()).  Both are async-signal-safe.
 */
int mproc__lifeline_fd(void);
int mproc__lifeline_arm(int rd);
int mproc__lifeline_check(int fd, pid_t parent);
/* In a child, the armed description that mproc__lifeline_check()
 * registered, or -1: code that closes every descriptor but a few must keep
 * it, or the child no longer dies with its parent. */
int mproc__lifeline_armed(void);
/* In a child that leads its own process group (a pool worker), once it
 * does: the parent's death kills the whole group, the processes its
 * tasks started with it (the armed description's owner becomes the
 * group).  Async-signal-safe; nothing without a lifeline. */
void mproc__lifeline_group(void);

/*
 * In a child the library forked, first thing after fork() (async-signal-
 * safe): with `follow`, arm the lifeline of `parent` (the pid that
 * forked; the caller made sure it had one); drop every registered
 * descriptor but keep[0..nkeep).  Without /proc, falls back to
 * PR_SET_PDEATHSIG.  0, or -1 when the parent is already gone (the child
 * should _exit()).
 */
int mproc__fork_child(bool follow, pid_t parent, const int *keep,
                      size_t nkeep);

/*
 * A system call without glibc's wrapper, for a child (forked, or cloned by
 * the forkserver) on its way to the target: each wrapper lives on its own
 * page of libc's text, which a new child does not have mapped (the kernel
 * copies no page tables for file mappings with no private pages) and takes
 * a page fault, a few microseconds here, to map; our own code is mapped
 * already.  Only for calls where the wrapper adds nothing (SIG_DFL, no
 * restorer; descriptors; the robust list).  Returns -errno on failure.
 */
#if defined(__x86_64__)
static inline long
mproc__raw_syscall5(long n, long a, long b, long c, long d, long e)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    long r;

    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return r;
}
#elif defined(__aarch64__)
static inline long
mproc__raw_syscall5(long n, long a, long b, long c, long d, long e)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;

    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4)
                     : "memory");
    return x0;
}
#else
static inline long
mproc__raw_syscall5(long n, long a, long b, long c, long d, long e)
{
    long r = syscall(n, a, b, c, d, e);
    return r < 0 ? -errno : r;
}
#endif

/* The same with four arguments (the fifth register is set to 0). */
static inline long
mproc__raw_syscall(long n, long a, long b, long c, long d)
{
    return mproc__raw_syscall5(n, a, b, c, d, 0);
}

/*
 * In a forked Process child, after mproc__fork_child() (async-signal-
 * safe): the signals through which a process is stopped or told things
 * back to SIG_DFL, and the signal mask emptied (the parent blocked every
 * signal across fork(), so no handler of its ran in the child before).
 */
void mproc__fork_child_signals(void);

#endif

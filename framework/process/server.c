/* SPDX-License-Identifier: MIT */
/*
 * The forkserver: a clean, single-threaded process that forks children on
 * request (see launch.c for the protocol).
 *
 * Children are made with clone(CLONE_PARENT), so they are children of the
 * client.  A raw clone bypasses glibc's fork(), so the child does by hand
 * what glibc's _Fork() does for its own bookkeeping: the kernel writes the
 * child's thread id into glibc's thread descriptor (CLONE_CHILD_SETTID, at
 * the address glibc registered with set_tid_address, which
 * PR_GET_TID_ADDRESS reads back), and the child registers the robust mutex
 * list again (the kernel resets it in a new process).  Without the first,
 * a robust mutex (the posix sync backend) locked in the child would record
 * the server's thread id as its owner; without the second, the kernel
 * could not release it when the child dies.  glibc's atfork handlers do
 * not run: the server holds no lock and has no threads, so there is
 * nothing for them to repair.
 */
#include "internal.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "plugin/plugin_int.h"
#include "process/process_int.h"
#include "sync/sync_int.h"
#include "util/buf_int.h"

#define SOCK_FD MPROC__FD_FIRST
#define MAX_LOADED 32

/* struct clone_args of <linux/sched.h>, version 0 (64 bytes). */
struct clone_args0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
        stack_size, tls;
};

static void *tid_addr;
static void *robust_head;
static size_t robust_len;

/*
 * Where requests are received: a mapping no child gets (MADV_DONTFORK).
 * Children decode nothing from it (serve() decodes a copy), and a buffer
 * they shared would be write-protected at every clone, so that receiving
 * the next request into it took a page fault.
 */
static char rx_static[MPROC__BOOT_INLINE_MAX];
static char *rx = rx_static;

static void
rx_setup(void)
{
    void *p = mmap(NULL, MPROC__BOOT_INLINE_MAX, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        return;
    if (madvise(p, MPROC__BOOT_INLINE_MAX, MADV_DONTFORK) < 0) {
        munmap(p, MPROC__BOOT_INLINE_MAX);
        return;
    }
    rx = p;
}

/* Plugins loaded in the server, so children start with them mapped. */
static struct mproc__plugin *loaded[MAX_LOADED];
static char *loaded_path[MAX_LOADED];
static size_t nloaded;

/* The plugin of `spec`, loaded once; NULL when it cannot be (the child
 * opens it itself, and says why it fails). */
static struct mproc__plugin *
load(const char *spec)
{
    struct mproc__plugin *p;
    size_t i;

    if (spec == NULL)
        return NULL;
    for (i = 0; i < nloaded; i++)
        if (strcmp(loaded_path[i], spec) == 0)
            return loaded[i];
    if (nloaded == MAX_LOADED || mproc__plugin_open(&p, spec, NULL) < 0)
        return NULL;
    loaded_path[nloaded] = strdup(spec);
    if (loaded_path[nloaded] == NULL) {
        mproc__plugin_close(p);
        return NULL;
    }
    return loaded[nloaded++] = p;
}

static pid_t
clone_parent(void)
{
    struct clone_args0 a;
    long r;

    memset(&a, 0, sizeof(a));
    a.flags = CLONE_PARENT;
    if (tid_addr != NULL) {
        a.flags |= CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID;
        a.child_tid = (uint64_t)(uintptr_t)tid_addr;
    }
    /* No exit_signal with CLONE_PARENT (clone3 refuses one): the child
     * inherits the server's, SIGCHLD, from its spawn.  A direct call: the
     * child starts where the call returns, and glibc's syscall() is one
     * more page of libc for it to map (process_int.h). */
#ifdef SYS_clone3
    r = mproc__raw_syscall(SYS_clone3, (long)&a, sizeof(a), 0, 0);
    if (r != -ENOSYS)
        goto out;
#endif
#if defined(__x86_64__)
    /* clone(flags, stack, parent_tid, child_tid, tls) on x86-64 (no
     * CLONE_SETTLS: tls unused). */
    r = mproc__raw_syscall(SYS_clone, (long)(a.flags | SIGCHLD), 0, 0,
                           (long)tid_addr);
#else
    r = mproc__raw_syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0);
#endif
#ifdef SYS_clone3
out:
#endif
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return (pid_t)r;
}

/* The child's system calls up to mproc__boot_run() are direct ones
 * (process_int.h says why: a page fault saved per libc page). */
static void
close_from(int lowest)
{
#ifdef SYS_close_range
    if (mproc__raw_syscall(SYS_close_range, lowest, ~0U, 0, 0) == 0)
        return;
#endif
    for (int fd = lowest; fd < 1024; fd++)
        mproc__raw_syscall(SYS_close, fd, 0, 0, 0);
}

static void
move_fd(int from, int to)
{
#ifdef SYS_dup2
    mproc__raw_syscall(SYS_dup2, from, to, 0, 0);
#else
    mproc__raw_syscall(SYS_dup3, from, to, 0, 0); /* from != to: moved */
#endif
}

/* In the new child: put the request's descriptors at 4.., run it. */
static void __attribute__((noreturn))
child(const struct mproc__boot *b, const int *fds, size_t nfds)
{
    size_t i;

    if (robust_head != NULL)
        mproc__raw_syscall(SYS_set_robust_list, (long)robust_head,
                           (long)robust_len, 0, 0);
    for (i = 0; i < nfds; i++)
        move_fd(fds[i], MPROC__FD_FIRST + (int)i);
    mproc__raw_syscall(SYS_close, MPROC__FD_BOOT, 0, 0, 0);
    close_from(MPROC__FD_FIRST + (int)nfds);
    mproc__boot_start(b);
}

/*
 * Before a child for a request of `kind` is made: what its first steps
 * would otherwise write, set here, once (each page a child writes is
 * copied for it).  A Process registers its result file, at 4, in the fork
 * registry (children.c): registered here already, the child stores
 * nothing there.  Not for other kinds, whose descriptor at 4 their own
 * children may use.
 */
static void
prepare(uint32_t kind)
{
    bool want = kind == MPROC__BOOT_PROCESS;

    if (mproc__fork_fd_registered(MPROC__FD_FIRST) == want)
        return;
    if (want)
        mproc__fork_fd_register(MPROC__FD_FIRST);
    else
        mproc__fork_fd_unregister(MPROC__FD_FIRST);
}

/* Handle one request; false when the client is gone. */
static bool
serve(void)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * (MPROC__FD_MAX + 1))];
        struct cmsghdr align;
    } u;
    /* fds[0]: the boot memfd, or -1 when the message came inline. */
    int fds[MPROC__FD_MAX + 1], nfds = 1, i, top;
    char *msg = rx;
    uint32_t head[2] = {0, 0};
    struct iovec iov[2] = {{head, sizeof(head)}, {msg, MPROC__BOOT_INLINE_MAX}};
    struct mproc__boot b;
    struct msghdr m;
    struct cmsghdr *c;
    int32_t reply[2] = {0, 0};
    void *mem = NULL;
    struct mproc__plugin *pl;
    const struct mproc_task_def *task;
    char *copy;
    ssize_t n;
    pid_t pid;
    int r;

    memset(&m, 0, sizeof(m));
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    m.msg_control = u.buf;
    m.msg_controllen = sizeof(u.buf);
    n = MPROC__NOINTR(recvmsg(SOCK_FD, &m, MSG_CMSG_CLOEXEC));
    if (n <= 0)
        return false;
    fds[0] = -1;
    for (c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            /* Inline: the descriptors from fds[1]; else the memfd
             * first, into fds[0]. */
            i = 0;
            if (head[1] == 0 && fds[0] < 0 && k > 0) {
                memcpy(&fds[0], CMSG_DATA(c), sizeof(int));
                i = 1;
            }
            for (; i < k && nfds < MPROC__FD_MAX + 1; i++)
                memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int),
                       sizeof(int));
        }
    r = MPROC_EINVAL;
    if ((m.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || n < (ssize_t)sizeof(head) ||
        head[0] + 1 != (uint32_t)nfds) {
        /* refused below */
    } else if (head[1] > 0) {
        /* Inline: decode a copy (records are 8-aligned in an 8-aligned
         * buffer, which malloc gives). */
        if (fds[0] < 0 && (size_t)n - sizeof(head) == head[1] &&
            (copy = malloc(head[1])) != NULL) {
            memcpy(copy, msg, head[1]);
            r = mproc__boot_decode(copy, head[1], &b, &mem);
        }
    } else if (fds[0] >= 0) {
        r = mproc__boot_read(fds[0], &b, &mem);
    }
    if (r < 0) {
        reply[1] = EINVAL;
        goto answer;
    }
    pl = load(b.plugin);
    task = NULL;
    if (pl == NULL || mproc__plugin_task(pl, b.task, &task, NULL) < 0)
        task = NULL; /* the child looks again, and says why it fails */
    mproc__boot_use_plugin(pl, task);
    prepare(b.kind);
    /* The child dup2()s onto 4.. : move the sources out of the way. */
    top = MPROC__FD_FIRST + nfds;
    for (i = 1; i < nfds; i++)
        if (fds[i] < top) {
            int fd = fcntl(fds[i], F_DUPFD_CLOEXEC, top);
            if (fd < 0) {
                reply[1] = errno;
                mproc__boot_free(&b, mem);
                goto answer;
            }
            close(fds[i]);
            fds[i] = fd;
        }
    pid = clone_parent();
    if (pid == 0)
        child(&b, fds + 1, (size_t)nfds - 1);
    if (pid < 0)
        reply[1] = errno;
    else
        reply[0] = (int32_t)pid;
    mproc__boot_free(&b, mem);
answer:
    for (i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return MPROC__NOINTR(send(SOCK_FD, reply, sizeof(reply), MSG_NOSIGNAL)) ==
           (ssize_t)sizeof(reply);
}

void
mproc__server_main(const struct mproc__boot *b)
{
    struct sigaction sa;
    size_t i;

    close(MPROC__FD_BOOT); /* read: its number may be reused below */
    /* The server lives as long as its client process, not the thread
     * that started it: it dies with it (the lifeline), and it ends at the
     * end of its socket.  Its lifeline descriptor may land on 3: each
     * child closes 3 (child()) and follows the client on its own. */
    if (!mproc__boot_follow(b))
        _exit(0);
    /* Ctrl-C reaches the whole process group; the client decides. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
#ifdef PR_GET_TID_ADDRESS
    if (prctl(PR_GET_TID_ADDRESS, &tid_addr, 0, 0, 0) < 0)
        tid_addr = NULL;
#endif
    {
        long r = syscall(SYS_get_robust_list, 0, &robust_head, &robust_len);
        if (r < 0)
            robust_head = NULL;
    }
    for (i = 0; i < b->npreload; i++)
        load(b->preload[i]);
    /* What a child reads on its way out (nothing held, no result
     * overflow), read here once: a page never touched is not mapped, and
     * each child would take a fault to map it. */
    (void)*(volatile int *)&mproc__sync_nheld;
    (void)mproc__buf_overflow(false);
    rx_setup();
    while (serve())
        ;
    _exit(0);
}

/* SPDX-License-Identifier: MIT */
/*
 * Making a new image: the spawn and forkserver start methods, for Process
 * objects and pool workers alike.
 *
 * spawn: posix_spawn() of the mproc-worker program.  The child gets the
 * boot message on descriptor 3 and the request's descriptors on 4.. and
 * nothing else: every other descriptor is closed (closefrom), including
 * ones the caller's program left without O_CLOEXEC.  Signal dispositions
 * are reset and the mask is emptied by posix_spawn itself.
 *
 * forkserver: a server, spawned as above on first use, that forks children
 * on request.  Requests travel on a SOCK_SEQPACKET socket pair, with the
 * boot message inline (a memfd when it is large) and the request's
 * descriptors as SCM_RIGHTS.  The server
 * makes each child with clone(CLONE_PARENT), so the child is a child of
 * the client, not of the server: the client reaps it with waitpid() and
 * watches it with a pidfd exactly as a forked or spawned child.  The
 * server itself has no children and so leaves no zombies.  The server
 * belongs to the client process, not to the thread or pool that first
 * needed it: it ends at the end of its socket or with the client process.
 *
 * Dying with the parent: a new image that must (a pool worker, a daemon
 * process, the server) is given the parent's lifeline (fork.c) as its
 * last descriptor.  Not PR_SET_PDEATHSIG: it fires when the thread that
 * made the child exits, and the parent of a forkserver child is the
 * thread that spawned the server, so a pool's thread that started the
 * server took every forkserver child of the process with it.
 */
#include "internal.h"
#include "paths.h" /* the install folders (made by make) */

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process/process_int.h"
#include "util/buf_int.h"

#ifndef MPROC_WORKER_PATH
#define MPROC_WORKER_PATH "/usr/local/lib/mproc/mproc-worker"
#endif

extern char **environ;

int
mproc__pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* ---- finding the worker program ---- */

static char build_worker[PATH_MAX];
static pthread_once_t where_once = PTHREAD_ONCE_INIT;

/*
 * Does this program run from the build tree (mproc__build_tree: checked
 * at run time, no build path is compiled in)?  Then the worker built with
 * it is used, so `./mproc` works before `make install`.  That is the real
 * program in .libs, not libtool's wrapper script, so ps(1) still shows
 * "mproc-worker"; it finds the uninstalled libmproc as the program that
 * runs it did, through the LD_LIBRARY_PATH the wrapper set.
 */
static void
where(void)
{
    const char *dir = mproc__build_tree();

    if (dir == NULL)
        return;
    if (snprintf(build_worker, sizeof(build_worker), "%s/.libs/mproc-worker",
                 dir) >= (int)sizeof(build_worker) ||
        access(build_worker, X_OK) != 0)
        build_worker[0] = '\0';
}

/* mproc_set_executable()'s choice, replaced whole by one store.  A
 * replaced string is not freed (a thread may be spawning with it): every
 * string set stays on a list, a few bytes per call, freed at exit. */
struct exe {
    struct exe *next;
    char path[];
};
static char *chosen; /* read and written with __atomic builtins */
static struct exe *exes;
static pthread_mutex_t exes_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((destructor)) static void
exes_free(void)
{
    struct exe *e;

    while ((e = exes) != NULL) {
        exes = e->next;
        free(e);
    }
}

int
mproc_set_executable(const char *path, mproc_err_t *err)
{
    struct exe *e = NULL;

    if (path != NULL) {
        if (access(path, X_OK) != 0)
            return mproc__err(err, MPROC_EACCES, "set_executable: %s: %s",
                              path, errno == EACCES ? "not executable"
                                                    : strerror(errno));
        e = malloc(sizeof(*e) + strlen(path) + 1);
        if (e == NULL)
            return mproc__err(err, MPROC_ENOMEM, "out of memory");
        strcpy(e->path, path);
        pthread_mutex_lock(&exes_lock);
        e->next = exes;
        exes = e;
        pthread_mutex_unlock(&exes_lock);
    }
    __atomic_store_n(&chosen, e != NULL ? e->path : NULL, __ATOMIC_RELEASE);
    return 0;
}

const char *
mproc_get_executable(void)
{
    return mproc__worker_path();
}

const char *
mproc__worker_path(void)
{
    const char *env = getenv("MPROC_WORKER");
    const char *c = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);

    if (c != NULL)
        return c;
    if (env != NULL && env[0] != '\0')
        return env;
    pthread_once(&where_once, where);
    return build_worker[0] != '\0' ? build_worker : MPROC_WORKER_PATH;
}

/* ---- spawn ---- */

/*
 * The new image's command line says what it is and whose: "mproc-worker
 * KIND -- PARENT'S COMMAND LINE", so ps(1) shows where a worker belongs
 * (and tests find a run's processes by its command line).
 */
static char **parent_argv;
static size_t parent_argc;
static pthread_once_t argv_once = PTHREAD_ONCE_INIT;

static void
read_argv(void)
{
    static char buf[4096];
    size_t n = 0, i, k;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    ssize_t got;

    if (fd < 0)
        return;
    while (n < sizeof(buf) - 1 &&
           (got = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)got;
    close(fd);
    buf[n] = '\0';
    for (i = 0, k = 0; i < n; i++)
        if (buf[i] == '\0')
            k++;
    parent_argv = calloc(k + 1, sizeof(char *));
    if (parent_argv == NULL)
        return;
    for (i = 0; i < n && parent_argc < k; i += strlen(buf + i) + 1)
        parent_argv[parent_argc++] = buf + i;
}

static int
spawn_image(const struct mproc__boot *b, int bootfd, const int *fds,
            size_t nfds, char *errbuf, size_t errlen, pid_t *pid)
{
    static const char *const kinds[] = {"?", "process", "worker",
                                        "forkserver"};
    const char *path = mproc__worker_path();
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    char *argv[64];
    int src[MPROC__FD_MAX + 1], moved[MPROC__FD_MAX + 1];
    int top = MPROC__FD_FIRST + (int)nfds;
    static const int reset[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGPIPE, SIGTERM,
                                SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM, SIGTSTP,
                                SIGTTIN, SIGTTOU, SIGXCPU, SIGXFSZ};
    sigset_t none, dfl;
    size_t i, n = 0;
    int r;

    pthread_once(&argv_once, read_argv);
    argv[n++] = (char *)"mproc-worker";
    argv[n++] = (char *)kinds[b->kind <= 3 ? b->kind : 0];
    argv[n++] = (char *)"--";
    for (i = 0; i < parent_argc && n < MPROC__ARRAY_SIZE(argv) - 1; i++)
        argv[n++] = parent_argv[i];
    argv[n] = NULL;

    /* dup2 onto 3, 4, ... must not overwrite a source not yet placed, and
     * a source already at its number would keep O_CLOEXEC: move every
     * source inside the range above it first. */
    src[0] = bootfd;
    for (i = 0; i < nfds; i++)
        src[i + 1] = fds[i];
    for (i = 0; i <= nfds; i++) {
        moved[i] = -1;
        if (src[i] >= MPROC__FD_BOOT && src[i] < top) {
            moved[i] = fcntl(src[i], F_DUPFD_CLOEXEC, top);
            if (moved[i] < 0) {
                r = -errno;
                snprintf(errbuf, errlen, "cannot start %s: fcntl: %s", path,
                         strerror(errno));
                goto out_moved;
            }
            src[i] = moved[i];
        }
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    for (i = 0; i <= nfds; i++)
        posix_spawn_file_actions_adddup2(&fa, src[i], MPROC__FD_BOOT + (int)i);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
    posix_spawn_file_actions_addclosefrom_np(&fa, top);
#endif
    /* exec() itself resets caught signals; only ignored ones survive it.
     * Reset those a shell or a host commonly ignores, not all 64: each is
     * a system call in the child before exec. */
    sigemptyset(&none);
    sigemptyset(&dfl);
    for (i = 0; i < MPROC__ARRAY_SIZE(reset); i++)
        sigaddset(&dfl, reset[i]);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    r = posix_spawn(pid, path, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (r != 0) {
        snprintf(errbuf, errlen, "cannot start %s: %s%s", path, strerror(r),
                 r == ENOENT ? " (set MPROC_WORKER to the mproc-worker "
                               "program)"
                             : "");
        r = -r;
    }
out_moved:
    for (i = 0; i <= nfds; i++)
        if (moved[i] >= 0)
            close(moved[i]);
    return r;
}

/* ---- the forkserver, client side ---- */

static struct {
    pthread_mutex_t lock;
    pid_t owner; /* the process the server serves */
    pid_t pid;   /* the server */
    int sock;
    bool atexit_done;
} fs = {PTHREAD_MUTEX_INITIALIZER, 0, 0, -1, false};

/* The plugins to preload: a NULL-terminated array, replaced whole by one
 * store, so a child forked meanwhile sees the old list or the new one. */
static char **preload;

/* A forked child has only the thread that forked: fs.lock, if another
 * thread held it, starts unlocked there.  What it guards is the parent's
 * server (discarded: fs.owner) and the preload list (see above).  Not
 * taken before fork(): it is held while waiting for the server. */
static void
after_fork_child(void)
{
    static const pthread_mutex_t m0 = PTHREAD_MUTEX_INITIALIZER;

    mproc__reinit_mutex(&fs.lock, &m0);
}

__attribute__((constructor)) static void
launch_fork_init(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

int
mproc_set_forkserver_preload(const char *const *plugins, size_t n,
                             mproc_err_t *err)
{
    char **p = calloc(n + 1, sizeof(*p)), **old;
    size_t i;

    if (p == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    for (i = 0; i < n; i++)
        if ((p[i] = strdup(plugins[i])) == NULL) {
            while (i > 0)
                free(p[--i]);
            free(p);
            return mproc__err(err, MPROC_ENOMEM, "out of memory");
        }
    pthread_mutex_lock(&fs.lock);
    old = preload;
    __atomic_store_n(&preload, p, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&fs.lock);
    for (i = 0; old != NULL && old[i] != NULL; i++)
        free(old[i]);
    free(old);
    return 0;
}

/* Stop our server (the lock is held): end of file on its socket makes it
 * exit; reap it. */
static void
server_stop(void)
{
    int st;

    mproc__fork_fd_close(fs.sock);
    fs.sock = -1;
    if (fs.pid > 0 && fs.owner == getpid()) {
        /* It exits at once on end of file; SIGKILL makes sure. */
        if (MPROC__NOINTR(waitpid(fs.pid, &st, WNOHANG)) == 0) {
            kill(fs.pid, SIGKILL);
            MPROC__NOINTR(waitpid(fs.pid, &st, 0));
        }
    }
    fs.pid = 0;
}

static void
server_atexit(void)
{
    pthread_mutex_lock(&fs.lock);
    if (fs.owner == getpid())
        server_stop();
    pthread_mutex_unlock(&fs.lock);
}

static int launch(const struct mproc__boot *b, const int *fds, size_t nfds,
                  bool server, char *errbuf, size_t errlen, pid_t *pid);
static int launch_image(const struct mproc__boot *b, const int *fds,
                        size_t nfds, char *errbuf, size_t errlen, pid_t *pid);

/* Start the server if this process has none (the lock is held). */
static int
server_ensure(char *errbuf, size_t errlen)
{
    struct mproc__boot b;
    int sv[2] = {-1, -1}, r;
    pid_t pid;

    if (fs.owner != getpid()) {
        /* A server inherited through fork() serves our parent.  Its
         * socket is registered, so a child the library forked closed it
         * at fork, and its number may be another's now: forget it. */
        fs.sock = -1;
        fs.pid = 0;
        fs.owner = getpid();
    }
    if (fs.sock >= 0)
        return 0;
    /* Our end is registered: a forked child holding it would keep the
     * server up after we end. */
    mproc__fork_fd_hold();
    r = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0
            ? -errno
            : mproc__fork_fd_register(sv[0]);
    mproc__fork_fd_release();
    if (r < 0) {
        snprintf(errbuf, errlen, "cannot start the forkserver: "
                 "socketpair: %s", mproc_strerror(r));
        if (sv[0] >= 0) {
            close(sv[0]);
            close(sv[1]);
        }
        return r;
    }
    memset(&b, 0, sizeof(b));
    b.kind = MPROC__BOOT_SERVER;
    b.parent_pid = getpid();
    b.preload = preload;
    for (b.npreload = 0; preload != NULL && preload[b.npreload] != NULL;
         b.npreload++)
        ;
    r = launch_image(&b, &sv[1], 1, errbuf, errlen, &pid);
    close(sv[1]);
    if (r < 0) {
        mproc__fork_fd_close(sv[0]);
        return r;
    }
    fs.sock = sv[0];
    fs.pid = pid;
    mproc__log(MPROC_LOG_INFO, "forkserver started (pid %d)", (int)pid);
    if (!fs.atexit_done) {
        atexit(server_atexit);
        fs.atexit_done = true;
    }
    return 0;
}

/*
 * One request: 0 and *pid, -EPIPE when the server is gone, or an error.
 * The request is {descriptors, inline length} and the boot message
 * inline (msg, len) when it fits MPROC__BOOT_INLINE_MAX, else in a memfd
 * (bootfd) sent first among the descriptors: a memfd made, written and
 * closed per start costs more than the whole request otherwise.
 */
static int
server_request(int bootfd, const void *msg, size_t len, const int *fds,
               size_t nfds, pid_t *pid, char *errbuf, size_t errlen)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * (MPROC__FD_MAX + 1))];
        struct cmsghdr align;
    } u;
    uint32_t head[2] = {(uint32_t)nfds, bootfd < 0 ? (uint32_t)len : 0};
    size_t k = bootfd < 0 ? 0 : 1; /* the memfd first */
    int32_t reply[2];
    struct iovec iov[2] = {{head, sizeof(head)}, {(void *)msg, len}};
    struct msghdr m;
    struct cmsghdr *c;
    ssize_t n;

    memset(&m, 0, sizeof(m));
    memset(&u, 0, sizeof(u));
    m.msg_iov = iov;
    m.msg_iovlen = bootfd < 0 ? 2 : 1;
    if (nfds + k > 0) {
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (nfds + k));
        c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (nfds + k));
        if (k > 0)
            memcpy(CMSG_DATA(c), &bootfd, sizeof(int));
        if (nfds > 0)
            memcpy(CMSG_DATA(c) + k * sizeof(int), fds, sizeof(int) * nfds);
    }
    n = MPROC__NOINTR(sendmsg(fs.sock, &m, MSG_NOSIGNAL));
    if (n < 0)
        return errno == EPIPE || errno == ECONNRESET ? -EPIPE : -errno;
    n = MPROC__NOINTR(recv(fs.sock, reply, sizeof(reply), 0));
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return -EPIPE;
    if (n != (ssize_t)sizeof(reply)) {
        snprintf(errbuf, errlen, "forkserver: bad reply");
        return MPROC_EIO;
    }
    if (reply[0] <= 0) {
        snprintf(errbuf, errlen, "forkserver: cannot start a process: %s",
                 strerror(reply[1]));
        return -reply[1];
    }
    *pid = (pid_t)reply[0];
    return 0;
}

static int
forkserver(const struct mproc__boot *b, const int *fds, size_t nfds,
           char *errbuf, size_t errlen, pid_t *pid)
{
    int r, tries;

    pthread_mutex_lock(&fs.lock);
    for (tries = 0; tries < 2; tries++) {
        r = server_ensure(errbuf, errlen);
        if (r < 0)
            break;
        r = launch(b, fds, nfds, true, errbuf, errlen, pid);
        if (r != -EPIPE)
            break;
        /* The server died (killed): start a new one, once. */
        mproc__log(MPROC_LOG_WARNING, "forkserver (pid %d) died; starting "
                   "another", (int)fs.pid);
        server_stop();
        snprintf(errbuf, errlen, "the forkserver died");
    }
    pthread_mutex_unlock(&fs.lock);
    return r;
}

/*
 * Write the boot message of `b` with fds[0..nfds) at 4.., plus the
 * lifeline last for a child that must die with us, and start it: by
 * spawn, or by the server when `server` (fs.lock held).
 */
static int
launch(const struct mproc__boot *b, const int *fds, size_t nfds,
       bool server, char *errbuf, size_t errlen, pid_t *pid)
{
    struct mproc__boot bt = *b;
    int all[MPROC__FD_MAX], bootfd, r;

    if (nfds > MPROC__FD_MAX - 1) {
        snprintf(errbuf, errlen, "too many descriptors for a new process");
        return MPROC_EINVAL;
    }
    if (nfds > 0)
        memcpy(all, fds, nfds * sizeof(*fds));
    if (b->kind != MPROC__BOOT_PROCESS || b->daemon) {
        r = mproc__lifeline_fd();
        if (r < 0) {
            snprintf(errbuf, errlen, "cannot make the lifeline of a new "
                     "process: %s", mproc_strerror(r));
            return r;
        }
        all[nfds++] = r;
        bt.lifeline_fd = MPROC__FD_FIRST + (uint32_t)nfds - 1;
    }
    bt.nfds = (uint32_t)nfds;
    if (server) {
        struct mproc_buf msg;

        mproc__buf_init(&msg, (size_t)-1);
        r = mproc__boot_encode(&bt, &msg);
        if (r == 0 && msg.len <= MPROC__BOOT_INLINE_MAX) {
            r = server_request(-1, msg.data, msg.len, all, nfds, pid, errbuf,
                               errlen);
            mproc__buf_free(&msg);
            return r;
        }
        mproc__buf_free(&msg);
        if (r < 0) {
            snprintf(errbuf, errlen, "out of memory");
            return r;
        }
    }
    bootfd = mproc__boot_write(&bt, errbuf, errlen);
    if (bootfd < 0)
        return bootfd;
    if (server)
        r = server_request(bootfd, NULL, 0, all, nfds, pid, errbuf, errlen);
    else
        r = spawn_image(&bt, bootfd, all, nfds, errbuf, errlen, pid);
    close(bootfd);
    return r;
}

/* spawn, for a new image. */
static int
launch_image(const struct mproc__boot *b, const int *fds, size_t nfds,
             char *errbuf, size_t errlen, pid_t *pid)
{
    return launch(b, fds, nfds, false, errbuf, errlen, pid);
}

int
mproc__launch(const char *method, const struct mproc__boot *b,
              const int *fds, size_t nfds, char *errbuf, size_t errlen,
              pid_t *pid)
{
    if (strcmp(method, "forkserver") == 0)
        return forkserver(b, fds, nfds, errbuf, errlen, pid);
    return launch_image(b, fds, nfds, errbuf, errlen, pid);
}

/* SPDX-License-Identifier: MIT */
/*
 * The module around Process objects: this process and its parent as
 * handles (current_process, parent_process, what a new child or a pool
 * worker becomes), the list of children, and watching them end: reaping,
 * join, is_alive, active_children and the exit handler.  Apart from
 * process.c, which makes handles and starts children: this is what the
 * module keeps and watches once they run, from any thread.
 *
 * The children of this process are kept on one list, under a mutex, from
 * start until they are reaped and their handle freed.  At normal exit an
 * atexit handler terminates the daemon children and joins all of them.
 * Reaping a child (waitpid, then reading its result) happens under the
 * child's own mutex: join in one thread and mproc_active_children() in
 * another would otherwise both reap it, the loser finding ECHILD.
 *
 * Fork safety: both the list and the handles of this process and its
 * parent are the parent's in a forked child; own_list() forgets the list,
 * become() rewrites the handles (process.c resets the module's lock).
 */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/frame_int.h"
#include "process/process_int.h"
#include "util/buf_int.h"

#define self mproc__process_self
#define lock mproc__process_lock
#define set_err mproc__process_set_err
#define closed mproc__process_closed

pthread_mutex_t mproc__process_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mproc_process *children;
static pid_t children_owner; /* the process the list belongs to */
static uint32_t counter;     /* children created, for names */
static bool atexit_done;

/* This process and its parent, as process handles. */
struct mproc_process mproc__process_self = {
    .kind = MPROC__PK_CURRENT, .state = MPROC__PS_STARTED,
    .name = (char *)"MainProcess", .pidfd = -1, .result_fd = -1,
    .sentinel_fd = -1};
static struct mproc_process parent = {
    .kind = MPROC__PK_PARENT, .state = MPROC__PS_STARTED, .pidfd = -1,
    .result_fd = -1, .sentinel_fd = -1};
static int self_result_fd = -1; /* our own result pipe, as a child */

/* The list belongs to the process that built it: in a forked child it is
 * the parent's, and forgotten (the lock is held). */
static void
own_list(pid_t me)
{
    if (children_owner != me) {
        children = NULL;
        children_owner = me;
    }
}

/* ---- the child side ---- */

/*
 * Every string is borrowed: a new image keeps its boot message, and a
 * forked child its copy of the parent's memory, for as long as it lives
 * (destroy() leaves what self borrows from a handle).  Nothing allocated,
 * and only what changes stored: every page a child writes or allocates is
 * copied or cleared, a few microseconds each on a loaded machine.  The
 * parent's children list is dropped by own_list() on first use
 * (children_owner is not us).
 */
void
mproc__process_become(const char *name, const uint32_t *identity,
                      size_t nidentity, bool daemon, pid_t parent_pid,
                      const char *parent_name, int result_fd, int sentinel_fd)
{
    /* Stored only when it changes: counter is alone on its page, which a
     * forked child would copy for it. */
    if (counter != 0)
        counter = 0;
    /* Our own ends: a child of ours holding our sentinel's write end
     * would keep it from reading end of file when we end.  Registered by
     * a forking parent already (no store then). */
    self_result_fd = result_fd;
    mproc__fork_fd_register(result_fd);
    if (sentinel_fd >= 0)
        mproc__fork_fd_register(sentinel_fd);
    parent.name = (char *)(parent_name != NULL ? parent_name : "MainProcess");
    parent.pid = parent_pid;
    parent.pidfd = -1;
    self.name = (char *)(name != NULL ? name : "Process");
    self.name_owned = false;
    self.identity = (uint32_t *)identity;
    self.nidentity = nidentity;
    self.daemon = daemon;
    self.pid = 0;
}

bool
mproc__process_is_daemon(void)
{
    return self.daemon;
}

/* ---- pool workers (the Pool API's hooks, see process_int.h) ---- */

size_t (*mproc__process_pool_workers)(mproc_process_t **out, size_t max);

void
mproc__process_set_identity(const char *name, pid_t parent_pid,
                            const char *parent_name)
{
    /* What the parent's handles held stays allocated: freeing is not
     * safe here.  own_list() forgets the parent's children. */
    if (self_result_fd >= 0)
        close(self_result_fd); /* our parent's result pipe, inherited */
    self_result_fd = -1;
    if (parent.pidfd >= 0)
        close(parent.pidfd);
    parent.pidfd = -1;
    parent.name = (char *)parent_name;
    parent.pid = parent_pid;
    self.name = (char *)name;
    self.name_owned = false;
    self.identity = NULL;
    self.nidentity = 0;
    self.daemon = true;
    self.pid = 0;
}

mproc_process_t *
mproc__process_worker_new(const char *name, pid_t pid)
{
    mproc_process_t *p = calloc(1, sizeof(*p));

    if (p == NULL || (p->name = strdup(name)) == NULL) {
        free(p);
        return NULL;
    }
    p->name_owned = true;
    p->kind = MPROC__PK_WORKER;
    p->state = MPROC__PS_STARTED;
    p->daemon = true;
    p->pid = pid;
    p->pidfd = p->result_fd = p->sentinel_fd = -1;
    return p;
}

void
mproc__process_worker_end(mproc_process_t *p)
{
    p->state = MPROC__PS_ENDED;
}

void
mproc__process_worker_free(mproc_process_t *p)
{
    if (p == NULL)
        return;
    free(p->name);
    free(p->errmsg);
    free(p);
}

uint32_t
mproc__process_next_id(void)
{
    /* Atomic, not under the module's lock: it is called in a
     * pthread_atfork prepare handler, which must not wait for a lock a
     * forking thread may hold. */
    return __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
}

/* ---- watching ---- */

static void
describe(int st, char *buf, size_t len)
{
    if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by SIG%s",
                 sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st))
                                            : "?");
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
}

/* A malloc'd formatted string; NULL when out of memory (failure() is
 * then NULL, as after any allocation failure here). */
static char * __attribute__((format(printf, 1, 2)))
dupf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

/* Read the result the child wrote (it has ended); the file goes back
 * to the pool (result.c). */
static void
read_result(mproc_process_t *p)
{
    size_t span;

    if (p->result_fd < 0)
        return;
    p->rlen = mproc__result_read(p->result_fd,
                                 p->result_max + MPROC__FAILMSG_MAX + 128,
                                 &p->rbuf, &span);
    mproc__result_file_put(p->result_fd, span, p->starter);
    p->result_fd = -1;
}

/* The child has ended: record how, and its result (the caller then
 * stores MPROC__PS_ENDED with ended()). */
static void
finish(mproc_process_t *p, int st)
{
    struct mproc__frame_hdr h;
    const char *payload;
    char why[64];

    p->reaped = true;
    p->exitcode = WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
    mproc__log(MPROC_LOG_INFO, "process %s (pid %d) ended with exitcode %d",
               p->name, (int)p->pid, p->exitcode);
    read_result(p);
    if (p->rbuf != NULL &&
        mproc__frame_next(p->rbuf, p->rlen, &h, &payload, NULL) > 0) {
        p->rtype = (int)h.type;
        p->rdata = payload;
        p->rdata_len = (size_t)h.len;
    }
    /*
     * A child that wrote its frame exits with 0 (success) or 1 (failure).
     * Anything else happened after the target returned: its fini crashed,
     * called exit(), or the process was killed meanwhile.  That is a
     * failure with a text, whatever the frame says, so that a non-zero
     * exit code never comes with a NULL failure() and a result that reads
     * as good (the three start methods alike: all of them end here).
     */
    if (p->rtype == MPROC__FRAME_OK) {
        if (st == 0)
            return;
        describe(st, why, sizeof(why));
        p->died_after = true;
        p->failure = dupf("%s after its target returned", why);
        return;
    }
    if (p->rtype == MPROC__FRAME_FAIL || p->rtype == MPROC__FRAME_INITFAIL) {
        bool odd = !(WIFEXITED(st) && WEXITSTATUS(st) == 1);

        /* The target's message, and what came after it. */
        if (odd)
            describe(st, why, sizeof(why));
        p->failure = dupf("%.*s%s%s%s", (int)p->rdata_len, p->rdata,
                          odd ? " (then " : "", odd ? why : "",
                          odd ? ")" : "");
    } else {
        describe(st, why, sizeof(why));
        p->failure = strdup(why);
    }
}

/*
 * Test hooks that widen a race window to make it happen every time: sleep
 * as many milliseconds as the variable says.
 *   MPROC_TEST_HOOK_REAP_DELAY_MS     between reaping a child and recording
 *                                     how it ended (check)
 *   MPROC_TEST_HOOK_CHILDREN_HOLD_MS  inside mproc_active_children(), with
 *                                     the module's lock held
 */
static void
test_hook(const char *var)
{
    struct timespec ts;
    const char *e = getenv(var);
    int ms = e != NULL ? atoi(e) : 0;

    if (ms > 0) {
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (long)(ms % 1000) * 1000000;
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
}

/* Last, once everything finish() records is there: check_as() reads the
 * state without the lock. */
static void
ended(mproc_process_t *p)
{
    __atomic_store_n(&p->state, MPROC__PS_ENDED, __ATOMIC_RELEASE);
}

/* check(), under p->mu. */
static bool
reap(mproc_process_t *p)
{
    int st;
    pid_t r;

    if (p->state == MPROC__PS_ENDED)
        return true;
    r = MPROC__NOINTR(waitpid(p->pid, &st, WNOHANG));
    if (r == 0 && p->pidfd < 0 && p->sentinel_fd >= 0) {
        /* The sentinel pipe reads end of file as the child closes its
         * descriptors, a moment before it can be reaped: once it does,
         * wait for that moment, so a ready sentinel means joinable. */
        struct pollfd pfd = {p->sentinel_fd, POLLIN, 0};
        if (poll(&pfd, 1, 0) == 1)
            r = MPROC__NOINTR(waitpid(p->pid, &st, 0));
    }
    if (r == p->pid) {
        test_hook("MPROC_TEST_HOOK_REAP_DELAY_MS");
        finish(p, st);
        ended(p);
        return true;
    }
    if (r < 0 && errno == ECHILD) {
        /* Someone else reaped it: SIGCHLD ignored (the kernel reaps
         * then) or a waitpid(-1) of the program.  Its status is lost.  A
         * target that returned sent its result: that stands (0, or 1 and
         * its message); without one nothing is known, and exitcode()
         * says so rather than give a code. */
        finish(p, 0);
        p->died_after = false; /* its status is unknown, not odd */
        free(p->failure);
        p->failure = NULL;
        if (p->rtype == MPROC__FRAME_FAIL ||
            p->rtype == MPROC__FRAME_INITFAIL) {
            p->exitcode = 1;
            p->failure = dupf("%.*s", (int)p->rdata_len, p->rdata);
        } else if (p->rtype != MPROC__FRAME_OK) {
            p->lost_status = true;
            p->exitcode = 0;
            p->failure = strdup("its exit status is unknown: it was reaped "
                                "elsewhere before its target returned "
                                "(SIGCHLD ignored, or a waitpid(-1) of the "
                                "program)");
        }
        ended(p);
        return true;
    }
    return false;
}

/* Look at a started child: read its result, reap it if it ended.  true
 * when it has ended.  Any thread: mproc_active_children() looks at every
 * child while their owners may join them. */
static bool
check_as(mproc_process_t *p, pid_t me)
{
    bool done;

    /* Ended (and all of it recorded: ended()): nothing to take the lock
     * for. */
    if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == MPROC__PS_ENDED)
        return true;
    /* In a forked child, a copy of a handle of the parent's: not ours to
     * reap, and its mutex may have been held by a thread of the parent. */
    if (p->starter != me)
        return false;
    pthread_mutex_lock(&p->mu);
    done = reap(p);
    pthread_mutex_unlock(&p->mu);
    return done;
}

/* check_as() by this process: every getpid() is a system call, a third
 * of a microsecond here, so callers that know it pass it. */
bool
mproc__process_check(mproc_process_t *p)
{
    if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == MPROC__PS_ENDED)
        return true;
    return check_as(p, getpid());
}

/*
 * The child's sentinel: its pidfd, made on first need (a join with a
 * timeout, mproc_process_sentinel()), not at start: most children are
 * joined without either, and making and closing a pidfd costs a tenth of
 * a fork on a loaded machine.  Made before the child is reaped, the pid
 * is still ours (a zombie at worst).  A child already reaped gets what
 * its pidfd would have been: readable for ever (a pipe whose write end
 * is closed).  -1 when there is none (pidfd_open failed: join polls).
 */
static int
sentinel_open(mproc_process_t *p)
{
    int fd, sp[2];

    /* A forked child's copy of a handle of its parent's: what it had. */
    if (p->starter != getpid())
        return p->pidfd >= 0 ? p->pidfd : p->sentinel_fd;
    pthread_mutex_lock(&p->mu);
    if (p->pidfd < 0 && p->sentinel_fd < 0) {
        mproc__fork_fd_hold();
        if (!p->reaped) {
            p->pidfd = mproc__pidfd_open(p->pid);
            /* Unregistered (no memory), a pidfd held by a stranger
             * harms no one. */
            mproc__fork_fd_register(p->pidfd);
        } else if (pipe2(sp, O_CLOEXEC) == 0) {
            close(sp[1]);
            mproc__fork_fd_register(sp[0]);
            p->sentinel_fd = sp[0];
        }
        mproc__fork_fd_release();
    }
    fd = p->pidfd >= 0 ? p->pidfd : p->sentinel_fd;
    pthread_mutex_unlock(&p->mu);
    return fd;
}

static int
parent_join(int timeout_ms)
{
    struct pollfd pfd;
    int r;

    if (parent.pidfd < 0) {
        mproc__fork_fd_hold();
        parent.pidfd = mproc__pidfd_open(parent.pid);
        mproc__fork_fd_register(parent.pidfd);
        mproc__fork_fd_release();
    }
    if (parent.pidfd < 0)
        return set_err(&parent, -errno, "process '%s': pidfd_open: %s",
                       parent.name, strerror(errno));
    pfd.fd = parent.pidfd;
    pfd.events = POLLIN;
    r = mproc__poll_deadline(&pfd, 1,
                   timeout_ms >= 0 ? mproc__now_ms() + timeout_ms : 0);
    if (r == MPROC_EINTR)
        return set_err(&parent, r, "process '%s': join interrupted by a "
                       "signal", parent.name);
    return r > 0 ? 0 : r == 0 ? MPROC_ETIMEDOUT : r;
}

int
mproc_process_join(mproc_process_t *p, int timeout_ms)
{
    long long deadline = timeout_ms >= 0 ? mproc__now_ms() + timeout_ms : 0;
    pid_t me;

    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == MPROC__PS_CLOSED)
        return closed(p);
    me = getpid();
    if (p->kind == MPROC__PK_CURRENT ||
        (p->kind == MPROC__PK_CHILD && p->pid == me))
        return set_err(p, MPROC_EINVAL, "process '%s': a process cannot "
                       "join itself", p->name);
    if (p->kind == MPROC__PK_PARENT)
        return parent_join(timeout_ms);
    if (p->kind == MPROC__PK_WORKER)
        return set_err(p, MPROC_EINVAL, "process '%s' is a pool's worker: "
                       "close and join the pool", p->name);
    if (p->starter != 0 && p->starter != me) {
        /* A copy, in a forked child, of a handle of its parent's. */
        if (p->nidentity == self.nidentity &&
            memcmp(p->identity, self.identity,
                   p->nidentity * sizeof(*p->identity)) == 0)
            return set_err(p, MPROC_EINVAL, "process '%s': a process cannot "
                           "join itself", p->name);
        return set_err(p, MPROC_EINVAL, "process '%s' is not a child of "
                       "this process", p->name);
    }
    if (p->state == MPROC__PS_NEW)
        return set_err(p, MPROC_ECHILD, "process '%s': cannot join a "
                       "process that was not started", p->name);
    for (bool first = true;; first = false) {
        struct pollfd pfd;
        long long until = deadline;
        int r;

        /* Without a deadline, a child not yet ended is waited for
         * first: checking it before (one more waitpid) would find it
         * running nearly every time. */
        if ((!first || timeout_ms >= 0 || p->state == MPROC__PS_ENDED) &&
            check_as(p, me))
            return 0;
        if (timeout_ms >= 0 && mproc__now_ms() >= deadline)
            return set_err(p, MPROC_ETIMEDOUT, "process '%s': still running "
                           "after %d ms", p->name, timeout_ms);
        if (timeout_ms < 0) {
            /* No deadline: sleep in waitid() until the child ends,
             * without reaping it (check() does, under p->mu), and with
             * no pidfd to make.  A handler with SA_RESTART restarts it,
             * one without stops the wait, as in mproc__poll_deadline(). */
            siginfo_t si;

            if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOWAIT) == 0 ||
                errno == ECHILD) /* someone else reaped it: check() */
                continue;
            if (errno != EINTR)
                return set_err(p, -errno, "process '%s': waitid: %s",
                               p->name, strerror(errno));
            if (mproc__signal_interrupts())
                return set_err(p, MPROC_EINTR, "process '%s': join "
                               "interrupted by a signal", p->name);
            continue;
        }
        /* One sleep until the end (a result never fills anything); with
         * no descriptor to sleep on (pidfd_open failed), short sleeps. */
        pfd.fd = sentinel_open(p);
        pfd.events = POLLIN;
        if (pfd.fd < 0 && (until == 0 || until > mproc__now_ms() + 10))
            until = mproc__now_ms() + 10;
        r = mproc__poll_deadline(&pfd, 1, until);
        if (r == MPROC_EINTR)
            return set_err(p, r, "process '%s': join interrupted by a signal",
                           p->name);
        if (r < 0)
            return set_err(p, r, "process '%s': poll: %s", p->name,
                           mproc_strerror(r));
    }
}

bool
mproc_process_is_alive(mproc_process_t *p)
{
    if (p == NULL)
        return false;
    if (p->state == MPROC__PS_CLOSED)
        return false;
    if (p->kind == MPROC__PK_CURRENT)
        return true;
    if (p->kind == MPROC__PK_PARENT)
        return parent_join(0) == MPROC_ETIMEDOUT;
    if (p->kind == MPROC__PK_WORKER)
        return p->state == MPROC__PS_STARTED;
    if (p->state == MPROC__PS_NEW)
        return false;
    return !mproc__process_check(p);
}

int
mproc_process_exitcode(mproc_process_t *p, int *code)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == MPROC__PS_CLOSED)
        return closed(p);
    if (p->kind != MPROC__PK_CHILD || p->state == MPROC__PS_NEW ||
        !mproc__process_check(p))
        return set_err(p, MPROC_EAGAIN, "process '%s' has not ended",
                       p->name);
    if (p->lost_status)
        return set_err(p, MPROC_ECHILD, "process '%s': %s", p->name,
                       p->failure);
    *code = p->exitcode;
    return 0;
}

pid_t
mproc_process_pid(const mproc_process_t *p)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == MPROC__PS_CLOSED)
        return MPROC_ECLOSED;
    if (p->kind == MPROC__PK_CURRENT)
        return getpid();
    return p->pid;
}

int
mproc_process_sentinel(const mproc_process_t *p)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == MPROC__PS_CLOSED)
        return MPROC_ECLOSED;
    if (p->kind == MPROC__PK_PARENT) {
        if (parent.pidfd < 0) {
            mproc__fork_fd_hold();
            parent.pidfd = mproc__pidfd_open(parent.pid);
            mproc__fork_fd_register(parent.pidfd);
            mproc__fork_fd_release();
        }
        return parent.pidfd >= 0 ? parent.pidfd : -errno;
    }
    if (p->kind != MPROC__PK_CHILD || p->state == MPROC__PS_NEW)
        return MPROC_ECHILD;
    return sentinel_open((mproc_process_t *)p);
}

/* ---- the children list ---- */

/* Take p off the children list (the lock is held). */
void
mproc__process_unlink(mproc_process_t *p)
{
    mproc_process_t **pp;

    for (pp = &children; *pp != NULL; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
}

static void exit_handler(void);

/* Put a child just started (by `me`) on the list; the first one sets up
 * the exit handler. */
void
mproc__process_list_add(mproc_process_t *p, pid_t me)
{
    pthread_mutex_lock(&lock);
    own_list(me);
    p->next = children;
    children = p;
    if (!atexit_done) {
        atexit(exit_handler);
        atexit_done = true;
    }
    pthread_mutex_unlock(&lock);
}

/* ---- the module ---- */

mproc_process_t *
mproc_current_process(void)
{
    return &self;
}

mproc_process_t *
mproc_parent_process(void)
{
    /* Every child knows its parent's pid (become, set_identity). */
    return parent.pid != 0 ? &parent : NULL;
}

size_t
mproc_active_children(mproc_process_t **out, size_t max)
{
    mproc_process_t **pp, *p;
    size_t n = 0;

    pthread_mutex_lock(&lock);
    own_list(getpid());
    test_hook("MPROC_TEST_HOOK_CHILDREN_HOLD_MS");
    for (pp = &children; (p = *pp) != NULL;) {
        if (mproc__process_check(p)) {
            if (p->freed) {
                *pp = p->next;
                mproc__process_destroy(p);
                continue;
            }
        } else if (!p->freed) {
            if (n < max)
                out[n] = p;
            n++;
        }
        pp = &p->next;
    }
    pthread_mutex_unlock(&lock);
    if (mproc__process_pool_workers != NULL)
        n += mproc__process_pool_workers(out + (n < max ? n : max),
                                         n < max ? max - n : 0);
    return n;
}

/*
 * At normal exit (Python's _exit_function): terminate the daemon
 * children, then join every child, so none is left running unjoined or a
 * zombie.
 */
static void
exit_handler(void)
{
    mproc_process_t *p, **pp;

    pthread_mutex_lock(&lock);
    if (children_owner != getpid()) {
        pthread_mutex_unlock(&lock);
        return;
    }
    for (p = children; p != NULL; p = p->next)
        if (p->daemon && !mproc__process_check(p))
            kill(p->pid, SIGTERM);
    for (p = children; p != NULL; p = p->next)
        while (mproc_process_join(p, -1) == MPROC_EINTR)
            ;
    for (pp = &children; (p = *pp) != NULL;) {
        if (p->freed) {
            *pp = p->next;
            mproc__process_destroy(p);
        } else {
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&lock);
}

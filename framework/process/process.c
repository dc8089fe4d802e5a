/* SPDX-License-Identifier: MIT */
/*
 * Process objects and the module around them (Python's multiprocessing
 * Process, current_process, active_children; start methods, contexts and
 * wait() are in context.c).
 *
 * Every child, whatever its start method, is a child of this process: the
 * forkserver makes its children with CLONE_PARENT (launch.c).  So one
 * mechanism serves all three methods: waitpid() reaps, a pidfd is the
 * sentinel, and a memfd brings the target's result (one frame) back.
 *
 * Why a memfd and not a pipe: a child writes a result of any size into it
 * without blocking, so joining before reading can never deadlock (the trap
 * of joining a Python process before draining its Queue), and the parent
 * sleeps on the pidfd alone and wakes up once, when the child has ended,
 * rather than once for the result and once more for the exit: on these
 * machines every wake-up costs tens of microseconds.  Result files are
 * reused (result.c).
 *
 * What a start costs (issue 13.4): a fork start is a raw fork plus what
 * the child writes (each page it writes is copied, a few microseconds on
 * a loaded machine) plus the system calls around it.  So the child of
 * start_fork() allocates nothing and stores only what changes
 * (become_forked), the pidfd is made only when a sleep with a deadline or
 * the sentinel needs it (sentinel_open), and a join without a timeout
 * sleeps in waitid() instead.
 *
 * The children of this process are kept on one list, under a mutex, from
 * start until they are reaped and their handle freed.  At normal exit an
 * atexit handler terminates the daemon children and joins all of them.
 * Reaping a child (waitpid, then reading its result) happens under the
 * child's own mutex: join in one thread and mproc_active_children() in
 * another would otherwise both reap it, the loser finding ECHILD.
 *
 * Fork safety: the descriptors of children (pidfd, result file, sentinel)
 * are in the fork registry (fork.c), so no forked child keeps another
 * child's; the module's locks start unlocked in a forked child.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/frame_int.h"
#include "plugin/plugin_int.h"
#include "process/process_int.h"
#include "sync/sync_int.h"
#include "util/buf_int.h"

enum { S_NEW, S_STARTED, S_ENDED, S_CLOSED };
enum { K_CHILD, K_CURRENT, K_PARENT, K_WORKER };

struct mproc_process {
    pthread_mutex_t mu; /* reaping: check() (a K_CHILD's) */
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

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct mproc_process *children;
static pid_t children_owner; /* the process the list belongs to */
static uint32_t counter;     /* children created, for names */
static bool atexit_done;

static const struct mproc_process blank; /* all zero: a new handle */

/* This process and its parent, as process handles. */
static struct mproc_process self = {
    .kind = K_CURRENT, .state = S_STARTED, .name = (char *)"MainProcess",
    .pidfd = -1, .result_fd = -1, .sentinel_fd = -1};
static struct mproc_process parent = {
    .kind = K_PARENT, .state = S_STARTED, .pidfd = -1, .result_fd = -1,
    .sentinel_fd = -1};
static int self_result_fd = -1; /* our own result pipe, as a child */

static int
set_err(mproc_process_t *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
set_err(mproc_process_t *p, int code, const char *fmt, ...)
{
    va_list ap;

    if (p->errmsg == NULL)
        p->errmsg = malloc(MPROC_ERRMSG_MAX);
    p->errmsg_lost = p->errmsg == NULL;
    if (p->errmsg != NULL) {
        va_start(ap, fmt);
        vsnprintf(p->errmsg, MPROC_ERRMSG_MAX, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int
closed(mproc_process_t *p)
{
    return set_err(p, MPROC_ECLOSED, "process '%s' is closed", p->name);
}

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

void
mproc_process_opts_init(struct mproc_process_opts *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof(*o));
    o->result_max = MPROC__RESULT_MAX_DEFAULT;
}

/* "Process-N1:...:Nk" into name (room for 11 bytes a number).  By hand:
 * snprintf's deep stack frame wrote a page that the last fork had made
 * copy-on-write, a fault per start. */
static void
identity_name(char *name, const uint32_t *id, size_t n)
{
    char *o = name + sizeof("Process-") - 1;
    size_t i;

    memcpy(name, "Process-", sizeof("Process-") - 1);
    for (i = 0; i < n; i++) {
        char digits[10];
        uint32_t v = id[i];
        int k = 0;

        if (i > 0)
            *o++ = ':';
        do
            digits[k++] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        while (k > 0)
            *o++ = digits[--k];
    }
    *o = '\0';
}

int
mproc_process_new(mproc_process_t **out, const struct mproc_process_opts *o,
                  mproc_err_t *err)
{
    mproc_process_t *p = NULL;
    size_t len;

    if (out == NULL)
        return mproc__err(err, MPROC_EINVAL, "process: out is NULL");
    *out = NULL;
    if ((o->fn == NULL) == (o->target == NULL))
        return mproc__err(err, MPROC_EINVAL,
                          o->fn ? "process: give a function or a plugin "
                                  "target, not both"
                                : "process: no target (fn or target)");
    if (o->target != NULL && o->target[0] == '\0')
        return mproc__err(err, MPROC_EINVAL, "process: empty target");
    /* Not calloc: glibc's calloc bypasses the per-thread cache, so each
     * start would write the arena, one more page to fault on after the
     * fork (see struct mproc_process's errmsg).  A copy, not memset(),
     * which the compiler would make a calloc() again. */
    p = malloc(sizeof(*p));
    if (p == NULL)
        goto nomem;
    *p = blank;
    pthread_mutex_init(&p->mu, NULL);
    p->kind = K_CHILD;
    p->state = S_NEW;
    p->pidfd = p->result_fd = p->sentinel_fd = -1;
    p->fn = o->fn;
    p->daemon = o->daemon;
    p->context = o->context;
    p->result_max = o->result_max ? o->result_max : MPROC__RESULT_MAX_DEFAULT;
    if (o->target != NULL && (p->target = strdup(o->target)) == NULL)
        goto nomem;
    p->input = malloc(o->input_len + 1);
    if (p->input == NULL)
        goto nomem;
    if (o->input_len > 0)
        memcpy(p->input, o->input, o->input_len);
    p->input[o->input_len] = '\0'; /* a NUL after the bytes, for C strings */
    p->input_len = o->input_len;
    if (mproc__kv_dup(o->args, o->nargs, &p->args) < 0)
        goto nomem;
    p->nargs = o->nargs;

    /* The identity: ours plus our count of children (Python's
     * Process-N1:...:Nk). */
    pthread_mutex_lock(&lock);
    p->nidentity = self.nidentity + 1;
    p->identity = malloc(p->nidentity * sizeof(*p->identity));
    if (p->identity != NULL) {
        if (self.nidentity > 0)
            memcpy(p->identity, self.identity,
                   self.nidentity * sizeof(*p->identity));
        p->identity[self.nidentity] =
            __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&lock);
    if (p->identity == NULL)
        goto nomem;
    if (o->name != NULL) {
        p->name = strdup(o->name);
    } else {
        len = sizeof("Process-") + p->nidentity * 11;
        p->name = malloc(len);
        if (p->name != NULL)
            identity_name(p->name, p->identity, p->nidentity);
    }
    if (p->name == NULL)
        goto nomem;
    p->name_owned = true;
    *out = p;
    return 0;

nomem:
    if (p != NULL) {
        free(p->target);
        free(p->input);
        mproc__kv_free(p->args, p->nargs);
        free(p->identity);
        pthread_mutex_destroy(&p->mu);
        free(p);
    }
    return mproc__err(err, MPROC_ENOMEM, "out of memory");
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

/* In a child forked by start_fork(): p's strings and our own name are in
 * its copy of our memory. */
static void
become_forked(const mproc_process_t *p, pid_t parent_pid, int result_fd,
              int sentinel_fd)
{
    mproc__process_become(p->name, p->identity, p->nidentity, p->daemon,
                          parent_pid, self.name, result_fd, sentinel_fd);
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
    p->kind = K_WORKER;
    p->state = S_STARTED;
    p->daemon = true;
    p->pid = pid;
    p->pidfd = p->result_fd = p->sentinel_fd = -1;
    return p;
}

void
mproc__process_worker_end(mproc_process_t *p)
{
    p->state = S_ENDED;
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

/* A failure frame with a formatted message: out of line, so that the
 * child's usual path keeps a small stack (each new stack page is a page
 * to clear). */
static void __attribute__((noinline, format(printf, 4, 5)))
fail_frame(int result_fd, uint32_t type, uint32_t status, const char *fmt,
           ...)
{
    char msg[MPROC__FAILMSG_MAX + 128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mproc__result_write(result_fd, type, status, msg, strlen(msg));
}

void
mproc__process_child(const struct mproc_plugin *desc, mproc_task_fn fn,
                     const struct mproc_kv *args, size_t nargs,
                     const void *input, size_t len, size_t result_max,
                     int result_fd)
{
    struct mproc__ctx_priv priv;
    struct mproc_ctx ctx;
    struct mproc_buf out;
    size_t over;
    int r;

    mproc__ctx_init(&ctx, &priv, args, nargs, 0);
    mproc__buf_init(&out, result_max);
    if (desc != NULL && desc->init != NULL && desc->init(&ctx) != MPROC_TASK_OK) {
        fail_frame(result_fd, MPROC__FRAME_INITFAIL, 0, "init: %s",
                   mproc__ctx_msg(&ctx, "failed without a message"));
        fflush(NULL);
        _exit(1);
    }
    mproc__ctx_clear(&ctx);
    mproc__buf_overflow(true);
    r = fn(&ctx, input, len, 0, &out);
    over = mproc__buf_overflow(true);
    if (over > 0) {
        /* Never pass a truncated output off as the result.  The
         * target's own message follows, as a pool worker's does: a target
         * that saw its buffer refuse to grow usually says so. */
        const char *own = r == MPROC_TASK_OK ? "" : mproc__ctx_msg(&ctx, "");

        fail_frame(result_fd, MPROC__FRAME_FAIL, (uint32_t)-MPROC_EMSGSIZE,
                   "output of at least %zu bytes exceeds result_max (%zu)%s%s",
                   over, result_max, own[0] ? ": " : "", own);
        r = MPROC_TASK_FAIL;
    } else if (r == MPROC_TASK_OK) {
        mproc__result_write(result_fd, MPROC__FRAME_OK, 0, out.data,
                            out.len);
    } else {
        const char *m = mproc__ctx_msg(&ctx, "failed without a message");
        mproc__result_write(result_fd, MPROC__FRAME_FAIL, 0, m, strlen(m));
    }
    if (desc != NULL && desc->fini != NULL)
        desc->fini(&ctx);
    mproc__sync_exit_child();
    /* _exit, not exit: a forked child's atexit handlers and stdio buffers
     * were the parent's; the target's own output is flushed here.  As a
     * direct system call: glibc's _exit() is one more page of libc to map
     * (process_int.h: mproc__raw_syscall). */
    fflush(NULL);
    mproc__raw_syscall(SYS_exit_group, r == MPROC_TASK_OK ? 0 : 1, 0, 0, 0);
    _exit(r == MPROC_TASK_OK ? 0 : 1); /* not reached */
}

/* ---- starting ---- */

/*
 * A forked child is a copy of its parent, handlers included (as with
 * Python), except for the signals through which a process is stopped or
 * told things (mproc__fork_child_signals: SIGHUP, SIGINT, SIGQUIT,
 * SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGCHLD, SIGXCPU, SIGXFSZ,
 * SIGTSTP): a handler of the parent's there (a host's self-pipe, say)
 * would make terminate() or Ctrl-C act on the parent's state instead of
 * ending the child.  Resetting only these, not all 64, saves a tenth of
 * the cost of a start.
 */
static void exit_handler(void);

static int
start_fork(mproc_process_t *p, const int fds[2])
{
    sigset_t all, old;
    pid_t pid, me = p->starter;
    int e;

    /* A daemon dies with this process, whichever thread starts it. */
    if (p->daemon && (e = mproc__lifeline_fd()) < 0)
        return set_err(p, e, "process '%s': lifeline: %s", p->name,
                       mproc_strerror(e));
    fflush(NULL);
    /* What the child reads on its way out, read here: a page this
     * process never touched is not mapped, and the child would take a
     * fault to map it (the forkserver does the same, server.c). */
    (void)mproc__buf_overflow(false);
    (void)*(volatile int *)&mproc__sync_nheld;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0) {
        /* Drop what other children and pools hold here, and our
         * sentinel's read end; keep our result file and sentinel. */
        if (mproc__fork_child(p->daemon, me, fds, fds[1] >= 0 ? 2 : 1) < 0)
            _exit(1);
        mproc__fork_child_signals();
        become_forked(p, me, fds[0], fds[1]);
        mproc__pass_set(p->pass, p->npass);
        mproc__process_child(p->plugin ? p->plugin->desc : NULL,
                             p->task ? p->task->fn : p->fn, p->args, p->nargs,
                             p->input, p->input_len, p->result_max, fds[0]);
    }
    e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return set_err(p, -e, "process '%s': fork: %s", p->name, strerror(e));
    p->pid = pid;
    return 0;
}

static int
start_image(mproc_process_t *p, const char *method, const int fds[2])
{
    struct mproc__pass_rec *recs = NULL;
    struct mproc__boot b;
    char msg[MPROC_ERRMSG_MAX] = "";
    int all[MPROC__FD_MAX];
    size_t n;
    int r;

    memset(&b, 0, sizeof(b));
    n = 0;
    all[n++] = fds[0];
    if (fds[1] >= 0)
        all[n++] = fds[1];
    b.has_sentinel = fds[1] >= 0;
    if (p->npass > 0) {
        recs = calloc(p->npass, sizeof(*recs));
        if (recs == NULL)
            return set_err(p, MPROC_ENOMEM, "process '%s': out of memory",
                           p->name);
        /* One place stays for the lifeline (launch.c). */
        r = mproc__pass_export(p->pass, p->npass, all, &n,
                               MPROC__FD_MAX - 1, recs, msg, sizeof(msg));
        if (r < 0) {
            free(recs);
            goto fail;
        }
        b.passes = recs;
        b.npasses = p->npass;
    }
    b.kind = MPROC__BOOT_PROCESS;
    b.parent_pid = getpid();
    b.plugin = p->plugin->path;
    b.task = p->task->name;
    b.args = p->args;
    b.nargs = p->nargs;
    b.name = p->name;
    b.parent_name = self.name;
    b.identity = p->identity;
    b.nidentity = p->nidentity;
    b.daemon = p->daemon;
    b.input = p->input;
    b.input_len = p->input_len;
    b.result_max = p->result_max;
    r = mproc__launch(method, &b, all, n, msg, sizeof(msg), &p->pid);
    if (recs != NULL) {
        mproc__pass_recs_free(recs, p->npass);
        free(recs);
    }
fail:
    if (r < 0)
        set_err(p, r, "process '%s': %s", p->name, msg);
    return r;
}

/*
 * The plugins of plugin targets stay loaded once loaded (a few of them):
 * opening and closing one per process would search the plugin path and
 * map and unmap it every time.
 */
#define PLUGIN_CACHE 16
static struct {
    char *spec;
    struct mproc__plugin *plugin;
} cache[PLUGIN_CACHE];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int
plugin_get(const char *spec, struct mproc__plugin **out, bool *cached,
           mproc_err_t *err)
{
    char *s;
    int i, r;

    *cached = false;
    pthread_mutex_lock(&cache_lock);
    for (i = 0; i < PLUGIN_CACHE && cache[i].spec != NULL; i++)
        if (strcmp(cache[i].spec, spec) == 0) {
            *out = cache[i].plugin;
            *cached = true;
            pthread_mutex_unlock(&cache_lock);
            return 0;
        }
    r = mproc__plugin_open(out, spec, err);
    if (r == 0 && i < PLUGIN_CACHE && (s = strdup(spec)) != NULL) {
        /* The plugin before the name that finds it: a child forked
         * meanwhile keeps the cache, and must not find a half entry. */
        cache[i].plugin = *out;
        __atomic_store_n(&cache[i].spec, s, __ATOMIC_RELEASE);
        *cached = true;
    }
    pthread_mutex_unlock(&cache_lock);
    return r;
}

/*
 * Fork safety (see process_int.h): a forked child has only the thread
 * that forked, so a lock another thread held would stay held there for
 * ever (a child whose become() took the module's lock hung before its
 * target ran).  Both locks start unlocked in the child: the children list
 * is the parent's and discarded there (own_list), every other store under
 * them is a single word or ordered as above.  No prepare handler takes
 * them: the exit handler holds the module's lock while it joins, which
 * would stall every fork of the program's other threads meanwhile.
 */
static void
after_fork_child(void)
{
    static const pthread_mutex_t m0 = PTHREAD_MUTEX_INITIALIZER;

    mproc__reinit_mutex(&lock, &m0);
    mproc__reinit_mutex(&cache_lock, &m0);
}

__attribute__((constructor)) static void
process_fork_init(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

/* Load the plugin of "PLUGIN:TASK" (the last ':' separates the task). */
static int
load_target(mproc_process_t *p)
{
    char *spec = strdup(p->target), *colon, how[128];
    mproc_err_t err;
    int r;

    if (spec == NULL)
        return set_err(p, MPROC_ENOMEM, "out of memory");
    colon = strrchr(spec, ':');
    if (colon != NULL)
        *colon = '\0';
    r = plugin_get(spec, &p->plugin, &p->plugin_cached, &err);
    if (r == 0) {
        /* Not the job file's "[job] task": a Process names its task in
         * the target. */
        snprintf(how, sizeof(how), "name one in the target as PLUGIN:TASK "
                 "(add \":%s\" to it)", p->plugin->desc->tasks[0].name);
        r = mproc__plugin_task_as(p->plugin,
                                  colon && colon[1] ? colon + 1 : NULL, how,
                                  &p->task, &err);
        if (r < 0) {
            if (!p->plugin_cached)
                mproc__plugin_close(p->plugin);
            p->plugin = NULL;
        }
    }
    free(spec);
    if (r < 0)
        return set_err(p, r, "process '%s': %s", p->name, err.msg);
    return 0;
}

/* Does this kernel give pidfds (5.3 and later, when no seccomp filter or
 * valgrind refuses them)?  Asked once. */
static bool
have_pidfds(void)
{
    static int known = -1;

    if (known < 0) {
        int fd = mproc__pidfd_open(getpid());
        known = fd >= 0;
        if (fd >= 0)
            close(fd);
    }
    return known;
}

int
mproc_process_start(mproc_process_t *p)
{
    const char *m;
    int fds[2] = {-1, -1}, sp[2] = {-1, -1}, r;
    pid_t me;

    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == S_CLOSED)
        return closed(p);
    if (p->kind != K_CHILD)
        return set_err(p, MPROC_EINVAL, "process '%s' is not a child of "
                       "this process", p->name);
    if (p->state != S_NEW)
        return set_err(p, MPROC_EBUSY, "process '%s': cannot start a "
                       "process twice", p->name);
    if (self.daemon)
        return set_err(p, MPROC_EPERM, "process '%s': a daemon process may "
                       "not have children", p->name);
    m = p->context != NULL ? p->context->method : mproc_get_start_method();
    if (p->fn != NULL && strcmp(m, "fork") != 0)
        return set_err(p, MPROC_ENOTSUP, "process '%s': start method '%s' "
                       "needs a plugin task target (\"plugin:task\"): a "
                       "function pointer means nothing in a new image",
                       p->name, m);
    if (p->target != NULL && p->plugin == NULL) {
        r = load_target(p);
        if (r < 0)
            return r;
    }
    /* Every descriptor of the child's is registered as it is made, so no
     * other child forked meanwhile (from another thread) keeps one: a
     * stranger holding the sentinel's write end would make it read end of
     * file only when the stranger ends. */
    me = getpid();
    r = fds[0] = mproc__result_file(me);
    if (r >= 0)
        r = 0;
    /* Where pidfds are refused, the sentinel is a pipe whose write end
     * only the child holds: it reads as end of file when the child ends. */
    if (r == 0 && !have_pidfds()) {
        mproc__fork_fd_hold();
        r = pipe2(sp, O_CLOEXEC) < 0 ? -errno : 0;
        if (r == 0 && (r = mproc__fork_fd_register(sp[0])) == 0)
            r = mproc__fork_fd_register(sp[1]);
        p->sentinel_fd = sp[0];
        fds[1] = sp[1];
        mproc__fork_fd_release();
    }
    if (r < 0) {
        set_err(p, r, "process '%s': cannot make its result file or "
                "sentinel: %s", p->name, mproc_strerror(r));
        goto fail;
    }
    p->starter = me; /* before fork: the child's copy shows it */
    r = strcmp(m, "fork") == 0 ? start_fork(p, fds) : start_image(p, m, fds);
    if (r < 0)
        goto fail;
    mproc__fork_fd_close(sp[1]);
    p->result_fd = fds[0];
    /* No pidfd yet: sentinel_open() makes it when one is needed. */
    p->state = S_STARTED;
    mproc__log(MPROC_LOG_INFO, "process %s started (pid %d, %s)", p->name,
               (int)p->pid, m);

    pthread_mutex_lock(&lock);
    own_list(me);
    p->next = children;
    children = p;
    if (!atexit_done) {
        atexit(exit_handler);
        atexit_done = true;
    }
    pthread_mutex_unlock(&lock);
    return 0;

fail:
    mproc__fork_fd_close(fds[0]);
    mproc__fork_fd_close(sp[0]);
    mproc__fork_fd_close(sp[1]);
    p->sentinel_fd = -1;
    return r;
}

int
mproc_process_pass(mproc_process_t *p, int kind, void *obj)
{
    struct mproc__pass *a;

    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == S_CLOSED)
        return closed(p);
    if (p->kind != K_CHILD || p->state != S_NEW)
        return set_err(p, MPROC_EBUSY, "process '%s': objects are handed "
                       "to a process before it starts", p->name);
    if (!mproc__pass_kind_ok(kind) || obj == NULL)
        return set_err(p, MPROC_EINVAL, "process '%s': pass: %s", p->name,
                       obj == NULL ? "no object" : "unknown kind");
    a = realloc(p->pass, (p->npass + 1) * sizeof(*a));
    if (a == NULL)
        return set_err(p, MPROC_ENOMEM, "process '%s': out of memory",
                       p->name);
    p->pass = a;
    a[p->npass].kind = kind;
    a[p->npass].obj = obj;
    return (int)p->npass++;
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
 * stores S_ENDED with ended()). */
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
    __atomic_store_n(&p->state, S_ENDED, __ATOMIC_RELEASE);
}

/* check(), under p->mu. */
static bool
reap(mproc_process_t *p)
{
    int st;
    pid_t r;

    if (p->state == S_ENDED)
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
    if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == S_ENDED)
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
static bool
check(mproc_process_t *p)
{
    if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == S_ENDED)
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
    if (p->state == S_CLOSED)
        return closed(p);
    me = getpid();
    if (p->kind == K_CURRENT || (p->kind == K_CHILD && p->pid == me))
        return set_err(p, MPROC_EINVAL, "process '%s': a process cannot "
                       "join itself", p->name);
    if (p->kind == K_PARENT)
        return parent_join(timeout_ms);
    if (p->kind == K_WORKER)
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
    if (p->state == S_NEW)
        return set_err(p, MPROC_ECHILD, "process '%s': cannot join a "
                       "process that was not started", p->name);
    for (bool first = true;; first = false) {
        struct pollfd pfd;
        long long until = deadline;
        int r;

        /* Without a deadline, a child not yet ended is waited for
         * first: checking it before (one more waitpid) would find it
         * running nearly every time. */
        if ((!first || timeout_ms >= 0 || p->state == S_ENDED) &&
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
    if (p->state == S_CLOSED)
        return false;
    if (p->kind == K_CURRENT)
        return true;
    if (p->kind == K_PARENT)
        return parent_join(0) == MPROC_ETIMEDOUT;
    if (p->kind == K_WORKER)
        return p->state == S_STARTED;
    if (p->state == S_NEW)
        return false;
    return !check(p);
}

int
mproc_process_exitcode(mproc_process_t *p, int *code)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == S_CLOSED)
        return closed(p);
    if (p->kind != K_CHILD || p->state == S_NEW || !check(p))
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
    if (p->state == S_CLOSED)
        return MPROC_ECLOSED;
    if (p->kind == K_CURRENT)
        return getpid();
    return p->pid;
}

int
mproc_process_sentinel(const mproc_process_t *p)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == S_CLOSED)
        return MPROC_ECLOSED;
    if (p->kind == K_PARENT) {
        if (parent.pidfd < 0) {
            mproc__fork_fd_hold();
            parent.pidfd = mproc__pidfd_open(parent.pid);
            mproc__fork_fd_register(parent.pidfd);
            mproc__fork_fd_release();
        }
        return parent.pidfd >= 0 ? parent.pidfd : -errno;
    }
    if (p->kind != K_CHILD || p->state == S_NEW)
        return MPROC_ECHILD;
    return sentinel_open((mproc_process_t *)p);
}

static int
signal_child(mproc_process_t *p, int sig)
{
    if (p->state == S_CLOSED)
        return closed(p);
    if (p->kind == K_WORKER)
        return set_err(p, MPROC_EINVAL, "process '%s' is a pool's worker: "
                       "terminate the pool", p->name);
    if (p->kind != K_CHILD)
        return set_err(p, MPROC_EINVAL, "process '%s' is not a child of "
                       "this process", p->name);
    if (p->state == S_NEW)
        return set_err(p, MPROC_ECHILD, "process '%s' has not been started",
                       p->name);
    /* Not reaped means the pid is still ours (a zombie at worst). */
    if (!p->reaped && kill(p->pid, sig) < 0 && errno != ESRCH)
        return set_err(p, -errno, "process '%s': kill: %s", p->name,
                       strerror(errno));
    return 0;
}

int
mproc_process_terminate(mproc_process_t *p)
{
    if (p == NULL)
        return MPROC_EINVAL;
    return signal_child(p, SIGTERM);
}

int
mproc_process_kill(mproc_process_t *p)
{
    if (p == NULL)
        return MPROC_EINVAL;
    return signal_child(p, SIGKILL);
}

const char *
mproc_process_name(const mproc_process_t *p)
{
    if (p == NULL)
        return NULL;
    return p->name;
}

int
mproc_process_set_name(mproc_process_t *p, const char *name)
{
    char *n;

    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == S_CLOSED)
        return closed(p);
    if (name == NULL || p->kind == K_PARENT)
        return set_err(p, MPROC_EINVAL, "process '%s': bad name", p->name);
    n = strdup(name);
    if (n == NULL)
        return set_err(p, MPROC_ENOMEM, "out of memory");
    if (p->name_owned)
        free(p->name);
    p->name = n;
    p->name_owned = true;
    return 0;
}

bool
mproc_process_daemon(const mproc_process_t *p)
{
    if (p == NULL)
        return false;
    return p->daemon;
}

int
mproc_process_set_daemon(mproc_process_t *p, bool daemon)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == S_CLOSED)
        return closed(p);
    if (p->kind != K_CHILD || p->state != S_NEW)
        return set_err(p, MPROC_EBUSY, "process '%s': the daemon flag is set "
                       "before start", p->name);
    p->daemon = daemon;
    return 0;
}

int
mproc_process_result(mproc_process_t *p, const void **data, size_t *len)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == S_CLOSED)
        return closed(p);
    if (p->kind != K_CHILD || p->state == S_NEW)
        return set_err(p, MPROC_ECHILD, "process '%s' was not started",
                       p->name);
    if (!check(p))
        return set_err(p, MPROC_EAGAIN, "process '%s' has not ended",
                       p->name);
    if (p->rtype == MPROC__FRAME_OK && !p->died_after) {
        *data = p->rdata;
        *len = p->rdata_len;
        return 0;
    }
    if (p->rtype == MPROC__FRAME_OK)
        return set_err(p, MPROC_EWORKER, "process '%s' %s; its result is "
                       "not trusted", p->name, p->failure ? p->failure
                       : "ended badly after its target returned");
    if (p->rtype != 0)
        return set_err(p, MPROC_ETASK, "process '%s': %s", p->name,
                       p->failure ? p->failure : "failed");
    return set_err(p, MPROC_EWORKER, "process '%s' %s without a result",
                   p->name, p->failure ? p->failure : "ended");
}

const char *
mproc_process_failure(const mproc_process_t *p)
{
    if (p == NULL)
        return NULL;
    if (p->state != S_ENDED)
        return NULL;
    return p->failure;
}

const char *
mproc_process_errmsg(const mproc_process_t *p)
{
    if (p == NULL)
        return "process: none";
    if (p->errmsg == NULL)
        return p->errmsg_lost ? "out of memory (the error's message was "
                                "lost)"
                              : "";
    return p->errmsg;
}

/* Release what a child holds; the handle stays (closed).  A copy of a
 * handle of the parent's, in a forked child, holds nothing: its
 * descriptors were closed at fork (fork.c), and their numbers may be
 * another's by now. */
static void
release(mproc_process_t *p)
{
    /* Most handles hold no descriptor by now: no getpid() for them. */
    if ((p->pidfd >= 0 || p->result_fd >= 0 || p->sentinel_fd >= 0) &&
        (p->starter == getpid() || p->starter == 0)) {
        mproc__fork_fd_close(p->pidfd);
        mproc__fork_fd_close(p->result_fd);
        mproc__fork_fd_close(p->sentinel_fd);
    }
    p->pidfd = p->result_fd = p->sentinel_fd = -1;
    free(p->rbuf);
    p->rbuf = NULL;
    p->rdata = NULL;
    p->rlen = p->rdata_len = 0;
    free(p->failure);
    p->failure = NULL;
    free(p->input);
    p->input = NULL;
    if (p->plugin != NULL && !p->plugin_cached)
        mproc__plugin_close(p->plugin);
    p->plugin = NULL;
    p->task = NULL;
}

/* Take p off the children list (the lock is held). */
static void
unlink_child(mproc_process_t *p)
{
    mproc_process_t **pp;

    for (pp = &children; *pp != NULL; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
}

int
mproc_process_close(mproc_process_t *p)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == S_CLOSED)
        return 0;
    if (p->kind != K_CHILD)
        return set_err(p, MPROC_EINVAL, "process '%s' cannot be closed",
                       p->name);
    if (p->state == S_STARTED && !check(p))
        return set_err(p, MPROC_EAGAIN, "process '%s' is still running; "
                       "join or terminate it first", p->name);
    if (p->state != S_NEW) {
        pthread_mutex_lock(&lock);
        unlink_child(p);
        pthread_mutex_unlock(&lock);
    }
    release(p);
    p->state = S_CLOSED;
    return 0;
}

static void
destroy(mproc_process_t *p)
{
    release(p);
    /* In a forked child, what self borrowed from the handle it was
     * started from stays (become_forked). */
    if (p->name != self.name)
        free(p->name);
    if (p->identity != self.identity)
        free(p->identity);
    free(p->target);
    free(p->pass);
    mproc__kv_free(p->args, p->nargs);
    pthread_mutex_destroy(&p->mu);
    free(p->errmsg);
    free(p);
}

void
mproc_process_free(mproc_process_t *p)
{
    if (p == NULL || p->kind != K_CHILD)
        return;
    if (p->state == S_STARTED && !check(p)) {
        /* Still running: the list keeps it until it is reaped. */
        pthread_mutex_lock(&lock);
        p->freed = true;
        pthread_mutex_unlock(&lock);
        return;
    }
    if (p->state != S_NEW && p->state != S_CLOSED) {
        pthread_mutex_lock(&lock);
        unlink_child(p);
        pthread_mutex_unlock(&lock);
    }
    destroy(p);
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
        if (check(p)) {
            if (p->freed) {
                *pp = p->next;
                destroy(p);
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
        if (p->daemon && !check(p))
            kill(p->pid, SIGTERM);
    for (p = children; p != NULL; p = p->next)
        while (mproc_process_join(p, -1) == MPROC_EINTR)
            ;
    for (pp = &children; (p = *pp) != NULL;) {
        if (p->freed) {
            *pp = p->next;
            destroy(p);
        } else {
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&lock);
}

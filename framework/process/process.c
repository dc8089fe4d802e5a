/* SPDX-License-Identifier: MIT */
/*
 * Process objects (Python's multiprocessing Process): making a handle,
 * starting the child and running its target there, and what a handle
 * answers until it is closed and freed.  This process, its parent, the
 * list of children and watching them end (reaping, join, active_children,
 * the exit handler) are in children.c; start methods, contexts and
 * wait() in context.c.
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
 * Fork safety: the descriptors of children (pidfd, result file, sentinel)
 * are in the fork registry (fork.c), so no forked child keeps another
 * child's; the module's locks start unlocked in a forked child.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/frame_int.h"
#include "plugin/plugin_int.h"
#include "process/process_int.h"
#include "sync/sync_int.h"
#include "util/buf_int.h"

#define self mproc__process_self
#define lock mproc__process_lock
#define set_err mproc__process_set_err
#define closed mproc__process_closed

static const struct mproc_process blank; /* all zero: a new handle */

int
mproc__process_set_err(mproc_process_t *p, int code, const char *fmt, ...)
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

int
mproc__process_closed(mproc_process_t *p)
{
    return set_err(p, MPROC_ECLOSED, "process '%s' is closed", p->name);
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
    p->kind = MPROC__PK_CHILD;
    p->state = MPROC__PS_NEW;
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
        p->identity[self.nidentity] = mproc__process_next_id();
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

/* In a child forked by start_fork(): p's strings and our own name are in
 * its copy of our memory. */
static void
become_forked(const mproc_process_t *p, pid_t parent_pid, int result_fd,
              int sentinel_fd)
{
    mproc__process_become(p->name, p->identity, p->nidentity, p->daemon,
                          parent_pid, self.name, result_fd, sentinel_fd);
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
    if (p->state == MPROC__PS_CLOSED)
        return closed(p);
    if (p->kind != MPROC__PK_CHILD)
        return set_err(p, MPROC_EINVAL, "process '%s' is not a child of "
                       "this process", p->name);
    if (p->state != MPROC__PS_NEW)
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
    p->state = MPROC__PS_STARTED;
    mproc__log(MPROC_LOG_INFO, "process %s started (pid %d, %s)", p->name,
               (int)p->pid, m);

    mproc__process_list_add(p, me);
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
    if (p->state == MPROC__PS_CLOSED)
        return closed(p);
    if (p->kind != MPROC__PK_CHILD || p->state != MPROC__PS_NEW)
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

static int
signal_child(mproc_process_t *p, int sig)
{
    if (p->state == MPROC__PS_CLOSED)
        return closed(p);
    if (p->kind == MPROC__PK_WORKER)
        return set_err(p, MPROC_EINVAL, "process '%s' is a pool's worker: "
                       "terminate the pool", p->name);
    if (p->kind != MPROC__PK_CHILD)
        return set_err(p, MPROC_EINVAL, "process '%s' is not a child of "
                       "this process", p->name);
    if (p->state == MPROC__PS_NEW)
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
    if (p->state == MPROC__PS_CLOSED)
        return closed(p);
    if (name == NULL || p->kind == MPROC__PK_PARENT)
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
    if (p->state == MPROC__PS_CLOSED)
        return closed(p);
    if (p->kind != MPROC__PK_CHILD || p->state != MPROC__PS_NEW)
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
    if (p->state == MPROC__PS_CLOSED)
        return closed(p);
    if (p->kind != MPROC__PK_CHILD || p->state == MPROC__PS_NEW)
        return set_err(p, MPROC_ECHILD, "process '%s' was not started",
                       p->name);
    if (!mproc__process_check(p))
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
    if (p->state != MPROC__PS_ENDED)
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

int
mproc_process_close(mproc_process_t *p)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (p->state == MPROC__PS_CLOSED)
        return 0;
    if (p->kind != MPROC__PK_CHILD)
        return set_err(p, MPROC_EINVAL, "process '%s' cannot be closed",
                       p->name);
    if (p->state == MPROC__PS_STARTED && !mproc__process_check(p))
        return set_err(p, MPROC_EAGAIN, "process '%s' is still running; "
                       "join or terminate it first", p->name);
    if (p->state != MPROC__PS_NEW) {
        pthread_mutex_lock(&lock);
        mproc__process_unlink(p);
        pthread_mutex_unlock(&lock);
    }
    release(p);
    p->state = MPROC__PS_CLOSED;
    return 0;
}

void
mproc__process_destroy(mproc_process_t *p)
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
    if (p == NULL || p->kind != MPROC__PK_CHILD)
        return;
    if (p->state == MPROC__PS_STARTED && !mproc__process_check(p)) {
        /* Still running: the list keeps it until it is reaped. */
        pthread_mutex_lock(&lock);
        p->freed = true;
        pthread_mutex_unlock(&lock);
        return;
    }
    if (p->state != MPROC__PS_NEW && p->state != MPROC__PS_CLOSED) {
        pthread_mutex_lock(&lock);
        mproc__process_unlink(p);
        pthread_mutex_unlock(&lock);
    }
    mproc__process_destroy(p);
}

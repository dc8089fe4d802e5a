/* SPDX-License-Identifier: MIT */
/*
 * Starting pool workers.  Each worker gets a task channel (host -> worker)
 * and a result channel (worker -> host) on the pool's IPC backend, and
 * runs mproc__worker_main() with default signal dispositions except
 * SIGINT, which it ignores: Ctrl-C in a
 * terminal reaches the whole process group, and the host alone handles it
 * (it stops the workers itself).  A worker dies with its host process
 * (the lifeline of process/fork.c), even when the host is killed with
 * SIGKILL, whichever of its threads started the worker.
 *
 * What a worker of a plugin pool holds, whatever the start method: stdin
 * from /dev/null, stdout and stderr both the host's stderr (stdout may be
 * the run's output), its two channel sides, the shared-object arena and
 * its lifeline, nothing else.  A forked child closes every other
 * descriptor it inherited (the host's input, output and job log, and
 * whatever the host's own code had open), so a task or a command it runs
 * cannot write into them.  A worker running an in-process function (the
 * Pool API's function pools, fork only) keeps what the caller had open,
 * as Python's fork workers do, so a Queue or Pipe made before the pool
 * works in its tasks; it drops only the descriptors registered with
 * process/fork.c (other pools' channels, the library's own).
 *
 * Each worker leads a process group of its own, which the commands and
 * helpers its tasks start join: the host's limit and stop signals go to
 * the group, and what is left of it is killed when the worker ends, so
 * nothing a task started outlives the run.  SIGTTOU is ignored, since a
 * background group writing to a terminal with `stty tostop` would stop.
 */
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/chan_int.h"
#include "pool/pool_int.h"
#include "process/process_int.h"
#include "sync/sync_int.h"

static int
start_err(char *errbuf, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
start_err(char *errbuf, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* The task and result channels of one worker, both sides here. */
static int
open_channels(const struct mproc__start *s, struct mproc_chan **task,
              struct mproc_chan **result, char *errbuf, size_t errlen)
{
    /* mq sizes each queue for a share of the user's RLIMIT_MSGQUEUE:
     * every worker's two channels must fit together. */
    struct mproc__chan_opts o = {.message_max = s->chan_max,
                                 .group = s->chan_group,
                                 .arena = s->arena};
    mproc_err_t err;
    int r;

    *task = *result = NULL;
    r = mproc__chan_open(task, s->ipc, &o, &err);
    if (r == 0)
        r = mproc__chan_open(result, s->ipc, &o, &err);
    if (r < 0) {
        mproc__chan_free(*task);
        *task = NULL;
        return start_err(errbuf, errlen, r,
                         "cannot open a channel for a worker: %s", err.msg);
    }
    mproc__fork_window_opened(*task, *result);
    return 0;
}

/* After the child started: watch it, keep the host's sides. */
static int
started(pid_t pid, struct mproc_chan *task, struct mproc_chan *result,
        struct mproc__started *out, char *errbuf, size_t errlen)
{
    int e;

    mproc__chan_close_side(task, MPROC__CHAN_RD);
    mproc__chan_close_side(result, MPROC__CHAN_WR);
    /* Later children (the next workers) only close these. */
    mproc__chan_nofork(task);
    mproc__chan_nofork(result);
    out->pid = pid;
    out->task = task;
    out->result = result;
    /* A pidfd makes the worker's death one more descriptor to poll.  Where
     * the kernel (before 5.3), a seccomp filter or valgrind refuses it,
     * the end of the result channel stands in: a worker closes it only by
     * ending, and then a blocking waitpid() returns at once. */
    out->pidfd = mproc__pidfd_open(pid);
    if (out->pidfd < 0 && errno != ENOSYS && errno != EPERM) {
        e = errno;
        kill(pid, SIGKILL);
        MPROC__NOINTR(waitpid(pid, NULL, 0));
        mproc__chan_free(task);
        mproc__chan_free(result);
        return start_err(errbuf, errlen, -e,
                         "cannot watch worker %d: pidfd_open: %s", (int)pid,
                         strerror(e));
    }
    return 0;
}

/* Close every descriptor of this process but keep[0..n), which is sorted
 * here.  close_range where the kernel has it (5.9), else one by one. */
static void
close_all_but(int *keep, size_t n)
{
    unsigned lo = 0, top;
    size_t i, j;
    long max;

    for (i = 1; i < n; i++)
        for (j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    for (i = 0; i <= n; i++) {
        if (i < n && (keep[i] < 0 || (unsigned)keep[i] < lo))
            continue;
        top = i < n ? (unsigned)keep[i] : ~0U;
        if (top > lo && syscall(SYS_close_range, lo, top - 1, 0) < 0) {
            max = sysconf(_SC_OPEN_MAX);
            if (max < 0 || max > 65536)
                max = 65536;
            for (unsigned fd = lo; fd < top && fd < (unsigned)max; fd++)
                close((int)fd);
        }
        if (i < n)
            lo = (unsigned)keep[i] + 1;
    }
}

/* The descriptors of one channel side, added to keep[*n]. */
static void
keep_side(struct mproc_chan *ch, unsigned side, int *keep, size_t *n)
{
    unsigned char blob[MPROC__CHAN_BLOB_MAX];
    size_t k = 0, len = sizeof(blob);

    if (mproc__chan_export(ch, side, keep + *n, &k, blob, &len) == 0)
        *n += k;
}

/* In the child, between fork and the worker loop. */
static void __attribute__((noreturn))
child_start(const struct mproc__start *s, struct mproc_chan *task,
            struct mproc_chan *result, pid_t parent)
{
    struct mproc__worker_args a = *s->wa;
    struct sigaction sa;
    sigset_t none;
    int keep[3 + 2 * MPROC__CHAN_MAX_FDS + 2];
    size_t i, nkeep = 0;
    int sig, fd;

    /* Die with the host process, not with the thread that forked
     * (PR_SET_PDEATHSIG would), and drop the descriptors registered for
     * forked children to drop (process/fork.c).  A registered descriptor
     * this worker needs must be listed here. */
    if (mproc__fork_child(true, parent, NULL, 0) < 0)
        _exit(1); /* the host died before we could follow it */
    setpgid(0, 0); /* the host does it too: whoever comes first */
    mproc__lifeline_group(); /* the host's death takes the tasks' helpers */

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTTOU, &sa, NULL);

    mproc__chan_close_side(task, MPROC__CHAN_WR);
    mproc__chan_close_side(result, MPROC__CHAN_RD);
    /* A plugin's worker closes every descriptor below (close_all_but),
     * the other workers' among them, and it never goes back to the
     * host's code: their handles need no freeing.  Freeing them wrote
     * to the host's heap, page after page, which the kernel copied for
     * each worker: with 1000 workers, most of the time of the start. */
    for (i = 0; s->plugin_path == NULL && i < s->nclose_chans; i++)
        mproc__chan_free(s->close_chans[i]);
    for (i = 0; s->plugin_path == NULL && i < s->nclose; i++)
        close(s->close_fds[i]);
    if (s->cancel_fd >= 0)
        close(s->cancel_fd);

    /* stdin belongs to the host (it may be the job's input); stdout is the
     * job's output, so a plugin's stray printf goes to stderr instead. */
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        close(fd);
    }
    dup2(STDERR_FILENO, STDOUT_FILENO);

    /* Then, for a plugin, nothing else of the host's: its output and job
     * log, other pools' channels, files its own code opened.  A function
     * of the caller's keeps the caller's objects (see the top). */
    if (s->plugin_path != NULL) {
        keep[nkeep++] = STDIN_FILENO;
        keep[nkeep++] = STDOUT_FILENO;
        keep[nkeep++] = STDERR_FILENO;
        keep_side(task, MPROC__CHAN_RD, keep, &nkeep);
        keep_side(result, MPROC__CHAN_WR, keep, &nkeep);
        if (a.sync != NULL && mproc__sync_fd(a.sync) >= 0)
            keep[nkeep++] = mproc__sync_fd(a.sync);
        if (mproc__lifeline_armed() >= 0)
            keep[nkeep++] = mproc__lifeline_armed();
        close_all_but(keep, nkeep);
    }

    /* The host blocked every signal across fork(); a worker starts with
     * none blocked, whatever the host's own mask. */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    a.task_ch = task;
    a.result_ch = result;
    mproc__worker_main(&a);
}

static int
start_fork(const struct mproc__start *s, struct mproc__started *out,
           char *errbuf, size_t errlen)
{
    struct mproc_chan *task, *result;
    sigset_t all, old;
    pid_t pid, parent = getpid();
    int e, r;

    r = open_channels(s, &task, &result, errbuf, errlen);
    if (r < 0)
        return r;
    /* The lifeline the worker follows (process/fork.c). */
    r = mproc__lifeline_fd();
    if (r < 0) {
        mproc__chan_free(task);
        mproc__chan_free(result);
        return start_err(errbuf, errlen, r, "cannot start a worker: "
                         "lifeline: %s", mproc_strerror(r));
    }
    /* Flush stdio so the child cannot write the host's buffered output a
     * second time. */
    fflush(NULL);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0)
        child_start(s, task, result, parent);
    e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        mproc__chan_free(task);
        mproc__chan_free(result);
        return start_err(errbuf, errlen, -e,
                         "cannot start a worker: fork: %s", strerror(e));
    }
    /* Before any signal to the group can be sent (see the child). */
    setpgid(pid, pid);
    return started(pid, task, result, out, errbuf, errlen);
}

/* Put one side of `ch` in the boot message: its descriptors go to fds. */
static int
export_side(struct mproc_chan *ch, unsigned side, int *fds, size_t *nfds,
            uint32_t *n, unsigned char *blob, uint32_t *bloblen, char *errbuf,
            size_t errlen)
{
    size_t k = 0, len = MPROC__WA_BLOB;
    int r = mproc__chan_export(ch, side, fds + *nfds, &k, blob, &len);

    if (r < 0)
        return start_err(errbuf, errlen, r,
                         "cannot hand a %s channel to a new image: %s",
                         mproc__chan_backend(ch), mproc__chan_errmsg(ch));
    *nfds += k;
    *n = (uint32_t)k;
    *bloblen = (uint32_t)len;
    return 0;
}

/*
 * spawn and forkserver: a new image (process/launch.c) that loads the
 * plugin from its file and runs mproc__worker_main() with the same
 * arguments; the boot message carries them (process/boot.c), the channel
 * sides and the sync arena's memfd travel as descriptors 4, 5, ... (see
 * process_int.h).  The child is ours with both methods, so the pool reaps
 * and watches it as a forked one.  Nothing of the host's is inherited, so
 * other workers' channels and the cancel descriptor need no closing.
 */
static int
start_image(const struct mproc__start *s, const char *m, const char *name,
            const char *parent_name, struct mproc__started *out,
            char *errbuf, size_t errlen)
{
    struct mproc_chan *task, *result;
    struct mproc__boot b;
    int fds[MPROC__FD_MAX], r;
    size_t nfds = 0;
    pid_t pid;

    if (s->plugin_path == NULL)
        return start_err(errbuf, errlen, MPROC_ENOTSUP,
                         "start method '%s' loads the plugin from its file "
                         "in a new image; an in-process plugin descriptor "
                         "works with fork only", m);
    r = open_channels(s, &task, &result, errbuf, errlen);
    if (r < 0)
        return r;
    memset(&b, 0, sizeof(b));
    b.kind = MPROC__BOOT_WORKER;
    b.parent_pid = getpid();
    b.name = name; /* a Pool API worker's, or NULL */
    b.parent_name = parent_name;
    b.plugin = s->plugin_path;
    b.task = s->wa->task->name;
    b.args = (struct mproc_kv *)s->wa->args;
    b.nargs = s->wa->nargs;
    b.wa = *s->wa;
    r = export_side(task, MPROC__CHAN_RD, fds, &nfds, &b.wa.task_nfds,
                    b.wa.task_blob, &b.wa.task_bloblen, errbuf, errlen);
    if (r == 0)
        r = export_side(result, MPROC__CHAN_WR, fds, &nfds,
                        &b.wa.result_nfds, b.wa.result_blob,
                        &b.wa.result_bloblen, errbuf, errlen);
    if (r == 0 && s->wa->sync != NULL) {
        b.has_sync = true;
        fds[nfds++] = mproc__sync_fd(s->wa->sync);
    }
    b.wa.claims = NULL;
    b.wa.has_claims = r == 0 && s->claims_fd >= 0;
    if (b.wa.has_claims)
        fds[nfds++] = s->claims_fd;
    if (r == 0)
        r = mproc__launch(m, &b, fds, nfds, errbuf, errlen, &pid);
    if (r < 0) {
        mproc__chan_free(task);
        mproc__chan_free(result);
        return r;
    }
    /* The child does it too (process/boot.c); here it fails with EACCES
     * once a spawned child has run exec, which is fine. */
    setpgid(pid, pid);
    return started(pid, task, result, out, errbuf, errlen);
}

int
mproc__worker_start(const struct mproc__start *s, struct mproc__started *out,
                    char *errbuf, size_t errlen)
{
    const char *m = s->method != NULL ? s->method : "fork";
    const char *name, *parent_name = NULL;
    int r;

    /* From the channels' opening to their registration no other thread
     * forks: its child would keep them (see mproc__fork_window_begin). */
    name = mproc__fork_window_begin(m, &parent_name);
    if (strcmp(m, "fork") == 0)
        r = start_fork(s, out, errbuf, errlen);
    else if (strcmp(m, "spawn") == 0 || strcmp(m, "forkserver") == 0)
        r = start_image(s, m, name, parent_name, out, errbuf, errlen);
    else
        r = start_err(errbuf, errlen, MPROC_EINVAL,
                      "unknown start method '%s'; expected fork, spawn or "
                      "forkserver", m);
    mproc__fork_window_end(r == 0 ? out : NULL);
    return r;
}

/*
 * Starting pool workers.  Each worker gets a task pipe (host -> worker)
 * and a result pipe (worker -> host) and runs mproc__worker_main() with
 * default signal dispositions except SIGINT, which it ignores: Ctrl-C in a
 * terminal reaches the whole process group, and the host alone handles it
 * (it stops the workers itself).  A worker dies with its host
 * (PR_SET_PDEATHSIG), even when the host is killed with SIGKILL.
 */
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* In the child, between fork and the worker loop. */
static void __attribute__((noreturn))
child_start(const struct mproc__start *s, int task_rd, int result_wr,
            pid_t parent)
{
    struct mproc__worker_args a = *s->wa;
    struct sigaction sa;
    sigset_t none;
    size_t i;
    int sig, fd;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1); /* the host died before prctl took effect */

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);

    for (i = 0; i < s->nclose; i++)
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

    /* The host blocked every signal across fork(); a worker starts with
     * none blocked, whatever the host's own mask. */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    a.task_fd = task_rd;
    a.result_fd = result_wr;
    mproc__worker_main(&a);
}

static int
start_fork(const struct mproc__start *s, struct mproc__started *out,
           char *errbuf, size_t errlen)
{
    int tp[2] = {-1, -1}, rp[2] = {-1, -1};
    sigset_t all, old;
    pid_t pid, parent = getpid();
    int e;

    if (pipe2(tp, O_CLOEXEC) < 0 || pipe2(rp, O_CLOEXEC) < 0) {
        e = errno;
        start_err(errbuf, errlen, 0, "cannot create a pipe for a worker: %s",
                  strerror(e));
        goto fail;
    }
    /* Flush stdio so the child cannot write the host's buffered output a
     * second time. */
    fflush(NULL);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0) {
        close(tp[1]);
        close(rp[0]);
        child_start(s, tp[0], rp[1], parent);
    }
    e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        start_err(errbuf, errlen, 0, "cannot start a worker: fork: %s",
                  strerror(e));
        goto fail;
    }
    close(tp[0]);
    close(rp[1]);
    out->pid = pid;
    out->task_fd = tp[1];
    out->result_fd = rp[0];
    /* A pidfd makes the worker's death one more descriptor to poll.  Where
     * the kernel (before 5.3), a seccomp filter or valgrind refuses it,
     * the end of the result pipe stands in: a worker closes it only by
     * ending, and then a blocking waitpid() returns at once. */
    out->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (out->pidfd < 0 && errno != ENOSYS && errno != EPERM) {
        e = errno;
        kill(pid, SIGKILL);
        MPROC__NOINTR(waitpid(pid, NULL, 0));
        close(out->task_fd);
        close(out->result_fd);
        return start_err(errbuf, errlen, -e,
                         "cannot watch worker %d: pidfd_open: %s", (int)pid,
                         strerror(e));
    }
    return 0;

fail:
    if (tp[0] >= 0) {
        close(tp[0]);
        close(tp[1]);
    }
    if (rp[0] >= 0) {
        close(rp[0]);
        close(rp[1]);
    }
    return -e;
}

/*
 * spawn and forkserver: a new image (process/launch.c) that loads the
 * plugin from its file and runs mproc__worker_main() with the same
 * arguments; the boot message carries them (process/boot.c), the pipes and
 * the sync arena's memfd travel as descriptors 4, 5 and 6.  The child is
 * ours with both methods, so the pool reaps and watches it as a forked
 * one.  Nothing of the host's is inherited, so other workers' pipes and the
 * cancel descriptor need no closing.
 */
static int
start_image(const struct mproc__start *s, const char *m,
            struct mproc__started *out, char *errbuf, size_t errlen)
{
    struct mproc__boot b;
    int tp[2] = {-1, -1}, rp[2] = {-1, -1}, fds[3], e, r;
    size_t nfds = 2;
    pid_t pid;

    if (s->plugin_path == NULL)
        return start_err(errbuf, errlen, MPROC_ENOTSUP,
                         "start method '%s' loads the plugin from its file "
                         "in a new image; an in-process plugin descriptor "
                         "works with fork only", m);
    if (pipe2(tp, O_CLOEXEC) < 0 || pipe2(rp, O_CLOEXEC) < 0) {
        e = errno;
        r = start_err(errbuf, errlen, -e,
                      "cannot create a pipe for a worker: %s", strerror(e));
        goto fail;
    }
    memset(&b, 0, sizeof(b));
    b.kind = MPROC__BOOT_WORKER;
    b.parent_pid = getpid();
    b.plugin = s->plugin_path;
    b.task = s->wa->task->name;
    b.args = (struct mproc_kv *)s->wa->args;
    b.nargs = s->wa->nargs;
    b.wa = *s->wa;
    fds[0] = tp[0];
    fds[1] = rp[1];
    if (s->wa->sync != NULL) {
        b.has_sync = true;
        fds[nfds++] = mproc__sync_fd(s->wa->sync);
    }
    r = mproc__launch(m, &b, fds, nfds, errbuf, errlen, &pid);
    if (r < 0)
        goto fail;
    close(tp[0]);
    close(rp[1]);
    out->pid = pid;
    out->task_fd = tp[1];
    out->result_fd = rp[0];
    /* As start_fork(): the end of the result pipe stands in for a pidfd
     * where the kernel refuses one. */
    out->pidfd = mproc__pidfd_open(pid);
    if (out->pidfd < 0 && errno != ENOSYS && errno != EPERM) {
        e = errno;
        kill(pid, SIGKILL);
        MPROC__NOINTR(waitpid(pid, NULL, 0));
        close(out->task_fd);
        close(out->result_fd);
        return start_err(errbuf, errlen, -e,
                         "cannot watch worker %d: pidfd_open: %s", (int)pid,
                         strerror(e));
    }
    return 0;

fail:
    if (tp[0] >= 0) {
        close(tp[0]);
        close(tp[1]);
    }
    if (rp[0] >= 0) {
        close(rp[0]);
        close(rp[1]);
    }
    return r;
}

int
mproc__worker_start(const struct mproc__start *s, struct mproc__started *out,
                    char *errbuf, size_t errlen)
{
    const char *m = s->method != NULL ? s->method : "fork";

    if (strcmp(m, "fork") == 0)
        return start_fork(s, out, errbuf, errlen);
    if (strcmp(m, "spawn") == 0 || strcmp(m, "forkserver") == 0)
        return start_image(s, m, out, errbuf, errlen);
    return start_err(errbuf, errlen, MPROC_EINVAL,
                     "unknown start method '%s'; expected fork, spawn or "
                     "forkserver", m);
}

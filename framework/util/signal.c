/* SPDX-License-Identifier: MIT */
/*
 * When a blocking call that a signal interrupted returns MPROC_EINTR.
 *
 * A sleep in the kernel (poll, futex, semop) ends with EINTR after any
 * handler ran, SA_RESTART or not, and nothing says which signal it was.
 * libmproc's waits (sync objects, Queue and Pipe, join, async results)
 * all follow one rule, so that a C program can stop on Ctrl-C the way a
 * Python one gets KeyboardInterrupt: the call returns MPROC_EINTR when
 * some handler of the process was installed without SA_RESTART (a read()
 * would fail for that handler too), and goes on when every handler asked
 * for restarts.
 */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

bool
mproc__signal_interrupts(void)
{
    struct sigaction sa;
    int sig;

    for (sig = 1; sig < NSIG; sig++) {
        /* Faults are delivered to the faulting thread, never into a
         * wait; sanitizers install handlers for them. */
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV ||
            sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
            sig == SIGTRAP || sig == SIGSYS)
            continue;
        if (sigaction(sig, NULL, &sa) < 0)
            continue;
        /* Compared whatever SA_SIGINFO says: valgrind ignores a signal
         * with SIG_IGN and SA_SIGINFO, which is no handler. */
        if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
            continue;
        if (!(sa.sa_flags & SA_RESTART))
            return true;
    }
    return false;
}

void
mproc__sigpipe_hold(struct mproc__sigpipe_hold *h)
{
    sigset_t set, pending;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    h->had = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &h->old);
}

void
mproc__sigpipe_release(const struct mproc__sigpipe_hold *h)
{
    static const struct timespec zero = {0, 0};
    sigset_t set, pending;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    if (!h->had && sigismember(&pending, SIGPIPE))
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    pthread_sigmask(SIG_SETMASK, &h->old, NULL);
}

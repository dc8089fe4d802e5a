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

/* Faults: delivered to the faulting thread, never into a wait, so never
 * held; sanitizers install handlers for them. */
static bool
synchronous(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE ||
           sig == SIGILL || sig == SIGTRAP || sig == SIGSYS;
}

bool
mproc__signal_interrupts(void)
{
    struct sigaction sa;
    int sig;

    for (sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || synchronous(sig))
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

/*
 * A wait in slices (a sleep, the waiter's own checks, the next sleep)
 * must not lose a signal that comes between two sleeps: its handler would
 * run there unseen, and the wait go on to its deadline.  Inside a scope
 * (mproc__intr_begin/end, around one interruptible call) every
 * asynchronous signal is held from the end of one sleep to the start of
 * the next, which first looks at what came meanwhile; the scope's end
 * lets the held ones in, so their handlers run before the call returns.
 * Outside a scope nothing is held.  Per thread, as signal masks are.
 *
 * Handlers run only while nothing is held (a sleep lets the signals in
 * first, or atomically: mproc__intr_unhold), so one that leaves the wait
 * with siglongjmp leaves the thread's mask as the jump restores it.  The
 * scope is a flag, not a count: a scope it so left is ended by the next
 * one's begin, and a scope inside another (none today) ends the hold
 * early, which is the old behaviour, never a mask left blocked.
 */
static _Thread_local struct {
    bool scoped;
    bool held;
    sigset_t mask; /* the thread's own mask, while held */
} intr;

static void
intr_release(void)
{
    intr.held = false;
    pthread_sigmask(SIG_SETMASK, &intr.mask, NULL);
}

void
mproc__intr_begin(void)
{
    intr.scoped = true;
    intr.held = false;
}

void
mproc__intr_end(void)
{
    if (intr.held)
        intr_release();
    intr.scoped = false;
}

void
mproc__intr_hold(void)
{
    sigset_t all;
    int sig;

    if (!intr.scoped || intr.held)
        return;
    sigfillset(&all);
    for (sig = 1; sig < NSIG; sig++)
        if (synchronous(sig))
            sigdelset(&all, sig);
    if (pthread_sigmask(SIG_BLOCK, &all, &intr.mask) == 0)
        intr.held = true;
}

const sigset_t *
mproc__intr_unhold(void)
{
    if (!intr.held)
        return NULL;
    intr.held = false; /* while the sleep lets them in */
    return &intr.mask;
}

void
mproc__intr_reheld(void)
{
    intr.held = true; /* the sleep put the held mask back */
}

int
mproc__intr_sleep(void)
{
    struct sigaction sa;
    sigset_t pending;
    bool handled = false;
    int sig;

    if (!intr.held)
        return 0;
    if (sigpending(&pending) == 0)
        for (sig = 1; sig < NSIG && !handled; sig++)
            if (sigismember(&pending, sig) == 1 &&
                sigismember(&intr.mask, sig) != 1 &&
                sigaction(sig, NULL, &sa) == 0 &&
                sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)
                handled = true;
    /* Held until the scope ends: the handler runs before the caller
     * sees MPROC_EINTR. */
    if (handled && mproc__signal_interrupts())
        return MPROC_EINTR;
    /* Let the sleep be interrupted (and a held restartable handler run
     * now, or a default action happen). */
    intr_release();
    return 0;
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

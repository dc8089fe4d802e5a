/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the sync tests (conformance-sync.c, stress-sync.c):
 * elapsed time, and waiting for a child with a bound so that a hang is a
 * failure, not a stuck test.
 */
#ifndef MPROC_SYNC_TEST_H
#define MPROC_SYNC_TEST_H

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/sync.h>

/* One object of each kind that blocks. */
struct objs {
    mproc_lock_t *l;
    mproc_sem_t *sem;
    mproc_event_t *e;
    mproc_cond_t *c;
    mproc_barrier_t *b;
};

/* Create them: a Lock, a Semaphore of `units`, an Event, a Condition with
 * its own Lock, a Barrier of `parties`.  0, or the first error. */
static inline int
objs_new(mproc_sync_t *s, struct objs *o, unsigned units, unsigned parties)
{
    int r;

    if ((r = mproc_lock_new(s, false, &o->l, NULL)) < 0 ||
        (r = mproc_sem_new(s, units, false, &o->sem, NULL)) < 0 ||
        (r = mproc_event_new(s, &o->e, NULL)) < 0 ||
        (r = mproc_cond_new(s, NULL, &o->c, NULL)) < 0)
        return r;
    return mproc_barrier_new(s, parties, &o->b, NULL);
}

static inline long
ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A wait status as one number: the exit code, or 128 + the signal. */
static inline int
status_code(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline int
wait_exit(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return status_code(st);
}

/* Wait for a child at most `ms`; SIGKILL it after.  Its status as
 * wait_exit's, or -1 when it had to be killed. */
static inline int
wait_exit_within(pid_t pid, long ms)
{
    struct timespec t0;
    int st = 0;
    pid_t r;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while ((r = waitpid(pid, &st, WNOHANG)) == 0 && ms_since(&t0) < ms)
        usleep(2000);
    if (r == 0) {
        kill(pid, SIGKILL);
        wait_exit(pid);
        return -1;
    }
    return status_code(st);
}

#endif

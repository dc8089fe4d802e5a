/* SPDX-License-Identifier: MIT */
/*
 * Deterministic regression tests for two races of issue 12.  Each uses a
 * test hook of the library that stops a process (SIGSTOP) at the exact
 * point of the race; the test runs the other side in the window, then
 * lets the stopped process go on.  No timing decides a result.
 *
 * 12.16, every backend: a Semaphore's reclaimer has found a killed holder
 *   and not yet taken its units (MPROC_TEST_HOOK_SEM_RECLAIM_STOP) when a
 *   new holder acquires, one whose pid leads it to the dead holder's slot
 *   of the holders table.  No unit and no owner-died report may be lost.
 * 12.18, every backend (the defect was sysv's): a wake-up of a word must
 *   reach every sleeper, including
 *   one stopped between looking at the word and sleeping
 *   (MPROC_TEST_HOOK_WORD_WAIT_STOP_SLEEP) and one whose wake-up a first
 *   sleeper could erase (MPROC_TEST_HOOK_WORD_WAIT_STOP_LOOK: stopped
 *   once counted as a sleeper, before it looks at the word).  The sleep
 *   is given a 3 s deadline: a lost wake-up shows as MPROC_ETIMEDOUT
 *   instead of 0, however fast or slow the machine is.  Word waits take
 *   no semaphore of a sysv set any more: more Events than it has fit.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "sync/sync_int.h"
#include "sync-test.h"
#include "tap.h"

/* Results the children leave for the parent. */
struct shared {
    int res[2];
};
static struct shared *sh;
static int up[2], down[2]; /* children -> parent, parent -> children */

/* Wait at most `ms` for a child to stop at a hook.  1 when it did. */
static int
wait_stopped(pid_t pid, long ms)
{
    struct timespec t0;
    int st = 0;
    pid_t r;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while ((r = waitpid(pid, &st, WNOHANG | WUNTRACED)) == 0 &&
           ms_since(&t0) < ms)
        usleep(1000);
    return r == pid && WIFSTOPPED(st);
}

static void
say(int fd)
{
    char c = 1;
    while (write(fd, &c, 1) < 0 && errno == EINTR)
        ;
}

static void
hear(int fd)
{
    char c;
    while (read(fd, &c, 1) < 0 && errno == EINTR)
        ;
}

static int
got_unit(int r)
{
    return r == 0 || r == MPROC_EOWNERDEAD;
}

/* A holder: acquire (hooked or not), report, hold until told, release. */
static void
holder(mproc_sem_t *sem, int slot, const char *hook, int timeout_ms)
{
    int r;

    if (hook != NULL)
        setenv(hook, "1", 1);
    r = mproc_sem_acquire(sem, timeout_ms);
    sh->res[slot] = r;
    say(up[1]);
    hear(down[0]);
    if (got_unit(r))
        mproc_sem_release(sem);
    _exit(0);
}

/*
 * Fork a holder whose pid has the same slot in the holders table as
 * `like` (the table is indexed from pid % MPROC__SEM_HOLDERS): children
 * with other pids exit at once.  Its pid, or -1.
 */
static pid_t
fork_same_slot(pid_t like, mproc_sem_t *sem)
{
    int target = (int)(like % MPROC__SEM_HOLDERS), i;
    pid_t p;

    for (i = 0; i < 100000; i++) {
        if ((p = fork()) < 0)
            return -1;
        if (p == 0) {
            if (getpid() % MPROC__SEM_HOLDERS != target)
                _exit(0);
            holder(sem, 1, NULL, 0);
        }
        if (p % MPROC__SEM_HOLDERS == target)
            return p;
        wait_exit(p);
    }
    return -1;
}

/* 12.16 on one backend. */
static void
reclaim_race(const char *backend)
{
    mproc_sync_t *s = NULL;
    mproc_sem_t *sem = NULL;
    siginfo_t si;
    pid_t dead, a, b;
    int r, i, units = 0, died = 0;

    if (mproc_sync_new(&s, backend, 0, NULL) < 0 ||
        mproc_sem_new(s, 2, false, &sem, NULL) < 0) {
        ok(0, "%s: a semaphore of 2 is made", backend);
        mproc_sync_free(s);
        return;
    }
    sh->res[0] = sh->res[1] = 1;

    /* A holder of both units, killed: its units are to be reclaimed. */
    if ((dead = fork()) == 0) {
        if (!got_unit(mproc_sem_acquire(sem, 2000)) ||
            !got_unit(mproc_sem_acquire(sem, 2000)))
            _exit(1);
        say(up[1]);
        for (;;)
            pause();
    }
    hear(up[0]);
    kill(dead, SIGKILL);
    /* Dead, but left a zombie: it was killed, as anyone can tell. */
    waitid(P_PID, (id_t)dead, &si, WEXITED | WNOWAIT);

    /* The reclaimer stops with the dead holder found. */
    if ((a = fork()) == 0)
        holder(sem, 0, "MPROC_TEST_HOOK_SEM_RECLAIM_STOP", 5000);
    ok(wait_stopped(a, 5000),
       "%s: the reclaimer stops at the hook, a killed holder found", backend);

    /* In the window: one more unit, taken by a holder that lands on the
     * dead holder's slot if that slot is free. */
    is_int(mproc_sem_release(sem), 0, "%s: one more unit released",
           backend);
    b = fork_same_slot(dead, sem);
    ok(b > 0, "%s: a holder with the dead one's slot is forked", backend);
    if (b > 0)
        hear(up[0]);
    ok(got_unit(sh->res[1]), "%s: it acquires in the window (%s)", backend,
       mproc_err_name(sh->res[1]));

    kill(a, SIGCONT);
    hear(up[0]);
    ok(got_unit(sh->res[0]), "%s: the reclaimer acquires (%s)", backend,
       mproc_err_name(sh->res[0]));
    died += sh->res[0] == MPROC_EOWNERDEAD;
    died += sh->res[1] == MPROC_EOWNERDEAD;

    /* Both give their unit back; every unit must be there. */
    say(down[1]);
    say(down[1]);
    is_int(wait_exit_within(a, 5000), 0, "%s: the reclaimer ends", backend);
    if (b > 0)
        wait_exit_within(b, 5000);
    for (i = 0; i < 8; i++) {
        r = mproc_sem_acquire(sem, 0);
        if (!got_unit(r))
            break;
        units++;
        died += r == MPROC_EOWNERDEAD;
    }
    is_int(units, 3, "%s: no unit is lost (2 made, 1 released)", backend);
    is_int(died, 2, "%s: each of the killed holder's 2 units is reported "
           "once as owner-died", backend);
    wait_exit(dead);
    mproc_sync_free(s);
}

/* A sleeper on an Event's word, with a hook: exits 0 when woken, 2 when
 * its 3 s deadline passed (the wake-up was lost). */
static pid_t
sleeper(mproc_event_t *e, const char *hook)
{
    const struct mproc_sync_ops *ops = mproc__sync_ops_of(&e->o);
    struct timespec dl;
    pid_t p;
    int r;

    if ((p = fork()) != 0)
        return p;
    setenv(hook, "1", 1);
    mproc__deadline_in(&dl, 3000);
    r = ops->word_wait(&e->o, e->impl, &e->flag, 0, &dl);
    _exit(r == 0 ? 0 : r == MPROC_ETIMEDOUT ? 2 : 3);
}

/* 12.18 on one backend. */
static void
word_wait_races(const char *backend)
{
    mproc_sync_t *s = NULL;
    mproc_event_t *e1 = NULL, *e2 = NULL;
    mproc_lock_t *l = NULL;
    pid_t p, q;
    int i;

    if (mproc_sync_new(&s, backend, 0, NULL) < 0 ||
        mproc_event_new(s, &e1, NULL) < 0 ||
        mproc_event_new(s, &e2, NULL) < 0) {
        ok(0, "%s: two events are made", backend);
        mproc_sync_free(s);
        return;
    }

    /* A lone sleeper, woken after it looked at the word and before it
     * slept. */
    p = sleeper(e1, "MPROC_TEST_HOOK_WORD_WAIT_STOP_SLEEP");
    ok(wait_stopped(p, 5000), "%s: a sleeper stops between its look at "
       "the word and its sleep", backend);
    mproc_event_set(e1);
    kill(p, SIGCONT);
    is_int(wait_exit_within(p, 6000), 0, "%s: the wake-up in between "
           "reaches it (2: lost, slept to its deadline)", backend);

    /* Two sleepers: the first counted but not yet looking, the second
     * about to sleep; the wake-up comes; the first goes on (and finds
     * the word changed), then the second sleeps. */
    p = sleeper(e2, "MPROC_TEST_HOOK_WORD_WAIT_STOP_LOOK");
    ok(wait_stopped(p, 5000), "%s: a first sleeper stops before its look",
       backend);
    q = sleeper(e2, "MPROC_TEST_HOOK_WORD_WAIT_STOP_SLEEP");
    ok(wait_stopped(q, 5000), "%s: a second sleeper stops before its "
       "sleep", backend);
    mproc_event_set(e2);
    kill(p, SIGCONT);
    is_int(wait_exit_within(p, 6000), 0, "%s: the first returns", backend);
    kill(q, SIGCONT);
    is_int(wait_exit_within(q, 6000), 0, "%s: the first does not erase "
           "the second's wake-up (2: lost, slept to its deadline)", backend);

    /* Word waits take no semaphore of a sysv set (250): more Events than
     * that, and a Lock still fits. */
    for (i = 0; i < 260 && mproc_event_new(s, &e1, NULL) == 0; i++)
        ;
    is_int(i, 260, "%s: 260 more events are made", backend);
    is_int(mproc_lock_new(s, false, &l, NULL), 0, "%s: and a lock after "
           "them", backend);
    mproc_sync_free(s);
}

int
main(void)
{
    const char *const *b;

    alarm(60);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED || pipe2(up, O_CLOEXEC) < 0 ||
        pipe2(down, O_CLOEXEC) < 0)
        return 1;
    for (b = mproc_sync_backends(); *b != NULL; b++) {
        reclaim_race(*b);
        word_wait_races(*b);
    }
    ok(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "no child left");
    return done_testing();
}

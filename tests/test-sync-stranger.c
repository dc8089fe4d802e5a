/* SPDX-License-Identifier: MIT */
/*
 * What a stranger's pass over Queue, Pipe and the sync objects found
 * (session of 2026-11-30), each case as the stranger met it:
 *  - a put with no timeout waited for ever once the consumer of its
 *    message died in the middle of it (every backend), and a Pipe sender
 *    too when no other receiver came to notice;
 *  - an RLock let two threads of one process in at once (futex, sysv) or
 *    hung them (posix);
 *  - posix: a Lock released by another thread of its holder refused, and
 *    then the holder could not release it either;
 *  - a sysv arena's set was removed under the children of its killed
 *    creator by the next sysv arena;
 *  - maxsize 2^63 made a Queue always full; mproc_sync_name took a Lock
 *    as a "semaphore"; a NULL len took a message and crashed;
 *  - a broken barrier's n_waiting counted the parties that had left;
 *  - shmring: a signal a round delay into a get or recv was not seen.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/manager.h>
#include <mproc/mproc.h>

#include "tap.h"

static const char *const ipcs[] = {"pipe", "mq", "shmring"};
static const char *const syncs[] = {"futex", "posix", "sysv"};

#define BIG ((size_t)32 << 20)

/* Wait up to `ms` for pid: true when it ended (reaped). */
static bool
ended_within(pid_t pid, int ms)
{
    int i;

    for (i = 0; i < ms / 10; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return true;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return false;
}

/* Wait (15 s at most) until pid stops itself. */
static void
stopped(pid_t pid)
{
    int st, i;

    for (i = 0; i < 1500; i++) {
        if (waitpid(pid, &st, WUNTRACED | WNOHANG) == pid && WIFSTOPPED(st))
            return;
        usleep(10000);
    }
}

/* A consumer killed in the middle of a big message: the producer of it,
 * waiting without a timeout, returns (EPIPE). */
static void
test_put_consumer_dies(const char *backend)
{
    struct mproc_queue_opts o;
    mproc_queue_t *q = NULL;
    mproc_err_t err;
    pid_t c, p;
    char *b;

    mproc_queue_opts_init(&o);
    o.backend = backend;
    if (mproc_queue_new(&q, &o, &err) < 0 || (b = calloc(1, BIG)) == NULL) {
        ok(0, "%s: a queue: %s", backend, err.msg);
        return;
    }
    if ((c = fork()) == 0) {
        size_t len;
        char *r = malloc(BIG);
        /* Stops itself once part of the message is in (the library's
         * test hook): killed there, surely mid-message. */
        setenv("MPROC_TEST_HOOK_IPC", "get-partial", 1);
        mproc_queue_get(q, r, BIG, &len, -1);
        _exit(0);
    }
    usleep(100000);
    if ((p = fork()) == 0)
        _exit(mproc_queue_put(q, b, BIG, -1) == MPROC_EPIPE ? 0 : 1);
    stopped(c);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    ok(ended_within(p, 15000),
       "%s: a put without timeout returns once its consumer died "
       "mid-message", backend);
    mproc_queue_free(q);
    free(b);
}

/* The same on a Pipe whose receive end another process holds (and never
 * uses): nobody else would notice. */
static void
test_send_receiver_dies(const char *backend)
{
    struct mproc_pipe_opts o;
    mproc_pipe_t *r = NULL, *w = NULL;
    mproc_err_t err;
    pid_t c, c2, p;
    char *b;

    mproc_pipe_opts_init(&o);
    o.backend = backend;
    o.duplex = false;
    if (mproc_pipe_new(&r, &w, &o, &err) < 0 ||
        (b = calloc(1, BIG)) == NULL) {
        ok(0, "%s: a pipe: %s", backend, err.msg);
        return;
    }
    if ((c = fork()) == 0) {
        size_t len;
        char *x = malloc(BIG);
        mproc_pipe_free(w);
        setenv("MPROC_TEST_HOOK_IPC", "get-partial", 1);
        mproc_pipe_recv(r, x, BIG, &len, -1);
        _exit(0);
    }
    if ((c2 = fork()) == 0) {
        mproc_pipe_free(w);
        sleep(30);
        _exit(0);
    }
    mproc_pipe_free(r);
    usleep(100000);
    if ((p = fork()) == 0)
        _exit(mproc_pipe_send(w, b, BIG, -1) == MPROC_EPIPE ? 0 : 1);
    stopped(c);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    ok(ended_within(p, 15000),
       "%s: a send without timeout returns once a receiver died "
       "mid-message (another receiver idle)", backend);
    kill(c2, SIGKILL);
    waitpid(c2, NULL, 0);
    mproc_pipe_free(w);
    free(b);
}

/* ---- RLock between two threads ---- */

static mproc_lock_t *R;
static long counter;
static int inside, overlap;

static void *
bump(void *arg)
{
    int i;

    (void)arg;
    for (i = 0; i < 500; i++) {
        if (mproc_lock_acquire(R, 10000) != 0)
            return NULL;
        if (__sync_add_and_fetch(&inside, 1) > 1)
            overlap++;
        counter++;
        sched_yield();
        __sync_sub_and_fetch(&inside, 1);
        mproc_lock_release(R);
    }
    return NULL;
}

static int release_rc;

static void *
release_other(void *arg)
{
    release_rc = mproc_lock_release(arg);
    return NULL;
}

static void
test_rlock_threads(const char *backend)
{
    mproc_sync_t *s = NULL;
    mproc_lock_t *l;
    mproc_err_t err;
    pthread_t a, b;

    if (mproc_sync_new(&s, backend, 0, &err) < 0 ||
        mproc_lock_new(s, true, &R, &err) < 0) {
        ok(0, "%s: an RLock: %s", backend, err.msg);
        mproc_sync_free(s);
        return;
    }
    counter = overlap = inside = 0;
    pthread_create(&a, NULL, bump, NULL);
    pthread_create(&b, NULL, bump, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    ok(counter == 1000 && overlap == 0,
       "%s: an RLock keeps a second thread out (count %ld, overlaps %d)",
       backend, counter, overlap);
    mproc_lock_acquire(R, -1);
    mproc_lock_acquire(R, -1);
    pthread_create(&a, NULL, release_other, R);
    pthread_join(a, NULL);
    is_int(release_rc, MPROC_EPERM,
           "%s: another thread cannot release an RLock", backend);
    ok(mproc_lock_release(R) == 0 && mproc_lock_release(R) == 0,
       "%s: its holder still can, twice", backend);

    /* A plain Lock released by another thread of its holder. */
    mproc_lock_new(s, false, &l, &err);
    mproc_lock_acquire(l, -1);
    pthread_create(&a, NULL, release_other, l);
    pthread_join(a, NULL);
    if (strcmp(backend, "posix") == 0) {
        is_int(release_rc, MPROC_EPERM,
               "posix: another thread's release of a Lock is refused");
        is_int(mproc_lock_release(l), 0, "posix: and the holder's works");
    } else {
        is_int(release_rc, 0, "%s: any thread of the holder releases a Lock",
               backend);
        is_int(mproc_lock_release(l), MPROC_EPERM,
               "%s: then it is free (a second release is refused)", backend);
    }
    {
        pid_t pid = fork();
        int st = -1;

        if (pid == 0)
            _exit(mproc_lock_acquire(l, 3000) == 0 ? 0 : 1);
        waitpid(pid, &st, 0);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
           "%s: another process then acquires the Lock", backend);
    }
    mproc_sync_free(s);
}

/* ---- sysv: the set of a killed creator whose child goes on ---- */

static void
test_sysv_orphan(void)
{
    int pfd[2], st = -1;
    pid_t creator;
    char ok1 = 0;

    if (pipe(pfd) < 0) {
        ok(0, "a pipe");
        return;
    }
    creator = fork();
    if (creator == 0) {
        mproc_sync_t *s;
        mproc_lock_t *l;
        mproc_err_t err;
        pid_t child;

        if (mproc_sync_new(&s, "sysv", 0, &err) < 0 ||
            mproc_lock_new(s, false, &l, &err) < 0)
            _exit(2);
        child = fork();
        if (child == 0) {
            int i, bad = 0;

            /* Its creator dies meanwhile, and a new sysv arena sweeps. */
            for (i = 0; i < 20; i++) {
                if (mproc_lock_acquire(l, 2000) != 0 ||
                    mproc_lock_release(l) != 0)
                    bad = 1;
                usleep(50000);
            }
            if (write(pfd[1], bad ? "n" : "y", 1) != 1)
                _exit(3);
            _exit(0);
        }
        usleep(200000);
        raise(SIGKILL);
    }
    waitpid(creator, &st, 0);
    {
        mproc_sync_t *s2 = NULL;
        mproc_err_t err;

        if (mproc_sync_new(&s2, "sysv", 0, &err) == 0)
            mproc_sync_free(s2);
    }
    close(pfd[1]);
    if (read(pfd[0], &ok1, 1) != 1)
        ok1 = 0;
    close(pfd[0]);
    ok(ok1 == 'y', "sysv: the child of a killed creator keeps using its "
                   "arena after another sysv arena swept");
}

/* ---- the caller's mistakes ---- */

static void
test_mistakes(void)
{
    struct mproc_queue_opts o;
    mproc_queue_t *q = NULL;
    mproc_sync_t *s = NULL;
    mproc_lock_t *l;
    mproc_err_t err;
    char buf[16];
    size_t len = 0;

    mproc_queue_opts_init(&o);
    o.maxsize = SIZE_MAX;
    is_int(mproc_queue_new(&q, &o, &err), MPROC_EINVAL,
           "maxsize SIZE_MAX: refused");
    like_str(err.msg, "too large", "saying it is too large");
    o.maxsize = 0;
    if (mproc_queue_new(&q, &o, &err) < 0) {
        ok(0, "a queue: %s", err.msg);
        return;
    }
    mproc_queue_put(q, "ab", 2, 0);
    is_int(mproc_queue_get(q, buf, sizeof(buf), NULL, 0), MPROC_EINVAL,
           "get with a NULL len: EINVAL");
    ok(mproc_queue_get(q, buf, sizeof(buf), &len, 1000) == 0 && len == 2,
       "and the message is still there");
    is_int(mproc_queue_put(q, NULL, 5, 0), MPROC_EINVAL,
           "put of NULL with a length: EINVAL");
    is_int(mproc_queue_put(NULL, "a", 1, 0), MPROC_EINVAL,
           "put on a NULL Queue: EINVAL");
    mproc_queue_free(q);

    if (mproc_sync_new(&s, NULL, 0, &err) < 0 ||
        mproc_lock_new(s, false, &l, &err) < 0) {
        ok(0, "an arena: %s", err.msg);
        return;
    }
    is_int(mproc_sync_name(s, "semaphore", "x", l), MPROC_EINVAL,
           "a Lock named as a semaphore: EINVAL");
    ok(mproc_sync_find(s, "semaphore", "x") == NULL, "and not found so");
    is_int(mproc_sync_name(s, "bogus", "x", l), MPROC_EINVAL,
           "an unknown kind: EINVAL");
    is_int(mproc_sync_name(s, "lock", "x", l), 0, "named as a lock: fine");
    mproc_sync_free(s);
}

/* ---- a second pass ---- */

/* A message kept after ERANGE is this process's: a child forked then
 * gets the next one, and the parent still its own (it went to both). */
static void
test_erange_fork(const char *backend)
{
    struct mproc_queue_opts o;
    mproc_queue_t *q = NULL;
    mproc_err_t err;
    char small[4], buf[64];
    size_t len = 0;
    pid_t c;
    int st = -1;

    mproc_queue_opts_init(&o);
    o.backend = backend;
    if (mproc_queue_new(&q, &o, &err) < 0) {
        ok(0, "%s: a queue: %s", backend, err.msg);
        return;
    }
    mproc_queue_put(q, "the long one", 12, 0);
    mproc_queue_put(q, "B", 1, 0);
    is_int(mproc_queue_get(q, small, sizeof(small), &len, 1000), MPROC_ERANGE,
           "%s: ERANGE keeps the message", backend);
    if ((c = fork()) == 0) {
        size_t n = 0;
        int r = mproc_queue_get(q, buf, sizeof(buf), &n, 2000);
        _exit(r == 0 && n == 1 && buf[0] == 'B' ? 0 : 1);
    }
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "%s: a child forked after it gets the next message", backend);
    ok(mproc_queue_get(q, buf, sizeof(buf), &len, 1000) == 0 && len == 12,
       "%s: and the parent its kept one", backend);
    mproc_queue_free(q);
}

/* set then clear at once: a waiter still wakes. */
static void
test_event_pulse(const char *backend)
{
    mproc_sync_t *s = NULL;
    mproc_event_t *e;
    mproc_err_t err;
    pid_t c;
    int st = -1;

    if (mproc_sync_new(&s, backend, 0, &err) < 0 ||
        mproc_event_new(s, &e, &err) < 0) {
        ok(0, "%s: an Event: %s", backend, err.msg);
        mproc_sync_free(s);
        return;
    }
    if ((c = fork()) == 0)
        _exit(mproc_event_wait(e, 5000) == 0 ? 0 : 1);
    usleep(200000);
    mproc_event_set(e);
    mproc_event_clear(e);
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "%s: set then clear at once wakes the waiter", backend);
    ok(!mproc_event_is_set(e), "%s: and the flag is clear", backend);
    mproc_sync_free(s);
}

/* A producer killed while its put waited for room leaves no unfinished
 * task (join returned never). */
static void
test_jq_killed_putter(const char *backend)
{
    struct mproc_queue_opts o;
    mproc_queue_t *q = NULL;
    mproc_err_t err;
    char buf[8];
    size_t len;
    pid_t c;

    mproc_queue_opts_init(&o);
    o.backend = backend;
    o.maxsize = 1;
    if (mproc_joinable_queue_new(&q, &o, &err) < 0) {
        ok(0, "%s: a JoinableQueue: %s", backend, err.msg);
        return;
    }
    mproc_queue_put(q, "a", 1, 0);
    if ((c = fork()) == 0) {
        mproc_queue_put(q, "b", 1, -1); /* full: waits */
        _exit(0);
    }
    usleep(200000);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    mproc_queue_get(q, buf, sizeof(buf), &len, 1000);
    mproc_queue_task_done(q);
    is_int(mproc_queue_join(q, 2000), 0,
           "%s: a producer killed waiting for room: join returns", backend);
    mproc_queue_free(q);
}

/* BoundedSemaphore(2): a holder killed after another process released
 * its unit (a hand-off) gives nothing back: 2 units at most. */
static void
test_bsem_handoff(const char *backend)
{
    mproc_sync_t *s = NULL;
    mproc_sem_t *sem;
    mproc_err_t err;
    pid_t c;
    int n = 0;

    if (mproc_sync_new(&s, backend, 0, &err) < 0 ||
        mproc_sem_new(s, 2, true, &sem, &err) < 0) {
        ok(0, "%s: a BoundedSemaphore: %s", backend, err.msg);
        mproc_sync_free(s);
        return;
    }
    if ((c = fork()) == 0) {
        mproc_sem_acquire(sem, -1);
        pause();
        _exit(0);
    }
    while (mproc_sem_get_value(sem) != 1)
        usleep(10000);
    mproc_sem_release(sem); /* the child's unit, handed back by us */
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    while (n < 4 && mproc_sem_acquire(sem, 300) >= 0)
        n++;
    is_int(n, 2, "%s: a BoundedSemaphore(2) gives 2 units, not 3", backend);
    mproc_sync_free(s);
}

/* Alive, and not a zombie waiting for a reaper. */
static bool
running(pid_t pid)
{
    char path[64], buf[256];
    FILE *f;
    bool zombie = false;

    if (kill(pid, 0) != 0)
        return false;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return false;
    while (fgets(buf, sizeof(buf), f) != NULL)
        if (strncmp(buf, "State:", 6) == 0)
            zombie = strchr(buf, 'Z') != NULL;
    fclose(f);
    return !zombie;
}

static int
idle(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t i,
     struct mproc_buf *out)
{
    (void)ctx;
    (void)in;
    (void)len;
    (void)i;
    (void)out;
    sleep(20);
    return 0;
}

/* A manager's owner SIGKILLed while a Process it started lives: the
 * server goes (the child held its lifeline and kept it up). */
static void
test_manager_lifeline(void)
{
    int pp[2], i;
    pid_t owner, info[2] = {0, 0};

    if (pipe(pp) < 0) {
        ok(0, "a pipe");
        return;
    }
    if ((owner = fork()) == 0) {
        struct mproc_process_opts po;
        mproc_manager_t *m;
        mproc_process_t *p;
        mproc_err_t err;

        if (mproc_manager_start(&m, NULL, &err) < 0)
            _exit(1);
        mproc_process_opts_init(&po);
        po.fn = idle;
        if (mproc_process_new(&p, &po, &err) < 0 ||
            mproc_process_start(p) < 0)
            _exit(1);
        info[0] = mproc_manager_pid(m);
        info[1] = mproc_process_pid(p);
        if (write(pp[1], info, sizeof(info)) != (ssize_t)sizeof(info))
            _exit(1);
        pause();
        _exit(0);
    }
    if (read(pp[0], info, sizeof(info)) != (ssize_t)sizeof(info)) {
        ok(0, "the owner started a manager and a Process");
        return;
    }
    kill(owner, SIGKILL);
    waitpid(owner, NULL, 0);
    for (i = 0; i < 60 && running(info[0]); i++)
        usleep(50000);
    ok(!running(info[0]), "a manager goes with its SIGKILLed owner, though "
                          "a Process of the owner's lives");
    kill(info[1], SIGKILL);
    kill(info[0], SIGKILL);
    close(pp[0]);
    close(pp[1]);
}

/* A broken barrier has nobody waiting at it (Python's n_waiting is 0):
 * it kept counting the parties that had left with MPROC_EBROKEN. */
static void
test_barrier_nwaiting(const char *backend)
{
    mproc_sync_t *s = NULL;
    mproc_barrier_t *b;
    mproc_err_t err;
    pid_t c[2];
    int i, st, broke = 0;

    if (mproc_sync_new(&s, backend, 0, &err) < 0 ||
        mproc_barrier_new(s, 3, &b, &err) < 0) {
        ok(0, "%s: a Barrier: %s", backend, err.msg);
        mproc_sync_free(s);
        return;
    }
    for (i = 0; i < 2; i++)
        if ((c[i] = fork()) == 0)
            _exit(mproc_barrier_wait(b, 10000) == MPROC_EBROKEN ? 0 : 1);
    for (i = 0; i < 200 && mproc_barrier_n_waiting(b) < 2; i++)
        usleep(10000);
    is_int((int)mproc_barrier_n_waiting(b), 2, "%s: two parties wait",
           backend);
    mproc_barrier_abort(b);
    for (i = 0; i < 2; i++) {
        waitpid(c[i], &st, 0);
        broke += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    is_int(broke, 2, "%s: abort: both leave with MPROC_EBROKEN", backend);
    is_int((int)mproc_barrier_n_waiting(b), 0,
           "%s: and n_waiting is 0 (it said 2)", backend);
    mproc_barrier_reset(b);
    is_int((int)mproc_barrier_n_waiting(b), 0, "%s: after reset: 0",
           backend);
    mproc_sync_free(s);
}

static bool
same_mask(const sigset_t *a)
{
    sigset_t now;
    int sig;

    sigprocmask(SIG_BLOCK, NULL, &now);
    for (sig = 1; sig < NSIG; sig++)
        if (sigismember(a, sig) != sigismember(&now, sig))
            return false;
    return true;
}

/* A handler without SA_RESTART ends a waiting get or recv with
 * MPROC_EINTR.  On shmring, a signal sent a round delay into the wait
 * (0.2 s) met the end of one of its 100 ms slices every time, where the
 * kernel reports the timeout and the handler runs unseen: the get went
 * on to its deadline.  Three tries each, two must see the signal (the
 * slices vary now; a loaded machine can still lose one at a slice's
 * end, which the header says). */
static volatile sig_atomic_t usr1;
static void
on_usr1(int sig)
{
    (void)sig;
    usr1 = 1;
}

static void
test_eintr_round_delay(const char *backend)
{
    struct sigaction sa, old;
    mproc_queue_t *q = NULL;
    mproc_pipe_t *a = NULL, *b = NULL;
    struct mproc_pipe_opts po;
    mproc_err_t err;
    char buf[8];
    size_t len;
    int k, t, seen[2] = {0, 0}, kept;
    pid_t me = getpid(), c;
    sigset_t before;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1; /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, &old);
    mproc_pipe_opts_init(&po);
    po.backend = backend;
    if (mproc_simple_queue_new(&q, backend, &err) < 0 ||
        mproc_pipe_new(&a, &b, &po, &err) < 0) {
        ok(0, "%s: a Queue and a Pipe: %s", backend, err.msg);
        goto out;
    }
    for (k = 0; k < 2; k++)
        for (t = 0; t < 3; t++) {
            usr1 = 0;
            if ((c = fork()) == 0) {
                usleep(200000);
                kill(me, SIGUSR1);
                _exit(0);
            }
            if ((k == 0 ? mproc_queue_get(q, buf, sizeof(buf), &len, 2000)
                        : mproc_pipe_recv(a, buf, sizeof(buf), &len, 2000)) ==
                    MPROC_EINTR &&
                usr1)
                seen[k]++;
            waitpid(c, NULL, 0);
        }
    /* The signals a wait holds between its sleeps are let go when it
     * returns, interrupted or timed out: the caller's mask is its own. */
    sigprocmask(SIG_BLOCK, NULL, &before);
    kept = mproc_queue_get(q, buf, sizeof(buf), &len, 150) ==
               MPROC_ETIMEDOUT &&
           same_mask(&before);
    ok(kept, "%s: the signal mask after a timed-out get is the caller's",
       backend);
    ok(seen[0] >= 2, "%s: a signal 0.2 s into a get: MPROC_EINTR (%d of 3)",
       backend, seen[0]);
    ok(seen[1] >= 2, "%s: a signal 0.2 s into a recv: MPROC_EINTR (%d of 3)",
       backend, seen[1]);
out:
    mproc_queue_free(q);
    mproc_pipe_free(a);
    mproc_pipe_free(b);
    sigaction(SIGUSR1, &old, NULL);
}


/* The sync objects' waits sleep in slices too: timed out or interrupted,
 * they leave the caller's signal mask as it was, and a signal in the
 * middle of an Event wait ends it. */
static void
test_sync_waits_mask(const char *backend)
{
    struct sigaction sa, old;
    mproc_sync_t *s = NULL;
    mproc_event_t *e;
    mproc_sem_t *sem;
    mproc_lock_t *l;
    mproc_err_t err;
    sigset_t mine;
    pid_t me = getpid(), c, h;
    int r;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1; /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, &old);
    if (mproc_sync_new(&s, backend, 0, &err) < 0 ||
        mproc_event_new(s, &e, &err) < 0 ||
        mproc_sem_new(s, 0, false, &sem, &err) < 0 ||
        mproc_lock_new(s, false, &l, &err) < 0) {
        ok(0, "%s: the objects: %s", backend, err.msg);
        goto out;
    }
    sigprocmask(SIG_BLOCK, NULL, &mine);
    r = mproc_event_wait(e, 120);
    ok(r == MPROC_ETIMEDOUT && same_mask(&mine),
       "%s: an Event wait times out with the caller's mask (%d)", backend, r);
    r = mproc_sem_acquire(sem, 120);
    ok(r == MPROC_ETIMEDOUT && same_mask(&mine),
       "%s: a Semaphore acquire times out with the caller's mask (%d)",
       backend, r);
    if ((h = fork()) == 0) {
        mproc_lock_acquire(l, -1);
        pause();
        _exit(0);
    }
    usleep(100000);
    r = mproc_lock_acquire(l, 120);
    ok(r == MPROC_ETIMEDOUT && same_mask(&mine),
       "%s: a Lock acquire times out with the caller's mask (%d)", backend,
       r);
    kill(h, SIGKILL);
    waitpid(h, NULL, 0);
    usr1 = 0;
    if ((c = fork()) == 0) {
        usleep(150000);
        kill(me, SIGUSR1);
        _exit(0);
    }
    r = mproc_event_wait(e, 3000);
    waitpid(c, NULL, 0);
    ok(r == MPROC_EINTR && usr1 && same_mask(&mine),
       "%s: a signal into an Event wait: MPROC_EINTR, the mask kept (%d)",
       backend, r);
out:
    mproc_sync_free(s);
    sigaction(SIGUSR1, &old, NULL);
}

/* Several threads, each in a get of its own Queue, each sent a signal of
 * its own at another moment: each get ends with MPROC_EINTR, and each
 * thread keeps its own mask (the hold between sleeps is per thread). */
#define EINTR_THREADS 4
struct eintr_thread {
    pthread_t t;
    mproc_queue_t *q;
    int r;
    bool kept;
};

static void *
eintr_thread_main(void *arg)
{
    struct eintr_thread *et = arg;
    sigset_t mine;
    char buf[8];
    size_t len;

    pthread_sigmask(SIG_BLOCK, NULL, &mine);
    et->r = mproc_queue_get(et->q, buf, sizeof(buf), &len, 5000);
    et->kept = same_mask(&mine);
    return NULL;
}

static void
test_eintr_threads(const char *backend)
{
    struct eintr_thread et[EINTR_THREADS];
    struct sigaction sa, old;
    mproc_err_t err;
    int i, good = 0, made = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1; /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, &old);
    memset(et, 0, sizeof(et));
    for (i = 0; i < EINTR_THREADS; i++) {
        if (mproc_simple_queue_new(&et[i].q, backend, &err) < 0 ||
            pthread_create(&et[i].t, NULL, eintr_thread_main, &et[i]) != 0)
            break;
        made++;
    }
    for (i = 0; i < made; i++) {
        usleep(60000);
        pthread_kill(et[i].t, SIGUSR1);
    }
    for (i = 0; i < made; i++) {
        pthread_join(et[i].t, NULL);
        good += et[i].r == MPROC_EINTR && et[i].kept;
    }
    for (i = 0; i < EINTR_THREADS; i++)
        mproc_queue_free(et[i].q);
    is_int(good, EINTR_THREADS,
           "%s: %d threads in gets, each signalled: each MPROC_EINTR, its "
           "own mask", backend, EINTR_THREADS);
    sigaction(SIGUSR1, &old, NULL);
}

/* A process polling a Queue's descriptor while another sleeps in a get:
 * the getter takes the first message, and the second, which nobody
 * takes, must still wake the poller.  The parent asked for the descriptor
 * before forking them (shmring: the getter inherited the parent's arming
 * and drained the doorbell and the eventfd the poller waited on, and the
 * poller slept with the message there: 7 of 10). */
#define POLLER_ROUNDS 8
static void
test_poller_beside_getter(const char *backend)
{
    mproc_queue_t *q = NULL;
    mproc_err_t err;
    pid_t a, b;
    int k, st, woke = 0;

    for (k = 0; k < POLLER_ROUNDS; k++) {
        if (mproc_simple_queue_new(&q, backend, &err) < 0) {
            ok(0, "%s: a Queue: %s", backend, err.msg);
            return;
        }
        mproc_queue_fileno(q);
        if ((a = fork()) == 0) {
            char buf[8];
            size_t len;

            _exit(mproc_queue_get(q, buf, sizeof(buf), &len, 3000) == 0
                      ? 0
                      : 1);
        }
        if ((b = fork()) == 0) {
            struct timespec t0, t;
            int i;

            clock_gettime(CLOCK_MONOTONIC, &t0);
            /* Readable at any moment, spurious or not; what counts is to
             * be readable once the second message is there. */
            for (i = 0; i < 1000; i++) {
                struct pollfd p = {.fd = mproc_queue_fileno(q),
                                   .events = POLLIN};

                if (poll(&p, 1, 2000) != 1)
                    _exit(1);
                clock_gettime(CLOCK_MONOTONIC, &t);
                if ((t.tv_sec - t0.tv_sec) * 1000 +
                        (t.tv_nsec - t0.tv_nsec) / 1000000 >
                    200)
                    _exit(0);
                usleep(1000);
            }
            _exit(2);
        }
        usleep(50000);
        mproc_queue_put(q, "m1", 2, -1);
        usleep(100000);
        mproc_queue_put(q, "m2", 2, -1);
        waitpid(b, &st, 0);
        woke += WIFEXITED(st) && WEXITSTATUS(st) == 0;
        waitpid(a, NULL, 0);
        mproc_queue_free(q);
        q = NULL;
    }
    is_int(woke, POLLER_ROUNDS, "%s: a poller beside a sleeping getter wakes for the "
                    "message the getter left", backend);
}

/* A handler that leaves a wait with siglongjmp (the old way to put a
 * timeout on a blocking call): the thread's mask is what the jump
 * restores, and the next waits hold nothing after they return. */
static sigjmp_buf jump;
static void
on_usr1_jump(int sig)
{
    (void)sig;
    siglongjmp(jump, 1);
}

static void
test_longjmp_out(const char *sync_backend, const char *ipc)
{
    struct sigaction sa, old;
    mproc_sync_t *s = NULL;
    mproc_event_t *e;
    mproc_queue_t *q = NULL;
    mproc_err_t err;
    sigset_t mine;
    char buf[8];
    size_t len;
    pid_t me = getpid();
    volatile pid_t c = -1;
    volatile int jumped = 0;
    int r;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1_jump;
    sigaction(SIGUSR1, &sa, &old);
    if (mproc_sync_new(&s, sync_backend, 0, &err) < 0 ||
        mproc_event_new(s, &e, &err) < 0 ||
        mproc_simple_queue_new(&q, ipc, &err) < 0) {
        ok(0, "%s/%s: the objects: %s", sync_backend, ipc, err.msg);
        goto out;
    }
    sigprocmask(SIG_BLOCK, NULL, &mine);
    if (sigsetjmp(jump, 1) == 0) {
        if ((c = fork()) == 0) {
            usleep(150000);
            kill(me, SIGUSR1);
            _exit(0);
        }
        mproc_event_wait(e, 3000);
    } else {
        jumped = 1;
    }
    waitpid(c, NULL, 0);
    ok(jumped && same_mask(&mine),
       "%s: out of an Event wait by siglongjmp: the caller's mask", sync_backend);
    r = mproc_queue_get(q, buf, sizeof(buf), &len, 120);
    ok(r == MPROC_ETIMEDOUT && same_mask(&mine),
       "%s/%s: then a get times out with the caller's mask (%d)",
       sync_backend, ipc, r);
out:
    mproc_queue_free(q);
    mproc_sync_free(s);
    sigaction(SIGUSR1, &old, NULL);
}

int
main(void)
{
    size_t i;

    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < 3; i++) {
        test_put_consumer_dies(ipcs[i]);
        test_send_receiver_dies(ipcs[i]);
    }
    for (i = 0; i < 3; i++)
        test_rlock_threads(syncs[i]);
    test_sysv_orphan();
    test_mistakes();
    for (i = 0; i < 3; i++) {
        test_erange_fork(ipcs[i]);
        test_jq_killed_putter(ipcs[i]);
        test_eintr_round_delay(ipcs[i]);
        test_event_pulse(syncs[i]);
        test_bsem_handoff(syncs[i]);
        test_barrier_nwaiting(syncs[i]);
        test_sync_waits_mask(syncs[i]);
    }
    for (i = 0; i < 3; i++) {
        test_eintr_threads(ipcs[i]);
        test_poller_beside_getter(ipcs[i]);
        test_longjmp_out(syncs[i], ipcs[i]);
    }
    test_manager_lifeline();
    return done_testing();
}

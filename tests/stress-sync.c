/* SPDX-License-Identifier: MIT */
/*
 * Stress: on every sync backend, worker processes use a Lock, a Semaphore,
 * an Event, a Condition and a Barrier at random while the parent SIGKILLs
 * one of them every few milliseconds, at whatever point it happens to be,
 * and starts another.  Checked: no live worker stops making progress (a
 * hang), every call returns a code its header documents (anything else is
 * reported by name), and once the killing stops every object still works:
 * the Lock and the Semaphore's units come back, set/notify/reset and a
 * full Barrier generation pass.  Bounded: about 3 s per backend.
 */
#include "config.h"

#include <errno.h>
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

#include "sync-test.h"
#include "tap.h"

#define NWORKERS 6
#define RUN_MS 3000
#define HANG_MS 4000

struct shared {
    _Atomic int stop;
    _Atomic long beat[NWORKERS]; /* progress of each worker */
    _Atomic int bad_code;        /* the first undocumented code seen */
    _Atomic int bad_op;
    _Atomic long ops;
    int64_t a, b; /* a == b whenever the lock is free */
    _Atomic int inside; /* holders of the lock at once */
    _Atomic int sem_inside;
};
static struct shared *sh;

static const char *const opname[] = {"lock", "semaphore", "event wait",
                                     "event set", "condition wait",
                                     "condition notify", "barrier"};

static void
bad(int op, int code)
{
    int none = 0;
    if (atomic_compare_exchange_strong(&sh->bad_code, &none, code))
        atomic_store(&sh->bad_op, op);
}

/* Codes the headers document for each call with a timeout. */
static void
expect(int op, int r, int a, int b, int c)
{
    if (r < 0 && r != a && r != b && r != c && r != MPROC_ETIMEDOUT)
        bad(op, r);
}

static void
worker(struct objs *o, int me, unsigned seed)
{
    mproc_lock_t *cl = mproc_cond_lock(o->c);
    int r;

    while (!atomic_load(&sh->stop)) {
        switch (rand_r(&seed) % 7) {
        case 0:
            r = mproc_lock_acquire(o->l, 100);
            expect(0, r, MPROC_EOWNERDEAD, 0, 0);
            if (r == 0 || r == MPROC_EOWNERDEAD) {
                if (r == MPROC_EOWNERDEAD)
                    sh->b = sh->a; /* repair what the dead holder left */
                if (atomic_fetch_add(&sh->inside, 1) != 0)
                    bad(0, -1000); /* two holders at once */
                if (sh->a != sh->b)
                    bad(0, -1001); /* a holder saw a torn update */
                sh->a++;
                sh->b++;
                atomic_fetch_sub(&sh->inside, 1);
                mproc_lock_release(o->l);
            }
            break;
        case 1:
            r = mproc_sem_acquire(o->sem, 100);
            expect(1, r, MPROC_EOWNERDEAD, 0, 0);
            if (r == 0 || r == MPROC_EOWNERDEAD) {
                if (atomic_fetch_add(&sh->sem_inside, 1) >= 3)
                    bad(1, -1002); /* more holders than units */
                atomic_fetch_sub(&sh->sem_inside, 1);
                mproc_sem_release(o->sem);
            }
            break;
        case 2:
            expect(2, mproc_event_wait(o->e, 20), 0, 0, 0);
            break;
        case 3:
            if (rand_r(&seed) % 2)
                mproc_event_set(o->e);
            else
                mproc_event_clear(o->e);
            break;
        case 4:
            r = mproc_lock_acquire(cl, 100);
            if (r == 0 || r == MPROC_EOWNERDEAD) {
                r = mproc_cond_wait(o->c, 20);
                expect(4, r, MPROC_EOWNERDEAD, 0, 0);
                mproc_lock_release(cl);
            }
            break;
        case 5:
            r = mproc_lock_acquire(cl, 100);
            if (r == 0 || r == MPROC_EOWNERDEAD) {
                expect(5, rand_r(&seed) % 2 ? mproc_cond_notify(o->c, 1)
                                            : mproc_cond_notify_all(o->c),
                       0, 0, 0);
                mproc_lock_release(cl);
            }
            break;
        default:
            r = mproc_barrier_wait(o->b, 30);
            expect(6, r, MPROC_EBROKEN, 0, 0);
            if (r == MPROC_EBROKEN && rand_r(&seed) % 4 == 0)
                mproc_barrier_reset(o->b);
            break;
        }
        atomic_fetch_add(&sh->beat[me], 1);
        atomic_fetch_add(&sh->ops, 1);
    }
    exit(0);
}

static pid_t
start(struct objs *o, int me, unsigned seed)
{
    pid_t pid = fork();
    if (pid == 0)
        worker(o, me, seed);
    return pid;
}

static void
stress(const char *backend)
{
    mproc_sync_t *s = NULL;
    struct objs o;
    pid_t pids[NWORKERS], p;
    long last[NWORKERS], kills = 0;
    struct timespec t0, seen[NWORKERS];
    unsigned seed = (unsigned)getpid();
    int i, hung = -1, r, k, rest = 0;

    memset(sh, 0, sizeof(*sh));
    if (mproc_sync_new(&s, backend, 0, NULL) != 0) {
        ok(0, "%s: arena", backend);
        return;
    }
    if (objs_new(s, &o, 3, 3) < 0) {
        ok(0, "%s: objects created", backend);
        mproc_sync_free(s);
        return;
    }

    for (i = 0; i < NWORKERS; i++) {
        pids[i] = start(&o, i, seed + (unsigned)i);
        last[i] = 0;
        clock_gettime(CLOCK_MONOTONIC, &seen[i]);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (ms_since(&t0) < RUN_MS && hung < 0) {
        usleep(2000 + (unsigned)(rand_r(&seed) % 8000));
        i = (int)(rand_r(&seed) % NWORKERS);
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
        kills++;
        pids[i] = start(&o, i, seed + (unsigned)kills * 7919u);
        last[i] = atomic_load(&sh->beat[i]);
        clock_gettime(CLOCK_MONOTONIC, &seen[i]);
        /* A worker that made no progress for HANG_MS is hung. */
        for (k = 0; k < NWORKERS; k++) {
            long b = atomic_load(&sh->beat[k]);
            if (b != last[k]) {
                last[k] = b;
                clock_gettime(CLOCK_MONOTONIC, &seen[k]);
            } else if (ms_since(&seen[k]) > HANG_MS) {
                hung = k;
            }
        }
    }
    atomic_store(&sh->stop, 1);
    for (i = 0; i < NWORKERS; i++)
        rest |= wait_exit_within(pids[i], HANG_MS) != 0;
    ok(hung < 0 && !rest, "%s: %ld kills over %ld ops; no worker hung",
       backend, kills, atomic_load(&sh->ops));
    r = atomic_load(&sh->bad_code);
    ok(r == 0, "%s: every call returned a documented code%s%s%s", backend,
       r ? " (not: " : "", r ? opname[atomic_load(&sh->bad_op)] : "",
       r ? ")" : "");
    if (r != 0)
        diag("%s: %s gave %d (%s)", backend, opname[atomic_load(&sh->bad_op)],
             r, r > -1000 ? mproc_err_name(r) : "invariant broken");

    /* Afterwards every object works. */
    r = mproc_lock_acquire(o.l, 3000);
    ok(r == 0 || r == MPROC_EOWNERDEAD, "%s: the lock is acquired (%s)",
       backend, r ? mproc_err_name(r) : "0");
    mproc_lock_release(o.l);
    for (i = 0, k = 0; i < 3; i++) {
        r = mproc_sem_acquire(o.sem, 3000);
        k += r == 0 || r == MPROC_EOWNERDEAD;
    }
    is_int(k, 3, "%s: the 3 semaphore units come back", backend);
    p = fork();
    if (p == 0) {
        mproc_event_set(o.e);
        mproc_barrier_reset(o.b);
        if (mproc_lock_acquire(mproc_cond_lock(o.c), 2000) < 0 &&
            mproc_lock_acquire(mproc_cond_lock(o.c), 0) != MPROC_EOWNERDEAD)
            _exit(1);
        mproc_cond_notify_all(o.c);
        mproc_lock_release(mproc_cond_lock(o.c));
        _exit(mproc_event_wait(o.e, 0) == 0 ? 0 : 1);
    }
    is_int(wait_exit_within(p, 3000), 0,
           "%s: event set, barrier reset and notify_all return", backend);
    for (i = 0; i < 3; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            _exit(mproc_barrier_wait(o.b, 3000) >= 0 ? 0 : 1);
    }
    for (i = 0, k = 0; i < 3; i++)
        k += wait_exit_within(pids[i], 4000) == 0;
    is_int(k, 3, "%s: a full barrier generation passes", backend);
    mproc_sync_free(s);
}

int
main(int argc, char **argv)
{
    const char *const *b;

    alarm(60);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    if (argc > 1)
        stress(argv[1]);
    else
        for (b = mproc_sync_backends(); *b != NULL; b++)
            stress(*b);
    ok(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "no child left");
    return done_testing();
}

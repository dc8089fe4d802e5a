/* SPDX-License-Identifier: MIT */
/*
 * Issue 16.6: every shared object works with every start method.  A
 * Queue (each IPC backend), a JoinableQueue, a Pipe end, a sync arena
 * with a Lock, RLock, Semaphore, Event, Condition, Barrier, Value and
 * Array (each sync backend), and a SharedMemory block are handed with
 * mproc_process_pass() to a child started by fork, spawn and forkserver;
 * the child (tests/plugins/pass.c) uses each as a forked child would,
 * and the parent sees what it did.  Also: the argument errors, and
 * mproc_set_executable() choosing the program spawn runs.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "tap.h"
#include "process-util.h"

static char plugin[4096];

/* A process running pass.so:TASK under `method`, with `obj` handed to it
 * (kind 0: nothing). */
static mproc_process_t *
child(const char *method, const char *task, int kind, void *obj,
      const char *in)
{
    const mproc_context_t *ctx;
    mproc_process_t *p;
    int r;

    if (mproc_get_context(method, &ctx, NULL) < 0)
        return NULL;
    p = make_process(plugin, task, NULL, in, false, ctx);
    if (p == NULL)
        return NULL;
    if (kind != 0 && (r = mproc_process_pass(p, kind, obj)) != 0) {
        diag("pass: %d %s", r, mproc_process_errmsg(p));
        done(p);
        return NULL;
    }
    if (mproc_process_start(p) < 0) {
        diag("start: %s", mproc_process_errmsg(p));
        done(p);
        return NULL;
    }
    return p;
}

/* Join p; its result into buf ("" on failure, with a diagnostic). */
static bool
finish(mproc_process_t *p, char *buf, size_t cap)
{
    const void *data;
    size_t n;
    int code = -1;

    buf[0] = '\0';
    if (p == NULL)
        return false;
    if (mproc_process_join(p, 30000) < 0 ||
        mproc_process_exitcode(p, &code) < 0 || code != 0 ||
        mproc_process_result(p, &data, &n) < 0) {
        diag("child: exit %d, %s", code,
             mproc_process_failure(p) ? mproc_process_failure(p) : "?");
        done(p);
        return false;
    }
    snprintf(buf, cap, "%.*s", (int)n, (const char *)data);
    done(p);
    return true;
}

static void
test_queue(const char *method, const char *backend)
{
    struct mproc_queue_opts o;
    mproc_queue_t *q = NULL;
    mproc_process_t *p;
    char buf[256], res[64];
    size_t n = 0;
    int r;

    mproc_queue_opts_init(&o);
    o.backend = backend;
    if (mproc_queue_new(&q, &o, NULL) < 0) {
        ok(0, "%s: queue on %s", method, backend);
        return;
    }
    p = child(method, "queue", MPROC_PASS_QUEUE, q, NULL);
    r = mproc_queue_put(q, "hello", 5, 10000);
    /* The child's reply after it ended: our get cannot take our own
     * message then. */
    ok(finish(p, res, sizeof(res)) && strcmp(res, backend) == 0,
       "%s: the child's Queue is on %s too", method, backend);
    if (r == 0)
        r = mproc_queue_get(q, buf, sizeof(buf) - 1, &n, 10000);
    buf[r == 0 ? n : 0] = '\0';
    is_str(buf, "got:hello", "%s: a Queue (%s) handed to the child works "
           "both ways", method, backend);
    mproc_queue_free(q);
}

static void
test_jqueue(const char *method, const char *backend)
{
    struct mproc_queue_opts o;
    mproc_queue_t *q = NULL;
    mproc_process_t *p;
    char res[64];
    int i, r = 0;

    mproc_queue_opts_init(&o);
    o.backend = backend;
    if (mproc_joinable_queue_new(&q, &o, NULL) < 0) {
        ok(0, "%s: joinable queue on %s", method, backend);
        return;
    }
    p = child(method, "jqueue", MPROC_PASS_QUEUE, q, NULL);
    for (i = 0; i < 5 && r == 0; i++)
        r = mproc_queue_put(q, "task", 4, 10000);
    if (r == 0)
        r = mproc_queue_put(q, "stop", 4, 10000);
    is_int(r == 0 ? mproc_queue_join(q, 30000) : r, 0,
           "%s: join returns once the child task_done'd all (%s)", method,
           backend);
    is_int(mproc_queue_unfinished(q), 0, "%s: nothing unfinished", method);
    ok(finish(p, res, sizeof(res)) && strcmp(res, "5") == 0,
       "%s: the child consumed 5 tasks", method);
    mproc_queue_free(q);
}

static void
test_pipe(const char *method, const char *backend)
{
    struct mproc_pipe_opts o;
    mproc_pipe_t *a = NULL, *b = NULL;
    mproc_process_t *p;
    char buf[256], res[64];
    size_t n = 0;
    int r;

    mproc_pipe_opts_init(&o);
    o.backend = backend;
    if (mproc_pipe_new(&a, &b, &o, NULL) < 0) {
        ok(0, "%s: pipe on %s", method, backend);
        return;
    }
    p = child(method, "pipe", MPROC_PASS_PIPE, b, NULL);
    r = mproc_pipe_send(a, "ping", 4, 10000);
    if (r == 0)
        r = mproc_pipe_recv(a, buf, sizeof(buf) - 1, &n, 10000);
    buf[r == 0 ? n : 0] = '\0';
    is_str(buf, "pong:ping", "%s: a Pipe end (%s) handed to the child",
           method, backend);
    ok(finish(p, res, sizeof(res)), "%s: the pipe child ends well", method);
    mproc_pipe_free(a);
    mproc_pipe_free(b);
}

static void
test_sync(const char *method, const char *backend)
{
    mproc_sync_t *s = NULL;
    mproc_lock_t *l = NULL, *rl = NULL;
    mproc_sem_t *sem = NULL;
    mproc_event_t *ev = NULL;
    mproc_cond_t *c = NULL;
    mproc_barrier_t *b = NULL;
    mproc_value_t *v = NULL, *a = NULL;
    mproc_process_t *p;
    int64_t x = -1, arr[4] = {-1, -1, -1, -1};
    char res[64];
    size_t i;
    int r;

    if (mproc_sync_new(&s, backend, 0, NULL) < 0 ||
        mproc_lock_new(s, false, &l, NULL) < 0 ||
        mproc_lock_new(s, true, &rl, NULL) < 0 ||
        mproc_sem_new(s, 0, false, &sem, NULL) < 0 ||
        mproc_event_new(s, &ev, NULL) < 0 ||
        mproc_cond_new(s, NULL, &c, NULL) < 0 ||
        mproc_barrier_new(s, 2, &b, NULL) < 0 ||
        mproc_value_new(s, MPROC_T_INT64, 1, true, &v, NULL) < 0 ||
        mproc_value_new(s, MPROC_T_INT64, 4, true, &a, NULL) < 0 ||
        mproc_sync_name(s, "lock", "l", l) < 0 ||
        mproc_sync_name(s, "rlock", "r", rl) < 0 ||
        mproc_sync_name(s, "semaphore", "s", sem) < 0 ||
        mproc_sync_name(s, "event", "e", ev) < 0 ||
        mproc_sync_name(s, "condition", "c", c) < 0 ||
        mproc_sync_name(s, "barrier", "b", b) < 0 ||
        mproc_sync_name(s, "value", "v", v) < 0 ||
        mproc_sync_name(s, "array", "a", a) < 0) {
        ok(0, "%s: a %s arena with every object", method, backend);
        mproc_sync_free(s);
        return;
    }
    mproc_lock_acquire(l, -1);
    p = child(method, "sync", MPROC_PASS_SYNC, s, NULL);
    is_int(mproc_event_wait(ev, 10000), 0,
           "%s/%s: the child set the Event", method, backend);
    is_int(mproc_sem_get_value(sem), 1, "%s/%s: released the Semaphore",
           method, backend);
    mproc_value_get_i64(v, 0, &x);
    is_int(x, 1, "%s/%s: added 1 to the Value", method, backend);
    for (i = 0; i < 4; i++)
        mproc_value_get_i64(a, i, &arr[i]);
    ok(arr[0] == 0 && arr[1] == 10 && arr[2] == 20 && arr[3] == 30,
       "%s/%s: filled the Array", method, backend);
    mproc_lock_release(l); /* the child waits for it */
    r = mproc_lock_acquire(mproc_cond_lock(c), 10000);
    while (r == 0 && (mproc_value_get_i64(v, 0, &x), x) != 2)
        r = mproc_cond_wait(c, 10000);
    if (r == 0)
        mproc_lock_release(mproc_cond_lock(c));
    is_int(r, 0, "%s/%s: the child notified the Condition", method, backend);
    ok(mproc_barrier_wait(b, 10000) >= 0, "%s/%s: both passed the Barrier",
       method, backend);
    ok(finish(p, res, sizeof(res)) && strcmp(res, "ok") == 0,
       "%s/%s: the child held the Lock while the parent did not, and "
       "found the RLock", method, backend);
    mproc_sync_free(s);
}

static void
test_shm(const char *method)
{
    mproc_shm_t *m = NULL;
    mproc_process_t *p;
    char res[256], want[256];

    if (mproc_shm_create(&m, NULL, 100, NULL) < 0) {
        ok(0, "%s: a shared memory block", method);
        return;
    }
    p = child(method, "shm", MPROC_PASS_SHM, m, "written by the child");
    ok(finish(p, res, sizeof(res)), "%s: the shm child ends well", method);
    snprintf(want, sizeof(want), "%s 100", mproc_shm_name(m));
    is_str(res, want, "%s: the child's block has the name and size", method);
    is_str((char *)mproc_shm_buf(m), "written by the child",
           "%s: what the child wrote is in our block", method);
    mproc_shm_unlink(m);
    mproc_shm_free(m);
}

static void
test_count(const char *method)
{
    mproc_queue_t *q = NULL;
    mproc_process_t *p = NULL;
    const mproc_context_t *ctx;
    char res[64], want[64];

    mproc_get_context(method, &ctx, NULL);
    mproc_simple_queue_new(&q, NULL, NULL);
    p = make_process(plugin, "count", NULL, NULL, false, ctx);
    is_int(mproc_process_pass(p, MPROC_PASS_QUEUE, q), 0, "%s: index 0",
           method);
    is_int(mproc_process_pass(p, MPROC_PASS_QUEUE, q), 1, "%s: index 1",
           method);
    mproc_process_start(p);
    ok(finish(p, res, sizeof(res)), "%s: the count child ends well", method);
    snprintf(want, sizeof(want), "2 %d %d", MPROC_EINVAL, MPROC_ENOENT);
    is_str(res, want, "%s: 2 objects; another kind is EINVAL, past the "
           "end ENOENT", method);
    mproc_queue_free(q);
}

static void
test_errors(void)
{
    mproc_process_t *p;
    mproc_queue_t *q = NULL;
    const mproc_context_t *ctx;
    void *o;
    int x = 0;

    mproc_get_context("spawn", &ctx, NULL);
    mproc_simple_queue_new(&q, NULL, NULL);
    p = make_process(plugin, "count", NULL, NULL, false, ctx);
    is_int(mproc_process_pass(p, 99, q), MPROC_EINVAL, "pass: unknown kind");
    is_int(mproc_process_pass(p, MPROC_PASS_QUEUE, NULL), MPROC_EINVAL,
           "pass: NULL object");
    mproc_queue_close(q);
    is_int(mproc_process_pass(p, MPROC_PASS_QUEUE, q), 0,
           "pass: a closed Queue is taken ...");
    is_int(mproc_process_start(p), MPROC_ECLOSED, "... and start says so");
    like_str(mproc_process_errmsg(p), "queue #0", "... naming the object");
    done(p);
    mproc_queue_free(q);

    p = child("fork", "count", 0, NULL, NULL);
    is_int(mproc_process_pass(p, MPROC_PASS_QUEUE, &x), MPROC_EBUSY,
           "pass after start: EBUSY");
    finish(p, (char[8]){0}, 8);
    is_int(mproc_process_passed(MPROC_PASS_QUEUE, 0, &o), MPROC_ENOENT,
           "passed in the main program: ENOENT");
    is_int(mproc_process_npassed(), 0, "npassed in the main program: 0");
}

/* spawn runs the program set_executable names: a wrapper script that
 * leaves a mark, then execs the real worker. */
static void
test_executable(void)
{
    char dir[] = "/tmp/mproc-exe-XXXXXX", script[128], mark[128], res[64];
    const char *worker = mproc_get_executable();
    mproc_err_t err;
    FILE *f;

    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp");
        return;
    }
    snprintf(script, sizeof(script), "%s/worker.sh", dir);
    snprintf(mark, sizeof(mark), "%s/mark", dir);
    f = fopen(script, "w");
    fprintf(f, "#!/bin/sh\necho ran >'%s'\nexec '%s' \"$@\"\n", mark, worker);
    fclose(f);
    is_int(mproc_set_executable(script, &err), MPROC_EACCES,
           "set_executable: a file that is not executable");
    like_str(err.msg, "not executable", "... says so");
    chmod(script, 0700);
    is_int(mproc_set_executable(script, &err), 0, "set_executable: a wrapper");
    is_str(mproc_get_executable(), script, "get_executable names it");
    ok(finish(child("spawn", "count", 0, NULL, NULL), res, sizeof(res)),
       "a spawned child runs through it");
    ok(access(mark, F_OK) == 0, "the wrapper ran");
    mproc_set_executable(NULL, NULL);
    is_str(mproc_get_executable(), worker, "NULL restores the default");
    unlink(mark);
    unlink(script);
    rmdir(dir);
}

int
main(void)
{
    static const char *const methods[] = {"fork", "spawn", "forkserver"};
    const char *dir = getenv("MPROC_TEST_PLUGINS");
    size_t i, k;

    alarm(300);
    snprintf(plugin, sizeof(plugin), "%s/pass.so", dir ? dir : "tests/.libs");
    for (i = 0; i < 3; i++) {
        const char *m = methods[i];
        for (k = 0; mproc_ipc_backends()[k] != NULL; k++) {
            test_queue(m, mproc_ipc_backends()[k]);
            test_jqueue(m, mproc_ipc_backends()[k]);
            test_pipe(m, mproc_ipc_backends()[k]);
        }
        for (k = 0; mproc_sync_backends()[k] != NULL; k++)
            test_sync(m, mproc_sync_backends()[k]);
        test_shm(m);
        test_count(m);
    }
    test_errors();
    test_executable();
    return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * The Manager over real connections (CPython's _TestManagerRestart,
 * _TestRemoteManager, _TestContainers across processes): start and
 * shutdown leave no process, socket or folder; clients in other
 * processes share objects and block on them; a wrong authkey is refused
 * within a second while the right one is served; 1,000 clients come and
 * go while others work; a SIGKILLed Lock holder makes the next acquirer
 * see owner-died within a second; garbage and oversized messages drop
 * only their sender; spawn and tcp: work too.
 *
 * Helpers are this program re-run (`test-manager holder ADDR KEY`), so
 * that they are processes of their own, not forks of the test.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/connection.h>
#include <mproc/manager.h>
#include <mproc/shared.h>

#include "tap.h"

extern char **environ;
static const char *self; /* this program, for helpers */

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The path of a unix: address, or NULL. */
static const char *
sock_path(const char *addr)
{
    return strncmp(addr, "unix:", 5) == 0 && addr[5] != '@' ? addr + 5 : NULL;
}

static int
connect_(mproc_manager_t *m, mproc_manager_t **out)
{
    size_t kl;
    const void *k = mproc_manager_authkey(m, &kl);
    mproc_err_t err;
    int r = mproc_manager_connect(out, mproc_manager_address(m), k, kl, &err);
    if (r < 0)
        diag("connect: %s", err.msg);
    return r;
}

/* ---- helper modes (a process of their own) ---- */

static int
hexkey(const char *hex, unsigned char *key, size_t *len)
{
    size_t n = strlen(hex) / 2, i;
    unsigned v;

    for (i = 0; i < n; i++) {
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        key[i] = (unsigned char)v;
    }
    *len = n;
    return 0;
}

/* holder ADDR HEXKEY: take the Lock "L", say so on stdout, wait to die. */
static int
helper_holder(const char *addr, const char *hex)
{
    unsigned char key[64];
    size_t kl;
    mproc_manager_t *m;
    mproc_mobj_t *l;
    mproc_err_t err;

    if (hexkey(hex, key, &kl) < 0 ||
        mproc_manager_connect(&m, addr, key, kl, &err) < 0 ||
        mproc_manager_lock(m, "L", false, &l) < 0 ||
        mproc_mlock_acquire(l, 5000) < 0)
        return 2;
    printf("held\n");
    fflush(stdout);
    for (;;)
        pause();
}

/* getter ADDR HEXKEY: wait for ever on the Queue "q". */
static int
helper_getter(const char *addr, const char *hex)
{
    unsigned char key[64];
    size_t kl, len;
    const void *p;
    mproc_manager_t *m;
    mproc_mobj_t *q;
    mproc_err_t err;

    if (hexkey(hex, key, &kl) < 0 ||
        mproc_manager_connect(&m, addr, key, kl, &err) < 0 ||
        mproc_manager_queue(m, "q", 0, false, &q) < 0)
        return 2;
    printf("waiting\n");
    fflush(stdout);
    return mproc_mqueue_get(q, -1, &p, &len) == 0 ? 0 : 3;
}

/* Run this program as `test-manager MODE ARGS...`; stdout to a pipe. */
static pid_t
helper(char *const argv[], int *out)
{
    posix_spawn_file_actions_t fa;
    int p[2];
    pid_t pid;

    if (pipe(p) < 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    if (posix_spawn(&pid, self, &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    *out = p[0];
    return pid;
}

static void
hex(const void *k, size_t kl, char *out)
{
    size_t i;
    for (i = 0; i < kl; i++)
        sprintf(out + 2 * i, "%02x", ((const unsigned char *)k)[i]);
}

/* ---- tests ---- */

static void
test_start_shutdown(void)
{
    mproc_manager_t *m = NULL;
    mproc_err_t err;
    struct stat sb;
    char path[4200], dir[4200];
    const char *sp;
    pid_t pid;
    int r;

    r = mproc_manager_start(&m, NULL, &err);
    is_int(r, 0, "start: a manager with an automatic address");
    if (r < 0) {
        diag("%s", err.msg);
        return;
    }
    sp = sock_path(mproc_manager_address(m));
    ok(sp != NULL, "start: the automatic address is unix:PATH (%s)",
       mproc_manager_address(m));
    snprintf(path, sizeof(path), "%s", sp ? sp : "");
    snprintf(dir, sizeof(dir), "%s", path);
    if (strrchr(dir, '/') != NULL)
        *strrchr(dir, '/') = '\0';
    ok(stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode), "start: socket exists");
    ok(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700,
       "start: in a private 0700 folder");
    pid = mproc_manager_pid(m);
    ok(pid > 0 && kill(pid, 0) == 0, "start: the server runs");
    is_int(mproc_manager_shutdown(m), 0, "shutdown");
    ok(kill(pid, 0) < 0 && errno == ESRCH, "shutdown: no process is left");
    ok(stat(path, &sb) < 0 && errno == ENOENT, "shutdown: no socket file");
    ok(stat(dir, &sb) < 0 && errno == ENOENT, "shutdown: no folder");
    mproc_manager_free(m);

    /* A bad start method and an address already served. */
    {
        struct mproc_manager_opts o;
        mproc_manager_opts_init(&o);
        o.start_method = "teleport";
        is_int(mproc_manager_start(&m, &o, &err), MPROC_ENOTSUP,
               "start: an unknown start method is ENOTSUP");
        o.start_method = NULL;
        o.address = "tcp:192.0.2.1:1";
        ok(mproc_manager_start(&m, &o, &err) < 0,
           "start: an address that cannot be bound fails: %s", err.msg);
    }
}

/* The tutorial's Manager example: a child changes a dict and a list. */
static void
test_tutorial(mproc_manager_t *m)
{
    mproc_mobj_t *d, *l, *cd, *cl;
    mproc_manager_t *c;
    const void *v;
    size_t vl;
    char s[16];
    int i, st;
    pid_t pid;

    mproc_manager_dict(m, "d", &d);
    mproc_manager_list(m, "l", &l);
    for (i = 0; i < 10; i++) {
        snprintf(s, sizeof(s), "%d", i);
        mproc_mlist_append(l, s, strlen(s));
    }
    pid = fork();
    if (pid == 0) {
        /* A forked child connects anew (never its parent's connection). */
        if (connect_(m, &c) < 0 || mproc_manager_find(c, "d", &cd) < 0 ||
            mproc_manager_find(c, "l", &cl) < 0 ||
            mproc_mdict_set(cd, "1", 1, "1", 1) < 0 ||
            mproc_mdict_set(cd, "2", 1, "2", 1) < 0 ||
            mproc_mdict_set(cd, "0.25", 4, "None", 4) < 0 ||
            mproc_mlist_reverse(cl) < 0)
            _exit(1);
        mproc_mobj_free(cd);
        mproc_mobj_free(cl);
        mproc_manager_free(c);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tutorial: the child ran");
    is_int((int)mproc_mdict_len(d), 3, "tutorial: the dict has 3 keys");
    ok(mproc_mdict_get(d, "0.25", 4, &v, &vl) == 0 && vl == 4 &&
           memcmp(v, "None", 4) == 0,
       "tutorial: the child's value is seen");
    ok(mproc_mlist_get(l, 0, &v, &vl) == 0 && vl == 1 &&
           memcmp(v, "9", 1) == 0,
       "tutorial: the list was reversed");
    mproc_mobj_free(d);
    mproc_mobj_free(l);
}

static void
test_auth(mproc_manager_t *m)
{
    mproc_manager_t *c = NULL;
    mproc_mobj_t *d;
    mproc_err_t err;
    int64_t t0 = now_ms();
    int r = mproc_manager_connect(&c, mproc_manager_address(m), "wrong", 5,
                                  &err);

    is_int(r, MPROC_EAUTH, "auth: a wrong authkey is MPROC_EAUTH");
    ok(now_ms() - t0 < 1000, "auth: refused within a second (%lld ms)",
       (long long)(now_ms() - t0));
    ok(connect_(m, &c) == 0, "auth: the right key is still served");
    ok(c != NULL && mproc_manager_dict(c, "d", &d) == 0 &&
           mproc_mdict_len(d) == 3,
       "auth: and works");
    if (c != NULL) {
        mproc_mobj_free(d);
        mproc_manager_free(c);
    }
}

static void
test_owner_died(mproc_manager_t *m)
{
    mproc_mobj_t *l;
    char hx[200], buf[16];
    size_t kl;
    const void *k = mproc_manager_authkey(m, &kl);
    char *argv[] = {"test-manager", "holder",
                    (char *)mproc_manager_address(m), hx, NULL};
    int fd = -1, st;
    ssize_t n;
    pid_t pid;
    int64_t t0;

    hex(k, kl, hx);
    mproc_manager_lock(m, "L", false, &l);
    pid = helper(argv, &fd);
    n = read(fd, buf, sizeof(buf));
    close(fd);
    ok(n == 5 && memcmp(buf, "held\n", 5) == 0,
       "owner-died: another process holds the Lock");
    is_int(mproc_mlock_acquire(l, 0), MPROC_ETIMEDOUT,
           "owner-died: held, so a try fails");
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    t0 = now_ms();
    is_int(mproc_mlock_acquire(l, 5000), MPROC_EOWNERDEAD,
           "owner-died: the next acquirer gets MPROC_EOWNERDEAD");
    ok(now_ms() - t0 < 1000, "owner-died: within a second (%lld ms)",
       (long long)(now_ms() - t0));
    is_int(mproc_mlock_release(l), 0, "owner-died: and holds it");
    is_int(mproc_mlock_acquire(l, 0), 0, "owner-died: said once");
    mproc_mlock_release(l);
    mproc_mobj_free(l);
}

/* Two workers count through a Value while 1,000 clients come and go. */
static void
test_churn(mproc_manager_t *m)
{
    mproc_mobj_t *v, *l;
    mproc_manager_t *c;
    pid_t w[2];
    int i, k, st, bad = 0;
    int64_t total = -1;

    mproc_manager_value(m, "count", MPROC_T_INT64, &v);
    mproc_manager_list(m, "churn", &l);
    for (k = 0; k < 2; k++) {
        w[k] = fork();
        if (w[k] == 0) {
            mproc_mobj_t *cv;
            if (connect_(m, &c) < 0 ||
                mproc_manager_find(c, "count", &cv) < 0)
                _exit(1);
            for (i = 0; i < 2000; i++)
                if (mproc_marray_add_i64(cv, 0, 1, NULL) < 0)
                    _exit(1);
            mproc_mobj_free(cv);
            mproc_manager_free(c);
            _exit(0);
        }
    }
    for (i = 0; i < 1000; i++) {
        mproc_mobj_t *cl;
        if (connect_(m, &c) < 0) {
            bad++;
            continue;
        }
        if (mproc_manager_find(c, "churn", &cl) < 0 ||
            mproc_mlist_append(cl, &i, sizeof(i)) < 0)
            bad++;
        mproc_mobj_free(cl);
        mproc_manager_free(c);
    }
    is_int(bad, 0, "churn: 1,000 clients connected, appended and left");
    for (k = 0; k < 2; k++) {
        waitpid(w[k], &st, 0);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
           "churn: worker %d ran meanwhile", k);
    }
    is_int((int)mproc_mlist_len(l), 1000, "churn: no append lost");
    mproc_marray_get_i64(v, 0, &total);
    is_int((int)total, 4000, "churn: no increment lost");
    mproc_mobj_free(v);
    mproc_mobj_free(l);
}

/* Blocking calls across processes: Queue, Event, Condition, Barrier. */
static void
test_blocking(mproc_manager_t *m)
{
    mproc_mobj_t *q, *e, *b, *cv;
    mproc_manager_t *c;
    const void *p;
    size_t len;
    pid_t pid;
    int st, r;

    mproc_manager_queue(m, "jq", 0, true, &q);
    mproc_manager_event(m, "ev", &e);
    mproc_manager_barrier(m, "bar", 2, &b);
    mproc_manager_condition(m, "cv", NULL, &cv);
    pid = fork();
    if (pid == 0) {
        mproc_mobj_t *cq, *ce, *cb, *cc;
        if (connect_(m, &c) < 0 || mproc_manager_find(c, "jq", &cq) < 0 ||
            mproc_manager_find(c, "ev", &ce) < 0 ||
            mproc_manager_find(c, "bar", &cb) < 0 ||
            mproc_manager_find(c, "cv", &cc) < 0)
            _exit(1);
        /* Wait for the item, mark it done, meet at the barrier, notify. */
        if (mproc_mqueue_get(cq, 5000, &p, &len) != 0 || len != 5)
            _exit(2);
        usleep(50000);
        if (mproc_mqueue_task_done(cq) != 0)
            _exit(3);
        if (mproc_mbarrier_wait(cb, 5000) < 0)
            _exit(4);
        if (mproc_mevent_wait(ce, 5000) != 0)
            _exit(5);
        if (mproc_mcond_acquire(cc, 5000) != 0 ||
            mproc_mcond_notify(cc, 1) != 0 || mproc_mcond_release(cc) != 0)
            _exit(6);
        mproc_mobj_free(cq);
        mproc_mobj_free(ce);
        mproc_mobj_free(cb);
        mproc_mobj_free(cc);
        mproc_manager_free(c);
        _exit(0);
    }
    usleep(100000);
    is_int(mproc_mqueue_put(q, "hello", 5, -1), 0, "queue: put for a getter "
           "in another process");
    is_int(mproc_mqueue_join(q, 5000), 0,
           "joinable: join returns after its task_done");
    r = mproc_mbarrier_wait(b, 5000);
    ok(r == 0 || r == 1, "barrier: two processes pass (index %d)", r);
    is_int(mproc_mcond_acquire(cv, 5000), 0, "cond: acquire");
    mproc_mevent_set(e);
    is_int(mproc_mcond_wait(cv, 5000), 0,
           "cond: notified by the other process");
    mproc_mcond_release(cv);
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "blocking: the other side "
       "saw everything (status %d)", WEXITSTATUS(st));
    is_int(mproc_mqueue_get(q, 50, &p, &len), MPROC_ETIMEDOUT,
           "queue: a timed get on empty times out");
    mproc_mobj_free(q);
    mproc_mobj_free(e);
    mproc_mobj_free(b);
    mproc_mobj_free(cv);
}

/* A client that sends garbage or too much is dropped; others go on. */
static void
test_misbehaving(void)
{
    struct mproc_manager_opts o;
    mproc_manager_t *m = NULL;
    mproc_conn_t *raw = NULL;
    mproc_mobj_t *d;
    mproc_err_t err;
    size_t kl, len;
    const void *k;
    char *big;
    void *buf = NULL;

    mproc_manager_opts_init(&o);
    o.max_message = 4096;
    if (mproc_manager_start(&m, &o, &err) < 0) {
        diag("%s", err.msg);
        return;
    }
    k = mproc_manager_authkey(m, &kl);
    mproc_manager_dict(m, NULL, &d);
    ok(mproc_client_connect(&raw, mproc_manager_address(m), k, kl, 5000,
                            NULL, &err) == 0,
       "garbage: a raw client connects");
    mproc_conn_send_bytes(raw, "garbage!garbage!", 16, 1000);
    is_int(mproc_conn_recv_alloc(raw, &buf, &len, 5000), MPROC_EPIPE,
           "garbage: the server drops it");
    mproc_conn_free(raw);
    is_int(mproc_mdict_set(d, "k", 1, "v", 1), 0,
           "garbage: the others go on");
    big = calloc(1, 100000);
    is_int(mproc_mdict_set(d, "k", 1, big, 100000), MPROC_EMSGSIZE,
           "huge: a request over the server's limit: MPROC_EMSGSIZE");
    is_int(mproc_mdict_set(d, "k", 1, "w", 1), 0,
           "huge: the connection stays usable");
    mproc_mobj_free(d);
    mproc_manager_free(m);
    free(big);
}

/* Custom types (fork: by pointer). */
static int
h_create(void **state, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    *state = calloc(4, sizeof(uint64_t));
    return *state ? 0 : MPROC_ENOMEM;
}

static int
h_add(void *state, const void *arg, size_t len, struct mproc_buf *out)
{
    uint64_t *h = state;
    unsigned char b = len == 1 ? *(const unsigned char *)arg : 255;

    if (b >= 4)
        return mproc_buf_append(out, "bucket 0 to 3", 13), MPROC_EINVAL;
    h[b]++;
    return mproc_buf_append(out, &h[b], sizeof(h[b]));
}

static const struct mproc_mmethod h_methods[] = {{"add", h_add},
                                                 {NULL, NULL}};
static const struct mproc_mtype h_type = {"hist", h_create, free, h_methods};
static const struct mproc_mtype *const h_types[] = {&h_type, NULL};

static void
test_custom(void)
{
    struct mproc_manager_opts o;
    mproc_manager_t *m;
    mproc_mobj_t *x;
    mproc_err_t err;
    const void *out;
    size_t len;
    uint64_t n = 0;

    mproc_manager_opts_init(&o);
    o.types = h_types;
    if (mproc_manager_start(&m, &o, &err) < 0) {
        diag("%s", err.msg);
        return;
    }
    is_int(mproc_manager_custom(m, "h", "hist", NULL, 0, &x), 0,
           "custom: an object of a registered type");
    mproc_manager_call(x, "add", "\2", 1, &out, &len);
    is_int(mproc_manager_call(x, "add", "\2", 1, &out, &len), 0,
           "custom: a method call");
    if (len == 8)
        memcpy(&n, out, 8);
    is_int((int)n, 2, "custom: its output");
    is_int(mproc_manager_call(x, "add", "\7", 1, &out, &len), MPROC_EINVAL,
           "custom: the method's error");
    ok(strstr(mproc_manager_errmsg(m), "bucket 0 to 3") != NULL,
       "custom: with its message: %s", mproc_manager_errmsg(m));
    is_int(mproc_manager_call(x, "nope", NULL, 0, NULL, NULL), MPROC_ENOENT,
           "custom: an unknown method is ENOENT");
    {
        mproc_mobj_t *y;
        is_int(mproc_manager_custom(m, NULL, "nosuch", NULL, 0, &y),
               MPROC_ENOENT, "custom: an unknown type is ENOENT");
    }
    mproc_mobj_free(x);
    mproc_manager_free(m);
    o.start_method = "spawn";
    is_int(mproc_manager_start(&m, &o, &err), MPROC_ENOTSUP,
           "custom: types by pointer need fork");
}

static void
test_spawn_tcp(void)
{
    struct mproc_manager_opts o;
    mproc_manager_t *m = NULL, *c;
    mproc_mobj_t *d, *cd;
    mproc_err_t err;
    const void *v;
    size_t vl;
    pid_t pid;
    int st, r;

    mproc_manager_opts_init(&o);
    o.start_method = "spawn";
    o.address = "tcp:127.0.0.1:0";
    o.authkey = "sesame";
    o.authkey_len = 6;
    r = mproc_manager_start(&m, &o, &err);
    is_int(r, 0, "spawn+tcp: a spawned server on tcp:127.0.0.1");
    if (r < 0) {
        diag("%s", err.msg);
        return;
    }
    ok(strncmp(mproc_manager_address(m), "tcp:127.0.0.1:", 14) == 0 &&
           strcmp(mproc_manager_address(m), "tcp:127.0.0.1:0") != 0,
       "spawn+tcp: the address has the port chosen (%s)",
       mproc_manager_address(m));
    mproc_manager_dict(m, "d", &d);
    pid = fork();
    if (pid == 0) {
        if (connect_(m, &c) < 0 || mproc_manager_find(c, "d", &cd) < 0 ||
            mproc_mdict_set(cd, "from", 4, "child", 5) < 0)
            _exit(1);
        mproc_mobj_free(cd);
        mproc_manager_free(c);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    ok(mproc_mdict_get(d, "from", 4, &v, &vl) == 0 && vl == 5,
       "spawn+tcp: shared with another process");
    {
        /* A waiter killed while its get is parked must not take the
         * next item with it (tcp: tells a close by POLLRDHUP only). */
        char hx[200], buf[16];
        size_t kl;
        const void *k = mproc_manager_authkey(m, &kl);
        char *argv[] = {"test-manager", "getter",
                        (char *)mproc_manager_address(m), hx, NULL};
        mproc_mobj_t *q;
        int fd = -1;
        ssize_t n;

        hex(k, kl, hx);
        mproc_manager_queue(m, "q", 0, false, &q);
        pid = helper(argv, &fd);
        n = read(fd, buf, sizeof(buf));
        close(fd);
        usleep(200000); /* its get is parked by now */
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        usleep(200000);
        mproc_mqueue_put(q, "x", 1, -1);
        ok(n == 8 && mproc_mqueue_qsize(q) == 1,
           "tcp: a killed parked getter does not swallow the next item");
        mproc_mobj_free(q);
    }
    pid = mproc_manager_pid(m);
    mproc_mobj_free(d);
    mproc_manager_free(m);
    ok(kill(pid, 0) < 0, "spawn+tcp: no process left after free");
}

static void
test_server_gone(void)
{
    mproc_manager_t *m, *c;
    mproc_mobj_t *d;
    mproc_err_t err;

    if (mproc_manager_start(&m, NULL, &err) < 0)
        return;
    connect_(m, &c);
    mproc_manager_dict(c, NULL, &d);
    mproc_manager_shutdown(m);
    is_int(mproc_mdict_len(d), MPROC_EPIPE,
           "gone: calls after the server left are EPIPE");
    is_int(mproc_mdict_len(d), MPROC_EPIPE, "gone: every later call too");
    mproc_mobj_free(d);
    mproc_manager_free(c);
    mproc_manager_free(m);
}

int
main(int argc, char **argv)
{
    mproc_manager_t *m;
    mproc_err_t err;

    /* argv[0], not /proc/self/exe: under valgrind that is valgrind. */
    self = strchr(argv[0], '/') != NULL ? argv[0] : "/proc/self/exe";
    if (argc == 4 && strcmp(argv[1], "holder") == 0)
        return helper_holder(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "getter") == 0)
        return helper_getter(argv[2], argv[3]);
    alarm(60);
    signal(SIGPIPE, SIG_IGN);
    plan(57);
    test_start_shutdown();
    if (mproc_manager_start(&m, NULL, &err) < 0) {
        diag("%s", err.msg);
        return 1;
    }
    test_tutorial(m);
    test_auth(m);
    test_owner_died(m);
    test_churn(m);
    test_blocking(m);
    mproc_manager_free(m);
    test_misbehaving();
    test_custom();
    test_spawn_tcp();
    test_server_gone();
    return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * What a stranger's pass over the Pool and Process APIs found (session
 * of 2026-11-30), each case as the stranger wrote it:
 *  - a pool started in a pool's worker hung from its second use on: a
 *    daemon process may start no pool (MPROC_EPERM), as in Python;
 *  - opts.retries did not run a function task again after its own
 *    failure (only after its worker died);
 *  - apply_async(NULL, 5) and a starmap argument list of NULL crashed;
 *  - a function pool with spawn said EINVAL (the man page: ENOTSUP), and
 *    a misspelt start method pointed at plugins;
 *  - terminate of a pool worker's handle said "not a started child";
 *  - a failing map input did not say where; a result_max failure ended
 *    in ": "; a function pool's initializer was "plugin (in-process)";
 *  - a task's helper process outlived the pool's SIGKILLed owner;
 *  - with SIGCHLD ignored a child that exited 9 read as exit code 0
 *    (last: the test ignores SIGCHLD from there on).
 */
#include "config.h"

#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "tap.h"

static char flagdir[64];

static mproc_apool_t *
pool(unsigned workers, unsigned retries)
{
    struct mproc_pool_opts o;
    mproc_apool_t *p = NULL;
    mproc_err_t err;

    mproc_pool_opts_init(&o);
    o.workers = workers;
    o.retries = retries;
    if (getenv("MPROC_TEST_IPC") != NULL)
        o.ipc = getenv("MPROC_TEST_IPC");
    if (mproc_apool_new(&p, &o, &err) < 0) {
        diag("mproc_apool_new: %s", err.msg);
        return NULL;
    }
    return p;
}

static void
pool_end(mproc_apool_t *p)
{
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
}

static int
echo(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t i,
     struct mproc_buf *out)
{
    (void)ctx;
    (void)i;
    return mproc_buf_append(out, in, len);
}

/* ---- a pool in a pool's worker ---- */

static int
nested(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t i,
       struct mproc_buf *out)
{
    struct mproc_pool_opts o;
    mproc_apool_t *p;
    mproc_err_t err;
    int r;

    (void)in;
    (void)len;
    (void)i;
    mproc_pool_opts_init(&o);
    o.workers = 1;
    r = mproc_apool_new(&p, &o, &err);
    if (r == 0) {
        mproc_apool_free(p);
        return mproc_buf_printf(out, "made a pool");
    }
    return mproc_buf_printf(out, "%d %s", r, err.msg);
}

static void
test_nested(void)
{
    mproc_apool_t *p = pool(1, 0);
    int k;

    for (k = 0; k < 3; k++) {
        mproc_async_t *ar = NULL;
        const struct mproc_result *r = NULL;
        char want[16];
        int st = p ? mproc_apool_apply(p, nested, "", 0, &ar) : -1;

        if (ar != NULL)
            mproc_async_get(ar, 0, &r, NULL);
        snprintf(want, sizeof(want), "%d ", MPROC_EPERM);
        ok(st == 0 && r != NULL && r->len > strlen(want) &&
               memcmp(r->data, want, strlen(want)) == 0,
           "a pool in a worker, call %d: refused with MPROC_EPERM at once",
           k + 1);
        if (k == 0 && r != NULL)
            like_str(r->data, "daemon process",
                     "and the message says a daemon may not start one");
        mproc_async_free(ar);
    }
    if (p != NULL)
        pool_end(p);
}

/* ---- opts.retries with function tasks ---- */

/* Fails until the file "FLAGDIR/ITEM.N" for its n-th run exists; each
 * run makes the next one.  Item "0" always fails. */
static int
flaky(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t i,
      struct mproc_buf *out)
{
    char path[128];
    int n, fd;

    (void)i;
    for (n = 1;; n++) {
        snprintf(path, sizeof(path), "%s/%.*s.%d", flagdir, (int)len,
                 (const char *)in, n);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd >= 0)
            break;
    }
    close(fd);
    if (len == 1 && ((const char *)in)[0] == '0')
        return mproc_fail(ctx, "always fails (run %d)", n);
    if (n < 2)
        return mproc_fail(ctx, "first run fails");
    return mproc_buf_printf(out, "ok after %d", n);
}

static void
test_retries(void)
{
    mproc_apool_t *p = pool(2, 2);
    mproc_async_t *ar = NULL;
    const struct mproc_result *r = NULL;
    struct mproc_item items[4] = {{"a", 1}, {"0", 1}, {"b", 1}, {"c", 1}};
    struct mproc_input in = {.items = items, .n = 4};
    size_t n = 0;
    int st;

    if (p == NULL) {
        ok(0, "retries: a pool");
        return;
    }
    st = mproc_apool_apply(p, flaky, "x", 1, &ar);
    if (ar != NULL)
        mproc_async_get(ar, 0, &r, NULL);
    ok(st == 0 && r != NULL && r->status == 0,
       "retries 2: a task failing once succeeds on its second run");
    ok(r != NULL && r->attempts == 2, "and its result says 2 attempts (%u)",
       r ? r->attempts : 0);
    mproc_async_free(ar);
    ar = NULL;
    st = mproc_apool_map(p, flaky, &in, NULL, &ar);
    if (ar != NULL)
        mproc_async_get(ar, 0, &r, &n);
    ok(n == 4 && r[0].status == 0 && r[2].status == 0 && r[3].status == 0,
       "map with retries 2: the flaky items succeed");
    ok(n == 4 && r[1].status == MPROC_ETASK && r[1].attempts == 3,
       "an item that always fails: MPROC_ETASK after 3 runs (%u)",
       n == 4 ? r[1].attempts : 0);
    if (n == 4)
        like_str(r[1].message, "always fails (run 3)",
                 "its message is the last run's");
    is_int(st, MPROC_ETASK, "map: the call's status is the failure's");
    mproc_async_free(ar);
    pool_end(p);

    p = pool(1, 0);
    ar = NULL;
    r = NULL;
    st = p ? mproc_apool_apply(p, flaky, "y", 1, &ar) : -1;
    if (ar != NULL)
        mproc_async_get(ar, 0, &r, NULL);
    ok(st == MPROC_ETASK && r != NULL && r->attempts == 1,
       "retries 0: a failing task runs once");
    mproc_async_free(ar);
    if (p != NULL)
        pool_end(p);
}

/* ---- the caller's mistakes ---- */

static int
star0(struct mproc_ctx *ctx, const struct mproc_item *a, size_t n,
      uint64_t i, struct mproc_buf *out)
{
    (void)ctx;
    (void)a;
    (void)i;
    return mproc_buf_printf(out, "%zu", n);
}

static int
next_fails(void *user, struct mproc_item *item)
{
    int *k = user;

    if (*k >= 5)
        return MPROC_EIO;
    item->data = "v";
    item->len = 1;
    (*k)++;
    return 1;
}

static int
init_fails(struct mproc_ctx *ctx, void *arg)
{
    (void)arg;
    return mproc_fail(ctx, "no database");
}

static void
test_mistakes(void)
{
    mproc_apool_t *p = pool(1, 0);
    mproc_async_t *ar = NULL;
    const struct mproc_result *r = NULL;
    struct mproc_args t = {.v = NULL, .n = 2};
    struct mproc_item items[3] = {{"a", 1}, {NULL, 4}, {"c", 1}};
    struct mproc_input in = {.items = items, .n = 3};
    struct mproc_pool_opts o;
    mproc_apool_t *q = NULL;
    mproc_err_t err;
    size_t n = 0;
    int st, k = 0;

    if (p == NULL) {
        ok(0, "mistakes: a pool");
        return;
    }
    st = mproc_apool_apply_async(p, echo, NULL, 5, NULL, &ar);
    is_int(st, MPROC_EINVAL, "apply_async of NULL with a length: EINVAL");
    like_str(mproc_apool_errmsg(p), "data is NULL with a length of 5",
             "and says so");
    ok(ar == NULL, "and no result handle");
    st = mproc_apool_starmap(p, star0, &t, 1, NULL, &ar);
    if (ar != NULL)
        mproc_async_get(ar, 0, &r, &n);
    ok(st == MPROC_EINVAL && n == 1 && r[0].status == MPROC_EINVAL,
       "starmap with an argument list of NULL: that task fails, EINVAL");
    mproc_async_free(ar);
    ar = NULL;
    st = mproc_apool_map(p, echo, &in, NULL, &ar);
    if (ar != NULL)
        mproc_async_get(ar, 0, &r, &n);
    ok(n == 3 && r[0].status == 0 && r[1].status == MPROC_EINVAL &&
           r[2].status == 0,
       "map with an item of NULL data: it alone fails, EINVAL");
    mproc_async_free(ar);
    ar = NULL;
    in = (struct mproc_input){.next = next_fails, .next_user = &k};
    st = mproc_apool_map(p, echo, &in, NULL, &ar);
    is_int(st, MPROC_EIO, "a map input failing after 5 items: its error");
    like_str(ar ? mproc_async_errmsg(ar) : "", "input: at item 5:",
             "and the message says where");
    mproc_async_free(ar);

    /* Process handles of the pool's workers. */
    {
        mproc_process_t *h[8];
        size_t nh, i;
        bool seen = false;

        mproc_apool_apply(p, echo, "w", 1, &ar);
        mproc_async_free(ar);
        nh = mproc_active_children(h, 8);
        for (i = 0; i < nh && i < 8; i++) {
            if (!mproc_process_daemon(h[i]))
                continue;
            seen = true;
            st = mproc_process_terminate(h[i]);
            is_int(st, MPROC_EINVAL, "terminate of a pool worker: EINVAL");
            like_str(mproc_process_errmsg(h[i]), "pool's worker",
                     "saying the pool owns it");
            break;
        }
        ok(seen, "the pool's worker is among the active children");
    }
    pool_end(p);

    mproc_pool_opts_init(&o);
    o.workers = 1;
    o.start_method = "spawn";
    st = mproc_apool_new(&q, &o, &err);
    is_int(st, MPROC_ENOTSUP, "a function pool with spawn: ENOTSUP");
    o.start_method = "thread";
    st = mproc_apool_new(&q, &o, &err);
    is_int(st, MPROC_EINVAL, "a misspelt start method: EINVAL");
    like_str(err.msg, "unknown start method 'thread'", "naming it");

    mproc_pool_opts_init(&o);
    o.workers = 1;
    o.initializer = init_fails;
    if (mproc_apool_new(&q, &o, &err) == 0) {
        ar = NULL;
        st = mproc_apool_apply(q, echo, "x", 1, &ar);
        is_int(st, MPROC_EINIT, "a failing initializer: MPROC_EINIT");
        /* The result's message, or the pool's when the initializer failed
         * before the apply came (the pool was broken by then: no result). */
        like_str(ar ? mproc_async_errmsg(ar) : mproc_apool_errmsg(q),
                 "the initializer failed",
                 "called the initializer, not a plugin");
        like_str(ar ? mproc_async_errmsg(ar) : mproc_apool_errmsg(q),
                 "no database", "with its message");
        mproc_async_free(ar);
        mproc_apool_terminate(q);
        mproc_apool_join(q);
        mproc_apool_free(q);
    } else {
        ok(0, "a pool with an initializer: %s", err.msg);
    }
}

/* ---- Process: result_max, daemons ---- */

static int
big_quiet(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t i,
          struct mproc_buf *out)
{
    static char b[8192];

    (void)ctx;
    (void)in;
    (void)len;
    (void)i;
    return mproc_buf_append(out, b, sizeof(b));
}

static int
pool_in_daemon(struct mproc_ctx *ctx, const void *in, size_t len,
               uint64_t i, struct mproc_buf *out)
{
    return nested(ctx, in, len, i, out);
}

static mproc_process_t *
run_fn(mproc_task_fn fn, size_t result_max, bool daemon)
{
    struct mproc_process_opts o;
    mproc_process_t *p = NULL;
    mproc_err_t err;

    mproc_process_opts_init(&o);
    o.fn = fn;
    if (result_max > 0)
        o.result_max = result_max;
    if (mproc_process_new(&p, &o, &err) < 0) {
        diag("mproc_process_new: %s", err.msg);
        return NULL;
    }
    if (daemon)
        mproc_process_set_daemon(p, true);
    if (mproc_process_start(p) < 0 || mproc_process_join(p, 10000) < 0) {
        diag("start/join: %s", mproc_process_errmsg(p));
        mproc_process_free(p);
        return NULL;
    }
    return p;
}

static void
test_process(void)
{
    mproc_process_t *p = run_fn(big_quiet, 4096, false);
    const char *f = p ? mproc_process_failure(p) : NULL;
    const void *data = NULL;
    size_t len = 0;

    ok(f != NULL && strstr(f, "exceeds result_max (4096)") != NULL,
       "result_max: the failure names the limit");
    ok(f != NULL && f[strlen(f) - 1] != ' ' && f[strlen(f) - 1] != ':',
       "and ends there when the target said nothing ('%s')", f ? f : "");
    mproc_process_free(p);

    p = run_fn(pool_in_daemon, 0, true);
    if (p != NULL)
        mproc_process_result(p, &data, &len);
    {
        char want[16];
        snprintf(want, sizeof(want), "%d ", MPROC_EPERM);
        ok(data != NULL && len > strlen(want) &&
               strncmp(data, want, strlen(want)) == 0,
           "a daemon Process may not start a pool either (MPROC_EPERM)");
    }
    mproc_process_free(p);
}

/* ---- SIGCHLD ignored (last) ---- */

static int
exit9(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t i,
      struct mproc_buf *out)
{
    (void)ctx;
    (void)in;
    (void)len;
    (void)i;
    (void)out;
    _exit(9);
}

static int
fails(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t i,
      struct mproc_buf *out)
{
    (void)in;
    (void)len;
    (void)i;
    (void)out;
    return mproc_fail(ctx, "refused");
}

/* ---- a task's helper when the pool's owner is SIGKILLed ---- */

/* Starts a helper, says its pid in flagdir/helper, then runs on: the
 * worker is busy when its owner dies. */
static int
start_helper(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t i,
             struct mproc_buf *out)
{
    char path[128], tmp[128];
    FILE *f;
    pid_t g;

    (void)ctx;
    (void)in;
    (void)len;
    (void)i;
    (void)out;
    if ((g = fork()) == 0) {
        execlp("sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    /* Written whole, then renamed: the test never reads half a pid. */
    snprintf(tmp, sizeof(tmp), "%s/helper.tmp", flagdir);
    snprintf(path, sizeof(path), "%s/helper", flagdir);
    if ((f = fopen(tmp, "w")) != NULL) {
        fprintf(f, "%ld\n", (long)g);
        if (fclose(f) == 0)
            rename(tmp, path);
    }
    sleep(30);
    return 0;
}

/* Gone, or a zombie nobody reaps yet: true within `ms`. */
static bool
dies_within(pid_t pid, int ms)
{
    char path[64], buf[256], *rp;
    FILE *f;
    int i;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    for (i = 0; i <= ms / 20; i++) {
        if ((f = fopen(path, "r")) == NULL)
            return true;
        rp = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
        fclose(f);
        if (rp == NULL || rp[2] == 'Z' || rp[2] == 'X')
            return true;
        usleep(20000);
    }
    return false;
}

/* pool.h: a worker's group, which the processes its tasks start join, is
 * killed when the worker ends; when the pool's owner was SIGKILLed, the
 * workers died (their lifeline) but the helpers lived on under init. */
static void
test_helpers_die_with_owner(void)
{
    char path[128];
    pid_t owner, helper = 0;
    long v;
    FILE *f;
    int i;

    snprintf(path, sizeof(path), "%s/helper", flagdir);
    if ((owner = fork()) == 0) {
        mproc_apool_t *p = pool(1, 0);

        if (p == NULL ||
            mproc_apool_apply_async(p, start_helper, "", 0, NULL, NULL) < 0)
            _exit(1);
        pause();
        _exit(0);
    }
    for (i = 0; i < 1000 && helper == 0; i++) {
        if ((f = fopen(path, "r")) != NULL) {
            if (fscanf(f, "%ld", &v) == 1)
                helper = (pid_t)v;
            fclose(f);
        }
        usleep(10000);
    }
    ok(helper > 0, "a running task started a helper (%ld)", (long)helper);
    kill(owner, SIGKILL);
    waitpid(owner, NULL, 0);
    ok(helper > 0 && dies_within(helper, 3000),
       "the pool's owner SIGKILLed: the task's helper dies too");
    if (helper > 0)
        kill(helper, SIGKILL);
}

static void
test_sigchld_ignored(void)
{
    mproc_process_t *p;
    mproc_apool_t *pl;
    mproc_async_t *ar = NULL;
    const struct mproc_result *r = NULL;
    int code = 12345, st;

    signal(SIGCHLD, SIG_IGN);
    p = run_fn(exit9, 0, false);
    st = p ? mproc_process_exitcode(p, &code) : -1;
    is_int(st, MPROC_ECHILD,
           "SIGCHLD ignored, a child that exits 9: exitcode() says the "
           "status is lost");
    ok(code == 12345, "and gives no code");
    like_str(p ? mproc_process_failure(p) : "", "exit status is unknown",
             "failure() says so");
    mproc_process_free(p);

    p = run_fn(echo, 0, false);
    code = 12345;
    st = p ? mproc_process_exitcode(p, &code) : -1;
    ok(st == 0 && code == 0 && mproc_process_failure(p) == NULL,
       "a child whose target returned: exit code 0, no failure");
    mproc_process_free(p);

    p = run_fn(fails, 0, false);
    code = 12345;
    st = p ? mproc_process_exitcode(p, &code) : -1;
    ok(st == 0 && code == 1, "a child whose target failed: exit code 1");
    is_str(p ? mproc_process_failure(p) : "", "refused",
           "and its message as failure()");
    mproc_process_free(p);

    pl = pool(1, 0);
    st = pl ? mproc_apool_apply(pl, exit9, "", 0, &ar) : -1;
    if (ar != NULL)
        mproc_async_get(ar, 0, &r, NULL);
    ok(st == MPROC_EWORKER && r != NULL && strstr(r->message,
                                                  "how is unknown") != NULL,
       "a pool worker that exits: MPROC_EWORKER, how unknown, not "
       "'status 0' (%s)", r ? r->message : "");
    mproc_async_free(ar);
    if (pl != NULL) {
        mproc_apool_terminate(pl);
        mproc_apool_join(pl);
        mproc_apool_free(pl);
    }
    signal(SIGCHLD, SIG_DFL);
}

int
main(void)
{
    snprintf(flagdir, sizeof(flagdir), "/tmp/mproc-stranger.XXXXXX");
    if (mkdtemp(flagdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_nested();
    test_retries();
    test_mistakes();
    test_process();
    test_helpers_die_with_owner();
    test_sigchld_ignored();
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", flagdir);
        if (system(cmd) != 0)
            diag("could not remove %s", flagdir);
    }
    return done_testing();
}

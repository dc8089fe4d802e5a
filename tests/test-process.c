/* SPDX-License-Identifier: MIT */
/*
 * Processes under one start method, given as the argument (fork, spawn or
 * forkserver; tests/process-METHOD.sh): exit codes, join and timeouts,
 * sentinels and wait(), names, every misuse error, inherited descriptors,
 * daemon children when the parent exits or is killed, a pool under the
 * method, and no zombie left after any of it.
 *
 * Targets are tasks of the test plugin tests/plugins/proc.c; with fork,
 * function targets in this program too.  Helpers that must die are this
 * program re-run with "helper-..." arguments.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "process-util.h"
#include "tap.h"

static const char *method;
static char plugin[4096];
static const mproc_context_t *ctx;

static mproc_process_t *
make(const char *task, const char *in, bool daemon)
{
    return make_process(plugin, task, NULL, in, daemon, ctx);
}

/* Start, join, exit code; -1000 on any failure. */
static int
run(mproc_process_t *p)
{
    int code;

    if (p == NULL || mproc_process_start(p) < 0 ||
        mproc_process_join(p, 30000) < 0 || mproc_process_exitcode(p, &code) < 0) {
        if (p != NULL)
            diag("%s", mproc_process_errmsg(p));
        return -1000;
    }
    return code;
}

/* Our children in /proc: zombies, and live ones other than the
 * forkserver. */
static void
count_children(int *zombies, int *live)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    char path[300], cmd[256];
    int ppid;
    char st;
    FILE *f;

    *zombies = *live = 0;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (!proc_stat(e->d_name, &st, &ppid) || ppid != getpid())
            continue;
        if (st == 'Z') {
            (*zombies)++;
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
        memset(cmd, 0, sizeof(cmd));
        if ((f = fopen(path, "re")) != NULL) {
            size_t n = fread(cmd, 1, sizeof(cmd) - 2, f);
            (void)n;
            fclose(f);
        }
        /* argv is NUL-separated: "mproc-worker\0forkserver\0..." */
        if (strcmp(cmd, "mproc-worker") == 0 &&
            strcmp(cmd + strlen(cmd) + 1, "forkserver") == 0)
            continue;
        (*live)++;
    }
    closedir(d);
}

static void
no_zombies(const char *when)
{
    int z, l;
    count_children(&z, &l);
    is_int(z, 0, "%s: no zombie child", when);
    is_int(l, 0, "%s: no child left running", when);
}

/* ---- function targets (fork only) ---- */

static mproc_process_t *self_handle;

static int
f_square(struct mproc_ctx *c, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    long v = strtol(in, NULL, 10);
    (void)c, (void)len, (void)index;
    return mproc_buf_printf(out, "%ld", v * v);
}

static int
f_join_self(struct mproc_ctx *c, const void *in, size_t len, uint64_t index,
            struct mproc_buf *out)
{
    int a = mproc_process_join(self_handle, 0);
    int b = mproc_process_join(mproc_current_process(), 0);
    (void)c, (void)in, (void)len, (void)index;
    return mproc_buf_printf(out, "%s %s", mproc_err_name(a),
                            mproc_err_name(b));
}

/* ---- helpers run as separate processes ---- */

/* Start a daemon sleeper, say its pid, and wait to be killed. */
static int
helper_daemon(void)
{
    mproc_process_t *p = make("sleep", "60000", true);

    if (p == NULL || mproc_process_start(p) < 0)
        return 1;
    printf("%d\n", (int)mproc_process_pid(p));
    fflush(stdout);
    pause();
    return 0;
}

/* Start a non-daemon that takes 300 ms and a daemon sleeper, say the
 * daemon's pid, and return from main at once. */
static int
helper_exit(void)
{
    mproc_process_t *a = make("sleep", "300", false);
    mproc_process_t *d = make("sleep", "60000", true);

    if (a == NULL || d == NULL || mproc_process_start(a) < 0 ||
        mproc_process_start(d) < 0)
        return 1;
    printf("%d %d\n", (int)mproc_process_pid(a), (int)mproc_process_pid(d));
    fflush(stdout);
    return 0;
}

static pid_t
helper(const char *self, const char *what, char *buf, size_t len)
{
    return run_helper(self, what, method, buf, len);
}

/* ---- the tests ---- */

static void
test_exit_codes(void)
{
    mproc_process_t *p;
    const void *data;
    size_t len;
    int code;

    p = make("ret", "hello", false);
    is_int(run(p), 0, "return: exit code 0");
    ok(mproc_process_result(p, &data, &len) == 0 && len == 5 &&
           memcmp(data, "hello", 5) == 0,
       "return: the result reaches the parent");
    ok(mproc_process_failure(p) == NULL, "return: no failure");
    is_int(mproc_process_join(p, 0), 0, "join again after the end");
    done(p);

    p = make("exit", "3", false);
    is_int(run(p), 3, "exit(3): exit code 3");
    is_int(mproc_process_result(p, &data, &len), MPROC_EWORKER,
           "exit(3): no result");
    is_str(mproc_process_failure(p), "exited with status 3",
           "exit(3): failure says so");
    done(p);

    p = make("abort", NULL, false);
    is_int(run(p), -SIGABRT, "abort: exit code -6");
    is_str(mproc_process_failure(p), "killed by SIGABRT", "abort: failure");
    done(p);

    p = make("fail", NULL, false);
    is_int(run(p), 1, "failing target: exit code 1");
    is_int(mproc_process_result(p, &data, &len), MPROC_ETASK,
           "failing target: result is ETASK");
    is_str(mproc_process_failure(p), "proc: failing on purpose",
           "failing target: its message reaches the parent");
    done(p);

    p = make("sleep", "60000", false);
    ok(p && mproc_process_start(p) == 0, "sleeper started");
    ok(mproc_process_is_alive(p), "sleeper is alive");
    is_int(mproc_process_exitcode(p, &code), MPROC_EAGAIN,
           "no exit code while it runs");
    is_int(mproc_process_terminate(p), 0, "terminate");
    is_int(mproc_process_join(p, 30000), 0, "join after terminate");
    ok(mproc_process_exitcode(p, &code) == 0 && code == -SIGTERM,
       "SIGTERM: exit code -15");
    is_str(mproc_process_failure(p), "killed by SIGTERM", "SIGTERM: failure");
    is_int(mproc_process_terminate(p), 0, "terminate after the end is fine");
    done(p);

    p = make("sleep", "60000", false);
    ok(p && mproc_process_start(p) == 0 && mproc_process_kill(p) == 0,
       "kill");
    mproc_process_join(p, 30000);
    ok(mproc_process_exitcode(p, &code) == 0 && code == -SIGKILL,
       "SIGKILL: exit code -9");
    done(p);

    /* A result larger than any pipe buffer, joined without draining. */
    p = make("big", "3000000", false);
    is_int(run(p), 0, "3 MB result: the child ends");
    ok(mproc_process_result(p, &data, &len) == 0 && len == 3000000 &&
           ((const char *)data)[len - 1] == 'x',
       "3 MB result: all of it arrives");
    done(p);
}

static void
test_join(void)
{
    mproc_process_t *p = make("sleep", "400", false);
    long long t0;
    int code, fd;
    struct pollfd pfd;

    t0 = now_ms();
    ok(p && mproc_process_start(p) == 0, "join: started a 400 ms sleeper");
    is_int(mproc_process_join(p, 50), MPROC_ETIMEDOUT,
           "join(50 ms) times out");
    ok(mproc_process_is_alive(p), "still alive after the timeout");
    fd = mproc_process_sentinel(p);
    ok(fd >= 0, "sentinel is a descriptor");
    pfd.fd = fd;
    pfd.events = POLLIN;
    is_int(poll(&pfd, 1, 0), 0, "sentinel not ready while it runs");
    is_int(poll(&pfd, 1, 30000), 1, "sentinel ready when it ends");
    is_int(mproc_process_join(p, -1), 0, "join without timeout");
    ok(now_ms() - t0 >= 350, "join returned after the sleep");
    ok(!mproc_process_is_alive(p), "not alive after join");
    ok(mproc_process_exitcode(p, &code) == 0 && code == 0, "exit code 0");
    done(p);
}

static void
test_wait_many(void)
{
    enum { N = 50 };
    mproc_process_t *p[N];
    int fds[N], ready[N], left = N, bad = 0, i, k, rounds = 0;
    bool seen[N];
    char in[16];

    srand((unsigned)getpid());
    for (i = 0; i < N; i++) {
        snprintf(in, sizeof(in), "%d", rand() % 300);
        p[i] = make("sleep", in, false);
        if (p[i] == NULL || mproc_process_start(p[i]) < 0) {
            diag("start %d: %s", i, p[i] ? mproc_process_errmsg(p[i]) : "");
            bad++;
        }
        seen[i] = false;
    }
    is_int(bad, 0, "wait: 50 processes started");
    while (left > 0 && rounds++ < 1000 && bad == 0) {
        ssize_t n;
        int m = 0;

        for (i = 0; i < N; i++)
            if (!seen[i])
                fds[m++] = mproc_process_sentinel(p[i]);
        n = mproc_wait(fds, (size_t)m, 30000, ready);
        if (n <= 0) {
            bad++;
            break;
        }
        for (k = 0; k < n; k++)
            for (i = 0; i < N; i++)
                if (!seen[i] && mproc_process_sentinel(p[i]) == ready[k]) {
                    int code = -1;
                    /* Ready means ended: join answers at once. */
                    if (mproc_process_join(p[i], 0) != 0 ||
                        mproc_process_exitcode(p[i], &code) != 0 || code != 0)
                        bad++;
                    seen[i] = true;
                    left--;
                }
    }
    is_int(left, 0, "wait: every sentinel became ready");
    is_int(bad, 0, "wait: each ready one had ended with 0");
    for (i = 0; i < N; i++)
        done(p[i]);
}

static void
test_wait_mixed(void)
{
    mproc_process_t *p = make("sleep", "60000", false);
    int pfd[2], fds[2], ready[2];
    ssize_t n;

    if (pipe2(pfd, O_CLOEXEC) < 0 || p == NULL || mproc_process_start(p) < 0) {
        ok(0, "wait mixed: set up");
        return;
    }
    fds[0] = mproc_process_sentinel(p);
    fds[1] = pfd[0];
    is_int(mproc_wait(fds, 2, 0, ready), 0, "wait: nothing ready yet");
    n = write(pfd[1], "x", 1);
    n = mproc_wait(fds, 2, 10000, ready);
    ok(n == 1 && ready[0] == pfd[0], "wait: a pipe and a sentinel at once");
    mproc_process_kill(p);
    n = mproc_wait(fds, 1, 30000, ready);
    ok(n == 1 && ready[0] == fds[0], "wait: the sentinel after kill");
    fds[0] = -1;
    is_int(mproc_wait(fds, 1, 0, ready), MPROC_EINVAL,
           "wait: a negative descriptor is EINVAL");
    mproc_process_join(p, -1);
    done(p);
    close(pfd[0]);
    close(pfd[1]);
}

static void
test_names(void)
{
    mproc_process_t *p = make("whoami", NULL, false), *q;
    const void *data;
    size_t len;
    char want[128];
    unsigned k;

    is_str(mproc_process_name(mproc_current_process()), "MainProcess",
           "current_process is MainProcess");
    ok(mproc_parent_process() == NULL, "the main program has no parent");
    is_int(mproc_process_pid(mproc_current_process()), getpid(),
           "current_process pid");
    ok(p != NULL && sscanf(mproc_process_name(p), "Process-%u", &k) == 1,
       "default name Process-N");
    q = make("nested", NULL, false);
    snprintf(want, sizeof(want), "Process-%u", k + 1);
    is_str(q ? mproc_process_name(q) : NULL, want, "the next is Process-N+1");

    is_int(run(p), 0, "whoami runs");
    snprintf(want, sizeof(want), "Process-%u|MainProcess", k);
    ok(mproc_process_result(p, &data, &len) == 0 && len == strlen(want) &&
           memcmp(data, want, len) == 0,
       "the child knows its name and its parent's");
    is_int(run(q), 0, "nested child runs");
    snprintf(want, sizeof(want), "Process-%u:1|Process-%u", k + 1, k + 1);
    if (!ok(mproc_process_result(q, &data, &len) == 0 &&
                len == strlen(want) && memcmp(data, want, len) == 0,
            "a nested child is %s", want))
        diag("got '%.*s' (%s)", (int)len, (const char *)data,
             mproc_process_failure(q) ? mproc_process_failure(q) : "");
    done(p);
    done(q);

    p = make("ret", NULL, false);
    is_int(mproc_process_set_name(p, "worker-a"), 0, "set_name");
    is_str(mproc_process_name(p), "worker-a", "the new name");
    done(p);
}

static void
test_errors(void)
{
    struct mproc_process_opts o;
    mproc_process_t *p;
    const void *data;
    size_t len;
    mproc_err_t err;
    int code;

    p = make("sleep", "60000", false);
    is_int(mproc_process_join(p, 0), MPROC_ECHILD, "join before start");
    like_str(mproc_process_errmsg(p), "was not started", "... says so");
    is_int(mproc_process_sentinel(p), MPROC_ECHILD, "sentinel before start");
    is_int(mproc_process_terminate(p), MPROC_ECHILD,
           "terminate before start");
    is_int(mproc_process_exitcode(p, &code), MPROC_EAGAIN,
           "no exit code before start");
    ok(!mproc_process_is_alive(p), "not alive before start");
    is_int(mproc_process_pid(p), 0, "pid 0 before start");
    is_int(mproc_process_start(p), 0, "start");
    is_int(mproc_process_start(p), MPROC_EBUSY, "start twice");
    like_str(mproc_process_errmsg(p), "twice", "... says so");
    is_int(mproc_process_set_daemon(p, true), MPROC_EBUSY,
           "daemon flag after start");
    is_int(mproc_process_close(p), MPROC_EAGAIN, "close while alive");
    like_str(mproc_process_errmsg(p), "still running", "... says so");
    mproc_process_kill(p);
    mproc_process_join(p, -1);
    is_int(mproc_process_close(p), 0, "close after join");
    is_int(mproc_process_close(p), 0, "close twice is fine");
    is_int(mproc_process_start(p), MPROC_ECLOSED, "start after close");
    is_int(mproc_process_join(p, 0), MPROC_ECLOSED, "join after close");
    like_str(mproc_process_errmsg(p), "closed", "... says so");
    is_int(mproc_process_exitcode(p, &code), MPROC_ECLOSED,
           "exitcode after close");
    is_int(mproc_process_pid(p), MPROC_ECLOSED, "pid after close");
    is_int(mproc_process_sentinel(p), MPROC_ECLOSED, "sentinel after close");
    is_int(mproc_process_kill(p), MPROC_ECLOSED, "kill after close");
    is_int(mproc_process_result(p, &data, &len), MPROC_ECLOSED,
           "result after close");
    is_int(mproc_process_set_daemon(p, false), MPROC_ECLOSED,
           "daemon after close");
    ok(!mproc_process_is_alive(p), "not alive after close");
    mproc_process_free(p);

    is_int(mproc_process_join(mproc_current_process(), 0), MPROC_EINVAL,
           "the current process cannot join itself");

    mproc_process_opts_init(&o);
    o.context = ctx;
    is_int(mproc_process_new(&p, &o, &err), MPROC_EINVAL, "no target");
    o.fn = f_square;
    o.target = "x:y";
    is_int(mproc_process_new(&p, &o, &err), MPROC_EINVAL, "two targets");
    o.target = NULL;
    is_int(mproc_process_new(&p, &o, &err), 0, "function target");
    if (strcmp(method, "fork") == 0) {
        o.input = "7";
        o.input_len = 1;
        mproc_process_free(p);
        mproc_process_new(&p, &o, &err);
        is_int(run(p), 0, "function target runs");
        ok(mproc_process_result(p, &data, &len) == 0 && len == 2 &&
               memcmp(data, "49", 2) == 0,
           "function target's result");
    } else {
        is_int(mproc_process_start(p), MPROC_ENOTSUP,
               "function target with %s", method);
        like_str(mproc_process_errmsg(p), "function pointer", "... says why");
    }
    done(p);

    o.fn = NULL;
    o.target = "/nonexistent/plugin.so:t";
    mproc_process_new(&p, &o, &err);
    is_int(mproc_process_start(p), MPROC_EPLUGIN, "a plugin that is not there");
    like_str(mproc_process_errmsg(p), "/nonexistent/plugin.so",
             "... named in the message");
    done(p);

    p = make("nosuchtask", NULL, false);
    is_int(mproc_process_start(p), MPROC_EPLUGIN, "a task that is not there");
    done(p);

    is_int(mproc_set_start_method("vfork", true, &err), MPROC_EINVAL,
           "unknown start method");
    is_int(mproc_set_start_method("fork", false, &err), MPROC_EBUSY,
           "start method set twice without force");
    is_int(mproc_get_context("threads", &ctx, &err), MPROC_EINVAL,
           "unknown context");
    mproc_get_context(method, &ctx, &err);
}

static void
test_self_join(void)
{
    struct mproc_process_opts o;
    mproc_process_t *p;
    const void *data;
    size_t len;

    if (strcmp(method, "fork") != 0)
        return;
    mproc_process_opts_init(&o);
    o.fn = f_join_self;
    mproc_process_new(&p, &o, NULL);
    self_handle = p;
    is_int(run(p), 0, "a child joining itself");
    ok(mproc_process_result(p, &data, &len) == 0 && len == 13 &&
           memcmp(data, "EINVAL EINVAL", 13) == 0,
       "a process cannot join itself (its handle or current_process)");
    done(p);
}

static bool
is_pidfd(int fd)
{
    char path[64], link[64];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, link, sizeof(link) - 1);
    link[n > 0 ? n : 0] = '\0';
    return strstr(link, "pidfd") != NULL;
}

static void
test_fds(void)
{
    const char *want;
    mproc_process_t *p;
    const void *data;
    size_t len;
    int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, on purpose */

    if (strcmp(method, "fork") == 0) {
        close(leak);
        return;
    }
    p = make("fds", NULL, false);
    is_int(run(p), 0, "fds: listed");
    /* Where the kernel (or valgrind) refuses pidfds, the sentinel is a
     * pipe whose write end the child holds as descriptor 5.  Asked of a
     * process that may already be reaped, whose sentinel is then no
     * pidfd (start13: made on first need): probe the kernel instead. */
    {
        mproc_process_t *q = make("sleep", "60000", false);
        bool pidfds = q != NULL && mproc_process_start(q) == 0 &&
                      is_pidfd(mproc_process_sentinel(q));

        if (q != NULL && mproc_process_kill(q) == 0)
            mproc_process_join(q, -1);
        done(q);
        want = pidfds ? "0 1 2 4" : "0 1 2 4 5";
    }
    if (!ok(mproc_process_result(p, &data, &len) == 0 &&
                len == strlen(want) && memcmp(data, want, len) == 0,
            "%s: the child has only 0 1 2 and its result (and sentinel)",
            method))
        diag("got '%.*s', want '%s'", (int)len, (const char *)data, want);
    done(p);
    close(leak);
}

static void
test_active_children(void)
{
    mproc_process_t *a = make("sleep", "60000", false);
    mproc_process_t *b = make("ret", NULL, false);
    mproc_process_t *out[8];
    struct pollfd pfd;
    size_t n;
    pid_t pid;

    mproc_process_start(a);
    mproc_process_start(b);
    pfd.fd = mproc_process_sentinel(b);
    pfd.events = POLLIN;
    poll(&pfd, 1, 30000);
    n = mproc_active_children(out, 8);
    ok(n == 1 && out[0] == a, "active_children: the running one only");
    ok(!mproc_process_is_alive(b), "the ended one was reaped");
    mproc_process_free(b);
    /* A handle freed while it runs stays a child until reaped. */
    pfd.fd = mproc_process_sentinel(a);
    pid = mproc_process_pid(a);
    mproc_process_free(a);
    is_int(mproc_active_children(out, 8), 0,
           "active_children: a freed handle is not listed");
    kill(pid, SIGKILL);
    poll(&pfd, 1, 30000);
    mproc_active_children(out, 8);
    ok(gone(pid) && kill(pid, 0) < 0,
       "active_children reaped the freed process");
}

static void
test_daemon(const char *self)
{
    char buf[64];
    pid_t h, d, a;
    long long t0;
    int st;

    h = helper(self, "helper-daemon", buf, sizeof(buf));
    d = (pid_t)atoi(buf);
    ok(h > 0 && d > 0 && !gone(d), "a helper with a running daemon child");
    kill(h, SIGKILL);
    waitpid(h, &st, 0);
    t0 = now_ms();
    while (d > 0 && !gone(d) && now_ms() - t0 < 1000)
        usleep(5000);
    ok(d > 0 && gone(d), "the daemon is gone within a second of SIGKILL "
       "to its parent");

    t0 = now_ms();
    h = helper(self, "helper-exit", buf, sizeof(buf));
    a = d = 0;
    if (sscanf(buf, "%d %d", &a, &d) != 2)
        a = d = 0;
    waitpid(h, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "helper returned from main");
    ok(now_ms() - t0 >= 250, "its exit joined the non-daemon child");
    ok(a > 0 && gone(a), "the non-daemon child has ended");
    ok(d > 0 && gone(d), "the daemon child was terminated at exit");
}

static void
test_pool(void)
{
    struct mproc_pool_opts o;
    mproc_pool_t *pl = NULL;
    mproc_err_t err;
    static const struct mproc_task_def tasks[] = {{"sq", f_square, NULL},
                                                  {NULL, NULL, NULL}};
    static const struct mproc_plugin desc = {
        .abi_major = MPROC_PLUGIN_ABI_MAJOR,
        .abi_minor = MPROC_PLUGIN_ABI_MINOR,
        .size = sizeof(struct mproc_plugin),
        .name = "inproc",
        .version = "0",
        .tasks = tasks};

    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.start_method = method;
    o.workers = 1;
    if (strcmp(method, "fork") == 0) {
        ok(mproc_pool_new(&pl, &o, &err) == 0,
           "pool: an in-process plugin with fork");
    } else {
        is_int(mproc_pool_new(&pl, &o, &err), MPROC_ENOTSUP,
               "pool: an in-process plugin with %s", method);
        like_str(err.msg, "fork only", "... says fork only");
    }
    mproc_pool_free(pl);
}

int
main(int argc, char **argv)
{
    alarm(240);
    if (setup_method(argc, argv, &method, plugin, &ctx) < 0)
        return 1;
    if (argc > 2 && strcmp(argv[1], "helper-daemon") == 0)
        return helper_daemon();
    if (argc > 2 && strcmp(argv[1], "helper-exit") == 0)
        return helper_exit();

    diag("start method %s, worker %s", method,
         getenv("MPROC_WORKER") ? getenv("MPROC_WORKER") : "(default)");
    is_str(mproc_get_start_method(), method, "get_start_method");
    is_str(mproc_context_start_method(ctx), method, "the default context");
    is_str(mproc_get_all_start_methods()[0], "fork", "all start methods");
    ok(mproc_cpu_count() >= 1 && mproc_cpu_usable() <= mproc_cpu_count(),
       "cpu_count and usable CPUs");

    test_exit_codes();
    no_zombies("exit codes");
    test_join();
    test_wait_many();
    test_wait_mixed();
    no_zombies("wait");
    test_names();
    test_errors();
    test_self_join();
    test_fds();
    test_active_children();
    no_zombies("errors and names");
    test_daemon(argv[0]);
    test_pool();
    no_zombies("the end");
    return done_testing();
}

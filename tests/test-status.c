/* SPDX-License-Identifier: MIT */
/*
 * Live status (status/status.c, issue 19): previews escaped, latency
 * percentiles within a bucket, the K slowest items, the socket's privacy
 * and clean-up, MPROC_STATUS=0, and a pool run with opts.status answering
 * a client while it runs.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "status/status_int.h"
#include "tap.h"

static char rundir[40], sockdir[48];

/* Connect to our own socket (the listen backlog takes it), let the
 * status answer, and read the answer: text, NUL, JSON. */
static char *
ask_self(struct mproc__status *st, const char **json)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ssize_t n;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%ld.sock", sockdir,
             (long)getpid());
    if (buf == NULL || fd < 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        free(buf);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    mproc__status_reply(st);
    while ((n = read(fd, buf + len, cap - len - 1)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    *json = buf + strlen(buf) + 1;
    return buf;
}

/* The number after "KEY": in s, or -1. */
static double
num(const char *s, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\":", key);
    p = strstr(s, pat);
    return p != NULL ? strtod(p + strlen(pat), NULL) : -1;
}

static void
test_escape(void)
{
    char out[64];

    mproc__status_escape(out, sizeof(out), "a\tb\n\\c\x01\xff", 8, 40);
    is_str(out, "a\\tb\\n\\\\c\\x01\\xff", "escape: tab, newline, backslash, "
           "control and high bytes");
    mproc__status_escape(out, sizeof(out), "abcdefgh", 8, 4);
    is_str(out, "abcd...", "escape: cut at max, marked");
    mproc__status_escape(out, 12, "\x01\x02\x03\x04\x05", 5, 40);
    ok(strlen(out) < 12, "escape: never past the buffer (%s)", out);
}

static void
test_numbers(void)
{
    struct mproc__status *st = NULL;
    struct mproc__status_snap *sn;
    mproc_err_t err;
    const char *json = NULL;
    char *text;
    long long ms;
    struct stat sb;
    char path[400];

    is_int(mproc__status_open(&st, "unit \"job\"\n", 1, &err), 0,
           "open: 0");
    if (st == NULL) {
        diag("%s", err.msg);
        return;
    }
    snprintf(path, sizeof(path), "%s/%ld.sock", sockdir, (long)getpid());
    ok(stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) &&
           (sb.st_mode & 0777) == 0600,
       "the socket exists, mode 0600");
    ok(stat(sockdir, &sb) == 0 && (sb.st_mode & 0777) == 0700,
       "its folder has mode 0700");
    for (ms = 1; ms <= 1000; ms++)
        mproc__status_result(st, (uint64_t)ms, ms == 7 ? MPROC_ETASK : 0, ms,
                             "item", 4);
    mproc__status_result(st, 5000, MPROC_ECANCELED, 9999, "x", 1);
    sn = mproc__status_snap(st);
    sn->w[0].pid = getpid();
    sn->w[0].state = "running";
    sn->w[0].index = 1001;
    sn->w[0].item = "it\033em";
    sn->w[0].item_len = 5;
    sn->w[0].since_ms = 0;
    sn->total = 1100;
    sn->taken = 1001;
    text = ask_self(st, &json);
    ok(text != NULL, "a client gets an answer");
    if (text != NULL) {
        double p50 = num(json, "p50"), p99 = num(json, "p99");
        ok(strstr(text, "job unit \"job\"\\n, pid ") == text,
           "text: the label, escaped");
        ok(strstr(json, "\"label\":\"unit \\\"job\\\"\\\\n\"") != NULL,
           "json: the label, escaped");
        is_int((int)num(strstr(json, "\"items\":"), "done"), 999,
               "json: done (cancelled ones not counted)");
        is_int((int)num(json, "failed"), 1, "json: failed");
        is_int((int)num(json, "pending"), 99, "json: pending = total - "
               "finished - running");
        ok(p50 >= 0.5 * 0.875 && p50 <= 0.5 * 1.125, "p50 %.3f within a "
           "bucket of 0.5", p50);
        ok(p99 >= 0.99 * 0.875 && p99 <= 1.0, "p99 %.3f within a bucket of "
           "0.99", p99);
        is_int((int)(num(json, "max") * 1000 + 0.5), 1000, "max exact");
        ok(strstr(json, "\"slowest\":[{\"item\":1000,\"seconds\":1.000,") &&
               strstr(json, "{\"item\":996,\"seconds\":0.996,") &&
               !strstr(json, "\"item\":995,"),
           "the 5 slowest, slowest first");
        ok(strstr(json, "\"preview\":\"it\\\\x1bem\"") != NULL,
           "a worker's preview, escaped");
        ok(num(json, "rss_bytes") > 0, "a worker's RSS");
    }
    free(text);
    mproc__status_close(st);
    ok(access(path, F_OK) != 0, "closed: the socket is gone");
}

static void
test_clean_and_refuse(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct mproc__status *st = (void *)1;
    mproc_err_t err;
    pid_t dead = fork();
    int fd;

    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    /* A socket left by a run killed with SIGKILL: bound, nobody listens. */
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%ld.sock", sockdir,
             (long)dead);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ok(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
       "a stale socket made");
    close(fd);
    is_int(mproc__status_clean(false, NULL, NULL, &err), 1,
           "clean, listing only: finds it");
    ok(access(sa.sun_path, F_OK) == 0, "clean, listing only: leaves it");
    is_int(mproc__status_clean(true, NULL, NULL, &err), 1, "clean: removes it");
    ok(access(sa.sun_path, F_OK) != 0, "clean: it is gone");

    setenv("MPROC_STATUS", "0", 1);
    is_int(mproc__status_open(&st, "x", 1, &err), 0, "MPROC_STATUS=0: 0");
    ok(st == NULL, "MPROC_STATUS=0: no status");
    unsetenv("MPROC_STATUS");

    chmod(sockdir, 0755);
    ok(mproc__status_open(&st, "x", 1, &err) == MPROC_EPERM && st == NULL,
       "a folder open to others is refused");
    ok(strstr(err.msg, "closed to others") != NULL, "and says why: %s",
       err.msg);
    chmod(sockdir, 0700);
}

/* ---- a pool with opts.status, asked from another thread ---- */

static int
t_sleep(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    struct timespec ts = {0, 20 * 1000000L};

    (void)ctx;
    (void)index;
    nanosleep(&ts, NULL);
    return mproc_buf_append(out, in, len);
}

static const struct mproc_task_def tasks[] = {
    {"sleep", t_sleep, "sleep 20 ms, echo"},
    {NULL, NULL, NULL},
};

static const struct mproc_plugin desc = {
    .abi_major = MPROC_PLUGIN_ABI_MAJOR,
    .abi_minor = MPROC_PLUGIN_ABI_MINOR,
    .size = sizeof(struct mproc_plugin),
    .name = "teststatus",
    .version = "1",
    .tasks = tasks,
};

static int left = 40;

static int
next(void *user, struct mproc_item *it)
{
    (void)user;
    if (left == 0)
        return 0;
    left--;
    it->data = "item";
    it->len = 4;
    return 1;
}

static int
on_result(void *user, const struct mproc_result *r)
{
    (void)user;
    (void)r;
    return 0;
}

/* Static, not malloc'ed: workers forked meanwhile copy the heap, and
 * valgrind would count a buffer of this thread as their leak. */
static char answer_buf[1 << 16];
static char *answer;

static void *
asker(void *arg)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timespec ts = {0, 200 * 1000000L};
    size_t len = 0;
    ssize_t n;
    int fd;

    (void)arg;
    nanosleep(&ts, NULL);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%ld.sock", sockdir,
             (long)getpid());
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    while ((n = read(fd, answer_buf + len, sizeof(answer_buf) - len - 1)) > 0)
        len += (size_t)n;
    answer_buf[len] = '\0';
    close(fd);
    answer = answer_buf;
    return NULL;
}

static void
test_pool(void)
{
    struct mproc_pool_opts o;
    mproc_pool_t *p = NULL;
    mproc_err_t err;
    pthread_t t;
    char path[400];

    mproc_pool_opts_init(&o);
    o.plugin_desc = &desc;
    o.workers = 2;
    o.status = "pool-test";
    if (getenv("MPROC_TEST_IPC") != NULL)
        o.ipc = getenv("MPROC_TEST_IPC");
    is_int(mproc_pool_new(&p, &o, &err), 0, "pool with opts.status");
    if (p == NULL)
        return;
    snprintf(path, sizeof(path), "%s/%ld.sock", sockdir, (long)getpid());
    ok(access(path, F_OK) != 0, "no socket before the run");
    pthread_create(&t, NULL, asker, NULL);
    is_int(mproc_pool_run(p, next, on_result, NULL), 0, "the run succeeds");
    pthread_join(t, NULL);
    ok(answer != NULL && strncmp(answer, "job pool-test, pid ", 19) == 0,
       "a client got the run's status");
    ok(answer != NULL && strstr(answer, "PID ") != NULL &&
           strstr(answer, "\n") != NULL,
       "with its worker table");
    ok(access(path, F_OK) != 0, "no socket after the run");
    mproc_pool_free(p);
}

/* A Python-style pool (mproc_apool_*) asks for status the same way: its
 * run serves the socket while the pool is up. */
static int
t_slow(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out)
{
    struct timespec ts = {0, 600 * 1000000L};

    (void)ctx;
    (void)index;
    nanosleep(&ts, NULL);
    return mproc_buf_append(out, in, len);
}

static void
test_apool(void)
{
    struct mproc_pool_opts o;
    mproc_apool_t *p = NULL;
    mproc_async_t *ar = NULL;
    mproc_err_t err;
    char path[400];
    int n;

    mproc_pool_opts_init(&o);
    o.workers = 1;
    o.status = "apool-test";
    is_int(mproc_apool_new(&p, &o, &err), 0, "apool with opts.status");
    if (p == NULL)
        return;
    is_int(mproc_apool_apply_async(p, t_slow, "x", 1, NULL, &ar), 0,
           "apool: a slow task submitted");
    snprintf(path, sizeof(path), "%s/%ld.sock", sockdir, (long)getpid());
    for (n = 0; n < 100 && access(path, F_OK) != 0; n++)
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    answer = NULL;
    asker(NULL);
    ok(answer != NULL && strncmp(answer, "job apool-test, pid ", 20) == 0,
       "apool: a client got the pool's status");
    ok(answer != NULL && strstr(answer, " running ") != NULL,
       "apool: its worker runs the task");
    if (ar != NULL) {
        mproc_async_wait(ar, 10000);
        mproc_async_free(ar);
    }
    mproc_apool_close(p);
    mproc_apool_join(p);
    mproc_apool_free(p);
    ok(access(path, F_OK) != 0, "apool: no socket after the pool");
}

int
main(void)
{
    char tmpl[] = "/tmp/mproc-status-XXXXXX";

    alarm(30);
    plan(40);
    if (mkdtemp(tmpl) == NULL)
        return 1;
    snprintf(rundir, sizeof(rundir), "%s", tmpl);
    snprintf(sockdir, sizeof(sockdir), "%s/mproc", rundir);
    setenv("XDG_RUNTIME_DIR", rundir, 1);
    test_escape();
    test_numbers();
    test_clean_and_refuse();
    test_pool();
    test_apool();
    rmdir(sockdir);
    rmdir(rundir);
    ok(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD,
       "no child left");
    return tap_failed_ != 0;
}

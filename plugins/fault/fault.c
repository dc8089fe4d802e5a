/* SPDX-License-Identifier: MIT */
/*
 * fault: misbehave on request, for tests and demonstrations.  Each item
 * says what to do:
 *   ok            output "ok"
 *   fail:MESSAGE  fail with MESSAGE
 *   exit:N        end the worker with _exit(N)
 *   segv          die of a real SIGSEGV
 *   abort         abort()
 *   hang          never return
 *   sleep:MS      sleep MS milliseconds, output "slept MS"
 *   soft          run until SIGTERM (a soft time limit), then fail
 *                 saying so: a task that cleans up when told to stop
 *   flaky:PATH    fail the first time (creating PATH), output "ok" after:
 *                 a task that a retry fixes
 *   alloc:MB      allocate and touch MB MiB, keep them, output "kept MB"
 *   stubborn      ignore SIGTERM and never return (only SIGKILL ends it)
 *   spin          burn CPU forever
 *   nice          output the worker's nice value
 *   rlimits       output the worker's soft limits: "cpu=N as=N nofile=N"
 *                 (0 for unlimited)
 *   open:N        open /dev/null N times (then close them), output
 *                 "opened N": fails past the descriptor limit
 *   anything else is echoed unchanged.
 * [args] init = fail | crash makes every worker's init fail or abort;
 * init = sleep:MS makes it take MS milliseconds.
 * [args] runs = PATH: every task first appends its item's index and a
 * newline to PATH, so a test can count how often each item ran.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <mproc/plugin.h>

static int
fault_init(struct mproc_ctx *ctx)
{
    const char *mode = mproc_arg(ctx, "init", "ok");

    if (strcmp(mode, "fail") == 0)
        return mproc_fail(ctx, "init failed on purpose ([args] init = fail)");
    if (strcmp(mode, "crash") == 0)
        abort();
    if (strncmp(mode, "sleep:", 6) == 0) {
        struct timespec ts;
        long ms = atol(mode + 6);

        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        return MPROC_TASK_OK;
    }
    if (strcmp(mode, "ok") != 0)
        return mproc_fail(ctx, "[args] init: expected ok, fail, crash or "
                               "sleep:MS, got '%s'", mode);
    return MPROC_TASK_OK;
}

/* [args] fini: ok (default), or hang (for ever: the host kills a worker
 * that stays in fini too long, as it retires or at the end). */
static void
fault_fini(struct mproc_ctx *ctx)
{
    const char *mode = mproc_arg(ctx, "fini", "ok");

    if (strcmp(mode, "hang") == 0)
        for (;;)
            pause();
}

static int
is(const char *in, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len == n && memcmp(in, word, n) == 0;
}

/* The number after a prefix such as "exit:", or -1. */
static long
number_after(const char *in, size_t len, const char *prefix)
{
    size_t n = strlen(prefix), i;
    long v = 0;

    if (len <= n || memcmp(in, prefix, n) != 0 || len - n > 9)
        return -1;
    for (i = n; i < len; i++) {
        if (in[i] < '0' || in[i] > '9')
            return -1;
        v = v * 10 + (in[i] - '0');
    }
    return v;
}

static volatile sig_atomic_t soft_stop;
static char *volatile kept;

static void
on_term(int sig)
{
    (void)sig;
    soft_stop = 1;
}

/* Run until the pool's soft time limit (SIGTERM) arrives, then fail. */
static int
run_soft(struct mproc_ctx *ctx)
{
    struct sigaction sa, old;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    soft_stop = 0;
    sigaction(SIGTERM, &sa, &old);
    while (!soft_stop)
        pause();
    sigaction(SIGTERM, &old, NULL);
    return mproc_fail(ctx, "stopped cleanly by SIGTERM");
}

static int
fault_run(struct mproc_ctx *ctx, const void *data, size_t len, uint64_t index,
          struct mproc_buf *out)
{
    const char *in = data;
    const char *runs = mproc_arg(ctx, "runs", NULL);
    long n;

    if (runs != NULL) {
        char line[32];
        int fd = open(runs, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        int k = snprintf(line, sizeof(line), "%llu\n",
                         (unsigned long long)index);

        /* One write with O_APPEND: lines of several workers never mix. */
        if (fd < 0 || write(fd, line, (size_t)k) != k) {
            if (fd >= 0)
                close(fd);
            return mproc_fail(ctx, "runs: %s: %s", runs, strerror(errno));
        }
        close(fd);
    }
    if (is(in, len, "ok"))
        return mproc_buf_append(out, "ok", 2);
    if (len >= 5 && memcmp(in, "fail:", 5) == 0)
        return mproc_fail(ctx, "%.*s", (int)(len - 5), in + 5);
    if ((n = number_after(in, len, "exit:")) >= 0)
        _exit((int)n);
    if (is(in, len, "segv")) {
        /* A real invalid access.  Address 16 rather than NULL, so that
         * UBSan builds fault in the kernel instead of in a null check. */
        volatile uintptr_t bad = 16; /* opaque to the compiler, too */
        *(volatile int *)bad = 1;
        raise(SIGSEGV);
    }
    if (is(in, len, "abort"))
        abort();
    if (is(in, len, "hang"))
        for (;;)
            pause();
    if (is(in, len, "soft"))
        return run_soft(ctx);
    if (is(in, len, "stubborn")) {
        signal(SIGTERM, SIG_IGN);
        for (;;)
            pause();
    }
    if (is(in, len, "spin")) {
        volatile unsigned long spins = 0;
        for (;;)
            spins++;
    }
    if (is(in, len, "rlimits")) {
        static const int res[] = {RLIMIT_CPU, RLIMIT_AS, RLIMIT_NOFILE};
        unsigned long long v[3];
        struct rlimit rl;
        int i;

        for (i = 0; i < 3; i++)
            v[i] = getrlimit(res[i], &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                       ? (unsigned long long)rl.rlim_cur
                       : 0;
        return mproc_buf_printf(out, "cpu=%llu as=%llu nofile=%llu", v[0],
                                v[1], v[2]);
    }
    if ((n = number_after(in, len, "open:")) >= 0) {
        int fds[4096], k, e = 0;

        if (n > 4096)
            return mproc_fail(ctx, "open: at most 4096");
        for (k = 0; k < n; k++)
            if ((fds[k] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
                e = errno;
                break;
            }
        while (k-- > 0)
            close(fds[k]);
        if (e != 0)
            return mproc_fail(ctx, "open: %s", strerror(e));
        return mproc_buf_printf(out, "opened %ld", n);
    }
    if (is(in, len, "nice")) {
        errno = 0;
        n = getpriority(PRIO_PROCESS, 0);
        return mproc_buf_printf(out, "nice %ld", n);
    }
    if (len > 6 && memcmp(in, "flaky:", 6) == 0) {
        char path[4096];
        int fd;

        if (len - 6 >= sizeof(path))
            return mproc_fail(ctx, "flaky: path too long");
        memcpy(path, in + 6, len - 6);
        path[len - 6] = '\0';
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            return mproc_fail(ctx, "first attempt fails (created %s)", path);
        }
        if (errno != EEXIST)
            return mproc_fail(ctx, "%s: %s", path, strerror(errno));
        return mproc_buf_append(out, "ok", 2);
    }
    if ((n = number_after(in, len, "alloc:")) >= 0) {
        size_t bytes = (size_t)n << 20;
        char *keep = malloc(bytes ? bytes : 1);
        if (keep == NULL)
            return mproc_fail(ctx, "alloc: out of memory");
        memset(keep, 1, bytes); /* touched, so resident */
        /* Kept on purpose, where the compiler cannot drop it: the worker's
         * memory grows. */
        kept = keep;
        return mproc_buf_printf(out, "kept %ld", n);
    }
    if ((n = number_after(in, len, "sleep:")) >= 0) {
        struct timespec ts = {n / 1000, (n % 1000) * 1000000L};
        /* A signal cuts the sleep short; ts then holds what is left. */
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        return mproc_buf_printf(out, "slept %ld", n);
    }
    return mproc_buf_append(out, in, len);
}

static const struct mproc_task_def tasks[] = {
    {"run", fault_run, "do what the item says (ok, fail:M, exit:N, segv, "
                       "abort, hang, sleep:MS, soft, flaky:PATH, alloc:MB, stubborn, "
                       "spin, nice, rlimits, open:N)"},
    {NULL, NULL, NULL},
};

static const struct mproc_arg_def args[] = {
    {"init", MPROC_ARG_STRING, "ok", 0,
     "what each worker's init does: ok, fail, crash or sleep:MS", NULL},
    {"fini", MPROC_ARG_STRING, "ok", 0,
     "what each worker's fini does: ok or hang", NULL},
    {"runs", MPROC_ARG_PATH, NULL, 0,
     "a file to which every run appends its item's index (tests)", NULL},
    MPROC_ARG_END,
};

MPROC_PLUGIN_DEFINE(.name = "fault", .version = "1.0",
                    .description = "misbehave on request, for tests",
                    .init = fault_init, .fini = fault_fini, .tasks = tasks,
                    .args = args);

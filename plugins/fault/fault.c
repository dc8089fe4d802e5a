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
 *   anything else is echoed unchanged.
 * [args] init = fail | crash makes every worker's init fail or abort.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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
    if (strcmp(mode, "ok") != 0)
        return mproc_fail(ctx, "[args] init: expected ok, fail or crash, got "
                               "'%s'", mode);
    return MPROC_TASK_OK;
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

static int
fault_run(struct mproc_ctx *ctx, const void *data, size_t len, uint64_t index,
          struct mproc_buf *out)
{
    const char *in = data;
    long n;

    (void)index;
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
                       "abort, hang, sleep:MS)"},
    {NULL, NULL, NULL},
};

MPROC_PLUGIN_DEFINE(.name = "fault", .version = "1.0",
                    .description = "misbehave on request, for tests",
                    .init = fault_init, .tasks = tasks);

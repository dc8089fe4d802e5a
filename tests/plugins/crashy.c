/* SPDX-License-Identifier: MIT */
/*
 * crashy: a test plugin built twice, with -g (crashy_g.so) and without
 * debug information (crashy_nog.so), so that a test can see a crash's
 * backtrace show file:line exactly when the plugin has debug info.
 *   segv      die of SIGSEGV in crashy_poke()
 *   fpe       die of SIGFPE (an integer division by zero) in crashy_divide()
 *   anything else is echoed.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include <mproc/plugin.h>

/* Not static and never inlined: the trace names it, with or without
 * debug information (the symbol table has it). */
void crashy_poke(volatile int *p) __attribute__((noinline));
int crashy_divide(volatile int a, volatile int b) __attribute__((noinline));

void
crashy_poke(volatile int *p)
{
    *p = 1; /* CRASHY-SEGV-LINE */
    raise(SIGSEGV);
}

int
crashy_divide(volatile int a, volatile int b)
{
    return a / b;
}

static int
crashy_run(struct mproc_ctx *ctx, const void *data, size_t len,
           uint64_t index, struct mproc_buf *out)
{
    (void)ctx;
    (void)index;
    if (len == 4 && memcmp(data, "segv", 4) == 0) {
        volatile uintptr_t bad = 16;
        crashy_poke((volatile int *)bad);
    }
    if (len == 3 && memcmp(data, "fpe", 3) == 0)
        return mproc_buf_printf(out, "%d", crashy_divide(1, 0));
    return mproc_buf_append(out, data, len);
}

static const struct mproc_task_def tasks[] = {
    {"run", crashy_run, "segv, fpe, or echo"},
    {NULL, NULL, NULL},
};

MPROC_PLUGIN_DEFINE(.name = "crashy", .version = "1.0",
                    .description = "crashes for backtrace tests",
                    .tasks = tasks);

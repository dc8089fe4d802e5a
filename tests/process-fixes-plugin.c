/* SPDX-License-Identifier: MIT */
/*
 * A plugin for tests/process-fixes-ended.c: how a Process ends after its
 * target returned, and what a Process user is told.
 *   echo   appends its input
 *   big    appends as many bytes as its input says; when the buffer
 *          refuses to grow (result_max), fails with its own message
 * [args] fini = segv | exit3 | fail: fini() crashes, exits with status 3
 * or returns.  Two tasks, so a target without :TASK is refused.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc/plugin.h>

static int
t_echo(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out)
{
    (void)index;
    if (len == 4 && memcmp(in, "fail", 4) == 0)
        return mproc_fail(ctx, "failing on purpose");
    return mproc_buf_append(out, in, len);
}

static int
t_big(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    char num[32];
    size_t n;

    (void)index;
    snprintf(num, sizeof(num), "%.*s", (int)(len < 31 ? len : 31),
             (const char *)in);
    n = strtoul(num, NULL, 10);
    if (mproc_buf_reserve(out, n) != MPROC_TASK_OK)
        return mproc_fail(ctx, "the buffer refused %zu bytes", n);
    memset(out->data + out->len, 'x', n);
    out->len += n;
    return MPROC_TASK_OK;
}

static void
t_fini(struct mproc_ctx *ctx)
{
    const char *how = mproc_arg(ctx, "fini", "");

    if (strcmp(how, "segv") == 0) {
        /* A real fault, as a bug would make, then the signal itself in
         * case the page was mapped after all.  Address 16, not NULL: a
         * UBSan build would stop in its null check, not fault. */
        volatile uintptr_t bad = 16;
        *(volatile int *)bad = 1;
        raise(SIGSEGV);
    }
    if (strcmp(how, "exit3") == 0)
        _exit(3);
}

static const struct mproc_task_def tasks[] = {
    {"echo", t_echo, "append the input (\"fail\": fail)"},
    {"big", t_big, "append N bytes"},
    {NULL, NULL, NULL},
};

MPROC_PLUGIN_DEFINE(.name = "process-fixes", .version = "1.0",
                    .description = "Process endings after the target",
                    .fini = t_fini, .tasks = tasks);

/* SPDX-License-Identifier: MIT */
/*
 * A test plugin for the pool engine's promises to plugins, with every
 * start method (it is loaded from its file):
 *   print  writes "out ITEM" to stdout and "err ITEM" to stderr, and a
 *          last line without its newline ("tail ITEM"): nothing of it may
 *          be lost, whatever happens to the worker afterwards; the items
 *          "crash" and "hang" then crash (SIGSEGV) or hang;
 *   fds    one line per open descriptor, "FD TARGET" (the directory this
 *          listing reads is left out);
 *   nul    fails unless the byte after the item is a NUL;
 *   mark   appends "ITEM\n" to [args] marks (one write, O_APPEND), then
 *          sleeps [args] mark_ms milliseconds: a record of every run.
 * [args] fini_ms: fini() sleeps that long, then writes "fini PID" to
 * stderr (a fini cut short by a signal leaves no line).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mproc/plugin.h>

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int
t_print(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    (void)ctx;
    (void)index;
    printf("out %.*s\n", (int)len, (const char *)in);
    fprintf(stderr, "err %.*s\n", (int)len, (const char *)in);
    printf("tail %.*s", (int)len, (const char *)in);
    if (strcmp(in, "crash") == 0)
        raise(SIGSEGV);
    if (strcmp(in, "hang") == 0)
        for (;;)
            pause();
    return mproc_buf_append(out, in, len);
}

static int
t_fds(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char path[300], target[PATH_MAX];
    int r = MPROC_TASK_OK;

    (void)in;
    (void)len;
    (void)index;
    if (d == NULL)
        return mproc_fail(ctx, "opendir /proc/self/fd failed");
    while (r == MPROC_TASK_OK && (e = readdir(d)) != NULL) {
        ssize_t n;
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        r = mproc_buf_printf(out, "%s %s\n", e->d_name, target);
    }
    closedir(d);
    return r;
}

static int
t_nul(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    (void)index;
    if (((const char *)in)[len] != '\0')
        return mproc_fail(ctx, "no NUL after the item");
    return mproc_buf_printf(out, "nul ok %zu", len);
}

static int
t_mark(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out)
{
    const char *path = mproc_arg(ctx, "marks", NULL);
    char line[256];
    int fd, n;

    (void)index;
    if (path != NULL) {
        n = snprintf(line, sizeof(line), "%.*s\n", (int)len,
                     (const char *)in);
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, line, (size_t)n) != n)
            return mproc_fail(ctx, "cannot write %s", path);
        close(fd);
    }
    sleep_ms(atol(mproc_arg(ctx, "mark_ms", "0")));
    return mproc_buf_append(out, in, len);
}

static void
t_fini(struct mproc_ctx *ctx)
{
    long ms = atol(mproc_arg(ctx, "fini_ms", "-1"));

    if (ms < 0)
        return;
    sleep_ms(ms);
    fprintf(stderr, "fini %d\n", (int)getpid());
}

static const struct mproc_task_def tasks[] = {
    {"print", t_print, "print to stdout and stderr"},
    {"fds", t_fds, "list open descriptors"},
    {"nul", t_nul, "check the NUL after the item"},
    {"mark", t_mark, "record each run in a file"},
    {NULL, NULL, NULL},
};

MPROC_PLUGIN_DEFINE(.name = "engine", .version = "1",
                    .description = "pool engine test plugin",
                    .fini = t_fini, .tasks = tasks);

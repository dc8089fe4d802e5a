/* SPDX-License-Identifier: MIT */
/*
 * Targets for tests/test-process.c: each task does one thing a process may
 * do (return, exit, abort, sleep, fail, list its descriptors, say who it
 * is, start a child of its own).  The last two call libmproc, which the
 * program that loads this plugin provides (test-process and mproc-worker
 * export it).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc/process.h>

#include "common.h"

static long
num(const void *in, size_t len)
{
    char buf[32];

    if (len >= sizeof(buf))
        len = sizeof(buf) - 1;
    memcpy(buf, in, len);
    buf[len] = '\0';
    return strtol(buf, NULL, 10);
}

static int
t_exit(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out)
{
    (void)ctx, (void)index, (void)out;
    exit((int)num(in, len));
}

static int
t_abort(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    (void)ctx, (void)in, (void)len, (void)index, (void)out;
    abort();
}

static int
t_sleep(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    (void)ctx, (void)index;
    usleep((useconds_t)num(in, len) * 1000);
    return mproc_buf_printf(out, "slept");
}

static int
t_fail(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out)
{
    (void)in, (void)len, (void)index, (void)out;
    return mproc_fail(ctx, "proc: failing on purpose");
}

/* "N" bytes of 'x'. */
static int
t_big(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    long n = num(in, len);

    (void)ctx, (void)index;
    if (mproc_buf_reserve(out, (size_t)n) != MPROC_TASK_OK)
        return MPROC_TASK_FAIL;
    memset(out->data + out->len, 'x', (size_t)n);
    out->len += (size_t)n;
    return MPROC_TASK_OK;
}

/* The open descriptors, "0 1 2 4", without the one that lists them. */
static int
t_fds(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n[256], k = 0, i, j;

    (void)in, (void)len, (void)index;
    if (d == NULL)
        return mproc_fail(ctx, "opendir /proc/self/fd failed");
    while ((e = readdir(d)) != NULL && k < 256)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
            n[k++] = atoi(e->d_name);
    closedir(d);
    for (i = 1; i < k; i++)
        for (j = i; j > 0 && n[j - 1] > n[j]; j--) {
            int t = n[j];
            n[j] = n[j - 1];
            n[j - 1] = t;
        }
    for (i = 0; i < k; i++)
        mproc_buf_printf(out, i ? " %d" : "%d", n[i]);
    return MPROC_TASK_OK;
}

/* "NAME|PARENT-NAME" */
static int
t_whoami(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    mproc_process_t *pp = mproc_parent_process();

    (void)ctx, (void)in, (void)len, (void)index;
    return mproc_buf_printf(out, "%s|%s",
                            mproc_process_name(mproc_current_process()),
                            pp ? mproc_process_name(pp) : "-");
}

/* Start a child (fork) that says who it is; output what it said. */
static int
t_nested(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    struct mproc_process_opts o;
    mproc_process_t *p;
    const void *data;
    size_t n;
    int r;

    (void)in, (void)len, (void)index;
    mproc_process_opts_init(&o);
    o.fn = t_whoami;
    if (mproc_get_context("fork", &o.context, NULL) < 0 ||
        mproc_process_new(&p, &o, NULL) < 0)
        return mproc_fail(ctx, "cannot create a child");
    r = mproc_process_start(p);
    if (r == 0)
        r = mproc_process_join(p, -1);
    if (r == 0)
        r = mproc_process_result(p, &data, &n);
    if (r == 0)
        r = mproc_buf_append(out, data, n);
    else
        mproc_fail(ctx, "nested: %s", mproc_process_errmsg(p));
    mproc_process_close(p);
    mproc_process_free(p);
    return r == 0 ? MPROC_TASK_OK : MPROC_TASK_FAIL;
}

static const struct mproc_task_def tasks[] = {
    {"ret", t_echo, "return the input"},
    {"exit", t_exit, "exit(N)"},
    {"abort", t_abort, "abort()"},
    {"sleep", t_sleep, "sleep N ms"},
    {"fail", t_fail, "fail with a message"},
    {"big", t_big, "output N bytes"},
    {"fds", t_fds, "list the open descriptors"},
    {"whoami", t_whoami, "name|parent name"},
    {"nested", t_nested, "start a child; its whoami"},
    {NULL, NULL, NULL}};
MPROC_PLUGIN_DEFINE(.name = "proc", .version = "0",
                    .description = "targets for the process tests",
                    .tasks = tasks);

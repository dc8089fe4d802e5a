/* SPDX-License-Identifier: MIT */
/*
 * Targets for tests/test-start13b.c: what a started process finds about
 * its signals and its parent.
 *
 *   signals  for each of SIGHUP SIGINT SIGQUIT SIGTERM SIGUSR1 SIGUSR2
 *            SIGPIPE SIGALRM SIGCHLD SIGXCPU SIGXFSZ SIGTSTP SIGWINCH:
 *            D (default), I (ignored) or H (a handler); then "/" and the
 *            blocked signals among 1..31 by number ("-": none)
 *   parent   the name of mproc_parent_process(), or "none" (libmproc is
 *            the loading program's: test-start13b and mproc-worker
 *            export it)
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <mproc/plugin.h>
#include <mproc/process.h>

static int
t_signals(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
          struct mproc_buf *out)
{
    static const int sigs[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGUSR1,
                               SIGUSR2, SIGPIPE, SIGALRM, SIGCHLD, SIGXCPU,
                               SIGXFSZ, SIGTSTP, SIGWINCH};
    char buf[256];
    size_t n = 0, i;
    sigset_t mask;
    int s;
    bool any = false;

    (void)ctx, (void)in, (void)len, (void)index;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction sa;
        sigaction(sigs[i], NULL, &sa);
        buf[n++] = sa.sa_handler == SIG_DFL   ? 'D'
                   : sa.sa_handler == SIG_IGN ? 'I'
                                              : 'H';
    }
    buf[n++] = '/';
    sigprocmask(SIG_SETMASK, NULL, &mask);
    for (s = 1; s < 32; s++)
        if (sigismember(&mask, s) == 1) {
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%d",
                                  any ? "," : "", s);
            any = true;
        }
    if (!any)
        buf[n++] = '-';
    return mproc_buf_append(out, buf, n);
}

static int
t_parent(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    mproc_process_t *p = mproc_parent_process();
    const char *name = p != NULL ? mproc_process_name(p) : "none";

    (void)ctx, (void)in, (void)len, (void)index;
    return mproc_buf_append(out, name, strlen(name));
}

static const struct mproc_task_def tasks[] = {
    {"signals", t_signals, "signal dispositions and mask"},
    {"parent", t_parent, "mproc_parent_process()'s name"},
    {NULL, NULL, NULL},
};

MPROC_PLUGIN_DEFINE(.name = "start13b", .version = "0",
                    .description = "tests of the start path (issue 13.4)",
                    .tasks = tasks);

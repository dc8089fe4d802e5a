/* SPDX-License-Identifier: MIT */
/*
 * A forked child that uses (or just frees) the proxies it inherited
 * must not touch its parent's connection: its calls are MPROC_EPERM and
 * say to connect anew, and the parent goes on, neither hung nor fed a
 * stray reply.  Before, the child's requests went down the shared
 * socket (or ring), took the parent's replies, and the parent waited
 * for ever.  Bounded by alarm(): a hang is a failure, not a stuck run.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc/manager.h>
#include <mproc/shared.h>

#include "tap.h"

#define N 500

static int
run(const char *how)
{
    mproc_manager_t *m;
    mproc_mobj_t *a;
    mproc_err_t err;
    int64_t x = 0;
    int r, i, bad = 0, st;
    pid_t c;

    r = mproc_manager_start(&m, NULL, &err);
    if (!ok(r == 0, "%s: start (%s)", how, r == 0 ? "" : err.msg))
        return 1;
    mproc_manager_array(m, "a", MPROC_T_INT64, 1, &a);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        int first = 0, n = 0;

        alarm(20);
        for (i = 0; i < N; i++) {
            r = mproc_marray_add_i64(a, 0, 1, NULL);
            if (r == MPROC_EPERM)
                n++;
            else if (first == 0)
                first = r != 0 ? r : 1;
        }
        r = strstr(mproc_manager_errmsg(m), "connect anew") != NULL;
        mproc_mobj_free(a); /* must not send a release either */
        mproc_manager_free(m);
        _exit(n == N && first == 0 && r ? 0 : 1);
    }
    alarm(20);
    for (i = 0; i < N; i++)
        if (mproc_marray_add_i64(a, 0, 1, NULL) != 0)
            bad++;
    while (waitpid(c, &st, 0) < 0)
        ;
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "%s: the child's calls on the inherited connection are MPROC_EPERM "
       "and say to connect anew", how);
    ok(bad == 0, "%s: the parent's calls all succeed (%d failed)", how, bad);
    r = mproc_marray_get_i64(a, 0, &x);
    ok(r == 0 && x == N, "%s: the parent's connection still works: %lld",
       how, (long long)x);
    alarm(0);
    mproc_mobj_free(a);
    mproc_manager_free(m);
    return 0;
}

int
main(void)
{
    plan(8);
    setenv("MPROC_MANAGER_RING", "1", 1);
    run("ring");
    setenv("MPROC_MANAGER_RING", "0", 1);
    run("socket");
    return done_testing();
}

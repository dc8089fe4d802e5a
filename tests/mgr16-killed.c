/* SPDX-License-Identifier: MIT */
/*
 * A server SIGKILLed under its owner leaves its socket file in the
 * private folder of the default address; the owner's
 * mproc_manager_shutdown() (or mproc_manager_free()) then removes both,
 * as it does after a clean shutdown, instead of leaving
 * /tmp/mproc-mgr-XXXXXX/manager.sock behind.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mproc/manager.h>

#include "tap.h"

static bool
exists(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0 || errno != ENOENT;
}

int
main(void)
{
    mproc_manager_t *m;
    mproc_mobj_t *d;
    mproc_err_t err;
    char sock[4096], dir[4096], *sl;
    int r, i;

    plan(8);
    for (i = 0; i < 2; i++) {
        const char *how = i == 0 ? "shutdown" : "free";

        r = mproc_manager_start(&m, NULL, &err);
        if (!ok(r == 0, "%s: start (%s)", how, r == 0 ? "" : err.msg))
            return 1;
        snprintf(sock, sizeof(sock), "%s", mproc_manager_address(m) + 5);
        snprintf(dir, sizeof(dir), "%s", sock);
        sl = strrchr(dir, '/');
        if (sl != NULL)
            *sl = '\0';
        kill(mproc_manager_pid(m), SIGKILL);
        /* The kill takes effect soon, not at once: call until it does. */
        for (r = 0; r == 0; usleep(10000)) {
            r = mproc_manager_dict(m, "d", &d);
            if (r == 0)
                mproc_mobj_free(d);
        }
        is_int(r, MPROC_EPIPE, "%s: a call after the SIGKILL is MPROC_EPIPE",
               how);
        ok(exists(sock), "%s: the killed server left %s", how, sock);
        if (i == 0) {
            mproc_manager_shutdown(m);
            ok(!exists(dir), "shutdown removes %s", dir);
            mproc_manager_free(m);
        } else {
            mproc_manager_free(m);
            ok(!exists(dir), "free removes %s", dir);
        }
    }
    return done_testing();
}

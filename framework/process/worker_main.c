/* SPDX-License-Identifier: MIT */
/*
 * mproc-worker: the image that the spawn and forkserver start methods
 * run.  Everything it is to do arrives in the boot message on descriptor
 * 3 (see process_int.h); its command line only tells ps(1) what it is.
 */
#include "internal.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "process/process_int.h"

int
main(int argc, char **argv)
{
    struct mproc__boot b;
    sigset_t none;
    void *mem;

    (void)argc;
    /* posix_spawn() emptied the mask; started some other way, make sure
     * (mproc__boot_run() counts on it). */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (mproc__boot_read(MPROC__FD_BOOT, &b, &mem) < 0) {
        fprintf(stderr, "%s: this program is started by libmproc (the "
                "spawn and forkserver start methods), not by hand\n",
                argv[0] != NULL ? argv[0] : "mproc-worker");
        return 64;
    }
    /* The message is in memory now: only the request's descriptors stay. */
    close(MPROC__FD_BOOT);
    mproc__boot_run(&b);
}

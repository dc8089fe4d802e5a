/* SPDX-License-Identifier: MIT */
/*
 * ipc = auto (issue 19): the channel backend chosen by a short
 * measurement of the pool's own pattern, cached per machine and kernel.
 */
#ifndef MPROC_IPC_AUTO_INT_H
#define MPROC_IPC_AUTO_INT_H

#include <limits.h>
#include <stdbool.h>

#define MPROC__IPC_AUTO_MAX 4

/* What auto chose, and why (for mproc check). */
struct mproc__ipc_auto {
    const char *choice;   /* a backend's name (static) */
    bool cached;          /* read from the cache file, not measured now */
    bool measured;        /* rates below are known */
    char key[160];        /* "kernel=RELEASE cpus=N" */
    char path[PATH_MAX];  /* the cache file; "" when there is none */
    char why[PATH_MAX + 256]; /* a sentence, no newline */
    unsigned n;           /* backends measured */
    const char *names[MPROC__IPC_AUTO_MAX];
    /* tasks/s, 4 workers with 1 and with 64 tasks in flight each */
    double rate[MPROC__IPC_AUTO_MAX], rate64[MPROC__IPC_AUTO_MAX];
};

/*
 * The backend for ipc = auto: from the cache when its key (kernel
 * release and CPU count) matches, else measured now (about 100 ms) and
 * cached.  Never fails: without a measurement the answer is "pipe".
 * `out` may be NULL; the name returned is static.
 */
const char *mproc__ipc_auto(struct mproc__ipc_auto *out);

/* What the last mproc__ipc_auto() of this process decided and why (for
 * mproc check, after the pool chose); false when none ran. */
bool mproc__ipc_auto_last(struct mproc__ipc_auto *out);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Process internals: what a new process image is told (the boot message),
 * and the start methods that make a new image (spawn, forkserver), shared
 * by Process objects (process.c) and pool workers (pool/start.c).
 *
 * A spawned or forkserver child finds its descriptors at fixed numbers:
 *   3   the boot message, a memfd read from offset 0
 *   4.. the descriptors of the request, in order (MPROC__FD_FIRST + i):
 *       process:    4 the result memfd, 5 the sentinel pipe's write end
 *                   (only where the kernel refuses pidfds)
 *       worker:     the task channel's read side (wa.task_nfds of them),
 *                   the result channel's write side (wa.result_nfds),
 *                   then the sync arena's memfd when there is one
 *       forkserver: 4 its request socket
 */
#ifndef MPROC_PROCESS_INT_H
#define MPROC_PROCESS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <mproc/process.h>

#include "pool/pool_int.h"

#define MPROC__FD_BOOT 3
#define MPROC__FD_FIRST 4
/* Descriptors a request may carry: a worker's two channel sides (up to 3
 * each, see ipc/chan_int.h) and the sync arena. */
#define MPROC__FD_MAX 8

enum mproc__boot_kind {
    MPROC__BOOT_PROCESS = 1, /* a Process target */
    MPROC__BOOT_WORKER,      /* a pool worker */
    MPROC__BOOT_SERVER       /* the forkserver */
};

/* Everything a new image needs; pointers are borrowed (encode) or point
 * into the decoded message (decode). */
struct mproc__boot {
    uint32_t kind;
    pid_t parent_pid;      /* PR_SET_PDEATHSIG is checked against it */
    const char *plugin;    /* the plugin's file (process, worker) */
    const char *task;      /* NULL: the only task */
    struct mproc_kv *args; /* ctx->args */
    size_t nargs;
    /* process */
    const char *name;
    const char *parent_name;
    const uint32_t *identity; /* Process-N1:...:Nk */
    size_t nidentity;
    bool daemon;
    const void *input;
    size_t input_len;
    uint64_t result_max;
    /* worker: the scalar fields of its arguments (desc, task, args, sync
     * and the descriptors are carried otherwise) */
    struct mproc__worker_args wa;
    bool has_sync;
    /* forkserver */
    char **preload;
    size_t npreload;
};

/* Serialize `b` into a new memfd (returned, or a negative code). */
int mproc__boot_write(const struct mproc__boot *b, char *errbuf,
                      size_t errlen);

/* Read the boot message from `fd` into *b (pointers into *mem; free
 * *mem and b->args, b->preload with mproc__boot_free). */
int mproc__boot_read(int fd, struct mproc__boot *b, void **mem);
void mproc__boot_free(struct mproc__boot *b, void *mem);

/* In the new image (spawned, or forked by the server), with its
 * descriptors in place: run what the boot message says.  Never returns. */
void mproc__boot_run(const struct mproc__boot *b) __attribute__((noreturn));

/* The forkserver's loop, in the spawned server image.  Never returns. */
void mproc__server_main(const struct mproc__boot *b)
    __attribute__((noreturn));

/*
 * Start a new image by `method` ("spawn" or "forkserver") for `b`, passing
 * fds[0..nfds) as descriptors 4.. .  `worker_stdio`: stdin from /dev/null
 * and stdout to stderr (pool workers).  *pid is the child, a child of this
 * process in both methods.  0, or a negative code with a message.
 */
int mproc__launch(const char *method, const struct mproc__boot *b,
                  const int *fds, size_t nfds, char *errbuf, size_t errlen,
                  pid_t *pid);

/* The mproc-worker program: MPROC_WORKER, else the build tree's copy when
 * this program runs from the build tree, else the installed one. */
const char *mproc__worker_path(void);

/* The sizes and names that process.c and the child side share. */
#define MPROC__RESULT_MAX_DEFAULT ((size_t)64 << 20)

/*
 * The child side of a Process, shared by every start method: run init, the
 * task with the input, fini; send the result (a frame) on result_fd; exit
 * 0 or 1.  `desc` is the plugin, NULL for a function target `fn`.
 */
void mproc__process_child(const struct mproc_plugin *desc, mproc_task_fn fn,
                          const struct mproc_kv *args, size_t nargs,
                          const void *input, size_t len, size_t result_max,
                          int result_fd) __attribute__((noreturn));

/* Make this process the child described (name, identity, parent), after
 * fork or in a new image: current_process() answers with it. */
void mproc__process_become(const char *name, const uint32_t *identity,
                           size_t nidentity, bool daemon, pid_t parent_pid,
                           const char *parent_name, int result_fd);

/*
 * Pool API workers (pool/api_engine.c; issue 11.7).
 *
 * mproc__process_set_identity: in a forked pool worker, before it runs
 * anything: this process is `name`, a daemon child of parent_pid named
 * parent_name.  Plain stores and close() only, so it is safe in a
 * pthread_atfork child handler; both strings must live as long as the
 * process.
 *
 * mproc__process_next_id: the next number of the counter Process-N takes
 * its N from (Python's ForkPoolWorker-N shares it).
 *
 * mproc__process_pool_workers: the hook mproc_active_children() calls to
 * count this process's live pool workers and fill handles for them
 * (at most max into out); NULL: none.
 *
 * mproc__process_worker_new/_end/_free: a pool worker's handle, which
 * answers name, pid, daemon and is_alive (true until _end); join,
 * terminate and the like refuse it (the pool owns the process).
 */
mproc_process_t *mproc__process_worker_new(const char *name, pid_t pid);
void mproc__process_worker_end(mproc_process_t *p);
void mproc__process_worker_free(mproc_process_t *p);
void mproc__process_set_identity(const char *name, pid_t parent_pid,
                                 const char *parent_name);
uint32_t mproc__process_next_id(void);
extern size_t (*mproc__process_pool_workers)(mproc_process_t **out,
                                             size_t max);

/* pidfd_open(pid), or -1 with errno. */
int mproc__pidfd_open(pid_t pid);

#endif

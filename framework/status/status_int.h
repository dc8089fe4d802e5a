/* SPDX-License-Identifier: MIT */
/*
 * Live status of a running pool (issue 19): per-item bookkeeping that
 * costs O(1) per result (counters, a log-bucket latency histogram, the K
 * slowest items), and a Unix socket in a private runtime folder from
 * which `mproc status` reads a snapshot.  The socket is served from the
 * pool's own poll() loop: nothing runs, and no lock is taken, unless a
 * client connects.
 */
#ifndef MPROC_STATUS_INT_H
#define MPROC_STATUS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mproc/error.h>

struct mproc__status;

/* One worker slot, as the pool sees it when a client asks. */
struct mproc__status_worker {
    pid_t pid;           /* 0: none (between a death and its replacement) */
    const char *state;   /* "idle", "running", "starting", "retiring",
                            "down" */
    int64_t index;       /* the item it runs; -1: none */
    const char *item;    /* its bytes (borrowed), item_len of them */
    size_t item_len;
    long long since_ms;  /* monotonic ms when it started the item */
    uint64_t done;       /* tasks this process answered */
};

/* What the pool fills in for a snapshot (pool.c, status_reply()). */
struct mproc__status_snap {
    unsigned nworkers;
    struct mproc__status_worker *w; /* nworkers of them, the status's */
    uint64_t taken;    /* items taken from the input so far */
    uint64_t retried;  /* attempts queued again */
    uint64_t total;    /* items in the input; 0: unknown */
    bool source_done;  /* the input has ended: taken is the total */
    long long now_ms;  /* the pool's monotonic clock */
};

/*
 * Open the status of a pool of `nworkers` labelled `label` (a job file,
 * or a name the caller chose; copied): the bookkeeping and the socket
 * <dir>/<pid>.sock.  *out is NULL (and 0 returned) when MPROC_STATUS=0
 * turns status off.  Stale sockets of dead runs in the folder are
 * removed first.  Errors: a negative MPROC_E* code and a message.
 */
int mproc__status_open(struct mproc__status **out, const char *label,
                       unsigned nworkers, mproc_err_t *err);

/* The listening descriptor, for the pool's poll() (and for a forked
 * worker to close). */
int mproc__status_fd(const struct mproc__status *st);

/* An item's result is known: `status` 0 or its error, `ms` how long its
 * last attempt ran.  O(1) (an insertion into the K slowest, rarely). */
void mproc__status_result(struct mproc__status *st, uint64_t index,
                          int status, long long ms, const char *item,
                          size_t item_len);

/* The snapshot to fill before mproc__status_reply() (its w[] array). */
struct mproc__status_snap *mproc__status_snap(struct mproc__status *st);

/* A client is waiting (the descriptor is readable): answer each waiting
 * one with the snapshot, as text, a NUL, then JSON, and close. */
void mproc__status_reply(struct mproc__status *st);

/* Close the socket, remove its file, free.  NULL: nothing. */
void mproc__status_close(struct mproc__status *st);

/* The folder of the sockets (created 0700 when `create`), in buf:
 * $XDG_RUNTIME_DIR/mproc, else /tmp/mproc-UID.  A folder that another
 * user owns or can enter is refused.  0 or a negative MPROC_E* code. */
int mproc__status_dir(char *buf, size_t len, bool create, mproc_err_t *err);

/* Remove sockets whose run is dead (its pid is gone, or nobody listens):
 * calls `each` (may be NULL) with each pid; `remove` false: only list.
 * Returns how many, or a negative MPROC_E* code. */
int mproc__status_clean(bool remove, void (*each)(long pid, void *arg),
                        void *arg, mproc_err_t *err);

/* Escape bytes for a one-line preview: printable ASCII as is, \\, \n,
 * \t, \r, others \xNN; at most `max` input bytes, "..." after a cut.
 * Always NUL-terminates out (outlen >= 8). */
void mproc__status_escape(char *out, size_t outlen, const char *s,
                          size_t len, size_t max);

#endif

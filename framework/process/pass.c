/* SPDX-License-Identifier: MIT */
/*
 * Handing shared objects to a child (mproc_process_pass): a Queue, a
 * Pipe end, a sync arena (its Locks, Values, Arrays ...) or a
 * SharedMemory block, for every start method.
 *
 * fork: the child has the parent's memory, so the handles themselves are
 * valid there; mproc_process_passed() answers with the same pointers.
 *
 * spawn, forkserver: each object is exported as descriptors (added to
 * the request's, so they land at known numbers in the new image, see
 * process_int.h) and a small description that travels in the boot
 * message (one T_PASS record each).  The new image rebuilds a handle of
 * its own from both before the target runs (mproc__pass_adopt), exactly
 * as the pool rebuilds a spawned worker's channels: the descriptors name
 * the same pipes, message queues, memfds and shm blocks as the parent's,
 * so the child's handle works as a forked child's would.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc/pipe.h>
#include <mproc/queue.h>
#include <mproc/shared_memory.h>
#include <mproc/sync.h>

#include "ipc/chan_int.h"
#include "process/process_int.h"
#include "shm/shm_int.h"
#include "sync/sync_int.h"

/* What this process was handed (a child): the parent's array after fork,
 * or handles rebuilt from the boot message. */
static const struct mproc__pass *passed;
static size_t npassed;

bool
mproc__pass_kind_ok(int kind)
{
    return kind == MPROC_PASS_QUEUE || kind == MPROC_PASS_PIPE ||
           kind == MPROC_PASS_SYNC || kind == MPROC_PASS_SHM;
}

static const char *
kind_name(int kind)
{
    switch (kind) {
    case MPROC_PASS_QUEUE:
        return "queue";
    case MPROC_PASS_PIPE:
        return "pipe";
    case MPROC_PASS_SYNC:
        return "sync arena";
    case MPROC_PASS_SHM:
        return "shared memory";
    default:
        return "?";
    }
}

void
mproc__pass_set(const struct mproc__pass *o, size_t n)
{
    /* Stored only when it changes: a forked child's pages stay shared. */
    if (passed != o || npassed != n) {
        passed = o;
        npassed = n;
    }
}

int
mproc__pass_export(const struct mproc__pass *o, size_t n, int *fds,
                   size_t *nfds, size_t fdcap, struct mproc__pass_rec *recs,
                   char *errbuf, size_t errlen)
{
    mproc_err_t err;
    size_t i, k;
    int r = 0;

    for (i = 0; i < n; i++) {
        struct mproc__pass_rec *rc = &recs[i];
        int f[MPROC__OBJ_MAX_FDS];
        const char *name;

        memset(rc, 0, sizeof(*rc));
        rc->kind = (uint32_t)o[i].kind;
        rc->data = malloc(MPROC__OBJ_BLOB_MAX);
        if (rc->data == NULL) {
            r = mproc__err(&err, MPROC_ENOMEM, "out of memory");
            goto fail;
        }
        k = 0;
        switch (o[i].kind) {
        case MPROC_PASS_QUEUE:
            r = mproc__queue_export(o[i].obj, f, &k, rc->data, &rc->len,
                                    &err);
            break;
        case MPROC_PASS_PIPE:
            r = mproc__pipe_export(o[i].obj, f, &k, rc->data, &rc->len,
                                   &err);
            break;
        case MPROC_PASS_SYNC:
            f[k++] = mproc__sync_fd(o[i].obj);
            rc->len = 0;
            break;
        case MPROC_PASS_SHM:
            if (mproc_shm_buf(o[i].obj) == NULL) {
                r = mproc__err(&err, MPROC_ECLOSED, "closed");
                break;
            }
            f[k++] = mproc__shm_fd(o[i].obj);
            name = mproc_shm_name(o[i].obj);
            rc->len = strlen(name) + 1;
            memcpy(rc->data, name, rc->len);
            break;
        }
        if (r < 0)
            goto fail;
        if (*nfds + k > fdcap) {
            r = mproc__err(&err, MPROC_E2BIG, "%zu descriptors (the child's own "
                           "one or two included): at most %zu in all",
                           *nfds + k, fdcap);
            goto fail;
        }
        rc->fd0 = (uint32_t)*nfds;
        rc->nfds = (uint32_t)k;
        memcpy(fds + *nfds, f, k * sizeof(int));
        *nfds += k;
    }
    return 0;

fail:
    snprintf(errbuf, errlen, "cannot hand %s #%zu to the new process: %s",
             kind_name(o[i].kind), i, err.msg);
    mproc__pass_recs_free(recs, i + 1);
    return r;
}

void
mproc__pass_recs_free(struct mproc__pass_rec *recs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(recs[i].data);
        recs[i].data = NULL;
    }
}

int
mproc__pass_adopt(const struct mproc__pass_rec *recs, size_t n,
                  mproc_err_t *err)
{
    struct mproc__pass *o;
    size_t i;
    int r = 0;

    if (n == 0)
        return 0;
    o = calloc(n, sizeof(*o));
    if (o == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        const struct mproc__pass_rec *rc = &recs[i];
        int fds[MPROC__OBJ_MAX_FDS];
        const char *name = rc->data;
        uint32_t j;

        if (rc->nfds > MPROC__OBJ_MAX_FDS || rc->nfds == 0)
            return mproc__err(err, MPROC_EINVAL, "bad boot message: "
                              "object #%zu", i);
        for (j = 0; j < rc->nfds; j++)
            fds[j] = MPROC__FD_FIRST + (int)(rc->fd0 + j);
        o[i].kind = (int)rc->kind;
        switch (rc->kind) {
        case MPROC_PASS_QUEUE:
            r = mproc__queue_import((mproc_queue_t **)&o[i].obj, fds,
                                    rc->nfds, rc->data, rc->len, err);
            break;
        case MPROC_PASS_PIPE:
            r = mproc__pipe_import((mproc_pipe_t **)&o[i].obj, fds,
                                   rc->nfds, rc->data, rc->len, err);
            break;
        case MPROC_PASS_SYNC:
            r = mproc__sync_attach((mproc_sync_t **)&o[i].obj, fds[0], err);
            break;
        case MPROC_PASS_SHM:
            if (rc->len == 0 || name[rc->len - 1] != '\0')
                r = mproc__err(err, MPROC_EINVAL, "bad boot message");
            else
                r = mproc__shm_import((mproc_shm_t **)&o[i].obj, fds[0],
                                      name, err);
            break;
        default:
            r = mproc__err(err, MPROC_EINVAL, "bad boot message: object "
                           "kind %u", rc->kind);
        }
        if (r < 0)
            return r; /* the child exits: nothing to undo */
    }
    mproc__pass_set(o, n);
    return 0;
}

int
mproc_process_passed(int kind, size_t index, void **out)
{
    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (index >= npassed)
        return MPROC_ENOENT;
    if (passed[index].kind != kind)
        return MPROC_EINVAL;
    *out = passed[index].obj;
    return 0;
}

size_t
mproc_process_npassed(void)
{
    return npassed;
}

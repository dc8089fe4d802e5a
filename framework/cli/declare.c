/* SPDX-License-Identifier: MIT */
/*
 * The job's declared shared objects ([lock:NAME], [array:NAME] ...):
 * created in one sync arena, with the job's [pool] sync backend, before
 * any worker starts, and named so plugins find them with mproc_shared().
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Create one declared object; *obj receives it. */
static int
create(mproc_sync_t *s, const struct mproc__decl *d, void **obj,
       mproc_err_t *err)
{
    mproc_lock_t *l;
    size_t i;
    int r = 0;

    switch (d->kind) {
    case MPROC__DECL_LOCK:
    case MPROC__DECL_RLOCK:
        return mproc_lock_new(s, d->kind == MPROC__DECL_RLOCK,
                              (mproc_lock_t **)obj, err);
    case MPROC__DECL_SEMAPHORE:
    case MPROC__DECL_BOUNDEDSEMAPHORE:
        return mproc_sem_new(s, d->value,
                             d->kind == MPROC__DECL_BOUNDEDSEMAPHORE,
                             (mproc_sem_t **)obj, err);
    case MPROC__DECL_EVENT:
        return mproc_event_new(s, (mproc_event_t **)obj, err);
    case MPROC__DECL_CONDITION:
        l = NULL;
        if (d->lock != NULL && (l = mproc_sync_find(s, "lock", d->lock)) ==
                                   NULL)
            l = mproc_sync_find(s, "rlock", d->lock);
        return mproc_cond_new(s, l, (mproc_cond_t **)obj, err);
    case MPROC__DECL_BARRIER:
        return mproc_barrier_new(s, d->parties, (mproc_barrier_t **)obj, err);
    case MPROC__DECL_VALUE:
    case MPROC__DECL_ARRAY:
        r = mproc_value_new(s, d->type, d->length, d->locked,
                            (mproc_value_t **)obj, err);
        if (r < 0 || d->init == NULL)
            return r;
        for (i = 0; i < d->length; i++) {
            if (d->type == MPROC_T_FLOAT || d->type == MPROC_T_DOUBLE)
                mproc_value_set(*obj, i, strtod(d->init, NULL));
            else
                mproc_value_set_i64(*obj, i, strtoll(d->init, NULL, 10));
        }
        return 0;
    }
    return MPROC_EINVAL;
}

int
cli_shared_new(const struct cli_job *cj, mproc_sync_t **out)
{
    const struct mproc__decl *d;
    mproc_sync_t *s = NULL;
    mproc_err_t err;
    size_t n = mproc__config_decls(cj->cfg, &d), i, size = 64 << 10;
    int pass, r;

    *out = NULL;
    if (n == 0)
        return 0;
    for (i = 0; i < n; i++)
        size += 1024 + d[i].length * mproc_type_size(d[i].type);
    r = mproc_sync_new(&s, cj->job->sync, size, &err);
    if (r < 0) {
        cli_error("%s: %s", cj->path, err.msg);
        return CLI_EXIT_SOFTWARE;
    }
    /* Conditions last: they may name a lock declared after them. */
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < n; i++) {
            void *obj = NULL;
            if ((d[i].kind == MPROC__DECL_CONDITION) != (pass == 1))
                continue;
            r = create(s, &d[i], &obj, &err);
            if (r == 0 &&
                (r = mproc_sync_name(s, mproc__decl_kind_name(d[i].kind),
                                     d[i].name, obj)) < 0)
                /* The naming's codes (mproc_sync_name() fills no err). */
                snprintf(err.msg, sizeof(err.msg), "%s",
                         r == MPROC_EINVAL ? "the name is too long (43 "
                                             "bytes at most)"
                         : r == MPROC_ENOMEM
                             ? "too many shared objects: a job declares "
                               "256 at most"
                             : mproc_strerror(r));
            if (r < 0) {
                cli_error("%s: [%s:%s]: %s", d[i].where,
                          mproc__decl_kind_name(d[i].kind), d[i].name,
                          err.msg);
                mproc_sync_free(s);
                return CLI_EXIT_CONFIG;
            }
        }
    }
    *out = s;
    return 0;
}

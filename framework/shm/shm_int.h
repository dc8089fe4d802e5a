/* SPDX-License-Identifier: MIT */
/*
 * Named shared memory internals: handing a block to a new image, and the
 * sweep of `mproc clean`.
 */
#ifndef MPROC_SHM_INT_H
#define MPROC_SHM_INT_H

#include <stdbool.h>

#include <mproc/shared_memory.h>

/* The block's descriptor (owned by the handle), for a new image. */
int mproc__shm_fd(const mproc_shm_t *m);
/* A handle on the block behind `fd` (taken over on success, untouched on
 * failure), named `name` (no '/'). */
int mproc__shm_import(mproc_shm_t **out, int fd, const char *name,
                      mproc_err_t *err);

/*
 * Blocks in `dir` (/dev/shm) that this library made, that are the
 * caller's, and whose creator is dead (or its pid reused): list them
 * (`remove` false) or remove them.  `each` (may be NULL) is called with
 * each one's name and creator pid.  Returns how many, or a negative
 * error (the folder cannot be read).
 */
int mproc__shm_clean(const char *dir, bool remove,
                     void (*each)(const char *name, long pid, void *arg),
                     void *arg, mproc_err_t *err);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * mproc: named shared memory blocks (Python's
 * multiprocessing.shared_memory.SharedMemory).
 *
 * A block is a POSIX shared memory object (/dev/shm/NAME): any process
 * of the user, related or not, that knows the name can attach it and
 * see the same bytes.  A header of its own (<mproc/shared_memory.h>), not
 * <mproc/shared.h>: the Values and Arrays there live in a sync arena that
 * only a family of processes shares, while a block lives by its name, as
 * Python keeps SharedMemory in a module of its own.
 *
 * Lifetime: the creator's mproc_shm_create() makes the name (O_EXCL, mode
 * 0600); mproc_shm_unlink() removes it (the memory lives on while some
 * process still maps it).  A block whose creator was killed before it
 * could unlink is found and removed by `mproc clean`, which removes the
 * System V sets of dead creators too: each block made here ends with a
 * small trailer (past mproc_shm_size() bytes) naming its creator's pid
 * and start time.  A block made by another program (Python's, say) can
 * be attached too; its size is then the file's.
 *
 * Handles: one per process and attach; not shared by fork (a forked child
 * may use the parent's handle's memory, which fork keeps mapped); new
 * images get one through mproc_process_pass().  A handle is used by one
 * thread at a time; the memory by anyone (synchronize it yourself, with a
 * Lock of <mproc/sync.h> for example).
 *
 * A NULL handle is refused, never dereferenced: MPROC_EINVAL from a call
 * that returns an error code, 0/false/NULL from one that does not, no-op
 * for the frees (the rule in <mproc/error.h>).
 */
#ifndef MPROC_SHARED_MEMORY_H
#define MPROC_SHARED_MEMORY_H

#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A shared memory block (opaque). */
typedef struct mproc_shm mproc_shm_t;

/** Longest name, in bytes. */
#define MPROC_SHM_NAME_MAX 200

/**
 * Create a block of `size` bytes (> 0), zero-filled, named `name` (1 to
 * MPROC_SHM_NAME_MAX bytes, no '/', not starting with '.'; NULL: a fresh
 * unpredictable name "mproc_" + 16 hex digits, see mproc_shm_name()).
 * @return 0 and *out; MPROC_EINVAL for a size of 0 or a bad name (the
 *         message says why, a name too long included); MPROC_EEXIST when the
 *         name is taken (Python's FileExistsError); MPROC_ENOSPC,
 *         MPROC_EMFILE, MPROC_ENOMEM or another system error.
 */
MPROC_API int mproc_shm_create(mproc_shm_t **out, const char *name,
                               size_t size, mproc_err_t *err);

/**
 * Attach the block named `name`.
 * @return 0 and *out; MPROC_ENOENT when there is none (Python's
 *         FileNotFoundError); MPROC_EACCES; MPROC_EINVAL for a bad name
 *         or an empty block; a system error.
 */
MPROC_API int mproc_shm_attach(mproc_shm_t **out, const char *name,
                               mproc_err_t *err);

/** The memory (NULL after mproc_shm_close()); valid until close or
 *  free. */
MPROC_API void *mproc_shm_buf(const mproc_shm_t *m);
/** Its size in bytes, as created. */
MPROC_API size_t mproc_shm_size(const mproc_shm_t *m);
/** Its name, without the leading '/' (borrowed, valid until free). */
MPROC_API const char *mproc_shm_name(const mproc_shm_t *m);

/**
 * Unmap the block from this process (the name stays): buf is NULL from
 * then on.  0, or MPROC_ECLOSED when closed already.
 */
MPROC_API int mproc_shm_close(mproc_shm_t *m);

/**
 * Remove the name, once, from any process (the memory lives while mapped
 * somewhere).  0; MPROC_ENOENT when the name is gone already; a system
 * error.
 */
MPROC_API int mproc_shm_unlink(mproc_shm_t *m);

/** Close if needed and free the handle (never unlinks).  NULL: no-op. */
MPROC_API void mproc_shm_free(mproc_shm_t *m);

/** The message of the last failure on this handle (borrowed). */
MPROC_API const char *mproc_shm_errmsg(const mproc_shm_t *m);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_SHARED_MEMORY_H */

/* SPDX-License-Identifier: MIT */
/*
 * mproc: typed values and arrays in shared memory (Python's Value and
 * Array), living in a sync arena (see <mproc/sync.h>).
 *
 * Each has an optional lock, on by default as in Python: mproc_value_get()
 * and _set() take it, and mproc_value_lock() returns it for compound
 * updates (acquire; get, compute, set; release: inside, get and set see
 * that the calling thread holds it, as with Python's RLock).  For lock-free use, mproc_value_ptr()
 * gives the raw memory: naturally aligned, usable with C11 atomics.
 *
 * A NULL handle is refused, never dereferenced: MPROC_EINVAL from a call
 * that returns an error code, 0/false/NULL from one that does not, no-op
 * for the frees (the rule in <mproc/error.h>).
 */
#ifndef MPROC_SHARED_H
#define MPROC_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sync.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Element types, named in job files as written after MPROC_T_, lower-case. */
enum mproc_type {
    MPROC_T_INT8 = 1,
    MPROC_T_INT16,
    MPROC_T_INT32,
    MPROC_T_INT64,
    MPROC_T_UINT8,
    MPROC_T_UINT16,
    MPROC_T_UINT32,
    MPROC_T_UINT64,
    MPROC_T_FLOAT,
    MPROC_T_DOUBLE,
    MPROC_T_CHAR /**< bytes */
};

/** A Value (opaque); an Array is a Value with a length. */
typedef struct mproc_value mproc_value_t;

/** The type named `name` ("int64", "double", "char", ...), or 0. */
MPROC_API int mproc_type_from_name(const char *name);
/** The name of a type, or NULL. */
MPROC_API const char *mproc_type_name(int type);
/** The size of one element, or 0 for an unknown type. */
MPROC_API size_t mproc_type_size(int type);

/**
 * Create a Value (length 1) or an Array (length > 1; a char Array is a
 * byte string), all elements zero, with a Lock when `with_lock`.
 * @return 0; MPROC_EINVAL (type, or length 0 or above 16 Mi elements);
 *         MPROC_ENOMEM (the arena is full).
 */
MPROC_API int mproc_value_new(mproc_sync_t *s, int type, size_t length,
                              bool with_lock, mproc_value_t **out,
                              mproc_err_t *err);

/** The element type (enum mproc_type); MPROC_EINVAL for NULL. */
MPROC_API int mproc_value_type(const mproc_value_t *v);
MPROC_API size_t mproc_value_length(const mproc_value_t *v);
/** The lock, or NULL when created without one. */
MPROC_API mproc_lock_t *mproc_value_lock(const mproc_value_t *v);
/** The elements, for direct (e.g. atomic) access. */
MPROC_API void *mproc_value_ptr(const mproc_value_t *v);

/**
 * Element `i` as a double / set it from a double (converted to the type),
 * under the lock when there is one.
 * @return 0; MPROC_ERANGE for an index out of bounds; the lock's
 *         MPROC_EOWNERDEAD (done anyway: the value may be inconsistent).
 */
MPROC_API int mproc_value_get(mproc_value_t *v, size_t i, double *out);
MPROC_API int mproc_value_set(mproc_value_t *v, size_t i, double x);
/** The same with 64-bit integers, exact for the integer types. */
MPROC_API int mproc_value_get_i64(mproc_value_t *v, size_t i, int64_t *out);
MPROC_API int mproc_value_set_i64(mproc_value_t *v, size_t i, int64_t x);
/** Add `delta` to element `i` under the lock (atomically without one). */
MPROC_API int mproc_value_add_i64(mproc_value_t *v, size_t i, int64_t delta);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_SHARED_H */

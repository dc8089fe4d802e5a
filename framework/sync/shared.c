/* SPDX-License-Identifier: MIT */
/*
 * Value and Array: typed elements in a sync arena, with an optional Lock.
 */
#include "internal.h"

#include <string.h>

#include <mproc/shared.h>

#include "sync/sync_int.h"

#define MAX_LENGTH ((size_t)16 << 20)

struct mproc_value {
    struct mproc__sobj o;
    uint32_t type;
    uint32_t has_lock;
    uint64_t length;
    uint64_t lock_offset;
    alignas(64) unsigned char data[];
};

static const struct {
    const char *name;
    size_t size;
} types[] = {
    [MPROC_T_INT8] = {"int8", 1},     [MPROC_T_INT16] = {"int16", 2},
    [MPROC_T_INT32] = {"int32", 4},   [MPROC_T_INT64] = {"int64", 8},
    [MPROC_T_UINT8] = {"uint8", 1},   [MPROC_T_UINT16] = {"uint16", 2},
    [MPROC_T_UINT32] = {"uint32", 4}, [MPROC_T_UINT64] = {"uint64", 8},
    [MPROC_T_FLOAT] = {"float", 4},   [MPROC_T_DOUBLE] = {"double", 8},
    [MPROC_T_CHAR] = {"char", 1},
};
#define NTYPES ((int)MPROC__ARRAY_SIZE(types))

int
mproc_type_from_name(const char *name)
{
    int t;
    for (t = 1; t < NTYPES; t++)
        if (strcmp(types[t].name, name) == 0)
            return t;
    return 0;
}

const char *
mproc_type_name(int type)
{
    return type > 0 && type < NTYPES ? types[type].name : NULL;
}

size_t
mproc_type_size(int type)
{
    return type > 0 && type < NTYPES ? types[type].size : 0;
}

int
mproc_value_new(mproc_sync_t *s, int type, size_t length, bool with_lock,
                mproc_value_t **out, mproc_err_t *err)
{
    mproc_lock_t *l = NULL;
    mproc_value_t *v;
    uint32_t index = 0;
    int r;

    if (s == NULL)
        return mproc__err(err, MPROC_EINVAL, "value: no arena");
    *out = NULL;
    if (mproc_type_size(type) == 0)
        return mproc__err(err, MPROC_EINVAL, "unknown value type %d", type);
    if (length == 0 || length > MAX_LENGTH)
        return mproc__err(err, MPROC_EINVAL, "an array holds 1 to %zu "
                          "elements, not %zu", MAX_LENGTH, length);
    if (with_lock &&
        ((r = mproc__sync_room(s, sizeof(*v) + length * mproc_type_size(type),
                               1, err)) < 0 ||
         (r = mproc_lock_new(s, false, &l, err)) < 0))
        return r;
    /* No semaphore of a sysv set: a Value's data needs none, its Lock
     * has its own. */
    v = mproc__sync_alloc(s, sizeof(*v) + length * mproc_type_size(type),
                          VALUE_MAGIC, false, &index, err);
    if (v == NULL)
        return MPROC_ENOMEM;
    v->type = (uint32_t)type;
    v->length = length;
    v->has_lock = with_lock;
    v->lock_offset = l ? l->o.offset : 0;
    if (l != NULL)
        l->track_tid = 1; /* take(): get and set inside a compound update */
    *out = v;
    return 0;
}

int
mproc_value_type(const mproc_value_t *v)
{
    if (v == NULL)
        return MPROC_EINVAL;
    return (int)v->type;
}

size_t
mproc_value_length(const mproc_value_t *v)
{
    if (v == NULL)
        return 0;
    return (size_t)v->length;
}

mproc_lock_t *
mproc_value_lock(const mproc_value_t *v)
{
    if (v == NULL)
        return NULL;
    return v->has_lock ? (mproc_lock_t *)((char *)mproc__sync_hdr_of(&v->o) +
                                          v->lock_offset)
                       : NULL;
}

void *
mproc_value_ptr(const mproc_value_t *v)
{
    if (v == NULL)
        return NULL;
    return (void *)v->data;
}

/* Read element i as a double or an int64 (both filled). */
static void
load(const mproc_value_t *v, size_t i, double *d, int64_t *n)
{
    const unsigned char *p = v->data + i * types[v->type].size;

#define LOAD(T)                                                             \
    do {                                                                    \
        T x;                                                                \
        memcpy(&x, p, sizeof(x));                                           \
        *d = (double)x;                                                     \
        *n = (int64_t)x;                                                    \
    } while (0)
    switch (v->type) {
    case MPROC_T_INT8: LOAD(int8_t); break;
    case MPROC_T_INT16: LOAD(int16_t); break;
    case MPROC_T_INT32: LOAD(int32_t); break;
    case MPROC_T_INT64: LOAD(int64_t); break;
    case MPROC_T_UINT8: LOAD(uint8_t); break;
    case MPROC_T_UINT16: LOAD(uint16_t); break;
    case MPROC_T_UINT32: LOAD(uint32_t); break;
    case MPROC_T_UINT64: LOAD(uint64_t); break;
    case MPROC_T_FLOAT: LOAD(float); break;
    case MPROC_T_DOUBLE: LOAD(double); break;
    case MPROC_T_CHAR: LOAD(unsigned char); break;
    }
#undef LOAD
}

/* Write element i from a double or (when is_int) an int64. */
static void
store(mproc_value_t *v, size_t i, double d, int64_t n, bool is_int)
{
    unsigned char *p = v->data + i * types[v->type].size;

#define STORE(T)                                                            \
    do {                                                                    \
        T x = is_int ? (T)n : (T)d;                                         \
        memcpy(p, &x, sizeof(x));                                           \
    } while (0)
    switch (v->type) {
    case MPROC_T_INT8: STORE(int8_t); break;
    case MPROC_T_INT16: STORE(int16_t); break;
    case MPROC_T_INT32: STORE(int32_t); break;
    case MPROC_T_INT64: STORE(int64_t); break;
    case MPROC_T_UINT8: STORE(uint8_t); break;
    case MPROC_T_UINT16: STORE(uint16_t); break;
    case MPROC_T_UINT32: STORE(uint32_t); break;
    case MPROC_T_UINT64: STORE(uint64_t); break;
    case MPROC_T_FLOAT: STORE(float); break;
    case MPROC_T_DOUBLE: STORE(double); break;
    case MPROC_T_CHAR: STORE(unsigned char); break;
    }
#undef STORE
}

/*
 * Take the lock if there is one; returns 0, EOWNERDEAD (taken) or error,
 * and *took: whether give() must release it.  A lock the calling thread
 * holds already (a compound update: mproc_value_lock(), get, compute,
 * set, release) is used as held, as Python's Value, whose lock is an
 * RLock: waiting for it would wait for ever.
 */
static int
take(mproc_value_t *v, bool *took)
{
    mproc_lock_t *l = mproc_value_lock(v);

    *took = false;
    if (l == NULL || mproc__lock_mine(l))
        return 0;
    *took = true;
    /* Held for a load or a store: a signal does not interrupt it. */
    return mproc__lock_take(l);
}

static void
give(mproc_value_t *v, bool took)
{
    if (took)
        mproc_lock_release(mproc_value_lock(v));
}

static int
access_(mproc_value_t *v, size_t i, double *d, int64_t *n, bool write,
        bool is_int)
{
    double dd;
    int64_t nn;
    bool took;
    int r;

    if (i >= v->length)
        return MPROC_ERANGE;
    r = take(v, &took);
    if (r < 0 && r != MPROC_EOWNERDEAD)
        return r;
    if (write) {
        store(v, i, d ? *d : 0, n ? *n : 0, is_int);
    } else {
        load(v, i, &dd, &nn);
        if (d != NULL)
            *d = dd;
        if (n != NULL)
            *n = nn;
    }
    give(v, took);
    return r;
}

int
mproc_value_get(mproc_value_t *v, size_t i, double *out)
{
    if (v == NULL)
        return MPROC_EINVAL;
    return access_(v, i, out, NULL, false, false);
}

int
mproc_value_set(mproc_value_t *v, size_t i, double x)
{
    if (v == NULL)
        return MPROC_EINVAL;
    return access_(v, i, &x, NULL, true, false);
}

int
mproc_value_get_i64(mproc_value_t *v, size_t i, int64_t *out)
{
    if (v == NULL)
        return MPROC_EINVAL;
    return access_(v, i, NULL, out, false, true);
}

int
mproc_value_set_i64(mproc_value_t *v, size_t i, int64_t x)
{
    if (v == NULL)
        return MPROC_EINVAL;
    return access_(v, i, NULL, &x, true, true);
}

int
mproc_value_add_i64(mproc_value_t *v, size_t i, int64_t delta)
{
    unsigned char *p;
    double d;
    int64_t n;
    bool took;
    int r;

    if (v == NULL)
        return MPROC_EINVAL;
    if (i >= v->length)
        return MPROC_ERANGE;
    if (!v->has_lock) {
        /* No lock: an atomic add for the integer types; a CAS loop on the
         * bits for the floating ones. */
        p = v->data + i * types[v->type].size;
        switch (v->type) {
        case MPROC_T_INT8: case MPROC_T_UINT8: case MPROC_T_CHAR:
            __atomic_fetch_add((uint8_t *)p, (uint8_t)delta, __ATOMIC_SEQ_CST);
            return 0;
        case MPROC_T_INT16: case MPROC_T_UINT16:
            __atomic_fetch_add((uint16_t *)p, (uint16_t)delta,
                               __ATOMIC_SEQ_CST);
            return 0;
        case MPROC_T_INT32: case MPROC_T_UINT32:
            __atomic_fetch_add((uint32_t *)p, (uint32_t)delta,
                               __ATOMIC_SEQ_CST);
            return 0;
        case MPROC_T_INT64: case MPROC_T_UINT64:
            __atomic_fetch_add((uint64_t *)p, (uint64_t)delta,
                               __ATOMIC_SEQ_CST);
            return 0;
        case MPROC_T_FLOAT: {
            float old, upd;
            __atomic_load((float *)p, &old, __ATOMIC_SEQ_CST);
            do
                upd = old + (float)delta;
            while (!__atomic_compare_exchange((float *)p, &old, &upd, false,
                                              __ATOMIC_SEQ_CST,
                                              __ATOMIC_SEQ_CST));
            return 0;
        }
        default: {
            double old, upd;
            __atomic_load((double *)p, &old, __ATOMIC_SEQ_CST);
            do
                upd = old + (double)delta;
            while (!__atomic_compare_exchange((double *)p, &old, &upd, false,
                                              __ATOMIC_SEQ_CST,
                                              __ATOMIC_SEQ_CST));
            return 0;
        }
        }
    }
    r = take(v, &took);
    if (r < 0 && r != MPROC_EOWNERDEAD)
        return r;
    load(v, i, &d, &n);
    if (v->type == MPROC_T_FLOAT || v->type == MPROC_T_DOUBLE)
        store(v, i, d + (double)delta, 0, false);
    else
        store(v, i, 0, n + delta, true);
    give(v, took);
    return r;
}

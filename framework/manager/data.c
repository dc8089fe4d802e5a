/* SPDX-License-Identifier: MIT */
/*
 * The manager's data objects: dict and Namespace (an insertion-ordered
 * hash of byte strings), list, Value/Array (typed elements) and custom
 * objects whose methods a plugin gives.  Each operation runs whole inside
 * the single-threaded server, which is what makes it atomic.
 */
#include "config.h"

#include <stdlib.h>

#include <mproc/shared.h>

#include "mgr_int.h"

/* ---- dict ---- */

struct dent {
    struct dent *hnext;        /* bucket chain */
    struct dent *oprev, *onext; /* insertion order */
    uint64_t hash;
    unsigned char *val;
    size_t vlen, klen;
    unsigned char key[];
};

struct mgr_dict {
    struct dent **b;
    size_t nb, n;
    struct dent *first, *last;
};

static uint64_t
hash(const void *p, size_t len)
{
    /* FNV-1a: keys come from authenticated clients, so flooding is not
     * the concern it is for a public server. */
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;

    while (len-- > 0)
        h = (h ^ *s++) * 1099511628211ull;
    return h;
}

static struct dent **
dict_slot(struct mgr_dict *d, const mgr_bytes *k, uint64_t h)
{
    struct dent **e = &d->b[h & (d->nb - 1)];

    for (; *e != NULL; e = &(*e)->hnext)
        if ((*e)->hash == h && (*e)->klen == k->len &&
            memcmp((*e)->key, k->ptr, k->len) == 0)
            break;
    return e;
}

static int
dict_grow(struct mgr_dict *d)
{
    size_t nb = d->nb * 2, i;
    struct dent **b = calloc(nb, sizeof(*b)), *e;

    if (b == NULL)
        return MPROC_ENOMEM;
    for (e = d->first; e != NULL; e = e->onext) {
        i = e->hash & (nb - 1);
        e->hnext = b[i];
        b[i] = e;
    }
    free(d->b);
    d->b = b;
    d->nb = nb;
    return 0;
}

static int
dict_set(struct mgr_dict *d, const mgr_bytes *k, const mgr_bytes *v)
{
    uint64_t h = hash(k->ptr, k->len);
    struct dent **slot = dict_slot(d, k, h), *e = *slot;
    unsigned char *val = malloc(v->len + 1);

    if (val == NULL)
        return MPROC_ENOMEM;
    if (v->len > 0)
        memcpy(val, v->ptr, v->len);
    if (e != NULL) {
        free(e->val);
        e->val = val;
        e->vlen = v->len;
        return 0;
    }
    e = malloc(sizeof(*e) + k->len + 1);
    if (e == NULL) {
        free(val);
        return MPROC_ENOMEM;
    }
    e->hash = h;
    e->klen = k->len;
    if (k->len > 0)
        memcpy(e->key, k->ptr, k->len);
    e->val = val;
    e->vlen = v->len;
    e->hnext = NULL;
    *slot = e;
    e->onext = NULL;
    e->oprev = d->last;
    if (d->last != NULL)
        d->last->onext = e;
    else
        d->first = e;
    d->last = e;
    d->n++;
    /* Growing afterwards keeps the new entry: a failure only costs speed. */
    if (d->n > d->nb)
        (void)dict_grow(d);
    return 0;
}

static void
dict_unlink(struct mgr_dict *d, struct dent **slot)
{
    struct dent *e = *slot;

    *slot = e->hnext;
    if (e->oprev != NULL)
        e->oprev->onext = e->onext;
    else
        d->first = e->onext;
    if (e->onext != NULL)
        e->onext->oprev = e->oprev;
    else
        d->last = e->oprev;
    d->n--;
    free(e->val);
    free(e);
}

static void
dict_clear(struct mgr_dict *d)
{
    struct dent *e, *n;

    for (e = d->first; e != NULL; e = n) {
        n = e->onext;
        free(e->val);
        free(e);
    }
    memset(d->b, 0, d->nb * sizeof(*d->b));
    d->first = d->last = NULL;
    d->n = 0;
}

/* Python's KeyError / AttributeError. */
static int
nokey(struct mgr_client *c, bool ns)
{
    return mproc__mgr_why(c->srv, MPROC_ENOENT, ns ? "no such field in the "
                          "Namespace" : "no such key in the dict");
}

static int
dict_op(struct mgr_client *c, struct mgr_dict *d, int op, const mgr_bytes *a,
        size_t na, bool ns)
{
    struct dent **slot = NULL, *e;
    size_t i;
    int r;

    if (op == OP_D_SET || op == OP_D_GET || op == OP_D_SETDEFAULT ||
        op == OP_D_DEL || op == OP_D_CONTAINS || op == OP_D_POP) {
        if (na < 1 || (na < 2 && (op == OP_D_SET || op == OP_D_SETDEFAULT)))
            return MPROC_EINVAL;
        /* A Namespace field is a non-empty C string. */
        if (ns && (a[0].len == 0 || memchr(a[0].ptr, 0, a[0].len) != NULL))
            return MPROC_EINVAL;
        slot = dict_slot(d, &a[0], hash(a[0].ptr, a[0].len));
    }
    switch (op) {
    case OP_D_SET:
        return dict_set(d, &a[0], &a[1]);
    case OP_D_SETDEFAULT:
        if (*slot == NULL) {
            r = dict_set(d, &a[0], &a[1]);
            if (r < 0)
                return r;
            slot = dict_slot(d, &a[0], hash(a[0].ptr, a[0].len));
        }
        /* fall through */
    case OP_D_GET:
        if (*slot == NULL)
            return nokey(c, ns);
        mproc__mgr_rep_item(c, (*slot)->val, (*slot)->vlen);
        return 0;
    case OP_D_POP:
        if (*slot == NULL)
            return nokey(c, ns);
        mproc__mgr_rep_item(c, (*slot)->val, (*slot)->vlen);
        /* fall through */
    case OP_D_DEL:
        if (*slot == NULL)
            return nokey(c, ns);
        dict_unlink(d, slot);
        return 0;
    case OP_D_CONTAINS:
        return *slot != NULL;
    case OP_D_LEN:
        return d->n > INT32_MAX ? INT32_MAX : (int)d->n;
    case OP_D_KEYS:
    case OP_D_ITEMS:
        for (e = d->first; e != NULL; e = e->onext) {
            mproc__mgr_rep_item(c, e->key, e->klen);
            if (op == OP_D_ITEMS)
                mproc__mgr_rep_item(c, e->val, e->vlen);
        }
        return (int)d->n;
    case OP_D_CLEAR:
        dict_clear(d);
        return 0;
    case OP_D_UPDATE:
        if (na % 2 != 0)
            return MPROC_EINVAL;
        for (i = 0; i + 1 < na; i += 2) {
            r = dict_set(d, &a[i], &a[i + 1]);
            if (r < 0)
                return r;
        }
        return 0;
    default:
        return MPROC_ENOTSUP;
    }
}

/* ---- list ---- */

/* Python's index rule: negative counts from the end. */
static int
list_index(size_t n, const mgr_bytes *a, size_t *out)
{
    int64_t i;

    if (a->len != 8)
        return MPROC_EINVAL;
    i = (int64_t)mgr_get64(a->ptr);
    if (i < 0)
        i += (int64_t)n;
    if (i < 0 || (uint64_t)i >= n)
        return MPROC_ERANGE; /* the caller says which */
    *out = (size_t)i;
    return 0;
}

/* Python's slice clamp. */
static size_t
clamp(int64_t i, size_t n)
{
    if (i < 0)
        i += (int64_t)n;
    if (i < 0)
        return 0;
    return (uint64_t)i > n ? n : (size_t)i;
}

static int
list_reserve(struct mgr_obj *o, size_t extra)
{
    size_t cap = o->u.list.cap ? o->u.list.cap : 8;
    struct mgr_item **v;

    while (cap < o->u.list.n + extra)
        cap *= 2;
    if (cap == o->u.list.cap)
        return 0;
    v = realloc(o->u.list.v, cap * sizeof(*v));
    if (v == NULL)
        return MPROC_ENOMEM;
    o->u.list.v = v;
    o->u.list.cap = cap;
    return 0;
}

static int
item_cmp(const void *x, const void *y)
{
    const struct mgr_item *a = *(struct mgr_item *const *)x;
    const struct mgr_item *b = *(struct mgr_item *const *)y;
    int r = memcmp(a->data, b->data, a->len < b->len ? a->len : b->len);

    if (r != 0)
        return r;
    return (a->len > b->len) - (a->len < b->len);
}

static int
list_op(struct mgr_client *c, struct mgr_obj *o, int op, const mgr_bytes *a,
        size_t na)
{
    struct mgr_item **v = o->u.list.v, *it, *t;
    size_t n = o->u.list.n, i, j;
    int r = 0;

    switch (op) {
    case OP_L_EXTEND:
        r = list_reserve(o, na);
        for (i = 0; r == 0 && i < na; i++) {
            it = mproc__mgr_item_new(a[i].ptr, a[i].len);
            if (it == NULL) {
                /* All or nothing. */
                while (i-- > 0)
                    free(o->u.list.v[--o->u.list.n]);
                return MPROC_ENOMEM;
            }
            o->u.list.v[o->u.list.n++] = it;
        }
        return r;
    case OP_L_INSERT:
        if (na != 2 || a[0].len != 8)
            return MPROC_EINVAL;
        i = clamp((int64_t)mgr_get64(a[0].ptr), n);
        if (list_reserve(o, 1) < 0 ||
            (it = mproc__mgr_item_new(a[1].ptr, a[1].len)) == NULL)
            return MPROC_ENOMEM;
        v = o->u.list.v;
        memmove(v + i + 1, v + i, (n - i) * sizeof(*v));
        v[i] = it;
        o->u.list.n++;
        return 0;
    case OP_L_GET:
    case OP_L_SET:
    case OP_L_POP:
        if (na < 1 || (op == OP_L_SET && na != 2))
            return MPROC_EINVAL;
        r = list_index(n, &a[0], &i);
        if (r == MPROC_ERANGE)
            return mproc__mgr_why(c->srv, r, "list index %lld out of range "
                                  "(%zu items)",
                                  (long long)(int64_t)mgr_get64(a[0].ptr), n);
        if (r < 0)
            return r;
        if (op == OP_L_SET) {
            it = mproc__mgr_item_new(a[1].ptr, a[1].len);
            if (it == NULL)
                return MPROC_ENOMEM;
            free(v[i]);
            v[i] = it;
            return 0;
        }
        mproc__mgr_rep_item(c, v[i]->data, v[i]->len);
        if (op == OP_L_POP) {
            free(v[i]);
            memmove(v + i, v + i + 1, (n - i - 1) * sizeof(*v));
            o->u.list.n--;
        }
        return 0;
    case OP_L_REMOVE:
        if (na != 1)
            return MPROC_EINVAL;
        for (i = 0; i < n; i++)
            if (v[i]->len == a[0].len &&
                memcmp(v[i]->data, a[0].ptr, a[0].len) == 0)
                break;
        if (i == n)
            return mproc__mgr_why(c->srv, MPROC_ENOENT, "no such item in "
                                  "the list");
        free(v[i]);
        memmove(v + i, v + i + 1, (n - i - 1) * sizeof(*v));
        o->u.list.n--;
        return 0;
    case OP_L_LEN:
        return n > INT32_MAX ? INT32_MAX : (int)n;
    case OP_L_REVERSE:
        for (i = 0, j = n; i + 1 < j; i++, j--) {
            t = v[i];
            v[i] = v[j - 1];
            v[j - 1] = t;
        }
        return 0;
    case OP_L_SORT:
        /* qsort is not stable: sort by bytes, and equal bytes are
         * indistinguishable anyway. */
        if (n > 1)
            qsort(v, n, sizeof(*v), item_cmp);
        return 0;
    case OP_L_SLICE:
        if (na != 2 || a[0].len != 8 || a[1].len != 8)
            return MPROC_EINVAL;
        i = clamp((int64_t)mgr_get64(a[0].ptr), n);
        j = clamp((int64_t)mgr_get64(a[1].ptr), n);
        for (r = 0; i < j; i++, r++)
            mproc__mgr_rep_item(c, v[i]->data, v[i]->len);
        return r;
    default:
        return MPROC_ENOTSUP;
    }
}

/* ---- Value / Array ---- */

/* Convert element i to or from a double and an int64 (both filled). */
static void
elem(struct mgr_obj *o, size_t i, double *d, int64_t *n, bool store,
     bool is_int)
{
    unsigned char *p = o->u.arr.data + i * o->u.arr.elsize;

#define ELEM(T)                                                             \
    do {                                                                    \
        T x;                                                                \
        if (store) {                                                        \
            x = is_int ? (T)*n : (T)*d;                                     \
            memcpy(p, &x, sizeof(x));                                       \
        }                                                                   \
        memcpy(&x, p, sizeof(x));                                           \
        *d = (double)x;                                                     \
        *n = (int64_t)x;                                                    \
    } while (0)
    switch (o->u.arr.type) {
    case MPROC_T_INT8: ELEM(int8_t); break;
    case MPROC_T_INT16: ELEM(int16_t); break;
    case MPROC_T_INT32: ELEM(int32_t); break;
    case MPROC_T_INT64: ELEM(int64_t); break;
    case MPROC_T_UINT8: ELEM(uint8_t); break;
    case MPROC_T_UINT16: ELEM(uint16_t); break;
    case MPROC_T_UINT32: ELEM(uint32_t); break;
    case MPROC_T_UINT64: ELEM(uint64_t); break;
    case MPROC_T_FLOAT: ELEM(float); break;
    case MPROC_T_DOUBLE: ELEM(double); break;
    default: ELEM(unsigned char); break;
    }
#undef ELEM
}

static int
array_op(struct mgr_client *c, struct mgr_obj *o, int op, const mgr_bytes *a,
         size_t na)
{
    size_t bytes = o->u.arr.length * o->u.arr.elsize;
    uint64_t i;
    double d = 0;
    int64_t n = 0;
    unsigned char b[8];

    switch (op) {
    case OP_A_LEN:
        return (int)o->u.arr.length;
    case OP_A_READ:
        mproc__mgr_rep_item(c, o->u.arr.data, bytes);
        return 0;
    case OP_A_WRITE:
        if (na != 1 || a[0].len != bytes)
            return mproc__mgr_why(c->srv, MPROC_EINVAL, "an Array write "
                                  "takes all its %zu bytes, got %zu",
                                  bytes, na == 1 ? a[0].len : 0);
        memcpy(o->u.arr.data, a[0].ptr, bytes);
        return 0;
    default:
        break;
    }
    if (op < OP_A_GET || op > OP_A_ADDI)
        return MPROC_ENOTSUP;
    if (na < 1 || a[0].len != 8 ||
        ((op == OP_A_SET || op == OP_A_SETI || op == OP_A_ADDI) &&
         (na != 2 || a[1].len != 8)))
        return MPROC_EINVAL;
    i = mgr_get64(a[0].ptr);
    if (i >= o->u.arr.length)
        return mproc__mgr_why(c->srv, MPROC_ERANGE, "index %llu out of "
                              "range (the Array has %zu elements)",
                              (unsigned long long)i, o->u.arr.length);
    elem(o, i, &d, &n, false, false);
    if (op == OP_A_SET) {
        uint64_t bits = mgr_get64(a[1].ptr);
        memcpy(&d, &bits, 8);
        elem(o, i, &d, &n, true, false);
    } else if (op == OP_A_SETI) {
        n = (int64_t)mgr_get64(a[1].ptr);
        elem(o, i, &d, &n, true, true);
    } else if (op == OP_A_ADDI) {
        if (o->u.arr.type == MPROC_T_FLOAT || o->u.arr.type == MPROC_T_DOUBLE)
            d += (double)(int64_t)mgr_get64(a[1].ptr);
        else
            n = (int64_t)((uint64_t)n + mgr_get64(a[1].ptr));
        elem(o, i, &d, &n, true,
             !(o->u.arr.type == MPROC_T_FLOAT ||
               o->u.arr.type == MPROC_T_DOUBLE));
    }
    if (op == OP_A_GET || op == OP_A_SET) {
        uint64_t bits;
        memcpy(&bits, &d, 8);
        mgr_put64(b, bits);
    } else {
        mgr_put64(b, (uint64_t)n);
    }
    mproc__mgr_rep_item(c, b, 8);
    return 0;
}

/* ---- custom ---- */

static int
custom_op(struct mgr_client *c, struct mgr_obj *o, int op, const mgr_bytes *a,
          size_t na)
{
    const struct mproc_mmethod *m;
    struct mproc_buf out;
    int r;

    if (op != OP_X_CALL)
        return MPROC_ENOTSUP;
    if (na != 2)
        return MPROC_EINVAL;
    for (m = o->u.cust.t->methods; m != NULL && m->name != NULL; m++)
        if (strlen(m->name) == a[0].len &&
            memcmp(m->name, a[0].ptr, a[0].len) == 0)
            break;
    if (m == NULL || m->name == NULL)
        return mproc__mgr_why(c->srv, MPROC_ENOENT, "custom type '%s' has "
                              "no method '%.*s'", o->u.cust.t->name,
                              (int)(a[0].len > 100 ? 100 : a[0].len),
                              (const char *)a[0].ptr);
    mproc__buf_init(&out, c->srv->max_message);
    r = m->fn(o->u.cust.state, a[1].ptr, a[1].len, &out);
    if (r > 0)
        r = 0;
    mproc__mgr_rep_item(c, out.data, out.len);
    mproc__buf_free(&out);
    /* An error keeps its output: it is the message. */
    return r == MPROC_EOWNERDEAD ? MPROC_EIO : r;
}

int
mproc__mgr_data_new(struct mgr_srv *s, struct mgr_obj *o,
                    const unsigned char *p, size_t plen)
{
    uint64_t type, len;

    switch (o->type) {
    case MPROC_MOBJ_DICT:
    case MPROC_MOBJ_NAMESPACE:
        o->u.dict = calloc(1, sizeof(*o->u.dict));
        if (o->u.dict == NULL)
            return MPROC_ENOMEM;
        o->u.dict->nb = 8;
        o->u.dict->b = calloc(8, sizeof(*o->u.dict->b));
        if (o->u.dict->b == NULL) {
            free(o->u.dict);
            return MPROC_ENOMEM;
        }
        return 0;
    case MPROC_MOBJ_LIST:
        return 0;
    case MPROC_MOBJ_ARRAY:
        if (plen != 16)
            return MPROC_EINVAL;
        type = mgr_get64(p);
        len = mgr_get64(p + 8);
        if (type < MPROC_T_INT8 || type > MPROC_T_CHAR || len < 1 ||
            len > (1u << 24))
            return mproc__mgr_why(s, MPROC_EINVAL, "an Array needs a type "
                                  "of <mproc/shared.h> (%d to %d) and a "
                                  "length of 1 to %u; got type %llu, "
                                  "length %llu", MPROC_T_INT8, MPROC_T_CHAR,
                                  1u << 24, (unsigned long long)type,
                                  (unsigned long long)len);
        o->u.arr.type = (int)type;
        o->u.arr.length = len;
        o->u.arr.elsize = mproc_type_size((int)type);
        o->u.arr.data = calloc(len, o->u.arr.elsize);
        return o->u.arr.data == NULL ? MPROC_ENOMEM : 0;
    case MPROC_MOBJ_CUSTOM:
        if (o->u.cust.t->create == NULL)
            return 0;
        if (o->u.cust.t->create(&o->u.cust.state, p, plen) < 0)
            return mproc__mgr_why(s, MPROC_EINVAL, "custom type '%s': its "
                                  "create() refused the argument (%zu "
                                  "bytes)", o->u.cust.t->name, plen);
        return 0;
    default:
        return MPROC_EINVAL;
    }
}

void
mproc__mgr_data_free(struct mgr_obj *o)
{
    size_t i;

    switch (o->type) {
    case MPROC_MOBJ_DICT:
    case MPROC_MOBJ_NAMESPACE:
        dict_clear(o->u.dict);
        free(o->u.dict->b);
        free(o->u.dict);
        break;
    case MPROC_MOBJ_LIST:
        for (i = 0; i < o->u.list.n; i++)
            free(o->u.list.v[i]);
        free(o->u.list.v);
        break;
    case MPROC_MOBJ_ARRAY:
        free(o->u.arr.data);
        break;
    case MPROC_MOBJ_CUSTOM:
        if (o->u.cust.t->destroy != NULL)
            o->u.cust.t->destroy(o->u.cust.state);
        break;
    default:
        break;
    }
}

int
mproc__mgr_data_op(struct mgr_client *c, struct mgr_obj *o, int op,
                   const mgr_bytes *a, size_t na)
{
    switch (o->type) {
    case MPROC_MOBJ_DICT:
        return dict_op(c, o->u.dict, op, a, na, false);
    case MPROC_MOBJ_NAMESPACE:
        if (op != OP_D_SET && op != OP_D_GET && op != OP_D_DEL &&
            op != OP_D_KEYS && op != OP_D_CONTAINS)
            return MPROC_ENOTSUP;
        return dict_op(c, o->u.dict, op, a, na, true);
    case MPROC_MOBJ_LIST:
        return list_op(c, o, op, a, na);
    case MPROC_MOBJ_ARRAY:
        return array_op(c, o, op, a, na);
    default:
        return custom_op(c, o, op, a, na);
    }
}

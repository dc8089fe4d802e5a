/* SPDX-License-Identifier: MIT */
/*
 * The manager server's core: the object table and its names, the
 * references clients hold, request dispatch, replies, and requests parked
 * until an object changes or their deadline passes.  No I/O here: the
 * transport (server.c) feeds messages in and writes c->out, so the object
 * logic is tested in-process.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mgr_int.h"
#include "ring.h"

int64_t
mproc__mgr_now(void)
{
    return mproc__ring_now_us() / 1000;
}

int
mproc__mgr_split(const unsigned char *p, size_t len, uint32_t count,
                 mgr_bytes **items, size_t *cap)
{
    size_t i, l;

    if (count > *cap) {
        mgr_bytes *n = realloc(*items, count * sizeof(**items));
        if (n == NULL)
            return MPROC_ENOMEM;
        *items = n;
        *cap = count;
    }
    for (i = 0; i < count; i++) {
        if (len < 4)
            return MPROC_EINVAL;
        l = mgr_get32(p);
        p += 4;
        len -= 4;
        if (l > len)
            return MPROC_EINVAL;
        (*items)[i].ptr = p;
        (*items)[i].len = l;
        p += l;
        len -= l;
    }
    return len == 0 ? 0 : MPROC_EINVAL;
}

struct mgr_item *
mproc__mgr_item_new(const void *p, size_t len)
{
    struct mgr_item *it = malloc(sizeof(*it) + len + 1);

    if (it == NULL)
        return NULL;
    it->len = len;
    if (len > 0)
        memcpy(it->data, p, len);
    return it;
}

/* ---- replies ---- */

int
mproc__mgr_why(struct mgr_srv *s, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->why, sizeof(s->why), fmt, ap);
    va_end(ap);
    return code;
}

const char *
mproc__mgr_type_name(int type)
{
    static const char *const names[] = {
        "?", "dict", "list", "Namespace", "Array", "Queue", "JoinableQueue",
        "Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition",
        "Event", "Barrier", "custom object",
    };

    return type > 0 && type <= MPROC_MOBJ_CUSTOM ? names[type] : "?";
}

void
mproc__mgr_rep_begin(struct mgr_client *c)
{
    static const unsigned char hdr[MGR_REP_HDR];

    c->rep_at = c->out.len;
    c->rep_n = 0;
    mproc__host.buf_append(&c->out, hdr, sizeof(hdr));
}

void
mproc__mgr_rep_item(struct mgr_client *c, const void *p, size_t len)
{
    unsigned char l[4];

    mgr_put32(l, (uint32_t)len);
    /* An item past the limit makes the reply fail below, not truncate. */
    if (mproc__host.buf_append(&c->out, l, 4) == 0 &&
        mproc__host.buf_append(&c->out, p, len) == 0)
        c->rep_n++;
    else
        c->rep_n = UINT32_MAX;
}

void
mproc__mgr_rep_i64(struct mgr_client *c, int64_t v)
{
    unsigned char b[8];

    mgr_put64(b, (uint64_t)v);
    mproc__mgr_rep_item(c, b, 8);
}

void
mproc__mgr_rep_end(struct mgr_client *c, int status)
{
    unsigned char *h;

    if (c->rep_n == UINT32_MAX || c->out.len < c->rep_at + MGR_REP_HDR) {
        /* The reply grew past the message limit: say so instead. */
        char msg[160];
        int n = snprintf(msg, sizeof(msg), "the reply would be over the "
                         "server's message limit, %zu bytes (max_message)",
                         c->srv->max_message);
        c->out.len = c->rep_at;
        mproc__mgr_rep_begin(c);
        mproc__mgr_rep_item(c, msg, (size_t)n);
        status = MPROC_EMSGSIZE;
    }
    h = (unsigned char *)c->out.data + c->rep_at;
    mgr_put32(h, (uint32_t)status);
    mgr_put32(h + 4, c->rep_n);
    c->srv->ready(c->srv, c);
}

void
mproc__mgr_rep_error(struct mgr_client *c, int code, const char *msg)
{
    mproc__mgr_rep_begin(c);
    mproc__mgr_rep_item(c, msg, strlen(msg));
    mproc__mgr_rep_end(c, code);
}

/* ---- parking ---- */

void
mproc__mgr_park(struct mgr_client *c, struct mgr_obj *o, int list, int op,
                int timeout_ms)
{
    struct mgr_wlist *w = &o->wq[list];
    struct mgr_srv *s = c->srv;

    c->parked = true;
    c->park_obj = o;
    c->park_list = list;
    c->park_op = op;
    c->park_deadline = timeout_ms < 0 ? -1 : mproc__mgr_now() + timeout_ms;
    c->wnext = NULL;
    c->wprev = w->tail;
    if (w->tail != NULL)
        w->tail->wnext = c;
    else
        w->head = c;
    w->tail = c;
    c->pprev = NULL;
    c->pnext = s->parked;
    if (s->parked != NULL)
        s->parked->pprev = c;
    s->parked = c;
}

void
mproc__mgr_unpark(struct mgr_client *c)
{
    struct mgr_wlist *w;
    struct mgr_srv *s = c->srv;

    if (!c->parked)
        return;
    w = &c->park_obj->wq[c->park_list];
    if (c->wprev != NULL)
        c->wprev->wnext = c->wnext;
    else
        w->head = c->wnext;
    if (c->wnext != NULL)
        c->wnext->wprev = c->wprev;
    else
        w->tail = c->wprev;
    if (c->pprev != NULL)
        c->pprev->pnext = c->pnext;
    else
        s->parked = c->pnext;
    if (c->pnext != NULL)
        c->pnext->pprev = c->pprev;
    c->parked = false;
    c->park_obj = NULL;
    free(c->park_item);
    c->park_item = NULL;
}

void
mproc__mgr_wake(struct mgr_client *c, int status)
{
    mproc__mgr_unpark(c);
    mproc__mgr_rep_begin(c);
    mproc__mgr_rep_end(c, status);
}

int
mproc__mgr_expire(struct mgr_srv *s)
{
    int64_t now = mproc__mgr_now(), next = -1;
    struct mgr_client *c, *n;

    for (c = s->parked; c != NULL; c = n) {
        n = c->pnext;
        if (c->park_deadline < 0)
            continue;
        if (c->park_deadline <= now) {
            mproc__mgr_wait_timeout(c);
            /* A timeout may wake others and reorder the list: rescan. */
            return 0;
        }
        if (next < 0 || c->park_deadline < next)
            next = c->park_deadline;
    }
    if (next < 0)
        return -1;
    return next - now > 60000 ? 60000 : (int)(next - now);
}

/* ---- objects, names, references ---- */

void
mproc__mgr_srv_init(struct mgr_srv *s, size_t max_message,
                    const struct mproc_mtype *const *types)
{
    memset(s, 0, sizeof(*s));
    s->max_message = max_message;
    s->types = types;
}

static void
obj_free(struct mgr_srv *s, struct mgr_obj *o)
{
    s->objs[o->id] = NULL;
    if (o->type == MPROC_MOBJ_CONDITION && o->u.cond.lock != NULL) {
        struct mgr_obj *l = o->u.cond.lock;
        if (l->id == UINT32_MAX)
            free(l); /* the Condition's own lock, in no table */
        else if (--l->refs == 0 && l->name == NULL)
            obj_free(s, l);
    }
    if (o->type <= MPROC_MOBJ_ARRAY || o->type == MPROC_MOBJ_CUSTOM)
        mproc__mgr_data_free(o);
    else
        mproc__mgr_wait_free(o);
    free(o->name);
    free(o);
}

void
mproc__mgr_srv_fini(struct mgr_srv *s)
{
    uint32_t i;

    /* Conditions first: they hold references on their locks. */
    for (i = 0; i < s->nobjs; i++)
        if (s->objs[i] != NULL && s->objs[i]->type == MPROC_MOBJ_CONDITION)
            obj_free(s, s->objs[i]);
    for (i = 0; i < s->nobjs; i++)
        if (s->objs[i] != NULL)
            obj_free(s, s->objs[i]);
    free(s->objs);
    free(s->args);
    memset(s, 0, sizeof(*s));
}

void
mproc__mgr_client_init(struct mgr_srv *s, struct mgr_client *c)
{
    memset(c, 0, sizeof(*c));
    c->srv = s;
    /* A reply the connection could not send fails as MPROC_EMSGSIZE. */
    mproc__buf_init(&c->out, s->max_message);
}

struct mgr_ref *
mproc__mgr_ref(struct mgr_client *c, uint32_t id)
{
    size_t i;

    for (i = 0; i < c->nrefs; i++)
        if (c->refs[i].id == id)
            return &c->refs[i];
    return NULL;
}

static int
ref_add(struct mgr_client *c, struct mgr_obj *o)
{
    struct mgr_ref *r = mproc__mgr_ref(c, o->id);

    if (r == NULL) {
        if (c->nrefs == c->caprefs) {
            size_t cap = c->caprefs ? c->caprefs * 2 : 8;
            r = realloc(c->refs, cap * sizeof(*r));
            if (r == NULL)
                return MPROC_ENOMEM;
            c->refs = r;
            c->caprefs = cap;
        }
        r = &c->refs[c->nrefs++];
        memset(r, 0, sizeof(*r));
        r->id = o->id;
    }
    r->n++;
    o->refs++;
    return 0;
}

/* Drop every proxy `c` has on `o` (n == 0) or one. */
static void
ref_drop(struct mgr_client *c, struct mgr_ref *r, bool all)
{
    struct mgr_srv *s = c->srv;
    struct mgr_obj *o = s->objs[r->id];
    uint32_t k = all ? r->n : 1;

    /* Its last proxy gone, a client holds nothing there any more: a
     * Lock it kept is taken back (owner-died for the next), as on a
     * drop, so no owner pointer outlives its client. */
    if ((all || r->n == k) && o->type > MPROC_MOBJ_ARRAY &&
        o->type != MPROC_MOBJ_CUSTOM)
        mproc__mgr_wait_client_gone(c, o, r);
    r->n -= k;
    o->refs -= k;
    if (r->n == 0)
        *r = c->refs[--c->nrefs];
    if (o->refs == 0 && o->name == NULL)
        obj_free(s, o);
}

void
mproc__mgr_client_gone(struct mgr_client *c)
{
    c->gone = true;
    if (c->parked)
        mproc__mgr_wait_parked_gone(c);
    mproc__mgr_unpark(c);
    /* Held locks and units come back: ref_drop(all) tells each object. */
    while (c->nrefs > 0)
        ref_drop(c, &c->refs[c->nrefs - 1], true);
    free(c->refs);
    c->refs = NULL;
    c->caprefs = 0;
    mproc__buf_free(&c->out);
}

static struct mgr_obj *
find_name(struct mgr_srv *s, const mgr_bytes *name)
{
    uint32_t i;
    struct mgr_obj *o;

    for (i = 1; i < s->nobjs; i++) {
        o = s->objs[i];
        if (o != NULL && o->name != NULL && strlen(o->name) == name->len &&
            memcmp(o->name, name->ptr, name->len) == 0)
            return o;
    }
    return NULL;
}

static int
obj_new(struct mgr_srv *s, int type, const mgr_bytes *a, size_t na,
        struct mgr_obj **out)
{
    struct mgr_obj *o = NULL;
    const unsigned char *pp = na > 1 ? a[1].ptr : NULL;
    size_t pl = na > 1 ? a[1].len : 0;
    int r;

    if (type < MPROC_MOBJ_DICT || type > MPROC_MOBJ_CUSTOM)
        return mproc__mgr_why(s, MPROC_EINVAL, "unknown object type %d "
                              "(enum mproc_mobj_type: %d to %d)", type,
                              MPROC_MOBJ_DICT, MPROC_MOBJ_CUSTOM);
    if (s->nobjs == s->capobjs) {
        uint32_t cap = s->capobjs ? s->capobjs * 2 : 64;
        struct mgr_obj **n = realloc(s->objs, cap * sizeof(*n));
        if (n == NULL)
            return MPROC_ENOMEM;
        s->objs = n;
        s->capobjs = cap;
        if (s->nobjs == 0)
            s->objs[s->nobjs++] = NULL; /* id 0 is no object */
    }
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        return MPROC_ENOMEM;
    o->type = type;
    o->id = s->nobjs;
    s->objs[o->id] = o;
    if (type == MPROC_MOBJ_CUSTOM) {
        const struct mproc_mtype *const *t;
        r = MPROC_ENOENT;
        for (t = s->types; t != NULL && *t != NULL; t++)
            if (na > 2 && strlen((*t)->name) == a[2].len &&
                memcmp((*t)->name, a[2].ptr, a[2].len) == 0)
                break;
        if (t != NULL && *t != NULL) {
            o->u.cust.t = *t;
            r = mproc__mgr_data_new(s, o, pp, pl);
        } else {
            mproc__mgr_why(s, r, "this server has no custom type '%.*s' "
                           "(the server's types come from `types` of "
                           "mproc_manager_start() or `mproc manager "
                           "--types FILE.so`)",
                           na > 2 ? (int)(a[2].len > 100 ? 100 : a[2].len)
                                  : 0,
                           na > 2 ? (const char *)a[2].ptr : "");
        }
    } else if (type <= MPROC_MOBJ_ARRAY) {
        r = mproc__mgr_data_new(s, o, pp, pl);
    } else {
        r = mproc__mgr_wait_new(s, o, pp, pl);
    }
    if (r < 0) {
        s->objs[o->id] = NULL;
        free(o);
        return r;
    }
    s->nobjs++;
    *out = o;
    return 0;
}

/* "a" or "an" before a type's name (an Array, an Event, a dict). */
static const char *
article(const char *name)
{
    return name != NULL && strchr("AEIOUaeiou", name[0]) != NULL &&
                   name[0] != '\0'
               ? "an"
               : "a";
}

static int
op_open(struct mgr_client *c, int op, uint32_t type, const mgr_bytes *a,
        size_t na)
{
    struct mgr_srv *s = c->srv;
    struct mgr_obj *o = NULL;
    int r;

    if (na < 1 || memchr(a[0].ptr, 0, a[0].len) != NULL)
        return mproc__mgr_why(s, MPROC_EINVAL, "an object name is a C "
                              "string: no NUL byte inside");
    if (a[0].len > 0)
        o = find_name(s, &a[0]);
    if (o == NULL && (op == OP_FIND || op == OP_UNLINK))
        return mproc__mgr_why(s, MPROC_ENOENT, "no object is named '%.*s'",
                              (int)(a[0].len > 100 ? 100 : a[0].len),
                              (const char *)a[0].ptr);
    if (op == OP_UNLINK) {
        free(o->name);
        o->name = NULL;
        if (o->refs == 0)
            obj_free(s, o);
        return 0;
    }
    if (o != NULL) {
        if (op == OP_OPEN && (uint32_t)o->type != type)
        {
            const char *had = mproc__mgr_type_name(o->type),
                       *want = mproc__mgr_type_name((int)type);

            return mproc__mgr_why(s, MPROC_EINVAL, "the name '%s' holds %s "
                                  "%s, not %s %s (unlink it, or use another "
                                  "name)", o->name, article(had), had,
                                  article(want), want);
        }
    } else {
        r = obj_new(s, (int)type, a, na, &o);
        if (r < 0)
            return r;
        if (a[0].len > 0) {
            o->name = strndup(a[0].ptr, a[0].len);
            if (o->name == NULL) {
                obj_free(s, o);
                return MPROC_ENOMEM;
            }
        }
    }
    r = ref_add(c, o);
    if (r < 0) {
        if (o->refs == 0 && o->name == NULL)
            obj_free(s, o);
        return r;
    }
    mproc__mgr_rep_i64(c, o->id);
    mproc__mgr_rep_i64(c, o->type);
    return 0;
}

int
mproc__mgr_handle(struct mgr_client *c, const unsigned char *msg,
                  size_t len)
{
    struct mgr_srv *s = c->srv;
    struct mgr_obj *o = NULL;
    struct mgr_ref *ref;
    unsigned op;
    uint32_t nargs, id;
    int32_t timeout;
    int r;

    if (len < MGR_REQ_HDR || c->parked)
        return MPROC_EINVAL;
    s->why[0] = '\0';
    op = msg[0];
    nargs = (uint32_t)msg[2] | (uint32_t)msg[3] << 8;
    id = mgr_get32(msg + 4);
    timeout = (int32_t)mgr_get32(msg + 8);
    r = mproc__mgr_split(msg + MGR_REQ_HDR, len - MGR_REQ_HDR, nargs,
                         &s->args, &s->capargs);
    if (r < 0)
        return r;
    mproc__mgr_rep_begin(c);
    switch (op) {
    case OP_PING:
        /* The limit, so that the client refuses an oversize request
         * before it sends it. */
        mproc__mgr_rep_i64(c, (int64_t)s->max_message);
        r = 0;
        goto done;
    case OP_SHUTDOWN:
        s->stopping = true;
        r = 0;
        goto done;
    case OP_OPEN:
    case OP_FIND:
    case OP_UNLINK:
        r = op_open(c, (int)op, id, s->args, nargs);
        goto done;
    default:
        break;
    }
    ref = mproc__mgr_ref(c, id);
    if (ref == NULL) {
        /* Not an object this client opened. */
        r = mproc__mgr_why(s, MPROC_EBADF, "object %u is not open on this "
                           "connection (a freed proxy, or one of another "
                           "connection?)", (unsigned)id);
        goto done;
    }
    o = s->objs[id];
    if (op == OP_DECREF) {
        ref_drop(c, ref, false);
        r = 0;
    } else if (o->type <= MPROC_MOBJ_ARRAY || o->type == MPROC_MOBJ_CUSTOM) {
        r = mproc__mgr_data_op(c, o, (int)op, s->args, nargs);
    } else {
        r = mproc__mgr_wait_op(c, o, (int)op, s->args, nargs, timeout);
        if (r == MGR_PARKED) {
            /* The reply comes when the request is woken or times out. */
            c->out.len = c->rep_at;
            return 0;
        }
    }
done:
    if (r == MPROC_ENOTSUP && s->why[0] == '\0' && o != NULL)
        mproc__mgr_why(s, r, "request %u does not apply to a %s (a proxy "
                       "function of another type)", op,
                       mproc__mgr_type_name(o->type));
    if (r < 0 && r != MPROC_EOWNERDEAD &&
        (op != OP_X_CALL || s->why[0] != '\0')) {
        /* No half-built items with an error (a custom method's output is
         * its message). */
        c->out.len = c->rep_at + MGR_REP_HDR;
        c->rep_n = 0;
        if (s->why[0] != '\0')
            mproc__mgr_rep_item(c, s->why, strlen(s->why));
    }
    mproc__mgr_rep_end(c, r);
    return 0;
}

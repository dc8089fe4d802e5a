/* SPDX-License-Identifier: MIT */
/*
 * The client side of a manager: requests and replies over one Connection,
 * and the typed proxies (dict, list, Namespace, Array, Queue, locks ...),
 * each a thin encoding of its arguments.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mproc/shared.h>

#include "mgr_client.h"
#include "sync/sync_int.h" /* mproc__self: getpid() without a system call */
#include "ring.h"

static int
fail(mproc_manager_t *m, int r, const char *what)
{
    snprintf(m->msg, sizeof(m->msg), "manager %s: %s", m->address, what);
    return r;
}

/* The connection is lost: this call and every later one fail with
 * MPROC_EPIPE and say why. */
static int
gone(mproc_manager_t *m, const char *why)
{
    m->broken = true;
    snprintf(m->gone, sizeof(m->gone), "%s", why);
    return fail(m, MPROC_EPIPE, m->gone);
}

/* The reply buffer holds at least cap bytes.  0 or MPROC_ENOMEM. */
static int
rep_grow(mproc_manager_t *m, size_t cap)
{
    unsigned char *p;

    if (cap <= m->repcap)
        return 0;
    if (cap < 2 * m->repcap)
        cap = 2 * m->repcap;
    p = realloc(m->rep, cap);
    if (p == NULL)
        return MPROC_ENOMEM;
    m->rep = p;
    m->repcap = cap;
    return 0;
}

/* The request in m->req through the ring (ring.h), the reply into
 * m->rep: each in chunks of at most a mailbox.  0, MPROC_ENOMEM, or
 * MPROC_EPIPE when the server went away or broke the protocol. */
static int
ring_call(mproc_manager_t *m, size_t need, size_t *len)
{
    struct mgr_ring *g = m->ring;
    int sock = mproc_conn_fd(m->conn), r;
    size_t off = 0, n;
    uint32_t more;
    bool rang = false;

    do {
        r = mproc__ring_wait(g, &m->spin, rang, &g->req.full, 0, sock);
        if (r < 0)
            return r;
        n = need - off > MGR_RING_CAP ? MGR_RING_CAP : need - off;
        memcpy(g->req_data, m->req + off, n);
        off += n;
        g->req.len = (uint32_t)n;
        g->req.more = off < need;
        rang = mproc__ring_publish(&g->req.full, 1, &g->srv_sleep, sock);
    } while (off < need);
    *len = 0;
    do {
        r = mproc__ring_wait(g, &m->spin, rang, &g->rep.full, 1, sock);
        if (r < 0)
            return r;
        n = g->rep.len;
        more = g->rep.more;
        if (n > MGR_RING_CAP || *len + n > MPROC_CONN_MESSAGE_MAX + 64)
            return MPROC_EPIPE;
        if (rep_grow(m, *len + n) < 0)
            return MPROC_ENOMEM;
        memcpy(m->rep + *len, g->rep_data, n);
        *len += n;
        /* Only a server with more chunks waits for the mailbox: a
         * doorbell after the last one would wake it for nothing. */
        if (more)
            rang = mproc__ring_publish(&g->rep.full, 0, &g->srv_sleep, sock);
        else
            atomic_store(&g->rep.full, 0);
    } while (more);
    return *len < MGR_REP_HDR ? MPROC_EPIPE : 0;
}

int
mproc__mgr_call(mproc_manager_t *m, int op, uint32_t obj, int timeout,
                const mgr_bytes *a, size_t na)
{
    size_t need = MGR_REQ_HDR, i, len = 0;
    unsigned char *p;
    int r;

    if (na > UINT16_MAX)
        return fail(m, MPROC_EINVAL, "too many arguments in one call");
    for (i = 0; i < na; i++) {
        if (a[i].len > UINT32_MAX)
            return fail(m, MPROC_EMSGSIZE, "an argument of more than 4 GiB "
                        "(the request format's limit)");
        need += 4 + a[i].len;
    }
    /* A copy inherited through fork() shares the parent's socket and
     * ring: a request from here would take the parent's reply (or feed
     * it a stray one) and leave one of them waiting for ever.  Refused
     * before the mutex too, which a parent's thread may have held. */
    if (m->owner != (pid_t)mproc__self()) {
        snprintf(m->msg, sizeof(m->msg), "manager %s: this connection was "
                 "inherited through fork() from process %d, which alone "
                 "may use it; connect anew (mproc_manager_connect()) and "
                 "find the objects by name", m->address, (int)m->owner);
        return MPROC_EPERM;
    }
    pthread_mutex_lock(&m->mu);
    if (m->broken) {
        r = fail(m, MPROC_EPIPE, m->gone[0] != '\0' ? m->gone
                 : "the server went away");
        goto out;
    }
    /* Refused here, nothing sent: the connection stays usable (the
     * server would drop the bytes and say the same). */
    if (m->max_req > 0 && need > m->max_req) {
        snprintf(m->msg, sizeof(m->msg), "manager %s: a request of %zu "
                 "bytes is over the server's message limit, %zu bytes "
                 "(max_message); nothing was sent", m->address, need,
                 m->max_req);
        r = MPROC_EMSGSIZE;
        goto out;
    }
    if (need > m->reqcap) {
        p = realloc(m->req, need);
        if (p == NULL) {
            r = fail(m, MPROC_ENOMEM, "out of memory");
            goto out;
        }
        m->req = p;
        m->reqcap = need;
    }
    p = m->req;
    p[0] = (unsigned char)op;
    p[1] = 0;
    p[2] = (unsigned char)na;
    p[3] = (unsigned char)(na >> 8);
    mgr_put32(p + 4, obj);
    mgr_put32(p + 8, (uint32_t)timeout);
    p += MGR_REQ_HDR;
    for (i = 0; i < na; i++) {
        mgr_put32(p, (uint32_t)a[i].len);
        if (a[i].len > 0)
            memcpy(p + 4, a[i].ptr, a[i].len);
        p += 4 + a[i].len;
    }
    if (m->ring != NULL) {
        r = ring_call(m, need, &len);
        if (r == MPROC_ENOMEM) {
            m->broken = true; /* a reply half read: out of step */
            r = fail(m, r, "out of memory");
            goto out;
        }
        if (r < 0) {
            r = gone(m, "the server went away (its ring stopped)");
            goto out;
        }
        goto parse;
    }
    r = mproc_conn_send_bytes(m->conn, m->req, need, -1);
    if (r == MPROC_EMSGSIZE) {
        snprintf(m->msg, sizeof(m->msg), "manager %s: a request of %zu "
                 "bytes is over the largest message a client sends, %zu "
                 "bytes; nothing was sent", m->address, need,
                 (size_t)MPROC_CONN_MESSAGE_MAX + 64);
        goto out;
    }
    /* A server that refused this client (over its max_clients) sent its
     * reason and closed: read it even when the send failed. */
    if (r == 0 || r == MPROC_EPIPE) {
        int sent = r;
        for (;;) {
            r = mproc_conn_recv_bytes(m->conn, m->rep, m->repcap, &len,
                                      sent == 0 ? -1 : 0);
            if (r != MPROC_ERANGE)
                break;
            p = realloc(m->rep, len);
            if (p == NULL) {
                r = fail(m, MPROC_ENOMEM, "out of memory");
                goto out;
            }
            m->rep = p;
            m->repcap = len;
        }
        if (r < 0 && sent < 0)
            r = sent;
    }
    if (r < 0 || len < MGR_REP_HDR) {
        /* The server is gone or spoke nonsense: no later call can work. */
        char why[200];
        snprintf(why, sizeof(why), "the server went away (%s)",
                 r < 0 ? mproc_conn_errmsg(m->conn)
                       : "a short reply from it");
        r = gone(m, why);
        goto out;
    }
parse:
    r = (int32_t)mgr_get32(m->rep);
    i = mgr_get32(m->rep + 4);
    m->nitems = 0;
    if (mproc__mgr_split(m->rep + MGR_REP_HDR, len - MGR_REP_HDR,
                         (uint32_t)i, &m->items, &m->capitems) < 0) {
        r = gone(m, "the server went away (a malformed reply from it)");
        goto out;
    }
    m->nitems = i;
    if (r < 0 && r != MPROC_EOWNERDEAD && op != OP_X_CALL) {
        /* The server's message when it sent one (a newer server does for
         * most failures), else the code's. */
        char text[sizeof(m->gone)];
        if (m->nitems == 1 && m->items[0].len > 0)
            snprintf(text, sizeof(text), "%.*s",
                     (int)(m->items[0].len > 199 ? 199 : m->items[0].len),
                     (const char *)m->items[0].ptr);
        else
            snprintf(text, sizeof(text), "%s", mproc_strerror(r));
        fail(m, r, text);
        /* The first request of a client over max_clients: refused, and
         * the server closed the connection. */
        if (r == MPROC_EBUSY && (op == OP_PING || op == OP_RING)) {
            m->broken = true;
            memcpy(m->gone, text, sizeof(m->gone));
        }
    }
out:
    pthread_mutex_unlock(&m->mu);
    return r;
}

/* A PING's or RING's reply gives the server's message limit (an older
 * server's gives none: then the server itself refuses oversize
 * requests). */
static void
learn_limit(mproc_manager_t *m)
{
    size_t l;
    const unsigned char *p = mproc_manager_item(m, 0, &l);

    if (p != NULL && l == 8 && m->max_req == 0)
        m->max_req = (size_t)mgr_get64(p);
}

int
mproc__mgr_hello(mproc_manager_t *m)
{
    int r;

    if (m->max_req > 0)
        return 0;
    r = mproc__mgr_call(m, OP_PING, 0, -1, NULL, 0);
    if (r < 0)
        return m->broken ? r : 0;
    learn_limit(m);
    return 0;
}

int
mproc__mgr_ring_setup(mproc_manager_t *m)
{
    const char *e = getenv("MPROC_MANAGER_RING");
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    int sock = mproc_conn_fd(m->conn), fd, r;

    if ((e != NULL && strcmp(e, "0") == 0) ||
        getsockname(sock, (struct sockaddr *)&sa, &sl) < 0 ||
        sa.ss_family != AF_UNIX)
        return 0;
    r = mproc__mgr_call(m, OP_RING, 0, -1, NULL, 0);
    if (r < 0)
        return m->broken ? r : 0; /* refused: calls stay on the socket */
    learn_limit(m);
    /* From here the server reads this client's requests from the ring
     * only: a ring this side cannot map leaves the connection unusable. */
    fd = mproc__ring_recv_fd(sock, 5000);
    r = fd < 0 ? fd : mproc__ring_map(fd, &m->ring);
    if (fd >= 0)
        close(fd);
    if (r == 0)
        r = mproc__ring_client(sock);
    m->spin.budget = -1;
    if (r < 0) {
        m->broken = true;
        return fail(m, MPROC_EPIPE, "no shared ring from the server");
    }
    return 0;
}

const char *
mproc_manager_errmsg(const mproc_manager_t *m)
{
    if (m == NULL)
        return "manager: none";
    return m->msg;
}

const void *
mproc_manager_item(const mproc_manager_t *m, size_t i, size_t *len)
{
    if (m == NULL || i >= m->nitems) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = m->items[i].len;
    return m->items[i].ptr;
}

/* ---- helpers ---- */

#define B(p, l) ((mgr_bytes){ (p), (l) })

/* Every proxy call goes through here: the one place a NULL proxy is
 * refused (item0() and fail() after it touch o only on success). */
static int
ocall(mproc_mobj_t *o, int op, int timeout, const mgr_bytes *a, size_t na)
{
    if (o == NULL)
        return MPROC_EINVAL;
    return mproc__mgr_call(o->m, op, o->id, timeout, a, na);
}

static int
call0(mproc_mobj_t *o, int op, int timeout)
{
    return ocall(o, op, timeout, NULL, 0);
}

static int
call1(mproc_mobj_t *o, int op, const void *p, size_t len)
{
    mgr_bytes a = B(p, len);

    return ocall(o, op, -1, &a, 1);
}

/* The first item of the reply, when the call succeeded. */
static int
item0(mproc_mobj_t *o, int r, const void **p, size_t *len)
{
    size_t l = 0;
    const void *x = NULL;

    if (r >= 0)
        x = mproc_manager_item(o->m, 0, &l);
    if (p != NULL)
        *p = x;
    if (len != NULL)
        *len = l;
    return r;
}

static int64_t
i64_of(mproc_mobj_t *o, size_t i)
{
    size_t l;
    const unsigned char *p = mproc_manager_item(o->m, i, &l);

    return p != NULL && l == 8 ? (int64_t)mgr_get64(p) : 0;
}

static void
enc64(unsigned char *b, int64_t v)
{
    mgr_put64(b, (uint64_t)v);
}

/* ---- opening ---- */

static int
open_(mproc_manager_t *m, int op, int type, const char *name,
      const void *params, size_t plen, const char *tname, mproc_mobj_t **out)
{
    mgr_bytes a[3];
    mproc_mobj_t *o = NULL;
    int r;

    if (m == NULL || out == NULL) {
        if (out != NULL)
            *out = NULL;
        return MPROC_EINVAL;
    }
    *out = NULL;
    /* The request carries NULL as "": an empty name would silently make
     * an anonymous object that nobody else reaches under that name. */
    if (name != NULL && name[0] == '\0')
        return fail(m, MPROC_EINVAL, "an empty name: give NULL for an "
                    "anonymous object, or a name of at least one byte");
    a[0] = B(name != NULL ? name : "", name != NULL ? strlen(name) : 0);
    a[1] = B(params, plen);
    a[2] = B(tname, tname != NULL ? strlen(tname) : 0);
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        return fail(m, MPROC_ENOMEM, "out of memory");
    o->m = m;
    r = mproc__mgr_call(m, op, (uint32_t)type, -1, a, tname ? 3 : 2);
    if (r < 0) {
        free(o);
        return r;
    }
    o->id = (uint32_t)i64_of(o, 0);
    o->type = (int)i64_of(o, 1);
    *out = o;
    return 0;
}

int
mproc_manager_open(mproc_manager_t *m, int type, const char *name,
                   const void *params, size_t plen, mproc_mobj_t **out)
{
    return open_(m, OP_OPEN, type, name, params, plen, NULL, out);
}

int
mproc_manager_find(mproc_manager_t *m, const char *name, mproc_mobj_t **out)
{
    if (m == NULL)
        return MPROC_EINVAL;
    if (name == NULL || name[0] == '\0')
        return fail(m, MPROC_EINVAL, "find: a name is needed");
    return open_(m, OP_FIND, 0, name, NULL, 0, NULL, out);
}

int
mproc_manager_unlink(mproc_manager_t *m, const char *name)
{
    mgr_bytes a = B(name, name != NULL ? strlen(name) : 0);

    if (m == NULL)
        return MPROC_EINVAL;
    if (name == NULL || name[0] == '\0')
        return fail(m, MPROC_EINVAL, "unlink: a name is needed");

    return mproc__mgr_call(m, OP_UNLINK, 0, -1, &a, 1);
}

void
mproc_mobj_free(mproc_mobj_t *o)
{
    if (o == NULL)
        return;
    /* A server that is gone has dropped the reference already. */
    (void)call0(o, OP_DECREF, -1);
    free(o);
}

int
mproc_mobj_type(const mproc_mobj_t *o)
{
    if (o == NULL)
        return MPROC_EINVAL;
    return o->type;
}

static int
open_i64(mproc_manager_t *m, int type, const char *name, int64_t v,
         mproc_mobj_t **out)
{
    unsigned char b[8];

    enc64(b, v);
    return mproc_manager_open(m, type, name, b, 8, out);
}

int
mproc_manager_dict(mproc_manager_t *m, const char *name, mproc_mobj_t **out)
{
    return mproc_manager_open(m, MPROC_MOBJ_DICT, name, NULL, 0, out);
}

int
mproc_manager_list(mproc_manager_t *m, const char *name, mproc_mobj_t **out)
{
    return mproc_manager_open(m, MPROC_MOBJ_LIST, name, NULL, 0, out);
}

int
mproc_manager_namespace(mproc_manager_t *m, const char *name,
                        mproc_mobj_t **out)
{
    return mproc_manager_open(m, MPROC_MOBJ_NAMESPACE, name, NULL, 0, out);
}

int
mproc_manager_array(mproc_manager_t *m, const char *name, int type,
                    size_t length, mproc_mobj_t **out)
{
    unsigned char b[16];

    enc64(b, type);
    enc64(b + 8, (int64_t)length);
    return mproc_manager_open(m, MPROC_MOBJ_ARRAY, name, b, 16, out);
}

int
mproc_manager_value(mproc_manager_t *m, const char *name, int type,
                    mproc_mobj_t **out)
{
    return mproc_manager_array(m, name, type, 1, out);
}

int
mproc_manager_queue(mproc_manager_t *m, const char *name, size_t maxsize,
                    bool joinable, mproc_mobj_t **out)
{
    return open_i64(m, joinable ? MPROC_MOBJ_JOINABLE_QUEUE : MPROC_MOBJ_QUEUE,
                    name, (int64_t)maxsize, out);
}

int
mproc_manager_lock(mproc_manager_t *m, const char *name, bool recursive,
                   mproc_mobj_t **out)
{
    return mproc_manager_open(m, recursive ? MPROC_MOBJ_RLOCK : MPROC_MOBJ_LOCK,
                              name, NULL, 0, out);
}

int
mproc_manager_semaphore(mproc_manager_t *m, const char *name, unsigned value,
                        bool bounded, mproc_mobj_t **out)
{
    return open_i64(m,
                    bounded ? MPROC_MOBJ_BOUNDED_SEMAPHORE
                            : MPROC_MOBJ_SEMAPHORE,
                    name, value, out);
}

int
mproc_manager_condition(mproc_manager_t *m, const char *name,
                        mproc_mobj_t *lock, mproc_mobj_t **out)
{
    if (m == NULL) {
        if (out != NULL)
            *out = NULL;
        return MPROC_EINVAL;
    }
    if (lock != NULL && lock->m != m) {
        *out = NULL;
        return fail(m, MPROC_EINVAL, "condition: lock of another manager");
    }
    return open_i64(m, MPROC_MOBJ_CONDITION, name, lock ? lock->id : 0, out);
}

int
mproc_manager_event(mproc_manager_t *m, const char *name, mproc_mobj_t **out)
{
    return mproc_manager_open(m, MPROC_MOBJ_EVENT, name, NULL, 0, out);
}

int
mproc_manager_barrier(mproc_manager_t *m, const char *name, unsigned parties,
                      mproc_mobj_t **out)
{
    return open_i64(m, MPROC_MOBJ_BARRIER, name, parties, out);
}

int
mproc_manager_custom(mproc_manager_t *m, const char *name,
                     const char *type_name, const void *arg, size_t len,
                     mproc_mobj_t **out)
{
    return open_(m, OP_OPEN, MPROC_MOBJ_CUSTOM, name, arg, len, type_name,
                 out);
}

int
mproc_manager_call(mproc_mobj_t *o, const char *method, const void *arg,
                   size_t len, const void **out, size_t *out_len)
{
    mgr_bytes a[2] = { B(method, method != NULL ? strlen(method) : 0),
                       B(arg, len) };
    int r;
    size_t l = 0;
    const void *p;

    if (o == NULL)
        return MPROC_EINVAL;
    if (method == NULL || method[0] == '\0') {
        if (out != NULL)
            *out = NULL;
        if (out_len != NULL)
            *out_len = 0;
        return fail(o->m, MPROC_EINVAL, "call: no method name");
    }
    r = ocall(o, OP_X_CALL, -1, a, 2);
    p = mproc_manager_item(o->m, 0, &l);
    /* A failed method's output is its message; without one, the code's
     * (the server's own messages name the method already). */
    if (r < 0 && r != MPROC_EPIPE && r != MPROC_EMSGSIZE)
        snprintf(o->m->msg, sizeof(o->m->msg), "manager %s: %s: %.*s",
                 o->m->address, method,
                 p != NULL && l > 0 ? (int)(l > 200 ? 200 : l) : 200,
                 p != NULL && l > 0 ? (const char *)p : mproc_strerror(r));
    if (out != NULL)
        *out = r >= 0 ? p : NULL;
    if (out_len != NULL)
        *out_len = r >= 0 ? l : 0;
    return r;
}

/* ---- dict ---- */

int
mproc_mdict_set(mproc_mobj_t *d, const void *k, size_t kl, const void *v,
                size_t vl)
{
    mgr_bytes a[2] = { B(k, kl), B(v, vl) };

    return ocall(d, OP_D_SET, -1, a, 2);
}

int
mproc_mdict_get(mproc_mobj_t *d, const void *k, size_t kl, const void **v,
                size_t *vl)
{
    return item0(d, call1(d, OP_D_GET, k, kl), v, vl);
}

int
mproc_mdict_setdefault(mproc_mobj_t *d, const void *k, size_t kl,
                       const void *dv, size_t dl, const void **v, size_t *vl)
{
    mgr_bytes a[2] = { B(k, kl), B(dv, dl) };

    return item0(d, ocall(d, OP_D_SETDEFAULT, -1, a, 2),
                 v, vl);
}

int
mproc_mdict_delete(mproc_mobj_t *d, const void *k, size_t kl)
{
    return call1(d, OP_D_DEL, k, kl);
}

int
mproc_mdict_contains(mproc_mobj_t *d, const void *k, size_t kl)
{
    return call1(d, OP_D_CONTAINS, k, kl);
}

ssize_t
mproc_mdict_len(mproc_mobj_t *d)
{
    return call0(d, OP_D_LEN, -1);
}

ssize_t
mproc_mdict_keys(mproc_mobj_t *d)
{
    return call0(d, OP_D_KEYS, -1);
}

ssize_t
mproc_mdict_items(mproc_mobj_t *d)
{
    return call0(d, OP_D_ITEMS, -1);
}

int
mproc_mdict_pop(mproc_mobj_t *d, const void *k, size_t kl, const void **v,
                size_t *vl)
{
    return item0(d, call1(d, OP_D_POP, k, kl), v, vl);
}

int
mproc_mdict_clear(mproc_mobj_t *d)
{
    return call0(d, OP_D_CLEAR, -1);
}

int
mproc_mdict_update(mproc_mobj_t *d, const struct mproc_mbytes *kv, size_t n)
{
    return ocall(d, OP_D_UPDATE, -1, kv, 2 * n);
}

/* ---- list ---- */

static int
list_idx(mproc_mobj_t *l, int op, ssize_t i, const void *p, size_t len,
         bool with_item)
{
    unsigned char b[8];
    mgr_bytes a[2] = { B(b, 8), B(p, len) };

    enc64(b, i);
    return ocall(l, op, -1, a, with_item ? 2 : 1);
}

int
mproc_mlist_append(mproc_mobj_t *l, const void *p, size_t len)
{
    return call1(l, OP_L_EXTEND, p, len);
}

int
mproc_mlist_extend(mproc_mobj_t *l, const struct mproc_mbytes *items,
                   size_t n)
{
    return ocall(l, OP_L_EXTEND, -1, items, n);
}

int
mproc_mlist_insert(mproc_mobj_t *l, ssize_t i, const void *p, size_t len)
{
    return list_idx(l, OP_L_INSERT, i, p, len, true);
}

int
mproc_mlist_get(mproc_mobj_t *l, ssize_t i, const void **p, size_t *len)
{
    return item0(l, list_idx(l, OP_L_GET, i, NULL, 0, false), p, len);
}

int
mproc_mlist_set(mproc_mobj_t *l, ssize_t i, const void *p, size_t len)
{
    return list_idx(l, OP_L_SET, i, p, len, true);
}

int
mproc_mlist_pop(mproc_mobj_t *l, ssize_t i, const void **p, size_t *len)
{
    return item0(l, list_idx(l, OP_L_POP, i, NULL, 0, false), p, len);
}

int
mproc_mlist_remove(mproc_mobj_t *l, const void *p, size_t len)
{
    return call1(l, OP_L_REMOVE, p, len);
}

ssize_t
mproc_mlist_len(mproc_mobj_t *l)
{
    return call0(l, OP_L_LEN, -1);
}

int
mproc_mlist_reverse(mproc_mobj_t *l)
{
    return call0(l, OP_L_REVERSE, -1);
}

int
mproc_mlist_sort(mproc_mobj_t *l)
{
    return call0(l, OP_L_SORT, -1);
}

ssize_t
mproc_mlist_slice(mproc_mobj_t *l, ssize_t start, ssize_t stop)
{
    unsigned char b[16];
    mgr_bytes a[2] = { B(b, 8), B(b + 8, 8) };

    enc64(b, start);
    enc64(b + 8, stop);
    return ocall(l, OP_L_SLICE, -1, a, 2);
}

/* ---- Namespace ---- */

int
mproc_mns_set(mproc_mobj_t *ns, const char *f, const void *p, size_t len)
{
    if (f == NULL)
        return MPROC_EINVAL;
    return mproc_mdict_set(ns, f, strlen(f), p, len);
}

int
mproc_mns_get(mproc_mobj_t *ns, const char *f, const void **p, size_t *len)
{
    if (f == NULL) {
        if (p != NULL)
            *p = NULL;
        if (len != NULL)
            *len = 0;
        return MPROC_EINVAL;
    }
    return mproc_mdict_get(ns, f, strlen(f), p, len);
}

int
mproc_mns_delete(mproc_mobj_t *ns, const char *f)
{
    if (f == NULL)
        return MPROC_EINVAL;
    return mproc_mdict_delete(ns, f, strlen(f));
}

ssize_t
mproc_mns_fields(mproc_mobj_t *ns)
{
    return mproc_mdict_keys(ns);
}

/* ---- Value / Array ---- */

static int
arr_call(mproc_mobj_t *a, int op, size_t i, uint64_t x, bool with_x,
         uint64_t *out)
{
    unsigned char b[16];
    mgr_bytes args[2] = { B(b, 8), B(b + 8, 8) };
    int r;

    mgr_put64(b, i);
    mgr_put64(b + 8, x);
    r = ocall(a, op, -1, args, with_x ? 2 : 1);
    if (r >= 0 && out != NULL)
        *out = (uint64_t)i64_of(a, 0);
    return r;
}

ssize_t
mproc_marray_len(mproc_mobj_t *a)
{
    return call0(a, OP_A_LEN, -1);
}

int
mproc_marray_get(mproc_mobj_t *a, size_t i, double *out)
{
    uint64_t bits = 0;
    int r = arr_call(a, OP_A_GET, i, 0, false, &bits);

    if (r >= 0)
        memcpy(out, &bits, 8);
    return r;
}

int
mproc_marray_set(mproc_mobj_t *a, size_t i, double x)
{
    uint64_t bits;

    memcpy(&bits, &x, 8);
    return arr_call(a, OP_A_SET, i, bits, true, NULL);
}

int
mproc_marray_get_i64(mproc_mobj_t *a, size_t i, int64_t *out)
{
    return arr_call(a, OP_A_GETI, i, 0, false, (uint64_t *)out);
}

int
mproc_marray_set_i64(mproc_mobj_t *a, size_t i, int64_t x)
{
    return arr_call(a, OP_A_SETI, i, (uint64_t)x, true, NULL);
}

int
mproc_marray_add_i64(mproc_mobj_t *a, size_t i, int64_t delta, int64_t *out)
{
    return arr_call(a, OP_A_ADDI, i, (uint64_t)delta, true, (uint64_t *)out);
}

int
mproc_marray_read(mproc_mobj_t *a, void *buf, size_t len)
{
    const void *p;
    size_t l;
    int r = item0(a, call0(a, OP_A_READ, -1), &p, &l);

    if (r < 0)
        return r;
    if (l != len)
        return fail(a->m, MPROC_EINVAL, "array read: wrong buffer size");
    memcpy(buf, p, len);
    return 0;
}

int
mproc_marray_write(mproc_mobj_t *a, const void *buf, size_t len)
{
    return call1(a, OP_A_WRITE, buf, len);
}

/* ---- Queue ---- */

int
mproc_mqueue_put(mproc_mobj_t *q, const void *p, size_t len, int timeout)
{
    mgr_bytes a = B(p, len);

    return ocall(q, OP_Q_PUT, timeout, &a, 1);
}

int
mproc_mqueue_get(mproc_mobj_t *q, int timeout, const void **p, size_t *len)
{
    return item0(q, call0(q, OP_Q_GET, timeout), p, len);
}

ssize_t
mproc_mqueue_qsize(mproc_mobj_t *q)
{
    return call0(q, OP_Q_QSIZE, -1);
}

int
mproc_mqueue_task_done(mproc_mobj_t *q)
{
    return call0(q, OP_Q_TASK_DONE, -1);
}

int
mproc_mqueue_join(mproc_mobj_t *q, int timeout)
{
    return call0(q, OP_Q_JOIN, timeout);
}

/* ---- locks, semaphores, conditions, events, barriers ---- */

int
mproc_mlock_acquire(mproc_mobj_t *l, int timeout)
{
    return call0(l, OP_K_ACQ, timeout);
}

int
mproc_mlock_release(mproc_mobj_t *l)
{
    return call0(l, OP_K_REL, -1);
}

int
mproc_msem_acquire(mproc_mobj_t *s, int timeout)
{
    return call0(s, OP_S_ACQ, timeout);
}

int
mproc_msem_release(mproc_mobj_t *s)
{
    return call0(s, OP_S_REL, -1);
}

int
mproc_msem_get_value(mproc_mobj_t *s)
{
    return call0(s, OP_S_VAL, -1);
}

int
mproc_mcond_acquire(mproc_mobj_t *c, int timeout)
{
    return call0(c, OP_K_ACQ, timeout);
}

int
mproc_mcond_release(mproc_mobj_t *c)
{
    return call0(c, OP_K_REL, -1);
}

int
mproc_mcond_wait(mproc_mobj_t *c, int timeout)
{
    return call0(c, OP_C_WAIT, timeout);
}

int
mproc_mcond_notify(mproc_mobj_t *c, int n)
{
    unsigned char b[8];

    if (n <= 0)
        return 0;
    enc64(b, n);
    return call1(c, OP_C_NOTIFY, b, 8);
}

int
mproc_mcond_notify_all(mproc_mobj_t *c)
{
    return mproc_mcond_notify(c, INT32_MAX);
}

int
mproc_mevent_set(mproc_mobj_t *e)
{
    return call0(e, OP_E_SET, -1);
}

int
mproc_mevent_clear(mproc_mobj_t *e)
{
    return call0(e, OP_E_CLEAR, -1);
}

int
mproc_mevent_is_set(mproc_mobj_t *e)
{
    return call0(e, OP_E_ISSET, -1);
}

int
mproc_mevent_wait(mproc_mobj_t *e, int timeout)
{
    return call0(e, OP_E_WAIT, timeout);
}

int
mproc_mbarrier_wait(mproc_mobj_t *b, int timeout)
{
    return call0(b, OP_B_WAIT, timeout);
}

int
mproc_mbarrier_abort(mproc_mobj_t *b)
{
    return call0(b, OP_B_ABORT, -1);
}

int
mproc_mbarrier_reset(mproc_mobj_t *b)
{
    return call0(b, OP_B_RESET, -1);
}

int
mproc_mbarrier_n_waiting(mproc_mobj_t *b)
{
    return call0(b, OP_B_NWAIT, -1);
}

int
mproc_mbarrier_broken(mproc_mobj_t *b)
{
    return call0(b, OP_B_BROKEN, -1);
}

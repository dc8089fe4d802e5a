/* SPDX-License-Identifier: MIT */
/*
 * The manager's objects a client can wait on: Queue, JoinableQueue, Lock,
 * RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier.
 *
 * A request that must wait parks its client on one of the object's wait
 * lists (FIFO) with a deadline; the server goes on serving others.  Any
 * change that may satisfy a waiter (a release, a put, a set ...) hands the
 * object to the oldest waiters right away.  Lock ownership belongs to a
 * connection, so a dropped connection gives back what it held and the next
 * acquirer hears MPROC_EOWNERDEAD, as the arena locks of <mproc/sync.h>.
 */
#include "config.h"

#include <stdlib.h>

#include "mgr_int.h"

/* Wait lists of a Queue. */
enum { WQ_GET = 0, WQ_PUT = 1, WQ_JOIN = 2 };

static int64_t
arg_i64(const mgr_bytes *a, size_t na, int64_t dflt)
{
    return na >= 1 && a[0].len == 8 ? (int64_t)mgr_get64(a[0].ptr) : dflt;
}

/* ---- Lock and RLock ---- */

static bool
is_lock(const struct mgr_obj *o)
{
    return o->type == MPROC_MOBJ_LOCK || o->type == MPROC_MOBJ_RLOCK;
}

/* Give a free lock to its oldest waiter, if any. */
static void
lock_handoff(struct mgr_obj *l)
{
    struct mgr_client *w = l->wq[0].head;
    int st;

    if (l->u.lock.owner != NULL || w == NULL)
        return;
    st = w->park_op == PARK_LOCK_REACQ ? w->park_status : 0;
    l->u.lock.owner = w;
    l->u.lock.depth = w->park_op == PARK_LOCK_REACQ ? w->park_depth : 1;
    if (l->u.lock.owner_died) {
        l->u.lock.owner_died = false;
        st = MPROC_EOWNERDEAD;
    }
    mproc__mgr_wake(w, st);
}

static int
lock_acquire(struct mgr_client *c, struct mgr_obj *l, int timeout)
{
    if (l->u.lock.owner == NULL) {
        l->u.lock.owner = c;
        l->u.lock.depth = 1;
        if (l->u.lock.owner_died) {
            l->u.lock.owner_died = false;
            return MPROC_EOWNERDEAD;
        }
        return 0;
    }
    if (l->u.lock.owner == c && l->type == MPROC_MOBJ_RLOCK) {
        l->u.lock.depth++;
        return 0;
    }
    if (timeout == 0)
        return MPROC_ETIMEDOUT;
    mproc__mgr_park(c, l, 0, OP_K_ACQ, timeout);
    return MGR_PARKED;
}

/* Release `depth` levels (all: UINT32_MAX). */
static int
lock_release(struct mgr_client *c, struct mgr_obj *l, uint32_t depth)
{
    if (l->u.lock.owner != c)
        return mproc__mgr_why(c->srv, MPROC_EPERM, "this connection does "
                              "not hold the %s", l->u.lock.owner != NULL
                              ? "lock (another client does)"
                              : "lock (nobody does)");
    if (depth >= l->u.lock.depth) {
        l->u.lock.owner = NULL;
        l->u.lock.depth = 0;
        lock_handoff(l);
    } else {
        l->u.lock.depth -= depth;
    }
    return 0;
}

/* ---- Semaphore ---- */

/* Give units to the oldest waiters. */
static void
sem_handoff(struct mgr_obj *s)
{
    struct mgr_client *w;
    struct mgr_ref *r;
    int st;

    while (s->u.sem.value > 0 && (w = s->wq[0].head) != NULL) {
        s->u.sem.value--;
        st = 0;
        if (s->u.sem.dead > 0) {
            s->u.sem.dead--;
            st = MPROC_EOWNERDEAD;
        }
        r = mproc__mgr_ref(w, s->id);
        if (r != NULL)
            r->held++;
        mproc__mgr_wake(w, st);
    }
}

static int
sem_op(struct mgr_client *c, struct mgr_obj *s, int op, int timeout)
{
    struct mgr_ref *r = mproc__mgr_ref(c, s->id);

    switch (op) {
    case OP_S_ACQ:
        if (s->u.sem.value > 0) {
            s->u.sem.value--;
            r->held++;
            if (s->u.sem.dead > 0) {
                s->u.sem.dead--;
                return MPROC_EOWNERDEAD;
            }
            return 0;
        }
        if (timeout == 0)
            return MPROC_ETIMEDOUT;
        mproc__mgr_park(c, s, 0, OP_S_ACQ, timeout);
        return MGR_PARKED;
    case OP_S_REL:
        if (s->u.sem.bounded && s->u.sem.value >= s->u.sem.initial)
            return mproc__mgr_why(c->srv, MPROC_ERANGE, "BoundedSemaphore "
                                  "released above its initial value, %llu",
                                  (unsigned long long)s->u.sem.initial);
        s->u.sem.value++;
        /* Any client may release; the releaser's kept units go down. */
        if (r->held > 0)
            r->held--;
        sem_handoff(s);
        return 0;
    case OP_S_VAL:
        return (int)s->u.sem.value;
    default:
        return MPROC_ENOTSUP;
    }
}

/* ---- Queue ---- */

static void
q_push(struct mgr_obj *q, struct mgr_item *it)
{
    q->u.q.ring[(q->u.q.head + q->u.q.n) % q->u.q.cap] = it;
    q->u.q.n++;
    q->u.q.unfinished++;
}

static int
q_reserve(struct mgr_obj *q)
{
    size_t cap, i;
    struct mgr_item **ring;

    if (q->u.q.n < q->u.q.cap)
        return 0;
    cap = q->u.q.cap ? q->u.q.cap * 2 : 16;
    ring = malloc(cap * sizeof(*ring));
    if (ring == NULL)
        return MPROC_ENOMEM;
    for (i = 0; i < q->u.q.n; i++)
        ring[i] = q->u.q.ring[(q->u.q.head + i) % q->u.q.cap];
    free(q->u.q.ring);
    q->u.q.ring = ring;
    q->u.q.cap = cap;
    q->u.q.head = 0;
    return 0;
}

static void
q_reply_item(struct mgr_client *c, struct mgr_item *it)
{
    mproc__mgr_rep_item(c, it->data, it->len);
    free(it);
}

/* Move waiting puts in while there is room; serve waiting gets. */
static void
q_settle(struct mgr_obj *q)
{
    struct mgr_client *w;
    struct mgr_item *it;

    for (;;) {
        if (q->u.q.n > 0 && (w = q->wq[WQ_GET].head) != NULL) {
            it = q->u.q.ring[q->u.q.head];
            q->u.q.head = (q->u.q.head + 1) % q->u.q.cap;
            q->u.q.n--;
            mproc__mgr_unpark(w);
            mproc__mgr_rep_begin(w);
            q_reply_item(w, it);
            mproc__mgr_rep_end(w, 0);
            continue;
        }
        if ((w = q->wq[WQ_PUT].head) != NULL &&
            (q->u.q.maxsize == 0 || q->u.q.n < q->u.q.maxsize) &&
            q_reserve(q) == 0) {
            q_push(q, w->park_item);
            w->park_item = NULL;
            mproc__mgr_wake(w, 0);
            continue;
        }
        break;
    }
}

static void
q_wake_all(struct mgr_obj *o, int list, int st)
{
    while (o->wq[list].head != NULL)
        mproc__mgr_wake(o->wq[list].head, st);
}

static int
queue_op(struct mgr_client *c, struct mgr_obj *q, int op, const mgr_bytes *a,
         size_t na, int timeout)
{
    struct mgr_item *it;

    switch (op) {
    case OP_Q_PUT:
        if (na != 1)
            return MPROC_EINVAL;
        it = mproc__mgr_item_new(a[0].ptr, a[0].len);
        if (it == NULL)
            return MPROC_ENOMEM;
        if (q->u.q.maxsize != 0 && q->u.q.n >= q->u.q.maxsize) {
            if (timeout == 0) {
                free(it);
                return MPROC_ETIMEDOUT;
            }
            mproc__mgr_park(c, q, WQ_PUT, OP_Q_PUT, timeout);
            c->park_item = it;
            return MGR_PARKED;
        }
        if (q_reserve(q) < 0) {
            free(it);
            return MPROC_ENOMEM;
        }
        q_push(q, it);
        q_settle(q);
        return 0;
    case OP_Q_GET:
        if (q->u.q.n == 0) {
            if (timeout == 0)
                return MPROC_ETIMEDOUT;
            mproc__mgr_park(c, q, WQ_GET, OP_Q_GET, timeout);
            return MGR_PARKED;
        }
        it = q->u.q.ring[q->u.q.head];
        q->u.q.head = (q->u.q.head + 1) % q->u.q.cap;
        q->u.q.n--;
        q_reply_item(c, it);
        q_settle(q);
        return 0;
    case OP_Q_QSIZE:
        return q->u.q.n > INT32_MAX ? INT32_MAX : (int)q->u.q.n;
    case OP_Q_TASK_DONE:
        if (q->type != MPROC_MOBJ_JOINABLE_QUEUE)
            return mproc__mgr_why(c->srv, MPROC_ENOTSUP, "task_done and "
                                  "join need a JoinableQueue; this is a "
                                  "Queue");
        if (q->u.q.unfinished == 0)
            return mproc__mgr_why(c->srv, MPROC_EINVAL, "task_done called "
                                  "more times than items were put");
        if (--q->u.q.unfinished == 0)
            q_wake_all(q, WQ_JOIN, 0);
        return 0;
    case OP_Q_JOIN:
        if (q->type != MPROC_MOBJ_JOINABLE_QUEUE)
            return MPROC_ENOTSUP;
        if (q->u.q.unfinished == 0)
            return 0;
        if (timeout == 0)
            return MPROC_ETIMEDOUT;
        mproc__mgr_park(c, q, WQ_JOIN, OP_Q_JOIN, timeout);
        return MGR_PARKED;
    default:
        return MPROC_ENOTSUP;
    }
}

/* ---- Barrier ---- */

static void
bar_break(struct mgr_obj *b)
{
    b->u.bar.broken = true;
    b->u.bar.count = 0;
    q_wake_all(b, 0, MPROC_EBROKEN);
}

static int
barrier_op(struct mgr_client *c, struct mgr_obj *b, int op, int timeout)
{
    uint32_t idx;
    struct mgr_client *w;

    switch (op) {
    case OP_B_WAIT:
        if (b->u.bar.broken)
            return MPROC_EBROKEN;
        idx = b->u.bar.count++;
        if (b->u.bar.count == b->u.bar.parties) {
            /* The generation is complete: everyone passes with its index. */
            while ((w = b->wq[0].head) != NULL)
                mproc__mgr_wake(w, (int)w->park_index);
            b->u.bar.count = 0;
            return (int)idx;
        }
        if (timeout == 0) {
            b->u.bar.count--;
            bar_break(b);
            return MPROC_ETIMEDOUT;
        }
        mproc__mgr_park(c, b, 0, OP_B_WAIT, timeout);
        c->park_index = idx;
        return MGR_PARKED;
    case OP_B_ABORT:
        bar_break(b);
        return 0;
    case OP_B_RESET:
        bar_break(b);
        b->u.bar.broken = false;
        return 0;
    case OP_B_NWAIT:
        return (int)b->u.bar.count;
    case OP_B_BROKEN:
        return b->u.bar.broken;
    default:
        return MPROC_ENOTSUP;
    }
}

/* ---- Condition ---- */

/* Move up to n of the Condition's waiters to its lock's wait list. */
static void
cond_notify(struct mgr_obj *cv, int64_t n)
{
    struct mgr_client *w;
    struct mgr_obj *l = cv->u.cond.lock;

    while (n-- > 0 && (w = cv->wq[0].head) != NULL) {
        uint32_t depth = w->park_depth;
        mproc__mgr_unpark(w);
        mproc__mgr_park(w, l, 0, PARK_LOCK_REACQ, -1);
        w->park_depth = depth;
        w->park_status = 0;
    }
    lock_handoff(l);
}

static int
cond_op(struct mgr_client *c, struct mgr_obj *cv, int op, const mgr_bytes *a,
        size_t na, int timeout)
{
    struct mgr_obj *l = cv->u.cond.lock;
    uint32_t depth;

    switch (op) {
    case OP_K_ACQ:
        return lock_acquire(c, l, timeout);
    case OP_K_REL:
        return lock_release(c, l, 1);
    case OP_C_WAIT:
        if (l->u.lock.owner != c)
            return MPROC_EPERM;
        depth = l->u.lock.depth;
        lock_release(c, l, UINT32_MAX);
        mproc__mgr_park(c, cv, 0, OP_C_WAIT, timeout);
        c->park_depth = depth;
        /* timeout 0 parks with a deadline of now: the next expiry pass
         * answers it, after this request's own reply was set aside. */
        return MGR_PARKED;
    case OP_C_NOTIFY:
        if (l->u.lock.owner != c)
            return MPROC_EPERM;
        cond_notify(cv, arg_i64(a, na, 1));
        return 0;
    default:
        return MPROC_ENOTSUP;
    }
}

/* ---- common ---- */

int
mproc__mgr_wait_op(struct mgr_client *c, struct mgr_obj *o, int op,
                   const mgr_bytes *a, size_t na, int timeout)
{
    if (timeout < -1)
        timeout = -1;
    switch (o->type) {
    case MPROC_MOBJ_QUEUE:
    case MPROC_MOBJ_JOINABLE_QUEUE:
        return queue_op(c, o, op, a, na, timeout);
    case MPROC_MOBJ_LOCK:
    case MPROC_MOBJ_RLOCK:
        if (op == OP_K_ACQ)
            return lock_acquire(c, o, timeout);
        if (op == OP_K_REL)
            return lock_release(c, o, 1);
        return MPROC_ENOTSUP;
    case MPROC_MOBJ_SEMAPHORE:
    case MPROC_MOBJ_BOUNDED_SEMAPHORE:
        return sem_op(c, o, op, timeout);
    case MPROC_MOBJ_CONDITION:
        return cond_op(c, o, op, a, na, timeout);
    case MPROC_MOBJ_EVENT:
        switch (op) {
        case OP_E_SET:
            o->u.ev.set = true;
            q_wake_all(o, 0, 0);
            return 0;
        case OP_E_CLEAR:
            o->u.ev.set = false;
            return 0;
        case OP_E_ISSET:
            return o->u.ev.set;
        case OP_E_WAIT:
            if (o->u.ev.set)
                return 0;
            if (timeout == 0)
                return MPROC_ETIMEDOUT;
            mproc__mgr_park(c, o, 0, OP_E_WAIT, timeout);
            return MGR_PARKED;
        default:
            return MPROC_ENOTSUP;
        }
    case MPROC_MOBJ_BARRIER:
        return barrier_op(c, o, op, timeout);
    default:
        return MPROC_ENOTSUP;
    }
}

void
mproc__mgr_wait_timeout(struct mgr_client *c)
{
    struct mgr_obj *o = c->park_obj;
    uint32_t depth = c->park_depth;

    switch (c->park_op) {
    case OP_C_WAIT:
        /* Not notified: take the lock back before answering. */
        mproc__mgr_unpark(c);
        mproc__mgr_park(c, o->u.cond.lock, 0, PARK_LOCK_REACQ, -1);
        c->park_depth = depth;
        c->park_status = MPROC_ETIMEDOUT;
        lock_handoff(o->u.cond.lock);
        return;
    case OP_B_WAIT:
        mproc__mgr_wake(c, MPROC_ETIMEDOUT);
        o->u.bar.count--;
        bar_break(o);
        return;
    default:
        mproc__mgr_wake(c, MPROC_ETIMEDOUT);
        return;
    }
}

void
mproc__mgr_wait_parked_gone(struct mgr_client *c)
{
    struct mgr_obj *o = c->park_obj;
    int op = c->park_op;

    mproc__mgr_unpark(c);
    if (op == OP_B_WAIT) {
        /* A party that will never arrive: the others must not wait on. */
        o->u.bar.count--;
        bar_break(o);
    }
}

void
mproc__mgr_wait_client_gone(struct mgr_client *c, struct mgr_obj *o,
                            struct mgr_ref *r)
{
    struct mgr_obj *l = o->type == MPROC_MOBJ_CONDITION ? o->u.cond.lock : o;

    if (is_lock(l) && l->u.lock.owner == c) {
        l->u.lock.owner = NULL;
        l->u.lock.depth = 0;
        l->u.lock.owner_died = true;
        lock_handoff(l);
    }
    if ((o->type == MPROC_MOBJ_SEMAPHORE ||
         o->type == MPROC_MOBJ_BOUNDED_SEMAPHORE) && r->held > 0) {
        o->u.sem.value += r->held;
        o->u.sem.dead += r->held;
        r->held = 0;
        sem_handoff(o);
    }
}

int
mproc__mgr_wait_new(struct mgr_srv *s, struct mgr_obj *o,
                    const unsigned char *p, size_t plen)
{
    int64_t v = plen == 8 ? (int64_t)mgr_get64(p) : 0;
    struct mgr_obj *l;

    if (plen != 0 && plen != 8)
        return MPROC_EINVAL;
    switch (o->type) {
    case MPROC_MOBJ_QUEUE:
    case MPROC_MOBJ_JOINABLE_QUEUE:
        if (v < 0)
            return MPROC_EINVAL;
        o->u.q.maxsize = (size_t)v;
        return 0;
    case MPROC_MOBJ_SEMAPHORE:
    case MPROC_MOBJ_BOUNDED_SEMAPHORE:
        if (v < 0 || v > 1000000000)
            return MPROC_EINVAL;
        o->u.sem.value = o->u.sem.initial = (uint64_t)v;
        o->u.sem.bounded = o->type == MPROC_MOBJ_BOUNDED_SEMAPHORE;
        return 0;
    case MPROC_MOBJ_BARRIER:
        if (v < 1 || v > 65536)
            return MPROC_EINVAL;
        o->u.bar.parties = (uint32_t)v;
        return 0;
    case MPROC_MOBJ_CONDITION:
        /* The lock: one of the server's (by id), or a new private one. */
        if (v != 0) {
            if ((uint64_t)v >= s->nobjs || s->objs[v] == NULL ||
                !is_lock(s->objs[v]))
                return MPROC_EINVAL;
            l = s->objs[v];
        } else {
            l = calloc(1, sizeof(*l));
            if (l == NULL)
                return MPROC_ENOMEM;
            l->type = MPROC_MOBJ_LOCK;
            l->id = UINT32_MAX; /* in no table: freed with the Condition */
        }
        l->refs++;
        o->u.cond.lock = l;
        return 0;
    default:
        return 0;
    }
}

void
mproc__mgr_wait_free(struct mgr_obj *o)
{
    size_t i;

    if (o->type == MPROC_MOBJ_QUEUE || o->type == MPROC_MOBJ_JOINABLE_QUEUE) {
        for (i = 0; i < o->u.q.n; i++)
            free(o->u.q.ring[(o->u.q.head + i) % o->u.q.cap]);
        free(o->u.q.ring);
    }
}

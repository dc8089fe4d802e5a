/* SPDX-License-Identifier: MIT */
/*
 * Manager internals: the wire format between clients and the server, and
 * the server's object model.
 *
 * Wire format (inside one message of <mproc/connection.h>, or one
 * message through a client's shared-memory ring (ring.h), all integers
 * little-endian):
 *   request  u8 op, u8 0, u16 nargs, u32 obj, i32 timeout_ms,
 *            then nargs times { u32 len, len bytes }
 *   reply    i32 status, u32 nitems, then nitems times { u32 len, bytes }
 * A failed request's reply (status < 0, not MPROC_EOWNERDEAD, not a
 * custom method's) may carry one item: the server's message, text.  A
 * PING's reply, and a RING's that succeeded, carry the server's message
 * limit (i64), so a client refuses an oversize request before sending
 * it.  A client over max_clients gets one unasked reply, MPROC_EBUSY and
 * the message, and the server closes its connection.
 * A client has at most one request in flight: it sends, then reads the
 * reply, so the server keeps one parked request per client at most.
 * Integer arguments are 8 bytes (i64).
 */
#ifndef MPROC_MGR_INT_H
#define MPROC_MGR_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <mproc/manager.h>
#include <mproc/plugin.h>

#include "../util/buf_int.h"

#define MGR_REQ_HDR 12u
#define MGR_REP_HDR 8u

enum mgr_op {
    OP_PING = 1,
    OP_OPEN,     /* obj = type; args: name ("" anonymous), params */
    OP_FIND,     /* args: name */
    OP_UNLINK,   /* args: name */
    OP_DECREF,   /* obj */
    OP_SHUTDOWN,
    OP_RING,     /* unix: only; the reply is followed by a memfd (ring.h) */
    /* dict and Namespace */
    OP_D_SET = 16, OP_D_GET, OP_D_SETDEFAULT, OP_D_DEL, OP_D_CONTAINS,
    OP_D_LEN, OP_D_KEYS, OP_D_ITEMS, OP_D_POP, OP_D_CLEAR, OP_D_UPDATE,
    /* list */
    OP_L_EXTEND = 32, OP_L_INSERT, OP_L_GET, OP_L_SET, OP_L_POP,
    OP_L_REMOVE, OP_L_LEN, OP_L_REVERSE, OP_L_SORT, OP_L_SLICE,
    /* Value / Array */
    OP_A_LEN = 48, OP_A_GET, OP_A_SET, OP_A_GETI, OP_A_SETI, OP_A_ADDI,
    OP_A_READ, OP_A_WRITE,
    /* Queue */
    OP_Q_PUT = 64, OP_Q_GET, OP_Q_QSIZE, OP_Q_TASK_DONE, OP_Q_JOIN,
    /* Lock, RLock */
    OP_K_ACQ = 80, OP_K_REL,
    /* Semaphore */
    OP_S_ACQ = 88, OP_S_REL, OP_S_VAL,
    /* Condition */
    OP_C_WAIT = 96, OP_C_NOTIFY,
    /* Event */
    OP_E_SET = 104, OP_E_CLEAR, OP_E_ISSET, OP_E_WAIT,
    /* Barrier */
    OP_B_WAIT = 112, OP_B_ABORT, OP_B_RESET, OP_B_NWAIT, OP_B_BROKEN,
    /* custom */
    OP_X_CALL = 120,
    /* internal park states (never on the wire) */
    PARK_LOCK_REACQ = 200
};

static inline void
mgr_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t
mgr_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline void
mgr_put64(unsigned char *p, uint64_t v)
{
    mgr_put32(p, (uint32_t)v);
    mgr_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t
mgr_get64(const unsigned char *p)
{
    return (uint64_t)mgr_get32(p) | (uint64_t)mgr_get32(p + 4) << 32;
}

/* One argument or reply item, pointing into a message. */
typedef struct mproc_mbytes mgr_bytes;

/*
 * Split `len` bytes of `msg` into `count` items of { u32 len, bytes }.
 * `items` (capacity *cap, grown with realloc) receives them.
 * Returns 0 or MPROC_EPROTO-like MPROC_EINVAL for a malformed message.
 */
int mproc__mgr_split(const unsigned char *p, size_t len, uint32_t count,
                     mgr_bytes **items, size_t *cap);

/* A byte string with its length in front: list and queue items. */
struct mgr_item {
    size_t len;
    unsigned char data[];
};

struct mgr_item *mproc__mgr_item_new(const void *p, size_t len);

struct mgr_srv;
struct mgr_client;
struct mgr_obj;

/* A FIFO of parked clients. */
struct mgr_wlist {
    struct mgr_client *head, *tail;
};

/* A reference a client holds on an object (one per object). */
struct mgr_ref {
    uint32_t id;
    uint32_t n;    /* proxies open */
    uint64_t held; /* Semaphore units taken and kept */
};

struct mgr_client {
    struct mgr_srv *srv;
    void *conn;             /* the transport's */
    struct mproc_buf out;   /* replies not yet written */
    size_t rep_at;          /* where the reply being built starts */
    uint32_t rep_n;         /* its items so far */
    struct mgr_ref *refs;
    size_t nrefs, caprefs;
    /* A parked request (at most one). */
    bool parked;
    int park_op;
    struct mgr_obj *park_obj;
    int park_list;          /* which wait list of park_obj */
    int64_t park_deadline;  /* monotonic ms, -1 none */
    int park_status;        /* the status a lock re-acquire reports */
    uint32_t park_depth;    /* RLock depth to restore */
    uint32_t park_index;    /* Barrier arrival index */
    struct mgr_item *park_item; /* a Queue put waiting for room */
    struct mgr_client *wnext, *wprev; /* in park_obj's wait list */
    struct mgr_client *pnext, *pprev; /* in the server's parked list */
    bool gone;
};

struct mgr_dict;

struct mgr_obj {
    uint32_t id;
    int type;
    uint32_t refs;   /* proxies of every client */
    char *name;      /* NULL: anonymous */
    struct mgr_wlist wq[3];
    union {
        struct mgr_dict *dict;
        struct {
            struct mgr_item **v;
            size_t n, cap;
        } list;
        struct {
            int type;
            size_t length, elsize;
            unsigned char *data;
        } arr;
        struct {
            struct mgr_item **ring;
            size_t head, n, cap, maxsize;
            uint64_t unfinished;
        } q;
        struct {
            struct mgr_client *owner;
            uint32_t depth;
            bool owner_died;
        } lock;
        struct {
            uint64_t value, initial, dead;
            bool bounded;
        } sem;
        struct {
            struct mgr_obj *lock;
        } cond;
        struct {
            bool set;
        } ev;
        struct {
            uint32_t parties, count;
            bool broken;
        } bar;
        struct {
            const struct mproc_mtype *t;
            void *state;
        } cust;
    } u;
};

struct mgr_srv {
    struct mgr_obj **objs; /* by id; NULL: free */
    uint32_t nobjs, capobjs;
    struct mgr_client *parked; /* every parked client */
    const struct mproc_mtype *const *types;
    size_t max_message;
    bool stopping;
    char why[200];   /* the message of the request failing now, or "" */
    mgr_bytes *args; /* scratch for the request being handled */
    size_t capargs;
    /* The transport: a reply for `c` is complete in c->out. */
    void (*ready)(struct mgr_srv *s, struct mgr_client *c);
};

/* ---- core (core.c) ---- */
void mproc__mgr_srv_init(struct mgr_srv *s, size_t max_message,
                         const struct mproc_mtype *const *types);
void mproc__mgr_srv_fini(struct mgr_srv *s);
void mproc__mgr_client_init(struct mgr_srv *s, struct mgr_client *c);
/* The client's connection dropped: release what it held, then free. */
void mproc__mgr_client_gone(struct mgr_client *c);
/* Handle one request message; the reply is built now or when unparked.
 * Returns 0, or a negative code when the message is malformed (drop the
 * client). */
int mproc__mgr_handle(struct mgr_client *c, const unsigned char *msg,
                      size_t len);
/* Time out parked requests whose deadline passed; returns the poll
 * timeout (ms, -1 none) until the next deadline. */
int mproc__mgr_expire(struct mgr_srv *s);
int64_t mproc__mgr_now(void);

/* The message of the failing request (sent with its status): returns
 * `code`. */
int mproc__mgr_why(struct mgr_srv *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A whole reply: status `code`, `msg` as its message. */
void mproc__mgr_rep_error(struct mgr_client *c, int code, const char *msg);
/* "dict", "Lock" ... for messages. */
const char *mproc__mgr_type_name(int type);

/* Reply building, into c->out. */
void mproc__mgr_rep_begin(struct mgr_client *c);
void mproc__mgr_rep_item(struct mgr_client *c, const void *p, size_t len);
void mproc__mgr_rep_i64(struct mgr_client *c, int64_t v);
void mproc__mgr_rep_end(struct mgr_client *c, int status);
/* Reply `status` (no items) to a parked client and unpark it. */
void mproc__mgr_wake(struct mgr_client *c, int status);
/* Park c on obj's wait list `list` until `timeout_ms`. */
void mproc__mgr_park(struct mgr_client *c, struct mgr_obj *o, int list,
                     int op, int timeout_ms);
void mproc__mgr_unpark(struct mgr_client *c);
struct mgr_ref *mproc__mgr_ref(struct mgr_client *c, uint32_t id);

/* ---- data objects (data.c) ---- */
int mproc__mgr_data_new(struct mgr_srv *s, struct mgr_obj *o,
                        const unsigned char *params, size_t plen);
void mproc__mgr_data_free(struct mgr_obj *o);
/* Returns the status; items go into the reply already begun. */
int mproc__mgr_data_op(struct mgr_client *c, struct mgr_obj *o, int op,
                       const mgr_bytes *a, size_t na);

/* ---- waitable objects (wait.c) ---- */
int mproc__mgr_wait_new(struct mgr_srv *s, struct mgr_obj *o,
                        const unsigned char *params, size_t plen);
void mproc__mgr_wait_free(struct mgr_obj *o);
/* Returns the status, or MGR_PARKED when the request parked. */
int mproc__mgr_wait_op(struct mgr_client *c, struct mgr_obj *o, int op,
                       const mgr_bytes *a, size_t na, int timeout_ms);
/* A parked request's deadline passed. */
void mproc__mgr_wait_timeout(struct mgr_client *c);
/* A client that holds a ref on o is gone (after its parked request was
 * dropped): give back what it held. */
void mproc__mgr_wait_client_gone(struct mgr_client *c, struct mgr_obj *o,
                                 struct mgr_ref *r);
/* A parked client is gone: take it off o's lists (barrier: break). */
void mproc__mgr_wait_parked_gone(struct mgr_client *c);

/* What a wait operation returns when the request parked: no status. */
#define MGR_PARKED (-99999)

#endif

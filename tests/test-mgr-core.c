/* SPDX-License-Identifier: MIT */
/*
 * The manager server's object logic in-process, no sockets: fake clients
 * send encoded requests to the core and read its replies.  Covers each
 * object's operations and error cases (CPython's _TestContainers), and the
 * parking rules: waiters served oldest first, timeouts, dead holders.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc/shared.h>

#include "manager/mgr_int.h"
#include "tap.h"

#define NC 4
static struct mgr_srv srv;
static struct mgr_client cl[NC];
static int nready[NC];

/* The last reply of each client. */
static int st[NC];
static mgr_bytes items[NC][64];
static uint32_t nitems[NC];

static void
ready(struct mgr_srv *s, struct mgr_client *c)
{
    int i = (int)(c - cl);
    mgr_bytes *tmp = NULL;
    size_t cap = 0, k;

    (void)s;
    nready[i]++;
    st[i] = (int32_t)mgr_get32((unsigned char *)c->out.data);
    nitems[i] = mgr_get32((unsigned char *)c->out.data + 4);
    if (mproc__mgr_split((unsigned char *)c->out.data + 8, c->out.len - 8,
                         nitems[i], &tmp, &cap) < 0)
        nitems[i] = UINT32_MAX;
    for (k = 0; k < nitems[i] && k < 64; k++) {
        /* Keep a copy: c->out is reset below. */
        void *p = malloc(tmp[k].len + 1);
        memcpy(p, tmp[k].ptr, tmp[k].len);
        ((char *)p)[tmp[k].len] = 0;
        free((void *)items[i][k].ptr);
        items[i][k].ptr = p;
        items[i][k].len = tmp[k].len;
    }
    free(tmp);
    c->out.len = 0;
}

/* Send a request from client i; returns its status, or 999 when parked. */
static int
req(int i, int op, uint32_t obj, int timeout, int na, ...)
{
    unsigned char buf[4096], *p = buf + MGR_REQ_HDR;
    va_list ap;
    int k, before = nready[i];

    buf[0] = (unsigned char)op;
    buf[1] = 0;
    buf[2] = (unsigned char)na;
    buf[3] = 0;
    mgr_put32(buf + 4, obj);
    mgr_put32(buf + 8, (uint32_t)timeout);
    va_start(ap, na);
    for (k = 0; k < na; k++) {
        const void *a = va_arg(ap, const void *);
        size_t l = va_arg(ap, size_t);
        mgr_put32(p, (uint32_t)l);
        if (l > 0)
            memcpy(p + 4, a, l);
        p += 4 + l;
    }
    va_end(ap);
    if (mproc__mgr_handle(&cl[i], buf, (size_t)(p - buf)) < 0)
        return -9999;
    return nready[i] > before ? st[i] : 999;
}

#define S(x) x, strlen(x)
static unsigned char ib[8][8];
static int ibn;
/* An i64 argument (a rotating buffer, several per call). */
static unsigned char *
I(int64_t v)
{
    unsigned char *b = ib[ibn++ % 8];
    mgr_put64(b, (uint64_t)v);
    return b;
}

static uint32_t
open_(int i, int type, const char *name, const void *params, size_t plen)
{
    int r = req(i, OP_OPEN, (uint32_t)type, -1, 2, name, strlen(name),
                params, plen);
    if (r < 0)
        return 0;
    return (uint32_t)mgr_get64(items[i][0].ptr);
}

static int
item_is(int i, int k, const char *s)
{
    return k < (int)nitems[i] && items[i][k].len == strlen(s) &&
           memcmp(items[i][k].ptr, s, items[i][k].len) == 0;
}

static void
test_dict(void)
{
    uint32_t d = open_(0, MPROC_MOBJ_DICT, "", NULL, 0), d2;

    ok(d > 0, "dict: created");
    is_int(req(0, OP_D_GET, d, -1, 1, S("a")), MPROC_ENOENT,
           "dict: get of a missing key is ENOENT (KeyError)");
    is_int(req(0, OP_D_SET, d, -1, 2, S("a"), S("1")), 0, "dict: set");
    is_int(req(0, OP_D_GET, d, -1, 1, S("a")), 0, "dict: get");
    ok(item_is(0, 0, "1"), "dict: get gives the value");
    is_int(req(0, OP_D_SET, d, -1, 2, S("a"), S("22")), 0, "dict: set again");
    req(0, OP_D_GET, d, -1, 1, S("a"));
    ok(item_is(0, 0, "22"), "dict: a set replaces");
    is_int(req(0, OP_D_SETDEFAULT, d, -1, 2, S("a"), S("x")), 0,
           "dict: setdefault of a present key");
    ok(item_is(0, 0, "22"), "dict: setdefault keeps the value");
    req(0, OP_D_SETDEFAULT, d, -1, 2, S("b"), S("x"));
    ok(item_is(0, 0, "x"), "dict: setdefault sets an absent key");
    is_int(req(0, OP_D_CONTAINS, d, -1, 1, S("b")), 1, "dict: contains");
    is_int(req(0, OP_D_CONTAINS, d, -1, 1, S("zz")), 0, "dict: not contains");
    is_int(req(0, OP_D_UPDATE, d, -1, 4, S("c"), S("3"), S("d"), S("4")), 0,
           "dict: update");
    is_int(req(0, OP_D_UPDATE, d, -1, 1, S("c")), MPROC_EINVAL,
           "dict: update with an odd count is EINVAL");
    is_int(req(0, OP_D_LEN, d, -1, 0), 4, "dict: len");
    is_int(req(0, OP_D_KEYS, d, -1, 0), 4, "dict: keys count");
    ok(item_is(0, 0, "a") && item_is(0, 1, "b") && item_is(0, 2, "c") &&
           item_is(0, 3, "d"),
       "dict: keys in insertion order");
    is_int(req(0, OP_D_ITEMS, d, -1, 0), 4, "dict: items");
    ok(item_is(0, 2, "b") && item_is(0, 3, "x"), "dict: items pairs");
    is_int(req(0, OP_D_POP, d, -1, 1, S("b")), 0, "dict: pop");
    ok(item_is(0, 0, "x"), "dict: pop gives the value");
    is_int(req(0, OP_D_POP, d, -1, 1, S("b")), MPROC_ENOENT,
           "dict: pop of a missing key is ENOENT");
    is_int(req(0, OP_D_DEL, d, -1, 1, S("a")), 0, "dict: delete");
    is_int(req(0, OP_D_DEL, d, -1, 1, S("a")), MPROC_ENOENT,
           "dict: delete of a missing key is ENOENT");
    is_int(req(0, OP_D_SET, d, -1, 2, "", (size_t)0, "", (size_t)0), 0,
           "dict: empty key and value");
    is_int(req(0, OP_D_CLEAR, d, -1, 0), 0, "dict: clear");
    is_int(req(0, OP_D_LEN, d, -1, 0), 0, "dict: empty after clear");
    /* Many keys: the table grows and keeps every one. */
    {
        char k[32];
        int i, bad = 0;
        for (i = 0; i < 2000; i++) {
            snprintf(k, sizeof(k), "key%d", i);
            req(0, OP_D_SET, d, -1, 2, S(k), S(k));
        }
        for (i = 0; i < 2000; i++) {
            snprintf(k, sizeof(k), "key%d", i);
            if (req(0, OP_D_GET, d, -1, 1, S(k)) != 0 || !item_is(0, 0, k))
                bad++;
        }
        is_int(bad, 0, "dict: 2000 keys all found after growth");
    }
    /* Named: another client finds it; another type may not take it. */
    d2 = open_(0, MPROC_MOBJ_DICT, "shared", NULL, 0);
    req(0, OP_D_SET, d2, -1, 2, S("k"), S("v"));
    is_int(req(1, OP_FIND, 0, -1, 1, S("shared")), 0,
           "names: another client finds a named dict");
    is_int((int)mgr_get64(items[1][0].ptr), (int)d2, "names: same object");
    is_int(req(1, OP_D_GET, d2, -1, 1, S("k")), 0, "names: shared contents");
    is_int(req(1, OP_OPEN, MPROC_MOBJ_LIST, -1, 2, S("shared"), "",
               (size_t)0),
           MPROC_EINVAL, "names: a name of another type is EINVAL");
    is_int(req(1, OP_FIND, 0, -1, 1, S("nope")), MPROC_ENOENT,
           "names: find of an unknown name is ENOENT");
    is_int(req(2, OP_D_GET, d2, -1, 1, S("k")), MPROC_EBADF,
           "refs: an object not opened by this client is EBADF");
    is_int(req(0, OP_UNLINK, 0, -1, 1, S("shared")), 0, "names: unlink");
    is_int(req(2, OP_FIND, 0, -1, 1, S("shared")), MPROC_ENOENT,
           "names: gone after unlink");
    is_int(req(1, OP_D_GET, d2, -1, 1, S("k")), 0,
           "names: an unlinked object lives while proxies hold it");
}

static void
test_list(void)
{
    uint32_t l = open_(0, MPROC_MOBJ_LIST, "", NULL, 0);

    is_int(req(0, OP_L_EXTEND, l, -1, 3, S("c"), S("a"), S("b")), 0,
           "list: extend");
    is_int(req(0, OP_L_INSERT, l, -1, 2, I(0), 8ul, S("z")), 0,
           "list: insert at 0");
    is_int(req(0, OP_L_INSERT, l, -1, 2, I(100), 8ul, S("end")), 0,
           "list: insert past the end appends (clamped)");
    is_int(req(0, OP_L_LEN, l, -1, 0), 5, "list: len");
    req(0, OP_L_GET, l, -1, 1, I(-1), 8ul);
    ok(item_is(0, 0, "end"), "list: get -1 is the last");
    is_int(req(0, OP_L_GET, l, -1, 1, I(5), 8ul), MPROC_ERANGE,
           "list: get out of range is ERANGE (IndexError)");
    is_int(req(0, OP_L_GET, l, -1, 1, I(-6), 8ul), MPROC_ERANGE,
           "list: negative out of range is ERANGE");
    is_int(req(0, OP_L_SET, l, -1, 2, I(1), 8ul, S("C")), 0, "list: set");
    is_int(req(0, OP_L_REMOVE, l, -1, 1, S("a")), 0, "list: remove");
    is_int(req(0, OP_L_REMOVE, l, -1, 1, S("a")), MPROC_ENOENT,
           "list: remove of a missing item is ENOENT (ValueError)");
    is_int(req(0, OP_L_SORT, l, -1, 0), 0, "list: sort");
    is_int(req(0, OP_L_SLICE, l, -1, 2, I(0), 8ul, I(100), 8ul), 4,
           "list: slice [0:100] clamps");
    ok(item_is(0, 0, "C") && item_is(0, 1, "b") && item_is(0, 2, "end") &&
           item_is(0, 3, "z"),
       "list: sorted by bytes");
    is_int(req(0, OP_L_REVERSE, l, -1, 0), 0, "list: reverse");
    req(0, OP_L_SLICE, l, -1, 2, I(-2), 8ul, I(4), 8ul);
    ok(nitems[0] == 2 && item_is(0, 0, "b") && item_is(0, 1, "C"),
       "list: slice [-2:4]");
    is_int(req(0, OP_L_POP, l, -1, 1, I(0), 8ul), 0, "list: pop 0");
    ok(item_is(0, 0, "z"), "list: pop gives the item");
    is_int(req(0, OP_L_SLICE, l, -1, 2, I(2), 8ul, I(1), 8ul), 0,
           "list: an empty slice");
    is_int(req(0, OP_D_SET, l, -1, 2, S("k"), S("v")), MPROC_ENOTSUP,
           "list: a dict operation is ENOTSUP");
}

static void
test_ns_array(void)
{
    uint32_t ns = open_(0, MPROC_MOBJ_NAMESPACE, "", NULL, 0), a, v;
    unsigned char p[16];
    double d;

    is_int(req(0, OP_D_SET, ns, -1, 2, S("x"), S("10")), 0, "ns: set field");
    is_int(req(0, OP_D_GET, ns, -1, 1, S("y")), MPROC_ENOENT,
           "ns: a missing field is ENOENT (AttributeError)");
    is_int(req(0, OP_D_SET, ns, -1, 2, "", (size_t)0, S("v")), MPROC_EINVAL,
           "ns: an empty field name is EINVAL");
    is_int(req(0, OP_D_KEYS, ns, -1, 0), 1, "ns: fields");
    is_int(req(0, OP_D_CLEAR, ns, -1, 0), MPROC_ENOTSUP,
           "ns: no dict-only operations");

    mgr_put64(p, MPROC_T_INT32);
    mgr_put64(p + 8, 4);
    a = open_(0, MPROC_MOBJ_ARRAY, "", p, 16);
    ok(a > 0, "array: created");
    is_int(req(0, OP_A_LEN, a, -1, 0), 4, "array: len");
    is_int(req(0, OP_A_SETI, a, -1, 2, I(2), 8ul, I(-7), 8ul), 0,
           "array: set_i64");
    req(0, OP_A_GETI, a, -1, 1, I(2), 8ul);
    is_int((int)(int64_t)mgr_get64(items[0][0].ptr), -7, "array: get_i64");
    req(0, OP_A_ADDI, a, -1, 2, I(2), 8ul, I(10), 8ul);
    is_int((int)(int64_t)mgr_get64(items[0][0].ptr), 3,
           "array: add_i64 gives the new value");
    is_int(req(0, OP_A_GETI, a, -1, 1, I(4), 8ul), MPROC_ERANGE,
           "array: index out of range is ERANGE");
    is_int(req(0, OP_A_WRITE, a, -1, 1, S("abc")), MPROC_EINVAL,
           "array: a write of the wrong size is EINVAL");
    is_int(req(0, OP_A_READ, a, -1, 0), 0, "array: read");
    is_int((int)items[0][0].len, 16, "array: read gives every byte");
    mgr_put64(p, 99);
    is_int(req(0, OP_OPEN, MPROC_MOBJ_ARRAY, -1, 2, "", (size_t)0, p,
               (size_t)16),
           MPROC_EINVAL, "array: an unknown type is EINVAL");
    mgr_put64(p, MPROC_T_DOUBLE);
    mgr_put64(p + 8, 1);
    v = open_(0, MPROC_MOBJ_ARRAY, "", p, 16);
    d = 2.5;
    {
        uint64_t bits;
        memcpy(&bits, &d, 8);
        req(0, OP_A_SET, v, -1, 2, I(0), 8ul, I((int64_t)bits), 8ul);
    }
    req(0, OP_A_GET, v, -1, 1, I(0), 8ul);
    {
        uint64_t bits = mgr_get64(items[0][0].ptr);
        memcpy(&d, &bits, 8);
    }
    ok(d == 2.5, "value: a double round trip");
}

static void
test_queue(void)
{
    uint32_t q = open_(0, MPROC_MOBJ_JOINABLE_QUEUE, "jq", I(2), 8);
    uint32_t q1;

    req(1, OP_FIND, 0, -1, 1, S("jq"));
    is_int(req(0, OP_Q_GET, q, 0, 0), MPROC_ETIMEDOUT,
           "queue: get_nowait on empty is ETIMEDOUT (Empty)");
    is_int(req(1, OP_Q_GET, q, -1, 0), 999, "queue: a get waits");
    is_int(req(0, OP_Q_PUT, q, -1, 1, S("one")), 0, "queue: put");
    ok(nready[1] > 0 && st[1] == 0 && item_is(1, 0, "one"),
       "queue: the waiting get got the item");
    is_int(req(0, OP_Q_PUT, q, -1, 1, S("two")), 0, "queue: put 2");
    is_int(req(0, OP_Q_PUT, q, -1, 1, S("three")), 0, "queue: put 3");
    is_int(req(0, OP_Q_PUT, q, 0, 1, S("four")), MPROC_ETIMEDOUT,
           "queue: put_nowait on full (maxsize 2) is ETIMEDOUT (Full)");
    is_int(req(0, OP_Q_PUT, q, -1, 1, S("four")), 999, "queue: a put waits");
    is_int(req(1, OP_Q_QSIZE, q, -1, 0), 2, "queue: qsize");
    is_int(req(1, OP_Q_GET, q, -1, 0), 0, "queue: get");
    ok(item_is(1, 0, "two"), "queue: FIFO");
    ok(st[0] == 0 && !cl[0].parked, "queue: the waiting put went in");
    req(1, OP_Q_GET, q, -1, 0);
    ok(item_is(1, 0, "three"), "queue: FIFO 2");
    req(1, OP_Q_GET, q, -1, 0);
    ok(item_is(1, 0, "four"), "queue: the waiting put's item");
    /* four items were put, none done */
    is_int(req(0, OP_Q_JOIN, q, 0, 0), MPROC_ETIMEDOUT,
           "joinable: join with unfinished items times out");
    is_int(req(0, OP_Q_JOIN, q, -1, 0), 999, "joinable: join waits");
    req(1, OP_Q_TASK_DONE, q, -1, 0);
    req(1, OP_Q_TASK_DONE, q, -1, 0);
    req(1, OP_Q_TASK_DONE, q, -1, 0);
    ok(cl[0].parked, "joinable: still waiting with one unfinished");
    is_int(req(1, OP_Q_TASK_DONE, q, -1, 0), 0, "joinable: task_done");
    ok(!cl[0].parked && st[0] == 0, "joinable: join returned");
    is_int(req(1, OP_Q_TASK_DONE, q, -1, 0), MPROC_EINVAL,
           "joinable: task_done too many times is EINVAL (ValueError)");
    q1 = open_(0, MPROC_MOBJ_QUEUE, "", NULL, 0);
    is_int(req(0, OP_Q_TASK_DONE, q1, -1, 0), MPROC_ENOTSUP,
           "queue: task_done on a plain Queue is ENOTSUP");
    /* A timed get: parked with a deadline, answered by expiry. */
    is_int(req(1, OP_Q_GET, q, 30, 0), 999, "queue: a timed get waits");
    usleep(50000);
    mproc__mgr_expire(&srv);
    ok(!cl[1].parked && st[1] == MPROC_ETIMEDOUT,
       "queue: it times out with ETIMEDOUT");
}

static void
test_locks(void)
{
    uint32_t l = open_(0, MPROC_MOBJ_LOCK, "L", NULL, 0);
    uint32_t rl = open_(0, MPROC_MOBJ_RLOCK, "R", NULL, 0), s, s1;

    req(1, OP_FIND, 0, -1, 1, S("L"));
    req(2, OP_FIND, 0, -1, 1, S("L"));
    req(1, OP_FIND, 0, -1, 1, S("R"));
    is_int(req(1, OP_K_REL, l, -1, 0), MPROC_EPERM,
           "lock: release when not held is EPERM");
    is_int(req(0, OP_K_ACQ, l, -1, 0), 0, "lock: acquire");
    is_int(req(0, OP_K_ACQ, l, 0, 0), MPROC_ETIMEDOUT,
           "lock: not recursive: its holder's try fails");
    is_int(req(1, OP_K_ACQ, l, -1, 0), 999, "lock: a second acquirer waits");
    is_int(req(2, OP_K_ACQ, l, -1, 0), 999, "lock: a third waits");
    ok(req(1, OP_K_REL, l, -1, 0) == -9999,
       "lock: a parked client's second request is refused (dropped)");
    is_int(req(3, OP_K_REL, l, -1, 0), MPROC_EBADF,
           "lock: a client without the object is EBADF");
    is_int(req(0, OP_K_REL, l, -1, 0), 0, "lock: release");
    ok(!cl[1].parked && st[1] == 0 && cl[2].parked,
       "lock: the oldest waiter got it");
    /* Client 1 drops while holding it: client 2 gets it, owner-died. */
    mproc__mgr_client_gone(&cl[1]);
    ok(!cl[2].parked && st[2] == MPROC_EOWNERDEAD,
       "lock: a dropped holder's lock goes to the next with EOWNERDEAD");
    mproc__mgr_client_init(&srv, &cl[1]);
    is_int(req(2, OP_K_REL, l, -1, 0), 0, "lock: the new holder releases");
    req(1, OP_FIND, 0, -1, 1, S("L"));
    is_int(req(1, OP_K_ACQ, l, -1, 0), 0,
           "lock: the next acquire is clean (0)");
    /* Releasing its last proxy while holding the Lock lets it go too. */
    is_int(req(1, OP_DECREF, l, -1, 0), 0, "lock: the holder drops its proxy");
    is_int(req(2, OP_K_ACQ, l, 0, 0), MPROC_EOWNERDEAD,
           "lock: the next acquirer gets it, owner-died");
    req(2, OP_K_REL, l, -1, 0);
    mproc__mgr_client_gone(&cl[1]);
    mproc__mgr_client_init(&srv, &cl[1]);
    req(1, OP_FIND, 0, -1, 1, S("R"));

    is_int(req(0, OP_K_ACQ, rl, -1, 0), 0, "rlock: acquire");
    is_int(req(0, OP_K_ACQ, rl, -1, 0), 0, "rlock: again by its holder");
    is_int(req(1, OP_K_ACQ, rl, 0, 0), MPROC_ETIMEDOUT,
           "rlock: another client cannot");
    req(0, OP_K_REL, rl, -1, 0);
    is_int(req(1, OP_K_ACQ, rl, 0, 0), MPROC_ETIMEDOUT,
           "rlock: held until released as many times");
    req(0, OP_K_REL, rl, -1, 0);
    is_int(req(1, OP_K_ACQ, rl, 0, 0), 0, "rlock: free after both");
    is_int(req(0, OP_K_REL, rl, -1, 0), MPROC_EPERM, "rlock: EPERM");
    req(1, OP_K_REL, rl, -1, 0);

    s = open_(0, MPROC_MOBJ_BOUNDED_SEMAPHORE, "S", I(2), 8);
    req(1, OP_FIND, 0, -1, 1, S("S"));
    is_int(req(0, OP_S_REL, s, -1, 0), MPROC_ERANGE,
           "bsem: release above the initial value is ERANGE");
    is_int(req(1, OP_S_ACQ, s, -1, 0), 0, "sem: acquire 1");
    is_int(req(1, OP_S_ACQ, s, -1, 0), 0, "sem: acquire 2");
    is_int(req(0, OP_S_VAL, s, -1, 0), 0, "sem: value 0");
    is_int(req(0, OP_S_ACQ, s, -1, 0), 999, "sem: waits at 0");
    mproc__mgr_client_gone(&cl[1]);
    mproc__mgr_client_init(&srv, &cl[1]);
    ok(!cl[0].parked && st[0] == MPROC_EOWNERDEAD,
       "sem: units of a dropped client come back, EOWNERDEAD");
    is_int(req(0, OP_S_ACQ, s, -1, 0), MPROC_EOWNERDEAD,
           "sem: each returned unit says so once");
    is_int(req(0, OP_S_ACQ, s, 0, 0), MPROC_ETIMEDOUT, "sem: none left");
    req(0, OP_S_REL, s, -1, 0);
    req(0, OP_S_REL, s, -1, 0);
    is_int(req(0, OP_S_VAL, s, -1, 0), 2, "sem: value back to 2");
    is_int(req(0, OP_OPEN, MPROC_MOBJ_SEMAPHORE, -1, 2, "", (size_t)0,
               I(2000000000), 8ul),
           MPROC_EINVAL, "sem: a value over 10^9 is EINVAL");
    s1 = open_(0, MPROC_MOBJ_SEMAPHORE, "", I(0), 8);
    is_int(req(0, OP_S_REL, s1, -1, 0), 0, "sem: unbounded release");
    is_int(req(0, OP_S_VAL, s1, -1, 0), 1, "sem: value 1");
}

static void
test_cond_event_barrier(void)
{
    uint32_t c = open_(0, MPROC_MOBJ_CONDITION, "C", I(0), 8), e, b;

    req(1, OP_FIND, 0, -1, 1, S("C"));
    is_int(req(1, OP_C_WAIT, c, -1, 0), MPROC_EPERM,
           "cond: wait without the lock is EPERM");
    is_int(req(1, OP_C_NOTIFY, c, -1, 1, I(1), 8ul), MPROC_EPERM,
           "cond: notify without the lock is EPERM");
    is_int(req(1, OP_K_ACQ, c, -1, 0), 0, "cond: acquire its lock");
    is_int(req(1, OP_C_WAIT, c, -1, 0), 999, "cond: wait");
    is_int(req(0, OP_K_ACQ, c, -1, 0), 0,
           "cond: the waiter released the lock");
    is_int(req(0, OP_C_NOTIFY, c, -1, 1, I(1), 8ul), 0, "cond: notify");
    ok(cl[1].parked, "cond: the notified waiter waits for the lock");
    req(0, OP_K_REL, c, -1, 0);
    ok(!cl[1].parked && st[1] == 0, "cond: wait returns 0 with the lock");
    is_int(req(1, OP_C_WAIT, c, 20, 0), 999, "cond: a timed wait");
    usleep(40000);
    mproc__mgr_expire(&srv);
    ok(!cl[1].parked && st[1] == MPROC_ETIMEDOUT,
       "cond: times out, lock taken back");
    is_int(req(0, OP_K_ACQ, c, 0, 0), MPROC_ETIMEDOUT,
           "cond: the timed-out waiter holds the lock");
    is_int(req(1, OP_C_WAIT, c, 0, 0), 999, "cond: wait(0) parks a moment");
    mproc__mgr_expire(&srv);
    ok(st[1] == MPROC_ETIMEDOUT && !cl[1].parked, "cond: wait(0) times out");
    req(1, OP_K_REL, c, -1, 0);

    e = open_(0, MPROC_MOBJ_EVENT, "E", NULL, 0);
    req(1, OP_FIND, 0, -1, 1, S("E"));
    req(2, OP_FIND, 0, -1, 1, S("E"));
    is_int(req(0, OP_E_ISSET, e, -1, 0), 0, "event: clear at first");
    is_int(req(0, OP_E_WAIT, e, 0, 0), MPROC_ETIMEDOUT, "event: wait(0)");
    req(1, OP_E_WAIT, e, -1, 0);
    req(2, OP_E_WAIT, e, -1, 0);
    is_int(req(0, OP_E_SET, e, -1, 0), 0, "event: set");
    ok(!cl[1].parked && !cl[2].parked && st[1] == 0 && st[2] == 0,
       "event: set wakes every waiter");
    is_int(req(0, OP_E_WAIT, e, 0, 0), 0, "event: wait on a set event");
    req(0, OP_E_CLEAR, e, -1, 0);
    is_int(req(0, OP_E_ISSET, e, -1, 0), 0, "event: clear");

    b = open_(0, MPROC_MOBJ_BARRIER, "B", I(3), 8);
    req(1, OP_FIND, 0, -1, 1, S("B"));
    req(2, OP_FIND, 0, -1, 1, S("B"));
    is_int(req(0, OP_B_WAIT, b, -1, 0), 999, "barrier: first waits");
    is_int(req(1, OP_B_WAIT, b, -1, 0), 999, "barrier: second waits");
    is_int(req(2, OP_B_NWAIT, b, -1, 0), 2, "barrier: n_waiting");
    is_int(req(2, OP_B_WAIT, b, -1, 0), 2, "barrier: third passes, index 2");
    ok(st[0] == 0 && st[1] == 1, "barrier: the others pass with 0 and 1");
    req(0, OP_B_WAIT, b, -1, 0);
    mproc__mgr_client_gone(&cl[0]);
    mproc__mgr_client_init(&srv, &cl[0]);
    is_int(req(1, OP_B_BROKEN, b, -1, 0), 1,
           "barrier: a dropped waiting party breaks it");
    is_int(req(1, OP_B_WAIT, b, -1, 0), MPROC_EBROKEN,
           "barrier: wait on a broken barrier is EBROKEN");
    req(1, OP_B_RESET, b, -1, 0);
    is_int(req(1, OP_B_BROKEN, b, -1, 0), 0, "barrier: reset");
    req(1, OP_B_WAIT, b, -1, 0);
    is_int(req(2, OP_B_WAIT, b, 20, 0), 999, "barrier: a timed wait");
    usleep(40000);
    mproc__mgr_expire(&srv);
    ok(st[2] == MPROC_ETIMEDOUT && st[1] == MPROC_EBROKEN,
       "barrier: a timeout breaks it for the others");
    req(1, OP_B_ABORT, b, -1, 0);
    is_int(req(1, OP_OPEN, MPROC_MOBJ_BARRIER, -1, 2, "", (size_t)0, I(0),
               8ul),
           MPROC_EINVAL, "barrier: 0 parties is EINVAL");
}

/* A custom type: a counter with a histogram of the values added. */
static int
cnt_create(void **state, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    *state = calloc(1, 16 * sizeof(int64_t));
    return *state ? 0 : MPROC_ENOMEM;
}

static int
cnt_add(void *state, const void *arg, size_t len, struct mproc_buf *out)
{
    int64_t *h = state;
    (void)out;
    if (len != 1 || ((const unsigned char *)arg)[0] >= 16) {
        mproc_buf_append(out, "bad bucket", 10);
        return MPROC_EINVAL;
    }
    h[((const unsigned char *)arg)[0]]++;
    return 0;
}

static const struct mproc_mmethod cnt_methods[] = {
    {"add", cnt_add},
    {NULL, NULL},
};
static const struct mproc_mtype cnt_type = {"counter", cnt_create, free,
                                            cnt_methods};
static const struct mproc_mtype *const types[] = {&cnt_type, NULL};

static void
test_custom(void)
{
    uint32_t x;
    int r;

    r = req(0, OP_OPEN, MPROC_MOBJ_CUSTOM, -1, 3, "", (size_t)0, "",
            (size_t)0, S("nosuch"));
    is_int(r, MPROC_ENOENT, "custom: an unknown type is ENOENT");
    req(0, OP_OPEN, MPROC_MOBJ_CUSTOM, -1, 3, "", (size_t)0, "", (size_t)0,
        S("counter"));
    x = (uint32_t)mgr_get64(items[0][0].ptr);
    is_int(req(0, OP_X_CALL, x, -1, 2, S("add"), "\x03", (size_t)1), 0,
           "custom: a method runs");
    is_int(req(0, OP_X_CALL, x, -1, 2, S("add"), "\x33", (size_t)1),
           MPROC_EINVAL, "custom: a method's error comes back");
    ok(item_is(0, 0, "bad bucket"), "custom: with its message");
    is_int(req(0, OP_X_CALL, x, -1, 2, S("nosuch"), "", (size_t)0),
           MPROC_ENOENT, "custom: an unknown method is ENOENT");
}

int
main(void)
{
    int i;
    unsigned char junk[20] = {1, 0, 200, 0};

    alarm(30);
    plan(164);
    mproc__mgr_srv_init(&srv, 1 << 20, types);
    srv.ready = ready;
    for (i = 0; i < NC; i++)
        mproc__mgr_client_init(&srv, &cl[i]);
    test_dict();
    test_list();
    test_ns_array();
    test_queue();
    test_locks();
    test_cond_event_barrier();
    test_custom();
    ok(mproc__mgr_handle(&cl[3], junk, sizeof(junk)) < 0,
       "garbage: a request whose items overrun it is refused");
    ok(mproc__mgr_handle(&cl[3], junk, 5) < 0,
       "garbage: a short request is refused");
    for (i = 0; i < NC; i++)
        mproc__mgr_client_gone(&cl[i]);
    mproc__mgr_srv_fini(&srv);
    for (i = 0; i < NC; i++) {
        int k;
        for (k = 0; k < 64; k++)
            free((void *)items[i][k].ptr);
    }
    return done_testing();
}

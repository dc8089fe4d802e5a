/* SPDX-License-Identifier: MIT */
/*
 * mproc: a Manager (Python's multiprocessing.managers): a server process
 * that owns objects any connected process may use, related or not, on
 * this machine or across a network.
 *
 * mproc_manager_start() runs a server and returns a client connected to
 * it; mproc_manager_address() and mproc_manager_authkey() tell other
 * processes how to reach it with mproc_manager_connect().  The standalone
 * `mproc manager --address ADDR --authkey-file FILE` is the same server.
 * Addresses are those of <mproc/connection.h> ("unix:PATH", "unix:@NAME",
 * "tcp:HOST:PORT"); every client proves it knows the authkey (a mutual
 * HMAC challenge) before the server reads a request.  The authkey
 * authenticates; it does not encrypt.
 *
 * Objects: a dict, a list, a Namespace, a typed Value or Array, a Queue,
 * a JoinableQueue, a Lock, an RLock, a Semaphore, a BoundedSemaphore, a
 * Condition, an Event, a Barrier, or a custom type whose methods run in
 * the server (mproc_manager_call()).  Each is created anonymously (name
 * NULL: only the creating client holds it) or under a name that any
 * client finds (the first to open a name creates it, the others attach).
 * A proxy (mproc_mobj_t) is released with mproc_mobj_free(); an anonymous
 * object ends with its last proxy, a named one when unlinked (and its
 * last proxy gone) or with the server.
 *
 * Every operation runs whole on the server, one at a time: a dict
 * update, a list sort or a Value add is atomic with respect to every
 * other client.  Blocking calls (acquire, wait, Queue get/put/join) take
 * a timeout in milliseconds (-1 for ever, 0 only tries) and wait in the
 * server without holding it up for others.
 *
 * Same-host fast path: a client connected over unix: moves its calls to
 * a shared-memory ring after the handshake (a sealed memfd the server
 * passes on the socket; nothing appears in /dev/shm), so that while the
 * client and the server both run a call costs no system call; each side
 * spins a few microseconds at most (learnt from the last calls, none on
 * one CPU or a loaded machine) before it sleeps on the socket, which
 * stays open as the liveness channel.  Semantics are the socket's: every
 * call still waits for its reply.  MPROC_MANAGER_RING=0 in the client's
 * environment keeps the socket; tcp: always does.
 *
 * Dead holders: when a client's connection drops (it closed it, exited or
 * was killed) while it holds a Lock, an RLock or Semaphore units, the
 * server takes them back and the next acquirer gets MPROC_EOWNERDEAD
 * instead of 0, holding the object, as with the Lock of <mproc/sync.h>.
 * Unlike that arena, a manager cannot tell a killed client from one that
 * left normally, so Semaphore units always come back (as the "sysv"
 * backend's SEM_UNDO does).  A dropped client waiting at a Barrier breaks
 * it for the others (MPROC_EBROKEN).
 *
 * Replies: a call that returns bytes hands back a pointer into the
 * connection's reply buffer, valid until the next call on the same
 * manager connection (any proxy of it).  A call that returns several
 * byte strings (dict keys, a list slice ...) returns their count;
 * mproc_manager_item() reads each.  The bytes have no particular
 * alignment: memcpy() them before reading a number.
 *
 * Errors: MPROC_EPIPE / MPROC_ECLOSED when the server went away (every
 * later call fails the same way), MPROC_EMSGSIZE when a request or its
 * reply exceeds the server's message limit (max_message: the connection
 * stays usable, nothing was changed); every failure leaves its message in
 * mproc_manager_errmsg().
 *
 * Threads: a connection serves one call at a time; calls from several
 * threads on one connection are serialised (a blocking call holds the
 * others back), so give each thread its own connection when they block.
 * Fork: a forked child must not use its parent's connection; it connects
 * anew.
 *
 * A NULL handle is refused, never dereferenced: MPROC_EINVAL from a call
 * that returns an error code, 0/false/NULL from one that does not, no-op
 * for the frees (the rule in <mproc/error.h>).
 */
#ifndef MPROC_MANAGER_H
#define MPROC_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "plugin.h"
#include "shared.h" /* enum mproc_type: the types of Values and Arrays */

#ifdef __cplusplus
extern "C" {
#endif

/** A connection to a manager server (opaque). */
typedef struct mproc_manager mproc_manager_t;
/** A proxy for one object of a manager (opaque). */
typedef struct mproc_mobj mproc_mobj_t;

/** Object types. */
enum mproc_mobj_type {
    MPROC_MOBJ_DICT = 1,
    MPROC_MOBJ_LIST,
    MPROC_MOBJ_NAMESPACE,
    MPROC_MOBJ_ARRAY, /**< a Value is an Array of length 1 */
    MPROC_MOBJ_QUEUE,
    MPROC_MOBJ_JOINABLE_QUEUE,
    MPROC_MOBJ_LOCK,
    MPROC_MOBJ_RLOCK,
    MPROC_MOBJ_SEMAPHORE,
    MPROC_MOBJ_BOUNDED_SEMAPHORE,
    MPROC_MOBJ_CONDITION,
    MPROC_MOBJ_EVENT,
    MPROC_MOBJ_BARRIER,
    MPROC_MOBJ_CUSTOM
};

/** A byte string argument. */
struct mproc_mbytes {
    const void *ptr;
    size_t len;
};

/* ---- custom server objects (Python's BaseManager.register) ---- */

/**
 * One method of a custom type.  `fn` runs inside the server, one call at
 * a time, with the object's state, the client's argument bytes, and an
 * output buffer (append with mproc_buf_append()).  It returns 0, or a
 * negative MPROC_E* code that the client's mproc_manager_call() returns
 * (with the output, if any, as the message).  It must not block.
 */
struct mproc_mmethod {
    const char *name;
    int (*fn)(void *state, const void *arg, size_t len,
              struct mproc_buf *out);
};

/**
 * A custom type.  `create` makes an object's state from the creating
 * client's argument bytes (return 0 or a negative code); `destroy` frees
 * it.  `methods` ends with an entry whose name is NULL.
 */
struct mproc_mtype {
    const char *name;
    int (*create)(void **state, const void *arg, size_t len);
    void (*destroy)(void *state);
    const struct mproc_mmethod *methods;
};

/**
 * A shared object that adds custom types to the standalone server
 * (`mproc manager --types FILE.so`) exports this symbol: a NULL-ended
 * array of types.
 */
#define MPROC_MANAGER_TYPES_SYMBOL "mproc_manager_types_v1"

/* ---- server and connections ---- */

/** Options of mproc_manager_start(); fill with mproc_manager_opts_init(). */
struct mproc_manager_opts {
    /** Where to listen; NULL: a private "unix:" socket in a new 0700
     *  folder under $XDG_RUNTIME_DIR (or /tmp), removed at shutdown. */
    const char *address;
    /** The authkey; NULL: 32 random bytes (see mproc_manager_authkey()). */
    const void *authkey;
    size_t authkey_len;
    /** How the server process starts: "fork" (the default and the only
     *  one that can take `types` by pointer), "spawn" or "forkserver"
     *  (both a fresh `mproc manager` program: $MPROC_BIN, else the
     *  installed mproc program, $(bindir)/mproc, which a distribution
     *  may package apart from the library).  NULL: "fork".  All behave alike: a SIGINT
     *  does not stop the server, SIGTERM does; the private folder goes
     *  with the server however its owner ends. */
    const char *start_method;
    /** Custom types the server knows (fork only), NULL-ended; NULL: none. */
    const struct mproc_mtype *const *types;
    /** Most clients connected at once (default 4096); one more is
     *  refused (MPROC_EBUSY from mproc_manager_connect()). */
    unsigned max_clients;
    /** Largest request or reply, bytes (default 64 MiB).  A larger
     *  request fails with MPROC_EMSGSIZE and changes nothing: a client
     *  that knows the limit (every client of this version learns it on
     *  connecting) refuses it before sending; otherwise the server drops
     *  its bytes and answers so.  Either way the connection, and the
     *  locks it holds, stay. */
    size_t max_message;
};

/** Fill `o` with the defaults. */
MPROC_API void mproc_manager_opts_init(struct mproc_manager_opts *o);

/**
 * Start a manager server in a new process and connect to it.  The server
 * lives until mproc_manager_shutdown(), or until this process ends (it
 * is a daemon child: killed when its parent dies; the Processes and pool
 * workers the library forks do not keep it alive, but a child of a bare
 * fork() holds its lifeline until it ends).
 * @return 0; MPROC_EINVAL (bad options); a system error (-EADDRINUSE
 *         ...: mproc_strerror() names it) when the address cannot be
 *         bound; MPROC_ENOTSUP (an unknown start method); with a message
 *         in `err`.
 */
MPROC_API int mproc_manager_start(mproc_manager_t **out,
                                  const struct mproc_manager_opts *o,
                                  mproc_err_t *err);

/**
 * Connect to a running manager at `address` with its authkey.
 * @return 0; MPROC_EAUTH (wrong authkey; within a second);
 *         MPROC_ENOENT / MPROC_ECONNREFUSED-like system errors when
 *         nothing listens there; MPROC_EBUSY (the server serves its
 *         max_clients clients already and refused this one: try again
 *         when one leaves); the message in `err`.
 */
MPROC_API int mproc_manager_connect(mproc_manager_t **out,
                                    const char *address, const void *authkey,
                                    size_t authkey_len, mproc_err_t *err);

/** The server's address (borrowed, valid until mproc_manager_free()). */
MPROC_API const char *mproc_manager_address(const mproc_manager_t *m);

/** The authkey (borrowed, as the address); its length in `*len`. */
MPROC_API const void *mproc_manager_authkey(const mproc_manager_t *m,
                                            size_t *len);

/** The server's pid (0 when not known: a manager this did not start). */
MPROC_API pid_t mproc_manager_pid(const mproc_manager_t *m);

/**
 * Stop the server: it drops every client (their calls then fail with
 * MPROC_EPIPE), removes its socket file and exits.  A manager this
 * process started is also waited for.  @return 0; MPROC_EPERM in a forked
 * child on its parent's handle (the server is the parent's; the message
 * says so).  Later calls on `m` fail with MPROC_EPIPE, saying that the
 * server was shut down.
 */
MPROC_API int mproc_manager_shutdown(mproc_manager_t *m);

/**
 * Close the connection and free the handle (NULL: nothing).  A server this
 * handle started is shut down first (not when a forked child frees its
 * copy of the handle).  Proxies of the connection must be freed before.
 */
MPROC_API void mproc_manager_free(mproc_manager_t *m);

/** The last error message of the connection. */
MPROC_API const char *mproc_manager_errmsg(const mproc_manager_t *m);

/** Byte string `i` of the last reply that returned several (borrowed). */
MPROC_API const void *mproc_manager_item(const mproc_manager_t *m, size_t i,
                                         size_t *len);

/* ---- opening objects ---- */

/**
 * Open an object of `type`: anonymous when `name` is NULL, else the one
 * of that name (created when absent).  `params` are the type's creation
 * parameters (see the typed helpers below, which fill them).
 * @return 0; MPROC_EINVAL (bad parameters, or the name is taken by an
 *         object of another type); MPROC_ENOENT (a custom type the server
 *         does not know).
 */
MPROC_API int mproc_manager_open(mproc_manager_t *m, int type,
                                 const char *name, const void *params,
                                 size_t params_len, mproc_mobj_t **out);

/** Attach to the existing object `name`. @return 0; MPROC_ENOENT. */
MPROC_API int mproc_manager_find(mproc_manager_t *m, const char *name,
                                 mproc_mobj_t **out);

/**
 * Remove `name` from the server's names: the object lives on while
 * proxies hold it.  @return 0; MPROC_ENOENT.
 */
MPROC_API int mproc_manager_unlink(mproc_manager_t *m, const char *name);

/** Release a proxy (NULL: nothing). */
MPROC_API void mproc_mobj_free(mproc_mobj_t *o);

/** The object's type (enum mproc_mobj_type); MPROC_EINVAL for NULL. */
MPROC_API int mproc_mobj_type(const mproc_mobj_t *o);

MPROC_API int mproc_manager_dict(mproc_manager_t *m, const char *name,
                                 mproc_mobj_t **out);
MPROC_API int mproc_manager_list(mproc_manager_t *m, const char *name,
                                 mproc_mobj_t **out);
MPROC_API int mproc_manager_namespace(mproc_manager_t *m, const char *name,
                                      mproc_mobj_t **out);
/** A Value: one element of `type` (enum mproc_type of <mproc/shared.h>),
 *  zero. */
MPROC_API int mproc_manager_value(mproc_manager_t *m, const char *name,
                                  int type, mproc_mobj_t **out);
/** An Array of `length` (1 to 2^24) zero elements of `type`. */
MPROC_API int mproc_manager_array(mproc_manager_t *m, const char *name,
                                  int type, size_t length,
                                  mproc_mobj_t **out);
/** A Queue (`joinable`: a JoinableQueue); maxsize 0: unbounded. */
MPROC_API int mproc_manager_queue(mproc_manager_t *m, const char *name,
                                  size_t maxsize, bool joinable,
                                  mproc_mobj_t **out);
/** A Lock, or an RLock when `recursive`. */
MPROC_API int mproc_manager_lock(mproc_manager_t *m, const char *name,
                                 bool recursive, mproc_mobj_t **out);
/** A Semaphore of `value` units (at most 10^9); `bounded`: a
 *  BoundedSemaphore. */
MPROC_API int mproc_manager_semaphore(mproc_manager_t *m, const char *name,
                                      unsigned value, bool bounded,
                                      mproc_mobj_t **out);
/** A Condition over `lock` (a Lock or RLock proxy of this manager), or
 *  over a Lock of its own when NULL. */
MPROC_API int mproc_manager_condition(mproc_manager_t *m, const char *name,
                                      mproc_mobj_t *lock,
                                      mproc_mobj_t **out);
MPROC_API int mproc_manager_event(mproc_manager_t *m, const char *name,
                                  mproc_mobj_t **out);
/** A Barrier for `parties` (1 to 65536) clients. */
MPROC_API int mproc_manager_barrier(mproc_manager_t *m, const char *name,
                                    unsigned parties, mproc_mobj_t **out);
/** An object of the custom type `type_name`, made from `arg` bytes. */
MPROC_API int mproc_manager_custom(mproc_manager_t *m, const char *name,
                                   const char *type_name, const void *arg,
                                   size_t len, mproc_mobj_t **out);

/**
 * Call `method` of a custom object with `arg` bytes; its output is in
 * `*out`, `*out_len` (borrowed; may be NULL when not wanted).
 * @return the method's status; MPROC_ENOENT for an unknown method.
 */
MPROC_API int mproc_manager_call(mproc_mobj_t *o, const char *method,
                                 const void *arg, size_t len,
                                 const void **out, size_t *out_len);

/* ---- dict (byte-string keys and values) ---- */

MPROC_API int mproc_mdict_set(mproc_mobj_t *d, const void *key, size_t klen,
                              const void *val, size_t vlen);
/** @return 0; MPROC_ENOENT (no such key: Python's KeyError). */
MPROC_API int mproc_mdict_get(mproc_mobj_t *d, const void *key, size_t klen,
                              const void **val, size_t *vlen);
/** The value of `key`, set to `dflt` first when absent. */
MPROC_API int mproc_mdict_setdefault(mproc_mobj_t *d, const void *key,
                                     size_t klen, const void *dflt,
                                     size_t dlen, const void **val,
                                     size_t *vlen);
/** @return 0; MPROC_ENOENT. */
MPROC_API int mproc_mdict_delete(mproc_mobj_t *d, const void *key,
                                 size_t klen);
/** @return 1 (present), 0, or an error. */
MPROC_API int mproc_mdict_contains(mproc_mobj_t *d, const void *key,
                                   size_t klen);
MPROC_API ssize_t mproc_mdict_len(mproc_mobj_t *d);
/** The keys in insertion order: returns their count; read each with
 *  mproc_manager_item(). */
MPROC_API ssize_t mproc_mdict_keys(mproc_mobj_t *d);
/** The (key, value) pairs: returns the pair count; item 2i is a key,
 *  2i+1 its value. */
MPROC_API ssize_t mproc_mdict_items(mproc_mobj_t *d);
/** Remove `key` and give its value.  @return 0; MPROC_ENOENT. */
MPROC_API int mproc_mdict_pop(mproc_mobj_t *d, const void *key, size_t klen,
                              const void **val, size_t *vlen);
MPROC_API int mproc_mdict_clear(mproc_mobj_t *d);
/** Set `n` pairs: kv[2i] a key, kv[2i+1] its value (all or nothing). */
MPROC_API int mproc_mdict_update(mproc_mobj_t *d,
                                 const struct mproc_mbytes *kv, size_t n);

/* ---- list ---- */
/* Indexes follow Python: negative ones count from the end.  An index out
 * of range is MPROC_ERANGE (IndexError). */

MPROC_API int mproc_mlist_append(mproc_mobj_t *l, const void *p, size_t len);
MPROC_API int mproc_mlist_extend(mproc_mobj_t *l,
                                 const struct mproc_mbytes *items, size_t n);
/** Insert before `index` (clamped to the list, as Python does). */
MPROC_API int mproc_mlist_insert(mproc_mobj_t *l, ssize_t index,
                                 const void *p, size_t len);
MPROC_API int mproc_mlist_get(mproc_mobj_t *l, ssize_t index,
                              const void **p, size_t *len);
MPROC_API int mproc_mlist_set(mproc_mobj_t *l, ssize_t index, const void *p,
                              size_t len);
MPROC_API int mproc_mlist_pop(mproc_mobj_t *l, ssize_t index,
                              const void **p, size_t *len);
/** Remove the first item equal to `p`.  @return 0; MPROC_ENOENT. */
MPROC_API int mproc_mlist_remove(mproc_mobj_t *l, const void *p, size_t len);
MPROC_API ssize_t mproc_mlist_len(mproc_mobj_t *l);
MPROC_API int mproc_mlist_reverse(mproc_mobj_t *l);
/** Sort by bytes (memcmp, then the shorter first); stable. */
MPROC_API int mproc_mlist_sort(mproc_mobj_t *l);
/** Items [start, stop) as Python's l[start:stop] (clamped): returns their
 *  count; read each with mproc_manager_item(). */
MPROC_API ssize_t mproc_mlist_slice(mproc_mobj_t *l, ssize_t start,
                                    ssize_t stop);

/* ---- Namespace (named fields of bytes) ---- */

MPROC_API int mproc_mns_set(mproc_mobj_t *ns, const char *field,
                            const void *p, size_t len);
/** @return 0; MPROC_ENOENT (AttributeError). */
MPROC_API int mproc_mns_get(mproc_mobj_t *ns, const char *field,
                            const void **p, size_t *len);
MPROC_API int mproc_mns_delete(mproc_mobj_t *ns, const char *field);
/** The field names: returns their count (mproc_manager_item()). */
MPROC_API ssize_t mproc_mns_fields(mproc_mobj_t *ns);

/* ---- Value and Array ---- */
/* Elements convert as mproc_value_get()/_set() of <mproc/shared.h> do,
 * since a manager object is the server-side twin of the in-memory one: a
 * CHAR element reads and writes as its byte, a number from 0 to 255
 * (Python's ord(a[i]); a value outside is converted as C converts it to
 * unsigned char).  A CHAR Array as a whole is a byte string (Python's
 * a.raw): mproc_marray_read() and mproc_marray_write(). */

MPROC_API ssize_t mproc_marray_len(mproc_mobj_t *a);
/** @return 0; MPROC_ERANGE (index). */
MPROC_API int mproc_marray_get(mproc_mobj_t *a, size_t i, double *out);
MPROC_API int mproc_marray_set(mproc_mobj_t *a, size_t i, double x);
MPROC_API int mproc_marray_get_i64(mproc_mobj_t *a, size_t i, int64_t *out);
MPROC_API int mproc_marray_set_i64(mproc_mobj_t *a, size_t i, int64_t x);
/** Add `delta` atomically; the new value in `*out` (may be NULL). */
MPROC_API int mproc_marray_add_i64(mproc_mobj_t *a, size_t i, int64_t delta,
                                   int64_t *out);
/** Copy the whole array's bytes out (`len` must be its byte size). */
MPROC_API int mproc_marray_read(mproc_mobj_t *a, void *buf, size_t len);
/** Replace the whole array's bytes (`len` must be its byte size). */
MPROC_API int mproc_marray_write(mproc_mobj_t *a, const void *buf,
                                 size_t len);

/* ---- Queue and JoinableQueue ---- */

/** @return 0; MPROC_ETIMEDOUT (full: Python's queue.Full). */
MPROC_API int mproc_mqueue_put(mproc_mobj_t *q, const void *p, size_t len,
                               int timeout_ms);
/** @return 0; MPROC_ETIMEDOUT (empty: queue.Empty). */
MPROC_API int mproc_mqueue_get(mproc_mobj_t *q, int timeout_ms,
                               const void **p, size_t *len);
MPROC_API ssize_t mproc_mqueue_qsize(mproc_mobj_t *q);
/** One item got is done (JoinableQueue).  @return 0; MPROC_EINVAL
 *  (called more times than items were put: Python's ValueError). */
MPROC_API int mproc_mqueue_task_done(mproc_mobj_t *q);
/** Wait until every item put is done.  @return 0; MPROC_ETIMEDOUT. */
MPROC_API int mproc_mqueue_join(mproc_mobj_t *q, int timeout_ms);

/* ---- Lock and RLock ---- */

/** @return 0; MPROC_EOWNERDEAD (acquired from a holder that dropped);
 *  MPROC_ETIMEDOUT.  A Lock acquired again by its holder waits. */
MPROC_API int mproc_mlock_acquire(mproc_mobj_t *l, int timeout_ms);
/** @return 0; MPROC_EPERM (this connection does not hold it). */
MPROC_API int mproc_mlock_release(mproc_mobj_t *l);

/* ---- Semaphore and BoundedSemaphore ---- */

/** @return 0; MPROC_EOWNERDEAD (units of a dropped client came back);
 *  MPROC_ETIMEDOUT. */
MPROC_API int mproc_msem_acquire(mproc_mobj_t *s, int timeout_ms);
/** @return 0; MPROC_ERANGE (a BoundedSemaphore above its initial value). */
MPROC_API int mproc_msem_release(mproc_mobj_t *s);
MPROC_API int mproc_msem_get_value(mproc_mobj_t *s);

/* ---- Condition ---- */

/** Acquire / release the Condition's lock (as mproc_mlock_*). */
MPROC_API int mproc_mcond_acquire(mproc_mobj_t *c, int timeout_ms);
MPROC_API int mproc_mcond_release(mproc_mobj_t *c);
/** Release the lock, wait for a notify, take the lock back.
 *  @return 0; MPROC_ETIMEDOUT; MPROC_EOWNERDEAD (the lock came back from
 *  a dropped holder); MPROC_EPERM (lock not held). */
MPROC_API int mproc_mcond_wait(mproc_mobj_t *c, int timeout_ms);
/** Wake up to `n` waiters, oldest first.  @return 0; MPROC_EPERM. */
MPROC_API int mproc_mcond_notify(mproc_mobj_t *c, int n);
MPROC_API int mproc_mcond_notify_all(mproc_mobj_t *c);

/* ---- Event ---- */

MPROC_API int mproc_mevent_set(mproc_mobj_t *e);
MPROC_API int mproc_mevent_clear(mproc_mobj_t *e);
/** @return 1 (set), 0, or an error. */
MPROC_API int mproc_mevent_is_set(mproc_mobj_t *e);
/** @return 0 (set); MPROC_ETIMEDOUT. */
MPROC_API int mproc_mevent_wait(mproc_mobj_t *e, int timeout_ms);

/* ---- Barrier ---- */

/** @return the arrival index (>= 0); MPROC_EBROKEN; MPROC_ETIMEDOUT (and
 *  the barrier is broken for the others). */
MPROC_API int mproc_mbarrier_wait(mproc_mobj_t *b, int timeout_ms);
/** Break the barrier: waiters get MPROC_EBROKEN. */
MPROC_API int mproc_mbarrier_abort(mproc_mobj_t *b);
/** Back to the empty, unbroken state (waiters get MPROC_EBROKEN). */
MPROC_API int mproc_mbarrier_reset(mproc_mobj_t *b);
/** The clients waiting now. */
MPROC_API int mproc_mbarrier_n_waiting(mproc_mobj_t *b);
/** @return 1 (broken), 0, or an error. */
MPROC_API int mproc_mbarrier_broken(mproc_mobj_t *b);

#ifdef __cplusplus
}
#endif

#endif

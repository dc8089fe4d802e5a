/* SPDX-License-Identifier: MIT */
/* The client side of a manager connection (client.c, start.c). */
#ifndef MPROC_MGR_CLIENT_H
#define MPROC_MGR_CLIENT_H

#include <pthread.h>

#include <mproc/connection.h>

#include "mgr_int.h"
#include "ring.h"

struct mproc_manager {
    mproc_conn_t *conn;
    pthread_mutex_t mu;
    char *address;
    unsigned char *key;
    size_t keylen;
    pid_t pid;         /* the server this handle started, or 0 */
    pid_t owner;       /* the process that made the handle */
    int lifeline;      /* its lifeline's write end, or -1 */
    char *rundir;      /* the private folder of an automatic address */
    unsigned char *req;
    size_t reqcap;
    unsigned char *rep;
    size_t repcap;
    mgr_bytes *items;
    size_t nitems, capitems;
    bool broken;       /* the server went away */
    char gone[200];    /* why it went away, for every later call */
    size_t max_req;    /* the server's largest request, or 0: unknown */
    struct mgr_ring *ring; /* the same-host fast path (ring.h), or NULL */
    struct mgr_spin spin;  /* how long its waits spin */
    char msg[256];
};

struct mproc_mobj {
    mproc_manager_t *m;
    uint32_t id;
    int type;
};

/* Make an empty handle (no connection).  Returns 0 or MPROC_ENOMEM. */
int mproc__mgr_handle_new(mproc_manager_t **out, const char *address,
                          const void *key, size_t keylen);
/* One request and its reply; returns the reply's status.  Items are in
 * m->items. */
int mproc__mgr_call(mproc_manager_t *m, int op, uint32_t obj, int timeout,
                    const mgr_bytes *args, size_t nargs);

/* Unless the limit is known already (the starter's, or a RING's reply),
 * ask the server for it with a PING; a server over its max_clients
 * answers MPROC_EBUSY instead.  0, or a negative code when the connection
 * is lost (refused). */
int mproc__mgr_hello(mproc_manager_t *m);

/* Over unix:, ask the server for a ring and map it; without one (tcp:,
 * MPROC_MANAGER_RING=0, an old server), calls stay on the socket.  0, or
 * a negative code when the connection broke on the way. */
int mproc__mgr_ring_setup(mproc_manager_t *m);

#endif

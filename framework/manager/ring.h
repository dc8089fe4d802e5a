/* SPDX-License-Identifier: MIT */
/*
 * The same-host fast path of a manager connection over unix:.
 *
 * After the authenticated handshake, a client asks for a ring (OP_RING);
 * the server answers, then passes a sealed memfd (SCM_RIGHTS) that both
 * map: two one-message mailboxes, request (client to server) and reply
 * (server to client).  A message larger than a mailbox goes in chunks,
 * each taken before the next is put.  The socket stays open: it is how
 * each side learns the other died (hang-up), and a 1-byte doorbell on it
 * wakes a side that went to sleep.
 *
 * Waking without a syscall while both run (a round trip then takes a
 * microsecond or two): a waiting side spins for a
 * bounded time (at most MGR_RING_SPIN_US, none on one CPU; struct
 * mgr_spin below), then announces that it sleeps (its flag), looks once
 * more, and sleeps on the socket.  The publishing side stores its mailbox flag, then reads the
 * peer's sleep flag and rings only when it is set.  Both are sequentially
 * consistent, so one of the two sees the other: no lost wake-up.
 *
 * The server trusts nothing in the mapping: it reads a length once,
 * bounds it, and copies the bytes out before parsing; the seals keep the
 * client from shrinking the file under the server's mapping.
 */
#ifndef MPROC_MGR_RING_H
#define MPROC_MGR_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define MGR_RING_CAP (64u * 1024u)
#define MGR_RING_SPIN_US 20

struct mgr_box {
    _Atomic uint32_t full; /* 1: len bytes of data are the peer's to take */
    uint32_t len;
    uint32_t more;         /* 1: a chunk; the message goes on */
    uint32_t pad[13];
};

struct mgr_ring {
    struct mgr_box req;          /* client -> server */
    struct mgr_box rep;          /* server -> client */
    _Atomic uint32_t srv_sleep;  /* the server sleeps: ring its socket */
    uint32_t pad1[15];
    _Atomic uint32_t cli_sleep;  /* the client sleeps: ring its socket */
    uint32_t pad2[15];
    unsigned char req_data[MGR_RING_CAP];
    unsigned char rep_data[MGR_RING_CAP];
};

/* A new ring in a sealed memfd: the mapping and the fd (to pass).
 * Returns 0 or a negative errno. */
int mproc__ring_create(struct mgr_ring **out, int *fd);
/* Map a ring passed by the server.  Returns 0 or a negative code. */
int mproc__ring_map(int fd, struct mgr_ring **out);
void mproc__ring_unmap(struct mgr_ring *r);

/* Pass fd on the unix socket `sock` with one byte; blocking for at most
 * timeout_ms.  Returns 0 or a negative code. */
int mproc__ring_send_fd(int sock, int fd, int timeout_ms);
/* Receive it: the fd (CLOEXEC) or a negative code. */
int mproc__ring_recv_fd(int sock, int timeout_ms);

/* Publish a mailbox flag, then ring the peer if it sleeps.  True when
 * it rang. */
bool mproc__ring_publish(_Atomic uint32_t *flag, uint32_t v,
                         _Atomic uint32_t *peer_sleep, int sock);
/* Read pending doorbells.  0, or MPROC_EPIPE when the peer is gone. */
int mproc__ring_drain(int sock);
/* Monotonic µs. */
int64_t mproc__ring_now_us(void);
/* A CPU hint inside spin loops. */
static inline void
mproc__ring_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/*
 * How long one side spins before it sleeps, learnt from the last waits:
 * a wait that the peer ended while we spun doubles the budget (up to
 * MGR_RING_SPIN_US), one that had to sleep halves it, down to none (a loaded machine, or a
 * peer that does other work between calls: spinning would only take CPU
 * from the processes that must run).  With no budget left, one wait in
 * MGR_RING_PROBE spins anyway, to find out when spinning pays again.
 * A side that had to ring its peer awake does not spin either (but in a
 * probe): the peer must first be scheduled, often on this very CPU (a
 * unix socket's wake-up is a synchronous one), and spinning would only
 * keep it from running.
 */
#define MGR_RING_PROBE 32
struct mgr_spin {
    long budget;  /* µs; -1: not yet set */
    unsigned n;   /* waits since the budget ran out */
};
/* The budget for the next wait (µs); `rang`: the peer was woken. */
long mproc__spin_budget(struct mgr_spin *s, bool rang);
/* What the wait did: ended while spinning (hit) or slept. */
void mproc__spin_learn(struct mgr_spin *s, bool hit);

/* Client: wait until *flag == want: spin for the budget (`rang`: the
 * request rang the server awake), then sleep in
 * a blocking read of sock (made blocking by mproc__ring_client()).
 * 0, or MPROC_EPIPE when the server went away first. */
int mproc__ring_wait(struct mgr_ring *r, struct mgr_spin *sp, bool rang,
                     _Atomic uint32_t *flag, uint32_t want, int sock);
/* The client's socket carries only doorbells from now: blocking reads. */
int mproc__ring_client(int sock);

#endif

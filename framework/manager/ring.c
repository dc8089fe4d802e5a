/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory ring of a manager connection over unix: (ring.h says
 * how it works): making and mapping it, passing its fd, and the two
 * halves of a wake-up, publishing and waiting.
 */
#include "config.h"

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mgr_int.h"
#include "ring.h"

int
mproc__ring_create(struct mgr_ring **out, int *fd)
{
    void *p;
    int f, r;

    *out = NULL;
    *fd = -1;
    f = memfd_create("mproc-manager", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (f < 0)
        return -errno;
    /* Sealed at its size: a client cannot shrink it under the server's
     * mapping (a SIGBUS there), nor grow it. */
    if (ftruncate(f, sizeof(struct mgr_ring)) < 0 ||
        fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        goto fail;
    p = mmap(NULL, sizeof(struct mgr_ring), PROT_READ | PROT_WRITE,
             MAP_SHARED, f, 0);
    if (p == MAP_FAILED)
        goto fail;
    *out = p;
    *fd = f;
    return 0;
fail:
    r = -errno;
    close(f);
    return r;
}

int
mproc__ring_map(int fd, struct mgr_ring **out)
{
    struct stat st;
    void *p;

    *out = NULL;
    if (fstat(fd, &st) < 0)
        return -errno;
    if ((size_t)st.st_size != sizeof(struct mgr_ring))
        return MPROC_EINVAL;
    p = mmap(NULL, sizeof(struct mgr_ring), PROT_READ | PROT_WRITE,
             MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

void
mproc__ring_unmap(struct mgr_ring *r)
{
    if (r != NULL)
        munmap(r, sizeof(*r));
}

int
mproc__ring_send_fd(int sock, int fd, int timeout_ms)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } cm;
    struct iovec iov = { .iov_base = "R", .iov_len = 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = cm.b,
                          .msg_controllen = sizeof(cm.b) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    struct pollfd pfd = { .fd = sock, .events = POLLOUT };

    memset(&cm, 0, sizeof(cm));
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    for (;;) {
        if (sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        if (MPROC__NOINTR(poll(&pfd, 1, timeout_ms)) <= 0)
            return MPROC_ETIMEDOUT;
    }
}

int
mproc__ring_recv_fd(int sock, int timeout_ms)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } cm;
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = cm.b,
                          .msg_controllen = sizeof(cm.b) };
    struct pollfd pfd = { .fd = sock, .events = POLLIN };
    struct cmsghdr *c;
    ssize_t n;
    int fd;

    for (;;) {
        n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n >= 0 || (errno != EINTR && errno != EAGAIN &&
                       errno != EWOULDBLOCK))
            break;
        if (errno == EAGAIN && MPROC__NOINTR(poll(&pfd, 1, timeout_ms)) <= 0)
            return MPROC_ETIMEDOUT;
    }
    if (n < 0)
        return -errno;
    c = CMSG_FIRSTHDR(&msg);
    if (n != 1 || c == NULL || c->cmsg_level != SOL_SOCKET ||
        c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
        return MPROC_EPIPE;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

bool
mproc__ring_publish(_Atomic uint32_t *flag, uint32_t v,
                    _Atomic uint32_t *peer_sleep, int sock)
{
    atomic_store(flag, v);
    if (atomic_load(peer_sleep) == 0)
        return false;
    /* A full socket already holds a doorbell: EAGAIN is fine. */
    (void)send(sock, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    return true;
}

int
mproc__ring_drain(int sock)
{
    char b[64];
    ssize_t n;

    /* One read takes every doorbell but in a flood; one left over only
     * costs a spurious wake-up. */
    do
        n = recv(sock, b, sizeof(b), MSG_DONTWAIT);
    while (n == (ssize_t)sizeof(b) || (n < 0 && errno == EINTR));
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
        return 0;
    return MPROC_EPIPE;
}

int
mproc__ring_client(int sock)
{
    int fl = fcntl(sock, F_GETFL);

    if (fl < 0 || fcntl(sock, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

static long
spin_max(void)
{
    static long spin = -1;

    /* On one CPU the peer cannot run while we spin. */
    if (spin < 0) {
        const char *e = getenv("MPROC_MANAGER_SPIN_US");
        spin = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? MGR_RING_SPIN_US : 0;
        if (e != NULL && *e != '\0') {
            spin = atol(e);
            spin = spin < 0 ? 0 : spin > 10000 ? 10000 : spin;
        }
    }
    return spin;
}

long
mproc__spin_budget(struct mgr_spin *s, bool rang)
{
    if (s->budget < 0)
        s->budget = spin_max();
    if (s->budget > 0 && !rang)
        return s->budget;
    return ++s->n % MGR_RING_PROBE == 0 ? spin_max() : 0;
}

void
mproc__spin_learn(struct mgr_spin *s, bool hit)
{
    if (hit) {
        /* Grows back by doubling: one lucky wait on a loaded machine
         * does not buy many long spins. */
        s->budget = s->budget * 2 + 1 < spin_max() ? s->budget * 2 + 1
                                                   : spin_max();
        s->n = 0;
    } else {
        s->budget /= 2;
    }
}

int64_t
mproc__ring_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
mproc__ring_wait(struct mgr_ring *r, struct mgr_spin *sp, bool rang,
                 _Atomic uint32_t *flag, uint32_t want, int sock)
{
    int64_t end = 0;
    long spin;
    unsigned i;
    ssize_t n;
    char b[64];

    if (atomic_load_explicit(flag, memory_order_acquire) == want)
        return 0;
    spin = mproc__spin_budget(sp, rang);
    for (i = 1; spin > 0; i++) {
        if (atomic_load_explicit(flag, memory_order_acquire) == want) {
            mproc__spin_learn(sp, true);
            return 0;
        }
        if ((i & 31) == 0) {
            int64_t t = mproc__ring_now_us();
            if (end == 0)
                end = t + spin;
            else if (t >= end)
                break;
        }
        mproc__ring_relax();
    }
    if (spin > 0)
        mproc__spin_learn(sp, false);
    for (;;) {
        atomic_store(&r->cli_sleep, 1);
        if (atomic_load(flag) == want) {
            atomic_store(&r->cli_sleep, 0);
            return 0;
        }
        /* A signal does not end the call: its reply must be read, or
         * the next call would take it for its own. */
        n = MPROC__NOINTR(recv(sock, b, sizeof(b), 0));
        atomic_store(&r->cli_sleep, 0);
        if (n <= 0) {
            /* A server gone after its last reply still delivered it. */
            return atomic_load(flag) == want ? 0 : MPROC_EPIPE;
        }
    }
}

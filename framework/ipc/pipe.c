/* SPDX-License-Identifier: MIT */
/*
 * The "pipe" backend: one pipe per direction, both ends non-blocking.
 *
 * The kernel does the hard parts: a read returns 0 once every write end is
 * closed (the writer's death included), a write without readers fails
 * with EPIPE, and the fds are pollable.  Partial writes and reads are the
 * framing layer's business (ipc.c).
 *
 * Blocking: where the kernel takes RWF_NOWAIT on pipes (and RWF_NOSIGNAL
 * for writes), both ends are left blocking and every try that must not
 * sleep says RWF_NOWAIT; a wait without a deadline is then the read or
 * write itself, one system call as with a raw pipe, instead of a failed
 * try, a poll() and a second try.  Elsewhere the ends are O_NONBLOCK and
 * every wait is a poll().  The mode is the open file description's, so
 * every holder (fork, import) applies the same rule.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ipc/chan_int.h"
#include "sync/sync_int.h"

/* Ask for this much buffering by default: fewer wake-ups for large
 * messages; an unprivileged process may get up to pipe-max-size (1 MiB). */
#define DEFAULT_CAPACITY ((size_t)256 << 10)


struct pipe_priv {
    int fd[2]; /* [0] read end (RD side), [1] write end (WR side) */
    struct mproc__spin spin[2];
};

/* Bits of the kernel's support, found once per process on a scratch pipe
 * (a probe on the channel's own pipe could take a byte of a message). */
#define NOWAIT_RD 1
#define NOWAIT_WR 2
static _Atomic int nowait_bits = -1;

static int
nowait_probe(void)
{
    int bits = atomic_load_explicit(&nowait_bits, memory_order_relaxed);
    int fd[2];
    char c = 0;
    struct iovec v = {&c, 1};

    if (bits >= 0)
        return bits;
    bits = 0;
    if (pipe2(fd, O_CLOEXEC) == 0) {
        /* Empty and blocking: a supported RWF_NOWAIT says EAGAIN at once;
         * an unknown flag is EOPNOTSUPP. */
        if (preadv2(fd[0], &v, 1, -1, RWF_NOWAIT) < 0 && errno == EAGAIN)
            bits |= NOWAIT_RD;
        if (pwritev2(fd[1], &v, 1, -1, RWF_NOWAIT | RWF_NOSIGNAL) == 1)
            bits |= NOWAIT_WR;
        close(fd[0]);
        close(fd[1]);
    }
    atomic_store_explicit(&nowait_bits, bits, memory_order_relaxed);
    return bits;
}

/* Make end `i` (0 read, 1 write) blocking where RWF_NOWAIT covers the
 * tries, else O_NONBLOCK.  0 or -errno. */
static int
set_mode(int fd, int i)
{
    int fl = fcntl(fd, F_GETFL);
    bool block = (nowait_probe() & (i == 0 ? NOWAIT_RD : NOWAIT_WR)) != 0;

    if (fl < 0)
        return -errno;
    fl = block ? fl & ~O_NONBLOCK : fl | O_NONBLOCK;
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

static struct pipe_priv *
priv(const struct mproc_chan *ch)
{
    return (struct pipe_priv *)ch->priv;
}

static int
p_open(struct mproc_chan *ch, const struct mproc__chan_opts *o,
       mproc_err_t *err)
{
    struct pipe_priv *p = priv(ch);
    size_t want = o->capacity ? o->capacity : DEFAULT_CAPACITY;
    int got;

    if (pipe2(p->fd, O_CLOEXEC | O_NONBLOCK) < 0)
        return mproc__err(err, -errno, "pipe: cannot create a pipe: %s",
                          strerror(errno));
    if ((got = set_mode(p->fd[0], 0)) < 0 ||
        (got = set_mode(p->fd[1], 1)) < 0) {
        mproc__close_fd(&p->fd[0]);
        mproc__close_fd(&p->fd[1]);
        return mproc__err(err, got, "pipe: fcntl: %s", strerror(-got));
    }
    /* Best effort: the size stays the default (64 KiB) when refused
     * (above pipe-max-size, or the user's pipe-user-pages-soft spent). */
    if (want > INT32_MAX)
        want = INT32_MAX;
    (void)fcntl(p->fd[1], F_SETPIPE_SZ, (int)want);
    got = fcntl(p->fd[1], F_GETPIPE_SZ);
    ch->lim.capacity = got > 0 ? (size_t)got : 65536;
    mproc__spin_init(&p->spin[0]);
    mproc__spin_init(&p->spin[1]);
    /* Writes up to PIPE_BUF are all or nothing. */
    ch->lim.chunk = PIPE_BUF;
    ch->lim.mq_maxmsg = 0;
    return 0;
}

static ssize_t
p_write(struct mproc_chan *ch, const struct iovec *iov, int iovcnt)
{
    ssize_t w;

    if (!(nowait_probe() & NOWAIT_WR))
        return mproc__writev_nosig(priv(ch)->fd[1], iov, iovcnt);
    w = MPROC__NOINTR(pwritev2(priv(ch)->fd[1], iov, iovcnt, -1,
                               RWF_NOWAIT | RWF_NOSIGNAL));
    return w < 0 ? -errno : w;
}

/*
 * Spin, then sleep in the system call.  A side that sleeps at once costs
 * its peer a wake-up per message while a stream flows (a reader that
 * drains the pipe sleeps after every message); a short try-and-spin
 * first, unless processes outnumber cores, avoids most of them.
 * -EINPROGRESS: the caller makes the blocking call; else what the try
 * returned.
 */
static ssize_t
try_spin(struct mproc_chan *ch, unsigned side, ssize_t tried)
{
    struct pipe_priv *p = priv(ch);
    struct pollfd f;

    if (tried != -EAGAIN)
        return tried;
    f.fd = side == MPROC__CHAN_RD ? p->fd[0] : p->fd[1];
    f.events = side == MPROC__CHAN_RD ? POLLIN : POLLOUT;
    (void)mproc__spin_poll(&p->spin[side == MPROC__CHAN_RD], &f, 1);
    return -EINPROGRESS;
}

static ssize_t
p_write_block(struct mproc_chan *ch, const struct iovec *iov, int iovcnt)
{
    ssize_t w;

    if (!(nowait_probe() & NOWAIT_WR))
        return p_write(ch, iov, iovcnt); /* O_NONBLOCK: cannot block */
    if (!mproc__cpus_crowded() &&
        (w = try_spin(ch, MPROC__CHAN_WR, p_write(ch, iov, iovcnt))) !=
            -EINPROGRESS)
        return w;
    w = pwritev2(priv(ch)->fd[1], iov, iovcnt, -1, RWF_NOSIGNAL);
    return w < 0 ? -errno : w;
}

static ssize_t
p_read(struct mproc_chan *ch, void *buf, size_t len)
{
    struct iovec v = {buf, len};
    ssize_t r;

    if (nowait_probe() & NOWAIT_RD)
        r = MPROC__NOINTR(preadv2(priv(ch)->fd[0], &v, 1, -1, RWF_NOWAIT));
    else
        r = MPROC__NOINTR(read(priv(ch)->fd[0], buf, len));
    return r < 0 ? -errno : r;
}

static ssize_t
p_read_block(struct mproc_chan *ch, void *buf, size_t len)
{
    ssize_t r;

    if (!(nowait_probe() & NOWAIT_RD))
        return p_read(ch, buf, len); /* O_NONBLOCK: cannot block */
    if (!mproc__cpus_crowded() &&
        (r = try_spin(ch, MPROC__CHAN_RD, p_read(ch, buf, len))) !=
            -EINPROGRESS)
        return r;
    r = read(priv(ch)->fd[0], buf, len);
    return r < 0 ? -errno : r;
}

static int
p_wait(struct mproc_chan *ch, unsigned side, const struct timespec *deadline)
{
    struct pollfd p;
    int r;

    p.fd = side == MPROC__CHAN_RD ? priv(ch)->fd[0] : priv(ch)->fd[1];
    p.events = side == MPROC__CHAN_RD ? POLLIN : POLLOUT;
    /* Every sleep costs the peer a wake-up (tens of microseconds here):
     * while data flows, a short spin avoids most of them. */
    if (!mproc__sync_passed(deadline) &&
        mproc__spin_poll(&priv(ch)->spin[side == MPROC__CHAN_RD], &p, 1))
        return 0;
    r = mproc__poll_wait(&p, 1, deadline, ch->flags & MPROC__CHAN_EINTR);
    if (r < 0)
        return errno == EINTR ? MPROC_EINTR : -errno;
    return r == 0 ? MPROC_ETIMEDOUT : 0;
}

static int
p_pending(struct mproc_chan *ch)
{
    int fd = priv(ch)->fd[0], n = 0;

    /* FIONREAD counts the bytes without taking them. */
    if (ioctl(fd, FIONREAD, &n) < 0)
        return -errno;
    if (n > 0)
        return 1;
    return mproc__bell_hup(fd) ? -EPIPE : 0;
}

static int
p_wait_fd(struct mproc_chan *ch)
{
    /* The pipe itself: readable with data, hung up without writers. */
    return priv(ch)->fd[0];
}

static int
p_pollfd(struct mproc_chan *ch, unsigned side, short *events)
{
    *events = side == MPROC__CHAN_RD ? POLLIN : POLLOUT;
    return side == MPROC__CHAN_RD ? priv(ch)->fd[0] : priv(ch)->fd[1];
}

static int
p_fd(const struct mproc_chan *ch, unsigned side)
{
    return side == MPROC__CHAN_RD ? priv(ch)->fd[0] : priv(ch)->fd[1];
}

static void
p_close_side(struct mproc_chan *ch, unsigned side)
{
    mproc__close_fd(&priv(ch)->fd[side == MPROC__CHAN_RD ? 0 : 1]);
}

static int
p_export(const struct mproc_chan *ch, unsigned side, int *fds, size_t *nfds,
         void *blob, size_t *len)
{
    fds[0] = p_fd(ch, side);
    *nfds = 1;
    *len = 0;
    (void)blob;
    return 0;
}

static int
p_import(struct mproc_chan *ch, unsigned side, const int *fds, size_t nfds,
         const void *blob, size_t len, mproc_err_t *err)
{
    struct pipe_priv *p = priv(ch);
    int fl;

    (void)blob;
    if (nfds != 1 || len != 0)
        return mproc__err(err, MPROC_EINVAL, "pipe: import: bad description");
    /* The fd came through exec: make sure it is what we need. */
    fl = set_mode(fds[0], side == MPROC__CHAN_RD ? 0 : 1);
    if (fl == 0 && fcntl(fds[0], F_SETFD, FD_CLOEXEC) < 0)
        fl = -errno;
    if (fl < 0)
        return mproc__err(err, fl, "pipe: import: fd %d: %s", fds[0],
                          strerror(-fl));
    p->fd[0] = p->fd[1] = -1;
    p->fd[side == MPROC__CHAN_RD ? 0 : 1] = fds[0];
    mproc__spin_init(&p->spin[0]);
    mproc__spin_init(&p->spin[1]);
    return 0;
}

const struct mproc_ipc_ops mproc__ipc_pipe_ops = {
    .name = "pipe",
    .abi = MPROC_IPC_OPS_ABI,
    .priv_size = sizeof(struct pipe_priv),
    .flags = MPROC__IPC_EOF_READ,
    .open = p_open,
    .write = p_write,
    .read = p_read,
    .wait = p_wait,
    .pollfd = p_pollfd,
    .pending = p_pending,
    .wait_fd = p_wait_fd,
    .fd = p_fd,
    .close_side = p_close_side,
    .export_side = p_export,
    .import_side = p_import,
    .read_block = p_read_block,
    .write_block = p_write_block,
};

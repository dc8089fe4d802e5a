/* SPDX-License-Identifier: MIT */
/*
 * The "mq" backend: a POSIX message queue per direction.
 *
 * Naming: the queue gets an unpredictable name, is created O_EXCL with mode
 * 0600 and unlinked at once; both sides use the one descriptor (a Linux
 * mqd_t is an fd, inherited by fork and pollable), so nothing is ever left
 * in /dev/mqueue, even after kill -9 (only a kill between mq_open and
 * mq_unlink, a few microseconds, could leave one).
 *
 * Limits: a non-root user gets at most msg_max messages of msgsize_max
 * bytes (/proc/sys/fs/mqueue, 10 and 8 KiB by default) and RLIMIT_MSGQUEUE
 * bytes over all its queues (819,200 by default: only nine queues of the
 * largest size).  So a queue is sized for its share of that budget: the
 * caller says how many it opens together (mproc__chan_opts.group), and
 * each gets at most 1/(2 * group) of the limit (1/MPROC__MQ_GROUP_DEFAULT
 * when unknown), leaving half for other runs and Queues of the same user;
 * a pool of 16 workers then takes 10 KiB queues.  When the kernel refuses
 * anyway (EMFILE, ENOMEM, EINVAL) the sizes are halved, so it works within
 * whatever is left; when even the smallest queue does not fit, the error
 * names RLIMIT_MSGQUEUE and what to do.  The framing layer sees the queue as
 * a byte stream cut into chunks of at most msgsize bytes: larger messages
 * are split and reassembled there, and a burst of small ones shares chunks.
 *
 * A queue has no notion of a closed peer, so each direction also has two
 * "liveness" pipes nobody writes to: the writer side holds the write end of
 * one and the reader side of the other.  When every holder of a side is
 * gone (closed or dead) the other side's read end hangs up, which poll()
 * reports together with the queue's own readiness.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc/chan_int.h"
#include "sync/sync_int.h"

#define MSGSIZE_CAP ((long)64 << 10)
#define MSGSIZE_MIN 256L
/* What the kernel adds per message to RLIMIT_MSGQUEUE's count (a struct
 * msg_msg and a tree node; 88 bytes on x86_64), rounded up. */
#define MSG_OVERHEAD 128L
/* A group shares at most this part of the budget (1/16): two small
 * pools of the same user must fit side by side. */
#define SHARE_MIN_PARTS 16u
/* Room a chunk keeps beyond a power of two once it had to shrink: the
 * channel's header (8 bytes) and a pool frame's (24), so that a payload
 * of a power-of-two size (a 4 KiB record) is one chunk, one mq_send,
 * instead of a full one and a second of a few bytes. */
#define MSGSIZE_SLACK 64L

struct mq_priv {
    mqd_t q;        /* -1 once both sides are closed here */
    int wlive[2];   /* WR side holds [1]; RD side polls [0] */
    int rlive[2];   /* RD side holds [1]; WR side polls [0] */
    char *scratch;  /* one chunk, gathered from an iovec */
    int epfd;       /* RD side's wait_fd: the queue and wlive[0] */
    bool wgone;     /* seen by the reader: no writer is left */
    bool rgone;     /* seen by the writer: no reader is left */
    struct mproc__spin spin[2];
};

static struct mq_priv *
priv(const struct mproc_chan *ch)
{
    return (struct mq_priv *)ch->priv;
}

static long
read_limit(const char *path, long dflt)
{
    FILE *f = fopen(path, "re");
    long v = dflt;

    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1 || v <= 0)
            v = dflt;
        fclose(f);
    }
    return v;
}

static void
release(struct mq_priv *p)
{
    if (p->q >= 0)
        mq_close(p->q);
    p->q = -1;
    mproc__close_fd(&p->wlive[0]);
    mproc__close_fd(&p->wlive[1]);
    mproc__close_fd(&p->rlive[0]);
    mproc__close_fd(&p->rlive[1]);
    mproc__close_fd(&p->epfd);
    free(p->scratch);
    p->scratch = NULL;
}

size_t
mproc__mq_cost(long maxmsg, long msgsize)
{
    return (size_t)maxmsg * (size_t)(msgsize + MSG_OVERHEAD);
}

/* The user's RLIMIT_MSGQUEUE, or NO_BUDGET when it has none (0 is a
 * limit: no queue at all, as `ulimit -q 0` says). */
#define NO_BUDGET ULLONG_MAX
static unsigned long long
budget(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_MSGQUEUE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return NO_BUDGET;
    return (unsigned long long)rl.rlim_cur;
}

/* The size of a queue of a group of `group` (0: unknown) within what
 * /proc allows, `capacity` (0: any) and its share of the budget. */
static void
size_for(unsigned group, size_t capacity, long *maxmsg, long *msgsize)
{
    unsigned long long rlim = budget(), share;
    unsigned parts = group == 0 ? MPROC__MQ_GROUP_DEFAULT : 2 * group;
    long max;

    *maxmsg = read_limit("/proc/sys/fs/mqueue/msg_max", 10);
    *msgsize = read_limit("/proc/sys/fs/mqueue/msgsize_max", 8192);
    if (*msgsize > MSGSIZE_CAP)
        *msgsize = MSGSIZE_CAP;
    if (capacity > 0 && (long)(capacity / (size_t)*maxmsg) < *msgsize)
        *msgsize = (long)(capacity / (size_t)*maxmsg);
    if (*msgsize < MSGSIZE_MIN)
        *msgsize = MSGSIZE_MIN;
    if (rlim == NO_BUDGET)
        return;
    if (parts < SHARE_MIN_PARTS)
        parts = SHARE_MIN_PARTS;
    share = rlim / parts;
    max = *msgsize; /* the slack only where the budget made it shrink */
    /* Smaller chunks first (large messages only take more of them), then
     * fewer messages. */
    while (*msgsize > MSGSIZE_MIN && mproc__mq_cost(*maxmsg, *msgsize) > share)
        *msgsize /= 2;
    if (*msgsize < MSGSIZE_MIN)
        *msgsize = MSGSIZE_MIN;
    if (*msgsize + MSGSIZE_SLACK <= max &&
        mproc__mq_cost(*maxmsg, *msgsize + MSGSIZE_SLACK) <= share)
        *msgsize += MSGSIZE_SLACK;
    while (*maxmsg > 1 && mproc__mq_cost(*maxmsg, *msgsize) > share)
        (*maxmsg)--;
}

bool
mproc__mq_fits(unsigned n, mproc_err_t *err)
{
    unsigned long long rlim = budget();
    long maxmsg, msgsize;
    size_t need;

    if (rlim == NO_BUDGET || n == 0)
        return true;
    size_for(n, 0, &maxmsg, &msgsize);
    need = (size_t)n * mproc__mq_cost(maxmsg, msgsize);
    if (need <= rlim)
        return true;
    mproc__err(err, MPROC_EMFILE,
               "ipc = mq: %u queues need %zu bytes, above the per-user "
               "RLIMIT_MSGQUEUE of %llu bytes: raise it (ulimit -q) or use "
               "the shmring backend (ipc = shmring)",
               n, need, rlim);
    return false;
}

/* Is the open-file limit what stops us?  One more descriptor tells. */
static bool
fds_spent(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        close(fd);
        return false;
    }
    return errno == EMFILE;
}

static int
m_open(struct mproc_chan *ch, const struct mproc__chan_opts *o,
       mproc_err_t *err)
{
    struct mq_priv *p = priv(ch);
    long maxmsg, msgsize;
    struct mq_attr attr = {0};
    char name[64];
    int tries = 0, r, e = 0;

    p->q = -1;
    p->wlive[0] = p->wlive[1] = p->rlive[0] = p->rlive[1] = p->epfd = -1;
    p->scratch = NULL;
    size_for(o->group, o->capacity, &maxmsg, &msgsize);
    for (;;) {
        snprintf(name, sizeof(name), "/mproc-%d-%016llx", (int)getpid(),
                 (unsigned long long)mproc__random64());
        attr.mq_maxmsg = maxmsg;
        attr.mq_msgsize = msgsize;
        p->q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC,
                       0600, &attr);
        if (p->q >= 0) {
            /* The only name this queue ever has goes at once: the one
             * descriptor serves both sides. */
            mq_unlink(name);
            break;
        }
        e = errno;
        if (e == EEXIST && ++tries < 16)
            continue;
        /* EMFILE is also the open-file limit's (RLIMIT_NOFILE): smaller
         * queues would not help, nor would `ulimit -q`. */
        if (e == EMFILE && fds_spent())
            return mproc__err(err, MPROC_EMFILE,
                              "mq: no descriptor left for a message queue: "
                              "this process has as many files open as its "
                              "limit allows (RLIMIT_NOFILE: raise it with "
                              "ulimit -n, or close some)");
        /* Too much for this user (RLIMIT_MSGQUEUE: EMFILE) or above a
         * limit (EINVAL, ENOMEM): try smaller queues. */
        if ((e == EMFILE || e == ENOMEM || e == EINVAL) &&
            (msgsize > MSGSIZE_MIN || maxmsg > 1)) {
            if (msgsize > MSGSIZE_MIN)
                msgsize /= 2;
            else
                maxmsg /= 2;
            continue;
        }
        if (e == ENOSPC)
            return mproc__err(err, MPROC_ENOSPC,
                              "mq: the system's number of queues is spent "
                              "(/proc/sys/fs/mqueue/queues_max)");
        /* The kernel says "too many open files" for this limit. */
        if (e == EMFILE && budget() != NO_BUDGET)
            return mproc__err(err, MPROC_EMFILE,
                              "mq: the per-user message queue budget "
                              "(RLIMIT_MSGQUEUE, %llu bytes) is spent, even "
                              "for a queue of %zu bytes: raise it (ulimit "
                              "-q) or use the shmring backend (ipc = "
                              "shmring)",
                              budget(), mproc__mq_cost(maxmsg, msgsize));
        if (e == EINVAL &&
            read_limit("/proc/sys/fs/mqueue/msgsize_max", 8192) <
                MSGSIZE_MIN)
            return mproc__err(err, MPROC_EINVAL,
                              "mq: the system's msgsize_max (%ld bytes, "
                              "/proc/sys/fs/mqueue/msgsize_max) is below "
                              "the %ld bytes a message needs at least: "
                              "raise it, or use another backend (ipc = "
                              "pipe or shmring)",
                              read_limit("/proc/sys/fs/mqueue/msgsize_max",
                                         8192),
                              MSGSIZE_MIN);
        return mproc__err(err, -e,
                          "mq: cannot create a message queue (%ld messages "
                          "of %ld bytes): %s",
                          maxmsg, msgsize, strerror(e));
    }
    if (mq_getattr(p->q, &attr) == 0) {
        maxmsg = attr.mq_maxmsg;
        msgsize = attr.mq_msgsize;
    }
    p->scratch = malloc((size_t)msgsize);
    if (p->scratch == NULL) {
        release(p);
        return mproc__err(err, MPROC_ENOMEM, "mq: out of memory");
    }
    if ((r = mproc__bell_open(p->wlive)) < 0 ||
        (r = mproc__bell_open(p->rlive)) < 0) {
        release(p);
        return mproc__err(err, r, "mq: cannot create a pipe: %s",
                          strerror(-r));
    }
    mproc__spin_init(&p->spin[0]);
    mproc__spin_init(&p->spin[1]);
    ch->lim.chunk = (size_t)msgsize;
    ch->lim.mq_maxmsg = maxmsg;
    ch->lim.capacity = (size_t)msgsize * (size_t)maxmsg;
    return 0;
}

static ssize_t
m_write(struct mproc_chan *ch, const struct iovec *iov, int iovcnt)
{
    struct mq_priv *p = priv(ch);
    size_t total = 0, chunk, got = 0;
    const char *src;
    int i;

    if (p->rgone)
        return -EPIPE;
    for (i = 0; i < iovcnt && total < ch->lim.chunk; i++)
        total += iov[i].iov_len;
    chunk = total < ch->lim.chunk ? total : ch->lim.chunk;
    if (iov[0].iov_len >= chunk) {
        src = iov[0].iov_base;
    } else {
        /* The first chunk of a large message: its header and the start of
         * the payload, gathered.  Later chunks come straight from the
         * payload. */
        for (i = 0; i < iovcnt && got < chunk; i++) {
            size_t t = iov[i].iov_len < chunk - got ? iov[i].iov_len
                                                     : chunk - got;
            memcpy(p->scratch + got, iov[i].iov_base, t);
            got += t;
        }
        src = p->scratch;
    }
    if (MPROC__NOINTR(mq_send(p->q, src, chunk, 0)) < 0)
        return -errno;
    return (ssize_t)chunk;
}

static ssize_t
m_read(struct mproc_chan *ch, void *buf, size_t len)
{
    struct mq_priv *p = priv(ch);
    ssize_t r = MPROC__NOINTR(mq_receive(p->q, buf, len, NULL));

    if (r >= 0)
        return r;
    if (errno == EAGAIN && p->wgone)
        return 0; /* drained, and nobody can send any more */
    return -errno;
}

static int
m_wait(struct mproc_chan *ch, unsigned side, const struct timespec *deadline)
{
    struct mq_priv *p = priv(ch);
    struct pollfd f[2];
    int r;

    f[0].fd = p->q;
    f[0].events = side == MPROC__CHAN_RD ? POLLIN : POLLOUT;
    f[1].fd = side == MPROC__CHAN_RD ? p->wlive[0] : p->rlive[0];
    f[1].events = POLLIN;
    f[0].revents = f[1].revents = 0;
    /* A short spin first: see pipe.c. */
    if (!mproc__sync_passed(deadline) &&
        mproc__spin_poll(&p->spin[side == MPROC__CHAN_RD], f, 2))
        r = 1;
    else
        r = mproc__poll_wait(f, 2, deadline, ch->flags & MPROC__CHAN_EINTR);
    if (r < 0)
        return errno == EINTR ? MPROC_EINTR : -errno;
    if (f[1].revents & (POLLHUP | POLLERR)) {
        if (side == MPROC__CHAN_RD)
            p->wgone = true;
        else
            p->rgone = true;
        return 0;
    }
    return r == 0 ? MPROC_ETIMEDOUT : 0;
}

static int
m_pending(struct mproc_chan *ch)
{
    struct mq_priv *p = priv(ch);
    struct mq_attr a;

    /* The count of queued chunks, read without taking one. */
    if (mq_getattr(p->q, &a) < 0)
        return -errno;
    if (a.mq_curmsgs > 0)
        return 1;
    if (!p->wgone && mproc__bell_hup(p->wlive[0]))
        p->wgone = true;
    return p->wgone ? -EPIPE : 0;
}

static int
m_wait_fd(struct mproc_chan *ch)
{
    struct mq_priv *p = priv(ch);
    struct epoll_event ev = {.events = EPOLLIN};
    int fd;

    if (p->epfd >= 0)
        return p->epfd;
    /* Data shows on the queue, the writers' end on a pipe: one epoll
     * descriptor, readable when either is, stands for both. */
    fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (epoll_ctl(fd, EPOLL_CTL_ADD, p->q, &ev) < 0 ||
        epoll_ctl(fd, EPOLL_CTL_ADD, p->wlive[0], &ev) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    p->epfd = fd;
    return fd;
}

static int
m_pollfd(struct mproc_chan *ch, unsigned side, short *events)
{
    *events = side == MPROC__CHAN_RD ? POLLIN : POLLOUT;
    return priv(ch)->q;
}

static int
m_fd(const struct mproc_chan *ch, unsigned side)
{
    (void)side;
    return priv(ch)->q;
}

static void
m_close_side(struct mproc_chan *ch, unsigned side)
{
    struct mq_priv *p = priv(ch);

    if (side == MPROC__CHAN_RD) {
        mproc__close_fd(&p->epfd);
        mproc__close_fd(&p->wlive[0]);
        mproc__close_fd(&p->rlive[1]);
    } else {
        mproc__close_fd(&p->wlive[1]);
        mproc__close_fd(&p->rlive[0]);
    }
    if ((ch->sides & ~side) == 0)
        release(p);
}

static int
m_export(const struct mproc_chan *ch, unsigned side, int *fds, size_t *nfds,
         void *blob, size_t *len)
{
    const struct mq_priv *p = priv(ch);

    (void)blob;
    fds[0] = p->q;
    fds[1] = side == MPROC__CHAN_RD ? p->wlive[0] : p->wlive[1];
    fds[2] = side == MPROC__CHAN_RD ? p->rlive[1] : p->rlive[0];
    *nfds = 3;
    *len = 0;
    return 0;
}

static int
m_import(struct mproc_chan *ch, unsigned side, const int *fds, size_t nfds,
         const void *blob, size_t len, mproc_err_t *err)
{
    struct mq_priv *p = priv(ch);
    struct mq_attr attr = {0}, old;
    size_t i;

    (void)blob;
    if (nfds != 3 || len != 0 || ch->lim.chunk < MSGSIZE_MIN)
        return mproc__err(err, MPROC_EINVAL, "mq: import: bad description");
    attr.mq_flags = O_NONBLOCK;
    if (mq_setattr(fds[0], &attr, &old) < 0 ||
        (size_t)old.mq_msgsize != ch->lim.chunk)
        return mproc__err(err, MPROC_EINVAL,
                          "mq: import: fd %d is not the queue described",
                          fds[0]);
    for (i = 0; i < nfds; i++)
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0)
            return mproc__err(err, -errno, "mq: import: fd %d: %s", fds[i],
                              strerror(errno));
    p->scratch = malloc(ch->lim.chunk);
    if (p->scratch == NULL)
        return mproc__err(err, MPROC_ENOMEM, "mq: out of memory");
    p->q = fds[0];
    p->wlive[0] = p->wlive[1] = p->rlive[0] = p->rlive[1] = p->epfd = -1;
    if (side == MPROC__CHAN_RD) {
        p->wlive[0] = fds[1];
        p->rlive[1] = fds[2];
    } else {
        p->wlive[1] = fds[1];
        p->rlive[0] = fds[2];
    }
    p->wgone = p->rgone = false;
    mproc__spin_init(&p->spin[0]);
    mproc__spin_init(&p->spin[1]);
    return 0;
}

const struct mproc_ipc_ops mproc__ipc_mq_ops = {
    .name = "mq",
    .abi = MPROC_IPC_OPS_ABI,
    .priv_size = sizeof(struct mq_priv),
    .flags = MPROC__IPC_CHUNKED,
    .open = m_open,
    .write = m_write,
    .read = m_read,
    .wait = m_wait,
    .pollfd = m_pollfd,
    .pending = m_pending,
    .wait_fd = m_wait_fd,
    .fd = m_fd,
    .close_side = m_close_side,
    .export_side = m_export,
    .import_side = m_import,
};

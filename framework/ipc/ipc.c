/* SPDX-License-Identifier: MIT */
/*
 * Channels: the backend table, the framing, batching and deadlines shared
 * by every backend (see chan_int.h for the contract).
 *
 * A message travels as an 8-byte header and its payload.  The writer
 * gathers small messages in an out-buffer (one write for a burst) and
 * writes large ones straight from the caller's memory; the reader reads as
 * much as the transport has into an in-buffer and hands out views of whole
 * messages.  A shared (Queue) channel reads exactly up to the end of the
 * current message, so a message never ends up half in one reader's buffer
 * and half in another's.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ipc/chan_int.h"
#include "sync/sync_int.h"

/* Read this much at a time when the transport may hold more. */
#define READ_CHUNK ((size_t)64 << 10)
/* Send messages at least this large without copying them (smaller ones
 * are cheaper to copy than to hand to the kernel in two pieces). */
#define DIRECT_SEND ((size_t)1024)
/* Receive messages at least this large straight into the caller's
 * buffer. */
#define DIRECT_RECV ((size_t)64 << 10)
/* Give back buffers that grew beyond this once they are empty. */
#define KEEP_CAP ((size_t)1 << 20)

#define HDR sizeof(struct mproc__chan_hdr)

static const struct mproc_ipc_ops *const table[] = {
    &mproc__ipc_pipe_ops,
    &mproc__ipc_mq_ops,
    &mproc__ipc_shmring_ops,
};

int
mproc__ipc_index(const char *name)
{
    size_t i;

    for (i = 0; i < MPROC__ARRAY_SIZE(table); i++)
        if (strcmp(table[i]->name, name) == 0)
            return (int)i;
    return -1;
}

const struct mproc_ipc_ops *
mproc__ipc_ops(unsigned index)
{
    return index < MPROC__ARRAY_SIZE(table) ? table[index] : NULL;
}

const char *
mproc__ipc_names(void)
{
    return "pipe, mq, shmring";
}

/* ---- small helpers ---- */

int32_t
mproc__chan_self(void)
{
    return mproc__self_tid();
}

int
mproc__chan_err(struct mproc_chan *ch, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ch->errmsg, sizeof(ch->errmsg), fmt, ap);
    va_end(ap);
    return code;
}

void
mproc__close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

uint64_t
mproc__random64(void)
{
    uint64_t v;
    struct timespec ts;

    if (getrandom(&v, sizeof(v), 0) == (ssize_t)sizeof(v))
        return v;
    /* No entropy source: still hard to guess from outside, and O_EXCL
     * makes a collision an error rather than a shared object. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)&v;
}

/* 0: not tried yet, 1: the kernel has RWF_NOSIGNAL, -1: it does not. */
static _Atomic int nosignal_flag;

ssize_t
mproc__writev_nosig(int fd, const struct iovec *iov, int n)
{
    struct mproc__sigpipe_hold hold;
    ssize_t w;
    int e;

    /* A write to a pipe without readers raises SIGPIPE, which kills a
     * program that did not ask for it.  Where the kernel can be told not
     * to, that costs nothing; else block SIGPIPE for the call (two more
     * system calls) and take back the one this write raised. */
    if (atomic_load_explicit(&nosignal_flag, memory_order_relaxed) >= 0) {
        w = MPROC__NOINTR(pwritev2(fd, iov, n, -1, RWF_NOSIGNAL));
        if (w >= 0 || (errno != EOPNOTSUPP && errno != EINVAL)) {
            atomic_store_explicit(&nosignal_flag, 1, memory_order_relaxed);
            return w < 0 ? -errno : w;
        }
        if (atomic_load_explicit(&nosignal_flag, memory_order_relaxed) == 0)
            atomic_store_explicit(&nosignal_flag, -1, memory_order_relaxed);
        else
            return -errno; /* a real EINVAL from a working kernel */
    }
    mproc__sigpipe_hold(&hold);
    w = MPROC__NOINTR(writev(fd, iov, n));
    e = errno;
    mproc__sigpipe_release(&hold);
    return w < 0 ? -e : w;
}

/* Spinning on poll(): each try is a system call, so budgets are small. */
#define SPIN_START_NS 10000L
#define SPIN_MAX_NS 20000L
#define SPIN_MIN_NS 2000L
#define SPIN_PROBE 64u

static long
spin_ncpu(void)
{
    static long n;

    if (n == 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    return n;
}

void
mproc__spin_init(struct mproc__spin *s)
{
    s->budget_ns = spin_ncpu() > 1 ? SPIN_START_NS : 0;
    s->idle = 0;
}

static long
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Look at /proc/loadavg this often (nanoseconds). */
#define CROWD_PERIOD_NS 5000000L

bool
mproc__cpus_crowded(void)
{
    static _Thread_local long last;
    static _Thread_local bool crowded;
    long t = now_ns();
    char buf[128];
    long running;
    ssize_t n;
    int fd;

    if (last != 0 && t - last < CROWD_PERIOD_NS)
        return crowded;
    last = t;
    crowded = false;
    fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* "0.50 0.40 0.30 R/T LASTPID": R counts the runnable threads, this
     * one included. */
    if (sscanf(buf, "%*s %*s %*s %ld/", &running) == 1)
        crowded = running > spin_ncpu();
    return crowded;
}

bool
mproc__spin_poll(struct mproc__spin *s, struct pollfd *p, nfds_t n)
{
    long start;

    if (mproc__cpus_crowded())
        return false;
    if (s->budget_ns == 0) {
        if (spin_ncpu() < 2 || ++s->idle < SPIN_PROBE)
            return false;
        s->idle = 0;
        s->budget_ns = SPIN_MIN_NS;
    }
    start = now_ns();
    do {
        if (poll(p, n, 0) > 0) {
            s->budget_ns = s->budget_ns * 2 > SPIN_MAX_NS ? SPIN_MAX_NS
                                                          : s->budget_ns * 2;
            return true;
        }
    } while (now_ns() - start < s->budget_ns);
    s->budget_ns /= 2;
    if (s->budget_ns < SPIN_MIN_NS)
        s->budget_ns = 0;
    return false;
}

int
mproc__bell_open(int fds[2])
{
    return pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0 ? 0 : -errno;
}

void
mproc__bell_ring(int fd)
{
    char c = 1;
    struct iovec v = {&c, 1};

    /* EAGAIN: bytes are waiting already, which wakes the reader as well;
     * EPIPE: nobody to wake. */
    (void)mproc__writev_nosig(fd, &v, 1);
}

void
mproc__bell_drain(int fd)
{
    char b[64];

    while (read(fd, b, sizeof(b)) == (ssize_t)sizeof(b))
        ;
}

bool
mproc__bell_hup(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return MPROC__NOINTR(poll(&p, 1, 0)) == 1 &&
           (p.revents & (POLLHUP | POLLERR)) != 0;
}

int
mproc__chan_futex_wait(_Atomic uint32_t *w, uint32_t val,
                       const struct timespec *deadline, bool intr)
{
    int r;

    if (intr && (r = mproc__intr_sleep()) < 0)
        return r;
    r = mproc__futex_wait(w, val, deadline);
    /* Timed out or interrupted: the caller may sleep again (woken, it
     * most likely returns: no system calls for the hold then). */
    if (intr && r != 0)
        mproc__intr_hold();
    /* A handler ran: the wait ends only when the caller is interruptible
     * and the process's handlers say so; otherwise it is a spurious
     * wake-up, and the caller looks again. */
    if (r == MPROC_EINTR && !(intr && mproc__signal_interrupts()))
        return 0;
    return r;
}

int
mproc__poll_until(struct pollfd *p, nfds_t n, const struct timespec *deadline)
{
    return mproc__poll_wait(p, n, deadline, false);
}

int
mproc__poll_wait(struct pollfd *p, nfds_t n, const struct timespec *deadline,
                 bool intr)
{
    struct timespec now, rel;
    const sigset_t *held;
    int r, e;

    for (;;) {
        if (deadline != NULL) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            rel.tv_sec = deadline->tv_sec - now.tv_sec;
            rel.tv_nsec = deadline->tv_nsec - now.tv_nsec;
            if (rel.tv_nsec < 0) {
                rel.tv_sec--;
                rel.tv_nsec += 1000000000L;
            }
            if (rel.tv_sec < 0)
                rel.tv_sec = rel.tv_nsec = 0;
        }
        /* Signals held since the last sleep come in atomically here. */
        held = intr ? mproc__intr_unhold() : NULL;
        r = ppoll(p, n, deadline != NULL ? &rel : NULL, held);
        e = errno;
        if (held != NULL)
            mproc__intr_reheld();
        else if (intr && r <= 0) /* as in mproc__chan_futex_wait */
            mproc__intr_hold();
        errno = e;
        if (r >= 0 || errno != EINTR)
            return r;
        /* poll() is never restarted by the kernel, SA_RESTART or not:
         * decide as a restartable call would. */
        if (intr && mproc__signal_interrupts()) {
            errno = EINTR;
            return -1;
        }
    }
}

void
mproc__chan_hex_encode(char *out, const void *blob, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = blob;
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * len] = '\0';
}

ssize_t
mproc__chan_hex_decode(void *blob, size_t cap, const char *hex)
{
    unsigned char *b = blob;
    size_t n = strlen(hex), i;

    if (n % 2 != 0 || n / 2 > cap)
        return -1;
    for (i = 0; i < n / 2; i++) {
        int hi = mproc__hexval(hex[2 * i]);
        int lo = mproc__hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        b[i] = (unsigned char)(hi << 4 | lo);
    }
    return (ssize_t)(n / 2);
}

/* ---- deadlines ---- */

struct dl {
    const struct timespec *ts; /* NULL: no deadline */
    struct timespec buf;
    bool now;                  /* timeout 0: look, never wait */
    bool finish;               /* a message has begun: a signal does not
                                  end this wait */
};

static void
dl_init(struct dl *d, int timeout_ms)
{
    d->now = timeout_ms == 0;
    d->finish = false;
    d->ts = NULL;
    if (timeout_ms == 0) {
        /* Any past time means "look, do not sleep": no need to read the
         * clock, which the pool's loop would do for every message. */
        d->buf.tv_sec = 0;
        d->buf.tv_nsec = 0;
        d->ts = &d->buf;
    } else if (timeout_ms > 0) {
        mproc__deadline_in(&d->buf, timeout_ms);
        d->ts = &d->buf;
    }
}

static int
intr_code(struct mproc_chan *ch)
{
    return mproc__chan_err(ch, MPROC_EINTR, "%s: interrupted by a signal",
                           ch->ops->name);
}

static int
dl_code(struct mproc_chan *ch, const struct dl *d)
{
    if (d->now)
        return MPROC_EAGAIN; /* the pool's common case: no message */
    return mproc__chan_err(ch, MPROC_ETIMEDOUT, "%s: timed out",
                           ch->ops->name);
}

/* ---- open, close ---- */

static struct mproc_chan *
chan_alloc(const struct mproc_ipc_ops *ops)
{
    struct mproc_chan *ch = calloc(1, sizeof(*ch) + ops->priv_size);

    if (ch != NULL)
        ch->ops = ops;
    return ch;
}

int
mproc__chan_open(struct mproc_chan **out, const char *backend,
                 const struct mproc__chan_opts *o, mproc_err_t *err)
{
    struct mproc__chan_opts opts = {0};
    struct mproc_chan *ch;
    int idx, r;

    *out = NULL;
    if (o != NULL)
        opts = *o;
    if (backend == NULL)
        backend = "pipe";
    idx = mproc__ipc_index(backend);
    if (idx < 0)
        return mproc__err(err, MPROC_EINVAL,
                          "ipc backend '%s' is unknown (known: %s)", backend,
                          mproc__ipc_names());
    if (opts.message_max == 0)
        opts.message_max = MPROC__CHAN_MESSAGE_MAX_DEFAULT;
    if (opts.message_max > MPROC__CHAN_MESSAGE_MAX_LIMIT)
        return mproc__err(err, MPROC_EINVAL,
                          "%s: message_max %zu is above the limit %zu",
                          backend, opts.message_max,
                          MPROC__CHAN_MESSAGE_MAX_LIMIT);
    ch = chan_alloc(table[idx]);
    if (ch == NULL)
        return mproc__err(err, MPROC_ENOMEM, "%s: out of memory", backend);
    ch->backend = (unsigned)idx;
    ch->flags = opts.flags;
    ch->lim.message_max = opts.message_max;
    r = ch->ops->open(ch, &opts, err);
    if (r < 0) {
        free(ch);
        return r;
    }
    ch->sides = MPROC__CHAN_RD | MPROC__CHAN_WR;
    *out = ch;
    return 0;
}

void
mproc__chan_close_side(struct mproc_chan *ch, unsigned side)
{
    if (ch == NULL || !(ch->sides & side))
        return;
    ch->ops->close_side(ch, side);
    ch->sides &= ~side;
    if (side == MPROC__CHAN_WR) {
        free(ch->ob);
        ch->ob = NULL;
        ch->ob_off = ch->ob_len = ch->ob_cap = 0;
    } else {
        free(ch->ib);
        ch->ib = NULL;
        ch->ib_start = ch->ib_end = ch->ib_cap = 0;
        ch->peeked = false;
    }
    if (ch->sides == 0)
        free(ch);
}

void
mproc__chan_free(struct mproc_chan *ch)
{
    if (ch == NULL)
        return;
    /* The second close frees the handle: read sides first. */
    if (ch->sides & MPROC__CHAN_RD) {
        if (ch->sides == MPROC__CHAN_RD) {
            mproc__chan_close_side(ch, MPROC__CHAN_RD);
            return;
        }
        mproc__chan_close_side(ch, MPROC__CHAN_RD);
    }
    mproc__chan_close_side(ch, MPROC__CHAN_WR);
}

void
mproc__chan_nofork(struct mproc_chan *ch)
{
    if (ch != NULL && ch->ops->nofork != NULL)
        ch->ops->nofork(ch);
}

/* ---- writing ---- */

static void
part_set(_Atomic int32_t *w, int32_t v)
{
    /* Relaxed: the word is only read to judge a dead process, after the
     * lock that protects the stream was taken over (which orders it). */
    if (w != NULL)
        atomic_store_explicit(w, v, memory_order_relaxed);
}

/*
 * Without a deadline, a backend that can sleep in its read or write system
 * call does so: one call per wait instead of a failed try, a poll() and a
 * second try (what a raw blocking read() or write() costs).  Not for
 * locked channels (lchan.c), whose test hooks and dead-peer checks need
 * every piece to be a separate step.
 */
static bool
may_block(const struct mproc_chan *ch, const struct dl *d, unsigned side)
{
    if (d->ts != NULL || ch->wpart != NULL || ch->rpart != NULL ||
        ch->abort != NULL || (ch->flags & MPROC__CHAN_SHARED))
        return false;
    return side == MPROC__CHAN_RD ? ch->ops->read_block != NULL
                                  : ch->ops->write_block != NULL;
}

/* A blocking call ended by a signal handler: stop (MPROC_EINTR) when the
 * caller asked for that and no byte of the message has moved. */
static bool
intr_stops(const struct mproc_chan *ch, bool begun)
{
    return !begun && (ch->flags & MPROC__CHAN_EINTR) &&
           mproc__signal_interrupts();
}

/* The owner knows the stream is dead, or judges it so now (ch->abort,
 * ch->abort_judge). */
static bool
stream_dead(struct mproc_chan *ch)
{
    return atomic_load_explicit(ch->abort, memory_order_acquire) != 0 ||
           (ch->abort_judge != NULL && ch->abort_judge(ch->abort_arg));
}

/*
 * Write all of iov, or until the deadline.  *done counts the bytes
 * written.  0, MPROC_EAGAIN / MPROC_ETIMEDOUT, MPROC_EPIPE or an error.
 */
static int
write_iov(struct mproc_chan *ch, struct iovec *iov, int n, const struct dl *d,
          size_t *done)
{
    bool expired = false, block = may_block(ch, d, MPROC__CHAN_WR);

    for (;;) {
        ssize_t w;
        int r;

        while (n > 0 && iov->iov_len == 0) {
            iov++;
            n--;
        }
        if (n == 0)
            return 0;
        w = block ? ch->ops->write_block(ch, iov, n)
                  : ch->ops->write(ch, iov, n);
        if (w == -EINTR) {
            if (intr_stops(ch, d->finish))
                return intr_code(ch);
            continue;
        }
        if (w > 0) {
            size_t k = (size_t)w;

            *done += k;
            while (k > 0) {
                size_t t = k < iov->iov_len ? k : iov->iov_len;
                iov->iov_base = (char *)iov->iov_base + t;
                iov->iov_len -= t;
                k -= t;
                if (iov->iov_len == 0) {
                    iov++;
                    n--;
                }
            }
            if (n > 0 && ch->wpart != NULL)
                mproc__ipc_hook("put-partial");
            continue;
        }
        if (w == -EPIPE)
            return mproc__chan_err(ch, MPROC_EPIPE,
                                   "%s: the receiving side is closed",
                                   ch->ops->name);
        if (w != -EAGAIN && w != 0)
            return mproc__chan_err(ch, (int)w, "%s: write: %s",
                                   ch->ops->name, strerror((int)-w));
        if (expired || (d->now && (ch->ops->flags & MPROC__IPC_EOF_READ)))
            return dl_code(ch, d);
        if (ch->abort != NULL && !d->now) {
            /* The owner may declare the stream dead (a receiver died in
             * the middle of a message, and nobody will read the rest):
             * look at it every few slices, with a deadline too (which
             * bounds the slices), not only without one. */
            struct timespec sl;

            mproc__sync_slice_of(&sl, d->ts, 2 * MPROC__CHAN_SLICE_MS);
            r = ch->ops->wait(ch, MPROC__CHAN_WR, &sl);
            if (r == MPROC_ETIMEDOUT && stream_dead(ch))
                return mproc__chan_err(ch, MPROC_EPIPE,
                                       "%s: the stream is broken",
                                       ch->ops->name);
            if (r == MPROC_ETIMEDOUT && !mproc__sync_passed(d->ts))
                continue;
        } else {
            r = ch->ops->wait(ch, MPROC__CHAN_WR, d->ts);
        }
        if (r == MPROC_ETIMEDOUT)
            expired = true; /* one more try: room may have come */
        else if (r == MPROC_EINTR && !d->finish)
            return intr_code(ch);
        else if (r < 0 && r != MPROC_EINTR)
            return r;
    }
}

static int
flush_(struct mproc_chan *ch, const struct dl *d)
{
    struct iovec iov;
    size_t done = 0;
    int r;

    if (ch->ob_off == ch->ob_len)
        return 0;
    iov.iov_base = ch->ob + ch->ob_off;
    iov.iov_len = ch->ob_len - ch->ob_off;
    r = write_iov(ch, &iov, 1, d, &done);
    ch->ob_off += done;
    if (ch->ob_off == ch->ob_len) {
        ch->ob_off = ch->ob_len = 0;
        if (ch->ob_cap > KEEP_CAP) {
            free(ch->ob);
            ch->ob = NULL;
            ch->ob_cap = 0;
        }
    }
    return r;
}

/*
 * Finish a message that has begun (iov, or the out-buffer when iov is
 * NULL): no timeout and no signal ends the wait, but where the owner can
 * declare the stream dead (ch->abort), look at it every few slices, so a
 * sender never waits for ever on readers that have stopped reading.
 */
static int
finish(struct mproc_chan *ch, struct iovec *iov, int n, size_t *done)
{
    for (;;) {
        struct dl d;
        int r;

        dl_init(&d, ch->abort != NULL ? 2 * MPROC__CHAN_SLICE_MS : -1);
        d.finish = true;
        r = iov != NULL ? write_iov(ch, iov, n, &d, done) : flush_(ch, &d);
        if (r != MPROC_ETIMEDOUT && r != MPROC_EAGAIN)
            return r;
        if (ch->abort != NULL && stream_dead(ch))
            return mproc__chan_err(ch, MPROC_EPIPE,
                                   "%s: the stream is broken",
                                   ch->ops->name);
    }
}

static int
ob_append(struct mproc_chan *ch, const struct mproc__chan_hdr *h,
          const void *buf, size_t len)
{
    size_t need = ch->ob_len + HDR + len;

    if (need > ch->ob_cap) {
        size_t cap = ch->ob_cap ? ch->ob_cap : 4096;
        char *p;

        /* Written bytes at the front are dropped before growing. */
        if (ch->ob_off > 0) {
            memmove(ch->ob, ch->ob + ch->ob_off, ch->ob_len - ch->ob_off);
            ch->ob_len -= ch->ob_off;
            ch->ob_off = 0;
            need = ch->ob_len + HDR + len;
        }
        while (cap < need)
            cap *= 2;
        if (cap != ch->ob_cap) {
            p = realloc(ch->ob, cap);
            if (p == NULL)
                return mproc__chan_err(ch, MPROC_ENOMEM,
                                       "%s: out of memory", ch->ops->name);
            ch->ob = p;
            ch->ob_cap = cap;
        }
    }
    memcpy(ch->ob + ch->ob_len, h, HDR);
    if (len > 0)
        memcpy(ch->ob + ch->ob_len + HDR, buf, len);
    ch->ob_len += HDR + len;
    return 0;
}

/* One 8-byte store, not two of 4: the transport copies the header with
 * one 8-byte load, which a CPU cannot serve from two smaller stores still
 * in its store buffer (a stall of a dozen cycles, a quarter of a 64-byte
 * send to shmring). */
static inline void
hdr_make(struct mproc__chan_hdr *h, uint32_t len)
{
    uint32_t check = len ^ MPROC__CHAN_HDR_MAGIC;
    uint64_t v;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = (uint64_t)len << 32 | check;
#else
    v = (uint64_t)check << 32 | len;
#endif
    _Static_assert(sizeof(*h) == sizeof(v) && offsetof(struct mproc__chan_hdr,
                                                       check) == 4,
                   "header layout");
    memcpy(h, &v, sizeof(v));
}

int
mproc__chan_send(struct mproc_chan *ch, const void *buf, size_t len,
                 unsigned flags, int timeout_ms)
{
    struct mproc__chan_hdr h;
    struct dl d;
    size_t mark, done = 0;
    int r;

    if (!(ch->sides & MPROC__CHAN_WR))
        return mproc__chan_err(ch, MPROC_ECLOSED,
                               "%s: the sending side is not open here",
                               ch->ops->name);
    if (len > ch->lim.message_max)
        return mproc__chan_err(
            ch, MPROC_EMSGSIZE,
            "%s: a message of %zu bytes exceeds message_max (%zu bytes)",
            ch->ops->name, len, ch->lim.message_max);
    hdr_make(&h, (uint32_t)len);
    if (!(flags & MPROC__CHAN_MORE) && (ch->ops->flags & MPROC__IPC_MEMCPY) &&
        ch->ob_off == ch->ob_len && HDR + len <= ch->lim.chunk) {
        /* A streaming sender's common case, in memory: nothing queued
         * before it, and one try moves all of a message that fits the
         * transport or nothing (then the full path below tries again and
         * waits).  Header and payload straight from the caller's memory. */
        struct iovec iov[2] = {{&h, HDR}, {(void *)buf, len}};

        if (ch->ops->write(ch, iov, 2) == (ssize_t)(HDR + len))
            return 0;
    }

    if ((flags & MPROC__CHAN_MORE) && !(ch->flags & MPROC__CHAN_SHARED)) {
        size_t before = ch->ob_len - ch->ob_off;

        if ((r = ob_append(ch, &h, buf, len)) < 0)
            return r;
        /* Try once per MPROC__CHAN_BATCH bytes appended: while the
         * transport is full, a try on every message would cost a system
         * call each (a failed write, or the look for a dead reader). */
        if ((ch->ob_len - ch->ob_off) / MPROC__CHAN_BATCH >
            before / MPROC__CHAN_BATCH) {
            dl_init(&d, 0);
            r = flush_(ch, &d);
            if (r < 0 && r != MPROC_EAGAIN)
                return r;
        }
        return 0;
    }

    dl_init(&d, timeout_ms);
    /* A message that may go out in several pieces: say so before the
     * first one (a death after any of them cuts the stream).  The owner
     * of the word clears it. */
    if (ch->wpart != NULL && HDR + len > ch->lim.chunk)
        part_set(ch->wpart, mproc__chan_self());
    if (ch->ob_off == ch->ob_len &&
        (len >= DIRECT_SEND || (ch->ops->flags & MPROC__IPC_MEMCPY))) {
        /* Nothing queued before it: header and payload straight from the
         * caller's memory, no copy. */
        struct iovec iov[2] = {{&h, HDR}, {(void *)buf, len}};

        r = write_iov(ch, iov, 2, &d, &done);
        if ((r == MPROC_EAGAIN || r == MPROC_ETIMEDOUT ||
             r == MPROC_EINTR) && done > 0)
            r = finish(ch, iov, 2, &done);
        return r;
    }
    if ((r = ob_append(ch, &h, buf, len)) < 0)
        return r;
    /* Where this message starts, taken after the append: growing the
     * buffer moves the unsent bytes to its front, so an offset saved
     * before it would point into the middle of this message. */
    mark = ch->ob_len - HDR - len;
    r = flush_(ch, &d);
    if (r == MPROC_EAGAIN || r == MPROC_ETIMEDOUT || r == MPROC_EINTR) {
        if (ch->ob_off <= mark) {
            /* Not a byte of it went out: take it back. */
            ch->ob_len = mark;
            if (ch->ob_off == ch->ob_len)
                ch->ob_off = ch->ob_len = 0;
            return r;
        }
        r = finish(ch, NULL, 0, NULL);
    }
    return r;
}

int
mproc__chan_flush(struct mproc_chan *ch, int timeout_ms)
{
    struct dl d;

    if (!(ch->sides & MPROC__CHAN_WR))
        return mproc__chan_err(ch, MPROC_ECLOSED,
                               "%s: the sending side is not open here",
                               ch->ops->name);
    dl_init(&d, timeout_ms);
    return flush_(ch, &d);
}

size_t
mproc__chan_unflushed(const struct mproc_chan *ch)
{
    return ch->ob_len - ch->ob_off;
}

/* ---- reading ---- */

static int
rd_closed(struct mproc_chan *ch)
{
    return mproc__chan_err(ch, MPROC_ECLOSED,
                           "%s: the receiving side is not open here",
                           ch->ops->name);
}

/* Read once, towards `need` bytes in the in-buffer from ib_start; with
 * `block`, sleep in the read until bytes come (see may_block). */
static ssize_t
fill(struct mproc_chan *ch, size_t need, bool block)
{
    size_t avail = ch->ib_end - ch->ib_start, want = need - avail, room;
    bool exact = (ch->flags & MPROC__CHAN_SHARED) != 0;
    ssize_t r;

    if (!exact && want < READ_CHUNK)
        want = READ_CHUNK;
    if ((ch->ops->flags & MPROC__IPC_CHUNKED) && want < ch->lim.chunk)
        want = ch->lim.chunk;
    if (ch->ib_cap - ch->ib_end < want) {
        if (ch->ib_start > 0) {
            memmove(ch->ib, ch->ib + ch->ib_start, avail);
            ch->ib_start = 0;
            ch->ib_end = avail;
        }
        if (ch->ib_cap - ch->ib_end < want) {
            size_t cap = ch->ib_cap ? ch->ib_cap : READ_CHUNK;
            char *p;

            while (cap - ch->ib_end < want)
                cap *= 2;
            p = realloc(ch->ib, cap);
            if (p == NULL)
                return -ENOMEM;
            ch->ib = p;
            ch->ib_cap = cap;
        }
    }
    /* A shared stream is read up to the end of this message only (mq's
     * chunks never cross a message there). */
    room = exact && !(ch->ops->flags & MPROC__IPC_CHUNKED)
               ? want
               : ch->ib_cap - ch->ib_end;
    r = block ? ch->ops->read_block(ch, ch->ib + ch->ib_end, room)
              : ch->ops->read(ch, ch->ib + ch->ib_end, room);
    if (r > 0)
        ch->ib_end += (size_t)r;
    return r;
}

/*
 * Read until the in-buffer holds a whole message (or, with header_only,
 * at least its header) at ib_start; *h gets the header.  0 or an error:
 * see mproc__chan_peek().
 */
static int
pull(struct mproc_chan *ch, const struct dl *d, bool header_only,
     struct mproc__chan_hdr *h)
{
    bool expired = false, block = may_block(ch, d, MPROC__CHAN_RD);

    for (;;) {
        size_t avail = ch->ib_end - ch->ib_start, need = HDR;
        ssize_t r;
        int w;

        if (avail >= HDR) {
            memcpy(h, ch->ib + ch->ib_start, HDR);
            if ((h->len ^ h->check) != MPROC__CHAN_HDR_MAGIC ||
                h->len > ch->lim.message_max)
                return mproc__chan_err(
                    ch, MPROC_EIO,
                    "%s: the stream is corrupt (bad header, length %u)",
                    ch->ops->name, h->len);
            need = HDR + h->len;
            if (avail >= need || header_only)
                return 0;
        }
        if (avail == 0 && ch->rpart != NULL) {
            /* About to take the first bytes of a message: say so first (a
             * death after the read cuts the stream), but only when there
             * are bytes to take, so a reader killed while it waits breaks
             * nothing. */
            r = ch->ops->pending(ch);
            if (r > 0)
                part_set(ch->rpart, mproc__chan_self());
            if (r == 0)
                r = -EAGAIN;
            else
                r = fill(ch, need, false);
            if (r <= 0 && ch->ib_end == ch->ib_start)
                part_set(ch->rpart, 0); /* nothing was taken */
        } else {
            r = fill(ch, need, block);
        }
        if (r == -EINTR) {
            if (intr_stops(ch, avail > 0))
                return intr_code(ch);
            continue;
        }
        if (r > 0) {
            if (ch->rpart != NULL && !mproc__chan_has_message(ch))
                mproc__ipc_hook("get-partial");
            continue;
        }
        if (r == 0) {
            if (avail == 0)
                return mproc__chan_err(ch, MPROC_EPIPE,
                                       "%s: end of stream: the sending side "
                                       "is closed",
                                       ch->ops->name);
            return mproc__chan_err(ch, MPROC_EPIPE,
                                   "%s: the sending side closed "
                                   "mid-message (%zu of %zu bytes came)",
                                   ch->ops->name, avail, need);
        }
        if (r == -ENOMEM)
            return mproc__chan_err(ch, MPROC_ENOMEM,
                                   "%s: out of memory for a message of %zu "
                                   "bytes",
                                   ch->ops->name, need);
        if (r != -EAGAIN)
            return mproc__chan_err(ch, (int)r, "%s: read: %s", ch->ops->name,
                                   strerror((int)-r));
        if (expired || (d->now && (ch->ops->flags & MPROC__IPC_EOF_READ)))
            return dl_code(ch, d);
        w = ch->ops->wait(ch, MPROC__CHAN_RD, d->ts);
        if (w == MPROC_ETIMEDOUT)
            expired = true; /* one more read: data or the end may be in */
        else if (w == MPROC_EINTR && avail == 0)
            return intr_code(ch);
        else if (w < 0 && w != MPROC_EINTR)
            return w;
    }
}

int
mproc__chan_peek(struct mproc_chan *ch, const void **msg, size_t *len,
                 int timeout_ms)
{
    struct mproc__chan_hdr h;
    struct dl d;
    int r;

    if (!(ch->sides & MPROC__CHAN_RD))
        return rd_closed(ch);
    dl_init(&d, timeout_ms);
    if ((r = pull(ch, &d, false, &h)) < 0)
        return r;
    ch->peeked = true;
    *msg = ch->ib + ch->ib_start + HDR;
    *len = h.len;
    return 0;
}

int
mproc__chan_peek_until(struct mproc_chan *ch, const void **msg, size_t *len,
                       const struct timespec *until)
{
    struct mproc__chan_hdr h;
    struct dl d;
    int r;

    if (!(ch->sides & MPROC__CHAN_RD))
        return rd_closed(ch);
    dl_init(&d, -1);
    if (until != NULL) {
        d.buf = *until;
        d.ts = &d.buf;
    }
    if ((r = pull(ch, &d, false, &h)) < 0)
        return r;
    ch->peeked = true;
    *msg = ch->ib + ch->ib_start + HDR;
    *len = h.len;
    return 0;
}

/*
 * A large message whose header is at ib_start goes straight into the
 * caller's buffer, saving a copy of the whole payload.  On a timeout the
 * bytes taken are put back into the in-buffer, as a peek would have left
 * them.
 */
static int
recv_direct(struct mproc_chan *ch, char *buf, const struct mproc__chan_hdr *h,
            const struct dl *d)
{
    size_t got = 0, total = h->len;
    bool expired = false, block = may_block(ch, d, MPROC__CHAN_RD);
    ssize_t r;
    int w;

    ch->ib_start += HDR;
    for (;;) {
        size_t avail = ch->ib_end - ch->ib_start, rem = total - got;
        size_t take = avail < rem ? avail : rem;

        memcpy(buf + got, ch->ib + ch->ib_start, take);
        ch->ib_start += take;
        got += take;
        if (ch->ib_start == ch->ib_end)
            ch->ib_start = ch->ib_end = 0;
        if (got == total)
            return 0;
        rem = total - got;
        /* A chunked transport's last piece may carry the next message's
         * start: that one goes through the in-buffer. */
        if ((ch->ops->flags & MPROC__IPC_CHUNKED) && rem < ch->lim.chunk) {
            r = fill(ch, rem, block);
            if (r > 0)
                continue;
        } else {
            r = block ? ch->ops->read_block(ch, buf + got, rem)
                      : ch->ops->read(ch, buf + got, rem);
            if (r > 0) {
                got += (size_t)r;
                continue;
            }
        }
        if (r == -EINTR)
            continue; /* mid-message: go on */
        if (r == 0)
            return mproc__chan_err(ch, MPROC_EPIPE,
                                   "%s: the sending side closed "
                                   "mid-message (%zu of %zu bytes came)",
                                   ch->ops->name, HDR + got, HDR + total);
        if (r == -ENOMEM)
            return mproc__chan_err(ch, MPROC_ENOMEM, "%s: out of memory",
                                   ch->ops->name);
        if (r != -EAGAIN)
            return mproc__chan_err(ch, (int)r, "%s: read: %s", ch->ops->name,
                                   strerror((int)-r));
        if (expired || (d->now && (ch->ops->flags & MPROC__IPC_EOF_READ))) {
            /* Put back: the in-buffer is empty here (all of it was taken
             * above), so it becomes header + what came. */
            if (ch->ib_cap < HDR + got) {
                char *p = realloc(ch->ib, HDR + total);
                if (p == NULL)
                    return mproc__chan_err(ch, MPROC_ENOMEM,
                                           "%s: out of memory",
                                           ch->ops->name);
                ch->ib = p;
                ch->ib_cap = HDR + total;
            }
            memcpy(ch->ib, h, HDR);
            memcpy(ch->ib + HDR, buf, got);
            ch->ib_start = 0;
            ch->ib_end = HDR + got;
            return dl_code(ch, d);
        }
        w = ch->ops->wait(ch, MPROC__CHAN_RD, d->ts);
        if (w == MPROC_ETIMEDOUT)
            expired = true;
        else if (w < 0 && w != MPROC_EINTR) /* mid-message: go on */
            return w;
    }
}

/* The in-buffer is empty: start over at its front. */
static void
consume_end(struct mproc_chan *ch)
{
    ch->ib_start = ch->ib_end = 0;
    if (ch->ib_cap > KEEP_CAP) {
        free(ch->ib);
        ch->ib = NULL;
        ch->ib_cap = 0;
    }
}

void
mproc__chan_consume(struct mproc_chan *ch)
{
    struct mproc__chan_hdr h;

    if (!ch->peeked)
        return;
    memcpy(&h, ch->ib + ch->ib_start, HDR);
    ch->ib_start += HDR + h.len;
    ch->peeked = false;
    if (ch->ib_start == ch->ib_end)
        consume_end(ch);
}

int
mproc__chan_recv(struct mproc_chan *ch, void *buf, size_t cap, size_t *len,
                 int timeout_ms)
{
    struct mproc__chan_hdr h;
    const void *p;
    struct dl d;
    size_t n;
    int r;

    if (!(ch->sides & MPROC__CHAN_RD))
        return rd_closed(ch);
    if (ch->ib_start == ch->ib_end && (ch->ops->flags & MPROC__IPC_MEMCPY) &&
        ch->ib_cap >= READ_CHUNK && ch->rpart == NULL &&
        !(ch->flags & MPROC__CHAN_SHARED)) {
        /* Nothing buffered, in memory: one try takes what is there (a
         * reader that keeps up with a stream finds a message or two each
         * time).  Nothing there, or an error: the full path below tries
         * again, waits and says. */
        ssize_t got = ch->ops->read(ch, ch->ib, ch->ib_cap);

        if (got > 0) {
            ch->ib_start = 0;
            ch->ib_end = (size_t)got;
        }
    }
    if (!ch->peeked && ch->ib_end - ch->ib_start >= HDR) {
        /* A streaming reader's common case: the next message is whole in
         * the in-buffer (one read brought many).  A bad header, or one
         * that does not fit, takes the full path, which says so. */
        memcpy(&h, ch->ib + ch->ib_start, HDR);
        n = h.len;
        if ((h.len ^ h.check) == MPROC__CHAN_HDR_MAGIC && n <= cap &&
            n <= ch->lim.message_max && ch->ib_end - ch->ib_start - HDR >= n) {
            memcpy(buf, ch->ib + ch->ib_start + HDR, n);
            *len = n;
            ch->ib_start += HDR + n;
            if (ch->ib_start == ch->ib_end)
                consume_end(ch);
            return 0;
        }
    }
    dl_init(&d, timeout_ms);
    if (!(ch->flags & MPROC__CHAN_SHARED) && !ch->peeked) {
        if ((r = pull(ch, &d, true, &h)) < 0)
            return r;
        if (h.len >= DIRECT_RECV && h.len <= cap &&
            ch->ib_end - ch->ib_start < HDR + h.len) {
            *len = h.len;
            return recv_direct(ch, buf, &h, &d);
        }
    }
    if ((r = pull(ch, &d, false, &h)) < 0)
        return r;
    ch->peeked = true;
    p = ch->ib + ch->ib_start + HDR;
    n = h.len;
    *len = n;
    if (n > cap)
        return mproc__chan_err(ch, MPROC_ERANGE,
                               "%s: a message of %zu bytes does not fit a "
                               "buffer of %zu bytes",
                               ch->ops->name, n, cap);
    if (n > 0)
        memcpy(buf, p, n);
    mproc__chan_consume(ch);
    return 0;
}

bool
mproc__chan_has_message(const struct mproc_chan *ch)
{
    struct mproc__chan_hdr h;
    size_t avail = ch->ib_end - ch->ib_start;

    if (avail < HDR)
        return false;
    memcpy(&h, ch->ib + ch->ib_start, HDR);
    return avail - HDR >= h.len;
}

bool
mproc__chan_glance(struct mproc_chan *ch)
{
    return mproc__chan_has_message(ch) || ch->ops->glance == NULL ||
           ch->ops->glance(ch);
}

int
mproc__chan_await(struct mproc_chan *ch, const struct timespec *deadline,
                  bool intr)
{
    unsigned flags = ch->flags;
    int r;

    if (mproc__chan_has_message(ch) ||
        (ch->ops->glance != NULL && ch->ops->glance(ch)))
        return 0;
    if (intr) {
        ch->flags |= MPROC__CHAN_EINTR;
        mproc__intr_begin(); /* util/signal.c */
    }
    r = ch->ops->wait(ch, MPROC__CHAN_RD, deadline);
    if (intr)
        mproc__intr_end();
    ch->flags = flags;
    return r == MPROC_ETIMEDOUT || r == MPROC_EINTR ? r : 0;
}

bool
mproc__chan_in_partial(const struct mproc_chan *ch)
{
    return ch->ib_end > ch->ib_start && !mproc__chan_has_message(ch);
}

void
mproc__chan_drop_message(struct mproc_chan *ch)
{
    ch->ib_start = ch->ib_end = 0;
    ch->peeked = false;
}

void
mproc__chan_drop_partial(struct mproc_chan *ch)
{
    if (mproc__chan_in_partial(ch)) {
        ch->ib_start = ch->ib_end = 0;
        ch->peeked = false;
    }
}

/* ---- polling ---- */

int
mproc__chan_readable(struct mproc_chan *ch, int timeout_ms)
{
    struct dl d;
    bool expired = false;
    int r;

    if (!(ch->sides & MPROC__CHAN_RD))
        return rd_closed(ch);
    dl_init(&d, timeout_ms);
    for (;;) {
        /* A whole message of this process first: one kept by an earlier
         * MPROC_ERANGE, or one a peek has read.  (Part of one is not
         * enough: the rest must be in the transport.) */
        if (mproc__chan_has_message(ch))
            return 1;
        r = ch->ops->pending(ch);
        if (r != 0)
            return r > 0 || r == -EPIPE
                       ? 1
                       : mproc__chan_err(ch, r, "%s: poll: %s",
                                         ch->ops->name, strerror(-r));
        if (expired)
            return 0;
        r = ch->ops->wait(ch, MPROC__CHAN_RD, d.ts);
        if (r == MPROC_ETIMEDOUT)
            expired = true; /* one more look */
        else if (r == MPROC_EINTR)
            return intr_code(ch);
        else if (r < 0)
            return r;
    }
}

int
mproc__chan_wait_fd(struct mproc_chan *ch)
{
    int fd;

    if (!(ch->sides & MPROC__CHAN_RD))
        return rd_closed(ch);
    fd = ch->ops->wait_fd(ch);
    if (fd < 0)
        return mproc__chan_err(ch, fd, "%s: a descriptor to wait on: %s",
                               ch->ops->name, strerror(-fd));
    return fd;
}

size_t
mproc__chan_atomic_max(const struct mproc_chan *ch)
{
    return ch->lim.chunk > HDR ? ch->lim.chunk - HDR : 0;
}

int
mproc__chan_poll_prepare(struct mproc_chan *ch, unsigned side,
                         struct pollfd *pfd)
{
    short events = 0;
    int fd;

    if (!(ch->sides & side))
        return mproc__chan_err(ch, MPROC_ECLOSED, "%s: side not open here",
                               ch->ops->name);
    if (side == MPROC__CHAN_RD && mproc__chan_has_message(ch))
        return 1;
    if (side == MPROC__CHAN_WR && ch->ob_off == ch->ob_len)
        return 1;
    fd = ch->ops->pollfd(ch, side, &events);
    if (fd == -EAGAIN)
        return 1;
    if (fd < 0)
        return mproc__chan_err(ch, fd, "%s: poll: %s", ch->ops->name,
                               strerror(-fd));
    pfd->fd = fd;
    pfd->events = events;
    pfd->revents = 0;
    return 0;
}

int
mproc__chan_fd(const struct mproc_chan *ch, unsigned side)
{
    return (ch->sides & side) ? ch->ops->fd(ch, side) : -1;
}

/* ---- export, import ---- */

#define BLOB_MAGIC 0x4d504342u /* "MPCB" */
#define BLOB_VERSION 1

struct blob {
    uint32_t magic;
    uint16_t version;
    uint8_t backend;
    uint8_t side;
    uint32_t flags;
    uint32_t nfds;
    uint64_t message_max;
    uint64_t capacity;
    uint64_t chunk;
    int64_t mq_maxmsg;
    uint32_t priv_len;
    uint32_t reserved;
};
_Static_assert(sizeof(struct blob) == 56, "blob layout");
_Static_assert(sizeof(struct blob) + 64 <= MPROC__CHAN_BLOB_MAX,
               "room for a backend's part");

int
mproc__chan_export(struct mproc_chan *ch, unsigned side, int *fds,
                   size_t *nfds, void *blob, size_t *len)
{
    struct blob b = {0};
    size_t plen = MPROC__CHAN_BLOB_MAX - sizeof(b);
    int r;

    if ((side != MPROC__CHAN_RD && side != MPROC__CHAN_WR) ||
        !(ch->sides & side))
        return mproc__chan_err(ch, MPROC_EINVAL,
                               "%s: export: the side is not open here",
                               ch->ops->name);
    if ((side == MPROC__CHAN_RD && ch->ib_end > ch->ib_start) ||
        (side == MPROC__CHAN_WR && ch->ob_len > ch->ob_off))
        return mproc__chan_err(ch, MPROC_EINVAL,
                               "%s: export: bytes are still buffered",
                               ch->ops->name);
    if (ch->ops->export_side == NULL)
        return mproc__chan_err(ch, MPROC_ENOTSUP,
                               "%s: export is not supported", ch->ops->name);
    *nfds = MPROC__CHAN_MAX_FDS;
    r = ch->ops->export_side(ch, side, fds, nfds,
                             (char *)blob + sizeof(b), &plen);
    if (r < 0)
        return mproc__chan_err(ch, r, "%s: export failed", ch->ops->name);
    b.magic = BLOB_MAGIC;
    b.version = BLOB_VERSION;
    b.backend = (uint8_t)ch->backend;
    b.side = (uint8_t)side;
    b.flags = ch->flags;
    b.nfds = (uint32_t)*nfds;
    b.message_max = ch->lim.message_max;
    b.capacity = ch->lim.capacity;
    b.chunk = ch->lim.chunk;
    b.mq_maxmsg = ch->lim.mq_maxmsg;
    b.priv_len = (uint32_t)plen;
    memcpy(blob, &b, sizeof(b));
    *len = sizeof(b) + plen;
    return 0;
}

int
mproc__chan_import(struct mproc_chan **out, const int *fds, size_t nfds,
                   const void *blob, size_t len, mproc_err_t *err)
{
    struct mproc_chan *ch;
    struct blob b;
    const struct mproc_ipc_ops *ops;
    int r;

    *out = NULL;
    if (len < sizeof(b))
        return mproc__err(err, MPROC_EINVAL, "channel import: short blob");
    memcpy(&b, blob, sizeof(b));
    ops = mproc__ipc_ops(b.backend);
    if (b.magic != BLOB_MAGIC || b.version != BLOB_VERSION || ops == NULL ||
        (b.side != MPROC__CHAN_RD && b.side != MPROC__CHAN_WR) ||
        b.nfds != nfds || sizeof(b) + b.priv_len != len ||
        b.message_max > MPROC__CHAN_MESSAGE_MAX_LIMIT ||
        ops->import_side == NULL)
        return mproc__err(err, MPROC_EINVAL,
                          "channel import: the description is invalid");
    ch = chan_alloc(ops);
    if (ch == NULL)
        return mproc__err(err, MPROC_ENOMEM, "%s: out of memory", ops->name);
    ch->backend = b.backend;
    ch->flags = b.flags;
    ch->lim.message_max = (size_t)b.message_max;
    ch->lim.capacity = (size_t)b.capacity;
    ch->lim.chunk = (size_t)b.chunk;
    ch->lim.mq_maxmsg = (long)b.mq_maxmsg;
    r = ops->import_side(ch, b.side, fds, nfds, (const char *)blob + sizeof(b),
                         b.priv_len, err);
    if (r < 0) {
        free(ch);
        return r;
    }
    ch->sides = b.side;
    *out = ch;
    return 0;
}

const struct mproc__chan_limits *
mproc__chan_limits(const struct mproc_chan *ch)
{
    return &ch->lim;
}

const char *
mproc__chan_backend(const struct mproc_chan *ch)
{
    return ch->ops->name;
}

const char *
mproc__chan_errmsg(const struct mproc_chan *ch)
{
    return ch->errmsg;
}

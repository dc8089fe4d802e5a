/* SPDX-License-Identifier: MIT */
/*
 * Listeners: accept clients and run their handshakes side by side.
 *
 * One epoll descriptor holds the listening socket, every socket in the
 * middle of its handshake, a timerfd armed for the earliest handshake
 * deadline and an eventfd that stays readable while Connections wait to
 * be handed out.  So mproc_listener_fd() (the epoll descriptor) is
 * readable exactly when accept has something to do, a slow or hostile
 * client costs the others nothing, and an event loop can accept with a
 * timeout of 0.
 */
#include "conn_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* A client refused by a handshake, for accept to report (MPROC_EAUTH),
 * one call each: several can fail while accept is busy. */
struct refusal {
    struct refusal *next;
    char msg[];
};

/* Refusals kept beyond this many are counted in the last one only. */
#define REFUSALS_MAX 64

struct mproc_listener {
    int fd;                     /* listening socket */
    int epfd;
    int tfd;                    /* handshake deadlines */
    int evfd;                   /* readable while `ready` is not empty */
    int spare;                  /* /dev/null, given up to refuse a client
                                   when out of descriptors; or -1 */
    bool closed;
    struct mproc_conn_opts o;
    unsigned char *key;
    size_t keylen;
    struct mproc__addr addr;
    pid_t owner;                /* removes the socket file */
    dev_t dev;
    ino_t ino;
    struct mproc__hs *pending;
    size_t npending;
    struct mproc_conn *ready, *ready_tail;
    struct refusal *refusals, *refusals_tail;  /* to report, in order */
    size_t nrefusals;
    char address[160];
    char errmsg[MPROC_ERRMSG_MAX];
};

static int
seterr(mproc_listener_t *l, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
seterr(mproc_listener_t *l, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    mproc__msg_vformat(l->errmsg, sizeof(l->errmsg), fmt, ap);
    va_end(ap);
    return code;
}

static int
watch(mproc_listener_t *l, int op, int fd, uint32_t events, void *ptr)
{
    struct epoll_event ev = { .events = events, .data.ptr = ptr };

    return epoll_ctl(l->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

int
mproc_listener_open(mproc_listener_t **out, const char *address,
                    const void *authkey, size_t keylen,
                    const struct mproc_conn_opts *o, mproc_err_t *err)
{
    mproc_listener_t *l = NULL;
    struct stat st;
    int rc;

    if (!out)
        return mproc__err(err, MPROC_EINVAL, "listener: no result");
    *out = NULL;
    if ((rc = mproc__hs_crypto_init(err)) < 0)
        return rc;
    l = calloc(1, sizeof(*l));
    if (!l)
        return mproc__err(err, MPROC_ENOMEM, "listener: out of memory");
    l->fd = l->epfd = l->tfd = l->evfd = -1;
    l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    mproc__conn_opts(o, &l->o);
    if ((rc = mproc__addr_parse(address, true, l->o.flags, &l->addr, err)) < 0)
        goto fail;
    if (authkey && keylen) {
        l->key = malloc(keylen);
        if (!l->key) {
            rc = mproc__err(err, MPROC_ENOMEM, "listener: out of memory");
            goto fail;
        }
        memcpy(l->key, authkey, keylen);
        l->keylen = keylen;
    }
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    l->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->epfd < 0 || l->tfd < 0 || l->evfd < 0) {
        rc = mproc__err(err, -errno, "listener %s: %s", address,
                        strerror(errno));
        goto fail;
    }
    l->fd = mproc__addr_listen(address, &l->addr, l->o.backlog, err);
    if (l->fd < 0) {
        rc = l->fd;
        goto fail;
    }
    l->owner = getpid();
    if (l->addr.family == AF_UNIX && !l->addr.abstract &&
        stat(l->addr.path, &st) == 0) {
        l->dev = st.st_dev;
        l->ino = st.st_ino;
    }
    if (l->addr.family == AF_UNIX)
        snprintf(l->address, sizeof(l->address), "%s", address);
    else if ((rc = mproc__addr_tcp_name(l->fd, l->address, sizeof(l->address),
                                        err)) < 0)
        goto fail;
    if ((rc = watch(l, EPOLL_CTL_ADD, l->fd, EPOLLIN, &l->fd)) < 0 ||
        (rc = watch(l, EPOLL_CTL_ADD, l->tfd, EPOLLIN, &l->tfd)) < 0 ||
        (rc = watch(l, EPOLL_CTL_ADD, l->evfd, EPOLLIN, &l->evfd)) < 0) {
        rc = mproc__err(err, rc, "listener %s: epoll: %s", address,
                        mproc_strerror(rc));
        goto fail;
    }
    *out = l;
    return 0;
fail:
    mproc_listener_free(l);
    return rc;
}

/* Arm the timer for the earliest handshake deadline (or disarm it). */
static void
arm_timer(mproc_listener_t *l)
{
    struct itimerspec its;
    long long first = -1, left;

    memset(&its, 0, sizeof(its));
    for (struct mproc__hs *h = l->pending; h; h = h->next)
        if (first < 0 || h->deadline < first)
            first = h->deadline;
    if (first >= 0) {
        left = first - mproc__now_ms();
        if (left < 1)
            left = 1;
        its.it_value.tv_sec = left / 1000;
        its.it_value.tv_nsec = (left % 1000) * 1000000;
    }
    (void)timerfd_settime(l->tfd, 0, &its, NULL);
}

static void
drop(mproc_listener_t *l, struct mproc__hs *hs)
{
    struct mproc__hs **pp;

    for (pp = &l->pending; *pp; pp = &(*pp)->next)
        if (*pp == hs) {
            *pp = hs->next;
            break;
        }
    l->npending--;
    /* The epoll set is shared with a forked child: only the owner edits
     * it (a child freeing its copy must not unregister our sockets). */
    if (l->owner == getpid())
        (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, hs->fd, NULL);
    if (hs->fd >= 0)
        close(hs->fd);
    mproc__hs_wipe(hs);
    free(hs);
}

static void
push_ready(mproc_listener_t *l, mproc_conn_t *c)
{
    uint64_t one = 1;

    c->next = NULL;
    if (l->ready_tail)
        l->ready_tail->next = c;
    else
        l->ready = c;
    l->ready_tail = c;
    (void)!write(l->evfd, &one, sizeof(one));
}

/* Keep the listener's message (a refusal just set) for accept. */
static void
push_refusal(mproc_listener_t *l)
{
    size_t n = strlen(l->errmsg) + 1;
    struct refusal *r;
    uint64_t one = 1;

    if (l->nrefusals >= REFUSALS_MAX)
        return; /* a flood: the ones kept say enough */
    r = malloc(sizeof(*r) + n);
    if (!r)
        return;
    memcpy(r->msg, l->errmsg, n);
    r->next = NULL;
    if (l->refusals_tail)
        l->refusals_tail->next = r;
    else
        l->refusals = r;
    l->refusals_tail = r;
    l->nrefusals++;
    (void)!write(l->evfd, &one, sizeof(one));
}

/* The eventfd stays readable while something waits to be handed out. */
static void
settle_evfd(mproc_listener_t *l)
{
    uint64_t v;

    if (!l->ready && !l->refusals)
        (void)!read(l->evfd, &v, sizeof(v));
}

/* The oldest refusal into errmsg: MPROC_EAUTH, or 0 when none. */
static int
pop_refusal(mproc_listener_t *l)
{
    struct refusal *r = l->refusals;

    if (!r)
        return 0;
    l->refusals = r->next;
    if (!l->refusals)
        l->refusals_tail = NULL;
    l->nrefusals--;
    snprintf(l->errmsg, sizeof(l->errmsg), "%s", r->msg);
    free(r);
    settle_evfd(l);
    return MPROC_EAUTH;
}

static mproc_conn_t *
pop_ready(mproc_listener_t *l)
{
    mproc_conn_t *c = l->ready;

    if (!c)
        return NULL;
    l->ready = c->next;
    if (!l->ready)
        l->ready_tail = NULL;
    settle_evfd(l);
    c->next = NULL;
    return c;
}

/*
 * One step of a handshake.  0 (a refusal is queued for accept) or
 * MPROC_ENOMEM.  A client that hangs up before the end of its handshake
 * failed it too: accept says so (MPROC_EAUTH, naming it) at once, rather
 * than waiting until its own timeout as if nobody had come.  Except one
 * that hung up without sending a byte: a port scan, or another process's
 * look at whether the address is in use (mproc_listener_open connects and
 * closes), is no client, and is dropped without a word.
 */
static int
advance(mproc_listener_t *l, struct mproc__hs *hs)
{
    mproc_conn_t *c;
    int rc = mproc__hs_step(hs);

    if (rc == 0)
        return 0;
    if (rc == 1) {
        if (mproc__conn_wrap(hs->fd, &l->o, &c) < 0) {
            rc = seterr(l, MPROC_ENOMEM, "listener %s: out of memory for "
                        "%s", l->address, hs->peer);
        } else {
            (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, hs->fd, NULL);
            hs->fd = -1;
            push_ready(l, c);
            rc = 0;
        }
    } else {
        if (rc == MPROC_EAUTH || hs->heard) {
            seterr(l, MPROC_EAUTH, "listener %s: %s", l->address, hs->why);
            push_refusal(l);
        }
        rc = 0;
    }
    drop(l, hs);
    return rc;
}

/*
 * MPROC__CONN_PENDING_MAX handshakes at once: the oldest goes to make
 * room.  Not accepting instead (as before) let a flood of connections
 * that say nothing keep every real client waiting in the backlog until
 * their deadlines (1,500 from another local user delayed the owner's
 * clients 3 s; 3,000 made them time out); now a flood only evicts
 * itself, and a real client, which answers the hello at once, is done
 * long before 1,024 newer ones arrive.
 */
static void
evict_oldest(mproc_listener_t *l)
{
    struct mproc__hs *h = l->pending, *oldest = NULL;

    for (; h; h = h->next) /* newest first: the last is the oldest */
        oldest = h;
    if (oldest == NULL)
        return;
    seterr(l, MPROC_EAUTH, "listener %s: %s dropped before the end of its "
           "handshake: %zu others were under way", l->address, oldest->peer,
           l->npending);
    push_refusal(l);
    drop(l, oldest);
}

/* Take the clients waiting in the backlog and send each our hello. */
static int
take_new(mproc_listener_t *l)
{
    for (int i = 0; i < 64; i++) {
        struct mproc__hs *hs;
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        int rc;

        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                errno == ECONNABORTED)
                return 0;
            /* Out of descriptors (RLIMIT_NOFILE below 1,024 handshakes):
             * make room as at MPROC__CONN_PENDING_MAX, or a flood of
             * silent connections keeps real clients in the backlog and
             * the caller's loop spins on a listening socket that stays
             * readable. */
            if ((errno == EMFILE || errno == ENFILE) && l->pending) {
                evict_oldest(l);
                continue;
            }
            /* Nothing to drop (the descriptors are the clients'): refuse
             * the one waiting, with the spare descriptor given up for a
             * moment, or the listening socket stays readable and the
             * caller's loop spins while the client waits. */
            if ((errno == EMFILE || errno == ENFILE) && l->spare >= 0) {
                int e = errno;
                close(l->spare);
                fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                    close(fd);
                l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                    return seterr(l, -e, "listener %s: accept: %s",
                                  l->address, strerror(e));
                seterr(l, MPROC_EAUTH, "listener %s: a client refused: out "
                       "of descriptors (%s; raise the limit, ulimit -n)",
                       l->address, strerror(e));
                push_refusal(l);
                continue;
            }
            return seterr(l, -errno, "listener %s: accept: %s", l->address,
                          strerror(errno));
        }
        hs = malloc(sizeof(*hs));
        if (!hs) {
            close(fd);
            return seterr(l, MPROC_ENOMEM, "listener %s: out of memory",
                          l->address);
        }
        rc = mproc__hs_start(hs, fd, true, l->key, l->keylen,
                             mproc__now_ms() + l->o.handshake_timeout_ms);
        if (rc < 0) {
            /* Gone before our hello.  A failed handshake (as in
             * advance()) if it sent something first; else a probe. */
            char c;
            if (MPROC__NOINTR(recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT)) > 0) {
                seterr(l, MPROC_EAUTH, "listener %s: %s", l->address,
                       hs->why);
                push_refusal(l);
            }
        }
        if (rc < 0 ||
            watch(l, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP, hs) < 0) {
            close(fd);
            mproc__hs_wipe(hs);
            free(hs);
            continue;
        }
        if (l->npending >= MPROC__CONN_PENDING_MAX)
            evict_oldest(l);
        hs->next = l->pending;
        l->pending = hs;
        l->npending++;
    }
    return 0;
}

/* Drop the handshakes past their deadline, as refusals. */
static void
expire(mproc_listener_t *l)
{
    long long now = mproc__now_ms();
    struct mproc__hs *h, *next;
    uint64_t v;

    (void)!read(l->tfd, &v, sizeof(v));
    for (h = l->pending; h; h = next) {
        next = h->next;
        if (h->deadline > now)
            continue;
        seterr(l, MPROC_EAUTH, "listener %s: %s did not finish the "
               "handshake within %d ms", l->address, h->peer,
               l->o.handshake_timeout_ms);
        push_refusal(l);
        drop(l, h);
    }
}

int
mproc_listener_accept(mproc_listener_t *l, int timeout_ms, mproc_conn_t **out)
{
    long long deadline = mproc__conn_deadline(timeout_ms);
    struct epoll_event ev[64];
    int rc = 0;

    if (!l || !out)
        return MPROC_EINVAL;
    *out = NULL;
    if (l->closed)
        return seterr(l, MPROC_ECLOSED, "listener: closed");
    for (;;) {
        long long left;
        bool timer = false;
        int n, wait;

        if ((*out = pop_ready(l)))
            return 0;
        if (rc < 0)
            break;
        if ((rc = pop_refusal(l)) < 0)
            break;
        left = deadline < 0 ? -1 : deadline - mproc__now_ms();
        if (deadline >= 0 && left < 0)
            left = 0;
        wait = left > INT32_MAX ? INT32_MAX : (int)left;
        n = epoll_wait(l->epfd, ev, (int)MPROC__ARRAY_SIZE(ev), wait);
        if (n < 0) {
            if (errno == EINTR && !mproc__signal_interrupts())
                continue;
            rc = seterr(l, -errno, "listener %s: %s", l->address,
                        errno == EINTR ? "interrupted" : strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            int r = 0;

            if (p == &l->fd)
                r = take_new(l);
            else if (p == &l->tfd)
                timer = true;
            else if (p != &l->evfd)
                r = advance(l, p);
            /* Keep the first failure; the others still make progress. */
            if (r < 0 && rc == 0)
                rc = r;
        }
        /* Last: it frees handshakes that later events of the batch name. */
        if (timer)
            expire(l);
        arm_timer(l);
        if (rc < 0)
            continue; /* hand out a ready Connection first, if any */
        if (n == 0 && deadline >= 0 && mproc__now_ms() >= deadline) {
            rc = seterr(l, MPROC_ETIMEDOUT, "listener %s: no client in time",
                        l->address);
            break;
        }
    }
    return rc;
}

const char *
mproc_listener_address(const mproc_listener_t *l)
{
    return l ? l->address : NULL;
}

int
mproc_listener_fd(const mproc_listener_t *l)
{
    if (!l)
        return MPROC_EINVAL;
    return l->closed ? MPROC_ECLOSED : l->epfd;
}

int
mproc_listener_close(mproc_listener_t *l)
{
    struct stat st;
    mproc_conn_t *c;

    if (!l)
        return MPROC_EINVAL;
    if (l->closed)
        return MPROC_ECLOSED;
    l->closed = true;
    while (l->pending)
        drop(l, l->pending);
    while ((c = pop_ready(l)))
        mproc_conn_free(c);
    while (pop_refusal(l))
        ;
    /* Remove the file only if it is still ours: a forked child closing
     * its copy, or a new Listener that took the path, keep it. */
    if (l->fd >= 0 && l->addr.family == AF_UNIX && !l->addr.abstract &&
        l->owner == getpid() && lstat(l->addr.path, &st) == 0 &&
        st.st_dev == l->dev && st.st_ino == l->ino)
        unlink(l->addr.path);
    if (l->fd >= 0)
        close(l->fd);
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->tfd >= 0)
        close(l->tfd);
    if (l->evfd >= 0)
        close(l->evfd);
    if (l->spare >= 0)
        close(l->spare);
    l->fd = l->epfd = l->tfd = l->evfd = l->spare = -1;
    return 0;
}

void
mproc_listener_free(mproc_listener_t *l)
{
    if (!l)
        return;
    if (!l->closed)
        mproc_listener_close(l);
    if (l->key) {
        sodium_memzero(l->key, l->keylen);
        free(l->key);
    }
    free(l);
}

const char *
mproc_listener_errmsg(const mproc_listener_t *l)
{
    return l ? l->errmsg : "listener: none";
}

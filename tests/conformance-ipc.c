/* SPDX-License-Identifier: MIT */
/*
 * The ipc conformance suite: the same tests for every backend, named on the
 * command line (tests/ipc-BACKEND.sh runs it once per backend).
 *
 * It covers the channel layer the pool uses (framing, batching, poll(),
 * export to an exec'd image) and the user objects built on it, Pipe and
 * Queue.  Each test forks the processes it needs; children report through
 * their exit status.  After every test no child is left and no new
 * /dev/mqueue or /dev/shm entry of ours exists.
 *
 * Re-run as `conformance-ipc --echo FD... HEX HEX` it is the helper of the
 * export test: an exec'd image that imports two channel sides.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "ipc/chan_int.h"
#include "tap.h"

static const char *backend;
static char self_path[4096];

/* ---- helpers ---- */

/* CONFORMANCE_ONLY=test_x,test_y runs only those (for debugging). */
static bool
want(const char *name)
{
    const char *only = getenv("CONFORMANCE_ONLY");

    return only == NULL || strstr(only, name) != NULL;
}

static long
ms_since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 +
           (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void
now(struct timespec *t)
{
    clock_gettime(CLOCK_MONOTONIC, t);
}

static int
wait_exit(pid_t pid)
{
    int st = 0;

    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Bytes that depend on the position and a seed. */
static void
fill(unsigned char *b, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    size_t i;

    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char)x;
    }
}

static bool
check(const unsigned char *b, size_t n, unsigned seed)
{
    unsigned char *want = malloc(n ? n : 1);
    bool same;

    fill(want, n, seed);
    same = memcmp(b, want, n) == 0;
    free(want);
    return same;
}

/* The names in a folder, one per line (empty if it cannot be read). */
static char *
listing(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t len = 0, cap = 256;
    char *s = calloc(1, cap);

    if (d == NULL)
        return s;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.')
            continue;
        while (len + n + 2 > cap)
            s = realloc(s, cap *= 2);
        memcpy(s + len, e->d_name, n);
        len += n;
        s[len++] = '\n';
        s[len] = '\0';
    }
    closedir(d);
    return s;
}

/* Entries of `after` that are not in `before` and look like ours. */
static int
new_entries(const char *dir, const char *before, const char *after, bool say)
{
    const char *p = after;
    int n = 0;

    while (*p) {
        const char *e = strchr(p, '\n');
        char name[512];
        size_t len = (size_t)(e - p);

        snprintf(name, sizeof(name), "%.*s\n", (int)len, p);
        if (strstr(name, "mproc") != NULL && strstr(before, name) == NULL) {
            if (say)
                diag("left in %s: %.*s", dir, (int)len, p);
            n++;
        }
        p = e + 1;
    }
    return n;
}

static char *mq_before, *shm_before;

static void
leftovers(const char *test)
{
    char *mq = listing("/dev/mqueue"), *shm = listing("/dev/shm");
    int n = new_entries("/dev/mqueue", mq_before, mq, false) +
            new_entries("/dev/shm", shm_before, shm, false), tries;

    /* Other tests running at the same time (make -j) make entries too,
     * for a moment (obj16-clean.sh plants a dead creator's block for
     * mproc clean to remove): a leftover is one that stays. */
    for (tries = 0; n > 0 && tries < 30; tries++) {
        free(mq);
        free(shm);
        usleep(100000);
        mq = listing("/dev/mqueue");
        shm = listing("/dev/shm");
        n = new_entries("/dev/mqueue", mq_before, mq, tries == 29) +
            new_entries("/dev/shm", shm_before, shm, tries == 29);
    }
    ok(n == 0 && waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD,
       "%s: nothing left (no child, /dev/mqueue, /dev/shm)", test);
    free(mq);
    free(shm);
}

static mproc_pipe_t *
pipe_pair(mproc_pipe_t **other, bool duplex, size_t message_max,
          size_t capacity)
{
    struct mproc_pipe_opts o;
    mproc_pipe_t *a = NULL;
    mproc_err_t err;
    int r;

    mproc_pipe_opts_init(&o);
    o.backend = backend;
    o.duplex = duplex;
    o.message_max = message_max;
    o.capacity = capacity;
    r = mproc_pipe_new(&a, other, &o, &err);
    if (r != 0) {
        diag("mproc_pipe_new: %s", err.msg);
        exit(1);
    }
    return a;
}

static struct mproc_chan *
chan(size_t message_max)
{
    struct mproc__chan_opts o = {.message_max = message_max};
    struct mproc_chan *ch;
    mproc_err_t err;

    if (mproc__chan_open(&ch, backend, &o, &err) != 0) {
        diag("mproc__chan_open: %s", err.msg);
        exit(1);
    }
    return ch;
}

/* ---- opening, limits ---- */

static void
test_open(void)
{
    struct mproc_chan *ch = NULL;
    struct mproc_queue_opts qo;
    mproc_queue_t *q = NULL;
    mproc_pipe_t *a = NULL, *b = NULL;
    struct mproc_pipe_opts po;
    struct mproc__chan_opts co = {.message_max = (size_t)1 << 40};
    mproc_err_t err;
    const struct mproc__chan_limits *lim;

    is_int(mproc__chan_open(&ch, "carrier-pigeon", NULL, &err), MPROC_EINVAL,
           "open: an unknown backend is EINVAL");
    like_str(err.msg, "pipe, mq, shmring", "open: the message lists them");
    ok(ch == NULL, "open: no handle on failure");
    is_int(mproc__chan_open(&ch, backend, &co, &err), MPROC_EINVAL,
           "open: message_max above the frame limit is EINVAL");
    like_str(err.msg, "message_max", "open: the message names it");
    mproc_queue_opts_init(&qo);
    qo.backend = "nope";
    is_int(mproc_queue_new(&q, &qo, &err), MPROC_EINVAL,
           "queue: an unknown backend is EINVAL");
    mproc_pipe_opts_init(&po);
    po.backend = "nope";
    is_int(mproc_pipe_new(&a, &b, &po, &err), MPROC_EINVAL,
           "pipe: an unknown backend is EINVAL");
    ok(a == NULL && b == NULL, "pipe: no ends on failure");
    ok(mproc_ipc_backends()[0] != NULL &&
           strcmp(mproc_ipc_backends()[2], "shmring") == 0 &&
           mproc_ipc_backends()[3] == NULL,
       "mproc_ipc_backends lists three");

    ch = chan(0);
    lim = mproc__chan_limits(ch);
    ok(lim->capacity > 0 && lim->chunk > 0 &&
           lim->message_max == MPROC__CHAN_MESSAGE_MAX_DEFAULT,
       "open: limits: capacity %zu, chunk %zu, message_max %zu",
       lim->capacity, lim->chunk, lim->message_max);
    is_str(mproc__chan_backend(ch), backend, "open: the backend's name");
    if (strcmp(backend, "mq") == 0) {
        char *mq = listing("/dev/mqueue");
        diag("mq: %ld messages of %zu bytes", lim->mq_maxmsg, lim->chunk);
        is_int(new_entries("/dev/mqueue", mq_before, mq, true), 0,
               "mq: no name in /dev/mqueue while the queue is open");
        free(mq);
    }
    mproc__chan_free(ch);
    leftovers("open");
}

/* ---- sizes and order, through a Pipe across fork ---- */

static void
test_sizes(void)
{
    enum { MAX = 16 << 20 };
    mproc_pipe_t *a, *b;
    size_t sizes[16], n = 0, i, cap, chunk;
    unsigned char *buf = malloc(MAX);
    struct mproc_chan *probe = chan(0);
    pid_t pid;
    int bad = 0;

    cap = mproc__chan_limits(probe)->capacity;
    chunk = mproc__chan_limits(probe)->chunk;
    mproc__chan_free(probe);
    sizes[n++] = 0;
    sizes[n++] = 1;
    sizes[n++] = 63;
    sizes[n++] = 64;
    sizes[n++] = 65;
    sizes[n++] = cap - 1;
    sizes[n++] = cap;
    sizes[n++] = cap + 1;
    if (chunk != cap) {
        sizes[n++] = chunk - 9; /* with the header: exactly one chunk */
        sizes[n++] = chunk - 8;
        sizes[n++] = chunk - 7;
    }
    sizes[n++] = 1 << 20;
    sizes[n++] = MAX; /* = message_max */

    a = pipe_pair(&b, true, MAX, 0);
    pid = fork();
    if (pid == 0) {
        int rc = 0;
        mproc_pipe_free(a);
        for (i = 0; i < n; i++) {
            fill(buf, sizes[i], (unsigned)i);
            if (mproc_pipe_send(b, buf, sizes[i], -1) != 0)
                rc = 1;
        }
        /* And back: receive one and echo it, the other direction. */
        {
            size_t len;
            if (mproc_pipe_recv(b, buf, MAX, &len, -1) != 0 ||
                mproc_pipe_send(b, buf, len, -1) != 0)
                rc |= 2;
        }
        mproc_pipe_free(b);
        free(buf);
        _exit(rc);
    }
    mproc_pipe_free(b);
    for (i = 0; i < n; i++) {
        size_t len = 0;
        int r = mproc_pipe_recv(a, buf, MAX, &len, 20000);
        if (r != 0 || len != sizes[i] || !check(buf, len, (unsigned)i)) {
            diag("size %zu: r=%d len=%zu (%s)", sizes[i], r, len,
                 mproc_pipe_errmsg(a));
            bad++;
        }
    }
    is_int(bad, 0,
           "sizes: 0, 1, 63, 64, 65, capacity (%zu) -1/0/+1, chunk (%zu) "
           "-1/0/+1, 1 MiB, 16 MiB arrive whole and in order",
           cap, chunk);
    {
        size_t len = 0;
        fill(buf, 3 << 20, 99);
        is_int(mproc_pipe_send(a, buf, 3 << 20, -1), 0,
               "sizes: a 3 MiB message the other way");
        memset(buf, 0, 3 << 20);
        ok(mproc_pipe_recv(a, buf, MAX, &len, 20000) == 0 &&
               len == (3 << 20) && check(buf, len, 99),
           "sizes: echoed back intact (duplex)");
    }
    is_int(wait_exit(pid), 0, "sizes: the child sent and echoed");
    mproc_pipe_free(a);
    free(buf);
    leftovers("sizes");
}

static void
test_order(void)
{
    mproc_pipe_t *a, *b;
    unsigned char buf[600];
    pid_t pid;
    int i, bad = 0;

    a = pipe_pair(&b, false, 0, 0);
    pid = fork();
    if (pid == 0) {
        int rc = 0;
        mproc_pipe_free(a);
        for (i = 0; i < 5000; i++) {
            size_t len = 4 + (size_t)(i * 7919) % 500;
            fill(buf, len, (unsigned)i);
            memcpy(buf, &i, sizeof(i));
            if (mproc_pipe_send(b, buf, len, -1) != 0)
                rc = 1;
        }
        _exit(rc);
    }
    mproc_pipe_free(b);
    for (i = 0; i < 5000; i++) {
        size_t len = 0, want = 4 + (size_t)(i * 7919) % 500;
        int seq = -1;
        if (mproc_pipe_recv(a, buf, sizeof(buf), &len, 10000) != 0) {
            bad++;
            break;
        }
        memcpy(&seq, buf, sizeof(seq));
        if (seq != i || len != want)
            bad++;
    }
    is_int(bad, 0, "order: 5000 messages of 4..503 bytes in order");
    {
        size_t len;
        is_int(mproc_pipe_recv(a, buf, sizeof(buf), &len, 5000), MPROC_EPIPE,
               "order: then the end of the stream (the child exited)");
    }
    is_int(wait_exit(pid), 0, "order: the child ended well");
    mproc_pipe_free(a);
    leftovers("order");
}

/* ---- limits and errors ---- */

static void
test_msgsize(void)
{
    mproc_pipe_t *a, *b;
    mproc_queue_t *q;
    struct mproc_queue_opts qo;
    struct mproc_chan *probe = chan(0);
    /* Below the transport's capacity: this process sends, then receives. */
    int MAX = (int)(mproc__chan_limits(probe)->capacity / 2);
    unsigned char *buf = calloc(1, (size_t)MAX + 1);
    size_t len = 0;
    char want[64];

    mproc__chan_free(probe);

    a = pipe_pair(&b, true, (size_t)MAX, 0);
    snprintf(want, sizeof(want), "%d", MAX);
    is_int(mproc_pipe_send(a, buf, (size_t)MAX + 1, -1), MPROC_EMSGSIZE,
           "message_max+1: EMSGSIZE");
    like_str(mproc_pipe_errmsg(a), "message_max", "message_max+1: named");
    like_str(mproc_pipe_errmsg(a), want, "message_max+1: with its value");
    is_int(mproc_pipe_poll(b, 0), 0, "message_max+1: nothing was sent");
    is_int(mproc_pipe_send(a, buf, (size_t)MAX, -1), 0, "message_max: sent");
    ok(mproc_pipe_recv(b, buf, (size_t)MAX + 1, &len, 5000) == 0 &&
           len == (size_t)MAX,
       "message_max: received");
    mproc_pipe_free(a);
    mproc_pipe_free(b);

    mproc_queue_opts_init(&qo);
    qo.backend = backend;
    qo.message_max = (size_t)MAX;
    if (mproc_queue_new(&q, &qo, NULL) == 0) {
        is_int(mproc_queue_put(q, buf, (size_t)MAX + 1, 0), MPROC_EMSGSIZE,
               "queue: message_max+1: EMSGSIZE");
        like_str(mproc_queue_errmsg(q), want, "queue: the limit is named");
        ok(mproc_queue_empty(q), "queue: and nothing was queued");
        mproc_queue_free(q);
    } else {
        ok(0, "queue created");
    }
    free(buf);
    leftovers("message_max");
}

static void
test_erange(void)
{
    mproc_pipe_t *a, *b;
    mproc_queue_t *q;
    struct mproc_queue_opts qo;
    unsigned char msg[100], buf[100];
    size_t len = 0;

    fill(msg, sizeof(msg), 7);
    a = pipe_pair(&b, true, 0, 0);
    mproc_pipe_send(a, msg, sizeof(msg), -1);
    mproc_pipe_send(a, "x", 1, -1);
    is_int(mproc_pipe_recv(b, buf, 10, &len, 5000), MPROC_ERANGE,
           "short buffer: ERANGE");
    is_int(len, 100, "short buffer: with the size needed");
    like_str(mproc_pipe_errmsg(b), "100 bytes", "short buffer: message");
    is_int(mproc_pipe_recv(b, NULL, 0, &len, 0), MPROC_ERANGE,
           "short buffer: again, asking the size only");
    ok(mproc_pipe_recv(b, buf, sizeof(buf), &len, 0) == 0 && len == 100 &&
           memcmp(buf, msg, 100) == 0,
       "short buffer: the message was kept, whole");
    ok(mproc_pipe_recv(b, buf, 1, &len, 5000) == 0 && len == 1 &&
           buf[0] == 'x',
       "short buffer: and the next one follows");
    is_int(mproc_pipe_send(b, "", 0, -1), 0, "empty message: sent");
    ok(mproc_pipe_recv(a, NULL, 0, &len, 5000) == 0 && len == 0,
       "empty message: fits a NULL buffer");
    mproc_pipe_free(a);
    mproc_pipe_free(b);

    mproc_queue_opts_init(&qo);
    qo.backend = backend;
    mproc_queue_new(&q, &qo, NULL);
    mproc_queue_put(q, msg, sizeof(msg), -1);
    is_int(mproc_queue_get(q, buf, 10, &len, 5000), MPROC_ERANGE,
           "queue: short buffer: ERANGE");
    is_int(len, 100, "queue: with the size needed");
    /* Kept by this process, it has left the Queue: counting it would
     * leak a slot of maxsize for good if this process died holding it. */
    is_int(mproc_queue_qsize(q), 0, "queue: kept here, no longer counted");
    ok(mproc_queue_get(q, buf, sizeof(buf), &len, 0) == 0 && len == 100 &&
           memcmp(buf, msg, 100) == 0,
       "queue: got whole with a larger buffer");
    ok(mproc_queue_empty(q), "queue: empty now");
    mproc_queue_free(q);
    leftovers("buffer too short");
}

/* ---- timeouts ---- */

static void
test_timeouts(void)
{
    mproc_pipe_t *a, *b;
    mproc_queue_t *q;
    struct mproc_queue_opts qo;
    unsigned char buf[1024] = {0};
    struct timespec t0;
    size_t len, sent = 0, got = 0;
    long ms;
    int r;

    a = pipe_pair(&b, true, 0, 0);
    now(&t0);
    is_int(mproc_pipe_recv(a, buf, sizeof(buf), &len, 0), MPROC_ETIMEDOUT,
           "timeout: a non-blocking receive on empty: ETIMEDOUT");
    ok(ms_since(&t0) < 100, "timeout: at once (%ld ms)", ms_since(&t0));
    is_int(mproc_pipe_poll(a, 0), 0, "timeout: poll(0) on empty: 0");
    now(&t0);
    is_int(mproc_pipe_recv(a, buf, sizeof(buf), &len, 150), MPROC_ETIMEDOUT,
           "timeout: receive(150 ms) on empty: ETIMEDOUT");
    ms = ms_since(&t0);
    ok(ms >= 149 && ms < 1500, "timeout: after %ld ms", ms);
    now(&t0);
    is_int(mproc_pipe_poll(a, 120), 0, "timeout: poll(120 ms): 0");
    ms = ms_since(&t0);
    ok(ms >= 119 && ms < 1500, "timeout: after %ld ms", ms);
    mproc_pipe_send(b, "hi", 2, -1);
    is_int(mproc_pipe_poll(a, 0), 1, "timeout: poll(0) with a message: 1");
    is_int(mproc_pipe_poll(a, 0), 1, "timeout: poll does not consume");
    ok(mproc_pipe_recv(a, buf, sizeof(buf), &len, 0) == 0 && len == 2,
       "timeout: then receive(0) gets it");

    /* Fill the transport: sends that time out leave nothing behind. */
    for (;;) {
        fill(buf, sizeof(buf), (unsigned)sent);
        r = mproc_pipe_send(b, buf, sizeof(buf), 0);
        if (r != 0)
            break;
        if (++sent > 100000)
            break;
    }
    is_int(r, MPROC_ETIMEDOUT,
           "timeout: a full transport: send(0) is ETIMEDOUT (after %zu)",
           sent);
    now(&t0);
    is_int(mproc_pipe_send(b, buf, sizeof(buf), 150), MPROC_ETIMEDOUT,
           "timeout: send(150 ms) on a full transport: ETIMEDOUT");
    ms = ms_since(&t0);
    ok(ms >= 149 && ms < 1500, "timeout: after %ld ms", ms);
    while (mproc_pipe_recv(a, buf, sizeof(buf), &len, 0) == 0) {
        if (len != sizeof(buf) || !check(buf, len, (unsigned)got))
            break;
        got++;
    }
    is_int(got, sent,
           "timeout: every accepted message arrives, none of the refused");
    mproc_pipe_free(a);
    mproc_pipe_free(b);

    mproc_queue_opts_init(&qo);
    qo.backend = backend;
    qo.maxsize = 2;
    mproc_queue_new(&q, &qo, NULL);
    now(&t0);
    is_int(mproc_queue_get(q, buf, sizeof(buf), &len, 0), MPROC_ETIMEDOUT,
           "queue: non-blocking get on empty: ETIMEDOUT");
    ok(ms_since(&t0) < 100, "queue: at once");
    now(&t0);
    is_int(mproc_queue_get(q, buf, sizeof(buf), &len, 150), MPROC_ETIMEDOUT,
           "queue: get(150 ms) on empty: ETIMEDOUT");
    ms = ms_since(&t0);
    ok(ms >= 149 && ms < 1500, "queue: after %ld ms", ms);
    ok(mproc_queue_put(q, "a", 1, 0) == 0 && mproc_queue_put(q, "b", 1, 0) == 0,
       "queue: two puts under maxsize 2");
    ok(mproc_queue_full(q) && !mproc_queue_empty(q) &&
           mproc_queue_qsize(q) == 2,
       "queue: full, qsize 2");
    is_int(mproc_queue_put(q, "c", 1, 0), MPROC_ETIMEDOUT,
           "queue: a full put(0): ETIMEDOUT");
    like_str(mproc_queue_errmsg(q), "full", "queue: the message says full");
    now(&t0);
    is_int(mproc_queue_put(q, "c", 1, 150), MPROC_ETIMEDOUT,
           "queue: a full put(150 ms): ETIMEDOUT");
    ms = ms_since(&t0);
    ok(ms >= 149 && ms < 1500, "queue: after %ld ms", ms);
    {
        /* A get in another process makes room for a waiting put. */
        pid_t pid = fork();
        if (pid == 0) {
            usleep(100000);
            _exit(mproc_queue_get(q, buf, sizeof(buf), &len, 5000) == 0 &&
                          len == 1 && buf[0] == 'a'
                      ? 0
                      : 1);
        }
        now(&t0);
        is_int(mproc_queue_put(q, "c", 1, 5000), 0,
               "queue: a waiting put gets the room a get makes");
        ms = ms_since(&t0);
        ok(ms >= 50 && ms < 3000, "queue: after %ld ms", ms);
        is_int(wait_exit(pid), 0, "queue: the getter got the oldest");
    }
    ok(mproc_queue_get(q, buf, sizeof(buf), &len, 0) == 0 && buf[0] == 'b' &&
           mproc_queue_get(q, buf, sizeof(buf), &len, 0) == 0 && buf[0] == 'c',
       "queue: FIFO");
    ok(mproc_queue_empty(q) && !mproc_queue_full(q), "queue: empty again");
    mproc_queue_free(q);
    leftovers("timeouts");
}

/* ---- close and death ---- */

static void
test_close(void)
{
    mproc_pipe_t *a, *b;
    mproc_queue_t *q;
    unsigned char buf[4096] = {0};
    size_t len;
    pid_t pid;
    int i, r, n;

    a = pipe_pair(&b, true, 0, 0);
    for (i = 0; i < 3; i++)
        mproc_pipe_send(a, &i, sizeof(i), -1);
    is_int(mproc_pipe_close(a), 0, "close: an end");
    is_int(mproc_pipe_close(a), MPROC_ECLOSED, "close: twice: ECLOSED");
    is_int(mproc_pipe_send(a, "x", 1, 0), MPROC_ECLOSED,
           "close: send on a closed end: ECLOSED");
    is_int(mproc_pipe_recv(a, buf, 4, &len, 0), MPROC_ECLOSED,
           "close: receive on a closed end: ECLOSED");
    for (i = 0, n = 0; i < 3; i++)
        if (mproc_pipe_recv(b, buf, 4, &len, 1000) == 0 &&
            memcmp(buf, &i, 4) == 0)
            n++;
    is_int(n, 3, "close: the other end still gets what was sent");
    is_int(mproc_pipe_recv(b, buf, 4, &len, 1000), MPROC_EPIPE,
           "close: then EPIPE (end of stream)");
    like_str(mproc_pipe_errmsg(b), "closed", "close: the message says so");
    is_int(mproc_pipe_poll(b, 0), 1, "close: poll says ready at the end");
    /* pipe: at once; mq, shmring: by the time the transport is full. */
    for (i = 0; i < 100000; i++)
        if ((r = mproc_pipe_send(b, buf, 1000, 1000)) != 0)
            break;
    is_int(r, MPROC_EPIPE, "close: send to a closed end: EPIPE (after %d)",
           i);
    mproc_pipe_free(a);
    mproc_pipe_free(b);

    a = pipe_pair(&b, false, 0, 0);
    ok(mproc_pipe_can_recv(a) && !mproc_pipe_can_send(a) &&
           mproc_pipe_can_send(b) && !mproc_pipe_can_recv(b),
       "one-way: the first end receives, the second sends");
    is_int(mproc_pipe_send(a, "x", 1, 0), MPROC_ECLOSED,
           "one-way: the receiving end cannot send");
    is_int(mproc_pipe_recv(b, buf, 1, &len, 0), MPROC_ECLOSED,
           "one-way: the sending end cannot receive");
    mproc_pipe_free(a);
    mproc_pipe_free(b);

    /* The reading process goes away: the writer is told, within the
     * transport's capacity (pipe: at once). */
    a = pipe_pair(&b, false, 0, 0);
    pid = fork();
    if (pid == 0) {
        mproc_pipe_free(b);
        mproc_pipe_free(a);
        _exit(0);
    }
    mproc_pipe_free(a);
    wait_exit(pid);
    for (i = 0; i < 100000; i++)
        if ((r = mproc_pipe_send(b, buf, sizeof(buf), 2000)) != 0)
            break;
    is_int(r, MPROC_EPIPE, "close: sending to a gone reader: EPIPE (after %d)",
           i);
    if (strcmp(backend, "pipe") == 0)
        is_int(i, 0, "close: pipe: at once");
    mproc_pipe_free(b);

    {
        struct mproc_queue_opts qo;
        mproc_queue_opts_init(&qo);
        qo.backend = backend;
        mproc_queue_new(&q, &qo, NULL);
        is_str(mproc_queue_backend(q), backend, "queue: its backend");
        mproc_queue_put(q, "x", 1, 0);
        is_int(mproc_queue_close(q), 0, "queue: close");
        is_int(mproc_queue_close(q), MPROC_ECLOSED, "queue: close twice");
        is_int(mproc_queue_put(q, "x", 1, 0), MPROC_ECLOSED,
               "queue: put after close: ECLOSED");
        is_int(mproc_queue_get(q, buf, 1, &len, 0), MPROC_ECLOSED,
               "queue: get after close: ECLOSED");
        mproc_queue_free(q);
        mproc_queue_free(NULL);
        mproc_pipe_free(NULL);
    }
    leftovers("close");
}

static void
test_death(void)
{
    mproc_pipe_t *a, *b;
    unsigned char *buf;
    struct mproc_chan *probe = chan(0);
    size_t cap = mproc__chan_limits(probe)->capacity, big = 4 * cap, len;
    struct timespec t0;
    pid_t pid;
    long ms;
    int r;

    mproc__chan_free(probe);
    buf = calloc(1, big);

    /* A writer stopped mid-message: a receive times out and keeps what
     * came; the message is whole once the writer goes on. */
    a = pipe_pair(&b, false, 0, 0);
    pid = fork();
    if (pid == 0) {
        mproc_pipe_free(a);
        fill(buf, big, 5);
        r = mproc_pipe_send(b, buf, big, -1);
        mproc_pipe_free(b);
        free(buf);
        _exit(r == 0 ? 0 : 1);
    }
    mproc_pipe_free(b);
    usleep(300000); /* it fills the transport and waits */
    kill(pid, SIGSTOP);
    r = mproc_pipe_recv(a, buf, big, &len, 200);
    is_int(r, MPROC_ETIMEDOUT, "stopped writer: a receive times out");
    is_int(mproc_pipe_poll(a, 0), 0, "stopped writer: no whole message yet");
    kill(pid, SIGCONT);
    memset(buf, 0, big);
    r = mproc_pipe_recv(a, buf, big, &len, 10000);
    ok(r == 0 && len == big && check(buf, big, 5),
       "stopped writer: then the message arrives whole (%zu bytes)", big);
    is_int(wait_exit(pid), 0, "stopped writer: it ended well");
    mproc_pipe_free(a);

    /* Mid-message: the writer is killed after half a message went out. */
    a = pipe_pair(&b, false, 0, 0);
    pid = fork();
    if (pid == 0) {
        mproc_pipe_free(a);
        mproc_pipe_send(b, buf, big, -1); /* blocks: nobody reads it all */
        _exit(0);
    }
    mproc_pipe_free(b);
    /* Nobody reads: the child fills the transport and waits. */
    usleep(300000);
    kill(pid, SIGKILL);
    now(&t0);
    r = mproc_pipe_recv(a, buf, big, &len, -1);
    ms = ms_since(&t0);
    is_int(r, MPROC_EPIPE, "death: the writer killed mid-message: EPIPE");
    like_str(mproc_pipe_errmsg(a), "mid-message", "death: message says so");
    ok(ms < 1000, "death: within a second (%ld ms)", ms);
    wait_exit(pid);
    mproc_pipe_free(a);

    /* A receiver blocked with no deadline, the writer dies. */
    a = pipe_pair(&b, false, 0, 0);
    pid = fork();
    if (pid == 0) {
        mproc_pipe_free(a);
        usleep(200000);
        kill(getpid(), SIGKILL);
        _exit(0);
    }
    mproc_pipe_free(b);
    now(&t0);
    r = mproc_pipe_recv(a, buf, big, &len, -1);
    ms = ms_since(&t0);
    is_int(r, MPROC_EPIPE, "death: a blocked receiver gets EPIPE");
    ok(ms >= 150 && ms < 1500, "death: %ld ms after it began (kill at 200)",
       ms);
    is_int(wait_exit(pid), 128 + SIGKILL, "death: the writer was killed");
    mproc_pipe_free(a);

    /* A sender blocked on a full transport, the reader dies. */
    a = pipe_pair(&b, false, 0, 0);
    pid = fork();
    if (pid == 0) {
        mproc_pipe_free(b);
        usleep(200000);
        kill(getpid(), SIGKILL);
        _exit(0);
    }
    mproc_pipe_free(a);
    while (mproc_pipe_send(b, buf, 1000, 0) == 0)
        ;
    now(&t0);
    r = mproc_pipe_send(b, buf, 1000, -1);
    ms = ms_since(&t0);
    is_int(r, MPROC_EPIPE, "death: a blocked sender gets EPIPE");
    ok(ms < 1500, "death: within %ld ms", ms);
    wait_exit(pid);
    mproc_pipe_free(b);
    free(buf);
    leftovers("death");
}

/* ---- the pool's use: batches, a million messages, poll() ---- */

static void
test_million(void)
{
    enum { N = 1000000 };
    struct mproc_chan *ch = chan(0);
    struct timespec t0;
    uint64_t sum = 0, want = 0, i;
    const void *m;
    size_t len;
    pid_t pid;
    int bad = 0, r;

    pid = fork();
    if (pid == 0) {
        int rc = 0;
        mproc__chan_close_side(ch, MPROC__CHAN_RD);
        for (i = 0; i < N; i++) {
            uint64_t v = i * 0x9e3779b97f4a7c15ull;
            /* Sizes 8..23: records straddle the ring's end and chunks. */
            char rec[24];
            memcpy(rec, &v, 8);
            memset(rec + 8, (int)(i & 0xff), sizeof(rec) - 8);
            if (mproc__chan_send(ch, rec, 8 + (size_t)(i % 16),
                                 MPROC__CHAN_MORE, 0) != 0)
                rc = 1;
            if (i % 4096 == 4095 && mproc__chan_flush(ch, -1) != 0)
                rc = 1;
        }
        if (mproc__chan_flush(ch, -1) != 0)
            rc = 1;
        mproc__chan_free(ch);
        _exit(rc);
    }
    mproc__chan_close_side(ch, MPROC__CHAN_WR);
    now(&t0);
    for (i = 0; i < N; i++) {
        uint64_t v;
        r = mproc__chan_peek(ch, &m, &len, 30000);
        if (r != 0) {
            diag("message %llu: %s", (unsigned long long)i,
                 mproc__chan_errmsg(ch));
            bad++;
            break;
        }
        memcpy(&v, m, 8);
        if (len != 8 + (size_t)(i % 16) ||
            (len > 8 && ((const unsigned char *)m)[len - 1] !=
                            (unsigned char)(i & 0xff)))
            bad++;
        sum += v ^ (v >> 7);
        want += (i * 0x9e3779b97f4a7c15ull) ^ ((i * 0x9e3779b97f4a7c15ull) >> 7);
        mproc__chan_consume(ch);
    }
    diag("1,000,000 messages in %ld ms", ms_since(&t0));
    is_int(bad, 0, "million: every message in order, sizes right");
    ok(sum == want, "million: the checksum matches");
    is_int(mproc__chan_peek(ch, &m, &len, 5000), MPROC_EPIPE,
           "million: then the end of the stream");
    is_int(wait_exit(pid), 0, "million: the sender ended well");
    mproc__chan_free(ch);
    leftovers("million");
}

/* The host side of the pool's event loop, over two workers. */
static void
test_pollloop(void)
{
    enum { W = 2, N = 20000 };
    struct mproc_chan *task[W], *res[W];
    pid_t pid[W];
    uint64_t got = 0, sum = 0, want = 0;
    int w, sent = 0, bad = 0, spins = 0;

    for (w = 0; w < W; w++) {
        task[w] = chan(0);
        res[w] = chan(0);
    }
    for (w = 0; w < W; w++) {
        pid[w] = fork();
        if (pid[w] == 0) {
            int k, rc = 0;
            for (k = 0; k < W; k++)
                if (k != w) {
                    mproc__chan_free(task[k]);
                    mproc__chan_free(res[k]);
                }
            mproc__chan_close_side(task[w], MPROC__CHAN_WR);
            mproc__chan_close_side(res[w], MPROC__CHAN_RD);
            for (;;) {
                const void *m;
                size_t len;
                uint64_t v;
                int r = mproc__chan_peek(task[w], &m, &len, -1);
                if (r == MPROC_EPIPE)
                    break;
                if (r != 0 || len != 8) {
                    rc = 1;
                    break;
                }
                memcpy(&v, m, 8);
                mproc__chan_consume(task[w]);
                v = v * 3 + 1;
                /* Batch the results while more tasks are buffered. */
                if (mproc__chan_send(res[w], &v, 8, MPROC__CHAN_MORE, 0) != 0)
                    rc = 1;
                if (!mproc__chan_has_message(task[w]) &&
                    mproc__chan_flush(res[w], -1) != 0)
                    rc = 1;
            }
            mproc__chan_free(task[w]);
            mproc__chan_free(res[w]);
            _exit(rc);
        }
    }
    for (w = 0; w < W; w++) {
        mproc__chan_close_side(task[w], MPROC__CHAN_RD);
        mproc__chan_close_side(res[w], MPROC__CHAN_WR);
    }
    while (got < N && !bad) {
        struct pollfd pfd[2 * W];
        nfds_t n = 0;
        int timeout = -1;

        /* Queue up to 512 tasks in flight per worker, without blocking. */
        for (w = 0; w < W; w++) {
            while (sent < N && sent - (int)got < 512 * W) {
                uint64_t v = (uint64_t)sent++;
                want += v * 3 + 1;
                if (mproc__chan_send(task[w], &v, 8, MPROC__CHAN_MORE, 0))
                    bad++;
                if (sent % 64 == 0)
                    break;
            }
            if (mproc__chan_flush(task[w], 0) < 0 &&
                mproc__chan_unflushed(task[w]) == 0)
                bad++;
        }
        for (w = 0; w < W; w++) {
            int r = mproc__chan_poll_prepare(res[w], MPROC__CHAN_RD, &pfd[n]);
            if (r == 1)
                timeout = 0;
            else if (r == 0)
                n++;
            else
                bad++;
            if (mproc__chan_unflushed(task[w]) > 0) {
                r = mproc__chan_poll_prepare(task[w], MPROC__CHAN_WR, &pfd[n]);
                if (r == 0)
                    n++;
                else if (r == 1)
                    timeout = 0;
            }
        }
        if (poll(pfd, n, timeout) == 0 && timeout != 0)
            spins++;
        for (w = 0; w < W; w++) {
            const void *m;
            size_t len;
            while (mproc__chan_peek(res[w], &m, &len, 0) == 0) {
                uint64_t v;
                memcpy(&v, m, 8);
                sum += v;
                got++;
                mproc__chan_consume(res[w]);
            }
        }
    }
    is_int(bad, 0, "poll loop: no error");
    is_int(got, N, "poll loop: %d results from %d workers", N, W);
    ok(sum == want, "poll loop: their sum matches");
    for (w = 0; w < W; w++)
        mproc__chan_free(task[w]); /* the workers see the end */
    for (w = 0; w < W; w++) {
        const void *m;
        size_t len;
        is_int(mproc__chan_peek(res[w], &m, &len, 5000), MPROC_EPIPE,
               "poll loop: worker %d's results end with its exit", w);
        is_int(wait_exit(pid[w]), 0, "poll loop: worker %d ended well", w);
        mproc__chan_free(res[w]);
    }
    leftovers("poll loop");
}

/* ---- export to an exec'd image ---- */

static int
echo_main(int argc, char **argv)
{
    /* --echo NFD_TASK NFD_RES HEX_TASK HEX_RES, fds from 10 on. */
    int nt = atoi(argv[2]), nr = atoi(argv[3]), fds[8], i;
    unsigned char blob[MPROC__CHAN_BLOB_MAX];
    struct mproc_chan *t, *r;
    mproc_err_t err;
    ssize_t n;

    if (argc != 6)
        return 2;
    for (i = 0; i < nt + nr; i++)
        fds[i] = 10 + i;
    n = mproc__chan_hex_decode(blob, sizeof(blob), argv[4]);
    if (n < 0 || mproc__chan_import(&t, fds, (size_t)nt, blob, (size_t)n,
                                    &err) != 0) {
        fprintf(stderr, "import task: %s\n", err.msg);
        return 3;
    }
    n = mproc__chan_hex_decode(blob, sizeof(blob), argv[5]);
    if (n < 0 || mproc__chan_import(&r, fds + nt, (size_t)nr, blob,
                                    (size_t)n, &err) != 0) {
        fprintf(stderr, "import result: %s\n", err.msg);
        return 4;
    }
    for (;;) {
        const void *m;
        size_t len;
        int rc = mproc__chan_peek(t, &m, &len, -1);
        if (rc == MPROC_EPIPE)
            break;
        if (rc != 0 || mproc__chan_send(r, m, len, 0, -1) != 0)
            return 5;
        mproc__chan_consume(t);
    }
    mproc__chan_free(t);
    mproc__chan_free(r);
    return 0;
}

static void
test_export(void)
{
    struct mproc_chan *t = chan(0), *r = chan(0);
    unsigned char blob[MPROC__CHAN_BLOB_MAX], *buf = malloc(1 << 20);
    char hex_t[2 * MPROC__CHAN_BLOB_MAX + 1], hex_r[2 * MPROC__CHAN_BLOB_MAX + 1];
    int fds[8], k;
    size_t nt, nr, lt, lr, len, i;
    char snt[8], snr[8];
    pid_t pid;
    int bad = 0;

    is_int(mproc__chan_export(t, MPROC__CHAN_RD, fds, &nt, blob, &lt), 0,
           "export: the task channel's reading side");
    mproc__chan_hex_encode(hex_t, blob, lt);
    is_int(mproc__chan_export(r, MPROC__CHAN_WR, fds + nt, &nr, blob, &lr), 0,
           "export: the result channel's writing side");
    mproc__chan_hex_encode(hex_r, blob, lr);
    {
        struct mproc_chan *x;
        mproc_err_t err;
        blob[0] ^= 1;
        is_int(mproc__chan_import(&x, fds + nt, nr, blob, lr, &err),
               MPROC_EINVAL, "import: a damaged description is EINVAL");
    }
    snprintf(snt, sizeof(snt), "%zu", nt);
    snprintf(snr, sizeof(snr), "%zu", nr);
    pid = fork();
    if (pid == 0) {
        int tmp[8];
        /* dup first, so that moving onto 10.. never clobbers a source. */
        for (k = 0; k < (int)(nt + nr); k++)
            tmp[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, 64);
        for (k = 0; k < (int)(nt + nr); k++)
            if (dup2(tmp[k], 10 + k) < 0)
                _exit(126);
        execl(self_path, self_path, "--echo", snt, snr, hex_t, hex_r,
              (char *)NULL);
        _exit(127);
    }
    mproc__chan_close_side(t, MPROC__CHAN_RD);
    mproc__chan_close_side(r, MPROC__CHAN_WR);
    for (i = 0; i < 200; i++) {
        size_t n = i == 199 ? (size_t)1 << 20 : i * 13;
        fill(buf, n, (unsigned)i);
        if (mproc__chan_send(t, buf, n, 0, 10000) != 0 ||
            mproc__chan_recv(r, buf, 1 << 20, &len, 10000) != 0 ||
            len != n || !check(buf, n, (unsigned)i))
            bad++;
    }
    is_int(bad, 0, "export: an exec'd image imported both and echoed 200");
    mproc__chan_free(t);
    is_int(mproc__chan_recv(r, buf, 1, &len, 5000), MPROC_EPIPE,
           "export: it ends when its task channel does");
    is_int(wait_exit(pid), 0, "export: and exits well");
    mproc__chan_free(r);
    free(buf);
    leftovers("export");
}

/* ---- Queue: many producers and consumers ---- */

struct mpmc {
    _Atomic uint32_t seen[(3 * 20000 + 31) / 32];
    _Atomic int dups, bad, got;
};

static void
test_queue_mpmc(size_t maxsize)
{
    enum { P = 3, C = 3, N = 20000 };
    struct mproc_queue_opts qo;
    mproc_queue_t *q;
    struct mpmc *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pids[P + C];
    int i, bad = 0;
    mproc_err_t err;

    memset(sh, 0, sizeof(*sh));
    mproc_queue_opts_init(&qo);
    qo.backend = backend;
    qo.maxsize = maxsize;
    if (mproc_queue_new(&q, &qo, &err) != 0) {
        ok(0, "queue: %s", err.msg);
        return;
    }
    for (i = 0; i < C; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            unsigned char buf[20000];
            for (;;) {
                size_t len;
                uint32_t id;
                if (mproc_queue_get(q, buf, sizeof(buf), &len, 30000) != 0) {
                    atomic_fetch_add(&sh->bad, 1);
                    _exit(1);
                }
                if (len == 0)
                    _exit(0); /* the stop message */
                memcpy(&id, buf, 4);
                if (id >= P * N || len != 5 + (id % 97) * (id % 7 == 0 ? 100 : 1) ||
                    buf[len - 1] != (unsigned char)id)
                    atomic_fetch_add(&sh->bad, 1);
                else if (atomic_fetch_or(&sh->seen[id / 32], 1u << (id % 32)) &
                         (1u << (id % 32)))
                    atomic_fetch_add(&sh->dups, 1);
                atomic_fetch_add(&sh->got, 1);
            }
        }
    }
    for (i = 0; i < P; i++) {
        pids[C + i] = fork();
        if (pids[C + i] == 0) {
            unsigned char buf[20000];
            uint32_t k;
            for (k = 0; k < N; k++) {
                uint32_t id = (uint32_t)i * N + k;
                size_t len = 5 + (id % 97) * (id % 7 == 0 ? 100 : 1);
                memcpy(buf, &id, 4);
                memset(buf + 4, 0, len - 4);
                buf[len - 1] = (unsigned char)id;
                if (mproc_queue_put(q, buf, len, 30000) != 0)
                    _exit(1);
            }
            _exit(0);
        }
    }
    for (i = 0; i < P; i++)
        bad |= wait_exit(pids[C + i]);
    for (i = 0; i < C; i++)
        mproc_queue_put(q, "", 0, 30000);
    for (i = 0; i < C; i++)
        bad |= wait_exit(pids[i]);
    {
        int missing = 0, k;
        for (k = 0; k < P * N; k++)
            if (!(atomic_load(&sh->seen[k / 32]) & (1u << (k % 32))))
                missing++;
        is_int(bad, 0, "queue%s: %d producers and %d consumers ran",
               maxsize ? " (maxsize 16)" : "", P, C);
        ok(missing == 0 && atomic_load(&sh->dups) == 0 &&
               atomic_load(&sh->bad) == 0 && atomic_load(&sh->got) == P * N,
           "queue%s: %d messages (5 B .. 9.6 KiB), none lost (%d), "
           "duplicated (%d) or damaged (%d)",
           maxsize ? " (maxsize 16)" : "", P * N, missing,
           atomic_load(&sh->dups), atomic_load(&sh->bad));
    }
    ok(mproc_queue_empty(q), "queue: empty at the end");
    mproc_queue_free(q);
    munmap(sh, sizeof(*sh));
    leftovers("queue many-to-many");
}

static void
test_queue_death(void)
{
    struct mproc_queue_opts qo;
    mproc_queue_t *q;
    struct mproc_chan *probe = chan(0);
    size_t big = 4 * mproc__chan_limits(probe)->capacity, len;
    unsigned char *buf = calloc(1, big);
    struct timespec t0;
    pid_t pid;
    long ms;
    int r;

    mproc__chan_free(probe);
    mproc_queue_opts_init(&qo);
    qo.backend = backend;
    mproc_queue_new(&q, &qo, NULL);
    pid = fork();
    if (pid == 0) {
        mproc_queue_put(q, buf, big, -1); /* stuck half-way: nobody gets */
        _exit(0);
    }
    usleep(300000);
    kill(pid, SIGKILL);
    now(&t0);
    r = mproc_queue_get(q, buf, big, &len, -1);
    ms = ms_since(&t0);
    is_int(r, MPROC_EPIPE,
           "queue: a producer killed mid-message: the get fails (EPIPE)");
    like_str(mproc_queue_errmsg(q), "broken", "queue: the message says broken");
    ok(ms < 1500, "queue: within %ld ms", ms);
    is_int(mproc_queue_put(q, "x", 1, 0), MPROC_EPIPE,
           "queue: later puts fail too");
    wait_exit(pid);

    /* A consumer killed while waiting (not mid-message) breaks nothing. */
    mproc_queue_free(q);
    mproc_queue_new(&q, &qo, NULL);
    pid = fork();
    if (pid == 0) {
        mproc_queue_get(q, buf, big, &len, -1);
        _exit(0);
    }
    usleep(200000);
    kill(pid, SIGKILL);
    wait_exit(pid);
    ok(mproc_queue_put(q, "ok", 2, 1000) == 0 &&
           mproc_queue_get(q, buf, big, &len, 2000) == 0 && len == 2,
       "queue: a consumer killed while waiting leaves it working");
    mproc_queue_free(q);
    free(buf);
    leftovers("queue death");
}

/* ---- many senders and receivers on one end (10.1) ---- */

/* Either a one-way Pipe (rx receives what tx sends) or a Queue. */
struct xobj {
    mproc_pipe_t *rx, *tx;
    mproc_queue_t *q;
};

static int
xsend(struct xobj *o, const void *b, size_t n, int t)
{
    return o->q ? mproc_queue_put(o->q, b, n, t) : mproc_pipe_send(o->tx, b, n, t);
}

static int
xrecv(struct xobj *o, void *b, size_t cap, size_t *n, int t)
{
    return o->q ? mproc_queue_get(o->q, b, cap, n, t)
                : mproc_pipe_recv(o->rx, b, cap, n, t);
}

static const char *
xerr(struct xobj *o)
{
    return o->q ? mproc_queue_errmsg(o->q) : mproc_pipe_errmsg(o->rx);
}

static void
xfree(struct xobj *o)
{
    mproc_queue_free(o->q);
    mproc_pipe_free(o->rx);
    mproc_pipe_free(o->tx);
}

enum { XS = 6, XM = 2500, XR = 2 };

struct xshared {
    _Atomic unsigned char seen[XS * XM];
    _Atomic int bad, dups, got, failed;
};

static size_t xbig; /* a size that takes several pieces on every backend */

/* Message `id`: its id, then bytes that depend on it. */
static size_t
xmsg(unsigned char *buf, uint32_t id)
{
    size_t len = id % 997 == 3 ? xbig : 4 + (id % 61) * 7;

    fill(buf + 4, len - 4, id);
    memcpy(buf, &id, 4);
    return len;
}

static bool
xcheck(const unsigned char *buf, size_t len, uint32_t *id)
{
    if (len < 4)
        return false;
    memcpy(id, buf, 4);
    return *id < XS * XM &&
           len == (*id % 997 == 3 ? xbig : 4 + (*id % 61) * 7) &&
           check(buf + 4, len - 4, *id);
}

struct xthread {
    struct xobj *o;
    uint32_t first;
    int rc;
};

static void *
xsender(void *arg)
{
    struct xthread *t = arg;
    unsigned char *buf = malloc(xbig);
    uint32_t k;

    t->rc = 0;
    for (k = 0; k < XM; k++) {
        size_t len = xmsg(buf, t->first + k);
        if (xsend(t->o, buf, len, 30000) != 0) {
            diag("send: %s", t->o->q ? mproc_queue_errmsg(t->o->q)
                                    : mproc_pipe_errmsg(t->o->tx));
            t->rc = 1;
            break;
        }
    }
    free(buf);
    return NULL;
}

static void
xreceiver(struct xobj *o, struct xshared *sh)
{
    unsigned char *buf = malloc(xbig);
    size_t len;
    uint32_t id;

    for (;;) {
        if (xrecv(o, buf, xbig, &len, 30000) != 0) {
            diag("receive: %s", xerr(o));
            atomic_fetch_add(&sh->failed, 1);
            break;
        }
        if (len == 0)
            break; /* the stop message */
        if (!xcheck(buf, len, &id))
            atomic_fetch_add(&sh->bad, 1);
        else if (atomic_fetch_add(&sh->seen[id], 1) != 0)
            atomic_fetch_add(&sh->dups, 1);
        atomic_fetch_add(&sh->got, 1);
    }
    free(buf);
}

/*
 * XS senders (three processes, and three threads of a fourth) and XR
 * receiver processes on one end: every message arrives once and whole.
 */
static void
test_many(bool queue)
{
    struct mproc_queue_opts qo;
    struct xobj o = {0};
    struct xshared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    const char *what = queue ? "queue" : "pipe";
    pid_t pids[XR + 4];
    int i, bad = 0, missing = 0;

    memset(sh, 0, sizeof(*sh));
    if (queue) {
        mproc_queue_opts_init(&qo);
        qo.backend = backend;
        qo.capacity = 65536;
        mproc_queue_new(&o.q, &qo, NULL);
    } else {
        o.rx = pipe_pair(&o.tx, false, 0, 65536);
    }
    xbig = 3 * 65536 + 17;
    for (i = 0; i < XR; i++)
        if ((pids[i] = fork()) == 0) {
            xreceiver(&o, sh);
            xfree(&o);
            _exit(0);
        }
    for (i = 0; i < 4; i++) {
        if ((pids[XR + i] = fork()) != 0)
            continue;
        if (i < 3) {
            struct xthread t = {&o, (uint32_t)i * XM, 0};
            xsender(&t);
            xfree(&o);
            _exit(t.rc);
        } else {
            struct xthread t[3];
            pthread_t th[3];
            int k, rc = 0;
            for (k = 0; k < 3; k++) {
                t[k].o = &o;
                t[k].first = (uint32_t)(3 + k) * XM;
                pthread_create(&th[k], NULL, xsender, &t[k]);
            }
            for (k = 0; k < 3; k++) {
                pthread_join(th[k], NULL);
                rc |= t[k].rc;
            }
            xfree(&o);
            _exit(rc);
        }
    }
    for (i = 0; i < 4; i++)
        bad |= wait_exit(pids[XR + i]);
    for (i = 0; i < XR; i++)
        xsend(&o, "", 0, 30000);
    for (i = 0; i < XR; i++)
        bad |= wait_exit(pids[i]);
    for (i = 0; i < XS * XM; i++)
        missing += atomic_load(&sh->seen[i]) == 0;
    is_int(bad | atomic_load(&sh->failed), 0,
           "%s: %d senders (3 processes, 3 threads) and %d receivers on "
           "one end ran",
           what, XS, XR);
    ok(missing == 0 && atomic_load(&sh->dups) == 0 &&
           atomic_load(&sh->bad) == 0 && atomic_load(&sh->got) == XS * XM,
       "%s: %d messages (4 B .. %zu B) with checksums: none lost (%d), "
       "duplicated (%d) or damaged (%d)",
       what, XS * XM, xbig, missing, atomic_load(&sh->dups),
       atomic_load(&sh->bad));
    xfree(&o);
    munmap(sh, sizeof(*sh));
    leftovers(queue ? "queue: many on one end" : "pipe: many on one end");
}

/* ---- poll consumes nothing (11.3) ---- */

static void
test_poll_other(void)
{
    mproc_pipe_t *a, *b;
    char buf[64];
    size_t len = 0;
    pid_t pid;
    int i;

    a = pipe_pair(&b, false, 0, 0);
    mproc_pipe_send(b, "first", 5, -1);
    mproc_pipe_send(b, "second", 6, -1);
    pid = fork();
    if (pid == 0) {
        int rc = mproc_pipe_poll(a, 5000) == 1 && mproc_pipe_poll(a, 0) == 1
                     ? 0
                     : 1;
        mproc_pipe_free(a);
        mproc_pipe_free(b);
        _exit(rc);
    }
    is_int(wait_exit(pid), 0, "poll: another process polls: ready");
    is_int(mproc_pipe_poll(a, 0), 1, "poll: ready here too");
    ok(mproc_pipe_recv(a, buf, sizeof(buf), &len, 2000) == 0 && len == 5 &&
           memcmp(buf, "first", 5) == 0,
       "poll: the message stays for the process that receives it");
    ok(mproc_pipe_recv(a, buf, sizeof(buf), &len, 2000) == 0 && len == 6,
       "poll: and the next one too");
    /* Many polls, nothing taken. */
    mproc_pipe_send(b, "third", 5, -1);
    for (i = 0; i < 100; i++)
        mproc_pipe_poll(a, 0);
    ok(mproc_pipe_recv(a, buf, sizeof(buf), &len, 2000) == 0 && len == 5,
       "poll: 100 polls took nothing");
    mproc_pipe_free(a);
    mproc_pipe_free(b);
    leftovers("poll by another process");
}

/* ---- descriptors for mproc_wait (11.11) ---- */

static int
quick_exit_fn(struct mproc_ctx *ctx, const void *in, size_t len,
              uint64_t index, struct mproc_buf *out)
{
    (void)ctx;
    (void)in;
    (void)len;
    (void)index;
    (void)out;
    usleep(300000);
    return 0;
}

static bool
has_fd(const int *ready, ssize_t n, int fd)
{
    ssize_t i;

    for (i = 0; i < n; i++)
        if (ready[i] == fd)
            return true;
    return false;
}

static void
test_fileno(void)
{
    struct mproc_queue_opts qo;
    struct mproc_process_opts po;
    mproc_process_t *proc = NULL;
    mproc_queue_t *q = NULL;
    mproc_pipe_t *a, *b;
    int fds[3], ready[3];
    char buf[16];
    size_t len;
    ssize_t n;

    a = pipe_pair(&b, false, 0, 0);
    mproc_queue_opts_init(&qo);
    qo.backend = backend;
    mproc_queue_new(&q, &qo, NULL);
    mproc_process_opts_init(&po);
    po.fn = quick_exit_fn;
    if (mproc_process_new(&proc, &po, NULL) != 0 ||
        mproc_process_start(proc) != 0) {
        ok(0, "fileno: a process to wait for");
        return;
    }
    fds[0] = mproc_pipe_fileno(a);
    fds[1] = mproc_queue_fileno(q);
    fds[2] = mproc_process_sentinel(proc);
    ok(fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0,
       "fileno: a Pipe end, a Queue, a sentinel: descriptors");
    is_int(mproc_pipe_fileno(b), MPROC_ECLOSED,
           "fileno: a send-only end has none (ECLOSED)");
    is_int(mproc_wait(fds, 3, 50, ready), 0, "wait: nothing ready yet");

    mproc_pipe_send(b, "p", 1, -1);
    fds[0] = mproc_pipe_fileno(a);
    fds[1] = mproc_queue_fileno(q);
    n = mproc_wait(fds, 3, 5000, ready);
    ok(n == 1 && ready[0] == fds[0], "wait: the Pipe end is ready (%zd)", n);
    ok(mproc_pipe_recv(a, buf, sizeof(buf), &len, 0) == 0,
       "wait: and receives at once");

    mproc_queue_put(q, "q", 1, -1);
    fds[0] = mproc_pipe_fileno(a);
    fds[1] = mproc_queue_fileno(q);
    n = mproc_wait(fds, 3, 5000, ready);
    ok(n >= 1 && has_fd(ready, n, fds[1]) && !has_fd(ready, n, fds[0]),
       "wait: then the Queue, not the Pipe (%zd)", n);
    ok(mproc_queue_get(q, buf, sizeof(buf), &len, 0) == 0,
       "wait: and the Queue gets at once");

    fds[0] = mproc_pipe_fileno(a);
    fds[1] = mproc_queue_fileno(q);
    n = mproc_wait(fds, 3, 10000, ready);
    ok(n == 1 && ready[0] == fds[2], "wait: then the process's end (%zd)", n);
    mproc_process_join(proc, -1);

    mproc_pipe_free(b);
    fds[0] = mproc_pipe_fileno(a);
    n = mproc_wait(fds, 1, 5000, ready);
    ok(n == 1, "wait: a closed sender makes the Pipe end ready");
    is_int(mproc_pipe_recv(a, buf, sizeof(buf), &len, 0), MPROC_EPIPE,
           "wait: and a receive says the end");
    mproc_process_free(proc);
    mproc_queue_free(q);
    mproc_pipe_free(a);
    leftovers("fileno and mproc_wait");
}

/* ---- signals interrupt waits (11.5) ---- */

static void
on_signal(int sig)
{
    (void)sig;
}

/* A child that signals us after `ms`, then every 100 ms until
 * stop_signals().  One signal can come in the instant between two sleeps
 * of a wait (a thread woken at the end of a slice but not yet running,
 * on a busy machine) and be handled without ending the wait, as any
 * signal that comes just before a blocking call is; the next one ends
 * it.  What is asserted is that a signal ends the wait, not timing. */
static pid_t
signal_later(int ms)
{
    pid_t pid = fork();
    int k;

    if (pid == 0) {
        usleep((useconds_t)ms * 1000);
        for (k = 0; k < 200; k++) {
            kill(getppid(), SIGUSR1);
            usleep(100000);
        }
        _exit(0);
    }
    return pid;
}

static void
stop_signals(pid_t pid)
{
    kill(pid, SIGKILL);
    wait_exit(pid);
}

static void
test_eintr(void)
{
    struct sigaction sa, old;
    struct mproc_queue_opts qo;
    mproc_queue_t *q;
    mproc_pipe_t *a, *b;
    unsigned char buf[4096];
    struct timespec t0;
    size_t len;
    pid_t pid;
    long ms;
    int r;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: interrupt */
    sigaction(SIGUSR1, &sa, &old);
    mproc_queue_opts_init(&qo);
    qo.backend = backend;
    qo.maxsize = 1;
    mproc_queue_new(&q, &qo, NULL);
    a = pipe_pair(&b, false, 0, 0);

#define EINTR_CASE(call, what)                                              \
    do {                                                                    \
        pid = signal_later(230);                                            \
        now(&t0);                                                           \
        r = (call);                                                         \
        ms = ms_since(&t0);                                                 \
        is_int(r, MPROC_EINTR, "signal: %s returns EINTR", what);           \
        ok(ms < 8000, "signal: %s: promptly (%ld ms of 20000)", what, ms);  \
        stop_signals(pid);                                                  \
    } while (0)

    EINTR_CASE(mproc_queue_get(q, buf, sizeof(buf), &len, 20000),
               "queue get on empty");
    EINTR_CASE(mproc_pipe_recv(a, buf, sizeof(buf), &len, 20000),
               "pipe recv on empty");
    EINTR_CASE(mproc_pipe_poll(a, 20000), "pipe poll");
    mproc_queue_put(q, "x", 1, 0);
    EINTR_CASE(mproc_queue_put(q, "y", 1, 20000), "queue put when full");
    like_str(mproc_queue_errmsg(q), "interrupted", "signal: the message says so");
    is_int(mproc_queue_qsize(q), 1, "signal: the interrupted put put nothing");
    /* Messages that go all or nothing (a started one is finished). */
    memset(buf, 1, sizeof(buf));
    while (mproc_pipe_send(b, buf, 200, 0) == 0)
        ;
    EINTR_CASE(mproc_pipe_send(b, buf, 200, 20000),
               "pipe send on a full transport");

    /* SA_RESTART: the wait goes on to its timeout. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    mproc_queue_get(q, buf, sizeof(buf), &len, 0);
    pid = signal_later(100);
    now(&t0);
    r = mproc_queue_get(q, buf, sizeof(buf), &len, 600);
    ms = ms_since(&t0);
    ok(r == MPROC_ETIMEDOUT && ms >= 550,
       "signal: with SA_RESTART a get waits its whole timeout (%d, %ld ms)",
       r, ms);
    stop_signals(pid);
    sigaction(SIGUSR1, &old, NULL);
    mproc_queue_free(q);
    mproc_pipe_free(a);
    mproc_pipe_free(b);
    leftovers("signals");
}

/* ---- deaths in the windows of a Queue (12.8, 12.12) ---- */

/* Fork a child that stops at hook `point` in fn(q); wait until it has
 * stopped, then kill it.  Returns true when it stopped there. */
static bool
kill_at(mproc_queue_t *q, const char *point, int (*fn)(mproc_queue_t *))
{
    pid_t pid = fork();
    int st = 0;

    if (pid == 0) {
        setenv("MPROC_TEST_HOOK_IPC", point, 1);
        _exit(fn(q) == 0 ? 0 : 3);
    }
    while (waitpid(pid, &st, WUNTRACED) < 0 && errno == EINTR)
        ;
    kill(pid, SIGKILL);
    if (WIFSTOPPED(st))
        wait_exit(pid);
    return WIFSTOPPED(st);
}

static size_t wbig;

static int
put_small(mproc_queue_t *q)
{
    return mproc_queue_put(q, "hello", 5, 10000);
}

static int
put_big(mproc_queue_t *q)
{
    unsigned char *b = calloc(1, wbig);
    int r = mproc_queue_put(q, b, wbig, 10000);

    free(b);
    return r;
}

static int
get_one(mproc_queue_t *q)
{
    char b[64];
    size_t len;

    return mproc_queue_get(q, b, sizeof(b), &len, 10000);
}

static mproc_queue_t *
wqueue(size_t maxsize)
{
    struct mproc_queue_opts qo;
    mproc_queue_t *q = NULL;

    mproc_queue_opts_init(&qo);
    qo.backend = backend;
    qo.maxsize = maxsize;
    qo.capacity = 65536;
    mproc_queue_new(&q, &qo, NULL);
    return q;
}

/* maxsize 2 holds two messages, and no more. */
static bool
holds_two(mproc_queue_t *q)
{
    char b[8];
    size_t len;
    bool ok_ = mproc_queue_put(q, "a", 1, 0) == 0 &&
               mproc_queue_put(q, "b", 1, 0) == 0 &&
               mproc_queue_put(q, "c", 1, 0) == MPROC_ETIMEDOUT &&
               mproc_queue_qsize(q) == 2;

    ok_ = ok_ && mproc_queue_get(q, b, sizeof(b), &len, 1000) == 0 &&
          mproc_queue_get(q, b, sizeof(b), &len, 1000) == 0 &&
          mproc_queue_qsize(q) == 0;
    return ok_;
}

static void
test_queue_windows(void)
{
    mproc_queue_t *q;
    unsigned char *buf;
    char b[64];
    struct timespec t0;
    size_t len;
    pid_t p1, p2;
    long ms;
    int r;

    wbig = 4 * 65536;
    buf = calloc(1, wbig);

    /* A producer that took the lock and is killed before sending. */
    q = wqueue(2);
    ok(kill_at(q, "put-locked", put_small), "window: producer stopped "
                                            "holding the lock");
    ok(holds_two(q), "window: after its death qsize is right and maxsize "
                     "2 still holds 2");
    mproc_queue_free(q);

    /* A producer waiting for the lock (another is in the middle of a
     * large message) is killed: no slot may stay reserved. */
    q = wqueue(0);
    if ((p1 = fork()) == 0) {
        r = put_big(q);
        mproc_queue_free(q);
        free(buf);
        _exit(r == 0 ? 0 : 1);
    }
    usleep(200000);
    if ((p2 = fork()) == 0)
        _exit(put_small(q) == 0 ? 0 : 1);
    usleep(200000);
    kill(p2, SIGKILL);
    wait_exit(p2);
    r = mproc_queue_get(q, buf, wbig, &len, 10000);
    ok(r == 0 && len == wbig, "window: the large message came whole");
    is_int(wait_exit(p1), 0, "window: its producer ended well");
    is_int(mproc_queue_qsize(q), 0,
           "window: a producer killed waiting to put leaves no phantom");
    mproc_queue_free(q);

    /* A producer waiting for room (maxsize) is killed. */
    q = wqueue(1);
    mproc_queue_put(q, "x", 1, 0);
    if ((p1 = fork()) == 0)
        _exit(put_small(q) == 0 ? 0 : 1);
    usleep(200000);
    kill(p1, SIGKILL);
    wait_exit(p1);
    ok(mproc_queue_get(q, b, sizeof(b), &len, 1000) == 0 &&
           mproc_queue_put(q, "y", 1, 0) == 0 &&
           mproc_queue_put(q, "z", 1, 0) == MPROC_ETIMEDOUT &&
           mproc_queue_qsize(q) == 1,
       "window: a producer killed waiting for room leaves maxsize whole");
    mproc_queue_free(q);

    /* A producer killed after the first piece of a large message. */
    q = wqueue(0);
    ok(kill_at(q, "put-partial", put_big), "window: producer stopped "
                                           "mid-message");
    now(&t0);
    r = mproc_queue_get(q, buf, wbig, &len, 5000);
    ms = ms_since(&t0);
    is_int(r, MPROC_EPIPE, "window: the consumer gets EPIPE");
    like_str(mproc_queue_errmsg(q), "broken", "window: saying broken");
    ok(ms < 4000, "window: before its timeout (%ld ms)", ms);
    is_int(mproc_queue_put(q, "x", 1, 0), MPROC_EPIPE,
           "window: producers get EPIPE too (no spliced message)");
    mproc_queue_free(q);

    /* A consumer killed after reading the first bytes of a message (one
     * of several pieces on every backend: mq reads whole chunks). */
    {
        struct mproc__chan_opts co = {.capacity = 65536,
                                      .group = MPROC__LCHAN_MQ_GROUP};
        struct mproc_chan *probe = NULL;
        size_t two;

        mproc__chan_open(&probe, backend, &co, NULL);
        /* Two chunks, and room for it in the transport. */
        two = 2 * mproc__chan_limits(probe)->chunk;
        if (two > mproc__chan_limits(probe)->capacity / 2)
            two = mproc__chan_limits(probe)->capacity / 2;
        mproc__chan_free(probe);
        q = wqueue(0);
        mproc_queue_put(q, buf, two, 0);
    }
    mproc_queue_put(q, "world", 5, 0);
    ok(kill_at(q, "get-partial", get_one), "window: consumer stopped "
                                           "mid-message");
    r = mproc_queue_get(q, b, sizeof(b), &len, 5000);
    is_int(r, MPROC_EPIPE, "window: the next consumer gets EPIPE (broken)");
    like_str(mproc_queue_errmsg(q), "receiving process died",
             "window: saying a consumer died");
    mproc_queue_free(q);

    /* A consumer killed holding a whole message, before delivering it. */
    q = wqueue(2);
    mproc_queue_put(q, "a", 1, 0);
    mproc_queue_put(q, "b", 1, 0);
    ok(kill_at(q, "get-taken", get_one), "window: consumer stopped with a "
                                         "whole message");
    is_int(mproc_queue_qsize(q), 1, "window: its message is counted out");
    ok(mproc_queue_get(q, b, sizeof(b), &len, 1000) == 0 && b[0] == 'b',
       "window: the next message follows");
    ok(holds_two(q), "window: and maxsize 2 still holds 2");
    mproc_queue_free(q);
    free(buf);
    leftovers("queue windows");
}

/* ---- the send rollback (12.17) ---- */

static void
test_rollback(void)
{
    struct mproc__chan_opts o = {.capacity = 4096};
    struct mproc_chan *ch;
    unsigned char m[4000], *big;
    size_t big_len = 100000;
    mproc_err_t err;
    pid_t pid;
    int i, r;

    if (mproc__chan_open(&ch, backend, &o, &err) != 0) {
        ok(0, "rollback: open: %s", err.msg);
        return;
    }
    big = calloc(1, big_len);
    pid = fork();
    if (pid == 0) {
        /* Wait until the parent is done, then read: 17 messages and a
         * clean end. */
        const void *p;
        size_t len;
        int n = 0;

        mproc__chan_close_side(ch, MPROC__CHAN_WR);
        usleep(300000);
        while ((r = mproc__chan_peek(ch, &p, &len, 10000)) == 0) {
            if (len != sizeof(m) || !check(p, len, (unsigned)n))
                _exit(2);
            mproc__chan_consume(ch);
            n++;
        }
        r = n == 17 && r == MPROC_EPIPE &&
                    strstr(mproc__chan_errmsg(ch), "mid-message") == NULL
                ? 0
                : 1;
        mproc__chan_free(ch);
        free(big);
        _exit(r);
    }
    /* The out-buffer fills past a batch and is partly written (its start
     * moves); then a message too large for its room times out. */
    for (i = 0; i < 17; i++) {
        fill(m, sizeof(m), (unsigned)i);
        mproc__chan_send(ch, m, sizeof(m), MPROC__CHAN_MORE, 0);
    }
    r = mproc__chan_send(ch, big, big_len, 0, 50);
    ok(r == MPROC_ETIMEDOUT || r == MPROC_EAGAIN,
       "rollback: a send that could not start times out (%d)", r);
    mproc__chan_close_side(ch, MPROC__CHAN_RD);
    is_int(mproc__chan_flush(ch, 20000), 0, "rollback: the rest flushes");
    mproc__chan_free(ch);
    is_int(wait_exit(pid), 0,
           "rollback: the reader gets the 17 messages whole and a clean end "
           "(nothing of the timed-out one)");
    free(big);
    leftovers("send rollback");
}

int
main(int argc, char **argv)
{
    ssize_t n;

    if (argc >= 2 && strcmp(argv[1], "--echo") == 0)
        return echo_main(argc, argv);
    if (argc != 2) {
        fprintf(stderr, "usage: conformance-ipc BACKEND\n");
        return 2;
    }
    backend = argv[1];
    n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    if (n < 0)
        return 2;
    self_path[n] = '\0';
    /* A hang is a failure, not a stuck test run. */
    alarm(600);
    mq_before = listing("/dev/mqueue");
    shm_before = listing("/dev/shm");
    diag("backend %s, uid %d", backend, (int)getuid());

    if (want("test_open"))
        test_open();
    if (want("test_sizes"))
        test_sizes();
    if (want("test_order"))
        test_order();
    if (want("test_msgsize"))
        test_msgsize();
    if (want("test_erange"))
        test_erange();
    if (want("test_timeouts"))
        test_timeouts();
    if (want("test_close"))
        test_close();
    if (want("test_death"))
        test_death();
    if (want("test_million"))
        test_million();
    if (want("test_pollloop"))
        test_pollloop();
    if (want("test_export"))
        test_export();
    if (want("test_queue_mpmc"))
        test_queue_mpmc(0);
    if (want("test_queue_mpmc"))
        test_queue_mpmc(16);
    if (want("test_queue_death"))
        test_queue_death();
    if (want("test_many"))
        test_many(false);
    if (want("test_many"))
        test_many(true);
    if (want("test_poll_other"))
        test_poll_other();
    if (want("test_fileno"))
        test_fileno();
    if (want("test_eintr"))
        test_eintr();
    if (want("test_queue_windows"))
        test_queue_windows();
    if (want("test_rollback"))
        test_rollback();
    free(mq_before);
    free(shm_before);
    return done_testing();
}

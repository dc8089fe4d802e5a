/* SPDX-License-Identifier: MIT */
/*
 * An MPI rank other than 0: a node agent.  It runs an ordinary local pool
 * of forked workers (mproc_pool_run) on this node, fed with the chunks of
 * items the host sends, and sends each result back.  Plugin code runs in
 * the workers only, never in this rank, so a crashing task costs its
 * item, exactly as on one machine.
 *
 * Two threads.  The pool runs in the main thread; its input callback
 * never touches MPI: it takes items from a queue and, when the queue is
 * empty, answers "not yet" (MPROC_EAGAIN) and the pool waits on an
 * eventfd.  A second thread does every MPI call (so MPI sees one thread
 * at a time: MPI_THREAD_SERIALIZED): it takes messages as MPI_Iprobe sees
 * them, fills the queue, sends the results the pool leaves in an outbox,
 * and says it is alive every node_timeout / 4.  The host silent for
 * node_timeout (one minute or three node_timeouts before its first word)
 * is gone: the pool is stopped, and the agent ends.
 */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "mpi/launcher.h"

struct chunk {
    struct chunk *next;
    unsigned char *buf;
    struct cli_rbuf r;
    uint32_t left; /* items not yet taken */
};

struct ag {
    const struct mproc__mpi_ops *ops;
    int rank;
    int in_fd, cancel_fd, wake_fd; /* eventfds */
    pthread_mutex_t mu;
    /* under mu */
    struct chunk *head, *tail;
    uint64_t *seqs; /* the pool's index & amask -> the host's number */
    uint64_t amask;
    uint64_t taken; /* items handed to the pool */
    uint64_t received, answered;
    struct cli_wbuf out; /* results not yet sent */
    uint32_t nout;
    bool end, host_lost, done;
    int code;
    char msg[512];
    /* the MPI thread's */
    struct cli_sends sends;
    long long timeout_ms;
    char err[512];
};

static int cancel_efd = -1;
static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
    uint64_t one = 1;
    int saved = errno;

    got_signal = sig;
    if (write(cancel_efd, &one, sizeof(one)) < 0) {
        /* The counter is full: a stop is pending already. */
    }
    errno = saved;
}

static void
poke(int fd)
{
    uint64_t one = 1;

    if (write(fd, &one, sizeof(one)) < 0) {
        /* Full: it is readable, which is all that counts. */
    }
}

static void
drain(int fd)
{
    uint64_t v;

    if (read(fd, &v, sizeof(v)) < 0) {
        /* Nothing there (EAGAIN). */
    }
}

/* The pool's input: the next item of the queue, never a wait on MPI. */
static int
next_item(void *user, struct mproc_item *item)
{
    struct ag *g = user;
    int r = MPROC_EAGAIN;

    drain(g->in_fd);
    pthread_mutex_lock(&g->mu);
    while (g->head != NULL && g->head->left == 0) {
        struct chunk *c = g->head;

        g->head = c->next;
        if (g->head == NULL)
            g->tail = NULL;
        free(c->buf);
        free(c);
    }
    if (g->head != NULL) {
        struct chunk *c = g->head;

        g->seqs[g->taken++ & g->amask] = cli_rbuf_u64(&c->r);
        item->data = cli_rbuf_bytes(&c->r, &item->len);
        c->left--;
        r = 1;
    } else if (g->end) {
        r = 0;
    }
    pthread_mutex_unlock(&g->mu);
    return r;
}

static int
on_result(void *user, const struct mproc_result *r)
{
    struct ag *g = user;
    const void *data = r->status == 0 ? r->data : r->message;
    size_t len = r->status == 0 ? r->len : strlen(r->message);
    int bad;

    pthread_mutex_lock(&g->mu);
    bad = cli_wbuf_u64(&g->out, g->seqs[r->index & g->amask]) |
          cli_wbuf_u32(&g->out, (uint32_t)r->status) |
          cli_wbuf_u32(&g->out, r->attempts) |
          cli_wbuf_u32(&g->out, (uint32_t)r->worker) |
          cli_wbuf_f64(&g->out, r->started) |
          cli_wbuf_f64(&g->out, r->duration) |
          cli_wbuf_u32(&g->out, (uint32_t)r->exitcode) |
          cli_wbuf_bytes(&g->out, data, len);
    g->nout++;
    g->answered++;
    pthread_mutex_unlock(&g->mu);
    poke(g->wake_fd);
    return bad != 0; /* out of memory: stop */
}

/* The MPI thread: a message from the host. */
static void
take(struct ag *g, int tag, unsigned char *buf, size_t len)
{
    struct chunk *c;
    uint64_t ring;

    switch (tag) {
    case MPROC__MPI_ITEMS:
        c = calloc(1, sizeof(*c));
        if (c == NULL)
            break;
        c->buf = buf;
        c->r = (struct cli_rbuf){.p = buf, .len = len};
        ring = cli_rbuf_u64(&c->r);
        c->left = cli_rbuf_u32(&c->r);
        pthread_mutex_lock(&g->mu);
        if (g->seqs == NULL && ring > 0 && (ring & (ring - 1)) == 0 &&
            (g->seqs = calloc(ring, sizeof(*g->seqs))) != NULL)
            g->amask = ring - 1;
        if (g->seqs == NULL) {
            /* Malformed or no memory: fall silent, so that the host
             * gives this node up (its items go elsewhere). */
            c->left = 0;
            g->host_lost = true;
            poke(g->cancel_fd);
        }
        g->received += c->left;
        if (g->tail != NULL)
            g->tail->next = c;
        else
            g->head = c;
        g->tail = c;
        pthread_mutex_unlock(&g->mu);
        poke(g->in_fd);
        return; /* buf is the chunk's now */
    case MPROC__MPI_END:
        pthread_mutex_lock(&g->mu);
        g->end = true;
        /* Items still out: the host stopped the run, stop ours. */
        if (g->answered < g->received)
            poke(g->cancel_fd);
        pthread_mutex_unlock(&g->mu);
        poke(g->in_fd);
        break;
    default:
        break; /* PING */
    }
    free(buf);
}

static void
send_results(struct ag *g)
{
    struct cli_wbuf b = {0};

    pthread_mutex_lock(&g->mu);
    if (g->nout > 0 && cli_wbuf_u32(&b, g->nout) == 0 &&
        cli_wbuf_put(&b, g->out.p, g->out.len) == 0) {
        g->out.len = 0;
        g->nout = 0;
    }
    pthread_mutex_unlock(&g->mu);
    if (b.len > 0 && cli_sends_start(&g->sends, g->ops, 0, MPROC__MPI_RESULTS,
                                     &b, g->err, sizeof(g->err)) < 0)
        cli_wbuf_free(&b);
}

static void
send_simple(struct ag *g, int tag, struct cli_wbuf *b)
{
    struct cli_wbuf empty = {0};

    if (b == NULL)
        b = &empty;
    if (cli_sends_start(&g->sends, g->ops, 0, tag, b, g->err, sizeof(g->err)) <
        0)
        cli_wbuf_free(b);
}

static void *
mpi_thread(void *user)
{
    struct ag *g = user;
    long long heard = mproc__now_ms(), ping = 0, now, end_at = 0;
    long long first = g->timeout_ms * 3 > 60000 ? g->timeout_ms * 3 : 60000;
    bool heard_once = false, done, bye = false;
    unsigned rounds = 0;
    int src, tag;
    size_t len;

    for (;;) {
        bool busy = false;

        while (g->ops->iprobe(&src, &tag, &len, g->err, sizeof(g->err)) == 1) {
            unsigned char *buf = malloc(len ? len : 1);

            if (buf == NULL ||
                g->ops->recv(src, tag, buf, len, g->err, sizeof(g->err)) < 0) {
                free(buf);
                break;
            }
            busy = true;
            heard = mproc__now_ms();
            heard_once = true;
            take(g, tag, buf, len);
        }
        send_results(g);
        cli_sends_poll(&g->sends, g->ops, -1);
        now = mproc__now_ms();
        /* Given up (host_lost): silent, so the host gives us up too. */
        if (!g->host_lost && now - ping >= g->timeout_ms / 4) {
            ping = now;
            send_simple(g, MPROC__MPI_PING, NULL);
        }
        pthread_mutex_lock(&g->mu);
        done = g->done;
        if (!g->host_lost &&
            now - heard > (heard_once ? g->timeout_ms : first)) {
            g->host_lost = true;
            poke(g->cancel_fd);
        }
        pthread_mutex_unlock(&g->mu);
        if (done && g->host_lost)
            break;
        if (done && !bye) {
            struct cli_wbuf b = {0};

            send_results(g);
            if (cli_wbuf_u32(&b, (uint32_t)g->code) == 0 &&
                cli_wbuf_bytes(&b, g->msg, strlen(g->msg)) == 0)
                send_simple(g, MPROC__MPI_BYE, &b);
            else
                cli_wbuf_free(&b);
            bye = true;
            end_at = now + g->timeout_ms;
        }
        /* Gone once the host has every byte (or it is silent too long). */
        if (bye && (cli_sends_poll(&g->sends, g->ops, -1) == 0 || now > end_at))
            break;
        if (busy) {
            rounds = 0;
        } else if (++rounds < 16) {
            sched_yield();
        } else {
            cli_mpi_nap(g->wake_fd, CLI_MPI_NAP_US);
            drain(g->wake_fd);
        }
    }
    return NULL;
}

static int
efd(void)
{
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int
cli_mpi_agent(const struct mproc__mpi_ops *ops, int rank, const char *node,
              struct cli_job *cj)
{
    static struct ag ag; /* one per process */
    struct ag *g = &ag;
    struct mproc__job job = *cj->job;
    struct cli_job mine = *cj;
    struct cli_wbuf hello = {0};
    mproc_sync_t *shared = NULL;
    mproc_pool_t *pool = NULL;
    struct sigaction sa;
    pthread_t th;
    const char *why;
    int rc = CLI_EXIT_SOFTWARE, r;

    g->ops = ops;
    g->rank = rank;
    g->timeout_ms = cj->job->node_timeout_ms;
    pthread_mutex_init(&g->mu, NULL);
    g->in_fd = efd();
    g->cancel_fd = cancel_efd = efd();
    g->wake_fd = efd();
    if (g->in_fd < 0 || g->cancel_fd < 0 || g->wake_fd < 0) {
        cli_error("rank %d: eventfd: %s", rank, strerror(errno));
        goto fail;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* The host orders, stops on a failure and reduces: ours runs every
     * item it gets, in any order. */
    job.ordered = false;
    job.on_error = MPROC__ON_ERROR_CONTINUE;
    mine.job = &job;
    r = cli_shared_new(&mine, &shared);
    if (r == 0)
        r = cli_pool_new(&mine, shared, &pool, g->cancel_fd, g->in_fd, NULL);
    why = r == 0 ? "" : "its pool could not be made (its messages say why)";
    if (cli_wbuf_u32(&hello, r == 0 ? mproc_pool_workers(pool) : 0) < 0 ||
        cli_wbuf_bytes(&hello, node, strlen(node)) < 0 ||
        cli_wbuf_bytes(&hello, why, strlen(why)) < 0)
        goto fail;
    send_simple(g, MPROC__MPI_HELLO, &hello);
    if (r != 0) {
        /* Said; stay until the host has heard it. */
        g->done = true;
        g->code = MPROC_EINIT;
        mpi_thread(g);
        rc = r;
        goto fail;
    }
    if (pthread_create(&th, NULL, mpi_thread, g) != 0) {
        cli_error("rank %d: cannot start a thread", rank);
        goto fail;
    }
    r = mproc_pool_run(pool, next_item, on_result, g);
    pthread_mutex_lock(&g->mu);
    g->done = true;
    g->code = r;
    if (r == MPROC_EINIT)
        snprintf(g->msg, sizeof(g->msg), "%s", mproc_pool_errmsg(pool));
    pthread_mutex_unlock(&g->mu);
    poke(g->wake_fd);
    pthread_join(th, NULL);
    /* Interrupted like the host (mpiexec passes ^C to every rank): the
     * same status, whichever rank's the MPI launcher reports. */
    rc = g->host_lost ? CLI_EXIT_SOFTWARE
         : got_signal ? CLI_EXIT_INTERRUPTED
                      : 0;
    if (g->host_lost)
        cli_error("rank %d on %s: the host (rank 0) is silent for %.1f s; "
                  "leaving",
                  rank, node, (double)g->timeout_ms / 1000.0);
fail:
    mproc_pool_free(pool);
    mproc_sync_free(shared);
    return rc;
}

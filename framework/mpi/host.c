/* SPDX-License-Identifier: MIT */
/*
 * Rank 0 of an MPI run: the host's scheduler, in place of the local
 * pool's.  It reads items with the host's own callback, sends them in
 * chunks to the agents (each a "worker" that runs many tasks at once,
 * with a bounded window of items), takes their results, one per item,
 * and hands them to the host's result callback: numbered as the local
 * pool numbers them, and in input order when the job is ordered.  So
 * the output, the job log, --resume and the counts are those of a local
 * run.
 *
 * Nothing here waits on a peer: sends are non-blocking, messages are
 * taken when MPI_Iprobe has seen them, and between rounds the host
 * naps 200 us at most (MPI gives no descriptor to poll).  Each
 * agent says it is alive every node_timeout / 4; one silent for
 * node_timeout is lost: its items in flight go to the others while
 * [job] retries allows (and one is left), else fail naming the node,
 * and the run goes on with the others; at the end mproc exits 1 through
 * MPI_Abort, which ends what is left of that node.
 */
#include "internal.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mpi/launcher.h"
#include "pool/pool_int.h"
#include "util/buf_int.h"

enum { S_FREE, S_QUEUED, S_SENT, S_DONE };

struct hslot {
    unsigned char *item;
    uint32_t len;
    int state;
    int agent; /* index in h->a[] while S_SENT */
    unsigned attempts;
    int status;
    unsigned char *out; /* output (status 0) or message */
    size_t out_len;
    pid_t worker;
    double started, duration;
    int exitcode;
};

struct agent {
    int rank;
    char node[128];
    unsigned workers, window, inflight;
    long long heard_ms;
    bool hello, lost, ended, bye;
};

struct host {
    const struct mproc__mpi_ops *ops;
    struct mproc_pool *pool;
    const struct mproc__job *job;
    int (*next)(void *, struct mproc_item *);
    int (*result)(void *, const struct mproc_result *);
    void *user;
    struct agent *a;
    int na, alive;
    struct hslot *s; /* ring: seq & mask */
    uint64_t mask, base, next_seq;
    uint64_t *rq; /* seqs to send again (ring of the same size) */
    uint64_t rq_head, rq_len;
    unsigned chunk;
    bool source_done, input_wait, stopping;
    bool gap; /* ordered: an item was delivered cancelled (deliver) */
    int stop_code;
    long long timeout_ms, beat_ms, last_ping;
    struct cli_sends sends;
    char err[512];
};

static struct host H; /* one run per process */

static void
stop(struct host *h, int code)
{
    if (!h->stopping) {
        h->stopping = true;
        h->stop_code = code;
    }
}

/* Why the run failed, for mproc_pool_errmsg() (no pool: the host ended
 * before its run, and said why). */
static void
set_errmsg(struct host *h, const char *msg)
{
    if (h->pool != NULL)
        mproc__pool_set_errmsg(h->pool, msg);
}

static void
send_to(struct host *h, struct agent *a, int tag, struct cli_wbuf *b)
{
    struct cli_wbuf empty = {0};

    if (b == NULL)
        b = &empty;
    if (cli_sends_start(&h->sends, h->ops, a->rank, tag, b, h->err,
                        sizeof(h->err)) < 0) {
        /* Said once the heartbeats tell the node is gone. */
    }
    cli_wbuf_free(b);
}

static struct hslot *
slot(struct host *h, uint64_t seq)
{
    return &h->s[seq & h->mask];
}

static void deliver(struct host *h, uint64_t seq);

/* A result for seq, from an agent or made here. */
static void
complete(struct host *h, uint64_t seq, int status, const void *data, size_t len)
{
    struct hslot *s = slot(h, seq);

    s->state = S_DONE;
    s->status = status;
    s->out = malloc(len + 1);
    if (s->out != NULL) {
        memcpy(s->out, data, len);
        s->out[len] = '\0';
        s->out_len = len;
    } else {
        s->status = MPROC_ENOMEM;
        s->out_len = 0;
    }
    if (!h->job->ordered) /* as it comes; advance() moves past it */
        deliver(h, seq);
}

static void
deliver(struct host *h, uint64_t seq)
{
    struct hslot *s = slot(h, seq);
    char msg[MPROC__FAILMSG_MAX + 16];
    struct mproc_result r = {
        .index = seq,
        .status = s->status,
        .item = s->item,
        .item_len = s->len,
        .worker = s->worker,
        .attempts = s->attempts,
        .started = s->started,
        .duration = s->duration,
        .exitcode = s->exitcode,
    };

    /* Ordered: nothing after an item that did not run (the pool's rule,
     * pool/items.c deliver()): the output stays a prefix of the input. */
    if (h->job->ordered && h->gap && r.status != MPROC_ECANCELED)
        r.status = MPROC_ECANCELED;
    if (h->job->ordered && r.status == MPROC_ECANCELED)
        h->gap = true;
    if (r.status == MPROC_ECANCELED && s->status == 0) {
        r.message = "not delivered: an earlier item did not run (the run "
                    "was stopped)";
    } else if (r.status == MPROC_ECANCELED && s->status != MPROC_ECANCELED) {
        /* A failure is still news; its output and log line are not. */
        snprintf(msg, sizeof(msg), "%s: %s", MPROC__HELD_FAILED,
                 s->out != NULL ? (const char *)s->out : "out of memory");
        r.message = msg;
    } else if (r.status != 0) {
        r.message = s->out != NULL ? (const char *)s->out : "out of memory";
    } else if (mproc__pool_reduce_feed(h->pool, s->out, s->out_len, seq, msg,
                                       sizeof(msg)) < 0) {
        r.status = MPROC_ETASK;
        r.message = msg;
    } else {
        r.data = s->out;
        r.len = s->out_len;
    }
    if (h->result(h->user, &r) != 0)
        stop(h, MPROC_ECANCELED);
    if (r.status != 0 && r.status != MPROC_ECANCELED &&
        h->job->on_error == MPROC__ON_ERROR_ABORT)
        stop(h, MPROC_ECANCELED);
    free(s->item);
    free(s->out);
    memset(s, 0, sizeof(*s));
}

/* Move past what is delivered, delivering (ordered) what is done. */
static void
advance(struct host *h)
{
    while (h->base < h->next_seq) {
        struct hslot *s = slot(h, h->base);

        if (s->state == S_DONE)
            deliver(h, h->base);
        else if (s->state != S_FREE)
            break;
        h->base++;
    }
}

/* The agent stopped answering: its items go elsewhere or fail. */
static void
lose(struct host *h, struct agent *a, const char *why)
{
    unsigned moved = 0, failed = 0;
    char msg[300];
    uint64_t q;

    a->lost = true;
    h->alive--;
    cli_mpi_lost();
    snprintf(msg, sizeof(msg), "node %s (rank %d) lost: %s", a->node, a->rank,
             why);
    for (q = h->base; q < h->next_seq; q++) {
        struct hslot *s = slot(h, q);

        if (s->state != S_SENT || s->agent != a - h->a)
            continue;
        if (s->attempts <= h->job->retries && h->alive > 0 && !h->stopping) {
            s->state = S_QUEUED;
            h->rq[(h->rq_head + h->rq_len++) & h->mask] = q;
            moved++;
        } else {
            complete(h, q, MPROC_EWORKER, msg, strlen(msg));
            failed++;
        }
    }
    a->inflight = 0;
    cli_error("%s; %u of its items failed, %u sent to other nodes "
              "([job] retries); %d node%s left",
              msg, failed, moved, h->alive, h->alive == 1 ? "" : "s");
}

static void
take_results(struct host *h, struct agent *a, struct cli_rbuf *r)
{
    uint32_t n = cli_rbuf_u32(r), i;

    for (i = 0; i < n && !r->bad; i++) {
        uint64_t seq = cli_rbuf_u64(r);
        int status = (int)cli_rbuf_u32(r);
        unsigned attempts = cli_rbuf_u32(r);
        pid_t worker = (pid_t)cli_rbuf_u32(r);
        double started = cli_rbuf_f64(r), duration = cli_rbuf_f64(r);
        int exitcode = (int)cli_rbuf_u32(r);
        size_t len;
        const void *data = cli_rbuf_bytes(r, &len);
        struct hslot *s;

        if (r->bad || seq < h->base || seq >= h->next_seq)
            break;
        s = slot(h, seq);
        if (s->state != S_SENT || s->agent != a - h->a)
            continue; /* a late answer from a node given up on */
        a->inflight--;
        /* The agent's attempts add to those made on lost nodes. */
        s->attempts += attempts > 0 ? attempts - 1 : 0;
        s->worker = worker;
        s->started = started;
        s->duration = duration;
        s->exitcode = exitcode;
        complete(h, seq, status, data, len);
    }
}

/* Take every message waiting; true when one came. */
static bool
receive(struct host *h)
{
    bool got = false;
    int src, tag;
    size_t len;
    struct cli_wbuf in = {0};

    while (h->ops->iprobe(&src, &tag, &len, h->err, sizeof(h->err)) == 1) {
        struct cli_rbuf r;
        struct agent *a;

        in.len = 0;
        if (cli_wbuf_put(&in, NULL, len) < 0 ||
            h->ops->recv(src, tag, in.p, len, h->err, sizeof(h->err)) < 0)
            break;
        got = true;
        if (src < 1 || src > h->na)
            continue;
        a = &h->a[src - 1];
        a->heard_ms = mproc__now_ms();
        if (a->lost)
            continue;
        r = (struct cli_rbuf){.p = in.p, .len = len};
        switch (tag) {
        case MPROC__MPI_HELLO: {
            size_t n;
            const char *node, *msg;

            a->workers = cli_rbuf_u32(&r);
            node = cli_rbuf_bytes(&r, &n);
            snprintf(a->node, sizeof(a->node), "%.*s", (int)n, node);
            msg = cli_rbuf_bytes(&r, &n);
            a->hello = true;
            if (a->workers == 0) {
                char m[600];

                snprintf(m, sizeof(m), "node %s (rank %d): %.*s", a->node,
                         a->rank, (int)n, msg);
                set_errmsg(h, m);
                stop(h, MPROC_EINIT);
                a->bye = true; /* it has left */
            }
            break;
        }
        case MPROC__MPI_RESULTS:
            take_results(h, a, &r);
            break;
        case MPROC__MPI_BYE: {
            int code = (int)cli_rbuf_u32(&r);
            size_t n;
            const char *msg = cli_rbuf_bytes(&r, &n);

            a->bye = true;
            if (code == MPROC_EINIT) {
                char m[600];

                snprintf(m, sizeof(m), "node %s (rank %d): %.*s", a->node,
                         a->rank, (int)n, msg);
                set_errmsg(h, m);
                stop(h, MPROC_EINIT);
            } else if (code == MPROC_ECANCELED && !a->ended) {
                char m[300];

                /* SIGINT or SIGTERM there (mpiexec passes ^C to every
                 * rank): the run stops; what it held is not run. */
                snprintf(m, sizeof(m),
                         "node %s (rank %d) stopped its tasks (SIGINT or "
                         "SIGTERM)",
                         a->node, a->rank);
                set_errmsg(h, m);
                stop(h, MPROC_EWORKER);
            } else if (a->inflight > 0 && !a->ended) {
                char why[160];

                /* Its pool ended early (no worker could start...). */
                snprintf(why, sizeof(why), "its pool stopped: %s",
                         mproc_strerror(code));
                lose(h, a, why);
            }
            break;
        }
        default:
            break; /* PING: heard is all it says */
        }
    }
    cli_wbuf_free(&in);
    return got;
}

/* Give a free agent its next chunk; true when one was sent. */
static bool
feed(struct host *h, struct agent *a)
{
    struct cli_wbuf b = {0};
    uint32_t n = 0;
    struct mproc_item it;
    uint64_t seq;
    size_t keep;
    int r;

    /* Whole chunks only (a few items each time a result comes would cost
     * a message each), but for the last of the input. */
    if (a->lost || !a->hello || a->ended ||
        a->window - a->inflight < (h->source_done ? 1 : h->chunk))
        return false;
    /* Room for the count, filled in at the end. */
    if (cli_wbuf_u64(&b, h->mask + 1) < 0 || cli_wbuf_u32(&b, 0) < 0)
        goto fail;
    while (n < h->chunk && a->inflight < a->window && !h->stopping) {
        struct hslot *s;

        if (h->rq_len > 0) {
            seq = h->rq[h->rq_head++ & h->mask];
            h->rq_len--;
            s = slot(h, seq);
        } else {
            if (h->source_done || h->input_wait ||
                h->next_seq - h->base > h->mask)
                break;
            it.data = NULL;
            it.len = 0;
            r = h->next(h->user, &it);
            if (r == 0) {
                h->source_done = true;
                break;
            }
            if (r == MPROC_EAGAIN) {
                h->input_wait = true;
                break;
            }
            if (r < 0) {
                h->source_done = true;
                stop(h, r);
                break;
            }
            /* Of a cut item (pool_int.h), only the start its source
             * kept. */
            keep = r == MPROC__ITEM_CUT && it.len > MPROC__ITEM_CUT_KEEP
                       ? MPROC__ITEM_CUT_KEEP
                       : it.len;
            seq = h->next_seq++;
            s = slot(h, seq);
            memset(s, 0, sizeof(*s));
            s->item = malloc(keep + 1);
            if (s->item == NULL)
                goto fail;
            memcpy(s->item, it.data, keep);
            s->item[keep] = '\0';
            s->len = (uint32_t)keep;
            if (r == MPROC__ITEM_CUT || it.len > h->job->message_max ||
                it.len > UINT32_MAX) {
                char m[160];

                snprintf(m, sizeof(m),
                         "item is %zu bytes, more than message_max (%zu)",
                         it.len, h->job->message_max);
                complete(h, seq, MPROC_EMSGSIZE, m, strlen(m));
                continue;
            }
        }
        s->state = S_SENT;
        s->agent = (int)(a - h->a);
        s->attempts++;
        a->inflight++;
        if (cli_wbuf_u64(&b, seq) < 0 ||
            cli_wbuf_bytes(&b, s->item, s->len) < 0)
            goto fail;
        n++;
    }
    if (n == 0) {
        cli_wbuf_free(&b);
        return false;
    }
    memcpy(b.p + sizeof(uint64_t), &n, sizeof(n));
    send_to(h, a, MPROC__MPI_ITEMS, &b);
    return true;
fail:
    cli_wbuf_free(&b);
    cli_error("out of memory");
    stop(h, MPROC_ENOMEM);
    return false;
}

/* Every agent that has not said it left: silent too long is lost. */
static void
watch(struct host *h, long long now)
{
    int i;
    char why[96];

    for (i = 0; i < h->na; i++) {
        struct agent *a = &h->a[i];

        if (a->lost || a->bye || now - a->heard_ms <= h->timeout_ms)
            continue;
        if (!a->hello)
            snprintf(a->node, sizeof(a->node), "?");
        snprintf(why, sizeof(why), "no word from it for %.1f s (%s)",
                 (double)(now - a->heard_ms) / 1000.0,
                 a->hello ? "node_timeout" : "it never started");
        lose(h, a, why);
    }
    if (now - h->last_ping >= h->beat_ms) {
        h->last_ping = now;
        for (i = 0; i < h->na; i++)
            if (!h->a[i].lost && !h->a[i].bye)
                send_to(h, &h->a[i], MPROC__MPI_PING, NULL);
    }
}

/* The run stopped: what is not delivered ends as not run. */
static void
cancel_rest(struct host *h)
{
    uint64_t q;
    int i;

    for (q = h->base; q < h->next_seq; q++) {
        struct hslot *s = slot(h, q);

        if (s->state == S_SENT || s->state == S_QUEUED)
            complete(h, q, MPROC_ECANCELED, "the run stopped", 15);
    }
    h->rq_len = 0;
    for (i = 0; i < h->na; i++)
        h->a[i].inflight = 0;
    advance(h);
}

/* Nothing happened: yield a few rounds, then nap. */
static void
idle(struct host *h, unsigned *rounds, int cancel_fd, int input_fd)
{
    if (++*rounds < 16) {
        sched_yield();
        return;
    }
    cli_mpi_nap(h->input_wait ? input_fd : cancel_fd, CLI_MPI_NAP_US);
    if (h->input_wait)
        h->input_wait = false; /* ask again */
}

static int
setup(struct host *h)
{
    long long t0 = mproc__now_ms(), now;
    unsigned total = 0, cap = 1;
    int i, got = 0;

    h->na = cli_mpi_size() - 1;
    h->alive = h->na;
    h->a = calloc((size_t)h->na, sizeof(*h->a));
    if (h->a == NULL)
        return MPROC_ENOMEM;
    for (i = 0; i < h->na; i++) {
        h->a[i].rank = i + 1;
        h->a[i].heard_ms = t0;
        snprintf(h->a[i].node, sizeof(h->a[i].node), "?");
    }
    h->timeout_ms = cli_mpi_timeout();
    h->beat_ms = h->timeout_ms / 4;
    /* Every agent says hello once its pool is made. */
    while (got < h->alive && !h->stopping) {
        unsigned rounds = 0;

        receive(h);
        for (got = 0, i = 0; i < h->na; i++)
            got += h->a[i].hello && !h->a[i].lost;
        now = mproc__now_ms();
        watch(h, now);
        if (h->alive == 0)
            break;
        idle(h, &rounds, -1, -1);
    }
    /* chunksize auto: the local pool's choice from the input's size, or
     * (size unknown) a fixed 32: a round trip to a node costs more than
     * one to a local worker. */
    h->chunk = h->job->chunksize;
    if (h->chunk == 0)
        h->chunk = mproc__pool_chunksize(h->pool);
    if (h->chunk == 0)
        h->chunk = 32;
    for (i = 0; i < h->na; i++) {
        struct agent *a = &h->a[i];
        unsigned w = a->workers ? a->workers : 1;

        a->window = h->chunk * w * 4 > 64 ? h->chunk * w * 4 : 64;
        total += a->window;
    }
    while (cap < total)
        cap *= 2;
    h->mask = cap - 1;
    h->s = calloc(cap, sizeof(*h->s));
    h->rq = calloc(cap, sizeof(*h->rq));
    if (h->s == NULL || h->rq == NULL)
        return MPROC_ENOMEM;
    return 0;
}

int
cli_mpi_host_run(struct mproc_pool *pool, const struct mproc__job *job,
                 int cancel_fd, int input_fd, void (*on_idle)(void *),
                 int (*next)(void *, struct mproc_item *),
                 int (*result)(void *, const struct mproc_result *), void *user)
{
    struct host *h = &H;
    unsigned rounds = 0;
    bool busy;
    int i, r;

    h->ops = cli_mpi_ops();
    h->pool = pool;
    h->job = job;
    h->next = next;
    h->result = result;
    h->user = user;
    r = setup(h);
    if (r < 0) {
        set_errmsg(h, "out of memory");
        return r;
    }
    while (h->alive > 0 && !h->stopping) {
        busy = receive(h);
        cli_sends_poll(&h->sends, h->ops, -1);
        watch(h, mproc__now_ms());
        if (cli_mpi_ready(cancel_fd)) {
            set_errmsg(h, "cancelled");
            stop(h, MPROC_ECANCELED);
        }
        for (i = 0; i < h->na; i++)
            busy |= feed(h, &h->a[i]);
        advance(h);
        if (h->source_done && h->rq_len == 0 && h->base == h->next_seq)
            break;
        if (busy) {
            rounds = 0;
            continue;
        }
        if (rounds == 15 && on_idle != NULL)
            on_idle(user);
        idle(h, &rounds, cancel_fd, input_fd);
    }
    if (h->alive == 0 && !h->stopping) {
        cli_error("no node is left to run the tasks");
        stop(h, 0);
    }
    cancel_rest(h);
    mproc__pool_ran_elsewhere(h->pool);
    if (on_idle != NULL)
        on_idle(user);
    cli_mpi_host_end();
    return h->stopping ? h->stop_code : 0;
}

/*
 * Tell every agent to leave, and wait (node_timeout at most, watching
 * the heartbeats) until each said it did.  Also when the host ended
 * before it ran (a bad output file...): the agents wait for it.
 */
void
cli_mpi_host_end(void)
{
    struct host *h = &H;
    unsigned rounds = 0;
    int i, left;

    if (h->ops == NULL) {
        /* Not run: hear the hellos first, so nothing is left unread. */
        h->ops = cli_mpi_ops();
        h->job = NULL;
        h->na = cli_mpi_size() - 1;
        h->alive = h->na;
        h->a = calloc((size_t)h->na, sizeof(*h->a));
        if (h->a == NULL)
            return;
        for (i = 0; i < h->na; i++) {
            h->a[i].rank = i + 1;
            h->a[i].heard_ms = mproc__now_ms();
            snprintf(h->a[i].node, sizeof(h->a[i].node), "?");
        }
        h->timeout_ms = cli_mpi_timeout();
        h->beat_ms = h->timeout_ms / 4;
    }
    for (;;) {
        receive(h);
        cli_sends_poll(&h->sends, h->ops, -1);
        for (left = 0, i = 0; i < h->na; i++) {
            struct agent *a = &h->a[i];

            if (a->lost || a->bye)
                continue;
            if (!a->ended) {
                send_to(h, a, MPROC__MPI_END, NULL);
                a->ended = true;
            }
            left++;
        }
        if (left == 0)
            break;
        watch(h, mproc__now_ms());
        idle(h, &rounds, -1, -1);
    }
    /* Our sends are done, or their peer is gone (then MPI_Abort). */
    for (i = 0; i < 1000 && cli_sends_poll(&h->sends, h->ops, -1) > 0; i++)
        cli_mpi_nap(-1, 1000);
}

/* After MPI_Finalize (MPI may read a send's buffer until then). */
void
cli_mpi_host_free(void)
{
    struct host *h = &H;
    uint64_t q;

    if (h->s != NULL)
        for (q = h->base; q < h->next_seq; q++) {
            free(slot(h, q)->item);
            free(slot(h, q)->out);
        }
    cli_sends_free(&h->sends);
    free(h->s);
    free(h->rq);
    free(h->a);
    memset(h, 0, sizeof(*h));
}

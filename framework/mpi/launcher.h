/* SPDX-License-Identifier: MIT */
/*
 * The MPI launcher (`[pool] launcher = mpi`): rank 0 is the host (what
 * `mproc run` always is: input, ordering, output, job log, retries), and
 * every other rank is a node agent running an ordinary local pool of
 * forked workers.  Plugin code never runs in an MPI rank itself, so a
 * crashing task costs its item, never the MPI job.
 *
 * The seam has two halves.  mproc-mpi.so, the only code built with the
 * MPI compiler, is a thin table of message calls (struct mproc__mpi_ops),
 * dlopen()ed when a job asks for it: libmproc and mproc never link
 * libmpi.  Everything else (the host's scheduler, host.c; the agent,
 * agent.c; the wire format, wire.c) is plain C in the mproc program.
 */
#ifndef MPROC_MPI_LAUNCHER_H
#define MPROC_MPI_LAUNCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mproc/mproc.h>

/* Bumped when the table changes: a module of another build is refused. */
#define MPROC__MPI_ABI 1

/* The symbol mproc-mpi.so exports. */
#define MPROC__MPI_SYMBOL "mproc__mpi_module"

/*
 * What the module does, with MPI_ERRORS_RETURN on MPI_COMM_WORLD: every
 * call returns 0 or -1 with err[] set, and none waits for a peer (sends
 * are non-blocking, receives only take a message iprobe() has seen), so
 * a lost or stopped peer never hangs the caller.  Only one thread calls.
 */
struct mproc__mpi_ops {
    unsigned abi;
    size_t size; /* sizeof(struct mproc__mpi_ops) */
    /* MPI_Init_thread (serialized); rank, size, this node's name. */
    int (*init)(int *rank, int *size, char *node, size_t node_cap, char *err,
                size_t cap);
    /* Start sending `len` bytes of `buf` (borrowed until test() says
     * done) to rank `dest`; *req is freed by test() once done. */
    int (*isend)(int dest, int tag, const void *buf, size_t len, void **req,
                 char *err, size_t cap);
    /* 1: the send is done (req freed); 0: not yet. */
    int (*test)(void *req, char *err, size_t cap);
    /* 1: a message waits (its source, tag and length); 0: none. */
    int (*iprobe)(int *src, int *tag, size_t *len, char *err, size_t cap);
    /* Take the message iprobe() reported (it is there: no wait). */
    int (*recv)(int src, int tag, void *buf, size_t len, char *err, size_t cap);
    void (*finalize)(void);
    /* Ends every rank (the MPI library kills those that do not answer). */
    void (*abort)(int code);
    /* "MPICH Version: 4.0.2 ..." */
    const char *(*library)(void);
};

/* Message tags. */
enum {
    MPROC__MPI_HELLO = 1, /* agent -> host: workers, node name, error */
    MPROC__MPI_ITEMS,     /* host -> agent: ring size, a chunk of items */
    MPROC__MPI_END,       /* host -> agent: no more items (or stop now) */
    MPROC__MPI_PING,      /* either way: I am alive */
    MPROC__MPI_RESULTS,   /* agent -> host: results, one per item */
    MPROC__MPI_BYE        /* agent -> host: every result sent, leaving */
};

/* ---- wire.c: a growing byte buffer and a reader ---- */
struct cli_wbuf {
    unsigned char *p;
    size_t len, cap;
};
int cli_wbuf_put(struct cli_wbuf *b, const void *data, size_t len);
int cli_wbuf_u32(struct cli_wbuf *b, uint32_t v);
int cli_wbuf_u64(struct cli_wbuf *b, uint64_t v);
int cli_wbuf_f64(struct cli_wbuf *b, double v);
int cli_wbuf_bytes(struct cli_wbuf *b, const void *data, size_t len);
void cli_wbuf_free(struct cli_wbuf *b);

struct cli_rbuf {
    const unsigned char *p;
    size_t len, off;
    bool bad; /* read past the end: the message is malformed */
};
uint32_t cli_rbuf_u32(struct cli_rbuf *r);
uint64_t cli_rbuf_u64(struct cli_rbuf *r);
double cli_rbuf_f64(struct cli_rbuf *r);
/* A length-prefixed byte string, borrowed from the message. */
const void *cli_rbuf_bytes(struct cli_rbuf *r, size_t *len);

/* Sends in flight: the buffer is kept until MPI is done with it. */
struct cli_send {
    void *req;
    unsigned char *buf;
    int dest;
};
struct cli_sends {
    struct cli_send *v;
    size_t n, cap;
};
/* Send b's bytes (taken: b is emptied). */
int cli_sends_start(struct cli_sends *s, const struct mproc__mpi_ops *ops,
                    int dest, int tag, struct cli_wbuf *b, char *err,
                    size_t cap);
/* Reap finished sends; how many are left (to `dest`, or all: -1). */
size_t cli_sends_poll(struct cli_sends *s, const struct mproc__mpi_ops *ops,
                      int dest);
/* Free the buffers (after finalize or abort only: MPI may read them). */
void cli_sends_free(struct cli_sends *s);

/* ---- launch.c: what cmd_run.c calls ---- */
struct cli_job;
struct mproc__job;
struct mproc_pool;

/*
 * When the job says launcher = mpi: load the module and start MPI.
 * Returns -1 in rank 0 (go on: this process is the host), else the exit
 * status to end with (an agent's, once its part is done, or a failure to
 * load or start, printed).
 */
int cli_mpi_start(struct cli_job *cj);
/* True in rank 0 of an MPI run. */
bool cli_mpi_host(void);
/* The end of rank 0: MPI_Finalize, or MPI_Abort(rc) when a node was lost
 * (the library then ends what is left of it).  Returns rc. */
int cli_mpi_finish(int rc);

/*
 * host.c: rank 0's stand-in for mproc_pool_run(pool, next, result, user):
 * the same callbacks, results numbered and (ordered) ordered the same;
 * the items run on the agents.  `pool` is the host's local pool, which
 * never starts a worker: only its reduce runs here.
 */
int cli_mpi_host_run(struct mproc_pool *pool, const struct mproc__job *job,
                     int cancel_fd, int input_fd, void (*on_idle)(void *),
                     int (*next)(void *, struct mproc_item *),
                     int (*result)(void *, const struct mproc_result *),
                     void *user);

/* host.c: tell every agent to leave and hear it did (bounded); once,
 * also when the host ended before its run. */
void cli_mpi_host_end(void);
/* Free what the host kept, after MPI_Finalize. */
void cli_mpi_host_free(void);

/* agent.c: ranks > 0; the exit status. */
int cli_mpi_agent(const struct mproc__mpi_ops *ops, int rank, const char *node,
                  struct cli_job *cj);

/* Shared by host.c and agent.c (launch.c). */
const struct mproc__mpi_ops *cli_mpi_ops(void);
int cli_mpi_size(void);
const char *cli_mpi_node(void);
/* The job's node_timeout (ms). */
long long cli_mpi_timeout(void);
/* fd is readable now (never waits). */
bool cli_mpi_ready(int fd);
/* A node was lost: end with MPI_Abort. */
void cli_mpi_lost(void);
/* Sleep at most `us` microseconds, or less when fd (>= 0) gets readable.
 * MPI gives no descriptor to wait on: who waits for a message naps. */
#define CLI_MPI_NAP_US 200
void cli_mpi_nap(int fd, long us);

#endif

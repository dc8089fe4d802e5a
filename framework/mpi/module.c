/* SPDX-License-Identifier: MIT */
/*
 * mproc-mpi.so: the only code built with the MPI compiler (mpicc).  A
 * table of thin calls on MPI_COMM_WORLD, with MPI_ERRORS_RETURN so that
 * an error comes back as a status instead of aborting the job, and only
 * calls that never wait for a peer: MPI_Isend, MPI_Test, MPI_Iprobe, and
 * MPI_Recv of a message MPI_Iprobe has seen.  Only the standard API, so
 * that MPICH and Open MPI both do; never ULFM (Debian ships none).
 */
#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/launcher.h"

static void
say(int code, const char *what, char *err, size_t cap)
{
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;

    if (MPI_Error_string(code, s, &n) != MPI_SUCCESS)
        snprintf(s, sizeof(s), "MPI error %d", code);
    snprintf(err, cap, "%s: %s", what, s);
}

static int
init(int *rank, int *size, char *node, size_t node_cap, char *err, size_t cap)
{
    char name[MPI_MAX_PROCESSOR_NAME];
    struct sigaction sa;
    int got, len = 0, r;

    /* Hydra (MPICH) tells the ranks left with SIGUSR1 that one failed;
     * its default action would end this rank before we can say which
     * node went: the heartbeats find it instead. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGUSR1, &sa, NULL);
    /* Serialized: the agent's MPI calls are all in one thread, not the
     * one that called MPI_Init. */
    r = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &got);
    if (r != MPI_SUCCESS) {
        snprintf(err, cap, "MPI_Init_thread failed (%d)", r);
        return -1;
    }
    if (got < MPI_THREAD_SERIALIZED) {
        snprintf(err, cap, "the MPI library offers no MPI_THREAD_SERIALIZED");
        return -1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    if (MPI_Get_processor_name(name, &len) != MPI_SUCCESS)
        snprintf(name, sizeof(name), "?");
    snprintf(node, node_cap, "%s", name);
    return 0;
}

static int
isend(int dest, int tag, const void *buf, size_t len, void **req, char *err,
      size_t cap)
{
    MPI_Request *q = malloc(sizeof(*q));
    int r;

    if (q == NULL || len > INT_MAX) {
        free(q);
        snprintf(err, cap, "cannot send %zu bytes", len);
        return -1;
    }
    r = MPI_Isend(buf, (int)len, MPI_BYTE, dest, tag, MPI_COMM_WORLD, q);
    if (r != MPI_SUCCESS) {
        free(q);
        say(r, "MPI_Isend", err, cap);
        return -1;
    }
    *req = q;
    return 0;
}

static int
test(void *req, char *err, size_t cap)
{
    MPI_Request *q = req;
    int done = 0, r = MPI_Test(q, &done, MPI_STATUS_IGNORE);

    if (r != MPI_SUCCESS) {
        say(r, "MPI_Test", err, cap);
        return -1;
    }
    if (done)
        free(q);
    return done;
}

static int
iprobe(int *src, int *tag, size_t *len, char *err, size_t cap)
{
    MPI_Status st;
    int flag = 0, n = 0, r;

    r = MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (r != MPI_SUCCESS) {
        say(r, "MPI_Iprobe", err, cap);
        return -1;
    }
    if (!flag)
        return 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    *src = st.MPI_SOURCE;
    *tag = st.MPI_TAG;
    *len = (size_t)n;
    return 1;
}

static int
recv(int src, int tag, void *buf, size_t len, char *err, size_t cap)
{
    int r = MPI_Recv(buf, (int)len, MPI_BYTE, src, tag, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);

    if (r != MPI_SUCCESS) {
        say(r, "MPI_Recv", err, cap);
        return -1;
    }
    return 0;
}

static void
finalize(void)
{
    MPI_Finalize();
}

static void
abort_all(int code)
{
    MPI_Abort(MPI_COMM_WORLD, code);
}

static const char *
library(void)
{
    static char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;

    if (v[0] == '\0' && MPI_Get_library_version(v, &n) != MPI_SUCCESS)
        snprintf(v, sizeof(v), "unknown");
    v[strcspn(v, "\n")] = '\0';
    return v;
}

__attribute__((visibility("default")))
const struct mproc__mpi_ops mproc__mpi_module = {
    .abi = MPROC__MPI_ABI,
    .size = sizeof(struct mproc__mpi_ops),
    .init = init,
    .isend = isend,
    .test = test,
    .iprobe = iprobe,
    .recv = recv,
    .finalize = finalize,
    .abort = abort_all,
    .library = library,
};

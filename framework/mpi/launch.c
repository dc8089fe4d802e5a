/* SPDX-License-Identifier: MIT */
/*
 * The MPI launcher's entry: load mproc-mpi.so (only when a job says
 * `launcher = mpi`), start MPI, and send every rank to its part: rank 0
 * goes on as the host of `mproc run`, the others become node agents.
 *
 * The module is found as MPROC_MPI_MODULE says, else in the build tree
 * (tests run from it), else next to the plugins' folder in $(pkglibdir).
 * RTLD_GLOBAL: Open MPI's own components, which it dlopen()s, resolve
 * libmpi's symbols through the global scope.
 */
#include "internal.h"
#include "paths.h" /* the install folders (made by make) */

#include <dlfcn.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "mpi/launcher.h"

static struct {
    const struct mproc__mpi_ops *ops;
    int rank, size;
    long long timeout_ms;
    char node[256];
    bool host, lost;
} g;

const struct mproc__mpi_ops *
cli_mpi_ops(void)
{
    return g.ops;
}

int
cli_mpi_size(void)
{
    return g.size;
}

const char *
cli_mpi_node(void)
{
    return g.node;
}

long long
cli_mpi_timeout(void)
{
    return g.timeout_ms;
}

bool
cli_mpi_ready(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return fd >= 0 && poll(&p, 1, 0) > 0;
}

void
cli_mpi_lost(void)
{
    g.lost = true;
}

bool
cli_mpi_host(void)
{
    return g.host;
}

void
cli_mpi_nap(int fd, long us)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    struct timespec t = {.tv_sec = us / 1000000,
                         .tv_nsec = us % 1000000 * 1000};

    ppoll(&p, 1, &t, NULL);
}

static const char *
module_path(char *buf, size_t cap)
{
    const char *env = getenv("MPROC_MPI_MODULE"), *tree;

    if (env != NULL && env[0] != '\0')
        return env;
    tree = mproc__build_tree();
    if (tree != NULL &&
        snprintf(buf, cap, "%s/framework/mpi/.libs/mproc-mpi.so", tree) <
            (int)cap &&
        access(buf, R_OK) == 0)
        return buf;
    return MPROC_PLUGINDIR "/../mproc-mpi.so";
}

/* Where the job chose the launcher, for messages: "FILE:LINE" or --set. */
static const char *
where(const struct cli_job *cj)
{
    const char *w = mproc_config_where(cj->cfg, "pool", "launcher");

    return w != NULL ? w : cj->path;
}

int
cli_mpi_start(struct cli_job *cj)
{
    char buf[4096], err[512];
    const char *path;
    void *h;
    const struct mproc__mpi_ops *ops;
    int rc;

    if (!cj->job->launcher_mpi)
        return -1;
    /* Bounded waits need a bound: under 100 ms is taken as 100 ms. */
    g.timeout_ms =
        cj->job->node_timeout_ms < 100 ? 100 : cj->job->node_timeout_ms;
    path = module_path(buf, sizeof(buf));
    h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (h == NULL) {
        cli_error("%s: launcher = mpi: cannot load the MPI module: %s "
                  "(mproc is built with it by ./configure --with-mpi)",
                  where(cj), dlerror());
        return CLI_EXIT_CONFIG;
    }
    ops = dlsym(h, MPROC__MPI_SYMBOL);
    if (ops == NULL || ops->abi != MPROC__MPI_ABI ||
        ops->size != sizeof(*ops)) {
        cli_error("%s: launcher = mpi: %s is not the MPI module of this "
                  "mproc build",
                  where(cj), path);
        return CLI_EXIT_CONFIG;
    }
    /* Never dlclose()d: MPI keeps threads and handlers in it. */
    if (ops->init(&g.rank, &g.size, g.node, sizeof(g.node), err, sizeof(err)) <
        0) {
        cli_error("%s: launcher = mpi: %s", where(cj), err);
        return CLI_EXIT_CONFIG;
    }
    g.ops = ops;
    if (g.size < 2) {
        if (g.rank == 0)
            cli_error("%s: launcher = mpi needs 2 MPI ranks or more (rank 0 "
                      "is the host, the others run the tasks): start it "
                      "with mpiexec -n N, N >= 2",
                      where(cj));
        ops->finalize();
        return CLI_EXIT_CONFIG;
    }
    if (g.rank == 0) {
        g.host = true;
        return -1;
    }
    rc = cli_mpi_agent(ops, g.rank, g.node, cj);
    fflush(NULL);
    if (rc == CLI_EXIT_SOFTWARE)
        ops->abort(rc); /* the host is gone: leave without it */
    ops->finalize();
    return rc;
}

int
cli_mpi_finish(int rc)
{
    if (!g.host)
        return rc;
    cli_mpi_host_end();
    fflush(NULL);
    if (g.lost) {
        /* A lost node may be stopped, not dead: MPI_Finalize could wait
         * on it for ever.  MPI_Abort ends every rank left. */
        g.ops->abort(rc != 0 ? rc : CLI_EXIT_FAILED);
    }
    g.ops->finalize();
    cli_mpi_host_free();
    g.host = false;
    return rc;
}

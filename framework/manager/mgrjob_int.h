/* SPDX-License-Identifier: MIT */
/*
 * A job's Manager (job.c): the [manager] of a job file, started or
 * reached for a run, and the per-process connection that plugins get
 * from mproc_ctx_manager().
 */
#ifndef MPROC_MGRJOB_INT_H
#define MPROC_MGRJOB_INT_H

#include <mproc/error.h>
#include <mproc/manager.h>
#include <mproc/plugin.h>

#include "config/config_int.h"

/*
 * Where every process of a run finds the job's manager: set by
 * mproc__mgrjob_open() in the host, inherited by the workers (every start
 * method) and by what they run.  The authkey travels as a file's path,
 * never as its bytes.
 */
#define MPROC__MGR_ENV_ADDRESS "MPROC_MANAGER_ADDRESS"
#define MPROC__MGR_ENV_KEYFILE "MPROC_MANAGER_AUTHKEY_FILE"

struct mproc__mgrjob;

/*
 * Before the first worker starts: start the manager (start = yes) or
 * connect to the one at `address` (which also proves it is reachable and
 * the key right), create the declared objects, and set the environment.
 * Without a [manager] (c->set false) *out is NULL and the environment
 * variables are removed, so a nested run does not take its parent's.
 * 0, or an error (MPROC_ECONFIG for a key file, else the manager's) with
 * a message that names the address.
 */
int mproc__mgrjob_open(const struct mproc__mgrconf *c,
                       struct mproc__mgrjob **out, mproc_err_t *err);

/* The manager's address (borrowed from j). */
const char *mproc__mgrjob_address(const struct mproc__mgrjob *j);

/*
 * After the last worker ended: stop a started manager (its socket goes
 * with it), remove a key file the run made, drop the environment.  NULL:
 * nothing.
 */
void mproc__mgrjob_close(struct mproc__mgrjob *j);

/* struct mproc_host.manager: this process's connection, made on first use. */
struct mproc_manager *mproc__ctx_manager(struct mproc_ctx *ctx);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The manager server as a whole, for mproc_manager_start() and the
 * standalone `mproc manager` command.
 */
#ifndef MPROC_MGR_SRV_H
#define MPROC_MGR_SRV_H

#include <signal.h>
#include <stddef.h>

#include <mproc/connection.h>
#include <mproc/manager.h>

/*
 * Serve clients of `lis` until a client asks for shutdown, *stop becomes
 * true (a signal handler sets it; may be NULL), or `lifeline` (a pipe's
 * read end, -1: none) hangs up because the process that started the
 * server ended.  The caller blocks the signals that set *stop and passes
 * the mask to wait with (ppoll), so that none is missed; NULL: the
 * current mask.  Returns 0 or a system error.  The Listener stays the
 * caller's.
 */
int mproc__mgr_serve(mproc_listener_t *lis,
                     const struct mproc_mtype *const *types,
                     unsigned max_clients, size_t max_message, int lifeline,
                     volatile sig_atomic_t *stop, const sigset_t *waitmask);

/* Read an authkey file: its bytes, without one trailing newline.  Returns
 * 0 and a malloc'd key, or an error with a message in err. */
int mproc__mgr_read_key(const char *path, unsigned char **key, size_t *len,
                        mproc_err_t *err);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * mproc: what the library does, on stderr (Python's
 * multiprocessing.log_to_stderr()).
 *
 * Off by default.  mproc_log_to_stderr(level), or MPROC_DEBUG=1 in the
 * environment (MPROC_LOG_DEBUG; MPROC_DEBUG=info, warning, error choose
 * another level), makes the library print its own events on stderr, one
 * line each, written with one write(2) so that lines of several processes
 * never mix:
 *
 *   [INFO/MainProcess 4242] process Process-1 started (pid 4243, spawn)
 *
 * the level, the name of the process (mproc_current_process()), its pid
 * and the event: processes started and ended, pool workers that die and
 * their replacements, the forkserver started and lost, a Manager's
 * connections and refusals.  The level is inherited by forked children
 * and passed to spawned and forkserver ones through MPROC_DEBUG.
 */
#ifndef MPROC_LOG_H
#define MPROC_LOG_H

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Levels, as Python's logging module numbers them. */
enum mproc_log_level {
    MPROC_LOG_DEBUG = 10,   /**< every event */
    MPROC_LOG_INFO = 20,    /**< starts and ends */
    MPROC_LOG_WARNING = 30, /**< deaths, replacements, refusals */
    MPROC_LOG_ERROR = 40,   /**< failures only */
    MPROC_LOG_OFF = 100     /**< nothing (the default) */
};

/**
 * Print the library's events of `level` and above on stderr from now on,
 * in this process and the children it starts later; MPROC_LOG_OFF stops.
 * Thread-safe.
 * @return the previous level; MPROC_EINVAL for a level that is none of
 *         the above.
 */
MPROC_API int mproc_log_to_stderr(int level);

/** The current level (MPROC_LOG_OFF when nothing is printed). */
MPROC_API int mproc_log_level(void);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_LOG_H */

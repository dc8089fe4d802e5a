/* SPDX-License-Identifier: MIT */
/*
 * Backtraces of a worker's tasks (issue 19): where a task crashed, or
 * where a slow one is.  The worker only takes raw instruction addresses
 * (libunwind, in a signal handler on an alternate stack) into shared
 * memory it was given before; the host, a healthy process, turns them
 * into function+offset and file:line (elfutils libdw) from the list of
 * the worker's loaded objects, taken when the worker armed the handlers.
 *
 * The record lives in each worker slot's part of the claims memfd,
 * after the result stage (pool_int.h), so that every start method has
 * it without a descriptor of its own.
 */
#ifndef MPROC_CRASH_INT_H
#define MPROC_CRASH_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MPROC__BT_FRAMES 48
#define MPROC__BT_MODS 48
#define MPROC__BT_PATH 232
#define MPROC__CRASH_MAGIC 0x6d706274u /* "mpbt" */

/* One trace: seq is odd while the worker writes it (a seqlock). */
struct mproc__bt {
    _Atomic uint32_t seq;
    int32_t sig;
    uint64_t index; /* the item that ran */
    uint32_t nip;
    uint32_t pad;
    uint64_t ip[MPROC__BT_FRAMES];
};

/* A loaded object: its path and load bias, the range of its segments. */
struct mproc__bt_mod {
    uint64_t bias, lo, hi;
    char path[MPROC__BT_PATH];
};

struct mproc__crash {
    _Atomic uint32_t magic; /* set once the worker armed the handlers */
    uint32_t nmod;
    _Atomic uint64_t running; /* index + 1 of the task that runs; 0: none */
    /* When the worker called the plugin's init (CLOCK_MONOTONIC ms; 0:
     * not yet, -1: it returned): the host's slow-init warning counts
     * from there, not from the fork, which a busy machine may leave
     * unscheduled for seconds (harvest.c, mproc__pool_check_inits). */
    _Atomic int64_t init_ms;
    struct mproc__bt_mod mod[MPROC__BT_MODS];
    struct mproc__bt fatal; /* written by the fatal-signal handler */
    struct mproc__bt slow;  /* written when the host asks (SIGURG) */
};

/* The signal by which the host asks a worker where its task is: ignored
 * by default, so asking a worker that has no handler (yet) is harmless. */
#define MPROC__BT_SIGNAL SIGURG

/* Worker: take the list of loaded objects into `c`, then catch SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL and SIGABRT (on an alternate stack) and
 * MPROC__BT_SIGNAL.  After the plugin's init (its libraries are loaded
 * then).  No-op with c NULL. */
void mproc__crash_arm(struct mproc__crash *c);
/* Worker: the task for item `index` starts (index + 1), or ended (0). */
void mproc__crash_running(uint64_t running);

/* Host: append "\n  #N function+0xoff (file:line) [object]" lines for
 * trace `b` to out (NUL-terminated, truncated to len); returns the
 * number of frames written, 0 if the trace is empty or torn. */
int mproc__crash_format(const struct mproc__crash *c,
                        const struct mproc__bt *b, char *out, size_t len);

/* Host: the worker runs the task of item `index` now (and has armed). */
bool mproc__crash_is_running(const struct mproc__crash *c, uint64_t index);
/* Host: ask worker `pid` where its task is (MPROC__BT_SIGNAL); returns
 * what to hand mproc__crash_answered(). */
uint32_t mproc__crash_ask(struct mproc__crash *c, pid_t pid);
/* Host: the answer to the ask that returned seq0 is in c->slow. */
bool mproc__crash_answered(const struct mproc__crash *c, uint32_t seq0);

/* Host: a new worker takes the slot: nothing of the last one's. */
void mproc__crash_reset(struct mproc__crash *c);

/* Host: a worker died by `wstatus`; if that is a fatal signal the
 * worker caught, append its backtrace to msg (of size len). */
void mproc__crash_describe(const struct mproc__crash *c, int wstatus,
                           char *msg, size_t len);

/* Poison items (quarantine.c).  The quarantine_after in effect (0: off). */
unsigned mproc__quarantine_limit(unsigned after, unsigned retries);
/* The task of an item ended its worker (msg: why, with the backtrace):
 * count it in *deaths, keep msg in *msgs (malloc'd, appended to) while
 * quarantine is on.  True when the item is now quarantined: *msgs then
 * holds its whole message (NUL-terminated; NULL if out of memory). */
bool mproc__quarantine_death(unsigned *deaths, char **msgs, const char *msg,
                             size_t len, unsigned after, unsigned retries);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Cross-cutting internal helpers of libmproc.  Not installed.
 */
#ifndef MPROC_INTERNAL_H
#define MPROC_INTERNAL_H

#include "config.h" /* autoconf's */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <mproc/error.h>
#include <mproc/log.h>

#define MPROC__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Retry a system call while it fails with EINTR. */
#define MPROC__NOINTR(expr)                                                 \
    ({                                                                      \
        __typeof__(expr) r_;                                                \
        do                                                                  \
            r_ = (expr);                                                    \
        while (r_ == -1 && errno == EINTR);                                 \
        r_;                                                                 \
    })

/*
 * Fill an error buffer (NULL allowed) and return `code`, so that
 * `return mproc__err(err, MPROC_EINVAL, "...");` reads naturally.
 */
int mproc__err(mproc_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int mproc__verr(mproc_err_t *err, int code, const char *fmt, va_list ap);
/* vsnprintf() into buf[cap] (cap > 32), cutting the middle of a message
 * too long for it (marked "..."), so its context and its advice survive. */
void mproc__msg_vformat(char *buf, size_t cap, const char *fmt, va_list ap);

/* Store a message and code in a per-object buffer of MPROC_ERRMSG_MAX. */
void mproc__err_clear(mproc_err_t *err);

/* Text from a plugin, an item or a file, fit for a terminal: `s` into
 * dst[cap] (cut to fit, always NUL-ended) with each control byte written
 * \xHH: C0 and DEL, and the C1 controls' UTF-8 form (C2 80..9F), which
 * terminals obey as escape sequences; newline and tab kept when
 * `keep_lines`.  Needs up to 8 bytes per byte of s.  Returns dst. */
char *mproc__esc_ctl(char *dst, size_t cap, const char *s, bool keep_lines);

/* strdup that tolerates NULL (returns NULL). */
char *mproc__strdup0(const char *s);

/* Monotonic clock in milliseconds. */
long long mproc__now_ms(void);
long long mproc__now_ns(void); /* CLOCK_MONOTONIC, in ns */

struct mproc_kv;

/* A copy of n key/value pairs (*out NULL when n is 0): 0 or
 * MPROC_ENOMEM, with nothing to free on failure. */
int mproc__kv_dup(const struct mproc_kv *kv, size_t n, struct mproc_kv **out);
/* Free what mproc__kv_dup() made.  NULL is a no-op. */
void mproc__kv_free(struct mproc_kv *kv, size_t n);

/* A wait that a signal interrupted returns MPROC_EINTR: true when a
 * handler installed without SA_RESTART exists (util/signal.c says why). */
bool mproc__signal_interrupts(void);
/* Interruptible waits in slices: see util/signal.c.  mproc__intr_sleep()
 * before each sleep (MPROC_EINTR: a signal came since the last one),
 * mproc__intr_hold() after it, both inside one begin/end scope. */
void mproc__intr_begin(void);
void mproc__intr_end(void);
void mproc__intr_hold(void);
int mproc__intr_sleep(void);
/* For a sleep that lets the held signals in atomically (ppoll): the mask
 * to sleep with, NULL when none are held; mproc__intr_reheld() after it
 * when it was not NULL. */
const sigset_t *mproc__intr_unhold(void);
void mproc__intr_reheld(void);

/*
 * SIGPIPE held in the calling thread across writes to pipes whose reader
 * may be gone, so that they fail with EPIPE instead of killing the
 * process: hold() blocks it; release() takes back one that the writes
 * raised (one already pending at hold() is the caller's and stays) and
 * restores the mask.
 */
struct mproc__sigpipe_hold {
    sigset_t old;
    bool had;
};
void mproc__sigpipe_hold(struct mproc__sigpipe_hold *h);
void mproc__sigpipe_release(const struct mproc__sigpipe_hold *h);

/* The value of a hexadecimal digit, or -1. */
int mproc__hexval(char c);

/* Wall clock, in seconds since the epoch. */
double mproc__wall_now(void);

/*
 * The build tree this program runs from, or NULL once installed.  Found
 * at run time beside the running executable (libtool puts it in
 * BUILDDIR/.libs, beside BUILDDIR/libmproc.la), never from a path
 * compiled in, so an installed program holds no build path and never
 * looks in one.  Tests set MPROC_PLUGIN_PATH and MPROC_WORKER instead.
 */
const char *mproc__build_tree(void);

/*
 * memfd_create(name, MFD_CLOEXEC), or where the kernel has none (before
 * 3.17, or a seccomp filter refuses it) an unnamed file on /dev/shm that
 * does the same job.  -1 with errno (ENOSYS when neither works).
 */
int mproc__memfd(const char *name);

/*
 * The library's own events (util/log.c, <mproc/log.h>): one line on
 * stderr, "[LEVEL/NAME PID] message", when `level` (MPROC_LOG_*) is at or
 * above the level mproc_log_to_stderr() or MPROC_DEBUG set.  One write(2)
 * of a stack buffer, no stdio, no lock: callable from any thread and from
 * a forked child before it execs anything (vsnprintf() with %s/%d/%ld is
 * safe there in glibc, which allocates nothing for them); never from a
 * signal handler.  mproc__log_on() tells whether a line would print, to
 * skip building costly arguments; mproc__log_set() is a spawned child's
 * way to take its parent's level from the boot message.  mproc__log()
 * looks at the level before it calls: the line's function sets up a deep
 * stack frame, a page a process start would otherwise write (and fault
 * on after its fork) for a line that does not print.
 */
void mproc__log_line(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool mproc__log_on(int level);
#define mproc__log(level, ...)                                               \
    do {                                                                     \
        if (mproc__log_on(level))                                            \
            mproc__log_line(level, __VA_ARGS__);                             \
    } while (0)
void mproc__log_set(int level);

#endif

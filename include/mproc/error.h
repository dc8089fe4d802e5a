/* SPDX-License-Identifier: MIT */
/*
 * mproc: error codes and the error buffer.
 *
 * Every function that can fail returns an int: 0 on success or one of the
 * negative MPROC_E* codes below.  System errors are the negated errno value
 * (MPROC_EINVAL == -EINVAL); mproc's own codes live in -4000 ... -4095 so
 * they never collide with an errno.  A human-readable message for the last
 * failure is kept by the object involved (mproc_pool_errmsg() ...) or, for
 * calls with no object, in the caller's mproc_err_t.
 *
 * NULL handles, in every public header: a call given NULL for its handle
 * (or a constructor given NULL for `out` or for its arena) returns
 * MPROC_EINVAL when it returns an error code; a call with no error channel
 * returns 0, false or NULL; an errmsg call returns a fixed non-empty
 * string; a free (and a void call) does nothing.  No call crashes on NULL;
 * a stale (freed) handle is still undefined.  See mproc-error(3).
 */
#ifndef MPROC_ERROR_H
#define MPROC_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef MPROC_API
#define MPROC_API __attribute__((visibility("default")))
#endif

/*
 * One list produces the enum, mproc_strerror() and mproc_err_name().
 * XX(name, value, description)
 */
#define MPROC_ERRNO_MAP(XX)                                                  \
    XX(EPERM, -1, "operation not permitted")                                \
    XX(ENOENT, -2, "no such file or directory")                             \
    XX(ESRCH, -3, "no such process")                                        \
    XX(EINTR, -4, "interrupted")                                            \
    XX(EIO, -5, "input/output error")                                       \
    XX(E2BIG, -7, "argument list too long")                                 \
    XX(EBADF, -9, "bad file descriptor")                                    \
    XX(ECHILD, -10, "no child processes")                                   \
    XX(EAGAIN, -11, "resource temporarily unavailable")                     \
    XX(ENOMEM, -12, "out of memory")                                        \
    XX(EACCES, -13, "permission denied")                                    \
    XX(EBUSY, -16, "resource busy")                                         \
    XX(EEXIST, -17, "file exists")                                          \
    XX(ENOTDIR, -20, "not a directory")                                     \
    XX(EISDIR, -21, "is a directory")                                       \
    XX(EINVAL, -22, "invalid argument")                                     \
    XX(EMFILE, -24, "too many open files")                                  \
    XX(ENOSPC, -28, "no space left on device")                              \
    XX(EPIPE, -32, "broken pipe")                                           \
    XX(ERANGE, -34, "result out of range")                                  \
    XX(ENOSYS, -38, "function not implemented")                             \
    XX(EMSGSIZE, -90, "message too long")                                   \
    XX(ENOTSUP, -95, "operation not supported")                             \
    XX(ETIMEDOUT, -110, "timed out")                                        \
    XX(ECONNREFUSED, -111, "connection refused")                            \
    XX(ECANCELED, -125, "operation canceled")                               \
    XX(EOWNERDEAD, -130, "previous owner died")                             \
    XX(ECONFIG, -4000, "configuration error")                               \
    XX(EPLUGIN, -4001, "plugin error")                                      \
    XX(EABI, -4002, "plugin ABI mismatch")                                  \
    XX(EWORKER, -4003, "worker died")                                       \
    XX(ECLOSED, -4004, "object is closed")                                  \
    XX(EINIT, -4005, "worker initialisation failed")                        \
    XX(ETASK, -4006, "task failed")                                         \
    XX(EINPUT, -4007, "input is missing or unreadable")                     \
    XX(EUNAVAIL, -4008, "not available yet")                                \
    XX(EBROKEN, -4009, "barrier is broken")                                 \
    XX(EAUTH, -4010, "authentication failed")

/** Error codes: 0 is success, every code is negative. */
enum mproc_errno {
#define MPROC_ERR_ENUM_(name, value, text) MPROC_##name = (value),
    MPROC_ERRNO_MAP(MPROC_ERR_ENUM_)
#undef MPROC_ERR_ENUM_
    MPROC_OK = 0
};

/**
 * Size of the message in an mproc_err_t, including the final NUL.  A
 * message longer than that (paths near PATH_MAX) loses its middle, marked
 * "...", never its start (the context: "plugin X", "FILE:LINE") nor its
 * end (what to do), and is never cut inside a UTF-8 character.
 *
 * ABI: it was 256 before 0.1.0, which a message naming a file 200
 * characters deep outgrew.  mproc_err_t is allocated by the caller, so a
 * program must be rebuilt against the header of the library it runs with
 * (as any 0.x ABI change asks).
 */
#define MPROC_ERRMSG_MAX 1024

/**
 * The error buffer for calls that have no object to keep the message in.
 * Pass NULL where you do not want the details; the code is also returned.
 */
typedef struct mproc_err {
    int code;                    /**< 0 or a negative MPROC_E* code */
    char msg[MPROC_ERRMSG_MAX];  /**< lower-case, no trailing newline */
} mproc_err_t;

/**
 * Describe an error code.  Returns a static string; unknown codes give
 * "unknown error".  Thread-safe.
 */
MPROC_API const char *mproc_strerror(int code);

/**
 * The symbolic name of an error code ("EINVAL", "ECONFIG"), or "UNKNOWN".
 * Returns a static string.  Thread-safe.
 */
MPROC_API const char *mproc_err_name(int code);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_ERROR_H */

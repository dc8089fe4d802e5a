/* SPDX-License-Identifier: MIT */
/*
 * The process module's parts that hold no child: start methods and
 * contexts, the CPU count, and waiting on descriptors (mproc_wait), with
 * the rule by which a signal ends a wait (MPROC_EINTR), shared with join.
 */
#include "internal.h"

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "process/process_int.h"

static const mproc_context_t contexts[] = {
    {"fork"}, {"spawn"}, {"forkserver"}};
static const char *const methods[] = {"fork", "spawn", "forkserver", NULL};
/* NULL: fork, not set.  Atomic rather than under a lock: nothing to
 * repair in a forked child. */
static _Atomic(const char *) default_method;

unsigned
mproc_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

int
mproc__poll_deadline(struct pollfd *pfd, unsigned long n, long long deadline)
{
    long long left;
    int r, wait;

    for (;;) {
        wait = -1;
        if (deadline != 0) {
            left = deadline - mproc__now_ms();
            wait = left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
        }
        r = poll(pfd, n, wait);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return -errno;
        if (mproc__signal_interrupts())
            return MPROC_EINTR;
    }
}

ssize_t
mproc_wait(const int *fds, size_t n, int timeout_ms, int *ready)
{
    struct pollfd *pfd;
    long long deadline = timeout_ms >= 0 ? mproc__now_ms() + timeout_ms : 0;
    size_t i;
    ssize_t k = 0;
    int r;

    if (timeout_ms >= 0 && deadline == 0)
        deadline = 1; /* 0 means none to mproc__poll_deadline() */
    for (i = 0; i < n; i++)
        if (fds[i] < 0)
            return MPROC_EINVAL;
    pfd = calloc(n ? n : 1, sizeof(*pfd));
    if (pfd == NULL)
        return MPROC_ENOMEM;
    for (i = 0; i < n; i++) {
        pfd[i].fd = fds[i];
        pfd[i].events = POLLIN;
    }
    r = mproc__poll_deadline(pfd, (nfds_t)n, deadline);
    if (r < 0) {
        free(pfd);
        return r;
    }
    for (i = 0; i < n; i++) {
        if (pfd[i].revents & POLLNVAL) {
            free(pfd);
            return MPROC_EBADF;
        }
        if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
            ready[k++] = fds[i];
    }
    free(pfd);
    return k;
}

int
mproc_set_start_method(const char *method, bool force, mproc_err_t *err)
{
    const mproc_context_t *c;
    const char *none = NULL;
    int r = mproc_get_context(method, &c, err);

    if (r < 0)
        return r;
    if (force) {
        atomic_store(&default_method, c->method);
        return 0;
    }
    if (!atomic_compare_exchange_strong(&default_method, &none, c->method))
        return mproc__err(err, MPROC_EBUSY, "the start method is already "
                          "set (to %s)", none);
    return 0;
}

const char *
mproc_get_start_method(void)
{
    const char *m = atomic_load(&default_method);

    return m != NULL ? m : "fork";
}

const char *const *
mproc_get_all_start_methods(void)
{
    return methods;
}

int
mproc_get_context(const char *method, const mproc_context_t **out,
                  mproc_err_t *err)
{
    size_t i;

    if (out == NULL)
        return mproc__err(err, MPROC_EINVAL, "mproc_get_context: out is NULL");
    if (method == NULL)
        method = mproc_get_start_method();
    for (i = 0; i < MPROC__ARRAY_SIZE(contexts); i++)
        if (strcmp(method, contexts[i].method) == 0) {
            *out = &contexts[i];
            return 0;
        }
    return mproc__err(err, MPROC_EINVAL, "unknown start method '%s'; "
                      "expected fork, spawn or forkserver", method);
}

const char *
mproc_context_start_method(const mproc_context_t *c)
{
    if (c == NULL)
        return NULL;
    return c->method;
}

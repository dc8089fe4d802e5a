/* SPDX-License-Identifier: MIT */
/*
 * A Process's result file: the memfd its child writes its one result
 * frame into (process.c says why a memfd and not a pipe).
 *
 * Files are reused.  Making a memfd, writing its first page and closing
 * it again costs tens of microseconds on a loaded virtual machine, a
 * sixth of a whole fork, when the page is allocated and freed every time.
 * So a result file, once read, goes back to a small per-process pool with
 * its page, and the next child writes its frame at offset 0 of a page
 * that is already there.  Before a file goes back its header is zeroed,
 * so a child that ends without writing leaves "no result" (type 0), never
 * the last one's.  Files that grew past a few pages are closed instead,
 * so a large result does not stay in memory.
 *
 * Only the child writes the file while the parent holds it: the
 * descriptor is registered (fork.c), so no other child the library forks
 * keeps it, and the parent reads it only once the child was reaped.
 *
 * The pool belongs to the process that filled it: in a forked child it
 * is the parent's, forgotten (its descriptors were registered, so a child
 * the library forked has closed them already).
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ipc/frame_int.h"
#include "process/process_int.h"

#define POOL_MAX 16
#define KEEP_MAX ((size_t)64 << 10) /* larger files are closed */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t pool_owner;
static int pool[POOL_MAX];
static int npool;

/* The pool's lock is held. */
static void
own_pool(pid_t me)
{
    if (pool_owner != me) {
        pool_owner = me;
        npool = 0;
    }
}

int
mproc__result_file(pid_t me)
{
    int fd, r;

    pthread_mutex_lock(&pool_lock);
    own_pool(me);
    fd = npool > 0 ? pool[--npool] : -1;
    pthread_mutex_unlock(&pool_lock);
    if (fd >= 0)
        return fd;
    mproc__fork_fd_hold();
    fd = mproc__memfd("mproc-result");
    r = fd < 0 ? -errno : mproc__fork_fd_register(fd);
    mproc__fork_fd_release();
    if (r < 0 && fd >= 0)
        close(fd);
    return r < 0 ? r : fd;
}

void
mproc__result_file_put(int fd, size_t used, pid_t me)
{
    static const struct mproc__frame_hdr none;

    if (fd < 0)
        return;
    if (used <= KEEP_MAX &&
        MPROC__NOINTR(pwrite(fd, &none, sizeof(none), 0)) ==
            (ssize_t)sizeof(none)) {
        pthread_mutex_lock(&pool_lock);
        own_pool(me);
        if (npool < POOL_MAX) {
            pool[npool++] = fd;
            fd = -1;
        }
        pthread_mutex_unlock(&pool_lock);
    }
    mproc__fork_fd_close(fd);
}

static int
pwrite_all(int fd, const char *p, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
        off += w;
    }
    return 0;
}

int
mproc__result_write(int fd, uint32_t type, uint32_t status, const void *data,
                    size_t len)
{
    struct mproc__frame_hdr h = {.type = type, .status = status, .len = len};
    struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)data, len}};
    ssize_t w;
    size_t done;
    int r;

    /* At offset 0, not at the file's offset: the description is shared
     * by every child the file served.  One system call in the usual
     * case, made directly (a forked child's end: glibc's pwritev would be
     * one more page of libc to map); the rest after a signal or a short
     * write. */
    w = mproc__raw_syscall5(SYS_pwritev, fd, (long)iov, len > 0 ? 2 : 1, 0,
                            0);
    if (w < 0 && w != -EINTR)
        return (int)w;
    done = w < 0 ? 0 : (size_t)w;
    if (done < sizeof(h)) {
        r = pwrite_all(fd, (const char *)&h + done, sizeof(h) - done,
                       (off_t)done);
        if (r < 0)
            return r;
        done = sizeof(h);
    }
    return pwrite_all(fd, (const char *)data + (done - sizeof(h)),
                      len - (done - sizeof(h)), (off_t)done);
}

size_t
mproc__result_read(int fd, size_t max, char **out, size_t *span)
{
    char first[256]; /* most results; small, so no new stack page */
    struct mproc__frame_hdr h;
    size_t total, got;
    ssize_t n;
    char *buf;

    *out = NULL;
    *span = SIZE_MAX; /* unknown: not kept */
    n = MPROC__NOINTR(pread(fd, first, sizeof(first), 0));
    if (n < 0)
        return 0;
    *span = (size_t)n;
    if (n < (ssize_t)sizeof(h))
        return 0;
    memcpy(&h, first, sizeof(h));
    if (h.type == 0)
        return 0;
    if (h.len > max) {
        *span = SIZE_MAX;
        return 0;
    }
    total = sizeof(h) + (size_t)h.len;
    *span = total;
    got = (size_t)n < total ? (size_t)n : total;
    buf = malloc(total);
    if (buf == NULL)
        return 0;
    memcpy(buf, first, got);
    while (got < total) {
        n = MPROC__NOINTR(pread(fd, buf + got, total - got, (off_t)got));
        if (n <= 0)
            break; /* cut short: the frame reads as incomplete */
        got += (size_t)n;
    }
    *out = buf;
    return got;
}

/* A forked child has only the thread that forked: the lock starts
 * unlocked there (the pool itself is the parent's, see own_pool). */
static void
after_fork_child(void)
{
    static const pthread_mutex_t m0 = PTHREAD_MUTEX_INITIALIZER;

    mproc__reinit_mutex(&pool_lock, &m0);
}

__attribute__((constructor)) static void
result_fork_init(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

/* SPDX-License-Identifier: MIT */
/*
 * Frame encoding and the blocking writer used by workers.
 */
#include "internal.h"

#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ipc/chan_int.h"
#include "ipc/frame_int.h"
#include "util/buf_int.h"

int
mproc__frame_put(struct mproc_buf *b, uint32_t type, uint64_t index,
                 const void *data, size_t len)
{
    struct mproc__frame_hdr h = {.type = type, .index = index, .len = len};

    if (mproc_buf_reserve(b, sizeof(h) + len) != MPROC_TASK_OK)
        return MPROC_ENOMEM;
    memcpy(b->data + b->len, &h, sizeof(h));
    if (len > 0)
        memcpy(b->data + b->len + sizeof(h), data, len);
    b->len += sizeof(h) + len;
    return 0;
}

size_t
mproc__frame_next(const char *data, size_t avail, struct mproc__frame_hdr *h,
                  const char **payload, size_t *need)
{
    if (avail < sizeof(*h)) {
        if (need != NULL)
            *need = sizeof(*h);
        return 0;
    }
    /* The buffer need not be aligned for the header: copy it out. */
    memcpy(h, data, sizeof(*h));
    if (need != NULL)
        *need = sizeof(*h) + (size_t)h->len;
    if (avail - sizeof(*h) < h->len)
        return 0;
    *payload = data + sizeof(*h);
    return sizeof(*h) + (size_t)h->len;
}

int
mproc__frame_write(int fd, uint32_t type, uint32_t status, uint64_t index,
                   const void *data, size_t len)
{
    struct mproc__frame_hdr h = {
        .type = type, .status = status, .index = index, .len = len};
    struct iovec iov[2];
    int n = 2;

    iov[0].iov_base = &h;
    iov[0].iov_len = sizeof(h);
    iov[1].iov_base = (void *)data;
    iov[1].iov_len = len;
    /* One writev for header and payload: one system call per result in
     * the common case; loop on short writes (pipes take 64 KiB at once). */
    while (n > 0) {
        struct iovec *v = &iov[2 - n];
        ssize_t w = writev(fd, v, n);
        size_t done;

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done = (size_t)w;
        while (n > 0 && done >= v->iov_len) {
            done -= v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
    return 0;
}

int
mproc__frame_send(struct mproc_chan *ch, struct mproc_buf *scratch,
                  unsigned flags, uint32_t type, uint32_t status,
                  uint64_t index, const void *data, size_t len,
                  int timeout_ms)
{
    struct mproc__frame_hdr *h;
    int r;

    /* One message: the header, then the payload. */
    mproc__buf_reset(scratch);
    r = mproc__frame_put(scratch, type, index, data, len);
    if (r < 0)
        return r;
    h = (struct mproc__frame_hdr *)(void *)scratch->data;
    h->status = status;
    return mproc__chan_send(ch, scratch->data, scratch->len, flags,
                            timeout_ms);
}

int
mproc__frame_parse(const void *msg, size_t len, struct mproc__frame_hdr *h,
                   const char **payload)
{
    if (len < MPROC__FRAME_HDR_SIZE)
        return MPROC_EIO;
    memcpy(h, msg, MPROC__FRAME_HDR_SIZE);
    if (h->len != len - MPROC__FRAME_HDR_SIZE)
        return MPROC_EIO;
    *payload = (const char *)msg + MPROC__FRAME_HDR_SIZE;
    return 0;
}

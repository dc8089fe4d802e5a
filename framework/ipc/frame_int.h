/* SPDX-License-Identifier: MIT */
/*
 * Frames: the unit of host <-> worker traffic.  A frame is a fixed header
 * followed by `len` payload bytes.  Both ends run on the same machine, so
 * the header is in native byte order.
 */
#ifndef MPROC_FRAME_INT_H
#define MPROC_FRAME_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mproc/plugin.h>

enum mproc__frame_type {
    MPROC__FRAME_TASK = 1, /* host -> worker: run item `index` */
    MPROC__FRAME_OK,       /* worker -> host: output of `index` */
    MPROC__FRAME_FAIL,     /* worker -> host: failure message of `index` */
    MPROC__FRAME_READY,    /* worker -> host: init succeeded */
    MPROC__FRAME_INITFAIL, /* worker -> host: init failed, message */
    MPROC__FRAME_RETIRE    /* worker -> host: I end now, after the task I
                              answered last; the rest was never started */
};

struct mproc__frame_hdr {
    uint32_t type;
    uint32_t status;  /* FAIL: 0 (task failed) or -MPROC_EMSGSIZE */
    uint64_t index;
    uint64_t len;
};

#define MPROC__FRAME_HDR_SIZE sizeof(struct mproc__frame_hdr)

/* Append one frame to `b` (a buffer without limit). 0 or MPROC_ENOMEM. */
int mproc__frame_put(struct mproc_buf *b, uint32_t type, uint64_t index,
                     const void *data, size_t len);

/*
 * Look for a whole frame at `data` (`avail` bytes).  Returns its total size
 * and fills *h and *payload, or 0 when more bytes are needed; then *need
 * (if not NULL) says how many bytes the whole frame takes, once the header
 * is complete.
 */
size_t mproc__frame_next(const char *data, size_t avail,
                         struct mproc__frame_hdr *h, const char **payload,
                         size_t *need);

/* Blocking write of a header and payload, retrying EINTR and short writes.
 * Returns 0 or -errno. */
int mproc__frame_write(int fd, uint32_t type, uint32_t status,
                       uint64_t index, const void *data, size_t len);

struct mproc_chan;

/*
 * Send one frame as one message of channel `ch` (ipc/chan_int.h), built in
 * `scratch` (a buffer without limit, reused); flags and timeout as
 * mproc__chan_send().  Returns what it returns, or MPROC_ENOMEM.
 */
int mproc__frame_send(struct mproc_chan *ch, struct mproc_buf *scratch,
                      unsigned flags, uint32_t type, uint32_t status,
                      uint64_t index, const void *data, size_t len,
                      int timeout_ms);

/* The frame in one received message: 0, or MPROC_EIO when the message is
 * not a frame.  *payload points into msg. */
int mproc__frame_parse(const void *msg, size_t len,
                       struct mproc__frame_hdr *h, const char **payload);

#endif

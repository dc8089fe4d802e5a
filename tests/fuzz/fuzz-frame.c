/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the channel frame decoder (framework/ipc/frame.c), as
 * a host reads a stream of frames from a worker (mproc__frame_next) and a
 * frame from one message (mproc__frame_parse).  A hostile length or type
 * is refused or waited for, never read past the bytes there are.
 */
#include "internal.h"

#include <stdint.h>

#include "ipc/frame_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch every payload byte, so a bad bound shows under ASan. */
static unsigned
sum(const char *p, uint64_t len)
{
    unsigned s = 0;
    uint64_t i;

    for (i = 0; i < len; i++)
        s += (unsigned char)p[i];
    return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *payload;
    struct mproc__frame_hdr h;
    size_t off = 0, n, need;
    volatile unsigned s = 0;

    while (off < size) {
        need = 0;
        n = mproc__frame_next(p + off, size - off, &h, &payload, &need);
        if (n == 0)
            break; /* more bytes needed: `need` may be anything */
        if (n > size - off || payload < p + off ||
            (uint64_t)(payload - (p + off)) + h.len > n)
            __builtin_trap(); /* a frame larger than the bytes given */
        s += sum(payload, h.len);
        off += n;
    }
    if (mproc__frame_parse(data, size, &h, &payload) == 0) {
        if (payload < p || (uint64_t)(payload - p) + h.len > size)
            __builtin_trap();
        s += sum(payload, h.len);
    }
    (void)s;
    return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Error codes to text, and the error-buffer helpers.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *
mproc_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define XX(name, value, text)                                               \
    case value:                                                             \
        return text;
        MPROC_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}

const char *
mproc_err_name(int code)
{
    switch (code) {
    case 0:
        return "OK";
#define XX(name, value, text)                                               \
    case value:                                                             \
        return #name;
        MPROC_ERRNO_MAP(XX)
#undef XX
    default:
        return "UNKNOWN";
    }
}

/* Is c the second, third or fourth byte of a UTF-8 sequence? */
static bool
utf8_cont(char c)
{
    return ((unsigned char)c & 0xc0) == 0x80;
}

/*
 * Format into buf[cap] (cap > 32).  A message that does not fit loses its
 * middle, not its end: messages start with their context ("plugin X",
 * "FILE:LINE") and end with what to do ("set MPROC_PLUGIN_PATH"), and
 * what grows is a path or a list of folders in between.  The cut is
 * marked with "...", and falls between UTF-8 characters.
 */
void
mproc__msg_vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
    static const char mark[] = "...";
    size_t head, tail, len;
    char *full;
    va_list aq;
    int n;

    va_copy(aq, ap);
    n = vsnprintf(buf, cap, fmt, ap);
    if (n < 0 || (size_t)n < cap || (full = malloc((size_t)n + 1)) == NULL) {
        va_end(aq);
        return; /* fits, or keep the plain cut if out of memory */
    }
    vsnprintf(full, (size_t)n + 1, fmt, aq);
    va_end(aq);
    len = (size_t)n;
    head = (cap - sizeof(mark)) * 2 / 5;
    tail = cap - sizeof(mark) - head; /* the NUL included in sizeof */
    while (head > 0 && utf8_cont(full[head]))
        head--;
    while (tail > 0 && utf8_cont(full[len - tail]))
        tail--;
    memcpy(buf, full, head);
    memcpy(buf + head, mark, sizeof(mark) - 1);
    memcpy(buf + head + sizeof(mark) - 1, full + len - tail, tail);
    buf[head + sizeof(mark) - 1 + tail] = '\0';
    free(full);
}

int
mproc__verr(mproc_err_t *err, int code, const char *fmt, va_list ap)
{
    if (err != NULL) {
        err->code = code;
        mproc__msg_vformat(err->msg, sizeof(err->msg), fmt, ap);
    }
    return code;
}

int
mproc__err(mproc_err_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mproc__verr(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void
mproc__err_clear(mproc_err_t *err)
{
    if (err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

char *
mproc__strdup0(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

long long
mproc__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
mproc__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double
mproc__wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
mproc__hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *
mproc__esc_ctl(char *dst, size_t cap, const char *s, bool keep_lines)
{
    size_t j = 0;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s, d = (unsigned char)s[1];
        bool ctl = (c < 0x20 && !(keep_lines && (c == '\n' || c == '\t'))) ||
                   c == 0x7f;
        bool c1 = c == 0xc2 && d >= 0x80 && d <= 0x9f;

        if (j + (c1 ? 8 : ctl ? 4 : 1) >= cap)
            break;
        if (c1) {
            j += (size_t)snprintf(dst + j, cap - j, "\\x%02x\\x%02x", c, d);
            s++;
        } else if (ctl) {
            j += (size_t)snprintf(dst + j, cap - j, "\\x%02x", c);
        } else {
            dst[j++] = (char)c;
        }
    }
    if (cap > 0)
        dst[j < cap ? j : cap - 1] = '\0';
    return dst;
}

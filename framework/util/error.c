/* SPDX-License-Identifier: MIT */
/*
 * Error codes to text, and the error-buffer helpers.
 */
#include "internal.h"

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

int
mproc__verr(mproc_err_t *err, int code, const char *fmt, va_list ap)
{
    if (err != NULL) {
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
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

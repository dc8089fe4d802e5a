/* SPDX-License-Identifier: MIT */
/*
 * The library's own events on stderr (<mproc/log.h>).
 *
 * One line per event, formatted into a buffer on the stack and written
 * with a single write(2): no stdio lock (a thread that forked while
 * another held it cannot wedge the child) and no interleaving with the
 * lines of other processes, since writes of up to PIPE_BUF bytes to a
 * pipe are atomic and a terminal takes them whole in practice.
 *
 * The level is one atomic int.  It starts at MPROC_DEBUG's value, read
 * once by a constructor (getenv() in a constructor runs before any
 * thread of the program could setenv()).
 */
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <mproc/log.h>
#include <mproc/process.h>

static _Atomic int level = MPROC_LOG_OFF;

static int
parse(const char *s)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {
        {"1", MPROC_LOG_DEBUG},     {"debug", MPROC_LOG_DEBUG},
        {"info", MPROC_LOG_INFO},   {"warning", MPROC_LOG_WARNING},
        {"error", MPROC_LOG_ERROR}, {"0", MPROC_LOG_OFF},
    };
    size_t i;

    for (i = 0; s != NULL && i < MPROC__ARRAY_SIZE(names); i++)
        if (strcasecmp(s, names[i].name) == 0)
            return names[i].level;
    return MPROC_LOG_OFF;
}

__attribute__((constructor)) static void
log_init(void)
{
    atomic_store_explicit(&level, parse(getenv("MPROC_DEBUG")),
                          memory_order_relaxed);
}

static bool
valid(int l)
{
    return l == MPROC_LOG_DEBUG || l == MPROC_LOG_INFO ||
           l == MPROC_LOG_WARNING || l == MPROC_LOG_ERROR ||
           l == MPROC_LOG_OFF;
}

int
mproc_log_to_stderr(int l)
{
    if (!valid(l))
        return MPROC_EINVAL;
    return atomic_exchange_explicit(&level, l, memory_order_relaxed);
}

int
mproc_log_level(void)
{
    return atomic_load_explicit(&level, memory_order_relaxed);
}

void
mproc__log_set(int l)
{
    if (valid(l))
        atomic_store_explicit(&level, l, memory_order_relaxed);
}

bool
mproc__log_on(int l)
{
    return l >= atomic_load_explicit(&level, memory_order_relaxed);
}

void
mproc__log_line(int l, const char *fmt, ...)
{
    char line[512];
    const char *name, *lv;
    va_list ap;
    size_t n;
    ssize_t w;
    int k;

    if (!mproc__log_on(l))
        return;
    lv = l >= MPROC_LOG_ERROR     ? "ERROR"
         : l >= MPROC_LOG_WARNING ? "WARNING"
         : l >= MPROC_LOG_INFO    ? "INFO"
                                  : "DEBUG";
    name = mproc_process_name(mproc_current_process());
    k = snprintf(line, sizeof(line), "[%s/%s %ld] ", lv,
                 name != NULL ? name : "?", (long)getpid());
    n = k > 0 && (size_t)k < sizeof(line) ? (size_t)k : 0;
    va_start(ap, fmt);
    mproc__msg_vformat(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    n = strlen(line);
    line[n++] = '\n';
    do
        w = write(STDERR_FILENO, line, n);
    while (w < 0 && errno == EINTR);
}

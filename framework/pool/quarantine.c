/* SPDX-License-Identifier: MIT */
/*
 * Poison items (issue 19): an item whose task keeps killing workers is
 * not run again once it has ended quarantine_after of them; its result
 * then says so and carries what each death said (the backtraces).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/crash_int.h"
#include "util/buf_int.h"

unsigned
mproc__quarantine_limit(unsigned after, unsigned retries)
{
    return after > 0 ? after : retries > 0 ? 2 : 0;
}

bool
mproc__quarantine_death(unsigned *deaths, char **msgs, const char *msg,
                        size_t len, unsigned after, unsigned retries)
{
    unsigned limit = mproc__quarantine_limit(after, retries);
    size_t have = *msgs != NULL ? strlen(*msgs) : 0, room;
    char head[80], *m;
    int n;

    ++*deaths;
    if (limit == 0)
        return false; /* off: nothing kept */
    /* Kept within what a result's message can hold. */
    room = MPROC__FAILMSG_MAX - 1;
    if (have + 64 < room && (m = realloc(*msgs, room + 1)) != NULL) {
        *msgs = m;
        snprintf(m + have, room + 1 - have, "%sdeath %u: %.*s",
                 have > 0 ? "\n" : "", *deaths,
                 (int)(len < room ? len : room), msg);
    }
    if (*deaths < limit)
        return false;
    /* The result's message: a first line that says why it was not run
     * again, then each death. */
    have = *msgs != NULL ? strlen(*msgs) : 0;
    n = snprintf(head, sizeof(head), "quarantined after %u worker deaths\n",
                 *deaths);
    m = malloc(have + (size_t)n + 1);
    if (m == NULL)
        return true; /* *msgs (or nothing) says what it can */
    memcpy(m, head, (size_t)n);
    if (have > 0)
        memcpy(m + n, *msgs, have);
    m[(size_t)n + have] = '\0';
    free(*msgs);
    *msgs = m;
    return true;
}

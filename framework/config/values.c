/* SPDX-License-Identifier: MIT */
/*
 * Values of job files: the parsers and helpers that the schema of [job]
 * and [pool] (config.c) and the plugins' declared [args] (args.c) share,
 * so that a value means the same in both.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_int.h"

/* Edit distance, ignoring case so that `PIPE` still suggests `pipe`. */
static size_t
levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j, prev, tmp, best;
    size_t row[65];

    if (la > 64 || lb > 64)
        return (size_t)-1; /* too long to be a typo of a short name */
    for (j = 0; j <= lb; j++)
        row[j] = j;
    for (i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = i;
        for (j = 1; j <= lb; j++) {
            best = prev + (tolower((unsigned char)a[i - 1]) !=
                           tolower((unsigned char)b[j - 1]));
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            tmp = row[j];
            row[j] = best;
            prev = tmp;
        }
    }
    return row[lb];
}

/*
 * The name closest to `s`, or NULL when none is close enough to be a typo:
 * at most max(2, len/3) edits away.  The distance must also be below the
 * length of `s`, or `x` would "mean" any two-letter name.
 */
const char *
mproc__closest(const char *s, const char *const *names, size_t n)
{
    size_t i, d, best = (size_t)-1, len = strlen(s);
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    const char *found = NULL;

    for (i = 0; i < n; i++) {
        d = levenshtein(s, names[i]);
        if (d < best) {
            best = d;
            found = names[i];
        }
    }
    return best <= limit && best < len ? found : NULL;
}

/* Names of plugins, tasks and [args] keys: [A-Za-z0-9_.-]+ */
bool
mproc__is_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
            return false;
    return true;
}

/* "a, b or c" into buf. */
void
mproc__join_or(const char *const *names, size_t n, char *buf,
               size_t cap)
{
    size_t i, used = 0;
    const char *sep;
    int k;

    buf[0] = '\0';
    for (i = 0; i < n; i++) {
        sep = i == 0 ? "" : ", ";
        if (i > 0 && i + 1 == n)
            sep = " or ";
        k = snprintf(buf + used, cap - used, "%s%s", sep, names[i]);
        if (k < 0 || used + (size_t)k >= cap)
            break;
        used += (size_t)k;
    }
}

int
mproc__find_name(const char *s, const char *const *names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

/*
 * A whole decimal from min to max.  strtoull() alone would accept leading
 * blanks, a '+' and even a '-' (wrapping around), so insist on a digit.
 */
bool
mproc__parse_uint(const char *s, unsigned long long min,
                  unsigned long long max, unsigned long long *out)
{
    unsigned long long v;
    char *end;

    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* A whole int64 in s[0..len), with an optional '-'. */
bool
mproc__parse_int64(const char *s, size_t len, int64_t *out)
{
    char buf[32], *end;
    long long v;

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (!isdigit((unsigned char)buf[buf[0] == '-']))
        return false;
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

int
mproc__parse_bool(const char *s)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    size_t i;

    for (i = 0; i < MPROC__ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* Bytes with an optional binary suffix: 512, 512K, 64M, 1G, 64MiB. */
bool
mproc__parse_size(const char *s, unsigned long long min,
                  unsigned long long max, unsigned long long *out)
{
    static const char suffixes[] = "\0kmgt"; /* 2^0, 2^10, ... 2^40 */
    unsigned long long v;
    char *end;
    unsigned i;

    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return false;
    if (*end == '\0') {
        i = 0;
    } else {
        for (i = 1; i < 5; i++)
            if (tolower((unsigned char)*end) == suffixes[i])
                break;
        /* "K" or "KiB", in any case. */
        if (i == 5 || (end[1] != '\0' && strcasecmp(end + 1, "ib") != 0))
            return false;
    }
    /* Compare before shifting, so a huge count cannot wrap. */
    if (v < min || v > max >> (10 * i))
        return false;
    *out = v << (10 * i);
    return true;
}

/* A size for a message: 1G rather than 1073741824 where it divides. */
void
mproc__size_text(unsigned long long v, char *buf, size_t len)
{
    static const char units[] = " KMGT";
    unsigned i = 0;

    while (i < 4 && v >= 1024 && v % 1024 == 0) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(buf, len, "%llu", v);
    else
        snprintf(buf, len, "%llu%c", v, units[i]);
}

/*
 * A duration in milliseconds: a decimal number of seconds ("30", "1.5")
 * or a number with a unit: ms, s, m, h ("500ms", "2m").  Only that, as
 * mproc.ini(5) says: strtod() alone would also take hexadecimal ("0x10"),
 * exponents ("1e-300"), "inf" and "nan".
 */
bool
mproc__parse_duration(const char *s, unsigned long long max,
                      unsigned long long *out)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000},
                 {"h", 3600000}};
    const char *p = s;
    double v;
    char *end;
    size_t i;

    while (isdigit((unsigned char)*p))
        p++;
    if (p == s)
        return false;
    if (*p == '.') {
        const char *frac = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        if (p == frac)
            return false;
    }
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end != p)
        return false;
    for (i = 0; i < MPROC__ARRAY_SIZE(units); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            v *= units[i].ms;
            if (v > (double)max)
                return false;
            /* A positive time never rounds down to "no limit". */
            *out = v > 0 && v < 1 ? 1 : (unsigned long long)(v + 0.5);
            return true;
        }
    }
    return false;
}

/*
 * A path from a job file is relative to the file's folder `dir`; one from
 * --set (dir NULL) is relative to the working directory, so it stays as
 * written.  Leading "./" is dropped so messages show a tidy path.
 */
char *
mproc__resolve(const char *dir, const char *path)
{
    char *out;

    if (dir == NULL || path[0] == '/')
        return strdup(path);
    while (path[0] == '.' && path[1] == '/') {
        path += 2;
        while (path[0] == '/')
            path++;
    }
    if (path[0] == '\0')
        return strdup(dir);
    if (asprintf(&out, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
                 path) < 0)
        return NULL;
    return out;
}

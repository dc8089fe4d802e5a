/* SPDX-License-Identifier: MIT */
/*
 * Declarations of shared objects in job files: sections named KIND:NAME,
 * such as [lock:output] or [array:histogram].  The host creates them before
 * any worker starts; plugins look them up by name.
 *
 * parse.c hands this file every section header that has a ':' (from its
 * pre-scan, since inih reports a section only with its first key) and
 * config.c every key of such a section (and the header of a --set);
 * both come with their FILE:LINE.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc/shared.h>

#include "config/config_int.h"

static const char *const kinds[] = {
    [MPROC__DECL_LOCK] = "lock",
    [MPROC__DECL_RLOCK] = "rlock",
    [MPROC__DECL_SEMAPHORE] = "semaphore",
    [MPROC__DECL_BOUNDEDSEMAPHORE] = "boundedsemaphore",
    [MPROC__DECL_EVENT] = "event",
    [MPROC__DECL_CONDITION] = "condition",
    [MPROC__DECL_BARRIER] = "barrier",
    [MPROC__DECL_VALUE] = "value",
    [MPROC__DECL_ARRAY] = "array",
};
#define NKINDS ((int)MPROC__ARRAY_SIZE(kinds))

/* The keys each kind takes, as one string for messages and lookups. */
static const char *const kind_keys[] = {
    [MPROC__DECL_LOCK] = "",
    [MPROC__DECL_RLOCK] = "",
    [MPROC__DECL_SEMAPHORE] = "value",
    [MPROC__DECL_BOUNDEDSEMAPHORE] = "value",
    [MPROC__DECL_EVENT] = "",
    [MPROC__DECL_CONDITION] = "lock",
    [MPROC__DECL_BARRIER] = "parties",
    [MPROC__DECL_VALUE] = "type init lock",
    [MPROC__DECL_ARRAY] = "type length init lock",
};

struct mproc__decls {
    struct mproc__decl *v;
    size_t n, cap;
};

static int
kind_of(const char *section, size_t len)
{
    int k;
    for (k = 0; k < NKINDS; k++)
        if (strlen(kinds[k]) == len && memcmp(kinds[k], section, len) == 0)
            return k;
    return -1;
}

static bool
good_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' &&
            *s != '.')
            return false;
    return true;
}

#define DECL_MAX 256

static struct mproc__decl *
find(struct mproc__decls *d, const char *name)
{
    size_t i;
    for (i = 0; i < d->n; i++)
        if (strcmp(d->v[i].name, name) == 0)
            return &d->v[i];
    return NULL;
}

bool
mproc__decl_section(const char *section)
{
    return strchr(section, ':') != NULL;
}

int
mproc__decl_header(struct mproc__decls **dp, const char *section,
                   const char *loc, int file_id, mproc_err_t *err)
{
    const char *colon = strchr(section, ':'), *name = colon + 1;
    struct mproc__decls *d = *dp;
    struct mproc__decl *x;
    int kind = kind_of(section, (size_t)(colon - section));

    if (kind < 0)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: unknown kind of shared object [%.*s:...]; "
                          "expected lock, rlock, semaphore, boundedsemaphore, "
                          "event, condition, barrier, value or array", loc,
                          (int)(colon - section), section);
    if (!good_name(name))
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: [%s]: the name must be letters, digits, '_', "
                          "'-' and '.'", loc, section);
    if (d == NULL && (d = *dp = calloc(1, sizeof(*d))) == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    x = find(d, name);
    if (x != NULL) {
        if (x->kind == kind && (x->file_id != file_id || file_id == 0))
            return 0; /* declared again by a later file or --set: merge */
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: '%s' is already declared as [%s:%s] at %s",
                          loc, name, kinds[x->kind], name, x->where);
    }
    /* The arena's directory names 256 at most (mproc_sync_name()): said
     * here, at the line, and a file of thousands is not searched
     * through for each. */
    if (d->n >= DECL_MAX)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: [%s]: too many shared objects: a job "
                          "declares %d at most", loc, section, DECL_MAX);
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        struct mproc__decl *v = realloc(d->v, cap * sizeof(*v));
        if (v == NULL)
            return mproc__err(err, MPROC_ENOMEM, "out of memory");
        d->v = v;
        d->cap = cap;
    }
    x = &d->v[d->n];
    memset(x, 0, sizeof(*x));
    x->kind = kind;
    x->file_id = file_id;
    x->value = 1;
    x->locked = true;
    x->name = strdup(name);
    x->where = strdup(loc);
    if (x->name == NULL || x->where == NULL) {
        free(x->name);
        free(x->where);
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    }
    d->n++;
    return 0;
}

static bool
parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0' && *out <= max;
}

/*
 * A number as mproc.ini(5) means it: [-]digits[.digits][e[+-]digits].
 * strtod() alone also takes hexadecimal, "inf", "nan" and leading blanks.
 */
static bool
is_decimal(const char *s)
{
    const char *p = s + (*s == '-');
    const char *d = p;
    double v;
    char *end;

    while (isdigit((unsigned char)*p))
        p++;
    if (p == d)
        return false;
    if (*p == '.') {
        d = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        if (p == d)
            return false;
    }
    if (*p == 'e' || *p == 'E') {
        p += p[1] == '+' || p[1] == '-' ? 2 : 1;
        d = p;
        while (isdigit((unsigned char)*p))
            p++;
        if (p == d)
            return false;
    }
    if (*p != '\0')
        return false;
    errno = 0;
    v = strtod(s, &end);
    (void)v;
    return errno == 0; /* not out of the range of a double */
}

/* The whole numbers an integer type holds, as mproc_value_set_i64()
 * sets them; false for float and double. */
static bool
int_range(int type, long long *lo, long long *hi)
{
    switch (type) {
    case MPROC_T_INT8: *lo = INT8_MIN; *hi = INT8_MAX; return true;
    case MPROC_T_INT16: *lo = INT16_MIN; *hi = INT16_MAX; return true;
    case MPROC_T_INT32: *lo = INT32_MIN; *hi = INT32_MAX; return true;
    case MPROC_T_INT64: *lo = INT64_MIN; *hi = INT64_MAX; return true;
    case MPROC_T_UINT8:
    case MPROC_T_CHAR: *lo = 0; *hi = UINT8_MAX; return true;
    case MPROC_T_UINT16: *lo = 0; *hi = UINT16_MAX; return true;
    case MPROC_T_UINT32: *lo = 0; *hi = UINT32_MAX; return true;
    case MPROC_T_UINT64: *lo = 0; *hi = INT64_MAX; return true;
    default: return false;
    }
}

int
mproc__decl_key(struct mproc__decls *d, const char *section, const char *key,
                const char *value, const char *loc, mproc_err_t *err)
{
    struct mproc__decl *x = find(d, strchr(section, ':') + 1);
    const char *keys;
    unsigned long long u;
    size_t klen = strlen(key);
    const char *p;
    int b;

    /* The reader declares every header before its keys; a key under a
     * header it did not see is the reader's bug, said, not a crash. */
    if (x == NULL)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: key '%s' under [%s], a section not declared "
                          "(a header the reader did not see)",
                          loc, key, section);
    keys = kind_keys[x->kind];

    /* Is `key` one of the words of `keys`? */
    for (p = strstr(keys, key); p != NULL; p = strstr(p + 1, key))
        if ((p == keys || p[-1] == ' ') && (p[klen] == ' ' || !p[klen]))
            break;
    if (p == NULL) {
        if (keys[0] == '\0')
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: [%s] takes no keys, got '%s'", loc,
                              section, key);
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: unknown key '%s' in [%s]; expected: %s", loc,
                          key, section, keys);
    }
    if (strcmp(key, "value") == 0) {
        if (!parse_uint(value, 1000000000, &u))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: value: expected an integer from 0 to "
                              "1000000000, got '%s'", loc, value);
        x->value = (unsigned)u;
    } else if (strcmp(key, "parties") == 0) {
        if (!parse_uint(value, 64, &u) || u == 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: parties: expected an integer from 1 to 64, "
                              "got '%s'", loc, value);
        x->parties = (unsigned)u;
    } else if (strcmp(key, "length") == 0) {
        if (!parse_uint(value, (size_t)16 << 20, &u) || u == 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: length: expected an integer from 1 to "
                              "16777216, got '%s'", loc, value);
        x->length = (size_t)u;
    } else if (strcmp(key, "type") == 0) {
        if ((x->type = mproc_type_from_name(value)) == 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: type: expected int8, int16, int32, int64, "
                              "uint8, uint16, uint32, uint64, float, double "
                              "or char, got '%s'", loc, value);
    } else if (strcmp(key, "init") == 0) {
        if (!is_decimal(value))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: init: expected a number, got '%s'", loc,
                              value);
        free(x->init);
        free(x->init_at);
        x->init_at = strdup(loc);
        if ((x->init = strdup(value)) == NULL || x->init_at == NULL)
            return mproc__err(err, MPROC_ENOMEM, "out of memory");
    } else if (strcmp(key, "lock") == 0 && x->kind == MPROC__DECL_CONDITION) {
        if (!good_name(value))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: lock: expected the name of a [lock:NAME] "
                              "or [rlock:NAME], got '%s'", loc, value);
        free(x->lock);
        free(x->lock_at);
        x->lock_at = strdup(loc);
        if ((x->lock = strdup(value)) == NULL || x->lock_at == NULL)
            return mproc__err(err, MPROC_ENOMEM, "out of memory");
    } else { /* lock = true | false, for values and arrays */
        b = strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0 ||
                    strcasecmp(value, "yes") == 0
                ? 1
            : strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0 ||
                    strcasecmp(value, "no") == 0
                ? 0
                : -1;
        if (b < 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: lock: expected true or false, got '%s'",
                              loc, value);
        x->locked = b;
    }
    return 0;
}

int
mproc__decl_finish(struct mproc__decls *d, mproc_err_t *err)
{
    long long lo, hi, v;
    char *end;
    size_t i;

    for (i = 0; d != NULL && i < d->n; i++) {
        struct mproc__decl *x = &d->v[i], *l;
        const char *k = kinds[x->kind];

        if (x->kind == MPROC__DECL_BARRIER && x->parties == 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: [%s:%s] needs parties = N", x->where, k,
                              x->name);
        if ((x->kind == MPROC__DECL_VALUE || x->kind == MPROC__DECL_ARRAY) &&
            x->type == 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: [%s:%s] needs a type, e.g. type = int64",
                              x->where, k, x->name);
        if (x->kind == MPROC__DECL_ARRAY && x->length == 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: [array:%s] needs length = N", x->where,
                              x->name);
        if (x->kind == MPROC__DECL_VALUE)
            x->length = 1;
        if (x->init != NULL && int_range(x->type, &lo, &hi)) {
            /* An integer type: a whole number in its range, not one that
             * strtoll() would cut at the '.' or wrap. */
            errno = 0;
            v = strtoll(x->init, &end, 10);
            if (*end != '\0' || errno != 0 || v < lo || v > hi)
                return mproc__err(err, MPROC_ECONFIG,
                                  "%s: [%s:%s] init = %s: type %s takes a "
                                  "whole number from %lld to %lld",
                                  x->init_at ? x->init_at : x->where, k,
                                  x->name, x->init, mproc_type_name(x->type),
                                  lo, hi);
        }
        if (x->kind == MPROC__DECL_CONDITION && x->lock != NULL) {
            l = find(d, x->lock);
            if (l == NULL || (l->kind != MPROC__DECL_LOCK &&
                              l->kind != MPROC__DECL_RLOCK))
                return mproc__err(err, MPROC_ECONFIG,
                                  "%s: [condition:%s]: lock = %s names no "
                                  "[lock:%s] or [rlock:%s]",
                                  x->lock_at ? x->lock_at : x->where,
                                  x->name, x->lock, x->lock, x->lock);
        }
    }
    return 0;
}

size_t
mproc__decl_list(const struct mproc__decls *d, const struct mproc__decl **out)
{
    *out = d ? d->v : NULL;
    return d ? d->n : 0;
}

const char *
mproc__decl_kind_name(int kind)
{
    return kind >= 0 && kind < NKINDS ? kinds[kind] : "?";
}

void
mproc__decl_free(struct mproc__decls *d)
{
    size_t i;

    if (d == NULL)
        return;
    for (i = 0; i < d->n; i++) {
        free(d->v[i].name);
        free(d->v[i].where);
        free(d->v[i].init);
        free(d->v[i].lock);
        free(d->v[i].init_at);
        free(d->v[i].lock_at);
    }
    free(d->v);
    free(d);
}

/*
 * INI job files: read with inih, checked against mproc's schema.
 *
 * inih (Debian's libinih, built with its defaults) has three habits that a
 * job file must not suffer silently, so this file works around each:
 *   - it cuts lines longer than 199 bytes and parses the rest as the next
 *     line: we read the file ourselves first and refuse such a line;
 *   - its handler is not told the line number: we feed inih one line per
 *     call through our own reader, which counts;
 *   - an indented line continues the previous value: we refuse it, since a
 *     stray indent would otherwise change a value far above it.
 * Every value is parsed and checked when it is set, from a file or from
 * --set, so each error names the place it came from.
 */
#include "internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config/config_int.h"

#define DEFAULT_MESSAGE_MAX ((size_t)64 << 20)
#define MAX_MESSAGE_MAX ((size_t)1 << 30)
#define MAX_WORKERS 4096
#define MAX_CHUNKSIZE 1000000
#define MAX_TASKS_PER_CHILD 1000000000

enum key_type {
    T_NAME,     /* plugin: a name, or a path when it has '/' */
    T_IDENT,    /* task */
    T_INPUT,
    T_OUTPUT,
    T_BOOL,
    T_CHUNK,
    T_ON_ERROR,
    T_SIZE,
    T_WORKERS,
    T_START,
    T_IPC,
    T_SYNC,
    T_COUNT     /* max_tasks_per_child */
};

struct key_def {
    const char *section;
    const char *name;
    int type;
};

static const struct key_def keys[] = {
    {"job", "plugin", T_NAME},
    {"job", "task", T_IDENT},
    {"job", "input", T_INPUT},
    {"job", "output", T_OUTPUT},
    {"job", "ordered", T_BOOL},
    {"job", "chunksize", T_CHUNK},
    {"job", "on_error", T_ON_ERROR},
    {"job", "message_max", T_SIZE},
    {"pool", "workers", T_WORKERS},
    {"pool", "start_method", T_START},
    {"pool", "ipc", T_IPC},
    {"pool", "max_tasks_per_child", T_COUNT},
    {"pool", "sync", T_SYNC},
};
#define NKEYS MPROC__ARRAY_SIZE(keys)

static const char *const sections[] = {"job", "pool", "args"};
static const char *const start_methods[] = {"fork", "spawn", "forkserver"};
static const char *const ipcs[] = {"pipe", "mq", "shmring"};
static const char *const on_errors[] = {"continue", "abort"};
static const char *const syncs[] = {"futex", "posix", "sysv"};

/* One value as set: its text, where, and (for paths) the resolved form. */
struct value {
    char *raw;
    char *resolved;
    char *where; /* "FILE:LINE" or "--set" */
    int line;    /* line in the file it came from, 0 for --set */
    int file_id; /* which load it came from, for duplicate detection */
};

struct arg {
    struct value v;
    char *key;
};

struct mproc_config {
    struct value vals[NKEYS];
    struct arg *args;
    size_t nargs, args_cap;
    struct mproc_kv *kv;   /* view of args for mproc_config_args */
    struct mproc__job job;
    struct mproc__decls *decls;
    bool finished;
    int loads;             /* files loaded so far */
    char *last_file;
};

/* The state of one file being parsed. */
struct parse {
    mproc_config_t *cfg;
    const char *path;
    char *dir;       /* the file's folder, for relative paths */
    const char *data;
    size_t len, off;
    int line;        /* the line inih is parsing */
    int file_id;
    int code;        /* first error */
    mproc_err_t *err;
};

/* ---- small helpers ---- */

static size_t
levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j;
    size_t row[64], prev, tmp;

    if (la >= 63 || lb >= 63)
        return 99;
    for (j = 0; j <= lb; j++)
        row[j] = j;
    for (i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t best = prev + (a[i - 1] != b[j - 1]);
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

/* The closest of `n` names to `s`, or NULL when none is close. */
static const char *
closest(const char *s, const char *const *names, size_t n)
{
    size_t i, d, best = 99, limit = strlen(s) / 3;
    const char *found = NULL;

    if (limit < 2)
        limit = 2;
    for (i = 0; i < n; i++) {
        d = levenshtein(s, names[i]);
        if (d < best) {
            best = d;
            found = names[i];
        }
    }
    return best <= limit ? found : NULL;
}

static bool
is_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' &&
            *s != '-')
            return false;
    return true;
}

/* Parse a whole non-negative decimal; false on junk or overflow. */
static bool
parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    unsigned long long v;

    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

static bool
parse_i64(const char *s, size_t len, int64_t *out)
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

static int
parse_bool(const char *s)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    size_t i;

    for (i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

static bool
parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v, mul = 1;

    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return false;
    if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kib") == 0)
        mul = 1ull << 10;
    else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mib") == 0)
        mul = 1ull << 20;
    else if (strcasecmp(end, "g") == 0 || strcasecmp(end, "gib") == 0)
        mul = 1ull << 30;
    else if (*end != '\0')
        return false;
    if (v == 0 || v > MAX_MESSAGE_MAX / mul)
        return false;
    *out = (size_t)(v * mul);
    return true;
}

/* "a, b or c" */
static void
join_or(const char *const *names, size_t n, char *buf, size_t cap)
{
    size_t i, used = 0;

    buf[0] = '\0';
    for (i = 0; i < n; i++) {
        int k = snprintf(buf + used, cap - used, "%s%s",
                         i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
        if (k < 0 || used + (size_t)k >= cap)
            break;
        used += (size_t)k;
    }
}

static int
find_enum(const char *s, const char *const *names, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

static char *
join_path(const char *dir, const char *path)
{
    char *out;

    if (dir == NULL || path[0] == '/')
        return strdup(path);
    if (asprintf(&out, "%s/%s", dir, path) < 0)
        return NULL;
    return out;
}

/* ---- values ---- */

/*
 * Check `raw` for key `k` and store it.  `loc` prefixes messages
 * ("FILE:LINE" or "--set ASSIGNMENT"); `dir` resolves relative paths.
 */
static int
set_value(mproc_config_t *cfg, const struct key_def *k, const char *raw,
          const char *loc, const char *dir, mproc_err_t *err)
{
    struct mproc__job *j = &cfg->job;
    struct value *v = &cfg->vals[k - keys];
    char *resolved = NULL, list[64];
    const char *p;
    unsigned long long u;
    bool need_path = false;
    int b, e;

    switch (k->type) {
    case T_NAME:
        if (raw[0] == '\0')
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: plugin: expected a plugin name or a path, "
                              "got nothing", loc);
        if (strchr(raw, '/') == NULL && !is_name(raw))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: plugin: '%s' is not a plugin name (letters, "
                              "digits, '_', '.', '-'); a path needs a '/', "
                              "e.g. ./%s", loc, raw, raw);
        if ((need_path = strchr(raw, '/') != NULL))
            resolved = join_path(dir, raw);
        break;
    case T_IDENT:
        if (!is_name(raw))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: task: expected a task name (letters, "
                              "digits, '_', '.', '-'), got '%s'", loc, raw);
        break;
    case T_INPUT:
        if (strcmp(raw, "stdin") == 0) {
            j->input_kind = MPROC__INPUT_STDIN;
        } else if (strncmp(raw, "lines:", 6) == 0 ||
                   strncmp(raw, "files:", 6) == 0) {
            if (raw[6] == '\0')
                return mproc__err(err, MPROC_ECONFIG,
                                  "%s: input: '%s' names no path; expected "
                                  "%.6sPATH", loc, raw, raw);
            j->input_kind = raw[0] == 'l' ? MPROC__INPUT_LINES
                                          : MPROC__INPUT_FILES;
            resolved = join_path(dir, raw + 6);
            need_path = true;
        } else if (strncmp(raw, "range:", 6) == 0) {
            const char *dots = strstr(raw + 6, "..");
            int64_t lo, hi;
            if (dots == NULL || !parse_i64(raw + 6, (size_t)(dots - raw - 6),
                                           &lo) ||
                !parse_i64(dots + 2, strlen(dots + 2), &hi))
                return mproc__err(err, MPROC_ECONFIG,
                                  "%s: input: '%s' is not a range; expected "
                                  "range:A..B with integers A <= B", loc, raw);
            if (hi < lo)
                return mproc__err(err, MPROC_ECONFIG,
                                  "%s: input: %s: the end must not be below "
                                  "the start; expected range:A..B with A <= B",
                                  loc, raw);
            j->input_kind = MPROC__INPUT_RANGE;
            j->range_lo = lo;
            j->range_hi = hi;
        } else {
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: input: expected stdin, lines:PATH, "
                              "range:A..B or files:DIR-or-GLOB, got '%s'",
                              loc, raw);
        }
        break;
    case T_OUTPUT:
        if (raw[0] == '\0')
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: output: expected stdout or a path, got "
                              "nothing", loc);
        if ((need_path = strcmp(raw, "stdout") != 0))
            resolved = join_path(dir, raw);
        break;
    case T_BOOL:
        if ((b = parse_bool(raw)) < 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: %s: expected true or false, got '%s'", loc,
                              k->name, raw);
        j->ordered = b;
        break;
    case T_CHUNK:
        if (!parse_u64(raw, MAX_CHUNKSIZE, &u) || u == 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: chunksize: expected an integer from 1 to "
                              "%d, got '%s'", loc, MAX_CHUNKSIZE, raw);
        j->chunksize = (unsigned)u;
        break;
    case T_SIZE:
        if (!parse_size(raw, &j->message_max))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: message_max: expected a size from 1 byte "
                              "to 1G, like 65536, 512K or 64M, got '%s'",
                              loc, raw);
        break;
    case T_WORKERS:
        if (strcmp(raw, "auto") == 0)
            j->workers = 0;
        else if (parse_u64(raw, MAX_WORKERS, &u) && u > 0)
            j->workers = (unsigned)u;
        else
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: workers: expected a positive integer or "
                              "'auto', got '%s'", loc, raw);
        break;
    case T_COUNT:
        if (!parse_u64(raw, MAX_TASKS_PER_CHILD, &u))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: max_tasks_per_child: expected 0 "
                              "(unlimited) or a positive integer, got '%s'",
                              loc, raw);
        j->max_tasks_per_child = (unsigned)u;
        break;
    case T_START:
    case T_IPC:
    case T_SYNC:
    case T_ON_ERROR: {
        const char *const *names = k->type == T_START  ? start_methods
                                   : k->type == T_IPC  ? ipcs
                                   : k->type == T_SYNC ? syncs
                                                       : on_errors;
        size_t n = k->type == T_ON_ERROR ? 2 : 3;
        if ((e = find_enum(raw, names, n)) < 0) {
            p = closest(raw, names, n);
            join_or(names, n, list, sizeof(list));
            if (p != NULL)
                return mproc__err(err, MPROC_ECONFIG,
                                  "%s: %s: expected %s, got '%s'; did you "
                                  "mean '%s'?", loc, k->name, list, raw, p);
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: %s: expected %s, got '%s'", loc, k->name,
                              list, raw);
        }
        if (k->type == T_ON_ERROR)
            j->on_error = e;
        break;
    }
    }
    if (need_path && resolved == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");

    free(v->raw);
    free(v->resolved);
    v->raw = strdup(raw);
    v->resolved = resolved;
    if (v->raw == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    return 0;
}

static int
set_where(struct value *v, const char *where, int line, int file_id)
{
    free(v->where);
    v->where = strdup(where);
    v->line = line;
    v->file_id = file_id;
    return v->where != NULL ? 0 : MPROC_ENOMEM;
}

static struct arg *
find_arg(mproc_config_t *cfg, const char *key)
{
    size_t i;
    for (i = 0; i < cfg->nargs; i++)
        if (strcmp(cfg->args[i].key, key) == 0)
            return &cfg->args[i];
    return NULL;
}

static int
set_arg(mproc_config_t *cfg, const char *key, const char *value,
        const char *where, int line, int file_id, const char *loc,
        mproc_err_t *err)
{
    struct arg *a;

    if (!is_name(key))
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: [args] key '%s' must be made of letters, "
                          "digits, '_', '.' and '-'", loc, key);
    a = find_arg(cfg, key);
    if (a == NULL) {
        if (cfg->nargs == cfg->args_cap) {
            size_t cap = cfg->args_cap ? cfg->args_cap * 2 : 8;
            struct arg *n = realloc(cfg->args, cap * sizeof(*n));
            if (n == NULL)
                return mproc__err(err, MPROC_ENOMEM, "out of memory");
            cfg->args = n;
            cfg->args_cap = cap;
        }
        a = &cfg->args[cfg->nargs];
        memset(a, 0, sizeof(*a));
        if ((a->key = strdup(key)) == NULL)
            return mproc__err(err, MPROC_ENOMEM, "out of memory");
        cfg->nargs++;
    }
    free(a->v.raw);
    a->v.raw = strdup(value);
    if (a->v.raw == NULL || set_where(&a->v, where, line, file_id) < 0)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    return 0;
}

static const struct key_def *
find_key(const char *section, const char *name)
{
    size_t i;
    for (i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0 &&
            strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* The error for a key the schema does not have in `section`. */
static int
unknown_key(const char *section, const char *name, const char *loc,
            mproc_err_t *err)
{
    const char *names[NKEYS], *near;
    char list[256];
    size_t i, n = 0;

    for (i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: key '%s' belongs in [%s], not [%s]", loc,
                              name, keys[i].section, section);
    for (i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0)
            names[n++] = keys[i].name;
    near = closest(name, names, n);
    if (near != NULL)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: unknown key '%s' in [%s]; did you mean '%s'?",
                          loc, name, section, near);
    join_or(names, n, list, sizeof(list));
    return mproc__err(err, MPROC_ECONFIG,
                      "%s: unknown key '%s' in [%s]; expected %s", loc, name,
                      section, list);
}

static int
unknown_section(const char *section, const char *loc, mproc_err_t *err)
{
    const char *near = closest(section, sections, 3);

    if (near != NULL)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: unknown section [%s]; did you mean [%s]?", loc,
                          section, near);
    return mproc__err(err, MPROC_ECONFIG,
                      "%s: unknown section [%s]; expected [job], [pool] or "
                      "[args]", loc, section);
}

/* ---- reading files ---- */

/* inih's reader: hand out one line per call, counting lines. */
static char *
read_line(char *str, int num, void *stream)
{
    struct parse *ps = stream;
    const char *start, *nl;
    size_t n;

    if (ps->off >= ps->len)
        return NULL;
    start = ps->data + ps->off;
    nl = memchr(start, '\n', ps->len - ps->off);
    n = nl ? (size_t)(nl - start) + 1 : ps->len - ps->off;
    ps->off += n;
    ps->line++;
    /* Lines were checked against the limit before parsing began. */
    if (n > (size_t)num - 1)
        n = (size_t)num - 1;
    memcpy(str, start, n);
    str[n] = '\0';
    return str;
}

/*
 * inih's handler.  It returns 1 ("handled") even for a bad key: our own
 * message, with its line, is kept in ps->code, and inih's bare line number
 * would only replace it with a vaguer one.
 */
static int
on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct parse *ps = user;
    mproc_config_t *cfg = ps->cfg;
    const struct key_def *k;
    struct value *v;
    char loc[4200];
    int r;

    if (ps->code != 0)
        return 1;
    snprintf(loc, sizeof(loc), "%s:%d", ps->path, ps->line);
    if (section[0] == '\0') {
        ps->code = mproc__err(ps->err, MPROC_ECONFIG,
                              "%s: key '%s' is outside any section; put it "
                              "under [job], [pool] or [args]", loc, name);
        return 1;
    }
    if (mproc__decl_section(section)) {
        ps->code = mproc__decl_key(cfg->decls, section, name, value, loc,
                                   ps->err);
        return 1;
    }
    if (find_enum(section, sections, 3) < 0) {
        ps->code = unknown_section(section, loc, ps->err);
        return 1;
    }
    if (strcmp(section, "args") == 0) {
        struct arg *a = find_arg(cfg, name);
        if (a != NULL && a->v.file_id == ps->file_id) {
            ps->code = mproc__err(ps->err, MPROC_ECONFIG,
                                  "%s: duplicate key '%s' in [args] (first "
                                  "set at line %d)", loc, name, a->v.line);
            return 1;
        }
        ps->code = set_arg(cfg, name, value, loc, ps->line, ps->file_id, loc,
                           ps->err);
        return 1;
    }
    k = find_key(section, name);
    if (k == NULL) {
        ps->code = unknown_key(section, name, loc, ps->err);
        return 1;
    }
    v = &cfg->vals[k - keys];
    if (v->raw != NULL && v->file_id == ps->file_id) {
        ps->code = mproc__err(ps->err, MPROC_ECONFIG,
                              "%s: duplicate key '%s' in [%s] (first set at "
                              "line %d)", loc, name, section, v->line);
        return 1;
    }
    r = set_value(cfg, k, value, loc, ps->dir, ps->err);
    if (r == 0)
        r = set_where(v, loc, ps->line, ps->file_id);
    ps->code = r;
    return 1;
}

/* Refuse what inih would mis-read: long lines and continuation lines. */
static int
precheck(struct parse *ps)
{
    const char *p = ps->data, *end = ps->data + ps->len;
    int line = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t k;

        line++;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (memchr(p, '\0', n) != NULL)
            return mproc__err(ps->err, MPROC_ECONFIG,
                              "%s:%d: line holds a NUL byte; a job file is "
                              "text", ps->path, line);
        if (n > MPROC_CONFIG_LINE_MAX)
            return mproc__err(ps->err, MPROC_ECONFIG,
                              "%s:%d: line is %zu bytes long; inih reads at "
                              "most %d (split the value or shorten the path)",
                              ps->path, line, n, MPROC_CONFIG_LINE_MAX);
        if (n > 0 && p[0] == '[') {
            /* inih reports a section only with its first key, so an
             * empty section would pass unseen, and a bad one would be
             * blamed on the line of its first key: check headers here. */
            const char *close = memchr(p, ']', n);
            char name[MPROC_CONFIG_LINE_MAX + 1], loc[4200];
            if (close != NULL) {
                int r;
                memcpy(name, p + 1, (size_t)(close - p - 1));
                name[close - p - 1] = '\0';
                snprintf(loc, sizeof(loc), "%s:%d", ps->path, line);
                if (mproc__decl_section(name)) {
                    r = mproc__decl_header(&ps->cfg->decls, name, loc,
                                           ps->file_id, ps->err);
                    if (r < 0)
                        return r;
                } else if (find_enum(name, sections, 3) < 0) {
                    return unknown_section(name, loc, ps->err);
                }
            }
        }
        if (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
            for (k = 0; k < n && (p[k] == ' ' || p[k] == '\t'); k++)
                ;
            if (k < n && p[k] != ';' && p[k] != '#')
                return mproc__err(ps->err, MPROC_ECONFIG,
                                  "%s:%d: indented line: continuation lines "
                                  "are not supported; remove the leading "
                                  "whitespace", ps->path, line);
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

static int
read_file(const char *path, char **data, size_t *len, mproc_err_t *err)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;

    if (fp == NULL)
        return mproc__err(err, MPROC_EINPUT, "%s: cannot open: %s", path,
                          strerror(errno));
    do {
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (nb == NULL) {
                free(buf);
                fclose(fp);
                return mproc__err(err, MPROC_ENOMEM, "out of memory");
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
    } while (got > 0);
    if (ferror(fp)) {
        int e = errno;
        free(buf);
        fclose(fp);
        return mproc__err(err, MPROC_EINPUT, "%s: cannot read: %s", path,
                          strerror(e));
    }
    fclose(fp);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int
mproc_config_new(mproc_config_t **out, mproc_err_t *err)
{
    mproc_config_t *cfg = calloc(1, sizeof(*cfg));

    *out = NULL;
    if (cfg == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    *out = cfg;
    return 0;
}

int
mproc_config_load(mproc_config_t *cfg, const char *path, mproc_err_t *err)
{
    struct parse ps = {.cfg = cfg, .path = path, .err = err};
    char *data = NULL, *slash;
    int r;

    r = read_file(path, &data, &ps.len, err);
    if (r < 0)
        return r;
    ps.data = data;
    ps.file_id = ++cfg->loads;
    ps.dir = strdup(path);
    if (ps.dir == NULL) {
        free(data);
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    }
    slash = strrchr(ps.dir, '/');
    if (slash == NULL) {
        free(ps.dir);
        ps.dir = NULL; /* relative to the working directory */
    } else {
        slash[slash == ps.dir] = '\0';
    }
    r = precheck(&ps);
    if (r == 0) {
        int bad = ini_parse_stream(read_line, &ps, on_ini, &ps);
        r = ps.code;
        if (r == 0 && bad > 0)
            r = mproc__err(err, MPROC_ECONFIG,
                           "%s:%d: syntax error: expected '[section]', "
                           "'key = value' or a comment", path, bad);
        else if (r == 0 && bad < 0)
            r = mproc__err(err, MPROC_ENOMEM, "%s: cannot parse: out of "
                                              "memory", path);
    }
    if (r == 0) {
        free(cfg->last_file);
        cfg->last_file = strdup(path);
    }
    free(ps.dir);
    free(data);
    return r;
}

int
mproc_config_set(mproc_config_t *cfg, const char *assignment,
                 mproc_err_t *err)
{
    const char *eq = strchr(assignment, '='), *dot;
    char section[64], name[128], loc[512], *trimmed;
    const struct key_def *k;
    const char *value;
    size_t sl, nl, vlen;
    int r;

    snprintf(loc, sizeof(loc), "--set %s", assignment);
    dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
    value = eq ? eq + 1 : NULL;
    if (eq == NULL || dot == NULL)
        return mproc__err(err, MPROC_ECONFIG,
                          "--set '%s': expected SECTION.KEY=VALUE, e.g. --set "
                          "pool.workers=4", assignment);
    /* Trim blanks around the section, the key and the value, as inih
     * does in a file. */
    {
        const char *a = assignment, *b = dot;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        sl = (size_t)(b - a);
        assignment = a;
        a = dot + 1;
        b = eq;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        nl = (size_t)(b - a);
        dot = a - 1;
    }
    if (sl == 0 || nl == 0 || sl >= sizeof(section) || nl >= sizeof(name))
        return mproc__err(err, MPROC_ECONFIG,
                          "--set '%s': expected SECTION.KEY=VALUE, e.g. --set "
                          "pool.workers=4", assignment);
    memcpy(section, assignment, sl);
    section[sl] = '\0';
    memcpy(name, dot + 1, nl);
    name[nl] = '\0';
    while (isspace((unsigned char)*value))
        value++;
    vlen = strlen(value);
    while (vlen > 0 && isspace((unsigned char)value[vlen - 1]))
        vlen--;
    trimmed = strndup(value, vlen);
    if (trimmed == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");

    if (mproc__decl_section(section)) {
        r = mproc__decl_header(&cfg->decls, section, loc, 0, err);
        if (r == 0)
            r = mproc__decl_key(cfg->decls, section, name, trimmed, loc, err);
    } else if (find_enum(section, sections, 3) < 0)
        r = unknown_section(section, loc, err);
    else if (strcmp(section, "args") == 0)
        r = set_arg(cfg, name, trimmed, "--set", 0, 0, loc, err);
    else if ((k = find_key(section, name)) == NULL)
        r = unknown_key(section, name, loc, err);
    else if ((r = set_value(cfg, k, trimmed, loc, NULL, err)) == 0)
        r = set_where(&cfg->vals[k - keys], "--set", 0, 0);
    free(trimmed);
    return r;
}

static const struct value *
val(const mproc_config_t *cfg, const char *name)
{
    size_t i;
    for (i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return cfg->vals[i].raw ? &cfg->vals[i] : NULL;
    return NULL;
}

int
mproc_config_finish(mproc_config_t *cfg, mproc_err_t *err)
{
    struct mproc__job *j = &cfg->job;
    const struct value *v;
    size_t i;

    v = val(cfg, "plugin");
    if (v == NULL)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: [job] plugin is not set; name a plugin, e.g. "
                          "plugin = echo",
                          cfg->last_file ? cfg->last_file : "configuration");
    j->plugin = v->resolved ? v->resolved : v->raw;
    j->task = (v = val(cfg, "task")) ? v->raw : NULL;
    if ((v = val(cfg, "input")) == NULL)
        j->input_kind = MPROC__INPUT_STDIN;
    j->input_path = v && v->resolved ? v->resolved : NULL;
    v = val(cfg, "output");
    j->output = v ? v->resolved : NULL;
    if (val(cfg, "ordered") == NULL)
        j->ordered = true;
    if (val(cfg, "chunksize") == NULL)
        j->chunksize = 1;
    if (val(cfg, "on_error") == NULL)
        j->on_error = MPROC__ON_ERROR_CONTINUE;
    if (val(cfg, "message_max") == NULL)
        j->message_max = DEFAULT_MESSAGE_MAX;
    if (val(cfg, "workers") == NULL)
        j->workers = 0;
    j->start_method = (v = val(cfg, "start_method")) ? v->raw : "fork";
    j->ipc = (v = val(cfg, "ipc")) ? v->raw : "pipe";
    j->sync = (v = val(cfg, "sync")) ? v->raw : "futex";
    if (mproc__decl_finish(cfg->decls, err) < 0)
        return MPROC_ECONFIG;
    if (val(cfg, "max_tasks_per_child") == NULL)
        j->max_tasks_per_child = 0;

    free(cfg->kv);
    cfg->kv = calloc(cfg->nargs ? cfg->nargs : 1, sizeof(*cfg->kv));
    if (cfg->kv == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    for (i = 0; i < cfg->nargs; i++) {
        cfg->kv[i].key = cfg->args[i].key;
        cfg->kv[i].value = cfg->args[i].v.raw;
    }
    cfg->finished = true;
    return 0;
}

const struct mproc__job *
mproc__config_job(const mproc_config_t *cfg)
{
    return cfg->finished ? &cfg->job : NULL;
}

/*
 * The stored value of a key, or NULL when it is unset; *known says whether
 * the schema (or, for [args], the configuration) has the key at all.
 */
static const struct value *
lookup(const mproc_config_t *cfg, const char *section, const char *key,
       bool *known)
{
    const struct key_def *k;
    const struct arg *a;

    if (strcmp(section, "args") == 0) {
        a = find_arg((mproc_config_t *)cfg, key);
        *known = a != NULL;
        return a ? &a->v : NULL;
    }
    k = find_key(section, key);
    *known = k != NULL;
    return k && cfg->vals[k - keys].raw ? &cfg->vals[k - keys] : NULL;
}

const char *
mproc_config_get(const mproc_config_t *cfg, const char *section,
                 const char *key)
{
    bool known;
    const struct value *v = lookup(cfg, section, key, &known);

    return v ? v->raw : NULL;
}

const char *
mproc_config_where(const mproc_config_t *cfg, const char *section,
                   const char *key)
{
    bool known;
    const struct value *v = lookup(cfg, section, key, &known);

    if (v != NULL)
        return v->where;
    return known ? "default" : NULL;
}

size_t
mproc__config_decls(const mproc_config_t *cfg, const struct mproc__decl **out)
{
    return mproc__decl_list(cfg->decls, out);
}

size_t
mproc_config_args(const mproc_config_t *cfg, const struct mproc_kv **out)
{
    *out = cfg->kv;
    return cfg->kv ? cfg->nargs : 0;
}

void
mproc_config_free(mproc_config_t *cfg)
{
    size_t i;

    if (cfg == NULL)
        return;
    for (i = 0; i < NKEYS; i++) {
        free(cfg->vals[i].raw);
        free(cfg->vals[i].resolved);
        free(cfg->vals[i].where);
    }
    for (i = 0; i < cfg->nargs; i++) {
        free(cfg->args[i].key);
        free(cfg->args[i].v.raw);
        free(cfg->args[i].v.where);
    }
    free(cfg->args);
    free(cfg->kv);
    mproc__decl_free(cfg->decls);
    free(cfg->last_file);
    free(cfg);
}

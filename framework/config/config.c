/* SPDX-License-Identifier: MIT */
/*
 * The job configuration: the schema of [job] and [pool] (each key with
 * its type, range and default), the [args] the plugin is handed, and the
 * typed view of config_int.h that mproc_config_finish() builds from them.
 *
 * Every value is parsed and checked the moment it is set, from a file or
 * from --set, so each error names the place it came from: both end in
 * mproc__config_assign() here, the one place an assignment is checked.
 * The text they come in, a job file read through inih or a --set
 * argument, is taken apart in parse.c.
 */
#include "internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_int.h"

/* The keys of [job] and [pool], in the order they are documented. */
enum key_id {
    K_PLUGIN,
    K_TASK,
    K_INPUT,
    K_OUTPUT,
    K_OUTPUT_MODE,
    K_ORDERED,
    K_CHUNKSIZE,
    K_ON_ERROR,
    K_MESSAGE_MAX,
    K_TIMEOUT,
    K_TIMEOUT_GRACE,
    K_RETRIES,
    K_WORKERS,
    K_START_METHOD,
    K_IPC,
    K_MAX_TASKS,
    K_SYNC,
    K_MAX_MEMORY,
    K_RLIMIT_CPU,
    K_RLIMIT_AS,
    K_RLIMIT_NOFILE,
    K_NICE,
    /* sharding and the job log (mproc(1), "Running on a cluster") */
    K_SHARD,
    K_SHARD_MODE,
    K_JOBLOG_SYNC,
    K_QUARANTINE_AFTER, /* issue 19 (dbg19) */
    K_SLOWLOG,
    K_STATUS, /* [job] status: serve `mproc status` (issue 19) */
    K_LAUNCHER,     /* mpi18: the MPI launcher */
    K_NODE_TIMEOUT,
    NKEYS
};
_Static_assert(NKEYS == MPROC__CONFIG_NKEYS,
               "config_int.h sizes struct mproc_config for every key");

/* How a key's value is read. */
enum key_type {
    T_PLUGIN,  /* a name, or a path when it has a '/' */
    T_NAME,    /* [A-Za-z0-9_.-]+ */
    T_INPUT,   /* stdin | lines:PATH | range:A..B | files:DIR-or-GLOB */
    T_OUTPUT,  /* stdout | PATH */
    T_BOOL,    /* true/false/yes/no/on/off/1/0 */
    T_INT,     /* an integer from min to max */
    T_WORKERS, /* an integer from min to max, or auto (0) */
    T_SIZE,    /* bytes, with an optional K, M, G or T */
    T_DURATION, /* milliseconds: 1.5, 30s, 500ms, 2m, 1h; bare = seconds */
    T_NICE,    /* an integer from -20 to 19 */
    T_ENUM,    /* one of names[] */
    T_SHARD    /* none | K/N | slurm/N */
};

static const char *const on_errors[] = {"continue", "abort"};
static const char *const start_methods[] = {"fork", "spawn", "forkserver"};
/* "auto": measured on first use (ipc/auto.c), then cached. */
static const char *const ipcs[] = {"pipe", "mq", "shmring", "auto"};
static const char *const syncs[] = {"futex", "posix", "sysv"};
static const char *const launchers[] = {"local", "mpi"};
/* enum mproc__output_mode */
static const char *const output_modes[] = {"auto", "records", "records0",
                                           "raw"};
/* enum mproc__shard_mode, enum mproc__joblog_sync */
static const char *const shard_modes[] = {"contiguous", "stride"};
static const char *const joblog_syncs[] = {"none", "batch", "item"};

struct key_def {
    const char *section;
    const char *name;
    int type;               /* enum key_type */
    unsigned long long min; /* T_INT, T_WORKERS, T_SIZE */
    unsigned long long max;
    const char *const *names; /* T_ENUM */
    size_t nnames;
    const char *dflt; /* parsed by mproc_config_new(); NULL: none */
};

#define ENUM(a) T_ENUM, 0, 0, a, MPROC__ARRAY_SIZE(a)

static const struct key_def keys[NKEYS] = {
    [K_PLUGIN] = {"job", "plugin", T_PLUGIN, 0, 0, NULL, 0, NULL},
    [K_TASK] = {"job", "task", T_NAME, 0, 0, NULL, 0, NULL},
    [K_INPUT] = {"job", "input", T_INPUT, 0, 0, NULL, 0, "stdin"},
    [K_OUTPUT] = {"job", "output", T_OUTPUT, 0, 0, NULL, 0, "stdout"},
    [K_OUTPUT_MODE] = {"job", "output_mode", ENUM(output_modes), "auto"},
    [K_ORDERED] = {"job", "ordered", T_BOOL, 0, 0, NULL, 0, "true"},
    [K_CHUNKSIZE] = {"job", "chunksize", T_WORKERS, 1, 1000000, NULL, 0,
                     "auto"},
    [K_ON_ERROR] = {"job", "on_error", ENUM(on_errors), "continue"},
    [K_MESSAGE_MAX] = {"job", "message_max", T_SIZE, 1, 1ull << 30, NULL, 0,
                       "64M"},
    [K_TIMEOUT] = {"job", "timeout", T_DURATION, 0, 7ull * 86400 * 1000, NULL,
                   0, "0"},
    [K_TIMEOUT_GRACE] = {"job", "timeout_grace", T_DURATION, 0,
                         3600ull * 1000, NULL, 0, "1s"},
    [K_RETRIES] = {"job", "retries", T_INT, 0, 1000, NULL, 0, "0"},
    [K_WORKERS] = {"pool", "workers", T_WORKERS, 1, 4096, NULL, 0, "auto"},
    [K_START_METHOD] = {"pool", "start_method", ENUM(start_methods), "fork"},
    [K_IPC] = {"pool", "ipc", ENUM(ipcs), "pipe"},
    [K_MAX_TASKS] = {"pool", "max_tasks_per_child", T_INT, 0, 1000000000, NULL,
                     0, "0"},
    [K_SYNC] = {"pool", "sync", ENUM(syncs), "futex"},
    [K_MAX_MEMORY] = {"pool", "max_memory_per_child", T_SIZE, 0, 1ull << 40,
                      NULL, 0, "0"},
    [K_RLIMIT_CPU] = {"pool", "rlimit_cpu", T_INT, 0, 1000000000, NULL, 0,
                      "0"},
    [K_RLIMIT_AS] = {"pool", "rlimit_as", T_SIZE, 0, 1ull << 40, NULL, 0, "0"},
    [K_RLIMIT_NOFILE] = {"pool", "rlimit_nofile", T_INT, 0, 1048576, NULL, 0,
                         "0"},
    [K_NICE] = {"pool", "nice", T_NICE, 0, 0, NULL, 0, "0"},
    [K_SHARD] = {"job", "shard", T_SHARD, 0, 0, NULL, 0, "none"},
    [K_SHARD_MODE] = {"job", "shard_mode", ENUM(shard_modes), "contiguous"},
    [K_JOBLOG_SYNC] = {"job", "joblog_sync", ENUM(joblog_syncs), "none"},
    /* issue 19 (dbg19): 0 = auto (2 when retries > 0) */
    [K_QUARANTINE_AFTER] = {"job", "quarantine_after", T_WORKERS, 1, 1000,
                            NULL, 0, "auto"},
    [K_SLOWLOG] = {"job", "slowlog", T_DURATION, 0, 7ull * 86400 * 1000,
                   NULL, 0, "0"},
    [K_STATUS] = {"job", "status", T_BOOL, 0, 0, NULL, 0, "on"},
    [K_LAUNCHER] = {"pool", "launcher", ENUM(launchers), "local"},
    [K_NODE_TIMEOUT] = {"pool", "node_timeout", T_DURATION, 100,
                        3600ull * 1000, NULL, 0, "10s"},
};

const char *const mproc__config_sections[] = {"job", "pool", "args",
                                               "manager"};

/* ---- values ---- */

/* input = ...; sets p->num to an enum mproc__input_kind. */
static int
parse_input(const char *raw, const struct mproc__config_source *src,
            struct mproc__config_parsed *p, mproc_err_t *err)
{
    const char *dots;

    if (strcmp(raw, "stdin") == 0) {
        p->num = MPROC__INPUT_STDIN;
        return 0;
    }
    if (strncmp(raw, "lines0:", 7) == 0) {
        /* As lines:, with items that end at NUL bytes (find -print0);
         * "-" is stdin. */
        if (raw[7] == '\0')
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: input: '%s' names no path; expected "
                              "lines0:PATH or lines0:-",
                              src->loc, raw);
        p->nul = true;
        p->num = strcmp(raw + 7, "-") == 0 ? MPROC__INPUT_STDIN
                                           : MPROC__INPUT_LINES;
        if (p->num == MPROC__INPUT_LINES &&
            (p->path = mproc__resolve(src->dir, raw + 7)) == NULL)
            return mproc__err(err, MPROC_ENOMEM, "out of memory");
        return 0;
    }
    if (strncmp(raw, "lines:", 6) == 0 || strncmp(raw, "files:", 6) == 0) {
        if (raw[6] == '\0')
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: input: '%s' names no path; expected "
                              "%.6sPATH",
                              src->loc, raw, raw);
        p->num = raw[0] == 'l' ? MPROC__INPUT_LINES : MPROC__INPUT_FILES;
        if ((p->path = mproc__resolve(src->dir, raw + 6)) == NULL)
            return mproc__err(err, MPROC_ENOMEM, "out of memory");
        return 0;
    }
    if (strncmp(raw, "range:", 6) == 0) {
        dots = strstr(raw + 6, "..");
        if (dots == NULL ||
            !mproc__parse_int64(raw + 6, (size_t)(dots - (raw + 6)), &p->lo) ||
            !mproc__parse_int64(dots + 2, strlen(dots + 2), &p->hi))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: input: '%s' is not a range; expected "
                              "range:A..B with integers A <= B",
                              src->loc, raw);
        if (p->hi < p->lo)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: input: %s: the end must not be below the "
                              "start; expected range:A..B with A <= B",
                              src->loc, raw);
        p->num = MPROC__INPUT_RANGE;
        return 0;
    }
    return mproc__err(err, MPROC_ECONFIG,
                      "%s: input: expected stdin, lines:PATH, lines0:PATH, "
                      "range:A..B or files:DIR-or-GLOB, got '%s'",
                      src->loc, raw);
}

/* shard = none | K/N | slurm/N: p->lo = K (-1: slurm), p->hi = N (0:
 * none).  N is always the user's: see mproc(1), "Running on a cluster". */
static int
parse_shard(const char *raw, const struct mproc__config_source *src,
            struct mproc__config_parsed *p, mproc_err_t *err)
{
    const char *slash = strchr(raw, '/');

    if (strcmp(raw, "none") == 0)
        return 0;
    if (slash != NULL && mproc__parse_int64(slash + 1, strlen(slash + 1),
                                            &p->hi) &&
        p->hi >= 1 && p->hi <= 1000000) {
        if (slash - raw == 5 && strncmp(raw, "slurm", 5) == 0) {
            p->lo = -1;
            return 0;
        }
        if (mproc__parse_int64(raw, (size_t)(slash - raw), &p->lo) &&
            p->lo >= 0 && p->lo < p->hi)
            return 0;
    }
    p->lo = p->hi = 0;
    return mproc__err(err, MPROC_ECONFIG,
                      "%s: shard: expected K/N with 0 <= K < N <= 1000000 "
                      "(shard K, from 0, of N), slurm/N (K from "
                      "SLURM_ARRAY_TASK_ID) or none, got '%s'",
                      src->loc, raw);
}

/*
 * Check `raw` as a value of key `k` and parse it into *p (zeroed first;
 * p->path is the caller's to free, also after a failure).  Messages start
 * with src->loc and then name the key, so a file and --set read alike.
 */
static int
parse_value(const struct key_def *k, const char *raw,
            const struct mproc__config_source *src,
            struct mproc__config_parsed *p, mproc_err_t *err)
{
    const char *near;
    char list[128];
    int i;

    memset(p, 0, sizeof(*p));
    switch (k->type) {
    case T_PLUGIN:
        if (raw[0] == '\0')
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: plugin: expected a plugin name or a path, "
                              "got nothing",
                              src->loc);
        if (strchr(raw, '/') != NULL) {
            if ((p->path = mproc__resolve(src->dir, raw)) == NULL)
                return mproc__err(err, MPROC_ENOMEM, "out of memory");
        } else if (!mproc__is_name(raw)) {
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: plugin: '%s' is not a plugin name "
                              "(letters, digits, '_', '.', '-'); a path "
                              "needs a '/', e.g. ./%s",
                              src->loc, raw, raw);
        }
        return 0;
    case T_NAME:
        if (!mproc__is_name(raw))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: %s: expected a name made of letters, "
                              "digits, '_', '.' and '-', got '%s'",
                              src->loc, k->name, raw);
        return 0;
    case T_INPUT:
        return parse_input(raw, src, p, err);
    case T_SHARD:
        return parse_shard(raw, src, p, err);
    case T_OUTPUT:
        if (raw[0] == '\0')
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: output: expected stdout or a path, got "
                              "nothing",
                              src->loc);
        if (strcmp(raw, "stdout") != 0 &&
            (p->path = mproc__resolve(src->dir, raw)) == NULL)
            return mproc__err(err, MPROC_ENOMEM, "out of memory");
        return 0;
    case T_BOOL:
        if ((i = mproc__parse_bool(raw)) < 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: %s: expected true or false, got '%s'",
                              src->loc, k->name, raw);
        p->num = (unsigned long long)i;
        return 0;
    case T_INT:
        if (!mproc__parse_uint(raw, k->min, k->max, &p->num))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: %s: expected an integer from %llu to "
                              "%llu, got '%s'",
                              src->loc, k->name, k->min, k->max, raw);
        return 0;
    case T_WORKERS:
        if (strcmp(raw, "auto") == 0)
            p->num = 0;
        else if (!mproc__parse_uint(raw, k->min, k->max, &p->num))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: %s: expected a positive integer or "
                              "'auto', got '%s'",
                              src->loc, k->name, raw);
        return 0;
    case T_SIZE:
        if (!mproc__parse_size(raw, k->min, k->max, &p->num)) {
            char lo[24], hi[24];
            mproc__size_text(k->min, lo, sizeof(lo));
            mproc__size_text(k->max, hi, sizeof(hi));
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: %s: expected a size from %s%s to %s, "
                              "like 65536, 512K or 64M, got '%s'",
                              src->loc, k->name, lo,
                              k->min == 0   ? " (no limit)"
                              : k->min == 1 ? " byte"
                                            : " bytes",
                              hi, raw);
        }
        return 0;
    case T_DURATION:
        if (!mproc__parse_duration(raw, k->max, &p->num))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: %s: expected a duration up to %llus, like "
                              "30 (seconds), 1.5s, 500ms, 2m or 1h (0: no "
                              "limit), got '%s'",
                              src->loc, k->name, k->max / 1000, raw);
        return 0;
    case T_NICE: {
        int64_t v;
        if (!mproc__parse_int64(raw, strlen(raw), &v) || v < -20 || v > 19)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: %s: expected an integer from -20 to 19, "
                              "got '%s'",
                              src->loc, k->name, raw);
        p->num = (unsigned long long)v; /* read back as int64 */
        return 0;
    }
    case T_ENUM:
        if ((i = mproc__find_name(raw, k->names, k->nnames)) >= 0) {
            p->num = (unsigned long long)i;
            return 0;
        }
        mproc__join_or(k->names, k->nnames, list, sizeof(list));
        near = mproc__closest(raw, k->names, k->nnames);
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: %s: expected %s, got '%s'%s%s%s", src->loc,
                          k->name, list, raw, near ? "; did you mean '" : "",
                          near ? near : "", near ? "'?" : "");
    }
    assert(!"unknown key type");
    return MPROC_ECONFIG;
}

/*
 * Store a checked value in a slot, taking over p->path.  Everything is
 * allocated before the old value is released, so on ENOMEM the slot keeps
 * its previous value.
 */
static int
store(struct mproc__config_slot *s, const char *raw,
      const struct mproc__config_source *src, struct mproc__config_parsed *p,
      mproc_err_t *err)
{
    char *r = strdup(raw), *w = strdup(src->where);

    if (r == NULL || w == NULL) {
        free(r);
        free(w);
        free(p->path);
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    }
    free(s->raw);
    free(s->where);
    free(s->p.path);
    s->raw = r;
    s->where = w;
    s->line = src->line;
    s->file_id = src->file_id;
    s->p = *p;
    return 0;
}

static size_t
key_hash(const char *key)
{
    size_t h = 14695981039346656037ULL & SIZE_MAX; /* FNV-1a */

    for (; *key != '\0'; key++)
        h = (h ^ (unsigned char)*key) * (size_t)1099511628211ULL;
    return h;
}

/* The slot of args_ix where `key` is, or the empty one it would take. */
static size_t
arg_ix(const mproc_config_t *cfg, const char *key)
{
    size_t mask = 2 * cfg->args_cap - 1, i = key_hash(key) & mask;

    while (cfg->args_ix[i] != 0 &&
           strcmp(cfg->kv[cfg->args_ix[i] - 1].key, key) != 0)
        i = (i + 1) & mask;
    return i;
}

static struct mproc__config_slot *
find_arg(const mproc_config_t *cfg, const char *key)
{
    size_t i;

    if (cfg->args_ix == NULL)
        return NULL;
    i = arg_ix(cfg, key);
    return cfg->args_ix[i] != 0 ? &cfg->argv[cfg->args_ix[i] - 1] : NULL;
}

/* [args] KEY = VALUE: replaced in place, or added at the end. */
static int
set_arg(mproc_config_t *cfg, const char *key, const char *value,
        const struct mproc__config_source *src, mproc_err_t *err)
{
    struct mproc__config_slot *s = find_arg(cfg, key), *argv;
    struct mproc_kv *kv;
    struct mproc__config_parsed none = {0};
    size_t cap;
    char *k;
    int r;

    if (!mproc__is_name(key))
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: [args] key '%s' must be made of letters, "
                          "digits, '_', '.' and '-'",
                          src->loc, key);
    if (s != NULL && src->file_id != 0 && s->file_id == src->file_id)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: duplicate key '%s' in [args] (first set at "
                          "line %d)",
                          src->loc, key, s->line);
    /* The value as a path relative to the job file too, in case the
     * plugin declares the key a path (see args.c). */
    if ((none.path = mproc__resolve(src->dir, value)) == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    if (s != NULL) {
        if ((r = store(s, value, src, &none, err)) < 0)
            return r;
        cfg->kv[s - cfg->argv].value = s->raw;
        return 0;
    }
    if (cfg->nargs == cfg->args_cap) {
        /* Grow both arrays.  They hold only pointers to strings, which do
         * not move, so a failure half-way leaves everything valid. */
        uint32_t *ix;
        size_t i;

        cap = cfg->args_cap ? cfg->args_cap * 2 : 8;
        if (cap > UINT32_MAX / 2 ||
            (ix = calloc(2 * cap, sizeof(*ix))) == NULL)
            goto nomem;
        if ((argv = realloc(cfg->argv, cap * sizeof(*argv))) == NULL) {
            free(ix);
            goto nomem;
        }
        cfg->argv = argv;
        if ((kv = realloc(cfg->kv, cap * sizeof(*kv))) == NULL) {
            free(ix);
            goto nomem;
        }
        cfg->kv = kv;
        free(cfg->args_ix);
        cfg->args_ix = ix;
        cfg->args_cap = cap;
        for (i = 0; i < cfg->nargs; i++)
            ix[arg_ix(cfg, cfg->kv[i].key)] = (uint32_t)i + 1;
    }
    /* The new entry is complete before nargs counts it. */
    s = &cfg->argv[cfg->nargs];
    memset(s, 0, sizeof(*s));
    if ((k = strdup(key)) == NULL)
        goto nomem;
    if ((r = store(s, value, src, &none, err)) < 0) {
        free(k);
        return r;
    }
    cfg->kv[cfg->nargs].key = k;
    cfg->kv[cfg->nargs].value = s->raw;
    cfg->args_ix[arg_ix(cfg, k)] = (uint32_t)cfg->nargs + 1;
    cfg->nargs++;
    return 0;

nomem:
    free(none.path);
    return mproc__err(err, MPROC_ENOMEM, "out of memory");
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

int
mproc__config_unknown_section(const char *section, const char *loc,
                              mproc_err_t *err)
{
    const char *near =
        mproc__closest(section, mproc__config_sections,
                       MPROC__ARRAY_SIZE(mproc__config_sections));

    if (near != NULL)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: unknown section [%s]; did you mean [%s]?", loc,
                          section, near);
    return mproc__err(err, MPROC_ECONFIG,
                      "%s: unknown section [%s]; expected [job], [pool] or "
                      "[args]",
                      loc, section);
}

/* A key of [job] or [pool] that the schema does not have there. */
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
    if ((near = mproc__closest(name, names, n)) != NULL)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: unknown key '%s' in [%s]; did you mean '%s'?",
                          loc, name, section, near);
    mproc__join_or(names, n, list, sizeof(list));
    return mproc__err(err, MPROC_ECONFIG,
                      "%s: unknown key '%s' in [%s]; expected %s", loc, name,
                      section, list);
}

/*
 * SECTION.KEY = VALUE, from a file or from --set: the one place where an
 * assignment is checked, so both give the same errors.
 */
int
mproc__config_assign(mproc_config_t *cfg, const char *section,
                     const char *key, const char *value,
                     const struct mproc__config_source *src, mproc_err_t *err)
{
    const struct key_def *k;
    struct mproc__config_slot *s;
    struct mproc__config_parsed p;
    int r;

    if (mproc__decl_section(section)) {
        /* A file's headers were declared by the reader, before their
         * keys.  --set has no header line, so it declares here; declaring
         * again merges with an earlier declaration of the same kind. */
        if (src->file_id == 0) {
            r = mproc__decl_header(&cfg->decls, section, src->loc, 0, err);
            if (r < 0)
                return r;
        }
        return mproc__decl_key(cfg->decls, section, key, value, src->loc, err);
    }
    if (strcmp(section, "args") == 0)
        return set_arg(cfg, key, value, src, err);
    if (strcmp(section, "manager") == 0)
        return mproc__mgrconf_key(&cfg->mgr, key, value, src->loc, src->dir,
                                  src->file_id, src->line, err);
    if (mproc__find_name(section, mproc__config_sections,
                         MPROC__ARRAY_SIZE(mproc__config_sections)) < 0)
        return mproc__config_unknown_section(section, src->loc, err);
    if ((k = find_key(section, key)) == NULL)
        return unknown_key(section, key, src->loc, err);
    s = &cfg->slots[k - keys];
    /* One file sets a key once; a later file or --set may override it. */
    if (s->raw != NULL && src->file_id != 0 && s->file_id == src->file_id)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: duplicate key '%s' in [%s] (first set at line "
                          "%d)",
                          src->loc, key, section, s->line);
    if ((r = parse_value(k, value, src, &p, err)) < 0) {
        free(p.path);
        return r;
    }
    return store(s, value, src, &p, err);
}

ssize_t
mproc__config_path_at(const char *section, const char *key,
                      const char *value, const struct mproc_arg_def *defs)
{
    const struct key_def *k;

    if (strcmp(section, "args") == 0)
        return mproc__config_arg_path_at(defs, key, value);
    if (strcmp(section, "manager") == 0)
        return mproc__mgrconf_path_at(key, value);
    if ((k = find_key(section, key)) == NULL || value[0] == '\0')
        return -1;
    /* As parse_value() and parse_input() resolve them. */
    switch (k->type) {
    case T_PLUGIN:
        return strchr(value, '/') != NULL ? 0 : -1;
    case T_OUTPUT:
        return strcmp(value, "stdout") != 0 ? 0 : -1;
    case T_INPUT:
        if (strncmp(value, "lines0:", 7) == 0)
            return value[7] != '\0' && strcmp(value + 7, "-") != 0 ? 7 : -1;
        if (strncmp(value, "lines:", 6) == 0 ||
            strncmp(value, "files:", 6) == 0)
            return value[6] != '\0' ? 6 : -1;
        return -1;
    default:
        return -1;
    }
}

/* ---- the API ---- */

int
mproc_config_new(mproc_config_t **out, mproc_err_t *err)
{
    struct mproc__config_source src = {"default", "default", NULL, 0, 0};
    mproc_config_t *cfg;
    size_t i;
    int r;

    if (out == NULL)
        return mproc__err(err, MPROC_EINVAL, "config: out is NULL");
    *out = NULL;
    if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    /* Parse every default once, so finish() reads each key the same way
     * whether it was set or not.  Defaults have no paths: nothing to
     * allocate, and nothing that can fail. */
    for (i = 0; i < NKEYS; i++) {
        if (keys[i].dflt == NULL)
            continue;
        r = parse_value(&keys[i], keys[i].dflt, &src, &cfg->slots[i].p, NULL);
        assert(r == 0 && cfg->slots[i].p.path == NULL);
        (void)r;
    }
    *out = cfg;
    return 0;
}

int
mproc_config_finish(mproc_config_t *cfg, mproc_err_t *err)
{
    const struct mproc__config_slot *s;
    struct mproc__job *j;
    int r;

    if (cfg == NULL)
        return mproc__err(err, MPROC_EINVAL, "config: no config");
    s = cfg->slots;
    j = &cfg->job;
    cfg->finished = false;
    if (s[K_PLUGIN].raw == NULL)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: [job] plugin is not set; name a plugin, e.g. "
                          "plugin = echo",
                          cfg->last_file ? cfg->last_file : "configuration");
    if ((r = mproc__decl_finish(cfg->decls, err)) < 0 ||
        (r = mproc__mgrconf_finish(&cfg->mgr, cfg->last_file, err)) < 0)
        return r;

    /* Unset keys hold their parsed default (see mproc_config_new()). */
    memset(j, 0, sizeof(*j));
    j->plugin = s[K_PLUGIN].p.path ? s[K_PLUGIN].p.path : s[K_PLUGIN].raw;
    j->task = s[K_TASK].raw;
    j->input_kind = (int)s[K_INPUT].p.num;
    j->input_path = s[K_INPUT].p.path;
    j->input_nul = s[K_INPUT].p.nul;
    j->range_lo = s[K_INPUT].p.lo;
    j->range_hi = s[K_INPUT].p.hi;
    j->output = s[K_OUTPUT].p.path;
    j->ordered = s[K_ORDERED].p.num != 0;
    j->chunksize = (unsigned)s[K_CHUNKSIZE].p.num;
    j->on_error = (int)s[K_ON_ERROR].p.num;
    j->message_max = (size_t)s[K_MESSAGE_MAX].p.num;
    j->workers = (unsigned)s[K_WORKERS].p.num;
    j->start_method = start_methods[s[K_START_METHOD].p.num];
    j->ipc = ipcs[s[K_IPC].p.num];
    j->max_tasks_per_child = (unsigned)s[K_MAX_TASKS].p.num;
    j->sync = syncs[s[K_SYNC].p.num];
    j->timeout_ms = (unsigned)s[K_TIMEOUT].p.num;
    j->timeout_grace_ms = (unsigned)s[K_TIMEOUT_GRACE].p.num;
    j->retries = (unsigned)s[K_RETRIES].p.num;
    j->max_memory_per_child = (size_t)s[K_MAX_MEMORY].p.num;
    j->rlimit_cpu = (unsigned long)s[K_RLIMIT_CPU].p.num;
    j->rlimit_as = (unsigned long)s[K_RLIMIT_AS].p.num;
    j->rlimit_nofile = (unsigned long)s[K_RLIMIT_NOFILE].p.num;
    j->nice = (int)(int64_t)s[K_NICE].p.num;
    j->launcher_mpi = s[K_LAUNCHER].p.num == 1;
    /* The node agents' workers would not find the manager (mgrjob16). */
    if (j->launcher_mpi && cfg->mgr.set)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: [manager] does not work with launcher = mpi "
                          "(set at %s) yet; remove one of them",
                          cfg->mgr.where ? cfg->mgr.where : "--set",
                          s[K_LAUNCHER].where);
    /* Each node agent would make its own copy of a declared object: the
     * workers of two agents would share nothing, and a reduce on the
     * host would read an object no worker touched. */
    if (j->launcher_mpi) {
        const struct mproc__decl *d;
        if (mproc__decl_list(cfg->decls, &d) > 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: [%s:%s], a shared object, does not work "
                              "with launcher = mpi (set at %s) yet: the "
                              "ranks share no memory; remove one of them",
                              d[0].where, mproc__decl_kind_name(d[0].kind),
                              d[0].name, s[K_LAUNCHER].where);
    }
    j->node_timeout_ms = (unsigned)s[K_NODE_TIMEOUT].p.num;
    j->output_mode = (int)s[K_OUTPUT_MODE].p.num;
    j->shard_k = s[K_SHARD].p.lo;
    j->shard_n = s[K_SHARD].p.hi;
    j->shard_mode = (int)s[K_SHARD_MODE].p.num;
    j->joblog_sync = (int)s[K_JOBLOG_SYNC].p.num;
    j->quarantine_after = (unsigned)s[K_QUARANTINE_AFTER].p.num;
    j->slowlog_ms = (unsigned)s[K_SLOWLOG].p.num;
    j->status = s[K_STATUS].p.num != 0;
    cfg->finished = true;
    return 0;
}

const struct mproc__job *
mproc__config_job(const mproc_config_t *cfg)
{
    return cfg != NULL && cfg->finished ? &cfg->job : NULL;
}

const char *
mproc__config_key(size_t i, const char **section)
{
    if (i >= NKEYS)
        return NULL;
    *section = keys[i].section;
    return keys[i].name;
}

const struct mproc__mgrconf *
mproc__config_manager(const mproc_config_t *cfg)
{
    return &cfg->mgr;
}

size_t
mproc__config_decls(const mproc_config_t *cfg, const struct mproc__decl **out)
{
    return mproc__decl_list(cfg->decls, out);
}

/*
 * The slot of SECTION.KEY, or NULL when unset; *known says whether the
 * schema (or, for [args], the configuration) has the key at all.
 */
static const struct mproc__config_slot *
lookup(const mproc_config_t *cfg, const char *section, const char *key,
       bool *known)
{
    const struct key_def *k;
    const struct mproc__config_slot *s;

    if (strcmp(section, "args") == 0) {
        s = find_arg(cfg, key);
        *known = s != NULL;
        return s;
    }
    k = find_key(section, key);
    *known = k != NULL;
    return k != NULL && cfg->slots[k - keys].raw ? &cfg->slots[k - keys] : NULL;
}

const char *
mproc_config_get(const mproc_config_t *cfg, const char *section,
                 const char *key)
{
    bool known;
    const struct mproc__config_slot *s;

    if (cfg == NULL)
        return NULL;
    s = lookup(cfg, section, key, &known);
    return s != NULL ? s->raw : NULL;
}

const char *
mproc_config_where(const mproc_config_t *cfg, const char *section,
                   const char *key)
{
    bool known;
    const struct mproc__config_slot *s;

    if (cfg == NULL)
        return NULL;
    s = lookup(cfg, section, key, &known);
    if (s != NULL)
        return s->where;
    return known ? "default" : NULL;
}

size_t
mproc_config_args(const mproc_config_t *cfg, const struct mproc_kv **out)
{
    if (out == NULL)
        return cfg != NULL ? cfg->nargs : 0;
    if (cfg == NULL) {
        *out = NULL;
        return 0;
    }
    *out = cfg->nargs > 0 ? cfg->kv : NULL;
    return cfg->nargs;
}

const char *
mproc__config_arg(const mproc_config_t *cfg, size_t i, const char **where,
                  const char **path)
{
    *where = cfg->argv[i].where;
    *path = cfg->argv[i].p.path;
    return cfg->kv[i].key;
}

void
mproc__config_arg_use_path(mproc_config_t *cfg, size_t i)
{
    cfg->kv[i].value = cfg->argv[i].p.path;
}

int
mproc__config_warn(mproc_config_t *cfg, char *msg)
{
    char **w = realloc(cfg->warnings,
                       (cfg->nwarnings + 1) * sizeof(*cfg->warnings));

    if (w == NULL) {
        free(msg);
        return MPROC_ENOMEM;
    }
    cfg->warnings = w;
    cfg->warnings[cfg->nwarnings++] = msg;
    return 0;
}

size_t
mproc__config_warnings(const mproc_config_t *cfg, char *const **out)
{
    *out = cfg->warnings;
    return cfg->nwarnings;
}

const char *
mproc__config_args_where(const mproc_config_t *cfg)
{
    if (cfg->args_where != NULL)
        return cfg->args_where;
    return cfg->last_file != NULL ? cfg->last_file : "configuration";
}

void
mproc_config_free(mproc_config_t *cfg)
{
    size_t i;

    if (cfg == NULL)
        return;
    for (i = 0; i < NKEYS; i++) {
        free(cfg->slots[i].raw);
        free(cfg->slots[i].where);
        free(cfg->slots[i].p.path);
    }
    for (i = 0; i < cfg->nargs; i++) {
        free((char *)cfg->kv[i].key); /* strdup'd by set_arg() */
        free(cfg->argv[i].raw);
        free(cfg->argv[i].where);
        free(cfg->argv[i].p.path);
    }
    free(cfg->argv);
    free(cfg->kv);
    free(cfg->args_ix);
    mproc__decl_free(cfg->decls);
    mproc__mgrconf_free(&cfg->mgr);
    free(cfg->last_file);
    free(cfg->args_where);
    for (i = 0; i < cfg->nwarnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    free(cfg);
}

/* SPDX-License-Identifier: MIT */
/*
 * Internal view of a checked job configuration: typed values for the
 * framework.  Filled by config.c (from the text parse.c takes apart);
 * read by the CLI and the pool.
 */
#ifndef MPROC_CONFIG_INT_H
#define MPROC_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mproc/config.h>

enum mproc__input_kind {
    MPROC__INPUT_STDIN = 0, /* "stdin": one item per line of stdin */
    MPROC__INPUT_LINES,     /* "lines:PATH": one item per line of PATH */
    MPROC__INPUT_RANGE,     /* "range:A..B": A, A+1, ... B (inclusive) */
    MPROC__INPUT_FILES      /* "files:DIR" or "files:GLOB": one per path */
};

enum mproc__on_error {
    MPROC__ON_ERROR_CONTINUE = 0,
    MPROC__ON_ERROR_ABORT
};

/* How each item's output is written ([job] output_mode). */
enum mproc__output_mode {
    MPROC__OUTPUT_AUTO = 0, /* the plugin's default (records or raw) */
    MPROC__OUTPUT_RECORDS,  /* a newline after each, unless it has one */
    MPROC__OUTPUT_RECORDS0, /* a NUL after each, for a trailing newline */
    MPROC__OUTPUT_RAW       /* the bytes as they are, nothing added */
};

/* [job] shard_mode: which items shard K of N runs. */
enum mproc__shard_mode {
    MPROC__SHARD_CONTIGUOUS = 0, /* one block of consecutive items */
    MPROC__SHARD_STRIDE          /* items K, K+N, K+2N, ... */
};

/* [job] joblog_sync: what is fsync'ed, and when. */
enum mproc__joblog_sync {
    MPROC__SYNC_NONE = 0, /* the page cache's (survives a kill -9) */
    MPROC__SYNC_BATCH,    /* output then log, per batch of results */
    MPROC__SYNC_ITEM      /* output then log, per item */
};

/* The typed job; strings are owned by the config. */
struct mproc__job {
    /* [job] */
    const char *plugin;     /* a name, or a path (resolved) when it has '/' */
    const char *task;       /* NULL: the plugin's only task */
    int input_kind;         /* enum mproc__input_kind */
    const char *input_path; /* LINES: file; FILES: dir or glob (resolved) */
    bool input_nul;         /* STDIN, LINES: items end at NUL (lines0:) */
    int64_t range_lo;       /* RANGE: first item */
    int64_t range_hi;       /* RANGE: last item, >= range_lo */
    const char *output;     /* NULL: stdout; else a path (resolved) */
    bool ordered;           /* default true */
    unsigned chunksize;     /* 0 means auto (the default) */
    int on_error;           /* enum mproc__on_error, default continue */
    size_t message_max;     /* default 64 MiB */
    /* [pool] */
    unsigned workers;       /* 0 means auto */
    const char *start_method; /* "fork" (default), "spawn", "forkserver" */
    const char *ipc;          /* "pipe" (default), "mq", "shmring", "auto" */
    unsigned max_tasks_per_child; /* 0: unlimited */
    const char *sync;         /* "futex" (default), "posix", "sysv" */
    /* [job] limits and recovery */
    unsigned timeout_ms;      /* 0: none */
    unsigned timeout_grace_ms; /* default 1000 */
    unsigned retries;
    /* [pool] per-worker limits; 0: none */
    size_t max_memory_per_child;
    unsigned long rlimit_cpu, rlimit_as, rlimit_nofile;
    int nice;
    int output_mode;          /* enum mproc__output_mode, default auto */
    /* [job] shard = K/N: shard_n 0 when none; shard_k -1: slurm/N */
    int64_t shard_k, shard_n;
    int shard_mode;           /* enum mproc__shard_mode */
    int joblog_sync;          /* enum mproc__joblog_sync */
    /* [job] debugging (issue 19) */
    unsigned quarantine_after; /* 0: auto (2 when retries > 0, else off) */
    unsigned slowlog_ms;       /* 0: no slow log */
    bool status;              /* [job] status: serve mproc status (on) */
    /* [pool] the MPI launcher (framework/mpi/launcher.h) */
    bool launcher_mpi;        /* launcher = mpi; default local */
    unsigned node_timeout_ms; /* a node silent this long is lost */
};

/* ---- declared shared objects: [KIND:NAME] sections (decl.c) ---- */

enum mproc__decl_kind {
    MPROC__DECL_LOCK = 0,
    MPROC__DECL_RLOCK,
    MPROC__DECL_SEMAPHORE,
    MPROC__DECL_BOUNDEDSEMAPHORE,
    MPROC__DECL_EVENT,
    MPROC__DECL_CONDITION,
    MPROC__DECL_BARRIER,
    MPROC__DECL_VALUE,
    MPROC__DECL_ARRAY
};

struct mproc__decl {
    int kind;         /* enum mproc__decl_kind */
    char *name;
    char *where;      /* "FILE:LINE" of its header, or "--set" */
    int file_id;
    unsigned value;   /* semaphores: initial value (default 1) */
    unsigned parties; /* barrier */
    int type;         /* value, array: enum mproc_type */
    size_t length;    /* array (value: 1) */
    char *init;       /* value, array: initial number, NULL = 0 */
    bool locked;      /* value, array: with a lock (default true) */
    char *lock;       /* condition: the lock's name, NULL = its own */
    /* Where init and lock were set ("FILE:LINE" of the key, or "--set
     * SECTION.KEY=VALUE"): a bad one is reported there, not at the
     * header, as every other bad value is. */
    char *init_at;
    char *lock_at;
};

struct mproc__decls;

bool mproc__decl_section(const char *section);
int mproc__decl_header(struct mproc__decls **d, const char *section,
                       const char *loc, int file_id, mproc_err_t *err);
int mproc__decl_key(struct mproc__decls *d, const char *section,
                    const char *key, const char *value, const char *loc,
                    mproc_err_t *err);
int mproc__decl_finish(struct mproc__decls *d, mproc_err_t *err);
size_t mproc__decl_list(const struct mproc__decls *d,
                        const struct mproc__decl **out);
const char *mproc__decl_kind_name(int kind);
void mproc__decl_free(struct mproc__decls *d);

/* The declarations of a finished configuration. */
size_t mproc__config_decls(const mproc_config_t *cfg,
                           const struct mproc__decl **out);

/* ---- [manager]: a Manager the job's plugins share (manager.c) ---- */

enum {
    MPROC__MGR_ADDRESS = 0,
    MPROC__MGR_AUTHKEY_FILE,
    MPROC__MGR_START,
    MPROC__MGR_OBJECTS,
    MPROC__MGR_NKEYS
};

/* One object of `objects`, created (or attached) before the first task. */
struct mproc__mgr_obj {
    int type;                 /* enum mproc_mobj_type */
    char *name;
    bool flag;                /* bounded / joinable / recursive / an array */
    int vtype;                /* value, array: enum mproc_type */
    unsigned long long length; /* value, array: elements */
    unsigned long long param; /* queue maxsize, semaphore value, parties */
};

struct mproc__mgr_slot {
    char *raw;   /* as written; NULL: unset */
    char *where; /* "FILE:LINE" or "--set ..." */
    char *path;  /* address, authkey_file: resolved; else NULL */
    int file_id, line;
};

struct mproc__mgrconf {
    bool set;    /* the job has a [manager] */
    char *where; /* FILE:LINE of its first header; NULL: only --set */
    struct mproc__mgr_slot slot[MPROC__MGR_NKEYS];
    bool start;  /* start = yes */
    struct mproc__mgr_obj *objs;
    size_t nobjs;
};

int mproc__mgrconf_header(struct mproc__mgrconf *m, const char *loc);
int mproc__mgrconf_key(struct mproc__mgrconf *m, const char *key,
                       const char *value, const char *loc, const char *dir,
                       int file_id, int line, mproc_err_t *err);
/* What only the whole section tells; `file` names it when no header
 * does.  0 or MPROC_ECONFIG. */
int mproc__mgrconf_finish(struct mproc__mgrconf *m, const char *file,
                          mproc_err_t *err);
const char *mproc__mgrconf_value(const struct mproc__mgrconf *m, int key);
/* "dict", "value", "array" ... of an object (flag: its flag). */
const char *mproc__mgrconf_kind_name(int type, bool flag);
void mproc__mgrconf_free(struct mproc__mgrconf *m);

/* The job's [manager]; ->set is false when it has none. */
const struct mproc__mgrconf *mproc__config_manager(const mproc_config_t *cfg);

/* ---- the configuration object: config.c, parse.c ---- */

/* The keys of [job] and [pool]: as many as config.c's table holds. */
#define MPROC__CONFIG_NKEYS 30

/* A value once checked: what the typed view is built from. */
struct mproc__config_parsed {
    unsigned long long num; /* number, size, boolean, names[] index, or
                               input kind */
    int64_t lo, hi;         /* input = range:A..B */
    char *path;             /* resolved path, owned; NULL when none */
    bool nul;               /* input = lines0:...: items end at NUL */
};

/* One key as set.  `raw` stays NULL while the default applies. */
struct mproc__config_slot {
    char *raw;       /* the value as written */
    char *where;     /* "FILE:LINE" or "--set" */
    int line;        /* for the duplicate message; 0 for --set */
    int file_id;     /* the load that set it; 0 for --set */
    struct mproc__config_parsed p; /* unused for [args] */
};

struct mproc_config {
    struct mproc__config_slot slots[MPROC__CONFIG_NKEYS];
    /* [args]: kv[i] is handed out; its key is ours, its value is
     * argv[i].raw, and argv[i] also says where the value came from. */
    struct mproc__config_slot *argv;
    struct mproc_kv *kv;
    size_t nargs, args_cap;
    /* argv's index + 1 by key hash (open addressing, 0 empty; twice
     * args_cap slots): a duplicate is found at once, not by a scan per
     * key (a file of many keys took quadratic time to load). */
    uint32_t *args_ix;
    struct mproc__decls *decls; /* [KIND:NAME] sections, see decl.c */
    struct mproc__mgrconf mgr;  /* [manager], see manager.c */
    struct mproc__job job;      /* valid while `finished` */
    bool finished;
    int loads;       /* files loaded so far, for file ids */
    char *args_where; /* "FILE:LINE" of the first [args] header */
    char **warnings;  /* what is valid but likely not meant */
    size_t nwarnings;
    char *last_file; /* for the message of a missing plugin */
};

/* Where an assignment comes from. */
struct mproc__config_source {
    const char *loc;   /* message prefix: "FILE:LINE" or "--set A=B" */
    const char *where; /* what mproc_config_where() reports */
    const char *dir;   /* folder of relative paths; NULL: the cwd */
    int line;          /* 0 for --set */
    int file_id;       /* 0 for --set */
};

/* The sections a job file has, besides the [KIND:NAME] of decl.c. */
extern const char *const mproc__config_sections[4];
/* MPROC_ECONFIG for an unknown [section], naming the closest one. */
int mproc__config_unknown_section(const char *section, const char *loc,
                                  mproc_err_t *err);
/*
 * SECTION.KEY = VALUE, from a file or from --set (parse.c): the one place
 * where an assignment is checked, so both give the same errors.
 */
int mproc__config_assign(mproc_config_t *cfg, const char *section,
                         const char *key, const char *value,
                         const struct mproc__config_source *src,
                         mproc_err_t *err);

/* A bigger "job file" is a mistake (say, /dev/zero): reading stops. */
#define MPROC__CONFIG_FILE_MAX ((size_t)16 << 20)
/* A job file's bytes, NUL-terminated and malloc'd, refusing what is not
 * a regular file (read.c).  0, MPROC_EINPUT or MPROC_ENOMEM. */
int mproc__config_read_file(const char *path, char **data, size_t *len,
                            mproc_err_t *err);

/* mproc_config_load() of a file's contents, data[0..len), as if read
 * from `path` (for messages and relative paths): for tests and fuzzing. */
int mproc__config_load_mem(mproc_config_t *cfg, const char *path,
                           const void *data, size_t len, mproc_err_t *err);

/* ---- values (values.c): shared by the schema and declared [args] ---- */

/* The name closest to `s` (a typo of it), or NULL. */
const char *mproc__closest(const char *s, const char *const *names,
                           size_t n);
/* [A-Za-z0-9_.-]+ */
bool mproc__is_name(const char *s);
/* "a, b or c" into buf. */
void mproc__join_or(const char *const *names, size_t n, char *buf,
                    size_t cap);
/* The index of `s` in names[], or -1. */
int mproc__find_name(const char *s, const char *const *names, size_t n);
/* A whole decimal from min to max, digits only. */
bool mproc__parse_uint(const char *s, unsigned long long min,
                       unsigned long long max, unsigned long long *out);
/* A whole int64 in s[0..len), with an optional '-'. */
bool mproc__parse_int64(const char *s, size_t len, int64_t *out);
/* 1 true/yes/on/1, 0 false/no/off/0, -1 neither. */
int mproc__parse_bool(const char *s);
/* Bytes with an optional K, M, G, T (or KiB...). */
bool mproc__parse_size(const char *s, unsigned long long min,
                       unsigned long long max, unsigned long long *out);
/* A size for a message: 1G rather than 1073741824. */
void mproc__size_text(unsigned long long v, char *buf, size_t len);
/* Milliseconds from 30, 1.5, 500ms, 30s, 2m, 1h, at most max. */
bool mproc__parse_duration(const char *s, unsigned long long max,
                           unsigned long long *out);
/* `path` relative to folder `dir` (NULL: as is); malloc'd, NULL: ENOMEM. */
char *mproc__resolve(const char *dir, const char *path);

/* ---- [args] as the plugin declares them (args.c) ---- */

/* [args] entry i: its key, where it was set ("FILE:LINE" or "--set") and
 * its value as a path relative to the job file. */
const char *mproc__config_arg(const mproc_config_t *cfg, size_t i,
                              const char **where, const char **path);
/* Hand the plugin entry i's value as a path relative to the job file. */
void mproc__config_arg_use_path(mproc_config_t *cfg, size_t i);
/* "FILE:LINE" of the [args] header, else the last file loaded. */
const char *mproc__config_args_where(const mproc_config_t *cfg);

/* Keep a warning (msg is malloc'd, taken over): 0 or MPROC_ENOMEM. */
int mproc__config_warn(mproc_config_t *cfg, char *msg);
/* What the files hold that is valid but likely not meant ("FILE:LINE:
 * ..."), for the host to print. */
size_t mproc__config_warnings(const mproc_config_t *cfg, char *const **out);

struct mproc_arg_def;
/*
 * Check the job's [args] against what plugin `plugin` declares (`defs`,
 * ending with a NULL name; NULL: nothing declared, nothing checked): an
 * unknown key (with the closest declared one), a value of the wrong type,
 * a missing file, a missing required key.  Path values become relative to
 * the job file.  Errors: MPROC_ECONFIG at FILE:LINE.
 */
int mproc__config_check_args(mproc_config_t *cfg,
                             const struct mproc_arg_def *defs,
                             const char *plugin, mproc_err_t *err);

/*
 * Where the path starts in `value`, the value of SECTION.KEY: its offset
 * (input = lines:PATH: 6), or -1 when the value names no path (a plugin
 * name, stdout, range:A..B, tcp:HOST:PORT, a key that is no path).  A
 * relative path there is relative to the job file's folder, or, from
 * --set, to the working directory.  `defs`: the plugin's [args] (NULL:
 * none declared, no [args] key is a path).
 */
ssize_t mproc__config_path_at(const char *section, const char *key,
                              const char *value,
                              const struct mproc_arg_def *defs);
/* The same of a [manager] key (manager.c); of an [args] key (args.c). */
ssize_t mproc__mgrconf_path_at(const char *key, const char *value);
ssize_t mproc__config_arg_path_at(const struct mproc_arg_def *defs,
                                  const char *key, const char *value);

/* The typed view; valid after mproc_config_finish() returned 0. */
const struct mproc__job *mproc__config_job(const mproc_config_t *cfg);

/* The job file's own keys ([job] and [pool]), i from 0: the name, with
 * its section in *section; NULL past the last.  For a command line that
 * takes each key as --KEY VALUE (mproc exec), so it misses none. */
const char *mproc__config_key(size_t i, const char **section);

#endif

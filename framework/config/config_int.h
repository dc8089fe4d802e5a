/* SPDX-License-Identifier: MIT */
/*
 * Internal view of a checked job configuration: typed values for the
 * framework.  Filled by config.c; read by the CLI and the pool.
 */
#ifndef MPROC_CONFIG_INT_H
#define MPROC_CONFIG_INT_H

#include <stdbool.h>

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

/* The typed job; strings are owned by the config. */
struct mproc__job {
    /* [job] */
    const char *plugin;     /* a name, or a path (resolved) when it has '/' */
    const char *task;       /* NULL: the plugin's only task */
    int input_kind;         /* enum mproc__input_kind */
    const char *input_path; /* LINES: file; FILES: dir or glob (resolved) */
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
    const char *ipc;          /* "pipe" (default), "mq", "shmring" */
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

/* mproc_config_load() of a file's contents, data[0..len), as if read
 * from `path` (for messages and relative paths): for tests and fuzzing. */
int mproc__config_load_mem(mproc_config_t *cfg, const char *path,
                           const void *data, size_t len, mproc_err_t *err);

/* The typed view; valid after mproc_config_finish() returned 0. */
const struct mproc__job *mproc__config_job(const mproc_config_t *cfg);

#endif

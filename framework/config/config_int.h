/*
 * Internal view of a checked job configuration: typed values for the
 * framework.  Filled by config.c; read by the CLI and the pool.
 */
#ifndef MPROC_CONFIG_INT_H
#define MPROC_CONFIG_INT_H

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
    unsigned chunksize;     /* default 1 */
    int on_error;           /* enum mproc__on_error, default continue */
    size_t message_max;     /* default 64 MiB */
    /* [pool] */
    unsigned workers;       /* 0 means auto */
    const char *start_method; /* "fork" (default), "spawn", "forkserver" */
    const char *ipc;          /* "pipe" (default), "mq", "shmring" */
    unsigned max_tasks_per_child; /* 0: unlimited */
};

/* The typed view; valid after mproc_config_finish() returned 0. */
const struct mproc__job *mproc__config_job(const mproc_config_t *cfg);

#endif

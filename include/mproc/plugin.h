/* SPDX-License-Identifier: MIT */
/*
 * mproc: the task plugin ABI.
 *
 * A plugin is a shared object that exports one descriptor,
 * `const struct mproc_plugin mproc_plugin_v1`, defined with
 * MPROC_PLUGIN_DEFINE().  It links nothing from mproc: everything the host
 * offers arrives as function pointers in `struct mproc_host`, reached
 * through the static inline helpers below.  So a plugin builds out of tree
 * with nothing but the headers:
 *
 *     cc -shared -fPIC $(pkg-config --cflags mproc) my.c -o my.so
 *
 * Life cycle, in every worker process:
 *   init(ctx)            once, before the first task (the Pool initializer;
 *                        the job's [args] are in ctx->args);
 *   task(ctx, ...)       once per input item;
 *   fini(ctx)            once, when the worker retires normally.
 * And in the parent (the host), when the plugin has one:
 *   reduce(ctx, ...)     once per successful task output;
 *   reduce_end(ctx, out) once, to produce the job's final output.
 *
 * Compatibility: the host loads a plugin whose abi_major equals
 * MPROC_PLUGIN_ABI_MAJOR and whose abi_minor is not newer than the host's.
 * Minor versions only ever append fields to the end of the structures, so
 * `size` tells the host which fields a plugin knows about.
 *
 * Minor versions:
 *   1.1 added mproc_shared() (struct mproc_host.shared);
 *   1.2 added descriptor flags and the [args] table;
 *   1.3 added reduce_flags;
 *   1.4 added mproc_ctx_manager() (struct mproc_host.manager).
 */
#ifndef MPROC_PLUGIN_H
#define MPROC_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MPROC_PLUGIN_ABI_MAJOR 1
#define MPROC_PLUGIN_ABI_MINOR 4

/** The name of the exported descriptor symbol, as a string. */
#define MPROC_PLUGIN_SYMBOL "mproc_plugin_v1"

/** Return values of plugin callbacks. */
#define MPROC_TASK_OK 0
#define MPROC_TASK_FAIL (-1)

struct mproc_host;
struct mproc_manager; /* mproc_manager_t of <mproc/manager.h> */

/**
 * A growable output buffer owned by the framework.  A plugin appends to it
 * with mproc_buf_append()/mproc_buf_printf(), or reserves room with
 * mproc_buf_reserve() and then writes to data[len...] and advances len
 * itself.  A plugin never frees or reallocates `data`.  Growing past the
 * job's message_max fails (the helpers return MPROC_TASK_FAIL).
 */
struct mproc_buf {
    char *data;                    /**< the bytes; may move on growth */
    size_t len;                    /**< bytes in use */
    size_t cap;                    /**< bytes allocated */
    const struct mproc_host *host; /**< who grows it */
    size_t limit;                  /**< largest len allowed */
};

/** One `key = value` of the job's [args] section. */
struct mproc_kv {
    const char *key;
    const char *value;
};

/**
 * The context handed to every callback.  The host allocates it; the plugin
 * may read every field and set `state` (typically in init), which the host
 * passes back unchanged to every later call in the same process.
 */
struct mproc_ctx {
    const struct mproc_host *host; /**< host services */
    void *state;                   /**< the plugin's own per-process state */
    const struct mproc_kv *args;   /**< the job's [args], in file order */
    size_t nargs;                  /**< number of entries in args */
    unsigned worker;               /**< worker slot 0..N-1; N in the parent */
    void *priv;                    /**< the host's; do not touch */
};

/**
 * Services of the host, reached through the inline helpers below rather
 * than directly.  Appending fields is a minor ABI change.
 */
struct mproc_host {
    uint32_t size;      /**< sizeof(struct mproc_host) of the host */
    uint32_t abi_minor; /**< MPROC_PLUGIN_ABI_MINOR of the host */
    int (*buf_reserve)(struct mproc_buf *buf, size_t extra);
    int (*buf_append)(struct mproc_buf *buf, const void *data, size_t len);
    int (*buf_vprintf)(struct mproc_buf *buf, const char *fmt, va_list ap);
    int (*vfail)(struct mproc_ctx *ctx, const char *fmt, va_list ap);
    /* ABI 1.1 */
    void *(*shared)(struct mproc_ctx *ctx, const char *kind,
                    const char *name);
    /* ABI 1.4 */
    struct mproc_manager *(*manager)(struct mproc_ctx *ctx);
};

/**
 * A task: process one input item.
 * @param ctx    the worker's context (state set by init)
 * @param in     the item's bytes, valid for the call, followed by a NUL
 *               byte (in[len] == '\0' on every path: chunks, retries,
 *               every start method), so a text item is a C string, as a
 *               Process target's input is; the item may hold NULs itself
 * @param len    number of bytes in `in`, 0 ... message_max (the NUL after
 *               them is not counted)
 * @param index  the item's position in the input, from 0
 * @param out    empty buffer for the task's output
 * @return MPROC_TASK_OK, or MPROC_TASK_FAIL after mproc_fail() said why.
 */
typedef int (*mproc_task_fn)(struct mproc_ctx *ctx, const void *in,
                             size_t len, uint64_t index,
                             struct mproc_buf *out);

/** Per-worker set-up; ctx->args holds the job's [args]. */
typedef int (*mproc_init_fn)(struct mproc_ctx *ctx);

/** Per-worker tear-down; release what init allocated. */
typedef void (*mproc_fini_fn)(struct mproc_ctx *ctx);

/**
 * Parent-side fold of one successful task output into ctx->state.  Called in
 * input order when the job is ordered, else as results arrive.
 */
typedef int (*mproc_reduce_fn)(struct mproc_ctx *ctx, const void *data,
                               size_t len, uint64_t index);

/**
 * Parent-side end of the fold: write the job's final output to `out` and
 * release ctx->state.  Called once, also after a failed run (then `out` is
 * discarded), so it is the place to free.
 */
typedef int (*mproc_reduce_end_fn)(struct mproc_ctx *ctx,
                                   struct mproc_buf *out);

/** A named task; a plugin's task table ends with an entry whose name is NULL. */
struct mproc_task_def {
    const char *name;        /**< as written in `[job] task` */
    mproc_task_fn fn;        /**< the function */
    const char *description; /**< one line, may be NULL */
};

/**
 * Descriptor flag: the tasks' outputs are raw bytes (a command's stdout, a
 * compressed stream), written as they are, with nothing added, unless the
 * job's `[job] output_mode` says otherwise.  Without it (0, as every plugin
 * before this flag) each output is a record: the host ends it with a
 * newline when it lacks one.  See mproc.ini(5), output_mode.
 */
#define MPROC_PLUGIN_RAW_OUTPUT 0x1u

/** (ABI 1.2) The type of an [args] value, which the host checks. */
enum mproc_arg_type {
    MPROC_ARG_STRING = 0, /**< any text */
    MPROC_ARG_INT,        /**< a whole decimal number, optionally signed */
    MPROC_ARG_BOOL,       /**< true/false, yes/no, on/off, 1/0 */
    MPROC_ARG_DURATION,   /**< 30 (seconds), 1.5s, 500ms, 2m, 1h */
    MPROC_ARG_SIZE,       /**< bytes: 512, 64K, 1M, 2G */
    MPROC_ARG_PATH,       /**< a path; a relative one is made relative to
                               the job file's folder before the plugin
                               sees it */
    MPROC_ARG_FILE        /**< as PATH, and the file must exist */
};

/** (ABI 1.2) mproc_arg_def.flags */
#define MPROC_ARG_REQUIRED 1u /**< the job must set it (or `alternative`) */

/**
 * (ABI 1.2) One key a plugin reads from the job's [args].  A table of them
 * ends with an entry whose name is NULL.  This structure never grows: a
 * later ABI that needs more adds a new table, so a table's stride is fixed.
 */
struct mproc_arg_def {
    const char *name;        /**< the key, as written in [args] */
    int type;                /**< enum mproc_arg_type */
    const char *dflt;        /**< the default as text, for help; NULL: none */
    unsigned flags;          /**< MPROC_ARG_REQUIRED or 0 */
    const char *help;        /**< one line */
    const char *alternative; /**< a required key may be left out when this
                                  other key is set instead; NULL: none */
};

/** (ABI 1.2) The entry that ends a table of struct mproc_arg_def. */
#define MPROC_ARG_END {NULL, 0, NULL, 0, NULL, NULL}

/** The descriptor.  Define it with MPROC_PLUGIN_DEFINE(). */
struct mproc_plugin {
    uint32_t abi_major;   /**< MPROC_PLUGIN_ABI_MAJOR when built */
    uint32_t abi_minor;   /**< MPROC_PLUGIN_ABI_MINOR when built */
    uint32_t size;        /**< sizeof(struct mproc_plugin) when built */
    uint32_t flags;       /**< MPROC_PLUGIN_* flags, or 0 (was reserved,
                               always 0, before ABI 1.2) */
    const char *name;     /**< short name, e.g. "wordcount" */
    const char *version;  /**< the plugin's own version, e.g. "1.0" */
    const char *description; /**< one line */
    mproc_init_fn init;   /**< optional */
    mproc_fini_fn fini;   /**< optional */
    const struct mproc_task_def *tasks; /**< at least one task */
    mproc_reduce_fn reduce;             /**< optional */
    mproc_reduce_end_fn reduce_end;     /**< required when reduce is set */
    /* ABI 1.2 */
    /**
     * The [args] keys the plugin's tasks read, ending with a NULL name.
     * With a table (even an empty one: `{{NULL}}` says "no keys"), `mproc
     * check` and `mproc run` refuse a key not in it and a required key
     * that is missing, and check each value's type; NULL (and every 1.0
     * and 1.1 plugin) leaves [args] unchecked.
     */
    const struct mproc_arg_def *args;
    /* ABI 1.3 */
    /**
     * MPROC_REDUCE_* flags, or 0.  MPROC_REDUCE_OWN_OUTPUT: reduce()
     * accepts the plugin's own reduce_end() output as if it were a task's,
     * so that the final outputs of shards of a job, each folded through
     * reduce() and then reduce_end(), give the output of one run over the
     * whole input (`mproc merge`).  A 1.0 to 1.2 descriptor reads as 0.
     */
    uint32_t reduce_flags;
};

/** (ABI 1.3) mproc_plugin.reduce_flags: see there. */
#define MPROC_REDUCE_OWN_OUTPUT 0x1u

#if defined(__GNUC__)
#define MPROC_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define MPROC_PLUGIN_EXPORT
#endif

/*
 * In C++ a const object at namespace scope has internal linkage, and its
 * name would be mangled: the descriptor must be declared extern "C" to be
 * found by dlsym().  (A linkage specification on a single declaration
 * also gives it external linkage.)
 */
#ifdef __cplusplus
#define MPROC_PLUGIN_LINKAGE_ extern "C"
#else
#define MPROC_PLUGIN_LINKAGE_
#endif
/* g++ (unlike C compilers) warns about the fields designated initialisers
 * leave out, which are meant to be zero here: not in the plugin's name. */
#if defined(__cplusplus) && defined(__GNUC__)
#define MPROC_PLUGIN_PUSH_                                                  \
    _Pragma("GCC diagnostic push")                                          \
    _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"")
#define MPROC_PLUGIN_POP_ _Pragma("GCC diagnostic pop")
#else
#define MPROC_PLUGIN_PUSH_
#define MPROC_PLUGIN_POP_
#endif

/**
 * Define the plugin's descriptor.  The arguments are designated
 * initialisers for the remaining fields:
 *
 *     MPROC_PLUGIN_DEFINE(.name = "echo", .version = "1.0",
 *                         .description = "copy each item",
 *                         .tasks = tasks);
 *
 * Works in C (C99 and later) and C++ (C++11 and later: C++20 designated
 * initialisers, which g++ and clang++ also take in C++11 to C++17 as an
 * extension; C++ wants them in the order of struct mproc_plugin: flags, name,
 * version, description, init, fini, tasks, reduce, reduce_end, args,
 * reduce_flags).
 */
#define MPROC_PLUGIN_DEFINE(...)                                            \
    MPROC_PLUGIN_PUSH_                                                      \
    MPROC_PLUGIN_LINKAGE_ MPROC_PLUGIN_EXPORT const struct mproc_plugin     \
    mproc_plugin_v1 = {                                                     \
        .abi_major = MPROC_PLUGIN_ABI_MAJOR,                                \
        .abi_minor = MPROC_PLUGIN_ABI_MINOR,                                \
        .size = (uint32_t)sizeof(struct mproc_plugin),                      \
        __VA_ARGS__};                                                       \
    MPROC_PLUGIN_POP_                                                       \
    MPROC_PLUGIN_LINKAGE_ MPROC_PLUGIN_EXPORT const struct mproc_plugin     \
    mproc_plugin_v1

/* ---- helpers: thin inline wrappers over struct mproc_host ---- */

/** Make room for `extra` more bytes at out->data + out->len. */
static inline int
mproc_buf_reserve(struct mproc_buf *buf, size_t extra)
{
    return buf->host->buf_reserve(buf, extra);
}

/** Append `len` bytes. */
static inline int
mproc_buf_append(struct mproc_buf *buf, const void *data, size_t len)
{
    return buf->host->buf_append(buf, data, len);
}

/** Append formatted text (no NUL is stored). */
static inline int __attribute__((format(printf, 2, 3)))
mproc_buf_printf(struct mproc_buf *buf, const char *fmt, ...)
{
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = buf->host->buf_vprintf(buf, fmt, ap);
    va_end(ap);
    return r;
}

/**
 * Record why the current callback failed and return MPROC_TASK_FAIL, so
 * `return mproc_fail(ctx, "bad number '%s'", s);` reads naturally.  The
 * host names the item; the message says what was wrong with it.
 */
static inline int __attribute__((format(printf, 2, 3)))
mproc_fail(struct mproc_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctx->host->vfail(ctx, fmt, ap);
    va_end(ap);
    return MPROC_TASK_FAIL;
}

/**
 * (ABI 1.1) A shared object the job declares, e.g. `[lock:output]` is
 * mproc_shared(ctx, "lock", "output"): cast it to mproc_lock_t * and use
 * it with <mproc/sync.h> and <mproc/shared.h> (link with -lmproc:
 * `pkg-config --libs mproc`).  Kinds: lock, rlock, semaphore,
 * boundedsemaphore, event, condition, barrier, value, array.  Returns NULL
 * for an undeclared name, after recording a failure message that says so,
 * so `if (!l) return MPROC_TASK_FAIL;` reports it well.  Works in workers
 * and, for reduce, in the parent.
 */
static inline void *
mproc_shared(struct mproc_ctx *ctx, const char *kind, const char *name)
{
    if (ctx->host->size < offsetof(struct mproc_host, shared) +
                              sizeof(ctx->host->shared)) {
        mproc_fail(ctx, "this mproc is too old for shared objects");
        return NULL;
    }
    return ctx->host->shared(ctx, kind, name);
}

/**
 * (ABI 1.4) The job's Manager (its [manager] section, see mproc.ini(5)):
 * this process's connection to it, made on the first call in each worker
 * process (with every start method) and kept until the process ends; use
 * it with <mproc/manager.h> (link with -lmproc), e.g.
 *
 *     mproc_manager_t *m = mproc_ctx_manager(ctx);
 *     mproc_mobj_t *d;
 *     if (m == NULL)
 *         return MPROC_TASK_FAIL;
 *     if (mproc_manager_dict(m, "counts", &d) < 0) ...
 *
 * Do not free it (mproc_manager_free()); free the proxies you open.  Works
 * in init, task and fini, and in the parent (reduce).  Returns NULL after
 * recording a failure message (so `return MPROC_TASK_FAIL;` reports it)
 * when the job has no [manager], or when the manager cannot be reached
 * (the message names its address).  The host finds the manager through
 * the environment variables MPROC_MANAGER_ADDRESS and
 * MPROC_MANAGER_AUTHKEY_FILE, which `mproc run` sets for the run.
 */
static inline struct mproc_manager *
mproc_ctx_manager(struct mproc_ctx *ctx)
{
    if (ctx->host->size < offsetof(struct mproc_host, manager) +
                              sizeof(ctx->host->manager)) {
        mproc_fail(ctx, "this mproc is too old for mproc_ctx_manager() "
                        "(plugin ABI 1.4)");
        return NULL;
    }
    return ctx->host->manager(ctx);
}

/** The value of `key` in the job's [args], or `dflt` when absent. */
static inline const char *
mproc_arg(const struct mproc_ctx *ctx, const char *key, const char *dflt)
{
    size_t i;
    for (i = 0; i < ctx->nargs; i++) {
        const char *a = ctx->args[i].key, *b = key;
        while (*a && *a == *b) {
            a++;
            b++;
        }
        if (*a == *b)
            return ctx->args[i].value;
    }
    return dflt;
}

#ifdef __cplusplus
}
#endif
#endif /* MPROC_PLUGIN_H */

/* SPDX-License-Identifier: MIT */
/*
 * mproc: INI job files.
 *
 * A job file names a plugin task, its input and output, and the pool that
 * runs it.  The file is parsed with the system's inih library and checked
 * against mproc's schema: an unknown section or key, a bad value or a line
 * too long for inih is an error whose message starts with "FILE:LINE: ".
 * The same checks apply to assignments given on the command line with
 * mproc_config_set() (those messages start with "--set SECTION.KEY=VALUE: ").
 *
 * Relative paths inside a file (`input = lines:words.txt`, `plugin =
 * ./my.so`) are taken relative to the directory of that file; relative paths
 * given to mproc_config_set() are taken relative to the working directory.
 *
 * conf/mproc.ini in the source tree documents every key.
 *
 * A NULL handle is refused, never dereferenced: MPROC_EINVAL from a call
 * that returns an error code, 0/false/NULL from one that does not, no-op
 * for the frees (the rule in <mproc/error.h>).
 */
#ifndef MPROC_CONFIG_H
#define MPROC_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "error.h"
#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A job configuration (opaque). */
typedef struct mproc_config mproc_config_t;

/**
 * A line with an unquoted value longer than this many bytes (newline
 * excluded) is an error.  (It was 199, inih's buffer, until 0.1: a path in
 * a deep folder is longer.)  A value in double quotes may be longer.
 */
#define MPROC_CONFIG_LINE_MAX 8191

/**
 * The longest value, in double quotes (`key = "..."`, with \" and \\ as
 * escapes), in bytes once the escapes are read: 64 KiB.
 */
#define MPROC_CONFIG_VALUE_MAX 65536

/**
 * Create an empty configuration holding only defaults.
 * @return 0, or MPROC_ENOMEM.  On success free it with mproc_config_free().
 */
MPROC_API int mproc_config_new(mproc_config_t **out, mproc_err_t *err);

/**
 * Read and check one job file, adding its keys to `cfg`.  A key may appear
 * once per file; a later load or mproc_config_set() overrides it.
 * @return 0; MPROC_EINPUT when the file cannot be opened or read (the
 *         message names it and says why); MPROC_ECONFIG for any error in its
 *         contents ("FILE:LINE: ..."); MPROC_ENOMEM.
 */
MPROC_API int mproc_config_load(mproc_config_t *cfg, const char *path,
                                mproc_err_t *err);

/**
 * Apply one "section.key=value" assignment, with the same checks as a file.
 * A key of [args] is added when absent.
 * @return 0, MPROC_ECONFIG or MPROC_ENOMEM.
 */
MPROC_API int mproc_config_set(mproc_config_t *cfg, const char *assignment,
                               mproc_err_t *err);

/**
 * Check what only the whole configuration can tell (required keys) and
 * fill in the defaults.  Call it once after the last load/set.
 * @return 0 or MPROC_ECONFIG.
 */
MPROC_API int mproc_config_finish(mproc_config_t *cfg, mproc_err_t *err);

/**
 * The value of a key as written (after overrides), or NULL when unset.
 * Borrowed: valid until the next mutating call on cfg or its free.
 */
MPROC_API const char *mproc_config_get(const mproc_config_t *cfg,
                                       const char *section, const char *key);

/**
 * Where a key was set: "FILE:LINE", "--set", or "default".  Borrowed, like
 * mproc_config_get().  NULL for a key the schema does not know.
 */
MPROC_API const char *mproc_config_where(const mproc_config_t *cfg,
                                         const char *section,
                                         const char *key);

/**
 * The [args] section in file order (overrides replace in place, additions
 * come last).  Returns the count; *out is borrowed like mproc_config_get().
 */
MPROC_API size_t mproc_config_args(const mproc_config_t *cfg,
                                   const struct mproc_kv **out);

/** Release a configuration.  NULL is a no-op. */
MPROC_API void mproc_config_free(mproc_config_t *cfg);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_CONFIG_H */

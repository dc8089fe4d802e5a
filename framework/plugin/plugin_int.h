/* SPDX-License-Identifier: MIT */
/*
 * The plugin loader: find a plugin by name or path, dlopen it, check its
 * descriptor against the host's ABI, and look up tasks.
 */
#ifndef MPROC_PLUGIN_INT_H
#define MPROC_PLUGIN_INT_H

#include <mproc/error.h>
#include <mproc/plugin.h>

/* The path of a descriptor wrapped in-process (no file). */
#define MPROC__PLUGIN_IN_PROCESS "(in-process)"

struct mproc__plugin {
    void *handle;                    /* dlopen handle; NULL if in-process */
    char *path;                      /* the file, or MPROC__PLUGIN_IN_PROCESS */
    const struct mproc_plugin *desc; /* checked descriptor */
};

/*
 * Load a plugin.  `spec` containing '/' is a path; otherwise a name looked
 * up as NAME.so in MPROC_PLUGIN_PATH (colon-separated), then the install
 * directory, then (when this program runs from its build tree) the build
 * tree.  Errors: MPROC_EPLUGIN, MPROC_EABI, with the file and the reason.
 */
int mproc__plugin_open(struct mproc__plugin **out, const char *spec,
                       mproc_err_t *err);

/* Wrap an in-process descriptor after the same checks as a file. */
int mproc__plugin_wrap(struct mproc__plugin **out,
                       const struct mproc_plugin *desc, mproc_err_t *err);

/*
 * Find a task; NULL `name` selects the only task.  Errors: MPROC_EPLUGIN
 * ("no task 'x'; it has: a, b").
 */
int mproc__plugin_task(const struct mproc__plugin *p, const char *name,
                       const struct mproc_task_def **out, mproc_err_t *err);
/*
 * The same, for a caller that names its task some other way than a job
 * file's [job] task: `how` ends the message when `name` is NULL and the
 * plugin has several tasks ("name it as PLUGIN:TASK").
 */
int mproc__plugin_task_as(const struct mproc__plugin *p, const char *name,
                          const char *how, const struct mproc_task_def **out,
                          mproc_err_t *err);

/*
 * The [args] keys a descriptor declares (ABI 1.2), ending with a NULL
 * name; NULL when it declares none (every 1.0 and 1.1 plugin).
 */
const struct mproc_arg_def *mproc__plugin_args(const struct mproc_plugin *d);
/* The descriptor's reduce_flags (ABI 1.3), 0 for an older one. */
uint32_t mproc__plugin_reduce_flags(const struct mproc_plugin *d);

void mproc__plugin_close(struct mproc__plugin *p);

/*
 * The directories searched for plugin names, in order, as a NULL-terminated
 * array of malloc'd strings (free with mproc__plugin_dirs_free).
 */
char **mproc__plugin_dirs(void);
void mproc__plugin_dirs_free(char **dirs);

#endif

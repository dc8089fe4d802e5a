/* SPDX-License-Identifier: MIT */
/*
 * The plugin loader.
 *
 * A plugin is a shared object exporting `mproc_plugin_v1`.  The loader
 * refuses, naming the file and the reason: a file dlopen() cannot load, a
 * missing descriptor, an ABI major other than the host's, a minor newer than
 * the host's, a descriptor smaller than ABI 1.0's, and a descriptor that
 * declares no usable task.  RTLD_NOW makes unresolved symbols fail here, at
 * load time in the parent, instead of in the middle of a run in a worker;
 * RTLD_LOCAL keeps one plugin's symbols from satisfying another's.
 */
#include "internal.h"
#include "paths.h" /* the install folders (made by make) */

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config_int.h"
#include "plugin/plugin_int.h"

/* The smallest descriptor ABI 1.0 defines: up to and including reduce_end. */
#define DESC_MIN_SIZE                                                       \
    (offsetof(struct mproc_plugin, reduce_end) + sizeof(mproc_reduce_end_fn))

const struct mproc_arg_def *
mproc__plugin_args(const struct mproc_plugin *d)
{
    /* A 1.0 or 1.1 descriptor ends before `args`: reading it would read
     * past the plugin's object. */
    if (d->abi_minor < 2 ||
        d->size < offsetof(struct mproc_plugin, args) + sizeof(d->args))
        return NULL;
    return d->args;
}

uint32_t
mproc__plugin_reduce_flags(const struct mproc_plugin *d)
{
    /* Before 1.3 the descriptor ends before reduce_flags. */
    if (d->abi_minor < 3 ||
        d->size < offsetof(struct mproc_plugin, reduce_flags) +
                      sizeof(d->reduce_flags))
        return 0;
    return d->reduce_flags;
}

/* A declared [args] table: every key named once, with a known type. */
static int
check_args(const struct mproc_plugin *d, const char *file, mproc_err_t *err)
{
    const struct mproc_arg_def *a = mproc__plugin_args(d), *b;

    for (; a != NULL && a->name != NULL; a++) {
        char shown[200];

        /* A key no job file can set, or an alternative that names no
         * key, makes a table no job can satisfy: said at load, with the
         * name escaped (a refused one may hold anything). */
        if (!mproc__is_name(a->name))
            return mproc__err(err, MPROC_EPLUGIN,
                              "plugin %s: [args] '%s': a key is made of "
                              "letters, digits, '_', '.' and '-'",
                              file, mproc__esc_ctl(shown, sizeof(shown),
                                                   a->name, false));
        if (a->type < MPROC_ARG_STRING || a->type > MPROC_ARG_FILE)
            return mproc__err(err, MPROC_EPLUGIN,
                              "plugin %s: [args] %s has unknown type %d",
                              file, a->name, a->type);
        if (a->alternative != NULL) {
            for (b = mproc__plugin_args(d); b->name != NULL; b++)
                if (b != a && strcmp(b->name, a->alternative) == 0)
                    break;
            if (b->name == NULL)
                return mproc__err(err, MPROC_EPLUGIN,
                                  "plugin %s: [args] %s: its alternative "
                                  "'%s' is not a key the plugin declares",
                                  file, a->name,
                                  mproc__esc_ctl(shown, sizeof(shown),
                                                 a->alternative, false));
        }
        for (b = mproc__plugin_args(d); b != a; b++)
            if (strcmp(a->name, b->name) == 0)
                return mproc__err(err, MPROC_EPLUGIN,
                                  "plugin %s: [args] %s is declared twice",
                                  file, a->name);
    }
    return 0;
}

static int
check_desc(const struct mproc_plugin *d, const char *file, mproc_err_t *err)
{
    const struct mproc_task_def *t, *u;

    if (d->abi_major != MPROC_PLUGIN_ABI_MAJOR)
        return mproc__err(err, MPROC_EABI,
                          "plugin %s: built for plugin ABI major %u, host has "
                          "%u; rebuild it against this mproc's headers",
                          file, (unsigned)d->abi_major, MPROC_PLUGIN_ABI_MAJOR);
    if (d->abi_minor > MPROC_PLUGIN_ABI_MINOR)
        return mproc__err(err, MPROC_EABI,
                          "plugin %s: built for plugin ABI %u.%u, newer than "
                          "the host's %u.%u; upgrade mproc",
                          file, (unsigned)d->abi_major,
                          (unsigned)d->abi_minor, MPROC_PLUGIN_ABI_MAJOR,
                          MPROC_PLUGIN_ABI_MINOR);
    if (d->size < DESC_MIN_SIZE)
        return mproc__err(err, MPROC_EABI,
                          "plugin %s: descriptor is %u bytes, ABI %u.0 needs "
                          "at least %zu; define it with MPROC_PLUGIN_DEFINE",
                          file, (unsigned)d->size, MPROC_PLUGIN_ABI_MAJOR,
                          DESC_MIN_SIZE);
    if (d->name == NULL || d->name[0] == '\0')
        return mproc__err(err, MPROC_EPLUGIN,
                          "plugin %s: descriptor has no name", file);
    if (d->tasks == NULL || d->tasks[0].name == NULL)
        return mproc__err(err, MPROC_EPLUGIN,
                          "plugin %s: declares no task", file);
    for (t = d->tasks; t->name != NULL; t++) {
        if (t->fn == NULL)
            return mproc__err(err, MPROC_EPLUGIN,
                              "plugin %s: task '%s' has no function", file,
                              t->name);
        /* A job file can name no other (mproc-plugin(3)); the name is
         * shown escaped (a refused name may hold anything). */
        if (!mproc__is_name(t->name)) {
            char shown[200];
            return mproc__err(err, MPROC_EPLUGIN,
                              "plugin %s: task '%s': a task name is made "
                              "of letters, digits, '_', '.' and '-'",
                              file, mproc__esc_ctl(shown, sizeof(shown),
                                                   t->name, false));
        }
        for (u = d->tasks; u != t; u++)
            if (strcmp(u->name, t->name) == 0)
                return mproc__err(err, MPROC_EPLUGIN,
                                  "plugin %s: task '%s' is declared twice "
                                  "(a job could run only the first)",
                                  file, t->name);
    }
    if (d->reduce != NULL && d->reduce_end == NULL)
        return mproc__err(err, MPROC_EPLUGIN,
                          "plugin %s: has reduce but no reduce_end", file);
    return check_args(d, file, err);
}

/* Append dir to dirs[0..*n) unless it is there already (a folder named
 * twice, as MPROC_PLUGIN_PATH and the build tree may, is searched and
 * listed once).  Room is the caller's. */
static void
add_dir(char **dirs, size_t *n, const char *dir)
{
    size_t i;

    for (i = 0; i < *n; i++)
        if (dirs[i] != NULL && strcmp(dirs[i], dir) == 0)
            return;
    if ((dirs[*n] = strdup(dir)) != NULL)
        (*n)++;
}

char **
mproc__plugin_dirs(void)
{
    const char *env = getenv("MPROC_PLUGIN_PATH");
    size_t n = 0, cap = 8;
    char **dirs = calloc(cap, sizeof(*dirs));
    char *copy = NULL, *tok, *save = NULL;

    if (dirs == NULL)
        return NULL;
    if (env != NULL && (copy = strdup(env)) != NULL) {
        for (tok = strtok_r(copy, ":", &save); tok != NULL;
             tok = strtok_r(NULL, ":", &save)) {
            if (n + 3 >= cap) {
                char **d = realloc(dirs, (cap *= 2) * sizeof(*dirs));
                if (d == NULL)
                    break;
                dirs = d;
            }
            add_dir(dirs, &n, tok);
        }
        free(copy);
    }
    /* An uninstalled mproc uses the plugins built with it, before any
     * installed ones of another version (mproc__build_tree: found at run
     * time beside the executable, no build path compiled in). */
    if (mproc__build_tree() != NULL) {
        char lib[PATH_MAX];
        if (snprintf(lib, sizeof(lib), "%s/.libs", mproc__build_tree()) <
            (int)sizeof(lib))
            add_dir(dirs, &n, lib);
    }
    add_dir(dirs, &n, MPROC_PLUGINDIR);
    dirs[n] = NULL;
    return dirs;
}

void
mproc__plugin_dirs_free(char **dirs)
{
    size_t i;
    if (dirs == NULL)
        return;
    for (i = 0; dirs[i] != NULL; i++)
        free(dirs[i]);
    free(dirs);
}

/* The NAME of the NAME.so of dirs[] closest to `name` (a typo), into
 * out[cap], or "" when none is close. */
static void
near_plugin(char *const *dirs, const char *name, char *out, size_t cap)
{
    enum { MAXN = 256 };
    char *names[MAXN];
    const char *near;
    size_t n = 0, i, l;

    out[0] = '\0';
    for (i = 0; dirs[i] != NULL && n < MAXN; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *e;

        while (d != NULL && n < MAXN && (e = readdir(d)) != NULL) {
            l = strlen(e->d_name);
            if (l > 3 && strcmp(e->d_name + l - 3, ".so") == 0 &&
                (names[n] = strndup(e->d_name, l - 3)) != NULL)
                n++;
        }
        if (d != NULL)
            closedir(d);
    }
    near = mproc__closest(name, (const char *const *)names, n);
    if (near != NULL)
        snprintf(out, cap, "; did you mean '%s'?", near);
    for (i = 0; i < n; i++)
        free(names[i]);
}

/* Find NAME.so in the search directories; *path is malloc'd. */
static int
find_plugin(const char *name, char **path, mproc_err_t *err)
{
    char **dirs = mproc__plugin_dirs();
    char buf[PATH_MAX], searched[512] = "";
    size_t i, used = 0, nl;
    int r = MPROC_EPLUGIN;

    if (dirs == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    for (i = 0; dirs[i] != NULL; i++) {
        int k = snprintf(buf, sizeof(buf), "%s/%s.so", dirs[i], name);
        if (k > 0 && (size_t)k < sizeof(buf) && access(buf, F_OK) == 0) {
            *path = strdup(buf);
            r = *path != NULL ? 0 : MPROC_ENOMEM;
            goto done;
        }
        /* A folder that does not fit ends the list with "...", rather
         * than being left out of it. */
        if (used == sizeof(searched))
            continue; /* the list is full */
        k = snprintf(searched + used, sizeof(searched) - used, "%s%s",
                     i ? ", " : "", dirs[i]);
        if (k > 0 && used + (size_t)k < sizeof(searched) - 6) {
            used += (size_t)k;
        } else {
            snprintf(searched + used, sizeof(searched) - used, ", ...");
            used = sizeof(searched);
        }
    }
    nl = strlen(name);
    if (nl > 3 && strcmp(name + nl - 3, ".so") == 0)
        /* A file name given as a NAME: the likely mistake. */
        mproc__err(err, MPROC_EPLUGIN,
                   "plugin '%s' not found (looked for %s.so in %s); a file "
                   "is given by its path, such as ./%s, and a plugin of the "
                   "search path by its NAME, without .so",
                   name, name, searched, name);
    else {
        char near[128];

        near_plugin(dirs, name, near, sizeof(near));
        if (near[0] != '\0')
            mproc__err(err, MPROC_EPLUGIN,
                       "plugin '%s' not found (looked for %s.so in %s)%s",
                       name, name, searched, near);
        else
            mproc__err(err, MPROC_EPLUGIN,
                       "plugin '%s' not found (looked for %s.so in %s); set "
                       "MPROC_PLUGIN_PATH or give a path such as ./%s.so",
                       name, name, searched, name);
    }
done:
    mproc__plugin_dirs_free(dirs);
    return r;
}

int
mproc__plugin_open(struct mproc__plugin **out, const char *spec,
                   mproc_err_t *err)
{
    struct mproc__plugin *p = NULL;
    const struct mproc_plugin *d;
    char *path = NULL;
    void *h = NULL;
    int r;

    *out = NULL;
    if (spec == NULL || spec[0] == '\0')
        return mproc__err(err, MPROC_EINVAL, "no plugin given");
    if (strchr(spec, '/') != NULL) {
        if (access(spec, F_OK) != 0)
            return mproc__err(err, MPROC_EPLUGIN, "plugin %s: %s", spec,
                              strerror(errno));
        path = strdup(spec);
    } else {
        r = find_plugin(spec, &path, err);
        if (r < 0)
            return r;
    }
    if (path == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");

    dlerror();
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        r = mproc__err(err, MPROC_EPLUGIN, "plugin %s: cannot load: %s",
                       path, dlerror());
        goto fail;
    }
    d = dlsym(h, MPROC_PLUGIN_SYMBOL);
    if (d == NULL) {
        r = mproc__err(err, MPROC_EPLUGIN,
                       "plugin %s: no '%s' symbol: not an mproc plugin (a "
                       "plugin defines one with MPROC_PLUGIN_DEFINE)",
                       path, MPROC_PLUGIN_SYMBOL);
        goto fail;
    }
    r = check_desc(d, path, err);
    if (r < 0)
        goto fail;
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        r = mproc__err(err, MPROC_ENOMEM, "out of memory");
        goto fail;
    }
    p->handle = h;
    p->path = path;
    p->desc = d;
    *out = p;
    return 0;

fail:
    if (h != NULL)
        dlclose(h);
    free(path);
    return r;
}

int
mproc__plugin_wrap(struct mproc__plugin **out,
                   const struct mproc_plugin *desc, mproc_err_t *err)
{
    struct mproc__plugin *p;
    int r;

    *out = NULL;
    r = check_desc(desc, MPROC__PLUGIN_IN_PROCESS, err);
    if (r < 0)
        return r;
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->path = strdup(MPROC__PLUGIN_IN_PROCESS)) == NULL) {
        free(p);
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    }
    p->desc = desc;
    *out = p;
    return 0;
}

/* "a, b, c": the task names of a plugin, for messages. */
static void
task_list(const struct mproc_plugin *d, char *buf, size_t len)
{
    const struct mproc_task_def *t;
    size_t used = 0;

    buf[0] = '\0';
    for (t = d->tasks; t->name != NULL; t++) {
        int k = snprintf(buf + used, len - used, "%s%s",
                         t == d->tasks ? "" : ", ", t->name);
        if (k < 0 || used + (size_t)k >= len)
            break;
        used += (size_t)k;
    }
}

int
mproc__plugin_task(const struct mproc__plugin *p, const char *name,
                   const struct mproc_task_def **out,
                   mproc_err_t *err)
{
    return mproc__plugin_task_as(p, name, "choose one with [job] task", out,
                                 err);
}

int
mproc__plugin_task_as(const struct mproc__plugin *p, const char *name,
                      const char *how, const struct mproc_task_def **out,
                      mproc_err_t *err)
{
    const struct mproc_task_def *t;
    char names[256];

    *out = NULL;
    if (name == NULL) {
        if (p->desc->tasks[1].name == NULL) {
            *out = &p->desc->tasks[0];
            return 0;
        }
        task_list(p->desc, names, sizeof(names));
        return mproc__err(err, MPROC_EPLUGIN,
                          "plugin %s (%s) has several tasks (%s); %s",
                          p->path, p->desc->name, names, how);
    }
    for (t = p->desc->tasks; t->name != NULL; t++) {
        if (strcmp(t->name, name) == 0) {
            *out = t;
            return 0;
        }
    }
    task_list(p->desc, names, sizeof(names));
    return mproc__err(err, MPROC_EPLUGIN,
                      "plugin %s (%s) has no task '%s'; it has: %s", p->path,
                      p->desc->name, name, names);
}

void
mproc__plugin_close(struct mproc__plugin *p)
{
    if (p == NULL)
        return;
    /*
     * Plugins are never unloaded: a plugin may have started threads or
     * registered atexit handlers that point into its code, and a dlclose()
     * would leave them dangling.  The handle stays valid until exit.
     */
    free(p->path);
    free(p);
}

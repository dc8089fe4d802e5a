/* SPDX-License-Identifier: MIT */
/*
 * [args] against the keys a plugin declares (plugin ABI 1.2).
 *
 * The file is read before the plugin is known, so [args] is taken as
 * written; once the host has the plugin's table it checks the keys here,
 * before any worker starts: a typo in a key would otherwise be ignored in
 * silence and the plugin would run with its default.  A plugin that
 * declares nothing (ABI 1.0, 1.1) keeps [args] unchecked.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <mproc/plugin.h>

#include "config/config_int.h"

static const char *const type_names[] = {
    [MPROC_ARG_STRING] = "text",
    [MPROC_ARG_INT] = "an integer",
    [MPROC_ARG_BOOL] = "true or false",
    [MPROC_ARG_DURATION] = "a duration like 30 (seconds), 1.5s, 500ms or 2m",
    [MPROC_ARG_SIZE] = "a size like 65536, 512K or 64M",
    [MPROC_ARG_PATH] = "a path",
    [MPROC_ARG_FILE] = "an existing file",
};

/* Where an [args] key was set, for a message: "FILE:LINE" or --set. */
static void
where_text(const char *where, const char *key, char *buf, size_t len)
{
    if (strcmp(where, "--set") == 0)
        snprintf(buf, len, "--set args.%s", key);
    else
        snprintf(buf, len, "%s", where);
}

static const struct mproc_arg_def *
find_def(const struct mproc_arg_def *defs, const char *key)
{
    for (; defs->name != NULL; defs++)
        if (strcmp(defs->name, key) == 0)
            return defs;
    return NULL;
}

static int
unknown(const struct mproc_arg_def *defs, const char *key, const char *loc,
        const char *plugin, mproc_err_t *err)
{
    const char *names[64], *near;
    char list[512];
    size_t n = 0;

    for (; defs->name != NULL && n < MPROC__ARRAY_SIZE(names); defs++)
        names[n++] = defs->name;
    if (n == 0)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: unknown key '%s' in [args]: plugin %s takes "
                          "no arguments",
                          loc, key, plugin);
    if ((near = mproc__closest(key, names, n)) != NULL)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: unknown key '%s' in [args] of plugin %s; did "
                          "you mean '%s'?",
                          loc, key, plugin, near);
    mproc__join_or(names, n, list, sizeof(list));
    return mproc__err(err, MPROC_ECONFIG,
                      "%s: unknown key '%s' in [args] of plugin %s; it takes "
                      "%s (see mproc plugins %s)",
                      loc, key, plugin, list, plugin);
}

/* Is `value` of type `type`?  A FILE must exist and not be a folder. */
static int
check_value(const struct mproc_arg_def *d, const char *value,
            const char *path, const char *loc, mproc_err_t *err)
{
    unsigned long long v;
    int64_t i;
    struct stat st;
    bool ok = true;

    switch (d->type) {
    case MPROC_ARG_INT:
        ok = mproc__parse_int64(value, strlen(value), &i);
        break;
    case MPROC_ARG_BOOL:
        ok = mproc__parse_bool(value) >= 0;
        break;
    case MPROC_ARG_DURATION:
        ok = mproc__parse_duration(value, ~0ull >> 1, &v);
        break;
    case MPROC_ARG_SIZE:
        ok = mproc__parse_size(value, 0, ~0ull >> 1, &v);
        break;
    case MPROC_ARG_PATH:
    case MPROC_ARG_FILE:
        ok = value[0] != '\0';
        break;
    default:
        break;
    }
    if (!ok)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: [args] %s: expected %s, got '%s'", loc,
                          d->name, type_names[d->type], value);
    if (d->type == MPROC_ARG_FILE) {
        if (stat(path, &st) != 0)
            return mproc__err(err, MPROC_EINPUT, "%s: [args] %s: %s: %s",
                              loc, d->name, path, strerror(errno));
        if (S_ISDIR(st.st_mode))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: [args] %s: %s is a folder, not a file",
                              loc, d->name, path);
    }
    return 0;
}

int
mproc__config_check_args(mproc_config_t *cfg,
                         const struct mproc_arg_def *defs,
                         const char *plugin, mproc_err_t *err)
{
    const struct mproc_arg_def *d;
    const struct mproc_kv *kv;
    const char *where, *path;
    size_t i, n;
    char loc[4200];
    int r;

    if (defs == NULL)
        return 0;
    n = mproc_config_args(cfg, &kv);
    for (i = 0; i < n; i++) {
        mproc__config_arg(cfg, i, &where, &path);
        where_text(where, kv[i].key, loc, sizeof(loc));
        if ((d = find_def(defs, kv[i].key)) == NULL)
            return unknown(defs, kv[i].key, loc, plugin, err);
        if ((r = check_value(d, kv[i].value, path, loc, err)) < 0)
            return r;
        if (d->type == MPROC_ARG_PATH || d->type == MPROC_ARG_FILE)
            mproc__config_arg_use_path(cfg, i);
    }
    for (d = defs; d->name != NULL; d++) {
        if (!(d->flags & MPROC_ARG_REQUIRED) ||
            mproc_config_get(cfg, "args", d->name) != NULL ||
            (d->alternative != NULL &&
             mproc_config_get(cfg, "args", d->alternative) != NULL))
            continue;
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: [args] %s is required by plugin %s%s%s%s: "
                          "%s",
                          mproc__config_args_where(cfg), d->name, plugin,
                          d->alternative ? " (or set " : "",
                          d->alternative ? d->alternative : "",
                          d->alternative ? ")" : "",
                          d->help ? d->help : "see mproc plugins");
    }
    return 0;
}

ssize_t
mproc__config_arg_path_at(const struct mproc_arg_def *defs, const char *key,
                          const char *value)
{
    const struct mproc_arg_def *d = defs ? find_def(defs, key) : NULL;

    if (d == NULL || value[0] == '\0' ||
        (d->type != MPROC_ARG_PATH && d->type != MPROC_ARG_FILE))
        return -1;
    return 0;
}

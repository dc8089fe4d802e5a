/* SPDX-License-Identifier: MIT */
/*
 * The plugin loader: lookup by name and path, and every refusal, each
 * naming the file and the reason.  The broken plugins are built in tests/
 * (one flaw each); the shipped ones come from MPROC_PLUGIN_PATH.
 */
#include "config.h"
#include "paths.h" /* the install folders (made by make) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "plugin/plugin_int.h"
#include "tap.h"

static char path[4096];

static const char *
test_plugin(const char *name)
{
    const char *dir = getenv("MPROC_TEST_PLUGINS");
    snprintf(path, sizeof(path), "%s/%s.so", dir ? dir : "tests/.libs", name);
    return path;
}

static void
refused(const char *name, int code, const char *why)
{
    struct mproc__plugin *p = (void *)1;
    mproc_err_t err = {0};
    char want[4200];
    int r = mproc__plugin_open(&p, test_plugin(name), &err);

    is_int(r, code, "%s: refused with %s", name, mproc_err_name(code));
    ok(p == NULL, "%s: no handle on failure", name);
    snprintf(want, sizeof(want), "plugin %s: ", path);
    like_str(err.msg, want, "%s: the message names the file", name);
    like_str(err.msg, why, "%s: and says why", name);
}

int
main(void)
{
    struct mproc__plugin *p = NULL;
    const struct mproc_task_def *t;
    mproc_err_t err;
    char **dirs;
    int r;

    /* Shipped plugins, found by name through MPROC_PLUGIN_PATH. */
    r = mproc__plugin_open(&p, "echo", &err);
    is_int(r, 0, "echo is found by name");
    if (r == 0) {
        is_str(p->desc->name, "echo", "its descriptor names it");
        like_str(p->path, "/echo.so", "the file is echo.so");
        is_int(mproc__plugin_task(p, NULL, &t, &err), 0,
               "its only task is chosen when none is named");
        is_str(t->name, "echo", "the task is echo");
        mproc__plugin_close(p);
    }
    r = mproc__plugin_open(&p, "wordcount", &err);
    is_int(r, 0, "wordcount is found");
    if (r == 0) {
        is_int(mproc__plugin_task(p, NULL, &t, &err), MPROC_EPLUGIN,
               "several tasks: one must be named");
        like_str(err.msg, "choose one with [job] task", "the message says so");
        ok(p->desc->reduce != NULL, "wordcount reduces");
        mproc__plugin_close(p);
    }

    r = mproc__plugin_open(&p, "no-such-plugin", &err);
    is_int(r, MPROC_EPLUGIN, "an unknown name is refused");
    like_str(err.msg, "plugin 'no-such-plugin' not found", "named");
    like_str(err.msg, "MPROC_PLUGIN_PATH", "with what to do");

    r = mproc__plugin_open(&p, "./no/such/file.so", &err);
    is_int(r, MPROC_EPLUGIN, "a missing path is refused");
    is_str(err.msg, "plugin ./no/such/file.so: No such file or directory",
           "with the file and the reason");

    {
        char junk[] = "/tmp/mproc-junk-XXXXXX.so";
        int fd = mkstemps(junk, 3);
        ok(fd >= 0 && write(fd, "not ELF\n", 8) == 8, "a junk .so file");
        close(fd);
        r = mproc__plugin_open(&p, junk, &err);
        is_int(r, MPROC_EPLUGIN, "a file that is not a shared object is "
                                 "refused");
        like_str(err.msg, "cannot load: ", "as one that cannot load, with "
                                           "dlerror()");
        unlink(junk);
    }

    refused("nodesc", MPROC_EPLUGIN, "no 'mproc_plugin_v1' symbol");
    refused("badmajor", MPROC_EABI, "built for plugin ABI major 2, host has 1");
    refused("newminor", MPROC_EABI, "newer than the host's 1.4; upgrade mproc");
    refused("smalldesc", MPROC_EABI, "descriptor is");

    r = mproc__plugin_open(&p, test_plugin("notasks"), &err);
    is_int(r, 0, "notasks loads");
    if (r == 0) {
        is_int(mproc__plugin_task(p, "missing", &t, &err), MPROC_EPLUGIN,
               "a missing task is refused");
        like_str(err.msg, "has no task 'missing'; it has: only",
                 "naming the tasks it has");
        is_int(mproc__plugin_task(p, NULL, &t, &err), 0,
               "the only task is the default");
        is_str(t ? t->name : NULL, "only", "and it is 'only'");
        mproc__plugin_close(p);
    }

    r = mproc__plugin_open(&p, test_plugin("initfail"), &err);
    is_int(r, 0, "initfail loads (its init fails later, in a worker)");
    mproc__plugin_close(p);

    dirs = mproc__plugin_dirs();
    ok(dirs != NULL && dirs[0] != NULL, "search directories are listed");
    if (dirs != NULL) {
        size_t i;
        int has_install = 0;
        for (i = 0; dirs[i] != NULL; i++)
            has_install |= strcmp(dirs[i], MPROC_PLUGINDIR) == 0;
        like_str(dirs[0], getenv("MPROC_PLUGIN_PATH"),
                 "MPROC_PLUGIN_PATH comes first");
        ok(has_install, "the install directory is searched");
    }
    mproc__plugin_dirs_free(dirs);
    return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * `mproc plugins`: list the plugins in the search path (or the folders
 * given with --path), with their version, ABI, tasks and description.
 * A file that does not load is listed on stderr with the reason, so a
 * broken install is visible here first.
 */
#include "internal.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "plugin/plugin_int.h"

static const char plugins_usage[] =
    "Usage: mproc plugins [--path DIR]...\n"
    "List the task plugins found: name, version, plugin ABI, file, tasks and\n"
    "description.  Without --path, the folders searched are those of\n"
    "MPROC_PLUGIN_PATH, then the install folder.\n"
    "\n"
    "  -p, --path DIR   list the plugins in DIR instead (may be repeated)\n"
    "  -h, --help       show this help\n";

/* List one folder; returns the number of broken files. */
static int
list_dir(const char *dir, unsigned *found)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int broken = 0;

    if (d == NULL)
        return 0; /* a search folder that does not exist holds nothing */
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        /* Plugins are NAME.so; libNAME.so files beside them (libmproc in
         * the build tree) are libraries, not plugins. */
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0 ||
            strncmp(e->d_name, "lib", 3) == 0)
            continue;
        if (n == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 16) *
                                          sizeof(*names));
            if (p == NULL)
                break;
            names = p;
        }
        names[n] = strdup(e->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), cli_cmp_str);
    for (i = 0; i < n; i++) {
        struct mproc__plugin *p;
        const struct mproc_task_def *t;
        mproc_err_t err;
        char path[4200];

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        free(names[i]);
        if (cli_check_plugin_file(path) != 0) {
            broken++;
            continue;
        }
        if (mproc__plugin_open(&p, path, &err) < 0) {
            cli_error("%s", err.msg);
            broken++;
            continue;
        }
        (*found)++;
        printf("%s %s  ABI %u.%u  %s\n", p->desc->name,
               p->desc->version ? p->desc->version : "?",
               (unsigned)p->desc->abi_major, (unsigned)p->desc->abi_minor,
               p->path);
        if (p->desc->description != NULL)
            printf("    %s\n", p->desc->description);
        for (t = p->desc->tasks; t->name != NULL; t++)
            printf("    task %s%s%s\n", t->name, t->description ? ": " : "",
                   t->description ? t->description : "");
        if (p->desc->reduce != NULL)
            printf("    reduces its outputs in the parent\n");
        mproc__plugin_close(p);
    }
    free(names);
    return broken;
}

int
cmd_plugins(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"path", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char **given = calloc((size_t)argc + 1, sizeof(*given));
    char **dirs;
    size_t ngiven = 0, i;
    unsigned found = 0;
    int c, broken = 0;

    if (given == NULL)
        return CLI_EXIT_SOFTWARE;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
        if (c == 'p') {
            given[ngiven++] = optarg;
        } else if (c == 'h') {
            fputs(plugins_usage, stdout);
            free(given);
            return CLI_EXIT_OK;
        } else {
            cli_error("plugins: unknown option or missing value: '%s'",
                      argv[optind - 1]);
            cli_try_help("plugins");
            free(given);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("plugins: unexpected argument '%s'", argv[optind]);
        free(given);
        return CLI_EXIT_USAGE;
    }
    if (ngiven > 0) {
        for (i = 0; i < ngiven; i++)
            broken += list_dir(given[i], &found);
    } else {
        dirs = mproc__plugin_dirs();
        for (i = 0; dirs != NULL && dirs[i] != NULL; i++)
            broken += list_dir(dirs[i], &found);
        mproc__plugin_dirs_free(dirs);
    }
    free(given);
    if (found == 0 && broken == 0) {
        cli_error("no plugins found; set MPROC_PLUGIN_PATH or use --path");
        return CLI_EXIT_NOINPUT;
    }
    return broken ? CLI_EXIT_CONFIG : CLI_EXIT_OK;
}

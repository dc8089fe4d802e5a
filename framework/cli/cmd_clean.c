/* SPDX-License-Identifier: MIT */
/*
 * `mproc clean`: remove the System V semaphore sets that sync = sysv
 * arenas left behind when their creator was killed (SIGKILL gives it no
 * chance to remove its set).  Only sets recognisably mproc's and the
 * caller's, whose creator is dead, are touched; --dry-run lists them.
 */
#include "internal.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "status/status_int.h"
#include "sync/sync_int.h"

static const char clean_usage[] =
    "Usage: mproc clean [--dry-run]\n"
    "Remove the System V semaphore sets left by sync = sysv arenas whose\n"
    "creating process is dead (killed before it could remove them).  Only\n"
    "your own sets that mproc made are considered; a set whose creator\n"
    "still runs is left alone.  Also removes the status sockets (see\n"
    "mproc status) of runs that were killed.\n"
    "\n"
    "  -n, --dry-run    list them, remove nothing\n"
    "  -h, --help       show this help\n";

static void
print_set(int semid, long pid, void *arg)
{
    printf("%s semaphore set %d (creator pid %ld, dead)\n",
           *(const bool *)arg ? "would remove" : "removed", semid, pid);
}

static void
print_sock(long pid, void *arg)
{
    printf("%s status socket of run %ld (dead)\n",
           *(const bool *)arg ? "would remove" : "removed", pid);
}

/* The status sockets of killed runs; said only when there are some. */
static int
clean_sockets(bool dry)
{
    mproc_err_t err;
    int n = mproc__status_clean(!dry, print_sock, &dry, &err);

    if (n < 0)
        cli_error("clean: %s", err.msg);
    return n;
}

int
cmd_clean(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    mproc_err_t err;
    bool dry = false;
    int c, n;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "nh", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            dry = true;
            break;
        case 'h':
            fputs(clean_usage, stdout);
            return CLI_EXIT_OK;
        default:
            cli_error("clean: unknown option '%s'", argv[optind - 1]);
            cli_try_help("clean");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("clean: unexpected argument '%s'", argv[optind]);
        cli_try_help("clean");
        return CLI_EXIT_USAGE;
    }
    n = mproc__sysv_clean(!dry, print_set, &dry, &err);
    if (n < 0) {
        cli_error("clean: %s", err.msg);
        return CLI_EXIT_SOFTWARE;
    }
    printf("%s %d System V semaphore set%s of dead mproc processes\n",
           dry ? "found" : "removed", n, n == 1 ? "" : "s");
    if (clean_sockets(dry) < 0) /* mproc status (issue 19) */
        return CLI_EXIT_SOFTWARE;
    return CLI_EXIT_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * `mproc clean`: remove the System V semaphore sets that sync = sysv
 * arenas left behind when their creator was killed (SIGKILL gives it no
 * chance to remove its set), and the named shared memory blocks
 * (<mproc/shared_memory.h>) such a creator did not unlink.  Only objects
 * recognisably mproc's and the caller's, whose creator is dead, are
 * touched; --dry-run lists them.  MPROC_SHM_DIR (tests) replaces
 * /dev/shm.
 */
#include "internal.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "shm/shm_int.h"
#include "status/status_int.h"
#include "sync/sync_int.h"

static const char clean_usage[] =
    "Usage: mproc clean [--dry-run]\n"
    "Remove the System V semaphore sets left by sync = sysv arenas, and the\n"
    "named shared memory blocks in /dev/shm, whose creating process is dead\n"
    "(killed before it could remove them).  Only your own objects that\n"
    "mproc made are considered; one whose creator still runs is left alone.\n"
    "Also remove the temporary folders ($TMPDIR/mproc-spill.PID.*,\n"
    "mproc-exec.PID.*, and the [manager] key folders mproc-mgrjob.PID.*\n"
    "there or in $XDG_RUNTIME_DIR) of runs that were killed (PID dead).\n"
    "Also the status sockets (see mproc status) of killed runs.\n"
    "A folder holding a folder is not a run's (runs make none): it is\n"
    "left, and said so (\"would not remove ...: not made by mproc\").\n"
    "\n"
    "  -n, --dry-run    list them, remove nothing\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit status: 0, 64 usage error, 70 something could not be read or\n"
    "removed (said), 74 writing the output failed.\n";

static void
print_set(int semid, long pid, void *arg)
{
    printf("%s semaphore set %d (creator pid %ld, dead)\n",
           *(const bool *)arg ? "would remove" : "removed", semid, pid);
}

static void
print_shm(const char *name, long pid, void *arg)
{
    printf("%s shared memory %s (creator pid %ld, dead)\n",
           *(const bool *)arg ? "would remove" : "removed", name, pid);
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
    const char *shmdir = getenv("MPROC_SHM_DIR");
    mproc_err_t err;
    bool dry = false, failed = false;
    int c, n, m;

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
    m = mproc__shm_clean(shmdir != NULL && shmdir[0] != '\0' ? shmdir
                                                            : "/dev/shm",
                         !dry, print_shm, &dry, &err);
    if (m < 0) {
        cli_error("clean: %s", err.msg);
        return CLI_EXIT_SOFTWARE;
    }
    printf("%s %d shared memory block%s of dead mproc processes\n",
           dry ? "found" : "removed", m, m == 1 ? "" : "s");
    /* The temporary folders of killed runs (clean_spill.c). */
    if ((n = cli_clean_spill(dry, &failed)) < 0)
        return CLI_EXIT_SOFTWARE;
    printf("%s %d temporary folder%s of dead mproc runs\n",
           dry ? "found" : "removed", n, n == 1 ? "" : "s");
    if (clean_sockets(dry) < 0) /* mproc status (issue 19) */
        return CLI_EXIT_SOFTWARE;
    /* After the rest was cleaned: a folder left by an error is not a
     * clean that succeeded. */
    return failed ? CLI_EXIT_SOFTWARE : CLI_EXIT_OK;
}

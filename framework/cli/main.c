/* SPDX-License-Identifier: MIT */
/*
 * mproc: the host program.  Only dispatches to a command (cmd_*.c); what
 * the commands share is in common.c.
 */
#include "internal.h"
#include "paths.h" /* the install folders (made by make) */

#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config_int.h" /* mproc__closest */

static const char usage_text[] =
    "Usage: mproc COMMAND [ARGS]...\n"
    "Run a task plugin over many input items in a pool of processes.\n"
    "\n"
    "Commands:\n"
    "  run JOB.ini [--set SECTION.KEY=VALUE]... [--workers N] [--quiet]\n"
    "            [--joblog FILE [--resume]] [--stats text|json]\n"
    "                     run the job: apply its task to every input item\n"
    "  exec [OPTIONS] COMMAND [ARGS]... [::: ITEMS... | :::: FILES...]...\n"
    "                     run COMMAND per item, with GNU parallel's options\n"
    "                     and replacement strings ({} {.} {/} {#} {1}...)\n"
    "  check JOB.ini [--set SECTION.KEY=VALUE]...\n"
    "                     check the job and its plugin; print the settings\n"
    "  bench [JOB.ini] [--runs N] [--vary SECTION.KEY=V1,V2...]...\n"
    "                     time the job under each setting; medians\n"
    "  plugins [--path DIR]...\n"
    "                     list the plugins found and their tasks\n"
    "  clean [--dry-run]  remove what killed mproc runs left: semaphore sets,\n"
    "                     /dev/shm blocks, status sockets, temporary folders\n"
    "  merge JOB.ini --shards N --joblog LOG\n"
    "                     join the outputs of a job's shards (run --shard)\n"
    "  slurm JOB.ini --shards N [SBATCH OPTIONS]...\n"
    "                     run the job as a Slurm job array, then merge\n"
    "  rerun LOG INDEX [--gdb|--valgrind|--strace [ARGS]...|-- CMD...]\n"
    "                     run one logged item again under a debugger\n"
    "  status [PID|JOB] [--json] [--watch [SECONDS]]\n"
    "                     show what a running job does now\n"
    "  manager --address ADDR --authkey-file FILE\n"
    "                     serve shared objects (mproc-manager(3)) to any process\n"
    "  help [COMMAND]     show this help, or a command's\n"
    "\n"
    "Options:\n"
    "  -h, --help         show help and exit\n"
    "  -V, --version      show the version and exit\n"
    "\n"
    "Plugins named in a job are searched in MPROC_PLUGIN_PATH (a colon-\n"
    "separated list of folders), then in " MPROC_PLUGINDIR ".\n"
    "Example jobs: " MPROC_PKGDATADIR "; every key: mproc.ini(5).\n"
    "\n"
    "Exit status: 0 all tasks succeeded, 1 some tasks failed, 64 usage\n"
    "error, 66 a config or input file is missing, 73 the output cannot be\n"
    "created, 74 writing the output failed, 78 config or plugin error,\n"
    "70 internal error, 130 interrupted.\n";

/* The commands, in the order the help lists them. */
static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} commands[] = {
    {"run", cmd_run},       {"exec", cmd_exec},   {"check", cmd_check},
    {"plugins", cmd_plugins}, {"clean", cmd_clean},
    {"manager", cmd_manager},
    {"merge", cmd_merge},   {"slurm", cmd_slurm},
    {"rerun", cmd_rerun}, /* dbg19 */
    {"status", cmd_status},
    {"bench", cmd_bench},
};

static int (*find(const char *name))(int, char **)
{
    size_t i;

    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].fn;
    return NULL;
}

/* `mproc help [CMD]`: the command's own --help, which exits 0. */
static int
help(const char *cmd)
{
    int (*fn)(int, char **);
    char *argv[3] = {NULL, (char *)"--help", NULL};

    if (cmd == NULL) {
        fputs(usage_text, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "--help") == 0) {
        fputs(usage_text, stdout);
        return CLI_EXIT_OK;
    }
    fn = find(cmd);
    if (fn == NULL) {
        char list[256] = "";
        size_t i, len = 0;

        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s, ",
                                    commands[i].name);
        cli_error("help: no command '%s'; commands are %shelp", cmd, list);
        cli_try_help(NULL);
        return CLI_EXIT_USAGE;
    }
    argv[0] = (char *)cmd;
    return fn(2, argv);
}

/* Run the command argv[1] names: its exit status. */
static int
dispatch(int argc, char **argv)
{
    int (*fn)(int, char **);
    const char *cmd = argv[1];

    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0)
        return help(NULL);
    if (strcmp(cmd, "help") == 0) {
        if (argc > 3) {
            cli_error("help: give at most one command");
            cli_try_help(NULL);
            return CLI_EXIT_USAGE;
        }
        return help(argc > 2 ? argv[2] : NULL);
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0)
        return cli_build_info();
    fn = find(cmd);
    if (fn != NULL)
        return fn(argc - 1, argv + 1);
    if (cmd[0] == '-') {
        cli_error("unknown option '%s'", cmd);
    } else {
        const char *names[sizeof(commands) / sizeof(commands[0])], *near;
        size_t i;

        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            names[i] = commands[i].name;
        near = mproc__closest(cmd, names, i);
        if (near != NULL)
            cli_error("unknown command '%s'; did you mean '%s'?", cmd, near);
        else
            cli_error("unknown command '%s'", cmd);
    }
    cli_try_help(NULL);
    return CLI_EXIT_USAGE;
}

int
main(int argc, char **argv)
{
    int fd, rc;

    /* Started with 0, 1 or 2 closed (`<&-`): the first descriptor mproc
     * opens would take that number, its own pipe read as stdin (a run
     * waiting on itself), or output written into a socket.  /dev/null
     * holds the places: stdin is empty, what goes to 2 is lost.  Output
     * to a closed stdout is not thrown away unsaid: 1 is opened for
     * reading only, so writing to it fails with EBADF, as it would
     * closed, and a run that writes results exits 74 (as `cat >&-`
     * fails; an output that is empty writes nothing and does not). */
    for (fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
            open("/dev/null", fd == 2 ? O_WRONLY : O_RDONLY) < 0)
            return CLI_EXIT_SOFTWARE;
    if (argc < 2) {
        cli_error("no command given");
        cli_try_help(NULL);
        return CLI_EXIT_USAGE;
    }
    rc = dispatch(argc, argv);
    /* Every command's output checked in one place: a listing that did
     * not reach a full disk is not a success (exit 74). */
    rc = cli_stdout_close(find(argv[1]) != NULL ? argv[1] : NULL, rc);
    if (rc == CLI_EXIT_SIGPIPE) {
        /* After the command cleaned up (its folders, its workers). */
        signal(SIGPIPE, SIG_DFL);
        raise(SIGPIPE);
        rc = 128 + SIGPIPE; /* SIGPIPE blocked by whoever ran us */
    }
    return rc;
}

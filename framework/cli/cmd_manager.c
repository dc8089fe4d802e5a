/* SPDX-License-Identifier: MIT */
/*
 * `mproc manager`: run a manager server standalone, for processes that
 * share its objects through mproc_manager_connect().  It prints the
 * address it listens at (the port the system chose, for tcp:HOST:0) on
 * stdout and serves until SIGTERM or SIGINT, or a client's shutdown;
 * then its socket file is gone.
 *
 * mproc_manager_start() with the "spawn" or "forkserver" method runs this
 * command too, with options of its own (--ready-fd, --lifeline-fd,
 * --rundir, --max-message) that --help does not list: such a server is
 * its owner's, so it stops when the owner ends (the lifeline) or on
 * SIGTERM, never on a SIGINT (Ctrl-C reaches the whole foreground group:
 * the owner decides, as with a forked server and Python's manager).
 */
#include "internal.h"

#include <dlfcn.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "manager/mgr_srv.h"

static const char manager_usage[] =
    "Usage: mproc manager --address ADDR --authkey-file FILE [options]\n"
    "Run a manager server: dicts, lists, queues, locks ... that any process\n"
    "knowing the authkey shares (mproc_manager_connect(3)).  Prints the\n"
    "address, then serves until SIGTERM, SIGINT or a client's shutdown.\n"
    "\n"
    "  -a, --address ADDR       unix:PATH, unix:@NAME or tcp:HOST:PORT\n"
    "  -k, --authkey-file FILE  the authkey: the file's bytes (one final\n"
    "                           newline dropped), 1 to 4096 of them\n"
    "  -t, --types FILE.so      custom object types: a shared object that\n"
    "                           exports " MPROC_MANAGER_TYPES_SYMBOL "\n"
    "  -c, --max-clients N      most clients at once (default 4096)\n"
    "      --any                tcp: may listen on a non-loopback address\n"
    "  -h, --help               show this help\n"
    "Exit status: 0 stopped (a signal or a client's shutdown), 64 usage\n"
    "error, 70 internal error, 78 the authkey, the types or the address\n"
    "cannot be used.\n";

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static long
num(const char *s, long lo, long hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return LONG_MIN;
    return v;
}

int
cmd_manager(int argc, char **argv)
{
    enum { OPT_READY = 256, OPT_LIFELINE, OPT_ANY, OPT_RUNDIR, OPT_MAXMSG };
    static const struct option longopts[] = {
        {"address", required_argument, NULL, 'a'},
        {"authkey-file", required_argument, NULL, 'k'},
        {"types", required_argument, NULL, 't'},
        {"max-clients", required_argument, NULL, 'c'},
        {"any", no_argument, NULL, OPT_ANY},
        {"ready-fd", required_argument, NULL, OPT_READY},
        {"lifeline-fd", required_argument, NULL, OPT_LIFELINE},
        {"rundir", required_argument, NULL, OPT_RUNDIR},
        {"max-message", required_argument, NULL, OPT_MAXMSG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *address = NULL, *keyfile = NULL, *types_so = NULL;
    const char *rundir = NULL;
    size_t max_message = MPROC_CONN_MESSAGE_MAX;
    const struct mproc_mtype *const *types = NULL;
    struct mproc_conn_opts co;
    mproc_listener_t *lis = NULL;
    mproc_err_t err = { 0, "" };
    unsigned char *key = NULL;
    size_t keylen = 0;
    long maxc = 4096, maxm, ready = -1, lifeline = -1;
    unsigned flags = 0;
    struct sigaction sa;
    sigset_t stopsigs, waitmask;
    void *dl = NULL;
    int c, r, rc = CLI_EXIT_OK;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "a:k:t:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': address = optarg; break;
        case 'k': keyfile = optarg; break;
        case 't': types_so = optarg; break;
        case OPT_ANY: flags |= MPROC_CONN_ANY; break;
        case OPT_RUNDIR: rundir = optarg; break;
        case OPT_MAXMSG:
            if ((maxm = num(optarg, 64, LONG_MAX)) == LONG_MIN) {
                cli_error("manager: --max-message: expected a size in "
                          "bytes (64 or more), got '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            max_message = (size_t)maxm;
            break;
        case 'c':
            if ((maxc = num(optarg, 1, 1000000)) == LONG_MIN) {
                cli_error("manager: --max-clients: expected 1 to 1000000, "
                          "got '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_READY:
        case OPT_LIFELINE:
            r = (int)num(optarg, 3, INT_MAX);
            if (r < 0) {
                cli_error("manager: expected a descriptor, got '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            *(c == OPT_READY ? &ready : &lifeline) = r;
            break;
        case 'h':
            fputs(manager_usage, stdout);
            return CLI_EXIT_OK;
        default:
            cli_error("manager: unknown option '%s'", argv[optind - 1]);
            cli_try_help("manager");
            return CLI_EXIT_USAGE;
        }
    }
    if (address == NULL || keyfile == NULL || optind < argc) {
        cli_error("manager: %s", optind < argc ? "unexpected argument"
                  : address == NULL ? "--address is required"
                                    : "--authkey-file is required");
        cli_try_help("manager");
        return CLI_EXIT_USAGE;
    }
    if (mproc__mgr_read_key(keyfile, &key, &keylen, &err) < 0) {
        cli_error("manager: %s", err.msg);
        return CLI_EXIT_CONFIG;
    }
    if (types_so != NULL) {
        dl = dlopen(types_so, RTLD_NOW | RTLD_LOCAL);
        types = dl ? dlsym(dl, MPROC_MANAGER_TYPES_SYMBOL) : NULL;
        if (types == NULL) {
            cli_error("manager: %s: %s", types_so,
                      dl ? "no " MPROC_MANAGER_TYPES_SYMBOL " symbol"
                         : dlerror());
            rc = CLI_EXIT_CONFIG;
            goto out;
        }
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    /* A server with an owner (a lifeline) leaves SIGINT to the owner, as
     * a forked one does (start.c); a standalone one stops on Ctrl-C. */
    if (lifeline >= 0)
        signal(SIGINT, SIG_IGN);
    else
        sigaction(SIGINT, &sa, NULL);
    /* Blocked but while the server waits (see mproc__mgr_serve). */
    sigemptyset(&stopsigs);
    sigaddset(&stopsigs, SIGTERM);
    if (lifeline < 0)
        sigaddset(&stopsigs, SIGINT);
    sigprocmask(SIG_BLOCK, &stopsigs, &waitmask);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    mproc_conn_opts_init(&co);
    co.flags = flags;
    co.stall_timeout_ms = 2000;
    co.message_max = max_message;
    r = mproc_listener_open(&lis, address, key, keylen, &co, &err);
    if (r == MPROC_EINVAL && ready < 0 && !(flags & MPROC_CONN_ANY) &&
        strstr(err.msg, "is not a loopback address") != NULL) {
        /* The library's message names its option flag; a command-line
         * user needs this command's option instead. */
        cli_error("manager: --address %s: not a loopback address; add "
                  "--any to listen there (the authkey authenticates, it "
                  "does not encrypt: keep it to a trusted network)",
                  address);
        rc = CLI_EXIT_CONFIG; /* as any address that cannot be served */
        goto out;
    }
    if (ready >= 0) {
        /* mproc_manager_start(spawn) reads a status, then the address. */
        const char *a = r < 0 ? err.msg : mproc_listener_address(lis);
        (void)!write((int)ready, &r, sizeof(r));
        (void)!write((int)ready, a, strlen(a));
        close((int)ready);
    }
    if (r < 0) {
        cli_error("manager: %s", err.msg);
        rc = CLI_EXIT_CONFIG;
        goto out;
    }
    if (ready < 0) {
        printf("%s\n", mproc_listener_address(lis));
        fflush(stdout);
    }
    r = mproc__mgr_serve(lis, types, (unsigned)maxc, max_message,
                         (int)lifeline, &stop, &waitmask);
    if (r < 0) {
        cli_error("manager: %s", mproc_strerror(r));
        rc = CLI_EXIT_SOFTWARE;
    }
out:
    mproc_listener_free(lis);
    /* The private folder of an automatic address (spawn): the owner may
     * have ended without a word, so the server, last to use it, removes
     * it once the socket file is gone (rmdir leaves a non-empty one). */
    if (rundir != NULL)
        rmdir(rundir);
    free(key);
    if (dl != NULL)
        dlclose(dl);
    return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * What the commands of `mproc` share: messages, exit statuses, parsing the
 * command line of a job, loading a job and creating its pool.  main.c only
 * dispatches; the cmd_*.c files include cli.h, never main.c's code.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/cli.h"
#include "plugin/plugin_int.h"

/* A job's stderr, written by mproc, ended without a newline: the next
 * message of mproc's starts a line of its own (it was glued on). */
static _Atomic bool stderr_mid;

void
cli_stderr_wrote(const char *data, size_t n)
{
    if (n > 0)
        atomic_store(&stderr_mid, data[n - 1] != '\n');
}

void
cli_error(const char *fmt, ...)
{
    va_list ap;
    char small[512], *line = small;
    int n;

    /* One write for the whole line: workers (and the commands they run)
     * write to the same stderr meanwhile, and a line written in pieces
     * could have theirs land inside it. */
    fflush(stdout);
    va_start(ap, fmt);
    n = vsnprintf(small + 7, sizeof(small) - 8, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(small) - 9) {
        line = malloc((size_t)n + 9);
        if (line == NULL) { /* the message all the same, in pieces */
            fputs("mproc: ", stderr);
            va_start(ap, fmt);
            vfprintf(stderr, fmt, ap);
            va_end(ap);
            fputc('\n', stderr);
            return;
        }
        va_start(ap, fmt);
        vsnprintf(line + 7, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    memcpy(line, "mproc: ", 7);
    line[7 + n] = '\n';
    if (atomic_exchange(&stderr_mid, false))
        fputc('\n', stderr);
    fwrite(line, 1, (size_t)n + 8, stderr);
    if (line != small)
        free(line);
}

/* The first error writing stdout (0: none yet): later calls, cli_error()'s
 * own flush among them, may have left another errno behind. */
static int stdout_errno;

int
cli_stdout_flush(void)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    /* ferror() with a flush that wrote nothing: the failed write was an
     * earlier one, whose errno is gone unless kept then. */
    if (stdout_errno == 0)
        stdout_errno = errno != 0 ? errno : EIO;
    return -1;
}

int
cli_stdout_close(const char *cmd, int rc)
{
    if (rc == CLI_EXIT_SIGPIPE || cli_stdout_flush() == 0)
        return rc;
    if (stdout_errno == EPIPE)
        return CLI_EXIT_SIGPIPE;
    if (rc == CLI_EXIT_IOERR)
        return rc; /* said by the command (mproc run's output) */
    cli_error("%s%swriting the output: %s", cmd ? cmd : "", cmd ? ": " : "",
              strerror(stdout_errno));
    return rc < CLI_EXIT_USAGE ? CLI_EXIT_IOERR : rc;
}

bool
cli_self_exe(const char *cmd, char *buf, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);

    if (n <= 0 || (size_t)n >= cap - 1) {
        cli_error("%s: cannot find this program's path in /proc/self/exe: "
                  "%s",
                  cmd, n < 0 ? strerror(errno) : "too long");
        return false;
    }
    buf[n] = '\0';
    return true;
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cli_error("%s: %s", cmd, msg);
    cli_try_help(cmd);
    return CLI_EXIT_USAGE;
}

void
cli_catch_signals(void (*fn)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void
cli_try_help(const char *cmd)
{
    fprintf(stderr, "Try 'mproc %s%s--help' for more information.\n",
            cmd != NULL ? cmd : "", cmd != NULL ? " " : "");
}

int
cli_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
cli_exit_for(int code)
{
    switch (code) {
    case 0:
        return CLI_EXIT_OK;
    case MPROC_EINPUT:
        return CLI_EXIT_NOINPUT;
    case MPROC_ECONFIG:
    case MPROC_EPLUGIN:
    case MPROC_EABI:
    case MPROC_EUNAVAIL:
    case MPROC_EINIT:
        return CLI_EXIT_CONFIG;
    case MPROC_ECANCELED:
        return CLI_EXIT_INTERRUPTED;
    default:
        return CLI_EXIT_SOFTWARE;
    }
}

/*
 * The shorthand options (--workers N, --shard K/N, --shard-mode M,
 * --joblog-sync S) become --set assignments; an error in one names the
 * option as the user typed it, not the assignment it became.  A few per
 * command line, in the order given.
 */
#define SHORTHANDS 16
static struct {
    const char *set; /* the assignment (owned by the cli_args) */
    char label[96];  /* "--workers 0" */
} shorthands[SHORTHANDS];
static size_t nshorthands;

/* OPT ARG as the assignment KEY=ARG: 0, or -1 without memory. */
static int
add_shorthand(struct cli_args *a, const char *key, const char *opt,
              const char *arg)
{
    char *set;

    if (asprintf(&set, "%s=%s", key, arg) < 0)
        return -1;
    if (nshorthands < SHORTHANDS) { /* else the error names the --set */
        shorthands[nshorthands].set = set;
        snprintf(shorthands[nshorthands].label,
                 sizeof(shorthands[nshorthands].label), "%s %s", opt, arg);
        nshorthands++;
    }
    a->owned[a->nowned++] = set;
    a->sets[a->nsets++] = set;
    return 0;
}

/* An error of `set`, as the user will read it. */
static void
set_error(const char *set, const char *msg)
{
    size_t i, n = strlen(set);

    for (i = 0; i < nshorthands; i++)
        if (shorthands[i].set == set && strncmp(msg, "--set ", 6) == 0 &&
            strncmp(msg + 6, set, n) == 0) {
            cli_error("%s%s", shorthands[i].label, msg + 6 + n);
            return;
        }
    cli_error("%s", msg);
}

int
cli_args_parse(struct cli_args *a, int argc, char **argv, const char *usage,
               bool workers_option)
{
    static const struct option longopts[] = {
        {"set", required_argument, NULL, 's'},
        {"workers", required_argument, NULL, 'w'},
        {"quiet", no_argument, NULL, 'q'},
        {"progress", no_argument, NULL, 'P'},
        {"joblog", required_argument, NULL, 'j'},
        {"resume", no_argument, NULL, 'r'},
        {"stats", required_argument, NULL, 'S'},
        /* each the same as --set job.KEY=VALUE (mproc(1), "Running on
         * a cluster") */
        {"shard", required_argument, NULL, 'K'},
        {"shard-mode", required_argument, NULL, 'M'},
        {"joblog-sync", required_argument, NULL, 'Y'},
        {"quarantine", required_argument, NULL, 'Q'}, /* debug.c */
        {"slowlog", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    size_t i;
    int c;

    memset(a, 0, sizeof(*a));
    a->sets = calloc((size_t)argc + 1, sizeof(*a->sets));
    a->owned = calloc((size_t)argc + 1, sizeof(*a->owned));
    if (a->sets == NULL || a->owned == NULL) {
        cli_args_free(a);
        cli_error("out of memory");
        return CLI_EXIT_SOFTWARE;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, workers_option ? "s:w:qh" : "s:h",
                            longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
        case 'r':
        case 'S':
            if (!workers_option)
                goto run_only;
            if (c == 'j')
                a->joblog = optarg;
            else if (c == 'r')
                a->resume = true;
            else if (strcmp(optarg, "text") == 0 ||
                     strcmp(optarg, "json") == 0)
                a->stats = optarg;
            else {
                cli_error("%s: --stats: expected text or json, got '%s'",
                          argv[0], optarg);
                cli_try_help(argv[0]);
                cli_args_free(a);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'q':
            if (!workers_option)
                goto run_only;
            a->quiet = true;
            break;
        case 'Q':
        case 'L':
            if (!workers_option)
                goto run_only;
            *(c == 'Q' ? &a->quarantine : &a->slowlog) = optarg;
            break;
        case 'P':
            if (!workers_option)
                goto run_only;
            a->progress = true;
            break;
        case 's':
            a->sets[a->nsets++] = optarg;
            break;
        case 'K':
        case 'M':
        case 'Y':
        case 'w':
            if ((c == 'Y' || c == 'w') && !workers_option)
                goto run_only;
            if (add_shorthand(a,
                              c == 'K'   ? "job.shard"
                              : c == 'M' ? "job.shard_mode"
                              : c == 'Y' ? "job.joblog_sync"
                                         : "pool.workers",
                              c == 'K'   ? "--shard"
                              : c == 'M' ? "--shard-mode"
                              : c == 'Y' ? "--joblog-sync"
                                         : "--workers",
                              optarg) < 0) {
                cli_args_free(a);
                cli_error("out of memory");
                return CLI_EXIT_SOFTWARE;
            }
            break;
        case 'h':
            fputs(usage, stdout);
            cli_args_free(a);
            return CLI_EXIT_OK;
        default:
            goto bad;
        }
    }
    if (argc - optind != 1) {
        cli_error(argc - optind == 0 ? "%s: no job file given"
                                     : "%s: give exactly one job file",
                  argv[0]);
        cli_try_help(argv[0]);
        cli_args_free(a);
        return CLI_EXIT_USAGE;
    }
    if (a->resume && a->joblog == NULL) {
        cli_error("%s: --resume needs --joblog FILE (the log of the run to "
                  "continue)", argv[0]);
        cli_try_help(argv[0]);
        cli_args_free(a);
        return CLI_EXIT_USAGE;
    }
    a->path = argv[optind];
    return -1;

run_only:
    /* An option of `run` given to `check`: named as in the table (the
     * word at optind - 1 may be its value). */
    for (i = 0; longopts[i].name != NULL && longopts[i].val != c; i++)
        ;
    cli_error("%s: --%s is an option of mproc run, not of %s", argv[0],
              longopts[i].name != NULL ? longopts[i].name : "?", argv[0]);
    cli_try_help(argv[0]);
    cli_args_free(a);
    return CLI_EXIT_USAGE;
bad:
    if (optopt == 'j' || optopt == 'S' || optopt == 'K' || optopt == 'M' ||
        optopt == 'Y' || optopt == 'Q' || optopt == 'L')
        cli_error("%s: option --%s needs a value", argv[0],
                  optopt == 'j'   ? "joblog"
                  : optopt == 'S' ? "stats"
                  : optopt == 'K' ? "shard"
                  : optopt == 'M' ? "shard-mode"
                  : optopt == 'Y' ? "joblog-sync"
                  : optopt == 'Q' ? "quarantine"
                                  : "slowlog");
    else if (optopt != 0 && (optopt == 's' || optopt == 'w'))
        cli_error("%s: option -%c needs a value", argv[0], optopt);
    else
        cli_error("%s: unknown option '%s'", argv[0], argv[optind - 1]);
    cli_try_help(argv[0]);
    cli_args_free(a);
    return CLI_EXIT_USAGE;
}

void
cli_args_free(struct cli_args *a)
{
    size_t i;

    for (i = 0; a->owned != NULL && i < a->nowned; i++)
        free(a->owned[i]);
    nshorthands = 0;
    free(a->owned);
    free(a->sets);
    memset(a, 0, sizeof(*a));
}

/* The job file's hash; 0 when unreadable. */
static uint64_t
file_hash(const char *path)
{
    char buf[65536];
    uint64_t h = CLI_HASH_INIT;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0)
        return 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        h = cli_hash(h, buf, (size_t)n);
    close(fd);
    return n < 0 ? 0 : h;
}

/*
 * Does the assignment `set` decide what the items' output is, or where
 * it goes?  Those of [pool] and [manager], and the [job] keys that say
 * how a run goes (--shard, --workers, time limits, retries, ...), do
 * not: the shards of one job may differ in them, and a shard may be
 * resumed with others.  The rest ([job] plugin, task, input, output,
 * output_mode, ordered, message_max; [args]; declared objects) do.
 */
static bool
set_is_identity(const char *set)
{
    static const char *const job_keys[] = {
        "plugin", "task", "input", "output", "output_mode", "ordered",
        "message_max",
    };
    const char *dot = strchr(set, '.'), *eq = strchr(set, '=');
    size_t i, n;

    if (dot == NULL || eq == NULL || eq < dot)
        return true; /* not an assignment: refused by the config anyway */
    if ((dot - set == 4 && strncmp(set, "pool", 4) == 0) ||
        (dot - set == 7 && strncmp(set, "manager", 7) == 0))
        return false;
    if (dot - set != 3 || strncmp(set, "job", 3) != 0)
        return true;
    n = (size_t)(eq - dot - 1);
    for (i = 0; i < MPROC__ARRAY_SIZE(job_keys); i++)
        if (strlen(job_keys[i]) == n && strncmp(dot + 1, job_keys[i], n) == 0)
            return true;
    return false;
}

/*
 * The hash of every --set of set_is_identity(), in order; 0 when there
 * is none (the job log then says nothing of them, as before they
 * counted).
 */
static uint64_t
sets_identity(char **sets, size_t nsets)
{
    uint64_t h = CLI_HASH_INIT;
    bool any = false;
    size_t i;

    for (i = 0; i < nsets; i++) {
        if (!set_is_identity(sets[i]))
            continue;
        h = cli_hash(h, "\n--set ", 7);
        h = cli_hash(h, sets[i], strlen(sets[i]));
        any = true;
    }
    return any && h != 0 ? h : any;
}

/* A job file (text NULL) or its text. */
static int
job_load(struct cli_job *cj, const char *path, const char *text, char **sets,
         size_t nsets)
{
    mproc_err_t err;
    size_t i;
    int r;

    memset(cj, 0, sizeof(*cj));
    cj->path = path;
    r = mproc_config_new(&cj->cfg, &err);
    if (r == 0 && text != NULL)
        r = mproc__config_load_mem(cj->cfg, path, text, strlen(text), &err);
    else if (r == 0)
        r = mproc_config_load(cj->cfg, path, &err);
    for (i = 0; r == 0 && i < nsets; i++)
        if ((r = mproc_config_set(cj->cfg, sets[i], &err)) < 0) {
            set_error(sets[i], err.msg);
            cli_job_free(cj);
            return cli_exit_for(r);
        }
    if (r == 0)
        r = mproc_config_finish(cj->cfg, &err);
    if (r < 0) {
        cli_error("%s", err.msg);
        cli_job_free(cj);
        return cli_exit_for(r);
    }
    cj->job = mproc__config_job(cj->cfg);
    cj->hash = text != NULL ? 0 : file_hash(path);
    cj->set_hash = sets_identity(sets, nsets);
    return 0;
}

int
cli_job_load(struct cli_job *cj, const char *path, char **sets, size_t nsets)
{
    return job_load(cj, path, NULL, sets, nsets);
}

int
cli_job_load_mem(struct cli_job *cj, const char *path, const char *text,
                 char **sets, size_t nsets)
{
    return job_load(cj, path, text, sets, nsets);
}

void
cli_job_free(struct cli_job *cj)
{
    mproc_config_free(cj->cfg);
    cj->cfg = NULL;
    cj->job = NULL;
}

/* The pool goes on in a degraded way (a worker cannot be replaced). */
static void
pool_warning(void *user, const char *msg)
{
    (void)user;
    fprintf(stderr, "mproc: warning: %s\n", msg);
}

const char *
cli_esc(const char *s)
{
    static char ring[4][2048];
    static unsigned k;

    if (s == NULL)
        return NULL;
    return mproc__esc_ctl(ring[k++ % 4], sizeof(ring[0]), s, false);
}

const char *
cli_plugin_where(const struct cli_job *cj)
{
    const char *where = mproc_config_where(cj->cfg, "job", "plugin");

    return where != NULL && strcmp(where, "default") != 0 ? where : cj->path;
}

int
cli_pool_new(const struct cli_job *cj, mproc_sync_t *sync, mproc_pool_t **out,
             int cancel_fd, int input_fd, void (*on_idle)(void *))
{
    const struct mproc__job *job = cj->job;
    struct mproc_pool_opts o;
    mproc_err_t err;
    int r;

    if (strchr(job->plugin, '/') != NULL &&
        (r = cli_check_plugin_file(job->plugin, cli_plugin_where(cj))) != 0)
        return r;
    if ((r = cli_check_args(cj)) != 0)
        return r;
    mproc_pool_opts_init(&o);
    o.workers = job->workers;
    o.plugin = job->plugin;
    o.task = job->task;
    o.nargs = mproc_config_args(cj->cfg, &o.args);
    o.chunksize = job->chunksize;
    o.max_tasks_per_child = job->max_tasks_per_child;
    o.message_max = job->message_max;
    o.ordered = job->ordered;
    o.stop_on_error = job->on_error == MPROC__ON_ERROR_ABORT;
    o.start_method = job->start_method;
    o.ipc = job->ipc;
    o.cancel_fd = cancel_fd;
    o.input_fd = input_fd;
    o.on_idle = on_idle;
    o.on_warning = pool_warning;
    o.sync = sync;
    o.timeout_ms = job->timeout_ms;
    o.timeout_grace_ms = job->timeout_grace_ms;
    o.retries = job->retries;
    o.max_memory_per_child = job->max_memory_per_child;
    o.rlimit_cpu = job->rlimit_cpu;
    o.rlimit_as = job->rlimit_as;
    o.rlimit_nofile = job->rlimit_nofile;
    o.nice = job->nice;
    cli_debug_pool_opts(&o, job);
    o.status = job->status ? cj->path : NULL; /* mproc status (issue 19) */
    {
        /* Loads the plugin: its constructors run here. */
        int keep = cli_stdout_guard();

        r = mproc_pool_new(out, &o, &err);
        cli_stdout_unguard(keep);
    }
    if (r < 0) {
        /* Say which line chose what is refused. */
        const char *section = "job", *key = "plugin", *where;

        if (r == MPROC_EUNAVAIL || r == MPROC_EINVAL) {
            section = "pool";
            key = strstr(err.msg, "start method") != NULL ? "start_method"
                                                           : "ipc";
        } else if (r == MPROC_EMFILE &&
                   strstr(err.msg, "file descriptors") != NULL) {
            section = "pool"; /* the workers asked for */
            key = "workers";
        } else if (r == MPROC_EPLUGIN && job->task != NULL &&
                   strstr(err.msg, "no task") != NULL) {
            key = "task";
        }
        where = mproc_config_where(cj->cfg, section, key);
        if (where != NULL && strcmp(where, "default") != 0)
            cli_error("%s: %s", where, err.msg);
        else
            cli_error("%s: %s", cj->path, err.msg);
        return r == MPROC_EINVAL ? CLI_EXIT_CONFIG : cli_exit_for(r);
    }
    return 0;
}

int
cli_tty_width(int fd)
{
    struct winsize ws;

    return ioctl(fd, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
}

int
cli_stdout_guard(void)
{
    int keep;

    fflush(stdout);
    keep = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (keep >= 0 && dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
        close(keep);
        keep = -1;
    }
    return keep;
}

void
cli_stdout_unguard(int keep)
{
    if (keep < 0)
        return;
    fflush(stdout); /* the plugin's own lines, to stderr */
    dup2(keep, STDOUT_FILENO);
    close(keep);
}

int
cli_plugin_open(struct mproc__plugin **p, const char *spec,
                mproc_err_t *err)
{
    int keep = cli_stdout_guard(), r = mproc__plugin_open(p, spec, err);

    cli_stdout_unguard(keep);
    return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * `mproc rerun LOG INDEX [TOOL]`: run one item of an earlier run again,
 * in the foreground, in a single worker process, under a debugger or
 * tracer, so that a crash seen once in a long run can be looked at in
 * one command (issue 19).
 *
 * LOG is a quarantine file (mproc run --quarantine; each record holds
 * the job file, the run's --set overrides and the item), a job file
 * (JOB.ini: the item is read from its input), or a job log (--joblog)
 * with --job JOB.ini naming the job.  The item is handed to
 * `mproc run JOB [the run's --sets] --workers 1 --set job.retries=0
 * --set job.input=lines:TMP --set job.output=stdout`, so the plugin, its
 * [args], the limits and the start method are the job's, run under the
 * tool.  With the fork and forkserver start methods the worker is a fork
 * of mproc (of its fork server): gdb is told to follow forks into the
 * child; valgrind and strace are told to trace children.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "pool/pool_int.h"

static const char rerun_usage[] =
    "Usage: mproc rerun LOG INDEX [--job JOB.ini]\n"
    "                  [--gdb | --valgrind | --strace [TOOL-ARGS]...]\n"
    "       mproc rerun LOG INDEX [--job JOB.ini] -- CMD [ARGS]...\n"
    "Run item INDEX of an earlier run again, alone, in the foreground, in\n"
    "one worker process, with the job's plugin, args, limits and start\n"
    "method, optionally under a tool.\n"
    "\n"
    "LOG is a quarantine file (mproc run --quarantine), a job file\n"
    "(JOB.ini: the item is read from its input), or a job log (--joblog)\n"
    "given with --job JOB.ini.\n"
    "\n"
    "      --job JOB.ini  the job of a job log\n"
    "      --gdb          under gdb (following the worker); what follows is\n"
    "                     gdb's, e.g. --gdb -batch -ex run -ex bt\n"
    "      --valgrind     under valgrind --trace-children=yes; what\n"
    "                     follows is valgrind's\n"
    "      --strace       under strace -f; what follows is strace's\n"
    "      -- CMD ARGS    under CMD ARGS (e.g. -- perf record -g)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: the tool's (or mproc run's); 64 usage error, 66 LOG, the\n"
    "job or item INDEX is missing, 127 the tool cannot be run.\n";

/* What is found of the item. */
struct rerun {
    char *job;    /* the job file */
    char **sets;  /* "section.key=value" of the run */
    size_t nsets;
    char *item;
    size_t item_len;
    bool found;
    bool toolarge; /* logged as more than message_max: start only */
};

static void
rerun_free(struct rerun *r)
{
    size_t k;

    for (k = 0; k < r->nsets; k++)
        free(r->sets[k]);
    free(r->sets);
    free(r->job);
    free(r->item);
}

/* Split a line into tab-separated fields, in place. */
static size_t
split(char *line, char **field, size_t max)
{
    size_t n = 0;

    for (;;) {
        char *tab = strchr(line, '\t');
        if (n < max)
            field[n] = line;
        n++;
        if (tab == NULL)
            break;
        *tab = '\0';
        line = tab + 1;
    }
    return n;
}

/* A field, unescaped, as a new string; NULL if malformed (or no memory). */
static char *
field_dup(const char *f, size_t *len)
{
    char *s = strdup(f);
    ssize_t n;

    if (s == NULL)
        return NULL;
    n = cli_debug_unescape(s, strlen(s));
    if (n < 0) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    if (len != NULL)
        *len = (size_t)n;
    return s;
}

/* A quarantine record (see debug.c): 1 found, 0 another item, -1 bad. */
static int
quarantine_record(char *line, uint64_t index, struct rerun *r)
{
    char *f[1024];
    size_t n = split(line, f, 1024), nsets, k;
    char *end;

    if (n < 7 || strcmp(f[0], "Q1") != 0)
        return -1;
    if (strtoull(f[1], &end, 10) != index || *end != '\0')
        return 0;
    nsets = strtoul(f[4], &end, 10);
    if (*end != '\0' || n != 7 + nsets || nsets > 1000)
        return -1;
    r->job = field_dup(f[3], NULL);
    r->sets = calloc(nsets + 1, sizeof(*r->sets));
    if (r->job == NULL || r->sets == NULL)
        return -1;
    for (k = 0; k < nsets; k++) {
        if ((r->sets[k] = field_dup(f[5 + k], NULL)) == NULL)
            return -1;
        r->nsets++;
    }
    r->item = field_dup(f[5 + nsets], &r->item_len);
    return r->item != NULL ? 1 : -1;
}

/* A job log line: index worker start duration status exit attempts item
 * message, then (format 2, see joblog.c) output offset and length.  1
 * found, 0 another item (or the header), -1 bad. */
static int
joblog_record(char *line, uint64_t index, struct rerun *r)
{
    char *f[16], *end;
    size_t n;

    if (strncmp(line, "index\t", 6) == 0)
        return 0; /* the header */
    n = split(line, f, 16);
    if (n != 9 && n != 11)
        return -1;
    if (strtoull(f[0], &end, 10) != index || *end != '\0' || f[0][0] == '\0')
        return 0;
    r->item = field_dup(f[7], &r->item_len);
    /* Too large to run: the log keeps only the start of such an item. */
    r->toolarge = strcmp(f[4], "toolarge") == 0;
    return r->item != NULL ? 1 : -1;
}

/*
 * Find item `index` in LOG (a quarantine file or a job log).  0 found or
 * not (r->found), -2: LOG is neither (then it may be a job file), or an
 * exit status after printing why.
 */
static int
read_log(const char *path, uint64_t index, bool joblog, struct rerun *r)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int fd, rc, kind = 0; /* 1 quarantine, 2 job log */
    FILE *f;

    rc = cli_open_read(path, "log", false, &fd);
    if (rc != 0)
        return rc;
    f = fdopen(fd, "r");
    if (f == NULL) {
        close(fd);
        cli_error("%s: %s", path, strerror(errno));
        return CLI_EXIT_SOFTWARE;
    }
    rc = 0;
    while (!r->found && (len = getline(&line, &cap, f)) > 0) {
        int got;

        lineno++;
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (kind == 0)
            kind = strncmp(line, "Q1\t", 3) == 0 ? 1
                   : strncmp(line, "index\t", 6) == 0 ? 2
                   : joblog ? 2 : 0;
        if (kind == 0) {
            rc = -2; /* not a log: a job file? */
            break;
        }
        got = kind == 1 ? quarantine_record(line, index, r)
                        : joblog_record(line, index, r);
        if (got < 0) {
            cli_error("%s:%zu: not a %s line", path, lineno,
                      kind == 1 ? "quarantine" : "job log");
            rc = CLI_EXIT_CONFIG;
            break;
        }
        r->found = got == 1;
    }
    if (rc == 0 && kind == 2 && !joblog) {
        cli_error("%s is a job log: give the job with --job JOB.ini", path);
        rc = CLI_EXIT_USAGE;
    }
    free(line);
    fclose(f);
    return rc;
}

/* Item `index` of the job's input. */
static int
read_job_input(const char *path, uint64_t index, struct rerun *r)
{
    struct cli_job cj = {0};
    struct cli_input *in = NULL;
    struct mproc_item it;
    uint64_t k;
    int rc, got = 0;

    rc = cli_job_load(&cj, path, NULL, 0);
    if (rc == 0)
        rc = cli_input_open(&in, cj.job, false);
    for (k = 0; rc == 0 && k <= index; k++) {
        got = cli_input_next(in, &it);
        if (got == MPROC_EAGAIN) {
            /* A FIFO's writer is slow, or a long line is being skipped. */
            struct pollfd p = {cli_input_fd(in), POLLIN, 0};
            poll(&p, 1, -1);
            k--;
            continue;
        }
        if (got <= 0)
            break;
    }
    if (rc == 0 && got == MPROC__ITEM_CUT && k == index + 1) {
        cli_error("%s: item %llu is %zu bytes, more than message_max (%zu): "
                  "it cannot run", path, (unsigned long long)index, it.len,
                  cj.job->message_max);
        rc = CLI_EXIT_FAILED;
    }
    if (rc == 0 && got == 1 && k == index + 1) {
        r->item = malloc(it.len + 1);
        if (r->item != NULL) {
            memcpy(r->item, it.data, it.len);
            r->item_len = it.len;
            r->found = true;
        }
    }
    if (rc == 0 && cli_input_failed(in))
        rc = CLI_EXIT_NOINPUT;
    cli_input_close(in);
    cli_job_free(&cj);
    return rc;
}

/* Write the item as the one line of a new temporary file. */
static int
item_file(const struct rerun *r, char *path, size_t cap)
{
    const char *dir = getenv("TMPDIR");
    int fd;

    snprintf(path, cap, "%s/mproc-rerun.XXXXXX",
             dir != NULL && dir[0] != '\0' ? dir : "/tmp");
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        cli_error("%s: %s", path, strerror(errno));
        return CLI_EXIT_CANTCREAT;
    }
    if (write(fd, r->item, r->item_len) != (ssize_t)r->item_len ||
        write(fd, "\n", 1) != 1) {
        cli_error("%s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return CLI_EXIT_IOERR;
    }
    close(fd);
    return 0;
}

/* Run argv in the foreground; its exit status (128 + N: killed by N). */
static int
run_fg(char **argv)
{
    struct sigaction ign, oint, oquit;
    int st = 0;
    pid_t pid;

    /* As system() does: ^C is the tool's (gdb stops the program). */
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGINT, &ign, &oint);
    sigaction(SIGQUIT, &ign, &oquit);
    pid = fork();
    if (pid == 0) {
        sigaction(SIGINT, &oint, NULL);
        sigaction(SIGQUIT, &oquit, NULL);
        execvp(argv[0], argv);
        fprintf(stderr, "mproc: rerun: cannot run %s: %s%s\n", argv[0],
                strerror(errno),
                errno == ENOENT ? " (is it installed? e.g. apt-get install "
                                  "gdb valgrind strace)"
                                : "");
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
    sigaction(SIGINT, &oint, NULL);
    sigaction(SIGQUIT, &oquit, NULL);
    if (pid < 0) {
        cli_error("rerun: fork: %s", strerror(errno));
        return CLI_EXIT_SOFTWARE;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int
cmd_rerun(int argc, char **argv)
{
    static const char *const tools[][4] = {
        /* option, program, its arguments before ours */
        {"--gdb", "gdb", "-q", "-ex=set follow-fork-mode child"},
        {"--valgrind", "valgrind", "--trace-children=yes", NULL},
        {"--strace", "strace", "-f", NULL},
    };
    struct rerun r = {0};
    const char *log, *job = NULL, *tool = NULL;
    char self[PATH_MAX], tmp[PATH_MAX], input[PATH_MAX + 16], *end;
    const char *op[2] = {NULL, NULL};
    char **av = NULL;
    int a, t = -1, first_tool_arg = argc, first_cmd = argc, rc, nop = 0;
    size_t n = 0, k;
    uint64_t index;

    tmp[0] = '\0';
    /* Options and the two operands; they end at the tool or "--": what
     * follows is the tool's. */
    for (a = 1; a < argc; a++) {
        size_t i;
        if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0) {
            fputs(rerun_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[a], "--") == 0) {
            first_cmd = a + 1;
            if (first_cmd >= argc)
                return cli_usage_error("rerun", "%s", "-- needs a command");
            break;
        }
        if (strcmp(argv[a], "--job") == 0) {
            if (++a >= argc)
                return cli_usage_error("rerun", "%s",
                                       "option --job needs a value");
            job = argv[a];
            continue;
        }
        for (i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
            if (strcmp(argv[a], tools[i][0]) == 0)
                t = (int)i;
        if (t >= 0) {
            first_tool_arg = a + 1;
            break;
        }
        if (argv[a][0] == '-' && argv[a][1] != '\0')
        {
            snprintf(tmp, sizeof(tmp), "unknown option '%s' (the tools are "
                     "--gdb, --valgrind, --strace, or -- CMD)", argv[a]);
            return cli_usage_error("rerun", "%s", tmp);
        }
        if (nop < 2)
            op[nop] = argv[a];
        nop++;
    }
    if (nop != 2)
        return cli_usage_error("rerun", "%s", "expected LOG and INDEX");
    log = op[0];
    errno = 0;
    index = strtoull(op[1], &end, 10);
    if (op[1][0] < '0' || op[1][0] > '9' || *end != '\0' || errno != 0) {
        snprintf(tmp, sizeof(tmp), "INDEX: expected an item's index (a "
                 "number from 0), got '%s'", op[1]);
        return cli_usage_error("rerun", "%s", tmp);
    }
    tmp[0] = '\0';

    rc = read_log(log, index, job != NULL, &r);
    if (rc == -2) {
        /* Not a log: a job file, whose input holds the item. */
        if (job != NULL) {
            cli_error("%s: not a quarantine file or job log", log);
            rc = CLI_EXIT_CONFIG;
            goto done;
        }
        r.job = strdup(log);
        rc = r.job != NULL ? read_job_input(log, index, &r)
                           : CLI_EXIT_SOFTWARE;
    } else if (rc == 0 && job != NULL && r.job == NULL) {
        r.job = strdup(job);
    } else if (rc == 0 && job != NULL) {
        free(r.job); /* --job overrides the record's */
        r.job = strdup(job);
    }
    if (rc != 0)
        goto done;
    if (!r.found) {
        cli_error("%s: no item %llu there", log, (unsigned long long)index);
        rc = CLI_EXIT_NOINPUT;
        goto done;
    }
    if (r.toolarge) {
        cli_error("%s: item %llu failed as larger than message_max: it "
                  "cannot run (the log keeps only its start)", log,
                  (unsigned long long)index);
        rc = CLI_EXIT_FAILED;
        goto done;
    }
    if (r.job == NULL) {
        rc = CLI_EXIT_SOFTWARE;
        goto done;
    }
    if (access(r.job, R_OK) != 0) {
        cli_error("%s: the job file of item %llu: %s", r.job,
                  (unsigned long long)index, strerror(errno));
        rc = CLI_EXIT_NOINPUT;
        goto done;
    }
    if (memchr(r.item, '\n', r.item_len) != NULL) {
        cli_error("item %llu holds a newline: rerun hands the item over as "
                  "one line", (unsigned long long)index);
        rc = CLI_EXIT_CONFIG;
        goto done;
    }
    if (!cli_self_exe("rerun", self, sizeof(self))) {
        rc = CLI_EXIT_SOFTWARE;
        goto done;
    }
    if ((rc = item_file(&r, tmp, sizeof(tmp))) != 0) {
        tmp[0] = '\0';
        goto done;
    }
    snprintf(input, sizeof(input), "job.input=lines:%s", tmp);

    av = calloc((size_t)argc + 2 * r.nsets + 32, sizeof(*av));
    if (av == NULL) {
        rc = CLI_EXIT_SOFTWARE;
        goto done;
    }
    n = 0;
    if (t >= 0) {
        tool = tools[t][1];
        for (k = 1; k < 4 && tools[t][k] != NULL; k++)
            av[n++] = (char *)tools[t][k];
        for (a = first_tool_arg; a < argc; a++)
            av[n++] = argv[a];
        if (strcmp(tool, "gdb") == 0)
            av[n++] = (char *)"--args";
    } else if (first_cmd < argc) {
        for (a = first_cmd; a < argc; a++)
            av[n++] = argv[a];
    }
    av[n++] = self;
    av[n++] = (char *)"run";
    av[n++] = r.job;
    for (k = 0; k < r.nsets; k++) {
        av[n++] = (char *)"--set";
        av[n++] = r.sets[k];
    }
    /* After the run's: these win. */
    av[n++] = (char *)"--set";
    av[n++] = input;
    av[n++] = (char *)"--set";
    av[n++] = (char *)"job.output=stdout";
    av[n++] = (char *)"--set";
    av[n++] = (char *)"job.retries=0";
    av[n++] = (char *)"--workers";
    av[n++] = (char *)"1";
    av[n++] = (char *)"--quiet";
    av[n] = NULL;
    fprintf(stderr, "mproc: rerun: item %llu of %s under %s\n",
            (unsigned long long)index, r.job,
            tool != NULL ? tool : first_cmd < argc ? argv[first_cmd]
                                                   : "no tool");
    fflush(stderr);
    rc = run_fg(av);
done:
    if (tmp[0] != '\0')
        unlink(tmp);
    free(av);
    rerun_free(&r);
    return rc;
}

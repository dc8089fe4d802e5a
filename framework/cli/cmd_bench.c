/* SPDX-License-Identifier: MIT */
/*
 * `mproc bench`: how fast a job runs here, and under which settings.
 *
 * Each measurement is a whole `mproc run` of the job (this same program,
 * from /proc/self/exe) with its output sent to /dev/null and `--stats json`
 * read back from its stderr, so what is measured is exactly what a user's
 * run does, plugin loading and pool start included, and nothing of a run
 * (its memory, its page cache of the plugin's state) leaks into the next.
 * The runs of the settings are interleaved (one of each, then again), so
 * that a machine growing busier in the middle does not favour whichever
 * setting came first; medians, with the spread of the runs.
 *
 * Without a job file, the built-in job: the shipped echo plugin over a
 * range of integers, under each IPC backend at chunksize 1 and auto: what
 * the task traffic of the pool costs on this machine.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static const char bench_usage[] =
    "Usage: mproc bench [JOB.ini] [--runs N] [--vary "
    "SECTION.KEY=V1,V2,...]...\n"
    "          [--set SECTION.KEY=VALUE]... [--workers N] [--items N] "
    "[--json]\n"
    "Run a job several times, its output discarded, under each combination\n"
    "of the --vary values; print the median items per second of each and\n"
    "the fastest.  Without JOB.ini: the shipped echo plugin over a range of\n"
    "integers (--items, default 200000), varying pool.ipc (pipe, mq,\n"
    "shmring) and job.chunksize (1, auto): what the pool's task traffic\n"
    "costs on this machine.\n"
    "\n"
    "  -r, --runs N         runs per setting (default 3); the runs of the\n"
    "                       settings are interleaved\n"
    "  -V, --vary K=V1,...  try each value of key K (any job-file key, as\n"
    "                       for --set); several --vary: every combination\n"
    "                       (at most 256)\n"
    "  -s, --set K=VALUE    as for mproc run, in every run\n"
    "  -w, --workers N      same as --set pool.workers=N\n"
    "  -n, --items N        the built-in job's item count\n"
    "      --json           one JSON object per setting on stdout\n"
    "  -h, --help           show this help\n"
    "\n"
    "The job's input is read again by every run, so it cannot be stdin.\n"
    "Exit status: 0 every run succeeded, 1 items failed in some run (the\n"
    "table counts them), 64 usage error; a run that cannot start (a config,\n"
    "plugin or input error) stops the benchmark with that run's status and\n"
    "messages.\n";

#define MAX_VARY 8
#define MAX_VALUES 64
#define MAX_SETTINGS 256
#define ERR_KEEP 8192 /* bytes of a run's stderr kept for its messages */

struct vary {
    char *key; /* "section.key" */
    char *values[MAX_VALUES];
    size_t n;
};

struct setting {
    char **sets;  /* "section.key=value" of each --vary */
    double *rate; /* items/s of each run */
    double *secs;
    unsigned long long items, failed;
};

struct bench {
    const char *job;
    char tmpjob[4096]; /* the built-in job's file, removed at the end */
    unsigned runs;
    bool json;
    char **sets;
    size_t nsets;
    struct vary vary[MAX_VARY];
    size_t nvary;
    struct setting *set;
    size_t nset;
    char self[4096];
};

static int
add_vary(struct bench *b, char *arg)
{
    struct vary *v;
    char *eq = strchr(arg, '='), *save = NULL, *tok;

    if (b->nvary == MAX_VARY)
        return cli_usage_error(
            "bench", "at most 8 --vary options, got more at '%s'", arg);
    if (eq == NULL || eq == arg || strchr(arg, '.') == NULL ||
        strchr(arg, '.') > eq || eq[1] == '\0')
        return cli_usage_error(
            "bench", "--vary: expected SECTION.KEY=V1,V2,..., got '%s'", arg);
    v = &b->vary[b->nvary];
    *eq = '\0';
    v->key = arg;
    for (tok = strtok_r(eq + 1, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (v->n == MAX_VALUES)
            return cli_usage_error("bench", "--vary %s: at most 64 values",
                                   arg);
        v->values[v->n++] = tok;
    }
    if (v->n == 0)
        return cli_usage_error("bench", "--vary %s: no value given", arg);
    b->nvary++;
    return 0;
}

/* Every combination of the --vary values, the last key varying fastest. */
static int
make_settings(struct bench *b)
{
    size_t total = 1, i, k;

    for (k = 0; k < b->nvary; k++) {
        total *= b->vary[k].n;
        if (total > MAX_SETTINGS) {
            cli_error("bench: the --vary options make over %d settings",
                      MAX_SETTINGS);
            return CLI_EXIT_USAGE;
        }
    }
    b->set = calloc(total, sizeof(*b->set));
    if (b->set == NULL)
        goto oom;
    b->nset = total;
    for (i = 0; i < total; i++) {
        struct setting *s = &b->set[i];
        size_t rest = i;

        s->sets = calloc(b->nvary + 1, sizeof(char *));
        s->rate = calloc(b->runs, sizeof(double));
        s->secs = calloc(b->runs, sizeof(double));
        if (s->sets == NULL || s->rate == NULL || s->secs == NULL)
            goto oom;
        for (k = b->nvary; k-- > 0;) {
            const struct vary *v = &b->vary[k];
            const char *val = v->values[rest % v->n];
            size_t len = strlen(v->key) + strlen(val) + 2;

            rest /= v->n;
            if ((s->sets[k] = malloc(len)) == NULL)
                goto oom;
            snprintf(s->sets[k], len, "%s=%s", v->key, val);
        }
    }
    return 0;
oom:
    cli_error("bench: out of memory");
    return CLI_EXIT_SOFTWARE;
}

static volatile sig_atomic_t got_signal;
static volatile pid_t child;

/* ^C reaches the run too (one process group); a SIGTERM or SIGHUP sent to
 * mproc bench alone is passed on, so the run stops as it would, and the
 * built-in job's file is removed. */
static void
on_signal(int sig)
{
    int saved = errno;

    got_signal = sig;
    if (sig != SIGINT && child > 0)
        kill(child, sig);
    errno = saved;
}

/* Append n bytes to err (len so far): past ERR_KEEP, its first half stays
 * and the second half holds the latest bytes. */
static void
keep_tail(char *err, size_t *len, const char *data, size_t n)
{
    size_t half = ERR_KEEP / 2, take = ERR_KEEP - *len;

    if (take > n)
        take = n;
    memcpy(err + *len, data, take);
    *len += take;
    data += take;
    n -= take;
    if (n == 0)
        return;
    /* Full: the newest bytes go to the end of the second half. */
    if (n >= half) {
        memcpy(err + half, data + n - half, half);
    } else {
        memmove(err + half, err + half + n, half - n);
        memcpy(err + ERR_KEEP - n, data, n);
    }
}

/* The value of "KEY": NUMBER in a --stats json line; -1 when absent. */
static double
json_number(const char *line, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\": ", key);
    p = strstr(line, pat);
    return p != NULL ? strtod(p + strlen(pat), NULL) : -1;
}

/* Show the end of a run's stderr (what it said before it stopped). */
static void
show_messages(const char *err, size_t len)
{
    const char *p = err, *end = err + len, *nl;

    for (; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            nl = end;
        if (strncmp(p, "{\"items\": ", 10) != 0)
            fprintf(stderr, "%.*s\n", (int)(nl - p), p);
    }
}

/*
 * One `mproc run` of the job under setting s.  Returns 0 (measured), 1
 * (measured, items failed), or the exit status to stop with.
 */
static int
run_once(struct bench *b, struct setting *s, unsigned run)
{
    char **av, err[ERR_KEEP + 1], *line, *at;
    size_t n = 0, k, len = 0;
    int fds[2], st, rc = 0;
    pid_t pid;
    ssize_t got;
    double rate, secs, failed, items;

    av = calloc(8 + 2 * (b->nsets + b->nvary), sizeof(char *));
    if (av == NULL || pipe2(fds, O_CLOEXEC) < 0) {
        free(av);
        cli_error("bench: cannot start a run: %s", strerror(errno));
        return CLI_EXIT_SOFTWARE;
    }
    av[n++] = (char *)"mproc";
    av[n++] = (char *)"run";
    av[n++] = (char *)b->job;
    for (k = 0; k < b->nsets; k++) {
        av[n++] = (char *)"--set";
        av[n++] = b->sets[k];
    }
    for (k = 0; k < b->nvary; k++) {
        av[n++] = (char *)"--set";
        av[n++] = s->sets[k];
    }
    av[n++] = (char *)"--set";
    av[n++] = (char *)"job.output=/dev/null";
    av[n++] = (char *)"--stats=json";
    av[n] = NULL;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
            dup2(fds[1], 2) < 0)
            _exit(CLI_EXIT_SOFTWARE);
        execv(b->self, av);
        _exit(127);
    }
    child = pid;
    close(fds[1]);
    free(av);
    if (pid < 0) {
        close(fds[0]);
        cli_error("bench: cannot start a run: %s", strerror(errno));
        return CLI_EXIT_SOFTWARE;
    }
    /* The messages of a run that cannot start come first; the stats line
     * of one that ran is last: keep the first half and the last half. */
    for (;;) {
        char buf[4096];
        got = read(fds[0], buf, sizeof(buf));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        keep_tail(err, &len, buf, (size_t)got);
    }
    close(fds[0]);
    err[len] = '\0';
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    child = 0;
    if (got_signal != 0) {
        show_messages(err, len);
        return CLI_EXIT_INTERRUPTED;
    }
    if (WIFSIGNALED(st)) {
        show_messages(err, len);
        cli_error("bench: a run of %s was killed by signal %d", b->job,
                  WTERMSIG(st));
        return WTERMSIG(st) == SIGINT ? CLI_EXIT_INTERRUPTED
                                      : CLI_EXIT_SOFTWARE;
    }
    if (WEXITSTATUS(st) > 1) {
        show_messages(err, len);
        return WEXITSTATUS(st) == 127 ? CLI_EXIT_SOFTWARE : WEXITSTATUS(st);
    }
    /* The last stats line (a plugin's stderr may hold any bytes). */
    line = NULL;
    for (at = err; (at = memmem(at, len - (size_t)(at - err),
                                "{\"items\": ", 10)) != NULL;
         at++)
        line = at;
    rate = line != NULL ? json_number(line, "items_per_second") : -1;
    secs = line != NULL ? json_number(line, "wall_seconds") : -1;
    failed = line != NULL ? json_number(line, "failed") : -1;
    items = line != NULL ? json_number(line, "succeeded") : -1;
    if (rate < 0 || secs < 0 || failed < 0 || items < 0) {
        show_messages(err, len);
        cli_error("bench: a run of %s printed no statistics", b->job);
        return CLI_EXIT_SOFTWARE;
    }
    s->rate[run] = rate;
    s->secs[run] = secs;
    s->items = (unsigned long long)(items + failed);
    s->failed += (unsigned long long)failed;
    if (WEXITSTATUS(st) == 1)
        rc = 1;
    return rc;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double
median(double *v, unsigned n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
setting_name(const struct bench *b, const struct setting *s, char *buf,
             size_t cap)
{
    size_t k, at = 0;

    buf[0] = '\0';
    if (b->nvary == 0)
        snprintf(buf, cap, "(as the job says)");
    for (k = 0; k < b->nvary && at < cap; k++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%s", k ? " " : "",
                               s->sets[k]);
}

/* A JSON string of s (keys and values are the user's bytes). */
static void
json_string(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void
report(struct bench *b)
{
    size_t i, k, best = 0, worst = 0;
    double *med = calloc(b->nset, sizeof(double));
    char name[1024];

    if (med == NULL)
        return;
    for (i = 0; i < b->nset; i++) {
        struct setting *s = &b->set[i];
        double lo, hi, secs;

        med[i] = median(s->rate, b->runs); /* sorts: [0] lowest */
        lo = s->rate[0];
        hi = s->rate[b->runs - 1];
        secs = median(s->secs, b->runs);
        if (med[i] > med[best])
            best = i;
        if (med[i] < med[worst])
            worst = i;
        if (b->json) {
            printf("{\"settings\": {");
            for (k = 0; k < b->nvary; k++) {
                char *eq = strchr(s->sets[k], '=');
                *eq = '\0';
                printf("%s", k ? ", " : "");
                json_string(s->sets[k]);
                printf(": ");
                json_string(eq + 1);
                *eq = '=';
            }
            printf("}, \"runs\": %u, \"items\": %llu, \"failed\": %llu, "
                   "\"items_per_second\": %.1f, \"min_items_per_second\": "
                   "%.1f, \"max_items_per_second\": %.1f, "
                   "\"wall_seconds\": %.3f}\n",
                   b->runs, s->items, s->failed, med[i], lo, hi, secs);
            continue;
        }
        if (i == 0)
            printf("%-40s %14s %9s  %s\n", "settings", "items/s", "seconds",
                   "runs: slowest..fastest items/s");
        setting_name(b, s, name, sizeof(name));
        printf("%-40s %14.0f %9.3f  %.0f..%.0f", name, med[i], secs, lo, hi);
        if (s->failed > 0)
            printf("  (%llu items failed)", s->failed);
        putchar('\n');
    }
    if (!b->json && b->nset > 1) {
        setting_name(b, &b->set[best], name, sizeof(name));
        printf("fastest: %s", name);
        if (med[worst] > 0)
            printf(" (%.2fx the slowest)", med[best] / med[worst]);
        putchar('\n');
    }
    free(med);
}

/* The built-in job: echo over range:1..items. */
static int
builtin_job(struct bench *b, unsigned long long items)
{
    static char ipc[] = "pool.ipc=pipe,mq,shmring";
    static char chunk[] = "job.chunksize=1,auto";
    const char *dir = getenv("TMPDIR");
    FILE *f;
    int fd, rc;

    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    if ((size_t)snprintf(b->tmpjob, sizeof(b->tmpjob),
                         "%s/mproc-bench-XXXXXX.ini", dir) >=
        sizeof(b->tmpjob)) {
        b->tmpjob[0] = '\0';
        cli_error("bench: TMPDIR is too long");
        return CLI_EXIT_CANTCREAT;
    }
    fd = mkstemps(b->tmpjob, 4);
    if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
        cli_error("bench: %s: %s", b->tmpjob, strerror(errno));
        if (fd >= 0)
            close(fd);
        b->tmpjob[0] = '\0';
        return CLI_EXIT_CANTCREAT;
    }
    fprintf(f,
            "# mproc bench's built-in job\n[job]\nplugin = echo\n"
            "input = range:1..%llu\n",
            items);
    if (fclose(f) != 0) {
        cli_error("bench: %s: %s", b->tmpjob, strerror(errno));
        return CLI_EXIT_CANTCREAT;
    }
    b->job = b->tmpjob;
    if (b->nvary == 0 &&
        ((rc = add_vary(b, ipc)) != 0 || (rc = add_vary(b, chunk)) != 0))
        return rc;
    return 0;
}

/* Every setting must make a valid job (checked before the first run, so
 * a typo in the last --vary value does not wait for the others' runs),
 * and one whose input can be read again by each run. */
static int
check_job(struct bench *b, const struct setting *s)
{
    struct cli_job cj = {0};
    char **sets = calloc(b->nsets + b->nvary + 1, sizeof(char *));
    int rc;

    if (sets == NULL)
        return CLI_EXIT_SOFTWARE;
    memcpy(sets, b->sets, b->nsets * sizeof(char *));
    memcpy(sets + b->nsets, s->sets, b->nvary * sizeof(char *));
    rc = cli_job_load(&cj, b->job, sets, b->nsets + b->nvary);
    if (rc == 0 && cj.job->input_kind == MPROC__INPUT_STDIN) {
        cli_error("bench: %s reads its items from stdin, which only the "
                  "first run could read; give input = lines:FILE, "
                  "range:A..B or files:...",
                  b->job);
        rc = CLI_EXIT_USAGE;
    }
    cli_job_free(&cj);
    free(sets);
    return rc;
}

int
cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"runs", required_argument, NULL, 'r'},
        {"vary", required_argument, NULL, 'V'},
        {"set", required_argument, NULL, 's'},
        {"workers", required_argument, NULL, 'w'},
        {"items", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct bench b = {.runs = 3};
    unsigned long long items = 200000;
    char *end, *workers = NULL;
    unsigned run;
    size_t i, k;
    int c, rc = 0, any_failed = 0;

    b.sets = calloc((size_t)argc + 1, sizeof(char *));
    if (b.sets == NULL)
        return CLI_EXIT_SOFTWARE;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:V:s:w:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            errno = 0;
            b.runs = (unsigned)strtoul(optarg, &end, 10);
            if (errno || *end || end == optarg || b.runs < 1 || b.runs > 1000 ||
                optarg[0] == '-') {
                rc = cli_usage_error(
                    "bench", "--runs: expected 1 to 1000, got '%s'", optarg);
                goto done;
            }
            break;
        case 'V':
            if ((rc = add_vary(&b, optarg)) != 0)
                goto done;
            break;
        case 's':
            b.sets[b.nsets++] = optarg;
            break;
        case 'w':
            if ((workers = malloc(strlen(optarg) + 14)) == NULL) {
                rc = CLI_EXIT_SOFTWARE;
                goto done;
            }
            sprintf(workers, "pool.workers=%s", optarg);
            b.sets[b.nsets++] = workers;
            break;
        case 'n':
            errno = 0;
            items = strtoull(optarg, &end, 10);
            if (errno || *end || end == optarg || items < 1 ||
                optarg[0] == '-') {
                rc = cli_usage_error("bench",
                                     "--items: expected a positive number, got "
                                     "'%s'",
                                     optarg);
                goto done;
            }
            break;
        case 'j':
            b.json = true;
            break;
        case 'h':
            fputs(bench_usage, stdout);
            goto done;
        default:
            rc = cli_usage_error("bench", "unknown option '%s'",
                                 argv[optind - 1]);
            goto done;
        }
    }
    if (optind + 1 < argc) {
        rc = cli_usage_error("bench", "one job file at most, got '%s' too",
                             argv[optind + 1]);
        goto done;
    }
    if (!cli_self_exe("bench", b.self, sizeof(b.self))) {
        rc = CLI_EXIT_SOFTWARE;
        goto done;
    }
    if (optind < argc) {
        b.job = argv[optind];
    } else if ((rc = builtin_job(&b, items)) != 0) {
        goto done;
    }
    if ((rc = make_settings(&b)) != 0)
        goto done;
    for (i = 0; i < b.nset; i++)
        if ((rc = check_job(&b, &b.set[i])) != 0)
            goto done;
    cli_catch_signals(on_signal);
    if (!b.json)
        printf("mproc bench: %s, %u run%s per setting\n",
               b.tmpjob[0] ? "the built-in echo job" : b.job, b.runs,
               b.runs == 1 ? "" : "s");
    for (run = 0; run < b.runs; run++) {
        for (i = 0; i < b.nset; i++) {
            if (got_signal != 0) {
                rc = CLI_EXIT_INTERRUPTED;
                goto done;
            }
            if (isatty(2)) {
                char name[200];
                setting_name(&b, &b.set[i], name, sizeof(name));
                fprintf(stderr, "\r\033[K[%u/%u] %s",
                        run * (unsigned)b.nset + (unsigned)i + 1,
                        b.runs * (unsigned)b.nset, name);
            }
            rc = run_once(&b, &b.set[i], run);
            if (isatty(2))
                fputs("\r\033[K", stderr);
            if (rc == 1) {
                any_failed = 1;
                rc = 0;
            }
            if (rc != 0)
                goto done;
        }
    }
    report(&b);
    rc = any_failed;
    if (any_failed)
        cli_error("bench: items failed in some runs; mproc run %s shows "
                  "which and why",
                  b.tmpjob[0] ? "of the job" : b.job);
done:
    if (b.tmpjob[0] != '\0')
        unlink(b.tmpjob);
    for (i = 0; i < b.nset; i++) {
        for (k = 0; k < b.nvary; k++)
            free(b.set[i].sets[k]);
        free(b.set[i].sets);
        free(b.set[i].rate);
        free(b.set[i].secs);
    }
    free(b.set);
    free(workers);
    free(b.sets);
    return rc; /* a report that could not be written: main() says so */
}

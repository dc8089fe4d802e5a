/* SPDX-License-Identifier: MIT */
/*
 * `mproc status [PID|JOB] [--json] [--watch [SECONDS]]`: what a running
 * job is doing, read from its status socket (status/status.c).  A run
 * answers each connection with its snapshot as text, a NUL, then JSON,
 * and closes it; this side picks the part asked for.
 */
#include "internal.h"

#include <dirent.h>
#include <getopt.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ipc/auto_int.h"
#include "status/status_int.h"

/* A run answers from its loop between two turns; give it this long. */
#define READ_TIMEOUT_MS 3000
#define MAX_JOBS 256

static const char status_usage[] =
    "Usage: mproc status [PID|JOB] [--json] [--watch [SECONDS]]\n"
    "Show what a running mproc job does now: each worker's pid, state,\n"
    "item, how long it has run it, memory and tasks done; the items done,\n"
    "failed, retried and pending, the rate, ETA, latency percentiles and\n"
    "the slowest items.  Without PID or JOB: the only job of yours that\n"
    "runs, or a list of them.  JOB is the job file as given to mproc run,\n"
    "or its name without folder or .ini.\n"
    "\n"
    "  -j, --json              print JSON\n"
    "  -w, --watch[=SECONDS]   show it again every SECONDS (default 2)\n"
    "                          until the job ends\n"
    "  -h, --help              show this help\n"
    "\n"
    "A job that runs but sends nothing in 3 s (stopped, or busy) is shown\n"
    "as not answering.\n"
    "\n"
    "Exit status: 0 shown, 1 no such job runs, 64 usage error, 70 the\n"
    "job's answer could not be read, 74 writing the output failed\n"
    "(--watch stops there).\n";

struct reply {
    long pid;
    char *text; /* NUL-terminated, then the JSON */
    char *json;
    bool mute;  /* it runs, but did not answer (made here: mute_reply) */
};

static volatile sig_atomic_t stop_watch;

static void
on_int(int sig)
{
    (void)sig;
    stop_watch = 1;
}

/* A job that accepted the connection but sent nothing in time: it runs
 * (its listening socket is there), stopped (SIGSTOP, a debugger) or too
 * busy to answer.  Said as such, not as "no job": an operator looking at
 * a stuck job must not be told it does not exist. */
static int
mute_reply(long pid, struct reply *out)
{
    char *t = NULL;
    int n = asprintf(&t,
                     "job (not answering), pid %ld\n"
                     "state: running, but it sent nothing in %d s: stopped "
                     "(SIGSTOP, a debugger) or too busy to answer; see "
                     "ps -o stat= -p %ld, and try again\n%c"
                     "{\"pid\":%ld,\"answering\":false}\n",
                     pid, READ_TIMEOUT_MS / 1000, pid, '\0', pid);

    if (n < 0)
        return -1;
    out->pid = pid;
    out->text = t;
    out->json = t + strlen(t) + 1;
    out->mute = true;
    return 0;
}

/* Connect to the socket of `pid` and read its whole answer.  0 (with a
 * made-up answer when it runs but says nothing: mute_reply), or -1 when
 * nobody is there. */
static int
ask(const char *dir, long pid, struct reply *out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = 0, cap = 0;
    char *buf = NULL, *nul;
    int fd, r = -1;

    memset(out, 0, sizeof(*out));
    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%ld.sock",
                         dir, pid) >= sizeof(sa.sun_path))
        return -1;
    /* Without waiting: a run too busy to accept, its backlog full, would
     * hold a blocking connect() (and the whole listing) for as long. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto out;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno == EAGAIN)
            r = mute_reply(pid, out);
        goto out;
    }
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;
        int ready;

        if (cap - len < 4096) {
            char *q = realloc(buf, cap = cap * 2 + 8192);
            if (q == NULL)
                goto out;
            buf = q;
        }
        ready = poll(&p, 1, READ_TIMEOUT_MS);
        if (ready == 0 && len == 0) {
            r = mute_reply(pid, out);
            goto out;
        }
        if (ready <= 0)
            goto out;
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    nul = memchr(buf, '\0', len);
    if (nul == NULL || nul == buf + len)
        goto out;
    out->pid = pid;
    out->text = buf;
    out->json = nul + 1;
    buf = NULL;
    r = 0;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return r;
}

/* The job label in a text answer: its first line "job LABEL, pid ...". */
static bool
label_matches(const struct reply *rp, const char *want)
{
    char label[1024], *comma, *base;
    size_t n;

    if (strncmp(rp->text, "job ", 4) != 0)
        return false;
    comma = strstr(rp->text, ", pid ");
    if (comma == NULL || (n = (size_t)(comma - rp->text - 4)) >= sizeof(label))
        return false;
    memcpy(label, rp->text + 4, n);
    label[n] = '\0';
    if (strcmp(label, want) == 0)
        return true;
    base = basename(label);
    if (strcmp(base, want) == 0)
        return true;
    n = strlen(base);
    return n > 4 && strcmp(base + n - 4, ".ini") == 0 &&
           strlen(want) == n - 4 && strncmp(base, want, n - 4) == 0;
}

/* Every job of ours that answers (matching `want`: a pid, a label, or
 * NULL for all), at most MAX_JOBS. */
static size_t
collect(const char *dir, const char *want, struct reply *out, long *mute)
{
    char *end;
    long wpid = want != NULL ? strtol(want, &end, 10) : 0;
    struct dirent *de;
    size_t n = 0;
    DIR *d;

    if (want != NULL && *end == '\0' && wpid > 0)
        return ask(dir, wpid, &out[0]) == 0 ? 1 : 0;
    d = opendir(dir);
    if (d == NULL)
        return 0;
    while (n < MAX_JOBS && (de = readdir(d)) != NULL) {
        long pid = strtol(de->d_name, &end, 10);

        if (pid <= 0 || strcmp(end, ".sock") != 0)
            continue;
        if (ask(dir, pid, &out[n]) < 0)
            continue;
        if (want != NULL && out[n].mute)
            *mute = pid; /* cannot say whether it is that job */
        if (want != NULL && (out[n].mute || !label_matches(&out[n], want))) {
            free(out[n].text);
            continue;
        }
        n++;
    }
    closedir(d);
    return n;
}

static void
free_replies(struct reply *r, size_t n)
{
    while (n > 0)
        free(r[--n].text);
}

/* Several jobs: one line each (text), or a JSON array. */
static void
print_list(const struct reply *r, size_t n, bool json)
{
    size_t i;

    if (json) {
        printf("[");
        for (i = 0; i < n; i++)
            printf("%s%.*s", i ? "," : "", (int)strcspn(r[i].json, "\n"),
                   r[i].json);
        printf("]\n");
        return;
    }
    printf("%zu jobs run; name one (mproc status PID):\n", n);
    for (i = 0; i < n; i++) {
        const char *t = r[i].text, *items = strstr(t, "\nitems: ");
        printf("  %.*s%s%.*s\n", (int)strcspn(t, "\n"), t,
               items ? ": " : "",
               items ? (int)strcspn(items + 8, "\n") : 0,
               items ? items + 8 : "");
    }
}

int
cmd_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"watch", optional_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct reply *r = NULL;
    const char *want = NULL;
    bool json = false, tty = isatty(STDOUT_FILENO), shown = false;
    double every = 0;
    char dir[PATH_MAX];
    mproc_err_t err;
    long mute;
    size_t n;
    int c, rc = CLI_EXIT_OK;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "jw::h", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'w':
            every = 2;
            /* --watch 5 as well as --watch=5 */
            if (optarg == NULL && optind < argc && argv[optind][0] >= '0' &&
                argv[optind][0] <= '9' && strchr(argv[optind], '.') != NULL)
                optarg = argv[optind++];
            else if (optarg == NULL && optind < argc &&
                     strtod(argv[optind], &end) > 0 && *end == '\0' &&
                     strlen(argv[optind]) < 6)
                optarg = argv[optind++];
            if (optarg != NULL) {
                every = strtod(optarg, &end);
                if (*end != '\0' || !(every >= 0.1 && every <= 86400)) {
                    cli_error("status: --watch: expected seconds from 0.1 "
                              "to 86400, got '%s'", optarg);
                    return CLI_EXIT_USAGE;
                }
            }
            break;
        case 'h':
            fputs(status_usage, stdout);
            return CLI_EXIT_OK;
        default:
            cli_error("status: unknown option '%s'", argv[optind - 1]);
            cli_try_help("status");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        want = argv[optind++];
    if (optind < argc) {
        cli_error("status: unexpected argument '%s'", argv[optind]);
        cli_try_help("status");
        return CLI_EXIT_USAGE;
    }
    if (mproc__status_dir(dir, sizeof(dir), false, &err) < 0) {
        if (err.code != MPROC_ENOENT) {
            cli_error("status: %s", err.msg);
            return CLI_EXIT_SOFTWARE;
        }
        dir[0] = '\0';
    }
    r = calloc(MAX_JOBS, sizeof(*r));
    if (r == NULL) {
        cli_error("status: out of memory");
        return CLI_EXIT_SOFTWARE;
    }
    signal(SIGINT, on_int);
    signal(SIGPIPE, SIG_DFL);
    for (;;) {
        mute = 0;
        n = dir[0] ? collect(dir, want, r, &mute) : 0;
        if (n == 0) {
            if (!shown) {
                if (want != NULL && mute != 0)
                    cli_error("status: no job %s of yours answered, and job "
                              "%ld runs but did not answer in %d s (stopped "
                              "or busy): it may be that one; try mproc "
                              "status %ld", want, mute,
                              READ_TIMEOUT_MS / 1000, mute);
                else if (want != NULL)
                    cli_error("status: no job %s of yours is running", want);
                else
                    cli_error("status: no mproc job of yours is running");
                rc = CLI_EXIT_FAILED;
            } else if (!json) {
                printf("the job has ended\n");
            }
            break;
        }
        if (every > 0 && tty)
            fputs("\033[H\033[2J", stdout); /* like top: from the top */
        else if (shown && !json)
            fputs("\n", stdout);
        if (n > 1)
            print_list(r, n, json);
        else
            fputs(json ? r[0].json : r[0].text, stdout);
        /* One job, and it said nothing: 70, its answer could not be
         * read (the usage's exit statuses). */
        rc = n == 1 && r[0].mute ? CLI_EXIT_SOFTWARE : CLI_EXIT_OK;
        free_replies(r, n);
        shown = true;
        /* Output that cannot be written (a full disk): stop now, rather
         * than wake up for as long as the job runs; main() says why. */
        if (cli_stdout_flush() < 0 || every <= 0 || stop_watch)
            break;
        {
            struct timespec ts = {(time_t)every,
                                  (long)((every - (double)(time_t)every) *
                                         1e9)};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_watch)
                ;
        }
        if (stop_watch)
            break;
    }
    free(r);
    return rc;
}

/* ---- ipc = auto, for mproc check ---- */

void
cli_ipc_auto_explain(void)
{
    struct mproc__ipc_auto a;
    unsigned i;

    if (!mproc__ipc_auto_last(&a))
        mproc__ipc_auto(&a);
    printf("#   ipc = auto chose %s: %s\n", a.choice, a.why);
    if (a.measured) {
        printf("#   tasks/s, 4 workers, 1 / 64 in flight each:");
        for (i = 0; i < a.n; i++)
            printf(" %s %.0f / %.0f%s", a.names[i], a.rate[i], a.rate64[i],
                   i + 1 < a.n ? "," : "\n");
    }
}

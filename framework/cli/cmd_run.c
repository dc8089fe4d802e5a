/* SPDX-License-Identifier: MIT */
/*
 * `mproc run`: apply the job's task to every input item and write the
 * results.
 *
 * Output: each successful item's output, followed by a newline unless it
 * ends with one, in input order when `ordered`, else as items finish.  With
 * a plugin that reduces, only the reduced output is written, at the end.
 * Failures go to stderr, one line per item, naming the item.
 *
 * SIGINT and SIGTERM stop the run: the handler only writes to a self-pipe
 * that the pool polls (cancel_fd); the pool then stops its workers, the
 * output gathered so far is flushed, and mproc exits 130.
 */
#include "internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "pool/pool_int.h"

static const char run_usage[] =
    "Usage: mproc run JOB.ini [--set SECTION.KEY=VALUE]... [--workers N] [-q]\n"
    "Apply the job's task to every input item in a pool of processes.\n"
    "\n"
    "  -s, --set SECTION.KEY=VALUE  override or add a key of the job file\n"
    "                               (checked like the file), e.g.\n"
    "                               --set pool.workers=4 --set args.x=1\n"
    "  -w, --workers N              same as --set pool.workers=N\n"
    "  -q, --quiet                  no progress line and no summary (they\n"
    "                               are drawn on stderr only when that is\n"
    "                               a terminal)\n"
    "      --joblog FILE            log every item that ran to FILE: index,\n"
    "                               worker, start, duration, status, exit,\n"
    "                               attempts, item, message (tab-separated;\n"
    "                               see mproc(1))\n"
    "      --resume                 with --joblog: skip the items FILE logs\n"
    "                               as ok, run the rest, append to FILE (and\n"
    "                               to the job's output file)\n"
    "      --stats text|json        print a summary at the end on stderr:\n"
    "                               items, succeeded, failed, retried, wall\n"
    "                               time, items/s (json: one object)\n"
    "  -h, --help                   show this help\n"
    "\n"
    "Results go to the job's output (stdout by default), one per item;\n"
    "failures go to stderr as 'mproc: item N \"ITEM\": why'.\n"
    "Exit status: 0 all tasks succeeded, 1 some failed, 66 a file is\n"
    "missing, 78 config or plugin error, 130 interrupted.\n";

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
    int saved = errno;
    char c = 1;

    got_signal = sig;
    if (write(sig_pipe[1], &c, 1) < 0) {
        /* The pipe is full: a stop is already pending. */
    }
    errno = saved;
}

struct run_state {
    struct cli_input *in;
    struct cli_joblog *log;
    uint64_t in_index;      /* input items read so far (skipped ones too) */
    uint64_t nread;         /* the same, with or without a job log */
    unsigned long long skipped, retried;
    bool skip_error;        /* the joblog does not match the input */
    FILE *out;
    const char *out_name;
    bool reduce;
    unsigned long long done, failed, cancelled;
    int write_errno;
    /* the progress line, on a terminal */
    bool progress;
    long long total;        /* -1: unknown */
    long long start_ms, last_ms;
};

/* Draw the progress line on stderr, at most 5 times a second. */
static void
progress(struct run_state *st, bool final)
{
    long long now = mproc__now_ms(), el = now - st->start_ms;
    unsigned long long n = st->done + st->failed + st->skipped;
    double rate = el > 0 ? n * 1000.0 / el : 0;
    char eta[32] = "";

    if (!st->progress || (!final && now - st->last_ms < 200))
        return;
    st->last_ms = now;
    if (final) {
        fputs("\r\033[K", stderr); /* leave the terminal clean */
        return;
    }
    if (st->total > 0 && rate > 0 && (long long)n < st->total)
        snprintf(eta, sizeof(eta), ", ETA %.0fs",
                 (double)(st->total - (long long)n) / rate);
    if (st->total >= 0)
        fprintf(stderr, "\r\033[Kmproc: %llu/%lld done, %llu failed, %.0f/s%s",
                n, st->total, st->failed, rate, eta);
    else
        fprintf(stderr, "\r\033[Kmproc: %llu done, %llu failed, %.0f/s", n,
                st->failed, rate);
}

/* Quote an item for a message: printable bytes, at most ~60 of them. */
static void
quote_item(const char *data, size_t len, char *buf, size_t cap)
{
    size_t i, j = 0;

    for (i = 0; i < len && j + 8 < cap; i++) {
        unsigned char c = (unsigned char)data[i];
        if (j > 60) {
            memcpy(buf + j, "...", 3);
            j += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            buf[j++] = '\\';
            buf[j++] = (char)c;
        } else if (isprint(c)) {
            buf[j++] = (char)c;
        } else {
            j += (size_t)snprintf(buf + j, cap - j, "\\x%02x", c);
        }
    }
    buf[j] = '\0';
}

/* Before the pool sleeps: show the results so far.  One flush per wake-up,
 * not per result, so a fast run still writes in large blocks. */
static void
on_idle(void *user)
{
    struct run_state *st = user;

    if (!st->reduce && st->write_errno == 0 && fflush(st->out) != 0)
        st->write_errno = errno;
    /* After the output: a line logged "ok" has its output written, so a
     * resume never loses one; once a write failed, what stdio held may be
     * lost, and so may every later item's. */
    if (st->write_errno != 0)
        cli_joblog_drop(st->log);
    else
        cli_joblog_commit(st->log);
    progress(st, false);
}

/* The pool passes one user pointer to all callbacks: ours is the state. */
static int
next_item(void *user, struct mproc_item *item)
{
    struct run_state *st = user;
    int r, skip;

    for (;;) {
        r = cli_input_next(st->in, item);
        if (r > 0)
            st->nread++;
        if (r <= 0 || st->log == NULL)
            return r;
        skip = cli_joblog_skip(st->log, st->in_index, item->data, item->len);
        if (skip < 0) {
            st->skip_error = true;
            return MPROC_EINVAL;
        }
        st->in_index++;
        if (skip == 0)
            return r;
        st->skipped++; /* done by the run this one resumes */
    }
}

static int
on_result(void *user, const struct mproc_result *r)
{
    struct run_state *st = user;
    uint64_t index = cli_joblog_input_index(st->log, r->index);
    char item[128];

    if (r->attempts > 1)
        st->retried += r->attempts - 1;
    if (r->status != 0)
        cli_joblog_write(st->log, index, r); /* ok items: once written */
    if (r->status == MPROC_ECANCELED) {
        st->cancelled++;
        return 0;
    }
    if (r->status != 0) {
        st->failed++;
        if (st->progress)
            fputs("\r\033[K", stderr);
        quote_item(r->item, r->item_len, item, sizeof(item));
        cli_error("item %llu \"%s\": %s", (unsigned long long)index, item,
                  r->message);
        return 0;
    }
    st->done++;
    if (!st->reduce &&
        (fwrite(r->data, 1, r->len, st->out) != r->len ||
         ((r->len == 0 || ((const char *)r->data)[r->len - 1] != '\n') &&
          fputc('\n', st->out) == EOF))) {
        st->write_errno = errno;
        cli_joblog_drop(st->log); /* before logging this item */
        return 1; /* stop the run: the output is broken */
    }
    /* Logged for now in memory: on_idle() commits it once the output
     * holding it is flushed. */
    cli_joblog_write(st->log, index, r);
    return 0;
}

static int
open_output(const struct mproc__job *job, struct run_state *st, bool append)
{
    st->out = stdout;
    st->out_name = "stdout";
    if (job->output == NULL)
        return 0;
    st->out_name = job->output;
    return cli_open_write(job->output, "output", append, &st->out);
}

static int
close_output(struct run_state *st)
{
    int bad = st->write_errno != 0;

    if (fflush(st->out) != 0 && !bad) {
        st->write_errno = errno;
        bad = 1;
    }
    if (st->out != stdout && fclose(st->out) != 0 && !bad) {
        st->write_errno = errno;
        bad = 1;
    }
    if (bad && st->write_errno == EPIPE) {
        /* The reader went away (`mproc run job.ini | head`): end the way
         * other filters do, by SIGPIPE. */
        signal(SIGPIPE, SIG_DFL);
        raise(SIGPIPE);
    }
    if (bad) {
        cli_error("output %s: write error: %s", st->out_name,
                  strerror(st->write_errno));
        return CLI_EXIT_IOERR;
    }
    return 0;
}

static int
install_signals(void)
{
    struct sigaction sa;

    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        cli_error("cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    return 0;
}

/*
 * Items not run: those read but stopped before they ran, plus those never
 * read, which only an input of known size can count (a range, a list of
 * files, lines of a regular file).  false: unknown (a pipe, a terminal).
 * Items a resumed log marks done are skipped, not "not run".
 */
static bool
not_run(const struct run_state *st, unsigned long long *n)
{
    unsigned long long unread, done_before;

    *n = 0;
    if (!cli_input_remaining(st->in, &unread))
        return false;
    done_before = cli_joblog_ndone_from(st->log, st->nread);
    if (done_before > unread)
        done_before = unread;
    return !__builtin_add_overflow(st->cancelled, unread - done_before, n);
}

/* "252 not run", or "not run: unknown (stdin has no known size)". */
static const char *
not_run_text(const struct run_state *st, bool known, unsigned long long n,
             char *buf, size_t cap)
{
    if (known)
        snprintf(buf, cap, "%llu not run", n);
    else
        snprintf(buf, cap, "not run: unknown (%s has no known size)",
                 cli_input_name(st->in));
    return buf;
}

/*
 * The end-of-run summary: a line of text, or one JSON object, which is
 * then the last line on stderr (mproc(1) promises it to scripts), so it
 * comes after every other message.  items = succeeded + failed + not run;
 * where not run is unknown, so are items (null).
 */
static void
summary(const struct run_state *st, const char *format, unsigned workers,
        bool known, unsigned long long nrun_not)
{
    double wall = (double)(mproc__now_ms() - st->start_ms) / 1000.0;
    unsigned long long n = st->done + st->failed, total;
    double rate = wall > 0 ? n / wall : 0;
    char items[32] = "null", notrun[32] = "null", text[4200];

    if (known && !__builtin_add_overflow(n, nrun_not, &total)) {
        snprintf(items, sizeof(items), "%llu", total);
        snprintf(notrun, sizeof(notrun), "%llu", nrun_not);
    } else {
        known = false;
    }
    if (format != NULL && strcmp(format, "json") == 0) {
        fprintf(stderr,
                "{\"items\": %s, \"succeeded\": %llu, \"failed\": %llu, "
                "\"retried\": %llu, \"not_run\": %s, \"skipped\": %llu, "
                "\"workers\": %u, \"wall_seconds\": %.3f, "
                "\"items_per_second\": %.1f}\n",
                items, st->done, st->failed, st->retried, notrun,
                st->skipped, workers, wall, rate);
        return;
    }
    if (known)
        fprintf(stderr, "mproc: %s items: ", items);
    else
        fprintf(stderr, "mproc: items: ");
    fprintf(stderr, "%llu succeeded, %llu failed, %llu retries", st->done,
            st->failed, st->retried);
    if (!known || nrun_not != 0)
        fprintf(stderr, ", %s",
                not_run_text(st, known, nrun_not, text, sizeof(text)));
    if (st->skipped > 0)
        fprintf(stderr, ", %llu skipped (done before)", st->skipped);
    fprintf(stderr, "; %.2fs, %.0f items/s\n", wall, rate);
}

int
cmd_run(int argc, char **argv)
{
    struct run_state st = {0};
    bool reduce_failed = false;
    struct cli_job cj = {0};
    struct cli_args args;
    struct cli_input *in = NULL;
    mproc_pool_t *pool = NULL;
    mproc_sync_t *shared = NULL;
    unsigned long long nrun_not;
    bool known;
    unsigned workers = 0;
    char num[4200];
    const char *nr;
    int r, rc;

    rc = cli_args_parse(&args, argc, argv, run_usage, true);
    if (rc >= 0)
        return rc;
    rc = cli_job_load(&cj, args.path, args.sets, args.nsets);
    if (rc != 0)
        goto done;

    rc = CLI_EXIT_SOFTWARE;
    if (install_signals() < 0)
        goto done;
    rc = cli_shared_new(&cj, &shared);
    if (rc != 0)
        goto done;
    rc = cli_input_open(&in, cj.job, false);
    if (rc != 0)
        goto done;
    rc = cli_pool_new(&cj, shared, &pool, sig_pipe[0], cli_input_fd(in),
                      on_idle);
    if (rc != 0)
        goto done;
    mproc__pool_set_total(pool, cli_input_total(in)); /* chunksize auto */
    st.reduce = mproc_pool_has_reduce(pool);
    workers = mproc_pool_workers(pool);
    if (args.resume && st.reduce) {
        cli_error("--resume: plugin %s folds every output into one (reduce); "
                  "a resumed run would give the result of the remaining "
                  "items only; run the job again instead",
                  cj.job->plugin);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (args.joblog != NULL) {
        rc = cli_joblog_open(&st.log, args.joblog, args.resume);
        if (rc != 0)
            goto done;
    }
    rc = open_output(cj.job, &st, args.resume);
    if (rc != 0)
        goto done;
    st.in = in;
    st.total = cli_input_total(in);
    st.progress = !args.quiet && isatty(STDERR_FILENO);
    st.start_ms = mproc__now_ms();

    r = mproc_pool_run(pool, next_item, on_result, &st);
    progress(&st, true);

    if (r == 0 && st.reduce) {
        const void *data;
        size_t len;
        if (mproc_pool_reduce_output(pool, &data, &len) < 0) {
            cli_error("%s", mproc_pool_errmsg(pool));
            reduce_failed = true;
        } else if (fwrite(data, 1, len, st.out) != len) {
            st.write_errno = errno;
        }
    }
    rc = close_output(&st);
    if (rc == 0) {
        cli_joblog_commit(st.log); /* every output is on disk */
        rc = cli_joblog_close(st.log);
        st.log = NULL;
    }
    known = not_run(&st, &nrun_not);
    nr = not_run_text(&st, known, nrun_not, num, sizeof(num));
    if (rc != 0) {
        /* The output or the log failed, and said so: that is the status,
         * and the counts still follow. */
    } else if (got_signal) {
        cli_error("interrupted by SIG%s: %llu items done, %llu failed, %s",
                  sigabbrev_np(got_signal), st.done, st.failed, nr);
        rc = CLI_EXIT_INTERRUPTED;
    } else if (r == MPROC_EINIT) {
        cli_error("%s", mproc_pool_errmsg(pool));
        rc = CLI_EXIT_CONFIG;
    } else if (cli_input_failed(in)) {
        rc = CLI_EXIT_NOINPUT;
    } else if (st.skip_error) {
        rc = CLI_EXIT_CONFIG;
    } else if (r == MPROC_ECANCELED) {
        cli_error("run aborted after the first failure (on_error = abort): "
                  "%llu items done, %llu failed, %s",
                  st.done, st.failed, nr);
        rc = CLI_EXIT_FAILED;
    } else if (r < 0) {
        cli_error("run failed: %s",
                  mproc_pool_errmsg(pool)[0] ? mproc_pool_errmsg(pool)
                                             : mproc_strerror(r));
        rc = CLI_EXIT_SOFTWARE;
    } else if (st.failed > 0) {
        cli_error("%llu of %llu items failed", st.failed,
                  st.failed + st.done);
        rc = CLI_EXIT_FAILED;
    } else if (reduce_failed) {
        rc = CLI_EXIT_FAILED;
    } else {
        rc = CLI_EXIT_OK;
    }
    /* The workers are gone once the pool is freed: nothing they print can
     * follow the summary. */
    mproc_pool_free(pool);
    pool = NULL;
    if (args.stats != NULL || (st.progress && !got_signal))
        summary(&st, args.stats, workers, known, nrun_not);

done:
    cli_joblog_close(st.log);
    mproc_pool_free(pool);
    mproc_sync_free(shared);
    cli_input_close(in);
    cli_job_free(&cj);
    cli_args_free(&args);
    return rc;
}

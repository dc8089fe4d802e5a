/* SPDX-License-Identifier: MIT */
/*
 * `mproc run`: apply the job's task to every input item and write the
 * results.
 *
 * Output: each successful item's output, in input order when `ordered`,
 * else as items finish, written as [job] output_mode says: raw (the bytes
 * as they are: an empty output writes nothing, a binary stream stays
 * valid), records (a newline after each output that lacks one, so an
 * empty output is an empty line) or records0 (a NUL after each, in place
 * of one trailing newline).  The default is the plugin's: raw when its
 * descriptor has MPROC_PLUGIN_RAW_OUTPUT (exec), else records.  With a
 * plugin that reduces, only the reduced output is written, at the end, as
 * it is.  Failures go to stderr, one line per item, naming the item;
 * what a failed exec command wrote to stdout is written first, in its
 * turn, as for a success (GNU parallel does the same).
 *
 * An exec command's output larger than message_max does not fail: the
 * exec plugin writes it to a file in a private folder this run makes
 * (named with MPROC_EXEC_SPILL in the environment, with a random token)
 * and returns the token and the file's name as its output; that file is
 * copied to the output in the item's turn, then removed.  So in ordered
 * mode a big output waits on disk, not in memory, and the frame protocol
 * between pool and workers is unchanged.  With [args] stderr = after
 * (mproc exec's default), an item's stderr waits in the same folder
 * (err.INDEX) and is copied to stderr after the item's output, in its
 * turn: each job's stdout and stderr come together, in input order, as
 * GNU parallel's grouped output does.
 *
 * SIGINT and SIGTERM stop the run: the handler only writes to a self-pipe
 * that the pool polls (cancel_fd); the pool then stops its workers, the
 * output gathered so far is flushed, and mproc exits 130.
 */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "mpi/launcher.h"
#include "manager/mgrjob_int.h"
#include "plugin/plugin_int.h"
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
    "      --progress               show progress even where stderr is not a\n"
    "                               terminal: a plain line every 5 s (CI logs)\n"
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
    "      --shard K/N              run only shard K (from 0) of N; slurm/N\n"
    "                               takes K from SLURM_ARRAY_TASK_ID; the\n"
    "                               output and the joblog get .shard-K-of-N\n"
    "                               (join them with mproc merge)\n"
    "      --shard-mode contiguous|stride\n"
    "                               blocks of items (default), or every Nth\n"
    "      --joblog-sync none|item|batch\n"
    "                               fsync the output, then the joblog, per\n"
    "                               item or batch (default none)\n"
    "      --quarantine FILE        write items quarantined ([job]\n"
    "                               quarantine_after) to FILE, with their\n"
    "                               backtraces, for mproc rerun\n"
    "      --slowlog FILE           write a backtrace of each task running\n"
    "                               past [job] slowlog (default 5s) to FILE\n"
    "  -h, --help                   show this help\n"
    "\n"
    "Results go to the job's output (stdout by default), one per item\n"
    "(as [job] output_mode says: the bytes as they are, or records);\n"
    "failures go to stderr as 'mproc: item N \"ITEM\": why'.\n"
    "Exit status: 0 all tasks succeeded, 1 some failed, 64 usage\n"
    "error, 66 a file is missing, 70 internal error, 73 the output cannot\n"
    "be created, 74 writing the output failed, 78 config or plugin error,\n"
    "130 interrupted.\n";

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
    int stdout_keep; /* cli_stdout_guard()'s copy of stdout, or -1 */
    int output_mode;        /* enum mproc__output_mode, never AUTO */
    char *spill_dir;        /* big exec outputs wait here; NULL: none */
    char spill_token[33];   /* what marks an output as a spill file */
    bool err_after;         /* [args] stderr = after: err.INDEX files */
    unsigned long long done, failed, cancelled;
    int write_errno;
    /* the progress line, on a terminal or (--progress) anywhere */
    bool progress;
    bool tty;               /* redrawn in place; else one line at a time */
    bool drawn;             /* tty: a progress line is on it now */
    bool out_tty;           /* the output is a terminal too */
    long long interval_ms;  /* between two lines */
    long long total;        /* -1: unknown */
    long long start_ms, last_ms;
    long long start_ns;     /* the same, for the summary's rate */
    const struct cli_run_hooks *hooks; /* mproc exec's, or NULL */
    bool halted;            /* hooks->result stopped the run */
    /* the shard, and where each output lands (for the job log) */
    struct cli_shard sh;
    bool offsets;           /* out_pos is known: the output is a file */
    int64_t out_pos;
};

/* The progress line and mproc exec's --line-buffer thread, which writes
 * the jobs' lines to stdout as they come, share the terminal: the thread
 * holds the line off while it writes (cli_progress_hold), and the line is
 * drawn and taken off under the same mutex. */
static pthread_mutex_t progress_mu = PTHREAD_MUTEX_INITIALIZER;
static struct run_state *progress_run; /* the run that draws, or NULL */

/* Take the progress line off the terminal before something else is
 * written there (a result, a failure, a job's stderr); the next
 * progress() draws it again below.  With progress_mu. */
static void
progress_erase_locked(struct run_state *st)
{
    if (st->drawn) {
        fputs("\r\033[K", stderr);
        st->drawn = false;
    }
}

static void
progress_erase(struct run_state *st)
{
    pthread_mutex_lock(&progress_mu);
    progress_erase_locked(st);
    pthread_mutex_unlock(&progress_mu);
}

void
cli_progress_hold(void)
{
    pthread_mutex_lock(&progress_mu);
    /* Only where the results go to a terminal too: lines going to a file
     * would only make the line blink.  Not isatty(1): while a plugin may
     * print, descriptor 1 is stderr (cli_stdout_guard). */
    if (progress_run != NULL && progress_run->out_tty)
        progress_erase_locked(progress_run);
}

void
cli_progress_erase_held(void)
{
    if (progress_run != NULL)
        progress_erase_locked(progress_run);
}

void
cli_progress_release(void)
{
    pthread_mutex_unlock(&progress_mu);
}

/*
 * Draw the progress line on stderr: on a terminal, redrawn in place at
 * most 5 times a second; elsewhere (--progress, for CI logs) one plain
 * line every few seconds, and a last one at the end.  The fraction done
 * is items of a known count (range, files), else the bytes read of a
 * regular file (lines).  The rate counts the items this run ran (not
 * those a --resume skipped), and the ETA is the items left at that rate:
 * of a known count, else of the count the bytes read so far foretell
 * (the input is read ahead of the work: its share read is not the share
 * done).
 */
static void
progress(struct run_state *st, bool final)
{
    long long now = mproc__now_ms(), el = now - st->start_ms;
    unsigned long long n = st->done + st->failed + st->skipped, pos, size;
    unsigned long long ran = st->done + st->failed;
    double rate = el > 0 ? ran * 1000.0 / el : 0, frac = -1, est = -1, left;
    char of[64] = "", eta[48] = "", line[256];
    int len, cols;

    if (!st->progress || (!final && now - st->last_ms < st->interval_ms))
        return;
    st->last_ms = now;
    if (final && st->tty) {
        progress_erase(st); /* leave the terminal clean */
        return;
    }
    pthread_mutex_lock(&progress_mu);
    if (st->total >= 0) {
        snprintf(of, sizeof(of), "/%lld", st->total);
        frac = st->total > 0 ? (double)n / (double)st->total : 1;
        est = (double)st->total;
    } else if (cli_input_position(st->in, &pos, &size)) {
        frac = size > 0 ? (double)pos / (double)size : 1;
        if (pos > 0 && st->nread > 0)
            est = (double)st->nread * (double)size / (double)pos;
    }
    if (frac > 1)
        frac = 1;
    if (est > (double)n && rate > 0) {
        left = (est - (double)n) / rate;
        if (left >= 3600)
            snprintf(eta, sizeof(eta), ", ETA %.0fh%02.0fm", left / 3600,
                     (double)((long long)left % 3600 / 60));
        else if (left >= 60)
            snprintf(eta, sizeof(eta), ", ETA %.0fm%02.0fs",
                     (double)((long long)left / 60),
                     (double)((long long)left % 60));
        else
            snprintf(eta, sizeof(eta), ", ETA %.0fs", left);
    }
    /* The line of old, with the share after the rate. */
    len = snprintf(line, sizeof(line), "mproc: %llu%s done, %llu failed, "
                   "%.0f/s", n, of, st->failed, rate);
    if (frac >= 0 && len >= 0 && (size_t)len < sizeof(line))
        len += snprintf(line + len, sizeof(line) - (size_t)len, ", %.0f%%%s",
                        frac * 100, st->total >= 0 ? "" : " of the input read");
    if (len >= 0 && (size_t)len < sizeof(line))
        snprintf(line + len, sizeof(line) - (size_t)len, "%s", eta);
    /* On a terminal, within its width (asked each time: it may change):
     * a line that wraps is not taken off by \r\033[K, and each redraw
     * would leave a row behind. */
    if (st->tty && (cols = cli_tty_width(STDERR_FILENO)) > 1 &&
        strlen(line) >= (size_t)cols)
        line[cols - 1] = '\0';
    fprintf(stderr, "%s%s%s", st->tty ? "\r\033[K" : "", line,
            st->tty ? "" : "\n");
    st->drawn = st->tty;
    pthread_mutex_unlock(&progress_mu);
}

/*
 * Between two progress lines: 200 ms on a terminal; 5 s in a log, or
 * MPROC_PROGRESS_INTERVAL seconds (e.g. 0.5).
 */
static long long
progress_interval(bool tty)
{
    const char *env = getenv("MPROC_PROGRESS_INTERVAL");
    char *end;
    double s;

    if (tty)
        return 200;
    if (env != NULL && *env != '\0') {
        s = strtod(env, &end);
        if (*end == '\0' && s >= 0 && s <= 86400)
            return (long long)(s * 1000);
        cli_error("warning: MPROC_PROGRESS_INTERVAL=%s is not a number of "
                  "seconds from 0 to 86400; every 5 seconds instead", env);
    }
    return 5000;
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

/* What a hook writes beside the output (mproc exec --line-buffer),
 * flushed `how` (CLI_FLUSH_*): a write error there is the output's. */
static void
side_flush(struct run_state *st, int how)
{
    int e;

    if (st->hooks == NULL || st->hooks->flush == NULL)
        return;
    e = st->hooks->flush(st->hooks->user, how);
    if (e != 0 && st->write_errno == 0)
        st->write_errno = e;
}

void
cli_run_stop(void)
{
    char c = 0;

    /* As on_signal(); the pipe is made once and never closed. */
    if (sig_pipe[1] >= 0 && write(sig_pipe[1], &c, 1) < 0) {
        /* Full: a stop is pending already. */
    }
}

/* Before the pool sleeps: show the results so far.  One flush per wake-up,
 * not per result, so a fast run still writes in large blocks. */
static void
on_idle(void *user)
{
    struct run_state *st = user;

    if (!st->reduce && st->write_errno == 0 && fflush(st->out) != 0)
        st->write_errno = errno;
    side_flush(st, st->log != NULL ? CLI_FLUSH_WAIT : CLI_FLUSH_ASK);
    /* After the output: a line logged "ok" has its output written, so a
     * resume never loses one; once a write failed, what stdio held may be
     * lost, and so may every later item's. */
    if (st->write_errno != 0)
        cli_joblog_drop(st->log);
    else
        cli_joblog_commit(st->log);
    progress(st, false);
    /* mproc exec --halt now: a job that meets the rule stops the run when
     * it ends, not when its result's turn comes.  The cancel pipe stops
     * the pool (the workers and their commands) at its next look. */
    if (!st->halted && st->hooks != NULL && st->hooks->poll != NULL &&
        st->hooks->poll(st->hooks->user) != 0) {
        char c = 0;
        st->halted = true;
        if (write(sig_pipe[1], &c, 1) < 0) {
            /* Full: a stop is pending already. */
        }
    }
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
        /* A cut item (too large, not kept whole) never ran ok. */
        skip = cli_joblog_skip(st->log, st->in_index,
                               r == MPROC__ITEM_CUT ? NULL : item->data,
                               item->len);
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

/* Write one item's output as output_mode says; -1 on a write error. */
static int
write_output(struct run_state *st, const char *data, size_t len)
{
    char last = len > 0 ? data[len - 1] : '\0';
    int sep = EOF;

    if (st->out_tty)
        progress_erase(st);
    switch (st->output_mode) {
    case MPROC__OUTPUT_RECORDS:
        if (len == 0 || last != '\n')
            sep = '\n';
        break;
    case MPROC__OUTPUT_RECORDS0:
        if (len > 0 && last == '\n')
            len--; /* the record's end: a NUL takes its place */
        else if (len > 0 && last == '\0')
            break;
        sep = '\0';
        break;
    default:
        break; /* raw: what the task wrote, no more */
    }
    if (fwrite(data, 1, len, st->out) != len ||
        (sep != EOF && fputc(sep, st->out) == EOF))
        return -1;
    st->out_pos += (int64_t)len + (sep != EOF);
    return 0;
}

#define SPILL_ENV "MPROC_EXEC_SPILL"

/* Make the private folder and token for big outputs (see the top), in
 * $TMPDIR: 0, or an exit status, said.  Without the folder, a big output
 * would fail as "over the message limit", which hides the cause: the run
 * is refused before any task runs instead (GNU parallel refuses a
 * TMPDIR it cannot use too). */
static int
spill_open(struct run_state *st)
{
    const char *t = getenv("TMPDIR");
    unsigned char rnd[16];
    char path[PATH_MAX], env[PATH_MAX + 40];
    size_t i;

    if (t == NULL || t[0] == '\0')
        t = "/tmp";
    /* The pid in the name: mproc clean tells a dead run's folder. */
    if (snprintf(path, sizeof(path), "%s/mproc-spill.%ld.XXXXXX", t,
                 (long)getpid()) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        goto fail;
    }
    if (mkdtemp(path) == NULL)
        goto fail;
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        rmdir(path);
        goto fail;
    }
    for (i = 0; i < sizeof(rnd); i++)
        snprintf(st->spill_token + 2 * i, 3, "%02x", rnd[i]);
    snprintf(env, sizeof(env), "%s %s", st->spill_token, path);
    if ((st->spill_dir = strdup(path)) == NULL ||
        setenv(SPILL_ENV, env, 1) != 0) {
        rmdir(path);
        free(st->spill_dir);
        st->spill_dir = NULL;
        cli_error("out of memory");
        return CLI_EXIT_SOFTWARE;
    }
    return 0;

fail:
    cli_error("cannot make a folder for outputs over message_max in %s: %s",
              t, strerror(errno));
    return CLI_EXIT_CANTCREAT;
}

/* Remove the folder and what is left in it (outputs of items that never
 * had their turn). */
static void
spill_close(struct run_state *st)
{
    DIR *d;
    struct dirent *e;

    if (st->spill_dir == NULL)
        return;
    unsetenv(SPILL_ENV);
    if ((d = opendir(st->spill_dir)) != NULL) {
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.')
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(st->spill_dir);
    free(st->spill_dir);
    st->spill_dir = NULL;
}

/* The spill file an output names ("TOKEN:NAME"), or NULL: a plain one. */
static const char *
spill_name(const struct run_state *st, const char *data, size_t len,
           char *name, size_t cap)
{
    size_t n = strlen(st->spill_token), i;

    if (st->spill_dir == NULL || len <= n + 1 || len - n - 1 >= cap ||
        memcmp(data, st->spill_token, n) != 0 || data[n] != ':')
        return NULL;
    for (i = n + 1; i < len; i++)
        if (!isalnum((unsigned char)data[i]) && data[i] != '.' &&
            data[i] != '_')
            return NULL;
    memcpy(name, data + n + 1, len - n - 1);
    name[len - n - 1] = '\0';
    return name;
}

/* One piece of an item's output (`first`: its start): through mproc
 * exec's write hook (--tag), else as write_output() writes it. */
static int
put_output(struct run_state *st, const struct mproc_result *r,
           const char *data, size_t len, bool first)
{
    off_t end;
    int w;

    if (st->out_tty)
        progress_erase(st);
    if (st->hooks == NULL || st->hooks->write == NULL)
        return write_output(st, data, len);
    w = st->hooks->write(st->hooks->user, st->out, r, data, len, first);
    /* Bytes written by the hook: the file position says (for the job
     * log's offsets). */
    if (w == 0 && st->offsets && (end = ftello(st->out)) >= 0)
        st->out_pos = end;
    else
        st->offsets = false;
    return w;
}

/* Copy a spill file to the output as put_output() would write it whole,
 * and remove it.  0; -1 a write error; -2 the file cannot be read
 * (printed). */
static int
spill_copy(struct run_state *st, const char *name,
           const struct mproc_result *r, uint64_t index)
{
    char buf[65536], path[PATH_MAX], held = 0;
    bool have_held = false, hook, first = true;
    int fd, r2 = 0;
    ssize_t n;

    hook = st->hooks != NULL && st->hooks->write != NULL;
    snprintf(path, sizeof(path), "%s/%s", st->spill_dir, name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        cli_error("item %llu: its output file %s: %s",
                  (unsigned long long)index, path, strerror(errno));
        return -2;
    }
    /* One byte held back: the last decides the record's end.  A write
     * hook takes the pieces as they come. */
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_error("item %llu: its output file %s: %s",
                      (unsigned long long)index, path, strerror(errno));
            r2 = -2;
            break;
        }
        if (hook) {
            if (put_output(st, r, buf, (size_t)n, first) < 0) {
                r2 = -1;
                break;
            }
            first = false;
            continue;
        }
        if ((have_held && fputc(held, st->out) == EOF) ||
            fwrite(buf, 1, (size_t)n - 1, st->out) != (size_t)n - 1) {
            r2 = -1;
            break;
        }
        st->out_pos += have_held + n - 1;
        held = buf[n - 1];
        have_held = true;
    }
    close(fd);
    unlink(path);
    if (r2 == 0 && !hook && write_output(st, &held, have_held ? 1 : 0) < 0)
        r2 = -1;
    return r2;
}

/* Write an item's output (a big one from its spill file): 0; -1 a write
 * error; -2 its spill file cannot be read (printed). */
static int
write_item(struct run_state *st, const struct mproc_result *r,
           uint64_t index)
{
    char spill[NAME_MAX + 1];

    if (st->reduce)
        return 0;
    if (spill_name(st, r->data, r->len, spill, sizeof(spill)) != NULL)
        return spill_copy(st, spill, r, index);
    return put_output(st, r, r->data, r->len, true);
}

/* [args] stderr = after: copy the item's stderr, held in the spill
 * folder, to stderr (through the write hook: --tag), after its output,
 * which is flushed first so that a shared terminal or 2>&1 keeps the
 * order; then remove it.  Nothing when the command wrote nothing there. */
static void
err_copy(struct run_state *st, uint64_t pool_index,
         const struct mproc_result *r)
{
    char buf[65536], path[PATH_MAX];
    bool first = true;
    ssize_t n;
    int fd;

    if (!st->err_after)
        return;
    snprintf(path, sizeof(path), "%s/err.%llu", st->spill_dir,
             (unsigned long long)pool_index);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return;
    /* The output goes first; a failure there is the run's, with its
     * errno (lost by then, it was said as EIO at the end). */
    if (fflush(st->out) != 0 && st->write_errno == 0)
        st->write_errno = errno;
    progress_erase(st);
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (st->hooks != NULL && st->hooks->write != NULL)
            st->hooks->write(st->hooks->user, stderr, r, buf, (size_t)n,
                             first);
        else
            fwrite(buf, 1, (size_t)n, stderr);
        cli_stderr_wrote(buf, (size_t)n);
        first = false;
    }
    fflush(stderr);
    close(fd);
    unlink(path);
}

/* Does the job's plugin write raw bytes (MPROC_PLUGIN_RAW_OUTPUT)? */
static bool
plugin_raw(const struct mproc__job *job)
{
    struct mproc__plugin *p = NULL;
    mproc_err_t err;
    bool raw;

    /* The pool holds the plugin open: this only finds it again. */
    raw = cli_plugin_open(&p, job->plugin, &err) == 0 &&
          (p->desc->flags & MPROC_PLUGIN_RAW_OUTPUT) != 0;
    mproc__plugin_close(p);
    return raw;
}

/* The line that names a failed (or stopped) item and says why; nothing
 * once the output's reader is gone and the run ends by SIGPIPE (the jobs
 * its stop killed are not news: a filter says nothing), nor when the
 * caller keeps quiet. */
static void
say_failed(struct run_state *st, const struct mproc_result *r, uint64_t index)
{
    char item[128];

    /* The job's last lines first (--line-buffer: its unfinished stderr
     * line goes out at its end frame, which comes before its result):
     * asked only, the line saying it failed came first now and then. */
    side_flush(st, CLI_FLUSH_WAIT);
    if (st->write_errno == EPIPE)
        return;
    progress_erase(st);
    {
        const char *t = st->hooks != NULL && st->hooks->item != NULL
                            ? st->hooks->item(st->hooks->user, r)
                            : NULL;

        if (t != NULL)
            quote_item(t, strlen(t), item, sizeof(item));
        else
            quote_item(r->item, r->item_len, item, sizeof(item));
    }
    {
        /* The reason may carry the item's bytes (a plugin's message, a
         * command's stderr): control bytes are written as \xHH, as in
         * the item, so that input cannot drive the terminal (escape
         * sequences).  Newlines and tabs stay: a backtrace is lines. */
        const char *m = r->message != NULL ? r->message : "";
        size_t cap = 8 * strlen(m) + 1;
        char *safe = malloc(cap);

        if (safe != NULL)
            mproc__esc_ctl(safe, cap, m, true);
        cli_error("item %llu \"%s\": %s", (unsigned long long)index, item,
                  safe != NULL ? safe : "(out of memory)");
        free(safe);
    }
}

static int
on_result(void *user, const struct mproc_result *r)
{
    struct run_state *st = user;
    uint64_t local = cli_joblog_input_index(st->log, r->index);
    uint64_t index = cli_shard_global(&st->sh, local);
    /* The caller's hooks see the item's place in the whole input (after
     * --resume skipped some, the pool numbers only those it runs). */
    struct mproc_result hr = *r;
    uint64_t pool_index = r->index; /* the exec plugin's err.INDEX */
    int64_t off;
    int w;

    hr.index = index;
    r = &hr;
    /* The log could not be written (a full disk): no result from now on
     * can be logged, so a resume runs it again.  Stop here, its output
     * unwritten, as for a broken output: going on would write every
     * later item's output unlogged, and to standard output (which a
     * resume cannot cut back) a second time when it is resumed. */
    if (cli_joblog_error(st->log) != 0) {
        st->cancelled++;
        return 1;
    }
    if (st->hooks != NULL && st->hooks->skip != NULL &&
        st->hooks->skip(st->hooks->user, r)) {
        st->cancelled++; /* not logged: a resume runs it */
        return 0;
    }
    if (r->attempts > 1)
        st->retried += r->attempts - 1;
    if (r->status != 0) /* ok items: once written */
        cli_joblog_write(st->log, local, r, -1, -1);
    cli_debug_result(index, r); /* a quarantined item: its record */
    if (r->status == MPROC_ECANCELED) {
        bool held = r->message != NULL &&
                    strncmp(r->message, MPROC__HELD_FAILED,
                            strlen(MPROC__HELD_FAILED)) == 0;

        /* A failure held back (ordered, after an item that did not run)
         * is counted as one, though not logged: the summary said "0
         * failed" right under it. */
        if (held)
            st->failed++;
        else
            st->cancelled++;
        /* Not run to its end, or (ordered) failed after one that was
         * not, and not logged (a resume runs it), but it had begun: the
         * user hears of it (its output is lost). */
        if (held || (r->message != NULL &&
                     strncmp(r->message, MPROC__STOPPED_RUNNING,
                             strlen(MPROC__STOPPED_RUNNING)) == 0))
            say_failed(st, r, index);
        return 0;
    }
    if (r->status != 0) {
        st->failed++;
        /* A failed command's stdout is written as a success's is (as
         * parallel does), before the line that says it failed. */
        if (r->len > 0 && write_item(st, r, index) == -1) {
            st->write_errno = errno;
            return 1;
        }
        err_copy(st, pool_index, r);
        say_failed(st, r, index);
        return 0;
    }
    off = st->out_pos;
    w = write_item(st, r, index);
    if (w == 0)
        err_copy(st, pool_index, r);
    if (w == -2) {
        st->failed++; /* said; not logged: a resume runs it again */
        return 0;
    }
    st->done++;
    if (w < 0) {
        st->write_errno = errno;
        cli_joblog_drop(st->log); /* before logging this item */
        return 1; /* stop the run: the output is broken */
    }
    /* Logged for now in memory: on_idle() commits it once the output
     * holding it is flushed (joblog_sync = item: now). */
    cli_joblog_write(st->log, local, r, st->offsets ? off : -1,
                     st->out_pos - off);
    if (cli_joblog_sync_mode(st->log) == MPROC__SYNC_ITEM) {
        if (fflush(st->out) != 0)
            st->write_errno = errno;
        side_flush(st, CLI_FLUSH_WAIT);
        if (st->write_errno != 0) {
            cli_joblog_drop(st->log);
            return 1;
        }
        cli_joblog_commit(st->log);
    }
    return 0;
}

/* A plugin's reduce runs here, in mproc: a crash there ended mproc with
 * no word of whose it was.  Said now (write() only), then the signal's
 * default action ends the run as before. */
static void
on_reduce_crash(int sig)
{
    const char *path = mproc__pool_in_reduce();
    const char *name = sigabbrev_np(sig);

    if (path != NULL) {
        (void)!write(2, "mproc: plugin ", 14);
        (void)!write(2, path, strlen(path));
        (void)!write(2, ": its reduce crashed (SIG", 25);
        (void)!write(2, name != NULL ? name : "?", name != NULL ? strlen(name)
                                                               : 1);
        (void)!write(2, "); the run is lost\n", 19);
    }
    raise(sig); /* SA_RESETHAND: the default action now */
}

static void
catch_reduce_crash(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_reduce_crash;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

/* mproc exec's --halt sees every result after it is written. */
static int
on_result_hooked(void *user, const struct mproc_result *r)
{
    struct run_state *st = user;
    int stop = on_result(user, r);
    struct mproc_result hr = *r;

    /* As on_result() shows it to the hooks: its place in the input. */
    hr.index = cli_shard_global(&st->sh,
                                cli_joblog_input_index(st->log, r->index));
    if (stop == 0 && st->hooks != NULL && st->hooks->result != NULL &&
        st->hooks->result(st->hooks->user, &hr) != 0) {
        st->halted = true;
        stop = 1;
    }
    return stop;
}

static int
open_output(const char *path, struct run_state *st, bool append)
{
    struct stat sb;
    int rc;

    st->out = stdout;
    st->out_name = "stdout";
    if (path == NULL)
        return 0;
    st->out_name = path;
    rc = cli_open_write(path, "output", append, &st->out);
    /* Offsets in the file, for the job log: from its size when appended. */
    if (rc == 0 && fstat(fileno(st->out), &sb) == 0 && S_ISREG(sb.st_mode)) {
        st->offsets = true;
        st->out_pos = (int64_t)sb.st_size;
    }
    return rc;
}

/* PATH.shard-K-of-N for a shard's output and log (NULL: none); *owned
 * is what to free. */
static const char *
shard_path(const struct cli_shard *sh, const char *path, char **owned)
{
    *owned = NULL;
    if (path == NULL || sh->n == 0)
        return path;
    if (asprintf(owned, "%s.shard-%llu-of-%llu", path,
                 (unsigned long long)sh->k, (unsigned long long)sh->n) < 0) {
        *owned = NULL;
        return NULL;
    }
    return *owned;
}

/*
 * --resume: cut the output back to the end of the last output the log
 * records (a kill -9 may leave output whose line never reached the
 * log), so the resumed output equals a clean run's.  0, or an exit
 * status after printing why.
 */
static int
cut_output(const char *out, const struct cli_joblog *log)
{
    uint64_t end;
    struct stat sb;

    if (out == NULL || !cli_joblog_out_end(log, &end))
        return 0;
    if (stat(out, &sb) != 0) {
        /* Removed by the user: the new output holds the items run now. */
        if (errno == ENOENT && end > 0)
            cli_error("warning: --resume: output %s is missing (the joblog "
                      "records %llu bytes there); it will hold only the "
                      "items run now", out, (unsigned long long)end);
        return 0;
    }
    if (!S_ISREG(sb.st_mode))
        return 0;
    if ((uint64_t)sb.st_size < end) {
        cli_error("--resume: output %s holds %lld bytes, less than the %llu "
                  "its joblog records (written without joblog_sync before "
                  "a crash of the machine?); run the job again", out,
                  (long long)sb.st_size, (unsigned long long)end);
        return CLI_EXIT_CONFIG;
    }
    if ((uint64_t)sb.st_size > end && truncate(out, (off_t)end) != 0) {
        cli_error("--resume: output %s: cannot cut it back to %llu bytes: "
                  "%s", out, (unsigned long long)end, strerror(errno));
        return CLI_EXIT_IOERR;
    }
    return 0;
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
         * other filters do, by SIGPIPE, once the run has cleaned up after
         * itself (main() raises it). */
        return CLI_EXIT_SIGPIPE;
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
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        cli_error("cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    cli_catch_signals(on_signal);
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
    /* In nanoseconds: a rate from milliseconds came out in steps on
     * short runs (2000 items: 1000000.0, 2000000.0, 666666.7/s). */
    double wall = (double)(mproc__now_ns() - st->start_ns) / 1e9;
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
                "\"items_per_second\": %.1f, \"quarantined\": %llu}\n",
                items, st->done, st->failed, st->retried, notrun,
                st->skipped, workers, wall, rate, cli_debug_quarantined());
        return;
    }
    if (known)
        fprintf(stderr, "mproc: %s item%s: ", items,
                strcmp(items, "1") == 0 ? "" : "s");
    else
        fprintf(stderr, "mproc: items: ");
    fprintf(stderr, "%llu succeeded, %llu failed, %llu retries", st->done,
            st->failed, st->retried);
    if (!known || nrun_not != 0)
        fprintf(stderr, ", %s",
                not_run_text(st, known, nrun_not, text, sizeof(text)));
    if (st->skipped > 0)
        fprintf(stderr, ", %llu skipped (done before)", st->skipped);
    if (cli_debug_quarantined() > 0)
        fprintf(stderr, ", %llu quarantined", cli_debug_quarantined());
    fprintf(stderr, "; %.2fs, %.0f items/s\n", wall, rate);
}

int
cmd_run(int argc, char **argv)
{
    struct cli_job cj = {0};
    struct cli_args args;
    int rc;

    rc = cli_args_parse(&args, argc, argv, run_usage, true);
    if (rc >= 0)
        return rc;
    rc = cli_job_load(&cj, args.path, args.sets, args.nsets);
    /* launcher = mpi: ranks > 0 are node agents (framework/mpi). */
    if (rc == 0 && (rc = cli_mpi_start(&cj)) < 0)
        rc = cli_mpi_finish(cli_run(&cj, &args, NULL, NULL));
    cli_job_free(&cj);
    cli_args_free(&args);
    return rc;
}

int
cli_run(struct cli_job *job, const struct cli_args *a, struct cli_input *own,
        const struct cli_run_hooks *hooks)
{
    struct run_state st = {.stdout_keep = -1};
    bool reduce_failed = false, log_failed;
    struct cli_job cj = *job;
    struct cli_args args = *a;
    struct cli_input *in = own;
    char *out_owned = NULL, *log_owned = NULL;
    const char *out_path, *log_path;
    mproc_pool_t *pool = NULL;
    struct mproc__sigpipe_hold hold;
    mproc_sync_t *shared = NULL;
    struct mproc__mgrjob *mgr = NULL;
    mproc_err_t merr = {0, ""};
    unsigned long long nrun_not;
    bool known;
    unsigned workers = 0;
    char num[4200];
    const char *nr;
    int r, rc;

    st.hooks = hooks;
    rc = CLI_EXIT_SOFTWARE;
    if (install_signals() < 0)
        goto done;
    rc = cli_shared_new(&cj, &shared);
    if (rc != 0)
        goto done;
    /* [manager]: reached (or started) before any worker, so that a wrong
     * address or key fails the run before a task runs. */
    if (mproc__mgrjob_open(mproc__config_manager(cj.cfg), &mgr, &merr) < 0) {
        cli_error("%s", merr.msg);
        rc = CLI_EXIT_CONFIG;
        goto done;
    }
    if (in == NULL) {
        rc = cli_input_shardable(&cj);
        if (rc == 0)
            rc = cli_input_open(&in, cj.job, false);
        if (rc != 0)
            goto done;
    }
    rc = cli_input_shard(in, cj.job, args.joblog != NULL, &st.sh);
    if (rc != 0)
        goto done;
    st.sh.job_hash = cj.hash;
    st.sh.set_hash = cj.set_hash;
    out_path = shard_path(&st.sh, cj.job->output, &out_owned);
    log_path = shard_path(&st.sh, args.joblog, &log_owned);
    rc = CLI_EXIT_SOFTWARE;
    if ((out_path == NULL) != (cj.job->output == NULL) ||
        (log_path == NULL) != (args.joblog == NULL)) {
        cli_error("out of memory");
        goto done;
    }
    rc = cli_paths_clash(cj.path,
                         cj.job->input_kind == MPROC__INPUT_LINES
                             ? cj.job->input_path
                             : NULL,
                         out_path, log_path, args.quarantine, args.slowlog);
    if (rc == 0)
        rc = cli_output_not_input(
            in, out_path, mproc_config_where(cj.cfg, "job", "output"));
    if (rc != 0)
        goto done;
    rc = cli_debug_open(&args, cj.path); /* before the pool reads it */
    if (rc != 0)
        goto done;
    rc = cli_pool_new(&cj, shared, &pool, sig_pipe[0], cli_input_fd(in),
                      on_idle);
    if (rc != 0)
        goto done;
    mproc__pool_set_total(pool, cli_input_total(in)); /* chunksize auto */
    st.reduce = mproc_pool_has_reduce(pool);
    if (st.reduce)
        catch_reduce_crash();
    st.output_mode = cj.job->output_mode;
    {
        /* The exec plugin kills a command that ignores the time limit's
         * SIGTERM before this grace ends, to report its output. */
        char g[24];

        snprintf(g, sizeof(g), "%u", cj.job->timeout_grace_ms);
        setenv("MPROC_TIMEOUT_GRACE_MS", g, 1);
    }
    if (st.output_mode == MPROC__OUTPUT_AUTO || !st.reduce) {
        bool raw = plugin_raw(cj.job);

        if (st.output_mode == MPROC__OUTPUT_AUTO)
            st.output_mode = raw ? MPROC__OUTPUT_RAW : MPROC__OUTPUT_RECORDS;
        if (raw && !st.reduce) {
            const char *em = mproc_config_get(cj.cfg, "args", "stderr");

            /* Before the workers start: they inherit it. */
            rc = spill_open(&st);
            if (rc != 0)
                goto done;
            st.err_after = st.spill_dir != NULL && em != NULL &&
                           strcmp(em, "after") == 0;
        }
    }
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
        rc = cli_joblog_open(&st.log, log_path, args.resume, &st.sh);
        if (rc == 0 && args.resume)
            rc = cut_output(out_path, st.log);
        if (rc != 0)
            goto done;
    }
    rc = open_output(out_path, &st, args.resume);
    if (rc != 0)
        goto done;
    /* reduce and reduce_end run here: while they may, descriptor 1 is
     * stderr, and the results go through a copy of the real one. */
    if (st.reduce && st.out == stdout &&
        (st.stdout_keep = cli_stdout_guard()) >= 0) {
        int fd = fcntl(st.stdout_keep, F_DUPFD_CLOEXEC, 3);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

        if (f != NULL)
            st.out = f;
        else if (fd >= 0)
            close(fd);
    }
    cli_joblog_set_sync(st.log, cj.job->joblog_sync, fileno(st.out));
    st.in = in;
    st.total = cli_input_total(in);
    st.tty = isatty(STDERR_FILENO);
    st.out_tty = isatty(fileno(st.out));
    st.progress = args.progress || (!args.quiet && st.tty);
    st.interval_ms = st.progress ? progress_interval(st.tty) : 0;
    st.start_ms = mproc__now_ms();
    st.start_ns = mproc__now_ns();
    st.last_ms = st.start_ms; /* a first line once there is a rate */
    pthread_mutex_lock(&progress_mu);
    progress_run = &st;
    pthread_mutex_unlock(&progress_mu);

    if (cli_mpi_host()) /* the items run on the MPI ranks > 0 */
        r = cli_mpi_host_run(pool, cj.job, sig_pipe[0], cli_input_fd(in),
                             on_idle, next_item, on_result_hooked, &st);
    else
        r = mproc_pool_run(pool, next_item, on_result_hooked, &st);
    progress(&st, true);
    side_flush(&st, CLI_FLUSH_FINAL);

    /* From here the output is written outside the pool's run, which
     * blocks SIGPIPE: a reader gone must be an EPIPE here too, so that the
     * run cleans up before it ends by SIGPIPE (close_output). */
    mproc__sigpipe_hold(&hold);
    if (r == 0 && st.reduce) {
        const void *data;
        size_t len;
        if (mproc_pool_reduce_output(pool, &data, &len) < 0) {
            cli_error("%s", cli_esc(mproc_pool_errmsg(pool)));
            reduce_failed = true;
        } else if (fwrite(data, 1, len, st.out) != len) {
            st.write_errno = errno;
        }
    }
    /* joblog_sync: the output reaches the disk before the last lines of
     * the log; close_output() closes the descriptor the log would sync. */
    if (cli_joblog_sync_mode(st.log) != MPROC__SYNC_NONE &&
        fflush(st.out) == 0)
        fdatasync(fileno(st.out));
    cli_joblog_set_sync(st.log, cli_joblog_sync_mode(st.log), -1);
    rc = close_output(&st);
    cli_stdout_unguard(st.stdout_keep);
    st.stdout_keep = -1;
    mproc__sigpipe_release(&hold);
    log_failed = cli_joblog_error(st.log) != 0;
    if (rc == 0) {
        cli_joblog_commit(st.log); /* every output is on disk */
        rc = cli_joblog_close(st.log);
        st.log = NULL;
    }
    known = not_run(&st, &nrun_not);
    nr = not_run_text(&st, known, nrun_not, num, sizeof(num));
    if (rc != 0 && log_failed) {
        /* The log said why; the run stopped at it (on_result): what was
         * done, and what to do. */
        cli_error("the run stopped when its job log could not be written: "
                  "%llu item%s done, %llu failed, %s; once the log can be "
                  "written, run again with --resume",
                  st.done, st.done == 1 ? "" : "s", st.failed, nr);
    } else if (rc != 0) {
        /* The output or the log failed, and said so: that is the status,
         * and the counts still follow. */
    } else if (got_signal) {
        cli_error("interrupted by SIG%s: %llu item%s done, %llu failed, %s",
                  sigabbrev_np(got_signal), st.done, st.done == 1 ? "" : "s",
                  st.failed, nr);
        rc = CLI_EXIT_INTERRUPTED;
    } else if (r == MPROC_EINIT) {
        cli_error("%s", cli_esc(mproc_pool_errmsg(pool)));
        rc = CLI_EXIT_CONFIG;
    } else if (cli_input_failed(in)) {
        rc = CLI_EXIT_NOINPUT;
    } else if (st.skip_error) {
        rc = CLI_EXIT_CONFIG;
    } else if (r == MPROC_ECANCELED && st.halted) {
        rc = CLI_EXIT_FAILED; /* the hook said why */
    } else if (r == MPROC_ECANCELED) {
        cli_error("run aborted after the first failure (on_error = abort): "
                  "%llu item%s done, %llu failed, %s",
                  st.done, st.done == 1 ? "" : "s", st.failed, nr);
        rc = CLI_EXIT_FAILED;
    } else if (r < 0) {
        cli_error("run failed: %s",
                  mproc_pool_errmsg(pool)[0]
                      ? cli_esc(mproc_pool_errmsg(pool))
                      : mproc_strerror(r));
        rc = CLI_EXIT_SOFTWARE;
    } else if (st.failed > 0) {
        if (hooks == NULL)
            cli_error("%llu of %llu items failed", st.failed,
                      st.failed + st.done);
        cli_debug_report();
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
    if (hooks != NULL && hooks->status != NULL && rc != CLI_EXIT_SIGPIPE)
        rc = hooks->status(hooks->user, rc, st.failed);

done:
    cli_stdout_unguard(st.stdout_keep); /* a run that failed on the way */
    pthread_mutex_lock(&progress_mu);
    progress_run = NULL;
    pthread_mutex_unlock(&progress_mu);
    r = cli_debug_close();
    if (r != 0 && (rc == CLI_EXIT_OK || rc == CLI_EXIT_FAILED))
        rc = r;
    cli_joblog_close(st.log);
    mproc_pool_free(pool);
    mproc__mgrjob_close(mgr); /* after the workers: they may use it */
    spill_close(&st); /* the workers are gone */
    mproc_sync_free(shared);
    if (in != own)
        cli_input_close(in);
    free(out_owned);
    free(log_owned);
    return rc;
}

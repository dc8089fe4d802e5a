/* SPDX-License-Identifier: MIT */
/*
 * `mproc merge`: join the outputs of the N shards of a job (`mproc run
 * --shard K/N`) into the output of one run over the whole input.
 *
 * Every shard's job log (format 2) is read first: its header must name
 * the shard K/N expected, and all must agree on the input (its item count
 * and hash) and the shard mode, and name this merge's job (cli_job's
 * hash: the job file and the --set options that count).  Each shard's
 * output must end exactly where the last output its log records ends,
 * and -o must not be one of the files the merge reads.  Every index
 * 0..total-1 must be logged ok by exactly one shard; indexes that are
 * missing or only failed are listed and nothing is written (exit 1).
 * Then:
 *
 * - ordered jobs: each item's output is copied from its shard's output,
 *   at the offset and length the log records, in input order (a resumed
 *   shard appends its re-runs out of order: the offsets put them back);
 * - unordered jobs: the shards' outputs are concatenated;
 * - reducing plugins: each shard's output (its reduce_end result) goes
 *   through the plugin's reduce again, and reduce_end makes the merged
 *   output; the plugin must say that its reduce takes its own final
 *   output (MPROC_REDUCE_OWN_OUTPUT, plugin ABI 1.3).
 *
 * The merged job log (the base name of the shards' logs) holds every
 * index once, in input order, with the offsets of the merged output.
 */
#include "internal.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "plugin/plugin_int.h"
#include "util/buf_int.h"

static const char merge_usage[] =
    "Usage: mproc merge JOB.ini --shards N --joblog LOG [-o FILE]\n"
    "          [--set SECTION.KEY=VALUE]...\n"
    "Join the outputs of the N shards of a job (mproc run --shard K/N) into\n"
    "the output of one run over the whole input.\n"
    "\n"
    "  -n, --shards N       the job ran as N shards: reads OUTPUT.shard-K-of-N\n"
    "                       and LOG.shard-K-of-N for K = 0..N-1\n"
    "  -j, --joblog LOG     the shards' --joblog; the merged log goes to LOG\n"
    "  -o, --output FILE    write the merged output there (default: the\n"
    "                       job's output)\n"
    "  -s, --set SECTION.KEY=VALUE  as for mproc run\n"
    "  -h, --help           show this help\n"
    "\n"
    "Ordered jobs are put back in input order with the offsets the logs\n"
    "record; unordered ones are concatenated; a reducing plugin (wordcount)\n"
    "folds the shards' outputs through its reduce.  Every item must be\n"
    "logged ok by exactly one shard: missing and failed items are listed\n"
    "and nothing is written.\n"
    "The shards' logs must name this merge's job (the job file and the\n"
    "--set options that decide the output), and each shard's output must\n"
    "end exactly where its log's last output ends.\n"
    "Exit status: 0 merged, 1 items missing or failed, 64 usage error (or\n"
    "-o names a file the merge reads), 66 a shard's file is missing, 78 the\n"
    "logs disagree, a shard ran another job or its output is not its log's,\n"
    "or the plugin cannot merge, 74 a write error.\n";

/* What the logs say of one input item. */
struct slot {
    int32_t shard;  /* the shard that logged it ok; -1: none */
    int32_t failed; /* a shard logged it failed; -1: none */
    size_t ent;     /* its entry in that shard's log */
};

struct merge {
    const char *path;   /* the job file */
    const char *out;    /* merged output */
    const char *base;   /* the job's output: shards wrote BASE.shard-K-of-N */
    const char *log;    /* base name of the logs */
    uint64_t n;
    struct cli_job cj;
    struct cli_joblog **logs;
    char **outs;        /* the shards' outputs */
    struct slot *slot;
    uint64_t total;
    int mode;
};

static char *
shard_name(const char *base, uint64_t k, uint64_t n)
{
    char *s;

    if (asprintf(&s, "%s.shard-%llu-of-%llu", base, (unsigned long long)k,
                 (unsigned long long)n) < 0)
        return NULL;
    return s;
}

/* Read every shard's log and check they are the N shards of one input. */
static int
read_logs(struct merge *m)
{
    const struct cli_shard *sh, *first = NULL;
    char *name;
    uint64_t k;
    int rc;

    for (k = 0; k < m->n; k++) {
        if ((name = shard_name(m->log, k, m->n)) == NULL)
            goto nomem;
        if (access(name, F_OK) != 0) {
            cli_error("shard %llu/%llu: its joblog %s: %s (did the shard "
                      "run, with --joblog %s?)", (unsigned long long)k,
                      (unsigned long long)m->n, name, strerror(errno),
                      m->log);
            free(name);
            return CLI_EXIT_NOINPUT;
        }
        rc = cli_joblog_load(name, &m->logs[k]);
        if (rc != 0) {
            free(name);
            return rc;
        }
        sh = cli_joblog_shard(m->logs[k]);
        if (sh->n != m->n || sh->k != k) {
            cli_error("joblog %s: is the log of shard %llu/%llu, expected "
                      "%llu/%llu", name, (unsigned long long)sh->k,
                      (unsigned long long)sh->n, (unsigned long long)k,
                      (unsigned long long)m->n);
            free(name);
            return CLI_EXIT_CONFIG;
        }
        if (first == NULL) {
            first = sh;
        } else if (sh->total != first->total ||
                   sh->input_hash != first->input_hash ||
                   sh->mode != first->mode) {
            cli_error("joblog %s: shard %llu ran over another input or "
                      "shard mode than shard 0 (%s, %s items, input hash "
                      "%016llx; shard 0: %s, input hash %016llx); run the "
                      "shards of one job file", name,
                      (unsigned long long)k, cli_joblog_mode_name(sh->mode),
                      sh->total == CLI_TOTAL_UNKNOWN ? "?" : "known",
                      (unsigned long long)sh->input_hash,
                      cli_joblog_mode_name(first->mode),
                      (unsigned long long)first->input_hash);
            free(name);
            return CLI_EXIT_CONFIG;
        }
        /* Other --set options than the merge's: the outputs are those
         * of another job (another command, or files the merge does not
         * read).  An edited job file only warns, as --resume does: fixing
         * it and resuming the failed items is how a shard is mended. */
        if (sh->set_hash != m->cj.set_hash) {
            cli_error("joblog %s: shard %llu/%llu ran with other --set "
                      "options than this merge's (those of [job] plugin, "
                      "task, input, output, output_mode, ordered, "
                      "message_max, [args] and shared objects count); merge "
                      "with the --set options the shards ran with, as they "
                      "were written, or run that shard again", name,
                      (unsigned long long)k, (unsigned long long)m->n);
            free(name);
            return CLI_EXIT_CONFIG;
        }
        if (sh->job_hash != first->job_hash)
            cli_error("warning: joblog %s: shard %llu ran another version "
                      "of the job file than shard 0", name,
                      (unsigned long long)k);
        free(name);
    }
    m->total = first->total;
    m->mode = first->mode;
    if (m->total == CLI_TOTAL_UNKNOWN) {
        cli_error("joblog %s: the input's size is unknown", m->log);
        return CLI_EXIT_CONFIG;
    }
    return 0;

nomem:
    cli_error("out of memory");
    return CLI_EXIT_SOFTWARE;
}

/* Say which items are missing or failed, up to 10 of each. */
static void
list_bad(const struct merge *m, bool failed, uint64_t count)
{
    char buf[256];
    size_t len = 0;
    uint64_t i, shown = 0;

    buf[0] = '\0';
    for (i = 0; i < m->total && shown < 10; i++) {
        if (m->slot[i].shard >= 0 || (m->slot[i].failed >= 0) != failed)
            continue;
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%llu",
                                shown ? ", " : "", (unsigned long long)i);
        shown++;
    }
    cli_error("%llu item%s %s: %s%s", (unsigned long long)count,
              count == 1 ? "" : "s",
              failed ? "failed (resume their shards with --resume)"
                     : "missing (not logged by any shard)",
              buf, count > shown ? ", ..." : "");
}

/* Fill m->slot from the logs: 0, or an exit status after printing why. */
static int
index_logs(struct merge *m)
{
    const struct cli_joblog_entry *e;
    uint64_t k, local, missing = 0, failed = 0, i;
    size_t ne, x;

    if (m->total > SIZE_MAX / sizeof(*m->slot) ||
        (m->slot = malloc((size_t)(m->total ? m->total : 1) *
                          sizeof(*m->slot))) == NULL) {
        cli_error("out of memory for %llu items",
                  (unsigned long long)m->total);
        return CLI_EXIT_SOFTWARE;
    }
    for (i = 0; i < m->total; i++)
        m->slot[i] = (struct slot){-1, -1, 0};
    for (k = 0; k < m->n; k++) {
        ne = cli_joblog_entries(m->logs[k], &e);
        for (x = 0; x < ne; x++) {
            struct slot *s;
            if (e[x].index >= m->total ||
                !cli_shard_local(cli_joblog_shard(m->logs[k]), e[x].index,
                                 &local)) {
                cli_error("joblog %s.shard-%llu-of-%llu: logs item %llu, "
                          "which is not shard %llu's (overlapping shards, "
                          "or a log of another N?)", m->log,
                          (unsigned long long)k, (unsigned long long)m->n,
                          (unsigned long long)e[x].index,
                          (unsigned long long)k);
                return CLI_EXIT_CONFIG;
            }
            s = &m->slot[e[x].index];
            if (!e[x].ok) {
                if (s->shard < 0) {
                    s->failed = (int32_t)k;
                    s->ent = x;
                }
                continue;
            }
            if (s->shard >= 0) {
                cli_error("joblog %s.shard-%llu-of-%llu: item %llu is "
                          "logged ok twice (shards %d and %llu): its output "
                          "would be there twice", m->log,
                          (unsigned long long)k, (unsigned long long)m->n,
                          (unsigned long long)e[x].index, s->shard,
                          (unsigned long long)k);
                return CLI_EXIT_CONFIG;
            }
            if (e[x].off < 0 && !m->cj.job->ordered) {
                /* concatenated: the offset is not needed */
            } else if (e[x].off < 0) {
                cli_error("joblog %s.shard-%llu-of-%llu: item %llu has no "
                          "output offset (was the output stdout?)",
                          m->log, (unsigned long long)k,
                          (unsigned long long)m->n,
                          (unsigned long long)e[x].index);
                return CLI_EXIT_CONFIG;
            }
            s->shard = (int32_t)k;
            s->ent = x;
        }
    }
    for (i = 0; i < m->total; i++) {
        if (m->slot[i].shard >= 0)
            continue;
        if (m->slot[i].failed >= 0)
            failed++;
        else
            missing++;
    }
    if (missing > 0)
        list_bad(m, false, missing);
    if (failed > 0)
        list_bad(m, true, failed);
    if (missing > 0 || failed > 0) {
        cli_error("not merged: %llu of %llu items have no output; nothing "
                  "written", (unsigned long long)(missing + failed),
                  (unsigned long long)m->total);
        return CLI_EXIT_FAILED;
    }
    return 0;
}

/* Open the shards' outputs, for reading. */
static int
open_outputs(struct merge *m, int *fds)
{
    uint64_t k;
    int rc;

    for (k = 0; k < m->n; k++) {
        if ((m->outs[k] = shard_name(m->base, k, m->n)) == NULL) {
            cli_error("out of memory");
            return CLI_EXIT_SOFTWARE;
        }
        rc = cli_open_read(m->outs[k], "shard output", false, &fds[k]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/*
 * Each shard's output holds exactly what its log accounts for: it ends
 * where the last output the log records ends (offset + length), no
 * sooner, no later.  Bytes before that end that no ok item owns are
 * those of failed attempts a resume left behind, and are skipped; bytes
 * past it are not the log's (another run wrote the file, something
 * wrote to it since, or a crash came between an output and its log
 * line), and copying them would mix another run's records in.  0, or
 * an exit status after printing why.
 */
static int
check_sizes(const struct merge *m, const int *fds)
{
    const struct cli_joblog_entry *e;
    struct stat sb;
    uint64_t k, end;
    size_t ne, x;

    for (k = 0; k < m->n; k++) {
        ne = cli_joblog_entries(m->logs[k], &e);
        end = 0;
        for (x = 0; x < ne; x++) {
            if (!e[x].ok)
                continue;
            if (e[x].off < 0)
                break; /* unordered to a pipe: nothing to check against */
            if ((uint64_t)(e[x].off + e[x].len) > end)
                end = (uint64_t)(e[x].off + e[x].len);
        }
        if (x < ne || fstat(fds[k], &sb) != 0 || !S_ISREG(sb.st_mode) ||
            (uint64_t)sb.st_size == end)
            continue;
        if ((uint64_t)sb.st_size < end)
            cli_error("shard output %s holds %lld bytes, less than the %llu "
                      "its joblog %s.shard-%llu-of-%llu records (cut short, "
                      "or written by another run); run that shard again, "
                      "without --resume", m->outs[k], (long long)sb.st_size,
                      (unsigned long long)end, m->log, (unsigned long long)k,
                      (unsigned long long)m->n);
        else
            cli_error("shard output %s holds %lld bytes, more than the %llu "
                      "its joblog %s.shard-%llu-of-%llu records (another run "
                      "wrote it, or the shard crashed between an output and "
                      "its log line); run that shard again without --resume "
                      "(after a crash: with --resume, which cuts the output "
                      "back to its log)",
                      m->outs[k], (long long)sb.st_size,
                      (unsigned long long)end, m->log, (unsigned long long)k,
                      (unsigned long long)m->n);
        return CLI_EXIT_CONFIG;
    }
    return 0;
}

/*
 * The output must be none of the files the merge reads, nor the merged
 * log: it is renamed over its path once whole, and the input it named
 * would be gone (a later merge then copies the merged bytes at the
 * shard's offsets).  0, or an exit status after printing why.
 */
static int
check_output(const struct merge *m)
{
    const char *what[] = {"the joblog of shard", "the output of shard"};
    const char *base[] = {m->log, m->base};
    char *name;
    uint64_t k;
    int w;

    if (cli_same_file(m->out, m->path) || cli_same_file(m->out, m->log)) {
        cli_error("merge: output %s is also %s %s: writing it would destroy "
                  "it; give -o another file", m->out,
                  cli_same_file(m->out, m->path) ? "the job file"
                                                 : "the merged joblog",
                  cli_same_file(m->out, m->path) ? m->path : m->log);
        return CLI_EXIT_USAGE;
    }
    for (k = 0; k < m->n; k++) {
        for (w = 0; w < 2; w++) {
            if ((name = shard_name(base[w], k, m->n)) == NULL) {
                cli_error("out of memory");
                return CLI_EXIT_SOFTWARE;
            }
            if (cli_same_file(m->out, name)) {
                cli_error("merge: output %s is also %s %llu/%llu (%s), "
                          "which the merge reads: writing it would destroy "
                          "it; give -o another file", m->out, what[w],
                          (unsigned long long)k, (unsigned long long)m->n,
                          name);
                free(name);
                return CLI_EXIT_USAGE;
            }
            free(name);
        }
    }
    return 0;
}

/* Copy len bytes at off of fd to f: 0, or -1 (errno set; EIO: the file
 * is shorter than its log says). */
static int
copy_range(int fd, int64_t off, int64_t len, FILE *f)
{
    char buf[65536];
    ssize_t got;

    while (len > 0) {
        got = pread(fd, buf, len < (int64_t)sizeof(buf) ? (size_t)len
                                                        : sizeof(buf),
                    off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0)
                errno = EIO;
            return -1;
        }
        if (fwrite(buf, 1, (size_t)got, f) != (size_t)got)
            return -1;
        off += got;
        len -= got;
    }
    return 0;
}

/* Ordered: every item's bytes in input order, a run of consecutive
 * bytes of one shard copied at once.  *where[i]: the item's merged
 * offset, for the log. */
static int
write_ordered(struct merge *m, const int *fds, FILE *f, int64_t *where)
{
    const struct cli_joblog_entry *e;
    int64_t pos = 0, run_off = 0, run_len = 0;
    int run_shard = -1;
    uint64_t i;

    for (i = 0; i < m->total; i++) {
        const struct slot *s = &m->slot[i];
        cli_joblog_entries(m->logs[s->shard], &e);
        where[i] = pos;
        pos += e[s->ent].len;
        if (s->shard == run_shard && e[s->ent].off == run_off + run_len) {
            run_len += e[s->ent].len;
            continue;
        }
        if (run_shard >= 0 && copy_range(fds[run_shard], run_off, run_len,
                                         f) < 0)
            return run_shard;
        run_shard = s->shard;
        run_off = e[s->ent].off;
        run_len = e[s->ent].len;
    }
    if (run_shard >= 0 && copy_range(fds[run_shard], run_off, run_len, f) < 0)
        return run_shard;
    return -1;
}

/* Read a whole file into *data (malloc'ed): 0, or -1 with errno. */
static int
slurp(int fd, char **data, size_t *len)
{
    struct stat sb;
    size_t got = 0;
    ssize_t r;

    *data = NULL;
    if (fstat(fd, &sb) != 0)
        return -1;
    if ((*data = malloc((size_t)sb.st_size + 1)) == NULL)
        return -1;
    while (got < (size_t)sb.st_size) {
        r = pread(fd, *data + got, (size_t)sb.st_size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    *len = got;
    return 0;
}

/* A reducing plugin: fold each shard's output through reduce. */
static int
write_reduced(struct merge *m, const int *fds, FILE *f)
{
    struct mproc__plugin *p = NULL;
    struct mproc__ctx_priv priv;
    struct mproc_ctx ctx;
    struct mproc_buf out;
    const struct mproc_kv *kv;
    const struct mproc_plugin *d;
    mproc_err_t err;
    size_t nargs, len;
    char *data;
    uint64_t k;
    int rc = 0, keep;

    if (cli_plugin_open(&p, m->cj.job->plugin, &err) != 0) {
        cli_error("%s", err.msg);
        return cli_exit_for(err.code);
    }
    d = p->desc;
    nargs = mproc_config_args(m->cj.cfg, &kv);
    mproc__ctx_init(&ctx, &priv, kv, nargs, 1);
    mproc__buf_init(&out, m->cj.job->message_max);
    keep = cli_stdout_guard(); /* the plugin's code runs here */
    for (k = 0; k < m->n && rc == 0; k++) {
        if (slurp(fds[k], &data, &len) != 0) {
            cli_error("shard output %s: %s", m->outs[k], strerror(errno));
            rc = CLI_EXIT_NOINPUT;
            break;
        }
        mproc__ctx_clear(&ctx);
        if (d->reduce(&ctx, data, len, k) != MPROC_TASK_OK) {
            cli_error("plugin %s: reduce of shard output %s: %s", d->name,
                      m->outs[k], cli_esc(mproc__ctx_msg(&ctx, "failed")));
            rc = CLI_EXIT_FAILED;
        }
        free(data);
    }
    /* reduce_end frees the plugin's state, also after a failure. */
    mproc__ctx_clear(&ctx);
    if (d->reduce_end(&ctx, &out) != MPROC_TASK_OK && rc == 0) {
        cli_error("plugin %s: reduce_end: %s", d->name,
                  cli_esc(mproc__ctx_msg(&ctx, "failed")));
        rc = CLI_EXIT_FAILED;
    }
    cli_stdout_unguard(keep);
    if (rc == 0 && fwrite(out.data, 1, out.len, f) != out.len)
        rc = -1;
    mproc__buf_free(&out);
    mproc__plugin_close(p);
    return rc;
}

/* The plugin reduces: 1 when it can merge, 0 when it does not reduce;
 * else an exit status after printing why. */
static int
plugin_reduces(struct merge *m)
{
    struct mproc__plugin *p = NULL;
    mproc_err_t err;
    int r;

    if (cli_plugin_open(&p, m->cj.job->plugin, &err) != 0) {
        cli_error("%s", err.msg);
        return cli_exit_for(err.code);
    }
    r = p->desc->reduce == NULL ? 0 : 1;
    if (r == 1 &&
        !(mproc__plugin_reduce_flags(p->desc) & MPROC_REDUCE_OWN_OUTPUT)) {
        cli_error("plugin %s reduces its outputs, but does not say that its "
                  "reduce takes its own final output (MPROC_REDUCE_OWN_OUTPUT "
                  "in reduce_flags, plugin ABI 1.3): its shards cannot be "
                  "merged; run the job unsharded", p->desc->name);
        r = CLI_EXIT_CONFIG;
    }
    mproc__plugin_close(p);
    return r;
}

/* The merged job log: every index once, in input order, its offset in
 * the merged output (where NULL: as logged). */
static int
write_log(struct merge *m, const int64_t *where)
{
    const struct cli_shard *sh = cli_joblog_shard(m->logs[0]);
    const struct cli_joblog_entry *e;
    FILE *f;
    uint64_t i;
    int rc;

    rc = cli_open_write(m->log, "joblog", false, &f);
    if (rc != 0)
        return rc;
    fprintf(f, "%smproc-joblog 2 shard=0/1 mode=contiguous total=%llu "
               "input=%016llx job=%016llx",
            cli_joblog_header(), (unsigned long long)m->total,
            (unsigned long long)sh->input_hash,
            (unsigned long long)sh->job_hash);
    cli_joblog_put_sets(f, sh->set_hash);
    for (i = 0; i < m->total; i++) {
        const struct slot *s = &m->slot[i];
        const char *line, *tab;
        cli_joblog_entries(m->logs[s->shard], &e);
        line = e[s->ent].line;
        /* Everything but the offset and length fields, which follow the
         * last two tabs. */
        tab = strrchr(line, '\t');
        while (tab > line && tab[-1] != '\t')
            tab--;
        if (where != NULL && tab > line)
            fprintf(f, "%.*s%lld\t%lld\n", (int)(tab - line), line,
                    (long long)where[i], (long long)e[s->ent].len);
        else
            fprintf(f, "%s\n", line);
    }
    if (fclose(f) != 0) {
        cli_error("joblog %s: write error: %s", m->log, strerror(errno));
        return CLI_EXIT_IOERR;
    }
    return 0;
}

/* Where to write `path` first: a new file beside it, renamed over it once
 * whole, so that a merge that fails leaves the file as it was; NULL when
 * it is not a regular file (a FIFO, a terminal: written as it goes) or
 * out of memory. */
static char *
staged(const char *path)
{
    struct stat sb;
    char *t = NULL;

    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return NULL;
    if (asprintf(&t, "%s.merging-%ld", path, (long)getpid()) < 0)
        return NULL;
    return t;
}

/* The staged file is whole (rc 0): it becomes `path`; else it goes. */
static int
unstage(char *tmp, const char *path, const char *what, int rc)
{
    if (tmp == NULL)
        return rc;
    if (rc == 0 && rename(tmp, path) != 0) {
        cli_error("%s %s: %s", what, path, strerror(errno));
        rc = CLI_EXIT_IOERR;
    }
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

static int
merge(struct merge *m)
{
    int *fds = NULL, rc, bad = -1, reduces;
    int64_t *where = NULL;
    long long t0 = mproc__now_ms();
    FILE *f = NULL;
    uint64_t k;
    char *out_tmp = NULL, *log_tmp = NULL;

    if ((m->logs = calloc((size_t)m->n, sizeof(*m->logs))) == NULL ||
        (m->outs = calloc((size_t)m->n, sizeof(*m->outs))) == NULL ||
        (fds = malloc((size_t)m->n * sizeof(*fds))) == NULL) {
        cli_error("out of memory");
        rc = CLI_EXIT_SOFTWARE;
        goto done;
    }
    for (k = 0; k < m->n; k++)
        fds[k] = -1;
    if ((rc = check_output(m)) != 0 ||
        (rc = reduces = plugin_reduces(m)) > 1 || (rc = read_logs(m)) != 0 ||
        (rc = index_logs(m)) != 0 || (rc = open_outputs(m, fds)) != 0 ||
        (reduces == 0 && (rc = check_sizes(m, fds)) != 0))
        goto done;
    out_tmp = staged(m->out);
    rc = cli_open_write(out_tmp != NULL ? out_tmp : m->out, "output", false,
                        &f);
    if (rc != 0)
        goto done;
    if (reduces == 1) {
        rc = write_reduced(m, fds, f);
    } else if (m->cj.job->ordered) {
        if ((where = malloc((size_t)(m->total ? m->total : 1) *
                            sizeof(*where))) == NULL) {
            cli_error("out of memory");
            rc = CLI_EXIT_SOFTWARE;
            goto done;
        }
        bad = write_ordered(m, fds, f, where);
        rc = bad >= 0 ? -1 : 0;
    } else {
        for (k = 0; k < m->n && rc == 0; k++) {
            struct stat sb;
            if (fstat(fds[k], &sb) != 0 ||
                copy_range(fds[k], 0, sb.st_size, f) < 0) {
                bad = (int)k;
                rc = -1;
            }
        }
    }
    if (rc < 0 && bad >= 0 && errno == EIO) {
        cli_error("shard output %s is shorter than its joblog says; run "
                  "that shard again with --resume", m->outs[bad]);
        rc = CLI_EXIT_CONFIG;
    } else if (rc < 0 && bad >= 0 && ferror(f) == 0) {
        cli_error("shard output %s: %s", m->outs[bad], strerror(errno));
        rc = CLI_EXIT_NOINPUT;
    } else if (rc < 0) {
        cli_error("output %s: write error: %s", m->out, strerror(errno));
        rc = CLI_EXIT_IOERR;
    }
    if (fclose(f) != 0 && rc == 0) {
        cli_error("output %s: write error: %s", m->out, strerror(errno));
        rc = CLI_EXIT_IOERR;
    }
    f = NULL;
    rc = unstage(out_tmp, m->out, "output", rc);
    out_tmp = NULL;
    if (rc == 0) {
        const char *real = m->log;

        log_tmp = staged(m->log);
        if (log_tmp != NULL)
            m->log = log_tmp;
        rc = write_log(m, where);
        m->log = real;
        rc = unstage(log_tmp, m->log, "joblog", rc);
        log_tmp = NULL;
    }
    if (rc == 0)
        fprintf(stderr, "mproc: merged %llu shards, %llu items, into %s "
                        "(%s) in %.3fs\n",
                (unsigned long long)m->n, (unsigned long long)m->total,
                m->out,
                reduces == 1          ? "reduced"
                : m->cj.job->ordered ? "in input order"
                                     : "concatenated",
                (double)(mproc__now_ms() - t0) / 1000.0);

done:
    if (f != NULL)
        fclose(f);
    unstage(out_tmp, m->out, "output", rc != 0 ? rc : -1);
    for (k = 0; fds != NULL && k < m->n; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    for (k = 0; m->logs != NULL && k < m->n; k++)
        cli_joblog_close(m->logs[k]);
    for (k = 0; m->outs != NULL && k < m->n; k++)
        free(m->outs[k]);
    free(m->logs);
    free(m->outs);
    free(m->slot);
    free(where);
    free(fds);
    return rc;
}

int
cmd_merge(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"shards", required_argument, NULL, 'n'},
        {"joblog", required_argument, NULL, 'j'},
        {"output", required_argument, NULL, 'o'},
        {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct merge m = {0};
    char **sets = calloc((size_t)argc + 1, sizeof(*sets)), *end;
    size_t nsets = 0;
    unsigned long long n = 0;
    int c, rc = CLI_EXIT_USAGE;

    if (sets == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_SOFTWARE;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:j:o:s:h", longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'n':
            errno = 0;
            n = strtoull(optarg, &end, 10);
            if (optarg[0] < '1' || optarg[0] > '9' || *end != '\0' ||
                errno != 0 || n > 1000000) {
                cli_error("merge: --shards: expected a number of shards "
                          "from 1 to 1000000, got '%s'", optarg);
                goto usage;
            }
            break;
        case 'j':
            m.log = optarg;
            break;
        case 'o':
            m.out = optarg;
            break;
        case 's':
            sets[nsets++] = optarg;
            break;
        case 'h':
            fputs(merge_usage, stdout);
            free(sets);
            return CLI_EXIT_OK;
        case ':': /* (the leading ':' of the option string) */
            cli_error("merge: option '%s' needs a value", argv[optind - 1]);
            goto usage;
        default:
            if (optopt != 0)
                cli_error("merge: unknown option '-%c'", optopt);
            else
                cli_error("merge: unknown option '%s'", argv[optind - 1]);
            goto usage;
        }
    }
    if (argc - optind != 1) {
        cli_error("merge: give exactly one job file");
        goto usage;
    }
    if (n == 0 || m.log == NULL) {
        cli_error("merge: give --shards N and --joblog LOG (as the shards "
                  "ran)");
        goto usage;
    }
    m.path = argv[optind];
    m.n = n;
    rc = cli_job_load(&m.cj, m.path, sets, nsets);
    if (rc == 0 && (m.base = m.cj.job->output) == NULL) {
        cli_error("merge: %s writes to stdout, so its shards wrote no files "
                  "to merge; set [job] output", m.path);
        rc = CLI_EXIT_USAGE;
    } else if (rc == 0) {
        if (m.out == NULL)
            m.out = m.base;
        rc = merge(&m);
    }
    cli_job_free(&m.cj);
    free(sets);
    return rc;

usage:
    cli_try_help("merge");
    free(sets);
    return rc;
}

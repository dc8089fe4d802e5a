/* SPDX-License-Identifier: MIT */
/*
 * The job log of `mproc run --joblog FILE`, and `--resume`.
 *
 * One line per item that ran, tab-separated, after a header line:
 *
 *   index worker start duration status exit attempts item message offset
 *   length
 *
 * The header's last field says which run wrote the log (format 2):
 * "mproc-joblog 2 shard=K/N mode=MODE total=T input=HASH job=HASH": the
 * shard (0/1: the whole input), the whole input's item count (- when
 * unknown) and hashes of the input and of the job (its file and the
 * --set overrides that decide what the output is: cli_job's hash).
 *
 * index     the item's position in the whole input, from 0 (global: a
 *           shard's items keep their index in the input)
 * worker    pid of the worker that ran its last attempt (0: none)
 * start     when its last attempt started, seconds since the epoch
 * duration  seconds that attempt took
 * status    ok, failed, died, timeout or toolarge
 * exit      for failed: the command's exit status, or minus the signal
 *           that ended it (-15: SIGTERM), as the exec plugin gives it
 *           (mproc_result's exitcode); for died/timeout: the worker's
 *           exit status (or the command's, when its time limit ended it),
 *           or minus the signal that ended it (-9: SIGKILL); else 0
 * attempts  times it was started (1 + retries)
 * item      the input item, escaped (\t \n \r \\ and \xHH)
 * message   why it failed, escaped; empty when ok
 * offset    ok: where its output starts in the output file, in bytes;
 *           empty when unknown (stdout) or not ok
 * length    ok: how many bytes of output it wrote there
 *
 * Format 1 logs (9 fields, no "mproc-joblog" in the header: mproc before
 * shards) are still read to resume an unsharded run; a shard refuses
 * them, and `mproc merge` too (they lack the offsets it needs).
 *
 * Crash consistency: an ok item's line reaches the log only after its
 * output reached the output file, so after a kill -9 the output may
 * hold more than the log says, never less.  --resume cuts the output
 * back to the end of the last output the log records (offset + length),
 * so the resumed output equals a clean run's.  joblog_sync adds fsync()
 * (output first, then the log) per batch or per item, for a crash of
 * the machine rather than of mproc.
 *
 * With --resume, the log is read first: items logged "ok" are not run
 * again (their output was written by the earlier run), every other item
 * runs, and new lines are appended.  Each logged item is checked against
 * the input at its index (by a hash of its bytes), so a log from another
 * input is refused rather than silently skipping the wrong items.
 */
#include "internal.h"

#include <ctype.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

#define HEADER "index\tworker\tstart\tduration\tstatus\texit\tattempts\titem" \
               "\tmessage\toffset\tlength\t"
#define MAGIC "mproc-joblog 2 "

struct done {
    uint64_t index; /* local: the shard's own item number */
    uint64_t hash;  /* of the item's bytes */
};

struct cli_joblog {
    FILE *f;
    int lock_fd;          /* holds the run's flock on the log; -1: none */
    char *path;
    struct cli_shard sh;  /* the run's (or, read by merge, the log's) */
    int version;          /* of the log read: 1, 2; 0: none read yet */
    bool has_end;         /* out_end is known (format 2) */
    bool end_unknown;     /* an ok item without an offset was read */
    uint64_t out_end;     /* the end of the last output logged */
    int sync;             /* enum mproc__joblog_sync */
    int out_fd;           /* the output file, to fsync; -1: none */
    /* merge: every line kept, with its global index */
    bool keep;
    struct cli_joblog_entry *ent;
    size_t nent, ecap;
    struct done *done; /* sorted by index, unique */
    size_t ndone, cap;
    bool empty;        /* the old log had no line (or there was none) */
    bool cut_short;    /* its last line has no newline */
    off_t whole_len;   /* bytes of its complete lines (before a cut one) */
    /* Lines of ok items wait here until their output is flushed; once
     * the output fails, no more are logged (cli_joblog_drop()). */
    char *pend;
    size_t plen, pcap;
    bool out_failed;
    char *line;        /* the line being formatted */
    size_t llen, lcap;
    int write_errno;
};

uint64_t
cli_hash(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- shards: a shard's own item numbers and the input's ---- */

bool
cli_shard_local(const struct cli_shard *sh, uint64_t global, uint64_t *local)
{
    if (sh->n == 0) {
        *local = global;
        return true;
    }
    if (sh->mode == MPROC__SHARD_STRIDE) {
        if (global >= sh->total || global % sh->n != sh->k)
            return false;
        *local = global / sh->n;
        return true;
    }
    if (global < sh->lo || global - sh->lo >= sh->count)
        return false;
    *local = global - sh->lo;
    return true;
}

void
cli_shard_block(struct cli_shard *sh)
{
    if (sh->n == 0 || sh->total == CLI_TOTAL_UNKNOWN) {
        sh->lo = 0;
        sh->count = sh->total;
    } else if (sh->mode == MPROC__SHARD_STRIDE) {
        sh->lo = 0;
        sh->count = sh->total > sh->k ? (sh->total - sh->k - 1) / sh->n + 1
                                      : 0;
    } else {
        /* Blocks differ by at most one item, and cover the input. */
        sh->lo = (uint64_t)((unsigned __int128)sh->total * sh->k / sh->n);
        sh->count = (uint64_t)((unsigned __int128)sh->total * (sh->k + 1) /
                               sh->n) - sh->lo;
    }
}

uint64_t
cli_shard_global(const struct cli_shard *sh, uint64_t local)
{
    if (sh->n == 0)
        return local;
    if (sh->mode == MPROC__SHARD_STRIDE)
        return sh->k + local * sh->n;
    return sh->lo + local;
}

static uint64_t
hash_bytes(const void *data, size_t len)
{
    return cli_hash(CLI_HASH_INIT, data, len);
}

/* Append len bytes to the growing buffer *buf; false: out of memory. */
static bool
append(char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
    if (*cap - *len < n) {
        size_t nc = *cap ? *cap : 256;
        char *nb;
        while (nc - *len < n)
            nc *= 2;
        if ((nb = realloc(*buf, nc)) == NULL)
            return false;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    return true;
}

/* Append s[0..len) escaped so that the field holds no tab, newline or
 * other control byte, and unescape() gives back every byte 0..255. */
static bool
put_escaped(char **buf, size_t *blen, size_t *cap, const char *s, size_t len)
{
    char esc[5];
    size_t i, n;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\t': memcpy(esc, "\\t", n = 2); break;
        case '\n': memcpy(esc, "\\n", n = 2); break;
        case '\r': memcpy(esc, "\\r", n = 2); break;
        case '\\': memcpy(esc, "\\\\", n = 2); break;
        default:
            if (c < 0x20 || c == 0x7f)
                n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
            else
                esc[0] = (char)c, n = 1;
        }
        if (!append(buf, blen, cap, esc, n))
            return false;
    }
    return true;
}

/*
 * Undo put_escaped() on s[0..len), in place; returns the new length, or
 * -1 if s is not something put_escaped() writes.  The log is read back
 * from disk, where anyone may have edited it: every byte of s is looked
 * at once, nothing past s + len.
 */
static ssize_t
unescape(char *s, size_t len)
{
    size_t r = 0, w = 0;
    int hi, lo;

    while (r < len) {
        unsigned char c = (unsigned char)s[r];
        if (c != '\\') {
            /* put_escaped() never writes these raw. */
            if (c < 0x20 || c == 0x7f)
                return -1;
            s[w++] = s[r++];
            continue;
        }
        if (r + 1 == len)
            return -1;
        switch (s[r + 1]) {
        case 't': s[w++] = '\t'; r += 2; break;
        case 'n': s[w++] = '\n'; r += 2; break;
        case 'r': s[w++] = '\r'; r += 2; break;
        case '\\': s[w++] = '\\'; r += 2; break;
        case 'x':
            if (r + 3 >= len || (hi = mproc__hexval(s[r + 2])) < 0 ||
                (lo = mproc__hexval(s[r + 3])) < 0)
                return -1;
            s[w++] = (char)(hi * 16 + lo);
            r += 4;
            break;
        default:
            return -1;
        }
    }
    return (ssize_t)w;
}

static int
cmp_done(const void *a, const void *b)
{
    const struct done *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

static bool
is_status(const char *s)
{
    static const char *const words[] = {"ok", "failed", "died", "timeout",
                                        "toolarge"};
    size_t i;

    for (i = 0; i < MPROC__ARRAY_SIZE(words); i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    return false;
}

/* A decimal field, all of it; false when not one. */
static bool
parse_u64(const char *s, uint64_t *v)
{
    unsigned long long x;
    char *end;

    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    x = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0)
        return false;
    *v = x;
    return true;
}

/*
 * The header's last field: "mproc-joblog 2 shard=K/N mode=M total=T
 * input=H job=H".  0, or 1 when it is not one.
 */
static int
read_header(struct cli_joblog *j, const char *f, struct cli_shard *sh)
{
    char mode[16], total[32];
    unsigned long long k, n, ih, jh, sh_ = 0;
    int end = -1;

    memset(sh, 0, sizeof(*sh));
    if (sscanf(f, MAGIC "shard=%llu/%llu mode=%15s total=%31s input=%llx "
                      "job=%llx%n", &k, &n, mode, total, &ih, &jh, &end) != 6 ||
        n == 0 || k >= n || end < 0)
        return 1;
    /* Written only when --set options count (older mproc ignores it). */
    if (sscanf(f + end, " sets=%llx", &sh_) != 1)
        sh_ = 0;
    sh->k = k;
    sh->n = n;
    if (strcmp(mode, "contiguous") == 0)
        sh->mode = MPROC__SHARD_CONTIGUOUS;
    else if (strcmp(mode, "stride") == 0)
        sh->mode = MPROC__SHARD_STRIDE;
    else
        return 1;
    if (strcmp(total, "-") == 0)
        sh->total = CLI_TOTAL_UNKNOWN;
    else if (!parse_u64(total, &sh->total))
        return 1;
    sh->input_hash = ih;
    sh->job_hash = jh;
    sh->set_hash = sh_;
    cli_shard_block(sh);
    (void)j;
    return 0;
}

static bool
keep_entry(struct cli_joblog *j, const struct cli_joblog_entry *e)
{
    if (j->nent == j->ecap) {
        size_t nc = j->ecap ? 2 * j->ecap : 1024;
        struct cli_joblog_entry *d = realloc(j->ent, nc * sizeof(*d));
        if (d == NULL)
            return false;
        j->ent = d;
        j->ecap = nc;
    }
    j->ent[j->nent++] = *e;
    return true;
}

/*
 * Split one line (without its newline, NUL-terminated at len) into its 9
 * (format 1) or 11 fields, check it, and note an ok item.  Returns 0, 1
 * when the line is not a joblog line, 2 when its index belongs to
 * another shard, or -1 out of memory.
 */
static int
read_line(struct cli_joblog *j, char *line, size_t len, char *why,
          size_t whylen)
{
    char *field[11], *p, *copy = NULL, ea[64], eb[64]; /* for why */
    struct cli_joblog_entry e = {0};
    uint64_t index, local;
    ssize_t item_len;
    size_t k, nf = j->version == 2 ? 11 : 9;

    /* A raw NUL would hide the rest of the line from the C string
     * functions below; put_escaped() writes it as \x00. */
    if (memchr(line, '\0', len) != NULL) {
        snprintf(why, whylen, "it holds a NUL byte");
        return 1;
    }
    if (j->keep && (copy = strdup(line)) == NULL)
        return -1;
    for (k = 0, p = line; k < nf; k++) {
        field[k] = p;
        p = strchr(p, '\t');
        if (p == NULL)
            break;
        *p++ = '\0';
    }
    e.off = e.len = -1;
    /* Which field is wrong, first one first. */
    if (k != nf - 1) {
        snprintf(why, whylen, "%s tab-separated fields; expected %zu "
                 "(index, worker, start, duration, status, exit, attempts, "
                 "item, message%s)", k < nf - 1 ? "too few" : "too many", nf,
                 nf == 11 ? ", offset, length" : "");
        goto bad;
    }
    if (!parse_u64(field[0], &index)) {
        snprintf(why, whylen, "the index (field 1), '%s', is not a whole "
                 "number", mproc__esc_ctl(ea, sizeof(ea), field[0], false));
        goto bad;
    }
    if (!is_status(field[4])) {
        snprintf(why, whylen, "the status (field 5), '%s', is not ok, "
                 "failed, died, timeout or toolarge",
                 mproc__esc_ctl(ea, sizeof(ea), field[4], false));
        goto bad;
    }
    if (nf == 11 && field[9][0] != '\0') {
        uint64_t off, n;
        if (!parse_u64(field[9], &off) || !parse_u64(field[10], &n) ||
            off > INT64_MAX || n > INT64_MAX - off) {
            snprintf(why, whylen, "the offset and length (fields 10 and "
                     "11), '%s' and '%s', are not a byte range of the output",
                     mproc__esc_ctl(ea, sizeof(ea), field[9], false),
                     mproc__esc_ctl(eb, sizeof(eb), field[10], false));
            goto bad;
        }
        e.off = (int64_t)off;
        e.len = (int64_t)n;
    }
    item_len = unescape(field[7], strlen(field[7]));
    if (item_len < 0 || unescape(field[8], strlen(field[8])) < 0) {
        snprintf(why, whylen, "the %s (field %d) has an escape mproc does "
                 "not write", item_len < 0 ? "item" : "message",
                 item_len < 0 ? 8 : 9);
        goto bad;
    }
    e.index = index;
    e.ok = strcmp(field[4], "ok") == 0;
    if (j->keep) {
        e.line = copy;
        if (!keep_entry(j, &e)) {
            free(copy);
            return -1;
        }
        return 0;
    }
    if (!e.ok)
        return 0;
    if (!cli_shard_local(&j->sh, index, &local))
        return 2;
    if (e.off >= 0 && (uint64_t)(e.off + e.len) > j->out_end)
        j->out_end = (uint64_t)(e.off + e.len);
    else if (e.off < 0)
        j->end_unknown = true; /* its output went to stdout */
    if (j->ndone == j->cap) {
        size_t nc = j->cap ? 2 * j->cap : 1024;
        struct done *d = realloc(j->done, nc * sizeof(*d));
        if (d == NULL)
            return -1;
        j->done = d;
        j->cap = nc;
    }
    j->done[j->ndone].index = local;
    j->done[j->ndone].hash = hash_bytes(field[7], (size_t)item_len);
    j->ndone++;
    return 0;

bad:
    free(copy);
    return 1;
}

static const char *
mode_name(int mode)
{
    return mode == MPROC__SHARD_STRIDE ? "stride" : "contiguous";
}

/* The log read is of this run's shard and input: 0, or an exit status
 * after printing why. */
static int
check_header(const struct cli_joblog *j, const struct cli_shard *old)
{
    uint64_t on = old->n, n = j->sh.n ? j->sh.n : 1;

    if (on != n || old->k != j->sh.k ||
        (n > 1 && old->mode != j->sh.mode)) {
        cli_error("joblog %s: is the log of shard %llu/%llu (%s), this run "
                  "is shard %llu/%llu (%s); give each shard its own log, "
                  "and N as when the log was written",
                  j->path, (unsigned long long)old->k,
                  (unsigned long long)on, mode_name(old->mode),
                  (unsigned long long)j->sh.k, (unsigned long long)n,
                  mode_name(j->sh.mode));
        return CLI_EXIT_CONFIG;
    }
    /* A shard's block depends on the whole input; an unsharded run
     * checks each item it skips instead (cli_joblog_skip()), so an input
     * that grew can be resumed. */
    if (n > 1 &&
        (old->input_hash != j->sh.input_hash || old->total != j->sh.total)) {
        cli_error("joblog %s: logs another input (its items or their "
                  "number changed: input hash %016llx, this run's "
                  "%016llx); remove it, or run without --resume",
                  j->path, (unsigned long long)old->input_hash,
                  (unsigned long long)j->sh.input_hash);
        return CLI_EXIT_CONFIG;
    }
    if (old->job_hash != j->sh.job_hash || old->set_hash != j->sh.set_hash)
        cli_error("warning: joblog %s: the job file or its --set options "
                  "changed since the log was written; resuming all the same",
                  j->path);
    return 0;
}

/* A format-1 log where a shard or merge needs format 2: true after
 * printing why. */
static bool
old_format(const struct cli_joblog *j)
{
    if (j->version != 1 || (!j->keep && j->sh.n == 0))
        return false;
    cli_error("joblog %s: written by an mproc without shards (9 columns, no "
              "'mproc-joblog 2' header): it can resume an unsharded run, "
              "but %s; run the job again with a new log",
              j->path, j->keep ? "lacks the output offsets mproc merge needs"
                               : "not a shard");
    return true;
}

int
cli_joblog_read(struct cli_joblog *j, FILE *f)
{
    char *line = NULL, *last, why[320];
    struct cli_shard old;
    size_t cap = 0, lineno = 0, k, w;
    ssize_t n;
    int rc = 0, r;

    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        j->cut_short = line[n - 1] != '\n';
        if (j->cut_short)
            break; /* cut short by a crash: that item counts as not run */
        j->whole_len += n;
        line[--n] = '\0';
        if (n == 0)
            continue; /* a blank line */
        if (strncmp(line, "index\t", 6) == 0) {
            /* The header of a run: format 2 ends with its description. */
            last = strrchr(line, '\t');
            if (strncmp(last + 1, MAGIC, sizeof(MAGIC) - 1) != 0) {
                if (j->version == 0)
                    j->version = 1;
                continue;
            }
            if (j->version == 1 || read_header(j, last + 1, &old) != 0) {
                cli_error("%s:%zu: not a joblog header; expected 'index "
                          "worker ... length' and 'mproc-joblog 2 shard=K/N "
                          "mode=MODE total=T input=HASH job=HASH'",
                          j->path, lineno);
                rc = CLI_EXIT_CONFIG;
                break;
            }
            if (j->keep && j->version == 0)
                j->sh = old;
            else if (!j->keep && (rc = check_header(j, &old)) != 0)
                break;
            j->version = 2;
            j->has_end = true;
            continue;
        }
        if (j->version == 0)
            j->version = 1; /* lines with no header: format 1 */
        if (old_format(j)) {
            rc = CLI_EXIT_CONFIG;
            break;
        }
        r = read_line(j, line, (size_t)n, why, sizeof(why));
        if (r < 0) {
            cli_error("out of memory reading %s", j->path);
            rc = CLI_EXIT_SOFTWARE;
            break;
        }
        if (r == 2) {
            cli_error("%s:%zu: item %s belongs to another shard than %llu/"
                      "%llu; the log is not this shard's",
                      j->path, lineno, line, (unsigned long long)j->sh.k,
                      (unsigned long long)j->sh.n);
            rc = CLI_EXIT_CONFIG;
            break;
        }
        if (r > 0) {
            cli_error("%s:%zu: not a joblog line: %s", j->path, lineno, why);
            rc = CLI_EXIT_CONFIG;
            break;
        }
    }
    j->empty = lineno == 0;
    free(line);
    if (rc == 0 && old_format(j))
        rc = CLI_EXIT_CONFIG;
    if (rc == 0 && ferror(f)) {
        cli_error("%s: read error: %s", j->path, strerror(errno));
        rc = CLI_EXIT_NOINPUT;
    }
    if (rc != 0 || j->ndone == 0)
        return rc; /* qsort() wants an array, even an empty one */
    /* Sort, and keep one entry per index (the log may hold a retried
     * item twice after several resumes). */
    qsort(j->done, j->ndone, sizeof(*j->done), cmp_done);
    for (k = 0, w = 0; k < j->ndone; k++)
        if (w == 0 || j->done[w - 1].index != j->done[k].index)
            j->done[w++] = j->done[k];
    j->ndone = w;
    return 0;
}

struct cli_joblog *
cli_joblog_new(const char *path)
{
    struct cli_joblog *j = calloc(1, sizeof(*j));

    if (j == NULL || (j->path = strdup(path)) == NULL) {
        free(j);
        return NULL;
    }
    j->empty = true;
    j->out_fd = -1;
    j->lock_fd = -1;
    return j;
}

/* Lock the log at `path` for this run (flock, released with the
 * descriptor): 0, or the exit status after saying that another run has
 * it.  A path that cannot be opened is left to the open that follows,
 * which says why. */
static int
lock_log(struct cli_joblog *j, const char *path)
{
    struct stat st;
    int fd;

    /* Close-on-exec; a worker closes every descriptor of the host's as
     * it starts (pool/start.c). */
    fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
              0666); /* a FIFO: not waited on (and not locked) */
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;

        close(fd);
        if (e != EWOULDBLOCK)
            return 0; /* no locks here (some network file systems) */
        /* Any process that can open the file may hold its lock: say so,
         * with the owner, rather than blame a run that may not exist. */
        cli_error("joblog %s: in use by another run of mproc (one run per "
                  "job log), or locked by another process that can open it "
                  "(flock(2); owner uid %u, mode %04o): wait for it to "
                  "end, or give another --joblog",
                  path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        return CLI_EXIT_CANTCREAT;
    }
    j->lock_fd = fd;
    return 0;
}

int
cli_joblog_open(struct cli_joblog **out, const char *path, bool resume,
                const struct cli_shard *sh)
{
    struct cli_joblog *j = cli_joblog_new(path);
    FILE *old;
    int rc, fd;

    *out = NULL;
    /* parallel's --joblog - is its standard output; here that holds the
     * results, and a file named '-' was made instead.  Said. */
    if (strcmp(path, "-") == 0) {
        cli_joblog_close(j);
        cli_error("--joblog -: the job log cannot go to standard output "
                  "(the results do); give a file, e.g. --joblog "
                  "/dev/stderr to see it");
        return CLI_EXIT_USAGE;
    }
    if (j == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_SOFTWARE;
    }
    j->sh = *sh;
    /* One run per log: a second one would truncate or interleave it (and
     * a resume read it half written).  Taken before anything is read or
     * truncated; a log that is not a regular file is not locked. */
    if ((rc = lock_log(j, path)) != 0) {
        cli_joblog_close(j);
        return rc;
    }
    if (resume) {
        rc = cli_open_read(path, "joblog", true, &fd);
        if (rc == 0 && fd >= 0) {
            if ((old = fdopen(fd, "r")) == NULL) {
                close(fd);
                cli_error("joblog %s: %s", path, strerror(errno));
                rc = CLI_EXIT_SOFTWARE;
            } else {
                rc = cli_joblog_read(j, old);
                fclose(old);
            }
        }
        if (rc != 0) {
            cli_joblog_close(j);
            return rc;
        }
    }
    rc = cli_open_write(path, "joblog", resume, &j->f);
    if (rc != 0) {
        cli_joblog_close(j);
        return rc;
    }
    /* A line cut by a crash goes: left, it would swallow our first line
     * (or, closed with a newline, fail the next --resume as malformed). */
    if (j->cut_short && ftruncate(fileno(j->f), j->whole_len) != 0) {
        cli_error("joblog %s: cannot cut its last, partial line: %s", path,
                  strerror(errno));
        cli_joblog_close(j);
        return CLI_EXIT_CANTCREAT;
    }
    if (j->empty) {
        char total[24] = "-";
        if (sh->total != CLI_TOTAL_UNKNOWN)
            snprintf(total, sizeof(total), "%llu",
                     (unsigned long long)sh->total);
        fprintf(j->f, HEADER MAGIC "shard=%llu/%llu mode=%s total=%s "
                      "input=%016llx job=%016llx",
                (unsigned long long)sh->k,
                (unsigned long long)(sh->n ? sh->n : 1), mode_name(sh->mode),
                total, (unsigned long long)sh->input_hash,
                (unsigned long long)sh->job_hash);
        cli_joblog_put_sets(j->f, sh->set_hash);
        j->has_end = true; /* a new log: the output starts empty */
    }
    /* The header reaches the file now: a crash before the first item
     * must still leave a log of this shard. */
    if (fflush(j->f) != 0)
        j->write_errno = errno;
    *out = j;
    return 0;
}

bool
cli_joblog_out_end(const struct cli_joblog *j, uint64_t *end)
{
    *end = j != NULL ? j->out_end : 0;
    return j != NULL && j->has_end && !j->end_unknown;
}

void
cli_joblog_set_sync(struct cli_joblog *j, int sync, int out_fd)
{
    if (j == NULL)
        return;
    j->sync = sync;
    j->out_fd = out_fd;
}

int
cli_joblog_load(const char *path, struct cli_joblog **out)
{
    struct cli_joblog *j = cli_joblog_new(path);
    FILE *f;
    int rc, fd;

    *out = NULL;
    if (j == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_SOFTWARE;
    }
    j->keep = true;
    rc = cli_open_read(path, "joblog", false, &fd);
    if (rc == 0 && (f = fdopen(fd, "r")) == NULL) {
        close(fd);
        cli_error("joblog %s: %s", path, strerror(errno));
        rc = CLI_EXIT_SOFTWARE;
    } else if (rc == 0) {
        rc = cli_joblog_read(j, f);
        fclose(f);
    }
    if (rc == 0 && j->version != 2) {
        cli_error("joblog %s: %s; expected a log written by mproc run "
                  "--joblog (format 2)", path,
                  j->empty ? "is empty" : "has no 'mproc-joblog 2' header");
        rc = CLI_EXIT_CONFIG;
    }
    if (rc != 0) {
        cli_joblog_close(j);
        return rc;
    }
    *out = j;
    return 0;
}

const struct cli_shard *
cli_joblog_shard(const struct cli_joblog *j)
{
    return &j->sh;
}

size_t
cli_joblog_entries(const struct cli_joblog *j,
                   const struct cli_joblog_entry **out)
{
    *out = j->ent;
    return j->nent;
}

const char *
cli_joblog_header(void)
{
    return HEADER;
}

void
cli_joblog_put_sets(FILE *f, uint64_t set_hash)
{
    if (set_hash != 0)
        fprintf(f, " sets=%016llx", (unsigned long long)set_hash);
    fputc('\n', f);
}

const char *
cli_joblog_mode_name(int mode)
{
    return mode_name(mode);
}

size_t
cli_joblog_ndone(const struct cli_joblog *j)
{
    return j != NULL ? j->ndone : 0;
}

/* The first entry with index >= i (j->ndone if none). */
static size_t
lower_bound(const struct cli_joblog *j, uint64_t i)
{
    size_t lo = 0, hi = j->ndone;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->done[mid].index < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t
cli_joblog_ndone_from(const struct cli_joblog *j, uint64_t from)
{
    return j != NULL ? j->ndone - lower_bound(j, from) : 0;
}

static const struct done *
find_done(const struct cli_joblog *j, uint64_t index)
{
    struct done key = {index, 0};

    if (j->ndone == 0)
        return NULL; /* bsearch() wants an array, even an empty one */
    return bsearch(&key, j->done, j->ndone, sizeof(*j->done), cmp_done);
}

int
cli_joblog_skip(const struct cli_joblog *j, uint64_t index, const void *item,
                size_t len)
{
    const struct done *d;

    if (j == NULL || (d = find_done(j, index)) == NULL)
        return 0;
    if (item == NULL || d->hash != hash_bytes(item, len)) {
        cli_error("joblog %s: item %llu is not the one logged there; the log "
                  "belongs to another input (remove it, or run without "
                  "--resume)",
                  j->path, (unsigned long long)index);
        return -1;
    }
    return 1;
}

uint64_t
cli_joblog_input_index(const struct cli_joblog *j, uint64_t n)
{
    uint64_t i = n, c;

    /* The n-th (from 0) index not logged as done: the least i with
     * i = n + #{done <= i}.  Each step only grows i, and a few steps
     * reach it. */
    if (j == NULL || j->ndone == 0)
        return n;
    for (;;) {
        size_t lo = 0, hi = j->ndone;
        while (lo < hi) { /* count of done indices <= i */
            size_t mid = lo + (hi - lo) / 2;
            if (j->done[mid].index <= i)
                lo = mid + 1;
            else
                hi = mid;
        }
        c = n + lo;
        if (c == i)
            return i;
        i = c;
    }
}

static const char *
status_word(int status)
{
    switch (status) {
    case 0: return "ok";
    case MPROC_EWORKER: return "died";
    case MPROC_ETIMEDOUT: return "timeout";
    case MPROC_EMSGSIZE: return "toolarge";
    default: return "failed";
    }
}

/*
 * The exit column: the pool's exitcode, a field of the result: a failed
 * task's own status (exec: the command's exit status, or minus the
 * signal), or the worker's for died/timeout.
 */
static int
exit_column(const struct mproc_result *r)
{
    return r->exitcode;
}

void
cli_joblog_write(struct cli_joblog *j, uint64_t index,
                 const struct mproc_result *r, int64_t off, int64_t len)
{
    char head[160], tail[48];
    size_t n;
    bool okay;

    if (j == NULL || r->status == MPROC_ECANCELED)
        return; /* not run: nothing to log */
    if (r->status == 0 && j->out_failed)
        return; /* its output may be lost: a resume must run it again */
    if (r->status == 0 && off >= 0)
        snprintf(tail, sizeof(tail), "\t%lld\t%lld\n", (long long)off,
                 (long long)len);
    else
        snprintf(tail, sizeof(tail), "\t\t\n");
    n = (size_t)snprintf(head, sizeof(head), "%llu\t%d\t%.3f\t%.3f\t%s\t%d\t%u\t",
                         (unsigned long long)cli_shard_global(&j->sh, index),
                         (int)r->worker, r->started,
                         r->duration, status_word(r->status), exit_column(r),
                         r->attempts);
    j->llen = 0;
    okay = n < sizeof(head) &&
           append(&j->line, &j->llen, &j->lcap, head, n) &&
           put_escaped(&j->line, &j->llen, &j->lcap, r->item, r->item_len) &&
           append(&j->line, &j->llen, &j->lcap, "\t", 1) &&
           (r->status == 0 ||
            put_escaped(&j->line, &j->llen, &j->lcap, r->message,
                        strlen(r->message))) &&
           append(&j->line, &j->llen, &j->lcap, tail, strlen(tail));
    /* A line waits for the output of the results before it to reach the
     * file (cli_joblog_commit()), so that the log keeps the order results
     * are delivered in.  Once the output failed, failures are logged at
     * once (a resume runs them again whether logged or not). */
    if (okay && !j->out_failed)
        okay = append(&j->pend, &j->plen, &j->pcap, j->line, j->llen);
    else if (okay && fwrite(j->line, 1, j->llen, j->f) != j->llen &&
             j->write_errno == 0)
        j->write_errno = errno;
    if (!okay && j->write_errno == 0)
        j->write_errno = ENOMEM;
}

void
cli_joblog_commit(struct cli_joblog *j)
{
    if (j == NULL)
        return;
    /* joblog_sync: the output (flushed by the caller) reaches the disk
     * before the lines that say it is there. */
    if (j->plen > 0 && j->sync != MPROC__SYNC_NONE && j->out_fd >= 0 &&
        fdatasync(j->out_fd) != 0 && errno != EINVAL && j->write_errno == 0)
        j->write_errno = errno;
    if (j->plen > 0 && fwrite(j->pend, 1, j->plen, j->f) != j->plen &&
        j->write_errno == 0)
        j->write_errno = errno;
    if (fflush(j->f) != 0 && j->write_errno == 0)
        j->write_errno = errno;
    if (j->plen > 0 && j->sync != MPROC__SYNC_NONE &&
        fdatasync(fileno(j->f)) != 0 && errno != EINVAL &&
        j->write_errno == 0)
        j->write_errno = errno;
    j->plen = 0;
}

int
cli_joblog_sync_mode(const struct cli_joblog *j)
{
    return j != NULL ? j->sync : MPROC__SYNC_NONE;
}

void
cli_joblog_drop(struct cli_joblog *j)
{
    if (j == NULL)
        return;
    j->plen = 0;
    j->out_failed = true;
    if (fflush(j->f) != 0 && j->write_errno == 0)
        j->write_errno = errno;
}

int
cli_joblog_error(const struct cli_joblog *j)
{
    return j != NULL ? j->write_errno : 0;
}

int
cli_joblog_close(struct cli_joblog *j)
{
    int rc = 0;

    if (j == NULL)
        return 0;
    /* Lines still pending have no output on disk yet: not logged. */
    if (j->f != NULL) {
        if (fclose(j->f) != 0 && j->write_errno == 0)
            j->write_errno = errno;
        if (j->write_errno != 0) {
            cli_error("joblog %s: write error: %s", j->path,
                      strerror(j->write_errno));
            rc = CLI_EXIT_IOERR;
        }
    }
    if (j->lock_fd >= 0)
        close(j->lock_fd); /* and the lock with it */
    for (size_t i = 0; i < j->nent; i++)
        free(j->ent[i].line);
    free(j->ent);
    free(j->done);
    free(j->pend);
    free(j->line);
    free(j->path);
    free(j);
    return rc;
}

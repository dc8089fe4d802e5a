/* SPDX-License-Identifier: MIT */
/*
 * The job log of `mproc run --joblog FILE`, and `--resume`.
 *
 * One line per item that ran, tab-separated, after a header line:
 *
 *   index  worker  start  duration  status  exit  attempts  item  message
 *
 * index     the item's position in the input, from 0
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
#include <unistd.h>

#include "cli/cli.h"

#define HEADER "index\tworker\tstart\tduration\tstatus\texit\tattempts\titem" \
               "\tmessage\n"

struct done {
    uint64_t index;
    uint64_t hash; /* of the item's bytes */
};

struct cli_joblog {
    FILE *f;
    char *path;
    struct done *done; /* sorted by index, unique */
    size_t ndone, cap;
    bool empty;        /* the old log had no line (or there was none) */
    bool cut_short;    /* its last line has no newline */
    /* Lines of ok items wait here until their output is flushed; once
     * the output fails, no more are logged (cli_joblog_drop()). */
    char *pend;
    size_t plen, pcap;
    bool out_failed;
    char *line;        /* the line being formatted */
    size_t llen, lcap;
    int write_errno;
};

/* FNV-1a, 64 bits: enough to tell an item from another. */
static uint64_t
hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
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

/*
 * Split one line (without its newline, NUL-terminated at len) into its 9
 * fields, check it, and note an ok item.  Returns 0, 1 when the line is
 * not a joblog line, or -1 out of memory.
 */
static int
read_line(struct cli_joblog *j, char *line, size_t len)
{
    char *field[9], *p, *end;
    unsigned long long index;
    ssize_t item_len;
    size_t k;

    /* A raw NUL would hide the rest of the line from the C string
     * functions below; put_escaped() writes it as \x00. */
    if (memchr(line, '\0', len) != NULL)
        return 1;
    for (k = 0, p = line; k < 9; k++) {
        field[k] = p;
        p = strchr(p, '\t');
        if (p == NULL)
            break;
        *p++ = '\0';
    }
    if (k != 8 || !isdigit((unsigned char)field[0][0]) || !is_status(field[4]))
        return 1;
    errno = 0;
    index = strtoull(field[0], &end, 10);
    if (*end != '\0' || errno != 0)
        return 1;
    item_len = unescape(field[7], strlen(field[7]));
    if (item_len < 0 || unescape(field[8], strlen(field[8])) < 0)
        return 1;
    if (strcmp(field[4], "ok") != 0)
        return 0;
    if (j->ndone == j->cap) {
        size_t nc = j->cap ? 2 * j->cap : 1024;
        struct done *d = realloc(j->done, nc * sizeof(*d));
        if (d == NULL)
            return -1;
        j->done = d;
        j->cap = nc;
    }
    j->done[j->ndone].index = index;
    j->done[j->ndone].hash = hash_bytes(field[7], (size_t)item_len);
    j->ndone++;
    return 0;
}

int
cli_joblog_read(struct cli_joblog *j, FILE *f)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0, k, w;
    ssize_t n;
    int rc = 0, r;

    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        j->cut_short = line[n - 1] != '\n';
        if (j->cut_short)
            break; /* cut short by a crash: that item counts as not run */
        line[--n] = '\0';
        if (n == 0 || strncmp(line, "index\t", 6) == 0)
            continue; /* a blank line, or the header of a run */
        r = read_line(j, line, (size_t)n);
        if (r < 0) {
            cli_error("out of memory reading %s", j->path);
            rc = CLI_EXIT_SOFTWARE;
            break;
        }
        if (r > 0) {
            cli_error("%s:%zu: not a joblog line; expected 9 tab-separated "
                      "fields (index, worker, start, duration, status, exit, "
                      "attempts, item, message)",
                      j->path, lineno);
            rc = CLI_EXIT_CONFIG;
            break;
        }
    }
    j->empty = lineno == 0;
    free(line);
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
    return j;
}

int
cli_joblog_open(struct cli_joblog **out, const char *path, bool resume)
{
    struct cli_joblog *j = cli_joblog_new(path);
    FILE *old;
    int rc, fd;

    *out = NULL;
    if (j == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_SOFTWARE;
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
    if (j->cut_short)
        fputc('\n', j->f); /* a line cut by a crash must not swallow ours */
    if (j->empty)
        fputs(HEADER, j->f);
    *out = j;
    return 0;
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
    if (d->hash != hash_bytes(item, len)) {
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
                 const struct mproc_result *r)
{
    char head[160];
    size_t n;
    bool okay;

    if (j == NULL || r->status == MPROC_ECANCELED)
        return; /* not run: nothing to log */
    if (r->status == 0 && j->out_failed)
        return; /* its output may be lost: a resume must run it again */
    n = (size_t)snprintf(head, sizeof(head), "%llu\t%d\t%.3f\t%.3f\t%s\t%d\t%u\t",
                         (unsigned long long)index, (int)r->worker, r->started,
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
           append(&j->line, &j->llen, &j->lcap, "\n", 1);
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
    if (j->plen > 0 && fwrite(j->pend, 1, j->plen, j->f) != j->plen &&
        j->write_errno == 0)
        j->write_errno = errno;
    j->plen = 0;
    if (fflush(j->f) != 0 && j->write_errno == 0)
        j->write_errno = errno;
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
    free(j->done);
    free(j->pend);
    free(j->line);
    free(j->path);
    free(j);
    return rc;
}

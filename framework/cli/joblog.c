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
 * exit      for died/timeout: the worker's exit status, or minus the
 *           signal that ended it (-9: SIGKILL); else 0
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

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void
put_escaped(FILE *f, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\t': fputs("\\t", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\\': fputs("\\\\", f); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\x%02x", c);
            else
                fputc(c, f);
        }
    }
}

/* Undo put_escaped() in place; returns the length, or -1 if malformed. */
static ssize_t
unescape(char *s)
{
    char *r = s, *w = s;

    while (*r != '\0') {
        if (*r != '\\') {
            *w++ = *r++;
            continue;
        }
        r++;
        switch (*r) {
        case 't': *w++ = '\t'; r++; break;
        case 'n': *w++ = '\n'; r++; break;
        case 'r': *w++ = '\r'; r++; break;
        case '\\': *w++ = '\\'; r++; break;
        case 'x':
            if (mproc__hexval(r[1]) < 0 || mproc__hexval(r[2]) < 0)
                return -1;
            *w++ = (char)(mproc__hexval(r[1]) * 16 + mproc__hexval(r[2]));
            r += 3;
            break;
        default:
            return -1;
        }
    }
    return w - s;
}

static int
cmp_done(const void *a, const void *b)
{
    const struct done *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Read the items an earlier run logged as ok. */
static int
read_log(struct cli_joblog *j, FILE *f)
{
    char *line = NULL, *field[9], *p;
    size_t cap = 0, lineno = 0, k, w;
    ssize_t n;
    int rc = 0;

    while ((n = getline(&line, &cap, f)) > 0) {
        unsigned long long index;
        char *end;

        lineno++;
        if (line[n - 1] != '\n')
            break; /* cut short by a crash: that item counts as not run */
        line[n - 1] = '\0';
        if (lineno == 1 && strcmp(line, "index\tworker\tstart\tduration\t"
                                         "status\texit\tattempts\titem\t"
                                         "message") == 0)
            continue;
        if (line[0] == '\0' ||
            (strncmp(line, "index\t", 6) == 0 && lineno > 1))
            continue; /* a blank line, or the header of an appended run */
        for (k = 0, p = line; k < 9; k++) {
            field[k] = p;
            p = strchr(p, '\t');
            if (p == NULL)
                break;
            *p++ = '\0';
        }
        errno = 0;
        index = strtoull(field[0], &end, 10);
        if (k != 8 || *end != '\0' || end == field[0] || errno != 0 ||
            unescape(field[7]) < 0) {
            cli_error("%s:%zu: not a joblog line; expected 9 tab-separated "
                      "fields (index, worker, start, duration, status, exit, "
                      "attempts, item, message)",
                      j->path, lineno);
            rc = CLI_EXIT_CONFIG;
            break;
        }
        if (strcmp(field[4], "ok") != 0)
            continue;
        if (j->ndone == j->cap) {
            size_t nc = j->cap ? 2 * j->cap : 1024;
            struct done *d = realloc(j->done, nc * sizeof(*d));
            if (d == NULL) {
                cli_error("out of memory reading %s", j->path);
                rc = CLI_EXIT_SOFTWARE;
                break;
            }
            j->done = d;
            j->cap = nc;
        }
        j->done[j->ndone].index = index;
        j->done[j->ndone].hash =
            hash_bytes(field[7], (size_t)unescape(field[7]));
        j->ndone++;
    }
    free(line);
    if (rc == 0 && ferror(f)) {
        cli_error("%s: read error: %s", j->path, strerror(errno));
        rc = CLI_EXIT_NOINPUT;
    }
    if (rc != 0)
        return rc;
    /* Sort, and keep one entry per index (the log may hold a retried
     * item twice after several resumes). */
    qsort(j->done, j->ndone, sizeof(*j->done), cmp_done);
    for (k = 0, w = 0; k < j->ndone; k++)
        if (w == 0 || j->done[w - 1].index != j->done[k].index)
            j->done[w++] = j->done[k];
    j->ndone = w;
    return 0;
}

int
cli_joblog_open(struct cli_joblog **out, const char *path, bool resume)
{
    struct cli_joblog *j = calloc(1, sizeof(*j));
    FILE *old;
    long size = 0;
    int rc;

    *out = NULL;
    if (j == NULL || (j->path = strdup(path)) == NULL) {
        free(j);
        cli_error("out of memory");
        return CLI_EXIT_SOFTWARE;
    }
    if (resume && (old = fopen(path, "r")) != NULL) {
        rc = read_log(j, old);
        fclose(old);
        if (rc != 0) {
            cli_joblog_close(j);
            return rc;
        }
    }
    j->f = fopen(path, resume ? "a+" : "w");
    if (j->f == NULL) {
        cli_error("joblog %s: cannot create: %s", path, strerror(errno));
        cli_joblog_close(j);
        return CLI_EXIT_CANTCREAT;
    }
    if (resume && fseek(j->f, 0, SEEK_END) == 0)
        size = ftell(j->f);
    if (size > 0) {
        /* A line cut short by a crash must not swallow the next one. */
        if (fseek(j->f, -1, SEEK_END) == 0 && fgetc(j->f) != '\n') {
            fseek(j->f, 0, SEEK_END);
            fputc('\n', j->f);
        }
        fseek(j->f, 0, SEEK_END);
    } else {
        fputs(HEADER, j->f);
    }
    *out = j;
    return 0;
}

size_t
cli_joblog_ndone(const struct cli_joblog *j)
{
    return j != NULL ? j->ndone : 0;
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

void
cli_joblog_write(struct cli_joblog *j, uint64_t index,
                 const struct mproc_result *r)
{
    if (j == NULL || r->status == MPROC_ECANCELED)
        return; /* not run: nothing to log */
    fprintf(j->f, "%llu\t%d\t%.3f\t%.3f\t%s\t%d\t%u\t",
            (unsigned long long)index, (int)r->worker, r->started,
            r->duration, status_word(r->status), r->exitcode, r->attempts);
    put_escaped(j->f, r->item, r->item_len);
    fputc('\t', j->f);
    if (r->status != 0)
        put_escaped(j->f, r->message, strlen(r->message));
    if (fputc('\n', j->f) == EOF && j->write_errno == 0)
        j->write_errno = errno;
}

void
cli_joblog_flush(struct cli_joblog *j)
{
    if (j != NULL && fflush(j->f) != 0 && j->write_errno == 0)
        j->write_errno = errno;
}

int
cli_joblog_close(struct cli_joblog *j)
{
    int rc = 0;

    if (j == NULL)
        return 0;
    if (j->f != NULL) {
        cli_joblog_flush(j);
        if (fclose(j->f) != 0 && j->write_errno == 0)
            j->write_errno = errno;
        if (j->write_errno != 0) {
            cli_error("joblog %s: write error: %s", j->path,
                      strerror(j->write_errno));
            rc = CLI_EXIT_IOERR;
        }
    }
    free(j->done);
    free(j->path);
    free(j);
    return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * What `mproc run` does for debugging (issue 19): the quarantine file
 * (--quarantine FILE: one record per poison item, read back by `mproc
 * rerun`) and the slow log (--slowlog FILE, [job] slowlog).
 *
 * A quarantine record is one line of tab-separated fields, each escaped
 * as cli_debug_escape() does (no tab, newline or other control byte):
 *   Q1  INDEX  DEATHS  JOB  NSETS  SET...  ITEM  MESSAGE
 * JOB is the job file's absolute path, the SETs the run's --set
 * overrides (--workers included), so that a rerun starts the item as the
 * run did; MESSAGE holds each death's backtrace.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config_int.h"

static struct {
    FILE *quarantine, *slowlog;
    const char *qpath, *spath;
    char job[PATH_MAX];
    char *const *sets;
    size_t nsets;
    unsigned long long quarantined;
    bool failed; /* a write failed (said) */
} dbg;

void
cli_debug_escape(FILE *f, const void *data, size_t len)
{
    const unsigned char *s = data;
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c == '\t')
            fputs("\\t", f);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c == '\\')
            fputs("\\\\", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            putc(c, f);
    }
}

ssize_t
cli_debug_unescape(char *s, size_t len)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c != '\\') {
            s[o++] = c;
            continue;
        }
        if (++i >= len)
            return -1;
        switch (s[i]) {
        case 't': s[o++] = '\t'; break;
        case 'n': s[o++] = '\n'; break;
        case 'r': s[o++] = '\r'; break;
        case '\\': s[o++] = '\\'; break;
        case 'x': {
            char hex[3] = {0, 0, 0}, *end;
            if (i + 2 >= len)
                return -1;
            hex[0] = s[i + 1];
            hex[1] = s[i + 2];
            s[o++] = (char)strtoul(hex, &end, 16);
            if (end != hex + 2)
                return -1;
            i += 2;
            break;
        }
        default:
            return -1;
        }
    }
    return (ssize_t)o;
}

int
cli_debug_open(const struct cli_args *a, const char *job_path)
{
    int rc;

    memset(&dbg, 0, sizeof(dbg));
    dbg.sets = a->sets;
    dbg.nsets = a->nsets;
    if (job_path == NULL || realpath(job_path, dbg.job) == NULL)
        snprintf(dbg.job, sizeof(dbg.job), "%s", job_path ? job_path : "-");
    if (a->quarantine != NULL) {
        /* Appended on --resume: the earlier run's records stay. */
        rc = cli_open_write(a->quarantine, "quarantine", a->resume,
                            &dbg.quarantine);
        if (rc != 0)
            return rc;
        dbg.qpath = a->quarantine;
    }
    if (a->slowlog != NULL) {
        rc = cli_open_write(a->slowlog, "slowlog", a->resume, &dbg.slowlog);
        if (rc != 0)
            return rc;
        dbg.spath = a->slowlog;
    }
    return 0;
}

static void
wrote(FILE *f, const char *path, const char *what)
{
    if ((fflush(f) != 0 || ferror(f)) && !dbg.failed) {
        cli_error("%s: writing the %s: %s", path, what, strerror(errno));
        dbg.failed = true;
    }
}

static void
on_slow(void *user, uint64_t index, const void *item, size_t item_len,
        double seconds, const char *why, const char *trace)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = dbg.slowlog;

    (void)user;
    /* On stderr, the record is written at once: workers write there too,
     * and their lines must not land inside it. */
    if (f == NULL && (f = open_memstream(&text, &len)) == NULL)
        f = stderr;
    /* The item escaped as in the quarantine file, so a line is one
     * record's head whatever the item holds. */
    fprintf(f, "%sitem %llu \"", dbg.slowlog == NULL ? "mproc: " : "",
            (unsigned long long)index);
    cli_debug_escape(f, item, item_len > 200 ? 200 : item_len);
    fprintf(f, "%s\" %s: running for %.1fs%s\n", item_len > 200 ? "..." : "",
            why, seconds, trace);
    if (dbg.slowlog != NULL) {
        wrote(dbg.slowlog, dbg.spath, "slowlog");
    } else if (f != stderr) {
        if (fclose(f) == 0)
            fwrite(text, 1, len, stderr);
        free(text);
    }
}

void
cli_debug_pool_opts(struct mproc_pool_opts *o, const struct mproc__job *job)
{
    o->quarantine_after = job->quarantine_after;
    o->slowlog_ms = job->slowlog_ms;
    /* --slowlog FILE alone: the default threshold. */
    if (o->slowlog_ms == 0 && dbg.slowlog != NULL)
        o->slowlog_ms = 5000;
    if (o->slowlog_ms > 0)
        o->on_slow = on_slow;
}

void
cli_debug_result(uint64_t index, const struct mproc_result *r)
{
    size_t k;

    if (!r->quarantined)
        return;
    dbg.quarantined++;
    if (dbg.quarantine == NULL)
        return;
    fprintf(dbg.quarantine, "Q1\t%llu\t%u\t", (unsigned long long)index,
            r->deaths);
    cli_debug_escape(dbg.quarantine, dbg.job, strlen(dbg.job));
    fprintf(dbg.quarantine, "\t%zu", dbg.nsets);
    for (k = 0; k < dbg.nsets; k++) {
        putc('\t', dbg.quarantine);
        cli_debug_escape(dbg.quarantine, dbg.sets[k], strlen(dbg.sets[k]));
    }
    putc('\t', dbg.quarantine);
    cli_debug_escape(dbg.quarantine, r->item, r->item_len);
    putc('\t', dbg.quarantine);
    cli_debug_escape(dbg.quarantine, r->message, strlen(r->message));
    putc('\n', dbg.quarantine);
    /* Now, not at the end: a record must survive a host that is killed. */
    wrote(dbg.quarantine, dbg.qpath, "quarantine file");
}

unsigned long long
cli_debug_quarantined(void)
{
    return dbg.quarantined;
}

void
cli_debug_report(void)
{
    if (dbg.quarantined == 0)
        return;
    if (dbg.quarantine != NULL)
        cli_error("%llu item%s quarantined (in %s; see mproc rerun)",
                  dbg.quarantined, dbg.quarantined == 1 ? "" : "s",
                  dbg.qpath);
    else
        cli_error("%llu item%s quarantined (give --quarantine FILE to keep "
                  "them)", dbg.quarantined, dbg.quarantined == 1 ? "" : "s");
}

int
cli_debug_close(void)
{
    if (dbg.quarantine != NULL && fclose(dbg.quarantine) != 0 && !dbg.failed)
        dbg.failed = true;
    if (dbg.slowlog != NULL && fclose(dbg.slowlog) != 0 && !dbg.failed)
        dbg.failed = true;
    dbg.quarantine = dbg.slowlog = NULL;
    return dbg.failed ? CLI_EXIT_IOERR : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * `mproc exec`: GNU parallel's command line over mproc's run.
 *
 *   mproc exec [OPTIONS] COMMAND [ARGS]... [::: ITEMS... | :::: FILES...]...
 *
 * The job is the exec plugin's, built in memory as a job file would be
 * (so --set and every job-file key work as in `mproc run`); what differs
 * is the input: this file makes each job's whole command line (exec_line.c)
 * and hands it to the plugin as the item, which runs it with
 * `sh -c 'eval "$1"'`.  Arguments are shell-quoted into the line, so they
 * stay data.  Input sources: ::: lists and :::: files (read whole, then
 * combined: every combination, or with --link side by side), or else
 * stdin, read as it comes.
 */
#include "internal.h"

#include <assert.h>
#include <ctype.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <poll.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/exec.h"
#include "cli/exec_int.h"
#include "pool/pool_int.h"

static const char exec_usage[] =
    "Usage: mproc exec [OPTIONS] [COMMAND [ARGS]...] [::: ITEMS... | :::: "
    "FILES...]...\n"
    "Run COMMAND once per item in a pool of processes, with GNU parallel's\n"
    "options.  Items come from ::: lists, :::: files ('-' is stdin) or, with\n"
    "neither, stdin's lines; several sources give every combination\n"
    "(:::+ and ::::+ pair a source with the one before instead).  Without\n"
    "COMMAND, each item is a command (several sources' values by spaces).\n"
    "\n"
    "  {} {.} {/} {//} {/.}    the item, without extension, base name,\n"
    "                          folder, base name without extension\n"
    "  {1} {2} ...             the N-th source or --colsep column\n"
    "  {#} {%}                 the job's number and slot (1..jobs)\n"
    "  (no {...} in COMMAND: the item is appended as its last argument)\n"
    "\n"
    "  -j, --jobs N            N jobs at a time (also N%, +N, -N of the\n"
    "                          CPUs); default one per CPU; also -P N,\n"
    "                          --max-procs N\n"
    "  -k, --keep-order        output in input order (the default)\n"
    "  -0, --null              items end at NUL bytes, not newlines\n"
    "  -d, --delimiter D       items end at byte D (also \\t, \\0, \\NNN...)\n"
    "  -E, --eof STR           an item STR ends its input (the rest unread)\n"
    "  -q, --quote             the command's words reach it as they are\n"
    "                          (not read by the shell: no | ; $ ...)\n"
    "  -v, --verbose           print each command before its output\n"
    "  -t                      print each command on stderr as it starts\n"
    "  -a, --arg-file FILE     same as :::: FILE\n"
    "      --colsep REGEX      split each item into columns {1} {2}...\n"
    "      --link              pair the sources' items rather than combine\n"
    "  -X                      as many items per command as fit, each word\n"
    "                          with {} repeated per item; the last items\n"
    "                          spread evenly over the jobs\n"
    "  -m                      as -X, the items by spaces where {} is\n"
    "      --xargs             as -m, but not spread\n"
    "  -n, --max-args N        with -X or -m: at most N items per command\n"
    "  -N N                    N items per command, {1}..{N} each one\n"
    "  -s, --max-chars N       with -X or -m: command lines of N bytes at\n"
    "                          most (default and limit 131000)\n"
    "      --header :          the first item of each source (with\n"
    "                          --colsep: its columns) names {NAME}\n"
    "      --tag               prefix each output line with the item and "
    "a tab\n"
    "      --results DIR       write DIR/1/ITEM/{stdout,stderr,seq,exitval}\n"
    "                          per job rather than to the output\n"
    "      --halt WHEN,WHAT    now|soon,fail=N|success=N|fail=P%: stop\n"
    "                          (now: kill the running jobs) when it holds\n"
    "      --delay SECONDS     wait that long between job starts (also\n"
    "                          0.5s, 2m, 1h, 1m30s)\n"
    "      --dry-run           print the commands, run nothing\n"
    "      --line-buffer       write each line of the jobs' output as soon\n"
    "                          as it is whole, in no set order\n"
    "      --joblog FILE       mproc's job log (see mproc run)\n"
    "      --resume, --resume-failed\n"
    "                          with --joblog: run the jobs FILE does not\n"
    "                          log as done (failed ones run again)\n"
    "      --stats text|json   the end-of-run summary on stderr\n"
    "      --set SECTION.KEY=VALUE, --KEY VALUE\n"
    "                          any job-file key ([job] and [pool] ones\n"
    "                          as --KEY), e.g. --timeout 10s, --retries 2,\n"
    "                          --workers 4, --shard-mode stride,\n"
    "                          --set pool.ipc=mq, --set args.shell=bash\n"
    "                          (see mproc.ini(5))\n"
    "      --progress, --bar, --eta\n"
    "                          mproc's progress line even where stderr is\n"
    "                          not a terminal (on one it is always shown)\n"
    "  -r, --no-run-if-empty   skip blank items (of stdin and sources)\n"
    "      --will-cite, --no-notice\n"
    "                          accepted, no effect\n"
    "  -h, --help              show this help\n"
    "\n"
    "Exit status: 0 all jobs succeeded, 1-100 that many failed, 101 more\n"
    "failed; with --halt fail=Y%, the percentage that failed; after --halt\n"
    "fail=1, the failing job's (128+N: killed by signal N); 64 usage error.\n";

/*
 * Job-file keys given as --KEY VALUE (and --KEY-WITH-DASHES VALUE, as
 * mproc run's --shard-mode): every key of [job] and [pool], from the
 * config's own list so that a new key is an option at once, but those
 * mproc exec sets itself.
 */
static const char *const exec_owns[] = {"plugin", "task", "input"};
struct exec_key {
    const char *section, *name;
    char dashed[40]; /* the name with '-' for '_'; "" when the same */
};
#define KEYS_MAX 64
#define OPT_KEY 1000
#define MAX_CHARS 131000 /* under Linux's 128 KiB for one argument */
#define JOBS_MAX 4096    /* pool.workers' largest (config/config.c) */

enum {
    OPT_COLSEP = 256, OPT_LINK, OPT_TAG, OPT_RESULTS, OPT_HALT, OPT_DELAY,
    OPT_DRY, OPT_LB, OPT_JOBLOG, OPT_STATS, OPT_SET, OPT_HEADER, OPT_PROGRESS,
    OPT_RESUME, OPT_XARGS
};

/* struct exec: cli/exec_int.h */

/* Length a tuple adds to a -X / -m line (measured, not guessed). */
static int
tuple_cost(struct exec *x, const struct cli_tuple *t, size_t *cost)
{
    if (cli_line_make(&x->scratch, x->tmpl, x->mode, t, 1, x->seq + 1) < 0)
        return -1;
    *cost = x->scratch.len - x->base_len + 1;
    return 0;
}

/* Keep a copy of `v` for job `seq` (1, 2 ...) in *arr, grown as needed:
 * 0, or -1 when out of memory.  Freed once the job's result is in. */
static int
job_str_put(char ***arr, size_t *n, unsigned long long seq, const char *v)
{
    if (seq > *n) {
        size_t m = *n ? *n * 2 : 64;
        char **na;

        while (m < seq)
            m *= 2;
        if ((na = realloc(*arr, m * sizeof(*na))) == NULL)
            return -1;
        memset(na + *n, 0, (m - *n) * sizeof(*na));
        *arr = na;
        *n = m;
    }
    (*arr)[seq - 1] = strdup(v);
    return (*arr)[seq - 1] == NULL ? -1 : 0;
}

static int
tag_store(struct exec *x, unsigned long long seq, const struct cli_tuple *tu,
          size_t ntu)
{
    size_t i, j;

    if (!x->tag)
        return 0;
    x->tagbuf.len = 0;
    if (cli_str_add(&x->tagbuf, "", 0) < 0)
        return -1;
    for (i = 0; i < ntu; i++)
        for (j = 0; j < tu[i].n; j++)
            if (((i || j) && cli_str_add(&x->tagbuf, " ", 1) < 0) ||
                cli_str_add(&x->tagbuf, tu[i].v[j], tu[i].len[j]) < 0)
                return -1;
    if (x->xdir != NULL && cli_xdir_tag(x->xdir, seq - 1, x->tagbuf.s) < 0)
        return -1;
    return job_str_put(&x->tags, &x->ntags, seq, x->tagbuf.s);
}

/* No command given: the values themselves, by spaces, are the line. */
static int
raw_line(struct exec *x)
{
    size_t i, j;

    x->line.len = 0;
    if (cli_str_add(&x->line, "", 0) < 0)
        return -1;
    /* With -q each value is one word, quoted, as parallel's -q does to
     * the command's words: data, never shell code. */
    for (i = 0; i < x->npend; i++)
        for (j = 0; j < x->pend[i].n; j++)
            if ((x->line.len > 0 && cli_str_add(&x->line, " ", 1) < 0) ||
                (x->quote ? cli_word_quote(&x->line, x->pend[i].v[j],
                                           x->pend[i].len[j])
                          : cli_str_add(&x->line, x->pend[i].v[j],
                                        x->pend[i].len[j])) < 0)
                return -1;
    return 0;
}

/*
 * A stdin line longer than message_max, of which only the start was kept
 * (MPROC__ITEM_CUT): no command is made of it; it is a job of its own,
 * which fails as too large, named by that start (x->line) and its size
 * (x->cut_len).  Returns as next_line().
 */
static int
cut_line(struct exec *x, struct cli_tuple *t)
{
    int r = MPROC__ITEM_CUT;

    x->seq++;
    x->line.len = 0;
    if (cli_str_add(&x->line, t->n > 0 ? t->v[0] : "",
                    t->n > 0 ? t->len[0] : 0) < 0 ||
        tag_store(x, x->seq, t, 1) < 0 ||
        (x->results != NULL && !x->dry &&
         job_str_put(&x->cmds, &x->ncmds, x->seq, x->line.s) < 0))
        r = MPROC_ENOMEM;
    cli_tuple_free(t);
    return r;
}

/* Make the next command line into x->line: 1, 0 when none is left,
 * MPROC_EAGAIN, MPROC__ITEM_CUT (cut_line()), or < 0. */
static int
next_line(struct exec *x)
{
    struct cli_tuple t;
    size_t cap = x->mode == CLI_LINE_ONE ? 1 : x->max_args, cost = 0, i;
    size_t keep;
    int r;

    while (!x->eof && (cap == 0 || x->npend < cap)) {
        if (x->npend == x->pcap) {
            size_t n = x->pcap ? x->pcap * 2 : 16;
            struct cli_tuple *p = realloc(x->pend, n * sizeof(*p));
            if (p == NULL)
                return MPROC_ENOMEM;
            x->pend = p;
            x->pcap = n;
        }
        if (x->has_carry) {
            t = x->carry;
            x->has_carry = false;
            r = x->carry_cut ? MPROC__ITEM_CUT : 1;
        } else {
            r = cli_exec_next_group(x, &t);
        }
        if (r == MPROC__ITEM_CUT && x->npend > 0) {
            /* The line so far goes first; it fails alone, next. */
            x->carry = t;
            x->has_carry = x->carry_cut = true;
            break;
        }
        if (r == MPROC__ITEM_CUT)
            return cut_line(x, &t);
        if (r == MPROC_EAGAIN && x->npend > 0 && x->mode != CLI_LINE_ONE &&
            x->est_len * 2 > x->max_chars)
            break; /* half full and the input is slow: go */
        if (r < 0) {
            cli_tuple_free(&t);
            return r;
        }
        if (r == 0) {
            x->eof = true;
            break;
        }
        if (x->mode != CLI_LINE_ONE) {
            if (tuple_cost(x, &t, &cost) < 0) {
                cli_tuple_free(&t);
                return MPROC_ENOMEM;
            }
            if (x->npend > 0 && x->est_len + cost > x->max_chars) {
                x->carry = t; /* full: it opens the next line */
                x->has_carry = true;
                x->carry_cut = false;
                break;
            }
            x->est_len += cost;
        }
        x->pend[x->npend++] = t;
    }
    if (x->mode != CLI_LINE_ONE && x->spread && !x->spread_done &&
        !x->eof && !x->has_carry && cap > 0 && x->npend == cap) {
        /* Full by -n's count, this line may be the last: parallel knows,
         * having read one item more, so this waits for it (or stdin's
         * end) too; it opens the next line. */
        r = cli_exec_next_group(x, &t);
        if (r == 0) {
            x->eof = true;
        } else if (r == 1 || r == MPROC__ITEM_CUT) {
            x->carry = t;
            x->has_carry = true;
            x->carry_cut = r == MPROC__ITEM_CUT;
        } else {
            cli_tuple_free(&t);
            return r; /* MPROC_EAGAIN: the line waits as it is */
        }
    }
    if (x->mode != CLI_LINE_ONE && x->eof &&
        (keep = cli_exec_spread(x, x->npend)) < x->npend) {
        /* The last line, spread over the jobs: it keeps its share, the
         * rest make the lines after it, of that many items each.  (On
         * failure each item is either moved, and zeroed, or still here:
         * exec_free() frees them all.) */
        for (i = keep; i < x->npend; i++)
            if (cli_exec_unget(x, &x->pend[i]) < 0)
                return MPROC_ENOMEM;
        x->npend = x->max_args = keep;
        x->eof = false;
    }
    if (x->npend == 0)
        return 0;
    x->seq++;
    if ((x->raw ? raw_line(x) : cli_line_make(&x->line, x->tmpl, x->line_mode,
                                              x->pend, x->npend,
                                              x->seq)) < 0 ||
        tag_store(x, x->seq, x->pend, x->npend) < 0 ||
        (x->results != NULL && !x->dry &&
         (job_str_put(&x->cmds, &x->ncmds, x->seq, x->line.s) < 0 ||
          cli_exec_results_wrap(x, x->pend, x->npend, &x->line) < 0)))
        return MPROC_ENOMEM;
    for (i = 0; i < x->npend; i++)
        cli_tuple_free(&x->pend[i]);
    x->npend = 0;
    x->est_len = x->base_len;
    return 1;
}

/* The pool's input: one command line per item. */
static int
next_item(void *user, struct mproc_item *item)
{
    struct exec *x = user;
    long long now;
    int r;

    if (x->halting)
        return 0;
    if (x->delay_ms > 0) {
        now = mproc__now_ms();
        if (x->next_start_ms > now)
            return MPROC_EAGAIN; /* the pool polls again in a few ms */
        x->next_start_ms = now + x->delay_ms;
    }
    r = next_line(x);
    if (r == MPROC_EAGAIN)
        x->next_start_ms = 0; /* the wait for input is the delay */
    if (r <= 0)
        return r;
    item->data = x->line.s;
    item->len = r == MPROC__ITEM_CUT ? x->cut_len : x->line.len;
    return r;
}

/*
 * The shell the commands run in, as parallel chooses it: $PARALLEL_SHELL,
 * else $SHELL when it is a Bourne-like shell (a C shell or fish would
 * not read the lines as sh does), else NULL (the exec plugin's /bin/sh).
 * An absolute path to an executable, fit for a job file's value.
 */
static const char *
user_shell(void)
{
    static const char *const bourne[] = {"sh",  "bash", "dash", "ksh",
                                         "mksh", "zsh", "ash",  "yash"};
    const char *v[2] = {getenv("PARALLEL_SHELL"), getenv("SHELL")}, *b;
    size_t i, k;

    for (i = 0; i < 2; i++) {
        if (v[i] == NULL || v[i][0] != '/' || strpbrk(v[i], " \t;#") ||
            access(v[i], X_OK) != 0)
            continue;
        if (i == 0)
            return v[i];
        b = strrchr(v[i], '/') + 1;
        for (k = 0; k < sizeof(bourne) / sizeof(bourne[0]); k++)
            if (strcmp(b, bourne[k]) == 0)
                return v[i];
    }
    return NULL;
}

/* {%}: a mark that the workers replace with their slot (exec.h): 0, or
 * an exit status.  Only when the command has {%}.  Made from the command
 * (no argument holds it by chance), the same in every run of it: the job
 * log records the lines, and a --resume compares them. */
static int
slot_mark(struct exec *x)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    const char *c;

    if (strstr(x->tmpl, "{%}") == NULL)
        return 0;
    for (c = x->tmpl; *c != '\0'; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
    snprintf(x->slot, sizeof(x->slot), "@mproc-slot-%016llx@",
             (unsigned long long)h);
    cli_line_set_slot(x->slot);
    if (setenv(CLI_SLOT_ENV, x->slot, 1) != 0) {
        cli_error("exec: %s", strerror(errno));
        return CLI_EXIT_SOFTWARE;
    }
    return 0;
}

/* --dry-run: the command line, {%} as the slot it would run in (the jobs
 * taking turns, as parallel shows them). */
static void
dry_print(struct exec *x)
{
    const char *p = x->line.s, *hit;
    size_t n = strlen(x->slot);

    while (n > 0 && (hit = strstr(p, x->slot)) != NULL) {
        fwrite(p, 1, (size_t)(hit - p), stdout);
        printf("%llu", (x->seq - 1) % (x->jobs ? x->jobs : 1) + 1);
        p = hit + n;
    }
    printf("%s\n", p);
}

/* --tag: each line of the output after the job's arguments and a tab;
 * a big output comes in pieces, which may end mid-line. */
static int
write_tagged(void *user, FILE *out, const struct mproc_result *r,
             const char *data, size_t len, bool first)
{
    struct exec *x = user;
    const char *p = data, *end = p + len, *nl;
    const char *tag = r->index < x->ntags ? x->tags[r->index] : NULL;

    if (tag == NULL)
        tag = "";
    if (first)
        x->tag_bol = true;
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        nl = nl ? nl + 1 : end;
        if ((x->tag_bol && (fputs(tag, out) == EOF || fputc('\t', out) == EOF)) ||
            fwrite(p, 1, (size_t)(nl - p), out) != (size_t)(nl - p))
            return -1;
        x->tag_bol = nl[-1] == '\n';
        p = nl;
    }
    return 0;
}

/* The command's own exit status (a field of the result), for --halt. */
static int
exit_status_of(const struct mproc_result *r)
{
    if (r->exitcode > 0 && r->exitcode < 256)
        return r->exitcode;
    if (r->exitcode < 0 && r->exitcode > -128)
        return 128 - r->exitcode; /* killed by a signal, as a shell says */
    return 1;
}

/* --halt: count, and stop when the condition holds. */
static int
on_result(void *user, const struct mproc_result *r)
{
    struct exec *x = user;
    unsigned long long n, of;
    bool hit;

    if (r->index < x->ntags) {
        /* Written (or not run): its tag is of no more use. */
        free(x->tags[r->index]);
        x->tags[r->index] = NULL;
    }
    if (r->index < x->ncmds) {
        free(x->cmds[r->index]);
        x->cmds[r->index] = NULL;
    }
    if (r->status == MPROC_ECANCELED)
        return 0;
    if (r->status == 0)
        x->nok++;
    else
        x->nfail++;
    if (x->halt_when == 0 || x->halting)
        return 0;
    n = x->halt_fail ? x->nfail : x->nok;
    if ((r->status == 0) == x->halt_fail)
        return 0;
    if (x->halt_pct) {
        of = x->stream == NULL ? x->ntuples : x->nok + x->nfail;
        hit = of > 0 && n * 100.0 >= x->halt_n * (double)of;
    } else {
        hit = (double)n >= x->halt_n;
    }
    if (!hit)
        return 0;
    x->halting = true;
    /* Not even a job already handed to a worker starts now. */
    cli_xdir_halt(x->xdir);
    x->halted_fail = x->halt_fail;
    x->halt_status = x->halt_fail ? exit_status_of(r) : 0;
    {
        /* The job that met the rule first, as the workers saw them end
         * (results come in input order, parallel's in time order): its
         * status is the run's. */
        unsigned long long k, f;
        int code;

        if (x->halt_fail && cli_xdir_halted(x->xdir, &code, &k, &f))
            x->halt_status = code;
    }
    if (x->halt_when == 1) {
        cli_error("exec: --halt: %llu job%s %s; starting no more jobs", n,
                  n == 1 ? "" : "s", x->halt_fail ? "failed" : "succeeded");
        return 0;
    }
    cli_error("exec: --halt: %llu job%s %s; stopping the running ones", n,
              n == 1 ? "" : "s", x->halt_fail ? "failed" : "succeeded");
    return 1;
}

/* --halt now: a worker saw the rule met as a command ended; its result
 * may wait for its turn (ordered output), the running jobs must not. */
static int
on_poll(void *user)
{
    struct exec *x = user;
    unsigned long long nok, nfail, n;
    int code;

    if (x->halt_when != 2 || x->halting ||
        !cli_xdir_halted(x->xdir, &code, &nok, &nfail))
        return 0;
    x->halting = true;
    x->halted_fail = x->halt_fail;
    x->halt_status = x->halt_fail ? code : 0;
    n = x->halt_fail ? nfail : nok;
    cli_error("exec: --halt: %llu job%s %s; stopping the running ones", n,
              n == 1 ? "" : "s", x->halt_fail ? "failed" : "succeeded");
    return 1;
}

/* How a failure names a job: as the user wrote it, not the wrapper that
 * runs it (--results) nor with {%}'s mark; NULL: the item as it is. */
static const char *
item_text(void *user, const struct mproc_result *r)
{
    struct exec *x = user;
    const char *t = r->index < x->ncmds ? x->cmds[r->index] : NULL;
    const char *hit;
    size_t n = strlen(x->slot), tl;

    if (n == 0)
        return t;
    if (t == NULL) {
        if (r->item == NULL || memmem(r->item, r->item_len, x->slot, n) ==
                                   NULL)
            return NULL;
        x->shown.len = 0;
        if (cli_str_add(&x->shown, r->item, r->item_len) < 0)
            return NULL;
        t = x->shown.s;
    }
    /* {%} as the user wrote it, not the run's mark. */
    x->named.len = 0;
    if (cli_str_add(&x->named, "", 0) < 0)
        return t;
    tl = strlen(t);
    while ((hit = memmem(t, tl, x->slot, n)) != NULL) {
        if (cli_str_add(&x->named, t, (size_t)(hit - t)) < 0 ||
            cli_str_add(&x->named, "{%}", 3) < 0)
            return NULL;
        tl -= (size_t)(hit - t) + n;
        t = hit + n;
    }
    return cli_str_add(&x->named, t, tl) < 0 ? NULL : x->named.s;
}

/* --line-buffer: its lines are the output, written by a thread of
 * their own; the run fails as for its own output when they cannot be. */
static int
lines_flush(void *user, int how)
{
    return cli_xdir_flush(((struct exec *)user)->xdir, how);
}

/* A job that --halt kept from starting (the exec plugin's words). */
static bool
not_run(void *user, const struct mproc_result *r)
{
    const struct exec *x = user;

    const char *m = r->message;
    size_t held = strlen(MPROC__HELD_FAILED);

    if (x->halt_when == 0 || m == NULL)
        return false;
    /* The plugin may see the condition before the host does.  Behind a
     * job that --halt now cut short, the pool holds it as cancelled, its
     * message after MPROC__HELD_FAILED's words. */
    if (r->status == MPROC_ECANCELED && strncmp(m, MPROC__HELD_FAILED,
                                                held) == 0 &&
        strncmp(m + held, ": ", 2) == 0)
        return strcmp(m + held + 2, CLI_HALT_MSG) == 0;
    return r->status == MPROC_ETASK && strcmp(m, CLI_HALT_MSG) == 0;
}

/* parallel's exit status: the number of failed jobs (101: more than 100);
 * with --halt fail=Y%, the percentage of the jobs that failed (rounded
 * up); after --halt fail=1, the failing job's status; 0 after success=N
 * was met. */
static int
exit_status(void *user, int rc, unsigned long long failed)
{
    struct exec *x = user;
    unsigned long long of;

    if (rc != CLI_EXIT_OK && rc != CLI_EXIT_FAILED)
        return rc;
    if (x->halting && !x->halted_fail)
        return 0;
    if (x->halting && !x->halt_pct && x->halt_n <= 1)
        return x->halt_status;
    if (x->halt_when != 0 && x->halt_fail && x->halt_pct) {
        of = x->stream == NULL ? x->ntuples : x->nok + x->nfail;
        return of == 0 ? 0 : (int)((failed * 100 + of - 1) / of);
    }
    if (failed > 0)
        return failed > 100 ? 101 : (int)failed;
    return rc;
}

/* How many commands the ::: lists make, or -1: unknown (stdin, or -X,
 * -m, -n, which fill each command up to its length). */
static long long
jobs_known(const struct exec *x)
{
    /* -N with -X or -m: its last group is spread, by the items left. */
    if (x->stream != NULL || x->mode != CLI_LINE_ONE || x->spread)
        return -1;
    if (x->group_n > 0)
        return (long long)((x->ntuples + x->group_n - 1) / x->group_n);
    return (long long)x->ntuples;
}

/* --retries N (parallel's: N runs in all, at least 1) as job.retries
 * (the runs after the first): 0 with the number in out; -1 when it is not
 * a plain number (the key's own check then says what is wrong). */
static int
parse_retries(const char *s, char *out, size_t cap)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < 0)
        return -1;
    snprintf(out, cap, "%ld", v > 0 ? v - 1 : 0);
    return 0;
}

/* -j N, N%, +N, -N (of the CPUs): a pool.workers value. */
static int
parse_jobs(const char *s, char *out, size_t cap)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN), v;
    char *end;

    if (ncpu < 1)
        ncpu = 1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || errno != 0 || (*end != '\0' && strcmp(end, "%") != 0))
        return -1;
    if (*end == '%')
        v = ncpu * v / 100;
    else if (s[0] == '+' || s[0] == '-')
        v = ncpu + v;
    if (v < 1)
        v = 1;
    if (v > JOBS_MAX) {
        /* As parallel, which runs as many as it has file handles for. */
        cli_error("exec: warning: -j %ld: at most %d jobs run at a time",
                  v, JOBS_MAX);
        v = JOBS_MAX;
    }
    snprintf(out, cap, "pool.workers=%ld", v);
    return 0;
}

/* --halt WHEN,WHAT=N (or parallel's old 0, 1, 2); -1 when malformed. */
static int
parse_halt(struct exec *x, const char *s)
{
    const char *c = strchr(s, ',');
    char *end;

    if (strcmp(s, "never") == 0 || strcmp(s, "0") == 0)
        return 0;
    if (strcmp(s, "1") == 0 || strcmp(s, "2") == 0) {
        x->halt_when = s[0] - '0';
        x->halt_fail = true;
        x->halt_n = 1;
        return 0;
    }
    if (c == NULL)
        return -1;
    if (strncmp(s, "now,", 4) == 0)
        x->halt_when = 2;
    else if (strncmp(s, "soon,", 5) == 0)
        x->halt_when = 1;
    else
        return -1;
    c++;
    if (strncmp(c, "fail=", 5) == 0)
        x->halt_fail = true, c += 5;
    else if (strncmp(c, "success=", 8) == 0)
        x->halt_fail = false, c += 8;
    else
        return -1;
    if (*c < '0' || *c > '9')
        return -1;
    x->halt_n = strtod(c, &end);
    x->halt_pct = *end == '%';
    if ((*end != '\0' && strcmp(end, "%") != 0) || x->halt_n <= 0 ||
        (x->halt_pct && x->halt_n > 100))
        return -1;
    return 0;
}

static void
exec_free(struct exec *x)
{
    size_t i;

    for (i = 0; i < x->nsrc; i++)
        cli_tuple_free(&x->src[i]);
    free(x->src);
    free(x->plus);
    cli_tuple_free(&x->grp);
    cli_tuple_free(&x->hnames);
    free(x->digit);
    for (i = 0; i < x->npend; i++)
        cli_tuple_free(&x->pend[i]);
    free(x->pend);
    if (x->has_carry)
        cli_tuple_free(&x->carry);
    if (x->has_held)
        cli_tuple_free(&x->held);
    for (i = x->back_at; i < x->nback; i++)
        cli_tuple_free(&x->back[i]);
    free(x->back);
    free(x->grp_ends);
    for (i = 0; i < x->ntags; i++)
        free(x->tags[i]);
    free(x->tags);
    for (i = 0; i < x->ncmds; i++)
        free(x->cmds[i]);
    free(x->cmds);
    cli_str_free(&x->line);
    cli_str_free(&x->tagbuf);
    cli_str_free(&x->scratch);
    cli_str_free(&x->shown);
    cli_str_free(&x->named);
    if (x->has_re)
        regfree(&x->re);
    cli_input_close(x->stream);
    free(x->tmpl_owned);
    cli_xdir_close(x->xdir);
}

/*
 * A duration as parallel's TIME POSTFIXES: seconds, or numbers each
 * followed by s, m, h or d (1m30s, 1d3.5h), the last one maybe bare.
 */
static bool
exec_time(const char *s, double *out)
{
    double t = 0, v, mul;
    const char *q;
    char *e;

    if (*s == '\0')
        return false;
    while (*s != '\0') {
        if (!(isdigit((unsigned char)*s) || *s == '.'))
            return false; /* no sign, space, inf, nan or hex */
        v = strtod(s, &e);
        if (e == s || !(v >= 0))
            return false;
        for (q = s; q < e; q++)
            if (!isdigit((unsigned char)*q) && *q != '.')
                return false; /* no exponent, no hex */
        switch (*e) {
        case '\0': mul = 1; break;
        case 's': mul = 1; e++; break;
        case 'm': mul = 60; e++; break;
        case 'h': mul = 3600; e++; break;
        case 'd': mul = 86400; e++; break;
        default: return false;
        }
        t += v * mul;
        s = e;
    }
    *out = t;
    return true;
}

/*
 * -d's delimiter: one byte, or one of the C escapes parallel takes
 * (\n \t \r \0 \\, octal \NNN, hexadecimal \xHH).  A delimiter of
 * several bytes (which parallel takes too) is refused.
 */
static bool
exec_delim(const char *s, char *out)
{
    unsigned v = 0;
    int n;

    if (s[0] == '\0')
        return false;
    if (s[0] != '\\' || s[1] == '\0') {
        *out = s[0];
        return s[1] == '\0';
    }
    switch (s[1]) {
    case 'n': *out = '\n'; return s[2] == '\0';
    case 't': *out = '\t'; return s[2] == '\0';
    case 'r': *out = '\r'; return s[2] == '\0';
    case '\\': *out = '\\'; return s[2] == '\0';
    case 'x':
        for (n = 2; n < 4 && isxdigit((unsigned char)s[n]); n++)
            v = v * 16 + (unsigned)(isdigit((unsigned char)s[n])
                                        ? s[n] - '0'
                                        : (tolower((unsigned char)s[n]) -
                                           'a' + 10));
        *out = (char)v;
        return n > 2 && s[n] == '\0';
    default:
        for (n = 1; n < 4 && s[n] >= '0' && s[n] <= '7'; n++)
            v = v * 8 + (unsigned)(s[n] - '0');
        *out = (char)v;
        return n > 1 && v <= 255 && s[n] == '\0';
    }
}

int
cmd_exec(int argc, char **argv)
{
    /* -v / -t: the job prints its command line first (-v with its
     * output, -t on stderr as it starts), as parallel's. */
    /* A job's stderr comes after its stdout, in its turn (stderr =
     * after), as parallel groups them; as it ends with --line-buffer
     * (whose lines come as they are written) and -t (whose command
     * line is meant to show as the job starts). */
    /* The line is "$1"; it runs with no positional parameters and no
     * variable of ours left ($1, $# are the command's, as in parallel). */
#define EXEC_RUN "_mproc_c=$1; shift; eval \"unset _mproc_c; $_mproc_c\"\n"
    static const char *const job_text[4] = {
        "[job]\nplugin = exec\ntask = run\n[args]\nstderr = after\n"
        "command = " EXEC_RUN,
        "[job]\nplugin = exec\ntask = run\n[args]\nstderr = after\n"
        "command = printf '%s\\n' \"$1\"; " EXEC_RUN,
        "[job]\nplugin = exec\ntask = run\n[args]\n"
        "command = printf '%s\\n' \"$1\" >&2; " EXEC_RUN,
        "[job]\nplugin = exec\ntask = run\n[args]\n"
        "command = printf '%s\\n' \"$1\" >&2; printf '%s\\n' \"$1\"; "
        EXEC_RUN};
#undef EXEC_RUN
    struct option longopts[48 + 2 * KEYS_MAX + 1];
    struct exec_key keys[KEYS_MAX];
    size_t nkeys = 0, nopts, k;
    static const struct option base[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"keep-order", no_argument, NULL, 'k'},
        {"null", no_argument, NULL, '0'},
        {"delimiter", required_argument, NULL, 'd'},
        {"eof", required_argument, NULL, 'E'},
        {"quote", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"max-procs", required_argument, NULL, 'P'},
        {"no-run-if-empty", no_argument, NULL, 'r'},
        {"will-cite", no_argument, NULL, 'k'},
        {"no-notice", no_argument, NULL, 'k'},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"bar", no_argument, NULL, OPT_PROGRESS},
        {"eta", no_argument, NULL, OPT_PROGRESS},
        {"arg-file", required_argument, NULL, 'a'},
        {"max-args", required_argument, NULL, 'n'},
        {"max-chars", required_argument, NULL, 's'},
        {"colsep", required_argument, NULL, OPT_COLSEP},
        {"link", no_argument, NULL, OPT_LINK},
        {"xargs", no_argument, NULL, OPT_XARGS},
        {"xapply", no_argument, NULL, OPT_LINK},
        {"tag", no_argument, NULL, OPT_TAG},
        {"results", required_argument, NULL, OPT_RESULTS},
        {"res", required_argument, NULL, OPT_RESULTS},
        {"halt", required_argument, NULL, OPT_HALT},
        {"halt-on-error", required_argument, NULL, OPT_HALT},
        {"delay", required_argument, NULL, OPT_DELAY},
        {"dry-run", no_argument, NULL, OPT_DRY},
        {"header", required_argument, NULL, OPT_HEADER},
        {"line-buffer", no_argument, NULL, OPT_LB},
        {"lb", no_argument, NULL, OPT_LB},
        {"group", no_argument, NULL, 'g'},
        {"joblog", required_argument, NULL, OPT_JOBLOG},
        {"resume", no_argument, NULL, OPT_RESUME},
        {"resume-failed", no_argument, NULL, OPT_RESUME},
        {"stats", required_argument, NULL, OPT_STATS},
        {"set", required_argument, NULL, OPT_SET},
        {"help", no_argument, NULL, 'h'},
    };
    _Static_assert(sizeof(base) / sizeof(base[0]) <= 48,
                   "longopts has room for base");
    struct exec x = {0};
    struct cli_args args = {0};
    struct cli_job cj = {0};
    struct cli_input *in = NULL;
    struct cli_run_hooks hooks = {0};
    const char **afiles = NULL;
    size_t nafiles = 0, i, nb = sizeof(base) / sizeof(base[0]);
    char *end;
    int c, rc = CLI_EXIT_SOFTWARE, li;
    bool ordered_set = false, lb = false, jobs_all = false, xargs = false;
    char *rule = NULL; /* --halt's, for the plugin */
    double d;
    const char *name, *sec;

    memcpy(longopts, base, sizeof(base));
    nopts = nb;
    for (i = 0; (name = mproc__config_key(i, &sec)) != NULL; i++) {
        struct exec_key *ek = &keys[nkeys];
        char *u;

        for (k = 0; k < MPROC__ARRAY_SIZE(exec_owns); k++)
            if (strcmp(sec, "job") == 0 && strcmp(name, exec_owns[k]) == 0)
                break;
        if (k < MPROC__ARRAY_SIZE(exec_owns))
            continue;
        assert(nkeys < KEYS_MAX && strlen(name) < sizeof(ek->dashed));
        ek->section = sec;
        ek->name = name;
        ek->dashed[0] = '\0';
        longopts[nopts++] = (struct option){name, required_argument, NULL,
                                            OPT_KEY + (int)nkeys};
        if (strchr(name, '_') != NULL) {
            strcpy(ek->dashed, name);
            for (u = ek->dashed; (u = strchr(u, '_')) != NULL; u++)
                *u = '-';
            longopts[nopts++] = (struct option){ek->dashed, required_argument,
                                                NULL, OPT_KEY + (int)nkeys};
        }
        nkeys++;
    }
    memset(&longopts[nopts], 0, sizeof(longopts[0]));
    x.max_chars = MAX_CHARS;
    x.sep = '\n';
    args.sets = calloc((size_t)argc + 4, sizeof(*args.sets));
    args.owned = calloc((size_t)argc + 4, sizeof(*args.owned));
    afiles = calloc((size_t)argc + 1, sizeof(*afiles));
    if (args.sets == NULL || args.owned == NULL || afiles == NULL) {
        cli_error("out of memory");
        goto done;
    }
    optind = 1;
    opterr = 0;
    /* "+": options end at the command, whose own options are its own. */
    while ((c = getopt_long(argc, argv, "+j:P:k0d:E:qvtra:n:N:s:Xmgh", longopts, &li)) !=
           -1) {
        char *set = NULL;
        switch (c) {
        case 'j':
        case 'P':
            if (strcmp(optarg, "0") == 0) {
                jobs_all = true;
                break;
            }
            set = malloc(64);
            if (set == NULL || parse_jobs(optarg, set, 64) < 0) {
                free(set);
                rc = cli_usage_error("exec",
                                     "-%c: expected a number of jobs (N, N%%, "
                                     "+N or -N), got '%s'",
                                     c, optarg);
                goto done;
            }
            break;
        case 'r': /* --no-run-if-empty: blank items run nothing */
            x.skip_blank = true;
            break;
        case 'k':
        case 'g':
            break; /* the default: in input order, grouped per job */
        case 'v':
            x.echo |= 1;
            break;
        case OPT_PROGRESS:
            args.progress = true;
            break;
        case 't':
            x.echo |= 2;
            break;
        case '0':
            x.sep = '\0';
            break;
        case 'E': /* an empty one is none, as in parallel */
            x.eof_str = *optarg != '\0' ? optarg : NULL;
            break;
        case 'd':
            if (!exec_delim(optarg, &x.sep)) {
                rc = cli_usage_error("exec",
                                     "-d: expected one byte (or \\n, \\t, "
                                     "\\r, \\0, \\\\, \\NNN, \\xHH), "
                                     "got '%s'",
                                     optarg);
                goto done;
            }
            break;
        case 'q':
            x.quote = true;
            break;
        case 'a':
            afiles[nafiles++] = optarg;
            break;
        case 'N':
        case 'n':
        case 's':
            errno = 0;
            d = (double)strtoul(optarg, &end, 10);
            if (*optarg == '-' || *end != '\0' || end == optarg || d < 1 ||
                (c == 's' && d > MAX_CHARS)) {
                rc = cli_usage_error("exec",
                                     c != 's'
                                         ? "-%c: expected a positive number "
                                           "of items, got '%s'"
                                         : "-%c: expected 1..131000 bytes, "
                                           "got '%s'",
                                     c, optarg);
                goto done;
            }
            if (c == 'N')
                x.group_n = (size_t)d;
            else if (c == 'n')
                x.max_args = (size_t)d;
            else
                x.max_chars = (size_t)d;
            break;
        case 'X':
        case 'm':
            x.mode = c == 'X' ? CLI_LINE_X : CLI_LINE_M;
            x.spread = true; /* parallel's -X and -m; not --xargs, -n */
            break;
        case OPT_XARGS:
            xargs = true;
            break;
        case OPT_COLSEP:
            if (x.has_re)
                regfree(&x.re);
            x.has_re = false;
            end = cli_colsep_ere(optarg);
            if (end == NULL || optarg[0] == '\0' ||
                regcomp(&x.re, end, REG_EXTENDED) != 0) {
                free(end);
                rc = cli_usage_error("exec",
                                     "--colsep: not a regular expression: "
                                     "'%s'",
                                     optarg);
                goto done;
            }
            free(end);
            x.has_re = true;
            break;
        case OPT_LINK:
            x.link = true;
            break;
        case OPT_TAG:
            x.tag = true;
            break;
        case OPT_RESULTS:
            if (cli_line_has_repl(optarg)) {
                /* parallel's newer name templates: not here (the files
                 * would go elsewhere than where the next step looks). */
                rc = cli_usage_error("exec", "--results: a folder with "
                                     "replacement strings ({}...) is not "
                                     "supported; give a folder: "
                                     "DIR/1/VALUE/... is written");
                goto done;
            }
            x.results = optarg;
            break;
        case OPT_HALT:
            if (parse_halt(&x, optarg) < 0) {
                rc = cli_usage_error("exec",
                                     "--halt: expected now|soon,fail=N|"
                                     "success=N|fail=P%%, got '%s'",
                                     optarg);
                goto done;
            }
            break;
        case OPT_DELAY:
            if (!exec_time(optarg, &d) || d > 86400) {
                rc = cli_usage_error("exec",
                                     "--delay: expected seconds (0..86400; "
                                     "also 0.5s, 2m, 1h, 1m30s), got '%s'",
                                     optarg);
                goto done;
            }
            x.delay_ms = (long long)(d * 1000);
            break;
        case OPT_DRY:
            x.dry = true;
            break;
        case OPT_HEADER:
            if (strcmp(optarg, ":") != 0) {
                rc = cli_usage_error("exec",
                                     "--header: expected ':' (the first item "
                                     "names the columns), got '%s'",
                                     optarg);
                goto done;
            }
            x.header = true;
            break;
        case OPT_LB:
            lb = true;
            break;
        case OPT_JOBLOG:
            args.joblog = optarg;
            break;
        case OPT_RESUME:
            args.resume = true;
            break;
        case OPT_STATS:
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0) {
                rc = cli_usage_error(
                    "exec", "--stats: expected text or json, got '%s'", optarg);
                goto done;
            }
            args.stats = optarg;
            break;
        case OPT_SET:
            args.sets[args.nsets++] = optarg;
            break;
        case 'h':
            fputs(exec_usage, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        default:
            if (c >= OPT_KEY && c < OPT_KEY + (int)nkeys) {
                const struct exec_key *ek = &keys[c - OPT_KEY];
                bool in_job = strcmp(ek->section, "job") == 0;
                const char *v = optarg;
                char n[24];

                /* parallel's --retries N runs a job N times at most (1:
                 * once); the key counts the runs after the first. */
                if (in_job && strcmp(ek->name, "retries") == 0 &&
                    parse_retries(optarg, n, sizeof(n)) == 0)
                    v = n;
                if (asprintf(&set, "%s.%s=%s", ek->section, ek->name, v) <
                    0)
                    set = NULL;
                if (set == NULL) {
                    cli_error("out of memory");
                    goto done;
                }
                if (in_job && strcmp(ek->name, "ordered") == 0)
                    ordered_set = true;
                break;
            }
            if (optopt != 0 && strchr("janNs", optopt) != NULL)
                rc =
                    cli_usage_error("exec", "option -%c needs a value", optopt);
            else if (argv[optind - 1][0] == '-' && argv[optind - 1][1] == '-' &&
                     strchr(argv[optind - 1], '=') == NULL && optopt != 0)
                rc = cli_usage_error("exec", "option '%s' needs a value",
                                     argv[optind - 1]);
            else
                rc = cli_usage_error("exec", "unknown option '%s'",
                                     argv[optind - 1]);
            goto done;
        }
        if (set != NULL) {
            args.owned[args.nowned++] = set;
            args.sets[args.nsets++] = set;
        }
    }
    if (args.resume && args.joblog == NULL) {
        rc = cli_usage_error("exec", "--resume needs --joblog FILE (the log "
                             "of the run to continue)");
        goto done;
    }
    if (lb && !ordered_set)
        args.sets[args.nsets++] = (char *)"job.ordered=false";
    {
        /* First too: a --set args.shell=... of the user's comes after. */
        const char *sh = user_shell();
        char *set = NULL;

        if (sh != NULL && asprintf(&set, "args.shell=%s", sh) < 0) {
            cli_error("out of memory");
            rc = CLI_EXIT_SOFTWARE;
            goto done;
        }
        if (set != NULL) {
            memmove(args.sets + 1, args.sets,
                    args.nsets * sizeof(*args.sets));
            args.sets[0] = set;
            args.nsets++;
            args.owned[args.nowned++] = set;
        }
    }
    if (lb) {
        /* First: a --set args.stderr=... of the user's comes after. */
        memmove(args.sets + 1, args.sets, args.nsets * sizeof(*args.sets));
        args.sets[0] = (char *)"args.stderr=show";
        args.nsets++;
    }
    rc = cli_exec_sources(&x, argc, argv, optind);
    if (rc >= 0)
        goto done;
    for (i = 0; i < nafiles; i++) {
        struct cli_tuple *s = cli_exec_source_new(&x);
        if (s == NULL) {
            cli_error("out of memory");
            rc = CLI_EXIT_SOFTWARE;
            goto done;
        }
        rc = cli_exec_source_read(s, afiles[i], x.sep);
        if (rc != 0)
            goto done;
    }
    /* As parallel: the -a files are the first sources ({1}...), before
     * the ::: and :::: ones, whatever the order on the command line. */
    cli_exec_sources_rotate(&x, nafiles);
    if (x.header && (rc = cli_exec_header(&x)) >= 0)
        goto done;
    if (x.results != NULL && x.max_chars > MAX_CHARS - 8192)
        x.max_chars = MAX_CHARS - 8192; /* room for the wrapper */
    if (x.group_n > 0) {
        /* -N: N items per command, {1}..{N} each one's (parallel's -N
         * takes precedence over -X, -m and -n, but for -X's and -m's
         * spreading of the last group: cli_exec_next_group()). */
        x.mode = CLI_LINE_ONE;
        x.max_args = 0;
    }
    if (x.mode == CLI_LINE_ONE && x.group_n == 0 && (x.max_args > 1 || xargs))
        x.mode = CLI_LINE_M; /* -n N or --xargs alone: as -m, unspread */
    if (x.raw)
        x.mode = CLI_LINE_ONE; /* each input is a whole command */
    /* -N's {} is context-replaced, as -X's: parallel -N2 echo x{}y gives
     * "xay xby", each value in the word's context. */
    x.line_mode = x.group_n > 0 && !x.raw ? CLI_LINE_X : x.mode;
    if (!cli_line_has_repl(x.tmpl)) {
        /* parallel appends the arguments: COMMAND {} */
        char *t = NULL;
        if (asprintf(&t, "%s {}", x.tmpl) < 0) {
            cli_error("out of memory");
            rc = CLI_EXIT_SOFTWARE;
            goto done;
        }
        free(x.tmpl_owned);
        x.tmpl = x.tmpl_owned = t;
    }

    if ((rc = slot_mark(&x)) != 0)
        goto done;
    {
        /* parallel's: the jobs see who runs them. */
        char pid[24];

        snprintf(pid, sizeof(pid), "%ld", (long)getpid());
        setenv("PARALLEL_PID", pid, 1);
    }
    rc = cli_exec_count(&x);
    if (rc != 0)
        goto done;
    if (jobs_all) {
        /* -j 0: as many as there are jobs, within reason (parallel: as
         * many as file handles allow).  Stdin, with no source, is not
         * open yet: its count is unknown, not 0. */
        char *set = NULL;
        if (asprintf(&set, "pool.workers=%llu",
                     x.nsrc == 0 ? 256ULL
                              : x.ntuples < 1     ? 1ULL
                              : x.ntuples > 256 ? 256ULL
                                                : x.ntuples) < 0) {
            cli_error("out of memory");
            rc = CLI_EXIT_SOFTWARE;
            goto done;
        }
        args.owned[args.nowned++] = set;
        args.sets[args.nsets++] = set;
    }
    /* Under --results the wrapper shows the command
     * (cli_exec_results_wrap()). */
    rc = cli_job_load_mem(&cj, "mproc exec",
                          job_text[x.results != NULL ? 0 : x.echo], args.sets,
                          args.nsets);
    if (rc != 0)
        goto done;
    x.jobs = cj.job->workers;
    if (x.jobs == 0) {
        /* auto: one per CPU this process may run on, as the pool does */
        cpu_set_t set;
        x.jobs = sched_getaffinity(0, sizeof(set), &set) == 0
                     ? (unsigned)CPU_COUNT(&set)
                     : 1;
    }
    if (x.nsrc > 0) {
        x.digit = calloc(x.nsrc, sizeof(*x.digit));
        if (x.digit == NULL) {
            cli_error("out of memory");
            rc = CLI_EXIT_SOFTWARE;
            goto done;
        }
    } else {
        struct mproc__job stdin_job = {0};

        if (x.raw && isatty(STDIN_FILENO)) {
            rc = cli_usage_error("exec", "no command given (the commands "
                                 "would be read from the terminal: give "
                                 "one, or the commands on stdin or after "
                                 ":::)");
            goto done;
        }
        stdin_job.input_kind = MPROC__INPUT_STDIN;
        /* A line longer than that is not kept (next_line() in input.c):
         * no command holding it could run. */
        stdin_job.message_max = cj.job->message_max;
        rc = cli_input_open(&x.stream, &stdin_job, false);
        if (rc != 0)
            goto done;
        cli_input_set_sep(x.stream, x.sep);
    }
    if (x.mode != CLI_LINE_ONE) {
        if (cli_line_make(&x.scratch, x.tmpl, x.mode, NULL, 0, 1) < 0) {
            cli_error("out of memory");
            rc = CLI_EXIT_SOFTWARE;
            goto done;
        }
        x.base_len = x.est_len = x.scratch.len;
    }

    if (x.dry) {
        /* The commands, one per line, in order; nothing runs. */
        while ((rc = next_line(&x)) != 0) {
            if (rc == MPROC_EAGAIN) {
                struct pollfd p = {cli_input_fd(x.stream), POLLIN, 0};
                poll(&p, 1, -1);
                continue;
            }
            if (rc < 0) {
                rc = cli_input_failed(x.stream) ? CLI_EXIT_NOINPUT
                                                : CLI_EXIT_SOFTWARE;
                goto done;
            }
            if (rc == MPROC__ITEM_CUT) {
                /* As a run would say it fails (no command is made). */
                cli_error("item %llu: item is %zu bytes, more than "
                          "message_max (%zu)", x.seq - 1, x.cut_len,
                          cj.job->message_max);
                if (x.tag) {
                    free(x.tags[x.seq - 1]);
                    x.tags[x.seq - 1] = NULL;
                }
                continue;
            }
            if (x.tag) {
                /* parallel --tag --dry-run: the tag before the command. */
                printf("%s\t", x.tags[x.seq - 1]);
                free(x.tags[x.seq - 1]);
                x.tags[x.seq - 1] = NULL;
            }
            dry_print(&x);
        }
        rc = CLI_EXIT_OK; /* main() checks that stdout was written */
        goto done;
    }

    rc = cli_input_custom(&in, x.stream ? "stdin" : "the ::: inputs",
                          next_item, &x,
                          x.stream && x.delay_ms == 0 ? cli_input_fd(x.stream)
                                                      : -1,
                          jobs_known(&x));
    if (rc != 0)
        goto done;
    hooks.user = &x;
    hooks.write = x.tag ? write_tagged : NULL;
    hooks.result = on_result;
    hooks.skip = not_run;
    hooks.poll = on_poll;
    hooks.status = exit_status;
    hooks.flush = lines_flush;
    hooks.item = item_text;
    args.path = "mproc exec";
    args.quiet = !isatty(STDERR_FILENO);
    /* --line-buffer: the lines come through a FIFO (exec_lines.c); with
     * --results the output goes to files, and there is nothing to do. */
    lb = lb && x.results == NULL;
    /* The plugin judges --halt's rule itself, unless a failed attempt
     * may be retried (only the host knows a job's last attempt). */
    if (x.halt_when != 0 && cj.job->retries == 0 &&
        asprintf(&rule, "%d %.17g %d %llu", x.halt_fail, x.halt_n,
                 x.halt_pct, x.stream ? 0ULL : x.ntuples) < 0)
        rule = NULL;
    if ((lb || x.halt_when != 0) &&
        cli_xdir_open(&x.xdir, lb, x.tag, x.halt_when != 0, rule,
                      (x.echo & 2) != 0) < 0) {
        cli_error("exec: cannot make a folder for %s in %s: %s",
                  lb ? "--line-buffer" : "--halt",
                  getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
                  strerror(errno));
        rc = CLI_EXIT_CANTCREAT;
        goto done;
    }
    free(rule);
    rule = NULL;
    /* Set or not, whatever the environment held: the plugin reads each
     * item as a --results one when it is set. */
    if ((x.results != NULL ? setenv(CLI_RESULTS_ENV, x.results, 1)
                           : unsetenv(CLI_RESULTS_ENV)) != 0) {
        cli_error("exec: %s", strerror(errno));
        rc = CLI_EXIT_SOFTWARE;
        goto done;
    }
    rc = cli_run(&cj, &args, in, &hooks);
    cli_xdir_close(x.xdir);
    x.xdir = NULL;
    if (x.stream != NULL && cli_input_failed(x.stream) && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_NOINPUT;

done:
    free(rule);
    cli_input_close(in);
    cli_job_free(&cj);
    exec_free(&x);
    free(afiles);
    cli_args_free(&args);
    return rc;
}

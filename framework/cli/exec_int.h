/* SPDX-License-Identifier: MIT */
/*
 * mproc exec's state, shared by cmd_exec.c (options, command lines, the
 * run) and exec_sources.c (the ::: and :::: inputs, stdin, --colsep,
 * -N, --header).
 */
#ifndef MPROC_CLI_EXEC_INT_H
#define MPROC_CLI_EXEC_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli/cli.h"
#include "cli/exec.h"

struct exec {
    const char *tmpl;
    char *tmpl_owned;
    int mode;
    int line_mode; /* cli_line_make()'s: mode, or CLI_LINE_X for -N */
    size_t max_args, max_chars;
    char sep;
    bool link, tag, dry;
    bool skip_blank; /* -r: blank (white space only) values skipped */
    const char *eof_str; /* -E: a value equal to it ends its source (NULL:
                        none) */
    bool eof_hit;    /* -E: stdin's came; the rest is not read */
    bool quote;               /* -q: the command's words are data */
    int echo;                 /* -v: 1, each command printed; -t: 2, on
                                 stderr; both: 3 */
    bool has_re;
    regex_t re;
    const char *results;
    int halt_when; /* 0 never, 1 soon, 2 now */
    bool halt_fail;
    double halt_n;
    bool halt_pct;
    long long delay_ms, next_start_ms;
    unsigned jobs;
    /* sources */
    struct cli_tuple *src;
    bool *plus;               /* :::+ / ::::+: linked with the one before */
    size_t nsrc;
    size_t group_n;           /* -N: values of that many items per job */
    struct cli_tuple grp;     /* next_group(): gathered so far */
    size_t grp_count;
    bool header;              /* --header : */
    struct cli_tuple hnames;  /* its names, one per value */
    size_t *digit;            /* next_tuple(): an index per source */
    struct cli_input *stream; /* stdin, read as it comes, or NULL */
    unsigned long long ntuples, pos; /* in-memory: count and next */
    bool eof;
    /* tuples waiting for a command line */
    struct cli_tuple *pend;
    size_t npend, pcap;
    size_t base_len, est_len;
    unsigned long long seq;
    struct cli_str line, tagbuf, scratch;
    struct cli_str shown, named; /* item_text()'s */
    struct cli_tuple carry; /* -X / -m: did not fit the last line */
    bool has_carry;
    /* A stdin line longer than message_max (MPROC__ITEM_CUT): its size;
     * the tuple holding its start is `held` while it waits for the group
     * (-N) or the line (-X, -m) before it to go first. */
    size_t cut_len;
    struct cli_tuple held;
    bool has_held, carry_cut;
    char **tags; /* by seq - 1: the job's tag (--tag), until its result */
    size_t ntags;
    char **cmds; /* by seq - 1: --results: the command it wraps, as well */
    size_t ncmds;
    bool tag_bol; /* write_tagged(): the next byte starts a line */
    struct cli_xdir *xdir; /* the run folder (--halt, --line-buffer) */
    /* --halt */
    unsigned long long nok, nfail;
    bool halting, halted_fail;
    int halt_status;
    char slot[32]; /* {%}'s mark (slot_mark()), or "" */
    bool raw; /* no command given: each input's values are the command */
    /* -X, -m: the command line (or -N group) that reaches the end of the
     * input is spread over the jobs, once (cli_exec_spread()).  Its
     * records past the first line's share wait in `back`, read before
     * the sources; `grp_ends` keeps where each record of `grp` ends. */
    bool spread, spread_done;
    struct cli_tuple *back;
    size_t nback, back_at, back_cap;
    size_t *grp_ends, grp_ends_cap;
};

/* ---- the inputs (exec_sources.c) ---- */
void cli_tuple_free(struct cli_tuple *t);
/* --colsep's pattern (Perl's escapes \t \n \s \S \d) as POSIX ERE;
 * NULL when out of memory. */
char *cli_colsep_ere(const char *re);
/* A :::: FILE source: its items ("-": stdin): 0 or an exit status. */
int cli_exec_source_read(struct cli_tuple *s, const char *path, char sep);
/* A new, empty source; NULL when out of memory. */
struct cli_tuple *cli_exec_source_new(struct exec *x);
/* The next job's values: 1, 0 at the end, MPROC_EAGAIN, or < 0. */
int cli_exec_next_group(struct exec *x, struct cli_tuple *t);
/* Move the last k sources to the front, in their order (-a FILE comes
 * before ::: and ::::, as in parallel). */
void cli_exec_sources_rotate(struct exec *x, size_t k);
/* The number of jobs the sources make: 0 or an exit status. */
int cli_exec_count(struct exec *x);
/* A command line of k records reached the end of the input: how many of
 * them it keeps (k, but the first time under -X or -m: its share of the
 * jobs, as the lines after it). */
size_t cli_exec_spread(struct exec *x, size_t k);
/* Read record t again (after those already given back), which the
 * queue now owns: 0, or -1 when out of memory (t freed). */
int cli_exec_unget(struct exec *x, struct cli_tuple *t);
/* --header : names from each source's first item: -1 to go on, or an
 * exit status. */
int cli_exec_header(struct exec *x);
/* The words after the options (COMMAND [ARGS]... then the ::: and ::::
 * groups): -1 to go on, or an exit status. */
int cli_exec_sources(struct exec *x, int argc, char **argv, int i);
/* --results: wrap the command line `out` of the job made of ts[0..nt)
 * (exec_results.c) so that it writes its files in the job's folder of
 * x->results.  0, or -1 out of memory. */
int cli_exec_results_wrap(struct exec *x, const struct cli_tuple *ts,
                          size_t nt, struct cli_str *out);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * mproc exec: composing each job's command line (exec_line.c).
 */
#ifndef MPROC_CLI_EXEC_H
#define MPROC_CLI_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

/* A growing NUL-terminated string. */
struct cli_str {
    char *s;
    size_t len, cap;
};
/* Append p[0..n): 0, or -1 when out of memory. */
int cli_str_add(struct cli_str *b, const char *p, size_t n);
void cli_str_free(struct cli_str *b);

/* Values: the arguments of one job (a value per input source or --colsep
 * column), or the items of one input source. */
struct cli_tuple {
    char **v;
    size_t *len;
    size_t n, cap;
};

/* How several tuples share one command line. */
enum {
    CLI_LINE_ONE = 0, /* one tuple per command */
    CLI_LINE_X,       /* -X: words with a replacement string repeated */
    CLI_LINE_M        /* -m: the values by spaces where the string is */
};

/* true when t holds a replacement string ({}, {.}, {1}, {#}...). */
bool cli_line_has_repl(const char *t);
/* Append v[0..len) shell-quoted (as is when it needs no quotes). */
int cli_line_quote(struct cli_str *out, const char *v, size_t len);
/* Append the command word w[0..len) for -q: each byte the shell would
 * read as code behind a backslash (a newline in quotes), so the word
 * reaches the command as it is; braces bare, so {} and its kin are still
 * replaced (values go in quoted, as always). */
int cli_word_quote(struct cli_str *out, const char *w, size_t len);
/* The command for tu[0..ntu) (job number seq) into out (replaced): 0, or
 * -1 when out of memory. */
int cli_line_make(struct cli_str *out, const char *tmpl, int mode,
                  const struct cli_tuple *tu, size_t ntu,
                  unsigned long long seq);

/* {%}, the job slot, is known only where the job runs: lines carry
 * `token` for it, which the exec plugin replaces with its slot number
 * (the token is in CLI_SLOT_ENV for it), so that {%} is a number even
 * in single quotes, as in parallel.  NULL: the shell's "$MPROC_SLOT". */
#define CLI_SLOT_ENV "MPROC_EXEC_SLOT_TOKEN"
void cli_line_set_slot(const char *token);

/* --results DIR: DIR, for the exec plugin, which makes each job's folder
 * and files itself (following no symbolic link under DIR) from a header
 * before its line, "SEQ LEN PATH\n" (PATH, LEN bytes, is the folder
 * under DIR), and gives the line the job's stdout, stderr and exitval
 * files as descriptors 3, 4 and 5. */
#define CLI_RESULTS_ENV "MPROC_EXEC_RESULTS"

/* --header: tmpl with each {NAME...} of names->v[i] as {i+1...} into
 * out: 0, or -1 when out of memory. */
int cli_line_rename(struct cli_str *out, const char *tmpl,
                    const struct cli_tuple *names);

/* ---- the run folder: --halt, --line-buffer (exec_lines.c) ---- */
/* $TMPDIR/mproc-exec.PID.XXXXXX: the prefix mproc clean looks for. */
#define CLI_XDIR_PREFIX "mproc-exec."
/* Where the exec plugin finds the FIFO and the halt mark (paths in the
 * environment), and the message of a job --halt kept from starting. */
#define CLI_LINES_ENV "MPROC_EXEC_LINES"
#define CLI_HALT_ENV "MPROC_EXEC_HALT"
#define CLI_HALT_MSG "not run: --halt"
/* --halt's condition, for the plugin to judge as soon as a command ends
 * (so that the worker that ran it starts no next job before the host
 * has seen the result): "FAIL N PCT TOTAL", FAIL 1 for fail=, 0 for
 * success=; PCT 1 for N%; TOTAL the jobs, 0 when unknown. */
#define CLI_HALT_RULE_ENV "MPROC_EXEC_HALT_RULE"
/* The halt file's words, shared by mmap between the host and the
 * workers (plugins/exec has its own copy of this layout). */
struct cli_halt_words {
    _Atomic uint64_t stop; /* 1: start no more commands */
    _Atomic uint64_t nok, nfail;
    _Atomic uint64_t status; /* 1 + the status of the job that met the
                                rule (set by a worker); 0: none */
};
/* A frame on the FIFO, followed by len bytes of the job's stdout (or
 * stderr: CLI_LINES_ERR); one frame is one write() of at most PIPE_BUF
 * bytes.  plugins/exec has its own copy of this layout and flags. */
struct cli_lines_hdr {
    uint64_t index; /* the item (job number - 1) */
    uint32_t len;
    uint32_t end;   /* CLI_LINES_* */
};
#define CLI_LINES_END 1u /* the job ended after these bytes */
#define CLI_LINES_ERR 2u /* the bytes are the command's stderr */
struct cli_xdir;
/* Make the run folder; with `lines` its FIFO and the thread that writes
 * the lines to stdout and stderr (tagged when `tag`, but for each job's
 * first stderr line when `trace`: -t's command line); with `halt` the
 * halt file
 * (and, when not NULL, the rule the plugin applies itself): 0, or -1
 * (errno). */
int cli_xdir_open(struct cli_xdir **out, bool lines, bool tag, bool halt,
                  const char *rule, bool trace);
/* --line-buffer: the tag of job `index` (before it runs): 0, or -1. */
int cli_xdir_tag(struct cli_xdir *l, uint64_t index, const char *tag);
/* --halt's condition holds: start no more commands. */
void cli_xdir_halt(struct cli_xdir *l);
/* Has a worker found the --halt rule met (as a command ended, before the
 * host sees its result in order)?  Then 1, with that command's exit
 * status in *status and the counts in *nok, *nfail; else 0. */
int cli_xdir_halted(struct cli_xdir *l, int *status,
                    unsigned long long *nok, unsigned long long *nfail);
/* --line-buffer, `how` (CLI_FLUSH_*): with CLI_FLUSH_WAIT, wait until
 * every line of the jobs whose results the host has is written and
 * flushed (CLI_FLUSH_FINAL: the rest of the jobs the run cut short too);
 * then 0, or the errno of the first failed write to stdout (the thread
 * has stopped the run then: cli_run_stop()). */
int cli_xdir_flush(struct cli_xdir *l, int how);
/* After the run: every line written, the folder removed; NULL: no-op. */
void cli_xdir_close(struct cli_xdir *l);

#endif

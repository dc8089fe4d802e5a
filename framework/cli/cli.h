/* SPDX-License-Identifier: MIT */
/*
 * The `mproc` host program: shared pieces of its commands.  Only this
 * folder prints; everything it prints to stderr starts with "mproc: ".
 */
#ifndef MPROC_CLI_H
#define MPROC_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <mproc/mproc.h>

#include "config/config_int.h"

/* Exit statuses (DESIGN.md; the sysexits.h values where one fits). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILED = 1,     /* some tasks failed */
    CLI_EXIT_USAGE = 64,     /* bad command line */
    CLI_EXIT_NOINPUT = 66,   /* a config or input file is missing */
    CLI_EXIT_SOFTWARE = 70,  /* internal error */
    CLI_EXIT_CANTCREAT = 73, /* the output file cannot be created */
    CLI_EXIT_IOERR = 74,     /* writing the output failed */
    CLI_EXIT_CONFIG = 78,    /* config or plugin error */
    CLI_EXIT_INTERRUPTED = 130,
    /* Not an exit status: the output's reader went away; main() ends
     * by SIGPIPE, as other filters do (the shell sees 141). */
    CLI_EXIT_SIGPIPE = 1141
};

/* Print "mproc: MESSAGE\n" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* After a usage error: one line on stderr pointing at `mproc CMD --help`
 * (CMD NULL: `mproc --help`), rather than the whole help. */
void cli_try_help(const char *cmd);
/* "mproc: CMD: MESSAGE" and the --help hint; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Flush stdout: 0, or -1 when writing it failed, now or before (the
 * first errno is kept for cli_stdout_close()).  A command that writes
 * for long (status --watch) stops at the first -1. */
int cli_stdout_flush(void);
/* After command `cmd` (NULL: mproc itself) ended with `rc`: flush stdout
 * and, when a write to it failed, say so ("CMD: writing the output:
 * REASON") and return 74 in place of a status below 64; EPIPE (its
 * reader gone) gives CLI_EXIT_SIGPIPE, unsaid.  A failure the command
 * reported itself (rc 74 or CLI_EXIT_SIGPIPE) is not said again.  main()
 * calls it once for every command. */
int cli_stdout_close(const char *cmd, int rc);

/* qsort comparison of two `char *`, in byte order. */
int cli_cmp_str(const void *a, const void *b);

/* This program's path (/proc/self/exe), to run it again: false, after
 * printing why (prefixed with cmd), when it cannot be read. */
/* Call fn on SIGINT, SIGTERM and SIGHUP (the signals that stop a run). */
void cli_catch_signals(void (*fn)(int));

bool cli_self_exe(const char *cmd, char *buf, size_t cap);

/* The exit status for an mproc error code from config or plugin loading. */
int cli_exit_for(int code);

/* The command line of `run` and `check`: one job file and overrides. */
struct cli_args {
    const char *path;
    char **sets;     /* "section.key=value", in order */
    size_t nsets;
    char **owned;    /* strings made here (from --workers) */
    size_t nowned;
    bool quiet;      /* run: no progress line */
    bool progress;   /* run: --progress, progress lines on any stderr */
    const char *joblog; /* run: --joblog FILE, or NULL */
    bool resume;        /* run: --resume */
    const char *stats;  /* run: --stats FORMAT (text, json), or NULL */
    const char *quarantine; /* run: --quarantine FILE, or NULL (debug.c) */
    const char *slowlog;    /* run: --slowlog FILE, or NULL (debug.c) */
};

/*
 * Parse `JOB.ini [--set K=V]... [--workers N] [--help]` (options anywhere).
 * Returns -1 to go on, or an exit status (help shown, usage error printed).
 * On -1 the caller must cli_args_free().
 */
int cli_args_parse(struct cli_args *a, int argc, char **argv,
                   const char *usage, bool workers_option);
void cli_args_free(struct cli_args *a);

/* What `run` and `check` share: the job file and its overrides. */
struct cli_job {
    const char *path;
    mproc_config_t *cfg;
    const struct mproc__job *job;
    /* The job's identity, for the job log's header: job=HASH, the job
     * file's bytes; sets=HASH, the --set overrides that decide what the
     * items' output is or where it goes (common.c says which; 0: none). */
    uint64_t hash, set_hash;
};

/* Load and check the job.  Returns 0 or an exit status (after printing
 * why). */
int cli_job_load(struct cli_job *cj, const char *path, char **sets,
                 size_t nsets);
/* The same, of a job file's text held in memory (mproc exec builds one);
 * `path` names it in messages. */
int cli_job_load_mem(struct cli_job *cj, const char *path, const char *text,
                     char **sets, size_t nsets);
void cli_job_free(struct cli_job *cj);

/* Create the job's declared shared objects (declare.c); *out is NULL when
 * it declares none.  Returns 0 or an exit status after printing why. */
int cli_shared_new(const struct cli_job *cj, mproc_sync_t **out);

/* Create the pool for a job (loads and checks the plugin and task). */
int cli_pool_new(const struct cli_job *cj, mproc_sync_t *sync,
                 mproc_pool_t **out, int cancel_fd, int input_fd,
                 void (*on_idle)(void *));

/* ---- files the host opens (files.c) ---- */
/*
 * Open `path` to read, for `what` ("joblog", ...): never blocks (a FIFO
 * with no writer is refused, as is anything but a regular file), CLOEXEC.
 * Returns 0 with *fd set, or an exit status after printing why; with
 * missing_ok, a missing file gives 0 and *fd = -1.
 */
int cli_open_read(const char *path, const char *what, bool missing_ok,
                  int *fd);
/*
 * Create (or, with append, append to) `path` for `what` ("output",
 * "joblog"): never blocks (a FIFO with no reader is an error, not a
 * wait), CLOEXEC.  Returns 0 with *out set, or an exit status after
 * printing why.
 */
int cli_open_write(const char *path, const char *what, bool append,
                   FILE **out);

/* Is `a` the same file as `b`: the same regular file (inode), or,
 * neither there yet, the same name? */
bool cli_same_file(const char *a, const char *b);
/*
 * The files a run writes (joblog, quarantine, slowlog, output; NULL:
 * none) must not be those it reads (job, input: a lines: file, or NULL)
 * nor each other: 0, or an exit status (64 for an option, 78 for the
 * output key) after saying which.  A file that would be emptied before
 * it is read, or mixed.
 */
int cli_paths_clash(const char *job, const char *input, const char *output,
                    const char *joblog, const char *quarantine,
                    const char *slowlog);
/* Could the run create or write `path` (NULL: stdout) for `what`
 * ("output")?  0, or 73 after saying why (a folder, no right, no such
 * folder): for mproc check, which writes nothing. */
int cli_output_writable(const char *path, const char *what);

/* A plugin named by path must be a regular file (dlopen() of a FIFO
 * blocks): 0, or an exit status after printing why.  A missing one is 0. */
int cli_check_plugin_file(const char *path, const char *where);
/* mproc wrote n bytes of a job's stderr (the last n): when they end
 * without a newline, cli_error() starts a new line first. */
void cli_stderr_wrote(const char *data, size_t n);
/* s with its control bytes as \xHH (mproc__esc_ctl), for a plugin's or
 * a file's text printed to a terminal; in one of 4 buffers used in turn
 * (so one printf may take up to 4), cut at about 2 KB.  NULL: NULL. */
const char *cli_esc(const char *s);
/*
 * Plugin code that runs in mproc itself (its constructors when it is
 * loaded, reduce and reduce_end) must not write into the results
 * (mproc-plugin(3): a plugin's stdout is stderr): between
 * cli_stdout_guard() and cli_stdout_unguard(), descriptor 1 is stderr.
 * guard flushes stdout and returns a copy of the real descriptor 1
 * (close-on-exec; -1: none, nothing changed); unguard flushes what the
 * plugin printed and puts that copy back.
 */
int cli_stdout_guard(void);
void cli_stdout_unguard(int keep);
/* mproc__plugin_open() with stdout guarded. */
struct mproc__plugin;
int cli_plugin_open(struct mproc__plugin **p, const char *spec,
                    mproc_err_t *err);
/* The columns of the terminal on fd, or 0 (not a terminal, unknown). */
int cli_tty_width(int fd);
/* What set the job's plugin: "FILE:LINE", "--set ...", or the job file. */
const char *cli_plugin_where(const struct cli_job *cj);

/* ---- the job log (joblog.c) ---- */
struct cli_joblog;
struct cli_shard;
struct mproc_result;
/* Create FILE (or, with resume, read what it logged as done and append to
 * it), for the run of shard sh (its n 0: the whole input): a resumed log
 * of another shard or input is refused.  Returns 0 or an exit status
 * after printing why. */
int cli_joblog_open(struct cli_joblog **out, const char *path, bool resume,
                    const struct cli_shard *sh);
/* Where the output logged so far ends (resume cuts the output there):
 * true with *end set, false when the log does not know (format 1). */
bool cli_joblog_out_end(const struct cli_joblog *j, uint64_t *end);
/* fsync (enum mproc__joblog_sync) out_fd, then the log, at each commit. */
void cli_joblog_set_sync(struct cli_joblog *j, int sync, int out_fd);
int cli_joblog_sync_mode(const struct cli_joblog *j);
/* One line of a log read whole (mproc merge). */
struct cli_joblog_entry {
    uint64_t index;    /* global */
    bool ok;
    int64_t off, len;  /* ok: its output; -1 unknown */
    char *line;        /* the line as read, without its newline */
};
/* Read a whole format-2 log for mproc merge: 0, or an exit status after
 * printing why.  Free with cli_joblog_close(). */
int cli_joblog_load(const char *path, struct cli_joblog **out);
const struct cli_shard *cli_joblog_shard(const struct cli_joblog *j);
size_t cli_joblog_entries(const struct cli_joblog *j,
                          const struct cli_joblog_entry **out);
/* The column names, up to the description field, and a mode's name. */
const char *cli_joblog_header(void);
/* End a header line: its sets=HASH field when --set options count. */
void cli_joblog_put_sets(FILE *f, uint64_t set_hash);
const char *cli_joblog_mode_name(int mode);
/* A log with nothing read and no file (for cli_joblog_read()); NULL when
 * out of memory.  Free with cli_joblog_close(). */
struct cli_joblog *cli_joblog_new(const char *path);
/* Read a log's lines from f: 0, or an exit status after printing why (a
 * malformed line is "PATH:LINE: not a joblog line"). */
int cli_joblog_read(struct cli_joblog *j, FILE *f);
/* Items the earlier run did (resume). */
size_t cli_joblog_ndone(const struct cli_joblog *j);
/* Of the input indices >= from, how many the earlier run did. */
size_t cli_joblog_ndone_from(const struct cli_joblog *j, uint64_t from);
/* 1: input item `index` was done by the earlier run, skip it; 0: run it;
 * -1: the log holds another item there (printed).  `item` NULL: one that
 * cannot have been done (too large to run). */
int cli_joblog_skip(const struct cli_joblog *j, uint64_t index,
                    const void *item, size_t len);
/* The input index of the n-th item handed to the pool (skips counted). */
uint64_t cli_joblog_input_index(const struct cli_joblog *j, uint64_t n);
/* Log one result (items not run are not logged) of the run's item
 * `index` (the shard's own number; the log holds the global one), whose
 * output is len bytes at off in the output (off -1: unknown); NULL j:
 * no-op.  The line waits in memory for cli_joblog_commit(). */
void cli_joblog_write(struct cli_joblog *j, uint64_t index,
                      const struct mproc_result *r, int64_t off, int64_t len);
/* The output of every ok item logged so far is flushed: log them. */
void cli_joblog_commit(struct cli_joblog *j);
/* Writing the output failed: forget the lines not yet committed, and log
 * no ok item from now on (a resume runs them again). */
void cli_joblog_drop(struct cli_joblog *j);
/* 0, or the errno of the first failed write of the log (NULL j: 0): once
 * it is not 0, no later line can be logged, so the run must stop. */
int cli_joblog_error(const struct cli_joblog *j);
/* Close (lines not committed are not logged); returns 0 or an exit
 * status after printing why. */
int cli_joblog_close(struct cli_joblog *j);

/* ---- hashes (joblog.c) ---- */
/* FNV-1a, 64 bits, continued from h (start with CLI_HASH_INIT): enough
 * to tell an item, an input or a job file from another. */
#define CLI_HASH_INIT 0xcbf29ce484222325ull
uint64_t cli_hash(uint64_t h, const void *data, size_t len);

/* ---- shards (input.c) ---- */
#define CLI_TOTAL_UNKNOWN UINT64_MAX
/* Which items of the input a run does: all (n 0), or shard k of n. */
struct cli_shard {
    uint64_t k, n;       /* n 0: the whole input */
    int mode;            /* enum mproc__shard_mode */
    uint64_t total;      /* items of the whole input; CLI_TOTAL_UNKNOWN */
    uint64_t lo, count;  /* contiguous: first index; items of this shard */
    uint64_t input_hash; /* the whole input's identity */
    uint64_t job_hash;   /* the job file's (cli_run() sets it) */
    uint64_t set_hash;   /* its --set options' (cli_job's set_hash) */
};
/* Item `global` of the whole input is this shard's item *local: true;
 * false: another shard's. */
bool cli_shard_local(const struct cli_shard *sh, uint64_t global,
                     uint64_t *local);
/* Set sh->lo and sh->count from its k, n, mode and total. */
void cli_shard_block(struct cli_shard *sh);
/* This shard's item `local` in the whole input. */
uint64_t cli_shard_global(const struct cli_shard *sh, uint64_t local);

/* ---- input sources (input.c) ---- */
struct cli_input;
/* Select the job's shard (a job with none: the whole input) and find
 * the input's size and identity into *sh (lines of a regular file are
 * read once for that when sharded or need_total).  Call it right after
 * opening.  0, or an exit status after printing why (stdin, a pipe, a
 * bad SLURM_ARRAY_TASK_ID). */
int cli_input_shard(struct cli_input *in, const struct mproc__job *job,
                    bool need_total, struct cli_shard *sh);
/* A sharded job whose input cannot be split, refused before the input is
 * opened (opening a FIFO would wait for its writer and take its bytes):
 * 0, or an exit status after printing why, at the input key's FILE:LINE. */
int cli_input_shardable(const struct cli_job *cj);
/* Open the job's input; returns 0 or an exit status after printing.  With
 * probe (check), never wait: a FIFO's writer is not waited for. */
int cli_input_open(struct cli_input **out, const struct mproc__job *job,
                   bool probe);
/* An mproc_next_fn over the input. */
int cli_input_next(void *input, struct mproc_item *item);
/* The number of items, when known before reading (range, files), else -1.
 * Call it right after opening. */
long long cli_input_total(const struct cli_input *in);
/* Items not yet read, into *n: exact for a range, files and lines of a
 * regular file (then read to the end to count them, so call it once, when
 * the run is over).  false when unknown (lines of a pipe or a terminal). */
bool cli_input_remaining(struct cli_input *in, unsigned long long *n);
/* For progress: bytes handed out of *size, when the input (lines or stdin)
 * is a regular file; false otherwise. */
bool cli_input_position(const struct cli_input *in, unsigned long long *pos,
                        unsigned long long *size);
struct stat;
/* The input, or the item of a files: input, that is the regular file
 * `out` (the run's output), as the user knows it; NULL if none is. */
const char *cli_input_reads(const struct cli_input *in,
                            const struct stat *out);
/* The output (NULL: standard output) must not be what the run reads (an
 * item of files:DIR, stdin redirected from it, lines:FILE appended to by
 * `>>`): it would be emptied before it is read, or grow as it is read.
 * 0, or 78 (64 for standard output) after saying which, at `where`
 * (the output key's FILE:LINE, or NULL). */
int cli_output_not_input(const struct cli_input *in, const char *output,
                         const char *where);
/* The descriptor to poll while the input has no item ready, or -1. */
int cli_input_fd(const struct cli_input *in);
/* The input as the user wrote it, for messages. */
const char *cli_input_name(const struct cli_input *in);
/* Non-zero after a read error (already printed). */
int cli_input_failed(const struct cli_input *in);
void cli_input_close(struct cli_input *in);

/* An input whose items another part of the host makes (mproc exec):
 * next() as cli_input_next(), fd to poll while it says MPROC_EAGAIN (or
 * -1: polled every few ms), total as cli_input_total() (-1: unknown). */
int cli_input_custom(struct cli_input **out, const char *name,
                     int (*next)(void *user, struct mproc_item *item),
                     void *user, int fd, long long total);
/* Items end at `sep` rather than at a newline (stdin and lines:, before
 * the first item is read): '\0' for `find -print0` names. */
void cli_input_set_sep(struct cli_input *in, char sep);

/* ---- running a job (cmd_run.c) ---- */
enum {
    CLI_FLUSH_ASK,  /* no waiting: has a write failed yet? */
    CLI_FLUSH_WAIT, /* what the results so far made is out first */
    CLI_FLUSH_FINAL /* after the run: all of it is out first */
};
/* What `mproc exec` changes in a run; every member may be NULL. */
struct cli_run_hooks {
    void *user;
    /* Write a piece of an item's output (data, len: all of r's, or a
     * part of a big one, `first` at its start) to out: 0, or -1 with
     * errno set. */
    int (*write)(void *user, FILE *out, const struct mproc_result *r,
                 const char *data, size_t len, bool first);
    /* true: the result stands for a job that did not start (--halt):
     * counted as not run, neither written, said nor logged. */
    bool (*skip)(void *user, const struct mproc_result *r);
    /* After each result: non-zero stops the run (workers are stopped). */
    int (*result)(void *user, const struct mproc_result *r);
    /* Each time the pool is about to wait (results may be held for their
     * turn): non-zero stops the run now, as `result` would. */
    int (*poll)(void *user);
    /* The exit status, from the run's and the number of failed items. */
    int (*status)(void *user, int rc, unsigned long long failed);
    /* Output written beside the run's own (mproc exec --line-buffer),
     * `how` it is flushed (CLI_FLUSH_*): 0, or the errno of a failed
     * write, which fails the run as its own output's would (74, or
     * SIGPIPE when the reader is gone). */
    int (*flush)(void *user, int how);
    /* How a failure names the item (mproc exec --results: the command,
     * not its wrapper); NULL, or NULL back: the item itself. */
    const char *(*item)(void *user, const struct mproc_result *r);
};
/* Run a loaded job with a's options: over `in` when not NULL (not
 * closed here), else the job's input.  Returns the exit status. */
int cli_run(struct cli_job *cj, const struct cli_args *a,
            struct cli_input *in, const struct cli_run_hooks *hooks);
/* Stop the run in progress, as SIGINT would but with no status of its
 * own (the caller says why, e.g. through hooks->flush): from any thread,
 * and async-signal-safe. */
void cli_run_stop(void);
/* Hold the run's progress line off the terminal while writing to stdout
 * from another thread (mproc exec --line-buffer), then let it be drawn
 * again.  No-ops but for the mutex when no line is drawn. */
void cli_progress_hold(void);
void cli_progress_release(void);
/* Between hold and release: erase the progress line before a write to
 * stderr, where the line is drawn. */
void cli_progress_erase_held(void);

/* ---- what plugins declare (cmd_plugins.c) ---- */
/* Print the job file's warnings (an [args] value cut by " ;"), then check
 * the job's [args] against the keys its plugin declares (ABI 1.2):
 * 0, or an exit status after printing why.  A plugin that does not load
 * is 0 here: creating the pool says why. */
int cli_check_args(const struct cli_job *cj);
/* Print what this build has: version, ABI, backends, paths; exit 0. */
int cli_build_info(void);

/* ---- mproc clean: the folders of dead runs in $TMPDIR (clean_spill.c) */
/* Remove (or, when `dry`, list) them, one line each: how many, or -1
 * after saying why.  *failed is set (not cleared) when one could not be
 * removed, said on stderr. */
int cli_clean_spill(bool dry, bool *failed);

/* ---- commands ---- */
int cmd_run(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_clean(int argc, char **argv);
int cmd_manager(int argc, char **argv); /* cmd_manager.c (mgr16) */
int cmd_merge(int argc, char **argv);
int cmd_slurm(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* ---- debugging what failed, issue 19 (debug.c, cmd_rerun.c) ---- */
struct mproc_pool_opts;
/* Escape bytes so that they hold no tab, newline or control byte (\t \n
 * \r \\ \xHH); unescape in place: the new length, or -1 if malformed. */
void cli_debug_escape(FILE *f, const void *data, size_t len);
ssize_t cli_debug_unescape(char *s, size_t len);
/* Open --quarantine and --slowlog: 0, or an exit status after printing. */
int cli_debug_open(const struct cli_args *a, const char *job_path);
/* The job's quarantine_after and slowlog, into the pool's options. */
void cli_debug_pool_opts(struct mproc_pool_opts *o,
                         const struct mproc__job *job);
/* Each result: a quarantined item is counted and written. */
void cli_debug_result(uint64_t index, const struct mproc_result *r);
unsigned long long cli_debug_quarantined(void);
/* Say how many items were quarantined, and where (none: nothing). */
void cli_debug_report(void);
/* Close the files: 0, or an exit status (a write failed, said). */
int cli_debug_close(void);
int cmd_rerun(int argc, char **argv);
int cmd_status(int argc, char **argv);
/* mproc check, ipc = auto: print the backend chosen and why
 * (cmd_status.c). */
void cli_ipc_auto_explain(void);

#endif

/*
 * Job files: every key's values and defaults, and every error with the
 * line it names.  Fixtures are written to a private folder under $TMPDIR.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "config/config_int.h"
#include "tap.h"

static char dir[256];
static char path[512];

/* Write a job file (in a subfolder when sub != NULL); returns its path. */
static const char *
fixture(const char *sub, const char *text)
{
    FILE *fp;

    if (sub != NULL) {
        snprintf(path, sizeof(path), "%s/%s", dir, sub);
        mkdir(path, 0700);
        snprintf(path, sizeof(path), "%s/%s/job.ini", dir, sub);
    } else {
        snprintf(path, sizeof(path), "%s/job.ini", dir);
    }
    fp = fopen(path, "w");
    if (fp == NULL)
        return NULL;
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* Load text; returns the code; *cfg is freed unless keep. */
static int
load(const char *text, mproc_err_t *err, mproc_config_t **keep)
{
    mproc_config_t *cfg;
    int r;

    mproc_config_new(&cfg, NULL);
    r = mproc_config_load(cfg, fixture(NULL, text), err);
    if (r == 0)
        r = mproc_config_finish(cfg, err);
    if (keep != NULL)
        *keep = cfg;
    else
        mproc_config_free(cfg);
    return r;
}

/* Expect text to fail with "PATH:LINE: msg". */
static void
bad(const char *text, int line, const char *msg, const char *what)
{
    mproc_err_t err = {0};
    char want[1024];

    is_int(load(text, &err, NULL), MPROC_ECONFIG, "%s: ECONFIG", what);
    snprintf(want, sizeof(want), "%s:%d: %s", path, line, msg);
    is_str(err.msg, want, "%s: message", what);
}

static void
test_defaults(void)
{
    mproc_config_t *cfg;
    const struct mproc__job *j;
    const struct mproc_kv *kv;
    mproc_err_t err;

    is_int(load("[job]\nplugin = echo\n", &err, &cfg), 0, "minimal job");
    j = mproc__config_job(cfg);
    ok(j != NULL, "typed view after finish");
    is_str(j->plugin, "echo", "plugin");
    ok(j->task == NULL, "task unset: NULL");
    is_int(j->input_kind, MPROC__INPUT_STDIN, "input defaults to stdin");
    ok(j->output == NULL, "output defaults to stdout");
    ok(j->ordered, "ordered defaults to true");
    is_int(j->chunksize, 1, "chunksize defaults to 1");
    is_int(j->on_error, MPROC__ON_ERROR_CONTINUE, "on_error: continue");
    is_int(j->message_max, 64 << 20, "message_max: 64 MiB");
    is_int(j->workers, 0, "workers: auto");
    is_str(j->start_method, "fork", "start_method: fork");
    is_str(j->ipc, "pipe", "ipc: pipe");
    is_int(j->max_tasks_per_child, 0, "max_tasks_per_child: 0");
    is_int(mproc_config_args(cfg, &kv), 0, "no [args]");
    is_str(mproc_config_where(cfg, "pool", "workers"), "default",
           "where: default");
    ok(mproc_config_get(cfg, "pool", "workers") == NULL,
       "get of an unset key: NULL");
    ok(mproc_config_where(cfg, "pool", "nope") == NULL,
       "where of an unknown key: NULL");
    mproc_config_free(cfg);
    mproc_config_free(NULL);
}

static void
test_values(void)
{
    mproc_config_t *cfg;
    const struct mproc__job *j;
    const struct mproc_kv *kv;
    mproc_err_t err;
    char want[600];

    is_int(load("; a comment\n# another\n\n[job]\nplugin = ./my.so\n"
                "task = count\ninput = range:-5..7\noutput = out.txt\n"
                "ordered = No\nchunksize = 1000000\non_error = abort\n"
                "message_max = 512K ; inline comment\n[pool]\nworkers = 4096\n"
                "start_method = forkserver\nipc = shmring\n"
                "max_tasks_per_child = 10\n[args]\nzeta = 1\nalpha = two "
                "words\n",
                &err, &cfg),
           0, "every key set");
    j = mproc__config_job(cfg);
    snprintf(want, sizeof(want), "%s/./my.so", dir);
    is_str(j->plugin, want, "a plugin path is relative to the job's folder");
    is_str(j->task, "count", "task");
    ok(j->input_kind == MPROC__INPUT_RANGE && j->range_lo == -5 &&
           j->range_hi == 7,
       "range:-5..7");
    snprintf(want, sizeof(want), "%s/out.txt", dir);
    is_str(j->output, want, "output path resolved");
    ok(!j->ordered, "ordered = No is false");
    is_int(j->chunksize, 1000000, "chunksize upper bound");
    is_int(j->on_error, MPROC__ON_ERROR_ABORT, "on_error = abort");
    is_int(j->message_max, 512 << 10, "message_max = 512K, inline comment");
    is_int(j->workers, 4096, "workers upper bound");
    is_str(j->start_method, "forkserver", "start_method accepted");
    is_str(j->ipc, "shmring", "ipc accepted");
    is_int(j->max_tasks_per_child, 10, "max_tasks_per_child");
    is_int(mproc_config_args(cfg, &kv), 2, "two [args]");
    ok(strcmp(kv[0].key, "zeta") == 0 && strcmp(kv[1].key, "alpha") == 0,
       "[args] keep file order");
    is_str(kv[1].value, "two words", "an [args] value with spaces");
    is_str(mproc_config_get(cfg, "job", "plugin"), "./my.so",
           "get returns the value as written");
    snprintf(want, sizeof(want), "%s:14", path);
    is_str(mproc_config_where(cfg, "pool", "workers"), want,
           "where: FILE:LINE");

    /* --set overrides, adds [args], and is checked. */
    is_int(mproc_config_set(cfg, " pool . workers = 4 ", &err), 0,
           "--set trims blanks like a file");
    is_int(mproc__config_job(cfg)->workers, 4, "and reads the value");
    is_int(mproc_config_set(cfg, "pool.workers=3", &err), 0, "--set workers");
    is_int(mproc_config_set(cfg, " args.alpha = replaced", &err), 0,
           "--set replaces an [args] key");
    is_int(mproc_config_set(cfg, "args.new=1", &err), 0, "--set adds one");
    is_int(mproc_config_set(cfg, "job.input=lines:rel.txt", &err), 0,
           "--set input");
    is_int(mproc_config_finish(cfg, &err), 0, "finish again");
    j = mproc__config_job(cfg);
    is_int(j->workers, 3, "the override wins");
    is_str(j->input_path, "rel.txt", "--set paths are relative to the cwd");
    is_str(mproc_config_where(cfg, "pool", "workers"), "--set",
           "where: --set");
    is_int(mproc_config_args(cfg, &kv), 3, "three [args]");
    ok(strcmp(kv[1].value, "replaced") == 0 && strcmp(kv[2].key, "new") == 0,
       "replaced in place, added last");

    is_int(mproc_config_set(cfg, "pool.workers=0", &err), MPROC_ECONFIG,
           "--set is validated");
    is_str(err.msg,
           "--set pool.workers=0: workers: expected a positive integer or "
           "'auto', got '0'",
           "--set error message");
    is_int(mproc_config_set(cfg, "workers=2", &err), MPROC_ECONFIG,
           "--set without a section");
    is_str(err.msg,
           "--set 'workers=2': expected SECTION.KEY=VALUE, e.g. --set "
           "pool.workers=4",
           "says the form");
    is_int(mproc_config_set(cfg, "pool.wokers=2", &err), MPROC_ECONFIG,
           "--set of a misspelt key");
    is_str(err.msg,
           "--set pool.wokers=2: unknown key 'wokers' in [pool]; did you "
           "mean 'workers'?",
           "with a suggestion");
    is_int(mproc_config_set(cfg, "plool.workers=2", &err), MPROC_ECONFIG,
           "--set of a misspelt section");
    like_str(err.msg, "did you mean [pool]?", "with a suggestion");
    mproc_config_free(cfg);

    /* Relative paths follow the job file into its folder. */
    mproc_config_new(&cfg, NULL);
    is_int(mproc_config_load(cfg,
                             fixture("sub",
                                     "[job]\nplugin = echo\ninput = "
                                     "lines:data.txt\n"),
                             &err),
           0, "job in a subfolder");
    mproc_config_finish(cfg, &err);
    snprintf(want, sizeof(want), "%s/sub/data.txt", dir);
    is_str(mproc__config_job(cfg)->input_path, want,
           "lines: path relative to the job's folder");
    is_int(mproc_config_set(cfg, "job.input=files:/abs/*.txt", &err), 0,
           "absolute files: path");
    mproc_config_finish(cfg, &err);
    is_str(mproc__config_job(cfg)->input_path, "/abs/*.txt",
           "an absolute path stays");
    is_int(mproc__config_job(cfg)->input_kind, MPROC__INPUT_FILES, "files:");
    mproc_config_free(cfg);
}

static void
test_errors(void)
{
    char line[800];
    mproc_config_t *cfg;
    mproc_err_t err;

    bad("[job]\nplugin = echo\n[pool]\nworkers = 0\n", 4,
        "workers: expected a positive integer or 'auto', got '0'",
        "workers = 0");
    bad("# c\n\n; c\n[job]\nplugin = echo\n[pool]\nworkers = lots\n", 7,
        "workers: expected a positive integer or 'auto', got 'lots'",
        "workers = lots after comments and blanks");
    bad("[pool]\nworkers = 4097\n", 2,
        "workers: expected a positive integer or 'auto', got '4097'",
        "workers too many");
    bad("[pool]\nworkers = 2x\n", 2,
        "workers: expected a positive integer or 'auto', got '2x'",
        "workers with junk");
    bad("[job]\nordered = maybe\n", 2,
        "ordered: expected true or false, got 'maybe'", "ordered = maybe");
    bad("[job]\ninput = range:10..5\n", 2,
        "input: range:10..5: the end must not be below the start; expected "
        "range:A..B with A <= B",
        "range with B < A");
    bad("[job]\ninput = range:1..x\n", 2,
        "input: 'range:1..x' is not a range; expected range:A..B with "
        "integers A <= B",
        "range with junk");
    bad("[job]\ninput = lines:\n", 2,
        "input: 'lines:' names no path; expected lines:PATH", "empty path");
    bad("[job]\ninput = words:x\n", 2,
        "input: expected stdin, lines:PATH, range:A..B or files:DIR-or-GLOB, "
        "got 'words:x'",
        "unknown input form");
    bad("[job]\nchunksize = 0\n", 2,
        "chunksize: expected an integer from 1 to 1000000, got '0'",
        "chunksize = 0");
    bad("[job]\non_error = stop\n", 2,
        "on_error: expected continue or abort, got 'stop'", "on_error");
    bad("[job]\nmessage_max = 2G\n", 2,
        "message_max: expected a size from 1 byte to 1G, like 65536, 512K or "
        "64M, got '2G'",
        "message_max too large");
    bad("[pool]\nipc = pipes\n", 2,
        "ipc: expected pipe, mq or shmring, got 'pipes'; did you mean "
        "'pipe'?",
        "ipc typo");
    bad("[pool]\nstart_method = clone\n", 2,
        "start_method: expected fork, spawn or forkserver, got 'clone'",
        "unknown start method");
    bad("[pool]\nmax_tasks_per_child = -1\n", 2,
        "max_tasks_per_child: expected 0 (unlimited) or a positive integer, "
        "got '-1'",
        "negative max_tasks_per_child");
    bad("[job]\nplugin = my plugin\n", 2,
        "plugin: 'my plugin' is not a plugin name (letters, digits, '_', "
        "'.', '-'); a path needs a '/', e.g. ./my plugin",
        "bad plugin name");
    bad("plugin = echo\n", 1,
        "key 'plugin' is outside any section; put it under [job], [pool] or "
        "[args]",
        "key before any section");
    bad("[job]\nplugin = echo\n[jobs]\n", 3,
        "unknown section [jobs]; did you mean [job]?", "section typo");
    bad("[settings]\nx = 1\n", 1,
        "unknown section [settings]; expected [job], [pool] or [args]",
        "unknown section");
    bad("[pool]\nworker = 2\n", 2,
        "unknown key 'worker' in [pool]; did you mean 'workers'?", "key typo");
    bad("[job]\nworkers = 2\n", 2, "key 'workers' belongs in [pool], not [job]",
        "key in the wrong section");
    bad("[job]\ncolour = red\n", 2,
        "unknown key 'colour' in [job]; expected plugin, task, input, "
        "output, ordered, chunksize, on_error or message_max",
        "unknown key, no close match");
    bad("[pool]\nworkers = 1\n\nworkers = 2\n", 4,
        "duplicate key 'workers' in [pool] (first set at line 2)",
        "duplicate key");
    bad("[args]\nx = 1\nx = 2\n", 3,
        "duplicate key 'x' in [args] (first set at line 2)",
        "duplicate [args] key");
    bad("[job]\nplugin = echo\nthis line has no equals sign\n", 3,
        "syntax error: expected '[section]', 'key = value' or a comment",
        "syntax error");
    bad("[job]\nplugin = echo\n   task = x\n", 3,
        "indented line: continuation lines are not supported; remove the "
        "leading whitespace",
        "continuation line");

    /* 199 bytes is the longest line inih reads whole. */
    memset(line, 0, sizeof(line));
    strcpy(line, "[args]\nk = ");
    memset(line + strlen(line), 'v', 199 - 4);
    strcat(line, "\n[job]\nplugin = echo\n");
    is_int(load(line, &err, &cfg), 0, "a 199-byte line is fine");
    is_int(strlen(mproc_config_get(cfg, "args", "k")), 195,
           "and read whole");
    mproc_config_free(cfg);
    memset(line, 0, sizeof(line));
    strcpy(line, "[args]\nk = ");
    memset(line + strlen(line), 'v', 200 - 4);
    strcat(line, "\n");
    bad(line, 2,
        "line is 200 bytes long; inih reads at most 199 (split the value or "
        "shorten the path)",
        "a 200-byte line");

    /* Whole-file errors. */
    is_int(load("[pool]\nworkers = 2\n", &err, NULL), MPROC_ECONFIG,
           "no plugin");
    snprintf(line, sizeof(line),
             "%s: [job] plugin is not set; name a plugin, e.g. plugin = "
             "echo",
             path);
    is_str(err.msg, line, "says what to add");
    mproc_config_new(&cfg, NULL);
    snprintf(line, sizeof(line), "%s/missing.ini", dir);
    is_int(mproc_config_load(cfg, line, &err), MPROC_EINPUT,
           "a missing file is EINPUT");
    like_str(err.msg, "missing.ini: cannot open: No such file or directory",
             "naming the file and the reason");
    mproc_config_free(cfg);
}

int
main(void)
{
    const char *t = getenv("TMPDIR");
    int rc;

    snprintf(dir, sizeof(dir), "%s/mproc-config-XXXXXX", t ? t : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_defaults();
    test_values();
    test_errors();
    rc = done_testing();
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    if (system(path) != 0)
        diag("could not remove %s", dir);
    return rc;
}

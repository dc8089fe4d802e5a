/* SPDX-License-Identifier: MIT */
/*
 * Job files: every key's values and defaults, --set, where() and get(), and
 * every error with the exact message and the line it names.  Fixtures are
 * written to a private folder made with mkdtemp() under $TMPDIR, which is
 * removed at the end; the source tree is never written to.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "config/config_int.h"
#include "tap.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static char dir[512]; /* the private folder */
static char path[1024];
static char want[2048];

/* Write `text` to DIR/NAME (NAME may hold one subfolder); return the path. */
static const char *
write_file(const char *name, const char *text, size_t len)
{
    const char *slash = strchr(name, '/');
    FILE *fp;

    if (slash != NULL) {
        snprintf(path, sizeof(path), "%s/%.*s", dir, (int)(slash - name), name);
        mkdir(path, 0700);
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "wb");
    if (fp == NULL || fwrite(text, 1, len, fp) != len) {
        diag("cannot write %s", path);
        exit(1);
    }
    fclose(fp);
    return path;
}

static const char *
fixture(const char *text)
{
    return write_file("job.ini", text, strlen(text));
}

/* Load one job file and finish; *keep gets the config (else it is freed). */
static int
load_len(const char *text, size_t len, mproc_err_t *err, mproc_config_t **keep)
{
    mproc_config_t *cfg;
    int r;

    memset(err, 0, sizeof(*err));
    r = mproc_config_new(&cfg, err);
    if (r < 0)
        return r;
    r = mproc_config_load(cfg, write_file("job.ini", text, len), err);
    if (r == 0)
        r = mproc_config_finish(cfg, err);
    if (keep != NULL)
        *keep = cfg;
    else
        mproc_config_free(cfg);
    return r;
}

static int
load(const char *text, mproc_err_t *err, mproc_config_t **keep)
{
    return load_len(text, strlen(text), err, keep);
}

/* Expect `text` to fail with "DIR/job.ini:LINE: msg". */
static void
bad_len(const char *text, size_t len, int line, const char *msg,
        const char *what)
{
    mproc_err_t err;

    is_int(load_len(text, len, &err, NULL), MPROC_ECONFIG, "%s: ECONFIG", what);
    snprintf(want, sizeof(want), "%s/job.ini:%d: %s", dir, line, msg);
    is_str(err.msg, want, "%s: message", what);
    is_int(err.code, MPROC_ECONFIG, "%s: err.code", what);
}

static void
bad(const char *text, int line, const char *msg, const char *what)
{
    bad_len(text, strlen(text), line, msg, what);
}

/* Expect `text` (a [job] plugin is added) to load; return the typed view
 * of *cfg, which the caller frees. */
static const struct mproc__job *
good(const char *text, mproc_config_t **cfg, const char *what)
{
    char buf[1024];
    mproc_err_t err;
    int r;

    snprintf(buf, sizeof(buf), "[job]\nplugin = echo\n%s", text);
    r = load(buf, &err, cfg);
    if (!ok(r == 0, "%s: loads", what))
        diag("  error: %s", err.msg);
    return mproc__config_job(*cfg);
}

/* Expect SET on a fresh config to fail with "--set SET: msg". */
static void
bad_set(const char *set, const char *msg, const char *what)
{
    mproc_config_t *cfg;
    mproc_err_t err;

    mproc_config_new(&cfg, NULL);
    is_int(mproc_config_set(cfg, set, &err), MPROC_ECONFIG, "%s: ECONFIG",
           what);
    is_str(err.msg, msg, "%s: message", what);
    mproc_config_free(cfg);
}

static void
test_defaults(void)
{
    mproc_config_t *cfg;
    const struct mproc__job *j;
    const struct mproc_kv *kv;
    mproc_err_t err;
    static const char *const pool_keys[] = {"workers", "start_method", "ipc",
                                            "max_tasks_per_child", "sync"};
    static const char *const job_keys[] = {
        "task",      "input",    "output",     "ordered",
        "chunksize", "on_error", "message_max"};
    size_t i;

    is_int(mproc_config_new(&cfg, NULL), 0, "new without an error buffer");
    ok(mproc__config_job(cfg) == NULL, "no typed view before finish");
    is_int(mproc_config_load(cfg, fixture("[job]\nplugin = echo\n"), &err), 0,
           "minimal job loads");
    ok(mproc__config_job(cfg) == NULL, "still none before finish");
    is_int(mproc_config_finish(cfg, &err), 0, "finish");
    j = mproc__config_job(cfg);
    ok(j != NULL, "typed view after finish");
    is_str(j->plugin, "echo", "plugin: a name stays a name");
    ok(j->task == NULL, "task unset: NULL");
    is_int(j->input_kind, MPROC__INPUT_STDIN, "input defaults to stdin");
    ok(j->input_path == NULL, "stdin has no path");
    ok(j->output == NULL, "output defaults to stdout (NULL)");
    ok(j->ordered, "ordered defaults to true");
    is_int(j->chunksize, 0, "chunksize defaults to auto (0)");
    is_int(j->on_error, MPROC__ON_ERROR_CONTINUE, "on_error: continue");
    is_int(j->message_max, 64 << 20, "message_max: 64 MiB");
    is_int(j->workers, 0, "workers: auto (0)");
    is_str(j->start_method, "fork", "start_method: fork");
    is_str(j->ipc, "pipe", "ipc: pipe");
    is_int(j->max_tasks_per_child, 0, "max_tasks_per_child: 0");
    is_str(j->sync, "futex", "sync: futex");
    is_int(mproc_config_args(cfg, &kv), 0, "no [args]");

    for (i = 0; i < NELEM(pool_keys); i++) {
        is_str(mproc_config_where(cfg, "pool", pool_keys[i]), "default",
               "where pool.%s: default", pool_keys[i]);
        ok(mproc_config_get(cfg, "pool", pool_keys[i]) == NULL,
           "get pool.%s: NULL (defaults are not returned)", pool_keys[i]);
    }
    for (i = 0; i < NELEM(job_keys); i++) {
        is_str(mproc_config_where(cfg, "job", job_keys[i]), "default",
               "where job.%s: default", job_keys[i]);
        ok(mproc_config_get(cfg, "job", job_keys[i]) == NULL,
           "get job.%s: NULL", job_keys[i]);
    }
    snprintf(want, sizeof(want), "%s/job.ini:2", dir);
    is_str(mproc_config_where(cfg, "job", "plugin"), want,
           "where job.plugin: FILE:LINE");
    is_str(mproc_config_get(cfg, "job", "plugin"), "echo", "get job.plugin");
    ok(mproc_config_where(cfg, "pool", "nope") == NULL,
       "where of an unknown key: NULL");
    ok(mproc_config_where(cfg, "job", "workers") == NULL,
       "where of a key in the wrong section: NULL");
    ok(mproc_config_where(cfg, "nope", "workers") == NULL,
       "where of an unknown section: NULL");
    ok(mproc_config_where(cfg, "args", "x") == NULL,
       "where of an absent [args] key: NULL");
    ok(mproc_config_get(cfg, "args", "x") == NULL,
       "get of an absent [args] key: NULL");
    mproc_config_free(cfg);
    mproc_config_free(NULL);
    ok(1, "mproc_config_free(NULL) is a no-op");
}

/* Every accepted spelling of every key, read through the typed view. */
static void
test_values(void)
{
    static const char *const trues[] = {"true", "yes",  "on",
                                        "1",    "TRUE", "Yes"};
    static const char *const falses[] = {"false", "no",    "off",
                                         "0",     "False", "OFF"};
    static const struct {
        const char *text;
        size_t bytes;
    } sizes[] = {
        {"1", 1},          {"65536", 65536},   {"512K", 512 << 10},
        {"4k", 4 << 10},   {"1KiB", 1 << 10},  {"64M", 64 << 20},
        {"2MiB", 2 << 20}, {"3mib", 3 << 20},  {"1G", 1 << 30},
        {"1GiB", 1 << 30}, {"1024M", 1 << 30}, {"1073741824", 1 << 30},
    };
    static const char *const starts[] = {"fork", "spawn", "forkserver"};
    static const char *const ipcs[] = {"pipe", "mq", "shmring"};
    static const char *const syncs[] = {"futex", "posix", "sysv"};
    mproc_config_t *cfg;
    const struct mproc__job *j;
    char text[256];
    size_t i;

    for (i = 0; i < NELEM(trues); i++) {
        snprintf(text, sizeof(text), "ordered = %s\n", trues[i]);
        j = good(text, &cfg, trues[i]);
        ok(j && j->ordered, "ordered = %s is true", trues[i]);
        mproc_config_free(cfg);
        snprintf(text, sizeof(text), "ordered = %s\n", falses[i]);
        j = good(text, &cfg, falses[i]);
        ok(j && !j->ordered, "ordered = %s is false", falses[i]);
        mproc_config_free(cfg);
    }
    for (i = 0; i < NELEM(sizes); i++) {
        snprintf(text, sizeof(text), "message_max = %s\n", sizes[i].text);
        j = good(text, &cfg, sizes[i].text);
        is_int(j ? j->message_max : 0, sizes[i].bytes, "message_max = %s",
               sizes[i].text);
        mproc_config_free(cfg);
    }
    for (i = 0; i < 3; i++) {
        snprintf(text, sizeof(text),
                 "[pool]\nstart_method = %s\nipc = %s\nsync = %s\n", starts[i],
                 ipcs[i], syncs[i]);
        j = good(text, &cfg, starts[i]);
        is_str(j ? j->start_method : NULL, starts[i], "start_method = %s",
               starts[i]);
        is_str(j ? j->ipc : NULL, ipcs[i], "ipc = %s", ipcs[i]);
        is_str(j ? j->sync : NULL, syncs[i], "sync = %s", syncs[i]);
        mproc_config_free(cfg);
    }

    j = good("chunksize = 1000000\non_error = abort\n[pool]\nworkers = "
             "4096\nmax_tasks_per_child = 1000000000\n",
             &cfg, "upper bounds");
    is_int(j->chunksize, 1000000, "chunksize = 1000000");
    is_int(j->on_error, MPROC__ON_ERROR_ABORT, "on_error = abort");
    is_int(j->workers, 4096, "workers = 4096");
    is_int(j->max_tasks_per_child, 1000000000,
           "max_tasks_per_child = 1000000000");
    mproc_config_free(cfg);

    j = good("chunksize = 1\non_error = continue\n[pool]\nworkers = "
             "1\nmax_tasks_per_child = 0\n",
             &cfg, "lower bounds");
    is_int(j->chunksize, 1, "chunksize = 1");
    is_int(j->on_error, MPROC__ON_ERROR_CONTINUE, "on_error = continue");
    is_int(j->workers, 1, "workers = 1");
    is_int(j->max_tasks_per_child, 0, "max_tasks_per_child = 0");
    mproc_config_free(cfg);

    j = good("chunksize = auto\n", &cfg, "chunksize = auto");
    is_int(j->chunksize, 0, "chunksize = auto is 0");
    mproc_config_free(cfg);

    j = good("[pool]\nworkers = auto\n", &cfg, "workers = auto");
    is_int(j->workers, 0, "workers = auto is 0");
    is_str(mproc_config_get(cfg, "pool", "workers"), "auto",
           "get returns 'auto' as written");
    mproc_config_free(cfg);

    j = good("chunksize = 007\n", &cfg, "leading zeros");
    is_int(j->chunksize, 7, "chunksize = 007 is 7");
    is_str(mproc_config_get(cfg, "job", "chunksize"), "007",
           "get returns it as written");
    mproc_config_free(cfg);

    j = good("task = count.v2-x_y\ninput = range:-5..7\noutput = stdout\n",
             &cfg, "task and range");
    is_str(j->task, "count.v2-x_y", "task");
    is_int(j->input_kind, MPROC__INPUT_RANGE, "input = range:");
    ok(j->range_lo == -5 && j->range_hi == 7, "range:-5..7");
    ok(j->input_path == NULL, "a range has no path");
    ok(j->output == NULL, "output = stdout is NULL");
    mproc_config_free(cfg);

    j = good("input = range:-9223372036854775808..9223372036854775807\n", &cfg,
             "the widest range");
    ok(j->range_lo == INT64_MIN && j->range_hi == INT64_MAX,
       "range: INT64_MIN..INT64_MAX");
    mproc_config_free(cfg);
    j = good("input = range:3..3\n", &cfg, "a one-item range");
    ok(j->range_lo == 3 && j->range_hi == 3, "range:3..3");
    mproc_config_free(cfg);
    j = good("input = stdin\n", &cfg, "input = stdin");
    is_int(j->input_kind, MPROC__INPUT_STDIN, "input = stdin");
    mproc_config_free(cfg);

    /* inih strips inline comments (';' after a blank), not '#'. */
    j = good("chunksize = 5 ; five\n[args]\nnote = a # b ;c\nsemi = x;y\n"
             "empty =\n",
             &cfg, "inline comments");
    is_int(j->chunksize, 5, "'; comment' after a value is dropped");
    is_str(mproc_config_get(cfg, "args", "note"), "a # b",
           "'#' after a value is kept");
    is_str(mproc_config_get(cfg, "args", "semi"), "x;y",
           "';' without a blank before it is kept");
    is_str(mproc_config_get(cfg, "args", "empty"), "", "an empty [args] value");
    mproc_config_free(cfg);
}

static void
test_args_and_sections(void)
{
    mproc_config_t *cfg;
    const struct mproc__job *j;
    const struct mproc_kv *kv;
    mproc_err_t err;
    size_t n;

    is_int(load("\xEF\xBB\xBF[args]\nzeta = 1\nalpha = two words\n"
                "[job]\nplugin = echo\n[pool]\nworkers = 2\n"
                "[job]\nchunksize = 3\n[args]\nmid.key-x_1 = =x=\n"
                "[pool]\n; a comment\n  ; an indented comment\n"
                "   \n# another\nipc = mq\n",
                &err, &cfg),
           0, "repeated sections merge; BOM, blanks and comments");
    if (!ok(cfg != NULL && mproc__config_job(cfg) != NULL, "loaded"))
        diag("  error: %s", err.msg);
    j = mproc__config_job(cfg);
    is_int(j->workers, 2, "first [pool] key");
    is_int(j->chunksize, 3, "key of a repeated [job]");
    is_str(j->ipc, "mq", "key of a repeated [pool] after comments");
    snprintf(want, sizeof(want), "%s/job.ini:17", dir);
    is_str(mproc_config_where(cfg, "pool", "ipc"), want,
           "its line counts comments, blanks and the BOM line");
    n = mproc_config_args(cfg, &kv);
    is_int(n, 3, "three [args]");
    if (n == 3) {
        is_str(kv[0].key, "zeta", "[args] in file order: 1");
        is_str(kv[1].key, "alpha", "[args] in file order: 2");
        is_str(kv[2].key, "mid.key-x_1", "[args] in file order: 3");
        is_str(kv[1].value, "two words", "a value with a space");
        is_str(kv[2].value, "=x=", "a value with '='");
    }
    snprintf(want, sizeof(want), "%s/job.ini:3", dir);
    is_str(mproc_config_where(cfg, "args", "alpha"), want,
           "where of an [args] key");

    /* --set adds, replaces in place, and invalidates the typed view. */
    is_int(mproc_config_set(cfg, "args.alpha=replaced", &err), 0,
           "--set replaces an [args] key");
    ok(mproc__config_job(cfg) == NULL,
       "a set invalidates the typed view until finish");
    is_int(mproc_config_set(cfg, "args.new.dotted = 1 + 1 = 2 ", &err), 0,
           "--set adds one (dots in the key, '=' in the value)");
    is_int(mproc_config_set(cfg, "args.zeta=", &err), 0,
           "--set to an empty value");
    is_int(mproc_config_finish(cfg, &err), 0, "finish again");
    n = mproc_config_args(cfg, &kv);
    is_int(n, 4, "four [args]");
    if (n == 4) {
        is_str(kv[0].value, "", "zeta emptied in place");
        is_str(kv[1].key, "alpha", "alpha keeps its place");
        is_str(kv[1].value, "replaced", "with the new value");
        is_str(kv[3].key, "new.dotted", "the new key comes last");
        is_str(kv[3].value, "1 + 1 = 2", "value trimmed, inner '=' kept");
    }
    is_str(mproc_config_where(cfg, "args", "alpha"), "--set",
           "where of a replaced [args] key: --set");
    is_str(mproc_config_get(cfg, "args", "new.dotted"), "1 + 1 = 2",
           "get of an added [args] key");
    mproc_config_free(cfg);

    /* Many keys: the arrays grow and keep their order. */
    {
        char text[4096], *p = text;
        int i;

        p += sprintf(p, "[job]\nplugin = echo\n[args]\n");
        for (i = 0; i < 40; i++)
            p += sprintf(p, "k%02d = v%d\n", i, i);
        is_int(load(text, &err, &cfg), 0, "40 [args] keys");
        n = mproc_config_args(cfg, &kv);
        is_int(n, 40, "all 40 kept");
        ok(n == 40 && strcmp(kv[0].key, "k00") == 0 &&
               strcmp(kv[39].key, "k39") == 0 &&
               strcmp(kv[39].value, "v39") == 0,
           "in order");
        mproc_config_free(cfg);
    }
}

/* Relative paths follow the job file; absolute ones and --set's stay. */
static void
test_paths(void)
{
    mproc_config_t *cfg;
    const struct mproc__job *j;
    mproc_err_t err;
    char cwd[PATH_MAX];
    const char *f;

    f = write_file("sub/job.ini",
                   "[job]\nplugin = ./my.so\ninput = lines:data.txt\n"
                   "output = out/result.txt\n",
                   strlen("[job]\nplugin = ./my.so\ninput = lines:data.txt\n"
                          "output = out/result.txt\n"));
    mproc_config_new(&cfg, NULL);
    is_int(mproc_config_load(cfg, f, &err), 0, "job in a subfolder");
    is_int(mproc_config_finish(cfg, &err), 0, "finish");
    j = mproc__config_job(cfg);
    snprintf(want, sizeof(want), "%s/sub/data.txt", dir);
    is_str(j->input_path, want, "lines:data.txt is SUBDIR/data.txt");
    is_int(j->input_kind, MPROC__INPUT_LINES, "lines:");
    snprintf(want, sizeof(want), "%s/sub/my.so", dir);
    is_str(j->plugin, want, "plugin ./my.so is SUBDIR/my.so");
    snprintf(want, sizeof(want), "%s/sub/out/result.txt", dir);
    is_str(j->output, want, "output path resolved");
    is_str(mproc_config_get(cfg, "job", "plugin"), "./my.so",
           "get returns the plugin as written");
    is_str(mproc_config_get(cfg, "job", "input"), "lines:data.txt",
           "get returns the input as written");

    is_int(mproc_config_set(cfg, "job.input=files:in/*.txt", &err), 0,
           "--set a relative files: glob");
    is_int(mproc_config_set(cfg, "job.plugin=lib/x.so", &err), 0,
           "--set a relative plugin path");
    is_int(mproc_config_set(cfg, "job.output = res.txt", &err), 0,
           "--set a relative output");
    is_int(mproc_config_finish(cfg, &err), 0, "finish");
    j = mproc__config_job(cfg);
    is_str(j->input_path, "in/*.txt", "--set paths stay relative (cwd)");
    is_int(j->input_kind, MPROC__INPUT_FILES, "files:");
    is_str(j->plugin, "lib/x.so", "--set plugin path stays");
    is_str(j->output, "res.txt", "--set output stays");
    mproc_config_free(cfg);

    f = write_file("sub/abs.ini",
                   "[job]\nplugin = /opt/p.so\ninput = files:/srv/in\n"
                   "output = /var/out.txt\n",
                   strlen("[job]\nplugin = /opt/p.so\ninput = files:/srv/in\n"
                          "output = /var/out.txt\n"));
    mproc_config_new(&cfg, NULL);
    is_int(mproc_config_load(cfg, f, &err), 0, "absolute paths load");
    is_int(mproc_config_finish(cfg, &err), 0, "finish");
    j = mproc__config_job(cfg);
    is_str(j->plugin, "/opt/p.so", "an absolute plugin path stays");
    is_str(j->input_path, "/srv/in", "an absolute files: path stays");
    is_str(j->output, "/var/out.txt", "an absolute output stays");
    mproc_config_free(cfg);

    /* A job file named relative to the cwd: its folder is relative too,
     * and messages name the file exactly as it was given. */
    if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(dir) != 0) {
        ok(0, "cannot chdir to %s", dir);
        return;
    }
    mproc_config_new(&cfg, NULL);
    is_int(mproc_config_load(cfg, "sub/job.ini", &err), 0,
           "load sub/job.ini from its parent");
    mproc_config_finish(cfg, &err);
    is_str(mproc__config_job(cfg)->input_path, "sub/data.txt",
           "lines: relative to a relative folder");
    is_str(mproc_config_where(cfg, "job", "input"), "sub/job.ini:3",
           "where names the path as given");
    mproc_config_free(cfg);
    write_file("plain.ini", "[job]\nplugin = ../x.so\ninput = lines:d.txt\n",
               strlen("[job]\nplugin = ../x.so\ninput = lines:d.txt\n"));
    mproc_config_new(&cfg, NULL);
    is_int(mproc_config_load(cfg, "plain.ini", &err), 0,
           "load a file in the cwd");
    mproc_config_finish(cfg, &err);
    is_str(mproc__config_job(cfg)->input_path, "d.txt",
           "a file in the cwd: paths stay as written");
    is_str(mproc__config_job(cfg)->plugin, "../x.so", "and the plugin too");
    is_int(mproc_config_set(cfg, "pool.workers=lots", &err), MPROC_ECONFIG,
           "bad --set");
    mproc_config_free(cfg);
    write_file("sub/bad.ini", "[job]\nplugin = echo\nordered = maybe\n",
               strlen("[job]\nplugin = echo\nordered = maybe\n"));
    mproc_config_new(&cfg, NULL);
    is_int(mproc_config_load(cfg, "sub/bad.ini", &err), MPROC_ECONFIG,
           "bad relative file");
    is_str(err.msg,
           "sub/bad.ini:3: ordered: expected true or false, got "
           "'maybe'",
           "the message names the file as given");
    mproc_config_free(cfg);
    if (chdir(cwd) != 0)
        diag("cannot go back to %s", cwd);

    /* A job file at the root of its path: "/x.ini" lives in "/". */
    mproc_config_new(&cfg, NULL);
    snprintf(want, sizeof(want), "%s//sub//job.ini", dir);
    is_int(mproc_config_load(cfg, want, &err), 0, "doubled slashes");
    mproc_config_finish(cfg, &err);
    snprintf(want, sizeof(want), "%s//sub/data.txt", dir);
    is_str(mproc__config_job(cfg)->input_path, want,
           "the folder loses its trailing slashes only");
    mproc_config_free(cfg);
}

/* --set: overrides, trimming, and its own errors. */
static void
test_set(void)
{
    mproc_config_t *cfg;
    const struct mproc__job *j;
    mproc_err_t err;

    mproc_config_new(&cfg, NULL);
    is_int(mproc_config_load(cfg,
                             fixture("[job]\nplugin = echo\n[pool]\n"
                                     "workers = 8\nipc = mq\n"),
                             &err),
           0, "a job file");
    is_int(mproc_config_set(cfg, "pool.workers=4", &err), 0,
           "--set pool.workers=4");
    is_int(mproc_config_set(cfg, "  pool . workers  =  3  ", &err), 0,
           "--set trims blanks around section, key and value");
    is_int(mproc_config_set(cfg, "job.task=t1", &err), 0, "--set job.task");
    is_int(mproc_config_set(cfg, "job.input=range:1..10", &err), 0,
           "--set job.input");
    is_int(mproc_config_finish(cfg, &err), 0, "finish");
    j = mproc__config_job(cfg);
    is_int(j->workers, 3,
           "the last --set wins over the file and over an "
           "earlier --set");
    is_str(j->ipc, "mq", "a key not set again keeps the file's value");
    is_str(j->task, "t1", "a key only --set sets");
    ok(j->input_kind == MPROC__INPUT_RANGE && j->range_lo == 1 &&
           j->range_hi == 10,
       "--set input range");
    is_str(mproc_config_get(cfg, "pool", "workers"), "3",
           "get returns the trimmed --set value");
    is_str(mproc_config_where(cfg, "pool", "workers"), "--set", "where: --set");
    snprintf(want, sizeof(want), "%s/job.ini:5", dir);
    is_str(mproc_config_where(cfg, "pool", "ipc"), want,
           "where of the file's value");

    /* A failed --set changes nothing. */
    is_int(mproc_config_set(cfg, "pool.workers=0", &err), MPROC_ECONFIG,
           "--set is validated");
    is_str(err.msg,
           "--set pool.workers=0: workers: expected a positive integer or "
           "'auto', got '0'",
           "--set error message");
    is_int(mproc_config_finish(cfg, &err), 0, "finish after a failed set");
    is_int(mproc__config_job(cfg)->workers, 3, "the old value stays");

    /* A second file overrides the first without a duplicate error. */
    write_file("second.ini", "[pool]\nworkers = 6\n",
               strlen("[pool]\nworkers = 6\n"));
    snprintf(want, sizeof(want), "%s/second.ini", dir);
    is_int(mproc_config_load(cfg, want, &err), 0, "a second file");
    is_int(mproc_config_finish(cfg, &err), 0, "finish");
    is_int(mproc__config_job(cfg)->workers, 6, "the later file wins");
    snprintf(want, sizeof(want), "%s/second.ini:2", dir);
    is_str(mproc_config_where(cfg, "pool", "workers"), want,
           "where names the second file");
    mproc_config_free(cfg);

    /* --set before any file, and the file loaded after it. */
    mproc_config_new(&cfg, NULL);
    is_int(mproc_config_set(cfg, "job.plugin=echo", &err), 0,
           "--set job.plugin without a file");
    is_int(mproc_config_set(cfg, "job.plugin=cat", &err), 0,
           "--set twice is an override, not a duplicate");
    is_int(mproc_config_finish(cfg, &err), 0, "finish without a file");
    is_str(mproc__config_job(cfg)->plugin, "cat", "the plugin from --set");
    is_int(mproc_config_load(cfg, fixture("[job]\nplugin = echo\n"), &err), 0,
           "a file after --set is no duplicate");
    is_int(mproc_config_finish(cfg, &err), 0, "finish");
    is_str(mproc__config_job(cfg)->plugin, "echo", "the later file wins");
    snprintf(want, sizeof(want), "%s/job.ini:2", dir);
    is_str(mproc_config_where(cfg, "job", "plugin"), want,
           "where names the file");
    mproc_config_free(cfg);

    /* Shared-object declarations go to decl.c, with the --set prefix. */
    mproc_config_new(&cfg, NULL);
    is_int(mproc_config_set(cfg, "job.plugin=echo", &err), 0, "plugin");
    is_int(mproc_config_set(cfg, "semaphore:db.value = 5", &err), 0,
           "--set declares a semaphore");
    is_int(mproc_config_set(cfg, "semaphore:db.value=6", &err), 0,
           "and sets it again");
    is_int(mproc_config_finish(cfg, &err), 0, "finish");
    {
        const struct mproc__decl *d;
        ok(mproc__config_decls(cfg, &d) == 1 && d[0].value == 6 &&
               strcmp(d[0].name, "db") == 0,
           "one semaphore, value 6");
    }
    mproc_config_free(cfg);
    bad_set("barrier:b.parties=99",
            "--set barrier:b.parties=99: parties: expected an integer from 1 "
            "to 64, got '99'",
            "--set a bad declaration");

    bad_set("xyz",
            "--set 'xyz': expected SECTION.KEY=VALUE, e.g. --set "
            "pool.workers=4",
            "no '=' and no '.'");
    bad_set("workers=2",
            "--set 'workers=2': expected SECTION.KEY=VALUE, "
            "e.g. --set pool.workers=4",
            "no section");
    bad_set("pool.workers",
            "--set 'pool.workers': expected "
            "SECTION.KEY=VALUE, e.g. --set pool.workers=4",
            "no '='");
    bad_set("x=a.b",
            "--set 'x=a.b': expected SECTION.KEY=VALUE, e.g. --set "
            "pool.workers=4",
            "the '.' is in the value");
    bad_set(" .workers=2",
            "--set ' .workers=2': expected "
            "SECTION.KEY=VALUE, e.g. --set pool.workers=4",
            "empty section");
    bad_set("pool. =2",
            "--set 'pool. =2': expected SECTION.KEY=VALUE, "
            "e.g. --set pool.workers=4",
            "empty key");
    bad_set("pool.workers=lots",
            "--set pool.workers=lots: workers: expected "
            "a positive integer or 'auto', got 'lots'",
            "--set bad workers");
    bad_set("pool.wokers=2",
            "--set pool.wokers=2: unknown key 'wokers' in "
            "[pool]; did you mean 'workers'?",
            "--set misspelt key");
    bad_set("job.workers=2",
            "--set job.workers=2: key 'workers' belongs in "
            "[pool], not [job]",
            "--set key in the wrong section");
    bad_set("plool.workers=2",
            "--set plool.workers=2: unknown section "
            "[plool]; did you mean [pool]?",
            "--set misspelt section");
    bad_set("settings.x=1",
            "--set settings.x=1: unknown section [settings]; "
            "expected [job], [pool] or [args]",
            "--set unknown section");
    bad_set("args.a b=1",
            "--set args.a b=1: [args] key 'a b' must be made "
            "of letters, digits, '_', '.' and '-'",
            "--set bad [args] key");
    bad_set("pool.ipc=pipes",
            "--set pool.ipc=pipes: ipc: expected pipe, mq, "
            "shmring or auto, got 'pipes'; did you mean 'pipe'?",
            "--set bad ipc");
    bad_set("job.input=lines:",
            "--set job.input=lines:: input: 'lines:' "
            "names no path; expected lines:PATH",
            "--set empty path");
}

/* Every value error, at its line. */
static void
test_value_errors(void)
{
    static const char *const bad_workers[] = {
        "0",    "lots", "4097",
        "2x",   "+2",   "-1",
        "0x10", "",     "99999999999999999999999"};
    static const char *const bad_sizes[] = {"0",
                                            "0K",
                                            "2G",
                                            "1025M",
                                            "1T",
                                            "64MB",
                                            "-1",
                                            "+1",
                                            "M",
                                            "",
                                            "1.5M",
                                            "99999999999999999999K",
                                            "18014398509481984K"};
    char text[256], msg[256];
    size_t i;

    for (i = 0; i < NELEM(bad_workers); i++) {
        snprintf(text, sizeof(text),
                 "[job]\nplugin = echo\n[pool]\n"
                 "workers = %s\n",
                 bad_workers[i]);
        snprintf(msg, sizeof(msg),
                 "workers: expected a positive integer or 'auto', got '%s'",
                 bad_workers[i]);
        bad(text, 4, msg, bad_workers[i]);
    }
    for (i = 0; i < NELEM(bad_sizes); i++) {
        snprintf(text, sizeof(text), "[job]\nmessage_max = %s\n", bad_sizes[i]);
        snprintf(msg, sizeof(msg),
                 "message_max: expected a size from 1 byte to 1G, like "
                 "65536, 512K or 64M, got '%s'",
                 bad_sizes[i]);
        bad(text, 2, msg, bad_sizes[i]);
    }
    bad("# comment\n\n; another\n[job]\nplugin = echo\n\n[pool]\n"
        "workers = lots\n",
        8, "workers: expected a positive integer or 'auto', got 'lots'",
        "workers = lots after comments and blanks");
    bad("; one\n# two\n\n[pool]\n; three\n\nworkers = lots\n", 7,
        "workers: expected a positive integer or 'auto', got 'lots'",
        "a key on line 7");
    bad("[job]\nordered = maybe\n", 2,
        "ordered: expected true or false, got 'maybe'", "ordered = maybe");
    bad("[job]\nordered =\n", 2, "ordered: expected true or false, got ''",
        "ordered empty");
    bad("[job]\nchunksize = 0\n", 2,
        "chunksize: expected a positive integer or 'auto', got '0'",
        "chunksize = 0");
    bad("[job]\nchunksize = 1000001\n", 2,
        "chunksize: expected a positive integer or 'auto', got '1000001'",
        "chunksize too big");
    bad("[job]\nchunksize = some\n", 2,
        "chunksize: expected a positive integer or 'auto', got 'some'",
        "chunksize = some");
    bad("[job]\nchunksize = 1x\n", 2,
        "chunksize: expected a positive integer or 'auto', got '1x'",
        "chunksize with junk");
    bad("[job]\nchunksize = +1\n", 2,
        "chunksize: expected a positive integer or 'auto', got '+1'",
        "chunksize with '+'");
    bad("[job]\nchunksize = 1 000\n", 2,
        "chunksize: expected a positive integer or 'auto', got '1 000'",
        "chunksize with a space");
    bad("[pool]\nmax_tasks_per_child = -1\n", 2,
        "max_tasks_per_child: expected an integer from 0 to 1000000000, got "
        "'-1'",
        "negative max_tasks_per_child");
    bad("[pool]\nmax_tasks_per_child = 1000000001\n", 2,
        "max_tasks_per_child: expected an integer from 0 to 1000000000, got "
        "'1000000001'",
        "max_tasks_per_child too big");
    bad("[pool]\nmax_tasks_per_child = 18446744073709551616\n", 2,
        "max_tasks_per_child: expected an integer from 0 to 1000000000, got "
        "'18446744073709551616'",
        "max_tasks_per_child overflowing");
    bad("[job]\non_error = stop\n", 2,
        "on_error: expected continue or abort, got 'stop'", "on_error");
    bad("[job]\non_error = abrt\n", 2,
        "on_error: expected continue or abort, got 'abrt'; did you mean "
        "'abort'?",
        "on_error typo");
    bad("[pool]\nipc = pipes\n", 2,
        "ipc: expected pipe, mq, shmring or auto, got 'pipes'; did you mean "
        "'pipe'?",
        "ipc typo");
    bad("[pool]\nipc = PIPE\n", 2,
        "ipc: expected pipe, mq, shmring or auto, got 'PIPE'; did you "
        "mean 'pipe'?",
        "names are case-sensitive, with a hint");
    bad("[pool]\nipc = x\n", 2,
        "ipc: expected pipe, mq, shmring or auto, got 'x'",
        "a one-letter value suggests nothing");
    bad("[pool]\nipc = tcp-socket\n", 2,
        "ipc: expected pipe, mq, shmring or auto, got 'tcp-socket'",
        "ipc far from every name");
    bad("[pool]\nstart_method = clone\n", 2,
        "start_method: expected fork, spawn or forkserver, got 'clone'",
        "unknown start method");
    bad("[pool]\nstart_method = frok\n", 2,
        "start_method: expected fork, spawn or forkserver, got 'frok'; did "
        "you mean 'fork'?",
        "start method typo");
    bad("[pool]\nsync = spin\n", 2,
        "sync: expected futex, posix or sysv, got 'spin'", "sync");
    bad("[job]\ninput = range:10..5\n", 2,
        "input: range:10..5: the end must not be below the start; expected "
        "range:A..B with A <= B",
        "range with B < A");
    bad("[job]\ninput = range:-1..-2\n", 2,
        "input: range:-1..-2: the end must not be below the start; expected "
        "range:A..B with A <= B",
        "negative range with B < A");
    bad("[job]\ninput = range:1..x\n", 2,
        "input: 'range:1..x' is not a range; expected range:A..B with "
        "integers A <= B",
        "range with junk");
    bad("[job]\ninput = range:5\n", 2,
        "input: 'range:5' is not a range; expected range:A..B with integers "
        "A <= B",
        "range without '..'");
    bad("[job]\ninput = range:..5\n", 2,
        "input: 'range:..5' is not a range; expected range:A..B with "
        "integers A <= B",
        "range without a start");
    bad("[job]\ninput = range:+1..5\n", 2,
        "input: 'range:+1..5' is not a range; expected range:A..B with "
        "integers A <= B",
        "range with '+'");
    bad("[job]\ninput = range:0..9223372036854775808\n", 2,
        "input: 'range:0..9223372036854775808' is not a range; expected "
        "range:A..B with integers A <= B",
        "range overflowing int64");
    bad("[job]\ninput = range:1...5\n", 2,
        "input: 'range:1...5' is not a range; expected range:A..B with "
        "integers A <= B",
        "range with three dots");
    bad("[job]\ninput = lines:\n", 2,
        "input: 'lines:' names no path; expected lines:PATH", "empty lines:");
    bad("[job]\ninput = files:\n", 2,
        "input: 'files:' names no path; expected files:PATH", "empty files:");
    bad("[job]\ninput = words:x\n", 2,
        "input: expected stdin, lines:PATH, lines0:PATH, range:A..B or "
        "files:DIR-or-GLOB, got 'words:x'",
        "unknown input form");
    bad("[job]\ninput = STDIN\n", 2,
        "input: expected stdin, lines:PATH, lines0:PATH, range:A..B or "
        "files:DIR-or-GLOB, got 'STDIN'",
        "input is case-sensitive");
    bad("[job]\noutput =\n", 2,
        "output: expected stdout or a path, got nothing", "empty output");
    bad("[job]\nplugin =\n", 2,
        "plugin: expected a plugin name or a path, got nothing",
        "empty plugin");
    bad("[job]\nplugin = my plugin\n", 2,
        "plugin: 'my plugin' is not a plugin name (letters, digits, '_', "
        "'.', '-'); a path needs a '/', e.g. ./my plugin",
        "bad plugin name");
    bad("[job]\nplugin = echo\ntask =\n", 3,
        "task: expected a name made of letters, digits, '_', '.' and '-', "
        "got ''",
        "empty task");
    bad("[job]\nplugin = echo\ntask = a/b\n", 3,
        "task: expected a name made of letters, digits, '_', '.' and '-', "
        "got 'a/b'",
        "bad task");
}

/* Section, key, syntax and line errors. */
static void
test_structure_errors(void)
{
    char text[1024], msg[256];
    mproc_config_t *cfg;
    mproc_err_t err;
    const struct mproc__decl *d;

    bad("plugin = echo\n", 1,
        "key 'plugin' is outside any section; put it under [job], [pool] or "
        "[args]",
        "key before any section");
    bad("# c\n\nx = 1\n[job]\n", 3,
        "key 'x' is outside any section; put it under [job], [pool] or "
        "[args]",
        "key before any section, after a comment");
    bad("[job]\nplugin = echo\n[jb]\n", 3,
        "unknown section [jb]; did you mean [job]?", "section typo");
    bad("[job]\nplugin = echo\n[jobs]\nx = 1\n", 3,
        "unknown section [jobs]; did you mean [job]?",
        "section typo with a key");
    bad("[Pool]\n", 1, "unknown section [Pool]; did you mean [pool]?",
        "section names are case-sensitive, with a hint");
    bad("[settings]\nx = 1\n", 1,
        "unknown section [settings]; expected [job], [pool] or [args]",
        "unknown section");
    bad("[job]\nplugin = echo\n[]\n", 3,
        "unknown section []; expected [job], [pool] or [args]",
        "empty section name");
    bad("[job]\nplugin = echo\n[ job ]\n", 3,
        "unknown section [ job ]; did you mean [job]?",
        "blanks inside the brackets count");
    bad("[job]\nplugin = echo\n[pool]\nworker = 2\n", 4,
        "unknown key 'worker' in [pool]; did you mean 'workers'?", "key typo");
    bad("[pool]\nWorkers = 2\n", 2,
        "unknown key 'Workers' in [pool]; did you mean 'workers'?",
        "keys are case-sensitive, with a hint");
    bad("[job]\nworkers = 2\n", 2, "key 'workers' belongs in [pool], not [job]",
        "[pool] key in [job]");
    bad("[pool]\nplugin = echo\n", 2,
        "key 'plugin' belongs in [job], not [pool]", "[job] key in [pool]");
    bad("[job]\ncolour = red\n", 2,
        "unknown key 'colour' in [job]; expected plugin, task, input, "
        "output, output_mode, ordered, chunksize, on_error, message_max, "
        "timeout, timeout_grace, retries, shard, shard_mode, joblog_sync, "
        "quarantine_after, slowlog or status",
        "unknown [job] key, no close match");
    bad("[pool]\nheight = 2\n", 2,
        "unknown key 'height' in [pool]; expected workers, start_method, "
        "ipc, max_tasks_per_child, sync, max_memory_per_child, rlimit_cpu, "
        "rlimit_as, rlimit_nofile, nice, launcher or node_timeout",
        "unknown [pool] key, no close match");
    bad("[args]\nbad key = 1\n", 2,
        "[args] key 'bad key' must be made of letters, digits, '_', '.' and "
        "'-'",
        "bad [args] key");

    bad("[pool]\nworkers = 1\n\nworkers = 2\n", 4,
        "duplicate key 'workers' in [pool] (first set at line 2)",
        "duplicate key");
    bad("[job]\nplugin = echo\n[pool]\nworkers = 1\n[job]\ntask = t\n"
        "[pool]\nworkers = 2\n",
        8, "duplicate key 'workers' in [pool] (first set at line 4)",
        "duplicate key across a repeated section");
    bad("[job]\nplugin = echo\nplugin = cat\n", 3,
        "duplicate key 'plugin' in [job] (first set at line 2)",
        "duplicate plugin");
    bad("[args]\nx = 1\ny = 2\nx = 2\n", 4,
        "duplicate key 'x' in [args] (first set at line 2)",
        "duplicate [args] key");

    bad("[job]\nplugin = echo\nthis line has no equals sign\n", 3,
        "syntax error: expected '[section]', 'key = value' or a comment",
        "a line without '='");
    bad("[job]\nplugin = echo\n[pool\nworkers = 2\n", 3,
        "syntax error: expected '[section]', 'key = value' or a comment",
        "an unclosed '['");
    bad("[job]\nplugin = echo\n[pool ; x]\n", 3,
        "syntax error: expected '[section]', 'key = value' or a comment",
        "a comment before ']'");
    bad("[job]\n= echo\n", 2,
        "syntax error: expected '[section]', 'key = value' or a comment",
        "a line with no key");
    bad("[job]\nplugin = echo\nnonsense\n[pool]\nworkers = lots\n", 3,
        "syntax error: expected '[section]', 'key = value' or a comment",
        "the first error wins: syntax before value");
    bad("[pool]\nworkers = lots\nnonsense\n", 2,
        "workers: expected a positive integer or 'auto', got 'lots'",
        "the first error wins: value before syntax");
    bad("[pool]\nworkers = lots\n[jb]\n", 2,
        "workers: expected a positive integer or 'auto', got 'lots'",
        "the first error wins: value before section");
    bad("[job]\nplugin = echo\n   task = x\n", 3,
        "indented line: continuation lines are not supported; remove the "
        "leading whitespace",
        "continuation line");
    bad("[job]\nplugin = echo\n\tmore\n", 3,
        "indented line: continuation lines are not supported; remove the "
        "leading whitespace",
        "continuation with a tab");
    bad("  [job]\nplugin = echo\n", 1,
        "indented line: continuation lines are not supported; remove the "
        "leading whitespace",
        "indented header");
    /* inih skips the mark, then the whitespace: the header was read, but
     * was declared by no one, and its key crashed (fuzz-config). */
    bad("\xEF\xBB\xBF\r\r[semaphore:s]\nvalue = 1\n", 1,
        "indented line: continuation lines are not supported; remove the "
        "leading whitespace",
        "indented header after a byte-order mark");
    bad("\xEF\xBB\xBF [job]\nplugin = echo\n", 1,
        "indented line: continuation lines are not supported; remove the "
        "leading whitespace",
        "a space after a byte-order mark");
    bad_len("[job]\nplugin = e\0cho\n", 19, 2,
            "line holds a NUL byte; a job file is text", "a NUL byte");

    /* 199 bytes is the longest line inih reads whole. */
    memset(text, 0, sizeof(text));
    strcpy(text, "[job]\nplugin = echo\n[args]\nk = ");
    memset(text + strlen(text), 'v', 199 - 4);
    strcat(text, "\n[pool]\nworkers = 2\n");
    is_int(load(text, &err, &cfg), 0, "a 199-byte line is fine");
    ok(mproc_config_get(cfg, "args", "k") != NULL &&
           strlen(mproc_config_get(cfg, "args", "k")) == 195,
       "and read whole");
    is_int(mproc__config_job(cfg) ? mproc__config_job(cfg)->workers : 0, 2,
           "the next lines are read as such");
    mproc_config_free(cfg);

    memset(text, 0, sizeof(text));
    strcpy(text, "[job]\nplugin = echo\n[args]\nk = ");
    memset(text + strlen(text), 'v', 199 - 4);
    strcat(text, "\r\n[pool]\r\nworkers = 3\r\n");
    is_int(load(text, &err, &cfg), 0, "a 199-byte line with CRLF is fine");
    ok(mproc_config_get(cfg, "args", "k") != NULL &&
           strlen(mproc_config_get(cfg, "args", "k")) == 195,
       "and read whole");
    is_int(mproc__config_job(cfg) ? mproc__config_job(cfg)->workers : 0, 3,
           "CRLF lines");
    mproc_config_free(cfg);

    memset(text, 0, sizeof(text));
    strcpy(text, "[job]\nplugin = echo\n[args]\nk = ");
    memset(text + strlen(text), 'v', 199 - 4);
    is_int(load(text, &err, &cfg), 0, "a 199-byte last line without a newline");
    ok(mproc_config_get(cfg, "args", "k") != NULL &&
           strlen(mproc_config_get(cfg, "args", "k")) == 195,
       "read whole");
    mproc_config_free(cfg);

    /* Lines longer than inih's 199 bytes are read whole (a path in a deep
     * folder, issue 11.12), the way inih reads a short one. */
    memset(text, 0, sizeof(text));
    strcpy(text, "[job]\nplugin = echo\n[args]\nk = ");
    memset(text + strlen(text), 'v', 500);
    strcat(text, " ; an inline comment\n# ");
    memset(text + strlen(text), 'c', 300);
    strcat(text, "\nj : x #y\n[pool]\nworkers = 2\n");
    is_int(load(text, &err, &cfg), 0, "a 530-byte line and a 302-byte comment");
    ok(mproc_config_get(cfg, "args", "k") != NULL &&
           strlen(mproc_config_get(cfg, "args", "k")) == 500,
       "the long value is read whole, without its inline comment");
    is_str(mproc_config_get(cfg, "args", "j"), "x #y",
           "the lines after it are read as such");
    is_int(mproc__config_job(cfg) ? mproc__config_job(cfg)->workers : 0, 2,
           "and in their sections");
    mproc_config_free(cfg);

    memset(text, 0, sizeof(text));
    strcpy(text, "[job]\nplugin = echo\n[pool]\nworkers = ");
    memset(text + strlen(text), '9', 300);
    strcat(text, "\n");
    is_int(load(text, &err, NULL), MPROC_ECONFIG,
           "a long bad value: ECONFIG");
    ok(strstr(err.msg, "/job.ini:4: workers: expected a positive integer") !=
           NULL,
       "a long line lands in its section, at its line");
    memset(text, 0, sizeof(text));
    strcpy(text, "[job]\nplugin = echo\n");
    memset(text + strlen(text), 'k', 300);
    strcat(text, "\n");
    bad(text, 3,
        "syntax error: expected '[section]', 'key = value' or a comment",
        "a long line without '='");
    memset(text, 0, sizeof(text));
    strcpy(text, "[job]\nplugin = echo\n[");
    memset(text + strlen(text), 's', 300);
    strcat(text, "]\n");
    bad(text, 3, "section header is 302 bytes long; inih reads at most 199 "
        "(shorten the name)",
        "a long section header");
    {
        size_t n = MPROC_CONFIG_LINE_MAX + 1;
        char *big = calloc(1, n + 64);
        strcpy(big, "[args]\nk = ");
        memset(big + strlen(big), 'v', n - 4);
        strcat(big, "\n");
        snprintf(msg, sizeof(msg),
                 "line is %zu bytes long; an unquoted value's line holds at "
                 "most %d: put the value in double quotes (up to 64 KiB), "
                 "e.g. k = \"...\"",
                 n, MPROC_CONFIG_LINE_MAX);
        bad(big, 2, msg, "a line over MPROC_CONFIG_LINE_MAX");
        free(big);
    }

    /* Declared shared objects ([KIND:NAME], decl.c): a name inih would cut
     * is refused; one that fits is declared at its header's line. */
    memset(text, 0, sizeof(text));
    strcpy(text, "[job]\nplugin = echo\n[lock:");
    memset(text + strlen(text), 'n', 44);
    strcat(text, "]\n");
    snprintf(want, sizeof(want), "%s/job.ini:3", dir);
    is_int(load(text, &err, &cfg), 0, "a 49-byte section name");
    ok(mproc__config_decls(cfg, &d) == 1 && strlen(d[0].name) == 44 &&
           strcmp(d[0].where, want) == 0,
       "is declared, at its line");
    mproc_config_free(cfg);
    memset(text, 0, sizeof(text));
    strcpy(text, "[job]\nplugin = echo\n[lock:");
    memset(text + strlen(text), 'n', 45);
    strcat(text, "]\n");
    bad(text, 3,
        "section name is 50 bytes long; inih reads at most 49 (shorten the "
        "name)",
        "a 50-byte section name");
    is_int(load("[job]\nplugin = echo\n[semaphore:s]\nvalue = 3\n", &err, &cfg),
           0, "a declaration with a key");
    ok(mproc__config_decls(cfg, &d) == 1 && d[0].value == 3,
       "its key reaches decl.c");
    mproc_config_free(cfg);
    bad("[job]\nplugin = echo\n[mutex:a]\n", 3,
        "unknown kind of shared object [mutex:...]; expected lock, rlock, "
        "semaphore, boundedsemaphore, event, condition, barrier, value or "
        "array",
        "a bad declaration at its header's line");
}

static void
test_file_errors(void)
{
    mproc_config_t *cfg;
    mproc_err_t err;

    /* No plugin: named after the last file, or "configuration". */
    is_int(load("[pool]\nworkers = 2\n", &err, NULL), MPROC_ECONFIG,
           "no plugin: ECONFIG");
    snprintf(want, sizeof(want),
             "%s/job.ini: [job] plugin is not set; name a plugin, e.g. "
             "plugin = echo",
             dir);
    is_str(err.msg, want, "no plugin: names the file");
    mproc_config_new(&cfg, NULL);
    is_int(mproc_config_set(cfg, "pool.workers=2", &err), 0, "only --set");
    is_int(mproc_config_finish(cfg, &err), MPROC_ECONFIG,
           "no plugin and no file");
    is_str(err.msg,
           "configuration: [job] plugin is not set; name a plugin, "
           "e.g. plugin = echo",
           "names the configuration");
    ok(mproc__config_job(cfg) == NULL, "no typed view after a failed finish");
    is_int(mproc_config_finish(cfg, NULL), MPROC_ECONFIG,
           "finish with a NULL error buffer");
    mproc_config_free(cfg);

    mproc_config_new(&cfg, NULL);
    snprintf(want, sizeof(want), "%s/missing.ini", dir);
    is_int(mproc_config_load(cfg, want, &err), MPROC_EINPUT,
           "a missing file is EINPUT");
    is_int(err.code, MPROC_EINPUT, "err.code too");
    snprintf(want, sizeof(want),
             "%s/missing.ini: cannot open: No such file or directory", dir);
    is_str(err.msg, want, "names the file and the reason");
    is_int(mproc_config_load(cfg, dir, &err), MPROC_EINPUT,
           "a folder is EINPUT");
    snprintf(want, sizeof(want),
             "%s: not a regular file (a folder); a job file must be one", dir);
    is_str(err.msg, want, "says why");
    is_int(mproc_config_load(cfg, fixture("[pool]\nworkers = 0\n"), NULL),
           MPROC_ECONFIG, "an error with a NULL error buffer");
    mproc_config_free(cfg);

    /* Something far too big to be a job file is not read to the end. */
    {
        char *big = malloc((size_t)17 << 20);

        memset(big, '\n', (size_t)17 << 20);
        write_file("big.ini", big, (size_t)17 << 20);
        free(big);
        mproc_config_new(&cfg, NULL);
        snprintf(want, sizeof(want), "%s/big.ini", dir);
        is_int(mproc_config_load(cfg, want, &err), MPROC_EINPUT,
               "a 17 MiB file is EINPUT");
        snprintf(want, sizeof(want),
                 "%s/big.ini: cannot read: larger than 16 MiB; not a job "
                 "file",
                 dir);
        is_str(err.msg, want, "says so");
        mproc_config_free(cfg);
    }

    /* Empty and comment-only files are fine (until finish). */
    mproc_config_new(&cfg, NULL);
    is_int(mproc_config_load(cfg, fixture(""), &err), 0, "an empty file");
    is_int(mproc_config_load(cfg, fixture("; nothing\n\n# here\n"), &err), 0,
           "a file of comments");
    mproc_config_free(cfg);
}

/* [job] timeout, timeout_grace, retries; [pool] per-worker limits. */
static void
test_limits(void)
{
    static const struct {
        const char *text;
        unsigned ms;
    } durations[] = {{"0", 0},        {"30", 30000},   {"1.5", 1500},
                     {"250ms", 250},  {"2s", 2000},    {"2m", 120000},
                     {"1h", 3600000}, {"0.0001", 1},   {"0.5ms", 1}};
    /* Only what mproc.ini(5) documents: digits, an optional fraction,
     * an optional unit; not what strtod() also takes (issue 11.15). */
    static const char *const bad_durations[] = {
        "", "-1", "1d", "s", "ten", "1 s", "8d", "1e9", "0x10", "0x1p4",
        "1e-300", "1E1", "1.", ".5", "1.5.5", "inf", "nan", "1,5", "+1",
        "0x10s", "1e3ms"};
    static const char *const bad_nices[] = {"-21", "20", "x", "", "1.5"};
    mproc_config_t *cfg;
    const struct mproc__job *j;
    char text[256], msg[256];
    size_t i;

    j = good("", &cfg, "no limits");
    is_int(j ? j->timeout_ms : 1, 0, "timeout: none by default");
    is_int(j ? j->timeout_grace_ms : 0, 1000, "timeout_grace: 1s by default");
    is_int(j ? j->retries : 1, 0, "retries: 0 by default");
    is_int(j ? (long long)j->max_memory_per_child : 1, 0,
           "max_memory_per_child: 0 by default");
    is_int(j ? (long long)(j->rlimit_cpu + j->rlimit_as + j->rlimit_nofile)
             : 1, 0, "rlimits: unchanged by default");
    is_int(j ? j->nice : 1, 0, "nice: 0 by default");
    mproc_config_free(cfg);

    for (i = 0; i < NELEM(durations); i++) {
        snprintf(text, sizeof(text), "timeout = %s\n", durations[i].text);
        j = good(text, &cfg, durations[i].text);
        is_int(j ? (long long)j->timeout_ms : -1, durations[i].ms,
               "timeout = %s is %u ms", durations[i].text, durations[i].ms);
        mproc_config_free(cfg);
    }
    for (i = 0; i < NELEM(bad_durations); i++) {
        snprintf(text, sizeof(text), "[job]\ntimeout = %s\n",
                 bad_durations[i]);
        snprintf(msg, sizeof(msg),
                 "timeout: expected a duration up to 604800s, like 30 "
                 "(seconds), 1.5s, 500ms, 2m or 1h (0: no limit), got '%s'",
                 bad_durations[i]);
        bad(text, 2, msg, bad_durations[i]);
    }
    bad("[job]\ntimeout_grace = 2h\n", 2,
        "timeout_grace: expected a duration up to 3600s, like 30 (seconds), "
        "1.5s, 500ms, 2m or 1h (0: no limit), got '2h'",
        "timeout_grace over an hour");
    j = good("retries = 3\ntimeout_grace = 0\n[pool]\n"
             "max_memory_per_child = 512M\nrlimit_cpu = 60\n"
             "rlimit_as = 2G\nrlimit_nofile = 256\nnice = -5\n",
             &cfg, "every limit");
    is_int(j ? j->retries : 0, 3, "retries = 3");
    is_int(j ? j->timeout_grace_ms : 1, 0, "timeout_grace = 0");
    is_int(j ? (long long)j->max_memory_per_child : 0, 512ll << 20,
           "max_memory_per_child = 512M");
    is_int(j ? (long long)j->rlimit_cpu : 0, 60, "rlimit_cpu = 60");
    is_int(j ? (long long)j->rlimit_as : 0, 2ll << 30, "rlimit_as = 2G");
    is_int(j ? (long long)j->rlimit_nofile : 0, 256, "rlimit_nofile = 256");
    is_int(j ? j->nice : 0, -5, "nice = -5");
    mproc_config_free(cfg);
    j = good("[pool]\nrlimit_as = 1T\nnice = 19\n", &cfg, "1T, nice 19");
    is_int(j ? (long long)j->rlimit_as : 0, 1ll << 40, "rlimit_as = 1T");
    is_int(j ? j->nice : 0, 19, "nice = 19");
    mproc_config_free(cfg);
    bad("[job]\nretries = 1001\n", 2,
        "retries: expected an integer from 0 to 1000, got '1001'",
        "retries over 1000");
    bad("[pool]\nmax_memory_per_child = 2T\n", 2,
        "max_memory_per_child: expected a size from 0 (no limit) to 1T, like "
        "65536, 512K or 64M, got '2T'",
        "max_memory_per_child over 1T");
    for (i = 0; i < NELEM(bad_nices); i++) {
        snprintf(text, sizeof(text), "[pool]\nnice = %s\n", bad_nices[i]);
        snprintf(msg, sizeof(msg),
                 "nice: expected an integer from -20 to 19, got '%s'",
                 bad_nices[i]);
        bad(text, 2, msg, bad_nices[i]);
    }
}

/* [args] c of a job file whose [args] section is `args` (line 3 on). */
static void
quoted(const char *args, const char *value, const char *what)
{
    size_t n = strlen(args) + 64;
    char *text = malloc(n);
    mproc_config_t *cfg;
    mproc_err_t err;
    const char *got;

    snprintf(text, n, "[job]\nplugin = echo\n[args]\n%s\n", args);
    if (!ok(load(text, &err, &cfg) == 0, "%s: loads", what))
        diag("  error: %s", err.msg);
    got = mproc_config_get(cfg, "args", "c");
    if (!ok(got != NULL && strcmp(got, value) == 0, "%s: the value", what))
        diag("  got '%.80s' (%zu bytes)", got ? got : "(none)",
             got ? strlen(got) : 0);
    mproc_config_free(cfg);
    free(text);
}

/* A value of n bytes of 'x', in quotes: "c = \"xxx...\"". */
static char *
big_quoted(size_t n, char **value)
{
    char *line = malloc(n + 8);

    strcpy(line, "c = \"");
    memset(line + 5, 'x', n);
    strcpy(line + 5 + n, "\"");
    *value = strndup(line + 5, n);
    return line;
}

static void
test_quoted(void)
{
    const struct mproc__job *job;
    mproc_config_t *cfg;
    char *const *warn;
    char *line, *value, msg[400];
    mproc_err_t err;
    size_t sizes[] = {10240, MPROC_CONFIG_VALUE_MAX}, i;

    quoted("c = \"a ; b # c\"", "a ; b # c", "' ;' and '#' in quotes");
    quoted("c = \"  x  \"", "  x  ", "blanks at both ends kept");
    quoted("c = \"say \\\"hi\\\" \\\\ printf '%s\\n'\"",
           "say \"hi\" \\ printf '%s\\n'",
           "\\\" and \\\\ are escapes; other backslashes stay");
    quoted("c = \"v\" ; a comment", "v", "a comment after the quote");
    quoted("c = \"v\"# a comment", "v", "a # comment after the quote");
    quoted("c = \"\"", "", "an empty quoted value");
    quoted("c = \"$HOME/x\" \"$1\"", "\"$HOME/x\" \"$1\"",
           "text after the closing quote: unquoted, as it always was");
    quoted("c = a \"b ; c\"", "a \"b", "a quote inside: unquoted");
    quoted("c = echo \"a$1\" ; echo b", "echo \"a$1\"",
           "unquoted: ' ;' still starts a comment");
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        line = big_quoted(sizes[i], &value);
        snprintf(msg, sizeof(msg), "a %zu-byte quoted value", sizes[i]);
        quoted(line, value, msg);
        free(line);
        free(value);
    }

    /* The warning an unquoted [args] value cut by " ;" leaves. */
    load("[job]\nplugin = echo\n[args]\nc = echo \"a$1\" ; echo b\n"
         "d = x\n",
         &err, &cfg);
    if (ok(mproc__config_warnings(cfg, &warn) == 1,
           "a cut [args] value: one warning")) {
        snprintf(want, sizeof(want),
                 "%s/job.ini:4: [args] c: the text after ' ;' was taken as a "
                 "comment, so the value is 'echo \"a$1\"'; to keep a ';', "
                 "put the whole value in double quotes: c = \"...\"",
                 dir);
        is_str(warn[0], want, "the warning names FILE:LINE and the fix");
    }
    mproc_config_free(cfg);
    load("[job]\nplugin = echo\n[pool]\nworkers = 2 ; two\n", &err, &cfg);
    is_int((int)mproc__config_warnings(cfg, &warn), 0,
           "an inline comment in [pool]: no warning");
    mproc_config_free(cfg);

    /* Quotes work in every section: a path with blanks. */
    job = good("output = \"out file.txt \"\n", &cfg, "a quoted output");
    snprintf(want, sizeof(want), "%s/out file.txt ", dir);
    is_str(job ? job->output : "", want, "a quoted path keeps its blanks");
    mproc_config_free(cfg);

    bad("[job]\nplugin = echo\n[args]\nc = \"echo a ; echo b\n", 4,
        "c: unterminated quoted value: the line ends before the closing '\"' "
        "(write a '\"' inside as \\\")",
        "an unterminated quote");
    bad("[job]\nplugin = echo\n[args]\nc = \"a\\\"\n", 4,
        "c: unterminated quoted value: the line ends before the closing '\"' "
        "(write a '\"' inside as \\\")",
        "an escaped quote does not close");
    line = big_quoted(MPROC_CONFIG_VALUE_MAX + 1, &value);
    {
        char *text = malloc(strlen(line) + 64);
        sprintf(text, "[job]\nplugin = echo\n[args]\n%s\n", line);
        snprintf(msg, sizeof(msg),
                 "c: the quoted value is %d bytes long; a value holds at "
                 "most %d (64 KiB): put a longer command in a script file",
                 MPROC_CONFIG_VALUE_MAX + 1, MPROC_CONFIG_VALUE_MAX);
        bad(text, 4, msg, "a quoted value over 64 KiB");
        free(text);
    }
    free(line);
    free(value);
    line = big_quoted(2 * MPROC_CONFIG_VALUE_MAX + MPROC_CONFIG_LINE_MAX,
                      &value);
    {
        char *text = malloc(strlen(line) + 64);
        sprintf(text, "[job]\nplugin = echo\n[args]\n%s\n", line);
        snprintf(msg, sizeof(msg),
                 "line is %zu bytes long; a job file holds values of up to "
                 "%d bytes (64 KiB), in double quotes: put a longer command "
                 "in a script file",
                 strlen(line), MPROC_CONFIG_VALUE_MAX);
        bad(text, 4, msg, "a line longer than any quoted value");
        free(text);
    }
    free(line);
    free(value);
}

int
main(void)
{
    const char *t = getenv("TMPDIR");
    char cmd[600];
    int rc;

    snprintf(dir, sizeof(dir), "%s/mproc-config-XXXXXX",
             t != NULL && *t != '\0' ? t : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_defaults();
    test_values();
    test_args_and_sections();
    test_paths();
    test_set();
    test_value_errors();
    test_limits();
    test_structure_errors();
    test_file_errors();
    test_quoted();
    rc = done_testing();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return rc;
}

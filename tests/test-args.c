/* SPDX-License-Identifier: MIT */
/*
 * [args] against a plugin's declared keys (plugin ABI 1.2): each type's
 * check, required keys and their alternative, paths made relative to the
 * job file, the messages' FILE:LINE; and the loader's view of descriptors
 * of ABI 1.1 (no table read) and of bad tables (wrapped in-process).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "config/config_int.h"
#include "plugin/plugin_int.h"
#include "tap.h"

static char dir[512], job[600], want[1200];

static const struct mproc_arg_def defs[] = {
    {"name", MPROC_ARG_STRING, NULL, MPROC_ARG_REQUIRED, "who", "alias"},
    {"alias", MPROC_ARG_STRING, NULL, 0, "who, by another name", NULL},
    {"count", MPROC_ARG_INT, "1", 0, "how many", NULL},
    {"loud", MPROC_ARG_BOOL, "false", 0, "shout", NULL},
    {"wait", MPROC_ARG_DURATION, "1s", 0, "pause", NULL},
    {"buffer", MPROC_ARG_SIZE, "64K", 0, "room", NULL},
    {"out", MPROC_ARG_PATH, NULL, 0, "where", NULL},
    {"script", MPROC_ARG_FILE, NULL, 0, "what", NULL},
    MPROC_ARG_END,
};

/* Load `args` as the [args] of a job at DIR/job.ini (line 3 on), then
 * check them against defs; *cfg is the caller's to free. */
static int
check(const char *args, mproc_config_t **cfg, mproc_err_t *err)
{
    char text[1024];
    FILE *f;
    int r;

    snprintf(text, sizeof(text), "[job]\nplugin = x\n[args]\n%s", args);
    f = fopen(job, "w");
    fputs(text, f);
    fclose(f);
    memset(err, 0, sizeof(*err));
    mproc_config_new(cfg, NULL);
    r = mproc_config_load(*cfg, job, err);
    if (r == 0)
        r = mproc_config_finish(*cfg, err);
    if (r == 0)
        r = mproc__config_check_args(*cfg, defs, "demo", err);
    return r;
}

static void
good(const char *args, const char *what)
{
    mproc_config_t *cfg;
    mproc_err_t err;

    if (!ok(check(args, &cfg, &err) == 0, "%s: accepted", what))
        diag("  error: %s", err.msg);
    mproc_config_free(cfg);
}

static void
bad(const char *args, int code, const char *msg, const char *what)
{
    mproc_config_t *cfg;
    mproc_err_t err;

    is_int(check(args, &cfg, &err), code, "%s: refused", what);
    snprintf(want, sizeof(want), "%s/job.ini%s", dir, msg);
    is_str(err.msg, want, "%s: message", what);
    mproc_config_free(cfg);
}

static void
test_types(void)
{
    good("name = a\n", "a required key");
    good("alias = a\n", "its alternative instead");
    good("name = a\ncount = -3\nloud = yes\nwait = 500ms\nbuffer = 2M\n",
         "every type, well formed");
    bad("name = a\ncount = 3x\n", MPROC_ECONFIG,
        ":5: [args] count: expected an integer, got '3x'", "int");
    bad("name = a\nloud = maybe\n", MPROC_ECONFIG,
        ":5: [args] loud: expected true or false, got 'maybe'", "bool");
    bad("name = a\nwait = soon\n", MPROC_ECONFIG,
        ":5: [args] wait: expected a duration like 30 (seconds), 1.5s, "
        "500ms or 2m, got 'soon'",
        "duration");
    bad("name = a\nbuffer = lots\n", MPROC_ECONFIG,
        ":5: [args] buffer: expected a size like 65536, 512K or 64M, got "
        "'lots'",
        "size");
    bad("count = 2\n", MPROC_ECONFIG,
        ":3: [args] name is required by plugin demo (or set alias): who",
        "a missing required key, at the [args] line");
    bad("name = a\nnmae = b\n", MPROC_ECONFIG,
        ":5: unknown key 'nmae' in [args] of plugin demo; did you mean "
        "'name'?",
        "a typo");
}

static void
test_paths(void)
{
    mproc_config_t *cfg;
    mproc_err_t err;
    char sub[600];

    snprintf(sub, sizeof(sub), "%s/s.sh", dir);
    fclose(fopen(sub, "w"));
    if (ok(check("name = a\nout = o.txt\nscript = s.sh\n", &cfg, &err) == 0,
           "path and file: accepted"))
        diag("  %s", err.msg);
    snprintf(want, sizeof(want), "%s/o.txt", dir);
    is_str(mproc_config_get(cfg, "args", "out"), "o.txt",
           "the value as written stays for messages");
    {
        const struct mproc_kv *kv;
        size_t n = mproc_config_args(cfg, &kv), i;
        const char *out = NULL, *script = NULL;

        for (i = 0; i < n; i++) {
            if (strcmp(kv[i].key, "out") == 0)
                out = kv[i].value;
            if (strcmp(kv[i].key, "script") == 0)
                script = kv[i].value;
        }
        is_str(out, want, "a path reaches the plugin next to the job file");
        is_str(script, sub, "and so does a file");
    }
    mproc_config_free(cfg);
    is_int(check("name = a\nscript = none.sh\n", &cfg, &err), MPROC_EINPUT,
           "a missing file: refused");
    snprintf(want, sizeof(want),
             "%s/job.ini:5: [args] script: %s/none.sh: No such file or "
             "directory",
             dir, dir);
    is_str(err.msg, want, "a missing file: named with FILE:LINE");
    mproc_config_free(cfg);
    is_int(check("name = a\nscript = .\n", &cfg, &err), MPROC_ECONFIG,
           "a folder as a file: refused");
    snprintf(want, sizeof(want),
             "%s/job.ini:5: [args] script: %s/. is a folder, not a file", dir,
             dir);
    is_str(err.msg, want, "a folder as a file: says so");
    mproc_config_free(cfg);
}

static void
test_set(void)
{
    mproc_config_t *cfg;
    mproc_err_t err;

    mproc_config_new(&cfg, NULL);
    mproc_config_set(cfg, "job.plugin=x", NULL);
    mproc_config_set(cfg, "args.loud=sure", NULL);
    mproc_config_finish(cfg, NULL);
    is_int(mproc__config_check_args(cfg, defs, "demo", &err), MPROC_ECONFIG,
           "--set: a bad value refused");
    is_str(err.msg,
           "--set args.loud: [args] loud: expected true or false, got 'sure'",
           "--set: named as such");
    is_int(mproc__config_check_args(cfg, NULL, "demo", &err), 0,
           "nothing declared: nothing checked");
    mproc_config_free(cfg);
}

static int
t_echo(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
       struct mproc_buf *out)
{
    (void)index;
    (void)ctx;
    return mproc_buf_append(out, in, len);
}

static void
test_loader(void)
{
    static const struct mproc_task_def tasks[] = {{"t", t_echo, NULL},
                                                  {NULL, NULL, NULL}};
    static const struct mproc_arg_def twice[] = {
        {"a", MPROC_ARG_INT, NULL, 0, NULL, NULL},
        {"a", MPROC_ARG_STRING, NULL, 0, NULL, NULL},
        MPROC_ARG_END,
    };
    static const struct mproc_arg_def odd[] = {
        {"a", 42, NULL, 0, NULL, NULL},
        MPROC_ARG_END,
    };
    struct mproc_plugin d = {
        .abi_major = MPROC_PLUGIN_ABI_MAJOR,
        .abi_minor = MPROC_PLUGIN_ABI_MINOR,
        .size = sizeof(struct mproc_plugin),
        .name = "t",
        .tasks = tasks,
        .args = defs,
    };
    struct mproc__plugin *p;
    mproc_err_t err;

    ok(mproc__plugin_wrap(&p, &d, &err) == 0, "a table loads");
    ok(p != NULL && mproc__plugin_args(p->desc) == defs, "and is read");
    mproc__plugin_close(p);
    d.abi_minor = 1;
    ok(mproc__plugin_args(&d) == NULL, "ABI 1.1: the table is not read");
    d.abi_minor = MPROC_PLUGIN_ABI_MINOR;
    d.size = (uint32_t)offsetof(struct mproc_plugin, args);
    ok(mproc__plugin_args(&d) == NULL,
       "a descriptor too small to hold it: not read");
    d.size = sizeof(struct mproc_plugin);
    d.args = twice;
    is_int(mproc__plugin_wrap(&p, &d, &err), MPROC_EPLUGIN, "a key twice");
    is_str(err.msg, "plugin (in-process): [args] a is declared twice",
           "a key twice: message");
    d.args = odd;
    is_int(mproc__plugin_wrap(&p, &d, &err), MPROC_EPLUGIN, "a bad type");
    is_str(err.msg, "plugin (in-process): [args] a has unknown type 42",
           "a bad type: message");
}

int
main(void)
{
    const char *t = getenv("TMPDIR");
    char cmd[600];
    int rc;

    alarm(60);
    snprintf(dir, sizeof(dir), "%s/mproc-args-XXXXXX",
             t != NULL && *t != '\0' ? t : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(job, sizeof(job), "%s/job.ini", dir);
    test_types();
    test_paths();
    test_set();
    test_loader();
    rc = done_testing();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}

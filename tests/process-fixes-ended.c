/* SPDX-License-Identifier: MIT */
/*
 * How a Process ended, as its user reads it (run once per start method:
 * tests/process-fixes-ended-METHOD.sh, with
 * tests/process-fixes-plugin.c):
 *
 *   after-ok      a target that returned success, then died in fini
 *                 (SIGSEGV) or exited 3: a non-zero exit code comes with
 *                 a failure() text and result() is an error
 *   after-fail    a failing target whose fini crashed: its own message,
 *                 and the signal
 *   clean         the same target without the crash: 0, no failure, the
 *                 result
 *   several       a plugin of two tasks without :TASK: the hint speaks of
 *                 the target, not of a job file's [job] task
 *   result-max    a result past result_max keeps the target's own message
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc/mproc.h>

#include "tap.h"

/* The reason a run did not start: the error code and the whole message. */
#define WHY_MAX (MPROC_ERRMSG_MAX + 32)

static const char *method;
static char plugin[4096];
static const mproc_context_t *ctx;

/* PLUGIN:TASK (task NULL: the plugin alone) run on `in` with
 * [args] fini = `fini` (NULL: none), joined.  NULL when it did not
 * start: the reason in why[WHY_MAX]. */
static mproc_process_t *
run(const char *task, const char *in, const char *fini, size_t result_max,
    char *why)
{
    struct mproc_kv arg = {"fini", fini};
    struct mproc_process_opts o;
    mproc_process_t *p = NULL;
    char target[4200];
    mproc_err_t err;
    int r;

    snprintf(target, sizeof(target), "%s%s%s", plugin, task ? ":" : "",
             task ? task : "");
    mproc_process_opts_init(&o);
    o.target = target;
    o.input = in;
    o.input_len = strlen(in);
    o.args = fini ? &arg : NULL;
    o.nargs = fini ? 1 : 0;
    o.context = ctx;
    if (result_max > 0)
        o.result_max = result_max;
    why[0] = '\0';
    if ((r = mproc_process_new(&p, &o, &err)) < 0) {
        snprintf(why, WHY_MAX, "%d %s", r, err.msg);
        return NULL;
    }
    if ((r = mproc_process_start(p)) < 0) {
        snprintf(why, WHY_MAX, "%d %s", r, mproc_process_errmsg(p));
        mproc_process_free(p);
        return NULL;
    }
    if (mproc_process_join(p, 20000) < 0)
        diag("join: %s", mproc_process_errmsg(p));
    return p;
}

static bool
has(const char *s, const char *sub)
{
    return s != NULL && strstr(s, sub) != NULL;
}

static void
end(mproc_process_t *p)
{
    mproc_process_close(p);
    mproc_process_free(p);
}

static void
test_after_ok(const char *fini, int want_code, const char *want)
{
    const void *data = NULL;
    size_t len = 0;
    char why[WHY_MAX];
    int code = 999, r;
    const char *f;
    mproc_process_t *p = run("echo", "hi", fini, 0, why);

    if (!ok(p != NULL, "after-ok %s: started", fini)) {
        diag("%s", why);
        return;
    }
    mproc_process_exitcode(p, &code);
    is_int(code, want_code, "after-ok %s: exit code %d", fini, want_code);
    f = mproc_process_failure(p);
    ok(has(f, want), "after-ok %s: failure() says '%s'", fini, want);
    diag("failure: %s", f ? f : "(null)");
    r = mproc_process_result(p, &data, &len);
    is_int(r, MPROC_EWORKER, "after-ok %s: result() is an error", fini);
    ok(has(mproc_process_errmsg(p), want), "after-ok %s: and says why",
       fini);
    end(p);
}

static void
test_after_fail(void)
{
    const void *data;
    size_t len;
    char why[WHY_MAX];
    int code = 999;
    const char *f;
    mproc_process_t *p = run("echo", "fail", "segv", 0, why);

    if (!ok(p != NULL, "after-fail: started")) {
        diag("%s", why);
        return;
    }
    mproc_process_exitcode(p, &code);
    is_int(code, -11, "after-fail: exit code -11");
    f = mproc_process_failure(p);
    ok(has(f, "failing on purpose") && has(f, "killed by SIGSEGV"),
       "after-fail: the target's message and the signal");
    diag("failure: %s", f ? f : "(null)");
    is_int(mproc_process_result(p, &data, &len), MPROC_ETASK,
           "after-fail: result() is the task's failure");
    end(p);
}

static void
test_clean(void)
{
    const void *data = NULL;
    size_t len = 0;
    char why[WHY_MAX];
    int code = 999, r;
    mproc_process_t *p = run("echo", "hi", NULL, 0, why);

    if (!ok(p != NULL, "clean: started")) {
        diag("%s", why);
        return;
    }
    mproc_process_exitcode(p, &code);
    is_int(code, 0, "clean: exit code 0");
    ok(mproc_process_failure(p) == NULL, "clean: no failure");
    r = mproc_process_result(p, &data, &len);
    ok(r == 0 && len == 2 && memcmp(data, "hi", 2) == 0,
       "clean: the result");
    end(p);
}

static void
test_several(void)
{
    char why[WHY_MAX];
    mproc_process_t *p = run(NULL, "hi", NULL, 0, why);

    ok(p == NULL && has(why, "-4001"), "several: refused (MPROC_EPLUGIN)");
    ok(has(why, "PLUGIN:TASK") && has(why, "\":echo\""),
       "several: the hint names the target's PLUGIN:TASK");
    ok(!has(why, "[job]"), "several: and no job file's [job] task");
    diag("%s", why);
    if (p != NULL)
        end(p);
}

static void
test_result_max(void)
{
    const void *data;
    size_t len;
    char why[WHY_MAX];
    const char *f;
    mproc_process_t *p = run("big", "11", NULL, 10, why);

    if (!ok(p != NULL, "result-max: started")) {
        diag("%s", why);
        return;
    }
    f = mproc_process_failure(p);
    ok(has(f, "exceeds result_max (10)"), "result-max: names the limit");
    ok(has(f, ": the buffer refused 11 bytes"),
       "result-max: and keeps the target's own message");
    diag("failure: %s", f ? f : "(null)");
    is_int(mproc_process_result(p, &data, &len), MPROC_ETASK,
           "result-max: result() fails");
    end(p);
}

int
main(int argc, char **argv)
{
    const char *dir = getenv("MPROC_TEST_PLUGINS");
    mproc_err_t err;

    alarm(120);
    method = argc > 1 ? argv[1] : "fork";
    snprintf(plugin, sizeof(plugin), "%s/process-fixes-plugin.so",
             dir ? dir : "tests/.libs");
    if (mproc_get_context(method, &ctx, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    diag("start method %s", method);
    test_after_ok("segv", -11, "killed by SIGSEGV after its target returned");
    test_after_ok("exit3", 3, "exited with status 3 after its target "
                  "returned");
    test_after_fail();
    test_clean();
    test_several();
    test_result_max();
    return done_testing();
}

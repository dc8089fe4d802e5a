/* SPDX-License-Identifier: MIT */
/*
 * A job's manager (framework/manager/job.c) from the inside: the host
 * opens it from a [manager] section, mproc_ctx_manager() gives each
 * process a connection of its own (a forked child gets a new one, never
 * its parent's), a plugin built for ABI 1.4 on an older host and a job
 * with no [manager] get NULL and a message, and closing leaves no socket
 * and no process.
 */
#include "internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc/config.h>
#include <mproc/manager.h>

#include "config/config_int.h"
#include "manager/mgrjob_int.h"
#include "util/buf_int.h"
#include "tap.h"

static mproc_config_t *
load(const char *text)
{
    mproc_config_t *cfg = NULL;
    mproc_err_t err = {0, ""};

    if (mproc_config_new(&cfg, &err) < 0 ||
        mproc__config_load_mem(cfg, "t.ini", text, strlen(text), &err) < 0 ||
        mproc_config_finish(cfg, &err) < 0) {
        diag("config: %s", err.msg);
        mproc_config_free(cfg);
        return NULL;
    }
    return cfg;
}

int
main(void)
{
    struct mproc__ctx_priv priv;
    struct mproc_host old;
    struct mproc_ctx ctx;
    struct mproc__mgrjob *j = NULL;
    mproc_config_t *cfg;
    mproc_err_t err = {0, ""};
    mproc_manager_t *m, *m2;
    mproc_mobj_t *d = NULL;
    const void *v;
    size_t vlen;
    char path[4200];
    struct stat sb;
    pid_t pid;
    int r, status;

    alarm(30);
    plan(22);
    unsetenv(MPROC__MGR_ENV_ADDRESS);
    unsetenv(MPROC__MGR_ENV_KEYFILE);
    mproc__ctx_init(&ctx, &priv, NULL, 0, 0);

    /* No [manager]: NULL, and a failure message that says what to add. */
    ok(mproc_ctx_manager(&ctx) == NULL, "no [manager]: NULL");
    like_str(mproc__ctx_msg(&ctx, ""), "the job has no [manager]",
             "no [manager]: the message says so");
    mproc__ctx_clear(&ctx);

    /* A 1.4 plugin on a host whose table ends before `manager`. */
    old = mproc__host;
    old.size = (uint32_t)offsetof(struct mproc_host, manager);
    ctx.host = &old;
    ok(mproc_ctx_manager(&ctx) == NULL, "an older host: NULL");
    like_str(mproc__ctx_msg(&ctx, ""), "too old for mproc_ctx_manager()",
             "an older host: the message says so");
    ctx.host = &mproc__host;
    mproc__ctx_clear(&ctx);

    /* A started manager with two declared objects. */
    cfg = load("[job]\nplugin = echo\n[manager]\nstart = yes\n"
               "objects = dict:d queue:q=2\n");
    ok(cfg != NULL, "a [manager] section loads");
    r = mproc__mgrjob_open(mproc__config_manager(cfg), &j, &err);
    is_int(r, 0, "start = yes: open (%s)", err.msg);
    if (r < 0)
        return done_testing();
    ok(getenv(MPROC__MGR_ENV_ADDRESS) != NULL &&
           getenv(MPROC__MGR_ENV_KEYFILE) != NULL,
       "the environment names the manager and its key file");
    snprintf(path, sizeof(path), "%s", mproc__mgrjob_address(j) + 5);
    m = mproc_ctx_manager(&ctx);
    ok(m != NULL, "the host's own connection (%s)",
       mproc__ctx_msg(&ctx, ""));
    ok(mproc_ctx_manager(&ctx) == m, "the same connection on the next call");
    ok(m != NULL && mproc_manager_find(m, "q", &d) == 0 &&
           mproc_mobj_type(d) == MPROC_MOBJ_QUEUE,
       "the declared queue exists");
    mproc_mobj_free(d);
    d = NULL;

    /* A forked child connects anew: its requests never share the
     * parent's socket. */
    pid = fork();
    if (pid == 0) {
        mproc_mobj_t *cd = NULL;
        m2 = mproc_ctx_manager(&ctx);
        if (m2 == NULL || m2 == m || mproc_manager_dict(m2, "d", &cd) < 0 ||
            mproc_mdict_set(cd, "who", 3, "child", 5) < 0)
            _exit(1);
        mproc_mobj_free(cd);
        mproc_config_free(cfg);
        _exit(0);
    }
    status = -1;
    waitpid(pid, &status, 0);
    is_int(status, 0, "a forked child gets a connection of its own");
    ok(mproc_manager_dict(m, "d", &d) == 0 &&
           mproc_mdict_get(d, "who", 3, &v, &vlen) == 0 && vlen == 5 &&
           memcmp(v, "child", 5) == 0,
       "the parent reads what the child wrote");
    mproc_mobj_free(d);

    mproc__mgrjob_close(j);
    ok(getenv(MPROC__MGR_ENV_ADDRESS) == NULL, "close: the environment is "
       "cleared");
    ok(stat(path, &sb) < 0, "close: the socket file is gone");
    ok(waitpid(-1, NULL, WNOHANG) < 0, "close: no child process is left");
    mproc__ctx_clear(&ctx);
    ok(mproc_ctx_manager(&ctx) == NULL, "after close: NULL again");
    mproc_config_free(cfg);

    /* Unreachable: the message names the address. */
    cfg = load("[job]\nplugin = echo\n[manager]\n"
               "address = unix:@mproc-mgrjob16-none\n"
               "authkey_file = /dev/null\n");
    ok(cfg != NULL, "address + authkey_file load");
    err.msg[0] = '\0';
    r = mproc__mgrjob_open(mproc__config_manager(cfg), &j, &err);
    ok(r < 0 && j == NULL, "an empty key file: refused");
    like_str(err.msg, "authkey of 1 to 4096 bytes",
             "an empty key file: the message says what a key is");
    mproc_config_free(cfg);
    {
        char keyf[] = "/tmp/mproc-mgrjob16-key.XXXXXX", text[256];
        int fd = mkstemp(keyf);
        ok(fd >= 0 && write(fd, "k\n", 2) == 2, "a key file");
        close(fd);
        snprintf(text, sizeof(text), "[job]\nplugin = echo\n[manager]\n"
                 "address = unix:@mproc-mgrjob16-none\n"
                 "authkey_file = %s\n", keyf);
        cfg = load(text);
        r = cfg ? mproc__mgrjob_open(mproc__config_manager(cfg), &j, &err)
                : -1;
        unlink(keyf);
    }
    is_int(r, MPROC_ECONNREFUSED,
           "unreachable (abstract name): MPROC_ECONNREFUSED");
    like_str(err.msg, "cannot reach the manager at "
             "unix:@mproc-mgrjob16-none", "unreachable: names the address");
    mproc_config_free(cfg);
    return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * The manager as an outside tester used it, from its man page: a SIGINT
 * leaves a spawn / forkserver server running as it does a forked one;
 * the private folder goes with the server when its owner exits without
 * freeing the handle or is SIGKILLed; a request over max_message is
 * MPROC_EMSGSIZE and the connection (and its lock) stays, whether the
 * client refuses it or the server drops it (on the ring and on the
 * socket); a CHAR Array element reads as its byte; every failure has a
 * message, and the messages say what is wrong (a name holding another
 * type, a missing method, a client over max_clients on unix: and tcp:).
 * Links the core library: it forgets the limit a client learnt, to make
 * the server refuse the request itself.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/manager.h>
#include <mproc/shared.h>

#include "manager/mgr_client.h"
#include "tap.h"

static bool
has(const char *s, const char *part)
{
    return s != NULL && strstr(s, part) != NULL;
}

/* The folder of a unix:/DIR/manager.sock address, into buf. */
static void
folder_of(const char *addr, char *buf, size_t cap)
{
    char *sl;

    snprintf(buf, cap, "%s", strncmp(addr, "unix:", 5) == 0 ? addr + 5 : "");
    sl = strrchr(buf, '/');
    if (sl != NULL)
        *sl = '\0';
}

static bool
gone_within(const char *dir, int ms)
{
    struct stat st;

    for (; ms > 0; ms -= 50) {
        if (stat(dir, &st) < 0 && errno == ENOENT)
            return true;
        usleep(50000);
    }
    return false;
}

/* Defect: a SIGINT stopped a spawn / forkserver server. */
static void
sigint_survives(const char *method)
{
    struct mproc_manager_opts o;
    mproc_manager_t *m = NULL;
    mproc_mobj_t *d = NULL;
    mproc_err_t err;
    const void *v;
    size_t vl;
    int r;

    mproc_manager_opts_init(&o);
    o.start_method = method;
    r = mproc_manager_start(&m, &o, &err);
    if (!ok(r == 0, "%s: start (%s)", method, r == 0 ? "" : err.msg)) {
        ok(0, "%s: skipped", method);
        return;
    }
    mproc_manager_dict(m, "d", &d);
    mproc_mdict_set(d, "k", 1, "v", 1);
    kill(mproc_manager_pid(m), SIGINT);
    usleep(300000);
    r = mproc_mdict_get(d, "k", 1, &v, &vl);
    ok(r == 0, "%s: the server survives a SIGINT (%s)", method,
       r == 0 ? "ok" : mproc_manager_errmsg(m));
    mproc_mobj_free(d);
    mproc_manager_free(m);
}

/* Defect: spawn / forkserver left the folder when the owner ended
 * without freeing the handle.  `how`: 0 exit(0), 1 SIGKILL. */
static void
folder_goes(const char *method, int how)
{
    char addr[512] = "", dir[512];
    int p[2];
    pid_t pid;
    ssize_t n;

    if (pipe(p) < 0) {
        ok(0, "pipe");
        return;
    }
    pid = fork();
    if (pid == 0) {
        struct mproc_manager_opts o;
        mproc_manager_t *m;
        mproc_err_t err;
        const char *a;

        close(p[0]);
        mproc_manager_opts_init(&o);
        o.start_method = method;
        if (mproc_manager_start(&m, &o, &err) < 0) {
            (void)!write(p[1], err.msg, strlen(err.msg));
            _exit(1);
        }
        a = mproc_manager_address(m);
        (void)!write(p[1], a, strlen(a));
        close(p[1]);
        if (how == 0)
            exit(0); /* no free */
        pause();
        _exit(0);
    }
    close(p[1]);
    n = read(p[0], addr, sizeof(addr) - 1);
    close(p[0]);
    addr[n > 0 ? n : 0] = '\0';
    if (how == 1 && n > 0)
        kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (strncmp(addr, "unix:", 5) != 0)
        diag("%s: start: %s", method, addr);
    folder_of(addr, dir, sizeof(dir));
    ok(dir[0] == '/' && gone_within(dir, 5000),
       "%s: owner %s without free: folder %s removed", method,
       how == 0 ? "exits" : "SIGKILLed", dir);
}

static int
noop(void *state, const void *arg, size_t len, struct mproc_buf *out)
{
    (void)state;
    (void)arg;
    (void)len;
    (void)out;
    return 0;
}

static const struct mproc_mmethod t_methods[] = {
    {"noop", noop},
    {NULL, NULL},
};
static const struct mproc_mtype t_type = {"t", NULL, NULL, t_methods};
static const struct mproc_mtype *const t_types[] = {&t_type, NULL};

static mproc_manager_t *
connect_to(mproc_manager_t *m)
{
    mproc_manager_t *c = NULL;
    mproc_err_t err;
    size_t kl;
    const void *k = mproc_manager_authkey(m, &kl);

    if (mproc_manager_connect(&c, mproc_manager_address(m), k, kl, &err) < 0)
        diag("connect: %s", err.msg);
    return c;
}

/* An oversize request on `c` (holding lock L) fails alone. */
static void
oversize(mproc_manager_t *c, const char *what)
{
    mproc_mobj_t *d = NULL, *l = NULL;
    size_t big = (1u << 20) + 100;
    char *p = calloc(1, big);
    int r;

    mproc_manager_dict(c, "big", &d);
    mproc_manager_lock(c, NULL, false, &l);
    mproc_mlock_acquire(l, 0);
    r = mproc_mdict_set(d, "k", 1, p, big);
    is_int(r, MPROC_EMSGSIZE, "%s: an oversize request is EMSGSIZE", what);
    ok(has(mproc_manager_errmsg(c), "1048576"),
       "%s: the message says the limit (%s)", what, mproc_manager_errmsg(c));
    is_int(mproc_mdict_set(d, "k", 1, "v", 1), 0,
           "%s: the connection still works", what);
    is_int(mproc_mlock_release(l), 0, "%s: and still holds its lock", what);
    mproc_mobj_free(d);
    mproc_mobj_free(l);
    free(p);
}

int
main(void)
{
    struct mproc_manager_opts o;
    mproc_manager_t *m = NULL, *c, *extra[3];
    mproc_mobj_t *d = NULL, *x = NULL, *a = NULL, *cu = NULL;
    mproc_err_t err;
    double dv = -1;
    int r, i, st;
    pid_t pid;

    alarm(120);
    plan(44);
    signal(SIGPIPE, SIG_IGN);

    /* 1. SIGINT */
    sigint_survives("fork");
    sigint_survives("spawn");
    sigint_survives("forkserver");

    /* A spawn server got the key through a file that drops one final
     * newline: a key ending in '\n' (1 random key in 256) was refused. */
    {
        mproc_manager_opts_init(&o);
        o.start_method = "spawn";
        o.authkey = "key\n";
        o.authkey_len = 4;
        r = mproc_manager_start(&m, &o, &err);
        ok(r == 0, "spawn: a key ending in a newline (%s)",
           r == 0 ? "ok" : err.msg);
        if (r == 0)
            mproc_manager_free(m);
        m = NULL;
    }

    /* 2. the folder */
    folder_goes("spawn", 0);
    folder_goes("spawn", 1);
    folder_goes("forkserver", 0);
    folder_goes("forkserver", 1);

    /* 5. max_message */
    mproc_manager_opts_init(&o);
    o.max_message = 1u << 20;
    o.max_clients = 3;
    o.types = t_types;
    r = mproc_manager_start(&m, &o, &err);
    if (r < 0) {
        diag("start: %s", err.msg);
        return 1;
    }
    oversize(m, "starter");
    c = connect_to(m);
    ok(c != NULL && c->max_req == (1u << 20),
       "a connected client learns the limit");
    if (c != NULL) {
        c->max_req = 0; /* as an older client: the server must refuse */
        ok(c->ring != NULL, "the client is on the ring");
        oversize(c, "server, ring");
        mproc_manager_free(c);
    }
    setenv("MPROC_MANAGER_RING", "0", 1);
    c = connect_to(m);
    unsetenv("MPROC_MANAGER_RING");
    if (c != NULL) {
        c->max_req = 0;
        oversize(c, "server, socket");
        mproc_manager_free(c);
    }

    /* 6. a CHAR Array element is its byte, as mproc_value_get() */
    mproc_manager_array(m, "ca", MPROC_T_CHAR, 4, &a);
    mproc_marray_write(a, "ABCD", 4);
    r = mproc_marray_get(a, 0, &dv);
    ok(r == 0 && dv == 65.0, "CHAR element 0 reads as 65 ('A')");
    {
        char buf[4];
        mproc_marray_set(a, 1, 'z');
        mproc_marray_read(a, buf, 4);
        ok(memcmp(buf, "AzCD", 4) == 0, "CHAR element set from a number");
    }
    mproc_mobj_free(a);

    /* 8. messages that say what is wrong */
    mproc_manager_dict(m, "d", &d);
    r = mproc_manager_list(m, "d", &x);
    is_int(r, MPROC_EINVAL, "a list under a dict's name: EINVAL");
    ok(has(mproc_manager_errmsg(m), "holds a dict"),
       "the message says what the name holds (%s)", mproc_manager_errmsg(m));
    r = mproc_manager_call(d, "frob", NULL, 0, NULL, NULL);
    ok(r < 0 && has(mproc_manager_errmsg(m), "frob"),
       "a method call on a dict names the method (%s)",
       mproc_manager_errmsg(m));
    r = mproc_manager_custom(m, NULL, "t", NULL, 0, &cu);
    if (r == 0)
        r = mproc_manager_call(cu, "frob", NULL, 0, NULL, NULL);
    ok(r == MPROC_ENOENT && has(mproc_manager_errmsg(m), "no method 'frob'"),
       "an unknown method of a custom type is named (%s)",
       mproc_manager_errmsg(m));
    mproc_mobj_free(cu);
    r = mproc_manager_custom(m, NULL, "nosuchtype", NULL, 0, &cu);
    ok(r == MPROC_ENOENT && has(mproc_manager_errmsg(m), "nosuchtype"),
       "an unknown custom type is named (%s)", mproc_manager_errmsg(m));
    r = mproc_mdict_get(d, "nokey", 5, NULL, NULL);
    ok(r == MPROC_ENOENT && has(mproc_manager_errmsg(m), "key"),
       "a missing key says so (%s)", mproc_manager_errmsg(m));

    /* max_clients 3: the starter and two more; the third is refused. */
    extra[0] = connect_to(m);
    extra[1] = connect_to(m);
    {
        size_t kl;
        const void *k = mproc_manager_authkey(m, &kl);
        r = mproc_manager_connect(&extra[2], mproc_manager_address(m), k, kl,
                                  &err);
    }
    ok(extra[0] != NULL && extra[1] != NULL, "max_clients 3: two more come in");
    is_int(r, MPROC_EBUSY, "the fourth client is refused: EBUSY");
    ok(has(err.msg, "max_clients"), "saying why (%s)", err.msg);
    if (r == 0)
        mproc_manager_free(extra[2]);
    mproc_manager_free(extra[0]);
    mproc_manager_free(extra[1]);
    usleep(100000);
    c = connect_to(m);
    ok(c != NULL, "once they left, a client comes in again");
    mproc_manager_free(c);

    /* 7. every failure has a message */
    pid = fork();
    if (pid == 0) {
        r = mproc_manager_shutdown(m);
        _exit(r == MPROC_EPERM && mproc_manager_errmsg(m)[0] != '\0' ? 0 : 1);
    }
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "a forked child's shutdown on its parent's handle: EPERM with a "
       "message");
    mproc_mobj_free(d);
    is_int(mproc_manager_shutdown(m), 0, "shutdown");
    r = mproc_manager_dict(m, "d", &x);
    is_int(r, MPROC_EPIPE, "a call after shutdown: EPIPE");
    ok(has(mproc_manager_errmsg(m), "shut down"),
       "with a message (%s)", mproc_manager_errmsg(m));
    is_int(mproc_manager_shutdown(m), 0, "shutdown again");
    r = mproc_manager_dict(m, "d", &x);
    ok(r == MPROC_EPIPE && mproc_manager_errmsg(m)[0] != '\0',
       "a call after the second shutdown has a message too");
    mproc_manager_free(m);

    /* max_clients over tcp: the refusal arrives before the reset. */
    mproc_manager_opts_init(&o);
    o.address = "tcp:127.0.0.1:0";
    o.max_clients = 1;
    r = mproc_manager_start(&m, &o, &err);
    if (r == 0) {
        for (i = 0; i < 3; i++) {
            size_t kl;
            const void *k = mproc_manager_authkey(m, &kl);
            r = mproc_manager_connect(&c, mproc_manager_address(m), k, kl,
                                      &err);
            if (r == 0)
                mproc_manager_free(c);
            if (r != MPROC_EBUSY)
                break;
        }
        ok(i == 3 && has(err.msg, "max_clients"),
           "tcp: a client over max_clients: EBUSY, saying why (%s)",
           err.msg);
        mproc_manager_free(m);
    } else {
        ok(0, "tcp start: %s", err.msg);
    }
    return done_testing();
}

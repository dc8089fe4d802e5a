/* SPDX-License-Identifier: MIT */
/*
 * A job's Manager: the [manager] section of a job file (config/manager.c)
 * put to work for `mproc run`, through the public API of <mproc/manager.h>.
 *
 * The host starts the manager, or connects to a running one, before any
 * worker starts: an unreachable manager or a wrong key fails the run
 * before a task runs, with the address in the message.  It then creates
 * the declared objects (named, so they outlive the host's proxies) and
 * tells every later process where the manager is through two environment
 * variables (mgrjob_int.h).  The environment is what every start method
 * hands on alike: a forked worker, a spawned one, one of the fork server
 * (started by the pool after this), and any command a plugin runs.
 *
 * Each process then makes its own connection on the first
 * mproc_ctx_manager() call: a forked child must never use its parent's
 * (the two would interleave their requests on one socket).  A worker's
 * connection ends with the worker; the server sees it drop and takes
 * back the locks it held, as it does for any client.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager/mgr_srv.h"
#include "manager/mgrjob_int.h"

struct mproc__mgrjob {
    mproc_manager_t *m; /* the started manager's handle; NULL: connected */
    char *address;      /* where it listens */
    char *keyfile;      /* the key file the run made, to remove; or NULL */
    char *dir;          /* the private folder the run made; or NULL */
};

/* This process's connection (mproc__ctx_manager) and whose it is. */
static pthread_mutex_t cur_mu = PTHREAD_MUTEX_INITIALIZER;
static mproc_manager_t *cur;
static pid_t cur_pid;
/* A parent's connection that a forked child must leave alone: kept in
 * sight, not freed (freeing could send on the parent's socket). */
static mproc_manager_t *volatile stale; /* only stored: volatile keeps it */

/* A private 0700 folder for a key file, where the manager puts its own. */
static int
make_dir(char **out, mproc_err_t *err)
{
    const char *base = getenv("XDG_RUNTIME_DIR");

    if (base == NULL || base[0] != '/' || access(base, W_OK) != 0)
        base = getenv("TMPDIR");
    if (base == NULL || base[0] != '/' || access(base, W_OK) != 0)
        base = "/tmp";
    /* The pid in the name: mproc clean removes the folder of a run killed
     * with SIGKILL (cli/clean_spill.c). */
    if (asprintf(out, "%s/mproc-mgrjob.%ld.XXXXXX", base,
                 (long)getpid()) < 0) {
        *out = NULL;
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    }
    if (mkdtemp(*out) == NULL) {
        int e = errno;
        mproc__err(err, -e, "[manager] start: cannot create a folder in "
                   "%s: %s", base, strerror(e));
        free(*out);
        *out = NULL;
        return -e;
    }
    return 0;
}

/*
 * A new key for a started manager: 32 random bytes as 64 hex digits, so
 * the file is text another program can read (and no trailing newline of
 * the random bytes gets dropped by a reader).  Written to `path`, which
 * must not exist (O_EXCL), mode 0600.
 */
static int
new_key(const char *path, unsigned char **key, size_t *len, mproc_err_t *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[32];
    char *text = NULL;
    size_t i, off = 0;
    ssize_t n;
    int fd = -1, r;

    *key = NULL;
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return mproc__err(err, -errno, "[manager] start: no random bytes: "
                          "%s", strerror(errno));
    if ((text = malloc(2 * sizeof(raw) + 1)) == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    for (i = 0; i < sizeof(raw); i++) {
        text[2 * i] = hex[raw[i] >> 4];
        text[2 * i + 1] = hex[raw[i] & 15];
    }
    text[2 * sizeof(raw)] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
              0600);
    if (fd < 0) {
        r = mproc__err(err, MPROC_ECONFIG, "[manager] authkey_file: cannot "
                       "create %s: %s", path, strerror(errno));
        goto fail;
    }
    while (off < 2 * sizeof(raw) + 1) {
        n = MPROC__NOINTR(write(fd, text + off, 2 * sizeof(raw) + 1 - off));
        if (n <= 0) {
            r = mproc__err(err, MPROC_ECONFIG, "[manager] authkey_file: "
                           "cannot write %s: %s", path, strerror(errno));
            unlink(path);
            goto fail;
        }
        off += (size_t)n;
    }
    close(fd);
    *key = (unsigned char *)text;
    *len = 2 * sizeof(raw);
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    free(text);
    return r;
}

/*
 * PREFIX and `path` made absolute (the working folder before it), when
 * the path is relative and the whole stays shorter than `max` (a unix:
 * socket's path has 108 bytes); else NULL, and the path stays as it is.
 */
static char *
absolute(const char *path, const char *prefix, size_t max)
{
    char cwd[4096], *out;

    if (getcwd(cwd, sizeof(cwd)) == NULL ||
        asprintf(&out, "%s%s/%s", prefix, cwd, path) < 0)
        return NULL;
    if (strlen(out) - strlen(prefix) >= max) {
        free(out);
        return NULL;
    }
    return out;
}

/* One declared object: created, or attached when it exists. */
static int
make_object(mproc_manager_t *m, const struct mproc__mgr_obj *o)
{
    mproc_mobj_t *x = NULL;
    int r;

    switch (o->type) {
    case MPROC_MOBJ_DICT:
        r = mproc_manager_dict(m, o->name, &x);
        break;
    case MPROC_MOBJ_LIST:
        r = mproc_manager_list(m, o->name, &x);
        break;
    case MPROC_MOBJ_NAMESPACE:
        r = mproc_manager_namespace(m, o->name, &x);
        break;
    case MPROC_MOBJ_ARRAY:
        r = o->flag ? mproc_manager_array(m, o->name, o->vtype,
                                          (size_t)o->length, &x)
                    : mproc_manager_value(m, o->name, o->vtype, &x);
        break;
    case MPROC_MOBJ_QUEUE:
    case MPROC_MOBJ_JOINABLE_QUEUE:
        r = mproc_manager_queue(m, o->name, (size_t)o->param, o->flag, &x);
        break;
    case MPROC_MOBJ_LOCK:
    case MPROC_MOBJ_RLOCK:
        r = mproc_manager_lock(m, o->name, o->flag, &x);
        break;
    case MPROC_MOBJ_SEMAPHORE:
    case MPROC_MOBJ_BOUNDED_SEMAPHORE:
        r = mproc_manager_semaphore(m, o->name, (unsigned)o->param, o->flag,
                                    &x);
        break;
    case MPROC_MOBJ_CONDITION:
        r = mproc_manager_condition(m, o->name, NULL, &x);
        break;
    case MPROC_MOBJ_EVENT:
        r = mproc_manager_event(m, o->name, &x);
        break;
    case MPROC_MOBJ_BARRIER:
        r = mproc_manager_barrier(m, o->name, (unsigned)o->param, &x);
        break;
    default:
        r = MPROC_EINVAL;
    }
    /* A named object lives on in the server without a proxy. */
    mproc_mobj_free(x);
    return r;
}

int
mproc__mgrjob_open(const struct mproc__mgrconf *c, struct mproc__mgrjob **out,
                   mproc_err_t *err)
{
    const char *addr = mproc__mgrconf_value(c, MPROC__MGR_ADDRESS);
    const char *kf = mproc__mgrconf_value(c, MPROC__MGR_AUTHKEY_FILE);
    struct mproc__mgrjob *j = NULL;
    struct mproc_manager_opts o;
    mproc_manager_t *m = NULL;
    mproc_err_t e = {0, ""};
    unsigned char *key = NULL;
    char *made = NULL, *env_addr = NULL, *env_key = NULL;
    size_t keylen = 0, i;
    int r;

    *out = NULL;
    unsetenv(MPROC__MGR_ENV_ADDRESS);
    unsetenv(MPROC__MGR_ENV_KEYFILE);
    if (!c->set)
        return 0;
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    /* The key: the file's, or (a started manager with no file yet) a
     * new one, written where the job says or in a private folder. */
    if (kf != NULL && (!c->start || access(kf, F_OK) == 0)) {
        if ((r = mproc__mgr_read_key(kf, &key, &keylen, &e)) < 0) {
            r = mproc__err(err, MPROC_ECONFIG, "[manager] authkey_file: %s",
                           e.msg);
            goto fail;
        }
    } else {
        if (kf == NULL) {
            if ((r = make_dir(&j->dir, err)) < 0)
                goto fail;
            if (asprintf(&made, "%s/authkey", j->dir) < 0) {
                made = NULL;
                r = mproc__err(err, MPROC_ENOMEM, "out of memory");
                goto fail;
            }
            kf = made;
        }
        if ((r = new_key(kf, &key, &keylen, err)) < 0)
            goto fail;
        if (made == NULL && (made = strdup(kf)) == NULL) {
            unlink(kf);
            r = mproc__err(err, MPROC_ENOMEM, "out of memory");
            goto fail;
        }
        j->keyfile = made;
        made = NULL;
        kf = j->keyfile;
    }
    if (c->start) {
        mproc_manager_opts_init(&o);
        o.address = addr; /* NULL: a private socket, gone at shutdown */
        o.authkey = key;
        o.authkey_len = keylen;
        r = mproc_manager_start(&m, &o, &e);
        if (r < 0) {
            r = mproc__err(err, r, "[manager] start: cannot start a manager "
                           "at %s: %s", addr ? addr : "a private address",
                           e.msg);
            goto fail;
        }
        j->m = m;
    } else {
        r = mproc_manager_connect(&m, addr, key, keylen, &e);
        if (r == MPROC_EAUTH) {
            r = mproc__err(err, r, "[manager] the manager at %s refused the "
                           "authkey of %s (not that manager's key?): %s",
                           addr, kf, e.msg);
            goto fail;
        }
        if (r < 0) {
            r = mproc__err(err, r, "[manager] cannot reach the manager at "
                           "%s: %s", addr, e.msg);
            goto fail;
        }
    }
    if ((j->address = strdup(mproc_manager_address(m))) == NULL) {
        r = mproc__err(err, MPROC_ENOMEM, "out of memory");
        goto fail;
    }
    for (i = 0; i < c->nobjs; i++) {
        const struct mproc__mgr_obj *ob = &c->objs[i];
        if ((r = make_object(m, ob)) < 0) {
            r = mproc__err(err, r, "[manager] objects: cannot create %s:%s "
                           "in the manager at %s: %s",
                           mproc__mgrconf_kind_name(ob->type, ob->flag),
                           ob->name, j->address, mproc_manager_errmsg(m));
            goto fail;
        }
    }
    if (j->m == NULL)
        mproc_manager_free(m); /* workers connect on their own */
    m = NULL;
    /* Relative paths as absolute ones: a plugin may change folder before
     * its first call. */
    env_addr = strncmp(j->address, "unix:", 5) == 0 && j->address[5] != '/' &&
                       j->address[5] != '@'
                   ? absolute(j->address + 5, "unix:", 108)
                   : NULL;
    env_key = kf[0] != '/' ? absolute(kf, "", 4096) : NULL;
    if (setenv(MPROC__MGR_ENV_ADDRESS, env_addr ? env_addr : j->address,
               1) < 0 ||
        setenv(MPROC__MGR_ENV_KEYFILE, env_key ? env_key : kf, 1) < 0) {
        r = mproc__err(err, MPROC_ENOMEM, "out of memory");
        goto fail;
    }
    free(env_addr);
    free(env_key);
    free(key);
    *out = j;
    return 0;

fail:
    if (m != NULL && m != j->m)
        mproc_manager_free(m);
    free(env_addr);
    free(env_key);
    free(key);
    free(made);
    mproc__mgrjob_close(j);
    return r;
}

const char *
mproc__mgrjob_address(const struct mproc__mgrjob *j)
{
    return j->address;
}

void
mproc__mgrjob_close(struct mproc__mgrjob *j)
{
    if (j == NULL)
        return;
    /* This process's own connection first: the server is about to go. */
    pthread_mutex_lock(&cur_mu);
    if (cur != NULL && cur_pid == getpid())
        mproc_manager_free(cur);
    cur = NULL;
    pthread_mutex_unlock(&cur_mu);
    if (j->m != NULL) {
        mproc_manager_shutdown(j->m); /* removes its socket file */
        mproc_manager_free(j->m);
    }
    if (j->keyfile != NULL)
        unlink(j->keyfile);
    if (j->dir != NULL)
        rmdir(j->dir);
    unsetenv(MPROC__MGR_ENV_ADDRESS);
    unsetenv(MPROC__MGR_ENV_KEYFILE);
    free(j->keyfile);
    free(j->dir);
    free(j->address);
    free(j);
}

struct mproc_manager *
mproc__ctx_manager(struct mproc_ctx *ctx)
{
    const char *addr = getenv(MPROC__MGR_ENV_ADDRESS);
    const char *kf = getenv(MPROC__MGR_ENV_KEYFILE);
    mproc_err_t e = {0, ""};
    mproc_manager_t *m = NULL;
    unsigned char *key = NULL;
    size_t keylen = 0;
    int r;

    pthread_mutex_lock(&cur_mu);
    if (cur != NULL && cur_pid == getpid()) {
        m = cur;
        pthread_mutex_unlock(&cur_mu);
        return m;
    }
    /* A forked child's copy of its parent's connection is the parent's:
     * leave it alone (not even a close message may go out on it). */
    if (cur != NULL)
        stale = cur;
    cur = NULL;
    if (addr == NULL || kf == NULL) {
        pthread_mutex_unlock(&cur_mu);
        mproc_fail(ctx, "the job has no [manager]: add a [manager] section "
                   "(start = yes, or address and authkey_file) to use "
                   "mproc_ctx_manager(); see mproc.ini(5)");
        return NULL;
    }
    r = mproc__mgr_read_key(kf, &key, &keylen, &e);
    if (r == 0)
        r = mproc_manager_connect(&m, addr, key, keylen, &e);
    free(key);
    if (r < 0) {
        pthread_mutex_unlock(&cur_mu);
        mproc_fail(ctx, "manager at %s: %s", addr, e.msg);
        return NULL;
    }
    cur = m;
    cur_pid = getpid();
    pthread_mutex_unlock(&cur_mu);
    return m;
}

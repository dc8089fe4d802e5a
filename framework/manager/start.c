/* SPDX-License-Identifier: MIT */
/*
 * Starting a manager server, connecting to one, shutting it down.
 *
 * The server process opens the Listener itself (so its socket file is
 * its own, removed when it ends) and reports the address it got, or why
 * it failed, over a CLOEXEC pipe before serving.  It also holds the read
 * end of a "lifeline" pipe whose write end only the starting process
 * keeps: when that process ends, however it ends, the server sees the
 * hang-up and stops, so no server outlives its owner.
 */
#include "config.h"
#include "paths.h" /* the install folders (made by make) */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mgr_client.h"
#include "ring.h"
#include "mgr_srv.h"
#include "process/process_int.h"

extern char **environ;

static int
seterr(mproc_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
seterr(mproc_err_t *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL) {
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void
mproc_manager_opts_init(struct mproc_manager_opts *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof(*o));
    o->max_clients = 4096;
    o->max_message = MPROC_CONN_MESSAGE_MAX;
}

int
mproc__mgr_handle_new(mproc_manager_t **out, const char *address,
                      const void *key, size_t keylen)
{
    mproc_manager_t *m = calloc(1, sizeof(*m));

    *out = NULL;
    if (m == NULL)
        return MPROC_ENOMEM;
    m->lifeline = -1;
    m->owner = getpid();
    pthread_mutex_init(&m->mu, NULL);
    m->address = strdup(address);
    m->key = malloc(keylen + 1);
    if (m->address == NULL || m->key == NULL) {
        mproc_manager_free(m);
        return MPROC_ENOMEM;
    }
    if (keylen > 0)
        memcpy(m->key, key, keylen);
    m->keylen = keylen;
    *out = m;
    return 0;
}

static int
dial(mproc_manager_t *m, mproc_err_t *err)
{
    struct mproc_conn_opts co;
    int r;

    mproc_conn_opts_init(&co);
    /* A client must take a reply of any size the server may send. */
    co.message_max = MPROC_CONN_MESSAGE_MAX + 64;
    r = mproc_client_connect(&m->conn, m->address, m->key, m->keylen, 5000,
                             &co, err);
    /* The first request also tells whether the server took this client
     * (max_clients) and its message limit. */
    if (r == 0 && ((r = mproc__mgr_ring_setup(m)) < 0 ||
                   (r = mproc__mgr_hello(m)) < 0))
        seterr(err, r, "%s", m->msg);
    return r;
}

int
mproc_manager_connect(mproc_manager_t **out, const char *address,
                      const void *key, size_t keylen, mproc_err_t *err)
{
    mproc_manager_t *m = NULL;
    int r;

    if (out == NULL)
        return seterr(err, MPROC_EINVAL, "manager: out is NULL");
    *out = NULL;
    if (address == NULL)
        return seterr(err, MPROC_EINVAL, "manager: no address");
    r = mproc__mgr_handle_new(&m, address, key, keylen);
    if (r < 0)
        return seterr(err, r, "manager %s: out of memory", address);
    r = dial(m, err);
    if (r < 0) {
        mproc_manager_free(m);
        return r;
    }
    *out = m;
    return 0;
}

int
mproc__mgr_read_key(const char *path, unsigned char **key, size_t *len,
                    mproc_err_t *err)
{
    unsigned char *buf = NULL;
    size_t n = 0;
    ssize_t got;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *key = NULL;
    if (fd < 0)
        return seterr(err, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return seterr(err, -e, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return seterr(err, MPROC_EINVAL, "%s: a folder, not an authkey "
                      "file", path);
    }
    /* A password others can read, change or own is no secret: whoever
     * reads it is let in (ssh refuses such a private key too).  Files
     * only: a pipe (a shell's <(...)) has no such readers. */
    if (S_ISREG(st.st_mode) && (st.st_mode & 077)) {
        close(fd);
        return seterr(err, MPROC_EPERM,
                      "%s: an authkey file others can read or write (mode "
                      "%04o); make it yours alone: chmod 600 %s",
                      path, (unsigned)(st.st_mode & 07777), path);
    }
    if (S_ISREG(st.st_mode) && st.st_uid != geteuid() && st.st_uid != 0) {
        close(fd);
        return seterr(err, MPROC_EPERM,
                      "%s: an authkey file owned by uid %u, not by this "
                      "user (uid %u): whoever owns it knows the key; use "
                      "one of your own",
                      path, (unsigned)st.st_uid, (unsigned)geteuid());
    }
    buf = malloc(4097);
    if (buf == NULL) {
        close(fd);
        return seterr(err, MPROC_ENOMEM, "%s: out of memory", path);
    }
    while (n < 4097 && (got = read(fd, buf + n, 4097 - n)) > 0)
        n += (size_t)got;
    close(fd);
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n == 0 || n > 4096) {
        free(buf);
        return seterr(err, MPROC_EINVAL,
                      "%s: an authkey of 1 to 4096 bytes was expected", path);
    }
    *key = buf;
    *len = n;
    return 0;
}

static volatile sig_atomic_t stop_flag;

static void
on_term(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* The forked server: never returns. */
static void
server_main(const struct mproc_manager_opts *o, const char *address,
            const unsigned char *key, size_t keylen, int report, int lifeline,
            char *rundir)
{
    struct sigaction sa;
    struct mproc_conn_opts co;
    sigset_t term, waitmask;
    mproc_listener_t *lis = NULL;
    mproc_err_t err = { 0, "" };
    const char *a;
    int r;
    size_t alen;

    /* Hold nothing of the starter's but the two pipes: a copy of its
     * connection to another manager, or of another server's lifeline,
     * would keep that one from seeing the starter leave. */
    {
        unsigned lo = (unsigned)(report < lifeline ? report : lifeline);
        unsigned hi = (unsigned)(report < lifeline ? lifeline : report);
        if (lo > 3)
            close_range(3, lo - 1, 0);
        if (hi > lo + 1)
            close_range(lo + 1, hi - 1, 0);
        close_range(hi + 1, ~0u, 0);
    }
    /* Ctrl-C in the terminal goes to the whole foreground group: the
     * owner decides when its server ends, as Python's manager does. */
    signal(SIGINT, SIG_IGN);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &waitmask);
    sigdelset(&waitmask, SIGTERM);
    mproc_conn_opts_init(&co);
    co.message_max = o->max_message;
    co.stall_timeout_ms = 2000;
    r = mproc_listener_open(&lis, address, key, keylen, &co, &err);
    if (r < 0) {
        alen = strlen(err.msg);
        (void)!write(report, &r, sizeof(r));
        (void)!write(report, err.msg, alen);
        free(rundir);
        _exit(1);
    }
    a = mproc_listener_address(lis);
    (void)!write(report, &r, sizeof(r));
    (void)!write(report, a, strlen(a));
    close(report);
    r = mproc__mgr_serve(lis, o->types, o->max_clients, o->max_message,
                         lifeline, &stop_flag, &waitmask);
    mproc_listener_free(lis);
    if (rundir != NULL)
        rmdir(rundir);
    free(rundir); /* this process's copy of the starter's string */
    _exit(r < 0 ? 1 : 0);
}

/* A private folder for the socket of an automatic address. */
static int
make_rundir(char **dir, mproc_err_t *err)
{
    const char *base = getenv("XDG_RUNTIME_DIR");
    char tmpl[4096];

    if (base == NULL || base[0] != '/' || access(base, W_OK) != 0)
        base = getenv("TMPDIR");
    if (base == NULL || base[0] != '/' || access(base, W_OK) != 0)
        base = "/tmp";
    if (snprintf(tmpl, sizeof(tmpl), "%s/mproc-mgr-XXXXXX", base) >=
        (int)sizeof(tmpl) - 16)
        return seterr(err, MPROC_EINVAL, "manager: %s: path too long",
                      base);
    /* mkdtemp makes it 0700: only this user reaches the socket. */
    if (mkdtemp(tmpl) == NULL)
        return seterr(err, -errno, "manager: %s: %s", tmpl, strerror(errno));
    *dir = strdup(tmpl);
    if (*dir == NULL) {
        rmdir(tmpl);
        return seterr(err, MPROC_ENOMEM, "manager: out of memory");
    }
    return 0;
}

/* The `mproc` program that `spawn` runs. */
static const char *
mproc_bin(void)
{
    const char *e = getenv("MPROC_BIN");

    return e != NULL && e[0] != '\0' ? e : MPROC_BINDIR "/mproc";
}

static int
spawn_server(const struct mproc_manager_opts *o, const char *address,
             const unsigned char *key, size_t keylen, int report,
             int lifeline, const char *rundir, pid_t *pid, mproc_err_t *err)
{
    posix_spawn_file_actions_t fa;
    char keyfd[32], rep[32], life[32], maxc[32], maxm[32], *argv[20];
    int kp[2] = { -1, -1 }, r, i = 0;

    if (o->types != NULL)
        return seterr(err, MPROC_ENOTSUP,
                      "manager: custom types by pointer need start method "
                      "fork (spawn: use `mproc manager --types FILE.so`)");
    /* The key goes through a pipe, never the command line. */
    if (pipe2(kp, O_CLOEXEC) < 0)
        return seterr(err, -errno, "manager: pipe: %s", strerror(errno));
    /* `mproc manager` drops one final newline of its key file (a key
     * typed in an editor): give it one to drop, or a key whose last
     * byte is '\n' (one random key in 256) would lose that byte. */
    if (keylen > 65536 || write(kp[1], key, keylen) != (ssize_t)keylen ||
        write(kp[1], "\n", 1) != 1) {
        close(kp[0]);
        close(kp[1]);
        return seterr(err, MPROC_EIO, "manager: cannot pass the authkey");
    }
    close(kp[1]);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, kp[0], 3);
    posix_spawn_file_actions_adddup2(&fa, report, 4);
    posix_spawn_file_actions_adddup2(&fa, lifeline, 5);
    snprintf(keyfd, sizeof(keyfd), "/dev/fd/%d", 3);
    snprintf(rep, sizeof(rep), "%d", 4);
    snprintf(life, sizeof(life), "%d", 5);
    snprintf(maxc, sizeof(maxc), "%u", o->max_clients);
    snprintf(maxm, sizeof(maxm), "%zu", o->max_message);
    argv[i++] = (char *)"mproc";
    argv[i++] = (char *)"manager";
    argv[i++] = (char *)"--address";
    argv[i++] = (char *)address;
    argv[i++] = (char *)"--authkey-file";
    argv[i++] = keyfd;
    argv[i++] = (char *)"--ready-fd";
    argv[i++] = rep;
    argv[i++] = (char *)"--lifeline-fd";
    argv[i++] = life;
    argv[i++] = (char *)"--max-clients";
    argv[i++] = maxc;
    argv[i++] = (char *)"--max-message";
    argv[i++] = maxm;
    /* The server removes the folder itself: its owner may end without
     * freeing the handle (exit, SIGKILL), and only the server outlives
     * the owner long enough to see its socket file gone. */
    if (rundir != NULL) {
        argv[i++] = (char *)"--rundir";
        argv[i++] = (char *)rundir;
    }
    argv[i] = NULL;
    r = posix_spawn(pid, mproc_bin(), &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(kp[0]);
    if (r != 0)
        return seterr(err, -r, "manager: spawn %s: %s (the spawn and "
                      "forkserver start methods run the mproc program: "
                      "install it, set MPROC_BIN, or use fork)",
                      mproc_bin(), strerror(r));
    return 0;
}

int
mproc_manager_start(mproc_manager_t **out, const struct mproc_manager_opts *uo,
                    mproc_err_t *err)
{
    struct mproc_manager_opts o;
    mproc_manager_t *m = NULL;
    unsigned char rnd[32], buf[1024];
    const unsigned char *key;
    size_t keylen, n = 0;
    char *rundir = NULL, addr[4200];
    int rp[2] = { -1, -1 }, lp[2] = { -1, -1 }, r, st;
    bool spawn;
    ssize_t got;
    pid_t pid = -1;

    if (out == NULL)
        return seterr(err, MPROC_EINVAL, "manager: out is NULL");
    *out = NULL;
    if (uo != NULL)
        o = *uo;
    else
        mproc_manager_opts_init(&o);
    if (o.max_clients == 0)
        o.max_clients = 4096;
    if (o.max_message == 0)
        o.max_message = MPROC_CONN_MESSAGE_MAX;
    if (o.start_method == NULL || strcmp(o.start_method, "fork") == 0)
        spawn = false;
    else if (strcmp(o.start_method, "spawn") == 0 ||
             strcmp(o.start_method, "forkserver") == 0)
        spawn = true; /* a server needs no clean fork: a fresh image */
    else
        return seterr(err, MPROC_ENOTSUP,
                      "manager: start method '%s': expected fork, spawn or "
                      "forkserver", o.start_method);
    key = o.authkey;
    keylen = o.authkey_len;
    if (key == NULL || keylen == 0) {
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return seterr(err, MPROC_EIO, "manager: no random bytes");
        key = rnd;
        keylen = sizeof(rnd);
    }
    if (o.address == NULL) {
        r = make_rundir(&rundir, err);
        if (r < 0)
            return r;
        snprintf(addr, sizeof(addr), "unix:%s/manager.sock", rundir);
    } else {
        snprintf(addr, sizeof(addr), "%s", o.address);
    }
    if (pipe2(rp, O_CLOEXEC) < 0 || pipe2(lp, O_CLOEXEC) < 0) {
        r = seterr(err, -errno, "manager: pipe: %s", strerror(errno));
        goto fail;
    }
    if (spawn) {
        r = spawn_server(&o, addr, key, keylen, rp[1], lp[0], rundir, &pid,
                         err);
        if (r < 0)
            goto fail;
    } else {
        pid = fork();
        if (pid < 0) {
            r = seterr(err, -errno, "manager: fork: %s", strerror(errno));
            goto fail;
        }
        if (pid == 0) {
            close(rp[0]);
            close(lp[1]);
            server_main(&o, addr, key, keylen, rp[1], lp[0], rundir);
        }
    }
    close(rp[1]);
    rp[1] = -1;
    close(lp[0]);
    lp[0] = -1;
    /* The report: an int status, then the address or the message. */
    while (n < sizeof(buf) - 1 &&
           ((got = read(rp[0], buf + n, sizeof(buf) - 1 - n)) > 0 ||
            (got < 0 && errno == EINTR)))
        if (got > 0)
            n += (size_t)got;
    buf[n] = '\0';
    if (n < sizeof(int)) {
        r = seterr(err, MPROC_ECHILD, "manager: the server died at start");
        goto fail;
    }
    memcpy(&st, buf, sizeof(int));
    if (st < 0) {
        r = seterr(err, st, "%s", (char *)buf + sizeof(int));
        goto fail;
    }
    r = mproc__mgr_handle_new(&m, (char *)buf + sizeof(int), key, keylen);
    if (r < 0) {
        seterr(err, r, "manager: out of memory");
        goto fail;
    }
    m->pid = pid;
    m->max_req = o.max_message; /* requests over it are refused here */
    m->lifeline = lp[1];
    lp[1] = -1;
    /* Children the library forks (Processes, pool workers) close it:
     * one that held it would keep the server alive past this process's
     * death.  (A child of a bare fork() holds it: see mproc-manager(3).) */
    mproc__fork_fd_register(m->lifeline);
    m->rundir = rundir;
    rundir = NULL;
    pid = -1;
    close(rp[0]);
    r = dial(m, err);
    if (r < 0) {
        mproc_manager_free(m);
        return r;
    }
    *out = m;
    return 0;
fail:
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (rp[0] >= 0)
        close(rp[0]);
    if (rp[1] >= 0)
        close(rp[1]);
    if (lp[0] >= 0)
        close(lp[0]);
    if (lp[1] >= 0)
        close(lp[1]);
    if (rundir != NULL) {
        rmdir(rundir);
        free(rundir);
    }
    return r;
}

const char *
mproc_manager_address(const mproc_manager_t *m)
{
    if (m == NULL)
        return NULL;
    return m->address;
}

const void *
mproc_manager_authkey(const mproc_manager_t *m, size_t *len)
{
    if (m == NULL)
        return NULL;
    if (len != NULL)
        *len = m->keylen;
    return m->key;
}

pid_t
mproc_manager_pid(const mproc_manager_t *m)
{
    if (m == NULL)
        return 0;
    return m->pid;
}

int
mproc_manager_shutdown(mproc_manager_t *m)
{
    int r = 0, st;

    if (m == NULL)
        return MPROC_EINVAL;
    if (m->owner != getpid()) {
        /* A forked copy of the starter's handle: the server is the
         * parent's. */
        snprintf(m->msg, sizeof(m->msg), "manager %s: shutdown: this "
                 "handle was inherited through fork(); only process %d, "
                 "which made it, may shut the server down (connect anew "
                 "to use it from here)", m->address, (int)m->owner);
        return MPROC_EPERM;
    }
    if (m->conn != NULL && !m->broken)
        r = mproc__mgr_call(m, OP_SHUTDOWN, 0, -1, NULL, 0);
    if (m->lifeline >= 0) {
        /* A server that missed the request stops too. */
        mproc__fork_fd_close(m->lifeline);
        m->lifeline = -1;
    }
    if (m->pid > 0) {
        while (waitpid(m->pid, &st, 0) < 0 && errno == EINTR)
            ;
        m->pid = 0;
    }
    if (m->rundir != NULL) {
        /* The server is reaped: a socket file still here is one that a
         * server killed before its cleanup left (the folder is ours,
         * 0700, and holds nothing else). */
        char sock[PATH_MAX];

        if (snprintf(sock, sizeof(sock), "%s/manager.sock", m->rundir) <
            (int)sizeof(sock))
            unlink(sock);
        rmdir(m->rundir);
        free(m->rundir);
        m->rundir = NULL;
    }
    if (!m->broken)
        snprintf(m->gone, sizeof(m->gone), "the server was shut down "
                 "(mproc_manager_shutdown()); connect to a new one");
    m->broken = true;
    return r == MPROC_EPIPE ? 0 : r;
}

void
mproc_manager_free(mproc_manager_t *m)
{
    if (m == NULL)
        return;
    /* A forked child freeing its copy must not stop its parent's server. */
    if ((m->pid > 0 || m->rundir != NULL) && m->owner == getpid())
        mproc_manager_shutdown(m);
    else if (m->lifeline >= 0)
        mproc__fork_fd_close(m->lifeline);
    free(m->rundir);
    mproc__ring_unmap(m->ring);
    mproc_conn_free(m->conn);
    pthread_mutex_destroy(&m->mu);
    free(m->address);
    free(m->key);
    free(m->req);
    free(m->rep);
    free(m->items);
    free(m);
}

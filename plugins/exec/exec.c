/* SPDX-License-Identifier: MIT */
/*
 * exec: run a shell command per item, like xargs -P.
 *
 * [args] command is run as `/bin/sh -c COMMAND sh ITEM`: the item reaches
 * the command as "$1" (and in the environment as MPROC_ITEM), as an
 * argument, never as part of the command text, so an item such as
 * `'; rm -rf ~` is data.  The task's output is the command's stdout,
 * byte for byte (the descriptor's MPROC_PLUGIN_RAW_OUTPUT: the host adds
 * nothing, so an empty output is nothing and a binary stream stays
 * valid); a non-zero exit or a signal fails the item with the status and
 * the end of the command's stderr, and hands the host the status as a
 * field (mproc__task_status) and the stdout the command wrote, which the
 * host writes as for a success.  [args] shell chooses another shell.
 *
 * An output that would grow past message_max (out->limit) goes on into a
 * file when mproc run made a folder for such files (MPROC_EXEC_SPILL =
 * "TOKEN DIR" in the environment): the task's output is then
 * "TOKEN:NAME", which the host replaces with the file's bytes in the
 * item's turn.  Elsewhere (no such folder) it fails as before.
 *
 * The command's stderr reaches the worker's (the host's) stderr whatever
 * its exit status, grouped: gathered while it runs and written in one
 * write() once it ends (up to GROUP_MAX bytes; past that, in pieces), so
 * two items' lines never interleave.  [args] stderr = tag prefixes each
 * of those lines with the item and a TAB (as GNU parallel's --tag does),
 * stderr = hide keeps them back (only the failure message's tail shows).
 *
 * [args] command_file instead names a script (relative to the job file:
 * the host resolves it) whose text is run the same way.
 *
 * The command gets descriptors 0 (/dev/null), 1 and 2 (pipes to this
 * worker) and nothing else, whatever the worker inherited.  It leads a
 * process group of its own (as GNU parallel's jobs do): a `kill 0` in the
 * command ends the command and its children, never the worker.  The
 * pool's time limit and stop signals go to the worker's group; the worker
 * catches that SIGTERM while it waits for the command and passes it on to
 * the command's group, so the command gets the grace to end, and is
 * reported as it ended.  When the worker is killed outright (the SIGKILL
 * after the grace, or a crash), a keeper process, started once per worker
 * outside both groups, sees the worker's end of a socket close and kills
 * the group of the command then running: a time limit leaves no command
 * (or child of one) behind.
 *
 * Under mproc exec --results the command gets descriptors 3, 4 and 5
 * too: its job's stdout, stderr and exitval files (RESULTS_ENV).
 */
/* pipe2, sigabbrev_np */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/plugin.h>

extern char **environ;

/* libmproc's (MPROC_PRIVATE, for plugins of this tree): the task's own
 * exit status, carried with its failure to the job log's exit column and
 * --halt, with the output it wrote. */
void mproc__task_status(struct mproc_ctx *ctx, int status);

/* SIGTERM while a command runs (pool workers only, see exec_init). */
static volatile sig_atomic_t got_term;
static volatile pid_t running = -1;
static struct sigaction old_term;
static bool term_caught;
/* The keeper: its pid, and our end of the socket it watches. */
static pid_t keeper_pid = -1;
static int keeper_fd = -1;

static void
on_term(int sig)
{
    int e = errno;
    pid_t pid = running;

    (void)sig;
    got_term = 1;
    /* The command leads a group of its own, which the pool's signal to
     * the worker's group does not reach: pass it on. */
    if (pid > 0)
        kill(-pid, SIGTERM);
    errno = e;
}

#define TAIL 1000 /* bytes of stderr kept for the failure message */
#define SHOWN 200 /* of which at most this many are shown */
#define GROUP_MAX (1u << 20) /* stderr held back per item, at most */
/* Read from the pipes after the command ended, at most: what it wrote is
 * there already (two pipe buffers); more comes from what it left
 * running, which goes on writing. */
#define ENDED_MAX ((size_t)256 << 10)

enum stderr_mode { STDERR_SHOW, STDERR_TAG, STDERR_HIDE, STDERR_AFTER };

#define SPILL_ENV "MPROC_EXEC_SPILL"
/* mproc exec --line-buffer: a FIFO that takes stdout as it comes, in
 * frames of at most PIPE_BUF bytes (framework/cli/exec_lines.c). */
#define LINES_ENV "MPROC_EXEC_LINES"
/* (and its stderr, unless stderr = hide: the host writes its lines to
 * stderr, tagged under --tag as parallel's --line-buffer does) */
/* mproc exec --halt: words shared with the host and the other workers
 * by mmap of this file (framework/cli/exec_lines.c): once `stop` is set
 * no command starts (the job fails with HALT_MSG, which mproc exec counts
 * as not run).  With HALT_RULE_ENV ("FAIL N PCT TOTAL") each command's
 * end is counted there and the rule judged at once, so the worker that
 * ran the job that meets it starts no next one. */
/* The job's timeout_grace in ms (mproc run sets it): how long the pool
 * waits after its SIGTERM before it kills the worker.  A command that
 * outlives most of it is killed here (GRACE_KEEP_MS before the end), so
 * that its output is still reported, as parallel does after --timeout;
 * without the variable, the default grace. */
/* mproc exec's mark for {%} in the command line (framework/cli/exec.h):
 * each one becomes this worker's slot number, MPROC_SLOT. */
#define SLOT_ENV "MPROC_EXEC_SLOT_TOKEN"
/* mproc exec --results DIR: DIR (framework/cli/exec.h).  Each item then
 * starts with "SEQ LEN PATH\n", PATH (LEN bytes) the job's folder under
 * DIR, and its line expects the job's stdout, stderr and exitval files
 * as descriptors 3, 4 and 5, which results_open() makes. */
#define RESULTS_ENV "MPROC_EXEC_RESULTS"
#define GRACE_ENV "MPROC_TIMEOUT_GRACE_MS"
#define GRACE_DEFAULT_MS 1000
#define GRACE_KEEP_MS 250
#define HALT_ENV "MPROC_EXEC_HALT"
#define HALT_RULE_ENV "MPROC_EXEC_HALT_RULE"
#define HALT_MSG "not run: --halt"
struct halt_words {
    _Atomic uint64_t stop;
    _Atomic uint64_t nok, nfail;
    /* 1 + the exit status of the command whose end met the rule (the
     * first one); 0: none yet.  Read by the host for --halt now. */
    _Atomic uint64_t status;
};
struct halt_rule {
    int fail, pct; /* fail=, N% */
    double n;
    unsigned long long total; /* 0: unknown */
};
struct lines_hdr {
    uint64_t index;
    uint32_t len;
    uint32_t end; /* LINES_* */
};
#define LINES_END 1u /* the command ended */
#define LINES_ERR 2u /* the bytes are its stderr */

struct exec_state {
    char *command;
    char *shell;
    int stderr_mode;
    char *spill_token; /* from SPILL_ENV; NULL: big outputs fail */
    char *spill_dir;
    int lines_fd; /* LINES_ENV's FIFO, or -1 */
    struct halt_words *halt; /* HALT_ENV's words, mapped; or NULL */
    bool has_rule;
    struct halt_rule rule;
    posix_spawnattr_t attr;
    long kill_after_ms; /* after the SIGTERM passed on: SIGKILL */
    char *slot_token;   /* SLOT_ENV's, or NULL */
    char *results;      /* RESULTS_ENV's DIR, or NULL */
};

/*
 * The keeper, in the child of fork(): only async-signal-safe calls.  It
 * reads the process group of the command running (4 bytes, 0: none) until
 * the worker's end closes, then kills the group still running, if any:
 * the worker died without waiting for its command.
 */
static void __attribute__((noreturn))
keeper_main(int fd)
{
    struct sigaction ign;
    int32_t pgid = 0, v;
    ssize_t n;

    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    /* The command's `kill 0` or a Ctrl-C must not end the keeper. */
    sigaction(SIGTERM, &ign, NULL);
    sigaction(SIGINT, &ign, NULL);
    sigaction(SIGHUP, &ign, NULL);
    sigaction(SIGQUIT, &ign, NULL);
    sigaction(SIGPIPE, &ign, NULL);
    /* Outside the worker's group, which gets the pool's SIGKILL. */
    setpgid(0, 0);
    if (dup2(fd, 0) < 0)
        _exit(1);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
    close_range(1, ~0u, 0);
#else
    for (v = 1; v < 1024; v++)
        close(v);
#endif
    for (;;) {
        n = read(0, &v, sizeof(v));
        if (n == (ssize_t)sizeof(v)) {
            pgid = v;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break; /* end of file: the worker is gone */
    }
    if (pgid > 0)
        kill(-pgid, SIGKILL);
    _exit(0);
}

/* Start the keeper; without one (fork failed), a worker killed outright
 * may leave its command running, as before it. */
static void
keeper_start(void)
{
    int sv[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return;
    pid = fork();
    if (pid == 0) {
        close(sv[1]);
        keeper_main(sv[0]);
    }
    close(sv[0]);
    if (pid < 0) {
        close(sv[1]);
        return;
    }
    setpgid(pid, pid); /* either of us may get there first */
    keeper_pid = pid;
    keeper_fd = sv[1];
}

/* Tell the keeper which group to kill should this worker die now. */
static void
keeper_tell(int32_t pgid)
{
    ssize_t n;

    if (keeper_fd < 0)
        return;
    do
        n = send(keeper_fd, &pgid, sizeof(pgid), MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(pgid)) {
        /* The keeper is gone (someone killed it): go on without. */
        close(keeper_fd);
        keeper_fd = -1;
    }
}

static void
keeper_stop(void)
{
    pid_t r;

    if (keeper_fd >= 0)
        close(keeper_fd); /* no command runs: it just ends */
    keeper_fd = -1;
    if (keeper_pid > 0) {
        do
            r = waitpid(keeper_pid, NULL, 0);
        while (r < 0 && errno == EINTR);
    }
    keeper_pid = -1;
}

static void
state_free(struct exec_state *s)
{
    if (s == NULL)
        return;
    if (s->lines_fd >= 0)
        close(s->lines_fd);
    posix_spawnattr_destroy(&s->attr);
    free(s->spill_token);
    free(s->spill_dir);
    free(s->slot_token);
    free(s->results);
    if (s->halt != NULL)
        munmap(s->halt, sizeof(*s->halt));
    free(s->command);
    free(s->shell);
    free(s);
}

/*
 * [args] command_file: the script's text becomes the command, run as
 * `SHELL -c TEXT sh ITEM` like an inline one.  Linux caps one argument at
 * 128 KiB (MAX_ARG_STRLEN), so a bigger script is refused here, not by
 * every spawn.  NULL after mproc_fail().
 */
#define SCRIPT_MAX (128 * 1024 - 1)
static char *
read_script(struct mproc_ctx *ctx, const char *path)
{
    FILE *f = fopen(path, "re");
    char *text = malloc(SCRIPT_MAX + 2);
    size_t n = 0;

    if (f == NULL || text == NULL) {
        mproc_fail(ctx, "[args] command_file: %s: %s", path,
                   f == NULL ? strerror(errno) : "out of memory");
        goto fail;
    }
    n = fread(text, 1, SCRIPT_MAX + 1, f);
    if (ferror(f) || n > SCRIPT_MAX || memchr(text, '\0', n) != NULL) {
        mproc_fail(ctx, "[args] command_file: %s: %s", path,
                   ferror(f)      ? "read error"
                   : n > SCRIPT_MAX ? "larger than 128 KiB, the most one "
                                      "argument holds; run it as command = "
                                      "sh FILE \"$1\""
                                    : "holds a NUL byte; a script is text");
        goto fail;
    }
    fclose(f);
    text[n] = '\0';
    return text;

fail:
    if (f != NULL)
        fclose(f);
    free(text);
    return NULL;
}

/* Map the halt words (and read the rule, when given): 0, or -1. */
static int
halt_open(struct exec_state *s, const char *path, const char *rule)
{
    int fd = open(path, O_RDWR | O_CLOEXEC), e;
    void *m;

    if (fd < 0)
        return -1;
    m = mmap(NULL, sizeof(*s->halt), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
             0);
    e = errno;
    close(fd);
    errno = e;
    if (m == MAP_FAILED)
        return -1;
    s->halt = m;
    s->has_rule = rule != NULL &&
                  sscanf(rule, "%d %lf %d %llu", &s->rule.fail, &s->rule.n,
                         &s->rule.pct, &s->rule.total) == 4;
    return 0;
}

/* A command ended (ok or not, with exit status `code`): count it, and
 * stop when the rule holds. */
static void
halt_count(const struct exec_state *s, bool ok, int code)
{
    uint64_t none = 0;

    const struct halt_rule *h = &s->rule;
    uint64_t nok, nfail, n, of;

    if (s->halt == NULL || !s->has_rule)
        return;
    if (ok) {
        nok = atomic_fetch_add(&s->halt->nok, 1) + 1;
        nfail = atomic_load(&s->halt->nfail);
    } else {
        nfail = atomic_fetch_add(&s->halt->nfail, 1) + 1;
        nok = atomic_load(&s->halt->nok);
    }
    if (ok == (h->fail != 0))
        return; /* not what the rule counts */
    n = h->fail ? nfail : nok;
    of = h->total > 0 ? h->total : nok + nfail;
    if (h->pct ? n * 100.0 >= h->n * (double)of : (double)n >= h->n) {
        /* The status first: the host reads it once it sees stop. */
        atomic_compare_exchange_strong(&s->halt->status, &none,
                                       (uint64_t)code + 1);
        atomic_store(&s->halt->stop, 1);
    }
}

static int
exec_init(struct mproc_ctx *ctx)
{
    struct exec_state *s;
    const char *cmd = mproc_arg(ctx, "command", NULL);
    const char *shell = mproc_arg(ctx, "shell", "/bin/sh");
    const char *errmode = mproc_arg(ctx, "stderr", "show");
    const char *file = mproc_arg(ctx, "command_file", NULL);
    sigset_t all, none;
    int mode;

    if (cmd != NULL && file != NULL)
        return mproc_fail(ctx, "[args] command and command_file are both "
                               "set; keep one");
    if (file == NULL && (cmd == NULL || cmd[0] == '\0'))
        return mproc_fail(ctx, "[args] command is not set; e.g. command = "
                               "wc -c \"$1\"");
    if (shell[0] == '\0')
        return mproc_fail(ctx, "[args] shell is empty; e.g. shell = /bin/sh");
    if (strcmp(errmode, "show") == 0)
        mode = STDERR_SHOW;
    else if (strcmp(errmode, "tag") == 0)
        mode = STDERR_TAG;
    else if (strcmp(errmode, "hide") == 0)
        mode = STDERR_HIDE;
    else if (strcmp(errmode, "after") == 0)
        mode = STDERR_AFTER;
    else
        return mproc_fail(ctx, "[args] stderr: expected show, tag, hide or "
                               "after, got '%s'", errmode);
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return mproc_fail(ctx, "out of memory");
    s->lines_fd = -1;
    /* The worker ignores SIGINT (the host alone handles Ctrl-C) and an
     * ignored signal stays ignored across exec: give the command default
     * dispositions and an empty mask, as a shell or xargs would, so that
     * Ctrl-C and `kill` reach it. */
    sigfillset(&all);
    sigemptyset(&none);
    if (posix_spawnattr_init(&s->attr) != 0) {
        free(s);
        return mproc_fail(ctx, "out of memory");
    }
    posix_spawnattr_setsigdefault(&s->attr, &all);
    posix_spawnattr_setsigmask(&s->attr, &none);
    /* pgroup 0: the command leads a new group (see the top). */
    posix_spawnattr_setpgroup(&s->attr, 0);
    posix_spawnattr_setflags(&s->attr, POSIX_SPAWN_SETSIGDEF |
                                           POSIX_SPAWN_SETSIGMASK |
                                           POSIX_SPAWN_SETPGROUP);
    s->stderr_mode = mode;
    /* Copies: ctx->args is the host's. */
    if (file != NULL && (s->command = read_script(ctx, file)) == NULL) {
        state_free(s);
        return MPROC_TASK_FAIL;
    }
    if (file == NULL)
        s->command = strdup(cmd);
    s->shell = strdup(shell);
    if (s->command == NULL || s->shell == NULL) {
        state_free(s);
        return mproc_fail(ctx, "out of memory");
    }
    {
        const char *t = getenv(SLOT_ENV);

        if (t != NULL && t[0] != '\0' && (s->slot_token = strdup(t)) == NULL) {
            state_free(s);
            return mproc_fail(ctx, "out of memory");
        }
        t = getenv(RESULTS_ENV);
        if (t != NULL && t[0] != '\0' && (s->results = strdup(t)) == NULL) {
            state_free(s);
            return mproc_fail(ctx, "out of memory");
        }
    }
    {
        const char *g = getenv(GRACE_ENV);
        char *end;
        long grace = g != NULL ? strtol(g, &end, 10) : GRACE_DEFAULT_MS;

        if (g != NULL && (*end != '\0' || grace <= 0))
            grace = GRACE_DEFAULT_MS;
        s->kill_after_ms = grace - (grace / 4 < GRACE_KEEP_MS
                                        ? grace / 4
                                        : GRACE_KEEP_MS);
    }
    {
        const char *sp = getenv(SPILL_ENV), *dir;

        if (sp != NULL && (dir = strchr(sp, ' ')) != NULL && dir[1] == '/') {
            s->spill_token = strndup(sp, (size_t)(dir - sp));
            s->spill_dir = strdup(dir + 1);
        }
    }
    {
        const char *lp = getenv(LINES_ENV);

        const char *hp = getenv(HALT_ENV), *hr = getenv(HALT_RULE_ENV);

        if (hp != NULL && hp[0] == '/' && halt_open(s, hp, hr) < 0) {
            mproc_fail(ctx, "%s: %s", hp, strerror(errno));
            state_free(s);
            return MPROC_TASK_FAIL;
        }
        /* The host holds the FIFO open for reading: this does not wait. */
        if (lp != NULL && lp[0] == '/' &&
            (s->lines_fd = open(lp, O_WRONLY | O_CLOEXEC)) < 0) {
            mproc_fail(ctx, "%s: %s", lp, strerror(errno));
            state_free(s);
            return MPROC_TASK_FAIL;
        }
    }
    keeper_start();
    /* A pool worker leads its process group, which the pool signals.
     * There, pass a SIGTERM on to the command and wait for it rather than
     * die at once and leave it to the keeper.  Elsewhere (a Process)
     * SIGTERM keeps its usual meaning. */
    if (getpgrp() == getpid()) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_term;
        sigemptyset(&sa.sa_mask);
        term_caught = sigaction(SIGTERM, &sa, &old_term) == 0;
    }
    ctx->state = s;
    return MPROC_TASK_OK;
}

static void
exec_fini(struct mproc_ctx *ctx)
{
    if (term_caught)
        sigaction(SIGTERM, &old_term, NULL);
    term_caught = false;
    keeper_stop();
    state_free(ctx->state);
    ctx->state = NULL;
}

/* environ with MPROC_ITEM=item in place of any inherited one. */
static char **
make_env(char *item_var, char *slot_var, char *jobslot_var)
{
    /* Ours, set for the workers: not the command's business. */
    static const char *const drop[] = {
        "MPROC_ITEM=", "MPROC_SLOT=", "PARALLEL_JOBSLOT=", SPILL_ENV "=",
        LINES_ENV "=", HALT_ENV "=", HALT_RULE_ENV "=", SLOT_ENV "=",
        GRACE_ENV "=", RESULTS_ENV "=", NULL};
    size_t n = 0, i, j = 0, k;
    char **env;

    while (environ != NULL && environ[n] != NULL)
        n++;
    env = calloc(n + 4, sizeof(*env));
    if (env == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        for (k = 0; drop[k] != NULL; k++)
            if (strncmp(environ[i], drop[k], strlen(drop[k])) == 0)
                break;
        if (drop[k] == NULL)
            env[j++] = environ[i];
    }
    env[j++] = item_var;
    env[j++] = slot_var;    /* mproc exec's {%}: the worker, 1..N */
    env[j++] = jobslot_var; /* the same, by parallel's name */
    env[j] = NULL;
    return env;
}
/* Keep the last TAIL bytes of everything written to stderr. */
static void
tail_add(char *tail, size_t *tail_len, const char *data, size_t n)
{
    size_t keep;

    if (n >= TAIL) {
        memcpy(tail, data + n - TAIL, TAIL);
        *tail_len = TAIL;
        return;
    }
    keep = *tail_len + n > TAIL ? TAIL - n : *tail_len;
    memmove(tail, tail + *tail_len - keep, keep);
    memcpy(tail + keep, data, n);
    *tail_len = keep + n;
}

/* An item's stderr, held back to be written in one piece. */
struct group {
    char *buf;
    size_t len, cap;
    const char *tag; /* the item, before each line; NULL: none */
    size_t tag_len;
    bool bol;        /* the next byte starts a line */
    /* stderr = after: the file in the spill folder the host copies to its
     * stderr in the item's turn (NULL: write to stderr), and its
     * descriptor once opened (-1: not yet). */
    const char *path;
    int fd;
};

/* A monotonic clock, in ms. */
static long long
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write all n bytes to fd: 0, or -1 (errno set). */
static int
write_all(int fd, const char *data, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write n bytes to stderr; when it is gone, there is nowhere left to say
 * so. */
static void
write_err(const char *data, size_t n)
{
    (void)write_all(2, data, n);
}

/* Write n bytes of the item's stderr out: to its file (stderr = after),
 * else, or when the file cannot be written, to stderr. */
static void
group_write(struct group *g, const char *data, size_t n)
{
    if (n == 0)
        return;
    if (g->path != NULL && g->fd < 0)
        g->fd = open(g->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (g->fd < 0 || write_all(g->fd, data, n) < 0)
        write_err(data, n);
}

/* Write what the group holds, and empty it. */
static void
group_flush(struct group *g)
{
    group_write(g, g->buf, g->len);
    g->len = 0;
}

/* The item's stderr is all out.  stderr = after: a file holds it, or no
 * file is left (an earlier attempt's, on a retry, would be taken for
 * this one's). */
static void
group_end(struct group *g)
{
    group_flush(g);
    if (g->fd >= 0)
        close(g->fd);
    else if (g->path != NULL)
        unlink(g->path);
    g->fd = -1;
}

static void
group_put(struct group *g, const char *data, size_t n)
{
    if (g->cap - g->len < n && g->cap < GROUP_MAX) {
        size_t nc = g->cap ? g->cap : 4096;
        char *nb;

        while (nc - g->len < n && nc < GROUP_MAX)
            nc *= 2;
        if (nc > GROUP_MAX)
            nc = GROUP_MAX;
        if ((nb = realloc(g->buf, nc)) != NULL) {
            g->buf = nb;
            g->cap = nc;
        }
    }
    if (g->cap - g->len < n) {
        /* Past GROUP_MAX (or out of memory): what is held goes out
         * first, then the rest as it comes. */
        group_flush(g);
        if (g->cap < n) {
            group_write(g, data, n);
            return;
        }
    }
    memcpy(g->buf + g->len, data, n);
    g->len += n;
}

/* Add what the command wrote to stderr, each line tagged if asked. */
static void
group_add(struct group *g, const char *data, size_t n)
{
    const char *nl;
    size_t k;

    while (n > 0) {
        if (g->bol && g->tag != NULL) {
            group_put(g, g->tag, g->tag_len);
            group_put(g, "\t", 1);
        }
        nl = memchr(data, '\n', n);
        k = nl != NULL ? (size_t)(nl - data) + 1 : n;
        group_put(g, data, k);
        g->bol = nl != NULL;
        data += k;
        n -= k;
    }
}

/*
 * The end of stderr for a message: trailing whitespace dropped, at most
 * SHOWN bytes (with "..." when cut), lines joined by spaces so the message
 * stays one line.  NULL when the command wrote nothing there.  `tail` has
 * room for TAIL + 1 bytes.
 */
static const char *
tail_text(char *tail, size_t len)
{
    char *p, *q;

    while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == '\r' ||
                       tail[len - 1] == ' ' || tail[len - 1] == '\t'))
        len--;
    tail[len] = '\0';
    if (len == 0)
        return NULL;
    p = tail;
    if (len > SHOWN + 3) {
        p = tail + len - SHOWN - 3;
        memcpy(p, "...", 3);
    }
    for (q = p; *q != '\0'; q++)
        if (*q == '\n' || *q == '\r')
            *q = ' ';
    return p;
}

/*
 * --line-buffer: send n bytes of item `index`'s stdout (or stderr:
 * LINES_ERR) to the FIFO, in frames of at most PIPE_BUF bytes, each one
 * write() so that no other worker's frame cuts into it; LINES_END (on
 * the last frame) marks the command's end.  The host
 * gone, there is nowhere to write: the bytes are dropped.
 */
static void
lines_send(int fd, uint64_t index, const char *data, size_t n,
           uint32_t flags)
{
    char frame[PIPE_BUF];
    struct lines_hdr h = {index, 0, 0};
    size_t k;

    do {
        k = n < sizeof(frame) - sizeof(h) ? n : sizeof(frame) - sizeof(h);
        h.len = (uint32_t)k;
        h.end = flags & (k == n ? ~0u : ~LINES_END);
        memcpy(frame, &h, sizeof(h));
        memcpy(frame + sizeof(h), data, k);
        (void)write_all(fd, frame, sizeof(h) + k);
        data += k;
        n -= k;
    } while (n > 0);
}

/*
 * Move what the output holds to a new file in the spill folder, which
 * takes the rest: its descriptor, or -1 (errno set).  `name` gets the
 * file's path.
 */
static int
spill_start(const struct exec_state *s, struct mproc_buf *out, char *name,
            size_t cap)
{
    int fd, e;

    if (s->spill_dir == NULL) {
        errno = EMSGSIZE;
        return -1;
    }
    if ((size_t)snprintf(name, cap, "%s/out.XXXXXX", s->spill_dir) >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if ((fd = mkostemp(name, O_CLOEXEC)) < 0)
        return -1;
    if (write_all(fd, out->data, out->len) < 0) {
        e = errno;
        close(fd);
        unlink(name);
        errno = e;
        return -1;
    }
    out->len = 0;
    return fd;
}

/* The item as a string, each of mproc exec's {%} marks replaced with
 * `slot`; NULL when out of memory.  (It holds no NUL: checked before.) */
static char *
with_slot(const struct exec_state *s, const char *in, size_t len,
          unsigned slot)
{
    const char *p = in, *end = in + len, *hit;
    size_t tl = s->slot_token != NULL ? strlen(s->slot_token) : 0, n = 0;
    char num[16], *out, *o;
    int nl = snprintf(num, sizeof(num), "%u", slot);

    for (hit = p; tl > 0 && (hit = memmem(hit, (size_t)(end - hit),
                                          s->slot_token, tl)) != NULL;
         hit += tl)
        n++;
    if ((out = malloc(len + n * (size_t)nl + 1)) == NULL)
        return NULL;
    for (o = out; n > 0 && (hit = memmem(p, (size_t)(end - p), s->slot_token,
                                         tl)) != NULL;
         p = hit + tl) {
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, num, (size_t)nl);
        o += nl;
    }
    memcpy(o, p, (size_t)(end - p));
    o[end - p] = '\0';
    return out;
}

/*
 * mproc exec --results: the item's header (RESULTS_ENV): 0, with the
 * job's number (digits) and its folder under DIR pointed to, and in
 * *skip the header's length; -1 when the item has none.
 */
static int
results_header(const char *in, size_t len, const char **seq,
               size_t *seq_len, const char **path, size_t *plen,
               size_t *skip)
{
    size_t i = 0, n = 0, start;

    while (i < len && in[i] >= '0' && in[i] <= '9')
        i++;
    if (i == 0 || i >= len || in[i] != ' ')
        return -1;
    *seq = in;
    *seq_len = i;
    for (start = ++i; i < len && in[i] >= '0' && in[i] <= '9'; i++) {
        if (n > len / 10)
            return -1; /* longer than the item */
        n = n * 10 + (size_t)(in[i] - '0');
    }
    if (i == start || i >= len || in[i] != ' ' || n >= len - i - 1 ||
        in[i + 1 + n] != '\n')
        return -1;
    *path = in + i + 1;
    *plen = n;
    *skip = i + 1 + n + 1;
    return 0;
}

/* Make dir and the folders above it, as `mkdir -p`: 0, or -1 (errno). */
static int
mkdir_parents(char *dir)
{
    char *p, c;
    int r, e;

    for (p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        c = *p;
        *p = '\0';
        r = mkdir(dir, 0777);
        e = errno;
        *p = c;
        if (r < 0 && e != EEXIST) {
            errno = e;
            return -1;
        }
        if (c == '\0')
            return 0;
    }
}

/* Fail the job on its results' entry `name` in the folder dfd (`where`:
 * its path, for the message), a folder when `dir`, which could not be
 * opened (errno e): what is there, when that is why. */
static int
results_refuse(struct mproc_ctx *ctx, int dfd, const char *name,
               const char *where, bool dir, int e)
{
    struct stat st;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return mproc_fail(ctx, "--results: %s: %s; the job did not run",
                          where, strerror(e));
    if (S_ISLNK(st.st_mode))
        return mproc_fail(ctx, "--results: %s is a symbolic link, which "
                               "--results does not follow; the job did not "
                               "run", where);
    if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
        return mproc_fail(ctx, "--results: %s is not a %s, which --results "
                               "does not write to; the job did not run",
                          where, dir ? "folder" : "plain file");
    return mproc_fail(ctx, "--results: %s: %s; the job did not run", where,
                      strerror(e));
}

static const char *const results_files[] = {"seq", "stdout", "stderr",
                                             "exitval"};

/*
 * mproc exec --results: make the job's folder DIR/PATH and its files,
 * write seq, and open stdout, stderr and exitval into fds[0..2] (above
 * 5, close-on-exec, for the command's 3, 4 and 5).  DIR, or a folder
 * under it, may be one that others can write to, and a symbolic link
 * planted there (or a hard link to a file elsewhere) would have the
 * job's output overwrite that file or land in that folder, as `mkdir -p`
 * and a shell's `>` (and parallel) follow them.  So each folder under
 * DIR is made and opened relative to the one above it, none that is a
 * symbolic link is followed, and a file is written only when it is a
 * plain file with no other link; anything else fails the job, before
 * its command runs.  DIR itself is the user's word, followed as any
 * path.  MPROC_TASK_OK, or the failure (nothing left open).
 */
static int
results_open(struct mproc_ctx *ctx, const struct exec_state *s,
             const char *path, size_t plen, const char *seq, size_t seq_len,
             int fds[3])
{
    size_t dl = strlen(s->results), i, k;
    /* DIR/PATH/exitval */
    char *where = malloc(dl + plen + 16);
    const char *c, *end = path + plen, *slash, *name;
    int dfd = -1, fd = -1, r = MPROC_TASK_OK, flags, e;
    int file[4] = {-1, -1, -1, -1}; /* as results_files[] */
    struct stat st;

    fds[0] = fds[1] = fds[2] = -1;
    if (where == NULL)
        return mproc_fail(ctx, "out of memory");
    memcpy(where, s->results, dl + 1);
    dfd = open(where, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 && errno == ENOENT && mkdir_parents(where) == 0)
        dfd = open(where, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        r = mproc_fail(ctx, "--results: %s: %s; the job did not run", where,
                       strerror(errno));
        goto done;
    }
    for (c = path; c < end; c = slash + 1) {
        slash = memchr(c, '/', (size_t)(end - c));
        if (slash == NULL)
            slash = end;
        k = (size_t)(slash - c);
        where[dl++] = '/';
        memcpy(where + dl, c, k);
        dl += k;
        where[dl] = '\0';
        name = where + dl - k;
        /* mproc exec never names a folder so (results_part()): it would
         * be one that another job, or DIR itself, uses. */
        if (k == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
            r = mproc_fail(ctx, "--results: %s: an empty, . or .. folder "
                                "name; the job did not run", where);
            goto done;
        }
        if ((mkdirat(dfd, name, 0777) < 0 && errno != EEXIST) ||
            (fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                        O_CLOEXEC)) < 0) {
            r = results_refuse(ctx, dfd, name, where, true, errno);
            goto done;
        }
        close(dfd);
        dfd = fd;
        fd = -1;
    }
    where[dl++] = '/';
    /* All four checked before any is written: a job refused leaves what
     * an earlier run wrote there as it was. */
    for (i = 0; i < 4; i++) {
        strcpy(where + dl, results_files[i]);
        /* O_NONBLOCK: a FIFO there must not hold the job up (it is
         * refused below); cleared again for the command.  stderr read
         * too: its end is the reason when the command fails. */
        fd = openat(dfd, results_files[i],
                    (i == 2 ? O_RDWR : O_WRONLY) | O_CREAT | O_NOFOLLOW |
                        O_NONBLOCK | O_CLOEXEC,
                    0666);
        if (fd < 0) {
            r = results_refuse(ctx, dfd, results_files[i], where, false,
                               errno);
            goto done;
        }
        /* Above 5, for the command's 3, 4, 5 (dup2 in the child). */
        file[i] = fcntl(fd, F_DUPFD_CLOEXEC, 6);
        e = errno;
        close(fd);
        if (file[i] < 0 || fstat(file[i], &st) < 0 ||
            (flags = fcntl(file[i], F_GETFL)) < 0 ||
            fcntl(file[i], F_SETFL, flags & ~O_NONBLOCK) < 0) {
            r = mproc_fail(ctx, "--results: %s: %s; the job did not run",
                           where, strerror(file[i] < 0 ? e : errno));
            goto done;
        }
        if (!S_ISREG(st.st_mode) || st.st_nlink > 1) {
            r = mproc_fail(ctx, "--results: %s is %s, which --results does "
                                "not write to; the job did not run", where,
                           S_ISREG(st.st_mode) ? "a file with another hard "
                                                 "link"
                                               : "not a plain file");
            goto done;
        }
    }
    for (i = 0; i < 4; i++) {
        strcpy(where + dl, results_files[i]);
        if (ftruncate(file[i], 0) < 0 ||
            (i == 0 && write_all(file[i], seq, seq_len) < 0)) {
            r = mproc_fail(ctx, "--results: %s: %s; the job did not run",
                           where, strerror(errno));
            goto done;
        }
    }

done:
    if (dfd >= 0)
        close(dfd);
    if (file[0] >= 0)
        close(file[0]); /* seq: written */
    for (i = 1; i < 4; i++) {
        fds[i - 1] = r == MPROC_TASK_OK ? file[i] : -1;
        if (r != MPROC_TASK_OK && file[i] >= 0)
            close(file[i]);
    }
    free(where);
    return r;
}

/*
 * Run the command for one item.  Both pipes are read until end of file
 * before waiting for the child: a command that fills its stderr pipe while
 * we block on stdout (or the reverse) would otherwise never finish.
 */
static int
exec_run(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    const struct exec_state *s = ctx->state;
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, st = 0, r, e, i;
    char *item = NULL, *item_var = NULL, **env = NULL;
    char tail[TAIL + 1], buf[65536], slot_var[32], jobslot_var[40];
    const char *why;
    size_t tail_len = 0;
    posix_spawn_file_actions_t fa;
    bool fa_ready = false, overflow = false;
    struct group group = {NULL, 0, 0, NULL, 0, true, NULL, -1};
    char err_path[4096];
    char spill[4096];
    int spill_fd = -1, spill_errno = 0;
    bool keep_spill = false; /* a failed command's big output */
    long long term_ms = 0;   /* when the SIGTERM was seen */
    bool term_killed = false;
    int cmd_fd = -1;         /* pidfd of the command, or -1 */
    bool ended = false;      /* it ended: drain the pipes, then stop */
    size_t drained = 0;      /* read since it ended */
    pid_t pid = -1;
    int res_fd[3] = {-1, -1, -1}; /* --results: stdout, stderr, exitval */

    got_term = 0;
    if (s->halt != NULL && atomic_load(&s->halt->stop) != 0)
        return mproc_fail(ctx, HALT_MSG);
    if (memchr(in, '\0', len) != NULL)
        return mproc_fail(ctx, "the item holds a NUL byte; it cannot be "
                               "passed to a command");
    if (s->results != NULL) {
        const char *seq, *path;
        size_t seq_len, plen, skip;

        if (results_header(in, len, &seq, &seq_len, &path, &plen,
                           &skip) < 0)
            return mproc_fail(ctx, "the item lacks the --results header "
                                   "that %s calls for", RESULTS_ENV);
        r = results_open(ctx, s, path, plen, seq, seq_len, res_fd);
        if (r != MPROC_TASK_OK)
            return r;
        in = (const char *)in + skip;
        len -= skip;
    }
    item = with_slot(s, in, len, ctx->worker + 1);
    if (item != NULL)
        len = strlen(item);
    item_var = item != NULL ? malloc(len + 12) : NULL;
    if (item == NULL || item_var == NULL) {
        r = mproc_fail(ctx, "out of memory");
        goto done;
    }
    memcpy(item_var, "MPROC_ITEM=", 11);
    memcpy(item_var + 11, item, len);
    item_var[len + 11] = '\0';
    snprintf(slot_var, sizeof(slot_var), "MPROC_SLOT=%u", ctx->worker + 1);
    snprintf(jobslot_var, sizeof(jobslot_var), "PARALLEL_JOBSLOT=%u",
             ctx->worker + 1);
    env = make_env(item_var, slot_var, jobslot_var);
    if (env == NULL) {
        r = mproc_fail(ctx, "out of memory");
        goto done;
    }
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        r = mproc_fail(ctx, "cannot create a pipe: %s", strerror(errno));
        goto done;
    }
    if ((e = posix_spawn_file_actions_init(&fa)) != 0) {
        r = mproc_fail(ctx, "cannot set up the command: %s", strerror(e));
        goto done;
    }
    fa_ready = true;
    /* dup2 clears close-on-exec on the copies only: the child gets the
     * write ends as 1 and 2.  Descriptors without close-on-exec that the
     * worker may hold (a spawned worker's channel sides, or whatever a
     * plugin or the host's code opened) are closed too: 0, 1, 2 only
     * (and --results' 3, 4, 5). */
    if ((e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
                                              0)) != 0 ||
        (e = posix_spawn_file_actions_adddup2(&fa, outp[1], 1)) != 0 ||
        (e = posix_spawn_file_actions_adddup2(&fa, errp[1], 2)) != 0 ||
        (s->results != NULL &&
         ((e = posix_spawn_file_actions_adddup2(&fa, res_fd[0], 3)) != 0 ||
          (e = posix_spawn_file_actions_adddup2(&fa, res_fd[1], 4)) != 0 ||
          (e = posix_spawn_file_actions_adddup2(&fa, res_fd[2], 5)) != 0))
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
        || (e = posix_spawn_file_actions_addclosefrom_np(
                &fa, s->results != NULL ? 6 : 3)) != 0
#endif
    ) {
        r = mproc_fail(ctx, "cannot set up the command: %s", strerror(e));
        goto done;
    }
    {
        /* The item is an argument ("$1"), never part of the script. */
        char *argv[] = {s->shell, (char *)"-c", s->command, (char *)"sh",
                        item, NULL};
        /* A bare name such as "bash" is looked up in PATH. */
        if (strchr(s->shell, '/') != NULL)
            e = posix_spawn(&pid, s->shell, &fa, &s->attr, argv, env);
        else
            e = posix_spawnp(&pid, s->shell, &fa, &s->attr, argv, env);
    }
    if (e != 0) {
        pid = -1;
        r = mproc_fail(ctx, "cannot run %s: %s", s->shell, strerror(e));
        goto done;
    }
    running = pid;
    keeper_tell((int32_t)pid);
    if (got_term) {
        /* A limit signal came before the command existed: it is meant
         * for it all the same. */
        kill(-pid, SIGTERM);
    }
    if (s->stderr_mode == STDERR_TAG) {
        group.tag = item;
        group.tag_len = len;
    } else if (s->stderr_mode == STDERR_AFTER && s->spill_dir != NULL &&
               (size_t)snprintf(err_path, sizeof(err_path), "%s/err.%llu",
                                s->spill_dir, (unsigned long long)index) <
                   sizeof(err_path)) {
        group.path = err_path;
    }
    /* Our copies of the write ends must go, or the reads below would never
     * see end of file. */
    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;

    /* The command's end, seen apart from its pipes': something it left
     * running in the background may hold them open (a daemon, `cmd &`),
     * and the job is over when the command is, as in parallel.  Without
     * pidfds (Linux before 5.3), the pipes' end as before. */
#ifdef SYS_pidfd_open
    cmd_fd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
    while (outp[0] >= 0 || errp[0] >= 0) {
        struct pollfd pfd[3] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0},
                                {ended ? -1 : cmd_fd, POLLIN, 0}};
        int wait_ms = -1;

        if (got_term && !term_killed) {
            /* The time limit's (or a stop's) SIGTERM was passed on: a
             * command that ignores it is killed before the pool kills
             * this worker, so what it wrote is still reported. */
            long long t = mono_ms();

            if (term_ms == 0)
                term_ms = t;
            if (t - term_ms >= s->kill_after_ms) {
                kill(-pid, SIGKILL);
                term_killed = true;
            } else {
                wait_ms = (int)(s->kill_after_ms - (t - term_ms));
            }
        }
        if (poll(pfd, 3, ended ? 0 : wait_ms) < 0) {
            if (errno == EINTR)
                continue;
            /* Cannot happen with valid fds; stop reading, and closing
             * below lets the command end on SIGPIPE rather than block. */
            break;
        }
        if (pfd[2].revents != 0 && !ended) {
            /* It ended: what it wrote is in the pipes now; take that,
             * then stop (what its leftovers write later is theirs). */
            ended = true;
            for (i = 0; i < 2; i++) {
                int fd = i == 0 ? outp[0] : errp[0];
                if (fd >= 0)
                    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            }
            continue;
        }
        for (i = 0; i < 2; i++) {
            ssize_t n;
            if (pfd[i].fd < 0 || (pfd[i].revents == 0 && !ended))
                continue;
            n = read(pfd[i].fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || (ended && (drained += (size_t)n) > ENDED_MAX)) {
                close(pfd[i].fd);
                *(i == 0 ? &outp[0] : &errp[0]) = -1;
            } else if (i == 1) {
                tail_add(tail, &tail_len, buf, (size_t)n);
                if (s->stderr_mode == STDERR_HIDE)
                    ;
                else if (s->lines_fd >= 0)
                    lines_send(s->lines_fd, index, buf, (size_t)n,
                               LINES_ERR);
                else
                    group_add(&group, buf, (size_t)n);
            } else if (s->lines_fd >= 0) {
                lines_send(s->lines_fd, index, buf, (size_t)n, 0);
            } else if (overflow || spill_errno != 0) {
                /* Keep draining, so the command is not left blocked. */
            } else if (spill_fd < 0 && out->len + (size_t)n <= out->limit) {
                if (mproc_buf_append(out, buf, (size_t)n) != MPROC_TASK_OK)
                    overflow = true;
            } else if (spill_fd < 0 && s->spill_dir == NULL) {
                overflow = true;
            } else if ((spill_fd < 0 &&
                        (spill_fd = spill_start(s, out, spill,
                                                sizeof(spill))) < 0) ||
                       write_all(spill_fd, buf, (size_t)n) < 0) {
                spill_errno = errno;
            }
        }
    }
    for (i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
        outp[i] = errp[i] = -1;
    }
    if (cmd_fd >= 0)
        close(cmd_fd);
    do
        r = (int)waitpid(pid, &st, 0);
    while (r < 0 && errno == EINTR);
    running = pid = -1;
    keeper_tell(0);
    if (s->lines_fd >= 0)
        lines_send(s->lines_fd, index, "", 0, LINES_END);
    /* Before the result, which the host reports after it. */
    group_end(&group);
    if (r < 0) {
        r = mproc_fail(ctx, "cannot wait for the command: %s",
                       strerror(errno));
        goto done;
    }
    if (res_fd[1] >= 0) {
        /* --results: the command's stderr went to its file, whose end
         * says why it failed; the wrapper's own (a result it could not
         * write) after it. */
        char own[TAIL + 1];
        size_t own_len = tail_len;
        struct stat est;
        ssize_t got;

        memcpy(own, tail, tail_len);
        if (fstat(res_fd[1], &est) == 0 && est.st_size > 0 &&
            (got = pread(res_fd[1], buf, TAIL,
                         est.st_size > TAIL ? est.st_size - TAIL : 0)) > 0) {
            tail_len = 0;
            tail_add(tail, &tail_len, buf, (size_t)got);
            tail_add(tail, &tail_len, own, own_len);
        }
    }
    why = tail_text(tail, tail_len);
    /* parallel's --halt status: the command's, 128 + N for signal N. */
    halt_count(s, WIFEXITED(st) && WEXITSTATUS(st) == 0,
               WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    if (WIFSIGNALED(st) || WEXITSTATUS(st) != 0) {
        /* The status is a field of the failure, not words to read back,
         * and what the command wrote goes with it (parallel prints a
         * failed job's output too): kept in `out`, or named there when
         * it went to a spill file. */
        mproc__task_status(ctx, WIFSIGNALED(st) ? -WTERMSIG(st)
                                                : WEXITSTATUS(st));
        if (spill_fd >= 0 && spill_errno == 0) {
            out->len = 0;
            if (mproc_buf_printf(out, "%s:%s", s->spill_token,
                                 strrchr(spill, '/') + 1) == MPROC_TASK_OK)
                keep_spill = true;
        } else if (spill_fd >= 0 || overflow) {
            out->len = 0; /* a part only: none rather than a cut one */
        }
    }
    if (WIFSIGNALED(st)) {
        const char *name = sigabbrev_np(WTERMSIG(st));
        if (name != NULL)
            r = mproc_fail(ctx, "command killed by SIG%s%s%s", name,
                           why ? ": " : "", why ? why : "");
        else
            r = mproc_fail(ctx, "command killed by signal %d%s%s",
                           WTERMSIG(st), why ? ": " : "", why ? why : "");
    } else if (WEXITSTATUS(st) != 0) {
        r = mproc_fail(ctx, "command exited with status %d: %s",
                       WEXITSTATUS(st), why ? why : "no error output");
    } else if (overflow) {
        r = mproc_fail(ctx, "output exceeds the message limit");
    } else if (spill_errno != 0) {
        r = mproc_fail(ctx, "output past message_max: cannot write it to "
                            "%s: %s", s->spill_dir, strerror(spill_errno));
    } else if (spill_fd >= 0) {
        /* The host takes the file's bytes in its place. */
        out->len = 0;
        if (mproc_buf_printf(out, "%s:%s", s->spill_token,
                             strrchr(spill, '/') + 1) != MPROC_TASK_OK)
            r = mproc_fail(ctx, "message_max is too small to name the "
                                "file holding the output");
        else
            r = MPROC_TASK_OK;
    } else {
        r = MPROC_TASK_OK;
    }
    if (spill_fd >= 0) {
        close(spill_fd);
        spill_fd = -1;
        if (r != MPROC_TASK_OK && !keep_spill)
            unlink(spill);
    }

done:
    if (spill_fd >= 0) {
        close(spill_fd);
        unlink(spill);
    }
    if (fa_ready)
        posix_spawn_file_actions_destroy(&fa);
    for (i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    if (group.fd >= 0)
        close(group.fd);
    for (i = 0; i < 3; i++)
        if (res_fd[i] >= 0)
            close(res_fd[i]);
    free(group.buf);
    free(env);
    free(item_var);
    free(item);
    return r;
}

static const struct mproc_task_def tasks[] = {
    {"run", exec_run, "run [args] command with the item as \"$1\""},
    {NULL, NULL, NULL},
};

static const struct mproc_arg_def args[] = {
    {"command", MPROC_ARG_STRING, NULL, MPROC_ARG_REQUIRED,
     "the shell command run per item; the item is \"$1\"", "command_file"},
    {"command_file", MPROC_ARG_FILE, NULL, 0,
     "a script run per item instead of command (relative to the job file)",
     NULL},
    {"shell", MPROC_ARG_STRING, "/bin/sh", 0,
     "the shell that runs it, as SHELL -c COMMAND sh ITEM", NULL},
    {"stderr", MPROC_ARG_STRING, "show", 0,
     "the command's stderr: show, tag (item and TAB first), hide, or "
     "after (the host writes it after the item's output, in its turn)",
     NULL},
    MPROC_ARG_END,
};

MPROC_PLUGIN_DEFINE(.flags = MPROC_PLUGIN_RAW_OUTPUT,
                    .name = "exec", .version = "1.0",
                    .description = "run a shell command per item, like xargs",
                    .init = exec_init, .fini = exec_fini, .tasks = tasks,
                    .args = args);

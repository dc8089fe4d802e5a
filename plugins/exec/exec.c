/* SPDX-License-Identifier: MIT */
/*
 * exec: run a shell command per item, like xargs -P.
 *
 * [args] command is run as `/bin/sh -c COMMAND sh ITEM`: the item reaches
 * the command as "$1" (and in the environment as MPROC_ITEM), as an
 * argument, never as part of the command text, so an item such as
 * `'; rm -rf ~` is data.  The task's output is the command's stdout; a
 * non-zero exit or a signal fails the item with the status and the end of
 * the command's stderr.  [args] shell chooses another shell.  [args]
 * command_file instead names a script (relative to the job file: the host
 * resolves it) whose text is run the same way.
 *
 * The command gets descriptors 0 (/dev/null), 1 and 2 (pipes to this
 * worker) and nothing else, whatever the worker inherited.  It runs in
 * the worker's process group: in a pool the worker leads a group of its
 * own, and the pool's time limit and stop signals (SIGTERM, then SIGKILL
 * after the grace) reach the command and everything it started with the
 * worker.  The worker catches that SIGTERM while it waits for the command,
 * so the command gets the grace to end, and is reported as it ended.
 */
/* pipe2, sigabbrev_np */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc/plugin.h>

extern char **environ;

/* SIGTERM while a command runs (pool workers only, see exec_init). */
static volatile sig_atomic_t got_term;
static volatile pid_t running = -1;
static struct sigaction old_term;
static bool term_caught;

static void
on_term(int sig)
{
    int e = errno;
    pid_t pid = running;

    (void)sig;
    got_term = 1;
    /* The pool signals the whole group; someone who signals the worker
     * alone still reaches the command this way. */
    if (pid > 0)
        kill(pid, SIGTERM);
    errno = e;
}

#define TAIL 1000 /* bytes of stderr kept for the failure message */
#define SHOWN 200 /* of which at most this many are shown */

struct exec_state {
    char *command;
    char *shell;
    posix_spawnattr_t attr;
};

static void
state_free(struct exec_state *s)
{
    if (s == NULL)
        return;
    posix_spawnattr_destroy(&s->attr);
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

static int
exec_init(struct mproc_ctx *ctx)
{
    struct exec_state *s;
    const char *cmd = mproc_arg(ctx, "command", NULL);
    const char *shell = mproc_arg(ctx, "shell", "/bin/sh");
    const char *file = mproc_arg(ctx, "command_file", NULL);
    sigset_t all, none;

    if (cmd != NULL && file != NULL)
        return mproc_fail(ctx, "[args] command and command_file are both "
                               "set; keep one");
    if (file == NULL && (cmd == NULL || cmd[0] == '\0'))
        return mproc_fail(ctx, "[args] command is not set; e.g. command = "
                               "wc -c \"$1\"");
    if (shell[0] == '\0')
        return mproc_fail(ctx, "[args] shell is empty; e.g. shell = /bin/sh");
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return mproc_fail(ctx, "out of memory");
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
    posix_spawnattr_setflags(&s->attr,
                             POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
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
    /* A pool worker leads its process group, which the commands join.
     * There, wait for the command after a SIGTERM (it got one too) rather
     * than die at once and leave it to the final SIGKILL.  Elsewhere (a
     * Process) SIGTERM keeps its usual meaning. */
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
    state_free(ctx->state);
    ctx->state = NULL;
}

/* environ with MPROC_ITEM=item in place of any inherited one. */
static char **
make_env(char *item_var)
{
    size_t n = 0, i, j = 0;
    char **env;

    while (environ != NULL && environ[n] != NULL)
        n++;
    env = calloc(n + 2, sizeof(*env));
    if (env == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        if (strncmp(environ[i], "MPROC_ITEM=", 11) != 0)
            env[j++] = environ[i];
    env[j++] = item_var;
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
    char tail[TAIL + 1], buf[65536];
    const char *why;
    size_t tail_len = 0;
    posix_spawn_file_actions_t fa;
    bool fa_ready = false, overflow = false;
    pid_t pid = -1;

    (void)index;
    got_term = 0;
    if (memchr(in, '\0', len) != NULL)
        return mproc_fail(ctx, "the item holds a NUL byte; it cannot be "
                               "passed to a command");
    item = malloc(len + 1);
    item_var = malloc(len + 12);
    if (item == NULL || item_var == NULL) {
        r = mproc_fail(ctx, "out of memory");
        goto done;
    }
    memcpy(item, in, len);
    item[len] = '\0';
    memcpy(item_var, "MPROC_ITEM=", 11);
    memcpy(item_var + 11, in, len);
    item_var[len + 11] = '\0';
    env = make_env(item_var);
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
     * plugin or the host's code opened) are closed too: 0, 1, 2 only. */
    if ((e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
                                              0)) != 0 ||
        (e = posix_spawn_file_actions_adddup2(&fa, outp[1], 1)) != 0 ||
        (e = posix_spawn_file_actions_adddup2(&fa, errp[1], 2)) != 0
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
        || (e = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0
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
    if (got_term) {
        /* A limit signal came before the command existed: it is meant
         * for it all the same. */
        kill(pid, SIGTERM);
    }
    /* Our copies of the write ends must go, or the reads below would never
     * see end of file. */
    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;

    while (outp[0] >= 0 || errp[0] >= 0) {
        struct pollfd pfd[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            /* Cannot happen with valid fds; stop reading, and closing
             * below lets the command end on SIGPIPE rather than block. */
            break;
        }
        for (i = 0; i < 2; i++) {
            ssize_t n;
            if (pfd[i].fd < 0 || pfd[i].revents == 0)
                continue;
            n = read(pfd[i].fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close(pfd[i].fd);
                *(i == 0 ? &outp[0] : &errp[0]) = -1;
            } else if (i == 1) {
                tail_add(tail, &tail_len, buf, (size_t)n);
            } else if (!overflow &&
                       mproc_buf_append(out, buf, (size_t)n) !=
                           MPROC_TASK_OK) {
                /* Keep draining, so the command is not left blocked. */
                overflow = true;
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
    do
        r = (int)waitpid(pid, &st, 0);
    while (r < 0 && errno == EINTR);
    running = pid = -1;
    if (r < 0) {
        r = mproc_fail(ctx, "cannot wait for the command: %s",
                       strerror(errno));
        goto done;
    }
    why = tail_text(tail, tail_len);
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
    } else {
        r = MPROC_TASK_OK;
    }

done:
    if (fa_ready)
        posix_spawn_file_actions_destroy(&fa);
    for (i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
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
    MPROC_ARG_END,
};

MPROC_PLUGIN_DEFINE(.name = "exec", .version = "1.0",
                    .description = "run a shell command per item, like xargs",
                    .init = exec_init, .fini = exec_fini, .tasks = tasks,
                    .args = args);

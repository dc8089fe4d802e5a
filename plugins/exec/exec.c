/*
 * exec: run a shell command per item, like xargs -P.
 *
 * [args] command is run as `/bin/sh -c COMMAND sh ITEM`: the item reaches
 * the command as "$1" (and in the environment as MPROC_ITEM), as an
 * argument, never as part of the command text, so an item such as
 * `'; rm -rf ~` is data.  The task's output is the command's stdout; a
 * non-zero exit or a signal fails the item with the status and the end of
 * the command's stderr.  [args] shell chooses another shell.
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

#define TAIL 1000 /* bytes of stderr kept for the failure message */

struct exec_state {
    const char *command;
    const char *shell;
};

static int
exec_init(struct mproc_ctx *ctx)
{
    struct exec_state *s;
    const char *cmd = mproc_arg(ctx, "command", NULL);

    if (cmd == NULL || cmd[0] == '\0')
        return mproc_fail(ctx, "[args] command is not set; e.g. command = "
                               "wc -c \"$1\"");
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return mproc_fail(ctx, "out of memory");
    s->command = cmd;
    s->shell = mproc_arg(ctx, "shell", "/bin/sh");
    ctx->state = s;
    return MPROC_TASK_OK;
}

static void
exec_fini(struct mproc_ctx *ctx)
{
    free(ctx->state);
    ctx->state = NULL;
}

/* environ with MPROC_ITEM=item in place of any inherited one. */
static char **
make_env(char *item_var)
{
    size_t n = 0, i, j = 0;
    char **env;

    while (environ[n] != NULL)
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

/* The last line(s) of stderr, at most ~200 characters, for a message. */
static const char *
tail_text(char *tail, size_t len)
{
    char *p;

    while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == ' '))
        len--;
    tail[len] = '\0';
    if (len == 0)
        return "no error output";
    p = len > 200 ? tail + len - 200 : tail;
    for (char *q = p; *q; q++)
        if (*q == '\n')
            *q = ' ';
    return p;
}

static int
exec_run(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    const struct exec_state *s = ctx->state;
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, st = 0, r, open = 2;
    char *item = NULL, *item_var = NULL, **env = NULL;
    char tail[TAIL + 1], buf[65536], sig[32];
    size_t tail_len = 0;
    posix_spawn_file_actions_t fa;
    bool fa_ready = false, overflow = false;
    pid_t pid = -1;

    (void)index;
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
    if (env == NULL || pipe2(outp, O_CLOEXEC) < 0 ||
        pipe2(errp, O_CLOEXEC) < 0) {
        r = mproc_fail(ctx, "cannot set up the command: %s", strerror(errno));
        goto done;
    }
    posix_spawn_file_actions_init(&fa);
    fa_ready = true;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    {
        char *argv[] = {(char *)s->shell, (char *)"-c", (char *)s->command,
                        (char *)"sh", item, NULL};
        r = posix_spawn(&pid, s->shell, &fa, NULL, argv, env);
    }
    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;
    if (r != 0) {
        pid = -1;
        r = mproc_fail(ctx, "cannot run %s: %s", s->shell, strerror(r));
        goto done;
    }

    /* Read both pipes until both end, so a command that fills one while
     * we wait on the other cannot deadlock. */
    while (open > 0) {
        struct pollfd pfd[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
        int i;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
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
                if (i == 0)
                    outp[0] = -1;
                else
                    errp[0] = -1;
                open--;
                continue;
            }
            if (i == 0) {
                if (!overflow &&
                    mproc_buf_append(out, buf, (size_t)n) != MPROC_TASK_OK)
                    overflow = true;
            } else if ((size_t)n >= TAIL) {
                memcpy(tail, buf + n - TAIL, TAIL);
                tail_len = TAIL;
            } else {
                size_t keep = tail_len + (size_t)n > TAIL
                                  ? TAIL - (size_t)n : tail_len;
                memmove(tail, tail + tail_len - keep, keep);
                memcpy(tail + keep, buf, (size_t)n);
                tail_len = keep + (size_t)n;
            }
        }
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    pid = -1;
    if (WIFSIGNALED(st)) {
        const char *name = sigabbrev_np(WTERMSIG(st));
        snprintf(sig, sizeof(sig), "SIG%s", name ? name : "?");
        r = mproc_fail(ctx, "command killed by %s: %s", sig,
                       tail_text(tail, tail_len));
    } else if (WEXITSTATUS(st) != 0) {
        r = mproc_fail(ctx, "command exited with status %d: %s",
                       WEXITSTATUS(st), tail_text(tail, tail_len));
    } else if (overflow) {
        r = mproc_fail(ctx, "output exceeds the message limit");
    } else {
        r = MPROC_TASK_OK;
    }

done:
    if (fa_ready)
        posix_spawn_file_actions_destroy(&fa);
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    for (int i = 0; i < 2; i++) {
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

MPROC_PLUGIN_DEFINE(.name = "exec", .version = "1.0",
                    .description = "run a shell command per item, like xargs",
                    .init = exec_init, .fini = exec_fini, .tasks = tasks);

/* SPDX-License-Identifier: MIT */
/*
 * `mproc plugins`: list the plugins in the search path (or the folders
 * given with --path), with their version, ABI, tasks and description.
 * A file that does not load is listed on stderr with the reason, so a
 * broken install is visible here first.  `mproc plugins NAME` shows one
 * plugin in full, with the [args] it declares (as gst-inspect-1.0 does
 * for an element); `mproc plugins --build` (and `mproc --version`) shows
 * what this build has (as ompi_info does).  The [args] check of run and
 * check lives here too, beside what prints the declarations.
 */
#include "internal.h"
#include "paths.h" /* the install folders (made by make) */

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ipc/chan_int.h"
#include "plugin/plugin_int.h"

static const char plugins_usage[] =
    "Usage: mproc plugins [--path DIR]...\n"
    "       mproc plugins NAME-or-PATH\n"
    "       mproc plugins --build\n"
    "List the task plugins found: name, version, plugin ABI, file, tasks and\n"
    "description.  Without --path, the folders searched are those of\n"
    "MPROC_PLUGIN_PATH, then the install folder.  With a NAME, show that\n"
    "plugin's details, tasks and the [args] keys it takes.\n"
    "\n"
    "Each is listed by NAME, its file's name without .so: what a job gives\n"
    "as plugin = NAME.  Notes follow the path: (shadowed by PATH) when an\n"
    "earlier folder holds a NAME.so too (a job gets that one), and\n"
    "(descriptor name \"X\") when the plugin calls itself otherwise.\n"
    "\n"
    "  -p, --path DIR   list the plugins in DIR instead (may be repeated)\n"
    "  -b, --build      show this build: version, ABI, backends, start\n"
    "                   methods and paths (as mproc --version)\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit status: 0, 66 no plugin found, or a --path folder or PATH that\n"
    "does not exist, 78 a plugin does not load (NAME: or is not found).\n";

/*
 * Every plugin file is loaded in a forked child first: a constructor that
 * crashes (or calls exit()) ends that child, and the file is reported
 * with the signal, exit 78, instead of the command dying without a word;
 * `plugins` goes on with the other files.  Here and not in the library:
 * the command line is single-threaded until its pool starts, so the child
 * may call dlopen(), which a forked child of a threaded program may not.
 * A child still loading after PROBE_MS gives no verdict: `plugins` skips
 * the file (saying so: a constructor that never returns would hang the
 * whole listing), run and check warn and load it here as they always did
 * (a slow constructor is allowed there).
 */
#define PROBE_MS 10000

/* The probe's child: load the file, say so on `fd`, end without running
 * anything of the parent's (no atexit handler, no stdio buffer). */
static void __attribute__((noreturn))
probe_child(const char *path, int fd)
{
    struct sigaction sa;
    sigset_t all;
    int s, null;

    /* A crash must end the child, not run a handler of the parent's (a
     * backtrace, a self-pipe write the parent would read). */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL);
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
    /* A constructor that reads stdin must not eat the job's input, and
     * what it prints would be printed twice (the parent loads it too);
     * stderr stays, for what a crashing one says. */
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
    }
    /* Loaded or refused, it returned: a refusal is mproc__plugin_open's
     * to report, with dlerror()'s reason. */
    (void)dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (MPROC__NOINTR(write(fd, "L", 1)) < 0)
        _exit(1);
    _exit(0);
}

/* The file `spec` names (as mproc__plugin_open finds it), malloc'd;
 * NULL when there is none, which the loader then reports. */
static char *
plugin_file(const char *spec)
{
    char **dirs, *path = NULL;
    size_t i;

    if (strchr(spec, '/') != NULL)
        return access(spec, F_OK) == 0 ? strdup(spec) : NULL;
    dirs = mproc__plugin_dirs();
    for (i = 0; dirs != NULL && dirs[i] != NULL && path == NULL; i++) {
        if (asprintf(&path, "%s/%s.so", dirs[i], spec) < 0)
            path = NULL;
        else if (access(path, F_OK) != 0) {
            free(path);
            path = NULL;
        }
    }
    mproc__plugin_dirs_free(dirs);
    return path;
}

/* Run under a debugger or a tracer (TracerPid in /proc/self/status):
 * then no probe, whose child the debugger would follow (mproc rerun's
 * gdb follows the forks into the worker), and a crash while loading is
 * the debugger's to show. */
static bool
traced(void)
{
    char line[128];
    bool yes = false;
    FILE *f = fopen("/proc/self/status", "re");

    if (f == NULL)
        return false;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "TracerPid:", 10) == 0) {
            yes = strtol(line + 10, NULL, 10) != 0;
            break;
        }
    fclose(f);
    return yes;
}

/* Load `spec` in a child; 0, or the exit status after saying how the
 * child ended.  `where` ("FILE:LINE", or NULL) starts the messages;
 * `skip_slow`: a child still loading is an error (78), not a warning. */
static int
probe(const char *spec, const char *where, bool skip_slow)
{
    struct pollfd pfd = {-1, POLLIN, 0};
    char *path = NULL, c, at[PATH_MAX + 600];
    int fds[2] = {-1, -1}, st = 0, rc = 0, n;
    pid_t pid;

    if (spec == NULL || traced() || (path = plugin_file(spec)) == NULL)
        return 0;
    if (pipe2(fds, O_CLOEXEC) < 0)
        goto done; /* no verdict */
    /* The child must not write what the parent's buffers hold, should a
     * constructor call exit(). */
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        probe_child(path, fds[1]);
    close(fds[1]);
    if (pid < 0)
        goto done;
    pfd.fd = fds[0];
    do
        n = poll(&pfd, 1, PROBE_MS);
    while (n < 0 && errno == EINTR);
    if (n == 1 && MPROC__NOINTR(read(fds[0], &c, 1)) == 1) {
        MPROC__NOINTR(waitpid(pid, NULL, 0)); /* loaded: it ends now */
        goto done;
    }
    /* Ended without a word; or too slow (or a process its constructor
     * started holds the pipe): no verdict, unless it has ended. */
    /* Every message names the plugin after the setting that named it. */
    snprintf(at, sizeof(at), "%s%splugin %s", where ? where : "",
             where ? ": " : "", path);
    if (MPROC__NOINTR(waitpid(pid, &st, n == 0 ? WNOHANG : 0)) != pid) {
        kill(pid, SIGKILL);
        MPROC__NOINTR(waitpid(pid, NULL, 0));
        if (n != 0)
            goto done;
        if (!skip_slow) {
            fprintf(stderr, "mproc: warning: %s: still loading after %d s "
                    "in a trial load; loading it here (a constructor that "
                    "never returns hangs mproc: Ctrl-C)\n", at,
                    PROBE_MS / 1000);
            goto done;
        }
        cli_error("%s: still loading after %d s (a constructor or "
                  "initializer that waits?); skipped", at, PROBE_MS / 1000);
    } else if (WIFSIGNALED(st)) {
        const char *sig = sigabbrev_np(WTERMSIG(st));
        cli_error("%s: crashed while loading (SIG%s in a constructor or "
                  "initializer of the file or of a library it needs); fix "
                  "the plugin or remove it", at, sig ? sig : "?");
    } else {
        cli_error("%s: ended the process while loading (exit status %d "
                  "from a constructor or initializer); fix the plugin or "
                  "remove it", at, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    rc = CLI_EXIT_CONFIG;
done:
    if (fds[0] >= 0)
        close(fds[0]);
    free(path);
    return rc;
}

static const char *const arg_types[] = {
    [MPROC_ARG_STRING] = "string",     [MPROC_ARG_INT] = "int",
    [MPROC_ARG_BOOL] = "bool",         [MPROC_ARG_DURATION] = "duration",
    [MPROC_ARG_SIZE] = "size",         [MPROC_ARG_PATH] = "path",
    [MPROC_ARG_FILE] = "file",
};

int
cli_check_args(const struct cli_job *cj)
{
    struct mproc__plugin *p;
    char *const *warn;
    mproc_err_t err;
    size_t i, n;
    int r;

    /* Here, as run and check both come this way once. */
    n = mproc__config_warnings(cj->cfg, &warn);
    for (i = 0; i < n; i++)
        fprintf(stderr, "mproc: warning: %s\n", warn[i]);
    if ((r = probe(cj->job->plugin, cli_plugin_where(cj), false)) != 0)
        return r;
    if (cli_plugin_open(&p, cj->job->plugin, &err) < 0)
        return 0; /* the pool reports it, with where the plugin was set */
    r = mproc__config_check_args(cj->cfg, mproc__plugin_args(p->desc),
                                 p->desc->name, &err);
    mproc__plugin_close(p);
    if (r < 0) {
        cli_error("%s", err.msg);
        return cli_exit_for(r);
    }
    return 0;
}

/* `mproc plugins NAME`: one plugin in full. */
static int
inspect(const char *spec)
{
    const struct mproc_arg_def *a;
    const struct mproc_task_def *t;
    const struct mproc_plugin *d;
    struct mproc__plugin *p;
    mproc_err_t err;
    int r;

    if (strchr(spec, '/') != NULL &&
        (r = cli_check_plugin_file(spec, NULL)) != 0)
        return r;
    if ((r = probe(spec, NULL, false)) != 0)
        return r;
    if ((r = cli_plugin_open(&p, spec, &err)) < 0) {
        /* No file at that path: a missing file (66), as for a job file.
         * A NAME in no folder of the search path stays 78, what run and
         * check give for a job's plugin not found. */
        bool missing = r == MPROC_EPLUGIN && strchr(spec, '/') != NULL &&
                       access(spec, F_OK) != 0 &&
                       (errno == ENOENT || errno == ENOTDIR);

        cli_error("%s", err.msg);
        return missing ? CLI_EXIT_NOINPUT : cli_exit_for(r);
    }
    d = p->desc;
    printf("Plugin Details:\n");
    printf("  %-20s %s\n", "Name", cli_esc(d->name));
    printf("  %-20s %s\n", "Description",
           d->description ? cli_esc(d->description) : "");
    printf("  %-20s %s\n", "Version", d->version ? cli_esc(d->version) : "?");
    printf("  %-20s %u.%u\n", "Plugin ABI", (unsigned)d->abi_major,
           (unsigned)d->abi_minor);
    printf("  %-20s %s\n", "Filename", cli_esc(p->path));
    printf("  %-20s %s\n", "Reduces",
           d->reduce ? "yes: the output is its reduce_end result" : "no");
    printf("\nTasks ([job] task):\n");
    for (t = d->tasks; t->name != NULL; t++)
        printf("  %-20s %s\n", cli_esc(t->name),
               t->description ? cli_esc(t->description) : "");
    printf("\nArguments ([args]):\n");
    if ((a = mproc__plugin_args(d)) == NULL)
        printf("  not declared (plugin ABI %u.%u): [args] is passed on "
               "unchecked\n",
               (unsigned)d->abi_major, (unsigned)d->abi_minor);
    else if (a->name == NULL)
        printf("  none\n");
    for (; a != NULL && a->name != NULL; a++) {
        printf("  %-20s %s\n", cli_esc(a->name), a->help ? cli_esc(a->help) : "");
        printf("  %-20s %s", "", arg_types[a->type]);
        if (a->flags & MPROC_ARG_REQUIRED)
            printf(", required%s%s%s", a->alternative ? " (or " : "",
                   a->alternative ? a->alternative : "",
                   a->alternative ? ")" : "");
        if (a->dflt != NULL)
            printf(", default: %s", cli_esc(a->dflt));
        putchar('\n');
    }
    mproc__plugin_close(p);
    return CLI_EXIT_OK;
}

int
cli_build_info(void)
{
    static const char *const ipcs[] = {"pipe", "mq", "shmring"};
    const char *const *b = mproc_sync_backends();
    char **dirs = mproc__plugin_dirs();
    const char *env = getenv("MPROC_PLUGIN_PATH");
    mproc_sync_t *s;
    mproc_err_t err;
    size_t i;

    /* The first line as it always was, for scripts that read it. */
    printf("mproc %s (plugin ABI %d.%d)\n", mproc_version(),
           MPROC_PLUGIN_ABI_MAJOR, MPROC_PLUGIN_ABI_MINOR);
    printf("  %-22s fork (default), spawn, forkserver\n", "start methods");
    /* Tried, not assumed: a container may lack System V IPC or
     * /dev/shm. */
    printf("  %-22s", "sync backends");
    for (i = 0; b != NULL && b[i] != NULL; i++) {
        bool ok = mproc_sync_new(&s, b[i], 64, &err) == 0;
        if (ok)
            mproc_sync_free(s);
        printf("%s %s%s%s", i ? "," : "", b[i], i == 0 ? " (default)" : "",
               ok ? "" : " (unavailable here)");
    }
    printf("\n  %-22s", "ipc");
    for (i = 0; i < MPROC__ARRAY_SIZE(ipcs); i++)
        printf("%s %s%s%s", i ? "," : "", ipcs[i], i == 0 ? " (default)" : "",
               i == 1 && !mproc__mq_fits(2, &err) ? " (unavailable here)"
                                                  : "");
    printf("\n  %-22s %s\n", "plugin folder", MPROC_PLUGINDIR);
    printf("  %-22s %s\n", "MPROC_PLUGIN_PATH", env ? env : "(not set)");
    printf("  %-22s", "plugin search path");
    for (i = 0; dirs != NULL && dirs[i] != NULL; i++)
        printf("%s%s", i ? ":" : " ", dirs[i]);
    putchar('\n');
    mproc__plugin_dirs_free(dirs);
#ifdef MPROC_PKGDATADIR
    printf("  %-22s %s\n", "data folder", MPROC_PKGDATADIR);
#endif
    return CLI_EXIT_OK;
}

/*
 * The plugin files met so far, in the order listed: a job's `plugin =
 * NAME` loads the first NAME.so of the search path (find_plugin() in
 * plugin/plugin.c: the first that exists, loadable or not), so a later
 * file of the same NAME is never loaded by name.
 */
struct seen {
    char **names; /* NAME, without .so */
    char **paths;
    size_t n, cap;
    bool missing; /* a --path folder does not exist (66, as ls's 2) */
};

/* The path of the first file met named `name`, or NULL (then it is
 * remembered as that first one). */
static const char *
shadowed_by(struct seen *s, const char *name, const char *path)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return s->paths[i];
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **a = realloc(s->names, cap * sizeof(*a)), **b;
        if (a == NULL)
            return NULL;
        s->names = a;
        if ((b = realloc(s->paths, cap * sizeof(*b))) == NULL)
            return NULL;
        s->paths = b;
        s->cap = cap;
    }
    s->names[s->n] = strdup(name);
    s->paths[s->n] = strdup(path);
    if (s->names[s->n] == NULL || s->paths[s->n] == NULL) {
        free(s->names[s->n]);
        free(s->paths[s->n]);
        return NULL;
    }
    s->n++;
    return NULL;
}

static void
seen_free(struct seen *s)
{
    while (s->n > 0) {
        s->n--;
        free(s->names[s->n]);
        free(s->paths[s->n]);
    }
    free(s->names);
    free(s->paths);
}

/* List one folder; returns the number of broken files. */
static int
list_dir(const char *dir, bool given, unsigned *found, struct seen *seen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int broken = 0;

    if (d == NULL) {
        /* A search folder that does not exist holds nothing; one the
         * user named is said. */
        if (given) {
            cli_error("plugins: %s: %s", dir, strerror(errno));
            seen->missing = true;
        }
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        /* Plugins are NAME.so; libNAME.so files beside them (libmproc in
         * the build tree) are libraries, not plugins.  Hidden ones
         * (.NAME.so) are listed: `plugin = .NAME` loads them. */
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0 ||
            strncmp(e->d_name, "lib", 3) == 0)
            continue;
        if (n == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 16) *
                                          sizeof(*names));
            if (p == NULL)
                break;
            names = p;
        }
        names[n] = strdup(e->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), cli_cmp_str);
    for (i = 0; i < n; i++) {
        struct mproc__plugin *p;
        const struct mproc_task_def *t;
        const char *by;
        mproc_err_t err;
        char path[4200];

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        /* names[i] becomes NAME, the name a job gives. */
        names[i][strlen(names[i]) - 3] = '\0';
        by = shadowed_by(seen, names[i], path);
        if (cli_check_plugin_file(path, NULL) != 0 ||
            probe(path, NULL, true) != 0) {
            free(names[i]);
            broken++;
            continue;
        }
        if (cli_plugin_open(&p, path, &err) < 0) {
            cli_error("%s", err.msg);
            free(names[i]);
            broken++;
            continue;
        }
        (*found)++;
        printf("%s %s  ABI %u.%u  %s", cli_esc(names[i]),
               p->desc->version ? cli_esc(p->desc->version) : "?",
               (unsigned)p->desc->abi_major, (unsigned)p->desc->abi_minor,
               cli_esc(p->path));
        /* What a job naming it would not get, or would not expect. */
        if (by != NULL)
            printf("  (shadowed by %s)", cli_esc(by));
        if (!mproc__is_name(names[i]))
            printf("  (not a NAME a job can give; plugin = its path)");
        if (strcmp(p->desc->name, names[i]) != 0)
            printf("  (descriptor name \"%s\")", cli_esc(p->desc->name));
        putchar('\n');
        free(names[i]);
        if (p->desc->description != NULL)
            printf("    %s\n", cli_esc(p->desc->description));
        for (t = p->desc->tasks; t->name != NULL; t++)
            printf("    task %s%s%s\n", cli_esc(t->name),
                   t->description ? ": " : "",
                   t->description ? cli_esc(t->description) : "");
        if (p->desc->reduce != NULL)
            printf("    reduces its outputs in the parent\n");
        mproc__plugin_close(p);
    }
    free(names);
    return broken;
}

int
cmd_plugins(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"path", required_argument, NULL, 'p'},
        {"build", no_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char **given = calloc((size_t)argc + 1, sizeof(*given));
    struct seen seen = {NULL, NULL, 0, 0, false};
    char **dirs;
    size_t ngiven = 0, i;
    unsigned found = 0;
    int c, broken = 0;

    if (given == NULL)
        return CLI_EXIT_SOFTWARE;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:bh", longopts, NULL)) != -1) {
        if (c == 'p') {
            given[ngiven++] = optarg;
        } else if (c == 'b') {
            free(given);
            return cli_build_info();
        } else if (c == 'h') {
            fputs(plugins_usage, stdout);
            free(given);
            return CLI_EXIT_OK;
        } else {
            cli_error("plugins: unknown option or missing value: '%s'",
                      argv[optind - 1]);
            cli_try_help("plugins");
            free(given);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind + 1 == argc && ngiven == 0) {
        free(given);
        return inspect(argv[optind]);
    }
    if (optind < argc) {
        /* One NAME is taken: the extra one is the next. */
        c = ngiven == 0 ? optind + 1 : optind;
        cli_error("plugins: unexpected argument '%s'%s", argv[c],
                  ngiven ? " (a NAME goes without --path)" : "");
        free(given);
        return CLI_EXIT_USAGE;
    }
    if (ngiven > 0) {
        for (i = 0; i < ngiven; i++)
            broken += list_dir(given[i], true, &found, &seen);
    } else {
        dirs = mproc__plugin_dirs();
        for (i = 0; dirs != NULL && dirs[i] != NULL; i++)
            broken += list_dir(dirs[i], false, &found, &seen);
        mproc__plugin_dirs_free(dirs);
    }
    seen_free(&seen);
    free(given);
    if (found == 0 && broken == 0 && !seen.missing)
        cli_error(ngiven > 0 ? "no plugins found in the --path folders"
                             : "no plugins found; set MPROC_PLUGIN_PATH or "
                               "use --path");
    if (broken)
        return CLI_EXIT_CONFIG;
    return found == 0 || seen.missing ? CLI_EXIT_NOINPUT : CLI_EXIT_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * `mproc slurm JOB.ini --shards N [SBATCH OPTIONS]`: run a job as the N
 * shards of a Slurm job array, then merge them, with one command.
 *
 * Two scripts are written to the current folder and submitted with
 * `sbatch --parsable`: the array (--array=0-(N-1); each task runs `mproc
 * run JOB --shard slurm/N`, with as many workers as SLURM_CPUS_PER_TASK
 * when Slurm sets it), and the merge (`mproc merge`, submitted with
 * --dependency=afterok:ARRAY, so it runs once every shard succeeded).
 * The job ids are printed.  Every path in the scripts is absolute, of
 * --set options too (the config says which values hold one): a task may
 * start in another folder of the cluster's shared file system.
 * N is written into the script: resubmitting one failed task (sbatch
 * --array=2 SCRIPT) does not re-shard the input.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config_int.h"
#include "plugin/plugin_int.h"

static const char slurm_usage[] =
    "Usage: mproc slurm JOB.ini --shards N [--joblog LOG] [--resume]\n"
    "          [--set SECTION.KEY=VALUE]... [--dry-run] [SBATCH OPTIONS]...\n"
    "          [-- SBATCH ARGS...]\n"
    "Run the job as the N shards of a Slurm job array (one shard per array\n"
    "task), then merge them in a job that waits for the array to succeed.\n"
    "\n"
    "  -n, --shards N     the number of shards (the array is 0-(N-1))\n"
    "  -j, --joblog LOG   the shards' job logs, LOG.shard-K-of-N, and the\n"
    "                     merged one (default: the job's output + .joblog)\n"
    "      --resume       the tasks run with --resume: resubmit after a\n"
    "                     failure, and only what did not run runs\n"
    "  -s, --set SECTION.KEY=VALUE  passed to mproc run and mproc merge,\n"
    "                     a path in VALUE made absolute\n"
    "      --dry-run      print the two scripts and the sbatch commands;\n"
    "                     write and submit nothing\n"
    "  -h, --help         show this help\n"
    "\n"
    "Every other option goes to sbatch, for both jobs, as --name=value, or\n"
    "anything after -- (e.g. --partition=P --time=1:00:00, or -- -c 8: each\n"
    "task then runs 8 workers).\n"
    "The scripts are written to the current folder as\n"
    "mproc-slurm-NAME-array.sh and mproc-slurm-NAME-merge.sh; sbatch is\n"
    "found in PATH, or named by MPROC_SBATCH.  Prints the two job ids.\n"
    "Exit status: 0 submitted, 64 usage error, 66 a file is missing, 69\n"
    "sbatch failed or is missing.\n";

struct slurm {
    char job[PATH_MAX];   /* the job file, absolute */
    char mproc[PATH_MAX]; /* this program, absolute */
    char *log;            /* absolute */
    char name[64];        /* the job file's name, for job and file names */
    unsigned long n;
    bool resume, dry_run;
    char **sets;          /* paths absolute (absolute_sets()) */
    char **owned;         /* the sets made here */
    size_t nsets;
    char **sbatch;        /* options for sbatch */
    size_t nsbatch;
};

/* Write s single-quoted for sh (quote inside: '\''). */
static void
put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s != '\0'; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

static void
put_sets(FILE *f, const struct slurm *s)
{
    size_t i;

    for (i = 0; i < s->nsets; i++) {
        fputs(" --set ", f);
        put_quoted(f, s->sets[i]);
    }
}

/* The array script: one shard per task. */
static void
array_script(FILE *f, const struct slurm *s)
{
    fprintf(f, "#!/bin/sh\n"
               "# Written by mproc slurm: shard $SLURM_ARRAY_TASK_ID of %lu "
               "of the job below.\n"
               "# Resubmit a failed task with: sbatch --array=K THIS_SCRIPT "
               "(N stays %lu).\n"
               "#SBATCH --job-name=mproc-%s\n"
               "#SBATCH --array=0-%lu\n"
               "set -e\n"
               "exec ",
            s->n, s->n, s->name, s->n - 1);
    put_quoted(f, s->mproc);
    fputs(" run ", f);
    put_quoted(f, s->job);
    fprintf(f, " --shard slurm/%lu --joblog ", s->n);
    put_quoted(f, s->log);
    if (s->resume)
        fputs(" --resume", f);
    put_sets(f, s);
    /* Workers: the CPUs Slurm gave the task (else mproc's auto, which
     * follows the task's CPU affinity). */
    fputs(" ${SLURM_CPUS_PER_TASK:+--workers \"$SLURM_CPUS_PER_TASK\"}"
          " --stats text\n", f);
}

static void
merge_script(FILE *f, const struct slurm *s)
{
    fprintf(f, "#!/bin/sh\n"
               "# Written by mproc slurm: merges the %lu shards once they "
               "all succeeded.\n"
               "#SBATCH --job-name=mproc-%s-merge\n"
               "set -e\n"
               "exec ",
            s->n, s->name);
    put_quoted(f, s->mproc);
    fputs(" merge ", f);
    put_quoted(f, s->job);
    fprintf(f, " --shards %lu --joblog ", s->n);
    put_quoted(f, s->log);
    put_sets(f, s);
    fputc('\n', f);
}

/* Write a script to `path` with gen(), mode 0755: 0 or an exit status. */
static int
write_script(const char *path, void (*gen)(FILE *, const struct slurm *),
             const struct slurm *s)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    FILE *f;

    if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
        cli_error("slurm: cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_EXIT_CANTCREAT;
    }
    gen(f, s);
    if (fclose(f) != 0) {
        cli_error("slurm: cannot write %s: %s", path, strerror(errno));
        return CLI_EXIT_IOERR;
    }
    return 0;
}

/*
 * The job id in what sbatch printed, moved to the start of `out`: the
 * last line that is a number (--parsable's "ID" or "ID;CLUSTER"), or
 * that ends "Submitted batch job ID" (an sbatch wrapper that drops
 * --parsable).  False when there is none: the id is what the dependency
 * and the messages name, and a word there would submit a merge that
 * waits for nothing.
 */
static bool
job_id(char *out)
{
    const char *line = out, *found = NULL;
    size_t flen = 0;

    while (*line != '\0') {
        size_t n = strcspn(line, "\n"), k = strcspn(line, ";\n"), d;
        const char *p = line;

        if (n > 20 && strncmp(line, "Submitted batch job ", 20) == 0) {
            p = line + 20;
            k = n - 20;
        }
        while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\r'))
            k--;
        d = strspn(p, "0123456789");
        if (k > 0 && d == k) {
            found = p;
            flen = k;
        }
        line += n + (line[n] == '\n');
    }
    if (found == NULL)
        return false;
    memmove(out, found, flen);
    out[flen] = '\0';
    return true;
}

/*
 * Run sbatch --parsable [extra] [the user's options] SCRIPT; the job id
 * (job_id()) into id.  0, or an exit
 * status after printing why.
 */
static int
sbatch(const struct slurm *s, const char *extra, const char *script,
       char *id, size_t cap)
{
    const char *prog = getenv("MPROC_SBATCH");
    char **argv = calloc(s->nsbatch + 5, sizeof(*argv));
    posix_spawn_file_actions_t fa;
    int fds[2], status, r = 0;
    char out[4096];
    size_t n = 0, i;
    ssize_t got;
    pid_t pid;

    if (prog == NULL || prog[0] == '\0')
        prog = "sbatch";
    if (argv == NULL || pipe2(fds, O_CLOEXEC) != 0) {
        free(argv);
        cli_error("slurm: %s", strerror(errno));
        return CLI_EXIT_SOFTWARE;
    }
    argv[n++] = (char *)prog;
    argv[n++] = (char *)"--parsable";
    if (extra != NULL)
        argv[n++] = (char *)extra;
    for (i = 0; i < s->nsbatch; i++)
        argv[n++] = s->sbatch[i];
    argv[n++] = (char *)script;
    fflush(stdout);
    /* posix_spawnp: nothing of ours runs in the child (the dup2 clears
     * CLOEXEC on the copy). */
    r = posix_spawn_file_actions_init(&fa);
    if (r == 0)
        r = posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    if (r == 0)
        r = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    free(argv);
    if (r != 0) {
        close(fds[0]);
        cli_error("slurm: cannot run %s: %s (is Slurm installed? "
                  "MPROC_SBATCH names another sbatch)", prog, strerror(r));
        return 69;
    }
    /* All of it, to its end (sbatch must not block on a full pipe); the
     * last OUT_MAX bytes kept, where the id is. */
    n = 0;
    while ((got = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0 ||
           (got < 0 && errno == EINTR)) {
        n += got > 0 ? (size_t)got : 0;
        if (n == sizeof(out) - 1) {
            memmove(out, out + n / 2, n - n / 2);
            n -= n / 2;
        }
    }
    out[n] = '\0';
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    r = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 127) {
        cli_error("slurm: cannot run %s (is Slurm installed? MPROC_SBATCH "
                  "names another sbatch)", prog);
        r = 69;
    } else if (WEXITSTATUS(status) != 0) {
        cli_error("slurm: %s %s failed (exit %d); its message is above",
                  prog, script, WEXITSTATUS(status));
        r = 69;
    } else if (!job_id(out) || strlen(out) >= cap) {
        cli_error("slurm: %s %s printed no job id (expected a number, as "
                  "sbatch --parsable prints; got '%.*s'); squeue shows "
                  "whether it was submitted", prog, script,
                  (int)strcspn(out, "\n"), out);
        r = 69;
    } else {
        memcpy(id, out, strlen(out) + 1);
    }
    return r;
}

/* The job file's name without folder and .ini, as a job name. */
static void
job_name(struct slurm *s, const char *path)
{
    const char *b = strrchr(path, '/');
    size_t i;

    snprintf(s->name, sizeof(s->name), "%s", b ? b + 1 : path);
    i = strlen(s->name);
    if (i > 4 && strcmp(s->name + i - 4, ".ini") == 0)
        s->name[i - 4] = '\0';
    for (i = 0; s->name[i] != '\0'; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_.-", s->name[i]))
            s->name[i] = '_';
}

static int
submit(struct slurm *s)
{
    char array[PATH_MAX + 64], merge[PATH_MAX + 64], dep[96], aid[64],
        mid[64];
    int rc;
    size_t i;

    snprintf(array, sizeof(array), "mproc-slurm-%s-array.sh", s->name);
    snprintf(merge, sizeof(merge), "mproc-slurm-%s-merge.sh", s->name);
    if (s->dry_run) {
        printf("# %s\n", array);
        array_script(stdout, s);
        printf("\n# %s\n", merge);
        merge_script(stdout, s);
        printf("\n# submitted with:\nsbatch --parsable");
        for (i = 0; i < s->nsbatch; i++)
            printf(" %s", s->sbatch[i]);
        printf(" %s\nsbatch --parsable --dependency=afterok:ARRAY_JOB_ID",
               array);
        for (i = 0; i < s->nsbatch; i++)
            printf(" %s", s->sbatch[i]);
        printf(" %s\n", merge);
        return 0;
    }
    if ((rc = write_script(array, array_script, s)) != 0 ||
        (rc = write_script(merge, merge_script, s)) != 0)
        return rc;
    rc = sbatch(s, NULL, array, aid, sizeof(aid));
    if (rc != 0)
        return rc;
    snprintf(dep, sizeof(dep), "--dependency=afterok:%s", aid);
    rc = sbatch(s, dep, merge, mid, sizeof(mid));
    if (rc != 0) {
        cli_error("slurm: the array is submitted (job %s), but not the "
                  "merge: run %s once it is done", aid, merge);
        return rc;
    }
    printf("array job %s: %lu shards of %s (%s)\n", aid, s->n, s->job, array);
    printf("merge job %s: after all of them succeed (%s)\n", mid, merge);
    return 0;
}

/* path made absolute against the current folder, into out. */
static bool
absolute(const char *path, char *out, size_t cap)
{
    char cwd[PATH_MAX];

    if (path[0] == '/')
        return snprintf(out, cap, "%s", path) < (int)cap;
    return getcwd(cwd, sizeof(cwd)) != NULL &&
           snprintf(out, cap, "%s/%s", cwd, path) < (int)cap;
}

/*
 * The --set `set` with the path in its value (if the config says the key
 * holds one) made absolute against `cwd`: a task resolves a relative
 * --set path against its own folder, which sbatch --chdir (or Slurm's
 * default) may make another.  NULL: out of memory.
 */
static char *
absolute_set(const char *set, const struct mproc_arg_def *defs,
             const char *cwd)
{
    const char *dot = strchr(set, '.'), *eq = strchr(set, '='), *path;
    char *section = NULL, *key = NULL, *out = NULL;
    ssize_t at;

    if (dot == NULL || eq == NULL || eq < dot)
        return strdup(set);
    if ((section = strndup(set, (size_t)(dot - set))) == NULL ||
        (key = strndup(dot + 1, (size_t)(eq - dot - 1))) == NULL)
        goto done;
    at = mproc__config_path_at(section, key, eq + 1, defs);
    path = eq + 1 + (at < 0 ? 0 : at);
    if (at < 0 || path[0] == '/') {
        out = strdup(set);
        goto done;
    }
    while (path[0] == '.' && path[1] == '/')
        for (path += 2; path[0] == '/'; path++)
            ;
    if (asprintf(&out, "%.*s%s%s%s", (int)(eq + 1 + at - set), set, cwd,
                 strcmp(cwd, "/") == 0 ? "" : "/", path) < 0)
        out = NULL;
done:
    free(section);
    free(key);
    return out;
}

/* Every --set path made absolute (absolute_set()): 0 or an exit status
 * after printing why.  [args] paths need the plugin's declarations; a
 * plugin that does not load here leaves them as given. */
static int
absolute_sets(struct slurm *s, const struct cli_job *cj)
{
    struct mproc__plugin *p = NULL;
    mproc_err_t err;
    char cwd[PATH_MAX];
    size_t i;

    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        cli_error("slurm: the current folder: %s", strerror(errno));
        return CLI_EXIT_SOFTWARE;
    }
    if (cli_plugin_open(&p, cj->job->plugin, &err) != 0)
        p = NULL;
    for (i = 0; i < s->nsets; i++) {
        if ((s->owned[i] = absolute_set(s->sets[i],
                                        p ? mproc__plugin_args(p->desc)
                                          : NULL,
                                        cwd)) == NULL)
            break;
        s->sets[i] = s->owned[i];
    }
    if (p != NULL)
        mproc__plugin_close(p);
    if (i < s->nsets) {
        cli_error("out of memory");
        return CLI_EXIT_SOFTWARE;
    }
    return 0;
}

int
cmd_slurm(int argc, char **argv)
{
    struct slurm s = {0};
    struct cli_job cj = {0};
    const char *path = NULL, *log = NULL;
    char logbuf[PATH_MAX], *end;
    int i, rc = CLI_EXIT_USAGE;

    s.sets = calloc((size_t)argc, sizeof(*s.sets));
    s.owned = calloc((size_t)argc, sizeof(*s.owned));
    s.sbatch = calloc((size_t)argc, sizeof(*s.sbatch));
    if (s.sets == NULL || s.owned == NULL || s.sbatch == NULL) {
        cli_error("out of memory");
        rc = CLI_EXIT_SOFTWARE;
        goto done;
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        bool has_value = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(slurm_usage, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        } else if (strcmp(a, "--dry-run") == 0) {
            s.dry_run = true;
        } else if (strcmp(a, "--resume") == 0) {
            s.resume = true;
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--shards") == 0 ||
                   strncmp(a, "--shards=", 9) == 0) {
            v = a[1] == 'n' ? (has_value ? argv[++i] : NULL)
                : a[8] == '=' ? a + 9 : (has_value ? argv[++i] : NULL);
            errno = 0;
            s.n = v != NULL ? strtoul(v, &end, 10) : 0;
            if (v == NULL || v[0] < '1' || v[0] > '9' || *end != '\0' ||
                errno != 0 || s.n > 1000000) {
                cli_error("slurm: --shards: expected a number of shards "
                          "from 1 to 1000000, got '%s'", v ? v : "");
                goto usage;
            }
        } else if (strcmp(a, "-j") == 0 || strcmp(a, "--joblog") == 0) {
            if (!has_value)
                goto needs;
            log = argv[++i];
        } else if (strcmp(a, "-s") == 0 || strcmp(a, "--set") == 0) {
            if (!has_value)
                goto needs;
            s.sets[s.nsets++] = argv[++i];
        } else if (strcmp(a, "--") == 0) {
            while (++i < argc) /* all sbatch's, e.g. -c 2 */
                s.sbatch[s.nsbatch++] = argv[i];
        } else if (a[0] == '-' && a[1] != '\0') {
            s.sbatch[s.nsbatch++] = argv[i]; /* sbatch's */
        } else if (path == NULL) {
            path = a;
        } else {
            cli_error("slurm: give one job file (and sbatch options as "
                      "--name=value, or after --); got '%s' too", a);
            goto usage;
        }
        continue;
    needs:
        cli_error("slurm: option %s needs a value", a);
        goto usage;
    }
    if (path == NULL || s.n == 0) {
        cli_error("slurm: give a job file and --shards N");
        goto usage;
    }
    rc = cli_job_load(&cj, path, s.sets, s.nsets);
    if (rc != 0)
        goto done;
    if (cj.job->output == NULL) {
        cli_error("slurm: %s writes to stdout; set [job] output (a path "
                  "on the cluster's shared file system) so that the shards "
                  "write files to merge", path);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (cj.job->input_kind == MPROC__INPUT_STDIN) {
        cli_error("slurm: %s reads stdin, which cannot be split into "
                  "shards; give input = lines:FILE, range:A..B or files:...",
                  path);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (log == NULL) {
        snprintf(logbuf, sizeof(logbuf), "%s.joblog", cj.job->output);
        log = logbuf;
    }
    job_name(&s, path);
    if (!cli_self_exe("slurm", s.mproc, sizeof(s.mproc))) {
        rc = CLI_EXIT_SOFTWARE;
        goto done;
    }
    if (!absolute(path, s.job, sizeof(s.job)) ||
        (s.log = malloc(PATH_MAX)) == NULL || !absolute(log, s.log, PATH_MAX)) {
        cli_error("slurm: a path is too long, or /proc is not mounted");
        rc = CLI_EXIT_SOFTWARE;
        goto done;
    }
    if ((rc = absolute_sets(&s, &cj)) == 0)
        rc = submit(&s);
    goto done;

usage:
    cli_try_help("slurm");
done:
    cli_job_free(&cj);
    free(s.log);
    for (i = 0; s.owned != NULL && i < argc; i++)
        free(s.owned[i]);
    free(s.owned);
    free(s.sets);
    free(s.sbatch);
    return rc;
}

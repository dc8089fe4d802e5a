/* SPDX-License-Identifier: MIT */
/*
 * `mproc check`: validate a job without running it.  It loads the config
 * with its overrides, loads the plugin and finds the task (in this
 * process: no worker starts), opens the input, and prints the settings
 * the run would use.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ipc/chan_int.h"
#include "manager/mgrjob_int.h"
#include "plugin/plugin_int.h"
#include "pool/pool_int.h"

static const char check_usage[] =
    "Usage: mproc check JOB.ini [--set SECTION.KEY=VALUE]...\n"
    "Check a job file, its plugin, task and input without running it, and\n"
    "print the settings a run would use (one 'key = value' per line, with\n"
    "where each was set).\n"
    "\n"
    "  -s, --set SECTION.KEY=VALUE  override or add a key, as for run\n"
    "  -h, --help                   show this help\n"
    "\n"
    "Exit status: 0 the job is valid, 64 usage error, 66 a file is\n"
    "missing, 74 writing the output failed, 78 config or plugin error.\n";

static void
show(const struct cli_job *cj, const char *section, const char *key,
     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Print s with its control bytes as \xHH: one setting is one line (a
 * value with a newline forged a setting line of its own). */
static void
put_safe(const char *s)
{
    size_t cap = 8 * strlen(s) + 1;
    char *b = malloc(cap);

    fputs(b != NULL ? mproc__esc_ctl(b, cap, s, false) : "?", stdout);
    free(b);
}

/* [manager] (mgrjob16): what a run would start or reach. */
static void
show_manager(const mproc_config_t *cfg)
{
    static const char *const names[MPROC__MGR_NKEYS] = {
        "address", "authkey_file", "start", "objects"};
    static const char *const unset[MPROC__MGR_NKEYS] = {
        "(a private unix: socket; the run's processes find it in "
        "$" MPROC__MGR_ENV_ADDRESS ")",
        "(a new key for the run, in a private folder; the run's processes "
        "find it in $" MPROC__MGR_ENV_KEYFILE ")",
        "no", "(none)"};
    const struct mproc__mgrconf *m = mproc__config_manager(cfg);
    const char *v;
    int k;

    if (!m->set)
        return;
    for (k = 0; k < MPROC__MGR_NKEYS; k++) {
        v = mproc__mgrconf_value(m, k);
        if (k == MPROC__MGR_START)
            v = m->start ? "yes    (started for the run, stopped at its end)"
                         : "no    (a running manager: the run connects)";
        printf("manager.%s = ", names[k]);
        put_safe(v ? v : unset[k]);
        if (m->slot[k].where != NULL) {
            fputs("    # ", stdout);
            put_safe(m->slot[k].where);
        }
        putchar('\n');
    }
}

static void
show(const struct cli_job *cj, const char *section, const char *key,
     const char *fmt, ...)
{
    const char *where = mproc_config_where(cj->cfg, section, key);
    char value[4200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    printf("%s.%s = ", section, key);
    put_safe(value);
    if (where != NULL) {
        fputs("    # ", stdout);
        put_safe(where);
    }
    putchar('\n');
}

/* [job] shard: which items this shard runs (mproc(1), "Running on a
 * cluster").  Found before the job is said valid (an input that cannot
 * be split makes it invalid): 0 with *known set when the shard is
 * resolved here, or an exit status after printing why. */
static int
find_shard(const struct cli_job *cj, struct cli_input *in,
           struct cli_shard *sh, bool *known)
{
    const struct mproc__job *job = cj->job;

    *known = false;
    if (job->shard_n == 0 ||
        (job->shard_k < 0 && getenv("SLURM_ARRAY_TASK_ID") == NULL))
        return 0;
    *known = true;
    return cli_input_shard(in, job, true, sh);
}

static void
show_shard(const struct cli_job *cj, const struct cli_shard *sh, bool known)
{
    const struct mproc__job *job = cj->job;

    static const char *const syncs[] = {"none", "batch", "item"};

    show(cj, "job", "joblog_sync", "%s", syncs[job->joblog_sync]);
    show(cj, "job", "shard_mode", "%s",
         cli_joblog_mode_name(job->shard_mode));
    if (job->shard_n == 0) {
        show(cj, "job", "shard", "none    (the whole input)");
        return;
    }
    if (!known) {
        show(cj, "job", "shard", "slurm/%lld    (K from "
             "SLURM_ARRAY_TASK_ID, not set here)", (long long)job->shard_n);
        return;
    }
    show(cj, "job", "shard", "%llu/%llu    (%s: %llu of %llu items%s; "
         "output and joblog get .shard-%llu-of-%llu)",
         (unsigned long long)sh->k, (unsigned long long)sh->n,
         cli_joblog_mode_name(sh->mode), (unsigned long long)sh->count,
         (unsigned long long)sh->total,
         sh->mode == MPROC__SHARD_STRIDE ? ", every Nth from K" : "",
         (unsigned long long)sh->k, (unsigned long long)sh->n);
    if (sh->mode == MPROC__SHARD_CONTIGUOUS && sh->count > 0)
        printf("#   items %llu to %llu of the input\n",
               (unsigned long long)sh->lo,
               (unsigned long long)(sh->lo + sh->count - 1));
}

int
cmd_check(int argc, char **argv)
{
    static const char *on_error[] = {"continue", "abort"};
    struct cli_job cj = {0};
    struct cli_args args;
    struct cli_input *in = NULL;
    struct cli_shard sh;
    bool sh_known;
    mproc_pool_t *pool = NULL;
    mproc_sync_t *shared = NULL;
    const struct mproc__decl *decl;
    const struct mproc__plugin *pl;
    const struct mproc_kv *kv;
    const struct mproc__job *job;
    size_t i, n;
    int rc;

    rc = cli_args_parse(&args, argc, argv, check_usage, false);
    if (rc >= 0)
        return rc;
    rc = cli_job_load(&cj, args.path, args.sets, args.nsets);
    if (rc != 0)
        goto done;
    rc = cli_shared_new(&cj, &shared);
    if (rc != 0)
        goto done;
    rc = cli_pool_new(&cj, shared, &pool, -1, -1, NULL);
    if (rc != 0)
        goto done;
    job = cj.job;
    rc = cli_input_shardable(&cj);
    if (rc == 0)
        rc = cli_input_open(&in, job, true);
    if (rc == 0)
        rc = find_shard(&cj, in, &sh, &sh_known);
    if (rc == 0)
        rc = cli_paths_clash(cj.path,
                             job->input_kind == MPROC__INPUT_LINES
                                 ? job->input_path
                                 : NULL,
                             job->output, args.joblog, NULL, NULL);
    if (rc == 0)
        rc = cli_output_not_input(
            in, job->output, mproc_config_where(cj.cfg, "job", "output"));
    if (rc == 0)
        rc = cli_output_writable(job->output, "output");
    if (rc != 0)
        goto done;

    pl = mproc__pool_plugin(pool);
    printf("# %s: valid\n", cj.path);
    show(&cj, "job", "plugin", "%s    (%s %s, ABI %u.%u, %s)", job->plugin,
         pl->desc->name, pl->desc->version ? pl->desc->version : "?",
         (unsigned)pl->desc->abi_major, (unsigned)pl->desc->abi_minor,
         pl->path);
    show(&cj, "job", "task", "%s", mproc_pool_task(pool));
    show(&cj, "job", "input", "%s", cli_input_name(in));
    show(&cj, "job", "output", "%s", job->output ? job->output : "stdout");
    {
        /* enum mproc__output_mode; auto is the plugin's own choice. */
        static const char *const modes[] = {"auto", "records", "records0",
                                            "raw"};
        int m = job->output_mode;

        if (m == MPROC__OUTPUT_AUTO)
            m = pl->desc->flags & MPROC_PLUGIN_RAW_OUTPUT
                    ? MPROC__OUTPUT_RAW : MPROC__OUTPUT_RECORDS;
        show(&cj, "job", "output_mode", "%s%s", modes[m],
             job->output_mode == MPROC__OUTPUT_AUTO
                 ? "    (auto: the plugin's default)" : "");
    }
    show(&cj, "job", "ordered", "%s", job->ordered ? "true" : "false");
    mproc__pool_set_total(pool, cli_input_total(in));
    if (job->chunksize != 0)
        show(&cj, "job", "chunksize", "%u", job->chunksize);
    else if (mproc__pool_chunksize(pool) != 0)
        show(&cj, "job", "chunksize", "auto    (%u: %lld items / (4 x %u "
             "workers), 64 at most)", mproc__pool_chunksize(pool),
             cli_input_total(in), mproc_pool_workers(pool));
    else
        show(&cj, "job", "chunksize", "auto    (input size unknown: from 1, "
             "adapted to measured task times, 64 at most)");
    show(&cj, "job", "on_error", "%s", on_error[job->on_error]);
    show(&cj, "job", "message_max", "%zu", job->message_max);
    show(&cj, "job", "timeout", "%gs%s", job->timeout_ms / 1000.0,
         job->timeout_ms ? "" : "    (no limit)");
    show(&cj, "job", "timeout_grace", "%gs", job->timeout_grace_ms / 1000.0);
    show(&cj, "job", "retries", "%u", job->retries);
    show_shard(&cj, &sh, sh_known);
    /* issue 19 (dbg19) */
    if (job->quarantine_after != 0)
        show(&cj, "job", "quarantine_after", "%u", job->quarantine_after);
    else
        show(&cj, "job", "quarantine_after", "auto    (%s)",
             job->retries > 0 ? "2: retries > 0" : "off: no retries");
    show(&cj, "job", "slowlog", "%gs%s", job->slowlog_ms / 1000.0,
         job->slowlog_ms ? "" : "    (off)");
    show(&cj, "job", "status", "%s", job->status ? "on" : "off");
    show(&cj, "pool", "workers", "%u%s", mproc_pool_workers(pool),
         job->workers ? "" : "    (auto: usable CPUs)");
    show(&cj, "pool", "start_method", "%s", job->start_method);
    show(&cj, "pool", "ipc", "%s", job->ipc);
    if (strcmp(job->ipc, "auto") == 0)
        cli_ipc_auto_explain(); /* ipc = auto: which and why (issue 19) */
    /* Two queues per worker must fit the user's RLIMIT_MSGQUEUE. */
    if (strcmp(job->ipc, "mq") == 0) {
        mproc_err_t qerr;

        if (!mproc__mq_fits(2 * mproc_pool_workers(pool), &qerr))
            fprintf(stderr, "mproc: warning: %s\n", qerr.msg);
    }
    show(&cj, "pool", "max_tasks_per_child", "%u", job->max_tasks_per_child);
    show(&cj, "pool", "sync", "%s", job->sync);
    show(&cj, "pool", "max_memory_per_child", "%zu",
         job->max_memory_per_child);
    show(&cj, "pool", "rlimit_cpu", "%lu", job->rlimit_cpu);
    show(&cj, "pool", "rlimit_as", "%lu", job->rlimit_as);
    show(&cj, "pool", "rlimit_nofile", "%lu", job->rlimit_nofile);
    show(&cj, "pool", "nice", "%d", job->nice);
    /* mpi18: the MPI launcher (framework/mpi) */
    show(&cj, "pool", "launcher", "%s%s", job->launcher_mpi ? "mpi" : "local",
         job->launcher_mpi ? "    (rank 0 the host, ranks > 0 node agents; "
                             "start it with mpiexec -n N)" : "");
    show(&cj, "pool", "node_timeout", "%gs", job->node_timeout_ms / 1000.0);
    n = mproc_config_args(cj.cfg, &kv);
    for (i = 0; i < n; i++)
        show(&cj, "args", kv[i].key, "%s", kv[i].value);
    n = mproc__config_decls(cj.cfg, &decl);
    for (i = 0; i < n; i++)
        printf("[%s:%s]    # %s, created with the %s backend\n",
               mproc__decl_kind_name(decl[i].kind), decl[i].name,
               decl[i].where, job->sync);
    show_manager(cj.cfg);
    if (mproc_pool_has_reduce(pool))
        printf("# the plugin reduces: the output is its reduce_end result\n");
    rc = CLI_EXIT_OK;

done:
    cli_input_close(in);
    mproc_pool_free(pool);
    mproc_sync_free(shared);
    cli_job_free(&cj);
    cli_args_free(&args);
    return rc;
}

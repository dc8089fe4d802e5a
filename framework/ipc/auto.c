/* SPDX-License-Identifier: MIT */
/*
 * ipc = auto: which backend carries the pool's traffic best here.
 *
 * The measurement is the pool's own pattern in the case the benchmark
 * (bench-ipc) calls oversubscribed: a host in a poll() loop over 4
 * echoing workers, however many CPUs there are, with one 64-byte task in
 * flight each (every task a wake-up) and with 64 (batches).  Each
 * backend runs twice per pattern, interleaved (pipe, mq, shmring, pipe,
 * ...), for ROUND_MS each, about 100 ms in all.  A backend other than
 * pipe is chosen only when, in both patterns, its worse round beats
 * pipe's better one by MARGIN: noise, a busy machine or a doubt leaves
 * pipe, the default, so auto is never slower than pipe on the case it
 * measured (one quick round of one pattern once picked shmring here,
 * which bench-ipc then measured at 0.8x pipe with 64 in flight).
 *
 * The result is cached in $XDG_CACHE_HOME/mproc/ipc-auto (else
 * ~/.cache/mproc/ipc-auto) under a key of the kernel release and the CPU
 * count: what decides between the backends (futex and mq behaviour,
 * whether spinning pays) changes with those, and a new key measures
 * again.  Delete the file to measure again by hand.
 */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/pool.h>

#include "ipc/auto_int.h"
#include "ipc/chan_int.h"

#define NWORKERS 4
#define ROUNDS 2
#define ROUND_MS 7
#define MARGIN 1.15
#define CAPACITY ((size_t)64 << 10)

static const char *const candidates[] = {"pipe", "mq", "shmring"};

/* The last answer, for mproc__ipc_auto_last(). */
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mproc__ipc_auto last;
static bool have_last;

static const char *
remember(const struct mproc__ipc_auto *a)
{
    pthread_mutex_lock(&last_lock);
    last = *a;
    have_last = true;
    pthread_mutex_unlock(&last_lock);
    return a->choice;
}

bool
mproc__ipc_auto_last(struct mproc__ipc_auto *out)
{
    bool r;

    pthread_mutex_lock(&last_lock);
    r = have_last;
    if (r)
        *out = last;
    pthread_mutex_unlock(&last_lock);
    return r;
}

static double
secs(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
child(struct mproc_chan **task, struct mproc_chan **res, int w)
{
    int k;

    for (k = 0; k < NWORKERS; k++)
        if (k != w) {
            mproc__chan_free(task[k]);
            mproc__chan_free(res[k]);
        }
    mproc__chan_close_side(task[w], MPROC__CHAN_WR);
    mproc__chan_close_side(res[w], MPROC__CHAN_RD);
    for (;;) {
        const void *m;
        size_t len;
        int r = mproc__chan_peek(task[w], &m, &len, 2000);

        if (r != 0)
            _exit(r == MPROC_EPIPE ? 0 : 2);
        if (mproc__chan_send(res[w], m, len, MPROC__CHAN_MORE, 0) != 0)
            _exit(2);
        mproc__chan_consume(task[w]);
        if (!mproc__chan_has_message(task[w]) &&
            mproc__chan_flush(res[w], 2000) != 0)
            _exit(3);
    }
}

/* Tasks per second through `backend`, or a negative MPROC_E* code. */
static double
measure(const char *backend, unsigned window, double dur)
{
    struct mproc_chan *task[NWORKERS] = {0}, *res[NWORKERS] = {0};
    struct mproc__chan_opts o = {.capacity = CAPACITY,
                                 .group = 2 * NWORKERS};
    pid_t pid[NWORKERS] = {0};
    uint64_t got = 0, inflight[NWORKERS] = {0};
    double t0, t1 = 0, rate = -1;
    char buf[64] = {0};
    int w, r = 0;

    for (w = 0; w < NWORKERS && r == 0; w++) {
        r = mproc__chan_open(&task[w], backend, &o, NULL);
        if (r == 0)
            r = mproc__chan_open(&res[w], backend, &o, NULL);
    }
    for (w = 0; w < NWORKERS && r == 0; w++) {
        pid[w] = fork();
        if (pid[w] < 0)
            r = -errno;
        else if (pid[w] == 0)
            child(task, res, w);
    }
    for (w = 0; w < NWORKERS; w++) {
        if (task[w] != NULL)
            mproc__chan_close_side(task[w], MPROC__CHAN_RD);
        if (res[w] != NULL)
            mproc__chan_close_side(res[w], MPROC__CHAN_WR);
    }
    t0 = secs();
    while (r == 0 && (t1 = secs()) - t0 < dur) {
        struct pollfd pfd[2 * NWORKERS];
        nfds_t n = 0;
        int timeout = 100, k;

        for (w = 0; w < NWORKERS; w++) {
            while (inflight[w] < window && r == 0) {
                if (mproc__chan_send(task[w], buf, sizeof(buf),
                                     MPROC__CHAN_MORE, 0) != 0)
                    r = MPROC_EIO;
                inflight[w]++;
            }
            mproc__chan_flush(task[w], 0);
            k = mproc__chan_poll_prepare(res[w], MPROC__CHAN_RD, &pfd[n]);
            if (k == 1)
                timeout = 0;
            else if (k == 0)
                n++;
            if (mproc__chan_unflushed(task[w]) > 0 &&
                mproc__chan_poll_prepare(task[w], MPROC__CHAN_WR,
                                         &pfd[n]) == 0)
                n++;
        }
        if (poll(pfd, n, timeout) == 0 && timeout > 0)
            r = MPROC_ETIMEDOUT; /* a worker stalled: no answer */
        for (w = 0; w < NWORKERS; w++) {
            const void *m;
            size_t len;
            while (mproc__chan_peek(res[w], &m, &len, 0) == 0) {
                mproc__chan_consume(res[w]);
                inflight[w]--;
                got++;
            }
        }
    }
    if (r == 0 && t1 > t0)
        rate = (double)got / (t1 - t0);
    for (w = 0; w < NWORKERS; w++)
        mproc__chan_free(task[w]); /* the end: workers exit */
    for (w = 0; w < NWORKERS; w++) {
        if (pid[w] > 0) {
            if (r != 0)
                kill(pid[w], SIGKILL);
            MPROC__NOINTR(waitpid(pid[w], NULL, 0));
        }
        mproc__chan_free(res[w]);
    }
    return rate;
}

static void
cache_path(struct mproc__ipc_auto *a)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n = -1;

    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(a->path, sizeof(a->path), "%s/mproc/ipc-auto", xdg);
    else if (home != NULL && home[0] == '/')
        n = snprintf(a->path, sizeof(a->path), "%s/.cache/mproc/ipc-auto",
                     home);
    if (n < 0 || (size_t)n >= sizeof(a->path))
        a->path[0] = '\0';
}

static const char *
known(const char *name)
{
    size_t i;

    for (i = 0; i < MPROC__ARRAY_SIZE(candidates); i++)
        if (strcmp(name, candidates[i]) == 0)
            return candidates[i];
    return NULL;
}

/* The cached choice when the file's key is ours. */
static bool
cache_read(struct mproc__ipc_auto *a)
{
    char line[256], key[sizeof(a->key) + 8] = "", choice[32] = "";
    FILE *f;

    if (a->path[0] == '\0' || (f = fopen(a->path, "re")) == NULL)
        return false;
    while (fgets(line, sizeof(line), f) != NULL) {
        char name[32];
        double v, v64;

        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "key ", 4) == 0) {
            if (strlen(line + 4) < sizeof(key))
                strcpy(key, line + 4);
        } else if (strncmp(line, "choice ", 7) == 0) {
            if (strlen(line + 7) < sizeof(choice))
                strcpy(choice, line + 7);
        } else if (sscanf(line, "rate %31s %lf %lf", name, &v, &v64) == 3 &&
                   known(name) && a->n < MPROC__IPC_AUTO_MAX) {
            a->names[a->n] = known(name);
            a->rate64[a->n] = v64;
            a->rate[a->n++] = v;
        }
    }
    fclose(f);
    if (strcmp(key, a->key) != 0 || known(choice) == NULL) {
        a->n = 0;
        return false;
    }
    a->choice = known(choice);
    a->measured = a->n > 0;
    return true;
}

static void
mkdirs(char *path)
{
    char *s;

    for (s = strchr(path + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(path, 0700);
        *s = '/';
    }
}

/* Write the file whole under a temporary name, then rename: two runs
 * measuring at once leave one complete file. */
static void
cache_write(const struct mproc__ipc_auto *a)
{
    char tmp[PATH_MAX + 32], dir[PATH_MAX];
    unsigned i;
    FILE *f;
    int fd;

    if (a->path[0] == '\0')
        return;
    snprintf(dir, sizeof(dir), "%s", a->path);
    mkdirs(dir);
    snprintf(tmp, sizeof(tmp), "%s.%ld", a->path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    fprintf(f, "# mproc ipc = auto: the backend measured for this machine "
               "and kernel.\n# Delete this file to measure again.\n");
    fprintf(f, "key %s\nchoice %s\nmeasured_at %ld\n", a->key, a->choice,
            (long)time(NULL));
    for (i = 0; i < a->n; i++)
        fprintf(f, "rate %s %.0f %.0f\n", a->names[i], a->rate[i],
                a->rate64[i]);
    if (fclose(f) != 0 || rename(tmp, a->path) != 0)
        unlink(tmp);
}

static void
decide(struct mproc__ipc_auto *a)
{
    enum { NC = MPROC__ARRAY_SIZE(candidates) };
    static const unsigned windows[2] = {1, 64};
    double lo[2][NC], hi[2][NC];
    struct mproc__sigpipe_hold hold;
    unsigned i, k, round, best = 0;
    bool usable[NC];

    /* A worker that dies makes a write fail with EPIPE, not kill us. */
    mproc__sigpipe_hold(&hold);
    for (i = 0; i < NC; i++) {
        usable[i] = true;
        lo[0][i] = lo[1][i] = hi[0][i] = hi[1][i] = 0;
    }
    for (k = 0; k < 2; k++)
        for (round = 0; round < ROUNDS; round++)
            for (i = 0; i < NC; i++) {
                double r;
                if (!usable[i])
                    continue; /* not available here (e.g. no mqueue) */
                r = measure(candidates[i], windows[k], ROUND_MS / 1000.0);
                if (r <= 0) {
                    usable[i] = false;
                    continue;
                }
                lo[k][i] = lo[k][i] == 0 || r < lo[k][i] ? r : lo[k][i];
                hi[k][i] = r > hi[k][i] ? r : hi[k][i];
            }
    mproc__sigpipe_release(&hold);

    for (i = 0; i < NC; i++) {
        if (!usable[i])
            continue;
        a->names[a->n] = candidates[i];
        a->rate64[a->n] = (lo[1][i] + hi[1][i]) / 2;
        a->rate[a->n++] = (lo[0][i] + hi[0][i]) / 2;
    }
    a->measured = a->n > 0;
    for (i = 1; i < NC; i++)
        if (usable[0] && usable[i] && lo[0][i] > hi[0][0] * MARGIN &&
            lo[1][i] > hi[1][0] * MARGIN &&
            (best == 0 || lo[0][i] > lo[0][best]))
            best = i;
    a->choice = candidates[best]; /* pipe unless one clearly wins */
}

const char *
mproc__ipc_auto(struct mproc__ipc_auto *out)
{
    struct mproc__ipc_auto local, *a = out != NULL ? out : &local;
    struct utsname u;

    memset(a, 0, sizeof(*a));
    if (uname(&u) < 0)
        snprintf(u.release, sizeof(u.release), "unknown");
    snprintf(a->key, sizeof(a->key), "kernel=%.100s cpus=%u", u.release,
             mproc_cpu_usable());
    cache_path(a);
    if (cache_read(a)) {
        a->cached = true;
        snprintf(a->why, sizeof(a->why), "cached in %s (key %s)", a->path,
                 a->key);
        return remember(a);
    }
    decide(a);
    if (snprintf(a->why, sizeof(a->why),
             "%s now (4 workers, 1 and 64 tasks in flight each; other than "
             "pipe only when %.0f%% faster in both)%s%s",
             a->measured ? "measured" : "could not measure, pipe by default",
             (MARGIN - 1) * 100, a->path[0] ? ", cached in " : "",
             a->path) >= (int)sizeof(a->why))
        a->why[sizeof(a->why) - 1] = '\0';
    if (a->measured)
        cache_write(a);
    return remember(a);
}

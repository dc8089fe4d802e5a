/* SPDX-License-Identifier: MIT */
/*
 * mproc exec's run folder, $TMPDIR/mproc-exec.PID.XXXXXX (the pid in the
 * name: mproc clean tells a dead run's folder by it), for what the host
 * and the exec plugin in the workers share beyond the pool's frames.
 * The plugin finds each thing by a path in its environment, which every
 * start method passes on:
 *
 * halt (MPROC_EXEC_HALT): words shared by mmap (struct cli_halt_words).
 * The plugin counts each command's end there and, by the rule the host
 * gives (MPROC_EXEC_HALT_RULE), sets `stop` once --halt's condition
 * holds; the host sets it too when it sees the condition.  Before it
 * starts a command the plugin looks at `stop`, and fails a job as not run
 * (CLI_HALT_MSG) when set: a job already handed to a worker does not
 * start, not even in the worker that ran the failing one.
 *
 * lines (MPROC_EXEC_LINES), a FIFO: --line-buffer, below.
 *
 * --line-buffer: each line of a command's stdout reaches
 * mproc's stdout as soon as the command has written it whole, never mixed
 * with another job's line (GNU parallel's --line-buffer).
 *
 * Design: the workers cannot write to mproc's stdout themselves (theirs
 * is stderr, and two workers' writes of long lines could interleave), and
 * a result frame carries a job's output only once it ends.  So the host
 * makes a FIFO in the run folder and
 * names it to the exec plugin.  The plugin
 * sends what the command writes as it comes, in frames of at most
 * PIPE_BUF bytes (a write of that size to a FIFO is never split or
 * interleaved): the item's index, the length, and an end flag after the
 * job's last byte.  A thread of the host reads the FIFO, keeps each job's
 * unfinished line apart, and writes every line once it is whole (tagged
 * with the job's arguments under --tag); a job's last line without a
 * newline goes out when the job ends.  The pool's event loop is left as
 * it is, and the FIFO is the only thing shared.
 *
 * The host holds a write end of its own until the run is over, so the
 * thread sees end of file only when every worker has closed the FIFO too.
 *
 * Write errors: the thread keeps the first one (a full disk, the reader
 * gone) and stops the run (cli_run_stop()), and cli_run() fails as it
 * does when its own output fails (74, or SIGPIPE).  For the job log, a
 * job is done only once its lines are out: the plugin sends a job's end
 * frame before its result, so when the host has a result and writes a
 * mark of its own to the FIFO (cli_xdir_flush()), every line of that job
 * is ahead of the mark, and the thread has written (and flushed) them by
 * the time it reaches the mark.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/exec.h"

/* One job's line so far on stdout [0] and stderr [1], and its tag. */
struct lb_job {
    uint64_t index;
    char *tag;
    char *part[2];
    size_t len[2], cap[2];
    bool traced; /* -t: its first stderr line (untagged) is out */
};

struct cli_xdir {
    char dir[PATH_MAX], path[PATH_MAX], halt[PATH_MAX];
    struct cli_halt_words *words; /* the halt file, mapped; or NULL */
    int rfd, wfd;
    bool tag, thread, trace;
    _Atomic int werr; /* the first failed write to stdout: its errno */
    pthread_t th;
    pthread_mutex_t mu; /* jobs[], which the main thread adds tags to */
    pthread_cond_t cv;  /* marks_done moved, or the thread ended */
    uint32_t marks_sent, marks_done; /* cli_xdir_flush()'s marks; with mu */
    bool ended;                      /* the thread is gone; with mu */
    struct lb_job *jobs;
    size_t njobs, cap;
};

/* A frame of the host's own: no job's index. */
#define LB_MARK UINT64_MAX
#define LB_MARK_FINAL 2 /* its `end`: every job's rest goes out too */

/* The job of `index`, made when new; NULL when out of memory.  With mu. */
static struct lb_job *
job_of(struct cli_xdir *l, uint64_t index)
{
    size_t i;
    struct lb_job *j;

    for (i = 0; i < l->njobs; i++)
        if (l->jobs[i].index == index)
            return &l->jobs[i];
    if (l->njobs == l->cap) {
        size_t n = l->cap ? l->cap * 2 : 16;
        if ((j = realloc(l->jobs, n * sizeof(*j))) == NULL)
            return NULL;
        l->jobs = j;
        l->cap = n;
    }
    j = &l->jobs[l->njobs++];
    memset(j, 0, sizeof(*j));
    j->index = index;
    return j;
}

static void
job_drop(struct cli_xdir *l, struct lb_job *j)
{
    free(j->tag);
    free(j->part[0]);
    free(j->part[1]);
    *j = l->jobs[--l->njobs];
}

/* Writing to stdout failed with `e`: write no more, and stop the run,
 * which then fails as for its own output (cli_xdir_flush() tells it
 * why).  A reader gone (EPIPE) raised a SIGPIPE, which this thread
 * takes (blocked here, see cli_xdir_open): the run ends by it, but only
 * once it has cleaned up. */
static void
failed(struct cli_xdir *l, int e)
{
    static const struct timespec zero = {0, 0};
    sigset_t set;
    int none = 0;

    if (e == EPIPE) {
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        while (sigtimedwait(&set, NULL, &zero) == SIGPIPE)
            ;
    }
    if (atomic_compare_exchange_strong(&l->werr, &none, e != 0 ? e : EIO))
        cli_run_stop();
}

/* Flush stdout, unless a write failed already.  With mu. */
static void
flush_out(struct cli_xdir *l)
{
    if (atomic_load(&l->werr) == 0 &&
        (fflush(stdout) != 0 || ferror(stdout)))
        failed(l, errno);
}

/* A line of a job's stderr: one write (a worker's own stderr writes do
 * not cut into it).  Under -t (trace) the job's first line is the
 * command line, which parallel does not tag.  Failures are not the run's (as for the rest of what
 * goes to stderr). */
static void
put_err_line(struct cli_xdir *l, struct lb_job *j, const char *a, size_t na,
             const char *b, size_t nb)
{
    bool tag = l->tag && !(l->trace && !j->traced);
    size_t nt = tag ? strlen(j->tag != NULL ? j->tag : "") + 1 : 0;
    char *line = malloc(nt + na + nb);

    j->traced = true;
    cli_progress_erase_held(); /* not glued to the progress line */
    if (line == NULL) {
        (void)fwrite(a, 1, na, stderr);
        (void)fwrite(b, 1, nb, stderr);
        return;
    }
    if (tag) {
        memcpy(line, j->tag != NULL ? j->tag : "", nt - 1);
        line[nt - 1] = '\t';
    }
    if (na > 0)
        memcpy(line + nt, a, na);
    if (nb > 0)
        memcpy(line + nt + na, b, nb);
    (void)fwrite(line, 1, nt + na + nb, stderr); /* unbuffered: one write */
    cli_stderr_wrote(line, nt + na + nb);
    free(line);
}

/* Write one line (or a job's last piece) of a job's stdout [0] or stderr
 * [1], tagged if asked. */
static void
put_line(struct cli_xdir *l, struct lb_job *j, int fd, const char *a,
         size_t na, const char *b, size_t nb)
{
    bool bad = false;

    if (fd == 1) {
        put_err_line(l, j, a, na, b, nb);
        return;
    }
    if (atomic_load(&l->werr) != 0)
        return;
    if (l->tag)
        bad = fputs(j->tag != NULL ? j->tag : "", stdout) == EOF ||
              fputc('\t', stdout) == EOF;
    /* No empty writes: a job's first piece has no buffer yet (NULL). */
    if (!bad && na > 0)
        bad = fwrite(a, 1, na, stdout) != na;
    if (!bad && nb > 0)
        bad = fwrite(b, 1, nb, stdout) != nb;
    if (bad)
        failed(l, errno);
}

/* Bytes of a job's stdout (fd 0) or stderr (1): every whole line goes
 * out, the rest waits.  With mu. */
static void
job_add(struct cli_xdir *l, struct lb_job *j, int fd, const char *p,
        size_t n)
{
    const char *nl;
    size_t k;

    while ((nl = memchr(p, '\n', n)) != NULL) {
        k = (size_t)(nl - p) + 1;
        put_line(l, j, fd, j->part[fd], j->len[fd], p, k);
        j->len[fd] = 0;
        p += k;
        n -= k;
    }
    if (n == 0)
        return;
    if (j->cap[fd] - j->len[fd] < n) {
        size_t c = j->cap[fd] ? j->cap[fd] : 256;
        char *np;
        while (c - j->len[fd] < n)
            c *= 2;
        if ((np = realloc(j->part[fd], c)) == NULL) {
            /* Out of memory: the line goes out in pieces. */
            put_line(l, j, fd, j->part[fd], j->len[fd], p, n);
            j->len[fd] = 0;
            return;
        }
        j->part[fd] = np;
        j->cap[fd] = c;
    }
    memcpy(j->part[fd] + j->len[fd], p, n);
    j->len[fd] += n;
}

/* A job ended: its last pieces, if any, go out. With mu. */
static void
job_end(struct cli_xdir *l, struct lb_job *j)
{
    int fd;

    for (fd = 0; fd < 2; fd++)
        if (j->len[fd] > 0)
            put_line(l, j, fd, j->part[fd], j->len[fd], "", 0);
    job_drop(l, j);
}

static void *
reader(void *arg)
{
    struct cli_xdir *l = arg;
    static char buf[1 << 16];
    size_t have = 0, off;
    ssize_t n;
    struct cli_lines_hdr h;
    uint32_t marks;

    for (;;) {
        n = read(l->rfd, buf + have, sizeof(buf) - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        pthread_mutex_lock(&l->mu);
        cli_progress_hold(); /* no line glued to the progress line */
        marks = 0;
        for (off = 0; have - off >= sizeof(h); off += sizeof(h) + h.len) {
            struct lb_job *j;
            memcpy(&h, buf + off, sizeof(h));
            if (have - off - sizeof(h) < h.len)
                break;
            if (h.index == LB_MARK) {
                /* The run is over: what jobs killed midway left. */
                while (h.end == LB_MARK_FINAL && l->njobs > 0)
                    job_end(l, &l->jobs[0]);
                marks++;
                continue;
            }
            if ((j = job_of(l, h.index)) == NULL)
                continue;
            job_add(l, j, (h.end & CLI_LINES_ERR) ? 1 : 0,
                    buf + off + sizeof(h), h.len);
            if (h.end & CLI_LINES_END)
                job_end(l, j);
        }
        flush_out(l);
        cli_progress_release();
        if (marks > 0) {
            /* Only now: the lines ahead of the marks are flushed. */
            l->marks_done += marks;
            pthread_cond_broadcast(&l->cv);
        }
        pthread_mutex_unlock(&l->mu);
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    /* Every writer is gone: what jobs killed midway left goes out too. */
    pthread_mutex_lock(&l->mu);
    cli_progress_hold();
    while (l->njobs > 0)
        job_end(l, &l->jobs[0]);
    flush_out(l);
    cli_progress_release();
    l->ended = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* The halt file, made zeroed and mapped; NULL (errno set) on failure. */
static struct cli_halt_words *
halt_map(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600), e;
    void *m = MAP_FAILED;

    if (fd < 0)
        return NULL;
    if (ftruncate(fd, sizeof(struct cli_halt_words)) == 0)
        m = mmap(NULL, sizeof(struct cli_halt_words), PROT_READ | PROT_WRITE,
                 MAP_SHARED, fd, 0);
    e = errno;
    close(fd);
    errno = e;
    return m == MAP_FAILED ? NULL : m;
}

int
cli_xdir_open(struct cli_xdir **out, bool lines, bool tag, bool halt,
              const char *rule, bool trace)
{
    struct cli_xdir *l = calloc(1, sizeof(*l));
    const char *t = getenv("TMPDIR");
    int e;

    *out = NULL;
    if (l == NULL)
        return -1;
    l->rfd = l->wfd = -1;
    l->tag = tag;
    l->trace = trace;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (t == NULL || t[0] == '\0')
        t = "/tmp";
    if (snprintf(l->dir, sizeof(l->dir), "%s/" CLI_XDIR_PREFIX "%ld.XXXXXX",
                 t, (long)getpid()) >= (int)sizeof(l->dir) ||
        mkdtemp(l->dir) == NULL) {
        l->dir[0] = '\0';
        goto fail;
    }
    if (halt && (snprintf(l->halt, sizeof(l->halt), "%s/halt", l->dir) >=
                     (int)sizeof(l->halt) ||
                 (l->words = halt_map(l->halt)) == NULL ||
                 setenv(CLI_HALT_ENV, l->halt, 1) != 0 ||
                 (rule != NULL && setenv(CLI_HALT_RULE_ENV, rule, 1) != 0)))
        goto fail;
    if (!lines) {
        *out = l;
        return 0;
    }
    if (snprintf(l->path, sizeof(l->path), "%s/lines", l->dir) >=
            (int)sizeof(l->path) ||
        mkfifo(l->path, 0600) < 0) {
        l->path[0] = '\0';
        goto fail;
    }
    /* Non-blocking, or the open would wait for a writer. */
    if ((l->rfd = open(l->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0 ||
        (l->wfd = open(l->path, O_WRONLY | O_CLOEXEC)) < 0 ||
        fcntl(l->rfd, F_SETFL, 0) < 0 ||
        setenv(CLI_LINES_ENV, l->path, 1) != 0)
        goto fail;
    /* The thread takes no signals (the host's handlers are the main
     * thread's), and a SIGPIPE its writes raise must not kill the run
     * before it has cleaned up (gone()). */
    {
        sigset_t all, old;

        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        e = pthread_create(&l->th, NULL, reader, l);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (e != 0) {
        errno = e;
        goto fail;
    }
    l->thread = true;
    *out = l;
    return 0;

fail:
    e = errno;
    cli_xdir_close(l);
    errno = e;
    return -1;
}

int
cli_xdir_flush(struct cli_xdir *l, int how)
{
    struct cli_lines_hdr h = {LB_MARK, 0, CLI_LINES_END};
    uint32_t want;
    ssize_t n;

    if (l == NULL || !l->thread)
        return 0;
    if (how == CLI_FLUSH_ASK)
        return atomic_load(&l->werr);
    if (how == CLI_FLUSH_FINAL)
        h.end = LB_MARK_FINAL;
    /* One write of a few bytes: never split from, nor cut into, the
     * workers' frames.  It may wait while the thread is behind. */
    do
        n = write(l->wfd, &h, sizeof(h));
    while (n < 0 && errno == EINTR);
    pthread_mutex_lock(&l->mu);
    if (n == (ssize_t)sizeof(h)) {
        want = ++l->marks_sent;
        while (!l->ended && (int32_t)(l->marks_done - want) < 0)
            pthread_cond_wait(&l->cv, &l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return atomic_load(&l->werr);
}

void
cli_xdir_halt(struct cli_xdir *l)
{
    if (l != NULL && l->words != NULL)
        atomic_store(&l->words->stop, 1);
}

int
cli_xdir_halted(struct cli_xdir *l, int *status, unsigned long long *nok,
                unsigned long long *nfail)
{
    uint64_t st;

    if (l == NULL || l->words == NULL || atomic_load(&l->words->stop) == 0 ||
        (st = atomic_load(&l->words->status)) == 0)
        return 0; /* not met, or stopped by the host itself */
    *status = (int)(st - 1);
    *nok = atomic_load(&l->words->nok);
    *nfail = atomic_load(&l->words->nfail);
    return 1;
}

int
cli_xdir_tag(struct cli_xdir *l, uint64_t index, const char *tag)
{
    struct lb_job *j;
    int r = -1;

    pthread_mutex_lock(&l->mu);
    if ((j = job_of(l, index)) != NULL) {
        free(j->tag);
        j->tag = strdup(tag);
        r = j->tag != NULL ? 0 : -1;
    }
    pthread_mutex_unlock(&l->mu);
    return r;
}

void
cli_xdir_close(struct cli_xdir *l)
{
    if (l == NULL)
        return;
    unsetenv(CLI_LINES_ENV);
    unsetenv(CLI_HALT_ENV);
    unsetenv(CLI_HALT_RULE_ENV);
    if (l->wfd >= 0)
        close(l->wfd); /* the thread ends once the workers' ends close */
    if (l->thread)
        pthread_join(l->th, NULL);
    if (l->rfd >= 0)
        close(l->rfd);
    if (l->path[0] != '\0')
        unlink(l->path);
    if (l->words != NULL)
        munmap(l->words, sizeof(*l->words));
    if (l->halt[0] != '\0')
        unlink(l->halt);
    if (l->dir[0] != '\0')
        rmdir(l->dir);
    while (l->njobs > 0)
        job_drop(l, &l->jobs[0]);
    free(l->jobs);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

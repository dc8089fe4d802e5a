/* SPDX-License-Identifier: MIT */
/*
 * Input sources of `mproc run`: lines of a file or of stdin, a range of
 * integers, or the files of a folder or a glob.  Items are produced one at
 * a time, on demand, so an input of any length takes constant memory
 * (the file list of `files:` excepted), and lines are read without ever
 * blocking the pool.  `files:DIR` followed by a slash and `**` (and
 * optionally a slash and a glob) walks DIR and its subfolders.
 * `lines0:PATH` (`lines0:-`: stdin) splits items at NUL bytes rather
 * than newlines, for `find -print0`.  mproc exec adds items split at NUL
 * bytes (-0) and
 * items it makes itself (cli_input_custom).
 */
#include "internal.h"

#include <dirent.h>
#include <fnmatch.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "pool/pool_int.h"

/* Items made by a function of the host (mproc exec), not a job's input. */
#define INPUT_CUSTOM 100

struct cli_input {
    int kind;
    char sep;      /* STDIN, LINES: the item separator, '\n' or '\0' */
    int (*next)(void *user, struct mproc_item *item); /* CUSTOM */
    void *user;
    long long total;
    unsigned long long ngiven; /* CUSTOM: items handed out */
    char name[64 + 4096];
    int fd;        /* STDIN, LINES: read with read(), never blocking */
    bool own_fd;
    char *buf;     /* bytes read, from `off` to `len` not yet handed out */
    size_t off, len, cap;
    bool eof;
    /* A line longer than `limit` (0: none) is not kept: only its start,
     * buf[0, keep), while the rest is read and counted in `cut` (its
     * size so far), up to its end (MPROC__ITEM_CUT). */
    size_t limit, keep, cut;
    bool cutting;
    int64_t cur, hi; /* RANGE */
    bool range_done;
    char num[32];
    char **paths;  /* FILES */
    size_t npaths, next_path, path_end;
    int failed;
    /* A shard (cli_input_shard()): the raw items are numbered from 0 as
     * read (gnext), and only this shard's are handed out (nout of them). */
    struct cli_shard sh;
    uint64_t gnext, nout;
};

static int
add_path(struct cli_input *in, size_t *cap, const char *path)
{
    if (in->npaths == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        char **p = realloc(in->paths, ncap * sizeof(*p));
        if (p == NULL)
            return -1;
        in->paths = p;
        *cap = ncap;
    }
    in->paths[in->npaths] = strdup(path);
    if (in->paths[in->npaths] == NULL)
        return -1;
    in->npaths++;
    return 0;
}

/* Every regular file directly in `dir` (not hidden), sorted by name. */
static int
list_dir(struct cli_input *in, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t cap = 0;
    char path[4096];
    struct stat st;

    if (d == NULL) {
        cli_error("input %s: cannot open the folder: %s", in->name,
                  strerror(errno));
        return CLI_EXIT_NOINPUT;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (add_path(in, &cap, path) < 0) {
            closedir(d);
            cli_error("out of memory listing %s", dir);
            return CLI_EXIT_SOFTWARE;
        }
    }
    closedir(d);
    if (in->npaths > 1)
        qsort(in->paths, in->npaths, sizeof(*in->paths), cli_cmp_str);
    return 0;
}

/*
 * Every regular file under `dir`, at any depth, whose name matches
 * `pattern` (NULL: all), hidden ones and hidden folders left out; symbolic
 * links to folders are not followed (a loop would never end).
 */
static int
walk_dir(struct cli_input *in, size_t *cap, const char *dir,
         const char *pattern, unsigned depth)
{
    DIR *d;
    struct dirent *e;
    struct stat st;
    char *path = NULL;
    int r = 0;

    if (depth > 256)
        return 0;
    d = opendir(dir);
    if (d == NULL) {
        cli_error("input %s: cannot open the folder %s: %s", in->name, dir,
                  strerror(errno));
        return CLI_EXIT_NOINPUT;
    }
    while (r == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        free(path);
        if (asprintf(&path, "%s%s%s", dir,
                     dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name) < 0) {
            path = NULL;
            r = -1;
            break;
        }
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            r = walk_dir(in, cap, path, pattern, depth + 1);
        else if ((S_ISREG(st.st_mode) ||
                  (S_ISLNK(st.st_mode) && stat(path, &st) == 0 &&
                   S_ISREG(st.st_mode))) &&
                 (pattern == NULL || fnmatch(pattern, e->d_name, 0) == 0))
            r = add_path(in, cap, path);
    }
    free(path);
    closedir(d);
    if (r < 0) {
        cli_error("out of memory listing %s", dir);
        return CLI_EXIT_SOFTWARE;
    }
    return r;
}

/* DIR, slash, two stars (then maybe slash, GLOB): the files under DIR,
 * sorted by path. */
static int
list_tree(struct cli_input *in, const char *spec)
{
    const char *stars = strstr(spec, "/**");
    const char *pattern = NULL;
    size_t cap = 0;
    char *dir;
    struct stat st;
    int r;

    if (stars[3] == '/' && stars[4] != '\0')
        pattern = stars + 4;
    else if (stars[3] != '\0') {
        cli_error("input %s: ** must be a whole path component: DIR/** or "
                  "DIR/**/PATTERN", in->name);
        return CLI_EXIT_NOINPUT;
    }
    dir = strndup(spec, (size_t)(stars - spec) + (stars == spec));
    if (dir == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_SOFTWARE;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_error("input %s: %s: %s", in->name, dir,
                  stat(dir, &st) != 0 ? strerror(errno) : "not a folder");
        free(dir);
        return CLI_EXIT_NOINPUT;
    }
    r = walk_dir(in, &cap, dir, pattern, 0);
    free(dir);
    if (r == 0 && in->npaths > 1)
        qsort(in->paths, in->npaths, sizeof(*in->paths), cli_cmp_str);
    return r;
}

/* The files a glob matches, in glob's sorted order: regular files (a
 * link counts as what it names), never a folder, a FIFO or a device (a
 * task reading one would wait, or read, for ever), nor a link to
 * nothing, as files:DIR lists them. */
static int
list_glob(struct cli_input *in, const char *pattern)
{
    glob_t g;
    size_t i, cap = 0;
    struct stat st;
    int r = glob(pattern, 0, NULL, &g);

    if (r == GLOB_NOMATCH) {
        cli_error("input %s: no file matches", in->name);
        return CLI_EXIT_NOINPUT;
    }
    if (r != 0) {
        cli_error("input %s: cannot expand the pattern", in->name);
        return CLI_EXIT_NOINPUT;
    }
    for (i = 0; i < g.gl_pathc; i++) {
        if (stat(g.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (add_path(in, &cap, g.gl_pathv[i]) < 0) {
            globfree(&g);
            cli_error("out of memory listing %s", pattern);
            return CLI_EXIT_SOFTWARE;
        }
    }
    globfree(&g);
    if (in->npaths == 0) {
        cli_error("input %s: no regular file matches (folders, FIFOs and "
                  "devices are left out)", in->name);
        return CLI_EXIT_NOINPUT;
    }
    return 0;
}

int
cli_input_open(struct cli_input **out, const struct mproc__job *job,
               bool probe)
{
    struct cli_input *in = calloc(1, sizeof(*in));
    struct stat st;
    int r = 0;

    *out = NULL;
    if (in == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_SOFTWARE;
    }
    in->fd = -1;
    in->sep = job->input_nul ? '\0' : '\n';
    in->limit = job->message_max;
    in->kind = job->input_kind;
    switch (job->input_kind) {
    case MPROC__INPUT_STDIN:
        snprintf(in->name, sizeof(in->name),
                 job->input_nul ? "lines0:-" : "stdin");
        in->fd = STDIN_FILENO;
        break;
    case MPROC__INPUT_LINES:
        snprintf(in->name, sizeof(in->name), "%s:%s",
                 job->input_nul ? "lines0" : "lines", job->input_path);
        /* Opening a FIFO waits for its writer: right for a run (the
         * writer may come later, a signal stops the wait), not for a
         * check, which reads nothing. */
        in->fd = open(job->input_path,
                      O_RDONLY | O_CLOEXEC | O_NOCTTY | (probe ? O_NONBLOCK : 0));
        if (in->fd < 0 && errno == EINTR) {
            cli_error("input %s: interrupted while waiting for a writer",
                      in->name);
            r = CLI_EXIT_INTERRUPTED;
            break;
        }
        if (in->fd < 0) {
            cli_error("input %s: cannot open: %s", in->name, strerror(errno));
            r = CLI_EXIT_NOINPUT;
            break;
        }
        in->own_fd = true;
        if (fstat(in->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            /* Said now, by check too, not as a read error mid-run. */
            cli_error("input %s: a folder, not a file of lines (its files "
                      "are input = files:%s)", in->name, job->input_path);
            r = CLI_EXIT_NOINPUT;
        }
        break;
    case MPROC__INPUT_RANGE:
        snprintf(in->name, sizeof(in->name), "range:%" PRId64 "..%" PRId64,
                 job->range_lo, job->range_hi);
        in->cur = job->range_lo;
        in->hi = job->range_hi;
        break;
    case MPROC__INPUT_FILES:
        snprintf(in->name, sizeof(in->name), "files:%s", job->input_path);
        if (strstr(job->input_path, "/**") != NULL) {
            r = list_tree(in, job->input_path);
        } else if (strpbrk(job->input_path, "*?[") == NULL) {
            if (stat(job->input_path, &st) != 0) {
                cli_error("input %s: %s", in->name, strerror(errno));
                r = CLI_EXIT_NOINPUT;
            } else if (!S_ISDIR(st.st_mode)) {
                cli_error("input %s: not a folder (and no * ? [ to make it "
                          "a pattern)", in->name);
                r = CLI_EXIT_NOINPUT;
            } else {
                r = list_dir(in, job->input_path);
            }
        } else {
            r = list_glob(in, job->input_path);
        }
        break;
    default:
        cli_error("unknown input kind %d", job->input_kind);
        r = CLI_EXIT_SOFTWARE;
    }
    if (r != 0) {
        cli_input_close(in);
        return r;
    }
    in->path_end = in->npaths;
    *out = in;
    return 0;
}

/*
 * The next line, without waiting: a line whose end has not arrived yet
 * (a pipe, a terminal, `tail -f`) makes MPROC_EAGAIN, and the pool polls
 * cli_input_fd() meanwhile, so results keep flowing while input is slow.
 * An item is the line without its newline; a last line without one is an
 * item all the same.
 *
 * A line longer than message_max can only fail, so it is not kept: its
 * start (for the message that names it) and its size are handed out as
 * a cut item (MPROC__ITEM_CUT), so that the memory a line takes stays
 * within about twice message_max, however long it is.  Reading the rest
 * of it returns MPROC_EAGAIN after each read, so that a line that never
 * ends (/dev/zero) lets the pool see a stop signal and results meanwhile.
 */
static int
next_line(struct cli_input *in, struct mproc_item *item)
{
    struct pollfd pfd = {.fd = in->fd, .events = POLLIN};
    bool was_read = false;
    size_t from;
    char *nl;
    ssize_t n;

    for (;;) {
        /* Cutting, what follows the kept start is new and not kept. */
        from = in->cutting ? in->keep : in->off;
        nl = in->len > from
                 ? memchr(in->buf + from, in->sep, in->len - from)
                 : NULL;
        if (in->cutting) {
            size_t got = nl ? (size_t)(nl - (in->buf + from))
                            : in->len - from;

            /* Kept: the first MPROC__ITEM_CUT_KEEP bytes, read by now. */
            in->cut += got;
            in->keep += got < MPROC__ITEM_CUT_KEEP - in->keep
                            ? got
                            : MPROC__ITEM_CUT_KEEP - in->keep;
            if (nl != NULL || in->eof) {
                in->cutting = false;
                item->data = in->buf;
                item->len = in->cut;
                /* After its end: the next line's bytes, if read. */
                in->off = nl ? (size_t)(nl - in->buf) + 1 : in->len;
                return MPROC__ITEM_CUT;
            }
            in->len = in->keep;
            if (was_read)
                return MPROC_EAGAIN; /* the caller's turn: a stop, results */
        } else if (nl != NULL || (in->eof && in->off < in->len)) {
            item->data = in->buf + in->off;
            item->len = nl ? (size_t)(nl - (in->buf + in->off))
                           : in->len - in->off;
            in->off += item->len + (nl != NULL);
            /* Too long, though read whole (it came in one read): a cut
             * item all the same, so that every consumer treats a line
             * over message_max one way, whatever its size (mproc exec's
             * -N/-X packed one below 64 KiB with good lines). */
            return in->limit > 0 && item->len > in->limit ? MPROC__ITEM_CUT
                                                          : 1;
        } else if (in->eof) {
            return 0;
        }
        /* Keep the partial line, at the front, and make room to read. */
        if (in->off > 0) {
            memmove(in->buf, in->buf + in->off, in->len - in->off);
            in->len -= in->off;
            in->off = 0;
        }
        if (!in->cutting && in->limit > 0 && in->len > in->limit) {
            /* Longer than any item may be: from now on only counted. */
            in->cutting = true;
            in->cut = in->len;
            in->keep = in->len < MPROC__ITEM_CUT_KEEP ? in->len
                                                      : MPROC__ITEM_CUT_KEEP;
            in->len = in->keep;
        }
        if (!in->cutting && in->cap - in->len < 4096) {
            size_t cap = in->cap ? in->cap * 2 : 65536;
            char *b = realloc(in->buf, cap);
            if (b == NULL) {
                cli_error("input %s: out of memory", in->name);
                in->failed = 1;
                return MPROC_ENOMEM;
            }
            in->buf = b;
            in->cap = cap;
        }
        n = poll(&pfd, 1, 0);
        if (n == 0)
            return MPROC_EAGAIN;
        n = read(in->fd, in->buf + in->len, in->cap - in->len);
        if (n < 0 && errno == EINTR)
            return MPROC_ECANCELED; /* a stop signal: not a read error */
        if (n < 0 && errno == EAGAIN)
            return MPROC_EAGAIN;
        if (n < 0) {
            cli_error("input %s: read error: %s", in->name, strerror(errno));
            in->failed = 1;
            return MPROC_EIO;
        }
        if (n == 0)
            in->eof = true;
        in->len += (size_t)n;
        was_read = true;
    }
}

/*
 * Lines not yet handed out: those in the buffer and, when the input is a
 * regular file, in the rest of it (read to count them: only once, when a
 * run stops early).  -1 when that cannot be known (a pipe, a terminal).
 */
static long long
lines_left(struct cli_input *in)
{
    char buf[65536];
    long long n = 0;
    bool open_line = false; /* bytes after the last newline seen */
    struct stat st;
    ssize_t got;
    size_t i;

    for (i = in->off; i < in->len; i++)
        n += in->buf[i] == in->sep;
    open_line = in->len > in->off && in->buf[in->len - 1] != in->sep;
    if (!in->eof) {
        if (fstat(in->fd, &st) != 0 || !S_ISREG(st.st_mode))
            return -1;
        while ((got = read(in->fd, buf, sizeof(buf))) != 0) {
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                return -1;
            for (i = 0; i < (size_t)got; i++)
                n += buf[i] == in->sep;
            open_line = buf[got - 1] != in->sep;
        }
        in->eof = true; /* what was read is not kept: nothing more to read */
        in->off = in->len = 0;
        in->cutting = false;
    }
    return n + open_line;
}

/*
 * Numbers of the range not yet handed out into *n; false when that is
 * 2^64 (all of int64_t, none read), which no counter here holds.
 */
static bool
range_left(const struct cli_input *in, unsigned long long *n)
{
    /* hi - cur in unsigned arithmetic: exact even for a range as wide as
     * int64_t, where the signed difference overflows. */
    uint64_t d = (uint64_t)in->hi - (uint64_t)in->cur;

    *n = 0;
    if (in->range_done)
        return true;
    if (d == UINT64_MAX)
        return false;
    *n = d + 1;
    return true;
}

bool
cli_input_remaining(struct cli_input *in, unsigned long long *n)
{
    long long k;

    if (in->sh.n > 0) {
        *n = in->sh.count - in->nout;
        return true;
    }
    switch (in->kind) {
    case MPROC__INPUT_RANGE:
        return range_left(in, n);
    case MPROC__INPUT_FILES:
        *n = in->path_end - in->next_path;
        return true;
    case MPROC__INPUT_STDIN:
    case MPROC__INPUT_LINES:
        k = lines_left(in);
        *n = k < 0 ? 0 : (unsigned long long)k;
        return k >= 0;
    case INPUT_CUSTOM:
        /* Its size, when it has one (mproc exec's ::: lists). */
        *n = in->total >= 0 && (unsigned long long)in->total > in->ngiven
                 ? (unsigned long long)in->total - in->ngiven
                 : 0;
        return in->eof || in->total >= 0;
    default:
        *n = 0;
        return false;
    }
}

long long
cli_input_total(const struct cli_input *in)
{
    if (in->sh.n > 0)
        return in->sh.count <= LLONG_MAX ? (long long)in->sh.count : -1;
    switch (in->kind) {
    case MPROC__INPUT_RANGE: {
        unsigned long long n;
        /* For the progress line: past LLONG_MAX, "unknown" will do. */
        return range_left(in, &n) && n <= LLONG_MAX ? (long long)n : -1;
    }
    case MPROC__INPUT_FILES:
        return (long long)in->npaths;
    case INPUT_CUSTOM:
        return in->total;
    default:
        return -1;
    }
}

bool
cli_input_position(const struct cli_input *in, unsigned long long *pos,
                   unsigned long long *size)
{
    struct stat st;
    off_t at;

    /* Read ahead but not yet handed out: the buffer, from off to len. */
    if ((in->kind != MPROC__INPUT_LINES && in->kind != MPROC__INPUT_STDIN) ||
        fstat(in->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (at = lseek(in->fd, 0, SEEK_CUR)) < 0 ||
        (unsigned long long)at < in->len - in->off)
        return false;
    *size = (unsigned long long)st.st_size;
    *pos = (unsigned long long)at - (in->len - in->off);
    return true;
}

const char *
cli_input_reads(const struct cli_input *in, const struct stat *out)
{
    struct stat st;
    size_t i;

#define SAME(a, b) ((a).st_dev == (b).st_dev && (a).st_ino == (b).st_ino)
    if (!S_ISREG(out->st_mode))
        return NULL; /* a terminal, a pipe, /dev/null: nothing emptied */
    if (in->fd >= 0 && fstat(in->fd, &st) == 0 && SAME(st, *out))
        return in->name;
    for (i = 0; i < in->npaths; i++)
        if (stat(in->paths[i], &st) == 0 && SAME(st, *out))
            return in->paths[i];
#undef SAME
    return NULL;
}

int
cli_output_not_input(const struct cli_input *in, const char *output,
                     const char *where)
{
    struct stat st;
    const char *what, *name = cli_input_name(in);

    if (in == NULL ||
        (output != NULL ? stat(output, &st) : fstat(STDOUT_FILENO, &st)) != 0 ||
        (what = cli_input_reads(in, &st)) == NULL)
        return 0;
    if (output == NULL) {
        cli_error("the standard output is %s%s%s: it would grow as it is "
                  "read; send the output elsewhere",
                  what == name ? "the file of the input " : cli_esc(what),
                  what == name ? "" : ", a file of the input ",
                  cli_esc(name));
        return CLI_EXIT_USAGE;
    }
    cli_error("%s%soutput = %s is %s%s%s: writing it would destroy it before "
              "it is read; give another file",
              where ? where : "", where ? ": " : "", cli_esc(output),
              what == name ? "also the input " : cli_esc(what),
              what == name ? "" : ", a file of the input ", cli_esc(name));
    return CLI_EXIT_CONFIG;
}

int
cli_input_fd(const struct cli_input *in)
{
    return in->fd;
}

static int next_raw(struct cli_input *in, struct mproc_item *item);

int
cli_input_next(void *user, struct mproc_item *item)
{
    struct cli_input *in = user;
    uint64_t local;
    int r;

    if (in->sh.n == 0)
        return next_raw(in, item);
    /* Every shard reads the whole input (a range and a list of files
     * start at their block): only its own items are handed out. */
    for (;;) {
        if (in->nout == in->sh.count)
            return 0;
        if ((r = next_raw(in, item)) <= 0)
            return r;
        if (cli_shard_local(&in->sh, in->gnext++, &local)) {
            in->nout++;
            return 1;
        }
    }
}

static int
next_raw(struct cli_input *in, struct mproc_item *item)
{
    int r;

    switch (in->kind) {
    case INPUT_CUSTOM:
        /* Once it said "no more", what is left is known: nothing. */
        if (in->eof)
            return 0;
        r = in->next(in->user, item);
        in->eof = r == 0;
        in->ngiven += r > 0;
        return r;
    case MPROC__INPUT_STDIN:
    case MPROC__INPUT_LINES:
        return next_line(in, item);
    case MPROC__INPUT_RANGE:
        if (in->range_done)
            return 0;
        item->len = (size_t)snprintf(in->num, sizeof(in->num), "%" PRId64,
                                     in->cur);
        item->data = in->num;
        /* Stop after hi without computing hi + 1, which may overflow. */
        if (in->cur == in->hi)
            in->range_done = true;
        else
            in->cur++;
        return 1;
    case MPROC__INPUT_FILES:
        if (in->next_path == in->path_end)
            return 0;
        item->data = in->paths[in->next_path];
        item->len = strlen(in->paths[in->next_path]);
        in->next_path++;
        return 1;
    }
    return 0;
}

int
cli_input_custom(struct cli_input **out, const char *name,
                 int (*next)(void *user, struct mproc_item *item), void *user,
                 int fd, long long total)
{
    struct cli_input *in = calloc(1, sizeof(*in));

    *out = NULL;
    if (in == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_SOFTWARE;
    }
    in->kind = INPUT_CUSTOM;
    snprintf(in->name, sizeof(in->name), "%s", name);
    in->next = next;
    in->user = user;
    in->fd = fd;
    in->total = total;
    *out = in;
    return 0;
}

void
cli_input_set_sep(struct cli_input *in, char sep)
{
    in->sep = sep;
}

const char *
cli_input_name(const struct cli_input *in)
{
    return in->name;
}

int
cli_input_failed(const struct cli_input *in)
{
    return in->failed;
}

void
cli_input_close(struct cli_input *in)
{
    size_t i;

    if (in == NULL)
        return;
    if (in->own_fd && in->fd >= 0)
        close(in->fd);
    free(in->buf);
    for (i = 0; i < in->npaths; i++)
        free(in->paths[i]);
    free(in->paths);
    free(in);
}

/* ---- shards ---- */

/*
 * Lines of a regular file: count them and hash their bytes, reading it
 * whole with pread() (the read position stays at 0 for the run).  false:
 * not a regular file, or a read error (errno set).
 */
static bool
lines_identity(struct cli_input *in, uint64_t *total, uint64_t *hash)
{
    char buf[65536];
    struct stat st;
    bool open_line = false;
    uint64_t n = 0, h = CLI_HASH_INIT;
    off_t at = 0;
    ssize_t got, i;

    if (fstat(in->fd, &st) != 0 || !S_ISREG(st.st_mode) || in->len != 0) {
        errno = ESPIPE;
        return false;
    }
    while ((got = pread(in->fd, buf, sizeof(buf), at)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return false;
        for (i = 0; i < got; i++)
            n += buf[i] == in->sep;
        open_line = buf[got - 1] != in->sep;
        h = cli_hash(h, buf, (size_t)got);
        at += got;
    }
    *total = n + open_line;
    *hash = h;
    return true;
}

int
cli_input_shardable(const struct cli_job *cj)
{
    const struct mproc__job *job = cj->job;
    const char *where = mproc_config_where(cj->cfg, "job", "input");
    const char *what;
    struct stat st;

    if (job->shard_n > 0 && job->input_kind == MPROC__INPUT_STDIN) {
        cli_error("%s: input = %s cannot be split into shards: every shard "
                  "must read the same items; give them as input = "
                  "lines:FILE, range:A..B or files:...",
                  where != NULL ? where : cj->path,
                  job->input_nul ? "lines0:-" : "stdin");
        return CLI_EXIT_USAGE;
    }
    if (job->shard_n == 0 || job->input_kind != MPROC__INPUT_LINES ||
        stat(job->input_path, &st) != 0 || S_ISREG(st.st_mode))
        return 0; /* a missing file: cli_input_open() says so */
    what = S_ISFIFO(st.st_mode)   ? "a FIFO"
           : S_ISCHR(st.st_mode)  ? "a character device"
           : S_ISDIR(st.st_mode)  ? "a folder"
           : S_ISSOCK(st.st_mode) ? "a socket"
                                  : "not a regular file";
    cli_error("%s: input = %s:%s: shards need a regular file, read whole "
              "by every shard, and %s is %s; copy the items to a file "
              "first, or run without shards",
              where != NULL ? where : cj->path,
              job->input_nul ? "lines0" : "lines", job->input_path,
              job->input_path, what);
    return CLI_EXIT_USAGE;
}

int
cli_input_shard(struct cli_input *in, const struct mproc__job *job,
                bool need_total, struct cli_shard *sh)
{
    const char *env;
    unsigned long long n;
    long long k = job->shard_k;
    char *end;
    size_t i;

    memset(sh, 0, sizeof(*sh));
    sh->total = CLI_TOTAL_UNKNOWN;
    sh->input_hash = cli_hash(CLI_HASH_INIT, in->name, strlen(in->name));
    if (job->shard_n > 0 && k < 0) {
        /* K from the array task; N stays the user's: a resubmission of
         * one failed task (--array=2) must not re-shard the input. */
        env = getenv("SLURM_ARRAY_TASK_ID");
        errno = 0;
        if (env != NULL)
            k = strtoll(env, &end, 10);
        if (env == NULL || *env == '\0' || *end != '\0' || errno != 0 ||
            k < 0 || k >= job->shard_n) {
            cli_error("shard slurm/%lld: SLURM_ARRAY_TASK_ID is %s%s%s; "
                      "expected a task id from 0 to %lld (submit with "
                      "sbatch --array=0-%lld, or give --shard K/%lld)",
                      (long long)job->shard_n, env ? "'" : "not set",
                      env ? env : "", env ? "'" : "",
                      (long long)job->shard_n - 1,
                      (long long)job->shard_n - 1, (long long)job->shard_n);
            return CLI_EXIT_USAGE;
        }
    }
    switch (in->kind) {
    case MPROC__INPUT_RANGE:
        if (range_left(in, &n))
            sh->total = n;
        break;
    case MPROC__INPUT_FILES:
        sh->total = in->npaths;
        for (i = 0; i < in->npaths; i++)
            sh->input_hash = cli_hash(sh->input_hash, in->paths[i],
                                      strlen(in->paths[i]) + 1);
        break;
    case MPROC__INPUT_LINES:
        if ((job->shard_n > 0 || need_total) &&
            !lines_identity(in, &sh->total, &sh->input_hash) &&
            job->shard_n > 0) {
            cli_error("input %s: shards need a regular file, read whole by "
                      "every shard (%s)", in->name, strerror(errno));
            return CLI_EXIT_USAGE;
        }
        break;
    case INPUT_CUSTOM:
        /* mproc exec's ::: lists: known; its stdin: not. */
        if (in->total >= 0) {
            sh->total = (uint64_t)in->total;
            break;
        }
        /* fall through */
    default:
        if (job->shard_n > 0) {
            cli_error("input %s: cannot be split into shards: every shard "
                      "must read the same items; give the items as "
                      "input = lines:FILE, range:A..B or files:...",
                      in->name);
            return CLI_EXIT_USAGE;
        }
    }
    if (job->shard_n == 0)
        return 0;
    if (sh->total == CLI_TOTAL_UNKNOWN) {
        cli_error("input %s: too many items to split into shards",
                  in->name);
        return CLI_EXIT_USAGE;
    }
    sh->k = (uint64_t)k;
    sh->n = (uint64_t)job->shard_n;
    sh->mode = job->shard_mode;
    cli_shard_block(sh);
    if (sh->mode == MPROC__SHARD_CONTIGUOUS) {
        if (in->kind == MPROC__INPUT_RANGE && sh->count == 0) {
            in->range_done = true;
        } else if (in->kind == MPROC__INPUT_RANGE) {
            in->cur = (int64_t)((uint64_t)in->cur + sh->lo);
            in->hi = (int64_t)((uint64_t)in->cur + sh->count - 1);
            in->gnext = sh->lo;
        } else if (in->kind == MPROC__INPUT_FILES) {
            in->next_path = (size_t)sh->lo;
            in->path_end = (size_t)(sh->lo + sh->count);
            in->gnext = sh->lo;
        }
    }
    in->sh = *sh;
    return 0;
}

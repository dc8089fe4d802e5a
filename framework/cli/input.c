/*
 * Input sources of `mproc run`: lines of a file or of stdin, a range of
 * integers, or the files of a folder or a glob.  Items are produced one at
 * a time, on demand, so an input of any length takes constant memory
 * (the file list of `files:` excepted).
 */
#include "internal.h"

#include <dirent.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

struct cli_input {
    int kind;
    char name[64 + 4096];
    FILE *fp;      /* STDIN, LINES */
    bool own_fp;
    char *line;
    size_t line_cap;
    int64_t cur, hi; /* RANGE */
    bool range_done;
    char num[32];
    char **paths;  /* FILES */
    size_t npaths, next_path;
    int failed;
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

/* The files a glob matches (folders left out), in glob's sorted order. */
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
        if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode))
            continue;
        if (add_path(in, &cap, g.gl_pathv[i]) < 0) {
            globfree(&g);
            cli_error("out of memory listing %s", pattern);
            return CLI_EXIT_SOFTWARE;
        }
    }
    globfree(&g);
    return 0;
}

int
cli_input_open(struct cli_input **out, const struct mproc__job *job)
{
    struct cli_input *in = calloc(1, sizeof(*in));
    struct stat st;
    int r = 0;

    *out = NULL;
    if (in == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_SOFTWARE;
    }
    in->kind = job->input_kind;
    switch (job->input_kind) {
    case MPROC__INPUT_STDIN:
        snprintf(in->name, sizeof(in->name), "stdin");
        in->fp = stdin;
        break;
    case MPROC__INPUT_LINES:
        snprintf(in->name, sizeof(in->name), "lines:%s", job->input_path);
        in->fp = fopen(job->input_path, "r");
        if (in->fp == NULL) {
            cli_error("input %s: cannot open: %s", in->name, strerror(errno));
            r = CLI_EXIT_NOINPUT;
            break;
        }
        in->own_fp = true;
        break;
    case MPROC__INPUT_RANGE:
        snprintf(in->name, sizeof(in->name), "range:%" PRId64 "..%" PRId64,
                 job->range_lo, job->range_hi);
        in->cur = job->range_lo;
        in->hi = job->range_hi;
        break;
    case MPROC__INPUT_FILES:
        snprintf(in->name, sizeof(in->name), "files:%s", job->input_path);
        if (strpbrk(job->input_path, "*?[") == NULL) {
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
    *out = in;
    return 0;
}

int
cli_input_next(void *user, struct mproc_item *item)
{
    struct cli_input *in = user;
    ssize_t n;

    switch (in->kind) {
    case MPROC__INPUT_STDIN:
    case MPROC__INPUT_LINES:
        n = getline(&in->line, &in->line_cap, in->fp);
        if (n < 0) {
            if (ferror(in->fp) && errno == EINTR) {
                /* A stop signal came while we waited for input: not a
                 * read error, the run is being stopped. */
                clearerr(in->fp);
                return MPROC_ECANCELED;
            }
            if (ferror(in->fp)) {
                cli_error("input %s: read error: %s", in->name,
                          strerror(errno));
                in->failed = 1;
                return MPROC_EIO;
            }
            return 0;
        }
        /* An item is the line without its newline; a last line without
         * one is an item all the same. */
        if (n > 0 && in->line[n - 1] == '\n')
            n--;
        item->data = in->line;
        item->len = (size_t)n;
        return 1;
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
        if (in->next_path == in->npaths)
            return 0;
        item->data = in->paths[in->next_path];
        item->len = strlen(in->paths[in->next_path]);
        in->next_path++;
        return 1;
    }
    return 0;
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
    if (in->own_fp && in->fp != NULL)
        fclose(in->fp);
    free(in->line);
    for (i = 0; i < in->npaths; i++)
        free(in->paths[i]);
    free(in->paths);
    free(in);
}

/* SPDX-License-Identifier: MIT */
/*
 * mproc exec --results DIR: the folder names of a job's values, as
 * parallel 20221122 makes them, and the shell wrapper that writes the
 * job's stdout, stderr, seq and exitval files there.
 */
#include "internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/exec.h"
#include "cli/exec_int.h"

static int
add_lit(struct cli_str *b, const char *s)
{
    return cli_str_add(b, s, strlen(s));
}

/* A path component of --results, as parallel 20221122 writes it: '/' as
 * "\\_", '\\' as "\\\\", a TAB as "\\t", cut to the 255 bytes a name
 * may have (a ::: value's newlines split it into items).  But for the
 * values that parallel writes where another job's or DIR's own files
 * go: "." (DIR/1/. is DIR/1), ".." (DIR itself) and "" (DIR/1//2/B is
 * DIR/1/2/B, and DIR/1/ holds every job's folder) are "\\.", "\\.." and
 * "\\empty", names its escapes make of no other value (there a
 * backslash is followed by \\, _ or t). */
static int
results_part(struct cli_str *p, const char *v, size_t len)
{
    size_t i, start = p->len;

    if (len == 0 || (len <= 2 && memcmp(v, "..", len) == 0))
        return add_lit(p, len == 0 ? "\\empty" : len == 1 ? "\\." : "\\..");
    for (i = 0; i < len; i++) {
        const char *e = v[i] == '/'    ? "\\_"
                        : v[i] == '\\' ? "\\\\"
                        : v[i] == '\t' ? "\\t"
                                       : NULL;

        if (cli_str_add(p, e != NULL ? e : v + i, e != NULL ? 2 : 1) < 0)
            return -1;
    }
    if (p->len - start > NAME_MAX) {
        p->len = start + NAME_MAX;
        p->s[p->len] = '\0';
    }
    return 0;
}

/* The order of --header's names a and b, by their bytes (Perl's sort). */
static int
name_cmp(const struct cli_tuple *names, size_t a, size_t b)
{
    size_t n = names->len[a] < names->len[b] ? names->len[a] : names->len[b];
    int d = memcmp(names->v[a], names->v[b], n);

    return d != 0 ? d : (names->len[a] > names->len[b]) -
                            (names->len[a] < names->len[b]);
}

/*
 * --results DIR: the job writes DIR/1/A/2/B/{seq,stdout,stderr,exitval}
 * itself (its output goes there, not to mproc's output), so a failing
 * job's files are written too.  The exec plugin makes the folder and the
 * files (no symbolic link under DIR followed: CLI_RESULTS_ENV) from the
 * header put before the line, and gives the line the files as
 * descriptors 3, 4, 5.  A subshell, so that an `exit` in the command
 * still lets the wrapper record the status.
 */
int
cli_exec_results_wrap(struct exec *x, const struct cli_tuple *ts, size_t nt,
                      struct cli_str *out)
{
    struct cli_str dir = {0}, w = {0};
    char num[64];
    size_t i, j, k, c, base, width, *order = NULL;
    int r = -1;

    if (cli_str_add(&dir, "", 0) < 0)
        goto fail;
    /* Every value of every input record in the command (-X and -m put
     * several records in one, -N gathers them in one tuple), each under
     * the number of its source in its record, as parallel's folders are:
     * -X echo ::: a b writes DIR/1/a/1/b, not DIR/1/a, which the next
     * command starting with a would overwrite.  A -N group with --colsep
     * does not say where its records end: numbered end to end. */
    for (k = 0; k < nt; k++) {
        const struct cli_tuple *t = &ts[k];
        width = x->group_n > 0 && !x->has_re && t->n > 0
                    ? (x->nsrc > 0 ? x->nsrc : 1)
                    : t->n;
        if (width == 0)
            continue;
        free(order);
        if ((order = malloc(width * sizeof(*order))) == NULL)
            goto fail;
        /* Each value's source: its number, or its --header name; named
         * ones in the order of their names, as parallel's (--header :
         * ::: B b ::: A a writes DIR/A/a/B/b). */
        for (c = 0; c < width; c++) {
            order[c] = c;
            for (j = c; x->hnames.n >= width && j > 0 &&
                        name_cmp(&x->hnames, order[j - 1], c) > 0;
                 j--)
                order[j] = order[j - 1];
            order[j] = c;
        }
        for (base = 0; base + width <= t->n; base += width) {
            for (j = 0; j < width; j++) {
                c = order[j];
                i = base + c;
                if (dir.len > 0 && cli_str_add(&dir, "/", 1) < 0)
                    goto fail;
                if (c < x->hnames.n) {
                    if (results_part(&dir, x->hnames.v[c],
                                     x->hnames.len[c]) < 0 ||
                        cli_str_add(&dir, "/", 1) < 0)
                        goto fail;
                } else {
                    snprintf(num, sizeof(num), "%zu/", c + 1);
                    if (cli_str_add(&dir, num, strlen(num)) < 0)
                        goto fail;
                }
                if (results_part(&dir, t->v[i], t->len[i]) < 0)
                    goto fail;
            }
        }
    }
    snprintf(num, sizeof(num), "%llu %zu ", x->seq, dir.len);
    /* The wrapper outlives its command's SIGTERM (a time limit, a stop:
     * the subshell gets the default action back), to write exitval.  The
     * command goes in quoted, through eval, as without --results: pasted
     * into the script, a trailing backslash joined it to the next line.
     * An exitval that cannot be written fails the job (a full disk): the
     * results would say nothing of it. */
    if (add_lit(&w, num) < 0 || cli_str_add(&w, dir.s, dir.len) < 0 ||
        add_lit(&w, "\n") < 0)
        goto fail;
    /* -t and -v show the command, not this wrapper (the job file's own
     * printf of "$1" is left out under --results): -t on stderr, -v on
     * stdout, which stay mproc's, as parallel's do. */
    if ((x->echo & 2) &&
        (add_lit(&w, "printf '%s\\n' ") < 0 ||
         cli_line_quote(&w, out->s, out->len) < 0 || add_lit(&w, " >&2; ") < 0))
        goto fail;
    if ((x->echo & 1) &&
        (add_lit(&w, "printf '%s\\n' ") < 0 ||
         cli_line_quote(&w, out->s, out->len) < 0 || add_lit(&w, "; ") < 0))
        goto fail;
    if (add_lit(&w, "trap : TERM; ( eval ") < 0 ||
        cli_line_quote(&w, out->s, out->len) < 0 ||
        add_lit(&w, " ) >&3 2>&4 3>&- 4>&- 5>&- < /dev/null; _s=$?; "
                    "{ echo $_s >&5; } 2>/dev/null || { echo \"--results: "
                    "cannot write the exitval file (a full disk?)\" >&2; "
                    "exit 1; }; exit $_s") < 0)
        goto fail;
    cli_str_free(out);
    *out = w;
    memset(&w, 0, sizeof(w));
    r = 0;
fail:
    free(order);
    cli_str_free(&dir);
    cli_str_free(&w);
    return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * mproc exec's inputs: the ::: lists and :::: files (read whole, then
 * combined: every combination, the last source varying fastest, or with
 * --link side by side, :::+ pairing a source with the one before), or
 * else stdin, read as it comes; --colsep's columns, -N's groups and
 * --header's names.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/exec_int.h"
#include "pool/pool_int.h"

void
cli_tuple_free(struct cli_tuple *t)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    free(t->len);
    memset(t, 0, sizeof(*t));
}

/*
 * A NUL byte cannot reach a command in an argument: as GNU parallel
 * does, each becomes the two characters \0, with a warning (once) naming
 * -0.  Returns a copy of v[0..*len) so escaped (*len updated), or NULL
 * when it holds no NUL (*oom set when out of memory).
 */
static char *
nul_escaped(const char *v, size_t *len, bool *oom)
{
    static bool warned;
    size_t nuls = 0, i, k;
    char *e;

    *oom = false;
    for (i = 0; i < *len; i++)
        nuls += v[i] == '\0';
    if (nuls == 0)
        return NULL;
    if ((e = malloc(*len + nuls + 1)) == NULL) {
        *oom = true;
        return NULL;
    }
    for (i = k = 0; i < *len; i++) {
        if (v[i] == '\0') {
            e[k++] = '\\';
            e[k++] = '0';
        } else {
            e[k++] = v[i];
        }
    }
    e[k] = '\0';
    *len = k;
    if (!warned)
        cli_error("exec: warning: a NUL byte in the input was replaced with "
                  "\\0 (an argument cannot hold one); for items that end "
                  "at NUL bytes, use -0");
    warned = true;
    return e;
}

/* Append a copy of v[0..len) (NUL bytes escaped): 0, or -1 when out of
 * memory. */
static int
tuple_add(struct cli_tuple *t, const char *v, size_t len)
{
    bool oom;
    char *e = nul_escaped(v, &len, &oom);

    if (oom)
        return -1;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4;
        char **nv = realloc(t->v, cap * sizeof(*nv));
        size_t *nl;
        if (nv == NULL)
            goto fail;
        t->v = nv;
        nl = realloc(t->len, cap * sizeof(*nl));
        if (nl == NULL)
            goto fail;
        t->len = nl;
        t->cap = cap;
    }
    if (e != NULL) {
        t->v[t->n] = e;
    } else {
        if ((t->v[t->n] = malloc(len + 1)) == NULL)
            return -1;
        memcpy(t->v[t->n], v, len);
        t->v[t->n][len] = '\0';
    }
    t->len[t->n++] = len;
    return 0;
fail:
    free(e);
    return -1;
}

/*
 * --colsep's pattern as POSIX ERE: parallel's are Perl's, so its usual
 * escapes \t \n \s \S \d are translated (the rest are the same).
 */
char *
cli_colsep_ere(const char *re)
{
    struct cli_str o = {0};
    const char *add;
    int bad = cli_str_add(&o, "", 0);

    for (; *re != '\0' && bad == 0; re++) {
        if (re[0] != '\\' || re[1] == '\0') {
            bad = cli_str_add(&o, re, 1);
            continue;
        }
        switch (re[1]) {
        case 't': add = "\t"; break;
        case 'n': add = "\n"; break;
        case 's': add = "[[:space:]]"; break;
        case 'S': add = "[^[:space:]]"; break;
        case 'd': add = "[0-9]"; break;
        default: add = NULL;
        }
        bad = add ? cli_str_add(&o, add, strlen(add))
                  : cli_str_add(&o, re, 2);
        re++;
    }
    if (bad != 0) {
        cli_str_free(&o);
        return NULL;
    }
    return o.s;
}

/* Add a column, without the white space around it (as parallel trims
 * --colsep's columns). */
static int
tuple_add_column(struct cli_tuple *t, const char *v, size_t len)
{
    while (len > 0 && isspace((unsigned char)v[0])) {
        v++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)v[len - 1]))
        len--;
    return tuple_add(t, v, len);
}

/*
 * Add one value, split into columns with --colsep, as Perl's split
 * with a limit of -1 (parallel's) does: at each match, leftmost first;
 * a match of no characters splits too (between two characters, and
 * before the end), but never where a column begins, so a pattern such as
 * ' *' or ',?' splits 'a  b' and 'ab' in two (and an empty column after
 * them); empty columns are kept.
 */
static int
tuple_add_split(struct exec *x, struct cli_tuple *t, const char *v,
                size_t len)
{
    regmatch_t m;
    char *s;
    size_t f = 0, q = 0, n, ms, me;
    int r = 0;
    bool oom;

    if (!x->has_re)
        return tuple_add(t, v, len);
    /* regexec() needs the NUL: any in the value are escaped first. */
    if ((s = nul_escaped(v, &len, &oom)) == NULL && !oom)
        s = strndup(v, len);
    if (s == NULL)
        return -1;
    n = strlen(s);
    while (r == 0) {
        if (q > n || regexec(&x->re, s + q, 1, &m, q ? REG_NOTBOL : 0) != 0) {
            r = tuple_add_column(t, s + f, n - f);
            break;
        }
        ms = q + (size_t)m.rm_so;
        me = q + (size_t)m.rm_eo;
        if (me == ms && ms == f) {
            q = ms + 1; /* empty, where the column begins: look further */
            continue;
        }
        r = tuple_add_column(t, s + f, ms - f);
        f = q = me; /* after an empty match, the next look finds it at f */
    }
    free(s);
    return r;
}

/* A :::: FILE source: its lines (or NUL-ended items); "-" is stdin. */
int
cli_exec_source_read(struct cli_tuple *s, const char *path, char sep)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;

    if (f == NULL) {
        cli_error("exec: cannot open %s: %s", path, strerror(errno));
        return CLI_EXIT_NOINPUT;
    }
    while ((n = getdelim(&buf, &cap, sep, f)) > 0) {
        if (buf[n - 1] == sep)
            n--;
        if (tuple_add(s, buf, (size_t)n) < 0) {
            cli_error("out of memory");
            rc = CLI_EXIT_SOFTWARE;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        cli_error("exec: %s: read error: %s", path, strerror(errno));
        rc = CLI_EXIT_NOINPUT;
    }
    free(buf);
    if (f != stdin)
        fclose(f);
    return rc;
}

/* The items source i and the sources :::+ links to it give together:
 * the shortest's count. */
static size_t
run_len(const struct exec *x, size_t i)
{
    size_t n = x->src[i].n, h;

    for (h = i + 1; h < x->nsrc && x->plus[h]; h++)
        if (x->src[h].n < n)
            n = x->src[h].n;
    return n;
}

/* Only white space (or nothing): what parallel -r skips. */
static bool
blank(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

/* The next argument tuple: 1, 0 at the end, MPROC_EAGAIN, or < 0. */
static int
next_tuple(struct exec *x, struct cli_tuple *t)
{
    struct mproc_item it;
    unsigned long long k;
    size_t i, j;
    int r;

    memset(t, 0, sizeof(*t));
    if (x->back_at < x->nback) {
        *t = x->back[x->back_at++];
        if (x->back_at == x->nback)
            x->back_at = x->nback = 0;
        return 1;
    }
    if (x->stream != NULL) {
        if (x->eof_hit)
            return 0;
        do {
            r = cli_input_next(x->stream, &it);
            if (r <= 0)
                return r;
        } while (r == 1 && x->skip_blank && blank(it.data, it.len));
        if (r == 1 && x->eof_str != NULL && it.len == strlen(x->eof_str) &&
            memcmp(it.data, x->eof_str, it.len) == 0) {
            x->eof_hit = true; /* -E: the end; the rest is not read */
            return 0;
        }
        if (r == MPROC__ITEM_CUT) {
            /* Too large for any command: its start, to name it. */
            x->cut_len = it.len;
            return tuple_add(t, it.data,
                             it.len < MPROC__ITEM_CUT_KEEP
                                 ? it.len
                                 : MPROC__ITEM_CUT_KEEP) < 0
                       ? MPROC_ENOMEM
                       : MPROC__ITEM_CUT;
        }
        return tuple_add_split(x, t, it.data, it.len) < 0 ? MPROC_ENOMEM : 1;
    }
    if (x->pos >= x->ntuples)
        return 0;
    /* Every combination, the last source varying fastest, as parallel
     * does; with --link the k-th item of each (shorter ones wrap); the
     * sources of a :::+ run share one position (the shortest ends it). */
    k = x->pos++;
    for (i = x->nsrc; i-- > 0;) {
        size_t n = run_len(x, i), h;
        if (x->link) {
            x->digit[i] = (size_t)((x->pos - 1) % x->src[i].n);
            continue;
        }
        if (x->plus[i])
            continue; /* its run's first source sets its digit */
        for (h = i; h < x->nsrc && (h == i || x->plus[h]); h++)
            x->digit[h] = (size_t)(k % n);
        k /= n;
    }
    for (i = 0; i < x->nsrc; i++) {
        j = x->digit[i];
        if (tuple_add_split(x, t, x->src[i].v[j], x->src[i].len[j]) < 0)
            return MPROC_ENOMEM;
    }
    return 1;
}

size_t
cli_exec_spread(struct exec *x, size_t k)
{
    /* parallel spreads once, the first time a line reaches the end (a
     * line of one item included), by its own count of job slots. */
    if (!x->spread || x->spread_done)
        return k;
    x->spread_done = true;
    return x->jobs > 1 ? (k + x->jobs - 1) / x->jobs : k;
}

int
cli_exec_unget(struct exec *x, struct cli_tuple *t)
{
    if (x->nback == x->back_cap) {
        size_t n = x->back_cap ? x->back_cap * 2 : 16;
        struct cli_tuple *b = realloc(x->back, n * sizeof(*b));

        if (b == NULL) {
            cli_tuple_free(t);
            return -1;
        }
        x->back = b;
        x->back_cap = n;
    }
    x->back[x->nback++] = *t;
    memset(t, 0, sizeof(*t));
    return 0;
}

/* -N's group in x->grp reached the end of the input: under -X or -m,
 * keep its share of the jobs and give the rest of its records back,
 * each with its own values (moved, not copied); the groups after it
 * are that size too.  0, or MPROC_ENOMEM. */
static int
group_spread(struct exec *x)
{
    size_t keep = cli_exec_spread(x, x->grp_count), r, from, i;
    struct cli_tuple one;

    if (keep >= x->grp_count)
        return 0;
    for (r = keep; r < x->grp_count; r++) {
        from = x->grp_ends[r - 1];
        memset(&one, 0, sizeof(one));
        one.n = one.cap = x->grp_ends[r] - from;
        one.v = malloc((one.n ? one.n : 1) * sizeof(*one.v));
        one.len = malloc((one.n ? one.n : 1) * sizeof(*one.len));
        if (one.v == NULL || one.len == NULL) {
            free(one.v);
            free(one.len);
            return MPROC_ENOMEM; /* the rest stays in grp, freed with it */
        }
        for (i = 0; i < one.n; i++) {
            one.v[i] = x->grp.v[from + i];
            one.len[i] = x->grp.len[from + i];
            x->grp.v[from + i] = NULL;
        }
        if (cli_exec_unget(x, &one) < 0)
            return MPROC_ENOMEM;
    }
    x->grp.n = x->grp_ends[keep - 1];
    x->grp_count = x->group_n = keep;
    return 0;
}

/* Note where the record just added to x->grp ends (for group_spread()):
 * 0, or MPROC_ENOMEM. */
static int
group_mark(struct exec *x)
{
    if (!x->spread || x->spread_done)
        return 0;
    if (x->grp_count == x->grp_ends_cap) {
        size_t n = x->grp_ends_cap ? x->grp_ends_cap * 2 : 16;
        size_t *e = realloc(x->grp_ends, n * sizeof(*e));

        if (e == NULL)
            return MPROC_ENOMEM;
        x->grp_ends = e;
        x->grp_ends_cap = n;
    }
    x->grp_ends[x->grp_count] = x->grp.n;
    return 0;
}

/* -N: the values of the next group_n tuples as one (the last group may
 * be short); else next_tuple().  Returns as next_tuple(). */
int
cli_exec_next_group(struct exec *x, struct cli_tuple *t)
{
    struct cli_tuple one;
    size_t i;
    int r = 1;

    if (x->group_n == 0)
        return next_tuple(x, t);
    if (x->has_held) {
        *t = x->held;
        x->has_held = false;
        return MPROC__ITEM_CUT;
    }
    memset(t, 0, sizeof(*t));
    while (x->grp_count < x->group_n) {
        r = next_tuple(x, &one);
        if (r == 0)
            break;
        if (r < 0) {
            cli_tuple_free(&one);
            return r; /* MPROC_EAGAIN: what is gathered waits */
        }
        if (r == MPROC__ITEM_CUT && x->grp_count == 0) {
            *t = one;
            return r;
        }
        if (r == MPROC__ITEM_CUT) {
            /* It fails alone, after the group gathered so far. */
            x->held = one;
            x->has_held = true;
            break;
        }
        for (i = 0; i < one.n; i++)
            if (tuple_add(&x->grp, one.v[i], one.len[i]) < 0) {
                cli_tuple_free(&one);
                return MPROC_ENOMEM;
            }
        cli_tuple_free(&one);
        if (group_mark(x) < 0)
            return MPROC_ENOMEM;
        x->grp_count++;
    }
    if (x->grp_count == 0)
        return 0;
    if (r == 1 && x->spread && !x->spread_done) {
        /* A full group may be the last: parallel knows, having read one
         * item more (a wait for stdin here is the pool's, as above). */
        r = next_tuple(x, &one);
        if (r == MPROC__ITEM_CUT) {
            x->held = one;
            x->has_held = true;
        } else if (r == 1 && cli_exec_unget(x, &one) < 0) {
            return MPROC_ENOMEM;
        } else if (r < 0) {
            cli_tuple_free(&one);
            return r;
        }
    }
    if (r == 0 && group_spread(x) < 0)
        return MPROC_ENOMEM;
    *t = x->grp;
    memset(&x->grp, 0, sizeof(x->grp));
    x->grp_count = 0;
    return 1;
}

/* The number of jobs the ::: and :::: sources make: 0 or an exit status. */
int
cli_exec_count(struct exec *x)
{
    size_t i;
    bool any = false;

    if (x->nsrc == 0)
        return 0;
    /* -r: as parallel, a blank value (white space only) of a ::: or
     * :::: source is dropped from it, as a blank line of stdin is; -E:
     * a value equal to the end-of-file string ends its source, as it ends
     * stdin.  A source left with none is then empty (below). */
    for (i = 0; (x->skip_blank || x->eof_str != NULL) && i < x->nsrc; i++) {
        struct cli_tuple *s = &x->src[i];
        size_t j, k = 0;
        bool ended = false;
        for (j = 0; j < s->n; j++) {
            ended = ended ||
                    (x->eof_str != NULL && s->len[j] == strlen(x->eof_str) &&
                     memcmp(s->v[j], x->eof_str, s->len[j]) == 0);
            if (ended || (x->skip_blank && blank(s->v[j], s->len[j]))) {
                free(s->v[j]);
                continue;
            }
            s->v[k] = s->v[j];
            s->len[k++] = s->len[j];
        }
        s->n = k;
    }
    /* An empty source beside one with items is one empty value, as in
     * parallel (an optional list that happens to be empty does not
     * cancel the run); when every source is empty there is no job, so
     * `gzip ::: $(ls *.log)` with no logs runs nothing. */
    for (i = 0; i < x->nsrc; i++)
        any = any || x->src[i].n > 0;
    for (i = 0; any && i < x->nsrc; i++)
        if (x->src[i].n == 0 && tuple_add(&x->src[i], "", 0) < 0)
            return cli_usage_error("exec", "out of memory");
    x->ntuples = x->link ? 0 : 1;
    for (i = 0; i < x->nsrc; i++) {
        if (x->src[i].n == 0) {
            x->ntuples = 0; /* an empty file: no combination */
            break;
        }
        if (x->link)
            x->ntuples = x->src[i].n > x->ntuples ? x->src[i].n : x->ntuples;
        else if (!x->plus[i] &&
                 __builtin_mul_overflow(x->ntuples, run_len(x, i),
                                        &x->ntuples))
            return cli_usage_error("exec",
                                   "too many combinations of the inputs");
    }
    return 0;
}

struct cli_tuple *
cli_exec_source_new(struct exec *x)
{
    struct cli_tuple *s = realloc(x->src, (x->nsrc + 1) * sizeof(*s));
    bool *plus;

    if (s == NULL)
        return NULL;
    x->src = s;
    if ((plus = realloc(x->plus, (x->nsrc + 1) * sizeof(*plus))) == NULL)
        return NULL;
    x->plus = plus;
    plus[x->nsrc] = false;
    memset(&s[x->nsrc], 0, sizeof(*s));
    return &s[x->nsrc++];
}

void
cli_exec_sources_rotate(struct exec *x, size_t k)
{
    struct cli_tuple t;
    size_t i, j;

    if (k == 0 || k >= x->nsrc)
        return;
    for (i = 0; i < k; i++) {
        /* The last one to the front; the rest one place on.  A source
         * moved there links to none before it. */
        t = x->src[x->nsrc - 1];
        for (j = x->nsrc - 1; j > 0; j--) {
            x->src[j] = x->src[j - 1];
            x->plus[j] = x->plus[j - 1];
        }
        x->src[0] = t;
        x->plus[0] = false;
    }
}

/*
 * --header : the first item of each source names its value (or, with
 * --colsep, its columns): it is taken out, and {NAME} in the command
 * becomes the column's {N}.  Returns -1 to go on, or an exit status.
 */
int
cli_exec_header(struct exec *x)
{
    struct cli_tuple names = {0};
    struct cli_str t = {0};
    size_t i;
    int rc = CLI_EXIT_SOFTWARE;

    if (x->nsrc == 0)
        return cli_usage_error("exec",
                               "--header: needs ::: or :::: inputs (stdin is "
                               "read as it comes; use :::: -)");
    for (i = 0; i < x->nsrc; i++) {
        struct cli_tuple *s = &x->src[i];
        if (s->n == 0)
            continue;
        if (tuple_add_split(x, &names, s->v[0], s->len[0]) < 0)
            goto fail;
        free(s->v[0]);
        memmove(s->v, s->v + 1, (s->n - 1) * sizeof(*s->v));
        memmove(s->len, s->len + 1, (s->n - 1) * sizeof(*s->len));
        s->n--;
    }
    if (cli_line_rename(&t, x->tmpl, &names) < 0)
        goto fail;
    free(x->tmpl_owned);
    x->tmpl = x->tmpl_owned = t.s;
    /* Kept: --results names its folders after them, as parallel. */
    x->hnames = names;
    return -1;
fail:
    cli_error("out of memory");
    cli_str_free(&t);
    cli_tuple_free(&names);
    return rc;
}

/* A ::: value: as parallel, one item per line of it (so that
 * ::: "$(cat list)" gives the list's lines), or per -d delimiter, unless
 * items end at NUL (-0). */
static int
add_words(struct cli_tuple *s, const char *v, char sep)
{
    const char *nl;

    while (sep != '\0' && (nl = strchr(v, sep)) != NULL) {
        if (tuple_add(s, v, (size_t)(nl - v)) < 0)
            return -1;
        v = nl + 1;
    }
    return tuple_add(s, v, strlen(v));
}

/* ::: :::: :::+ ::::+ */
static bool
is_sep(const char *a)
{
    return strcmp(a, ":::") == 0 || strcmp(a, "::::") == 0 ||
           strcmp(a, ":::+") == 0 || strcmp(a, "::::+") == 0;
}

/*
 * The words after the options: COMMAND [ARGS]... then ::: and :::: groups.
 * Returns -1 to go on, or an exit status.
 */
int
cli_exec_sources(struct exec *x, int argc, char **argv, int i)
{
    struct cli_str t = {0};
    struct cli_tuple *s = NULL;
    int kind = 0; /* 1: :::, 2: :::: */
    int rc = -1;
    bool plus = false;

    /* Joined by spaces for the shell, as parallel does; with -q each word
     * quoted first, so the shell takes none of it as code. */
    int first = i;

    for (; i < argc && !is_sep(argv[i]); i++)
        if ((t.len > 0 && cli_str_add(&t, " ", 1) < 0) ||
            (x->quote ? cli_word_quote(&t, argv[i], strlen(argv[i]))
                      : cli_str_add(&t, argv[i], strlen(argv[i]))) < 0)
            goto oom;
    if (i == first) {
        /* No command: each input is one, as in parallel (its values by
         * spaces, as they are); the caller checks there is input.  An
         * empty word ('') is a command, as in parallel: the item is
         * then appended to it, quoted. */
        cli_str_free(&t);
        x->raw = true;
        if (cli_str_add(&t, "{}", 2) < 0)
            goto oom;
    }
    x->tmpl = x->tmpl_owned = t.s;
    /* A ::: with no values after it is an empty source (see
     * cli_exec_count()), not an error: the list is often made by the
     * shell, and may be empty.  parallel reads stdin when such a ::: is
     * the last word; here no source means stdin only when none is
     * given, so that the command never runs on stdin by chance. */
    for (; i < argc; i++) {
        if (is_sep(argv[i])) {
            kind = argv[i][3] == ':' ? 2 : 1;
            /* :::+ and ::::+: linked with the source before (not the
             * first: there is none). */
            plus = argv[i][kind == 2 ? 4 : 3] == '+' && x->nsrc > 0;
            s = NULL;
            if (kind == 1 && (s = cli_exec_source_new(x)) == NULL)
                goto oom;
            if (kind == 1)
                x->plus[x->nsrc - 1] = plus;
            if (kind == 2 && i + 1 == argc)
                return cli_usage_error("exec", ":::: with no file after it");
            continue;
        }
        if (kind == 1 && add_words(s, argv[i], x->sep) < 0)
            goto oom;
        if (kind == 2) {
            if ((s = cli_exec_source_new(x)) == NULL)
                goto oom;
            x->plus[x->nsrc - 1] = plus;
            plus = false; /* the next file of the group is combined */
            rc = cli_exec_source_read(s, argv[i], x->sep);
            if (rc != 0)
                return rc;
            rc = -1;
        }
    }
    return -1;
oom:
    cli_str_free(&t);
    cli_error("out of memory");
    return CLI_EXIT_SOFTWARE;
}


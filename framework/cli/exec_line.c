/* SPDX-License-Identifier: MIT */
/*
 * mproc exec: the command line of one job, from the user's template and
 * the job's arguments, with GNU parallel's replacement strings.
 *
 *   {}    the argument (several input sources: all of them, by spaces)
 *   {.}   without its extension     {/}   its base name
 *   {//}  its folder                {/.}  base name without extension
 *   {N}   the N-th input source or --colsep column, also {N.} {N/} ...;
 *         {-N} the N-th from the last
 *   {#}   the job's sequence number  {%}  its slot (the worker, 1..N)
 *
 * Values are shell-quoted: an argument is always data, never code.  With
 * several arguments per command, -X repeats each word that holds a
 * replacement string once per argument (context replace) and -m puts them
 * all, by spaces, where the string stands.  A template with no
 * replacement string gets " {}" appended, as parallel does.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/exec.h"

int
cli_str_add(struct cli_str *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *s;
        while (cap < b->len + n + 1)
            cap *= 2;
        s = realloc(b->s, cap);
        if (s == NULL)
            return -1;
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

void
cli_str_free(struct cli_str *b)
{
    free(b->s);
    memset(b, 0, sizeof(*b));
}

/* Bytes a shell reads as themselves outside quotes. */
static bool
is_plain(const char *v, size_t len)
{
    size_t i;

    if (len == 0)
        return false;
    for (i = 0; i < len; i++)
        if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789_./:=+,@%-",
                   v[i]) == NULL ||
            v[i] == '\0')
            return false;
    return true;
}

int
cli_line_quote(struct cli_str *out, const char *v, size_t len)
{
    size_t i, from = 0;

    if (is_plain(v, len))
        return cli_str_add(out, v, len);
    /* '...', each ' as '\'' (the only byte single quotes cannot hold). */
    if (cli_str_add(out, "'", 1) < 0)
        return -1;
    for (i = 0; i < len; i++) {
        if (v[i] != '\'')
            continue;
        if (cli_str_add(out, v + from, i - from) < 0 ||
            cli_str_add(out, "'\\''", 4) < 0)
            return -1;
        from = i + 1;
    }
    if (cli_str_add(out, v + from, len - from) < 0 ||
        cli_str_add(out, "'", 1) < 0)
        return -1;
    return 0;
}

int
cli_word_quote(struct cli_str *out, const char *w, size_t len)
{
    size_t i;

    if (len == 0)
        return cli_str_add(out, "''", 2);
    for (i = 0; i < len; i++) {
        int r;
        /* A backslash cannot hold a newline (it joins lines): quotes do.
         * Braces stay bare, for the replacement strings (sh reads them
         * as themselves inside a word). */
        if (w[i] == '\n')
            r = cli_str_add(out, "'\n'", 3);
        else if (w[i] == '{' || w[i] == '}' || is_plain(w + i, 1))
            r = cli_str_add(out, w + i, 1);
        else
            r = cli_str_add(out, "\\", 1) < 0 ? -1
                                               : cli_str_add(out, w + i, 1);
        if (r < 0)
            return -1;
    }
    return 0;
}

enum { OP_NONE, OP_EXT, OP_BASE, OP_DIR, OP_BASE_EXT, OP_SEQ, OP_SLOT };

/* {-N}: the N-th source or column from the end (parallel's), in a
 * column number. */
#define COL_FROM_END 0x40000000u

/*
 * A replacement string at t ('{'): its length, with the column (0: {}) and
 * the operation; 0 when t starts none.
 */

static size_t
parse_repl(const char *t, unsigned *col, int *op)
{
    static const struct {
        const char *s;
        int op;
    } ops[] = {{"}", OP_NONE},   {".}", OP_EXT},      {"/}", OP_BASE},
               {"//}", OP_DIR},  {"/.}", OP_BASE_EXT}};
    const char *p = t + 1;
    size_t i;

    *col = 0;
    if (strncmp(t, "{#}", 3) == 0 || strncmp(t, "{%}", 3) == 0) {
        *op = t[1] == '#' ? OP_SEQ : OP_SLOT;
        return 3;
    }
    if ((*p >= '1' && *p <= '9') || (p[0] == '-' && p[1] >= '1' &&
                                     p[1] <= '9')) {
        unsigned long n = 0;
        bool from_end = *p == '-';

        p += from_end;
        while (*p >= '0' && *p <= '9' && n < 100000)
            n = n * 10 + (unsigned long)(*p++ - '0');
        *col = (unsigned)n | (from_end ? COL_FROM_END : 0);
    }
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t n = strlen(ops[i].s);
        if (strncmp(p, ops[i].s, n) == 0) {
            *op = ops[i].op;
            return (size_t)(p - t) + n;
        }
    }
    return 0;
}

bool
cli_line_has_repl(const char *t)
{
    unsigned col;
    int op;

    for (; (t = strchr(t, '{')) != NULL; t++)
        if (parse_repl(t, &col, &op) > 0)
            return true;
    return false;
}

/* The part of v[0..len) an operation keeps: *from, *n; or a literal. */
static const char *
transform(const char *v, size_t len, int op, size_t *n)
{
    const char *slash = NULL, *dot = NULL, *p;

    for (p = v; p < v + len; p++) {
        if (*p == '/')
            slash = p;
        else if (*p == '.')
            dot = p;
    }
    if (dot != NULL && slash != NULL && dot < slash)
        dot = NULL; /* a dot in a folder's name is no extension */
    switch (op) {
    case OP_EXT:
        *n = dot ? (size_t)(dot - v) : len;
        return v;
    case OP_BASE:
    case OP_BASE_EXT:
        p = slash ? slash + 1 : v;
        *n = (size_t)((op == OP_BASE_EXT && dot ? dot : v + len) - p);
        return p;
    case OP_DIR:
        /* As dirname(1): "a" gives ".", "/a" gives "/", "a/b/" "a". */
        while (len > 1 && v[len - 1] == '/')
            len--;
        while (len > 0 && v[len - 1] != '/')
            len--;
        if (len == 0) {
            *n = 1;
            return ".";
        }
        while (len > 1 && v[len - 1] == '/')
            len--;
        *n = len;
        return v;
    default:
        *n = len;
        return v;
    }
}

/* {%}: the mark the exec plugin replaces with the job slot (or, when
 * none is set, the shell's "$MPROC_SLOT"). */
static const char *slot_token;

void
cli_line_set_slot(const char *token)
{
    slot_token = token;
}

/* One replacement string for one argument tuple. */
static int
put_repl(struct cli_str *out, const struct cli_tuple *tu, unsigned col, int op,
         unsigned long long seq)
{
    char num[32];
    const char *v;
    size_t i, n;

    if (op == OP_SEQ) {
        n = (size_t)snprintf(num, sizeof(num), "%llu", seq);
        return cli_str_add(out, num, n);
    }
    if (op == OP_SLOT)
        return slot_token != NULL
                   ? cli_str_add(out, slot_token, strlen(slot_token))
                   : cli_str_add(out, "\"$MPROC_SLOT\"", 13);
    if (col & COL_FROM_END) {
        col &= ~COL_FROM_END;
        if (col > tu->n)
            return 0;
        col = (unsigned)tu->n - col + 1;
    }
    if (col > tu->n)
        return 0; /* a column this line lacks is empty, as in parallel */
    for (i = col ? col - 1 : 0; i < (col ? col : tu->n); i++) {
        if (i > (col ? col - 1 : 0) && cli_str_add(out, " ", 1) < 0)
            return -1;
        v = transform(tu->v[i], tu->len[i], op, &n);
        if (cli_line_quote(out, v, n) < 0)
            return -1;
    }
    return 0;
}

/*
 * t[0..len) with each replacement string filled from the job's values,
 * all[] (its arguments' values end to end: {N} is the N-th, as in
 * parallel, whether they come from N sources or N arguments): {} and its
 * forms take all of them by spaces, or, with cur set (-X's and -N's
 * context replace), that one value only.
 */
static int
fill(struct cli_str *out, const char *t, size_t len,
     const struct cli_tuple *all, const struct cli_tuple *cur,
     unsigned long long seq)
{
    const char *end = t + len, *p;
    unsigned col;
    size_t k;
    int op;

    while (t < end) {
        p = memchr(t, '{', (size_t)(end - t));
        if (p == NULL)
            return cli_str_add(out, t, (size_t)(end - t));
        k = parse_repl(p, &col, &op);
        if (k == 0 || p + k > end) {
            if (cli_str_add(out, t, (size_t)(p - t) + 1) < 0)
                return -1;
            t = p + 1;
            continue;
        }
        if (cli_str_add(out, t, (size_t)(p - t)) < 0 ||
            put_repl(out, col == 0 && cur != NULL ? cur : all, col, op,
                     seq) < 0)
            return -1;
        t = p + k;
    }
    return 0;
}

/* Does w[0..len) hold a {} (of any form), which -X repeats the word
 * for?  {N}, {#} and {%} name one value for the whole line. */
static bool
has_context(const char *w, size_t len)
{
    const char *end = w + len;
    unsigned col;
    int op;

    for (; w < end; w++)
        if (*w == '\\' && w + 1 < end)
            w++; /* an escaped blank (-q) is the word's */
        else if (*w == '{' && parse_repl(w, &col, &op) > 0 && col == 0 &&
                 op != OP_SEQ && op != OP_SLOT)
            return true;
    return false;
}

int
cli_line_make(struct cli_str *out, const char *tmpl, int mode,
              const struct cli_tuple *tu, size_t ntu, unsigned long long seq)
{
    struct cli_tuple all = {0}, one = {0};
    const char *t = tmpl, *w;
    size_t i, j, n = 0;
    int r = -1;

    out->len = 0;
    if (cli_str_add(out, "", 0) < 0)
        return -1;
    /* The job's values end to end (the strings are borrowed). */
    if (ntu == 1) {
        all = tu[0];
    } else if (ntu > 1) {
        for (i = 0; i < ntu; i++)
            n += tu[i].n;
        all.v = malloc((n ? n : 1) * sizeof(*all.v));
        all.len = malloc((n ? n : 1) * sizeof(*all.len));
        if (all.v == NULL || all.len == NULL)
            goto done;
        for (i = 0; i < ntu; i++)
            for (j = 0; j < tu[i].n; j++) {
                all.v[all.n] = tu[i].v[j];
                all.len[all.n++] = tu[i].len[j];
            }
    }
    if (mode != CLI_LINE_X) {
        r = fill(out, tmpl, strlen(tmpl), &all, NULL, seq);
        goto done;
    }
    /* -X (and -N): words (runs of non-blanks) that hold a {} are
     * repeated once per value. */
    while (*t != '\0') {
        for (w = t; *w != '\0' && *w != ' ' && *w != '\t'; w++)
            if (*w == '\\' && w[1] != '\0')
                w++;
        if (!has_context(t, (size_t)(w - t)) || all.n == 0) {
            if (fill(out, t, (size_t)(w - t), &all, NULL, seq) < 0)
                goto done;
        } else {
            for (i = 0; i < all.n; i++) {
                one.v = &all.v[i];
                one.len = &all.len[i];
                one.n = one.cap = 1;
                if ((i > 0 && cli_str_add(out, " ", 1) < 0) ||
                    fill(out, t, (size_t)(w - t), &all, &one, seq) < 0)
                    goto done;
            }
        }
        for (t = w; *t == ' ' || *t == '\t'; t++)
            ;
        if (cli_str_add(out, w, (size_t)(t - w)) < 0)
            goto done;
    }
    r = 0;
done:
    if (ntu > 1) {
        free(all.v);
        free(all.len);
    }
    return r;
}

int
cli_line_rename(struct cli_str *out, const char *tmpl,
                const struct cli_tuple *names)
{
    static const char *const ends[] = {"}", ".}", "/}", "//}", "/.}"};
    const char *p = tmpl;
    char num[32];
    size_t i, k, n;

    out->len = 0;
    if (cli_str_add(out, "", 0) < 0)
        return -1;
    while (*p != '\0') {
        size_t took = 0;
        if (*p == '{') {
            /* {NAME} and NAME with an operation ({NAME.} ...): the first
             * name that fits, before one of parallel's endings. */
            for (i = 0; i < names->n && took == 0; i++) {
                n = names->len[i];
                if (n == 0 || strncmp(p + 1, names->v[i], n) != 0)
                    continue;
                for (k = 0; k < sizeof(ends) / sizeof(ends[0]); k++)
                    if (strncmp(p + 1 + n, ends[k], strlen(ends[k])) == 0)
                        break;
                if (k == sizeof(ends) / sizeof(ends[0]))
                    continue;
                snprintf(num, sizeof(num), "{%zu", i + 1);
                if (cli_str_add(out, num, strlen(num)) < 0)
                    return -1;
                took = 1 + n;
            }
        }
        if (took == 0 && cli_str_add(out, p, 1) < 0)
            return -1;
        p += took ? took : 1;
    }
    return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The text of a configuration: INI job files, read with the system's
 * inih, and --set SECTION.KEY=VALUE, both taken apart into assignments
 * that config.c checks against its schema (mproc__config_assign).  Apart
 * from config.c because this is about lines and inih's habits, not about
 * keys and values: one changes without the other.
 *
 * Debian's libinih (v55, built with its defaults) has three habits that a
 * job file must not suffer silently, and this file works around each:
 *   - It reads lines into a 200-byte buffer and parses what does not fit as
 *     the next line.  We read the whole file ourselves first, refuse a line
 *     of more than MPROC_CONFIG_LINE_MAX bytes, and parse a `key = value`
 *     line too long for inih ourselves, the way inih would, handing inih
 *     a comment in its place: a path in a deep folder is a long line.
 *   - Its handler is not told the line number.  We feed inih through our own
 *     reader, which hands out one line per call and so always knows the
 *     line inih is on.
 *   - An indented line continues the value above it.  A stray indent would
 *     then change a value far from where the eye looks, so we refuse it.
 * inih also reports a section only together with its first key, so an empty
 * or misspelt [section] would pass unseen; the reader checks every header
 * as it hands the line out.
 *
 * The first error stops the load: the reader simply reports end of file
 * to inih.
 */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config/config_int.h"

/* inih v55 keeps at most this many bytes of a section name (MAX_SECTION). */
#define INIH_SECTION_MAX 49
/* The longest line inih reads whole (INI_MAX_LINE - 1). */
#define INIH_LINE_MAX 199

/* A bigger "job file" is a mistake (see read.c). */
#define FILE_MAX MPROC__CONFIG_FILE_MAX

/* ---- reading files ---- */

/* The state of one file being loaded. */
struct parse {
    mproc_config_t *cfg;
    const char *path; /* as given, for messages */
    char *dir;        /* its folder; NULL for the working directory */
    char *loc;        /* "PATH:LINE" of the current line */
    size_t loc_cap;
    const char *data; /* the whole file */
    size_t len, off;
    int line; /* the line inih is working on */
    int file_id;
    int code;     /* the first error, 0 while there is none */
    int err_line; /* its line */
    mproc_err_t *err;
    /* The section inih is in, as inih keeps it (for the lines parsed
     * here): the text between '[' and ']', at most INIH_SECTION_MAX. */
    char section[INIH_SECTION_MAX + 1];
};

static void
set_loc(struct parse *ps)
{
    snprintf(ps->loc, ps->loc_cap, "%s:%d", ps->path, ps->line);
}

static void
fail_at_line(struct parse *ps, int code)
{
    ps->code = code;
    ps->err_line = ps->line;
}

/*
 * Refuse what inih would misread, before it reads anything: lines too long
 * for its buffer, NUL bytes (the reader hands out C strings) and indented
 * lines (continuations).  An indented comment is still a comment to inih.
 */
static int
precheck(const struct parse *ps)
{
    const char *p = ps->data, *end = ps->data + ps->len, *nl, *q;
    size_t n, bom;
    int line = 0;

    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        line++;
        if (n > 0 && p[n - 1] == '\r')
            n--; /* part of a CRLF newline */
        /* inih skips a UTF-8 byte-order mark, then the line's leading
         * whitespace: what follows the mark is the line's start. */
        bom = line == 1 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
        if (memchr(p, '\0', n) != NULL)
            return mproc__err(ps->err, MPROC_ECONFIG,
                              "%s:%d: line holds a NUL byte; a job file is "
                              "text",
                              ps->path, line);
        /* Room for a quoted value of 64 KiB with every byte escaped;
         * own_line() holds each kind of line to its own limit. */
        if (n > 2 * MPROC_CONFIG_VALUE_MAX + MPROC_CONFIG_LINE_MAX)
            return mproc__err(ps->err, MPROC_ECONFIG,
                              "%s:%d: line is %zu bytes long; a job file "
                              "holds values of up to %d bytes (64 KiB), in "
                              "double quotes: put a longer command in a "
                              "script file",
                              ps->path, line, n, MPROC_CONFIG_VALUE_MAX);
        for (q = p + bom; q < p + n && isspace((unsigned char)*q); q++)
            ;
        if (q > p + bom && q < p + n && *q != ';' && *q != '#')
            return mproc__err(ps->err, MPROC_ECONFIG,
                              "%s:%d: indented line: continuation lines are "
                              "not supported; remove the leading whitespace",
                              ps->path, line);
        p = nl != NULL ? nl + 1 : end;
    }
    return 0;
}

/*
 * Check a "[section]" line the way inih will read it: the name runs to the
 * first ']', unless an inline comment (" ;") comes first, in which case inih
 * reports a syntax error itself.  inih ignores text after the ']'.
 */
static void
check_header(struct parse *ps, const char *s)
{
    char name[INIH_LINE_MAX + 1];
    bool was_space = false;
    const char *e;
    size_t n;

    if (ps->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3; /* inih skips a UTF-8 byte-order mark */
    if (*s != '[')
        return;
    for (e = s + 1; *e != '\0' && *e != ']' && !(was_space && *e == ';'); e++)
        was_space = isspace((unsigned char)*e);
    if (*e != ']')
        return;
    n = (size_t)(e - s - 1);
    memcpy(name, s + 1, n);
    name[n] = '\0';
    /* inih keeps as much of the name as its buffer holds. */
    memcpy(ps->section, name, n < INIH_SECTION_MAX ? n : INIH_SECTION_MAX);
    ps->section[n < INIH_SECTION_MAX ? n : INIH_SECTION_MAX] = '\0';
    set_loc(ps);
    if (strcmp(name, "args") == 0 && ps->cfg->args_where == NULL &&
        (ps->cfg->args_where = strdup(ps->loc)) == NULL) {
        fail_at_line(ps, mproc__err(ps->err, MPROC_ENOMEM, "out of memory"));
        return;
    }
    if (strcmp(name, "manager") == 0 &&
        mproc__mgrconf_header(&ps->cfg->mgr, ps->loc) < 0)
        fail_at_line(ps, mproc__err(ps->err, MPROC_ENOMEM, "out of memory"));
    if (mproc__find_name(name, mproc__config_sections,
                         MPROC__ARRAY_SIZE(mproc__config_sections)) >= 0)
        return;
    if (!mproc__decl_section(name)) {
        fail_at_line(ps, mproc__config_unknown_section(name, ps->loc, ps->err));
        return;
    }
    /* inih would silently cut a longer name, and its keys would then land
     * in a section nobody declared. */
    if (n > INIH_SECTION_MAX) {
        fail_at_line(ps, mproc__err(ps->err, MPROC_ECONFIG,
                                    "%s: section name is %zu bytes long; "
                                    "inih reads at most %d (shorten the name)",
                                    ps->loc, n, INIH_SECTION_MAX));
        return;
    }
    fail_at_line(ps, mproc__decl_header(&ps->cfg->decls, name, ps->loc,
                                        ps->file_id, ps->err));
}

static int on_pair(void *user, const char *section, const char *name,
                   const char *value);

/* inih's lskip() and rstrip(). */
static char *
lskip(char *s)
{
    while (*s != '\0' && isspace((unsigned char)*s))
        s++;
    return s;
}

static void
rstrip(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

/* inih's find_chars_or_comment(): the first of `chars` (NULL: none), an
 * inline ';' comment (after a blank), or the end of s. */
static char *
find_or_comment(char *s, const char *chars)
{
    bool was_space = false;

    while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
           !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

/*
 * A quoted value: `"` at q[0], then text with \" and \\ as escapes (any
 * other backslash is kept, so printf '%s\n' reads as written).  *close is
 * set to its closing quote, or NULL when the line ends first.
 */
static void
find_close(const char *q, const char **close)
{
    for (q++; *q != '\0'; q++) {
        if (*q == '\\' && (q[1] == '"' || q[1] == '\\'))
            q++;
        else if (*q == '"')
            break;
    }
    *close = *q == '"' ? q : NULL;
}

/* Decode the quoted text between q (the opening quote) and close, in
 * place: escapes out.  Returns its length. */
static size_t
unquote(char *q, const char *close)
{
    const char *r = q + 1;
    char *w = q;

    while (r < close) {
        if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
            r++;
        *w++ = *r++;
    }
    *w = '\0';
    return (size_t)(w - q);
}

/* An unquoted [args] value cut by an inline comment: say so, since the
 * cut part is often the rest of a shell command (`a ; b`). */
static bool
note_comment(struct parse *ps, const char *key, const char *value)
{
    char *msg;

    if (strcmp(ps->section, "args") != 0)
        return true;
    if (asprintf(&msg,
                 "%s: [args] %s: the text after ' ;' was taken as a comment, "
                 "so the value is '%.60s%s'; to keep a ';', put the whole "
                 "value in double quotes: %s = \"...\"",
                 ps->loc, key, value, strlen(value) > 60 ? "..." : "",
                 key) < 0 ||
        mproc__config_warn(ps->cfg, msg) < 0) {
        fail_at_line(ps, mproc__err(ps->err, MPROC_ENOMEM,
                                    "%s: out of memory", ps->path));
        return false;
    }
    return true;
}

/*
 * Parse a line here, the way inih parses one, when inih cannot: a line
 * too long for its buffer (too_long), and a value in double quotes, which
 * inih would keep with its quotes and cut at " ;".  Returns 1 when parsed
 * here (inih gets a comment in its place), 0 to hand the line to inih,
 * -1 after an error, kept in ps.
 */
static int
own_line(struct parse *ps, const char *start, size_t len, bool too_long)
{
    char *buf = malloc(len + 1), *s, *end, *raw, *value, *rest;
    const char *close;
    bool cut;
    int r = -1;

    if (buf == NULL) {
        fail_at_line(ps, mproc__err(ps->err, MPROC_ENOMEM,
                                    "%s: out of memory", ps->path));
        return -1;
    }
    memcpy(buf, start, len);
    buf[len] = '\0';
    s = buf;
    if (ps->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    rstrip(s);
    s = lskip(s);
    set_loc(ps);
    if (*s == '\0' || *s == ';' || *s == '#') {
        r = too_long; /* a comment: ours, or inih's */
        goto done;
    }
    if (*s == '[' && too_long) {
        /* A section name this long would be cut by inih. */
        fail_at_line(ps, mproc__err(ps->err, MPROC_ECONFIG,
                                    "%s: section header is %zu bytes long; "
                                    "inih reads at most %d (shorten the name)",
                                    ps->loc, len, INIH_LINE_MAX));
        goto done;
    }
    end = find_or_comment(s, "=:");
    if (*s == '[' || (*end != '=' && *end != ':')) {
        if (!too_long) {
            r = 0; /* a header, or inih's syntax error */
            goto done;
        }
        fail_at_line(ps, mproc__err(ps->err, MPROC_ECONFIG,
                                    "%s: syntax error: expected '[section]', "
                                    "'key = value' or a comment",
                                    ps->loc));
        goto done;
    }
    *end = '\0';
    rstrip(s);
    raw = end + 1;
    value = lskip(raw);
    if (*value == '"') {
        find_close(value, &close);
        if (close == NULL) {
            fail_at_line(ps, mproc__err(ps->err, MPROC_ECONFIG,
                                        "%s: %s: unterminated quoted value: "
                                        "the line ends before the closing "
                                        "'\"' (write a '\"' inside as \\\")",
                                        ps->loc, s));
            goto done;
        }
        rest = lskip((char *)close + 1);
        /* Only blanks or a comment after the closing quote make a quoted
         * value; `"$HOME/x" "$1"` stays an unquoted value, as it was. */
        if (*rest == '\0' || *rest == ';' || *rest == '#') {
            if (unquote(value, close) > MPROC_CONFIG_VALUE_MAX) {
                fail_at_line(ps, mproc__err(ps->err, MPROC_ECONFIG,
                                            "%s: %s: the quoted value is %zu "
                                            "bytes long; a value holds at "
                                            "most %d (64 KiB): put a longer "
                                            "command in a script file",
                                            ps->loc, s, strlen(value),
                                            MPROC_CONFIG_VALUE_MAX));
                goto done;
            }
            on_pair(ps, ps->section, s, value);
            r = ps->code == 0 ? 1 : -1;
            goto done;
        }
    }
    if (too_long && len > MPROC_CONFIG_LINE_MAX) {
        fail_at_line(ps, mproc__err(ps->err, MPROC_ECONFIG,
                                    "%s: line is %zu bytes long; an unquoted "
                                    "value's line holds at most %d: put the "
                                    "value in double quotes (up to 64 KiB), "
                                    "e.g. %s = \"...\"",
                                    ps->loc, len, MPROC_CONFIG_LINE_MAX, s));
        goto done;
    }
    /* inih looks for the comment before it skips the blanks. */
    end = find_or_comment(raw, NULL);
    cut = *end == ';';
    *end = '\0';
    value = lskip(raw);
    rstrip(value);
    if (cut && !note_comment(ps, s, value))
        goto done;
    if (!too_long) {
        r = 0; /* inih reads it the same */
        goto done;
    }
    on_pair(ps, ps->section, s, value);
    r = ps->code == 0 ? 1 : -1;

done:
    free(buf);
    return r;
}

/*
 * inih's reader: hand out the next line, counting, so the handler knows the
 * line number.  After an error it reports end of file, which is how the
 * load stops at the first error: inih itself would carry on.
 */
static char *
next_line(char *str, int num, void *stream)
{
    struct parse *ps = stream;
    const char *start, *nl;
    size_t n, text;

    if (ps->code != 0 || ps->off >= ps->len)
        return NULL;
    start = ps->data + ps->off;
    nl = memchr(start, '\n', ps->len - ps->off);
    n = nl != NULL ? (size_t)(nl - start) + 1 : ps->len - ps->off;
    ps->off += n;
    ps->line++;
    /* A line's text that does not fit inih's buffer is parsed here.  Its
     * newline may not fit too, but inih v55 only strips it anyway. */
    text = n;
    if (nl != NULL)
        text -= n >= 2 && start[n - 2] == '\r' ? 2 : 1;
    /* A line inih would cut, or a quoted value: parse it here, and give
     * inih a comment in its place, so that its line count stays ours. */
    switch (own_line(ps, start, text, text > (size_t)num - 1)) {
    case 1:
        if (num < 2)
            return NULL;
        strcpy(str, "#");
        return str;
    case -1:
        return NULL;
    }
    if (n > (size_t)num - 1)
        n = (size_t)num - 1;
    memcpy(str, start, n);
    str[n] = '\0';
    check_header(ps, str);
    return ps->code == 0 ? str : NULL;
}

/*
 * inih's handler.  It always returns 1 ("handled"): our message, with its
 * line, is kept in ps, and the reader stops the parse at its next call.
 */
static int
on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct parse *ps = user;
    struct mproc__config_source src;

    if (ps->code != 0)
        return 1;
    set_loc(ps);
    if (name[0] == '\0') {
        /* "= value": inih calls that a key named "". */
        fail_at_line(ps, mproc__err(ps->err, MPROC_ECONFIG,
                                    "%s: syntax error: expected '[section]', "
                                    "'key = value' or a comment",
                                    ps->loc));
        return 1;
    }
    if (section[0] == '\0') {
        fail_at_line(ps, mproc__err(ps->err, MPROC_ECONFIG,
                                    "%s: key '%s' is outside any section; "
                                    "put it under [job], [pool] or [args]",
                                    ps->loc, name));
        return 1;
    }
    src.loc = ps->loc;
    src.where = ps->loc;
    src.dir = ps->dir;
    src.line = ps->line;
    src.file_id = ps->file_id;
    fail_at_line(ps, mproc__config_assign(ps->cfg, section, name, value, &src,
                                          ps->err));
    return 1;
}

/* The folder of `path` into *out, or NULL when it names none. */
static int
folder_of(const char *path, char **out)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    *out = NULL;
    if (slash == NULL)
        return 0;
    n = (size_t)(slash - path);
    while (n > 0 && path[n - 1] == '/')
        n--;
    /* "/job.ini" lives in "/", not in "". */
    *out = n > 0 ? strndup(path, n) : strdup("/");
    return *out != NULL ? 0 : MPROC_ENOMEM;
}

/* ---- loading, and --set ---- */

/* Parse `data` (len bytes, NUL-terminated, freed here) read from path. */
static int
load_data(mproc_config_t *cfg, const char *path, char *data, size_t len,
          mproc_err_t *err)
{
    struct parse ps = {.cfg = cfg, .path = path, .err = err};
    char *name = NULL;
    int r, bad;

    ps.data = data;
    ps.len = len;
    ps.file_id = ++cfg->loads;
    ps.loc_cap = strlen(path) + 24;
    if (folder_of(path, &ps.dir) < 0 || (ps.loc = malloc(ps.loc_cap)) == NULL ||
        (name = strdup(path)) == NULL) {
        r = mproc__err(err, MPROC_ENOMEM, "out of memory");
        goto fail;
    }
    if ((r = precheck(&ps)) < 0)
        goto fail;
    bad = ini_parse_stream(next_line, &ps, on_pair, &ps);
    /* inih notes a syntax error (a line with no '=', an unclosed '[') and
     * goes on, so one of our errors may come later in the file: report
     * whichever comes first. */
    if (bad > 0 && (ps.code == 0 || bad < ps.err_line))
        ps.code = mproc__err(err, MPROC_ECONFIG,
                             "%s:%d: syntax error: expected '[section]', "
                             "'key = value' or a comment",
                             path, bad);
    else if (bad < 0 && ps.code == 0)
        ps.code = mproc__err(err, MPROC_ENOMEM, "%s: out of memory", path);
    if ((r = ps.code) < 0)
        goto fail;
    free(cfg->last_file);
    cfg->last_file = name;
    name = NULL;

fail:
    free(name);
    free(ps.loc);
    free(ps.dir);
    free(data);
    return r;
}

int
mproc_config_load(mproc_config_t *cfg, const char *path, mproc_err_t *err)
{
    char *data = NULL;
    size_t len = 0;
    int r;

    if (cfg == NULL)
        return mproc__err(err, MPROC_EINVAL, "config: no config");
    cfg->finished = false; /* the typed view may point at what we replace */
    if ((r = mproc__config_read_file(path, &data, &len, err)) < 0)
        return r;
    return load_data(cfg, path, data, len, err);
}

int
mproc__config_load_mem(mproc_config_t *cfg, const char *path,
                       const void *data, size_t len, mproc_err_t *err)
{
    char *copy;

    cfg->finished = false;
    if (len > FILE_MAX)
        return mproc__err(err, MPROC_EINPUT,
                          "%s: cannot read: larger than %zu MiB; not a job "
                          "file",
                          path, FILE_MAX >> 20);
    if ((copy = malloc(len + 1)) == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    memcpy(copy, data, len);
    copy[len] = '\0';
    return load_data(cfg, path, copy, len, err);
}

/* Trim blanks at both ends, in place. */
static char *
trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int
mproc_config_set(mproc_config_t *cfg, const char *assignment, mproc_err_t *err)
{
    struct mproc__config_source src = {NULL, "--set", NULL, 0, 0};
    char *copy = NULL, *loc = NULL, *eq, *dot, *section = NULL, *key = NULL;
    int r;

    if (cfg == NULL)
        return mproc__err(err, MPROC_EINVAL, "config: no config");
    cfg->finished = false;
    if ((copy = strdup(assignment)) == NULL ||
        asprintf(&loc, "--set %s", assignment) < 0) {
        loc = NULL;
        r = mproc__err(err, MPROC_ENOMEM, "out of memory");
        goto fail;
    }
    /* SECTION.KEY is what comes before the first '='; the section ends at
     * its first '.', so an [args] key may hold dots itself. */
    eq = strchr(copy, '=');
    dot = eq != NULL ? memchr(copy, '.', (size_t)(eq - copy)) : NULL;
    if (dot != NULL) {
        *eq = '\0';
        *dot = '\0';
        section = trim(copy);
        key = trim(dot + 1);
    }
    if (dot == NULL || section[0] == '\0' || key[0] == '\0') {
        r = mproc__err(err, MPROC_ECONFIG,
                       "--set '%s': expected SECTION.KEY=VALUE, e.g. --set "
                       "pool.workers=4",
                       assignment);
        goto fail;
    }
    src.loc = loc;
    r = mproc__config_assign(cfg, section, key, trim(eq + 1), &src, err);

fail:
    free(copy);
    free(loc);
    return r;
}

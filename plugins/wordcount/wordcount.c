/*
 * wordcount: count words, where a word is a maximal run of bytes that are
 * not C-locale whitespace (space, \t, \n, \v, \f, \r).
 *
 * Tasks: "text" counts the words of the item itself; "files" reads the
 * file the item names.  A task outputs "WORD\tCOUNT\n" lines for its item;
 * the parent's reduce merges them, and reduce_end writes the total sorted
 * by count, descending, then by word in byte order.  Words never hold a
 * tab or a newline, so those are safe separators.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc/plugin.h>

/* ---- a hash table of byte strings to counts (open addressing) ---- */

struct entry {
    char *word; /* NULL: empty slot */
    size_t len;
    uint64_t count;
    uint64_t hash;
};

struct table {
    struct entry *e;
    size_t cap, used;
};

static uint64_t
hash_bytes(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int
table_grow(struct table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024, i, j;
    struct entry *e = calloc(cap, sizeof(*e));

    if (e == NULL)
        return -1;
    for (i = 0; i < t->cap; i++) {
        if (t->e[i].word == NULL)
            continue;
        for (j = t->e[i].hash & (cap - 1); e[j].word != NULL;
             j = (j + 1) & (cap - 1))
            ;
        e[j] = t->e[i];
    }
    free(t->e);
    t->e = e;
    t->cap = cap;
    return 0;
}

static int
table_add(struct table *t, const char *w, size_t len, uint64_t n)
{
    uint64_t h = hash_bytes(w, len);
    size_t j;

    /* Keep the load under 3/4 so probes stay short. */
    if ((t->used + 1) * 4 > t->cap * 3 && table_grow(t) != 0)
        return -1;
    for (j = h & (t->cap - 1); t->e[j].word != NULL; j = (j + 1) & (t->cap - 1)) {
        struct entry *e = &t->e[j];
        if (e->hash == h && e->len == len && memcmp(e->word, w, len) == 0) {
            e->count += n;
            return 0;
        }
    }
    t->e[j].word = malloc(len ? len : 1);
    if (t->e[j].word == NULL)
        return -1;
    memcpy(t->e[j].word, w, len);
    t->e[j].len = len;
    t->e[j].count = n;
    t->e[j].hash = h;
    t->used++;
    return 0;
}

static void
table_free(struct table *t)
{
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < t->cap; i++)
        free(t->e[i].word);
    free(t->e);
    free(t);
}

static int
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
           c == '\r';
}

static int
count_words(struct table *t, const char *s, size_t len)
{
    size_t i = 0, start;

    while (i < len) {
        while (i < len && is_space((unsigned char)s[i]))
            i++;
        start = i;
        while (i < len && !is_space((unsigned char)s[i]))
            i++;
        if (i > start && table_add(t, s + start, i - start, 1) != 0)
            return -1;
    }
    return 0;
}

static int
emit(struct mproc_ctx *ctx, const struct table *t, struct mproc_buf *out)
{
    size_t i;

    for (i = 0; i < t->cap; i++) {
        const struct entry *e = &t->e[i];
        if (e->word == NULL)
            continue;
        if (mproc_buf_append(out, e->word, e->len) != MPROC_TASK_OK ||
            mproc_buf_printf(out, "\t%" PRIu64 "\n", e->count) !=
                MPROC_TASK_OK)
            return mproc_fail(ctx, "output exceeds the message limit");
    }
    return MPROC_TASK_OK;
}

/* Count the words of one text and output its counts. */
static int
count_and_emit(struct mproc_ctx *ctx, const char *s, size_t len,
               struct mproc_buf *out)
{
    struct table *t = calloc(1, sizeof(*t));
    int r;

    if (t == NULL || count_words(t, s, len) != 0) {
        table_free(t);
        return mproc_fail(ctx, "out of memory counting words");
    }
    r = emit(ctx, t, out);
    table_free(t);
    return r;
}

static int
wc_text(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    (void)index;
    return count_and_emit(ctx, in, len, out);
}

static int
wc_files(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    char path[4096];
    char *data = NULL;
    size_t n = 0, cap = 0, got;
    FILE *fp;
    int r;

    (void)index;
    if (len == 0 || len >= sizeof(path) || memchr(in, '\0', len) != NULL)
        return mproc_fail(ctx, "not a usable file path");
    memcpy(path, in, len);
    path[len] = '\0';
    fp = fopen(path, "rb");
    if (fp == NULL)
        return mproc_fail(ctx, "cannot read %s: %s", path, strerror(errno));
    do {
        if (cap - n < 65536) {
            char *d = realloc(data, cap = cap ? cap * 2 : 262144);
            if (d == NULL) {
                free(data);
                fclose(fp);
                return mproc_fail(ctx, "out of memory reading %s", path);
            }
            data = d;
        }
        got = fread(data + n, 1, cap - n, fp);
        n += got;
    } while (got > 0);
    if (ferror(fp)) {
        int e = errno;
        free(data);
        fclose(fp);
        return mproc_fail(ctx, "cannot read %s: %s", path, strerror(e));
    }
    fclose(fp);
    r = count_and_emit(ctx, data, n, out);
    free(data);
    return r;
}

/* ---- parent side ---- */

static int
wc_reduce(struct mproc_ctx *ctx, const void *data, size_t len, uint64_t index)
{
    struct table *t = ctx->state;
    const char *p = data, *end = p + len;

    (void)index;
    if (t == NULL && (t = ctx->state = calloc(1, sizeof(*t))) == NULL)
        return mproc_fail(ctx, "out of memory");
    while (p < end) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *nl = tab ? memchr(tab, '\n', (size_t)(end - tab)) : NULL;
        uint64_t n = 0;
        const char *q;

        if (tab == NULL || nl == NULL || tab + 1 == nl)
            return mproc_fail(ctx, "malformed task output");
        for (q = tab + 1; q < nl; q++) {
            if (*q < '0' || *q > '9')
                return mproc_fail(ctx, "malformed count in task output");
            n = n * 10 + (uint64_t)(*q - '0');
        }
        if (table_add(t, p, (size_t)(tab - p), n) != 0)
            return mproc_fail(ctx, "out of memory merging counts");
        p = nl + 1;
    }
    return MPROC_TASK_OK;
}

static int
by_count_then_word(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    c = memcmp(x->word, y->word, n);
    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static int
wc_reduce_end(struct mproc_ctx *ctx, struct mproc_buf *out)
{
    struct table *t = ctx->state;
    size_t i, n = 0;
    int r = MPROC_TASK_OK;

    ctx->state = NULL;
    if (t == NULL)
        return MPROC_TASK_OK;
    /* Pack the used entries to the front, then sort them. */
    for (i = 0; i < t->cap; i++)
        if (t->e[i].word != NULL)
            t->e[n++] = t->e[i];
    for (i = n; i < t->cap; i++)
        t->e[i].word = NULL;
    qsort(t->e, n, sizeof(*t->e), by_count_then_word);
    for (i = 0; i < n && r == MPROC_TASK_OK; i++) {
        if (mproc_buf_append(out, t->e[i].word, t->e[i].len) != MPROC_TASK_OK ||
            mproc_buf_printf(out, "\t%" PRIu64 "\n", t->e[i].count) !=
                MPROC_TASK_OK)
            r = mproc_fail(ctx, "the result exceeds the message limit");
    }
    table_free(t);
    return r;
}

static const struct mproc_task_def tasks[] = {
    {"text", wc_text, "count the words of the item"},
    {"files", wc_files, "count the words of the file the item names"},
    {NULL, NULL, NULL},
};

MPROC_PLUGIN_DEFINE(.name = "wordcount", .version = "1.0",
                    .description = "count words; the parent merges and sorts",
                    .tasks = tasks, .reduce = wc_reduce,
                    .reduce_end = wc_reduce_end);

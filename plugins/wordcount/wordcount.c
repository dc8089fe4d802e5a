/* SPDX-License-Identifier: MIT */
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc/plugin.h>

/*
 * The table is laid out for millions of distinct words in the parent:
 * the words live in a few large chunks rather than one malloc each, the
 * entries in one array (24 bytes each, and already packed for the final
 * sort), and the open-addressing slots hold only 32-bit entry numbers.
 */

#define MIN_SLOTS 64
#define CHUNK_MIN 4096      /* the first chunk: a line's words fit */
#define CHUNK_MAX (1 << 20) /* chunks double up to this */
#define MAX_WORDS (1u << 30) /* keeps slot numbers and sizes in range */
#define READ_SIZE (256 * 1024)

struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
};

struct entry {
    const char *word; /* in a chunk; not NUL-terminated */
    uint64_t count;
    uint32_t len;
    uint32_t hash;
};

struct table {
    uint32_t *slot;  /* 0: empty, else 1 + the entry's index */
    size_t nslots;   /* a power of two, or 0 before the first word */
    struct entry *e; /* in order of first appearance */
    size_t n, cap;
    struct chunk *chunks; /* the newest, with room, first */
};

/* Why table_add() failed, for the message. */
enum { ADD_OK, ADD_NOMEM, ADD_TOOBIG };

static int
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
           c == '\r';
}

static uint32_t
hash_bytes(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    /* The slot is taken from the low bits, which FNV-1a mixes poorly for
     * short keys that differ in their last byte: fold the high bits in
     * (the murmur3 finaliser) so neighbours do not cluster. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (uint32_t)h;
}

static void
table_fini(struct table *t)
{
    struct chunk *c, *next;

    for (c = t->chunks; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(t->slot);
    free(t->e);
    memset(t, 0, sizeof(*t));
}

/* A copy of the word in a chunk, or NULL when out of memory. */
static const char *
store(struct table *t, const char *w, size_t len)
{
    struct chunk *c = t->chunks;
    size_t cap;

    if (c != NULL && c->cap - c->used >= len) {
        c->used += len;
        return memcpy(c->data + c->used - len, w, len);
    }
    cap = c == NULL ? CHUNK_MIN : c->cap < CHUNK_MAX ? c->cap * 2 : CHUNK_MAX;
    if (cap > CHUNK_MAX)
        cap = CHUNK_MAX;
    if (cap < len)
        cap = len;
    c = malloc(sizeof(*c) + cap);
    if (c == NULL)
        return NULL;
    c->used = len;
    c->cap = cap;
    /* A word bigger than a whole chunk gets a chunk of its own, linked
     * behind the head, so the head's free room is not thrown away. */
    if (len > CHUNK_MAX / 4 && t->chunks != NULL) {
        c->next = t->chunks->next;
        t->chunks->next = c;
    } else {
        c->next = t->chunks;
        t->chunks = c;
    }
    return memcpy(c->data, w, len);
}

static int
rehash(struct table *t, size_t nslots)
{
    uint32_t *s = calloc(nslots, sizeof(*s));
    size_t i, j;

    if (s == NULL)
        return -1;
    for (i = 0; i < t->n; i++) {
        for (j = t->e[i].hash & (nslots - 1); s[j] != 0;
             j = (j + 1) & (nslots - 1))
            ;
        s[j] = (uint32_t)(i + 1);
    }
    free(t->slot);
    t->slot = s;
    t->nslots = nslots;
    return 0;
}

/* Add n to the count of the word w[0..len), adding the word if new. */
static int
table_add(struct table *t, const char *w, size_t len, uint64_t n)
{
    struct entry *e;
    uint32_t h;
    size_t j, mask;

    if (len > UINT32_MAX)
        return ADD_TOOBIG;
    /* At most half full: with linear probing a miss then costs about
     * 2.5 probes, and a slot is only 4 bytes. */
    if ((t->n + 1) * 2 > t->nslots &&
        rehash(t, t->nslots ? t->nslots * 2 : MIN_SLOTS) != 0)
        return ADD_NOMEM;
    h = hash_bytes(w, len);
    mask = t->nslots - 1;
    for (j = h & mask; t->slot[j] != 0; j = (j + 1) & mask) {
        e = &t->e[t->slot[j] - 1];
        if (e->hash == h && e->len == len && memcmp(e->word, w, len) == 0) {
            e->count += n;
            return ADD_OK;
        }
    }
    if (t->n >= MAX_WORDS)
        return ADD_TOOBIG;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : MIN_SLOTS / 2;
        struct entry *ne = realloc(t->e, cap * sizeof(*ne));
        if (ne == NULL)
            return ADD_NOMEM;
        t->e = ne;
        t->cap = cap;
    }
    e = &t->e[t->n];
    e->word = store(t, w, len);
    if (e->word == NULL)
        return ADD_NOMEM;
    e->len = (uint32_t)len;
    e->hash = h;
    e->count = n;
    t->slot[j] = (uint32_t)++t->n;
    return ADD_OK;
}

static int
add_failed(struct mproc_ctx *ctx, int r)
{
    if (r == ADD_TOOBIG)
        return mproc_fail(ctx, "too many words, or a word longer than 4 GiB");
    return mproc_fail(ctx, "out of memory counting words");
}

/* Count the words of s[0..len); a word may not continue past len. */
static int
count_words(struct table *t, const char *s, size_t len)
{
    size_t i = 0, start;
    int r;

    while (i < len) {
        while (i < len && is_space((unsigned char)s[i]))
            i++;
        start = i;
        while (i < len && !is_space((unsigned char)s[i]))
            i++;
        if (i > start && (r = table_add(t, s + start, i - start, 1)) != 0)
            return r;
    }
    return ADD_OK;
}

/* Append "WORD\tCOUNT\n", formatting the count by hand: the parent writes
 * millions of these, and one reserve per line beats two vsnprintf calls. */
static int
put_line(struct mproc_buf *out, const struct entry *e)
{
    char num[20];
    size_t k = sizeof(num);
    uint64_t v = e->count;
    char *p;

    do {
        num[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (mproc_buf_reserve(out, e->len + 2 + (sizeof(num) - k)) !=
        MPROC_TASK_OK)
        return MPROC_TASK_FAIL;
    p = out->data + out->len;
    memcpy(p, e->word, e->len);
    p += e->len;
    *p++ = '\t';
    memcpy(p, num + k, sizeof(num) - k);
    p += sizeof(num) - k;
    *p++ = '\n';
    out->len = (size_t)(p - out->data);
    return MPROC_TASK_OK;
}

static int
emit(struct mproc_ctx *ctx, const struct table *t, struct mproc_buf *out)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        if (put_line(out, &t->e[i]) != MPROC_TASK_OK)
            return mproc_fail(ctx, "output exceeds the message limit");
    return MPROC_TASK_OK;
}

static int
wc_text(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
        struct mproc_buf *out)
{
    struct table t = {0};
    int r;

    (void)index;
    r = count_words(&t, in, len);
    r = r == ADD_OK ? emit(ctx, &t, out) : add_failed(ctx, r);
    table_fini(&t);
    return r;
}

/*
 * Count a file in pieces rather than reading it whole, so its size does
 * not matter.  The bytes after the last whitespace of a piece may be the
 * start of a word that goes on in the next read: they are kept at the
 * front of the buffer, which grows only for a word longer than itself.
 */
static int
wc_files(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
         struct mproc_buf *out)
{
    struct table t = {0};
    char *path = NULL, *buf = NULL;
    size_t cap = READ_SIZE, have = 0, end, k, got;
    FILE *fp = NULL;
    int r;

    (void)index;
    if (len == 0)
        return mproc_fail(ctx, "an empty file name");
    if (memchr(in, '\0', len) != NULL)
        return mproc_fail(ctx, "the file name holds a NUL byte");
    path = malloc(len + 1);
    buf = malloc(cap);
    if (path == NULL || buf == NULL) {
        r = mproc_fail(ctx, "out of memory");
        goto done;
    }
    memcpy(path, in, len);
    path[len] = '\0';
    fp = fopen(path, "rb");
    if (fp == NULL) {
        r = mproc_fail(ctx, "cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    for (;;) {
        if (have == cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                r = mproc_fail(ctx, "out of memory reading %s", path);
                goto done;
            }
            buf = nb;
            cap *= 2;
        }
        got = fread(buf + have, 1, cap - have, fp);
        if (got == 0)
            break;
        end = have + got;
        for (k = end; k > 0 && !is_space((unsigned char)buf[k - 1]); k--)
            ;
        if (k > 0) {
            if ((r = count_words(&t, buf, k)) != ADD_OK) {
                r = add_failed(ctx, r);
                goto done;
            }
            memmove(buf, buf + k, end - k);
        }
        have = end - k;
    }
    if (ferror(fp)) {
        /* fread sets errno on a read error (EISDIR for a folder, EIO). */
        r = mproc_fail(ctx, "cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    r = count_words(&t, buf, have);
    r = r == ADD_OK ? emit(ctx, &t, out) : add_failed(ctx, r);

done:
    if (fp != NULL)
        fclose(fp);
    table_fini(&t);
    free(buf);
    free(path);
    return r;
}

/* ---- parent side ---- */

static int
wc_reduce(struct mproc_ctx *ctx, const void *data, size_t len, uint64_t index)
{
    struct table *t = ctx->state;
    const char *p = data, *end = p + len;
    int r;

    (void)index;
    /* The table lives in ctx->state from the first call on; reduce_end
     * frees it whether or not the run succeeded. */
    if (t == NULL && (t = ctx->state = calloc(1, sizeof(*t))) == NULL)
        return mproc_fail(ctx, "out of memory");
    while (p < end) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *nl = tab ? memchr(tab, '\n', (size_t)(end - tab)) : NULL;
        uint64_t n = 0;
        const char *q;

        if (tab == NULL || nl == NULL || tab == p || tab + 1 == nl ||
            nl - tab > 20)
            return mproc_fail(ctx, "malformed task output: expected "
                                   "WORD<TAB>COUNT lines");
        for (q = tab + 1; q < nl; q++) {
            if (*q < '0' || *q > '9')
                return mproc_fail(ctx, "malformed count in task output");
            n = n * 10 + (uint64_t)(*q - '0');
        }
        if ((r = table_add(t, p, (size_t)(tab - p), n)) != ADD_OK)
            return add_failed(ctx, r);
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
    size_t i;
    int r = MPROC_TASK_OK;

    ctx->state = NULL;
    if (t == NULL)
        return MPROC_TASK_OK;
    /* The entries are already packed; the slots are not needed to sort,
     * so give their memory back before qsort asks for its own. */
    free(t->slot);
    t->slot = NULL;
    qsort(t->e, t->n, sizeof(*t->e), by_count_then_word);
    for (i = 0; i < t->n; i++) {
        if (put_line(out, &t->e[i]) != MPROC_TASK_OK) {
            r = mproc_fail(ctx, "the result exceeds the message limit");
            break;
        }
    }
    table_fini(t);
    free(t);
    return r;
}

static const struct mproc_task_def tasks[] = {
    {"text", wc_text, "count the words of the item"},
    {"files", wc_files, "count the words of the file the item names"},
    {NULL, NULL, NULL},
};

/* It reads no [args]: a key there is a mistake, and refused. */
static const struct mproc_arg_def args[] = {MPROC_ARG_END};

MPROC_PLUGIN_DEFINE(.name = "wordcount", .version = "1.1",
                    .description = "count words; the parent merges and sorts",
                    .tasks = tasks, .reduce = wc_reduce,
                    .reduce_end = wc_reduce_end, .args = args,
                    /* Its final output is WORD<TAB>COUNT lines, as a
                     * task's: shards of a job merge (mproc merge). */
                    .reduce_flags = MPROC_REDUCE_OWN_OUTPUT);

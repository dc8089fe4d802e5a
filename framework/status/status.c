/* SPDX-License-Identifier: MIT */
/*
 * Live status of a running pool: the bookkeeping, the socket and the
 * snapshot it serves (see status_int.h).
 *
 * Cost when nobody asks.  Per result: two counters, one histogram bucket
 * (its index from the position of the highest bit) and one comparison
 * with the fastest of the K slowest items; an item slower than that one
 * (rare once the run is warm) is copied into the list.  The listening
 * socket is one more descriptor in the pool's poll(), which never
 * becomes ready unless `mproc status` connects.  MPROC_STATUS=0 turns
 * all of it off (the benchmark's baseline).
 *
 * Safety.  The folder is the user's ($XDG_RUNTIME_DIR is 0700 by the
 * XDG spec; /tmp/mproc-UID is made 0700 and refused unless it is a real
 * folder owned by us and closed to others), and the socket is chmod'ed
 * 0600 before listen(), so no other user can connect.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "status/status_int.h"

/* Latency histogram: milliseconds; exact below 16, then 8 buckets per
 * power of two (within 12.5 %), up to 2^44 ms. */
#define HIST_SUB 8
#define HIST_BUCKETS (16 + 41 * HIST_SUB)
/* The slowest items kept, and the bytes of their preview. */
#define TOPK 5
#define PREVIEW 40
/* A client that does not read is given up after this long: the pool's
 * loop must not wait on it. */
#define SEND_TIMEOUT_MS 200

struct slow {
    uint64_t index;
    long long ms;
    char preview[PREVIEW * 4 + 8];
};

struct mproc__status {
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char *label;
    long long start_ms;
    double wall0;
    uint64_t done, failed;
    long long max_ms;
    uint64_t hist[HIST_BUCKETS];
    struct slow slow[TOPK];
    unsigned nslow;
    long long slow_min; /* the fastest of slow[] when full */
    struct mproc__status_snap snap;
};

/* ---- bookkeeping ---- */

static unsigned
bucket(long long ms)
{
    unsigned e;

    if (ms < 16)
        return ms < 0 ? 0 : (unsigned)ms;
    e = 63u - (unsigned)__builtin_clzll((unsigned long long)ms); /* >= 4 */
    if (e > 44)
        return HIST_BUCKETS - 1;
    return 16 + (e - 4) * HIST_SUB +
           (unsigned)(((unsigned long long)ms >> (e - 3)) & (HIST_SUB - 1));
}

/* The largest value that falls in bucket b. */
static long long
bucket_top(unsigned b)
{
    unsigned e, sub;

    if (b < 16)
        return b;
    e = 4 + (b - 16) / HIST_SUB;
    sub = (b - 16) % HIST_SUB;
    return (((long long)HIST_SUB + sub + 1) << (e - 3)) - 1;
}

void
mproc__status_result(struct mproc__status *st, uint64_t index, int status,
                     long long ms, const char *item, size_t item_len)
{
    unsigned i, k;

    if (status == MPROC_ECANCELED)
        return; /* never ran: the run stopped */
    if (status == 0)
        st->done++;
    else
        st->failed++;
    st->hist[bucket(ms)]++;
    if (ms > st->max_ms)
        st->max_ms = ms;
    if (st->nslow == TOPK && ms <= st->slow_min)
        return;
    /* Insert, slowest first; the fastest falls off when full. */
    k = st->nslow < TOPK ? st->nslow++ : TOPK - 1;
    while (k > 0 && st->slow[k - 1].ms < ms) {
        st->slow[k] = st->slow[k - 1];
        k--;
    }
    st->slow[k].index = index;
    st->slow[k].ms = ms;
    mproc__status_escape(st->slow[k].preview, sizeof(st->slow[k].preview),
                         item, item_len, PREVIEW);
    i = st->nslow - 1;
    st->slow_min = st->slow[i].ms;
}

static long long
percentile(const struct mproc__status *st, double q)
{
    uint64_t n = st->done + st->failed, want, seen = 0;
    unsigned b;
    long long v;

    if (n == 0)
        return 0;
    want = (uint64_t)(q * (double)n + 0.999999);
    if (want == 0)
        want = 1;
    for (b = 0; b < HIST_BUCKETS; b++) {
        seen += st->hist[b];
        if (seen >= want)
            break;
    }
    v = bucket_top(b < HIST_BUCKETS ? b : HIST_BUCKETS - 1);
    return v < st->max_ms ? v : st->max_ms;
}

void
mproc__status_escape(char *out, size_t outlen, const char *s, size_t len,
                     size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;

    for (i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        char e = c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\t' ? 't'
                 : c == '\r' ? 'r' : 0;
        if (o + 8 > outlen)
            break;
        if (e) {
            out[o++] = '\\';
            out[o++] = e;
        } else if (c < 0x20 || c >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    if (i < len && o + 4 <= outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* ---- the folder and the socket ---- */

int
mproc__status_dir(char *buf, size_t len, bool create, mproc_err_t *err)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat sb;
    int n;

    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(buf, len, "%s/mproc", xdg);
    else
        n = snprintf(buf, len, "/tmp/mproc-%lu", (unsigned long)getuid());
    if (n < 0 || (size_t)n >= len)
        return mproc__err(err, -ENAMETOOLONG,
                          "status folder: path too long");
    if (create && mkdir(buf, 0700) < 0 && errno != EEXIST)
        return mproc__err(err, -errno, "status folder %s: %s", buf,
                          strerror(errno));
    if (lstat(buf, &sb) < 0)
        return mproc__err(err, -errno, "status folder %s: %s", buf,
                          strerror(errno));
    /* Another user could have made it first (under /tmp): never use a
     * folder someone else owns or can enter. */
    if (!S_ISDIR(sb.st_mode) || sb.st_uid != getuid() ||
        (sb.st_mode & 077) != 0)
        return mproc__err(err, MPROC_EPERM,
                          "status folder %s is not a folder of yours closed "
                          "to others (mode 0700); remove it", buf);
    return 0;
}

static int
sock_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return -1;
    strcpy(sa->sun_path, path);
    return 0;
}

/* Is anybody serving this socket?  Refused or absent: no.  Without
 * waiting: a run busy elsewhere accepts late, and once its backlog is
 * full a blocking connect() waits for it, so every run started meanwhile
 * hung in here (a full backlog, EAGAIN, is someone there). */
static bool
sock_alive(const char *path, long pid)
{
    struct sockaddr_un sa;
    bool alive;
    int fd;

    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return false;
    if (sock_addr(&sa, path) < 0)
        return false;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return true; /* cannot tell: leave it */
    alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
            (errno != ECONNREFUSED && errno != ENOENT);
    close(fd);
    return alive;
}

int
mproc__status_clean(bool remove, void (*each)(long pid, void *arg), void *arg,
                    mproc_err_t *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 300];
    struct dirent *de;
    DIR *d;
    int r, n = 0;

    r = mproc__status_dir(dir, sizeof(dir), false, err);
    if (r == MPROC_ENOENT)
        return 0; /* nothing ever ran */
    if (r < 0)
        return r;
    d = opendir(dir);
    if (d == NULL)
        return mproc__err(err, -errno, "%s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);

        if (pid <= 0 || strcmp(end, ".sock") != 0 || pid == (long)getpid())
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (sock_alive(path, pid))
            continue;
        if (remove && unlink(path) < 0 && errno != ENOENT)
            continue;
        if (each != NULL)
            each(pid, arg);
        n++;
    }
    closedir(d);
    return n;
}

int
mproc__status_open(struct mproc__status **out, const char *label,
                   unsigned nworkers, mproc_err_t *err)
{
    const char *env = getenv("MPROC_STATUS");
    struct mproc__status *st = NULL;
    struct sockaddr_un sa;
    char dir[PATH_MAX];
    int r;

    *out = NULL;
    if (env != NULL && (strcmp(env, "0") == 0 || strcmp(env, "off") == 0))
        return 0;
    if ((r = mproc__status_dir(dir, sizeof(dir), true, err)) < 0)
        return r;
    mproc__status_clean(true, NULL, NULL, NULL);
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    st->fd = -1;
    st->snap.w = calloc(nworkers ? nworkers : 1, sizeof(*st->snap.w));
    st->label = strdup(label != NULL ? label : "");
    if (st->snap.w == NULL || st->label == NULL) {
        r = mproc__err(err, MPROC_ENOMEM, "out of memory");
        goto fail;
    }
    st->snap.nworkers = nworkers;
    st->start_ms = mproc__now_ms();
    st->wall0 = mproc__wall_now();
    if ((size_t)snprintf(st->path, sizeof(st->path), "%s/%ld.sock", dir,
                         (long)getpid()) >= sizeof(st->path) ||
        sock_addr(&sa, st->path) < 0) {
        st->path[0] = '\0';
        r = mproc__err(err, -ENAMETOOLONG,
                       "status socket: folder %s too long for a socket", dir);
        goto fail;
    }
    st->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (st->fd < 0) {
        r = mproc__err(err, -errno, "status socket: %s", strerror(errno));
        goto fail;
    }
    unlink(st->path); /* ours, from a pid before: it is dead */
    /* The folder is closed to others, so the moment between bind() and
     * chmod() exposes nothing. */
    if (bind(st->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        chmod(st->path, 0600) < 0 || listen(st->fd, 8) < 0) {
        r = mproc__err(err, -errno, "status socket %s: %s", st->path,
                       strerror(errno));
        goto fail;
    }
    *out = st;
    return 0;

fail:
    mproc__status_close(st);
    return r;
}

int
mproc__status_fd(const struct mproc__status *st)
{
    return st != NULL ? st->fd : -1;
}

struct mproc__status_snap *
mproc__status_snap(struct mproc__status *st)
{
    return &st->snap;
}

void
mproc__status_close(struct mproc__status *st)
{
    if (st == NULL)
        return;
    if (st->fd >= 0) {
        close(st->fd);
        if (st->path[0] != '\0')
            unlink(st->path);
    }
    free(st->snap.w);
    free(st->label);
    free(st);
}

/* ---- the snapshot, as text and JSON ---- */

struct sb {
    char *p;
    size_t len, cap;
    bool oom;
};

static void
sb_add(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_add(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        if (b->oom)
            return;
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        {
            size_t cap = b->cap * 2 + (size_t)n + 256;
            char *q = realloc(b->p, cap);
            if (q == NULL) {
                b->oom = true;
                return;
            }
            b->p = q;
            b->cap = cap;
        }
    }
}

/* A JSON string of escaped (printable ASCII) text. */
static void
sb_json_str(struct sb *b, const char *s)
{
    sb_add(b, "\"");
    for (; *s; s++)
        sb_add(b, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
    sb_add(b, "\"");
}

static long long
rss_of(pid_t pid)
{
    char path[64];
    long pages = 0, rss = 0;
    FILE *f;

    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/statm", (long)pid);
    f = fopen(path, "re");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return (long long)rss * sysconf(_SC_PAGESIZE);
}

static void
human_bytes(char *out, size_t len, long long v)
{
    const char *u = "KMGT";
    double d = (double)v;
    int i = -1;

    while (d >= 1024 && i < 3) {
        d /= 1024;
        i++;
    }
    if (i < 0)
        snprintf(out, len, "%lld", v);
    else
        snprintf(out, len, "%.1f%c", d, u[i]);
}

static void
render(struct mproc__status *st, struct sb *text, struct sb *json)
{
    const struct mproc__status_snap *s = &st->snap;
    uint64_t fin = st->done + st->failed, running = 0, queued;
    double up = (double)(s->now_ms - st->start_ms) / 1000.0;
    double rate = up > 0 ? (double)fin / up : 0;
    long long pend = -1;
    char esc[PREVIEW * 4 + 8], label[512], rss[32];
    unsigned i;

    for (i = 0; i < s->nworkers; i++)
        if (s->w[i].index >= 0)
            running++;
    queued = s->taken > fin + running ? s->taken - fin - running : 0;
    if (s->total > 0 || s->source_done) {
        uint64_t all = s->total > 0 ? s->total : s->taken;
        pend = all > fin + running ? (long long)(all - fin - running) : 0;
    }
    mproc__status_escape(label, sizeof(label), st->label, strlen(st->label),
                         sizeof(label) / 4 - 4);

    sb_add(text, "job %s, pid %ld, up %.1fs\n", label, (long)getpid(), up);
    sb_add(text, "items: %llu done, %llu failed, %llu retried, ",
           (unsigned long long)st->done, (unsigned long long)st->failed,
           (unsigned long long)s->retried);
    if (pend >= 0)
        sb_add(text, "%lld pending", pend);
    else
        sb_add(text, "%llu queued (input not read to its end)",
               (unsigned long long)queued);
    sb_add(text, ", %llu running\n", (unsigned long long)running);
    sb_add(text, "rate: %.2f items/s", rate);
    if (pend >= 0 && rate > 0)
        sb_add(text, ", ETA %.1fs", (double)(pend + (long long)running) / rate);
    sb_add(text, "\nlatency: p50 %.3fs  p90 %.3fs  p99 %.3fs  max %.3fs\n",
           percentile(st, 0.50) / 1000.0, percentile(st, 0.90) / 1000.0,
           percentile(st, 0.99) / 1000.0, st->max_ms / 1000.0);
    sb_add(text, "%-8s %-8s %-9s %10s %9s %8s  %s\n", "PID", "STATE",
           "ITEM", "FOR", "RSS", "DONE", "PREVIEW");

    sb_add(json, "{\"pid\":%ld,\"label\":", (long)getpid());
    sb_json_str(json, label);
    sb_add(json, ",\"started\":%.3f,\"uptime_s\":%.3f,\"workers\":[",
           st->wall0, up);
    for (i = 0; i < s->nworkers; i++) {
        const struct mproc__status_worker *w = &s->w[i];
        double for_s = w->index >= 0
                           ? (double)(s->now_ms - w->since_ms) / 1000.0
                           : 0;
        long long r = rss_of(w->pid);

        esc[0] = '\0';
        if (w->index >= 0)
            mproc__status_escape(esc, sizeof(esc), w->item, w->item_len,
                                 PREVIEW);
        human_bytes(rss, sizeof(rss), r);
        sb_add(text, "%-8ld %-8s ", (long)w->pid, w->state);
        if (w->index >= 0)
            sb_add(text, "%-9lld %9.1fs", (long long)w->index, for_s);
        else
            sb_add(text, "%-9s %10s", "-", "-");
        sb_add(text, " %9s %8llu  %s\n", rss, (unsigned long long)w->done,
               esc);
        sb_add(json, "%s{\"slot\":%u,\"pid\":%ld,\"state\":\"%s\",",
               i ? "," : "", i, (long)w->pid, w->state);
        if (w->index >= 0) {
            sb_add(json, "\"item\":%lld,\"preview\":", (long long)w->index);
            sb_json_str(json, esc);
            sb_add(json, ",\"running_s\":%.3f,", for_s);
        } else {
            sb_add(json, "\"item\":null,\"preview\":null,\"running_s\":null,");
        }
        sb_add(json, "\"rss_bytes\":%lld,\"done\":%llu}", r,
               (unsigned long long)w->done);
    }
    sb_add(json, "],\"items\":{\"done\":%llu,\"failed\":%llu,\"retried\":%llu,"
           "\"running\":%llu,\"queued\":%llu,\"pending\":",
           (unsigned long long)st->done, (unsigned long long)st->failed,
           (unsigned long long)s->retried, (unsigned long long)running,
           (unsigned long long)queued);
    if (pend >= 0)
        sb_add(json, "%lld", pend);
    else
        sb_add(json, "null");
    if (s->total > 0)
        sb_add(json, ",\"total\":%llu}", (unsigned long long)s->total);
    else
        sb_add(json, ",\"total\":null}");
    sb_add(json, ",\"rate\":%.3f,\"eta_s\":", rate);
    if (pend >= 0 && rate > 0)
        sb_add(json, "%.3f", (double)(pend + (long long)running) / rate);
    else
        sb_add(json, "null");
    sb_add(json, ",\"latency_s\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
           "\"max\":%.3f},\"slowest\":[",
           percentile(st, 0.50) / 1000.0, percentile(st, 0.90) / 1000.0,
           percentile(st, 0.99) / 1000.0, st->max_ms / 1000.0);
    if (st->nslow > 0)
        sb_add(text, "slowest:\n");
    for (i = 0; i < st->nslow; i++) {
        sb_add(text, "  item %-9llu %9.3fs  %s\n",
               (unsigned long long)st->slow[i].index, st->slow[i].ms / 1000.0,
               st->slow[i].preview);
        sb_add(json, "%s{\"item\":%llu,\"seconds\":%.3f,\"preview\":",
               i ? "," : "", (unsigned long long)st->slow[i].index,
               st->slow[i].ms / 1000.0);
        sb_json_str(json, st->slow[i].preview);
        sb_add(json, "}");
    }
    sb_add(json, "]}\n");
}

static void
send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* gone, or too slow: it gets what was sent */
        p += w;
        n -= (size_t)w;
    }
}

void
mproc__status_reply(struct mproc__status *st)
{
    struct timeval tv = {0, SEND_TIMEOUT_MS * 1000};
    struct sb text = {0}, json = {0};
    bool built = false;
    int c;

    while ((c = accept4(st->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        if (!built) {
            render(st, &text, &json);
            built = true;
        }
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (!text.oom && !json.oom) {
            send_all(c, text.p, text.len);
            send_all(c, "", 1);
            send_all(c, json.p, json.len);
        }
        close(c);
    }
    free(text.p);
    free(json.p);
}

/* SPDX-License-Identifier: MIT */
/*
 * Named shared memory blocks (<mproc/shared_memory.h>).
 *
 * The file is the user's bytes, rounded up to 8, then a trailer:
 *
 *   magic, layout version, the user's size, the creator's pid and its
 *   start time (field 22 of /proc/PID/stat, in clock ticks since boot)
 *
 * A trailer, not a header: the user's memory starts at the mapping's
 * page-aligned start, as it would in C without us and as Python's does,
 * and a program that knows nothing of the trailer (Python attaching the
 * same name) still sees the user's bytes at offset 0.  The pid with its
 * start time names the creator even after the pid is reused: `mproc
 * clean` (mproc__shm_clean) removes blocks whose creator is dead.  The
 * trailer is written after ftruncate() on a name made O_EXCL, so a sweep
 * that looks in between finds no magic and leaves the block alone.
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mproc/shared_memory.h>

#include "shm/shm_int.h"
#include "sync/sync_int.h"

#define T_MAGIC 0x6d707368u /* "mpsh" */
#define T_LAYOUT 1

struct trailer {
    uint32_t magic;
    uint32_t layout_version;
    uint64_t size;      /* the user's bytes */
    int64_t pid;        /* the creator */
    uint64_t starttime; /* the creator's, 0 when unknown */
};

struct mproc_shm {
    char name[MPROC_SHM_NAME_MAX + 2]; /* "/" + name */
    void *buf;
    size_t size;    /* the user's */
    size_t maplen;  /* the file's */
    int fd;         /* kept for a new image (mproc_process_pass) */
    char errmsg[MPROC_ERRMSG_MAX];
};

static size_t
round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* A process's start time, or 0 when /proc cannot tell. */
static uint64_t
start_time(long pid)
{
    char path[64], buf[1024], *p;
    unsigned long long t = 0;
    ssize_t n;
    int fd, field;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = MPROC__NOINTR(read(fd, buf, sizeof(buf) - 1));
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: count fields
     * from the last ')', which ends it (field 2). */
    p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    for (field = 2; *p != '\0' && field < 22; p++)
        if (*p == ' ')
            field++;
    if (field == 22)
        sscanf(p, "%llu", &t);
    return t;
}

/* Is the creator in trailer `t` gone (dead, or its pid reused)? */
static bool
creator_dead(const struct trailer *t)
{
    uint64_t st;

    if (t->pid <= 0 || t->pid > INT32_MAX)
        return false;
    if (mproc__pid_dead((int32_t)t->pid))
        return true;
    st = start_time((long)t->pid);
    return t->starttime != 0 && st != 0 && st != t->starttime;
}

static int
check_name(const char *name, mproc_err_t *err)
{
    size_t n = strlen(name);

    if (n == 0 || name[0] == '.' || strchr(name, '/') != NULL)
        return mproc__err(err, MPROC_EINVAL,
                          "shared memory: bad name '%s': 1 to %d bytes, no "
                          "'/', not starting with '.'", name,
                          MPROC_SHM_NAME_MAX);
    if (n > MPROC_SHM_NAME_MAX)
        return mproc__err(err, MPROC_EINVAL,
                          "shared memory: name of %zu bytes: at most %d",
                          n, MPROC_SHM_NAME_MAX);
    return 0;
}

static void
handle_free(mproc_shm_t *m)
{
    if (m->buf != NULL)
        munmap(m->buf, m->maplen);
    if (m->fd >= 0)
        close(m->fd);
    free(m);
}

/* Map the block behind m->fd, reading its trailer for the size. */
static int
map(mproc_shm_t *m, mproc_err_t *err)
{
    struct trailer t;
    struct stat st;
    void *p;

    if (fstat(m->fd, &st) < 0)
        return mproc__err(err, -errno, "shared memory %s: fstat: %s",
                          m->name + 1, strerror(errno));
    if (st.st_size <= 0)
        return mproc__err(err, MPROC_EINVAL, "shared memory %s: empty",
                          m->name + 1);
    m->maplen = (size_t)st.st_size;
    m->size = m->maplen;
    p = mmap(NULL, m->maplen, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    if (p == MAP_FAILED)
        return mproc__err(err, -errno, "shared memory %s: mmap: %s",
                          m->name + 1, strerror(errno));
    m->buf = p;
    if (m->maplen >= sizeof(t)) {
        memcpy(&t, (char *)p + m->maplen - sizeof(t), sizeof(t));
        if (t.magic == T_MAGIC && t.layout_version == T_LAYOUT &&
            round8((size_t)t.size) + sizeof(t) == m->maplen)
            m->size = (size_t)t.size;
    }
    return 0;
}

int
mproc_shm_create(mproc_shm_t **out, const char *name, size_t size,
                 mproc_err_t *err)
{
    struct trailer t;
    mproc_shm_t *m;
    int r;

    if (out == NULL)
        return mproc__err(err, MPROC_EINVAL, "shared memory: out is NULL");
    *out = NULL;
    if (size == 0 || size > (size_t)INT64_MAX - 4096)
        return mproc__err(err, MPROC_EINVAL, "shared memory: size %zu: "
                          "%s", size,
                          size == 0 ? "must be positive" : "too large");
    if (name != NULL && (r = check_name(name, err)) < 0)
        return r;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return mproc__err(err, MPROC_ENOMEM, "shared memory: out of memory");
    m->fd = -1;
    if (name != NULL) {
        snprintf(m->name, sizeof(m->name), "/%s", name);
        m->fd = shm_open(m->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                         0600);
    } else {
        int tries;
        /* Unpredictable, as DESIGN.md asks of names we choose. */
        for (tries = 0; tries < 16 && m->fd < 0; tries++) {
            uint64_t x;
            if (getrandom(&x, sizeof(x), 0) != sizeof(x))
                x = (uint64_t)mproc__now_ms() * 2654435761u ^
                    (uint64_t)getpid();
            snprintf(m->name, sizeof(m->name), "/mproc_%016llx",
                     (unsigned long long)x);
            m->fd = shm_open(m->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                             0600);
            if (m->fd < 0 && errno != EEXIST)
                break;
        }
    }
    if (m->fd < 0) {
        r = mproc__err(err, -errno, "shared memory %s: %s%s", m->name + 1,
                       strerror(errno),
                       errno == EEXIST ? " (the name is taken)" : "");
        free(m);
        return r;
    }
    /* Reserved, not only sized: a block /dev/shm cannot back would map
     * fine and then kill whoever touched it with SIGBUS (this call first,
     * writing the trailer).  ENOSPC here instead; a filesystem without
     * fallocate is only sized. */
    r = posix_fallocate(m->fd, 0, (off_t)(round8(size) + sizeof(t)));
    if (r == EOPNOTSUPP || r == EINVAL)
        r = ftruncate(m->fd, (off_t)(round8(size) + sizeof(t))) < 0 ? errno
                                                                    : 0;
    if (r != 0) {
        r = mproc__err(err, -r, "shared memory %s: %zu bytes: %s%s",
                       m->name + 1, size, strerror(r),
                       r == ENOSPC ? " (/dev/shm is full, or smaller)" : "");
        goto fail;
    }
    if ((r = map(m, err)) < 0)
        goto fail;
    memset(&t, 0, sizeof(t));
    t.magic = T_MAGIC;
    t.layout_version = T_LAYOUT;
    t.size = size;
    t.pid = getpid();
    t.starttime = start_time((long)getpid());
    memcpy((char *)m->buf + m->maplen - sizeof(t), &t, sizeof(t));
    m->size = size;
    *out = m;
    return 0;

fail:
    shm_unlink(m->name);
    handle_free(m);
    return r;
}

int
mproc_shm_attach(mproc_shm_t **out, const char *name, mproc_err_t *err)
{
    mproc_shm_t *m;
    int r;

    if (out == NULL)
        return mproc__err(err, MPROC_EINVAL, "shared memory: out is NULL");
    *out = NULL;
    if ((r = check_name(name, err)) < 0)
        return r;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return mproc__err(err, MPROC_ENOMEM, "shared memory: out of memory");
    snprintf(m->name, sizeof(m->name), "/%s", name);
    m->fd = shm_open(m->name, O_RDWR | O_CLOEXEC, 0);
    if (m->fd < 0) {
        r = mproc__err(err, -errno, "shared memory %s: %s", name,
                       strerror(errno));
        free(m);
        return r;
    }
    if ((r = map(m, err)) < 0) {
        handle_free(m);
        return r;
    }
    *out = m;
    return 0;
}

int
mproc__shm_import(mproc_shm_t **out, int fd, const char *name,
                  mproc_err_t *err)
{
    mproc_shm_t *m;
    int r;

    *out = NULL;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return mproc__err(err, MPROC_ENOMEM, "shared memory: out of memory");
    snprintf(m->name, sizeof(m->name), "/%s", name);
    m->fd = fd;
    if ((r = map(m, err)) < 0) {
        m->fd = -1; /* untouched on failure */
        handle_free(m);
        return r;
    }
    *out = m;
    return 0;
}

int
mproc__shm_fd(const mproc_shm_t *m)
{
    return m->fd;
}

void *
mproc_shm_buf(const mproc_shm_t *m)
{
    if (m == NULL)
        return NULL;
    return m->buf;
}

size_t
mproc_shm_size(const mproc_shm_t *m)
{
    if (m == NULL)
        return 0;
    return m->size;
}

const char *
mproc_shm_name(const mproc_shm_t *m)
{
    if (m == NULL)
        return NULL;
    return m->name + 1;
}

int
mproc_shm_close(mproc_shm_t *m)
{
    if (m == NULL)
        return MPROC_EINVAL;
    if (m->buf == NULL) {
        snprintf(m->errmsg, sizeof(m->errmsg),
                 "shared memory %s: closed already", m->name + 1);
        return MPROC_ECLOSED;
    }
    munmap(m->buf, m->maplen);
    m->buf = NULL;
    return 0;
}

int
mproc_shm_unlink(mproc_shm_t *m)
{
    if (m == NULL)
        return MPROC_EINVAL;
    if (shm_unlink(m->name) < 0) {
        int r = -errno;
        snprintf(m->errmsg, sizeof(m->errmsg), "shared memory %s: %s",
                 m->name + 1, strerror(errno));
        return r;
    }
    return 0;
}

void
mproc_shm_free(mproc_shm_t *m)
{
    if (m != NULL)
        handle_free(m);
}

const char *
mproc_shm_errmsg(const mproc_shm_t *m)
{
    if (m == NULL)
        return "shared memory: none";
    return m->errmsg;
}

/* ---- mproc clean ---- */

int
mproc__shm_clean(const char *dir, bool remove,
                 void (*each)(const char *name, long pid, void *arg),
                 void *arg, mproc_err_t *err)
{
    struct dirent *e;
    DIR *d;
    int n = 0;

    d = opendir(dir);
    if (d == NULL)
        return mproc__err(err, -errno, "%s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        struct trailer t;
        struct stat st;
        char path[PATH_MAX];
        int fd;

        if (e->d_name[0] == '.' ||
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
                (int)sizeof(path))
            continue;
        /* Only our own regular files: O_NOFOLLOW, no blocking opens. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
            continue;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != geteuid() || st.st_size < (off_t)sizeof(t) ||
            pread(fd, &t, sizeof(t), st.st_size - (off_t)sizeof(t)) !=
                (ssize_t)sizeof(t) ||
            t.magic != T_MAGIC || t.layout_version != T_LAYOUT ||
            round8((size_t)t.size) + sizeof(t) != (size_t)st.st_size ||
            !creator_dead(&t)) {
            close(fd);
            continue;
        }
        close(fd);
        if (remove && unlink(path) < 0)
            continue; /* removed meanwhile by another sweep */
        if (each != NULL)
            each(e->d_name, (long)t.pid, arg);
        n++;
    }
    closedir(d);
    return n;
}

/* SPDX-License-Identifier: MIT */
/*
 * Sync arenas, and the parts of Lock, RLock and Semaphore that every
 * backend shares: ownership, re-entrance, bounds, timeouts, and finding
 * holders that died.
 *
 * Waits are cut into slices of MPROC__SYNC_SLICE_MS.  Between slices the
 * waiter looks for a holder that has died: a Lock's holder is one pid (its
 * `owner`), a Semaphore's holders are a small table of pids and counts.
 * That is how a dead holder is noticed within a second on every backend,
 * including futex, where the kernel knows nothing of ownership.
 */
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sync/sync_int.h"

#define DEFAULT_SIZE ((size_t)64 << 10)
#define SYSV_NSEMS 250 /* SEMMSL is 32000 on Linux; this is per arena */
/* The last three semaphores of a set say whose it is: a marker and the
 * creator's pid in two 15-bit halves (SEMVMX is 32767). */
#define SYSV_MARK 0x6d70
#define SYSV_OWN (SYSV_NSEMS - 3)
#define MAX_SEM_VALUE 1000000000u
#define DIR_CAP 256

static const struct mproc_sync_ops *const backends[] = {
    &mproc__sync_futex_ops,
    &mproc__sync_posix_ops,
    &mproc__sync_sysv_ops,
};
static const char *const backend_names[] = {"futex", "posix", "sysv", NULL};

struct mproc_sync {
    struct mproc__sync_hdr *hdr;
    size_t size;
    pid_t creator;
    int fd; /* the memfd, kept for new images (mproc__sync_fd) */
};

_Static_assert(offsetof(struct mproc__sync_hdr, used) % 8 == 0,
               "the allocator word must be 8-byte aligned");
_Static_assert(offsetof(struct mproc_lock, impl) % 64 == 0,
               "backend state starts on its own cache line");

const struct mproc_sync_ops *
mproc__sync_ops_of(const struct mproc__sobj *o)
{
    return backends[mproc__sync_hdr_of(o)->backend];
}

_Atomic int32_t mproc__self_pid;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void
self_forget(void)
{
    atomic_store_explicit(&mproc__self_pid, 0, memory_order_relaxed);
}

static void
self_register(void)
{
    pthread_atfork(NULL, NULL, self_forget);
}

int32_t
mproc__self_fill(void)
{
    int32_t pid;

    pthread_once(&self_once, self_register);
    pid = (int32_t)getpid();
    atomic_store_explicit(&mproc__self_pid, pid, memory_order_relaxed);
    return pid;
}

int32_t
mproc__self_tid(void)
{
    static _Thread_local int32_t tid, pid;
    int32_t p = mproc__self();

    /* mproc__self() changes in a forked child (an atfork handler resets
     * it), and then so does the thread's id. */
    if (pid != p) {
        tid = (int32_t)syscall(SYS_gettid);
        pid = p;
    }
    return tid;
}

enum mproc__pid_state
mproc__pid_state(int32_t pid)
{
    char path[64], buf[1024], *p;
    enum mproc__pid_state st = MPROC__PID_ALIVE;
    unsigned long code;
    FILE *fp;
    int field;

    if (pid <= 0)
        return MPROC__PID_ALIVE;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return MPROC__PID_GONE;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fp = fopen(path, "re");
    if (fp == NULL)
        return errno == ENOENT ? MPROC__PID_GONE : MPROC__PID_ALIVE;
    if (fgets(buf, sizeof(buf), fp) != NULL &&
        (p = strrchr(buf, ')')) != NULL && p[1] == ' ' &&
        (p[2] == 'Z' || p[2] == 'X')) {
        /* A zombie keeps its wait status in field 52 (exit_code, Linux
         * 3.5): how it ended can be told until its parent reaps it.
         * Field 3 (the state) follows ") ". */
        st = MPROC__PID_KILLED;
        p += 2;
        for (field = 3; field < 52 && p != NULL; field++) {
            p = strchr(p, ' ');
            if (p != NULL)
                p++;
        }
        if (p != NULL && sscanf(p, "%lu", &code) == 1 &&
            WIFEXITED((int)code))
            st = MPROC__PID_EXITED;
    }
    fclose(fp);
    return st;
}

bool
mproc__pid_dead(int32_t pid)
{
    return mproc__pid_state(pid) != MPROC__PID_ALIVE;
}

bool
mproc__sync_hook(const char *name)
{
    char var[96];

    snprintf(var, sizeof(var), "MPROC_TEST_HOOK_%s", name);
    return getenv(var) != NULL;
}

bool
mproc__sync_intr(void)
{
    return mproc__signal_interrupts();
}

const struct timespec *
mproc__deadline_of(struct timespec *ts, int timeout_ms)
{
    if (timeout_ms < 0)
        return NULL;
    mproc__deadline_in(ts, timeout_ms);
    return ts;
}

void
mproc__deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

long
mproc__ms_left(const struct timespec *ts)
{
    struct timespec now;
    long long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long long)(ts->tv_sec - now.tv_sec) * 1000 +
         (ts->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (long)ms;
}

/*
 * The end of the next wait slice: a slice from now, or the deadline.
 * A slice is `ms` give or take a seventh, a different length each time,
 * to the microsecond: when a signal arrives as a slice's timer expires,
 * the kernel reports the timeout, not the interruption, and the handler
 * runs unseen.  Slices of one round length from the wait's start met a
 * signal sent a round delay after it (0.2 s: the end of the second
 * 100 ms slice) every time; now only by a chance of about one in a
 * thousand (the timer's slack over the slice).
 */
const struct timespec *
mproc__sync_slice_of(struct timespec *out, const struct timespec *deadline,
                     long ms)
{
    static _Thread_local unsigned turn;
    long span = ms * 2000L / 7 + 1, us;

    us = ms * 1000L - span / 2 + (long)((++turn * 7919u) % (unsigned long)span);
    clock_gettime(CLOCK_MONOTONIC, out);
    out->tv_sec += us / 1000000L;
    out->tv_nsec += us % 1000000L * 1000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
    if (deadline != NULL &&
        (deadline->tv_sec < out->tv_sec ||
         (deadline->tv_sec == out->tv_sec && deadline->tv_nsec < out->tv_nsec)))
        *out = *deadline;
    return out;
}

const struct timespec *
mproc__sync_slice(struct timespec *out, const struct timespec *deadline)
{
    return mproc__sync_slice_of(out, deadline, MPROC__SYNC_SLICE_MS);
}

bool
mproc__sync_passed(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return deadline != NULL &&
           (now.tv_sec > deadline->tv_sec ||
            (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec));
}

/* ---- arenas ---- */

union semun_ {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

static void
sysv_set(int semid, int num, int value)
{
    union semun_ arg = {.val = value};
    semctl(semid, num, SETVAL, arg);
}

/* A set that a live process still uses, its creator dead: the children
 * of a killed creator go on with its arena.  Seen from the pid of the
 * last operation on each semaphore, and from processes waiting on one. */
static bool
sysv_set_used(int semid)
{
    int i, pid;

    for (i = 0; i < SYSV_OWN; i++) {
        if (semctl(semid, i, GETNCNT) > 0 || semctl(semid, i, GETZCNT) > 0)
            return true;
        pid = semctl(semid, i, GETPID);
        if (pid > 0 && !mproc__pid_dead(pid))
            return true;
    }
    return false;
}

/*
 * System V semaphore sets outlive their processes: a creator killed with
 * SIGKILL cannot remove its set.  So each arena's set says whose it is: it
 * has SYSV_NSEMS semaphores, mode 0600, and its last three hold a marker
 * and the creator's pid.  A set is recognised as mproc's by all of these
 * (and by being the caller's), and removed only once its creator is dead.
 * A new sysv arena sweeps; `mproc clean` does it on demand.
 */
int
mproc__sysv_clean(bool remove, void (*each)(int semid, long pid, void *arg),
                  void *arg, mproc_err_t *err)
{
    FILE *fp = fopen("/proc/sysvipc/sem", "re");
    char line[512];
    int semid, nsems, n = 0;
    unsigned cuid, uid, perms;
    long pid;

    if (fp == NULL)
        return mproc__err(err, -errno, "/proc/sysvipc/sem: %s",
                          strerror(errno));
    if (fgets(line, sizeof(line), fp) == NULL) { /* the header */
        fclose(fp);
        return 0;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        /* key semid perms nsems uid gid cuid cgid otime ctime */
        if (sscanf(line, "%*d %d %o %d %u %*u %u", &semid, &perms, &nsems,
                   &uid, &cuid) != 5 ||
            nsems != SYSV_NSEMS || (perms & 0777) != 0600 ||
            cuid != (unsigned)geteuid() || uid != cuid)
            continue;
        if (semctl(semid, SYSV_OWN, GETVAL) != SYSV_MARK)
            continue;
        pid = (long)semctl(semid, SYSV_OWN + 1, GETVAL) << 15 |
              semctl(semid, SYSV_OWN + 2, GETVAL);
        if (pid <= 0 || !mproc__pid_dead((int32_t)pid) ||
            sysv_set_used(semid))
            continue;
        if (remove && semctl(semid, 0, IPC_RMID) < 0)
            continue; /* removed meanwhile by another sweep */
        if (each != NULL)
            each(semid, pid, arg);
        n++;
    }
    fclose(fp);
    return n;
}

int
mproc_sync_new(mproc_sync_t **out, const char *backend, size_t size,
               mproc_err_t *err)
{
    mproc_sync_t *s = NULL;
    struct mproc__sync_hdr *h = MAP_FAILED;
    unsigned i;
    int fd = -1, r;

    if (out == NULL)
        return mproc__err(err, MPROC_EINVAL, "sync: out is NULL");
    *out = NULL;
    if (backend == NULL)
        backend = "futex";
    for (i = 0; backend_names[i] != NULL; i++)
        if (strcmp(backend, backend_names[i]) == 0)
            break;
    if (backend_names[i] == NULL)
        return mproc__err(err, MPROC_EINVAL,
                          "unknown sync backend '%s'; expected futex, posix "
                          "or sysv", backend);
    if (size == 0)
        size = DEFAULT_SIZE;
    size += DIR_CAP * sizeof(struct mproc__sync_name);
    size = (size + 4095) & ~(size_t)4095;

    /* A memfd has no name: nothing can leak into /dev/shm, and fork()
     * shares the mapping with every child. */
    fd = mproc__memfd("mproc-sync");
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        r = mproc__err(err, -errno, "cannot create the sync segment: %s",
                       strerror(errno));
        goto fail;
    }
    h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        r = mproc__err(err, -errno, "cannot map the sync segment: %s",
                       strerror(errno));
        goto fail;
    }
    h->magic = MPROC__SYNC_MAGIC;
    h->layout_version = MPROC__SYNC_LAYOUT;
    h->size = size;
    /* The directory of names follows the header. */
    h->dir_offset = (sizeof(*h) + 63) & ~(uint64_t)63;
    h->dir_cap = DIR_CAP;
    atomic_init(&h->dir_len, 0);
    atomic_init(&h->used, (h->dir_offset + DIR_CAP *
                           sizeof(struct mproc__sync_name) + 63) &
                              ~(uint64_t)63);
    h->backend = i;
    h->semid = -1;
    if (backends[i] == &mproc__sync_sysv_ops) {
        mproc__sysv_clean(true, NULL, NULL, NULL);
        h->semid = semget(IPC_PRIVATE, SYSV_NSEMS, IPC_CREAT | 0600);
        if (h->semid < 0) {
            r = mproc__err(err, -errno, "cannot create a System V semaphore "
                           "set: %s", strerror(errno));
            goto fail;
        }
        sysv_set(h->semid, SYSV_OWN + 1, (int)(getpid() >> 15));
        sysv_set(h->semid, SYSV_OWN + 2, (int)(getpid() & 0x7fff));
        sysv_set(h->semid, SYSV_OWN, SYSV_MARK);
        h->nsems = SYSV_OWN;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        r = mproc__err(err, MPROC_ENOMEM, "out of memory");
        goto fail;
    }
    s->hdr = h;
    s->size = size;
    s->creator = getpid();
    s->fd = fd;
    *out = s;
    return 0;

fail:
    if (h != MAP_FAILED) {
        if (h->semid >= 0)
            semctl(h->semid, 0, IPC_RMID);
        munmap(h, size);
    }
    if (fd >= 0)
        close(fd);
    return r;
}

const char *
mproc_sync_backend(const mproc_sync_t *s)
{
    if (s == NULL)
        return NULL;
    return backends[s->hdr->backend]->name;
}

static struct mproc__sync_name *
dir_of(const struct mproc__sync_hdr *h)
{
    return (struct mproc__sync_name *)((char *)h + h->dir_offset);
}

/* Is `object` (in an arena) of this kind (mproc_sync_name's names)? */
static bool
kind_is(const char *kind, const void *object)
{
    uint32_t magic = ((const struct mproc__sobj *)object)->magic;

    if (strcmp(kind, "lock") == 0 || strcmp(kind, "rlock") == 0)
        return magic == LOCK_MAGIC &&
               ((const mproc_lock_t *)object)->recursive ==
                   (strcmp(kind, "rlock") == 0);
    if (strcmp(kind, "semaphore") == 0 ||
        strcmp(kind, "boundedsemaphore") == 0)
        return magic == SEM_MAGIC &&
               ((const mproc_sem_t *)object)->bounded ==
                   (strcmp(kind, "boundedsemaphore") == 0);
    if (strcmp(kind, "event") == 0)
        return magic == EVENT_MAGIC;
    if (strcmp(kind, "condition") == 0)
        return magic == COND_MAGIC;
    if (strcmp(kind, "barrier") == 0)
        return magic == BARRIER_MAX_MAGIC;
    if (strcmp(kind, "value") == 0 || strcmp(kind, "array") == 0)
        return magic == VALUE_MAGIC;
    return false;
}

int
mproc_sync_name(mproc_sync_t *s, const char *kind, const char *name,
                void *object)
{
    struct mproc__sync_hdr *h;
    struct mproc__sync_name *e;
    uint32_t i;

    if (s == NULL)
        return MPROC_EINVAL;
    h = s->hdr;
    if (kind == NULL || name == NULL || object == NULL || name[0] == '\0' ||
        strlen(name) >= sizeof(e->name) || strlen(kind) >= sizeof(e->kind))
        return MPROC_EINVAL;
    if ((char *)object < (char *)h || (char *)object >= (char *)h + h->size)
        return MPROC_EINVAL;
    /* The kind must be the object's: a Lock found as a Semaphore would
     * be used as one, over memory laid out otherwise. */
    if (!kind_is(kind, object))
        return MPROC_EINVAL;
    if (mproc_sync_find(s, kind, name) != NULL)
        return MPROC_EEXIST;
    /* Names are given by the creating process before others look them
     * up; the release store of dir_len publishes the entry. */
    i = atomic_load(&h->dir_len);
    if (i >= h->dir_cap)
        return MPROC_ENOMEM;
    e = &dir_of(h)[i];
    strcpy(e->kind, kind);
    strcpy(e->name, name);
    e->offset = (uint64_t)((char *)object - (char *)h);
    atomic_store_explicit(&h->dir_len, i + 1, memory_order_release);
    return 0;
}

void *
mproc_sync_find(const mproc_sync_t *s, const char *kind, const char *name)
{
    struct mproc__sync_hdr *h;
    uint32_t i, n;

    if (s == NULL)
        return NULL;
    h = s->hdr;
    n = atomic_load_explicit(&h->dir_len, memory_order_acquire);
    for (i = 0; i < n; i++) {
        const struct mproc__sync_name *e = &dir_of(h)[i];
        if (strcmp(e->kind, kind) == 0 && strcmp(e->name, name) == 0)
            return (char *)h + e->offset;
    }
    return NULL;
}

int
mproc__sync_semid(const mproc_sync_t *s)
{
    return s->hdr->semid;
}

const char *const *
mproc_sync_backends(void)
{
    return backend_names;
}

static void forget_arena(const void *base, size_t size);

void
mproc_sync_free(mproc_sync_t *s)
{
    if (s == NULL)
        return;
    forget_arena(s->hdr, s->size);
    if (s->creator == getpid() && s->hdr->semid >= 0)
        semctl(s->hdr->semid, 0, IPC_RMID);
    munmap(s->hdr, s->size);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

int
mproc__sync_fd(const mproc_sync_t *s)
{
    return s->fd;
}

int
mproc__sync_attach(mproc_sync_t **out, int fd, mproc_err_t *err)
{
    struct mproc__sync_hdr *h;
    mproc_sync_t *s;
    struct stat st;
    size_t size;

    *out = NULL;
    if (fstat(fd, &st) < 0)
        return mproc__err(err, -errno, "sync segment: %s", strerror(errno));
    size = (size_t)st.st_size;
    if (size < sizeof(*h))
        return mproc__err(err, MPROC_EINVAL, "sync segment: too small");
    h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED)
        return mproc__err(err, -errno, "cannot map the sync segment: %s",
                          strerror(errno));
    if (h->magic != MPROC__SYNC_MAGIC ||
        h->layout_version != MPROC__SYNC_LAYOUT || h->size != size ||
        h->backend >= MPROC__ARRAY_SIZE(backends)) {
        munmap(h, size);
        return mproc__err(err, MPROC_EINVAL,
                          "sync segment: not an arena of this mproc");
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        munmap(h, size);
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    }
    s->hdr = h;
    s->size = size;
    s->creator = 0; /* not ours: free leaves the semaphore set alone */
    s->fd = fd;
    *out = s;
    return 0;
}

const struct mproc_sync_ops *
mproc__sync_ops(const mproc_sync_t *s)
{
    return backends[s->hdr->backend];
}

struct mproc__sync_hdr *
mproc__sync_hdr(const mproc_sync_t *s)
{
    return s->hdr;
}

void *
mproc__sync_alloc(mproc_sync_t *s, size_t len, uint32_t magic, bool sem,
                  uint32_t *index, mproc_err_t *err)
{
    struct mproc__sync_hdr *h = s->hdr;
    uint64_t at;
    uint32_t idx = 0;
    struct mproc__sobj *o;

    len = (len + 63) & ~(size_t)63;
    sem = sem && h->semid >= 0;
    /* Compare-and-swap, not fetch-and-add: an allocation that does not
     * fit must leave the rest of the arena (and of the semaphore set) to
     * the smaller ones after it.  The semaphore first: it is the scarcer,
     * and taking it back is possible only while nobody took one after. */
    if (sem) {
        idx = atomic_load(&h->next_sem);
        do {
            if (idx >= h->nsems) {
                mproc__err(err, MPROC_ENOMEM, "the System V semaphore set "
                           "is full (%u objects)", (unsigned)h->nsems);
                return NULL;
            }
        } while (!atomic_compare_exchange_weak(&h->next_sem, &idx, idx + 1));
    }
    at = atomic_load_explicit(&h->used, memory_order_relaxed);
    do {
        if (len > h->size || at > h->size - len) {
            uint32_t next = idx + 1;
            if (sem)
                atomic_compare_exchange_strong(&h->next_sem, &next, idx);
            mproc__err(err, MPROC_ENOMEM, "the sync arena is full (%llu "
                       "bytes, %llu free, %zu asked); create it larger",
                       (unsigned long long)h->size,
                       (unsigned long long)(h->size - at), len);
            return NULL;
        }
    } while (!atomic_compare_exchange_weak_explicit(
        &h->used, &at, at + len, memory_order_relaxed, memory_order_relaxed));
    o = (struct mproc__sobj *)((char *)h + at);
    memset(o, 0, len);
    o->magic = magic;
    o->index = idx;
    o->offset = at;
    if (index != NULL)
        *index = idx;
    return o;
}

/* ---- Lock and RLock ---- */

int
mproc__sync_room(mproc_sync_t *s, size_t len, unsigned sems,
                 mproc_err_t *err)
{
    const struct mproc_sync_ops *ops = backends[s->hdr->backend];
    struct mproc__sync_hdr *h = s->hdr;
    uint64_t used = atomic_load(&h->used);
    size_t need = ((len + 63) & ~(size_t)63) +
                  ((sizeof(struct mproc_lock) + ops->mutex_size + 63) &
                   ~(size_t)63);

    if (len > h->size || used > h->size || h->size - used < need)
        return mproc__err(err, MPROC_ENOMEM, "the sync arena is full (%llu "
                          "bytes, %llu free, %zu asked); create it larger",
                          (unsigned long long)h->size,
                          (unsigned long long)(used > h->size ? 0
                                               : h->size - used), need);
    if (h->semid >= 0 && atomic_load(&h->next_sem) + sems > h->nsems)
        return mproc__err(err, MPROC_ENOMEM, "the System V semaphore set is "
                          "full (%u objects)", (unsigned)h->nsems);
    return 0;
}

int
mproc_lock_new(mproc_sync_t *s, bool recursive, mproc_lock_t **out,
               mproc_err_t *err)
{
    const struct mproc_sync_ops *ops;
    uint32_t index = 0;
    mproc_lock_t *l;
    int r;

    if (s == NULL)
        return mproc__err(err, MPROC_EINVAL, "lock: no arena");
    ops = backends[s->hdr->backend];
    *out = NULL;
    l = mproc__sync_alloc(s, sizeof(*l) + ops->mutex_size, LOCK_MAGIC, true,
                          &index, err);
    if (l == NULL)
        return MPROC_ENOMEM;
    l->recursive = recursive;
    l->track_tid = 0;
    r = ops->mutex_init(&l->o, l->impl);
    if (r < 0)
        return mproc__err(err, r, "cannot create a %s lock: %s", ops->name,
                          mproc_strerror(r));
    *out = l;
    return 0;
}

static int
lock_acquire(mproc_lock_t *l, int timeout_ms, bool intr)
{
    const struct mproc_sync_ops *ops = mproc__sync_ops_of(&l->o);
    struct timespec dl, sl;
    const struct timespec *deadline = NULL;
    int32_t self = mproc__self(), prev;
    int r;

    /* An RLock is re-entered by the thread that holds it only (as
     * Python's); another thread of the process waits like any process. */
    if (l->recursive &&
        atomic_load_explicit(&l->owner, memory_order_relaxed) == self &&
        atomic_load_explicit(&l->tid, memory_order_relaxed) ==
            mproc__self_tid()) {
        l->depth++;
        return 0;
    }
    r = ops->mutex_trylock(&l->o, l->impl);
    if (r == MPROC_EAGAIN) {
        if (timeout_ms >= 0) {
            mproc__deadline_in(&dl, timeout_ms);
            deadline = &dl;
        }
        if (intr)
            mproc__intr_begin(); /* util/signal.c */
        for (;;) {
            if (intr && (r = mproc__intr_sleep()) < 0)
                break;
            r = ops->mutex_lock(&l->o, l->impl,
                                mproc__sync_slice(&sl, deadline));
            if (r == MPROC_EINTR && intr && mproc__sync_intr())
                break;
            if (r != MPROC_ETIMEDOUT && r != MPROC_EINTR)
                break;
            if (intr) /* sleeping again: hold signals till then */
                mproc__intr_hold();
            if (mproc__sync_passed(deadline)) {
                r = MPROC_ETIMEDOUT;
                break;
            }
        }
        if (intr)
            mproc__intr_end();
        if (r == MPROC_EINTR || r == MPROC_ETIMEDOUT)
            return r;
    }
    if (r < 0 && r != MPROC_EOWNERDEAD)
        return r;
    /* We hold the mutex.  A holder that released normally cleared `owner`
     * first, so a pid still there belonged to a holder that ended with it
     * held: killed, or exited (exit, _exit) in its critical section.  Both
     * are reported: the protected state may be half-updated either way.
     * (sysv: the kernel undid its hold; posix and futex saw it too.) */
    prev = atomic_load_explicit(&l->owner, memory_order_relaxed);
    if (prev != 0 && prev != self)
        r = MPROC_EOWNERDEAD;
    atomic_store_explicit(&l->owner, self, memory_order_relaxed);
    if (l->recursive || l->track_tid)
        atomic_store_explicit(&l->tid, mproc__self_tid(),
                              memory_order_relaxed);
    l->depth = 1;
    return r;
}

bool
mproc__lock_mine(const mproc_lock_t *l)
{
    return atomic_load_explicit(&l->owner, memory_order_relaxed) ==
               mproc__self() &&
           atomic_load_explicit(&l->tid, memory_order_relaxed) ==
               mproc__self_tid();
}

int
mproc_lock_acquire(mproc_lock_t *l, int timeout_ms)
{
    if (l == NULL)
        return MPROC_EINVAL;
    return lock_acquire(l, timeout_ms, true);
}

int
mproc__lock_take(mproc_lock_t *l)
{
    return lock_acquire(l, -1, false);
}

int
mproc_lock_release(mproc_lock_t *l)
{
    const struct mproc_sync_ops *ops;
    int32_t self = mproc__self();
    int r;

    if (l == NULL)
        return MPROC_EINVAL;
    ops = mproc__sync_ops_of(&l->o);
    if (atomic_load_explicit(&l->owner, memory_order_relaxed) != self)
        return MPROC_EPERM;
    /* An RLock is released by the thread that acquired it (Python's
     * RuntimeError); a Lock by any thread of the holding process. */
    if (l->recursive && atomic_load_explicit(&l->tid, memory_order_relaxed) !=
                            mproc__self_tid())
        return MPROC_EPERM;
    if (l->recursive && --l->depth > 0)
        return 0;
    l->depth = 0;
    atomic_store_explicit(&l->owner, 0, memory_order_relaxed);
    if (l->recursive || l->track_tid)
        atomic_store_explicit(&l->tid, 0, memory_order_relaxed);
    r = ops->mutex_unlock(&l->o, l->impl);
    if (r < 0) {
        /* Refused (posix: a robust mutex is its locking thread's to
         * unlock): still held, as it was, so the holder can release it. */
        if (l->recursive || l->track_tid)
            atomic_store_explicit(&l->tid, mproc__self_tid(),
                                  memory_order_relaxed);
        atomic_store_explicit(&l->owner, self, memory_order_relaxed);
        l->depth = 1;
    }
    return r;
}

/* ---- Semaphore and BoundedSemaphore ---- */

int
mproc_sem_new(mproc_sync_t *s, unsigned value, bool bounded,
              mproc_sem_t **out, mproc_err_t *err)
{
    const struct mproc_sync_ops *ops;
    uint32_t index = 0;
    mproc_sem_t *sem;
    int r;

    if (s == NULL)
        return mproc__err(err, MPROC_EINVAL, "semaphore: no arena");
    ops = backends[s->hdr->backend];
    *out = NULL;
    if (value > MAX_SEM_VALUE)
        return mproc__err(err, MPROC_EINVAL, "semaphore value %u is above "
                          "%u", value, MAX_SEM_VALUE);
    sem = mproc__sync_alloc(s, sizeof(*sem) + ops->sem_size, SEM_MAGIC, true,
                            &index, err);
    if (sem == NULL)
        return MPROC_ENOMEM;
    sem->initial = value;
    sem->bounded = bounded;
    r = ops->sem_init(&sem->o, sem->impl, value);
    if (r < 0)
        return mproc__err(err, r, "cannot create a %s semaphore: %s",
                          ops->name, mproc_strerror(r));
    *out = sem;
    return 0;
}

/*
 * The semaphores this process holds units of, so that a normal exit can
 * drop its entries: units taken and kept by a process that exits normally
 * were consumed (a Semaphore used as a counter), not held by a process
 * that died, and must not come back as "owner died".  Only a process
 * killed before it could run this leaves its holds to be reclaimed.
 */
#define HELD_MAX 64
static mproc_sem_t *held[HELD_MAX];
int mproc__sync_nheld; /* sync_int.h: mproc__sync_exit_child() reads it */
static int32_t held_pid;

#define HOLDER(pid, count) ((uint64_t)(uint32_t)(pid) << 32 | (count))
#define HOLDER_PID(w) ((int32_t)((w) >> 32))
#define HOLDER_COUNT(w) ((uint32_t)(w))

void
mproc__sync_exit(void)
{
    int32_t self;
    int i, k;

    /* Nothing held (a Process child's usual exit): return before
     * mproc__self(), whose first call in a forked child would cost it a
     * pthread_once and the pages that writes. */
    if (mproc__sync_nheld == 0)
        return;
    self = mproc__self();
    if (held_pid != self)
        return; /* the list is a parent's, inherited through fork */
    for (i = 0; i < mproc__sync_nheld; i++)
        for (k = 0; k < MPROC__SEM_HOLDERS; k++) {
            struct mproc__holder *h = &held[i]->holders[k];
            uint64_t w = atomic_load(&h->word);
            /* Only this process changes its own slot, but a reclaimer
             * may free it if it thinks us dead: swap, never store. */
            while (HOLDER_PID(w) == self &&
                   !atomic_compare_exchange_weak(&h->word, &w, 0))
                ;
        }
    mproc__sync_nheld = 0;
}

/* The arena goes away in this process: forget its semaphores. */
static void
forget_arena(const void *base, size_t size)
{
    int i, n = 0;

    for (i = 0; i < mproc__sync_nheld; i++)
        if ((const char *)held[i] < (const char *)base ||
            (const char *)held[i] >= (const char *)base + size)
            held[n++] = held[i];
    mproc__sync_nheld = n;
}

static void
exit_register(void)
{
    atexit(mproc__sync_exit);
}

static void
remember_held(mproc_sem_t *sem, int32_t self)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    int i;

    pthread_once(&once, exit_register);
    if (held_pid != self) {
        held_pid = self;
        mproc__sync_nheld = 0;
    }
    for (i = 0; i < mproc__sync_nheld; i++)
        if (held[i] == sem)
            return;
    if (mproc__sync_nheld < HELD_MAX)
        held[mproc__sync_nheld++] = sem;
}

/*
 * Count one unit more (delta 1) or less (-1) held by this process in the
 * holders table.  Returns whether the process held a tracked unit.  A
 * slot is its pid and count in one word: it is claimed, changed and freed
 * (when the count falls to 0) by compare-and-swap.
 */
static bool
holder_add(mproc_sem_t *sem, int32_t self, int delta)
{
    unsigned i, start = (unsigned)self % MPROC__SEM_HOLDERS;

    for (i = 0; i < MPROC__SEM_HOLDERS; i++) {
        struct mproc__holder *h = &sem->holders[(start + i) %
                                                MPROC__SEM_HOLDERS];
        uint64_t w = atomic_load(&h->word), upd;

        while (HOLDER_PID(w) == self) {
            uint32_t c = HOLDER_COUNT(w);
            if (delta < 0 && c == 0)
                return false;
            c += (uint32_t)delta;
            upd = c == 0 ? 0 : HOLDER(self, c);
            if (atomic_compare_exchange_weak(&h->word, &w, upd))
                return true;
        }
    }
    if (delta < 0)
        return false; /* released a unit it did not take: allowed */
    for (i = 0; i < MPROC__SEM_HOLDERS; i++) {
        struct mproc__holder *h = &sem->holders[(start + i) %
                                                MPROC__SEM_HOLDERS];
        uint64_t none = 0;
        if (atomic_compare_exchange_strong(&h->word, &none,
                                           HOLDER(self, 1))) {
            remember_held(sem, self);
            return true;
        }
    }
    /* Table full: this hold goes untracked (no owner-died for it). */
    return false;
}

/*
 * Give back the units of holders that were killed.  Returns how many.
 * For a backend where the kernel already did (sysv), only the table is
 * cleared.  A holder seen as a zombie that exited (exit or _exit) used its
 * units: they stay consumed.  One that is gone without a trace (its parent
 * reaped it before anyone looked) cannot be told from a killed one; its
 * units come back, since a deadlock is worse than a unit returned.
 */
static unsigned
reclaim_dead(mproc_sem_t *sem, const struct mproc_sync_ops *ops)
{
    unsigned i, n = 0, k;

    for (i = 0; i < MPROC__SEM_HOLDERS; i++) {
        struct mproc__holder *h = &sem->holders[i];
        uint64_t w = atomic_load(&h->word);
        enum mproc__pid_state st;
        uint32_t count;

        if (w == 0 || (st = mproc__pid_state(HOLDER_PID(w))) ==
                          MPROC__PID_ALIVE)
            continue;
        /* Test hook (12.16): stop with a dead holder found and its units
         * not yet taken, so that a test can let a new holder acquire in
         * between (it must not be given the dead one's slot or count). */
        if (mproc__sync_hook("SEM_RECLAIM_STOP"))
            raise(SIGSTOP);
        /* Several waiters may find the same dead pid: the one that swaps
         * the word out owns its units, pid and count together. */
        if (!atomic_compare_exchange_strong(&h->word, &w, 0))
            continue;
        count = HOLDER_COUNT(w);
        if (count == 0 || st == MPROC__PID_EXITED)
            continue;
        if (sem->bounded) {
            /* A BoundedSemaphore never goes past its bound: a unit the
             * dead one held that another process released already (a
             * hand-off) is not given twice. */
            uint32_t hd = atomic_load(&sem->handed), take;

            do
                take = hd < count ? hd : count;
            while (take > 0 &&
                   !atomic_compare_exchange_weak(&sem->handed, &hd,
                                                 hd - take));
            count -= take;
        }
        if (!ops->undo_on_death)
            for (k = 0; k < count; k++)
                ops->sem_post(&sem->o, sem->impl, false);
        n += count;
    }
    if (sem->bounded && ops->undo_on_death) {
        /* The kernel gave them back whatever the count: take back what
         * went past the bound. */
        struct timespec now = {0, 0};

        while (ops->sem_value(&sem->o, sem->impl) > (int)sem->initial &&
               ops->sem_wait(&sem->o, sem->impl, &now) == 0)
            if (n > 0)
                n--;
    }
    if (n > 0)
        atomic_fetch_add(&sem->died, n);
    return n;
}

int
mproc_sem_acquire(mproc_sem_t *sem, int timeout_ms)
{
    const struct mproc_sync_ops *ops;
    struct timespec dl, sl;
    const struct timespec *deadline = NULL;
    int32_t self = mproc__self();
    uint32_t died;
    int r;

    if (sem == NULL)
        return MPROC_EINVAL;
    ops = mproc__sync_ops_of(&sem->o);
    if (timeout_ms >= 0) {
        mproc__deadline_in(&dl, timeout_ms);
        deadline = &dl;
    }
    /* With SEM_UNDO the kernel returns a dead holder's units at once, so
     * the wait below may succeed without ever looking: look first. */
    if (ops->undo_on_death)
        reclaim_dead(sem, ops);
    mproc__intr_begin(); /* util/signal.c */
    for (;;) {
        if ((r = mproc__intr_sleep()) < 0)
            break;
        r = ops->sem_wait(&sem->o, sem->impl, mproc__sync_slice(&sl, deadline));
        if (r == MPROC_EINTR && mproc__sync_intr())
            break;
        if (r != MPROC_ETIMEDOUT && r != MPROC_EINTR)
            break;
        mproc__intr_hold(); /* sleeping again: hold signals till then */
        if (r == MPROC_ETIMEDOUT && reclaim_dead(sem, ops) > 0)
            continue;
        if (mproc__sync_passed(deadline)) {
            r = MPROC_ETIMEDOUT;
            break;
        }
    }
    mproc__intr_end();
    if (r < 0)
        return r;
    /* A process killed between the take above and this record loses its
     * unit on futex and posix (sysv's undo returns it): the two are
     * separate words, and recording first would hand a unit never taken
     * back at a kill, which is worse for a Semaphore used as a lock.  The
     * window is a few instructions wide. */
    holder_add(sem, self, 1);
    died = atomic_load(&sem->died);
    while (died > 0) {
        if (atomic_compare_exchange_weak(&sem->died, &died, died - 1))
            return MPROC_EOWNERDEAD;
    }
    return 0;
}

int
mproc_sem_release(mproc_sem_t *sem)
{
    const struct mproc_sync_ops *ops;
    /* The bound is checked before posting; two racing releases of a
     * bounded semaphore at its bound could both pass, which Python's
     * BoundedSemaphore allows too (its check is not atomic either). */
    bool own;

    if (sem == NULL)
        return MPROC_EINVAL;
    ops = mproc__sync_ops_of(&sem->o);
    if (sem->bounded &&
        ops->sem_value(&sem->o, sem->impl) >= (int)sem->initial)
        return MPROC_ERANGE;
    own = holder_add(sem, mproc__self(), -1);
    if (!own && sem->bounded)
        atomic_fetch_add(&sem->handed, 1);
    return ops->sem_post(&sem->o, sem->impl, own);
}

int
mproc_sem_get_value(const mproc_sem_t *sem)
{
    if (sem == NULL)
        return MPROC_EINVAL;
    return mproc__sync_ops_of(&sem->o)->sem_value(&sem->o, sem->impl);
}

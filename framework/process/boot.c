/* SPDX-License-Identifier: MIT */
/*
 * The boot message: what a new image (spawned, or forked by the forkserver)
 * is told, serialized in one place.  It travels in a memfd rather than a
 * pipe: the parent writes it whole before the child exists, so no size of
 * input can make the parent block on a child that is not reading yet, and a
 * child that dies early cannot make the parent's write fail with SIGPIPE.
 *
 * The format is a list of records: a tag, a length and that many bytes,
 * padded to 8.  A reader skips tags it does not know.  The scalar fields of
 * a pool worker's arguments are one table (wa_fields) of offsets and
 * sizes: carrying a scalar added to struct mproc__worker_args later is one
 * line there.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/chan_int.h"
#include "ipc/frame_int.h"
#include "process/process_int.h"
#include "sync/sync_int.h"
#include "util/buf_int.h"

#define BOOT_MAGIC 0x6d70626fu /* "mpbo" */
#define BOOT_VERSION 1

enum {
    T_END = 0,
    T_KIND,
    T_PARENT_PID,
    T_PLUGIN,
    T_TASK,
    T_ARG,      /* key NUL value NUL */
    T_NAME,
    T_PARENT_NAME,
    T_IDENTITY, /* uint32_t[] */
    T_DAEMON,
    T_INPUT,
    T_RESULT_MAX,
    T_WA,       /* uint32_t index into wa_fields, then the bytes */
    T_HAS_SYNC,
    T_PRELOAD,
    T_NFDS,     /* uint32_t */
    T_LIFELINE, /* uint32_t: the lifeline's descriptor */
    T_LOGLEVEL, /* int32_t: the parent's mproc_log_level() */
    T_SENTINEL, /* uint8_t: the sentinel's write end is at 5 */
    T_PASS      /* uint32_t kind, fd0, nfds, reserved; the description */
};

struct rec {
    uint32_t tag;
    uint32_t reserved;
    uint64_t len;
};

#define WA(f)                                                               \
    {                                                                       \
        offsetof(struct mproc__worker_args, f),                             \
            sizeof(((struct mproc__worker_args *)0)->f)                     \
    }

/* The scalar fields of a pool worker's arguments. */
static const struct {
    size_t off, size;
} wa_fields[] = {
    WA(message_max),   WA(slot),          WA(max_memory),
    WA(rlimit_cpu),    WA(rlimit_as),     WA(rlimit_nofile),
    WA(nice),          WA(task_nfds),     WA(result_nfds),
    WA(task_bloblen),  WA(result_bloblen), WA(task_blob),
    WA(result_blob),   WA(has_claims),    WA(fifo_cap),
};

static int
put(struct mproc_buf *b, uint32_t tag, const void *a, size_t alen,
    const void *c, size_t clen)
{
    static const char pad[8];
    struct rec r = {tag, 0, (uint64_t)(alen + clen)};
    size_t n = (alen + clen) % 8 ? 8 - (alen + clen) % 8 : 0;

    if (mproc_buf_append(b, &r, sizeof(r)) != MPROC_TASK_OK ||
        (alen > 0 && mproc_buf_append(b, a, alen) != MPROC_TASK_OK) ||
        (clen > 0 && mproc_buf_append(b, c, clen) != MPROC_TASK_OK) ||
        (n > 0 && mproc_buf_append(b, pad, n) != MPROC_TASK_OK))
        return MPROC_ENOMEM;
    return 0;
}

static int
put_str(struct mproc_buf *b, uint32_t tag, const char *s)
{
    return s == NULL ? 0 : put(b, tag, s, strlen(s) + 1, NULL, 0);
}

int
mproc__boot_encode(const struct mproc__boot *bt, struct mproc_buf *b)
{
    uint32_t head[2] = {BOOT_MAGIC, BOOT_VERSION};
    int32_t ppid = (int32_t)bt->parent_pid, loglevel;
    uint8_t flag;
    size_t i;
    int r = 0;

    r |= mproc_buf_append(b, head, sizeof(head));
    r |= put(b, T_KIND, &bt->kind, sizeof(bt->kind), NULL, 0);
    r |= put(b, T_PARENT_PID, &ppid, sizeof(ppid), NULL, 0);
    r |= put(b, T_NFDS, &bt->nfds, sizeof(bt->nfds), NULL, 0);
    loglevel = mproc_log_level();
    r |= put(b, T_LOGLEVEL, &loglevel, sizeof(loglevel), NULL, 0);
    if (bt->lifeline_fd != 0)
        r |= put(b, T_LIFELINE, &bt->lifeline_fd, sizeof(bt->lifeline_fd),
                 NULL, 0);
    r |= put_str(b, T_PLUGIN, bt->plugin);
    r |= put_str(b, T_TASK, bt->task);
    for (i = 0; i < bt->nargs; i++)
        r |= put(b, T_ARG, bt->args[i].key, strlen(bt->args[i].key) + 1,
                 bt->args[i].value, strlen(bt->args[i].value) + 1);
    r |= put_str(b, T_NAME, bt->name);
    r |= put_str(b, T_PARENT_NAME, bt->parent_name);
    if (bt->nidentity > 0)
        r |= put(b, T_IDENTITY, bt->identity,
                 bt->nidentity * sizeof(*bt->identity), NULL, 0);
    flag = bt->daemon;
    r |= put(b, T_DAEMON, &flag, 1, NULL, 0);
    if (bt->kind == MPROC__BOOT_PROCESS)
        r |= put(b, T_INPUT, bt->input, bt->input_len, "", 1); /* + NUL */
    r |= put(b, T_RESULT_MAX, &bt->result_max, sizeof(bt->result_max), NULL,
             0);
    flag = bt->has_sentinel;
    r |= put(b, T_SENTINEL, &flag, 1, NULL, 0);
    for (i = 0; i < bt->npasses; i++) {
        uint32_t h[4] = {bt->passes[i].kind, bt->passes[i].fd0,
                         bt->passes[i].nfds, 0};
        r |= put(b, T_PASS, h, sizeof(h), bt->passes[i].data,
                 bt->passes[i].len);
    }
    if (bt->kind == MPROC__BOOT_WORKER)
        for (i = 0; i < MPROC__ARRAY_SIZE(wa_fields); i++) {
            uint32_t k = (uint32_t)i;
            r |= put(b, T_WA, &k, sizeof(k),
                     (const char *)&bt->wa + wa_fields[i].off,
                     wa_fields[i].size);
        }
    flag = bt->has_sync;
    r |= put(b, T_HAS_SYNC, &flag, 1, NULL, 0);
    for (i = 0; i < bt->npreload; i++)
        r |= put_str(b, T_PRELOAD, bt->preload[i]);
    r |= put(b, T_END, NULL, 0, NULL, 0);
    return r != 0 ? MPROC_ENOMEM : 0;
}

int
mproc__boot_write(const struct mproc__boot *bt, char *errbuf, size_t errlen)
{
    struct mproc_buf b;
    size_t off = 0;
    int fd = -1, r;

    mproc__buf_init(&b, (size_t)-1);
    r = mproc__boot_encode(bt, &b);
    if (r < 0) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    fd = mproc__memfd("mproc-boot");
    if (fd < 0) {
        r = -errno;
        snprintf(errbuf, errlen, "cannot create the boot message: "
                 "memfd_create: %s", strerror(errno));
        goto fail;
    }
    while (off < b.len) {
        ssize_t n = write(fd, b.data + off, b.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            snprintf(errbuf, errlen, "cannot write the boot message: %s",
                     strerror(errno));
            goto fail;
        }
        off += (size_t)n;
    }
    mproc__buf_free(&b);
    return fd;

fail:
    mproc__buf_free(&b);
    if (fd >= 0)
        close(fd);
    return r;
}

static int
grow(void **arr, size_t *cap, size_t n, size_t size)
{
    void *a;

    if (n < *cap)
        return 0;
    *cap = *cap ? 2 * *cap : 8;
    a = realloc(*arr, *cap * size);
    if (a == NULL)
        return MPROC_ENOMEM;
    *arr = a;
    return 0;
}

int
mproc__boot_read(int fd, struct mproc__boot *bt, void **mem)
{
    struct stat st;
    char *buf;
    size_t off = 0;

    memset(bt, 0, sizeof(*bt));
    *mem = NULL;
    if (fstat(fd, &st) < 0 || st.st_size < 8)
        return MPROC_EINVAL;
    buf = malloc((size_t)st.st_size);
    if (buf == NULL)
        return MPROC_ENOMEM;
    while (off < (size_t)st.st_size) {
        ssize_t n = pread(fd, buf + off, (size_t)st.st_size - off,
                          (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            return MPROC_EINVAL;
        }
        off += (size_t)n;
    }
    return mproc__boot_decode(buf, off, bt, mem);
}

int
mproc__boot_decode(char *buf, size_t len, struct mproc__boot *bt,
                   void **mem)
{
    char *p, *end;
    size_t acap = 0, pcap = 0, xcap = 0;
    int r = MPROC_EINVAL;

    memset(bt, 0, sizeof(*bt));
    *mem = NULL;
    if (len < 8)
        goto fail;
    if (((uint32_t *)buf)[0] != BOOT_MAGIC ||
        ((uint32_t *)buf)[1] != BOOT_VERSION)
        goto fail;
    p = buf + 8;
    end = buf + len;
    while (p + sizeof(struct rec) <= end) {
        struct rec rc;
        char *v;

        memcpy(&rc, p, sizeof(rc));
        v = p + sizeof(rc);
        if (rc.len > (uint64_t)(end - v))
            goto fail;
        p = v + ((rc.len + 7) & ~(uint64_t)7);
        /* Strings were written with their NUL: check it is there. */
        switch (rc.tag) {
        case T_END:
            *mem = buf;
            return 0;
        case T_KIND:
            if (rc.len == 4)
                memcpy(&bt->kind, v, 4);
            break;
        case T_PARENT_PID:
            if (rc.len == 4) {
                int32_t pid;
                memcpy(&pid, v, 4);
                bt->parent_pid = (pid_t)pid;
            }
            break;
        case T_PLUGIN:
        case T_TASK:
        case T_NAME:
        case T_PARENT_NAME:
        case T_PRELOAD:
            if (rc.len == 0 || v[rc.len - 1] != '\0')
                goto fail;
            if (rc.tag == T_PLUGIN)
                bt->plugin = v;
            else if (rc.tag == T_TASK)
                bt->task = v;
            else if (rc.tag == T_NAME)
                bt->name = v;
            else if (rc.tag == T_PARENT_NAME)
                bt->parent_name = v;
            else {
                if (grow((void **)&bt->preload, &pcap, bt->npreload + 1,
                         sizeof(char *)) < 0)
                    goto nomem;
                bt->preload[bt->npreload++] = v;
            }
            break;
        case T_ARG: {
            size_t klen = strnlen(v, rc.len);
            if (klen + 1 >= rc.len || v[rc.len - 1] != '\0')
                goto fail;
            if (grow((void **)&bt->args, &acap, bt->nargs, sizeof(*bt->args)) <
                0)
                goto nomem;
            bt->args[bt->nargs].key = v;
            bt->args[bt->nargs].value = v + klen + 1;
            bt->nargs++;
            break;
        }
        case T_IDENTITY:
            /* Records start 8-aligned in an 8-aligned buffer. */
            bt->identity = (const uint32_t *)(void *)v;
            bt->nidentity = rc.len / sizeof(uint32_t);
            break;
        case T_DAEMON:
            bt->daemon = rc.len == 1 && v[0] != 0;
            break;
        case T_INPUT:
            if (rc.len == 0 || v[rc.len - 1] != '\0')
                goto fail;
            bt->input = v;
            bt->input_len = rc.len - 1;
            break;
        case T_RESULT_MAX:
            if (rc.len == 8)
                memcpy(&bt->result_max, v, 8);
            break;
        case T_WA: {
            uint32_t k;
            if (rc.len < 4)
                goto fail;
            memcpy(&k, v, 4);
            if (k < MPROC__ARRAY_SIZE(wa_fields) &&
                rc.len - 4 == wa_fields[k].size)
                memcpy((char *)&bt->wa + wa_fields[k].off, v + 4,
                       wa_fields[k].size);
            break;
        }
        case T_HAS_SYNC:
            bt->has_sync = rc.len == 1 && v[0] != 0;
            break;
        case T_NFDS:
            if (rc.len == 4)
                memcpy(&bt->nfds, v, 4);
            break;
        case T_LIFELINE:
            if (rc.len == 4)
                memcpy(&bt->lifeline_fd, v, 4);
            break;
        case T_SENTINEL:
            bt->has_sentinel = rc.len == 1 && v[0] != 0;
            break;
        case T_PASS: {
            uint32_t h[4];
            struct mproc__pass_rec *x;
            if (rc.len < sizeof(h))
                goto fail;
            if (grow((void **)&bt->passes, &xcap, bt->npasses,
                     sizeof(*bt->passes)) < 0)
                goto nomem;
            memcpy(h, v, sizeof(h));
            x = &bt->passes[bt->npasses++];
            x->kind = h[0];
            x->fd0 = h[1];
            x->nfds = h[2];
            x->len = rc.len - sizeof(h);
            x->data = v + sizeof(h);
            if ((uint64_t)x->fd0 + x->nfds > bt->nfds)
                goto fail;
            break;
        }
        case T_LOGLEVEL:
            if (rc.len == 4) {
                int32_t l;
                memcpy(&l, v, 4);
                /* Stored only when it changes (the forkserver decodes
                 * a message per child: see mproc__boot_use_plugin). */
                if (mproc_log_level() != (int)l)
                    mproc__log_set((int)l);
            }
            break;
        default:
            break; /* a newer sender's record */
        }
    }
fail:
    r = MPROC_EINVAL;
    goto out;
nomem:
    r = MPROC_ENOMEM;
out:
    free(bt->args);
    free(bt->preload);
    free(bt->passes);
    free(buf);
    memset(bt, 0, sizeof(*bt));
    return r;
}

void
mproc__boot_free(struct mproc__boot *bt, void *mem)
{
    free(bt->args);
    free(bt->preload);
    free(bt->passes);
    free(mem);
    memset(bt, 0, sizeof(*bt));
}

/*
 * Die with the parent process (fork.c's lifeline, given as a descriptor);
 * false when it is already gone.  Without a lifeline, or without /proc,
 * PR_SET_PDEATHSIG, which follows only the thread that started us.
 */
bool
mproc__boot_follow(const struct mproc__boot *b)
{
    int fd = -1, rd = (int)b->lifeline_fd;

    if (rd >= MPROC__FD_FIRST) {
        fd = mproc__lifeline_arm(rd);
        close(rd);
        mproc__fork_fd_register(fd);
    }
    return mproc__lifeline_check(fd, b->parent_pid) == 0;
}

static void
set_signal(int sig, void (*handler)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigaction(sig, &sa, NULL);
}

static void __attribute__((noreturn))
init_fail(int fd, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void __attribute__((noreturn))
init_fail(int fd, int code, const char *fmt, ...)
{
    char msg[MPROC_ERRMSG_MAX + 64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mproc__frame_write(fd, MPROC__FRAME_INITFAIL, 0, 0, msg, strlen(msg));
    fflush(NULL); /* what a plugin's constructor printed */
    _exit(code);
}

/* A pool worker's init failure, told on its result channel (or, when
 * even that could not be rebuilt, on stderr). */
static void __attribute__((noreturn))
worker_fail(struct mproc_chan *result, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void __attribute__((noreturn))
worker_fail(struct mproc_chan *result, const char *fmt, ...)
{
    char msg[MPROC_ERRMSG_MAX + 64];
    struct mproc_buf scratch;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mproc__buf_init(&scratch, (size_t)-1);
    if (result == NULL ||
        mproc__frame_send(result, &scratch, 0, MPROC__FRAME_INITFAIL, 0, 0,
                          msg, strlen(msg), -1) < 0)
        fprintf(stderr, "mproc-worker: %s\n", msg);
    fflush(NULL); /* what a plugin's constructor printed */
    _exit(MPROC__WORKER_EXIT_INIT);
}

static struct mproc__plugin *preopened;
static const struct mproc_task_def *pretask;

void
mproc__boot_use_plugin(struct mproc__plugin *pl,
                       const struct mproc_task_def *task)
{
    if (preopened != pl)
        preopened = pl;
    if (pretask != task)
        pretask = task;
}

/* The task of the boot message in pl: the server's, or looked up. */
static int
boot_task(const struct mproc__boot *b, const struct mproc__plugin *pl,
          const struct mproc_task_def **task, mproc_err_t *err)
{
    if (pl == preopened && pretask != NULL) {
        *task = pretask;
        return 0;
    }
    return mproc__plugin_task(pl, b->task, task, err);
}

/* The plugin of the boot message: the server's, or opened here. */
static int
boot_plugin(const struct mproc__boot *b, struct mproc__plugin **pl,
            mproc_err_t *err)
{
    if (preopened != NULL) {
        *pl = preopened;
        return 0;
    }
    return mproc__plugin_open(pl, b->plugin, err);
}

void
mproc__boot_run(const struct mproc__boot *b)
{
    mproc__boot_start(b);
}

void
mproc__boot_start(const struct mproc__boot *b)
{
    struct mproc__plugin *pl = NULL;
    const struct mproc_task_def *task = NULL;
    mproc_err_t err;
    int rfd = MPROC__FD_FIRST; /* a Process's result memfd */

    /* The signal mask is empty already: posix_spawn() set it for a new
     * image (worker_main.c makes sure), and a child of the server has the
     * server's. */
    if (b->kind == MPROC__BOOT_SERVER)
        mproc__server_main(b);

    if (b->kind == MPROC__BOOT_WORKER) {
        struct mproc__worker_args a = b->wa;
        struct mproc_chan *tch = NULL, *rch = NULL;
        int fds[MPROC__FD_MAX], next = MPROC__FD_FIRST;
        mproc_sync_t *sync = NULL;
        uint32_t i;
        int fd;

        if (!mproc__boot_follow(b))
            _exit(1); /* the host died before we could follow it */
        /* A Pool API worker's name (SpawnPoolWorker-N ...); the strings
         * live in the boot message, kept for the process's life. */
        if (b->name != NULL)
            mproc__process_set_identity(b->name, b->parent_pid,
                                        b->parent_name != NULL
                                            ? b->parent_name
                                            : "MainProcess");
        /* As a forked worker (pool/start.c): Ctrl-C is the host's; stdin
         * is the host's input; a stray printf goes to stderr. */
        set_signal(SIGINT, SIG_IGN);
        /* A process group of its own, as a forked worker's (pool/start.c
         * says why). */
        setpgid(0, 0);
        mproc__lifeline_group();
        set_signal(SIGTTOU, SIG_IGN);
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            dup2(fd, STDIN_FILENO);
            close(fd);
        }
        dup2(STDERR_FILENO, STDOUT_FILENO);
        /* The channel sides: the task's descriptors, then the result's.
         * The result side first, so what fails next can be told. */
        a.claims = NULL;
        a.claims_fd = -1;
        if (a.task_nfds + a.result_nfds + 1 + (a.has_claims != 0) >
                MPROC__FD_MAX ||
            a.task_bloblen > MPROC__WA_BLOB || a.result_bloblen > MPROC__WA_BLOB)
            worker_fail(NULL, "bad boot message: %u + %u descriptors",
                        a.task_nfds, a.result_nfds);
        for (i = 0; i < a.result_nfds; i++)
            fds[i] = MPROC__FD_FIRST + (int)a.task_nfds + (int)i;
        if (mproc__chan_import(&rch, fds, a.result_nfds, a.result_blob,
                               a.result_bloblen, &err) < 0)
            worker_fail(NULL, "result channel: %s", err.msg);
        for (i = 0; i < a.task_nfds; i++)
            fds[i] = next++;
        next += (int)a.result_nfds;
        if (mproc__chan_import(&tch, fds, a.task_nfds, a.task_blob,
                               a.task_bloblen, &err) < 0)
            worker_fail(rch, "task channel: %s", err.msg);
        if (boot_plugin(b, &pl, &err) < 0)
            worker_fail(rch, "%s", err.msg);
        if (boot_task(b, pl, &a.task, &err) < 0)
            worker_fail(rch, "%s", err.msg);
        if (b->has_sync && mproc__sync_attach(&sync, next, &err) < 0)
            worker_fail(rch, "%s", err.msg);
        if (a.has_claims) /* after the arena (pool/start.c) */
            a.claims_fd = next + (b->has_sync ? 1 : 0);
        a.desc = pl->desc;
        a.args = b->args;
        a.nargs = b->nargs;
        a.sync = sync;
        a.task_ch = tch;
        a.result_ch = rch;
        mproc__worker_main(&a);
    }

    /* A Process.  SIGINT: the server ignores it (a direct call, as
     * mproc__fork_child_signals() makes). */
    {
        uint64_t dfl[4] = {0, 0, 0, 0};
        mproc__raw_syscall(SYS_rt_sigaction, SIGINT, (long)dfl, 0, 8);
    }
    if (b->daemon && !mproc__boot_follow(b))
        _exit(1);
    /* The result file at 4, the sentinel's write end at 5 where pidfds
     * are refused, then the lifeline. */
    mproc__process_become(b->name, b->identity, b->nidentity, b->daemon,
                          b->parent_pid, b->parent_name, rfd,
                          b->has_sentinel ? MPROC__FD_FIRST + 1 : -1);
    if (mproc__pass_adopt(b->passes, b->npasses, &err) < 0)
        init_fail(rfd, 1, "the objects handed to this process: %s",
                  err.msg);
    if (boot_plugin(b, &pl, &err) < 0 ||
        boot_task(b, pl, &task, &err) < 0)
        init_fail(rfd, 1, "%s", err.msg);
    mproc__process_child(pl->desc, task->fn, b->args, b->nargs, b->input,
                         b->input_len,
                         b->result_max ? (size_t)b->result_max
                                       : MPROC__RESULT_MAX_DEFAULT,
                         rfd);
}

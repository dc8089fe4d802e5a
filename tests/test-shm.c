/* SPDX-License-Identifier: MIT */
/*
 * Issue 16.5: named SharedMemory, after CPython's _TestSharedMemory:
 * basics (name, size, buf, attach by name sees the same bytes,
 * FileExistsError, FileNotFoundError, size 0 refused), across processes,
 * close and unlink; plus mode 0600, the names refused, and the clean-up
 * of a SIGKILLed creator's block (mproc__shm_clean, what `mproc clean`
 * runs; tests/obj16-clean.sh runs the command itself).
 *
 * "helper-create NAME": create NAME, print "ready", sleep (the shell
 * test kills it).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc/shared_memory.h>

#include "internal.h"
#include "shm/shm_int.h"
#include "tap.h"

static char name[64];

static bool
exists(const char *n)
{
    char path[300];

    snprintf(path, sizeof(path), "/dev/shm/%s", n);
    return access(path, F_OK) == 0;
}

static void
test_basics(void)
{
    mproc_shm_t *m = NULL, *m2 = NULL, *m3 = NULL;
    mproc_err_t err;
    struct stat st;
    char path[300];

    is_int(mproc_shm_create(&m, name, 512, &err), 0, "create %s", name);
    if (m == NULL)
        return;
    is_str(mproc_shm_name(m), name, "name");
    is_int(mproc_shm_size(m), 512, "size is what was asked");
    ok(mproc_shm_buf(m) != NULL && ((char *)mproc_shm_buf(m))[511] == 0,
       "buf: zero-filled");
    snprintf(path, sizeof(path), "/dev/shm/%s", name);
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
       "mode 0600 in /dev/shm");
    memcpy(mproc_shm_buf(m), "howdy", 5);

    is_int(mproc_shm_attach(&m2, name, &err), 0, "attach by name");
    if (m2 != NULL) {
        is_int(mproc_shm_size(m2), 512, "the attached size");
        ok(memcmp(mproc_shm_buf(m2), "howdy", 5) == 0,
           "the attached block shows the bytes");
        ((char *)mproc_shm_buf(m2))[0] = 'H';
        ok(((char *)mproc_shm_buf(m))[0] == 'H', "and writes through");
    }
    is_int(mproc_shm_create(&m3, name, 512, &err), MPROC_EEXIST,
           "create of a taken name: EEXIST (FileExistsError)");
    like_str(err.msg, "taken", "... says the name is taken");

    /* Across processes: a child attaches by name and writes. */
    {
        pid_t pid = fork();
        int stt;
        if (pid == 0) {
            mproc_shm_t *c = NULL;
            if (mproc_shm_attach(&c, name, NULL) < 0)
                _exit(1);
            memcpy((char *)mproc_shm_buf(c) + 100, "from the child", 14);
            mproc_shm_free(c);
            _exit(0);
        }
        waitpid(pid, &stt, 0);
        ok(WIFEXITED(stt) && WEXITSTATUS(stt) == 0 &&
               memcmp((char *)mproc_shm_buf(m) + 100, "from the child",
                      14) == 0,
           "a child attached by name and wrote");
    }

    is_int(mproc_shm_close(m2), 0, "close");
    ok(mproc_shm_buf(m2) == NULL, "buf is NULL after close");
    is_int(mproc_shm_close(m2), MPROC_ECLOSED, "close twice: ECLOSED");
    mproc_shm_free(m2);
    is_int(mproc_shm_unlink(m), 0, "unlink");
    ok(!exists(name), "the name is gone from /dev/shm");
    ok(memcmp(mproc_shm_buf(m), "Howdy", 5) == 0,
       "the memory lives while mapped");
    is_int(mproc_shm_unlink(m), MPROC_ENOENT, "unlink twice: ENOENT");
    is_int(mproc_shm_attach(&m2, name, &err), MPROC_ENOENT,
           "attach after unlink: ENOENT (FileNotFoundError)");
    mproc_shm_free(m);
    mproc_shm_free(NULL);
}

static void
test_errors(void)
{
    char longname[MPROC_SHM_NAME_MAX + 2];
    mproc_shm_t *m = NULL;
    mproc_err_t err;

    is_int(mproc_shm_create(&m, name, 0, &err), MPROC_EINVAL,
           "size 0: EINVAL (ValueError)");
    ok(!exists(name), "... and nothing made");
    is_int(mproc_shm_create(&m, "a/b", 10, &err), MPROC_EINVAL,
           "a name with '/': EINVAL");
    like_str(err.msg, "no '/'", "... says what a name may be");
    is_int(mproc_shm_create(&m, "", 10, &err), MPROC_EINVAL, "empty name");
    is_int(mproc_shm_create(&m, "..", 10, &err), MPROC_EINVAL, "'..'");
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    is_int(mproc_shm_create(&m, longname, 10, &err), MPROC_EINVAL,
           "a name past MPROC_SHM_NAME_MAX");
    like_str(err.msg, "at most", "... says the limit");
    is_int(mproc_shm_attach(&m, "mproc-test-no-such-block", &err),
           MPROC_ENOENT, "attach of no block: ENOENT");
    ok(m == NULL, "... and no handle");

    /* NULL: a fresh unpredictable name. */
    is_int(mproc_shm_create(&m, NULL, 1, &err), 0, "create with no name");
    if (m != NULL) {
        ok(strncmp(mproc_shm_name(m), "mproc_", 6) == 0 &&
               strlen(mproc_shm_name(m)) == 22,
           "... gets mproc_ + 16 hex digits (%s)", mproc_shm_name(m));
        ok(exists(mproc_shm_name(m)), "... in /dev/shm");
        mproc_shm_unlink(m);
        mproc_shm_free(m);
    }
}

/* A creator SIGKILLed before it unlinks: the sweep finds its block. */
static void
counted(const char *n, long pid, void *arg)
{
    if (strcmp(n, name) == 0)
        *(long *)arg = pid;
}

static void
test_killed_creator(void)
{
    mproc_err_t err;
    long found = 0;
    int fd[2], st, n;
    char c;
    pid_t pid;

    if (pipe(fd) < 0)
        return;
    pid = fork();
    if (pid == 0) {
        mproc_shm_t *m = NULL;
        if (mproc_shm_create(&m, name, 4096, NULL) == 0)
            (void)!write(fd[1], "r", 1);
        pause();
        _exit(0);
    }
    close(fd[1]);
    ok(read(fd[0], &c, 1) == 1, "a child created %s", name);
    close(fd[0]);
    n = mproc__shm_clean("/dev/shm", false, counted, &found, &err);
    ok(n >= 0 && found == 0, "while its creator lives, the sweep leaves it");
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    ok(exists(name), "SIGKILL of the creator leaves the block");
    n = mproc__shm_clean("/dev/shm", false, counted, &found, &err);
    ok(n >= 1 && found == (long)pid,
       "the sweep (dry) finds it, with its creator's pid");
    ok(exists(name), "... and leaves it");
    found = 0;
    n = mproc__shm_clean("/dev/shm", true, counted, &found, &err);
    ok(n >= 1 && found == (long)pid, "the sweep removes it");
    ok(!exists(name), "... gone from /dev/shm");
    is_int(mproc__shm_clean("/nonexistent-dir", false, NULL, NULL, &err),
           MPROC_ENOENT, "a folder that cannot be read: an error");
}

int
main(int argc, char **argv)
{
    alarm(60);
    if (argc == 3 && strcmp(argv[1], "helper-create") == 0) {
        mproc_shm_t *m = NULL;
        mproc_err_t err;
        if (mproc_shm_create(&m, argv[2], 1000, &err) < 0) {
            printf("error %s\n", err.msg);
            return 1;
        }
        printf("ready\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    if (argc == 4 && strcmp(argv[1], "helper-create-once") == 0) {
        /* Create NAME of SIZE bytes, touch every byte, remove it. */
        mproc_shm_t *m = NULL;
        mproc_err_t err;
        size_t size = (size_t)strtoull(argv[3], NULL, 10);
        if (mproc_shm_create(&m, argv[2], size, &err) < 0) {
            printf("error %s\n", err.msg);
            return 1;
        }
        memset(mproc_shm_buf(m), 1, size);
        printf("created\n");
        mproc_shm_unlink(m);
        mproc_shm_free(m);
        return 0;
    }
    snprintf(name, sizeof(name), "mproc-test-shm-%ld", (long)getpid());
    test_basics();
    test_errors();
    test_killed_creator();
    ok(!exists(name), "nothing left in /dev/shm");
    return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * A manager client for tests/mgr16-unrelated.sh: processes that the shell
 * starts, neither the other's child, sharing a dict, a Lock and a Queue.
 *
 *   mgr16-client share ADDR KEYFILE put|get N   count N times under the
 *        Lock "L" in dict "d" key "n"; put N items into Queue "q" or get
 *        N items from it; then set d[ROLE] = "done"
 *   mgr16-client check ADDR KEYFILE TOTAL      d["n"] == TOTAL, both roles
 *        done, "q" empty
 *   mgr16-client wrongkey ADDR                 a wrong key is EAUTH
 *   mgr16-client custom ADDR KEYFILE           the --types example type
 *   mgr16-client shutdown ADDR KEYFILE
 * Exit status 0 when all went as expected; the reason on stderr if not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc/manager.h>

static int
die(const char *what, mproc_manager_t *m, int r)
{
    fprintf(stderr, "mgr16-client: %s: %s (%s)\n", what,
            m ? mproc_manager_errmsg(m) : "", mproc_err_name(r));
    return 1;
}

static unsigned char *
readkey(const char *path, size_t *len)
{
    static unsigned char key[4097];
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        return NULL;
    *len = fread(key, 1, sizeof(key), f);
    fclose(f);
    if (*len > 0 && key[*len - 1] == '\n')
        (*len)--;
    return key;
}

static int
get_n(mproc_mobj_t *d, long *n)
{
    const void *v;
    size_t vl;
    char buf[32];
    int r = mproc_mdict_get(d, "n", 1, &v, &vl);

    if (r == MPROC_ENOENT) {
        *n = 0;
        return 0;
    }
    if (r < 0 || vl >= sizeof(buf))
        return r < 0 ? r : MPROC_EINVAL;
    memcpy(buf, v, vl);
    buf[vl] = 0;
    *n = atol(buf);
    return 0;
}

int
main(int argc, char **argv)
{
    mproc_manager_t *m = NULL;
    mproc_mobj_t *d = NULL, *l = NULL, *q = NULL;
    mproc_err_t err;
    unsigned char *key;
    size_t kl = 0;
    const void *v;
    size_t vl;
    char buf[32];
    long n, i, count;
    int r;

    if (argc == 3 && strcmp(argv[1], "wrongkey") == 0) {
        r = mproc_manager_connect(&m, argv[2], "not-the-key", 11, &err);
        if (r != MPROC_EAUTH) {
            fprintf(stderr, "wrongkey: got %s\n", mproc_err_name(r));
            return 1;
        }
        return 0;
    }
    if (argc < 4 || (key = readkey(argv[3], &kl)) == NULL) {
        fprintf(stderr, "usage: see the source\n");
        return 64;
    }
    r = mproc_manager_connect(&m, argv[2], key, kl, &err);
    if (r < 0) {
        fprintf(stderr, "mgr16-client: %s\n", err.msg);
        return 1;
    }
    if (strcmp(argv[1], "shutdown") == 0) {
        r = mproc_manager_shutdown(m);
        mproc_manager_free(m);
        return r < 0;
    }
    if (strcmp(argv[1], "custom") == 0) {
        mproc_mobj_t *x;
        uint64_t hits = 0;
        if ((r = mproc_manager_custom(m, "lim", "ratelimit", "3", 1, &x)) < 0)
            return die("custom", m, r);
        /* 3 tokens: the first three calls pass, the fourth is refused. */
        for (i = 0; i < 4; i++)
            if (mproc_manager_call(x, "take", NULL, 0, &v, &vl) == 0)
                hits++;
        if (hits != 3)
            return die("custom: expected 3 of 4 takes", m, 0);
        mproc_mobj_free(x);
        mproc_manager_free(m);
        return 0;
    }
    if ((r = mproc_manager_dict(m, "d", &d)) < 0 ||
        (r = mproc_manager_lock(m, "L", false, &l)) < 0 ||
        (r = mproc_manager_queue(m, "q", 0, false, &q)) < 0)
        return die("open", m, r);
    if (strcmp(argv[1], "share") == 0 && argc == 6) {
        count = atol(argv[5]);
        for (i = 0; i < count; i++) {
            /* A read-modify-write that only the Lock makes safe. */
            if ((r = mproc_mlock_acquire(l, 10000)) != 0)
                return die("acquire", m, r);
            if ((r = get_n(d, &n)) < 0)
                return die("get", m, r);
            snprintf(buf, sizeof(buf), "%ld", n + 1);
            if ((r = mproc_mdict_set(d, "n", 1, buf, strlen(buf))) < 0 ||
                (r = mproc_mlock_release(l)) < 0)
                return die("set", m, r);
            snprintf(buf, sizeof(buf), "%ld", i);
            if (strcmp(argv[4], "put") == 0)
                r = mproc_mqueue_put(q, buf, strlen(buf), 10000);
            else
                r = mproc_mqueue_get(q, 10000, &v, &vl);
            if (r < 0)
                return die(argv[4], m, r);
        }
        mproc_mdict_set(d, argv[4], strlen(argv[4]), "done", 4);
    } else if (strcmp(argv[1], "check") == 0 && argc == 5) {
        if ((r = get_n(d, &n)) < 0)
            return die("get", m, r);
        if (n != atol(argv[4])) {
            fprintf(stderr, "check: n = %ld, want %s\n", n, argv[4]);
            return 1;
        }
        if (mproc_mdict_contains(d, "put", 3) != 1 ||
            mproc_mdict_contains(d, "get", 3) != 1 ||
            mproc_mqueue_qsize(q) != 0)
            return die("check: roles or queue", m, 0);
    } else {
        return 64;
    }
    mproc_mobj_free(d);
    mproc_mobj_free(l);
    mproc_mobj_free(q);
    mproc_manager_free(m);
    return 0;
}

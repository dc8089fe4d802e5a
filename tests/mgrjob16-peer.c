/* SPDX-License-Identifier: MIT */
/*
 * A process outside `mproc run` (started by the test script, neither
 * parent nor child of the run) that reads and writes a job's manager
 * objects, as a user's own program would:
 *
 *   mgrjob16-peer ADDRESS KEYFILE total           print Value "total"
 *   mgrjob16-peer ADDRESS KEYFILE add N           add N to "total"
 *   mgrjob16-peer ADDRESS KEYFILE len DICT        print the dict's length
 *   mgrjob16-peer ADDRESS KEYFILE get DICT KEY    print dict[KEY]
 *   mgrjob16-peer ADDRESS KEYFILE set-event NAME  set the Event NAME
 *   mgrjob16-peer ADDRESS KEYFILE type NAME       print NAME's type number
 *
 * ADDRESS "@FILE" reads the address from FILE, waiting up to 20 s for it
 * (a run writes it when its manager is up).  Exit 0; 2 and a message on
 * stderr after an error; 3 for MPROC_EAUTH.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc/manager.h>
#include <mproc/shared.h>

static int
die(const char *what, int r, mproc_manager_t *m)
{
    fprintf(stderr, "mgrjob16-peer: %s: %s (%s)\n", what,
            m ? mproc_manager_errmsg(m) : "", mproc_strerror(r));
    return r == MPROC_EAUTH ? 3 : 2;
}

static int
read_file(const char *path, char *buf, size_t cap, int wait_s)
{
    int i;

    for (i = 0; i < wait_s * 20; i++) {
        FILE *f = fopen(path, "r");
        size_t n = 0;
        if (f != NULL) {
            n = fread(buf, 1, cap - 1, f);
            fclose(f);
        }
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            n--;
        buf[n] = '\0';
        if (n > 0)
            return 0;
        usleep(50000);
    }
    return -1;
}

int
main(int argc, char **argv)
{
    char addr[4096], key[4200];
    mproc_manager_t *m = NULL;
    mproc_mobj_t *o = NULL;
    mproc_err_t err = {0, ""};
    const char *cmd;
    int i, r, rc = 0;

    alarm(30);
    if (argc < 4) {
        fprintf(stderr, "usage: mgrjob16-peer ADDRESS KEYFILE CMD ...\n");
        return 2;
    }
    if (argv[1][0] == '@') {
        if (read_file(argv[1] + 1, addr, sizeof(addr), 20) < 0) {
            fprintf(stderr, "mgrjob16-peer: no address in %s\n", argv[1] + 1);
            return 2;
        }
    } else {
        snprintf(addr, sizeof(addr), "%s", argv[1]);
    }
    /* The key file as `mproc manager` reads it: one final newline dropped. */
    if (read_file(argv[2], key, sizeof(key), 20) < 0) {
        fprintf(stderr, "mgrjob16-peer: no key in %s\n", argv[2]);
        return 2;
    }
    /* The run may not listen yet: try for up to 20 s (not a wrong key). */
    for (i = 0; i < 400; i++) {
        r = mproc_manager_connect(&m, addr, key, strlen(key), &err);
        if (r == 0 || r == MPROC_EAUTH || getenv("PEER_NO_WAIT") != NULL)
            break;
        usleep(50000);
    }
    if (r < 0) {
        fprintf(stderr, "mgrjob16-peer: connect %s: %s\n", addr, err.msg);
        return r == MPROC_EAUTH ? 3 : 2;
    }
    cmd = argv[3];
    if (strcmp(cmd, "total") == 0 || strcmp(cmd, "add") == 0) {
        int64_t v = 0;
        /* add creates it when the run has not yet: the same named Value. */
        r = cmd[0] == 'a' ? mproc_manager_value(m, "total", MPROC_T_INT64, &o)
                          : mproc_manager_find(m, "total", &o);
        if (r < 0)
            rc = die("find total", r, m);
        else if (cmd[0] == 'a')
            r = mproc_marray_add_i64(o, 0, argc > 4 ? atoll(argv[4]) : 1, &v);
        else
            r = mproc_marray_get_i64(o, 0, &v);
        if (rc == 0 && r < 0)
            rc = die(cmd, r, m);
        if (rc == 0)
            printf("%" PRId64 "\n", v);
    } else if (strcmp(cmd, "len") == 0 && argc > 4) {
        ssize_t n;
        if ((r = mproc_manager_find(m, argv[4], &o)) < 0)
            rc = die("find", r, m);
        else if ((n = mproc_mdict_len(o)) < 0)
            rc = die("len", (int)n, m);
        else
            printf("%zd\n", n);
    } else if (strcmp(cmd, "get") == 0 && argc > 5) {
        const void *v;
        size_t n;
        if ((r = mproc_manager_find(m, argv[4], &o)) < 0)
            rc = die("find", r, m);
        else if ((r = mproc_mdict_get(o, argv[5], strlen(argv[5]), &v,
                                      &n)) < 0)
            rc = die("get", r, m);
        else
            printf("%.*s\n", (int)n, (const char *)v);
    } else if (strcmp(cmd, "set-event") == 0 && argc > 4) {
        if ((r = mproc_manager_event(m, argv[4], &o)) < 0 ||
            (r = mproc_mevent_set(o)) < 0)
            rc = die("set-event", r, m);
    } else if (strcmp(cmd, "type") == 0 && argc > 4) {
        if ((r = mproc_manager_find(m, argv[4], &o)) < 0)
            rc = die("find", r, m);
        else
            printf("%d\n", mproc_mobj_type(o));
    } else {
        fprintf(stderr, "mgrjob16-peer: unknown command %s\n", cmd);
        rc = 2;
    }
    mproc_mobj_free(o);
    mproc_manager_free(m);
    return rc;
}

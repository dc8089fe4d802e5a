/* SPDX-License-Identifier: MIT */
/*
 * Replays files through a libFuzzer target's LLVMFuzzerTestOneInput()
 * without libFuzzer, so `make check` tests every seed and every past
 * crash with the usual compiler (and under ASan/UBSan and valgrind in
 * CI).  Arguments are files or folders (their files, sorted; *.license
 * files, which hold the corpus's licence, are skipped).  TAP: one point
 * per file; a crash ends the program, which fails the test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n;

static void
replay(const char *path)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "rb");

    if (f == NULL || fstat(fileno(f), &st) != 0) {
        printf("not ok %d - %s: cannot open\n", ++n, path);
        if (f != NULL)
            fclose(f);
        return;
    }
    /* Exactly the file's size, so an overread hits the allocation's end. */
    len = (size_t)st.st_size;
    buf = malloc(len ? len : 1);
    if (buf == NULL || fread(buf, 1, len, f) != len) {
        printf("not ok %d - %s: cannot read\n", ++n, path);
    } else {
        LLVMFuzzerTestOneInput(buf, len);
        printf("ok %d - %s\n", ++n, path);
    }
    free(buf);
    fclose(f);
    fflush(stdout);
}

static int
cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL, path[4096];
    size_t count = 0, cap = 0, i, l;

    if (d == NULL) {
        printf("not ok %d - %s: cannot open the folder\n", ++n, dir);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        l = strlen(e->d_name);
        if (e->d_name[0] == '.' ||
            (l > 8 && strcmp(e->d_name + l - 8, ".license") == 0))
            continue;
        if (count == cap) {
            char **nn = realloc(names, (cap = cap ? 2 * cap : 64) *
                                           sizeof(*names));
            if (nn == NULL)
                break;
            names = nn;
        }
        if ((names[count] = strdup(e->d_name)) != NULL)
            count++;
    }
    closedir(d);
    if (count > 1)
        qsort(names, count, sizeof(*names), cmp);
    for (i = 0; i < count; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        replay(path);
        free(names[i]);
    }
    free(names);
}

int
main(int argc, char **argv)
{
    struct stat st;
    int i;

    alarm(60);
    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            replay_dir(argv[i]);
        else
            replay(argv[i]);
    }
    printf("1..%d\n", n);
    return 0;
}

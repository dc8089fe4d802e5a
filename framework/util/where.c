/* SPDX-License-Identifier: MIT */
/*
 * Where this program runs from: its build tree, or an installed copy.
 *
 * No path of the build is compiled in (an installed file must not hold
 * one: two builds from different folders install the same bytes, and an
 * installed program must not look in a folder that does not exist on the
 * machine it runs on).  Instead, the executable is asked where it is.  A
 * program linked against the uninstalled libmproc runs as BUILDDIR/.libs/
 * NAME (started by libtool's wrapper script BUILDDIR/NAME), and the build
 * tree holds BUILDDIR/libmproc.la: both at once never happen once
 * installed, where programs live in $(bindir) and the .la in $(libdir).
 */
#include "internal.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char tree[PATH_MAX];
static pthread_once_t tree_once = PTHREAD_ONCE_INIT;

static void
find_tree(void)
{
    char exe[PATH_MAX], la[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n <= 0)
        return;
    exe[n] = '\0';
    /* BUILDDIR/.libs/NAME: cut "/NAME", then check and cut "/.libs". */
    if ((slash = strrchr(exe, '/')) == NULL)
        return;
    *slash = '\0';
    if ((slash = strrchr(exe, '/')) == NULL || strcmp(slash, "/.libs") != 0)
        return;
    *slash = '\0';
    if (snprintf(la, sizeof(la), "%s/libmproc.la", exe) >= (int)sizeof(la) ||
        access(la, F_OK) != 0)
        return;
    memcpy(tree, exe, strlen(exe) + 1);
}

const char *
mproc__build_tree(void)
{
    pthread_once(&tree_once, find_tree);
    return tree[0] != '\0' ? tree : NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * The "tiny static program" bench-process spawns as its raw reference.
 *
 * "bench-true server": the least a forkserver does, as bench-process's
 * reference for that start method: a small static image that, for each
 * byte read on descriptor 3, makes a child of its parent (clone with
 * CLONE_PARENT, as mproc's server does) that exits at once, and answers
 * with its pid.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    char c;

    if (argc < 2 || strcmp(argv[1], "server") != 0)
        return 0;
    while (read(3, &c, 1) == 1) {
        long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL,
                           0);
        int32_t p = (int32_t)pid;

        if (pid == 0)
            _exit(0);
        if (write(3, &p, sizeof(p)) != (ssize_t)sizeof(p))
            return 1;
    }
    return 0;
}

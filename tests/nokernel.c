/* SPDX-License-Identifier: MIT */
/*
 * nokernel: run a program as on a kernel without some system calls.
 *
 *   nokernel SYSCALL[,SYSCALL...] PROGRAM [ARG...]
 *
 * A seccomp filter (inherited by every child and kept across exec) makes
 * each named call fail with ENOSYS, as on a kernel too old for it.  Names:
 * memfd_create, pidfd_open, clone3, and "tmpfile" (open/openat with
 * O_TMPFILE fails with EOPNOTSUPP, as on a file system without it).
 * Exit 77 (skip) where seccomp filters cannot be installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAXF 64

static struct sock_filter prog[MAXF];
static unsigned short len;

static void
add(struct sock_filter f)
{
    if (len == MAXF) {
        fprintf(stderr, "nokernel: too many calls\n");
        exit(2);
    }
    prog[len++] = f;
}

/* Reload the call number, then: that call → ENOSYS. */
static void
refuse(long nr)
{
    add((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                     offsetof(struct seccomp_data, nr)));
    add((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                     (unsigned)nr, 0, 1));
    add((struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                     SECCOMP_RET_ERRNO | ENOSYS));
}

/* open(path, flags) / openat(dir, path, flags) with O_TMPFILE →
 * EOPNOTSUPP.  The flags are argument `arg` (its low 32 bits). */
static void
no_tmpfile(long nr, int arg)
{
    add((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                     offsetof(struct seccomp_data, nr)));
    add((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                     (unsigned)nr, 0, 3));
    add((struct sock_filter)BPF_STMT(
        BPF_LD | BPF_W | BPF_ABS,
        offsetof(struct seccomp_data, args) + (unsigned)arg * 8));
    /* The kernel's own O_TMPFILE bit: glibc's __O_TMPFILE adds
     * O_DIRECTORY, which every opendir() has. */
    add((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K,
                                     020000000, 0, 1));
    add((struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                     SECCOMP_RET_ERRNO | EOPNOTSUPP));
}

int
main(int argc, char **argv)
{
    struct sock_fprog fp;
    char *names, *tok, *save = NULL;

    if (argc < 3) {
        fprintf(stderr, "usage: nokernel SYSCALL[,...] PROGRAM [ARG...]\n");
        return 2;
    }
#if !defined(__x86_64__)
    fprintf(stderr, "nokernel: x86-64 only\n");
    return 77;
#else
    /* Another architecture's calls (x32, i386) pass: not ours to judge. */
    add((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                     offsetof(struct seccomp_data, arch)));
    add((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                     AUDIT_ARCH_X86_64, 1, 0));
    add((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    names = strdup(argv[1]);
    for (tok = strtok_r(names, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "memfd_create") == 0)
            refuse(SYS_memfd_create);
        else if (strcmp(tok, "pidfd_open") == 0)
            refuse(SYS_pidfd_open);
        else if (strcmp(tok, "clone3") == 0)
            refuse(SYS_clone3);
        else if (strcmp(tok, "tmpfile") == 0) {
            no_tmpfile(SYS_open, 1);
            no_tmpfile(SYS_openat, 2);
        } else {
            fprintf(stderr, "nokernel: unknown call %s\n", tok);
            return 2;
        }
    }
    free(names);
    add((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    fp.len = len;
    fp.filter = prog;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) != 0) {
        fprintf(stderr, "nokernel: cannot install a seccomp filter: %s\n",
                strerror(errno));
        return 77;
    }
    execvp(argv[2], argv + 2);
    fprintf(stderr, "nokernel: %s: %s\n", argv[2], strerror(errno));
    return 127;
#endif
}

/* SPDX-License-Identifier: MIT */
/*
 * Backtraces, the worker's side (see crash_int.h).
 *
 * Why it is safe after a crash.  Everything the handler needs exists
 * before the crash: the record in shared memory (the claims memfd,
 * mapped since the worker started), the list of loaded objects (taken
 * with dl_iterate_phdr() at arm time, not in the handler), and an
 * alternate signal stack (mapped at arm time), so a stack overflow can
 * still be reported.  The handler calls only libunwind's local unwinder,
 * which libunwind documents as signal-safe (libunwind(3), "Thread- and
 * Signal-Safety": unw_init_local*, unw_step, unw_get_reg), on the
 * ucontext the kernel gave it (unw_init_local2 with
 * UNW_INIT_SIGNAL_FRAME: the first frame is the faulting instruction
 * itself), and stores plain integers: no malloc, no stdio, no locks.
 * Then it restores the default action and raises the signal again, so
 * the worker still ends by that signal (the host sees the same wait
 * status, and a core dump, if enabled, is still made).
 *
 * Why libunwind here and libdw in the host: libunwind's local unwinder
 * is built for this (fast, async-signal-safe, walks through the signal
 * frame); symbolising needs ELF and DWARF parsing and memory, which has
 * no place in a crashed process, and libdw (elfutils) gives file:line
 * where libunwind gives only function names.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "pool/crash_int.h"

static struct mproc__crash *rec;

static const int fatal_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

/* Unwind from the signal's context into b; signal-safe (see the top). */
static void
capture(struct mproc__bt *b, int sig, void *uc)
{
    unw_cursor_t cur;
    unw_word_t ip;
    uint32_t n = 0;
    uint32_t s = atomic_load_explicit(&b->seq, memory_order_relaxed);

    atomic_store_explicit(&b->seq, s | 1u, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    b->sig = sig;
    b->index = atomic_load_explicit(&rec->running, memory_order_relaxed);
    if (unw_init_local2(&cur, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) ==
        0) {
        do {
            if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0)
                break;
            b->ip[n++] = (uint64_t)ip;
        } while (n < MPROC__BT_FRAMES && unw_step(&cur) > 0);
    }
    b->nip = n;
    /* Release: the host's acquire load of seq sees the frames. */
    atomic_store_explicit(&b->seq, (s | 1u) + 1, memory_order_release);
}

static void
on_fatal(int sig, siginfo_t *si, void *uc)
{
    struct sigaction dfl;

    (void)si;
    capture(&rec->fatal, sig, uc);
    /* The default action again, then the same signal: the worker ends by
     * it.  SA_NODEFER: it is not blocked here, so it arrives at once. */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

static void
on_ask(int sig, siginfo_t *si, void *uc)
{
    int e = errno;

    (void)si;
    capture(&rec->slow, sig, uc);
    errno = e;
}

static int
add_module(struct dl_phdr_info *info, size_t size, void *data)
{
    struct mproc__crash *c = data;
    struct mproc__bt_mod *m;
    uint64_t lo = UINT64_MAX, hi = 0;
    const char *name = info->dlpi_name;
    char self[PATH_MAX]; /* realpath() writes up to PATH_MAX bytes */
    size_t len;
    int k;

    (void)size;
    if (c->nmod >= MPROC__BT_MODS)
        return 1;
    for (k = 0; k < info->dlpi_phnum; k++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[k];
        if (ph->p_type != PT_LOAD)
            continue;
        if (info->dlpi_addr + ph->p_vaddr < lo)
            lo = info->dlpi_addr + ph->p_vaddr;
        if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
            hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
    }
    if (name == NULL || name[0] == '\0') {
        /* The program itself. */
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
            return 0;
        self[n] = '\0';
        name = self;
    }
    if (hi == 0)
        return 0;
    m = &c->mod[c->nmod];
    m->bias = info->dlpi_addr;
    m->lo = lo;
    m->hi = hi;
    /* An absolute path: the host may run in another folder.  The vDSO
     * ("linux-vdso.so.1") has no file; kept, by name. */
    if (name[0] != '/' && realpath(name, self) != NULL)
        name = self;
    /* Cut to the record's size (a path past it is only a label then). */
    len = strlen(name);
    if (len >= sizeof(m->path))
        len = sizeof(m->path) - 1;
    memcpy(m->path, name, len);
    m->path[len] = '\0';
    c->nmod++;
    return 0;
}

void
mproc__crash_arm(struct mproc__crash *c)
{
    struct sigaction sa;
    stack_t ss, old;
    size_t k;
    const char *off = getenv("MPROC_BACKTRACE");

    /* MPROC_BACKTRACE=0: none (a baseline for bench/bench-debug.sh, and
     * a way out for a plugin that wants these signals untouched). */
    if (c == NULL || (off != NULL && strcmp(off, "0") == 0))
        return;
    rec = c;
    c->nmod = 0;
    dl_iterate_phdr(add_module, c);
    /* An alternate stack, unless the plugin set its own: a crash by
     * stack overflow has no stack left to run a handler on. */
    if (sigaltstack(NULL, &old) == 0 && (old.ss_flags & SS_DISABLE)) {
        size_t len = 64 << 10;
        void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
            ss.ss_sp = m;
            ss.ss_size = len;
            ss.ss_flags = 0;
            if (sigaltstack(&ss, NULL) < 0)
                munmap(m, len);
        }
    }
    /* libunwind sets up its global state on first use: done now, outside
     * any handler.  (Not a whole unwind: its address checks would give
     * valgrind a false alarm in every worker.) */
    {
        unw_context_t uc;
        unw_cursor_t cur;
        if (unw_getcontext(&uc) == 0)
            unw_init_local(&cur, &uc);
    }
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    for (k = 0; k < sizeof(fatal_sigs) / sizeof(fatal_sigs[0]); k++) {
        struct sigaction cur;
        /* A plugin that handles one of these itself keeps it. */
        if (sigaction(fatal_sigs[k], NULL, &cur) == 0 &&
            !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL)
            sigaction(fatal_sigs[k], &sa, NULL);
    }
    sa.sa_sigaction = on_ask;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigaction(MPROC__BT_SIGNAL, &sa, NULL);
    atomic_store_explicit(&c->magic, MPROC__CRASH_MAGIC, memory_order_release);
}

void
mproc__crash_running(uint64_t running)
{
    if (rec != NULL)
        atomic_store_explicit(&rec->running, running, memory_order_relaxed);
}

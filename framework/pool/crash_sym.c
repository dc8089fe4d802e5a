/* SPDX-License-Identifier: MIT */
/*
 * Backtraces, the host's side: raw addresses to function+offset and
 * file:line, with elfutils' libdw (see crash.c for why it is split so).
 * Runs in the host, a healthy process, only when a trace is shown: a run
 * in which nothing crashes or is slow never opens an ELF file.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <elfutils/libdwfl.h>

#include "pool/crash_int.h"

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

static void
put(char *out, size_t len, size_t *at, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*at + 1 >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(out + *at, len - *at, fmt, ap);
    va_end(ap);
    if (n > 0)
        *at = *at + (size_t)n < len ? *at + (size_t)n : len - 1;
}

/* The loaded object holding pc, from the worker's list. */
static const struct mproc__bt_mod *
module_of(const struct mproc__crash *c, uint64_t pc)
{
    uint32_t k, n = c->nmod < MPROC__BT_MODS ? c->nmod : MPROC__BT_MODS;

    for (k = 0; k < n; k++)
        if (pc >= c->mod[k].lo && pc < c->mod[k].hi)
            return &c->mod[k];
    return NULL;
}

int
mproc__crash_format(const struct mproc__crash *c, const struct mproc__bt *b,
                    char *out, size_t len)
{
    struct mproc__bt copy;
    Dwfl *dwfl;
    uint32_t s, i, n;
    size_t at = strlen(out);

    if (atomic_load_explicit(&c->magic, memory_order_acquire) !=
        MPROC__CRASH_MAGIC)
        return 0;
    /* Acquire: pairs with the release store that ended the write. */
    s = atomic_load_explicit(&b->seq, memory_order_acquire);
    if (s == 0 || (s & 1u))
        return 0;
    memcpy(&copy, (const void *)b, sizeof(copy));
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&b->seq, memory_order_relaxed) != s)
        return 0;
    n = copy.nip < MPROC__BT_FRAMES ? copy.nip : MPROC__BT_FRAMES;
    dwfl = dwfl_begin(&callbacks);
    if (dwfl != NULL) {
        uint32_t k, nm = c->nmod < MPROC__BT_MODS ? c->nmod : MPROC__BT_MODS;
        dwfl_report_begin(dwfl);
        for (k = 0; k < nm; k++)
            if (c->mod[k].path[0] == '/')
                dwfl_report_elf(dwfl, c->mod[k].path, c->mod[k].path, -1,
                                c->mod[k].bias, false);
        dwfl_report_end(dwfl, NULL, NULL);
    }
    for (i = 0; i < n; i++) {
        /* Past the first frame an address is where a call returns to:
         * the call itself is the byte before. */
        uint64_t pc = copy.ip[i] - (i > 0);
        const struct mproc__bt_mod *m = module_of(c, pc);
        const char *obj = m != NULL ? strrchr(m->path, '/') : NULL;
        Dwfl_Module *dm = dwfl != NULL ? dwfl_addrmodule(dwfl, pc) : NULL;
        const char *fn = NULL, *file = NULL;
        GElf_Off off = 0;
        GElf_Sym sym;
        int line = 0;

        if (dm != NULL) {
            Dwfl_Line *l = dwfl_module_getsrc(dm, pc);
            fn = dwfl_module_addrinfo(dm, pc, &off, &sym, NULL, NULL, NULL);
            if (l != NULL)
                file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
        }
        obj = obj != NULL ? obj + 1 : m != NULL ? m->path : "?";
        put(out, len, &at, "\n  #%u ", i);
        if (fn != NULL)
            put(out, len, &at, "%s+0x%llx", fn,
                (unsigned long long)(off + (i > 0)));
        else
            put(out, len, &at, "0x%llx",
                (unsigned long long)(m != NULL ? copy.ip[i] - m->bias
                                               : copy.ip[i]));
        if (file != NULL && line > 0)
            put(out, len, &at, " (%s:%d)", file, line);
        put(out, len, &at, " [%s]", obj);
    }
    if (dwfl != NULL)
        dwfl_end(dwfl);
    return (int)n;
}

void
mproc__crash_describe(const struct mproc__crash *c, int wstatus, char *msg,
                      size_t len)
{
    int sig;

    if (c == NULL || !WIFSIGNALED(wstatus))
        return;
    sig = WTERMSIG(wstatus);
    if (sig != SIGSEGV && sig != SIGBUS && sig != SIGFPE && sig != SIGILL &&
        sig != SIGABRT)
        return;
    if (c->fatal.sig != sig)
        return; /* the handler did not run: nothing of this death */
    mproc__crash_format(c, &c->fatal, msg, len);
}

void
mproc__crash_reset(struct mproc__crash *c)
{
    if (c != NULL)
        memset((void *)c, 0, sizeof(*c));
}

bool
mproc__crash_is_running(const struct mproc__crash *c, uint64_t index)
{
    return atomic_load_explicit(&c->magic, memory_order_acquire) ==
               MPROC__CRASH_MAGIC &&
           atomic_load_explicit(&c->running, memory_order_relaxed) ==
               index + 1;
}

uint32_t
mproc__crash_ask(struct mproc__crash *c, pid_t pid)
{
    uint32_t seq = atomic_load_explicit(&c->slow.seq, memory_order_acquire);

    /* The worker's main thread, which runs the task (a process-directed
     * signal may go to any thread of a plugin's), and not its group: a
     * command it runs has no such handler. */
    if (syscall(SYS_tgkill, pid, pid, MPROC__BT_SIGNAL) < 0)
        kill(pid, MPROC__BT_SIGNAL);
    return seq;
}

bool
mproc__crash_answered(const struct mproc__crash *c, uint32_t seq0)
{
    uint32_t s = atomic_load_explicit(&c->slow.seq, memory_order_acquire);

    return s != seq0 && !(s & 1u);
}

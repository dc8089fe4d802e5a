/* SPDX-License-Identifier: MIT */
/*
 * Backtraces, the host's side: raw addresses to function+offset and
 * file:line, with elfutils' libdw (see crash.c for why it is split so).
 * Runs in the host, a healthy process, only when a trace is shown: a run
 * in which nothing crashes or is slow never opens an ELF file.
 *
 * libdw is opened with dlopen() then, not linked: linked, it and the four
 * libraries it needs (libelf, libz, libbz2, liblzma: 25 mappings) were in
 * every process that uses libmproc, the forkserver and every worker
 * image included, and the kernel copies each mapping at every fork
 * (issue 13.4: a fork from the forkserver cost 1.5x as much with them).
 * Without libdw (not installed) traces show raw addresses.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <elfutils/libdwfl.h>

#include "pool/crash_int.h"

/* libdw's functions that we use, found on first need (see above). */
static struct {
    Dwfl *(*begin)(const Dwfl_Callbacks *);
    void (*report_begin)(Dwfl *);
    Dwfl_Module *(*report_elf)(Dwfl *, const char *, const char *, int,
                               GElf_Addr, bool);
    int (*report_end)(Dwfl *, int (*)(Dwfl_Module *, void *, const char *,
                                      Dwarf_Addr, void *),
                      void *);
    Dwfl_Module *(*addrmodule)(Dwfl *, Dwarf_Addr);
    Dwfl_Line *(*module_getsrc)(Dwfl_Module *, Dwarf_Addr);
    const char *(*module_addrinfo)(Dwfl_Module *, GElf_Addr, GElf_Off *,
                                   GElf_Sym *, GElf_Word *, Elf **,
                                   Dwarf_Addr *);
    const char *(*lineinfo)(Dwfl_Line *, Dwarf_Addr *, int *, int *, int *,
                            const char **);
    void (*end)(Dwfl *);
} dw;
static Dwfl_Callbacks callbacks;
static bool dw_ok;
static pthread_once_t dw_once = PTHREAD_ONCE_INIT;

#define DW_SYM(h, field, name) \
    (*(void **)&dw.field = dlsym(h, name)) != NULL

static void
dw_open(void)
{
    void *h = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);

    if (h == NULL)
        return;
    if (DW_SYM(h, begin, "dwfl_begin") &&
        DW_SYM(h, report_begin, "dwfl_report_begin") &&
        DW_SYM(h, report_elf, "dwfl_report_elf") &&
        DW_SYM(h, report_end, "dwfl_report_end") &&
        DW_SYM(h, addrmodule, "dwfl_addrmodule") &&
        DW_SYM(h, module_getsrc, "dwfl_module_getsrc") &&
        DW_SYM(h, module_addrinfo, "dwfl_module_addrinfo") &&
        DW_SYM(h, lineinfo, "dwfl_lineinfo") &&
        DW_SYM(h, end, "dwfl_end") &&
        (*(void **)&callbacks.find_elf =
             dlsym(h, "dwfl_linux_proc_find_elf")) != NULL &&
        (*(void **)&callbacks.find_debuginfo =
             dlsym(h, "dwfl_standard_find_debuginfo")) != NULL &&
        (*(void **)&callbacks.section_address =
             dlsym(h, "dwfl_offline_section_address")) != NULL) {
        dw_ok = true;
        return; /* kept open for the process's life */
    }
    dlclose(h);
}

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
    pthread_once(&dw_once, dw_open);
    dwfl = dw_ok ? dw.begin(&callbacks) : NULL;
    if (dwfl != NULL) {
        uint32_t k, nm = c->nmod < MPROC__BT_MODS ? c->nmod : MPROC__BT_MODS;
        dw.report_begin(dwfl);
        for (k = 0; k < nm; k++)
            if (c->mod[k].path[0] == '/')
                dw.report_elf(dwfl, c->mod[k].path, c->mod[k].path, -1,
                              c->mod[k].bias, false);
        dw.report_end(dwfl, NULL, NULL);
    }
    for (i = 0; i < n; i++) {
        /* Past the first frame an address is where a call returns to:
         * the call itself is the byte before. */
        uint64_t pc = copy.ip[i] - (i > 0);
        const struct mproc__bt_mod *m = module_of(c, pc);
        const char *obj = m != NULL ? strrchr(m->path, '/') : NULL;
        Dwfl_Module *dm = dwfl != NULL ? dw.addrmodule(dwfl, pc) : NULL;
        const char *fn = NULL, *file = NULL;
        GElf_Off off = 0;
        GElf_Sym sym;
        int line = 0;

        if (dm != NULL) {
            Dwfl_Line *l = dw.module_getsrc(dm, pc);
            fn = dw.module_addrinfo(dm, pc, &off, &sym, NULL, NULL, NULL);
            if (l != NULL)
                file = dw.lineinfo(l, NULL, &line, NULL, NULL, NULL);
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
        dw.end(dwfl);
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

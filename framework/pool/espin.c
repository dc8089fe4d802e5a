/* SPDX-License-Identifier: MIT */
/*
 * The engine's spin before it sleeps (issue 13.3).
 *
 * A Pool API apply is four hand-offs: caller to result thread, result
 * thread to worker, worker to result thread, result thread to caller.
 * Each one that sleeps and is woken costs ~10 us on a VM (an IPI and a
 * context switch), the raw two-process pipe round trip ~20 us.  The
 * workers already spin on their shared-memory ring before sleeping
 * (shmring.c) and the caller on its result (api.c, spin_ready); this is
 * the third party: before the event loop sleeps in poll(), it looks at
 * its workers' rings and at the input's hint word for a while, memory
 * only (looking at a pipe is a system call, so only rings are spun on).
 *
 * The budget adapts as the channels' spins do: it doubles when spinning
 * paid off and halves when it did not, down to none, then one short try
 * every ESPIN_PROBE sleeps finds out whether it pays again; so a pool
 * whose tasks take milliseconds, or whose workers outnumber the CPUs,
 * soon stops taking the CPU its workers need.
 */
#include "internal.h"

#include <sched.h>

#include "ipc/chan_int.h"
#include "pool/pool_int.h"
#include "sync/sync_int.h"

#define ESPIN_START_NS 20000L
#define ESPIN_MAX_NS 50000L
#define ESPIN_MIN_NS 2000L
#define ESPIN_PROBE 64u

void
mproc__espin_init(struct mproc__espin *s)
{
    s->budget_ns = mproc__ncpu() > 1 ? ESPIN_START_NS : 0;
    s->idle = 0;
}

static bool
looked(struct mproc_chan *const *chans, unsigned n,
       const _Atomic uint32_t *hint, uint32_t hint0, int *which)
{
    unsigned i;

    for (i = 0; i < n; i++)
        if (mproc__chan_spin_readable(chans[i]) > 0) {
            *which = (int)i;
            return true;
        }
    if (hint != NULL &&
        atomic_load_explicit(hint, memory_order_acquire) != hint0) {
        *which = -1;
        return true;
    }
    return false;
}

bool
mproc__espin(struct mproc__espin *s, struct mproc_chan *const *chans,
             unsigned n, const _Atomic uint32_t *hint, uint32_t hint0,
             int *which)
{
    long long start;
    unsigned i;

    if (n == 0 && hint == NULL)
        return false;
    if (s->budget_ns == 0) {
        if (mproc__ncpu() < 2 || ++s->idle < ESPIN_PROBE)
            return false;
        s->idle = 0;
        s->budget_ns = ESPIN_START_NS;
    }
    start = mproc__now_ns();
    for (i = 1;; i++) {
        if (looked(chans, n, hint, hint0, which)) {
            s->budget_ns = s->budget_ns * 2 > ESPIN_MAX_NS ? ESPIN_MAX_NS
                                                           : s->budget_ns * 2;
            return true;
        }
        mproc__spin_pause(i);
        if ((i & 15) == 0 && mproc__now_ns() - start > s->budget_ns)
            break;
    }
    s->budget_ns /= 2;
    if (s->budget_ns < ESPIN_MIN_NS)
        s->budget_ns = 0;
    return false;
}

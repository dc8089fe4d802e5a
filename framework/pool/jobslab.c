/* SPDX-License-Identifier: MIT */
/*
 * The memory of apply jobs (api_int.h: APPLY_INLINE), in slabs of the
 * pool's own.
 *
 * A burst of apply_async() calls makes as many jobs as there are calls,
 * and frees them all when their results are taken.  From malloc(), every
 * burst grew the heap again, and each new page cost a fault and the
 * kernel's zeroing; glibc gave the pages back at the end of the burst.
 * Measured with 100,000 calls per burst, that was a quarter of the
 * caller's time, and recycling all the jobs instead of 32,768 doubled
 * apply_async's rate.  So the jobs live in slabs that stay mapped:
 *
 *   - a slab is SLAB_BYTES of anonymous memory cut into equal slots;
 *   - the slabs with a free slot are on a list (`part`), new jobs are
 *     taken from its head: a freed slot, else the next never-used one;
 *   - a slab whose last job is freed leaves the list for the `empty`
 *     one and is marked MADV_FREE: the kernel takes its pages back only
 *     when memory runs short, and until then reusing them costs nothing
 *     (not even a fault).  The head of `part` stays, so that apply()
 *     after apply() does not make a system call each;
 *   - empty slabs beyond EMPTY_KEEP are unmapped.
 *
 * The slot lists live in the slabs, the slab headers on the heap: a
 * page the kernel took back reads as zeros, and is only read again after
 * its slab was reset.  Under mu, as every job's life is.  Under
 * AddressSanitizer, plain calloc() and free(), so that a job used after
 * its free is still caught.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pool/api_int.h"

#define SLAB_BYTES ((size_t)256 << 10)
#define EMPTY_KEEP 1024 /* 256 MiB of address space, given back lazily */

#if defined(__SANITIZE_ADDRESS__)
#define SLABS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLABS 0
#endif
#endif
#ifndef SLABS
#define SLABS 1
#endif

struct mproc__jobslab {
    struct mproc__jobslab *prev, *next; /* on part or empty */
    bool on_part;
    char *mem;
    size_t used;  /* jobs taken and not freed */
    size_t fresh; /* slots never used since the last reset */
    struct mproc_async *free; /* freed slots, linked by qnext */
};

static size_t
slot_size(void)
{
    size_t s = sizeof(struct mproc_async) + APPLY_INLINE;

    return (s + 15) & ~(size_t)15;
}

static size_t
nslots(void)
{
    return SLAB_BYTES / slot_size();
}

static void
unlink_slab(struct mproc__jobslab **head, struct mproc__jobslab *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        *head = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

static void
push_slab(struct mproc__jobslab **head, struct mproc__jobslab *s)
{
    s->prev = NULL;
    s->next = *head;
    if (*head != NULL)
        (*head)->prev = s;
    *head = s;
}

/* A slab for new jobs: an empty one kept, else a new mapping. */
static struct mproc__jobslab *
slab_new(struct mproc_apool *p)
{
    struct mproc__jobslab *s = p->slab_empty;

    if (s != NULL) {
        unlink_slab(&p->slab_empty, s);
        p->slab_nempty--;
    } else {
        void *m = mmap(NULL, SLAB_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (m == MAP_FAILED)
            return NULL;
        if ((s = calloc(1, sizeof(*s))) == NULL) {
            munmap(m, SLAB_BYTES);
            return NULL;
        }
        s->mem = m;
    }
    s->used = 0;
    s->fresh = 0;
    s->free = NULL;
    s->on_part = true;
    push_slab(&p->slab_part, s);
    return s;
}

struct mproc_async *
mproc__jobslab_get(struct mproc_apool *p)
{
    struct mproc__jobslab *s;
    struct mproc_async *j;

    if (!SLABS)
        return calloc(1, slot_size());
    s = p->slab_part;
    if (s == NULL && (s = slab_new(p)) == NULL)
        return NULL;
    if (s->free != NULL) {
        j = s->free;
        s->free = j->qnext;
    } else {
        j = (struct mproc_async *)(s->mem + s->fresh * slot_size());
        s->fresh++;
    }
    if (++s->used == nslots()) {
        unlink_slab(&p->slab_part, s); /* full */
        s->on_part = false;
    }
    memset(j, 0, sizeof(*j));
    j->slab = s;
    return j;
}

void
mproc__jobslab_put(struct mproc_apool *p, struct mproc_async *j)
{
    struct mproc__jobslab *s = j->slab;

    if (!SLABS) {
        free(j);
        return;
    }
    j->qnext = s->free;
    s->free = j;
    if (!s->on_part) {
        s->on_part = true;
        push_slab(&p->slab_part, s);
    }
    if (--s->used > 0 || p->slab_part == s)
        return;
    unlink_slab(&p->slab_part, s);
    s->on_part = false;
    if (p->slab_nempty >= EMPTY_KEEP) {
        munmap(s->mem, SLAB_BYTES);
        free(s);
        return;
    }
    /* Reset before the kernel may zero it: no list points into it. */
    s->free = NULL;
    s->fresh = 0;
    (void)madvise(s->mem, SLAB_BYTES, MADV_FREE);
    push_slab(&p->slab_empty, s);
    p->slab_nempty++;
}

void
mproc__jobslab_free_all(struct mproc_apool *p)
{
    struct mproc__jobslab **lists[2] = {&p->slab_part, &p->slab_empty};
    size_t i;

    /* Every job is freed by now (the pool outlives its jobs). */
    for (i = 0; i < 2; i++)
        while (*lists[i] != NULL) {
            struct mproc__jobslab *s = *lists[i];

            unlink_slab(lists[i], s);
            munmap(s->mem, SLAB_BYTES);
            free(s);
        }
    p->slab_nempty = 0;
}

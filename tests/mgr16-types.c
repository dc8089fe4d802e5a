/* SPDX-License-Identifier: MIT */
/*
 * Custom manager types for `mproc manager --types` (tests/mgr16-*.sh): a
 * token bucket without refill, "ratelimit", created with its token count
 * as text; "take" succeeds while tokens remain, then says MPROC_EAGAIN.
 */
#include <stdlib.h>
#include <string.h>

#include <mproc/manager.h>

static int
rl_create(void **state, const void *arg, size_t len)
{
    long *tokens = malloc(sizeof(*tokens));
    char buf[16];

    if (tokens == NULL || len == 0 || len >= sizeof(buf)) {
        free(tokens);
        return MPROC_EINVAL;
    }
    memcpy(buf, arg, len);
    buf[len] = '\0';
    *tokens = atol(buf);
    *state = tokens;
    return 0;
}

static int
rl_take(void *state, const void *arg, size_t len, struct mproc_buf *out)
{
    long *tokens = state;

    (void)arg;
    (void)len;
    if (*tokens <= 0)
        return mproc_buf_append(out, "no tokens left", 14), MPROC_EAGAIN;
    (*tokens)--;
    return 0;
}

static const struct mproc_mmethod rl_methods[] = {
    {"take", rl_take},
    {NULL, NULL},
};

static const struct mproc_mtype rl_type = {"ratelimit", rl_create, free,
                                           rl_methods};

const struct mproc_mtype *const mproc_manager_types_v1[] = {&rl_type, NULL};

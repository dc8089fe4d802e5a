/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the job-file parser (framework/config), from the bytes
 * of a file to the typed job, as `mproc run` and `mproc check` load it.
 * Any input gives 0 or an error with a message, never a crash or a leak.
 */
#include "internal.h"

#include <stdint.h>
#include <string.h>

#include "config/config_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct mproc__decl *decls;
    const struct mproc_kv *args;
    mproc_config_t *cfg;
    mproc_err_t err;

    memset(&err, 0, sizeof(err));
    if (mproc_config_new(&cfg, &err) < 0)
        return 0;
    if (mproc__config_load_mem(cfg, "fuzz/job.ini", data, size, &err) == 0 &&
        mproc_config_finish(cfg, &err) == 0) {
        (void)mproc__config_job(cfg);
        (void)mproc__config_decls(cfg, &decls);
        (void)mproc_config_args(cfg, &args);
        (void)mproc_config_get(cfg, "job", "plugin");
        (void)mproc_config_where(cfg, "pool", "workers");
    }
    /* Every message is a C string that fits its buffer. */
    if (strnlen(err.msg, sizeof(err.msg)) == sizeof(err.msg))
        __builtin_trap();
    mproc_config_free(cfg);
    return 0;
}

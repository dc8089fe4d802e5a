/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the job log reader of --resume (framework/cli/
 * joblog.c).  Whatever the bytes, reading them is an error message or a
 * set of done items, never a crash, a leak or a read out of bounds
 * (issue 10.4).  The lookups a resumed run makes are exercised too.
 */
#include "internal.h"

#include <stdint.h>
#include <stdio.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* joblog.c reports through the host's cli_error(): be quiet here. */
void
cli_error(const char *fmt, ...)
{
    (void)fmt;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cli_joblog *j;
    FILE *f;
    uint64_t i;

    if (size == 0)
        return 0; /* fmemopen() wants at least a byte */
    if ((j = cli_joblog_new("fuzz.log")) == NULL)
        return 0;
    f = fmemopen((void *)data, size, "r");
    if (f != NULL) {
        if (cli_joblog_read(j, f) == 0) {
            for (i = 0; i < 4; i++) {
                cli_joblog_skip(j, i, "a", 1);
                (void)cli_joblog_input_index(j, i);
                (void)cli_joblog_ndone_from(j, i);
            }
            (void)cli_joblog_ndone(j);
        }
        fclose(f);
    }
    cli_joblog_close(j);
    return 0;
}

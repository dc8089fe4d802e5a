/* SPDX-License-Identifier: MIT */
/* The library's version string, from configure.ac's AC_INIT. */
#include "internal.h"

#include <mproc/mproc.h>

const char *
mproc_version(void)
{
    return PACKAGE_VERSION;
}

/* SPDX-License-Identifier: MIT */
/*
 * mproc: multiprocessing for C.  This header includes the whole public API.
 */
#ifndef MPROC_MPROC_H
#define MPROC_MPROC_H

#include "error.h"
#include "plugin.h"
#include "config.h"
#include "pool.h"
#include "sync.h"
#include "shared.h"
#include "queue.h"
#include "pipe.h"
#include "connection.h"
#include "process.h"
#include "log.h"
#include "shared_memory.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The library's version as "MAJOR.MINOR.PATCH" (static string). */
MPROC_API const char *mproc_version(void);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_MPROC_H */

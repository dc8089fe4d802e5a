#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/e2e-limits.sh on the shmring IPC backend.
MPROC_TEST_IPC=shmring; export MPROC_TEST_IPC
exec sh "${MPROC_SRCDIR:-.}/tests/e2e-limits.sh"

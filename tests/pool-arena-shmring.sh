#!/bin/sh
# SPDX-License-Identifier: MIT
# The Pool API result storage tests (tests/test-pool-arena.c) on the
# shmring IPC backend.
MPROC_TEST_IPC=shmring; export MPROC_TEST_IPC
exec "${MPROC_BUILDDIR:?run the tests with make check}/tests/test-pool-arena"

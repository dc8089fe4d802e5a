#!/bin/sh
# SPDX-License-Identifier: MIT
# The Pool API regression tests (tests/test-pool-api-fixes.c) on the mq
# IPC backend.
MPROC_TEST_IPC=mq; export MPROC_TEST_IPC
exec "${MPROC_BUILDDIR:?run the tests with make check}/tests/test-pool-api-fixes"

#!/bin/sh
# SPDX-License-Identifier: MIT
# The pool tests (tests/test-pool.c) on the mq IPC backend.
MPROC_TEST_IPC=mq; export MPROC_TEST_IPC
exec "${MPROC_BUILDDIR:?run the tests with make check}/tests/test-pool"

#!/bin/sh
# SPDX-License-Identifier: MIT
# Processes under the forkserver start method (tests/test-process.c).
exec "${MPROC_BUILDDIR:?run the tests with make check}/tests/test-process" forkserver

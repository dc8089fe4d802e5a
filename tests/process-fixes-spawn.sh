#!/bin/sh
# SPDX-License-Identifier: MIT
# Fork, thread and signal safety of Processes under the spawn start method
# (tests/test-process-fixes.c).
exec "${MPROC_BUILDDIR:?run the tests with make check}/tests/test-process-fixes" spawn

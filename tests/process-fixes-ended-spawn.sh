#!/bin/sh
# SPDX-License-Identifier: MIT
# How a Process ended, under the spawn start method
# (tests/process-fixes-ended.c).
exec "${MPROC_BUILDDIR:?run the tests with make check}/tests/process-fixes-ended" spawn

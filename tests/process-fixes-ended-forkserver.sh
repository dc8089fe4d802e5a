#!/bin/sh
# SPDX-License-Identifier: MIT
# How a Process ended, under the forkserver start method
# (tests/process-fixes-ended.c).
# Under ASan (CI's sanitizer run sets ASAN_OPTIONS) a fault is ASan's to
# report, and the process then exits with status 1: the crash cases want
# the signal itself, so ASan leaves SIGSEGV alone here.
if [ -n "${ASAN_OPTIONS:-}" ]; then
    ASAN_OPTIONS=$ASAN_OPTIONS:handle_segv=0
    export ASAN_OPTIONS
fi
exec "${MPROC_BUILDDIR:?run the tests with make check}/tests/process-fixes-ended" forkserver

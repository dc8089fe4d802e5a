#!/bin/sh
# SPDX-License-Identifier: MIT
# The tutorial's get_context("spawn") + Queue example, in C
# (conf/examples/spawn-queue.c): it prints "hello", as Python's does,
# and leaves nothing behind.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

build=${MPROC_BUILDDIR:?}
MPROC_PLUGIN_PATH=$build/conf/examples/.libs
export MPROC_PLUGIN_PATH
out=$(timeout -k 5 60 "$build/conf/examples/spawn-queue" 2>"$tmp/err")
is "$?" 0 "spawn-queue exits 0"
is "$out" "hello" "spawn-queue prints hello"
is "$(cat "$tmp/err")" "" "... and nothing on stderr"

done_testing

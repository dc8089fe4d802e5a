#!/bin/sh
# SPDX-License-Identifier: MIT
# A plugin written in C++ with MPROC_PLUGIN_DEFINE loads and runs (issue
# 11.9); built only where configure found a C++ compiler.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

plugin=${MPROC_TEST_PLUGINS:?}/cxx.so
[ -f "$plugin" ] || { echo "1..0 # SKIP no C++ compiler (tests/cxx.so not built)"; exit 0; }
cat >"$tmp/cxx.ini" <<INI
[job]
plugin = $plugin
input = lines:items.txt
INI
printf 'abc\nHello, world\n' >"$tmp/items.txt"
run_mproc run "$tmp/cxx.ini"
is "$st" 0 "a C++ plugin: the run succeeds"
like "$err" "" "a C++ plugin: no message"
is "$(cat "$tmp/out")" "$(printf 'ABC\nHELLO, WORLD')" "a C++ plugin: its task ran"
run_mproc plugins --path "${MPROC_TEST_PLUGINS}"
like "$(cat "$tmp/out")" "cxx" "mproc plugins lists the C++ plugin"
done_testing

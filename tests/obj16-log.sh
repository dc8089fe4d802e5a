#!/bin/sh
# SPDX-License-Identifier: MIT
# MPROC_DEBUG=1: `mproc run` prints a pool worker's death and its
# replacement on stderr, one line with the pid (issue 16.7).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'ok\nexit:3\nok\n' >"$tmp/items"
printf '[job]\nplugin = fault\ninput = lines:%s\non_error = continue\n[pool]\nworkers = 1\n' \
    "$tmp/items" >"$tmp/job.ini"
export MPROC_DEBUG=1
run_mproc run "$tmp/job.ini"
unset MPROC_DEBUG
like "$(cat "$tmp/err")" "[WARNING/MainProcess " "a warning line, with the name"
like "$(cat "$tmp/err")" "pool: worker " "... about a pool worker"
like "$(cat "$tmp/err")" "exited with status 3" "... its death"
# The replacement: a worker that starts after the death.
sed -n '/exited with status 3/,$p' "$tmp/err" | grep -q '^\[INFO/MainProcess [0-9]*\] pool: worker [0-9]* started$'
ok $? "... and its replacement's start"
grep -q 'WARNING.*exited with status 0' "$tmp/err"
ok $((! $?)) "a worker that ends normally is no warning"
run_mproc run "$tmp/job.ini"
unlike "$(cat "$tmp/err")" "pool: worker" "without MPROC_DEBUG: nothing"

done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# A worker that cannot be started or replaced (issue 10.8; a test hook
# fails starts as a spent RLIMIT_MSGQUEUE does with ipc = mq) does not end
# a run whose other workers live: mproc says so once and goes on; with no
# worker at all the run ends with a clear error, never hangs.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

i=0
while [ $i -lt 100 ]; do echo "i$i"; i=$((i + 1)); done >"$tmp/items.txt"
printf '[job]\nplugin = echo\ninput = lines:items.txt\n[pool]\nworkers = 3\n' \
    >"$tmp/echo.ini"

for ipc in pipe mq shmring; do
    MPROC_TEST_HOOK_START_FAIL=2 run_mproc run "$tmp/echo.ini" \
        --set pool.ipc=$ipc
    is "$st" 0 "$ipc: one of 3 workers cannot start: exit 0"
    is "$(wc -l <"$tmp/out")" 100 "$ipc: every item done"
    is "$(grep -c 'warning:' "$tmp/err")" 1 "$ipc: said once"
    like "$err" "going on with 2 of 3 workers" "$ipc: how many work"
    like "$err" "Too many open files" "$ipc: and why"

    MPROC_TEST_HOOK_START_FAIL=2:4 run_mproc run "$tmp/echo.ini" \
        --set pool.ipc=$ipc --set pool.max_tasks_per_child=10 --workers 2
    is "$st" 0 "$ipc: replacements fail 4 times, then start: exit 0"
    is "$(wc -l <"$tmp/out")" 100 "$ipc: every item done"

    MPROC_TEST_HOOK_START_FAIL=0 run_mproc run "$tmp/echo.ini" \
        --set pool.ipc=$ipc
    ok $([ "$st" -ne 0 ] && [ "$st" -ne 124 ]; echo $?) \
        "$ipc: no worker can start: the run fails ($st), no hang"
    like "$err" "Too many open files" "$ipc: saying why"
done

no_leftovers
done_testing

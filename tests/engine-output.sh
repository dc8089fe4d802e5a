#!/bin/sh
# SPDX-License-Identifier: MIT
# What a plugin prints is never lost (issue 10.2): a worker's stdout and
# stderr both go to mproc's stderr, and every line a task wrote is there
# when stderr is a file or a pipe, with workers recycled after each task,
# and when other items of the same worker crash or time out; under every
# start method.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

plugin=${MPROC_TEST_PLUGINS:?}/engine.so
i=0
while [ $i -lt 30 ]; do echo "i$i"; i=$((i + 1)); done >"$tmp/items.txt"
printf '[job]\nplugin = %s\ntask = print\ninput = lines:items.txt\n[pool]\nworkers = 2\n' \
    "$plugin" >"$tmp/print.ini"
{ echo i0; echo i1; echo crash; echo i2; echo i3; echo hang; echo i4; } \
    >"$tmp/mixed.txt"
sed 's/items.txt/mixed.txt/' "$tmp/print.ini" >"$tmp/mixed.ini"

# count WHAT FILE: how many items have their WHAT line in FILE.
count() {
    grep -o "$1 i[0-9]*" "$2" | sort -u | wc -l
}
check() {  # check FILE LABEL
    is "$(count out "$1")" 30 "$2: every stdout line"
    is "$(count err "$1")" 30 "$2: every stderr line"
    is "$(count tail "$1")" 30 "$2: every last line without its newline"
}

for sm in fork spawn forkserver; do
    set -- --set pool.start_method=$sm \
        ${MPROC_TEST_IPC:+--set pool.ipc=$MPROC_TEST_IPC}
    timeout -k 5 60 "$bin" run "$tmp/print.ini" "$@" \
        --set pool.max_tasks_per_child=1 >"$tmp/out" 2>"$tmp/err"
    is "$?" 0 "$sm, recycled after each task, stderr a file: exit 0"
    check "$tmp/err" "$sm, stderr a file"
    is "$(grep -c '^i' "$tmp/out")" 30 "$sm: the run's output holds the results"
    unlike "$(cat "$tmp/out")" "out i" "$sm: and no line a plugin printed"

    { timeout -k 5 60 "$bin" run "$tmp/print.ini" "$@" \
        --set pool.max_tasks_per_child=1 2>&1 >"$tmp/out"; } | cat >"$tmp/err"
    check "$tmp/err" "$sm, stderr a pipe"

    # Other items of the same worker crash or hang (ended by the time
    # limit): what the items before them printed is kept.
    timeout -k 5 60 "$bin" run "$tmp/mixed.ini" "$@" --workers 1 \
        --set job.timeout=1 --set job.timeout_grace=0.2 \
        >"$tmp/out" 2>"$tmp/err"
    is "$?" 1 "$sm, a crash and a hang: exit 1"
    is "$(count out "$tmp/err")" 5 "$sm, a crash and a hang: every stdout line"
    is "$(count tail "$tmp/err")" 5 "$sm, a crash and a hang: every last line"
    like "$(cat "$tmp/err")" "out crash" "$sm: the crashing item's whole lines"
done

no_leftovers
done_testing

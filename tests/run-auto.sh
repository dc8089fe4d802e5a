#!/bin/sh
# SPDX-License-Identifier: MIT
# chunksize = auto, the default (issue 13.2): `mproc check` shows the
# chunk a run uses (Python's items / (4 x workers), 64 at most, when the
# input's size is known; adapted from task times when not), a bad value
# names the file and line, and runs with auto give every result, in
# order, exactly as chunksize 1 does.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf '[job]\nplugin = echo\ninput = range:1..100\n[pool]\nworkers = 2\n' \
    >"$tmp/auto.ini"
run_mproc check "$tmp/auto.ini"
is "$st" 0 "check: valid"
like "$(cat "$tmp/out")" \
    "job.chunksize = auto    (12: 100 items / (4 x 2 workers), 64 at most)" \
    "check: auto from a known size"
run_mproc check "$tmp/auto.ini" --set job.input=range:1..100000
like "$(cat "$tmp/out")" "job.chunksize = auto    (64: 100000 items" \
    "check: at most 64"
seq 1 10 >"$tmp/lines.txt"
run_mproc check "$tmp/auto.ini" --set "job.input=lines:$tmp/lines.txt"
like "$(cat "$tmp/out")" "job.chunksize = auto    (input size unknown" \
    "check: adapted when the size is unknown"
run_mproc check "$tmp/auto.ini" --set job.chunksize=5
like "$(cat "$tmp/out")" "job.chunksize = 5    # --set" "check: a number"

printf '[job]\nplugin = echo\nchunksize = lots\n' >"$tmp/bad.ini"
run_mproc check "$tmp/bad.ini"
is "$st" 78 "chunksize = lots: a config error"
like "$err" "bad.ini:3: chunksize: expected a positive integer or 'auto', got 'lots'" \
    "chunksize = lots: file, line and what was expected"

# Runs: the same output with auto as with chunksize 1, for a known size
# (range) and an unknown one (lines: the chunk grows as tasks are tiny).
seq 1 20000 >"$tmp/lines.txt"
for input in range:1..20000 "lines:$tmp/lines.txt"; do
    for ipc in pipe shmring; do
        run_mproc run "$tmp/auto.ini" --set "job.input=$input" \
            --set pool.ipc=$ipc
        is "$st" 0 "$ipc, $input: auto: exit 0"
        cmp -s "$tmp/out" "$tmp/lines.txt"
        ok $? "$ipc, $input: auto: every result, in order"
    done
done
run_mproc run "$tmp/auto.ini" --set "job.input=lines:$tmp/lines.txt" \
    --set job.ordered=false
sort -n "$tmp/out" | cmp -s - "$tmp/lines.txt"
ok $? "unordered, auto: every result once"

no_leftovers
done_testing

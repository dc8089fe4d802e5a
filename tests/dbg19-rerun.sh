#!/bin/sh
# SPDX-License-Identifier: MIT
# Issue 19.5: mproc rerun LOG INDEX [--gdb | --valgrind | --strace |
# -- CMD]: one logged item again, alone, in the job's setting, under a
# tool; from a quarantine file, a job file or a job log.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'ok\nsegv\nhello\n' >"$tmp/items.txt"
cat >"$tmp/q.ini" <<INI
[job]
plugin = fault
input = lines:$tmp/items.txt
retries = 1
INI
run_mproc run "$tmp/q.ini" --workers 2 --quarantine "$tmp/q.txt" \
    --joblog "$tmp/log"
is "$st" 1 "the run: the segv item quarantined"

if command -v gdb >/dev/null 2>&1; then
    run_mproc rerun "$tmp/q.txt" 1 --gdb -batch -ex run -ex bt
    out=$(cat "$tmp/out")
    like "$err" "mproc: rerun: item 1 of $tmp/q.ini under gdb" "it says what runs"
    like "$out" "SIGSEGV" "gdb sees the crash"
    like "$out" "#0  " "gdb prints the backtrace"
    like "$out" "fault_run" "in the fault plugin's task"
else
    for i in 1 2 3 4; do ok 0 "# SKIP gdb not installed"; done
fi

# Without a tool, and under any command: the item runs as in the job.
run_mproc rerun "$tmp/q.ini" 2
is "$st" 0 "a job file and INDEX: the item runs"
is "$(cat "$tmp/out")" "hello" "its output"
run_mproc rerun "$tmp/q.ini" 2 -- sh -c 'echo wrapped; exec "$@"' sh
is "$(cat "$tmp/out")" "wrapped
hello" "-- CMD: the run under CMD"
run_mproc rerun "$tmp/log" 1 --job "$tmp/q.ini" -- env MPROC_X=1
like "$err" 'item 0 "segv": worker ' "a job log with --job: the item crashes again"
is "$st" 1 "and the status says so"
if command -v strace >/dev/null 2>&1; then
    run_mproc rerun "$tmp/q.txt" 1 --strace -e trace=none
    like "$err" "+++ killed by SIGSEGV" "--strace: strace follows the worker"
else
    ok 0 "# SKIP strace not installed"
fi

# Errors a user can hit.
run_mproc rerun "$tmp/q.txt" x
is "$st" 64 "INDEX not a number: usage error"
like "$err" "INDEX: expected an item's index" "said so"
run_mproc rerun "$tmp/q.txt"
is "$st" 64 "no INDEX: usage error"
like "$err" "expected LOG and INDEX" "said so"
run_mproc rerun "$tmp/q.txt" 7
is "$st" 66 "INDEX not in the log"
like "$err" "$tmp/q.txt: no item 7 there" "said so"
run_mproc rerun "$tmp/missing.txt" 1
is "$st" 66 "a missing log"
like "$err" "$tmp/missing.txt" "it is named"
run_mproc rerun "$tmp/q.txt" 1 --lldb
is "$st" 64 "an unknown tool: usage error"
like "$err" "unknown option '--lldb' (the tools are --gdb" "the tools are listed"
run_mproc rerun "$tmp/log" 1
is "$st" 64 "a job log without --job"
like "$err" "is a job log: give the job with --job JOB.ini" "said so"
run_mproc rerun "$tmp/q.txt" 1 -- "$tmp/no-such-tool"
is "$st" 127 "a tool that cannot run: 127"
like "$err" "cannot run $tmp/no-such-tool" "said so"
mv "$tmp/q.ini" "$tmp/moved.ini"
run_mproc rerun "$tmp/q.txt" 1
is "$st" 66 "the job file is gone"
like "$err" "$tmp/q.ini: the job file of item 1" "said so"
no_leftovers
done_testing

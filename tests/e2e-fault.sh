#!/bin/sh
# SPDX-License-Identifier: MIT
# Faults: every failing item is reported with its index and text and the
# cause, every other item is done, the run ends (never hangs) with exit 1,
# and no process is left.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf '[job]\nplugin = fault\ninput = lines:items.txt\n' >"$tmp/fault.ini"

{
    i=0
    while [ $i -lt 200 ]; do
        case $i in
        17) echo segv ;;
        42) echo "fail:bad input" ;;
        77) echo "exit:3" ;;
        123) echo abort ;;
        *) echo "item$i" ;;
        esac
        i=$((i + 1))
    done
} >"$tmp/items.txt"
grep -v -e segv -e fail: -e exit: -e abort "$tmp/items.txt" >"$tmp/want"

for w in 1 3; do
    run_mproc run "$tmp/fault.ini" --workers $w --set job.chunksize=4
    is "$st" 1 "workers=$w: exit 1"
    like "$err" "item 17 \"segv\": worker " "workers=$w: segv item named"
    like "$err" "killed by SIGSEGV" "workers=$w: with the signal"
    like "$err" "item 42 \"fail:bad input\": bad input" "workers=$w: failure message"
    like "$err" "item 77 \"exit:3\": worker" "workers=$w: exit item named"
    like "$err" "exited with status 3" "workers=$w: with the status"
    like "$err" "item 123 \"abort\": worker" "workers=$w: abort item named"
    like "$err" "killed by SIGABRT" "workers=$w: with SIGABRT"
    like "$err" "4 of 200 items failed" "workers=$w: a summary line"
    cmp -s "$tmp/out" "$tmp/want"
    ok $? "workers=$w: all 196 other items done, in order"
done

# A worker killed from outside mid-run.  The run lasts about 5 s, long
# enough to find a worker even on a loaded machine.
{
    i=0
    while [ $i -lt 200 ]; do echo "sleep:50"; i=$((i + 1)); done
} >"$tmp/items.txt"
timeout -k 5 60 "$bin" run "$tmp/fault.ini" --workers 2 ${MPROC_TEST_IPC:+--set pool.ipc=$MPROC_TEST_IPC} >"$tmp/out" 2>"$tmp/err" &
host=$!
victim=
n=0
while [ -z "$victim" ] && [ $n -lt 100 ]; do
    sleep 0.1
    victim=$(children "$(children $host | head -n 1)" | head -n 1)
    n=$((n + 1))
done
[ -n "$victim" ]
ok $? "found a worker to kill"
kill -KILL "$victim" 2>/dev/null
wait $host
st=$?
err=$(cat "$tmp/err")
is "$st" 1 "SIGKILLed worker: exit 1"
like "$err" "killed by SIGKILL" "the lost item is named with the signal"
is "$(grep -c '^slept 50$' "$tmp/out")" 199 "every other item done"

# on_error = abort stops at the first failure.
{
    echo ok; echo "fail:first"
    i=0
    while [ $i -lt 50 ]; do echo "sleep:20"; i=$((i + 1)); done
} >"$tmp/items.txt"
run_mproc run "$tmp/fault.ini" --workers 1 --set job.on_error=abort
is "$st" 1 "on_error = abort: exit 1"
like "$err" "item 1 \"fail:first\": first" "the failure is named"
like "$err" "run aborted after the first failure" "the abort is said"
[ "$(grep -c slept "$tmp/out")" -lt 50 ]
ok $? "not every item ran"

# A hang in one item does not hang the others forever... not in this issue:
# hang needs the time limit of the complete Pool.  An init that fails:
printf '[job]\nplugin = fault\ninput = lines:items.txt\n[args]\ninit = fail\n' >"$tmp/if.ini"
run_mproc run "$tmp/if.ini"
is "$st" 78 "init = fail: exit 78"
like "$err" "init failed on purpose" "init's message"
printf '[job]\nplugin = fault\ninput = lines:items.txt\n[args]\ninit = crash\n' >"$tmp/ic.ini"
run_mproc run "$tmp/ic.ini"
is "$st" 78 "init = crash: exit 78, no endless respawn"
like "$err" "SIGABRT" "names the signal"

# A reason built from the item (fault's fail:, a command's stderr) is
# escaped as the item is: an input cannot send the terminal escape
# sequences (retitle it, clear it).
printf 'fail:\033]0;PWN\007x\033[2J\n' >"$tmp/esc.txt"
printf '[job]\nplugin = fault\ninput = lines:esc.txt\n' >"$tmp/esc.ini"
run_mproc run "$tmp/esc.ini"
is "$st" 1 "an item with escape sequences fails: exit 1"
is "$(sed -n 1p "$tmp/err")" 'mproc: item 0 "fail:\x1b]0;PWN\x07x\x1b[2J": \x1b]0;PWN\x07x\x1b[2J' \
    "the reason's control bytes are written as \\xHH too"
is "$(tr -d '\n\t -~' <"$tmp/err" | wc -c | tr -d ' ')" 0 \
    "nothing on stderr but printable bytes, newlines and tabs"

no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec --halt (issue 15, ops15): once the condition holds no job
# starts, not even one already handed to a worker (the pool sends each
# worker more than one); those are not run: not said as failures, not in
# the job log (a --resume runs them), not counted in the exit status.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"
TMPDIR=$tmp
export TMPDIR
cd "$tmp" || exit 1

run_mproc exec -j1 --joblog "$tmp/log" --halt soon,fail=1 \
    'touch ran.{}; exit {}' ::: 0 3 10 11 12 13 14 15
is "$st" 3 "soon,fail=1: the failing job's status"
is "$(ls ran.* | tr '\n' ' ')" "ran.0 ran.3 " "no job started after the failure"
is "$(tail -n +2 "$tmp/log" | cut -f5,6 | tr '\t\n' ' |')" "ok 0|failed 3|" \
    "the job log has the two that ran"
unlike "$err" "not run" "the jobs not run are not said as failures"
rm -f ran.*

# Two workers: each holds jobs beyond the one it runs.
run_mproc exec -j2 --halt soon,fail=1 \
    'touch ran.{}; [ {} = 1 ] && exit 5; sleep 0.2' ::: 1 2 3 4 5 6 7 8 9
is "$st" 5 "-j2: the failing job's status"
n=$(ls ran.* | wc -l)
ok "$([ "$n" -le 2 ]; echo $?)" "-j2: only the jobs already running ran ($n)"
rm -f ran.*

# With retries only the host knows a job's last attempt: it still stops
# the run at the failure, and the job log shows both attempts.
run_mproc exec -j1 --retries 2 --joblog "$tmp/rlog" --halt soon,fail=1 \
    'touch ran.{}; exit {}' ::: 0 3 10 11 12 13 14 15
is "$st" 3 "with --retries: the failing job's status"
is "$(tail -n +2 "$tmp/rlog" | head -n 2 | cut -f5,7 | tr '\t\n' ' |')" \
    "ok 1|failed 2|" "with --retries: the failed job was tried twice"
ok "$([ ! -e ran.15 ]; echo $?)" \
    "with --retries: the run stops (jobs queued then may still start)"
rm -f ran.*

# parallel's --retries N runs a job N times in all.
for n in 1 3; do
    rm -f "$tmp/cnt"
    run_mproc exec --retries $n "echo t >> $tmp/cnt; exit 4" ::: a
    is "$(wc -l < "$tmp/cnt" | tr -d ' ')" $n "--retries $n: $n runs, as parallel"
done

# success=N (soon): the jobs running finish, no more start.
run_mproc exec -j1 --halt soon,success=1 'touch ran.{}; exit {}' ::: 4 0 6 7
is "$st" 0 "soon,success=1: exit 0"
is "$(ls ran.* | tr '\n' ' ')" "ran.0 ran.4 " "nothing after the success"
rm -f ran.*

# now: the running job is stopped, the rest never start.
run_mproc exec -j2 --halt now,fail=1 \
    'touch ran.{}; [ {} = 1 ] && exit 6; sleep 20' ::: 2 1 3 4 5 6
is "$st" 6 "now,fail=1: the failing job's status"
# Item 0 (sleep 20) is before the failing item 1 in the output order: it
# is stopped when item 1 fails, not waited for until its turn.  Item 1
# fails in a few milliseconds: in about one run in 150 its worker is done
# before item 0's has started its task, and item 0 then did not run,
# which is what is said (no message of its own).  Its command's touch
# shows it ran.
stopped0='item 0 "touch ran.2; [ 2 = 1 ] && exit 6; sleep 20": stopped with the run while it ran: command killed by SIGTERM'
case $err in
*"$stopped0"*) ok 0 "now: the job running before the failing one in order is stopped" ;;
*'item 0 '*) ok 1 "now: the job running before the failing one in order is stopped"
    echo "#   got: $err" ;;
*) ok "$([ ! -e ran.2 ]; echo $?)" \
    "now: item 0 did not start before item 1 failed: not run, not named" ;;
esac
like "$err" 'item 1 "touch ran.1; [ 1 = 1 ] && exit 6; sleep 20": failed, after an item the stop cut short: command exited with status 6' \
    "now: the failing job is still named"
ok "$([ ! -e ran.3 ] && [ ! -e ran.6 ]; echo $?)" "now: no job after"
no_leftovers "now: no command left running"

ls -d "$tmp"/mproc-exec.* > /dev/null 2>&1
ok "$([ $? -ne 0 ]; echo $?)" "no run folder left"

# The same behaviour as parallel's (-j1: a fixed order).
if parallel --version 2>/dev/null | grep -q "GNU parallel"; then
    mkdir -p "$tmp/home/.parallel" && touch "$tmp/home/.parallel/will-cite"
    HOME=$tmp/home timeout 60 parallel -j1 --halt soon,fail=1 \
        'echo {}; exit {}' ::: 0 2 0 0 > p.out 2>/dev/null
    pst=$?
    run_mproc exec -j1 --halt soon,fail=1 'echo {}; exit {}' ::: 0 2 0 0
    is "$(cat "$tmp/out")" "$(cat p.out)" "as parallel: the output"
    is "$st" "$pst" "as parallel: the exit status"
else
    ok 0 "# SKIP GNU parallel is not installed"
    ok 0 "# SKIP GNU parallel is not installed"
fi

done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec --halt and --delay (issue 15.2), as GNU parallel's.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# now,fail=1: the first failure stops the run and kills what runs.
run_mproc exec -j 2 --halt now,fail=1 \
    "[ {} = 0 ] && sleep 30 && touch $tmp/slept; exit {}" ::: 7 0
is "$st" 7 "now,fail=1: exit status of the failing job (7)"
like "$err" "--halt: 1 job failed; stopping the running ones" "says why"
ok "$([ ! -e "$tmp/slept" ]; echo $?)" "the running job was stopped"
no_leftovers "now: no command left running"

# soon,fail=1: no new job, the running ones finish.
run_mproc exec -j 1 --halt soon,fail=1 "echo {}; exit {}" ::: 0 4 0 0 0 0
is "$st" 4 "soon,fail=1: the failing job's status"
like "$err" "starting no more jobs" "says so"
# Not even a job already handed to the worker (tests/ops15-halt.sh).
is "$(tr '\n' ' ' < "$tmp/out")" "0 4 " "no job started after the failure"

run_mproc exec -j 1 --halt soon,fail=2 "exit {}" ::: 0 1 0 2 0 0
is "$st" 2 "soon,fail=2: stops at the second failure, its status"

# success=N: stop at the first success; exit 0.
run_mproc exec -j 1 --halt now,success=1 "echo {}; exit {}" ::: 3 0 5
is "$st" 0 "now,success=1: exit 0"
is "$(tr '\n' ' ' < "$tmp/out")" "3 0 " \
    "the jobs after the success did not run (a failed job's output shows)"

# fail=P%: of the jobs; the exit status is then the percentage of the
# jobs that failed, rounded up (as GNU parallel 20221122 says).
run_mproc exec -j 1 --halt soon,fail=30% "exit {}" ::: 1 1 0 0 0 0 0 0 0 0
is "$st" 20 "fail=30%: 2 of the 10 jobs is under it: no halt, 20 (%) failed"
unlike "$err" "--halt" "and no halt"
run_mproc exec -j 1 --halt soon,fail=20% "exit {}" ::: 1 1 0 0 0 0 0 0 0 0
is "$st" 20 "fail=20%: 2 of 10 reaches it: halt, 20 (%)"
like "$err" "--halt: 2 jobs failed" "says so"
run_mproc exec -j 1 --halt soon,fail=30% "exit {}" ::: 0 2 0 3 0 0
is "$st" 34 "fail=30%: 2 of 6 reaches it: 34 (33.3 rounded up)"

# fail=N>1: the number of failed jobs; fail=1: the job's own status,
# 128 + N for a command killed by signal N.
run_mproc exec -j 1 --halt now,fail=2 "exit {}" ::: 0 5 7 9
is "$st" 2 "fail=2: the number of failed jobs, not the job's status"
run_mproc exec -j 1 --halt now,fail=1 'kill -9 $$' ::: 1 2
is "$st" 137 "fail=1, the job killed by SIGKILL: 137"
run_mproc exec -j 1 --halt soon,fail=1 'kill -15 $$' ::: 1 2
is "$st" 143 "fail=1, soon, the job killed by SIGTERM: 143"

# parallel's older forms.
run_mproc exec -j 1 --halt 2 "exit {}" ::: 0 6 0
is "$st" 6 "--halt 2 is now,fail=1"
run_mproc exec -j 1 --halt never "exit {}" ::: 0 6 0
is "$st" 1 "--halt never: every job runs"

# --delay: jobs start that far apart (the start times are logged).
run_mproc exec -j 2 --delay 0.3 --joblog "$tmp/log" true ::: a b c
is "$st" 0 "--delay 0.3: exit 0"
gaps=$(awk -F'\t' '$1 ~ /^[0-9]+$/ { print $3 }' "$tmp/log" | sort -n |
       awk 'NR > 1 { if ($1 - p < 0.25) bad = 1 } { p = $1 } END { print bad + 0 }')
is "$gaps" 0 "--delay 0.3: no two jobs started within 0.25 s"

# The status after fail=1 is the job that met the rule first in time
# (the worker saw it end first), not the first in input order; jobs kept
# from starting by --halt now are not said, also behind a job it cut.
run_mproc exec -j2 --halt soon,fail=1 'sleep 0.{}; exit {}' ::: 5 1 0 0 0
is "$st" 1 "soon,fail=1 with -j2: the status of the job that failed first"
run_mproc exec -j2 --halt now,fail=1 'sleep 0.{}; exit {}' ::: 5 1 2 3 4 6 7
is "$st" 1 "now,fail=1 with -j2: the status of the job that failed first"
unlike "$err" "not run: --halt" "now: the jobs it kept from starting are not said"

no_leftovers
done_testing

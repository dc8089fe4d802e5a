#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec (issue 15.1): one-line runs, items from ::: or stdin, job-file
# keys as options, and each usage error a user can make.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

run_mproc exec echo ::: a b 'c d'
is "$st" 0 "exec echo ::: a b 'c d': exit 0"
is "$(cat "$tmp/out")" "a
b
c d" "one command per item, the item appended, in input order"

printf 'x\ny z\n' > "$tmp/in"
timeout 60 "$bin" exec echo item: < "$tmp/in" > "$tmp/out" 2> "$tmp/err"
is "$?" 0 "items from stdin: exit 0"
is "$(cat "$tmp/out")" "item: x
item: y z" "without ::: the items are stdin's lines"

run_mproc exec -k -j 3 'echo {}' ::: 3 2 1
is "$(cat "$tmp/out")" "3
2
1" "-k and -j N are accepted; input order is kept"

# -j 0: as many jobs at once as there are (a worker holds 2 at most).
run_mproc exec -j 0 'sleep 0.2; echo {%}' ::: 1 2 3 4 5 6 7 8 9 10 11 12
is "$st" 0 "-j 0: exit 0"
n=$(sort -u "$tmp/out" | wc -l)
ok "$([ "$n" -ge 6 ]; echo $?)" "-j 0: 12 jobs ran in at least 6 slots ($n)"

# parallel's -v, -t, -P, -r, --will-cite.
run_mproc exec -v 'echo x {} | tr a-z A-Z' ::: a 'b c'
is "$(cat "$tmp/out")" "echo x a | tr a-z A-Z
X A
echo x 'b c' | tr a-z A-Z
X B C" "-v: each command printed before its output"
run_mproc exec --verbose -j 1 'exit {}' ::: 3
is "$st" 1 "--verbose: a failing command still fails"
is "$(cat "$tmp/out")" "exit 3" "--verbose: ... and its command was printed"
like "$err" 'item 0 "exit 3": command exited with status 3' \
    "--verbose: the failure names the command, not the printing"
run_mproc exec -t -j 1 echo ::: a b
is "$(cat "$tmp/out")" "a
b" "-t: stdout holds the outputs only"
like "$err" "echo a" "-t: the commands go to stderr"
like "$err" "echo b" "-t: every one"
run_mproc exec -P 2 --will-cite --no-notice -r 'echo {%}' ::: a b c d
is "$st" 0 "-P 2 --will-cite --no-notice -r: accepted"
is "$(sort -u "$tmp/out" | tr '\n' ' ')" "1 2 " "-P 2: two slots, as -j 2"
run_mproc exec --max-procs x echo ::: a
is "$st" 64 "--max-procs x: a usage error"
like "$err" "expected a number of jobs" "--max-procs x: saying what was expected"
printf '' | timeout 60 "$bin" exec -r echo no >"$tmp/out" 2>&1
is "$?:$(cat "$tmp/out")" "0:" "-r, and no input: nothing runs"

run_mproc exec --stats json echo ::: a b
like "$err" '"items": 2, "succeeded": 2, "failed": 0, "retried": 0, "not_run": 0' \
    "--stats json: once the items ran out, none is 'not run' and items is known"
printf 'a\nb\n' | timeout 60 "$bin" exec --stats text echo >/dev/null 2>"$tmp/err"
like "$(cat "$tmp/err")" "mproc: 2 items: 2 succeeded" "--stats text: the same from stdin"

# The item is data: quoted into the command, never run as code.
run_mproc exec echo ::: "'; touch $tmp/pwned; '" '$(touch x)' '*'
is "$st" 0 "hostile items: exit 0"
is "$(cat "$tmp/out")" "'; touch $tmp/pwned; '
\$(touch x)
*" "they reach the command as they are"
ok "$([ ! -e "$tmp/pwned" ] && [ ! -e x ]; echo $?)" "and nothing they say is run"

# Job-file keys: as options and with --set.
run_mproc exec --timeout 1 'sleep 30' ::: a
is "$st" 1 "--timeout 1: the item fails"
like "$err" "item 0" "the message names it"
run_mproc exec --set job.timeout=1 'sleep 30' ::: a
is "$st" 1 "--set job.timeout=1: the same"
run_mproc exec --workers 2 --set pool.ipc=mq echo ::: a
is "$(cat "$tmp/out")" "a" "--workers and --set pool.ipc=mq"
run_mproc exec --set job.retries=lots echo ::: a
is "$st" 78 "a bad --set value: exit 78"
like "$err" "retries" "names the key"
run_mproc exec --joblog "$tmp/log" echo ::: a b
is "$(grep -c "	ok	" "$tmp/log")" 2 "--joblog logs every job"

# Exit status as parallel's: the number of failed jobs.
run_mproc exec 'exit {}' ::: 0 1 2 0 3
is "$st" 3 "3 failed jobs: exit 3"
like "$err" "exited with status 2" "each failure is reported"
run_mproc exec 'exit 1' ::: $(seq 1 105)
is "$st" 101 "more than 100 failed: exit 101"

# No command: each input is one, as in parallel (stdin, :::, values of
# several sources by spaces); with stdin a terminal, a usage error.
printf 'echo a\necho b | tr b B\n' | timeout 60 "$bin" exec > "$tmp/out" 2>&1
is "$(cat "$tmp/out")" "a
B" "no command: stdin's lines are the commands"
run_mproc exec ::: 'echo hi' 'printf "%s\n" "x y"'
is "$(cat "$tmp/out")" "hi
x y" "no command: ::: values are the commands"
run_mproc exec ::: echo printf ::: 1 2
is "$(cat "$tmp/out")" "1
2
12" "no command: several sources joined by spaces"
if have_terminal; then
    script -qec "timeout 20 '$bin' exec" /dev/null < /dev/null > "$tmp/tty" 2>&1
    is "$?" 64 "no command, stdin a terminal: exit 64"
    like "$(cat "$tmp/tty")" "no command given" "and says why"
else
    ok 0 "# SKIP no terminal: script(1) or pseudo-terminals missing"
    ok 0 "# SKIP no terminal: script(1) or pseudo-terminals missing"
fi

# The shell, as parallel's: $PARALLEL_SHELL, else a Bourne-like $SHELL,
# else sh; the command sees no positional parameters of mproc's.
if [ -x /bin/bash ]; then
    SHELL=/bin/bash run_mproc exec echo ::: 'x\cy'
    is "$(cat "$tmp/out")" 'x\cy' "SHELL=/bin/bash: bash runs the commands"
    SHELL=/bin/bash run_mproc exec '[[ {} == a ]] && echo yes' ::: a
    is "$(cat "$tmp/out")" "yes" "SHELL=/bin/bash: bash's [[ ]] works"
else
    ok 0 "# SKIP bash is not installed"
    ok 0 "# SKIP bash is not installed"
fi
PARALLEL_SHELL=/bin/sh SHELL=/bin/bash run_mproc exec 'echo $0' ::: a
is "$(cat "$tmp/out")" "sh a" "PARALLEL_SHELL comes first"
SHELL=/usr/bin/fish run_mproc exec 'echo {} done' ::: a
is "$(cat "$tmp/out")" "a done" "a shell that is not sh-like: sh instead"
run_mproc exec 'echo {} ${1:-none} $#' ::: a
is "$(cat "$tmp/out")" "a none 0" "no positional parameters of mproc's"
run_mproc exec -v 'echo {} $# ${_mproc_c:-unset}' ::: b
is "$(cat "$tmp/out")" 'echo b $# ${_mproc_c:-unset}
b 0 unset' "-v: the same, and no variable of mproc's"

# --resume (and parallel's --resume-failed) with --joblog: the jobs the
# log has as done are skipped, the failed one runs again.
rm -f "$tmp/ok3"
cmd='echo {}; [ {} != 3 ] || [ -e '"$tmp"'/ok3 ]'
run_mproc exec --joblog "$tmp/jl" "$cmd" ::: 1 2 3 4
is "$st" 1 "--joblog: one job failed"
touch "$tmp/ok3"
run_mproc exec --joblog "$tmp/jl" --resume "$cmd" ::: 1 2 3 4
is "$st" 0 "--resume: succeeds"
is "$(cat "$tmp/out")" "3" "--resume: only the failed job ran again"
run_mproc exec --joblog "$tmp/jl" --resume-failed "$cmd" ::: 1 2 3 4
is "$(cat "$tmp/out")" "" "--resume-failed: nothing left to run"
run_mproc exec --resume echo ::: a
is "$st" 64 "--resume without --joblog: exit 64"
like "$err" "--resume needs --joblog FILE" "and says why"

# -j over the most a pool runs: that many, with a warning, as parallel
# does when it runs out of file handles.
run_mproc exec -j 5000 echo ::: a
is "$st" 0 "-j 5000: runs"
like "$err" "at most 4096 jobs run at a time" "-j 5000: and warns"

# --resume with --tag tags each job with its own arguments (it took the
# k-th input's); a command with {%} resumes (its mark is the same in every
# run) and a failure shows {%}, not the mark.
rm -f "$tmp/okc" "$tmp/tl"
cmd='echo {}; test {} != c || test -e '"$tmp"'/okc'
run_mproc exec --tag --joblog "$tmp/tl" "$cmd" ::: a b c
touch "$tmp/okc"
run_mproc exec --tag --joblog "$tmp/tl" --resume "$cmd" ::: a b c
is "$(cat "$tmp/out")" "c	c" "--resume --tag: the job's own tag"
rm -f "$tmp/okb" "$tmp/sl"
cmd='echo {%} {}; test {} != b || test -e '"$tmp"'/okb'
run_mproc exec -j1 --joblog "$tmp/sl" "$cmd" ::: a b
like "$err" 'item 1 "echo {%} b;' "{%}: a failure shows it as written"
touch "$tmp/okb"
run_mproc exec -j1 --joblog "$tmp/sl" --resume "$cmd" ::: a b
is "$st" 0 "{%}: the run resumes"
is "$(cat "$tmp/out")" "1 b" "{%}: the failed job alone ran again"

# parallel's variables for the job: its slot and mproc's pid; none of
# the variables mproc passes its workers.
run_mproc exec -j1 'echo $PARALLEL_JOBSLOT $PARALLEL_PID; env | grep -c "^MPROC_EXEC\|^MPROC_TIMEOUT"; : {}' ::: a
is "$(sed -n 1p "$tmp/out" | cut -d' ' -f1)" 1 "PARALLEL_JOBSLOT: the slot"
ok "$([ -n "$(sed -n 1p "$tmp/out" | cut -d' ' -f2)" ]; echo $?)" \
    "PARALLEL_PID: set"
is "$(sed -n 2p "$tmp/out")" 0 "no MPROC_EXEC_* variable reaches the job"

# Usage errors: the error, then one line pointing at --help.
usage() {  # usage DESCRIPTION EXPECTED-TEXT ARGS...
    d=$1; want=$2; shift 2
    run_mproc exec "$@"
    is "$st" 64 "$d: exit 64"
    like "$err" "$want" "$d: says what is wrong"
    like "$err" "Try 'mproc exec --help' for more information." \
        "$d: points at --help"
}
usage "unknown option" "unknown option '--frobnicate'" --frobnicate echo
usage ":::: with no file" ":::: with no file after it" echo ::::
usage "bad -j" "-j: expected a number of jobs" -j many echo ::: a
usage "-j without a value" "option -j needs a value" -j
usage "bad --halt" "--halt: expected now|soon" --halt sometimes echo ::: a
usage "bad --halt count" "--halt: expected" --halt now,fail=x echo ::: a
usage "bad --halt percent" "--halt: expected" --halt now,fail=200% echo ::: a
usage "bad --delay" "--delay: expected seconds" --delay soon echo ::: a
usage "--results with {}" "--results: a folder with replacement strings" \
    --results 'out/{}.txt' echo ::: a
usage "bad --colsep" "--colsep: not a regular expression" --colsep '(' \
    echo ::: a
usage "bad -n" "-n: expected a positive number" -X -n 0 echo ::: a
usage "bad -s" "-s: expected 1..131000 bytes" -X -s 999999 echo ::: a
usage "bad --stats" "--stats: expected text or json" --stats xml echo ::: a
usage "--timeout without a value" "needs a value" --timeout

# Options end at the command: what follows is the command's.
run_mproc exec echo --timeout -j ::: a
is "$(cat "$tmp/out")" "--timeout -j a" "options after the command are its own"

run_mproc exec echo :::: "$tmp/missing"
is "$st" 66 "a missing :::: file: exit 66"
like "$err" "$tmp/missing" "names it"

# Interrupted: the ::: lists have a size, so what did not run is counted
# (it said "unknown").
mkdir "$tmp/st"
"$bin" exec -j2 "touch $tmp/st/{}; sleep 30" ::: 1 2 3 4 5 6 7 8 \
    >"$tmp/out" 2>"$tmp/err" &
host=$!
n=0
while [ "$(ls "$tmp/st" | wc -l)" -lt 2 ] && [ $n -lt 100 ]; do
    sleep 0.1; n=$((n + 1))
done
kill -INT $host
wait $host
is "$?" 130 "interrupted: exit 130"
# The 2 running were cut short by the stop: not failed, not run.
like "$(cat "$tmp/err")" "0 items done, 0 failed, 8 not run" \
    "interrupted: the ::: items not run are counted"

no_leftovers
done_testing

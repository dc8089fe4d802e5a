#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec's output options (issue 15.2): grouped per job by default,
# --tag, --results DIR, --dry-run, --line-buffer.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# Grouped: a job's lines stay together even when jobs overlap.
run_mproc exec -j 3 'echo {}-1; sleep 0.{}; echo {}-2' ::: 3 1 2
is "$(cat "$tmp/out")" "3-1
3-2
1-1
1-2
2-1
2-2" "each job's output whole, in input order"

run_mproc exec --tag echo ::: a b ::: 1 2
is "$(cat "$tmp/out")" "a 1	a 1
a 2	a 2
b 1	b 1
b 2	b 2" "--tag: the job's arguments and a tab before each line"
run_mproc exec --tag 'echo one; echo two {}' ::: x
is "$(cat "$tmp/out")" "x	one
x	two x" "--tag: every line"

# --results DIR: parallel's layout, DIR/1/ITEM/{seq,stdout,stderr}, and
# the exit status.
run_mproc exec --results "$tmp/res" 'echo out {}; echo err {} >&2; exit {}' \
    ::: 0 3 a/b
is "$st" 2 "--results: exit status as usual (2 failed)"
is "$(cat "$tmp/out")" "" "--results: nothing on the output (it is in files)"
is "$(cd "$tmp/res" && find . -type f | sort | tr '\n' ' ')" \
    "./1/0/exitval ./1/0/seq ./1/0/stderr ./1/0/stdout ./1/3/exitval ./1/3/seq ./1/3/stderr ./1/3/stdout ./1/a\\_b/exitval ./1/a\\_b/seq ./1/a\\_b/stderr ./1/a\\_b/stdout " \
    "the files; a '/' in an item is written \\_ as parallel does"
is "$(cat "$tmp/res/1/3/stdout")" "out 3" "stdout"
is "$(cat "$tmp/res/1/3/stderr")" "err 3" "stderr, of a failed job too"
is "$(cat "$tmp/res/1/3/exitval")" "3" "exitval: the command's status"
is "$(cat "$tmp/res/1/0/exitval")" "0" "exitval 0"
is "$(cat "$tmp/res/1/3/seq")" "2" "seq: the job's number"
run_mproc exec --results "$tmp/res2" echo {1}{2} ::: x y ::: 1
is "$(cat "$tmp/res2/1/y/2/1/stdout")" "y1" \
    "several sources: DIR/1/A/2/B/stdout"

# --dry-run: the commands, nothing run.
run_mproc exec --dry-run touch "$tmp/{}" ::: f1 'f 2'
is "$st" 0 "--dry-run: exit 0"
is "$(cat "$tmp/out")" "touch $tmp/f1
touch $tmp/'f 2'" "--dry-run prints each command, arguments quoted"
ok "$([ ! -e "$tmp/f1" ]; echo $?)" "and runs none"
run_mproc exec --dry-run -X -j1 echo ::: a b c
is "$(cat "$tmp/out")" "echo a b c" "--dry-run -X: the command with its items"
run_mproc exec --tag --dry-run echo ::: a 'b c'
is "$(cat "$tmp/out")" "a	echo a
b c	echo 'b c'" "--tag --dry-run: the tag and a tab first, as parallel"
printf 'l1\nl2\n' | timeout 60 "$bin" exec --dry-run echo > "$tmp/out" 2>&1
is "$(cat "$tmp/out")" "echo l1
echo l2" "--dry-run with items from stdin"

# --line-buffer: each job's output as soon as it ends (no set order).
run_mproc exec -j 2 --line-buffer 'sleep {}; echo {}' ::: 1 0.1
is "$(cat "$tmp/out")" "0.1
1" "--line-buffer: the quick job first"

# The output's reader goes away (`| head -1`): mproc ends by SIGPIPE as
# a filter does, after removing its folders (they were left behind), and
# says nothing of the jobs the stop killed.
mkdir "$tmp/pipetmp"
for lb in "" --line-buffer; do
    ( TMPDIR="$tmp/pipetmp" "$bin" exec $lb -j2 'seq 1 {}' \
          ::: 1000000 1000000 1000000 2>"$tmp/perr"; echo $? >"$tmp/prc" ) |
        head -1 >"$tmp/pout"
    is "$(cat "$tmp/pout")" "1" "reader gone ${lb:-(grouped)}: its line came"
    is "$(cat "$tmp/prc")" 141 "reader gone ${lb:-(grouped)}: ended by SIGPIPE"
    is "$(cat "$tmp/perr")" "" "reader gone ${lb:-(grouped)}: nothing said"
    is "$(ls -A "$tmp/pipetmp")" "" \
        "reader gone ${lb:-(grouped)}: no folder left in TMPDIR"
done
is "$(matching 'seq 1 1000000')" "" "reader gone: no job left running"

# A job's stderr comes after its stdout in its turn, and for a failed
# job before the line that says it failed (2>&1 keeps the order); a
# retried job's stderr is its last attempt's.
mkdir "$tmp/errtmp"
TMPDIR="$tmp/errtmp" timeout -k 5 60 "$bin" exec -j2 \
    'sleep 0.{}; echo o{}; echo e{} >&2; exit {}' ::: 2 0 > "$tmp/both" 2>&1
is "$(sed 's/: command.*/:/' "$tmp/both")" "o2
e2
mproc: item 0 \"sleep 0.2; echo o2; echo e2 >&2; exit 2\":
o0
e0" "stderr after stdout, before the failure line, in input order"
is "$(ls -A "$tmp/errtmp")" "" "stderr after: no folder left in TMPDIR"
echo 0 > "$tmp/tries"
run_mproc exec --retries 3 'n=$(cat '"$tmp"'/tries); echo $((n+1)) > '"$tmp"'/tries; echo try$n >&2; [ $n -ge 1 ] && exit 0; exit 1' ::: x
is "$st" 0 "retried job: succeeded"
is "$err" "try1" "retried job: its last attempt's stderr alone"

# The same for a job file run by mproc run: [args] stderr = after.
f=$(job errafter.ini <<'EOF'
[job]
plugin = exec
input = range:1..3
[args]
stderr = after
command = echo out$1; echo err$1 >&2
EOF
)
timeout -k 5 60 "$bin" run "$f" > "$tmp/both" 2>&1
is "$(cat "$tmp/both")" "out1
err1
out2
err2
out3
err3" "mproc run, stderr = after: each item's stdout then stderr"
f=$(job errbad.ini <<'EOF'
[job]
plugin = exec
input = range:1..1
[args]
stderr = later
command = true
EOF
)
run_mproc run "$f"
like "$err" "stderr: expected show, tag, hide or after, got 'later'" \
    "stderr = later: refused, saying what it takes"

# A job past --timeout: what it wrote is written, as parallel does, also
# when it ignores SIGTERM (killed before the grace ends, not its worker).
run_mproc exec --timeout 1 'echo before{}; sleep 5; echo after' ::: a
is "$st" 1 "--timeout: the job fails"
is "$(cat "$tmp/out")" "beforea" "--timeout: its output so far is written"
like "$err" "timed out after 1s: command killed by SIGTERM" \
    "--timeout: and said"
run_mproc exec --timeout 1 'trap "" TERM; echo before{}; sleep 5; echo x' ::: b
is "$(cat "$tmp/out")" "beforeb" \
    "--timeout, SIGTERM ignored: its output so far is written"
like "$err" "command killed by SIGKILL" \
    "--timeout, SIGTERM ignored: the command killed, not its worker"
run_mproc exec --timeout 1 --set job.timeout_grace=3s \
    'trap "echo cleanup; exit 7" TERM; echo in{}; sleep 5 & wait' ::: c
is "$(cat "$tmp/out")" "inc
cleanup" "--timeout: a command's own SIGTERM handler runs, its output kept"
like "$err" "command exited with status 7" "and its status is said"

# A job is over when its command is, as in parallel: something it left
# running in the background, holding its stdout and stderr, is not waited
# for.
t0=$(date +%s)
bg=6.$$ # a sleep this test alone runs
run_mproc exec "sleep $bg & echo y{}" ::: a
t1=$(date +%s)
is "$(cat "$tmp/out")" "ya" "a background child: the job's output"
ok "$([ $((t1 - t0)) -lt 4 ]; echo $?)" "and not waited for ($((t1 - t0)) s)"
pkill -f "sleep $bg" 2>/dev/null

# A job's stderr without a final newline: mproc's own message about the
# job starts a line of its own (it was glued on), grouped or not.
"$bin" exec 'printf "no newline" >&2; exit 1; : {}' ::: i >/dev/null 2>"$tmp/err"
is "$(sed -n 2p "$tmp/err" | cut -c1-14)" 'mproc: item 0 ' "grouped: the failure on a line of its own"
is "$(sed -n 1p "$tmp/err")" "no newline" "after the job's bytes"
"$bin" exec --line-buffer --timeout 1s 'printf "partial {}" >&2; sleep 5' ::: a \
    >/dev/null 2>"$tmp/err"
is "$(sed -n 1p "$tmp/err")" "partial a" "--line-buffer: the job's last piece"
like "$(sed -n 2p "$tmp/err")" 'mproc: item 0 ' "--line-buffer: then the failure, on its own line"

no_leftovers
done_testing

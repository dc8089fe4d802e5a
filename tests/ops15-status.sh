#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec (issue 15, ops15): the command's exit status is a field of
# the result (job log exit column, --halt's status), not words read back;
# a failed command's stdout is written, in order, as parallel does; --tag
# tags a big output spilled to disk too.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# 1. The exit column holds the command's status, whatever the message.
run_mproc exec -j2 --joblog "$tmp/log" \
    'echo "exited with status 99" >&2; exit {}' ::: 0 3 200
is "$st" 2 "two of three failed: exit status 2"
is "$(cut -f5,6 "$tmp/log" | tail -n +2 | tr '\t\n' ' |')" \
    "ok 0|failed 3|failed 200|" "exit column: 0, 3, 200"
run_mproc exec --joblog "$tmp/log2" 'kill -{} $$' ::: TERM KILL
is "$(cut -f6 "$tmp/log2" | tail -n +2 | tr '\n' ' ')" "-15 -9 " \
    "a signal: minus its number"
# A message that says another status must not fool the column: the
# plugin's words are no longer parsed (stderr goes into the message).
run_mproc exec --joblog "$tmp/log3" \
    'echo "command exited with status 7" >&2; exit {}' ::: 4
is "$(cut -f6 "$tmp/log3" | tail -n 1)" 4 "the field, not the words"
# A time limit's SIGTERM: the command's -15, with status timeout.
run_mproc exec --set job.timeout=1 --joblog "$tmp/log4" 'sleep 30; : {}' ::: x
is "$(cut -f5,6 "$tmp/log4" | tail -n 1 | tr '\t' ' ')" "timeout -15" \
    "a time limit: timeout, -15"
# --halt reports the failing command's status.
run_mproc exec -j1 --halt now,fail=1 'exit {}' ::: 0 42 0
is "$st" 42 "--halt now,fail=1: the job's status (42)"

# 2. A failed job's stdout is written, in input order, grouped.
run_mproc exec -j3 'sleep 0.{}; echo out {}; echo more {}; exit {}' \
    ::: 3 0 2 1
is "$(tr '\n' '|' < "$tmp/out")" \
    "out 3|more 3|out 0|more 0|out 2|more 2|out 1|more 1|" \
    "failed jobs' output, in order, each whole"
is "$st" 3 "three failed"
like "$err" 'item 0 "sleep 0.3; echo out 3' "the failure is still said"
# Binary output of a failed command stays byte-exact.
run_mproc exec 'printf "a\000b"; exit 1' ::: x
is "$(od -An -c "$tmp/out" | tr -d ' ')" 'a\0b' "no byte added or lost"
# In a job file too (mproc run), with the plugin's raw output.
cat > "$tmp/job.ini" <<EOT
[job]
plugin = exec
input = range:0..2
[args]
command = echo "n\$1"; [ "\$1" != 1 ]
EOT
run_mproc run "$tmp/job.ini" -q
is "$(tr '\n' ' ' < "$tmp/out")" "n0 n1 n2 " "mproc run: failed item's stdout too"
is "$st" 1 "mproc run: exit 1"

# Big outputs (past message_max: spilled to a file until their turn).
TMPDIR=$tmp
export TMPDIR
run_mproc exec --set job.message_max=1024 'seq 3000; exit {}' ::: 0 5
is "$(wc -l < "$tmp/out" | tr -d ' ')" 6000 "a failed job's big output is written"
seq 3000 > "$tmp/want"
is "$(tail -n 3000 "$tmp/out" | cmp - "$tmp/want" && echo same)" same \
    "whole and in order"
run_mproc exec --tag --set job.message_max=1024 'seq 3000; : {}' ::: a b
is "$(grep -c '^a	' "$tmp/out")" 3000 "--tag: every line of a spilled output tagged"
is "$(grep -vc '^[ab]	' "$tmp/out")" 0 "no untagged line"
is "$(sed -n '3001p' "$tmp/out")" "b	1" "the second job's first line"
# A spilled output's pieces may end mid-line: the tag goes where lines
# start only.
run_mproc exec --tag --set job.message_max=1024 \
    'head -c 300000 /dev/zero | tr "\0" x; echo; echo end; : {}' ::: t
is "$(cut -c1-2 "$tmp/out" | tr '\n' ' ')" "t	 t	 " "two lines, two tags"
is "$(wc -c < "$tmp/out" | tr -d " ")" 300009 "and all the bytes"
ls -d "$tmp"/mproc-spill.* > /dev/null 2>&1
ok "$([ $? -ne 0 ]; echo $?)" "no spill folder left"

done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec --line-buffer (issue 15, ops15): each line reaches stdout as
# soon as the command has written it whole, while the command still
# runs; lines of different jobs are never mixed, however long; --tag
# tags each line.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"
TMPDIR=$tmp
export TMPDIR

# A line shows while its command still runs: the command waits for a
# file that the test makes only once it has seen the line.
timeout -k 5 60 "$bin" exec --line-buffer --tag \
    "echo first {}; while [ ! -e $tmp/go ]; do sleep 0.05; done; echo second {}" \
    ::: x > "$tmp/live" 2> "$tmp/live.err" &
pid=$!
i=0
while [ $i -lt 400 ] && ! grep -q first "$tmp/live"; do
    sleep 0.05; i=$((i + 1))
done
is "$(cat "$tmp/live")" "x	first x" "the first line, tagged, while the job runs"
touch "$tmp/go"
wait $pid
is "$?" 0 "exit 0"
is "$(cat "$tmp/live")" "x	first x
x	second x" "then the second"

# Long lines (far past PIPE_BUF) of jobs writing at once are never mixed.
run_mproc exec -j3 --line-buffer \
    'for i in 1 2 3 4; do head -c 100000 /dev/zero | tr "\0" {}; echo; done' \
    ::: a b c
is "$st" 0 "long lines: exit 0"
is "$(wc -l < "$tmp/out" | tr -d ' ')" 12 "twelve lines"
is "$(grep -Ec '^(a+|b+|c+)$' "$tmp/out")" 12 "each of one job only"
is "$(awk '{ print length($0) }' "$tmp/out" | sort -u)" 100000 "each whole"

# A last line without a newline goes out when its job ends; a failed
# job's lines too.
run_mproc exec -j1 --line-buffer --tag 'echo one; printf two; exit {}' ::: 0 3
is "$(od -An -c "$tmp/out" | tr -d ' \n')" \
    '0\tone\n0\ttwo3\tone\n3\ttwo' "unfinished last lines, tagged"
is "$st" 1 "one failed"
ls -d "$tmp"/mproc-exec.* > /dev/null 2>&1
ok "$([ $? -ne 0 ]; echo $?)" "no FIFO folder left"

# An unusable TMPDIR is said, with exit 73.
TMPDIR=$tmp/none run_mproc exec --line-buffer echo ::: a
is "$st" 73 "no FIFO: exit 73"
like "$err" "exec: cannot make a folder for --line-buffer in $tmp/none" "says why"

done_testing

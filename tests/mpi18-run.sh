#!/bin/sh
# SPDX-License-Identifier: MIT
# The MPI launcher (issue 18) under MPICH: mpiexec -n 3 on one machine,
# one host and two node agents of one worker each, gives what a local
# run gives; a crashing task costs its item only.
. "${MPROC_SRCDIR:?}/tests/lib.sh"
. "$srcdir/tests/mpi18-lib.sh"

mpi="--set pool.launcher=mpi --set pool.workers=1"

# echo: 100,000 items, the output byte for byte that of a local run.
awk 'BEGIN { for (i = 0; i < 100000; i++)
    printf "item %d %s\n", i, substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26) }' \
    >"$tmp/in.txt"
jobf=$(job echo.ini <<EOF
[job]
plugin = echo
input = lines:$tmp/in.txt
EOF
)
run_mproc run "$jobf"
cp "$tmp/out" "$tmp/local.txt"
is "$st" 0 "echo: the local run"
mpirun -n 3 "$bin" run "$jobf" $mpi --joblog "$tmp/echo.log"
is "$st" 0 "echo over mpiexec -n 3: exit 0"
cmp -s "$tmp/out" "$tmp/local.txt"
ok $? "echo: 100,000 items byte-identical to the local run"
is "$(wc -l <"$tmp/echo.log")" 100001 "echo: every item logged once"
is "$(sed 1d "$tmp/echo.log" | cut -f2 | sort -u | wc -l)" 2 \
    "echo: the workers of both agents ran items"

# wordcount: the reduce runs in the host, the tasks on the agents.
cd "$srcdir/conf" || exit 1
run_mproc run wordcount.ini
cp "$tmp/out" "$tmp/wc-local.txt"
mpirun -n 3 "$bin" run wordcount.ini $mpi
cd "$tmp" || exit 1
is "$st" 0 "wordcount over mpiexec: exit 0"
cmp -s "$tmp/out" "$tmp/wc-local.txt"
ok $? "wordcount: the counts equal the local run's"

# fault: a segv item fails alone, the run goes on.
printf 'ok1\nsegv\nok2\nfail:boom\nok3\n' >"$tmp/fault.txt"
jobf=$(job fault.ini <<EOF
[job]
plugin = fault
input = lines:$tmp/fault.txt
EOF
)
mpirun -n 3 "$bin" run "$jobf" $mpi
is "$st" 1 "segv: exit 1"
is "$(cat "$tmp/out")" "$(printf 'ok1\nok2\nok3')" \
    "segv: the other items' output, in order"
like "$err" 'item 1 "segv": worker' "segv: the item is named"
like "$err" "killed by SIGSEGV" "segv: and why"
like "$err" 'item 3 "fail:boom": boom' "a failing task: its message"
like "$err" "2 of 5 items failed" "segv: the count"
nothing_left "segv: no rank, worker or mpiexec left"

# A node lost with [job] retries: its items run on the other node, the
# output is complete and in order, and the run still names the node.
jobf=$(slow_job slow "retries = 2")
(
    mpirun $nodes3 -n 3 "$bin" run "$jobf" $mpi
    echo "$st" >"$tmp/st"
) &
wait_lines "$tmp/slow.out" 20
a=$(agent_pid 1)
[ -n "$a" ] && kill -9 $a
wait
is "$(cat "$tmp/st")" 1 "retries: a lost node makes the exit 1"
cmp -s "$tmp/slow.out" "$tmp/slow.local"
ok $? "retries: every item ran, once, in order, on the node left"
err=$(cat "$tmp/err")
like "$err" "(rank 1) lost: no word from it for" "retries: the node is named"
like "$err" "sent to other nodes" "retries: its items moved"
unlike "$err" "item " "retries: no item failed"
nothing_left "retries: no rank, worker or mpiexec left"

done_testing

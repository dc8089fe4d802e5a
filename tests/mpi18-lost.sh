#!/bin/sh
# SPDX-License-Identifier: MIT
# The MPI launcher (issue 18) losing a node: an agent rank killed with
# SIGKILL, or stopped (a hang), mid-run.  The run ends within a bounded
# time, naming the node; nothing is left running (no rank, worker,
# mpiexec or proxy); --resume with the job log completes the output.
. "${MPROC_SRCDIR:?}/tests/lib.sh"
. "$srcdir/tests/mpi18-lib.sh"

mpi="--set pool.launcher=mpi --set pool.workers=1"
jobf=$(slow_job slow)
sort "$tmp/slow.local" >"$tmp/local.sorted"

# lose SIGNAL LAUNCH...: start the run, send SIGNAL to rank 1 once 20
# results are out, and wait for its end; $st, $err, $secs.
lose() {
    sig=$1
    shift
    rm -f "$tmp/slow.out" "$tmp/log"
    t0=$(date +%s)
    (
        mpirun "$@" -n 3 "$bin" run "$jobf" $mpi --joblog "$tmp/log"
        echo "$st" >"$tmp/st"
    ) &
    wait_lines "$tmp/slow.out" 20
    a=$(agent_pid 1)
    [ -n "$a" ] || echo "# rank 1 not found"
    [ -n "$a" ] && kill -"$sig" $a
    wait
    secs=$(($(date +%s) - t0))
    st=$(cat "$tmp/st")
    err=$(cat "$tmp/err")
    # A stopped rank would stay stopped; MPI_Abort kills it, else this.
    [ -n "$a" ] && kill -CONT $a 2>/dev/null
}

# resume WHAT: --resume (a plain mpiexec -n 3) completes the output.
resume() {
    mpirun -n 3 "$bin" run "$jobf" $mpi --joblog "$tmp/log" --resume
    is "$st" 0 "$1: --resume completes the run"
    sort "$tmp/slow.out" | cmp -s - "$tmp/local.sorted"
    ok $? "$1: with it every item's output is there once"
    nothing_left "$1: nothing left after the resumed run"
}

# SIGKILL, one MPI proxy per node (-disable-auto-cleanup): the host lives
# on, names the node and fails its items.
lose KILL $nodes3
is "$st" 1 "SIGKILL: exit 1"
ok $([ "$secs" -lt 30 ] && echo 0 || echo 1) \
    "SIGKILL: the run ended within a bounded time (${secs}s)"
like "$err" "(rank 1) lost: no word from it for" "SIGKILL: the node is named"
like "$err" "node_timeout" "SIGKILL: and why"
like "$err" "lost: no word" "SIGKILL: its items fail naming it"
nothing_left "SIGKILL: no rank, worker, proxy or mpiexec left"
resume "SIGKILL"

# SIGKILL under a plain mpiexec -n 3: MPICH itself ends every rank (the
# job log holds what was written); nothing is left, resume completes.
lose KILL
ok $([ "$st" -ne 0 ] && [ "$st" -ne 124 ] && echo 0 || echo 1) \
    "SIGKILL, one proxy: MPICH ends the job ($st), no timeout"
like "$(cat "$tmp/out")" "BAD TERMINATION" "SIGKILL, one proxy: MPICH says so"
nothing_left "SIGKILL, one proxy: no rank, worker or mpiexec left"
resume "SIGKILL, one proxy"

# A hang (SIGSTOP) under a plain mpiexec -n 3: the watchdog finds it
# within node_timeout and MPI_Abort ends the stopped rank.
lose STOP
is "$st" 1 "SIGSTOP: exit 1"
ok $([ "$secs" -lt 30 ] && echo 0 || echo 1) \
    "SIGSTOP: the run ended within a bounded time (${secs}s)"
like "$err" "(rank 1) lost: no word from it for 2" \
    "SIGSTOP: the node is named, after node_timeout"
like "$err" "items failed" "SIGSTOP: its items failed"
nothing_left "SIGSTOP: no rank, worker or mpiexec left"
resume "SIGSTOP"

# ^C: mpiexec passes SIGINT to every rank; the run stops as a local one
# does (exit 130, the counts), and nothing is left.  The host's status
# reaches us through mpiexec, and MPICH's Hydra now and then loses a
# rank's exit status and reports 0 (pmodels/mpich#7057; seen here once in
# a few loaded runs): up to three tries, each asserted below; a host that
# does not exit 130 fails all three.
interrupt() {
    rm -f "$tmp/slow.out"
    (
        mpirun -n 3 "$bin" run "$jobf" $mpi
        echo "$st" >"$tmp/st"
    ) &
    wait_lines "$tmp/slow.out" 20
    for p in $(marked); do
        case $(cat "/proc/$p/comm" 2>/dev/null) in
        mpiexec*) kill -INT "$p" ;;
        esac
    done
    wait
}
for try in 1 2 3; do
    interrupt
    [ "$(cat "$tmp/st")" = 130 ] && break
    echo "# try $try: mpiexec said $(cat "$tmp/st"); the host: $(grep -c 'interrupted by SIGINT' "$tmp/err") interrupted line(s)"
done
is "$(cat "$tmp/st")" 130 "SIGINT to mpiexec: exit 130"
like "$(cat "$tmp/err")" "interrupted by SIGINT" "SIGINT: said, with the counts"
unlike "$(cat "$tmp/err")" "lost" "SIGINT: no node is taken for lost"
nothing_left "SIGINT: no rank, worker or mpiexec left"

done_testing

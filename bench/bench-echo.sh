#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc run of N `echo` items (default 200,000) at chunksize 1, 64 and
# auto (no chunksize key: the default) on each IPC backend, against
# Python's Pool(2).map doing the same job (read the lines, map an
# identity function, write the results: bench/python_echo.py) with
# chunksize=1 and with its default chunks, in the same run.  Medians of
# RUNS (default 3) wall times; rates in items/s, ratios, and the targets
# of issue 13, MET or MISSED.
# Python with chunksize=1 runs a tenth of the items (it takes ~20 s per
# million); rates compare, not times.
# Usage: bench-echo.sh [MPROC [N [RUNS]]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mproc=${1:-./mproc}
n=${2:-200000}
runs=${3:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seq 1 "$n" >"$tmp/in.txt"
head -n $((n / 10)) "$tmp/in.txt" >"$tmp/small.txt"
# echo.ini without its chunksize key: what a user gets by default.
grep -v '^chunksize' "$here/../conf/echo.ini" >"$tmp/echo.ini"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
wall() {  # wall COMMAND...: seconds, from date +%s.%N
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }
repeat() { i=0; while [ "$i" -lt "$runs" ]; do "$@"; i=$((i + 1)); done; }

printf '%-40s %10s %14s\n' "what" "median s" "items/s"
for ipc in pipe shmring mq; do
    for c in 1 64 auto; do
        # Only the default on mq: its rows are for comparison.
        [ "$ipc" = mq ] && [ "$c" != auto ] && continue
        set -- --set pool.ipc="$ipc" --set pool.workers=2
        [ "$c" = auto ] || set -- "$@" --set job.chunksize="$c"
        t=$(repeat wall "$mproc" run "$tmp/echo.ini" --quiet \
            --set "job.input=lines:$tmp/in.txt" \
            --set "job.output=$tmp/out" "$@" | median)
        cmp -s "$tmp/out" "$tmp/in.txt" ||
            { echo "mproc $ipc chunksize $c: wrong output" >&2; exit 1; }
        eval "r_${ipc}_$c=$(rate "$n" "$t")"
        printf '%-40s %10s %14s\n' "mproc run echo, $ipc, chunksize $c" \
            "$t" "$(rate "$n" "$t")"
    done
done
# Crowded pools (issue 13: the adaptive wait must never lose to pipe when
# processes outnumber cores): 64 and 256 workers on this machine's cores,
# chunksize 1 and auto, over CROWD_N items (default 5 n: the pool's start
# is a small part of the time), pipe and shmring in turn, run by run, so
# that load changes hit both; medians of CROWD_RUNS (default 5).  A
# pool's start alone (as many items as workers) is timed apart.
crowd_n=${CROWD_N:-$((5 * n))}
crowd_runs=${CROWD_RUNS:-5}
seq 1 "$crowd_n" >"$tmp/crowd.txt"
crowd=""
for nw in 64 256; do
    for c in 1 auto start; do
        : >"$tmp/t_pipe"
        : >"$tmp/t_shmring"
        i=0
        while [ "$i" -lt "$crowd_runs" ]; do
            for ipc in pipe shmring; do
                set -- --set pool.ipc="$ipc" --set pool.workers="$nw"
                if [ "$c" = start ]; then
                    set -- "$@" --set "job.input=range:1..$nw" \
                        --set job.chunksize=1
                else
                    set -- "$@" --set "job.input=lines:$tmp/crowd.txt"
                    [ "$c" = auto ] || set -- "$@" --set job.chunksize="$c"
                fi
                wall "$mproc" run "$tmp/echo.ini" --quiet \
                    --set "job.output=$tmp/out" "$@" >>"$tmp/t_$ipc"
                [ "$c" = start ] || cmp -s "$tmp/out" "$tmp/crowd.txt" ||
                    { echo "mproc $ipc $nw workers: wrong output" >&2; exit 1; }
            done
            i=$((i + 1))
        done
        tp=$(median <"$tmp/t_pipe")
        ts=$(median <"$tmp/t_shmring")
        what="$nw workers, chunksize $c"
        [ "$c" = start ] && what="$nw workers, start and end only"
        printf '%-40s %10s %14s\n' "mproc run echo, pipe, $what" "$tp" \
            "$([ "$c" = start ] && echo - || rate "$crowd_n" "$tp")"
        printf '%-40s %10s %14s\n' "mproc run echo, shmring, $what" "$ts" \
            "$([ "$c" = start ] && echo - || rate "$crowd_n" "$ts")"
        crowd="$crowd$nw:$c:$tp:$ts "
    done
done
py_one=0
py_default=0
if command -v python3 >/dev/null; then
    t=$(repeat python3 "$here/python_echo.py" "$tmp/in.txt" default \
        "$tmp/py.out" | median)
    py_default=$(rate "$n" "$t")
    printf '%-40s %10s %14s\n' "Python Pool(2).map, default chunks" "$t" \
        "$py_default"
    t=$(repeat python3 "$here/python_echo.py" "$tmp/small.txt" 1 \
        "$tmp/py.out" | median)
    py_one=$(rate $((n / 10)) "$t")
    printf '%-40s %10s %14s\n' "Python Pool(2).map, chunksize=1" "$t" \
        "$py_one"
else
    echo "python3 not found: the targets against Python are skipped"
fi
echo
# target LABEL VALUE GOAL: "MET" when VALUE >= GOAL.
target() {
    awk -v l="$1" -v v="$2" -v g="$3" 'BEGIN {
        printf "%-52s %9.2f  (target >= %s)  %s\n", l, v, g,
            (v >= g ? "MET" : "MISSED") }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", (b > 0 ? a / b : 0) }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print ((a > b) ? a : b) }'; }
for ipc in pipe shmring; do
    eval "one=\$r_${ipc}_1 big=\$r_${ipc}_64 auto=\$r_${ipc}_auto"
    if [ "$py_one" != 0 ]; then
        target "$ipc, chunksize 1 / Python chunksize=1 (x)" \
            "$(ratio "$one" "$py_one")" 35
    fi
    target "$ipc, chunksize 1 (M items/s)" "$(ratio "$one" 1000000)" 1.5
    target "$ipc, chunksize 1 / chunksize 64 (within 2x)" \
        "$(ratio "$one" "$big")" 0.5
    target "$ipc, auto / best of 1 and 64 (within 1.2x)" \
        "$(ratio "$auto" "$(max "$one" "$big")")" 0.8333
    if [ "$py_default" != 0 ]; then
        target "$ipc, auto / Python default chunks (x)" \
            "$(ratio "$auto" "$py_default")" 1
    fi
done
# shmring's time against pipe's (pipe s / shmring s): >= 1 where it does
# not lose.  The start rows are shown, not targets: a pool's start is the
# fork of every worker, not the adaptive wait.
for e in $crowd; do
    IFS=: read -r nw c tp ts <<EOT
$e
EOT
    if [ "$c" = start ]; then
        awk -v l="shmring / pipe, $nw workers, start (pipe s / shmring s)" \
            -v v="$(ratio "$tp" "$ts")" \
            'BEGIN { printf "%-52s %9.2f  (shown, not a target)\n", l, v }'
    else
        target "shmring / pipe, $nw workers, chunksize $c (x)" \
            "$(ratio "$tp" "$ts")" 1
    fi
done

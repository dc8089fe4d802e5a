#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc run of N `echo` items (default 1,000,000) on each IPC backend,
# against Python's Pool(2).map doing the same job (read the lines, map an
# identity function, write the results: bench/python_echo.py), in the
# same run.  Medians of 3 wall times; rates in items/s and ratios.
# Python with chunksize=1 runs a tenth of the items (it takes ~30 s per
# million); rates compare, not times.
# Usage: bench-echo.sh [MPROC [N]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mproc=${1:-./mproc}
n=${2:-1000000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seq 1 "$n" >"$tmp/in.txt"
head -n $((n / 10)) "$tmp/in.txt" >"$tmp/small.txt"

median3() { sort -n | sed -n 2p; }
wall() {  # wall COMMAND...: seconds, from date +%s.%N
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }

printf '%-34s %10s %14s\n' "what" "median s" "items/s"
for ipc in pipe mq shmring; do
    t=$(for i in 1 2 3; do
        wall "$mproc" run "$here/../conf/echo.ini" --quiet \
            --set "job.input=lines:$tmp/in.txt" --set "job.output=$tmp/out" \
            --set "pool.ipc=$ipc" --set pool.workers=2
    done | median3)
    cmp -s "$tmp/out" "$tmp/in.txt" || { echo "mproc $ipc: wrong output" >&2; exit 1; }
    eval "r_$ipc=$(rate "$n" "$t")"
    printf '%-34s %10s %14s\n' "mproc run echo.ini, ipc=$ipc" "$t" "$(rate "$n" "$t")"
done
if command -v python3 >/dev/null; then
    t=$(for i in 1 2 3; do
        python3 "$here/python_echo.py" "$tmp/in.txt" default "$tmp/py.out"
    done | median3)
    py_default=$(rate "$n" "$t")
    printf '%-34s %10s %14s\n' "Python Pool(2).map, default chunks" "$t" "$py_default"
    t=$(for i in 1 2 3; do
        python3 "$here/python_echo.py" "$tmp/small.txt" 1 "$tmp/py.out"
    done | median3)
    py_one=$(rate $((n / 10)) "$t")
    printf '%-34s %10s %14s\n' "Python Pool(2).map, chunksize=1" "$t" "$py_one"
    echo
    awk -v s="$r_shmring" -v d="$py_default" -v o="$py_one" 'BEGIN {
        printf "shmring / Python chunksize=1: %.1fx (target >= 35x)\n", s / o
        printf "shmring / Python default chunks: %.2fx (target > 1x)\n", s / d }'
else
    echo "python3 not found: the Python rows are skipped"
fi

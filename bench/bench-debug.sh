#!/bin/sh
# SPDX-License-Identifier: MIT
# What issue 19's debugging costs when nothing goes wrong: mproc run of N
# `echo` items (default 200,000; 2 workers, pipe, chunksize 1 and auto)
#   - baseline:  MPROC_BACKTRACE=0 (no crash handlers, no slow log)
#   - default:   crash handlers armed in every worker (always on)
#   - all on:    the same + slowlog = 5s + retries = 1 (quarantine on)
# Medians of RUNS (default 5) wall times, items/s, and each ratio to the
# baseline (1.00 = free).
# Usage: bench-debug.sh [MPROC [N [RUNS]]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mproc=${1:-./mproc}
n=${2:-200000}
runs=${3:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seq 1 "$n" >"$tmp/in.txt"
grep -v '^chunksize' "$here/../conf/echo.ini" >"$tmp/echo.ini"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
wall() {  # wall COMMAND...: seconds
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }

printf '%-34s %10s %12s %8s\n' "what" "median s" "items/s" "ratio"
for c in 1 auto; do
    set -- --quiet --set pool.workers=2 --set pool.ipc=pipe \
        --set "job.input=lines:$tmp/in.txt" --set "job.output=$tmp/out"
    [ "$c" = auto ] || set -- "$@" --set job.chunksize="$c"
    # Interleaved, so that a change in the machine's load hits all three.
    : >"$tmp/base"; : >"$tmp/def"; : >"$tmp/all"
    i=0
    while [ "$i" -lt "$runs" ]; do
        MPROC_BACKTRACE=0 wall "$mproc" run "$tmp/echo.ini" "$@" >>"$tmp/base"
        wall "$mproc" run "$tmp/echo.ini" "$@" >>"$tmp/def"
        wall "$mproc" run "$tmp/echo.ini" "$@" --set job.slowlog=5s \
            --set job.retries=1 --slowlog "$tmp/slow" >>"$tmp/all"
        i=$((i + 1))
    done
    cmp -s "$tmp/out" "$tmp/in.txt" || { echo "wrong output" >&2; exit 1; }
    b=$(median <"$tmp/base")
    for k in base def all; do
        t=$(median <"$tmp/$k")
        case $k in
        base) what="baseline (MPROC_BACKTRACE=0)" ;;
        def) what="default (crash handlers)" ;;
        all) what="+ slowlog 5s + quarantine" ;;
        esac
        printf '%-34s %10s %12s %8s\n' "$what, chunk $c" "$t" \
            "$(rate "$n" "$t")" "$(awk -v a="$b" -v t="$t" \
            'BEGIN { printf "%.3f", a / t }')"
    done
done

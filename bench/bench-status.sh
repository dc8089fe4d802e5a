#!/bin/sh
# SPDX-License-Identifier: MIT
# What live status (mproc status, issue 19) costs when nobody asks:
# mproc run of N `echo` items (default 500,000) on 2 workers, chunksize 1
# (the most results per second, so the per-result bookkeeping weighs
# most) and the default chunks, with status on (the default) and off
# (MPROC_STATUS=0), runs alternated (each first in turn); medians of
# RUNS (default 7) wall times, the ratio on/off and the target (within
# 2 %).  A third row
# asks `mproc status` every 0.1 s during the run, for what asking costs.
# Usage: bench-status.sh [MPROC [N [RUNS]]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mproc=${1:-./mproc}
n=${2:-500000}
runs=${3:-7}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
XDG_RUNTIME_DIR=$tmp/run
export XDG_RUNTIME_DIR
mkdir -m 700 "$XDG_RUNTIME_DIR"
seq 1 "$n" >"$tmp/in.txt"
grep -v '^chunksize' "$here/../conf/echo.ini" >"$tmp/echo.ini"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }

# one STATUS CHUNK [ask]: seconds of one run.
one() {
    set -- "$1" "$2" "${3:-}"
    [ "$2" = auto ] && copt= || copt="--set job.chunksize=$2"
    t0=$(now)
    # shellcheck disable=SC2086
    MPROC_STATUS=$1 "$mproc" run "$tmp/echo.ini" --quiet --set pool.workers=2 \
        --set "job.input=lines:$tmp/in.txt" --set "job.output=$tmp/out" $copt &
    pid=$!
    asker=
    if [ -n "$3" ]; then
        while kill -0 "$pid" 2>/dev/null; do
            "$mproc" status "$pid" >/dev/null 2>&1 || :
            sleep 0.1
        done &
        asker=$!
    fi
    wait "$pid"
    t1=$(now)
    [ -z "$asker" ] || wait "$asker"
    cmp -s "$tmp/out" "$tmp/in.txt" || { echo "wrong output" >&2; exit 1; }
    secs "$t0" "$t1"
}

printf '%-44s %10s %12s\n' "what" "median s" "items/s"
for c in 1 auto; do
    : >"$tmp/on"; : >"$tmp/off"
    i=0
    while [ "$i" -lt "$runs" ]; do
        # Which goes first alternates, so that neither gains from order.
        if [ $((i % 2)) = 0 ]; then
            one 0 "$c" >>"$tmp/off"
            one 1 "$c" >>"$tmp/on"
        else
            one 1 "$c" >>"$tmp/on"
            one 0 "$c" >>"$tmp/off"
        fi
        i=$((i + 1))
    done
    off=$(median <"$tmp/off"); on=$(median <"$tmp/on")
    printf '%-44s %10s %12s\n' "echo, chunksize $c, status off" "$off" "$(rate "$n" "$off")"
    printf '%-44s %10s %12s\n' "echo, chunksize $c, status on" "$on" "$(rate "$n" "$on")"
    awk -v a="$off" -v b="$on" -v c="$c" 'BEGIN {
        r = a / b
        printf "%-44s %10.4f  (target >= 0.98)  %s\n",
            "throughput on / off, chunksize " c, r, (r >= 0.98 ? "MET" : "MISSED") }'
done
: >"$tmp/ask"
i=0
while [ "$i" -lt 3 ]; do one 1 1 ask >>"$tmp/ask"; i=$((i + 1)); done
ask=$(median <"$tmp/ask")
printf '%-44s %10s %12s\n' "echo, chunksize 1, status asked every 0.1 s" "$ask" "$(rate "$n" "$ask")"

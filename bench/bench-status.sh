#!/bin/sh
# SPDX-License-Identifier: MIT
# What live status (mproc status, issue 19) costs when nobody asks:
# mproc run of N `echo` items (default 1,000,000) on 2 workers, chunksize
# 1 (the most results per second, so the per-result bookkeeping weighs
# most) and the default chunks, with status on (the default) and off
# (MPROC_STATUS=0), runs alternated (each first in turn).  Medians of
# RUNS (default 9): wall time, and CPU time of mproc and its workers
# (user + system, from the shell's `times`: less disturbed by other load
# on the machine than wall time); ratios on/off and the target (within
# 2 %).  A row asks `mproc status` every 0.1 s during the run, for what
# asking costs; the last rows set the cost of the per-result bookkeeping
# alone (bench-status-cost, steady where wall times swing) against the
# time per item.
# Usage: bench-status.sh [MPROC [N [RUNS]]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mproc=${1:-./mproc}
n=${2:-1000000}
runs=${3:-9}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
XDG_RUNTIME_DIR=$tmp/run
export XDG_RUNTIME_DIR
mkdir -m 700 "$XDG_RUNTIME_DIR"
seq 1 "$n" >"$tmp/in.txt"
grep -v '^chunksize' "$here/../conf/echo.ini" >"$tmp/echo.ini"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }
# CPU seconds of this shell's finished children so far (`times`, line 2,
# "XmY.YYYs XmY.YYYs"); a builtin, so no child of its own is counted.
# Call it in this shell (not in $(...), a subshell with no children),
# then read the figure with cpu_read.
cpu() { times >"$tmp/times"; }
cpu_read() {
    awk 'NR == 2 {
        split($1, u, /[ms]/); split($2, s, /[ms]/)
        printf "%.3f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$tmp/times"
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }

# one STATUS CHUNK [ask]: "WALL CPU" seconds of one run.
one() {
    [ "$2" = auto ] && copt= || copt="--set job.chunksize=$2"
    cpu
    c0=$(cpu_read)
    t0=$(now)
    # shellcheck disable=SC2086
    MPROC_STATUS=$1 "$mproc" run "$tmp/echo.ini" --quiet --set pool.workers=2 \
        --set "job.input=lines:$tmp/in.txt" --set "job.output=$tmp/out" $copt &
    pid=$!
    asker=
    if [ -n "${3:-}" ]; then
        while kill -0 "$pid" 2>/dev/null; do
            "$mproc" status "$pid" >/dev/null 2>&1 || :
            sleep 0.1
        done &
        asker=$!
    fi
    wait "$pid"
    t1=$(now)
    [ -z "$asker" ] || wait "$asker"
    cpu
    c1=$(cpu_read)
    cmp -s "$tmp/out" "$tmp/in.txt" || { echo "wrong output" >&2; exit 1; }
    awk -v a="$t0" -v b="$t1" -v c="$c0" -v d="$c1" \
        'BEGIN { printf "%.3f %.3f\n", b - a, d - c }'
}

# row LABEL FILE: medians of a file of "WALL CPU" lines.
row() {
    mw=$(cut -d' ' -f1 <"$2" | median)
    mc=$(cut -d' ' -f2 <"$2" | median)
    printf '%-44s %9s %9s %11s\n' "$1" "$mw" "$mc" "$(rate "$n" "$mw")"
}
ratio() {  # ratio LABEL OFF ON: OFF / ON of the medians, and the target
    awk -v a="$2" -v b="$3" -v l="$1" 'BEGIN {
        r = a / b
        printf "%-44s %9.4f  (target >= 0.98)  %s\n", l, r,
            (r >= 0.98 ? "MET" : "MISSED") }'
}

printf '%-44s %9s %9s %11s\n' "what ($n items, medians of $runs)" "wall s" \
    "cpu s" "items/s"
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
    row "echo, chunksize $c, status off" "$tmp/off"
    row "echo, chunksize $c, status on" "$tmp/on"
    ratio "throughput on / off (wall), chunksize $c" \
        "$(cut -d' ' -f1 <"$tmp/off" | median)" "$(cut -d' ' -f1 <"$tmp/on" | median)"
    ratio "cpu off / on, chunksize $c" \
        "$(cut -d' ' -f2 <"$tmp/off" | median)" "$(cut -d' ' -f2 <"$tmp/on" | median)"
done
: >"$tmp/ask"
i=0
while [ "$i" -lt 3 ]; do one 1 1 ask >>"$tmp/ask"; i=$((i + 1)); done
row "echo, chunksize 1, status asked every 0.1 s" "$tmp/ask"

# The per-item cost alone (bench/bench-status-cost, built by make
# bench-status), against the time per item of echo with status off.
cost=$(dirname "$mproc")/bench/bench-status-cost
if [ -x "$cost" ]; then
    ns=$("$cost")
    awk -v ns="$ns" -v t="$(cut -d' ' -f1 <"$tmp/off" | median)" -v n="$n" \
        'BEGIN {
        per = t / n * 1e9
        printf "%-44s %9.2f ns\n", "status bookkeeping per result", ns
        printf "%-44s %9.0f ns\n", "echo, wall time per item (status off)", per
        printf "%-44s %9.4f  (target <= 0.02)  %s\n",
            "bookkeeping / time per item", ns / per,
            (ns / per <= 0.02 ? "MET" : "MISSED") }'
fi

#!/bin/sh
# SPDX-License-Identifier: MIT
# Costs of shards and of the job log (issues 17 and 19.6), with the plain
# run of the same job measured in the same run as the reference; medians
# of RUNS (default 3) wall times, and ratios:
#   - echo over N items (default 100,000): plain; with --joblog and
#     joblog_sync none, batch; item over N/200 items (per item, as fsync
#     per item is ~ms);
#   - the same job as 4 shards run one after another, and mproc merge;
#   - 100 kill -9s at random moments, each followed by --resume, the
#     output byte-identical to a clean run's (tests/shard17-crash.sh).
# Usage: bench-shard.sh [MPROC [N [RUNS]]]   (MPROC_* as for make check)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mproc=${1:-./mproc}
n=${2:-100000}
runs=${3:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '[job]\nplugin = echo\ninput = range:1..%s\noutput = out.txt\n' "$n" \
    >"$tmp/echo.ini"
printf '[job]\nplugin = echo\ninput = range:1..%s\noutput = out.txt\n' \
    $((n / 200)) >"$tmp/small.ini"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
wall() {  # wall COMMAND...: seconds
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
med() {  # med COMMAND...: the median of RUNS walls
    i=0
    while [ $i -lt "$runs" ]; do
        rm -f "$tmp"/out.txt* "$tmp"/log*; wall "$@"; i=$((i + 1))
    done | median
}
shards4() {
    for k in 0 1 2 3; do
        "$mproc" run "$tmp/echo.ini" -q --shard $k/4 --joblog "$tmp/log"
    done
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

plain=$(med "$mproc" run "$tmp/echo.ini" -q)
none=$(med "$mproc" run "$tmp/echo.ini" -q --joblog "$tmp/log")
batch=$(med "$mproc" run "$tmp/echo.ini" -q --joblog "$tmp/log" --joblog-sync batch)
splain=$(med "$mproc" run "$tmp/small.ini" -q)
item=$(med "$mproc" run "$tmp/small.ini" -q --joblog "$tmp/log" --joblog-sync item)
sh4=$(med shards4)
shards4
merge=$(wall "$mproc" merge "$tmp/echo.ini" --shards 4 --joblog "$tmp/log")
echo "echo, $n items (medians of $runs):"
echo "  plain run                      ${plain}s"
echo "  --joblog, joblog_sync none     ${none}s  ($(ratio "$none" "$plain")x plain)"
echo "  --joblog, joblog_sync batch    ${batch}s  ($(ratio "$batch" "$plain")x plain)"
echo "  joblog_sync item, $((n / 200)) items    ${item}s  (plain: ${splain}s; $(awk -v a="$item" -v b="$splain" -v k=$((n / 200)) 'BEGIN { printf "%.2f", (a - b) * 1000 / k }') ms per item)"
echo "  4 shards, one after another    ${sh4}s  ($(ratio "$sh4" "$plain")x plain; start-up per shard $(awk -v a="$sh4" -v b="$none" 'BEGIN { printf "%.3f", (a - b) / 4 }')s)"
echo "  mproc merge of the 4           ${merge}s"
echo "100 kill -9s + --resume (tests/shard17-crash.sh):"
MPROC_CRASH_ROUNDS=100 MPROC_BIN=$mproc MPROC_SRCDIR=$here/.. \
    sh "$here/../tests/shard17-crash.sh" | grep -v '^ok [34] '

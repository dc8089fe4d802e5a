#!/bin/sh
# SPDX-License-Identifier: MIT
# A Manager's round trips against Python's, in the same run: a dict set
# then get, and a Queue put then get, each pair two round trips through
# the server process; mproc over unix: (the target: at least 20 times
# Python's pairs per second) and tcp:127.0.0.1, Python's Manager() over
# its default (a unix socket).  Medians of RUNS runs; ratios printed.
# Python runs a tenth of the pairs (rates compare, not times).  The raw
# line is the ceiling of a socket: the same two round trips as 1-byte
# ping-pongs over a socketpair between two processes, no server, no
# messages; the shm line is the ceiling of the manager's shared-memory
# ring (unix:): two processes ping-ponging a word, both spinning, which
# only a machine with a free CPU for each reaches.
# Usage: bench-manager.sh [BENCH-MANAGER [N [RUNS]]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
drv=${1:-bench/bench-manager}
n=${2:-20000}
runs=${3:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$drv" "$n" "$runs" >"$tmp/c.txt"
python3 "$here/python_manager.py" $((n / 10)) "$runs" >"$tmp/py.txt"
get() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/c.txt" "$tmp/py.txt"; }

printf '%-44s %14s %9s\n' "what (median of $runs)" "pairs/s" "vs Python"
printf '%-44s %14s %8.1fx\n' "raw socketpair ping-pong x2 (ceiling)" \
    "$(get raw-pair)" "$(awk -v a="$(get raw-pair)" -v b="$(get python-dict)" 'BEGIN { print a / b }')"
printf '%-44s %14s %8.1fx\n' "raw shared-memory ping-pong x2 (ring's)" \
    "$(get raw-shm)" "$(awk -v a="$(get raw-shm)" -v b="$(get python-dict)" 'BEGIN { print a / b }')"
for kind in dict queue; do
    py=$(get "python-$kind")
    for t in unix tcp; do
        c=$(get "$t-$kind")
        printf '%-44s %14s %8.1fx\n' "mproc manager $kind, $t:" "$c" \
            "$(awk -v a="$c" -v b="$py" 'BEGIN { print a / b }')"
    done
    printf '%-44s %14s %9s\n' "Python Manager().$kind()" "$py" "1.0x"
    ratio=$(awk -v a="$(get "unix-$kind")" -v b="$py" 'BEGIN { print a / b }')
    awk -v r="$ratio" -v k="$kind" -v c="$(get raw-pair)" -v m="$(get raw-shm)" \
        -v p="$py" -v u="$(get "unix-$kind")" 'BEGIN {
        printf "target: %s over unix: at least 20x Python: %.1fx, %s" \
            " (the socket ceiling is %.1fx Python, the ring'"'"'s %.1fx;" \
            " mproc reaches %.0f%% of the ring'"'"'s)\n",
            k, r, r >= 20 ? "MET" : "MISSED", c / p, m / p, 100 * u / m }'
done

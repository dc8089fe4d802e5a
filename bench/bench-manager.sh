#!/bin/sh
# SPDX-License-Identifier: MIT
# A Manager's round trips against Python's, in the same run: a dict set
# then get, and a Queue put then get, each pair two round trips through
# the server process; mproc over unix: (the target: at least 20 times
# Python's pairs per second) and tcp:127.0.0.1, Python's Manager() over
# its default (a unix socket).  RUNS rounds, each one C run then one
# Python run back to back, so that each ratio compares figures taken
# under the same load (the machine is shared); printed: the median rate,
# and the median and range of the per-round ratios.  Python runs a tenth
# of the pairs (rates compare, not times).  Two ceilings: the same two
# round trips as 1-byte ping-pongs over a socketpair between two
# processes (no server, no messages: a socket's), and as a word
# ping-ponged in shared memory by two spinning processes (the manager's
# ring over unix:, reached only while each has a CPU of its own).
# MPROC_MANAGER_RING=0 measures the socket path over unix: instead.
# Usage: bench-manager.sh [BENCH-MANAGER [N [RUNS]]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
drv=${1:-bench/bench-manager}
n=${2:-20000}
runs=${3:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

i=0
while [ "$i" -lt "$runs" ]; do
    "$drv" "$n" 1 >>"$tmp/all.txt"
    python3 "$here/python_manager.py" $((n / 10)) 1 >>"$tmp/all.txt"
    i=$((i + 1))
done

awk -v runs="$runs" '
function median(a, k,    i, j, t, b) {
    for (i = 1; i <= k; i++) b[i] = a[i]
    for (i = 2; i <= k; i++)
        for (j = i; j > 1 && b[j - 1] > b[j]; j--) {
            t = b[j]; b[j] = b[j - 1]; b[j - 1] = t
        }
    return k % 2 ? b[(k + 1) / 2] : (b[k / 2] + b[k / 2 + 1]) / 2
}
function stats(name, base, label,    i, r, lo, hi, med) {
    for (i = 1; i <= runs; i++) {
        r[i] = v[name, i] / v[base, i]
        if (i == 1 || r[i] < lo) lo = r[i]
        if (i == 1 || r[i] > hi) hi = r[i]
    }
    for (i = 1; i <= runs; i++) x[i] = v[name, i]
    med = median(r, runs)
    printf "%-40s %10.0f %7.1fx %13s\n", label, median(x, runs), med,
        sprintf("%.1f-%.1fx", lo, hi)
    return med
}
{ c[$1]++; v[$1, c[$1]] = $2 }
END {
    printf "%-40s %10s %8s %13s\n", "what (" runs " rounds)", "pairs/s",
        "vs Py", "ratio range"
    for (k = 1; k <= 2; k++) {
        kind = k == 1 ? "dict" : "queue"
        py = "python-" kind
        stats("raw-pair", py, "raw socketpair ping-pong x2 (ceiling)")
        stats("raw-shm", py, "raw shared-memory ping-pong x2 (ring)")
        u = stats("unix-" kind, py, "mproc manager " kind ", unix:")
        stats("tcp-" kind, py, "mproc manager " kind ", tcp:")
        for (i = 1; i <= runs; i++) x[i] = v[py, i]
        printf "%-40s %10.0f %7.1fx\n", "Python Manager()." kind "()",
            median(x, runs), 1
        printf "target: %s over unix: at least 20x Python: %.1fx (median" \
            " of rounds), %s\n\n", kind, u, u >= 20 ? "MET" : "MISSED"
    }
}' "$tmp/all.txt"

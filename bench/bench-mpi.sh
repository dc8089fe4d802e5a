#!/bin/sh
# SPDX-License-Identifier: MIT
# The MPI launcher (issue 18) against a local run on the same machine:
# N echo items of 64 bytes (default 100,000) at chunksize 1 and 64,
# through `mpiexec -n 3` (one host, two node agents of one worker each)
# and through a plain `mproc run` with two workers (ipc = shmring in both:
# the agents' pools use it too); and
# the start-up time (a run of one item) of each.  Medians of RUNS
# (default 5) wall times, rates in items/s, and the ratios local/MPI: on
# one machine MPI is expected to be slower; the figure says what a node
# costs.  Needs MPICH's mpiexec and mproc built with --with-mpi.
# Usage: bench-mpi.sh [MPROC [N [RUNS]]]
set -eu
mproc=${1:-./mproc}
n=${2:-100000}
runs=${3:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v mpiexec >/dev/null ||
    { echo "bench-mpi: mpiexec is not installed" >&2; exit 1; }

# 63 bytes and a newline per item.
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "%063d\n", i }' \
    >"$tmp/in.txt"
head -n 1 "$tmp/in.txt" >"$tmp/one.txt"
cat >"$tmp/echo.ini" <<EOF
[job]
plugin = echo
EOF

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
wall() {  # wall COMMAND...: seconds, from date +%s.%N
    t0=$(date +%s.%N)
    "$@" </dev/null >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }
repeat() { i=0; while [ "$i" -lt "$runs" ]; do "$@"; i=$((i + 1)); done; }

local_run() {  # local_run INPUT CHUNK
    wall "$mproc" run "$tmp/echo.ini" --quiet --set pool.ipc=shmring \
        --set pool.workers=2 --set "job.input=lines:$1" \
        --set "job.chunksize=$2" --set "job.output=$tmp/out"
}
mpi_run() {  # mpi_run INPUT CHUNK
    wall mpiexec -n 3 "$mproc" run "$tmp/echo.ini" --quiet \
        --set pool.launcher=mpi --set pool.workers=1 --set pool.ipc=shmring \
        --set "job.input=lines:$1" --set "job.chunksize=$2" \
        --set "job.output=$tmp/out"
}

printf '%-46s %10s %12s\n' "what" "median s" "items/s"
for c in 1 64; do
    tl=$(repeat local_run "$tmp/in.txt" "$c" | median)
    cmp -s "$tmp/out" "$tmp/in.txt" || { echo "local: wrong output" >&2; exit 1; }
    tm=$(repeat mpi_run "$tmp/in.txt" "$c" | median)
    cmp -s "$tmp/out" "$tmp/in.txt" || { echo "mpi: wrong output" >&2; exit 1; }
    printf '%-46s %10s %12s\n' "local, shmring, 2 workers, chunksize $c" \
        "$tl" "$(rate "$n" "$tl")"
    printf '%-46s %10s %12s\n' "mpiexec -n 3 (2 agents x 1), chunksize $c" \
        "$tm" "$(rate "$n" "$tm")"
    printf '%-46s %10sx\n' "  MPI time / local time, chunksize $c" \
        "$(ratio "$tm" "$tl")"
done
tl=$(repeat local_run "$tmp/one.txt" 1 | median)
tm=$(repeat mpi_run "$tmp/one.txt" 1 | median)
printf '%-46s %10s\n' "start-up (one item), local" "$tl"
printf '%-46s %10s\n' "start-up (one item), mpiexec -n 3" "$tm"
printf '%-46s %10sx\n' "  MPI start-up / local start-up" "$(ratio "$tm" "$tl")"

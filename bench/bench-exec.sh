#!/bin/sh
# SPDX-License-Identifier: MIT
# bench-exec: `mproc run` with the exec plugin against `xargs -P2` and GNU
# `parallel -j2`, each running `true` for 2,000 input lines with 2 jobs at
# a time.  Medians of 3 runs, in the same run; a tool that is not installed
# is skipped, and the script says so.
#
# Then tiny jobs several to a command (issue 15): `mproc exec -X -j2`
# against `xargs -n50 -P2` and `parallel -X -j2`, each running `true` over
# NX (default 20,000) short items; target: mproc at least as fast as
# xargs -n50.
#
#   make bench-pool     (or: MPROC_BIN=./mproc MPROC_PLUGIN_PATH=.libs \
#                            sh bench/bench-exec.sh)
set -u
N=${N:-2000}
REPS=3
MPROC=${MPROC_BIN:-mproc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-exec.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

seq 1 "$N" > "$tmp/items.txt"
cat > "$tmp/job.ini" <<EOT
[job]
plugin = exec
task = run
input = lines:items.txt

[pool]
workers = 2

[args]
command = true
EOT

now() { date +%s.%N; }

# median of REPS wall times of "$@", in seconds; empty if a run failed
median() {
    i=0
    : > "$tmp/times"
    while [ $i -lt $REPS ]; do
        t0=$(now)
        "$@" > /dev/null 2>"$tmp/err" < /dev/null || {
            echo "  failed: $*: $(head -c 300 "$tmp/err")" >&2
            return 1
        }
        t1=$(now)
        awk "BEGIN { print $t1 - $t0 }" >> "$tmp/times"
        i=$((i + 1))
    done
    sort -n "$tmp/times" | sed -n "$(( (REPS + 1) / 2 ))p"
}

run_mproc() { "$MPROC" run "$tmp/job.ini" -q; }
run_xargs() { xargs -P2 -n1 true < "$tmp/items.txt"; }
run_parallel() { parallel -j2 true < "$tmp/items.txt"; }

echo "exec jobs: $N x 'true', 2 at a time, medians of $REPS"
m=""; x=""; p=""
if command -v "$MPROC" > /dev/null 2>&1; then
    m=$(median run_mproc) || m=""
else
    echo "  mproc: not found ($MPROC); set MPROC_BIN"
fi
if command -v xargs > /dev/null 2>&1; then
    x=$(median run_xargs) || x=""
else
    echo "  xargs: not installed, skipped"
fi
if command -v parallel > /dev/null 2>&1 &&
   parallel --version 2>/dev/null | grep -q "GNU parallel"; then
    p=$(median run_parallel) || p=""
else
    echo "  GNU parallel: not installed, skipped (apt-get install -y parallel)"
fi

line() { # name seconds
    [ -n "$2" ] || return 0
    printf '  %-28s %8.3f s %10.0f jobs/s\n' "$1" "$2" \
        "$(awk "BEGIN { print $N / $2 }")"
}
line "mproc run (exec plugin)" "$m"
line "xargs -P2 -n1" "$x"
line "parallel -j2" "$p"
if [ -n "$m" ] && [ -n "$x" ]; then
    r=$(awk "BEGIN { print $x / $m }")
    ok=$(awk "BEGIN { print ($r >= 1) }")
    printf '  ratio mproc vs xargs -P2:    %6.2fx faster (target >= 1x: %s)\n' \
        "$r" "$([ "$ok" = 1 ] && echo met || echo MISSED)"
fi
if [ -n "$m" ] && [ -n "$p" ]; then
    r=$(awk "BEGIN { print $p / $m }")
    ok=$(awk "BEGIN { print ($r >= 5) }")
    printf '  ratio mproc vs parallel -j2: %6.2fx faster (target >= 5x: %s)\n' \
        "$r" "$([ "$ok" = 1 ] && echo met || echo MISSED)"
fi

# ---- several items per command: mproc exec -X ----
NX=${NX:-20000}
seq 1 "$NX" > "$tmp/itemsx.txt"
run_mproc_x() { "$MPROC" exec -X -j2 true :::: "$tmp/itemsx.txt"; }
run_mproc_x50() { "$MPROC" exec -X -n50 -j2 true :::: "$tmp/itemsx.txt"; }
run_mproc_x_stdin() { "$MPROC" exec -X -j2 true < "$tmp/itemsx.txt"; }
run_xargs_x() { xargs -n50 -P2 true < "$tmp/itemsx.txt"; }
run_parallel_x() { parallel -X -j2 true :::: "$tmp/itemsx.txt"; }

echo "exec -X: $NX items x 'true', several per command, 2 at a time," \
    "medians of $REPS"
mx=""; ms=""; m50=""; xx=""; px=""
if command -v "$MPROC" > /dev/null 2>&1; then
    mx=$(median run_mproc_x) || mx=""
    ms=$(median run_mproc_x_stdin) || ms=""
    m50=$(median run_mproc_x50) || m50=""
fi
command -v xargs > /dev/null 2>&1 && { xx=$(median run_xargs_x) || xx=""; }
if command -v parallel > /dev/null 2>&1 &&
   parallel --version 2>/dev/null | grep -q "GNU parallel"; then
    px=$(median run_parallel_x) || px=""
fi
N=$NX
line "mproc exec -X -j2 :::: FILE" "$mx"
line "mproc exec -X -j2 < FILE" "$ms"
line "mproc exec -X -n50 -j2" "$m50"
line "xargs -n50 -P2" "$xx"
line "parallel -X -j2" "$px"
if [ -n "$mx" ] && [ -n "$xx" ]; then
    r=$(awk "BEGIN { print $xx / $mx }")
    ok=$(awk "BEGIN { print ($r >= 1) }")
    printf '  ratio mproc -X vs xargs -n50: %6.2fx faster (target >= 1x: %s)\n' \
        "$r" "$([ "$ok" = 1 ] && echo met || echo MISSED)"
fi
if [ -n "$m50" ] && [ -n "$xx" ]; then
    printf '  ratio mproc -X -n50 vs xargs -n50 (same commands): %6.2fx faster\n' \
        "$(awk "BEGIN { print $xx / $m50 }")"
fi
if [ -n "$mx" ] && [ -n "$px" ]; then
    printf '  ratio mproc -X vs parallel -X: %6.2fx faster\n' \
        "$(awk "BEGIN { print $px / $mx }")"
fi
exit 0

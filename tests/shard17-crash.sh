#!/bin/sh
# SPDX-License-Identifier: MIT
# Crash-consistent job log and output (issue 19, point 6): a 100,000-item
# ordered run is killed with SIGKILL at a random moment, then resumed
# with --resume: the output is byte-identical to a clean run's, and no
# index is logged ok twice.  MPROC_CRASH_ROUNDS rounds (20 here, to stay
# near 60 s on a busy machine; bench/crash-resume.sh runs 100); the
# last rounds use joblog_sync = batch and item.  A round also kills the
# resumed run, so a resume of a resume is covered.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

rounds=${MPROC_CRASH_ROUNDS:-20}
cd "$tmp" || exit 1
cat >echo.ini <<'INI'
[job]
plugin = echo
input = range:0..99999
output = out.txt
[pool]
workers = 2
INI
run_mproc run echo.ini -q
mv out.txt clean.txt
# joblog_sync = item costs two fsyncs per item (~3 ms): 500 items there.
sed 's/99999/499/' echo.ini >small.ini
run_mproc run small.ini -q
mv out.txt small-clean.txt

# kill_at MS ARGS: start a run, SIGKILL it after MS milliseconds.
kill_at() {
    ms=$1; shift
    "$bin" run $job -q --joblog log "$@" 2>/dev/null &
    host=$!
    sleep "$(printf '0.%03d' "$ms")"
    kill -9 $host 2>/dev/null
    wait $host 2>/dev/null
}

bad=0 twice=0 cut=0 r=1
while [ $r -le "$rounds" ]; do
    sync=none job=echo.ini clean=clean.txt
    [ $r -eq $((rounds - 1)) ] && sync=batch
    [ $r -eq "$rounds" ] && sync=item job=small.ini clean=small-clean.txt
    rm -f out.txt log
    # a moment from 0 to 299 ms (the whole run takes about as long)
    ms=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    ms=$((ms % 300))
    kill_at $ms --joblog-sync $sync
    [ $((r % 5)) -eq 0 ] && kill_at $((ms / 2)) --resume --joblog-sync $sync
    [ -f out.txt ] && [ -f log ] &&
        [ "$(wc -c <out.txt)" -gt "$(awk -F'\t' 'NR > 1 { e = $10 + $11; if (e > m) m = e } END { print m + 0 }' log)" ] &&
        cut=$((cut + 1))
    timeout -k 5 60 "$bin" run $job -q --joblog log --resume \
        --joblog-sync $sync 2>"$tmp/err"
    st=$?
    if [ $st -ne 0 ] || ! cmp -s out.txt $clean; then
        bad=$((bad + 1))
        echo "# round $r (killed at ${ms} ms, sync $sync): exit $st, $(cmp out.txt $clean 2>&1) $(cat "$tmp/err")"
    fi
    [ "$(awk -F'\t' '$5 == "ok" { print $1 }' log | sort | uniq -d | wc -l)" -eq 0 ] ||
        twice=$((twice + 1))
    r=$((r + 1))
done
is "$bad" 0 "$rounds kill -9s then --resume: output byte-identical every time"
is "$twice" 0 "no index logged ok twice"
echo "# $cut of $rounds kills left output past the log's end (cut back on resume)"

# A kill in the middle of writing a log line leaves a line without its
# newline; resumed, then cut again the same way and resumed again, the
# log must still read (the cut line is dropped, not closed with a
# newline that the next --resume would refuse as malformed).
rm -f out.txt log
run_mproc run small.ini -q --joblog log
cutok=0
for k in 1 2 3; do
    size=$(wc -c <log)
    truncate -s $((size - 7)) log
    run_mproc run small.ini -q --joblog log --resume
    [ "$st" -eq 0 ] && cmp -s out.txt small-clean.txt && cutok=$((cutok + 1))
done
is "$cutok" 3 "a log line cut by a crash, three times over: each --resume completes"
is "$(awk -F'\t' 'NR > 1 && NF != 11' log | wc -l)" 0 "and the log holds no malformed line"
no_leftovers
done_testing

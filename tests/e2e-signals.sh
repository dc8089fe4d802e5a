#!/bin/sh
# SPDX-License-Identifier: MIT
# Stopping mproc: SIGINT and SIGTERM stop the workers, flush the output
# gathered so far and exit 130; SIGKILL of the host takes its workers with
# it (they die with their parent).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

i=0
while [ $i -lt 400 ]; do echo "sleep:25"; i=$((i + 1)); done >"$tmp/items.txt"
printf '[job]\nplugin = fault\ninput = lines:items.txt\n[pool]\nworkers = 2\n' \
    >"$tmp/slow.ini"

# start_host: run the slow job in the background, let it work a second.
# (Its output goes to a file, so it is buffered: nothing shows until the
# end or the stop.)
start_host() {
    "$bin" run "$tmp/slow.ini" ${MPROC_TEST_IPC:+--set pool.ipc=$MPROC_TEST_IPC} >"$tmp/out" 2>"$tmp/err" &
    host=$!
    sleep 1
}

# alive PID: the process exists and is not a zombie.  (An orphaned zombie
# stays until PID 1 reaps it, which is out of our hands.)
alive() {
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}

for sig in INT TERM; do
    start_host
    kill -$sig $host
    # The host must end promptly; wait at most 10 s.
    n=0
    while kill -0 $host 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    kill -0 $host 2>/dev/null
    ok $((! $?)) "SIG$sig: the host ends within seconds"
    wait $host
    st=$?
    is "$st" 130 "SIG$sig: exit 130"
    like "$(cat "$tmp/err")" "interrupted by SIG$sig" "SIG$sig: says so"
    done_n=$(grep -c '^slept 25$' "$tmp/out")
    [ "$done_n" -gt 0 ] && [ "$done_n" -lt 400 ]
    ok $? "SIG$sig: the output so far was flushed ($done_n items)"
    is "$(grep -vc '^slept 25$' "$tmp/out")" 0 "SIG$sig: and holds only whole results"
    no_leftovers "SIG$sig: no worker left"
done

# SIGKILL of the host: nobody can clean up but the kernel; the workers
# asked it (PR_SET_PDEATHSIG) to end them too.
start_host
workers=$(children $host | tr '\n' ' ')
[ -n "$workers" ]
ok $? "the host has workers ($workers)"
kill -KILL $host
wait $host 2>/dev/null
sleep 1
left=
for w in $workers; do alive "$w" && left="$left $w"; done
is "$left" "" "SIGKILL of the host: its workers are gone within a second"

no_leftovers
done_testing

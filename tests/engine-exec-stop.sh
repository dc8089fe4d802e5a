#!/bin/sh
# SPDX-License-Identifier: MIT
# A stopped exec run leaves nothing running (issue 10.7): with a time
# limit, with on_error = abort, and with SIGTERM or SIGINT to mproc, the
# commands and their children (a background job of the shell included)
# are ended, under every start method.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# Sleeps that this test alone runs, found by their command lines.
a=31$$
b=32$$
leftover() {
    { matching "sleep $a"; matching "sleep $b"; } | tr '\n' ' '
}
cleanup() {
    for p in $(leftover); do kill -9 "$p" 2>/dev/null; done
}
# The failing item first: with ordered output a failure is acted on when
# it is delivered.
printf 'fail\nx\ny\n' >"$tmp/items.txt"
printf '[job]\nplugin = exec\ninput = lines:items.txt\n[pool]\nworkers = 2\n[args]\ncommand = case "$1" in fail) sleep 0.3; exit 3;; esac; sleep %s & sleep %s\n' \
    "$a" "$b" >"$tmp/exec.ini"

seq 1 6 >"$tmp/six.txt"
printf '[job]\nplugin = exec\ninput = lines:six.txt\n[pool]\nworkers = 2\n[args]\ncommand = sleep %s & sleep %s\n' \
    "$a" "$b" >"$tmp/many.ini"

for sm in fork spawn forkserver; do
    set -- --set pool.start_method=$sm \
        ${MPROC_TEST_IPC:+--set pool.ipc=$MPROC_TEST_IPC}
    run_mproc run "$tmp/exec.ini" "$@" --set job.timeout=1 \
        --set job.timeout_grace=0.5
    is "$st" 1 "$sm, timeout: exit 1"
    like "$err" "timed out after 1s" "$sm, timeout: said"
    sleep 0.2
    is "$(leftover)" "" "$sm, timeout: no command or child of it left"
    cleanup

    # More items than workers, each timing out: a worker whose command
    # caught the soft limit lives on, doomed; it must still end so that a
    # fresh one takes the next items (it used to wait for a task for ever).
    timeout 60 "$bin" run "$tmp/many.ini" "$@" --set job.timeout=0.3 \
        --set job.timeout_grace=0.5 >"$tmp/out" 2>"$tmp/err"
    st=$?
    is "$st" 1 "$sm, 6 items timing out on 2 workers: the run ends (exit 1)"
    is "$(grep -c 'timed out after 0.3s' "$tmp/err")" 6 \
        "$sm, 6 items timing out: each one said"
    sleep 0.2
    is "$(leftover)" "" "$sm, 6 items timing out: nothing left"
    cleanup

    run_mproc run "$tmp/exec.ini" "$@" --set job.on_error=abort
    is "$st" 1 "$sm, on_error = abort: exit 1"
    sleep 0.2
    is "$(leftover)" "" "$sm, on_error = abort: nothing left"
    cleanup

    for sig in TERM INT; do
        "$bin" run "$tmp/exec.ini" "$@" >"$tmp/out" 2>"$tmp/err" &
        host=$!
        n=0
        while [ -z "$(matching "sleep $b")" ] && [ $n -lt 100 ]; do
            sleep 0.1; n=$((n + 1))
        done
        kill -$sig $host
        wait $host
        is "$?" 130 "$sm, SIG$sig to mproc: exit 130"
        sleep 0.2
        is "$(leftover)" "" "$sm, SIG$sig to mproc: nothing left"
        cleanup
    done

    # More items than workers: the tasks queued behind the running ones
    # must not start once the run is told to stop (they did, and were
    # SIGKILLed 2 s later, unlogged).
    for sig in INT TERM HUP; do
        rm -rf "$tmp/started"; mkdir "$tmp/started"
        printf '[job]\nplugin = exec\ninput = lines:six.txt\n[pool]\nworkers = 2\n[args]\ncommand = touch %s/started/$1; sleep %s\n' \
            "$tmp" "$a" >"$tmp/queued.ini"
        "$bin" run "$tmp/queued.ini" "$@" >"$tmp/out" 2>"$tmp/err" &
        host=$!
        n=0
        while [ "$(ls "$tmp/started" | wc -l)" -lt 2 ] && [ $n -lt 100 ]; do
            sleep 0.1; n=$((n + 1))
        done
        kill -$sig $host
        wait $host
        is "$?" 130 "$sm, SIG$sig with tasks queued: exit 130"
        sleep 0.5
        is "$(ls "$tmp/started" | wc -l | tr -d ' ')" 2 \
            "$sm, SIG$sig with tasks queued: none of them started"
        # The 2 running were cut short by the stop (not failures of
        # theirs: a resume runs them), the 4 queued never ran.
        like "$(cat "$tmp/err")" "0 failed, 6 not run" \
            "$sm, SIG$sig with tasks queued: said not run"
        like "$(cat "$tmp/err")" "stopped with the run while it ran" \
            "$sm, SIG$sig with tasks queued: the running ones said cut short"
        is "$(leftover)" "" "$sm, SIG$sig with tasks queued: nothing left"
        cleanup
    done
done

# A stop gives a command timeout_grace to clean up, as a time limit does
# (mproc(1)): its TERM trap ran 0.75 s at most whatever the grace, while
# the workers were said to have 2 s (an operator's pass, 2026-12-01).
printf 'a\n' >"$tmp/one.txt"
printf '[job]\nplugin = exec\ninput = lines:one.txt\n[pool]\nworkers = 1\n[args]\ncommand = trap "sleep 1.2; echo cleaned >%s/cleaned; exit 1" TERM; touch %s/up; sleep %s & wait\n' \
    "$tmp" "$tmp" "$a" >"$tmp/trap.ini"
for grace in 3 0.5; do
    rm -f "$tmp/cleaned" "$tmp/up"
    "$bin" run "$tmp/trap.ini" --set job.timeout_grace=$grace \
        >"$tmp/out" 2>"$tmp/err" &
    host=$!
    n=0
    while [ ! -e "$tmp/up" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    kill -INT $host
    wait $host
    is "$?" 130 "timeout_grace=$grace, SIGINT: exit 130"
    if [ "$grace" = 3 ]; then
        is "$(cat "$tmp/cleaned" 2>/dev/null)" "cleaned" \
            "timeout_grace=3: the command's 1.2 s clean-up ran"
    else
        ok $([ ! -e "$tmp/cleaned" ]; echo $?) \
            "timeout_grace=0.5: the command was killed before its clean-up"
        like "$(cat "$tmp/err")" "command killed by SIGKILL" "and it is said"
    fi
    sleep 0.2
    is "$(leftover)" "" "timeout_grace=$grace: nothing left"
    cleanup
done

no_leftovers
done_testing

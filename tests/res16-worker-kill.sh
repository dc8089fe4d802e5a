#!/bin/sh
# SPDX-License-Identifier: MIT
# A worker killed with SIGKILL by someone else (an operator, the OOM
# killer) fails its item as "killed by SIGKILL", and a resume runs it.
# The pool used to add "(by the pool: it closed its channel to the host;
# does the plugin close descriptors it does not own?)": the end of the
# channel, which every exiting process closes, was taken for a plugin's
# doing, and the pool's own SIGKILL (to a worker already dead) for the
# cause.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'sleep:3000\nsleep:3000\n' >"$tmp/in.txt"
for ipc in pipe mq shmring; do
    cat >"$tmp/k.ini" <<INI
[job]
plugin = fault
input = lines:in.txt
output = out.txt
[pool]
workers = 2
ipc = $ipc
INI
    rm -f "$tmp/log" "$tmp/out.txt"
    # children() reads /proc (lib.sh): a bare Debian root has no pgrep.
    timeout -k 5 60 "$bin" run "$tmp/k.ini" -q --joblog "$tmp/log" \
        2>"$tmp/err" &
    t=$!
    host= n=0
    while [ $n -lt 100 ]; do  # both workers up, then a little more
        host=$(children $t | head -n 1)
        [ -n "$host" ] && [ "$(children "$host" | wc -l)" -ge 2 ] && break
        sleep 0.1; n=$((n + 1))
    done
    sleep 1
    w=$(children "$host" | head -n 1)
    kill -9 $w
    wait $t
    st=$?
    err=$(cat "$tmp/err")
    is "$st" 1 "$ipc: a worker killed from outside: its item fails (exit 1)"
    like "$err" "worker $w killed by SIGKILL" "$ipc: the failure says how it died"
    unlike "$err" "by the pool" "$ipc: the failure does not blame the pool or the plugin"
    run_mproc run "$tmp/k.ini" -q --joblog "$tmp/log" --resume
    is "$st" 0 "$ipc: --resume runs the killed item again (exit 0)"
    is "$(cat "$tmp/out.txt")" "$(printf 'slept 3000\nslept 3000')" \
        "$ipc: --resume: both outputs"
done
no_leftovers
done_testing

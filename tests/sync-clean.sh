#!/bin/sh
# SPDX-License-Identifier: MIT
# `mproc clean` (issue 10.9): a host killed with SIGKILL under sync = sysv
# leaves its System V semaphore set; `mproc clean` removes the sets whose
# creator is dead, says how many, lists them with --dry-run, and leaves a
# live creator's set alone.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

i=0
while [ $i -lt 200 ]; do echo "sleep:50"; i=$((i + 1)); done >"$tmp/items.txt"
printf '[job]\nplugin = fault\ninput = lines:items.txt\n[pool]\nworkers = 1\nsync = sysv\n[lock:output]\n' \
    >"$tmp/sysv.ini"

# set_of PID: the id of the mproc semaphore set PID created, if any.  The
# last three semaphores of a set hold a marker and the creator's pid in
# two 15-bit halves (framework/sync/sync.c).
set_of() {
    for id in $(awk 'NR > 1 && $4 == 250 { print $2 }' /proc/sysvipc/sem); do
        ipcs -s -i "$id" 2>/dev/null | awk -v id="$id" -v want="$1" '
            $1 == 247 { mark = $2 } $1 == 248 { hi = $2 } $1 == 249 { lo = $2 }
            END { if (mark == 28016 && hi * 32768 + lo == want) print id }'
    done
}

# start_host: a host with a sysv arena, in the background; its pid in
# $host, its set in $set (waits up to 10 s for it).
start_host() {
    "$bin" run "$tmp/sysv.ini" >/dev/null 2>&1 &
    host=$!
    set=
    n=0
    while [ -z "$set" ] && [ $n -lt 100 ]; do
        sleep 0.1
        set=$(set_of $host)
        n=$((n + 1))
    done
}

start_host
dead=$host
dead_set=$set
ok $([ -n "$dead_set" ]; echo $?) "a sysv host owns a semaphore set ($dead_set)"
start_host
live=$host
live_set=$set
ok $([ -n "$live_set" ]; echo $?) "a second sysv host owns another ($live_set)"

kill -9 $dead
wait $dead 2>/dev/null
sleep 0.3 # its workers die with it
# Another sysv arena created meanwhile (a test running beside this one)
# may sweep the set at any time from here on: then there is nothing left
# to list or remove, and those checks are skipped.
if ipcs -s | grep -qw "$dead_set"; then
    ok 0 "kill -9 of the host leaves its set (ipcs -s)"
else
    ok 0 "kill -9 of the host leaves its set # SKIP swept meanwhile"
fi

run_mproc clean --dry-run
is "$st" 0 "clean --dry-run: exit 0"
if ipcs -s | grep -qw "$dead_set"; then
    like "$(cat "$tmp/out")" "would remove semaphore set $dead_set (creator pid $dead, dead)" \
        "clean --dry-run: lists the dead host's set"
else
    ok 0 "clean --dry-run: lists the dead host's set # SKIP swept meanwhile"
fi
unlike "$(cat "$tmp/out")" "removed semaphore set" "clean --dry-run: removes nothing"
like "$(cat "$tmp/out")" "found " "clean --dry-run: says how many it found"
unlike "$(cat "$tmp/out")" "set $live_set " "clean --dry-run: not the live host's set"

run_mproc clean
is "$st" 0 "clean: exit 0"
like "$(cat "$tmp/out")" "removed " "clean: says how many it removed"
ipcs -s | grep -qw "$dead_set"
ok $((! $?)) "clean: the dead host's set is gone (ipcs -s)"
ipcs -s | grep -qw "$live_set"
ok $? "clean: the live host's set is left alone"
unlike "$(cat "$tmp/out")" "set $live_set " "clean: and not named"

run_mproc help clean
like "$(cat "$tmp/out")" "Usage: mproc clean [--dry-run]" "help clean: shows its usage"

run_mproc clean --bogus
is "$st" 64 "clean: an unknown option is a usage error"

# The live host ends normally and removes its own set.
kill -TERM $live
wait $live 2>/dev/null
n=0
while ipcs -s | grep -qw "$live_set" && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
ipcs -s | grep -qw "$live_set"
ok $((! $?)) "a host stopped with SIGTERM removes its own set"

done_testing

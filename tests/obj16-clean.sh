#!/bin/sh
# SPDX-License-Identifier: MIT
# `mproc clean` removes a named shared memory block whose creator was
# SIGKILLed (issue 16.5), lists it with --dry-run, and leaves a live
# creator's block alone.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

helper=${MPROC_BUILDDIR:?}/tests/test-shm
dead=mproc-test-clean-dead-$$
live=mproc-test-clean-live-$$

# start NAME: a creator of NAME in the background ($creator), ready.
start() {
    "$helper" helper-create "$1" >"$tmp/ready.$1" 2>&1 &
    creator=$!
    n=0
    until grep -q ready "$tmp/ready.$1" || [ $n -ge 100 ]; do
        sleep 0.1
        n=$((n + 1))
    done
}

start "$dead"
dead_pid=$creator
start "$live"
live_pid=$creator
ok $([ -e "/dev/shm/$dead" ] && [ -e "/dev/shm/$live" ]; echo $?) \
    "two creators made their blocks"
kill -9 "$dead_pid"
wait "$dead_pid" 2>/dev/null
ok $([ -e "/dev/shm/$dead" ]; echo $?) "kill -9 of a creator leaves its block"

run_mproc clean --dry-run
is "$st" 0 "clean --dry-run: exit 0"
like "$(cat "$tmp/out")" "would remove shared memory $dead (creator pid $dead_pid, dead)" \
    "clean --dry-run: lists the dead creator's block"
unlike "$(cat "$tmp/out")" "$live" "clean --dry-run: not the live one's"
ok $([ -e "/dev/shm/$dead" ]; echo $?) "clean --dry-run: removes nothing"

run_mproc clean
is "$st" 0 "clean: exit 0"
like "$(cat "$tmp/out")" "removed shared memory $dead" "clean: names it"
like "$(cat "$tmp/out")" "shared memory block" "clean: says how many"
ok $([ ! -e "/dev/shm/$dead" ]; echo $?) "clean: the block is gone"
ok $([ -e "/dev/shm/$live" ]; echo $?) "clean: the live creator's block stays"

kill "$live_pid"
wait "$live_pid" 2>/dev/null
run_mproc clean
ok $([ ! -e "/dev/shm/$live" ]; echo $?) "... and goes once its creator is gone"

# /dev/shm full: creating a block it cannot hold fails with ENOSPC and
# leaves no name (it returned a block whose first touch was SIGBUS, and a
# small one crashed the call itself).  In a private mount namespace, as
# root; skipped where that is not possible.
if unshare -m true 2>/dev/null; then
    for size in 1000 1000000; do
        unshare -m sh -c "mount -t tmpfs -o size=32k tmpfs /dev/shm &&
            \"$helper\" helper-create-once full-$$ 40000 >$tmp/full.out 2>&1
            echo \$? >$tmp/full.st; ls /dev/shm >$tmp/full.ls;
            \"$helper\" helper-create-once fits-$$ $size >$tmp/fits.out 2>&1"
        is "$(cat "$tmp/full.st")" 1 "/dev/shm of 32 KiB, a 40 KB block: refused, no crash"
        like "$(cat "$tmp/full.out")" "error shared memory full-$$: 40000 bytes: No space left on device (/dev/shm is full, or smaller)" \
            "says why"
        is "$(cat "$tmp/full.ls")" "" "and leaves no name behind"
        if [ "$size" -le 32000 ]; then want=created; else want="No space left"; fi
        like "$(cat "$tmp/fits.out")" "$want" "a block of $size bytes: $want"
    done
else
    for i in 1 2 3 4 5 6 7 8; do
        ok 0 "# SKIP unshare -m: not permitted here"
    done
fi

done_testing

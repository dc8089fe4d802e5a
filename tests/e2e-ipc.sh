#!/bin/sh
# SPDX-License-Identifier: MIT
# IPC backends end to end: every shipped job that runs without special
# input gives byte-identical output and the same exit status with
# pool.ipc=mq and =shmring as with pipe, under each start method; large
# items and outputs cross every backend whole; nothing is left in
# /dev/mqueue or /dev/shm and no process is left behind.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

cp -R "$srcdir/conf" "$tmp/conf"
chmod -R u+w "$tmp/conf"

for ini in "$tmp"/conf/*.ini; do
    name=conf/${ini##*/}
    run_mproc run "$ini" --set pool.ipc=pipe </dev/null
    case $st in
    0|1) ;;
    *) echo "# $name: skipped (exit $st: needs special input)"; continue ;;
    esac
    pst=$st
    cp "$tmp/out" "$tmp/out.pipe"
    for ipc in mq shmring; do
        for m in fork spawn forkserver; do
            run_mproc run "$ini" --set pool.ipc=$ipc \
                --set pool.start_method=$m </dev/null
            is "$st" "$pst" "$name: exit status with $ipc ($m) as with pipe"
            cmp -s "$tmp/out" "$tmp/out.pipe"
            ok $? "$name: output with $ipc ($m) byte-identical to pipe"
        done
    done
    no_leftovers "$name: no process left behind"
done

# Items and outputs far larger than a pipe's buffer, a queue's message or
# a ring: 1 MiB and 3 MiB lines, and 20,000 small ones in chunks.
awk 'BEGIN { for (i = 0; i < 3; i++) { s = sprintf("%c", 97 + i);
    n = (i + 1) * 1048576; while (length(s) < n) s = s s;
    print substr(s, 1, n) } }' >"$tmp/big.txt"
seq 1 20000 >>"$tmp/big.txt"
printf '[job]\nplugin = echo\ninput = lines:big.txt\n' >"$tmp/big.ini"
for ipc in pipe mq shmring; do
    run_mproc run "$tmp/big.ini" --set pool.ipc=$ipc --set job.chunksize=16
    is "$st" 0 "big items with $ipc: exit 0"
    cmp -s "$tmp/out" "$tmp/big.txt"
    ok $? "big items with $ipc: every byte back, in order"
done
run_mproc run "$tmp/big.ini" --set pool.ipc=shmring --set job.message_max=2M
is "$st" 1 "an item over message_max with shmring: exit 1"
like "$err" "item 2 \"ccc" "an item over message_max: named"
like "$err" "more than message_max (2097152)" "an item over message_max: says the limit"

no_leftovers "ipc: no process left behind"
done_testing

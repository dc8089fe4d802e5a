#!/bin/sh
# SPDX-License-Identifier: MIT
# Results in batches (issue 13.1): at chunksize 1 a worker is sent many
# items at once and answers them in batches, holding finished results
# back while it runs the next tiny task.  A worker that dies in the
# middle of a batch costs the item it was running and nothing else:
# every other item is done exactly once (the fault plugin's [args] runs
# file counts each run), in order; and a time limit still applies to the
# one item that hangs among tiny ones.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# once FILE N: every index 0..N-1 in FILE exactly once.
once() {
    sort -n "$1" | uniq -c | awk -v n="$2" '
        $1 != 1 { bad++ } { seen++ }
        END { exit !(bad == 0 && seen == n) }'
}

n=2000
{
    i=0
    while [ $i -lt $n ]; do
        case $i in
        500) echo segv ;;
        1201) echo "exit:3" ;;
        *) echo "i$i" ;;
        esac
        i=$((i + 1))
    done
} >"$tmp/items.txt"
grep -v -e segv -e exit: "$tmp/items.txt" >"$tmp/want"

for ipc in pipe mq shmring; do
    rm -f "$tmp/runs"
    printf '[job]\nplugin = fault\ninput = lines:%s\nchunksize = 1\n[pool]\nworkers = 2\nipc = %s\n[args]\nruns = %s\n' \
        "$tmp/items.txt" "$ipc" "$tmp/runs" >"$tmp/die.ini"
    run_mproc run "$tmp/die.ini"
    is "$st" 1 "$ipc: workers die mid-batch: exit 1"
    like "$err" 'item 500 "segv": worker ' "$ipc: the segv item fails"
    like "$err" 'item 1201 "exit:3": worker ' "$ipc: the exit item fails"
    like "$err" "2 of $n items failed" "$ipc: and no other"
    cmp -s "$tmp/out" "$tmp/want"
    ok $? "$ipc: every other item done, in order"
    once "$tmp/runs" $n
    ok $? "$ipc: every item ran exactly once"
done

# A hang among tiny items, with a time limit: the hang times out, and
# only it (its neighbours' results were held back with it).
m=1000
{
    i=0
    while [ $i -lt $m ]; do
        if [ $i = 300 ]; then echo hang; else echo "i$i"; fi
        i=$((i + 1))
    done
} >"$tmp/items.txt"
grep -v hang "$tmp/items.txt" >"$tmp/want"
for ipc in pipe shmring; do
    rm -f "$tmp/runs"
    printf '[job]\nplugin = fault\ninput = lines:%s\nchunksize = 1\ntimeout = 1\ntimeout_grace = 0\n[pool]\nworkers = 2\nipc = %s\n[args]\nruns = %s\n' \
        "$tmp/items.txt" "$ipc" "$tmp/runs" >"$tmp/hang.ini"
    run_mproc run "$tmp/hang.ini"
    is "$st" 1 "$ipc: a hang among tiny items: exit 1"
    like "$err" 'item 300 "hang": timed out after 1s' \
        "$ipc: the hang item times out"
    like "$err" "1 of $m items failed" "$ipc: and no other"
    cmp -s "$tmp/out" "$tmp/want"
    ok $? "$ipc: every other item done, in order"
    once "$tmp/runs" $m
    ok $? "$ipc: every item ran exactly once"
done

no_leftovers
done_testing

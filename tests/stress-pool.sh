#!/bin/sh
# SPDX-License-Identifier: MIT
# Stress (issue 12): workers are SIGKILLed at random moments during runs,
# on every IPC backend (and each start method once).  Every item has
# exactly one result, ok or failed with its name; an item runs at most once
# per attempt (with retries = 1, twice when its first attempt's worker was
# killed); the run never hangs; nothing is left.
# Bounded: about 3 s per backend, 15 s at most.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

plugin=${MPROC_TEST_PLUGINS:?}/engine.so
items=600
i=0
while [ $i -lt $items ]; do echo "i$i"; i=$((i + 1)); done >"$tmp/items.txt"
printf '[job]\nplugin = %s\ntask = mark\ninput = lines:items.txt\nchunksize = 2\n[pool]\nworkers = 3\n[args]\nmarks = %s\nmark_ms = 8\n' \
    "$plugin" "$tmp/marks" >"$tmp/stress.ini"

rand() {  # rand N: 0 <= r < N
    echo $(( $(od -An -N2 -tu2 /dev/urandom) % $1 ))
}
# workers HOST: its children that are workers: each leads its own process
# group (the forkserver, also a child, does not).  The kernel's list of
# children is quick; lib.sh's children() reads all of /proc, too slow to
# kill often.
workers() {
    kids=$(cat /proc/"$1"/task/*/children 2>/dev/null) ||
        kids=$(children "$1")
    for c in $kids; do
        # Fields after the ")" that ends the command name: state, ppid, pgrp.
        { sed -n 's/^.*) [A-Z] [0-9]* \([0-9]*\) .*/\1/p' "/proc/$c/stat"; } \
            2>/dev/null | grep -qx "$c" && echo "$c"
    done
}

for case in pipe:fork:0 mq:spawn:1 shmring:forkserver:0; do
    ipc=${case%%:*}
    sm=${case#*:}
    retries=${sm#*:}
    sm=${sm%:*}
    rm -f "$tmp/marks" "$tmp/log"
    "$bin" run "$tmp/stress.ini" --set pool.ipc=$ipc \
        --set pool.start_method=$sm --set job.retries=$retries \
        --joblog "$tmp/log" \
        >"$tmp/out" 2>"$tmp/err" &
    host=$!
    kills=0
    # Kill a random worker every 20-100 ms, for as long as the run lasts
    # (about 2 s; at most 15 s).
    end=$(( $(date +%s) + 15 ))
    while kill -0 $host 2>/dev/null && [ "$(date +%s)" -lt $end ]; do
        sleep "0.0$(( $(rand 8) + 2 ))"
        set -- $(workers $host)
        [ $# -gt 0 ] || continue
        shift "$(rand $#)"
        kill -KILL "$1" 2>/dev/null && kills=$((kills + 1))
    done
    kill -0 $host 2>/dev/null
    ok $((! $?)) "$case: the run ended within 15 s"
    kill -KILL $host 2>/dev/null
    wait $host
    st=$?
    ok $([ "$st" -eq 0 ] || [ "$st" -eq 1 ]; echo $?) \
        "$case: the run ends with 0 or 1 (got $st) after $kills kills"
    # The joblog has one line per item: index, ..., status, exit,
    # attempts, item.
    is "$(awk -F'\t' 'NR > 1 { print $1 }' "$tmp/log" | sort -n | uniq |
        wc -l)" $items "$case: every item has a result"
    is "$(awk -F'\t' 'NR > 1' "$tmp/log" | wc -l)" $items \
        "$case: and only one"
    failed=$(awk -F'\t' 'NR > 1 && $5 != "ok"' "$tmp/log" | wc -l)
    is "$(grep -c '^i' "$tmp/out")" $((items - failed)) \
        "$case: every ok item is in the output ($failed failed)"
    is "$(grep -c '^mproc: item [0-9]* "i[0-9]*": ' "$tmp/err")" "$failed" \
        "$case: every failed item is named"
    # Runs per item (the marks) against its attempts: never more.
    sort "$tmp/marks" | uniq -c | awk '{ print $2, $1 }' >"$tmp/runs"
    awk -F'\t' 'NR > 1 { print $8, $7, $5 }' "$tmp/log" | sort >"$tmp/att"
    bad=$(join -a 1 "$tmp/att" "$tmp/runs" |
        awk '{ r = NF > 3 ? $4 : 0 }
             r > $2 || ($3 == "ok" && r < 1) { print }')
    is "$bad" "" "$case: no item ran more often than its attempts"
    no_leftovers "$case: nothing left"
done
done_testing

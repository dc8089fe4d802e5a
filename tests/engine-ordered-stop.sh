#!/bin/sh
# SPDX-License-Identifier: MIT
# An ordered run stopped by a signal writes a prefix of the input order,
# and a resume with its job log appends the rest, byte for byte a clean
# run's.  It did not: the results finished after an item that the stop
# cut short (a slow one still running) were written past the gap, and the
# resume filled the gap at the end.  The same holds for a prefix of the
# job log: nothing is logged past the gap.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

slow=43$$ # a sleep this test alone runs, found by its command line
seq 1 40 >"$tmp/items.txt"
# Item 3 is slow while $tmp/slow exists: at the stop it is still running
# and every later item is done, waiting for its turn.
printf '[job]\nplugin = exec\ninput = lines:items.txt\noutput = out.txt\n[pool]\nworkers = 2\n[args]\ncommand = [ "$1" = 3 ] && [ -e %s/slow ] && sleep %s; echo "$1"\n' \
    "$tmp" "$slow" >"$tmp/job.ini"

for sm in fork spawn; do
    for sig in INT TERM; do
        set -- --set pool.start_method=$sm \
            ${MPROC_TEST_IPC:+--set pool.ipc=$MPROC_TEST_IPC}
        rm -f "$tmp/out.txt" "$tmp/log"
        touch "$tmp/slow"
        timeout 60 "$bin" run "$tmp/job.ini" --joblog "$tmp/log" "$@" \
            >/dev/null 2>"$tmp/err" &
        host=$!
        # Wait until the slow item runs and the others are all done (the
        # log says nothing yet: they wait behind item 3).
        n=0
        while [ -z "$(matching "sleep $slow")" ] && [ $n -lt 100 ]; do
            sleep 0.1; n=$((n + 1))
        done
        sleep 1
        kill -$sig $host
        wait $host
        is "$?" 130 "$sm, SIG$sig: exit 130"
        is "$(cat "$tmp/out.txt")" "$(seq 1 2)" \
            "$sm, SIG$sig: the output is the prefix before the cut item"
        is "$(awk -F'\t' 'NR > 1 && $5 == "ok" { print $8 }' "$tmp/log" | tr '\n' ' ')" \
            "1 2 " "$sm, SIG$sig: the log holds the prefix only"
        rm -f "$tmp/slow"
        timeout 60 "$bin" run "$tmp/job.ini" --joblog "$tmp/log" --resume \
            "$@" >/dev/null 2>"$tmp/err2"
        is "$?" 0 "$sm, SIG$sig: the resume succeeds"
        is "$(cat "$tmp/out.txt")" "$(seq 1 40)" \
            "$sm, SIG$sig: resumed output is a clean run's, in order"
    done
done

no_leftovers
done_testing

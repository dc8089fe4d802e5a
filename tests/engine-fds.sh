#!/bin/sh
# SPDX-License-Identifier: MIT
# What a worker gets, under every start method: no descriptor of the
# host's input, output or job log, and a command the exec plugin runs gets
# exactly 0, 1 and 2 (issue 10.3); a NUL byte after every item a task is
# given (issue 11.8).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

plugin=${MPROC_TEST_PLUGINS:?}/engine.so
printf 'a\nb\n' >"$tmp/items.txt"
printf '[job]\nplugin = %s\ntask = fds\ninput = lines:items.txt\noutput = %s\n[pool]\nworkers = 1\n' \
    "$plugin" "$tmp/result.txt" >"$tmp/fds.ini"
printf '[job]\nplugin = exec\ninput = lines:items.txt\noutput = %s\n[pool]\nworkers = 1\n[args]\ncommand = ls -l /proc/self/fd\n' \
    "$tmp/result.txt" >"$tmp/ls.ini"

for sm in fork spawn forkserver; do
    set -- --set pool.start_method=$sm --joblog "$tmp/log"
    run_mproc run "$tmp/fds.ini" "$@"
    is "$st" 0 "$sm: a plugin lists its descriptors: exit 0"
    # Lines "FD TARGET": none of the run's files, stdin not the host's.
    unlike "$(cat "$tmp/result.txt")" "$tmp/result.txt" \
        "$sm: the worker does not hold the run's output"
    unlike "$(cat "$tmp/result.txt")" "$tmp/log" \
        "$sm: nor its job log"
    unlike "$(cat "$tmp/result.txt")" "$tmp/items.txt" \
        "$sm: nor its input"
    like "$(grep '^0 ' "$tmp/result.txt" | head -1)" "/dev/null" \
        "$sm: the worker's stdin is /dev/null"
    is "$(awk '$1 > 2' "$tmp/result.txt" | grep -vc -e pipe: -e memfd: \
            -e /dev/mqueue -e anon_inode: -e /dev/shm)" 0 \
        "$sm: beyond 0, 1, 2 only its channels and arena"

    run_mproc run "$tmp/ls.ini" "$@"
    is "$st" 0 "$sm: exec ls -l /proc/self/fd: exit 0"
    # The descriptors, but the one ls reads the listing through.
    fds=$(awk '/ -> / && $NF !~ /^\/proc\/[0-9]+\/fd$/ { print $(NF - 2) }' \
        "$tmp/result.txt" | sort -u | tr '\n' ' ')
    is "$fds" "0 1 2 " "$sm: an exec command gets exactly 0, 1 and 2"
    unlike "$(cat "$tmp/result.txt")" "$tmp/result.txt" \
        "$sm: and not the run's output"
    unlike "$(cat "$tmp/result.txt")" "$tmp/log" "$sm: nor its job log"
done

printf 'a\nbb\n\nccc\ndddd\n0123456789\nx\n' >"$tmp/nul.txt"
printf '[job]\nplugin = %s\ntask = nul\ninput = lines:nul.txt\nchunksize = 3\n[pool]\nworkers = 2\n' \
    "$plugin" >"$tmp/nul.ini"
for sm in fork spawn forkserver; do
    run_mproc run "$tmp/nul.ini" --set pool.start_method=$sm
    is "$st" 0 "$sm: every task finds a NUL after its item (chunks of 3)"
    is "$(grep -c '^nul ok' "$tmp/out")" 7 "$sm: all 7 items"
done

no_leftovers
done_testing

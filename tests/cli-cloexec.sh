#!/bin/sh
# SPDX-License-Identifier: MIT
# Every file the host opens (job file, input, output, job log) is
# CLOEXEC: a command the exec plugin runs sees none of them (issue 10.3,
# the host's part; workers closing what they inherit by fork is the
# engine's).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'a\nb\n' >"$tmp/items.txt"
cat >"$tmp/fds.ini" <<INI
[job]
plugin = exec
input = lines:$tmp/items.txt
output = $tmp/out.txt
[pool]
workers = 1
[args]
command = for f in /proc/self/fd/*; do readlink "\$f"; done; true
INI
for sm in fork spawn; do
    rm -f "$tmp/out.txt" "$tmp/log"
    run_mproc run "$tmp/fds.ini" --joblog "$tmp/log" --set pool.start_method=$sm
    is "$st" 0 "$sm: the run succeeds"
    for f in out.txt log items.txt fds.ini; do
        unlike "$(cat "$tmp/out.txt")" "$tmp/$f" \
            "$sm: an exec'd command does not hold the host's $f"
    done
done
# Resumed: the log is opened twice (read, then appended to).
run_mproc run "$tmp/fds.ini" --joblog "$tmp/log" --resume
is "$st" 0 "resume: the run succeeds"
printf 'c\n' >>"$tmp/items.txt"
run_mproc run "$tmp/fds.ini" --joblog "$tmp/log" --resume
unlike "$(tail -n 3 "$tmp/out.txt")" "$tmp/log" \
    "resume: an exec'd command does not hold the job log"
no_leftovers
done_testing

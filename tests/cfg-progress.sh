#!/bin/sh
# SPDX-License-Identifier: MIT
# Progress that tells how long: --progress writes plain lines (no carriage
# returns or escapes) to a stderr that is not a terminal, with the share
# done and an ETA, for lines: inputs (bytes read of a regular file) and
# files: inputs (a count); without it, a log gets no progress line.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# Items that take a while, so that lines come out mid-run.
seq 1 40 >"$tmp/items.txt"
mkdir "$tmp/files"
for i in $(seq 1 40); do echo "$i" >"$tmp/files/f$i"; done
for input in lines:items.txt files:files; do
    printf '[job]\nplugin = exec\ninput = %s\n[pool]\nworkers = 2\n[args]\ncommand = "sleep 0.05; echo x"\n' \
        "$input" >"$tmp/p.ini"
    MPROC_PROGRESS_INTERVAL=0.1 run_mproc run "$tmp/p.ini" --progress
    is "$st" 0 "$input: exit 0"
    is "$(grep -c x "$tmp/out")" 40 "$input: every item ran"
    lines=$(grep -c '^mproc: [0-9/]* done, ' "$tmp/err")
    [ "$lines" -ge 2 ]
    ok $? "$input: several progress lines ($lines)"
    grep -q ', 0 failed, [0-9]*/s, [0-9]*%\( of the input read\)\?, ETA [0-9]' "$tmp/err"
    ok $? "$input: a percentage and an ETA mid-run"
    like "$err" "/s, 100%" "$input: a last line at 100%"
    tr -d '\r\033' <"$tmp/err" | cmp -s - "$tmp/err"
    ok $? "$input: no carriage return or escape sequence"
done
like "$err" "mproc: 40/40 done, 0 failed" "files: counts the files"
like "$(cat "$tmp/err")" "40 items: 40 succeeded" "and the summary follows"

printf '[job]\nplugin = exec\ninput = lines:items.txt\n[args]\ncommand = "sleep 0.05; echo x"\n' >"$tmp/l.ini"
MPROC_PROGRESS_INTERVAL=0.1 run_mproc run "$tmp/l.ini"
is "$(grep -c 'done' "$tmp/err")" 0 "a log gets no progress line"

# stdin from a regular file has a size too.
printf '[job]\nplugin = exec\n[args]\ncommand = "echo x"\n' >"$tmp/s.ini"
MPROC_PROGRESS_INTERVAL=0 timeout 60 "$bin" run "$tmp/s.ini" --progress \
    <"$tmp/items.txt" >/dev/null 2>"$tmp/err"
grep -q ', 100% of the input read$' "$tmp/err"
ok $? "stdin from a file: the share read"

run_mproc check "$tmp/l.ini" --progress
is "$st" 64 "check --progress: a usage error"

done_testing

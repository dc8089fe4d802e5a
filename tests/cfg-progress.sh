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

# --resume: the items it skips are done, but not part of the rate, nor
# of the ETA (once the skipped counted, 9 skipped of 20 read 9000/s and
# ETA 0s with 11 items still to run).
printf '[job]\nplugin = exec\ninput = lines:items.txt\noutput = out.txt\n[pool]\nworkers = 1\n[args]\ncommand = "sleep 0.1; echo x$1"\n' >"$tmp/r.ini"
seq 1 9 >"$tmp/items.txt"
run_mproc run "$tmp/r.ini" --joblog "$tmp/r.log"
seq 1 20 >"$tmp/items.txt"
MPROC_PROGRESS_INTERVAL=0.3 run_mproc run "$tmp/r.ini" --joblog "$tmp/r.log" \
    --resume --progress
is "$st" 0 "--resume --progress: exit 0"
# The first line once an item of this run is done (on a loaded machine a
# line can come before any, at 0/s: no rate, no ETA yet).
first=$(grep '^mproc: [0-9]* done' "$tmp/err" | awk '$2 > 9' | head -1)
[ -n "$first" ] || first=$(grep '^mproc: [0-9]* done' "$tmp/err" | head -1)
rate=$(printf '%s\n' "$first" | sed -n 's/.* \([0-9]*\)\/s.*/\1/p')
[ -n "$rate" ] && [ "$rate" -le 15 ]
ok $? "--resume: the rate counts the items run, not those skipped ($first)"
case "$first" in
*"ETA 0s"*) ok 1 "--resume: the ETA counts the items left ($first)" ;;
*ETA*) ok 0 "--resume: the ETA counts the items left" ;;
*) ok 1 "--resume: an ETA ($first)" ;;
esac

# On a terminal, the progress line is taken off before a result, a
# failure or a job's stderr goes there: results came out glued to it
# ("...ETA 0sslept 2").
if have_terminal; then
    printf '[job]\nplugin = exec\ninput = range:1..4\n[pool]\nworkers = 1\n[args]\nstderr = after\ncommand = "sleep 0.3; echo slept$1; echo said$1 >&2; [ $1 != 3 ]"\n' >"$tmp/t.ini"
    script -qec "MPROC_WORKER=$MPROC_WORKER timeout 60 $bin run $tmp/t.ini" /dev/null \
        </dev/null >"$tmp/tty" 2>&1
    grep -c 'ETA' "$tmp/tty" >/dev/null
    ok $? "a terminal gets the progress line"
    glued=$(tr '\r' '\n' <"$tmp/tty" | grep -c 'mproc: [0-9/]* done.*\(slept\|said\|failed:\|item\)' || true)
    is "$glued" 0 "and no result, stderr or failure shares its line"
    is "$(tr '\r' '\n' <"$tmp/tty" | sed 's/^\x1b\[K//' | grep -c '^slept[1-4]$')" 4 \
        "each result on a line of its own"
else
    ok 0 "# SKIP no terminal: script(1) or pseudo-terminals missing"
    ok 0 "# SKIP no terminal: script(1) or pseudo-terminals missing"
    ok 0 "# SKIP no terminal: script(1) or pseudo-terminals missing"
fi

# mproc exec --line-buffer writes the jobs' lines from a thread of its
# own as they come: on a terminal they came out glued to the progress
# line ("...ETA 3soutc-1").
if have_terminal; then
    script -qec "MPROC_WORKER=$MPROC_WORKER timeout 60 $bin exec --line-buffer --progress -j2 'for i in 1 2 3; do echo out{}-\$i; sleep 0.3; done' ::: a b c d" /dev/null \
        </dev/null >"$tmp/tty" 2>&1
    glued=$(tr '\r' '\n' <"$tmp/tty" | grep -c 'mproc: [0-9/]* done.*out' || true)
    is "$glued" 0 "exec --line-buffer: no line shares the progress line's"
    is "$(tr '\r' '\n' <"$tmp/tty" | sed 's/^\x1b\[K//' | grep -c '^out[a-d]-[1-3]$')" 12 \
        "exec --line-buffer: each of the 12 lines on a line of its own"
else
    ok 0 "# SKIP no terminal: script(1) or pseudo-terminals missing"
    ok 0 "# SKIP no terminal: script(1) or pseudo-terminals missing"
fi

# The same with stdout to a file: the jobs' stderr lines still go to the
# terminal the progress line is on, and were glued to it (the hold looked
# at stdout only).
if have_terminal; then
    script -qec "MPROC_WORKER=$MPROC_WORKER timeout 60 $bin exec --line-buffer --progress -j2 'for i in 1 2 3; do echo err{}-\$i >&2; sleep 0.3; done' ::: a b c d >$tmp/out" /dev/null \
        </dev/null >"$tmp/tty" 2>&1
    glued=$(tr '\r' '\n' <"$tmp/tty" | grep -c 'mproc: [0-9/]* done.*err' || true)
    is "$glued" 0 "exec --line-buffer, stdout a file: no stderr line shares the progress line's"
    is "$(tr '\r' '\n' <"$tmp/tty" | sed 's/^\x1b\[K//' | grep -c '^err[a-d]-[1-3]$')" 12 \
        "exec --line-buffer, stdout a file: each of the 12 stderr lines on a line of its own"
else
    ok 0 "# SKIP no terminal: script(1) or pseudo-terminals missing"
    ok 0 "# SKIP no terminal: script(1) or pseudo-terminals missing"
fi

# A narrow terminal: the line fits its width.  It was 60-odd columns on
# a 30-column terminal, wrapped, and each redraw left a row behind (an
# operator's pass, 2026-12-01).
if have_terminal; then
    printf '[job]\nplugin = exec\ninput = range:1..6\n[pool]\nworkers = 1\n[args]\ncommand = sleep 0.3\n' >"$tmp/n.ini"
    script -qec "stty cols 30; MPROC_WORKER=$MPROC_WORKER timeout 60 $bin run $tmp/n.ini" /dev/null \
        </dev/null >"$tmp/tty" 2>&1
    lines=$(tr '\r' '\n' <"$tmp/tty" | sed 's/^\x1b\[K//' | grep 'mproc: [0-9/]* done')
    ok $([ -n "$lines" ]; echo $?) "30 columns: a progress line is drawn"
    long=$(printf '%s\n' "$lines" | awk 'length($0) > 29' | head -n 1)
    is "$long" "" "30 columns: every progress line within 29 of them"
else
    ok 0 "# SKIP no terminal: script(1) or pseudo-terminals missing"
    ok 0 "# SKIP no terminal: script(1) or pseudo-terminals missing"
fi

# A value that is not a number of seconds: said, not taken silently.
MPROC_PROGRESS_INTERVAL=abc run_mproc run "$tmp/l.ini" --progress
is "$st" 0 "MPROC_PROGRESS_INTERVAL=abc: the run goes on"
like "$err" "warning: MPROC_PROGRESS_INTERVAL=abc is not a number of seconds" \
    "and says the value is not taken"
MPROC_PROGRESS_INTERVAL=abc run_mproc run "$tmp/l.ini"
unlike "$err" "MPROC_PROGRESS_INTERVAL" "without --progress it is not read"

run_mproc check "$tmp/l.ini" --progress
is "$st" 64 "check --progress: a usage error"

done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# Counts that add up (issue 11.13): after an interruption or an abort,
# succeeded + failed + not run = items where the input's size is known (a
# range, lines of a regular file, files); where it is not (a pipe),
# "not_run" and "items" are null and the text says unknown.  The --stats
# json object is the last line of stderr (11.14).  A range wider than
# INT64_MAX is counted without overflow (11.15).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# json KEY: the value of KEY in the --stats json object of $tmp/err.
json() {
    grep '^{"items": ' "$tmp/err" | tail -n 1 |
        sed -n "s/.*\"$1\": \([^,}]*\).*/\1/p"
}
adds_up() {  # adds_up DESCRIPTION: succeeded + failed + not_run = items
    s=$(json succeeded) f=$(json failed) n=$(json not_run) i=$(json items)
    case "$s,$f,$n,$i" in
    *[!0-9,]*|*,,*|,*|*,)
        ok 1 "$1: succeeded + failed + not run = items"
        echo "#   got: succeeded $s, failed $f, not run $n, items $i" ;;
    *) is "$((s + f + n))" "$i" "$1: succeeded + failed + not run = items" ;;
    esac
}

cat >"$tmp/slow.ini" <<'INI'
[job]
plugin = fault
input = lines:items.txt
output = out.txt
[pool]
workers = 2
INI
i=0
while [ $i -lt 300 ]; do echo "sleep:20"; i=$((i + 1)); done >"$tmp/items.txt"

# ten_outputs: wait (15 s at most) for 10 lines in $tmp/out.txt.
ten_outputs() {
    n=0
    while { [ ! -f "$tmp/out.txt" ] || [ "$(wc -l <"$tmp/out.txt")" -lt 10 ]; } &&
          [ $n -lt 300 ]; do
        sleep 0.05; n=$((n + 1))
    done
}

# interrupt JOB ARGS...: start a run, SIGINT it once it has 10 outputs.
interrupt() {
    rm -f "$tmp/out.txt"
    timeout -k 5 60 "$bin" run "$@" >"$tmp/stdout" 2>"$tmp/err" &
    host=$!
    ten_outputs
    signal_cmd INT $host
    wait $host
    st=$?
    err=$(cat "$tmp/err")
}

interrupt "$tmp/slow.ini" --stats json
is "$st" 130 "lines of a file, interrupted: exit 130"
is "$(json items)" 300 "lines of a file, interrupted: items = the input's 300"
adds_up "lines of a file, interrupted"
like "$(tail -n 1 "$tmp/err")" '{"items": ' \
    "interrupted: the json object is the last line of stderr"
like "$err" "interrupted by SIGINT: " "interrupted: the message comes before it"
like "$err" " not run" "interrupted: the message counts what was not run"
nr=$(json not_run)
like "$err" "failed, $nr not run" "interrupted: the message and the json agree"

interrupt "$tmp/slow.ini" --stats text
like "$(tail -n 1 "$tmp/err")" "mproc: 300 items: " \
    "interrupted, --stats text: 300 items, on the last line"

# Resumed: the items the log says are done are skipped, not "not run".
rm -f "$tmp/log"
interrupt "$tmp/slow.ini" --joblog "$tmp/log"
interrupt "$tmp/slow.ini" --joblog "$tmp/log" --resume --stats json
i=$(json items) k=$(json skipped)
is "$((${i:-0} + ${k:-0}))" 300 "resumed and interrupted: items + skipped = 300"
adds_up "resumed and interrupted"

# A pipe: its size is not known.
cat >"$tmp/stdin.ini" <<'INI'
[job]
plugin = fault
input = stdin
output = out.txt
[pool]
workers = 2
INI
rm -f "$tmp/out.txt"
mkfifo "$tmp/in"
( cat "$tmp/items.txt"; exec sleep 30 ) >"$tmp/in" 2>/dev/null &
writer=$!
timeout -k 5 60 "$bin" run "$tmp/stdin.ini" --stats json <"$tmp/in" \
    >/dev/null 2>"$tmp/err" &
host=$!
ten_outputs
signal_cmd INT $host
wait $host
kill $writer 2>/dev/null
is "$(json not_run)" null "a pipe, interrupted: not_run is null (unknown)"
is "$(json items)" null "a pipe, interrupted: items is null (unknown)"
like "$(cat "$tmp/err")" "not run: unknown (stdin has no known size)" \
    "a pipe, interrupted: the message says it is unknown"

# on_error = abort over a range: the rest of the range is not run.
cat >"$tmp/abort.ini" <<'INI'
[job]
plugin = exec
input = range:1..1000
on_error = abort
[pool]
workers = 2
[args]
command = test "$1" -lt 50
INI
run_mproc run "$tmp/abort.ini" --stats json
is "$st" 1 "abort over a range: exit 1"
is "$(json items)" 1000 "abort over a range: items = 1000"
adds_up "abort over a range"
like "$err" "run aborted after the first failure" "abort: says so"
like "$(tail -n 1 "$tmp/err")" '{"items": ' \
    "abort: the json object is the last line, after the abort message"

# Failures: their lines and the "N of M failed" line come before the json.
printf 'ok\nfail:x\nok\n' >"$tmp/items.txt"
run_mproc run "$tmp/slow.ini" --stats json
is "$st" 1 "a failure: exit 1"
like "$(tail -n 1 "$tmp/err")" '{"items": 3, "succeeded": 2, "failed": 1, "retried": 0, "not_run": 0,' \
    "a failure: the json object is the last line of stderr"
like "$err" "1 of 3 items failed" "a failure: the failure summary is there too"

# A range of 2^64 - 1 numbers, aborted at the first: no overflow.
cat >"$tmp/wide.ini" <<'INI'
[job]
plugin = exec
input = range:-9223372036854775808..9223372036854775806
on_error = abort
[pool]
workers = 1
[args]
command = exit 1
INI
run_mproc run "$tmp/wide.ini" --stats json
is "$st" 1 "a range of 2^64 - 1 numbers, aborted: exit 1"
is "$(json items)" 18446744073709551615 \
    "a range of 2^64 - 1 numbers: items = 18446744073709551615"
no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# --joblog, --resume and --stats: the log has one line per item that ran,
# in the documented format; a run interrupted with SIGINT and resumed with
# the same log gives, together, the output of a clean run with no item
# run twice; a log from another input is refused.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

cat >"$tmp/fault.ini" <<'INI'
[job]
plugin = fault
input = lines:items.txt
output = out.txt
[pool]
workers = 2
INI

# ---- the format ----
printf 'ok\nfail:no\texit:3\na\tb\\c\nsegv\n' >"$tmp/items.txt"
printf 'x%.0s' $(seq 1 100) >>"$tmp/items.txt"; echo >>"$tmp/items.txt"
run_mproc run "$tmp/fault.ini" --joblog "$tmp/log" --set job.message_max=64
is "$st" 1 "joblog run: exit 1"
like "$(head -1 "$tmp/log")" "$(printf 'index\tworker\tstart\tduration\tstatus\texit\tattempts\titem\tmessage\toffset\tlength\tmproc-joblog 2 shard=0/1 mode=contiguous total=5 input=')" \
    "joblog: the header line"
is "$(awk -F'\t' 'NR > 1 { print NF }' "$tmp/log" | sort -u)" 11 \
    "joblog: 11 tab-separated fields on every line"
is "$(awk -F'\t' 'NR > 1 { print $1, $5, $6, $7 }' "$tmp/log" | sort -n | tr '\n' ,)" \
    "0 ok 0 1,1 failed 0 1,2 ok 0 1,3 died -11 1,4 toolarge 0 0," \
    "joblog: index, status, exit, attempts (0: never started)"
is "$(awk -F'\t' '$1 == 2 { print $8 }' "$tmp/log")" 'a\tb\\c' \
    "joblog: the item is escaped"
is "$(awk -F'\t' '$1 == 1 { print $8 "|" $9 }' "$tmp/log")" 'fail:no\texit:3|no\texit:3' \
    "joblog: the failure message is kept, escaped"
like "$(awk -F'\t' '$1 == 3 { print $9 }' "$tmp/log")" "killed by SIGSEGV" \
    "joblog: a death's message"
ok $(awk -F'\t' -v now="$(date +%s)" 'NR > 1 && $5 != "toolarge" && ($2 + 0 <= 0 || $3 < now - 600 ||
    $3 > now + 5 || $4 < 0 || $4 > 60) { bad = 1 } END { exit bad }' "$tmp/log"; echo $?) \
    "joblog: worker pid, start time and duration are plausible"

# ---- --stats ----
printf 'ok\nfail:x\nok\n' >"$tmp/items.txt"
run_mproc run "$tmp/fault.ini" --stats json
is "$st" 1 "--stats json: exit 1"
like "$err" '{"items": 3, "succeeded": 2, "failed": 1, "retried": 0, "not_run": 0, "skipped": 0, "workers": 2, "wall_seconds": ' \
    "--stats json: one object with the counts"
run_mproc run "$tmp/fault.ini" --stats text
like "$err" "mproc: 3 items: 2 succeeded, 1 failed, 0 retries; " "--stats text"
run_mproc run "$tmp/fault.ini"
unlike "$err" "succeeded" "no summary without --stats (stderr is not a terminal)"

# ---- resume after SIGINT ----
i=0; : >"$tmp/items.txt"
while [ $i -lt 120 ]; do echo "sleep:40"; echo "n$i"; i=$((i + 1)); done >>"$tmp/items.txt"
rm -f "$tmp/log"
run_mproc run "$tmp/fault.ini"
cp "$tmp/out.txt" "$tmp/clean.txt"
rm -f "$tmp/out.txt"
timeout -k 5 60 "$bin" run "$tmp/fault.ini" --joblog "$tmp/log" >/dev/null 2>"$tmp/err" &
host=$!
n=0
while { [ ! -f "$tmp/log" ] || [ "$(wc -l <"$tmp/log")" -lt 30 ]; } && [ $n -lt 200 ]; do
    sleep 0.05; n=$((n + 1))
done
signal_cmd INT $host
wait $host
is "$?" 130 "interrupted run: exit 130"
first=$(($(wc -l <"$tmp/out.txt")))
ok $([ "$first" -gt 0 ] && [ "$first" -lt 240 ]; echo $?) \
    "interrupted run: part of the output ($first of 240 lines)"
run_mproc run "$tmp/fault.ini" --joblog "$tmp/log" --resume --stats text
is "$st" 0 "resumed run: exit 0"
like "$err" "skipped (done before)" "resumed run: says how many it skipped"
# Items finished after the first one cut short keep their output, so the
# resumed run fills gaps: compare as sets of lines.
is "$(sort "$tmp/out.txt" | md5sum)" "$(sort "$tmp/clean.txt" | md5sum)" \
    "interrupted + resumed output (appended) holds exactly a clean run's"
is "$(awk -F'\t' 'NR > 1 && $1 != "index" { print $1 }' "$tmp/log" | sort | uniq -d | wc -l)" 0 \
    "no item logged twice: none ran twice"
is "$(awk -F'\t' 'NR > 1 && $5 == "ok" { print $1 }' "$tmp/log" | sort -u | wc -l)" 240 \
    "the log holds every item once, ok"
run_mproc run "$tmp/fault.ini" --joblog "$tmp/log" --resume --stats text
like "$err" "0 items: 0 succeeded, 0 failed, 0 retries, 240 skipped" \
    "resuming a finished run runs nothing"

# Failed items run again on resume; ok ones do not.
printf 'ok\nfail:x\n' >"$tmp/items.txt"
run_mproc run "$tmp/fault.ini" --joblog "$tmp/log"
printf 'ok\nok\n' >"$tmp/items.txt"
run_mproc run "$tmp/fault.ini" --joblog "$tmp/log" --resume --stats text
like "$err" "1 item: 1 succeeded, 0 failed, 0 retries, 1 skipped" \
    "resume: a failed item runs again"

# ---- errors ----
printf 'a\nb\n' >"$tmp/items.txt"
run_mproc run "$tmp/fault.ini" --joblog "$tmp/log"
printf 'c\nd\n' >"$tmp/items.txt"
run_mproc run "$tmp/fault.ini" --joblog "$tmp/log" --resume
is "$st" 78 "resume with a log of another input: exit 78"
like "$err" "joblog $tmp/log: item 0 is not the one logged there" \
    "resume with another input: says so"
head -1 "$tmp/log" >"$tmp/bad.log"; printf '1\t2\n' >>"$tmp/bad.log"
run_mproc run "$tmp/fault.ini" --joblog "$tmp/bad.log" --resume
is "$st" 78 "a malformed joblog: exit 78"
like "$err" "$tmp/bad.log:2: not a joblog line: too few tab-separated fields; expected 11" \
    "a malformed joblog: FILE:LINE and what was expected"
# A line of 11 fields with one that does not parse: the field is named
# (it said "expected 11 tab-separated fields" of a line that had them).
good=$(sed -n 2p "$tmp/log")
badline() {  # badline FIELD VALUE: the log's first line, FIELD replaced
    { head -1 "$tmp/log"
      printf '%s\n' "$good" | BADV=$2 awk -F'\t' -v f="$1" \
          'BEGIN { OFS = "\t" } { $f = ENVIRON["BADV"]; print }'; } \
        >"$tmp/bad.log"
    run_mproc run "$tmp/fault.ini" --joblog "$tmp/bad.log" --resume
}
badline 1 x12
is "$st" 78 "a bad index: exit 78"
like "$err" "bad.log:2: not a joblog line: the index (field 1), 'x12', is not a whole number" \
    "a bad index: named"
badline 5 fine
like "$err" "the status (field 5), 'fine', is not ok, failed, died, timeout or toolarge" \
    "a bad status: named"
badline 10 -1
is "$st" 78 "a negative offset: exit 78"
like "$err" "the offset and length (fields 10 and 11), '-1' and " \
    "a negative offset: named"
badline 8 'a\q'
like "$err" "the item (field 8) has an escape mproc does not write" \
    "a bad escape in the item: named"
here=$(pwd)
cd "$tmp" && run_mproc exec --joblog - echo ::: a
cd "$here" || exit 1
is "$st" 64 "--joblog -: exit 64"
like "$err" "--joblog -: the job log cannot go to standard output" \
    "--joblog -: says so (it made a file named '-')"
ok "$([ ! -e "$tmp/-" ]; echo $?)" "--joblog -: no file named '-'"
run_mproc run "$tmp/fault.ini" --resume
is "$st" 64 "--resume without --joblog: exit 64"
like "$err" "--resume needs --joblog FILE" "--resume without --joblog: says so"
run_mproc run "$tmp/fault.ini" --joblog
is "$st" 64 "--joblog without a value: exit 64"
like "$err" "option --joblog needs a value" "--joblog without a value: says so"
run_mproc run "$tmp/fault.ini" --stats xml
is "$st" 64 "--stats xml: exit 64"
like "$err" "--stats: expected text or json, got 'xml'" "--stats xml: says so"
run_mproc run "$tmp/fault.ini" --joblog "$tmp/nodir/log"
is "$st" 73 "joblog in a missing folder: exit 73"
like "$err" "joblog $tmp/nodir/log: cannot create: No such file or directory" \
    "joblog in a missing folder: says so"
run_mproc run "$srcdir/conf/wordcount.ini" --joblog "$tmp/wc.log" --resume
is "$st" 64 "--resume with a reducing plugin: exit 64"
like "$err" "folds every output into one (reduce)" "--resume with reduce: says why"
run_mproc check "$tmp/fault.ini" --joblog "$tmp/log"
is "$st" 64 "check does not take --joblog"
# One run per log: a second one would truncate or interleave it.
seq 1 100 >"$tmp/many.txt"
printf '[job]\nplugin = exec\ninput = lines:many.txt\n[pool]\nworkers = 2\n[args]\ncommand = sleep 0.05; echo $1\n' >"$tmp/slow.ini"
"$bin" run "$tmp/slow.ini" --joblog "$tmp/shared.log" >"$tmp/out1" 2>"$tmp/err1" &
first=$!
n=0
while [ ! -s "$tmp/shared.log" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
for resume in "" --resume; do
    run_mproc run "$tmp/slow.ini" --joblog "$tmp/shared.log" $resume
    is "$st" 73 "a second run ${resume:-(new)} on a log in use: refused, 73"
    like "$err" "in use by another run" "... says why"
done
wait $first
is "$?" 0 "the first run is not disturbed"
is "$(tail -n +2 "$tmp/shared.log" | wc -l | tr -d ' ')" 100 \
    "its log has every item once"
cmp -s "$tmp/out1" "$tmp/many.txt"
ok $? "its output is whole"
run_mproc run "$tmp/slow.ini" --joblog "$tmp/shared.log" --resume
is "$st" 0 "once it ended, the log can be resumed"
run_mproc run "$tmp/slow.ini" --joblog /dev/null
is "$st" 0 "a log that is not a file (/dev/null) is not locked"

no_leftovers
done_testing

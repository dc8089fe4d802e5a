#!/bin/sh
# SPDX-License-Identifier: MIT
# Issue 19.4: an item that has ended quarantine_after workers (default 2
# when retries > 0) is not run again but written, with its backtraces, to
# --quarantine FILE; the run goes on for the others (exit 1: an item
# failed) and the report counts it.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'ok\nsegv\nok\nexit:7\nok\n' >"$tmp/items.txt"
cat >"$tmp/q.ini" <<INI
[job]
plugin = fault
input = lines:$tmp/items.txt
retries = 5
[args]
runs = $tmp/runs
INI
runs() { grep -cx "$1" "$tmp/runs"; }

run_mproc run "$tmp/q.ini" --workers 2 --quarantine "$tmp/q.txt" --stats text
is "$st" 1 "exit 1: items failed"
is "$(cat "$tmp/out")" "ok
ok
ok" "the other items done"
is "$(runs 1)" 2 "the segv item ran twice (quarantine_after defaults to 2)"
is "$(runs 3)" 2 "so did the exit item"
is "$(runs 0)" 1 "an ok item once"
like "$err" 'item 1 "segv": quarantined after 2 worker deaths' "the message says so"
like "$err" "death 1: worker " "each death"
like "$err" "death 2: worker " "both"
like "$err" "  #0 fault_run+0x" "with the backtrace"
like "$err" "2 items quarantined (in $tmp/q.txt" "the report counts them"
like "$err" "2 quarantined;" "so does the summary"
is "$(wc -l <"$tmp/q.txt")" 2 "one record per item"
rec=$(grep "^Q1	1	2	" "$tmp/q.txt")
ok $? "the record: index 1, 2 deaths"
like "$rec" "	$tmp/q.ini	" "the job file"
like "$rec" "	pool.workers=2	segv	" "the run's overrides and the item"
like "$rec" '\n  #0 fault_run+0x' "the backtraces, escaped"

run_mproc run "$tmp/q.ini" --workers 1 --stats json
like "$err" '"quarantined": 2}' "json summary counts them"
like "$err" "2 items quarantined (give --quarantine FILE" "without FILE: said"

rm -f "$tmp/runs"
run_mproc run "$tmp/q.ini" --workers 1 --set job.quarantine_after=4
is "$(runs 1)" 4 "quarantine_after = 4: four tries"
rm -f "$tmp/runs"
run_mproc run "$tmp/q.ini" --workers 1 --set job.retries=0
is "$(runs 1)" 1 "retries = 0: one try"
unlike "$err" "quarantined" "and no quarantine (off without retries)"
rm -f "$tmp/runs"
run_mproc run "$tmp/q.ini" --workers 1 --set job.retries=0 \
    --set job.quarantine_after=1 --quarantine "$tmp/q1.txt"
is "$(wc -l <"$tmp/q1.txt")" 2 "quarantine_after = 1: quarantined at once"

# Errors a user can hit.
run_mproc run "$tmp/q.ini" --set job.quarantine_after=0
is "$st" 78 "quarantine_after = 0: config error"
like "$err" "quarantine_after" "it names the key"
run_mproc run "$tmp/q.ini" --quarantine "$tmp/none/q.txt"
is "$st" 73 "a quarantine file in a missing folder: cannot create"
run_mproc run "$tmp/q.ini" --quarantine
is "$st" 64 "--quarantine without FILE: usage error"
like "$err" "option --quarantine needs a value" "said so"
done_testing

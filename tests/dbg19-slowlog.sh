#!/bin/sh
# SPDX-License-Identifier: MIT
# Issue 19.3: [job] slowlog = D and --slowlog FILE: a backtrace of each
# task still running after D, taken without stopping it, once per item;
# with [job] timeout the soft limit's SIGTERM records where it was too.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'ok\nsleep:2500\nok\nok\n' >"$tmp/items.txt"
cat >"$tmp/slow.ini" <<INI
[job]
plugin = fault
input = lines:$tmp/items.txt
slowlog = 0.5s
INI
run_mproc run "$tmp/slow.ini" --workers 2 --slowlog "$tmp/slow.log"
is "$st" 0 "a slow item is not stopped: the run succeeds"
is "$(cat "$tmp/out")" "ok
slept 2500
ok
ok" "every output, the slow item's whole"
log=$(cat "$tmp/slow.log")
is "$(grep -c '^item ' "$tmp/slow.log")" 1 "one record: the slow item, once"
like "$log" 'item 1 "sleep:2500" slow: running for ' "it names the item"
like "$log" "nanosleep" "where it was: in nanosleep"
like "$log" " fault_run+0x" "called by the fault plugin's task"

# The soft time limit: where the task was when SIGTERM was sent.
printf 'soft\n' >"$tmp/items.txt"
run_mproc run "$tmp/slow.ini" --workers 1 --slowlog "$tmp/slow.log" \
    --set job.timeout=1.5s --set job.slowlog=30s
is "$st" 1 "the timed-out item fails"
like "$err" "timed out after 1.5s" "as a time-out"
log=$(cat "$tmp/slow.log")
like "$log" 'item 0 "soft" timeout: running for ' "the time-out is logged"
like "$log" " pause+0x" "with where it waited"

# Without --slowlog FILE the records go to stderr.
printf 'sleep:1500\n' >"$tmp/items.txt"
run_mproc run "$tmp/slow.ini" --workers 1
like "$err" 'mproc: item 0 "sleep:1500" slow: running for ' "no FILE: stderr"

# --slowlog FILE alone: the default threshold, 5 s.
printf '[job]\nplugin = fault\ninput = lines:%s/items.txt\n' "$tmp" >"$tmp/plain.ini"
printf 'sleep:5600\nok\n' >"$tmp/items.txt"
run_mproc run "$tmp/plain.ini" --workers 1 --slowlog "$tmp/plain.log"
like "$(cat "$tmp/plain.log")" 'item 0 "sleep:5600" slow: running for 5.' \
    "--slowlog FILE alone: after 5 s"

# Errors a user can hit.
printf '[job]\nplugin = fault\nslowlog = soon\n' >"$tmp/bad.ini"
run_mproc run "$tmp/bad.ini"
is "$st" 78 "slowlog = soon: config error"
like "$err" "bad.ini:3:" "it names FILE:LINE"
like "$err" "slowlog" "and the key"
run_mproc run "$tmp/slow.ini" --slowlog
is "$st" 64 "--slowlog without FILE: usage error"
like "$err" "option --slowlog needs a value" "said so"
run_mproc run "$tmp/slow.ini" --slowlog "$tmp/no/such/dir/log"
is "$st" 73 "--slowlog in a missing folder: cannot create"
like "$err" "$tmp/no/such/dir/log" "the file is named"
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc bench: runs a job several times per setting with its output
# discarded and reports medians; the built-in job without a job file;
# every error a user can make is refused before the first run, and an
# interrupted benchmark leaves nothing behind.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

seq 1 300 >"$tmp/lines.txt"
f=$(job echo.ini <<INI
[job]
plugin = echo
input = lines:$tmp/lines.txt
output = $tmp/must-not-be-written
INI
)

run_mproc bench "$f" --runs 2
is "$st" 0 "a job: exit 0"
like "$(head -1 "$tmp/out")" "mproc bench: $f, 2 runs per setting" \
    "the report names the job and the runs"
like "$(sed -n 3p "$tmp/out")" "(as the job says)" \
    "without --vary: one setting, the job as written"
ok $([ ! -e "$tmp/must-not-be-written" ]; echo $?) \
    "the job's output file is not written (its output goes to /dev/null)"

# --vary: every combination, in order, the last key varying fastest;
# options after the job file too.
run_mproc bench "$f" --runs 1 --vary pool.workers=1,2 \
    --vary pool.ipc=pipe,shmring --json
is "$st" 0 "--vary --json: exit 0"
is "$(wc -l <"$tmp/out" | tr -d ' ')" 4 "two keys of two values: four settings"
is "$(sed -n 's/.*"settings": {\([^}]*\)}.*/\1/p' "$tmp/out" | tr '\n' '|')" \
    '"pool.workers": "1", "pool.ipc": "pipe"|"pool.workers": "1", "pool.ipc": "shmring"|"pool.workers": "2", "pool.ipc": "pipe"|"pool.workers": "2", "pool.ipc": "shmring"|' \
    "each combination once, in order"
is "$(grep -c '"runs": 1, "items": 300, "failed": 0, "items_per_second": [0-9.]*, "min_items_per_second"' "$tmp/out")" 4 \
    "each counts the job's 300 items, none failed"

run_mproc bench "$f" --runs 3 --vary pool.workers=1,2
is "$st" 0 "table: exit 0"
is "$(grep -c '^pool.workers=[12] ' "$tmp/out")" 2 "a row per setting"
like "$(tail -1 "$tmp/out")" "fastest: pool.workers=" \
    "the fastest setting is named"
awk 'NR > 2 && /^pool/ { split($4, r, /\.\./)
        if (!(r[1] + 0 <= $2 + 0 && $2 + 0 <= r[2] + 0)) bad = 1 }
     END { exit bad }' "$tmp/out"
ok $? "each median lies between its slowest and fastest run"

# The built-in job: echo over a range, each backend at chunksize 1, auto.
run_mproc bench --items 2000 --runs 1
is "$st" 0 "built-in job: exit 0"
like "$(head -1 "$tmp/out")" "the built-in echo job" "says it is the built-in job"
is "$(grep -c '^pool.ipc=\(pipe\|mq\|shmring\) job.chunksize=\(1\|auto\) ' "$tmp/out")" 6 \
    "three backends by two chunksizes"
run_mproc bench --items 500 --runs 1 --vary pool.workers=1 --json
like "$(cat "$tmp/out")" '"items": 500,' "--items sets the range"

# Failing items: measured, counted, exit 1, and where to look.
printf 'ok\nfail:boom\nok\n' >"$tmp/f.txt"
f2=$(job fail.ini <<INI
[job]
plugin = fault
input = lines:$tmp/f.txt
INI
)
run_mproc bench "$f2" --runs 2
is "$st" 1 "failed items: exit 1"
like "$(cat "$tmp/out")" "(2 items failed)" "the table counts them (1 per run)"
like "$err" "mproc: bench: items failed in some runs; mproc run $f2 shows" \
    "says how to see which"

# Errors: each refused before any run, with what was expected.
run_mproc bench "$f" --vary pool.ipc=pipe,bogus
is "$st" 78 "a bad --vary value: exit 78"
like "$err" "--set pool.ipc=bogus: ipc: expected pipe, mq, shmring or auto" \
    "the value is named with what was expected"
is "$(cat "$tmp/out")" "" "no run was made (nothing printed)"
run_mproc bench "$f" --set pool.worker=3
is "$st" 78 "an unknown key: exit 78"
like "$err" "did you mean 'workers'?" "the closest key is suggested"
run_mproc bench "$tmp/none.ini"
is "$st" 66 "a missing job file: exit 66"
printf '[job]\nplugin = echo\ninput = stdin\n' >"$tmp/stdin.ini"
run_mproc bench "$tmp/stdin.ini"
is "$st" 64 "a job reading stdin: exit 64"
like "$err" "reads its items from stdin, which only the first run could read" \
    "says why"
for bad in "--runs 0" "--runs x" "--runs 1001" "--items 0" "--items -3" \
           "--vary pool.ipc" "--vary =x" "--vary ipc=pipe" "--vary pool.ipc=" \
           "--bogus" "$f $f"; do
    # shellcheck disable=SC2086
    run_mproc bench $bad
    is "$st" 64 "usage error: bench $bad"
done
like "$err" "one job file at most" "two job files: says so"
run_mproc bench --vary a.b=1,2,3,4 --vary a.c=1,2,3,4 --vary a.d=1,2,3,4 \
    --vary a.e=1,2,3,4,5
is "$st" 64 "over 256 settings: exit 64"
like "$err" "make over 256 settings" "says the limit"
run_mproc bench --help
is "$st" 0 "--help: exit 0"
like "$(cat "$tmp/out")" "Usage: mproc bench [JOB.ini]" "--help shows the usage"
run_mproc help bench
like "$(cat "$tmp/out")" "--vary" "mproc help bench too"

# Interrupted: SIGTERM to mproc bench alone stops the run under way (it is
# passed on), exit 130, no process or built-in job file left.
printf 'sleep:200\n%.0s' $(seq 1 60) >"$tmp/slow.txt"
f3=$(job slow.ini <<INI
[job]
plugin = fault
input = lines:$tmp/slow.txt
INI
)
TMPDIR=$tmp timeout -k 5 60 "$bin" bench "$f3" --runs 5 \
    >"$tmp/out" 2>"$tmp/err" &
pid=$!
sleep 1.5
signal_cmd TERM $pid
wait $pid
is $? 130 "SIGTERM: exit 130"
like "$(cat "$tmp/err")" "interrupted by SIGTERM" "the run under way was stopped"
TMPDIR=$tmp timeout -k 5 60 "$bin" bench --items 100000000 --runs 2 \
    >"$tmp/out" 2>"$tmp/err" &
pid=$!
sleep 1.5
signal_cmd TERM $pid
wait $pid
is $? 130 "built-in job, SIGTERM: exit 130"
is "$(ls "$tmp" | grep -c '^mproc-bench-')" 0 "its job file is removed"
no_leftovers

done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# Time limits, retries and per-worker limits: a hung task is ended and the
# run goes on; a failing task is run again; workers are recycled by memory
# and by task count; rlimits and nice reach the workers.  After each run:
# one result per item, nothing left running.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

cat >"$tmp/fault.ini" <<'INI'
[job]
plugin = fault
input = lines:items.txt
[pool]
workers = 2
INI
items() { printf '%s\n' "$@" >"$tmp/items.txt"; }
field() { awk -F'\t' -v f="$1" 'NR > 1 { print $f }' "$tmp/log"; }

# ---- time limits ----
items ok hang ok stubborn ok soft ok
start=$(date +%s)
run_mproc run "$tmp/fault.ini" --set job.timeout=1 --set job.timeout_grace=0.5 \
    --joblog "$tmp/log"
took=$(( $(date +%s) - start ))
is "$st" 1 "timeout: exit 1 (three items failed)"
is "$(cat "$tmp/out")" "$(printf 'ok\nok\nok\nok')" \
    "timeout: the other items ran, in order"
like "$err" 'item 1 "hang": timed out after 1s; worker' "hang: named, timed out"
like "$err" "killed by SIGTERM" "hang: ended by the soft limit (SIGTERM)"
like "$err" 'item 3 "stubborn": timed out after 1s; worker' "stubborn: timed out"
like "$err" "killed by SIGKILL" "stubborn: ended by the hard limit (SIGKILL)"
like "$err" 'item 5 "soft": timed out after 1s: stopped cleanly by SIGTERM' \
    "soft: the plugin caught the soft limit; its message is kept"
like "$err" "3 of 7 items failed" "timeout: summary"
ok $([ "$took" -lt 30 ]; echo $?) "timeout: the run ended ($took s)"
is "$(field 5 | tr '\n' ' ')" "ok timeout ok timeout ok timeout ok " \
    "joblog: status timeout for each"
is "$(field 6 | tr '\n' ' ')" "0 -15 0 -9 0 0 0 " \
    "joblog: exit -15 (SIGTERM), -9 (SIGKILL), 0 (caught)"
no_leftovers "timeout: nothing left running"

# A worker replaced after a timeout serves the next tasks: 1 worker.
items hang ok ok ok
run_mproc run "$tmp/fault.ini" --workers 1 --set job.timeout=500ms \
    --set job.timeout_grace=0
is "$st" 1 "timeout, 1 worker: exit 1"
is "$(cat "$tmp/out")" "$(printf 'ok\nok\nok')" \
    "timeout, 1 worker: the replacement ran the rest"
like "$err" "timed out after 0.5s; worker" "timeout_grace = 0: timed out"
like "$err" "killed by SIGKILL" "timeout_grace = 0: SIGKILL at once"
no_leftovers "timeout, 1 worker: nothing left"

# Tasks that finish in time are untouched by a limit.
items sleep:100 sleep:100 ok
run_mproc run "$tmp/fault.ini" --set job.timeout=20
is "$st" 0 "tasks within the limit: exit 0"
is "$(cat "$tmp/out")" "$(printf 'slept 100\nslept 100\nok')" \
    "tasks within the limit: all output"

# ---- retries ----
items "flaky:$tmp/f1" ok "flaky:$tmp/f2" "fail:always"
run_mproc run "$tmp/fault.ini" --set job.retries=2 --joblog "$tmp/log"
is "$st" 1 "retries: exit 1 (one item always fails)"
is "$(cat "$tmp/out")" "$(printf 'ok\nok\nok')" \
    "retries: flaky items succeed on their second attempt"
like "$err" 'item 3 "fail:always": always' "retries: the last failure reported"
is "$(field 7 | tr '\n' ' ')" "2 1 2 3 " \
    "joblog: attempts 2, 1, 2 and 3 (1 + retries)"
run_mproc run "$tmp/fault.ini" --stats json
like "$err" '"retried": 0' "no retries by default"
rm -f "$tmp/f1" "$tmp/f2"
run_mproc run "$tmp/fault.ini"
is "$st" 1 "without retries the flaky items fail"
like "$err" "3 of 4 items failed" "without retries: 3 of 4 failed"

# A retried item whose worker dies: retried, then reported as died.
items "exit:7" ok
run_mproc run "$tmp/fault.ini" --set job.retries=1 --joblog "$tmp/log"
like "$err" "exited with status 7" "retries: a dying item is retried, then named"
is "$(field 7 | head -1)" 2 "retries: the dying item had 2 attempts"
is "$(field 5 | head -1)" died "joblog: status died"
is "$(field 6 | head -1)" 7 "joblog: exit 7"
no_leftovers "retries: nothing left"

# ---- recycling ----
i=0; : >"$tmp/items.txt"
while [ $i -lt 1000 ]; do echo "i$i" >>"$tmp/items.txt"; i=$((i + 1)); done
run_mproc run "$tmp/fault.ini" --set pool.max_tasks_per_child=1 \
    --joblog "$tmp/log"
is "$st" 0 "max_tasks_per_child = 1 over 1000 items: exit 0"
cmp -s "$tmp/out" "$tmp/items.txt"
ok $? "max_tasks_per_child = 1: every item, once, in order"
is "$(field 2 | sort -u | wc -l)" 1000 "max_tasks_per_child = 1: 1000 workers"
no_leftovers "max_tasks_per_child = 1: nothing left"

items alloc:40 alloc:40 alloc:40 alloc:40 alloc:40 alloc:40 ok ok
run_mproc run "$tmp/fault.ini" --set pool.max_memory_per_child=32M \
    --set job.chunksize=4 --joblog "$tmp/log"
is "$st" 0 "max_memory_per_child: exit 0"
is "$(grep -c kept "$tmp/out")" 6 "max_memory_per_child: every allocating item ran"
is "$(awk -F'\t' 'NR > 1 && $8 ~ /^alloc/ { print $2 }' "$tmp/log" | sort -u | wc -l)" 6 \
    "max_memory_per_child: a fresh worker for each item past the limit"
is "$(field 7 | sort -u)" 1 "max_memory_per_child: no item run twice"
run_mproc run "$tmp/fault.ini" --set job.chunksize=4 --joblog "$tmp/log"
ok $([ "$(awk -F'\t' 'NR > 1 && $8 ~ /^alloc/ { print $2 }' "$tmp/log" | sort -u | wc -l)" -le 2 ]; echo $?) \
    "without the limit, 2 workers ran them all"
no_leftovers "max_memory_per_child: nothing left"

# ---- rlimits and nice ----
items spin ok
run_mproc run "$tmp/fault.ini" --set pool.rlimit_cpu=1
is "$st" 1 "rlimit_cpu: exit 1"
like "$err" 'item 0 "spin": worker' "rlimit_cpu: the spinning item is named"
like "$err" "killed by SIGXCPU" "rlimit_cpu: SIGXCPU ended it"
is "$(cat "$tmp/out")" ok "rlimit_cpu: the next item ran"

# An AddressSanitizer build reserves terabytes of address space for its
# shadow memory: any rlimit_as would starve it, so that part is left out
# there (ASAN_OPTIONS is set by CI's sanitizer run).
if [ -n "${ASAN_OPTIONS:-}" ]; then as=0; else as=68719476736; fi
items rlimits "open:100" ok
run_mproc run "$tmp/fault.ini" --workers 1 --set pool.rlimit_cpu=600 \
    --set pool.rlimit_as=$as --set pool.rlimit_nofile=64
is "$st" 1 "rlimit_nofile = 64: the item opening 100 files fails"
is "$(head -1 "$tmp/out")" "cpu=600 as=$as nofile=64" \
    "rlimit_cpu, rlimit_as ($as) and rlimit_nofile reach the worker"
like "$err" 'item 1 "open:100": open: Too many open files' \
    "rlimit_nofile: the failure says why"
is "$(tail -1 "$tmp/out")" ok "rlimit_nofile: the worker goes on"
items "open:100"
run_mproc run "$tmp/fault.ini" --workers 1
is "$(cat "$tmp/out")" "opened 100" "without rlimit_nofile the same item passes"

items nice
run_mproc run "$tmp/fault.ini" --set pool.nice=7 --workers 1
is "$(cat "$tmp/out")" "nice $(( $(nice) + 7 ))" "nice = 7 reaches the worker"

as_nobody() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}
# The unprivileged run needs a build tree that nobody can reach (a CI
# clone under a private mktemp folder is not).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null &&
    as_nobody test -x "$bin" 2>/dev/null &&
    as_nobody test -r "${MPROC_PLUGIN_PATH%%:*}/fault.so" 2>/dev/null; then
    chmod 755 "$tmp"
    chmod 644 "$tmp/fault.ini" "$tmp/items.txt"
    items nice
    timeout -k 5 60 setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$bin" run "$tmp/fault.ini" --set pool.nice=-5 ${MPROC_TEST_IPC:+--set pool.ipc=$MPROC_TEST_IPC} >"$tmp/out" 2>"$tmp/err"
    st=$?
    is "$st" 78 "nice = -5 without privilege: exit 78"
    like "$(cat "$tmp/err")" "nice = -5: Operation not permitted (a negative nice needs root" \
        "nice = -5 without privilege: says why"
else
    why="not root, no setpriv, or the build tree is private to root"
    echo "ok $((tap_n + 1)) # SKIP $why"; tap_n=$((tap_n + 1))
    echo "ok $((tap_n + 1)) # SKIP $why"; tap_n=$((tap_n + 1))
fi
no_leftovers "limits: nothing left"
done_testing

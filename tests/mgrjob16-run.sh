#!/bin/sh
# SPDX-License-Identifier: MIT
# A job's [manager] at work (mgrjob16): the mgrcount plugin's tasks count
# into a manager's dict and Value on every start method; a process
# outside the run (tests/mgrjob16-peer, started by this script) writes
# and reads the same objects during and after the run; a running
# `mproc manager` is reached; a wrong key and an unreachable address fail
# the run before any task; a started manager leaves no socket, key file
# or process after a success, a failure and SIGINT.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

peer=$MPROC_BUILDDIR/tests/mgrjob16-peer
# Private folders of started managers go here, to be seen go.
rt=$tmp/rt
mkdir "$rt"
export TMPDIR="$rt"
unset XDG_RUNTIME_DIR MPROC_MANAGER_ADDRESS MPROC_MANAGER_AUTHKEY_FILE
printf 'the right key\n' >"$tmp/key"
printf 'a wrong key\n' >"$tmp/badkey"
chmod 600 "$tmp/key" "$tmp/badkey" # as a key must be (mproc-connection(3))

count_job() {  # count_job NAME [MANAGER-LINES...]: mgrcount over 1..20
    n=$1
    shift
    { printf '[job]\nplugin = mgrcount\ninput = range:1..20\nchunksize = 3\n'
      printf '[pool]\nworkers = 2\n'
      [ $# -gt 0 ] && printf '[manager]\n'
      for l in "$@"; do printf '%s\n' "$l"; done; } | job "$n"
}
empty_rt() {  # empty_rt WHAT
    left=$(ls -A "$rt")
    ok $([ -z "$left" ]; echo $?) "$1: no socket or key folder left"
    [ -z "$left" ] || echo "#   left in $rt: $left"
}

# A manager started for the run, on every start method.
f=$(count_job started.ini "start = yes" "objects = dict:items value:total=int64")
for m in fork spawn forkserver; do
    run_mproc run "$f" --set pool.start_method=$m
    is "$st" 0 "start = yes, $m: the run succeeds"
    is "$(cat "$tmp/out")" "total 20" "start = yes, $m: every task counted"
    empty_rt "start = yes, $m"
done
run_mproc run "$f" --set manager.address=tcp:127.0.0.1:0
is "$st" 0 "start = yes on tcp:127.0.0.1:0 (a port the system picks)"
is "$(cat "$tmp/out")" "total 20" "tcp: every task counted"
no_leftovers "start = yes: no manager process left after the runs"

# Without a [manager], mproc_ctx_manager() says so, and the run fails.
run_mproc run "$(count_job none.ini)"
is "$st" 78 "no [manager]: init fails: exit 78"
like "$err" "the job has no [manager]: add a [manager] section" \
    "no [manager]: mproc_ctx_manager() says what to add"

# A process outside the run shares its objects while it runs: the first
# item waits for the peer's Event; the peer adds 1000 to the total first.
f=$(count_job live.ini "start = yes" "address = unix:live.sock" \
    "authkey_file = live.key" "objects = dict:items value:total=int64")
printf '[args]\ngate = go\n' >>"$f"
"$bin" run "$f" >"$tmp/live.out" 2>"$tmp/live.err" &
run=$!
"$peer" "unix:$tmp/live.sock" "$tmp/live.key" add 1000 >"$tmp/peer.out" 2>&1
is "$?" 0 "an outside process attaches during the run"
is "$(stat -c %a "$tmp/live.key")" 600 "the key file the run made is mode 0600"
"$peer" "unix:$tmp/live.sock" "$tmp/live.key" set-event go >>"$tmp/peer.out" 2>&1
is "$?" 0 "the outside process sets the Event the first task waits for"
wait $run
is "$?" 0 "the run ends once the outside process set the Event"
is "$(cat "$tmp/live.out")" "total 1020" \
    "the run's total holds the outside process's 1000 and the 20 tasks'"
ok $([ ! -e "$tmp/live.sock" ] && [ ! -e "$tmp/live.key" ]; echo $?) \
    "the socket and the key file the run made are gone"
no_leftovers "live: no process left"

# A running `mproc manager`, reached by address; every start method adds
# to the same objects, which the outside process reads after the runs.
"$bin" manager --address "unix:$tmp/ext.sock" --authkey-file "$tmp/key" \
    >"$tmp/ext.out" 2>&1 &
ext=$!
# Ready once it prints its address (an ASan build on a loaded machine
# takes seconds); 30 s at most.
i=0
while [ ! -s "$tmp/ext.out" ] && [ $i -lt 600 ] && kill -0 $ext 2>/dev/null; do
    sleep 0.05
    i=$((i + 1))
done
f=$(count_job ext.ini "address = unix:ext.sock" "authkey_file = key" \
    "objects = dict:items value:total=int64 lock:l queue:q=4")
for m in fork spawn forkserver; do
    run_mproc run "$f" --set pool.start_method=$m
    is "$st" 0 "a running manager, $m: the run succeeds"
done
like "$(cat "$tmp/out")" "total 60" "the third run's total counts all three"
is "$("$peer" "unix:$tmp/ext.sock" "$tmp/key" total)" 60 \
    "an outside process reads the total after the runs"
is "$("$peer" "unix:$tmp/ext.sock" "$tmp/key" len items)" 20 \
    "and the dict: one key per item"
slot=$("$peer" "unix:$tmp/ext.sock" "$tmp/key" get items 7)
ok $(case "$slot" in 0|1) echo 0 ;; *) echo 1 ;; esac) \
    "and an item's worker slot (0 or 1, got '$slot')"
is "$("$peer" "unix:$tmp/ext.sock" "$tmp/key" type q)" 5 \
    "the declared queue exists (a Queue)"

# A wrong key: refused, clearly, before any task runs.
run_mproc run "$(count_job wrong.ini "address = unix:ext.sock" \
    "authkey_file = badkey")"
is "$st" 78 "a wrong authkey: exit 78"
like "$err" "the manager at unix:$tmp/ext.sock refused the authkey of $tmp/badkey" \
    "a wrong authkey: the message names the address and the key file"
is "$(cat "$tmp/out")" "" "a wrong authkey: no task ran"
is "$("$peer" "unix:$tmp/ext.sock" "$tmp/key" total)" 60 \
    "a wrong authkey: the manager's total is untouched"
# A name taken by another type.
run_mproc run "$(count_job clash.ini "address = unix:ext.sock" \
    "authkey_file = key" "objects = list:total")"
is "$st" 78 "an object name of another type: exit 78"
like "$err" "[manager] objects: cannot create list:total in the manager at unix:$tmp/ext.sock" \
    "an object name of another type: the message names it"
kill -TERM $ext
wait $ext
is "$?" 0 "the outside manager ends on SIGTERM"

# Unreachable: the run fails before any task, naming the address.
run_mproc run "$(count_job gone.ini "address = unix:ext.sock" \
    "authkey_file = key")"
is "$st" 78 "an unreachable manager: exit 78"
like "$err" "[manager] cannot reach the manager at unix:$tmp/ext.sock" \
    "an unreachable manager: the message names the address"
is "$(cat "$tmp/out")" "" "an unreachable manager: no task ran"

# A started manager is cleaned up after a failed run ...
f=$(printf '[job]\nplugin = fault\ninput = lines:%s\n[manager]\nstart = yes\n' \
    "$tmp/items" | job failing.ini)
printf 'ok\nfail:on purpose\nok\n' >"$tmp/items"
run_mproc run "$f"
is "$st" 1 "start = yes, a task fails: exit 1"
empty_rt "start = yes, failed run"
no_leftovers "start = yes, failed run: no process left"

# ... and after SIGINT, with the gate never set.
f=$(count_job int.ini "start = yes" "address = unix:int.sock" \
    "authkey_file = int.key")
printf '[args]\ngate = never\n' >>"$f"
"$bin" run "$f" >"$tmp/int.out" 2>"$tmp/int.err" &
run=$!
i=0
while [ ! -S "$tmp/int.sock" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
ok $([ -S "$tmp/int.sock" ]; echo $?) "SIGINT: the run's manager listens"
sleep 0.5
kill -INT $run
wait $run
is "$?" 130 "SIGINT: exit 130"
ok $([ ! -e "$tmp/int.sock" ] && [ ! -e "$tmp/int.key" ]; echo $?) \
    "SIGINT: the socket and the key file are gone"
empty_rt "SIGINT"
no_leftovers "SIGINT: no process left"
done_testing

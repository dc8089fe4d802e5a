#!/bin/sh
# SPDX-License-Identifier: MIT
# [manager] keys (mgrjob16): what `mproc check` shows for each, and every
# error a user can make in them, at its FILE:LINE with what was expected.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'the key\n' >"$tmp/key"

# check FILE-BODY...: a job file ending in the given [manager] lines.
mgr_job() {
    name=$1
    shift
    { printf '[job]\nplugin = mgrcount\ninput = range:1..3\n[manager]\n'
      for l in "$@"; do printf '%s\n' "$l"; done; } | job "$name"
}

# Valid settings, as check shows them.
f=$(mgr_job ok-connect.ini "address = unix:m.sock" "authkey_file = key" \
    "objects = dict:d, list:l namespace:n value:v=double array:a=int32[4]" )
run_mproc check "$f"
is "$st" 0 "address + authkey_file + objects: valid"
like "$(cat "$tmp/out")" "manager.address = unix:$tmp/m.sock    # $f:5" \
    "a relative unix: path is the job file's folder's, with its line"
like "$(cat "$tmp/out")" "manager.authkey_file = $tmp/key    # $f:6" \
    "authkey_file resolved, with its line"
like "$(cat "$tmp/out")" "manager.start = no" "start defaults to no"
like "$(cat "$tmp/out")" "manager.objects = dict:d, list:l namespace:n" \
    "objects as written"

f=$(mgr_job ok-start.ini "start = yes")
run_mproc check "$f"
is "$st" 0 "start = yes alone: valid"
like "$(cat "$tmp/out")" "manager.address = (a private unix: socket" \
    "a private address"
like "$(cat "$tmp/out")" "manager.authkey_file = (a new key for the run" \
    "a new key"
f=$(mgr_job ok-start-newkey.ini "start = yes" "address = tcp:127.0.0.1:0" \
    "authkey_file = new.key")
run_mproc check "$f"
is "$st" 0 "start = yes with a key file still to make: valid"
f=$(mgr_job ok-all.ini "start = on" "objects = queue:q=5 joinablequeue:j \
lock:l1 rlock:r semaphore:s=3 boundedsemaphore:b condition:c event:e \
barrier:br=2 value:v")
run_mproc check "$f"
is "$st" 0 "every object kind: valid"
run_mproc check "$(mgr_job set.ini "start = yes")" \
    --set manager.objects=dict:x --set manager.start=no \
    --set manager.address=unix:@mgrjob16 --set "manager.authkey_file=$tmp/key"
is "$st" 0 "--set manager.KEY=VALUE works"
like "$(cat "$tmp/out")" "manager.address = unix:@mgrjob16    # --set" \
    "--set overrides, and says so"

# Errors: each names FILE:LINE and what was expected.
err_case() {  # err_case NAME WANT LINES...
    n=$1 want=$2
    shift 2
    f=$(mgr_job "$n.ini" "$@")
    run_mproc check "$f"
    is "$st" 78 "$n: exit 78"
    like "$err" "$want" "$n: the message"
}
f=$tmp/x
err_case bad-address "bad-address.ini:5: address: expected unix:PATH, unix:@NAME or tcp:HOST:PORT, got 'http://x'" \
    "address = http://x" "authkey_file = key"
err_case empty-address "empty-address.ini:5: address: expected unix:PATH" \
    "address =" "authkey_file = key"
err_case no-key "no-key.ini:5: [manager] address = unix:@x needs authkey_file = FILE" \
    "address = unix:@x"
err_case nothing "nothing.ini:4: [manager] needs address = ADDRESS and authkey_file = FILE (a running manager) or start = yes" \
    "objects = dict:d"
err_case unreadable-key "unreadable-key.ini:6: authkey_file: cannot read $tmp/missing.key: No such file or directory; expected a file holding the manager's authkey" \
    "address = unix:@x" "authkey_file = missing.key"
err_case bad-start "bad-start.ini:5: start: expected yes (start a manager for the run) or no, got 'maybe'" \
    "start = maybe"
err_case unknown-kind "unknown-kind.ini:6: objects: unknown kind 'hash' in 'hash:h'; expected dict, list, namespace" \
    "start = yes" "objects = dict:d hash:h"
err_case no-colon "no-colon.ini:6: objects: 'counts': expected KIND:NAME, e.g. dict:counts" \
    "start = yes" "objects = counts"
err_case bad-name "bad-name.ini:6: objects: 'dict:a/b': expected a name of letters" \
    "start = yes" "objects = dict:a/b"
err_case twice "twice.ini:6: objects: the name 'x' is given twice" \
    "start = yes" "objects = dict:x list:x"
err_case barrier "barrier.ini:6: objects: 'barrier:b': expected barrier:NAME=PARTIES (1 to 65536)" \
    "start = yes" "objects = barrier:b"
err_case array "array.ini:6: objects: 'array:a=int64': expected array:NAME=TYPE[LENGTH]" \
    "start = yes" "objects = array:a=int64"
err_case array-len "array-len.ini:6: objects: 'array:a=int64[0]': expected a LENGTH from 1 to 16777216" \
    "start = yes" "objects = array:a=int64[0]"
err_case value-type "value-type.ini:6: objects: 'value:v=int128': unknown type; expected value:NAME=TYPE" \
    "start = yes" "objects = value:v=int128"
err_case param "param.ini:6: objects: 'dict:d=3': a dict takes no '=...'" \
    "start = yes" "objects = dict:d=3"
err_case queue "queue.ini:6: objects: 'queue:q=lots': expected queue:NAME or queue:NAME=MAXSIZE" \
    "start = yes" "objects = queue:q=lots"
err_case sem "sem.ini:6: objects: 'semaphore:s=-1': expected semaphore:NAME or semaphore:NAME=VALUE" \
    "start = yes" "objects = semaphore:s=-1"
err_case typo "typo.ini:5: unknown key 'adress' in [manager]; did you mean 'address'?" \
    "adress = unix:@x"
err_case unknown-key "unknown-key.ini:5: unknown key 'colour' in [manager]; expected address, authkey_file, start or objects" \
    "colour = red"
err_case dup "dup.ini:6: duplicate key 'start' in [manager] (first set at line 5)" \
    "start = yes" "start = no"
run_mproc check "$(mgr_job mpi.ini "start = yes")" --set pool.launcher=mpi
is "$st" 78 "[manager] with launcher = mpi: exit 78"
like "$err" "mpi.ini:4: [manager] does not work with launcher = mpi (set at --set) yet" \
    "[manager] with launcher = mpi: the message names both"
f=$(printf '[job]\nplugin = mgrcount\n[managre]\nstart = yes\n' | job sect.ini)
run_mproc check "$f"
is "$st" 78 "a misspelt [manager]: exit 78"
like "$err" "sect.ini:3: unknown section [managre]; did you mean [manager]?" \
    "a misspelt [manager]: the closest section"
run_mproc check "$(mgr_job set-bad.ini "start = yes")" \
    --set manager.objects=set:x
is "$st" 78 "--set manager.objects with a bad kind: exit 78"
like "$err" "--set manager.objects=set:x: objects: unknown kind 'set'" \
    "--set: the message names the assignment"
done_testing

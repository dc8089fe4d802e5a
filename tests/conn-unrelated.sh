#!/bin/sh
# SPDX-License-Identifier: MIT
# Two processes that are not parent and child (both started by this
# shell) talk through a Listener and a client, over unix: and over
# tcp:127.0.0.1, with an authkey read from a file; a third process with
# the wrong key is refused (MPROC_EAUTH) and the server goes on.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

prog=$MPROC_BUILDDIR/tests/test-conn
printf 'unrelated secret\n' >"$tmp/key"
printf 'not the secret\n' >"$tmp/badkey"

for address in "unix:$tmp/srv.sock" "tcp:127.0.0.1:0"; do
    rm -f "$tmp/addr"
    "$prog" serve "$address" "$tmp/key" "$tmp/addr" >"$tmp/serve.out" 2>&1 &
    server=$!
    i=0
    while [ ! -s "$tmp/addr" ] && [ $i -lt 200 ]; do
        sleep 0.05; i=$((i + 1))
    done
    ok $([ -s "$tmp/addr" ]; echo $?) "$address: the server wrote its address"
    "$prog" client "$tmp/addr" "$tmp/badkey" >"$tmp/bad.out" 2>&1
    is "$?" 10 "$address: wrong key: MPROC_EAUTH (exit 10)"
    like "$(cat "$tmp/bad.out")" "EAUTH" "$address: the client says EAUTH"
    "$prog" client "$tmp/addr" "$tmp/key" >"$tmp/good1.out" 2>&1
    is "$?" 0 "$address: an unrelated client: echo round trip"
    "$prog" client "$tmp/addr" "$tmp/key" >"$tmp/good2.out" 2>&1
    is "$?" 0 "$address: a second unrelated client"
    wait $server
    is "$?" 0 "$address: the server served 2 and refused 1"
    like "$(cat "$tmp/serve.out")" "served 2 refused 1" \
        "$address: the server's count"
done
[ ! -e "$tmp/srv.sock" ]
ok $? "the socket file is gone after the server ended"
done_testing

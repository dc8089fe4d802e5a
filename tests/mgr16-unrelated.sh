#!/bin/sh
# SPDX-License-Identifier: MIT
# Unrelated processes share a Manager's objects: `mproc manager` runs
# standalone, and two clients the shell starts (neither the other's
# child) share a dict, a Lock and a Queue through it, over unix: and over
# tcp:127.0.0.1.  A wrong authkey is refused while the right one is
# served; custom types come from --types; SIGTERM and a client's
# shutdown both end the server without leaving its socket file; usage
# errors exit 64 or 78 with a message.
. "${MPROC_SRCDIR:?}/tests/lib.sh"

client=${MPROC_BUILDDIR:?}/tests/mgr16-client
types=$MPROC_BUILDDIR/tests/.libs/mgr16-types.so
printf 'an authkey\n' >"$tmp/key"
chmod 600 "$tmp/key"

# serve ADDR [ARGS]: start a server, wait for its address line in $addr.
serve() {
    a=$1
    shift
    rm -f "$tmp/addr"
    # The test's SIGTERM goes to the server itself (signal_cmd in
    # lib.sh); timeout only bounds a server that never ends.
    timeout -k 30 60 "$bin" manager --address "$a" --authkey-file "$tmp/key" \
        "$@" >"$tmp/addr" 2>"$tmp/srv.err" &
    srv=$!
    n=0
    # A loaded machine may take seconds to start it; 30 s at most.
    while [ ! -s "$tmp/addr" ] && [ $n -lt 600 ] &&
          kill -0 $srv 2>/dev/null; do
        sleep 0.05
        n=$((n + 1))
    done
    addr=$(head -1 "$tmp/addr" 2>/dev/null)
    [ -n "$addr" ] || sed 's/^/# server: /' "$tmp/srv.err"
}

share() {  # share LABEL: two unrelated clients, then a check
    ( exec timeout 60 "$client" share "$addr" "$tmp/key" put 300 ) &
    p1=$!
    ( exec timeout 60 "$client" share "$addr" "$tmp/key" get 300 ) &
    p2=$!
    wait $p1
    s1=$?
    wait $p2
    s2=$?
    is "$s1:$s2" "0:0" "$1: two unrelated clients shared a Lock and a Queue"
    timeout 60 "$client" check "$addr" "$tmp/key" 600
    is $? 0 "$1: the dict counted every locked increment (600)"
}

# unix:
serve "unix:$tmp/m.sock" --types "$types"
is "$addr" "unix:$tmp/m.sock" "unix: the server prints its address"
share "unix"
timeout 10 "$client" wrongkey "$addr"
is $? 0 "unix: a wrong authkey is refused (MPROC_EAUTH)"
timeout 10 "$client" check "$addr" "$tmp/key" 600
is $? 0 "unix: the right key is still served"
timeout 10 "$client" custom "$addr" "$tmp/key"
is $? 0 "unix: a custom type from --types runs in the server"
t0=$(date +%s)
signal_cmd TERM $srv
# Not ended in 20 s: say what the server is doing before timeout kills it.
n=0
while kill -0 $srv 2>/dev/null && [ $n -lt 200 ]; do
    sleep 0.1
    n=$((n + 1))
done
for p in $(children $srv); do
    echo "# server $p still running 20 s after SIGTERM:"
    grep -E '^(State|TracerPid|Sig|Shd)' /proc/$p/status | sed 's/^/#   /'
    echo "#   syscall: $(cat /proc/$p/syscall 2>/dev/null)"
done
wait $srv
st7=$?
echo "# SIGTERM to the end of the server: $(($(date +%s) - t0)) s"
is $st7 0 "unix: SIGTERM ends the server cleanly"
[ $st7 -eq 0 ] || sed 's/^/#   server: /' "$tmp/srv.err" | head -20
test -e "$tmp/m.sock"
is $? 1 "unix: no socket file is left"

# tcp:, the port chosen by the system; ended by a client's shutdown
serve "tcp:127.0.0.1:0"
case $addr in
tcp:127.0.0.1:[1-9]*) ok 0 "tcp: the chosen port is printed ($addr)" ;;
*) ok 1 "tcp: the chosen port is printed ($addr)" ;;
esac
share "tcp"
timeout 10 "$client" shutdown "$addr" "$tmp/key"
is $? 0 "tcp: a client asks for shutdown"
wait $srv
is $? 0 "tcp: the server ends"

# Usage errors.
run_mproc manager --authkey-file "$tmp/key"
is $st 64 "usage: no --address is a usage error"
like "$err" "--address is required" "usage: and says so"
run_mproc manager --address "unix:$tmp/x.sock" --authkey-file "$tmp/nokey"
is $st 78 "usage: a missing authkey file exits 78"
like "$err" "$tmp/nokey" "usage: naming the file"
: >"$tmp/empty"
chmod 600 "$tmp/empty"
run_mproc manager --address "unix:$tmp/x.sock" --authkey-file "$tmp/empty"
is $st 78 "usage: an empty authkey file exits 78"
like "$err" "1 to 4096 bytes" "usage: saying what was expected"
run_mproc manager --address "unix:$tmp/x.sock" --authkey-file "$tmp"
is $st 78 "usage: a folder as the authkey file exits 78"
like "$err" "$tmp: a folder, not an authkey file" "usage: saying so"
# A key others can read is no secret (a local user authenticated with a
# world-readable one): refused, saying what to do.
printf 'an authkey\n' >"$tmp/openkey"
chmod 644 "$tmp/openkey"
run_mproc manager --address "unix:$tmp/x.sock" --authkey-file "$tmp/openkey"
is $st 78 "usage: an authkey file others can read exits 78"
like "$err" "$tmp/openkey: an authkey file others can read or write (mode 0644); make it yours alone: chmod 600 $tmp/openkey" \
    "usage: saying why and what to do"
if id nobody >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    chmod 600 "$tmp/openkey"
    chown nobody "$tmp/openkey"
    run_mproc manager --address "unix:$tmp/x.sock" --authkey-file "$tmp/openkey"
    is $st 78 "usage: an authkey file another user owns exits 78"
    like "$err" "$tmp/openkey: an authkey file owned by uid $(id -u nobody), not by this user (uid 0)" \
        "usage: naming the owner"
else
    ok 0 "# SKIP not root, or no user nobody"
    ok 0 "# SKIP not root, or no user nobody"
fi
run_mproc manager --address "unix:$tmp/x.sock" --authkey-file "$tmp/key" \
    --types "$tmp/nope.so"
is $st 78 "usage: a --types file that does not load exits 78"
run_mproc manager --address "tcp:192.0.2.1:7" --authkey-file "$tmp/key"
is $st 78 "usage: an address that cannot be served exits 78"
run_mproc manager --bogus
is $st 64 "usage: an unknown option exits 64"
run_mproc manager --help
is $st 0 "usage: --help"
like "$(cat "$tmp/out")" "--authkey-file" "usage: --help lists the options"
no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# `mproc manager` as a command-line user meets it: a non-loopback tcp:
# address is refused with a message that names this command's --any
# option (not the library's MPROC_CONN_ANY flag), exit 78.
. "${MPROC_SRCDIR:?}/tests/lib.sh"

printf 'an authkey\n' >"$tmp/key"
chmod 600 "$tmp/key"
timeout 30 "$bin" manager --address tcp:0.0.0.0:0 --authkey-file "$tmp/key" \
    >"$tmp/out" 2>"$tmp/err"
is $? 78 "a non-loopback address without --any: exit 78, as any address that cannot be served"
err=$(cat "$tmp/err")
like "$err" "--any" "the message names the --any option"
unlike "$err" "MPROC_CONN_ANY" "not the library's flag"
like "$err" "tcp:0.0.0.0:0" "and the address"
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# Start methods end to end: every shipped job that runs without special
# input gives byte-identical output and the same exit status under
# pool.start_method=spawn and =forkserver as under fork, and leaves no
# process behind.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# A copy of conf/ in $tmp (the source tree may be read-only), so that the
# runs' processes, spawned workers included (their command line carries
# the host's), are found by no_leftovers.
cp -R "$srcdir/conf" "$tmp/conf"
chmod -R u+w "$tmp/conf"

for ini in "$tmp"/conf/*.ini; do
    name=conf/${ini##*/}
    run_mproc run "$ini" </dev/null
    case $st in
    0|1) ;;
    *) echo "# $name: skipped (exit $st under fork: needs special input)"
       continue ;;
    esac
    fst=$st
    cp "$tmp/out" "$tmp/out.fork"
    for m in spawn forkserver; do
        run_mproc run "$ini" --set pool.start_method=$m </dev/null
        is "$st" "$fst" "$name: exit status under $m as under fork"
        cmp -s "$tmp/out" "$tmp/out.fork"
        ok $? "$name: output under $m byte-identical to fork"
        [ -z "$err" ] || [ "$fst" -ne 0 ] || echo "# stderr: $err"
    done
    no_leftovers "$name: no process left behind"
done

# The worker program must be found; when it is not, the run says where it
# looked and how to point at it, and nothing is left running.
MPROC_WORKER=$tmp/no-such-worker run_mproc run "$tmp/conf/echo.ini" \
    --set pool.start_method=spawn
ok $([ "$st" -ne 0 ] && echo 0 || echo 1) "missing worker program: the run fails"
like "$err" "no-such-worker" "missing worker program: named in the error"
like "$err" "MPROC_WORKER" "missing worker program: the error says how to set it"
no_leftovers "missing worker program: no process left behind"

done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# A kernel without memfd_create (before 3.17, or refused by a seccomp
# profile), pidfd_open (before 5.3) or clone3 (before 5.3): mproc runs
# all the same, on each start method and IPC backend, falling back to
# unnamed files on /dev/shm, sentinel pipes and clone.  Without memfd and
# O_TMPFILE both, the run fails with a message naming memfd_create, not
# a crash.  tests/nokernel makes the calls fail (a seccomp filter).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

nk=${MPROC_BUILDDIR:?run the tests with make check}/tests/nokernel
"$nk" memfd_create true 2>/dev/null
case $? in
0) ;;
77) echo "1..0 # SKIP seccomp filters cannot be installed here"; exit 0 ;;
*) echo "1..0 # SKIP tests/nokernel does not run"; exit 0 ;;
esac

conf=$srcdir/conf
for method in fork spawn forkserver; do
    for ipc in pipe shmring mq; do
        calls=memfd_create,pidfd_open,clone3
        timeout -k 5 60 "$nk" "$calls" "$bin" run \
            "$conf/echo.ini" --workers 2 --set "pool.start_method=$method" \
            --set "pool.ipc=$ipc" >"$tmp/out" 2>"$tmp/err"
        st=$?
        is "$st" 0 "no $calls ($method, $ipc): exit 0"
        cmp -s "$tmp/out" "$conf/texts/lines.txt"
        ok $? "no $calls ($method, $ipc): output identical"
    done
done
# Without pidfds a worker's end is seen by its channel's end (pipe,
# shmring) or by looking (mq, whose queues outlive their writers): a
# worker that dies mid-run costs its item only, and the run ends.
printf 'ok\nsegv\nok\nexit:3\nok\n' >"$tmp/items"
cat >"$tmp/die.ini" <<EOF
[job]
plugin = fault
input = lines:$tmp/items
[pool]
workers = 2
ipc = mq
EOF
timeout -k 5 60 "$nk" pidfd_open "$bin" run "$tmp/die.ini" \
    >"$tmp/out" 2>"$tmp/err"
is "$?" 1 "no pidfd_open (mq): workers that die fail their items, exit 1"
is "$(cat "$tmp/out")" "ok
ok
ok" "no pidfd_open (mq): every other item done"
is "$(grep -c 'item [13] ' "$tmp/err")" 2 "no pidfd_open (mq): the two failures named"
# The shared objects of a job file (sync segment) as well.
timeout -k 5 60 "$nk" memfd_create,pidfd_open,clone3 "$bin" run \
    "$conf/histogram.ini" --set pool.start_method=spawn >"$tmp/hist" 2>"$tmp/err"
is "$?" 0 "no memfd: conf/histogram.ini (shared lock and array) runs"
run_mproc run "$conf/histogram.ini" --set pool.start_method=spawn
cmp -s "$tmp/out" "$tmp/hist"
ok $? "no memfd: conf/histogram.ini gives the same output"

timeout -k 5 60 "$nk" memfd_create,tmpfile "$bin" run "$conf/echo.ini" \
    --set pool.start_method=spawn >"$tmp/out" 2>"$tmp/err"
st=$?
ok "$([ "$st" -ne 0 ] && [ "$st" -lt 128 ]; echo $?)" \
    "no memfd and no O_TMPFILE: the run fails, without a crash ($st)"
like "$(cat "$tmp/err")" "not implemented" "no memfd and no O_TMPFILE: the error says what is missing"

no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# ipc = mq under the per-user RLIMIT_MSGQUEUE (issue 10.8): with the
# default 819,200 bytes a pool of 16 workers fits (each queue is sized for
# its share of the budget), and a budget too small for even one queue
# gives a message that names RLIMIT_MSGQUEUE and what to do.  Run as user
# nobody: the budget is per user, and root's is shared with every other
# test running at the same time.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1 ||
   ! command -v prlimit >/dev/null 2>&1; then
    echo "1..0 # SKIP needs root, setpriv and prlimit (util-linux)"
    exit 0
fi
as_nobody() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        --inh-caps=-all --bounding-set=-all "$@"
}
if ! as_nobody test -x "$bin"; then
    echo "1..0 # SKIP user nobody cannot reach $bin"
    exit 0
fi
chmod 755 "$tmp"
seq 1 3000 >"$tmp/lines.txt"
printf '[job]\nplugin = echo\ninput = lines:lines.txt\n' >"$tmp/echo.ini"
chmod 644 "$tmp/lines.txt" "$tmp/echo.ini"

# run_nobody LIMIT ARGS...: mproc as nobody with `ulimit -q LIMIT` (prlimit:
# sh has no ulimit -q).
run_nobody() {
    lim=$1
    shift
    (cd / && exec env -u HOME MPROC_PLUGIN_PATH="$MPROC_PLUGIN_PATH" \
        timeout -k 5 60 prlimit --msgqueue="$lim" -- \
        setpriv --reuid=nobody --regid=nogroup --clear-groups \
        --inh-caps=-all --bounding-set=-all "$bin" "$@") \
        >"$tmp/out" 2>"$tmp/err"
    st=$?
    err=$(cat "$tmp/err")
}

for w in 16 7; do
    run_nobody 819200 run "$tmp/echo.ini" --set pool.workers=$w \
        --set pool.ipc=mq
    is "$st" 0 "workers = $w, ipc = mq, ulimit -q 819200: the run completes"
    [ "$st" -eq 0 ] || echo "# $err"
    cmp -s "$tmp/out" "$tmp/lines.txt"
    ok $? "workers = $w: every line came back"
done

for lim in 300 0; do
    run_nobody $lim run "$tmp/echo.ini" --set pool.workers=2 --set pool.ipc=mq
    ok "$([ "$st" -ne 0 ]; echo $?)" "ulimit -q $lim: the run fails"
    like "$err" "RLIMIT_MSGQUEUE" "ulimit -q $lim: the message names RLIMIT_MSGQUEUE"
    like "$err" "ulimit -q" "ulimit -q $lim: it says to raise it with ulimit -q"
    like "$err" "ipc = shmring" "ulimit -q $lim: it offers ipc = shmring"
done
# mproc check warns when the pool cannot fit (and says so only then).
(cd / && exec prlimit --msgqueue=3000 -- "$bin" check "$tmp/echo.ini" \
    --set pool.workers=16 --set pool.ipc=mq) >"$tmp/out" 2>"$tmp/err"
is "$?" 0 "check with a small ulimit -q: the job is still valid"
like "$(cat "$tmp/err")" "warning: ipc = mq: 32 queues" \
    "check: warns that 32 queues do not fit"
like "$(cat "$tmp/err")" "RLIMIT_MSGQUEUE" "check: naming RLIMIT_MSGQUEUE"
(cd / && exec prlimit --msgqueue=819200 -- "$bin" check "$tmp/echo.ini" \
    --set pool.workers=16 --set pool.ipc=mq) >"$tmp/out" 2>"$tmp/err"
is "$(cat "$tmp/err")" "" "check: no warning under the default limit"
# msgsize_max at the kernel's least (128) is below what a message needs:
# said with the limit's name ("Invalid argument" alone before).  In an
# IPC namespace of its own, whose mqueue limits are its own.
printf 'a\n' >"$tmp/a.txt"
if unshare -i true 2>/dev/null; then
    unshare -i sh -c "echo 128 >/proc/sys/fs/mqueue/msgsize_max &&
        exec \"$bin\" run \"$tmp/echo.ini\" --set pool.ipc=mq \
            --set job.input=lines:$tmp/a.txt" >"$tmp/out" 2>"$tmp/err"
    ok $([ $? -ne 0 ]; echo $?) "msgsize_max 128: the run fails"
    like "$(cat "$tmp/err")" "mq: the system's msgsize_max (128 bytes, /proc/sys/fs/mqueue/msgsize_max) is below the 256 bytes a message needs at least: raise it, or use another backend" \
        "naming msgsize_max and what to do"
else
    ok 0 "# SKIP unshare -i: not permitted here"
    ok 0 "# SKIP unshare -i: not permitted here"
fi
# Too few descriptors for the workers: the line blamed is the one that
# set the workers (it named the plugin's line), --set when given there.
(cd / && exec prlimit --nofile=40:40 -- "$bin" run "$tmp/echo.ini" \
    --set pool.workers=8) >"$tmp/out" 2>"$tmp/err"
like "$(cat "$tmp/err")" "mproc: --set: 8 workers need about" \
    "RLIMIT_NOFILE too low for --set workers: blames --set"
printf '[job]\nplugin = echo\ninput = lines:%s/a.txt\n[pool]\nworkers = 8\n' "$tmp" \
    >"$tmp/w8.ini"
(cd / && exec prlimit --nofile=40:40 -- "$bin" run "$tmp/w8.ini") \
    >"$tmp/out" 2>"$tmp/err"
like "$(cat "$tmp/err")" "mproc: $tmp/w8.ini:5: 8 workers need about" \
    "and a job file's workers line, not another"
no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc status (issue 19): a running job's state read from its socket,
# as text and JSON, with 1 and 8 workers and after a worker's death;
# the socket is private (0600 in a 0700 folder), gone after the run,
# and after a kill -9 removed by the next run or by mproc clean.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# The JSON checks parse with python3 (CI installs it; a minimal system
# may lack it).
command -v python3 >/dev/null 2>&1 ||
    { echo "1..0 # SKIP python3 is needed to parse mproc status --json"; exit 0; }

# A folder of our own: other tests' runs serve their status elsewhere.
XDG_RUNTIME_DIR=$tmp/run
export XDG_RUNTIME_DIR
mkdir -m 700 "$XDG_RUNTIME_DIR"
sockdir=$XDG_RUNTIME_DIR/mproc

# ---- no job ----
run_mproc status
is "$st" 1 "no job: exit 1"
like "$err" "no mproc job of yours is running" "no job: says so"
run_mproc status --json
is "$st" 1 "no job, --json: exit 1"
run_mproc status 2147483
is "$st" 1 "no such pid: exit 1"
like "$err" "no job 2147483 of yours is running" "no such pid: names it"
run_mproc status --bogus
is "$st" 64 "unknown option: exit 64"
run_mproc status --watch=x
is "$st" 64 "--watch=x: exit 64"
like "$err" "--watch: expected seconds" "--watch=x: says what is expected"
run_mproc status a b
is "$st" 64 "two jobs named: exit 64"

# wait_sock: wait for the one running job's socket; $host is its pid.
wait_sock() {
    n=0; host=
    while [ -z "$host" ] && [ $n -lt 100 ]; do
        for s in "$sockdir"/*.sock; do
            [ -S "$s" ] && host=$(basename "$s" .sock)
        done
        [ -n "$host" ] || sleep 0.1
        n=$((n + 1))
    done
    [ -n "$host" ]
}

# start_job NAME W COMMAND: run a 60-item exec job in the background
# ($sub the pid to wait for, $host mproc's) and wait for its socket.
start_job() {
    printf '[job]\nplugin = exec\ninput = range:1..60\n[args]\ncommand = %s\n' \
        "$3" >"$tmp/$1.ini"
    rm -f "$tmp/go"
    timeout -k 5 60 "$bin" run "$tmp/$1.ini" --workers "$2" --quiet \
        >"$tmp/$1.out" 2>"$tmp/$1.err" &
    sub=$!
    wait_sock
    ok $? "$1: its socket appears ($host.sock)"
}

# check_json FILE W: the fields a user relies on.
check_json() {
    python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
w = int(sys.argv[2])
assert isinstance(d["pid"], int) and d["label"].endswith(".ini"), d
assert len(d["workers"]) == w, d["workers"]
for x in d["workers"]:
    assert x["state"] in ("idle", "running", "starting", "retiring", "down"), x
    assert isinstance(x["done"], int) and x["done"] >= 0
    if x["state"] == "running":
        assert isinstance(x["item"], int) and 0 <= x["item"] < 60, x
        assert isinstance(x["preview"], str) and x["preview"], x
        assert x["running_s"] >= 0 and x["rss_bytes"] > 0, x
    else:
        assert x["item"] is None, x
assert any(x["state"] == "running" for x in d["workers"]), d["workers"]
it = d["items"]
assert it["total"] == 60, it
assert it["done"] >= 1 and it["failed"] == 0 and it["retried"] == 0, it
assert it["pending"] + it["running"] + it["done"] == 60, it
assert d["rate"] > 0 and d["eta_s"] is not None and d["eta_s"] >= 0, d
l = d["latency_s"]
assert 0 < l["p50"] <= l["p90"] <= l["p99"] <= l["max"], l
assert 1 <= len(d["slowest"]) <= 5, d["slowest"]
s = [x["seconds"] for x in d["slowest"]]
assert s == sorted(s, reverse=True) and s[0] == l["max"], d["slowest"]
PY
}

# Items 1 to 10 take 0.1 s; the others wait for the file "go" (so that
# the job runs, however loaded the machine, until the test is done with
# it), then take 0.02 s.
gated="if [ \"\$1\" -le 10 ]; then sleep 0.1; else while [ ! -e $tmp/go ]; do sleep 0.05; done; sleep 0.02; fi"

# done_at_least N: wait until the job has done N items.
done_at_least() {
    n=0
    while [ $n -lt 300 ]; do
        d=$("$bin" status --json "$host" 2>/dev/null |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["items"]["done"])' 2>/dev/null)
        [ "${d:-0}" -ge "$1" ] && return 0
        sleep 0.1; n=$((n + 1))
    done
    return 1
}

for w in 1 8; do
    start_job "w$w" $w "$gated"
    # Once items 1 to 10 are done: rate and latency are known.
    done_at_least 10
    ok $? "w$w: 10 items done"
    run_mproc status
    is "$st" 0 "w$w: mproc status: exit 0"
    like "$(cat "$tmp/out")" "job $tmp/w$w.ini, pid $host" "w$w: names the job and pid"
    like "$(cat "$tmp/out")" "items: " "w$w: an items line"
    like "$(cat "$tmp/out")" "latency: p50 " "w$w: a latency line"
    like "$(cat "$tmp/out")" "ETA " "w$w: an ETA"
    rows=$(grep -cE '^[0-9]+ +(running|idle|starting|retiring) ' "$tmp/out")
    is "$rows" $w "w$w: one row per worker"
    run_mproc status --json "$host"
    is "$st" 0 "w$w: --json PID: exit 0"
    check_json "$tmp/out" $w
    ok $? "w$w: the JSON parses and its fields hold"
    run_mproc status "w$w"
    is "$st" 0 "w$w: by job name: exit 0"
    like "$(cat "$tmp/out")" "pid $host" "w$w: by job name: that job"
    if [ $w = 8 ]; then
        # Private: the socket 0600, its folder 0700, and another user
        # cannot connect.
        is "$(stat -c %a "$sockdir/$host.sock")" 600 "socket mode 0600"
        is "$(stat -c %a "$sockdir")" 700 "folder mode 0700"
        if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
            setpriv --reuid=nobody --regid=nogroup --clear-groups \
                env XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" "$bin" status "$host" \
                >"$tmp/nobody.out" 2>&1
            [ $? -ne 0 ] && ! grep -q '^items: ' "$tmp/nobody.out"
            ok $? "another user: mproc status shows nothing, fails"
            python3 -c 'import os, socket, sys
os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except PermissionError:
    sys.exit(0)
sys.exit(1)' "$sockdir/$host.sock"
            ok $? "another user: connect() is refused (EACCES)"
        else
            ok 0 "# SKIP another user: needs root and user nobody"
            ok 0 "# SKIP another user: needs root and user nobody"
        fi
        # --watch, not on a tty: plain blocks until the job ends.
        timeout -k 5 50 "$bin" status --watch 0.2 "$host" >"$tmp/watch" 2>&1 &
        watch=$!
        n=0
        while [ "$(grep -c '^items: ' "$tmp/watch")" -lt 2 ] && [ $n -lt 300 ]; do
            sleep 0.1; n=$((n + 1))
        done
        touch "$tmp/go"
        wait "$watch"
        is "$?" 0 "--watch: exit 0 when the job ends"
        blocks=$(grep -c '^items: ' "$tmp/watch")
        [ "$blocks" -ge 2 ]
        ok $? "--watch: repeated blocks ($blocks)"
        like "$(tail -n 1 "$tmp/watch")" "the job has ended" "--watch: says the job ended"
    fi
    touch "$tmp/go"
    wait "$sub"
    is "$?" 0 "w$w: the job succeeds"
    [ ! -e "$sockdir/$host.sock" ]
    ok $? "w$w: no socket left after the run"
done

# ---- a preview shows control bytes escaped ----
printf 'a\tb\001\033[2J\n' >"$tmp/odd.txt"
printf '[job]\nplugin = exec\ninput = lines:odd.txt\n[args]\ncommand = while [ ! -e %s/go ]; do sleep 0.05; done\n' \
    "$tmp" >"$tmp/odd.ini"
rm -f "$tmp/go"
timeout -k 5 60 "$bin" run "$tmp/odd.ini" --quiet >/dev/null 2>&1 &
sub=$!
wait_sock
n=0
until "$bin" status "$host" 2>/dev/null | grep -q ' running '; do
    [ $n -lt 300 ] || break
    sleep 0.1; n=$((n + 1))
done
run_mproc status "$host"
like "$(cat "$tmp/out")" 'a\tb\x01\x1b[2J' "preview: control bytes escaped"
if grep -q "$(printf '\033')" "$tmp/out"; then ok 1 "preview: no raw ESC"; else ok 0 "preview: no raw ESC"; fi
run_mproc status --json "$host"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p=[w["preview"] for w in d["workers"] if w["preview"]]; sys.exit(0 if p == ["a\\tb\\x01\\x1b[2J"] else 1)' "$tmp/out"
ok $? "preview: the JSON string holds the escaped text"
touch "$tmp/go"
wait "$sub"

# ---- two jobs: listed, or named ----
rm -f "$tmp/go"
for j in ja jb; do
    printf '[job]\nplugin = exec\ninput = range:1..4\n[args]\ncommand = while [ ! -e %s/go ]; do sleep 0.05; done\n' \
        "$tmp" >"$tmp/$j.ini"
    timeout -k 5 60 "$bin" run "$tmp/$j.ini" --workers 2 --quiet >/dev/null 2>&1 &
done
# Up to 30 s for both to be up: under a sanitizer on a loaded machine
# (make -j2 check), the second run once took more than 10 s to start.
n=0
while [ "$(ls "$sockdir" | grep -c 'sock$')" -lt 2 ] && [ $n -lt 300 ]; do
    sleep 0.1; n=$((n + 1))
done
run_mproc status
is "$st" 0 "two jobs: exit 0"
like "$(cat "$tmp/out")" "2 jobs run; name one" "two jobs: listed"
like "$(cat "$tmp/out")" "job $tmp/ja.ini, pid " "two jobs: the first"
like "$(cat "$tmp/out")" "job $tmp/jb.ini, pid " "two jobs: the second"
run_mproc status --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if len(d) == 2 else 1)' "$tmp/out"
ok $? "two jobs, --json: an array of both"
run_mproc status jb
like "$(head -n 1 "$tmp/out")" "job $tmp/jb.ini, pid " "two jobs: one named by its job name"
touch "$tmp/go"
wait

# ---- after a worker's death (fault plugin, retries) ----
printf '[job]\nplugin = fault\ninput = lines:items.txt\nretries = 1\n' >"$tmp/fault.ini"
i=0; while [ $i -lt 40 ]; do echo "sleep:500"; i=$((i + 1)); done >"$tmp/items.txt"
(cd "$tmp" && exec timeout -k 5 60 "$bin" run "$tmp/fault.ini" --workers 2 --quiet \
    >"$tmp/fault.out" 2>"$tmp/fault.err") &
sub=$!
wait_sock
sleep 0.5
victim=$(children "$host" | head -n 1)
[ -n "$victim" ] && kill -KILL "$victim"
ok $? "killed worker $victim"
n=0; retried=0
while [ "$retried" = 0 ] && [ $n -lt 200 ]; do
    sleep 0.1; n=$((n + 1))
    "$bin" status --json "$host" >"$tmp/after.json" 2>/dev/null || break
    retried=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items"]["retried"])' "$tmp/after.json")
done
is "$retried" 1 "after a death: retried 1"
python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
pids = [w["pid"] for w in d["workers"]]
sys.exit(0 if int(sys.argv[2]) not in pids and len(pids) == 2 else 1)' "$tmp/after.json" "$victim"
ok $? "after a death: the dead worker is no longer listed"
wait "$sub"
is "$?" 0 "after a death: the job succeeds (the item retried)"

# ---- a stopped job: running, not answering; not "no job" ----
start_job st1 2 "sleep 1"
kill -STOP "$host"
run_mproc status "$host"
is "$st" 70 "SIGSTOPped job, by pid: exit 70 (no answer read)"
like "$(cat "$tmp/out")" "pid $host" "SIGSTOPped job, by pid: shown"
like "$(cat "$tmp/out")" "sent nothing in 3 s: stopped" \
    "SIGSTOPped job, by pid: says it runs but does not answer"
unlike "$err" "no job" "SIGSTOPped job, by pid: not said missing"
run_mproc status
like "$(cat "$tmp/out")" "pid $host" "SIGSTOPped job: listed"
run_mproc status --json
like "$(cat "$tmp/out")" "\"answering\":false" "SIGSTOPped job: --json says so"
run_mproc status st1
is "$st" 1 "SIGSTOPped job, by name: exit 1 (its name is unknown)"
like "$err" "job $host runs but did not answer" \
    "SIGSTOPped job, by name: names the pid that did not answer"
kill -CONT "$host"
run_mproc status "$host"
is "$st" 0 "continued: answers again"
kill -TERM "$host"
wait "$sub" 2>/dev/null

# ---- kill -9: the next run, and mproc clean, remove the socket ----
start_job k1 2 "sleep 1"
kill -KILL "$host"
wait "$sub" 2>/dev/null
[ -S "$sockdir/$host.sock" ]
ok $? "kill -9: the socket is left"
run_mproc status
is "$st" 1 "kill -9: no job listed"
run_mproc clean --dry-run
like "$(cat "$tmp/out")" "would remove status socket of run $host (dead)" "clean --dry-run lists it"
[ -S "$sockdir/$host.sock" ]
ok $? "clean --dry-run leaves it"
printf '[job]\nplugin = echo\ninput = range:1..3\n' >"$tmp/echo.ini"
run_mproc run "$tmp/echo.ini" --quiet
is "$st" 0 "the next run succeeds"
[ ! -e "$sockdir/$host.sock" ]
ok $? "kill -9: the next run removed the stale socket"
start_job k2 2 "sleep 1"
kill -KILL "$host"
wait "$sub" 2>/dev/null
run_mproc clean
is "$st" 0 "mproc clean: exit 0"
like "$(cat "$tmp/out")" "removed status socket of run $host (dead)" "mproc clean: says so"
[ ! -e "$sockdir/$host.sock" ]
ok $? "mproc clean removed it"

# ---- status off ----
printf '[job]\nplugin = exec\ninput = range:1..2\nstatus = off\n[args]\ncommand = sleep 0.5\n' >"$tmp/off.ini"
timeout -k 5 60 "$bin" run "$tmp/off.ini" --quiet >/dev/null 2>&1 &
sub=$!
sleep 0.3
[ -z "$(ls "$sockdir")" ]
ok $? "[job] status = off: no socket"
wait "$sub"
MPROC_STATUS=0 timeout -k 5 60 "$bin" run "$tmp/w1.ini" --quiet --set job.input=range:1..3 >/dev/null 2>&1 &
sub=$!
sleep 0.3
[ -z "$(ls "$sockdir")" ]
ok $? "MPROC_STATUS=0: no socket"
wait "$sub"
printf '[job]\nplugin = echo\nstatus = maybe\n' >"$tmp/bad.ini"
run_mproc run "$tmp/bad.ini"
is "$st" 78 "status = maybe: exit 78"
like "$err" "bad.ini:3" "status = maybe: names FILE:LINE"

# An unsafe folder (another's, or open to others) is refused with a
# warning; the run goes on.
chmod 755 "$sockdir"
run_mproc run "$tmp/echo.ini" --quiet
is "$st" 0 "folder open to others: the run goes on"
like "$err" "warning: status folder $sockdir is not a folder of yours" "folder open to others: a warning"
chmod 700 "$sockdir"

# A run too busy to accept, its backlog full: every run started
# meanwhile hung in connect() while it looked for dead sockets, and so
# did mproc status (an operator's pass, 2026-12-01).  A process that
# listens on a socket named as a run's and never accepts stands for it.
python3 - "$sockdir" "$tmp/busy.ready" <<'PY' &
import os, socket, sys, time
path = "%s/%d.sock" % (sys.argv[1], os.getpid())
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(0)
pending = []
while True:  # fill the backlog
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.setblocking(False)
    try:
        c.connect(path)
    except BlockingIOError:
        break
    pending.append(c)
open(sys.argv[2], "w").close()
time.sleep(60)
PY
busy=$!
n=0
while [ ! -e "$tmp/busy.ready" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
ok $([ -e "$tmp/busy.ready" ]; echo $?) "a busy run's socket, its backlog full"
timeout -k 2 20 "$bin" run "$tmp/echo.ini" --quiet >/dev/null 2>"$tmp/err"
is "$?" 0 "a run starts all the same (124: it hung in connect)"
timeout -k 2 20 "$bin" status >"$tmp/out" 2>"$tmp/err"
is "$?" 70 "mproc status answers at once: one job, not answering (70; 124: it hung)"
like "$(cat "$tmp/out")" "pid $busy" "and lists the busy one"
like "$(cat "$tmp/out")" "not answering" "as not answering"
ok $([ -S "$sockdir/$busy.sock" ]; echo $?) "its socket is left alone"
kill "$busy"
wait "$busy" 2>/dev/null
rm -f "$sockdir/$busy.sock"
no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc clean (issue 15, ops15): the temporary folders of a run killed
# with SIGKILL ($TMPDIR/mproc-spill.PID.*, mproc-exec.PID.*) are removed
# once their run is dead, never while it runs; so is the key folder of a
# job's started manager (mproc-mgrjob.PID.*).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"
TMPDIR=$tmp/t
export TMPDIR
mkdir "$TMPDIR"

# wait_for TEST...: up to 20 s for the shell test to hold.
wait_for() {
    i=0
    while [ $i -lt 400 ] && ! eval "$1"; do sleep 0.05; i=$((i + 1)); done
}

# Two runs to kill, started without a wrapper so that $! is mproc
# itself; each job 1 waits for the test (bounded: 30 s), so job 2's big
# output waits on disk for its turn.
cmd="i=0; [ {} = 1 ] && while [ ! -e $tmp/go ] && [ \$i -lt 600 ]; do sleep 0.05; i=\$((i + 1)); done; seq 20000"
"$bin" exec -j2 --line-buffer --set job.message_max=1024 "$cmd" ::: 1 2 \
    > /dev/null 2>&1 &
lb=$!
wait_for 'ls "$TMPDIR" 2>/dev/null | grep -q mproc-exec'
like "$(ls "$TMPDIR")" "mproc-exec.$lb." "a run folder named with the run's pid"
"$bin" exec -j2 --set job.message_max=1024 "$cmd" ::: 1 2 > /dev/null 2>&1 &
spiller=$!
wait_for '[ -n "$(ls "$TMPDIR"/mproc-spill.*/ 2>/dev/null)" ]'
like "$(ls "$TMPDIR")" "mproc-spill.$spiller." "a spill folder named with the run's pid"
ok "$([ -n "$(ls "$TMPDIR"/mproc-spill.*/)" ]; echo $?)" "holding a spilled output"

# Alive: mproc clean leaves both.
run_mproc clean
is "$st" 0 "clean: exit 0"
like "$(cat "$tmp/out")" "removed 0 temporary folders of dead mproc runs" \
    "a live run's folders are left"
# (3: the --line-buffer run has a spill folder too.)
is "$(ls "$TMPDIR" | wc -l | tr -d ' ')" 3 "all still there"

# SIGKILL: the folders stay behind.
kill -9 $lb $spiller
wait $lb $spiller 2>/dev/null
touch "$tmp/go"
wait_for '! pgrep -f "$tmp/go" > /dev/null'
is "$(ls "$TMPDIR" | wc -l | tr -d ' ')" 3 "SIGKILL leaves the folders"

run_mproc clean --dry-run
like "$(cat "$tmp/out")" "would remove $TMPDIR/mproc-spill.$spiller." \
    "--dry-run lists the dead run's spill folder"
like "$(cat "$tmp/out")" "found 3 temporary folders" "and all three"
is "$(ls "$TMPDIR" | wc -l | tr -d ' ')" 3 "--dry-run removes nothing"

# A folder of a live run made by hand, and another user's name form.
mkdir "$TMPDIR/mproc-spill.$$.abcdef" "$TMPDIR/mproc-spill.zzzzzz"
run_mproc clean
is "$st" 0 "clean: exit 0"
like "$(cat "$tmp/out")" "removed 3 temporary folders of dead mproc runs" \
    "the dead runs' folders removed"
is "$(ls "$TMPDIR" | sort | tr '\n' ' ')" \
    "mproc-spill.$$.abcdef mproc-spill.zzzzzz " \
    "a live pid's folder and one without a pid are left"
# The key folder of a job's started manager (mproc-mgrjob.PID.*), in
# $XDG_RUNTIME_DIR when set: left by a SIGKILL, removed by mproc clean.
XDG_RUNTIME_DIR=$tmp/xdg
export XDG_RUNTIME_DIR
mkdir -m 0700 "$XDG_RUNTIME_DIR"
printf '[job]\nplugin = mgrcount\ninput = range:1..100000000\nchunksize = 1\n[pool]\nworkers = 1\n[manager]\nstart = yes\nobjects = dict:items value:total=int64\n' \
    > "$tmp/mgr.ini"
"$bin" run "$tmp/mgr.ini" > /dev/null 2>&1 &
mgr=$!
wait_for 'ls "$XDG_RUNTIME_DIR" 2>/dev/null | grep -q mproc-mgrjob'
like "$(ls "$XDG_RUNTIME_DIR")" "mproc-mgrjob.$mgr." \
    "a manager's key folder named with the run's pid"
run_mproc clean
is "$(ls "$XDG_RUNTIME_DIR" | grep -c mproc-mgrjob)" 1 \
    "clean leaves a live run's key folder"
kill -9 $mgr
wait $mgr 2>/dev/null
wait_for '! pgrep -f "$tmp/mgr.ini" > /dev/null'
is "$(ls "$XDG_RUNTIME_DIR" | grep -c mproc-mgrjob)" 1 \
    "SIGKILL leaves the key folder"
run_mproc clean
like "$(cat "$tmp/out")" "removed $XDG_RUNTIME_DIR/mproc-mgrjob.$mgr." \
    "clean removes the dead run's key folder"
is "$(ls "$XDG_RUNTIME_DIR" | grep -c mproc-mgrjob)" 0 "and it is gone"
no_leftovers

done_testing

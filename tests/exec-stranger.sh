#!/bin/sh
# SPDX-License-Identifier: MIT
# What a stranger's pass over mproc exec found (stranger-ops): with
# --line-buffer a full disk or a reader gone was not a write error (exit
# 0, every job logged ok, --resume ran none again); a closed stdout lost
# the results with exit 0; job-file keys added since the --KEY list was
# written were refused as options; an unusable TMPDIR made a big output
# fail as "over the message limit".
. "${MPROC_SRCDIR:-.}/tests/lib.sh"
TMPDIR=$tmp
export TMPDIR

# A full disk: 74 and the reason, as without --line-buffer; no job logged
# ok, so --resume runs them all.
for lb in --line-buffer ""; do
    rm -f "$tmp/lb.log"
    timeout -k 5 60 "$bin" exec -j2 $lb --joblog "$tmp/lb.log" \
        'echo line-{}' ::: 1 2 3 > /dev/full 2> "$tmp/err"
    is "$?" 74 "${lb:-grouped}: /dev/full exits 74"
    like "$(cat "$tmp/err")" \
        "mproc: output stdout: write error: No space left on device" \
        "${lb:-grouped}: says why"
    is "$(grep -c '	ok	' "$tmp/lb.log")" 0 "${lb:-grouped}: no job logged ok"
    run_mproc exec -j2 $lb --joblog "$tmp/lb.log" --resume 'echo line-{}' \
        ::: 1 2 3
    is "$st" 0 "${lb:-grouped}: --resume"
    is "$(sort "$tmp/out" | tr '\n' ' ')" "line-1 line-2 line-3 " \
        "${lb:-grouped}: runs them all again"
done

# Written with the job log: each job logged ok has its lines out.
run_mproc exec -j2 --line-buffer --joblog "$tmp/ok.log" \
    'sleep 0.{}; echo line-{}' ::: 1 2 3 4
is "$st" 0 "line-buffer with a job log: exit 0"
is "$(grep -c '	ok	' "$tmp/ok.log")" 4 "every job logged ok"
is "$(sort "$tmp/out" | tr '\n' ' ')" "line-1 line-2 line-3 line-4 " \
    "and its lines out"

# The reader gone: SIGPIPE (141) each time, quietly, and the running jobs
# are stopped, not left to finish.  (`: {}`: with no {} the item would be
# seq's last argument, and three short lines may all fit in the pipe
# before head leaves, a clean exit 0 as for any filter.)
i=0 bad=""
while [ $i -lt 5 ]; do
    st=$( { timeout -k 5 60 "$bin" exec -j2 --line-buffer 'seq 1 100000; : {}' \
        ::: 1 2 3 2> "$tmp/err.$i"; echo $? > "$tmp/st"; } | head -1 > /dev/null
        cat "$tmp/st")
    [ "$st" = 141 ] || bad="$bad $st"
    i=$((i + 1))
done
is "$bad" "" "reader gone: 141 every time"
is "$(cat "$tmp"/err.*)" "" "and nothing said"
rm -f "$tmp/F"
{ timeout -k 5 60 "$bin" exec -j2 --line-buffer \
    "seq 1 100000; sleep 3; echo done >> $tmp/F; : {}" ::: 1 2 3 2> /dev/null
  echo $? > "$tmp/st"; } | head -1 > /dev/null
is "$(cat "$tmp/st")" 141 "reader gone while jobs sleep: 141"
ok "$([ ! -e "$tmp/F" ]; echo $?)" "the running jobs were stopped"

# stdout closed: the results cannot be written, and that is an error.
for lb in --line-buffer ""; do
    timeout -k 5 60 "$bin" exec -j2 $lb 'echo line-{}' ::: 1 2 3 \
        >&- 2> "$tmp/err"
    is "$?" 74 "${lb:-grouped}: stdout closed exits 74"
    like "$(cat "$tmp/err")" \
        "mproc: output stdout: write error: Bad file descriptor" \
        "${lb:-grouped}: says why"
done
timeout -k 5 60 "$bin" exec -j2 'true {}' ::: 1 2 >&- 2> "$tmp/err"
is "$?" 0 "stdout closed, no output: exit 0"

# Every key of [job] and [pool] is an option, with '-' for '_' too; the
# ones mproc exec sets itself are not.
for kv in "status off" "slowlog 1s" "quarantine_after 2" "output_mode raw" \
    "joblog_sync batch" "shard_mode stride" "shard-mode stride" \
    "node_timeout 5s" "launcher local" "output-mode raw" "timeout 10s"; do
    set -- $kv
    run_mproc exec --$1 $2 -j1 'echo {}' ::: a
    is "$st:$(cat "$tmp/out")" "0:a" "--$1 $2 is taken"
done
run_mproc exec -j1 --shard 0/2 --shard-mode stride 'echo {}' ::: 1 2 3 4
is "$(cat "$tmp/out" | tr '\n' ' ')" "1 3 " "--shard-mode stride applies"
run_mproc exec --shard_mode bogus 'echo {}' ::: a
is "$st" 78 "a bad value: the key's own check"
like "$err" "shard_mode: expected contiguous or stride, got 'bogus'" "says why"
run_mproc exec --plugin echo 'echo {}' ::: a
is "$st" 64 "--plugin: mproc exec's own, refused"

# No folder for big outputs: the run is refused at once, saying why.
rm -f "$tmp/ran"
TMPDIR=$tmp/none run_mproc exec -j1 --message_max 1K \
    "head -c 5000 /dev/zero; touch $tmp/ran; : {}" ::: 1
is "$st" 73 "TMPDIR unusable: exit 73"
like "$err" "cannot make a folder for outputs over message_max in $tmp/none" \
    "says why"
unlike "$err" "exceeds the message limit" "not as a too big output"
ok "$([ ! -e "$tmp/ran" ]; echo $?)" "before any job runs"

ls -d "$tmp"/mproc-exec.* > /dev/null 2>&1
ok "$([ $? -ne 0 ]; echo $?)" "no run folder left"

done_testing

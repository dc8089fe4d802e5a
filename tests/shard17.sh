#!/bin/sh
# SPDX-License-Identifier: MIT
# Shards of a job (issue 17): mproc run --shard K/N runs one block (or
# stride) of the input; mproc merge joins the shards' outputs into a
# single run's, byte for byte, for N = 1, 2, 3 and 7, shards run one
# after another and at the same time, of echo (100,000 items), exec and
# wordcount (a reducing plugin); a shard killed half-way and resumed
# merges the same, no index twice; each user error is a clear one.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

cat >"$tmp/echo.ini" <<'INI'
[job]
plugin = echo
input = range:0..99999
output = out.txt
[pool]
workers = 2
INI
# mproc writes relative paths next to the job file.
cd "$tmp" || exit 1

single() {  # single JOB: a plain run, its output kept as single.txt
    run_mproc run "$1" -q
    out=$(sed -n 's/^output *= *//p' "$1")
    mv "$out" single.txt
}
# shards JOB N MODE par|seq: run the N shards (with --joblog log), then
# merge them; $st is merge's status
shards() {
    rm -f log log.shard-* ./*.shard-*
    k=0 pids=
    while [ $k -lt "$2" ]; do
        if [ "$4" = par ]; then
            timeout -k 5 60 "$bin" run "$1" -q --shard "$k/$2" \
                --shard-mode "$3" --joblog log >/dev/null 2>"$tmp/err.$k" &
            pids="$pids $!"
        else
            timeout -k 5 60 "$bin" run "$1" -q --shard "$k/$2" \
                --shard-mode "$3" --joblog log >/dev/null 2>"$tmp/err.$k" ||
                cat "$tmp/err.$k"
        fi
        k=$((k + 1))
    done
    for p in $pids; do wait "$p"; done
    run_mproc merge "$1" --shards "$2" --joblog log
}
same() {  # same FILE DESCRIPTION [REFERENCE, default single.txt]
    if cmp -s "$1" "${3:-single.txt}"; then ok 0 "$2"; else
        ok 1 "$2"; cmp "$1" "${3:-single.txt}" | sed 's/^/#   /'
    fi
}

# ---- echo, 100,000 items ----
single echo.ini
cp single.txt echo-single.txt
for n in 1 2 3 7; do
    shards echo.ini $n contiguous seq
    is "$st" 0 "echo, $n shards one after another: merge exits 0"
    same out.txt "echo, $n shards: merged == single run"
done
shards echo.ini 3 contiguous seq
is "$(wc -l <out.txt.shard-0-of-3)/$(wc -l <out.txt.shard-2-of-3)" \
    33333/33334 "contiguous: ranges split exactly (33333, 33333, 33334)"
is "$(head -1 out.txt.shard-1-of-3)" 33333 "contiguous: shard 1 starts at its block"
for n in 3 7; do
    shards echo.ini $n contiguous par
    is "$st" 0 "echo, $n shards at the same time: merge exits 0"
    same out.txt "echo, $n parallel shards: merged == single run"
done
shards echo.ini 7 stride par
same out.txt "echo, 7 stride shards: merged == single run"
is "$(head -2 out.txt.shard-3-of-7 | tr '\n' ,)" "3,10," "stride: shard 3 of 7 runs 3, 10, ..."
is "$(awk -F'\t' 'NR > 1 { print $1 }' log | sort -n | uniq -d | wc -l)" 0 \
    "the merged log holds every index once"
is "$(awk -F'\t' 'NR > 1 && $5 == "ok"' log | wc -l)" 100000 \
    "the merged log: 100000 items ok"
like "$(head -1 log)" "mproc-joblog 2 shard=0/1 mode=contiguous total=100000 " \
    "the merged log's header"

# ---- an unordered job: concatenated ----
sed 's/^\[pool\]/ordered = false\n[pool]/' echo.ini >unord.ini
shards unord.ini 3 contiguous par
is "$st" 0 "unordered: merge exits 0"
is "$(sort -n out.txt | cmp - single.txt && echo same)" same \
    "unordered: merged holds a single run's lines"

# ---- lines: and files: by item index ----
seq 1 500 | sed 's/^/line /' >lines.txt
printf '[job]\nplugin = echo\ninput = lines:lines.txt\noutput = lout.txt\n' >lines.ini
single lines.ini
shards lines.ini 7 contiguous seq
same lout.txt "lines:, 7 shards: merged == single run"
mkdir files; for i in $(seq 10 40); do : >files/f$i; done
printf '[job]\nplugin = echo\ninput = files:files\noutput = fout.txt\n' >files.ini
single files.ini
shards files.ini 3 stride seq
same fout.txt "files:, 3 stride shards: merged == single run"
shards files.ini 2 contiguous par
same fout.txt "files:, 2 shards: merged == single run"

# ---- exec ----
echo a >a.txt
printf '[job]\nplugin = exec\ninput = range:1..120\noutput = xout.txt\n[args]\ncommand = echo "item $1"; printf "x%%s" "$1"\n' >exec.ini
single exec.ini
for n in 1 2 3 7; do
    shards exec.ini $n contiguous par
    is "$st" 0 "exec, $n shards: merge exits 0"
    same xout.txt "exec, $n shards: merged == single run"
done

# mproc exec --shard K/N: a block of its ::: items
: >xs.txt
for k in 0 1 2; do "$bin" exec --shard $k/3 echo ::: a b c d e f g >>xs.txt; done
is "$(tr '\n' ' ' <xs.txt)" "a b c d e f g " "mproc exec --shard K/3: the blocks add up to the ::: list"
run_mproc exec --shard 0/2 echo <a.txt
is "$st" 64 "mproc exec --shard with stdin items: exit 64"

# ---- wordcount: folded through its reduce ----
i=0; while [ $i -lt 700 ]; do
    echo "the cat $((i % 13)) sat on $((i % 7)) mats and the dog $((i % 29))"
    i=$((i + 1))
done >text.txt
printf '[job]\nplugin = wordcount\ntask = text\ninput = lines:text.txt\noutput = wc.txt\n' >wc.ini
single wc.ini
for n in 1 2 3 7; do
    shards wc.ini $n contiguous seq
    is "$st" 0 "wordcount, $n shards: merge exits 0"
    same wc.txt "wordcount, $n shards: merged == single run"
done
shards wc.ini 3 stride par
same wc.txt "wordcount, 3 parallel stride shards: merged == single run"
like "$(cat "$tmp/err")" "(reduced)" "merge says it reduced"
# A reducing plugin that does not say its reduce takes its own output.
printf '[job]\nplugin = %s/sum12.so\ninput = range:1..10\noutput = sum.txt\n' \
    "$MPROC_TEST_PLUGINS" >sum.ini
shards sum.ini 2 contiguous seq
is "$st" 78 "a reducing plugin without MPROC_REDUCE_OWN_OUTPUT: exit 78"
like "$err" "does not say that its reduce takes its own final output" \
    "says why it cannot be merged"
is "$(cat sum.txt.shard-0-of-2 sum.txt.shard-1-of-2 | tr '\n' ,)" "15,40," \
    "its 1.2 descriptor still loads and runs"

# ---- a shard killed half-way, resumed, merged ----
# Slow items (exec: a sleep each), so that the kill comes mid-shard.
printf '[job]\nplugin = exec\ninput = range:1..240\noutput = sl.txt\n[pool]\nworkers = 2\n[args]\ncommand = sleep 0.02; echo "$1"\n' >slow.ini
seq 1 240 >slow-single.txt
rm -f log log.shard-*
for k in 0 2; do "$bin" run slow.ini -q --shard $k/3 --joblog log; done
"$bin" run slow.ini -q --shard 1/3 --joblog log &
host=$!
n=0
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# 30 lines logged (of its 80): a slow start (a sanitizer build) waits.
while [ "$(lines log.shard-1-of-3)" -lt 30 ] && [ $n -lt 3000 ]; do
    sleep 0.01; n=$((n + 1))
done
kill -9 $host; wait $host 2>/dev/null
cut_at=$(lines sl.txt.shard-1-of-3)
run_mproc merge slow.ini --shards 3 --joblog log
is "$st" 1 "a killed shard: merge exits 1"
like "$err" "missing (not logged by any shard)" "and names the missing items"
run_mproc run slow.ini -q --shard 1/3 --joblog log --resume
is "$st" 0 "the killed shard resumed (killed at $cut_at of 80 lines): exit 0"
run_mproc merge slow.ini --shards 3 --joblog log
is "$st" 0 "then merge exits 0"
same sl.txt "killed, resumed, merged == single run" slow-single.txt
is "$(awk -F'\t' '$5 == "ok" { print $1 }' log.shard-1-of-3 | sort | uniq -d | wc -l)" 0 \
    "the resumed shard's log: no index ok twice"
is "$(awk -F'\t' 'NR > 1 { print $1 }' log | sort | uniq -d | wc -l)" 0 \
    "the merged log: no index twice"

# A shard with a failed item: merge names it.
printf 'ok\nfail:x\nok\nok\n' >fitems.txt
printf '[job]\nplugin = fault\ninput = lines:fitems.txt\noutput = fo.txt\n' >fault.ini
shards fault.ini 2 contiguous seq
is "$st" 1 "a failed item: merge exits 1"
like "$err" "1 item failed (resume their shards with --resume): 1" \
    "and names it"

# ---- user errors ----
run_mproc run echo.ini --shard 3/3
is "$st" 78 "--shard 3/3: exit 78"
like "$err" "shard: expected K/N with 0 <= K < N" "--shard 3/3: says what K/N must be"
run_mproc run echo.ini --shard 1
is "$st" 78 "--shard 1: exit 78"
printf '[job]\nplugin = echo\nshard = 2/2\n' >badshard.ini
run_mproc check badshard.ini
like "$err" "badshard.ini:3: shard: expected K/N" "[job] shard = 2/2: FILE:LINE"
run_mproc run echo.ini --shard-mode blocks
is "$st" 78 "--shard-mode blocks: exit 78"
like "$err" "expected contiguous or stride" "--shard-mode: says what it takes"
printf '[job]\nplugin = echo\n' >stdin.ini
echo a >a.txt
run_mproc run stdin.ini --shard 0/2 <a.txt
is "$st" 64 "stdin with a shard: exit 64"
like "$err" "input = stdin cannot be split into shards" "stdin: says why"
mkfifo fifo; printf '[job]\nplugin = echo\ninput = lines:fifo\n' >fifo.ini
# Refused before the FIFO is opened: no wait for a writer (it used to
# wait for ever, or take a writer's bytes and then refuse).
run_mproc run fifo.ini --shard 0/2
is "$st" 64 "lines: of a FIFO with a shard: exit 64, without a writer"
like "$err" "fifo.ini:3: input = lines:fifo: shards need a regular file" \
    "a FIFO: says why, at the input key's line"
run_mproc check fifo.ini --shard 0/2
is "$st" 64 "check of a FIFO with a shard: exit 64"
unlike "$(cat "$tmp/out")" "valid" "check of a FIFO with a shard: not said valid"
# slurm/N: K from SLURM_ARRAY_TASK_ID, N the user's (not the array's)
rm -f out.txt.shard-*
SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=1 run_mproc run echo.ini --shard slurm/4
is "$st" 0 "--shard slurm/4 with SLURM_ARRAY_TASK_ID=2: exit 0"
is "$(ls out.txt.shard-*)" out.txt.shard-2-of-4 \
    "it ran shard 2 of 4, not of SLURM_ARRAY_TASK_COUNT=1"
run_mproc run echo.ini --shard slurm/4
is "$st" 64 "slurm/4 without SLURM_ARRAY_TASK_ID: exit 64"
like "$err" "SLURM_ARRAY_TASK_ID is not set" "says so"
SLURM_ARRAY_TASK_ID=4 run_mproc run echo.ini --shard slurm/4
like "$err" "expected a task id from 0 to 3" "a task id past N: says so"
# check shows the shard
run_mproc check echo.ini --shard 1/7
like "$(cat "$tmp/out")" "job.shard = 1/7    (contiguous: 14286 of 100000 items" \
    "check shows the shard and its size"
like "$(cat "$tmp/out")" "items 14285 to 28570 of the input" "and its block"
# Resume with the log of another shard, or another N.
rm -f log log.shard-* out.txt*
"$bin" run echo.ini -q --shard 0/3 --joblog log
cp log.shard-0-of-3 log.shard-1-of-3
run_mproc run echo.ini --shard 1/3 --joblog log --resume
is "$st" 78 "resume with another shard's log: exit 78"
like "$err" "is the log of shard 0/3 (contiguous), this run is shard 1/3" \
    "says whose log it is"
cp log.shard-0-of-3 log.shard-0-of-4
run_mproc run echo.ini --shard 0/4 --joblog log --resume
is "$st" 78 "resume with a log of another N: exit 78"
cp log.shard-0-of-3 other.shard-0-of-3
run_mproc run echo.ini --shard 0/3 --joblog other --resume --set job.input=range:0..99998
is "$st" 78 "resume of a shard over another input: exit 78"
like "$err" "logs another input" "says so"
printf 'index\tworker\tstart\tduration\tstatus\texit\tattempts\titem\tmessage\n' >old.shard-0-of-3
run_mproc run echo.ini --shard 0/3 --joblog old --resume
is "$st" 78 "a format-1 log with a shard: exit 78"
like "$err" "written by an mproc without shards (9 columns" "says which format"
# merge: missing shard, another N, overlapping shards
rm -f log log.shard-* out.txt*
for k in 0 1 2; do "$bin" run echo.ini -q --shard $k/3 --joblog log; done
mv log.shard-2-of-3 saved
run_mproc merge echo.ini --shards 3 --joblog log
is "$st" 66 "merge with a shard missing: exit 66"
like "$err" "shard 2/3: its joblog log.shard-2-of-3: No such file" "names it"
cp log.shard-1-of-3 log.shard-2-of-3
run_mproc merge echo.ini --shards 3 --joblog log
is "$st" 78 "merge with a log of the wrong shard: exit 78"
like "$err" "is the log of shard 1/3, expected 2/3" "says whose it is"
mv saved log.shard-2-of-3
sed -n 2p log.shard-0-of-3 >>log.shard-1-of-3
run_mproc merge echo.ini --shards 3 --joblog log
is "$st" 78 "overlapping shards: exit 78"
like "$err" "logs item 0, which is not shard 1's (overlapping shards" \
    "says which item overlaps"
"$bin" run echo.ini -q --shard 1/3 --shard-mode stride --joblog log
run_mproc merge echo.ini --shards 3 --joblog log
is "$st" 78 "shards of different modes: exit 78"
# A merge that fails leaves the output as it was (it replaced it with the
# part merged so far).
rm -f log log.shard-* out.txt*
for k in 0 1 2; do "$bin" run echo.ini -q --shard $k/3 --joblog log; done
printf 'PRECIOUS\n' > out.txt
truncate -s 10 out.txt.shard-2-of-3
run_mproc merge echo.ini --shards 3 --joblog log
is "$st" 78 "a shard output shorter than its log: exit 78"
is "$(cat out.txt)" "PRECIOUS" "and the output is left as it was"
is "$(ls | grep -c merging)" 0 "with no staging file left"
run_mproc merge echo.ini --joblog log
is "$st" 64 "merge without --shards: exit 64"
run_mproc merge stdin.ini --shards 2 --joblog log
is "$st" 64 "merge of a job writing to stdout: exit 64"
# ---- mproc slurm, with a stand-in sbatch that runs the tasks here ----
cat >fake-sbatch <<'SH'
#!/bin/sh
# Records its arguments; runs an array script once per task id (as
# Slurm would, with SLURM_ARRAY_TASK_ID and SLURM_CPUS_PER_TASK), any
# other script once; prints a job id as sbatch --parsable does.
echo "$*" >>sbatch.args
for script; do :; done
range=$(sed -n 's/^#SBATCH --array=0-//p' "$script")
if [ -n "$range" ]; then
    k=0
    while [ $k -le "$range" ]; do
        SLURM_ARRAY_TASK_ID=$k SLURM_ARRAY_TASK_COUNT=$((range + 1)) \
            SLURM_CPUS_PER_TASK=2 sh "$script" >"task.$k.out" 2>&1 || exit 1
        k=$((k + 1))
    done
    echo "4242;cluster"
else
    sh "$script" >merge.out 2>&1 || exit 1
    echo 4243
fi
SH
chmod +x fake-sbatch
rm -f out.txt out.txt.shard-* sbatch.args
MPROC_SBATCH=$tmp/fake-sbatch run_mproc slurm echo.ini --shards 4 --partition=x -- -c 2
is "$st" 0 "mproc slurm: exit 0"
like "$(cat "$tmp/out")" "array job 4242: 4 shards of $tmp/echo.ini" "prints the array's job id"
like "$(cat "$tmp/out")" "merge job 4243: after all of them succeed" "and the merge's"
is "$(sed -n 2p sbatch.args)" \
    "--parsable --dependency=afterok:4242 --partition=x -c 2 mproc-slurm-echo-merge.sh" \
    "the merge depends on the array (afterok), with the user's options"
same out.txt "mproc slurm, 4 tasks + merge: merged == single run" echo-single.txt
like "$(cat task.1.out)" "mproc: 25000 items: 25000 succeeded" "each task ran its shard"
like "$(cat mproc-slurm-echo-array.sh)" '--workers "$SLURM_CPUS_PER_TASK"' \
    "workers: the task's CPUs"
run_mproc slurm echo.ini --shards 4 --dry-run
like "$(cat "$tmp/out")" "#SBATCH --array=0-3" "--dry-run prints the array script"
like "$(cat "$tmp/out")" "sbatch --parsable --dependency=afterok:ARRAY_JOB_ID" \
    "and how the merge is submitted"
# The job id is the number sbatch printed, found among other lines (a
# site's wrapper may print notices, or drop --parsable); anything else
# is refused rather than used in the merge's dependency.
cat > talky-sbatch <<'SH'
#!/bin/sh
echo "$*" >>talky.args
echo "sbatch: notice: the cluster is busy today"
case "$*" in
*afterok*) echo "Submitted batch job 78" ;;
*) printf '77;cluster\n' ;;
esac
SH
cat > odd-sbatch <<'SH'
#!/bin/sh
echo "queued, thank you"
SH
chmod +x talky-sbatch odd-sbatch
rm -f talky.args
MPROC_SBATCH=$tmp/talky-sbatch run_mproc slurm echo.ini --shards 2
is "$st" 0 "mproc slurm, sbatch prints a notice first: exit 0"
like "$(cat "$tmp/out")" "array job 77: 2 shards" "the array's id is the number"
like "$(cat "$tmp/out")" "merge job 78: after" "'Submitted batch job 78' gives 78"
like "$(sed -n 2p talky.args)" "--dependency=afterok:77 " \
    "the merge depends on 77, not on the notice"
MPROC_SBATCH=$tmp/odd-sbatch run_mproc slurm echo.ini --shards 2
is "$st" 69 "mproc slurm, sbatch printed no job id: exit 69"
like "$err" "printed no job id (expected a number, as sbatch --parsable prints; got 'queued, thank you')" \
    "says what it got"
MPROC_SBATCH=$tmp/no-such-sbatch run_mproc slurm echo.ini --shards 2
is "$st" 69 "mproc slurm without sbatch: exit 69"
like "$err" "cannot run $tmp/no-such-sbatch: No such file or directory (is Slurm installed?" "says so"
run_mproc slurm stdin.ini --shards 2
is "$st" 64 "mproc slurm of a job writing to stdout: exit 64"
run_mproc slurm echo.ini
is "$st" 64 "mproc slurm without --shards: exit 64"
run_mproc help merge
like "$(cat "$tmp/out")" "Usage: mproc merge JOB.ini --shards N" "help merge"
no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# A one-node Slurm cluster, started here without systemd (munged,
# slurmctld, slurmd with proctrack/linuxproc and task/none; every state,
# spool, socket and log file in a temporary folder; NodeName=localhost
# CPUs=2), then `mproc slurm JOB --shards 4 -- -c 2`: the merged output
# must equal a single run's.  Prints the times: the plain run, the
# submission to the merged output, each task's run and the merge.  Stops
# every daemon it started and removes the folder, whatever happens.
# Exits 77 (skip), saying why, where the daemons cannot start (not root,
# Slurm or munge not installed, no free port...).  Bounded: 5 minutes
# for the jobs, 30 s for each daemon.  Run by .ci/run; by hand:
#   MPROC_SRCDIR=. MPROC_BIN=.libs/mproc ... sh tests/slurm-cluster.sh
# (or `make check TESTS=tests/slurm-cluster.sh`).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

skip() {
    echo "1..0 # SKIP $*"
    exit 77
}
[ "$(id -u)" -eq 0 ] || skip "slurmd must run as root to start jobs"
for p in munged slurmctld slurmd sbatch squeue scontrol sinfo; do
    command -v $p >/dev/null 2>&1 ||
        skip "$p is not installed (apt-get install slurm-wlm munge)"
done

T=$tmp/slurm
mkdir -p "$T/state" "$T/spool" "$T/run"
pids=
stop_daemons() {
    # Jobs first, so that no slurmstepd outlives the daemons.
    [ -f "$T/slurm.conf" ] && SLURM_CONF=$T/slurm.conf scancel --full \
        --quiet -u root >/dev/null 2>&1
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    n=0
    while [ $n -lt 100 ]; do
        alive=
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
        [ -z "$alive" ] && break
        sleep 0.1; n=$((n + 1))
    done
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
}
trap 'stop_daemons; rm -rf "$tmp"' EXIT

# ---- munge: its own key and socket ----
dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$T/munge.key"
chmod 700 "$T/run"
munged --foreground --force --key-file="$T/munge.key" \
    --socket="$T/run/munge.sock" --pid-file="$T/run/munged.pid" \
    --log-file="$T/munged.log" --seed-file="$T/munge.seed" \
    >"$T/munged.out" 2>&1 &
pids="$pids $!"
n=0
while [ ! -S "$T/run/munge.sock" ] && [ $n -lt 300 ]; do
    sleep 0.1; n=$((n + 1))
done
[ -S "$T/run/munge.sock" ] ||
    skip "munged did not start: $(tail -3 "$T/munged.log" "$T/munged.out" 2>/dev/null | tr '\n' ' ')"

# ---- slurm.conf: free ports, everything under $T ----
port=$((20000 + $$ % 20000))
cat >"$T/slurm.conf" <<EOF
ClusterName=mproctest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/run/munge.sock
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/run/slurmctld.pid
SlurmdPidFile=$T/run/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$T/slurm.conf
slurmctld -D -i -f "$T/slurm.conf" >"$T/slurmctld.out" 2>&1 &
pids="$pids $!"
slurmd -D -N localhost -f "$T/slurm.conf" >"$T/slurmd.out" 2>&1 &
pids="$pids $!"
n=0
while ! sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle && [ $n -lt 300 ]; do
    sleep 0.1; n=$((n + 1))
done
if ! sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle; then
    skip "the Slurm daemons did not come up in 30 s: $(tail -2 "$T/slurmctld.log" "$T/slurmd.log" "$T/slurmctld.out" "$T/slurmd.out" 2>/dev/null | tr '\n' ' ')"
fi
ok 0 "a one-node Slurm cluster is up ($(sinfo -h -o '%P %D %c %T' | head -1))"

# ---- the job: 400,000 echo items, and a wordcount ----
cd "$tmp" || exit 1
cat >echo.ini <<'INI'
[job]
plugin = echo
input = range:1..400000
output = out.txt
INI
t0=$(date +%s.%N)
"$bin" run echo.ini -q --workers 2
t1=$(date +%s.%N)
mv out.txt single.txt
plain=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')

t0=$(date +%s.%N)
timeout -k 5 60 "$bin" slurm echo.ini --shards 4 --joblog "$tmp/echo.log" \
    -- -c 2 >"$tmp/submit" 2>&1
is "$?" 0 "mproc slurm: submitted"
array=$(sed -n 's/^array job \([0-9]*\).*/\1/p' "$tmp/submit")
merge=$(sed -n 's/^merge job \([0-9]*\).*/\1/p' "$tmp/submit")
ok $([ -n "$array" ] && [ -n "$merge" ]; echo $?) \
    "it prints the job ids (array $array, merge $merge)"
# Wait for the merge job to end: 5 minutes at most.
n=0
state=
while [ $n -lt 3000 ]; do
    state=$(scontrol show job "$merge" 2>/dev/null |
            sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    case "$state" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) break ;; esac
    sleep 0.1; n=$((n + 1))
done
t1=$(date +%s.%N)
is "$state" COMPLETED "the merge job completed (after the array)"
total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
if cmp -s out.txt single.txt; then ok 0 "merged == single run (400,000 items)"
else ok 1 "merged == single run"; cmp out.txt single.txt | sed 's/^/#   /'; fi

# The times (for the issue's note): each task's mproc run and the merge.
echo "# plain run, 2 workers: ${plain}s"
echo "# mproc slurm --shards 4 -c 2, submission to merged output: ${total}s"
for k in 0 1 2 3; do
    f=slurm-${array}_$k.out
    [ -f "$f" ] && echo "# task $k: $(grep 'items:' "$f" | sed 's/^mproc: //')"
    scontrol show job "${array}_$k" 2>/dev/null |
        sed -n 's/.*StartTime=\([^ ]*\) EndTime=\([^ ]*\).*/#   start \1 end \2/p'
done
[ -f "slurm-$merge.out" ] && echo "# merge: $(cat "slurm-$merge.out")"
cd / || exit 1
stop_daemons
left=$(matching "$T")
is "$left" "" "every daemon stopped, no process left behind"
done_testing

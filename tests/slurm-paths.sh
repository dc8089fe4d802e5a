#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc slurm writes every path of its scripts absolute, those of --set
# too (D9 of the stranger's report): job.output, the FILE of job.input
# (lines:, lines0:, files:), a plugin path, [manager] address and
# authkey_file, and the [args] a plugin declares paths, against the
# folder mproc slurm ran in; other values stay as given.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

mkdir "$tmp/sub" && cd "$tmp/sub" || exit 1
seq 3 >../x.txt
echo 'echo "$1"' >cmd.sh
head -c 32 /dev/urandom >key
printf '[job]\nplugin = exec\ninput = range:1..4\noutput = e.out\n[args]\ncommand = echo $1\n' >e.ini
run_mproc slurm e.ini --shards 2 --dry-run --set job.output=rel.out \
    --set 'job.input=lines:../x.txt' --set args.command_file=./cmd.sh \
    --set 'args.command=echo ./a' --set pool.workers=2 \
    --set manager.address=unix:sock --set manager.authkey_file=key
is "$st" 0 "mproc slurm --dry-run with --set paths: exit 0"
script=$(cat "$tmp/out")
for set in "job.output=$tmp/sub/rel.out" "job.input=lines:$tmp/sub/../x.txt" \
    "args.command_file=$tmp/sub/cmd.sh" "manager.address=unix:$tmp/sub/sock" \
    "manager.authkey_file=$tmp/sub/key"; do
    is "$(grep -c -- "--set '$set'" "$tmp/out")" 2 \
        "--set ${set%%=*}: absolute in both scripts"
done
like "$script" "--set 'args.command=echo ./a'" "a value that is no path stays as given"
like "$script" "--set 'pool.workers=2'" "a number stays as given"
like "$script" "--joblog '$tmp/sub/rel.out.joblog'" "the log beside the output"
run_mproc slurm e.ini --shards 2 --dry-run --set job.input=range:1..3 \
    --set job.output=/else/where.out --set 'job.input=lines0:-' \
    --set job.input=files:./d
like "$(cat "$tmp/out")" "--set 'job.output=/else/where.out'" \
    "an absolute path stays as given"
like "$(cat "$tmp/out")" "--set 'job.input=range:1..3'" "range: is no path"
like "$(cat "$tmp/out")" "--set 'job.input=files:$tmp/sub/d'" \
    "files: made absolute"
# The shards run from another folder (sbatch --chdir) still write where
# the merge looks; an sbatch stand-in runs each script from /.
cat >"$tmp/fake-sbatch" <<'SH'
#!/bin/sh
for script; do :; done
script=$PWD/$script
range=$(sed -n 's/^#SBATCH --array=0-//p' "$script")
cd / || exit 1
if [ -n "$range" ]; then
    k=0
    while [ $k -le "$range" ]; do
        SLURM_ARRAY_TASK_ID=$k sh "$script" >/dev/null 2>&1 || exit 1
        k=$((k + 1))
    done
    echo 42
else
    sh "$script" >/dev/null 2>&1 || exit 1
    echo 43
fi
SH
chmod +x "$tmp/fake-sbatch"
MPROC_SBATCH=$tmp/fake-sbatch run_mproc slurm e.ini --shards 2 \
    --set job.output=rel.out --set 'job.input=lines:../x.txt'
is "$st" 0 "mproc slurm, tasks run from /: exit 0"
is "$(cat rel.out 2>/dev/null | tr '\n' ' ')" "1 2 3 " \
    "the merged output is where mproc slurm ran, of the input named there"
no_leftovers
done_testing

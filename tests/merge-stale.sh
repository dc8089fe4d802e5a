#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc merge merges only the shards of one run (D3 of the stranger's
# report): shard logs of another job (other --set options) are refused;
# a shard output longer or shorter than its log accounts for is
# refused, while a resumed shard (its failed attempt's bytes before the
# end) still merges; -o naming one of the merge's own files is refused.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

cd "$tmp" || exit 1
cat >ex.ini <<'INI'
[job]
plugin = exec
input = range:1..20
output = ex.out
[pool]
workers = 2
[args]
command = echo "item $1"
INI
seq 1 20 | sed 's/^/item /' >single.txt
shard() {  # shard K [ARGS...]: run shard K/2 with --joblog ex.log
    k=$1; shift
    timeout -k 5 60 "$bin" run ex.ini -q --shard "$k/2" --joblog ex.log "$@" \
        >/dev/null 2>"$tmp/err.$k" || cat "$tmp/err.$k"
}

for k in 0 1; do shard $k; done
run_mproc merge ex.ini --shards 2 --joblog ex.log -o m.out
is "$st" 0 "honest shards: merge exits 0"
ok $(cmp -s m.out single.txt; echo $?) "honest shards: merged == single run"

# The stranger's case: the logs are now of a run with other settings,
# the outputs under the job's name still the first run's.
for k in 0 1; do
    shard $k --set job.output=other.out --set 'args.command=echo "O$1"'
done
rm -f m.out
run_mproc merge ex.ini --shards 2 --joblog ex.log -o m.out
is "$st" 78 "logs of a run with other --set options: exit 78"
like "$err" "joblog ex.log.shard-0-of-2: shard 0/2 ran with other --set options than this merge's" \
    "names the shard"
like "$err" "merge with the --set options the shards ran with" \
    "and says what to do"
ok $([ ! -e m.out ]; echo $?) "and writes nothing"
# [pool] settings are not part of the job: a merge may differ in them.
run_mproc merge ex.ini --shards 2 --joblog ex.log -o m.out \
    --set job.output=other.out --set 'args.command=echo "O$1"' \
    --set pool.workers=3
is "$st" 0 "with the shards' --set options (and another [pool]): exit 0"
is "$(tr '\n' ' ' <m.out)" "$(seq 1 20 | sed 's/^/O/' | tr '\n' ' ')" \
    "and the merged output is theirs"

# An output of another run under a shard's name: longer than its log.
cp ex.out.shard-0-of-2 other.out.shard-0-of-2
rm -f m.out
run_mproc merge ex.ini --shards 2 --joblog ex.log -o m.out \
    --set job.output=other.out --set 'args.command=echo "O$1"'
is "$st" 78 "a shard output longer than its log: exit 78"
like "$err" "shard output other.out.shard-0-of-2 holds 71 bytes, more than the 31 its joblog ex.log.shard-0-of-2 records" \
    "names the file and both sizes"
like "$err" "run that shard again without --resume" "says what to do"
ok $([ ! -e m.out ]; echo $?) "and writes nothing"

# -o naming a file the merge reads, or its merged log (there from the
# first merge): refused, and the file is left as it was.
for k in 0 1; do shard $k; done
for o in ex.out.shard-1-of-2 ex.log.shard-1-of-2 ex.log ex.ini; do
    cp "$o" "$o.before"
    run_mproc merge ex.ini --shards 2 --joblog ex.log -o "$o"
    is "$st" 64 "-o $o: exit 64"
    like "$err" "merge: output $o is also" "-o $o: says whose file it is"
    ok $(cmp -s "$o" "$o.before"; echo $?) "-o $o: left as it was"
done
run_mproc merge ex.ini --shards 2 --joblog ex.log -o "./ex.out.shard-0-of-2"
is "$st" 64 "-o ./ex.out.shard-0-of-2 (another spelling): exit 64"
run_mproc merge ex.ini --shards 2 --joblog ex.log -o m.out
is "$st" 0 "then a merge to another file: exit 0"
ok $(cmp -s m.out single.txt; echo $?) "and its output is a single run's"

# A resumed shard: its failed attempt's output stays in the file, before
# the end of the re-run's; the log accounts for that end exactly.
cat >f.ini <<'INI'
[job]
plugin = exec
input = range:1..6
output = f.out
[args]
command = sh -c 'echo out$0; [ $0 -ne 2 ] || [ -e flag ]' $1
INI
for k in 0 1; do "$bin" run f.ini -q --shard $k/2 --joblog f.log 2>/dev/null; done
touch flag
run_mproc run f.ini -q --shard 0/2 --joblog f.log --resume
is "$st" 0 "a shard with a failed item, resumed: exit 0"
run_mproc merge f.ini --shards 2 --joblog f.log
is "$st" 0 "then merge exits 0"
is "$(tr '\n' ' ' <f.out)" "out1 out2 out3 out4 out5 out6 " \
    "and the merged output is a single run's"
# The same shard's output with bytes past its log's end (a crash between
# an output and its log line): refused; --resume cuts it back.
echo junk >>f.out.shard-1-of-2
run_mproc merge f.ini --shards 2 --joblog f.log
is "$st" 78 "bytes past the log's end: exit 78"
run_mproc run f.ini -q --shard 1/2 --joblog f.log --resume
run_mproc merge f.ini --shards 2 --joblog f.log
is "$st" 0 "resumed (cut back to its log), merge exits 0"
is "$(tr '\n' ' ' <f.out)" "out1 out2 out3 out4 out5 out6 " \
    "and the merged output is a single run's"

# The way a shard is mended: fix the job file, --resume the failed
# items.  The shards then ran two versions of the file: merge warns, as
# --resume does, and merges.
sed -e 's/\[ \$0 -ne 2 \] || \[ -e flag \]/[ $0 -ne 2 ]/' -e 's/f\.out/g.out/' f.ini >g.ini
rm -f g.out* g.log*
"$bin" run g.ini -q --shard 0/2 --joblog g.log 2>/dev/null
sed -i 's/\[ \$0 -ne 2 \]/true/' g.ini
"$bin" run g.ini -q --shard 1/2 --joblog g.log 2>/dev/null
run_mproc run g.ini -q --shard 0/2 --joblog g.log --resume
is "$st" 0 "a job file fixed, its failed shard resumed: exit 0"
run_mproc merge g.ini --shards 2 --joblog g.log
is "$st" 0 "then merge exits 0"
like "$err" "shard 1 ran another version of the job file than shard 0" \
    "with a warning"
is "$(tr '\n' ' ' <g.out)" "out1 out2 out3 out4 out5 out6 " \
    "and the merged output is whole"

no_leftovers
done_testing

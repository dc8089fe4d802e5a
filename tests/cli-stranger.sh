#!/bin/sh
# SPDX-License-Identifier: MIT
# What a stranger's pass over mproc run, check and job files found
# (2026-11-30): an output or job log that is the input, the job file or
# the other one destroyed it and the run said nothing (check: valid); a
# run started with stdin closed waited for ever on its own pipe;
# on_error = abort with ordered output ran the items after the failure.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'a\nb\nc\n' > "$tmp/data.txt"
f=$(job clash.ini <<EOF2
[job]
plugin = echo
input = lines:$tmp/data.txt
output = $tmp/data.txt
EOF2
)
run_mproc check "$f"
is "$st" 78 "output = the input: check refuses it"
like "$err" "the output $tmp/data.txt is also the input" "check: says which"
run_mproc run "$f"
is "$st" 78 "output = the input: run refuses it"
is "$(cat "$tmp/data.txt")" "a
b
c" "and the input is intact"
f=$(job ok.ini <<EOF2
[job]
plugin = echo
input = lines:$tmp/data.txt
output = $tmp/out.txt
EOF2
)
run_mproc run "$f" --joblog "$tmp/data.txt"
is "$st" 64 "--joblog = the input: refused (64)"
like "$err" "the job log (--joblog) $tmp/data.txt is also the input" "says which"
run_mproc run "$f" --joblog "$f"
is "$st" 64 "--joblog = the job file: refused"
like "$(sed -n 1p "$f")" "[job]" "and the job file is intact"
run_mproc run "$f" --joblog "$tmp/out.txt"
is "$st" 64 "--joblog = the output: refused"
like "$err" "mix the two in one file" "says why"
run_mproc run "$f" --joblog "$tmp/log"
is "$st" 0 "distinct files: the run goes"
# --quarantine and --slowlog are written too (they emptied the input or
# the job file, and the run read nothing and exited 0).
for opt in quarantine slowlog; do
    run_mproc run "$f" --$opt "$tmp/data.txt"
    is "$st" 64 "--$opt = the input: refused (64)"
    like "$err" "(--$opt) $tmp/data.txt is also the input" "--$opt: says which"
    run_mproc run "$f" --$opt "$f"
    is "$st" 64 "--$opt = the job file: refused"
    like "$(sed -n 1p "$f")" "[job]" "--$opt: the job file is intact"
done
is "$(cat "$tmp/data.txt")" "a
b
c" "the input is intact"
run_mproc run "$f" --slowlog "$tmp/log" --joblog "$tmp/log"
is "$st" 64 "--slowlog = --joblog: refused"
# Files not there yet, spelled otherwise: the same file all the same.
rm -f "$tmp/new.log"
(cd "$tmp" && exec "$bin" run "$f" --slowlog ./new.log --joblog new.log) \
    >/dev/null 2>"$tmp/err"
is "$?" 64 "--slowlog ./L --joblog L, L not there yet: refused"
(cd "$tmp" && exec "$bin" run "$f" --quarantine "$tmp/new.log" --slowlog new.log) \
    >/dev/null 2>"$tmp/err"
is "$?" 64 "--quarantine /abs/L --slowlog L: refused"
ok $([ ! -e "$tmp/new.log" ]; echo $?) "nothing was written"

# The output among the files of a files: input, stdin redirected from
# the output, stdout appended (>>) to the input: the file was emptied
# before it was read (or grew as it was read) and the run exited 0
# (an operator's pass, 2026-12-01).
mkdir -p "$tmp/fo"
printf '1\n2\n' > "$tmp/fo/a.txt"
printf '3\n' > "$tmp/fo/b.txt"
for spec in "files:$tmp/fo" "files:$tmp/fo/*.txt" "files:$tmp/fo/**"; do
    f=$(job fo.ini <<EOF2
[job]
plugin = exec
input = $spec
output = $tmp/fo/a.txt
[args]
command = cat "\$1"
EOF2
)
    run_mproc check "$f"
    is "$st" 78 "$spec, output one of its files: check refuses it"
    run_mproc run "$f"
    is "$st" 78 "$spec: run refuses it"
    like "$err" "$f:4: output = $tmp/fo/a.txt is $tmp/fo/a.txt, a file of the input" \
        "$spec: says which, at the output's line"
    is "$(cat "$tmp/fo/a.txt")" "1
2" "$spec: the file is intact"
done
ln -f "$tmp/fo/b.txt" "$tmp/hard.txt"
f=$(job fo.ini <<EOF2
[job]
plugin = exec
input = files:$tmp/fo
output = $tmp/hard.txt
[args]
command = cat "\$1"
EOF2
)
run_mproc run "$f"
is "$st" 78 "output a hard link to one of the files: refused"
like "$err" "is $tmp/fo/b.txt, a file of the input" "names the file"
rm -f "$tmp/hard.txt"
run_mproc run "$f" --set job.output=$tmp/other.txt
is "$st" 0 "output elsewhere: the run goes"
is "$(cat "$tmp/other.txt")" "1
2
3" "and reads every file"
run_mproc run "$f" --set job.output=stdout
is "$st" 0 "output stdout (a file not among the inputs): the run goes"
"$bin" run "$f" --set job.output=stdout >> "$tmp/fo/b.txt" 2>"$tmp/err"
is "$?" 64 "stdout appended to one of the files: refused (64)"
like "$(cat "$tmp/err")" "standard output is $tmp/fo/b.txt, a file of the input" \
    "says which"
is "$(cat "$tmp/fo/b.txt")" "3" "that file is intact"
printf 'x\ny\n' > "$tmp/in.txt"
f=$(job fo.ini <<EOF2
[job]
plugin = echo
output = $tmp/in.txt
EOF2
)
"$bin" run "$f" < "$tmp/in.txt" 2>"$tmp/err"
is "$?" 78 "stdin redirected from the output file: refused"
like "$(cat "$tmp/err")" "output = $tmp/in.txt is also the input stdin" "says so"
"$bin" run "$f" --set job.output=stdout < "$tmp/in.txt" >> "$tmp/in.txt" \
    2>"$tmp/err"
is "$?" 64 "stdin and stdout (>>) the same file: refused"
f=$(job fo.ini <<EOF2
[job]
plugin = echo
input = lines:$tmp/in.txt
EOF2
)
"$bin" run "$f" >> "$tmp/in.txt" 2>"$tmp/err"
is "$?" 64 "lines:FILE with stdout appended to FILE: refused"
like "$(cat "$tmp/err")" "standard output is the file of the input lines:" "says so"
is "$(cat "$tmp/in.txt")" "x
y" "the input is intact"
"$bin" run "$f" > /dev/null 2>"$tmp/err"
is "$?" 0 "stdout /dev/null: the run goes"

# stdin closed: an empty input, at once; not mproc's own pipe.
f=$(job stdin.ini <<'EOF2'
[job]
plugin = echo
input = stdin
EOF2
)
timeout -k 2 10 "$bin" run "$f" <&- > "$tmp/out" 2>&1
is "$?" 0 "stdin closed: the run ends at once (124 would be a hang)"
is "$(cat "$tmp/out")" "" "with no item"

# on_error = abort, ordered: no item taken after the failure.
: > "$tmp/made"
{ echo "sleep 1"; echo "exit 1"; i=1
  while [ $i -le 30 ]; do echo "echo x >> $tmp/made"; i=$((i + 1)); done; } \
    > "$tmp/cmds.txt"
f=$(job abort.ini <<EOF2
[job]
plugin = exec
input = lines:$tmp/cmds.txt
on_error = abort
[pool]
workers = 2
[args]
command = eval "\$1"
EOF2
)
run_mproc run "$f"
is "$st" 1 "on_error = abort: exit 1"
ok "$([ "$(wc -l < "$tmp/made")" -le 4 ]; echo $?)" \
    "ordered: the items after the failure are not run ($(wc -l < "$tmp/made" | tr -d ' ') ran, already handed out)"

# What run refuses, check refuses too, saying so at once: an input
# that is a folder, an output that is a folder or in a missing folder,
# shards of stdin (with the key's FILE:LINE).
f=$(job folder.ini <<EOF2
[job]
plugin = echo
input = lines:$tmp
EOF2
)
run_mproc check "$f"
is "$st" 66 "input = lines:FOLDER: check refuses it (66)"
like "$err" "a folder, not a file of lines" "and says why"
run_mproc run "$f"
is "$st" 66 "and run the same"
for o in "$tmp" "$tmp/no/such/out.txt"; do
    run_mproc check "$(job o.ini <<EOF2
[job]
plugin = echo
input = range:1..2
output = $o
EOF2
)"
    is "$st" 73 "output = $o: check refuses it (73)"
done
f=$(job sh.ini <<'EOF2'
[job]
plugin = echo
input = stdin
shard = 0/2
EOF2
)
run_mproc check "$f"
like "$err" "sh.ini:3: input = stdin cannot be split into shards" \
    "shards of stdin: the key's FILE:LINE"

# An init that does not return is said (after 10 s; 0.3 s here), once,
# rather than a run that waits without a word.
f=$(job slowinit.ini <<'EOF2'
[job]
plugin = fault
input = range:1..4
[pool]
workers = 2
[args]
init = sleep:1500
EOF2
)
MPROC_TEST_HOOK_INIT_WARN_MS=300 run_mproc run "$f" --set pool.ipc=pipe
is "$st" 0 "a slow init: the run goes on and succeeds"
like "$err" "is still in the plugin's init after" "a slow init is said"
is "$(grep -c "still in the plugin's init" "$tmp/err")" 1 "once"
# A worker that has not reached the init (1000 workers on 2 CPUs: the
# last ones ran seconds after their fork) is not the plugin's hang.
for ipc in pipe shmring; do
    MPROC_TEST_HOOK_WORKER_LATE_MS=900 MPROC_TEST_HOOK_INIT_WARN_MS=300 \
        run_mproc run "$f" --set pool.ipc=$ipc --set args.init=ok
    is "$st" 0 "a worker late to start ($ipc): the run succeeds"
    unlike "$err" "plugin's init" "and no init is said to hang ($ipc)"
done

# A reduce that crashes (it runs in mproc itself): mproc still dies of
# it, but says whose it was.
printf '1\ncrash\n2\n' > "$tmp/sums.txt"
printf '[job]\nplugin = %s/sum12.so\ninput = lines:%s\n' \
    "$MPROC_TEST_PLUGINS" "$tmp/sums.txt" > "$tmp/sum.ini"
if [ -z "${ASAN_OPTIONS:-}" ]; then
    run_mproc run "$tmp/sum.ini"
    is "$st" 139 "a reduce that crashes: mproc ends by SIGSEGV"
    like "$err" "sum12.so: its reduce crashed (SIGSEGV)" "naming the plugin"
else
    ok 0 "# SKIP under ASan, which reports the fault itself"
    ok 0 "# SKIP under ASan"
fi

# Shared objects under launcher = mpi: each node agent made its own, the
# host's reduce read an empty one, and the run said it succeeded.
f=$(job mpiobj.ini <<EOF2
[job]
plugin = echo
input = range:1..3

[array:lengths]
type = int64
length = 4
EOF2
)
run_mproc check "$f" --set pool.launcher=mpi
is "$st" 78 "a shared object with launcher = mpi: check refuses it"
like "$err" "mpiobj.ini:5: [array:lengths], a shared object, does not work with launcher = mpi (set at --set)" \
    "naming the object's line and the launcher's"
run_mproc run "$f" --set pool.launcher=mpi
is "$st" 78 "and run refuses it"

no_leftovers
done_testing

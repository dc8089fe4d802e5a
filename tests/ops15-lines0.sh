#!/bin/sh
# SPDX-License-Identifier: MIT
# input = lines0:FILE and lines0:- (issue 15, ops15): NUL-delimited items
# in a job file, so names that hold newlines reach the command whole, as
# with parallel -0.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"
cd "$tmp" || exit 1
mkdir d
touch 'd/two
lines' 'd/a b' 'd/plain' 'd/tab	x'
find d -type f -print0 | sort -z > names
cat > job.ini <<'INI'
[job]
plugin = exec
input = lines0:names
[args]
command = printf '<%s>\n' "$1"
INI
want='<d/a b>
<d/plain>
<d/tab	x>
<d/two
lines>'
run_mproc run job.ini
is "$st" 0 "lines0:FILE: exit 0"
is "$(cat "$tmp/out")" "$want" "lines0:FILE: every name whole, newline too"

find d -type f -print0 | sort -z | \
    timeout 60 "$bin" run job.ini --set job.input=lines0:- > out2 2>err2
is "$?" 0 "lines0:-: exit 0"
is "$(cat out2)" "$want" "lines0:- reads stdin"

# A last record without its NUL is an item; an empty file has none.
printf 'x\0y' > tail0
run_mproc run job.ini --set job.input=lines0:tail0
is "$(cat "$tmp/out")" "<x>
<y>" "the last record without a NUL"
: > empty
run_mproc run job.ini --set job.input=lines0:empty
is "$st:$(wc -c < "$tmp/out" | tr -d ' ')" "0:0" "an empty file: no item"

# The job log and --resume see each name as one item.
run_mproc run job.ini --joblog log
is "$(tail -n +2 log | wc -l | tr -d ' ')" 4 "four items logged"
like "$(cat log)" 'd/two\nlines' "the newline escaped in the log"

# The same as parallel -0.
if parallel --version 2>/dev/null | grep -q "GNU parallel"; then
    mkdir -p home/.parallel && touch home/.parallel/will-cite
    HOME=$tmp/home timeout 60 parallel -0 -k "printf '<%s>\n'" :::: names > p.out
    run_mproc run job.ini
    cmp -s p.out "$tmp/out"
    ok $? "the same output as parallel -0"
else
    ok 0 "# SKIP GNU parallel is not installed"
fi

# Errors name the file and line, and what was expected.
printf '[job]\nplugin = exec\ninput = lines0:\n[args]\ncommand = true\n' > bad.ini
run_mproc check bad.ini
is "$st" 78 "lines0: without a path: exit 78"
like "$err" "bad.ini:3: input: 'lines0:' names no path; expected lines0:PATH or lines0:-" \
    "says where and what is expected"
run_mproc run job.ini --set job.input=lines0:missing
is "$st" 66 "a missing file: exit 66"
like "$err" "input lines0:missing: cannot open" "names it as lines0:"
printf '[job]\nplugin = exec\ninput = lines1:x\n[args]\ncommand = true\n' > bad2.ini
run_mproc check bad2.ini
like "$err" "bad2.ini:3: input: expected stdin, lines:PATH, lines0:PATH" \
    "an unknown kind lists lines0:"

done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# Byte-exact output (issue 15.3): what a command writes is what comes out
# ([job] output_mode = raw, exec's default), while record plugins keep one
# line per item (records, their default) or NUL-ended records (records0).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# A binary stream: gzip -c of several files, through exec, in input
# order, is one valid gzip stream of the files concatenated.
head -c 300000 /dev/urandom >"$tmp/a.bin"
seq 1 50000 >"$tmp/b.txt"
printf 'no newline at the end' >"$tmp/c.txt"
: >"$tmp/d.empty"
printf "$tmp/%s\\n" a.bin b.txt c.txt d.empty >"$tmp/names.txt"
f=$(job gzip.ini <<'INI'
[job]
plugin = exec
input = lines:names.txt
[pool]
workers = 2
[args]
command = gzip -c "$1"
INI
)
run_mproc run "$f"
is "$st" 0 "gzip -c through exec: exit 0"
zcat <"$tmp/out" >"$tmp/unzipped"
is "$?" 0 "zcat reads the whole stream (exit 0)"
cat "$tmp/a.bin" "$tmp/b.txt" "$tmp/c.txt" "$tmp/d.empty" >"$tmp/want"
cmp -s "$tmp/unzipped" "$tmp/want"
ok $? "zcat gives the inputs concatenated, byte for byte"

# An empty output is nothing (gzip in place printed a blank line a file).
seq 1 20 >"$tmp/twenty.txt"
f=$(job empty.ini <<'INI'
[job]
plugin = exec
input = lines:twenty.txt
[args]
command = true
INI
)
run_mproc run "$f"
is "$st" 0 "empty outputs: exit 0"
is "$(wc -c <"$tmp/out")" 0 "empty outputs: nothing written"

# Output without a trailing newline is kept as it is.
printf 'a\n\nb\nc\n' >"$tmp/abc.txt"
f=$(job nonl.ini <<'INI'
[job]
plugin = exec
input = lines:abc.txt
[args]
command = printf '%s' "$1"
INI
)
run_mproc run "$f"
is "$st" 0 "no trailing newline: exit 0"
is "$(od -An -c "$tmp/out" | tr -s ' ')" " a b c" \
    "no trailing newline: the bytes as written, nothing added"
run_mproc check "$f"
like "$(cat "$tmp/out")" "job.output_mode = raw    (auto: the plugin's default)" \
    "check: exec's default is raw"

# The same job as records: a newline after each output lacking one.
run_mproc run "$f" --set job.output_mode=records
is "$(od -An -c "$tmp/out" | tr -s ' ')" " a \\n \\n b \\n c \\n" \
    "exec with output_mode = records: one line per item"

# Record plugins keep their records: echo gives the input back, an empty
# line included, and a reduce-less plugin's outputs end with a newline.
f=$(job echo.ini <<'INI'
[job]
plugin = echo
input = lines:abc.txt
INI
)
run_mproc run "$f"
is "$st" 0 "echo: exit 0"
cmp -s "$tmp/out" "$tmp/abc.txt"
ok $? "echo (records, its default): the input's lines, the empty one too"
run_mproc check "$f"
like "$(cat "$tmp/out")" "job.output_mode = records    (auto: the plugin's default)" \
    "check: echo's default is records"
run_mproc run "$f" --set job.output_mode=records0
is "$(od -An -c "$tmp/out" | tr -s ' ')" " a \\0 \\0 b \\0 c \\0" \
    "echo with records0: each item ended by a NUL"
run_mproc run "$f" --set job.output_mode=raw
is "$(od -An -c "$tmp/out" | tr -s ' ')" " a b c" \
    "echo with raw: the items run together"

# records0 puts the NUL in place of one trailing newline.
f=$(job nul.ini <<'INI'
[job]
plugin = exec
input = lines:abc.txt
output_mode = records0
[args]
command = echo "$1"
INI
)
run_mproc run "$f"
is "$(od -An -c "$tmp/out" | tr -s ' ')" " a \\0 \\0 b \\0 c \\0" \
    "exec echo with records0: a NUL in place of the newline"

# An output past message_max streams through a file in the run's own
# folder (in $TMPDIR), in order, and nothing is left there afterwards.
for i in 1 2 3; do head -c 200000 /dev/urandom >"$tmp/big$i"; done
printf "$tmp/big%s\\n" 1 2 3 >"$tmp/bigs.txt"
mkdir "$tmp/spill"
f=$(job big.ini <<'INI'
[job]
plugin = exec
input = lines:bigs.txt
message_max = 64K
[pool]
workers = 2
[args]
command = cat "$1"
INI
)
TMPDIR=$tmp/spill run_mproc run "$f"
is "$st" 0 "outputs past message_max: exit 0"
cat "$tmp/big1" "$tmp/big2" "$tmp/big3" | cmp -s - "$tmp/out"
ok $? "outputs past message_max: every byte, in input order"
is "$(ls -A "$tmp/spill")" "" "outputs past message_max: no file left"
TMPDIR=$tmp/spill run_mproc run "$f" --set 'args.command=cat "$1"; exit 4'
is "$st" 1 "big outputs of failing commands: exit 1"
cat "$tmp/big1" "$tmp/big2" "$tmp/big3" | cmp -s - "$tmp/out"
ok $? "big outputs of failing commands: written, in order (as parallel)"
is "$(ls -A "$tmp/spill")" "" "big outputs of failing commands: no file left"
run_mproc run "$f" --set job.message_max=20 --set "job.input=lines:$tmp/abc.txt" \
    --set "args.command=seq 1 5000"
is "$st" 1 "message_max too small to name the file: exit 1"
like "$err" "message_max is too small to name the file" \
    "message_max too small to name the file: says so"

# A bad value is refused at its line, with the values it takes.
f=$(job bad.ini <<'INI'
[job]
plugin = echo
output_mode = lines
INI
)
run_mproc check "$f"
is "$st" 78 "output_mode = lines: exit 78"
like "$err" "$f:3:" "output_mode = lines: at its line"
like "$err" "records0" "output_mode = lines: says what it takes"

no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# A line longer than message_max is not held whole: it fails as too large,
# with its whole size, the lines after it run, and memory stays bounded
# (the runs under `ulimit -v` held the line twice before, and ran out of
# memory).  Items up to message_max keep every byte.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

echo_job=$(job echo.ini <<'INI'
[job]
plugin = echo
task = echo
input = stdin
output = stdout
ordered = true
message_max = 64K
[pool]
workers = 2
INI
)
# vlimit KB: bound this (sub)shell's address space, but under ASan (CI's
# sanitizer run sets ASAN_OPTIONS), whose shadow memory alone is far
# above any such bound; the plain run proves the memory stays bounded.
vlimit() {
    [ -n "${ASAN_OPTIONS:-}" ] || ulimit -v "$1"
}
# xs N: N bytes of x, no newline.
xs() {
    head -c "$1" /dev/zero | tr '\0' x
}

# A 100 MB line, through a pipe, with 100 MB of address space.
( vlimit 100000
  { xs 100000000; printf '\nshort\n'; } |
      timeout -k 5 60 "$bin" run "$echo_job" >"$tmp/out" 2>"$tmp/err" )
st=$?
err=$(cat "$tmp/err")
is "$st" 1 "a 100 MB line under ulimit -v 100000: that item failed (exit 1)"
like "$err" 'item 0 "xxxxxxxx' "the failed item is named by its start"
like "$err" ": item is 100000000 bytes, more than message_max (65536)" \
    "its size counts the bytes skipped"
unlike "$err" "out of memory" "no out of memory"
is "$(cat "$tmp/out")" "short" "the next line runs"

# Sizes around the limit, a long line without a newline at the end.
{ xs 65536; echo; xs 65537; echo; xs 200000; echo; echo mid; xs 70000; } \
    >"$tmp/edge.txt"
run_mproc run "$echo_job" --set job.input="lines:$tmp/edge.txt"
is "$st" 1 "lines around message_max: exit 1"
{ xs 65536; echo; echo mid; } >"$tmp/edge.want"
cmp -s "$tmp/out" "$tmp/edge.want"
ok $? "a line of message_max bytes runs whole, and the line after the long ones"
like "$err" "item 1 \"xxx" "one byte over: fails"
like "$err" "item is 65537 bytes, more than message_max (65536)" \
    "one byte over: its size"
like "$err" "item is 200000 bytes, more than message_max (65536)" \
    "a long line: its size"
like "$err" "item is 70000 bytes, more than message_max (65536)" \
    "a long last line without a newline: its size"
like "$err" "3 of 5 items failed" "five items, three too large"

# NUL-ended items (lines0:) and CRLF lines: the same, byte for byte.
{ printf 'a\r\n'; xs 100000; printf '\r\nb\r\n'; } >"$tmp/crlf.txt"
run_mproc run "$echo_job" --set job.input="lines:$tmp/crlf.txt"
printf 'a\r\nb\r\n' >"$tmp/crlf.want"
cmp -s "$tmp/out" "$tmp/crlf.want"
ok $? "CRLF lines: the short ones come back with their CR"
like "$err" "item is 100001 bytes, more than message_max (65536)" \
    "CRLF: the long line's CR counts"
{ printf 'a\0'; xs 100000; printf '\nstill the item\0b\0'; } >"$tmp/nul.txt"
run_mproc run "$echo_job" --set job.input="lines0:$tmp/nul.txt"
is "$(cat "$tmp/out")" "a
b" "lines0: the items around the long one"
like "$err" "item is 100015 bytes, more than message_max (65536)" \
    "lines0: a newline does not end the item"

# A line that never ends: memory stays flat, and SIGTERM stops the run.
( vlimit 100000
  timeout -k 5 3 "$bin" run "$echo_job" --set job.input=lines:/dev/zero \
      >"$tmp/out" 2>"$tmp/err" )
st=$?
err=$(cat "$tmp/err")
is "$st" 124 "lines:/dev/zero: read until SIGTERM, which stops it"
like "$err" "interrupted by SIGTERM" "lines:/dev/zero: says it was interrupted"
unlike "$err" "out of memory" "lines:/dev/zero: no out of memory"

# mproc exec's stdin: the long line is a job of its own that fails.
( vlimit 100000
  { echo a; xs 100000000; printf '\nb\nc\n'; } |
      timeout -k 5 60 "$bin" exec -N2 --set job.message_max=64K echo \
          >"$tmp/out" 2>"$tmp/err" )
st=$?
err=$(cat "$tmp/err")
is "$st" 1 "exec -N2, a 100 MB line under ulimit -v 100000: exit 1"
like "$err" ": item is 100000000 bytes, more than message_max (65536)" \
    "exec: the long line fails with its size"
is "$(cat "$tmp/out")" "a
b c" "exec: the jobs around it run"

# The job log keeps only the start of such an item: mproc rerun refuses
# it (it ran those 256 bytes as if they were the item, exit 0).
printf 'a\n' >"$tmp/ll.txt"; xs 100000 >>"$tmp/ll.txt"; printf '\nb\n' >>"$tmp/ll.txt"
printf '[job]\nplugin = echo\ninput = lines:ll.txt\nmessage_max = 1k\n' >"$tmp/ll.ini"
run_mproc run "$tmp/ll.ini" --joblog "$tmp/ll.log"
is "$st" 1 "a log with a too-large item"
run_mproc rerun "$tmp/ll.log" 1 --job "$tmp/ll.ini"
is "$st" 1 "rerun of the too-large item: exit 1"
like "$err" "item 1 failed as larger than message_max: it cannot run (the log keeps only its start)" \
    "says why, nothing run"
is "$(cat "$tmp/out")" "" "nothing on stdout"

# A line over message_max that comes in one read (below 64 KiB) is cut
# all the same: with -N or -X it is not packed with good lines (a, b, c
# were lost with it, in one failure).  -X with -j1, so that b and c,
# the last line, are not spread one per job.
{ printf 'a\n'; xs 3000; printf '\nb\nc\n'; } >"$tmp/m.txt"
for opt in "-N 2" "-X -j1"; do
    "$bin" exec --set job.message_max=1k $opt 'echo {} | wc -w' <"$tmp/m.txt" \
        >"$tmp/out" 2>"$tmp/err"
    is "$?" 1 "exec $opt, a 3000-byte line: exit 1"
    like "$(cat "$tmp/err")" 'item 1 "xxxx' "exec $opt: the long line fails alone"
    is "$(sort "$tmp/out" | tr '\n' ' ')" "1 2 " "exec $opt: a, then b and c, run"
done

no_leftovers
done_testing

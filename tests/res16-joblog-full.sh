#!/bin/sh
# SPDX-License-Identifier: MIT
# A job log that cannot be written (a full disk; here RLIMIT_FSIZE, so no
# root is needed) stops the run, as a broken output does: it used to go
# on to the end, writing every item's output while logging none of them,
# so that a --resume ran them all again and standard output (which a
# resume cannot cut back) held each of them twice.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

n=20000
cat >"$tmp/r.ini" <<INI
[job]
plugin = echo
input = range:1..$n
[pool]
workers = 2
INI
seq 1 $n >"$tmp/want"

# stdout goes through cat, outside the limit; only the log is limited.
( ulimit -f 16; trap '' XFSZ
  timeout -k 5 60 "$bin" run "$tmp/r.ini" --joblog "$tmp/log" 2>"$tmp/err"
  echo $? >"$tmp/st" ) | cat >"$tmp/first.out"
is "$(cat "$tmp/st")" 74 "log on a full disk: exit 74"
like "$(cat "$tmp/err")" "joblog $tmp/log: write error" "log on a full disk: says so"
like "$(cat "$tmp/err")" "the run stopped when its job log could not be written: " \
    "log on a full disk: the run says it stopped"
like "$(cat "$tmp/err")" " not run; once the log can be written, run again with --resume" \
    "log on a full disk: and what to do"
first=$(wc -l <"$tmp/first.out")
logged=$(awk -F'\t' 'NR > 1 && $5 == "ok"' "$tmp/log" | wc -l)
is "$([ "$first" -lt $((n / 2)) ] && echo stopped)" stopped \
    "log on a full disk: the run stops ($first of $n outputs written, $logged logged)"

run_mproc run "$tmp/r.ini" --joblog "$tmp/log" --resume
is "$st" 0 "resume after the full log: exit 0"
cp "$tmp/out" "$tmp/second.out"
dups=$(cat "$tmp/first.out" "$tmp/second.out" | sort | uniq -d | wc -l)
is "$([ "$dups" -le $((first - logged)) ] && [ "$dups" -lt $((n / 10)) ] && echo bounded)" bounded \
    "resume after the full log: only the outputs of the last batch, whose lines failed, twice ($dups)"
is "$(cat "$tmp/first.out" "$tmp/second.out" | sort -n -u | cmp - "$tmp/want" && echo all)" all \
    "resume after the full log: every item once at least"
no_leftovers
done_testing

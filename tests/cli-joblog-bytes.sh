#!/bin/sh
# SPDX-License-Identifier: MIT
# The job log is read back by --resume, and may have been edited by
# anyone: every byte an item can hold (0..255 but the newline that ends
# it) survives the escaping and unescaping, so mproc resumes from every
# log it wrote; a line mproc would not write is "FILE:LINE: not a joblog
# line", exit 78, never a crash (issue 10.4).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

cat >"$tmp/echo.ini" <<'INI'
[job]
plugin = echo
input = lines:items.txt
output = out.txt
[pool]
workers = 2
INI

# One item per byte value, then the ones that broke it: a backslash not
# followed by an escape letter, an escaped-looking text, tab, CR.
i=0
while [ $i -le 255 ]; do
    [ $i -ne 10 ] && printf "b$i:\\$(printf '%03o' $i)|\n"
    i=$((i + 1))
done >"$tmp/items.txt"
printf 'C:\\qdir\nC:\\x4\nC:\\\\server\\share\na\tb\r\n\\\n\\x\n\\t\001\177\377\n' \
    >>"$tmp/items.txt"
n=$(wc -l <"$tmp/items.txt")
run_mproc run "$tmp/echo.ini" --joblog "$tmp/log"
is "$st" 0 "odd bytes: the run succeeds"
is "$(cmp "$tmp/out.txt" "$tmp/items.txt" && echo same)" same \
    "odd bytes: the output is the input"
is "$(awk -F'\t' 'NR > 1 && $5 == "ok"' "$tmp/log" | wc -l)" "$n" \
    "odd bytes: every item logged ok"
is "$(LC_ALL=C tr -d '\t\n\040-\176\200-\377' <"$tmp/log" | wc -c)" 0 \
    "odd bytes: no control byte in the log but tabs and newlines"
run_mproc run "$tmp/echo.ini" --joblog "$tmp/log" --resume --stats text
is "$st" 0 "odd bytes: --resume reads the log mproc wrote (exit 0)"
like "$err" "0 items: 0 succeeded, 0 failed, 0 retries, $n skipped" \
    "odd bytes: --resume skips every item"
is "$(cmp "$tmp/out.txt" "$tmp/items.txt" && echo same)" same \
    "odd bytes: nothing run twice"

# The same after an interruption: only the item with the odd byte is left.
printf 'C:\\qdir\nfail\n' >"$tmp/items.txt"
head -1 "$tmp/log" >"$tmp/log2"
printf '0\t1\t0.000\t0.000\tok\t0\t1\tC:\\\\qdir\t\t\t\n' >>"$tmp/log2"
run_mproc run "$tmp/echo.ini" --joblog "$tmp/log2" --resume --stats text
is "$st" 0 "C:\\qdir logged ok: --resume works (exit 0, no crash)"
like "$err" "1 item: 1 succeeded, 0 failed, 0 retries, 1 skipped" \
    "C:\\qdir logged ok: it is skipped, the other runs"

# Lines mproc never writes: each is refused at its line, exit 78.
hdr=$(printf 'index\tworker\tstart\tduration\tstatus\texit\tattempts\titem\tmessage')
bad() {  # bad DESCRIPTION LINE (printf format)
    { echo "$hdr"; printf "%s$2" ""; } >"$tmp/bad.log"
    printf 'a\nb\n' >"$tmp/items.txt"
    run_mproc run "$tmp/echo.ini" --joblog "$tmp/bad.log" --resume
    is "$st" 78 "malformed log ($1): exit 78"
    like "$err" "$tmp/bad.log:2: not a joblog line" \
        "malformed log ($1): FILE:LINE: not a joblog line"
}
bad 'backslash + q' '0\t1\t0\t0\tok\t0\t1\tC:\\qdir\t\n'
bad 'backslash at the end' '0\t1\t0\t0\tok\t0\t1\ta\\\t\n'
bad 'cut \\x escape' '0\t1\t0\t0\tok\t0\t1\ta\\x4\t\n'
bad 'bad \\x escape' '0\t1\t0\t0\tok\t0\t1\ta\\xzz\t\n'
bad 'raw control byte' '0\t1\t0\t0\tok\t0\t1\ta\001b\t\n'
bad 'raw NUL' '0\t1\t0\t0\tok\t0\t1\ta\000b\t\n'
bad 'raw CR' '0\t1\t0\t0\tok\t0\t1\ta\rb\t\n'
bad 'negative index' '-1\t1\t0\t0\tok\t0\t1\ta\t\n'
bad 'signed index' '+0\t1\t0\t0\tok\t0\t1\ta\t\n'
bad 'huge index' '99999999999999999999999\t1\t0\t0\tok\t0\t1\ta\t\n'
bad 'unknown status' '0\t1\t0\t0\tfine\t0\t1\ta\t\n'
bad '8 fields' '0\t1\t0\t0\tok\t0\t1\ta\n'
bad '10 fields' '0\t1\t0\t0\tok\t0\t1\ta\t\t\n'
bad 'bad message escape' '0\t1\t0\t0\tfailed\t0\t1\ta\tx\\q\n'

# An empty log, or only its header: nothing to skip, everything runs.
: >"$tmp/empty.log"
run_mproc run "$tmp/echo.ini" --joblog "$tmp/empty.log" --resume --stats text
is "$st" 0 "an empty log: --resume runs everything"
like "$(head -1 "$tmp/empty.log")" "$hdr$(printf '\toffset\tlength\tmproc-joblog 2 shard=0/1 mode=contiguous total=2 ')" \
    "an empty log gets its header (format 2)"
echo "$hdr" >"$tmp/hdr.log"
run_mproc run "$tmp/echo.ini" --joblog "$tmp/hdr.log" --resume --stats text
is "$st" 0 "a log with only its header: --resume runs everything"
like "$err" "2 items: 2 succeeded" "a log with only its header: 2 items run"
is "$(grep -c '^index' "$tmp/hdr.log")" 1 "the header is not written twice"
no_leftovers
done_testing

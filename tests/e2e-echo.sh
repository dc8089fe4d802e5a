#!/bin/sh
# SPDX-License-Identifier: MIT
# echo end to end: the output equals the input, byte for byte and in
# order, for the shipped job and for 100,000 items, with any chunk size;
# unordered runs give the same lines in some order.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

conf=$srcdir/conf
run_mproc run "$conf/echo.ini"
is "$st" 0 "conf/echo.ini: exit 0"
cmp -s "$tmp/out" "$conf/texts/lines.txt"
ok $? "conf/echo.ini: output identical to conf/texts/lines.txt"

# 100,000 items of varied length, some empty, some with tabs and quotes.
awk 'BEGIN { for (i = 0; i < 100000; i++) {
        if (i % 997 == 0) print "";
        else if (i % 13 == 0) printf "%d\t\"quoted\" '\''single'\'' $HOME\n", i;
        else { s = ""; for (j = 0; j < i % 50; j++) s = s "x"; print i " " s } } }' \
    >"$tmp/big.txt"
printf '[job]\nplugin = echo\ninput = lines:big.txt\n' >"$tmp/big.ini"

for args in "--workers 1" "--workers 2 --set job.chunksize=1" \
            "--workers 4 --set job.chunksize=64" \
            "--workers 3 --set job.chunksize=1000"; do
    # shellcheck disable=SC2086
    run_mproc run "$tmp/big.ini" $args
    is "$st" 0 "100,000 items ($args): exit 0"
    cmp -s "$tmp/out" "$tmp/big.txt"
    ok $? "100,000 items ($args): byte-identical and in order"
done

run_mproc run "$tmp/big.ini" --workers 3 --set job.ordered=false \
    --set job.chunksize=7
is "$st" 0 "unordered: exit 0"
sort "$tmp/out" >"$tmp/u.sorted"
sort "$tmp/big.txt" >"$tmp/b.sorted"
cmp -s "$tmp/u.sorted" "$tmp/b.sorted"
ok $? "unordered: the same lines, each once"

# stdin, and a last line without a newline.
printf 'one\ntwo\nthree' >"$tmp/nonl.txt"
printf '[job]\nplugin = echo\ninput = stdin\n' >"$tmp/stdin.ini"
timeout 60 "$bin" run "$tmp/stdin.ini" <"$tmp/nonl.txt" >"$tmp/out" 2>"$tmp/err"
is "$?" 0 "stdin input: exit 0"
is "$(cat "$tmp/out")" "$(printf 'one\ntwo\nthree')" \
    "stdin: a last line without a newline is an item"

# Streaming: a result shows while the input is still open (not only at
# its end), so `tail -f | mproc run` works.
(echo first; sleep 3; echo second) |
    timeout 20 "$bin" run "$tmp/stdin.ini" >"$tmp/stream" 2>&1 &
sleep 1.5
is "$(cat "$tmp/stream")" "first" "stdin: the first result shows before the input ends"
wait
is "$(cat "$tmp/stream")" "$(printf 'first\nsecond')" "stdin: and the second after"

# The progress line: on stderr when it is a terminal, never otherwise, and
# not with --quiet.
i=0
while [ $i -lt 30 ]; do echo "sleep:40"; i=$((i + 1)); done >"$tmp/slow.txt"
printf '[job]\nplugin = fault\ninput = lines:slow.txt\n' >"$tmp/slow.ini"
run_mproc run "$tmp/slow.ini" --workers 1
unlike "$err" "done," "no progress line when stderr is not a terminal"
# script(1) gives the run a terminal (have_terminal: where it can).
if have_terminal; then
    script -qec "'$bin' run '$tmp/slow.ini' --workers 1 >/dev/null" /dev/null \
        >"$tmp/tty" 2>&1
    like "$(tr '\r' '\n' <"$tmp/tty")" "done, 0 failed" \
        "a progress line on a terminal"
    script -qec "'$bin' run -q '$tmp/slow.ini' --workers 1 >/dev/null" /dev/null \
        >"$tmp/tty" 2>&1
    is "$(cat "$tmp/tty")" "" "--quiet: none"
else
    ok 0 "# SKIP no script(1) or no pseudo-terminal"
    ok 0 "# SKIP no script(1) or no pseudo-terminal"
fi

# range: and files: inputs.
printf '[job]\nplugin = echo\ninput = range:-2..2\n' >"$tmp/range.ini"
run_mproc run "$tmp/range.ini"
is "$(cat "$tmp/out" | tr '\n' ' ')" "-2 -1 0 1 2 " "range:-2..2 gives five items"
mkdir "$tmp/d"
touch "$tmp/d/b" "$tmp/d/a" "$tmp/d/.hidden"
mkdir "$tmp/d/sub"
printf '[job]\nplugin = echo\ninput = files:d\n' >"$tmp/files.ini"
run_mproc run "$tmp/files.ini"
is "$(cat "$tmp/out" | tr '\n' ' ')" "$tmp/d/a $tmp/d/b " \
    "files:DIR gives its regular files, sorted, hidden ones skipped"

no_leftovers
done_testing

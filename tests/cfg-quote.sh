#!/bin/sh
# SPDX-License-Identifier: MIT
# Job files that hold any command: a double-quoted value keeps ' ;', '#',
# blanks and up to 64 KiB; an unquoted value cut by ' ;' is warned about
# at FILE:LINE; errors (an unterminated quote, a value over 64 KiB) name
# FILE:LINE.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'a\nb\n' >"$tmp/items.txt"
head='[job]
plugin = exec
input = lines:items.txt

[args]'

printf '%s\ncommand = "printf \\"<%%s>\\" \\"$1\\" ; echo \\" #1 \\\\\\\\ \\""   ; note\n' \
    "$head" >"$tmp/q.ini"
run_mproc run "$tmp/q.ini"
is "$st" 0 "a quoted command with ' ;' and '#': exit 0"
is "$(cat "$tmp/out")" "$(printf '<a> #1 \\ \n<b> #1 \\ ')" \
    "both commands ran, with '#', blanks and the escapes read"
is "$err" "" "and no warning"

printf '%s\ncommand = echo "a$1" ; echo b\n' "$head" >"$tmp/u.ini"
for cmd in check run; do
    run_mproc $cmd "$tmp/u.ini"
    is "$st" 0 "$cmd: an unquoted ' ;' still works as before"
    like "$err" "warning: $tmp/u.ini:6: [args] command: the text after ' ;' was taken as a comment, so the value is 'echo \"a\$1\"'" \
        "$cmd: warns at FILE:LINE"
    like "$err" 'put the whole value in double quotes: command = "..."' \
        "$cmd: with the fix"
done
is "$(cat "$tmp/out")" "$(printf 'aa\nab')" "run: the cut command, as before"

# Long values: 10 KiB and 64 KiB (the most), run whole.
for n in 10240 65536; do
    pre="printf %s '"
    post="' | wc -c"
    k=$((n - ${#pre} - ${#post}))
    x=$(head -c $k /dev/zero | tr '\0' x)
    printf '%s\ncommand = "%s%s%s"\n' "$head" "$pre" "$x" "$post" >"$tmp/big.ini"
    run_mproc run "$tmp/big.ini"
    is "$st" 0 "a $n-byte quoted command: exit 0"
    is "$(tr -d ' ' <"$tmp/out")" "$(printf '%s\n%s' $k $k)" \
        "a $n-byte quoted command: runs whole"
done
x=$(head -c 65537 /dev/zero | tr '\0' x)
printf '%s\ncommand = "%s"\n' "$head" "$x" >"$tmp/huge.ini"
run_mproc check "$tmp/huge.ini"
is "$st" 78 "a value over 64 KiB: exit 78"
like "$err" "huge.ini:6: command: the quoted value is 65537 bytes long; a value holds at most 65536" \
    "says where and the limit"
x=$(head -c 9000 /dev/zero | tr '\0' x)
printf '%s\ncommand = echo %s\n' "$head" "$x" >"$tmp/long.ini"
run_mproc check "$tmp/long.ini"
is "$st" 78 "an unquoted value over 8191 bytes: exit 78"
like "$err" "long.ini:6: line is 9015 bytes long; an unquoted value's line holds at most 8191: put the value in double quotes (up to 64 KiB), e.g. command = \"...\"" \
    "with advice that can be followed"

printf '%s\ncommand = "echo a ; echo b\n' "$head" >"$tmp/open.ini"
run_mproc check "$tmp/open.ini"
is "$st" 78 "an unterminated quote: exit 78"
like "$err" "open.ini:6: command: unterminated quoted value" "at FILE:LINE"

done_testing

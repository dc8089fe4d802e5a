#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec -X / -m / -n / -s (issue 15.2): as many items per command as
# fit the command line, every item exactly once.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# One line per command: its items.
run_mproc exec -j2 -X echo ::: 1 2 3 4 5
is "$(cat "$tmp/out")" "1 2 3
4 5" "-X with every item known: spread over the 2 jobs, in order"
run_mproc exec -j2 -X echo pre-{}-post ::: a b c
is "$(cat "$tmp/out")" "pre-a-post pre-b-post
pre-c-post" "-X repeats the word holding {} per item"
run_mproc exec -j2 -m echo pre-{}-post ::: a b c
is "$(cat "$tmp/out")" "pre-a b-post
pre-c-post" "-m puts the items by spaces where {} is"
run_mproc exec -X -n 2 -j1 echo ::: a b c d e
is "$(cat "$tmp/out")" "a b
c d
e" "-n 2: at most 2 items per command"
run_mproc exec -n 3 echo ::: a b c d
is "$(cat "$tmp/out")" "a b c
d" "-n alone: as -m"
run_mproc exec -j1 -X echo {#}: {} ::: a b c
is "$(cat "$tmp/out")" "1: a b c" "{#} once per command"

# Many items from stdin: commands fill up to the line limit.
seq 1 20000 > "$tmp/items"
timeout 60 "$bin" exec -X echo < "$tmp/items" > "$tmp/out" 2> "$tmp/err"
is "$?" 0 "20000 items from stdin with -X: exit 0"
is "$(tr ' ' '\n' < "$tmp/out" | cmp - "$tmp/items" && echo same)" same \
    "every item once, in order"
n=$(wc -l < "$tmp/out")
ok "$([ "$n" -ge 1 ] && [ "$n" -lt 20 ]; echo $?)" "in a few commands ($n)"
max=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$tmp/out")
ok "$([ "$max" -le 131000 ]; echo $?)" "none longer than 131000 bytes ($max)"

timeout 60 "$bin" exec -X -s 1000 echo < "$tmp/items" > "$tmp/out" 2> "$tmp/err"
is "$(tr ' ' '\n' < "$tmp/out" | cmp - "$tmp/items" && echo same)" same \
    "-s 1000: every item once"
max=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$tmp/out")
ok "$([ "$max" -le 1000 ] && [ "$max" -gt 900 ]; echo $?)" \
    "-s 1000: lines up to 1000 bytes ($max)"

# Items of 40 KiB each: three per command at most.
head -c 40000 /dev/zero | tr '\0' x > "$tmp/big"
big=$(cat "$tmp/big")
echo 'echo $#' > "$tmp/count.sh"
run_mproc exec -j1 -X sh "$tmp/count.sh" ::: "$big" "$big" "$big" "$big" \
    "$big" "$big" "$big"
is "$(tr '\n' ' ' < "$tmp/out" | head -c 100)" "3 3 1 " \
    "-X with 40 KB items: 3, 3 and 1 per command (the line limit)"

no_leftovers
done_testing

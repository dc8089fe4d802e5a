#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec -X / -m / -n / -s / --xargs (issue 15.2): as many items per
# command as fit the command line, every item exactly once.
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
# As parallel: with several items per command, {N} is the N-th value of
# the command (not repeated), and -N's {} is repeated per value as -X's.
run_mproc exec -j1 -X echo {1}{2} x{1}y ::: a b c
is "$(cat "$tmp/out")" "ab xay" "-X: {1} {2} are the command's first values"
run_mproc exec -k -N3 echo x{}y {2} ::: a b c d e
is "$(cat "$tmp/out")" "xay xby xcy b
xdy xey e" "-N3: x{}y repeated per value, {2} the second"
run_mproc exec -k -j1 -X echo x{}y {3} ::: a b ::: c d
is "$(cat "$tmp/out")" "xay xcy xay xdy xby xcy xby xdy a" \
    "-X over two sources: every value in the context, {3} counted end to end"

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

# -X / -m spread the items over the job slots, as parallel does: the
# command line that reaches the end of the input is cut into one per job
# (parallel's populate(): ceil(items/jobs) each, from then on), whatever
# the source.  Counted here, so it means something without parallel
# (parallel-compat.sh compares the bytes).
counts() {  # the number of words on each line of $tmp/out
    awk '{ printf "%d ", NF }' "$tmp/out"
}
seq 1 10 > "$tmp/ten"
seq 1 2000 > "$tmp/n2k"
for j in 1 2 3 4; do
    case $j in 1) w="10 " ;; 2) w="5 5 " ;; 3) w="4 4 2 " ;; 4) w="3 3 3 1 " ;;
    esac
    timeout 60 "$bin" exec -k -j$j -m echo < "$tmp/ten" > "$tmp/out" 2>&1
    is "$(counts)" "$w" "stdin, -m -j$j: 10 items spread as $w"
    run_mproc exec -k -j$j -X echo :::: "$tmp/ten"
    is "$(counts)" "$w" ":::: FILE, -X -j$j: 10 items spread as $w"
done
full="275 248 248 244 199 199 199 199"
for j in 1 2 3 4; do
    case $j in 1) w="189 " ;; 2) w="95 94 " ;; 3) w="63 63 63 " ;;
    4) w="48 48 48 45 " ;; esac
    run_mproc exec -k -j$j -s 1000 -X echo :::: "$tmp/n2k"
    is "$(counts)" "$full $w" \
        ":::: FILE, 2000 items, -s 1000 -j$j: full lines, the last spread"
    timeout 60 "$bin" exec -k -j$j -s 1000 -X echo < "$tmp/n2k" \
        > "$tmp/out" 2>&1
    is "$(counts)" "$full $w" "stdin, the same"
done
is "$(tr ' ' '\n' < "$tmp/out" | cmp - "$tmp/n2k" && echo same)" same \
    "spread: every item once, in order"
run_mproc exec -k -j3 -m -n4 echo ::: 1 2 3 4 5 6 7 8
is "$(counts)" "4 2 2 " "-n 4: the line that reaches the end (4) is spread"
run_mproc exec -k -j3 -m -n4 echo ::: 1 2 3 4 5 6 7 8 9
is "$(counts)" "4 4 1 " "-n 4: a last line of one item is not"
run_mproc exec -k -j3 -n4 echo ::: 1 2 3 4 5 6 7 8
is "$(counts)" "4 4 " "-n alone: no spreading (nor in parallel)"
run_mproc exec -k -j3 -N2 -m echo ::: 1 2 3 4 5 6 7 8 9 10
is "$(counts)" "2 2 2 2 1 1 " "-N 2 -m: the last group is spread"
run_mproc exec -k -j3 -N3 -X echo {1}-{2}-{3} ::: 1 2 3 4 5 6 7 8
is "$(cat "$tmp/out")" "1-2-3
4-5-6
7--
8--" "-N 3 -X: the items of the last group, one per job"
run_mproc exec -k -j3 --xargs echo ::: 1 2 3 4 5 6 7 8 9 10
is "$(counts)" "10 " "--xargs: as many as fit, not spread"
run_mproc exec -k -j3 --xargs -n 4 echo ::: 1 2 3 4 5 6 7 8 9 10
is "$(counts)" "4 4 2 " "--xargs -n 4: 4 per command"
# -j 0 on stdin: as many jobs as there are items, within reason (it was
# one job slot, as for an empty ::: list), so one item each.
timeout 60 "$bin" exec -k -j0 -X echo < "$tmp/ten" > "$tmp/out" 2>&1
is "$(counts)" "1 1 1 1 1 1 1 1 1 1 " "-j 0, stdin: 10 job slots, 1 item each"
# The input ends only after a pause: the line waits for its end (it is
# not half full), then is spread; -n 4: the full second line waits to
# know whether more comes.
(seq 1 10; sleep 1) | timeout 60 "$bin" exec -k -j3 -m echo > "$tmp/out" 2>&1
is "$(counts)" "4 4 2 " "stdin that pauses before its end: spread"
(seq 1 8; sleep 1) | timeout 60 "$bin" exec -k -j3 -m -n4 echo \
    > "$tmp/out" 2>&1
is "$(counts)" "4 2 2 " "-n 4, stdin that pauses before its end: spread"
# Endless stdin: full lines go as they fill (only one line and one item
# are read ahead); nothing waits for an end that never comes.
yes 12345 | timeout 60 "$bin" exec -k -j3 -s 1000 -X echo 2> /dev/null |
    head -n 3 > "$tmp/out"
is "$(counts)" "165 165 165 " "endless stdin: full lines, at once"

no_leftovers
done_testing

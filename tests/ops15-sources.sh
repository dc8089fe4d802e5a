#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec -N, --header : and :::+ (issue 15, ops15): what they do
# (compared with GNU parallel in tests/parallel-compat.sh) and each
# error a user can hit.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"
cd "$tmp" || exit 1

# -N: N items per command, {1}..{N}; the last group may be short.
run_mproc exec -N2 'echo {1}-{2} {#}' ::: a b c
is "$(cat "$tmp/out")" "a-b 1
c- 2" "-N2: pairs, the last one short"
printf 'a\nb\nc\nd\n' | timeout 60 "$bin" exec -N3 echo > out 2>&1
is "$(cat out)" "a b c
d" "-N3 on stdin"
run_mproc exec -N2 --tag echo ::: a b c d
is "$(cat "$tmp/out")" "a b	a b
c d	c d" "-N2 --tag: the group's items"
run_mproc exec -N 0 echo ::: a
is "$st" 64 "-N 0: usage error"
like "$err" "-N: expected a positive number of items, got '0'" "says what"
run_mproc exec -N
like "$err" "option -N needs a value" "-N without a value"

# --header : names the columns (with --colsep) or the sources.
printf 'name,size\nx.txt,3\ny.txt,4\n' > h.csv
run_mproc exec --header : --colsep , 'echo {size} {name.}' :::: h.csv
is "$(cat "$tmp/out")" "3 x
4 y" "--header : --colsep: {NAME} and {NAME.}"
run_mproc exec --header : 'echo {b}{a}' ::: a 1 2 ::: b 3
is "$(cat "$tmp/out")" "31
32" "--header : with ::: sources: each one's first item"
run_mproc exec --header : 'echo {nosuch} {1}' ::: a 1
is "$(cat "$tmp/out")" "{nosuch} 1" "an unknown name stays as written"
run_mproc exec --header x echo ::: a
is "$st" 64 "--header x: usage error"
like "$err" "--header: expected ':'" "says what is expected"
echo a | timeout 60 "$bin" exec --header : echo > out 2> err
is "$?" 64 "--header with stdin as it comes: usage error"
like "$(cat err)" "use :::: -" "and what to do"
printf 'h\n1\n' | timeout 60 "$bin" exec --header : 'echo {h}' :::: - > out
is "$(cat out)" "1" "--header with :::: -"

# :::+ pairs a source with the one before; the shortest ends the pairs.
run_mproc exec echo ::: a b c :::+ 1 2
is "$(cat "$tmp/out")" "a 1
b 2" ":::+: pairs, as many as the shortest"
run_mproc exec echo :::+ a b
is "$(cat "$tmp/out")" "a
b" ":::+ first: a plain source"
run_mproc exec --dry-run echo ::: a b :::+ 1 2 ::: x
is "$(cat "$tmp/out")" "echo a 1 x
echo b 2 x" ":::+ then ::: combines"

done_testing

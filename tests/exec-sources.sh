#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec's input sources (issue 15.2): ::: and :::: combined as GNU
# parallel does, --link, -a, '-' as stdin, -0.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'A\nB\n' > "$tmp/ab"
printf '1\n2\n3\n' > "$tmp/123"

run_mproc exec echo ::: a b ::: 1 2
is "$(cat "$tmp/out")" "a 1
a 2
b 1
b 2" "two ::: sources: every combination, the last varying fastest"
run_mproc exec echo :::: "$tmp/ab" ::: x :::: "$tmp/123"
is "$(wc -l < "$tmp/out" | tr -d ' ')" 6 ":::: files and ::: lists mix: 2*1*3"
is "$(sed -n 4p "$tmp/out")" "B x 1" "in order"
run_mproc exec --link echo ::: a b c ::: 1 2
is "$(cat "$tmp/out")" "a 1
b 2
c 1" "--link: side by side, the shorter source wraps"
run_mproc exec -a "$tmp/ab" -a "$tmp/123" echo
is "$(head -2 "$tmp/out")" "A 1
A 2" "-a FILE is :::: FILE"
timeout 60 "$bin" exec echo :::: - ::: x < "$tmp/ab" > "$tmp/out" 2>&1
is "$(cat "$tmp/out")" "A x
B x" ":::: - reads stdin"
timeout 60 "$bin" exec -a - echo < "$tmp/ab" > "$tmp/out" 2>&1
is "$(cat "$tmp/out")" "A
B" "-a - reads stdin"
: > "$tmp/empty"
run_mproc exec echo :::: "$tmp/empty" ::: a
is "$st" 0 "an empty :::: file: exit 0"
is "$(cat "$tmp/out")" " a" "beside another source: one empty value, as in parallel"
run_mproc exec echo :::: "$tmp/empty"
is "$(cat "$tmp/out")" "" "alone: no job"
# An empty ::: list is an empty source too, not a usage error, as in
# parallel: `mproc exec gzip ::: $(ls *.log)` with no logs runs nothing.
run_mproc exec echo :::
is "$st:$(cat "$tmp/out")$err" "0:" "an empty ::: list: no job, exit 0"
run_mproc exec :::
is "$st:$(cat "$tmp/out")$err" "0:" "no command, an empty ::: list: the same"
run_mproc exec echo ::: a :::
is "$st:$(cat "$tmp/out")" "0:a " "::: a ::: (empty): one empty value"
run_mproc exec echo '[{1}][{2}]' ::: ::: a b
is "$st:$(cat "$tmp/out")" "0:[][a]
[][b]" "::: (empty) ::: a b: one empty value first"
run_mproc exec echo ::: a b :::+
is "$st:$(cat "$tmp/out")" "0:a " ":::+ (empty): one empty value, paired"
run_mproc exec echo ::: :::
is "$st:$(cat "$tmp/out")" "0:" "only empty ::: lists: no job"
run_mproc exec echo ::: :::: "$tmp/empty"
is "$st:$(cat "$tmp/out")" "0:" "an empty list and an empty file: no job"
run_mproc exec echo :::: "$tmp/empty" :::: "$tmp/empty"
is "$st:$(cat "$tmp/out")" "0:" "two empty files: no job"
run_mproc exec --link echo ::: a b :::
is "$st:$(cat "$tmp/out")" "$(printf '0:a \nb ')" \
    "--link and an empty list: one empty value, beside each"
echo stdin-item | timeout 60 "$bin" exec echo ::: > "$tmp/out" 2>&1
is "$?:$(cat "$tmp/out")" "0:" "an empty ::: list does not read stdin"
run_mproc exec -X -j2 echo ::: :::
is "$st:$(cat "$tmp/out")" "0:" "-X and only empty lists: no job"

# -0: items end at NUL bytes, so names may hold newlines.
mkdir "$tmp/d"
touch "$tmp/d/plain" "$tmp/d/with
newline" "$tmp/d/with space"
(cd "$tmp/d" && find . -type f -print0) > "$tmp/names0"
timeout 60 "$bin" exec -0 'printf "<%s>\n"' < "$tmp/names0" > "$tmp/out" 2>&1
is "$(grep -c '^<' "$tmp/out")" 3 "find -print0 | mproc exec -0: 3 jobs"
like "$(cat "$tmp/out")" "<./with
newline>" "a name with a newline is one item"
timeout 60 "$bin" exec -0 'printf "<%s>\n"' :::: "$tmp/names0" > "$tmp/out2" 2>&1
is "$(sort "$tmp/out2")" "$(sort "$tmp/out")" "-0 splits :::: files too"
printf 'a\0b' | timeout 60 "$bin" exec --null echo > "$tmp/out" 2>&1
is "$(cat "$tmp/out")" "a
b" "--null; a last item without NUL counts"
(cd "$tmp/d" && find . -type f -print0 | timeout 60 "$bin" exec -0 -j2 \
    sha256sum) > "$tmp/sums" 2>&1
(cd "$tmp/d" && sha256sum -c --quiet "$tmp/sums" 2>/dev/null)
is "$?" 0 "find -print0 | mproc exec -0 sha256sum: the sums check"
# The same example as README.md and mproc(1) give it, copied as written
# into a folder of files: find lists the folder "." too, which
# sha256sum cannot read.
for doc in README.md man/mproc.1.in; do
    line=$(grep -m1 'print0 | mproc exec' "$srcdir/$doc" |
        sed -e 's/^.*`\(find [^`]*\)`.*$/\1/' -e 's/\\-/-/g')
    (cd "$tmp/d" && PATH=$(dirname "$bin"):$PATH timeout 60 sh -c "$line") \
        > "$tmp/sums" 2>&1
    is "$?" 0 "$doc's example as written runs: $line"
done

# A NUL byte without -0 cannot be in an argument: as parallel, it is
# replaced with the two characters \0, with one warning naming -0 (the
# item failed, and a --colsep value was cut at it).
printf 'a\0b\nc\0d\0e\n' | timeout 60 "$bin" exec printf "'[%s]\n'" \
    > "$tmp/out" 2> "$tmp/err"
is "$?" 0 "NUL without -0: exit 0"
is "$(cat "$tmp/out")" '[a\0b]
[c\0d\0e]' "NUL without -0: written \\0"
is "$(grep -c 'use -0' "$tmp/err")" 1 "NUL without -0: one warning, naming -0"
printf 'x\0y,z\n' | timeout 60 "$bin" exec --colsep , printf "'%s\n'" \
    {2}-{1} > "$tmp/out" 2> /dev/null
is "$(cat "$tmp/out")" 'z-x\0y' "NUL and --colsep: the columns after it kept"
printf 'p\0q\n' > "$tmp/nulfile"
timeout 60 "$bin" exec printf "'%s\n'" :::: "$tmp/nulfile" > "$tmp/out" \
    2> /dev/null
is "$(cat "$tmp/out")" 'p\0q' "NUL in a :::: file: written \\0"

no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# wordcount end to end against an independent oracle built from tr, sort
# and uniq -c: count descending, then word in byte order.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

conf=$srcdir/conf

# oracle FILE...: the expected WORD<TAB>COUNT lines.
oracle() {
    cat "$@" | tr ' \t\r\v\f' '\n\n\n\n\n' | grep -v '^$' | sort | uniq -c |
        awk '{ printf "%s\t%s\n", $2, $1 }' | sort -t '	' -k2,2nr -k1,1
}

run_mproc run "$conf/wordcount.ini"
is "$st" 0 "conf/wordcount.ini: exit 0"
oracle "$conf"/texts/*.txt >"$tmp/want"
cmp -s "$tmp/out" "$tmp/want"
ok $? "conf/wordcount.ini: equals sort | uniq -c over conf/texts"
[ -s "$tmp/want" ]
ok $? "the oracle is not empty"

# The text task, item by item, on lines; more workers; unordered.
printf '[job]\nplugin = wordcount\ntask = text\ninput = lines:%s\n' \
    "$conf/texts/harbour.txt" >"$tmp/text.ini"
for args in "--workers 1" "--workers 3 --set job.ordered=false --set job.chunksize=5"; do
    # shellcheck disable=SC2086
    run_mproc run "$tmp/text.ini" $args
    is "$st" 0 "task text ($args): exit 0"
    oracle "$conf/texts/harbour.txt" >"$tmp/want"
    cmp -s "$tmp/out" "$tmp/want"
    ok $? "task text ($args): equals the oracle"
done

# Ties sort by word in byte order; counts descending.
printf 'b a c\nc b\nB c\n' >"$tmp/ties.txt"
printf '[job]\nplugin = wordcount\ntask = text\ninput = lines:ties.txt\n' >"$tmp/ties.ini"
run_mproc run "$tmp/ties.ini"
is "$(cat "$tmp/out")" "$(printf 'c\t3\nb\t2\nB\t1\na\t1')" \
    "count descending, then byte order (B before a)"

# A file that cannot be read fails that item, named; the others are
# counted.  /proc/self/mem is a regular file whose read at 0 fails (EIO)
# even for root (a link to nothing is no item at all: mproc.ini(5)).
mkdir "$tmp/d"
echo "x y" >"$tmp/d/good.txt"
ln -s /proc/self/mem "$tmp/d/bad.txt"
printf '[job]\nplugin = wordcount\ntask = files\ninput = files:d/*.txt\n' >"$tmp/f.ini"
run_mproc run "$tmp/f.ini"
is "$st" 1 "an unreadable file: exit 1"
like "$err" "item 0 \"$tmp/d/bad.txt\": cannot read" "the item is named, with why"
is "$(cat "$tmp/out")" "$(printf 'x\t1\ny\t1')" "the other file is counted"

no_leftovers
done_testing

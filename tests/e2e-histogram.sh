#!/bin/sh
# SPDX-License-Identifier: MIT
# histogram end to end: workers count line lengths into a shared array
# under a shared lock; the result equals awk's on every sync backend and
# worker count.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

conf=$srcdir/conf
awk '{ l = length($0); if (l > 255) l = 255; c[l]++ }
     END { for (k in c) printf "%s%s\t%d\n", k, (k == 255 ? "+" : ""), c[k] }' \
    "$conf/texts/lines.txt" | sort -n >"$tmp/want"
for b in futex posix sysv; do
    for w in 1 2 4; do
        run_mproc run "$conf/histogram.ini" --set pool.sync=$b --workers $w
        is "$st" 0 "sync=$b workers=$w: exit 0"
        cmp -s "$tmp/out" "$tmp/want"
        ok $? "sync=$b workers=$w: equals awk's histogram"
    done
done

# Long lines share the last bucket.
awk 'BEGIN { for (i = 0; i < 300; i++) { s = s "x"; print s } }' >"$tmp/long.txt"
run_mproc run "$conf/histogram.ini" --set job.input=lines:"$tmp/long.txt"
is "$(grep -c . "$tmp/out")" 255 "lengths 1..254, then 255+"
is "$(tail -n 1 "$tmp/out")" "$(printf '255+\t46')" "46 lines of 255 bytes or more"

# A plugin asking for an object the job does not declare: a clear error.
grep -v '^\[array:lengths\]\|^type\|^length\|^lock = false' "$conf/histogram.ini" \
    >"$tmp/nodecl.ini"
sed -i "s|texts/lines.txt|$conf/texts/lines.txt|" "$tmp/nodecl.ini"
run_mproc run "$tmp/nodecl.ini" --workers 1
is "$st" 1 "undeclared shared object: exit 1"
like "$err" "no [array:lengths] is declared in the job" "says which"

no_leftovers
done_testing

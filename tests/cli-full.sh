#!/bin/sh
# SPDX-License-Identifier: MIT
# --joblog logs an item ok only once its output is written and flushed
# (issue 12.3): with the output on a full disk, mproc exits 74 and logs
# no item ok, so --resume runs them all again.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

[ -w /dev/full ] || { echo "1..0 # SKIP no /dev/full"; exit 0; }
for how in file stdout; do
    if [ $how = file ]; then out="output = /dev/full"; else out=; fi
    cat >"$tmp/full.ini" <<INI
[job]
plugin = echo
input = range:1..2000
$out
INI
    rm -f "$tmp/log"
    timeout -k 5 60 "$bin" run "$tmp/full.ini" --joblog "$tmp/log" \
        --stats json >/dev/full 2>"$tmp/err"
    is "$?" 74 "output on a full disk ($how): exit 74"
    like "$(tail -n 1 "$tmp/err")" '{"items": 2000, "succeeded": ' \
        "output on a full disk ($how): --stats json still ends stderr"
    like "$(cat "$tmp/err")" "No space left on device" \
        "output on a full disk ($how): says so"
    is "$(awk -F'\t' 'NR > 1 && $5 == "ok"' "$tmp/log" | wc -l)" 0 \
        "output on a full disk ($how): no item logged ok"
    cat >"$tmp/ok.ini" <<INI
[job]
plugin = echo
input = range:1..2000
output = $tmp/out.txt
INI
    rm -f "$tmp/out.txt"
    run_mproc run "$tmp/ok.ini" --joblog "$tmp/log" --resume --stats text
    is "$st" 0 "resume after a full disk ($how): exit 0"
    like "$err" "2000 items: 2000 succeeded" \
        "resume after a full disk ($how): every item runs again"
    is "$(wc -l <"$tmp/out.txt")" 2000 \
        "resume after a full disk ($how): the whole output"
done
no_leftovers
done_testing

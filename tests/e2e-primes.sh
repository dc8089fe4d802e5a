#!/bin/sh
# SPDX-License-Identifier: MIT
# primes end to end: the shipped job counts the primes below 10,000,000;
# smaller limits are checked against a count made here by a different
# method (trial division in awk).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

conf=$srcdir/conf
run_mproc run "$conf/primes.ini"
is "$st" 0 "conf/primes.ini: exit 0"
is "$(cat "$tmp/out")" "664579" "664579 primes below 10,000,000"

awk_count() {
    awk -v n="$1" 'BEGIN { c = 0
        for (i = 2; i < n; i++) { p = 1
            for (d = 2; d * d <= i; d++) if (i % d == 0) { p = 0; break }
            c += p }
        print c }'
}
for limit in 2 3 100 1000 30011; do
    blocks=$(( (limit + 999) / 1000 ))
    run_mproc run "$conf/primes.ini" --set args.limit=$limit \
        --set args.block=1000 --set job.input=range:0..$blocks --workers 2
    is "$(cat "$tmp/out")" "$(awk_count $limit)" "primes below $limit"
done

run_mproc run "$conf/primes.ini" --set args.block=zero
is "$st" 78 "a bad [args] value fails init: exit 78"
like "$err" "block" "naming the argument"

no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# Every seed of the fuzz corpora and every past crash (tests/fuzz/
# corpus-TARGET, crashes-TARGET) through its target, without libFuzzer
# (tests/fuzz/replay.c): a crash, a sanitizer report or a hang fails.
set -u
srcdir=${MPROC_SRCDIR:?run the tests with make check}
build=${MPROC_BUILDDIR:?run the tests with make check}
n=0 failed=0
for t in joblog config frame; do
    set --
    for d in corpus crashes; do
        [ -d "$srcdir/tests/fuzz/$d-$t" ] && set -- "$@" "$srcdir/tests/fuzz/$d-$t"
    done
    out=$("$build/tests/fuzz/replay-$t" "$@" 2>&1)
    rc=$?
    # Renumber the replay's points into this script's plan.
    while IFS= read -r line; do
        case $line in
        "ok "*) n=$((n + 1)); echo "ok $n - $t: ${line#ok * - }" ;;
        "not ok "*) n=$((n + 1)); failed=$((failed + 1))
            echo "not ok $n - $t: ${line#not ok * - }" ;;
        1..*) ;;
        *) echo "# $line" ;;
        esac
    done <<EOT
$out
EOT
    n=$((n + 1))
    if [ $rc -eq 0 ]; then echo "ok $n - $t: the replay ends normally"; else
        failed=$((failed + 1))
        echo "not ok $n - $t: the replay ended with status $rc (a crash?)"
    fi
done
echo "1..$n"
[ $failed -eq 0 ]

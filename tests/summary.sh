#!/bin/sh
# SPDX-License-Identifier: MIT
# Print one line "N passed, N failed, N skipped" from the results of the
# last `make check` (the .trs files the test harness leaves in the build
# tree), counting every TAP test point.
builddir=${1:-.}
find "$builddir" -name '*.trs' -exec cat {} + 2>/dev/null | awk '
    /^:test-result: (PASS|XFAIL)/ { pass++ }
    /^:test-result: (FAIL|XPASS|ERROR)/ { fail++ }
    /^:test-result: SKIP/ { skip++ }
    END {
        if (pass + fail + skip == 0) { print "0 passed, 1 failed (no test results found)"; exit 1 }
        printf "%d passed, %d failed, %d skipped\n", pass, fail, skip
    }'

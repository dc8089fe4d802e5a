#!/bin/sh
# SPDX-License-Identifier: MIT
# Every tracked file names its licence: an SPDX line near the top, or a
# FILE.license beside it (REUSE) for data that cannot hold a comment.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

if ! command -v git >/dev/null 2>&1 ||
    ! git -C "$srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "1..0 # SKIP not a git checkout (a release tarball is checked before it is made)"
    exit 0
fi
[ -f "$srcdir/COPYING" ]
ok $? "COPYING exists"
grep -q '^MIT License' "$srcdir/COPYING"
ok $? "COPYING holds the MIT licence"
missing=
n=0
for f in $(git -C "$srcdir" ls-files); do
    n=$((n + 1))
    case $f in COPYING) continue ;; esac
    [ -f "$srcdir/$f" ] || continue
    head -n 5 "$srcdir/$f" | grep -q 'SPDX-License-Identifier: MIT' && continue
    grep -qx 'SPDX-License-Identifier: MIT' "$srcdir/$f.license" 2>/dev/null && continue
    missing="$missing $f"
done
is "$missing" "" "each of the $n tracked files carries SPDX-License-Identifier: MIT"
grep -q '^License: MIT' "$srcdir/mproc.pc.in"
ok $? "mproc.pc says License: MIT"
done_testing

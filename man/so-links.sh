#!/bin/sh
# SPDX-License-Identifier: MIT
# so-links.sh PAGE...: for each function a section 3 page declares in its
# SYNOPSIS, print "FUNCTION PAGE" (PAGE without its folder), one a line.
# `make install` turns each line into a link page FUNCTION.3 holding
# ".so man3/PAGE", so that `man FUNCTION` finds the page; the tests use the
# same list to check that every public function gets one.  The pages are
# the list, so a function added to a SYNOPSIS gets its link with no other
# change.
for page in "$@"; do
    awk -v page="${page##*/}" '
        /^\.SH/ { syn = ($2 == "SYNOPSIS") ; next }
        syn {
            line = $0
            # A name followed by "(" is a function; "mproc__" ones are
            # internals, and a name of the page itself needs no link.
            while (match(line, /mproc_[a-z0-9_]+\(/)) {
                name = substr(line, RSTART, RLENGTH - 1)
                line = substr(line, RSTART + RLENGTH)
                if (name !~ /^mproc__/ && !(name in seen)) {
                    seen[name] = 1
                    print name, page
                }
            }
        }' "$page"
done

#!/bin/sh
# SPDX-License-Identifier: MIT
# make uninstall leaves nothing of mproc behind: after make install into
# a DESTDIR, make uninstall removes every file and the folders that only
# mproc installs into ($includedir/mproc, $pkglibdir and its plugins/,
# $pkgdatadir and its texts/), but keeps one that still holds a file
# that is not mproc's.
. "$MPROC_SRCDIR/tests/lib.sh"

dest=$tmp/dest
# What make installs goes below $dest$prefix; the folders of the prefix
# itself (make distcheck's is .../mproc-VERSION/_inst) are not mproc's.
prefix=$(sed -n 's/^prefix = //p' "$MPROC_BUILDDIR/Makefile")
# The test runs under make check: a make of its own, not its jobserver.
mk() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        timeout -k 5 300 make -s -C "$MPROC_BUILDDIR" "$@" \
        DESTDIR="$dest" >"$tmp/make.out" 2>&1
}

mk install
ok $? "make install DESTDIR=..."
n=$(find "$dest$prefix" -name 'mproc*' | wc -l)
ok "$([ "$n" -gt 0 ]; echo $?)" "make install installs mproc ($n paths named mproc*)"

mk uninstall
ok $? "make uninstall DESTDIR=..."
left=$(find "$dest" ! -type d)
is "$left" "" "no file left"
left=$(find "$dest$prefix" -mindepth 1 \( -name 'mproc*' -o -name plugins \
    -o -name texts \))
is "$left" "" "no folder of mproc's left"

# A folder that holds a file of someone else's is kept, with the file.
mk install
plugindir=$(find "$dest$prefix" -type d -path '*/mproc/plugins')
[ -n "$plugindir" ] || plugindir=$tmp/no-plugindir
mkdir -p "$plugindir" && : >"$plugindir/mine.so"
mk uninstall
ok $? "make uninstall with a plugin of the user's in plugindir"
ok "$([ -f "$plugindir/mine.so" ]; echo $?)" "the user's plugin and its folder are kept"

done_testing

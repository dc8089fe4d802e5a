#!/bin/sh
# SPDX-License-Identifier: MIT
# The install layout (issue 14.2), on the built files: libmproc exports
# its public API (MPROC_1) and the internals its programs use
# (MPROC_PRIVATE), nothing else; mproc, mproc-worker and histogram use
# that shared library instead of copies of the core; no build path is
# compiled in; the build tree is found at run time beside .libs/ only.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

b=${MPROC_BUILDDIR:?run the tests with make check}
lib=$b/.libs/libmproc.so.0.0.0
command -v nm >/dev/null 2>&1 && command -v readelf >/dev/null 2>&1 || {
    echo "1..0 # SKIP nm and readelf (binutils) are needed"; exit 0; }

# ---- exports ----
nm -D --defined-only "$lib" | awk '{ print $3 }' | sort >"$tmp/exports"
grep -v '@@MPROC_1$' "$tmp/exports" | grep -v '@@MPROC_PRIVATE$' |
    grep -vx 'MPROC_1\|MPROC_PRIVATE' >"$tmp/other"
is "$(cat "$tmp/other")" "" "libmproc exports nothing outside MPROC_1 and MPROC_PRIVATE"
is "$(grep '@@MPROC_1$' "$tmp/exports" | grep -v '^mproc_[a-z]')" "" \
    "MPROC_1 holds public mproc_* names only"
is "$(grep '@@MPROC_PRIVATE$' "$tmp/exports" | grep -v '^mproc__')" "" \
    "MPROC_PRIVATE holds mproc__* internals only"
# Every function the headers declare, exported.
sed -n 's/^MPROC_API[^(]*[ *]\(mproc_[a-z0-9_]*\)(.*/\1/p' \
    "$srcdir"/include/mproc/*.h | sort -u >"$tmp/declared"
sed -n 's/@@MPROC_1$//p' "$tmp/exports" >"$tmp/public"
missing=$(comm -23 "$tmp/declared" "$tmp/public")
ok "$([ "$(wc -l <"$tmp/declared")" -gt 100 ] && [ -z "$missing" ]; echo $?)" \
    "every public function of the headers is exported ($(wc -l <"$tmp/declared") found)"
[ -z "$missing" ] || echo "# missing: $missing"
# And every private export is used by a program (or by the exec plugin,
# shipped with them: mproc__task_status): the list stays short.
nm -D --undefined-only "$b/.libs/mproc" "$b/.libs/mproc-worker" \
    "$b/.libs/exec.so" 2>/dev/null |
    sed -n 's/.* U \(mproc__[a-z0-9_]*\)@MPROC_PRIVATE$/\1/p' | sort -u >"$tmp/used"
sed -n 's/@@MPROC_PRIVATE$//p' "$tmp/exports" >"$tmp/private"
is "$(comm -13 "$tmp/used" "$tmp/private")" "" \
    "every MPROC_PRIVATE name is used by mproc, mproc-worker or exec.so"

# ---- one copy of the core ----
for p in mproc mproc-worker histogram.so; do
    readelf -d "$b/.libs/$p" | grep -q 'NEEDED.*\[libmproc\.so\.0\]'
    ok $? "$p links the shared libmproc"
    defs=$(nm --defined-only "$b/.libs/$p" | awk '$2 ~ /^[TDB]$/ && $3 ~ /^mproc_/ && $3 !~ /^mproc_plugin_v/')
    is "$defs" "" "$p holds no copy of libmproc's code"
done

# ---- no build path compiled in ----
for p in mproc mproc-worker libmproc.so.0.0.0 echo.so exec.so fault.so \
         primes.so wordcount.so histogram.so mgrcount.so; do
    # An uninstalled plugin linked against the uninstalled libmproc has a
    # RUNPATH to it until libtool relinks it at install: not compiled in.
    runpath=$(readelf -d "$b/.libs/$p" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]$/\1/p')
    hits=$(strings -a "$b/.libs/$p" | grep -vxF "${runpath:-/}" |
           grep -F -e "$b" -e "${MPROC_ABS_SRCDIR:-$srcdir}")
    is "$hits" "" "$p holds no build path"
done

# ---- the build tree, found at run time beside .libs ----
mkdir -p "$tmp/tree/.libs"
cp "$b/.libs/mproc" "$tmp/tree/.libs/mproc"
cp "$b/.libs/echo.so" "$tmp/tree/.libs/echo.so"
# A worker that only says it ran: whose worker is used shows.
printf '#!/bin/sh\necho ran >"%s/worker-ran"\nexit 1\n' "$tmp" >"$tmp/tree/.libs/mproc-worker"
chmod +x "$tmp/tree/.libs/mproc-worker"
printf '[job]\nplugin = %s/.libs/echo.so\ninput = stdin\n[pool]\nworkers = 1\nstart_method = spawn\n' "$b" >"$tmp/spawn.ini"
tree_run() {
    echo x | env -u MPROC_PLUGIN_PATH -u MPROC_WORKER LD_LIBRARY_PATH="$b/.libs" \
        timeout -k 5 60 "$tmp/tree/.libs/mproc" "$@" >"$tmp/out" 2>"$tmp/err"
    st=$?
    err=$(cat "$tmp/err")
}
tree_run plugins
unlike "$(cat "$tmp/out")" "$tmp/tree/.libs/echo.so" \
    "no libmproc.la beside .libs: not a build tree, its plugins are not used"
tree_run run "$tmp/spawn.ini"
if [ -e "$MPROC_PKGLIBDIR/mproc-worker" ]; then
    ok 0 "# SKIP an installed mproc-worker is in $MPROC_PKGLIBDIR"
else
    like "$err" "$MPROC_PKGLIBDIR/mproc-worker" \
        "not a build tree: spawn runs the worker of \$(pkglibdir)"
fi
[ ! -e "$tmp/worker-ran" ]
ok $? "not a build tree: the worker beside .libs is not run"
: >"$tmp/tree/libmproc.la"
tree_run plugins
like "$(cat "$tmp/out")" "$tmp/tree/.libs/echo.so" \
    "beside BUILDDIR/libmproc.la: the build tree's plugins are used"
tree_run run "$tmp/spawn.ini"
[ -e "$tmp/worker-ran" ]
ok $? "build tree: spawn runs BUILDDIR/.libs/mproc-worker"
ok "$([ "$st" -ne 0 ]; echo $?)" "build tree: the run fails as its worker did"

done_testing

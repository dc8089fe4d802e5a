#!/bin/sh
# SPDX-License-Identifier: MIT
# Every C example of the documentation compiles warning-free and runs:
# README.md's ```c blocks, and the EXAMPLES of the man pages (each .EX
# block after a `.\" example: NAME` comment line).  A program is built
# with cc -std=c99 -Wall -Wextra -Werror against the build tree's headers
# and libmproc, and must exit 0 (the examples check their own results);
# a plugin (MPROC_PLUGIN_DEFINE) is built as a shared object and run by
# the build's `mproc run` over two lines of stdin.  `.\" expect: LINE`
# comments between the marker and the block give the output, checked
# line by line.  A marker of the form
# `.\" example: NAME fragment: REASON` only compiles, as an object.
. "${MPROC_SRCDIR:?}/tests/lib.sh"

build=${MPROC_BUILDDIR:?}
# The build's compiler and flags, so that a sanitizer build (.ci/run)
# builds the examples with the sanitizers its libmproc needs.
mk() { sed -n "s/^$1 = //p" "$build/Makefile" | head -1; }
cc=${CC:-$(mk CC)}
cc=${cc:-cc}
inc="-I$srcdir/include"
lib="-L$build/.libs -lmproc $(mk LDFLAGS)"
flags="-std=c99 -Wall -Wextra -Werror"
cflags="$(mk CFLAGS)"
mkdir -p "$tmp/ex"

# Turn roff text back into C: \- -, \e \, \(dq ", \(aq ', \& nothing.
unroff() {
    sed -e 's/\\-/-/g' -e 's/\\(dq/"/g' -e 's/\\(aq/'"'"'/g' \
        -e 's/\\&//g' -e 's/\\e/\\/g'
}

# check NAME FILE [fragment]: one TAP test for one example.
check() {
    name=$1 src=$2 kind=${3:-}
    log=$tmp/ex/log
    if [ "$kind" = fragment ]; then
        $cc $cflags $flags $inc -c "$src" -o "$src.o" >"$log" 2>&1
        st=$?
    elif grep -q MPROC_PLUGIN_DEFINE "$src"; then
        # A plugin: a job that runs it over stdin.
        # It links libmproc only to use the shared objects' functions.
        so=$tmp/ex/$(basename "$src" .c).so
        plib=$(mk LDFLAGS)
        grep -q '<mproc/\(sync\|shared\)\.h>' "$src" && plib="$lib"
        $cc $cflags $flags $inc -shared -fPIC "$src" -o "$so" $plib >"$log" 2>&1 &&
        printf '[job]\nplugin = %s\ninput = stdin\n' "$so" >"$src.ini" &&
        printf 'hello\nworld\n' | LD_LIBRARY_PATH=$build/.libs \
            timeout -k 5 60 "$bin" run "$src.ini" >"$src.out" 2>>"$log"
        st=$?
        [ $st -eq 0 ] && [ -s "$src.out" ] || st=1
    else
        $cc $cflags $flags $inc "$src" -o "$src.bin" $lib >"$log" 2>&1 &&
        (cd "$tmp/ex" && LD_LIBRARY_PATH=$build/.libs MPROC_WORKER=$build/mproc-worker timeout -k 5 60 "$src.bin" \
            </dev/null) >"$src.out" 2>>"$log"
        st=$?
    fi
    # `.\" expect: LINE` markers: what the page says it prints.
    if [ $st -eq 0 ] && [ "$kind" != fragment ] && [ -f "$src.expect" ] &&
       ! cmp -s "$src.expect" "$src.out"; then
        st=1
        echo "the output differs from the page's:" >>"$log"
        diff "$src.expect" "$src.out" >>"$log"
    fi
    if [ "$kind" = fragment ]; then
        ok $st "$name: compiles with $flags (a fragment: not run)"
    else
        ok $st "$name: compiles with $flags and runs"
    fi
    [ $st -eq 0 ] || sed 's/^/#   /' "$log" "$src.out" 2>/dev/null | head -40
}

# README.md: every ```c block, named by its first line number.
awk -v dir="$tmp/ex" '
    /^```c[[:space:]]*$/ { n = NR + 1; f = dir "/readme-" n ".c";
                           print n > (dir "/readme.list"); next }
    /^```/ { f = ""; next }
    f != "" { print > f }
' "$srcdir/README.md"
for n in $(cat "$tmp/ex/readme.list" 2>/dev/null); do
    check "README.md:$n" "$tmp/ex/readme-$n.c"
done

# The man pages: the .EX ... .EE block after each marker.
for page in "$srcdir"/man/*.in; do
    base=$(basename "$page" .in)
    awk -v dir="$tmp/ex" -v base="$base" '
        /^\.\\" example: / { name = $3; kind = ($4 == "fragment:") ? "fragment" : "";
                             want = 1; next }
        want && /^\.\\" expect: / { sub(/^\.\\" expect: /, "");
                                    print > (dir "/" base "-" name ".c.expect"); next }
        want && /^\.EX/ { f = dir "/" base "-" name ".c"; want = 0;
                          print base, name, f, kind >> (dir "/man.list"); next }
        f != "" && /^\.EE/ { f = ""; next }
        f != "" { print > f }
    ' "$page"
done
if [ -f "$tmp/ex/man.list" ]; then
    while read -r base name f kind; do
        unroff <"$f" >"$f.tmp" && mv "$f.tmp" "$f"
        check "$base: $name" "$f" $kind
    done <"$tmp/ex/man.list"
fi

# A block of C in a page's EXAMPLES without a marker would escape this
# test: every .EX or .nf block there that holds C (an #include, or a
# statement ending in ";") must be marked.
for page in "$srcdir"/man/*.in; do
    unmarked=$(awk '
        /^\.SH/ { ex = ($2 == "EXAMPLES" || $2 == "EXAMPLE"); next }
        !ex { next }
        /^\.\\" example: / { marked = 1; next }
        /^\.(EX|nf)/ { blk = 1; c = 0; start = NR; next }
        blk && /^\.(EE|fi)/ { if (c && !marked) print "line " start;
                              blk = 0; marked = 0; next }
        blk && (/#include/ || /;[[:space:]]*$/) { c = 1 }
    ' "$page")
    ok $([ -z "$unmarked" ]; echo $?) \
        "$(basename "$page" .in): every C example is marked for this test"
    [ -z "$unmarked" ] || echo "#   unmarked C block at $unmarked"
done

# The README's minimal plugin is mproc-plugin(3)'s, word for word.
awk '/^```c/ { f = 1; next } /^```/ { f = 0 } f && /upper\.c/ { p = 1 }
     f && p { print } /^```/ && p { exit }' "$srcdir/README.md" >"$tmp/a.c"
unroff <"$tmp/ex/mproc-plugin.3-upper-plugin.c" >"$tmp/b.c" 2>/dev/null
cmp -s "$tmp/a.c" "$tmp/b.c"
ok $? "README's minimal plugin is the one of mproc-plugin(3)"
[ -s "$tmp/a.c" ] && [ -s "$tmp/b.c" ] || echo "#   one of them is missing"
is "$(cat "$tmp/ex/mproc-plugin.3-upper-plugin.c.out" 2>/dev/null)" "HELLO
WORLD" "mproc-plugin(3)'s plugin prints what the page says"
# Each public header compiles alone, and gives what its functions take:
# mproc-manager(3) names only <mproc/manager.h>, whose Values and Arrays
# take the types of <mproc/shared.h> (an outside pass: MPROC_T_INT64
# undeclared).
for h in "$srcdir"/include/mproc/*.h; do
    h=${h##*/}
    printf '#include <mproc/%s>\nint mproc_header_alone;\n' "$h" >"$tmp/h.c"
    $cc $cflags $flags $inc -c "$tmp/h.c" -o "$tmp/h.o" >"$tmp/h.log" 2>&1
    hst=$?
    ok $hst "<mproc/$h> compiles alone"
    [ $hst = 0 ] || sed 's/^/#   /' "$tmp/h.log" | head -5
done
printf '#include <mproc/manager.h>\nint t = MPROC_T_INT64;\n' >"$tmp/h.c"
$cc $cflags $flags $inc -c "$tmp/h.c" -o "$tmp/h.o" >"$tmp/h.log" 2>&1
ok $? "<mproc/manager.h> gives the Value types (MPROC_T_INT64)"

# DOC_EXAMPLES_KEEP=DIR keeps the sources, programs and outputs there.
[ -n "${DOC_EXAMPLES_KEEP:-}" ] && cp -r "$tmp/ex/." "$DOC_EXAMPLES_KEEP/"
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# Every public function is documented, and every page is whole:
#  - each function declared in include/mproc/*.h (not mproc__ internals,
#    not macros) is in the SYNOPSIS of a section 3 page, so that
#    `make install` gives it a link page and `man FUNCTION` finds it;
#  - each page has NAME, SYNOPSIS, DESCRIPTION, RETURN VALUE (section 3)
#    or EXIT STATUS (sections 1 and 7), EXAMPLES and a SEE ALSO that lists
#    every other page;
#  - no page names a path of its own: paths come from configure, so no
#    /usr/local is left in man/, and the built pages hold no @VAR@;
#  - the built pages render without a warning, and the link pages resolve.
. "${MPROC_SRCDIR:?}/tests/lib.sh"

build=${MPROC_BUILDDIR:?}
cc=${CC:-cc}
pages=$(ls "$srcdir"/man/*.in)

# The public functions: the compiler lists what the headers declare
# (gcc -aux-info: one line per prototype, with the file that holds it), so
# comments, macros, and calls inside the inline helpers do not count.
for h in "$srcdir"/include/mproc/*.h; do
    echo "#include <mproc/${h##*/}>"
done >"$tmp/all.c"
if $cc -std=c99 -I"$srcdir/include" -fsyntax-only -aux-info "$tmp/aux" \
        "$tmp/all.c" 2>"$tmp/cc.err"; then
    grep '/include/mproc/[a-z_]*\.h:' "$tmp/aux" |
        sed 's|^/\*[^*]*\*/ *||; s|(.*||' |
        grep -o 'mproc_[a-z0-9_]* *$' | tr -d ' ' |
        grep -v '^mproc__' | sort -u >"$tmp/public"
    n=$(wc -l <"$tmp/public")
    # A broken extraction would find nothing and pass everything.
    ok $([ "$n" -ge 100 ]; echo $?) "the headers declare $n public functions"

    sh "$srcdir/man/so-links.sh" "$srcdir"/man/*.3.in |
        awk '{ print $1 }' | sort -u >"$tmp/linked"
    missing=$(comm -23 "$tmp/public" "$tmp/linked")
    ok $([ -z "$missing" ]; echo $?) \
        "every public function is in the SYNOPSIS of a man page"
    for f in $missing; do
        where=$(grep -l "$f" $pages | sed 's|.*/||' | tr '\n' ' ')
        echo "#   $f: in no SYNOPSIS${where:+ (mentioned in $where)}"
    done
    extra=$(comm -13 "$tmp/public" "$tmp/linked")
    ok $([ -z "$extra" ]; echo $?) \
        "every function of a SYNOPSIS is a public function of the headers"
    for f in $extra; do echo "#   $f: no such function"; done
else
    echo "ok 1 # SKIP $cc has no -aux-info: $(head -1 "$tmp/cc.err")"
    tap_n=1
fi

# The sections of every page.
for p in $pages; do
    name=${p##*/}; name=${name%.in}
    sec=${name##*.}
    want="NAME|SYNOPSIS|DESCRIPTION|EXAMPLES|SEE ALSO"
    case $sec in
    3) want="$want|RETURN VALUE" ;;
    1|7) want="$want|EXIT STATUS" ;;
    esac
    have=$(sed -n 's/^\.SH *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$p")
    lacks=$(echo "$want" | tr '|' '\n' | while read -r s; do
        echo "$have" | grep -qx "$s" || printf '%s, ' "$s"; done)
    ok $([ -z "$lacks" ]; echo $?) "$name has the sections it needs"
    [ -z "$lacks" ] || echo "#   lacks: ${lacks%, }"

    # SEE ALSO names every other page.
    see=$(sed -n '/^\.SH SEE ALSO/,/^\.SH/p' "$p")
    lacks=
    for q in $pages; do
        other=${q##*/}; other=${other%.in}
        [ "$other" = "$name" ] && continue
        ref=$(echo "${other%.*}" | sed 's/-/\\\\-/g')
        echo "$see" | grep -q "^\.BR $ref (${other##*.})" ||
            lacks="$lacks $other"
    done
    ok $([ -z "$lacks" ]; echo $?) "$name: SEE ALSO lists every other page"
    [ -z "$lacks" ] || echo "#   lacks:$lacks"
done

# Paths come from configure.
hard=$(grep -n '/usr/local' "$srcdir"/man/*.in "$srcdir"/man/*.mk "$srcdir"/man/*.sh 2>/dev/null)
ok $([ -z "$hard" ]; echo $?) "no /usr/local in man/: paths come from configure"
[ -z "$hard" ] || echo "$hard" | sed 's/^/#   /'
built=
for p in $pages; do
    b=$build/man/$(basename "$p" .in)
    [ -f "$b" ] && built="$built $b"
done
ok $([ -n "$built" ]; echo $?) "the pages are built (make all)"
left=$(grep -n '@[a-zA-Z_]*@' $built 2>/dev/null)
ok $([ -z "$left" ]; echo $?) "the built pages hold no unsubstituted @VAR@"
[ -z "$left" ] || echo "$left" | sed 's/^/#   /'

# mproc-plugin(3) gives the host's plugin ABI as the header defines it.
abi=$(sed -n 's/^#define MPROC_PLUGIN_ABI_MAJOR  *\([0-9]*\).*/\1/p' \
      "$srcdir/include/mproc/plugin.h").$(sed -n \
      's/^#define MPROC_PLUGIN_ABI_MINOR  *\([0-9]*\).*/\1/p' \
      "$srcdir/include/mproc/plugin.h")
grep -q "this host is ABI $abi," "$build/man/mproc-plugin.3" 2>/dev/null
ok $? "mproc-plugin(3) says the host is ABI $abi, as <mproc/plugin.h>"

# Rendering and the link pages.
if command -v groff >/dev/null 2>&1; then
    for b in $built; do
        w=$(LC_ALL=C.UTF-8 groff -man -ww -z "$b" 2>&1)
        if command -v man >/dev/null 2>&1; then
            w="$w$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$b" 2>&1 >/dev/null)"
        fi
        ok $([ -z "$w" ]; echo $?) "${b##*/} renders without a warning"
        [ -z "$w" ] || echo "$w" | sed 's/^/#   /'
    done
else
    echo "# groff is not installed: rendering not checked"
fi
if command -v man >/dev/null 2>&1 && [ -n "$built" ]; then
    mkdir -p "$tmp/man/man3"
    cp $build/man/*.3 "$tmp/man/man3/"
    sh "$srcdir/man/so-links.sh" $build/man/*.3 | while read -r fn page; do
        echo ".so man3/$page" >"$tmp/man/man3/$fn.3"
    done
    for fn in mproc_apool_new mproc_lock_acquire mproc_value_add_i64 \
              mproc_config_load mproc_strerror mproc_queue_put; do
        out=$(MANWIDTH=80 man -M "$tmp/man" -P cat 3 "$fn" 2>&1 | head -80)
        like "$out" "$fn(" "man $fn finds its page"
    done
fi
done_testing

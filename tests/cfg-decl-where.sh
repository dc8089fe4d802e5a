#!/bin/sh
# SPDX-License-Identifier: MIT
# A bad value of a shared object's key is reported where it was set: an
# init out of its type's range at the init line, not the section's
# header; from --set, as "--set SECTION.KEY=VALUE:" (mproc.ini(5),
# OVERRIDES); the same for a condition's lock.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'a\n' >"$tmp/items.txt"
f=$(job val.ini <<'INI'
[job]
plugin = echo
input = lines:items.txt

[value:v]
type = int8

init = 300
INI
)
run_mproc check "$f"
is "$st" 78 "init out of range in the file: exit 78"
like "$err" "mproc: $f:8: [value:v] init = 300: type int8 takes a whole number from -128 to 127" \
    "reported at the init line"

f=$(job set.ini <<'INI'
[job]
plugin = echo
input = lines:items.txt

[value:v]
type = int8
INI
)
for cmd in check run; do
    run_mproc $cmd "$f" --set value:v.init=300
    is "$st" 78 "$cmd: init out of range from --set: exit 78"
    like "$err" "mproc: --set value:v.init=300: [value:v] init = 300: type int8" \
        "$cmd: reported as --set SECTION.KEY=VALUE"
    unlike "$err" "set.ini:5" "$cmd: not at the section's header"
done
run_mproc check "$f" --set value:v.init=-128
is "$st" 0 "an init in range from --set is taken"

f=$(job arr.ini <<'INI'
[job]
plugin = echo
input = lines:items.txt
[array:a]
type = uint8
length = 4
init = 256
INI
)
run_mproc check "$f"
like "$err" "$f:7: [array:a] init = 256: type uint8" "an array's init too"

f=$(job cond.ini <<'INI'
[job]
plugin = echo
input = lines:items.txt
[condition:c]
# its lock
lock = nope
INI
)
run_mproc check "$f"
is "$st" 78 "a condition's lock naming nothing: exit 78"
like "$err" "$f:6: [condition:c]: lock = nope names no [lock:nope]" \
    "reported at the lock line"
run_mproc check "$f" --set condition:c.lock=zz
like "$err" "--set condition:c.lock=zz: [condition:c]: lock = zz names no" \
    "from --set, as --set"
done_testing

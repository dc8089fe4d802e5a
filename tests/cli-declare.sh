#!/bin/sh
# SPDX-License-Identifier: MIT
# Declarations of shared objects in job files: every kind is accepted and
# created, and every mistake is an error at its FILE:LINE (exit 78).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'x\n' >"$tmp/in.txt"
head='[job]\nplugin = echo\ninput = lines:in.txt\n'

for b in futex posix sysv; do
    printf "$head"'[pool]\nsync = %s\n[lock:output]\n[rlock:tree]\n[semaphore:db]\nvalue = 3\n[boundedsemaphore:slots]\nvalue = 2\n[event:ready]\n[condition:queue]\nlock = tree\n[condition:own]\n[barrier:phase]\nparties = 4\n[value:counter]\ntype = int64\ninit = 7\n[array:histogram]\ntype = double\nlength = 256\nlock = false\n' \
        "$b" >"$tmp/all.ini"
    run_mproc check "$tmp/all.ini"
    is "$st" 0 "$b: every kind of declaration is created"
    is "$(grep -c '^\[' "$tmp/out")" 10 "$b: check lists the 10 objects"
    like "$(cat "$tmp/out")" "[condition:queue]    # $tmp/all.ini:" "$b: with where"
    run_mproc run "$tmp/all.ini"
    is "$st" 0 "$b: a run with them all"
done

# expect NAME LINE MESSAGE TEXT: TEXT (printf format) fails at LINE.
expect() {
    # shellcheck disable=SC2059
    printf "$head$4" >"$tmp/$1.ini"
    run_mproc run "$tmp/$1.ini"
    is "$st" 78 "$1: exit 78"
    like "$err" "mproc: $tmp/$1.ini:$2: $3" "$1: at line $2"
}
expect kind 4 "unknown kind of shared object [mutex:...]" '[mutex:a]\n'
expect name 4 "[lock:a b]: the name must be" '[lock:a b]\n'
expect twice 5 "'a' is already declared as [lock:a] at $tmp/twice.ini:4" \
    '[lock:a]\n[event:a]\n'
expect lockkey 5 "[lock:a] takes no keys, got 'value'" '[lock:a]\nvalue = 1\n'
expect semvalue 5 "value: expected an integer from 0 to 1000000000, got '-1'" \
    '[semaphore:s]\nvalue = -1\n'
expect semkey 5 "unknown key 'count' in [semaphore:s]; expected: value" \
    '[semaphore:s]\ncount = 1\n'
expect parties 5 "parties: expected an integer from 1 to 64, got '0'" \
    '[barrier:b]\nparties = 0\n'
expect noparties 4 "[barrier:b] needs parties = N" '[barrier:b]\n'
expect type 5 "type: expected int8, int16, int32, int64" \
    '[value:v]\ntype = int128\n'
expect notype 4 "[value:v] needs a type, e.g. type = int64" '[value:v]\n'
expect length 6 "length: expected an integer from 1 to 16777216, got '0'" \
    '[array:a]\ntype = int8\nlength = 0\n'
expect nolength 4 "[array:a] needs length = N" '[array:a]\ntype = int8\n'
expect init 6 "init: expected a number, got 'lots'" \
    '[value:v]\ntype = int8\ninit = lots\n'
# Numbers as mproc.ini(5) says, not whatever strtod() takes (11.15).
# A value out of its type's range is reported at its own key's line.
for bad in 0x10 inf nan 1e 1. .5 1e-99999 --1; do
    expect init 6 "init: expected a number, got '$bad'" \
        "[value:v]\ntype = double\ninit = $bad\n"
done
expect intfrac 6 "[value:v] init = 1.5: type int8 takes a whole number from -128 to 127" \
    '[value:v]\ntype = int8\ninit = 1.5\n'
expect intrange 6 "[value:v] init = 300: type int8 takes a whole number from -128 to 127" \
    '[value:v]\ntype = int8\ninit = 300\n'
expect intexp 7 "[array:a] init = 1e3: type uint32 takes a whole number from 0 to 4294967295" \
    '[array:a]\ntype = uint32\nlength = 2\ninit = 1e3\n'
printf "$head"'[value:v]\ntype = double\ninit = -2.5e3\n[value:w]\ntype = int64\ninit = -9223372036854775808\n' \
    >"$tmp/goodinit.ini"
run_mproc check "$tmp/goodinit.ini"
is "$st" 0 "init: -2.5e3 for a double, INT64_MIN for an int64"
expect condlock 5 "[condition:c]: lock = nope names no [lock:nope]" \
    '[condition:c]\nlock = nope\n'
expect synckey 5 "sync: expected futex, posix or sysv, got 'spin'" \
    '[pool]\nsync = spin\n'

# --set declares too, with the same checks.
printf "$head" >"$tmp/set.ini"
run_mproc check "$tmp/set.ini" --set semaphore:db.value=5 --set pool.sync=posix
is "$st" 0 "--set declares a semaphore"
like "$(cat "$tmp/out")" "[semaphore:db]    # --set" "check lists it"
run_mproc check "$tmp/set.ini" --set barrier:b.parties=99
is "$st" 78 "--set with a bad value: exit 78"
like "$err" "--set barrier:b.parties=99: parties: expected an integer" "says why"

# 256 named objects at most: the 257th is said as such (the reason was
# uninitialised memory); sysv's set is smaller and says so.
{ printf "$head"; i=0; while [ $i -lt 300 ]; do printf '[lock:l%d]\n' $i; i=$((i + 1)); done; } \
    >"$tmp/many.ini"
run_mproc check "$tmp/many.ini"
is "$st" 78 "300 locks: exit 78"
is "$err" "mproc: $tmp/many.ini:260: [lock:l256]: too many shared objects: a job declares 256 at most" \
    "names the 257th and the limit"
{ printf "$head"; i=0; while [ $i -lt 250 ]; do printf '[lock:l%d]\n' $i; i=$((i + 1)); done; } \
    >"$tmp/many250.ini"
run_mproc check "$tmp/many250.ini" --set pool.sync=sysv
like "$err" "[lock:l247]: the System V semaphore set is full (247 objects)" "sysv: its own limit"
# Many keys: loaded in about linear time (a scan per key made 200,000
# [args] keys take minutes); the first mistake is still said.
{ printf '[job]\nplugin = exec\ninput = lines:in.txt\n[args]\ncommand = echo\n'
  i=0; while [ $i -lt 100000 ]; do echo "k$i = $i"; i=$((i + 1)); done; } >"$tmp/keys.ini"
timeout 20 "$bin" check "$tmp/keys.ini" >/dev/null 2>"$tmp/err"
is "$?" 78 "100,000 [args] keys: checked within 20 s, exit 78"
like "$(cat "$tmp/err")" "keys.ini:6: unknown key 'k0' in [args]" "naming the first unknown key"

no_leftovers
done_testing

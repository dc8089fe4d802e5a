#!/bin/sh
# SPDX-License-Identifier: MIT
# ipc = auto (issue 19): a backend is chosen by a short measurement on
# first use, cached per kernel release and CPU count; a second run reads
# the cache (does not measure again); a different key measures again;
# mproc check says which backend and why.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

XDG_CACHE_HOME=$tmp/cache
export XDG_CACHE_HOME
cache=$XDG_CACHE_HOME/mproc/ipc-auto
printf '[job]\nplugin = echo\ninput = range:1..500\n[pool]\nipc = auto\nworkers = 2\n' \
    >"$tmp/auto.ini"
seq 1 500 >"$tmp/want"

run_mproc check "$tmp/auto.ini"
is "$st" 0 "check: exit 0"
like "$(cat "$tmp/out")" "pool.ipc = auto" "check: shows ipc = auto"
grep -Eq '^#   ipc = auto chose (pipe|mq|shmring): measured now' "$tmp/out"
ok $? "check: the first use measures, and says the choice"
grep -Eq '^#   tasks/s, 4 workers, 1 / 64 in flight each: pipe [0-9]+ / [0-9]+' "$tmp/out"
ok $? "check: prints the measured numbers"
[ -f "$cache" ]
ok $? "the choice is cached in \$XDG_CACHE_HOME/mproc/ipc-auto"
cpus=$(nproc)
grep -qx "key kernel=$(uname -r) cpus=$cpus" "$cache"
ok $? "the cache is keyed by kernel release and CPU count"
choice=$(sed -n 's/^choice //p' "$cache")
like " pipe mq shmring " " $choice " "the cache holds a backend ($choice)"
cp "$cache" "$tmp/first"

run_mproc run "$tmp/auto.ini" --quiet
is "$st" 0 "run with ipc = auto: exit 0"
cmp -s "$tmp/out" "$tmp/want"
ok $? "run with ipc = auto: the output is right"
cmp -s "$cache" "$tmp/first"
ok $? "a second use does not measure again (the cache file is unchanged)"
run_mproc check "$tmp/auto.ini"
like "$(cat "$tmp/out")" "#   ipc = auto chose $choice: cached in $cache" "check: says cached"

# Another kernel or CPU count: measured again, and the key is ours again.
sed -i 's/^key .*/key kernel=0.0-other cpus=999/' "$cache"
run_mproc check "$tmp/auto.ini"
like "$(cat "$tmp/out")" "measured now" "a different key: measured again"
grep -qx "key kernel=$(uname -r) cpus=$cpus" "$cache"
ok $? "a different key: the cache is rewritten with ours"
# A damaged cache is measured again, never trusted.
printf 'key kernel=%s cpus=%s\nchoice nonsense\n' "$(uname -r)" "$cpus" >"$cache"
run_mproc check "$tmp/auto.ini"
like "$(cat "$tmp/out")" "measured now" "a damaged cache: measured again"

# Without XDG_CACHE_HOME: ~/.cache/mproc/ipc-auto.
mkdir "$tmp/home"
HOME=$tmp/home XDG_CACHE_HOME= run_mproc run "$tmp/auto.ini" --quiet
is "$st" 0 "HOME fallback: exit 0"
[ -f "$tmp/home/.cache/mproc/ipc-auto" ]
ok $? "HOME fallback: cached in ~/.cache/mproc"
# A cache that cannot be written: the run goes on.
XDG_CACHE_HOME=/proc/no-such-dir run_mproc run "$tmp/auto.ini" --quiet
is "$st" 0 "an unwritable cache: the run goes on"

# An unknown value names auto among the choices.
printf '[job]\nplugin = echo\n[pool]\nipc = fastest\n' >"$tmp/bad.ini"
run_mproc check "$tmp/bad.ini"
is "$st" 78 "ipc = fastest: exit 78"
like "$err" "bad.ini:4" "ipc = fastest: names FILE:LINE"
like "$err" "auto" "ipc = fastest: lists auto"
no_leftovers
done_testing

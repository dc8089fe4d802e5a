#!/bin/sh
# SPDX-License-Identifier: MIT
# Error messages with paths of 200 characters (a deep build folder, as in
# `make distcheck` from one) keep their context and their advice; one too
# long for mproc_err_t loses its middle, not its end (issue 11.12).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

deep=$tmp
while [ ${#deep} -lt 200 ]; do deep=$deep/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done
mkdir -p "$deep" || { echo "1..0 # SKIP cannot make a deep folder"; exit 0; }

cat >"$deep/job.ini" <<'INI'
[job]
plugin = nosuch
input = range:1..3
INI
MPROC_PLUGIN_PATH="$deep:$deep/b:$MPROC_PLUGIN_PATH" run_mproc run "$deep/job.ini"
is "$st" 78 "a missing plugin, 200-character paths: exit 78"
like "$err" "plugin 'nosuch' not found (looked for nosuch.so in $tmp/" \
    "a missing plugin: the message starts with what and where"
like "$err" "set MPROC_PLUGIN_PATH or give a path such as ./nosuch.so" \
    "a missing plugin: the advice survives the long paths"

# A folder named twice is searched, and named, once.
mkdir "$tmp/p"
MPROC_PLUGIN_PATH="$tmp/p:$tmp/p::$tmp/p" run_mproc run "$deep/job.ini"
case $err in
*"in $tmp/p, $tmp/p"*) ok 1 "a folder named twice in MPROC_PLUGIN_PATH is listed once" ;;
*"in $tmp/p, "*) ok 0 "a folder named twice in MPROC_PLUGIN_PATH is listed once" ;;
*) ok 1 "a folder named twice in MPROC_PLUGIN_PATH is listed once ($err)" ;;
esac

# A message longer than mproc_err_t holds (MPROC_ERRMSG_MAX, 1024) loses
# its middle: its start and its advice stay.
key=$(head -c 1500 /dev/zero | tr '\0' w)
printf '[job]\nplugin = echo\ninput = range:1..3\n[pool]\n%s = 2\n' "$key" \
    >"$deep/key.ini"
run_mproc run "$deep/key.ini"
is "$st" 78 "a 1500-byte key name: exit 78"
like "$err" "mproc: $deep/key.ini:5: unknown key 'www" \
    "a message too long: its start stays"
like "$err" "www...www" "a message too long: the cut is marked, in its middle"
like "$err" "' in [pool]; expected workers, start_method, ipc," \
    "a message too long: its advice stays"

# A job file naming its plugin by a path that long: its line is longer
# than the 199 bytes inih reads (make distcheck from a deep folder).
ln -s "${MPROC_PLUGIN_PATH%%:*}/echo.so" "$deep/echo.so"
printf '[job]\nplugin = %s\ninput = range:1..3\n' "$deep/echo.so" >"$deep/abs.ini"
run_mproc run "$deep/abs.ini"
is "$st" 0 "a plugin path of 200 characters and more: the run succeeds"
is "$(cat "$tmp/out" | tr '\n' ' ')" "1 2 3 " "a plugin path of 200 characters: the output"

printf '[job]\nplugin = echo\ninput = range:1..3\n[pool]\nworkers = lots\n' \
    >"$deep/bad.ini"
run_mproc run "$deep/bad.ini"
is "$st" 78 "a bad key in a deep job file: exit 78"
like "$err" "workers: expected a positive integer or 'auto', got 'lots'" \
    "a bad key in a deep job file: what was expected survives"
like "$err" "mproc: $tmp" "a bad key in a deep job file: FILE starts the message"
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# Plugins that declare their [args] (plugin ABI 1.2): check and run refuse
# an unknown key (with the closest name) and a missing required one at
# FILE:LINE, check each value's type, and resolve path values next to the
# job file; a plugin of ABI 1.1 keeps its [args] unchecked; `mproc plugins
# NAME` shows the declarations and `mproc --version` the build.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

printf 'a\nb\n' >"$tmp/items.txt"

# A typo in a key: refused by check and run, at its line, with the key
# the plugin takes.
f=$(job typo.ini <<'INI'
[job]
plugin = exec
input = lines:items.txt

[args]
comand = echo "$1"
INI
)
for cmd in check run; do
    run_mproc $cmd "$f"
    is "$st" 78 "$cmd: an unknown [args] key: exit 78"
    like "$err" "typo.ini:6: unknown key 'comand' in [args] of plugin exec; did you mean 'command'?" \
        "$cmd: names the line and the closest key"
    is "$(cat "$tmp/out")" "" "$cmd: nothing runs"
done
run_mproc check "$f" --set args.colour=1
like "$err" "typo.ini:6: unknown key 'comand'" "the first bad key, in file order"
f2=$(job far.ini <<'INI'
[job]
plugin = exec
input = lines:items.txt
[args]
command = true
zzzzzzzz = 1
INI
)
run_mproc check "$f2"
is "$st" 78 "a key far from any: exit 78"
like "$err" "far.ini:6: unknown key 'zzzzzzzz' in [args] of plugin exec; it takes command, command_file, shell or stderr" \
    "lists what the plugin takes"
run_mproc check "$f2" --set args.zzzzzzzz=2
like "$err" "--set args.zzzzzzzz: unknown key" "a key from --set is named as such"

# A required key missing: at the [args] header, or the file without one.
f=$(job nocmd.ini <<'INI'
[job]
plugin = exec
input = lines:items.txt

[args]
shell = /bin/sh
INI
)
run_mproc check "$f"
is "$st" 78 "check: exec without command: exit 78 (invalid)"
like "$err" "nocmd.ini:5: [args] command is required by plugin exec (or set command_file)" \
    "check: at the [args] line"
unlike "$(cat "$tmp/out")" "valid" "check does not say valid"
run_mproc run "$f"
is "$st" 78 "run: exec without command: exit 78"
like "$err" "nocmd.ini:5: [args] command is required" "run: the same message"
printf '[job]\nplugin = exec\ninput = lines:items.txt\n' >"$tmp/noargs.ini"
run_mproc check "$tmp/noargs.ini"
is "$st" 78 "no [args] section at all: exit 78"
like "$err" "noargs.ini: [args] command is required" "names the file"
run_mproc check "$tmp/noargs.ini" --set 'args.command=echo "$1"'
is "$st" 0 "--set args.command satisfies it"

# Types.
run_mproc check "$srcdir/conf/primes.ini" --set args.block=zero
is "$st" 78 "an int key given a word: exit 78"
like "$err" "--set args.block: [args] block: expected an integer, got 'zero'" \
    "says the type"

# Plugins that take no [args] refuse any.
run_mproc check "$srcdir/conf/mproc.ini" --set args.greeting=hi
is "$st" 78 "echo with an [args] key: exit 78"
like "$err" "plugin echo takes no arguments" "says echo takes none"

# command_file: a script next to the job file, run per item.
mkdir "$tmp/sub"
printf '[job]\nplugin = exec\ninput = lines:../items.txt\n[args]\ncommand_file = s.sh\n' \
    >"$tmp/sub/script.ini"
run_mproc check "$tmp/sub/script.ini"
is "$st" 66 "a missing command_file: exit 66"
like "$err" "script.ini:5: [args] command_file: $tmp/sub/s.sh: No such file or directory" \
    "names FILE:LINE and the file looked for"
cat >"$tmp/sub/s.sh" <<'SH'
# comments; semicolons ; and "quotes" are the shell's business here
printf '%s;%s\n' "$1" "#x"
SH
(cd / && timeout 60 "$bin" run "$tmp/sub/script.ini" >"$tmp/out" 2>"$tmp/err")
is "$?" 0 "command_file runs, from any working folder"
is "$(cat "$tmp/out")" "$(printf 'a;#x\nb;#x')" "the script's output, item as \$1"
run_mproc run "$tmp/sub/script.ini" --set args.command=true
is "$st" 78 "command and command_file together: exit 78"
like "$err" "command and command_file are both set" "says keep one"

# ABI 1.1: loads, and its [args] are not checked.
p11=$MPROC_TEST_PLUGINS/abi11.so
printf '[job]\nplugin = %s\ninput = lines:items.txt\n[args]\ngreeting = hi\nwhatever = 1\n' \
    "$p11" >"$tmp/old.ini"
run_mproc run "$tmp/old.ini"
is "$st" 0 "a plugin of ABI 1.1 runs"
is "$(cat "$tmp/out")" "$(printf 'hi a\nhi b')" "with its [args], unchecked"
run_mproc plugins "$p11"
is "$st" 0 "plugins NAME of a 1.1 plugin: exit 0"
like "$(cat "$tmp/out")" "not declared (plugin ABI 1.1)" "says it declares nothing"

# plugins NAME shows tasks and arguments; every shipped plugin declares.
run_mproc plugins exec
is "$st" 0 "plugins exec: exit 0"
out=$(cat "$tmp/out")
like "$out" "Plugin ABI           1.4" "the ABI"
like "$out" "command_file" "the arguments"
like "$out" "string, required (or command_file)" "type and required flag"
like "$out" "default: /bin/sh" "defaults"
for p in echo exec fault histogram mgrcount primes wordcount; do
    run_mproc plugins $p
    unlike "$(cat "$tmp/out")" "not declared" "$p declares its [args]"
done
run_mproc plugins primes
like "$(cat "$tmp/out")" "int, default: 10000000" "primes: limit is an int"
run_mproc plugins nosuchplugin
is "$st" 78 "plugins NAME of a missing plugin: exit 78"
like "$err" "plugin 'nosuchplugin' not found" "says so"

# The build, as ompi_info shows it.
for opt in --version "plugins --build"; do
    run_mproc $opt
    is "$st" 0 "$opt: exit 0"
    out=$(cat "$tmp/out")
    like "$out" "(plugin ABI 1.4)" "$opt: version and ABI"
    like "$out" "fork (default), spawn, forkserver" "$opt: start methods"
    like "$out" "futex (default)" "$opt: sync backends"
    like "$out" "pipe (default), mq, shmring" "$opt: ipc"
    like "$out" "plugin search path" "$opt: paths"
done

done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc run/check on bad job files, bad plugins and missing files: each is
# refused with the right exit status and a message naming FILE:LINE or the
# file and the reason, and no worker starts.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"
tp=${MPROC_TEST_PLUGINS:?}

printf 'a\nb\n' >"$tmp/in.txt"

# expect_config NAME LINE MESSAGE-PART JOB-TEXT (printf format)
expect_config() {
    # shellcheck disable=SC2059
    f=$(printf "$4" | job "$1.ini")
    run_mproc run "$f"
    is "$st" 78 "$1: exit 78"
    like "$err" "mproc: $f:$2: $3" "$1: message at line $2"
    is "$(cat "$tmp/out")" "" "$1: no output"
}

expect_config workers0 4 "workers: expected a positive integer or 'auto', got '0'" \
    '[job]\nplugin = echo\n[pool]\nworkers = 0\n'

expect_config workerslots 6 "workers: expected a positive integer or 'auto', got 'lots'" \
    '# comment\n[job]\nplugin = echo\n\n[pool]\nworkers = lots\n'

expect_config orderedmaybe 3 "ordered: expected true or false, got 'maybe'" \
    '[job]\nplugin = echo\nordered = maybe\n'

expect_config badrange 2 "input: range:10..5: the end must not be below the start" \
    '[job]\ninput = range:10..5\nplugin = echo\n'

expect_config typo 4 "unknown key 'worker' in [pool]; did you mean 'workers'?" \
    '[job]\nplugin = echo\n[pool]\nworker = 2\n'

expect_config section 1 "unknown section [jobs]; did you mean [job]?" \
    '[jobs]\nplugin = echo\n'

expect_config wrongsection 3 "key 'workers' belongs in [pool], not [job]" \
    '[job]\nplugin = echo\nworkers = 2\n'

long=$(head -c 8190 /dev/zero | tr '\0' x)
expect_config longline 2 "line is 8203 bytes long; an unquoted value's line holds at most 8191: put the value in double quotes" \
    '[job]\nplugin = echo'"$long"'\n'
# Longer than inih's 199 bytes is fine (a path in a deep folder).
long=$(head -c 300 /dev/zero | tr '\0' x)
printf '[job]\nplugin = exec\ninput = range:1..2\n[args]\ncommand = : %s\n' "$long" >"$tmp/long.ini"
run_mproc run "$tmp/long.ini"
is "$st" 0 "a 304-byte line: the run succeeds"

expect_config badipc 3 "ipc: expected pipe, mq, shmring or auto, got 'pipes'" \
    '[pool]\nworkers = 1\nipc = pipes\n[job]\nplugin = echo\n'

expect_config indented 3 "indented line: continuation lines are not supported" \
    '[job]\nplugin = echo\n  task = echo\n'

expect_config duplicate 3 "duplicate key 'workers' in [pool] (first set at line 2)" \
    '[pool]\nworkers = 1\nworkers = 2\n[job]\nplugin = echo\n'

expect_config syntax 3 "syntax error" \
    '[job]\nplugin = echo\nthis is not ini\n'

# Every backend name is accepted; check names the one chosen.
f=$(printf '[job]\nplugin = echo\ninput = lines:mq-in.txt\n[pool]\nipc = mq\n' |
    job mq.ini)
: >"$tmp/mq-in.txt"
run_mproc check "$f"
is "$st" 0 "ipc = mq: check passes"
like "$(cat "$tmp/out")" "pool.ipc = mq" "ipc = mq: check shows it"

# --set is checked like the file.
f=$(printf '[job]\nplugin = echo\ninput = lines:in.txt\n' | job good.ini)
run_mproc run "$f" --set pool.workers=0
is "$st" 78 "--set pool.workers=0: exit 78"
like "$err" "--set pool.workers=0: workers: expected a positive integer" \
    "--set error names the assignment"
run_mproc run "$f" --set pool.wrkers=2
is "$st" 78 "--set of an unknown key: exit 78"
like "$err" "did you mean 'workers'?" "--set unknown key: a suggestion"
run_mproc run "$f" --set nonsense
is "$st" 78 "--set without '=': exit 78"
like "$err" "expected SECTION.KEY=VALUE" "--set malformed: says the form"
run_mproc run "$f" --workers lots
is "$st" 78 "--workers lots: exit 78"
like "$err" "mproc: --workers lots: workers: expected a positive integer" \
    "--workers error names the option as typed"
run_mproc run "$f" -w 0 --set pool.ipc=pipe
is "$st" 78 "-w 0: exit 78"
like "$err" "mproc: --workers 0: workers:" "-w 0: names --workers, not --set"
run_mproc run "$f" --shard 2/2
is "$st" 78 "--shard 2/2: exit 78"
like "$err" "mproc: --shard 2/2: shard: expected K/N" \
    "--shard error names the option as typed"
run_mproc check "$f" --shard 0/2 --shard-mode sideways
is "$st" 78 "--shard-mode sideways: exit 78"
like "$err" "mproc: --shard-mode sideways: shard_mode: expected" \
    "--shard-mode error names the option as typed"
run_mproc check "$f" --workers 3
is "$st" 64 "check --workers 3: a usage error"
like "$err" "check: --workers is an option of mproc run, not of check" \
    "check --workers 3: names the option, not its value"
run_mproc check "$f" --joblog "$tmp/log"
like "$err" "check: --joblog is an option of mproc run" \
    "check --joblog FILE: names the option"
run_mproc run "$f" --joblog-sync sometimes
is "$st" 78 "--joblog-sync sometimes: exit 78"
like "$err" "mproc: --joblog-sync sometimes: joblog_sync:" \
    "--joblog-sync error names the option as typed"

# A good job; overrides are visible in check.
run_mproc check "$f" --set pool.workers=3 --set job.plugin=exec \
    --set args.command=true
is "$st" 0 "check of a good job: exit 0"
like "$(cat "$tmp/out")" "pool.workers = 3    # --set" "check shows the override"
like "$(cat "$tmp/out")" "args.command = true" "check shows [args] added by --set"
like "$(cat "$tmp/out")" "job.input = lines:$tmp/in.txt" \
    "check shows the input resolved next to the job file"
run_mproc run "$f" --workers 2
is "$st" 0 "run of a good job: exit 0"
is "$(cat "$tmp/out")" "$(printf 'a\nb')" "and its output"
run_mproc run "$f" --set job.output="$tmp/result.txt"
is "$st" 0 "output to a file: exit 0"
is "$(cat "$tmp/result.txt")" "$(printf 'a\nb')" "the file holds the output"
run_mproc run "$f" --set job.output=/nonexistent/dir/out.txt
is "$st" 73 "output that cannot be created: exit 73"
like "$err" "output /nonexistent/dir/out.txt: cannot create" "says so"

# workers = auto is the CPUs this process may run on (its affinity mask).
if command -v taskset >/dev/null 2>&1; then
    taskset -c 0 "$bin" check "$f" >"$tmp/out" 2>&1
    like "$(cat "$tmp/out")" "pool.workers = 1    (auto" "auto follows the affinity mask"
else
    ok 0 "# SKIP taskset is not installed"
fi

# Missing files: 66.
run_mproc run "$tmp/nope.ini"
is "$st" 66 "missing job file: exit 66"
like "$err" "$tmp/nope.ini" "names the file"
f=$(printf '[job]\nplugin = echo\ninput = lines:missing.txt\n' | job noinput.ini)
run_mproc run "$f"
is "$st" 66 "missing input file: exit 66"
like "$err" "input lines:$tmp/missing.txt: cannot open: No such file or directory" \
    "names the input and the reason"
f=$(printf '[job]\nplugin = echo\ninput = files:%s/*.nothing\n' "$tmp" | job noglob.ini)
run_mproc run "$f"
is "$st" 66 "a files: glob matching nothing: exit 66"
like "$err" "no file matches" "says so"
# A FIFO or a device matched by a glob is left out, as files:DIR leaves
# it (the wordcount example waited for ever on a FIFO, read /dev/zero).
mkdir "$tmp/fifos"
printf 'hello world\n' >"$tmp/fifos/a.txt"
mkfifo "$tmp/fifos/b.txt"
ln -s /dev/zero "$tmp/fifos/c.txt"
ln -s nothing-there "$tmp/fifos/d.txt"
f=$(printf '[job]\nplugin = echo\ninput = files:%s/fifos/*.txt\n' "$tmp" | job fifoglob.ini)
timeout 20 "$bin" run "$f" >"$tmp/out" 2>"$tmp/err"
is "$?" 0 "a glob matching a FIFO and a device: the run ends, exit 0"
is "$(cat "$tmp/out")" "$tmp/fifos/a.txt" "only the regular file is an item (not a link to nothing)"
f=$(printf '[job]\nplugin = echo\ninput = files:%s/fifos/[bc].txt\n' "$tmp" | job fifoonly.ini)
run_mproc run "$f"
is "$st" 66 "a glob matching only a FIFO and a device: exit 66"
like "$err" "no regular file matches (folders, FIFOs and devices are left out)" "says so"

# Bad plugins: 78 with the file and the reason.
plug() {  # plug NAME [TASK]
    f=$(printf '[job]\nplugin = %s/%s.so\ninput = lines:in.txt\n%s\n' \
        "$tp" "$1" "${2:+task = $2}" | job "plug-$1.ini")
    run_mproc run "$f"
}
plug nodesc
is "$st" 78 "plugin without descriptor: exit 78"
like "$err" "plugin $tp/nodesc.so: no 'mproc_plugin_v1' symbol" "says why"
plug badmajor
is "$st" 78 "plugin with another ABI major: exit 78"
like "$err" "ABI major 2, host has 1" "says why"
plug newminor
is "$st" 78 "plugin with a newer ABI minor: exit 78"
like "$err" "upgrade mproc" "says why"
plug smalldesc
is "$st" 78 "plugin with a too-small descriptor: exit 78"
like "$err" "descriptor is" "says why"
plug notasks missing
is "$st" 78 "plugin without the task: exit 78"
like "$err" "$f:4: plugin $tp/notasks.so (notasks) has no task 'missing'" \
    "at the task's line"
plug initfail
is "$st" 78 "plugin whose init fails: exit 78"
like "$err" "initfail: refusing to start" "with init's message"
f=$(printf '[job]\nplugin = no-such-plugin\n' | job unknownplugin.ini)
run_mproc run "$f"
is "$st" 78 "unknown plugin name: exit 78"
like "$err" "$f:2: plugin 'no-such-plugin' not found" "at its line"

# The reference job file is valid and sets every key of the schema.
run_mproc check "$srcdir/conf/mproc.ini"
is "$st" 0 "conf/mproc.ini is valid"
is "$(grep -c '^\(job\|pool\)\.' "$tmp/out")" 30 "check shows the 30 keys"
is "$(grep '^\(job\|pool\)\.' "$tmp/out" | grep -vc 'mproc.ini:')" 0 \
    "every key is set in the reference file (none left to its default)"

# Usage.
run_mproc
is "$st" 64 "no command: exit 64"
run_mproc frobnicate
is "$st" 64 "unknown command: exit 64"
like "$err" "unknown command 'frobnicate'" "says so"
printf '[job]\nplugin = ehco\n' >"$tmp/typo.ini"
run_mproc check "$tmp/typo.ini"
is "$st" 78 "a misspelled plugin: exit 78"
like "$err" "plugin 'ehco' not found (looked for ehco.so in " \
    "a misspelled plugin: where it was looked for"
like "$err" "; did you mean 'echo'?" \
    "a misspelled plugin: the one meant is named"
run_mproc rnu
is "$st" 64 "a misspelled command: exit 64"
like "$err" "unknown command 'rnu'; did you mean 'run'?" \
    "a misspelled command: the one meant is named"
run_mproc run
is "$st" 64 "run without a job: exit 64"
run_mproc run --bogus x.ini
is "$st" 64 "unknown option: exit 64"
like "$err" "unknown option '--bogus'" "names the option"
run_mproc --help
is "$st" 0 "--help: exit 0"
like "$(cat "$tmp/out")" "Usage: mproc COMMAND" "--help prints usage"
run_mproc run --help
like "$(cat "$tmp/out")" "--set SECTION.KEY=VALUE" "run --help explains --set"
run_mproc --version
like "$(cat "$tmp/out")" "mproc " "--version"

# check prints one line per setting: a value with a newline (here in
# --set) is written \x0a, not as lines that look like settings.
run_mproc check "$srcdir/conf/echo.ini" --set "job.output=$tmp/x
[pool]
workers = 1"
is "$st" 0 "check, an output path with newlines: valid"
like "$(cat "$tmp/out")" "job.output = $tmp/x\\x0a[pool]\\x0aworkers = 1    # --set" \
    "the value is one line, its newlines written \\x0a"
is "$(grep -c '^workers = 1' "$tmp/out")" 0 "no forged setting line"

no_leftovers
done_testing

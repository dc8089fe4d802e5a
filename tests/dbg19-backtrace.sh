#!/bin/sh
# SPDX-License-Identifier: MIT
# Issue 19.2: a task that dies of a signal is reported with a symbolised
# backtrace of the crashing thread (function+offset, and file:line where
# the plugin has debug information), in the failure message, the job log
# and under every start method; the worker still ends by the signal.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# Under ASan (CI's sanitizer run sets ASAN_OPTIONS) a new image's worker
# may have the sanitizer's SIGSEGV and SIGFPE handlers, which mproc
# keeps, as any handler it finds: ASan then reports the crash itself.
asan=${ASAN_OPTIONS:+1}
skip() { ok 0 "# SKIP $1 (ASan reports the crash itself)"; }

printf 'ok\nsegv\nok\nabort\n' >"$tmp/items.txt"
printf '[job]\nplugin = fault\ninput = lines:%s/items.txt\n' "$tmp" >"$tmp/fault.ini"

for m in fork spawn forkserver; do
    run_mproc run "$tmp/fault.ini" --workers 1 --set pool.start_method=$m \
        --joblog "$tmp/log"
    is "$st" 1 "$m: exit 1 (items failed)"
    like "$err" "item 1 \"segv\": worker " "$m: the segv item is named"
    if [ -n "$asan" ] && [ $m != fork ]; then
        for i in 1 2 3 4 5 6; do skip "$m"; done
        continue
    fi
    like "$err" "killed by SIGSEGV
  #0 fault_run+0x" "$m: its trace starts in the fault plugin's task"
    like "$err" "[fault.so]" "$m: with the object it is in"
    like "$err" "item 3 \"abort\": worker " "$m: the abort item is named"
    like "$err" "  #2 abort+0x" "$m: SIGABRT: abort() in the trace"
    # The job log keeps the trace (escaped) and the signal as the exit.
    line=$(awk -F'\t' '$1 == 1' "$tmp/log")
    like "$line" "	-11	" "$m: joblog: the worker still ended by SIGSEGV"
    like "$line" '\n  #0 fault_run+0x' "$m: joblog: the trace, escaped"
done
is "$(cat "$tmp/out")" "ok
ok" "the other items done"

# A plugin with debug information: file:line; stripped: function only.
plugin=${MPROC_TEST_PLUGINS:?}/crashy.so
printf 'segv\nfpe\nfine\n' >"$tmp/crashy.txt"
printf '[job]\nplugin = %s\ninput = lines:%s/crashy.txt\n' "$plugin" "$tmp" \
    >"$tmp/crashy.ini"
run_mproc run "$tmp/crashy.ini" --workers 1
line=$(grep -n 'CRASHY-SEGV-LINE' "$srcdir/tests/plugins/crashy.c" | cut -d: -f1)
like "$err" "  #0 crashy_poke+0x" "-g: the crashing function"
# (The file as the compiler saw it: ../../tests/... in a VPATH build.)
like "$err" "tests/plugins/crashy.c:$line) [crashy.so]" "-g: its file:line"
if [ -n "$asan" ]; then skip SIGFPE; else
    like "$err" "killed by SIGFPE
  #0 crashy_divide+0x" "SIGFPE: the dividing function"
fi
like "$err" "  #1 crashy_run+0x" "the caller follows"
is "$(cat "$tmp/out")" "fine" "the other item done"

if command -v objcopy >/dev/null 2>&1; then
    objcopy --strip-debug "$plugin" "$tmp/nodebug.so"
    sed "s|$plugin|$tmp/nodebug.so|" "$tmp/crashy.ini" >"$tmp/nodebug.ini"
    run_mproc run "$tmp/nodebug.ini" --workers 1
    like "$err" "  #0 crashy_poke+0x" "no debug info: the function still"
    segv=$(printf '%s\n' "$err" | sed -n '/"segv"/,/#1 /p')
    unlike "$segv" "crashy.c:" "no debug info: no file:line"
    like "$err" "[nodebug.so]" "no debug info: the object"
else
    ok 0 "# SKIP objcopy missing"
    ok 0 "# SKIP objcopy missing"
    ok 0 "# SKIP objcopy missing"
fi

# Deaths that are not a caught signal carry no trace.
printf 'exit:3\nfail:no\n' >"$tmp/items.txt"
run_mproc run "$tmp/fault.ini" --workers 1
like "$err" "exited with status 3" "an exit is reported as before"
unlike "$err" "#0" "no trace for an exit or a failure"
no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# A job file, output or job log that is a FIFO with no peer never blocks
# mproc (issue 10.10): a job file must be a regular file (exit 66), an
# output or a log FIFO with no reader is an error (exit 73); `check`
# does not wait for the writer of an input FIFO.  Each run is bounded by
# `timeout 10`: 124 means it hung.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

mkfifo "$tmp/fifo" || { echo "1..0 # SKIP mkfifo failed"; exit 0; }
t() {  # t ARGS...: run mproc for 10 s at most
    timeout -k 2 10 "$bin" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    st=$?
    err=$(cat "$tmp/err")
}

t run "$tmp/fifo"
is "$st" 66 "run: a FIFO job file is refused (exit 66), not waited on"
like "$err" "$tmp/fifo: not a regular file (a FIFO); a job file must be one" \
    "run: a FIFO job file: says why"
t check "$tmp/fifo"
is "$st" 66 "check: a FIFO job file is refused (exit 66)"
t run "$tmp"
is "$st" 66 "run: a folder as the job file: exit 66"
like "$err" "not a regular file (a folder)" "run: a folder job file: says so"

cat >"$tmp/out.ini" <<INI
[job]
plugin = echo
input = range:1..3
output = $tmp/fifo
INI
t run "$tmp/out.ini"
is "$st" 73 "run: an output FIFO with no reader: exit 73, no hang"
like "$err" "output $tmp/fifo: a FIFO with no reader; start the reader first" \
    "run: an output FIFO with no reader: says so"
# With a reader, a FIFO is a fine output.
cat "$tmp/fifo" >"$tmp/got" &
reader=$!
sleep 0.2
t run "$tmp/out.ini"
wait $reader
is "$st" 0 "run: an output FIFO with a reader works"
is "$(cat "$tmp/got" | tr '\n' ' ')" "1 2 3 " "run: the reader gets the output"

cat >"$tmp/job.ini" <<INI
[job]
plugin = echo
input = range:1..3
INI
t run "$tmp/job.ini" --joblog "$tmp/fifo"
is "$st" 73 "run: a job log FIFO with no reader: exit 73"
like "$err" "joblog $tmp/fifo: a FIFO with no reader" "run: a job log FIFO: says so"
t run "$tmp/job.ini" --joblog "$tmp/fifo" --resume
is "$st" 66 "run --resume: a job log FIFO is refused (exit 66), not read"
like "$err" "joblog $tmp/fifo: not a regular file" "run --resume: says why"

cat >"$tmp/in.ini" <<INI
[job]
plugin = echo
input = lines:$tmp/fifo
INI
t check "$tmp/in.ini"
is "$st" 0 "check: an input FIFO is not waited on"
# A run waits for the writer of an input FIFO (it may come later); a
# signal ends the wait.
"$bin" run "$tmp/in.ini" >"$tmp/out" 2>"$tmp/err" &
host=$!
sleep 0.3
kill -INT $host
wait $host
is "$?" 130 "run: SIGINT while waiting for an input FIFO's writer: exit 130"
like "$(cat "$tmp/err")" "interrupted while waiting for a writer" \
    "run: the wait for a writer: says so"
# A plugin that is a FIFO: dlopen() would wait for a writer.
mkdir "$tmp/plugins"
mkfifo "$tmp/plugins/fifo.so"
cat >"$tmp/plug.ini" <<INI
[job]
plugin = $tmp/plugins/fifo.so
input = range:1..3
INI
t run "$tmp/plug.ini"
is "$st" 78 "run: a FIFO plugin is refused (exit 78), not opened"
like "$err" "plugin $tmp/plugins/fifo.so: not a regular file" "run: a FIFO plugin: says why"
t check "$tmp/plug.ini"
is "$st" 78 "check: a FIFO plugin is refused (exit 78)"
t plugins --path "$tmp/plugins"
unlike "$st" 124 "plugins: a FIFO named *.so does not hang the listing"
like "$err" "plugin $tmp/plugins/fifo.so: not a regular file" "plugins: says why"
no_leftovers
done_testing

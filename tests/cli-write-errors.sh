#!/bin/sh
# SPDX-License-Identifier: MIT
# Output that cannot be written (a stranger's pass, D5): status, clean,
# plugins, check and help wrote to a full disk and exited 0, and
# status --watch kept waking up for as long as the job ran.  Each now
# says "writing the output: ..." and exits 74; a reader gone (| head)
# still ends it by SIGPIPE (141).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

[ -w /dev/full ] || { echo "1..0 # SKIP no /dev/full"; exit 0; }
# A folder of our own: other tests' runs serve their status elsewhere.
XDG_RUNTIME_DIR=$tmp/run
export XDG_RUNTIME_DIR
mkdir -m 700 "$XDG_RUNTIME_DIR"

# full CMD ARGS...: run mproc with stdout on /dev/full (20 s at most).
full() {
    timeout -k 2 20 "$bin" "$@" >/dev/full 2>"$tmp/err"
    st=$?
    err=$(cat "$tmp/err")
}

f=$(job ok.ini <<'EOF2'
[job]
plugin = echo
input = range:1..3
EOF2
)
full check "$f"
is "$st" 74 "check > /dev/full: exit 74"
like "$err" "mproc: check: writing the output: No space left on device" \
    "check: says why"
# exec whose jobs write stderr too: the reason is the disk's (the flush
# before a job's stderr lost the errno, and EIO was said).
full exec 'echo out{}; echo err{} >&2' ::: a
is "$st" 74 "exec > /dev/full, jobs writing stderr too: exit 74"
like "$err" "No space left on device" "the reason is ENOSPC"
unlike "$err" "Input/output error" "not EIO"
full plugins
is "$st" 74 "plugins > /dev/full: exit 74"
like "$err" "plugins: writing the output: No space left on device" "says why"
full plugins echo
is "$st" 74 "plugins NAME > /dev/full: exit 74"
TMPDIR=$tmp full clean -n
is "$st" 74 "clean -n > /dev/full: exit 74"
like "$err" "clean: writing the output: No space left on device" "says why"
full --help
is "$st" 74 "--help > /dev/full: exit 74"
full exec --dry-run echo ::: a b
is "$st" 74 "exec --dry-run > /dev/full: exit 74"
like "$err" "exec: writing the output: No space left on device" "says why"
full status
is "$st" 1 "status, no job, > /dev/full: still 1 (nothing to write)"
unlike "$err" "writing the output" "and no word of the output"

# A job that runs for 30 s at most: its first item waits for $tmp/go.
f=$(job slow.ini <<EOF2
[job]
plugin = exec
task = run
input = range:1..2
[args]
command = i=0; while [ ! -e $tmp/go ] && [ \$i -lt 600 ]; do sleep 0.05; i=\$((i + 1)); done
EOF2
)
# Started without a wrapper, so that $! is mproc itself.
"$bin" run "$f" --quiet >/dev/null 2>&1 &
job=$!
n=0
until "$bin" status "$job" >/dev/null 2>&1; do
    [ $n -lt 300 ] || break
    sleep 0.1; n=$((n + 1))
done
full status "$job"
is "$st" 74 "status > /dev/full: exit 74"
like "$err" "status: writing the output: No space left on device" "says why"
full status --watch 0.2 "$job"
is "$st" 74 "status --watch > /dev/full: stops at once, exit 74 (124: it looped)"
{ timeout -k 2 20 "$bin" status --watch 0.2 "$job" 2>/dev/null
  echo $? >"$tmp/rc"; } | head -n 1 >/dev/null
is "$(cat "$tmp/rc")" 141 "status --watch | head -1: ends by SIGPIPE, as before"
touch "$tmp/go"
wait $job
is "$?" 0 "the job itself ran on"
no_leftovers
done_testing

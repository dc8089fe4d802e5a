#!/bin/sh
# SPDX-License-Identifier: MIT
# exec as operators expect (issue 15.4): the command's stderr reaches
# mproc's stderr whatever its exit status, grouped per item (tagged with
# [args] stderr = tag), its tail in the failure message and the job log;
# the job log's exit column holds the command's status (or -signal); the
# command leads a process group of its own, and a time limit leaves no
# command or child of it running, even one that ignores SIGTERM.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# stderr of a succeeding command is shown, each item's lines together.
seq 1 8 >"$tmp/eight.txt"
f=$(job err.ini <<'INI'
[job]
plugin = exec
input = lines:eight.txt
[pool]
workers = 2
[args]
command = echo "$1 one" >&2; sleep 0.05; echo "$1 two" >&2; echo "$1"
INI
)
run_mproc run "$f"
is "$st" 0 "stderr of succeeding commands: exit 0"
is "$(cat "$tmp/out")" "$(seq 1 8)" "their stdout is the output"
is "$(grep -c ' one$' "$tmp/err")" 8 "every command's stderr is shown"
awk 'NR % 2 == 1 { a = $1; if ($2 != "one") bad = 1 }
     NR % 2 == 0 { if ($1 != a || $2 != "two") bad = 1 }
     END { exit bad || NR != 16 }' "$tmp/err"
ok $? "grouped per item: each item's two lines together"

run_mproc run "$f" --set args.stderr=tag
is "$(grep -c "^[1-8]	[1-8] \(one\|two\)\$" "$tmp/err")" 16 \
    "stderr = tag: each line starts with the item and a TAB"
run_mproc run "$f" --set args.stderr=hide
is "$(cat "$tmp/err")" "" "stderr = hide: nothing shown"
run_mproc run "$f" --set args.stderr=loud
is "$st" 78 "stderr = loud: exit 78"
like "$err" "[args] stderr: expected show, tag, hide or after, got 'loud'" \
    "stderr = loud: says what it takes"

# Failures: the exit column holds the command's own status, or -signal;
# the message (in stderr and the log) holds the end of its stderr.
printf 'ok\nthree\nkill\nterm\n' >"$tmp/f.txt"
f=$(job fail.ini <<'INI'
[job]
plugin = exec
input = lines:f.txt
[args]
command = case "$1" in three) echo "it broke" >&2; exit 3;; kill) kill -KILL $$;; term) echo "going" >&2; kill -TERM $$;; esac; echo "$1"
INI
)
run_mproc run "$f" --joblog "$tmp/log"
is "$st" 1 "failing commands: exit 1"
# The worker writes an item's stderr when the item ends, before its
# result: so before the host's failure line, though another item's
# stderr may come between (two workers).
order=$(printf '%s\n' "$err" | grep -n -e '^it broke$' \
        -e '^mproc: item 1 "three": command exited with status 3: it broke$' |
      cut -d: -f1 | tr '\n' ' ' |
      awk '{ print (NF == 2 && $1 < $2) ? "before" : "not: " $0 }')
is "$order" before \
    "the failing command's stderr, then the failure naming its tail"
[ "$order" = before ] || printf '%s\n' "$err" | sed 's/^/#   stderr: /'
col() { # col INDEX FIELD: a field of the job log's line for an item
    awk -F'\t' -v i="$1" -v f="$2" '$1 == i { print $f }' "$tmp/log"
}
is "$(col 0 6)" 0 "joblog: exit 0 for a succeeding command"
is "$(col 1 5)/$(col 1 6)" "failed/3" "joblog: exit 3 for 'exit 3'"
is "$(col 1 9)" "command exited with status 3: it broke" \
    "joblog: the message holds the stderr tail"
is "$(col 2 6)" "-9" "joblog: -9 for a command killed by SIGKILL"
is "$(col 3 6)" "-15" "joblog: -15 for a command killed by SIGTERM"
like "$(col 3 9)" "SIGTERM: going" "joblog: with its stderr tail"

# Its own process group: the command's pgid is its pid, and a `kill 0`
# in it ends the command's group, not the worker.
printf 'a\nb\n' >"$tmp/ab.txt"
f=$(job pgrp.ini <<'INI'
[job]
plugin = exec
input = lines:ab.txt
[pool]
workers = 1
[args]
command = set -- "$1" $(cat /proc/$$/stat | sed 's/.*) //'); [ "$4" = "$$" ] && echo "$1 leads its group"; [ "$1" = a ] && kill 0; exit 0
INI
)
run_mproc run "$f" --joblog "$tmp/log"
is "$st" 1 "kill 0 in a command: its item fails"
is "$(tr '\n' ' ' < "$tmp/out")" "a leads its group b leads its group " \
    "the next command ran, in a group it leads (a failed one's output shows)"
is "$(col 0 2)" "$(col 1 2)" "the same worker ran both: kill 0 did not end it"
is "$(col 0 6)" "-15" "kill 0: the command ended by SIGTERM"

# A time limit leaves nothing running, even a command that ignores
# SIGTERM with a child in the background: the worker is killed after the
# grace, and its keeper kills the command's group.
a=41$$
b=42$$
f=$(job stubborn.ini <<INI
[job]
plugin = exec
input = lines:ab.txt
timeout = 0.5s
timeout_grace = 0.3s
[pool]
workers = 2
[args]
command = trap '' TERM; sleep $a & sleep $b; wait
INI
)
run_mproc run "$f"
is "$st" 1 "commands ignoring SIGTERM past the time limit: exit 1"
is "$(grep -c 'timed out after 0.5s' "$tmp/err")" 2 "both timed out"
n=0
while [ -n "$(matching "sleep $a")$(matching "sleep $b")" ] && [ $n -lt 20 ]; do
    sleep 0.1; n=$((n + 1))
done
left="$(matching "sleep $a") $(matching "sleep $b")"
is "$left" " " "no command or child of it left"
for p in $left; do kill -9 "$p" 2>/dev/null; done

no_leftovers
done_testing

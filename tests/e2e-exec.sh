#!/bin/sh
# SPDX-License-Identifier: MIT
# exec end to end: the shipped job against xargs running the same command;
# items are data, never code; failing commands are reported per item with
# their status and the end of their stderr.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

conf=$srcdir/conf

# The oracle: xargs runs the job's own command once per line, in order.
cmd=$(sed -n 's/^command *= *//p' "$conf/exec.ini")
[ -n "$cmd" ]
ok $? "conf/exec.ini has a command"
xargs -d '\n' -n1 sh -c "$cmd" sh <"$conf/texts/lines.txt" >"$tmp/want"
run_mproc run "$conf/exec.ini"
is "$st" 0 "conf/exec.ini: exit 0"
cmp -s "$tmp/out" "$tmp/want"
ok $? "conf/exec.ini: equals xargs -n1 sh -c COMMAND"

# Hostile items are passed as "$1" and MPROC_ITEM, never run.
cat >"$tmp/evil.txt" <<'EOF'
'; touch PWNED1; '
$(touch PWNED2)
`touch PWNED3`
"; touch PWNED4; "
x; touch PWNED5
EOF
printf '[job]\nplugin = exec\ninput = lines:evil.txt\n[args]\ncommand = printf "%%s|%%s\\n" "$1" "$MPROC_ITEM"\n' \
    >"$tmp/evil.ini"
(cd "$tmp" && run_mproc run "$tmp/evil.ini")
is "$st" 0 "hostile items: exit 0"
paste -d '|' "$tmp/evil.txt" "$tmp/evil.txt" >"$tmp/want"
cmp -s "$tmp/out" "$tmp/want"
ok $? "each item came back verbatim in \$1 and \$MPROC_ITEM"
ls "$tmp" | grep -q PWNED
ok $((! $?)) "no item was run as code"

# Failures: status and stderr named, the other items done.
printf 'ok\nfail\nok2\nsig\n' >"$tmp/f.txt"
printf '[job]\nplugin = exec\ninput = lines:f.txt\n[args]\n%s\n' \
    'command = case "$1" in fail) echo "it broke" >&2; exit 3;; sig) kill -TERM $$;; *) echo "$1";; esac' \
    >"$tmp/f.ini"
run_mproc run "$tmp/f.ini" --workers 2
is "$st" 1 "failing commands: exit 1"
like "$err" "item 1 \"fail\": command exited with status 3: it broke" \
    "status and stderr tail named"
like "$err" "item 3 \"sig\": command killed by SIGTERM" "signal named"
is "$(cat "$tmp/out")" "$(printf 'ok\nok2')" "the other items are done"

printf '[job]\nplugin = exec\ninput = lines:f.txt\n' >"$tmp/nocmd.ini"
run_mproc run "$tmp/nocmd.ini"
is "$st" 78 "exec without [args] command: exit 78"
like "$err" "command" "says what is missing"

no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# CLI manners (issue 15.8): a usage error prints the error and one line
# pointing at --help, never the whole help; help for each command exits 0;
# main.c only dispatches (no file of cli/ includes what includes it).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# usage_error WHAT HELP_CMD ARGS...: exit 64, the error, one pointer line.
usage_error() {
    what=$1; hint=$2; shift 2
    run_mproc "$@"
    is "$st" 64 "$what: exit 64"
    is "$(wc -l < "$tmp/err" | tr -d ' ')" 2 "$what: two lines on stderr"
    like "$(sed -n 2p "$tmp/err")" "Try '$hint' for more information." \
        "$what: points at $hint"
    unlike "$err" "Usage:" "$what: not the whole help"
    is "$(wc -c < "$tmp/out" | tr -d ' ')" 0 "$what: nothing on stdout"
}

usage_error "no command" "mproc --help"
usage_error "unknown command" "mproc --help" frobnicate
usage_error "unknown top option" "mproc --help" --frob
usage_error "help for no command" "mproc --help" help frobnicate
usage_error "run: unknown option" "mproc run --help" run --bogus x.ini
usage_error "run: no job" "mproc run --help" run
usage_error "run: two jobs" "mproc run --help" run a.ini b.ini
usage_error "run: --resume alone" "mproc run --help" run --resume x.ini
usage_error "run: bad --stats" "mproc run --help" run --stats xml x.ini
usage_error "check: unknown option" "mproc check --help" check --bogus x.ini
usage_error "clean: unknown option" "mproc clean --help" clean --bogus
usage_error "plugins: unknown option" "mproc plugins --help" plugins --bogus
usage_error "exec: unknown option" "mproc exec --help" exec --bogus echo
usage_error "exec: --resume alone" "mproc exec --help" exec --resume echo ::: a
usage_error "merge: unknown option" "mproc merge --help" merge -x j.ini
like "$err" "merge: unknown option '-x'" "merge -x: an unknown option, not a missing value"
usage_error "merge: no value" "mproc merge --help" merge j.ini -o
like "$err" "merge: option '-o' needs a value" "merge -o: a missing value"
run_mproc help frobnicate
like "$err" "commands are run, exec, check, plugins, clean, manager, merge, slurm, rerun, status, bench, help" \
    "help for no command: lists every command"

for c in run exec check plugins clean; do
    run_mproc help "$c"
    is "$st" 0 "help $c: exit 0"
    like "$(cat "$tmp/out")" "Usage: mproc $c" "help $c: its usage on stdout"
    is "$err" "" "help $c: nothing on stderr"
    run_mproc "$c" --help
    is "$st" 0 "$c --help: exit 0"
    like "$(cat "$tmp/out")" "Usage: mproc $c" "$c --help: its usage"
done
# A command's help lists the exit statuses it gives: a usage error (64,
# tested above) for run and check, and for run an output that cannot be
# created (73) or written (74), as mproc(1), EXIT STATUS, says.
for c in run check; do
    run_mproc "$c" --help
    text=$(sed -n '/^Exit status:/,$p' "$tmp/out" | tr '\n' ' ')
    like "$text" "64 usage error" "$c --help: exit status 64 listed"
done
printf '[job]\nplugin = echo\ninput = range:0..1\noutput = %s\n' \
    "$tmp/no/such/out" > "$tmp/out73.ini"
run_mproc run "$tmp/out73.ini"
is "$st" 73 "run: an output that cannot be created: exit 73"
run_mproc run --help
text=$(sed -n '/^Exit status:/,$p' "$tmp/out" | tr '\n' ' ')
like "$text" "73 the output cannot be created" "run --help: exit status 73 listed"
like "$text" "74 writing the output failed" "run --help: exit status 74 listed"
# mproc manager: its statuses too (a pass found none listed), and a usage
# error gives the one it lists.
run_mproc manager --help
text=$(sed -n '/^Exit status:/,$p' "$tmp/out" | tr '\n' ' ')
like "$text" "64 usage error" "manager --help: exit status 64 listed"
like "$text" "78 the authkey, the types or the address cannot be used" \
    "manager --help: exit status 78 listed"
run_mproc manager --address "unix:$tmp/m.sock"
is "$st" 64 "manager without --authkey-file: exit 64, as listed"
for h in help --help; do
    run_mproc help "$h"
    is "$st" 0 "help $h: exit 0"
    like "$(cat "$tmp/out")" "Usage: mproc COMMAND" "help $h: the overview"
done
run_mproc help
is "$st" 0 "help: exit 0"
like "$(cat "$tmp/out")" "Usage: mproc COMMAND" "help: the overview"
like "$(cat "$tmp/out")" "exec [OPTIONS] COMMAND" "the overview lists exec"

# main.c dispatches only: the shared helpers live in common.c, and no
# file of cli/ includes main.c's code (there is no main.h to include).
cli="$srcdir/framework/cli"
is "$(grep -c '^cli_\(args_parse\|job_load\|pool_new\|error\)(' "$cli/main.c")" 0 \
    "main.c defines none of the shared helpers"
is "$(grep -c '^cli_\(args_parse\|job_load\|pool_new\|error\)(' "$cli/common.c")" 4 \
    "common.c does"
is "$(grep -l '^#include.*main' "$cli"/*.c "$cli"/*.h | wc -l | tr -d ' ')" 0 \
    "no cli/ file includes main"
is "$(grep -c '^#include "cli/' "$cli/main.c")" 1 "main.c includes cli.h only"

done_testing

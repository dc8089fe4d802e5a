#!/bin/sh
# SPDX-License-Identifier: MIT
# Inputs of a job file (issue 15.2): files: with recursion (DIR/** and
# DIR/**/GLOB), as mproc exec's :::: and stdin are tested elsewhere.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

mkdir -p "$tmp/t/a/b" "$tmp/t/.hidden" "$tmp/t/c"
touch "$tmp/t/top.txt" "$tmp/t/a/one.txt" "$tmp/t/a/b/two.txt" \
    "$tmp/t/a/b/three.log" "$tmp/t/.hidden/no.txt" "$tmp/t/c/.dot.txt" \
    "$tmp/t/a/b/with
newline.txt"
ln -s "$tmp/t/a" "$tmp/t/c/loop"   # a link to a folder: not followed

j=$(job walk.ini <<EOT
[job]
plugin = exec
input = files:t/**
[args]
command = printf '%s\n' "\$1" | tr '\n' '~'  
EOT
)
run_mproc run "$j"
is "$st" 0 "files:DIR/**: exit 0"
is "$(tr -d '\n' < "$tmp/out")" \
"$tmp/t/a/b/three.log~$tmp/t/a/b/two.txt~$tmp/t/a/b/with~newline.txt~$tmp/t/a/one.txt~$tmp/t/top.txt~" \
    "every file under DIR, sorted; hidden ones and links to folders left out"

run_mproc run "$j" --set job.input='files:'"$tmp"'/t/**/*.txt'
is "$(tr -d '\n' < "$tmp/out")" \
"$tmp/t/a/b/two.txt~$tmp/t/a/b/with~newline.txt~$tmp/t/a/one.txt~$tmp/t/top.txt~" \
    "files:DIR/**/*.txt: those whose name matches"
run_mproc check "$j" --set job.input='files:'"$tmp"'/t/**/*.txt'
is "$st" 0 "check accepts it"

run_mproc run "$j" --set job.input='files:'"$tmp"'/t/**x'
is "$st" 66 "files:DIR/**x: exit 66"
like "$err" "** must be a whole path component" "says how to write it"
run_mproc run "$j" --set job.input='files:nowhere/**'
is "$st" 66 "files:MISSING/**: exit 66"
like "$err" "nowhere" "names the folder"

# The pattern counts files for the progress total (known before the run).
run_mproc run "$j" --set job.input='files:'"$tmp"'/t/**/*.log' --stats json
like "$err" '"items": 1' "the count of files is known"

# -r (--no-run-if-empty): blank lines of stdin run nothing, as parallel.
printf 'a\n\n   \nb\n' >"$tmp/blank.txt"
run_mproc exec -r 'echo x{}x' <"$tmp/blank.txt"
is "$(cat "$tmp/out")" "xax
xbx" "-r: blank and white-space lines skipped"
run_mproc exec 'echo x{}x' <"$tmp/blank.txt"
is "$(wc -l <"$tmp/out" | tr -d ' ')" 4 "without -r: every line runs"

no_leftovers
done_testing

#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec --results DIR writes where it means to, and nowhere else:
# it followed a symbolic link planted under DIR (a results file linked
# to a file elsewhere was overwritten with the job's output, a folder
# linked elsewhere got the job's files), and the values ".", ".." and ""
# put a job's files into a folder another job, or DIR itself, uses.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# A victim outside DIR, and links to it where results go.
mkdir "$tmp/victimdir" "$tmp/res"
echo SECRET > "$tmp/victimdir/victim"
mkdir -p "$tmp/res/1/a"
ln -s "$tmp/victimdir/victim" "$tmp/res/1/a/stdout"
ln -s "$tmp/victimdir" "$tmp/res/1/b"
run_mproc exec --results "$tmp/res" echo ::: a b c
is "$(cat "$tmp/victimdir/victim")" SECRET \
    "symlinked stdout: the file it names is not written"
is "$(ls "$tmp/victimdir")" victim \
    "symlinked folder: nothing written in the folder it names"
is "$st" 2 "both jobs fail"
like "$err" "item 0 \"echo a\": --results: $tmp/res/1/a/stdout is a symbolic link, which --results does not follow; the job did not run" \
    "symlinked stdout: the failure names the link"
like "$err" "item 1 \"echo b\": --results: $tmp/res/1/b is a symbolic link" \
    "symlinked folder: the failure names the link"
is "$(cat "$tmp/res/1/c/stdout")" c "the other job's results are written"
is "$(find "$tmp/res/1/a" -type f -size +0)" "" \
    "a refused job writes nothing in its files"

# A link higher up (DIR/1), a second hard link to a file elsewhere, a
# FIFO (which must not hold the job up), a file where a folder goes.
mkdir -p "$tmp/res2/1/h" "$tmp/res2/1/f" "$tmp/res3"
ln -s "$tmp/victimdir" "$tmp/res3/1"
ln "$tmp/victimdir/victim" "$tmp/res2/1/h/stderr"
mkfifo "$tmp/res2/1/f/exitval"
: > "$tmp/res2/1/file"
run_mproc exec --results "$tmp/res3" echo ::: x
like "$err" "--results: $tmp/res3/1 is a symbolic link" \
    "symlinked DIR/1: refused"
run_mproc exec --results "$tmp/res2" echo ::: h f file
is "$st" 3 "hard link, FIFO, file for a folder: three jobs fail"
like "$err" "$tmp/res2/1/h/stderr is a file with another hard link" \
    "a hard link: refused"
like "$err" "$tmp/res2/1/f/exitval is not a plain file" "a FIFO: refused"
like "$err" "$tmp/res2/1/file is not a folder" "a file for a folder: refused"
is "$(cat "$tmp/victimdir/victim")" SECRET "and the victim is untouched"
is "$(ls "$tmp/victimdir")" victim "and its folder too"

# DIR itself is the user's word: a link there is followed, a missing
# DIR made with the folders above it; a second run's files replace the
# first's (truncated, not appended to).
ln -s "$tmp/real" "$tmp/linkdir"
mkdir "$tmp/real"
run_mproc exec --results "$tmp/linkdir/x/y" 'echo {}{}{}; exit {}' ::: 4
is "$(cat "$tmp/real/x/y/1/4/stdout")" 444 "DIR through a link, made"
run_mproc exec --results "$tmp/linkdir/x/y" 'echo {}; exit 0' ::: 4
is "$(cat "$tmp/real/x/y/1/4/stdout") $(cat "$tmp/real/x/y/1/4/exitval")" \
    "4 0" "a second run replaces the files"

# The command sees none of the descriptors its files came through.
run_mproc exec --results "$tmp/fds" \
    'for f in 3 4 5 6; do test -e /proc/self/fd/$f && echo fd$f; done; echo {}' \
    ::: z
is "$(cat "$tmp/fds/1/z/stdout")" z "the command has 0, 1, 2 only"

# ".", ".." and "" (parallel writes them to DIR/1, DIR and DIR/1: DIR's
# and every job's folder) have folders of their own: \., \.. and \empty,
# names no other value is written as.
mkdir "$tmp/rr"
run_mproc exec --results "$tmp/rr/res" 'echo "<"{}">"' ::: .. . '' 'a\.' '\'
is "$st" 0 "odd names: the jobs succeed"
is "$(cd "$tmp/rr" && find . | sort)" ".
./res
./res/1
./res/1/\\.
./res/1/\\..
./res/1/\\../exitval
./res/1/\\../seq
./res/1/\\../stderr
./res/1/\\../stdout
./res/1/\\./exitval
./res/1/\\./seq
./res/1/\\./stderr
./res/1/\\./stdout
./res/1/\\\\
./res/1/\\\\/exitval
./res/1/\\\\/seq
./res/1/\\\\/stderr
./res/1/\\\\/stdout
./res/1/\\empty
./res/1/\\empty/exitval
./res/1/\\empty/seq
./res/1/\\empty/stderr
./res/1/\\empty/stdout
./res/1/a\\\\.
./res/1/a\\\\./exitval
./res/1/a\\\\./seq
./res/1/a\\\\./stderr
./res/1/a\\\\./stdout" "odd names: a folder each, all in DIR/1"
is "$(cat "$tmp/rr/res/1/\\../stdout") $(cat "$tmp/rr/res/1/\\./stdout") $(cat "$tmp/rr/res/1/\\empty/stdout")" \
    "<..> <.> <>" "odd names: each job's own output"
run_mproc exec --results "$tmp/rr2" 'echo "{1}{2}"' ::: '' a ::: '' ..
is "$(cd "$tmp/rr2" && find . -name stdout | sort)" \
    "./1/\\empty/2/\\../stdout
./1/\\empty/2/\\empty/stdout
./1/a/2/\\../stdout
./1/a/2/\\empty/stdout" "odd names, two sources: a folder each"

# A command ending in a backslash means what it means without --results
# (and in parallel): "a \" (the wrapper joined it to its next line: "a").
run_mproc exec --results "$tmp/bs" 'echo {} \' ::: a
is "$(cat "$tmp/bs/1/a/stdout")" 'a \' "a trailing backslash stays the command's"
# An exitval that cannot be written (a full disk) fails the job; it was
# logged ok, exit 0, with an empty exitval.
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    mkdir "$tmp/full"
    unshare -m sh -c "mount -t tmpfs -o size=64k tmpfs '$tmp/full' &&
        exec '$bin' exec --joblog '$tmp/full.log' --results '$tmp/full/R' \
            ': {}; head -c 61440 /dev/zero' ::: a" >"$tmp/out" 2>"$tmp/err"
    is "$?" 1 "a full disk under --results: the job fails (exit 1)"
    like "$(cat "$tmp/err")" "--results: cannot write the exitval file (a full disk?)" \
        "saying so"
    is "$(cut -f5 "$tmp/full.log" | tail -1)" failed "and it is not logged ok"
else
    for i in 1 2 3; do ok 0 "# SKIP not root, or no mount namespace"; done
fi

# A failed job's reason is the end of its stderr, which --results sends
# to its file ("no error output", it said).
run_mproc exec --results "$tmp/why" 'echo out{}; echo err{} >&2; exit 3' ::: a
is "$st" 1 "a failing job under --results: exit 1"
like "$err" 'command exited with status 3: erra' "its reason is its stderr's end"
is "$(cat "$tmp/why/1/a/stderr")" "erra" "which is in its stderr file"

# -v and -t show the command, not mproc's wrapper around it (they showed
# the wrapper's script: trap, eval, descriptors).
run_mproc exec -v --results "$tmp/vr" 'echo {}' ::: a
is "$(cat "$tmp/out")" "echo a" "-v: the command on stdout"
is "$(cat "$tmp/vr/1/a/stdout")" "a" "-v: the job's output in its file"
run_mproc exec -t --results "$tmp/tr" 'echo {}' ::: a
is "$err" "echo a" "-t: the command on stderr"

no_leftovers
done_testing

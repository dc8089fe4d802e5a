#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec against GNU parallel (issue 15): invocations taken from
# parallel's tutorial (man parallel_tutorial) and man page examples, each
# run as `parallel -k ARGS` and as `mproc exec ARGS`; stdout must be the
# same bytes and the exit status the same.  Skipped without GNU parallel.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

if ! parallel --version 2>/dev/null | grep -q "GNU parallel"; then
    echo "1..0 # SKIP GNU parallel is not installed"
    exit 0
fi
# parallel asks to be cited once per user; a test run must not stop there.
mkdir -p "$tmp/home/.parallel"
touch "$tmp/home/.parallel/will-cite"
HOME=$tmp/home
export HOME

# The tutorial's input files, in a folder of our own.
cd "$tmp" || exit 1
printf 'A\nB\nC\n' > abc-file
printf 'D\nE\nF\n' > def-file
printf 'f1\tf2\nA\tB\nC\tD\n' > tsv-file
printf 'a,b\nc,d\n' > csv-file
printf 'one\ntwo\nthree\n' > lines
printf 'a b\0c\nd\0e\0' > nul-file
printf 'h1,h2\n1.x,2\n3,4\n' > hdr-file
: > empty-file
printf 'a\n\n \nb\n' > blank-file
printf 'echo one\necho two | tr a-z A-Z\n' > cmds-file

# Cases marked '!' need byte-exact output (no newline added to a job's
# output that lacks one, none for an empty output: issue 15.3, the
# bytes15 change to cmd_run.c).  Until mproc has it they are skipped;
# from then on they are compared like the rest.
if [ "$("$bin" exec true ::: x 2>/dev/null | wc -c)" -eq 0 ]; then
    byte_exact=yes
else
    byte_exact=no
fi

# compare STDIN ARGS: one invocation with both tools.
compare() {
    in=$1; shift
    ( eval "timeout -k 5 60 parallel -k $*" < "$in" > p.out 2> p.err )
    pst=$?
    ( eval "timeout -k 5 60 \"\$bin\" exec $*" < "$in" > m.out 2> m.err )
    mst=$?
    if cmp -s p.out m.out; then ok 0 "same output: $*"; else
        ok 1 "same output: $*"
        echo "#   parallel: $(od -c p.out | head -5 | tr '\n' '|')"
        echo "#   mproc:    $(od -c m.out | head -5 | tr '\n' '|')"
        echo "#   mproc stderr: $(head -c 300 m.err)"
    fi
    is "$mst" "$pst" "same exit status: $*"
}

# Each line: the stdin file, a bar, then the arguments (shell text).
while IFS='|' read -r in args; do
    case "$in" in ''|'#'*) continue ;; esac
    case "$in:$byte_exact" in
    '!'*:no)
        ok 0 "# SKIP needs byte-exact output (issue 15.3): $args"
        ok 0 "# SKIP needs byte-exact output (issue 15.3): $args"
        continue ;;
    esac
    compare "${in#!}" "$args"
done <<'EOT'
# Input sources (tutorial: "Input sources")
/dev/null|echo ::: A B C
/dev/null|echo ::: A B C ::: D E F
/dev/null|echo :::: abc-file
/dev/null|-a abc-file echo
/dev/null|-a abc-file -a def-file echo
/dev/null|echo :::: abc-file def-file
/dev/null|echo :::: abc-file ::: G H
/dev/null|-a abc-file echo {1}={2} ::: G H
/dev/null|-a abc-file -a def-file echo ::: G
# A ::: value's lines are items; an empty source beside others is one
# empty value (man: ":::", "::::")
/dev/null|echo '[{}]' ::: "$(printf 'x\ny')" z
/dev/null|echo '[{1}][{2}]' :::: empty-file ::: a
/dev/null|echo '[{1}][{2}]' ::: a b :::: empty-file
# No command: the inputs are the commands (man: "COMMAND")
cmds-file|
/dev/null|::: 'echo hi' 'echo there'
/dev/null|-a cmds-file
abc-file|echo
abc-file|-a - echo
abc-file|echo :::: - ::: 1 2
/dev/null|echo :::: empty-file
# An empty ::: list runs nothing, exit 0 (`gzip ::: $(ls *.log)` with no
# logs); beside a source with items it is one empty value; only empty
# sources: nothing
/dev/null|echo :::
/dev/null|:::
/dev/null|echo ::: a :::
/dev/null|echo ::: ::: a
/dev/null|echo ::: :::
/dev/null|echo ::: :::: empty-file
/dev/null|echo ::: a :::: empty-file
/dev/null|echo :::: empty-file :::: empty-file
/dev/null|echo :::: empty-file :::: empty-file ::: a
/dev/null|echo ::: a b ::: ::: c d
/dev/null|echo ::: a :::+
/dev/null|echo ::: a b :::+ :::
/dev/null|-X echo ::: :::
/dev/null|-N2 echo :::
/dev/null|--link echo ::: :::
# Linking (tutorial: "Linking arguments from input sources")
/dev/null|--link echo ::: A B C ::: D E F
/dev/null|--link echo ::: A B C D E ::: F G
/dev/null|--xapply echo :::: abc-file def-file
# Replacement strings (tutorial: "Replacement strings")
/dev/null|echo {} ::: A/B.C
/dev/null|echo {.} ::: A/B.C
/dev/null|echo {/} ::: A/B.C
/dev/null|echo {//} ::: A/B.C
/dev/null|echo {/.} ::: A/B.C
/dev/null|echo {#} ::: A B C
/dev/null|-j1 echo {%} ::: A B C
/dev/null|-j1 echo "'{%}'" ::: A B
/dev/null|-j1 "awk 'BEGIN { print {%} + 1 }'" ::: A
# (-j2 --dry-run with {%}: parallel's slots depend on its timing, 1 2 1
# on a quiet machine, 1 1 2 on a loaded one; checked on its own below)
/dev/null|-j1 -v "echo '{%}' {}" ::: A B
/dev/null|echo {1} {2} ::: A B ::: C D
/dev/null|echo {-1} {-2} '{-1.}' ::: A B ::: C.x D.y
/dev/null|echo {2} {1} ::: A B ::: C D
/dev/null|echo /={1/} //={1//} /.={1/.} .={1.} ::: A/B.C D/E.F
/dev/null|echo {1/} {2.} ::: dir/a.b ::: c.d/e.f
/dev/null|echo {} {} ::: x 'y z'
/dev/null|echo {//} {/.} {.} ::: a/b.c/d.e.f x
/dev/null|echo {/} ::: 'dir/sub dir/file name.txt'
# Column separator (tutorial: "--colsep")
/dev/null|--colsep '\t' echo 1={1} 2={2} :::: tsv-file
/dev/null|--colsep , echo {2}-{1} :::: csv-file
/dev/null|--colsep , echo {2}-{1} ::: a,b c,d
/dev/null|--colsep ' *' printf '[%s]' {1} {2} {3} {4} ::: 'a  b c' abc ,a
/dev/null|--colsep ',?' printf '[%s]' {1} {2} {3} {4} ::: a,,b ' x , y ' a,
/dev/null|--colsep '\s*' printf '[%s]' {1} {2} {3} ::: 'p q' ' r'
/dev/null|--colsep , printf '[%s]' {1} {2} {3} ::: ' x , y ' a, ,
# Several arguments per command (tutorial: "-X", "-m", "-n")
/dev/null|-j2 -X echo ::: 1 2 3 4 5
/dev/null|-j2 -X echo pre-{}-post ::: A B C D E
/dev/null|-j2 -m echo pre-{}-post ::: A B C D E
/dev/null|-n2 echo ::: A B C D E
/dev/null|-j1 -X -n2 echo {} ::: A B C D E
# -X and -m spread the items over the job slots (man: "-m": "distribute
# the arguments evenly among the jobs"), -j1 and --xargs do not; -n caps
# a command, and the one that reaches the end of the input is spread
# (more, -j1..-j4 and large inputs: below)
/dev/null|-j3 -m echo ::: 1 2 3 4 5 6 7 8 9 10
/dev/null|-j3 -X echo ::: 1 2
/dev/null|-j3 -m -n4 echo ::: 1 2 3 4 5 6 7 8
/dev/null|-j3 -m -n4 echo ::: 1 2 3 4 5 6 7 8 9
/dev/null|-j3 -m -n4 echo ::: 1 2 3 4 5 6 7 8 9 10 11 12
/dev/null|-j3 -n4 echo ::: 1 2 3 4 5 6 7 8
/dev/null|-j3 -N2 -m echo ::: 1 2 3 4 5 6 7 8 9 10
/dev/null|-j3 -N3 -X echo {1}-{2}-{3} ::: 1 2 3 4 5 6 7 8
/dev/null|-j3 --xargs echo ::: 1 2 3 4 5 6 7 8 9 10
/dev/null|-j3 --xargs -n4 echo ::: 1 2 3 4 5 6 7 8 9 10
/dev/null|-j3 --xargs -X echo x{}y ::: a b c d e
/dev/null|-j1 -m echo ::: 1 2 3 4 5 6 7 8 9 10
# NUL-separated input (man: "-0")
nul-file|-0 echo
nul-file|-0 'printf "<%s>\n"'
# -d, --delimiter (man: "-d"): stdin, ::: values and :::: files split
# at the byte (mproc refused -d as an unknown option)
csv-file|-d , echo '[{}]'
/dev/null|-d , echo '[{}]' ::: 'x,y' "$(printf 'p\nq')"
/dev/null|--delimiter , echo '[{}]' :::: csv-file
tsv-file|-d '\t' -X echo '[{}]'
nul-file|-d '\0' echo '[{}]'
# -E, --eof (man: "-E"): a value equal to it ends its source, stdin's
# lines and ::: and :::: values alike (mproc refused -E, exit 64)
abc-file|-E B echo
abc-file|-E B echo :::: - ::: 1 2
/dev/null|-E b echo ::: a b c ::: x b y
/dev/null|-E b --link echo ::: a b c ::: 1 2 3
/dev/null|--eof a echo '[{1}][{2}]' ::: a ::: x
/dev/null|-E '' echo ::: a '' b
lines|-j1 -X -E three echo
# Commands built of shell code (man: "Composed commands")
/dev/null|'echo {} | tr a-z A-Z' ::: abc def
/dev/null|'echo {1}; echo {2}' ::: a ::: b c
lines|'echo {#} {}; echo done {}'
# Tagging (tutorial: "--tag")
/dev/null|--colsep , echo {} ::: a,b
/dev/null|--tag --colsep , echo {2} ::: a,b
/dev/null|-X -j2 --tag echo ::: a b c
/dev/null|--tag echo ::: A B ::: 1 2
/dev/null|--tag -j1 'echo {}; echo again {}' ::: x y
# Exit status (man: "EXIT STATUS", "--halt")
!/dev/null|'exit {}' ::: 0 0 0
!/dev/null|'exit {}' ::: 0 1 0
!/dev/null|'exit {}' ::: 1 1 0 1
!/dev/null|-j1 --halt now,fail=1 'exit {}' ::: 0 4 0
!/dev/null|-j1 --halt soon,fail=1 'exit {}' ::: 0 5 0 0
!/dev/null|-j1 --halt now,success=1 'exit {}' ::: 3 0 1
# Timing and grouping (tutorial: "--delay", "--line-buffer")
/dev/null|--delay 0.1 echo ::: a b
# parallel's TIME POSTFIXES (mproc refused them, a usage error)
/dev/null|--delay 0.1s echo ::: a b
/dev/null|--delay 0.002m echo ::: a b
/dev/null|--delay 0m0.1s echo ::: a b
/dev/null|-j1 --line-buffer echo ::: a b c
# Dry run (man: "--dry-run")
/dev/null|--dry-run echo ::: A B
/dev/null|--dry-run gzip -9 ::: a.log b.log
# Output without a final newline (man: "printf")
!/dev/null|printf %s ::: a b c
!/dev/null|'printf "%s-" {}' ::: x y
# ops15: a failed job's stdout is written (man: "EXIT STATUS")
/dev/null|'echo out {}; exit {}' ::: 0 3 1
/dev/null|-j1 --tag 'echo {}; echo two; exit 1' ::: a b
/dev/null|-j2 --halt now,fail=1 'sleep 0.{}; echo {}; exit {}' ::: 0 9
/dev/null|-j1 --line-buffer --tag 'echo a{}; printf b{}' ::: 1 2
# ops15: -N, --header :, :::+ (man: "-N", "--header", ":::+")
/dev/null|-N2 echo {1}-{2} ::: a b c
/dev/null|-N2 echo ::: a b c d e
/dev/null|-N3 echo {3} {1} ::: a b c d e f
/dev/null|-N2 --colsep , echo {1}{2}{3}{4} ::: a,b c,d
# -N and -X: {} in a word is repeated per value; {N} counts the job's
# values end to end (they differed: "-N3 echo x{}y" gave "xa b cy")
/dev/null|-k -N3 echo x{}y ::: a b c d e
/dev/null|-k -N2 echo x{}y {1} ::: a b c d e
/dev/null|-k -N2 echo x{.}y ::: a.x b/y.z c
/dev/null|-k -N2 -m echo x{}y ::: a b c d e
/dev/null|-k -N2 echo x{}y ::: a b ::: c d
/dev/null|-k -j1 -X echo {1}{2} ::: a b c
/dev/null|-k -j2 -X echo x{1}y ::: a b c d e
/dev/null|-k -j2 -m echo {1}+{2} ::: a b ::: c d
/dev/null|-k -j2 -X echo x{}y ::: a b ::: c d
/dev/null|-k -j1 -X echo {1.}-{2/} ::: a.x b/y.z c
/dev/null|-k -j2 -X echo {-1} ::: a b c d e
abc-file|-N2 echo
/dev/null|--header : --colsep , echo {h2} {h1} :::: hdr-file
/dev/null|--header : --colsep , echo {h1.} {2} :::: hdr-file
/dev/null|--header : echo {x}{y} ::: x 1 2 ::: y 3 4
/dev/null|--header : --colsep '\t' echo {f2}/{f1} :::: tsv-file
/dev/null|echo ::: a b c :::+ 1 2
/dev/null|echo ::: a b :::+ 1 2 3 ::: x y
/dev/null|echo ::: x y ::: a b c :::+ 1 2 3
/dev/null|echo :::: abc-file ::::+ def-file
# Quoting the command (man: "-q"), printing it (man: "-v"), and the
# options parallel users type by habit (man: "-P", "-r", "--will-cite")
/dev/null|-q printf '[%s]\n' 'a b' '$HOME' '`id`' ';' '|' '*' ::: 1 2
/dev/null|-q sh -c 'echo "$0:$1"' {} 'x y' ::: a 'b c'
/dev/null|-q printf '%s|' 'c"d' "e'f" x{}y ::: "g'h"
# -q with no command: each value is one quoted word, not shell code
# (mproc ran 'echo;echo x' as code)
/dev/null|-q ::: 'echo;echo x'
cmds-file|-q
/dev/null|-q ::: echo ::: 'a b' ''
# An empty word is a command ('' {}), not none: the item is quoted
/dev/null|'' ::: 'echo a'
cmds-file|''
/dev/null|-v echo x ::: a b
/dev/null|-v -t echo x ::: a b
/dev/null|-v 'echo {} | tr a-z A-Z' ::: ab cd
/dev/null|-P 2 echo ::: a b c
/dev/null|--will-cite -r echo ::: a
empty-file|-r echo x
# -r drops blank values of ::: and :::: sources too, a source left with
# none being an empty one (mproc skipped blank lines of stdin only)
/dev/null|-r echo '[{}]' :::: blank-file
blank-file|-r echo '[{}]' :::: -
/dev/null|-r -a blank-file echo '[{}]'
/dev/null|-r echo '[{}]' ::: ''
/dev/null|-r echo '[{1}][{2}]' ::: '' a ::: ' ' b
/dev/null|-r echo '[{1}][{2}]' ::: '' ::: b
/dev/null|-r --link echo '[{1}][{2}]' ::: '' x ::: b c
/dev/null|-r -N2 echo '[{1}][{2}]' ::: a '' b ''
EOT

# -X / -m over -j1..-j4: a few items (all in one line, spread), and 2000
# (full lines of -s 1000, then the last one spread), from ::: lists,
# :::: files and stdin.  Byte for byte, so the order of the items too.
seq 1 10 > ten
seq 1 2000 > n2k
for j in 1 2 3 4; do
    compare ten "-j$j -m echo"
    compare /dev/null "-j$j -X echo ::: \$(cat ten)"
    compare /dev/null "-j$j -s 1000 -X echo :::: n2k"
    compare n2k "-j$j -s 1000 -m echo"
done
compare ten "-j0 -X echo"

# --dry-run with {%} and -j2: the first two jobs take slots 1 and 2, and
# every slot is one of them (parallel's exact reuse depends on its timing).
got=$("$bin" exec -k -j2 --dry-run echo {%} {} ::: A B C | tr '\n' ' ')
case "$got" in
"echo 1 A echo 2 B echo "[12]" C ") ok 0 "-j2 --dry-run: slots 1, 2, then one of them" ;;
*) ok 1 "-j2 --dry-run: slots 1, 2, then one of them"; echo "#   got: $got" ;;
esac

# compare_err ARGS: the same bytes on stderr from both tools.
compare_err() {
    ( eval "timeout -k 5 60 parallel $*" < /dev/null 2> p.err > /dev/null )
    ( eval "timeout -k 5 60 \"\$bin\" exec $*" < /dev/null 2> m.err \
        > /dev/null )
    if cmp -s p.err m.err; then ok 0 "same stderr: $*"; else
        ok 1 "same stderr: $*"
        echo "#   parallel: $(head -c 300 p.err | tr '\n' '|')"
        echo "#   mproc:    $(head -c 300 m.err | tr '\n' '|')"
    fi
}

# A job's stderr (issue 15): with 2>&1, each job's stdout then its
# stderr, in input order (parallel -k groups them so), --tag prefixing
# both; stderr alone is the same bytes too.
compare_merged() {
    ( eval "timeout -k 5 60 parallel -k $*" < /dev/null > p.out 2>&1 )
    ( eval "timeout -k 5 60 \"\$bin\" exec $*" < /dev/null > m.out 2>&1 )
    if cmp -s p.out m.out; then ok 0 "same 2>&1: $*"; else
        ok 1 "same 2>&1: $*"
        echo "#   parallel: $(head -c 300 p.out | tr '\n' '|')"
        echo "#   mproc:    $(head -c 300 m.out | tr '\n' '|')"
    fi
    compare_err -k "$*"
}
while read -r args; do
    case "$args" in ''|'#'*) continue ;; esac
    compare_merged "$args"
done <<'EOT'
'echo out {}; echo err {} >&2' ::: a b c
-j2 'sleep 0.{}; echo out {}; echo err {} >&2' ::: 3 1 2
--tag -j2 'sleep 0.{}; echo out {}; echo err {} >&2' ::: 3 1 2
--tag 'echo o{1}{2}; echo e{1} >&2; echo f{2} >&2' ::: a b ::: x y
--tag --colsep , 'echo {2} >&2; printf {1}' ::: a,b c,d
'printf "e{}" >&2; printf "o{}"' ::: 1 2
-j2 'head -c 2000000 /dev/zero | tr "\0" {} >&2; echo {}' ::: x y
'echo only-err {} >&2' ::: a b
EOT

# --line-buffer: a job's stderr goes out line by line too, tagged under
# --tag (mproc wrote it as the job ended, untagged); -t's command line
# is not tagged.  Stderr alone: its order against stdout is not set.
while read -r args; do
    case "$args" in ''|'#'*) continue ;; esac
    compare_err "$args"
done <<'EOT'
-j1 --line-buffer --tag 'echo o{}; echo e{} >&2; printf "x\ny"; printf "e1\ne2" >&2' ::: a b
-j1 --lb 'echo e{} >&2; printf "p{}" >&2' ::: a b
-j1 --lb --tag -t 'echo out; echo err >&2' ::: a b
-j1 --lb --tag --colsep , 'echo {2} >&2' ::: a,b c,d
EOT

# --results DIR (man: "--results"): the same files with the same bytes
# (mproc adds exitval, which parallel keeps in its joblog).
( timeout -k 5 60 parallel --results pres 'echo out {1}{2}; echo err >&2' \
    ::: a b/c ::: 1 2 > /dev/null 2>&1 )
( timeout -k 5 60 "$bin" exec --results mres 'echo out {1}{2}; echo err >&2' \
    ::: a b/c ::: 1 2 > /dev/null 2>&1 )
is "$(cd mres && find . -type f ! -name exitval | sort)" \
    "$(cd pres && find . -type f | sort)" "--results: the same files"
same=yes
for f in $(cd pres && find . -type f); do
    cmp -s "pres/$f" "mres/$f" || { same=no; echo "# differs: $f"; }
done
is "$same" yes "--results: the same contents"

# A backslash is written \\, a TAB \t, a name over 255 bytes cut there
# (it failed with "File name too long").
long=$(printf 'x%.0s' $(seq 1 300))
tab=$(printf 'a\tb')
( timeout -k 5 60 parallel --results pres2 'echo out {}' ::: 'a\b' "$long" \
    "$tab" > /dev/null 2>&1 )
( timeout -k 5 60 "$bin" exec --results mres2 'echo out {}' ::: 'a\b' \
    "$long" "$tab" > /dev/null 2> mres2.err )
is "$?" 0 "--results, odd names: both jobs succeed"
is "$(cd mres2 && find . -type f ! -name exitval | sort)" \
    "$(cd pres2 && find . -type f | sort)" "--results, odd names: the same files"
# Not the same: an empty value, "." and ".." (exec-results.sh).
# parallel 20221122 writes their files into DIR/1 and DIR itself, where
# other jobs' folders are, one job's over another's.
( timeout -k 5 60 parallel --results pres5 'echo "<"{}">"' ::: .. . '' a \
    > /dev/null 2>&1 )
( timeout -k 5 60 "$bin" exec --results mres5 'echo "<"{}">"' ::: .. . '' a \
    > /dev/null 2>&1 )
is "$(cd pres5 && find . -name stdout | sort)" "./1/a/stdout
./1/stdout
./stdout" "--results, . .. and '': parallel's folders are DIR/1 and DIR"
is "$(cd mres5 && find . -name stdout | sort)" "./1/\\../stdout
./1/\\./stdout
./1/\\empty/stdout
./1/a/stdout" "--results, . .. and '': mproc's are \\. \\.. \\empty"
is "$(cat mres5/1/a/stdout)" "$(cat pres5/1/a/stdout)" \
    "--results, . .. and '': the others' the same"
# With --header, the folders are named after the header's names.
( timeout -k 5 60 parallel --header : --results pres4 echo ::: A a b ::: B x \
    > /dev/null 2>&1 )
( timeout -k 5 60 "$bin" exec --header : --results mres4 echo ::: A a b \
    ::: B x > /dev/null 2>&1 )
is "$(cd mres4 && find . -type f ! -name exitval | sort)" \
    "$(cd pres4 && find . -type f | sort)" "--results --header: the same files"
# Several values in a command (-X, -m, -N) are each a level of folders,
# and --header's names are in their order, as parallel's are (mproc
# named the folder after the first record only: with -X -n2 ::: a b a c
# both commands wrote DIR/1/a, the second over the first).
n=0
while read -r args; do
    case "$args" in ''|'#'*) continue ;; esac
    n=$((n + 1))
    ( eval "timeout -k 5 60 parallel -j1 --results pr6.$n $args" \
        > /dev/null 2>&1 )
    ( eval "timeout -k 5 60 \"\$bin\" exec -j1 --results mr6.$n $args" \
        > /dev/null 2>&1 )
    is "$(cd mr6.$n && find . -type f ! -name exitval | sort)" \
        "$(cd pr6.$n && find . -type f | sort)" "--results $args: the same files"
    same=yes
    for f in $(cd pr6.$n && find . -type f); do
        cmp -s "pr6.$n/$f" "mr6.$n/$f" || same=no
    done
    is "$same" yes "--results $args: the same contents"
done <<'EOT'
-X -n2 echo ::: a b a c
-X echo ::: a b ::: c d
-m echo ::: a b c
-N2 echo ::: a b c
-N2 echo ::: a b ::: c d
-X --colsep , echo ::: a,b c,d
--header : echo ::: B a ::: A x
--header : -N2 echo ::: H a b ::: G x
--header : --colsep , echo ::: n,m 1,2
EOT
# A failure names the user's command, not the wrapper that fills DIR.
( timeout -k 5 60 "$bin" exec --results mres3 'echo {}; exit 3' ::: a \
    > /dev/null 2> mres3.err )
like "$(cat mres3.err)" 'item 0 "echo a; exit 3": command exited with status 3' \
    "--results: a failure names the command"

done_testing

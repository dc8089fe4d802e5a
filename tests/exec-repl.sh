#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc exec's replacement strings (issue 15.2), as GNU parallel's.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

r() {  # r WANT DESCRIPTION ARGS...: the output of mproc exec ARGS
    want=$1; d=$2; shift 2
    run_mproc exec "$@"
    is "$(cat "$tmp/out")" "$want" "$d"
}
r "a/b.c/d.e.f" "{}" echo {} ::: a/b.c/d.e.f
r "a/b.c/d.e" "{.}: the last extension off" echo {.} ::: a/b.c/d.e.f
r "a/b.c/d" "{.}: a dot in a folder name is no extension" echo {.} ::: a/b.c/d
r "d.e.f" "{/}: the base name" echo {/} ::: a/b.c/d.e.f
r "a/b.c" "{//}: the folder" echo {//} ::: a/b.c/d.e.f
r "." "{//} of a bare name: ." echo {//} ::: file
r "d.e" "{/.}: base name without extension" echo {/.} ::: a/b.c/d.e.f
r "1 a
2 b
3 c" "{#}: the sequence number, from 1" echo {#} {} ::: a b c
r "x x" "{} twice" echo {} {} ::: x
r "B A" "{2} {1}: the input sources" echo {2} {1} ::: A ::: B
r "b.c d" "{1/} {2.}" echo {1/} {2.} ::: a/b.c ::: d.e
r "2-1
4-3" "--colsep: columns" --colsep , echo {2}-{1} ::: 1,2 3,4
r "b c" "--colsep regex" --colsep '[;:]+' echo {2} {3} ::: 'a;;b:c'
r "x" "a missing column is empty" --colsep , echo {1}{3} ::: x,y
r "{x} {1a} {.x} v" "what is no replacement string stays" \
    'echo "{x} {1a} {.x}"' {} ::: v
r "a b  c" "a value keeps its spaces" 'printf "%s\n" {}' ::: 'a b  c'
r "it's" "and its quotes" echo {} ::: "it's"
r "no-repl a" "no replacement string: the item appended" echo no-repl ::: a

# -q / --quote: the command's words are data for the shell, as parallel's.
r "[a b]
[\$x]
[\`id\`]
[;]
[|]
[*]
[1]" "-q: blanks, \$, backquotes, ; | * reach the command as they are" \
    -q printf '[%s]\n' 'a b' '$x' '`id`' ';' '|' '*' ::: 1
r "a\\b|c\"d|e'f|g h|" "-q: backslashes and quotes too; the item still goes in" \
    -q printf '%s|' 'a\b' 'c"d' "e'f" {} ::: 'g h'
r "one
two x" "-q: a newline inside a word" -q printf '%s %s' 'one
two' {} ::: x
r "[]
[e]" "-q: an empty word stays a word" -q printf '[%s]\n' '' {} ::: e
r "in sh: a 'b" "-q: {} inside a quoted word is replaced" \
    --quote sh -c 'echo "in sh: {}"' ::: "a 'b"
(cd "$tmp" && run_mproc exec -q echo '>' made ::: 1)
is "$(cat "$tmp/out")" "> made 1" "-q: a redirection is an argument"
test -e "$tmp/made"
is $? 1 "-q: ... and made no file"
run_mproc exec -q -X printf '%s,' 'p {}' ::: a b
is "$(cat "$tmp/out")" "p a,p b," "-q -X: the word, blank and all, repeated per item"
run_mproc exec --dry-run -q printf '%s\n' 'c d' ::: 'g h'
is "$(cat "$tmp/out")" "printf %s\\\\n c\\ d 'g h'" "-q --dry-run: the line as the shell reads it"

# {%}: the job slot, 1..jobs.
run_mproc exec -j 2 echo {%} ::: a b c d e f
is "$(sort -u "$tmp/out" | tr '\n' ' ')" "$(sort -u "$tmp/out" |
    grep -x '[12]' | tr '\n' ' ')" "{%} is 1 or 2 with -j 2"
is "$(wc -l < "$tmp/out" | tr -d ' ')" 6 "one slot per job"

no_leftovers
done_testing

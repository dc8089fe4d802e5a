#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc plugins: lists the shipped plugins with their tasks; a folder of
# broken plugins lists each with the reason and exits 78.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

run_mproc plugins
is "$st" 0 "plugins: exit 0"
out=$(cat "$tmp/out")
for p in echo wordcount primes exec fault; do
    like "$out" "$p " "plugins lists $p"
done
like "$out" "ABI 1.4" "with the ABI"
like "$out" "task files" "with the tasks (wordcount's files)"
like "$out" "reduces its outputs" "and whether it reduces"

run_mproc plugins --path "$MPROC_TEST_PLUGINS"
is "$st" 78 "a folder with broken plugins: exit 78"
like "$err" "nodesc.so: no 'mproc_plugin_v1' symbol" "the reason for nodesc"
like "$err" "badmajor.so: built for plugin ABI major 2" "the reason for badmajor"
like "$(cat "$tmp/out")" "notasks " "loadable ones are listed"

run_mproc plugins --path "$tmp"
is "$st" 66 "an empty folder: exit 66"
like "$err" "no plugins found" "says so"

# An out-of-tree plugin: the README's example, built from the headers alone
# with the README's command (here with -I instead of pkg-config, since the
# headers are not installed), run by path.
sed -n '/^\/\* upper.c/,/^```/p' "$srcdir/README.md" | sed '$d' >"$tmp/upper.c"
grep -q MPROC_PLUGIN_DEFINE "$tmp/upper.c"
ok $? "the README has a complete minimal plugin"
${CC:-cc} -shared -fPIC -Wall -Werror -I"$srcdir/include" \
    "$tmp/upper.c" -o "$tmp/upper.so"
ok $? "an out-of-tree plugin builds with the headers alone"
printf 'hello\nworld\n' >"$tmp/in.txt"
printf '[job]\nplugin = ./upper.so\ninput = lines:in.txt\n' >"$tmp/upper.ini"
run_mproc run "$tmp/upper.ini"
is "$st" 0 "it runs"
is "$(cat "$tmp/out")" "$(printf 'HELLO\nWORLD')" "and works"

# plugin = upper.so (a file name given as a NAME): the hint gives a path
# that works, not ./upper.so.so.
printf '[job]\nplugin = upper.so\ninput = lines:in.txt\n' >"$tmp/upso.ini"
run_mproc check "$tmp/upso.ini"
is "$st" 78 "plugin = upper.so: exit 78"
like "$err" "upso.ini:2: plugin 'upper.so' not found (looked for upper.so.so in " \
    "names the line and what was looked for"
like "$err" "a file is given by its path, such as ./upper.so, and a plugin of the search path by its NAME, without .so" \
    "and suggests ./upper.so"
unlike "$err" "upper.so.so in it" "never ./upper.so.so"

# A task name no job file can give is refused when the plugin loads (it
# was listed, and blamed on the job file once a second task came).
cat >"$tmp/badtask.c" <<'C'
#include <mproc/plugin.h>
static int
t(struct mproc_ctx *c, const void *in, size_t l, uint64_t i, struct mproc_buf *o)
{
    (void)c, (void)i;
    return mproc_buf_append(o, in, l);
}
static const struct mproc_task_def tasks[] = {{"bad name/x", t, NULL},
                                              {NULL, NULL, NULL}};
MPROC_PLUGIN_DEFINE(.name = "badtask", .tasks = tasks);
C
${CC:-cc} -shared -fPIC -I"$srcdir/include" "$tmp/badtask.c" -o "$tmp/badtask.so"
ok $? "a plugin with a bad task name builds"
run_mproc plugins "$tmp/badtask.so"
is "$st" 78 "plugins FILE, a task name with a space and a slash: exit 78"
like "$err" "plugin $tmp/badtask.so: task 'bad name/x': a task name is made of letters, digits, '_', '.' and '-'" \
    "says which task and the rule"

# A plugin's texts reach the terminal escaped: control bytes (and the
# UTF-8 form of the C1 ones) as \xHH, in the listing, in the details and
# in the refusal of a bad task name (they drove the terminal).
cat >"$tmp/esc.c" <<'C'
#include <mproc/plugin.h>
static int
t(struct mproc_ctx *c, const void *in, size_t l, uint64_t i, struct mproc_buf *o)
{
    (void)c, (void)i;
    return mproc_buf_append(o, in, l);
}
static const struct mproc_task_def tasks[] = {{TASK, t, "d\302\233x"},
                                              {NULL, NULL, NULL}};
MPROC_PLUGIN_DEFINE(.name = "esc", .version = "1\0330",
                    .description = "pl\033[2Jdesc", .tasks = tasks);
C
mkdir "$tmp/escd"
${CC:-cc} -shared -fPIC -I"$srcdir/include" -DTASK='"ok"' "$tmp/esc.c" -o "$tmp/escd/esc.so" &&
    ${CC:-cc} -shared -fPIC -I"$srcdir/include" -DTASK='"e\033]0;x\007"' "$tmp/esc.c" -o "$tmp/escbad.so"
ok $? "plugins with escape sequences build"
run_mproc plugins --path "$tmp/escd"
like "$(cat "$tmp/out")" 'esc 1\x1b0  ABI' "listing: the version escaped"
like "$(cat "$tmp/out")" 'pl\x1b[2Jdesc' "listing: the description escaped"
like "$(cat "$tmp/out")" 'task ok: d\xc2\x9bx' "listing: a C1 control escaped"
run_mproc plugins "$tmp/escd/esc.so"
is "$(tr -d '\n -~' <"$tmp/out" | wc -c | tr -d ' ')" 0 "details: printable bytes only"
run_mproc plugins "$tmp/escbad.so"
like "$err" "task 'e\x1b]0;x\x07': a task name is made of" "a refused task name escaped"

no_leftovers
done_testing

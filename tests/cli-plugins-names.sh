#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc plugins names each plugin as a job does (a stranger's pass, D7):
# by its file's NAME, which `plugin = NAME` resolves, not by the name its
# descriptor gives; a file that an earlier folder of the same NAME
# shadows is marked; `plugins PATH` of a missing file exits 66, not 78.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

mkdir "$tmp/shadow"
cat >"$tmp/good.c" <<'EOF2'
#include <mproc/plugin.h>
static int
run(struct mproc_ctx *c, const void *in, size_t len, uint64_t i,
    struct mproc_buf *o)
{
    (void)c;
    (void)i;
    return mproc_buf_append(o, in, len);
}
static const struct mproc_task_def tasks[] = {{"up", run, "copy"}, {0}};
MPROC_PLUGIN_DEFINE(.name = "good", .version = "2.0",
                    .description = "a good one", .tasks = tasks);
EOF2
${CC:-cc} -shared -fPIC -I"$srcdir/include" "$tmp/good.c" \
    -o "$tmp/shadow/echo.so"
ok $? "a plugin calling itself good, as echo.so, builds"
cp "$tmp/shadow/echo.so" "$tmp/shadow/.hid.so"

MPROC_PLUGIN_PATH=$tmp/shadow:$MPROC_PLUGIN_PATH run_mproc plugins
is "$st" 0 "plugins: exit 0"
out=$(grep -v '^    ' "$tmp/out")
like "$out" "
echo 2.0  ABI 1.4  $tmp/shadow/echo.so  (descriptor name \"good\")" \
    "listed by the NAME a job gives, the descriptor's name noted"
unlike "$out" "good 2.0" "not by the descriptor's name"
like "$out" "/echo.so  (shadowed by $tmp/shadow/echo.so)" \
    "the shipped echo is marked shadowed by the earlier file"
is "$(grep -c '^echo .*shadowed' "$tmp/out")" 1 "and only that one"
unlike "$(grep '^exec ' "$tmp/out")" "shadowed" "exec is not shadowed"
like "$out" ".hid 2.0  ABI 1.4  $tmp/shadow/.hid.so" \
    "a hidden file is listed, as .NAME"
printf '[job]\nplugin = .hid\ntask = up\ninput = range:1..2\n' >"$tmp/hid.ini"
MPROC_PLUGIN_PATH=$tmp/shadow run_mproc run "$tmp/hid.ini"
is "$st" 0 "plugin = .hid loads it"
is "$(cat "$tmp/out")" "1
2" "and runs it"
printf '[job]\nplugin = echo\ntask = up\ninput = range:1..1\n' >"$tmp/e.ini"
MPROC_PLUGIN_PATH=$tmp/shadow:$MPROC_PLUGIN_PATH run_mproc check "$tmp/e.ini"
is "$st" 0 "plugin = echo gets the shadowing file (its task up), as listed"

# Two --path folders: the second's file of the same NAME is shadowed.
mkdir "$tmp/second"
cp "$tmp/shadow/echo.so" "$tmp/second/echo.so"
run_mproc plugins --path "$tmp/shadow" --path "$tmp/second"
like "$(cat "$tmp/out")" "$tmp/second/echo.so  (shadowed by $tmp/shadow/echo.so)" \
    "--path folders in order: the later one is shadowed"

# A missing file: 66, as mproc(1) says (a NAME found nowhere stays 78,
# as for a job's plugin: cfg-args.sh).
run_mproc plugins "$tmp/no-such.so"
is "$st" 66 "plugins PATH, no such file: exit 66"
like "$err" "No such file or directory" "says so"
run_mproc plugins "$tmp/no-folder/x.so"
is "$st" 66 "plugins PATH, no such folder: exit 66"
: >"$tmp/empty.so"
run_mproc plugins "$tmp/empty.so"
is "$st" 78 "a file that does not load: still 78"

no_leftovers
done_testing

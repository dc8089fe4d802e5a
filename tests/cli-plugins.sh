#!/bin/sh
# mproc plugins: lists the shipped plugins with their tasks; a folder of
# broken plugins lists each with the reason and exits 78.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

run_mproc plugins
is "$st" 0 "plugins: exit 0"
out=$(cat "$tmp/out")
for p in echo wordcount primes exec fault; do
    like "$out" "$p " "plugins lists $p"
done
like "$out" "ABI 1.0" "with the ABI"
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

# An out-of-tree plugin: built from the headers alone, run by path.
cat >"$tmp/upper.c" <<'EOF'
#include <ctype.h>
#include <mproc/plugin.h>

static int
upper(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    const unsigned char *s = in;
    size_t i;

    if (mproc_buf_reserve(out, len) != MPROC_TASK_OK)
        return mproc_fail(ctx, "out of memory");
    for (i = 0; i < len; i++)
        out->data[out->len++] = (char)toupper(s[i]);
    return MPROC_TASK_OK;
}

static const struct mproc_task_def tasks[] = {
    {"upper", upper, "upper-case each item"},
    {NULL, NULL, NULL},
};

MPROC_PLUGIN_DEFINE(.name = "upper", .version = "1.0",
                    .description = "upper-case each item", .tasks = tasks);
EOF
${CC:-cc} -shared -fPIC -Wall -Wextra -Werror -I"$srcdir/include" \
    "$tmp/upper.c" -o "$tmp/upper.so"
ok $? "an out-of-tree plugin builds with the headers alone"
printf 'hello\nworld\n' >"$tmp/in.txt"
printf '[job]\nplugin = ./upper.so\ninput = lines:in.txt\n' >"$tmp/upper.ini"
run_mproc run "$tmp/upper.ini"
is "$st" 0 "it runs"
is "$(cat "$tmp/out")" "$(printf 'HELLO\nWORLD')" "and works"

no_leftovers
done_testing

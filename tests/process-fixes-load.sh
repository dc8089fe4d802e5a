#!/bin/sh
# SPDX-License-Identifier: MIT
# A plugin file whose constructor crashes (or calls exit()) while it is
# loaded: `mproc plugins --path DIR` reports it, with the signal, and
# lists the other files; `plugins FILE`, check and run report it; all
# exit 78 instead of dying of the signal without a word (mproc(1),
# PLUGINS).
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

mkdir "$tmp/plugins"
cat >"$tmp/ctor.c" <<'C'
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <mproc/plugin.h>
__attribute__((constructor)) static void
boom(void)
{
#if defined(CRASH_SEGV)
    volatile int *volatile p = NULL;
    *p = 1;
    raise(SIGSEGV);
#elif defined(CRASH_ABRT)
    abort();
#elif defined(CRASH_EXIT)
    exit(0);
#elif defined(HANG)
    for (;;)
        pause();
#endif
}
static int
t(struct mproc_ctx *c, const void *in, size_t l, uint64_t i,
  struct mproc_buf *o)
{
    (void)c, (void)i;
    return mproc_buf_append(o, in, l);
}
static const struct mproc_task_def tasks[] = {{"t", t, NULL}, {NULL, NULL, NULL}};
MPROC_PLUGIN_DEFINE(.name = PNAME, .tasks = tasks);
C
build() {  # build NAME -DFLAG...
    _n=$1; shift
    ${CC:-cc} -shared -fPIC -I"$srcdir/include" -DPNAME="\"$_n\"" "$@" \
        "$tmp/ctor.c" -o "$tmp/plugins/$_n.so"
}
build ctorsegv -DCRASH_SEGV && build ctorabrt -DCRASH_ABRT &&
    build ctorexit -DCRASH_EXIT && build okay
ok $? "the test plugins build"

run_mproc plugins --path "$tmp/plugins"
is "$st" 78 "plugins --path: a file whose constructor crashes: exit 78"
like "$err" "ctorsegv.so: crashed while loading (SIGSEGV in a constructor" \
    "plugins --path: names the file, what it did and where"
like "$err" "ctorabrt.so: crashed while loading (SIGABRT" \
    "plugins --path: an abort() too"
like "$err" "ctorexit.so: ended the process while loading (exit status 0" \
    "plugins --path: and a constructor's exit(0)"
like "$(cat "$tmp/out")" "okay ?  ABI" "plugins --path: the other files are listed"

run_mproc plugins "$tmp/plugins/ctorsegv.so"
is "$st" 78 "plugins FILE: exit 78"
like "$err" "mproc: plugin $tmp/plugins/ctorsegv.so: crashed while loading" \
    "plugins FILE: says so"

printf 'a\nb\n' >"$tmp/in.txt"
f=$(job segv.ini <<INI
[job]
plugin = $tmp/plugins/ctorsegv.so
input = lines:$tmp/in.txt
INI
)
for cmd in check run; do
    run_mproc $cmd "$f"
    is "$st" 78 "$cmd: a plugin whose constructor crashes: exit 78"
    like "$err" "mproc: $f:2: plugin $tmp/plugins/ctorsegv.so: crashed while loading (SIGSEGV" \
        "$cmd: says so, with the line that names the plugin"
done
run_mproc check --set job.plugin="$tmp/plugins" "$f"
is "$st" 78 "check, a folder as the plugin: exit 78"
like "$err" "mproc: --set: plugin $tmp/plugins: not a regular file" \
    "says so, with where it was set"
is "$(cat "$tmp/out")" "" "run: nothing ran"

# By name, through MPROC_PLUGIN_PATH: the file it found is named.
f=$(job byname.ini <<INI
[job]
plugin = ctorexit
input = lines:$tmp/in.txt
INI
)
saved_path=${MPROC_PLUGIN_PATH:-}
MPROC_PLUGIN_PATH="$tmp/plugins"; export MPROC_PLUGIN_PATH
run_mproc check "$f"
MPROC_PLUGIN_PATH=$saved_path
is "$st" 78 "check, a plugin by name whose constructor exits: exit 78"
like "$err" "plugin $tmp/plugins/ctorexit.so: ended the process while loading" \
    "check: names the file it found"

# The good one still runs, its output once (the child that loads it
# first says nothing on stdout).
f=$(job okay.ini <<INI
[job]
plugin = $tmp/plugins/okay.so
input = lines:$tmp/in.txt
INI
)
run_mproc run "$f"
is "$st" 0 "run: a plugin that loads runs"
is "$(cat "$tmp/out")" "$(printf 'a\nb')" "run: and its output is there once"

# A constructor that never returns: the listing skips the file after 10 s
# (it hung for ever, hiding every other plugin) and lists the rest.
mkdir "$tmp/hang"
build ctorhang -DHANG && mv "$tmp/plugins/ctorhang.so" "$tmp/hang/" &&
    cp "$tmp/plugins/okay.so" "$tmp/hang/"
ok $? "the hanging plugin builds"
run_mproc plugins --path "$tmp/hang"
is "$st" 78 "plugins --path, a constructor that never returns: exit 78"
like "$err" "plugin $tmp/hang/ctorhang.so: still loading after 10 s (a constructor or initializer that waits?); skipped" \
    "says so"
like "$(cat "$tmp/out")" "okay ?  ABI" "and lists the other files"
run_mproc plugins --path "$tmp/no-such-folder"
is "$st" 66 "plugins --path, a folder that does not exist: exit 66"
like "$err" "mproc: plugins: $tmp/no-such-folder: No such file or directory" \
    "names it"
no_leftovers
done_testing

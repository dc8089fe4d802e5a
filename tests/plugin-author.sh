#!/bin/sh
# SPDX-License-Identifier: MIT
# What a plugin author's pass found (2026-12-01), each with a plugin
# built here the documented way: a fini that hangs as its worker retires
# held the run for ever; on_error = abort, ordered, waited for an
# earlier item that hung; what a plugin printed in mproc itself (a
# constructor, reduce, reduce_end) went into the results; a task that set
# out->len past its buffer sent the worker's heap, or crashed and the
# crash was blamed on the item before; the loader took tables no job can
# use; an init's failure message reached the terminal raw.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

cc=${CC:-cc}
build() { # NAME: $tmp/NAME.c -> $tmp/NAME.so
    $cc -shared -fPIC -I"$srcdir/include" "$tmp/$1.c" -o "$tmp/$1.so"
}

# ---- a fini that hangs as its worker retires ----
seq 1 6 | sed 's/^/ok/' >"$tmp/six.txt"
printf '[job]\nplugin = fault\ninput = lines:%s\n[pool]\nworkers = 2\nmax_tasks_per_child = 1\n[args]\nfini = hang\n' \
    "$tmp/six.txt" >"$tmp/fini.ini"
timeout -k 5 120 "$bin" run "$tmp/fini.ini" >"$tmp/out" 2>"$tmp/err"
st=$?
is "$st" 0 "fini = hang, max_tasks_per_child = 1: the run ends (124: it hung)"
is "$(wc -l <"$tmp/out" | tr -d ' ')" 6 "and every item's output is there"
like "$(cat "$tmp/err")" "still in the plugin's fini 10 s after its last task, as it retires: killed" \
    "the retiring worker's hung fini is said"
is "$(grep -c "as it retires" "$tmp/err")" 1 "once a run"
like "$(cat "$tmp/err")" "still in the plugin's fini 10 s after the last task: killed" \
    "and so is the hang at the end of the run"

# ---- on_error = abort, ordered: an earlier item that hangs ----
printf 'hang\nfail:boom\nok\nok\nok\nok\n' >"$tmp/abort.txt"
printf '[job]\nplugin = fault\ninput = lines:%s\non_error = abort\nchunksize = 1\n[pool]\nworkers = 2\n[args]\nruns = %s\n' \
    "$tmp/abort.txt" "$tmp/runs" >"$tmp/abort.ini"
: >"$tmp/runs"
timeout -k 5 60 "$bin" run "$tmp/abort.ini" >"$tmp/out" 2>"$tmp/err"
st=$?
is "$st" 1 "abort, ordered, item 0 hangs and item 1 fails: the run stops (exit 1, 124: hung)"
like "$(cat "$tmp/err")" "boom" "the failure is said"
like "$(cat "$tmp/err")" "run aborted after the first failure (on_error = abort): 0 items done, 1 failed" \
    "and counted as one"
ok $([ "$(wc -l <"$tmp/runs")" -le 3 ]; echo $?) \
    "the items after it are not run ($(wc -l <"$tmp/runs" | tr -d ' ') ran)"

# ---- a plugin's stdout in mproc itself ----
cat >"$tmp/loud.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <mproc/plugin.h>
static unsigned long n;
__attribute__((constructor)) static void hello(void) { printf("CTOR\n"); }
static int
t(struct mproc_ctx *c, const void *in, size_t l, uint64_t i, struct mproc_buf *o)
{
    (void)c, (void)i;
    return mproc_buf_append(o, in, l);
}
static int
red(struct mproc_ctx *c, const void *d, size_t l, uint64_t i)
{
    (void)c, (void)d, (void)i;
    printf("REDUCE %zu\n", l);
    n++;
    return MPROC_TASK_OK;
}
static int
end(struct mproc_ctx *c, struct mproc_buf *o)
{
    (void)c;
    printf("END\n");
    fflush(stdout);
    return mproc_buf_printf(o, "RESULT %lu\n", n);
}
static const struct mproc_task_def tasks[] = {{"t", t, NULL}, {NULL, NULL, NULL}};
MPROC_PLUGIN_DEFINE(.name = "loud", .tasks = tasks, .reduce = red,
                    .reduce_end = end);
C
build loud
ok $? "a plugin that prints in its constructor, reduce and reduce_end builds"
printf 'a\nb\nc\n' >"$tmp/abc.txt"
printf '[job]\nplugin = %s\ninput = lines:%s\n' "$tmp/loud.so" "$tmp/abc.txt" >"$tmp/loud.ini"
run_mproc run "$tmp/loud.ini"
is "$st" 0 "run: exit 0"
is "$(cat "$tmp/out")" "RESULT 3" "the results hold the reduced output only"
like "$err" "REDUCE" "what reduce printed went to stderr"
like "$err" "CTOR" "and the constructor's"
run_mproc check "$tmp/loud.ini"
unlike "$(cat "$tmp/out")" "CTOR" "check: the listing holds no constructor output"
run_mproc plugins "$tmp/loud.so"
unlike "$(cat "$tmp/out")" "CTOR" "plugins: the listing holds no constructor output"

# ---- out->len past the buffer ----
cat >"$tmp/badlen.c" <<'C'
#include <string.h>
#include <mproc/plugin.h>
static int
t(struct mproc_ctx *c, const void *in, size_t l, uint64_t i, struct mproc_buf *o)
{
    (void)c, (void)i;
    if (strcmp(in, "over") == 0) {
        if (mproc_buf_reserve(o, 10) != MPROC_TASK_OK)
            return MPROC_TASK_FAIL;
        memcpy(o->data, "0123456789", 10);
        o->len = o->cap + 100;
        return MPROC_TASK_OK;
    }
    if (strcmp(in, "huge") == 0) {
        o->len = (size_t)-1;
        return MPROC_TASK_OK;
    }
    return mproc_buf_append(o, in, l);
}
static const struct mproc_task_def tasks[] = {{"t", t, NULL}, {NULL, NULL, NULL}};
MPROC_PLUGIN_DEFINE(.name = "badlen", .tasks = tasks);
C
build badlen
ok $? "a plugin that sets out->len past its buffer builds"
printf 'a\nover\nb\nhuge\nc\n' >"$tmp/len.txt"
for ipc in pipe shmring; do
    printf '[job]\nplugin = %s\ninput = lines:%s\n[pool]\nworkers = 1\nipc = %s\n' \
        "$tmp/badlen.so" "$tmp/len.txt" "$ipc" >"$tmp/len.ini"
    run_mproc run "$tmp/len.ini"
    is "$st" 1 "$ipc: two bad items: exit 1"
    is "$(cat "$tmp/out")" "a
b
c" "$ipc: the good items' output, nothing from past the buffers"
    like "$err" "item 1 \"over\": plugin bug: the task set out->len to" "$ipc: the first one named"
    like "$err" "item 3 \"huge\": plugin bug: the task set out->len to" "$ipc: the second one named"
    unlike "$err" "killed" "$ipc: no worker died for it"
done

# ---- tables no job can use ----
cat >"$tmp/duptask.c" <<'C'
#include <mproc/plugin.h>
static int
t(struct mproc_ctx *c, const void *in, size_t l, uint64_t i, struct mproc_buf *o)
{
    (void)c, (void)i;
    return mproc_buf_append(o, in, l);
}
static const struct mproc_task_def tasks[] = {{"a", t, NULL}, {"a", t, NULL},
                                              {NULL, NULL, NULL}};
MPROC_PLUGIN_DEFINE(.name = "duptask", .tasks = tasks);
C
sed -e 's/{"a", t, NULL}, {"a", t, NULL}/{"a", t, NULL}/' \
    -e 's/\.name = "duptask"/.name = "badkey", .args = args/' \
    -e 's/^MPROC_PLUGIN_DEFINE/static const struct mproc_arg_def args[] = {{"bad key!", 0, NULL, 0, "h", NULL}, MPROC_ARG_END};\nMPROC_PLUGIN_DEFINE/' \
    "$tmp/duptask.c" >"$tmp/badkey.c"
sed -e 's/"bad key!", 0, NULL, 0, "h", NULL/"k", 0, NULL, MPROC_ARG_REQUIRED, "h", "nosuch"/' \
    -e 's/"badkey"/"badalt"/' "$tmp/badkey.c" >"$tmp/badalt.c"
for p in duptask badkey badalt; do
    build $p
    ok $? "$p builds"
done
run_mproc plugins "$tmp/duptask.so"
is "$st" 78 "two tasks of one name: refused (78)"
like "$err" "plugin $tmp/duptask.so: task 'a' is declared twice" "says which"
run_mproc plugins "$tmp/badkey.so"
is "$st" 78 "an [args] key no job file can set: refused"
like "$err" "[args] 'bad key!': a key is made of letters, digits" "says which and the rule"
run_mproc plugins "$tmp/badalt.so"
is "$st" 78 "an alternative that is no key: refused"
like "$err" "[args] k: its alternative 'nosuch' is not a key the plugin declares" "says which"

# ---- an init's message with control bytes ----
cat >"$tmp/oddinit.c" <<'C'
#include <mproc/plugin.h>
static int
init(struct mproc_ctx *c)
{
    return mproc_fail(c, "bad\033[31m red\r\a");
}
static int
t(struct mproc_ctx *c, const void *in, size_t l, uint64_t i, struct mproc_buf *o)
{
    (void)c, (void)i;
    return mproc_buf_append(o, in, l);
}
static const struct mproc_task_def tasks[] = {{"t", t, NULL}, {NULL, NULL, NULL}};
MPROC_PLUGIN_DEFINE(.name = "oddinit", .init = init, .tasks = tasks);
C
build oddinit
printf '[job]\nplugin = %s\ninput = lines:%s\n' "$tmp/oddinit.so" "$tmp/abc.txt" >"$tmp/odd.ini"
run_mproc run "$tmp/odd.ini"
is "$st" 78 "an init that fails: 78"
like "$err" 'bad\x1b[31m red\x0d\x07' "its message escaped"
is "$(tr -d '\n' <"$tmp/err" | tr -dc '\033\r\007' | wc -c | tr -d ' ')" 0 \
    "no raw control byte on stderr"

# ---- a task that closes descriptors not its own ----
cat >"$tmp/closer.c" <<'C'
#include <string.h>
#include <unistd.h>
#include <mproc/plugin.h>
static int
init(struct mproc_ctx *c)
{
    if (strcmp(mproc_arg(c, "init", "ok"), "close") == 0)
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
    return MPROC_TASK_OK;
}
static int
t(struct mproc_ctx *c, const void *in, size_t l, uint64_t i, struct mproc_buf *o)
{
    (void)c, (void)i;
    if (strcmp(in, "close") == 0)
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
    return mproc_buf_append(o, in, l);
}
static const struct mproc_task_def tasks[] = {{"t", t, NULL}, {NULL, NULL, NULL}};
static const struct mproc_arg_def args[] = {{"init", 0, "ok", 0, "h", NULL}, MPROC_ARG_END};
MPROC_PLUGIN_DEFINE(.name = "closer", .init = init, .tasks = tasks, .args = args);
C
build closer
printf 'a\nb\nclose\nc\nd\n' >"$tmp/close.txt"
for ipc in pipe shmring; do
    printf '[job]\nplugin = %s\ninput = lines:%s\ntimeout = 5\n[pool]\nworkers = 1\nipc = %s\n' \
        "$tmp/closer.so" "$tmp/close.txt" "$ipc" >"$tmp/close.ini"
    # Its result may come through the shared stage before the worker
    # ends (pipe) or not (shmring: the worker is killed when its channel
    # ends, maybe in the next task, which then fails as one a worker
    # died under): each item is written or failed, once.
    timeout -k 5 60 "$bin" run "$tmp/close.ini" >"$tmp/out" 2>"$tmp/err"
    st=$?
    ok $([ $st = 0 ] || [ $st = 1 ]; echo $?) \
        "$ipc: a task closes descriptors 3 and up: the run ends ($st; 124: hung)"
    once=0
    for it in a b close c d; do
        n=$(( $(grep -cx "$it" "$tmp/out") + $(grep -c "\"$it\": " "$tmp/err") ))
        [ $n = 1 ] && once=$((once + 1))
    done
    is "$once" 5 "$ipc: each item written or failed, once"
    # The failure says why the pool killed the worker, not only "killed
    # by SIGKILL" (a plugin author's reading of that was a crash of ours).
    ok $(! grep -q ': worker [0-9]* killed by SIGKILL' "$tmp/err" ||
         grep -q 'closed its channel to the host; does the plugin close descriptors it does not own' "$tmp/err"; echo $?) \
        "$ipc: a worker killed for its channel's end is said to be so"
    timeout -k 5 60 "$bin" run "$tmp/close.ini" --set args.init=close \
        >"$tmp/out" 2>"$tmp/err"
    st=$?
    ok $([ $st = 78 ] || [ $st = 1 ]; echo $?) \
        "$ipc: an init that closes them: the run ends, failed ($st; 124: hung)"
done

no_leftovers
done_testing

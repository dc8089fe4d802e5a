#!/bin/sh
# SPDX-License-Identifier: MIT
# mproc clean and a folder it cannot remove (a stranger's pass, D13):
# `clean -n` listed a hand-made mproc-exec.PID.X holding a folder, which
# clean then failed to remove ("Directory not empty") and exited 0.  A
# folder holding a folder is not a run's (runs make none): both say
# "not made by mproc" and leave it, with what it holds.  A folder that
# cannot be removed (an error) gives exit status 70.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"
TMPDIR=$tmp/t
MPROC_SHM_DIR=$tmp/shm
XDG_RUNTIME_DIR=
export TMPDIR MPROC_SHM_DIR XDG_RUNTIME_DIR
mkdir "$TMPDIR" "$MPROC_SHM_DIR" "$tmp/elsewhere"

# A pid no process has: the largest, bar races, is above pid_max.
dead=$(( $(cat /proc/sys/kernel/pid_max) + 1 ))
nested=$TMPDIR/mproc-exec.$dead.NESTED
flat=$TMPDIR/mproc-spill.$dead.FLATAA
mkdir -p "$nested/sub" "$flat"
echo x >"$nested/sub/f"
echo y >"$flat/f"
echo keep >"$tmp/elsewhere/k"
ln -s "$tmp/elsewhere" "$flat/link"
ln -s "$tmp/elsewhere" "$nested/link"

run_mproc clean -n
is "$st" 0 "clean -n: exit 0"
out=$(cat "$tmp/out")
like "$out" "would not remove $nested (run pid $dead, dead): not made by mproc (it holds a folder, sub)" \
    "clean -n: the folder holding a folder is not promised"
unlike "$out" "would remove $nested" "clean -n: not listed as removable"
like "$out" "would remove $flat (run pid $dead, dead)" "the flat one is"
like "$out" "found 1 temporary folder of dead mproc runs" "counted alone"

run_mproc clean
is "$st" 0 "clean: exit 0 (the foreign folder is left on purpose)"
out=$(cat "$tmp/out")
like "$out" "left $nested (run pid $dead, dead): not made by mproc" \
    "clean: says it left it, as -n said"
unlike "$err" "Directory not empty" "no failed removal"
like "$out" "removed 1 temporary folder of dead mproc runs" "the flat one went"
ok "$([ -f "$nested/sub/f" ] && [ -L "$nested/link" ]; echo $?)" \
    "the foreign folder is whole"
ok "$([ ! -e "$flat" ]; echo $?)" "the flat folder is gone"
is "$(cat "$tmp/elsewhere/k")" keep "a link in it was removed, not followed"

# A removal that fails: a folder whose files cannot be unlinked (mode
# 0500).  root may unlink anyway: then as nobody, when setpriv can.
as=
if [ "$(id -u)" -eq 0 ]; then
    as="setpriv --reuid=65534 --regid=65534 --clear-groups"
    chmod 711 "$tmp"
    chmod 1777 "$TMPDIR"
    $as "$bin" --version >/dev/null 2>&1 || as=skip
fi
if [ "$as" = skip ]; then
    ok 0 "# SKIP cannot run mproc as another user than root"
    ok 0 "# SKIP cannot run mproc as another user than root"
else
    ro=$TMPDIR/mproc-spill.$dead.RDONLY
    $as sh -c "mkdir '$ro' && echo z >'$ro/f' && chmod 500 '$ro'"
    timeout -k 5 60 $as env TMPDIR="$TMPDIR" MPROC_SHM_DIR="$MPROC_SHM_DIR" \
        XDG_RUNTIME_DIR= "$bin" clean >"$tmp/out" 2>"$tmp/err"
    is "$?" 70 "a folder that cannot be removed: exit 70"
    like "$(cat "$tmp/err")" "clean: $ro/f: Permission denied" \
        "says which file and why"
    chmod 700 "$ro"
fi
no_leftovers
done_testing

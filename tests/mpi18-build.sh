#!/bin/sh
# SPDX-License-Identifier: MIT
# The MPI launcher (issue 18) as built: mproc, mproc-worker and libmproc
# never link an MPI library (only the dlopen()ed module does), and what a
# user gets wrong about the launcher is said, naming FILE:LINE.
. "${MPROC_SRCDIR:?}/tests/lib.sh"

if ! command -v readelf >/dev/null 2>&1; then
    echo "1..0 # SKIP readelf (binutils) is needed"
    exit 0
fi
libs=${MPROC_BIN%/*}

# Without MPI installed, this part runs still.
for f in "$MPROC_BIN" "$libs"/mproc-worker "$libs"/libmproc.so; do
    needed=$(readelf -d "$f" 2>/dev/null | grep NEEDED)
    [ -n "$needed" ] || { ok 1 "readelf -d ${f##*/}"; continue; }
    ok 0 "readelf -d ${f##*/}"
    unlike "$needed" "libmpi" "${f##*/} does not link libmpi"
    unlike "$needed" "libucp" "${f##*/} does not link MPI's transports"
done

jobf=$(job mpi.ini <<EOF
[job]
plugin = echo
input = range:1..3

[pool]
launcher = mpi
EOF
)
run_mproc run "$jobf" --set pool.launcher=bogus
is "$st" 78 "launcher = bogus: a config error"
like "$err" "--set pool.launcher=bogus: launcher: expected local or mpi" \
    "launcher = bogus: says what is expected"
run_mproc run "$jobf" --set pool.node_timeout=soon
is "$st" 78 "node_timeout = soon: a config error"
like "$err" "node_timeout: expected a duration" "node_timeout: says what"
MPROC_MPI_MODULE=$tmp/none.so run_mproc run "$jobf"
is "$st" 78 "no MPI module: a config error"
like "$err" "mpi.ini:6: launcher = mpi: cannot load the MPI module" \
    "no MPI module: names the line that asked for it"
like "$err" "./configure --with-mpi" "no MPI module: says how to get it"
run_mproc check "$jobf"
like "$(cat "$tmp/out")" "pool.launcher = mpi" "mproc check shows the launcher"
like "$(cat "$tmp/out")" "pool.node_timeout = 10s" "and node_timeout"

module=${MPROC_BUILDDIR:?}/framework/mpi/.libs/mproc-mpi.so
if [ ! -f "$module" ] || ! command -v mpiexec >/dev/null 2>&1; then
    ok 0 "# SKIP mproc-mpi.so is not built or mpiexec not installed"
    done_testing
fi
needed=$(readelf -d "$module" | grep NEEDED)
like "$needed" "libmpi" "the module links the MPI library"

# Under ASan (CI's sanitizer run), MPICH leaves allocations of its own at
# exit, reported from a component it has unloaded ("unknown module"): not
# mproc's, but LeakSanitizer would turn every exit status into 1.
if [ -n "${ASAN_OPTIONS:-}" ]; then
    ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0
    export ASAN_OPTIONS
fi

# One rank (no mpiexec: MPI's singleton) is not enough.
run_mproc run "$jobf"
is "$st" 78 "launcher = mpi without mpiexec: a config error"
like "$err" "mpi.ini:6: launcher = mpi needs 2 MPI ranks or more" \
    "without mpiexec: says why, naming the line"
timeout -k 5 60 mpiexec -n 1 "$bin" run "$jobf" </dev/null >"$tmp/out" 2>"$tmp/err"
st=$?
is "$st" 78 "mpiexec -n 1: a config error"
like "$(cat "$tmp/err")" "needs 2 MPI ranks or more" "mpiexec -n 1: says why"
no_leftovers

done_testing

# SPDX-License-Identifier: MIT
# What the MPI launcher's tests share (issue 18); sourced after lib.sh.
# Skips the whole test (TAP "1..0 # SKIP", as the other tests skip) when
# MPI is not installed or mproc was configured without it.

if ! command -v mpiexec >/dev/null 2>&1; then
    echo "1..0 # SKIP mpiexec is not installed (apt-get install mpich libmpich-dev)"
    exit 0
fi
if [ ! -f "${MPROC_BUILDDIR:?}/framework/mpi/.libs/mproc-mpi.so" ]; then
    echo "1..0 # SKIP mproc-mpi.so is not built (./configure --with-mpi found no MPI)"
    exit 0
fi
if ! mpiexec --version 2>/dev/null | grep -q HYDRA; then
    echo "1..0 # SKIP these tests drive MPICH's mpiexec (hydra); another is installed"
    exit 0
fi

# Under ASan (CI's sanitizer run), MPICH leaves allocations of its own at
# exit, reported from a component it has unloaded ("unknown module"): not
# mproc's, but LeakSanitizer would turn every exit status into 1.
if [ -n "${ASAN_OPTIONS:-}" ]; then
    ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0
    export ASAN_OPTIONS
fi

# Every process of this test's runs carries the mark in its environment
# (mpiexec, its proxies, the ranks and their workers: mpirun below sets
# it), so what is left is found even where its command line says nothing.
# marked: those alive.
marked() {
    grep -lzxF "MPI18_MARK=$tmp" /proc/[0-9]*/environ 2>/dev/null |
        while IFS=/ read -r _ _ p _; do
            grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null ||
                echo "$p"
        done
}

# nothing_left WHAT: no process of ours is alive (ranks, workers,
# mpiexec, its proxies).
nothing_left() {
    n=0
    while left=$(marked) && [ -n "$left" ] && [ $n -lt 50 ]; do
        sleep 0.1; n=$((n + 1))
    done
    if [ -z "$left" ]; then ok 0 "$1"; else
        ok 1 "$1"
        for p in $left; do
            echo "#   $p: $({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null)"
        done
        kill -9 $left 2>/dev/null
    fi
}

# agent_pid RANK: the pid of that MPI rank's mproc (the agent, not one of
# its workers, which share its command line and environment).
agent_pid() {
    for p in $(marked); do
        grep -qzx "PMI_RANK=$1" "/proc/$p/environ" 2>/dev/null || continue
        pp=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$p/status" 2>/dev/null)
        [ "$(cat "/proc/$pp/comm" 2>/dev/null)" = hydra_pmi_proxy ] &&
            echo "$p"
    done
}

# wait_lines FILE N: until FILE has N lines (10 s at most).
wait_lines() {
    n=0
    while [ "$({ wc -l <"$1"; } 2>/dev/null || echo 0)" -lt "$2" ] &&
          [ $n -lt 100 ]; do
        sleep 0.1; n=$((n + 1))
    done
}

# mpirun ARGS...: mpiexec, 60 s at most, stdin closed; $st, $tmp/out,
# $tmp/err and $err as run_mproc sets them.
mpirun() {
    env MPI18_MARK="$tmp" timeout -k 5 60 mpiexec "$@" </dev/null \
        >"$tmp/out" 2>"$tmp/err"
    st=$?
    err=$(cat "$tmp/err")
}

# slow_job NAME [KEY = VALUE]...: a job file of 300 fault items (150
# sleeps of 20 ms) writing $tmp/NAME.out, node_timeout 2s, the keys given
# added to [job]; prints its path.  $tmp/NAME.local: a local run's output.
slow_job() {
    name=$1
    shift
    awk 'BEGIN { for (i = 0; i < 150; i++) printf "sleep:20\nok%d\n", i }' \
        >"$tmp/$name.txt"
    {
        printf '[job]\nplugin = fault\ninput = lines:%s\n' "$tmp/$name.txt"
        printf 'output = %s\n' "$tmp/$name.out"
        for kv in "$@"; do printf '%s\n' "$kv"; done
        printf '[pool]\nnode_timeout = 2s\n'
    } >"$tmp/$name.ini"
    "$bin" run "$tmp/$name.ini" --set job.output="$tmp/$name.local" \
        >/dev/null 2>&1
    echo "$tmp/$name.ini"
}

# One MPI proxy per "node" (three, all on this machine): a rank lost takes
# only its own node down, as on a cluster; without -disable-auto-cleanup
# MPICH would end every rank at once.
nodes3="-disable-auto-cleanup -launcher fork -hosts localhost:1,127.0.0.2:1,127.0.0.3:1"

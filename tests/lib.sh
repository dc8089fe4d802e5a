# SPDX-License-Identifier: MIT
# TAP helpers for mproc's shell tests.  Source it; it sets:
#   $tmp      a private temporary folder, removed at exit
#   $srcdir   the source tree, $bin the mproc program
# and gives: ok, is, like, unlike, run_mproc, no_leftovers, done_testing.
set -u

srcdir=${MPROC_SRCDIR:?run the tests with make check}
bin=${MPROC_BIN:?run the tests with make check}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mproc-test.XXXXXX")
tap_n=0
tap_failed=0
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C

ok() {  # ok STATUS DESCRIPTION: STATUS 0 passes
    tap_n=$((tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $tap_n - $2"
    else
        echo "not ok $tap_n - $2"
        tap_failed=$((tap_failed + 1))
    fi
}

is() {  # is GOT WANT DESCRIPTION
    if [ "$1" = "$2" ]; then ok 0 "$3"; else
        ok 1 "$3"
        printf '#   got:  %s\n#   want: %s\n' "$1" "$2"
    fi
}

like() {  # like TEXT SUBSTRING DESCRIPTION
    case "$1" in
    *"$2"*) ok 0 "$3" ;;
    *) ok 1 "$3"; printf '#   got: %s\n#   want it to contain: %s\n' "$1" "$2" ;;
    esac
}

unlike() {  # unlike TEXT SUBSTRING DESCRIPTION
    case "$1" in
    *"$2"*) ok 1 "$3"; printf '#   got: %s\n#   want it without: %s\n' "$1" "$2" ;;
    *) ok 0 "$3" ;;
    esac
}

# run_mproc ARGS...: run mproc (60 s at most) and keep its status in $st,
# its stdout in $tmp/out and its stderr in $tmp/err (and $err).
# With MPROC_TEST_IPC set (tests/*-BACKEND.sh), run and check use that
# IPC backend.
run_mproc() {
    case "${1:-}:${MPROC_TEST_IPC:-}" in
    run:?*|check:?*) set -- "$@" --set "pool.ipc=$MPROC_TEST_IPC" ;;
    esac
    timeout -k 5 60 "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
    st=$?
    err=$(cat "$tmp/err")
}

# A job file in $tmp: job NAME <<EOF ... EOF; prints its path.
job() {
    cat >"$tmp/$1"
    echo "$tmp/$1"
}

# The tests read /proc themselves rather than use pgrep and ps, which a
# minimal system (the README's quick start on a bare Debian) lacks.

# children PID: the pids whose parent is PID (not counting zombies).
children() {
    # One pass over every /proc/PID/stat (a process per file was seconds
    # on a loaded machine: long enough for the run under test to end).
    # Fields after the ")" that ends the command name: state, ppid.
    cat /proc/[0-9]*/stat 2>/dev/null |
        sed -n 's/^\([0-9]*\) (.*) \([A-Z]\) \([0-9]*\) .*/\1 \2 \3/p' |
        awk -v p="$1" '$3 == p && $2 != "Z" { print $1 }'
}

# signal_cmd SIG PID: send SIG to the command that the backgrounded
# `timeout ... &` with pid PID runs, not to timeout itself.  timeout
# passes a signal on followed by a SIGCONT, and a SIGCONT that lands
# while LeakSanitizer stops the exiting program's threads (ptrace's
# SIGSTOP, which SIGCONT discards) leaves the ASan build hung until
# timeout kills it.  PID itself gets SIG when it has no child (yet).
signal_cmd() {
    _c=$(children "$2")
    kill -"$1" ${_c:-$2} 2>/dev/null || kill -"$1" "$2" 2>/dev/null
}

# matching TEXT: live processes whose command line contains TEXT.
matching() {
    for d in /proc/[0-9]*; do
        [ "${d#/proc/}" = "$$" ] && continue
        { tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null | grep -qF "$1" || continue
        grep -q '^State:[[:space:]]*Z' "$d/status" 2>/dev/null && continue
        echo "${d#/proc/}"
    done
}

# Named kernel objects of mproc (POSIX message queues, shared memory)
# that exist now; none may outlive the run that made it.  Entries other
# tests make at the same moment vanish within microseconds (mproc unlinks
# a name as soon as both ends have it open), so a leftover is one that
# stays.
# script(1) can give a command a terminal: it is installed and there are
# pseudo-terminals to be had (a chroot without /dev/pts has none).
have_terminal() {
    command -v script >/dev/null 2>&1 &&
        script -qec true /dev/null </dev/null >/dev/null 2>&1
}

kernel_objects() {
    ls /dev/mqueue /dev/shm 2>/dev/null | grep '^mproc' | sort
}
kernel_objects_at_start=$(kernel_objects)

# Processes whose command line mentions our private folder: the hosts and
# workers of this test's runs, none of which may outlive its run; and
# mproc's named kernel objects, of which none may be left.
no_leftovers() {
    sleep 0.2
    left=$(matching "$tmp")
    if [ -z "$left" ]; then ok 0 "${1:-no process left behind}"; else
        ok 1 "${1:-no process left behind}"
        for p in $left; do
            echo "#   $p: $({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null)"
        done
        kill -9 $left 2>/dev/null
    fi
    n=0
    while objs=$(kernel_objects | grep -vxF "$kernel_objects_at_start")
          [ -n "$objs" ] && [ $n -lt 20 ]; do
        sleep 0.1; n=$((n + 1))
    done
    if [ -z "$objs" ]; then ok 0 "nothing left in /dev/mqueue or /dev/shm"; else
        ok 1 "nothing left in /dev/mqueue or /dev/shm"
        echo "#   left: $objs"
    fi
}

done_testing() {
    echo "1..$tap_n"
    [ "$tap_failed" -eq 0 ]
    exit $?
}

#!/bin/sh
# SPDX-License-Identifier: MIT
# shmring with many workers: the pool's rings live in one segment, mapped
# once in the host (a mapping per ring made every fork() of the host
# slower by the workers started before it), and each worker maps only its
# own two rings.  Workers started after the segment's rings are handed
# out (max_tasks_per_child, a worker killed) take a segment of their own,
# and the output stays whole.
. "${MPROC_SRCDIR:-.}/tests/lib.sh"

# The mappings of the shmring memfds in process $1: "COUNT BYTES".
ring_maps() {
    n=0 b=0
    while read -r range _ _ _ _ name; do
        case $name in
        *memfd:mproc-shmring*)
            n=$((n + 1)); b=$((b + 0x${range#*-} - 0x${range%-*})) ;;
        esac
    done <"/proc/$1/maps"
    echo "$n $b"
}

job sleep.ini >/dev/null <<EOF
[job]
plugin = exec
input = range:1..40
[pool]
workers = 40
ipc = shmring
[args]
command = sleep 4
EOF
timeout -k 5 60 "$bin" run "$tmp/sleep.ini" --quiet >"$tmp/out" 2>"$tmp/err" &
run=$!
host= w=
n=0
while [ $n -lt 100 ]; do
    host=$(children "$(children $$ | head -n 1)" | head -n 1) # timeout's
    [ -n "$host" ] && [ "$(children "$host" | wc -l)" -ge 40 ] && break
    sleep 0.1; n=$((n + 1))
done
sleep 0.5 # the last worker's rings are out of the fork, merged
w=$(children "$host" | head -n 1)
set -- $(ring_maps "$host")
is "${1:-}" 1 "40 workers: the host maps its 80 rings in one mapping"
set -- $(ring_maps "$w")
is "${1:-}" 1 "a worker maps one range of the segment (its two rings)"
wb=${2:-0}
set -- $(ring_maps "$host")
ok $([ "$wb" -gt 0 ] && [ "${2:-0}" -eq $((40 * wb)) ]; echo $?) \
    "the host's mapping holds 40 workers' rings ($2 bytes, $wb each)"
wait $run
is "$?" 0 "the run ends, status 0"

# Workers that replace others: more rings than the segment holds.
seq 1 3000 >"$tmp/in.txt"
printf '[job]\nplugin = echo\ninput = lines:%s\noutput = %s\nordered = true\nchunksize = 1\n[pool]\nworkers = 4\nipc = shmring\nmax_tasks_per_child = 50\n' \
    "$tmp/in.txt" "$tmp/res" >"$tmp/retire.ini"
run_mproc run "$tmp/retire.ini" --quiet
is "$st" 0 "max_tasks_per_child = 50: 60 workers over 4 slots, status 0"
cmp -s "$tmp/res" "$tmp/in.txt"
ok $? "  and the output is whole, in order"
for m in spawn forkserver; do
    run_mproc run "$tmp/retire.ini" --quiet --set pool.start_method=$m
    is "$st" 0 "$m: workers that replace others, status 0"
    cmp -s "$tmp/res" "$tmp/in.txt"
    ok $? "  $m: the output is whole, in order"
done

no_leftovers
done_testing

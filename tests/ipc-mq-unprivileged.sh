#!/bin/sh
# SPDX-License-Identifier: MIT
# The ipc conformance suite on the mq backend, run as an unprivileged user:
# Linux then holds the queues to /proc/sys/fs/mqueue's msg_max and
# msgsize_max and to RLIMIT_MSGQUEUE, which root may exceed.
prog="${MPROC_BUILDDIR:?run the tests with make check}/tests/conformance-ipc"
if [ "$(id -u)" -ne 0 ]; then
    echo "1..0 # SKIP not root: cannot switch to an unprivileged user"
    exit 0
fi
if ! command -v setpriv >/dev/null 2>&1; then
    echo "1..0 # SKIP setpriv (util-linux) is missing"
    exit 0
fi
as_nobody() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        --inh-caps=-all --bounding-set=-all "$@"
}
if ! as_nobody test -x "$prog"; then
    echo "1..0 # SKIP user nobody cannot reach $prog"
    exit 0
fi
cd / && exec env -u HOME TMPDIR=/tmp timeout -k 5 600 \
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
    --inh-caps=-all --bounding-set=-all "$prog" mq

# SPDX-License-Identifier: MIT
# Tests of the ipc fixes (issues 10, 11, 12); included from tests/local.mk.
# stress-ipc kills Queue producers and consumers at random points on every
# backend (about 12 s); ipc-mq-limit runs a 16-worker pool under the
# default RLIMIT_MSGQUEUE.
check_PROGRAMS += tests/stress-ipc
tests_stress_ipc_SOURCES = %reldir%/stress-ipc.c %reldir%/tap.h
tests_stress_ipc_LDADD = libmproc-core.la $(INIH_LIBS)

TESTS += tests/stress-ipc %reldir%/ipc-mq-limit.sh
EXTRA_DIST += %reldir%/ipc-mq-limit.sh

# What a stranger's pass over Queue, Pipe and the sync objects found
# (2026-11-30): hangs on a consumer's death, RLock between threads, posix
# release from another thread, a sysv set under a killed creator's child.
check_PROGRAMS += tests/test-sync-stranger
tests_test_sync_stranger_SOURCES = %reldir%/test-sync-stranger.c %reldir%/tap.h
tests_test_sync_stranger_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += tests/test-sync-stranger

# A put or send with a timeout, waiting mid-message when
# its consumer died mid-message, sat out its whole timeout.
check_PROGRAMS += tests/test-timed-put-broken
tests_test_timed_put_broken_SOURCES = %reldir%/test-timed-put-broken.c %reldir%/tap.h
tests_test_timed_put_broken_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += tests/test-timed-put-broken

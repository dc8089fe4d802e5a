# SPDX-License-Identifier: MIT
# Deterministic regression tests of the Semaphore reclaim race (12.16)
# and the sysv word wait's lost wake-up (12.18), driven through the sync
# module's MPROC_TEST_HOOK_* stops; included from tests/local.mk.
check_PROGRAMS += tests/test-sync-races
tests_test_sync_races_SOURCES = %reldir%/test-sync-races.c \
	%reldir%/sync-test.h %reldir%/tap.h
tests_test_sync_races_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += tests/test-sync-races

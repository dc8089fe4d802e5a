# SPDX-License-Identifier: MIT
# Tests added by the sync fixes (issues 10.9, 11.1, 11.5, 11.10, 12.7,
# 12.13-12.16, 12.18): `mproc clean`, and a bounded stress test that kills
# waiters and holders at random points on every backend.
check_PROGRAMS += tests/stress-sync
tests_stress_sync_SOURCES = %reldir%/stress-sync.c %reldir%/sync-test.h \
	%reldir%/tap.h
tests_stress_sync_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += %reldir%/sync-clean.sh tests/stress-sync
EXTRA_DIST += %reldir%/sync-clean.sh

# SPDX-License-Identifier: MIT
# Regression tests of the Pool API fixes (issues 11 and 12); included
# from tests/local.mk.  The program runs on each IPC backend.
check_PROGRAMS += tests/test-pool-api-fixes
tests_test_pool_api_fixes_SOURCES = %reldir%/test-pool-api-fixes.c %reldir%/tap.h
tests_test_pool_api_fixes_LDADD = libmproc-core.la $(INIH_LIBS)
# proc.so (a test plugin) calls libmproc from a forked worker.
tests_test_pool_api_fixes_LDFLAGS = -export-dynamic
TESTS += tests/test-pool-api-fixes
TESTS += %reldir%/pool-api-fixes-mq.sh %reldir%/pool-api-fixes-shmring.sh
EXTRA_DIST += %reldir%/pool-api-fixes-mq.sh %reldir%/pool-api-fixes-shmring.sh
# What a stranger's pass over the Pool and Process APIs found (2026-11-30).
check_PROGRAMS += tests/test-pool-stranger
tests_test_pool_stranger_SOURCES = %reldir%/test-pool-stranger.c %reldir%/tap.h
tests_test_pool_stranger_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += tests/test-pool-stranger
# An imap's input error came with no message.
check_PROGRAMS += tests/test-imap-errmsg
tests_test_imap_errmsg_SOURCES = %reldir%/test-imap-errmsg.c %reldir%/tap.h
tests_test_imap_errmsg_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += tests/test-imap-errmsg

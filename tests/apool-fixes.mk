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

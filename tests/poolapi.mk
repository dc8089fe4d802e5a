# SPDX-License-Identifier: MIT
# Tests of the poolapi work; included from tests/local.mk.
check_PROGRAMS += tests/test-pool-api tests/test-pool-imap
tests_test_pool_api_SOURCES = %reldir%/test-pool-api.c %reldir%/tap.h
tests_test_pool_api_LDADD = libmproc-core.la $(INIH_LIBS)
# imap over 10,000,000 items in bounded memory (peak RSS of this process).
tests_test_pool_imap_SOURCES = %reldir%/test-pool-imap.c %reldir%/tap.h
tests_test_pool_imap_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += tests/test-pool-api tests/test-pool-imap
# The same API tests on the other IPC backends.
TESTS += %reldir%/pool-api-mq.sh %reldir%/pool-api-shmring.sh
EXTRA_DIST += %reldir%/pool-api-mq.sh %reldir%/pool-api-shmring.sh

# SPDX-License-Identifier: MIT
# Tests of the Pool API's result storage (issue 13.3); included from
# tests/local.mk.  The program runs on the default backend and shmring.
check_PROGRAMS += tests/test-pool-arena
tests_test_pool_arena_SOURCES = %reldir%/test-pool-arena.c %reldir%/tap.h
tests_test_pool_arena_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += tests/test-pool-arena %reldir%/pool-arena-shmring.sh
EXTRA_DIST += %reldir%/pool-arena-shmring.sh

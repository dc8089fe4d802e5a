# SPDX-License-Identifier: MIT
# The Manager (issue 16 points 2 and 3, mgr16): its object logic
# in-process, then clients over real connections, unrelated processes
# sharing objects over unix: and tcp:, dead holders and the standalone
# `mproc manager`.  Included from tests/local.mk.
check_PROGRAMS += tests/test-mgr-core
tests_test_mgr_core_SOURCES = %reldir%/test-mgr-core.c %reldir%/tap.h
tests_test_mgr_core_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += tests/test-mgr-core

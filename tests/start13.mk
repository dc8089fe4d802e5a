# SPDX-License-Identifier: MIT
# Issue 13.4 (the cheaper process start): reused result files, the pidfd
# made on first need, join without a timeout in waitid(); every start
# method in one program.  Included from tests/local.mk.
check_PROGRAMS += tests/test-start13
tests_test_start13_SOURCES = %reldir%/test-start13.c %reldir%/tap.h \
	%reldir%/process-util.h
tests_test_start13_LDADD = libmproc-core.la $(INIH_LIBS)
tests_test_start13_LDFLAGS = -export-dynamic
TESTS += tests/test-start13

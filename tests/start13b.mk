# SPDX-License-Identifier: MIT
# Issue 13.4, second round (start13b): the start path's shortcuts must
# not show (signals and mask of a new child, its parent, unknown tasks,
# error messages), every start method in one program.  Included from
# tests/local.mk.
check_LTLIBRARIES += tests/start13b.la
tests_start13b_la_SOURCES = %reldir%/start13b-plugin.c
tests_start13b_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
check_PROGRAMS += tests/test-start13b
tests_test_start13b_SOURCES = %reldir%/test-start13b.c %reldir%/tap.h \
	%reldir%/process-util.h
tests_test_start13b_LDADD = libmproc-core.la $(INIH_LIBS)
tests_test_start13b_LDFLAGS = -export-dynamic
TESTS += tests/test-start13b

# SPDX-License-Identifier: MIT
# Regression tests of the process module's fork, thread and signal safety
# (issues 10.5, 10.6, 11.5, 12.6, 12.10, 12.11); included from
# tests/local.mk.  One program, run once per start method.
check_PROGRAMS += tests/test-process-fixes
tests_test_process_fixes_SOURCES = %reldir%/test-process-fixes.c %reldir%/tap.h \
	%reldir%/process-util.h
tests_test_process_fixes_LDADD = libmproc-core.la $(INIH_LIBS)
tests_test_process_fixes_LDFLAGS = -export-dynamic

TESTS += \
	%reldir%/process-fixes-fork.sh \
	%reldir%/process-fixes-spawn.sh \
	%reldir%/process-fixes-forkserver.sh
EXTRA_DIST += \
	%reldir%/process-fixes-fork.sh \
	%reldir%/process-fixes-spawn.sh \
	%reldir%/process-fixes-forkserver.sh

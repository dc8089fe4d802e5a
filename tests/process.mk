# SPDX-License-Identifier: MIT
# Tests of the process work; included from tests/local.mk.

# Targets for the process tests.  They call libmproc, which the programs
# that load them export (test-process, mproc-worker).
check_LTLIBRARIES += tests/proc.la
tests_proc_la_SOURCES = %reldir%/plugins/proc.c %reldir%/plugins/common.h
tests_proc_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

# One program, run once per start method by tests/process-METHOD.sh.
check_PROGRAMS += tests/test-process
tests_test_process_SOURCES = %reldir%/test-process.c %reldir%/tap.h \
	%reldir%/process-util.h
tests_test_process_LDADD = libmproc-core.la $(INIH_LIBS)
tests_test_process_LDFLAGS = -export-dynamic

TESTS += \
	%reldir%/process-fork.sh \
	%reldir%/process-spawn.sh \
	%reldir%/process-forkserver.sh \
	%reldir%/e2e-start-methods.sh
EXTRA_DIST += \
	%reldir%/process-fork.sh \
	%reldir%/process-spawn.sh \
	%reldir%/process-forkserver.sh \
	%reldir%/e2e-start-methods.sh

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

# How a Process ended after its target returned (a fini that crashed or
# exited), the several-tasks hint and result_max's message, per start
# method; the crash of a plugin's constructor in `mproc plugins`, check
# and run.
check_LTLIBRARIES += tests/process-fixes-plugin.la
tests_process_fixes_plugin_la_SOURCES = %reldir%/process-fixes-plugin.c
tests_process_fixes_plugin_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
check_PROGRAMS += tests/process-fixes-ended
tests_process_fixes_ended_SOURCES = %reldir%/process-fixes-ended.c \
	%reldir%/tap.h
tests_process_fixes_ended_LDADD = libmproc-core.la $(INIH_LIBS)

TESTS += \
	%reldir%/process-fixes-ended-fork.sh \
	%reldir%/process-fixes-ended-spawn.sh \
	%reldir%/process-fixes-ended-forkserver.sh \
	%reldir%/process-fixes-load.sh
EXTRA_DIST += \
	%reldir%/process-fixes-ended-fork.sh \
	%reldir%/process-fixes-ended-spawn.sh \
	%reldir%/process-fixes-ended-forkserver.sh \
	%reldir%/process-fixes-load.sh

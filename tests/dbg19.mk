# SPDX-License-Identifier: MIT
# Tests of issue 19 points 2-5 (dbg19): backtraces of crashed and slow
# tasks, poison quarantine, mproc rerun.  Included from tests/local.mk.
DBG19_TESTS = \
	%reldir%/dbg19-backtrace.sh \
	%reldir%/dbg19-slowlog.sh \
	%reldir%/dbg19-quarantine.sh \
	%reldir%/dbg19-rerun.sh
TESTS += $(DBG19_TESTS)
EXTRA_DIST += $(DBG19_TESTS)

# Built with debug information whatever CFLAGS say (they come after
# these and hold no -g0); the test strips a copy for the case without.
check_LTLIBRARIES += tests/crashy.la
tests_crashy_la_SOURCES = %reldir%/plugins/crashy.c
tests_crashy_la_CFLAGS = $(AM_CFLAGS) -g
tests_crashy_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

# What the debugging costs when unused (issue 19): `make bench-debug`.
bench-debug: mproc
	$(SHELL) $(srcdir)/bench/bench-debug.sh ./mproc
EXTRA_DIST += bench/bench-debug.sh

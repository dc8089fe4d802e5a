# SPDX-License-Identifier: MIT
# Job files that hold any command (quoted values, command_file), plugins
# that declare their [args] (ABI 1.2), and progress with a total (issue 15).
check_LTLIBRARIES += tests/abi11.la
tests_abi11_la_SOURCES = %reldir%/plugins/abi11.c
tests_abi11_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_PROGRAMS += tests/test-args
tests_test_args_SOURCES = %reldir%/test-args.c %reldir%/tap.h
tests_test_args_LDADD = libmproc-core.la $(INIH_LIBS)

TESTS += tests/test-args %reldir%/cfg-args.sh %reldir%/cfg-quote.sh \
	%reldir%/cfg-progress.sh
EXTRA_DIST += %reldir%/cfg-args.sh %reldir%/cfg-quote.sh \
	%reldir%/cfg-progress.sh

# A shared object's bad init or lock is reported where it was set (the
# key's line, or --set SECTION.KEY=VALUE), not at its section's header.
TESTS += %reldir%/cfg-decl-where.sh
EXTRA_DIST += %reldir%/cfg-decl-where.sh

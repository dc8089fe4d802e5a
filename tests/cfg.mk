# SPDX-License-Identifier: MIT
# Job files that hold any command (quoted values, command_file), plugins
# that declare their [args] (ABI 1.2), and progress with a total (issue 15).
check_LTLIBRARIES += tests/abi11.la
tests_abi11_la_SOURCES = %reldir%/plugins/abi11.c
tests_abi11_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

TESTS += %reldir%/cfg-args.sh %reldir%/cfg-quote.sh \
	%reldir%/cfg-progress.sh
EXTRA_DIST += %reldir%/cfg-args.sh %reldir%/cfg-quote.sh \
	%reldir%/cfg-progress.sh

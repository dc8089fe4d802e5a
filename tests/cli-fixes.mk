# SPDX-License-Identifier: MIT
# Tests of the cli fixes (issues 10, 11, 12); included from tests/local.mk.
CLI_FIXES_TESTS = \
	%reldir%/cli-joblog-bytes.sh \
	%reldir%/cli-fifo.sh \
	%reldir%/cli-full.sh \
	%reldir%/cli-counts.sh \
	%reldir%/cli-longpath.sh
TESTS += $(CLI_FIXES_TESTS)
EXTRA_DIST += $(CLI_FIXES_TESTS)

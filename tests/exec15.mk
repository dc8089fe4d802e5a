# SPDX-License-Identifier: MIT
# Tests of issue 15's `mproc exec` and CLI manners; included from
# tests/local.mk.
EXEC15_TESTS = \
	%reldir%/cli-manners.sh \
	%reldir%/exec-basic.sh \
	%reldir%/exec-repl.sh \
	%reldir%/exec-sources.sh \
	%reldir%/exec-xargs.sh \
	%reldir%/exec-output.sh \
	%reldir%/exec-results.sh \
	%reldir%/exec-halt.sh \
	%reldir%/exec-input.sh \
	%reldir%/parallel-compat.sh
TESTS += $(EXEC15_TESTS)
EXTRA_DIST += $(EXEC15_TESTS)

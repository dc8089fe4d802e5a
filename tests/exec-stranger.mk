# SPDX-License-Identifier: MIT
# Tests of what a stranger's pass over mproc exec found (stranger-ops);
# included from tests/local.mk.
EXEC_STRANGER_TESTS = \
	%reldir%/exec-stranger.sh
TESTS += $(EXEC_STRANGER_TESTS)
EXTRA_DIST += $(EXEC_STRANGER_TESTS)
